package hypergrad

import (
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// InnerSolver is an iterative method for the inner problem min_w g(w, λ):
// GradientDescent or HeavyBall.
type InnerSolver interface {
	// String names the solver: "gd" or "hb".
	String() string
	// steps returns (α, β, heavy) with zero fields filled from the constants.
	steps(c func() (bilevel.Constants, error)) (alpha, beta float64, heavy bool, err error)
}

// GradientDescent is w_{k+1} = w_k − α∇_w g(w_k, λ). Step 0 means
// α = 2/(L+μ), the step that minimises the contraction factor
// q = max(|1−αμ|, |1−αL|) = (κ−1)/(κ+1) (Grazzi et al. 2020, §2.1).
type GradientDescent struct {
	Step float64 // α > 0, or 0 for 2/(L+μ)
}

func (GradientDescent) String() string { return "gd" }

func (s GradientDescent) steps(c func() (bilevel.Constants, error)) (float64, float64, bool, error) {
	alpha := s.Step
	if alpha < 0 || !finite(alpha) {
		return 0, 0, false, fmt.Errorf("%w: gradient-descent step %v", ErrInvalidSettings, alpha)
	}
	if alpha == 0 {
		k, err := c()
		if err != nil {
			return 0, 0, false, err
		}
		alpha = 2 / (k.L.Value + k.Mu.Value)
	}
	return alpha, 0, false, nil
}

// HeavyBall is Polyak's heavy-ball method
//
//	w_{k+1} = w_k − α∇_w g(w_k, λ) + β(w_k − w_{k−1}),   w_{−1} = w_0,
//
// with, for zero fields, α = 4/(√L+√μ)² and β = ((√L−√μ)/(√L+√μ))², which
// give the rate (√κ−1)/(√κ+1) on quadratics (Ehrhardt & Roberts 2024 §3.2,
// after Mehmood & Ochs 2020).
type HeavyBall struct {
	Step     float64 // α > 0, or 0 for 4/(√L+√μ)²
	Momentum float64 // β in [0, 1), or 0 for ((√L−√μ)/(√L+√μ))²
}

func (HeavyBall) String() string { return "hb" }

func (s HeavyBall) steps(c func() (bilevel.Constants, error)) (float64, float64, bool, error) {
	alpha, beta, err := heavyBallSteps(s.Step, s.Momentum, c)
	return alpha, beta, true, err
}

// heavyBallSteps fills zero step and momentum from the constants.
func heavyBallSteps(alpha, beta float64, c func() (bilevel.Constants, error)) (float64, float64, error) {
	if alpha < 0 || !finite(alpha) {
		return 0, 0, fmt.Errorf("%w: heavy-ball step %v", ErrInvalidSettings, alpha)
	}
	if beta < 0 || beta >= 1 || !finite(beta) {
		return 0, 0, fmt.Errorf("%w: heavy-ball momentum %v (want 0 ≤ β < 1)", ErrInvalidSettings, beta)
	}
	if alpha == 0 || beta == 0 {
		k, err := c()
		if err != nil {
			return 0, 0, err
		}
		sl, sm := math.Sqrt(k.L.Value), math.Sqrt(k.Mu.Value)
		if alpha == 0 {
			alpha = 4 / ((sl + sm) * (sl + sm))
		}
		if beta == 0 {
			q := (sl - sm) / (sl + sm)
			beta = q * q
		}
	}
	return alpha, beta, nil
}

// constantsFor returns a memoised accessor of p's constants that checks they
// can give step sizes.
func constantsFor(p bilevel.Problem) func() (bilevel.Constants, error) {
	var (
		c    bilevel.Constants
		err  error
		done bool
	)
	return func() (bilevel.Constants, error) {
		if !done {
			done = true
			c, err = p.Constants()
			if err == nil && !(c.Mu.Value > 0 && c.L.Value >= c.Mu.Value && finite(c.L.Value)) {
				err = fmt.Errorf("%w: constants μ = %v, L = %v cannot give step sizes (set them explicitly)",
					ErrInvalidSettings, c.Mu.Value, c.L.Value)
			}
		}
		return c, err
	}
}

// innerSpec is an inner solver with resolved steps.
type innerSpec struct {
	alpha, beta float64
	heavy       bool
}

// solveInner runs up to t steps of the inner solver from w (which it
// overwrites) and returns the vector holding w_t, which is w or another run
// vector. record, if not nil, is called with w_0, …, w_t. With tol > 0 it
// stops at the first w_k with ‖∇_w g(w_k)‖ ≤ tol.
func (r *run) solveInner(s innerSpec, w backend.Vector, t int, tol float64, record func(k int, w backend.Vector)) (backend.Vector, error) {
	t0 := time.Now()
	defer func() { r.res.Time.Inner = r.since(t0) }()
	r.res.InnerStep, r.res.InnerMomentum = s.alpha, s.beta
	d := r.p.InnerDim()
	grad, err := r.vec(d)
	if err != nil {
		return nil, r.fail("inner", -1, err)
	}
	var prev backend.Vector
	if s.heavy {
		if prev, err = r.vec(d); err != nil {
			return nil, r.fail("inner", -1, err)
		}
		r.b.Copy(prev, w) // w_{−1} = w_0
	}
	if record != nil {
		record(0, w)
	}
	wantNorm := tol > 0 || r.monitor != nil
	k := 0
	for ; k < t; k++ {
		if err := r.check("inner", k); err != nil {
			return nil, err
		}
		if err := r.innerGrad(grad, w); err != nil {
			return nil, r.fail("inner", k, err)
		}
		if wantNorm {
			nrm := r.b.Nrm2(grad)
			if !finite(nrm) {
				return nil, r.fail("inner", k, fmt.Errorf("%w: ‖∇g(w_%d)‖ = %v", ErrNonFinite, k, nrm))
			}
			if err := r.report(PhaseInner, k, w, nrm); err != nil {
				return nil, err
			}
			if tol > 0 && nrm <= tol {
				r.res.InnerIters, r.res.InnerResidual, r.res.InnerStatus = k, nrm, Converged
				return w, nil
			}
		}
		if s.heavy {
			r.b.Axpby(1+s.beta, w, -s.beta, prev) // prev ← (1+β)w_k − βw_{k−1}
			r.b.Axpy(-s.alpha, grad, prev)        // prev ← w_{k+1}
			w, prev = prev, w
		} else {
			r.b.Axpy(-s.alpha, grad, w)
		}
		if record != nil {
			record(k+1, w)
		}
	}
	if err := r.check("inner", k); err != nil {
		return nil, err
	}
	if err := r.innerGrad(grad, w); err != nil {
		return nil, r.fail("inner", k, err)
	}
	nrm := r.b.Nrm2(grad)
	if err := r.check("inner", k); err != nil {
		return nil, err
	}
	if !finite(nrm) {
		return nil, r.fail("inner", k, fmt.Errorf("%w: ‖∇g(w_%d)‖ = %v", ErrNonFinite, k, nrm))
	}
	r.res.InnerIters, r.res.InnerResidual = k, nrm
	switch {
	case tol <= 0:
		r.res.InnerStatus = Completed
	case nrm <= tol:
		r.res.InnerStatus = Converged
	default:
		r.res.InnerStatus = IterationLimit
	}
	return w, r.report(PhaseInner, k, w, nrm)
}
