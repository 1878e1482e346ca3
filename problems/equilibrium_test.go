package problems

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

// synthEq draws a small equilibrium problem (N=24, p=5, k=4, C=3).
func synthEq(t testing.TB, q float64, seed uint64) *data.Equilibrium {
	t.Helper()
	e, err := data.SynthEquilibrium(data.EquilibriumOptions{N: 24, P: 5, K: 4, C: 3, Q: q, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// eqWithCSR returns a copy of e whose X is CSR with about half its entries
// dropped (some rows entirely).
func eqWithCSR(e *data.Equilibrium) *data.Equilibrium {
	x := e.X
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
	c := *e
	c.X = data.NewCSR(x.Rows, x.Cols, indptr, indices, vals)
	return &c
}

func mustEq(t testing.TB, b backend.Backend, e *data.Equilibrium) *Equilibrium {
	t.Helper()
	return closing[*Equilibrium](t)(NewEquilibrium(b, e))
}

func eqZoo(t testing.TB) []struct {
	name string
	e    *data.Equilibrium
} {
	return []struct {
		name string
		e    *data.Equilibrium
	}{
		{"dense", synthEq(t, 0.8, 1)},
		{"csr", eqWithCSR(synthEq(t, 0.8, 2))},
		{"q1.2", synthEq(t, 1.2, 3)}, // not a contraction: the oracles do not care
	}
}

// TestEquilibriumFiniteDifferences runs the fixed-point checker: every
// oracle against central differences, the adjoint identities, shapes.
func TestEquilibriumFiniteDifferences(t *testing.T) {
	for _, z := range eqZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			p := mustEq(t, newCPU(t), z.e)
			bileveltest.CheckFixedPoint(t, p, bileveltest.Options{})
			// And at a point away from the range of Φ (|S_ij| up to 2).
			bileveltest.CheckFixedPointAt(t, p, randomPoint(p.InnerDim(), 7), bileveltest.Options{Seed: 5})
		})
	}
}

// eqDense is the problem at a point S, built entry by entry from the
// definitions: J = ∂_SΦ (d×d), K = ∂_λΦ (d×h), Φ(S).
type eqDense struct {
	phi  []float64
	j, k *mat.Dense
}

func denseEq(p *Equilibrium, lam, S []float64) eqDense {
	n, pf, k, _ := p.Dims()
	h := p.hostAt(lam)
	x := h.x.ToDense()
	d := n * k
	out := eqDense{phi: make([]float64, d), j: mat.NewDense(d, d, nil), k: mat.NewDense(d, p.h, nil)}
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			z := h.bias[j]
			for l := 0; l < k; l++ {
				z += S[i*k+l] * h.a[l*k+j]
			}
			for q := 0; q < pf; q++ {
				z += x.Data[i*pf+q] * h.bm[q*k+j]
			}
			t := math.Tanh(z)
			out.phi[i*k+j] = t
			der := 1 - t*t
			row := i*k + j
			for l := 0; l < k; l++ { // ∂Φ_ij/∂S_il = D'_ij A_lj
				out.j.Set(row, i*k+l, der*h.a[l*k+j])
			}
			for l := 0; l < k; l++ { // ∂Φ_ij/∂A_lj = D'_ij S_il
				out.k.Set(row, l*k+j, der*S[i*k+l])
			}
			for q := 0; q < pf; q++ { // ∂Φ_ij/∂B_qj = D'_ij X_iq
				out.k.Set(row, p.offB+q*k+j, der*x.Data[i*pf+q])
			}
			out.k.Set(row, p.offBias+j, der) // ∂Φ_ij/∂bias_j
		}
	}
	return out
}

// mulVec returns m·x, or mᵀ·x when trans.
func mulVec(m *mat.Dense, trans bool, x []float64) []float64 {
	var a mat.Matrix = m
	if trans {
		a = m.T()
	}
	var y mat.VecDense
	y.MulVec(a, mat.NewVecDense(len(x), append([]float64(nil), x...)))
	return y.RawVector().Data
}

