//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// The tests of this file cover the block operations (Map, DivElem, the
// row operations, Gemm, MulBlock, MulBlockTrans):
//
//   - TestBlockLaunchConfig: the launch geometries that fix the reduction
//     orders stay within their bounds;
//   - TestBlockOrders: the sums follow the orders documented in
//     kernels/blocks.cu and kernels/rows.cu, bit for bit, on values spread
//     over 40 binades (so that another order gives other bits);
//   - TestBlocksAgree: on shapes larger than the conformance suite's, each
//     operation agrees with host references and with the CPU backend to
//     1e-12 normwise, relative to the magnitude of its terms, has the same
//     NaN and Inf positions, and repeats bit-identically on the same backend
//     and on a second one (the emulator runs blocks in shuffled order).

// blockTol is the agreement tolerance: ‖Δ‖ ≤ blockTol·‖mag‖, mag the
// magnitudes of the terms of each output element.
const blockTol = 1e-12

// runner uploads operands to one backend and frees them after a run.
type runner struct {
	t  *testing.T
	b  backend.Backend
	vs []backend.Vector
	ms []backend.Matrix
}

func (r *runner) block(x []float64, rows, cols int) backend.Block {
	r.t.Helper()
	v, err := r.b.NewBlock(rows, cols)
	if err != nil {
		r.t.Fatal(err)
	}
	r.b.Upload(v, x)
	r.vs = append(r.vs, v)
	return v
}

func (r *runner) vec(x []float64) backend.Vector { return r.block(x, len(x), 1) }

func (r *runner) mat(m *backendtest.HostMatrix) backend.Matrix {
	r.t.Helper()
	a, err := m.Upload(r.b)
	if err != nil {
		r.t.Fatal(err)
	}
	r.ms = append(r.ms, a)
	return a
}

func (r *runner) labels(classes int, y []int) backend.Labels {
	r.t.Helper()
	l, err := r.b.NewLabels(classes, y)
	if err != nil {
		r.t.Fatal(err)
	}
	r.vs = append(r.vs, l.(backend.Vector))
	return l
}

// get downloads v, failing on a recorded error.
func (r *runner) get(v backend.Vector) []float64 {
	r.t.Helper()
	x := make([]float64, v.Len())
	r.b.Download(x, v)
	if err := r.b.Err(); err != nil {
		r.t.Fatal(err)
	}
	return x
}

func (r *runner) free() {
	for _, v := range r.vs {
		r.b.Free(v)
	}
	for _, m := range r.ms {
		r.b.FreeMatrix(m)
	}
	r.vs, r.ms = nil, nil
}

// spread returns n normal values scaled by powers of two in [2⁻²⁰, 2²⁰].
func spread(r *rand.Rand, n int) []float64 {
	x := backendtest.RandVector(r, n)
	for i := range x {
		x[i] = math.Ldexp(x[i], r.IntN(41)-20)
	}
	return x
}

// finish is hg_finish: α·s, or α·s + β·d with each product rounded.
func finish(alpha, s, beta, d float64) float64 {
	if beta == 0 {
		return alpha * s
	}
	return float64(alpha*s) + float64(beta*d)
}

// opElem returns element (i, l) of op(X) for X stored row-major with cols
// columns.
func opElem(x []float64, cols int, tr bool, i, l int) float64 {
	if tr {
		return x[l*cols+i]
	}
	return x[i*cols+l]
}

// gemmOrderRef is Gemm in hg_gemm's documented order: within each split of
// K (gemmGrid) the products in increasing k from 0, then with one split
// α·s + β·dst, else hg_colreduce's order over the splits; k = 0 gives β·dst
// (0 when β = 0).
func gemmOrderRef(a []float64, ac int, ta bool, bm []float64, bc int, tb bool, m, n, k int, alpha, beta float64, dst []float64) []float64 {
	out := make([]float64, m*n)
	if k == 0 {
		for i := range out {
			if beta != 0 {
				out[i] = beta * dst[i]
			}
		}
		return out
	}
	g := gemmGrid(m, n, k)
	part := make([]float64, g.splits*m*n)
	for s := range g.splits {
		for i := range m {
			for j := range n {
				acc := 0.0
				for l := s * g.kc; l < min(k, (s+1)*g.kc); l++ {
					acc += opElem(a, ac, ta, i, l) * opElem(bm, bc, tb, l, j)
				}
				part[s*m*n+i*n+j] = acc
			}
		}
	}
	if g.splits > 1 {
		return colReduceRef(part, g.splits, m*n, alpha, beta, dst)
	}
	for i := range out {
		out[i] = finish(alpha, part[i], beta, dst[i])
	}
	return out
}

