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

// hcSynth draws a small hyper-cleaning problem (reg 1e-2) with λ_i drawn
// uniformly from [−2, 2], so that the weights σ(λ_i) differ.
func hcSynth(t testing.TB, n, m, p, c int, seed uint64) *data.Hypercleaning {
	t.Helper()
	h, err := data.SynthHypercleaning(data.HypercleaningOptions{N: n, M: m, P: p, C: c, Reg: 1e-2, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 17))
	for i := range h.Lambda {
		h.Lambda[i] = 4*rng.Float64() - 2
	}
	return h
}

// hcToCSR returns x as CSR with about half its entries dropped (some rows
// entirely), and a duplicate entry in row 1.
func hcToCSR(x *data.Matrix) *data.Matrix {
	indptr := []int{0}
	var indices []int
	var vals []float64
	for i := 0; i < x.Rows; i++ {
		for j := 0; j < x.Cols; j++ {
			if (i*7+j*3)%2 == 0 && i%5 != 4 {
				indices = append(indices, j)
				vals = append(vals, x.Data[i*x.Cols+j])
				if i == 1 && j == 0 { // a duplicate: the values are summed
					indices = append(indices, 0)
					vals = append(vals, 0.25)
				}
			}
		}
		indptr = append(indptr, len(indices))
	}
	return data.NewCSR(x.Rows, x.Cols, indptr, indices, vals)
}

func hcWithCSR(h *data.Hypercleaning) *data.Hypercleaning {
	c := *h
	c.XTrain, c.XVal = hcToCSR(h.XTrain), hcToCSR(h.XVal)
	return &c
}

func mustHC(t testing.TB, b backend.Backend, h *data.Hypercleaning) *Hypercleaning {
	t.Helper()
	return closing[*Hypercleaning](t)(NewHypercleaning(b, h))
}

func hcZoo(t testing.TB) []struct {
	name string
	h    *data.Hypercleaning
} {
	return []struct {
		name string
		h    *data.Hypercleaning
	}{
		{"dense", hcSynth(t, 40, 30, 5, 3, 1)},
		{"csr", hcWithCSR(hcSynth(t, 45, 25, 6, 4, 2))},
		{"binary", hcSynth(t, 30, 20, 4, 2, 3)},
	}
}

// hcPoint is a random point of moderate size (scores O(1)).
func hcPoint(d int, seed uint64) []float64 {
	w := randomPoint(d, seed)
	for i := range w {
		w[i] *= 0.5
	}
	return w
}

// TestHypercleaningOracles runs the shared checkers: every oracle against
// central differences, B·u against its adjoint and differences, operand
// errors.
func TestHypercleaningOracles(t *testing.T) {
	for _, z := range hcZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			p := mustHC(t, newCPU(t), z.h)
			w := hcPoint(p.InnerDim(), 3)
			bileveltest.CheckOracles(t, p, w, bileveltest.Options{})
			bileveltest.CheckCrossApply(t, p, w, bileveltest.Options{Seed: 2})
			bileveltest.CheckProblemShapes(t, p)
		})
	}
}

// hcDenseB returns B = ∂²g/∂w∂λ (d×n) from its definition: column i is
// σ'(λ_i)/n · x̃_i ⊗ (p_i − e_{y_i}).
func hcDenseB(p *Hypercleaning, w []float64) *mat.Dense {
	x := hostDense(p.xt)
	ones := make([]float64, p.n)
	_, _, prob := hcLoss(x, p.host.YTrain, ones, w, p.c)
	b := mat.NewDense(p.d, p.n, nil)
	for i := 0; i < p.n; i++ {
		for j := 0; j < p.pe; j++ {
			for k := 0; k < p.c; k++ {
				r := prob[i*p.c+k]
				if k == p.host.YTrain[i] {
					r--
				}
				b.Set(j*p.c+k, i, p.sp[i]/float64(p.n)*x.At(i, j)*r)
			}
		}
	}
	return b
}

