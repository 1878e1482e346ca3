package problems

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

// synthBR draws a small biasreg problem and sets h to a random point, so
// that the ρ(w − h) terms are exercised with h ≠ 0.
func synthBR(t testing.TB, o data.BiasRegOptions) *data.BiasReg {
	t.Helper()
	r, err := data.SynthBiasReg(o)
	if err != nil {
		t.Fatal(err)
	}
	copy(r.Lambda, randomPoint(len(r.Lambda), o.Seed+100))
	return r
}

func mustBR(t testing.TB, b backend.Backend, r *data.BiasReg) *BiasReg {
	t.Helper()
	return mustBRLayout(t, b, r, BiasRegAuto)
}

func mustBRLayout(t testing.TB, b backend.Backend, r *data.BiasReg, layout BiasRegLayout) *BiasReg {
	t.Helper()
	return closing[*BiasReg](t)(NewBiasRegLayout(b, r, layout))
}

// brLayouts are the layouts every oracle test runs on.
var brLayouts = []BiasRegLayout{BiasRegBlockCSR, BiasRegPerTask}

// forBR runs f on every problem of the zoo in every layout.
func forBR(t *testing.T, f func(t *testing.T, r *data.BiasReg, layout BiasRegLayout)) {
	for _, z := range brZoo(t) {
		for _, l := range brLayouts {
			t.Run(z.name+"/"+l.String(), func(t *testing.T) { f(t, z.r, l) })
		}
	}
}

// brZoo: several tasks with n > d; n < d (singular Gram matrices, μ = ρ);
// one task; a small ρ.
func brZoo(t testing.TB) []struct {
	name string
	r    *data.BiasReg
} {
	return []struct {
		name string
		r    *data.BiasReg
	}{
		{"tasks", synthBR(t, data.BiasRegOptions{T: 4, N: 8, M: 6, D: 3, Noise: 0.1, Spread: 0.5, Rho: 0.7, Seed: 1})},
		{"n<d", synthBR(t, data.BiasRegOptions{T: 3, N: 2, M: 3, D: 5, Noise: 0.2, Spread: 1, Rho: 2, Seed: 2})},
		{"T=1", synthBR(t, data.BiasRegOptions{T: 1, N: 7, M: 4, D: 4, Noise: 0.1, Spread: 0.3, Rho: 1, Seed: 3})},
		{"small rho", synthBR(t, data.BiasRegOptions{T: 5, N: 6, M: 6, D: 2, Noise: 0.3, Spread: 0.5, Rho: 1e-3, Seed: 4})},
	}
}

// brDense is the problem written out densely from the definitions: A
// (T·d × T·d), B (T·d × d) and the host oracles.
type brDense struct {
	a, bm *mat.Dense
	r     *data.BiasReg
	h     []float64
}

func denseBR(r *data.BiasReg, h []float64) brDense {
	tasks, n, _, d := r.Dims()
	dim := tasks * d
	out := brDense{a: mat.NewDense(dim, dim, nil), bm: mat.NewDense(dim, d, nil), r: r, h: h}
	for t := range tasks {
		x := r.X[t]
		for i := range d {
			for j := range d {
				var s float64
				for k := range n {
					s += x.At(k, i) * x.At(k, j)
				}
				if i == j {
					s += r.Rho * float64(n)
				}
				out.a.Set(t*d+i, t*d+j, s/float64(n))
			}
			out.bm.Set(t*d+i, i, -r.Rho)
		}
	}
	return out
}

