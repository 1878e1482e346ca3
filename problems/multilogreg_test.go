package problems

import (
	"errors"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

// mlrData draws a small multilogreg problem with λ_j = 0.5 + 0.4 sin(j)
// (so that the per-feature weights differ).
func mlrData(t testing.TB, o data.MulticlassOptions) *data.Multiclass {
	t.Helper()
	s, err := data.SynthMulticlass(o)
	if err != nil {
		t.Fatal(err)
	}
	for j := range s.Lambda {
		s.Lambda[j] = 0.5 + 0.4*math.Sin(float64(j))
	}
	return s
}

// mlrZoo is the set of small problems: dense and CSR, per-feature, shared
// and per-class λ.
func mlrZoo(t testing.TB) []struct {
	name string
	s    *data.Multiclass
} {
	shared := mlrData(t, data.MulticlassOptions{N: 50, M: 30, D: 7, C: 3, Seed: 3})
	shared.Lambda = []float64{0.3}
	return []struct {
		name string
		s    *data.Multiclass
	}{
		{"dense", mlrData(t, data.MulticlassOptions{N: 60, M: 40, D: 8, C: 4, Seed: 1})},
		{"csr", mlrData(t, data.MulticlassOptions{N: 60, M: 40, D: 12, C: 4, Density: 0.3, Seed: 2})},
		{"shared", shared},
		{"perclass", mlrData(t, data.MulticlassOptions{N: 50, M: 30, D: 6, C: 5, PerClass: true, Seed: 4})},
		{"perclass-csr", mlrData(t, data.MulticlassOptions{N: 50, M: 30, D: 10, C: 3, Density: 0.4, PerClass: true, Seed: 5})},
	}
}

func mustMLR(t testing.TB, b backend.Backend, s *data.Multiclass) *Multilogreg {
	t.Helper()
	return closing[*Multilogreg](t)(NewMultilogreg(b, s))
}

// mlrCoreOnly hides the backend's extensions (backend.Multinomial among
// them), so that Multilogreg runs on the core operations.
type mlrCoreOnly struct{ backend.Backend }

func mlrScaled(x []float64, s float64) []float64 {
	for i := range x {
		x[i] *= s
	}
	return x
}

// TestMultilogregOracles checks every oracle against central differences
// (CheckOracles), B·u (CheckCrossApply) and the operand checks
// (CheckProblemShapes), with the fused kernels and with the core operations.
func TestMultilogregOracles(t *testing.T) {
	for _, z := range mlrZoo(t) {
		for _, core := range []bool{false, true} {
			name := z.name
			if core {
				name += "/core"
			}
			t.Run(name, func(t *testing.T) {
				var b backend.Backend = newCPU(t)
				if core {
					b = mlrCoreOnly{b}
				}
				p := mustMLR(t, b, z.s)
				if p.Fused() == core {
					t.Fatalf("Fused() = %v with core = %v", p.Fused(), core)
				}
				w := mlrScaled(randomPoint(p.InnerDim(), 11), 0.7)
				bileveltest.CheckOracles(t, p, w, bileveltest.Options{})
				bileveltest.CheckCrossApply(t, p, w, bileveltest.Options{})
				if err := p.Linearize(bileveltest.Vec(t, b, w)); err != nil {
					t.Fatal(err)
				}
				bileveltest.CheckProblemShapes(t, p)
			})
		}
	}
}

// mlrOutputs evaluates every oracle of p at w (u of length d·c, r of length
// h) and returns the results by name.
func mlrOutputs(t *testing.T, p *Multilogreg, w, u, r []float64) map[string][]float64 {
	t.Helper()
	b := p.Backend()
	wv, uv, rv := bileveltest.Vec(t, b, w), bileveltest.Vec(t, b, u), bileveltest.Vec(t, b, r)
	out := bileveltest.Vec(t, b, make([]float64, p.InnerDim()))
	outH := bileveltest.Vec(t, b, make([]float64, p.HyperDim()))
	res := map[string][]float64{}
	if err := p.Linearize(wv); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name string
		call func() error
		dst  backend.Vector
	}{
		{"InnerGrad", func() error { return p.InnerGrad(out, wv) }, out},
		{"HessVec", func() error { return p.HessVec(out, uv) }, out},
		{"CrossVec", func() error { return p.CrossVec(outH, uv) }, outH},
		{"CrossApply", func() error { return p.CrossApply(out, rv) }, out},
		{"OuterGrad", func() error { return p.OuterGrad(out, wv) }, out},
		{"OuterHyperGrad", func() error { return p.OuterHyperGrad(outH, wv) }, outH},
	} {
		if err := o.call(); err != nil {
			t.Fatalf("%s on %s: %v", o.name, b.Name(), err)
		}
		res[o.name] = bileveltest.Host(t, b, o.dst)
	}
	for _, o := range []struct {
		name string
		f    func(backend.Vector) (float64, error)
	}{{"InnerValue", p.InnerValue}, {"OuterValue", p.OuterValue}} {
		v, err := o.f(wv)
		if err != nil {
			t.Fatal(err)
		}
		res[o.name] = []float64{v}
	}
	cn, err := p.CrossNorm(wv)
	if err != nil {
		t.Fatal(err)
	}
	res["CrossNorm"] = []float64{cn.Value}
	return res
}

