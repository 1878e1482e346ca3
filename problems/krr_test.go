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

func synthKRR(t testing.TB, o data.KRROptions) *data.KRR {
	t.Helper()
	k, err := data.SynthKRR(o)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKRR(t testing.TB, b backend.Backend, k *data.KRR) *KRR {
	t.Helper()
	return closing[*KRR](t)(NewKRR(b, k))
}

func krrZoo(t testing.TB) []struct {
	name string
	k    *data.KRR
} {
	return []struct {
		name string
		k    *data.KRR
	}{
		{"default-gamma", synthKRR(t, data.KRROptions{N: 30, M: 20, D: 3, Noise: 0.1, Rho: 0.1, Seed: 1})},
		{"narrow", synthKRR(t, data.KRROptions{N: 25, M: 15, D: 2, Noise: 0.1, Rho: 1e-3, Gamma: 2, Seed: 2})},
		{"wide", synthKRR(t, data.KRROptions{N: 20, M: 40, D: 4, Rho: 1, Gamma: 0.01, Seed: 3})},
	}
}

// krrTestDense is the problem at λ built in the test from the definitions,
// independently of the package's host code: K, D⊙K, K_vt, D_vt⊙K_vt as
// gonum matrices (math.Exp of −γ‖x_i − x_j‖²).
type krrTestDense struct {
	rho, gamma     float64
	k, dk, kv, dkv *mat.Dense
	y, yv          *mat.VecDense
}

func krrDenseAt(kd *data.KRR, lam []float64) krrTestDense {
	rho, gamma := math.Exp(lam[0]), math.Exp(lam[1])
	build := func(a *data.Matrix) (*mat.Dense, *mat.Dense) {
		x := kd.XTrain
		k, dk := mat.NewDense(a.Rows, x.Rows, nil), mat.NewDense(a.Rows, x.Rows, nil)
		for i := 0; i < a.Rows; i++ {
			for j := 0; j < x.Rows; j++ {
				var d float64
				for c := 0; c < x.Cols; c++ {
					e := a.At(i, c) - x.At(j, c)
					d += e * e
				}
				v := math.Exp(-gamma * d)
				k.Set(i, j, v)
				dk.Set(i, j, d*v)
			}
		}
		return k, dk
	}
	out := krrTestDense{rho: rho, gamma: gamma}
	out.k, out.dk = build(kd.XTrain)
	out.kv, out.dkv = build(kd.XVal)
	out.y = mat.NewVecDense(len(kd.YTrain), append([]float64(nil), kd.YTrain...))
	out.yv = mat.NewVecDense(len(kd.YVal), append([]float64(nil), kd.YVal...))
	return out
}

func (d krrTestDense) a() *mat.Dense {
	n, _ := d.k.Dims()
	a := mat.DenseCopyOf(d.k)
	for i := 0; i < n; i++ {
		a.Set(i, i, a.At(i, i)+d.rho)
	}
	return a
}

func krrVec(x []float64) *mat.VecDense { return mat.NewVecDense(len(x), append([]float64(nil), x...)) }

func krrMulV(m mat.Matrix, x *mat.VecDense) *mat.VecDense {
	var y mat.VecDense
	y.MulVec(m, x)
	return &y
}

// value returns f(λ) = E(w*(λ), λ) by a dense LU solve.
func (d krrTestDense) value(t testing.TB) float64 {
	var w mat.VecDense
	if err := w.SolveVec(d.a(), d.y); err != nil {
		t.Fatal(err)
	}
	r := krrMulV(d.kv, &w)
	r.SubVec(r, d.yv)
	m, _ := d.kv.Dims()
	return mat.Dot(r, r) / float64(2*m)
}

// TestKRROracles runs the shared checkers: every oracle against central
// differences (HessDiag included), B·u against Bᵀv and differences, and
// operand errors.
func TestKRROracles(t *testing.T) {
	for _, z := range krrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			p := mustKRR(t, newCPU(t), z.k)
			w := randomPoint(p.InnerDim(), 5)
			bileveltest.CheckOracles(t, p, w, bileveltest.Options{})
			bileveltest.CheckCrossApply(t, p, w, bileveltest.Options{})
			bileveltest.CheckProblemShapes(t, p)
		})
	}
}

