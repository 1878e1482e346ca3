package problems

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// Logreg is per-feature L2 binary logistic regression (spec "logreg"), labels
// in {−1, +1}:
//
//	g(w,λ) = 1/n Σ_i log(1+exp(−y_i x_iᵀw)) + ½ Σ_j e^{λ_j} w_j²,
//	E(w)   = 1/m Σ_i log(1+exp(−y_i x_iᵀw))   (validation rows),
//	A v = Xᵀ(σ_i(1−σ_i) ⊙ Xv)/n + e^λ ⊙ v,   σ_i = σ(−y_i x_iᵀw),   Bᵀv = e^λ ⊙ w ⊙ v.
//
// Constants (bounds valid for every w; σ_max(X) is exact when the dense Gram
// matrix is cheap, else a Lanczos estimate and the constants are estimates):
// μ ≥ min_j e^{λ_j}, L ≤ σ_max(X)²/(4n) + max_j e^{λ_j}, L_f ≤ σ_max(X_val)²/(4m),
// L_A ≤ σ_max(X)²·max_i‖x_i‖/(6√3 n), L_B = max_j e^{λ_j}.
//
// Reference forms dense d×d Hessians and a weighted n×d copy of X: it
// checks the estimate DenseBytes against the dense budget
// (SetMaxDenseBytes) first and fails with ErrTooLarge beyond it.
type Logreg struct {
	*glm
	denseBudget
}

var (
	_ bilevel.Problem    = (*Logreg)(nil)
	_ bilevel.Referencer = (*Logreg)(nil)
	_ bilevel.HessDiager = (*Logreg)(nil)
	_ DenseBudgeter      = (*Logreg)(nil)
)

// DenseBytes estimates the most bytes Reference allocates (see the package
// function DenseBytes).
func (p *Logreg) DenseBytes() int64 { return saturate(supervisedDenseBytes("logreg", p.host)) }

// NewLogreg uploads logistic-regression data (labels in {−1, +1}) to the backend.
func NewLogreg(b backend.Backend, s *data.Supervised) (*Logreg, error) {
	if s == nil {
		return nil, fmt.Errorf("problems: logreg: nil data")
	}
	if err := s.Validate(data.BinaryLabels); err != nil {
		return nil, fmt.Errorf("problems: logreg: %w", err)
	}
	g, err := newGLM(b, s, backend.Logistic)
	if err != nil {
		return nil, fmt.Errorf("problems: logreg: %w", err)
	}
	return &Logreg{glm: g}, nil
}

// Constants returns the spec's bounds (see Logreg).
func (p *Logreg) Constants() (bilevel.Constants, error) {
	if p.consts != nil {
		return *p.consts, nil
	}
	str, err := p.gramMax(p.xTr, p.host.XTrain) // σ_max(X)²/n
	if err != nil {
		return bilevel.Constants{}, err
	}
	sval, err := p.gramMax(p.xVal, p.host.XVal) // σ_max(X_val)²/m
	if err != nil {
		return bilevel.Constants{}, err
	}
	kind := bilevel.Bound
	if str.Kind != bilevel.Exact || sval.Kind != bilevel.Exact {
		kind = bilevel.Estimate
	}
	emin, emax := p.elamRange()
	c := bilevel.Constants{
		Mu:  bilevel.Constant{Value: emin, Kind: bilevel.Bound},
		L:   bilevel.Constant{Value: str.Value/4 + emax, Kind: kind},
		Lf:  bilevel.Constant{Value: sval.Value / 4, Kind: kind},
		LA:  bilevel.Constant{Value: str.Value * maxAbsRowNorm(p.host.XTrain) / (6 * math.Sqrt(3)), Kind: kind},
		LB:  bilevel.Constant{Value: emax, Kind: bilevel.Exact},
		LEl: bilevel.Constant{Value: 0, Kind: bilevel.Exact}, // E does not depend on λ
	}
	if err := checkConstants("logreg", c); err != nil {
		return c, err
	}
	p.consts = &c
	return c, nil
}

// logistic returns ℓ(z,y) = log(1+exp(−yz)), ℓ' = −yσ(−yz) and ℓ” = σ(z)σ(−z).
func logistic(z, y float64) (l, g, h float64) {
	s := -y * z
	e := math.Exp(-math.Abs(s))
	l = math.Max(s, 0) + math.Log1p(e)
	sig := e / (1 + e)
	if s >= 0 {
		sig = 1 / (1 + e)
	}
	return l, -y * sig, e / ((1 + e) * (1 + e))
}

