package bench

import (
	"context"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// TestTTASearch: the (t, k) the time-to-accuracy search returns meets the
// target in a fresh run, and one linear iteration fewer at that t does not
// (k is minimal); gradient descent's continued search agrees with fresh runs.
func TestTTASearch(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, _, err := NewProblem(b, ProblemSpec{Problem: "logreg", Source: "synth:n=400,d=20,kappa=1e3,seed=4"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	lam := make([]float64, p.HyperDim())
	p.Hyper(lam)
	lx := c.L.Value - c.LB.Value
	for i := range lam {
		lam[i] = math.Log(lx / 99) // κ = 100
	}
	if err := p.SetHyper(lam); err != nil {
		t.Fatal(err)
	}
	ref, err := p.Reference()
	if err != nil {
		t.Fatal(err)
	}
	c, _ = p.Constants()
	s := &ttaSearch{ctx: context.Background(), p: p, ref: ref.Hypergradient, target: 1e-6, kMax: 80, alpha: 2 / (c.L.Value + c.Mu.Value)}
	for _, m := range []MethodSpec{
		{Name: "aid-cg", Inner: "gd"},
		{Name: "aid-pcg", Inner: "fista"},
		{Name: "aid-pcg", Inner: "newton"},
	} {
		tt, k, evals, err := s.minimal(m)
		if err != nil {
			t.Fatalf("%s: %v", methodLabel(m), err)
		}
		e, err := s.timed(m, tt, k, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: t = %d, k = %d, error %.3g, %d estimates in the search", e.Config, tt, k, e.RelErr, evals)
		if !e.Met {
			t.Errorf("%s at t = %d, k = %d: relative error %.3g > 1e-6", e.Config, tt, k, e.RelErr)
		}
		if k > 0 {
			if _, er, err := s.estimate(m, tt, k-1, nil); err != nil || er <= 1e-6 {
				t.Errorf("%s at t = %d, k = %d already meets the target (%.3g, %v)", e.Config, tt, k-1, er, err)
			}
		}
	}
}
