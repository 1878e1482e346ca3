package bench

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// OuterSpec is the outer-loop experiment of the suite: MAID's adaptive
// accuracy against fixed accuracies ε = δ, on per-feature hyperparameter
// optimisation, for a budget of oracle calls.
type OuterSpec struct {
	Problem ProblemSpec
	Budget  int       // oracle calls per run
	Fixed   []float64 // the fixed ε = δ to compare
	Points  int       // λ iterates evaluated exactly per run (evenly spread)
}

// DefaultOuter is the experiment of the issue: logreg n = 2000, d = 50,
// seed 0, budget 2·10⁵ oracle calls, fixed ε = δ ∈ {1e-1, …, 1e-5}, from
// λ_0 = 0 (e^λ = 1, as hypertorch starts its per-feature experiment; the
// generator's default λ is meant for hypergradient-accuracy tests).
func DefaultOuter() *OuterSpec {
	return &OuterSpec{
		Problem: ProblemSpec{Name: "logreg-hpo", Problem: "logreg", Source: "synth:n=2000,d=50,lambda=0,seed=0"},
		Budget:  200000,
		Fixed:   []float64{1e-1, 1e-2, 1e-3, 1e-4, 1e-5},
		Points:  60,
	}
}

// OuterRun is one outer-loop run.
type OuterRun struct {
	Name       string       `json:"name"` // "maid" or "fixed 1e-3"
	Iters      int          `json:"iterations"`
	Calls      int          `json:"calls"`
	Status     string       `json:"status"`
	Curve      []OuterPoint `json:"curve"`         // true validation loss along the run
	FinalLoss  float64      `json:"final_loss"`    // true E(w*(λ)) at the last iterate
	CallsToTol int          `json:"calls_to_1%"`   // calls to come within 1 % of the best final loss (0: never)
	CallsTo01  int          `json:"calls_to_0.1%"` // … within 0.1 %
	FinalEps   float64      `json:"final_eps"`     // ε at the last iteration
	Backtracks int          `json:"backtracks"`    // line-search backtracks over the run
}

// OuterPoint is the true validation loss at an iterate.
type OuterPoint struct {
	Calls int     `json:"calls"`
	Loss  float64 `json:"loss"`
}

// OuterReport is the outer-loop experiment.
type OuterReport struct {
	Problem  string     `json:"problem"`
	Source   string     `json:"source"`
	Budget   int        `json:"budget"`
	Loss0    float64    `json:"initial_loss"`
	BestLoss float64    `json:"best_final_loss"`
	Runs     []OuterRun `json:"runs"`
}

