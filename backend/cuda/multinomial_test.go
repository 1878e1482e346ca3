//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// The tests of this file cover the Multinomial extension (SoftmaxGrad,
// SoftmaxHessBlock):
//
//   - TestMultinomialOrders: SoftmaxGrad equals, bit for bit, the core
//     composition MulBlock, Softmax, CrossEntropy, ScaleRows, MulBlockTrans
//     on the same backend (its documented order), and its dst equals the
//     host's product in hg_gemm's or hg_csr_block's order of the G that its
//     prob gives; SoftmaxHessBlock equals, bit for bit, a host reference in
//     the documented order (the products in gemmOrderRef's or
//     csrBlockOrderRef's order, the row sums in hg_rows' lanes and tree) and
//     the core composition MulBlock, MulElem, RowSums, ScaleRows, Axpy,
//     ScaleRows, MulBlockTrans; on dense (float64 and float32) and CSR
//     matrices, with k = 1, k > 256 (lanes that loop) and more rows than the
//     row kernels' grid covers at once;
//   - TestMultinomialAgree, TestMultinomialAgreeFloat32: against host
//     references and the CPU backend's Multinomial to 1e-12 relative to the
//     magnitudes of the terms, with the same NaN and Inf positions, and
//     bit-identical repeats on one backend and on a second one;
//   - TestMultinomialEdges: empty shapes, and the operand checks wired.

// mnOpt builds the optional operands of a case: which of d, prob and loss
// are given.
type mnOpt struct{ d, prob, loss bool }

func (o mnOpt) String() string {
	return fmt.Sprintf("d %v prob %v loss %v", o.d, o.prob, o.loss)
}

// composeGrad is SoftmaxGrad by the core operations: Z = X·W, prob ←
// Softmax(Z), CrossEntropy's loss and gradient (in place), ScaleRows by d,
// then MulBlockTrans.
func composeGrad(t *testing.T, b backend.Backend, dst backend.Block, alpha float64, x backend.Matrix, w backend.Block, y backend.Labels, d backend.Vector, beta float64, prob backend.Block, loss backend.Vector) {
	t.Helper()
	rows, _ := x.Dims()
	_, k := w.Dims()
	z, err := b.NewBlock(rows, k)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(z)
	b.MulBlock(z, 1, x, w, 0)
	if prob != nil {
		b.Softmax(prob, z)
	}
	b.CrossEntropy(z, loss, z, y)
	if d != nil {
		b.ScaleRows(z, d, z)
	}
	b.MulBlockTrans(dst, alpha, x, z, beta)
}

// composeHess is SoftmaxHessBlock by the core operations: U = X·V, p⊙u,
// its row sums s, p⊙u − s_i·p, ScaleRows by d, then MulBlockTrans.
func composeHess(t *testing.T, b backend.Backend, dst backend.Block, alpha float64, x backend.Matrix, p backend.Block, d backend.Vector, v backend.Block, beta float64) {
	t.Helper()
	rows, _ := x.Dims()
	_, k := p.Dims()
	u, err := b.NewBlock(rows, k)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(u)
	pu, err := b.NewBlock(rows, k)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(pu)
	s, err := b.NewVector(rows)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(s)
	b.MulBlock(u, 1, x, v, 0)
	b.MulElem(pu, 1, p, u, 0)
	b.RowSums(s, 1, pu, 0)
	b.ScaleRows(u, s, p)
	b.Axpy(-1, u, pu)
	if d != nil {
		b.ScaleRows(pu, d, pu)
	}
	b.MulBlockTrans(dst, alpha, x, pu, beta)
}

// mnl returns b's Multinomial extension, failing t where it has none.
func mnl(t *testing.T, b backend.Backend) backend.Multinomial {
	t.Helper()
	mb, ok := b.(backend.Multinomial)
	if !ok {
		t.Fatalf("backend %s lacks the Multinomial extension", b.Name())
	}
	return mb
}

