package hypergrad

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// FixedPointAID is approximate implicit differentiation for a fixed-point
// lower level w = Φ(w, λ) (Grazzi et al. 2020, Algorithm 2), with any linear
// solver of package krylov:
//
//	w_t       = T steps of w_{s+1} = Φ(w_s, λ) from w_0,
//	v_k       = K iterations of Solver on (I − ∂_wΦ(w_t)ᵀ) v = ∇_wE(w_t) from v_0,
//	∇̂f(λ)    = ∇_λE(w_t) + ∂_λΦ(w_t)ᵀ v_k.
//
// The operator I − ∂_wΦᵀ applies one JacTransVec, and its transpose
// I − ∂_wΦ (for krylov.CGNE, the normal-equation CG of Grazzi et al.) one
// JacVec. It is tagged symmetric positive definite when the problem says its
// Jacobian is symmetric (bilevel.SymmetricJacobian; then σ(I − ∂_wΦ) ⊂
// [1−q, 1+q] for a q-contraction), so that krylov.CG and MINRES accept it;
// otherwise it is general, for GMRES, BiCGStab, CGNE and Richardson.
// krylov.Richardson{Step: 1} is AID-FP, v_{i+1} = ∂_wΦᵀv_i + ∇_wE, whose
// k-th iterate from v_0 = 0 is the Neumann sum Σ_{i<k}(∂_wΦᵀ)^i ∇_wE.
//
// With tolerances the phases stop once ‖w_{s+1} − w_s‖ ≤ TolInner and the
// solver's residual ‖∇_wE − (I − ∂_wΦᵀ)v‖ ≤ TolLinear; T and K are then
// budgets. The inner residual reported is the last fixed-point step
// ‖w_t − w_{t−1}‖, which bounds ‖w_t − w(λ)‖ by q/(1−q) times itself for a
// q-contraction. Result.V is v_k (pass it as Start.V0 to warm start). There
// is no error bound for fixed-point problems yet (Bound.Kind none).
type FixedPointAID struct {
	Solver krylov.Solver // nil means krylov.GMRES{} (restarts every 30 steps)
	T      int           // fixed-point iterations (≥ 0)
	K      int           // linear-solver iterations (≥ 0)

	TolInner  float64 // stop the inner iteration when ‖w_{s+1} − w_s‖ ≤ TolInner (0: off)
	TolLinear float64 // stop the linear solve when its residual ≤ TolLinear (0: off)

	Monitor Monitor // optional progress callback (inner iterations)
}

var _ FixedPointEstimator = (*FixedPointAID)(nil)

func (a *FixedPointAID) solver() krylov.Solver {
	if a.Solver == nil {
		return krylov.GMRES{}
	}
	return a.Solver
}

// String returns "aid-<solver>(fpi)", such as "aid-gmres30(fpi)".
func (a *FixedPointAID) String() string { return "aid-" + fpName(a.solver()) + "(fpi)" }