// TestKRRDense compares every oracle with the dense matrices built in the
// test from the definitions.
func TestKRRDense(t *testing.T) {
	for _, z := range krrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustKRR(t, b, z.k)
			n, m, _ := p.Dims()
			lam := make([]float64, 2)
			p.Hyper(lam)
			dn := krrDenseAt(z.k, lam)
			w, v, u := randomPoint(n, 11), randomPoint(n, 12), randomPoint(2, 13)
			wv, vv, uv := bileveltest.Vec(t, b, w), bileveltest.Vec(t, b, v), bileveltest.Vec(t, b, u)
			out, out2 := bileveltest.Vec(t, b, make([]float64, n)), bileveltest.Vec(t, b, make([]float64, 2))
			check := func(name string, err error, got []float64, want *mat.VecDense) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if e := bileveltest.RelErr(got, want.RawVector().Data); !(e <= 1e-13) {
					t.Errorf("%s: relative error %.3g against the dense computation", name, e)
				}
			}
			W, V := krrVec(w), krrVec(v)
			kw, dkw := krrMulV(dn.k, W), krrMulV(dn.dk, W)
			grad := mat.NewVecDense(n, nil)
			grad.AddScaledVec(kw, dn.rho, W)
			grad.SubVec(grad, dn.y)
			g, err := p.InnerValue(wv)
			check("InnerValue", err, []float64{g}, krrVec([]float64{0.5*mat.Dot(W, kw) + 0.5*dn.rho*mat.Dot(W, W) - mat.Dot(dn.y, W)}))
			err = p.InnerGrad(out, wv)
			check("InnerGrad", err, bileveltest.Host(t, b, out), grad)
			if err := p.Linearize(wv); err != nil {
				t.Fatal(err)
			}
			err = p.HessVec(out, vv)
			check("HessVec", err, bileveltest.Host(t, b, out), krrMulV(dn.a(), V))
			err = p.CrossVec(out2, vv)
			check("CrossVec", err, bileveltest.Host(t, b, out2), krrVec([]float64{dn.rho * mat.Dot(W, V), -dn.gamma * mat.Dot(V, dkw)}))
			bu := mat.NewVecDense(n, nil)
			bu.AddScaledVec(bu, u[0]*dn.rho, W)
			bu.AddScaledVec(bu, -u[1]*dn.gamma, dkw)
			err = p.CrossApply(out, uv)
			check("CrossApply", err, bileveltest.Host(t, b, out), bu)
			diag := make([]float64, n)
			for i := range diag {
				diag[i] = 1 + dn.rho
			}
			err = p.HessDiag(out)
			check("HessDiag", err, bileveltest.Host(t, b, out), krrVec(diag))

			r := krrMulV(dn.kv, W)
			r.SubVec(r, dn.yv)
			e, err := p.OuterValue(wv)
			check("OuterValue", err, []float64{e}, krrVec([]float64{mat.Dot(r, r) / float64(2*m)}))
			ge := krrMulV(dn.kv.T(), r)
			ge.ScaleVec(1/float64(m), ge)
			err = p.OuterGrad(out, wv)
			check("OuterGrad", err, bileveltest.Host(t, b, out), ge)
			err = p.OuterHyperGrad(out2, wv)
			check("OuterHyperGrad", err, bileveltest.Host(t, b, out2), krrVec([]float64{0, -dn.gamma / float64(m) * mat.Dot(r, krrMulV(dn.dkv, W))}))

			// CrossNorm: the largest singular value of the dense n×2 B(w).
			bm := mat.NewDense(n, 2, nil)
			for i := 0; i < n; i++ {
				bm.Set(i, 0, dn.rho*w[i])
				bm.Set(i, 1, -dn.gamma*dkw.AtVec(i))
			}
			var svd mat.SVD
			if !svd.Factorize(bm, mat.SVDNone) {
				t.Fatal("SVD failed")
			}
			cn, err := p.CrossNorm(vv) // at another point than the linearization
			if err != nil || cn.Kind != bilevel.Exact {
				t.Fatalf("CrossNorm: %v, %v", cn, err)
			}
			cw, err := p.CrossNorm(wv)
			check("CrossNorm", err, []float64{cw.Value}, krrVec([]float64{svd.Values(nil)[0]}))
			// CrossNorm left the linearization alone.
			err = p.CrossVec(out2, vv)
			check("CrossVec after CrossNorm", err, bileveltest.Host(t, b, out2), krrVec([]float64{dn.rho * mat.Dot(W, V), -dn.gamma * mat.Dot(V, dkw)}))
		})
	}
}