func mlrCompare(t *testing.T, what string, got, want map[string][]float64, tol float64) {
	t.Helper()
	for name, w := range want {
		if e := bileveltest.RelErr(got[name], w); !(e <= tol) {
			t.Errorf("%s: %s: relative error %.3g (tol %.0e)", what, name, e, tol)
		}
	}
}

// TestMultilogregCSRDenseFused: the CSR problem and its dense copy, and the
// fused and core-operation paths, give the same oracles to 1e-13.
func TestMultilogregCSRDenseFused(t *testing.T) {
	for _, z := range mlrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			dense := *z.s
			dense.XTrain, dense.XVal = z.s.XTrain.ToDense(), z.s.XVal.ToDense()
			p := mustMLR(t, newCPU(t), z.s)
			w := mlrScaled(randomPoint(p.InnerDim(), 21), 0.7)
			u, r := randomPoint(p.InnerDim(), 22), randomPoint(p.HyperDim(), 23)
			ref := mlrOutputs(t, p, w, u, r)
			mlrCompare(t, "dense copy", mlrOutputs(t, mustMLR(t, newCPU(t), &dense), w, u, r), ref, 1e-13)
			mlrCompare(t, "core operations", mlrOutputs(t, mustMLR(t, mlrCoreOnly{newCPU(t)}, z.s), w, u, r), ref, 1e-13)
		})
	}
}

// TestMultilogregHost checks the host evaluation the dense reference uses
// against the backend's oracles, and CrossNorm against ‖B‖ from B's columns.
func TestMultilogregHost(t *testing.T) {
	for _, z := range mlrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			p := mustMLR(t, newCPU(t), z.s)
			w := mlrScaled(randomPoint(p.InnerDim(), 31), 0.7)
			res := mlrOutputs(t, p, w, randomPoint(p.InnerDim(), 32), randomPoint(p.HyperDim(), 33))
			val, grad, _ := mlrHost(z.s.XTrain, z.s.YTrain, p.c, w, p.rhoH)
			oval, ograd, _ := mlrHost(z.s.XVal, z.s.YVal, p.c, w, nil)
			// ‖B‖ from its definition: column l of B holds ρ_jk W_jk at
			// the entries weighted by e^{λ_l}.
			col := make([]float64, p.HyperDim())
			for j := 0; j < p.d; j++ {
				for k := 0; k < p.c; k++ {
					l := j
					switch {
					case z.s.PerClass:
						l = k
					case p.HyperDim() == 1:
						l = 0
					}
					e := j*p.c + k
					col[l] += (p.rhoH[e] * w[e]) * (p.rhoH[e] * w[e])
				}
			}
			var bn float64
			for _, v := range col {
				bn = math.Max(bn, math.Sqrt(v))
			}
			mlrCompare(t, "host", res, map[string][]float64{
				"InnerValue": {val}, "InnerGrad": grad, "OuterValue": {oval}, "OuterGrad": ograd, "CrossNorm": {bn},
			}, 1e-13)
		})
	}
}

