package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

func (s *suite) testInfo(t *testing.T) {
	b := s.backend(t)
	if b.Name() == "" || b.Device() == "" {
		t.Errorf("Name() = %q, Device() = %q; want non-empty", b.Name(), b.Device())
	}
	if err := b.Err(); err != nil {
		t.Errorf("fresh backend: Err() = %v", err)
	}
	if err := b.Sync(); err != nil {
		t.Errorf("fresh backend: Sync() = %v", err)
	}
}

func (s *suite) testUploadDownload(t *testing.T) {
	b := s.backend(t)
	special := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(),
		math.SmallestNonzeroFloat64, -math.MaxFloat64, 0x1p-1030}
	for _, n := range append(vecLens, len(special)) {
		v, err := b.NewVector(n)
		if err != nil {
			t.Fatalf("NewVector(%d): %v", n, err)
		}
		if v.Len() != n {
			t.Errorf("NewVector(%d).Len() = %d", n, v.Len())
		}
		checkExact(t, fmt.Sprintf("NewVector(%d) is zeroed", n), get(t, b, v), make([]float64, n))
		x := RandVector(Rand(uint64(n)), n)
		if n == len(special) {
			x = special
		}
		b.Upload(v, x)
		noErr(t, b, fmt.Sprintf("Upload n=%d", n))
		checkExact(t, fmt.Sprintf("Download(Upload(x)) n=%d", n), get(t, b, v), x)
		b.Free(v)
	}
}

func (s *suite) testCopy(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		r := Rand(uint64(n))
		x, y := RandVector(r, n), RandVector(r, n)
		xv, yv := newVec(t, b, x), newVec(t, b, withNaN(y))
		b.Copy(yv, xv)
		if noErr(t, b, fmt.Sprintf("Copy n=%d", n)) {
			checkExact(t, fmt.Sprintf("Copy n=%d", n), get(t, b, yv), x)
			checkExact(t, fmt.Sprintf("Copy n=%d: src", n), get(t, b, xv), x)
		}
	}
}

func (s *suite) testFill(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		for _, a := range []float64{0, -2.5, math.Inf(1)} {
			xv := newVec(t, b, withNaN(RandVector(Rand(uint64(n)), n)))
			b.Fill(xv, a)
			want := make([]float64, n)
			for i := range want {
				want[i] = a
			}
			if noErr(t, b, fmt.Sprintf("Fill n=%d a=%g", n, a)) {
				checkExact(t, fmt.Sprintf("Fill n=%d a=%g", n, a), get(t, b, xv), want)
			}
		}
	}
}

func (s *suite) testScal(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		for _, alpha := range []float64{0, 1, -0.75, 3e100} {
			x := RandVector(Rand(uint64(n)), n)
			xv := newVec(t, b, x)
			b.Scal(alpha, xv)
			what := fmt.Sprintf("Scal n=%d α=%g", n, alpha)
			if noErr(t, b, what) {
				ref, mag := refAxpby(alpha, x, 0, nil)
				checkVec(t, what, get(t, b, xv), ref, mag)
			}
		}
	}
}

func (s *suite) testAxpy(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		for _, alpha := range []float64{0, 1, -0.75} {
			r := Rand(uint64(n))
			x, y := RandVector(r, n), RandVector(r, n)
			xv, yv := newVec(t, b, x), newVec(t, b, y)
			b.Axpy(alpha, xv, yv)
			what := fmt.Sprintf("Axpy n=%d α=%g", n, alpha)
			if noErr(t, b, what) {
				ref, mag := refAxpby(alpha, x, 1, y)
				checkVec(t, what, get(t, b, yv), ref, mag)
				checkExact(t, what+": x", get(t, b, xv), x)
			}
		}
	}
}

