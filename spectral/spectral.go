// Package spectral estimates the extreme eigenvalues of a symmetric linear
// operator given only as a matrix-vector product on a backend, by the Lanczos
// method with full reorthogonalization. Problems use it for the constants μ
// and L (and σ_max(X)²) when a dense eigendecomposition would cost too much.
//
// Lanczos Ritz values lie inside the spectrum: the largest under-estimates
// λ_max and the smallest over-estimates λ_min. For a Ritz pair (θ, y) with
// residual ρ = ‖Ay − θy‖ some eigenvalue lies in [θ−ρ, θ+ρ] (Parlett, The
// Symmetric Eigenvalue Problem, Thm 11.5.1); Extremes reports θ and ρ so that
// callers can widen the interval. These are estimates, not bounds: an
// eigenvector orthogonal to the random start is never seen.
package spectral

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Spectrum is the Lanczos estimate of the extreme eigenvalues.
type Spectrum struct {
	Min, Max                 float64 // smallest and largest Ritz values
	MinResidual, MaxResidual float64 // their residual norms ‖Ay − θy‖
	Iters                    int     // Lanczos steps (operator applications)
}

// Options control Extremes. Zero fields take the defaults.
type Options struct {
	MaxIter int     // default min(n, 100)
	RelTol  float64 // stop when both residuals are ≤ RelTol·|θ_max|; default 1e-10
	Seed    uint64  // start vector seed; default 1
}

// Extremes runs Lanczos on the symmetric operator apply (dst ← A·v, len n)
// from a seeded random start.
func Extremes(b backend.Backend, n int, apply func(dst, v backend.Vector) error, o Options) (Spectrum, error) {
	if n < 1 {
		return Spectrum{}, errors.New("spectral: operator dimension must be ≥ 1")
	}
	if o.MaxIter <= 0 {
		o.MaxIter = 100
	}
	if o.MaxIter > n {
		o.MaxIter = n
	}
	if o.RelTol <= 0 {
		o.RelTol = 1e-10
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	basis := make([]backend.Vector, 0, o.MaxIter+1)
	defer func() {
		for _, v := range basis {
			b.Free(v)
		}
	}()
	newVec := func() (backend.Vector, error) {
		v, err := b.NewVector(n)
		if err == nil {
			basis = append(basis, v)
		}
		return v, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	x := make([]float64, n)
	var nrm float64
	for i := range x {
		x[i] = rng.NormFloat64()
		nrm += x[i] * x[i]
	}
	nrm = math.Sqrt(nrm)
	for i := range x {
		x[i] /= nrm
	}
	v, err := newVec()
	if err != nil {
		return Spectrum{}, err
	}
	b.Upload(v, x)
	w, err := b.NewVector(n)
	if err != nil {
		return Spectrum{}, err
	}
	defer b.Free(w)

	var alphas, betas []float64
	var s Spectrum
	for j := 0; j < o.MaxIter; j++ {
		if err := apply(w, basis[j]); err != nil {
			return Spectrum{}, err
		}
		a := b.Dot(basis[j], w)
		b.Axpy(-a, basis[j], w)
		if j > 0 {
			b.Axpy(-betas[j-1], basis[j-1], w)
		}
		for pass := 0; pass < 2; pass++ { // full reorthogonalization, twice
			for i := 0; i <= j; i++ {
				b.Axpy(-b.Dot(basis[i], w), basis[i], w)
			}
		}
		beta := b.Nrm2(w)
		if err := b.Err(); err != nil {
			return Spectrum{}, err
		}
		if !finiteAll(a, beta) {
			return Spectrum{}, fmt.Errorf("spectral: non-finite Lanczos coefficients at step %d (α=%v, β=%v)", j, a, beta)
		}
		alphas, betas = append(alphas, a), append(betas, beta)
		m := j + 1
		last := m == o.MaxIter || beta <= 1e-13*math.Max(math.Abs(a), 1e-300)*float64(m)
		if last || (m >= 4 && m%4 == 0) {
			s, err = ritz(alphas, betas)
			if err != nil {
				return Spectrum{}, err
			}
			s.Iters = m
			tol := o.RelTol * math.Max(math.Abs(s.Max), math.Abs(s.Min))
			if last || (s.MinResidual <= tol && s.MaxResidual <= tol) {
				return s, nil
			}
		}
		next, err := newVec()
		if err != nil {
			return Spectrum{}, err
		}
		b.Copy(next, w)
		b.Scal(1/beta, next)
	}
	return s, nil
}

// ritz returns the extreme eigenvalues of the Lanczos tridiagonal matrix and
// their residual norms β_m·|e_mᵀy|.
func ritz(alphas, betas []float64) (Spectrum, error) {
	m := len(alphas)
	t := mat.NewSymDense(m, nil)
	for i := 0; i < m; i++ {
		t.SetSym(i, i, alphas[i])
		if i+1 < m {
			t.SetSym(i, i+1, betas[i])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(t, true) {
		return Spectrum{}, errors.New("spectral: tridiagonal eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	bm := betas[m-1]
	return Spectrum{
		Min: vals[0], Max: vals[m-1],
		MinResidual: math.Abs(bm * vecs.At(m-1, 0)),
		MaxResidual: math.Abs(bm * vecs.At(m-1, m-1)),
	}, nil
}

func finiteAll(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
