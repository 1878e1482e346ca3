//go:build !cuda

package graph_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
	"github.com/hypergrad-go/hypergrad/problems/graph"
)

type family struct {
	name     string
	spec     func(*data.Supervised) graph.Spec
	synth    func(data.SynthOptions) (*data.Supervised, error)
	analytic func(backend.Backend, *data.Supervised) (bilevel.Problem, error)
}

var families = []family{
	{"ridge", ridgeSpec, data.SynthRidge, func(b backend.Backend, s *data.Supervised) (bilevel.Problem, error) {
		return problems.NewRidge(b, s)
	}},
	{"logreg", logregSpec, data.SynthLogreg, func(b backend.Backend, s *data.Supervised) (bilevel.Problem, error) {
		return problems.NewLogreg(b, s)
	}},
}

func smallData(t testing.TB, f family) *data.Supervised {
	t.Helper()
	o := data.DefaultSynthOptions()
	o.N, o.M, o.D, o.Kappa, o.Seed = 200, 60, 12, 10, 7
	o.Lambda = math.Log(1e-2)
	s, err := f.synth(o)
	if err != nil {
		t.Fatal(err)
	}
	for j := range s.Lambda { // distinct per-feature weights
		s.Lambda[j] += 0.1 * float64(j)
	}
	return s
}

// pair builds the graph problem and the analytic one on the same data.
func pair(t *testing.T, f family) (b backend.Backend, gp *graph.Problem, ap bilevel.Problem) {
	t.Helper()
	b = cpu.New(cpu.Options{Workers: 1})
	t.Cleanup(func() { b.Close() })
	s := smallData(t, f)
	gp, err := graph.New(b, f.spec(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gp.Close() })
	ap, err = f.analytic(b, s)
	if err != nil {
		t.Fatal(err)
	}
	return b, gp, ap
}

func randVec(rng *rand.Rand, n int, s float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = s * rng.NormFloat64()
	}
	return x
}

func relScalar(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// TestOraclesMatchAnalytic compares every oracle of the graph problems with
// problems.Ridge and problems.Logreg on the same data, to 1e-12 relative.
func TestOraclesMatchAnalytic(t *testing.T) {
	const tol = 1e-12
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			b, gp, ap := pair(t, f)
			d, h := gp.InnerDim(), gp.HyperDim()
			rng := rand.New(rand.NewPCG(1, 2))
			w := bileveltest.Vec(t, b, randVec(rng, d, 0.3))
			v := bileveltest.Vec(t, b, randVec(rng, d, 1))
			u := bileveltest.Vec(t, b, randVec(rng, h, 1))
			type oracle struct {
				name string
				n    int
				call func(bilevel.Problem, backend.Vector) error
			}
			for _, p := range []bilevel.Problem{gp, ap} {
				if err := p.Linearize(w); err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range []oracle{
				{"InnerGrad", d, func(p bilevel.Problem, dst backend.Vector) error { return p.InnerGrad(dst, w) }},
				{"HessVec", d, func(p bilevel.Problem, dst backend.Vector) error { return p.HessVec(dst, v) }},
				{"CrossVec", h, func(p bilevel.Problem, dst backend.Vector) error { return p.CrossVec(dst, v) }},
				{"CrossApply", d, func(p bilevel.Problem, dst backend.Vector) error {
					return p.(bilevel.CrossApplier).CrossApply(dst, u)
				}},
				{"OuterGrad", d, func(p bilevel.Problem, dst backend.Vector) error { return p.OuterGrad(dst, w) }},
			} {
				var got [2][]float64
				for i, p := range []bilevel.Problem{gp, ap} {
					dst := bileveltest.Vec(t, b, make([]float64, o.n))
					if err := o.call(p, dst); err != nil {
						t.Fatalf("%s: %v", o.name, err)
					}
					got[i] = bileveltest.Host(t, b, dst)
				}
				e := bileveltest.RelErr(got[0], got[1])
				t.Logf("%s: relative difference %.3g", o.name, e)
				if e > tol {
					t.Errorf("%s: relative error %.3g > %g", o.name, e, tol)
				}
			}
			dst := bileveltest.Vec(t, b, make([]float64, h))
			if err := gp.OuterHyperGrad(dst, w); err != nil {
				t.Fatal(err)
			}
			if n := bileveltest.Norm(bileveltest.Host(t, b, dst)); n != 0 {
				t.Errorf("OuterHyperGrad norm %g, want 0 (E does not depend on λ)", n)
			}
			for _, vf := range []struct {
				name string
				f    func(bilevel.Problem) (float64, error)
			}{
				{"InnerValue", func(p bilevel.Problem) (float64, error) { return p.InnerValue(w) }},
				{"OuterValue", func(p bilevel.Problem) (float64, error) { return p.OuterValue(w) }},
			} {
				g, err := vf.f(gp)
				if err != nil {
					t.Fatal(err)
				}
				a, err := vf.f(ap)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: relative difference %.3g", vf.name, relScalar(g, a))
				if e := relScalar(g, a); e > tol {
					t.Errorf("%s: %v vs %v, relative error %.3g", vf.name, g, a, e)
				}
			}
		})
	}
}

