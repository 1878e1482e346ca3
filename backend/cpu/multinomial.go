package cpu

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

var _ backend.Multinomial = (*Backend)(nil)

// SoftmaxGrad sets dst ← α·Xᵀ·G + β·dst (β = 0: α·Xᵀ·G), G_ij = d_i·(p_ij −
// [j = y_i]) (d == nil: no factor), and, where given, prob ← P and loss_i ←
// CE_i, for Z = X·W and P = softmax(Z) (backend.Multinomial), in one pass
// over the rows of X. For each row i:
//
//	z_i = x_iᵀW                 the k sums of MulBlock, with its bits
//	m = max_j z_ij (NaN if one is), e_j = exp(z_ij − m), s = Σ_j e_j in order
//	p_ij = e_j/s, loss_i = lse(m, s) − z_{i,y_i}, g_ij = d_i·(p_ij − [j = y_i])
//
// (the bits of Softmax, CrossEntropy and ScaleRows on Z), and g_i is added
// into the chunk's accumulator as MulBlockTrans adds row i of G, while
// x_i is in cache. The rows are cut into MulBlockTrans' parts and chunks,
// and the accumulators reduced as its are, so dst has the bits of the
// composition MulBlock → CrossEntropy → ScaleRows → MulBlockTrans — except
// with the portable kernels on a dense X, where the chunks start on
// multiples of four rows (gonum's gemv sums a row of Z in an order that
// depends on its group of four, and MulBlock's groups are aligned so): then
// dst matches where MulBlockTrans' chunk boundaries are multiples of four.
// The result depends on Workers only through the chunks (as MulBlockTrans).
//
// Dense X with the FMA kernels: up to sixteen rows at a time (softmaxFMA),
// Z's lanes by dot4x2FMA over tiles of columns (mulBlockFMA's), the rows'
// softmax, then G's rows added by axpy4x2FMA over tiles (mulBlockTFMA's);
// the last rows of a chunk one by one. Portable kernels: blocks of rows
// (blockEnd), Z's columns by gemv, the rows' softmax, then G's columns by
// gemv. CSR X: blocks of rows (blockEnd), the k sums of each row (MulBlock's
// CSR loop), the rows' softmax, then each row's entries adding v·g_i to
// the accumulator (MulBlockTrans' CSR loop), rows in order; working on a
// block rather than a row lets the three run as independent streams.
func (b *Backend) SoftmaxGrad(dst backend.Block, alpha float64, x backend.Matrix, w backend.Block, y backend.Labels, d backend.Vector, beta float64, prob backend.Block, loss backend.Vector) {
	const op = "SoftmaxGrad"
	if !b.ok(op) {
		return
	}
	m, okm := b.mat(op, x)
	dv, wv := b.v(op, dst), b.v(op, w)
	yl := b.lab(op, y)
	dd, okd := b.optV(op, d)
	pv, okp := b.optV(op, prob)
	lv, okl := b.optV(op, loss)
	if dv == nil || wv == nil || yl == nil || !okd || !okp || !okl || !okm {
		return
	}
	if !b.check(op, check.SoftmaxGrad(m.rows, m.cols, dv.operand(), wv.operand(), len(yl.y), yl.classes,
		dd.operand(), pv.operand(), lv.operand())) {
		return
	}
	e := b.eng
	e.args.lab = yl.y
	if dd != nil {
		e.args.wts = dd.data
	}
	if pv != nil {
		e.args.prob = pv.data
	}
	if lv != nil {
		e.args.rowLoss = lv.data
	}
	e.softmaxPass(m, dv.data, alpha, wv.data, wv.cols, beta)
	e.reset()
}

