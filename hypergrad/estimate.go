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
	// Remainder is the a posteriori bound (see Bound) of the corrected
	// hypergradient ĥ⁺, evaluated at (w⁺, q⁺): ‖ĥ⁺ − ∇f(λ)‖ ≤
	// Remainder.Value. Value + Remainder.Value is then a bound on
	// ‖ĥ − ∇f(λ)‖ of Remainder's kind (see RefinedBound); AID with
	// ErrorEstimate reports it as Result.Bound where it is the smaller.
	Remainder Bound
	// Step is ‖w⁺ − ŵ‖, the Newton correction of the inner iterate
	// (≈ ‖ŵ − w*‖), and AdjointStep ‖q⁺ − q̂‖, that of the adjoint.
	Step, AdjointStep float64
	// NewtonSteps is the number of Newton steps taken and Rounds the
	// number of correction rounds (see EstimateError).
	NewtonSteps, Rounds int
	// Iters is the conjugate-gradient iterations of all its solves.
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

// estimateNewtonSteps caps the Newton corrections of EstimateError, and
// estimateNewtonGain is the reduction of ‖∇_w g‖ at which they stop: a step
// that reduces it by less (far from w*, where the Hessian changes along the
// step) is followed by another. With g quadratic the first step reaches the
// solve's tolerance estimateTol ≪ estimateNewtonGain and is the only one;
// near w* Newton's quadratic convergence makes one step enough too.
const (
	estimateNewtonSteps = 5
	estimateNewtonGain  = 1e-2
	estimateHalvings    = 5
)

// estimateIters returns the iteration cap of each estimate solve: 4K + 200
// for an estimate whose own linear solve made K iterations, clamped to
// [200, 4000]: a bound on every loop, proportional to the work AID itself
// put into its linear solve.
func estimateIters(k int) int {
	return min(max(4*k+200, 200), 4000)
}

