//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
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

		type side struct {
			b         backend.Backend
			p         *BiasReg
			w, v, u   backend.Vector
			out, out2 backend.Vector
			outH      backend.Vector
			results   map[string][]float64
		}
		sides := []*side{{b: gb, p: g}, {b: cb, p: c}}
		for _, s := range sides {
			s.w, s.v, s.u = bileveltest.Vec(t, s.b, w), bileveltest.Vec(t, s.b, v), bileveltest.Vec(t, s.b, u)
			s.out, s.out2 = bileveltest.Vec(t, s.b, make([]float64, dim)), bileveltest.Vec(t, s.b, make([]float64, dim))
			s.outH = bileveltest.Vec(t, s.b, make([]float64, d))
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
				{"HessVecPair", func() error { return p.HessVecPair(s.out2, s.w, s.out, s.v) }, s.out2},
				{"HessDiag", func() error { return p.HessDiag(s.out) }, s.out},
				{"CrossVec", func() error { return p.CrossVec(s.outH, s.v) }, s.outH},
				{"CrossApply", func() error { return p.CrossApply(s.out, s.u) }, s.out},
				{"OuterGrad", func() error { return p.OuterGrad(s.out, s.w) }, s.out},
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
			s.results["InnerValue"], s.results["OuterValue"] = []float64{gv}, []float64{ev}
		}
		var worst float64
		for name, want := range sides[1].results {
			e := bileveltest.RelErr(sides[0].results[name], want)
			if !(e <= 1e-12) {
				t.Errorf("%s: CUDA against CPU: relative error %.3g (tol 1e-12)", name, e)
			}
			worst = max(worst, e)
		}
		t.Logf("largest relative difference CUDA against CPU over %d oracles: %.3g", len(sides[1].results), worst)
		// The constants and the reference are the host's: identical.
		cg, err1 := g.Constants()
		cc, err2 := c.Constants()
		if err1 != nil || err2 != nil || cg != cc {
			t.Errorf("constants differ: %+v, %v against %+v, %v", cg, err1, cc, err2)
		}
	})
}
