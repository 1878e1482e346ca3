//go:build cuda || cudaemu

package cuda

import (
	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// matvecArgs resolves and checks the operands of a product dst = op(A)·x.
func (b *Backend) matvecArgs(op string, dst backend.Vector, a backend.Matrix, x backend.Vector, trans bool) (*vec, *dense, *csr, *vec) {
	if !b.ok(op) {
		return nil, nil, nil, nil
	}
	md, ms, okm := b.mat(op, a)
	d, xv := b.v(op, dst), b.v(op, x)
	if d == nil || xv == nil || !okm {
		return nil, nil, nil, nil
	}
	rows, cols := a.Dims()
	if !b.check(op, check.MatVec(rows, cols, trans, d.operand(), xv.operand())) {
		return nil, nil, nil, nil
	}
	return d, md, ms, xv
}

// colReduce sets dst ← α·Σ_b partial_b + β·dst over the nb per-block
// partial vectors of hg_dense_pass (hg_colreduce).
func (b *Backend) colReduce(op string, nb, cols int, alpha, beta float64, dst devptr) bool {
	return b.launch(op, kColReduce, ceilDiv(cols, colReduceCols), i64(nb), i64(cols), b.part.p, f64(alpha), f64(beta), dst)
}

// MulVec sets dst ← α·A·x + β·dst (β = 0 overwrites): one row dot product
// per row — for dense matrices the row tiles of hg_dense_pass, for CSR the
// row segments of hg_csr_rows.
func (b *Backend) MulVec(dst backend.Vector, alpha float64, a backend.Matrix, x backend.Vector, beta float64) {
	const op = "MulVec"
	d, md, ms, xv := b.matvecArgs(op, dst, a, x, false)
	if d == nil || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	if md != nil {
		rpb, g := denseGrid(md.rows)
		b.launch(op, md.pass(), g, opMulVec, i64(md.rows), i64(md.cols), md.p, xv.p, 0, 0,
			f64(alpha), f64(beta), d.p, 0, 0, 0, i64(rpb))
		return
	}
	b.launch(op, kCSRRows, segGrid(ms.rows, ms.wRow), opMulVec, i64(ms.rows), ms.indptr, ms.indices, ms.val,
		xv.p, 0, 0, f64(alpha), f64(beta), d.p, 0, 0, i64(ms.wRow))
}

// MulVecTrans sets dst ← α·Aᵀ·x + β·dst (β = 0 overwrites). Dense: per-block
// column sums of x_i·a_i (hg_dense_pass), then their sum in block order
// (hg_colreduce). CSR: one gather per column of the transposed copy
// (hg_csc_cols).
func (b *Backend) MulVecTrans(dst backend.Vector, alpha float64, a backend.Matrix, x backend.Vector, beta float64) {
	const op = "MulVecTrans"
	d, md, ms, xv := b.matvecArgs(op, dst, a, x, true)
	if d == nil || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	if md != nil {
		rpb, g := denseGrid(md.rows)
		if !b.grow(op, &b.part, g*md.cols) ||
			!b.launch(op, md.pass(), g, opTrans, i64(md.rows), i64(md.cols), md.p, 0, xv.p, 0,
				0, 0, 0, 0, b.part.p, 0, i64(rpb)) {
			return
		}
		b.colReduce(op, g, md.cols, alpha, beta, d.p)
		return
	}
	b.launch(op, kCSCCols, segGrid(ms.cols, ms.wCol), i64(ms.cols), ms.colptr, ms.rowind, ms.cval, xv.p,
		f64(alpha), f64(beta), d.p, i64(ms.wCol))
}

// GramVec sets dst ← α·Xᵀ(d ⊙ (X·v)) + β·dst (d == nil: d = 1).
//
// Dense: one pass over X (hg_dense_pass): each block computes the row dot
// products of a tile of rows and at once adds the tile's rows, weighted, to
// its column accumulators, then hg_colreduce sums the blocks' accumulators
// in block order. CSR: the weighted row products s = d ⊙ (X·v) by row
// segments (hg_csr_rows), then Xᵀs by column segments of the transposed copy
// (hg_csc_cols) — two passes over the values; see kernels/sparse.cu.
func (b *Backend) GramVec(dst backend.Vector, alpha float64, x backend.Matrix, d, v backend.Vector, beta float64) {
	const op = "GramVec"
	if !b.ok(op) {
		return
	}
	md, ms, okm := b.mat(op, x)
	dv, vv := b.v(op, dst), b.v(op, v)
	wv, okw := b.optV(op, d)
	if dv == nil || vv == nil || !okw || !okm {
		return
	}
	rows, cols := x.Dims()
	if !b.check(op, check.GramVec(rows, cols, dv.operand(), wv.operand(), vv.operand())) {
		return
	}
	if cols == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	var wp devptr
	if wv != nil {
		wp = wv.p
	}
	if md != nil {
		rpb, g := denseGrid(rows)
		if !b.grow(op, &b.part, g*cols) ||
			!b.launch(op, md.pass(), g, opGram, i64(rows), i64(cols), md.p, vv.p, wp, 0,
				0, 0, 0, 0, b.part.p, 0, i64(rpb)) {
			return
		}
		b.colReduce(op, g, cols, alpha, beta, dv.p)
		return
	}
	var s devptr
	if rows > 0 {
		if !b.grow(op, &b.rowS, rows) ||
			!b.launch(op, kCSRRows, segGrid(rows, ms.wRow), opGram, i64(rows), ms.indptr, ms.indices, ms.val,
				vv.p, wp, 0, 0, 0, b.rowS.p, 0, 0, i64(ms.wRow)) {
			return
		}
		s = b.rowS.p
	}
	b.launch(op, kCSCCols, segGrid(cols, ms.wCol), i64(cols), ms.colptr, ms.rowind, ms.cval, s,
		f64(alpha), f64(beta), dv.p, i64(ms.wCol))
}

// GramDiag sets dst ← α·diag(Xᵀ diag(d) X) + β·dst, dst_j = α·Σ_i d_i·X_ij² +
// β·dst_j (d == nil: d = 1), in one pass over X.
//
// Dense: each block sums d_i·X_ij² over its rows for every column, in row
// order (hg_dense_sqcols, the rows and blocks of hg_dense_pass), then
// hg_colreduce adds the blocks' partial vectors in block order. CSR: one
// gather per column of the transposed copy (hg_csc_sqcols), which holds a
// row's duplicate entries of a column next to each other, in CSR order: they
// are summed, then squared, so X_ij is the sum of the duplicates as for the
// other operations.
func (b *Backend) GramDiag(dst backend.Vector, alpha float64, x backend.Matrix, d backend.Vector, beta float64) {
	const op = "GramDiag"
	if !b.ok(op) {
		return
	}
	md, ms, okm := b.mat(op, x)
	dv := b.v(op, dst)
	wv, okw := b.optV(op, d)
	if dv == nil || !okw || !okm {
		return
	}
	rows, cols := x.Dims()
	if !b.check(op, check.GramDiag(rows, cols, dv.operand(), wv.operand())) {
		return
	}
	if cols == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	var wp devptr
	if wv != nil {
		wp = wv.p
	}
	if md != nil {
		rpb, g := denseGrid(rows)
		if !b.grow(op, &b.part, g*cols) ||
			!b.launch(op, md.sqcols(), g, i64(rows), i64(cols), md.p, wp, b.part.p, i64(rpb)) {
			return
		}
		b.colReduce(op, g, cols, alpha, beta, dv.p)
		return
	}
	b.launch(op, kCSCSqCols, segGrid(cols, ms.wCol), i64(cols), ms.colptr, ms.rowind, ms.cval, wp,
		f64(alpha), f64(beta), dv.p, i64(ms.wCol))
}

// GLMGrad computes z = X·w and, in the same pass over the rows of X, the
// loss Σ_i ℓ(z_i, y_i), curv_i ← ℓ″(z_i, y_i) and dst ← α·Xᵀℓ′(z, y) + β·dst
// — for dense matrices in one pass (hg_dense_pass, then hg_colreduce), for
// CSR by row segments then column segments as GramVec. The loss is summed per
// block and the blocks' sums by the fixed tree of hg_sum_final.
func (b *Backend) GLMGrad(dst backend.Vector, alpha float64, x backend.Matrix, w, y backend.Vector, loss backend.Loss, beta float64, curv backend.Vector) float64 {
	return b.glmGrad("GLMGrad", true, dst, alpha, x, w, y, loss, beta, curv)
}

// GLMGradNoLoss is GLMGrad without the loss: the kernels skip its log1p and
// block sums, and nothing is copied back, so the call does not wait for the
// device (the gradient of an inner gradient-descent step needs no loss).
func (b *Backend) GLMGradNoLoss(dst backend.Vector, alpha float64, x backend.Matrix, w, y backend.Vector, loss backend.Loss, beta float64, curv backend.Vector) {
	b.glmGrad("GLMGradNoLoss", false, dst, alpha, x, w, y, loss, beta, curv)
}

// glmGrad is GLMGrad (wantLoss) and GLMGradNoLoss (which returns 0).
func (b *Backend) glmGrad(op string, wantLoss bool, dst backend.Vector, alpha float64, x backend.Matrix, w, y backend.Vector, loss backend.Loss, beta float64, curv backend.Vector) float64 {
	if !b.ok(op) {
		return nan
	}
	md, ms, okm := b.mat(op, x)
	wv, yv := b.v(op, w), b.v(op, y)
	dv, okd := b.optV(op, dst)
	cv, okc := b.optV(op, curv)
	if wv == nil || yv == nil || !okd || !okc || !okm {
		return nan
	}
	rows, cols := x.Dims()
	if !b.check(op, check.GLMGrad(rows, cols, dv.operand(), wv.operand(), yv.operand(), cv.operand(), loss)) {
		return nan
	}
	if !b.enter(op) {
		return nan
	}
	defer b.drv.exit()
	grad := dv != nil && cols > 0
	var cp devptr
	if cv != nil {
		cp = cv.p
	}
	if !wantLoss && !grad && cv == nil {
		return 0 // nothing to compute
	}
	var lossPart devptr // the blocks' losses, then hg_sum_final
	if wantLoss {
		lossPart = b.small
	}
	if md != nil {
		rpb, g := denseGrid(rows)
		var part devptr
		if grad {
			if !b.grow(op, &b.part, g*cols) {
				return nan
			}
			part = b.part.p
		}
		if !b.launch(op, md.pass(), g, opGLM, i64(rows), i64(cols), md.p, wv.p, yv.p, i64(int(loss)),
			0, 0, 0, cp, part, lossPart, i64(rpb)) {
			return nan
		}
		if grad && !b.colReduce(op, g, cols, alpha, beta, dv.p) {
			return nan
		}
		if !wantLoss {
			return 0
		}
		if !b.launch(op, kSumFinal, 1, i64(g), lossPart, 0, b.resultPtr()) || !b.result(op, 1) {
			return nan
		}
		return b.host[0]
	}
	var s devptr
	total := 0.0
	if rows > 0 {
		if grad {
			if !b.grow(op, &b.rowS, rows) {
				return nan
			}
			s = b.rowS.p
		}
		g := segGrid(rows, ms.wRow)
		if !b.launch(op, kCSRRows, g, opGLM, i64(rows), ms.indptr, ms.indices, ms.val, wv.p, yv.p,
			i64(int(loss)), 0, 0, s, cp, lossPart, i64(ms.wRow)) ||
			wantLoss && !b.launch(op, kSumFinal, 1, i64(g), lossPart, 0, b.resultPtr()) {
			return nan
		}
	}
	if grad && !b.launch(op, kCSCCols, segGrid(cols, ms.wCol), i64(cols), ms.colptr, ms.rowind, ms.cval, s,
		f64(alpha), f64(beta), dv.p, i64(ms.wCol)) {
		return nan
	}
	if rows > 0 && wantLoss {
		if !b.result(op, 1) {
			return nan
		}
		total = b.host[0]
	}
	return total
}