// TestKRRDistances: the squared distances on the device are those of the
// definition, symmetric and zero on the diagonal to the bit, also when they
// are uploaded in several chunks with a partial last one.
func TestKRRDistances(t *testing.T) {
	k := synthKRR(t, data.KRROptions{N: 23, M: 11, D: 3, Seed: 4})
	whole := mustKRR(t, newCPU(t), k)
	old := krrChunkBytes
	krrChunkBytes = 8 * 23 * 4 // 4 rows a chunk: 6 chunks, the last of 3 rows
	chunked := mustKRR(t, newCPU(t), k)
	krrChunkBytes = old
	for _, p := range []*KRR{whole, chunked} {
		dtt, dvt := bileveltest.Host(t, p.b, p.dTT), bileveltest.Host(t, p.b, p.dVT)
		for _, c := range []struct {
			d    []float64
			a    *data.Matrix
			rows int
		}{{dtt, k.XTrain, 23}, {dvt, k.XVal, 11}} {
			for i := 0; i < c.rows; i++ {
				for j := 0; j < 23; j++ {
					var want float64
					for l := 0; l < 3; l++ {
						e := c.a.At(i, l) - k.XTrain.At(j, l)
						want += e * e
					}
					if got := c.d[i*23+j]; got != want {
						t.Fatalf("D(%d, %d) = %v, want %v", i, j, got, want)
					}
				}
			}
		}
		for i := 0; i < 23; i++ {
			if dtt[i*23+i] != 0 {
				t.Errorf("D(%d, %d) = %v", i, i, dtt[i*23+i])
			}
			for j := 0; j < i; j++ {
				if dtt[i*23+j] != dtt[j*23+i] {
					t.Errorf("D is not symmetric at (%d, %d)", i, j)
				}
			}
		}
		// The kernel built from it on the device equals the host's to the bit.
		h := p.hostAt()
		if got := bileveltest.Host(t, p.b, p.kTT); !krrSame(got, h.k) {
			t.Error("device K differs from the host K")
		}
		if got := bileveltest.Host(t, p.b, p.dkVT); !krrSame(got, h.dkv) {
			t.Error("device D_vt⊙K_vt differs from the host's")
		}
	}
}

