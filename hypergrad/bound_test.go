package hypergrad_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// refAllowance is the error allowed to the exact reference itself (dense
// solves at machine precision; 1e-12 relative is generous for these sizes).
const refAllowance = 1e-12

// boundCase is one estimate whose bound is checked.
type boundCase struct {
	name string
	e    hypergrad.Estimator
}

func boundGrid(small bool) []boundCase {
	var cases []boundCase
	inners := []hypergrad.InnerSolver{hypergrad.GradientDescent{}, hypergrad.HeavyBall{}, hypergrad.FISTA{}, hypergrad.Newton{}}
	linears := []hypergrad.LinearSolver{hypergrad.FixedPoint{}, hypergrad.ConjugateGradient{}, hypergrad.HeavyBallLinear{}, hypergrad.FrozenAD{},
		hypergrad.ConjugateGradient{Jacobi: true}}
	if small {
		inners, linears = []hypergrad.InnerSolver{hypergrad.GradientDescent{}, hypergrad.FISTA{}}, linears[:2]
	}
	for _, in := range inners {
		for _, lin := range linears {
			for _, t := range []int{0, 1, 3, 10, 50, 300} {
				for _, k := range []int{0, 1, 3, 10, 50} {
					if t == 0 && k == 0 {
						continue // no iteration: ErrInvalidSettings
					}
					e := &hypergrad.AID{Inner: in, Linear: lin, T: t, K: k}
					cases = append(cases, boundCase{fmt.Sprintf("%v t=%d k=%d", e, t, k), e})
				}
			}
		}
	}
	for _, t := range []int{1, 3, 10, 50, 300} {
		for _, in := range []hypergrad.InnerSolver{hypergrad.GradientDescent{}, hypergrad.HeavyBall{}} {
			e := &hypergrad.ITD{Inner: in, T: t}
			cases = append(cases, boundCase{fmt.Sprintf("%v t=%d", e, t), e})
			e2 := &hypergrad.ITD{Inner: in, T: t, Truncate: 2}
			cases = append(cases, boundCase{fmt.Sprintf("%v t=%d", e2, t), e2})
		}
	}
	return cases
}

