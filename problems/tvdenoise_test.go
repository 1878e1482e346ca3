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

func synthTV(t testing.TB, o data.TVDenoiseOptions) *data.TVDenoise {
	t.Helper()
	d, err := data.SynthTVDenoise(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustTV(t testing.TB, b backend.Backend, d *data.TVDenoise) *TVDenoise {
	t.Helper()
	return closing[*TVDenoise](t)(NewTVDenoise(b, d))
}

// tvZoo is a 1-D signal, a non-square image, a one-column image (2-D with
// no horizontal differences) and a 2×2 image, at moderate α, ν.
func tvZoo(t testing.TB) []struct {
	name string
	d    *data.TVDenoise
} {
	return []struct {
		name string
		d    *data.TVDenoise
	}{
		{"1d", synthTV(t, data.TVDenoiseOptions{W: 40, Alpha: 0.3, Nu: 0.2, Seed: 1})},
		{"2d-6x9", synthTV(t, data.TVDenoiseOptions{H: 6, W: 9, Alpha: 0.2, Nu: 0.1, Seed: 2})},
		{"2d-7x1", synthTV(t, data.TVDenoiseOptions{H: 7, W: 1, Alpha: 0.5, Nu: 0.3, Seed: 3})},
		{"2d-2x2", synthTV(t, data.TVDenoiseOptions{H: 2, W: 2, Alpha: 1, Nu: 0.5, Noise: 0.3, Seed: 4})},
	}
}

// tvPoint returns y + 0.3·z, z ~ N(0, I): a point away from the solution.
func tvPoint(d *data.TVDenoise, seed uint64) []float64 {
	w := randomPoint(len(d.Y), seed)
	for i := range w {
		w[i] = d.Y[i] + 0.3*w[i]
	}
	return w
}

func TestTVDenoiseOracles(t *testing.T) {
	for _, z := range tvZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustTV(t, b, z.d)
			w := tvPoint(z.d, 5)
			bileveltest.CheckOracles(t, p, w, bileveltest.Options{})
			bileveltest.CheckCrossApply(t, p, w, bileveltest.Options{})
			bileveltest.CheckProblemShapes(t, p)
		})
	}
}

// TestTVDenoiseHost compares the oracles with the host formulas of the
// reference (tvHost) at a random point: the two are written independently
// (block ops on the device, loops on the host).
func TestTVDenoiseHost(t *testing.T) {
	for _, z := range tvZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustTV(t, b, z.d)
			n := p.InnerDim()
			w, v := tvPoint(z.d, 6), randomPoint(n, 7)
			h := p.hostProblem()
			wv, vv, out := bileveltest.Vec(t, b, w), bileveltest.Vec(t, b, v), bileveltest.Vec(t, b, make([]float64, n))
			out2 := bileveltest.Vec(t, b, make([]float64, 2))
			if err := p.InnerGrad(out, wv); err != nil {
				t.Fatal(err)
			}
			if e := bileveltest.RelErr(bileveltest.Host(t, b, out), h.grad(w)); !(e <= 1e-14) {
				t.Errorf("InnerGrad against the host: %.3g", e)
			}
			g, err := p.InnerValue(wv)
			if err != nil {
				t.Fatal(err)
			}
			if hv := h.value(w); !(math.Abs(g-hv) <= 1e-14*math.Abs(hv)) {
				t.Errorf("InnerValue %v, host %v", g, hv)
			}
			if err := p.Linearize(wv); err != nil {
				t.Fatal(err)
			}
			if err := p.HessVec(out, vv); err != nil {
				t.Fatal(err)
			}
			h.diff(w)
			if e := bileveltest.RelErr(bileveltest.Host(t, b, out), h.hessVec(v)); !(e <= 1e-14) {
				t.Errorf("HessVec against the host: %.3g", e)
			}
			// The banded Hessian against HessVec on the unit vectors.
			h.banded = true
			if err := h.prepare(w); err != nil {
				t.Fatal(err)
			}
			ax := h.hessVec(v)
			x := h.solve(ax)
			if e := bileveltest.RelErr(x, v); !(e <= 1e-12) {
				t.Errorf("banded Cholesky solve of A(Av) = v: %.3g", e)
			}
			// −Bᵀq of the host against CrossVec.
			if err := p.CrossVec(out2, vv); err != nil {
				t.Fatal(err)
			}
			hg := h.hyperGrad(w, v)
			got := bileveltest.Host(t, b, out2)
			if e := bileveltest.RelErr([]float64{-got[0], -got[1]}, hg); !(e <= 1e-13) {
				t.Errorf("CrossVec %v against the host −Bᵀv %v: %.3g", got, hg, e)
			}
		})
	}
}

