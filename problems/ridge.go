package problems

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// Ridge is per-feature L2 least squares (spec "ridge"):
//
//	g(w,λ) = 1/(2n)‖X w − y‖² + ½ Σ_j e^{λ_j} w_j²,   E(w) = 1/(2m)‖X_val w − y_val‖²,
//	A = XᵀX/n + diag(e^λ),   w* = A⁻¹Xᵀy/n,   q = A⁻¹∇E(w*),   ∇f = −e^λ ⊙ w* ⊙ q
//
// (for a shared weight, the sum of that vector). Constants: μ = λ_min(A),
// L = λ_max(A), L_f = λ_max(X_valᵀX_val)/m, L_A = 0, L_B = max_j e^{λ_j}.
//
// Reference and ExactConstants form dense d×d matrices: they check the
// estimate DenseBytes against the dense budget (SetMaxDenseBytes) first and
// fail with ErrTooLarge beyond it.
type Ridge struct {
	*glm
	denseBudget
}

var (
	_ bilevel.Problem    = (*Ridge)(nil)
	_ bilevel.Referencer = (*Ridge)(nil)
	_ bilevel.HessDiager = (*Ridge)(nil)
	_ DenseBudgeter      = (*Ridge)(nil)
)

// DenseBytes estimates the most bytes Reference or ExactConstants allocate
// (see the package function DenseBytes).
func (p *Ridge) DenseBytes() int64 { return saturate(supervisedDenseBytes("ridge", p.host)) }

// NewRidge uploads ridge data (real labels) to the backend.
func NewRidge(b backend.Backend, s *data.Supervised) (*Ridge, error) {
	if s == nil {
		return nil, fmt.Errorf("problems: ridge: nil data")
	}
	if err := s.Validate(data.RealLabels); err != nil {
		return nil, fmt.Errorf("problems: ridge: %w", err)
	}
	g, err := newGLM(b, s, backend.Squared)
	if err != nil {
		return nil, fmt.Errorf("problems: ridge: %w", err)
	}
	return &Ridge{glm: g}, nil
}

// hessian returns the dense A = XᵀX/n + diag(e^λ).
func (p *Ridge) hessian() *mat.SymDense {
	a := gram(p.host.XTrain, nil, 1/float64(p.n))
	for j, e := range p.elamH {
		a.SetSym(j, j, a.At(j, j)+e)
	}
	return a
}

// Constants returns μ, L, L_f (exact when d ≤ DenseLimit and the Gram matrix
// is cheap, else Lanczos estimates), L_A = 0 and L_B = max_j e^{λ_j}.
func (p *Ridge) Constants() (bilevel.Constants, error) {
	if p.consts != nil {
		return *p.consts, nil
	}
	var (
		c   bilevel.Constants
		err error
	)
	if denseCheap(p.n, p.d) && p.fits("", supervisedDenseBytes("ridge", p.host)) == nil {
		c, err = p.ExactConstants()
	} else {
		c, err = p.estimatedConstants()
	}
	if err != nil {
		return c, err
	}
	if err := checkConstants("ridge", c); err != nil {
		return c, err
	}
	p.consts = &c
	return c, nil
}

// ExactConstants computes μ, L and L_f by dense eigendecompositions, at any
// size. When λ_min(A) is below the eigensolver's rounding level
// (8dε·λ_max(A)), the computed value carries no information and μ is the
// proven bound min_j e^{λ_j} (A ⪰ diag(e^λ)), of Kind Bound; constants
// that cannot be used (μ ≤ 0, for instance e^λ = 0) are an error wrapping
// ErrConstants, and matrices beyond the dense budget ErrTooLarge.
func (p *Ridge) ExactConstants() (bilevel.Constants, error) {
	if err := p.fits("ridge: exact constants", supervisedDenseBytes("ridge", p.host)); err != nil {
		return bilevel.Constants{}, err
	}
	var a *mat.SymDense
	if err := guard("ridge Hessian", func() error { a = p.hessian(); return nil }); err != nil {
		return bilevel.Constants{}, err
	}
	lo, hi, err := symExtremes(a)
	if err != nil {
		return bilevel.Constants{}, err
	}
	_, lf, err := gramExtremes(p.host.XVal, nil, nil)
	if err != nil {
		return bilevel.Constants{}, err
	}
	emin, emax := p.elamRange()
	mu := bilevel.Constant{Value: lo, Kind: bilevel.Exact}
	if !(lo > eigTol(p.d, hi)) {
		mu = bilevel.Constant{Value: emin, Kind: bilevel.Bound}
	}
	c := bilevel.Constants{
		Mu:  mu,
		L:   bilevel.Constant{Value: hi, Kind: bilevel.Exact},
		Lf:  bilevel.Constant{Value: lf / float64(p.m), Kind: bilevel.Exact},
		LA:  bilevel.Constant{Value: 0, Kind: bilevel.Exact},
		LB:  bilevel.Constant{Value: emax, Kind: bilevel.Exact},
		LEl: bilevel.Constant{Value: 0, Kind: bilevel.Exact}, // E does not depend on λ
	}
	return c, checkConstants("ridge", c)
}