// EstimateError returns an error estimate of the AID hypergradient res (a
// Result of AID on p, with its W, V and Hypergradient) by a Newton
// correction of the inner iterate and one correction of the adjoint:
//
//	δw = A(w)⁻¹∇_w g(w),  w ← w − δw  (from w = ŵ; see below),  w⁺ = w,
//	δq = A(w⁺)⁻¹(∇_wE(w⁺) − A(w⁺) q̂),          q⁺ = q̂ + δq,
//	ĥ⁺ = ∇_λE(w⁺) − B(w⁺)ᵀq⁺,                estimate = ‖ĥ⁺ − ĥ‖,
//
// with ŵ = res.W, q̂ = res.V and ĥ = res.Hypergradient, every system solved
// by conjugate gradients from zero (krylov.CG on the problem's HessVec)
// within estimateIters(res.LinearIters) iterations. The first round solves
// each system to the relative residual 1e-3. Its Newton step is one step
// where that reduces ‖∇_w g‖ by 100 or more (g quadratic in w, or ŵ near
// w*); else steps repeat, up to five, until one does; a step that does not
// reduce ‖∇_w g‖ is halved (up to five times) and, if none of its halves
// does, not taken (far from w*, where the Hessian changes along the step).
//
// Each round also bounds the error of ĥ⁺ with the a posteriori bound at
// (w⁺, q⁺) (ErrorEstimate.Remainder), which makes Value + Remainder.Value a
// bound on the error of ĥ (RefinedBound), certified where the problem's
// constants are. Where the remainder exceeds the estimate, later rounds (at
// most four in all) continue both corrections from (w⁺, q⁺) with
// tolerances that aim at a remainder of a quarter of the estimate: the
// remainder's ε̂ terms scale with ‖∇_w g(w⁺)‖ and its residual term with
// ‖r⁺‖, so each tolerance is the current value times (Value/4)/term,
// floored at 1e-13 relative. The rounds stop when the remainder is at most
// the estimate, or no longer halves (a rounding floor); a round whose
// estimate plus remainder is not smaller than the previous round's is not
// kept (Value, Correction and Remainder are those of the best round; Step
// and AdjointStep those of the last).
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
// Cost: per Newton step one Linearize, the products of its solve and one
// inner gradient per trial step length; per round one Linearize, the
// products of the adjoint solve plus two (A(w⁺)q before and after), one
// ∇_wE, one ∇_λE, one cross product and one ‖B(w⁺)‖; plus the inner
// gradient at ŵ. Everything is counted in ErrorEstimate.Counts; res is not
// modified. With g quadratic and one round: two inner gradients, two
// Linearize, the solves' products plus two. The problem's linearization
// point is left at w⁺.
//
// The formula is the implicit-function hypergradient ∇f = ∇_λE − Bᵀq,
// A q = ∇_wE at w* (package bilevel; Grazzi et al. 2020, Ehrhardt & Roberts
// 2024) evaluated after Newton steps on each of its two equations; the
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
	w0, err := r.upload("W", res.W, d) // ŵ, for ‖w⁺ − ŵ‖
	if err != nil {
		return est, err
	}
	q0, err := r.upload("V", res.V, d) // q̂, for ‖q⁺ − q̂‖
	if err != nil {
		return est, err
	}
	c := &estimateCorrection{w: w, q: q, maxIter: estimateIters(res.LinearIters)}
	if err := r.vecsN(d, &c.g, &c.step, &c.rhs, &c.ge); err != nil {
		return est, err
	}
	if err := r.vecsN(h, &c.hp, &c.ch); err != nil {
		return est, err
	}
	if err := r.innerGrad(c.g, w); err != nil {
		return est, r.fail("estimate", -1, err)
	}
	c.gradNorm = r.b.Nrm2(c.g)
	if err := r.check("estimate", -1); err != nil {
		return est, err
	}

	// Round 0: Newton steps to the relative tolerance estimateTol, then the
	// adjoint correction to the same; later rounds (at most
	// estimateRounds − 1) tighten both where the remainder exceeds the
	// estimate, aiming at a remainder of a quarter of it.
	var corr []float64
	var rem Bound
	tolIn, tolLin := estimateTol*c.gradNorm, -1.0
	for round := 0; round < estimateRounds; round++ {
		if tolIn >= 0 {
			if err := r.newtonCorrection(c, tolIn); err != nil {
				return est, err
			}
		}
		if err := r.adjointCorrection(c, tolLin); err != nil {
			return est, err
		}
		hplus := r.download(c.hp)
		if err := r.check("estimate", -1); err != nil {
			return est, err
		}
		next := make([]float64, h)
		var s float64
		for i, x := range hplus {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return est, r.fail("estimate", -1, fmt.Errorf("%w: corrected hypergradient[%d] = %v", ErrNonFinite, i, x))
			}
			next[i] = x - res.Hypergradient[i]
			s += next[i] * next[i]
		}
		prev := rem
		value := math.Sqrt(s)
		est.Rounds = round + 1
		if round > 0 && !(value+c.remainder.Value < est.Value+rem.Value) {
			break // no tighter than the previous round: keep that one
		}
		est.Value, rem, corr = value, c.remainder, next
		if rem.Kind == BoundNone || !(rem.Value > est.Value) || (round > 0 && !(rem.Value < 0.5*prev.Value)) {
			break
		}
		// Tolerances of the next round: the remainder's inner terms scale
		// with ‖∇_w g(w⁺)‖ (to first order), its linear term with ‖r⁺‖.
		goal := 0.25 * est.Value
		tolIn, tolLin = -1, -1
		if in := rem.Inner + rem.InnerSquared; in > goal {
			tolIn = math.Max(c.gradNorm*goal/in, estimateFloor*c.gradNorm)
		}
		if rem.Linear > goal {
			tolLin = math.Max(rem.Residual*goal/rem.Linear, estimateFloor*rem.OuterGradNorm)
		}
	}
	r.b.Axpy(-1, w, w0)
	r.b.Axpy(-1, q, q0)
	est.Step, est.AdjointStep = r.b.Nrm2(w0), r.b.Nrm2(q0) // ‖ŵ − w⁺‖, ‖q̂ − q⁺‖
	if err := r.check("estimate", -1); err != nil {
		return est, err
	}
	est.Kind, est.Correction, est.Remainder = BoundEstimate, corr, rem
	est.Iters, est.NewtonSteps = c.iters, c.newtonSteps
	if len(c.capped) > 0 {
		est.Note = fmt.Sprintf("the %v solve stopped at its cap of %d iterations before its tolerance", c.capped, c.maxIter)
	}
	return est, nil
}

// estimateRounds caps the rounds of EstimateError, and estimateFloor is the
// smallest relative tolerance its later rounds ask of a solve (below it,
// conjugate gradients stagnate at their rounding floor).
const (
	estimateRounds = 4
	estimateFloor  = 1e-13
)

// estimateCorrection is the state of EstimateError's corrections: the
// current (w⁺, q⁺), ∇_w g(w⁺) in g with its norm, work vectors, and the
// counts.
type estimateCorrection struct {
	w, q, g, step, rhs, ge backend.Vector
	hp, ch                 backend.Vector // ĥ⁺ and B(w⁺)ᵀq⁺ (len h)
	gradNorm               float64
	maxIter, iters         int
	newtonSteps            int
	capped                 []string
	remainder              Bound
}

// correctionSolve sets c.step ← A⁻¹rhs by conjugate gradients from 0 to
// the absolute residual tol (at most c.maxIter iterations), adds their
// iterations to c.iters and names what in c.capped when the cap stopped them.
func (r *run) correctionSolve(c *estimateCorrection, rhs backend.Vector, tol float64, what string) error {
	r.b.Fill(c.step, 0)
	sol, err := r.estimateSolve(c.step, rhs, tol, c.maxIter)
	if err != nil {
		return err
	}
	c.iters += sol.Iterations
	if sol.Status == krylov.IterationLimit {
		c.capped = append(c.capped, what)
	}
	return nil
}

