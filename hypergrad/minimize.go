package hypergrad

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// Update is the rule of the outer loop: FixedStep, Adam or LineSearch.
type Update interface {
	name() string
}

// FixedStep is outer gradient descent λ ← λ − Step·ĥ.
type FixedStep struct{ Step float64 }

func (FixedStep) name() string { return "fixed-step" }

// Adam is Kingma & Ba's Adam on the hypergradient estimates, with the usual
// bias corrections. Zero fields take the defaults Step 1e-2, Beta1 0.9,
// Beta2 0.999, Eps 1e-8.
type Adam struct{ Step, Beta1, Beta2, Eps float64 }

func (Adam) name() string { return "adam" }

// LineSearch is the backtracking line search of MAID (Salehi, Mukherjee,
// Roberts & Ehrhardt) with inexact function
// values: the step β ρ^i (i = 0, 1, …, MaxBacktracks) is accepted when an
// upper bound on f at the new point lies below a lower bound on f at the old
// one minus sufficient decrease (η² as in MAID.py),
//
//	E(ŵ⁺) + ‖∇_wE(ŵ⁺)‖ε + L_f ε²/2 − E(ŵ) + ‖∇_wE(ŵ)‖ε ≤ −β ρ^i η² ‖ĥ‖²,
//
// from |E(ŵ) − E(w*)| ≤ ‖∇_wE(ŵ)‖ε + L_f ε²/2. After an accepted step the
// next initial step is (10/9)·β ρ^i. Zero fields take MAID.py's defaults
// Rho 0.9, Eta 1e-4, MaxBacktracks 20, except Step0: MAID.py's 0.1 suits
// its problems' scale, so 0 here means 1/‖ĥ_0‖ (a first step of unit length
// in λ), which adapts to any scale of f.
type LineSearch struct {
	Step0, Rho, Eta float64
	MaxBacktracks   int
}

func (LineSearch) name() string { return "line-search" }

// Accuracy chooses the lower-level accuracy ε (‖ŵ − w*‖ ≤ ‖∇_w g(ŵ)‖/μ ≤ ε)
// and the linear-solve residual δ of each hypergradient: FixedAccuracy or
// Adaptive.
type Accuracy interface {
	start() (eps, delta float64)
}

// FixedAccuracy uses the same ε and δ throughout.
type FixedAccuracy struct{ Eps, Delta float64 }

func (a FixedAccuracy) start() (float64, float64) { return a.Eps, a.Delta }

// Adaptive is MAID's accuracy rule (papers.md §7): start from Eps0, Delta0;
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
	// OuterStalled: the line search failed even after tightening the
	// accuracy MaxRetries times.
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
	m      *Minimizer
	ctx    context.Context
	p      bilevel.Problem
	b      backend.Backend
	inner  InnerSolver
	linear LinearSolver
	w, v   []float64
	counts Counts
	mu, lf float64
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