// TestHypergradientsMatchAnalytic runs AID-CG and ITD on the graph and the
// analytic problems with the same fixed steps and counts: the estimates agree
// to 1e-12 relative, and AID-CG agrees with the exact reference.
func TestHypergradientsMatchAnalytic(t *testing.T) {
	const tol = 1e-12
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			_, gp, ap := pair(t, f)
			c, err := ap.Constants()
			if err != nil {
				t.Fatal(err)
			}
			step := 1 / c.L.Value
			estimators := []hypergrad.Estimator{
				&hypergrad.AID{Inner: hypergrad.Newton{}, Linear: hypergrad.ConjugateGradient{},
					T: 30, K: 100, TolInner: 1e-13, TolLinear: 1e-14},
				&hypergrad.AID{Inner: hypergrad.GradientDescent{Step: step}, Linear: hypergrad.ConjugateGradient{}, T: 40, K: 6},
				&hypergrad.ITD{Inner: hypergrad.GradientDescent{Step: step}, T: 40},
			}
			for _, e := range estimators {
				var got [2][]float64
				for i, p := range []bilevel.Problem{gp, ap} {
					res, err := e.Estimate(context.Background(), p, nil)
					if err != nil {
						t.Fatal(err)
					}
					got[i] = res.Hypergradient
				}
				r := bileveltest.RelErr(got[0], got[1])
				t.Logf("%T: relative difference %.3g", e, r)
				if r > tol {
					t.Errorf("%T: relative difference %.3g > %g", e, r, tol)
				}
			}
			ref, err := ap.(bilevel.Referencer).Reference()
			if err != nil {
				t.Fatal(err)
			}
			res, err := estimators[0].Estimate(context.Background(), gp, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := bileveltest.RelErr(res.Hypergradient, ref.Hypergradient)
			t.Logf("converged AID-CG vs reference: %.3g", r)
			if r > 1e-10 {
				t.Errorf("converged AID-CG vs reference: relative error %.3g", r)
			}
			if res.Bound.Kind != hypergrad.BoundNone {
				t.Errorf("bound kind %v, want none (L_A, L_B unknown)", res.Bound.Kind)
			}
		})
	}
}

// TestCheckOracles runs the shared finite-difference checker and the
// forward cross-product checker on both graph problems.
func TestCheckOracles(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			_, gp, _ := pair(t, f)
			w := randVec(rand.New(rand.NewPCG(3, 4)), gp.InnerDim(), 0.3)
			bileveltest.CheckOracles(t, gp, w, bileveltest.Options{})
			bileveltest.CheckCrossApply(t, gp, w, bileveltest.Options{})
			bileveltest.CheckProblemShapes(t, gp)
		})
	}
}

// TestConstants checks the Lanczos estimates against the exact constants of
// ridge (A and ∇²E constant in w, so the estimates at w = 0 are exact).
func TestConstants(t *testing.T) {
	_, gp, ap := pair(t, families[0])
	ce, err := ap.(*problems.Ridge).ExactConstants()
	if err != nil {
		t.Fatal(err)
	}
	c, err := gp.Constants()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		name      string
		got, want bilevel.Constant
	}{{"μ", c.Mu, ce.Mu}, {"L", c.L, ce.L}, {"L_f", c.Lf, ce.Lf}} {
		if x.got.Kind != bilevel.Estimate || relScalar(x.got.Value, x.want.Value) > 1e-8 {
			t.Errorf("%s = %v (%v), exact %v", x.name, x.got.Value, x.got.Kind, x.want.Value)
		}
	}
	if c.LA.Kind != bilevel.Unknown || c.LB.Kind != bilevel.Unknown {
		t.Errorf("L_A, L_B kinds %v, %v; want unknown", c.LA.Kind, c.LB.Kind)
	}
	if c.LEl.Kind != bilevel.Exact || c.LEl.Value != 0 {
		t.Errorf("L_Eλ = %v (%v), want exact 0", c.LEl.Value, c.LEl.Kind)
	}
}

