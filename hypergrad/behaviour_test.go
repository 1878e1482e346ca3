package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// diag is a user-defined problem with a diagonal Hessian:
//
//	g(w,λ) = ½ Σ_j m_j w_j² − λᵀw,   E(w) = ½‖w − c‖²,
//
// so A = diag(m), B = −I, w* = λ/m, q = (w* − c)/m and ∇f = −Bᵀq = q. With a
// non-positive m_j it is not convex, which the tests use to break CG.
type diag struct {
	b       backend.Backend
	m, c    backend.Vector
	mh, lam []float64
	tmp     backend.Vector
	lin     bool
}

func newDiag(t testing.TB, m, c, lam []float64) *diag {
	b := newBackend(t)
	p := &diag{b: b, m: bileveltest.Vec(t, b, m), c: bileveltest.Vec(t, b, c), mh: m,
		lam: append([]float64(nil), lam...), tmp: bileveltest.Vec(t, b, make([]float64, len(m)))}
	return p
}

func (p *diag) Backend() backend.Backend { return p.b }
func (p *diag) InnerDim() int            { return len(p.mh) }
func (p *diag) HyperDim() int            { return len(p.mh) }
func (p *diag) Hyper(dst []float64)      { copy(dst, p.lam) }
func (p *diag) SetHyper(l []float64) error {
	copy(p.lam, l)
	return nil
}
func (p *diag) InnerValue(w backend.Vector) (float64, error) {
	p.b.MulElem(p.tmp, 0.5, p.m, w, 0)
	v := p.b.Dot(p.tmp, w)
	p.b.Upload(p.tmp, p.lam)
	return v - p.b.Dot(p.tmp, w), p.b.Err()
}
func (p *diag) InnerGrad(dst, w backend.Vector) error {
	p.b.Upload(dst, p.lam)
	p.b.MulElem(dst, 1, p.m, w, -1)
	return p.b.Err()
}
func (p *diag) Linearize(backend.Vector) error { p.lin = true; return nil }
func (p *diag) HessVec(dst, v backend.Vector) error {
	p.b.MulElem(dst, 1, p.m, v, 0)
	return p.b.Err()
}
func (p *diag) CrossVec(dst, v backend.Vector) error {
	p.b.Axpby(-1, v, 0, dst)
	return p.b.Err()
}
func (p *diag) OuterValue(w backend.Vector) (float64, error) {
	p.b.Copy(p.tmp, w)
	p.b.Axpy(-1, p.c, p.tmp)
	n := p.b.Nrm2(p.tmp)
	return 0.5 * n * n, p.b.Err()
}
func (p *diag) OuterGrad(dst, w backend.Vector) error {
	p.b.Copy(dst, w)
	p.b.Axpy(-1, p.c, dst)
	return p.b.Err()
}
func (p *diag) OuterHyperGrad(dst, _ backend.Vector) error {
	p.b.Fill(dst, 0)
	return p.b.Err()
}
func (p *diag) Constants() (bilevel.Constants, error) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range p.mh {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return bilevel.Constants{Mu: bilevel.Constant{Value: lo, Kind: bilevel.Exact},
		L: bilevel.Constant{Value: hi, Kind: bilevel.Exact}}, nil
}

func TestUserDefinedProblem(t *testing.T) {
	m, c, lam := []float64{1, 2, 4, 8}, []float64{1, -1, 0.5, 0}, []float64{0.3, -0.2, 1, 2}
	p := newDiag(t, m, c, lam)
	bileveltest.CheckOracles(t, p, []float64{0.1, 0.2, -0.3, 0.4}, bileveltest.Options{})
	want := make([]float64, 4)
	for j := range want {
		want[j] = (lam[j]/m[j] - c[j]) / m[j]
	}
	for _, e := range []hypergrad.Estimator{
		&hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 200, K: 10},
		&hypergrad.AID{Inner: hypergrad.GradientDescent{}, Linear: hypergrad.FixedPoint{}, T: 300, K: 300},
		&hypergrad.ITD{T: 300},
	} {
		res := estimate(t, e, p, nil)
		if err := relErr(res.Hypergradient, want); !(err <= 1e-12) {
			t.Errorf("%v: relative error %.3g", e, err)
		}
	}
}

