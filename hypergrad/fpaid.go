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
// q-contraction. Result.V is v_k (pass it as Start.V0 to warm start).
//
// The a posteriori bound (Result.Bound; Grazzi et al. 2020, Thm 2.2 made a
// posteriori) needs the problem's constants (bilevel.FixedPointConstanter:
// q, L_E1, L_E2, ν1, ν2 and ‖K(ŵ)‖ = ‖∂_λΦ(ŵ)‖) and t ≥ 1 fixed-point steps.
// With ŵ = w_t, Ĵ = ∂_wΦ(ŵ), w* = w(λ), J* = ∂_wΦ(w*), s = 1 − q:
//
//	Δ = q‖w_t − w_{t−1}‖/s ≥ ‖ŵ − w*‖
//	    (‖w_t − w*‖ ≤ q‖w_{t−1} − w*‖ ≤ q‖w_{t−1} − w_t‖ + q‖w_t − w*‖),
//	    capped by the Diameter of the constants' set where it is proven;
//	r = ∇_wE(ŵ) − (I − Ĵᵀ)v̂, the true residual of the returned v̂ = v_k
//	    (one more JacTransVec, counted);
//
// σ_min(I − Jᵀ) ≥ 1 − ‖J‖ ≥ s at every point. Splitting
// ∇f = ∇_λE(w*) + K(w*)ᵀv*, v* = (I − J*ᵀ)⁻¹∇_wE(w*), through
// v̂* = (I − Ĵᵀ)⁻¹∇_wE(ŵ),
//
//	ĥ − ∇f = [∇_λE(ŵ) − ∇_λE(w*)] + K(ŵ)ᵀ(v̂ − v̂*) + K(ŵ)ᵀ(v̂* − v*) + [K(ŵ) − K(w*)]ᵀv*,
//	v̂ − v̂* = −(I − Ĵᵀ)⁻¹r,
//	v̂* − v* = (I − Ĵᵀ)⁻¹[∇_wE(ŵ) − ∇_wE(w*)] + (I − Ĵᵀ)⁻¹(Ĵ − J*)ᵀv*,
//
// so that, with V ≥ ‖v*‖,
//
//	‖ĥ − ∇f‖ ≤ ‖K(ŵ)‖‖r‖/s + [L_E2 + ‖K(ŵ)‖L_E1/s]Δ + [‖K(ŵ)‖ν1/s + ν2]ΔV,
//	V = min(G/s, (‖v̂‖ + (‖r‖ + L_E1Δ)/s)/(1 − ν1Δ/s)),   G = ‖∇_wE(ŵ)‖ + L_E1Δ,
//
// the first from ‖∇_wE(w*)‖ ≤ G, the second (used when ν1Δ < s) from
// ‖v*‖ ≤ ‖v̂‖ + ‖v̂ − v̂*‖ + ‖v̂* − v*‖ and the splitting above. Bound.Linear
// is the residual term; Bound.Inner the rest with V at Δ = 0,
// V₀ = min(‖∇_wE(ŵ)‖, ‖v̂‖s + ‖r‖)/s; Bound.InnerSquared the remainder,
// [‖K(ŵ)‖ν1/s + ν2]Δ(V − V₀), of order Δ². Bound.Eps is Δ, Residual ‖r‖,
// CrossNorm ‖K(ŵ)‖ and OuterGradNorm ‖∇_wE(ŵ)‖. The bound is certified when
// every constant is exact or proven, an estimate when some are estimated,
// and none (Note says why) when one is unknown, q ≥ 1, t = 0 or the problem
// has no constants. FixedPointITD reports no bound.
type FixedPointAID struct {
	Solver krylov.Solver // nil means krylov.GMRES{} (restarts every 30 steps)
	T      int           // fixed-point iterations (≥ 0)
	K      int           // linear-solver iterations (≥ 0)

	TolInner  float64 // stop the inner iteration when ‖w_{s+1} − w_s‖ ≤ TolInner (0: off)
	TolLinear float64 // stop the linear solve when its residual ≤ TolLinear (0: off)

	Monitor Monitor // optional progress callback (inner and linear iterations)
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
		set := krylov.Settings{MaxIter: a.K, AbsTol: a.TolLinear, Workspace: r.workspace()}
		if r.monitor != nil {
			set.Monitor = func(i int, x backend.Vector, nrm float64) error {
				if err := r.monitor(Progress{Phase: PhaseLinear, Iter: i, X: x, Residual: nrm}); err != nil {
					return fmt.Errorf("monitor: %w", err)
				}
				return nil
			}
		}
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
	if res.Bound, err = r.aidBound(w, v, rhs, diff); err != nil {
		return res, err
	}
	res.W, res.V = r.download(w), r.download(v)
	if err := r.finish(hg); err != nil {
		return res, err
	}
	res.Time.Cross = r.since(c0)
	return res, nil
}

