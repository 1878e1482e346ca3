//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
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
			type side struct {
				b         backend.Backend
				p         *TVDenoise
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
				} {
					if err := o.call(); err != nil {
						t.Fatalf("%s on %s: %v", o.name, s.b.Name(), err)
					}
					s.results[o.name] = bileveltest.Host(t, s.b, o.dst)
				}
				for name, f := range map[string]func(backend.Vector) (float64, error){"InnerValue": p.InnerValue, "OuterValue": p.OuterValue} {
					x, err := f(s.w)
					if err != nil {
						t.Fatal(err)
					}
					s.results[name] = []float64{x}
				}
				cn, err := p.CrossNorm(s.w)
				if err != nil {
					t.Fatal(err)
				}
				s.results["CrossNorm"] = []float64{cn.Value}
			}
			var worst float64
			for name, want := range sides[1].results {
				e := bileveltest.RelErr(sides[0].results[name], want)
				if !(e <= 1e-12) {
					t.Errorf("%s: CUDA against CPU: relative error %.3g (tol 1e-12)", name, e)
				}
				worst = max(worst, e)
			}
			t.Logf("largest relative difference CUDA/CPU over %d oracles: %.3g", len(sides[1].results), worst)
		})
	}
}
