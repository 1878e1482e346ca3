package bileveltest

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// CheckFixedPoint checks a fixed-point problem: CheckFixedPointAt at the
// point w = Φ(z, λ), z ~ N(0, I) drawn from o.Seed (a point in the range of
// Φ), then CheckFixedPointShapes.
func CheckFixedPoint(t testing.TB, p bilevel.FixedPoint, o Options) {
	t.Helper()
	if o.Seed == 0 {
		o.Seed = 1
	}
	b := p.Backend()
	rng := rand.New(rand.NewPCG(o.Seed, 3))
	z := make([]float64, p.InnerDim())
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	zv := Vec(t, b, z)
	defer b.Free(zv)
	wv := Vec(t, b, z)
	defer b.Free(wv)
	if err := p.Map(wv, zv); err != nil {
		t.Fatalf("Map: %v", err)
	}
	CheckFixedPointAt(t, p, Host(t, b, wv), o)
	CheckFixedPointShapes(t, p)
}

// CheckFixedPointAt compares every oracle of p at the host point w with
// central finite differences (normwise relative error at most o.Tol,
// default 1e-6), for random directions u (len d), v (len d), r (len h):
//
//	JacVec(u)            against (Φ(w+εu) − Φ(w−εu))/(2ε),
//	JacTransVec(v)       against the w-differences of ⟨v, Φ(w, λ)⟩, and
//	                     ⟨JacVec(u), v⟩ = ⟨u, JacTransVec(v)⟩ to AdjointTol,
//	HyperJacVec(r)       against (Φ(w; λ+εr) − Φ(w; λ−εr))/(2ε),
//	HyperJacTransVec(v)  against the λ-differences of ⟨v, Φ(w, λ)⟩, and
//	                     ⟨HyperJacVec(r), v⟩ = ⟨r, HyperJacTransVec(v)⟩ to AdjointTol,
//	OuterGrad            against the w-differences of OuterValue,
//	OuterHyperGrad       against the λ-differences of OuterValue.
//
// It also checks that JacVec and HyperJacTransVec repeat to the bit. A
// HyperJacVec that returns
// bilevel.ErrUnsupported (forward mode is optional) is not checked. p is
// returned to its original λ and left linearized at w.
func CheckFixedPointAt(t testing.TB, p bilevel.FixedPoint, w []float64, o Options) {
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
		t.Fatalf("CheckFixedPointAt: w has length %d, want %d", len(w), d)
	}
	lam := make([]float64, h)
	p.Hyper(lam)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	defer func() {
		must("restoring λ", p.SetHyper(lam))
		x := Vec(t, b, w)
		defer b.Free(x)
		must("Linearize", p.Linearize(x))
	}()
	check := func(name string, got, want []float64) {
		t.Helper()
		if e := RelErr(got, want); !(e <= o.Tol) {
			t.Errorf("%s: relative error %.3g against central differences (tol %.1g)\n got  %v\n want %v", name, e, o.Tol, head(got), head(want))
		}
	}
	adjoint := func(name string, jx, y, x, jty []float64) {
		t.Helper()
		lhs, rhs := fpDot(jx, y), fpDot(x, jty)
		scale := Norm(jx)*Norm(y) + Norm(x)*Norm(jty)
		if gap := math.Abs(lhs - rhs); !(gap <= AdjointTol*scale) {
			t.Errorf("%s: ⟨Mx, y⟩ = %.17g but ⟨x, Mᵀy⟩ = %.17g (gap %.3g, scale %.3g, tol %.1g)", name, lhs, rhs, gap, scale, AdjointTol)
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	randVec := func(n int) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		return x
	}
	u, v, r := randVec(d), randVec(d), randVec(h)

	wv := Vec(t, b, w)
	defer b.Free(wv)
	uv, vv, rv := Vec(t, b, u), Vec(t, b, v), Vec(t, b, r)
	defer b.Free(uv)
	defer b.Free(vv)
	defer b.Free(rv)
	out := Vec(t, b, make([]float64, d))
	defer b.Free(out)
	outH := Vec(t, b, make([]float64, h))
	defer b.Free(outH)
	tmp := Vec(t, b, make([]float64, d))
	defer b.Free(tmp)

	// The products at w.
	must("Linearize", p.Linearize(wv))
	must("JacVec", p.JacVec(out, uv))
	ju := Host(t, b, out)
	must("JacTransVec", p.JacTransVec(out, vv))
	jtv := Host(t, b, out)
	var kr []float64
	switch err := p.HyperJacVec(out, rv); {
	case errors.Is(err, bilevel.ErrUnsupported):
		t.Logf("HyperJacVec: %v (not checked)", err)
	case err != nil:
		t.Fatalf("HyperJacVec: %v", err)
	default:
		kr = Host(t, b, out)
	}
	must("HyperJacTransVec", p.HyperJacTransVec(outH, vv))
	ktv := Host(t, b, outH)
	must("OuterGrad", p.OuterGrad(out, wv))
	ge := Host(t, b, out)
	must("OuterHyperGrad", p.OuterHyperGrad(outH, wv))
	gel := Host(t, b, outH)

	must("JacVec", p.JacVec(out, uv))
	if again := Host(t, b, out); !fpSameBits(again, ju) {
		t.Errorf("JacVec is not deterministic:\n first  %v\n second %v", head(ju), head(again))
	}
	must("HyperJacTransVec", p.HyperJacTransVec(outH, vv))
	if again := Host(t, b, outH); !fpSameBits(again, ktv) {
		t.Errorf("HyperJacTransVec is not deterministic:\n first  %v\n second %v", head(ktv), head(again))
	}

	adjoint("JacVec/JacTransVec", ju, v, u, jtv)
	if kr != nil {
		adjoint("HyperJacVec/HyperJacTransVec", kr, v, r, ktv)
	}

	// Φ(x, λ) on the host.
	phi := func(x []float64) []float64 {
		b.Upload(tmp, x)
		must("Map", p.Map(out, tmp))
		return Host(t, b, out)
	}
	along := func(x, dir []float64, s float64) []float64 {
		y := make([]float64, len(x))
		for i := range y {
			y[i] = x[i] + s*dir[i]
		}
		return y
	}
	central := func(fp, fm []float64, s float64) []float64 {
		g := make([]float64, len(fp))
		for i := range g {
			g[i] = (fp[i] - fm[i]) / (2 * s)
		}
		return g
	}

	// J u and Jᵀv.
	step := Step(Norm(w)) / Norm(u)
	check("JacVec", ju, central(phi(along(w, u, step)), phi(along(w, u, -step)), step))
	check("JacTransVec", jtv, FDGradient(func(x []float64) float64 { return fpDot(v, phi(x)) }, w))

	// K r and Kᵀv: differences in λ at fixed w.
	phiAt := func(l []float64) []float64 {
		must("SetHyper", p.SetHyper(l))
		must("Map", p.Map(out, wv))
		return Host(t, b, out)
	}
	if kr != nil {
		s := Step(Norm(lam)) / Norm(r)
		check("HyperJacVec", kr, central(phiAt(along(lam, r, s)), phiAt(along(lam, r, -s)), s))
	}
	check("HyperJacTransVec", ktv, FDGradient(func(l []float64) float64 { return fpDot(v, phiAt(l)) }, lam))
	must("SetHyper", p.SetHyper(lam))

	// ∇_w E and ∇_λ E.
	check("OuterGrad", ge, FDGradient(func(x []float64) float64 {
		b.Upload(tmp, x)
		e, err := p.OuterValue(tmp)
		must("OuterValue", err)
		return e
	}, w))
	check("OuterHyperGrad", gel, FDGradient(func(l []float64) float64 {
		must("SetHyper", p.SetHyper(l))
		e, err := p.OuterValue(wv)
		must("OuterValue", err)
		return e
	}, lam))
}

