// Package bilevel is the problem contract shared by the problem zoo (package
// problems) and the estimators (package hypergrad): the matrix-free oracles of
// a bilevel problem
//
//	min_λ f(λ) = E(w*(λ), λ),   w*(λ) = argmin_w g(w, λ),
//
// on backend vectors, and the constants the step sizes and error bounds need.
//
// Notation (as in package problems): w ∈ R^d is the inner variable, λ ∈ R^h
// the hyperparameters, A := ∇²_ww g (d×d, symmetric positive definite) and
// B := ∇²_wλ g (d×h). By the implicit function theorem
//
//	∇f(λ) = ∇_λE − Bᵀq,   A q = ∇_wE,   everything at (w*(λ), λ).
//
// The package is a leaf: it depends only on package backend.
package bilevel

import (
	"fmt"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Problem gives matrix-free access to a bilevel problem at its current
// hyperparameters λ. All vectors live on Backend(); w, v and dst have length
// InnerDim() unless stated otherwise. Oracles may be called with dst equal to
// no other argument. A Problem is not safe for concurrent use.
type Problem interface {
	Hyperparameters

	// InnerValue returns g(w, λ).
	InnerValue(w backend.Vector) (float64, error)
	// InnerGrad sets dst ← ∇_w g(w, λ).
	InnerGrad(dst, w backend.Vector) error
	// Linearize fixes the point w at which HessVec and CrossVec evaluate
	// their derivatives, until the next Linearize or SetHyper. The problem
	// keeps what it needs (a copy of w, curvature weights); w may change
	// afterwards.
	Linearize(w backend.Vector) error
	// HessVec sets dst ← A(w, λ)·v at the linearization point w.
	HessVec(dst, v backend.Vector) error
	// CrossVec sets dst ← B(w, λ)ᵀ·v at the linearization point w (len dst = h).
	CrossVec(dst, v backend.Vector) error

	Outer

	// Constants returns the constants of the problem at the current λ.
	Constants() (Constants, error)
}

// Kind says how much a constant can be trusted.
type Kind int

const (
	// Unknown means no value is available; Value is 0.
	Unknown Kind = iota
	// Estimate is a numerical estimate (power iteration, Lanczos) that is
	// not guaranteed to bound the true value.
	Estimate
	// Bound is a proven bound on the true value, valid for every w (a lower
	// bound for μ, an upper bound for the others).
	Bound
	// Exact is the true value computed to machine precision (a dense
	// eigendecomposition, or a closed form).
	Exact
)

func (k Kind) String() string {
	switch k {
	case Unknown:
		return "unknown"
	case Estimate:
		return "estimate"
	case Bound:
		return "bound"
	case Exact:
		return "exact"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MarshalText encodes a Kind as its name ("exact", "bound", "estimate",
// "unknown"), so that JSON output reads as the text output does.
func (k Kind) MarshalText() ([]byte, error) {
	switch k {
	case Unknown, Estimate, Bound, Exact:
		return []byte(k.String()), nil
	}
	return nil, fmt.Errorf("bilevel: invalid Kind %d", int(k))
}

// UnmarshalText decodes the names MarshalText writes.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, c := range []Kind{Unknown, Estimate, Bound, Exact} {
		if string(b) == c.String() {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("bilevel: unknown constant kind %q (want exact, bound, estimate or unknown)", b)
}

// Constant is a problem constant with its provenance.
type Constant struct {
	Value float64 `json:"value"`
	Kind  Kind    `json:"kind"`
}

// Constants of a problem at fixed λ, in the notation of Ehrhardt & Roberts
// (2024, §3.1):
//
//	μI ⪯ A(w, λ) ⪯ LI for every w (strong convexity and smoothness of g),
//	‖∇_wE(w) − ∇_wE(w')‖ ≤ L_f‖w − w'‖,
//	‖A(w) − A(w')‖ ≤ L_A‖w − w'‖,  ‖B(w) − B(w')‖ ≤ L_B‖w − w'‖,
//	‖∇_λE(w) − ∇_λE(w')‖ ≤ L_Eλ‖w − w'‖ (0 when E does not depend on λ).
//
// The gradient-descent step α = 2/(L+μ) contracts the inner iteration with
// q = (κ−1)/(κ+1), κ = L/μ (Grazzi et al. 2020, §2.1).
type Constants struct {
	Mu Constant // μ
	L  Constant // L
	Lf Constant // L_f
	LA Constant // L_A
	LB Constant // L_B
	// LEl is L_Eλ, the Lipschitz constant of ∇_λE in w. Error bounds need it
	// (Kind Unknown means no bound can be given); problems whose E does not
	// depend on λ set it to an Exact 0.
	LEl Constant
}

// Kappa returns the condition number L/μ.
func (c Constants) Kappa() float64 { return c.L.Value / c.Mu.Value }

// Reference is an exact (machine-precision) solution of a problem at its
// current λ, used to measure the error of estimators.
type Reference struct {
	// Hypergradient is ∇f(λ) (len h).
	Hypergradient []float64
	// W is w*(λ) and V is q = A⁻¹∇_wE(w*) (len d).
	W, V []float64
	// InnerGradNorm is ‖∇_w g(W, λ)‖ reached by the reference solve.
	InnerGradNorm float64
	// Method says how the reference was computed.
	Method string
}

// Referencer is implemented by problems that can compute an exact reference
// hypergradient (a closed form or a direct dense solve).
type Referencer interface {
	Reference() (*Reference, error)
}

// CrossNormer is implemented by problems that can evaluate or bound
// ‖B(w, λ)‖₂, the operator norm of the cross derivative at a point, which
// the a posteriori error bound of Ehrhardt & Roberts (2024) needs.
type CrossNormer interface {
	CrossNorm(w backend.Vector) (Constant, error)
}

// LinearizationStore is implemented by problems whose linearization at w
// (what Linearize keeps: a copy of w, and for GLM-type losses the curvature
// weights ℓ”(Xw, y)) is a by-product of the inner gradient at w, computed in
// the same pass over the data. ITD records it into numbered slots during the
// forward pass and restores it in the reverse pass, which saves one pass over
// the data per reverse step.
type LinearizationStore interface {
	// SlotBytes returns the device bytes one slot holds.
	SlotBytes() int64
	// AllocSlots prepares n slots, replacing any earlier ones.
	AllocSlots(n int) error
	// InnerGradRecord sets dst ← ∇_w g(w, λ), exactly as InnerGrad, and
	// stores the linearization at w in slot.
	InnerGradRecord(dst, w backend.Vector, slot int) error
	// UseSlot makes the linearization stored in slot current for HessVec
	// and CrossVec, as Linearize(w) would, without a pass over the data.
	UseSlot(slot int) error
	// FreeSlots releases the slots.
	FreeSlots()
}

// HessDiager is implemented by problems that can compute the diagonal of
// A = ∇²_ww g at the linearization point in one pass over their data (for
// the GLM-type problems, diag(Xᵀ diag(ℓ”) X)/n + e^λ). Preconditioned
// conjugate gradients (hypergrad.ConjugateGradient with Jacobi) uses it as
// the Jacobi preconditioner M = diag(A).
type HessDiager interface {
	// HessDiag sets dst ← diag(A(w, λ)) at the linearization point w (len
	// dst = InnerDim). It fails like HessVec before any Linearize.
	HessDiag(dst backend.Vector) error
}

// HessVecPairer is implemented by problems that can compute two
// Hessian-vector products at the linearization point together, with the
// bits of two HessVec calls, in fewer passes over their data where the
// backend allows: the GLM-type problems read X once on a backend that is a
// backend.GramVecPairer (1.34–1.45 passes on the CPU) and make two calls
// otherwise. Conjugate gradients (package hypergrad) use it in their last
// iteration, for A·p and for the A·q that the a posteriori bound needs.
type HessVecPairer interface {
	// HessVecPair sets dst1 ← A(w, λ)·v1 and dst2 ← A(w, λ)·v2 at the
	// linearization point w, exactly as HessVec(dst1, v1) and HessVec(dst2,
	// v2) would; dst1 and dst2 are distinct and neither is v1 or v2. It fails
	// like HessVec before any Linearize.
	HessVecPair(dst1, v1, dst2, v2 backend.Vector) error
}

// GradHessVecer is implemented by problems with a LinearizationStore that
// can compute the inner gradient at w and a Hessian-vector product at w
// together, with the bits of the separate calls, in fewer passes over their
// data where the backend allows: the GLM-type problems read X once on a
// backend that is a backend.GLMGradGramVecer and make the calls in turn
// otherwise. AID (package hypergrad) uses it for the last inner gradient,
// at w_t, and the first product of conjugate gradients from zero, A·∇_wE(w_t).
type GradHessVecer interface {
	// InnerGradRecordHessVec does InnerGradRecord(dst, w, slot), then
	// UseSlot(slot) and HessVec(hdst, v), exactly as those calls would;
	// hdst is none of dst, w and v, and dst is not v.
	InnerGradRecordHessVec(dst, w backend.Vector, slot int, hdst, v backend.Vector) error
}
