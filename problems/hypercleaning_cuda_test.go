//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
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

			type side struct {
				b         backend.Backend
				p         *Hypercleaning
				w, v, u   backend.Vector
				out, outH backend.Vector
				results   map[string][]float64
			}
			sides := []*side{{b: gb, p: g}, {b: cb, p: c}}
			for _, s := range sides {
				s.w, s.v, s.u = bileveltest.Vec(t, s.b, w), bileveltest.Vec(t, s.b, v), bileveltest.Vec(t, s.b, u)
				s.out, s.outH = bileveltest.Vec(t, s.b, make([]float64, d)), bileveltest.Vec(t, s.b, make([]float64, n))
				s.results = map[string][]float64{}
				p := s.p
				for _, o := range []struct {
					name string
					call func() error
					dst  backend.Vector
				}{
					{"InnerGrad", func() error { return p.InnerGrad(s.out, s.w) }, s.out},
					{"HessVec", func() error { return p.HessVec(s.out, s.v) }, s.out},
					{"CrossVec", func() error { return p.CrossVec(s.outH, s.v) }, s.outH},
					{"CrossApply", func() error { return p.CrossApply(s.out, s.u) }, s.out},
					{"OuterGrad", func() error { return p.OuterGrad(s.out, s.w) }, s.out},
					{"OuterHyperGrad", func() error { return p.OuterHyperGrad(s.outH, s.w) }, s.outH},
				} {
					if err := p.Linearize(s.w); err != nil {
						t.Fatal(err)
					}
					if err := o.call(); err != nil {
						t.Fatalf("%s on %s: %v", o.name, s.b.Name(), err)
					}
					s.results[o.name] = bileveltest.Host(t, s.b, o.dst)
				}
				iv, err := p.InnerValue(s.w)
				if err != nil {
					t.Fatal(err)
				}
				ov, err := p.OuterValue(s.w)
				if err != nil {
					t.Fatal(err)
				}
				cn, err := p.CrossNorm(s.w)
				if err != nil {
					t.Fatal(err)
				}
				k, err := p.Constants()
				if err != nil {
					t.Fatal(err)
				}
				s.results["InnerValue"], s.results["OuterValue"], s.results["CrossNorm"] = []float64{iv}, []float64{ov}, []float64{cn.Value}
				s.results["Constants"] = []float64{k.Mu.Value, k.L.Value, k.Lf.Value, k.LA.Value, k.LB.Value}
			}
			for name, want := range sides[1].results {
				if e := bileveltest.RelErr(sides[0].results[name], want); !(e <= 1e-12) {
					t.Errorf("%s: CUDA against CPU: relative error %.3g (tol 1e-12)", name, e)
				}
			}
		})
	}
}
