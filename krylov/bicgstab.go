package krylov

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// BiCGStab is the bi-conjugate gradient stabilised method (van der Vorst,
// SIAM J. Sci. Stat. Comput. 13, 1992; Templates, Barrett et al. 1994,
// §2.3.8), for any square A. From r_0 = b − A x_0 and the shadow residual
// r̂ = r_0, iteration i makes two products with A:
//
//	ρ_i = r̂·r_{i−1}
//	p_i = r_{i−1} + (ρ_i/ρ_{i−1})(α_{i−1}/ω_{i−1}) (p_{i−1} − ω_{i−1} v_{i−1})   (p_1 = r_0)
//	v_i = A p_i,  α_i = ρ_i / r̂·v_i
//	s = r_{i−1} − α_i v_i
//	t = A s,  ω_i = t·s / t·t
//	x_i = x_{i−1} + α_i p_i + ω_i s,  r_i = s − ω_i t
//
// keeping the invariant r_i = b − A x_i (in exact arithmetic: the residual
// is updated recursively, and Solution.Residual and the history are ‖r_i‖,
// not recomputed). If ‖s‖ already meets the tolerance the iteration ends
// early with x_i = x_{i−1} + α_i p_i (one product; the standard exit). A
// division by zero of the method — ρ_i = 0, r̂·v_i = 0 or ω_i = 0 (t·s = 0 or
// t = 0) — fails with ErrBreakdown; at ω_i = 0 the x of the half step,
// x_{i−1} + α_i p_i with residual s, is kept and counted as an iteration.
// As in CG, a tracked residual norm (‖r_i‖, or ‖s‖ at ω_i = 0) at the
// rounding floor of residualFloor stops the solve as Converged instead: it
// matters only for a tolerance below that floor, where the recursion would
// otherwise underflow into a false breakdown.
//
// The workspace is five vectors of n elements (r, r̂, p, v, t; s overwrites
// r), allocated once.
type BiCGStab struct{}

var _ Solver = BiCGStab{}

// String returns "bicgstab".
func (BiCGStab) String() string { return "bicgstab" }

// Solve solves A x = b by BiCGStab from the x given.
func (BiCGStab) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, s Settings) (Solution, error) {
	n, err := check(b, op, rhs, x, s)
	if err != nil {
		return Solution{}, err
	}
	ws := newWorkspace(b, s.Workspace)
	defer ws.free()
	vs, err := ws.many(5, n)
	if err != nil {
		return Solution{}, fmt.Errorf("krylov: bicgstab workspace: %w", err)
	}
	r, rh, p, v, t := vs[0], vs[1], vs[2], vs[3], vs[4]

	l := newLoop(ctx, b, s, x)
	l.floor = true // the residual is updated recursively
	applyFail := func(err error) Solution {
		l.fail(fmt.Errorf("krylov: bicgstab: applying A: %w", err))
		return l.done()
	}
	bnorm := b.Nrm2(rhs)
	if err := l.apply(op, r, x); err != nil {
		return applyFail(err), nil
	}
	b.Axpby(1, rhs, -1, r)
	if l.start(bnorm, b.Nrm2(r)) {
		return l.done(), nil
	}
	b.Copy(rh, r)
	var rhoPrev, alpha, omega float64
	for i := 1; ; i++ {
		rho := b.Dot(rh, r)
		if rho == 0 {
			l.fail(fmt.Errorf("%w: bicgstab: ρ = r̂·r = 0 after %d iterations", ErrBreakdown, l.sol.Iterations))
			return l.done(), nil
		}
		if i == 1 {
			b.Copy(p, r)
		} else {
			beta := (rho / rhoPrev) * (alpha / omega)
			b.Axpy(-omega, v, p)
			b.Axpby(1, r, beta, p)
		}
		if err := l.apply(op, v, p); err != nil {
			return applyFail(err), nil
		}
		rv := b.Dot(rh, v)
		if rv == 0 {
			l.fail(fmt.Errorf("%w: bicgstab: r̂·A p = 0 after %d iterations", ErrBreakdown, l.sol.Iterations))
			return l.done(), nil
		}
		alpha = rho / rv
		b.Axpy(-alpha, v, r) // r is now s
		snorm := b.Nrm2(r)
		if math.IsNaN(snorm) || math.IsInf(snorm, 0) {
			l.step(snorm) // fails: x stays x_{i−1}
			return l.done(), nil
		}
		if snorm <= l.target {
			b.Axpy(alpha, p, x)
			l.step(snorm)
			return l.done(), nil
		}
		if err := l.apply(op, t, r); err != nil {
			return applyFail(err), nil
		}
		ts, tt := b.Dot(t, r), b.Dot(t, t)
		omega = ts / tt
		if ts == 0 || tt == 0 {
			b.Axpy(alpha, p, x)
			if !l.step(snorm) || (l.sol.Status != Failed && l.sol.Status != Converged) {
				l.fail(fmt.Errorf("%w: bicgstab: ω = t·s/t·t = %v/%v after %d iterations", ErrBreakdown, ts, tt, l.sol.Iterations))
			}
			return l.done(), nil
		}
		b.Axpy(alpha, p, x)
		b.Axpy(omega, r, x)
		b.Axpy(-omega, t, r)
		if rnorm := b.Nrm2(r); l.step(rnorm) {
			return l.done(), nil
		}
		rhoPrev = rho
	}
}
