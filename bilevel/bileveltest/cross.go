package bileveltest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// AdjointTol is the largest relative defect of the adjoint identity that
// CheckCrossApply accepts:
//
//	|⟨B u, v⟩ − ⟨u, Bᵀv⟩| ≤ AdjointTol·(‖B u‖‖v‖ + ‖u‖‖Bᵀv‖),
//
// the right-hand side bounding the magnitude of the terms of both inner
// products (Cauchy–Schwarz), so that cancellation in a small inner product
// does not count against the oracles.
const AdjointTol = 1e-13

// CheckCrossApply checks the forward cross product B·u of p (which must be a
// bilevel.CrossApplier), B = ∇²_wλ g, linearized at the host point w:
//
//	adjoint   ⟨CrossApply(u), v⟩ = ⟨u, CrossVec(v)⟩ to AdjointTol, for random
//	          u ∈ R^h and v ∈ R^d;
//	FD        CrossApply(u) against (∇_w g(w, λ+su) − ∇_w g(w, λ−su))/(2s),
//	          s = Step(‖λ‖)/‖u‖, to o.Tol (default 1e-6) normwise relative;
//	repeat    a second call gives the same bits;
//	shapes    u of length h±1, dst of length d±1 and nil operands give an
//	          error and no panic (a sticky backend error is cleared).
//
// It needs no particular state of p and leaves p at its original λ,
// linearized at w.
func CheckCrossApply(t testing.TB, p bilevel.Problem, w []float64, o Options) {
	t.Helper()
	if o.Tol == 0 {
		o.Tol = 1e-6
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	ca, ok := p.(bilevel.CrossApplier)
	if !ok {
		t.Fatalf("CheckCrossApply: %T is not a bilevel.CrossApplier", p)
	}
	b := p.Backend()
	d, h := p.InnerDim(), p.HyperDim()
	if len(w) != d {
		t.Fatalf("CheckCrossApply: w has length %d, want %d", len(w), d)
	}
	lam := make([]float64, h)
	p.Hyper(lam)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 5))
	randn := func(n int) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		return x
	}
	wd := Vec(t, b, w)
	defer b.Free(wd)
	defer func() { // before wd is freed
		must("restoring λ", p.SetHyper(lam))
		must("Linearize", p.Linearize(wd))
	}()
	must("Linearize", p.Linearize(wd))

	u, v := randn(h), randn(d)
	uv, vv := Vec(t, b, u), Vec(t, b, v)
	defer b.Free(uv)
	defer b.Free(vv)
	buv, btv := Vec(t, b, make([]float64, d)), Vec(t, b, make([]float64, h))
	defer b.Free(buv)
	defer b.Free(btv)
	must("CrossApply", ca.CrossApply(buv, uv))
	must("CrossVec", p.CrossVec(btv, vv))
	bu, bt := Host(t, b, buv), Host(t, b, btv)

	// ⟨B u, v⟩ = ⟨u, Bᵀv⟩.
	lhs, rhs := dot(bu, v), dot(u, bt)
	scale := Norm(bu)*Norm(v) + Norm(u)*Norm(bt)
	if def := math.Abs(lhs - rhs); !(def <= AdjointTol*scale) {
		t.Errorf("adjoint: ⟨Bu, v⟩ = %.17g, ⟨u, Bᵀv⟩ = %.17g: defect %.3g relative to the terms (tol %.1g)", lhs, rhs, def/scale, AdjointTol)
	}

	// The same bits again.
	must("CrossApply", ca.CrossApply(buv, uv))
	if again := Host(t, b, buv); !sameBits(again, bu) {
		t.Errorf("CrossApply is not deterministic:\n first  %v\n second %v", head(bu), head(again))
	}

	// B u against λ-differences of ∇_w g(w, λ) along u.
	g := Vec(t, b, make([]float64, d))
	defer b.Free(g)
	step := Step(Norm(lam)) / Norm(u)
	gradAt := func(s float64) []float64 {
		l := make([]float64, h)
		for i := range l {
			l[i] = lam[i] + s*u[i]
		}
		must("SetHyper", p.SetHyper(l))
		must("InnerGrad", p.InnerGrad(g, wd))
		return Host(t, b, g)
	}
	gp, gm := gradAt(step), gradAt(-step)
	fd := make([]float64, d)
	for i := range fd {
		fd[i] = (gp[i] - gm[i]) / (2 * step)
	}
	if e := RelErr(bu, fd); !(e <= o.Tol) {
		t.Errorf("CrossApply: relative error %.3g against central differences of ∇_w g in λ (tol %.1g)\n got  %v\n want %v", e, o.Tol, head(bu), head(fd))
	}
	must("SetHyper", p.SetHyper(lam))
	must("Linearize", p.Linearize(wd))

	// Wrong shapes: an error, no panic.
	for _, c := range []struct{ nd, nh int }{{d, h + 1}, {d + 1, h}, {d - 1, h}, {d, h - 1}, {h, d}} {
		if c.nd < 1 || c.nh < 1 || c.nd == d && c.nh == h {
			continue // no zero-length vectors; (h, d) is no error when h = d
		}
		dst, uu := Vec(t, b, make([]float64, c.nd)), Vec(t, b, make([]float64, c.nh))
		panicked, err := callSafe(func() error { return ca.CrossApply(dst, uu) })
		if panicked != nil || err == nil {
			t.Errorf("CrossApply with len dst = %d, len u = %d (want %d, %d): error %v, panic %v", c.nd, c.nh, d, h, err, panicked)
		}
		b.ClearErr()
		b.Free(dst)
		b.Free(uu)
	}
	for _, c := range []struct {
		name   string
		dst, u backend.Vector
	}{{"nil dst", nil, uv}, {"nil u", buv, nil}} {
		panicked, err := callSafe(func() error { return ca.CrossApply(c.dst, c.u) })
		if panicked != nil || err == nil {
			t.Errorf("CrossApply with %s: error %v, panic %v", c.name, err, panicked)
		}
		b.ClearErr()
	}
}

// callSafe runs f and returns its error, or the value of its panic.
func callSafe(f func() error) (panicked any, err error) {
	defer func() { panicked = recover() }()
	return nil, f()
}

func dot(x, y []float64) float64 {
	var s float64
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}

func sameBits(x, y []float64) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
			return false
		}
	}
	return true
}
