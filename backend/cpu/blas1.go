package cpu

import (
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// Copy sets dst ← src.
func (b *Backend) Copy(dst, src backend.Vector) {
	const op = "Copy"
	if !b.ok(op) {
		return
	}
	d, s := b.v(op, dst), b.v(op, src)
	if d == nil || s == nil || !b.check(op, check.SameLen(len(d.data), len(s.data))) {
		return
	}
	e := b.eng
	e.args.dst, e.args.x = d.data, s.data
	e.run(e.fCopy, e.splitLen(len(d.data)))
	e.reset()
}

func (e *engine) copyPart(k int) {
	lo, hi := e.span(k)
	copy(e.args.dst[lo:hi], e.args.x[lo:hi])
}

// CopyRange sets dst[dstOff+i] ← src[srcOff+i] for 0 ≤ i < n, with the
// operands checked by check.CopyRange (offsets and n ≥ 0, ranges inside
// their vectors, no overlap within one storage). It is one copy on the
// calling goroutine, which allocates nothing.
func (b *Backend) CopyRange(dst backend.Vector, dstOff int, src backend.Vector, srcOff, n int) {
	const op = "CopyRange"
	if !b.ok(op) {
		return
	}
	d, s := b.v(op, dst), b.v(op, src)
	if d == nil || s == nil || !b.check(op, check.CopyRange(d.operand(), dstOff, s.operand(), srcOff, n)) {
		return
	}
	copy(d.data[dstOff:dstOff+n], s.data[srcOff:srcOff+n])
}

// Fill sets dst_i ← a for every i.
func (b *Backend) Fill(dst backend.Vector, a float64) {
	const op = "Fill"
	if !b.ok(op) {
		return
	}
	d := b.v(op, dst)
	if d == nil {
		return
	}
	e := b.eng
	e.args.dst, e.args.a = d.data, a
	e.run(e.fFill, e.splitLen(len(d.data)))
	e.reset()
}

func (e *engine) fillPart(k int) {
	lo, hi := e.span(k)
	a, d := e.args.a, e.args.dst[lo:hi]
	for i := range d {
		d[i] = a
	}
}

// Scal sets x ← α·x (so 0·NaN = NaN, as in BLAS dscal).
func (b *Backend) Scal(alpha float64, x backend.Vector) {
	const op = "Scal"
	if !b.ok(op) {
		return
	}
	xv := b.v(op, x)
	if xv == nil {
		return
	}
	e := b.eng
	e.args.x, e.args.alpha = xv.data, alpha
	e.run(e.fScal, e.splitLen(len(xv.data)))
	e.reset()
}

func (e *engine) scalPart(k int) {
	lo, hi := e.span(k)
	floats.Scale(e.args.alpha, e.args.x[lo:hi])
}

// Axpy sets y ← α·x + y.
func (b *Backend) Axpy(alpha float64, x, y backend.Vector) {
	const op = "Axpy"
	if !b.ok(op) {
		return
	}
	xv, yv := b.v(op, x), b.v(op, y)
	if xv == nil || yv == nil || !b.check(op, check.SameLen(len(xv.data), len(yv.data))) {
		return
	}
	e := b.eng
	e.args.x, e.args.y, e.args.alpha = xv.data, yv.data, alpha
	e.run(e.fAxpy, e.splitLen(len(xv.data)))
	e.reset()
}

func (e *engine) axpyPart(k int) {
	lo, hi := e.span(k)
	floats.AddScaled(e.args.y[lo:hi], e.args.alpha, e.args.x[lo:hi])
}

// Axpby sets y ← α·x + β·y; with β = 0, y ← α·x (NaNs in y are not propagated).
func (b *Backend) Axpby(alpha float64, x backend.Vector, beta float64, y backend.Vector) {
	const op = "Axpby"
	if !b.ok(op) {
		return
	}
	xv, yv := b.v(op, x), b.v(op, y)
	if xv == nil || yv == nil || !b.check(op, check.SameLen(len(xv.data), len(yv.data))) {
		return
	}
	e := b.eng
	e.args.x, e.args.y, e.args.alpha, e.args.beta = xv.data, yv.data, alpha, beta
	e.run(e.fAxpby, e.splitLen(len(xv.data)))
	e.reset()
}

func (e *engine) axpbyPart(k int) {
	lo, hi := e.span(k)
	alpha, beta := e.args.alpha, e.args.beta
	xs, ys := e.args.x[lo:hi], e.args.y[lo:hi]
	ys = ys[:len(xs)]
	if beta == 0 {
		for i, xi := range xs {
			ys[i] = alpha * xi
		}
		return
	}
	for i, xi := range xs {
		ys[i] = alpha*xi + beta*ys[i]
	}
}

// MulElem sets dst ← α·(x ⊙ y) + β·dst; with β = 0, dst ← α·(x ⊙ y).
func (b *Backend) MulElem(dst backend.Vector, alpha float64, x, y backend.Vector, beta float64) {
	b.binaryElem("MulElem", b.eng.fMulElem, dst, alpha, x, y, beta)
}

func (e *engine) mulElemPart(k int) {
	lo, hi := e.span(k)
	alpha, beta := e.args.alpha, e.args.beta
	ds := e.args.dst[lo:hi]
	xs, ys := e.args.x[lo:hi], e.args.y[lo:hi]
	xs, ys = xs[:len(ds)], ys[:len(ds)]
	if beta == 0 {
		for i := range ds {
			ds[i] = alpha * (xs[i] * ys[i])
		}
		return
	}
	for i := range ds {
		ds[i] = alpha*(xs[i]*ys[i]) + beta*ds[i]
	}
}

// Dot returns xᵀy = Σ_i x_i·y_i: the partial sums of the parts added in
// part order.
func (b *Backend) Dot(x, y backend.Vector) float64 {
	const op = "Dot"
	if !b.ok(op) {
		return nan
	}
	xv, yv := b.v(op, x), b.v(op, y)
	if xv == nil || yv == nil || !b.check(op, check.SameLen(len(xv.data), len(yv.data))) {
		return nan
	}
	e := b.eng
	e.args.x, e.args.y = xv.data, yv.data
	np := e.splitLen(len(xv.data))
	e.run(e.fDot, np)
	e.reset()
	return e.sumPartials(np)
}

func (e *engine) dotPart(k int) {
	lo, hi := e.span(k)
	e.partial[k] = floats.Dot(e.args.x[lo:hi], e.args.y[lo:hi])
}

// ssqMin is the least sum of squares that Nrm2 takes from the plain sum:
// squares that underflow lose at most n·2⁻¹⁰⁷⁴ in absolute terms, a
// negligible part of anything above 2⁻⁹⁰⁰.
const ssqMin = 0x1p-900

// Nrm2 returns ‖x‖₂ = sqrt(Σ_i x_i²) without overflow or underflow. It first
// sums the squares plainly (the partial sums of the parts added in part
// order); only when that sum overflows, falls below 2⁻⁹⁰⁰ or is NaN does it
// make a second pass in which each part computes a scaled norm r_k
// (floats.Norm) and the norms are combined as s·sqrt(Σ_k (r_k/s)²),
// s = max_k r_k. A NaN in x gives NaN, otherwise an Inf gives +Inf.
func (b *Backend) Nrm2(x backend.Vector) float64 {
	const op = "Nrm2"
	if !b.ok(op) {
		return nan
	}
	xv := b.v(op, x)
	if xv == nil {
		return nan
	}
	e := b.eng
	e.args.x = xv.data
	np := e.splitLen(len(xv.data))
	e.run(e.fSsq, np)
	if ssq := e.sumPartials(np); ssq >= ssqMin && ssq <= math.MaxFloat64 {
		e.reset()
		return math.Sqrt(ssq)
	}
	e.run(e.fNrm2, np)
	e.reset()
	return combineNorms(e.partial[:np])
}

func (e *engine) ssqPart(k int) {
	lo, hi := e.span(k)
	x := e.args.x[lo:hi]
	e.partial[k] = floats.Dot(x, x)
}

func (e *engine) nrm2Part(k int) {
	lo, hi := e.span(k)
	e.partial[k] = floats.Norm(e.args.x[lo:hi], 2)
}

// combineNorms returns sqrt(Σ_k r_k²) for the norms r_k ≥ 0 of the parts,
// scaled by the largest so that nothing overflows.
func combineNorms(r []float64) float64 {
	if len(r) == 1 {
		return r[0]
	}
	var s float64
	for _, v := range r {
		if math.IsNaN(v) {
			return nan
		}
		s = max(s, v)
	}
	if s == 0 || math.IsInf(s, 1) {
		return s
	}
	var sum float64
	for _, v := range r {
		t := v / s
		sum += t * t
	}
	return s * math.Sqrt(sum)
}