// values returns g(w), ∇_w g, E(w) and ∇_w E on the host.
func (b brDense) values(w []float64) (g float64, gg []float64, e float64, ge []float64) {
	r := b.r
	tasks, n, m, d := r.Dims()
	for t := range tasks {
		wt := w[t*d : (t+1)*d]
		res := matVec(r.X[t], wt)
		for i := range res {
			res[i] -= r.Y[t][i]
			g += res[i] * res[i] / (2 * float64(n))
		}
		gt := matTVec(r.X[t], res)
		for j := range gt {
			gt[j] = gt[j]/float64(n) + r.Rho*(wt[j]-b.h[j])
			g += r.Rho / 2 * (wt[j] - b.h[j]) * (wt[j] - b.h[j])
		}
		gg = append(gg, gt...)
		rv := matVec(r.XVal[t], wt)
		for i := range rv {
			rv[i] -= r.YVal[t][i]
			e += rv[i] * rv[i] / (2 * float64(m) * float64(tasks))
		}
		et := matTVec(r.XVal[t], rv)
		for j := range et {
			et[j] /= float64(m) * float64(tasks)
		}
		ge = append(ge, et...)
	}
	return g, gg, e, ge
}

// TestBiasRegCheckers runs the shared checkers: every oracle against
// central differences, B·u against its adjoint and differences, operand
// errors of every oracle, and the claimed constants by sampling.
func TestBiasRegCheckers(t *testing.T) {
	forBR(t, func(t *testing.T, r *data.BiasReg, layout BiasRegLayout) {
		p := mustBRLayout(t, newCPU(t), r, layout)
		w := randomPoint(p.InnerDim(), 5)
		bileveltest.CheckOracles(t, p, w, bileveltest.Options{})
		bileveltest.CheckCrossApply(t, p, w, bileveltest.Options{})
		bileveltest.CheckProblemShapes(t, p)
		ref, err := p.Reference()
		if err != nil {
			t.Fatal(err)
		}
		rep := bileveltest.CheckConstants(t, p, bileveltest.ConstantsOptions{Center: ref.W})
		// Exact μ and L are attained: the Rayleigh–Ritz samples reach them.
		if !(rep.Mu.Ratio > 0.999 && rep.L.Ratio > 0.999 && rep.Lf.Ratio > 0.5) {
			t.Errorf("constants not tight at the samples: %v", rep)
		}
	})
}

// TestBiasRegDense compares every oracle with the dense A, B and the host
// formulas.
func TestBiasRegDense(t *testing.T) {
	forBR(t, func(t *testing.T, r *data.BiasReg, layout BiasRegLayout) {
		b := newCPU(t)
		p := mustBRLayout(t, b, r, layout)
		dim, d := p.InnerDim(), p.HyperDim()
		h := make([]float64, d)
		p.Hyper(h)
		dn := denseBR(r, h)
		w, v, u := randomPoint(dim, 11), randomPoint(dim, 12), randomPoint(d, 13)
		wv, vv, uv := bileveltest.Vec(t, b, w), bileveltest.Vec(t, b, v), bileveltest.Vec(t, b, u)
		out, out2, outH := bileveltest.Vec(t, b, make([]float64, dim)), bileveltest.Vec(t, b, make([]float64, dim)), bileveltest.Vec(t, b, make([]float64, d))
		check := func(name string, err error, got, want []float64, tol float64) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if e := bileveltest.RelErr(got, want); !(e <= tol) {
				t.Errorf("%s: relative error %.3g against the dense computation (tol %.0g)", name, e, tol)
			}
		}
		g, gg, e, ge := dn.values(w)
		gv, err := p.InnerValue(wv)
		check("InnerValue", err, []float64{gv}, []float64{g}, 1e-14)
		err = p.InnerGrad(out, wv)
		check("InnerGrad", err, bileveltest.Host(t, b, out), gg, 1e-14)
		ev, err := p.OuterValue(wv)
		check("OuterValue", err, []float64{ev}, []float64{e}, 1e-14)
		err = p.OuterGrad(out, wv)
		check("OuterGrad", err, bileveltest.Host(t, b, out), ge, 1e-14)
		err = p.OuterHyperGrad(outH, wv)
		check("OuterHyperGrad", err, bileveltest.Host(t, b, outH), make([]float64, d), 0)

		if err := p.Linearize(wv); err != nil {
			t.Fatal(err)
		}
		av := mulVec(dn.a, false, v)
		err = p.HessVec(out, vv)
		check("HessVec", err, bileveltest.Host(t, b, out), av, 1e-14)
		err = p.HessVecPair(out, vv, out2, wv)
		check("HessVecPair 1", err, bileveltest.Host(t, b, out), av, 1e-14)
		check("HessVecPair 2", nil, bileveltest.Host(t, b, out2), mulVec(dn.a, false, w), 1e-14)
		diag := make([]float64, dim)
		for i := range diag {
			diag[i] = dn.a.At(i, i)
		}
		err = p.HessDiag(out)
		check("HessDiag", err, bileveltest.Host(t, b, out), diag, 1e-14)
		err = p.CrossVec(outH, vv)
		check("CrossVec", err, bileveltest.Host(t, b, outH), mulVec(dn.bm, true, v), 1e-15)
		err = p.CrossApply(out, uv)
		check("CrossApply", err, bileveltest.Host(t, b, out), mulVec(dn.bm, false, u), 0)
		var svd mat.SVD
		if !svd.Factorize(dn.bm, mat.SVDNone) {
			t.Fatal("SVD failed")
		}
		cn, err := p.CrossNorm(wv)
		check("CrossNorm", err, []float64{cn.Value}, svd.Values(nil)[:1], 1e-14)
		if cn.Kind != bilevel.Exact {
			t.Errorf("CrossNorm kind %v, want Exact", cn.Kind)
		}
	})
}