func krrSame(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestKRRReference checks the reference against the dense solve of the
// test, against central differences of f(λ) = E(w*(λ), λ) computed by
// independent dense solves at λ ± h, and against the backend composition
// ∇_λE(w*) − B(w*)ᵀq.
func TestKRRReference(t *testing.T) {
	for _, z := range krrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			b := newCPU(t)
			p := mustKRR(t, b, z.k)
			ref, err := p.Reference()
			if err != nil {
				t.Fatal(err)
			}
			lam := make([]float64, 2)
			p.Hyper(lam)
			dn := krrDenseAt(z.k, lam)
			var w mat.VecDense
			if err := w.SolveVec(dn.a(), dn.y); err != nil {
				t.Fatal(err)
			}
			if e := bileveltest.RelErr(ref.W, w.RawVector().Data); !(e <= 1e-9) {
				t.Errorf("w*: relative error %.3g against the LU solve", e)
			}
			if ref.InnerGradNorm > 1e-10*bileveltest.Norm(z.k.YTrain) {
				t.Errorf("InnerGradNorm %.3g", ref.InnerGradNorm)
			}
			fd := bileveltest.FDGradient(func(l []float64) float64 { return krrDenseAt(z.k, l).value(t) }, lam)
			if e := bileveltest.RelErr(ref.Hypergradient, fd); !(e <= 1e-6) {
				t.Errorf("hypergradient %v, central differences %v: relative error %.3g", ref.Hypergradient, fd, e)
			}

			wv, qv := bileveltest.Vec(t, b, ref.W), bileveltest.Vec(t, b, ref.V)
			el, bq := bileveltest.Vec(t, b, make([]float64, 2)), bileveltest.Vec(t, b, make([]float64, 2))
			if err := p.OuterHyperGrad(el, wv); err != nil {
				t.Fatal(err)
			}
			if err := p.Linearize(wv); err != nil {
				t.Fatal(err)
			}
			if err := p.CrossVec(bq, qv); err != nil {
				t.Fatal(err)
			}
			e, c := bileveltest.Host(t, b, el), bileveltest.Host(t, b, bq)
			if err := bileveltest.RelErr([]float64{e[0] - c[0], e[1] - c[1]}, ref.Hypergradient); !(err <= 1e-12) {
				t.Errorf("∇_λE − Bᵀq on the backend: relative error %.3g against the reference", err)
			}
			ag := bileveltest.Vec(t, b, make([]float64, p.n))
			if err := p.HessVec(ag, qv); err != nil {
				t.Fatal(err)
			}
			ge := bileveltest.Vec(t, b, make([]float64, p.n))
			if err := p.OuterGrad(ge, wv); err != nil {
				t.Fatal(err)
			}
			if e := bileveltest.RelErr(bileveltest.Host(t, b, ag), bileveltest.Host(t, b, ge)); !(e <= 1e-9) {
				t.Errorf("A q = ∇_wE: relative residual %.3g", e)
			}
		})
	}
}

