package hypergrad

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// FixedPointEstimator computes a hypergradient of a fixed-point problem
// (bilevel.FixedPoint) at its current λ: FixedPointAID or FixedPointITD.
// An optimisation problem becomes one through bilevel.NewGradientStep.
type FixedPointEstimator interface {
	// EstimateFixedPoint returns the hypergradient with its statistics. On
	// failure it returns an *Error and, where one was started, the partial
	// Result with Status Failed.
	EstimateFixedPoint(ctx context.Context, p bilevel.FixedPoint, start *Start) (*Result, error)
	// String names the method, such as "aid-gmres30(fpi)" or "itd(fpi)".
	String() string
}

// ErrNotContraction reports a fixed-point iteration w_{s+1} = Φ(w_s) whose
// steps ‖w_{s+1} − w_s‖ show that Φ is not a contraction: a step longer than
// q times the one before for the constant q the problem proved
// (bilevel.Contractor), or, without a proven q, steps that grew by the
// factor divergenceFactor.
var ErrNotContraction = errors.New("the map is not a contraction")

// divergenceFactor is the growth of the fixed-point step, relative to the
// first, that stops an iteration without a proven contraction constant.
const divergenceFactor = 1e8

// fpRun is the state of one estimate of a fixed-point problem: the session
// and the problem, whose oracle methods count every call.
type fpRun struct {
	session
	p bilevel.FixedPoint
	// q is the contraction constant of Φ when the problem proves one
	// (Kind Bound or Exact, Value < 1); Kind Unknown otherwise.
	q bilevel.Constant
}

func newFPRun(ctx context.Context, p bilevel.FixedPoint, method string, monitor Monitor) (*fpRun, error) {
	r := &fpRun{session: newSession(ctx, method, monitor), p: p}
	if p == nil {
		return nil, r.fail("setup", -1, fmt.Errorf("%w: nil problem", ErrInvalidSettings))
	}
	if err := r.attach(p.Backend()); err != nil {
		return nil, err
	}
	if c, ok := p.(bilevel.Contractor); ok {
		q, err := c.Contraction()
		if err != nil {
			return nil, r.fail("setup", -1, fmt.Errorf("contraction constant: %w", err))
		}
		if q.Kind >= bilevel.Bound && q.Value >= 0 && q.Value < 1 {
			r.q = q
		}
	}
	return r, nil
}

func (r *fpRun) mapW(dst, w backend.Vector) error {
	r.res.Counts.Maps++
	return r.p.Map(dst, w)
}

func (r *fpRun) linearize(w backend.Vector) error {
	r.res.Counts.Linearizations++
	return r.p.Linearize(w)
}

func (r *fpRun) jacVec(dst, u backend.Vector) error {
	r.res.Counts.JacVecs++
	return r.p.JacVec(dst, u)
}

func (r *fpRun) jacTransVec(dst, u backend.Vector) error {
	r.res.Counts.JacTransVecs++
	return r.p.JacTransVec(dst, u)
}

func (r *fpRun) hyperJacVec(dst, u backend.Vector) error {
	r.res.Counts.HyperJacVecs++
	return r.p.HyperJacVec(dst, u)
}

func (r *fpRun) hyperJacTransVec(dst, u backend.Vector) error {
	r.res.Counts.HyperJacTransVecs++
	return r.p.HyperJacTransVec(dst, u)
}

func (r *fpRun) outerGrad(dst, w backend.Vector) error {
	r.res.Counts.OuterGrads++
	return r.p.OuterGrad(dst, w)
}

func (r *fpRun) outerHyperGrad(dst, w backend.Vector) error {
	r.res.Counts.OuterHyperGrads++
	return r.p.OuterHyperGrad(dst, w)
}

// fpStep is a step of the fixed-point iteration: before it computes
// Φ(w_s) the caller may linearize at w_s (forward mode).
type fpStep func(s int, w backend.Vector) error