// mnMatrix returns a test matrix: dense (density 0) or CSR, its values
// normal. A dense matrix's column 0 holds the row shifts 0, 800, −800, 30
// in turn (with W's row 0 of ones, every score of a row moves by its shift,
// so that exp of a raw score overflows or underflows); with f32 the second
// result is the matrix rounded to float32, as a DenseFloat32 backend holds it.
func mnMatrix(r *rand.Rand, rows, cols int, density float64, f32 bool) (m, held *backendtest.HostMatrix) {
	if density > 0 {
		m = backendtest.RandCSR(r, rows, cols, density)
		return m, m
	}
	m = backendtest.RandDense(r, rows, cols)
	if cols > 0 {
		for i := range rows {
			m.Dense[i*cols] = [4]float64{0, 800, -800, 30}[i%4]
		}
	}
	if !f32 {
		return m, m
	}
	c := *m
	c.Dense = make([]float64, len(m.Dense))
	for i, v := range m.Dense {
		c.Dense[i] = float64(float32(v))
	}
	return m, &c
}

// mnWeights returns a cols×k block of normal values, its row 0 ones (the
// shift column's weights) for a dense matrix.
func mnWeights(r *rand.Rand, m *backendtest.HostMatrix, k int) []float64 {
	w := backendtest.RandVector(r, m.Cols*k)
	if m.Format == backend.Dense && m.Cols > 0 {
		for c := range k {
			w[c] = 1
		}
	}
	return w
}

// specialEntries puts a NaN into one row of a CSR matrix and +Inf and −Inf
// into others (each in a non-empty row), so that a row of scores is NaN,
// holds ±Inf, or both.
func specialEntries(m *backendtest.HostMatrix) {
	put := 0
	for i := 0; i < m.Rows && put < 3; i += m.Rows / 7 {
		for ; i < m.Rows && m.Indptr[i] == m.Indptr[i+1]; i++ {
		}
		if i < m.Rows {
			m.Data[m.Indptr[i]] = [3]float64{math.NaN(), math.Inf(1), math.Inf(-1)}[put]
			put++
		}
	}
}

// blockProdRef returns X·W (W cols×k) and the magnitudes Σ_l |x_il·w_lc|.
func blockProdRef(m *backendtest.HostMatrix, w []float64, k int) (z, mag []float64) {
	z, mag = make([]float64, m.Rows*k), make([]float64, m.Rows*k)
	for i := range m.Rows {
		forRow(m, i, func(j int, v float64) {
			for c := range k {
				e := v * w[j*k+c]
				z[i*k+c] += e
				mag[i*k+c] += math.Abs(e)
			}
		})
	}
	return z, mag
}

// transProdRef returns α·Xᵀ·G + β·dst (β = 0 overwrites) and its magnitude
// |α|·Σ_i |x_ij|·gMag_ic + |β·dst_jc|.
func transProdRef(m *backendtest.HostMatrix, g, gMag []float64, k int, alpha, beta float64, dst []float64) (out, mag []float64) {
	p, pm := make([]float64, m.Cols*k), make([]float64, m.Cols*k)
	for i := range m.Rows {
		forRow(m, i, func(j int, v float64) {
			for c := range k {
				p[j*k+c] += v * g[i*k+c]
				pm[j*k+c] += math.Abs(v) * gMag[i*k+c]
			}
		})
	}
	out, mag = make([]float64, len(p)), make([]float64, len(p))
	for o := range p {
		out[o] = finish(alpha, p[o], beta, dst[o])
		mag[o] = math.Abs(alpha) * pm[o]
		if beta != 0 {
			mag[o] += math.Abs(beta * dst[o])
		}
	}
	return out, mag
}

