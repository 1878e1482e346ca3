package cpu

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

type dense struct {
	owner      *Backend
	rows, cols int
	data       []float64
	freed      bool
}

func (m *dense) Dims() (int, int)       { return m.rows, m.cols }
func (m *dense) Format() backend.Format { return backend.Dense }
func (m *dense) NNZ() int               { return m.rows * m.cols }
func (m *dense) Bytes() int64           { return int64(len(m.data)) * 8 }

type csr struct {
	owner      *Backend
	rows, cols int
	indptr     []int
	indices    []int32
	data       []float64
	dupRows    []bool // rows holding two entries of the same column; nil if none
	freed      bool
}

func (m *csr) Dims() (int, int)       { return m.rows, m.cols }
func (m *csr) Format() backend.Format { return backend.CSR }
func (m *csr) NNZ() int               { return len(m.data) }
func (m *csr) Bytes() int64 {
	return int64(len(m.data))*8 + int64(len(m.indices))*4 + int64(len(m.indptr))*8
}

// NewDense copies a row-major matrix.
func (b *Backend) NewDense(rows, cols int, data []float64) (backend.Matrix, error) {
	if b.Closed() {
		return nil, &backend.OpError{Backend: "cpu", Op: "NewDense", Err: backend.ErrClosed}
	}
	if v := check.Dense(rows, cols, len(data)); v.Err != nil {
		return nil, v.OpError("cpu", "NewDense")
	}
	m := &dense{owner: b, rows: rows, cols: cols, data: make([]float64, len(data))}
	adviseHugePages(m.data) // before the first write, which faults the pages in
	copy(m.data, data)
	b.allocated += m.Bytes()
	return m, nil
}

// NewCSR copies a CSR matrix after checking its structure, and records the
// rows that hold two entries of the same column (for GramDiag). Duplicates
// are kept as given: the operations sum them (Σ over stored entries).
func (b *Backend) NewCSR(rows, cols int, indptr, indices []int, data []float64) (backend.Matrix, error) {
	if b.Closed() {
		return nil, &backend.OpError{Backend: "cpu", Op: "NewCSR", Err: backend.ErrClosed}
	}
	if v := check.CSR(rows, cols, math.MaxInt, indptr, len(indices), len(data)); v.Err != nil {
		return nil, v.OpError("cpu", "NewCSR")
	}
	nnz := indptr[rows]
	idx := make([]int32, nnz)
	// last[j] is 1 + the last row seen with an entry in column j: a row that
	// meets its own number has a duplicate (GramDiag must then sum the
	// duplicates before squaring; see gramDiagPart).
	last := make([]int, cols)
	var dupRows []bool
	for i := range rows {
		for k := indptr[i]; k < indptr[i+1]; k++ {
			j := indices[k]
			if j < 0 || j >= cols {
				return nil, check.CSRIndex(j, cols, k).OpError("cpu", "NewCSR")
			}
			idx[k] = int32(j)
			if last[j] == i+1 {
				if dupRows == nil {
					dupRows = make([]bool, rows)
				}
				dupRows[i] = true
			}
			last[j] = i + 1
		}
	}
	m := &csr{owner: b, rows: rows, cols: cols, indptr: append([]int(nil), indptr...), indices: idx,
		data: append([]float64(nil), data...), dupRows: dupRows}
	b.allocated += m.Bytes()
	return m, nil
}

// FreeMatrix releases a matrix.
func (b *Backend) FreeMatrix(a backend.Matrix) {
	switch t := a.(type) {
	case *dense:
		if t != nil && t.owner == b && !t.freed {
			b.allocated -= t.Bytes()
			t.freed, t.data = true, nil
		}
	case *csr:
		if t != nil && t.owner == b && !t.freed {
			b.allocated -= t.Bytes()
			t.freed, t.data, t.indices, t.indptr = true, nil, nil, nil
		}
	}
}