// segRef is a row's sum in hg_rows' order: lane l < w adds f(row[j]) for
// j = l, l+w, … in order, then the lanes are added by the tree
// lane[l] += lane[l+s], s = w/2, …, 1.
func segRef(row []float64, w int, f func(float64) float64) float64 {
	lanes := make([]float64, w)
	for l := range w {
		s := 0.0
		for j := l; j < len(row); j += w {
			s += f(row[j])
		}
		lanes[l] = s
	}
	for s := w / 2; s > 0; s >>= 1 {
		for l := range s {
			lanes[l] += lanes[l+s]
		}
	}
	return lanes[0]
}

// colSumsOrderRef is ColSums in hg_colsums' and hg_colreduce's documented
// order.
func colSumsOrderRef(a []float64, rows, cols int, alpha, beta float64, dst []float64) []float64 {
	cw, rpb, g := colSumsGrid(rows, cols)
	lanes := blockSize / cw
	part := make([]float64, g*cols)
	sh := make([]float64, lanes)
	for b := range g {
		r0, r1 := b*rpb, min(rows, (b+1)*rpb)
		for j := range cols {
			for l := range lanes {
				s := 0.0
				for i := r0 + l; i < r1; i += lanes {
					s += a[i*cols+j]
				}
				sh[l] = s
			}
			for h := lanes / 2; h > 0; h >>= 1 {
				for l := range h {
					sh[l] += sh[l+h]
				}
			}
			part[b*cols+j] = sh[0]
		}
	}
	return colReduceRef(part, g, cols, alpha, beta, dst)
}

// csrBlockOrderRef is hg_csr_block: dst_ic ← α·Σ_e val_e·W[ind_e·k + c] +
// β·dst_ic over row i's entries in stored order.
func csrBlockOrderRef(ptr, ind []int, val []float64, w []float64, k int, alpha, beta float64, dst []float64) []float64 {
	n := len(ptr) - 1
	out := make([]float64, n*k)
	for i := range n {
		for c := range k {
			s := 0.0
			for e := ptr[i]; e < ptr[i+1]; e++ {
				s += val[e] * w[ind[e]*k+c]
			}
			out[i*k+c] = finish(alpha, s, beta, dst[i*k+c])
		}
	}
	return out
}

// transposeCSR returns the CSC form that NewCSR uploads: each column's
// entries in row order, a row's duplicates in their CSR order.
func transposeCSR(m *backendtest.HostMatrix) (ptr, ind []int, val []float64) {
	ptr = make([]int, m.Cols+1)
	for _, j := range m.Indices {
		ptr[j+1]++
	}
	for j := range m.Cols {
		ptr[j+1] += ptr[j]
	}
	next := append([]int(nil), ptr[:m.Cols]...)
	ind, val = make([]int, len(m.Indices)), make([]float64, len(m.Data))
	for i := range m.Rows {
		for e := m.Indptr[i]; e < m.Indptr[i+1]; e++ {
			j := m.Indices[e]
			ind[next[j]], val[next[j]] = i, m.Data[e]
			next[j]++
		}
	}
	return ptr, ind, val
}

// sameBits reports the first element where got and want differ in their bits.
func sameBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d results, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Errorf("%s: [%d] = %v, want %v (the documented order)", what, i, got[i], want[i])
			return
		}
	}
}

func TestBlockLaunchConfig(t *testing.T) {
	for _, c := range []struct{ cols, want int }{{0, 1}, {1, 1}, {2, 2}, {3, 4}, {10, 16}, {100, 128}, {129, 256}, {256, 256}, {5000, 256}} {
		if w := rowWidth(c.cols); w != c.want {
			t.Errorf("rowWidth(%d) = %d, want %d", c.cols, w, c.want)
		}
	}
	for _, rows := range []int{1, 255, 1 << 20, 1 << 30} {
		for _, w := range []int{1, 16, 256} {
			if g := rowGrid(rows, w); g < 1 || g > maxRowGrid {
				t.Errorf("rowGrid(%d, %d) = %d", rows, w, g)
			}
		}
	}
	for _, rows := range []int{0, 1, 100, 1000, 100003, 1 << 26} {
		for _, cols := range []int{1, 2, 3, 100, 128, 129, 5000} {
			cw, rpb, g := colSumsGrid(rows, cols)
			if cw < min(cols, blockSize) || cw > blockSize || cw&(cw-1) != 0 || rpb < 1 || g < 1 || g > maxColSumsGrid ||
				g*rpb < rows || (rows > 0 && (g-1)*rpb >= rows) {
				t.Errorf("colSumsGrid(%d, %d) = %d threads per row, %d rows per block, %d blocks", rows, cols, cw, rpb, g)
			}
		}
	}
	for _, s := range [][3]int{{1, 1, 1}, {1, 1, 1 << 20}, {12, 12, 20011}, {100003, 10, 1000}, {1000, 10, 100003},
		{5000, 5000, 5000}, {3, 100, 16}, {7, 5, 33}} {
		m, n, k := s[0], s[1], s[2]
		g := gemmGrid(m, n, k)
		tm := blockSize / g.tn
		if (g.tn != 4 && g.tn != 8 && g.tn != 16) || g.kc%gemmTK != 0 || g.splits < 1 || g.splits > maxGemmSplits ||
			g.splits*g.kc < k || (g.splits-1)*g.kc >= k || (g.splits > 1 && g.splits*m*n > maxGemmScratch) ||
			g.grid != ceilDiv(m, tm)*ceilDiv(n, g.tn)*g.splits {
			t.Errorf("gemmGrid(%d, %d, %d) = %+v", m, n, k, g)
		}
	}
}

