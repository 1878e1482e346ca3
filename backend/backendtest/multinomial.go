package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// The tests of the Multinomial extension: SoftmaxGrad and SoftmaxHessBlock
// against plain host references, against the composition of the core
// operations that they fuse, and as the derivatives that they are (central
// differences); their special values, their errors and their determinism.

// multinomial is a backend with the Multinomial extension.
type multinomial interface {
	full
	backend.Multinomial
}

// hasMultinomial opens a backend to see whether it implements
// backend.Multinomial, and closes it.
func (s *suite) hasMultinomial(t *testing.T) bool {
	t.Helper()
	b := s.open(t)
	if b == nil {
		t.Fatal("open returned a nil backend")
	}
	_, ok := b.(backend.Multinomial)
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	return ok
}

// multinomial opens a fresh backend with the Multinomial extension, closed
// when t ends.
func (s *suite) multinomial(t *testing.T) multinomial {
	t.Helper()
	fb := s.backend(t)
	b, ok := fb.(multinomial)
	if !ok {
		t.Fatalf("backend %s lacks the Multinomial extension (backend.Multinomial)", fb.Name())
	}
	return b
}

// mnlKs are the numbers of classes of the value tests.
var mnlKs = []int{1, 3, 10}

// mnlOutputs are the combinations of the optional outputs of SoftmaxGrad
// (prob, loss) that the value tests rotate through.
var mnlOutputs = [][2]bool{{true, true}, {true, false}, {false, true}, {false, false}}

// mnlWeights returns n row weights d_i: standard normal (so of both signs),
// with d_i = 0 in every fifth row from row 1.
func mnlWeights(r *rand.Rand, n int) []float64 {
	d := RandVector(r, n)
	for i := 1; i < n; i += 5 {
		d[i] = 0
	}
	return d
}

// optName describes an optional operand.
func optName(given bool) string {
	if given {
		return "given"
	}
	return "nil"
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !special(x) }

// mnlGradRef is the reference result of SoftmaxGrad before α and β are
// applied.
type mnlGradRef struct {
	prob, probMag []float64 // P = softmax(X·W), rows×k
	loss, lossMag []float64 // CE_i
	xtg, xtgMag   []float64 // Xᵀ·G, cols×k
}

// refSoftmaxGrad computes SoftmaxGrad's outputs from their definitions in
// IEEE arithmetic — Z = X·W as refMulBlock sums it, the row formulas of
// refCrossEntropy, G_ij = d_i·(P_ij − [j = y_i]) (d == nil meaning d_i = 1),
// Xᵀ·G — and their magnitudes, which add to those of the row operations the
// error that Z carries (δz_ij ≲ |X|·|W|): it moves p_ij by up to
// p_ij·(δz_ij + max_l δz_il) and CE_i by up to max_l δz_il + δz_{i,y_i}.
// An element of Z at −Inf carries no error (its p is exactly 0).
func refSoftmaxGrad(x *HostMatrix, w []float64, k int, y []int, d []float64) mnlGradRef {
	rows := x.Rows
	z, zMag := refMulBlock(x, w, k)
	ce := refCrossEntropy(z, rows, k, y)
	var r mnlGradRef
	r.prob, r.probMag = refSoftmax(z, rows, k)
	r.loss, r.lossMag = ce.loss, ce.lossMag
	g, gMag := make([]float64, rows*k), make([]float64, rows*k)
	for i := range rows {
		var zm float64
		for c := range k {
			if finite(z[i*k+c]) {
				zm = max(zm, zMag[i*k+c])
			}
		}
		di := 1.0
		if d != nil {
			di = d[i]
		}
		for c := range k {
			ic := i*k + c
			var prop float64
			if p := r.prob[ic]; p != 0 && finite(p) {
				prop = p * (zMag[ic] + zm)
			}
			r.probMag[ic] += prop
			g[ic] = di * ce.grad[ic]
			if finite(g[ic]) {
				gMag[ic] = math.Abs(di) * (ce.gradMag[ic] + prop)
			}
		}
		if finite(r.loss[i]) {
			r.lossMag[i] += zm + zMag[i*k+y[i]]
		}
	}
	r.xtg, r.xtgMag = refXtG(x, g, gMag, k)
	return r
}

// refXtG returns Xᵀ·G (cols×k) for G rows×k, summing the stored entries of
// X one by one, and its magnitudes |X|ᵀ·(|G| + gMag), gMag being the error
// that G carries. A special element of G makes every sum it enters special,
// so it adds nothing to the magnitudes.
func refXtG(x *HostMatrix, g, gMag []float64, k int) (p, mag []float64) {
	p, mag = make([]float64, x.Cols*k), make([]float64, x.Cols*k)
	for i := range x.Rows {
		x.row(i, func(j int, v float64) {
			for c := range k {
				gi := g[i*k+c]
				p[j*k+c] += v * gi
				if finite(gi) {
					mag[j*k+c] += math.Abs(v) * (math.Abs(gi) + gMag[i*k+c])
				}
			}
		})
	}
	return p, mag
}

// refSoftmaxHess returns Xᵀ·R of SoftmaxHessBlock, U = X·V and
// R_i = d_i·(p_i ⊙ u_i − p_i·(p_iᵀu_i)) (d == nil meaning d_i = 1), in
// IEEE arithmetic, and its magnitudes.
func refSoftmaxHess(x *HostMatrix, p []float64, k int, d, v []float64) (ref, mag []float64) {
	u, uMag := refMulBlock(x, v, k)
	r, rMag := make([]float64, x.Rows*k), make([]float64, x.Rows*k)
	for i := range x.Rows {
		var s, sMag float64
		for c := range k {
			ic := i*k + c
			s += p[ic] * u[ic]
			sMag += math.Abs(p[ic]) * (math.Abs(u[ic]) + uMag[ic])
		}
		di := 1.0
		if d != nil {
			di = d[i]
		}
		for c := range k {
			ic := i*k + c
			r[ic] = di * (p[ic]*u[ic] - p[ic]*s)
			if finite(r[ic]) {
				rMag[ic] = math.Abs(di) * math.Abs(p[ic]) * (math.Abs(u[ic]) + uMag[ic] + math.Abs(s) + sMag)
			}
		}
	}
	return refXtG(x, r, rMag, k)
}

// finiteMags fails the test if a magnitude is not finite where its
// reference is: the tolerance would be void (a defect of the test).
func finiteMags(t *testing.T, what string, ref, mag []float64) {
	t.Helper()
	for i := range ref {
		if finite(ref[i]) && !finite(mag[i]) {
			t.Fatalf("%s: the test's magnitude [%d] is %v for a finite reference %v", what, i, mag[i], ref[i])
		}
	}
}

// checkMNL compares got with ref as checkVecIEEE does, after checking the
// magnitudes.
func checkMNL(t *testing.T, what string, got, ref, mag []float64) {
	t.Helper()
	finiteMags(t, what, ref, mag)
	checkVecIEEE(t, what, got, ref, mag)
}

// mnlScaled returns n·k standard normal weights scaled by
// scale/sqrt(max(1, n)), so that the scores X·W of a dense X are about
// scale·N(0, 1).
func mnlScaled(r *rand.Rand, n, k int, scale float64) []float64 {
	w := RandVector(r, n*k)
	f := scale / math.Sqrt(float64(max(1, n)))
	for i := range w {
		w[i] *= f
	}
	return w
}