// mat resolves a matrix operand into its storage, recording an error for
// nil, foreign or freed ones.
func (b *Backend) mat(op string, a backend.Matrix) (matRef, bool) {
	if b.Err() != nil {
		return matRef{}, false
	}
	var owner *Backend
	var freed bool
	var r matRef
	switch t := a.(type) {
	case *dense:
		if t == nil {
			break
		}
		owner, freed = t.owner, t.freed
		r = matRef{rows: t.rows, cols: t.cols, val: t.data}
	case *csr:
		if t == nil {
			break
		}
		owner, freed = t.owner, t.freed
		r = matRef{rows: t.rows, cols: t.cols, val: t.data, indptr: t.indptr, indices: t.indices, dupRows: t.dupRows}
	case nil:
	default:
		b.fail(op, backend.ErrForeign, "matrix %T", a)
		return matRef{}, false
	}
	switch {
	case owner == nil:
		b.fail(op, backend.ErrInvalid, "nil matrix")
	case owner != b:
		b.fail(op, backend.ErrForeign, "matrix")
	case freed:
		b.fail(op, backend.ErrFreed, "matrix")
	default:
		return r, true
	}
	return matRef{}, false
}

// matvecArgs resolves and checks the operands of a product dst = op(A)·x.
func (b *Backend) matvecArgs(op string, dst backend.Vector, a backend.Matrix, x backend.Vector, trans bool) (*vec, matRef, *vec) {
	if !b.ok(op) {
		return nil, matRef{}, nil
	}
	m, okm := b.mat(op, a)
	d, xv := b.v(op, dst), b.v(op, x)
	if d == nil || xv == nil || !okm {
		return nil, matRef{}, nil
	}
	if !b.check(op, check.MatVec(m.rows, m.cols, trans, d.operand(), xv.operand())) {
		return nil, matRef{}, nil
	}
	return d, m, xv
}

// MulVec sets dst ← α·A·x + β·dst, dst_i = α·(a_iᵀx) + β·dst_i; with β = 0,
// dst_i = α·(a_iᵀx). Dense rows go four at a time through the assembly dot
// products (dotsFMA) or gonum's gemv kernel (see useFMA); CSR rows one by
// one. Rows are independent, so the parts need no reduction.
func (b *Backend) MulVec(dst backend.Vector, alpha float64, a backend.Matrix, x backend.Vector, beta float64) {
	d, m, xv := b.matvecArgs("MulVec", dst, a, x, false)
	if d == nil {
		return
	}
	e := b.eng
	e.args.m, e.args.dst, e.args.x, e.args.alpha, e.args.beta = m, d.data, xv.data, alpha, beta
	np := e.parts(matWork(&m), partWork, m.rows)
	nk := e.splitChunks(&m, np, 0)
	e.growChunks(nk, 0, false, false)
	e.runChunks(e.fMulVec, np, nk)
	e.reset()
}

func (e *engine) mulVecPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	m, x, dst := &a.m, a.x, a.dst
	alpha, beta := a.alpha, a.beta
	if c := m.cols; m.indptr == nil && c > 0 && alpha != 0 && !useFMA {
		gemvN(hi-lo, c, alpha, m.val[lo*c:hi*c], x, beta, dst[lo:hi])
		return
	}
	for i := lo; i < hi; {
		end := m.blockEnd(i, hi)
		z := e.zbuf[k][:end-i]
		m.dots(i, x, z)
		d := dst[i:end]
		finish(d, alpha, z, beta)
		i = end
	}
}

// MulVecTrans sets dst ← α·Aᵀ·x + β·dst, with Aᵀx = Σ_i x_i·a_i accumulated
// per chunk of rows (dense: four rows at a time, by axpysFMA or gonum's gemv
// kernel; CSR: row by row) and the chunks' accumulators summed in chunk order
// (splitChunks, transPass).
func (b *Backend) MulVecTrans(dst backend.Vector, alpha float64, a backend.Matrix, x backend.Vector, beta float64) {
	d, m, xv := b.matvecArgs("MulVecTrans", dst, a, x, true)
	if d == nil {
		return
	}
	e := b.eng
	e.args.m, e.args.dst, e.args.x, e.args.alpha, e.args.beta = m, d.data, xv.data, alpha, beta
	e.transPass(e.fMulVecT, e.transParts(&m, 1))
	e.reset()
}

func (e *engine) mulVecTPart(k int) {
	lo, hi := e.span(k)
	m, x := &e.args.m, e.args.x
	acc := e.acc[k][:m.cols]
	clear(acc)
	m.axpys(lo, x[lo:hi], acc)
}

