package problems

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/spectral"
)

// Errors of the constants and the dense references; test with errors.Is.
var (
	// ErrConstants reports constants that cannot describe a strongly convex,
	// smooth inner problem: μ ≤ 0, a constant that is not finite, or L < μ
	// (for instance e^λ underflowing to 0 on data with n < d, where A is
	// singular to working precision). Raise λ, or drop features.
	ErrConstants = errors.New("problems: constants not usable")
	// ErrNumerical reports a dense factorisation (gonum/LAPACK) that failed
	// or refused its input, or a reference that came out non-finite.
	ErrNumerical = errors.New("problems: dense linear algebra failed")
	// ErrTooLarge reports a dense reference or exact constants whose
	// matrices, estimated before anything is allocated (DenseBytes), exceed
	// the problem's dense memory budget (SetMaxDenseBytes, default
	// DefaultMaxDenseBytes); the message states the estimate and the budget.
	ErrTooLarge = errors.New("problems: dense computation beyond the memory budget")
)

// DefaultMaxDenseBytes is the dense memory budget of a problem whose
// SetMaxDenseBytes was not called (or called with 0): 8 GiB.
const DefaultMaxDenseBytes int64 = 8 << 30

// DenseBudgeter is implemented by the problems whose Reference or
// ExactConstants form dense matrices of d² or rows·d entries (Ridge, Logreg,
// Quadratic). Before allocating them, those methods estimate their bytes
// (DenseBytes) and fail with ErrTooLarge beyond the budget; Constants then
// uses its Lanczos estimates instead of ExactConstants.
type DenseBudgeter interface {
	// SetMaxDenseBytes sets the budget (0: DefaultMaxDenseBytes; a negative
	// n is an error and leaves the budget unchanged).
	SetMaxDenseBytes(n int64) error
	// DenseBytes estimates the most bytes Reference or ExactConstants
	// allocate (see DenseBytes, the package function).
	DenseBytes() int64
}

// denseBudget is the dense memory budget of a problem (0: the default).
type denseBudget struct{ maxDense int64 }

// SetMaxDenseBytes sets the memory budget of the dense reference and exact
// constants (0: DefaultMaxDenseBytes); a negative n is an error.
func (b *denseBudget) SetMaxDenseBytes(n int64) error {
	if n < 0 {
		return fmt.Errorf("problems: SetMaxDenseBytes(%d): want a byte count ≥ 0 (0: the default of %d)", n, DefaultMaxDenseBytes)
	}
	b.maxDense = n
	return nil
}

// limit returns the budget in bytes.
func (b *denseBudget) limit() int64 {
	if b.maxDense == 0 {
		return DefaultMaxDenseBytes
	}
	return b.maxDense
}

// fits returns an ErrTooLarge error unless need bytes of dense matrices for
// what (such as "ridge: reference") fit in the budget.
func (b *denseBudget) fits(what string, need float64) error {
	if need <= float64(b.limit()) {
		return nil
	}
	return fmt.Errorf("%w: %s needs about %s of dense matrices, over the budget of %s (raise it with SetMaxDenseBytes, or the CLI's -max-memory, if the machine has the memory)",
		ErrTooLarge, what, bytesString(need), bytesString(float64(b.limit())))
}

// bytesString formats a byte estimate with a binary prefix:
// "1.07e+09 bytes (1.0 GiB)".
func bytesString(b float64) string {
	if b < 1<<10 {
		return fmt.Sprintf("%.0f bytes", b)
	}
	v, i := b, 0
	for v >= 1<<10 && i < 6 {
		v /= 1 << 10
		i++
	}
	return fmt.Sprintf("%.3g bytes (%.1f %ciB)", b, v, "KMGTPE"[i-1])
}

// saturate converts a byte estimate to int64, math.MaxInt64 beyond it.
func saturate(b float64) int64 {
	if !(b < math.MaxInt64) {
		return math.MaxInt64
	}
	return int64(b)
}

// The dense memory estimates, in bytes, 8 per float64 (see DenseBytes).

// denseCopyBytes is the dense copy hostDense makes of a CSR matrix (none
// for a dense one).
func denseCopyBytes(x *data.Matrix) float64 {
	if x == nil || !x.IsCSR() {
		return 0
	}
	return 8 * float64(x.Rows) * float64(x.Cols)
}

// gramBytes is what gram allocates for X (rows×d): the dense copy of a CSR
// X, the weighted copy of X when weighted, the product and the symmetric
// result (2d²).
func gramBytes(x *data.Matrix, weighted bool) float64 {
	if x == nil {
		return 0
	}
	b := denseCopyBytes(x) + 16*float64(x.Cols)*float64(x.Cols)
	if weighted {
		b += 8 * float64(x.Rows) * float64(x.Cols)
	}
	return b
}

// eigBytes is a Gram matrix of X and its symmetric eigendecomposition
// (symExtremes' scaled copy and the solver's own copy: 2d² more).
func eigBytes(x *data.Matrix) float64 {
	if x == nil {
		return 0
	}
	return gramBytes(x, false) + 16*float64(x.Cols)*float64(x.Cols)
}