// testSoftmaxGrad checks SoftmaxGrad on every matrix shape of the suite,
// with k ∈ mnlKs classes, d nil and not, every (α, β) case (on the larger
// shapes two of them, one with d and one without) and the combinations of
// prob and loss; for k = 3 also
// (on all but the largest shapes) with scores of about ±1000, whose exp
// overflows unless the row maximum is subtracted first.
func (s *suite) testSoftmaxGrad(t *testing.T) {
	b := s.multinomial(t)
	eachShape(t, b, func(seed uint64, m *HostMatrix, a backend.Matrix) {
		r := Rand(seed + 9000)
		size := max(m.NNZ(), m.Rows, m.Cols)
		for ki, k := range mnlKs {
			if k == 10 && size > 100000 {
				continue // keep the emulated backends quick
			}
			scales := []float64{3}
			if k == 3 && size <= 100000 {
				scales = append(scales, 1000)
			}
			for _, scale := range scales {
				w := mnlScaled(r, m.Cols, k, scale)
				y := RandClasses(r, m.Rows, k)
				dw := mnlWeights(r, m.Rows)
				wv, yl, dv := newBlock(t, b, m.Cols, k, w), newLabels(t, b, k, y), newVec(t, b, dw)
				coefs := pickCoefs(int(seed)+ki, size*k)
				for di, withD := range []bool{false, true} {
					var dRef []float64
					var dArg backend.Vector
					if withD {
						dRef, dArg = dw, dv
					}
					ref := refSoftmaxGrad(m, w, k, y, dRef)
					for n, ci := range coefs {
						if len(coefs) < len(alphaBetas) && n != di {
							continue // a larger shape: one (α, β) case with d and one without
						}
						ab := alphaBetas[ci]
						outs := mnlOutputs[(n+2*di)%len(mnlOutputs)]
						what := fmt.Sprintf("SoftmaxGrad %v k=%d |z|≈%g d=%s %s prob=%s loss=%s (seed %d)", m, k, scale,
							optName(withD), coef(ab.alpha, ab.beta, ab.nanDst), optName(outs[0]), optName(outs[1]), seed)
						softmaxGradCase(t, b, r, what, m, a, wv, w, yl, dArg, dw, &ref, ab.alpha, ab.beta, ab.nanDst, outs[0], outs[1])
					}
				}
				b.Free(wv)
				b.Free(yl)
				b.Free(dv)
			}
		}
	})
}

// softmaxGradCase runs one SoftmaxGrad into fresh outputs holding random
// values (and NaN where the outputs are overwritten: in prob, loss, and in
// dst when nanDst) and compares them with ref; W and d must be unchanged.
func softmaxGradCase(t *testing.T, b multinomial, r *rand.Rand, what string, m *HostMatrix, a backend.Matrix,
	wv backend.Block, w []float64, yl backend.Labels, dArg backend.Vector, dw []float64, ref *mnlGradRef,
	alpha, beta float64, nanDst, withProb, withLoss bool) {
	t.Helper()
	_, k := wv.Dims()
	d0 := RandVector(r, m.Cols*k)
	if nanDst {
		d0 = withNaN(d0)
	}
	dst := newBlock(t, b, m.Cols, k, d0)
	defer b.Free(dst)
	var prob backend.Block
	var loss backend.Vector
	if withProb {
		prob = newBlock(t, b, m.Rows, k, withNaN(RandVector(r, m.Rows*k)))
		defer b.Free(prob)
	}
	if withLoss {
		loss = newVec(t, b, withNaN(RandVector(r, m.Rows)))
		defer b.Free(loss)
	}
	b.SoftmaxGrad(dst, alpha, a, wv, yl, dArg, beta, prob, loss)
	if !noErr(t, b, what) {
		return
	}
	want, mag := combine(alpha, ref.xtg, ref.xtgMag, beta, d0)
	checkMNL(t, what+": dst", get(t, b, dst), want, mag)
	if withProb {
		checkMNL(t, what+": prob", get(t, b, prob), ref.prob, ref.probMag)
	}
	if withLoss {
		checkMNL(t, what+": loss", get(t, b, loss), ref.loss, ref.lossMag)
	}
	checkExact(t, what+": W", get(t, b, wv), w)
	if dArg != nil {
		checkExact(t, what+": d", get(t, b, dArg), dw)
	}
}

// testSoftmaxHessBlock checks SoftmaxHessBlock on every matrix shape of the
// suite, with k ∈ mnlKs, d nil and not, every (α, β) case (on the larger
// shapes two of them, one with d and one without), P a row softmax and, on the small shapes, P of
// arbitrary values (the formula does not assume that rows of P sum to 1).
func (s *suite) testSoftmaxHessBlock(t *testing.T) {
	b := s.multinomial(t)
	eachShape(t, b, func(seed uint64, m *HostMatrix, a backend.Matrix) {
		r := Rand(seed + 9500)
		size := max(m.NNZ(), m.Rows, m.Cols)
		for ki, k := range mnlKs {
			if k == 10 && size > 100000 {
				continue
			}
			v := RandVector(r, m.Cols*k)
			dw := mnlWeights(r, m.Rows)
			vv, dv := newBlock(t, b, m.Cols, k, v), newVec(t, b, dw)
			sm, _ := refSoftmax(RandScores(r, m.Rows, k), m.Rows, k)
			ps := [][]float64{sm}
			if size <= 1000 {
				ps = append(ps, RandVector(r, m.Rows*k))
			}
			for pi, p := range ps {
				pv := newBlock(t, b, m.Rows, k, p)
				for di, withD := range []bool{false, true} {
					var dRef []float64
					var dArg backend.Vector
					if withD {
						dRef, dArg = dw, dv
					}
					hv, hvMag := refSoftmaxHess(m, p, k, dRef, v)
					coefs := pickCoefs(int(seed)+ki+pi, size*k)
					for n, ci := range coefs {
						if len(coefs) < len(alphaBetas) && n != di {
							continue // a larger shape: one (α, β) case with d and one without
						}
						ab := alphaBetas[ci]
						what := fmt.Sprintf("SoftmaxHessBlock %v k=%d P=%s d=%s %s (seed %d)", m, k,
							map[int]string{0: "softmax", 1: "arbitrary"}[pi], optName(withD), coef(ab.alpha, ab.beta, ab.nanDst), seed)
						d0 := RandVector(r, m.Cols*k)
						if ab.nanDst {
							d0 = withNaN(d0)
						}
						dst := newBlock(t, b, m.Cols, k, d0)
						b.SoftmaxHessBlock(dst, ab.alpha, a, pv, dArg, vv, ab.beta)
						if noErr(t, b, what) {
							want, mag := combine(ab.alpha, hv, hvMag, ab.beta, d0)
							checkMNL(t, what, get(t, b, dst), want, mag)
							checkExact(t, what+": P", get(t, b, pv), p)
							checkExact(t, what+": V", get(t, b, vv), v)
							checkExact(t, what+": d", get(t, b, dv), dw)
						}
						b.Free(dst)
					}
				}
				b.Free(pv)
			}
			b.Free(vv)
			b.Free(dv)
		}
	})
}

// mnlCompositionShapes are the matrices of the composition test: dense
// and CSR (with empty rows and duplicate entries), empty ones, and ones
// that a parallel backend splits.
var mnlCompositionShapes = []shape{
	{7, 3, 0}, {5, 0, 0}, {0, 5, 0.5}, {33, 257, 0}, {1003, 67, 0}, {257, 33, 0.3}, {100, 50, 1e-9}, {3001, 257, 0.06},
}

// mnlCompositionCoefs are the (α, β) cases of the composition test, the
// first without d, the second with it.
var mnlCompositionCoefs = []struct {
	alpha, beta float64
	nanDst      bool
}{{-0.7, 0, true}, {1.5, -0.5, false}}

