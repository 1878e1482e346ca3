package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/floats"
)

// Dense matrices are processed four rows at a time, by one of two sets of
// kernels chosen once per process (useFMA):
//
//   - the AVX2 + FMA3 assembly kernels of fma_amd64.s, on amd64 CPUs that
//     have them (dotsFMA, axpysFMA, fusedFMA below);
//   - the portable kernels, gonum's gemv (SSE2 assembly on amd64, Go
//     elsewhere), on blocks of rows; also used with the purego build tag.
//
// Either way the vector operand is read once per four rows, and an
// accumulator is loaded and stored once per four rows, where row-by-row dot
// and axpy calls would touch them for every row. A fused kernel (GramVec,
// GLMGrad) reads each row from memory once: the portable kernels compute the
// dot products of a block and then accumulate the same block while it is
// still in cache (≈128 KB, within L2); the assembly kernels pipeline the two
// (see fusedFMA). The dense operations are memory-bound: their speed is the
// bandwidth at which X streams in, which the benchmarks report.
//
// CSR matrices are processed in blocks of rows too, so that the dot
// products of a block, then the loss or weights, then the accumulations run
// as three independent streams of work rather than one dependent chain per row.
const (
	blockBytes   = 128 << 10
	blockEntries = blockBytes / 12 // CSR: 8 bytes of value and 4 of index an entry
	maxBlock     = 64
)

var impl gonum.Implementation

// useFMA selects the AVX2 + FMA3 assembly kernels (fma_amd64.s) for dense
// matrices. It is haveFMA, fixed when the package is initialized, so a
// process always uses one set of kernels and results stay bit-identical from
// call to call; the two sets round differently (fused multiply-adds, other
// summation orders), within the conformance tolerances. Tests turn it off
// between operations to check the portable kernels on the same machine.
var useFMA = haveFMA

// useAVX512 selects the AVX-512F kernels where the CPU has them
// (haveAVX512): gram4AVX512 for the fused pass's step, dot4x4AVX512 and
// axpy4x2AVX512 for the block products and the softmax passes (dotPairs,
// axpy4x2), each with the bits of its AVX2 counterpart from half the
// instructions. Tests turn it off to check the AVX2 kernels on the same
// machine.
var useAVX512 = haveAVX512

// gram4 is the fused pass's step (gram4FMA's contract) with the kernel
// useAVX512 selects.
func gram4(a []float64, stride int, c *[4]float64, x, y []float64, z *[4]float64) {
	if useAVX512 {
		gram4AVX512(a, stride, c, x, y, z)
		return
	}
	gram4FMA(a, stride, c, x, y, z)
}

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
		a := m.val[i*c : (i+len(z))*c]
		if useFMA {
			dotsFMA(a, x, z)
			return
		}
		gemvN(len(z), c, 1, a, x, 0, z)
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
			a := m.val[i*c : (i+len(z))*c]
			if useFMA {
				axpysFMA(a, z, y[:c])
				return
			}
			gemvT(len(z), c, a, z, y)
		}
		return
	}
	for t, zt := range z {
		lo, hi := m.indptr[i+t], m.indptr[i+t+1]
		sparseAxpy(zt, m.indices[lo:hi], m.val[lo:hi], y)
	}
}

// dotsFMA sets z_t ← a_tᵀx for the len(z) rows a_t = a[t·n:(t+1)·n] of the
// row-major block a, n = len(x) > 0: four rows at a time (dot4FMA reads x
// once for four rows), the last len(z) mod 4 rows one by one. Both kernels
// sum a row in the same order, so z_t depends only on a_t and x, not on
// where the row falls in the block.
func dotsFMA(a, x, z []float64) {
	n := len(x)
	a = a[:len(z)*n]
	t := 0
	for ; t+4 <= len(z); t += 4 {
		dot4FMA(a[t*n:(t+4)*n], n, x, (*[4]float64)(z[t:t+4]))
	}
	for ; t < len(z); t++ {
		z[t] = dot1FMA(a[t*n:(t+1)*n], x)
	}
}

// axpysFMA sets y ← y + Σ_t z_t·a_t for the len(z) rows a_t = a[t·n:(t+1)·n]
// of the row-major block a, n = len(y) > 0: four rows at a time (axpy4FMA
// loads and stores y once for four rows), the rest one by one. Each y_j
// gets one fused multiply-add per row in row order, so the result depends
// only on the rows and their order, not on how they are grouped.
func axpysFMA(a, z, y []float64) {
	n := len(y)
	a = a[:len(z)*n]
	t := 0
	for ; t+4 <= len(z); t += 4 {
		axpy4FMA(a[t*n:(t+4)*n], n, (*[4]float64)(z[t:t+4]), y)
	}
	for ; t < len(z); t++ {
		axpy1FMA(z[t], a[t*n:(t+1)*n], y)
	}
}

