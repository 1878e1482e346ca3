package hypergrad

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// ErrorEstimate is a realistic, uncertified estimate of the error
// ‖ĥ − ∇f(λ)‖ of an AID hypergradient ĥ, computed by EstimateError: the
// norm of a first-order correction of ĥ (see EstimateError for the formula
// and what it neglects). Unlike Result.Bound it may fall below the true
// error; it is meant to be close to it, not above it.
type ErrorEstimate struct {
	// Value is the estimate ‖ĥ⁺ − ĥ‖ of ‖ĥ − ∇f(λ)‖ (+Inf with Kind none).
	Value float64
	// Kind is BoundEstimate when Value was computed, BoundNone otherwise
	// (Note says why): it is never certified.
	Kind BoundKind
	// Correction is ĥ⁺ − ĥ (len h): ĥ + Correction is the corrected
	// hypergradient ĥ⁺, itself accurate to second order.
	Correction []float64
	// Step is ‖δw‖, the Newton correction of the inner iterate
	// (≈ ‖ŵ − w*‖), and AdjointStep ‖δq‖, that of the adjoint.
	Step, AdjointStep float64
	// Iters is the conjugate-gradient iterations of the two solves together.
	Iters int
	// Counts and Time are the oracle calls and wall time of the estimate
	// alone (EstimateError adds nothing to the Result it reads).
	Counts Counts
	Time   time.Duration
	// Note says why there is no estimate, or that a solve stopped at its
	// iteration cap before its tolerance.
	Note string
}

// estimateTol is the relative residual to which EstimateError solves its two
// systems. A solve to relative residual τ leaves a relative error of at most
// κτ in the correction it computes (‖A⁻¹r‖ ≤ τ‖b‖/μ ≤ κτ‖A⁻¹b‖), √κ·τ in the
// A-norm that conjugate gradients minimise; the estimate inherits that error
// to first order. τ = 1e-3 keeps it below 1 in the A-norm up to κ = 10⁶ and
// in the 2-norm up to κ = 10³, at a cost logarithmic in 1/τ; beyond, the
// estimate falls short of the error by the part of the correction along the
// smallest eigenvalues of A that the solve has not yet resolved.
const estimateTol = 1e-3

// estimateIters returns the iteration cap of each estimate solve: 4K + 200
// for an estimate whose own linear solve made K iterations, clamped to
// [200, 4000]: a bound on every loop, proportional to the work AID itself
// put into its linear solve.
func estimateIters(k int) int {
	return min(max(4*k+200, 200), 4000)
}

