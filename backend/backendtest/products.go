package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// eachShape calls f with every matrix shape of the suite, uploaded to b.
func eachShape(t *testing.T, b backend.Backend, f func(seed uint64, m *HostMatrix, a backend.Matrix)) {
	t.Helper()
	for k, sh := range shapes {
		seed := uint64(1000 + k)
		m := sh.hostMatrix(seed)
		a := newMat(t, b, m)
		f(seed, m, a)
		b.FreeMatrix(a)
	}
}

func (s *suite) testMulVec(t *testing.T) {
	b := s.backend(t)
	eachShape(t, b, func(seed uint64, m *HostMatrix, a backend.Matrix) {
		r := Rand(seed)
		x := RandVector(r, m.Cols)
		xv := newVec(t, b, x)
		ax, axMag := refAx(m, x)
		for _, ab := range alphaBetas {
			d := RandVector(r, m.Rows)
			if ab.nanDst {
				d = withNaN(d)
			}
			dv := newVec(t, b, d)
			b.MulVec(dv, ab.alpha, a, xv, ab.beta)
			what := fmt.Sprintf("MulVec %v %s (seed %d)", m, coef(ab.alpha, ab.beta, ab.nanDst), seed)
			if noErr(t, b, what) {
				ref, mag := combine(ab.alpha, ax, axMag, ab.beta, d)
				checkVec(t, what, get(t, b, dv), ref, mag)
				checkExact(t, what+": x", get(t, b, xv), x)
			}
			b.Free(dv)
		}
	})
}

func (s *suite) testMulVecTrans(t *testing.T) {
	b := s.backend(t)
	eachShape(t, b, func(seed uint64, m *HostMatrix, a backend.Matrix) {
		r := Rand(seed)
		x := RandVector(r, m.Rows)
		xv := newVec(t, b, x)
		atx, atxMag := refAtx(m, x, nil)
		for _, ab := range alphaBetas {
			d := RandVector(r, m.Cols)
			if ab.nanDst {
				d = withNaN(d)
			}
			dv := newVec(t, b, d)
			b.MulVecTrans(dv, ab.alpha, a, xv, ab.beta)
			what := fmt.Sprintf("MulVecTrans %v %s (seed %d)", m, coef(ab.alpha, ab.beta, ab.nanDst), seed)
			if noErr(t, b, what) {
				ref, mag := combine(ab.alpha, atx, atxMag, ab.beta, d)
				checkVec(t, what, get(t, b, dv), ref, mag)
			}
			b.Free(dv)
		}
	})
}

func (s *suite) testGramVec(t *testing.T) {
	b := s.backend(t)
	eachShape(t, b, func(seed uint64, m *HostMatrix, a backend.Matrix) {
		r := Rand(seed)
		v := RandVector(r, m.Cols)
		wts := RandVector(r, m.Rows)
		for i := range wts {
			wts[i] = math.Abs(wts[i])
		}
		vv, wv := newVec(t, b, v), newVec(t, b, wts)
		for _, withD := range []bool{false, true} {
			var dRef []float64
			if withD {
				dRef = wts
			}
			p, pMag := refGram(m, dRef, v)
			for _, ab := range alphaBetas {
				d := RandVector(r, m.Cols)
				if ab.nanDst {
					d = withNaN(d)
				}
				dv := newVec(t, b, d)
				var dArg backend.Vector
				if withD {
					dArg = wv
				}
				b.GramVec(dv, ab.alpha, a, dArg, vv, ab.beta)
				what := fmt.Sprintf("GramVec %v d=%v %s (seed %d)", m, map[bool]string{false: "nil", true: "weights"}[withD],
					coef(ab.alpha, ab.beta, ab.nanDst), seed)
				if noErr(t, b, what) {
					ref, mag := combine(ab.alpha, p, pMag, ab.beta, d)
					checkVec(t, what, get(t, b, dv), ref, mag)
				}
				b.Free(dv)
			}
		}
	})
}