// Minimize runs the outer loop from lambda0 and leaves the problem at the
// final λ.
func (m *Minimizer) Minimize(ctx context.Context, p bilevel.Problem, lambda0 []float64) (*OuterResult, error) {
	start := time.Now()
	o := &outer{m: m, ctx: ctx, p: p, inner: m.Inner, linear: m.Linear}
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
	maxOuter := m.MaxOuter
	if maxOuter == 0 {
		maxOuter = 1000
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
	lam := append([]float64(nil), lambda0...)
	if err := p.SetHyper(lam); err != nil {
		return nil, err
	}
	eps, delta := acc.start()
	ad, adaptive := acc.(Adaptive)
	tighten, loosen, retries := orDefault(ad.Tighten, 0.5), orDefault(ad.Loosen, 1.05), ad.MaxRetries
	if retries == 0 {
		retries = 10
	}
	if !(eps > 0 && delta > 0) || (adaptive && !(tighten > 0 && tighten < 1 && loosen >= 1)) {
		return nil, fmt.Errorf("%w: accuracies ε = %v, δ = %v", ErrInvalidSettings, eps, delta)
	}

	ls, isLS := update.(LineSearch)
	beta := ls.Step0 // 0: 1/‖ĥ_0‖, set at the first hypergradient
	rho, eta := orDefault(ls.Rho, 0.9), orDefault(ls.Eta, 1e-4)
	maxBT := ls.MaxBacktracks
	if maxBT == 0 {
		maxBT = 20
	}
	var adamM, adamV []float64
	if _, ok := update.(Adam); ok {
		adamM, adamV = make([]float64, h), make([]float64, h)
	}

	out := &OuterResult{Status: OuterMaxIter}
	finish := func(err error) (*OuterResult, error) {
		out.Lambda, out.W, out.V = lam, o.w, o.v
		out.Counts, out.Calls, out.Time = o.counts, o.calls(), time.Since(start)
		return out, err
	}
	for it := 0; it < maxOuter; it++ {
		if o.spent() {
			out.Status = OuterBudget
			return finish(nil)
		}
		c, err := p.Constants()
		if err != nil {
			return finish(err)
		}
		o.mu, o.lf = c.Mu.Value, c.Lf.Value
		var res *Result
		accepted := false
		step := OuterStep{Iter: it}
		for try := 0; ; try++ {
			// 1. Inexact hypergradient; MAID tightens until ĥ is a
			// certified descent direction: ω ≤ (1−η)‖ĥ‖.
			for {
				if res, err = o.hypergradient(eps, delta); err != nil {
					return finish(err)
				}
				hn := norm2(res.Hypergradient)
				if !adaptive || res.Bound.Kind == BoundNone || res.Bound.Value <= (1-eta)*hn || o.spent() || eps < 1e-14 {
					break
				}
				eps, delta = eps*tighten, delta*tighten
			}
			hg := res.Hypergradient
			hn := norm2(hg)
			step.GradNorm, step.Bound, step.Eps, step.Delta = hn, res.Bound.Value, eps, delta
			if !isLS {
				break
			}
			if beta == 0 && hn > 0 {
				beta = 1 / hn
			}
			// 2. Backtracking with inexact values.
			wOld := o.w
			fOld, gOld, eOld, _, err := o.value(wOld, eps)
			if err != nil {
				return finish(err)
			}
			step.Value = fOld
			trial := make([]float64, h)
			for i := 0; i <= maxBT && !o.spent(); i++ {
				s := beta * math.Pow(rho, float64(i))
				for j := range trial {
					trial[j] = lam[j] - s*hg[j]
				}
				if err := p.SetHyper(trial); err != nil {
					return finish(err)
				}
				fNew, gNew, eNew, wNew, err := o.value(wOld, eps)
				if err != nil {
					return finish(err)
				}
				step.Backtracks = i
				// Upper bound at the trial point minus lower bound at the
				// current one, with the accuracies actually certified.
				if fNew+gNew*eNew+o.lf*eNew*eNew/2-fOld+gOld*eOld <= -s*eta*eta*hn*hn {
					copy(lam, trial)
					o.w = wNew
					step.Step, accepted = s, true
					beta = s * 10 / 9
					break
				}
			}
			if accepted {
				if adaptive {
					eps, delta = eps*loosen, delta*loosen
				}
				break
			}
			if err := p.SetHyper(lam); err != nil {
				return finish(err)
			}
			if !adaptive || try >= retries || o.spent() {
				break
			}
			eps, delta = eps*tighten, delta*tighten
		}
		switch u := update.(type) {
		case FixedStep:
			for j := range lam {
				lam[j] -= u.Step * res.Hypergradient[j]
			}
			step.Step, accepted = u.Step, true
		case Adam:
			a := Adam{Step: orDefault(u.Step, 1e-2), Beta1: orDefault(u.Beta1, 0.9), Beta2: orDefault(u.Beta2, 0.999), Eps: orDefault(u.Eps, 1e-8)}
			t := float64(it + 1)
			for j, g := range res.Hypergradient {
				adamM[j] = a.Beta1*adamM[j] + (1-a.Beta1)*g
				adamV[j] = a.Beta2*adamV[j] + (1-a.Beta2)*g*g
				mh, vh := adamM[j]/(1-math.Pow(a.Beta1, t)), adamV[j]/(1-math.Pow(a.Beta2, t))
				lam[j] -= a.Step * mh / (math.Sqrt(vh) + a.Eps)
			}
			step.Step, accepted = a.Step, true
		}
		if !isLS {
			if step.Value, err = o.valueAt(o.w); err != nil {
				return finish(err)
			}
			if err := p.SetHyper(lam); err != nil {
				return finish(err)
			}
			if adaptive {
				eps, delta = eps*loosen, delta*loosen
			}
		}
		step.Calls = o.calls()
		step.Lambda = append([]float64(nil), lam...)
		out.History = append(out.History, step)
		out.Iters = it + 1
		if m.Progress != nil {
			if err := m.Progress(step); err != nil {
				return finish(err)
			}
		}
		if !accepted {
			out.Status = OuterStalled
			if o.spent() {
				out.Status = OuterBudget
			}
			return finish(nil)
		}
	}
	return finish(nil)
}