// supervisedDenseBytes estimates ridge's and logreg's dense computations:
//
//	ridge:  Reference: gram(X) + Cholesky (d²); ExactConstants: the
//	        eigendecompositions of A and X_valᵀX_val (4d² each, plus the
//	        dense copy of a CSR matrix)
//	logreg: Reference: gram(X, weights) (rows·d more) + Cholesky (d²),
//	        once per Newton step (the previous step's are garbage)
//
// plus host vectors of length n, m and d (16 of each).
func supervisedDenseBytes(family string, s *data.Supervised) float64 {
	if s == nil || s.XTrain == nil {
		return 0
	}
	d := float64(s.XTrain.Cols)
	vecs := 8 * 16 * (float64(s.XTrain.Rows) + d)
	if s.XVal != nil {
		vecs += 8 * 16 * float64(s.XVal.Rows)
	}
	if family == "logreg" {
		return gramBytes(s.XTrain, true) + 8*d*d + vecs
	}
	return math.Max(gramBytes(s.XTrain, false)+8*d*d, math.Max(eigBytes(s.XTrain), eigBytes(s.XVal))) + vecs
}

// quadraticDenseBytes estimates quadratic's dense computations: Reference's
// QR of D (its m2×d copy, the dense copy of a CSR D, R: d²); ExactConstants'
// eigendecompositions of DᵀD and AᵀA (4d² each); plus host vectors of
// length m1, m2 and d (16 of each).
func quadraticDenseBytes(q *data.Quadratic) float64 {
	if q == nil || q.D == nil {
		return 0
	}
	d := float64(q.D.Cols)
	vecs := 8 * 16 * (float64(q.D.Rows) + d)
	if q.A != nil {
		vecs += 8 * 16 * float64(q.A.Rows)
	}
	qr := 8*float64(q.D.Rows)*d + denseCopyBytes(q.D) + 8*d*d
	return math.Max(qr, math.Max(eigBytes(q.D), eigBytes(q.A))) + vecs
}

// DenseBytes estimates, from data as data.Load returns it and before any
// problem is built, the most bytes the family's Reference or
// ExactConstants allocate on the host: the formulas of
// supervisedDenseBytes (ridge, logreg) and quadraticDenseBytes above —
// d×d matrices (Gram matrices, their factorisations and eigensolver
// copies), the rows×d copies of a CSR matrix, of logreg's weighted X and of
// quadratic's QR, and 16 host vectors per dimension; for equilibrium, whose
// reference solves k×k blocks row by row, 8 vectors of length N·k, one of
// N·C and two of h; for the other families, the estimates their problem
// types' DenseBytes methods return (multilogreg's dense Newton Hessian of
// size (dc)², hypercleaning's ((p+1)c)², krr's n×n kernel copies, biasreg's
// d×d blocks of one task at a time, tvdenoise's banded Cholesky factor).
// The value saturates at math.MaxInt64; unknown family and data pairs are an
// error.
func DenseBytes(family string, d any) (int64, error) {
	switch v := d.(type) {
	case *data.Supervised:
		if family == "ridge" || family == "logreg" {
			return saturate(supervisedDenseBytes(family, v)), nil
		}
	case *data.Quadratic:
		if family == "quadratic" {
			return saturate(quadraticDenseBytes(v)), nil
		}
	case *data.Multiclass:
		if family == "multilogreg" && v != nil {
			return saturate(multilogregDenseBytes(v)), nil
		}
	case *data.Hypercleaning:
		if family == "hypercleaning" && v != nil {
			return saturate(hypercleaningDenseBytes(v)), nil
		}
	case *data.KRR:
		if family == "krr" && v != nil {
			return saturate(krrDenseBytes(v)), nil
		}
	case *data.BiasReg:
		if family == "biasreg" && v != nil {
			return saturate(biasRegDenseBytes(v)), nil
		}
	case *data.TVDenoise:
		if family == "tvdenoise" && v != nil {
			return saturate(tvDenseBytes(v)), nil
		}
	case *data.Equilibrium:
		if family == "equilibrium" && v != nil {
			n, _, k, c := v.Dims()
			nf := float64(n)
			return saturate(8 * (8*nf*float64(k) + nf*float64(c) + 2*float64(v.HyperDim()))), nil
		}
	}
	return 0, fmt.Errorf("problems: no family %q for data %T", family, d)
}

// guard runs f and turns a panic inside it (gonum and LAPACK panic on
// inputs they cannot handle) into an error wrapping ErrNumerical, so that
// no panic reaches a caller of Constants or Reference.
func guard(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrNumerical, what, r)
		}
	}()
	return f()
}