// testGramDiag checks GramDiag on every shape, with d nil and not (signed
// weights: the operation does not assume d ≥ 0), and for CSR also on the
// same matrix with its duplicates merged, which a backend may treat
// differently (each stored entry squared as it comes).
func (s *suite) testGramDiag(t *testing.T) {
	b := s.backend(t)
	eachShape(t, b, func(seed uint64, m *HostMatrix, a backend.Matrix) {
		r := Rand(seed)
		wts := RandVector(r, m.Rows)
		wv := newVec(t, b, wts)
		defer b.Free(wv)
		mats := []*HostMatrix{m}
		as := []backend.Matrix{a}
		if m.Format == backend.CSR {
			mm := m.Merged()
			mats = append(mats, mm)
			as = append(as, newMat(t, b, mm))
			defer b.FreeMatrix(as[1])
		}
		for k, hm := range mats {
			for _, withD := range []bool{false, true} {
				var dRef []float64
				var dArg backend.Vector
				if withD {
					dRef, dArg = wts, wv
				}
				p, pMag := refGramDiag(hm, dRef)
				for _, ab := range alphaBetas {
					d := RandVector(r, m.Cols)
					if ab.nanDst {
						d = withNaN(d)
					}
					dv := newVec(t, b, d)
					b.GramDiag(dv, ab.alpha, as[k], dArg, ab.beta)
					what := fmt.Sprintf("GramDiag %v%s d=%v %s (seed %d)", hm, map[bool]string{false: "", true: " (duplicates merged)"}[k == 1],
						map[bool]string{false: "nil", true: "weights"}[withD], coef(ab.alpha, ab.beta, ab.nanDst), seed)
					if noErr(t, b, what) {
						ref, mag := combine(ab.alpha, p, pMag, ab.beta, d)
						checkVec(t, what, get(t, b, dv), ref, mag)
						checkExact(t, what+": d", get(t, b, wv), wts)
					}
					b.Free(dv)
				}
			}
		}
	})
}

func (s *suite) testGLMGrad(t *testing.T) {
	b := s.backend(t)
	eachShape(t, b, func(seed uint64, m *HostMatrix, a backend.Matrix) {
		r := Rand(seed)
		for _, loss := range []backend.Loss{backend.Squared, backend.Logistic} {
			for _, wScale := range []float64{1, 40} { // 40: |z| large enough to overflow exp naively
				if loss == backend.Squared && wScale != 1 {
					continue
				}
				w := RandVector(r, m.Cols)
				for i := range w {
					w[i] *= wScale / math.Sqrt(float64(max(1, m.Cols)))
				}
				y := RandVector(r, m.Rows)
				if loss == backend.Logistic {
					y = RandLabels(r, m.Rows)
				}
				wv, yv := newVec(t, b, w), newVec(t, b, y)
				ref := refGLM(m, w, y, loss)
				for _, withDst := range []bool{true, false} {
					for _, withCurv := range []bool{true, false} {
						for _, ab := range alphaBetas {
							if !withDst && ab != alphaBetas[0] {
								continue // α, β play no part
							}
							s.glmCase(t, b, seed, m, a, loss, &ref, w, y, wv, yv, withDst, withCurv, ab.alpha, ab.beta, ab.nanDst)
						}
					}
				}
				b.Free(wv)
				b.Free(yv)
			}
		}
	})
}