// TestMultilogregReference: the dense Newton reference and the matrix-free
// Newton–CG reference agree to 1e-10, reach a tiny inner gradient, and
// their hypergradient matches central differences of f(λ) = E(w*(λ))
// computed with reference solves.
func TestMultilogregReference(t *testing.T) {
	for _, z := range mlrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			p := mustMLR(t, newCPU(t), z.s)
			ref, err := p.Reference()
			if err != nil {
				t.Fatal(err)
			}
			if ref.InnerGradNorm > 1e-13 {
				t.Errorf("dense reference: ‖∇g‖ = %.3g", ref.InnerGradNorm)
			}
			q := mustMLR(t, newCPU(t), z.s)
			q.refDenseMax = 0 // force the matrix-free path
			cg, err := q.Reference()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: ‖∇g‖ %.2g; %s: ‖∇g‖ %.2g", ref.Method, ref.InnerGradNorm, cg.Method, cg.InnerGradNorm)
			if ref.Method == cg.Method {
				t.Fatalf("both references by %q", ref.Method)
			}
			for _, c := range []struct {
				name      string
				got, want []float64
			}{{"hypergradient", cg.Hypergradient, ref.Hypergradient}, {"W", cg.W, ref.W}, {"V", cg.V, ref.V}} {
				if e := bileveltest.RelErr(c.got, c.want); !(e <= 1e-10) {
					t.Errorf("%s: Newton–CG against dense: relative error %.3g", c.name, e)
				}
			}
			// f(λ) by reference solves, differentiated centrally.
			lam := make([]float64, p.HyperDim())
			p.Hyper(lam)
			wv := bileveltest.Vec(t, p.Backend(), make([]float64, p.InnerDim()))
			f := func(l []float64) float64 {
				if err := p.SetHyper(l); err != nil {
					t.Fatal(err)
				}
				r, err := p.Reference()
				if err != nil {
					t.Fatal(err)
				}
				p.Backend().Upload(wv, r.W)
				v, err := p.OuterValue(wv)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			fd := bileveltest.FDGradient(f, lam)
			if e := bileveltest.RelErr(ref.Hypergradient, fd); !(e <= 1e-6) {
				t.Errorf("hypergradient against central differences: relative error %.3g\n got %v\nwant %v", e, ref.Hypergradient, fd)
			}
		})
	}
}

// TestMultilogregConstants samples the claimed bounds (CheckConstants) and
// checks the closed forms of μ and L_B.
func TestMultilogregConstants(t *testing.T) {
	for _, z := range mlrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			p := mustMLR(t, newCPU(t), z.s)
			c, err := p.Constants()
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := math.Inf(1), 0.0
			dc := float64(p.d * p.c)
			for _, l := range z.s.Lambda {
				lo, hi = math.Min(lo, math.Exp(l)/dc), math.Max(hi, math.Exp(l)/dc)
			}
			if c.Mu.Value != lo || c.Mu.Kind != bilevel.Bound || c.LB.Value != hi || c.LB.Kind != bilevel.Exact {
				t.Errorf("μ = %v (%v), L_B = %v (%v); want %v and %v", c.Mu.Value, c.Mu.Kind, c.LB.Value, c.LB.Kind, lo, hi)
			}
			for _, k := range []bilevel.Constant{c.L, c.Lf, c.LA} {
				if k.Kind != bilevel.Bound {
					t.Errorf("constant %v is not a Bound", k)
				}
			}
			rep := bileveltest.CheckConstants(t, p, bileveltest.ConstantsOptions{Radius: 3})
			t.Log(rep)
		})
	}
}