// cubeSpec is g = Σ w_j³/6 + ½ Σ e^{λ_j} w_j², E = ½‖w‖²: A = diag(w + e^λ).
func cubeSpec(d int) graph.Spec {
	return graph.Spec{
		InnerDim: d, HyperDim: d, Lambda: make([]float64, d),
		Inner: func(w, lambda *G.Node, _ map[string]*G.Node) (*G.Node, error) {
			c, err := G.Cube(w)
			if err != nil {
				return nil, err
			}
			s, err := G.Sum(c)
			if err != nil {
				return nil, err
			}
			if s, err = G.Mul(s, G.NewConstant(1.0/6)); err != nil {
				return nil, err
			}
			reg, err := l2(w, lambda)
			return add(s, reg, err)
		},
		Outer: func(w, _ *G.Node, _ map[string]*G.Node) (*G.Node, error) {
			s, err := G.Sum(G.Must(G.Square(w)))
			if err != nil {
				return nil, err
			}
			return G.Mul(s, G.NewConstant(0.5))
		},
		ConstantsAt: []float64{1, 1, 1},
	}
}

// TestHessVecExactCube: the cleared-cache second derivative of Σ w³/6 gives
// A v = (w + e^λ) ⊙ v exactly (small integers).
func TestHessVecExactCube(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	p, err := graph.New(b, cubeSpec(3))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, v := []float64{1, 2, 3}, []float64{1, -1, 2}
	if err := p.Linearize(bileveltest.Vec(t, b, w)); err != nil {
		t.Fatal(err)
	}
	dst := bileveltest.Vec(t, b, make([]float64, 3))
	if err := p.HessVec(dst, bileveltest.Vec(t, b, v)); err != nil {
		t.Fatal(err)
	}
	got := bileveltest.Host(t, b, dst)
	want := []float64{2, -3, 8} // (w + 1) ⊙ v
	if bileveltest.RelErr(got, want) > 1e-15 {
		t.Errorf("A v = %v, want %v", got, want)
	}
	c, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	if relScalar(c.Mu.Value, 2) > 1e-12 || relScalar(c.L.Value, 2) > 1e-12 || relScalar(c.Lf.Value, 1) > 1e-12 {
		t.Errorf("constants at w = 1: μ %v, L %v, L_f %v; want 2, 2, 1", c.Mu.Value, c.L.Value, c.Lf.Value)
	}
}

// TestGorgoniaGradOfGradDefect pins the Gorgonia v0.9.18 defect this
// package works around: a Grad of a gradient without clearing the cached
// derivatives gives 3w⊙v for Σ Cube(w), where 6w⊙v is exact. If Gorgonia is
// fixed this test fails, and the clearing may be revisited.
func TestGorgoniaGradOfGradDefect(t *testing.T) {
	g := G.NewGraph()
	wb, vb := []float64{1, 2, 3}, []float64{1, -1, 2}
	w := G.NewVector(g, G.Float64, G.WithShape(3), G.WithName("w"), G.WithValue(tensor.New(tensor.WithBacking(wb))))
	v := G.NewVector(g, G.Float64, G.WithShape(3), G.WithName("v"), G.WithValue(tensor.New(tensor.WithBacking(vb))))
	cost := G.Must(G.Sum(G.Must(G.Cube(w))))
	gw, err := G.Grad(cost, w)
	if err != nil {
		t.Fatal(err)
	}
	hv, err := G.Grad(G.Must(G.Sum(G.Must(G.HadamardProd(gw[0], v)))), w)
	if err != nil {
		t.Fatal(err)
	}
	var val G.Value
	G.Read(hv[0], &val)
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := val.Data().([]float64)
	naive := []float64{3, -6, 18} // 3 w ⊙ v; exact is 6 w ⊙ v = (6, −12, 36)
	if bileveltest.RelErr(got, naive) != 0 {
		t.Errorf("naive Grad of Grad = %v; the pinned defect gives %v (exact 6w⊙v): has Gorgonia changed?", got, naive)
	}
}

