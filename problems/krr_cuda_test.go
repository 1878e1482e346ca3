//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
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

			type side struct {
				b         backend.Backend
				p         *KRR
				w, v, u   backend.Vector
				out, out2 backend.Vector
				results   map[string][]float64
			}
			sides := []*side{{b: gb, p: g}, {b: cb, p: c}}
			for _, s := range sides {
				s.w, s.v, s.u = bileveltest.Vec(t, s.b, w), bileveltest.Vec(t, s.b, v), bileveltest.Vec(t, s.b, u)
				s.out, s.out2 = bileveltest.Vec(t, s.b, make([]float64, n)), bileveltest.Vec(t, s.b, make([]float64, 2))
				s.results = map[string][]float64{}
				p := s.p
				if err := p.SetHyper([]float64{z.k.Lambda[0] + 0.3, z.k.Lambda[1] - 0.2}); err != nil {
					t.Fatal(err)
				}
				if err := p.Linearize(s.w); err != nil {
					t.Fatal(err)
				}
				for _, o := range []struct {
					name string
					call func() error
					dst  backend.Vector
				}{
					{"InnerGrad", func() error { return p.InnerGrad(s.out, s.w) }, s.out},
					{"HessVec", func() error { return p.HessVec(s.out, s.v) }, s.out},
					{"HessDiag", func() error { return p.HessDiag(s.out) }, s.out},
					{"CrossVec", func() error { return p.CrossVec(s.out2, s.v) }, s.out2},
					{"CrossApply", func() error { return p.CrossApply(s.out, s.u) }, s.out},
					{"OuterGrad", func() error { return p.OuterGrad(s.out, s.w) }, s.out},
					{"OuterHyperGrad", func() error { return p.OuterHyperGrad(s.out2, s.w) }, s.out2},
				} {
					if err := o.call(); err != nil {
						t.Fatalf("%s on %s: %v", o.name, s.b.Name(), err)
					}
					s.results[o.name] = bileveltest.Host(t, s.b, o.dst)
				}
				gv, err := p.InnerValue(s.w)
				if err != nil {
					t.Fatal(err)
				}
				ev, err := p.OuterValue(s.w)
				if err != nil {
					t.Fatal(err)
				}
				cn, err := p.CrossNorm(s.v)
				if err != nil {
					t.Fatal(err)
				}
				bc, err := p.BoundConstants()
				if err != nil {
					t.Fatal(err)
				}
				s.results["InnerValue"], s.results["OuterValue"], s.results["CrossNorm"] = []float64{gv}, []float64{ev}, []float64{cn.Value}
				s.results["BoundConstants"] = []float64{bc.Mu.Value, bc.L.Value, bc.Lf.Value, bc.LB.Value, bc.LEl.Value}
			}
			var worst float64
			for name, want := range sides[1].results {
				worst = max(worst, bileveltest.RelErr(sides[0].results[name], want))
				if e := bileveltest.RelErr(sides[0].results[name], want); !(e <= 1e-12) {
					t.Errorf("%s: CUDA against CPU: relative error %.3g (tol 1e-12)", name, e)
				}
			}
			t.Logf("largest relative difference CUDA against CPU: %.3g", worst)
		})
	}
}