// TestHypercleaningDense compares the oracles with host computations from
// the definitions: g, ∇g and A from the dense Hessian of the reference,
// B from its columns, E and ∇E, and CrossNorm with ‖B‖_F ≥ ‖B‖₂.
func TestHypercleaningDense(t *testing.T) {
	for _, z := range hcZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustHC(t, b, z.h)
			d, n := p.InnerDim(), p.HyperDim()
			w, v, u := hcPoint(d, 4), randomPoint(d, 5), randomPoint(n, 6)
			x := hostDense(p.xt)
			omega := make([]float64, n)
			for i := range omega {
				omega[i] = p.s[i] / float64(n)
			}
			gv, gg, prob := p.innerAt(x, omega, w)
			a := hcHessian(x, omega, prob, p.c, 2*p.reg)
			bd := hcDenseB(p, w)
			inv := make([]float64, p.m)
			for i := range inv {
				inv[i] = 1 / float64(p.m)
			}
			ev, eg, _ := hcLoss(hostDense(p.xv), p.host.YVal, inv, w, p.c)

			wv, vv, uv := bileveltest.Vec(t, b, w), bileveltest.Vec(t, b, v), bileveltest.Vec(t, b, u)
			out, outH := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, n))
			check := func(name string, err error, got, want []float64, tol float64) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if e := bileveltest.RelErr(got, want); !(e <= tol) {
					t.Errorf("%s: relative error %.3g against the host computation (tol %.0g)", name, e, tol)
				}
			}
			got, err := p.InnerValue(wv)
			check("InnerValue", err, []float64{got}, []float64{gv}, 1e-14)
			err = p.InnerGrad(out, wv)
			check("InnerGrad", err, bileveltest.Host(t, b, out), gg, 1e-13)
			if err := p.Linearize(wv); err != nil {
				t.Fatal(err)
			}
			err = p.HessVec(out, vv)
			check("HessVec", err, bileveltest.Host(t, b, out), mulVec(mat.DenseCopyOf(a), false, v), 1e-13)
			err = p.CrossVec(outH, vv)
			check("CrossVec", err, bileveltest.Host(t, b, outH), mulVec(bd, true, v), 1e-13)
			err = p.CrossApply(out, uv)
			check("CrossApply", err, bileveltest.Host(t, b, out), mulVec(bd, false, u), 1e-13)
			got, err = p.OuterValue(wv)
			check("OuterValue", err, []float64{got}, []float64{ev}, 1e-14)
			err = p.OuterGrad(out, wv)
			check("OuterGrad", err, bileveltest.Host(t, b, out), eg, 1e-13)

			cn, err := p.CrossNorm(wv)
			if err != nil {
				t.Fatal(err)
			}
			var svd mat.SVD
			if !svd.Factorize(bd, mat.SVDNone) {
				t.Fatal("SVD failed")
			}
			if s := svd.Values(nil)[0]; cn.Kind != bilevel.Bound || !(cn.Value >= s*(1-1e-14)) ||
				math.Abs(cn.Value-mat.Norm(bd, 2))/cn.Value > 1e-13 {
				t.Errorf("CrossNorm = %+v; want ‖B‖_F = %v ≥ ‖B‖₂ = %v (Bound)", cn, mat.Norm(bd, 2), s)
			}
		})
	}
}

// TestHypercleaningConstants samples the claimed constants (none may be
// contradicted) and checks μ = 2reg, L and L_f against dense
// eigendecompositions, and their update at SetHyper.
func TestHypercleaningConstants(t *testing.T) {
	for _, z := range hcZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			p := mustHC(t, newCPU(t), z.h)
			c, err := p.Constants()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []bilevel.Constant{c.Mu, c.L, c.Lf, c.LA, c.LB} {
				if k.Kind != bilevel.Bound {
					t.Errorf("constants %+v: want every one a Bound", c)
				}
			}
			if c.LEl != (bilevel.Constant{Value: 0, Kind: bilevel.Exact}) || c.Mu.Value != 2*p.reg {
				t.Errorf("μ = %+v, L_Eλ = %+v", c.Mu, c.LEl)
			}
			_, gs, err := gramExtremes(p.xt, p.s, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, gv, err := gramExtremes(p.xv, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(c.L.Value-(gs/(2*float64(p.n))+2*p.reg)) > 1e-14*c.L.Value || math.Abs(c.Lf.Value-gv/(2*float64(p.m))) > 1e-14*c.Lf.Value {
				t.Errorf("L = %v, L_f = %v; want %v, %v", c.L.Value, c.Lf.Value, gs/(2*float64(p.n))+2*p.reg, gv/(2*float64(p.m)))
			}
			for _, o := range []bileveltest.ConstantsOptions{
				{},
				{Center: randomPoint(p.InnerDim(), 9), Radius: 3, Points: 4, Seed: 2},
			} {
				rep := bileveltest.CheckConstants(t, p, o)
				for _, k := range []bileveltest.ConstantCheck{rep.Mu, rep.L, rep.Lf, rep.LA, rep.LB, rep.LEl} {
					if k.Samples == 0 {
						t.Errorf("a constant was not sampled: %v", rep)
					}
				}
			}
			// Doubling every weight's logit changes s, L and L_B.
			lam := make([]float64, p.n)
			p.Hyper(lam)
			for i := range lam {
				lam[i] = 2*lam[i] + 1
			}
			if err := p.SetHyper(lam); err != nil {
				t.Fatal(err)
			}
			c2, err := p.Constants()
			if err != nil {
				t.Fatal(err)
			}
			if c2.L.Value == c.L.Value || c2.LB.Value == c.LB.Value || c2.Lf != c.Lf {
				t.Errorf("after SetHyper: L %v → %v, L_B %v → %v, L_f %v → %v", c.L, c2.L, c.LB, c2.LB, c.Lf, c2.Lf)
			}
			bileveltest.CheckConstants(t, p, bileveltest.ConstantsOptions{Points: 3, Seed: 4})
		})
	}
}

