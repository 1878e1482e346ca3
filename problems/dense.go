package problems

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/spectral"
)

// DenseLimit is the largest inner dimension d for which Constants uses a
// dense eigendecomposition (exact constants) instead of Lanczos estimates.
const DenseLimit = 500

// denseCheap reports whether forming and decomposing the d×d Gram matrix of
// a rows×d matrix is cheap enough for Constants.
func denseCheap(rows, d int) bool {
	return d <= DenseLimit && float64(rows)*float64(d)*float64(d) <= 4e9
}

// hostDense returns a gonum view (or dense copy, for CSR) of a host matrix.
func hostDense(m *data.Matrix) *mat.Dense {
	dm := m.ToDense()
	if dm.Rows == 0 || dm.Cols == 0 {
		return nil
	}
	return mat.NewDense(dm.Rows, dm.Cols, dm.Data)
}

// gram returns scale·Xᵀ diag(weights) X (weights nil means ones) as a
// symmetric matrix, formed with the parallel gonum matrix product.
func gram(x *data.Matrix, weights []float64, scale float64) *mat.SymDense {
	d := x.Cols
	g := mat.NewSymDense(d, nil)
	xd := hostDense(x)
	if xd == nil {
		return g
	}
	left := xd
	if weights != nil {
		r, c := xd.Dims()
		left = mat.NewDense(r, c, nil)
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				left.Set(i, j, weights[i]*xd.At(i, j))
			}
		}
	}
	var prod mat.Dense
	prod.Mul(left.T(), xd)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			g.SetSym(i, j, scale*0.5*(prod.At(i, j)+prod.At(j, i)))
		}
	}
	return g
}

// symExtremes returns the smallest and largest eigenvalues of a symmetric matrix.
func symExtremes(a *mat.SymDense) (lo, hi float64, err error) {
	if a.SymmetricDim() == 0 {
		return 0, 0, nil
	}
	var eig mat.EigenSym
	if !eig.Factorize(a, false) {
		return 0, 0, errors.New("problems: symmetric eigendecomposition did not converge")
	}
	v := eig.Values(nil)
	return v[0], v[len(v)-1], nil
}

// gramExtremes returns the extreme eigenvalues of Xᵀdiag(weights)X + diag(shift).
func gramExtremes(x *data.Matrix, weights, shift []float64) (lo, hi float64, err error) {
	g := gram(x, weights, 1)
	for j, s := range shift {
		g.SetSym(j, j, g.At(j, j)+s)
	}
	return symExtremes(g)
}

// lanczos estimates the extreme eigenvalues of a symmetric operator.
func lanczos(b backend.Backend, n int, apply func(dst, v backend.Vector) error) (spectral.Spectrum, error) {
	s, err := spectral.Extremes(b, n, apply, spectral.Options{MaxIter: 100, RelTol: 1e-6})
	if err != nil {
		return s, fmt.Errorf("problems: estimating constants: %w", err)
	}
	return s, nil
}

// cholSolve solves the SPD system a·x = rhs by Cholesky.
func cholSolve(chol *mat.Cholesky, rhs []float64) ([]float64, error) {
	var x mat.VecDense
	if err := chol.SolveVecTo(&x, mat.NewVecDense(len(rhs), append([]float64(nil), rhs...))); err != nil {
		return nil, fmt.Errorf("problems: dense solve: %w", err)
	}
	return x.RawVector().Data, nil
}

// matVec returns X·w (host).
func matVec(x *data.Matrix, w []float64) []float64 {
	out := make([]float64, x.Rows)
	if x.IsCSR() {
		for i := 0; i < x.Rows; i++ {
			var s float64
			for k := x.Indptr[i]; k < x.Indptr[i+1]; k++ {
				s += x.Data[k] * w[x.Indices[k]]
			}
			out[i] = s
		}
		return out
	}
	for i := 0; i < x.Rows; i++ {
		row := x.Data[i*x.Cols : (i+1)*x.Cols]
		var s float64
		for j, v := range row {
			s += v * w[j]
		}
		out[i] = s
	}
	return out
}

// matTVec returns Xᵀ·r (host).
func matTVec(x *data.Matrix, r []float64) []float64 {
	out := make([]float64, x.Cols)
	for i := 0; i < x.Rows; i++ {
		if x.IsCSR() {
			for k := x.Indptr[i]; k < x.Indptr[i+1]; k++ {
				out[x.Indices[k]] += x.Data[k] * r[i]
			}
			continue
		}
		row := x.Data[i*x.Cols : (i+1)*x.Cols]
		for j, v := range row {
			out[j] += v * r[i]
		}
	}
	return out
}

func norm2(x []float64) float64 {
	return floats.Norm(x, 2)
}

func maxAbsRowNorm(x *data.Matrix) float64 {
	var best float64
	for i := 0; i < x.Rows; i++ {
		var s float64
		if x.IsCSR() {
			for k := x.Indptr[i]; k < x.Indptr[i+1]; k++ {
				s += x.Data[k] * x.Data[k]
			}
		} else {
			for _, v := range x.Data[i*x.Cols : (i+1)*x.Cols] {
				s += v * v
			}
		}
		best = math.Max(best, math.Sqrt(s))
	}
	return best
}
