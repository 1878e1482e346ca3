package krylov

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Richardson is the stationary Richardson iteration
//
//	x_{i+1} = x_i + α r_i,   r_i = b − A x_i,
//
// the fixed-point (Neumann) iteration of AID-FP (Grazzi et al. 2020,
// Algorithm 2; Saad, Iterative Methods for Sparse Linear Systems, 2nd ed.,
// ch. 4): from x_0 = 0 its k-th iterate is the Neumann sum
// α Σ_{j<k} (I − αA)^j b. The error e_i = x_i − x* obeys
// e_{i+1} = (I − αA) e_i, so the iteration converges exactly when the
// spectral radius of I − αA is below 1; for A symmetric positive definite
// with eigenvalues in [μ, L] that is 0 < α < 2/L, and α = 2/(μ+L) contracts
// the error by (κ−1)/(κ+1) per iteration (κ = L/μ).
//
// Each iteration makes one product with A and recomputes the residual
// r_{i+1} = b − A x_{i+1} from it, so the residual tracked (Solution.Residual,
// the history, Settings.Residual) is the true one, up to rounding. A map that is not a
// contraction shows as ErrDiverged through Settings.DivergenceFactor.
//
// Step must be positive and finite (ErrSettings otherwise): it has no
// default, as it depends on A's spectrum. The workspace is one vector of
// n elements (r).
type Richardson struct {
	Step float64 // α > 0
}

var _ Solver = Richardson{}

// String returns "richardson".
func (Richardson) String() string { return "richardson" }

// Solve solves A x = b by the Richardson iteration from the x given.
func (s Richardson) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, set Settings) (Solution, error) {
	n, err := check(b, op, rhs, x, set)
	if err != nil {
		return Solution{}, err
	}
	if !(s.Step > 0) || math.IsInf(s.Step, 0) {
		return Solution{}, fmt.Errorf("%w: richardson: Step %v (must be positive and finite)", ErrSettings, s.Step)
	}
	ws := newWorkspace(b, set.Workspace)
	defer ws.free()
	r, err := ws.vec(n)
	if err != nil {
		return Solution{}, fmt.Errorf("krylov: richardson workspace: %w", err)
	}

	l := newLoop(ctx, b, set, x)
	bnorm := b.Nrm2(rhs)
	if err := initialResidual(l, op, rhs, x, r); err != nil {
		l.fail(fmt.Errorf("krylov: richardson: applying A: %w", err))
		return l.done(), nil
	}
	if l.start(bnorm, b.Nrm2(r)) {
		l.trueResidual(r)
		return l.done(), nil
	}
	for range set.MaxIter {
		b.Axpy(s.Step, r, x) // x_{i+1} = x_i + α r_i
		if err := l.apply(op, r, x); err != nil {
			l.fail(fmt.Errorf("krylov: richardson: applying A: %w", err))
			return l.done(), nil
		}
		b.Axpby(1, rhs, -1, r) // r_{i+1} = b − A x_{i+1}
		if l.step(b.Nrm2(r)) {
			break
		}
	}
	l.trueResidual(r)
	return l.done(), nil
}
