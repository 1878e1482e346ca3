package backendtest

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// The references of the block operations, in the style of ref.go: plain
// float64 loops on row-major host slices, each returning beside its result
// the magnitude of the terms that made it. They follow IEEE arithmetic
// (0·Inf = NaN, Inf − Inf = NaN), so that they also give the special values
// that a backend must produce; the NaN and Inf positions of a result do not
// depend on the order of a sum, only its finite values do.

// opAt returns element (i, l) of op(X) for X stored row-major with cols
// columns.
func opAt(x []float64, cols int, t backend.Transpose, i, l int) float64 {
	if t == backend.Trans {
		return x[l*cols+i]
	}
	return x[i*cols+l]
}

// refGemmProduct returns op(A)·op(B), m×n with inner dimension k, for A
// stored ar×ac and B br×bc, and its term magnitudes |op(A)|·|op(B)|.
func refGemmProduct(a []float64, ac int, ta backend.Transpose, bm []float64, bc int, tb backend.Transpose, m, n, k int) (p, mag []float64) {
	p, mag = make([]float64, m*n), make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s, sm float64
			for l := range k {
				t := opAt(a, ac, ta, i, l) * opAt(bm, bc, tb, l, j)
				s += t
				sm += math.Abs(t)
			}
			p[i*n+j], mag[i*n+j] = s, sm
		}
	}
	return p, mag
}

// refMulBlock returns X·W for W cols×k (row-major) and its term magnitudes
// |X|·|W|, summing the stored entries of X one by one.
func refMulBlock(x *HostMatrix, w []float64, k int) (p, mag []float64) {
	p, mag = make([]float64, x.Rows*k), make([]float64, x.Rows*k)
	for i := range x.Rows {
		x.row(i, func(j int, v float64) {
			for c := range k {
				t := v * w[j*k+c]
				p[i*k+c] += t
				mag[i*k+c] += math.Abs(t)
			}
		})
	}
	return p, mag
}

// refMulBlockTrans returns Xᵀ·G for G rows×k and its term magnitudes
// |X|ᵀ·|G|.
func refMulBlockTrans(x *HostMatrix, g []float64, k int) (p, mag []float64) {
	p, mag = make([]float64, x.Cols*k), make([]float64, x.Cols*k)
	for i := range x.Rows {
		x.row(i, func(j int, v float64) {
			for c := range k {
				t := v * g[i*k+c]
				p[j*k+c] += t
				mag[j*k+c] += math.Abs(t)
			}
		})
	}
	return p, mag
}

// refScaleRows returns v_i·a_ij: one rounding, so a backend must match it
// exactly.
func refScaleRows(v, a []float64, rows, cols int) []float64 {
	out := make([]float64, rows*cols)
	for i := range rows {
		for j := range cols {
			out[i*cols+j] = v[i] * a[i*cols+j]
		}
	}
	return out
}

// refScaleCols returns a_ij·v_j, exactly as a backend must.
func refScaleCols(a, v []float64, rows, cols int) []float64 {
	out := make([]float64, rows*cols)
	for i := range rows {
		for j := range cols {
			out[i*cols+j] = a[i*cols+j] * v[j]
		}
	}
	return out
}

// refRowSums returns Σ_j a_ij and Σ_j |a_ij|.
func refRowSums(a []float64, rows, cols int) (p, mag []float64) {
	p, mag = make([]float64, rows), make([]float64, rows)
	for i := range rows {
		for _, v := range a[i*cols : (i+1)*cols] {
			p[i] += v
			mag[i] += math.Abs(v)
		}
	}
	return p, mag
}

// refColSums returns Σ_i a_ij and Σ_i |a_ij|.
func refColSums(a []float64, rows, cols int) (p, mag []float64) {
	p, mag = make([]float64, cols), make([]float64, cols)
	for i := range rows {
		for j, v := range a[i*cols : (i+1)*cols] {
			p[j] += v
			mag[j] += math.Abs(v)
		}
	}
	return p, mag
}

// refRowNorms returns sqrt(c + Σ_j a_ij²), a plain sum as documented, and
// its magnitude, itself: every term is non-negative.
func refRowNorms(a []float64, rows, cols int, c float64) (ref, mag []float64) {
	ref, mag = make([]float64, rows), make([]float64, rows)
	for i := range rows {
		s := c
		for _, v := range a[i*cols : (i+1)*cols] {
			s += v * v
		}
		ref[i] = math.Sqrt(s)
		mag[i] = math.Abs(ref[i])
	}
	return ref, mag
}