// denseTVHessian returns A at the linearization point, column by column
// from HessVec.
func denseTVHessian(t testing.TB, p *TVDenoise) *mat.SymDense {
	b, n := p.Backend(), p.InnerDim()
	a := mat.NewSymDense(n, nil)
	e := make([]float64, n)
	out := bileveltest.Vec(t, b, e)
	for j := 0; j < n; j++ {
		e[j] = 1
		if err := p.HessVec(out, bileveltest.Vec(t, b, e)); err != nil {
			t.Fatal(err)
		}
		e[j] = 0
		col := bileveltest.Host(t, b, out)
		for i := 0; i <= j; i++ {
			a.SetSym(i, j, col[i])
		}
	}
	return a
}

// TestTVDenoiseConstants samples the claimed constants (bileveltest) and
// checks the exact ones: λ_min(A) = 1 at every point (μ, Exact) and
// λ_max(A) = L where D x = 0 (x constant), so L is attained.
func TestTVDenoiseConstants(t *testing.T) {
	for _, z := range tvZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustTV(t, b, z.d)
			r := bileveltest.CheckConstants(t, p, bileveltest.ConstantsOptions{Center: z.d.Y, Radius: 0.5})
			t.Logf("%v", r)
			c, err := p.Constants()
			if err != nil {
				t.Fatal(err)
			}
			for _, at := range []struct {
				name string
				w    []float64
				lmax float64 // the exact λ_max, or 0 when not known
			}{{"constant", constant(p.InnerDim(), 0.7), c.L.Value}, {"random", tvPoint(z.d, 9), 0}} {
				if err := p.Linearize(bileveltest.Vec(t, b, at.w)); err != nil {
					t.Fatal(err)
				}
				lo, hi, err := symExtremes(denseTVHessian(t, p))
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(lo-1) > 1e-13 {
					t.Errorf("%s: λ_min(A) = %v, want μ = 1", at.name, lo)
				}
				if at.lmax != 0 && math.Abs(hi-at.lmax) > 1e-13*at.lmax {
					t.Errorf("%s: λ_max(A) = %v, want L = %v", at.name, hi, at.lmax)
				}
				if hi > c.L.Value*(1+1e-14) {
					t.Errorf("%s: λ_max(A) = %v above L = %v", at.name, hi, c.L.Value)
				}
			}
		})
	}
	// The crude bounds ‖D‖² ≤ 4 and 8 hold, and the closed form is exact
	// on a small case: DᵀD of a 2-sample signal is [[1, −1], [−1, 1]].
	if v := tvDiffNorm2(1, 2); math.Abs(v-2) > 1e-14 {
		t.Errorf("‖D‖² of 2 samples = %v, want 2", v)
	}
	if v := tvDiffNorm2(1, 1000); !(v < 4 && v > 3.9999) {
		t.Errorf("‖D‖² of 1000 samples = %v", v)
	}
	if v := tvDiffNorm2(1000, 1000); !(v <= 8 && v > 7.9999) {
		t.Errorf("‖D‖² of 1000×1000 = %v", v)
	}
	// c₁ is max|φ‴| of φ(u) = sqrt(u² + 1) (on a fine grid), c₀ ≤ c₁.
	var m float64
	for i := 0; i <= 100000; i++ {
		u := float64(i) * 1e-4
		m = math.Max(m, 3*u/math.Pow(1+u*u, 2.5))
	}
	if !(m <= tvC1 && m > tvC1*(1-1e-8)) || !(tvC0 < tvC1) {
		t.Errorf("max|φ‴| on a grid = %v, c₁ = %v, c₀ = %v", m, tvC1, tvC0)
	}
}

