//go:build cuda || cudaemu

package cuda

import (
	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

var _ backend.Multinomial = (*Backend)(nil)

// SoftmaxGrad sets dst ← α·Xᵀ·G + β·dst with G_ij = d_i·(P_ij − [j = y_i]),
// P = softmax(X·W) by rows, and prob ← P and loss_i ← LSE(z_i) − z_{i,y_i}
// where given, in three launches over a rows×k block of scratch space:
//
//  1. Z = X·W, as MulBlock (hg_gemm or hg_gemm_f32 on a dense X, hg_csr_block
//     on the CSR arrays);
//  2. hg_softmax_grad turns Z into G in place, with hg_rows' segments and
//     trees (kernels/multinomial.cu), writing prob and loss;
//  3. dst ← α·Xᵀ·G + β·dst, as MulBlockTrans (hg_gemm with op(A) = Xᵀ, or
//     hg_csr_block on the transposed copy).
//
// Every sum is in the order of those kernels, so the results equal, bit for
// bit, those of the core composition MulBlock, CrossEntropy, ScaleRows (by
// d), MulBlockTrans on this backend; prob equals Softmax(X·W) and loss
// CrossEntropy's loss.
//
// This reads X twice (steps 1 and 3) and moves the rows×k block four times
// (written, read and rewritten in step 2, read in step 3). A one-pass kernel
// in the manner of hg_dense_pass — a block holding a tile of rows' k scores
// in registers and accumulating the tile's rows into per-block cols×k
// partial sums — would read X once; whether that wins against the tiled
// products (its partial sums grow with cols·k per block) is to be measured on
// a GPU.
//
// The scratch block is Backend.rowS (the row weights of the CSR passes of
// GramVec and GLMGrad, which never run inside this operation), grown on
// demand to rows·k doubles; the products' split sums use Backend.part as
// MulBlockTrans does. Once both have grown, a call allocates nothing.
func (b *Backend) SoftmaxGrad(dst backend.Block, alpha float64, x backend.Matrix, w backend.Block, y backend.Labels, d backend.Vector, beta float64, prob backend.Block, loss backend.Vector) {
	const op = "SoftmaxGrad"
	if !b.ok(op) {
		return
	}
	md, ms, okm := b.mat(op, x)
	if !okm {
		return
	}
	dv, wv, yl := b.v(op, dst), b.v(op, w), b.lab(op, y)
	sv, okd := b.optV(op, d)
	pv, okp := b.optV(op, prob)
	lv, okl := b.optV(op, loss)
	if dv == nil || wv == nil || yl == nil || !okd || !okp || !okl {
		return
	}
	rows, cols := x.Dims()
	if !b.check(op, check.SoftmaxGrad(rows, cols, dv.operand(), wv.operand(), yl.n, yl.classes, sv.operand(),
		pv.operand(), lv.operand())) {
		return
	}
	if (dv.n == 0 && (rows == 0 || (pv == nil && lv == nil))) || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	if rows == 0 {
		b.scaleOnly(op, beta, dv.p, dv.n)
		return
	}
	k := wv.cols // ≥ 1: rows > 0 labels of k classes
	if !b.grow(op, &b.rowS, rows*k) {
		return
	}
	z := b.rowS.p
	if b.mulBlock(op, md, ms, false, rows, cols, k, 1, wv.p, 0, z); b.Err() != nil {
		return
	}
	var dp, pp, lp devptr
	if sv != nil {
		dp = sv.p
	}
	if pv != nil {
		pp = pv.p
	}
	if lv != nil {
		lp = lv.p
	}
	wd := rowWidth(k)
	if !b.launch(op, kSoftmaxGrad, rowGrid(rows, wd), i64(rows), i64(k), z, yl.p, dp, pp, lp, i64(wd)) || dv.n == 0 {
		return
	}
	b.mulBlock(op, md, ms, true, rows, cols, k, alpha, z, beta, dv.p)
}

// SoftmaxHessBlock sets dst ← α·Xᵀ·R + β·dst with R_ij = d_i·(p_ij·u_ij −
// p_ij·s_i), U = X·V and s_i = Σ_j p_ij·u_ij, in three launches over a
// rows×k block of scratch space, as SoftmaxGrad: U = X·V as MulBlock;
// hg_softmax_hess turns U into R in place (s_i by a segment's fixed tree,
// kernels/multinomial.cu); dst ← α·Xᵀ·R + β·dst as MulBlockTrans. The
// results equal, bit for bit, those of the core composition MulBlock,
// MulElem (p⊙u), RowSums (s), ScaleRows (s_i·p_i), Axpy (p⊙u − s_i·p_i),
// ScaleRows (by d), MulBlockTrans on this backend. X is read twice; see
// SoftmaxGrad.
func (b *Backend) SoftmaxHessBlock(dst backend.Block, alpha float64, x backend.Matrix, p backend.Block, d backend.Vector, v backend.Block, beta float64) {
	const op = "SoftmaxHessBlock"
	if !b.ok(op) {
		return
	}
	md, ms, okm := b.mat(op, x)
	if !okm {
		return
	}
	dv, pv := b.v(op, dst), b.v(op, p)
	sv, okd := b.optV(op, d)
	vv := b.v(op, v)
	if dv == nil || pv == nil || !okd || vv == nil {
		return
	}
	rows, cols := x.Dims()
	if !b.check(op, check.SoftmaxHessBlock(rows, cols, dv.operand(), pv.operand(), sv.operand(), vv.operand())) ||
		dv.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	if rows == 0 {
		b.scaleOnly(op, beta, dv.p, dv.n)
		return
	}
	k := pv.cols // dv.n = cols·k > 0, so cols, k ≥ 1
	if !b.grow(op, &b.rowS, rows*k) {
		return
	}
	u := b.rowS.p
	if b.mulBlock(op, md, ms, false, rows, cols, k, 1, vv.p, 0, u); b.Err() != nil {
		return
	}
	var dp devptr
	if sv != nil {
		dp = sv.p
	}
	wd := rowWidth(k)
	if !b.launch(op, kSoftmaxHess, rowGrid(rows, wd), i64(rows), i64(k), u, pv.p, dp, i64(wd)) {
		return
	}
	b.mulBlock(op, md, ms, true, rows, cols, k, alpha, u, beta, dv.p)
}
