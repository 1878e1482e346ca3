package krylov

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// GMRES is restarted generalised minimal residuals, GMRES(m) (Saad &
// Schultz 1986; Saad, Iterative Methods for Sparse Linear Systems, 2nd ed.,
// Alg. 6.9, with the Givens rotations of Templates, Barrett et al. 1994,
// §2.3.4), for any square A. A cycle starts from r_0 = b − A x_0, β = ‖r_0‖,
// v_1 = r_0/β, and makes up to m Arnoldi steps: step j sets
//
//	w = A v_j,  h_ij = w·v_i, w ← w − h_ij v_i  (i = 1…j, modified Gram–Schmidt),
//	h_{j+1,j} = ‖w‖,  v_{j+1} = w/h_{j+1,j},
//
// so that A V_j = V_{j+1} H̄_j with V_{j+1} orthonormal. The rotations
// G_1…G_j reduce H̄_j to upper triangular R_j and carry β e_1 to g, and the
// invariant of the cycle is min_y ‖β e_1 − H̄_j y‖ = |g_{j+1}| = ‖b − A x_j‖
// (in exact arithmetic), x_j = x_0 + V_j R_j⁻¹ g_{1:j}: the residual norm is known on the host at
// every step without forming x_j. One iteration is one Arnoldi step (one
// product with A); Solution.Residual and the history are |g_{j+1}|. At the
// end of a cycle, or when the solve stops, y = R_j⁻¹ g_{1:j} is solved on the
// host and x ← x + V_j y is made with Axpy.
//
// A restart recomputes r = b − A x (one more product, counted in MatVecs
// but not as an iteration); MaxIter bounds the Arnoldi steps of all cycles
// together. A cycle that reduces this true residual norm by less than a
// factor 1 − 1e-12 fails with ErrStagnation: the method stagnates (as
// GMRES(1) does on an orthogonal A with v·A v = 0), or the true residual is
// at its rounding floor, about ε‖A‖‖x‖, above the tolerance (then the
// least-squares residual of the cycle, in the error, is far below the true
// one). A lucky breakdown, h_{j+1,j} = 0, means x_j is exact
// (|g_{j+1}| = 0): the solve converges. A zero diagonal of R_j (A singular
// on the Krylov space) fails with ErrBreakdown. As in CG, |g_{j+1}| at the rounding floor of residualFloor
// stops the solve as Converged (it matters only for a tolerance below that
// floor).
//
// Restart is m; 0 means min(30, n), and a Restart above n is taken as n (the
// Krylov space of an n×n matrix has at most n dimensions). The workspace is
// the m+1 basis vectors v_1…v_{m+1} of n elements, allocated once; the
// Hessenberg matrix, rotations and g, O(m²) scalars, live on the host.
type GMRES struct {
	Restart int
}

var _ Solver = GMRES{}

// String returns "gmres(m)", m the restart length (30 for Restart 0).
func (g GMRES) String() string {
	m := g.Restart
	if m == 0 {
		m = 30
	}
	return fmt.Sprintf("gmres(%d)", m)
}

// stagnationFactor is the least reduction of the true residual norm a
// GMRES cycle must make.
const stagnationFactor = 1 - 1e-12

