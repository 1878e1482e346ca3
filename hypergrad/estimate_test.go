package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"sort"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// estimateFloor is the relative true error below which the estimate is not
// held to a ratio: there ĥ − ∇f is at the rounding floor of ĥ and of the
// reference (refAllowance), and no correction computed in float64 resolves it.
const estimateFloor = 1e-12

// estimateRatios runs AID over a grid of inner and linear solvers and (T, K)
// on p and returns the ratios estimate/true error at the points whose true
// error is above estimateFloor·‖∇f‖, with the smallest and largest relative
// true errors among them.
func estimateRatios(t *testing.T, p bilevel.Problem, ts, ks []int) (ratios []float64, minRel, maxRel float64) {
	t.Helper()
	ref := reference(t, p)
	rn := norm(ref.Hypergradient)
	minRel, maxRel = math.Inf(1), 0
	for _, in := range []hypergrad.InnerSolver{hypergrad.GradientDescent{}, hypergrad.FISTA{}} {
		for _, lin := range []hypergrad.LinearSolver{hypergrad.ConjugateGradient{}, hypergrad.FixedPoint{}} {
			for _, tt := range ts {
				for _, k := range ks {
					aid := &hypergrad.AID{Inner: in, Linear: lin, T: tt, K: k}
					res := estimate(t, aid, p, nil)
					e, err := hypergrad.EstimateError(context.Background(), p, res)
					if err != nil {
						t.Fatalf("%v t=%d k=%d: %v", aid, tt, k, err)
					}
					if e.Kind != hypergrad.BoundEstimate || e.Note != "" {
						t.Fatalf("%v t=%d k=%d: estimate of kind %v (%s)", aid, tt, k, e.Kind, e.Note)
					}
					te := norm(sub(res.Hypergradient, ref.Hypergradient))
					if te <= estimateFloor*rn {
						continue
					}
					r := e.Value / te
					minRel, maxRel = math.Min(minRel, te/rn), math.Max(maxRel, te/rn)
					ratios = append(ratios, r)
					if !(r >= 0.1 && r <= 10) {
						t.Errorf("%v t=%d k=%d: estimate %.4g, true error %.4g (relative %.3g): ratio %.4g outside [0.1, 10]",
							aid, tt, k, e.Value, te, te/rn, r)
					}
				}
			}
		}
	}
	return ratios, minRel, maxRel
}

// logSpread returns the median and the largest |log10 r| over the ratios.
func logSpread(ratios []float64) (median, worst float64) {
	l := make([]float64, len(ratios))
	for i, r := range ratios {
		l[i] = math.Abs(math.Log10(r))
	}
	sort.Float64s(l)
	return l[len(l)/2], l[len(l)-1]
}

