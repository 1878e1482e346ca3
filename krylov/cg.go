package krylov

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// CG is the conjugate-gradient method of Hestenes and Stiefel for A
// symmetric positive definite (Nocedal & Wright, Numerical Optimization,
// 2nd ed., Algorithm 5.2). From r_0 = b − A x_0 and p_0 = r_0, iteration i
// makes one product with A:
//
//	α_i = r_iᵀr_i / p_iᵀA p_i
//	x_{i+1} = x_i + α_i p_i,   r_{i+1} = r_i − α_i A p_i
//	β_i = r_{i+1}ᵀr_{i+1} / r_iᵀr_i,   p_{i+1} = r_{i+1} + β_i p_i
//
// The direction update uses the new residual r_{i+1}. In exact arithmetic
// the residuals are mutually orthogonal, the directions A-conjugate, and
// x_i minimises the A-norm of the error over x_0 + span{r_0, A r_0, …,
// A^{i−1} r_0}, with ‖x_i − x*‖_A ≤ 2((√κ−1)/(√κ+1))^i ‖x_0 − x*‖_A
// (Nocedal & Wright eq. 5.36). The residual is updated recursively: the
// one tracked (Solution.Residual, the history) is ‖r_i‖ = (r_iᵀr_i)^{1/2},
// which equals ‖b − A x_i‖ in exact arithmetic and keeps shrinking below
// the true residual's rounding floor in floating point; CG stops as
// Converged once it is below 2⁻⁶²·max(‖b‖, ‖r_0‖), where x can no longer
// change (see residualFloor).
//
// On a backend that is a backend.CGStepper (the CUDA backend), CG without
// a Monitor runs queued: the iterations stay on the device in chunks and
// the host reads their scalars once a chunk, with the bits of the host loop
// (see cgQueued). With Settings.Residual and no tolerance, the last
// iteration computes A x together with A p (one call on a Pairer) and
// leaves b − A x of the returned x there.
//
// CG refuses an operator not tagged Symmetric (ErrNotSymmetric, before any
// product). A direction with p_iᵀA p_i ≤ 0 (A is not positive definite,
// whatever its tags say) fails with ErrNotPositiveDefinite, a non-finite
// one with ErrNonFinite; x is then x_i. The workspace is three vectors of
// n elements (r, p, A p).
type CG struct{}

var _ Solver = CG{}

// String returns "cg".
func (CG) String() string { return "cg" }

// Solve solves A x = b by conjugate gradients from the x given.
func (CG) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, set Settings) (Solution, error) {
	return pcg(ctx, b, op, nil, rhs, x, set, "cg")
}

// PCG is the preconditioned conjugate-gradient method for A and M
// symmetric positive definite (Nocedal & Wright, Algorithm 5.3), with the
// operator M applying M⁻¹ (Jacobi, say). From r_0 = b − A x_0,
// z_0 = M⁻¹r_0 and p_0 = z_0, iteration i makes one product with A and one
// application of M⁻¹:
//
//	α_i = r_iᵀz_i / p_iᵀA p_i
//	x_{i+1} = x_i + α_i p_i,   r_{i+1} = r_i − α_i A p_i
//	z_{i+1} = M⁻¹r_{i+1},   β_i = r_{i+1}ᵀz_{i+1} / r_iᵀz_i,   p_{i+1} = z_{i+1} + β_i p_i
//
// It is CG on M^{−1/2} A M^{−1/2}, and the bound of CG holds with κ the
// condition number of that matrix. The residual tracked is the Euclidean
// norm ‖r_i‖ of the recursively updated residual (not its M⁻¹-norm
// (r_iᵀz_i)^{1/2}), so that the tolerance means what it means for the
// other solvers; M⁻¹ is not applied to the last residual.
//
// M must not be nil (ErrSettings), must be n×n (ErrShape) and tagged
// Symmetric like A (ErrNotSymmetric). Failures are those of CG, and
// r_iᵀz_i ≤ 0 (M⁻¹ not positive definite) fails with
// ErrNotPositiveDefinite. Applications of M are counted in
// Solution.PrecVecs. The workspace is four vectors of n elements (r, z, p,
// A p).
type PCG struct {
	M Operator // applies M⁻¹
}

var _ Solver = PCG{}

// String returns "pcg".
func (PCG) String() string { return "pcg" }

// Solve solves A x = b by preconditioned conjugate gradients from the x
// given.
func (s PCG) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, set Settings) (Solution, error) {
	if s.M == nil {
		return Solution{}, fmt.Errorf("%w: pcg: nil preconditioner M", ErrSettings)
	}
	return pcg(ctx, b, op, s.M, rhs, x, set, "pcg")
}