// TestBlockOrders checks the documented summation orders bit for bit.
func TestBlockOrders(t *testing.T) {
	b := open(t)
	defer b.Close()
	rn := &runner{t: t, b: b}
	r := backendtest.Rand(23)
	coefs := [][2]float64{{1, 0}, {-0.75, 1.5}}

	// Gemm: one split and several (more than hg_colreduce's 32 groups for
	// the 1×1 product over 40000), every transposition, each tile width.
	for _, s := range [][3]int{{5, 3, 7}, {40, 9, 300}, {33, 17, 100}, {12, 12, 20011}, {1, 1, 40000}, {70, 6, 2000}, {3, 3, 0}} {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				ar, ac := m, k
				if ta {
					ar, ac = k, m
				}
				br, bc := k, n
				if tb {
					br, bc = n, k
				}
				am, bm := spread(r, ar*ac), spread(r, br*bc)
				av, bv := rn.block(am, ar, ac), rn.block(bm, br, bc)
				for _, ab := range coefs {
					d := spread(r, m*n)
					dv := rn.block(d, m, n)
					b.Gemm(dv, ab[0], av, backend.Transpose(ta), bv, backend.Transpose(tb), ab[1])
					what := fmt.Sprintf("Gemm %d×%d×%d %v%v α %v β %v (%d splits)", m, n, k, backend.Transpose(ta), backend.Transpose(tb), ab[0], ab[1], gemmGrid(m, n, max(k, 1)).splits)
					sameBits(t, what, rn.get(dv), gemmOrderRef(am, ac, ta, bm, bc, tb, m, n, k, ab[0], ab[1], d))
				}
				rn.free()
			}
		}
	}

	// MulBlock and MulBlockTrans: dense (hg_gemm with op(A) = X or Xᵀ) and
	// CSR (hg_csr_block on the CSR and CSC arrays).
	for _, m := range []*backendtest.HostMatrix{backendtest.RandDense(r, 3001, 37), backendtest.RandCSR(r, 3001, 211, 0.05)} {
		if m.Format == backend.Dense {
			m.Dense = spread(r, len(m.Dense))
		} else {
			m.Data = spread(r, len(m.Data))
		}
		a := rn.mat(m)
		for _, k := range []int{1, 3, 10} {
			for _, trans := range []bool{false, true} {
				in, out := m.Cols, m.Rows
				if trans {
					in, out = out, in
				}
				w := spread(r, in*k)
				wv := rn.block(w, in, k)
				for _, ab := range coefs {
					d := spread(r, out*k)
					dv := rn.block(d, out, k)
					var want []float64
					switch {
					case m.Format == backend.Dense && trans:
						b.MulBlockTrans(dv, ab[0], a, wv, ab[1])
						want = gemmOrderRef(m.Dense, m.Cols, true, w, k, false, m.Cols, k, m.Rows, ab[0], ab[1], d)
					case m.Format == backend.Dense:
						b.MulBlock(dv, ab[0], a, wv, ab[1])
						want = gemmOrderRef(m.Dense, m.Cols, false, w, k, false, m.Rows, k, m.Cols, ab[0], ab[1], d)
					case trans:
						b.MulBlockTrans(dv, ab[0], a, wv, ab[1])
						ptr, ind, val := transposeCSR(m)
						want = csrBlockOrderRef(ptr, ind, val, w, k, ab[0], ab[1], d)
					default:
						b.MulBlock(dv, ab[0], a, wv, ab[1])
						want = csrBlockOrderRef(m.Indptr, m.Indices, m.Data, w, k, ab[0], ab[1], d)
					}
					sameBits(t, fmt.Sprintf("MulBlock %v trans %v k %d α %v β %v", m, trans, k, ab[0], ab[1]), rn.get(dv), want)
				}
			}
		}
		rn.free()
	}

	// Row sums and norms (segments of hg_rows) and column sums (hg_colsums
	// and hg_colreduce), on narrow, medium and wide rows; 4099×130 has more
	// rows than hg_rows' grid, so that its blocks loop.
	for _, s := range [][2]int{{1, 1}, {1000, 3}, {3001, 10}, {517, 100}, {130, 129}, {70, 1500}, {100003, 2}, {5, 0}, {0, 4}, {4099, 130}} {
		if rows, cols := s[0], s[1]; rows == 4099 && rowGrid(rows, rowWidth(cols))*(blockSize/rowWidth(cols)) >= rows {
			t.Fatalf("%d×%d: hg_rows' grid covers every row at once, so its loop is not tested", rows, cols)
		}
		rows, cols := s[0], s[1]
		x := spread(r, rows*cols)
		av := rn.block(x, rows, cols)
		w := rowWidth(cols)
		for _, ab := range coefs {
			d := spread(r, rows)
			dv := rn.vec(d)
			b.RowSums(dv, ab[0], av, ab[1])
			want := make([]float64, rows)
			for i := range rows {
				want[i] = finish(ab[0], segRef(x[i*cols:(i+1)*cols], w, func(v float64) float64 { return v }), ab[1], d[i])
			}
			sameBits(t, fmt.Sprintf("RowSums %d×%d α %v β %v", rows, cols, ab[0], ab[1]), rn.get(dv), want)

			dc := spread(r, cols)
			cv := rn.vec(dc)
			b.ColSums(cv, ab[0], av, ab[1])
			sameBits(t, fmt.Sprintf("ColSums %d×%d α %v β %v", rows, cols, ab[0], ab[1]), rn.get(cv), colSumsOrderRef(x, rows, cols, ab[0], ab[1], dc))
		}
		nv := rn.vec(make([]float64, rows))
		b.RowNorms(nv, av, 0.25)
		want := make([]float64, rows)
		for i := range rows {
			want[i] = math.Sqrt(0.25 + segRef(x[i*cols:(i+1)*cols], w, func(v float64) float64 { return v * v }))
		}
		sameBits(t, fmt.Sprintf("RowNorms %d×%d", rows, cols), rn.get(nv), want)
		rn.free()
	}
}

