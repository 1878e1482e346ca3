package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// TestZeroBudgets: estimators that would run nothing are ErrInvalidSettings
// errors naming what to set; T = 0 with K ≥ 1 (a warm start at w*) is kept.
func TestZeroBudgets(t *testing.T) {
	p := ridge(t, 200, 10, 10, 1)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		e    hypergrad.Estimator
		want string
	}{
		{"zero AID", &hypergrad.AID{}, "set T"},
		{"AID T = K = 0 with tolerances", &hypergrad.AID{TolInner: 1e-6, TolLinear: 1e-6}, "set T"},
		{"target without inner budget", &hypergrad.AID{K: 10, Target: &hypergrad.Target{Rel: 1e-3}}, "T ≥ 1 and K ≥ 1"},
		{"target without linear budget", &hypergrad.AID{T: 10, Target: &hypergrad.Target{Rel: 1e-3}}, "T ≥ 1 and K ≥ 1"},
		{"zero ITD", &hypergrad.ITD{}, "T ≥ 1"},
	} {
		res, err := tc.e.Estimate(ctx, p, nil)
		var he *hypergrad.Error
		if !errors.Is(err, hypergrad.ErrInvalidSettings) || !errors.As(err, &he) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want an *Error wrapping ErrInvalidSettings that says %q", tc.name, err, tc.want)
			continue
		}
		if res == nil || res.Status != hypergrad.Failed {
			t.Errorf("%s: result %+v, want status failed", tc.name, res)
		}
	}
	// T = 0, K ≥ 1 from w* solves the linear system at w*: the reference.
	ref := reference(t, p)
	res, err := (&hypergrad.AID{T: 0, K: 50}).Estimate(ctx, p, &hypergrad.Start{W0: ref.W})
	if err != nil {
		t.Fatalf("T = 0 with a warm start: %v", err)
	}
	if e := norm(sub(res.Hypergradient, ref.Hypergradient)) / norm(ref.Hypergradient); e > 1e-10 {
		t.Errorf("T = 0 with a warm start at w*: relative error %.3g, want ≤ 1e-10", e)
	}
}

// TestDivergedSteps: explicit step sizes that make an iteration diverge
// without overflowing within the budget (growth 1.5 per step: 1.5²⁰⁰ ≈ 1e35)
// are ErrDiverged, in the inner solve, ITD and the linear solve (through
// krylov.ErrDiverged); before, they completed with relative errors ~1e34.
func TestDivergedSteps(t *testing.T) {
	p := ridge(t, 200, 10, 10, 1)
	c := exactConstants(t, p)
	long := 2.5 / c.L.Value // |1 − αL| = 1.5
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		e     hypergrad.Estimator
		phase string
	}{
		{"aid gd", &hypergrad.AID{Inner: hypergrad.GradientDescent{Step: long}, T: 200, K: 5}, "inner"},
		{"aid gd with tolerance", &hypergrad.AID{Inner: hypergrad.GradientDescent{Step: long}, T: 200, K: 5, TolInner: 1e-12}, "inner"},
		{"itd gd", &hypergrad.ITD{Inner: hypergrad.GradientDescent{Step: long}, T: 200}, "inner"},
		{"aid hb", &hypergrad.AID{Inner: hypergrad.HeavyBall{Step: long, Momentum: 0.2}, T: 200, K: 5}, "inner"},
		{"aid fista", &hypergrad.AID{Inner: hypergrad.FISTA{Step: 1.2 * long}, T: 200, K: 5}, "inner"},
		{"aid fp linear", &hypergrad.AID{Linear: hypergrad.FixedPoint{Step: long}, T: 100, K: 200}, "linear"},
	} {
		res, err := tc.e.Estimate(ctx, p, nil)
		var he *hypergrad.Error
		if !errors.Is(err, hypergrad.ErrDiverged) || !errors.As(err, &he) {
			st := "no result"
			if res != nil {
				st = res.Status.String()
			}
			t.Errorf("%s: error %v (%s), want ErrDiverged", tc.name, err, st)
			continue
		}
		if he.Phase != tc.phase || errors.Is(err, hypergrad.ErrNonFinite) {
			t.Errorf("%s: %v: want phase %s and no ErrNonFinite (the iterates are finite)", tc.name, err, tc.phase)
		}
	}
	// The admissible step 2/(L+μ) of the same problem does not trip it.
	if _, err := (&hypergrad.AID{T: 200, K: 20}).Estimate(ctx, p, nil); err != nil {
		t.Errorf("default steps: %v", err)
	}
}