func (s *suite) glmCase(t *testing.T, b full, seed uint64, m *HostMatrix, a backend.Matrix, loss backend.Loss,
	ref *glmRef, w, y []float64, wv, yv backend.Vector, withDst, withCurv bool, alpha, beta float64, nanDst bool) {
	t.Helper()
	r := Rand(seed + 1)
	d := RandVector(r, m.Cols)
	if nanDst {
		d = withNaN(d)
	}
	c := withNaN(RandVector(r, m.Rows))
	// optVec uploads x when want (freed when glmCase returns), else gives nil.
	var owned []backend.Vector
	defer func() {
		for _, v := range owned {
			b.Free(v)
		}
	}()
	optVec := func(want bool, x []float64) backend.Vector {
		if !want {
			return nil
		}
		v := newVec(t, b, x)
		owned = append(owned, v)
		return v
	}
	dstArg, curvArg := optVec(withDst, d), optVec(withCurv, c)
	got := b.GLMGrad(dstArg, alpha, a, wv, yv, loss, beta, curvArg)
	what := fmt.Sprintf("GLMGrad %v %v dst=%v curv=%v %s (seed %d)", m, loss, withDst, withCurv, coef(alpha, beta, nanDst), seed)
	if !noErr(t, b, what) {
		return
	}
	checkScalar(t, what+": loss", got, ref.loss, ref.lossMag)
	if withDst {
		grad, gradMag := combine(alpha, ref.xtg, ref.xtgMag, beta, d)
		checkVec(t, what+": dst", get(t, b, dstArg), grad, gradMag)
	}
	if withCurv {
		checkVec(t, what+": curv", get(t, b, curvArg), ref.curv, ref.curvMag)
	}
	checkExact(t, what+": w", get(t, b, wv), w)
	checkExact(t, what+": y", get(t, b, yv), y)

	// GLMGradNoLoss: the same dst and curv, bit for bit, from the same
	// starting values.
	dst2, curv2 := optVec(withDst, d), optVec(withCurv, c)
	b.GLMGradNoLoss(dst2, alpha, a, wv, yv, loss, beta, curv2)
	if !noErr(t, b, "NoLoss "+what) {
		return
	}
	if withDst {
		checkExact(t, "NoLoss "+what+": dst", get(t, b, dst2), get(t, b, dstArg))
	}
	if withCurv {
		checkExact(t, "NoLoss "+what+": curv", get(t, b, curv2), get(t, b, curvArg))
	}
	checkExact(t, "NoLoss "+what+": w", get(t, b, wv), w)
}

// testCSRDuplicates checks a small CSR matrix with unsorted and duplicate
// indices, empty rows and an empty column against its dense equivalent.
func (s *suite) testCSRDuplicates(t *testing.T) {
	b := s.backend(t)
	// Row 0: a_02 = 1 + 2 = 3, a_00 = 4; row 1 empty; row 2: a_23 = 5 − 5 + 1 = 1, a_20 = −1.
	// Column 1 is empty.
	sp := &HostMatrix{Rows: 4, Cols: 4, Format: backend.CSR,
		Indptr: []int{0, 3, 3, 7, 7}, Indices: []int{2, 0, 2, 3, 0, 3, 3}, Data: []float64{1, 4, 2, 5, -1, -5, 1}}
	de := &HostMatrix{Rows: 4, Cols: 4, Format: backend.Dense, Dense: []float64{
		4, 0, 3, 0,
		0, 0, 0, 0,
		-1, 0, 0, 1,
		0, 0, 0, 0}}
	as, ad := newMat(t, b, sp), newMat(t, b, de)
	x := newVec(t, b, []float64{1, 2, 3, 4})
	wts := newVec(t, b, []float64{2, 1, 0.5, 3})
	got, want := newVec(t, b, make([]float64, 4)), newVec(t, b, make([]float64, 4))
	cases := []struct {
		name string
		do   func(a backend.Matrix, dst backend.Vector)
	}{
		{"MulVec", func(a backend.Matrix, dst backend.Vector) { b.MulVec(dst, 1, a, x, 0) }},
		{"MulVecTrans", func(a backend.Matrix, dst backend.Vector) { b.MulVecTrans(dst, 1, a, x, 0) }},
		{"GramVec", func(a backend.Matrix, dst backend.Vector) { b.GramVec(dst, 1, a, wts, x, 0) }},
		// Column 2 is 2·(1+2)² = 18, not 2·(1²+2²) = 10: duplicates are summed, then squared.
		{"GramDiag", func(a backend.Matrix, dst backend.Vector) { b.GramDiag(dst, 1, a, wts, 0) }},
		{"GramDiag d=nil", func(a backend.Matrix, dst backend.Vector) { b.GramDiag(dst, 1, a, nil, 0) }},
		{"GLMGrad", func(a backend.Matrix, dst backend.Vector) { b.GLMGrad(dst, 1, a, x, wts, backend.Squared, 0, nil) }},
	}
	for _, c := range cases {
		c.do(as, got)
		c.do(ad, want)
		if noErr(t, b, c.name+" on a CSR matrix with duplicates") {
			g, w := get(t, b, got), get(t, b, want)
			mag := make([]float64, len(w))
			for i := range w {
				mag[i] = 1e3 // entries are small integers: exact up to rounding of sums
			}
			checkVec(t, c.name+" CSR with duplicates vs dense", g, w, mag)
		}
	}
}
