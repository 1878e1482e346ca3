package cpu

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// The row operations work on row-major blocks. Those whose output row i
// depends only on row i of the inputs (ScaleRows, ScaleCols, RowSums,
// RowNorms, Softmax, LogSumExp, CrossEntropy) cut the rows into parts
// (splitBlock) and need no reduction, so their results do not depend on
// Workers. ColSums, a reduction over rows, is a chunked row pass with
// per-chunk accumulators summed in chunk order (transPass), as MulVecTrans.

// blockRef describes the block v as a dense matrix operand.
func blockRef(v *vec) matRef { return matRef{rows: v.rows, cols: v.cols, val: v.data} }

// ScaleRows sets dst_ij ← v_i·a_ij. dst may alias a (each element is read
// before it is written), not v.
func (b *Backend) ScaleRows(dst backend.Block, v backend.Vector, a backend.Block) {
	b.scale("ScaleRows", true, dst, a, v)
}

// ScaleCols sets dst_ij ← a_ij·v_j. dst may alias a, not v.
func (b *Backend) ScaleCols(dst backend.Block, a backend.Block, v backend.Vector) {
	b.scale("ScaleCols", false, dst, a, v)
}

func (b *Backend) scale(op string, rows bool, dst, a backend.Block, v backend.Vector) {
	if !b.ok(op) {
		return
	}
	d, av, vv := b.v(op, dst), b.v(op, a), b.v(op, v)
	if d == nil || av == nil || vv == nil || !b.check(op, check.Scale(rows, d.operand(), av.operand(), vv.operand())) {
		return
	}
	e := b.eng
	e.args.dst, e.args.x, e.args.m = d.data, vv.data, blockRef(av)
	task := e.fScaleCols
	if rows {
		task = e.fScaleRows
	}
	e.run(task, e.splitBlock(av.rows, av.cols, partElems))
	e.reset()
}

func (e *engine) scaleRowsPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	c := a.m.cols
	for i := lo; i < hi; i++ {
		vi := a.x[i]
		src, d := a.m.val[i*c:(i+1)*c], a.dst[i*c:(i+1)*c]
		d = d[:len(src)]
		for j, s := range src {
			d[j] = vi * s
		}
	}
}

func (e *engine) scaleColsPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	c := a.m.cols
	v := a.x[:c]
	for i := lo; i < hi; i++ {
		src, d := a.m.val[i*c:(i+1)*c], a.dst[i*c:(i+1)*c]
		src, d = src[:len(v)], d[:len(v)]
		for j, s := range src {
			d[j] = s * v[j]
		}
	}
}

// rowReduceArgs resolves and checks the operands of a reduction of the rows
// (byRow) or the columns of a into dst.
func (b *Backend) rowReduceArgs(op string, byRow bool, dst backend.Vector, a backend.Block) (*vec, *vec) {
	if !b.ok(op) {
		return nil, nil
	}
	d, av := b.v(op, dst), b.v(op, a)
	if d == nil || av == nil || !b.check(op, check.Reduce(byRow, d.operand(), av.operand())) {
		return nil, nil
	}
	return d, av
}

// RowSums sets dst_i ← α·s_i + β·dst_i (β = 0: α·s_i), s_i = Σ_j a_ij
// summed as sum4 does.
func (b *Backend) RowSums(dst backend.Vector, alpha float64, a backend.Block, beta float64) {
	d, av := b.rowReduceArgs("RowSums", true, dst, a)
	if d == nil {
		return
	}
	e := b.eng
	e.args.dst, e.args.m, e.args.alpha, e.args.beta = d.data, blockRef(av), alpha, beta
	e.run(e.fRowSums, e.splitBlock(av.rows, av.cols, partElems))
	e.reset()
}

func (e *engine) rowSumsPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	c := a.m.cols
	d := a.dst[lo:hi]
	for t := range d {
		i := lo + t
		s := sum4(a.m.val[i*c : (i+1)*c])
		if a.beta == 0 {
			d[t] = a.alpha * s
		} else {
			d[t] = a.alpha*s + a.beta*d[t]
		}
	}
}

