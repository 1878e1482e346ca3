package bilevel

import (
	"errors"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// FixedPoint is a bilevel problem whose lower level is a fixed-point
// equation (Grazzi et al. 2020, §2):
//
//	min_λ f(λ) = E(w(λ), λ),   w(λ) = Φ(w(λ), λ),
//
// with Φ(·, λ) a contraction in w. With J = ∂_wΦ (d×d, not symmetric in
// general) and K = ∂_λΦ (d×h), at (w(λ), λ),
//
//	∇f(λ) = ∇_λE + Kᵀv,   (I − Jᵀ) v = ∇_wE.
//
// Optimisation is the case Φ = w − α∇_w g (GradientStep): then J = I − αA,
// K = −αB and v = q/α.
//
// All vectors live on Backend(); w, u and dst have length InnerDim() unless
// stated otherwise; dst is never an argument of the same call. A FixedPoint
// is not safe for concurrent use.
type FixedPoint interface {
	Hyperparameters
	// Map sets dst ← Φ(w, λ).
	Map(dst, w backend.Vector) error
	// Linearize fixes the point w of the Jacobian products until the next
	// Linearize or SetHyper; w may change afterwards.
	Linearize(w backend.Vector) error
	// JacVec sets dst ← ∂_wΦ·u and JacTransVec dst ← ∂_wΦᵀ·u at the
	// linearization point.
	JacVec(dst, u backend.Vector) error
	JacTransVec(dst, u backend.Vector) error
	// HyperJacTransVec sets dst ← ∂_λΦᵀ·u (len dst = h), and HyperJacVec
	// dst ← ∂_λΦ·u (len u = h; forward mode), at the linearization point.
	HyperJacTransVec(dst, u backend.Vector) error
	HyperJacVec(dst, u backend.Vector) error
	Outer
}

// Hyperparameters is what every problem shares: its backend, its
// dimensions, and its current λ.
type Hyperparameters interface {
	// Backend returns the backend that holds the problem's data.
	Backend() backend.Backend
	// InnerDim returns d, the length of w.
	InnerDim() int
	// HyperDim returns h, the length of λ.
	HyperDim() int
	// Hyper copies the current λ into dst (len h).
	Hyper(dst []float64)
	// SetHyper moves the problem to λ (len h, finite). Constants and any
	// linearization refer to the new λ afterwards.
	SetHyper(lambda []float64) error
}

// Outer is the outer objective E(w, λ) of a problem.
type Outer interface {
	// OuterValue returns E(w, λ).
	OuterValue(w backend.Vector) (float64, error)
	// OuterGrad sets dst ← ∇_w E(w, λ).
	OuterGrad(dst, w backend.Vector) error
	// OuterHyperGrad sets dst ← ∇_λ E(w, λ) (len dst = h; zero when E does
	// not depend on λ directly).
	OuterHyperGrad(dst, w backend.Vector) error
}

// Contractor is implemented by fixed-point problems that know a
// contraction constant q of Φ(·, λ) at the current λ:
// ‖Φ(w, λ) − Φ(w', λ)‖ ≤ q‖w − w'‖ for all w, w', with q < 1. Then
// ‖∂_wΦ‖ ≤ q, σ_min(I − ∂_wΦ) ≥ 1 − q, and the fixed-point iterates
// satisfy ‖w_t − w(λ)‖ ≤ qᵗ‖w_0 − w(λ)‖ (Grazzi et al. 2020, §2).
type Contractor interface {
	Contraction() (Constant, error)
}

// SymmetricJacobian is implemented by fixed-point problems whose ∂_wΦ is
// symmetric at every point (a gradient-step map, say). I − ∂_wΦ is then
// symmetric positive definite for a contraction, and AID may use
// conjugate gradients.
type SymmetricJacobian interface {
	JacobianSymmetric() bool
}

// CrossApplier is implemented by optimisation problems that apply B = ∇²_wλ g
// itself, not only Bᵀ: forward-mode differentiation needs B·u.
type CrossApplier interface {
	// CrossApply sets dst ← B(w, λ)·u at the linearization point (len u =
	// h, len dst = d).
	CrossApply(dst, u backend.Vector) error
}

// ErrUnsupported reports an optional oracle the problem does not have.
var ErrUnsupported = errors.New("bilevel: oracle not supported by the problem")

// GradientStep is the fixed-point form Φ(w, λ) = w − α∇_w g(w, λ) of an
// optimisation problem (Grazzi et al. 2020, §2.1):
//
//	∂_wΦ = I − αA,   ∂_λΦ = −αB,   v = q/α,
//
// symmetric, and a contraction with q = max(|1 − αμ|, |1 − αL|) for
// 0 < α < 2/L. HyperJacVec needs a CrossApplier problem (ErrUnsupported
// otherwise). Use NewGradientStep to build one.
type GradientStep struct {
	P     Problem
	Alpha float64
	tmp   backend.Vector
}

var (
	_ FixedPoint        = (*GradientStep)(nil)
	_ Contractor        = (*GradientStep)(nil)
	_ SymmetricJacobian = (*GradientStep)(nil)
)

// NewGradientStep returns the gradient-step map of p with step alpha; alpha
// 0 means 2/(L+μ) from p's constants, which minimises q (then
// q = (κ−1)/(κ+1)). Close frees its workspace (not p).
func NewGradientStep(p Problem, alpha float64) (*GradientStep, error) {
	if p == nil {
		return nil, errors.New("bilevel: gradient step: nil problem")
	}
	if alpha == 0 {
		c, err := p.Constants()
		if err != nil {
			return nil, fmt.Errorf("bilevel: gradient step: constants: %w", err)
		}
		alpha = 2 / (c.L.Value + c.Mu.Value)
	}
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return nil, fmt.Errorf("bilevel: gradient step: α = %v (want positive and finite)", alpha)
	}
	tmp, err := p.Backend().NewVector(p.InnerDim())
	if err != nil {
		return nil, fmt.Errorf("bilevel: gradient step: %w", err)
	}
	return &GradientStep{P: p, Alpha: alpha, tmp: tmp}, nil
}

