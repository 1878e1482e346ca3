package problems

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

func newCPU(t testing.TB) backend.Backend {
	b := cpu.New(cpu.Options{})
	t.Cleanup(func() { b.Close() })
	return b
}

func synth(t testing.TB, logistic bool, n, d int, kappa float64, seed uint64) *data.Supervised {
	t.Helper()
	o := data.DefaultSynthOptions()
	o.N, o.D, o.Kappa, o.Seed = n, d, kappa, seed
	var (
		s   *data.Supervised
		err error
	)
	if logistic {
		s, err = data.SynthLogreg(o)
	} else {
		s, err = data.SynthRidge(o)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withCSR returns a copy of s whose training matrix is stored as CSR with
// about half the entries zeroed (some rows entirely), to exercise the sparse
// kernels through the problems.
func withCSR(s *data.Supervised) *data.Supervised {
	x := s.XTrain
	indptr := []int{0}
	var indices []int
	var vals []float64
	for i := 0; i < x.Rows; i++ {
		for j := 0; j < x.Cols; j++ {
			if (i*7+j*3)%2 == 0 && i%5 != 4 {
				indices = append(indices, j)
				vals = append(vals, x.Data[i*x.Cols+j])
			}
		}
		indptr = append(indptr, len(indices))
	}
	c := *s
	c.XTrain = data.NewCSR(x.Rows, x.Cols, indptr, indices, vals)
	return &c
}

type named struct {
	name string
	p    func(t testing.TB) bilevel.Problem
}

func zoo() []named {
	return []named{
		{"ridge", func(t testing.TB) bilevel.Problem { return mustRidge(t, synth(t, false, 50, 7, 20, 1)) }},
		{"ridge-shared", func(t testing.TB) bilevel.Problem {
			s := synth(t, false, 50, 7, 20, 2)
			s.Lambda = []float64{-1.5}
			return mustRidge(t, s)
		}},
		{"ridge-csr", func(t testing.TB) bilevel.Problem { return mustRidge(t, withCSR(synth(t, false, 60, 8, 20, 3))) }},
		{"logreg", func(t testing.TB) bilevel.Problem { return mustLogreg(t, synth(t, true, 60, 6, 20, 4)) }},
		{"logreg-csr", func(t testing.TB) bilevel.Problem { return mustLogreg(t, withCSR(synth(t, true, 60, 6, 20, 5))) }},
		{"quadratic", func(t testing.TB) bilevel.Problem {
			q, err := data.SynthQuadratic(data.QuadraticOptions{M1: 30, M2: 25, D: 5, H: 4, Seed: 6})
			if err != nil {
				t.Fatal(err)
			}
			return mustQuadratic(t, q)
		}},
	}
}

// closing returns a function that fails t on a constructor's error and
// otherwise closes the problem when the test ends, as in
// closing[*KRR](t)(NewKRR(b, k)).
func closing[P interface{ Close() error }](t testing.TB) func(P, error) P {
	return func(p P, err error) P {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
}

func mustRidge(t testing.TB, s *data.Supervised) bilevel.Problem {
	t.Helper()
	p, err := NewRidge(newCPU(t), s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLogreg(t testing.TB, s *data.Supervised) bilevel.Problem {
	t.Helper()
	p, err := NewLogreg(newCPU(t), s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustQuadratic(t testing.TB, q *data.Quadratic) bilevel.Problem {
	t.Helper()
	p, err := NewQuadratic(newCPU(t), q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func randomPoint(d int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	w := make([]float64, d)
	for i := range w {
		w[i] = rng.NormFloat64()
	}
	return w
}

// TestOraclesFiniteDifferences checks every oracle of every problem against
// central differences (bileveltest.CheckOracles) at random points.
func TestOraclesFiniteDifferences(t *testing.T) {
	for _, z := range zoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			for seed := uint64(1); seed <= 3; seed++ {
				bileveltest.CheckOracles(t, p, randomPoint(p.InnerDim(), seed), bileveltest.Options{Seed: seed})
			}
		})
	}
}

// TestReferenceIsValueFunctionGradient checks each exact reference
// independently of the oracles: its w* zeroes ∇g, and its hypergradient
// matches central differences of the value function f(λ) = E(w*(λ)), with
// w*(λ) re-solved by the reference at every perturbed λ.
func TestReferenceIsValueFunctionGradient(t *testing.T) {
	for _, z := range zoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			ref, err := p.(bilevel.Referencer).Reference()
			if err != nil {
				t.Fatal(err)
			}
			if ref.InnerGradNorm > 1e-12 {
				t.Errorf("reference ‖∇g(w*)‖ = %.3g", ref.InnerGradNorm)
			}
			b := p.Backend()
			lam := make([]float64, p.HyperDim())
			p.Hyper(lam)
			f := func(l []float64) float64 {
				if err := p.SetHyper(l); err != nil {
					t.Fatal(err)
				}
				r, err := p.(bilevel.Referencer).Reference()
				if err != nil {
					t.Fatal(err)
				}
				w := bileveltest.Vec(t, b, r.W)
				defer b.Free(w)
				e, err := p.OuterValue(w)
				if err != nil {
					t.Fatal(err)
				}
				return e
			}
			fd := bileveltest.FDGradient(f, lam)
			if err := p.SetHyper(lam); err != nil {
				t.Fatal(err)
			}
			if e := bileveltest.RelErr(ref.Hypergradient, fd); !(e <= 1e-6) {
				t.Errorf("reference hypergradient vs central differences of f: relative error %.3g\n ref %v\n fd  %v", e, ref.Hypergradient, fd)
			}
			// q solves A(w*) q = ∇_wE(w*).
			w := bileveltest.Vec(t, b, ref.W)
			q := bileveltest.Vec(t, b, ref.V)
			aq := bileveltest.Vec(t, b, make([]float64, len(ref.W)))
			ge := bileveltest.Vec(t, b, make([]float64, len(ref.W)))
			if err := p.Linearize(w); err != nil {
				t.Fatal(err)
			}
			if err := p.HessVec(aq, q); err != nil {
				t.Fatal(err)
			}
			if err := p.OuterGrad(ge, w); err != nil {
				t.Fatal(err)
			}
			if e := bileveltest.RelErr(bileveltest.Host(t, b, aq), bileveltest.Host(t, b, ge)); !(e <= 1e-12) {
				t.Errorf("A q vs ∇_wE: relative residual %.3g", e)
			}
		})
	}
}

// denseHessian returns A(w) of a problem by d Hessian-vector products.
func denseHessian(t *testing.T, p bilevel.Problem, w []float64) *mat.SymDense {
	b := p.Backend()
	d := p.InnerDim()
	if err := p.Linearize(bileveltest.Vec(t, b, w)); err != nil {
		t.Fatal(err)
	}
	a := mat.NewSymDense(d, nil)
	e := make([]float64, d)
	col := bileveltest.Vec(t, b, e)
	for j := 0; j < d; j++ {
		e[j] = 1
		ev := bileveltest.Vec(t, b, e)
		if err := p.HessVec(col, ev); err != nil {
			t.Fatal(err)
		}
		c := bileveltest.Host(t, b, col)
		for i := 0; i <= j; i++ {
			a.SetSym(i, j, c[i])
		}
		e[j] = 0
	}
	return a
}

// TestConstants: exact constants equal the extreme eigenvalues of the dense
// Hessian; Lanczos estimates agree with them; the logreg bounds hold at
// random points; the quadratic digest numbers of Ehrhardt & Roberts §4.1 are
// reproduced with the NumPy-compatible generator.
func TestConstants(t *testing.T) {
	t.Run("ridge", func(t *testing.T) {
		p := mustRidge(t, synth(t, false, 200, 12, 50, 7)).(*Ridge)
		c, err := p.Constants()
		if err != nil {
			t.Fatal(err)
		}
		lo, hi, _ := symExtremes(denseHessian(t, p, randomPoint(12, 1)))
		if math.Abs(c.Mu.Value-lo) > 1e-12*hi || math.Abs(c.L.Value-hi) > 1e-12*hi || c.Mu.Kind != bilevel.Exact {
			t.Errorf("exact μ, L = %v, %v; dense Hessian gives %v, %v", c.Mu, c.L, lo, hi)
		}
		est, err := p.estimatedConstants()
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]bilevel.Constant{{est.Mu, c.Mu}, {est.L, c.L}} {
			if math.Abs(pair[0].Value-pair[1].Value) > 1e-6*c.L.Value || pair[0].Kind != bilevel.Estimate {
				t.Errorf("Lanczos estimate %v vs exact %v", pair[0], pair[1])
			}
		}
	})
	t.Run("logreg-bounds", func(t *testing.T) {
		p := mustLogreg(t, synth(t, true, 150, 8, 30, 8)).(*Logreg)
		c, err := p.Constants()
		if err != nil {
			t.Fatal(err)
		}
		for seed := uint64(1); seed <= 5; seed++ {
			w := randomPoint(8, seed)
			for i := range w {
				w[i] *= float64(seed) // far and near points
			}
			lo, hi, _ := symExtremes(denseHessian(t, p, w))
			if lo < c.Mu.Value*(1-1e-12) || hi > c.L.Value*(1+1e-12) {
				t.Errorf("at a random w: spectrum [%v, %v] outside the bounds [%v, %v]", lo, hi, c.Mu.Value, c.L.Value)
			}
		}
		if c.Mu.Kind != bilevel.Bound || c.L.Kind != bilevel.Bound {
			t.Errorf("kinds %v, %v, want bound", c.Mu.Kind, c.L.Kind)
		}
	})
	t.Run("quadratic-numpy", func(t *testing.T) {
		q, err := data.SynthQuadratic(data.QuadraticOptions{NumPy: true})
		if err != nil {
			t.Fatal(err)
		}
		p := mustQuadratic(t, q).(*Quadratic)
		c, err := p.Constants()
		if err != nil {
			t.Fatal(err)
		}
		ref, err := p.Reference()
		if err != nil {
			t.Fatal(err)
		}
		// Ehrhardt & Roberts (2024, §4.1): L = 5108.13, μ = 145.603,
		// L_f = 5100.09, ‖∇F(1)‖ = 5322.45, ‖x*‖ = 0.9065.
		for _, v := range []struct {
			name      string
			got, want float64
			digits    float64
		}{
			{"L", c.L.Value, 5108.13, 6}, {"μ", c.Mu.Value, 145.603, 6}, {"L_f", c.Lf.Value, 5100.09, 6},
			{"‖∇F‖", bileveltest.Norm(ref.Hypergradient), 5322.45, 6}, {"‖x*‖", bileveltest.Norm(ref.W), 0.9065, 4},
		} {
			if math.Abs(v.got-v.want) > 0.5*math.Pow(10, math.Floor(math.Log10(v.want))-v.digits+1) {
				t.Errorf("%s = %.7g, digest %.6g", v.name, v.got, v.want)
			}
		}
		est, err := p.estimatedConstants()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(est.Mu.Value-c.Mu.Value) > 1e-6*c.L.Value || math.Abs(est.L.Value-c.L.Value) > 1e-6*c.L.Value {
			t.Errorf("Lanczos μ, L = %v, %v; exact %v, %v", est.Mu.Value, est.L.Value, c.Mu.Value, c.L.Value)
		}
	})
}

func TestErrors(t *testing.T) {
	b := newCPU(t)
	s := synth(t, false, 20, 3, 10, 9)
	bad := *s
	bad.YTrain = append([]float64(nil), s.YTrain...)
	bad.YTrain[3] = math.NaN()
	if _, err := NewRidge(b, &bad); err == nil {
		t.Error("NaN label accepted")
	}
	if _, err := NewLogreg(b, s); err == nil {
		t.Error("real-valued labels accepted for logreg")
	}
	short := *s
	short.Lambda = []float64{1, 2}
	if _, err := NewRidge(b, &short); err == nil {
		t.Error("λ of length 2 for d = 3 accepted")
	}
	p, err := NewRidge(b, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetHyper([]float64{1}); err == nil {
		t.Error("SetHyper with the wrong length accepted")
	}
	if err := p.SetHyper([]float64{0, 800, 0}); err == nil {
		t.Error("SetHyper with e^λ = +Inf accepted")
	}
	v := bileveltest.Vec(t, b, make([]float64, 3))
	if err := p.HessVec(v, v); !errors.Is(err, ErrNotLinearized) {
		t.Errorf("HessVec before Linearize: %v", err)
	}
	q, err := data.SynthQuadratic(data.QuadraticOptions{M1: 5, M2: 6, D: 3, H: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < q.D.Rows; i++ { // make D rank deficient: column 2 = column 1
		q.D.Data[i*3+2] = q.D.Data[i*3+1]
	}
	qp, err := NewQuadratic(b, q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := qp.Constants(); err == nil {
		t.Error("rank-deficient D: Constants gave no error")
	}
}

func TestNew(t *testing.T) {
	b := newCPU(t)
	s := synth(t, false, 20, 3, 10, 40)
	p, shape, err := New(b, "ridge", s)
	if err != nil || shape != "n=20, m=5, d=3, h=3" || p.InnerDim() != 3 {
		t.Fatalf("New(ridge) = %v, %q, %v", p, shape, err)
	}
	p.Close()
	if _, _, err := New(b, "quadratic", s); err == nil {
		t.Error("supervised data accepted for quadratic")
	}
	if _, _, err := New(b, "lasso", s); err == nil {
		t.Error("unknown family accepted")
	}
}

// noPair hides the backend's GramVecPair and GLMGradGramVec, so that the
// problems fall back to separate calls.
type noPair struct {
	backend.Backend
	backend.GLM
}

// pairCases are the GLM problems of TestHessVecPair and
// TestInnerGradRecordHessVec.
var pairCases = []struct {
	name     string
	logistic bool
	csr      bool
}{{"ridge", false, false}, {"ridge-csr", false, true}, {"logreg", true, false}, {"logreg-csr", true, true}}

// pairCase returns ridge or logreg on 700×300 data (CSR if csr) and its
// backend: the CPU's, or without its one-pass pair operations (noPair).
func pairCase(t *testing.T, logistic, csr, onePass bool) (bilevel.Problem, backend.Backend) {
	t.Helper()
	s := synth(t, logistic, 700, 300, 20, 9)
	if csr {
		s = withCSR(s)
	}
	cb := newCPU(t)
	var b backend.Backend = cb
	if !onePass {
		b = noPair{cb, cb.(backend.GLM)}
	}
	var p bilevel.Problem
	var err error
	if logistic {
		p, err = NewLogreg(b, s)
	} else {
		p, err = NewRidge(b, s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

// TestHessVecPair checks that HessVecPair gives both products of two
// HessVec calls bit for bit, through the backend's GramVecPair and through
// the fallback, on dense and CSR data, and that it fails before Linearize.
func TestHessVecPair(t *testing.T) {
	for _, c := range pairCases {
		for _, pair := range []bool{true, false} {
			p, b := pairCase(t, c.logistic, c.csr, pair)
			pp, ok := p.(bilevel.HessVecPairer)
			if !ok {
				t.Fatalf("%s: not a bilevel.HessVecPairer", c.name)
			}
			d := p.InnerDim()
			v1 := bileveltest.Vec(t, b, randomPoint(d, 1))
			v2 := bileveltest.Vec(t, b, randomPoint(d, 2))
			got1, got2 := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d))
			if err := pp.HessVecPair(got1, v1, got2, v2); !errors.Is(err, ErrNotLinearized) {
				t.Errorf("%s: HessVecPair before Linearize: %v", c.name, err)
			}
			if err := p.Linearize(bileveltest.Vec(t, b, randomPoint(d, 3))); err != nil {
				t.Fatal(err)
			}
			want1, want2 := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d))
			if err := p.HessVec(want1, v1); err != nil {
				t.Fatal(err)
			}
			if err := p.HessVec(want2, v2); err != nil {
				t.Fatal(err)
			}
			if err := pp.HessVecPair(got1, v1, got2, v2); err != nil {
				t.Fatal(err)
			}
			for k, g := range [][2]backend.Vector{{got1, want1}, {got2, want2}} {
				gh, wh := bileveltest.Host(t, b, g[0]), bileveltest.Host(t, b, g[1])
				for j := range wh {
					if math.Float64bits(gh[j]) != math.Float64bits(wh[j]) {
						t.Fatalf("%s (backend pair %v): product %d [%d] = %v, HessVec %v", c.name, pair, k+1, j, gh[j], wh[j])
					}
				}
			}
			p.(interface{ Close() error }).Close()
		}
	}
}

// TestInnerGradRecordHessVec checks that InnerGradRecordHessVec gives what
// InnerGradRecord, UseSlot and HessVec give, bit for bit, through the
// backend's GLMGradGramVec and through the fallback, on dense and CSR data,
// and leaves the slot's linearization current.
func TestInnerGradRecordHessVec(t *testing.T) {
	for _, c := range pairCases {
		for _, fused := range []bool{true, false} {
			p, b := pairCase(t, c.logistic, c.csr, fused)
			gh, ok := p.(bilevel.GradHessVecer)
			ls, ok2 := p.(bilevel.LinearizationStore)
			if !ok || !ok2 {
				t.Fatalf("%s: not a bilevel.GradHessVecer and LinearizationStore", c.name)
			}
			if err := ls.AllocSlots(2); err != nil {
				t.Fatal(err)
			}
			d := p.InnerDim()
			w1, w2 := bileveltest.Vec(t, b, randomPoint(d, 4)), bileveltest.Vec(t, b, randomPoint(d, 5))
			v := bileveltest.Vec(t, b, randomPoint(d, 6))
			vec := func() backend.Vector { return bileveltest.Vec(t, b, make([]float64, d)) }
			g, h, wantG, wantH, after, wantAfter := vec(), vec(), vec(), vec(), vec(), vec()
			// The reference: slot 0 at w1, then the fused call into slot 1 at w2.
			if err := ls.InnerGradRecord(wantG, w2, 1); err != nil {
				t.Fatal(err)
			}
			if err := ls.UseSlot(1); err != nil {
				t.Fatal(err)
			}
			if err := p.HessVec(wantH, v); err != nil {
				t.Fatal(err)
			}
			if err := p.HessVec(wantAfter, w1); err != nil {
				t.Fatal(err)
			}
			if err := ls.InnerGradRecord(g, w1, 0); err != nil {
				t.Fatal(err)
			}
			if err := ls.UseSlot(0); err != nil {
				t.Fatal(err)
			}
			if err := gh.InnerGradRecordHessVec(g, w2, 1, h, v); err != nil {
				t.Fatal(err)
			}
			if err := p.HessVec(after, w1); err != nil { // at slot 1's linearization, now current
				t.Fatal(err)
			}
			for k, pair := range [][2]backend.Vector{{g, wantG}, {h, wantH}, {after, wantAfter}} {
				gh, wh := bileveltest.Host(t, b, pair[0]), bileveltest.Host(t, b, pair[1])
				for j := range wh {
					if math.Float64bits(gh[j]) != math.Float64bits(wh[j]) {
						t.Fatalf("%s (fused backend %v): result %d [%d] = %v, want %v", c.name, fused, k, j, gh[j], wh[j])
					}
				}
			}
			if err := gh.InnerGradRecordHessVec(g, w2, 2, h, v); err == nil {
				t.Errorf("%s: slot 2 of 2: no error", c.name)
			}
			ls.FreeSlots()
			p.(interface{ Close() error }).Close()
		}
	}
}