// TestMultilogregNormBound: the bound on ‖X‖₂² holds and, with the dense
// eigendecomposition, is tight; the Hölder and Frobenius bounds hold
// without it.
func TestMultilogregNormBound(t *testing.T) {
	s := mlrData(t, data.MulticlassOptions{N: 80, M: 20, D: 15, C: 3, Density: 0.2, Seed: 9})
	// A duplicate entry in row 0 (summed): the bounds use the summed matrix.
	x := s.XTrain
	x.Indices[1] = x.Indices[0]
	p := mustMLR(t, newCPU(t), s)
	_, exact, err := gramExtremes(x, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, rowMax, err := p.normBound(x)
	if err != nil {
		t.Fatal(err)
	}
	if got < exact || got > exact*(1+1e-10) {
		t.Errorf("‖X‖₂² bound %v, exact %v", got, exact)
	}
	dx := x.ToDense()
	var want float64
	for i := 0; i < dx.Rows; i++ {
		want = math.Max(want, norm2(dx.Data[i*dx.Cols:(i+1)*dx.Cols]))
	}
	if rowMax < want || rowMax > want*(1+1e-10) {
		t.Errorf("max row norm %v, want %v", rowMax, want)
	}
	if err := p.SetMaxDenseBytes(1); err != nil {
		t.Fatal(err)
	}
	loose, _, err := p.normBound(x)
	if err != nil {
		t.Fatal(err)
	}
	if loose < exact {
		t.Errorf("Hölder/Frobenius bound %v below ‖X‖₂² = %v", loose, exact)
	}
}

// TestMultilogregErrors: operand errors are ErrOperand and leave the
// backend's error state clean; second-order oracles before Linearize are
// ErrNotLinearized; bad λ and data are errors.
func TestMultilogregErrors(t *testing.T) {
	s := mlrZoo(t)[0].s
	b := newCPU(t)
	p := mustMLR(t, b, s)
	dim, h := p.InnerDim(), p.HyperDim()
	w := bileveltest.Vec(t, b, make([]float64, dim))
	hv := bileveltest.Vec(t, b, make([]float64, h))
	short := bileveltest.Vec(t, b, make([]float64, dim-1))
	for name, err := range map[string]error{
		"HessVec":    p.HessVec(w, w),
		"CrossVec":   p.CrossVec(hv, w),
		"CrossApply": p.CrossApply(w, hv),
	} {
		if !errors.Is(err, ErrNotLinearized) {
			t.Errorf("%s before Linearize: %v", name, err)
		}
	}
	for name, err := range map[string]error{
		"InnerGrad short w": p.InnerGrad(w, short),
		"InnerGrad nil dst": p.InnerGrad(nil, w),
		"OuterGrad short":   p.OuterGrad(short, w),
		"Linearize short":   p.Linearize(short),
		"OuterHyperGrad":    p.OuterHyperGrad(w, w),
	} {
		var oe *OperandError
		if !errors.Is(err, ErrOperand) || !errors.As(err, &oe) || oe.Problem != "multilogreg" {
			t.Errorf("%s: %v, want an ErrOperand of multilogreg", name, err)
		}
	}
	if _, err := p.InnerValue(short); !errors.Is(err, ErrOperand) {
		t.Errorf("InnerValue short: %v", err)
	}
	if err := b.Err(); err != nil {
		t.Errorf("backend error after operand errors: %v", err)
	}
	for _, l := range [][]float64{make([]float64, h+1), append(make([]float64, h-1), math.NaN()), append(make([]float64, h-1), 800)} {
		if err := p.SetHyper(l); err == nil {
			t.Errorf("SetHyper(%v...) accepted", l[len(l)-1])
		}
	}
	bad := *s
	bad.YTrain = append([]int(nil), s.YTrain...)
	bad.YTrain[3] = s.Classes
	if _, err := NewMultilogreg(b, &bad); !errors.Is(err, data.ErrLabels) {
		t.Errorf("label out of range: %v", err)
	}
	if _, err := NewMultilogreg(nil, s); err == nil {
		t.Error("nil backend accepted")
	}
	if _, err := NewMultilogreg(b, nil); err == nil {
		t.Error("nil data accepted")
	}
}

// TestMultilogregAllocs: the oracles allocate nothing in steady state, with
// vectors and with blocks as operands.
func TestMultilogregAllocs(t *testing.T) {
	for _, core := range []bool{false, true} {
		var b backend.Backend = newCPU(t)
		if core {
			b = mlrCoreOnly{b}
		}
		p := mustMLR(t, b, mlrZoo(t)[1].s)
		w := bileveltest.Vec(t, b, mlrScaled(randomPoint(p.InnerDim(), 41), 0.5))
		v := bileveltest.Vec(t, b, randomPoint(p.InnerDim(), 42))
		out := bileveltest.Vec(t, b, make([]float64, p.InnerDim()))
		outH := bileveltest.Vec(t, b, make([]float64, p.HyperDim()))
		if err := p.AllocSlots(1); err != nil {
			t.Fatal(err)
		}
		var err error
		keep := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		for name, call := range map[string]func(){
			"InnerValue":      func() { _, e := p.InnerValue(w); keep(e) },
			"InnerGrad":       func() { keep(p.InnerGrad(out, w)) },
			"Linearize":       func() { keep(p.Linearize(w)) },
			"HessVec":         func() { keep(p.HessVec(out, v)) },
			"CrossVec":        func() { keep(p.CrossVec(outH, v)) },
			"CrossApply":      func() { keep(p.CrossApply(out, outH)) },
			"OuterValue":      func() { _, e := p.OuterValue(w); keep(e) },
			"OuterGrad":       func() { keep(p.OuterGrad(out, w)) },
			"OuterHyperGrad":  func() { keep(p.OuterHyperGrad(outH, w)) },
			"HessDiag":        func() { keep(p.HessDiag(out)) },
			"CrossNorm":       func() { _, e := p.CrossNorm(w); keep(e) },
			"InnerGradRecord": func() { keep(p.InnerGradRecord(out, w, 0)) },
			"UseSlot":         func() { keep(p.UseSlot(0)) },
		} {
			keep(p.Linearize(w))
			call()
			if a := testing.AllocsPerRun(20, call); a != 0 {
				t.Errorf("core=%v: %s: %v allocations per call", core, name, a)
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
}

// TestMultilogregNewsgroupsShape builds the 20-newsgroups-shaped synthetic
// problem at a tenth of its size (n = 1131, m = 753, d = 13010, c = 20,
// density 0.001 as in the full shape n = 11314, m = 7532, d = 130107, whose
// generation data.TestSynthMulticlassNewsgroups times; CSR) and runs
// InnerGrad and Constants: the device holds O(nnz + (n + m)·c + d·c) bytes,
// with X in CSR form.
func TestMultilogregNewsgroupsShape(t *testing.T) {
	o := data.MulticlassOptions{N: 11314 / 10, M: 7532 / 10, D: 130107 / 10, C: 20, Density: 0.001, Seed: 1}
	s, err := data.SynthMulticlass(o)
	if err != nil {
		t.Fatal(err)
	}
	b := newCPU(t)
	p := mustMLR(t, b, s)
	nnz := s.XTrain.NNZ() + s.XVal.NNZ()
	rows, dc := o.N+o.M, o.D*o.C
	// X in CSR (values, indices, row pointers), labels, the ones and losses
	// (4 rows-vectors), 3 n×c and 1 m×c blocks, 5 d×c blocks, the norms.
	limit := int64(8 * (2*nnz + 2*(rows+2) + 3*rows + 4*rows*o.C + 6*dc + o.D))
	if got := b.Allocated(); got > limit || got < int64(8*nnz) {
		t.Errorf("device bytes %d, want between 8·nnz = %d and %d", got, 8*nnz, limit)
	}
	w := bileveltest.Vec(t, b, make([]float64, p.InnerDim()))
	g := bileveltest.Vec(t, b, make([]float64, p.InnerDim()))
	if err := p.InnerGrad(g, w); err != nil {
		t.Fatal(err)
	}
	// At W = 0, P = 1/c: ∇g = Xᵀ(1/c − Y)/n, whose entries sum to 0.
	host := bileveltest.Host(t, b, g)
	var sum, nrm float64
	for _, v := range host {
		sum += v
		nrm += v * v
	}
	if !(nrm > 0) || math.Abs(sum) > 1e-9*math.Sqrt(nrm)*math.Sqrt(float64(len(host))) {
		t.Errorf("∇g at 0: Σ = %v, ‖·‖² = %v", sum, nrm)
	}
	c, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	if !p.host.XTrain.IsCSR() {
		t.Error("X is not CSR")
	}
	t.Logf("device %d bytes (nnz %d, n+m %d, d·c %d); L = %.3g, μ = %.3g", b.Allocated(), nnz, rows, dc, c.L.Value, c.Mu.Value)
}

// TestMultilogregSlots: InnerGradRecord gives InnerGrad's bits, and after
// UseSlot, HessVec, HessDiag, CrossVec and CrossApply give the bits they give
// after Linearize at the same point (fused and core operations);
// FreeSlots falls back to the last Linearize, or to none.
func TestMultilogregSlots(t *testing.T) { mlrCheckSlots(t, newCPU) }

// mlrCheckSlots is TestMultilogregSlots on the backends newB makes.
func mlrCheckSlots(t *testing.T, newB func(testing.TB) backend.Backend) {
	for _, z := range mlrZoo(t) {
		for _, core := range []bool{false, true} {
			b := newB(t)
			if core {
				b = mlrCoreOnly{b}
			}
			p := mustMLR(t, b, z.s)
			dim, h := p.InnerDim(), p.HyperDim()
			w0 := bileveltest.Vec(t, b, mlrScaled(randomPoint(dim, 61), 0.7))
			w1 := bileveltest.Vec(t, b, mlrScaled(randomPoint(dim, 62), 0.7))
			v := bileveltest.Vec(t, b, randomPoint(dim, 63))
			u := bileveltest.Vec(t, b, randomPoint(h, 64))
			out := bileveltest.Vec(t, b, make([]float64, dim))
			outH := bileveltest.Vec(t, b, make([]float64, h))
			second := func() map[string][]float64 {
				res := map[string][]float64{}
				for _, o := range []struct {
					name string
					call func() error
					dst  backend.Vector
				}{
					{"HessVec", func() error { return p.HessVec(out, v) }, out},
					{"HessDiag", func() error { return p.HessDiag(out) }, out},
					{"CrossVec", func() error { return p.CrossVec(outH, v) }, outH},
					{"CrossApply", func() error { return p.CrossApply(out, u) }, out},
				} {
					if err := o.call(); err != nil {
						t.Fatalf("%s: %v", o.name, err)
					}
					res[o.name] = bileveltest.Host(t, b, o.dst)
				}
				return res
			}
			if err := p.InnerGrad(out, w1); err != nil {
				t.Fatal(err)
			}
			grad := bileveltest.Host(t, b, out)
			if err := p.Linearize(w1); err != nil {
				t.Fatal(err)
			}
			lin := second()
			if err := p.Linearize(w0); err != nil {
				t.Fatal(err)
			}
			if err := p.AllocSlots(2); err != nil {
				t.Fatal(err)
			}
			if err := p.InnerGradRecord(out, w1, 1); err != nil {
				t.Fatal(err)
			}
			if got := bileveltest.Host(t, b, out); !mlrSameBits(got, grad) {
				t.Errorf("%s core=%v: InnerGradRecord differs from InnerGrad (%.3g)", z.name, core, bileveltest.RelErr(got, grad))
			}
			if err := p.UseSlot(1); err != nil {
				t.Fatal(err)
			}
			for name, got := range second() {
				if !mlrSameBits(got, lin[name]) {
					t.Errorf("%s core=%v: %s after UseSlot differs from after Linearize (%.3g)", z.name, core, name, bileveltest.RelErr(got, lin[name]))
				}
			}
			p.FreeSlots()
			if err := p.HessVec(out, v); !errors.Is(err, ErrNotLinearized) {
				t.Errorf("HessVec after FreeSlots of the current slot: %v, want ErrNotLinearized", err)
			}
			if err := p.AllocSlots(1); err != nil {
				t.Fatal(err)
			}
			if err := p.Linearize(w1); err != nil {
				t.Fatal(err)
			}
			p.FreeSlots()
			if got := second(); !mlrSameBits(got["HessVec"], lin["HessVec"]) {
				t.Error("FreeSlots dropped the last Linearize")
			}
			if err := p.AllocSlots(-1); err == nil {
				t.Error("AllocSlots(-1) accepted")
			}
			if want := int64(8 * (p.d + p.n) * p.c); p.SlotBytes() != want {
				t.Errorf("SlotBytes %d, want %d", p.SlotBytes(), want)
			}
		}
	}
}

func mlrSameBits(a, b []float64) bool {
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

// TestMultilogregDenseBudget: DenseBytes covers the dense Hessian, and a
// budget below it makes Reference take the matrix-free path (same result)
// instead of failing.
func TestMultilogregDenseBudget(t *testing.T) {
	s := mlrZoo(t)[0].s
	p := mustMLR(t, newCPU(t), s)
	dim := float64(p.InnerDim())
	if got := p.DenseBytes(); float64(got) < 8*3*dim*dim || float64(got) != multilogregDenseBytes(s) {
		t.Errorf("DenseBytes = %d, want at least 3·8·(dc)² = %v", got, 8*3*dim*dim)
	}
	dense, err := p.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetMaxDenseBytes(1 << 10); err != nil {
		t.Fatal(err)
	}
	cg, err := p.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if cg.Method == dense.Method || bileveltest.RelErr(cg.Hypergradient, dense.Hypergradient) > 1e-10 {
		t.Errorf("budget 1 KiB: %q, relative difference %.3g", cg.Method, bileveltest.RelErr(cg.Hypergradient, dense.Hypergradient))
	}
}