func TestStatus(t *testing.T) {
	p := ridge100(t)
	for _, tc := range []struct {
		aid               hypergrad.AID
		inner, linear, st hypergrad.Status
	}{
		{hypergrad.AID{T: 5, K: 5}, hypergrad.Completed, hypergrad.Completed, hypergrad.Completed},
		{hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 1000, K: 100, TolInner: 1e-10, TolLinear: 1e-10},
			hypergrad.Converged, hypergrad.Converged, hypergrad.Converged},
		{hypergrad.AID{T: 3, K: 100, TolInner: 1e-10, TolLinear: 1e-10},
			hypergrad.IterationLimit, hypergrad.Converged, hypergrad.IterationLimit},
		{hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 1000, K: 2, TolInner: 1e-10},
			hypergrad.Converged, hypergrad.Completed, hypergrad.Completed},
	} {
		res := estimate(t, &tc.aid, p, nil)
		if res.InnerStatus != tc.inner || res.LinearStatus != tc.linear || res.Status != tc.st {
			t.Errorf("%+v: statuses %v/%v/%v, want %v/%v/%v", tc.aid, res.InnerStatus, res.LinearStatus, res.Status, tc.inner, tc.linear, tc.st)
		}
		if tc.aid.TolInner > 0 && res.InnerStatus == hypergrad.Converged && !(res.InnerResidual <= tc.aid.TolInner) {
			t.Errorf("converged with ‖∇g‖ = %.3g > tol", res.InnerResidual)
		}
		if tc.aid.TolInner == 0 && res.InnerIters != tc.aid.T || tc.aid.TolLinear == 0 && res.LinearIters != tc.aid.K {
			t.Errorf("without tolerances ran %d/%d iterations, want %d/%d", res.InnerIters, res.LinearIters, tc.aid.T, tc.aid.K)
		}
	}
}

func TestCountsAndResult(t *testing.T) {
	p := ridge100(t)
	// K Hessian-vector products, the last of which is the residual of q_K
	// that the error bound uses; no Linearize: ridge records the
	// linearization with the last inner gradient (bilevel.LinearizationStore).
	res := estimate(t, &hypergrad.AID{Linear: hypergrad.FixedPoint{}, T: 7, K: 5}, p, nil)
	want := hypergrad.Counts{InnerGrads: 8, HessVecs: 5, CrossVecs: 1, OuterGrads: 1, OuterHyperGrads: 1, Linearizations: 0}
	if res.Counts != want {
		t.Errorf("AID-FP counts %+v, want %+v", res.Counts, want)
	}
	res = estimate(t, &hypergrad.AID{T: 7, K: 5}, p, nil)
	// CG from zero: one product per iteration, and one for the bound (A q_4,
	// in one call with the last iteration's A p: HessVecPair)
	want.HessVecs = 6
	if res.Counts != want {
		t.Errorf("AID-CG counts %+v, want %+v", res.Counts, want)
	}
	// ridge records its linearizations during the forward pass: no
	// Linearize in the reverse pass.
	res = estimate(t, &hypergrad.ITD{T: 7, Truncate: 3}, p, nil)
	want = hypergrad.Counts{InnerGrads: 8, HessVecs: 3, CrossVecs: 3, OuterGrads: 1, OuterHyperGrads: 1, Linearizations: 0}
	if res.Counts != want || res.LinearIters != 3 || res.Method != "titd3(gd)" {
		t.Errorf("truncated ITD: %s counts %+v, reverse steps %d", res.Method, res.Counts, res.LinearIters)
	}
	if res.Time.Total <= 0 || res.Time.Inner <= 0 || res.Time.Total < res.Time.Inner+res.Time.Linear+res.Time.Cross {
		t.Errorf("timings %+v", res.Time)
	}
	if len(res.W) != 20 || res.V != nil || len(res.Hypergradient) != 20 {
		t.Errorf("result lengths W %d V %d h %d", len(res.W), len(res.V), len(res.Hypergradient))
	}
}

