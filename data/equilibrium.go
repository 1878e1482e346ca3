package data

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Equilibrium is the data of the equilibrium problem of package problems
// (Grazzi et al. 2020, §3.2; an RNN-style equilibrium model): N inputs x_i ∈
// R^p with class labels y_i ∈ {0, …, C−1}, and the hyperparameters
//
//	λ = (A, B, bias, Wo, bo),   A k×k, B p×k, bias k, Wo k×C, bo C,
//
// of the lower-level fixed point S = Φ(S, λ) = tanh(S A + X B + 1 biasᵀ)
// (S N×k, row-major) and the outer loss E(S, λ) = 1/N Σ_i CE(S_i Wo + bo, y_i).
// Lambda concatenates the hyperparameters in that order, each row-major, so
// h = k² + pk + k + kC + C.
//
// File fields (.npz): X (N×p, dense or CSR), y (N integer labels, stored as
// an int or a float array), A (k×k), B (p×k), bias (k), Wo (k×C), bo (C).
// The number of classes is C = columns of Wo = len(bo).
type Equilibrium struct {
	X    *Matrix   // N×p inputs, dense or CSR
	Y    []int     // N labels in [0, C)
	A    *Matrix   // k×k, dense: the recurrent weights
	B    *Matrix   // p×k, dense: the input weights
	Bias []float64 // k
	Wo   *Matrix   // k×C, dense: the output weights
	Bo   []float64 // C: the output bias
}

// Dims returns N (rows of X), p (features), k (hidden width) and C
// (classes). It does not validate e.
func (e *Equilibrium) Dims() (n, p, k, c int) {
	if e.X != nil {
		n, p = e.X.Rows, e.X.Cols
	}
	if e.A != nil {
		k = e.A.Rows
	}
	if e.Wo != nil {
		c = e.Wo.Cols
	}
	return n, p, k, c
}

// HyperDim returns h = k² + pk + k + kC + C, the length of Lambda.
func (e *Equilibrium) HyperDim() int {
	_, p, k, c := e.Dims()
	return k*k + p*k + k + k*c + c
}

// Validate checks that the shapes agree (X N×p, y N, A k×k, B p×k, bias k,
// Wo k×C, bo C, with N, p, k, C ≥ 1), that A, B and Wo are dense, that
// every value is finite and that every label lies in [0, C).
func (e *Equilibrium) Validate() error {
	if err := e.X.check("X"); err != nil {
		return err
	}
	if e.X.Rows < 1 || e.X.Cols < 1 {
		return newErr(ErrShape, "X", "X is %d×%d; want at least 1 row and 1 column", e.X.Rows, e.X.Cols)
	}
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"A", e.A}, {"B", e.B}, {"Wo", e.Wo}} {
		if err := c.m.check(c.name); err != nil {
			return err
		}
		if c.m.IsCSR() {
			return newErr(ErrShape, c.name, "%s is stored as CSR; a hyperparameter matrix must be dense", c.name)
		}
		if c.m.Rows < 1 || c.m.Cols < 1 {
			return newErr(ErrShape, c.name, "%s is %d×%d; want at least 1 row and 1 column", c.name, c.m.Rows, c.m.Cols)
		}
	}
	n, p, k, nc := e.Dims()
	switch {
	case len(e.Y) != n:
		return newErr(ErrShape, "y", "y has length %d, X has %d rows", len(e.Y), n)
	case e.A.Cols != k:
		return newErr(ErrShape, "A", "A is %d×%d; want a square matrix", k, e.A.Cols)
	case e.B.Rows != p:
		return newErr(ErrShape, "B", "B has %d rows, X has %d columns", e.B.Rows, p)
	case e.B.Cols != k:
		return newErr(ErrShape, "B", "B has %d columns, A is %d×%d", e.B.Cols, k, k)
	case len(e.Bias) != k:
		return newErr(ErrShape, "bias", "bias has length %d, A is %d×%d", len(e.Bias), k, k)
	case e.Wo.Rows != k:
		return newErr(ErrShape, "Wo", "Wo has %d rows, A is %d×%d", e.Wo.Rows, k, k)
	case len(e.Bo) != nc:
		return newErr(ErrShape, "bo", "bo has length %d, Wo has %d columns", len(e.Bo), nc)
	}
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"X", e.X}, {"A", e.A}, {"B", e.B}, {"Wo", e.Wo}} {
		if err := c.m.checkFinite(c.name); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name string
		v    []float64
	}{{"bias", e.Bias}, {"bo", e.Bo}} {
		if err := checkVector(c.name, c.v); err != nil {
			return err
		}
	}
	for i, y := range e.Y {
		if y < 0 || y >= nc {
			return newErr(ErrLabels, "y", "y[%d] = %d: labels must lie in [0, %d) (C = columns of Wo)", i, y, nc)
		}
	}
	return nil
}

