package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// logregKappa1e3 is logreg with n = 2000, d = 200 and every e^λ_j =
// L_X/999, so that the spec's constants give κ = L/μ = 1000.
func logregKappa1e3(t testing.TB) bilevel.Problem {
	p := logreg(t, 2000, 200, 1e3, 0)
	c, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	lam := make([]float64, 200)
	p.Hyper(lam)
	lx := c.L.Value - c.LB.Value // σ_max(X)²/(4n)
	for i := range lam {
		lam[i] = math.Log(lx / 999)
	}
	if err := p.SetHyper(lam); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNewtonMatchesReference: AID with Newton inner steps matches the exact
// reference to 1e-10 relative on every problem, in a handful of Newton
// steps (measured: ridge 6, logreg 7, quadratic 6–8; on a quadratic g each
// step reduces ‖∇g‖ by its forcing term η_k, not to 0).
func TestNewtonMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p        func(testing.TB) bilevel.Problem
		aid      hypergrad.AID
		maxSteps int
	}{
		{"ridge-kappa1e4", func(t testing.TB) bilevel.Problem { return ridge(t, 2000, 50, 1e4, 1) },
			hypergrad.AID{Inner: hypergrad.Newton{}, Linear: jacobiCG, T: 20, K: 200, TolInner: 1e-14}, 8},
		{"logreg", logregTest, hypergrad.AID{Inner: hypergrad.Newton{}, Linear: jacobiCG, T: 30, K: 100, TolInner: 1e-15}, 12},
		{"logreg-kappa1e3", logregKappa1e3, hypergrad.AID{Inner: hypergrad.Newton{}, Linear: jacobiCG, T: 30, K: 300, TolInner: 1e-14}, 15},
		{"logreg-plain-cg", logregTest, hypergrad.AID{Inner: hypergrad.Newton{PlainCG: true}, T: 30, K: 100, TolInner: 1e-15}, 12},
		{"quadratic", func(t testing.TB) bilevel.Problem { return quadratic(t, data.QuadraticOptions{Seed: 5}) },
			hypergrad.AID{Inner: hypergrad.Newton{}, T: 15, K: 30}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p(t)
			ref := reference(t, p)
			res := estimate(t, &tc.aid, p, nil)
			t.Logf("%d Newton steps, %d gradients, %d Hessian-vector products, %d diagonals; ‖∇g‖ = %.3g",
				res.InnerIters, res.Counts.InnerGrads, res.Counts.HessVecs, res.Counts.HessDiags, res.InnerResidual)
			if e := relErr(res.Hypergradient, ref.Hypergradient); !(e <= 1e-10) {
				t.Errorf("relative error %.3g > 1e-10 (T=%d, K=%d, ‖∇g‖=%.3g, residual=%.3g)",
					e, res.InnerIters, res.LinearIters, res.InnerResidual, res.LinearResidual)
			}
			if e := relErr(res.W, ref.W); !(e <= 1e-10) {
				t.Errorf("w: relative error %.3g", e)
			}
			if res.InnerIters > tc.maxSteps {
				t.Errorf("%d Newton steps, want at most %d", res.InnerIters, tc.maxSteps)
			}
			if res.APriori.Kind != hypergrad.BoundNone {
				t.Errorf("a priori bound of kind %v for Newton, whose rate is unknown", res.APriori.Kind)
			}
		})
	}
}

// TestNewtonSuperlinear: on logreg with κ = 1e3 the gradient norms of the
// Newton iterates fall superlinearly: once below 1e-2 of the first, each
// step's contraction is smaller than the one before until the rounding
// floor, and the last contraction above the floor is below 1e-2 (gradient
// descent contracts by (κ−1)/(κ+1) ≈ 0.998 per step).
func TestNewtonSuperlinear(t *testing.T) {
	p := logregKappa1e3(t)
	var norms []float64
	aid := &hypergrad.AID{Inner: hypergrad.Newton{}, T: 30, K: 1, TolInner: 1e-13,
		Monitor: func(pr hypergrad.Progress) error {
			if pr.Phase == hypergrad.PhaseInner {
				norms = append(norms, pr.Residual)
			}
			return nil
		}}
	res := estimate(t, aid, p, nil)
	t.Logf("‖∇g(w_k)‖: %.3g", norms)
	if res.InnerStatus != hypergrad.Converged {
		t.Fatalf("inner status %v after %d steps", res.InnerStatus, res.InnerIters)
	}
	var ratios []float64
	for i := 1; i < len(norms); i++ {
		if norms[i-1] < 1e-2*norms[0] && norms[i] > 1e-12*norms[0] {
			ratios = append(ratios, norms[i]/norms[i-1])
		}
	}
	if len(ratios) < 2 {
		t.Fatalf("too few steps in the local phase: %v", ratios)
	}
	for i := 1; i < len(ratios); i++ {
		if !(ratios[i] < ratios[i-1]) {
			t.Errorf("contractions %v do not decrease", ratios)
			break
		}
	}
	if last := ratios[len(ratios)-1]; !(last < 1e-2) {
		t.Errorf("last contraction %.3g, want < 1e-2", last)
	}
}

// TestNewtonUserProblem: on a problem with neither a Hessian diagonal nor a
// linearization store (Linearize each step, plain CG), Newton solves the
// quadratic inner problem in one step.
func TestNewtonUserProblem(t *testing.T) {
	m, c, lam := []float64{1, 2, 4, 8}, []float64{1, -1, 0.5, 0}, []float64{0.3, -0.2, 1, 2}
	p := newDiag(t, m, c, lam)
	want := make([]float64, 4)
	for j := range want {
		want[j] = (lam[j]/m[j] - c[j]) / m[j]
	}
	res := estimate(t, &hypergrad.AID{Inner: hypergrad.Newton{Forcing: 1e-3}, T: 1, K: 10}, p, nil)
	if err := relErr(res.Hypergradient, want); !(err <= 1e-12) {
		t.Errorf("relative error %.3g", err)
	}
	if res.Counts.Linearizations < 1 || res.Counts.HessDiags != 0 {
		t.Errorf("counts %+v: want a Linearize and no diagonal", res.Counts)
	}
}

func TestNewtonErrors(t *testing.T) {
	ctx := context.Background()
	p := ridge100(t)
	for name, e := range map[string]hypergrad.Estimator{
		"itd":         &hypergrad.ITD{Inner: hypergrad.Newton{}, T: 3},
		"forcing 1":   &hypergrad.AID{Inner: hypergrad.Newton{Forcing: 1}, T: 3, K: 3},
		"negative cg": &hypergrad.AID{Inner: hypergrad.Newton{MaxCG: -1}, T: 3, K: 3},
		"frozen ad":   &hypergrad.AID{Linear: hypergrad.FrozenAD{Inner: hypergrad.Newton{}}, T: 3, K: 3},
	} {
		if _, err := e.Estimate(ctx, p, nil); !errors.Is(err, hypergrad.ErrInvalidSettings) {
			t.Errorf("%s: %v, want ErrInvalidSettings", name, err)
		}
	}
}