// alphaBetas are the coefficient pairs of the α·(…) + β·dst operations; the
// NaN flag puts NaNs in dst, which β = 0 must overwrite.
var alphaBetas = []struct {
	alpha, beta float64
	nanDst      bool
}{{1, 0, false}, {-0.7, 0, true}, {2, 0.5, false}, {0, -1.5, false}, {1.25, 1, false}}

func (s *suite) testAxpby(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		for _, ab := range alphaBetas {
			r := Rand(uint64(n))
			x, y := RandVector(r, n), RandVector(r, n)
			if ab.nanDst {
				y = withNaN(y)
			}
			xv, yv := newVec(t, b, x), newVec(t, b, y)
			b.Axpby(ab.alpha, xv, ab.beta, yv)
			what := fmt.Sprintf("Axpby n=%d %s", n, coef(ab.alpha, ab.beta, ab.nanDst))
			if noErr(t, b, what) {
				ref, mag := refAxpby(ab.alpha, x, ab.beta, y)
				checkVec(t, what, get(t, b, yv), ref, mag)
			}
		}
	}
}

// refMulElem returns α·(x ⊙ y) + β·d (α·(x ⊙ y) when β = 0) and its magnitudes.
func refMulElem(alpha float64, x, y []float64, beta float64, d []float64) (ref, mag []float64) {
	p, pMag := make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		p[i] = x[i] * y[i]
		pMag[i] = math.Abs(p[i])
	}
	return combine(alpha, p, pMag, beta, d)
}

func (s *suite) testMulElem(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		for _, ab := range alphaBetas {
			r := Rand(uint64(n))
			x, y, d := RandVector(r, n), RandVector(r, n), RandVector(r, n)
			if ab.nanDst {
				d = withNaN(d)
			}
			xv, yv, dv := newVec(t, b, x), newVec(t, b, y), newVec(t, b, d)
			b.MulElem(dv, ab.alpha, xv, yv, ab.beta)
			what := fmt.Sprintf("MulElem n=%d %s", n, coef(ab.alpha, ab.beta, ab.nanDst))
			if noErr(t, b, what) {
				ref, mag := refMulElem(ab.alpha, x, y, ab.beta, d)
				checkVec(t, what, get(t, b, dv), ref, mag)
			}
		}
	}
}

func (s *suite) testDot(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		r := Rand(uint64(n))
		x, y := RandVector(r, n), RandVector(r, n)
		// Large magnitudes with cancellation: the tolerance is relative to Σ|x_i y_i|.
		if n > 2 {
			x[0], y[0], x[1], y[1] = 1e8, 1e8, 1e8, -1e8
		}
		xv, yv := newVec(t, b, x), newVec(t, b, y)
		got := b.Dot(xv, yv)
		what := fmt.Sprintf("Dot n=%d", n)
		if noErr(t, b, what) {
			ref, mag := refDot(x, y)
			checkScalar(t, what, got, ref, mag)
		}
	}
}

func (s *suite) testNrm2(t *testing.T) {
	b := s.backend(t)
	type tc struct {
		name string
		x    []float64
	}
	var cases []tc
	for _, n := range vecLens {
		cases = append(cases, tc{fmt.Sprintf("normal n=%d", n), RandVector(Rand(uint64(n)), n)})
	}
	scaled := func(n int, scale float64) []float64 {
		x := RandVector(Rand(uint64(n)+7), n)
		for i := range x {
			x[i] *= scale
		}
		return x
	}
	for _, n := range []int{1, 1003, 100003} {
		cases = append(cases,
			tc{fmt.Sprintf("1e300 n=%d", n), scaled(n, 1e300)},   // Σx² overflows
			tc{fmt.Sprintf("1e-300 n=%d", n), scaled(n, 1e-300)}, // Σx² underflows to 0
			tc{fmt.Sprintf("1e-160 n=%d", n), scaled(n, 1e-160)}, // Σx² is subnormal
			tc{fmt.Sprintf("1e154 n=%d", n), scaled(n, 1e154)},   // Σx² overflows for n ≥ 1003
			tc{fmt.Sprintf("zeros n=%d", n), make([]float64, n)},
		)
		mixed := scaled(n, 1)
		for i := range mixed {
			switch i % 3 {
			case 0:
				mixed[i] *= 1e300
			case 1:
				mixed[i] *= 1e-300
			}
		}
		cases = append(cases, tc{fmt.Sprintf("mixed 1e±300 n=%d", n), mixed})
	}
	cases = append(cases,
		tc{"subnormals", []float64{math.SmallestNonzeroFloat64, -4 * math.SmallestNonzeroFloat64, 0x1p-1030}},
		tc{"max", []float64{math.MaxFloat64, 0}},
		tc{"negative single", []float64{-3}},
		tc{"3-4-5 at 1e300", []float64{3e300, -4e300}},
	)
	for _, c := range cases {
		xv := newVec(t, b, c.x)
		got := b.Nrm2(xv)
		what := "Nrm2 " + c.name
		if noErr(t, b, what) {
			ref := refNrm2(c.x)
			checkScalar(t, what, got, ref, ref)
		}
		b.Free(xv)
	}
}