// CheckFixedPointShapes calls every oracle of p with one operand of a wrong
// length (one more than its own), or nil, the others right, and reports a
// nil error or a panic (an oracle returning bilevel.ErrUnsupported passes).
// It clears the backend's error after each call. Call it with p linearized,
// so that the errors are about the operands; p may be left linearized
// anywhere.
func CheckFixedPointShapes(t testing.TB, p bilevel.FixedPoint) {
	t.Helper()
	b := p.Backend()
	d, h := p.InnerDim(), p.HyperDim()
	vecs := map[int]backend.Vector{}
	get := func(n int) backend.Vector {
		if n < 0 {
			return nil
		}
		if v, ok := vecs[n]; ok {
			return v
		}
		v := Vec(t, b, make([]float64, n))
		vecs[n] = v
		return v
	}
	defer func() {
		for _, v := range vecs {
			b.Free(v)
		}
	}()
	type oracle struct {
		name string
		lens []int // the lengths of the operands
		call func(ops []backend.Vector) error
	}
	two := func(f func(x, y backend.Vector) error) func([]backend.Vector) error {
		return func(ops []backend.Vector) error { return f(ops[0], ops[1]) }
	}
	for _, o := range []oracle{
		{"Map", []int{d, d}, two(p.Map)},
		{"Linearize", []int{d}, func(ops []backend.Vector) error { return p.Linearize(ops[0]) }},
		{"JacVec", []int{d, d}, two(p.JacVec)},
		{"JacTransVec", []int{d, d}, two(p.JacTransVec)},
		{"HyperJacVec", []int{d, h}, two(p.HyperJacVec)},
		{"HyperJacTransVec", []int{h, d}, two(p.HyperJacTransVec)},
		{"OuterValue", []int{d}, func(ops []backend.Vector) error { _, err := p.OuterValue(ops[0]); return err }},
		{"OuterGrad", []int{d, d}, two(p.OuterGrad)},
		{"OuterHyperGrad", []int{h, d}, two(p.OuterHyperGrad)},
	} {
		for i := range o.lens {
			for _, bad := range []int{o.lens[i] + 1, -1} { // -1: nil
				ops := make([]backend.Vector, len(o.lens))
				for j, n := range o.lens {
					ops[j] = get(n)
				}
				ops[i] = get(bad)
				panicked, err := fpCall(func() error { return o.call(ops) })
				b.ClearErr()
				if errors.Is(err, bilevel.ErrUnsupported) {
					continue
				}
				if panicked != nil || err == nil {
					what := "nil"
					if bad >= 0 {
						what = "of length " + strconv.Itoa(bad)
					}
					t.Errorf("%s with operand %d %s: error %v, panic %v", o.name, i, what, err, panicked)
				}
			}
		}
	}
}

// fpCall runs f and returns its error, or the value of its panic.
func fpCall(f func() error) (panicked any, err error) {
	defer func() { panicked = recover() }()
	return nil, f()
}

func fpSameBits(x, y []float64) bool {
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

func fpDot(x, y []float64) float64 {
	var s float64
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}