func (p *Ridge) estimatedConstants() (bilevel.Constants, error) {
	emin, emax := p.elamRange()
	s, err := lanczos(p.b, p.d, func(dst, v backend.Vector) error {
		p.g.GramVec(dst, 1/float64(p.n), p.xTr, nil, v, 0)
		p.b.MulElem(dst, 1, p.elam, v, 1)
		return p.b.Err()
	})
	if err != nil {
		return bilevel.Constants{}, err
	}
	lf, err := p.gramMax(p.xVal, p.host.XVal)
	if err != nil {
		return bilevel.Constants{}, err
	}
	return bilevel.Constants{
		Mu:  bilevel.Constant{Value: math.Max(s.Min-s.MinResidual, emin), Kind: bilevel.Estimate},
		L:   bilevel.Constant{Value: s.Max + s.MaxResidual, Kind: bilevel.Estimate},
		Lf:  lf,
		LA:  bilevel.Constant{Value: 0, Kind: bilevel.Exact},
		LB:  bilevel.Constant{Value: emax, Kind: bilevel.Exact},
		LEl: bilevel.Constant{Value: 0, Kind: bilevel.Exact}, // E does not depend on λ
	}, nil
}

// Reference solves the ridge problem exactly by a dense Cholesky
// factorisation of A = XᵀX/n + diag(e^λ).
//
// A that is not positive definite to working precision is an error, as is
// a failure or panic of the factorisation (ErrNumerical) and a reference
// that comes out non-finite; matrices beyond the dense budget are
// ErrTooLarge, before anything is allocated.
func (p *Ridge) Reference() (*bilevel.Reference, error) {
	if err := p.fits("ridge: reference", supervisedDenseBytes("ridge", p.host)); err != nil {
		return nil, err
	}
	var a *mat.SymDense
	if err := guard("ridge Hessian", func() error { a = p.hessian(); return nil }); err != nil {
		return nil, err
	}
	chol, ok, err := cholesky(a)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: ridge: A is not positive definite to working precision", ErrNumerical)
	}
	s := p.host
	xty := matTVec(s.XTrain, s.YTrain)
	for j := range xty {
		xty[j] /= float64(p.n)
	}
	w, err := cholSolve(chol, xty)
	if err != nil {
		return nil, err
	}
	ge := squaredGrad(s.XVal, s.YVal, w, 1/float64(p.m))
	q, err := cholSolve(chol, ge)
	if err != nil {
		return nil, err
	}
	g := squaredGrad(s.XTrain, s.YTrain, w, 1/float64(p.n))
	for j := range g {
		g[j] += p.elamH[j] * w[j]
	}
	return checkReference("ridge", &bilevel.Reference{
		Hypergradient: p.weightGrad(w, q),
		W:             w,
		V:             q,
		InnerGradNorm: norm2(g),
		Method:        "dense Cholesky of A = XᵀX/n + diag(e^λ)",
	})
}

// weightGrad returns ∇f = −e^λ ⊙ w ⊙ q, summed for a shared λ.
func (p *glm) weightGrad(w, q []float64) []float64 {
	hg := make([]float64, p.h)
	for j := range w {
		v := -p.elamH[j] * w[j] * q[j]
		if p.h == 1 {
			hg[0] += v
		} else {
			hg[j] = v
		}
	}
	return hg
}

// squaredGrad returns scale·Xᵀ(Xw − y) (host).
func squaredGrad(x *data.Matrix, y, w []float64, scale float64) []float64 {
	r := matVec(x, w)
	for i := range r {
		r[i] -= y[i]
	}
	g := matTVec(x, r)
	for j := range g {
		g[j] *= scale
	}
	return g
}
