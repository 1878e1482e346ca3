package backend

import (
	"fmt"
	"math"
)

// Func is an elementwise function of Backend.Map, from a closed set: each
// is defined by the formula of Eval, which every backend evaluates with the
// same operations in IEEE float64 (so that results agree to the last bits
// where the math libraries do). Some take a parameter c (SqrtSq and its
// derivatives); Deriv names each one's derivative where it is in the set.
type Func int

const (
	// Exp is e^x, evaluated as exp(x) for x ≤ 709 and as exp(x/2)² beyond
	// (where Go's amd64 exp overflows early, from x ≈ 709.44 instead of
	// 709.78).
	Exp Func = iota
	// Log is the natural logarithm log x (−Inf at 0, NaN below), evaluated
	// as log(x) for x ≥ 2⁻¹⁰²² and as log(x·2⁶⁴) − 64·ln 2 for subnormal x
	// (where Go's amd64 log is wrong, golang/go#56600).
	Log
	// Softplus is log(1 + e^x), evaluated as max(x, 0) + log1p(e^{−|x|}) so
	// that it neither overflows nor loses accuracy for large |x|.
	Softplus
	// Sigmoid is σ(x) = 1/(1 + e^{−x}) = Softplus′, evaluated with
	// e = e^{−|x|} as 1/(1+e) for x ≥ 0 and e/(1+e) otherwise.
	Sigmoid
	// SigmoidDeriv is σ′(x) = σ(x)·σ(−x) = Softplus″, evaluated as
	// e/(1+e)² with e = e^{−|x|}.
	SigmoidDeriv
	// Tanh is tanh x.
	Tanh
	// TanhDeriv is tanh′(x) = 1 − tanh² x = sech² x, evaluated as
	// 4e/(1+e)² with e = e^{−2|x|} (accurate where 1 − tanh² x cancels).
	TanhDeriv
	// SqrtSq is sqrt(x² + c), c ≥ 0: a smoothed |x| (pseudo-Huber,
	// smoothed total variation). It is evaluated as sqrt(x·x + c) for
	// |x| ≤ 2⁵⁰⁰ and as |x|·sqrt(1 + c/x²) beyond, where x·x would overflow.
	SqrtSq
	// SqrtSqDeriv is x/sqrt(x² + c) = SqrtSq′, evaluated as x/s with s =
	// SqrtSq(x; c) for |x| ≤ 2⁵⁰⁰, else ±1/sqrt(1 + c/x²) (±1 at ±Inf).
	// It is NaN at x = 0 when c = 0, where |x| has no derivative.
	SqrtSqDeriv
	// SqrtSqDeriv2 is c/(x² + c)^{3/2} = SqrtSq″, evaluated as c/(s·s·s)
	// with s = SqrtSq(x; c), left to right.
	SqrtSqDeriv2
	// Recip is 1/x (= Log′).
	Recip

	numFuncs
)

var funcNames = [numFuncs]string{"exp", "log", "softplus", "sigmoid", "sigmoid'", "tanh", "tanh'", "sqrtsq", "sqrtsq'", "sqrtsq''", "recip"}

func (f Func) String() string {
	if f >= 0 && f < numFuncs {
		return funcNames[f]
	}
	return fmt.Sprintf("Func(%d)", int(f))
}

// Valid reports whether f is in the set.
func (f Func) Valid() bool { return f >= 0 && f < numFuncs }

// HasParam reports whether f takes the parameter c (SqrtSq and its
// derivatives); the others take c = 0.
func (f Func) HasParam() bool { return f == SqrtSq || f == SqrtSqDeriv || f == SqrtSqDeriv2 }

// Deriv returns the derivative of f with respect to x, with the same
// parameter c, and whether it is in the set (Recip's, −1/x², is not).
func (f Func) Deriv() (Func, bool) {
	switch f {
	case Exp:
		return Exp, true
	case Log:
		return Recip, true
	case Softplus:
		return Sigmoid, true
	case Sigmoid:
		return SigmoidDeriv, true
	case Tanh:
		return TanhDeriv, true
	case SqrtSq:
		return SqrtSqDeriv, true
	case SqrtSqDeriv:
		return SqrtSqDeriv2, true
	}
	return 0, false
}

// expBig is the x beyond which Exp is evaluated as exp(x/2)², and
// minNormal the least normal float64, below which Log scales x by 2⁶⁴.
const (
	expBig    = 709
	minNormal = 0x1p-1022
)

// sqrtSqBig is 2⁵⁰⁰, beyond which SqrtSq and SqrtSqDeriv avoid forming x².
const sqrtSqBig = 0x1p500

// Eval returns f(x; c) by the formula of f's documentation: the definition
// that every backend's Map follows. It does not check c.
func (f Func) Eval(x, c float64) float64 {
	switch f {
	case Exp:
		if x > expBig {
			e := math.Exp(0.5 * x)
			return e * e
		}
		return math.Exp(x)
	case Log:
		if x > 0 && x < minNormal {
			return math.Log(x*0x1p64) - 64*math.Ln2
		}
		return math.Log(x)
	case Softplus:
		return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
	case Sigmoid:
		e := math.Exp(-math.Abs(x))
		if x >= 0 {
			return 1 / (1 + e)
		}
		return e / (1 + e)
	case SigmoidDeriv:
		e := math.Exp(-math.Abs(x))
		return e / ((1 + e) * (1 + e))
	case Tanh:
		return math.Tanh(x)
	case TanhDeriv:
		e := math.Exp(-2 * math.Abs(x))
		return 4 * e / ((1 + e) * (1 + e))
	case SqrtSq:
		if math.Abs(x) <= sqrtSqBig {
			return math.Sqrt(x*x + c)
		}
		return math.Abs(x) * math.Sqrt(1+c/(x*x))
	case SqrtSqDeriv:
		if math.Abs(x) <= sqrtSqBig {
			return x / math.Sqrt(x*x+c)
		}
		return math.Copysign(1/math.Sqrt(1+c/(x*x)), x)
	case SqrtSqDeriv2:
		s := SqrtSq.Eval(x, c)
		return c / (s * s * s)
	case Recip:
		return 1 / x
	}
	return math.NaN()
}