// testMultinomialComposition checks that SoftmaxGrad computes what the
// core operations compute in four passes — MulBlock (Z ← X·W), Softmax and
// CrossEntropy (P, G ← P − E, loss), ScaleRows (G ← d ⊙ G), MulBlockTrans
// (dst ← α·Xᵀ·G + β·dst) — and SoftmaxHessBlock what MulBlock (U ← X·V),
// MulElem, RowSums, ScaleRows, Axpy, ScaleRows and MulBlockTrans compute,
// on the same backend, to the tolerance of the reference.
func (s *suite) testMultinomialComposition(t *testing.T) {
	b := s.multinomial(t)
	for si, sh := range mnlCompositionShapes {
		seed := uint64(9700 + si)
		m := sh.hostMatrix(seed)
		a := newMat(t, b, m)
		r := Rand(seed)
		rows, cols := m.Rows, m.Cols
		for _, k := range mnlKs {
			w, v := mnlScaled(r, cols, k, 3), RandVector(r, cols*k)
			y, dw := RandClasses(r, rows, k), mnlWeights(r, rows)
			wv, vv, yl, dv := newBlock(t, b, cols, k, w), newBlock(t, b, cols, k, v), newLabels(t, b, k, y), newVec(t, b, dw)
			for di, withD := range []bool{false, true} {
				var dRef []float64
				var dArg backend.Vector
				if withD {
					dRef, dArg = dw, dv
				}
				ab := mnlCompositionCoefs[di]
				what := fmt.Sprintf("%v k=%d d=%s %s (seed %d)", m, k, optName(withD), coef(ab.alpha, ab.beta, ab.nanDst), seed)
				d0 := RandVector(r, cols*k)
				if ab.nanDst {
					d0 = withNaN(d0)
				}
				ref := refSoftmaxGrad(m, w, k, y, dRef)
				// Fused.
				dst, prob, loss := newBlock(t, b, cols, k, d0), newBlock(t, b, rows, k, nil), newVec(t, b, make([]float64, rows))
				b.SoftmaxGrad(dst, ab.alpha, a, wv, yl, dArg, ab.beta, prob, loss)
				// Composed.
				z, g, p2 := newBlock(t, b, rows, k, nil), newBlock(t, b, rows, k, nil), newBlock(t, b, rows, k, nil)
				dst2, loss2 := newBlock(t, b, cols, k, d0), newVec(t, b, make([]float64, rows))
				b.MulBlock(z, 1, a, wv, 0)
				b.Softmax(p2, z)
				b.CrossEntropy(g, loss2, z, yl)
				if withD {
					b.ScaleRows(g, dv, g)
				}
				b.MulBlockTrans(dst2, ab.alpha, a, g, ab.beta)
				if noErr(t, b, "SoftmaxGrad and its composition "+what) {
					want, mag := combine(ab.alpha, ref.xtg, ref.xtgMag, ab.beta, d0)
					finiteMags(t, what, want, mag)
					checkVecIEEE(t, "SoftmaxGrad vs MulBlock, CrossEntropy, ScaleRows, MulBlockTrans "+what+": dst",
						get(t, b, dst), get(t, b, dst2), mag)
					checkVecIEEE(t, "SoftmaxGrad vs MulBlock, Softmax "+what+": prob", get(t, b, prob), get(t, b, p2), ref.probMag)
					checkVecIEEE(t, "SoftmaxGrad vs MulBlock, CrossEntropy "+what+": loss", get(t, b, loss), get(t, b, loss2), ref.lossMag)
				}

				// SoftmaxHessBlock at P, through the core operations.
				hv, hvMag := refSoftmaxHess(m, ref.prob, k, dRef, v)
				h1, h2 := newBlock(t, b, cols, k, d0), newBlock(t, b, cols, k, d0)
				b.SoftmaxHessBlock(h1, ab.alpha, a, prob, dArg, vv, ab.beta)
				u, pu, sums := z, g, loss2 // reused
				b.MulBlock(u, 1, a, vv, 0)
				b.MulElem(pu, 1, prob, u, 0)
				b.RowSums(sums, 1, pu, 0)
				b.ScaleRows(u, sums, prob)
				b.Axpy(-1, u, pu)
				if withD {
					b.ScaleRows(pu, dv, pu)
				}
				b.MulBlockTrans(h2, ab.alpha, a, pu, ab.beta)
				if noErr(t, b, "SoftmaxHessBlock and its composition "+what) {
					_, mag := combine(ab.alpha, hv, hvMag, ab.beta, d0)
					finiteMags(t, what, hv, mag)
					checkVecIEEE(t, "SoftmaxHessBlock vs MulBlock, MulElem, RowSums, ScaleRows, Axpy, MulBlockTrans "+what,
						get(t, b, h1), get(t, b, h2), mag)
				}
				for _, x := range []backend.Vector{dst, prob, loss, z, g, p2, dst2, loss2, h1, h2} {
					b.Free(x)
				}
			}
			b.Free(wv)
			b.Free(vv)
			b.Free(yl)
			b.Free(dv)
		}
		b.FreeMatrix(a)
	}
}

// testMultinomialDerivatives checks on small problems that SoftmaxGrad's
// dst (α = 1, β = 0) is the gradient of L(W) = Σ_i d_i·CE_i, CE_i its own
// loss output, and that SoftmaxHessBlock at P = softmax(X·W) is the
// derivative of that gradient along V, both by central differences
// (step h = 1e-5, relative error ≤ 1e-6 normwise).
func (s *suite) testMultinomialDerivatives(t *testing.T) {
	b := s.multinomial(t)
	const h, tol = 1e-5, 1e-6
	for ci, c := range []struct {
		m    *HostMatrix
		k    int
		useD bool
	}{
		{RandDense(Rand(9800), 9, 4), 3, true},
		{RandCSR(Rand(9801), 11, 5, 0.6), 4, true},
		{RandDense(Rand(9802), 6, 3), 10, false},
		{RandCSR(Rand(9803), 12, 4, 0.7), 2, false},
	} {
		m, k := c.m, c.k
		r := Rand(uint64(9810 + ci))
		w, v := RandVector(r, m.Cols*k), RandVector(r, m.Cols*k)
		y := RandClasses(r, m.Rows, k)
		dw := mnlWeights(r, m.Rows)
		a := newMat(t, b, m)
		wv, vb, yl, dv := newBlock(t, b, m.Cols, k, w), newBlock(t, b, m.Cols, k, v), newLabels(t, b, k, y), newVec(t, b, dw)
		var dArg backend.Vector
		if c.useD {
			dArg = dv
		}
		grad, prob, loss := newBlock(t, b, m.Cols, k, nil), newBlock(t, b, m.Rows, k, nil), newVec(t, b, make([]float64, m.Rows))
		hp := newBlock(t, b, m.Cols, k, nil)
		what := fmt.Sprintf("%v k=%d d=%s", m, k, optName(c.useD))
		// at evaluates SoftmaxGrad at W = w: the gradient, and L from the
		// loss output.
		at := func(w []float64) ([]float64, float64) {
			b.Upload(wv, w)
			b.SoftmaxGrad(grad, 1, a, wv, yl, dArg, 0, prob, loss)
			var l float64
			for i, ce := range get(t, b, loss) {
				if c.useD {
					ce *= dw[i]
				}
				l += ce
			}
			return get(t, b, grad), l
		}
		g, _ := at(w)
		b.SoftmaxHessBlock(hp, 1, a, prob, dArg, vb, 0)
		hv := get(t, b, hp)
		fd := make([]float64, len(w))
		for j := range w {
			wp, wm := append([]float64(nil), w...), append([]float64(nil), w...)
			wp[j] += h
			wm[j] -= h
			_, lp := at(wp)
			_, lm := at(wm)
			fd[j] = (lp - lm) / (2 * h)
		}
		wp, wm := append([]float64(nil), w...), append([]float64(nil), w...)
		for j := range w {
			wp[j] += h * v[j]
			wm[j] -= h * v[j]
		}
		gp, _ := at(wp)
		gm, _ := at(wm)
		fdh := make([]float64, len(w))
		for j := range fdh {
			fdh[j] = (gp[j] - gm[j]) / (2 * h)
		}
		if noErr(t, b, "derivatives "+what) {
			relDiff(t, "SoftmaxGrad vs central differences of Σ d_i·loss_i "+what, g, fd, tol)
			relDiff(t, "SoftmaxHessBlock vs central differences of SoftmaxGrad along V "+what, hv, fdh, tol)
		}
		for _, x := range []backend.Vector{wv, vb, dv, grad, prob, loss, hp} {
			b.Free(x)
		}
		b.Free(yl)
		b.FreeMatrix(a)
	}
}