// TestKRRSetHyper: SetHyper rebuilds the kernels: central differences in λ
// of InnerValue at a fixed w equal ∂g/∂λ = (½ρ‖w‖², −½γ wᵀ(D⊙K)w), and
// after a move HessVec is (K + ρI)v at the new λ. A linearization is kept
// and refers to the new λ.
func TestKRRSetHyper(t *testing.T) {
	k := synthKRR(t, data.KRROptions{N: 30, M: 20, D: 3, Noise: 0.1, Rho: 0.1, Seed: 1})
	b := newCPU(t)
	p := mustKRR(t, b, k)
	w := randomPoint(p.n, 21)
	wv := bileveltest.Vec(t, b, w)
	lam0 := append([]float64(nil), k.Lambda...)
	fd := bileveltest.FDGradient(func(l []float64) float64 {
		if err := p.SetHyper(l); err != nil {
			t.Fatal(err)
		}
		v, err := p.InnerValue(wv)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}, lam0)
	dn := krrDenseAt(k, lam0)
	W := krrVec(w)
	want := []float64{0.5 * dn.rho * mat.Dot(W, W), -0.5 * dn.gamma * mat.Dot(W, krrMulV(dn.dk, W))}
	if e := bileveltest.RelErr(fd, want); !(e <= 1e-7) {
		t.Errorf("∂g/∂λ: differences %v, closed form %v: relative error %.3g", fd, want, e)
	}

	if err := p.SetHyper(lam0); err != nil {
		t.Fatal(err)
	}
	if err := p.Linearize(wv); err != nil {
		t.Fatal(err)
	}
	lam1 := []float64{lam0[0] + 0.7, lam0[1] - 0.9}
	if err := p.SetHyper(lam1); err != nil {
		t.Fatal(err)
	}
	got := make([]float64, 2)
	p.Hyper(got)
	if got[0] != lam1[0] || got[1] != lam1[1] {
		t.Fatalf("Hyper = %v, want %v", got, lam1)
	}
	if rho, gamma := p.RhoGamma(); rho != math.Exp(lam1[0]) || gamma != math.Exp(lam1[1]) {
		t.Errorf("RhoGamma = %v, %v", rho, gamma)
	}
	d1 := krrDenseAt(k, lam1)
	v := randomPoint(p.n, 22)
	vv, out, out2 := bileveltest.Vec(t, b, v), bileveltest.Vec(t, b, make([]float64, p.n)), bileveltest.Vec(t, b, make([]float64, 2))
	if err := p.HessVec(out, vv); err != nil {
		t.Fatal(err)
	}
	if e := bileveltest.RelErr(bileveltest.Host(t, b, out), krrMulV(d1.a(), krrVec(v)).RawVector().Data); !(e <= 1e-13) {
		t.Errorf("HessVec after SetHyper: relative error %.3g", e)
	}
	if err := p.CrossVec(out2, vv); err != nil {
		t.Fatal(err)
	}
	V := krrVec(v)
	wantB := []float64{d1.rho * mat.Dot(W, V), -d1.gamma * mat.Dot(V, krrMulV(d1.dk, W))}
	if e := bileveltest.RelErr(bileveltest.Host(t, b, out2), wantB); !(e <= 1e-13) {
		t.Errorf("CrossVec after SetHyper: relative error %.3g", e)
	}
	c0, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetHyper(lam0); err != nil {
		t.Fatal(err)
	}
	c1, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	if c0.Mu.Value == c1.Mu.Value || c0.L.Value == c1.L.Value {
		t.Errorf("constants not recomputed after SetHyper: %+v, %+v", c0, c1)
	}
}

