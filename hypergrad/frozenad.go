package hypergrad

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// frozenAD is the adjoint recursion of FrozenAD as a krylov.Solver on
// A q = b:
//
//	z_{j+1} = ((1+β)I − αA) z_j − β z_{j−1},   z_0 = b − A q_0,  z_{−1} = 0,
//	q_{j+1} = q_j + α z_j,   r_{j+1} = r_j + αA z_j  (r_0 = A q_0 − b),
//
// one product per iteration; the residual tracked is the recursively
// updated ‖r_j‖ (so it leaves no Settings.Residual). Like the package's
// solvers it stops at the tolerance or after MaxIter iterations; it has no
// breakdown. The workspace is four vectors (z, z_{j−1}, A z, r).
type frozenAD struct{ alpha, beta float64 }

var _ krylov.Solver = frozenAD{}

func (frozenAD) String() string { return "frozen-ad" }

func (s frozenAD) Solve(ctx context.Context, b backend.Backend, op krylov.Operator, rhs, q backend.Vector, set krylov.Settings) (krylov.Solution, error) {
	t0 := time.Now()
	n := q.Len()
	if rows, cols := op.Dims(); rows != n || cols != n || rhs.Len() != n || set.MaxIter < 1 {
		return krylov.Solution{}, fmt.Errorf("%w: frozen AD: operator %d×%d, rhs %d, x %d, MaxIter %d", krylov.ErrShape, rows, cols, rhs.Len(), n, set.MaxIter)
	}
	vs := make([]backend.Vector, 4)
	for i := range vs {
		v, err := b.NewVector(n)
		if err != nil {
			for _, u := range vs[:i] {
				b.Free(u)
			}
			return krylov.Solution{}, err
		}
		vs[i] = v
	}
	defer func() {
		for _, v := range vs {
			b.Free(v)
		}
	}()
	z, zPrev, az, res := vs[0], vs[1], vs[2], vs[3]
	sol := krylov.Solution{RHSNorm: b.Nrm2(rhs)}
	done := func(st krylov.Status, err error) (krylov.Solution, error) {
		sol.Status, sol.Err, sol.Elapsed = st, err, time.Since(t0)
		return sol, nil
	}
	b.Copy(z, rhs) // z_0 = rhs − A q_0
	if b.Nrm2(q) != 0 {
		sol.MatVecs++
		if err := op.Apply(az, q); err != nil {
			return done(krylov.Failed, err)
		}
		b.Axpy(-1, az, z)
	}
	b.Axpby(-1, z, 0, res) // r_0 = A q_0 − rhs = −z_0
	target := set.Tol*sol.RHSNorm + set.AbsTol
	for i := 0; ; i++ {
		nrm := b.Nrm2(res)
		sol.Residual = nrm
		if set.History {
			sol.History = append(sol.History, nrm)
		}
		if err := b.Err(); err != nil {
			return done(krylov.Failed, err)
		}
		if math.IsNaN(nrm) || math.IsInf(nrm, 0) {
			return done(krylov.Failed, fmt.Errorf("%w: residual norm %v after %d iterations", krylov.ErrNonFinite, nrm, i))
		}
		if set.Monitor != nil {
			if err := set.Monitor(i, q, nrm); err != nil {
				return done(krylov.Failed, err)
			}
		}
		if nrm <= target {
			return done(krylov.Converged, nil)
		}
		if i == set.MaxIter {
			return done(krylov.IterationLimit, nil)
		}
		if err := ctx.Err(); err != nil {
			return done(krylov.Canceled, err)
		}
		sol.MatVecs++
		if err := op.Apply(az, z); err != nil {
			return done(krylov.Failed, err)
		}
		b.Axpy(s.alpha, z, q)    // q_{j+1} = q_j + α z_j
		b.Axpy(s.alpha, az, res) // r_{j+1} = r_j + α A z_j
		// z_{j+1} = (1+β) z_j − β z_{j−1} − α A z_j, into zPrev.
		b.Axpby(1+s.beta, z, -s.beta, zPrev)
		b.Axpy(-s.alpha, az, zPrev)
		z, zPrev = zPrev, z
		sol.Iterations = i + 1
	}
}
