//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
)

// TestHypercleaningCUDA runs the shared checkers on the CUDA backend (the
// GPU with -tags cuda, the emulator with -tags cudaemu) and compares every
// oracle and the constants with the CPU backend's, normwise to 1e-12.
func TestHypercleaningCUDA(t *testing.T) {
	for _, z := range hcZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			gb, cb := newCUDA(t), newCPU(t)
			g, c := mustHC(t, gb, z.h), mustHC(t, cb, z.h)
			d, n := g.InnerDim(), g.HyperDim()
			w, v, u := hcPoint(d, 31), randomPoint(d, 32), randomPoint(n, 33)
			bileveltest.CheckOracles(t, g, w, bileveltest.Options{})
			bileveltest.CheckCrossApply(t, g, w, bileveltest.Options{})
			bileveltest.CheckProblemShapes(t, g)

			agree(t, "CUDA against CPU", oracleResults(t, g, w, v, u), oracleResults(t, c, w, v, u), 1e-12)
			kg, err1 := g.Constants()
			kc, err2 := c.Constants()
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			agree(t, "constants, CUDA against CPU",
				map[string][]float64{"constants": {kg.Mu.Value, kg.L.Value, kg.Lf.Value, kg.LA.Value, kg.LB.Value}},
				map[string][]float64{"constants": {kc.Mu.Value, kc.L.Value, kc.Lf.Value, kc.LA.Value, kc.LB.Value}}, 1e-12)
		})
	}
}