// TestErrorEstimateRatio: on ridge, logreg, quadratic, multilogreg, kernel
// ridge regression and an ill-conditioned ridge (κ = 10⁴), over AID with
// gradient descent and FISTA inside, conjugate gradients and the fixed-point
// iteration on the linear system, and T ∈ {1 … 1000}, K ∈ {1 … 100}, the
// ratio of EstimateError's estimate to the true error (against the exact
// reference) lies in [0.1, 10] at every point whose true error is above
// 1e-12·‖∇f‖, the true errors of the grid span at least 1e-1 … 1e-10
// relative, and the median and worst |log10 ratio| stay below the limits
// set from the measured values with a margin of about three (the
// ill-conditioned ridge is where the solves' tolerance 1e-3 shows: κτ = 10).
// On a backend other than the CPU (-tags cuda or cudaemu, whose emulator
// makes every estimate far slower) a thinned grid checks the ratios; the
// span and the spread, properties of the full grid, are checked on the CPU.
func TestErrorEstimateRatio(t *testing.T) {
	ts := []int{1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500, 700, 1000}
	ks := []int{1, 3, 8, 20, 100}
	full := newBackend(t).Name() == "cpu"
	if !full {
		ts, ks = []int{1, 5, 30, 200}, []int{2, 20}
	}
	for _, c := range []struct {
		name          string
		p             func(t *testing.T) bilevel.Problem
		ts            []int
		spanLo        float64 // the grid must reach true relative errors ≤ spanLo
		median, worst float64 // limits on |log10 ratio|
	}{
		{"ridge", func(t *testing.T) bilevel.Problem { return ridge(t, 200, 12, 50, 21) }, ts, 1e-10, 3e-4, 0.01},
		{"logreg", func(t *testing.T) bilevel.Problem { return logregTest(t) }, ts, 1e-10, 3e-4, 0.05},
		{"quadratic", func(t *testing.T) bilevel.Problem {
			return quadratic(t, data.QuadraticOptions{M1: 80, M2: 60, D: 8, H: 5, Seed: 23})
		}, ts, 1e-10, 3e-4, 0.012},
		{"multilogreg", func(t *testing.T) bilevel.Problem {
			return multilogreg(t, data.MulticlassOptions{N: 60, M: 40, D: 8, C: 4, Seed: 1})
		}, ts, 1e-10, 3e-4, 0.03},
		{"krr", func(t *testing.T) bilevel.Problem {
			return krrProblem(t, data.KRROptions{N: 40, M: 20, D: 3, Noise: 0.1, Rho: 0.5, Seed: 7})
		}, ts, 1e-10, 2e-3, 0.02},
		{"ridge-ill", func(t *testing.T) bilevel.Problem { return ridge(t, 200, 30, 1e4, 5) },
			[]int{1, 10, 100, 1000, 3000}, 1e-10, 0.5, 0.9},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !full {
				c.ts = ts
			}
			ratios, lo, hi := estimateRatios(t, c.p(t), c.ts, ks)
			med, worst := logSpread(ratios)
			t.Logf("%d points, true relative errors %.3g … %.3g, |log10 ratio| median %.3g, worst %.3g", len(ratios), lo, hi, med, worst)
			if !full {
				return
			}
			if !(lo <= c.spanLo && hi >= 1e-1) {
				t.Errorf("true relative errors span %.3g … %.3g, want at least %.3g … 1e-1", lo, hi, c.spanLo)
			}
			if !(med <= c.median) || !(worst <= c.worst) {
				t.Errorf("|log10 ratio| median %.3g (limit %.3g), worst %.3g (limit %.3g)", med, c.median, worst, c.worst)
			}
		})
	}
}

// TestErrorEstimateQuadraticCorrection: for a quadratic lower level the
// Newton step is exact, so the corrected hypergradient ĥ + Correction is
// accurate to the solves' tolerance: at every point of a grid with true
// error above 1e-12·‖∇f‖ it is at least 100 times closer to the reference
// than ĥ (a first-order correction with a relative residual 1e-3), and the
// estimate is within 2 % of the true error.
func TestErrorEstimateQuadraticCorrection(t *testing.T) {
	p := quadratic(t, data.QuadraticOptions{M1: 80, M2: 60, D: 8, H: 5, Seed: 23})
	ref := reference(t, p)
	rn := norm(ref.Hypergradient)
	n := 0
	for _, tt := range []int{1, 3, 10, 30, 100} {
		for _, k := range []int{1, 2, 5, 20} {
			res := estimate(t, &hypergrad.AID{T: tt, K: k}, p, nil)
			e, err := hypergrad.EstimateError(context.Background(), p, res)
			if err != nil {
				t.Fatal(err)
			}
			te := norm(sub(res.Hypergradient, ref.Hypergradient))
			if te <= estimateFloor*rn {
				continue
			}
			n++
			hplus := make([]float64, len(res.Hypergradient))
			for i := range hplus {
				hplus[i] = res.Hypergradient[i] + e.Correction[i]
			}
			after := norm(sub(hplus, ref.Hypergradient))
			if !(after <= 1e-2*te+estimateFloor*rn) {
				t.Errorf("t=%d k=%d: corrected error %.3g, uncorrected %.3g: want 100 times smaller", tt, k, after, te)
			}
			if r := e.Value / te; !(math.Abs(r-1) <= 0.02) {
				t.Errorf("t=%d k=%d: estimate/true error %.6g, want within 2 %% of 1", tt, k, r)
			}
		}
	}
	if n < 15 {
		t.Errorf("only %d points above the floor", n)
	}
}

