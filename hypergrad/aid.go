package hypergrad

import (
	"context"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/floats"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// Estimator computes a hypergradient of a problem at its current λ.
type Estimator interface {
	// Estimate returns the hypergradient with its statistics. On failure it
	// returns an *Error and, where one was started, the partial Result with
	// Status Failed.
	Estimate(ctx context.Context, p bilevel.Problem, start *Start) (*Result, error)
	// String names the method, such as "aid-cg(gd)" or "itd(hb)".
	String() string
}

// AID is approximate implicit differentiation (Grazzi et al. 2020,
// Algorithm 2; Ehrhardt & Roberts 2024, §3.2):
//
//	w_t       = T steps of Inner from w_0,
//	q_k       = K steps of Linear on A(w_t) q = ∇_wE(w_t) from q_0,
//	∇̂f(λ)    = ∇_λE(w_t) − B(w_t)ᵀ q_k.
//
// With tolerances, the phases stop as soon as ‖∇_w g(w_k)‖ ≤ TolInner and
// ‖A q_i − ∇_wE‖ ≤ TolLinear; T and K are then the iteration budgets. Without
// them exactly T inner and K linear iterations run.
//
// With a Target, AID chooses the tolerances itself and iterates until the
// certified error bound meets the target (see Target); T and K are then the
// total budgets, both at least 1.
//
// T = 0 with K ≥ 1 solves the linear system at w_0 (a warm start at w*, as
// in the papers' linear-solver experiments); T = K = 0 would run nothing
// and is ErrInvalidSettings, so the zero value AID{} asks to be set.
//
// Every estimate carries the a posteriori error bound of Ehrhardt & Roberts
// (Result.Bound; one extra Hessian-vector product recomputes the residual)
// and, where the iteration counts and proven constants determine one, the a
// priori bound (Result.APriori).
type AID struct {
	Inner  InnerSolver  // nil means GradientDescent{}, or Newton{} with a Target
	Linear LinearSolver // nil means ConjugateGradient{}
	T      int          // inner iterations (≥ 0)
	K      int          // linear iterations (≥ 0; T = K = 0 is an error)

	TolInner  float64 // stop the inner solve when ‖∇_w g‖ ≤ TolInner (0: off)
	TolLinear float64 // stop the linear solve when ‖A q − ∇_wE‖ ≤ TolLinear (0: off)

	// Target, if not nil, asks for an accuracy instead of iteration counts
	// (TolInner and TolLinear must then be 0).
	Target *Target

	// ErrorEstimate, when set, adds Result.Estimate: the uncertified error
	// estimate of EstimateError at the returned (w, q), whose oracle calls
	// count in Result.Counts and whose time counts in Result.Time.Total (and
	// in Result.Estimate.Counts and Time alone). Off (the default), nothing
	// is computed. The estimate also refines the certified bound:
	// Result.Bound becomes RefinedBound(Result.Estimate) where that is
	// smaller (Bound.Refined, with the plain bound in Bound.Plain).
	ErrorEstimate bool

	Monitor Monitor // optional progress callback
}

func (a *AID) inner() InnerSolver {
	if a.Inner == nil && a.Target != nil {
		return Newton{}
	}
	if a.Inner == nil {
		return GradientDescent{}
	}
	return a.Inner
}

func (a *AID) linear() LinearSolver {
	if a.Linear == nil {
		return ConjugateGradient{}
	}
	return a.Linear
}

// String returns "aid-<linear>(<inner>)", such as "aid-cg(gd)".
func (a *AID) String() string { return "aid-" + a.linear().String() + "(" + a.inner().String() + ")" }

// aidState is the device state of an AID estimate.
type aidState struct {
	inner     innerSpec
	lin       linearSpec
	st        *innerState
	q, rhs    backend.Vector
	hg, tmpH  backend.Vector
	tmp, ap0  backend.Vector
	q0zero    bool
	cold      bool // the linear solve started from q_0 = 0
	linIters  int  // linear iterations over all rounds
	innerUsed int
	// store, when the problem has one, records the linearization at every
	// inner gradient, so that the last one (at w_t) replaces Linearize.
	store bilevel.LinearizationStore
}

// Estimate computes the AID hypergradient. See Estimator.
func (a *AID) Estimate(ctx context.Context, p bilevel.Problem, start *Start) (*Result, error) {
	r, err := newRun(ctx, p, a.String(), a.Monitor)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := r.res
	if a.T < 0 || a.K < 0 || a.TolInner < 0 || a.TolLinear < 0 || !finite(a.TolInner) || !finite(a.TolLinear) {
		return res, r.fail("setup", -1, fmt.Errorf("%w: T = %d, K = %d, TolInner = %v, TolLinear = %v",
			ErrInvalidSettings, a.T, a.K, a.TolInner, a.TolLinear))
	}
	if a.T == 0 && a.K == 0 {
		return res, r.fail("setup", -1, fmt.Errorf("%w: T = K = 0 runs no iteration: set T (inner iterations) and K (linear iterations), or K alone with a warm start Start.W0 at w*", ErrInvalidSettings))
	}
	if a.Target != nil {
		if err := a.Target.check(); err != nil {
			return res, r.fail("setup", -1, err)
		}
		if a.T == 0 || a.K == 0 {
			return res, r.fail("setup", -1, fmt.Errorf("%w: a Target needs budgets T ≥ 1 and K ≥ 1 (T = %d, K = %d)", ErrInvalidSettings, a.T, a.K))
		}
		if a.TolInner != 0 || a.TolLinear != 0 {
			return res, r.fail("setup", -1, fmt.Errorf("%w: a Target chooses the tolerances; leave TolInner and TolLinear at 0", ErrInvalidSettings))
		}
	}
	s := &aidState{}
	if s.inner, err = a.inner().spec(r.consts); err != nil {
		return res, r.fail("setup", -1, err)
	}
	if s.lin, err = a.linear().spec(r.consts); err != nil {
		return res, r.fail("setup", -1, err)
	}
	if start == nil {
		start = &Start{}
	}
	d, h := p.InnerDim(), p.HyperDim()
	w, err := r.upload("W0", start.W0, d)
	if err != nil {
		return res, err
	}
	if s.q, err = r.upload("V0", start.V0, d); err != nil {
		return res, err
	}
	s.q0zero, s.cold = start.V0 == nil, start.V0 == nil
	if err := r.vecsN(d, &s.rhs, &s.tmp, &s.ap0); err != nil {
		return res, err
	}
	if err := r.vecsN(h, &s.hg, &s.tmpH); err != nil {
		return res, err
	}
	if s.st, err = r.newInnerState(s.inner, w); err != nil {
		return res, err
	}
	if ls, ok := p.(bilevel.LinearizationStore); ok && ls.AllocSlots(1) == nil {
		s.store = ls
		defer ls.FreeSlots()
		r.rec = recording{store: ls, slots: 1}
	}
	if a.Target != nil {
		err = a.reachTarget(r, s)
	} else {
		err = a.once(r, s, a.T, a.TolInner, 0, a.K, a.TolLinear, 0)
		if err == nil {
			r.res.APriori = honest(r.aPriori(s))
		}
	}
	if err != nil {
		return res, err
	}
	res.W, res.V = r.download(s.st.w), r.download(s.q)
	if err := r.finish(s.hg); err != nil {
		return res, err
	}
	if a.Target != nil && !res.TargetMet && res.Status != Failed {
		res.Status = IterationLimit
	}
	if a.ErrorEstimate {
		if res.Estimate, err = r.errorEstimate(res); err != nil {
			return res, err
		}
		res.Bound = tighter(res.Bound, RefinedBound(res.Estimate))
	}
	return res, nil
}

// once continues the inner solve by up to t steps (tolerance tolIn, or
// tolInRel·‖∇_w g(w_0)‖), solves the linear system at the new w by up to k
// steps (tolerance tolLin, or tolLinRel·‖∇_wE(w)‖) from the current q,
// assembles the hypergradient into s.hg and evaluates the a posteriori
// bound.
//
// With a fixed t, conjugate gradients without preconditioning from q = 0
// and a problem that is a bilevel.GradHessVecer (and a LinearizationStore),
// the inner gradient at w_t, which the inner solve computes for its
// residual, is computed together with CG's first product A·p_0 =
// A·∇_wE(w_t) (∇_wE, on the outer data, first): on the CPU one pass over
// the inner data that costs 1.3–1.45 of one instead of two passes, with the
// same bits. That pass counts in Time.Inner.
func (a *AID) once(r *run, s *aidState, t int, tolIn, tolInRel float64, k int, tolLin, tolLinRel float64) error {
	before := s.st.iters
	var fuse *fusedLast
	gh, ok := r.p.(bilevel.GradHessVecer)
	if ok && s.store != nil && s.q0zero && k >= 1 && tolIn == 0 && tolInRel == 0 &&
		s.lin.kind == linCG && !s.lin.jacobi && s.inner.kind != innerNewton {
		fuse = &fusedLast{gh: gh, rhs: s.rhs, ap0: s.ap0}
	}
	if err := r.continueInner(s.inner, s.st, t, tolIn, tolInRel, nil, fuse); err != nil {
		return err
	}
	fused := fuse != nil && fuse.done
	s.innerUsed += s.st.iters - before
	r.res.InnerIters = s.st.iters
	w := s.st.w

	t0 := time.Now()
	if s.store != nil {
		// The final inner gradient was taken at w and recorded its
		// linearization: no pass over the data.
		if err := s.store.UseSlot(0); err != nil {
			return r.fail("linear", -1, err)
		}
	} else if err := r.linearize(w); err != nil {
		return r.fail("linear", -1, err)
	}
	var ap0 backend.Vector // A·∇_wE(w_t), when computed with the inner gradient
	if fused {
		ap0 = s.ap0
	} else if err := r.outerGrad(s.rhs, w); err != nil {
		return r.fail("linear", -1, err)
	}
	if tolLinRel > 0 {
		tolLin = tolLinRel * r.b.Nrm2(s.rhs)
	}
	q, residOK, err := r.solveLinear(s.lin, s.q, s.rhs, s.q0zero, k, tolLin, s.tmp, ap0)
	if err != nil {
		return err
	}
	s.q, s.q0zero = q, false
	s.linIters += r.res.LinearIters
	r.res.LinearIters = s.linIters
	r.res.Time.Linear += r.since(t0)

	t0 = time.Now()
	if err := r.crossVec(s.hg, s.q); err != nil {
		return r.fail("cross", -1, err)
	}
	if err := r.outerHyperGrad(s.tmpH, w); err != nil {
		return r.fail("cross", -1, err)
	}
	r.b.Axpby(1, s.tmpH, -1, s.hg) // hg ← ∇_λE − Bᵀq
	if err := r.check("cross", -1); err != nil {
		return err
	}
	r.res.Time.Cross += r.since(t0)

	// A posteriori bound, with the residual recomputed from products of q:
	// r = A q − ∇_wE, left in tmp by the linear solver where it could
	// (solveLinear), else computed here.
	t0 = time.Now()
	if !residOK {
		if err := r.hessVec(s.tmp, s.q); err != nil {
			return r.fail("bound", -1, err)
		}
		r.b.Axpy(-1, s.rhs, s.tmp)
	}
	resid := r.b.Nrm2(s.tmp)
	fNorm := r.b.Nrm2(s.rhs)
	qNorm := r.b.Nrm2(s.q)
	if err := r.check("bound", -1); err != nil {
		return err
	}
	r.res.LinearResidual = resid
	r.res.Bound = honest(posterior(r.constantsForBound(w), r.res.InnerResidual, fNorm, resid, qNorm))
	r.res.Time.Linear += r.since(t0)
	return nil
}

// honest returns b, or, when its value is NaN or +Inf (a term Inf·0 or an
// overflow: μ so small that ε = ‖∇g‖/μ overflows), a bound of kind none:
// neither is a certificate.
func honest(b Bound) Bound {
	if b.Kind == BoundNone || (!math.IsNaN(b.Value) && !(b.Value < 0) && !math.IsInf(b.Value, 1)) {
		return b
	}
	note := fmt.Sprintf("the bound evaluates to %v: a constant is at the limit of floating point (raise λ)", b.Value)
	if b.Eps != 0 && !math.IsNaN(b.Eps) {
		note = fmt.Sprintf("the bound evaluates to %v (ε = ‖∇g‖/μ = %.3g: μ is at the limit of floating point; raise λ)", b.Value, b.Eps)
	}
	return Bound{Kind: BoundNone, Value: math.Inf(1), Note: note, Eps: b.Eps, Residual: b.Residual,
		CrossNorm: b.CrossNorm, OuterGradNorm: b.OuterGradNorm}
}

// aPriori evaluates the a priori bound of a single-round estimate from the
// iteration counts (cold linear start only).
func (r *run) aPriori(s *aidState) Bound {
	k := r.constantsForBound(s.st.w)
	c := k.c
	if k.kind != BoundNone {
		kind, note := kindOf(map[string]bilevel.Constant{"μ": c.Mu, "L": c.L, "L_f": c.Lf, "L_A": c.LA, "L_B": c.LB, "L_Eλ": c.LEl, "‖B‖": k.bnorm})
		k.kind, k.note = kind, note
	}
	fNorm := r.res.Bound.OuterGradNorm
	eps := innerRate(s.inner, c)(r.res.InnerIters) * s.st.grad0 / c.Mu.Value
	resid := math.NaN()
	if s.cold {
		resid = linearRate(s.lin, c)(r.res.LinearIters) * fNorm
	}
	b := prior(k, eps, resid, fNorm)
	if !s.cold && b.Kind == BoundNone {
		b.Note = "warm-started linear solve: no a priori residual"
	}
	return b
}

// Target is an accuracy asked of AID: the estimate ĥ must satisfy
// ‖ĥ − ∇f(λ)‖ ≤ max(Abs, Rel·‖∇f(λ)‖), as certified by the a posteriori bound
// B: it is met when B ≤ Abs, or B ≤ Rel·(‖ĥ‖ − B) (since ‖∇f‖ ≥ ‖ĥ‖ − B).
//
// The estimator splits the target τ equally between the lower-level and the
// linear-solve terms of the bound: it asks the linear solve for
// ‖r‖ ≤ τμ/(2‖B‖), and the inner solve for the largest ε̂ = ‖∇_w g‖/μ whose
// terms in the bound, evaluated by the bound's own formula with that ‖r‖ and
// the current ‖q̂‖, are at most τ/2 (each tolerance then costs a
// logarithmic number of iterations, so an equal split is within a few
// iterations of the best split). A first round to 1 % of the initial
// gradients measures ‖ĥ‖ and the bound's parts; later rounds continue both
// solves warm from where they stopped, with tolerances 10 % tighter than
// computed to absorb the drift, until the bound meets the target or the
// budgets T and K are spent (Status IterationLimit, TargetMet false). A
// bound of kind none cannot meet a target; one of kind estimate can, and
// says so in Result.Bound.Kind. A target below what rounding allows ends
// early, as soon as a round no longer shrinks the bound by 10 %.
//
// Without an inner solver (AID.Inner nil) a target uses Newton: near w* its
// steps reduce ‖∇_w g‖ superlinearly, at the rate of conjugate gradients on
// the actual Hessian rather than the worst-case rate of first-order
// solvers under the global constants, and the bound's ε̂ term, which
// overestimates the error first-order solvers leave along the slow modes,
// then costs little. A target never uses the refined bound of
// AID.ErrorEstimate: that bound's remainder is the a posteriori bound at the
// corrected point, so certifying τ with it needs the corrected point as
// accurate as the plain bound needs ŵ, plus the error estimate's solves.
type Target struct {
	Abs float64 // absolute accuracy (0: none)
	Rel float64 // relative accuracy (0: none)
}

func (t *Target) check() error {
	if t.Abs < 0 || t.Rel < 0 || !finite(t.Abs) || !finite(t.Rel) || (t.Abs == 0 && t.Rel == 0) {
		return fmt.Errorf("%w: target Abs = %v, Rel = %v (want ≥ 0, not both 0)", ErrInvalidSettings, t.Abs, t.Rel)
	}
	return nil
}

// tau returns the absolute accuracy the target asks for given ‖ĥ‖, and
// whether the bound meets it.
func (t *Target) tau(hnorm, bound float64) (float64, bool) {
	tau := t.Abs
	if t.Rel > 0 {
		tau = math.Max(tau, t.Rel*hnorm/(1+t.Rel))
	}
	met := bound <= t.Abs || (t.Rel > 0 && bound <= t.Rel*(hnorm-bound))
	return tau, met
}

// targetEps returns the largest ε̂ ≤ eps0 (found by bisection in log ε̂,
// within a factor 1.01) at which the ε̂ terms of the a posteriori bound
// (posterior, with ‖∇_wE‖ = fNorm, residual resid and ‖q̂‖ = qNorm) are at
// most half; they grow with ε̂. At least 1e-300.
func targetEps(k boundConstants, fNorm, resid, qNorm, eps0, half float64) float64 {
	mu := k.c.Mu.Value
	inner := func(eps float64) float64 {
		b := posterior(k, eps*mu, fNorm, resid, qNorm)
		return b.Inner + b.InnerSquared
	}
	hi := eps0
	if !(hi > 0) || math.IsInf(hi, 0) {
		hi = 1
	}
	lo := hi
	for i := 0; i < 700 && inner(lo) > half && lo > 1e-300; i++ {
		hi, lo = lo, lo/10
	}
	if !(inner(lo) <= half) {
		return 1e-300
	}
	if lo == hi {
		return lo
	}
	for i := 0; i < 100 && hi > 1.01*lo; i++ {
		mid := math.Sqrt(lo * hi)
		if inner(mid) <= half {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// maxRounds caps the target loop; each round tightens the tolerances.
const maxRounds = 40

func (a *AID) reachTarget(r *run, s *aidState) error {
	res := r.res
	res.Target = a.Target
	c, err := r.consts()
	if err != nil {
		return r.fail("setup", -1, err)
	}
	mu := c.Mu.Value
	// Round 0 reduces both residuals by 100 to measure ‖ĥ‖ and the bound's
	// coefficients; later rounds use the tolerances the target implies.
	var tolIn, tolLin float64
	prev := math.Inf(1)
	for round := 0; round < maxRounds; round++ {
		tIn, kLin := a.T-s.innerUsed, a.K-s.linIters
		var err error
		if round == 0 {
			err = a.once(r, s, tIn, 0, 1e-2, kLin, 0, 1e-2)
		} else {
			err = a.once(r, s, tIn, tolIn, 0, kLin, tolLin, 0)
		}
		if err != nil {
			return err
		}
		res.Rounds = round + 1
		hg := r.download(s.hg)
		hnorm := floats.Norm(hg, 2)
		b := res.Bound
		if b.Kind == BoundNone {
			return r.fail("target", -1, fmt.Errorf("%w: no error bound for this problem (%s)", ErrNoBound, b.Note))
		}
		tau, met := a.Target.tau(hnorm, b.Value)
		if met {
			res.TargetMet, res.TargetStop = true, TargetReached
			return nil
		}
		if s.innerUsed >= a.T && s.linIters >= a.K {
			res.TargetStop = TargetBudget
			return nil // budgets spent: IterationLimit
		}
		if round >= 2 && b.Value > 0.9*prev {
			res.TargetStop = TargetFloor
			return nil // no progress: the solves are at their rounding floors
		}
		prev = b.Value
		// Tolerances for the next round: the linear one from the residual
		// term, the inner one as the largest ε̂ whose ε̂ terms, evaluated by
		// the bound's own formula with the next residual and the current
		// ‖q̂‖, are at most τ/2 (with a 10 % margin).
		half := 0.45 * tau
		tolLin = res.LinearResidual
		if cDelta := b.CrossNorm / mu; cDelta > 0 && b.Linear > half {
			tolLin = math.Min(half/cDelta, 0.5*res.LinearResidual)
		}
		tolIn = res.InnerResidual // the lower level already suffices
		if b.Inner+b.InnerSquared > half {
			eps := targetEps(r.constantsForBound(s.st.w), b.OuterGradNorm, tolLin, r.b.Nrm2(s.q), b.Eps, half)
			tolIn = math.Min(mu*eps, 0.5*res.InnerResidual)
		}
	}
	res.TargetStop = TargetRounds
	return nil
}
