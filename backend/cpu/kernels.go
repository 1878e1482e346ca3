package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/floats"
)

// Dense matrices are processed in blocks of rows with gonum's assembly gemv
// kernels, which work on four rows at a time: the vector operand is read once
// per four rows, and an accumulator is loaded and stored once per four rows,
// where row-by-row dot and axpy calls would touch them for every row. A
// fused kernel (GramVec, GLMGrad) computes the dot products of a block and
// accumulates the same block while it is still in cache (≈128 KB, within L2).
// CSR matrices are processed in blocks of rows too, so that the dot
// products of a block, then the loss or weights, then the accumulations run
// as three independent streams of work rather than one dependent chain per row.
const (
	blockBytes   = 128 << 10
	blockEntries = blockBytes / 12 // CSR: 8 bytes of value and 4 of index an entry
	maxBlock     = 64
)

var impl gonum.Implementation

// blockRows returns the rows of one block of a dense matrix with cols > 0
// columns: a multiple of 4 in [4, maxBlock].
func blockRows(cols int) int {
	return min(maxBlock, max(4, (blockBytes/8/cols)&^3))
}

// gemvN sets y ← α·A·x + β·y for the row-major rows×cols matrix a (cols > 0;
// β = 0 overwrites y).
func gemvN(rows, cols int, alpha float64, a, x []float64, beta float64, y []float64) {
	impl.Dgemv(blas.NoTrans, rows, cols, alpha, a, cols, x, 1, beta, y, 1)
}

// gemvT sets y ← Aᵀ·x + y for the row-major rows×cols matrix a (cols > 0).
func gemvT(rows, cols int, a, x, y []float64) {
	impl.Dgemv(blas.Trans, rows, cols, 1, a, cols, x, 1, 1, y, 1)
}

// blockEnd returns the end of the block of rows that starts at row i < hi:
// about blockBytes of the matrix and at most maxBlock rows (at least one).
func (m *matRef) blockEnd(i, hi int) int {
	if m.indptr == nil {
		if m.cols == 0 {
			return min(hi, i+maxBlock)
		}
		return min(hi, i+blockRows(m.cols))
	}
	end, limit := i+1, min(hi, i+maxBlock)
	for end < limit && m.indptr[end+1]-m.indptr[i] <= blockEntries {
		end++
	}
	return end
}

// dots sets z_t ← a_{i+t}ᵀx for the rows i, …, i+len(z)−1.
func (m *matRef) dots(i int, x, z []float64) {
	if m.indptr == nil {
		c := m.cols
		if c == 0 {
			clear(z)
			return
		}
		gemvN(len(z), c, 1, m.val[i*c:(i+len(z))*c], x, 0, z)
		return
	}
	for t := range z {
		lo, hi := m.indptr[i+t], m.indptr[i+t+1]
		z[t] = sparseDot(m.indices[lo:hi], m.val[lo:hi], x)
	}
}

// axpys sets y ← y + Σ_t z_t·a_{i+t} for the rows i, …, i+len(z)−1
// (duplicate CSR entries add up).
func (m *matRef) axpys(i int, z, y []float64) {
	if m.indptr == nil {
		if c := m.cols; c > 0 {
			gemvT(len(z), c, m.val[i*c:(i+len(z))*c], z, y)
		}
		return
	}
	for t, zt := range z {
		lo, hi := m.indptr[i+t], m.indptr[i+t+1]
		sparseAxpy(zt, m.indices[lo:hi], m.val[lo:hi], y)
	}
}

// sparseDot returns Σ_k val_k·x[idx_k], in four interleaved partial sums so
// that the additions do not wait on each other.
func sparseDot(idx []int32, val, x []float64) float64 {
	val = val[:len(idx)]
	var s0, s1, s2, s3 float64
	k := 0
	for ; k+4 <= len(idx); k += 4 {
		v, ix := val[k:k+4:k+4], idx[k:k+4:k+4]
		s0 += v[0] * x[ix[0]]
		s1 += v[1] * x[ix[1]]
		s2 += v[2] * x[ix[2]]
		s3 += v[3] * x[ix[3]]
	}
	for ; k < len(idx); k++ {
		s0 += val[k] * x[idx[k]]
	}
	return (s0 + s1) + (s2 + s3)
}

// sparseAxpy sets y[idx_k] += α·val_k for every k.
func sparseAxpy(alpha float64, idx []int32, val, y []float64) {
	val = val[:len(idx)]
	for k, j := range idx {
		y[j] += alpha * val[k]
	}
}

// transParts returns the number of row parts of an operation that makes
// passes passes' worth of multiply-adds over m and accumulates rows into
// per-part vectors of length cols: each part gets at least partWork
// multiply-adds and at least cols of them, so that zeroing and reducing its
// accumulator is a small share of its work.
func (e *engine) transParts(m *matRef, passes int) int {
	work := matWork(m)
	limit := m.rows
	if m.cols > 0 {
		limit = min(limit, work/m.cols)
	}
	return e.parts(passes*work, partWork, limit)
}

// transPass runs task on np row parts, each accumulating into e.acc[k], and
// then sets dst ← α·(acc_0 + acc_1 + … + acc_{np−1}) + β·dst, each column
// summed in part order (β = 0 overwrites dst). The column range of the
// reduction is itself shared among the workers when long enough; that does
// not change the order in which any column is summed.
func (e *engine) transPass(task func(int), np int) {
	m := &e.args.m
	e.growAcc(np, m.cols)
	e.splitRows(m, np)
	e.run(task, np)

	e.args.np = np
	nc := e.parts(np*m.cols, partElems, m.cols)
	b := e.cbounds
	b[0], b[nc] = 0, m.cols
	for k := 1; k < nc; k++ {
		b[k] = (k * m.cols / nc) &^ 7
	}
	e.run(e.fReduce, nc)
}

func (e *engine) reducePart(k int) {
	lo, hi := e.cbounds[k], e.cbounds[k+1]
	a := &e.args
	s := e.acc[0][lo:hi]
	for _, acc := range e.acc[1:a.np] {
		floats.Add(s, acc[lo:hi])
	}
	finish(a.dst[lo:hi], a.alpha, s, a.beta)
}

// finish sets dst ← α·acc + β·dst; with β = 0, dst ← α·acc.
func finish(dst []float64, alpha float64, acc []float64, beta float64) {
	acc = acc[:len(dst)]
	if beta == 0 {
		for j := range dst {
			dst[j] = alpha * acc[j]
		}
		return
	}
	for j := range dst {
		dst[j] = alpha*acc[j] + beta*dst[j]
	}
}