// GramVec sets dst ← α·Xᵀ(d ⊙ (X·v)) + β·dst in one pass over the rows of
// X (d == nil means d_i = 1): s_i = d_i·(x_iᵀv) and at once acc += s_i·x_i
// while x_i is in cache — row by row for CSR, and for dense matrices by
// blocks B of rows: s_B = d_B ⊙ (X_B·v), then acc += X_Bᵀ·s_B, with blocks
// of about 128 KB (blockRows) for the portable kernels and software-pipelined
// blocks of four rows for the assembly ones (fusedFMA). Per-chunk
// accumulators are summed in chunk order.
func (b *Backend) GramVec(dst backend.Vector, alpha float64, x backend.Matrix, d, v backend.Vector, beta float64) {
	const op = "GramVec"
	if !b.ok(op) {
		return
	}
	m, okm := b.mat(op, x)
	dv, vv := b.v(op, dst), b.v(op, v)
	wv, okw := b.optV(op, d)
	if dv == nil || vv == nil || !okw || !okm {
		return
	}
	if !b.check(op, check.GramVec(m.rows, m.cols, dv.operand(), wv.operand(), vv.operand())) {
		return
	}
	e := b.eng
	e.args.m, e.args.dst, e.args.x, e.args.alpha, e.args.beta = m, dv.data, vv.data, alpha, beta
	if wv != nil {
		e.args.wts = wv.data
	}
	e.transPass(e.fGram, e.transParts(&m, 2))
	e.reset()
}

func (e *engine) gramPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	m := &a.m
	acc := e.acc[k][:m.cols]
	clear(acc)
	var acc2 []float64
	if a.x2 != nil {
		acc2 = e.acc2[k][:m.cols]
		clear(acc2)
	}
	if m.indptr == nil && m.cols > 0 && useFMA {
		e.fusedFMA(k, lo, hi, acc, acc2)
		return
	}
	for i := lo; i < hi; {
		end := m.blockEnd(i, hi)
		z := e.zbuf[k][:end-i]
		m.dots(i, a.x, z)
		e.weigh(i, z, 0)
		m.axpys(i, z, acc)
		if acc2 != nil {
			e.secondProduct(i, z, acc2)
		}
		i = end
	}
}

// GramVecPair sets dst1 ← α·Xᵀ(d ⊙ (X·v1)) + β·dst1 and dst2 ←
// α·Xᵀ(d ⊙ (X·v2)) + β·dst2 in one pass over the rows of X
// (backend.GramVecPairer): GramVec's chunks, kernels and order for each
// product, the second computed on every block of rows right after the
// first, while the block is in cache. Each result is GramVec's, bit for bit.
func (b *Backend) GramVecPair(dst1, dst2 backend.Vector, alpha float64, x backend.Matrix, d, v1, v2 backend.Vector, beta float64) {
	const op = "GramVecPair"
	if !b.ok(op) {
		return
	}
	m, okm := b.mat(op, x)
	d1, d2, w1, w2 := b.v(op, dst1), b.v(op, dst2), b.v(op, v1), b.v(op, v2)
	wv, okw := b.optV(op, d)
	if d1 == nil || d2 == nil || w1 == nil || w2 == nil || !okw || !okm {
		return
	}
	if !b.check(op, check.GramVecPair(m.rows, m.cols, d1.operand(), d2.operand(), wv.operand(), w1.operand(), w2.operand())) {
		return
	}
	e := b.eng
	e.args.m, e.args.dst, e.args.x, e.args.alpha, e.args.beta = m, d1.data, w1.data, alpha, beta
	e.args.dst2, e.args.x2 = d2.data, w2.data
	if wv != nil {
		e.args.wts, e.args.wts2 = wv.data, wv.data
	}
	e.transPass(e.fGram, e.transParts(&m, 2)) // GramVec's parts and chunks: its bits
	e.reset()
}

