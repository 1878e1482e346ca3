//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cuda"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
)

func newCUDA(t testing.TB) backend.Backend {
	b, err := cuda.New(cuda.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestEquilibriumCUDA runs the fixed-point checker on the CUDA backend (the
// GPU with -tags cuda, the emulator with -tags cudaemu) and compares every
// oracle with the CPU backend's, normwise to 1e-12.
func TestEquilibriumCUDA(t *testing.T) {
	for _, z := range eqZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			gb, cb := newCUDA(t), newCPU(t)
			g, c := mustEq(t, gb, z.e), mustEq(t, cb, z.e)
			bileveltest.CheckFixedPoint(t, g, bileveltest.Options{})

			d, h := g.InnerDim(), g.HyperDim()
			w, u, r := randomPoint(d, 31), randomPoint(d, 32), randomPoint(h, 33)
			type side struct {
				b         backend.Backend
				p         *Equilibrium
				w, u, r   backend.Vector
				out, outH backend.Vector
				results   map[string][]float64
			}
			sides := []*side{{b: gb, p: g}, {b: cb, p: c}}
			for _, s := range sides {
				s.w, s.u, s.r = bileveltest.Vec(t, s.b, w), bileveltest.Vec(t, s.b, u), bileveltest.Vec(t, s.b, r)
				s.out, s.outH = bileveltest.Vec(t, s.b, make([]float64, d)), bileveltest.Vec(t, s.b, make([]float64, h))
				s.results = map[string][]float64{}
				p := s.p
				for _, o := range []struct {
					name string
					call func() error
					dst  backend.Vector
				}{
					{"Map", func() error { return p.Map(s.out, s.w) }, s.out},
					{"JacVec", func() error { return p.JacVec(s.out, s.u) }, s.out},
					{"JacTransVec", func() error { return p.JacTransVec(s.out, s.u) }, s.out},
					{"HyperJacVec", func() error { return p.HyperJacVec(s.out, s.r) }, s.out},
					{"HyperJacTransVec", func() error { return p.HyperJacTransVec(s.outH, s.u) }, s.outH},
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
				v, err := p.OuterValue(s.w)
				if err != nil {
					t.Fatal(err)
				}
				s.results["OuterValue"] = []float64{v}
			}
			for name, want := range sides[1].results {
				if e := bileveltest.RelErr(sides[0].results[name], want); !(e <= 1e-12) {
					t.Errorf("%s: CUDA against CPU: relative error %.3g (tol 1e-12)", name, e)
				}
			}
		})
	}
}
