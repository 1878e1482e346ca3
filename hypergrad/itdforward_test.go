package hypergrad_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// zooProblem loads a problem family of the zoo on newBackend.
func zooProblem(t *testing.T, family, src string) bilevel.Problem {
	t.Helper()
	d, err := data.Load(family, src)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := problems.New(newBackend(t), family, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// forwardInners are the inner solvers ITD differentiates through, named.
var forwardInners = []struct {
	name  string
	inner hypergrad.InnerSolver
}{
	{"gd", hypergrad.GradientDescent{}},
	{"hb", hypergrad.HeavyBall{}},
	{"fista", hypergrad.FISTA{}},
}

// TestITDForwardEqualsReverse: forward-mode ITD is the gradient of the
// same f_t as reverse mode: through T ∈ {1, 5, 30} steps of gradient
// descent, heavy ball and FISTA, on ridge, logreg, quadratic, multilogreg
// and tvdenoise, the two agree to 1e-12 relative, from the same iterate
// w_t (bit for bit: the inner solve is shared), and forward mode makes
// exactly h cross products per step and h HessVecs per step after the
// first (Z_0 = 0).
func TestITDForwardEqualsReverse(t *testing.T) {
	probs := []struct {
		name string
		p    bilevel.Problem
	}{
		{"ridge", ridge(t, 60, 6, 10, 3)},
		{"logreg", logreg(t, 60, 6, 10, 3)},
		{"quadratic", quadratic(t, data.QuadraticOptions{M1: 12, M2: 15, D: 6, H: 3, Seed: 2})},
		{"multilogreg", zooProblem(t, "multilogreg", "synth:n=60,m=30,d=5,c=3,density=0.6,seed=1")},
		{"tvdenoise", zooProblem(t, "tvdenoise", "synth:h=4,w=6,alpha=0.2,nu=0.1,seed=1")},
	}
	worst := 0.0
	for _, pc := range probs {
		p, h := pc.p, pc.p.HyperDim()
		for _, in := range forwardInners {
			for _, T := range []int{1, 5, 30} {
				name := fmt.Sprintf("%s/%s/T=%d", pc.name, in.name, T)
				rev := estimate(t, &hypergrad.ITD{Inner: in.inner, T: T}, p, nil)
				fwd := estimate(t, &hypergrad.ITD{Inner: in.inner, T: T, Forward: true}, p, nil)
				e := relErr(fwd.Hypergradient, rev.Hypergradient)
				if !(e <= 1e-12) {
					t.Errorf("%s: forward vs reverse ITD: relative difference %.3g", name, e)
				}
				worst = math.Max(worst, e)
				for i := range rev.W {
					if fwd.W[i] != rev.W[i] {
						t.Fatalf("%s: w_t differs at %d: %v vs %v", name, i, fwd.W[i], rev.W[i])
					}
				}
				c := fwd.Counts
				if c.CrossVecs != h*T || c.HessVecs != h*(T-1) || c.Linearizations != T || fwd.InnerIters != T {
					t.Errorf("%s: counts %+v, %d inner iterations; want %d cross products, %d HessVecs, %d linearizations",
						name, c, fwd.InnerIters, h*T, h*(T-1), T)
				}
				if want := "itd-fwd(" + in.name + ")"; fwd.Method != want || fwd.Status != hypergrad.Completed {
					t.Errorf("%s: method %q status %v, want %q completed", name, fwd.Method, fwd.Status, want)
				}
				if fwd.Bound.Kind != hypergrad.BoundNone {
					t.Errorf("%s: bound %v", name, fwd.Bound.Kind)
				}
			}
		}
	}
	t.Logf("largest relative difference forward vs reverse: %.3g", worst)
}

// TestITDForwardTolInner: with a tolerance the inner solve stops early, and
// forward mode's Z is ∂w_t/∂λ for the t steps taken: it equals reverse
// mode under the same tolerance.
func TestITDForwardTolInner(t *testing.T) {
	p := logreg(t, 60, 6, 10, 3)
	for _, in := range forwardInners {
		rev := estimate(t, &hypergrad.ITD{Inner: in.inner, T: 500, TolInner: 1e-6}, p, nil)
		fwd := estimate(t, &hypergrad.ITD{Inner: in.inner, T: 500, TolInner: 1e-6, Forward: true}, p, nil)
		if fwd.InnerIters != rev.InnerIters || fwd.InnerIters >= 500 || fwd.InnerStatus != hypergrad.Converged {
			t.Fatalf("%s: inner iterations %d (%v), reverse %d", in.name, fwd.InnerIters, fwd.InnerStatus, rev.InnerIters)
		}
		if e := relErr(fwd.Hypergradient, rev.Hypergradient); !(e <= 1e-12) {
			t.Errorf("%s: forward vs reverse ITD with TolInner: %.3g", in.name, e)
		}
	}
}

// frozenCross is frozenConstants (fixed step sizes) that keeps the
// problem's B·u for forward mode.
type frozenCross struct {
	frozenConstants
	ca bilevel.CrossApplier
}

func (f frozenCross) CrossApply(dst, u backend.Vector) error { return f.ca.CrossApply(dst, u) }

// TestITDForwardFiniteDifferences: forward-mode ITD through heavy ball
// (steps fixed) matches central differences of f_t(λ) = E(w_t(λ), λ).
func TestITDForwardFiniteDifferences(t *testing.T) {
	p0 := logreg(t, 60, 6, 10, 3)
	c, err := p0.Constants()
	if err != nil {
		t.Fatal(err)
	}
	p := frozenCross{frozenConstants{p0, c}, p0}
	itd := &hypergrad.ITD{Inner: hypergrad.HeavyBall{}, T: 12, Forward: true}
	got := estimate(t, itd, p, nil)
	lam := make([]float64, p.HyperDim())
	p.Hyper(lam)
	fd := bileveltest.FDGradient(estimatorObjective(t, itd, p), lam)
	if e := relErr(got.Hypergradient, fd); !(e <= 1e-6) {
		t.Errorf("forward ITD vs finite differences of f_t: %.3g", e)
	}
}

// shrinkCross is the shrinkage problem of example_problem_test.go with
// B(w)·u = e^λ ⊙ w ⊙ u at the linearization point.
type shrinkCross struct{ *shrink }

func (p shrinkCross) CrossApply(dst, u backend.Vector) error {
	p.b.MulElem(dst, 1, p.el, p.w, 0)
	p.b.MulElem(dst, 1, dst, u, 0)
	return p.b.Err()
}

// TestITDForwardFISTAConditionOne: with κ = 1 (FISTA's momenta are 0 and
// one step of 1/L solves the problem) forward-mode ITD through FISTA gives
// the closed-form hypergradient −w*(w* − c)/2 of the shrinkage problem at
// λ = 0, as reverse mode does.
func TestITDForwardFISTAConditionOne(t *testing.T) {
	a, c := []float64{1, -2, 0.5, 3}, []float64{0.8, -1, 0, 2.5}
	s, err := newShrink(newBackend(t), a, c, make([]float64, 4)) // A = 2I, μ = L = 2
	if err != nil {
		t.Fatal(err)
	}
	p := shrinkCross{s}
	fwd := estimate(t, &hypergrad.ITD{Inner: hypergrad.FISTA{}, T: 5, Forward: true}, p, nil)
	rev := estimate(t, &hypergrad.ITD{Inner: hypergrad.FISTA{}, T: 5}, p, nil)
	for j := range a {
		w := a[j] / 2
		want := -w * (w - c[j]) / 2
		if d := math.Abs(fwd.Hypergradient[j] - want); !(d <= 1e-15) {
			t.Errorf("λ_%d: forward %v, want %v", j, fwd.Hypergradient[j], want)
		}
		if d := math.Abs(fwd.Hypergradient[j] - rev.Hypergradient[j]); !(d <= 1e-15) {
			t.Errorf("λ_%d: forward %v, reverse %v", j, fwd.Hypergradient[j], rev.Hypergradient[j])
		}
	}
}

// TestITDForwardSettings: forward mode refuses reverse-mode settings,
// Newton, and a problem without B·u, with typed errors, before running.
func TestITDForwardSettings(t *testing.T) {
	p := ridge(t, 40, 4, 10, 1)
	for _, m := range []*hypergrad.ITD{
		{T: 5, Forward: true, Truncate: 2},
		{T: 5, Forward: true, Checkpoint: true},
		{T: 5, Forward: true, Inner: hypergrad.Newton{}},
		{T: 5, Forward: true, MaxBytes: -1},
	} {
		res, err := m.Estimate(context.Background(), p, nil)
		var he *hypergrad.Error
		if !errors.Is(err, hypergrad.ErrInvalidSettings) || !errors.As(err, &he) || he.Phase != "setup" {
			t.Errorf("%+v: error %v, want ErrInvalidSettings in setup", *m, err)
		}
		if res == nil || res.Status != hypergrad.Failed || res.Counts.InnerGrads != 0 {
			t.Errorf("%+v: result %+v, want failed before any gradient", *m, res)
		}
	}
	s, err := newShrink(newBackend(t), []float64{1, 2}, []float64{0, 1}, []float64{0, 0})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&hypergrad.ITD{T: 5, Forward: true}).Estimate(context.Background(), s, nil)
	if !errors.Is(err, bilevel.ErrUnsupported) || !strings.Contains(fmt.Sprint(err), "bilevel.CrossApplier") {
		t.Errorf("problem without CrossApply: error %v, want bilevel.ErrUnsupported naming bilevel.CrossApplier", err)
	}
	if _, err := (&hypergrad.ITD{T: 5}).Estimate(context.Background(), s, nil); err != nil {
		t.Errorf("reverse mode needs no CrossApply: %v", err)
	}
}

// TestITDForwardMemory: MemoryBytes counts the h columns of Z (2h for heavy
// ball and FISTA), 8 vectors of length d and 3 of length h; a MaxBytes one
// byte below it is refused with ErrTooLarge pointing at reverse mode, and
// exactly it runs.
func TestITDForwardMemory(t *testing.T) {
	vb := func(n, d int64) int64 { return n * (8*d + 64) }
	for _, c := range []struct {
		inner hypergrad.InnerSolver
		cols  int64
	}{{hypergrad.GradientDescent{}, 1}, {hypergrad.HeavyBall{}, 2}, {hypergrad.FISTA{}, 2}} {
		m := &hypergrad.ITD{Inner: c.inner, T: 1000, Forward: true}
		if got, want := m.MemoryBytes(1000, 7), vb(c.cols*7+8, 1000)+vb(3, 7); got != want {
			t.Errorf("%v: MemoryBytes(1000, 7) = %d, want %d", m, got, want)
		}
		if got := m.MemoryBytes(1<<40, 1<<40); got != math.MaxInt64 {
			t.Errorf("%v: MemoryBytes saturates at %d", m, got)
		}
	}
	p := ridge(t, 40, 4, 10, 1)
	d, h := p.InnerDim(), p.HyperDim()
	need := (&hypergrad.ITD{Inner: hypergrad.HeavyBall{}, T: 5, Forward: true}).MemoryBytes(d, h)
	_, err := (&hypergrad.ITD{Inner: hypergrad.HeavyBall{}, T: 5, Forward: true, MaxBytes: need - 1}).Estimate(context.Background(), p, nil)
	if !errors.Is(err, hypergrad.ErrTooLarge) || !strings.Contains(fmt.Sprint(err), "use reverse mode") {
		t.Errorf("MaxBytes one below the estimate: %v, want ErrTooLarge pointing at reverse mode", err)
	}
	estimate(t, &hypergrad.ITD{Inner: hypergrad.HeavyBall{}, T: 5, Forward: true, MaxBytes: need}, p, nil)
}

// TestITDForwardCancel: a cancelled context and a monitor's error stop
// forward mode with that error.
func TestITDForwardCancel(t *testing.T) {
	p := ridge(t, 40, 4, 10, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&hypergrad.ITD{T: 5, Forward: true}).Estimate(ctx, p, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	stop := errors.New("stop")
	m := &hypergrad.ITD{T: 50, Forward: true, Monitor: func(pr hypergrad.Progress) error {
		if pr.Iter == 3 {
			return stop
		}
		return nil
	}}
	res, err := m.Estimate(context.Background(), p, nil)
	if !errors.Is(err, stop) || res.Status != hypergrad.Failed || res.Counts.Linearizations != 3 {
		t.Errorf("monitor error: %v, status %v, %d linearizations (want 3)", err, res.Status, res.Counts.Linearizations)
	}
}
