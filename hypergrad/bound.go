package hypergrad

import (
	"fmt"
	"math"
	"strings"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// BoundKind says how far an error bound can be trusted.
type BoundKind int

const (
	// BoundNone means no bound is available (see Bound.Note for why).
	BoundNone BoundKind = iota
	// BoundEstimate is the bound's formula evaluated with estimated
	// constants (power iteration or Lanczos under-estimate ‖B‖ and L): it
	// is usually close, but it is not a guarantee.
	BoundEstimate
	// BoundCertified is a proven upper bound on ‖ĥ − ∇f(λ)‖: every constant
	// in it is an exact value or a proven bound for the problem.
	BoundCertified
)

func (k BoundKind) String() string {
	switch k {
	case BoundNone:
		return "none"
	case BoundEstimate:
		return "estimate"
	case BoundCertified:
		return "certified"
	}
	return fmt.Sprintf("BoundKind(%d)", int(k))
}

// MarshalText writes the kind as its String.
func (k BoundKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Bound is an upper bound on the absolute error ‖ĥ − ∇f(λ)‖ of a
// hypergradient estimate, with its parts.
//
// The a posteriori bound is Ehrhardt & Roberts (2024) §3.3 (v), extended by
// the ∇_λE term and sharpened by the computed adjoint. With
// ε̂ = ‖∇_w g(ŵ)‖/μ ≥ ‖ŵ − w*‖, the residual r = A(ŵ)q̂ − ∇_wE(ŵ) of the
// returned adjoint q̂, computed from Hessian-vector products of the
// iterates rather than taken from the solver's recursively updated
// residual (the fixed-point and heavy-ball iterations' last product;
// conjugate gradients' A q_{k−1} + α A p_{k−1}, with A q_{k−1} computed
// together with the last A p_{k−1}; else one more product), and constants
// μ, L_f, L_A, L_B, L_Eλ (bilevel.Constants): since
//
//	ĥ − ∇f = [∇_λE(ŵ) − ∇_λE(w*)] − (B(ŵ) − B(w*))ᵀq*
//	         − B(ŵ)ᵀA(ŵ)⁻¹[r + (∇_wE(ŵ) − ∇_wE(w*)) + (A(w*) − A(ŵ))q*],
//
// an identity (q̂ − q* = A(ŵ)⁻¹[…] follows from A(ŵ)q̂ = ∇_wE(ŵ) + r and
// A(w*)q* = ∇_wE(w*)), the triangle inequality gives
//
//	‖ĥ − ∇f‖ ≤ ‖B(ŵ)‖‖r‖/μ + [‖B(ŵ)‖L_f/μ + L_Eλ]·ε̂ + [L_B + ‖B(ŵ)‖L_A/μ]·ε̂·Q
//
// for any Q ≥ ‖q*‖. Two are used, the smaller: Q₁ = (‖∇_wE(ŵ)‖ + L_f ε̂)/μ
// (Ehrhardt & Roberts' form, from ‖q*‖ ≤ ‖∇_wE(w*)‖/μ), and, where
// L_A ε̂ < μ, Q₂ = (‖q̂‖ + (‖r‖ + L_f ε̂)/μ)/(1 − L_A ε̂/μ), which solves
// ‖q*‖ ≤ ‖q̂‖ + ‖q̂ − q*‖ with the bracket above for ‖q̂ − q*‖; Q₂ ≈ ‖q̂‖
// replaces the factor ‖∇_wE‖/μ, up to κ times larger, by the norm of the
// adjoint actually computed. Inner is the part with Q's leading term
// (‖∇_wE(ŵ)‖/μ or ‖q̂‖ + ‖r‖/μ), InnerSquared the rest (of order ε̂²).
//
// The a priori bound (APriori in Result) is §3.3 (iv) with ε and ‖r‖
// replaced by what the iteration counts guarantee: ε ≤ q^t‖∇_w g(w_0)‖/μ for
// gradient descent (q = max|1 − αλ| over [μ, L]) or the FISTA rate, and
// ‖r_K‖ ≤ q^K‖r_0‖ for the fixed-point iteration or
// ‖r_K‖ ≤ 2(L/μ)^{3/2}((√κ−1)/(√κ+1))^K‖r_0‖ for conjugate gradients
// (Nocedal & Wright eq. 5.36). Heavy ball has no such bound (its constant C
// is unknown), and none is reported for it.
type Bound struct {
	Value float64   // the bound on ‖ĥ − ∇f(λ)‖
	Kind  BoundKind // certified, estimate or none
	// Linear is the residual term ‖B‖‖r‖/μ; Inner the ε̂ term; InnerSquared
	// the ε̂² term (Value is their sum).
	Linear, Inner, InnerSquared float64
	// Eps is ε (a posteriori: ε̂ = ‖∇_w g(ŵ)‖/μ) and Residual ‖r‖.
	Eps, Residual float64
	// CrossNorm is ‖B(ŵ)‖ and OuterGradNorm ‖∇_wE(ŵ)‖.
	CrossNorm, OuterGradNorm float64
	// Note says why there is no bound, or which constants are estimates.
	Note string
	// Refined marks the refined bound of RefinedBound: Value is then
	// Correction + Remainder, and the parts above (Linear … OuterGradNorm)
	// are those of the remainder's bound at the corrected point (w⁺, q⁺).
	Refined bool
	// Correction is ‖ĥ⁺ − ĥ‖ and Remainder the a posteriori bound of ĥ⁺
	// (Refined bounds only).
	Correction, Remainder float64
	// Plain is the a posteriori bound at (ŵ, q̂) that a refined bound
	// replaced (Refined bounds only; 0 otherwise).
	Plain float64
}

// RefinedBound returns the refined a posteriori bound on ‖ĥ − ∇f(λ)‖ that
// an error estimate e of ĥ gives (see EstimateError):
//
//	‖ĥ − ∇f(λ)‖ ≤ ‖ĥ⁺ − ĥ‖ + ‖ĥ⁺ − ∇f(λ)‖ ≤ e.Value + e.Remainder.Value,
//
// the triangle inequality through the corrected hypergradient ĥ⁺ = ĥ +
// e.Correction, whose error is bounded by the a posteriori bound (the
// formula of Bound) at its own point (w⁺, q⁺). It is of the remainder's
// kind: certified when the problem's constants are. Its value is the error
// estimate plus a remainder that the corrections make small: the Newton
// step leaves ‖∇_w g(w⁺)‖ at about the solve's tolerance times ‖∇_w g(ŵ)‖
// (plus a term quadratic in ‖ŵ − w*‖ where g is not quadratic), and the
// adjoint correction leaves ‖A(w⁺)q⁺ − ∇_wE(w⁺)‖ at about that tolerance
// times ‖A(w⁺)q̂ − ∇_wE(w⁺)‖, so the remainder is the plain bound's
// overestimate scaled down by that tolerance. This is the verification
// pattern of validated numerics (improve the approximation, then bound the
// defect of the improved one: Rump, Acta Numerica 2010, §1) and of the
// "delayed" error estimates of conjugate gradients, which compute the error
// at step k from later iterates and bound only the tail (Strakoš & Tichý,
// ETNA 13, 2002): what is computed exactly is the first-order error, what
// is bounded with the problem's global constants is only the remainder.
// An estimate without a value, or a remainder of kind none, gives a bound
// of kind none.
func RefinedBound(e ErrorEstimate) Bound {
	rem := e.Remainder
	if e.Kind == BoundNone || rem.Kind == BoundNone || math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
		note := e.Note
		if rem.Kind == BoundNone && rem.Note != "" {
			note = rem.Note
		}
		if note == "" {
			note = "no error estimate"
		}
		return Bound{Kind: BoundNone, Value: math.Inf(1), Refined: true, Note: note}
	}
	b := rem
	b.Refined, b.Correction, b.Remainder = true, e.Value, rem.Value
	b.Value = e.Value + rem.Value
	return b
}

// tighter returns the refined bound r in place of the plain bound b when it
// is of a kind at least as strong and smaller, recording b's value in
// r.Plain; b otherwise.
func tighter(b, r Bound) Bound {
	if r.Kind >= b.Kind && r.Kind != BoundNone && r.Value < b.Value {
		r.Plain = b.Value
		return r
	}
	return b
}

// Relative returns the bound on the relative error ‖ĥ − ∇f‖/‖∇f‖ that the
// absolute bound implies, using ‖∇f‖ ≥ ‖ĥ‖ − Value: Value/(‖ĥ‖ − Value), or
// +Inf when Value ≥ ‖ĥ‖.
func (b Bound) Relative(hnorm float64) float64 {
	if b.Kind == BoundNone || !(hnorm > b.Value) {
		return math.Inf(1)
	}
	return b.Value / (hnorm - b.Value)
}

// boundConstants gathers what the bounds need and decides their kind.
type boundConstants struct {
	c     bilevel.Constants
	bnorm bilevel.Constant
	kind  BoundKind
	note  string
}

// kindOf is the weakest kind among the constants: certified if all are
// exact or proven bounds, estimate if all are known, none otherwise.
func kindOf(named map[string]bilevel.Constant) (BoundKind, string) {
	kind := BoundCertified
	var est, unknown []string
	for name, c := range named {
		switch {
		case c.Kind == bilevel.Unknown || !(c.Value >= 0) || math.IsInf(c.Value, 0):
			unknown = append(unknown, name)
		case c.Kind == bilevel.Estimate:
			est = append(est, name)
		}
	}
	if len(unknown) > 0 {
		return BoundNone, "unknown constants: " + strings.Join(sortStrings(unknown), ", ")
	}
	if len(est) > 0 {
		kind = BoundEstimate
		return kind, "estimated constants: " + strings.Join(sortStrings(est), ", ")
	}
	return kind, ""
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// constantsForBound returns the constants and ‖B(w)‖ at w.
func (r *run) constantsForBound(w backend.Vector) boundConstants {
	c, err := r.consts()
	if err != nil {
		return boundConstants{kind: BoundNone, note: "constants: " + err.Error()}
	}
	cn, ok := r.p.(bilevel.CrossNormer)
	if !ok {
		return boundConstants{c: c, kind: BoundNone, note: "the problem does not implement bilevel.CrossNormer (‖B(w)‖)"}
	}
	bn, err := cn.CrossNorm(w)
	if err != nil {
		return boundConstants{c: c, kind: BoundNone, note: "‖B(w)‖: " + err.Error()}
	}
	if !(c.Mu.Value > 0) {
		return boundConstants{c: c, kind: BoundNone, note: "μ is not positive"}
	}
	kind, note := kindOf(map[string]bilevel.Constant{"μ": c.Mu, "L_f": c.Lf, "L_A": c.LA, "L_B": c.LB, "L_Eλ": c.LEl, "‖B‖": bn})
	return boundConstants{c: c, bnorm: bn, kind: kind, note: note}
}

// posterior evaluates the a posteriori bound (see Bound); qNorm is ‖q̂‖
// (+Inf where the adjoint is not at hand: the bound then uses
// ‖q*‖ ≤ ‖∇_wE(w*)‖/μ alone).
func posterior(k boundConstants, gradNorm, fNorm, resid, qNorm float64) Bound {
	b := Bound{Kind: k.kind, Note: k.note, Residual: resid, CrossNorm: k.bnorm.Value, OuterGradNorm: fNorm}
	if k.kind == BoundNone {
		b.Value = math.Inf(1)
		return b
	}
	mu, lf, la, lb, le := k.c.Mu.Value, k.c.Lf.Value, k.c.LA.Value, k.c.LB.Value, k.c.LEl.Value
	bn := k.bnorm.Value
	eps := gradNorm / mu
	b.Eps = eps
	b.Linear = bn * resid / mu
	// ‖q*‖ ≤ Q: from ‖∇_wE(w*)‖ ≤ ‖∇_wE(ŵ)‖ + L_f ε̂, or from q̂ (see Bound).
	lead, q := fNorm/mu, (fNorm+lf*eps)/mu
	if shrink := 1 - la*eps/mu; shrink > 0 && qNorm < math.Inf(1) {
		l2 := qNorm + resid/mu
		if q2 := (l2 + lf*eps/mu) / shrink; q2 < q {
			lead, q = l2, q2
		}
	}
	c2 := lb + bn*la/mu
	b.Inner = (bn*lf/mu+le)*eps + c2*eps*lead
	b.InnerSquared = c2 * eps * (q - lead)
	b.Value = b.Linear + b.Inner + b.InnerSquared
	return b
}

// prior evaluates the a priori bound of §3.3 (iv) with the guaranteed ε and
// ‖r‖ (see Bound), bounding ‖B(w*)‖ ≤ ‖B(ŵ)‖ + L_B ε and
// ‖∇_wE(w*)‖ ≤ ‖∇_wE(ŵ)‖ + L_f ε.
func prior(k boundConstants, eps, resid, fNorm float64) Bound {
	b := Bound{Kind: k.kind, Note: k.note, Eps: eps, Residual: resid, CrossNorm: k.bnorm.Value, OuterGradNorm: fNorm}
	if k.kind == BoundNone || math.IsNaN(eps) || math.IsNaN(resid) {
		b.Kind, b.Value = BoundNone, math.Inf(1)
		if b.Note == "" {
			b.Note = "no a priori rate for this solver (heavy ball's constant and the preconditioned κ of Jacobi CG are unknown)"
		}
		return b
	}
	mu, lf, la, lb, le := k.c.Mu.Value, k.c.Lf.Value, k.c.LA.Value, k.c.LB.Value, k.c.LEl.Value
	bs := k.bnorm.Value + lb*eps
	fs := fNorm + lf*eps
	b.Linear = (bs + lb*eps) * resid / mu
	b.Inner = (bs*lf/mu + lb*fs/mu + bs*fs*la/(mu*mu) + le) * eps
	b.InnerSquared = lb * lf / mu * eps * eps
	b.Value = b.Linear + b.Inner + b.InnerSquared
	return b
}

// innerRate returns the guaranteed contraction of ‖w_k − w*‖ of the inner
// solver with the proven constants, as a function of k (NaN: no rate).
func innerRate(s innerSpec, c bilevel.Constants) func(k int) float64 {
	mu, l := c.Mu.Value, c.L.Value
	switch {
	case s.kind == innerGD:
		q := math.Max(math.Abs(1-s.alpha*mu), math.Abs(1-s.alpha*l))
		return func(k int) float64 { return math.Pow(q, float64(k)) }
	case s.kind == innerFISTA:
		// ‖x_k − x*‖² ≤ min{(1+√q)(1−√q)^k, 4/(k+1)²}·(L/μ)‖x_0 − x*‖², q = μ/L
		// (Chambolle & Pock 2016; Ehrhardt & Roberts §3.3 (i)), for τ ≤ 1/L.
		q := mu / l
		if s.alpha > 1/l*(1+1e-12) {
			return func(int) float64 { return math.NaN() }
		}
		return func(k int) float64 {
			f := math.Min((1+math.Sqrt(q))*math.Pow(1-math.Sqrt(q), float64(k)), 4/float64((k+1)*(k+1)))
			return math.Sqrt(f * l / mu)
		}
	}
	return func(int) float64 { return math.NaN() }
}

// linearRate returns the guaranteed ‖r_K‖/‖r_0‖ of the linear solver.
func linearRate(s linearSpec, c bilevel.Constants) func(k int) float64 {
	mu, l := c.Mu.Value, c.L.Value
	switch {
	case s.kind == linFP || s.kind == linAD && s.beta == 0: // AD through gradient descent is FP
		q := math.Max(math.Abs(1-s.alpha*mu), math.Abs(1-s.alpha*l))
		return func(k int) float64 { return math.Pow(q, float64(k)) }
	case s.kind == linCG && !s.jacobi: // the preconditioned κ is unknown
		kappa := l / mu
		rho := (math.Sqrt(kappa) - 1) / (math.Sqrt(kappa) + 1)
		return func(k int) float64 { return 2 * math.Pow(kappa, 1.5) * math.Pow(rho, float64(k)) }
	}
	return func(int) float64 { return math.NaN() }
}