// SoftmaxHessBlock sets dst ← α·Xᵀ·R + β·dst (β = 0: α·Xᵀ·R) with, for each
// row i, u_i = x_iᵀV (MulBlock's sums, with its bits), c_i = Σ_j p_ij·u_ij
// summed in column order, and r_ij = d_i·(p_ij·u_ij − p_ij·c_i) (d == nil:
// no factor), in one pass over the rows of X: SoftmaxGrad's kernels, parts,
// chunks and reduction, with R in the place of G.
func (b *Backend) SoftmaxHessBlock(dst backend.Block, alpha float64, x backend.Matrix, p backend.Block, d backend.Vector, v backend.Block, beta float64) {
	const op = "SoftmaxHessBlock"
	if !b.ok(op) {
		return
	}
	m, okm := b.mat(op, x)
	dv, pv, vv := b.v(op, dst), b.v(op, p), b.v(op, v)
	dd, okd := b.optV(op, d)
	if dv == nil || pv == nil || vv == nil || !okd || !okm {
		return
	}
	if !b.check(op, check.SoftmaxHessBlock(m.rows, m.cols, dv.operand(), pv.operand(), dd.operand(), vv.operand())) {
		return
	}
	if pv.cols == 0 { // dst is cols×0
		return
	}
	e := b.eng
	e.args.hess, e.args.prob = true, pv.data
	if dd != nil {
		e.args.wts = dd.data
	}
	e.softmaxPass(m, dv.data, alpha, vv.data, vv.cols, beta)
	e.reset()
}

// softmaxChunks cuts the rows of m for SoftmaxGrad and SoftmaxHessBlock
// with k classes into MulBlockTrans' parts and chunks, the chunk
// boundaries rounded down to multiples of four rows for a dense m with the
// portable kernels, records them in e.bounds and returns the number of
// parts and of chunks.
func (e *engine) softmaxChunks(m *matRef, k int) (np, nk int) {
	np = e.transParts(m, max(k, 1))
	nk = e.splitChunks(m, np, m.cols)
	if m.indptr == nil && !useFMA {
		for q := 1; q < nk; q++ {
			e.bounds[q] &^= 3
		}
	}
	return np, nk
}

// softmaxPass runs SoftmaxGrad (e.args.hess false) or SoftmaxHessBlock of
// dst ← α·Xᵀ·G + β·dst, G made row by row from x_iᵀW, W cols×k; the other
// operands (labels, d, prob, loss) are in e.args.
func (e *engine) softmaxPass(m matRef, dst []float64, alpha float64, w []float64, k int, beta float64) {
	a := &e.args
	a.m, a.dst, a.x, a.k, a.alpha, a.beta = m, dst, w, k, alpha, beta
	dense := m.indptr == nil
	if dense {
		e.wt = transpose(e.wt, w, m.cols, k)
		a.wt = e.wt[:k*m.cols]
		a.wti = e.pairsFor(a.wt, k, m.cols)
	}
	np, nk := e.softmaxChunks(&m, k)
	e.growChunks(nk, m.cols*k, true, false)
	scratch := maxBlock * k // a block of rows of Z (then G)
	if dense && useFMA {
		scratch = softmaxGroups * (32*((k+1)/2) + 4*k) // the lanes of dot4x2FMA, the rows of Z
		growAcc(&e.coef, nk, softmaxGroups*4*k)
	}
	growAcc(&e.softRows, nk, scratch)
	e.runChunks(e.fSoftmaxGrad, np, nk)

	// The reduction of MulBlockTrans.
	a.np = nk
	nc := e.parts(nk*m.cols*k, partElems, m.cols)
	cb := e.cbounds
	cb[0], cb[nc] = 0, m.cols
	for q := 1; q < nc; q++ {
		cb[q] = q * m.cols / nc
	}
	e.run(e.fBlockRed, nc)
}