// TestNewtonCGCapped: inexact Newton on logreg with d > n and e^λ ≈ 1e-87
// (A singular to working precision, so CG never meets its forcing
// tolerance) ends with at most DefaultMaxCG(d) CG iterations per step;
// MaxCG lowers the cap.
func TestNewtonCGCapped(t *testing.T) {
	if got := hypergrad.DefaultMaxCG(10); got != 100 {
		t.Errorf("DefaultMaxCG(10) = %d, want 100", got)
	}
	if got := hypergrad.DefaultMaxCG(600); got != 1200 {
		t.Errorf("DefaultMaxCG(600) = %d, want 1200", got)
	}
	o := synthOpts(20, 60, 10, 2)
	o.Lambda = -200
	s, err := data.SynthLogreg(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := problems.NewLogreg(newBackend(t), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	const steps, k = 4, 5
	for _, tc := range []struct {
		maxCG, cap int
	}{{0, hypergrad.DefaultMaxCG(60)}, {3, 3}} {
		res, err := (&hypergrad.AID{Inner: hypergrad.Newton{MaxCG: tc.maxCG}, Linear: hypergrad.FixedPoint{Step: 1}, T: steps, K: k}).Estimate(context.Background(), p, nil)
		if err != nil && !errors.Is(err, hypergrad.ErrDiverged) && !errors.Is(err, hypergrad.ErrNotPositiveDefinite) {
			t.Fatalf("MaxCG %d: %v", tc.maxCG, err)
		}
		if res == nil {
			t.Fatalf("MaxCG %d: no result", tc.maxCG)
		}
		// CG products of ≤ steps Newton steps, then K linear steps and the bound's one.
		if hv := res.Counts.HessVecs; hv > steps*tc.cap+k+1 {
			t.Errorf("MaxCG %d: %d Hessian-vector products, want ≤ %d", tc.maxCG, hv, steps*tc.cap+k+1)
		}
		if res.InnerIters > steps {
			t.Errorf("MaxCG %d: %d Newton steps, want ≤ %d", tc.maxCG, res.InnerIters, steps)
		}
	}
}

// TestBoundNeverNaN: ridge with n < d and λ = −700 has μ = e^λ ≈ 1e-304 (a
// proven bound); ε = ‖∇g‖/μ overflows and a bound term is Inf·0. The bound
// is then of kind none, never a NaN labelled certified.
func TestBoundNeverNaN(t *testing.T) {
	o := synthOpts(20, 60, 10, 3)
	o.Lambda = -700
	s, err := data.SynthRidge(o)
	if err != nil {
		t.Fatal(err)
	}
	p := newRidgeFrom(t, s)
	res, err := (&hypergrad.AID{T: 20, K: 5}).Estimate(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bound.Kind != hypergrad.BoundNone || !strings.Contains(res.Bound.Note, "floating point") {
		t.Errorf("a posteriori bound %+v: want kind none with a note", res.Bound)
	}
	for _, b := range []hypergrad.Bound{res.Bound, res.APriori} {
		if math.IsNaN(b.Value) || (b.Kind != hypergrad.BoundNone && !(b.Value >= 0)) {
			t.Errorf("bound %+v: want kind none or a value ≥ 0", b)
		}
	}
}
