package data

import (
	"fmt"
	"math"
)

// QuadraticOptions configures SynthQuadratic. Zero fields take the defaults of
// Ehrhardt & Roberts §4.1: M1 = M2 = 1000, D = H = 10, Sigma = 0.01.
type QuadraticOptions struct {
	M1, M2, D, H int     // rows of A, rows of C and D, columns of A and D (dim w), columns of C (dim θ)
	Sigma        float64 // noise standard deviation
	Seed         uint64
	NumPy        bool // reproduce numpy's legacy np.random.seed(Seed) stream (Seed < 2³²)
}

func (o QuadraticOptions) resolve() (QuadraticOptions, error) {
	if err := defaultSizes([]sizeDefault{{"m1", &o.M1, 1000}, {"m2", &o.M2, 1000}, {"d", &o.D, 10}, {"h", &o.H, 10}}); err != nil {
		return o, err
	}
	switch {
	case math.IsNaN(o.Sigma) || math.IsInf(o.Sigma, 0) || o.Sigma < 0:
		return o, synthBad("sigma", o.Sigma, "want a finite value > 0 (or 0 for the default 0.01)")
	case o.Sigma == 0:
		o.Sigma = 0.01
	}
	if o.NumPy && o.Seed > math.MaxUint32 {
		return o, synthBad("seed", o.Seed, "numpy's legacy seeding needs a seed below 2^32")
	}
	m1, m2, d, h := float64(o.M1), float64(o.M2), float64(o.D), float64(o.H)
	if err := synthFits("m1", o.M1, m1*(d+1)+m2*(h+d+1)+h+d,
		fmt.Sprintf("A (%d×%d), C (%d×%d) and D (%d×%d)", o.M1, o.D, o.M2, o.H, o.M2, o.D)); err != nil {
		return o, err
	}
	return o, nil
}

// source is the generator interface shared by the PCG and numpy streams.
type source interface {
	float64() float64     // U[0, 1)
	normFloat64() float64 // N(0, 1)
}

type pcgSource struct {
	r interface {
		Float64() float64
		NormFloat64() float64
	}
}

func (p pcgSource) float64() float64     { return p.r.Float64() }
func (p pcgSource) normFloat64() float64 { return p.r.NormFloat64() }

// SynthQuadratic generates the quadratic test problem of Ehrhardt & Roberts
// §4.1 (after Li, Gu & Huang 2022 §6.1), drawing in this order, matrices in
// row-major (numpy C) order:
//
//	A ~ U(0,1)^{m1×d};  b = A·U(0,1)^d + σ·N(0,1)^{m1}
//	C ~ U(0,1)^{m2×h};  D ~ U(0,1)^{m2×d}
//	e = C·U(0,1)^h + D·U(0,1)^d + σ·N(0,1)^{m2};  theta = ones(h)
//
// With NumPy set, the draws are exactly those of numpy after
// np.random.seed(Seed) (MT19937, random_sample, legacy polar Box–Muller
// normals), which is the authors' set-up (np.random.uniform / np.random.normal
// with seed 0). Otherwise one PCG stream derived from Seed is used.
func SynthQuadratic(o QuadraticOptions) (*Quadratic, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	var src source
	if o.NumPy {
		src = newNumpyRandom(uint32(o.Seed))
	} else {
		src = pcgSource{newStream(o.Seed, streamID(streamQuadratic, 0, 0))}
	}
	uniform := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = src.float64()
		}
		return v
	}
	normal := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = src.normFloat64()
		}
		return v
	}
	q := &Quadratic{}
	q.A = NewDense(o.M1, o.D, uniform(o.M1*o.D))
	q.B = mulVec(q.A, uniform(o.D))
	for i, z := range normal(o.M1) {
		q.B[i] += float64(o.Sigma * z)
	}
	q.C = NewDense(o.M2, o.H, uniform(o.M2*o.H))
	q.D = NewDense(o.M2, o.D, uniform(o.M2*o.D))
	q.E = mulVec(q.C, uniform(o.H))
	for i, v := range mulVec(q.D, uniform(o.D)) {
		q.E[i] += v
	}
	for i, z := range normal(o.M2) {
		q.E[i] += float64(o.Sigma * z)
	}
	q.Theta = make([]float64, o.H)
	for i := range q.Theta {
		q.Theta[i] = 1
	}
	return q, nil
}

// mulVec returns m·x for a dense m.
func mulVec(m *Matrix, x []float64) []float64 {
	y := make([]float64, m.Rows)
	for i := range y {
		var s float64
		for j, a := range m.Data[i*m.Cols : (i+1)*m.Cols] {
			s += float64(a * x[j]) // no FMA fusion
		}
		y[i] = s
	}
	return y
}
