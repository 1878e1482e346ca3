package hypergrad_test

import (
	"math/rand/v2"
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// hypercleaning builds a small hyper-cleaning problem (30% corrupted
// labels, reg 1e-2) on the test backend, with λ_i drawn from [−2, 2].
func hypercleaning(t testing.TB, n, m, p, c int, seed uint64) *problems.Hypercleaning {
	t.Helper()
	h, err := data.SynthHypercleaning(data.HypercleaningOptions{N: n, M: m, P: p, C: c, Reg: 1e-2, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	for i := range h.Lambda {
		h.Lambda[i] = 4*rng.Float64() - 2
	}
	pr, err := problems.NewHypercleaning(newBackend(t), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	return pr
}

// TestHypercleaningAIDCG: AID-CG run to convergence matches the exact
// (dense Newton) reference hypergradient to 1e-10, and its a posteriori
// bound holds.
func TestHypercleaningAIDCG(t *testing.T) {
	p := hypercleaning(t, 80, 50, 5, 3, 1)
	aid := &hypergrad.AID{Inner: hypergrad.HeavyBall{}, Linear: hypergrad.ConjugateGradient{}, T: 3000, K: 300, TolInner: 1e-15, TolLinear: 1e-15}
	res := estimate(t, aid, p, nil)
	want := reference(t, p).Hypergradient
	e := relErr(res.Hypergradient, want)
	if !(e <= 1e-10) {
		t.Errorf("AID-CG: relative error %.3g against the reference (tol 1e-10)", e)
	}
	if abs := norm(sub(res.Hypergradient, want)); res.Bound.Kind != hypergrad.BoundNone && !(abs <= res.Bound.Value*(1+1e-12)) {
		t.Errorf("error %.3g above the a posteriori bound %.3g (%v)", abs, res.Bound.Value, res.Bound.Kind)
	}
	t.Logf("AID-CG: relative error %.3g, bound %.3g (%v)", e, res.Bound.Value, res.Bound.Kind)
}

// TestHypercleaningITD: reverse-mode ITD through gradient descent (step
// fixed by frozen constants) is the gradient of f_t: it matches central
// differences of f_t in every coordinate, and with many steps reaches the
// exact hypergradient.
func TestHypercleaningITD(t *testing.T) {
	p0 := hypercleaning(t, 24, 20, 3, 3, 2)
	c, err := p0.Constants()
	if err != nil {
		t.Fatal(err)
	}
	p := frozenConstants{p0, c}
	itd := &hypergrad.ITD{Inner: hypergrad.GradientDescent{}, T: 15}
	got := estimate(t, itd, p, nil)
	lam := make([]float64, p.HyperDim())
	p.Hyper(lam)
	fd := bileveltest.FDGradient(estimatorObjective(t, itd, p), lam)
	efd := relErr(got.Hypergradient, fd)
	if !(efd <= 1e-6) {
		t.Errorf("ITD through gradient descent vs finite differences of f_t: %.3g", efd)
	}
	long := estimate(t, &hypergrad.ITD{Inner: hypergrad.HeavyBall{}, T: 400}, p, nil)
	eref := relErr(long.Hypergradient, reference(t, p0).Hypergradient)
	if !(eref <= 1e-10) {
		t.Errorf("ITD through 400 heavy-ball steps: relative error %.3g against the reference", eref)
	}
	t.Logf("ITD(T=15) vs FD of f_t: %.3g; ITD(T=400) vs reference: %.3g", efd, eref)
}