// hcF returns f(λ) = E(w*(λ)) with w*(λ) from Reference; p is left at λ0.
func hcF(t *testing.T, p *Hypercleaning, lam0 []float64) func([]float64) float64 {
	b := p.Backend()
	return func(l []float64) float64 {
		if err := p.SetHyper(l); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := p.SetHyper(lam0); err != nil {
				t.Fatal(err)
			}
		}()
		ref, err := p.Reference()
		if err != nil {
			t.Fatal(err)
		}
		w := bileveltest.Vec(t, b, ref.W)
		defer b.Free(w)
		v, err := p.OuterValue(w)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestHypercleaningReference checks the reference: ∇g(w*) ≈ 0 on the
// backend, A q = ∇E(w*) with the backend's HessVec, ∇f = −Bᵀq with its
// CrossVec, and ∇f against central differences of f(λ) = E(w*(λ)) at
// corrupted and clean rows.
func TestHypercleaningReference(t *testing.T) {
	for _, z := range hcZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustHC(t, b, z.h)
			d, n := p.InnerDim(), p.HyperDim()
			ref, err := p.Reference()
			if err != nil {
				t.Fatal(err)
			}
			if len(ref.W) != d || len(ref.V) != d || len(ref.Hypergradient) != n || ref.Method == "" {
				t.Fatalf("reference shapes %d %d %d, method %q", len(ref.W), len(ref.V), len(ref.Hypergradient), ref.Method)
			}
			wv, qv := bileveltest.Vec(t, b, ref.W), bileveltest.Vec(t, b, ref.V)
			g, aq, ge := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d))
			hg := bileveltest.Vec(t, b, make([]float64, n))
			if err := errors.Join(p.InnerGrad(g, wv), p.Linearize(wv), p.HessVec(aq, qv), p.OuterGrad(ge, wv), p.CrossVec(hg, qv)); err != nil {
				t.Fatal(err)
			}
			if gn := b.Nrm2(g); !(gn <= 1e-14) || !(ref.InnerGradNorm <= 1e-14) {
				t.Errorf("‖∇g(w*)‖ = %.3g on the backend, InnerGradNorm = %.3g", gn, ref.InnerGradNorm)
			}
			if e := bileveltest.RelErr(bileveltest.Host(t, b, aq), bileveltest.Host(t, b, ge)); !(e <= 1e-12) {
				t.Errorf("A q against ∇E(w*): relative error %.3g", e)
			}
			b.Scal(-1, hg)
			if e := bileveltest.RelErr(bileveltest.Host(t, b, hg), ref.Hypergradient); !(e <= 1e-12) {
				t.Errorf("−CrossVec(q) against the reference hypergradient: relative error %.3g", e)
			}

			lam := make([]float64, n)
			p.Hyper(lam)
			f := hcF(t, p, lam)
			var coords []int
			for i := 0; i < n; i += 4 {
				coords = append(coords, i)
			}
			got, fd := make([]float64, len(coords)), make([]float64, len(coords))
			l := append([]float64(nil), lam...)
			for k, i := range coords {
				s := bileveltest.Step(lam[i])
				l[i] = lam[i] + s
				fp := f(l)
				l[i] = lam[i] - s
				fm := f(l)
				l[i] = lam[i]
				got[k], fd[k] = ref.Hypergradient[i], (fp-fm)/(2*s)
			}
			e := bileveltest.RelErr(got, fd)
			if !(e <= 1e-6) {
				t.Errorf("hypergradient at %d coordinates: relative error %.3g against central differences of f\n got  %v\n want %v", len(coords), e, got, fd)
			}
			t.Logf("InnerGradNorm %.3g; hypergradient vs central differences of f at %d coordinates: %.3g", ref.InnerGradNorm, len(coords), e)
		})
	}
}

