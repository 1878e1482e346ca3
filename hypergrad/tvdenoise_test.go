package hypergrad_test

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

func tvdenoise(t testing.TB, o data.TVDenoiseOptions) *problems.TVDenoise {
	t.Helper()
	d, err := data.SynthTVDenoise(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := problems.NewTVDenoise(newBackend(t), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestTVDenoiseEstimators: on smoothed TV denoising of a 1-D signal and of
// a non-square image, AID (gradient descent, conjugate gradients) reaches
// the Newton reference to 1e-10 relative, and reverse-mode ITD through
// gradient descent (step fixed) is the gradient of f_t: it matches central
// differences of f_t. With -tags cudaemu (or cuda) newBackend makes this
// run on the CUDA backend.
func TestTVDenoiseEstimators(t *testing.T) {
	for name, o := range map[string]data.TVDenoiseOptions{
		"1d": {W: 64, Alpha: 0.2, Nu: 0.1, Seed: 3},
		"2d": {H: 8, W: 11, Alpha: 0.15, Nu: 0.1, Seed: 4},
	} {
		t.Run(name, func(t *testing.T) {
			p := tvdenoise(t, o)
			ref := reference(t, p)
			aid := estimate(t, &hypergrad.AID{T: 3000, K: 500, TolInner: 1e-15, TolLinear: 1e-15}, p, nil)
			if e := relErr(aid.Hypergradient, ref.Hypergradient); !(e <= 1e-10) {
				t.Errorf("%s: relative error %.3g (%d inner, %d linear iterations)", aid.Method, e, aid.InnerIters, aid.LinearIters)
			}

			t.Logf("%s: relative error %.3g (%d inner, %d linear iterations)", aid.Method, relErr(aid.Hypergradient, ref.Hypergradient), aid.InnerIters, aid.LinearIters)

			c, err := p.Constants()
			if err != nil {
				t.Fatal(err)
			}
			fp := frozenConstants{p, c}
			itd := &hypergrad.ITD{T: 10}
			got := estimate(t, itd, fp, nil)
			lam := make([]float64, p.HyperDim())
			p.Hyper(lam)
			fd := bileveltest.FDGradient(estimatorObjective(t, itd, fp), lam)
			if e := relErr(got.Hypergradient, fd); !(e <= 1e-6) {
				t.Errorf("ITD through 10 GD steps %v vs finite differences of f_t %v: %.3g", got.Hypergradient, fd, e)
			}
			t.Logf("ITD %v, FD of f_t %v, reference %v", got.Hypergradient, fd, ref.Hypergradient)
		})
	}
}