// GramDiag sets dst ← α·diag(Xᵀ diag(d) X) + β·dst, dst_j = α·Σ_i d_i·X_ij²
// + β·dst_j (d == nil means d_i = 1), in one pass over the rows of X: each
// chunk adds d_i·(x_ij·x_ij) into its accumulator row by row (dense: four
// rows at a time, which adds to each column in the same row order), and the
// chunks' accumulators are summed in chunk order, as MulVecTrans.
//
// CSR duplicates: X_ij is the sum of row i's entries of column j (NewCSR
// keeps duplicates as given), so the square must be taken after summing.
// NewCSR records the rows that hold a duplicate (there are none in canonical
// CSR). In a row without, every stored entry is squared as it comes; in a
// row with, the values are first summed by column, in CSR order (as the CUDA
// backend sums them), into per-chunk scratch (rowSum, marked in rowSeen), then
// each column of the row is squared and accumulated once, at its first entry.
func (b *Backend) GramDiag(dst backend.Vector, alpha float64, x backend.Matrix, d backend.Vector, beta float64) {
	const op = "GramDiag"
	if !b.ok(op) {
		return
	}
	m, okm := b.mat(op, x)
	dv := b.v(op, dst)
	wv, okw := b.optV(op, d)
	if dv == nil || !okw || !okm {
		return
	}
	if !b.check(op, check.GramDiag(m.rows, m.cols, dv.operand(), wv.operand())) {
		return
	}
	e := b.eng
	e.args.m, e.args.dst, e.args.alpha, e.args.beta = m, dv.data, alpha, beta
	if wv != nil {
		e.args.wts = wv.data
	}
	e.args.rowScratch = m.dupRows != nil
	e.transPass(e.fGramDiag, e.transParts(&m, 1))
	e.reset()
}

func (e *engine) gramDiagPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	m := &a.m
	acc := e.acc[k][:m.cols]
	clear(acc)
	if m.indptr == nil {
		sqCols(m.val, m.cols, lo, hi, a.wts, acc)
		return
	}
	var sum []float64
	var seen []bool
	if m.dupRows != nil {
		sum, seen = e.rowSum[k][:m.cols], e.rowSeen[k][:m.cols]
	}
	for i := lo; i < hi; i++ {
		di := 1.0
		if a.wts != nil {
			di = a.wts[i]
		}
		s, t := m.indptr[i], m.indptr[i+1]
		idx, val := m.indices[s:t], m.val[s:t]
		val = val[:len(idx)]
		if m.dupRows == nil || !m.dupRows[i] {
			for q, j := range idx {
				v := val[q]
				acc[j] += di * (v * v)
			}
			continue
		}
		for q, j := range idx {
			if seen[j] {
				sum[j] += val[q]
			} else {
				seen[j], sum[j] = true, val[q]
			}
		}
		for _, j := range idx {
			if seen[j] {
				seen[j] = false
				v := sum[j]
				acc[j] += di * (v * v)
			}
		}
	}
}

// sqCols adds d_i·(a_ij·a_ij) to acc_j for the rows [lo, hi) of the
// row-major matrix a with cols = len(acc) columns (d == nil: d_i = 1), four
// rows at a time: acc_j is loaded and stored once per four rows, and gets
// the rows' terms in row order, so the result does not depend on how the
// rows are grouped.
func sqCols(a []float64, cols, lo, hi int, d, acc []float64) {
	if cols == 0 {
		return
	}
	acc = acc[:cols]
	wt := func(i int) float64 {
		if d == nil {
			return 1
		}
		return d[i]
	}
	i := lo
	for ; i+4 <= hi; i += 4 {
		r0 := a[i*cols : (i+1)*cols]
		r1 := a[(i+1)*cols : (i+2)*cols]
		r2 := a[(i+2)*cols : (i+3)*cols]
		r3 := a[(i+3)*cols : (i+4)*cols]
		r0, r1, r2, r3 = r0[:len(acc)], r1[:len(acc)], r2[:len(acc)], r3[:len(acc)]
		d0, d1, d2, d3 := wt(i), wt(i+1), wt(i+2), wt(i+3)
		for j, s := range acc {
			x0, x1, x2, x3 := r0[j], r1[j], r2[j], r3[j]
			s += d0 * (x0 * x0)
			s += d1 * (x1 * x1)
			s += d2 * (x2 * x2)
			s += d3 * (x3 * x3)
			acc[j] = s
		}
	}
	for ; i < hi; i++ {
		r := a[i*cols : (i+1)*cols]
		r = r[:len(acc)]
		di := wt(i)
		for j, x := range r {
			acc[j] += di * (x * x)
		}
	}
}

