//go:build cuda || cudaemu

package cuda

import (
	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// gemm sets the m×n block at dst ← α·op(A)·op(B) + β·dst for a reduction of
// length k > 0 (hg_gemm or hg_gemm_f32, kernel kid): with one split of K the
// kernel applies α and β; with several, each split's sums go to the scratch
// space and hg_colreduce adds them in its fixed order.
func (b *Backend) gemm(op string, kid kernelID, m, n, k int, a devptr, ta bool, bp devptr, tb bool, alpha, beta float64, dst devptr) {
	g := gemmGrid(m, n, k)
	if g.splits == 1 {
		b.launch(op, kid, g.grid, i64(m), i64(n), i64(k), a, b64(ta), bp, b64(tb), f64(alpha), f64(beta), dst, 0,
			i64(g.kc), i64(g.tn))
		return
	}
	if !b.grow(op, &b.part, g.splits*m*n) ||
		!b.launch(op, kid, g.grid, i64(m), i64(n), i64(k), a, b64(ta), bp, b64(tb), 0, 0, 0, b.part.p,
			i64(g.kc), i64(g.tn)) {
		return
	}
	b.colReduce(op, g.splits, m*n, alpha, beta, dst)
}

// scaleOnly sets dst ← β·dst, or 0 when β = 0: a product over an empty
// reduction (n = len dst > 0).
func (b *Backend) scaleOnly(op string, beta float64, dst devptr, n int) {
	if beta == 0 {
		b.launch(op, kFill, elemGrid(n), i64(n), dst, f64(0))
		return
	}
	b.launch(op, kScal, elemGrid(n), i64(n), f64(beta), dst)
}

// Gemm sets dst ← α·op(A)·op(B) + β·dst (β = 0 overwrites; with k = 0,
// dst ← β·dst) by the tiles of hg_gemm, each element summed over k in
// increasing order within each split of K and the splits added in a fixed
// order (see kernels/blocks.cu).
func (b *Backend) Gemm(dst backend.Block, alpha float64, a backend.Block, ta backend.Transpose, bm backend.Block, tb backend.Transpose, beta float64) {
	const op = "Gemm"
	if !b.ok(op) {
		return
	}
	d, av, bv := b.v(op, dst), b.v(op, a), b.v(op, bm)
	if d == nil || av == nil || bv == nil || !b.check(op, check.Gemm(d.operand(), av.operand(), ta, bv.operand(), tb)) ||
		d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	k := av.cols
	if ta {
		k = av.rows
	}
	if k == 0 {
		b.scaleOnly(op, beta, d.p, d.n)
		return
	}
	b.gemm(op, kGemm, d.rows, d.cols, k, av.p, bool(ta), bv.p, bool(tb), alpha, beta, d.p)
}

// blockArgs resolves and checks the operands of MulBlock (trans false) and
// MulBlockTrans.
func (b *Backend) blockArgs(op string, dst backend.Block, x backend.Matrix, w backend.Block, trans bool) (*vec, *dense, *csr, *vec) {
	if !b.ok(op) {
		return nil, nil, nil, nil
	}
	md, ms, okm := b.mat(op, x)
	d, wv := b.v(op, dst), b.v(op, w)
	if d == nil || wv == nil || !okm {
		return nil, nil, nil, nil
	}
	rows, cols := x.Dims()
	if !b.check(op, check.MulBlock(rows, cols, trans, d.operand(), wv.operand())) {
		return nil, nil, nil, nil
	}
	return d, md, ms, wv
}

// gemmKernel returns hg_gemm or, for a matrix stored in float32, hg_gemm_f32.
func (m *dense) gemmKernel() kernelID {
	if m.f32 {
		return kGemmF32
	}
	return kGemm
}

// MulBlock sets dst ← α·X·W + β·dst (β = 0 overwrites; with cols = 0, dst ←
// β·dst). Dense: hg_gemm with op(A) = X (widened from float32 when stored
// so). CSR: one thread per element of dst gathers its row's entries in
// stored order (hg_csr_block).
func (b *Backend) MulBlock(dst backend.Block, alpha float64, x backend.Matrix, w backend.Block, beta float64) {
	const op = "MulBlock"
	d, md, ms, wv := b.blockArgs(op, dst, x, w, false)
	if d == nil || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	rows, cols := x.Dims()
	b.mulBlock(op, md, ms, false, rows, cols, d.cols, alpha, wv.p, beta, d.p)
}

// MulBlockTrans sets dst ← α·Xᵀ·G + β·dst (β = 0 overwrites; with rows = 0,
// dst ← β·dst). Dense: hg_gemm with op(A) = Xᵀ, the reduction over the
// rows split into parts whose sums are added in a fixed order. CSR: one
// thread per element of dst gathers its column's entries from the
// transposed copy, in row order (hg_csr_block).
func (b *Backend) MulBlockTrans(dst backend.Block, alpha float64, x backend.Matrix, g backend.Block, beta float64) {
	const op = "MulBlockTrans"
	d, md, ms, gv := b.blockArgs(op, dst, x, g, true)
	if d == nil || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	rows, cols := x.Dims()
	b.mulBlock(op, md, ms, true, rows, cols, d.cols, alpha, gv.p, beta, d.p)
}

// mulBlock sets the block at dst to α·op(X)·W + β·dst, op(X) = X (rows×k
// result, MulBlock) or Xᵀ when trans (cols×k, MulBlockTrans), for W (or G)
// with k > 0 columns at w and a non-empty result; an empty reduction (cols
// = 0, or rows = 0 when trans) gives dst ← β·dst. Dense X: hg_gemm (or
// hg_gemm_f32). CSR: hg_csr_block on the CSR arrays, or on the transposed
// copy when trans.
func (b *Backend) mulBlock(op string, md *dense, ms *csr, trans bool, rows, cols, k int, alpha float64, w devptr, beta float64, dst devptr) {
	out, inner := rows, cols
	if trans {
		out, inner = cols, rows
	}
	n := out * k
	switch {
	case inner == 0:
		b.scaleOnly(op, beta, dst, n)
	case md != nil:
		b.gemm(op, md.gemmKernel(), out, k, inner, md.p, trans, w, false, alpha, beta, dst)
	case trans:
		b.launch(op, kCSRBlock, elemGrid(n), i64(cols), i64(k), ms.colptr, ms.rowind, ms.cval, w, f64(alpha), f64(beta), dst)
	default:
		b.launch(op, kCSRBlock, elemGrid(n), i64(rows), i64(k), ms.indptr, ms.indices, ms.val, w, f64(alpha), f64(beta), dst)
	}
}
