package krylov

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// CGNE is the conjugate-gradient method on the normal equations
// AᵀA x = Aᵀb, for any square A whose transpose the operator applies (a
// Transposer), in the form that never forms AᵀA: CGNR (Saad, Iterative
// Methods for Sparse Linear Systems, 2nd ed., §8.3; Saad's CGNE is the
// other variant, on AAᵀ) or CGLS (Björck, Numerical Methods for Least
// Squares Problems, 1996). From r_0 = b − A x_0, s_0 = Aᵀr_0 and p_0 = s_0,
// iteration i makes one product with A and one with Aᵀ:
//
//	q_i = A p_i,   α_i = ‖s_i‖² / ‖q_i‖²
//	x_{i+1} = x_i + α_i p_i,   r_{i+1} = r_i − α_i q_i
//	s_{i+1} = Aᵀr_{i+1},   β_i = ‖s_{i+1}‖² / ‖s_i‖²,   p_{i+1} = s_{i+1} + β_i p_i
//
// It is CG on AᵀA with the residual s_i = Aᵀr_i of the normal equations,
// so x_i minimises ‖b − A x‖ over x_0 + span{s_0, AᵀA s_0, …,
// (AᵀA)^{i−1} s_0}, at the rate of CG with κ(A)² in place of κ. The residual
// tracked (Solution.Residual, the history) is ‖r_i‖, the norm of the
// recursively updated residual of A x = b itself (= ‖b − A x_i‖ in exact
// arithmetic), which the tolerance tests; CGNE stops as Converged once it
// is below 2⁻⁶²·max(‖b‖, ‖r_0‖), where x can no longer change (see
// residualFloor in cg.go). Aᵀ is not applied to the last residual. s_i = 0 with r_i ≠ 0 (x_i is a least-squares solution of a
// singular system; ‖r‖ cannot decrease) or A p_i = 0 fails with
// ErrBreakdown.
//
// CGNE refuses an operator that is not a Transposer (ErrNoTranspose,
// before any product). Products with Aᵀ are counted in Solution.TransVecs.
// The workspace is four vectors of n elements (r, s, p, q).
type CGNE struct{}

var _ Solver = CGNE{}

// String returns "cgne".
func (CGNE) String() string { return "cgne" }

// Solve solves A x = b by CG on the normal equations from the x given.
func (CGNE) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, set Settings) (Solution, error) {
	n, err := check(b, op, rhs, x, set)
	if err != nil {
		return Solution{}, err
	}
	top, ok := op.(Transposer)
	if !ok {
		return Solution{}, fmt.Errorf("%w: cgne on an operator of type %T", ErrNoTranspose, op)
	}
	ws := newWorkspace(b, set.Workspace)
	defer ws.free()
	vs, err := ws.many(4, n)
	if err != nil {
		return Solution{}, fmt.Errorf("krylov: cgne workspace: %w", err)
	}
	r, s, p, q := vs[0], vs[1], vs[2], vs[3]

	l := newLoop(ctx, b, set, x)
	l.floor = true // the residual is updated recursively
	failf := func(format string, args ...any) Solution {
		l.fail(fmt.Errorf(format, args...))
		return l.done()
	}
	// normal sets s ← Aᵀr and returns ‖s‖², or records a failure.
	normal := func() (float64, bool) {
		if err := l.applyTrans(top, s, r); err != nil {
			l.fail(fmt.Errorf("krylov: cgne: applying Aᵀ: %w", err))
			return 0, false
		}
		ss := b.Dot(s, s)
		switch {
		case math.IsNaN(ss) || math.IsInf(ss, 0):
			l.fail(fmt.Errorf("%w: cgne: ‖Aᵀr‖² = %v after %d iterations", ErrNonFinite, ss, l.sol.Iterations))
			return 0, false
		case ss == 0: // r ≠ 0 here: the loop stops at ‖r‖ = 0
			l.fail(fmt.Errorf("%w: cgne: Aᵀr = 0 with ‖r‖ = %.3g after %d iterations (A is singular: x is a least-squares solution)", ErrBreakdown, l.sol.Residual, l.sol.Iterations))
			return 0, false
		}
		return ss, true
	}

	bnorm := b.Nrm2(rhs)
	if err := initialResidual(l, op, rhs, x, r); err != nil {
		return failf("krylov: cgne: applying A: %w", err), nil
	}
	if l.start(bnorm, b.Nrm2(r)) {
		return l.done(), nil
	}
	ss, ok := normal()
	if !ok {
		return l.done(), nil
	}
	b.Copy(p, s)
	for range set.MaxIter {
		if err := l.apply(op, q, p); err != nil {
			return failf("krylov: cgne: applying A: %w", err), nil
		}
		qq := b.Dot(q, q)
		switch {
		case math.IsNaN(qq) || math.IsInf(qq, 0):
			return failf("%w: cgne: ‖A p‖² = %v after %d iterations", ErrNonFinite, qq, l.sol.Iterations), nil
		case qq == 0:
			return failf("%w: cgne: A p = 0 after %d iterations", ErrBreakdown, l.sol.Iterations), nil
		}
		alpha := ss / qq
		b.Axpy(alpha, p, x)  // x_{i+1} = x_i + α p_i
		b.Axpy(-alpha, q, r) // r_{i+1} = r_i − α A p_i
		if rnorm := b.Nrm2(r); l.step(rnorm) {
			break
		}
		ssNew, ok := normal() // s_{i+1} = Aᵀ r_{i+1}
		if !ok {
			break
		}
		b.Axpby(1, s, ssNew/ss, p) // p_{i+1} = s_{i+1} + β_i p_i
		ss = ssNew
	}
	return l.done(), nil
}