// TestEquilibriumDense compares every oracle with the dense Jacobians built
// from the definitions, and the outer oracles with the host loss.
func TestEquilibriumDense(t *testing.T) {
	for _, z := range eqZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustEq(t, b, z.e)
			d, h := p.InnerDim(), p.HyperDim()
			lam := make([]float64, h)
			p.Hyper(lam)
			S := randomPoint(d, 11)
			u, v, r := randomPoint(d, 12), randomPoint(d, 13), randomPoint(h, 14)
			dn := denseEq(p, lam, S)

			sv, uv, vv, rv := bileveltest.Vec(t, b, S), bileveltest.Vec(t, b, u), bileveltest.Vec(t, b, v), bileveltest.Vec(t, b, r)
			out := bileveltest.Vec(t, b, make([]float64, d))
			outH := bileveltest.Vec(t, b, make([]float64, h))
			run := func(name string, err error, got []float64, want []float64, tol float64) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if e := bileveltest.RelErr(got, want); !(e <= tol) {
					t.Errorf("%s: relative error %.3g against the dense computation (tol %.0g)", name, e, tol)
				}
			}
			err := p.Map(out, sv)
			run("Map", err, bileveltest.Host(t, b, out), dn.phi, 1e-15)
			if err := p.Linearize(sv); err != nil {
				t.Fatal(err)
			}
			err = p.JacVec(out, uv)
			run("JacVec", err, bileveltest.Host(t, b, out), mulVec(dn.j, false, u), 1e-14)
			err = p.JacTransVec(out, vv)
			run("JacTransVec", err, bileveltest.Host(t, b, out), mulVec(dn.j, true, v), 1e-14)
			err = p.HyperJacVec(out, rv)
			run("HyperJacVec", err, bileveltest.Host(t, b, out), mulVec(dn.k, false, r), 1e-14)
			err = p.HyperJacTransVec(outH, vv)
			run("HyperJacTransVec", err, bileveltest.Host(t, b, outH), mulVec(dn.k, true, v), 1e-14)

			ev, gS, gWo, gBo := p.hostAt(lam).outer(S)
			got, err := p.OuterValue(sv)
			run("OuterValue", err, []float64{got}, []float64{ev}, 1e-15)
			err = p.OuterGrad(out, sv)
			run("OuterGrad", err, bileveltest.Host(t, b, out), gS, 1e-14)
			want := make([]float64, p.offWo, h)
			want = append(append(want, gWo...), gBo...)
			err = p.OuterHyperGrad(outH, sv)
			run("OuterHyperGrad", err, bileveltest.Host(t, b, outH), want, 1e-14)
		})
	}
}