// blockCase is one operation on host data: run performs it on a backend
// and returns its outputs; ref holds the host references and mag the
// magnitudes of their terms.
type blockCase struct {
	name     string
	run      func(rn *runner) [][]float64
	ref, mag [][]float64
}

// agreeElems checks got against ref: the same NaN and infinite positions,
// and |got_i − ref_i| ≤ blockTol·mag_i elsewhere (so exactly where mag_i = 0).
func agreeElems(t *testing.T, what string, got, ref, mag []float64) {
	t.Helper()
	if len(got) != len(ref) {
		t.Errorf("%s: %d results, want %d", what, len(got), len(ref))
		return
	}
	worst, at := 0.0, -1
	for i, want := range ref {
		g := got[i]
		switch {
		case math.IsNaN(want) || math.IsInf(want, 0):
			if !(math.IsNaN(want) && math.IsNaN(g)) && g != want {
				t.Errorf("%s: [%d] = %v, want %v", what, i, g, want)
				return
			}
		case !(math.Abs(g-want) <= blockTol*mag[i]):
			t.Errorf("%s: [%d] = %v, want %v (|Δ| = %.3g > %.0e·%.3g)", what, i, g, want, math.Abs(g-want), blockTol, mag[i])
			return
		case mag[i] > 0 && math.Abs(g-want)/mag[i] > worst:
			worst, at = math.Abs(g-want)/mag[i], i
		}
	}
	if at >= 0 {
		t.Logf("%s: largest |Δ|/mag %.3g at [%d]", what, worst, at)
	}
}

// runCases runs each case on gpu twice, on gpu2 and on the CPU backend:
// the CUDA results must be bit-identical, and agree with the references
// and with the CPU's.
func runCases(t *testing.T, gpu, gpu2, cpuB backend.Backend, cases []blockCase) {
	t.Helper()
	for _, c := range cases {
		var outs [4][][]float64
		for k, b := range []backend.Backend{gpu, gpu, gpu2, cpuB} {
			rn := &runner{t: t, b: b}
			outs[k] = c.run(rn)
			if err := b.Err(); err != nil {
				t.Fatalf("%s on %s: %v", c.name, b.Name(), err)
			}
			rn.free()
		}
		for o := range c.ref {
			what := c.name
			if len(c.ref) > 1 {
				what += fmt.Sprintf(" (output %d)", o)
			}
			for k := 1; k < 3; k++ {
				sameRuns(t, fmt.Sprintf("%s, cuda run %d", what, k), outs[k][o], outs[0][o])
			}
			agreeElems(t, what+": cuda against the reference", outs[0][o], c.ref[o], c.mag[o])
			agreeElems(t, what+": cuda against cpu", outs[0][o], outs[3][o], c.mag[o])
		}
	}
}

