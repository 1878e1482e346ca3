//go:build cuda || cudaemu

package cuda

import (
	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// rowReduce resolves and checks the operands of a reduction of the rows of
// a into dst (RowSums, RowNorms, LogSumExp), and for RowNorms the
// parameter c.
func (b *Backend) rowReduce(op string, dst backend.Vector, a backend.Block, norms bool, c float64) (*vec, *vec) {
	if !b.ok(op) {
		return nil, nil
	}
	d, av := b.v(op, dst), b.v(op, a)
	if d == nil || av == nil {
		return nil, nil
	}
	v := check.Reduce(true, d.operand(), av.operand())
	if norms {
		v = check.RowNorms(d.operand(), av.operand(), c)
	}
	if !b.check(op, v) {
		return nil, nil
	}
	return d, av
}

// rows launches hg_rows with operation rop over the rows of a (rows > 0).
func (b *Backend) rows(op string, rop int, a *vec, alpha, beta, c float64, out, blk, y devptr) {
	w := rowWidth(a.cols)
	b.launch(op, kRows, rowGrid(a.rows, w), i64(rop), i64(a.rows), i64(a.cols), a.p, f64(alpha), f64(beta), f64(c),
		out, blk, y, i64(w))
}

// RowSums sets dst_i ← α·Σ_j a_ij + β·dst_i (β = 0 overwrites): a segment
// of threads per row of hg_rows, its lanes' sums added by a fixed tree.
func (b *Backend) RowSums(dst backend.Vector, alpha float64, a backend.Block, beta float64) {
	const op = "RowSums"
	d, av := b.rowReduce(op, dst, a, false, 0)
	if d == nil || av.rows == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.rows(op, opRowSum, av, alpha, beta, 0, d.p, 0, 0)
}

// RowNorms sets dst_i ← sqrt(c + Σ_j a_ij²) (hg_rows, as RowSums).
func (b *Backend) RowNorms(dst backend.Vector, a backend.Block, c float64) {
	const op = "RowNorms"
	d, av := b.rowReduce(op, dst, a, true, c)
	if d == nil || av.rows == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.rows(op, opRowNorm, av, 0, 0, c, d.p, 0, 0)
}

// LogSumExp sets dst_i ← m_i + log Σ_j exp(a_ij − m_i), m_i = max_j a_ij
// (NaN-propagating), or m_i itself when it is ±Inf (hg_rows: the maximum
// and the sum each by a segment's fixed tree).
func (b *Backend) LogSumExp(dst backend.Vector, a backend.Block) {
	const op = "LogSumExp"
	d, av := b.rowReduce(op, dst, a, false, 0)
	if d == nil || av.rows == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.rows(op, opRowLSE, av, 0, 0, 0, d.p, 0, 0)
}

// Softmax sets dst_ij ← exp(a_ij − m_i) / Σ_l exp(a_il − m_i) (hg_rows;
// dst may alias a).
func (b *Backend) Softmax(dst, a backend.Block) {
	const op = "Softmax"
	if !b.ok(op) {
		return
	}
	d, av := b.v(op, dst), b.v(op, a)
	if d == nil || av == nil || !b.check(op, check.SameShape(d.operand(), av.operand())) || av.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.rows(op, opRowSoftmax, av, 0, 0, 0, 0, d.p, 0)
}

// CrossEntropy sets loss_i ← LSE(a_i) − a_{i,y_i} and grad_ij ←
// softmax(a_i)_j − [j = y_i] in one launch of hg_rows (either output may be
// nil; grad may alias a).
func (b *Backend) CrossEntropy(grad backend.Block, loss backend.Vector, a backend.Block, y backend.Labels) {
	const op = "CrossEntropy"
	if !b.ok(op) {
		return
	}
	gv, okg := b.optV(op, grad)
	lv, okl := b.optV(op, loss)
	av, yl := b.v(op, a), b.lab(op, y)
	if !okg || !okl || av == nil || yl == nil ||
		!b.check(op, check.CrossEntropy(gv.operand(), lv.operand(), av.operand(), yl.n, yl.classes)) {
		return
	}
	if av.rows == 0 || (gv == nil && lv == nil) || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	var gp, lp devptr
	if gv != nil {
		gp = gv.p
	}
	if lv != nil {
		lp = lv.p
	}
	b.rows(op, opRowXent, av, 0, 0, 0, lp, gp, yl.p)
}

// ColSums sets dst_j ← α·Σ_i a_ij + β·dst_j (β = 0 overwrites): per-block
// partial column sums over row ranges (hg_colsums), then their sum in
// hg_colreduce's fixed order.
func (b *Backend) ColSums(dst backend.Vector, alpha float64, a backend.Block, beta float64) {
	const op = "ColSums"
	if !b.ok(op) {
		return
	}
	d, av := b.v(op, dst), b.v(op, a)
	if d == nil || av == nil || !b.check(op, check.Reduce(false, d.operand(), av.operand())) || av.cols == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	cw, rpb, g := colSumsGrid(av.rows, av.cols)
	if !b.grow(op, &b.part, g*av.cols) ||
		!b.launch(op, kColSums, g, i64(av.rows), i64(av.cols), av.p, b.part.p, i64(rpb), i64(cw)) {
		return
	}
	b.colReduce(op, g, av.cols, alpha, beta, d.p)
}