// brHostF returns f(h) = E(w*(h)) with w* from a dense solve of the whole
// (T·d)² system A w = Xᵀy/n + ρ(h, …, h), independent of Reference.
func brHostF(t *testing.T, r *data.BiasReg) func(h []float64) float64 {
	return func(h []float64) float64 {
		tasks, n, _, d := r.Dims()
		dn := denseBR(r, h)
		rhs := make([]float64, 0, tasks*d)
		for ti := range tasks {
			xy := matTVec(r.X[ti], r.Y[ti])
			for j := range xy {
				xy[j] = xy[j]/float64(n) + r.Rho*h[j]
			}
			rhs = append(rhs, xy...)
		}
		var w mat.VecDense
		if err := w.SolveVec(dn.a, mat.NewVecDense(len(rhs), rhs)); err != nil {
			t.Fatal(err)
		}
		_, _, e, _ := dn.values(w.RawVector().Data)
		return e
	}
}

// TestBiasRegReference checks the reference: w* against a dense solve of
// the whole system, ∇_w g(w*) ≈ 0, q against A⁻¹∇E by the dense A, the
// hypergradient against −Bᵀq from the backend's CrossVec and against
// central differences of f(h).
func TestBiasRegReference(t *testing.T) {
	forBR(t, func(t *testing.T, r *data.BiasReg, layout BiasRegLayout) {
		b := newCPU(t)
		p := mustBRLayout(t, b, r, layout)
		dim, d := p.InnerDim(), p.HyperDim()
		h := make([]float64, d)
		p.Hyper(h)
		ref, err := p.Reference()
		if err != nil {
			t.Fatal(err)
		}
		if len(ref.W) != dim || len(ref.V) != dim || len(ref.Hypergradient) != d || ref.Method == "" {
			t.Fatalf("reference shapes %d %d %d, method %q", len(ref.W), len(ref.V), len(ref.Hypergradient), ref.Method)
		}
		dn := denseBR(r, h)
		_, gg, _, ge := dn.values(ref.W)
		if !(ref.InnerGradNorm <= 1e-13*math.Max(1, bileveltest.Norm(ref.W))) || !(bileveltest.Norm(gg) <= 1e-13) {
			t.Errorf("InnerGradNorm %.3g, host ‖∇g(w*)‖ %.3g", ref.InnerGradNorm, bileveltest.Norm(gg))
		}
		var q mat.VecDense
		if err := q.SolveVec(dn.a, mat.NewVecDense(dim, ge)); err != nil {
			t.Fatal(err)
		}
		if e := bileveltest.RelErr(ref.V, q.RawVector().Data); !(e <= 1e-12) {
			t.Errorf("V: relative error %.3g against the dense (T·d)² solve", e)
		}
		vv, outH := bileveltest.Vec(t, b, ref.V), bileveltest.Vec(t, b, make([]float64, d))
		if err := errors.Join(p.Linearize(vv), p.CrossVec(outH, vv)); err != nil {
			t.Fatal(err)
		}
		bq := bileveltest.Host(t, b, outH)
		for j := range bq {
			bq[j] = -bq[j]
		}
		if e := bileveltest.RelErr(ref.Hypergradient, bq); !(e <= 1e-14) {
			t.Errorf("hypergradient: relative error %.3g against −CrossVec(q)", e)
		}
		fd := bileveltest.FDGradient(brHostF(t, r), h)
		if e := bileveltest.RelErr(ref.Hypergradient, fd); !(e <= 1e-6) {
			t.Errorf("hypergradient: relative error %.3g against central differences of f\n got  %v\n want %v", e, ref.Hypergradient, fd)
		}
	})
}