// checkConstants returns an error wrapping ErrConstants unless c can drive
// the estimators: 0 < μ ≤ L < ∞ and every other constant that is not
// Unknown finite and ≥ 0.
func checkConstants(family string, c bilevel.Constants) error {
	if !(c.Mu.Value > 0) || math.IsInf(c.Mu.Value, 0) {
		return fmt.Errorf("%w: %s: μ = %v (%s): g is not strongly convex to working precision (raise λ, or drop features)",
			ErrConstants, family, c.Mu.Value, c.Mu.Kind)
	}
	if !(c.L.Value >= c.Mu.Value) || math.IsInf(c.L.Value, 0) {
		return fmt.Errorf("%w: %s: L = %v (%s) with μ = %v: want μ ≤ L < ∞", ErrConstants, family, c.L.Value, c.L.Kind, c.Mu.Value)
	}
	for _, k := range []struct {
		name string
		c    bilevel.Constant
	}{{"L_f", c.Lf}, {"L_A", c.LA}, {"L_B", c.LB}, {"L_Eλ", c.LEl}} {
		if k.c.Kind != bilevel.Unknown && (!(k.c.Value >= 0) || math.IsInf(k.c.Value, 0)) {
			return fmt.Errorf("%w: %s: %s = %v (%s): want a finite value ≥ 0", ErrConstants, family, k.name, k.c.Value, k.c.Kind)
		}
	}
	return nil
}

// finiteAll reports whether every value of every slice is finite.
func finiteAll(xs ...[]float64) bool {
	for _, x := range xs {
		for _, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
		}
	}
	return true
}

// checkReference returns ref, or an error wrapping ErrNumerical when the
// dense solve produced a non-finite value (a factorisation of a matrix that
// is singular to working precision can succeed and still overflow).
func checkReference(family string, ref *bilevel.Reference) (*bilevel.Reference, error) {
	if !finiteAll(ref.Hypergradient, ref.W, ref.V) {
		return nil, fmt.Errorf("%w: %s: the dense reference is not finite (A is singular to working precision)", ErrNumerical, family)
	}
	return ref, nil
}

// eigTol is the absolute accuracy of a dense symmetric eigensolver on a d×d
// matrix of norm hi: eigenvalues below it are rounding, not information.
func eigTol(d int, hi float64) float64 { return 8 * float64(d) * 0x1p-52 * math.Abs(hi) }

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

// symExtremes returns the smallest and largest eigenvalues of a symmetric
// matrix. It scales a by a power of two (exact) so that its largest entry
// is in [1, 2), and drops entries below 2⁻¹²⁰ of it, before the
// decomposition: LAPACK's own rescaling of matrices or tridiagonal blocks
// near the underflow threshold is where gonum panics (entries of 1e-300 in
// Dsterf); a panic still raised is an error wrapping ErrNumerical, as are
// non-finite entries.
func symExtremes(a *mat.SymDense) (lo, hi float64, err error) {
	n := a.SymmetricDim()
	if n == 0 {
		return 0, 0, nil
	}
	var big float64
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := a.At(i, j)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, 0, fmt.Errorf("%w: symmetric matrix entry (%d, %d) = %v", ErrNumerical, i, j, v)
			}
			big = math.Max(big, math.Abs(v))
		}
	}
	if big == 0 {
		return 0, 0, nil
	}
	_, e := math.Frexp(big)
	scale := math.Ldexp(1, 1-e) // big·scale ∈ [1, 2)
	s := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			// Entries below 2⁻¹²⁰ of the largest change the eigenvalues by
			// far less than the solver's rounding (nε·‖a‖) and are dropped:
			// tridiagonal blocks of such norms are what LAPACK rescales.
			if v := a.At(i, j) * scale; math.Abs(v) >= 0x1p-120 {
				s.SetSym(i, j, v)
			}
		}
	}
	err = guard("symmetric eigendecomposition", func() error {
		var eig mat.EigenSym
		if !eig.Factorize(s, false) {
			return fmt.Errorf("%w: symmetric eigendecomposition did not converge", ErrNumerical)
		}
		v := eig.Values(nil)
		lo, hi = v[0]/scale, v[len(v)-1]/scale
		return nil
	})
	return lo, hi, err
}

// gramExtremes returns the extreme eigenvalues of Xᵀdiag(weights)X + diag(shift).
func gramExtremes(x *data.Matrix, weights, shift []float64) (lo, hi float64, err error) {
	var g *mat.SymDense
	if err := guard("Gram matrix", func() error {
		g = gram(x, weights, 1)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	for j, s := range shift {
		g.SetSym(j, j, g.At(j, j)+s)
	}
	return symExtremes(g)
}

// cholesky factorises the SPD matrix a; ok is false when a is not positive
// definite to working precision, err wraps ErrNumerical on a panic.
func cholesky(a *mat.SymDense) (chol *mat.Cholesky, ok bool, err error) {
	chol = &mat.Cholesky{}
	err = guard("Cholesky factorisation", func() error {
		ok = chol.Factorize(a)
		return nil
	})
	return chol, ok, err
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
	err := guard("Cholesky solve", func() error {
		if err := chol.SolveVecTo(&x, mat.NewVecDense(len(rhs), append([]float64(nil), rhs...))); err != nil {
			return fmt.Errorf("problems: dense solve: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
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
