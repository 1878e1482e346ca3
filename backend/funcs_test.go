package backend

import (
	"math"
	"testing"
)

// TestFuncEvalValues checks each Func against values computed independently
// (closed forms at exact points, and the textbook formulas where they do not
// cancel or overflow), and its special values.
func TestFuncEvalValues(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range []struct {
		f    Func
		x, c float64
		want float64
	}{
		{Exp, 0, 0, 1}, {Exp, 1, 0, math.E}, {Exp, -inf, 0, 0}, {Exp, inf, 0, inf}, {Exp, 710, 0, inf},
		{Log, 1, 0, 0}, {Log, math.E, 0, 1}, {Log, 0, 0, -inf}, {Log, -1, 0, nan}, {Log, inf, 0, inf},
		{Softplus, 0, 0, math.Ln2}, {Softplus, -inf, 0, 0}, {Softplus, inf, 0, inf},
		{Softplus, 800, 0, 800}, {Softplus, -800, 0, 0}, {Softplus, -40, 0, math.Exp(-40)},
		{Sigmoid, 0, 0, 0.5}, {Sigmoid, inf, 0, 1}, {Sigmoid, -inf, 0, 0}, {Sigmoid, -800, 0, 0},
		{Sigmoid, -40, 0, math.Exp(-40) / (1 + math.Exp(-40))},
		{SigmoidDeriv, 0, 0, 0.25}, {SigmoidDeriv, inf, 0, 0}, {SigmoidDeriv, -inf, 0, 0},
		{SigmoidDeriv, 3, 0, 1 / (1 + math.Exp(-3)) * (1 / (1 + math.Exp(3)))},
		{Tanh, 0, 0, 0}, {Tanh, inf, 0, 1}, {Tanh, -inf, 0, -1},
		{TanhDeriv, 0, 0, 1}, {TanhDeriv, inf, 0, 0}, {TanhDeriv, 0.5, 0, 1 / (math.Cosh(0.5) * math.Cosh(0.5))},
		{TanhDeriv, 20, 0, 1 / (math.Cosh(20) * math.Cosh(20))},
		{SqrtSq, 3, 16, 5}, {SqrtSq, -3, 16, 5}, {SqrtSq, 0, 0, 0}, {SqrtSq, -2, 0, 2},
		{SqrtSq, inf, 1, inf}, {SqrtSq, -inf, 1, inf}, {SqrtSq, 1e300, 1, 1e300}, {SqrtSq, 0x1p500, 0, 0x1p500},
		{SqrtSqDeriv, 3, 16, 0.6}, {SqrtSqDeriv, -3, 16, -0.6}, {SqrtSqDeriv, 0, 1, 0}, {SqrtSqDeriv, 0, 0, nan},
		{SqrtSqDeriv, inf, 1, 1}, {SqrtSqDeriv, -inf, 1, -1}, {SqrtSqDeriv, -1e300, 1, -1}, {SqrtSqDeriv, 2, 0, 1},
		{SqrtSqDeriv2, 3, 16, 16.0 / 125}, {SqrtSqDeriv2, 0, 4, 0.5}, {SqrtSqDeriv2, inf, 1, 0}, {SqrtSqDeriv2, 1, 0, 0},
		{Recip, 4, 0, 0.25}, {Recip, 0, 0, inf}, {Recip, math.Copysign(0, -1), 0, -inf}, {Recip, inf, 0, 0},
	} {
		got := c.f.Eval(c.x, c.c)
		ok := got == c.want || (math.IsNaN(got) && math.IsNaN(c.want))
		if !ok && !math.IsInf(c.want, 0) && c.want != 0 {
			ok = math.Abs(got-c.want) <= 4e-16*math.Abs(c.want)
		}
		if !ok {
			t.Errorf("%v(%v; c=%v) = %v, want %v", c.f, c.x, c.c, got, c.want)
		}
	}
	for f := range numFuncs {
		if got := f.Eval(nan, 1); !math.IsNaN(got) {
			t.Errorf("%v(NaN) = %v, want NaN", f, got)
		}
	}
	if got := Func(-1).Eval(1, 0); !math.IsNaN(got) {
		t.Errorf("Func(-1).Eval = %v, want NaN", got)
	}
}