// GLMGrad computes, in one pass over the rows of X, z_i = x_iᵀw and at once
// the loss ℓ(z_i, y_i), curv_i ← ℓ″(z_i, y_i) and acc += ℓ′(z_i, y_i)·x_i
// (for dense matrices by blocks of rows, as GramVec); then dst ← α·acc +
// β·dst. It returns Σ_i ℓ(z_i, y_i): the rows' losses summed in row order
// within a chunk, the chunks' sums in chunk order. The formulas of ℓ are those
// of backend.Loss.
func (b *Backend) GLMGrad(dst backend.Vector, alpha float64, x backend.Matrix, w, y backend.Vector, loss backend.Loss, beta float64, curv backend.Vector) float64 {
	return b.glmGrad("GLMGrad", dst, alpha, x, w, y, loss, beta, curv)
}

// GLMGradNoLoss is GLMGrad without the loss: the same pass with no log1p
// per row (about 5 % of a logistic pass over 20000×2000 with 2 workers);
// dst and curv are GLMGrad's, bit for bit.
func (b *Backend) GLMGradNoLoss(dst backend.Vector, alpha float64, x backend.Matrix, w, y backend.Vector, loss backend.Loss, beta float64, curv backend.Vector) {
	b.glmGrad("GLMGradNoLoss", dst, alpha, x, w, y, loss, beta, curv)
}

func (b *Backend) glmGrad(op string, dst backend.Vector, alpha float64, x backend.Matrix, w, y backend.Vector, loss backend.Loss, beta float64, curv backend.Vector) float64 {
	if !b.ok(op) {
		return nan
	}
	m, okm := b.mat(op, x)
	wv, yv := b.v(op, w), b.v(op, y)
	dv, okd := b.optV(op, dst)
	cv, okc := b.optV(op, curv)
	if wv == nil || yv == nil || !okd || !okc || !okm {
		return nan
	}
	if !b.check(op, check.GLMGrad(m.rows, m.cols, dv.operand(), wv.operand(), yv.operand(), cv.operand(), loss)) {
		return nan
	}
	e := b.eng
	e.args.m, e.args.x, e.args.y, e.args.loss, e.args.glm = m, wv.data, yv.data, loss, true
	e.args.noLoss = op == "GLMGradNoLoss"
	e.args.alpha, e.args.beta = alpha, beta
	if cv != nil {
		e.args.curv = cv.data
	}
	var nk int
	if dv != nil {
		e.args.dst, e.args.grad = dv.data, true
		nk = e.transPass(e.fGLM, e.transParts(&m, 2))
	} else {
		np := e.parts(matWork(&m), partWork, m.rows)
		nk = e.splitChunks(&m, np, 0)
		e.growChunks(nk, 0, false, false)
		e.runChunks(e.fGLM, np, nk)
	}
	e.reset()
	return e.sumPartials(nk)
}

func (e *engine) glmPart(k int) {
	lo, hi := e.span(k)
	a := &e.args
	m := &a.m
	var acc, acc2 []float64
	if a.grad {
		acc = e.acc[k][:m.cols]
		clear(acc)
		if a.x2 != nil {
			acc2 = e.acc2[k][:m.cols]
			clear(acc2)
		}
		if m.indptr == nil && m.cols > 0 && useFMA {
			e.partial[k] = e.fusedFMA(k, lo, hi, acc, acc2)
			return
		}
	}
	var total float64
	for i := lo; i < hi; {
		end := m.blockEnd(i, hi)
		z := e.zbuf[k][:end-i]
		m.dots(i, a.x, z)
		total = e.weigh(i, z, total)
		if acc != nil {
			m.axpys(i, z, acc)
		}
		if acc2 != nil {
			e.secondProduct(i, z, acc2)
		}
		i = end
	}
	e.partial[k] = total
}

// secondProduct adds the block of rows i, …, i+len(z)−1 to the second
// product's accumulator acc2 (GramVecPair, GLMGradGramVec), with the
// portable kernels: the block again, from cache, for the second vector
// (z is scratch; weigh2 makes the coefficients).
func (e *engine) secondProduct(i int, z, acc2 []float64) {
	m := &e.args.m
	m.dots(i, e.args.x2, z)
	e.weigh2(i, z)
	m.axpys(i, z, acc2)
}