// Solve solves A x = b by GMRES(m) from the x given.
func (g GMRES) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, s Settings) (Solution, error) {
	n, err := check(b, op, rhs, x, s)
	if err != nil {
		return Solution{}, err
	}
	if g.Restart < 0 {
		return Solution{}, fmt.Errorf("%w: GMRES Restart %d < 0", ErrSettings, g.Restart)
	}
	m := g.Restart
	if m == 0 {
		m = 30
	}
	m = max(min(m, n), 1)

	ws := newWorkspace(b, s.Workspace)
	defer ws.free()
	v, err := ws.many(m+1, n)
	if err != nil {
		return Solution{}, fmt.Errorf("krylov: gmres workspace: %w", err)
	}
	// Host: H̄ (m+1)×m by columns (h[j][i] = h_ij), the rotations, g, y.
	h := make([][]float64, m)
	for j := range h {
		h[j] = make([]float64, m+1)
	}
	cs, sn := make([]float64, m), make([]float64, m)
	gv, y := make([]float64, m+1), make([]float64, m)

	l := newLoop(ctx, b, s, x)
	l.floor = true // the residual is updated recursively
	// residual sets v_1 ← b − A x and returns its norm.
	residual := func() (float64, error) {
		if err := l.apply(op, v[0], x); err != nil {
			return 0, err
		}
		b.Axpby(1, rhs, -1, v[0])
		return b.Nrm2(v[0]), nil
	}
	bnorm := b.Nrm2(rhs)
	beta, err := residual()
	if err != nil {
		l.fail(fmt.Errorf("krylov: gmres: applying A: %w", err))
		return l.done(), nil
	}
	if l.start(bnorm, beta) {
		return l.done(), nil
	}
	for {
		// A cycle: β = ‖r‖ > 0, r in v_1.
		b.Scal(1/beta, v[0])
		clear(gv)
		gv[0] = beta
		j, stop := 0, false
		for j < m && !stop {
			hj := h[j]
			if err := l.apply(op, v[j+1], v[j]); err != nil {
				l.fail(fmt.Errorf("krylov: gmres: applying A: %w", err))
				break
			}
			for i := 0; i <= j; i++ {
				hj[i] = b.Dot(v[j+1], v[i])
				b.Axpy(-hj[i], v[i], v[j+1])
			}
			hj[j+1] = b.Nrm2(v[j+1])
			lucky := hj[j+1] == 0
			if !lucky {
				b.Scal(1/hj[j+1], v[j+1])
			}
			// Apply G_1…G_{j} to the new column, then make G_{j+1}.
			for i := 0; i < j; i++ {
				t := cs[i]*hj[i] + sn[i]*hj[i+1]
				hj[i+1] = -sn[i]*hj[i] + cs[i]*hj[i+1]
				hj[i] = t
			}
			cs[j], sn[j] = givens(hj[j], hj[j+1])
			hj[j] = cs[j]*hj[j] + sn[j]*hj[j+1]
			hj[j+1] = 0
			gv[j+1] = -sn[j] * gv[j]
			gv[j] = cs[j] * gv[j]
			j++
			stop = l.step(math.Abs(gv[j])) || lucky
		}
		// x ← x + V_j R_j⁻¹ g_{1:j}.
		if j > 0 {
			if ok := solveUpper(h, gv, y[:j]); !ok {
				if l.sol.Status != Failed {
					l.fail(fmt.Errorf("%w: gmres: singular Hessenberg matrix after %d iterations", ErrBreakdown, l.sol.Iterations))
				}
				return l.done(), nil
			}
			for i, yi := range y[:j] {
				b.Axpy(yi, v[i], x)
			}
		}
		if stop || l.sol.Status == Failed {
			return l.done(), nil
		}
		// Restart from the true residual.
		prev := beta
		beta, err = residual()
		if err != nil {
			l.fail(fmt.Errorf("krylov: gmres: applying A: %w", err))
			return l.done(), nil
		}
		if err := b.Err(); err != nil {
			l.fail(err)
			return l.done(), nil
		}
		if beta == 0 {
			// x is exact: nothing to restart from.
			l.exact()
			return l.done(), nil
		}
		if !(beta < stagnationFactor*prev) {
			if math.IsNaN(beta) || math.IsInf(beta, 0) {
				l.fail(fmt.Errorf("%w: gmres: true residual norm %v at the restart after %d iterations", ErrNonFinite, beta, l.sol.Iterations))
			} else {
				l.fail(fmt.Errorf("%w: gmres(%d): a cycle took the true residual norm from %.6g to %.6g (its least-squares residual to %.6g) after %d iterations",
					ErrStagnation, m, prev, beta, l.sol.Residual, l.sol.Iterations))
			}
			return l.done(), nil
		}
	}
}

// givens returns the rotation (c, s), c² + s² = 1, with −s·a + c·b = 0 and
// c·a + s·b = hypot(a, b); (1, 0) when a = b = 0.
func givens(a, b float64) (c, s float64) {
	r := math.Hypot(a, b)
	if r == 0 {
		return 1, 0
	}
	return a / r, b / r
}

// solveUpper solves R y = g for the leading len(y)×len(y) upper triangle of
// R (r[j][i] = R_ij, by columns) by back substitution, and reports false if
// a diagonal entry is zero or a y_i is not finite.
func solveUpper(r [][]float64, g, y []float64) bool {
	for i := len(y) - 1; i >= 0; i-- {
		t := g[i]
		for k := i + 1; k < len(y); k++ {
			t -= r[k][i] * y[k]
		}
		if r[i][i] == 0 {
			return false
		}
		y[i] = t / r[i][i]
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return false
		}
	}
	return true
}