// sameRuns requires a repeated run's bits to equal the first run's.
func sameRuns(t *testing.T, what string, got, first []float64) {
	t.Helper()
	for i := range first {
		if math.Float64bits(got[i]) != math.Float64bits(first[i]) {
			t.Errorf("%s: [%d] = %v, first run %v", what, i, got[i], first[i])
			return
		}
	}
}

// openBackends opens two CUDA backends with opts and a CPU backend, closed
// when t ends.
func openBackends(t *testing.T, opts Options) (gpu, gpu2, cpuB backend.Backend) {
	t.Helper()
	var bs [2]backend.Backend
	for i := range bs {
		b, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		bs[i] = b
	}
	c := cpu.New(cpu.Options{})
	t.Cleanup(func() { c.Close() })
	return bs[0], bs[1], c
}

// specialRows puts special rows into the rows×cols block x (cols ≥ 2, rows
// ≥ 6): a NaN, a +Inf, a row of −Inf, a −Inf beside finite values, a row
// with +Inf and −Inf, and a row of huge values.
func specialRows(x []float64, rows, cols int) {
	inf := math.Inf(1)
	at := func(k int) []float64 { i := k * (rows / 6); return x[i*cols : (i+1)*cols] }
	at(0)[cols/2] = math.NaN()
	at(1)[cols-1] = inf
	for j := range at(2) {
		at(2)[j] = -inf
	}
	at(3)[0] = -inf
	at(4)[0], at(4)[1] = inf, -inf
	for j := range at(5) {
		at(5)[j] = 1e300 * float64(j%3-1)
	}
}

// rowStatsRef returns a row's maximum (NaN-propagating, −Inf when empty)
// and its largest finite |a_j|.
func rowStatsRef(row []float64) (m, amax float64) {
	m = math.Inf(-1)
	hasNaN := false
	for _, v := range row {
		switch {
		case math.IsNaN(v):
			hasNaN = true
		case v > m:
			m = v
		}
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			amax = max(amax, math.Abs(v))
		}
	}
	if hasNaN {
		m = math.NaN()
	}
	return m, amax
}

// rowRefs returns the references of the row operations of a: the LSE of
// each row, the softmax, the cross-entropy loss and gradient for labels
// y, with their magnitudes.
func rowRefs(a []float64, rows, cols int, y []int) (lse, lseMag, sm, smMag, loss, lossMag, grad, gradMag []float64) {
	lse, lseMag = make([]float64, rows), make([]float64, rows)
	sm, smMag = make([]float64, rows*cols), make([]float64, rows*cols)
	loss, lossMag = make([]float64, rows), make([]float64, rows)
	for i := range rows {
		row := a[i*cols : (i+1)*cols]
		m, amax := rowStatsRef(row)
		p, pm := sm[i*cols:(i+1)*cols], smMag[i*cols:(i+1)*cols]
		if math.IsInf(m, 0) || math.IsNaN(m) {
			lse[i] = m
			for j := range p {
				p[j] = math.NaN()
			}
		} else {
			s := 0.0
			for j, v := range row {
				p[j] = math.Exp(v - m)
				s += p[j]
			}
			lse[i] = m + math.Log(s)
			lseMag[i] = 1 + amax + math.Abs(lse[i])
			for j, v := range row {
				p[j] /= s
				if p[j] != 0 { // not an element of −Inf
					pm[j] = p[j] * (1 + math.Abs(v) + amax)
				}
			}
		}
		if len(y) > 0 {
			loss[i] = lse[i] - row[y[i]]
			lossMag[i] = lseMag[i] + math.Abs(row[y[i]])
		}
	}
	grad, gradMag = append([]float64(nil), sm...), append([]float64(nil), smMag...)
	for i := range y {
		grad[i*cols+y[i]]--
		gradMag[i*cols+y[i]]++
	}
	return
}