// checkBounds runs the grid on p and checks every certified bound (a
// posteriori and a priori) against the true error; estimated bounds are
// checked the same way and their failures reported, not hidden.
func checkBounds(t *testing.T, p bilevel.Problem, wantKind hypergrad.BoundKind, small bool) {
	ref := reference(t, p)
	rn := norm(ref.Hypergradient)
	var checked, estFail, estChecked, refined int
	var plainR, refR []float64
	kinds := map[hypergrad.BoundKind]int{}
	for _, c := range boundGrid(small) {
		res, err := c.e.Estimate(context.Background(), p, nil)
		if errors.Is(err, hypergrad.ErrNonFinite) || errors.Is(err, hypergrad.ErrDiverged) {
			continue // heavy ball on logreg can diverge with global constants
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		trueErr := norm(sub(res.Hypergradient, ref.Hypergradient))
		floor := math.Max(trueErr-refAllowance*rn, 0)
		for _, b := range []struct {
			what string
			b    hypergrad.Bound
		}{{"a posteriori", res.Bound}, {"a priori", res.APriori}} {
			kinds[b.b.Kind]++
			switch b.b.Kind {
			case hypergrad.BoundCertified:
				checked++
				if !(b.b.Value >= floor) {
					t.Errorf("%s: %s certified bound %.4g below the true error %.4g", c.name, b.what, b.b.Value, trueErr)
				}
			case hypergrad.BoundEstimate:
				estChecked++
				if !(b.b.Value >= floor) {
					estFail++
					t.Logf("estimated bound fails: %s: %s bound %.4g < true error %.4g", c.name, b.what, b.b.Value, trueErr)
				}
			}
		}
		if _, ok := c.e.(*hypergrad.AID); !ok {
			continue
		}
		if res.Bound.Kind != wantKind {
			t.Errorf("%s: a posteriori bound kind %v, want %v (%s)", c.name, res.Bound.Kind, wantKind, res.Bound.Note)
		}
		// The refined bound of the error estimate: as sound as the plain one.
		est, err := hypergrad.EstimateError(context.Background(), p, res)
		if err != nil {
			t.Fatalf("%s: error estimate: %v", c.name, err)
		}
		rb := hypergrad.RefinedBound(est)
		if rb.Kind != wantKind {
			t.Errorf("%s: refined bound kind %v, want %v (%s)", c.name, rb.Kind, wantKind, rb.Note)
		}
		if rb.Kind == hypergrad.BoundCertified {
			refined++
			if !(rb.Value >= floor) {
				t.Errorf("%s: refined certified bound %.4g (estimate %.4g + remainder %.4g) below the true error %.4g", c.name, rb.Value, rb.Correction, rb.Remainder, trueErr)
			}
		}
		if trueErr > 1e-10*rn && res.Bound.Kind != hypergrad.BoundNone {
			plainR = append(plainR, res.Bound.Value/trueErr)
			refR = append(refR, rb.Value/trueErr)
		}
	}
	t.Logf("%d certified bounds checked, %d estimated (%d below the true error), %d refined certified; kinds %v", checked, estChecked, estFail, refined, kinds)
	if len(refR) > 0 {
		sort.Float64s(plainR)
		sort.Float64s(refR)
		n := len(refR)
		t.Logf("bound / true error over %d AID points above 1e-10·‖∇f‖: plain median %.3g worst %.3g; refined median %.3g worst %.3g",
			n, plainR[n/2], plainR[n-1], refR[n/2], refR[n-1])
		// Usefulness: the refined bound stays within a small factor of the
		// true error (measured: median ≤ 1.25, worst ≤ 2 on every problem
		// here).
		if refR[n/2] > 3 || refR[n-1] > 100 {
			t.Errorf("refined bound / true error: median %.3g, worst %.3g (want ≤ 3 and ≤ 100)", refR[n/2], refR[n-1])
		}
	}
	if wantKind == hypergrad.BoundCertified && checked < 300 && !small {
		t.Errorf("only %d certified bounds", checked)
	}
}

// TestBoundSoundness: on ridge, logreg and quadratic and a grid of (t, k)
// including very small ones, every certified bound is ≥ max(true error −
// error of the reference, 0), for every inner and linear solver; on a
// smaller grid the same holds on badly scaled logreg and on the zoo's
// families. The refined bound (RefinedBound of EstimateError) is as sound,
// and within a small factor of the true error.
func TestBoundSoundness(t *testing.T) {
	t.Run("ridge", func(t *testing.T) { checkBounds(t, ridge(t, 200, 12, 50, 21), hypergrad.BoundCertified, false) })
	t.Run("ridge-shared", func(t *testing.T) {
		s, err := data.SynthRidge(synthOpts(200, 12, 50, 22))
		if err != nil {
			t.Fatal(err)
		}
		s.Lambda = []float64{-3}
		checkBounds(t, newRidgeFrom(t, s), hypergrad.BoundCertified, false)
	})
	t.Run("logreg", func(t *testing.T) { checkBounds(t, logregTest(t), hypergrad.BoundCertified, false) })
	t.Run("quadratic", func(t *testing.T) {
		checkBounds(t, quadratic(t, data.QuadraticOptions{M1: 80, M2: 60, D: 8, H: 5, Seed: 23}), hypergrad.BoundCertified, false)
	})
	t.Run("logreg-badly-scaled", func(t *testing.T) {
		// Feature scales spread over four orders of magnitude (κ = 1e4).
		checkBounds(t, logreg(t, 300, 20, 1e4, 26), hypergrad.BoundCertified, true)
	})
	// The zoo, on the smaller grid (gradient descent and FISTA inside,
	// fixed point and conjugate gradients outside).
	t.Run("multilogreg", func(t *testing.T) {
		checkBounds(t, multilogreg(t, data.MulticlassOptions{N: 80, M: 40, D: 6, C: 3, Seed: 27}), hypergrad.BoundCertified, true)
	})
	t.Run("hypercleaning", func(t *testing.T) {
		checkBounds(t, hypercleaning(t, 60, 40, 5, 3, 28), hypergrad.BoundCertified, true)
	})
	t.Run("krr", func(t *testing.T) {
		checkBounds(t, krrProblem(t, data.KRROptions{N: 40, M: 20, D: 3, Noise: 0.1, Rho: 0.5, Seed: 29}), hypergrad.BoundEstimate, true) // L_Eλ is estimated
	})
	t.Run("biasreg", func(t *testing.T) {
		checkBounds(t, biasReg(t, data.BiasRegOptions{Seed: 30}, problems.BiasRegAuto), hypergrad.BoundCertified, true)
	})
	t.Run("tvdenoise", func(t *testing.T) {
		checkBounds(t, tvdenoise(t, data.TVDenoiseOptions{H: 1, W: 64, Seed: 31}), hypergrad.BoundCertified, true)
	})
	t.Run("ridge-estimated", func(t *testing.T) {
		// d > problems.DenseLimit: μ, L, L_f are Lanczos estimates (a
		// smaller grid: each oracle call costs 30 times more here).
		checkBounds(t, ridge(t, 1100, problems.DenseLimit+20, 30, 24), hypergrad.BoundEstimate, true)
	})
}

// TestITDBoundKinds: ITD has a certified bound only where it is AID in
// disguise (L_A = L_B = 0: quadratic), none on ridge (B = diag(e^λ)w varies).
func TestITDBoundKinds(t *testing.T) {
	q := quadratic(t, data.QuadraticOptions{Seed: 25})
	res := estimate(t, &hypergrad.ITD{T: 50}, q, nil)
	if res.Bound.Kind != hypergrad.BoundCertified {
		t.Errorf("ITD on quadratic: %v (%s)", res.Bound.Kind, res.Bound.Note)
	}
	// The same bound as AID-FP at k = t: identical residual.
	aid := estimate(t, &hypergrad.AID{Linear: hypergrad.FixedPoint{Step: res.InnerStep}, T: 50, K: 50}, q, nil)
	if math.Abs(res.Bound.Residual-aid.Bound.Residual) > 1e-9*aid.Bound.Residual {
		t.Errorf("ITD residual %v, AID-FP residual %v", res.Bound.Residual, aid.Bound.Residual)
	}
	r := estimate(t, &hypergrad.ITD{T: 50}, ridge100(t), nil)
	if r.Bound.Kind != hypergrad.BoundNone || !math.IsInf(r.Bound.Value, 1) {
		t.Errorf("ITD on ridge: %v %v", r.Bound.Kind, r.Bound.Value)
	}
}

// TestBoundTightness: on the Ehrhardt–Roberts quadratic with the exact w*,
// the bound with gradient descent on the linear system is about κ ≈ 35
// times the true error (the digest: 34.9–35.4), and conjugate gradients
// give larger ratios, because CG converges faster than its residual shows.
func TestBoundTightness(t *testing.T) {
	p := quadratic(t, data.QuadraticOptions{NumPy: true})
	ref := reference(t, p)
	exact := &hypergrad.Start{W0: ref.W}
	ratio := func(lin hypergrad.LinearSolver, k int) float64 {
		res := estimate(t, &hypergrad.AID{Linear: lin, T: 0, K: k}, p, exact)
		return res.Bound.Value / norm(sub(res.Hypergradient, ref.Hypergradient))
	}
	for _, k := range []int{10, 50, 100, 200} {
		if r := ratio(hypergrad.FixedPoint{}, k); r < 30 || r > 40 {
			t.Errorf("GD k=%d: bound/error = %.3g, want ≈ 35", k, r)
		}
	}
	maxCG := 0.0
	for _, k := range []int{2, 4, 6, 8} {
		maxCG = math.Max(maxCG, ratio(hypergrad.ConjugateGradient{}, k))
	}
	if maxCG < 100 {
		t.Errorf("CG: largest bound/error %.3g, want hundreds", maxCG)
	}
	t.Logf("GD ratio at k=100: %.4g; CG largest ratio %.4g", ratio(hypergrad.FixedPoint{}, 100), maxCG)
}

// TestFrozenADEqualsSolvers: back-propagating through frozen gradient-descent
// (heavy-ball) steps is the fixed-point (heavy-ball) iteration on the linear
// system (Ehrhardt & Roberts 2024 §3.2).
func TestFrozenADEqualsSolvers(t *testing.T) {
	p := logregTest(t)
	for _, pair := range [][2]hypergrad.LinearSolver{
		{hypergrad.FrozenAD{}, hypergrad.FixedPoint{}},
		{hypergrad.FrozenAD{Inner: hypergrad.HeavyBall{}}, hypergrad.HeavyBallLinear{}},
	} {
		a := estimate(t, &hypergrad.AID{Linear: pair[0], T: 30, K: 40}, p, nil)
		b := estimate(t, &hypergrad.AID{Linear: pair[1], T: 30, K: 40}, p, nil)
		if e := relErr(a.Hypergradient, b.Hypergradient); !(e <= 1e-12) {
			t.Errorf("%v vs %v: relative difference %.3g", pair[0], pair[1], e)
		}
		if math.Abs(a.LinearResidual-b.LinearResidual) > 1e-10*b.LinearResidual {
			t.Errorf("%v residual %v vs %v", pair[0], a.LinearResidual, b.LinearResidual)
		}
	}
}

func TestFISTA(t *testing.T) {
	p := logregTest(t)
	ref := reference(t, p)
	res := estimate(t, &hypergrad.AID{Inner: hypergrad.FISTA{}, T: 5000, K: 100, TolInner: 1e-13, TolLinear: 1e-13}, p, nil)
	if res.InnerStatus != hypergrad.Converged || relErr(res.Hypergradient, ref.Hypergradient) > 1e-10 {
		t.Errorf("FISTA: %v after %d steps, relative error %.3g", res.InnerStatus, res.InnerIters, relErr(res.Hypergradient, ref.Hypergradient))
	}
	if _, err := (&hypergrad.ITD{Inner: hypergrad.Newton{}, T: 5}).Estimate(context.Background(), p, nil); !errors.Is(err, hypergrad.ErrInvalidSettings) {
		t.Errorf("ITD through Newton: %v", err)
	}
}

// TestTarget: on logreg with n = 2000, d = 200, κ = L/μ ≈ 1e3 (generator
// κ = 1e3, e^λ = L_X/1e3 so that the spec's constants give κ ≈ 1e3), a target
// of 1e-6 relative is met (true error ≤ 1e-6) with each inner solver, at a
// cost in oracle calls compared with the cheapest (t, k) of a grid that
// meets it with the same solvers (chosen knowing the exact answer; k ∈ {5 …
// 300}). With Newton, the default inner solver of a target, the target costs
// at most 1.3× that grid point (measured: 215 against 182 calls); with
// FISTA, heavy ball and gradient descent at most 2× (measured 1.51, 1.42,
// 1.76: the a posteriori bound's ε̂ coefficient overestimates the
// sensitivity of ĥ to the slow modes these solvers leave, so they run
// further than the error needs).
func TestTarget(t *testing.T) {
	o := synthOpts(2000, 200, 1e3, 0)
	o.Lambda = math.Log(0.2633 / 1e3)
	s, err := data.SynthLogreg(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := problems.NewLogreg(newBackend(t), s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, _ := p.Constants()
	if k := c.Kappa(); k < 900 || k > 1100 {
		t.Fatalf("κ = %v", k)
	}
	ref := reference(t, p)
	ks := []int{5, 10, 20, 50, 100, 150, 200, 300}
	for _, tc := range []struct {
		in    hypergrad.InnerSolver // nil: the target's default, Newton
		ts    []int
		ratio float64
	}{
		{nil, []int{1, 2, 3, 4, 5, 6, 7, 8, 10}, 1.3},
		{hypergrad.FISTA{}, []int{10, 20, 50, 100, 200, 300, 400, 500, 700, 1000, 2000}, 2},
		{hypergrad.HeavyBall{}, []int{10, 20, 50, 100, 200, 300, 400, 500, 700, 1000, 2000}, 2},
		{hypergrad.GradientDescent{}, []int{1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000}, 2},
	} {
		res := estimate(t, &hypergrad.AID{Inner: tc.in, T: 100000, K: 5000, Target: &hypergrad.Target{Rel: 1e-6}}, p, nil)
		trueRel := relErr(res.Hypergradient, ref.Hypergradient)
		if !res.TargetMet || res.Status == hypergrad.IterationLimit || !(trueRel <= 1e-6) || res.Bound.Kind != hypergrad.BoundCertified {
			t.Fatalf("%v target: met %v, status %v, true relative error %.3g, bound %v", tc.in, res.TargetMet, res.Status, trueRel, res.Bound)
		}
		grid := tc.in
		if grid == nil {
			grid = hypergrad.Newton{}
		}
		// The cheapest grid point meeting the target, found with snapshots
		// of the hypergradient at every k of the grid (one run per t); a
		// point costs the run's calls less the linear iterations past k.
		best, bt, bk := math.MaxInt, 0, 0
		for _, tt := range tc.ts {
			e := &hypergrad.AID{Inner: grid, T: tt, K: ks[len(ks)-1]}
			var errs map[int]float64
			e.Monitor = snapshots(t, p, ks, ref.Hypergradient, &errs)
			r := estimate(t, e, p, nil)
			for _, k := range ks {
				if cost := r.Counts.Oracles() - r.LinearIters + k; errs[k] <= 1e-6 && cost < best {
					best, bt, bk = cost, tt, k
				}
			}
		}
		got := res.Counts.Oracles()
		t.Logf("%v: target %d oracle calls in %d rounds (bound %.3g relative, true %.3g); cheapest grid point (t, k) = (%d, %d): %d calls; ratio %.3g",
			grid, got, res.Rounds, res.Bound.Relative(norm(res.Hypergradient)), trueRel, bt, bk, best, float64(got)/float64(best))
		if best == math.MaxInt || float64(got) > tc.ratio*float64(best) {
			t.Errorf("%v: target cost %d oracle calls, more than %g× the cheapest grid point (%d)", grid, got, tc.ratio, best)
		}
	}

	// An unreachable target ends with a clear status, not a loop.
	res := estimate(t, &hypergrad.AID{Inner: hypergrad.FISTA{}, T: 100000, K: 5000, Target: &hypergrad.Target{Rel: 1e-20}}, p, nil)
	if res.TargetMet || res.Status != hypergrad.IterationLimit || res.Counts.InnerGrads > 20000 {
		t.Errorf("unreachable target: met %v, status %v, %d gradients", res.TargetMet, res.Status, res.Counts.InnerGrads)
	}
}

// snapshots returns a monitor that records the relative error of the
// hypergradient at the given linear iterations (∇_λE = 0 for logreg).
func snapshots(t *testing.T, p bilevel.Problem, ks []int, ref []float64, out *map[int]float64) hypergrad.Monitor {
	b := p.Backend()
	*out = map[int]float64{}
	h := make([]float64, p.HyperDim())
	v, err := b.NewVector(p.HyperDim())
	if err != nil {
		t.Fatal(err)
	}
	return func(pr hypergrad.Progress) error {
		if pr.Phase != hypergrad.PhaseLinear {
			return nil
		}
		for _, k := range ks {
			if pr.Iter == k {
				if err := p.CrossVec(v, pr.X); err != nil {
					return err
				}
				b.Download(h, v)
				for i := range h {
					h[i] = -h[i]
				}
				(*out)[k] = relErr(h, ref)
			}
		}
		return nil
	}
}

func TestNoBound(t *testing.T) {
	p := newDiag(t, []float64{1, 2, 3}, []float64{0, 1, 0}, []float64{1, 1, 1})
	res := estimate(t, &hypergrad.AID{T: 10, K: 3}, p, nil)
	if res.Bound.Kind != hypergrad.BoundNone || res.Bound.Note == "" {
		t.Errorf("problem without CrossNormer: bound %v (%q)", res.Bound.Kind, res.Bound.Note)
	}
	_, err := (&hypergrad.AID{T: 10, K: 3, Target: &hypergrad.Target{Rel: 1e-3}}).Estimate(context.Background(), p, nil)
	if !errors.Is(err, hypergrad.ErrNoBound) {
		t.Errorf("target without a bound: %v", err)
	}
	if _, err := (&hypergrad.AID{T: 10, K: 3, Target: &hypergrad.Target{}}).Estimate(context.Background(), p, nil); !errors.Is(err, hypergrad.ErrInvalidSettings) {
		t.Errorf("empty target: %v", err)
	}
}
