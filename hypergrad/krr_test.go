package hypergrad_test

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

func krrProblem(t testing.TB, o data.KRROptions) *problems.KRR {
	t.Helper()
	k, err := data.SynthKRR(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := problems.NewKRR(newBackend(t), k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestKRREstimators: on kernel ridge regression (λ = (log ρ, log γ), E
// depending on γ directly), AID with conjugate gradients (plain and
// Jacobi-preconditioned) reaches the dense reference to 1e-10 relative,
// with gradient descent and with heavy ball inside; reverse-mode ITD
// through gradient descent (step frozen) is the gradient of f_t, matching
// its central differences, and with many steps it reaches the reference.
// With -tags cudaemu (or cuda) newBackend makes this run on the CUDA
// backend.
func TestKRREstimators(t *testing.T) {
	p := krrProblem(t, data.KRROptions{N: 40, M: 20, D: 3, Noise: 0.1, Rho: 0.5, Seed: 7})
	ref := reference(t, p)
	for _, e := range []*hypergrad.AID{
		{T: 20000, K: 500, TolInner: 1e-13, TolLinear: 1e-13},
		{Linear: hypergrad.ConjugateGradient{Jacobi: true}, T: 20000, K: 500, TolInner: 1e-13, TolLinear: 1e-13},
		{Inner: hypergrad.HeavyBall{}, T: 20000, K: 500, TolInner: 1e-13, TolLinear: 1e-13},
	} {
		res := estimate(t, e, p, nil)
		t.Logf("%s: relative error %.3g, %d inner and %d linear iterations, bound %.3g (%v)", res.Method, relErr(res.Hypergradient, ref.Hypergradient), res.InnerIters, res.LinearIters, res.Bound.Value, res.Bound.Kind)
		if err := relErr(res.Hypergradient, ref.Hypergradient); !(err <= 1e-10) {
			t.Errorf("%s: relative error %.3g (%d inner, %d linear iterations, %v)", res.Method, err, res.InnerIters, res.LinearIters, res.Status)
		}
		if res.Bound.Value < norm(sub(res.Hypergradient, ref.Hypergradient)) {
			t.Errorf("%s: a posteriori bound %.3g below the error %.3g", res.Method, res.Bound.Value, norm(sub(res.Hypergradient, ref.Hypergradient)))
		}
	}

	c, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	fp := frozenConstants{p, c}
	itd := &hypergrad.ITD{Inner: hypergrad.GradientDescent{}, T: 15}
	got := estimate(t, itd, fp, nil)
	lam := make([]float64, 2)
	fp.Hyper(lam)
	fd := bileveltest.FDGradient(estimatorObjective(t, itd, fp), lam)
	t.Logf("ITD(15) vs FD of f_t: %.3g", relErr(got.Hypergradient, fd))
	if e := relErr(got.Hypergradient, fd); !(e <= 1e-6) {
		t.Errorf("ITD through 15 GD steps %v vs finite differences of f_t %v: %.3g", got.Hypergradient, fd, e)
	}
	long := estimate(t, &hypergrad.ITD{Inner: hypergrad.GradientDescent{}, T: 1500}, fp, nil)
	t.Logf("ITD(1500) vs reference: %.3g", relErr(long.Hypergradient, ref.Hypergradient))
	if e := relErr(long.Hypergradient, ref.Hypergradient); !(e <= 1e-10) {
		t.Errorf("ITD through 1500 GD steps: relative error %.3g", e)
	}
}
