package bench

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// TightnessRow compares the a posteriori bound and the error estimate
// (hypergrad.EstimateError) with the true error of one estimate.
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
	// Estimate is the uncertified error estimate of hypergrad.EstimateError
	// (+Inf where there is none) and EstimateRatio estimate / true error.
	Estimate      float64 `json:"estimate"`
	EstimateRatio float64 `json:"estimate_ratio"`
	// Refined is the refined bound hypergrad.RefinedBound (estimate plus
	// the a posteriori bound of the corrected hypergradient), RefinedKind
	// its kind and RefinedRatio refined / true error.
	Refined      float64 `json:"refined_bound"`
	RefinedKind  string  `json:"refined_kind"`
	RefinedRatio float64 `json:"refined_ratio"`
	// Calls are AID's oracle calls and EstimateCalls those of the estimate
	// (and refined bound) alone, in EstimateRounds rounds.
	Calls          int `json:"calls"`
	EstimateCalls  int `json:"estimate_calls"`
	EstimateRounds int `json:"estimate_rounds"`
}

// Tightness summarises the rows of one problem.
type Tightness struct {
	Rows []TightnessRow `json:"rows"`
	// Violations counts the bounds (a posteriori or refined) below the true
	// error minus the reference's own error allowance (certified bounds
	// never should be).
	Violations int `json:"violations"`
	// EstimatePoints counts the rows whose estimate is held to a ratio:
	// those with a true error above 1e-12·‖∇f‖ (below, ĥ − ∇f is at the
	// rounding floor of ĥ and of the reference). Over them, EstimateMedian
	// is the median of estimate / true error, EstimateWorst the ratio
	// farthest from 1 (in log scale), and EstimateOutside the number of
	// ratios outside [0.1, 10]; NaN medians without such rows.
	EstimatePoints  int     `json:"estimate_points"`
	EstimateMedian  float64 `json:"estimate_median_ratio"`
	EstimateWorst   float64 `json:"estimate_worst_ratio"`
	EstimateOutside int     `json:"estimate_outside"`
	// BoundPoints counts the rows above the same floor with a bound (kind
	// certified or estimate); over them, PlainMedian and PlainWorst are the
	// median and largest a posteriori bound / true error, RefinedMedian and
	// RefinedWorst those of the refined bound (NaN without such rows).
	BoundPoints   int     `json:"bound_points"`
	PlainMedian   float64 `json:"plain_median_ratio"`
	PlainWorst    float64 `json:"plain_worst_ratio"`
	RefinedMedian float64 `json:"refined_median_ratio"`
	RefinedWorst  float64 `json:"refined_worst_ratio"`
	// CostMedian and CostWorst are the median and largest estimate calls /
	// AID calls over all rows.
	CostMedian float64 `json:"estimate_cost_median"`
	CostWorst  float64 `json:"estimate_cost_worst"`
}

// summarizeBounds sets the bound summary of t from its rows; rn is ‖∇f‖.
func (t *Tightness) summarizeBounds(rn float64) {
	var plain, refined []float64
	for _, r := range t.Rows {
		if r.TrueErr > estimateFloor*rn && r.Kind != "none" && r.RefinedKind != "none" {
			plain, refined = append(plain, r.Ratio), append(refined, r.RefinedRatio)
		}
	}
	var cost []float64
	for _, r := range t.Rows {
		if r.Calls > 0 {
			cost = append(cost, float64(r.EstimateCalls)/float64(r.Calls))
		}
	}
	t.CostMedian, t.CostWorst = medianMax(cost)
	t.BoundPoints = len(plain)
	t.PlainMedian, t.PlainWorst = medianMax(plain)
	t.RefinedMedian, t.RefinedWorst = medianMax(refined)
}

// medianMax returns the median and the largest of xs (stat's), NaN, NaN
// when xs is empty.
func medianMax(xs []float64) (med, mx float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	st := stat(xs)
	return st.Median, st.Max
}

// estimateFloor is the relative true error below which a row's estimate
// ratio enters no summary (see Tightness.EstimatePoints).
const estimateFloor = 1e-12

// summarizeEstimates sets the estimate summary of t from its rows; rn is
// ‖∇f‖ of the reference.
func (t *Tightness) summarizeEstimates(rn float64) {
	var ratios []float64
	for _, r := range t.Rows {
		if r.TrueErr > estimateFloor*rn && !math.IsInf(r.Estimate, 0) && !math.IsNaN(r.EstimateRatio) {
			ratios = append(ratios, r.EstimateRatio)
		}
	}
	t.EstimatePoints, t.EstimateMedian, t.EstimateWorst, t.EstimateOutside = len(ratios), math.NaN(), math.NaN(), 0
	if len(ratios) == 0 {
		return
	}
	worst := ratios[0]
	for _, r := range ratios {
		if math.Abs(math.Log(r)) > math.Abs(math.Log(worst)) {
			worst = r
		}
		if !(r >= 0.1 && r <= 10) {
			t.EstimateOutside++
		}
	}
	t.EstimateWorst = worst
	t.EstimateMedian, _ = medianMax(ratios)
}

// DefaultTightnessPoints are the (t, k) of the tightness rows: a converged
// lower level with few linear iterations, and few lower-level iterations
// with a converged linear solve.
var DefaultTightnessPoints = [][2]int{{2000, 2}, {2000, 5}, {2000, 10}, {2000, 20}, {5, 500}, {20, 500}, {50, 500}, {100, 500}}

// tightnessLinears are the linear solvers whose bounds the bench compares.
var tightnessLinears = []struct {
	name   string
	solver hypergrad.LinearSolver
}{{"fp", hypergrad.FixedPoint{}}, {"cg", hypergrad.ConjugateGradient{}}, {"hb", hypergrad.HeavyBallLinear{}}}

// tightness measures bound/true error for each linear solver at (t, k)
// points of both phases: a converged lower level with few linear iterations
// (residual phase), and few lower-level iterations with a converged linear
// solve (lower-level phase), with the error estimate of
// hypergrad.EstimateError next to the bound. The inner solver is FISTA,
// which converges on every problem of the suite.
func (r *Runner) tightness(ctx context.Context, p problem, ref *bilevel.Reference) (*Tightness, error) {
	out := &Tightness{}
	rn := norm(ref.Hypergradient)
	pts := r.Suite.TightnessPoints
	if len(pts) == 0 {
		pts = DefaultTightnessPoints
	}
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
			est, err := hypergrad.EstimateError(ctx, p, res)
			if err != nil {
				return nil, fmt.Errorf("tightness %s t=%d k=%d: error estimate: %w", l.name, tk[0], tk[1], err)
			}
			rb := hypergrad.RefinedBound(est)
			row := TightnessRow{Linear: l.name, T: tk[0], K: tk[1], Phase: phase, Kind: b.Kind.String(), Bound: b.Value,
				TrueErr: e, Ratio: b.Value / e, APriori: res.APriori.Value, Estimate: est.Value, EstimateRatio: est.Value / e,
				Refined: rb.Value, RefinedKind: rb.Kind.String(), RefinedRatio: rb.Value / e,
				Calls: res.Counts.Oracles(), EstimateCalls: est.Counts.Oracles(), EstimateRounds: est.Rounds}
			if b.Kind != hypergrad.BoundNone && b.Value < e-1e-12*rn {
				out.Violations++
			}
			if rb.Kind != hypergrad.BoundNone && rb.Value < e-1e-12*rn {
				out.Violations++
			}
			out.Rows = append(out.Rows, row)
		}
	}
	out.summarizeEstimates(rn)
	out.summarizeBounds(rn)
	r.Progress.Step("tightness")
	return out, nil
}