// TestBiasRegConstants checks the exact constants against the dense
// eigenvalues of A and of ∇²E, the bounds against the exact values, the
// budget fallback to bounds, and that h does not move them.
func TestBiasRegConstants(t *testing.T) {
	forBR(t, func(t *testing.T, r *data.BiasReg, layout BiasRegLayout) {
		p := mustBRLayout(t, newCPU(t), r, layout)
		tasks, _, m, d := r.Dims()
		c, err := p.Constants()
		if err != nil {
			t.Fatal(err)
		}
		eig := func(a *mat.Dense) []float64 {
			r, _ := a.Dims()
			s := mat.NewSymDense(r, nil)
			for i := range r {
				for j := i; j < r; j++ {
					s.SetSym(i, j, 0.5*(a.At(i, j)+a.At(j, i)))
				}
			}
			var e mat.EigenSym
			if !e.Factorize(s, false) {
				t.Fatal("eigendecomposition failed")
			}
			return e.Values(nil)
		}
		ev := eig(denseBR(r, make([]float64, d)).a)
		hv := mat.NewDense(tasks*d, tasks*d, nil)
		for ti := range tasks {
			g := gram(r.XVal[ti], nil, 1/(float64(m)*float64(tasks)))
			for i := range d {
				for j := range d {
					hv.Set(ti*d+i, ti*d+j, g.At(i, j))
				}
			}
		}
		lv := eig(hv)
		tol := 1e-13 * ev[len(ev)-1]
		for _, k := range []struct {
			name      string
			got       bilevel.Constant
			want, tol float64
		}{
			{"μ", c.Mu, ev[0], tol}, {"L", c.L, ev[len(ev)-1], tol}, {"L_f", c.Lf, lv[len(lv)-1], 1e-13 * lv[len(lv)-1]},
			{"L_A", c.LA, 0, 0}, {"L_B", c.LB, 0, 0}, {"L_Eλ", c.LEl, 0, 0},
		} {
			if k.got.Kind != bilevel.Exact || !(math.Abs(k.got.Value-k.want) <= k.tol) {
				t.Errorf("%s = %+v, want %v (Exact)", k.name, k.got, k.want)
			}
		}
		if _, n, _, d := r.Dims(); n < d && c.Mu.Value != r.Rho {
			t.Errorf("n < d: μ = %v, want ρ = %v exactly", c.Mu.Value, r.Rho)
		}
		bc := p.BoundConstants()
		if bc.Mu.Kind != bilevel.Bound || bc.Mu.Value != r.Rho || bc.L.Kind != bilevel.Bound || !(bc.L.Value >= c.L.Value) ||
			bc.Lf.Kind != bilevel.Bound || !(bc.Lf.Value >= c.Lf.Value) || bc.LB.Kind != bilevel.Exact || bc.LB.Value != 0 {
			t.Errorf("bounds %+v against exact %+v", bc, c)
		}

		// h does not move the constants.
		h := make([]float64, d)
		for j := range h {
			h[j] = 3 * float64(j+1)
		}
		if err := p.SetHyper(h); err != nil {
			t.Fatal(err)
		}
		if c2, err := p.Constants(); err != nil || c2 != c {
			t.Errorf("after SetHyper: %+v, %v; want %+v", c2, err, c)
		}

		// A dense budget below DenseBytes: bounds, and no reference.
		q := mustBRLayout(t, newCPU(t), r, layout)
		if err := q.SetMaxDenseBytes(q.DenseBytes() - 1); err != nil {
			t.Fatal(err)
		}
		if c3, err := q.Constants(); err != nil || c3 != bc {
			t.Errorf("over the budget: Constants = %+v, %v; want the bounds %+v", c3, err, bc)
		}
		if _, err := q.Reference(); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Reference over the budget: %v; want ErrTooLarge", err)
		}
		if _, err := q.ExactConstants(); !errors.Is(err, ErrTooLarge) {
			t.Errorf("ExactConstants over the budget: %v; want ErrTooLarge", err)
		}
		bileveltest.CheckConstants(t, q, bileveltest.ConstantsOptions{Points: 3})
	})
}