// TestTVDenoiseThirdDerivative checks the 2-D constant c₂ against the
// norm of the directional derivative of ∇²φ_1 by central differences on a
// grid of points and directions: the largest value stays below c₂.
func TestTVDenoiseThirdDerivative(t *testing.T) {
	// hess returns the entries (m00, m01, m11) of ∇²φ_1 at (a, b).
	hess := func(a, b float64) [3]float64 {
		s := math.Sqrt(1 + a*a + b*b)
		s3 := s * s * s
		return [3]float64{1/s - a*a/s3, -a * b / s3, 1/s - b*b/s3}
	}
	var worst float64
	for ir := 0; ir <= 200; ir++ {
		r := float64(ir) * 0.015
		for it := 0; it < 64; it++ {
			th := math.Pi * float64(it) / 64
			const h = 1e-5
			c, s := math.Cos(th), math.Sin(th)
			p, m := hess(r+h*c, h*s), hess(r-h*c, -h*s)
			d00, d01, d11 := (p[0]-m[0])/(2*h), (p[1]-m[1])/(2*h), (p[2]-m[2])/(2*h)
			// The eigenvalue of largest magnitude of [[d00, d01], [d01, d11]].
			v := math.Abs(0.5*(d00+d11)) + math.Hypot(0.5*(d00-d11), d01)
			worst = math.Max(worst, v)
		}
	}
	if !(worst <= tvC2) || !(worst >= tvC1*(1-1e-3)) {
		t.Errorf("largest ‖∇³φ[h]‖ sampled = %v; c₁ = %v, c₂ = %v", worst, tvC1, tvC2)
	}
	t.Logf("sampled %v, c₂ = %v", worst, tvC2)
}

func constant(n int, v float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = v
	}
	return w
}

// tvF returns f(λ) = E(x*(λ)) from the reference at λ.
func tvF(t testing.TB, p *TVDenoise, lam []float64) float64 {
	t.Helper()
	if err := p.SetHyper(lam); err != nil {
		t.Fatal(err)
	}
	ref, err := p.Reference()
	if err != nil {
		t.Fatal(err)
	}
	var f float64
	for i, x := range ref.W {
		d := x - p.host.XTrue[i]
		f += 0.5 * d * d
	}
	return f
}

// TestTVDenoiseReference checks the reference: ‖∇g(x*)‖ at the rounding
// level (on the device too), A q = x* − x_true through HessVec, the
// hypergradient against central differences of f(λ) with reference
// solves, and the conjugate-gradient reference (beyond the dense budget)
// against the banded one.
func TestTVDenoiseReference(t *testing.T) {
	zoo := append(tvZoo(t), struct {
		name string
		d    *data.TVDenoise
	}{"1d-small-nu", synthTV(t, data.TVDenoiseOptions{W: 50, Alpha: 0.5, Nu: 0.003, Seed: 5})}) // Newton by continuation in ν
	for _, z := range zoo {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustTV(t, b, z.d)
			n := p.InnerDim()
			lam := append([]float64(nil), z.d.Lambda...)
			ref, err := p.Reference()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ref.Method, "banded Cholesky") {
				t.Errorf("method %q", ref.Method)
			}
			scale := bileveltest.Norm(z.d.Y)
			if !(ref.InnerGradNorm <= 1e-14*scale) {
				t.Errorf("InnerGradNorm %v (‖y‖ = %v)", ref.InnerGradNorm, scale)
			}
			wv, out := bileveltest.Vec(t, b, ref.W), bileveltest.Vec(t, b, make([]float64, n))
			if err := p.InnerGrad(out, wv); err != nil {
				t.Fatal(err)
			}
			if g := bileveltest.Norm(bileveltest.Host(t, b, out)); !(g <= 1e-14*scale) {
				t.Errorf("device ‖∇g(x*)‖ = %v", g)
			}
			if err := p.Linearize(wv); err != nil {
				t.Fatal(err)
			}
			if err := p.HessVec(out, bileveltest.Vec(t, b, ref.V)); err != nil {
				t.Fatal(err)
			}
			rhs := make([]float64, n)
			for i := range rhs {
				rhs[i] = ref.W[i] - z.d.XTrue[i]
			}
			if e := bileveltest.RelErr(bileveltest.Host(t, b, out), rhs); !(e <= 1e-13) {
				t.Errorf("A q against x* − x_true: %.3g", e)
			}

			fd := make([]float64, 2)
			for j := range fd {
				const h = 1e-4
				l := append([]float64(nil), lam...)
				l[j] = lam[j] + h
				fp := tvF(t, p, l)
				l[j] = lam[j] - h
				fm := tvF(t, p, l)
				fd[j] = (fp - fm) / (2 * h)
			}
			if e := bileveltest.RelErr(ref.Hypergradient, fd); !(e <= 1e-6) {
				t.Errorf("hypergradient %v against central differences %v: %.3g", ref.Hypergradient, fd, e)
			}

			if err := p.SetHyper(lam); err != nil {
				t.Fatal(err)
			}
			if err := p.SetMaxDenseBytes(1); err != nil {
				t.Fatal(err)
			}
			cg, err := p.Reference()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(cg.Method, "conjugate gradients") {
				t.Errorf("method %q", cg.Method)
			}
			if e := bileveltest.RelErr(cg.Hypergradient, ref.Hypergradient); !(e <= 1e-11) {
				t.Errorf("CG reference %v against banded %v: %.3g", cg.Hypergradient, ref.Hypergradient, e)
			}
			if e := bileveltest.RelErr(cg.W, ref.W); !(e <= 1e-13) {
				t.Errorf("CG x* against banded: %.3g", e)
			}
			t.Logf("%s; %s; ∇f = %v, FD %v", ref.Method, cg.Method, ref.Hypergradient, fd)
		})
	}
}

