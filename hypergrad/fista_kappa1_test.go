package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// TestFISTAConditionOne: with κ = L/μ = 1 (q = 1, where strongly convex
// FISTA's momentum formula is 0/0) FISTA takes plain 1/L steps, which solve
// the problem in one step: AID and ITD through FISTA give the closed-form
// hypergradient (they returned NaN before).
func TestFISTAConditionOne(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	a, c := []float64{1, -2, 0.5, 3}, []float64{0.8, -1, 0, 2.5}
	p, err := newShrink(b, a, c, make([]float64, 4)) // e^λ = 1: A = 2I, μ = L = 2
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 4)
	for j := range a {
		w := a[j] / 2
		want[j] = -w * (w - c[j]) / 2
	}
	for _, e := range []hypergrad.Estimator{
		&hypergrad.AID{Inner: hypergrad.FISTA{}, T: 5, K: 5},
		&hypergrad.ITD{Inner: hypergrad.FISTA{}, T: 5},
	} {
		res, err := e.Estimate(context.Background(), p, nil)
		if err != nil {
			t.Fatalf("%v: %v", e, err)
		}
		for j := range want {
			if d := math.Abs(res.Hypergradient[j] - want[j]); !(d <= 1e-15) {
				t.Errorf("%v: λ_%d: %v, want %v", e, j, res.Hypergradient[j], want[j])
			}
		}
	}
}

// TestMAIDNeedsABound: MAID's adaptive accuracy on a problem that gives no
// a posteriori bound (here: no bilevel.CrossNormer) is an
// ErrInvalidSettings naming the missing piece, at once rather than after
// spending the budget; fixed accuracies still run.
func TestMAIDNeedsABound(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	s, err := newShrink(b, []float64{1, -2, 0.5, 3}, []float64{0.8, -1, 0, 2.5}, make([]float64, 4))
	if err != nil {
		t.Fatal(err)
	}
	p := noCrossNorm{s} // no CrossNorm: no a posteriori bound
	res, err := (&hypergrad.Minimizer{Budget: 100000}).Minimize(context.Background(), p, make([]float64, 4))
	if !errors.Is(err, hypergrad.ErrInvalidSettings) || !strings.Contains(err.Error(), "CrossNormer") {
		t.Fatalf("MAID without a bound: %v", err)
	}
	if res != nil && res.Calls > 1000 {
		t.Errorf("MAID spent %d calls before failing", res.Calls)
	}
	if _, err := (&hypergrad.Minimizer{Accuracy: hypergrad.FixedAccuracy{Eps: 1e-8, Delta: 1e-8}, MaxOuter: 5}).Minimize(context.Background(), p, make([]float64, 4)); err != nil {
		t.Errorf("fixed accuracy without a bound: %v", err)
	}
}