// testElementwiseAliases checks that the elementwise operations and Dot give
// the right answer with every aliasing of their operands.
func (s *suite) testElementwiseAliases(t *testing.T) {
	b := s.backend(t)
	for _, n := range []int{1, 33, 100003} {
		r := Rand(uint64(n))
		x, y := RandVector(r, n), RandVector(r, n)
		xv, yv := newVec(t, b, x), newVec(t, b, y)
		reset := func() { b.Upload(xv, x); b.Upload(yv, y) }
		sq, sqMag := refMulElem(1, x, x, 0, nil)
		cases := []struct {
			name string
			do   func()
			out  backend.Vector
			want func() ([]float64, []float64)
		}{
			{"Copy(x, x)", func() { b.Copy(xv, xv) }, xv, func() ([]float64, []float64) { return x, make([]float64, n) }},
			{"Axpy(α, x, x)", func() { b.Axpy(-0.5, xv, xv) }, xv, func() ([]float64, []float64) { return refAxpby(-0.5, x, 1, x) }},
			{"Axpby(α, x, β, x)", func() { b.Axpby(2, xv, 3, xv) }, xv, func() ([]float64, []float64) { return refAxpby(2, x, 3, x) }},
			{"Axpby(α, x, 0, x)", func() { b.Axpby(2, xv, 0, xv) }, xv, func() ([]float64, []float64) { return refAxpby(2, x, 0, x) }},
			{"MulElem(x, α, x, x, β)", func() { b.MulElem(xv, 2, xv, xv, 0.5) }, xv, func() ([]float64, []float64) { return refMulElem(2, x, x, 0.5, x) }},
			{"MulElem(x, α, x, y, β)", func() { b.MulElem(xv, 2, xv, yv, 0.5) }, xv, func() ([]float64, []float64) { return refMulElem(2, x, y, 0.5, x) }},
			{"MulElem(x, α, y, x, 0)", func() { b.MulElem(xv, 2, yv, xv, 0) }, xv, func() ([]float64, []float64) { return refMulElem(2, y, x, 0, nil) }},
			{"MulElem(y, α, x, x, 0)", func() { b.MulElem(yv, 1, xv, xv, 0) }, yv, func() ([]float64, []float64) { return sq, sqMag }},
		}
		for _, c := range cases {
			reset()
			c.do()
			what := fmt.Sprintf("%s n=%d", c.name, n)
			if noErr(t, b, what) {
				ref, mag := c.want()
				checkVec(t, what, get(t, b, c.out), ref, mag)
			}
		}
		reset()
		got := b.Dot(xv, xv)
		if noErr(t, b, "Dot(x, x)") {
			ref, mag := refDot(x, x)
			checkScalar(t, fmt.Sprintf("Dot(x, x) n=%d", n), got, ref, mag)
		}
	}
}
