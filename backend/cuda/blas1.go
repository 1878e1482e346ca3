//go:build cuda || cudaemu

package cuda

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// Copy sets dst ← src (hg_copy; Copy(x, x) does nothing).
func (b *Backend) Copy(dst, src backend.Vector) {
	const op = "Copy"
	if !b.ok(op) {
		return
	}
	d, s := b.v(op, dst), b.v(op, src)
	if d == nil || s == nil || !b.check(op, check.SameLen(d.n, s.n)) || d.store == s.store || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kCopy, elemGrid(d.n), i64(d.n), d.p, s.p)
}

// CopyRange sets dst[dstOff+i] ← src[srcOff+i] for 0 ≤ i < n, with the
// operands checked by check.CopyRange (offsets and n ≥ 0, ranges inside
// their vectors, no overlap within one storage). It is hg_copy of n
// elements on the device addresses of the two ranges, dst.p + 8·dstOff and
// src.p + 8·srcOff, which lie inside their allocations; the ranges are
// disjoint, so the order of the threads' writes does not matter. n = 0
// launches nothing.
func (b *Backend) CopyRange(dst backend.Vector, dstOff int, src backend.Vector, srcOff, n int) {
	const op = "CopyRange"
	if !b.ok(op) {
		return
	}
	d, s := b.v(op, dst), b.v(op, src)
	if d == nil || s == nil || !b.check(op, check.CopyRange(d.operand(), dstOff, s.operand(), srcOff, n)) ||
		n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kCopy, elemGrid(n), i64(n), d.p+8*devptr(dstOff), s.p+8*devptr(srcOff))
}

// Fill sets dst_i ← a for every i.
func (b *Backend) Fill(dst backend.Vector, a float64) {
	const op = "Fill"
	if !b.ok(op) {
		return
	}
	d := b.v(op, dst)
	if d == nil || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kFill, elemGrid(d.n), i64(d.n), d.p, f64(a))
}

// Scal sets x ← α·x (so 0·NaN = NaN).
func (b *Backend) Scal(alpha float64, x backend.Vector) {
	const op = "Scal"
	if !b.ok(op) {
		return
	}
	xv := b.v(op, x)
	if xv == nil || xv.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kScal, elemGrid(xv.n), i64(xv.n), f64(alpha), xv.p)
}

// Axpy sets y ← α·x + y.
func (b *Backend) Axpy(alpha float64, x, y backend.Vector) {
	const op = "Axpy"
	if !b.ok(op) {
		return
	}
	xv, yv := b.v(op, x), b.v(op, y)
	if xv == nil || yv == nil || !b.check(op, check.SameLen(xv.n, yv.n)) || xv.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kAxpy, elemGrid(xv.n), i64(xv.n), f64(alpha), xv.p, yv.p)
}

// Axpby sets y ← α·x + β·y; with β = 0, y ← α·x (NaNs in y are not propagated).
func (b *Backend) Axpby(alpha float64, x backend.Vector, beta float64, y backend.Vector) {
	const op = "Axpby"
	if !b.ok(op) {
		return
	}
	xv, yv := b.v(op, x), b.v(op, y)
	if xv == nil || yv == nil || !b.check(op, check.SameLen(xv.n, yv.n)) || xv.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kAxpby, elemGrid(xv.n), i64(xv.n), f64(alpha), xv.p, f64(beta), yv.p)
}

// MulElem sets dst ← α·(x ⊙ y) + β·dst; with β = 0, dst ← α·(x ⊙ y).
func (b *Backend) MulElem(dst backend.Vector, alpha float64, x, y backend.Vector, beta float64) {
	const op = "MulElem"
	if !b.ok(op) {
		return
	}
	d, xv, yv := b.v(op, dst), b.v(op, x), b.v(op, y)
	if d == nil || xv == nil || yv == nil || !b.check(op, check.SameLen(d.n, xv.n, yv.n)) || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kMulElem, elemGrid(d.n), i64(d.n), d.p, f64(alpha), xv.p, yv.p, f64(beta))
}

// Dot returns xᵀy, reduced by the fixed tree of kernels/blas1.cu with a grid
// that depends only on the length.
func (b *Backend) Dot(x, y backend.Vector) float64 {
	const op = "Dot"
	if !b.ok(op) {
		return nan
	}
	xv, yv := b.v(op, x), b.v(op, y)
	if xv == nil || yv == nil || !b.check(op, check.SameLen(xv.n, yv.n)) {
		return nan
	}
	if xv.n == 0 {
		return 0
	}
	if !b.enter(op) {
		return nan
	}
	defer b.drv.exit()
	g := reduceGrid(xv.n)
	if !b.launch(op, kDotPartial, g, i64(xv.n), xv.p, yv.p, b.small) ||
		!b.launch(op, kSumFinal, 1, i64(g), b.small, 0, b.resultPtr()) ||
		!b.result(op, 1) {
		return nan
	}
	return b.host[0]
}

