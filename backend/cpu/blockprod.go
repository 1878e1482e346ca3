package cpu

import (
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// blockArgs resolves and checks the operands of MulBlock (trans false) and
// MulBlockTrans.
func (b *Backend) blockArgs(op string, dst backend.Block, x backend.Matrix, w backend.Block, trans bool) (*vec, matRef, *vec) {
	if !b.ok(op) {
		return nil, matRef{}, nil
	}
	m, okm := b.mat(op, x)
	d, wv := b.v(op, dst), b.v(op, w)
	if d == nil || wv == nil || !okm {
		return nil, matRef{}, nil
	}
	if !b.check(op, check.MulBlock(m.rows, m.cols, trans, d.operand(), wv.operand())) {
		return nil, matRef{}, nil
	}
	return d, m, wv
}

// MulBlock sets dst ← α·X·W + β·dst for X rows×cols, W cols×k and dst
// rows×k: dst_ic = α·z_ic + β·dst_ic (β = 0: α·z_ic) with z_ic = x_iᵀw_c,
// w_c column c of W, in one pass over the rows of X. Rows are independent:
// the parts need no reduction, and the result does not depend on Workers.
//
// Dense X: W is first transposed into scratch (k×cols). With the FMA
// kernels, four rows at a time are multiplied by the k columns in tiles of
// columns that sit in L1 (mulBlockFMA, dot4x2FMA), so X streams in once and
// each tile is reread from L1 k/2 times; with the portable ones, each block
// of rows (blockEnd: about 128 KB) is multiplied by the columns one after
// another with gonum's gemv (dots), the chunks starting on multiples of four
// rows. CSR X: row by row, z_i = Σ_q v_q·W[j_q, ·] over the stored entries
// (v_q, j_q) of row i in stored order, a k-long axpy of a row of W per entry.
func (b *Backend) MulBlock(dst backend.Block, alpha float64, x backend.Matrix, w backend.Block, beta float64) {
	d, m, wv := b.blockArgs("MulBlock", dst, x, w, false)
	if d == nil {
		return
	}
	b.eng.mulBlock(m, d.data, alpha, wv.data, wv.cols, nil, beta)
}

// mulBlock runs MulBlock of dst ← α·X·W + β·dst, W cols×k; for a dense X,
// wt is Wᵀ (k×cols) when the caller has it (Gemm with op(B) = Bᵀ), nil to
// transpose W into scratch.
func (e *engine) mulBlock(m matRef, dst []float64, alpha float64, w []float64, k int, wt []float64, beta float64) {
	e.args.m, e.args.dst, e.args.x, e.args.k, e.args.alpha, e.args.beta = m, dst, w, k, alpha, beta
	if m.indptr == nil {
		if wt == nil {
			e.wt = transpose(e.wt, w, m.cols, k)
			wt = e.wt
		}
		e.args.wt = wt[:k*m.cols]
		e.args.wti = e.pairsFor(e.args.wt, k, m.cols)
	}
	np := e.parts(matWork(&m)*max(k, 1), partWork, m.rows)
	nk := e.splitChunks(&m, np, 0)
	if m.indptr == nil {
		// Chunks start on multiples of four rows, as do the blocks within
		// a chunk (blockRows), so every row falls in the same group of
		// four rows of the kernels whatever Workers is: gonum's gemv sums a
		// row in an order that depends on its group.
		for q := 1; q < nk; q++ {
			e.bounds[q] &^= 3
		}
	}
	scratch := k // CSR: the row's k sums
	if m.indptr == nil && useFMA {
		scratch = 32 * ((k + 1) / 2) // the lanes of dot4x2FMA
	}
	e.growChunks(nk, scratch, true, false)
	e.runChunks(e.fMulBlock, np, nk)
	e.reset()
}

// interleavePairs sets buf (grown if needed) to the pairs of rows of wt (Wᵀ,
// k×n) that dot4x4AVX512 reads, interleaved four columns at a time over the
// first n4 = n − n mod 4 columns: pair q, of the rows c_0 = 2q and c_1 =
// min(2q+1, k−1) (the pairs of dot4x2FMA), is buf[2·n4·q : 2·n4·(q+1)], with
// buf[2·n4·q + 8m + 4v + l] = wt[c_v·n + 4m + l].
func interleavePairs(buf, wt []float64, k, n int) []float64 {
	n4 := n &^ 3
	pairs := (k + 1) / 2
	size := 2 * n4 * pairs
	if cap(buf) < size {
		buf = make([]float64, size)
	}
	buf = buf[:size]
	for q := range pairs {
		out := buf[2*n4*q : 2*n4*(q+1)]
		for v, c := range [2]int{2 * q, min(2*q+1, k-1)} {
			w := wt[c*n : c*n+n4]
			for j := 0; j < n4; j += 4 {
				copy(out[2*j+4*v:2*j+4*v+4], w[j:j+4])
			}
		}
	}
	return buf
}

// dotPairs adds to lanes (32 a pair of columns of W: dot4x2FMA's) the
// products of the four rows at a stride in rows (each the tile [j0, j1) of
// its row, j0 and j1 multiples of 4) with the pairs of rows of Wᵀ (wt, k×n)
// over the same columns: two pairs at a time by dot4x4AVX512 from wti
// (interleavePairs) where useAVX512 and wti is given, the others by
// dot4x2FMA. Either way each lane gets the bits of dot4x2FMA.
func dotPairs(rows []float64, stride int, wt, wti []float64, k, n, j0, j1 int, lanes []float64) {
	pairs := (k + 1) / 2
	q := 0
	if useAVX512 && wti != nil {
		n4 := n &^ 3
		for ; q+2 <= pairs; q += 2 {
			x01 := wti[2*n4*q+2*j0 : 2*n4*q+2*j1]
			x23 := wti[2*n4*(q+1)+2*j0 : 2*n4*(q+1)+2*j1]
			dot4x4AVX512(rows, stride, x01, x23, (*[64]float64)(lanes[32*q:32*q+64]))
		}
	}
	for ; q < pairs; q++ {
		c0, c1 := 2*q, min(2*q+1, k-1)
		dot4x2FMA(rows, stride, wt[c0*n+j0:c0*n+j1], wt[c1*n+j0:c1*n+j1], (*[32]float64)(lanes[32*q:32*q+32]))
	}
}

// axpy4x2 is axpy4x2FMA's contract with the kernel useAVX512 selects.
func axpy4x2(a []float64, stride int, c *[8]float64, y0, y1 []float64) {
	if useAVX512 {
		axpy4x2AVX512(a, stride, c, y0, y1)
		return
	}
	axpy4x2FMA(a, stride, c, y0, y1)
}

// pairsFor sets e.wti to wt's interleaved pairs and returns it where
// dotPairs will read them (a dense pass with the AVX-512 kernels and at
// least two pairs of columns), else nil.
func (e *engine) pairsFor(wt []float64, k, n int) []float64 {
	if !useFMA || !useAVX512 || (k+1)/2 < 2 {
		return nil
	}
	e.wti = interleavePairs(e.wti, wt, k, n)
	return e.wti
}

// transpose sets buf (grown if needed) to the transpose of the row-major
// rows×cols matrix a and returns it.
func transpose(buf, a []float64, rows, cols int) []float64 {
	n := rows * cols
	if cap(buf) < n {
		buf = make([]float64, n)
	}
	t := buf[:n]
	for i := range rows {
		for j, v := range a[i*cols : (i+1)*cols] {
			t[j*rows+i] = v
		}
	}
	return buf
}

func (e *engine) mulBlockPart(p int) {
	lo, hi := e.span(p)
	a := &e.args
	m, k := &a.m, a.k
	if k == 0 {
		return
	}
	alpha, beta := a.alpha, a.beta
	if m.indptr != nil {
		t := e.acc[p][:k]
		for i := lo; i < hi; i++ {
			clear(t)
			s, end := m.indptr[i], m.indptr[i+1]
			idx, val := m.indices[s:end], m.val[s:end]
			val = val[:len(idx)]
			for q, j := range idx {
				v, w := val[q], a.x[int(j)*k:(int(j)+1)*k]
				w = w[:len(t)]
				for c, wc := range w {
					t[c] += v * wc
				}
			}
			finish(a.dst[i*k:(i+1)*k], alpha, t, beta)
		}
		return
	}
	if useFMA {
		e.mulBlockFMA(p, lo, hi)
		return
	}
	n := m.cols
	wt := a.wt
	for i := lo; i < hi; {
		end := m.blockEnd(i, hi)
		z := e.zbuf[p][:end-i]
		for c := range k {
			m.dots(i, wt[c*n:(c+1)*n], z)
			d := a.dst[i*k+c : (end-1)*k+c+1]
			if beta == 0 {
				for t, zt := range z {
					d[t*k] = alpha * zt
				}
				continue
			}
			for t, zt := range z {
				d[t*k] = alpha*zt + beta*d[t*k]
			}
		}
		i = end
	}
}

// tileCols returns the columns of the tiles in which the FMA kernels of
// MulBlock and MulBlockTrans take four rows of a dense matrix with n
// columns against k vectors: a multiple of 8 such that the four rows' tile
// and the k vectors' fit in about 24 KB (L1), at least 64.
func tileCols(n, k int) int {
	return min(max(64, (3072/(4+k))&^7), max(n, 1))
}

// mulBlockFMA is the dense MulBlock of the rows [lo, hi) with the FMA
// kernels: for four rows at a time, dotPairs (dot4x2FMA, or dot4x4AVX512
// with the same bits) takes the columns in tiles (tileCols) and in each
// tile the columns of W (the rows of Wᵀ) two by two while the tile sits in L1, accumulating lanes (e.acc[p]); then each
// product is reduced as z = (l0+l1) + (l2+l3), the last n mod 4 columns are
// added by fused multiply-adds in order, and dst_ic ← α·z + β·dst_ic. The
// last rows (fewer than four) go one by one as a row repeated four times
// (stride 0), so every z_ic has the same bits whatever the grouping, the
// tiling, or the partner of its column (with odd k the last column is
// paired with itself).
func (e *engine) mulBlockFMA(p, lo, hi int) {
	a := &e.args
	m, k := &a.m, a.k
	n := m.cols
	n4 := n &^ 3
	wt := a.wt
	pairs := (k + 1) / 2
	lanes := e.acc[p][:32*pairs]
	tile := tileCols(n4, k)
	alpha, beta := a.alpha, a.beta
	for i := lo; i < hi; {
		stride, nr := n, 4
		if hi-i < 4 {
			stride, nr = 0, 1
		}
		clear(lanes)
		for j0 := 0; j0 < n4; j0 += tile {
			j1 := min(n4, j0+tile)
			dotPairs(m.val[i*n+j0:i*n+3*stride+j1], stride, wt, a.wti, k, n, j0, j1, lanes)
		}
		for r := range nr {
			row := m.val[(i+r)*n : (i+r+1)*n]
			d := a.dst[(i+r)*k : (i+r+1)*k]
			for c := range d {
				l := lanes[32*(c/2)+4*(2*r+c%2):]
				l = l[:4]
				z := (l[0] + l[1]) + (l[2] + l[3])
				w := wt[c*n : (c+1)*n]
				for j := n4; j < n; j++ {
					z = math.FMA(row[j], w[j], z)
				}
				if beta == 0 {
					d[c] = alpha * z
				} else {
					d[c] = alpha*z + beta*d[c]
				}
			}
		}
		i += nr
	}
}

// MulBlockTrans sets dst ← α·Xᵀ·G + β·dst for X rows×cols, G rows×k and dst
// cols×k: dst_jc = α·s_jc + β·dst_jc (β = 0: α·s_jc), s_jc = Σ_i x_ij·g_ic,
// in one pass over the rows of X cut into chunks (splitChunks), each chunk
// accumulating its rows in row order into its own accumulator, the
// accumulators then summed in chunk order (as MulVecTrans).
//
// Dense X: the accumulator is k×cols, row c holding Σ_i g_ic·x_i. With the
// FMA kernels, four rows at a time are added to it in tiles of columns that
// sit in L1, two rows of the accumulator at a time (mulBlockTFMA,
// axpy4x2FMA); with the portable ones, each block of rows (blockEnd) is
// added to the k rows one after another with gonum's gemv (axpys). The
// reduction transposes the sum into dst. CSR X: the accumulator is cols×k,
// and each stored entry (v, j) of row i adds v·g_i to its row j (a k-long
// axpy).
func (b *Backend) MulBlockTrans(dst backend.Block, alpha float64, x backend.Matrix, g backend.Block, beta float64) {
	d, m, gv := b.blockArgs("MulBlockTrans", dst, x, g, true)
	if d == nil {
		return
	}
	b.eng.mulBlockTrans(m, d.data, alpha, gv.data, gv.cols, beta)
}

// mulBlockTrans runs MulBlockTrans of dst ← α·Xᵀ·G + β·dst, G rows×k.
func (e *engine) mulBlockTrans(m matRef, dst []float64, alpha float64, g []float64, k int, beta float64) {
	e.args.m, e.args.dst, e.args.x, e.args.k, e.args.alpha, e.args.beta = m, dst, g, k, alpha, beta
	n := m.cols * k // accumulator length
	np := e.transParts(&m, max(k, 1))
	nk := e.splitChunks(&m, np, m.cols)
	e.growChunks(nk, n, true, false)
	if m.indptr == nil && useFMA {
		growAcc(&e.coef, nk, 4*k)
	}
	e.runChunks(e.fMulBlockT, np, nk)

	e.args.np = nk
	nc := e.parts(nk*n, partElems, m.cols)
	cb := e.cbounds
	cb[0], cb[nc] = 0, m.cols
	for q := 1; q < nc; q++ {
		cb[q] = q * m.cols / nc
	}
	e.run(e.fBlockRed, nc)
	e.reset()
}

func (e *engine) mulBlockTPart(p int) {
	lo, hi := e.span(p)
	a := &e.args
	m, k := &a.m, a.k
	n := m.cols
	acc := e.acc[p][:n*k]
	clear(acc)
	if k == 0 {
		return
	}
	g := a.x
	if m.indptr != nil {
		for i := lo; i < hi; i++ {
			gi := g[i*k : (i+1)*k]
			s, end := m.indptr[i], m.indptr[i+1]
			idx, val := m.indices[s:end], m.val[s:end]
			val = val[:len(idx)]
			for q, j := range idx {
				v, r := val[q], acc[int(j)*k:(int(j)+1)*k]
				r = r[:len(gi)]
				for c, gc := range gi {
					r[c] += v * gc
				}
			}
		}
		return
	}
	if useFMA {
		e.mulBlockTFMA(p, lo, hi, acc)
		return
	}
	for i := lo; i < hi; {
		end := m.blockEnd(i, hi)
		z := e.zbuf[p][:end-i]
		for c := range k {
			gc := g[i*k+c : (end-1)*k+c+1]
			for t := range z {
				z[t] = gc[t*k]
			}
			m.axpys(i, z, acc[c*n:(c+1)*n])
		}
		i = end
	}
}

// mulBlockTFMA accumulates the rows [lo, hi) of a dense X for
// MulBlockTrans into acc (k×cols) with the FMA kernels: four rows at a
// time, in tiles of columns (tileCols), each tile of the four rows added to
// the rows of acc two by two (axpy4x2, with axpy4x2FMA's bits; axpy4FMA
// for the last of an odd k) while it sits in L1; the last rows one by one (axpy1FMA). Each element
// of acc gets one fused multiply-add per row in row order, the bits of
// axpysFMA.
func (e *engine) mulBlockTFMA(p, lo, hi int, acc []float64) {
	a := &e.args
	m, k := &a.m, a.k
	n, g := m.cols, a.x
	if n == 0 {
		return
	}
	coef := e.coef[p][:4*k] // coef[4c+r] = g_{i+r,c}
	tile := tileCols(n, k)
	i := lo
	for ; i+4 <= hi; i += 4 {
		for c := range k {
			for r := range 4 {
				coef[4*c+r] = g[(i+r)*k+c]
			}
		}
		for j0 := 0; j0 < n; j0 += tile {
			j1 := min(n, j0+tile)
			rows := m.val[i*n+j0 : (i+3)*n+j1]
			c := 0
			for ; c+2 <= k; c += 2 {
				axpy4x2(rows, n, (*[8]float64)(coef[4*c:4*c+8]), acc[c*n+j0:c*n+j1], acc[(c+1)*n+j0:(c+1)*n+j1])
			}
			if c < k {
				axpy4FMA(rows, n, (*[4]float64)(coef[4*c:4*c+4]), acc[c*n+j0:c*n+j1])
			}
		}
	}
	for ; i < hi; i++ {
		row := m.val[i*n : (i+1)*n]
		for c := range k {
			axpy1FMA(g[i*k+c], row, acc[c*n:(c+1)*n])
		}
	}
}

// blockReducePart sums the chunks' accumulators of MulBlockTrans in chunk
// order over the columns [lo, hi) of X and sets those rows of dst.
func (e *engine) blockReducePart(p int) {
	lo, hi := e.cbounds[p], e.cbounds[p+1]
	a := &e.args
	k, n := a.k, a.m.cols
	accs := e.acc[:a.np]
	if a.m.indptr != nil { // cols×k accumulators: dst's layout
		s := accs[0][lo*k : hi*k]
		for _, acc := range accs[1:] {
			floats.Add(s, acc[lo*k:hi*k])
		}
		finish(a.dst[lo*k:hi*k], a.alpha, s, a.beta)
		return
	}
	if lo == hi {
		return
	}
	for c := range k { // k×cols accumulators: transposed into dst
		s := accs[0][c*n+lo : c*n+hi]
		for _, acc := range accs[1:] {
			floats.Add(s, acc[c*n+lo:c*n+hi])
		}
		d := a.dst[lo*k+c:]
		if a.beta == 0 {
			for t, v := range s {
				d[t*k] = a.alpha * v
			}
			continue
		}
		for t, v := range s {
			d[t*k] = a.alpha*v + a.beta*d[t*k]
		}
	}
}