// pcg runs CG (m == nil: z aliases r) or PCG; name prefixes its errors.
func pcg(ctx context.Context, b backend.Backend, op, m Operator, rhs, x backend.Vector, set Settings, name string) (Solution, error) {
	n, err := check(b, op, rhs, x, set)
	if err != nil {
		return Solution{}, err
	}
	if t := op.Tags(); !t.Has(Symmetric) {
		return Solution{}, fmt.Errorf("%w: %s on an operator tagged %v", ErrNotSymmetric, name, t)
	}
	if m != nil {
		if r, c := m.Dims(); r != n || c != n {
			return Solution{}, fmt.Errorf("%w: %s: preconditioner %d×%d for an operator of %d columns", ErrShape, name, r, c, n)
		}
		if t := m.Tags(); !t.Has(Symmetric) {
			return Solution{}, fmt.Errorf("%w: %s: preconditioner tagged %v", ErrNotSymmetric, name, t)
		}
	}
	k := 3
	if m != nil {
		k = 4
	}
	ws := newWorkspace(b, set.Workspace)
	defer ws.free()
	vs, err := ws.many(k, n)
	if err != nil {
		return Solution{}, fmt.Errorf("krylov: %s workspace: %w", name, err)
	}
	r, p, ap, z := vs[0], vs[1], vs[2], vs[0] // CG: z = r
	if m != nil {
		z = vs[3]
	}

	l := newLoop(ctx, b, set, x)
	l.floor = true // the residual is updated recursively
	failf := func(format string, args ...any) Solution {
		l.fail(fmt.Errorf(format, args...))
		return l.done()
	}
	// norm returns ‖r‖ and, for CG, rᵀr (= rᵀz: one reduction for both).
	norm := func() (float64, float64) {
		if m == nil {
			rr := b.Dot(r, r)
			return math.Sqrt(rr), rr
		}
		return b.Nrm2(r), 0
	}
	// precond sets z ← M⁻¹r (PCG) and returns rᵀz, or records a failure.
	precond := func() (float64, bool) {
		if err := l.precond(m, z, r); err != nil {
			l.fail(fmt.Errorf("krylov: %s: applying M: %w", name, err))
			return 0, false
		}
		rz := b.Dot(r, z)
		switch {
		case math.IsNaN(rz) || math.IsInf(rz, 0):
			l.fail(fmt.Errorf("%w: %s: rᵀM⁻¹r = %v after %d iterations", ErrNonFinite, name, rz, l.sol.Iterations))
			return 0, false
		case !(rz > 0): // r ≠ 0 here: the loop stops at ‖r‖ = 0
			l.fail(fmt.Errorf("%w: %s: rᵀM⁻¹r = %v after %d iterations (the preconditioner)", ErrNotPositiveDefinite, name, rz, l.sol.Iterations))
			return 0, false
		}
		return rz, true
	}

	bnorm := b.Nrm2(rhs)
	if err := initialResidual(l, op, rhs, x, r); err != nil {
		return failf("krylov: %s: applying A: %w", name, err), nil
	}
	rnorm, rz := norm()
	if l.start(bnorm, rnorm) {
		return l.done(), nil
	}
	if m != nil {
		var ok bool
		if rz, ok = precond(); !ok {
			return l.done(), nil
		}
	}
	b.Copy(p, z)
	if cs, ok := b.(backend.CGStepper); ok && m == nil && set.Monitor == nil {
		return cgQueued(l, &ws, cs, op, rhs, x, r, p, ap, rz, name)
	}
	for i := 0; i < set.MaxIter; i++ {
		pair := lastPair(l, i)
		if err := applyP(l, op, ap, p, x, i, pair); err != nil {
			return failf("krylov: %s: applying A: %w", name, err), nil
		}
		pap := b.Dot(p, ap)
		switch {
		case math.IsNaN(pap) || math.IsInf(pap, 0):
			return failf("%w: %s: pᵀAp = %v after %d iterations", ErrNonFinite, name, pap, l.sol.Iterations), nil
		case !(pap > 0):
			return failf("%w: %s: pᵀAp = %v after %d iterations", ErrNotPositiveDefinite, name, pap, l.sol.Iterations), nil
		}
		alpha := rz / pap
		b.Axpy(alpha, p, x)   // x_{i+1} = x_i + α p_i
		b.Axpy(-alpha, ap, r) // r_{i+1} = r_i − α A p_i
		if pair {
			pairResidual(l, alpha, ap, rhs)
		}
		rnorm, rzNew := norm()
		if l.step(rnorm) {
			break
		}
		if m != nil {
			var ok bool
			if rzNew, ok = precond(); !ok { // z_{i+1} = M⁻¹ r_{i+1}
				break
			}
		}
		b.Axpby(1, z, rzNew/rz, p) // p_{i+1} = z_{i+1} + β_i p_i
		rz = rzNew
	}
	return l.done(), nil
}

// lastPair reports whether iteration i is the last of a solve without a
// tolerance that should leave the true residual in Settings.Residual: it
// then computes A x_i with A p_i.
func lastPair(l *loop, i int) bool {
	return l.s.Residual != nil && l.s.Tol == 0 && l.s.AbsTol == 0 && i == l.s.MaxIter-1
}

// applyP sets ap ← A p for iteration i; with pair it also sets
// Settings.Residual ← A x_i (in the same call where op is a Pairer; zero
// without a product when x_i = x_0 = 0).
func applyP(l *loop, op Operator, ap, p, x backend.Vector, i int, pair bool) error {
	res := l.s.Residual
	if !pair {
		return l.apply(op, ap, p)
	}
	if i == 0 && l.x0zero {
		l.b.Fill(res, 0)
		return l.apply(op, ap, p)
	}
	if pp, ok := op.(Pairer); ok {
		l.sol.MatVecs += 2
		return pp.ApplyPair(ap, p, res, x)
	}
	if err := l.apply(op, ap, p); err != nil {
		return err
	}
	return l.apply(op, res, x)
}

// pairResidual turns Settings.Residual = A x_i into b − A x_{i+1} =
// b − (A x_i + α A p_i) after the last iteration's update.
func pairResidual(l *loop, alpha float64, ap, rhs backend.Vector) {
	res := l.s.Residual
	l.b.Axpy(alpha, ap, res)
	l.b.Axpby(1, rhs, -1, res)
	l.sol.ResidualSet = true
}
