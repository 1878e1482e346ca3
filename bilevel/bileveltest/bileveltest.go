// Package bileveltest checks bilevel.Problem implementations: one shared
// central-finite-difference checker for every oracle, and small helpers for
// tests (normwise relative errors, host↔device copies).
package bileveltest

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// Options control CheckOracles.
type Options struct {
	// Tol is the largest normwise relative error accepted; default 1e-6.
	Tol float64
	// Seed seeds the random directions; default 1.
	Seed uint64
}

// RelErr returns ‖got − want‖₂/‖want‖₂ (or ‖got‖₂ when want is zero).
func RelErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range got {
		d := got[i] - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// Norm returns ‖x‖₂.
func Norm(x []float64) float64 { return floats.Norm(x, 2) }

// Step returns the central-difference step ε^{1/3}·max(1, scale), which
// balances the O(h²) truncation error against the O(ε/h) rounding error.
func Step(scale float64) float64 {
	return math.Cbrt(0x1p-52) * math.Max(1, math.Abs(scale))
}

// FDGradient returns the central-difference gradient of f at x, coordinate by
// coordinate: (f(x + h e_i) − f(x − h e_i))/(2h), h = Step(x_i).
func FDGradient(f func([]float64) float64, x []float64) []float64 {
	g := make([]float64, len(x))
	xx := append([]float64(nil), x...)
	for i := range x {
		h := Step(x[i])
		xx[i] = x[i] + h
		fp := f(xx)
		xx[i] = x[i] - h
		fm := f(xx)
		xx[i] = x[i]
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

// Vec uploads x to a new vector of b, failing the test on error.
func Vec(t testing.TB, b backend.Backend, x []float64) backend.Vector {
	t.Helper()
	v, err := b.NewVector(len(x))
	if err != nil {
		t.Fatalf("NewVector(%d): %v", len(x), err)
	}
	b.Upload(v, x)
	if err := b.Err(); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return v
}

// Host downloads v, failing the test on error.
func Host(t testing.TB, b backend.Backend, v backend.Vector) []float64 {
	t.Helper()
	x := make([]float64, v.Len())
	b.Download(x, v)
	if err := b.Err(); err != nil {
		t.Fatalf("Download: %v", err)
	}
	return x
}

// CheckOracles compares every oracle of p at the host point w with central
// finite differences and reports errors above o.Tol (normwise relative):
//
//	InnerGrad       against the coordinate differences of InnerValue,
//	HessVec(v)      against (∇g(w+hv) − ∇g(w−hv))/(2h) for a random v,
//	CrossVec(v)     against the λ-differences of vᵀ∇_w g(w, λ),
//	OuterGrad       against the coordinate differences of OuterValue,
//	OuterHyperGrad  against the λ-differences of OuterValue,
//	HessDiag        (when p is a bilevel.HessDiager) against e_jᵀ A e_j from
//	                HessVec on every unit vector, to 1e-12 normwise.
//
// Choose w away from the inner solution so that the gradients are not
// dominated by rounding. p is returned to its original λ.
func CheckOracles(t testing.TB, p bilevel.Problem, w []float64, o Options) {
	t.Helper()
	if o.Tol == 0 {
		o.Tol = 1e-6
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	b := p.Backend()
	d, h := p.InnerDim(), p.HyperDim()
	if len(w) != d {
		t.Fatalf("CheckOracles: w has length %d, want %d", len(w), d)
	}
	lam := make([]float64, h)
	p.Hyper(lam)
	defer func() {
		if err := p.SetHyper(lam); err != nil {
			t.Errorf("restoring λ: %v", err)
		}
	}()
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	wv := Vec(t, b, w)
	defer b.Free(wv)
	tmp := Vec(t, b, make([]float64, d))
	defer b.Free(tmp)
	tmpH := Vec(t, b, make([]float64, h))
	defer b.Free(tmpH)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	value := func(f func(backend.Vector) (float64, error)) func([]float64) float64 {
		return func(x []float64) float64 {
			b.Upload(tmp, x)
			v, err := f(tmp)
			must("value oracle", err)
			return v
		}
	}
	check := func(name string, got, want []float64) {
		t.Helper()
		if e := RelErr(got, want); !(e <= o.Tol) {
			t.Errorf("%s: relative error %.3g against central differences (tol %.1g)\n got  %v\n want %v", name, e, o.Tol, head(got), head(want))
		}
	}

	// ∇_w g against differences of g.
	g := Vec(t, b, make([]float64, d))
	defer b.Free(g)
	must("InnerGrad", p.InnerGrad(g, wv))
	check("InnerGrad", Host(t, b, g), FDGradient(value(p.InnerValue), w))

	// A v against differences of ∇_w g along v.
	v := make([]float64, d)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	vv := Vec(t, b, v)
	defer b.Free(vv)
	must("Linearize", p.Linearize(wv))
	hv := Vec(t, b, make([]float64, d))
	defer b.Free(hv)
	must("HessVec", p.HessVec(hv, vv))
	step := Step(Norm(w)) / Norm(v)
	gradAt := func(s float64) []float64 {
		x := make([]float64, d)
		for i := range x {
			x[i] = w[i] + s*v[i]
		}
		b.Upload(tmp, x)
		must("InnerGrad", p.InnerGrad(g, tmp))
		return Host(t, b, g)
	}
	gp, gm := gradAt(step), gradAt(-step)
	fd := make([]float64, d)
	for i := range fd {
		fd[i] = (gp[i] - gm[i]) / (2 * step)
	}
	check("HessVec", Host(t, b, hv), fd)

	// diag(A) against HessVec on the unit vectors (exact up to rounding).
	if hd, ok := p.(bilevel.HessDiager); ok {
		must("Linearize", p.Linearize(wv))
		must("HessDiag", hd.HessDiag(hv))
		got := Host(t, b, hv)
		want := make([]float64, d)
		e := make([]float64, d)
		for j := range want {
			e[j] = 1
			b.Upload(tmp, e)
			must("HessVec", p.HessVec(g, tmp))
			want[j] = Host(t, b, g)[j]
			e[j] = 0
		}
		if err := RelErr(got, want); !(err <= 1e-12) {
			t.Errorf("HessDiag: relative error %.3g against HessVec on unit vectors (tol 1e-12)\n got  %v\n want %v", err, head(got), head(want))
		}
	}

	// Bᵀv against λ-differences of vᵀ∇_w g(w, λ).
	must("Linearize", p.Linearize(wv))
	must("CrossVec", p.CrossVec(tmpH, vv))
	cross := Host(t, b, tmpH)
	vg := func(l []float64) float64 {
		must("SetHyper", p.SetHyper(l))
		must("InnerGrad", p.InnerGrad(g, wv))
		return b.Dot(vv, g)
	}
	check("CrossVec", cross, FDGradient(vg, lam))
	must("SetHyper", p.SetHyper(lam))

	// ∇_w E and ∇_λ E against differences of E.
	must("OuterGrad", p.OuterGrad(g, wv))
	check("OuterGrad", Host(t, b, g), FDGradient(value(p.OuterValue), w))
	must("OuterHyperGrad", p.OuterHyperGrad(tmpH, wv))
	ev := func(l []float64) float64 {
		must("SetHyper", p.SetHyper(l))
		e, err := p.OuterValue(wv)
		must("OuterValue", err)
		return e
	}
	check("OuterHyperGrad", Host(t, b, tmpH), FDGradient(ev, lam))
}

func head(x []float64) []float64 {
	if len(x) > 6 {
		return x[:6]
	}
	return x
}