// EstimateError returns an error estimate of the AID hypergradient res (a
// Result of AID on p, with its W, V and Hypergradient) by one Newton
// correction of the inner iterate and one correction of the adjoint:
//
//	δw = A(ŵ)⁻¹∇_w g(ŵ),                     w⁺ = ŵ − δw,
//	δq = A(w⁺)⁻¹(∇_wE(w⁺) − A(w⁺) q̂),          q⁺ = q̂ + δq,
//	ĥ⁺ = ∇_λE(w⁺) − B(w⁺)ᵀq⁺,                estimate = ‖ĥ⁺ − ĥ‖,
//
// with ŵ = res.W, q̂ = res.V and ĥ = res.Hypergradient, both systems solved
// by conjugate gradients from zero (krylov.CG on the problem's HessVec) to
// the relative residual 1e-3 within estimateIters(res.LinearIters)
// iterations.
//
// Derivation. Write H(w, q) = ∇_λE(w) − B(w)ᵀq, so that ĥ = H(ŵ, q̂),
// ĥ⁺ = H(w⁺, q⁺) and ∇f = H(w*, q*) with q* = A(w*)⁻¹∇_wE(w*); H is
// Lipschitz in w (constant L_Eλ + L_B‖q‖) and in q (constant ‖B‖). Let
// e_w = ŵ − w* and τ the relative residual of the solves (a relative error
// of at most κτ in each correction). Newton's step from ŵ gives
// w⁺ − w* = O(L_A‖e_w‖²/μ) + O(κτ‖e_w‖), the first-order term −e_w being
// removed exactly. The adjoint correction is computed at w⁺, so
// q⁺ − q* = [q⁺ − A(w⁺)⁻¹∇_wE(w⁺)] + [A(w⁺)⁻¹∇_wE(w⁺) − q*]
// = O(κτ‖δq‖) + O(‖w⁺ − w*‖). Hence
//
//	ĥ⁺ − ∇f = O(‖e_w‖² + κτ(‖e_w‖ + ‖δq‖)),
//
// and ĥ − ∇f = (ĥ − ĥ⁺) + (ĥ⁺ − ∇f) makes ‖ĥ⁺ − ĥ‖ the error up to those
// terms: every term of ĥ − ∇f of first order in e_w and in q̂ − q* is kept
// (the cross term ‖δq‖·‖e_w‖ of an adjoint corrected at ŵ does not arise, as
// A, B and ∇E are all taken at w⁺); what is dropped is second order in e_w
// and κτ times the first-order terms. For a quadratic g, A does not depend
// on w, the Newton step is exact and the estimate is accurate to the solves'
// tolerance. The estimate is not certified (Kind BoundEstimate): it can be
// below the true error, by the dropped terms, where κτ is not small, or where
// the true error is at the rounding floor of ĥ.
//
// Cost: one inner gradient, two Linearize, the products of the two solves
// plus one (A(w⁺)q̂), one ∇_wE, one ∇_λE and one cross product, counted in
// ErrorEstimate.Counts; res is not modified. The problem's linearization
// point is left at w⁺.
//
// The formula is the implicit-function hypergradient ∇f = ∇_λE − Bᵀq,
// A q = ∇_wE at w* (package bilevel; Grazzi et al. 2020, Ehrhardt & Roberts
// 2024) evaluated after one Newton step on each of its two equations; the
// invariant is ĥ⁺ = ĥ + Correction with Value = ‖Correction‖.
//
// A result without an adjoint (ITD), a problem that is not a
// bilevel.Problem (fixed-point problems), and a failed result give an
// estimate of kind none (Value +Inf) with a Note, and no error; a result whose
// dimensions do not match p is ErrShape, and a failed solve (A not positive
// definite, a non-finite value, a canceled context) an *Error of phase
// "estimate".
func EstimateError(ctx context.Context, p bilevel.Hyperparameters, res *Result) (ErrorEstimate, error) {
	none := func(note string) ErrorEstimate { return ErrorEstimate{Value: math.Inf(1), Kind: BoundNone, Note: note} }
	if res == nil {
		return none("no result"), nil
	}
	op, ok := p.(bilevel.Problem)
	if !ok || p == nil {
		return none("not an optimisation problem (bilevel.Problem): no Hessian-vector products"), nil
	}
	if res.V == nil {
		return none("the result has no adjoint (only AID results have one)"), nil
	}
	if res.Status == Failed || res.W == nil || res.Hypergradient == nil {
		return none("the result is incomplete (failed estimate)"), nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	r, err := newRun(ctx, op, "estimate", nil)
	if err != nil {
		return none("setup failed"), err
	}
	defer r.close()
	return r.errorEstimate(res)
}

// errorEstimate runs estimateError on res within the run r, with the oracle
// calls it adds to r's counts and its wall time in ErrorEstimate.Counts and
// Time; on an error the estimate is of kind none with the error as Note.
// AID calls it on its own run (AID.ErrorEstimate), so that the calls also
// count in the Result's Counts and the time in its Time.Total.
func (r *run) errorEstimate(res *Result) (ErrorEstimate, error) {
	before, t0 := r.res.Counts, time.Now()
	est, err := r.estimateError(res)
	est.Counts = r.res.Counts.minus(before)
	est.Time = r.since(t0)
	if err != nil {
		est.Kind, est.Value, est.Correction = BoundNone, math.Inf(1), nil
		est.Note = err.Error()
	}
	return est, err
}

// minus returns the counts c − b, field by field.
func (c Counts) minus(b Counts) Counts {
	return Counts{
		InnerGrads: c.InnerGrads - b.InnerGrads, HessVecs: c.HessVecs - b.HessVecs, CrossVecs: c.CrossVecs - b.CrossVecs,
		OuterGrads: c.OuterGrads - b.OuterGrads, OuterHyperGrads: c.OuterHyperGrads - b.OuterHyperGrads,
		Linearizations: c.Linearizations - b.Linearizations, HessDiags: c.HessDiags - b.HessDiags,
		Maps: c.Maps - b.Maps, JacVecs: c.JacVecs - b.JacVecs, JacTransVecs: c.JacTransVecs - b.JacTransVecs,
		HyperJacVecs: c.HyperJacVecs - b.HyperJacVecs, HyperJacTransVecs: c.HyperJacTransVecs - b.HyperJacTransVecs,
	}
}

// estimateError computes the estimate of EstimateError on the run's problem.
func (r *run) estimateError(res *Result) (ErrorEstimate, error) {
	var est ErrorEstimate
	d, h := r.p.InnerDim(), r.p.HyperDim()
	if len(res.Hypergradient) != h {
		return est, r.fail("setup", -1, fmt.Errorf("%w: Hypergradient has length %d, want %d", ErrShape, len(res.Hypergradient), h))
	}
	w, err := r.upload("W", res.W, d)
	if err != nil {
		return est, err
	}
	q, err := r.upload("V", res.V, d)
	if err != nil {
		return est, err
	}
	var g, step, rhs, hp, ch backend.Vector
	if err := r.vecsN(d, &g, &step, &rhs); err != nil {
		return est, err
	}
	if err := r.vecsN(h, &hp, &ch); err != nil {
		return est, err
	}
	maxIter := estimateIters(res.LinearIters)
	var capped []string

	// Newton correction: w⁺ = ŵ − A(ŵ)⁻¹∇_w g(ŵ).
	if err := r.innerGrad(g, w); err != nil {
		return est, r.fail("estimate", -1, err)
	}
	if err := r.linearize(w); err != nil {
		return est, r.fail("estimate", -1, err)
	}
	sol, err := r.estimateSolve(step, g, maxIter)
	if err != nil {
		return est, err
	}
	est.Iters += sol.Iterations
	if sol.Status == krylov.IterationLimit {
		capped = append(capped, "Newton")
	}
	est.Step = r.b.Nrm2(step)
	r.b.Axpy(-1, step, w) // w ← w⁺

	// Adjoint correction at w⁺: q⁺ = q̂ + A(w⁺)⁻¹(∇_wE(w⁺) − A(w⁺)q̂).
	if err := r.linearize(w); err != nil {
		return est, r.fail("estimate", -1, err)
	}
	if err := r.outerGrad(rhs, w); err != nil {
		return est, r.fail("estimate", -1, err)
	}
	if err := r.hessVec(g, q); err != nil {
		return est, r.fail("estimate", -1, err)
	}
	r.b.Axpy(-1, g, rhs) // rhs ← ∇_wE(w⁺) − A(w⁺)q̂
	r.b.Fill(step, 0)
	if sol, err = r.estimateSolve(step, rhs, maxIter); err != nil {
		return est, err
	}
	est.Iters += sol.Iterations
	if sol.Status == krylov.IterationLimit {
		capped = append(capped, "adjoint")
	}
	est.AdjointStep = r.b.Nrm2(step)
	r.b.Axpy(1, step, q) // q ← q⁺

	// ĥ⁺ = ∇_λE(w⁺) − B(w⁺)ᵀq⁺.
	if err := r.crossVec(ch, q); err != nil {
		return est, r.fail("estimate", -1, err)
	}
	if err := r.outerHyperGrad(hp, w); err != nil {
		return est, r.fail("estimate", -1, err)
	}
	r.b.Axpy(-1, ch, hp)
	hplus := r.download(hp)
	if err := r.check("estimate", -1); err != nil {
		return est, err
	}
	corr := make([]float64, h)
	var s float64
	for i, x := range hplus {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return est, r.fail("estimate", -1, fmt.Errorf("%w: corrected hypergradient[%d] = %v", ErrNonFinite, i, x))
		}
		corr[i] = x - res.Hypergradient[i]
		s += corr[i] * corr[i]
	}
	est.Value, est.Kind, est.Correction = math.Sqrt(s), BoundEstimate, corr
	if len(capped) > 0 {
		est.Note = fmt.Sprintf("the %v solve stopped at its cap of %d iterations before the relative residual %g", capped, maxIter, estimateTol)
	}
	return est, nil
}

// estimateSolve solves A x = b from x = 0 by conjugate gradients to the
// relative residual estimateTol within maxIter iterations (b = 0: x = 0).
func (r *run) estimateSolve(x, b backend.Vector, maxIter int) (krylov.Solution, error) {
	nb := r.b.Nrm2(b)
	if err := r.check("estimate", -1); err != nil {
		return krylov.Solution{}, err
	}
	if !finite(nb) {
		return krylov.Solution{}, r.fail("estimate", -1, fmt.Errorf("%w: right-hand side norm %v", ErrNonFinite, nb))
	}
	if nb == 0 {
		return krylov.Solution{Status: krylov.Converged}, nil
	}
	return r.krylovSolve(krylov.CG{}, r.hessOp(x.Len()), x, b, maxIter, estimateTol*nb, nil, "estimate", false)
}