// hostLogistic returns g(w) (or E(w) when reg is nil), its gradient and the
// curvature weights ℓ”(x_iᵀw, y_i).
func hostLogistic(x *data.Matrix, y, w, reg []float64) (val float64, grad, curv []float64) {
	z := matVec(x, w)
	n := float64(x.Rows)
	r := make([]float64, len(z))
	curv = make([]float64, len(z))
	for i, zi := range z {
		l, g, h := logistic(zi, y[i])
		val += l / n
		r[i] = g / n
		curv[i] = h
	}
	grad = matTVec(x, r)
	for j, e := range reg {
		val += 0.5 * e * w[j] * w[j]
		grad[j] += e * w[j]
	}
	return val, grad, curv
}

// newtonHessian returns the Cholesky factor of XᵀDX/n + diag(e^λ).
func (p *Logreg) newtonHessian(curv []float64) (*mat.Cholesky, error) {
	var h *mat.SymDense
	if err := guard("logreg Hessian", func() error { h = gram(p.host.XTrain, curv, 1/float64(p.n)); return nil }); err != nil {
		return nil, err
	}
	for j, e := range p.elamH {
		h.SetSym(j, j, h.At(j, j)+e)
	}
	chol, ok, err := cholesky(h)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: logreg: Hessian is not positive definite to working precision", ErrNumerical)
	}
	return chol, nil
}

// Reference solves the inner problem by damped Newton (Armijo backtracking on
// g; the full step is also accepted when it halves ‖∇g‖, as the decrease of g
// falls below its rounding near w*) from w = 0 until ‖∇g‖ stops decreasing or falls below
// 1e-15·(‖X‖_F‖y‖/n + 1), at most 100 iterations, keeping the iterate with the
// smallest gradient; then q = A⁻¹∇E(w*) by a dense Cholesky solve.
// Matrices beyond the dense budget are ErrTooLarge, before anything is
// allocated.
func (p *Logreg) Reference() (*bilevel.Reference, error) {
	if err := p.fits("logreg: reference", supervisedDenseBytes("logreg", p.host)); err != nil {
		return nil, err
	}
	s := p.host
	w := make([]float64, p.d)
	xf := norm2(s.XTrain.Data) // Frobenius norm (values of dense or CSR storage)
	thresh := 1e-15 * (xf*norm2(s.YTrain)/float64(p.n) + 1)
	val, grad, curv := hostLogistic(s.XTrain, s.YTrain, w, p.elamH)
	best, bestNorm := append([]float64(nil), w...), norm2(grad)
	stalls := 0
	for it := 0; it < 100 && bestNorm > thresh && stalls < 2; it++ {
		chol, err := p.newtonHessian(curv)
		if err != nil {
			return nil, err
		}
		step, err := cholSolve(chol, grad)
		if err != nil {
			return nil, err
		}
		slope := 0.0
		for j := range step {
			slope += step[j] * grad[j]
		}
		trial := make([]float64, p.d)
		t := 1.0
		var tv float64
		var tg, tc []float64
		for {
			for j := range w {
				trial[j] = w[j] - t*step[j]
			}
			tv, tg, tc = hostLogistic(s.XTrain, s.YTrain, trial, p.elamH)
			// Near w* the decrease of g falls below the rounding of its
			// value; the full step is then accepted when it halves ‖∇g‖
			// (the quadratic convergence of Newton's method).
			if tv <= val-1e-4*t*slope || (t == 1 && norm2(tg) <= 0.5*norm2(grad)) || t < 1e-10 {
				break
			}
			t /= 2
		}
		if t < 1e-10 {
			break // no decrease possible: g is at its rounding floor
		}
		w, val, grad, curv = trial, tv, tg, tc
		if nrm := norm2(grad); nrm < bestNorm {
			best, bestNorm = append(best[:0], w...), nrm
		} else {
			stalls++ // ‖∇g‖ no longer decreases: rounding floor
		}
	}
	_, _, curv = hostLogistic(s.XTrain, s.YTrain, best, p.elamH)
	chol, err := p.newtonHessian(curv)
	if err != nil {
		return nil, err
	}
	_, ge, _ := hostLogistic(s.XVal, s.YVal, best, nil)
	q, err := cholSolve(chol, ge)
	if err != nil {
		return nil, err
	}
	return checkReference("logreg", &bilevel.Reference{
		Hypergradient: p.weightGrad(best, q),
		W:             best,
		V:             q,
		InnerGradNorm: bestNorm,
		Method:        "damped Newton with dense Cholesky, then a dense solve for q",
	})
}