// rowStats returns the maximum of a row (−Inf for an empty row), whether
// the row holds a NaN, and the largest finite |a_j| (0 if none): the scale
// of the perturbation that rounding the inputs by a few ulps causes in the
// softmax and the log-sum-exp of the row.
func rowStats(row []float64) (m float64, hasNaN bool, amax float64) {
	m = math.Inf(-1)
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
	return m, hasNaN, amax
}

// refLSERow returns the log-sum-exp of a row as LogSumExp documents it —
// NaN for a row holding NaN, +Inf for one holding +Inf, −Inf for an empty
// row or a row of −Inf, else m + log Σ exp(a_j − m) — and its magnitude
// 1 + max|a_j| + |lse|: a backward-stable evaluation is exact for inputs
// perturbed by a few ulps, which moves the result by up to max|a_j| ulps.
func refLSERow(row []float64) (lse, mag float64) {
	m, hasNaN, amax := rowStats(row)
	switch {
	case hasNaN:
		return math.NaN(), 0
	case math.IsInf(m, 0):
		return m, 0
	}
	var s float64
	for _, v := range row {
		s += math.Exp(v - m)
	}
	lse = m + math.Log(s)
	return lse, 1 + amax + math.Abs(lse)
}

// refSoftmaxRow writes the softmax of row to out and its magnitudes to
// mag: a row of NaN for a row holding NaN or +Inf or only −Inf, else
// p_j = exp(a_j − m)/Σ_l exp(a_l − m), with magnitude
// p_j·(1 + |a_j| + max|a_l|) (0 where p_j = 0: an element of −Inf).
func refSoftmaxRow(out, mag, row []float64) {
	m, hasNaN, amax := rowStats(row)
	if hasNaN || math.IsInf(m, 0) {
		for j := range row {
			out[j], mag[j] = math.NaN(), 0
		}
		return
	}
	var s float64
	for j, v := range row {
		out[j] = math.Exp(v - m)
		s += out[j]
	}
	for j, v := range row {
		out[j] /= s
		mag[j] = 0
		if out[j] != 0 {
			mag[j] = out[j] * (1 + math.Abs(v) + amax)
		}
	}
}

// refSoftmax returns the row softmax of the rows×cols block a and its
// magnitudes.
func refSoftmax(a []float64, rows, cols int) (ref, mag []float64) {
	ref, mag = make([]float64, rows*cols), make([]float64, rows*cols)
	for i := range rows {
		refSoftmaxRow(ref[i*cols:(i+1)*cols], mag[i*cols:(i+1)*cols], a[i*cols:(i+1)*cols])
	}
	return ref, mag
}

// refLogSumExp returns the log-sum-exp of every row of a and its
// magnitudes.
func refLogSumExp(a []float64, rows, cols int) (ref, mag []float64) {
	ref, mag = make([]float64, rows), make([]float64, rows)
	for i := range rows {
		ref[i], mag[i] = refLSERow(a[i*cols : (i+1)*cols])
	}
	return ref, mag
}

// ceRef is the reference result of CrossEntropy.
type ceRef struct {
	loss, lossMag []float64 // LSE(a_i) − a_{i,y_i}
	grad, gradMag []float64 // softmax(a_i) − e_{y_i}
}

// refCrossEntropy computes CrossEntropy's outputs from their definitions
// in IEEE arithmetic (so LSE − a_y is NaN when both are +Inf, +Inf when a_y
// is −Inf in a row with a finite maximum) and their magnitudes.
func refCrossEntropy(a []float64, rows, cols int, y []int) ceRef {
	var r ceRef
	r.loss, r.lossMag = make([]float64, rows), make([]float64, rows)
	r.grad, r.gradMag = refSoftmax(a, rows, cols)
	for i := range rows {
		row := a[i*cols : (i+1)*cols]
		lse, lseMag := refLSERow(row)
		ay := row[y[i]]
		r.loss[i] = lse - ay
		if !math.IsInf(r.loss[i], 0) && !math.IsNaN(r.loss[i]) {
			r.lossMag[i] = lseMag + math.Abs(ay)
		}
		r.grad[i*cols+y[i]]--
		r.gradMag[i*cols+y[i]]++
	}
	return r
}

// refDivElem returns α·(x ⊘ y) + β·d (α·(x ⊘ y) when β = 0) and its
// magnitudes.
func refDivElem(alpha float64, x, y []float64, beta float64, d []float64) (ref, mag []float64) {
	p, pMag := make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		p[i] = x[i] / y[i]
		pMag[i] = math.Abs(p[i])
	}
	return combine(alpha, p, pMag, beta, d)
}