func TestBlocksAgree(t *testing.T) {
	gpu, gpu2, cpuB := openBackends(t, Options{})
	r := backendtest.Rand(29)
	var cases []blockCase

	// Map on every function, over normal values spread over 40 binades and
	// the special values of the formulas.
	x := spread(r, 50021)
	for i, v := range []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 0x1p500, -0x1p500,
		0x1.0000000000001p500, -0x1.0000000000001p500, 1e300, -1e300, 710, -746, 5e-324, 1, -1, 40, -40} {
		x[i*97] = v
	}
	for f := backend.Exp; f.Valid(); f++ {
		// Go's math library, and so Func.Eval, is wrong on amd64 for Log of
		// subnormal x (golang/go#56600: log(5e-324) = −709.09, not −744.44)
		// and for Exp of x in [1023.5·ln 2, ln MaxFloat64] ≈ [709.436,
		// 709.783], where it overflows to +Inf (its exponent rounds up to
		// 1024): the CUDA results are right there, so those inputs are
		// left out.
		x := x
		if f == backend.Log || f == backend.Exp {
			x = append([]float64(nil), x...)
			for i, v := range x {
				if f == backend.Log && v != 0 && math.Abs(v) < 0x1p-1022 {
					x[i] = 0x1p-1022
				}
				if f == backend.Exp && v >= 709.4 && v <= 709.79 {
					x[i] = 709
				}
			}
		}
		cs := []float64{0}
		if f.HasParam() {
			cs = []float64{0, 2.5, 1e-300, 1e300}
		}
		for _, c := range cs {
			ref, mag := make([]float64, len(x)), make([]float64, len(x))
			for i, v := range x {
				ref[i] = f.Eval(v, c)
				mag[i] = math.Abs(ref[i])
			}
			cases = append(cases, blockCase{fmt.Sprintf("Map %v c=%v", f, c), func(rn *runner) [][]float64 {
				xv, dv := rn.vec(x), rn.vec(make([]float64, len(x)))
				rn.b.Map(dv, f, c, xv)
				rn.b.Map(xv, f, c, xv) // in place
				return [][]float64{rn.get(dv), rn.get(xv)}
			}, [][]float64{ref, ref}, [][]float64{mag, mag}})
		}
	}

	// DivElem, with zero and infinite divisors.
	y := spread(r, len(x))
	for i := range 50 {
		y[i*997] = []float64{0, math.Inf(1), math.Copysign(0, -1)}[i%3]
	}
	d := spread(r, len(x))
	for _, ab := range [][2]float64{{1.5, 0}, {-0.5, 2}} {
		ref, mag := make([]float64, len(x)), make([]float64, len(x))
		for i := range x {
			ref[i] = finish(ab[0], x[i]/y[i], ab[1], d[i])
			mag[i] = math.Abs(ab[0]*(x[i]/y[i])) + math.Abs(ab[1]*d[i])
		}
		cases = append(cases, blockCase{fmt.Sprintf("DivElem α %v β %v", ab[0], ab[1]), func(rn *runner) [][]float64 {
			xv, yv, dv := rn.vec(x), rn.vec(y), rn.vec(d)
			rn.b.DivElem(dv, ab[0], xv, yv, ab[1])
			return [][]float64{rn.get(dv)}
		}, [][]float64{ref}, [][]float64{mag}})
	}

	// Row operations on narrow, medium and wide rows with special rows.
	for _, s := range [][2]int{{10007, 10}, {5003, 3}, {1009, 100}, {101, 1500}} {
		rows, cols := s[0], s[1]
		a := backendtest.RandVector(r, rows*cols)
		for i := range a {
			a[i] *= 5
		}
		specialRows(a, rows, cols)
		v, u := spread(r, rows), spread(r, cols)
		labels := make([]int, rows)
		for i := range labels {
			labels[i] = r.IntN(cols)
		}
		name := fmt.Sprintf(" %d×%d", rows, cols)
		sr, sc := make([]float64, rows*cols), make([]float64, rows*cols)
		zero := make([]float64, rows*cols)
		for i := range rows {
			for j := range cols {
				sr[i*cols+j] = v[i] * a[i*cols+j]
				sc[i*cols+j] = a[i*cols+j] * u[j]
			}
		}
		cases = append(cases, blockCase{"ScaleRows, ScaleCols (also in place)" + name, func(rn *runner) [][]float64 {
			av, vv, uv := rn.block(a, rows, cols), rn.vec(v), rn.vec(u)
			d1, d2 := rn.block(zero, rows, cols), rn.block(zero, rows, cols)
			rn.b.ScaleRows(d1, vv, av)
			rn.b.ScaleCols(d2, av, uv)
			out := [][]float64{rn.get(d1), rn.get(d2)}
			rn.b.ScaleRows(av, vv, av)
			out = append(out, rn.get(av))
			rn.b.Upload(av, a)
			rn.b.ScaleCols(av, av, uv)
			return append(out, rn.get(av))
		}, [][]float64{sr, sc, sr, sc}, [][]float64{zero, zero, zero, zero}})

		rs, rsMag, cs, csMag := make([]float64, rows), make([]float64, rows), make([]float64, cols), make([]float64, cols)
		nr, nrMag := make([]float64, rows), make([]float64, rows)
		dr, dc := spread(r, rows), spread(r, cols)
		for i := range rows {
			sq := 0.0
			for j := range cols {
				e := a[i*cols+j]
				rs[i] += e
				rsMag[i] += math.Abs(e)
				cs[j] += e
				csMag[j] += math.Abs(e)
				sq += e * e
			}
			nr[i] = math.Sqrt(0.5 + sq)
			nrMag[i] = nr[i]
		}
		for i := range rows {
			rs[i], rsMag[i] = finish(-1.5, rs[i], 0.5, dr[i]), 1.5*rsMag[i]+math.Abs(0.5*dr[i])
		}
		for j := range cols {
			cs[j], csMag[j] = finish(2, cs[j], -1, dc[j]), 2*csMag[j]+math.Abs(dc[j])
		}
		cases = append(cases, blockCase{"RowSums, ColSums, RowNorms" + name, func(rn *runner) [][]float64 {
			av, rv, cv, nv := rn.block(a, rows, cols), rn.vec(dr), rn.vec(dc), rn.vec(make([]float64, rows))
			rn.b.RowSums(rv, -1.5, av, 0.5)
			rn.b.ColSums(cv, 2, av, -1)
			rn.b.RowNorms(nv, av, 0.5)
			return [][]float64{rn.get(rv), rn.get(cv), rn.get(nv)}
		}, [][]float64{rs, cs, nr}, [][]float64{rsMag, csMag, nrMag}})

		lse, lseMag, sm, smMag, loss, lossMag, grad, gradMag := rowRefs(a, rows, cols, labels)
		cases = append(cases, blockCase{"LogSumExp, Softmax, CrossEntropy (also in place)" + name, func(rn *runner) [][]float64 {
			av, lv := rn.block(a, rows, cols), rn.vec(make([]float64, rows))
			sv, gv, cv := rn.block(zero, rows, cols), rn.block(zero, rows, cols), rn.vec(make([]float64, rows))
			yl := rn.labels(cols, labels)
			rn.b.LogSumExp(lv, av)
			rn.b.Softmax(sv, av)
			rn.b.CrossEntropy(gv, cv, av, yl)
			out := [][]float64{rn.get(lv), rn.get(sv), rn.get(cv), rn.get(gv)}
			rn.b.CrossEntropy(nil, cv, av, yl) // the loss alone
			out = append(out, rn.get(cv))
			rn.b.CrossEntropy(av, cv, av, yl) // the gradient in place
			out = append(out, rn.get(cv), rn.get(av))
			rn.b.Upload(av, a)
			rn.b.Softmax(av, av)
			return append(out, rn.get(av))
		}, [][]float64{lse, sm, loss, grad, loss, loss, grad, sm}, [][]float64{lseMag, smMag, lossMag, gradMag, lossMag, lossMag, gradMag, smMag}})
	}

	// Gemm: every transposition, with one split of K and several, and AᵀA
	// with A and B the same block.
	for _, s := range []struct {
		m, n, k int
		ta, tb  bool
		same    bool
	}{{300, 50, 200, false, false, false}, {12, 12, 20011, true, false, true}, {64, 40, 3001, false, true, false},
		{33, 7, 500, true, true, false}, {1, 3, 40000, false, false, false}} {
		ar, ac := s.m, s.k
		if s.ta {
			ar, ac = s.k, s.m
		}
		br, bc := s.k, s.n
		if s.tb {
			br, bc = s.n, s.k
		}
		am, bm := backendtest.RandVector(r, ar*ac), backendtest.RandVector(r, br*bc)
		if s.same {
			bm = am
		}
		d := backendtest.RandVector(r, s.m*s.n)
		ref, mag := make([]float64, s.m*s.n), make([]float64, s.m*s.n)
		for i := range s.m {
			for j := range s.n {
				var p, pm float64
				for l := range s.k {
					e := opElem(am, ac, s.ta, i, l) * opElem(bm, bc, s.tb, l, j)
					p += e
					pm += math.Abs(e)
				}
				ref[i*s.n+j] = finish(1.5, p, -0.5, d[i*s.n+j])
				mag[i*s.n+j] = 1.5*pm + math.Abs(0.5*d[i*s.n+j])
			}
		}
		cases = append(cases, blockCase{fmt.Sprintf("Gemm %d×%d×%d %v%v (A = B: %v)", s.m, s.n, s.k, backend.Transpose(s.ta), backend.Transpose(s.tb), s.same),
			func(rn *runner) [][]float64 {
				av, dv := rn.block(am, ar, ac), rn.block(d, s.m, s.n)
				bv := av
				if !s.same {
					bv = rn.block(bm, br, bc)
				}
				rn.b.Gemm(dv, 1.5, av, backend.Transpose(s.ta), bv, backend.Transpose(s.tb), -0.5)
				return [][]float64{rn.get(dv)}
			}, [][]float64{ref}, [][]float64{mag}})
	}
	cases = append(cases, mulBlockCases(r, false)...)
	runCases(t, gpu, gpu2, cpuB, cases)
}