// fusedFMA is the fused pass of GramVec and GLMGrad (weigh says which) over
// the rows [lo, hi) of part k of a dense matrix with cols > 0, with the FMA
// kernels (fma_amd64.s, or their Go versions in fma_other.go): it adds Σ_i c_i·x_i into acc, c_i the coefficient weigh
// makes of z_i = x_iᵀv, and returns the sum of the rows' losses (GLMGrad).
//
// It works on blocks of four rows, software-pipelined: gram4 accumulates
// block B, whose coefficients are known, and in the same loop over the
// columns computes the products of block B+1. So every step reads four new
// rows from memory in one steady stream while it rereads block B from cache
// (64 KB for 2000 columns, within L2), instead of alternating between a
// memory-bound loop and a cache-bound one. The prologue (dot4FMA) and the
// epilogue (axpy4FMA) handle the first and last blocks; rows beyond a
// multiple of four go one by one. The bits are those of dotsFMA followed by
// axpysFMA on each block in row order (TestFusedFMA), and the losses are
// summed in row order.
//
// The reread of block B from L2 is what separates the fused pass from a
// plain MulVec: with the same loop reading block B+1 twice instead (wrong
// results, for the measurement only) it ran at MulVec's speed. So gram4FMA
// prefetches, one cache line per row per iteration, the four new rows 1024
// bytes ahead into L2 (PREFETCHT1) and the four reread rows 256 bytes ahead
// into L1 (PREFETCHT0); prefetches change no bits. Without them, with only
// the new rows prefetched into L1, at other distances or with a
// non-temporal hint (the rows are then gone before the reread) it measured
// slower. The same prefetch in dot4FMA made MulVec slower, so dot4FMA has
// none. Pipelining measured faster than the same kernels unpipelined (dot
// products of a block, then its accumulation, also with the accumulation
// walking the columns backwards to reread the block's tail from L1); 2-, 6-
// and 8-row steps, alternating the column direction and column tiling
// measured no better. Where the CPU has AVX-512F, gram4AVX512 runs the same
// step on 512-bit registers (one load per row and cache line): its fused
// passes ran as fast as MulVec, where gram4FMA's are slower by the reread.
// It prefetches only the new rows: the reread rows' prefetch made it slower.
// The figures are in results/ (the backend-core and peers runs).
//
// With acc2 (GramVecPair, GLMGradGramVec), every step runs the same kernels
// a second time for the second vector into acc2, on the rows just read (from
// cache), with the coefficients weigh2 makes (after weigh, whose curvature
// GLMGradGramVec's weigh2 reads): each product gets the bits of its own
// pass. On the 2-core VM (20000×2000) such a pass
// took 1.34–1.45 times one product's (the second reads the rows from L2).
func (e *engine) fusedFMA(k, lo, hi int, acc, acc2 []float64) float64 {
	m := &e.args.m
	n := m.cols
	v, acc := e.args.x[:n], acc[:n] // the kernels' n is len(v), and they write n of acc
	two := acc2 != nil
	var v2 []float64
	if two {
		v2, acc2 = e.args.x2[:n], acc2[:n]
	}
	zb := e.zbuf[k]
	z, next := (*[4]float64)(zb[0:4]), (*[4]float64)(zb[4:8])
	z2, next2 := (*[4]float64)(zb[8:12]), (*[4]float64)(zb[12:16])
	var total float64
	i := lo
	if hi-lo >= 4 {
		dot4FMA(m.val[i*n:(i+4)*n], n, v, z)
		if two {
			dot4FMA(m.val[i*n:(i+4)*n], n, v2, z2)
		}
		for ; i+8 <= hi; i += 4 {
			total = e.weigh(i, z[:], total)
			gram4(m.val[i*n:(i+8)*n], n, z, v, acc, next)
			*z = *next
			if two {
				e.weigh2(i, z2[:])
				gram4(m.val[i*n:(i+8)*n], n, z2, v2, acc2, next2)
				*z2 = *next2
			}
		}
		total = e.weigh(i, z[:], total)
		axpy4FMA(m.val[i*n:(i+4)*n], n, z, acc)
		if two {
			e.weigh2(i, z2[:])
			axpy4FMA(m.val[i*n:(i+4)*n], n, z2, acc2)
		}
		i += 4
	}
	for ; i < hi; i++ {
		row := m.val[i*n : (i+1)*n]
		zb[0] = dot1FMA(row, v)
		total = e.weigh(i, zb[:1], total)
		axpy1FMA(zb[0], row, acc)
		if two {
			zb[8] = dot1FMA(row, v2)
			e.weigh2(i, zb[8:9])
			axpy1FMA(zb[8], row, acc2)
		}
	}
	return total
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

// transPass runs task on the chunks of a row pass that np goroutines share
// (splitChunks, runChunks), chunk k accumulating into e.acc[k], and then
// sets dst ← α·(acc_0 + acc_1 + … + acc_{nk−1}) + β·dst, each column summed
// in chunk order (β = 0 overwrites dst). The column range of the reduction
// is itself shared among the workers when long enough; that does not change
// the order in which any column is summed. It returns the number of chunks.
func (e *engine) transPass(task func(int), np int) int {
	m := &e.args.m
	nk := e.splitChunks(m, np, m.cols)
	e.growChunks(nk, m.cols, true, e.args.x2 != nil)
	if e.args.rowScratch {
		e.growRowScratch(nk, m.cols)
	}
	e.runChunks(task, np, nk)

	e.args.np = nk
	nc := e.parts(nk*m.cols, partElems, m.cols)
	b := e.cbounds
	b[0], b[nc] = 0, m.cols
	for k := 1; k < nc; k++ {
		b[k] = (k * m.cols / nc) &^ 7
	}
	e.run(e.fReduce, nc)
	if e.args.x2 != nil {
		e.args.second = true
		e.run(e.fReduce, nc)
	}
	return nk
}

func (e *engine) reducePart(k int) {
	lo, hi := e.cbounds[k], e.cbounds[k+1]
	a := &e.args
	accs, dst := e.acc, a.dst
	if a.second {
		accs, dst = e.acc2, a.dst2
	}
	s := accs[0][lo:hi]
	for _, acc := range accs[1:a.np] {
		floats.Add(s, acc[lo:hi])
	}
	finish(dst[lo:hi], a.alpha, s, a.beta)
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
