//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
)

// TestTVDenoiseCUDA runs the oracle checkers on the CUDA backend (the GPU
// with -tags cuda, the emulator with -tags cudaemu) and compares every
// oracle with the CPU backend's, normwise to 1e-12.
func TestTVDenoiseCUDA(t *testing.T) {
	for _, z := range tvZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			gb, cb := newCUDA(t), newCPU(t)
			g, c := mustTV(t, gb, z.d), mustTV(t, cb, z.d)
			n := g.InnerDim()
			w := tvPoint(z.d, 21)
			bileveltest.CheckOracles(t, g, w, bileveltest.Options{})
			bileveltest.CheckCrossApply(t, g, w, bileveltest.Options{})
			bileveltest.CheckProblemShapes(t, g)

			v, u := randomPoint(n, 22), []float64{0.4, -1.3}
			agree(t, "CUDA against CPU", oracleResults(t, g, w, v, u), oracleResults(t, c, w, v, u), 1e-12)
		})
	}
}