// EstimateFixedPoint computes the AID hypergradient. See
// FixedPointEstimator.
func (a *FixedPointAID) EstimateFixedPoint(ctx context.Context, p bilevel.FixedPoint, start *Start) (*Result, error) {
	r, err := newFPRun(ctx, p, a.String(), a.Monitor)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := r.res
	if a.T < 0 || a.K < 0 || !(a.TolInner >= 0) || !(a.TolLinear >= 0) || !finite(a.TolInner) || !finite(a.TolLinear) {
		return res, r.fail("setup", -1, fmt.Errorf("%w: T = %d, K = %d, TolInner = %v, TolLinear = %v",
			ErrInvalidSettings, a.T, a.K, a.TolInner, a.TolLinear))
	}
	if start == nil {
		start = &Start{}
	}
	d, h := p.InnerDim(), p.HyperDim()
	w, err := r.upload("W0", start.W0, d)
	if err != nil {
		return res, err
	}
	v, err := r.upload("V0", start.V0, d)
	if err != nil {
		return res, err
	}
	var next, diff, rhs, hg, tmpH backend.Vector
	if err := r.vecsN(d, &next, &diff, &rhs); err != nil {
		return res, err
	}
	if err := r.vecsN(h, &hg, &tmpH); err != nil {
		return res, err
	}
	if w, err = r.iterate(w, next, diff, a.T, a.TolInner, nil, nil); err != nil {
		return res, err
	}

	t0 := time.Now()
	if err := r.linearize(w); err != nil {
		return res, r.fail("linear", -1, err)
	}
	if err := r.outerGrad(rhs, w); err != nil {
		return res, r.fail("linear", -1, err)
	}
	res.LinearStatus = Completed
	if a.K > 0 {
		sym := false
		if s, ok := p.(bilevel.SymmetricJacobian); ok {
			sym = s.JacobianSymmetric()
		}
		op := &adjointOperator{r: r, n: d, sym: sym}
		set := krylov.Settings{MaxIter: a.K, AbsTol: a.TolLinear}
		sol, err := a.solver().Solve(ctx, r.b, op, rhs, v, set)
		if err != nil {
			return res, r.fail("linear", -1, err)
		}
		res.LinearIters, res.LinearResidual = sol.Iterations, sol.Residual
		switch sol.Status {
		case krylov.Converged:
			res.LinearStatus = Converged
		case krylov.IterationLimit:
			if a.TolLinear > 0 {
				res.LinearStatus = IterationLimit
			}
		case krylov.Canceled:
			return res, r.fail("linear", sol.Iterations, sol.Err)
		default:
			return res, r.fail("linear", sol.Iterations, linearError(sol.Err))
		}
	}
	res.Time.Linear = r.since(t0)

	c0 := time.Now()
	if err := r.outerHyperGrad(hg, w); err != nil {
		return res, r.fail("cross", -1, err)
	}
	if err := r.hyperJacTransVec(tmpH, v); err != nil {
		return res, r.fail("cross", -1, err)
	}
	r.b.Axpy(1, tmpH, hg)
	res.Bound = noFixedPointBound()
	res.W, res.V = r.download(w), r.download(v)
	if err := r.finish(hg); err != nil {
		return res, err
	}
	res.Time.Cross = r.since(c0)
	return res, nil
}

// linearError maps a krylov failure onto this package's errors where one
// means the same (a non-finite value, a non-positive-definite operator), and
// keeps the krylov error in the chain either way.
func linearError(err error) error {
	switch {
	case errors.Is(err, krylov.ErrNonFinite):
		return fmt.Errorf("%w: %w", ErrNonFinite, err)
	case errors.Is(err, krylov.ErrNotPositiveDefinite):
		return fmt.Errorf("%w: %w", ErrNotPositiveDefinite, err)
	}
	return err
}

// noFixedPointBound is the Bound of a fixed-point estimate.
func noFixedPointBound() Bound {
	return Bound{Kind: BoundNone, Value: math.Inf(1), Note: "no error bound for fixed-point problems"}
}

// adjointOperator is I − ∂_wΦᵀ at the linearization point, the operator of
// AID's adjoint system, and its transpose I − ∂_wΦ.
type adjointOperator struct {
	r   *fpRun
	n   int
	sym bool
}

var _ krylov.Transposer = (*adjointOperator)(nil)

func (o *adjointOperator) Dims() (rows, cols int) { return o.n, o.n }

func (o *adjointOperator) Tags() krylov.Tags {
	if o.sym {
		return krylov.Symmetric | krylov.PositiveDefinite
	}
	return 0
}

// Apply sets dst ← u − ∂_wΦᵀu.
func (o *adjointOperator) Apply(dst, u backend.Vector) error {
	if err := o.r.jacTransVec(dst, u); err != nil {
		return err
	}
	o.r.b.Axpby(1, u, -1, dst)
	return o.r.b.Err()
}

// ApplyTrans sets dst ← u − ∂_wΦ u.
func (o *adjointOperator) ApplyTrans(dst, u backend.Vector) error {
	if err := o.r.jacVec(dst, u); err != nil {
		return err
	}
	o.r.b.Axpby(1, u, -1, dst)
	return o.r.b.Err()
}