// TestRefusesBrokenOps: expressions with an operation whose Gorgonia
// derivatives are wrong are refused with ErrBrokenOp naming it.
func TestRefusesBrokenOps(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	base := cubeSpec(3)
	cases := []struct {
		name, want string
		f          func(w *G.Node) (*G.Node, error)
	}{
		{"slice", "Slice", func(w *G.Node) (*G.Node, error) {
			return G.Sum(G.Must(G.Square(G.Must(G.Slice(w, G.S(0, 2))))))
		}},
		{"softmax", "SoftMax", func(w *G.Node) (*G.Node, error) { return G.Sum(G.Must(G.SoftMax(w))) }},
		{"logsumexp", "LogSumExp", func(w *G.Node) (*G.Node, error) { return G.LogSumExp(w, 0) }},
		{"outer", "OuterProd", func(w *G.Node) (*G.Node, error) { return G.Sum(G.Must(G.OuterProd(w, w))) }},
		{"reshape", "Reshape of input w", func(w *G.Node) (*G.Node, error) {
			return G.Sum(G.Must(G.Square(G.Must(G.Reshape(w, tensor.Shape{3, 1})))))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base
			s.Inner = func(w, lambda *G.Node, _ map[string]*G.Node) (*G.Node, error) {
				x, err := c.f(w)
				if err != nil {
					return nil, err
				}
				reg, err := l2(w, lambda)
				return add(x, reg, err)
			}
			p, err := graph.New(b, s)
			if !errors.Is(err, graph.ErrBrokenOp) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, %v; want ErrBrokenOp naming %s", p, err, c.want)
			}
		})
	}
}

type otherBackend struct{ backend.Backend }

func (otherBackend) Name() string { return "cuda" }

// TestCPUOnly: another backend is refused with ErrBackend.
func TestCPUOnly(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	_, err := graph.New(otherBackend{b}, cubeSpec(3))
	if !errors.Is(err, graph.ErrBackend) || !strings.Contains(err.Error(), `"cuda"`) {
		t.Fatalf("New = %v; want ErrBackend naming cuda", err)
	}
}

// TestSpecErrors: malformed specs give errors, not panics.
func TestSpecErrors(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	mod := []func(*graph.Spec){
		func(s *graph.Spec) { s.InnerDim = 0 },
		func(s *graph.Spec) { s.Lambda = s.Lambda[:2] },
		func(s *graph.Spec) { s.Lambda = []float64{0, math.NaN(), 0} },
		func(s *graph.Spec) { s.Inner = nil },
		func(s *graph.Spec) { s.ConstantsAt = []float64{1} },
		func(s *graph.Spec) { s.CertTol = -1 },
		func(s *graph.Spec) {
			s.Data = map[string]*tensor.Dense{"x": tensor.New(tensor.WithBacking([]float32{1}))}
		},
		func(s *graph.Spec) {
			s.Inner = func(w, _ *G.Node, _ map[string]*G.Node) (*G.Node, error) { return G.Square(w) } // not a scalar
		},
		func(s *graph.Spec) {
			s.Inner = func(w, _ *G.Node, _ map[string]*G.Node) (*G.Node, error) { return nil, errors.New("user error") }
		},
	}
	for i, m := range mod {
		s := cubeSpec(3)
		m(&s)
		if p, err := graph.New(b, s); err == nil {
			p.Close()
			t.Errorf("case %d: New accepted a malformed spec", i)
		}
	}
}

// TestDataUnchanged: the shared data tensors are not written by the runs.
func TestDataUnchanged(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	s := smallData(t, families[1])
	x0 := append([]float64(nil), s.XTrain.Data...)
	y0 := append([]float64(nil), s.YTrain...)
	p, err := graph.New(b, logregSpec(s))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := randVec(rand.New(rand.NewPCG(5, 6)), p.InnerDim(), 0.3)
	bileveltest.CheckOracles(t, p, w, bileveltest.Options{})
	if bileveltest.RelErr(s.XTrain.Data, x0) != 0 || bileveltest.RelErr(s.YTrain, y0) != 0 {
		t.Error("the graph runs changed the data")
	}
}