// TestErrorEstimateCostAndPurity: EstimateError counts exactly its oracle
// calls (one inner gradient, two linearizations, one ∇_wE, one ∇_λE, one
// cross product, and one Hessian-vector product per CG iteration plus
// A(w⁺)q̂), leaves the Result it reads unchanged (AID without the estimate
// costs nothing more), is deterministic (two calls give the same bits),
// and a later AID estimate on the same problem has the bits and counts of
// one made before it.
func TestErrorEstimateCostAndPurity(t *testing.T) {
	p := logregTest(t)
	aid := &hypergrad.AID{Inner: hypergrad.FISTA{}, T: 40, K: 8}
	before := estimate(t, aid, p, nil)
	res := estimate(t, aid, p, nil)
	if !reflect.DeepEqual(res.Hypergradient, before.Hypergradient) || res.Counts != before.Counts {
		t.Fatal("AID is not deterministic")
	}
	keep := *res
	keep.Hypergradient = append([]float64(nil), res.Hypergradient...)
	keep.W, keep.V = append([]float64(nil), res.W...), append([]float64(nil), res.V...)
	e1, err := hypergrad.EstimateError(context.Background(), p, res)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := hypergrad.EstimateError(context.Background(), p, res)
	if err != nil {
		t.Fatal(err)
	}
	if e1.Value != e2.Value || !reflect.DeepEqual(e1.Correction, e2.Correction) || e1.Counts != e2.Counts || e1.Iters != e2.Iters {
		t.Errorf("not deterministic: %v vs %v", e1.Value, e2.Value)
	}
	res.Time, keep.Time = hypergrad.Timing{}, hypergrad.Timing{}
	if !reflect.DeepEqual(*res, keep) {
		t.Error("EstimateError modified the Result")
	}
	// Queued conjugate gradients (a backend.CGStepper: the CUDA backend)
	// may make products past the last iteration in its final chunk.
	// Ridge is quadratic in w: one Newton step reaches the tolerance.
	if e1.NewtonSteps != 1 {
		t.Errorf("%d Newton steps on a quadratic g, want 1", e1.NewtonSteps)
	}
	want := hypergrad.Counts{InnerGrads: 2, Linearizations: 2, OuterGrads: 1, OuterHyperGrads: 1, CrossVecs: 1, HessVecs: e1.Iters + 2}
	got := e1.Counts
	if _, queued := p.Backend().(backend.CGStepper); queued && got.HessVecs >= want.HessVecs {
		got.HessVecs = want.HessVecs
	}
	if got != want {
		t.Errorf("counts %+v, want %+v", e1.Counts, want)
	}
	if !(e1.Iters >= 2 && e1.Step > 0 && e1.AdjointStep > 0 && e1.Time > 0) {
		t.Errorf("iterations %d, steps %v %v, time %v", e1.Iters, e1.Step, e1.AdjointStep, e1.Time)
	}
	after := estimate(t, aid, p, nil)
	if !reflect.DeepEqual(after.Hypergradient, before.Hypergradient) || after.Counts != before.Counts {
		t.Error("an AID estimate after EstimateError differs from one before")
	}
}

// TestErrorEstimateNone: results without an adjoint (ITD), fixed-point
// problems and a missing result give the estimate of kind none with a note
// and no error; a result of another problem's dimensions is ErrShape; a
// canceled context is an error of phase "estimate".
func TestErrorEstimateNone(t *testing.T) {
	p := ridge(t, 60, 6, 10, 3)
	ctx := context.Background()
	itd := estimate(t, &hypergrad.ITD{T: 20}, p, nil)
	step, err := bilevel.NewGradientStep(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { step.Close() })
	aid := estimate(t, &hypergrad.AID{T: 20, K: 5}, p, nil)
	for name, c := range map[string]struct {
		p   bilevel.Hyperparameters
		res *hypergrad.Result
	}{"itd": {p, itd}, "fixed-point": {step, aid}, "nil": {p, nil}} {
		e, err := hypergrad.EstimateError(ctx, c.p, c.res)
		if err != nil || e.Kind != hypergrad.BoundNone || e.Note == "" || !math.IsInf(e.Value, 1) || e.Counts != (hypergrad.Counts{}) {
			t.Errorf("%s: estimate %+v, error %v: want kind none with a note and no error", name, e, err)
		}
	}
	other := ridge(t, 60, 7, 10, 3)
	if e, err := hypergrad.EstimateError(ctx, other, aid); !errors.Is(err, hypergrad.ErrShape) || e.Kind != hypergrad.BoundNone {
		t.Errorf("dimension mismatch: kind %v, error %v, want ErrShape", e.Kind, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var he *hypergrad.Error
	if _, err := hypergrad.EstimateError(cctx, p, aid); !errors.As(err, &he) || he.Phase != "estimate" || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: error %v", err)
	}
}