// TestTVDenoiseErrors: construction, λ and operand errors, and the
// second-order oracles before Linearize.
func TestTVDenoiseErrors(t *testing.T) {
	b := newCPU(t)
	d := synthTV(t, data.TVDenoiseOptions{H: 3, W: 4, Seed: 1})
	if _, err := NewTVDenoise(nil, d); err == nil {
		t.Error("nil backend accepted")
	}
	if _, err := NewTVDenoise(b, nil); err == nil {
		t.Error("nil data accepted")
	}
	bad := *d
	bad.Y = bad.Y[1:]
	if _, err := NewTVDenoise(b, &bad); !errors.Is(err, data.ErrShape) {
		t.Errorf("short y: %v", err)
	}
	p := mustTV(t, b, d)
	n := p.InnerDim()
	v, v2 := bileveltest.Vec(t, b, make([]float64, n)), bileveltest.Vec(t, b, make([]float64, 2))
	for name, call := range map[string]func() error{
		"HessVec":    func() error { return p.HessVec(v, v) },
		"HessDiag":   func() error { return p.HessDiag(v) },
		"CrossVec":   func() error { return p.CrossVec(v2, v) },
		"CrossApply": func() error { return p.CrossApply(v, v2) },
	} {
		if err := call(); !errors.Is(err, ErrNotLinearized) {
			t.Errorf("%s before Linearize: %v", name, err)
		}
	}
	for _, lam := range [][]float64{{0}, {0, 0, 0}, {math.NaN(), 0}, {0, math.Inf(1)}, {0, -800}, {800, 0}, {0, 400}} {
		if err := p.SetHyper(lam); err == nil {
			t.Errorf("SetHyper(%v) accepted", lam)
		}
	}
	var h [2]float64
	p.Hyper(h[:])
	if h != [2]float64(d.Lambda) {
		t.Errorf("λ after rejected SetHyper: %v, want %v", h, d.Lambda)
	}
	short := bileveltest.Vec(t, b, make([]float64, n-1))
	var oe *OperandError
	if err := p.InnerGrad(v, short); !errors.As(err, &oe) || !errors.Is(err, ErrOperand) || oe.Problem != "tvdenoise" || oe.Oracle != "InnerGrad" {
		t.Errorf("InnerGrad(short) = %v", err)
	}
	if err := p.Linearize(v); err != nil {
		t.Fatal(err)
	}
	if err := p.CrossVec(v, v); !errors.Is(err, ErrOperand) {
		t.Errorf("CrossVec(dst of length d) = %v", err)
	}
	if _, err := p.CrossNorm(nil); !errors.Is(err, ErrOperand) {
		t.Errorf("CrossNorm(nil) = %v", err)
	}
	if b.Err() != nil {
		t.Errorf("operand errors left a backend error: %v", b.Err())
	}
	if hh, w := p.Dims(); hh != 3 || w != 4 || p.HyperDim() != 2 || n != 12 || p.Data() != d {
		t.Errorf("Dims %d×%d, h = %d, d = %d", hh, w, p.HyperDim(), n)
	}
	if got, want := p.DenseBytes(), int64(8*(2*12*5+24*12)); got != want {
		t.Errorf("DenseBytes = %d, want %d", got, want)
	}
}