// TestTruncatedITD: truncating to all steps is full ITD; truncation changes
// the estimate and moves it away from full ITD as K shrinks.
func TestTruncatedITD(t *testing.T) {
	p := ridge100(t)
	full := estimate(t, &hypergrad.ITD{T: 60}, p, nil)
	same := estimate(t, &hypergrad.ITD{T: 60, Truncate: 60}, p, nil)
	if relErr(same.Hypergradient, full.Hypergradient) != 0 {
		t.Error("Truncate = T differs from full ITD")
	}
	prev := 0.0
	for _, k := range []int{40, 10, 1} {
		tr := estimate(t, &hypergrad.ITD{T: 60, Truncate: k}, p, nil)
		d := relErr(tr.Hypergradient, full.Hypergradient)
		if !(d > prev) {
			t.Errorf("K = %d: distance to full ITD %.3g not above %.3g", k, d, prev)
		}
		prev = d
	}
}

func TestWarmStart(t *testing.T) {
	p := ridge100(t)
	aid := &hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 1000, K: 100, TolInner: 1e-9, TolLinear: 1e-9}
	cold := estimate(t, aid, p, nil)
	warm := estimate(t, aid, p, &hypergrad.Start{W0: cold.W, V0: cold.V})
	if warm.InnerIters != 0 || warm.LinearIters != 0 {
		t.Errorf("warm start from the converged point took %d/%d iterations", warm.InnerIters, warm.LinearIters)
	}
	if e := relErr(warm.Hypergradient, cold.Hypergradient); e > 1e-15 {
		t.Errorf("warm and cold estimates differ by %.3g", e)
	}
	// A nearby λ: the warm start needs fewer iterations than a cold one.
	lam := make([]float64, p.HyperDim())
	p.Hyper(lam)
	for j := range lam {
		lam[j] += 0.01
	}
	if err := p.SetHyper(lam); err != nil {
		t.Fatal(err)
	}
	cold2 := estimate(t, aid, p, nil)
	warm2 := estimate(t, aid, p, &hypergrad.Start{W0: cold.W, V0: cold.V})
	if warm2.InnerIters >= cold2.InnerIters || warm2.LinearIters >= cold2.LinearIters {
		t.Errorf("warm start %d/%d iterations, cold %d/%d", warm2.InnerIters, warm2.LinearIters, cold2.InnerIters, cold2.LinearIters)
	}
}