// mulBlockCases returns MulBlock and MulBlockTrans cases on dense and CSR
// matrices; with f32, dense only, the references on the matrix rounded to
// float32 (what a DenseFloat32 backend holds).
func mulBlockCases(r *rand.Rand, f32 bool) []blockCase {
	var cases []blockCase
	for _, s := range []struct {
		rows, cols, k int
		density       float64
	}{{3001, 300, 7, 0}, {1009, 1500, 3, 0}, {20011, 5003, 10, 0.004}, {3001, 40, 33, 0}} {
		if f32 && (s.density > 0 || s.cols > 1000) {
			continue // CSR is unaffected; the wide dense case adds nothing on float32
		}
		var m *backendtest.HostMatrix
		if s.density == 0 {
			m = backendtest.RandDense(r, s.rows, s.cols)
		} else {
			m = backendtest.RandCSR(r, s.rows, s.cols, s.density)
		}
		ref := m
		if f32 {
			c := *m
			c.Dense = make([]float64, len(m.Dense))
			for i, v := range m.Dense {
				c.Dense[i] = float64(float32(v))
			}
			ref = &c
		}
		for _, trans := range []bool{false, true} {
			in, out := s.cols, s.rows
			if trans {
				in, out = out, in
			}
			w, d := backendtest.RandVector(r, in*s.k), backendtest.RandVector(r, out*s.k)
			p, pm := make([]float64, out*s.k), make([]float64, out*s.k)
			for i := range s.rows {
				forRow(ref, i, func(j int, v float64) {
					for c := range s.k {
						var o int
						var e float64
						if trans {
							o, e = j*s.k+c, v*w[i*s.k+c]
						} else {
							o, e = i*s.k+c, v*w[j*s.k+c]
						}
						p[o] += e
						pm[o] += math.Abs(e)
					}
				})
			}
			for _, ab := range [][2]float64{{1, 0}, {-2, 0.5}} {
				want, mag := make([]float64, len(p)), make([]float64, len(p))
				for o := range p {
					want[o] = finish(ab[0], p[o], ab[1], d[o])
					mag[o] = math.Abs(ab[0])*pm[o] + math.Abs(ab[1]*d[o])
				}
				op := "MulBlock"
				if trans {
					op = "MulBlockTrans"
				}
				cases = append(cases, blockCase{fmt.Sprintf("%s %v k %d α %v β %v", op, m, s.k, ab[0], ab[1]), func(rn *runner) [][]float64 {
					src := m
					if rn.b.Name() == "cpu" {
						src = ref // the CPU backend gets the matrix the CUDA one holds
					}
					a, wv, dv := rn.mat(src), rn.block(w, in, s.k), rn.block(d, out, s.k)
					if trans {
						rn.b.MulBlockTrans(dv, ab[0], a, wv, ab[1])
					} else {
						rn.b.MulBlock(dv, ab[0], a, wv, ab[1])
					}
					return [][]float64{rn.get(dv)}
				}, [][]float64{want}, [][]float64{mag}})
			}
		}
	}
	return cases
}

// forRow calls f(j, a_ij) for every stored entry of row i of m.
func forRow(m *backendtest.HostMatrix, i int, f func(j int, v float64)) {
	if m.Format == backend.CSR {
		for e := m.Indptr[i]; e < m.Indptr[i+1]; e++ {
			f(m.Indices[e], m.Data[e])
		}
		return
	}
	for j, v := range m.Dense[i*m.Cols : (i+1)*m.Cols] {
		f(j, v)
	}
}

// TestBlocksAgreeFloat32 runs the dense MulBlock cases on backends that
// store dense matrices in float32, against the CPU backend and the
// references on the rounded matrix.
func TestBlocksAgreeFloat32(t *testing.T) {
	gpu, gpu2, cpuB := openBackends(t, Options{DenseFloat32: true})
	runCases(t, gpu, gpu2, cpuB, mulBlockCases(backendtest.Rand(31), true))
}
