package bench

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// The estimator factory: one place that turns a method name into an
// estimator, for the suite and for the command line.
//
// Optimisation problems (bilevel.Problem), with the inner solver Inner:
//
//	itd           hypergrad.ITD, reverse mode through t inner steps (gd, hb or fista)
//	itd-fwd       hypergrad.ITD{Forward: true}, forward mode (Z ← Z − α(A Z + B), per inner solver)
//	aid-fp        AID, Richardson q ← q − α(A q − ∇_wE), α = 2/(L+μ)  (hypergrad.FixedPoint)
//	aid-cg        AID, conjugate gradients                            (hypergrad.ConjugateGradient)
//	aid-pcg       AID, CG preconditioned by diag(A)                   (ConjugateGradient{Jacobi: true})
//	aid-hb        AID, heavy ball on A q = ∇_wE                       (hypergrad.HeavyBallLinear)
//	aid-minres, aid-gmres, aid-bicgstab, aid-cgne
//	              AID with that solver of package krylov on A         (hypergrad.Krylov)
//
// Fixed-point problems (bilevel.FixedPoint), which iterate w ← Φ(w, λ) and
// take no inner solver:
//
//	itd           hypergrad.FixedPointITD, reverse mode
//	itd-fwd       hypergrad.FixedPointITD, forward mode (Z ← ∂_wΦ Z + ∂_λΦ)
//	aid-fp        FixedPointAID with krylov.Richardson{Step: 1}: v ← ∂_wΦᵀv + ∇_wE, the Neumann sum
//	aid-gmres, aid-bicgstab, aid-cgne
//	              FixedPointAID with that solver on (I − ∂_wΦᵀ) v = ∇_wE
//	aid-cg, aid-minres
//	              the same, only where ∂_wΦ is symmetric (bilevel.SymmetricJacobian):
//	              I − ∂_wΦ is then symmetric positive definite for a contraction
//
// Everything else is an error: an unknown name, a name that does not apply to
// the kind of problem, or an option the method does not take.

// OptimisationMethods are the method names Estimator accepts.
var OptimisationMethods = []string{"itd", "itd-fwd", "aid-fp", "aid-cg", "aid-pcg", "aid-hb", "aid-minres", "aid-gmres", "aid-bicgstab", "aid-cgne"}

// FixedPointMethods are the method names FixedPointEstimator accepts (aid-cg
// and aid-minres only for a problem with a symmetric Jacobian).
var FixedPointMethods = []string{"itd", "itd-fwd", "aid-fp", "aid-gmres", "aid-bicgstab", "aid-cgne", "aid-cg", "aid-minres"}

// ErrMethod reports a method name, or an option, that the factory cannot
// turn into an estimator for the problem at hand (test with errors.Is).
var ErrMethod = errors.New("method does not apply")

// methodError is an ErrMethod with its own message (no prefix, so that a
// command line can print it as it is).
type methodError struct{ msg string }

func (e *methodError) Error() string        { return e.msg }
func (e *methodError) Is(target error) bool { return target == ErrMethod }

func methodErr(format string, a ...any) error {
	return &methodError{msg: fmt.Sprintf(format, a...)}
}

// isITD says whether the method differentiates through the iteration.
func (m MethodSpec) isITD() bool { return m.Name == "itd" || m.Name == "itd-fwd" }

// linear is the linear solver's part of an AID name ("cg" for "aid-cg"), or
// "" for ITD.
func (m MethodSpec) linear() string {
	if s, ok := strings.CutPrefix(m.Name, "aid-"); ok {
		return s
	}
	return ""
}

// checkOptions rejects negative counts and tolerances that are negative or
// not finite, and the options ITD does not take.
func (m MethodSpec) checkOptions(t, k int) error {
	if t < 0 || k < 0 || m.Truncate < 0 {
		return methodErr("%s: negative iteration count (t = %d, k = %d, truncate = %d)", m.Name, t, k, m.Truncate)
	}
	for _, v := range []float64{m.TolInner, m.TolLinear} {
		if !(v >= 0) || math.IsInf(v, 0) {
			return methodErr("%s: tolerance %v: want a finite value ≥ 0", m.Name, v)
		}
	}
	if m.isITD() {
		if m.TolLinear != 0 {
			return methodErr("%s has no linear solve: a linear tolerance does not apply", m.Name)
		}
		if m.Target != nil {
			return methodErr("%s has no error bound in general: an accuracy target needs AID", m.Name)
		}
	} else if m.Truncate != 0 {
		return methodErr("%s: truncation applies to ITD only", m.Name)
	}
	return nil
}