// ColSums sets dst_j ← α·s_j + β·dst_j (β = 0: α·s_j), s_j = Σ_i a_ij: each
// chunk of rows adds its rows in row order into its own accumulator, and
// the accumulators are summed in chunk order (transPass).
func (b *Backend) ColSums(dst backend.Vector, alpha float64, a backend.Block, beta float64) {
	d, av := b.rowReduceArgs("ColSums", false, dst, a)
	if d == nil {
		return
	}
	e := b.eng
	e.args.dst, e.args.m, e.args.alpha, e.args.beta = d.data, blockRef(av), alpha, beta
	e.transPass(e.fColSums, e.transParts(&e.args.m, 1))
	e.reset()
}

func (e *engine) colSumsPart(k int) {
	lo, hi := e.span(k)
	m := &e.args.m
	acc := e.acc[k][:m.cols]
	clear(acc)
	addRows(m.val, m.cols, lo, hi, acc)
}

// addRows adds the rows [lo, hi) of the row-major matrix a with cols =
// len(acc) columns to acc, four rows at a time (acc_j is loaded and stored
// once per four rows and gets the rows in row order, so the result does not
// depend on how the rows are grouped).
func addRows(a []float64, cols, lo, hi int, acc []float64) {
	if cols == 0 {
		return
	}
	acc = acc[:cols]
	i := lo
	for ; i+4 <= hi; i += 4 {
		r0 := a[i*cols : (i+1)*cols]
		r1 := a[(i+1)*cols : (i+2)*cols]
		r2 := a[(i+2)*cols : (i+3)*cols]
		r3 := a[(i+3)*cols : (i+4)*cols]
		r0, r1, r2, r3 = r0[:len(acc)], r1[:len(acc)], r2[:len(acc)], r3[:len(acc)]
		for j, s := range acc {
			s += r0[j]
			s += r1[j]
			s += r2[j]
			s += r3[j]
			acc[j] = s
		}
	}
	for ; i < hi; i++ {
		r := a[i*cols : (i+1)*cols]
		r = r[:len(acc)]
		for j, x := range r {
			acc[j] += x
		}
	}
}

// RowNorms sets dst_i ← sqrt(c + q_i), q_i = Σ_j a_ij² summed as ssq4
// does (plainly: it overflows to +Inf beyond about 1e154).
func (b *Backend) RowNorms(dst backend.Vector, a backend.Block, c float64) {
	const op = "RowNorms"
	if !b.ok(op) {
		return
	}
	d, av := b.v(op, dst), b.v(op, a)
	if d == nil || av == nil || !b.check(op, check.RowNorms(d.operand(), av.operand(), c)) {
		return
	}
	e := b.eng
	e.args.dst, e.args.m, e.args.c = d.data, blockRef(av), c
	e.run(e.fRowNorms, e.splitBlock(av.rows, av.cols, partElems))
	e.reset()
}

func (e *engine) rowNormsPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	c := a.m.cols
	d := a.dst[lo:hi]
	for t := range d {
		i := lo + t
		d[t] = math.Sqrt(a.c + ssq4(a.m.val[i*c:(i+1)*c]))
	}
}

// sum4 returns Σ_j x_j in a fixed order: four partial sums over j mod 4 of
// the first n − n mod 4 elements, added as (s0+s1)+(s2+s3), then the last
// n mod 4 elements in order.
func sum4(x []float64) float64 {
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(x); j += 4 {
		v := x[j : j+4 : j+4]
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
	}
	s := (s0 + s1) + (s2 + s3)
	for ; j < len(x); j++ {
		s += x[j]
	}
	return s
}

// ssq4 returns Σ_j x_j² in sum4's order.
func ssq4(x []float64) float64 {
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(x); j += 4 {
		v := x[j : j+4 : j+4]
		s0 += v[0] * v[0]
		s1 += v[1] * v[1]
		s2 += v[2] * v[2]
		s3 += v[3] * v[3]
	}
	s := (s0 + s1) + (s2 + s3)
	for ; j < len(x); j++ {
		s += x[j] * x[j]
	}
	return s
}

// Softmax sets each row of dst to the softmax of the row of a (softmaxRow).
// dst may alias a.
func (b *Backend) Softmax(dst, a backend.Block) {
	const op = "Softmax"
	if !b.ok(op) {
		return
	}
	d, av := b.v(op, dst), b.v(op, a)
	if d == nil || av == nil || !b.check(op, check.SameShape(d.operand(), av.operand())) {
		return
	}
	e := b.eng
	e.args.dst, e.args.m = d.data, blockRef(av)
	e.run(e.fSoftmax, e.splitBlock(av.rows, av.cols, callElems))
	e.reset()
}