// linearError maps a krylov failure onto this package's errors where one
// means the same (a non-finite value, a non-positive-definite operator, a
// residual grown beyond krylov.Settings.DivergenceFactor = 1e8 times its
// initial value), and keeps the krylov error in the chain either way.
func linearError(err error) error {
	switch {
	case errors.Is(err, krylov.ErrNonFinite):
		return fmt.Errorf("%w: %w", ErrNonFinite, err)
	case errors.Is(err, krylov.ErrDiverged):
		return fmt.Errorf("%w: %w", ErrDiverged, err)
	case errors.Is(err, krylov.ErrNotPositiveDefinite):
		return fmt.Errorf("%w: %w", ErrNotPositiveDefinite, err)
	}
	return err
}

// aidBound evaluates the a posteriori bound of FixedPointAID (see there) at
// ŵ = w, whose linearization is current, for the adjoint v̂ = v with
// rhs = ∇_wE(ŵ); tmp is a work vector of length d. It fails only when the
// residual's product does; missing constants give a Bound of kind none.
func (r *fpRun) aidBound(w, v, rhs, tmp backend.Vector) (Bound, error) {
	none := func(note string) (Bound, error) {
		return Bound{Kind: BoundNone, Value: math.Inf(1), Note: note}, nil
	}
	fc, ok := r.p.(bilevel.FixedPointConstanter)
	if !ok {
		return none("the problem does not implement bilevel.FixedPointConstanter")
	}
	if r.res.InnerIters == 0 {
		return none("no fixed-point step (T = 0): ‖w_0 − w(λ)‖ is not bounded")
	}
	c, err := fc.FixedPointConstants()
	if err != nil {
		return none("fixed-point constants: " + err.Error())
	}
	kn, err := fc.HyperJacNorm(w)
	if err != nil {
		return none("‖∂_λΦ(w)‖: " + err.Error())
	}
	kind, note := kindOf(map[string]bilevel.Constant{"q": c.Q, "L_E1": c.LE1, "L_E2": c.LE2, "ν1": c.NuW, "ν2": c.NuL, "‖∂_λΦ‖": kn})
	if kind == BoundNone {
		return none(note)
	}
	if !(c.Q.Value < 1) {
		return none(fmt.Sprintf("q = %v is not below 1", c.Q.Value))
	}
	// r = ∇_wE(ŵ) − (v̂ − Ĵᵀv̂); the time counts in Time.Cross.
	if err := r.jacTransVec(tmp, v); err != nil {
		return Bound{}, r.fail("bound", -1, err)
	}
	r.b.Axpy(-1, v, tmp)
	r.b.Axpy(1, rhs, tmp)
	resid, fNorm := r.b.Nrm2(tmp), r.b.Nrm2(rhs)
	if err := r.check("bound", -1); err != nil {
		return Bound{}, err
	}
	q, le1, le2, nu1, nu2, k := c.Q.Value, c.LE1.Value, c.LE2.Value, c.NuW.Value, c.NuL.Value, kn.Value
	s := 1 - q
	delta := q * r.res.InnerResidual / s
	if c.Diameter.Kind >= bilevel.Bound && c.Diameter.Value >= 0 && c.Diameter.Value < delta {
		delta = c.Diameter.Value
	}
	vNorm := r.b.Nrm2(v)
	// V ≥ ‖v*‖, and V₀, its value at Δ = 0.
	vStar := (fNorm + le1*delta) / s
	if den := 1 - nu1*delta/s; den > 0 {
		vStar = math.Min(vStar, (vNorm+(resid+le1*delta)/s)/den)
	}
	v0 := math.Min(fNorm, vNorm*s+resid) / s
	cv := k*nu1/s + nu2
	b := Bound{Kind: kind, Note: note, Eps: delta, Residual: resid, CrossNorm: k, OuterGradNorm: fNorm}
	b.Linear = k * resid / s
	b.Inner = (le2+k*le1/s)*delta + cv*delta*v0
	b.InnerSquared = cv * delta * math.Max(vStar-v0, 0)
	b.Value = b.Linear + b.Inner + b.InnerSquared
	if !finite(b.Value) {
		return none(fmt.Sprintf("the bound is not finite (Δ = %v, ‖r‖ = %v)", delta, resid))
	}
	return b, nil
}

// noFixedPointBound is the Bound of a fixed-point estimate without one.
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
