//go:build !cuda

package graph_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/krylov"
	"github.com/hypergrad-go/hypergrad/problems"
	"github.com/hypergrad-go/hypergrad/problems/graph"
)

// equilibriumSpec writes the equilibrium model of problems.Equilibrium as
// graphs: S N×k, λ = (A k×k, B p×k, bias 1×k, Wo k×C, bo 1×C),
//
//	Φ(S, λ) = tanh(S A + X B + 1 bias),
//	E(S, λ) = 1/N Σ_i [log Σ_c exp(L_ic) − L_{i,y_i}],  L = S Wo + 1 bo,
//
// with the one-hot labels Y (N×C) and the ones as data. The log-sum-exp is
// written with Exp, a product by a vector of ones and Log, without the max
// shift (Gorgonia's Max has wrong derivatives): exact for the O(1) logits
// of SynthEquilibrium, not safe for logits of hundreds.
func equilibriumSpec(e *data.Equilibrium) graph.FixedPointSpec {
	n, p, k, c := e.Dims()
	y := make([]float64, n*c)
	for i, l := range e.Y {
		y[i*c+l] = 1
	}
	ones := func(shape ...int) *tensor.Dense {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = 1
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
	}
	return graph.FixedPointSpec{
		Rows: n, Cols: k,
		Hyper: []graph.HyperBlock{
			{Name: "A", Rows: k, Cols: k}, {Name: "B", Rows: p, Cols: k}, {Name: "bias", Rows: 1, Cols: k},
			{Name: "Wo", Rows: k, Cols: c}, {Name: "bo", Rows: 1, Cols: c},
		},
		Lambda: e.Lambda(),
		Data: map[string]*tensor.Dense{
			"X": dense(e.X.ToDense()), "Y": tensor.New(tensor.WithShape(n, c), tensor.WithBacking(y)),
			"1": ones(n, 1), "1C": ones(c),
		},
		Map: func(s *G.Node, l, d map[string]*G.Node) (*G.Node, error) {
			z := G.Must(G.Add(G.Must(G.Mul(s, l["A"])), G.Must(G.Mul(d["X"], l["B"]))))
			z = G.Must(G.Add(z, G.Must(G.Mul(d["1"], l["bias"]))))
			return G.Tanh(z)
		},
		Outer: func(s *G.Node, l, d map[string]*G.Node) (*G.Node, error) {
			logits := G.Must(G.Add(G.Must(G.Mul(s, l["Wo"])), G.Must(G.Mul(d["1"], l["bo"]))))
			lse := G.Must(G.Log(G.Must(G.Mul(G.Must(G.Exp(logits)), d["1C"]))))
			picked := G.Must(G.Sum(G.Must(G.HadamardProd(d["Y"], logits))))
			total := G.Must(G.Sub(G.Must(G.Sum(lse)), picked))
			return G.Mul(total, G.NewConstant(1/float64(n)))
		},
	}
}