// ssqMin is the least sum of squares that Nrm2 takes from the plain sum (as
// the CPU backend): squares that underflow lose at most n·2⁻¹⁰⁷⁴ in absolute
// terms, a negligible part of anything above 2⁻⁹⁰⁰.
const ssqMin = 0x1p-900

// Nrm2 returns ‖x‖₂ without overflow or underflow. One pass computes Σ x_i²
// and max |x_i| (each reduced by a fixed tree). When the sum is NaN the norm
// is NaN; when it lies in [2⁻⁹⁰⁰, MaxFloat64] the norm is its square root;
// otherwise, unless max |x_i| is 0 or +Inf (then the norm), a second pass
// sums (x_i·2^k)² with 2^k the power of two that brings max |x_i| into
// [½, 1) — an exact scaling — and the norm is 2^−k·sqrt of that sum.
func (b *Backend) Nrm2(x backend.Vector) float64 {
	const op = "Nrm2"
	if !b.ok(op) {
		return nan
	}
	xv := b.v(op, x)
	if xv == nil {
		return nan
	}
	if xv.n == 0 {
		return 0
	}
	if !b.enter(op) {
		return nan
	}
	defer b.drv.exit()
	g := reduceGrid(xv.n)
	if !b.launch(op, kSsqPartial, g, i64(xv.n), xv.p, b.small) ||
		!b.launch(op, kSumFinal, 1, i64(g), b.small, 1, b.resultPtr()) ||
		!b.result(op, 2) {
		return nan
	}
	ssq, m := b.host[0], b.host[1]
	switch {
	case math.IsNaN(ssq):
		return nan
	case ssq >= ssqMin && ssq <= math.MaxFloat64:
		return math.Sqrt(ssq)
	case m == 0 || math.IsInf(m, 1):
		return m
	}
	_, e := math.Frexp(m)
	if !b.launch(op, kScaledSsqPartial, g, i64(xv.n), xv.p, i64(-e), b.small) ||
		!b.launch(op, kSumFinal, 1, i64(g), b.small, 0, b.resultPtr()) ||
		!b.result(op, 1) {
		return nan
	}
	return math.Ldexp(math.Sqrt(b.host[0]), e)
}

var _ backend.CGStepper = (*Backend)(nil)

// CGStep queues one iteration of the conjugate gradient method with its
// scalars kept in the device vector st (backend.CGStepper has the contract
// and the layout of st) as five kernels: Dot's partial sums of pᵀAp,
// hg_cg_pap (their sum into st[4+2j], the test pᵀAp > 0 and α), hg_cg_update
// (q and r, and the partial sums of rᵀr in Dot's order), hg_cg_rr (their sum
// into st[5+2j], the residual tests and β) and hg_cg_axpby (p). Nothing waits for the
// device: a run of steps costs launches only, where the host-driven loop
// synchronizes twice a step. The reductions and the arithmetic are those of
// Dot, Axpy and Axpby, so the results are bit-identical to that loop's.
func (b *Backend) CGStep(st backend.Vector, j int, q, r, p, ap backend.Vector, tol, floor float64) {
	const op = "CGStep"
	if !b.ok(op) {
		return
	}
	sv, qv, rv, pv, av := b.v(op, st), b.v(op, q), b.v(op, r), b.v(op, p), b.v(op, ap)
	if sv == nil || qv == nil || rv == nil || pv == nil || av == nil ||
		!b.check(op, check.CGStep(j, sv.operand(), qv.operand(), rv.operand(), pv.operand(), av.operand())) ||
		qv.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	n, g, eg := qv.n, reduceGrid(qv.n), elemGrid(qv.n)
	// After a failed launch the error is recorded and the later launches do nothing.
	b.launch(op, kDotPartial, g, i64(n), pv.p, av.p, b.small)
	b.launch(op, kCGPap, 1, i64(g), b.small, sv.p, i64(j))
	b.launch(op, kCGUpdate, g, i64(n), sv.p, pv.p, av.p, qv.p, rv.p, b.small)
	b.launch(op, kCGRR, 1, i64(g), b.small, sv.p, i64(j), f64(tol), f64(floor))
	b.launch(op, kCGAxpby, eg, i64(n), sv.p, rv.p, pv.p)
}
