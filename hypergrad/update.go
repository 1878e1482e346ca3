package hypergrad

import (
	"fmt"
	"math"
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

// defaultEta is the margin η of the certified-descent test ω ≤ (1−η)‖ĥ‖
// (outer.descent) for the rules that carry no η of their own: MAID.py's
// default, the one LineSearch takes for Eta 0.
const defaultEta = 1e-4

// stepper is an update rule with its state for one Minimize run: a new
// rule is a type above, a stepper below and a case of newStepper.
//
// step performs one outer iteration from λ = o.lam, at which the problem
// stands: it estimates ĥ through o.descent (which records ‖ĥ‖, its bound
// and (ε, δ) in st), moves o.lam, leaves the problem at o.lam, fills st's
// Value, Step and Backtracks, and reports whether λ moved; false stops the
// run as stalled. On an error the problem may stand at another λ.
type stepper interface {
	step(o *outer, st *OuterStep) (moved bool, err error)
}

// newStepper returns the stepper of u, with the zero fields of u set to
// their defaults, for h hyperparameters. A pointer to a rule is the rule;
// a nil pointer, or a type that merely embeds a rule, is ErrInvalidSettings.
func newStepper(u Update, h int) (stepper, error) {
	switch v := u.(type) {
	case *FixedStep:
		if v != nil {
			u = *v
		}
	case *Adam:
		if v != nil {
			u = *v
		}
	case *LineSearch:
		if v != nil {
			u = *v
		}
	}
	switch u := u.(type) {
	case FixedStep:
		return fixedStepper{size: u.Step}, nil
	case Adam:
		return &adamStepper{
			rule: Adam{Step: orDefault(u.Step, 1e-2), Beta1: orDefault(u.Beta1, 0.9), Beta2: orDefault(u.Beta2, 0.999), Eps: orDefault(u.Eps, 1e-8)},
			m:    make([]float64, h), v: make([]float64, h),
		}, nil
	case LineSearch:
		maxBT := u.MaxBacktracks
		if maxBT == 0 {
			maxBT = 20
		}
		return &lineSearcher{beta: u.Step0, rho: orDefault(u.Rho, 0.9), eta: orDefault(u.Eta, 1e-4), maxBT: maxBT}, nil
	}
	return nil, fmt.Errorf("%w: update rule %T (want FixedStep, Adam or LineSearch, or a pointer to one)", ErrInvalidSettings, u)
}

// fixedStepper is FixedStep: λ ← λ − size·ĥ, always accepted.
type fixedStepper struct{ size float64 }

func (f fixedStepper) step(o *outer, st *OuterStep) (bool, error) {
	g, _, err := o.descent(st, defaultEta)
	if err != nil {
		return false, err
	}
	for j := range o.lam {
		o.lam[j] -= f.size * g[j]
	}
	st.Step = f.size
	return true, o.settle(st)
}

// adamStepper is Adam: at its t-th step (t = 1, 2, …), per coordinate,
//
//	m ← β₁m + (1−β₁)ĥ,  v ← β₂v + (1−β₂)ĥ²,
//	λ ← λ − Step·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + Eps),
//
// always accepted. Since every step is accepted, t is the outer iteration
// count.
type adamStepper struct {
	rule Adam      // defaults filled in
	m, v []float64 // first and second moment estimates, from 0
	t    int       // steps taken
}

func (s *adamStepper) step(o *outer, st *OuterStep) (bool, error) {
	g, _, err := o.descent(st, defaultEta)
	if err != nil {
		return false, err
	}
	s.t++
	a, t := s.rule, float64(s.t)
	for j, gj := range g {
		s.m[j] = a.Beta1*s.m[j] + (1-a.Beta1)*gj
		s.v[j] = a.Beta2*s.v[j] + (1-a.Beta2)*gj*gj
		mh, vh := s.m[j]/(1-math.Pow(a.Beta1, t)), s.v[j]/(1-math.Pow(a.Beta2, t))
		o.lam[j] -= a.Step * mh / (math.Sqrt(vh) + a.Eps)
	}
	st.Step = a.Step
	return true, o.settle(st)
}

// lineSearcher is LineSearch. Each try computes ĥ (certified descent at
// its η), sets β = 1/‖ĥ‖ if β is still 0, and backtracks; an accepted
// step loosens (ε, δ) under the adaptive rule. A failed try returns the
// problem to λ and, under the adaptive rule, tightens (ε, δ) and tries
// again, at most MaxRetries more times and while the budget lasts; then the
// iteration stalls.
type lineSearcher struct {
	beta     float64 // initial step of the next backtracking (0: 1/‖ĥ‖)
	rho, eta float64
	maxBT    int
}

func (s *lineSearcher) step(o *outer, st *OuterStep) (bool, error) {
	for try := 0; ; try++ {
		g, hn, err := o.descent(st, s.eta)
		if err != nil {
			return false, err
		}
		if s.beta == 0 && hn > 0 {
			s.beta = 1 / hn
		}
		moved, err := s.backtrack(o, st, g, hn)
		if err != nil {
			return false, err
		}
		if moved {
			o.tol.relax()
			return true, nil
		}
		if err := o.p.SetHyper(o.lam); err != nil {
			return false, err
		}
		if !o.tol.adaptive || try >= o.tol.retries || o.spent() {
			return false, nil
		}
		o.tol.tighten()
	}
}

// backtrack evaluates E(ŵ) at λ = o.lam (warm from o.w, to accuracy ε;
// recorded in st.Value), then tries λ − βρ^i ĥ for i = 0…maxBT while the
// budget lasts, each inner solve warm from the same ŵ, and accepts the
// first trial point that passes LineSearch's test with the accuracies ε̂
// actually certified at both points: it then moves o.lam and o.w there and
// sets β ← (10/9)βρ^i. When no trial is accepted the problem stands at the
// last trial point (or at λ if none ran).
func (s *lineSearcher) backtrack(o *outer, st *OuterStep, g []float64, hn float64) (bool, error) {
	wOld := o.w
	fOld, gOld, eOld, _, err := o.value(wOld, o.tol.eps)
	if err != nil {
		return false, err
	}
	st.Value = fOld
	trial := make([]float64, len(o.lam))
	for i := 0; i <= s.maxBT && !o.spent(); i++ {
		step := s.beta * math.Pow(s.rho, float64(i))
		for j := range trial {
			trial[j] = o.lam[j] - step*g[j]
		}
		if err := o.p.SetHyper(trial); err != nil {
			return false, err
		}
		fNew, gNew, eNew, wNew, err := o.value(wOld, o.tol.eps)
		if err != nil {
			return false, err
		}
		st.Backtracks = i
		// Upper bound at the trial point minus lower bound at the
		// current one.
		if fNew+gNew*eNew+o.lf*eNew*eNew/2-fOld+gOld*eOld <= -step*s.eta*s.eta*hn*hn {
			copy(o.lam, trial)
			o.w = wNew
			st.Step = step
			s.beta = step * 10 / 9
			return true, nil
		}
	}
	return false, nil
}
