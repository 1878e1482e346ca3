package cpu

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// DivElem sets dst ← α·(x ⊘ y) + β·dst, dst_i = α·(x_i/y_i) + β·dst_i; with
// β = 0, dst_i = α·(x_i/y_i). Elements are independent: any aliasing is
// allowed, and the parts need no reduction.
func (b *Backend) DivElem(dst backend.Vector, alpha float64, x, y backend.Vector, beta float64) {
	b.binaryElem("DivElem", b.eng.fDivElem, dst, alpha, x, y, beta)
}

// binaryElem runs the elementwise operation op, dst ← α·(x ∘ y) + β·dst
// with ∘ what part computes (MulElem, DivElem), over equal parts.
func (b *Backend) binaryElem(op string, part func(int), dst backend.Vector, alpha float64, x, y backend.Vector, beta float64) {
	if !b.ok(op) {
		return
	}
	d, xv, yv := b.v(op, dst), b.v(op, x), b.v(op, y)
	if d == nil || xv == nil || yv == nil || !b.check(op, check.SameLen(len(d.data), len(xv.data), len(yv.data))) {
		return
	}
	e := b.eng
	e.args.dst, e.args.x, e.args.y = d.data, xv.data, yv.data
	e.args.alpha, e.args.beta = alpha, beta
	e.run(part, e.splitLen(len(d.data)))
	e.reset()
}

func (e *engine) divElemPart(k int) {
	lo, hi := e.span(k)
	alpha, beta := e.args.alpha, e.args.beta
	ds := e.args.dst[lo:hi]
	xs, ys := e.args.x[lo:hi], e.args.y[lo:hi]
	xs, ys = xs[:len(ds)], ys[:len(ds)]
	if beta == 0 {
		for i := range ds {
			ds[i] = alpha * (xs[i] / ys[i])
		}
		return
	}
	for i := range ds {
		ds[i] = alpha*(xs[i]/ys[i]) + beta*ds[i]
	}
}

// Map sets dst_i ← f(x_i; c) for every i, bit for bit f.Eval(x_i, c): the
// loop of each function repeats the operations of its formula in Eval, in
// the same order (TestMapMatchesEval). Elements are independent: any
// aliasing is allowed, and the parts need no reduction.
func (b *Backend) Map(dst backend.Vector, f backend.Func, c float64, x backend.Vector) {
	const op = "Map"
	if !b.ok(op) {
		return
	}
	d, xv := b.v(op, dst), b.v(op, x)
	if d == nil || xv == nil || !b.check(op, check.Map(f, c, len(d.data), len(xv.data))) {
		return
	}
	e := b.eng
	e.args.dst, e.args.x, e.args.fn, e.args.c = d.data, xv.data, f, c
	e.run(e.fMap, e.splitLenMin(len(d.data), callElems))
	e.reset()
}

func (e *engine) mapPart(k int) {
	lo, hi := e.span(k)
	mapSlice(e.args.fn, e.args.c, e.args.dst[lo:hi], e.args.x[lo:hi])
}

// The bounds of backend.Exp's and backend.Log's formulas: Exp is evaluated
// as exp(x/2)² beyond expBig, and Log scales a subnormal x (below
// minNormal) by 2⁶⁴, where Go's amd64 exp and log are wrong.
const (
	expBig    = 709
	minNormal = 0x1p-1022
)

// sqrtSqBig is 2⁵⁰⁰, beyond which SqrtSq and its derivatives avoid forming
// x² (backend.SqrtSq).
const sqrtSqBig = 0x1p500

// mapSlice sets dst_i ← f.Eval(x_i, c) (len x = len dst; x may be dst),
// with one loop per function that spells out Eval's formula.
func mapSlice(f backend.Func, c float64, dst, x []float64) {
	x = x[:len(dst)]
	switch f {
	case backend.Exp:
		for i, v := range x {
			if v > expBig {
				h := math.Exp(0.5 * v)
				dst[i] = h * h
				continue
			}
			dst[i] = math.Exp(v)
		}
	case backend.Log:
		for i, v := range x {
			if v > 0 && v < minNormal {
				dst[i] = math.Log(v*0x1p64) - 64*math.Ln2
				continue
			}
			dst[i] = math.Log(v)
		}
	case backend.Softplus:
		for i, v := range x {
			dst[i] = math.Max(v, 0) + math.Log1p(math.Exp(-math.Abs(v)))
		}
	case backend.Sigmoid:
		for i, v := range x {
			ex := math.Exp(-math.Abs(v))
			if v >= 0 {
				dst[i] = 1 / (1 + ex)
			} else {
				dst[i] = ex / (1 + ex)
			}
		}
	case backend.SigmoidDeriv:
		for i, v := range x {
			ex := math.Exp(-math.Abs(v))
			dst[i] = ex / ((1 + ex) * (1 + ex))
		}
	case backend.Tanh:
		for i, v := range x {
			dst[i] = math.Tanh(v)
		}
	case backend.TanhDeriv:
		for i, v := range x {
			ex := math.Exp(-2 * math.Abs(v))
			dst[i] = 4 * ex / ((1 + ex) * (1 + ex))
		}
	case backend.SqrtSq:
		for i, v := range x {
			dst[i] = sqrtSq(v, c)
		}
	case backend.SqrtSqDeriv:
		for i, v := range x {
			if math.Abs(v) <= sqrtSqBig {
				dst[i] = v / math.Sqrt(v*v+c)
			} else {
				dst[i] = math.Copysign(1/math.Sqrt(1+c/(v*v)), v)
			}
		}
	case backend.SqrtSqDeriv2:
		for i, v := range x {
			s := sqrtSq(v, c)
			dst[i] = c / (s * s * s)
		}
	case backend.Recip:
		for i, v := range x {
			dst[i] = 1 / v
		}
	default: // not reached: check.Map admits only the set
		for i, v := range x {
			dst[i] = f.Eval(v, c)
		}
	}
}

// sqrtSq is backend.SqrtSq's formula: sqrt(x·x + c) for |x| ≤ 2⁵⁰⁰, else
// |x|·sqrt(1 + c/x²).
func sqrtSq(x, c float64) float64 {
	if math.Abs(x) <= sqrtSqBig {
		return math.Sqrt(x*x + c)
	}
	return math.Abs(x) * math.Sqrt(1+c/(x*x))
}