// gradRef returns the references of SoftmaxGrad with their magnitudes: dst,
// prob and loss. An error Δ in a score moves P_ic by at most
// P_ic·(|Δ_ic| + max_l |Δ_il|), so P's magnitude is P_ic·(1 + zmag_ic +
// max_l zmag_il), zmag the magnitudes of the scores' terms.
func gradRef(m *backendtest.HostMatrix, w []float64, k int, y []int, d []float64, alpha, beta float64, dst []float64) (out, outMag, prob, probMag, loss, lossMag []float64) {
	rows := m.Rows
	z, zm := blockProdRef(m, w, k)
	prob, probMag = make([]float64, rows*k), make([]float64, rows*k)
	loss, lossMag = make([]float64, rows), make([]float64, rows)
	g, gMag := make([]float64, rows*k), make([]float64, rows*k)
	for i := range rows {
		zi, zmi := z[i*k:(i+1)*k], zm[i*k:(i+1)*k]
		p, pm := prob[i*k:(i+1)*k], probMag[i*k:(i+1)*k]
		mx, _ := rowStatsRef(zi)
		big := 0.0
		for _, v := range zmi {
			big = max(big, v)
		}
		var lse float64
		if math.IsInf(mx, 0) || math.IsNaN(mx) {
			lse = mx
			for c := range p {
				p[c] = math.NaN()
			}
		} else {
			s := 0.0
			for c, v := range zi {
				p[c] = math.Exp(v - mx)
				s += p[c]
			}
			lse = mx + math.Log(s)
			for c := range p {
				p[c] /= s
				pm[c] = p[c] * (1 + zmi[c] + big)
			}
		}
		loss[i] = lse - zi[y[i]]
		lossMag[i] = 1 + big + math.Abs(lse) + zmi[y[i]]
		for c := range k {
			gi, gm := p[c], pm[c]
			if c == y[i] {
				gi, gm = gi-1, gm+1
			}
			if d != nil {
				gi, gm = d[i]*gi, math.Abs(d[i])*gm
			}
			g[i*k+c], gMag[i*k+c] = gi, gm
		}
	}
	out, outMag = transProdRef(m, g, gMag, k, alpha, beta, dst)
	return
}

// hessRef returns the reference of SoftmaxHessBlock and its magnitude: R's
// magnitude is |d_i|·|p_ic|·(umag_ic + Σ_l |p_il|·umag_il).
func hessRef(m *backendtest.HostMatrix, p []float64, d []float64, v []float64, k int, alpha, beta float64, dst []float64) (out, mag []float64) {
	u, um := blockProdRef(m, v, k)
	r, rm := make([]float64, len(u)), make([]float64, len(u))
	for i := range m.Rows {
		s, sm := 0.0, 0.0
		for c := range k {
			s += p[i*k+c] * u[i*k+c]
			sm += math.Abs(p[i*k+c]) * um[i*k+c]
		}
		for c := range k {
			o := i*k + c
			r[o] = p[o]*u[o] - p[o]*s
			rm[o] = math.Abs(p[o]) * (um[o] + sm)
			if d != nil {
				r[o], rm[o] = d[i]*r[o], math.Abs(d[i])*rm[o]
			}
		}
	}
	return transProdRef(m, r, rm, k, alpha, beta, dst)
}

// randProbs returns a rows×k block of softmax rows of 2·N(0, 1) scores.
func randProbs(r *rand.Rand, rows, k int) []float64 {
	p := backendtest.RandVector(r, rows*k)
	for i := range rows {
		row := p[i*k : (i+1)*k]
		s := 0.0
		for c := range row {
			row[c] = math.Exp(2 * row[c])
			s += row[c]
		}
		for c := range row {
			row[c] /= s
		}
	}
	return p
}

// mnDst returns the initial dst: NaN when β = 0 (which must overwrite it),
// else normal values.
func mnDst(r *rand.Rand, n int, beta float64) []float64 {
	if beta == 0 {
		return nans(n)
	}
	return backendtest.RandVector(r, n)
}

// nans returns n NaNs.
func nans(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = math.NaN()
	}
	return x
}

// mnWeightsRow returns rows row weights: normal, with zeros in some rows.
func mnWeightsRow(r *rand.Rand, rows int) []float64 {
	d := backendtest.RandVector(r, rows)
	for i := 0; i < rows; i += 17 {
		d[i] = 0
	}
	return d
}

// count returns the number of elements of x for which f holds.
func count(x []float64, f func(float64) bool) int {
	n := 0
	for _, v := range x {
		if f(v) {
			n++
		}
	}
	return n
}

// mnShape is a matrix and a number of classes of the agreement tests.
type mnShape struct {
	rows, cols, k int
	density       float64 // 0: dense
	special       bool    // NaN and ±Inf entries (CSR)
}