// TestHypercleaningErrors: construction, SetHyper, operands and the order
// of the calls.
func TestHypercleaningErrors(t *testing.T) {
	b := newCPU(t)
	h := hcSynth(t, 20, 10, 3, 3, 7)
	if _, err := NewHypercleaning(nil, h); err == nil {
		t.Error("nil backend: no error")
	}
	if _, err := NewHypercleaning(b, nil); err == nil {
		t.Error("nil data: no error")
	}
	bad := *h
	bad.YTrain = append([]int(nil), h.YTrain...)
	bad.YTrain[2] = 3
	if _, err := NewHypercleaning(b, &bad); !errors.Is(err, data.ErrLabels) {
		t.Errorf("label 3 of 3 classes: %v; want data.ErrLabels", err)
	}
	p := mustHC(t, b, h)
	d, n := p.InnerDim(), p.HyperDim()
	if d != 4*3 || n != 20 {
		t.Fatalf("d = %d, h = %d; want 12, 20", d, n)
	}
	lam := make([]float64, n)
	p.Hyper(lam)
	for _, l := range [][]float64{lam[1:], append(append([]float64(nil), lam...), 0), nil} {
		if err := p.SetHyper(l); err == nil || !strings.Contains(err.Error(), "length") {
			t.Errorf("SetHyper(len %d) = %v", len(l), err)
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1)} {
		bl := append([]float64(nil), lam...)
		bl[4] = v
		if err := p.SetHyper(bl); err == nil {
			t.Errorf("SetHyper(%v): no error", v)
		}
	}
	if got := make([]float64, n); func() bool { p.Hyper(got); return bileveltest.RelErr(got, lam) != 0 }() {
		t.Error("a failed SetHyper changed λ")
	}
	// Huge logits saturate the weights without overflow.
	big := append([]float64(nil), lam...)
	big[0], big[1] = 800, -800
	if err := p.SetHyper(big); err != nil || p.s[0] != 1 || p.s[1] != 0 || p.sp[0] != 0 {
		t.Errorf("SetHyper(±800) = %v, s = %v, %v, σ' = %v", err, p.s[0], p.s[1], p.sp[0])
	}

	w, out, outH := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, n))
	for name, call := range map[string]func() error{
		"HessVec":     func() error { return p.HessVec(out, w) },
		"HessVecPair": func() error { return p.HessVecPair(out, w, outH, w) },
		"CrossVec":    func() error { return p.CrossVec(outH, w) },
		"CrossApply":  func() error { return p.CrossApply(out, outH) },
	} {
		if err := call(); !errors.Is(err, ErrNotLinearized) {
			t.Errorf("%s before Linearize: %v; want ErrNotLinearized", name, err)
		}
	}
	if _, err := p.CrossNorm(w); err != nil {
		t.Errorf("CrossNorm needs no linearization: %v", err)
	}
	var oe *OperandError
	if err := p.InnerGrad(outH, w); !errors.Is(err, ErrOperand) || !errors.As(err, &oe) || oe.Problem != "hypercleaning" || oe.Want != d {
		t.Errorf("InnerGrad(dst of len n) = %v", err)
	}
	if err := p.OuterHyperGrad(out, w); !errors.Is(err, ErrOperand) {
		t.Errorf("OuterHyperGrad(dst of len d) = %v", err)
	}
	if err := b.Err(); err != nil {
		t.Errorf("the operand checks reached the backend: %v", err)
	}
}

