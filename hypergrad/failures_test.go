package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// TestFailureModesLibrary is the library half of the failure-mode table of
// the package doc ("Failure modes"), one case per row in the table's order:
// each situation returns an error that errors.Is matches with the row's
// type; the estimator rows wrap it in a *hypergrad.Error and return a
// Result whose Status is Failed.
func TestFailureModesLibrary(t *testing.T) {
	ctx := context.Background()
	p := ridge100(t)
	c, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	infW0 := make([]float64, p.InnerDim())
	infW0[3] = math.Inf(1)
	tanh := tanhProblem(t)

	for _, row := range []struct {
		name string
		run  func() (*hypergrad.Result, error)
		kind error
	}{
		// zero-value estimator or empty budgets → ErrInvalidSettings
		{"zero-value AID", func() (*hypergrad.Result, error) { return (&hypergrad.AID{}).Estimate(ctx, p, nil) }, hypergrad.ErrInvalidSettings},
		{"ITD with T = 0", func() (*hypergrad.Result, error) { return (&hypergrad.ITD{}).Estimate(ctx, p, nil) }, hypergrad.ErrInvalidSettings},
		// a start of the wrong length → ErrShape
		{"short W0", func() (*hypergrad.Result, error) {
			return (&hypergrad.AID{T: 1, K: 1}).Estimate(ctx, p, &hypergrad.Start{W0: []float64{1}})
		}, hypergrad.ErrShape},
		// a non-finite value (start, iterate, residual, hypergradient) → ErrNonFinite
		{"Inf in W0", func() (*hypergrad.Result, error) {
			return (&hypergrad.ITD{T: 1}).Estimate(ctx, p, &hypergrad.Start{W0: infW0})
		}, hypergrad.ErrNonFinite},
		// iterates growing without overflow (a step beyond 2/L) → ErrDiverged
		{"divergent step", func() (*hypergrad.Result, error) {
			return (&hypergrad.AID{Inner: hypergrad.GradientDescent{Step: 10 / c.L.Value}, T: 2000, K: 1}).Estimate(ctx, p, nil)
		}, hypergrad.ErrDiverged},
		// CG on an operator that is not positive definite → ErrNotPositiveDefinite
		// (pᵀAp = 1 − 4 < 0 for p = (1, 1))
		{"indefinite operator", func() (*hypergrad.Result, error) {
			nd := newDiag(t, []float64{1, -4}, []float64{-1, -1}, []float64{0, 0})
			return (&hypergrad.AID{Inner: hypergrad.GradientDescent{Step: 0.1}, T: 0, K: 5}).Estimate(ctx, nd, nil)
		}, hypergrad.ErrNotPositiveDefinite},
		// a fixed-point map whose steps outgrow its contraction constant → ErrNotContraction
		{"not a contraction", func() (*hypergrad.Result, error) {
			return (&hypergrad.FixedPointITD{T: 20}).EstimateFixedPoint(ctx, claimed{tanh, 0.05}, nil)
		}, hypergrad.ErrNotContraction},
		// a cancelled context → context.Canceled
		{"cancelled context", func() (*hypergrad.Result, error) {
			return (&hypergrad.AID{T: 10, K: 10}).Estimate(cancelled, p, nil)
		}, context.Canceled},
	} {
		t.Run(row.name, func(t *testing.T) {
			res, err := row.run()
			if !errors.Is(err, row.kind) {
				t.Fatalf("error %v, want %q", err, row.kind)
			}
			var he *hypergrad.Error
			if !errors.As(err, &he) {
				t.Errorf("%T is not a *hypergrad.Error", err)
			}
			if res != nil && res.Status != hypergrad.Failed {
				t.Errorf("status %v, want failed", res.Status)
			}
		})
	}
}
