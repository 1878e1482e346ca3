package hypergrad_test

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// biasReg builds a biasreg problem on newBackend, in the given layout, with
// a non-zero bias h.
func biasReg(t testing.TB, o data.BiasRegOptions, layout problems.BiasRegLayout) *problems.BiasReg {
	t.Helper()
	r, err := data.SynthBiasReg(o)
	if err != nil {
		t.Fatal(err)
	}
	for j := range r.Lambda {
		r.Lambda[j] = 0.3 * float64(j%3-1)
	}
	p, err := problems.NewBiasRegLayout(newBackend(t), r, layout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestBiasRegEstimators: on biased regularisation across tasks, AID with
// conjugate gradients (plain and Jacobi-preconditioned) reaches the dense
// reference to 1e-10 relative with a certified bound that holds; ITD
// through gradient descent is the gradient of f_t (central differences)
// and, with enough steps, the exact hypergradient. With -tags cudaemu (or
// cuda) newBackend makes this run on the CUDA backend.
func TestBiasRegEstimators(t *testing.T) {
	for _, l := range []problems.BiasRegLayout{problems.BiasRegBlockCSR, problems.BiasRegPerTask} {
		t.Run(l.String(), func(t *testing.T) {
			testBiasRegEstimators(t, biasReg(t, data.BiasRegOptions{T: 6, N: 12, M: 8, D: 4, Noise: 0.1, Spread: 0.5, Rho: 0.5, Seed: 3}, l))
		})
	}
}

func testBiasRegEstimators(t *testing.T, p *problems.BiasReg) {
	ref := reference(t, p)
	hn := norm(ref.Hypergradient)
	for _, lin := range []hypergrad.LinearSolver{hypergrad.ConjugateGradient{}, hypergrad.ConjugateGradient{Jacobi: true}} {
		aid := &hypergrad.AID{Linear: lin, T: 2000, K: 200, TolInner: 1e-14, TolLinear: 1e-14}
		res := estimate(t, aid, p, nil)
		e := norm(sub(res.Hypergradient, ref.Hypergradient))
		if e > 1e-10*hn {
			t.Errorf("%s: relative error %.3g (%d inner, %d linear iterations, %v)", res.Method, e/hn, res.InnerIters, res.LinearIters, res.Status)
		}
		if res.Bound.Kind != hypergrad.BoundCertified || !(e <= res.Bound.Value) {
			t.Errorf("%s: bound %v (%v) for an error of %.3g", res.Method, res.Bound.Value, res.Bound.Kind, e)
		}
		t.Logf("%s: relative error %.3g, certified bound %.3g (%d + %d iterations)", res.Method, e/hn, res.Bound.Value/hn, res.InnerIters, res.LinearIters)
	}

	const T = 15
	itd := &hypergrad.ITD{T: T}
	got := estimate(t, itd, p, nil)
	lam := make([]float64, p.HyperDim())
	p.Hyper(lam)
	fd := bileveltest.FDGradient(estimatorObjective(t, itd, p), lam)
	if e := relErr(got.Hypergradient, fd); e > 1e-6 {
		t.Errorf("ITD (T = %d) vs finite differences of f_t: %.3g\n got  %v\n want %v", T, e, got.Hypergradient, fd)
	}
	long := estimate(t, &hypergrad.ITD{T: 100}, p, nil)
	if e := relErr(long.Hypergradient, ref.Hypergradient); e > 1e-10 {
		t.Errorf("ITD through 100 steps: relative error %.3g", e)
	}
}