func (e *engine) softmaxPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	c := a.m.cols
	for i := lo; i < hi; i++ {
		d := a.dst[i*c : (i+1)*c]
		s := expRow(d, a.m.val[i*c:(i+1)*c], rowMax(a.m.val[i*c:(i+1)*c]))
		for j := range d {
			d[j] /= s
		}
	}
}

// rowMax returns max_j x_j, NaN if an element is NaN (the builtin max
// propagates NaN), −Inf for an empty row.
func rowMax(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

// expRow sets d_j ← exp(x_j − m) (d == nil: not stored; d may be x) and
// returns Σ_j exp(x_j − m), summed in order.
func expRow(d, x []float64, m float64) float64 {
	var s float64
	if d == nil {
		for _, v := range x {
			s += math.Exp(v - m)
		}
		return s
	}
	d = d[:len(x)]
	for j, v := range x {
		ej := math.Exp(v - m)
		d[j] = ej
		s += ej
	}
	return s
}

// lse returns m + log s for a row of maximum m and s = Σ_j exp(x_j − m),
// and m itself when m is NaN (a NaN in the row), −Inf (an empty row or a
// row of −Inf) or +Inf (a +Inf and no NaN).
func lse(m, s float64) float64 {
	if math.IsInf(m, 0) || math.IsNaN(m) {
		return m
	}
	return m + math.Log(s)
}

// LogSumExp sets dst_i ← m_i + log Σ_j exp(a_ij − m_i), m_i = max_j a_ij
// (NaN, ±Inf and empty rows as lse says), the sum in order.
func (b *Backend) LogSumExp(dst backend.Vector, a backend.Block) {
	d, av := b.rowReduceArgs("LogSumExp", true, dst, a)
	if d == nil {
		return
	}
	e := b.eng
	e.args.dst, e.args.m = d.data, blockRef(av)
	e.run(e.fLogSumExp, e.splitBlock(av.rows, av.cols, callElems))
	e.reset()
}

func (e *engine) logSumExpPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	c := a.m.cols
	d := a.dst[lo:hi]
	for t := range d {
		i := lo + t
		row := a.m.val[i*c : (i+1)*c]
		m := rowMax(row)
		var s float64
		if !math.IsInf(m, 0) && !math.IsNaN(m) {
			s = expRow(nil, row, m)
		}
		d[t] = lse(m, s)
	}
}

// CrossEntropy sets, for each row i of a with label y = y_i, loss_i ←
// LSE(a_i) − a_iy and grad_ij ← softmax(a_i)_j − [j = y], with LogSumExp's
// and Softmax's bits, in one pass over the row: a_iy is read first, then
// exp(a_ij − m_i) is stored in grad (which may alias a) and summed, and
// the sum gives both the loss and the softmax. grad and loss are each
// skipped when nil.
func (b *Backend) CrossEntropy(grad backend.Block, loss backend.Vector, a backend.Block, y backend.Labels) {
	const op = "CrossEntropy"
	if !b.ok(op) {
		return
	}
	gv, okg := b.optV(op, grad)
	lv, okl := b.optV(op, loss)
	av := b.v(op, a)
	yl := b.lab(op, y)
	if !okg || !okl || av == nil || yl == nil {
		return
	}
	if !b.check(op, check.CrossEntropy(gv.operand(), lv.operand(), av.operand(), len(yl.y), yl.classes)) {
		return
	}
	if gv == nil && lv == nil {
		return
	}
	e := b.eng
	e.args.m, e.args.lab = blockRef(av), yl.y
	if gv != nil {
		e.args.dst = gv.data
	}
	if lv != nil {
		e.args.rowLoss = lv.data
	}
	e.run(e.fCrossEntropy, e.splitBlock(av.rows, av.cols, callElems))
	e.reset()
}

func (e *engine) crossEntropyPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	c := a.m.cols
	for i := lo; i < hi; i++ {
		row := a.m.val[i*c : (i+1)*c]
		y := int(a.lab[i])
		ay := row[y]
		m := rowMax(row)
		var g []float64
		if a.dst != nil {
			g = a.dst[i*c : (i+1)*c]
		}
		var s float64
		if g != nil || (!math.IsInf(m, 0) && !math.IsNaN(m)) {
			s = expRow(g, row, m)
		}
		if a.rowLoss != nil {
			a.rowLoss[i] = lse(m, s) - ay
		}
		if g != nil {
			for j := range g {
				g[j] /= s
			}
			g[y]--
		}
	}
}
