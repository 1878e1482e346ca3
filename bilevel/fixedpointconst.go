package bilevel

import (
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// FixedPointConstants are the constants of a fixed-point problem
// w = Φ(w, λ) (FixedPoint) at fixed λ that the a posteriori error bound of
// fixed-point AID needs (Grazzi et al. 2020, Thm 2.2, made a posteriori).
// Norms are Euclidean on vectors and operator 2-norms on matrices. Q holds
// for every w, w' ∈ R^d; the others are Lipschitz constants for w, w' in a
// set 𝒲 ⊆ R^d that holds the fixed point w(λ) and the range of Φ(·, λ), so
// every iterate w_t = Φ(w_{t−1}, λ) with t ≥ 1 (𝒲 = R^d for global
// constants):
//
//	‖Φ(w) − Φ(w')‖       ≤ q‖w − w'‖,  q < 1   (Q, the Contractor constant),
//	‖∇_wE(w) − ∇_wE(w')‖ ≤ L_E1‖w − w'‖        (LE1),
//	‖∇_λE(w) − ∇_λE(w')‖ ≤ L_E2‖w − w'‖        (LE2; an Exact 0 when E does not depend on λ),
//	‖∂_wΦ(w) − ∂_wΦ(w')‖ ≤ ν1‖w − w'‖          (NuW),
//	‖∂_λΦ(w) − ∂_λΦ(w')‖ ≤ ν2‖w − w'‖          (NuL).
//
// Each is a Constant whose Kind says how far it is trusted: Bound or Exact
// for a proven constant, Estimate for a numerical estimate, Unknown when
// the problem cannot give one. Diameter is optional: a bound on
// ‖w − w'‖ over w, w' ∈ 𝒲 where 𝒲 is bounded, which caps the distance of
// an iterate to w(λ); Unknown (the zero Constant) when 𝒲 is unbounded.
type FixedPointConstants struct {
	Q   Constant // q, contraction of Φ(·, λ)
	LE1 Constant // L_E1, Lipschitz constant of ∇_wE in w
	LE2 Constant // L_E2, Lipschitz constant of ∇_λE in w
	NuW Constant // ν1, Lipschitz constant of ∂_wΦ in w
	NuL Constant // ν2, Lipschitz constant of ∂_λΦ in w

	Diameter Constant // sup ‖w − w'‖ over 𝒲, or Unknown
}

// FixedPointConstanter is implemented by fixed-point problems that know the
// constants of their error bound (FixedPointConstants) at the current λ.
type FixedPointConstanter interface {
	// FixedPointConstants returns the constants at the current λ.
	FixedPointConstants() (FixedPointConstants, error)
	// HyperJacNorm returns ‖∂_λΦ(w, λ)‖₂, the operator norm of the d×h
	// Jacobian K at w (len d), or a bound or estimate of it (see its
	// Kind). It leaves the linearization point alone.
	HyperJacNorm(w backend.Vector) (Constant, error)
}

var _ FixedPointConstanter = (*GradientStep)(nil)

// scaled returns α·c with the kind of c (α > 0 is exact).
func scaled(alpha float64, c Constant) Constant {
	if c.Kind == Unknown {
		return Constant{Kind: Unknown}
	}
	return Constant{Value: alpha * c.Value, Kind: c.Kind}
}

// FixedPointConstants returns the constants of Φ = w − α∇_w g from the
// optimisation constants of the problem (Constants), on 𝒲 = R^d:
//
//	q = max(|1 − αμ|, |1 − αL|)   (Contraction),
//	L_E1 = L_f,  L_E2 = L_Eλ,
//	ν1 = αL_A  (∂_wΦ = I − αA),   ν2 = αL_B  (∂_λΦ = −αB),
//
// each as trusted as the constants it is made of (Diameter Unknown).
func (s *GradientStep) FixedPointConstants() (FixedPointConstants, error) {
	c, err := s.P.Constants()
	if err != nil {
		return FixedPointConstants{}, err
	}
	q := Constant{Value: math.Max(math.Abs(1-s.Alpha*c.Mu.Value), math.Abs(1-s.Alpha*c.L.Value)), Kind: min(c.Mu.Kind, c.L.Kind)}
	if !(q.Value < 1) {
		q.Kind = Unknown
	}
	return FixedPointConstants{
		Q:   q,
		LE1: c.Lf,
		LE2: c.LEl,
		NuW: scaled(s.Alpha, c.LA),
		NuL: scaled(s.Alpha, c.LB),
	}, nil
}

// HyperJacNorm returns ‖∂_λΦ(w)‖ = α‖B(w)‖ from the problem's CrossNorm, as
// trusted as it; ErrUnsupported when the problem is no CrossNormer.
func (s *GradientStep) HyperJacNorm(w backend.Vector) (Constant, error) {
	cn, ok := s.P.(CrossNormer)
	if !ok {
		return Constant{}, fmt.Errorf("%w: ‖B(w)‖ (CrossNormer)", ErrUnsupported)
	}
	b, err := cn.CrossNorm(w)
	if err != nil {
		return Constant{}, err
	}
	return scaled(s.Alpha, b), nil
}