// TestKRRConstants: the exact constants equal the eigenvalues of the dense
// matrices of the test; sampling contradicts none of the exact and bound
// claims; the bounds are at least the exact values; the L_Eλ estimate holds
// at samples inside its ball.
func TestKRRConstants(t *testing.T) {
	for _, z := range krrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			p := mustKRR(t, newCPU(t), z.k)
			c, err := p.Constants()
			if err != nil {
				t.Fatal(err)
			}
			if c.L.Kind != bilevel.Exact || c.Lf.Kind != bilevel.Exact || c.LB.Kind != bilevel.Exact || c.LA != (bilevel.Constant{Kind: bilevel.Exact}) || c.LEl.Kind != bilevel.Estimate {
				t.Errorf("kinds: %+v", c)
			}
			lam := make([]float64, 2)
			p.Hyper(lam)
			dn := krrDenseAt(z.k, lam)
			eig := func(a mat.Matrix) []float64 {
				n, _ := a.Dims()
				s := mat.NewSymDense(n, nil)
				for i := 0; i < n; i++ {
					for j := i; j < n; j++ {
						s.SetSym(i, j, 0.5*(a.At(i, j)+a.At(j, i)))
					}
				}
				var e mat.EigenSym
				if !e.Factorize(s, false) {
					t.Fatal("eigendecomposition failed")
				}
				return e.Values(nil)
			}
			ea := eig(dn.a())
			if c.Mu.Kind == bilevel.Exact && math.Abs(c.Mu.Value-ea[0]) > 1e-12*ea[len(ea)-1] {
				t.Errorf("μ = %v, eigenvalue %v", c.Mu.Value, ea[0])
			}
			if c.Mu.Kind == bilevel.Bound && c.Mu.Value != dn.rho {
				t.Errorf("μ bound %v, want ρ = %v", c.Mu.Value, dn.rho)
			}
			m, _ := dn.kv.Dims()
			var ktk mat.Dense
			ktk.Mul(dn.kv.T(), dn.kv)
			ek, edk := eig(&ktk), eig(dn.dk)
			dkNorm := math.Max(-edk[0], edk[len(edk)-1])
			for _, x := range []struct {
				name      string
				got, want float64
			}{
				{"L", c.L.Value, ea[len(ea)-1]},
				{"L_f", c.Lf.Value, ek[len(ek)-1] / float64(m)},
				{"L_B", c.LB.Value, math.Hypot(dn.rho, dn.gamma*dkNorm)},
			} {
				if math.Abs(x.got-x.want) > 1e-11*x.want {
					t.Errorf("%s = %v, want %v", x.name, x.got, x.want)
				}
			}
			rep := bileveltest.CheckConstants(t, p, bileveltest.ConstantsOptions{Radius: 1})
			if !(rep.LEl.Ratio <= 1) {
				t.Errorf("L_Eλ estimate exceeded inside its ball: %v", rep)
			}

			// The bounds, on a problem whose dense budget is too small.
			q, err := NewKRR(newCPU(t), z.k)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if err := q.SetMaxDenseBytes(1); err != nil {
				t.Fatal(err)
			}
			bc, err := q.Constants()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range []struct {
				name        string
				bound, want bilevel.Constant
			}{{"L", bc.L, c.L}, {"L_f", bc.Lf, c.Lf}, {"L_B", bc.LB, c.LB}, {"L_Eλ", bc.LEl, c.LEl}} {
				if x.name != "L_Eλ" && x.bound.Kind != bilevel.Bound {
					t.Errorf("%s: kind %v, want Bound", x.name, x.bound.Kind)
				}
				if !(x.bound.Value >= x.want.Value) {
					t.Errorf("%s: bound %v below the exact %v", x.name, x.bound.Value, x.want.Value)
				}
			}
			if bc.Mu != (bilevel.Constant{Value: dn.rho, Kind: bilevel.Bound}) || bc.LEl.Kind != bilevel.Estimate {
				t.Errorf("bound constants %+v", bc)
			}
			rep = bileveltest.CheckConstants(t, q, bileveltest.ConstantsOptions{Radius: 1, Iters: 5, Seed: 2})
			if !(rep.LEl.Ratio <= 1) {
				t.Errorf("L_Eλ bound estimate exceeded inside its ball: %v", rep)
			}
			if _, err := q.ExactConstants(); !errors.Is(err, ErrTooLarge) {
				t.Errorf("ExactConstants over the budget: %v", err)
			}
		})
	}
}

