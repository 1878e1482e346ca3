package hypergrad_test

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// frozenConstants is a problem whose Constants are fixed at construction,
// so that step sizes derived from them (FISTA's τ and q) do not move with λ
// and f_t(λ) = E(w_t(λ)) is the function ITD differentiates.
type frozenConstants struct {
	bilevel.Problem
	c bilevel.Constants
}

func (f frozenConstants) Constants() (bilevel.Constants, error) { return f.c, nil }

// estimatorObjective returns f_t(λ) = E(w_t(λ), λ), w_t computed by the
// estimator's own forward pass (Result.W); it leaves p at its λ.
func estimatorObjective(t *testing.T, e hypergrad.Estimator, p bilevel.Problem) func([]float64) float64 {
	lam0 := make([]float64, p.HyperDim())
	p.Hyper(lam0)
	return func(lam []float64) float64 {
		if err := p.SetHyper(lam); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := p.SetHyper(lam0); err != nil {
				t.Fatal(err)
			}
		}()
		res := estimate(t, e, p, nil)
		b := p.Backend()
		w, err := b.NewVector(len(res.W))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Free(w)
		b.Upload(w, res.W)
		v, err := p.OuterValue(w)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestITDThroughFISTA: reverse-mode ITD through FISTA (τ and q fixed) is
// the gradient of f_t: it matches central differences of f_t, truncated
// ITD through all steps gives the same bits, and with many steps it
// reaches the exact hypergradient.
func TestITDThroughFISTA(t *testing.T) {
	probs := map[string]bilevel.Problem{
		"ridge":     ridge(t, 200, 8, 30, 4),
		"logreg":    logreg(t, 200, 8, 30, 4),
		"quadratic": quadratic(t, data.QuadraticOptions{M1: 20, M2: 30, D: 8, H: 4, Seed: 5}),
	}
	for name, p0 := range probs {
		c, err := p0.Constants()
		if err != nil {
			t.Fatal(err)
		}
		p := frozenConstants{p0, c}
		const T = 12
		itd := &hypergrad.ITD{Inner: hypergrad.FISTA{}, T: T}
		got := estimate(t, itd, p, nil)
		lam := make([]float64, p.HyperDim())
		p.Hyper(lam)
		fd := bileveltest.FDGradient(estimatorObjective(t, itd, p), lam)
		if e := relErr(got.Hypergradient, fd); e > 1e-6 {
			t.Errorf("%s: ITD through FISTA vs finite differences of f_t: %.3g", name, e)
		}
		full := estimate(t, &hypergrad.ITD{Inner: hypergrad.FISTA{}, T: T, Truncate: T}, p, nil)
		for i := range full.Hypergradient {
			if full.Hypergradient[i] != got.Hypergradient[i] {
				t.Fatalf("%s: Truncate = T changed the bits", name)
			}
		}
		if got.Bound.Kind != hypergrad.BoundNone {
			t.Errorf("%s: bound %v for ITD through FISTA", name, got.Bound.Kind)
		}
		long := estimate(t, &hypergrad.ITD{Inner: hypergrad.FISTA{}, T: 3000}, p, nil)
		if e := relErr(long.Hypergradient, reference(t, p0).Hypergradient); e > 1e-10 {
			t.Errorf("%s: ITD through 3000 FISTA steps: relative error %.3g", name, e)
		}
	}
}