// relDiff reports ‖got − want‖₂ > tol·‖want‖₂, or a want that is zero
// (which would make the comparison void).
func relDiff(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	diff := make([]float64, len(got))
	for i := range got {
		diff[i] = got[i] - want[i]
	}
	n := refNrm2(want)
	if n == 0 {
		t.Fatalf("%s: the test's finite differences are all zero", what)
	}
	if d := refNrm2(diff); !(d <= tol*n) {
		t.Errorf("%s: ‖got − fd‖ = %.3g > %.0e·‖fd‖ = %.3g\ngot %v\nfd  %v", what, d, tol, tol*n, got, want)
	}
}

// mnlSpecialX is the 8×5 CSR matrix of the special-value tests, with NaN
// and +Inf among its entries and no duplicates (so that where a backend sums
// duplicate entries makes no difference to which sums are special), and
// mnlSpecialW the 5×3 weights with W_12 = +Inf. With the labels
// mnlSpecialY, the rows of Z = X·W are: 0 holds +Inf (P NaN, loss
// +Inf); 1 holds −Inf (P_12 = 0, all finite); 2 holds −Inf at its label
// (P finite, loss +Inf); 3 holds +Inf at its label (P and loss NaN); 4 is
// NaN (from X_40); 5 and 7 are finite; 6 holds ±Inf (X_60 = +Inf: P NaN,
// loss +Inf, its label at −Inf). The rows holding NaN or +Inf touch
// columns 0 to 2 only, so that columns 3 and 4 of Xᵀ·G stay finite.
func mnlSpecialX() *HostMatrix {
	inf, nan := math.Inf(1), math.NaN()
	return &HostMatrix{Rows: 8, Cols: 5, Format: backend.CSR,
		Indptr:  []int{0, 3, 5, 7, 9, 11, 13, 15, 17},
		Indices: []int{1, 0, 2, 3, 1, 1, 4, 1, 0, 0, 2, 0, 2, 0, 2, 4, 3},
		Data:    []float64{0.5, 1, -1, 1, -0.5, -2, 0.7, 2, -1, nan, 1, 2, 1, inf, 0.5, 1.5, -0.75}}
}

var (
	mnlSpecialW = []float64{0.5, -1, 2, 0.3, 0.2, math.Inf(1), 1, -0.5, 0.25, -0.4, 0.6, 0.1, 0.8, 0.3, -0.2}
	mnlSpecialY = []int{0, 0, 2, 2, 1, 0, 1, 1}
)

// toDense returns the dense form of a CSR matrix without duplicates, its
// absent entries stored as zeros (so that 0·Inf = NaN appears where the CSR
// form has no term).
func toDense(m *HostMatrix) *HostMatrix {
	out := &HostMatrix{Rows: m.Rows, Cols: m.Cols, Format: backend.Dense, Dense: make([]float64, m.Rows*m.Cols)}
	for i := range m.Rows {
		m.row(i, func(j int, v float64) { out.Dense[i*m.Cols+j] = v })
	}
	return out
}

// mnlSpecialCoefs are the (α, β) cases of the special-value tests: α = 0
// must still multiply (0·Inf = NaN, 0·NaN = NaN), β = 0 must overwrite a
// NaN in dst and β ≠ 0 propagate it.
var mnlSpecialCoefs = []struct {
	alpha, beta float64
	nanDst      bool
}{{1, 0, true}, {0, 0, true}, {0, 1, false}, {0.5, 1, true}, {-2, 0.5, false}}