// TestEquilibriumReference checks the reference: S* is a fixed point to
// machine precision, V solves (I − Jᵀ)V = ∇_S E with the dense d×d
// Jacobian, the hypergradient is ∇_λE + KᵀV with the dense K, equals the
// backend composition OuterHyperGrad + HyperJacTransVec(V), and agrees with
// central differences of f(λ) = E(S*(λ), λ) for coordinates of every block.
func TestEquilibriumReference(t *testing.T) {
	for _, z := range eqZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustEq(t, b, z.e)
			d, h := p.InnerDim(), p.HyperDim()
			lam := make([]float64, h)
			p.Hyper(lam)
			ref, err := p.Reference()
			if err != nil {
				t.Fatal(err)
			}
			if len(ref.W) != d || len(ref.V) != d || len(ref.Hypergradient) != h || ref.Method == "" {
				t.Fatalf("reference shapes %d %d %d, method %q", len(ref.W), len(ref.V), len(ref.Hypergradient), ref.Method)
			}
			dn := denseEq(p, lam, ref.W)
			if res := bileveltest.RelErr(dn.phi, ref.W); !(res <= 1e-15) || !(ref.InnerGradNorm <= 1e-14) {
				t.Errorf("‖Φ(S*) − S*‖/‖S*‖ = %.3g (dense), InnerGradNorm = %.3g", res, ref.InnerGradNorm)
			}

			// (I − Jᵀ) v = ∇_S E by a d×d LU.
			_, gS, gWo, gBo := p.hostAt(lam).outer(ref.W)
			m := mat.NewDense(d, d, nil)
			m.Sub(eye(d), dn.j.T())
			var v mat.VecDense
			if err := v.SolveVec(m, mat.NewVecDense(d, gS)); err != nil {
				t.Fatal(err)
			}
			if e := bileveltest.RelErr(ref.V, v.RawVector().Data); !(e <= 1e-13) {
				t.Errorf("V: relative error %.3g against the dense d×d solve", e)
			}
			want := mulVec(dn.k, true, v.RawVector().Data)
			for j, g := range gWo {
				want[p.offWo+j] += g
			}
			for j, g := range gBo {
				want[p.offBo+j] += g
			}
			if e := bileveltest.RelErr(ref.Hypergradient, want); !(e <= 1e-13) {
				t.Errorf("hypergradient: relative error %.3g against ∇_λE + KᵀV (dense)", e)
			}

			// The backend composition at (W, V).
			wv, vv := bileveltest.Vec(t, b, ref.W), bileveltest.Vec(t, b, ref.V)
			g1, g2 := bileveltest.Vec(t, b, make([]float64, h)), bileveltest.Vec(t, b, make([]float64, h))
			if err := p.Linearize(wv); err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(p.OuterHyperGrad(g1, wv), p.HyperJacTransVec(g2, vv)); err != nil {
				t.Fatal(err)
			}
			b.Axpy(1, g2, g1)
			if e := bileveltest.RelErr(bileveltest.Host(t, b, g1), ref.Hypergradient); !(e <= 1e-13) {
				t.Errorf("OuterHyperGrad + HyperJacTransVec(V): relative error %.3g against the reference", e)
			}

			// Central differences of f(λ) = E(S*(λ), λ).
			f := func(l []float64) float64 {
				hl := p.hostAt(l)
				S, _, err := hl.fixedPoint()
				if err != nil {
					t.Fatal(err)
				}
				e, _, _, _ := hl.outer(S)
				return e
			}
			var coords []int
			for _, blk := range [][2]int{{0, p.offB}, {p.offB, p.offBias}, {p.offBias, p.offWo}, {p.offWo, p.offBo}, {p.offBo, h}} {
				for j := blk[0]; j < blk[1]; j += max(1, (blk[1]-blk[0])/3) {
					coords = append(coords, j)
				}
			}
			got, fd := make([]float64, len(coords)), make([]float64, len(coords))
			l := append([]float64(nil), lam...)
			for i, j := range coords {
				s := bileveltest.Step(lam[j])
				l[j] = lam[j] + s
				fp := f(l)
				l[j] = lam[j] - s
				fm := f(l)
				l[j] = lam[j]
				got[i], fd[i] = ref.Hypergradient[j], (fp-fm)/(2*s)
			}
			if e := bileveltest.RelErr(got, fd); !(e <= 1e-6) {
				t.Errorf("hypergradient at %d coordinates: relative error %.3g against central differences of f\n got  %v\n want %v", len(coords), e, got, fd)
			}
		})
	}
}

func eye(n int) *mat.Dense {
	m := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		m.Set(i, i, 1)
	}
	return m
}