// multinomialCases returns the SoftmaxGrad and SoftmaxHessBlock cases; with
// f32, dense only, on the matrices rounded to float32.
func multinomialCases(t *testing.T, r *rand.Rand, f32 bool) []blockCase {
	shapes := []mnShape{{2003, 300, 7, 0, false}, {1009, 40, 300, 0, false}, {20011, 503, 10, 0.01, false},
		{3001, 211, 5, 0.02, true}}
	var cases []blockCase
	for _, s := range shapes {
		if f32 && s.density > 0 {
			continue // CSR is unaffected by DenseFloat32
		}
		m, held := mnMatrix(r, s.rows, s.cols, s.density, f32)
		if s.special {
			specialEntries(m)
		}
		k := s.k
		w := mnWeights(r, m, k)
		y := backendtest.RandClasses(r, s.rows, k)
		dw := mnWeightsRow(r, s.rows)
		for _, c := range []struct {
			opt         mnOpt
			alpha, beta float64
		}{{mnOpt{true, true, true}, 1.5, -0.5}, {mnOpt{false, false, false}, 1, 0}, {mnOpt{true, false, true}, -2, 0}, {mnOpt{false, true, false}, 0.5, 2}} {
			var d []float64
			if c.opt.d {
				d = dw
			}
			dst := mnDst(r, s.cols*k, c.beta)
			out, outMag, prob, probMag, loss, lossMag := gradRef(held, w, k, y, d, c.alpha, c.beta, dst)
			if s.special && (count(prob, math.IsNaN) == 0 || count(loss, func(v float64) bool { return math.IsInf(v, 1) }) == 0 ||
				count(out, math.IsNaN) == 0 || count(out, math.IsNaN) == len(out)) {
				t.Fatalf("%v: the special entries give no NaN probabilities, infinite losses or partly NaN dst", m)
			}
			refs, mags := [][]float64{out}, [][]float64{outMag}
			if c.opt.prob {
				refs, mags = append(refs, prob), append(mags, probMag)
			}
			if c.opt.loss {
				refs, mags = append(refs, loss), append(mags, lossMag)
			}
			cases = append(cases, blockCase{fmt.Sprintf("SoftmaxGrad %v k %d %v α %v β %v", m, k, c.opt, c.alpha, c.beta),
				func(rn *runner) [][]float64 {
					src := m
					if rn.b.Name() == "cpu" {
						src = held // the CPU backend gets the matrix the CUDA one holds
					}
					x, wv, dv := rn.mat(src), rn.block(w, s.cols, k), rn.block(dst, s.cols, k)
					yl := rn.labels(k, y)
					var dd backend.Vector
					var pv backend.Block
					var lv backend.Vector
					if c.opt.d {
						dd = rn.vec(d)
					}
					if c.opt.prob {
						pv = rn.block(nans(s.rows*k), s.rows, k)
					}
					if c.opt.loss {
						lv = rn.vec(nans(s.rows))
					}
					mnl(t, rn.b).SoftmaxGrad(dv, c.alpha, x, wv, yl, dd, c.beta, pv, lv)
					outs := [][]float64{rn.get(dv)}
					if pv != nil {
						outs = append(outs, rn.get(pv))
					}
					if lv != nil {
						outs = append(outs, rn.get(lv))
					}
					return outs
				}, refs, mags})
		}

		p := randProbs(r, s.rows, k)
		v := backendtest.RandVector(r, s.cols*k)
		for _, c := range []struct {
			d           bool
			alpha, beta float64
		}{{true, -2, 0.5}, {false, 1, 0}} {
			var d []float64
			if c.d {
				d = dw
			}
			dst := mnDst(r, s.cols*k, c.beta)
			out, mag := hessRef(held, p, d, v, k, c.alpha, c.beta, dst)
			cases = append(cases, blockCase{fmt.Sprintf("SoftmaxHessBlock %v k %d d %v α %v β %v", m, k, c.d, c.alpha, c.beta),
				func(rn *runner) [][]float64 {
					src := m
					if rn.b.Name() == "cpu" {
						src = held
					}
					x, pv, vv, dv := rn.mat(src), rn.block(p, s.rows, k), rn.block(v, s.cols, k), rn.block(dst, s.cols, k)
					var dd backend.Vector
					if c.d {
						dd = rn.vec(d)
					}
					mnl(t, rn.b).SoftmaxHessBlock(dv, c.alpha, x, pv, dd, vv, c.beta)
					return [][]float64{rn.get(dv)}
				}, [][]float64{out}, [][]float64{mag}})
		}
	}
	return cases
}

