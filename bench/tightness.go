package bench

import (
	"context"
	"fmt"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// TightnessRow compares the a posteriori bound with the true error of one
// estimate.
type TightnessRow struct {
	Linear  string  `json:"linear"` // linear solver
	T       int     `json:"t"`
	K       int     `json:"k"`
	Phase   string  `json:"phase"` // "residual" when the ‖r‖ term dominates the bound, else "lower-level"
	Kind    string  `json:"kind"`  // certified, estimate or none
	Bound   float64 `json:"bound"`
	TrueErr float64 `json:"true_error"`
	Ratio   float64 `json:"ratio"` // bound / true error
	APriori float64 `json:"a_priori"`
}

// Tightness summarises the rows of one problem.
type Tightness struct {
	Rows []TightnessRow `json:"rows"`
	// Violations counts rows whose bound is below the true error minus the
	// reference's own error allowance (certified bounds never should).
	Violations int `json:"violations"`
}

// tightnessLinears are the linear solvers whose bounds the bench compares.
var tightnessLinears = []struct {
	name   string
	solver hypergrad.LinearSolver
}{{"fp", hypergrad.FixedPoint{}}, {"cg", hypergrad.ConjugateGradient{}}, {"hb", hypergrad.HeavyBallLinear{}}}

// tightness measures bound/true error for each linear solver at (t, k)
// points of both phases: a converged lower level with few linear iterations
// (residual phase), and few lower-level iterations with a converged linear
// solve (lower-level phase). The inner solver is FISTA, which converges on
// every problem of the suite.
func (r *Runner) tightness(ctx context.Context, p problem, ref *bilevel.Reference) (*Tightness, error) {
	out := &Tightness{}
	rn := norm(ref.Hypergradient)
	pts := [][2]int{{2000, 2}, {2000, 5}, {2000, 10}, {2000, 20}, {5, 500}, {20, 500}, {50, 500}, {100, 500}}
	for _, l := range tightnessLinears {
		for _, tk := range pts {
			res, err := (&hypergrad.AID{Inner: hypergrad.FISTA{}, Linear: l.solver, T: tk[0], K: tk[1]}).Estimate(ctx, p, nil)
			if err != nil {
				return nil, fmt.Errorf("tightness %s t=%d k=%d: %w", l.name, tk[0], tk[1], err)
			}
			e := distance(res.Hypergradient, ref.Hypergradient)
			b := res.Bound
			phase := "lower-level"
			if b.Linear >= b.Inner+b.InnerSquared {
				phase = "residual"
			}
			row := TightnessRow{Linear: l.name, T: tk[0], K: tk[1], Phase: phase, Kind: b.Kind.String(), Bound: b.Value,
				TrueErr: e, Ratio: b.Value / e, APriori: res.APriori.Value}
			if b.Kind != hypergrad.BoundNone && b.Value < e-1e-12*rn {
				out.Violations++
			}
			out.Rows = append(out.Rows, row)
		}
	}
	r.Progress.Step("tightness")
	return out, nil
}