// Lambda returns the hyperparameters concatenated, each row-major:
// λ = (A, B, bias, Wo, bo), of length HyperDim. e must pass Validate.
func (e *Equilibrium) Lambda() []float64 {
	l := make([]float64, 0, e.HyperDim())
	l = append(l, e.A.Data...)
	l = append(l, e.B.Data...)
	l = append(l, e.Bias...)
	l = append(l, e.Wo.Data...)
	return append(l, e.Bo...)
}

// SetLambda replaces the hyperparameters of e by the parts of lambda (len
// HyperDim, in the order of Lambda), copying them into fresh arrays so that
// matrices shared with other data are not modified. e must pass Validate;
// lambda must be finite.
func (e *Equilibrium) SetLambda(lambda []float64) error {
	if h := e.HyperDim(); len(lambda) != h {
		return newErr(ErrShape, "lambda", "lambda has length %d, want k² + pk + k + kC + C = %d", len(lambda), h)
	}
	if err := checkVector("lambda", lambda); err != nil {
		return err
	}
	_, p, k, c := e.Dims()
	take := func(n int) []float64 {
		v := append([]float64(nil), lambda[:n]...)
		lambda = lambda[n:]
		return v
	}
	e.A = NewDense(k, k, take(k*k))
	e.B = NewDense(p, k, take(p*k))
	e.Bias = take(k)
	e.Wo = NewDense(k, c, take(k*c))
	e.Bo = take(c)
	return nil
}

// LoadEquilibrium reads and validates an equilibrium problem file (.npz with
// X, y, A, B, bias, Wo, bo). X may be dense or CSR; A, B and Wo stored as
// CSR are converted to dense. Labels must be integers (of an int or a float
// array) in [0, C). It uses the default Limits.
func LoadEquilibrium(path string) (*Equilibrium, error) { return Limits{}.LoadEquilibrium(path) }

// LoadEquilibrium is the package function LoadEquilibrium with the memory
// budget of l; the dense forms of A, B and Wo stored as CSR are charged to it
// too.
func (l Limits) LoadEquilibrium(path string) (*Equilibrium, error) {
	a, err := l.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	mats := map[string]bool{"X": true, "A": true, "B": true, "Wo": true}
	for _, name := range []string{"X", "y", "A", "B", "bias", "Wo", "bo"} {
		if !a.Has(name) && !(mats[name] && a.Has(name+"_data")) {
			return nil, a.missing(name, "")
		}
	}
	e := &Equilibrium{}
	matrix := func(name string, dense bool) (*Matrix, error) {
		m, err := a.Matrix(name)
		if err != nil || !dense || !m.IsCSR() {
			return m, err
		}
		if err := a.budget.take(name, mulBytes(8, int64(m.Rows), int64(m.Cols)), fmt.Sprintf("the dense form of the %d×%d CSR matrix", m.Rows, m.Cols)); err != nil {
			return nil, withPath(err, path)
		}
		return m.ToDense(), nil
	}
	if e.X, err = matrix("X", false); err != nil {
		return nil, err
	}
	y, err := a.Vector("y")
	if err != nil {
		return nil, err
	}
	if e.A, err = matrix("A", true); err != nil {
		return nil, err
	}
	if e.B, err = matrix("B", true); err != nil {
		return nil, err
	}
	if e.Bias, err = a.Vector("bias"); err != nil {
		return nil, err
	}
	if e.Wo, err = matrix("Wo", true); err != nil {
		return nil, err
	}
	if e.Bo, err = a.Vector("bo"); err != nil {
		return nil, err
	}
	if len(y) != e.X.Rows {
		return nil, withPath(newErr(ErrShape, "y", "y has length %d, X has %d rows", len(y), e.X.Rows), path)
	}
	if err := checkVector("y", y); err != nil {
		return nil, withPath(err, path)
	}
	e.Y = make([]int, len(y))
	for i, v := range y {
		if v != math.Trunc(v) || v < 0 || v > math.MaxInt32 {
			return nil, withPath(newErr(ErrLabels, "y", "y[%d] = %v: labels must be integers in [0, C)", i, v), path)
		}
		e.Y[i] = int(v)
	}
	if err := e.Validate(); err != nil {
		return nil, withPath(err, path)
	}
	return e, nil
}

