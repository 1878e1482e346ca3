package krylov

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// HeavyBall is Polyak's heavy-ball iteration on A x = b (Polyak, USSR
// Comput. Math. Math. Phys. 4(5), 1964), the Richardson iteration with
// momentum:
//
//	x_{i+1} = x_i + α r_i + β(x_i − x_{i−1}),   r_i = b − A x_i,   x_{−1} = x_0,
//
// run as x_{i+1} = ((1+β)x_i − βx_{i−1}) + α r_i. It equals reverse-mode differentiation
// through heavy-ball steps frozen at the solution (AID-HB; Ehrhardt &
// Roberts 2024, §3.2). For A symmetric positive definite with eigenvalues
// in [μ, L], α = 4/(√L+√μ)² and β = ((√L−√μ)/(√L+√μ))² make the error
// decay asymptotically as ((√κ−1)/(√κ+1))^i (κ = L/μ).
//
// Each iteration makes one product with A and recomputes the residual
// r_{i+1} = b − A x_{i+1} from it, so the residual tracked (and
// Settings.Residual) is the true one, up to rounding. Parameters outside the region of convergence show as
// ErrDiverged through Settings.DivergenceFactor.
//
// Step must be positive and finite and Momentum in [0, 1) (ErrSettings
// otherwise); Momentum 0 is the Richardson iteration. The workspace is two
// vectors of n elements (r, x_{i−1}).
type HeavyBall struct {
	Step     float64 // α > 0
	Momentum float64 // β ∈ [0, 1)
}

var _ Solver = HeavyBall{}

// String returns "heavyball".
func (HeavyBall) String() string { return "heavyball" }

// Solve solves A x = b by the heavy-ball iteration from the x given.
func (s HeavyBall) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, set Settings) (Solution, error) {
	n, err := check(b, op, rhs, x, set)
	if err != nil {
		return Solution{}, err
	}
	if !(s.Step > 0) || math.IsInf(s.Step, 0) || !(s.Momentum >= 0 && s.Momentum < 1) {
		return Solution{}, fmt.Errorf("%w: heavyball: Step %v (must be positive and finite), Momentum %v (must be in [0, 1))", ErrSettings, s.Step, s.Momentum)
	}
	ws := newWorkspace(b, set.Workspace)
	defer ws.free()
	vs, err := ws.many(2, n)
	if err != nil {
		return Solution{}, fmt.Errorf("krylov: heavyball workspace: %w", err)
	}
	r, prev := vs[0], vs[1]
	cur := x
	b.Copy(prev, x) // x_{−1} = x_0

	l := newLoop(ctx, b, set, x)
	bnorm := b.Nrm2(rhs)
	if err := initialResidual(l, op, rhs, x, r); err != nil {
		l.fail(fmt.Errorf("krylov: heavyball: applying A: %w", err))
		return l.done(), nil
	}
	if l.start(bnorm, b.Nrm2(r)) {
		l.trueResidual(r)
		return l.done(), nil
	}
	for range set.MaxIter {
		b.Axpby(1+s.Momentum, cur, -s.Momentum, prev) // (1+β)x_i − βx_{i−1}
		b.Axpy(s.Step, r, prev)                       // + α r_i = x_{i+1}
		cur, prev = prev, cur
		l.x = cur
		if err := l.apply(op, r, cur); err != nil {
			l.fail(fmt.Errorf("krylov: heavyball: applying A: %w", err))
			break
		}
		b.Axpby(1, rhs, -1, r) // r_{i+1} = b − A x_{i+1}
		if l.step(b.Nrm2(r)) {
			break
		}
	}
	if cur != x {
		b.Copy(x, cur)
	}
	if l.sol.Status != Failed {
		l.trueResidual(r)
	}
	return l.done(), nil
}