// equilibriumPair builds the built-in and the graph equilibrium problem on
// the same data.
func equilibriumPair(t *testing.T) (*problems.Equilibrium, *graph.FixedPointProblem) {
	t.Helper()
	e, err := data.SynthEquilibrium(data.EquilibriumOptions{N: 40, P: 6, K: 4, C: 3, Q: 0.9, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b := cpu.New(cpu.Options{Workers: 1})
	ref, err := problems.NewEquilibrium(b, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	gp, err := graph.NewFixedPoint(b, equilibriumSpec(e))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gp.Close() })
	return ref, gp
}

// TestFixedPointEquilibriumOracles: every oracle of the graph equilibrium
// model agrees with problems.Equilibrium to 1e-12 relative at a point in
// the range of Φ, at the initial and at a moved λ.
func TestFixedPointEquilibriumOracles(t *testing.T) {
	ref, gp := equilibriumPair(t)
	b := ref.Backend()
	d, h := ref.InnerDim(), ref.HyperDim()
	if gp.InnerDim() != d || gp.HyperDim() != h {
		t.Fatalf("dims %d, %d; want %d, %d", gp.InnerDim(), gp.HyperDim(), d, h)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	lam := make([]float64, h)
	ref.Hyper(lam)
	worst := 0.0
	for round := range 2 {
		if round == 1 {
			for i := range lam {
				lam[i] += 0.05 * rng.NormFloat64()
			}
			for _, p := range []bilevel.FixedPoint{ref, gp} {
				if err := p.SetHyper(lam); err != nil {
					t.Fatal(err)
				}
			}
		}
		w := bileveltest.Vec(t, b, randVec(rng, d, 1))
		if err := ref.Map(w, bileveltest.Vec(t, b, randVec(rng, d, 1))); err != nil {
			t.Fatal(err)
		}
		u := bileveltest.Vec(t, b, randVec(rng, d, 1))
		r := bileveltest.Vec(t, b, randVec(rng, h, 1))
		for _, p := range []bilevel.FixedPoint{ref, gp} {
			if err := p.Linearize(w); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range []struct {
			name string
			n    int
			f    func(p bilevel.FixedPoint, dst backend.Vector) error
		}{
			{"Map", d, func(p bilevel.FixedPoint, dst backend.Vector) error { return p.Map(dst, w) }},
			{"JacVec", d, func(p bilevel.FixedPoint, dst backend.Vector) error { return p.JacVec(dst, u) }},
			{"JacTransVec", d, func(p bilevel.FixedPoint, dst backend.Vector) error { return p.JacTransVec(dst, u) }},
			{"HyperJacTransVec", h, func(p bilevel.FixedPoint, dst backend.Vector) error { return p.HyperJacTransVec(dst, u) }},
			{"HyperJacVec", d, func(p bilevel.FixedPoint, dst backend.Vector) error { return p.HyperJacVec(dst, r) }},
			{"OuterGrad", d, func(p bilevel.FixedPoint, dst backend.Vector) error { return p.OuterGrad(dst, w) }},
			{"OuterHyperGrad", h, func(p bilevel.FixedPoint, dst backend.Vector) error { return p.OuterHyperGrad(dst, w) }},
		} {
			var got [2][]float64
			for i, p := range []bilevel.FixedPoint{ref, gp} {
				dst := bileveltest.Vec(t, b, make([]float64, o.n))
				if err := o.f(p, dst); err != nil {
					t.Fatalf("%s: %v", o.name, err)
				}
				got[i] = bileveltest.Host(t, b, dst)
			}
			e := bileveltest.RelErr(got[1], got[0])
			worst = math.Max(worst, e)
			if e > 1e-12 || math.IsNaN(e) {
				t.Errorf("round %d: %s: relative error %.3g", round, o.name, e)
			}
		}
		v0, err := ref.OuterValue(w)
		if err != nil {
			t.Fatal(err)
		}
		v1, err := gp.OuterValue(w)
		if err != nil {
			t.Fatal(err)
		}
		if e := relScalar(v1, v0); e > 1e-12 || math.IsNaN(e) {
			t.Errorf("round %d: OuterValue %v, want %v (%.3g)", round, v1, v0, e)
		}
	}
	t.Logf("largest relative disagreement of the oracles: %.3g", worst)
}

// TestFixedPointEquilibriumHypergradients: fixed-point AID (GMRES) and ITD
// on the graph equilibrium model give the hypergradients of the built-in
// problem to 1e-12 relative, and bileveltest.CheckFixedPoint passes.
func TestFixedPointEquilibriumHypergradients(t *testing.T) {
	ref, gp := equilibriumPair(t)
	for _, est := range []hypergrad.FixedPointEstimator{
		&hypergrad.FixedPointAID{Solver: krylov.GMRES{}, T: 300, K: 300, TolInner: 1e-15, TolLinear: 1e-15},
		&hypergrad.FixedPointITD{T: 15},
		&hypergrad.FixedPointITD{T: 15, Forward: true},
	} {
		var got [2][]float64
		for i, p := range []bilevel.FixedPoint{ref, gp} {
			res, err := est.EstimateFixedPoint(context.Background(), p, nil)
			if err != nil {
				t.Fatalf("%v: %v", est, err)
			}
			got[i] = res.Hypergradient
		}
		e := bileveltest.RelErr(got[1], got[0])
		if e > 1e-12 || math.IsNaN(e) {
			t.Errorf("%v: relative error %.3g", est, e)
		}
		t.Logf("%v: graph vs built-in hypergradient: %.3g relative", est, e)
	}
	bileveltest.CheckFixedPoint(t, gp, bileveltest.Options{})
	q, err := gp.Contraction()
	if err != nil {
		t.Fatal(err)
	}
	qr, err := ref.Contraction()
	if err != nil {
		t.Fatal(err)
	}
	// ‖J‖₂ = ‖(·A) ⊙ D'‖ ≤ ‖A‖₂ with 0 < D' ≤ 1, and the estimate is ≥ 0.5‖A‖₂
	// here (the tanh slopes at Φ(0) are close to 1 for these pre-activations).
	if q.Kind != bilevel.Estimate || !(q.Value <= qr.Value*(1+1e-12)) || !(q.Value >= 0.5*qr.Value) {
		t.Errorf("contraction %+v, ‖A‖₂ = %v", q, qr.Value)
	}
	t.Logf("contraction estimate %.6g, ‖A‖₂ = %.6g", q.Value, qr.Value)
}

// linearFP is Φ(w, λ) = M w + b (w a vector of length 3, b a λ block, M
// data with ‖M‖₂ < 1) and E = ½‖w − t‖² + ½‖s‖² (s the other λ block,
// which Φ does not read); with lambdaFree, Φ = M w + t reads no λ.
func linearFP(lambdaFree bool) graph.FixedPointSpec {
	return graph.FixedPointSpec{
		Rows:   3,
		Hyper:  []graph.HyperBlock{{Name: "b", Rows: 3}, {Name: "s", Rows: 1, Cols: 2}},
		Lambda: []float64{0.1, -0.2, 0.3, 0.5, -1},
		Data: map[string]*tensor.Dense{
			"M": tensor.New(tensor.WithShape(3, 3), tensor.WithBacking(append([]float64(nil), linM...))),
			"t": vec([]float64{1, 2, -1}),
		},
		Map: func(w *G.Node, l, d map[string]*G.Node) (*G.Node, error) {
			if lambdaFree {
				return G.Add(G.Must(G.Mul(d["M"], w)), d["t"])
			}
			return G.Add(G.Must(G.Mul(d["M"], w)), l["b"])
		},
		Outer: func(w *G.Node, l, d map[string]*G.Node) (*G.Node, error) {
			r := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(w, d["t"]))))))
			s := G.Must(G.Sum(G.Must(G.Square(l["s"]))))
			return G.Mul(G.Must(G.Add(r, s)), G.NewConstant(0.5))
		},
	}
}