// runOuter runs MAID and the fixed accuracies with MAID's line search (the
// same outer method, so only the accuracy rule differs), FISTA on the lower
// level and conjugate gradients on the adjoint, and evaluates the true
// validation loss E(w*(λ)) (exact reference; not counted) at evenly spread
// iterates of each run.
func (r *Runner) runOuter(ctx context.Context, o *OuterSpec) (*OuterReport, error) {
	p, _, err := NewProblem(r.Backend, o.Problem)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	lam0 := make([]float64, p.HyperDim())
	p.Hyper(lam0)
	rep := &OuterReport{Problem: o.Problem.Name, Source: o.Problem.Source, Budget: o.Budget}
	if rep.Loss0, err = trueLoss(p, lam0); err != nil {
		return nil, err
	}
	type cfg struct {
		name string
		acc  hypergrad.Accuracy
	}
	cfgs := []cfg{{"maid", hypergrad.Adaptive{}}}
	for _, e := range o.Fixed {
		cfgs = append(cfgs, cfg{fmt.Sprintf("fixed %.0e", e), hypergrad.FixedAccuracy{Eps: e, Delta: e}})
	}
	for _, c := range cfgs {
		m := &hypergrad.Minimizer{Accuracy: c.acc, Budget: o.Budget, MaxOuter: 100000}
		res, err := m.Minimize(ctx, p, lam0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		run := OuterRun{Name: c.name, Iters: res.Iters, Calls: res.Calls, Status: res.Status.String()}
		for _, st := range res.History {
			run.Backtracks += st.Backtracks
			run.FinalEps = st.Eps
		}
		run.Curve = append(run.Curve, OuterPoint{Calls: 0, Loss: rep.Loss0})
		n := len(res.History)
		for i := 0; i < o.Points && n > 0; i++ {
			j := (i + 1) * n / o.Points
			if j == 0 || (len(run.Curve) > 1 && res.History[j-1].Calls == run.Curve[len(run.Curve)-1].Calls) {
				continue
			}
			st := res.History[j-1]
			l, err := trueLoss(p, st.Lambda)
			if err != nil {
				return nil, err
			}
			run.Curve = append(run.Curve, OuterPoint{Calls: st.Calls, Loss: l})
		}
		run.FinalLoss = run.Curve[len(run.Curve)-1].Loss
		rep.Runs = append(rep.Runs, run)
		r.Progress.Step("outer: " + c.name)
	}
	rep.BestLoss = math.Inf(1)
	for _, run := range rep.Runs {
		rep.BestLoss = math.Min(rep.BestLoss, run.FinalLoss)
	}
	for i := range rep.Runs {
		for _, pt := range rep.Runs[i].Curve {
			if pt.Loss <= rep.BestLoss*1.01 && rep.Runs[i].CallsToTol == 0 {
				rep.Runs[i].CallsToTol = max(pt.Calls, 1)
			}
			if pt.Loss <= rep.BestLoss*1.001 && rep.Runs[i].CallsTo01 == 0 {
				rep.Runs[i].CallsTo01 = max(pt.Calls, 1)
			}
		}
	}
	if err := p.SetHyper(lam0); err != nil {
		return nil, err
	}
	return rep, nil
}

// maidClaim states whether MAID needed the fewest calls to come within 1 %
// of the best final loss.
func maidClaim(o *OuterReport) Claim {
	var maid *OuterRun
	bestFixed, bestName := 0, ""
	for i := range o.Runs {
		run := &o.Runs[i]
		if run.Name == "maid" {
			maid = run
			continue
		}
		if run.CallsToTol > 0 && (bestFixed == 0 || run.CallsToTol < bestFixed) {
			bestFixed, bestName = run.CallsToTol, run.Name
		}
	}
	c := Claim{Source: "Salehi et al. (MAID)",
		Claim: fmt.Sprintf("on %s, adaptive accuracy reaches within 1 %% of the best final validation loss in fewer oracle calls than every fixed ε = δ", o.Problem)}
	var ev string
	for _, run := range o.Runs {
		ev += fmt.Sprintf("%s: %s calls (0.1 %%: %s; final loss %.6g, %s); ", run.Name, never(run.CallsToTol), never(run.CallsTo01), run.FinalLoss, run.Status)
	}
	switch {
	case maid == nil || maid.CallsToTol == 0:
		c.Held = false
		ev += "MAID did not come within 1 %"
	case bestFixed == 0 || maid.CallsToTol < bestFixed:
		c.Held = true
	default:
		c.Held = false
		ev += fmt.Sprintf("MAID needed %.2f× the calls of %s. Why: MAID starts from ε = δ = 0.1, at which the inexact values cannot certify a descent, "+
			"and buys accuracy through failed line searches (%d backtracks over the run; final ε %.2g), while a well-chosen fixed accuracy pays nothing to find it; "+
			"but the fixed accuracies stall once their ε cannot certify the next decrease, and only MAID (and the finest fixed ε) run on to the best loss",
			float64(maid.CallsToTol)/float64(bestFixed), bestName, maid.Backtracks, maid.FinalEps)
	}
	c.Evidence = ev
	return c
}

func never(n int) string {
	if n == 0 {
		return "never"
	}
	return fmt.Sprint(n)
}