// testMultinomialSpecials checks the IEEE special values of SoftmaxGrad
// and SoftmaxHessBlock: a row of X·W holding NaN or +Inf gives a row of NaN
// in prob and the loss of CrossEntropy (NaN for NaN, LSE − z_{i,y_i} = +Inf
// − z_{i,y_i} for +Inf: NaN when the label's score is +Inf too, else +Inf),
// and NaN in every column of dst that the row touches; α = 0 multiplies
// (Inf in X, or in d, gives NaN), β = 0 overwrites NaN in dst.
func (s *suite) testMultinomialSpecials(t *testing.T) {
	b := s.multinomial(t)
	inf := math.Inf(1)
	const k = 3
	sp := mnlSpecialX()
	w, y := mnlSpecialW, mnlSpecialY
	rows, cols := sp.Rows, sp.Cols

	// The documented values, spelled out, so that the reference is checked
	// too: rows of P that are NaN, and the special losses.
	ref := refSoftmaxGrad(sp, w, k, y, nil)
	for i := range rows {
		nanRow := i == 0 || i == 3 || i == 4 || i == 6
		for c := range k {
			if math.IsNaN(ref.prob[i*k+c]) != nanRow {
				t.Fatalf("test reference: P_%d%d = %v (NaN row: %v)", i, c, ref.prob[i*k+c], nanRow)
			}
		}
		l := ref.loss[i]
		switch i {
		case 0, 2, 6:
			if l != inf {
				t.Fatalf("test reference: loss_%d = %v, want +Inf", i, l)
			}
		case 3, 4:
			if !math.IsNaN(l) {
				t.Fatalf("test reference: loss_%d = %v, want NaN", i, l)
			}
		default:
			if !finite(l) {
				t.Fatalf("test reference: loss_%d = %v, want a finite value", i, l)
			}
		}
	}
	if ref.prob[1*k+2] != 0 {
		t.Fatalf("test reference: P_12 = %v, want 0", ref.prob[1*k+2])
	}
	for j := range cols {
		for c := range k {
			if math.IsNaN(ref.xtg[j*k+c]) != (j < 3) {
				t.Fatalf("test reference: (XᵀG)_%d%d = %v", j, c, ref.xtg[j*k+c])
			}
		}
	}

	dw := []float64{1, 2, -1, 0.5, 1, 0, -2, 1}
	for _, m := range []*HostMatrix{sp, toDense(sp)} {
		a := newMat(t, b, m)
		wv, yl, dv := newBlock(t, b, cols, k, w), newLabels(t, b, k, y), newVec(t, b, dw)
		v := RandVector(Rand(9900), cols*k)
		vb := newBlock(t, b, cols, k, v)
		for _, withD := range []bool{false, true} {
			var dRef []float64
			var dArg backend.Vector
			if withD {
				dRef, dArg = dw, dv
			}
			ref := refSoftmaxGrad(m, w, k, y, dRef)
			// P is SoftmaxGrad's prob, with NaN rows, or a finite softmax,
			// so that the NaN and Inf of X reach R through U = X·V alone.
			smooth, _ := refSoftmax(RandScores(Rand(9903), rows, k), rows, k)
			ps := [][]float64{ref.prob, smooth}
			hvs, hvMags := make([][]float64, len(ps)), make([][]float64, len(ps))
			pvs := make([]backend.Block, len(ps))
			for pi, p := range ps {
				hvs[pi], hvMags[pi] = refSoftmaxHess(m, p, k, dRef, v)
				pvs[pi] = newBlock(t, b, rows, k, p)
			}
			for _, ab := range mnlSpecialCoefs {
				what := fmt.Sprintf("SoftmaxGrad %v with NaN and Inf in X·W d=%s %s", m, optName(withD), coef(ab.alpha, ab.beta, ab.nanDst))
				d0 := RandVector(Rand(9901), cols*k)
				if ab.nanDst {
					d0 = withNaN(d0)
				}
				want, _ := combine(ab.alpha, ref.xtg, ref.xtgMag, ab.beta, d0)
				mustHaveNaN(t, what, want, true)
				softmaxGradCase(t, b, Rand(9902), what, m, a, wv, w, yl, dArg, dw, &ref, ab.alpha, ab.beta, ab.nanDst, true, true)

				for pi, pv := range pvs {
					what := fmt.Sprintf("SoftmaxHessBlock %v with NaN and Inf in X, P %s d=%s %s", m,
						[]string{"with NaN rows", "finite"}[pi], optName(withD), coef(ab.alpha, ab.beta, ab.nanDst))
					dst := newBlock(t, b, cols, k, d0)
					b.SoftmaxHessBlock(dst, ab.alpha, a, pv, dArg, vb, ab.beta)
					if noErr(t, b, what) {
						want, mag := combine(ab.alpha, hvs[pi], hvMags[pi], ab.beta, d0)
						mustHaveNaN(t, what, want, true)
						checkMNL(t, what, get(t, b, dst), want, mag)
					}
					b.Free(dst)
				}
			}
			for _, pv := range pvs {
				b.Free(pv)
			}
		}
		for _, x := range []backend.Vector{wv, dv, vb} {
			b.Free(x)
		}
		b.Free(yl)
		b.FreeMatrix(a)
	}

	// An infinite weight d_i in finite data, in the first row that has
	// entries: the columns of Xᵀ·G and Xᵀ·R that row i touches are
	// infinite, and NaN when α = 0.
	for _, m := range []*HostMatrix{RandDense(Rand(9910), 6, 4), RandCSR(Rand(9911), 9, 7, 0.3).Merged()} {
		r := Rand(9912)
		w := RandVector(r, m.Cols*k)
		y := RandClasses(r, m.Rows, k)
		dw := mnlWeights(r, m.Rows)
		for i := range m.Rows {
			if m.Format == backend.Dense || m.Indptr[i+1] > m.Indptr[i] {
				dw[i] = inf
				break
			}
		}
		sm, _ := refSoftmax(RandScores(r, m.Rows, k), m.Rows, k)
		v := RandVector(r, m.Cols*k)
		a := newMat(t, b, m)
		wv, yl, dv, pv, vb := newBlock(t, b, m.Cols, k, w), newLabels(t, b, k, y), newVec(t, b, dw), newBlock(t, b, m.Rows, k, sm), newBlock(t, b, m.Cols, k, v)
		ref := refSoftmaxGrad(m, w, k, y, dw)
		hv, hvMag := refSoftmaxHess(m, sm, k, dw, v)
		for _, ab := range mnlSpecialCoefs {
			what := fmt.Sprintf("SoftmaxGrad %v with d_i = +Inf %s", m, coef(ab.alpha, ab.beta, ab.nanDst))
			want, _ := combine(ab.alpha, ref.xtg, ref.xtgMag, 0, nil)
			mustHaveNaN(t, what, want, ab.alpha == 0)
			softmaxGradCase(t, b, Rand(9913), what, m, a, wv, w, yl, dv, dw, &ref, ab.alpha, ab.beta, ab.nanDst, true, true)

			what = fmt.Sprintf("SoftmaxHessBlock %v with d_i = +Inf %s", m, coef(ab.alpha, ab.beta, ab.nanDst))
			d0 := RandVector(Rand(9914), m.Cols*k)
			if ab.nanDst {
				d0 = withNaN(d0)
			}
			dst := newBlock(t, b, m.Cols, k, d0)
			b.SoftmaxHessBlock(dst, ab.alpha, a, pv, dv, vb, ab.beta)
			if noErr(t, b, what) {
				want, mag := combine(ab.alpha, hv, hvMag, ab.beta, d0)
				mustHaveNaN(t, what, want, ab.alpha == 0)
				checkMNL(t, what, get(t, b, dst), want, mag)
			}
			b.Free(dst)
		}
		for _, x := range []backend.Vector{wv, dv, pv, vb} {
			b.Free(x)
		}
		b.Free(yl)
		b.FreeMatrix(a)
	}
}