var linM = []float64{0.5, 0.2, 0, 0, 0.3, 0.1, 0.1, 0, 0.2}

// TestFixedPointLinearExact: on Φ = M w + b the oracles are exact (J = M,
// K = [I 0]), CheckFixedPoint passes, Contraction is ‖M‖₂ (power iteration)
// and, when Φ reads no λ, the λ-products are zero.
func TestFixedPointLinearExact(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	for _, free := range []bool{false, true} {
		p, err := graph.NewFixedPoint(b, linearFP(free))
		if err != nil {
			t.Fatal(err)
		}
		w := bileveltest.Vec(t, b, []float64{0.3, -0.7, 1.1})
		u := []float64{1, -2, 0.5}
		r := []float64{0.4, 0.1, -0.3, 2, 3}
		if err := p.Linearize(w); err != nil {
			t.Fatal(err)
		}
		mu, mtu := make([]float64, 3), make([]float64, 3)
		for i := range 3 {
			for j := range 3 {
				mu[i] += linM[3*i+j] * u[j]
				mtu[j] += linM[3*i+j] * u[i]
			}
		}
		kr, ktu := r[:3], append(append([]float64(nil), u...), 0, 0)
		if free {
			kr, ktu = make([]float64, 3), make([]float64, 5)
		}
		for _, c := range []struct {
			name string
			n    int
			f    func(dst backend.Vector) error
			want []float64
		}{
			{"JacVec", 3, func(dst backend.Vector) error { return p.JacVec(dst, bileveltest.Vec(t, b, u)) }, mu},
			{"JacTransVec", 3, func(dst backend.Vector) error { return p.JacTransVec(dst, bileveltest.Vec(t, b, u)) }, mtu},
			{"HyperJacVec", 3, func(dst backend.Vector) error { return p.HyperJacVec(dst, bileveltest.Vec(t, b, r)) }, kr},
			{"HyperJacTransVec", 5, func(dst backend.Vector) error { return p.HyperJacTransVec(dst, bileveltest.Vec(t, b, u)) }, ktu},
			{"OuterGrad", 3, func(dst backend.Vector) error { return p.OuterGrad(dst, w) }, []float64{-0.7, -2.7, 2.1}},
			{"OuterHyperGrad", 5, func(dst backend.Vector) error { return p.OuterHyperGrad(dst, w) }, []float64{0, 0, 0, 0.5, -1}},
		} {
			dst := bileveltest.Vec(t, b, make([]float64, c.n))
			if err := c.f(dst); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got := bileveltest.Host(t, b, dst)
			for i := range got {
				if math.Abs(got[i]-c.want[i]) > 1e-15*(1+math.Abs(c.want[i])) {
					t.Errorf("free %v: %s = %v, want %v", free, c.name, got, c.want)
					break
				}
			}
		}
		bileveltest.CheckFixedPoint(t, p, bileveltest.Options{})
		q, err := p.Contraction()
		if err != nil {
			t.Fatal(err)
		}
		var svd mat.SVD
		if !svd.Factorize(mat.NewDense(3, 3, append([]float64(nil), linM...)), mat.SVDNone) {
			t.Fatal("SVD")
		}
		// Power iteration stopped at a relative change ≤ 1e-6 of σ_k, which
		// increases to ‖M‖₂ from below.
		if want := svd.Values(nil)[0]; q.Kind != bilevel.Estimate || !(q.Value <= want*(1+1e-14)) || !(q.Value >= want*(1-1e-5)) {
			t.Errorf("free %v: Contraction = %+v, want ‖M‖₂ = %v (Estimate)", free, q, want)
		}
		p.Close()
	}
	// No estimate: the Unknown zero Constant.
	s := linearFP(false)
	s.PowerIters = -1
	p, err := graph.NewFixedPoint(b, s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if q, err := p.Contraction(); err != nil || q != (bilevel.Constant{}) {
		t.Errorf("PowerIters < 0: Contraction = %+v, %v; want the zero Constant", q, err)
	}
}

// TestFixedPointRefusals: malformed specs, broken operations, a wrong
// derivative and another backend give errors, not panics.
func TestFixedPointRefusals(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	id := func(w *G.Node, _, _ map[string]*G.Node) (*G.Node, error) { return w, nil }
	cases := []struct {
		name string
		mod  func(s *graph.FixedPointSpec)
		is   error
		want string
	}{
		{"rows", func(s *graph.FixedPointSpec) { s.Rows = 0 }, nil, "state shape"},
		{"cols", func(s *graph.FixedPointSpec) { s.Cols = -1 }, nil, "state shape"},
		{"no hyper", func(s *graph.FixedPointSpec) { s.Hyper = nil }, nil, "no hyperparameter"},
		{"repeated", func(s *graph.FixedPointSpec) { s.Hyper[1].Name = "b" }, nil, "repeated"},
		{"block shape", func(s *graph.FixedPointSpec) { s.Hyper[0].Rows = 0 }, nil, "Hyper[0]"},
		{"lambda len", func(s *graph.FixedPointSpec) { s.Lambda = s.Lambda[:4] }, nil, "len(Lambda)"},
		{"lambda NaN", func(s *graph.FixedPointSpec) { s.Lambda[2] = math.NaN() }, nil, "not finite"},
		{"nil map", func(s *graph.FixedPointSpec) { s.Map = nil }, nil, "Map and Outer"},
		{"contraction at", func(s *graph.FixedPointSpec) { s.ContractionAt = []float64{1} }, nil, "ContractionAt"},
		{"cert tol", func(s *graph.FixedPointSpec) { s.CertTol = -1 }, nil, "CertTol"},
		{"power iters", func(s *graph.FixedPointSpec) { s.PowerIters = 1 << 30 }, nil, "PowerIters"},
		{"dtype", func(s *graph.FixedPointSpec) {
			s.Data["t"] = tensor.New(tensor.WithBacking([]float32{1, 2, 3}))
		}, nil, "dtype"},
		{"user error", func(s *graph.FixedPointSpec) {
			s.Map = func(_ *G.Node, _, _ map[string]*G.Node) (*G.Node, error) { return nil, errors.New("user error") }
		}, nil, "user error"},
		{"map shape", func(s *graph.FixedPointSpec) {
			s.Map = func(w *G.Node, _, _ map[string]*G.Node) (*G.Node, error) { return G.Sum(w) }
		}, nil, "want the state's"},
		{"outer shape", func(s *graph.FixedPointSpec) { s.Outer = id }, nil, "want a scalar"},
		{"map without w", func(s *graph.FixedPointSpec) {
			s.Map = func(_ *G.Node, l, _ map[string]*G.Node) (*G.Node, error) { return l["b"], nil }
		}, nil, "does not depend on w"},
		{"reshape", func(s *graph.FixedPointSpec) {
			s.Map = func(w *G.Node, l, _ map[string]*G.Node) (*G.Node, error) {
				return G.Add(G.Must(G.Reshape(G.Must(G.Reshape(w, tensor.Shape{3, 1})), tensor.Shape{3})), l["b"])
			}
		}, graph.ErrBrokenOp, "Reshape of input w"},
		{"slice", func(s *graph.FixedPointSpec) {
			s.Outer = func(w *G.Node, _, _ map[string]*G.Node) (*G.Node, error) {
				return G.Sum(G.Must(G.Square(G.Must(G.Slice(w, G.S(0, 2))))))
			}
		}, graph.ErrBrokenOp, "Slice"},
		{"wrong derivative", func(s *graph.FixedPointSpec) {
			// twice: x ↦ 2x with derivative 3: J u = 0.3u against 0.2u.
			s.Map = func(w *G.Node, l, _ map[string]*G.Node) (*G.Node, error) {
				tw := G.Must(G.ApplyOp(twice, w))
				return G.Add(G.Must(G.Mul(tw, G.NewConstant(0.1))), l["b"])
			}
		}, graph.ErrCertification, "J u"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := linearFP(false)
			c.mod(&s)
			p, err := graph.NewFixedPoint(b, s)
			if err == nil {
				p.Close()
				t.Fatal("NewFixedPoint accepted it")
			}
			if (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q; want %v naming %q", err, c.is, c.want)
			}
		})
	}
	if _, err := graph.NewFixedPoint(otherBackend{b}, linearFP(false)); !errors.Is(err, graph.ErrBackend) {
		t.Errorf("other backend: %v, want ErrBackend", err)
	}
	if _, err := graph.NewFixedPoint(nil, linearFP(false)); err == nil {
		t.Error("nil backend accepted")
	}
}