// Close frees the workspace.
func (s *GradientStep) Close() error {
	if s.tmp != nil {
		s.P.Backend().Free(s.tmp)
		s.tmp = nil
	}
	return nil
}

func (s *GradientStep) Backend() backend.Backend        { return s.P.Backend() }
func (s *GradientStep) InnerDim() int                   { return s.P.InnerDim() }
func (s *GradientStep) HyperDim() int                   { return s.P.HyperDim() }
func (s *GradientStep) Hyper(dst []float64)             { s.P.Hyper(dst) }
func (s *GradientStep) SetHyper(lambda []float64) error { return s.P.SetHyper(lambda) }
func (s *GradientStep) Linearize(w backend.Vector) error {
	return s.P.Linearize(w)
}

// JacobianSymmetric reports true: ∂_wΦ = I − αA.
func (s *GradientStep) JacobianSymmetric() bool { return true }

// Map sets dst ← w − α∇_w g(w, λ).
func (s *GradientStep) Map(dst, w backend.Vector) error {
	if err := s.P.InnerGrad(dst, w); err != nil {
		return err
	}
	b := s.P.Backend()
	b.Axpby(1, w, -s.Alpha, dst)
	return b.Err()
}

// JacVec sets dst ← u − αA u.
func (s *GradientStep) JacVec(dst, u backend.Vector) error {
	if err := s.P.HessVec(dst, u); err != nil {
		return err
	}
	b := s.P.Backend()
	b.Axpby(1, u, -s.Alpha, dst)
	return b.Err()
}

// JacTransVec is JacVec (the Jacobian is symmetric).
func (s *GradientStep) JacTransVec(dst, u backend.Vector) error { return s.JacVec(dst, u) }

// HyperJacTransVec sets dst ← −αBᵀu.
func (s *GradientStep) HyperJacTransVec(dst, u backend.Vector) error {
	if err := s.P.CrossVec(dst, u); err != nil {
		return err
	}
	b := s.P.Backend()
	b.Scal(-s.Alpha, dst)
	return b.Err()
}

// HyperJacVec sets dst ← −αB u, if the problem is a CrossApplier.
func (s *GradientStep) HyperJacVec(dst, u backend.Vector) error {
	ca, ok := s.P.(CrossApplier)
	if !ok {
		return fmt.Errorf("%w: B·u (CrossApply) for forward mode", ErrUnsupported)
	}
	if err := ca.CrossApply(dst, u); err != nil {
		return err
	}
	b := s.P.Backend()
	b.Scal(-s.Alpha, dst)
	return b.Err()
}

func (s *GradientStep) OuterValue(w backend.Vector) (float64, error) { return s.P.OuterValue(w) }
func (s *GradientStep) OuterGrad(dst, w backend.Vector) error        { return s.P.OuterGrad(dst, w) }
func (s *GradientStep) OuterHyperGrad(dst, w backend.Vector) error {
	return s.P.OuterHyperGrad(dst, w)
}

// Contraction returns q = max(|1 − αμ|, |1 − αL|) from the problem's
// constants, as trusted as the less trusted of μ and L (Unknown when
// q ≥ 1: α is too long for a contraction).
func (s *GradientStep) Contraction() (Constant, error) {
	c, err := s.P.Constants()
	if err != nil {
		return Constant{}, err
	}
	q := math.Max(math.Abs(1-s.Alpha*c.Mu.Value), math.Abs(1-s.Alpha*c.L.Value))
	kind := min(c.Mu.Kind, c.L.Kind)
	if !(q < 1) {
		return Constant{Value: q, Kind: Unknown}, nil
	}
	return Constant{Value: q, Kind: kind}, nil
}