// weigh2 turns the products z_t = x_{i+t}ᵀv2 of a block of rows of a
// second product (GramVecPair, GLMGradGramVec) into its coefficients
// d_{i+t}·z_t, with d the weights wts2 (z_t itself when nil): GramVec's
// weigh.
func (e *engine) weigh2(i int, z []float64) {
	if w := e.args.wts2; w != nil {
		for t, d := range w[i : i+len(z)] {
			z[t] *= d
		}
	}
}

// GLMGradGramVec is GLMGradNoLoss(dst, α, x, w, y, loss, β, curv) and
// GramVec(dst2, α, x, curv, v, β) with the curvature it computes (d_i = 1
// when curv is nil: squared loss only), in one pass over the rows of X
// (backend.GLMGradGramVecer): GLMGrad's chunks, kernels and order for the
// gradient, and on every block of rows, right after it, GramVec's for the
// product, while the block is in cache. Each result is that of its own
// operation, bit for bit.
func (b *Backend) GLMGradGramVec(dst, dst2 backend.Vector, alpha float64, x backend.Matrix, w, y backend.Vector, loss backend.Loss, beta float64, curv, v backend.Vector) {
	const op = "GLMGradGramVec"
	if !b.ok(op) {
		return
	}
	m, okm := b.mat(op, x)
	wv, yv, vv, d2 := b.v(op, w), b.v(op, y), b.v(op, v), b.v(op, dst2)
	dv, okd := b.optV(op, dst)
	cv, okc := b.optV(op, curv)
	if wv == nil || yv == nil || vv == nil || d2 == nil || !okd || !okc || !okm {
		return
	}
	if !b.check(op, check.GLMGradGramVec(m.rows, m.cols, dv.operand(), d2.operand(), wv.operand(), yv.operand(), cv.operand(), vv.operand(), loss)) {
		return
	}
	e := b.eng
	e.args.m, e.args.x, e.args.y, e.args.loss, e.args.glm = m, wv.data, yv.data, loss, true
	e.args.noLoss = true
	e.args.alpha, e.args.beta = alpha, beta
	e.args.dst, e.args.grad = dv.data, true
	e.args.dst2, e.args.x2 = d2.data, vv.data
	if cv != nil {
		e.args.curv, e.args.wts2 = cv.data, cv.data
	}
	e.transPass(e.fGLM, e.transParts(&m, 2)) // GLMGrad's parts and chunks: its bits, and GramVec's
	e.reset()
}

// weigh turns the products z_t = x_{i+t}ᵀv of a block of rows of a fused
// pass into the rows' coefficients: d_{i+t}·z_t for GramVec (z_t itself when
// d == nil), ℓ′(z_t, y_{i+t}) for GLMGrad, which also stores ℓ″ in curv (when
// not nil) and returns total + the rows' losses, added one by one in row
// order (GramVec returns total unchanged).
func (e *engine) weigh(i int, z []float64, total float64) float64 {
	a := &e.args
	if !a.glm {
		if a.wts != nil {
			for t, d := range a.wts[i : i+len(z)] {
				z[t] *= d
			}
		}
		return total
	}
	y := a.y[i : i+len(z)]
	for t, zt := range z {
		l, g, h := glm(a.loss, zt, y[t], !a.noLoss)
		total += l
		if a.curv != nil {
			a.curv[i+t] = h
		}
		z[t] = g
	}
	return total
}

// glm returns ℓ(z,y) (0 unless withLoss), ℓ′(z,y) and ℓ″(z,y) for the loss.
func glm(loss backend.Loss, z, y float64, withLoss bool) (l, g, h float64) {
	if loss == backend.Squared {
		r := z - y
		if withLoss {
			l = 0.5 * r * r
		}
		return l, r, 1
	}
	// Logistic: s = −y·z, ℓ = log(1+e^s) = max(s,0) + log1p(e^{−|s|}),
	// ℓ′ = −y·σ(s), ℓ″ = σ(s)σ(−s) = e^{−|s|}/(1+e^{−|s|})².
	s := -y * z
	e := math.Exp(-math.Abs(s))
	if withLoss {
		l = math.Max(s, 0) + math.Log1p(e)
	}
	sig := e / (1 + e) // σ(s) = σ(−|s|) for s < 0
	if s >= 0 {
		sig = 1 / (1 + e) // σ(s) = σ(|s|) for s ≥ 0
	}
	return l, -y * sig, e / ((1 + e) * (1 + e))
}