func TestBiasRegErrors(t *testing.T) {
	b := newCPU(t)
	r := synthBR(t, data.BiasRegOptions{T: 3, N: 4, M: 3, D: 2, Seed: 6})
	if _, err := NewBiasReg(nil, r); err == nil {
		t.Error("nil backend: no error")
	}
	if _, err := NewBiasReg(b, nil); err == nil {
		t.Error("nil data: no error")
	}
	bad := *r
	bad.Rho = 0
	if _, err := NewBiasReg(b, &bad); !errors.Is(err, data.ErrOption) {
		t.Errorf("ρ = 0: %v; want data.ErrOption", err)
	}
	bad = *r
	bad.Lambda = r.Lambda[:1]
	if _, err := NewBiasReg(b, &bad); !errors.Is(err, data.ErrShape) {
		t.Errorf("short lambda: %v; want data.ErrShape", err)
	}

	p := mustBR(t, b, r)
	dim, d := p.InnerDim(), p.HyperDim()
	if tasks, n, m, dd := p.Dims(); tasks != 3 || n != 4 || m != 3 || dd != 2 || dim != 6 || d != 2 || p.Rho() != r.Rho || p.Data() != r {
		t.Errorf("Dims = %d %d %d %d, InnerDim %d, HyperDim %d", tasks, n, m, dd, dim, d)
	}
	h := make([]float64, d)
	p.Hyper(h)
	for _, l := range [][]float64{h[1:], append(h, 0), nil} {
		if err := p.SetHyper(l); err == nil || !strings.Contains(err.Error(), "length") {
			t.Errorf("SetHyper(len %d) = %v", len(l), err)
		}
	}
	nan := append([]float64(nil), h...)
	nan[1] = math.Inf(1)
	if err := p.SetHyper(nan); err == nil {
		t.Error("SetHyper(Inf): no error")
	}
	if got := make([]float64, d); func() bool { p.Hyper(got); return bileveltest.RelErr(got, h) != 0 }() {
		t.Error("a failed SetHyper changed h")
	}

	w, out, outH := bileveltest.Vec(t, b, make([]float64, dim)), bileveltest.Vec(t, b, make([]float64, dim)), bileveltest.Vec(t, b, make([]float64, d))
	out2 := bileveltest.Vec(t, b, make([]float64, dim))
	for name, call := range map[string]func() error{
		"HessVec":     func() error { return p.HessVec(out, w) },
		"HessVecPair": func() error { return p.HessVecPair(out, w, out2, w) },
		"HessDiag":    func() error { return p.HessDiag(out) },
		"CrossVec":    func() error { return p.CrossVec(outH, w) },
		"CrossApply":  func() error { return p.CrossApply(out, outH) },
	} {
		if err := call(); !errors.Is(err, ErrNotLinearized) {
			t.Errorf("%s before Linearize: %v; want ErrNotLinearized", name, err)
		}
	}
	// Operand errors are *OperandError, reported before any backend call.
	if err := p.Linearize(outH); !errors.Is(err, ErrOperand) {
		t.Errorf("Linearize(len d) = %v; want ErrOperand", err)
	}
	if err := p.Linearize(w); err != nil {
		t.Fatal(err)
	}
	var oe *OperandError
	if err := p.CrossVec(out, w); !errors.As(err, &oe) || oe.Problem != "biasreg" || oe.Operand != "dst" || oe.Want != d {
		t.Errorf("CrossVec(dst of len T·d) = %v", err)
	}
	if err := p.CrossApply(out, w); !errors.As(err, &oe) || oe.Operand != "u" || oe.Want != d {
		t.Errorf("CrossApply(u of len T·d) = %v", err)
	}
	if err := p.OuterHyperGrad(out, w); !errors.Is(err, ErrOperand) {
		t.Errorf("OuterHyperGrad(dst of len T·d) = %v", err)
	}
	if err := b.Err(); err != nil {
		t.Errorf("the operand checks reached the backend: %v", err)
	}
	// SetHyper keeps the linearization (A and B are constant).
	if err := errors.Join(p.SetHyper([]float64{1, 2}), p.HessVec(out, w)); err != nil {
		t.Errorf("HessVec after SetHyper: %v", err)
	}
	// Close frees everything the problem allocated.
	fresh := newCPU(t)
	q, err := NewBiasReg(fresh, r)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Allocated() == 0 {
		t.Error("NewBiasReg allocated nothing on the backend")
	}
	if err := q.Close(); err != nil || fresh.Allocated() != 0 {
		t.Errorf("Close = %v; %d bytes still allocated", err, fresh.Allocated())
	}
}