// TestEquilibriumContraction checks q = ‖A‖₂ against the eigenvalues of
// AᵀA, its Kind, its update at SetHyper, and the contraction inequality
// ‖Φ(S) − Φ(S')‖ ≤ q‖S − S'‖ on random pairs.
func TestEquilibriumContraction(t *testing.T) {
	b := newCPU(t)
	for _, c := range []struct {
		q    float64
		kind bilevel.Kind
	}{{0.8, bilevel.Exact}, {0.3, bilevel.Exact}, {1.2, bilevel.Unknown}} {
		p := mustEq(t, b, synthEq(t, c.q, 4))
		k := p.k
		lam := make([]float64, p.h)
		p.Hyper(lam)
		norm := func() float64 {
			var ata mat.SymDense
			ata.SymOuterK(1, mat.NewDense(k, k, lam[:k*k]).T())
			var eig mat.EigenSym
			if !eig.Factorize(&ata, false) {
				t.Fatal("eigendecomposition failed")
			}
			v := eig.Values(nil)
			return math.Sqrt(v[len(v)-1])
		}
		got, err := p.Contraction()
		if err != nil || got.Kind != c.kind || math.Abs(got.Value-norm()) > 1e-14 || math.Abs(got.Value-c.q) > 1e-14 {
			t.Errorf("q = %v: Contraction = %+v, %v; want %v (eigenvalues of AᵀA), kind %v", c.q, got, err, norm(), c.kind)
		}
		if c.kind == bilevel.Exact {
			d := p.InnerDim()
			rng := rand.New(rand.NewPCG(9, 9))
			x, y := make([]float64, d), make([]float64, d)
			xv, yv := bileveltest.Vec(t, b, x), bileveltest.Vec(t, b, y)
			px, py := bileveltest.Vec(t, b, x), bileveltest.Vec(t, b, y)
			for range 20 {
				var dxy float64
				for i := range x {
					x[i], y[i] = 2*rng.NormFloat64(), 2*rng.NormFloat64()
					dxy = math.Hypot(dxy, x[i]-y[i])
				}
				b.Upload(xv, x)
				b.Upload(yv, y)
				if err := errors.Join(p.Map(px, xv), p.Map(py, yv)); err != nil {
					t.Fatal(err)
				}
				b.Axpy(-1, py, px)
				if dphi := b.Nrm2(px); !(dphi <= got.Value*dxy) {
					t.Errorf("‖Φ(S) − Φ(S')‖ = %v > q‖S − S'‖ = %v", dphi, got.Value*dxy)
				}
			}
		}
		// Halving A halves q.
		for j := range k * k {
			lam[j] /= 2
		}
		if err := p.SetHyper(lam); err != nil {
			t.Fatal(err)
		}
		if got, _ := p.Contraction(); math.Abs(got.Value-c.q/2) > 1e-14 || got.Kind != bilevel.Exact {
			t.Errorf("after halving A: Contraction = %+v, want %v exact", got, c.q/2)
		}
	}
}

// TestEquilibriumSetHyperKeepsLinearization: after SetHyper the products
// use D' at the kept point and the new λ.
func TestEquilibriumSetHyperKeepsLinearization(t *testing.T) {
	b := newCPU(t)
	p := mustEq(t, b, synthEq(t, 0.8, 5))
	d, h := p.InnerDim(), p.HyperDim()
	S, u := randomPoint(d, 21), randomPoint(d, 22)
	sv, uv, out := bileveltest.Vec(t, b, S), bileveltest.Vec(t, b, u), bileveltest.Vec(t, b, make([]float64, d))
	if err := p.Linearize(sv); err != nil {
		t.Fatal(err)
	}
	lam := make([]float64, h)
	p.Hyper(lam)
	for j := range lam {
		lam[j] *= 0.7
	}
	if err := errors.Join(p.SetHyper(lam), p.JacVec(out, uv)); err != nil {
		t.Fatal(err)
	}
	want := mulVec(denseEq(p, lam, S).j, false, u)
	if e := bileveltest.RelErr(bileveltest.Host(t, b, out), want); !(e <= 1e-14) {
		t.Errorf("JacVec after SetHyper: relative error %.3g against the dense J at the new λ", e)
	}
}