// Estimator builds the estimator of the method for an optimisation problem,
// with t inner iterations and k linear iterations (AID; ITD back-propagates
// through the last Truncate of its t steps, all when 0, and ignores k), and
// the tolerances and target of m (itd-fwd: forward-mode ITD, no
// truncation). It returns an error wrapping ErrMethod for an unknown name,
// ITD through Newton, and options the method does not take.
func (m MethodSpec) Estimator(t, k int) (hypergrad.Estimator, error) {
	if err := m.checkOptions(t, k); err != nil {
		return nil, err
	}
	var inner hypergrad.InnerSolver
	switch m.Inner {
	case "", "gd":
		inner = hypergrad.GradientDescent{}
	case "hb":
		inner = hypergrad.HeavyBall{}
	case "fista":
		inner = hypergrad.FISTA{}
	case "newton":
		inner = hypergrad.Newton{}
	default:
		return nil, methodErr("unknown inner solver %q (want gd, hb, fista or newton)", m.Inner)
	}
	switch m.Name {
	case "itd", "itd-fwd":
		if m.Inner == "newton" {
			return nil, methodErr("%s differentiates through gd, hb or fista, not newton", m.Name)
		}
		if m.Name == "itd-fwd" {
			if m.Truncate != 0 {
				return nil, methodErr("itd-fwd (forward mode) takes no truncation")
			}
			return &hypergrad.ITD{Inner: inner, T: t, Forward: true, TolInner: m.TolInner}, nil
		}
		return &hypergrad.ITD{Inner: inner, T: t, Truncate: m.Truncate, TolInner: m.TolInner}, nil
	}
	var lin hypergrad.LinearSolver
	switch m.linear() {
	case "fp":
		lin = hypergrad.FixedPoint{}
	case "cg":
		lin = hypergrad.ConjugateGradient{}
	case "pcg":
		lin = hypergrad.ConjugateGradient{Jacobi: true}
	case "hb":
		lin = hypergrad.HeavyBallLinear{}
	case "minres":
		lin = hypergrad.Krylov{Solver: krylov.MINRES{}}
	case "gmres":
		lin = hypergrad.Krylov{Solver: krylov.GMRES{}}
	case "bicgstab":
		lin = hypergrad.Krylov{Solver: krylov.BiCGStab{}}
	case "cgne":
		lin = hypergrad.Krylov{Solver: krylov.CGNE{}}
	default:
		return nil, methodErr("unknown method %q (want %s)", m.Name, strings.Join(OptimisationMethods, ", "))
	}
	aid := &hypergrad.AID{Inner: inner, Linear: lin, T: t, K: k, TolInner: m.TolInner, TolLinear: m.TolLinear}
	if m.Target != nil {
		tg := *m.Target
		aid.Target = &tg
	}
	return aid, nil
}

// FixedPointEstimator builds the estimator of the method for the
// fixed-point problem p, with t fixed-point iterations and k linear-solver
// iterations (AID; ITD back-propagates through the last Truncate of its t
// steps, all when 0, and ignores k), and the tolerances of m. It returns an
// error wrapping ErrMethod for an unknown name, an inner solver (the
// iteration is Φ's own), aid-pcg and aid-hb (they need the Hessian of an
// optimisation problem), aid-cg and aid-minres unless p is a
// bilevel.SymmetricJacobian that reports true (a nil p is not), a target
// (fixed-point estimators take none), and options the method does not take
// (truncation in forward mode).
func (m MethodSpec) FixedPointEstimator(t, k int, p bilevel.FixedPoint) (hypergrad.FixedPointEstimator, error) {
	if err := m.checkOptions(t, k); err != nil {
		return nil, err
	}
	if m.Inner != "" {
		return nil, methodErr("a fixed-point problem iterates w ← Φ(w, λ): inner solver %q does not apply", m.Inner)
	}
	if m.Target != nil {
		return nil, methodErr("fixed-point estimators take no accuracy target (it is for AID on optimisation problems)")
	}
	switch m.Name {
	case "itd":
		return &hypergrad.FixedPointITD{T: t, Truncate: m.Truncate, TolInner: m.TolInner}, nil
	case "itd-fwd":
		if m.Truncate != 0 {
			return nil, methodErr("itd-fwd (forward mode) takes no truncation")
		}
		return &hypergrad.FixedPointITD{T: t, Forward: true, TolInner: m.TolInner}, nil
	}
	var solver krylov.Solver
	switch lin := m.linear(); lin {
	case "fp":
		solver = krylov.Richardson{Step: 1}
	case "gmres":
		solver = krylov.GMRES{}
	case "bicgstab":
		solver = krylov.BiCGStab{}
	case "cgne":
		solver = krylov.CGNE{}
	case "cg", "minres":
		if sym, ok := p.(bilevel.SymmetricJacobian); !ok || !sym.JacobianSymmetric() {
			return nil, methodErr("%s needs a symmetric Jacobian ∂_wΦ (bilevel.SymmetricJacobian), which this problem does not have: use aid-gmres, aid-bicgstab or aid-cgne", m.Name)
		}
		solver = krylov.CG{}
		if lin == "minres" {
			solver = krylov.MINRES{}
		}
	case "pcg", "hb":
		return nil, methodErr("%s needs the Hessian of an optimisation problem; for a fixed-point problem use one of %s", m.Name, strings.Join(FixedPointMethods, ", "))
	default:
		return nil, methodErr("unknown method %q for a fixed-point problem (want %s)", m.Name, strings.Join(FixedPointMethods, ", "))
	}
	return &hypergrad.FixedPointAID{Solver: solver, T: t, K: k, TolInner: m.TolInner, TolLinear: m.TolLinear}, nil
}