// TestTVDenoiseCrossNorm: CrossNorm at x is the largest singular value of
// the n×2 matrix B(x), formed from CrossApply on e₁, e₂.
func TestTVDenoiseCrossNorm(t *testing.T) {
	for _, z := range tvZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustTV(t, b, z.d)
			n := p.InnerDim()
			w := tvPoint(z.d, 11)
			wv := bileveltest.Vec(t, b, w)
			if err := p.Linearize(bileveltest.Vec(t, b, constant(n, 0))); err != nil {
				t.Fatal(err)
			}
			c, err := p.CrossNorm(wv)
			if err != nil || c.Kind != bilevel.Exact {
				t.Fatalf("CrossNorm: %v, %v", c, err)
			}
			// CrossNorm leaves the linearization (at 0, where B = 0) alone.
			out := bileveltest.Vec(t, b, make([]float64, n))
			if err := p.CrossApply(out, bileveltest.Vec(t, b, []float64{1, 1})); err != nil {
				t.Fatal(err)
			}
			if g := bileveltest.Norm(bileveltest.Host(t, b, out)); g != 0 {
				t.Errorf("B(0)·1 = %v after CrossNorm: the linearization moved", g)
			}
			if err := p.Linearize(wv); err != nil {
				t.Fatal(err)
			}
			bm := mat.NewDense(n, 2, nil)
			for j := 0; j < 2; j++ {
				e := []float64{0, 0}
				e[j] = 1
				if err := p.CrossApply(out, bileveltest.Vec(t, b, e)); err != nil {
					t.Fatal(err)
				}
				bm.SetCol(j, bileveltest.Host(t, b, out))
			}
			var svd mat.SVD
			if !svd.Factorize(bm, mat.SVDNone) {
				t.Fatal("svd")
			}
			if want := svd.Values(nil)[0]; math.Abs(c.Value-want) > 1e-13*want {
				t.Errorf("CrossNorm = %v, ‖B‖₂ = %v", c.Value, want)
			}
		})
	}
}

// TestTVDenoiseAllocs: no oracle allocates once its vectors have been seen,
// and repeated calls give the same bits.
func TestTVDenoiseAllocs(t *testing.T) {
	for _, z := range tvZoo(t)[:2] {
		b := newCPU(t)
		p := mustTV(t, b, z.d)
		n := p.InnerDim()
		w, v := bileveltest.Vec(t, b, tvPoint(z.d, 1)), bileveltest.Vec(t, b, randomPoint(n, 2))
		u, out, out2 := bileveltest.Vec(t, b, []float64{0.3, -0.7}), bileveltest.Vec(t, b, make([]float64, n)), bileveltest.Vec(t, b, make([]float64, 2))
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
			"HessDiag":       func() { keep(p.HessDiag(out)) },
			"CrossVec":       func() { keep(p.CrossVec(out2, v)) },
			"CrossApply":     func() { keep(p.CrossApply(out, u)) },
			"CrossNorm":      func() { _, e := p.CrossNorm(w); keep(e) },
			"OuterValue":     func() { _, e := p.OuterValue(w); keep(e) },
			"OuterGrad":      func() { keep(p.OuterGrad(out, w)) },
			"OuterHyperGrad": func() { keep(p.OuterHyperGrad(out2, w)) },
		} {
			keep(p.Linearize(w))
			call()
			first := bileveltest.Host(t, b, out)
			if a := testing.AllocsPerRun(20, call); a != 0 {
				t.Errorf("%s %s: %v allocations per call", z.name, name, a)
			}
			if again := bileveltest.Host(t, b, out); !sameBits(first, again) {
				t.Errorf("%s %s: repeated calls differ", z.name, name)
			}
			if err != nil {
				t.Fatalf("%s %s: %v", z.name, name, err)
			}
		}
	}
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestTVDenoiseSetHyperRelinearizes: after SetHyper, HessVec and CrossVec
// refer to the new λ at the old point.
func TestTVDenoiseSetHyperRelinearizes(t *testing.T) {
	b := newCPU(t)
	d := synthTV(t, data.TVDenoiseOptions{H: 4, W: 5, Seed: 7})
	p, q := mustTV(t, b, d), mustTV(t, b, d)
	n := p.InnerDim()
	w, v := bileveltest.Vec(t, b, tvPoint(d, 3)), bileveltest.Vec(t, b, randomPoint(n, 4))
	lam := []float64{math.Log(0.7), math.Log(0.02)}
	if err := p.Linearize(w); err != nil {
		t.Fatal(err)
	}
	if err := p.SetHyper(lam); err != nil {
		t.Fatal(err)
	}
	if err := q.SetHyper(lam); err != nil {
		t.Fatal(err)
	}
	if err := q.Linearize(w); err != nil {
		t.Fatal(err)
	}
	o1, o2 := bileveltest.Vec(t, b, make([]float64, n)), bileveltest.Vec(t, b, make([]float64, n))
	if err := p.HessVec(o1, v); err != nil {
		t.Fatal(err)
	}
	if err := q.HessVec(o2, v); err != nil {
		t.Fatal(err)
	}
	if !sameBits(bileveltest.Host(t, b, o1), bileveltest.Host(t, b, o2)) {
		t.Error("HessVec after SetHyper differs from a fresh Linearize")
	}
}