// testMultinomialShapeErrors checks that every shape mismatch of
// SoftmaxGrad and SoftmaxHessBlock records ErrShape naming the operation
// and writes nothing. X is 5×3 and k = 4: W, V and dst 3×4, P and prob
// 5×4, d and loss of 5, 5 labels of 4 classes.
func (s *suite) testMultinomialShapeErrors(t *testing.T) {
	b := s.multinomial(t)
	f := &blockFixture{b: b}
	const sg, sh = "SoftmaxGrad", "SoftmaxHessBlock"
	for _, m := range []*HostMatrix{RandDense(Rand(1), 5, 3), RandCSR(Rand(2), 5, 3, 0.5)} {
		x := newMat(t, b, m)
		w, dst, p, d, l := f.block(t, 3, 4), f.block(t, 3, 4), f.block(t, 5, 4), f.vec(t, 5), f.vec(t, 5)
		b44, b33, b43, b26, b54, b53, b45, b52 := f.block(t, 4, 4), f.block(t, 3, 3), f.block(t, 4, 3), f.block(t, 2, 6), f.block(t, 5, 4), f.block(t, 5, 3), f.block(t, 4, 5), f.block(t, 5, 2)
		v4, v6, v12, v20 := f.vec(t, 4), f.vec(t, 6), f.vec(t, 12), f.vec(t, 20)
		w3 := f.block(t, 3, 3)
		y := newLabels(t, b, 4, []int{0, 3, 1, 2, 3})
		y4 := newLabels(t, b, 4, []int{0, 3, 1, 2})
		y6 := newLabels(t, b, 4, []int{0, 3, 1, 2, 3, 0})
		y3 := newLabels(t, b, 3, []int{0, 2, 1, 2, 0})
		y5 := newLabels(t, b, 5, []int{0, 4, 1, 2, 3})
		// The valid calls, so that each case below fails for its one mismatch.
		b.SoftmaxGrad(dst, 1, x, w, y, d, 0, p, l)
		b.SoftmaxHessBlock(dst, 1, x, p, d, w, 0)
		if !noErr(t, b, "valid SoftmaxGrad and SoftmaxHessBlock") {
			return
		}
		for i, v := range f.vs {
			f.host[i] = get(t, b, v)
		}
		cases := []blockCase{
			{"W 4×4", sg, func() { b.SoftmaxGrad(dst, 1, x, b44, y, d, 0, p, l) }},
			{"W 12×1", sg, func() { b.SoftmaxGrad(dst, 1, x, v12.(backend.Block), y, d, 0, p, l) }},
			{"W 3×3, dst 3×3, prob 5×3 for 4 classes", sg, func() { b.SoftmaxGrad(b33, 1, x, w3, y, d, 0, b53, l) }},
			{"3 classes", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y3, d, 0, p, l) }},
			{"5 classes", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y5, d, 0, nil, nil) }},
			{"4 labels", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y4, d, 0, p, l) }},
			{"6 labels", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y6, nil, 0, nil, nil) }},
			{"dst 4×4", sg, func() { b.SoftmaxGrad(b44, 1, x, w, y, d, 0, p, l) }},
			{"dst 3×3", sg, func() { b.SoftmaxGrad(b33, 1, x, w, y, d, 0, p, l) }},
			{"dst 4×3", sg, func() { b.SoftmaxGrad(b43, 1, x, w, y, d, 0, p, l) }},
			{"dst 2×6", sg, func() { b.SoftmaxGrad(b26, 1, x, w, y, nil, 0, nil, nil) }},
			{"dst 5×4 (rows×k)", sg, func() { b.SoftmaxGrad(b54, 1, x, w, y, d, 0, p, l) }},
			{"d of 4", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, v4, 0, p, l) }},
			{"d of 6", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, v6, 0, nil, nil) }},
			{"d a 5×2 block", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, b52, 0, nil, nil) }},
			{"prob 4×4", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, b44, l) }},
			{"prob 5×3", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, b53, l) }},
			{"prob 4×5", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, b45, l) }},
			{"prob 20×1", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, nil, 0, v20.(backend.Block), nil) }},
			{"loss of 4", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, p, v4) }},
			{"loss of 6", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, nil, 0, nil, v6) }},
			{"loss a 5×4 block", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, nil, 0, nil, b54) }},

			{"P 4×4", sh, func() { b.SoftmaxHessBlock(dst, 1, x, b44, d, w, 0) }},
			{"P 4×5", sh, func() { b.SoftmaxHessBlock(dst, 1, x, b45, d, w, 0) }},
			{"P 5×3", sh, func() { b.SoftmaxHessBlock(dst, 1, x, b53, nil, w, 0) }},
			{"V 4×4", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, d, b44, 0) }},
			{"V 3×3", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, d, b33, 0) }},
			{"V 4×3", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, d, b43, 0) }},
			{"V 12×1", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, nil, v12.(backend.Block), 0) }},
			{"dst 4×4", sh, func() { b.SoftmaxHessBlock(b44, 1, x, p, d, w, 0) }},
			{"dst 3×3", sh, func() { b.SoftmaxHessBlock(b33, 1, x, p, d, w, 0) }},
			{"dst 4×3", sh, func() { b.SoftmaxHessBlock(b43, 1, x, p, d, w, 0) }},
			{"dst 2×6", sh, func() { b.SoftmaxHessBlock(b26, 1, x, p, nil, w, 0) }},
			{"dst 5×4 (rows×k)", sh, func() { b.SoftmaxHessBlock(b54, 1, x, p, d, w, 0) }},
			{"d of 4", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, v4, w, 0) }},
			{"d of 6", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, v6, w, 0) }},
		}
		for i := range cases {
			cases[i].name = fmt.Sprintf("%s %v %s", cases[i].op, m, cases[i].name)
		}
		f.run(t, backend.ErrShape, cases)
		b.FreeMatrix(x)
	}
}

// testMultinomialAliases checks that every forbidden alias of SoftmaxGrad
// (dst, prob or loss and W, d or another output) and of SoftmaxHessBlock
// (dst and P, d or V), also through Reshape views, records ErrAlias and
// changes no operand; X is 4×4 and k = 1, so that every operand has 4
// elements and each alias is shape-valid. It then checks the allowed
// aliases (inputs that share storage) against the reference.
func (s *suite) testMultinomialAliases(t *testing.T) {
	b := s.multinomial(t)
	f := &blockFixture{b: b}
	const sg, sh = "SoftmaxGrad", "SoftmaxHessBlock"
	for _, m := range []*HostMatrix{RandDense(Rand(3), 4, 4), RandCSR(Rand(4), 4, 4, 0.6)} {
		x := newMat(t, b, m)
		w, dst, p, v := f.block(t, 4, 1), f.block(t, 4, 1), f.block(t, 4, 1), f.block(t, 4, 1)
		d, l := f.vec(t, 4), f.vec(t, 4)
		wView, dView, lView, pView, vView := f.view(t, w, 4, 1), f.view(t, d, 4, 1), f.view(t, l, 4, 1), f.view(t, p, 4, 1), f.view(t, v, 4, 1)
		y := newLabels(t, b, 1, []int{0, 0, 0, 0})
		cases := []blockCase{
			{"dst is W", sg, func() { b.SoftmaxGrad(w, 1, x, w, y, d, 0, p, l) }},
			{"dst is W, nothing optional", sg, func() { b.SoftmaxGrad(w, 1, x, w, y, nil, 0, nil, nil) }},
			{"dst is a view of W", sg, func() { b.SoftmaxGrad(wView, 1, x, w, y, nil, 1, nil, nil) }},
			{"dst is d", sg, func() { b.SoftmaxGrad(dView, 1, x, w, y, d, 0, p, l) }},
			{"dst is prob", sg, func() { b.SoftmaxGrad(p, 1, x, w, y, d, 0, p, l) }},
			{"dst is a view of prob", sg, func() { b.SoftmaxGrad(pView, 1, x, w, y, nil, 0, p, nil) }},
			{"dst is loss", sg, func() { b.SoftmaxGrad(lView, 1, x, w, y, d, 0, p, l) }},
			{"prob is W", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, w, l) }},
			{"prob is a view of W", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, nil, 0, wView, nil) }},
			{"prob is d", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, dView, l) }},
			{"prob is loss", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, lView, l) }},
			{"loss is W", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, p, w) }},
			{"loss is a view of W", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, nil, 0, nil, wView) }},
			{"loss is d", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, p, d) }},
			{"loss is a view of d", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, nil, dView) }},
			{"everything is W", sg, func() { b.SoftmaxGrad(w, 1, x, w, y, w, 0, w, w) }},

			{"dst is P", sh, func() { b.SoftmaxHessBlock(p, 1, x, p, d, v, 0) }},
			{"dst is a view of P", sh, func() { b.SoftmaxHessBlock(pView, 1, x, p, nil, v, 1) }},
			{"dst is d", sh, func() { b.SoftmaxHessBlock(dView, 1, x, p, d, v, 0) }},
			{"dst is V", sh, func() { b.SoftmaxHessBlock(v, 1, x, p, d, v, 0) }},
			{"dst is a view of V", sh, func() { b.SoftmaxHessBlock(vView, 1, x, p, nil, v, 0) }},
			{"everything is V", sh, func() { b.SoftmaxHessBlock(v, 1, x, v, v, v, 0) }},
		}
		for i := range cases {
			cases[i].name = fmt.Sprintf("%s %v %s", cases[i].op, m, cases[i].name)
		}
		f.run(t, backend.ErrAlias, cases)
		b.FreeMatrix(x)
	}

	// Allowed: inputs that share storage. X 6×3 and k = 2: W is a 3×2 view
	// of d (6 elements), and V too.
	m := RandDense(Rand(5), 6, 3)
	x := newMat(t, b, m)
	dw := RandVector(Rand(6), 6)
	y := []int{0, 1, 1, 0, 1, 0}
	dv, yl := newVec(t, b, dw), newLabels(t, b, 2, y)
	wView := f.view(t, dv, 3, 2)
	ref := refSoftmaxGrad(m, dw, 2, y, dw)
	softmaxGradCase(t, b, Rand(7), "SoftmaxGrad with W a view of d", m, x, wView, dw, yl, dv, dw, &ref, 1.5, 0, true, true, true)
	p := RandVector(Rand(8), 12)
	pv := newBlock(t, b, 6, 2, p)
	dst := newBlock(t, b, 3, 2, withNaN(make([]float64, 6)))
	b.SoftmaxHessBlock(dst, -1, x, pv, dv, wView, 0)
	if noErr(t, b, "SoftmaxHessBlock with V a view of d") {
		hv, hvMag := refSoftmaxHess(m, p, 2, dw, dw)
		want, mag := combine(-1, hv, hvMag, 0, nil)
		checkMNL(t, "SoftmaxHessBlock with V a view of d", get(t, b, dst), want, mag)
		checkExact(t, "SoftmaxHessBlock with V a view of d: d", get(t, b, dv), dw)
	}
	// X 4×4 and k = 1: P, d and V one vector.
	m = RandCSR(Rand(9), 4, 4, 0.7)
	x4 := newMat(t, b, m)
	q := RandVector(Rand(10), 4)
	qv := newVec(t, b, q)
	qb := f.view(t, qv, 4, 1)
	dst4 := newBlock(t, b, 4, 1, withNaN(make([]float64, 4)))
	b.SoftmaxHessBlock(dst4, 2, x4, qb, qv, qb, 0)
	if noErr(t, b, "SoftmaxHessBlock with P, d and V one vector") {
		hv, hvMag := refSoftmaxHess(m, q, 1, q, q)
		want, mag := combine(2, hv, hvMag, 0, nil)
		checkMNL(t, "SoftmaxHessBlock with P, d and V one vector", get(t, b, dst4), want, mag)
		checkExact(t, "SoftmaxHessBlock with P, d and V one vector: the vector", get(t, b, qv), q)
	}
}

