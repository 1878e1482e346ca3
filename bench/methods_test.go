package bench

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// TestEstimatorFactory: every optimisation method builds the estimator it
// names and, converged, matches the exact (dense) reference hypergradient.
func TestEstimatorFactory(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, _, err := NewProblem(b, ProblemSpec{Problem: "ridge", Source: "synth:n=120,d=8,kappa=10,seed=3"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ref, err := p.Reference()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"itd": "itd(gd)", "itd-fwd": "itd-fwd(gd)", "aid-fp": "aid-fp(gd)", "aid-cg": "aid-cg(gd)", "aid-pcg": "aid-pcg(gd)", "aid-hb": "aid-hb(gd)",
		"aid-minres": "aid-minres(gd)", "aid-gmres": "aid-gmres30(gd)", "aid-bicgstab": "aid-bicgstab(gd)", "aid-cgne": "aid-cgne(gd)",
	}
	for _, name := range OptimisationMethods {
		e, err := MethodSpec{Name: name}.Estimator(400, 200)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.String() != want[name] {
			t.Errorf("%s builds %s, want %s", name, e, want[name])
		}
		res, err := e.Estimate(context.Background(), p, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := relErr(res.Hypergradient, ref.Hypergradient); !(got <= 1e-10) {
			t.Errorf("%s: relative error %.3g against the exact reference", name, got)
		}
	}
	// The options reach the estimator.
	tg := &hypergrad.Target{Rel: 1e-6}
	e, err := MethodSpec{Name: "aid-gmres", Inner: "fista", TolInner: 1e-9, TolLinear: 1e-8}.Estimator(50, 7)
	if err != nil {
		t.Fatal(err)
	}
	if a := e.(*hypergrad.AID); a.T != 50 || a.K != 7 || a.TolInner != 1e-9 || a.TolLinear != 1e-8 || a.Inner != (hypergrad.FISTA{}) || a.Target != nil {
		t.Errorf("aid-gmres options: %+v", a)
	}
	e, err = MethodSpec{Name: "aid-cg", Target: tg}.Estimator(50, 7)
	if err != nil || e.(*hypergrad.AID).Target == nil || *e.(*hypergrad.AID).Target != *tg || e.(*hypergrad.AID).Target == tg {
		t.Errorf("aid-cg with a target: %v, %v (want a copy of the target)", e, err)
	}
	e, err = MethodSpec{Name: "itd", Inner: "hb", Truncate: 5, TolInner: 1e-7}.Estimator(30, 99)
	if it := e.(*hypergrad.ITD); err != nil || it.T != 30 || it.Truncate != 5 || it.TolInner != 1e-7 || it.Inner != (hypergrad.HeavyBall{}) {
		t.Errorf("itd options: %+v, %v", it, err)
	}
}

// TestFixedPointFactory: every fixed-point method builds its estimator and,
// converged, matches the exact reference on the gradient-step map of ridge
// (symmetric Jacobian, so aid-cg and aid-minres apply), whose hypergradient
// is the optimisation problem's.
func TestFixedPointFactory(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, _, err := NewProblem(b, ProblemSpec{Problem: "ridge", Source: "synth:n=120,d=8,kappa=10,seed=3"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ref, err := p.Reference()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := bilevel.NewGradientStep(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	want := map[string]string{
		"itd": "itd(fpi)", "itd-fwd": "itd-fwd(fpi)", "aid-fp": "aid-richardson(fpi)", "aid-gmres": "aid-gmres30(fpi)",
		"aid-bicgstab": "aid-bicgstab(fpi)", "aid-cgne": "aid-cgne(fpi)", "aid-cg": "aid-cg(fpi)", "aid-minres": "aid-minres(fpi)",
	}
	for _, name := range FixedPointMethods {
		e, err := MethodSpec{Name: name}.FixedPointEstimator(400, 200, gs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.String() != want[name] {
			t.Errorf("%s builds %s, want %s", name, e, want[name])
		}
		res, err := e.EstimateFixedPoint(context.Background(), gs, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := relErr(res.Hypergradient, ref.Hypergradient); !(got <= 1e-10) {
			t.Errorf("%s: relative error %.3g against the exact reference", name, got)
		}
	}
	e, err := MethodSpec{Name: "aid-bicgstab", TolInner: 1e-9, TolLinear: 1e-8}.FixedPointEstimator(50, 7, gs)
	if a, ok := e.(*hypergrad.FixedPointAID); err != nil || !ok || a.T != 50 || a.K != 7 || a.TolInner != 1e-9 || a.TolLinear != 1e-8 {
		t.Errorf("aid-bicgstab options: %+v, %v", e, err)
	}
	e, err = MethodSpec{Name: "itd", Truncate: 4}.FixedPointEstimator(50, 7, gs)
	if it, ok := e.(*hypergrad.FixedPointITD); err != nil || !ok || it.T != 50 || it.Truncate != 4 || it.Forward {
		t.Errorf("itd options: %+v, %v", e, err)
	}
}

// TestFactoryErrors: unknown names, names that do not apply to the kind of
// problem, and options a method does not take are ErrMethod errors that
// say what is wrong.
func TestFactoryErrors(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	eq, _, err := problems.NewFixedPoint(b, "equilibrium", mustLoad(t, "equilibrium", "synth:n=10,d=3,k=2,c=2,seed=1"))
	if err != nil {
		t.Fatal(err)
	}
	defer eq.Close()
	for _, tc := range []struct {
		m    MethodSpec
		want string
	}{
		{MethodSpec{Name: "aid-lu"}, "unknown method"},
		{MethodSpec{Name: "aid-cg", Inner: "adam"}, "unknown inner"},
		{MethodSpec{Name: "itd-fwd", Truncate: 3}, "no truncation"},
		{MethodSpec{Name: "itd-fwd", Inner: "newton"}, "not newton"},
		{MethodSpec{Name: "itd", Inner: "newton"}, "newton"},
		{MethodSpec{Name: "itd", TolLinear: 1e-3}, "linear"},
		{MethodSpec{Name: "itd", Target: &hypergrad.Target{Rel: 1e-3}}, "target"},
		{MethodSpec{Name: "aid-cg", Truncate: 3}, "truncation"},
		{MethodSpec{Name: "aid-cg", TolInner: -1}, "tolerance"},
	} {
		if _, err := tc.m.Estimator(10, 10); !errors.Is(err, ErrMethod) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Estimator(%+v): %v, want an ErrMethod mentioning %q", tc.m, err, tc.want)
		}
	}
	if _, err := (MethodSpec{Name: "aid-cg"}).Estimator(-1, 10); !errors.Is(err, ErrMethod) {
		t.Errorf("negative t: %v", err)
	}
	for _, tc := range []struct {
		m    MethodSpec
		p    bilevel.FixedPoint
		want string
	}{
		{MethodSpec{Name: "aid-lu"}, eq, "unknown method"},
		{MethodSpec{Name: "aid-cg"}, eq, "symmetric"},
		{MethodSpec{Name: "aid-minres"}, eq, "symmetric"},
		{MethodSpec{Name: "aid-cg"}, nil, "symmetric"},
		{MethodSpec{Name: "aid-pcg"}, eq, "Hessian"},
		{MethodSpec{Name: "aid-hb"}, eq, "Hessian"},
		{MethodSpec{Name: "aid-gmres", Inner: "gd"}, eq, "inner solver"},
		{MethodSpec{Name: "aid-gmres", Target: &hypergrad.Target{Rel: 1e-3}}, eq, "target"},
		{MethodSpec{Name: "itd-fwd", Truncate: 2}, eq, "truncation"},
		{MethodSpec{Name: "itd-fwd", TolLinear: 1}, eq, "linear"},
		{MethodSpec{Name: "aid-gmres", TolLinear: -1}, eq, "tolerance"},
	} {
		if _, err := tc.m.FixedPointEstimator(10, 10, tc.p); !errors.Is(err, ErrMethod) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FixedPointEstimator(%+v): %v, want an ErrMethod mentioning %q", tc.m, err, tc.want)
		}
	}
}
