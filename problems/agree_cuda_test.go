//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
)

// oracleResults evaluates every oracle of p at w (linearized there) with
// direction v (len d) and hyperparameter direction u (len h), including the
// optional ones p implements (HessVecPair, HessDiag, CrossApply,
// CrossNorm), and returns the results on the host by name.
func oracleResults(t *testing.T, p bilevel.Problem, w, v, u []float64) map[string][]float64 {
	t.Helper()
	b := p.Backend()
	d, h := p.InnerDim(), p.HyperDim()
	wv, vv, uv := bileveltest.Vec(t, b, w), bileveltest.Vec(t, b, v), bileveltest.Vec(t, b, u)
	out, out2, outH := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, h))
	if err := p.Linearize(wv); err != nil {
		t.Fatal(err)
	}
	type oracle struct {
		name string
		call func() error
		dst  backend.Vector
	}
	oracles := []oracle{
		{"InnerGrad", func() error { return p.InnerGrad(out, wv) }, out},
		{"HessVec", func() error { return p.HessVec(out, vv) }, out},
		{"CrossVec", func() error { return p.CrossVec(outH, vv) }, outH},
		{"OuterGrad", func() error { return p.OuterGrad(out, wv) }, out},
		{"OuterHyperGrad", func() error { return p.OuterHyperGrad(outH, wv) }, outH},
	}
	if q, ok := p.(bilevel.HessVecPairer); ok {
		oracles = append(oracles, oracle{"HessVecPair", func() error { return q.HessVecPair(out2, wv, out, vv) }, out2})
	}
	if q, ok := p.(bilevel.HessDiager); ok {
		oracles = append(oracles, oracle{"HessDiag", func() error { return q.HessDiag(out) }, out})
	}
	if q, ok := p.(bilevel.CrossApplier); ok {
		oracles = append(oracles, oracle{"CrossApply", func() error { return q.CrossApply(out, uv) }, out})
	}
	res := map[string][]float64{}
	for _, o := range oracles {
		if err := o.call(); err != nil {
			t.Fatalf("%s on %s: %v", o.name, b.Name(), err)
		}
		res[o.name] = bileveltest.Host(t, b, o.dst)
	}
	for name, f := range map[string]func(backend.Vector) (float64, error){"InnerValue": p.InnerValue, "OuterValue": p.OuterValue} {
		x, err := f(wv)
		if err != nil {
			t.Fatal(err)
		}
		res[name] = []float64{x}
	}
	if q, ok := p.(bilevel.CrossNormer); ok {
		cn, err := q.CrossNorm(wv)
		if err != nil {
			t.Fatal(err)
		}
		res["CrossNorm"] = []float64{cn.Value}
	}
	return res
}

// agree fails for every result of got that differs from want by more than
// tol normwise (relative), and for a result missing from either, and logs
// the largest difference.
func agree(t *testing.T, what string, got, want map[string][]float64, tol float64) {
	t.Helper()
	var worst float64
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: %s missing", what, name)
			continue
		}
		e := bileveltest.RelErr(g, w)
		if !(e <= tol) {
			t.Errorf("%s: %s: relative error %.3g (tol %g)", what, name, e, tol)
		}
		worst = max(worst, e)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d results against %d", what, len(got), len(want))
	}
	t.Logf("%s: largest relative difference over %d results: %.3g", what, len(want), worst)
}