// SaveEquilibrium writes e to path as an .npz archive that numpy.load reads:
// X (float64, or the four CSR members), y (float64 holding the integer
// labels), and the float64 arrays A, B, bias, Wo, bo. e must pass Validate.
func SaveEquilibrium(path string, e *Equilibrium) error {
	if e == nil {
		return &Error{Path: path, Kind: ErrMissing, Msg: "nil equilibrium data"}
	}
	if err := e.Validate(); err != nil {
		return withPath(err, path)
	}
	y := make([]float64, len(e.Y))
	for i, v := range e.Y {
		y[i] = float64(v)
	}
	return writeNPZ(path, []member{
		{"X", e.X}, {"y", y}, {"A", e.A}, {"B", e.B}, {"bias", e.Bias}, {"Wo", e.Wo}, {"bo", e.Bo},
	})
}

// EquilibriumOptions configures SynthEquilibrium (synth: keys n, d, k, c, q
// and seed). Zero fields take the defaults N = 1000, P = 20, K = 20, C = 10,
// Q = 0.9.
type EquilibriumOptions struct {
	N, P, K, C int     // rows, features, hidden width, classes
	Q          float64 // target ‖A‖₂ in (0, 1.5]: below 1, Φ is a contraction with constant Q
	Seed       uint64
}

// Defaults of EquilibriumOptions.
const (
	defaultEquilibriumN = 1000
	defaultEquilibriumP = 20
	defaultEquilibriumK = 20
	defaultEquilibriumC = 10
	defaultEquilibriumQ = 0.9
	// MaxEquilibriumQ is the largest target ‖A‖₂ SynthEquilibrium accepts;
	// values in [1, MaxEquilibriumQ] make a map Φ that is not a contraction,
	// for tests.
	MaxEquilibriumQ = 1.5
)

func (o EquilibriumOptions) resolve() (EquilibriumOptions, error) {
	if err := defaultSizes([]sizeDefault{{"n", &o.N, defaultEquilibriumN}, {"d", &o.P, defaultEquilibriumP}, {"k", &o.K, defaultEquilibriumK}, {"c", &o.C, defaultEquilibriumC}}); err != nil {
		return o, err
	}
	switch {
	case math.IsNaN(o.Q) || o.Q < 0 || o.Q > MaxEquilibriumQ:
		return o, synthBad("q", o.Q, fmt.Sprintf("want 0 < q ≤ %v (or 0 for the default %v)", MaxEquilibriumQ, defaultEquilibriumQ))
	case o.Q == 0:
		o.Q = defaultEquilibriumQ
	}
	w := max(o.P, o.K, o.C)
	if o.N > math.MaxInt/8/w || o.K > math.MaxInt/8/w {
		return o, synthBad("n", o.N, "problem too large")
	}
	return o, nil
}

// streamEquilibrium is the stream family of SynthEquilibrium (the top byte
// of its stream ids), apart from the families of synth.go.
const streamEquilibrium = 0x45