func TestMultinomialAgree(t *testing.T) {
	gpu, gpu2, cpuB := openBackends(t, Options{})
	runCases(t, gpu, gpu2, cpuB, multinomialCases(t, backendtest.Rand(41), false))
}

// TestMultinomialAgreeFloat32 runs the dense cases on backends that store
// dense matrices in float32, against the CPU backend and the references on
// the rounded matrix.
func TestMultinomialAgreeFloat32(t *testing.T) {
	gpu, gpu2, cpuB := openBackends(t, Options{DenseFloat32: true})
	runCases(t, gpu, gpu2, cpuB, multinomialCases(t, backendtest.Rand(43), true))
}

// TestMultinomialOrders checks the documented orders bit for bit (see the
// top of the file).
func TestMultinomialOrders(t *testing.T) {
	r := backendtest.Rand(47)
	for _, s := range []struct {
		rows, cols, k int
		density       float64
		f32           bool
	}{{3001, 37, 3, 0, false}, {3001, 37, 3, 0, true}, {4099, 5, 300, 0, false}, {3001, 211, 10, 0.05, false},
		{3001, 211, 1, 0.05, false}, {2003, 40, 257, 0.3, false}} {
		if rw := rowWidth(s.k); s.rows == 4099 && rowGrid(s.rows, rw)*(blockSize/rw) >= s.rows {
			t.Fatalf("%d rows, k %d: the row kernels' grid covers every row at once, so their loop is not tested", s.rows, s.k)
		}
		b, err := New(Options{DenseFloat32: s.f32})
		if err != nil {
			t.Fatal(err)
		}
		rn := &runner{t: t, b: b}
		m, held := mnMatrix(r, s.rows, s.cols, s.density, s.f32)
		k := s.k
		w := mnWeights(r, m, k)
		for i := range w {
			w[i] *= 3 // wide scores: P far from uniform
		}
		y := backendtest.RandClasses(r, s.rows, k)
		dw := mnWeightsRow(r, s.rows)
		x, wv, yl, dv := rn.mat(m), rn.block(w, s.cols, k), rn.labels(k, y), rn.vec(dw)
		name := fmt.Sprintf("%v (float32 %v) k %d", m, s.f32, k)
		for _, c := range []struct {
			d           bool
			alpha, beta float64
		}{{true, -0.75, 1.5}, {false, 1, 0}} {
			var d backend.Vector
			if c.d {
				d = dv
			}
			dst0 := backendtest.RandVector(r, s.cols*k)
			var got, want [3][]float64
			for run, f := range []func(dst, prob backend.Block, loss backend.Vector){
				func(dst, prob backend.Block, loss backend.Vector) {
					b.SoftmaxGrad(dst, c.alpha, x, wv, yl, d, c.beta, prob, loss)
				},
				func(dst, prob backend.Block, loss backend.Vector) {
					composeGrad(t, b, dst, c.alpha, x, wv, yl, d, c.beta, prob, loss)
				},
			} {
				dst, prob, loss := rn.block(dst0, s.cols, k), rn.block(make([]float64, s.rows*k), s.rows, k), rn.vec(make([]float64, s.rows))
				f(dst, prob, loss)
				out := [3][]float64{rn.get(dst), rn.get(prob), rn.get(loss)}
				if run == 0 {
					got = out
					rn.b.Upload(dst, dst0)
					f(dst, nil, nil) // without prob and loss: the same dst
					sameBits(t, fmt.Sprintf("SoftmaxGrad %s d %v, without prob and loss", name, c.d), rn.get(dst), got[0])
				} else {
					want = out
				}
			}
			what := fmt.Sprintf("SoftmaxGrad %s d %v α %v β %v", name, c.d, c.alpha, c.beta)
			sameBits(t, what+": dst against the composition", got[0], want[0])
			sameBits(t, what+": prob against Softmax", got[1], want[1])
			sameBits(t, what+": loss against CrossEntropy", got[2], want[2])

			// dst from prob on the host: G_ic = d_i·(P_ic − [c = y_i]),
			// then Xᵀ·G in the product's order.
			g := append([]float64(nil), got[1]...)
			for i := range s.rows {
				g[i*k+y[i]] = g[i*k+y[i]] - 1
				if c.d {
					for j := range k {
						g[i*k+j] = dw[i] * g[i*k+j]
					}
				}
			}
			sameBits(t, what+": dst against the host's product", got[0], transOrderRef(held, g, k, c.alpha, c.beta, dst0))
		}

		// SoftmaxHessBlock against the host in the documented order.
		p := randProbs(r, s.rows, k)
		v := backendtest.RandVector(r, s.cols*k)
		pv, vv := rn.block(p, s.rows, k), rn.block(v, s.cols, k)
		u := mulOrderRef(held, v, k)
		wd := rowWidth(k)
		for _, c := range []struct {
			d           bool
			alpha, beta float64
		}{{true, 1.25, -0.5}, {false, 1, 0}} {
			var d backend.Vector
			if c.d {
				d = dv
			}
			rr := make([]float64, s.rows*k)
			pu := make([]float64, k)
			for i := range s.rows {
				for j := range k {
					pu[j] = p[i*k+j] * u[i*k+j]
				}
				sum := segRef(pu, wd, func(v float64) float64 { return v })
				for j := range k {
					o := i*k + j
					rr[o] = p[o]*u[o] - p[o]*sum
					if c.d {
						rr[o] = dw[i] * rr[o]
					}
				}
			}
			dst0 := backendtest.RandVector(r, s.cols*k)
			dst, dst2 := rn.block(dst0, s.cols, k), rn.block(dst0, s.cols, k)
			b.SoftmaxHessBlock(dst, c.alpha, x, pv, d, vv, c.beta)
			composeHess(t, b, dst2, c.alpha, x, pv, d, vv, c.beta)
			what := fmt.Sprintf("SoftmaxHessBlock %s d %v α %v β %v", name, c.d, c.alpha, c.beta)
			got := rn.get(dst)
			sameBits(t, what, got, transOrderRef(held, rr, k, c.alpha, c.beta, dst0))
			sameBits(t, what+": against the composition", got, rn.get(dst2))
		}
		rn.free()
		b.Close()
	}
}

