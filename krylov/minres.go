package krylov

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// MINRES is the minimal-residual method of Paige and Saunders (SIAM J.
// Numer. Anal. 12(4), 1975) for A symmetric, definite or indefinite, in the
// form reviewed by Choi, Paige and Saunders (MINRES-QLP, SIAM J. Sci.
// Comput. 33(4), 2011) and of SciPy's minres, without preconditioning.
// Iteration k makes one product with A: the Lanczos three-term recurrence
// on device vectors,
//
//	β_1 v_1 = r_0 = b − A x_0
//	β_{k+1} v_{k+1} = A v_k − α_k v_k − β_k v_{k−1},   α_k = v_kᵀ(A v_k − β_k v_{k−1}),
//
// builds the tridiagonal T_k, whose QR factorisation by Givens rotations
// (c_k, s_k) is updated on the host scalars:
//
//	δ_k = c_{k−1} δ̄_k + s_{k−1} α_k,   γ̄_k = s_{k−1} δ̄_k − c_{k−1} α_k,
//	ε_{k+1} = s_{k−1} β_{k+1},   δ̄_{k+1} = −c_{k−1} β_{k+1},
//	γ_k = (γ̄_k² + β_{k+1}²)^{1/2},   c_k = γ̄_k/γ_k,   s_k = β_{k+1}/γ_k,
//	φ_k = c_k φ̄_{k−1},   φ̄_k = s_k φ̄_{k−1}   (φ̄_0 = β_1, c_0 = −1, s_0 = 0),
//
// and the search directions and iterate follow:
//
//	w_k = (v_k − ε_k w_{k−2} − δ_k w_{k−1}) / γ_k,   x_k = x_{k−1} + φ_k w_k.
//
// In exact arithmetic x_k minimises ‖b − A x‖ over x_0 + span{r_0, A r_0,
// …, A^{k−1} r_0}, and |φ̄_k| = ‖b − A x_k‖: that is the residual tracked
// (Solution.Residual, the history), from the rotations without a further
// product; in floating point it can fall below the true residual's
// rounding floor, and MINRES stops as Converged once it is below
// 2⁻⁶²·max(‖b‖, ‖r_0‖), where x can no longer change (see residualFloor in
// cg.go). A lucky breakdown (β_{k+1} = 0: the Krylov space is
// invariant) gives φ̄_k = 0, which converges. γ_k = 0 (T_k singular with
// β_{k+1} = 0: b − A x_0 has a part outside A's range, and the residual
// cannot decrease) fails with ErrBreakdown.
//
// MINRES refuses an operator not tagged Symmetric (ErrNotSymmetric, before
// any product). The workspace is five vectors of n elements (v_{k−1}, v_k,
// the next Lanczos vector, w_{k−1}, w_k).
type MINRES struct{}

var _ Solver = MINRES{}

// String returns "minres".
func (MINRES) String() string { return "minres" }

// Solve solves A x = b by MINRES from the x given.
func (MINRES) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, set Settings) (Solution, error) {
	n, err := check(b, op, rhs, x, set)
	if err != nil {
		return Solution{}, err
	}
	if t := op.Tags(); !t.Has(Symmetric) {
		return Solution{}, fmt.Errorf("%w: minres on an operator tagged %v", ErrNotSymmetric, t)
	}
	ws := newWorkspace(b, set.Workspace)
	defer ws.free()
	vs, err := ws.many(5, n)
	if err != nil {
		return Solution{}, fmt.Errorf("krylov: minres workspace: %w", err)
	}
	vPrev, v, u, w1, w2 := vs[0], vs[1], vs[2], vs[3], vs[4] // w1 = w_{k−2}, w2 = w_{k−1}

	l := newLoop(ctx, b, set, x)
	l.floor = true // the residual is updated recursively
	bnorm := b.Nrm2(rhs)
	if err := initialResidual(l, op, rhs, x, v); err != nil {
		l.fail(fmt.Errorf("krylov: minres: applying A: %w", err))
		return l.done(), nil
	}
	beta := b.Nrm2(v) // β_1 = ‖r_0‖; v holds β_1 v_1 until the loop scales it
	if l.start(bnorm, beta) {
		return l.done(), nil
	}
	var (
		dbar, epsln float64 // δ̄_k, ε_{k+1}
		cs, sn      = -1.0, 0.0
		phibar      = beta
	)
	for k := 1; k <= set.MaxIter; k++ {
		b.Scal(1/beta, v) // v_k = (β_k v_k)/β_k, β_k > 0: φ̄_{k−1} > 0 here
		if err := l.apply(op, u, v); err != nil {
			l.fail(fmt.Errorf("krylov: minres: applying A: %w", err))
			break
		}
		if k > 1 {
			b.Axpy(-beta, vPrev, u) // A v_k − β_k v_{k−1}
		}
		alpha := b.Dot(v, u)
		b.Axpy(-alpha, v, u) // β_{k+1} v_{k+1}
		betaNext := b.Nrm2(u)

		// Apply the previous rotation, then make the k-th.
		oldeps := epsln
		delta := cs*dbar + sn*alpha
		gbar := sn*dbar - cs*alpha
		epsln = sn * betaNext
		dbar = -cs * betaNext
		gamma := math.Hypot(gbar, betaNext)
		switch {
		case math.IsNaN(gamma) || math.IsInf(gamma, 0):
			l.fail(fmt.Errorf("%w: minres: γ = %v (α = %v, β = %v) after %d iterations", ErrNonFinite, gamma, alpha, betaNext, l.sol.Iterations))
			return l.done(), nil
		case gamma == 0:
			l.fail(fmt.Errorf("%w: minres: γ = 0 after %d iterations: T_k is singular on an invariant Krylov space (b − A x_0 is not in A's range)", ErrBreakdown, l.sol.Iterations))
			return l.done(), nil
		}
		cs, sn = gbar/gamma, betaNext/gamma
		phi := cs * phibar
		phibar *= sn

		// w_k = (v_k − ε_k w_{k−2} − δ_k w_{k−1}) / γ_k into w1, then
		// (w1, w2) = (w_{k−1}, w_k).
		b.Axpby(-delta, w2, -oldeps, w1)
		b.Axpby(1/gamma, v, 1/gamma, w1)
		w1, w2 = w2, w1
		b.Axpy(phi, w2, x) // x_k = x_{k−1} + φ_k w_k

		vPrev, v, u = v, u, vPrev // v holds β_{k+1} v_{k+1}
		beta = betaNext
		if l.step(math.Abs(phibar)) {
			break
		}
	}
	return l.done(), nil
}