// Stream sets of SynthEquilibrium: each array has its own stream, so that
// changing one size leaves the draws of the others alone.
const (
	eqSetMeans = iota
	eqSetRows
	eqSetA
	eqSetB
	eqSetBias
	eqSetWo
)

// synthEquilibriumNoise is the standard deviation of the input clusters.
const synthEquilibriumNoise = 0.2

// SynthEquilibrium generates an equilibrium problem:
//
//	inputs   class means μ_c ~ U(0,1)^p (c < C); y_i uniform on {0, …, C−1};
//	         x_i = clip(μ_{y_i} + 0.2·N(0, I_p), 0, 1): a Gaussian mixture in [0,1]^p
//	A        G·(Q/‖G‖₂), G_ij ~ N(0,1), so ‖A‖₂ = Q up to rounding (gonum SVD)
//	B        N(0,1)/√p, so that the pre-activations x_iB are O(1)
//	bias     0.1·N(0,1)
//	Wo       N(0,1)/√k, so that the logits S_i Wo (|S_ij| < 1) are O(1)
//	bo       0
//
// With Q < 1 the map Φ(S) = tanh(S A + X B + 1 biasᵀ) contracts with
// constant Q. Rows are drawn in blocks of 256, each block (row by row, the
// label and then the noise) from its own PCG stream derived from Seed, and every
// parameter array from a stream of its own: the output depends only on the
// options. Arithmetic avoids fused multiply-adds.
func SynthEquilibrium(o EquilibriumOptions) (*Equilibrium, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	normal := func(set uint64, n int, scale float64) []float64 {
		r := newStream(o.Seed, streamID(streamEquilibrium, set, 0))
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(scale * r.NormFloat64())
		}
		return v
	}

	means := make([]float64, o.C*o.P)
	mr := newStream(o.Seed, streamID(streamEquilibrium, eqSetMeans, 0))
	for i := range means {
		means[i] = mr.Float64()
	}
	e := &Equilibrium{X: NewDense(o.N, o.P, nil), Y: make([]int, o.N)}
	for b := 0; b*synthBlockRows < o.N; b++ {
		r := newStream(o.Seed, streamID(streamEquilibrium, eqSetRows, uint64(b)))
		lo, hi := b*synthBlockRows, min((b+1)*synthBlockRows, o.N)
		for i := lo; i < hi; i++ {
			e.Y[i] = r.IntN(o.C)
			mu := means[e.Y[i]*o.P : (e.Y[i]+1)*o.P]
			row := e.X.Data[i*o.P : (i+1)*o.P]
			for j := range row {
				row[j] = min(max(mu[j]+float64(synthEquilibriumNoise*r.NormFloat64()), 0), 1)
			}
		}
	}

	g := normal(eqSetA, o.K*o.K, 1)
	s, err := spectralNorm(o.K, o.K, g)
	if err != nil {
		return nil, err
	}
	if !(s > 0) { // a zero Gaussian matrix: probability zero
		return nil, newErr(ErrOption, "", "synth option seed = %d: the drawn A is zero", o.Seed)
	}
	scale := o.Q / s
	for i := range g {
		g[i] *= scale
	}
	e.A = NewDense(o.K, o.K, g)
	e.B = NewDense(o.P, o.K, normal(eqSetB, o.P*o.K, 1/math.Sqrt(float64(o.P))))
	e.Bias = normal(eqSetBias, o.K, 0.1)
	e.Wo = NewDense(o.K, o.C, normal(eqSetWo, o.K*o.C, 1/math.Sqrt(float64(o.K))))
	e.Bo = make([]float64, o.C)
	return e, nil
}

// spectralNorm returns ‖M‖₂, the largest singular value of the row-major
// rows×cols matrix data, by a gonum SVD.
func spectralNorm(rows, cols int, data []float64) (float64, error) {
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(rows, cols, data), mat.SVDNone) {
		return 0, newErr(ErrOption, "", "the SVD of a %d×%d matrix did not converge", rows, cols)
	}
	return svd.Values(nil)[0], nil
}
