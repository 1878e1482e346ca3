package cpu

import (
	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// Gemm sets dst ← α·op(A)·op(B) + β·dst, op(A) m×k, op(B) k×n, dst m×n, with
// the kernels of MulBlock and MulBlockTrans, A taking the place of the data
// matrix X (its storage is a dense row-major matrix):
//
//	A·B   = MulBlock with X = A, W = B
//	A·Bᵀ  = MulBlock with X = A and Wᵀ = B (no transpose to make)
//	Aᵀ·B  = MulBlockTrans with X = A, G = B
//	Aᵀ·Bᵀ = MulBlockTrans with X = A, G = Bᵀ transposed into scratch
//
// so dst_ij ← α·z_ij + β·dst_ij (β = 0: α·z_ij) with z_ij = Σ_l op(A)_il·op(B)_lj
// summed as those operations document: op(A)·op(B) in one pass over the
// rows of A, the result independent of Workers for A·B and A·Bᵀ, and of the
// schedule for all four. With k = 0, dst ← β·dst (0 when β = 0), α unused.
//
// Not gonum's Dgemm, which skips the terms with α·a_il = 0 (hiding
// 0·Inf = NaN), starts goroutines (allocating) on large products, and was
// several times slower than these kernels on the problems' shapes measured
// side by side with OpenBLAS (backend/cpu/openblascmp; figures in
// results).
func (b *Backend) Gemm(dst backend.Block, alpha float64, a backend.Block, ta backend.Transpose, bm backend.Block, tb backend.Transpose, beta float64) {
	const op = "Gemm"
	if !b.ok(op) {
		return
	}
	d, av, bv := b.v(op, dst), b.v(op, a), b.v(op, bm)
	if d == nil || av == nil || bv == nil || !b.check(op, check.Gemm(d.operand(), av.operand(), ta, bv.operand(), tb)) {
		return
	}
	m, n := d.rows, d.cols
	k := av.cols
	if ta {
		k = av.rows
	}
	if m == 0 || n == 0 {
		return
	}
	e := b.eng
	if k == 0 {
		if beta == 0 {
			e.args.dst, e.args.a = d.data, 0
			e.run(e.fFill, e.splitLen(len(d.data)))
		} else {
			e.args.x, e.args.alpha = d.data, beta
			e.run(e.fScal, e.splitLen(len(d.data)))
		}
		e.reset()
		return
	}
	x := matRef{rows: av.rows, cols: av.cols, val: av.data}
	switch {
	case ta == backend.NoTrans && tb == backend.NoTrans:
		e.mulBlock(x, d.data, alpha, bv.data, n, nil, beta)
	case ta == backend.NoTrans:
		e.mulBlock(x, d.data, alpha, nil, n, bv.data, beta)
	case tb == backend.NoTrans:
		e.mulBlockTrans(x, d.data, alpha, bv.data, n, beta)
	default:
		e.wt = transpose(e.wt, bv.data, n, k)
		e.mulBlockTrans(x, d.data, alpha, e.wt[:k*n], n, beta)
	}
}