func TestEquilibriumErrors(t *testing.T) {
	b := newCPU(t)
	e := synthEq(t, 0.8, 6)
	if _, err := NewEquilibrium(nil, e); err == nil {
		t.Error("nil backend: no error")
	}
	if _, err := NewEquilibrium(b, nil); err == nil {
		t.Error("nil data: no error")
	}
	bad := *e
	bad.Y = append([]int(nil), e.Y...)
	bad.Y[3] = 3
	if _, err := NewEquilibrium(b, &bad); !errors.Is(err, data.ErrLabels) {
		t.Errorf("label 3 of 3 classes: %v; want data.ErrLabels", err)
	}
	if p, _, err := NewFixedPoint(b, "quadratic", e); err == nil || p != nil {
		t.Errorf("NewFixedPoint(quadratic, *data.Equilibrium) = %v, %v", p, err)
	}
	if p, _, err := NewFixedPoint(b, "equilibrium", &bad); err == nil || p != nil {
		t.Errorf("NewFixedPoint(bad data) = %v, %v", p, err)
	}
	fp, shape, err := NewFixedPoint(b, "equilibrium", e)
	if err != nil || shape != "N=24, p=5, k=4, C=3, d=96, h=55" {
		t.Fatalf("NewFixedPoint = %q, %v", shape, err)
	}
	defer fp.Close()

	p := mustEq(t, b, e)
	d, h := p.InnerDim(), p.HyperDim()
	lam := make([]float64, h)
	p.Hyper(lam)
	for _, l := range [][]float64{lam[1:], append(lam, 0), nil} {
		if err := p.SetHyper(l); err == nil || !strings.Contains(err.Error(), "length") {
			t.Errorf("SetHyper(len %d) = %v", len(l), err)
		}
	}
	nan := append([]float64(nil), lam...)
	nan[7] = math.NaN()
	if err := p.SetHyper(nan); err == nil {
		t.Error("SetHyper(NaN): no error")
	}
	if got := make([]float64, h); func() bool { p.Hyper(got); return bileveltest.RelErr(got, lam) != 0 }() {
		t.Error("a failed SetHyper changed λ")
	}

	w, out, outH := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, h))
	for name, call := range map[string]func() error{
		"JacVec":           func() error { return p.JacVec(out, w) },
		"JacTransVec":      func() error { return p.JacTransVec(out, w) },
		"HyperJacVec":      func() error { return p.HyperJacVec(out, outH) },
		"HyperJacTransVec": func() error { return p.HyperJacTransVec(outH, w) },
	} {
		if err := call(); !errors.Is(err, ErrNotLinearized) {
			t.Errorf("%s before Linearize: %v; want ErrNotLinearized", name, err)
		}
	}
	// Map and the outer oracles need no linearization.
	if _, err := p.OuterValue(w); err != nil {
		t.Error(err)
	}
	if err := errors.Join(p.Map(out, w), p.OuterGrad(out, w), p.OuterHyperGrad(outH, w)); err != nil {
		t.Error(err)
	}
	// Wrong lengths (the checker covers every operand of every oracle).
	if err := p.Linearize(outH); err == nil || !strings.Contains(err.Error(), "length") {
		t.Errorf("Linearize(len h) = %v", err)
	}
	if err := p.OuterHyperGrad(out, w); err == nil {
		t.Error("OuterHyperGrad(dst of len d): no error")
	}
	if err := b.Err(); err != nil {
		t.Errorf("the length checks reached the backend: %v", err)
	}
}

// TestEquilibriumAllocs: no oracle allocates once its vectors have been seen.
func TestEquilibriumAllocs(t *testing.T) {
	b := newCPU(t)
	p := mustEq(t, b, eqWithCSR(synthEq(t, 0.8, 8)))
	d, h := p.InnerDim(), p.HyperDim()
	w, u := bileveltest.Vec(t, b, randomPoint(d, 1)), bileveltest.Vec(t, b, randomPoint(d, 2))
	r, out, outH := bileveltest.Vec(t, b, randomPoint(h, 3)), bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, h))
	var err error
	keep := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	for name, call := range map[string]func(){
		"Map":              func() { keep(p.Map(out, w)) },
		"Linearize":        func() { keep(p.Linearize(w)) },
		"JacVec":           func() { keep(p.JacVec(out, u)) },
		"JacTransVec":      func() { keep(p.JacTransVec(out, u)) },
		"HyperJacVec":      func() { keep(p.HyperJacVec(out, r)) },
		"HyperJacTransVec": func() { keep(p.HyperJacTransVec(outH, u)) },
		"OuterValue":       func() { _, e := p.OuterValue(w); keep(e) },
		"OuterGrad":        func() { keep(p.OuterGrad(out, w)) },
		"OuterHyperGrad":   func() { keep(p.OuterHyperGrad(outH, w)) },
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

// TestCheckFixedPointGradientStep runs the fixed-point checker's derivative
// and operand checks on the gradient-step maps of the optimisation zoo, a
// second family of bilevel.FixedPoint (with a symmetric Jacobian).
func TestCheckFixedPointGradientStep(t *testing.T) {
	for _, z := range zoo() {
		t.Run(z.name, func(t *testing.T) {
			gs, err := bilevel.NewGradientStep(z.p(t), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer gs.Close()
			bileveltest.CheckFixedPointAt(t, gs, randomPoint(gs.InnerDim(), 3), bileveltest.Options{})
			bileveltest.CheckFixedPointShapes(t, gs)
		})
	}
}
