package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

func (s *suite) testDivElem(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		for _, ab := range alphaBetas {
			r := Rand(uint64(n))
			x, y, d := RandVector(r, n), RandVector(r, n), RandVector(r, n)
			if ab.nanDst {
				d = withNaN(d)
			}
			xv, yv, dv := newVec(t, b, x), newVec(t, b, y), newVec(t, b, d)
			b.DivElem(dv, ab.alpha, xv, yv, ab.beta)
			what := fmt.Sprintf("DivElem n=%d %s", n, coef(ab.alpha, ab.beta, ab.nanDst))
			if noErr(t, b, what) {
				ref, mag := refDivElem(ab.alpha, x, y, ab.beta, d)
				checkVec(t, what, get(t, b, dv), ref, mag)
				checkExact(t, what+": x", get(t, b, xv), x)
				checkExact(t, what+": y", get(t, b, yv), y)
			}
			b.Free(xv)
			b.Free(yv)
			b.Free(dv)
		}
	}

	// IEEE quotients: 1/0 = +Inf, 1/−0 = −Inf, 0/0 = NaN, Inf/Inf = NaN,
	// and α = 0 multiplies them (0·Inf = NaN).
	inf, nan := math.Inf(1), math.NaN()
	x := []float64{1, -1, 0, 1, inf, 3, nan, 2, -0.5, 0, inf, 7}
	y := []float64{0, 0, 0, math.Copysign(0, -1), inf, inf, 1, nan, 4, -2, 2, -3}
	for _, ab := range []struct{ alpha, beta float64 }{{1, 0}, {-2, 0}, {0, 0}, {0, 1}, {0.5, -1}} {
		d := withNaN(RandVector(Rand(21), len(x)))
		xv, yv, dv := newVec(t, b, x), newVec(t, b, y), newVec(t, b, d)
		b.DivElem(dv, ab.alpha, xv, yv, ab.beta)
		what := fmt.Sprintf("DivElem of special values %s (NaN in dst)", coef(ab.alpha, ab.beta, false))
		if noErr(t, b, what) {
			ref, mag := refDivElem(ab.alpha, x, y, ab.beta, d)
			mustHaveNaN(t, what, ref, true)
			checkVecIEEE(t, what, get(t, b, dv), ref, mag)
		}
		b.Free(xv)
		b.Free(yv)
		b.Free(dv)
	}

	// Every aliasing is allowed.
	for _, n := range []int{1, 33, 100003} {
		r := Rand(uint64(n) + 1)
		x, y := RandVector(r, n), RandVector(r, n)
		xv, yv := newVec(t, b, x), newVec(t, b, y)
		cases := []struct {
			name string
			do   func()
			out  backend.Vector
			want func() ([]float64, []float64)
		}{
			{"DivElem(x, α, x, x, β)", func() { b.DivElem(xv, 2, xv, xv, 0.5) }, xv, func() ([]float64, []float64) { return refDivElem(2, x, x, 0.5, x) }},
			{"DivElem(x, α, x, y, β)", func() { b.DivElem(xv, -1, xv, yv, 3) }, xv, func() ([]float64, []float64) { return refDivElem(-1, x, y, 3, x) }},
			{"DivElem(x, α, y, x, 0)", func() { b.DivElem(xv, 2, yv, xv, 0) }, xv, func() ([]float64, []float64) { return refDivElem(2, y, x, 0, nil) }},
			{"DivElem(y, α, x, x, 0)", func() { b.DivElem(yv, 1, xv, xv, 0) }, yv, func() ([]float64, []float64) { return refDivElem(1, x, x, 0, nil) }},
		}
		for _, c := range cases {
			b.Upload(xv, x)
			b.Upload(yv, y)
			c.do()
			what := fmt.Sprintf("%s n=%d", c.name, n)
			if noErr(t, b, what) {
				ref, mag := c.want()
				checkVec(t, what, get(t, b, c.out), ref, mag)
			}
		}
		b.Free(xv)
		b.Free(yv)
	}
}

