//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
)

// TestKRRCUDA runs the oracle checkers on the CUDA backend (the GPU with
// -tags cuda, the emulator with -tags cudaemu) and compares every oracle,
// the bound constants and CrossNorm with the CPU backend's, normwise to
// 1e-12.
func TestKRRCUDA(t *testing.T) {
	for _, z := range krrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			gb, cb := newCUDA(t), newCPU(t)
			g, c := mustKRR(t, gb, z.k), mustKRR(t, cb, z.k)
			n := g.InnerDim()
			w, v, u := randomPoint(n, 31), randomPoint(n, 32), randomPoint(2, 33)
			bileveltest.CheckOracles(t, g, w, bileveltest.Options{})
			bileveltest.CheckCrossApply(t, g, w, bileveltest.Options{})
			bileveltest.CheckProblemShapes(t, g)

			lam := []float64{z.k.Lambda[0] + 0.3, z.k.Lambda[1] - 0.2}
			sides := map[string]map[string][]float64{}
			for name, p := range map[string]*KRR{"cuda": g, "cpu": c} {
				if err := p.SetHyper(lam); err != nil {
					t.Fatal(err)
				}
				res := oracleResults(t, p, w, v, u)
				bc, err := p.BoundConstants()
				if err != nil {
					t.Fatal(err)
				}
				res["BoundConstants"] = []float64{bc.Mu.Value, bc.L.Value, bc.Lf.Value, bc.LB.Value, bc.LEl.Value}
				sides[name] = res
			}
			agree(t, "CUDA against CPU", sides["cuda"], sides["cpu"], 1e-12)
		})
	}
}
