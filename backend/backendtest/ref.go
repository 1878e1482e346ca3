package backendtest

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// The reference implementations below are plain float64 loops on host
// slices. Each returns, beside the result, the magnitude of the terms that
// made it (the same formula on absolute values, plus the propagated error of
// intermediate results), which scales the tolerance: a backend may sum in
// any order and fuse multiply-adds, so only a normwise comparison relative to
// the terms is meaningful.

// axpby returns α·x + β·y, or α·x when β = 0, and |α·x| + |β·y|.
func refAxpby(alpha float64, x []float64, beta float64, y []float64) (ref, mag []float64) {
	ref, mag = make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		if beta == 0 {
			ref[i], mag[i] = alpha*x[i], math.Abs(alpha*x[i])
		} else {
			ref[i], mag[i] = alpha*x[i]+beta*y[i], math.Abs(alpha*x[i])+math.Abs(beta*y[i])
		}
	}
	return ref, mag
}

// refDot returns Σ x_i·y_i and Σ |x_i·y_i|.
func refDot(x, y []float64) (dot, mag float64) {
	for i := range x {
		dot += x[i] * y[i]
		mag += math.Abs(x[i] * y[i])
	}
	return dot, mag
}

// refNrm2 returns ‖x‖₂, scaled by a power of two so that nothing overflows
// and nothing that matters underflows.
func refNrm2(x []float64) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	if m == 0 || math.IsInf(m, 0) || math.IsNaN(m) {
		return m
	}
	_, e := math.Frexp(m)
	var s float64
	for _, v := range x {
		t := math.Ldexp(v, -e)
		s += t * t
	}
	return math.Ldexp(math.Sqrt(s), e)
}

// refAx returns A·x and its term magnitudes |A|·|x|.
func refAx(a *HostMatrix, x []float64) (ax, mag []float64) {
	ax, mag = make([]float64, a.Rows), make([]float64, a.Rows)
	for i := range a.Rows {
		a.row(i, func(j int, v float64) {
			ax[i] += v * x[j]
			mag[i] += math.Abs(v * x[j])
		})
	}
	return ax, mag
}

// refAtx returns Aᵀ·x and its term magnitudes |A|ᵀ·(|x| + xMag), where xMag
// is the magnitude of the error already in x (nil for none).
func refAtx(a *HostMatrix, x, xMag []float64) (atx, mag []float64) {
	atx, mag = make([]float64, a.Cols), make([]float64, a.Cols)
	for i := range a.Rows {
		xi := math.Abs(x[i])
		if xMag != nil {
			xi += xMag[i]
		}
		a.row(i, func(j int, v float64) {
			atx[j] += v * x[i]
			mag[j] += math.Abs(v) * xi
		})
	}
	return atx, mag
}

// combine returns α·p + β·dst (α·p when β = 0) and |α|·pMag + |β·dst|.
func combine(alpha float64, p, pMag []float64, beta float64, dst []float64) (ref, mag []float64) {
	ref, mag = make([]float64, len(p)), make([]float64, len(p))
	for i := range p {
		ref[i], mag[i] = alpha*p[i], math.Abs(alpha)*pMag[i]
		if beta != 0 {
			ref[i] += beta * dst[i]
			mag[i] += math.Abs(beta * dst[i])
		}
	}
	return ref, mag
}

// refGram returns Xᵀ(d ⊙ (X·v)) (d == nil means d = 1) and its term
// magnitudes.
func refGram(x *HostMatrix, d, v []float64) (p, mag []float64) {
	u, uMag := refAx(x, v)
	if d != nil {
		for i := range u {
			u[i] *= d[i]
			uMag[i] *= math.Abs(d[i])
		}
	}
	return refAtx(x, u, uMag)
}

// refGramVec returns α·Xᵀ(d ⊙ (X·v)) + β·dst and its term magnitudes.
func refGramVec(alpha float64, x *HostMatrix, d, v []float64, beta float64, dst []float64) (ref, mag []float64) {
	p, pMag := refGram(x, d, v)
	return combine(alpha, p, pMag, beta, dst)
}

// refGramDiag returns diag(Xᵀ diag(d) X), p_j = Σ_i d_i·X_ij² (d == nil
// means d = 1), and its term magnitudes |d_i|·(Σ|a|)², Σ over the stored
// entries a of row i in column j. For CSR, X_ij is the sum of row i's
// duplicate entries of column j, squared after summing.
func refGramDiag(x *HostMatrix, d []float64) (p, mag []float64) {
	p, mag = make([]float64, x.Cols), make([]float64, x.Cols)
	sum, abs := make([]float64, x.Cols), make([]float64, x.Cols)
	seen := make([]bool, x.Cols)
	var cols []int
	for i := range x.Rows {
		cols = cols[:0]
		x.row(i, func(j int, v float64) {
			if !seen[j] {
				seen[j], sum[j], abs[j] = true, 0, 0
				cols = append(cols, j)
			}
			sum[j] += v
			abs[j] += math.Abs(v)
		})
		di := 1.0
		if d != nil {
			di = d[i]
		}
		for _, j := range cols {
			seen[j] = false
			p[j] += di * sum[j] * sum[j]
			mag[j] += math.Abs(di) * abs[j] * abs[j]
		}
	}
	return p, mag
}

// refLoss returns ℓ(z,y), ℓ′(z,y), ℓ″(z,y) from the definitions in
// backend.Loss, written independently of any backend.
func refLoss(loss backend.Loss, z, y float64) (l, g, h float64) {
	if loss == backend.Squared {
		return 0.5 * (z - y) * (z - y), z - y, 1
	}
	sigma := func(s float64) float64 {
		if s >= 0 {
			return 1 / (1 + math.Exp(-s))
		}
		e := math.Exp(s)
		return e / (1 + e)
	}
	s := -y * z
	return math.Max(s, 0) + math.Log1p(math.Exp(-math.Abs(s))), -y * sigma(s), sigma(z) * sigma(-z)
}

// glmRef is the reference result of GLMGrad before α and β are applied.
type glmRef struct {
	loss, lossMag float64
	xtg, xtgMag   []float64 // Xᵀℓ′(z, y)
	curv, curvMag []float64
}

// refGLM computes GLMGrad's results and their term magnitudes. An error δ in
// z_i moves ℓ by |ℓ′|·δ, ℓ′ by at most δ (ℓ″ ≤ 1) and ℓ″ by at most δ.
func refGLM(x *HostMatrix, w, y []float64, loss backend.Loss) glmRef {
	z, zMag := refAx(x, w)
	var r glmRef
	g := make([]float64, x.Rows)
	r.curv, r.curvMag = make([]float64, x.Rows), make([]float64, x.Rows)
	for i := range z {
		l, gi, h := refLoss(loss, z[i], y[i])
		r.loss += l
		r.lossMag += math.Abs(l) + math.Abs(gi)*zMag[i]
		g[i] = gi
		r.curv[i], r.curvMag[i] = h, math.Abs(h)+zMag[i]
	}
	r.xtg, r.xtgMag = refAtx(x, g, zMag)
	return r
}