// TestBiasRegAllocs: no oracle allocates.
func TestBiasRegAllocs(t *testing.T) {
	for _, l := range brLayouts {
		t.Run(l.String(), func(t *testing.T) { brAllocs(t, l) })
	}
}

func brAllocs(t *testing.T, layout BiasRegLayout) {
	b := newCPU(t)
	p := mustBRLayout(t, b, synthBR(t, data.BiasRegOptions{T: 5, N: 6, M: 4, D: 3, Seed: 8}), layout)
	dim, d := p.InnerDim(), p.HyperDim()
	w, v := bileveltest.Vec(t, b, randomPoint(dim, 1)), bileveltest.Vec(t, b, randomPoint(dim, 2))
	u, out, out2, outH := bileveltest.Vec(t, b, randomPoint(d, 3)), bileveltest.Vec(t, b, make([]float64, dim)), bileveltest.Vec(t, b, make([]float64, dim)), bileveltest.Vec(t, b, make([]float64, d))
	var err error
	keep := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	for name, call := range map[string]func(){
		"InnerValue":     func() { _, e := p.InnerValue(w); keep(e) },
		"InnerGrad":      func() { keep(p.InnerGrad(out, w)) },
		"Linearize":      func() { keep(p.Linearize(w)) },
		"HessVec":        func() { keep(p.HessVec(out, v)) },
		"HessVecPair":    func() { keep(p.HessVecPair(out, v, out2, w)) },
		"HessDiag":       func() { keep(p.HessDiag(out)) },
		"CrossVec":       func() { keep(p.CrossVec(outH, v)) },
		"CrossApply":     func() { keep(p.CrossApply(out, u)) },
		"CrossNorm":      func() { _, e := p.CrossNorm(w); keep(e) },
		"OuterValue":     func() { _, e := p.OuterValue(w); keep(e) },
		"OuterGrad":      func() { keep(p.OuterGrad(out, w)) },
		"OuterHyperGrad": func() { keep(p.OuterHyperGrad(outH, w)) },
	} {
		keep(p.Linearize(w))
		call()
		if a := testing.AllocsPerRun(20, call); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestBiasRegDeterministic: the same input gives the same bits.
func TestBiasRegDeterministic(t *testing.T) {
	r := synthBR(t, data.BiasRegOptions{T: 6, N: 9, M: 5, D: 4, Seed: 9})
	var layout BiasRegLayout
	run := func() []float64 {
		b := newCPU(t)
		p := mustBRLayout(t, b, r, layout)
		w := bileveltest.Vec(t, b, randomPoint(p.InnerDim(), 4))
		out := bileveltest.Vec(t, b, make([]float64, p.InnerDim()))
		if err := errors.Join(p.InnerGrad(out, w), p.Linearize(w)); err != nil {
			t.Fatal(err)
		}
		g := bileveltest.Host(t, b, out)
		if err := p.HessVec(out, w); err != nil {
			t.Fatal(err)
		}
		return append(g, bileveltest.Host(t, b, out)...)
	}
	for _, layout = range brLayouts {
		a, c := run(), run()
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(c[i]) {
				t.Fatalf("%v: entry %d: %v then %v", layout, i, a[i], c[i])
			}
		}
	}
}

// TestBiasRegLayout: BiasRegAuto stores tasks of at least brTaskEntries
// values per task on the CPU and small ones as one block-diagonal CSR
// matrix; an unknown layout is an error.
func TestBiasRegLayout(t *testing.T) {
	b := newCPU(t)
	for _, c := range []struct {
		n, d int
		want BiasRegLayout
	}{{32, 8, BiasRegPerTask}, {10, 10, BiasRegPerTask}, {11, 9, BiasRegBlockCSR}, {5, 3, BiasRegBlockCSR}} {
		p := mustBR(t, b, synthBR(t, data.BiasRegOptions{T: 2, N: c.n, M: 3, D: c.d, Seed: 10}))
		if p.Layout() != c.want {
			t.Errorf("n = %d, d = %d: layout %v, want %v", c.n, c.d, p.Layout(), c.want)
		}
	}
	r := synthBR(t, data.BiasRegOptions{T: 2, N: 3, M: 3, D: 2, Seed: 11})
	for _, l := range []BiasRegLayout{-1, 3} {
		if p, err := NewBiasRegLayout(b, r, l); err == nil || p != nil || !strings.Contains(err.Error(), "layout") {
			t.Errorf("layout %v: %v, %v", l, p, err)
		}
	}
	if s := BiasRegLayout(7).String(); s != "BiasRegLayout(7)" {
		t.Errorf("String = %q", s)
	}
}

// TestBiasRegDenseBytes: the documented formula, and a budget of exactly
// DenseBytes admits the reference and the exact constants.
func TestBiasRegDenseBytes(t *testing.T) {
	r := synthBR(t, data.BiasRegOptions{T: 7, N: 9, M: 5, D: 4, Seed: 13})
	p := mustBR(t, newCPU(t), r)
	want := 8*4*4*4 + 8*(4*7*4+16*(9+5+4))
	if got := p.DenseBytes(); got != int64(want) {
		t.Errorf("DenseBytes = %d, want %d", got, want)
	}
	if err := p.SetMaxDenseBytes(p.DenseBytes()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reference(); err != nil {
		t.Errorf("Reference at a budget of DenseBytes: %v", err)
	}
	if c, err := p.Constants(); err != nil || c.Mu.Kind != bilevel.Exact {
		t.Errorf("Constants at a budget of DenseBytes: %+v, %v", c, err)
	}
}
