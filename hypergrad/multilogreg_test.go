package hypergrad_test

import (
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// multilogreg builds a multilogreg problem on newBackend from synthetic data
// with λ_l = 0.5 + 0.4 sin(l), so that the weights differ.
func multilogreg(t testing.TB, o data.MulticlassOptions) *problems.Multilogreg {
	t.Helper()
	s, err := data.SynthMulticlass(o)
	if err != nil {
		t.Fatal(err)
	}
	for l := range s.Lambda {
		s.Lambda[l] = 0.5 + 0.4*math.Sin(float64(l))
	}
	p, err := problems.NewMultilogreg(newBackend(t), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestMultilogregEstimators: on multinomial logistic regression (dense and
// CSR, per-feature and per-class λ), AID with conjugate gradients (plain and
// Jacobi-preconditioned) reaches the
// reference hypergradient to 1e-10 relative, and reverse-mode ITD through
// gradient descent (steps fixed by frozen constants) is the gradient of f_t:
// it matches central differences of f_t to 1e-6, with the bits of ITD
// without recorded linearizations. With -tags cudaemu (or
// cuda) newBackend makes this run on the CUDA backend.
func TestMultilogregEstimators(t *testing.T) {
	for name, o := range map[string]data.MulticlassOptions{
		"dense":        {N: 60, M: 40, D: 8, C: 4, Seed: 1},
		"csr":          {N: 60, M: 40, D: 12, C: 3, Density: 0.3, Seed: 2},
		"perclass-csr": {N: 50, M: 30, D: 10, C: 4, Density: 0.4, PerClass: true, Seed: 3},
	} {
		t.Run(name, func(t *testing.T) {
			p := multilogreg(t, o)
			ref := reference(t, p)
			var e float64
			for _, jacobi := range []bool{false, true} {
				aid := &hypergrad.AID{Linear: hypergrad.ConjugateGradient{Jacobi: jacobi}, T: 2000, K: 500, TolInner: 1e-15, TolLinear: 1e-15}
				res := estimate(t, aid, p, nil)
				e = relErr(res.Hypergradient, ref.Hypergradient)
				t.Logf("%s: relative error %.3g (%d inner, %d linear iterations)", res.Method, e, res.InnerIters, res.LinearIters)
				if !(e <= 1e-10) {
					t.Errorf("%s: relative error %.3g (%d inner, %d linear iterations, %v)", res.Method, e, res.InnerIters, res.LinearIters, res.Status)
				}
			}

			c, err := p.Constants()
			if err != nil {
				t.Fatal(err)
			}
			fp := frozenConstants{p, c}
			itd := &hypergrad.ITD{T: 15}
			got := estimate(t, itd, fp, nil)
			// The recorded linearizations (LinearizationStore; fp hides it)
			// give the bits of re-linearizing at every reverse step.
			rec, plain := estimate(t, itd, p, nil), estimate(t, &hypergrad.ITD{T: 15, MaxCacheBytes: -1}, p, nil)
			for i := range rec.Hypergradient {
				if math.Float64bits(rec.Hypergradient[i]) != math.Float64bits(plain.Hypergradient[i]) {
					t.Fatalf("ITD with recorded linearizations differs from ITD without: %v vs %v", rec.Hypergradient, plain.Hypergradient)
				}
			}
			if rec.Counts.Linearizations >= plain.Counts.Linearizations {
				t.Errorf("ITD made %d Linearize calls with recorded linearizations, %d without", rec.Counts.Linearizations, plain.Counts.Linearizations)
			}
			lam := make([]float64, p.HyperDim())
			p.Hyper(lam)
			fd := bileveltest.FDGradient(estimatorObjective(t, itd, fp), lam)
			e = relErr(got.Hypergradient, fd)
			t.Logf("ITD (T = 15) vs finite differences of f_t: relative error %.3g", e)
			if !(e <= 1e-6) {
				t.Errorf("ITD vs finite differences of f_t: relative error %.3g", e)
			}
		})
	}
}