// TestKRRErrors: construction, λ and operand errors; operand errors reach
// no backend call.
func TestKRRErrors(t *testing.T) {
	b := newCPU(t)
	k := synthKRR(t, data.KRROptions{N: 12, M: 7, D: 2, Seed: 5})
	if _, err := NewKRR(nil, k); err == nil {
		t.Error("nil backend: no error")
	}
	if _, err := NewKRR(b, nil); err == nil {
		t.Error("nil data: no error")
	}
	csr := *k
	csr.XTrain = data.NewCSR(12, 2, make([]int, 13), nil, nil)
	if _, err := NewKRR(b, &csr); !errors.Is(err, data.ErrShape) {
		t.Errorf("CSR data: %v", err)
	}
	huge := *k
	huge.XVal = data.NewDense(7, 2, make([]float64, 14))
	huge.XVal.Data[5] = 1e200
	if _, err := NewKRR(b, &huge); err == nil || !strings.Contains(err.Error(), "overflows") {
		t.Errorf("overflowing distances: %v", err)
	}
	bad := *k
	bad.Lambda = []float64{800, 0}
	if _, err := NewKRR(b, &bad); err == nil {
		t.Error("ρ = e^800: no error")
	}
	p := mustKRR(t, b, k)
	for _, l := range [][]float64{{0}, {0, 0, 0}, {math.NaN(), 0}, {0, math.Inf(1)}, {0, 710}, {-746, 0}} {
		if err := p.SetHyper(l); err == nil {
			t.Errorf("SetHyper(%v): no error", l)
		}
	}
	if got := make([]float64, 2); func() bool { p.Hyper(got); return got[0] != k.Lambda[0] || got[1] != k.Lambda[1] }() {
		t.Errorf("a refused SetHyper changed λ to %v", got)
	}

	n := p.n
	v, out, out2 := bileveltest.Vec(t, b, make([]float64, n)), bileveltest.Vec(t, b, make([]float64, n)), bileveltest.Vec(t, b, make([]float64, 2))
	for name, err := range map[string]error{
		"HessVec":    p.HessVec(out, v),
		"HessDiag":   p.HessDiag(out),
		"CrossVec":   p.CrossVec(out2, v),
		"CrossApply": p.CrossApply(out, out2),
	} {
		if !errors.Is(err, ErrNotLinearized) {
			t.Errorf("%s before Linearize: %v", name, err)
		}
	}
	short := bileveltest.Vec(t, b, make([]float64, n-1))
	for name, err := range map[string]error{
		"InnerGrad w":         p.InnerGrad(out, short),
		"HessVec dst":         p.HessVec(short, v),
		"CrossVec dst":        p.CrossVec(out, v),
		"CrossApply u":        p.CrossApply(out, v),
		"OuterHyperGrad dst":  p.OuterHyperGrad(out, v),
		"OuterGrad dst nil":   p.OuterGrad(nil, v),
		"Linearize":           p.Linearize(short),
		"HessDiag":            p.HessDiag(out2),
		"OuterValue(nil)":     func() error { _, err := p.OuterValue(nil); return err }(),
		"CrossNorm(short)":    func() error { _, err := p.CrossNorm(short); return err }(),
		"InnerValue(short)":   func() error { _, err := p.InnerValue(short); return err }(),
		"CrossApply dst (2)":  p.CrossApply(out2, out2),
		"OuterGrad w (2)":     p.OuterGrad(out, out2),
		"InnerGrad dst short": p.InnerGrad(short, v),
	} {
		var oe *OperandError
		if !errors.Is(err, ErrOperand) || !errors.As(err, &oe) || oe.Problem != "krr" {
			t.Errorf("%s: %v; want an *OperandError of krr", name, err)
		}
	}
	if err := b.Err(); err != nil {
		t.Errorf("operand errors reached the backend: %v", err)
	}

	if p.DenseBytes() <= 0 {
		t.Errorf("DenseBytes = %d", p.DenseBytes())
	}
	if err := p.SetMaxDenseBytes(p.DenseBytes() - 1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reference(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Reference over the budget: %v", err)
	}
	if err := p.SetMaxDenseBytes(p.DenseBytes()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reference(); err != nil {
		t.Errorf("Reference within the budget: %v", err)
	}
	if err := p.SetMaxDenseBytes(-1); err == nil {
		t.Error("SetMaxDenseBytes(-1): no error")
	}
}

// TestKRRAllocs: no oracle allocates once its vectors have been seen.
func TestKRRAllocs(t *testing.T) {
	b := newCPU(t)
	p := mustKRR(t, b, synthKRR(t, data.KRROptions{N: 40, M: 20, D: 3, Seed: 6}))
	n := p.n
	w, v := bileveltest.Vec(t, b, randomPoint(n, 1)), bileveltest.Vec(t, b, randomPoint(n, 2))
	u, out, out2 := bileveltest.Vec(t, b, randomPoint(2, 3)), bileveltest.Vec(t, b, make([]float64, n)), bileveltest.Vec(t, b, make([]float64, 2))
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
		"OuterValue":     func() { _, e := p.OuterValue(w); keep(e) },
		"OuterGrad":      func() { keep(p.OuterGrad(out, w)) },
		"OuterHyperGrad": func() { keep(p.OuterHyperGrad(out2, w)) },
		"CrossNorm":      func() { _, e := p.CrossNorm(w); keep(e) },
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