// TestRunFailureIsAnError: the 2-norm of a vector (Norm) differentiates
// once but its second derivative fails in Gorgonia with a type mismatch at
// run time; New reports the failure (for E, whose ∇²E v the L_f estimate
// needs) as an error.
func TestRunFailureIsAnError(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	s := cubeSpec(3)
	s.Outer = func(w, _ *G.Node, _ map[string]*G.Node) (*G.Node, error) { return G.Norm(w, 0, 2) }
	p, err := graph.New(b, s)
	if err == nil {
		p.Close()
		t.Fatal("New accepted an outer expression whose second derivative fails")
	}
	if !strings.Contains(err.Error(), "∇²E v") {
		t.Errorf("error %q does not name ∇²E v", err)
	}
}

// TestClosed: oracles of a closed problem return an error.
func TestClosed(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	p, err := graph.New(b, cubeSpec(3))
	if err != nil {
		t.Fatal(err)
	}
	w := bileveltest.Vec(t, b, []float64{1, 2, 3})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.InnerValue(w); err == nil {
		t.Error("InnerValue after Close: no error")
	}
	if err := p.Linearize(w); err == nil {
		t.Error("Linearize after Close: no error")
	}
	if _, err := p.Constants(); err == nil {
		t.Error("Constants after Close: no error")
	}
}

// quadSpec: g = ½ Σ s_j(λ) w_j² − ⟨c, w⟩ with s = e^λ (coupled) or s = 1 plus
// ½‖λ‖² (λ not in ∇_w g, so B = 0), and E = ½‖w − t‖² + ½‖λ‖², so that
// w* = c/s and
//
//	coupled:    ∂_j f = −(c_j e^{−λ_j} − t_j) c_j e^{−λ_j} + λ_j,
//	decoupled:  ∇f = λ.
func quadSpec(coupled bool) graph.Spec {
	c := []float64{1, -2, 0.5}
	tt := []float64{0.3, 0.1, -1}
	half := func(x *G.Node) (*G.Node, error) {
		return G.Mul(G.Must(G.Sum(G.Must(G.Square(x)))), G.NewConstant(0.5))
	}
	return graph.Spec{
		InnerDim: 3, HyperDim: 3, Lambda: []float64{0.2, -0.4, 0.7},
		Data: map[string]*tensor.Dense{"c": vec(c), "t": vec(tt)},
		Inner: func(w, lambda *G.Node, d map[string]*G.Node) (*G.Node, error) {
			lin := G.Must(G.Sum(G.Must(G.HadamardProd(d["c"], w))))
			if coupled {
				return G.Sub(G.Must(l2(w, lambda)), lin)
			}
			return G.Add(G.Must(G.Sub(G.Must(half(w)), lin)), G.Must(half(lambda)))
		},
		Outer: func(w, lambda *G.Node, d map[string]*G.Node) (*G.Node, error) {
			return G.Add(G.Must(half(G.Must(G.Sub(w, d["t"])))), G.Must(half(lambda)))
		},
	}
}

// TestOuterDependsOnLambda covers ∇_λE ≠ 0 and a zero cross derivative:
// the AID hypergradients equal the closed forms, and the oracles pass the
// finite-difference checker.
func TestOuterDependsOnLambda(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	for _, coupled := range []bool{true, false} {
		s := quadSpec(coupled)
		p, err := graph.New(b, s)
		if err != nil {
			t.Fatal(err)
		}
		bileveltest.CheckOracles(t, p, []float64{0.5, 1, -1}, bileveltest.Options{})
		bileveltest.CheckCrossApply(t, p, []float64{0.5, 1, -1}, bileveltest.Options{})
		c, tt, l := []float64{1, -2, 0.5}, []float64{0.3, 0.1, -1}, s.Lambda
		want := append([]float64(nil), l...)
		if coupled {
			for j := range want {
				ws := c[j] * math.Exp(-l[j])
				want[j] += -(ws - tt[j]) * ws
			}
		}
		aid := &hypergrad.AID{Inner: hypergrad.Newton{}, Linear: hypergrad.ConjugateGradient{},
			T: 20, K: 10, TolInner: 1e-14, TolLinear: 1e-14}
		res, err := aid.Estimate(context.Background(), p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := bileveltest.RelErr(res.Hypergradient, want); r > 1e-13 {
			t.Errorf("coupled %v: ∇f = %v, want %v (relative error %.3g)", coupled, res.Hypergradient, want, r)
		}
		cs, err := p.Constants()
		if err != nil {
			t.Fatal(err)
		}
		if cs.LEl.Kind != bilevel.Unknown {
			t.Errorf("L_Eλ kind %v, want unknown (E depends on λ)", cs.LEl.Kind)
		}
		p.Close()
	}
}