// TestHypercleaningDenseBudget: Reference beyond the dense budget is
// ErrTooLarge; the constants fall back to Lanczos estimates.
func TestHypercleaningDenseBudget(t *testing.T) {
	h := hcSynth(t, 30, 20, 4, 3, 8)
	p := mustHC(t, newCPU(t), h)
	if got, want := p.DenseBytes(), saturate(hypercleaningDenseBytes(h)); got != want || got <= 0 {
		t.Fatalf("DenseBytes = %d, want %d", got, want)
	}
	exact, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetMaxDenseBytes(1000); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reference(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Reference over the budget: %v; want ErrTooLarge", err)
	}
	q := mustHC(t, newCPU(t), h)
	if err := q.SetMaxDenseBytes(1000); err != nil {
		t.Fatal(err)
	}
	est, err := q.Constants()
	if err != nil {
		t.Fatal(err)
	}
	if est.L.Kind != bilevel.Estimate || est.Mu.Kind != bilevel.Bound || math.Abs(est.L.Value-exact.L.Value) > 1e-4*exact.L.Value ||
		math.Abs(est.Lf.Value-exact.Lf.Value) > 1e-4*exact.Lf.Value {
		t.Errorf("Lanczos constants %+v; exact %+v", est, exact)
	}
}

// hcCoreOnly hides the backend's Multinomial kernels, so that the problem
// composes core operations.
type hcCoreOnly struct{ backend.Backend }

// TestHypercleaningCoreOps: the core-operation compositions agree with the
// fused kernels to 1e-13 normwise, dense and CSR.
func TestHypercleaningCoreOps(t *testing.T) {
	for _, z := range hcZoo(t)[:2] {
		t.Run(z.name, func(t *testing.T) {
			cpu := newCPU(t)
			core := hcCoreOnly{cpu}
			f, c := mustHC(t, cpu, z.h), mustHC(t, core, z.h)
			if f.mn == nil || c.mn != nil {
				t.Fatal("the wrapper did not hide the fused kernels")
			}
			d := f.InnerDim()
			w, v := bileveltest.Vec(t, cpu, hcPoint(d, 11)), bileveltest.Vec(t, cpu, randomPoint(d, 12))
			o1, o2 := bileveltest.Vec(t, cpu, make([]float64, d)), bileveltest.Vec(t, cpu, make([]float64, d))
			for name, call := range map[string]func(p *Hypercleaning, dst backend.Vector) error{
				"InnerGrad": func(p *Hypercleaning, dst backend.Vector) error { return p.InnerGrad(dst, w) },
				"HessVec":   func(p *Hypercleaning, dst backend.Vector) error { return p.HessVec(dst, v) },
				"OuterGrad": func(p *Hypercleaning, dst backend.Vector) error { return p.OuterGrad(dst, w) },
			} {
				if err := errors.Join(f.Linearize(w), c.Linearize(w), call(f, o1), call(c, o2)); err != nil {
					t.Fatal(err)
				}
				if e := bileveltest.RelErr(bileveltest.Host(t, cpu, o2), bileveltest.Host(t, cpu, o1)); !(e <= 1e-13) {
					t.Errorf("%s: core operations against fused kernels: relative error %.3g", name, e)
				}
			}
			bileveltest.CheckOracles(t, c, hcPoint(d, 13), bileveltest.Options{})
		})
	}
}

// TestHypercleaningAllocs: no oracle allocates once its vectors have been
// seen.
func TestHypercleaningAllocs(t *testing.T) {
	b := newCPU(t)
	p := mustHC(t, b, hcWithCSR(hcSynth(t, 40, 20, 5, 3, 9)))
	d, n := p.InnerDim(), p.HyperDim()
	w, v := bileveltest.Vec(t, b, hcPoint(d, 1)), bileveltest.Vec(t, b, randomPoint(d, 2))
	u, out, out2, outH := bileveltest.Vec(t, b, randomPoint(n, 3)), bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, n))
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

// TestHypercleaningDeterministic: the same calls give the same bits.
func TestHypercleaningDeterministic(t *testing.T) {
	h := hcWithCSR(hcSynth(t, 40, 20, 5, 3, 10))
	var first []float64
	for range 2 {
		b := newCPU(t)
		p := mustHC(t, b, h)
		d := p.InnerDim()
		w, out, o2 := bileveltest.Vec(t, b, hcPoint(d, 1)), bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d))
		if err := errors.Join(p.InnerGrad(out, w), p.Linearize(w), p.HessVec(o2, out)); err != nil {
			t.Fatal(err)
		}
		got := bileveltest.Host(t, b, o2)
		if first == nil {
			first = got
			continue
		}
		for i := range got {
			if got[i] != first[i] {
				t.Fatalf("run 2 differs at %d: %v vs %v", i, got[i], first[i])
			}
		}
	}
}