// softmaxGradPart accumulates the rows of chunk p into its accumulator.
func (e *engine) softmaxGradPart(p int) {
	lo, hi := e.span(p)
	a := &e.args
	m, k := &a.m, a.k
	n := m.cols
	acc := e.acc[p][:n*k]
	clear(acc)
	buf := e.softRows[p]
	if m.indptr != nil {
		zb := buf[:maxBlock*k]
		for i := lo; i < hi; {
			end := m.blockEnd(i, hi)
			for r := i; r < end; r++ {
				t := zb[(r-i)*k : (r-i+1)*k]
				q0, q1 := m.indptr[r], m.indptr[r+1]
				idx, val := m.indices[q0:q1], m.val[q0:q1]
				val = val[:len(idx)]
				clear(t)
				for q, j := range idx {
					v, w := val[q], a.x[int(j)*k:(int(j)+1)*k]
					w = w[:len(t)]
					for c, wc := range w {
						t[c] += v * wc
					}
				}
			}
			for r := i; r < end; r++ {
				e.softmaxRow(r, zb[(r-i)*k:(r-i+1)*k])
			}
			for r := i; r < end; r++ {
				t := zb[(r-i)*k : (r-i+1)*k]
				q0, q1 := m.indptr[r], m.indptr[r+1]
				idx, val := m.indices[q0:q1], m.val[q0:q1]
				val = val[:len(idx)]
				for q, j := range idx {
					v, acc := val[q], acc[int(j)*k:(int(j)+1)*k]
					acc = acc[:len(t)]
					for c, gc := range t {
						acc[c] += v * gc
					}
				}
			}
			i = end
		}
		return
	}
	if useFMA {
		e.softmaxFMA(p, lo, hi, acc)
		return
	}
	wt := a.wt
	zb := buf[:maxBlock*k]
	for i := lo; i < hi; {
		end := m.blockEnd(i, hi)
		z := e.zbuf[p][:end-i]
		for c := range k {
			m.dots(i, wt[c*n:(c+1)*n], z)
			for t, zt := range z {
				zb[t*k+c] = zt
			}
		}
		for t := range z {
			e.softmaxRow(i+t, zb[t*k:(t+1)*k])
		}
		for c := range k {
			for t := range z {
				z[t] = zb[t*k+c]
			}
			m.axpys(i, z, acc[c*n:(c+1)*n])
		}
		i = end
	}
}

// softmaxGroups is the most groups of four rows that softmaxFMA takes
// together: each tile of Wᵀ and of the accumulator, loaded into L1 once,
// serves all of their rows.
const softmaxGroups = 4

// softmaxTile returns the columns of softmaxFMA's tiles for r rows against
// k vectors: a multiple of 8 such that the rows' tile and the k vectors'
// fit in about 24 KB (L1), at least 64 (tileCols for r = 4).
func softmaxTile(n, k, r int) int {
	return min(max(64, (3072/(r+k))&^7), max(n, 1))
}