// TestFixedPointOracleErrors: products before Linearize, wrong lengths, a
// bad λ and a closed problem give errors.
func TestFixedPointOracleErrors(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	p, err := graph.NewFixedPoint(b, linearFP(false))
	if err != nil {
		t.Fatal(err)
	}
	v3 := bileveltest.Vec(t, b, []float64{1, 2, 3})
	v5 := bileveltest.Vec(t, b, make([]float64, 5))
	if err := p.JacVec(v3, v3); err == nil || !strings.Contains(err.Error(), "before Linearize") {
		t.Errorf("JacVec before Linearize: %v", err)
	}
	if err := p.Linearize(v3); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"JacVec u":            p.JacVec(v3, v5),
		"JacTransVec dst":     p.JacTransVec(v5, v3),
		"HyperJacVec u":       p.HyperJacVec(v3, v3),
		"HyperJacTransVec":    p.HyperJacTransVec(v3, v3),
		"Map":                 p.Map(v5, v3),
		"OuterGrad":           p.OuterGrad(v3, v5),
		"OuterHyperGrad":      p.OuterHyperGrad(v3, v3),
		"Linearize":           p.Linearize(v5),
		"SetHyper len":        p.SetHyper([]float64{1}),
		"SetHyper not finite": p.SetHyper([]float64{0, 0, math.Inf(1), 0, 0}),
		"nil":                 p.JacVec(nil, v3),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := p.OuterValue(v5); err == nil {
		t.Error("OuterValue: no error")
	}
	p.Close()
	if err := p.Map(v3, v3); err == nil {
		t.Error("Map after Close: no error")
	}
	if _, err := p.Contraction(); err == nil {
		t.Error("Contraction after Close: no error")
	}
	if err := p.SetHyper(make([]float64, 5)); err == nil {
		t.Error("SetHyper after Close: no error")
	}
}