// iterate runs the fixed-point iteration w_{s+1} = Φ(w_s, λ) from w_0 = w
// for at most t steps, stopping once ‖w_{s+1} − w_s‖ ≤ tol (tol > 0). obs
// observes w_s for s = 0, …, t' (t' the steps made) and before(s, w_s) runs
// before step s, each when not nil; an error either returns ends the
// iteration. next and diff are work vectors of
// length d. It returns the vector holding w_{t'} (w or next) and fills
// InnerIters, InnerResidual ‖w_{t'} − w_{t'−1}‖ (NaN when t' = 0) and
// InnerStatus.
//
// Each step checks the contraction: with a proven constant q, a step
// longer than q·‖w_s − w_{s−1}‖ beyond rounding fails with
// ErrNotContraction, as does, without one, a step 1e8 times longer than
// the first.
func (r *fpRun) iterate(w, next, diff backend.Vector, t int, tol float64, obs innerObserver, before fpStep) (backend.Vector, error) {
	res := r.res
	b := r.b
	t0 := time.Now()
	defer func() { res.Time.Inner += r.since(t0) }()
	if obs != nil {
		if err := obs.observe(0, w); err != nil {
			return nil, err
		}
	}
	prevStep, firstStep := math.NaN(), math.NaN()
	status := Completed
	s := 0
	for ; s < t; s++ {
		if err := r.check("inner", s); err != nil {
			return nil, err
		}
		if before != nil {
			if err := before(s, w); err != nil {
				return nil, r.fail("inner", s, err)
			}
		}
		if err := r.mapW(next, w); err != nil {
			return nil, r.fail("inner", s, err)
		}
		b.Copy(diff, next)
		b.Axpy(-1, w, diff)
		step := b.Nrm2(diff)
		w, next = next, w
		if obs != nil {
			if err := obs.observe(s+1, w); err != nil {
				return nil, err
			}
		}
		if !finite(step) {
			return nil, r.fail("inner", s, fmt.Errorf("%w: ‖Φ(w) − w‖ = %v", ErrNonFinite, step))
		}
		if s == 0 {
			firstStep = step
		}
		if err := r.contracts(s, step, prevStep, firstStep, w); err != nil {
			return nil, r.fail("inner", s, err)
		}
		prevStep = step
		res.InnerResidual = step
		if err := r.report(PhaseInner, s+1, w, step); err != nil {
			return nil, err
		}
		if tol > 0 && step <= tol {
			status = Converged
			s++
			break
		}
	}
	if err := r.check("inner", s); err != nil {
		return nil, err
	}
	if tol > 0 && status != Converged {
		status = IterationLimit
	}
	res.InnerIters, res.InnerStatus = s, status
	return w, nil
}

// contracts checks step s of length step against the one before.
func (r *fpRun) contracts(s int, step, prevStep, firstStep float64, w backend.Vector) error {
	if r.q.Kind >= bilevel.Bound {
		if s == 0 {
			return nil
		}
		// ‖Φ(w_s) − Φ(w_{s−1})‖ ≤ q‖w_s − w_{s−1}‖, up to the rounding of two
		// evaluations of Φ, taken as 1e-11‖w_{s+1}‖.
		if slack := 1e-11 * r.b.Nrm2(w); step > r.q.Value*prevStep*(1+1e-12)+slack {
			return fmt.Errorf("%w: step %d has ‖w_{s+1} − w_s‖ = %.6g > q·‖w_s − w_{s−1}‖ = %.6g·%.6g (q %s)",
				ErrNotContraction, s, step, r.q.Value, prevStep, r.q.Kind)
		}
		return nil
	}
	if firstStep > 0 && step > divergenceFactor*firstStep {
		return fmt.Errorf("%w: ‖w_{s+1} − w_s‖ grew from %.3g to %.3g in %d steps", ErrNotContraction, firstStep, step, s)
	}
	return nil
}

// fpName is the name of a solver in a method name: "gmres(30)" becomes
// "gmres30".
func fpName(s fmt.Stringer) string {
	return strings.NewReplacer("(", "", ")", "").Replace(s.String())
}