// allFuncs is the closed set of Map's functions.
var allFuncs = []backend.Func{
	backend.Exp, backend.Log, backend.Softplus, backend.Sigmoid, backend.SigmoidDeriv, backend.Tanh,
	backend.TanhDeriv, backend.SqrtSq, backend.SqrtSqDeriv, backend.SqrtSqDeriv2, backend.Recip,
}

// funcParams returns the parameters c to test f with.
func funcParams(f backend.Func) []float64 {
	if f.HasParam() {
		return []float64{0, 1e-4, 2.5}
	}
	return []float64{0}
}

// mapSpecials are inputs of Map at the edges of its formulas: signed zeros,
// subnormals, the overflow of exp, the 2⁵⁰⁰ switch of SqrtSq, the largest
// values, infinities and NaN.
var mapSpecials = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 1e-300, -1e-300, 5e-324, -5e-324, 1e-8, -1e-8,
	20, -20, 36, -36, 700, -700, 709.5, -709.5, 710, -710, 800, -800,
	0x1p500, -0x1p500, 0x1p501, -0x1p501, 1e300, -1e300, math.MaxFloat64, -math.MaxFloat64,
	math.Inf(1), math.Inf(-1), math.NaN(),
}

// checkMap compares Map's result with f.Eval element by element: a NaN,
// an infinity or a zero (with its sign) exactly, a finite value to a
// relative 1e-12 (math libraries differ in the last bits), or to two units
// of the smallest subnormal where the result is subnormal.
func checkMap(t *testing.T, what string, got, x []float64, f backend.Func, c float64) {
	t.Helper()
	if len(got) != len(x) {
		t.Errorf("%s: got %d values, want %d", what, len(got), len(x))
		return
	}
	bad := 0
	for i, xi := range x {
		ref, g := f.Eval(xi, c), got[i]
		var ok bool
		switch {
		case math.IsNaN(ref):
			ok = math.IsNaN(g)
		case math.IsInf(ref, 0) || ref == 0:
			ok = math.Float64bits(g) == math.Float64bits(ref)
		default:
			d := math.Abs(g - ref)
			ok = d <= Tol*math.Abs(ref) || d <= 2*math.SmallestNonzeroFloat64
		}
		if !ok {
			if bad < 3 {
				t.Errorf("%s: %v(%v; c=%v) = %v, want %v", what, f, xi, c, g, ref)
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d wrong values in all", what, bad)
	}
}

func (s *suite) testMap(t *testing.T) {
	b := s.backend(t)
	for _, f := range allFuncs {
		for ci, c := range funcParams(f) {
			for _, n := range vecLens {
				if ci > 0 && n > 1003 {
					continue
				}
				r := Rand(uint64(n) + uint64(f))
				x := RandVector(r, n)
				for i := range x {
					x[i] *= 4
				}
				d := withNaN(RandVector(r, n))
				xv, dv := newVec(t, b, x), newVec(t, b, d)
				b.Map(dv, f, c, xv)
				what := fmt.Sprintf("Map %v c=%g n=%d", f, c, n)
				if noErr(t, b, what) {
					checkMap(t, what, get(t, b, dv), x, f, c)
					checkExact(t, what+": x", get(t, b, xv), x)
				}
				// In place.
				b.Map(xv, f, c, xv)
				if noErr(t, b, what+" in place") {
					checkMap(t, what+" in place", get(t, b, xv), x, f, c)
				}
				b.Free(xv)
				b.Free(dv)
			}
			// The edges of the formulas, but those where Go's math library
			// is itself wrong (testMapLibmEdges).
			var xs []float64
			for _, x := range mapSpecials {
				if !libmEdge(f, x) {
					xs = append(xs, x)
				}
			}
			xv, dv := newVec(t, b, xs), newVec(t, b, make([]float64, len(xs)))
			b.Map(dv, f, c, xv)
			what := fmt.Sprintf("Map %v c=%g of special values", f, c)
			if noErr(t, b, what) {
				checkMap(t, what, get(t, b, dv), xs, f, c)
			}
			b.Free(xv)
			b.Free(dv)
		}
	}
}

// libmEdge reports whether f.Eval(x, c) is wrong on some platforms
// because Go's math library is: on amd64, math.Exp overflows to +Inf from
// x ≈ 709.436 instead of from 709.7827, and math.Log does not normalize a
// subnormal x (golang/go#56600: Log(5e-324) = −709.09, not −744.44).
func libmEdge(f backend.Func, x float64) bool {
	return (f == backend.Exp && x > 709 && x <= 709.782712893384) || (f == backend.Log && x > 0 && x < 0x1p-1022)
}

// testMapLibmEdges checks Exp near its overflow and Log of subnormals,
// where f.Eval inherits the errors of Go's math library on amd64, against
// values computed around them: e^x = (e^{x/2})² (a few ulps) and
// log x = log(x·2⁶⁴) − 64·log 2.
func (s *suite) testMapLibmEdges(t *testing.T) {
	b := s.backend(t)
	cases := []struct {
		f  backend.Func
		xs []float64
	}{
		{backend.Exp, []float64{709.2, 709.5, 709.7, 709.78}},
		{backend.Log, []float64{0x1p-1023, 1e-310, 3e-320, 5e-324}},
	}
	for _, c := range cases {
		want := make([]float64, len(c.xs))
		for i, x := range c.xs {
			if !libmEdge(c.f, x) {
				t.Fatalf("test: %v(%v) is not an edge", c.f, x)
			}
			if c.f == backend.Exp {
				h := math.Exp(x / 2)
				want[i] = h * h
			} else {
				want[i] = math.Log(x*0x1p64) - 64*math.Ln2
			}
		}
		xv, dv := newVec(t, b, c.xs), newVec(t, b, make([]float64, len(c.xs)))
		b.Map(dv, c.f, 0, xv)
		what := fmt.Sprintf("Map %v at the edges of Go's math library", c.f)
		if noErr(t, b, what) {
			got := get(t, b, dv)
			for i, x := range c.xs {
				if d := math.Abs(got[i] - want[i]); !(d <= Tol*math.Abs(want[i])) {
					t.Errorf("%s: %v(%v) = %v, want %v", what, c.f, x, got[i], want[i])
				}
			}
		}
		b.Free(xv)
		b.Free(dv)
	}
}

// testFuncDerivs checks that Func.Deriv names the derivative of each
// function of the set, by central differences on a grid: a property of
// the set itself, which Map's users rely on.
func (s *suite) testFuncDerivs(t *testing.T) {
	grid := make([]float64, 0, 40)
	for k := range 32 {
		grid = append(grid, -7.83+0.5*float64(k)) // never within 0.17 of 0
	}
	logGrid := []float64{0.05, 0.1, 0.3, 0.7, 1, 2.5, 7, 30}
	// The functions whose derivative is in the set, as documented.
	want := map[backend.Func]backend.Func{
		backend.Exp: backend.Exp, backend.Log: backend.Recip, backend.Softplus: backend.Sigmoid,
		backend.Sigmoid: backend.SigmoidDeriv, backend.Tanh: backend.TanhDeriv,
		backend.SqrtSq: backend.SqrtSqDeriv, backend.SqrtSqDeriv: backend.SqrtSqDeriv2,
	}
	checked := 0
	for _, f := range allFuncs {
		g, ok := f.Deriv()
		if w, has := want[f]; ok != has || (ok && g != w) {
			t.Errorf("%v.Deriv() = %v, %v; want %v, %v", f, g, ok, w, has)
		}
		if !ok {
			continue
		}
		xs := grid
		if f == backend.Log {
			xs = logGrid
		}
		for _, c := range funcParams(f) {
			for _, x := range xs {
				h := 1e-5 * max(1, math.Abs(x))
				fd := (f.Eval(x+h, c) - f.Eval(x-h, c)) / (2 * h)
				want := g.Eval(x, c)
				// Truncation error h²·f‴/6 and rounding error ε·|f|/h.
				if tol := 1e-6*math.Abs(want) + 1e-10*math.Abs(f.Eval(x, c)); !(math.Abs(fd-want) <= tol) {
					t.Errorf("%v.Deriv() = %v: at x=%v c=%v the central difference is %v, %v gives %v", f, g, x, c, fd, g, want)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Error("no derivative was checked")
	}
}
