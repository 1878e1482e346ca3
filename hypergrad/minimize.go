package hypergrad

import (
	"context"
	"fmt"
	"time"

	"gonum.org/v1/gonum/floats"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// Accuracy chooses the lower-level accuracy ε (‖ŵ − w*‖ ≤ ‖∇_w g(ŵ)‖/μ ≤ ε)
// and the linear-solve residual δ of each hypergradient: FixedAccuracy or
// Adaptive.
type Accuracy interface {
	start() (eps, delta float64)
}

// FixedAccuracy uses the same ε and δ throughout.
type FixedAccuracy struct{ Eps, Delta float64 }

func (a FixedAccuracy) start() (float64, float64) { return a.Eps, a.Delta }

// Adaptive is MAID's accuracy rule (Salehi, Mukherjee, Roberts & Ehrhardt
// 2023, "An adaptively inexact first-order method for bilevel
// optimization"): start from Eps0, Delta0;
// while the a posteriori bound ω of the hypergradient exceeds (1−η)‖ĥ‖
// (so ĥ might not be a descent direction), tighten ε, δ by Tighten and
// recompute (warm); after an accepted step loosen them by Loosen; when the
// line search fails, tighten and retry (at most MaxRetries times). Zero
// fields take MAID.py's defaults Eps0 = Delta0 = 0.1, Tighten 0.5, Loosen
// 1.05, except MaxRetries: 10 rather than 3, so that a failing line search
// can buy the three orders of magnitude of accuracy a flat f needs.
type Adaptive struct {
	Eps0, Delta0    float64
	Tighten, Loosen float64
	MaxRetries      int
}

func (a Adaptive) start() (float64, float64) {
	return orDefault(a.Eps0, 0.1), orDefault(a.Delta0, 0.1)
}

func orDefault(x, d float64) float64 {
	if x == 0 {
		return d
	}
	return x
}

// Minimizer minimises f(λ) = E(w*(λ), λ) by a first-order method on inexact
// hypergradients (AID with warm starts of w and of the adjoint q across
// outer steps), with the lower-level accuracy and the linear-solve residual
// set by Accuracy.
type Minimizer struct {
	Inner  InnerSolver  // nil: FISTA{}
	Linear LinearSolver // nil: ConjugateGradient{}
	Update Update       // nil: LineSearch{}
	// Accuracy of each hypergradient; nil: Adaptive{} (MAID).
	Accuracy Accuracy
	// MaxOuter caps the outer iterations (0: 1000); Budget caps the oracle
	// calls (inner gradients, Hessian-vector and cross products; 0: none).
	MaxOuter, Budget int
	// MaxInner and MaxLinear cap each solve (0: 2000 each, MAID.py's caps).
	MaxInner, MaxLinear int
	// Progress, if not nil, is called after every outer iteration; an error
	// stops the loop and is returned.
	Progress func(OuterStep) error
}

// OuterStep records one outer iteration.
type OuterStep struct {
	Iter       int
	Calls      int     // oracle calls so far
	Value      float64 // E(ŵ) at the current λ (inexact: ŵ to accuracy ε)
	GradNorm   float64 // ‖ĥ‖
	Bound      float64 // a posteriori bound on ‖ĥ − ∇f‖
	Eps, Delta float64 // accuracies used
	Step       float64 // step taken (0 if the line search failed)
	Backtracks int
	Lambda     []float64 // λ after the step
}

// OuterResult is the outcome of Minimize.
type OuterResult struct {
	Lambda  []float64
	W, V    []float64 // final inner iterate and adjoint (warm starts)
	Iters   int
	Calls   int
	Counts  Counts
	History []OuterStep
	Status  OuterStatus
	Time    time.Duration
}

// OuterStatus says why Minimize stopped.
type OuterStatus int

const (
	// OuterMaxIter: MaxOuter iterations ran.
	OuterMaxIter OuterStatus = iota
	// OuterBudget: the oracle-call budget is spent.
	OuterBudget
	// OuterStalled: the update rule made no step: the line search failed
	// even after tightening the accuracy MaxRetries times.
	OuterStalled
)

func (s OuterStatus) String() string {
	switch s {
	case OuterMaxIter:
		return "max-iterations"
	case OuterBudget:
		return "budget"
	case OuterStalled:
		return "stalled"
	}
	return fmt.Sprintf("OuterStatus(%d)", int(s))
}

// outer is the state of a Minimize run.
type outer struct {
	m        *Minimizer
	ctx      context.Context
	p        bilevel.Problem
	b        backend.Backend
	inner    InnerSolver
	linear   LinearSolver
	maxOuter int
	rule     stepper
	tol      tolerances
	start    time.Time
	lam      []float64 // the current λ; the problem stands there between iterations
	w, v     []float64 // warm starts: the last ŵ and adjoint q
	counts   Counts
	mu, lf   float64 // μ and L_f at λ, refreshed every iteration
}

// tolerances are the current lower-level accuracy ε and linear-solve
// residual δ, and the rule that moves them: constant (FixedAccuracy), or
// Adaptive's factors: ε and δ shrink together by shrink < 1 (tighten) and
// grow together by grow ≥ 1 (relax); retries caps the line search's
// tightening retries.
type tolerances struct {
	eps, delta   float64
	adaptive     bool
	shrink, grow float64
	retries      int
}

// tighten multiplies ε and δ by the adaptive rule's shrink factor; callers
// check adaptive first.
func (t *tolerances) tighten() { t.eps, t.delta = t.eps*t.shrink, t.delta*t.shrink }

// relax multiplies ε and δ by the adaptive rule's grow factor (after an
// accepted step); it does nothing under a fixed accuracy.
func (t *tolerances) relax() {
	if t.adaptive {
		t.eps, t.delta = t.eps*t.grow, t.delta*t.grow
	}
}

func (o *outer) calls() int { return o.counts.Oracles() }

func (o *outer) spent() bool { return o.m.Budget > 0 && o.calls() >= o.m.Budget }

func (o *outer) add(c Counts) {
	o.counts.InnerGrads += c.InnerGrads
	o.counts.HessVecs += c.HessVecs
	o.counts.CrossVecs += c.CrossVecs
	o.counts.OuterGrads += c.OuterGrads
	o.counts.OuterHyperGrads += c.OuterHyperGrads
	o.counts.Linearizations += c.Linearizations
	o.counts.HessDiags += c.HessDiags
}

// hypergradient estimates ∇f at the problem's current λ to accuracies
// (ε, δ), warm-starting from the last w and q.
func (o *outer) hypergradient(eps, delta float64) (*Result, error) {
	aid := &AID{Inner: o.inner, Linear: o.linear, T: o.m.MaxInner, K: o.m.MaxLinear,
		TolInner: o.mu * eps, TolLinear: delta}
	res, err := aid.Estimate(o.ctx, o.p, &Start{W0: o.w, V0: o.v})
	if res != nil {
		o.add(res.Counts)
	}
	if err != nil {
		return nil, err
	}
	o.w, o.v = res.W, res.V
	return res, nil
}

// value solves the inner problem at the current λ to accuracy ε (warm from
// w0; at most MaxInner steps) and returns E(ŵ), ‖∇_wE(ŵ)‖, the certified
// accuracy ε̂ = ‖∇_w g(ŵ)‖/μ ≥ ‖ŵ − w*‖ actually reached, and ŵ.
func (o *outer) value(w0 []float64, eps float64) (float64, float64, float64, []float64, error) {
	r, err := newRun(o.ctx, o.p, "minimize", nil)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	defer r.close()
	spec, err := o.inner.spec(r.consts)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	c, err := r.consts() // μ at this λ: ‖∇g‖ ≤ με certifies ‖ŵ − w*‖ ≤ ε here
	if err != nil {
		return 0, 0, 0, nil, err
	}
	w, err := r.upload("w", w0, o.p.InnerDim())
	if err != nil {
		return 0, 0, 0, nil, err
	}
	w, err = r.solveInner(spec, w, o.m.MaxInner, c.Mu.Value*eps, nil)
	o.add(r.res.Counts)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	g, err := r.vec(o.p.InnerDim())
	if err != nil {
		return 0, 0, 0, nil, err
	}
	if err := r.outerGrad(g, w); err != nil {
		return 0, 0, 0, nil, err
	}
	o.counts.OuterGrads++
	e, err := o.p.OuterValue(w)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	gn := r.b.Nrm2(g)
	return e, gn, r.res.InnerResidual / c.Mu.Value, r.download(w), r.b.Err()
}

// valueAt returns E(w) for a host w.
func (o *outer) valueAt(w []float64) (float64, error) {
	v, err := o.b.NewVector(len(w))
	if err != nil {
		return 0, err
	}
	defer o.b.Free(v)
	o.b.Upload(v, w)
	return o.p.OuterValue(v)
}

// descent estimates ĥ ≈ ∇f at λ (outer.hypergradient at the current ε, δ)
// and records ‖ĥ‖, its a posteriori bound ω and (ε, δ) in st. Under the
// adaptive rule (MAID) it tightens ε and δ and recomputes, warm, until ĥ is
// a certified descent direction, ω ≤ (1−η)‖ĥ‖, or no bound is available, or
// the budget is spent, or ε < 1e-14 (a finite number of tightenings, as
// shrink < 1). It returns ĥ and ‖ĥ‖.
func (o *outer) descent(st *OuterStep, eta float64) ([]float64, float64, error) {
	for {
		res, err := o.hypergradient(o.tol.eps, o.tol.delta)
		if err != nil {
			return nil, 0, err
		}
		hn := floats.Norm(res.Hypergradient, 2)
		if o.tol.adaptive && res.Bound.Kind == BoundNone {
			// Without a bound the rule cannot tell a descent direction from
			// noise, and would tighten until the budget is spent.
			return nil, 0, fmt.Errorf("%w: adaptive accuracy (MAID) needs an a posteriori error bound, and the problem gives none (%s); use FixedAccuracy",
				ErrInvalidSettings, res.Bound.Note)
		}
		if !o.tol.adaptive || res.Bound.Value <= (1-eta)*hn || o.spent() || o.tol.eps < 1e-14 {
			st.GradNorm, st.Bound, st.Eps, st.Delta = hn, res.Bound.Value, o.tol.eps, o.tol.delta
			return res.Hypergradient, hn, nil
		}
		o.tol.tighten()
	}
}

// settle ends an iteration of a rule that moves λ without evaluating f
// (FixedStep, Adam): it records st.Value = E(ŵ) for the ŵ of the
// hypergradient (at the old λ), moves the problem to the new λ = o.lam and
// relaxes (ε, δ).
func (o *outer) settle(st *OuterStep) error {
	v, err := o.valueAt(o.w)
	if err != nil {
		return err
	}
	st.Value = v
	if err := o.p.SetHyper(o.lam); err != nil {
		return err
	}
	o.tol.relax()
	return nil
}

// finish fills out with the final state and returns it with err.
func (o *outer) finish(out *OuterResult, err error) (*OuterResult, error) {
	out.Lambda, out.W, out.V = o.lam, o.w, o.v
	out.Counts, out.Calls, out.Time = o.counts, o.calls(), time.Since(o.start)
	return out, err
}

// Minimize runs the outer loop from lambda0 and leaves the problem at the
// final λ. Each iteration refreshes μ and L_f at λ and lets the update rule
// step (see Update); it stops after MaxOuter iterations, when the budget is
// spent (checked before each iteration, and after a stalled one), when the
// rule stalls, or on an error, which comes back with the result so far.
// m is not modified, so one Minimizer may serve concurrent calls.
func (m *Minimizer) Minimize(ctx context.Context, p bilevel.Problem, lambda0 []float64) (*OuterResult, error) {
	o, err := m.newOuter(ctx, p, lambda0)
	if err != nil {
		return nil, err
	}
	out := &OuterResult{Status: OuterMaxIter}
	for it := 0; it < o.maxOuter; it++ {
		if o.spent() {
			out.Status = OuterBudget
			break
		}
		c, err := p.Constants()
		if err != nil {
			return o.finish(out, err)
		}
		o.mu, o.lf = c.Mu.Value, c.Lf.Value
		step := OuterStep{Iter: it}
		moved, err := o.rule.step(o, &step)
		if err != nil {
			return o.finish(out, err)
		}
		step.Calls = o.calls()
		step.Lambda = append([]float64(nil), o.lam...)
		out.History = append(out.History, step)
		out.Iters = it + 1
		if m.Progress != nil {
			if err := m.Progress(step); err != nil {
				return o.finish(out, err)
			}
		}
		if !moved {
			out.Status = OuterStalled
			if o.spent() {
				out.Status = OuterBudget
			}
			break
		}
	}
	return o.finish(out, nil)
}

// newOuter checks m's settings, fills in the defaults (in a copy of m: the
// caller's Minimizer is not written) and moves the problem to lambda0.
func (m *Minimizer) newOuter(ctx context.Context, p bilevel.Problem, lambda0 []float64) (*outer, error) {
	mc := *m // the defaults below are the estimate's, not written back to m
	m = &mc
	o := &outer{m: m, ctx: ctx, p: p, inner: m.Inner, linear: m.Linear, start: time.Now()}
	if p == nil {
		return nil, fmt.Errorf("%w: nil problem", ErrInvalidSettings)
	}
	o.b = p.Backend()
	if o.inner == nil {
		o.inner = FISTA{}
	}
	if o.linear == nil {
		o.linear = ConjugateGradient{}
	}
	if m.MaxInner == 0 {
		m.MaxInner = 2000
	}
	if m.MaxLinear == 0 {
		m.MaxLinear = 2000
	}
	o.maxOuter = m.MaxOuter
	if o.maxOuter == 0 {
		o.maxOuter = 1000
	}
	update := m.Update
	if update == nil {
		update = LineSearch{}
	}
	acc := m.Accuracy
	if acc == nil {
		acc = Adaptive{}
	}
	h := p.HyperDim()
	if len(lambda0) != h {
		return nil, fmt.Errorf("%w: λ0 has length %d, want %d", ErrShape, len(lambda0), h)
	}
	if m.MaxOuter < 0 || m.Budget < 0 || m.MaxInner < 0 || m.MaxLinear < 0 {
		return nil, fmt.Errorf("%w: negative limits", ErrInvalidSettings)
	}
	o.lam = append([]float64(nil), lambda0...)
	if err := p.SetHyper(o.lam); err != nil {
		return nil, err
	}
	t := &o.tol
	t.eps, t.delta = acc.start()
	ad, adaptive := acc.(Adaptive)
	t.adaptive, t.shrink, t.grow, t.retries = adaptive, orDefault(ad.Tighten, 0.5), orDefault(ad.Loosen, 1.05), ad.MaxRetries
	if t.retries == 0 {
		t.retries = 10
	}
	if !(t.eps > 0 && t.delta > 0) || (adaptive && !(t.shrink > 0 && t.shrink < 1 && t.grow >= 1)) {
		return nil, fmt.Errorf("%w: accuracies ε = %v, δ = %v", ErrInvalidSettings, t.eps, t.delta)
	}
	var err error
	if o.rule, err = newStepper(update, h); err != nil {
		return nil, err
	}
	return o, nil
}