// mulOrderRef is MulBlock's order (α = 1, β = 0) on the host: X·W, W cols×k.
func mulOrderRef(m *backendtest.HostMatrix, w []float64, k int) []float64 {
	zero := make([]float64, m.Rows*k)
	if m.Format == backend.CSR {
		return csrBlockOrderRef(m.Indptr, m.Indices, m.Data, w, k, 1, 0, zero)
	}
	return gemmOrderRef(m.Dense, m.Cols, false, w, k, false, m.Rows, k, m.Cols, 1, 0, zero)
}

// transOrderRef is MulBlockTrans' order on the host: α·Xᵀ·G + β·dst.
func transOrderRef(m *backendtest.HostMatrix, g []float64, k int, alpha, beta float64, dst []float64) []float64 {
	if m.Format == backend.CSR {
		ptr, ind, val := transposeCSR(m)
		return csrBlockOrderRef(ptr, ind, val, g, k, alpha, beta, dst)
	}
	return gemmOrderRef(m.Dense, m.Cols, true, g, k, false, m.Cols, k, m.Rows, alpha, beta, dst)
}

// TestMultinomialEdges checks empty shapes against their exact results and
// that each operation reports its operand checks' errors under its name.
func TestMultinomialEdges(t *testing.T) {
	b := open(t)
	defer b.Close()
	rn := &runner{t: t, b: b}
	defer rn.free()
	nan := math.NaN()

	// rows = 0: dst ← β·dst (0 with β = 0, whatever dst held).
	x0 := rn.mat(&backendtest.HostMatrix{Rows: 0, Cols: 3, Format: backend.Dense})
	w0, y0 := rn.block([]float64{1, 2, 3, 4, 5, 6}, 3, 2), rn.labels(2, nil)
	for _, beta := range []float64{0, 0.5} {
		dst := rn.block([]float64{nan, 2, -4, 8, 1, 0}, 3, 2)
		b.SoftmaxGrad(dst, 1, x0, w0, y0, nil, beta, rn.block(nil, 0, 2), rn.vec(nil))
		want := []float64{0, 0, 0, 0, 0, 0}
		if beta != 0 {
			want = []float64{nan, 1, -2, 4, 0.5, 0}
		}
		exact := make([]float64, len(want))
		agreeElems(t, fmt.Sprintf("SoftmaxGrad rows 0 β %v", beta), rn.get(dst), want, exact)
		b.Upload(dst, []float64{nan, 2, -4, 8, 1, 0})
		b.SoftmaxHessBlock(dst, 1, x0, rn.block(nil, 0, 2), nil, w0, beta)
		agreeElems(t, fmt.Sprintf("SoftmaxHessBlock rows 0 β %v", beta), rn.get(dst), want, exact)
	}

	// cols = 0: scores of 0, so P = 1/k and loss log k; dst is empty.
	x1 := rn.mat(&backendtest.HostMatrix{Rows: 4, Cols: 0, Format: backend.Dense})
	prob, loss := rn.block(make([]float64, 12), 4, 3), rn.vec([]float64{nan, nan, nan, nan})
	b.SoftmaxGrad(rn.block(nil, 0, 3), 1, x1, rn.block(nil, 0, 3), rn.labels(3, []int{0, 1, 2, 0}), nil, 0, prob, loss)
	for i, v := range rn.get(prob) {
		if v != 1.0/3 {
			t.Errorf("SoftmaxGrad cols 0: prob[%d] = %v, want 1/3", i, v)
		}
	}
	for i, v := range rn.get(loss) {
		if math.Abs(v-math.Log(3)) > 1e-15 {
			t.Errorf("SoftmaxGrad cols 0: loss[%d] = %v, want log 3", i, v)
		}
	}
	b.SoftmaxHessBlock(rn.block(nil, 0, 3), 1, x1, prob, nil, rn.block(nil, 0, 3), 0)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}

	// The operand checks, under each operation's name.
	x := rn.mat(backendtest.RandDense(backendtest.Rand(3), 5, 3))
	w, y := rn.block(make([]float64, 6), 3, 2), rn.labels(2, []int{0, 1, 1, 0, 1})
	dst, p5, d5 := rn.block(make([]float64, 6), 3, 2), rn.block(make([]float64, 10), 5, 2), rn.vec(make([]float64, 5))
	for _, c := range []struct {
		op   string
		want error
		do   func()
	}{
		{"SoftmaxGrad", backend.ErrShape, func() { b.SoftmaxGrad(rn.block(make([]float64, 6), 2, 3), 1, x, w, y, nil, 0, nil, nil) }},
		{"SoftmaxGrad", backend.ErrShape, func() { b.SoftmaxGrad(dst, 1, x, w, y, rn.vec(make([]float64, 4)), 0, nil, nil) }},
		{"SoftmaxGrad", backend.ErrAlias, func() { b.SoftmaxGrad(dst, 1, x, dst, y, nil, 0, nil, nil) }},
		{"SoftmaxGrad", backend.ErrAlias, func() { b.SoftmaxGrad(dst, 1, x, w, y, d5, 0, p5, d5) }},
		{"SoftmaxGrad", backend.ErrInvalid, func() { b.SoftmaxGrad(dst, 1, x, w, nil, nil, 0, nil, nil) }},
		{"SoftmaxHessBlock", backend.ErrShape, func() { b.SoftmaxHessBlock(dst, 1, x, rn.block(make([]float64, 8), 4, 2), nil, w, 0) }},
		{"SoftmaxHessBlock", backend.ErrAlias, func() { b.SoftmaxHessBlock(dst, 1, x, p5, nil, dst, 0) }},
		{"SoftmaxHessBlock", backend.ErrInvalid, func() { b.SoftmaxHessBlock(dst, 1, nil, p5, nil, w, 0) }},
	} {
		c.do()
		var oe *backend.OpError
		if err := b.Err(); !errors.As(err, &oe) || oe.Op != c.op || !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.op, err, c.want)
		}
		b.ClearErr()
	}
}
