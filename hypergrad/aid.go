package hypergrad

import (
	"context"
	"fmt"
	"time"

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
type AID struct {
	Inner  InnerSolver  // nil means GradientDescent{}
	Linear LinearSolver // nil means ConjugateGradient{}
	T      int          // inner iterations (≥ 0)
	K      int          // linear iterations (≥ 0)

	TolInner  float64 // stop the inner solve when ‖∇_w g‖ ≤ TolInner (0: off)
	TolLinear float64 // stop the linear solve when ‖A q − ∇_wE‖ ≤ TolLinear (0: off)

	Monitor Monitor // optional progress callback
}

func (a *AID) inner() InnerSolver {
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
	consts := constantsFor(p)
	alpha, beta, heavy, err := a.inner().steps(consts)
	if err != nil {
		return res, r.fail("setup", -1, err)
	}
	lin, err := a.linear().spec(consts)
	if err != nil {
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
	q, err := r.upload("V0", start.V0, d)
	if err != nil {
		return res, err
	}
	var rhs, hg, tmp backend.Vector
	if err := r.vecsN(d, &rhs); err != nil {
		return res, err
	}
	if err := r.vecsN(h, &hg, &tmp); err != nil {
		return res, err
	}

	w, err = r.solveInner(innerSpec{alpha: alpha, beta: beta, heavy: heavy}, w, a.T, a.TolInner, nil)
	if err != nil {
		return res, err
	}

	t0 := time.Now()
	if err := r.linearize(w); err != nil {
		return res, r.fail("linear", -1, err)
	}
	if err := r.outerGrad(rhs, w); err != nil {
		return res, r.fail("linear", -1, err)
	}
	q, err = r.solveLinear(lin, q, rhs, start.V0 == nil, a.K, a.TolLinear)
	if err != nil {
		return res, err
	}
	res.Time.Linear = r.since(t0)

	t0 = time.Now()
	if err := r.crossVec(hg, q); err != nil {
		return res, r.fail("cross", -1, err)
	}
	if err := r.outerHyperGrad(tmp, w); err != nil {
		return res, r.fail("cross", -1, err)
	}
	r.b.Axpby(1, tmp, -1, hg) // hg ← ∇_λE − Bᵀq
	if err := r.check("cross", -1); err != nil {
		return res, err
	}
	res.W, res.V = r.download(w), r.download(q)
	if err := r.finish(hg); err != nil {
		return res, err
	}
	res.Time.Cross = r.since(t0)
	return res, nil
}