// testMultinomialForeign checks operands of another backend instance.
func (s *suite) testMultinomialForeign(t *testing.T) {
	b, other := s.multinomial(t), s.multinomial(t)
	const sg, sh = "SoftmaxGrad", "SoftmaxHessBlock"
	m := RandDense(Rand(4), 3, 3)
	x, ox := newMat(t, b, m), newMat(t, other, m)
	blk := func(bk backend.Backend, seed uint64) backend.Block {
		return newBlock(t, bk, 3, 3, RandVector(Rand(seed), 9))
	}
	w, dst, p, v := blk(b, 1), blk(b, 2), blk(b, 3), blk(b, 4)
	ow, odst, op, ov := blk(other, 1), blk(other, 2), blk(other, 3), blk(other, 4)
	d, l := newVec(t, b, []float64{1, 2, 3}), newVec(t, b, []float64{4, 5, 6})
	od, ol := newVec(t, other, []float64{1, 2, 3}), newVec(t, other, []float64{4, 5, 6})
	y, oy := newLabels(t, b, 3, []int{0, 1, 2}), newLabels(t, other, 3, []int{0, 1, 2})
	cases := []blockCase{
		{"X", sg, func() { b.SoftmaxGrad(dst, 1, ox, w, y, d, 0, p, l) }},
		{"W", sg, func() { b.SoftmaxGrad(dst, 1, x, ow, y, d, 0, p, l) }},
		{"labels", sg, func() { b.SoftmaxGrad(dst, 1, x, w, oy, d, 0, p, l) }},
		{"d", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, od, 0, p, l) }},
		{"dst", sg, func() { b.SoftmaxGrad(odst, 1, x, w, y, d, 0, p, l) }},
		{"prob", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, op, l) }},
		{"loss", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, nil, 0, nil, ol) }},
		{"X", sh, func() { b.SoftmaxHessBlock(dst, 1, ox, p, d, v, 0) }},
		{"P", sh, func() { b.SoftmaxHessBlock(dst, 1, x, op, d, v, 0) }},
		{"d", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, od, v, 0) }},
		{"V", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, nil, ov, 0) }},
		{"dst", sh, func() { b.SoftmaxHessBlock(odst, 1, x, p, d, v, 0) }},
	}
	mine := []backend.Vector{w, dst, p, v, d, l}
	host := make([][]float64, len(mine))
	for i, u := range mine {
		host[i] = get(t, b, u)
	}
	for k, c := range cases {
		c.do()
		what := fmt.Sprintf("foreign case %d (%s %s)", k, c.op, c.name)
		wantErr(t, b, backend.ErrForeign, c.op, what)
		for i, u := range mine {
			checkExact(t, fmt.Sprintf("%s: operand %d changed", what, i), get(t, b, u), host[i])
		}
	}
	if err := other.Err(); err != nil {
		t.Errorf("the other backend recorded %v", err)
	}
	for i, u := range []backend.Vector{ow, odst, op, ov, od, ol} {
		checkExact(t, fmt.Sprintf("the other backend's operand %d", i), get(t, other, u), host[i])
	}
}

// testMultinomialFreed checks freed operands: blocks, vectors, views whose
// vector was freed, vectors whose view was freed, labels, and the matrix.
func (s *suite) testMultinomialFreed(t *testing.T) {
	b := s.multinomial(t)
	const sg, sh = "SoftmaxGrad", "SoftmaxHessBlock"
	x := newMat(t, b, RandDense(Rand(6), 3, 3))
	blk := func(seed uint64) backend.Block { return newBlock(t, b, 3, 3, RandVector(Rand(seed), 9)) }
	w, dst, p, v := blk(1), blk(2), blk(3), blk(4)
	d, l := newVec(t, b, []float64{1, 2, 3}), newVec(t, b, []float64{4, 5, 6})
	y := newLabels(t, b, 3, []int{0, 2, 1})

	base := newVec(t, b, RandVector(Rand(8), 9))
	view, err := b.Reshape(base, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	b.Free(base) // frees the view's storage too
	base2 := blk(9)
	view2, err := b.Reshape(base2, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	b.Free(view2) // frees base2 too
	fb, fv := blk(10), newVec(t, b, []float64{1, 2, 3})
	fy := newLabels(t, b, 3, []int{1, 1, 0})
	b.Free(fb)
	b.Free(fv)
	b.Free(fy)
	noErr(t, b, "Free of blocks, views, vectors and labels")
	cases := []blockCase{
		{"freed dst", sg, func() { b.SoftmaxGrad(fb, 1, x, w, y, d, 0, p, l) }},
		{"dst a view of a freed vector", sg, func() { b.SoftmaxGrad(view, 1, x, w, y, nil, 0, nil, nil) }},
		{"freed W (freed through its view)", sg, func() { b.SoftmaxGrad(dst, 1, x, base2, y, d, 0, p, l) }},
		{"freed labels", sg, func() { b.SoftmaxGrad(dst, 1, x, w, fy, d, 0, p, l) }},
		{"freed d", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, fv, 0, p, l) }},
		{"freed prob", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, view, l) }},
		{"freed loss", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, p, fv) }},
		{"freed dst", sh, func() { b.SoftmaxHessBlock(fb, 1, x, p, d, v, 0) }},
		{"freed P", sh, func() { b.SoftmaxHessBlock(dst, 1, x, view, d, v, 0) }},
		{"freed d", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, fv, v, 0) }},
		{"freed V", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, nil, base2, 0) }},
	}
	mine := []backend.Vector{w, dst, p, v, d, l}
	host := make([][]float64, len(mine))
	for i, u := range mine {
		host[i] = get(t, b, u)
	}
	run := func(cases []blockCase) {
		for k, c := range cases {
			c.do()
			what := fmt.Sprintf("freed case %d (%s %s)", k, c.op, c.name)
			wantErr(t, b, backend.ErrFreed, c.op, what)
			for i, u := range mine {
				checkExact(t, fmt.Sprintf("%s: operand %d changed", what, i), get(t, b, u), host[i])
			}
		}
	}
	run(cases)
	b.FreeMatrix(x)
	run([]blockCase{
		{"freed matrix", sg, func() { b.SoftmaxGrad(dst, 1, x, w, y, d, 0, p, l) }},
		{"freed matrix", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, d, v, 0) }},
	})
}

