package hypergrad

import (
	"errors"
	"fmt"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Status describes how a phase, or a whole estimate, ended.
type Status int

const (
	// Completed means every requested iteration ran and no tolerance was
	// requested.
	Completed Status = iota
	// Converged means the requested tolerance was met (possibly before the
	// iteration budget was spent).
	Converged
	// IterationLimit means a tolerance was requested and not met within the
	// iteration budget.
	IterationLimit
	// Failed means the phase stopped on an error, which the estimator returns.
	Failed
)

func (s Status) String() string {
	switch s {
	case Completed:
		return "completed"
	case Converged:
		return "converged"
	case IterationLimit:
		return "iteration-limit"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalText writes the status as its String.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// worse returns the status that should summarise two phases.
func worse(a, b Status) Status {
	rank := func(s Status) int {
		switch s {
		case Converged:
			return 0
		case Completed:
			return 1
		case IterationLimit:
			return 2
		}
		return 3
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Counts are the oracle calls an estimate made.
type Counts struct {
	InnerGrads      int `json:"inner_grads"`       // ∇_w g
	HessVecs        int `json:"hess_vecs"`         // A v
	CrossVecs       int `json:"cross_vecs"`        // Bᵀ v
	OuterGrads      int `json:"outer_grads"`       // ∇_w E
	OuterHyperGrads int `json:"outer_hyper_grads"` // ∇_λ E
	Linearizations  int `json:"linearizations"`    // Linearize(w)
	HessDiags       int `json:"hess_diags"`        // diag(A), the Jacobi preconditioner

	// The oracles of a fixed-point problem (bilevel.FixedPoint).
	Maps              int `json:"maps,omitempty"`                 // Φ(w, λ)
	JacVecs           int `json:"jac_vecs,omitempty"`             // ∂_wΦ·u
	JacTransVecs      int `json:"jac_trans_vecs,omitempty"`       // ∂_wΦᵀ·u
	HyperJacVecs      int `json:"hyper_jac_vecs,omitempty"`       // ∂_λΦ·u
	HyperJacTransVecs int `json:"hyper_jac_trans_vecs,omitempty"` // ∂_λΦᵀ·u
}

// Oracles returns the number of derivative oracle calls: inner gradients,
// Hessian-vector products, cross products and Hessian diagonals, and for a
// fixed-point problem maps and Jacobian products, each counted once.
func (c Counts) Oracles() int {
	return c.InnerGrads + c.HessVecs + c.CrossVecs + c.HessDiags +
		c.Maps + c.JacVecs + c.JacTransVecs + c.HyperJacVecs + c.HyperJacTransVecs
}

// Timing is the wall time of an estimate by phase. Inner is the inner solve;
// Linear is the linear solve (AID) or the reverse pass (ITD, without its cross
// products); Cross is the cross products and the assembly of the
// hypergradient. Total includes set-up, transfers and the phases. Where AID
// computes the last inner gradient together with the first product of its
// linear solve (AID.once: a fixed T, plain CG, a bilevel.GradHessVecer),
// that pass and ∇_wE count in Inner.
type Timing struct {
	Total, Inner, Linear, Cross time.Duration
}

// Result is a hypergradient estimate with what it cost and how it ended.
type Result struct {
	// Method names the estimator and its solvers, such as "aid-cg(gd)".
	Method string
	// Hypergradient is the estimate of ∇f(λ) (len h).
	Hypergradient []float64
	// W is the final inner iterate w_t (len d): pass it as Start.W0 to warm
	// start the next estimate.
	W []float64
	// V is the final adjoint q_k ≈ A(w_t)⁻¹∇_wE(w_t) (len d; AID only): pass
	// it as Start.V0 to warm start the next linear solve.
	V []float64

	// InnerIters is the number of inner steps taken (t).
	InnerIters int
	// LinearIters is the number of linear-solver iterations (AID, k) or of
	// reverse steps (ITD).
	LinearIters int
	// InnerResidual is ‖∇_w g(w_t, λ)‖.
	InnerResidual float64
	// LinearResidual is ‖A(w_t)q_k − ∇_wE(w_t)‖ as the linear solver tracked
	// it (AID only; for conjugate gradients the recursively updated residual).
	LinearResidual float64

	InnerStatus  Status
	LinearStatus Status
	// Status summarises the phases: Converged only if every phase converged.
	Status Status

	Counts Counts
	Time   Timing

	// Steps are the step sizes used: α and β of the inner solver, and of
	// the linear solver where it has them.
	InnerStep, InnerMomentum   float64
	LinearStep, LinearMomentum float64

	// Bound is the a posteriori bound on ‖Hypergradient − ∇f(λ)‖ (Ehrhardt &
	// Roberts 2024); APriori the a priori one where the iteration counts
	// determine one. See Bound for the formulas and kinds. With
	// AID.ErrorEstimate, Bound is the smaller of the a posteriori bound and
	// the refined one (RefinedBound).
	Bound, APriori Bound
	// Estimate is the uncertified error estimate of EstimateError, with
	// AID.ErrorEstimate set (the zero value otherwise).
	Estimate ErrorEstimate

	// Target is the accuracy asked for (AID with a Target), TargetMet
	// whether the bound met it, and Rounds the number of solve rounds.
	Target    *Target
	TargetMet bool
	Rounds    int
	// TargetStop says why the rounds of a Target ended (TargetNone without
	// a Target or when the estimate failed).
	TargetStop TargetStop
}

// TargetStop is why AID's rounds towards a Target ended.
type TargetStop int

const (
	// TargetNone: no Target was asked, or the estimate failed.
	TargetNone TargetStop = iota
	// TargetReached: the certified bound met the target.
	TargetReached
	// TargetBudget: the iteration budgets T and K were spent first.
	TargetBudget
	// TargetFloor: from the third round on, a round shrank the bound by
	// less than 10 % while the budgets were not spent: the inner and linear
	// solves are at their rounding floors, and the target is below what
	// float64 allows for this problem (Result.Bound holds the floor).
	TargetFloor
	// TargetRounds: the cap of 40 rounds was reached.
	TargetRounds
)

func (s TargetStop) String() string {
	switch s {
	case TargetNone:
		return "none"
	case TargetReached:
		return "reached"
	case TargetBudget:
		return "budget"
	case TargetFloor:
		return "rounding-floor"
	case TargetRounds:
		return "round-limit"
	}
	return fmt.Sprintf("TargetStop(%d)", int(s))
}

// MarshalText writes the stop reason as its String.
func (s TargetStop) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Errors returned by estimators, wrapped in *Error; test with errors.Is.
var (
	// ErrNonFinite reports a NaN or infinite value: the iteration diverged
	// or the problem produced a non-finite oracle value.
	ErrNonFinite = errors.New("non-finite value (divergence?)")
	// ErrDiverged reports an iteration whose residual grew beyond
	// DivergenceFactor times its initial value while staying finite: the
	// step sizes are too long for the problem (or the operator is not what
	// the solver assumes). A linear solve's krylov.ErrDiverged is reported
	// as this error too, with the krylov error still in the chain.
	ErrDiverged = errors.New("diverged")
	// ErrNotPositiveDefinite reports a conjugate-gradient breakdown: pᵀAp ≤ 0
	// for a search direction p, so A is not positive definite.
	ErrNotPositiveDefinite = errors.New("operator is not positive definite")
	// ErrInvalidSettings reports settings that cannot be used.
	ErrInvalidSettings = errors.New("invalid settings")
	// ErrShape reports a warm start or problem whose dimensions do not match.
	ErrShape = errors.New("dimension mismatch")
	// ErrNoBound reports an accuracy target for a problem or method without
	// an error bound.
	ErrNoBound = errors.New("no error bound")
	// ErrTooLarge reports an estimate whose memory, estimated before
	// anything is allocated, exceeds its budget (ITD.MaxBytes,
	// FixedPointITD.MaxBytes): the message states the bytes needed, the
	// budget, and what needs less (Checkpoint, Truncate). Such an error
	// also matches ErrInvalidSettings: the settings ask for more memory than
	// allowed.
	ErrTooLarge = errors.New("beyond the memory budget")

	errCheckpoint = errors.New("internal error: checkpoint missing")
)

// Error reports where an estimate failed.
type Error struct {
	Method string // estimator, such as "aid-cg(gd)"
	Phase  string // "setup", "inner", "linear", "reverse", "cross"
	Iter   int    // iteration of the phase, or -1
	Err    error
}

func (e *Error) Error() string {
	s := "hypergrad: " + e.Method + ": " + e.Phase
	if e.Iter >= 0 {
		s += fmt.Sprintf(" iteration %d", e.Iter)
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Phase identifies a phase in a Progress report.
type Phase int

const (
	// PhaseInner is the inner solve.
	PhaseInner Phase = iota
	// PhaseLinear is the linear solve of AID.
	PhaseLinear
	// PhaseReverse is the reverse pass of ITD.
	PhaseReverse
)

func (p Phase) String() string {
	switch p {
	case PhaseInner:
		return "inner"
	case PhaseLinear:
		return "linear"
	case PhaseReverse:
		return "reverse"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Progress is reported to a Monitor after every iteration.
type Progress struct {
	Phase Phase
	// Iter is the number of iterations done in the phase.
	Iter int
	// X is the current iterate: w_k (inner), q_k (linear) or the adjoint
	// p_s of the reverse pass. It is valid only during the call; copy it
	// (Backend().Download) to keep it.
	X backend.Vector
	// Residual is ‖∇_w g(w_k)‖ (inner) or ‖A q_k − ∇_wE‖ (linear) where the
	// solver computed it, and NaN otherwise.
	Residual float64
}

// Monitor is called with the progress of an estimate; a non-nil error stops
// the estimate and is returned (wrapped).
type Monitor func(Progress) error

// Start holds optional warm starts; nil fields mean zero vectors.
type Start struct {
	W0 []float64 // initial inner iterate w_0 (len d)
	V0 []float64 // initial adjoint q_0 (len d; AID only)
}