// softmaxFMA accumulates the rows [lo, hi) of a dense X into acc (k×cols)
// with the FMA kernels, up to softmaxGroups groups of four rows at a time:
// the groups' lanes of Z by dotPairs, tile by tile of columns (each tile
// of Wᵀ serving every group while it sits in L1), each z reduced from its
// lanes and tail as mulBlockFMA does (its bits), the rows' softmaxRow, then
// the groups' rows of G added by axpy4x2, tile by tile (each tile of acc
// getting every group's rows, in row order, while it sits in L1), as
// mulBlockTFMA adds them (its bits). The last rows (fewer than four) go
// one by one: z from the row repeated four times (stride 0), g added by
// axpy1FMA.
func (e *engine) softmaxFMA(p, lo, hi int, acc []float64) {
	a := &e.args
	m, k := &a.m, a.k
	n := m.cols
	n4 := n &^ 3
	wt := a.wt
	pairs := (k + 1) / 2
	nl := 32 * pairs // lanes of one group
	buf := e.softRows[p]
	lanesAll := buf[:softmaxGroups*nl]
	zAll := buf[softmaxGroups*nl : softmaxGroups*(nl+4*k)] // z (then g) of the rows, row-major
	coefAll := e.coef[p][:softmaxGroups*4*k]               // coef[4kg+4c+r] = g_{i+4g+r,c}
	for i := lo; i < hi; {
		stride, ng, nr := n, min(softmaxGroups, (hi-i)/4), 4
		if ng == 0 {
			stride, ng, nr = 0, 1, 1
		}
		rows := ng * nr // rows of this step
		lanes := lanesAll[:ng*nl]
		clear(lanes)
		dtile := softmaxTile(n4, k, 4*ng)
		for j0 := 0; j0 < n4; j0 += dtile {
			j1 := min(n4, j0+dtile)
			for g := range ng {
				r0 := i + 4*g
				dotPairs(m.val[r0*n+j0:r0*n+3*stride+j1], stride, wt, a.wti, k, n, j0, j1, lanes[g*nl:(g+1)*nl])
			}
		}
		for t := range rows {
			g, r := t/4, t%4
			row := m.val[(i+t)*n : (i+t+1)*n]
			zr := zAll[t*k : (t+1)*k]
			for c := range zr {
				l := lanes[g*nl+32*(c/2)+4*(2*r+c%2):]
				l = l[:4]
				s := (l[0] + l[1]) + (l[2] + l[3])
				w := wt[c*n : (c+1)*n]
				for j := n4; j < n; j++ {
					s = math.FMA(row[j], w[j], s)
				}
				zr[c] = s
			}
			e.softmaxRow(i+t, zr)
		}
		if n == 0 {
			i += rows
			continue
		}
		if nr == 1 {
			row := m.val[i*n : (i+1)*n]
			for c := range k {
				axpy1FMA(zAll[c], row, acc[c*n:(c+1)*n])
			}
			i++
			continue
		}
		for g := range ng {
			coef := coefAll[4*k*g : 4*k*(g+1)]
			for c := range k {
				for r := range 4 {
					coef[4*c+r] = zAll[(4*g+r)*k+c]
				}
			}
		}
		atile := softmaxTile(n, k, 4*ng)
		for j0 := 0; j0 < n; j0 += atile {
			j1 := min(n, j0+atile)
			for g := range ng {
				r0 := i + 4*g
				x := m.val[r0*n+j0 : (r0+3)*n+j1]
				coef := coefAll[4*k*g : 4*k*(g+1)]
				c := 0
				for ; c+2 <= k; c += 2 {
					axpy4x2(x, n, (*[8]float64)(coef[4*c:4*c+8]), acc[c*n+j0:c*n+j1], acc[(c+1)*n+j0:(c+1)*n+j1])
				}
				if c < k {
					axpy4FMA(x, n, (*[4]float64)(coef[4*c:4*c+4]), acc[c*n+j0:c*n+j1])
				}
			}
		}
		i += rows
	}
}

// softmaxRow replaces z = x_iᵀW (len k) by row i of G: for SoftmaxGrad,
// g_j = d_i·(p_j − [j = y_i]) with p = softmax(z) as CrossEntropy computes
// it, storing p in prob and CE_i in loss where given; for SoftmaxHessBlock
// (z = u_i = x_iᵀV), r_j = d_i·(p_j·u_j − p_j·c), c = Σ_j p_j·u_j in
// column order, p row i of P.
func (e *engine) softmaxRow(i int, z []float64) {
	a := &e.args
	k := len(z)
	if a.hess {
		p := a.prob[i*k : (i+1)*k]
		var c float64
		for j, pj := range p {
			c += pj * z[j]
		}
		for j, pj := range p {
			z[j] = pj*z[j] - pj*c
		}
	} else {
		y := int(a.lab[i])
		zy := z[y]
		m := rowMax(z)
		s := expRow(z, z, m)
		if a.rowLoss != nil {
			a.rowLoss[i] = lse(m, s) - zy
		}
		for j := range z {
			z[j] /= s
		}
		if a.prob != nil {
			copy(a.prob[i*k:(i+1)*k], z)
		}
		z[y]--
	}
	if a.wts != nil {
		d := a.wts[i]
		for j := range z {
			z[j] *= d
		}
	}
}