// testMultinomialInvalid checks that a nil required operand (X, W, the
// labels, dst, P, V) records ErrInvalid naming the operation.
func (s *suite) testMultinomialInvalid(t *testing.T) {
	b := s.multinomial(t)
	f := &blockFixture{b: b}
	const sg, sh = "SoftmaxGrad", "SoftmaxHessBlock"
	x := newMat(t, b, RandDense(Rand(6), 3, 3))
	w, dst, p, v := f.block(t, 3, 3), f.block(t, 3, 3), f.block(t, 3, 3), f.block(t, 3, 3)
	d, l := f.vec(t, 3), f.vec(t, 3)
	y := newLabels(t, b, 3, []int{0, 2, 1})
	f.run(t, backend.ErrInvalid, []blockCase{
		{"SoftmaxGrad nil X", sg, func() { b.SoftmaxGrad(dst, 1, nil, w, y, d, 0, p, l) }},
		{"SoftmaxGrad nil W", sg, func() { b.SoftmaxGrad(dst, 1, x, nil, y, d, 0, p, l) }},
		{"SoftmaxGrad nil labels", sg, func() { b.SoftmaxGrad(dst, 1, x, w, nil, d, 0, p, l) }},
		{"SoftmaxGrad nil dst", sg, func() { b.SoftmaxGrad(nil, 1, x, w, y, d, 0, p, l) }},
		{"SoftmaxHessBlock nil X", sh, func() { b.SoftmaxHessBlock(dst, 1, nil, p, d, v, 0) }},
		{"SoftmaxHessBlock nil P", sh, func() { b.SoftmaxHessBlock(dst, 1, x, nil, d, v, 0) }},
		{"SoftmaxHessBlock nil V", sh, func() { b.SoftmaxHessBlock(dst, 1, x, p, d, nil, 0) }},
		{"SoftmaxHessBlock nil dst", sh, func() { b.SoftmaxHessBlock(nil, 1, x, p, d, v, 0) }},
	})
}

// testMultinomialSticky checks that after a failure SoftmaxGrad and
// SoftmaxHessBlock are no-ops until ClearErr, and work after it.
func (s *suite) testMultinomialSticky(t *testing.T) {
	b := s.multinomial(t)
	f := &blockFixture{b: b}
	m := RandDense(Rand(10), 4, 4)
	x := newMat(t, b, m)
	w, dst, p, v := f.block(t, 4, 3), f.block(t, 4, 3), f.block(t, 4, 3), f.block(t, 4, 3)
	d, l := f.vec(t, 4), f.vec(t, 4)
	yy := []int{0, 1, 2, 1}
	y := newLabels(t, b, 3, yy)
	short := f.vec(t, 1)

	b.Axpy(1, short, d) // the first failure
	first := b.Err()
	if first == nil {
		t.Fatal("Axpy with mismatched lengths recorded no error")
	}
	b.SoftmaxGrad(dst, 1, x, w, y, d, 0, p, l)
	b.SoftmaxGrad(dst, 1, x, w, y, nil, 0.5, nil, nil)
	b.SoftmaxHessBlock(dst, 1, x, p, d, v, 0)
	b.SoftmaxGrad(w, 1, x, w, y, d, 0, p, l) // a second failure must not replace the first
	b.SoftmaxHessBlock(v, 1, x, p, d, v, 0)
	if err := b.Err(); err != first {
		t.Errorf("Err() = %v after more operations, want the first error %v", err, first)
	}
	wantErr(t, b, backend.ErrShape, "Axpy", "first failure")
	for i, u := range f.vs {
		checkExact(t, fmt.Sprintf("operations after a failure changed operand %d", i), get(t, b, u), f.host[i])
	}
	b.SoftmaxGrad(dst, 1, x, w, y, d, 0, p, l)
	if noErr(t, b, "SoftmaxGrad after ClearErr") {
		ref := refSoftmaxGrad(m, f.host[0], 3, yy, f.host[4])
		checkMNL(t, "SoftmaxGrad after ClearErr: dst", get(t, b, dst), ref.xtg, ref.xtgMag)
		checkMNL(t, "SoftmaxGrad after ClearErr: prob", get(t, b, p), ref.prob, ref.probMag)
		checkMNL(t, "SoftmaxGrad after ClearErr: loss", get(t, b, l), ref.loss, ref.lossMag)
	}
}

// testMultinomialDeterminism runs SoftmaxGrad and SoftmaxHessBlock twice on
// the same inputs, on shapes that a parallel backend splits, and requires
// bit-identical results.
func (s *suite) testMultinomialDeterminism(t *testing.T) {
	b := s.multinomial(t)
	for si, sh := range []struct {
		shape
		k int
	}{{shape{1003, 67, 0}, 3}, {shape{1003, 67, 0}, 10}, {shape{3001, 257, 0.06}, 3}, {shape{20011, 3, 0.7}, 3},
		{shape{2, 20011, 0}, 3}, {shape{10007, 100, 0.2}, 1}} {
		m := sh.hostMatrix(uint64(9950 + si))
		k := sh.k
		r := Rand(uint64(9960 + si))
		a := newMat(t, b, m)
		w, v := mnlScaled(r, m.Cols, k, 3), RandVector(r, m.Cols*k)
		y, dw := RandClasses(r, m.Rows, k), mnlWeights(r, m.Rows)
		d0 := RandVector(r, m.Cols*k)
		wv, vb, yl, dv := newBlock(t, b, m.Cols, k, w), newBlock(t, b, m.Cols, k, v), newLabels(t, b, k, y), newVec(t, b, dw)
		var res [2][4][]float64
		for rep := range res {
			dst, prob, loss, hdst := newBlock(t, b, m.Cols, k, d0), newBlock(t, b, m.Rows, k, nil), newVec(t, b, make([]float64, m.Rows)), newBlock(t, b, m.Cols, k, d0)
			b.SoftmaxGrad(dst, 1.5, a, wv, yl, dv, 0.5, prob, loss)
			b.SoftmaxHessBlock(hdst, -0.5, a, prob, dv, vb, 2)
			if noErr(t, b, fmt.Sprintf("SoftmaxGrad and SoftmaxHessBlock %v k=%d", m, k)) {
				res[rep] = [4][]float64{get(t, b, dst), get(t, b, prob), get(t, b, loss), get(t, b, hdst)}
			}
			for _, x := range []backend.Vector{dst, prob, loss, hdst} {
				b.Free(x)
			}
		}
		for o, name := range []string{"SoftmaxGrad dst", "SoftmaxGrad prob", "SoftmaxGrad loss", "SoftmaxHessBlock dst"} {
			what := fmt.Sprintf("%s %v k=%d is not deterministic", name, m, k)
			checkExact(t, what, res[1][o], res[0][o])
		}
		for _, x := range []backend.Vector{wv, vb, dv} {
			b.Free(x)
		}
		b.Free(yl)
		b.FreeMatrix(a)
	}
}