// newtonCorrection takes Newton steps w ← w − α A(w)⁻¹∇_w g(w), each
// solved by conjugate gradients to the absolute residual tol, at most
// estimateNewtonSteps, until ‖∇_w g‖ falls to 10·tol or a step reduces it by
// estimateNewtonGain. The step length α is 1, or, where the full step does
// not reduce ‖∇_w g‖ (far from w*, where the Hessian changes along the
// step), the first of 1/2, 1/4, … (estimateHalvings times) that does; a
// direction along which none does is not taken, and ends the steps.
func (r *run) newtonCorrection(c *estimateCorrection, tol float64) error {
	for j := 0; j < estimateNewtonSteps && c.gradNorm > 10*tol; j++ {
		if err := r.linearize(c.w); err != nil {
			return r.fail("estimate", -1, err)
		}
		if err := r.correctionSolve(c, c.g, tol, "Newton"); err != nil {
			return err
		}
		alpha := 1.0
		var gn float64
		for h := 0; ; h++ {
			r.b.Axpy(-alpha, c.step, c.w)
			if err := r.innerGrad(c.g, c.w); err != nil {
				return r.fail("estimate", -1, err)
			}
			gn = r.b.Nrm2(c.g)
			if err := r.check("estimate", -1); err != nil {
				return err
			}
			if gn < c.gradNorm {
				break
			}
			r.b.Axpy(alpha, c.step, c.w) // back, and try half the step
			if h == estimateHalvings {
				if err := r.innerGrad(c.g, c.w); err != nil {
					return r.fail("estimate", -1, err)
				}
				return nil
			}
			alpha /= 2
		}
		c.newtonSteps++
		prev := c.gradNorm
		c.gradNorm = gn
		if gn <= estimateNewtonGain*prev {
			return nil
		}
	}
	return nil
}

// adjointCorrection linearizes at w⁺, corrects the adjoint,
// q⁺ = q + A(w⁺)⁻¹(∇_wE(w⁺) − A(w⁺)q), by conjugate gradients to the
// absolute residual tol (negative: estimateTol relative to the right-hand
// side), assembles ĥ⁺ = ∇_λE(w⁺) − B(w⁺)ᵀq⁺ into c.hp and evaluates the
// remainder: the a posteriori bound at (w⁺, q⁺), with the residual
// A(w⁺)q⁺ − ∇_wE(w⁺) from one more product (not from the solve's
// recursion).
func (r *run) adjointCorrection(c *estimateCorrection, tol float64) error {
	if err := r.linearize(c.w); err != nil {
		return r.fail("estimate", -1, err)
	}
	if err := r.outerGrad(c.ge, c.w); err != nil {
		return r.fail("estimate", -1, err)
	}
	if err := r.hessVec(c.rhs, c.q); err != nil {
		return r.fail("estimate", -1, err)
	}
	r.b.Axpby(1, c.ge, -1, c.rhs) // rhs ← ∇_wE(w⁺) − A(w⁺)q
	if tol < 0 {
		tol = estimateTol * r.b.Nrm2(c.rhs)
	}
	if err := r.correctionSolve(c, c.rhs, tol, "adjoint"); err != nil {
		return err
	}
	r.b.Axpy(1, c.step, c.q)
	if err := r.hessVec(c.rhs, c.q); err != nil {
		return r.fail("estimate", -1, err)
	}
	r.b.Axpy(-1, c.ge, c.rhs) // A(w⁺)q⁺ − ∇_wE(w⁺)
	resid, fNorm, qNorm := r.b.Nrm2(c.rhs), r.b.Nrm2(c.ge), r.b.Nrm2(c.q)
	if err := r.crossVec(c.ch, c.q); err != nil {
		return r.fail("estimate", -1, err)
	}
	if err := r.outerHyperGrad(c.hp, c.w); err != nil {
		return r.fail("estimate", -1, err)
	}
	r.b.Axpy(-1, c.ch, c.hp)
	if err := r.check("estimate", -1); err != nil {
		return err
	}
	c.remainder = honest(posterior(r.constantsForBound(c.w), c.gradNorm, fNorm, resid, qNorm))
	return nil
}

// estimateSolve solves A x = b from x = 0 by conjugate gradients to the
// absolute residual tol within maxIter iterations (b = 0: x = 0).
func (r *run) estimateSolve(x, b backend.Vector, tol float64, maxIter int) (krylov.Solution, error) {
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
	return r.krylovSolve(krylov.CG{}, r.hessOp(x.Len()), x, b, maxIter, tol, nil, "estimate", false)
}
