//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

// TestBiasRegCUDA runs the oracle checkers on the CUDA backend (the GPU
// with -tags cuda, the emulator with -tags cudaemu) in both layouts and
// compares every oracle with the CPU backend's in the other layout,
// normwise to 1e-12.
func TestBiasRegCUDA(t *testing.T) {
	if p := mustBR(t, newCUDA(t), synthBR(t, data.BiasRegOptions{T: 2, N: 64, M: 3, D: 8, Seed: 12})); p.Layout() != BiasRegBlockCSR {
		t.Errorf("BiasRegAuto on CUDA: layout %v, want block-csr", p.Layout())
	}
	forBR(t, func(t *testing.T, r *data.BiasReg, layout BiasRegLayout) {
		gb, cb := newCUDA(t), newCPU(t)
		other := BiasRegPerTask
		if layout == other {
			other = BiasRegBlockCSR
		}
		g, c := mustBRLayout(t, gb, r, layout), mustBRLayout(t, cb, r, other)
		dim, d := g.InnerDim(), g.HyperDim()
		w, v, u := randomPoint(dim, 31), randomPoint(dim, 32), randomPoint(d, 33)
		bileveltest.CheckOracles(t, g, w, bileveltest.Options{})
		bileveltest.CheckCrossApply(t, g, w, bileveltest.Options{})
		bileveltest.CheckProblemShapes(t, g)

		agree(t, "CUDA against CPU", oracleResults(t, g, w, v, u), oracleResults(t, c, w, v, u), 1e-12)
		// The constants and the reference are the host's: identical.
		cg, err1 := g.Constants()
		cc, err2 := c.Constants()
		if err1 != nil || err2 != nil || cg != cc {
			t.Errorf("constants differ: %+v, %v against %+v, %v", cg, err1, cc, err2)
		}
	})
}