func TestDeterministic(t *testing.T) {
	p := logregTest(t)
	for _, e := range []hypergrad.Estimator{&hypergrad.AID{T: 50, K: 20}, &hypergrad.ITD{Inner: hypergrad.HeavyBall{}, T: 50}} {
		a, b := estimate(t, e, p, nil), estimate(t, e, p, nil)
		for i := range a.Hypergradient {
			if math.Float64bits(a.Hypergradient[i]) != math.Float64bits(b.Hypergradient[i]) {
				t.Fatalf("%v: run-to-run difference at %d", e, i)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	p := ridge100(t)
	ctx := context.Background()
	check := func(name string, e hypergrad.Estimator, start *hypergrad.Start, target error) {
		t.Helper()
		res, err := e.Estimate(ctx, p, start)
		if !errors.Is(err, target) {
			t.Errorf("%s: error %v, want %v", name, err, target)
			return
		}
		var he *hypergrad.Error
		if !errors.As(err, &he) {
			t.Errorf("%s: %T is not a *hypergrad.Error", name, err)
		}
		if res != nil && res.Status != hypergrad.Failed {
			t.Errorf("%s: status %v, want failed", name, res.Status)
		}
	}
	check("negative T", &hypergrad.AID{T: -1, K: 1}, nil, hypergrad.ErrInvalidSettings)
	check("negative tolerance", &hypergrad.AID{T: 1, K: 1, TolLinear: -1}, nil, hypergrad.ErrInvalidSettings)
	check("momentum 1", &hypergrad.AID{Inner: hypergrad.HeavyBall{Momentum: 1}, T: 1, K: 1}, nil, hypergrad.ErrInvalidSettings)
	check("NaN step", &hypergrad.ITD{Inner: hypergrad.GradientDescent{Step: math.NaN()}, T: 1}, nil, hypergrad.ErrInvalidSettings)
	check("short W0", &hypergrad.AID{T: 1, K: 1}, &hypergrad.Start{W0: []float64{1}}, hypergrad.ErrShape)
	check("short V0", &hypergrad.AID{T: 1, K: 1}, &hypergrad.Start{V0: make([]float64, 19)}, hypergrad.ErrShape)
	w0 := make([]float64, 20)
	w0[3] = math.Inf(1)
	check("Inf W0", &hypergrad.ITD{T: 1}, &hypergrad.Start{W0: w0}, hypergrad.ErrNonFinite)
	c, _ := p.Constants()
	check("divergent step", &hypergrad.AID{Inner: hypergrad.GradientDescent{Step: 10 / c.L.Value}, T: 2000, K: 1}, nil, hypergrad.ErrDiverged)
	check("divergent step with tolerance", &hypergrad.ITD{Inner: hypergrad.GradientDescent{Step: 10 / c.L.Value}, T: 2000, TolInner: 1e-8}, nil, hypergrad.ErrDiverged)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (&hypergrad.AID{T: 10, K: 10}).Estimate(cancelled, p, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	stop := errors.New("enough")
	calls := 0
	mon := func(pr hypergrad.Progress) error {
		calls++
		if pr.Phase == hypergrad.PhaseLinear && pr.Iter == 3 {
			return stop
		}
		return nil
	}
	if _, err := (&hypergrad.AID{T: 4, K: 10, Monitor: mon}).Estimate(ctx, p, nil); !errors.Is(err, stop) || calls != 5+4 {
		t.Errorf("monitor stop: %v after %d calls", err, calls)
	}

	// CG on an indefinite operator breaks down: pᵀAp = 1 − 4 < 0 for p = (1, 1).
	nd := newDiag(t, []float64{1, -4}, []float64{-1, -1}, []float64{0, 0})
	_, err := (&hypergrad.AID{Inner: hypergrad.GradientDescent{Step: 0.1}, T: 0, K: 5}).Estimate(ctx, nd, nil)
	if !errors.Is(err, hypergrad.ErrNotPositiveDefinite) {
		t.Errorf("indefinite operator: %v", err)
	}
	// Default steps need μ > 0.
	_, err = (&hypergrad.AID{T: 1, K: 1}).Estimate(ctx, nd, nil)
	if !errors.Is(err, hypergrad.ErrInvalidSettings) {
		t.Errorf("default steps with μ < 0: %v", err)
	}
	if _, err := (&hypergrad.AID{}).Estimate(ctx, nil, nil); !errors.Is(err, hypergrad.ErrInvalidSettings) {
		t.Errorf("nil problem: %v", err)
	}
}

// TestNoAllocationsPerIteration: the allocations of an estimate do not grow
// with the number of iterations (ITD with fixed truncation stores K+1
// iterates whatever T is).
func TestNoAllocationsPerIteration(t *testing.T) {
	p := ridge100(t)
	ctx := context.Background()
	for _, mk := range []func(n int) hypergrad.Estimator{
		func(n int) hypergrad.Estimator { return &hypergrad.AID{T: n, K: n} },
		func(n int) hypergrad.Estimator {
			return &hypergrad.AID{Inner: hypergrad.HeavyBall{}, Linear: hypergrad.HeavyBallLinear{}, T: n, K: n, TolInner: 1e-300, TolLinear: 1e-300}
		},
		func(n int) hypergrad.Estimator { return &hypergrad.AID{Linear: hypergrad.FixedPoint{}, T: n, K: n} },
		func(n int) hypergrad.Estimator {
			return &hypergrad.AID{Inner: hypergrad.Newton{}, Linear: hypergrad.ConjugateGradient{Jacobi: true}, T: n / 10, K: n}
		},
		func(n int) hypergrad.Estimator {
			return &hypergrad.ITD{Inner: hypergrad.HeavyBall{}, T: n, Truncate: 5}
		},
	} {
		allocs := func(n int) float64 {
			e := mk(n)
			return testing.AllocsPerRun(5, func() {
				if _, err := e.Estimate(ctx, p, nil); err != nil {
					t.Fatal(err)
				}
			})
		}
		if a, b := allocs(10), allocs(40); a != b {
			t.Errorf("%v: %v allocations at 10 iterations, %v at 40", mk(1), a, b)
		}
	}
}

// TestCheckpointedITD: checkpointed ITD gives the bit-identical
// hypergradient with O(√t·d) device memory and at most t more gradients,
// through gradient descent, heavy ball and FISTA (whose reverse step also
// needs y_{s−1}, across segment boundaries), truncated or not.
func TestCheckpointedITD(t *testing.T) {
	p := logregTest(t)
	b := p.Backend()
	for _, tc := range []struct {
		inner    hypergrad.InnerSolver
		t, trunc int
	}{
		{hypergrad.GradientDescent{}, 400, 0}, {hypergrad.HeavyBall{}, 400, 0},
		{hypergrad.GradientDescent{}, 401, 37}, {hypergrad.HeavyBall{}, 97, 50}, {hypergrad.GradientDescent{}, 1, 0},
		{hypergrad.FISTA{}, 400, 0}, {hypergrad.FISTA{}, 401, 37}, {hypergrad.FISTA{}, 97, 50}, {hypergrad.FISTA{}, 1, 0},
		{hypergrad.FISTA{}, 2, 0}, {hypergrad.FISTA{}, 50, 49}, {hypergrad.FISTA{}, 64, 16},
	} {
		peak := func(e *hypergrad.ITD) (*hypergrad.Result, int64) {
			base := b.Allocated()
			top := base
			e.Monitor = func(hypergrad.Progress) error { top = max(top, b.Allocated()); return nil }
			return estimate(t, e, p, nil), top - base
		}
		plain, mPlain := peak(&hypergrad.ITD{Inner: tc.inner, T: tc.t, Truncate: tc.trunc})
		ck, mCk := peak(&hypergrad.ITD{Inner: tc.inner, T: tc.t, Truncate: tc.trunc, Checkpoint: true})
		for i := range plain.Hypergradient {
			if math.Float64bits(plain.Hypergradient[i]) != math.Float64bits(ck.Hypergradient[i]) {
				t.Fatalf("%v t=%d K=%d: checkpointed hypergradient differs at %d: %v vs %v", tc.inner, tc.t, tc.trunc, i, ck.Hypergradient[i], plain.Hypergradient[i])
			}
		}
		steps := plain.LinearIters
		if extra := ck.Counts.InnerGrads - plain.Counts.InnerGrads; extra > steps {
			t.Errorf("%v t=%d: %d recomputed gradients for %d reverse steps", tc.inner, tc.t, extra, steps)
		}
		if tc.t == 400 && tc.trunc == 0 && !(mCk*4 < mPlain) {
			t.Errorf("%v t=400: checkpointed peak %d bytes, stored %d", tc.inner, mCk, mPlain)
		}
		t.Logf("%s t=%d: peak device bytes %d → %d, gradients %d → %d", ck.Method, tc.t, mPlain, mCk, plain.Counts.InnerGrads, ck.Counts.InnerGrads)
	}
}

// TestITDRecordedLinearizations: recording the linearization during the
// forward pass (bilevel.LinearizationStore) gives the bit-identical ITD
// hypergradient without a Linearize per reverse step.
func TestITDRecordedLinearizations(t *testing.T) {
	for _, p := range []bilevel.Problem{logregTest(t), ridge100(t)} {
		for _, tc := range []struct {
			inner    hypergrad.InnerSolver
			t, trunc int
		}{{hypergrad.GradientDescent{}, 60, 0}, {hypergrad.HeavyBall{}, 60, 0}, {hypergrad.GradientDescent{}, 61, 9}, {hypergrad.HeavyBall{}, 40, 7}} {
			cached := estimate(t, &hypergrad.ITD{Inner: tc.inner, T: tc.t, Truncate: tc.trunc}, p, nil)
			plain := estimate(t, &hypergrad.ITD{Inner: tc.inner, T: tc.t, Truncate: tc.trunc, MaxCacheBytes: -1}, p, nil)
			for i := range plain.Hypergradient {
				if math.Float64bits(plain.Hypergradient[i]) != math.Float64bits(cached.Hypergradient[i]) {
					t.Fatalf("%v: recorded linearizations change the hypergradient at %d", cached.Method, i)
				}
			}
			if cached.Counts.Linearizations != 0 || plain.Counts.Linearizations != plain.LinearIters {
				t.Errorf("%v: %d linearizations with recording, %d without", cached.Method, cached.Counts.Linearizations, plain.Counts.Linearizations)
			}
		}
	}
}