// TestFuncDeriv checks that Deriv names the derivative: central differences
// of f (step 1e-5·|x|) agree with Deriv(f) to 1e-6 relative, beyond what the
// rounding of f(x±h) can resolve, on a grid that crosses the branches of the
// formulas (the sign of x, ±1e-3, ±30) for c = 0, 0.01 and 2.
func TestFuncDeriv(t *testing.T) {
	xs := []float64{-30, -7.5, -2, -1, -0.3, -1e-3, 1e-3, 0.3, 1, 2, 7.5, 30}
	withDeriv := 0
	for f := range numFuncs {
		df, ok := f.Deriv()
		if !ok {
			if f != Recip && f != SqrtSqDeriv2 && f != SigmoidDeriv && f != TanhDeriv {
				t.Errorf("%v has no derivative in the set", f)
			}
			continue
		}
		withDeriv++
		for _, c := range []float64{0, 0.01, 2} {
			if c != 0 && !f.HasParam() {
				continue
			}
			for _, x := range xs {
				if f == Log && x <= 0 {
					continue
				}
				h := 1e-5 * math.Abs(x)
				fp, fm := f.Eval(x+h, c), f.Eval(x-h, c)
				fd := (fp - fm) / (2 * h)
				want := df.Eval(x, c)
				// The rounding of f(x±h) bounds what the difference can resolve.
				tol := 1e-6*math.Abs(want) + 1e-14*(math.Abs(fp)+math.Abs(fm))/h
				if d := math.Abs(fd - want); !(d <= tol) {
					t.Errorf("%v'(%v; c=%v): central difference %v, %v gives %v", f, x, c, fd, df, want)
				}
			}
		}
	}
	if withDeriv != 7 {
		t.Errorf("%d functions have a derivative in the set, want 7", withDeriv)
	}
}

// TestFuncNames checks String, Valid and HasParam on and off the set.
func TestFuncNames(t *testing.T) {
	if Tanh.String() != "tanh" || SqrtSqDeriv2.String() != "sqrtsq''" || Func(99).String() != "Func(99)" {
		t.Errorf("names: %v %v %v", Tanh, SqrtSqDeriv2, Func(99))
	}
	if !Recip.Valid() || Func(-1).Valid() || numFuncs.Valid() {
		t.Error("Valid")
	}
	for f := range numFuncs {
		if f.HasParam() != (f == SqrtSq || f == SqrtSqDeriv || f == SqrtSqDeriv2) {
			t.Errorf("%v.HasParam() = %v", f, f.HasParam())
		}
	}
}

// TestFuncEvalEdges checks Exp and Log where the platform's exp and log
// are not to be trusted (Go's amd64 exp overflows from x ≈ 709.44, its log
// is wrong for subnormals), against e^x = e·e^{x−1} computed in two finite
// steps and log x = log(x·2⁶⁴) − 64·ln 2 in exact arithmetic terms.
func TestFuncEvalEdges(t *testing.T) {
	for _, x := range []float64{709, 709.3, 709.44, 709.5, 709.78} {
		want := math.E * math.Exp(x-1)
		if got := Exp.Eval(x, 0); !(math.Abs(got-want) <= 4e-15*want) {
			t.Errorf("exp(%v) = %v, want %v", x, got, want)
		}
	}
	if got := Exp.Eval(709.8, 0); !math.IsInf(got, 1) {
		t.Errorf("exp(709.8) = %v, want +Inf", got)
	}
	for _, c := range []struct{ x, want float64 }{
		{5e-324, -744.4400719213812}, // log(2⁻¹⁰⁷⁴) = −1074·ln 2
		{0x1p-1030, -1030 * math.Ln2},
		{0x1p-1022, -1022 * math.Ln2},
		{1e-310, -713.8013788281542},
	} {
		if got := Log.Eval(c.x, 0); !(math.Abs(got-c.want) <= 4e-16*math.Abs(c.want)) {
			t.Errorf("log(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}
