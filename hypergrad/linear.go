package hypergrad

import (
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// LinearSolver is an iterative method for the adjoint system A q = ∇_wE of
// AID: FixedPoint, ConjugateGradient, HeavyBallLinear, FrozenAD, or any
// solver of package krylov through Krylov.
type LinearSolver interface {
	// String names the solver: "fp", "cg" or "hb".
	String() string
	// spec resolves zero parameters from the constants.
	spec(c func() (bilevel.Constants, error)) (linearSpec, error)
}

// FixedPoint is the Richardson iteration q_{i+1} = q_i − α(A q_i − ∇_wE),
// the fixed-point iteration of AID-FP (Grazzi et al. 2020, Algorithm 2 with
// v = q/α). From q_0 = 0 its k-th iterate is the k-term Neumann sum
// q_k = α Σ_{i<k} (I − αA)^i ∇_wE. Step 0 means α = 2/(L+μ), the step of the
// gradient-descent inner solver, which contracts the error by
// q = (κ−1)/(κ+1) per iteration.
type FixedPoint struct {
	Step float64 // α > 0, or 0 for 2/(L+μ)
}

func (FixedPoint) String() string { return "fp" }

func (s FixedPoint) spec(c func() (bilevel.Constants, error)) (linearSpec, error) {
	is, err := GradientDescent(s).spec(c)
	return linearSpec{kind: linFP, alpha: is.alpha}, err
}

// ConjugateGradient is the conjugate-gradient method of Hestenes and Stiefel
// for A q = ∇_wE, A symmetric positive definite (AID-CG). Its error satisfies
// ‖q_k − q*‖_A ≤ 2((√κ−1)/(√κ+1))^k ‖q_0 − q*‖_A (Nocedal & Wright eq. 5.36).
// A direction with pᵀAp ≤ 0 stops it with ErrNotPositiveDefinite.
//
// With Jacobi it is preconditioned conjugate gradients (Nocedal & Wright,
// Algorithm 5.3) with M = diag(A) at the linearization point, computed in
// one pass over the data by the problem's bilevel.HessDiager (counted in
// Counts.HessDiags): the same bound then holds with κ the condition number of
// M^{-1/2} A M^{-1/2}, which is small when A's ill-conditioning comes from
// the scales of the features. The residual ‖A q − ∇_wE‖ is still the one
// reported, tested against tolerances and used by the error bounds. The
// preconditioned κ is not known in advance, so there is no a priori bound.
type ConjugateGradient struct {
	Jacobi bool // precondition with diag(A)
}

// String returns "cg", or "pcg" with Jacobi.
func (c ConjugateGradient) String() string {
	if c.Jacobi {
		return "pcg"
	}
	return "cg"
}

func (c ConjugateGradient) spec(func() (bilevel.Constants, error)) (linearSpec, error) {
	return linearSpec{kind: linCG, jacobi: c.Jacobi}, nil
}

// HeavyBallLinear is the heavy-ball method on A q = ∇_wE (AID-HB),
//
//	q_{i+1} = q_i − α(A q_i − ∇_wE) + β(q_i − q_{i−1}),   q_{−1} = q_0,
//
// which equals reverse-mode differentiation through heavy-ball steps frozen
// at w_t (Ehrhardt & Roberts 2024, §3.2). Zero fields take the heavy-ball
// values α = 4/(√L+√μ)², β = ((√L−√μ)/(√L+√μ))².
type HeavyBallLinear struct {
	Step     float64
	Momentum float64
}

func (HeavyBallLinear) String() string { return "hb" }

func (s HeavyBallLinear) spec(c func() (bilevel.Constants, error)) (linearSpec, error) {
	alpha, beta, err := heavyBallSteps(s.Step, s.Momentum, c)
	return linearSpec{kind: linHB, alpha: alpha, beta: beta}, err
}

// FrozenAD is reverse-mode differentiation through K further steps of an
// inner solver (GradientDescent or HeavyBall) frozen at ŵ, the "AD" of
// Ehrhardt & Roberts (2024) §3.2: the adjoint recursion
//
//	z_{j+1} = ((1+β)I − αA) z_j − β z_{j−1},   z_0 = ∇_wE − A q_0,  z_{−1} = 0,
//	q_{j+1} = q_j + α z_j,
//
// run literally (one Hessian-vector product per step, the residual updated
// as r_{j+1} = r_j + αA z_j). In exact arithmetic it equals FixedPoint
// (gradient descent) or HeavyBallLinear (heavy ball) with the same α, β —
// that equivalence is what lets AD be analysed as a linear solver.
type FrozenAD struct {
	Inner InnerSolver // GradientDescent or HeavyBall; nil means GradientDescent{}
}

func (f FrozenAD) inner() InnerSolver {
	if f.Inner == nil {
		return GradientDescent{}
	}
	return f.Inner
}

func (f FrozenAD) String() string { return "ad-" + f.inner().String() }

func (f FrozenAD) spec(c func() (bilevel.Constants, error)) (linearSpec, error) {
	is, err := f.inner().spec(c)
	if err != nil {
		return linearSpec{}, err
	}
	if is.kind == innerFISTA || is.kind == innerNewton {
		return linearSpec{}, fmt.Errorf("%w: FrozenAD differentiates through gradient descent or heavy ball", ErrInvalidSettings)
	}
	return linearSpec{kind: linAD, alpha: is.alpha, beta: is.beta}, nil
}

// Krylov runs a solver of package krylov (MINRES, GMRES, BiCGStab, CGNE,
// CG, Richardson, HeavyBall, or one of the user's own) on the adjoint
// system A q = ∇_wE of AID, with A = ∇²_ww g at w_t as a krylov.Operator
// tagged symmetric positive definite (its ApplyTrans is A again; a
// krylov.Pairer). The solver's tracked residual ‖∇_wE − A q‖ is the one
// tested against TolLinear; the a posteriori bound takes the true one from
// krylov.Settings.Residual where the solver leaves it, else from one more
// product. There is no a priori bound for it. The package's own solvers are
// these same krylov solvers (FixedPoint is Richardson, ConjugateGradient is
// CG with, in addition, AID's fused first product).
type Krylov struct {
	Solver krylov.Solver
}

// String returns the solver's name without parentheses, such as "minres"
// or "gmres30".
func (k Krylov) String() string {
	if k.Solver == nil {
		return "krylov(nil)"
	}
	return fpName(k.Solver)
}

func (k Krylov) spec(func() (bilevel.Constants, error)) (linearSpec, error) {
	if k.Solver == nil {
		return linearSpec{}, fmt.Errorf("%w: Krylov with a nil Solver", ErrInvalidSettings)
	}
	return linearSpec{kind: linKrylov, solver: k.Solver}, nil
}

type linearKind int

const (
	linFP linearKind = iota
	linCG
	linHB
	linAD
	linKrylov
)

type linearSpec struct {
	kind        linearKind
	alpha, beta float64
	jacobi      bool          // CG: precondition with diag(A)
	solver      krylov.Solver // Krylov
}

// solveLinear runs up to k iterations of the linear solver on A q = rhs from
// q (zero when q0zero) at the current linearization point, and returns the
// vector holding q_k. With tol > 0 it stops at the first residual
// ‖A q_i − rhs‖ ≤ tol. Every solver is a krylov.Solver on the Hessian
// operator (hessOperator): FixedPoint is krylov.Richardson, HeavyBallLinear
// krylov.HeavyBall, ConjugateGradient krylov.CG or, with Jacobi, krylov.PCG
// with M⁻¹ = 1/diag(A), FrozenAD the solver of frozenad.go, Krylov the
// user's; krylov.CG runs queued on a backend.CGStepper.
//
// It also reports whether it left in resid the residual of the returned
// q_k computed from Hessian-vector products of q (not the recursively
// updated residual), which the a posteriori bound needs (its sign is
// immaterial: the bound takes its norm): the fixed-point and heavy-ball
// iterations compute it anyway, and conjugate gradients with a fixed k
// compute A q_{k−1} together with the last A p (krylov.Pairer) and update
// it to A q_k = A q_{k−1} + α A p_{k−1} (krylov.Settings.Residual).
// Otherwise the caller computes it. With k = 0 it is the residual of q_0,
// −rhs without a product from zero.
//
// ap0, if not nil, is A·rhs, already computed: the first product of
// conjugate gradients from q = 0 without preconditioning (p_0 = rhs).
func (r *run) solveLinear(s linearSpec, q, rhs backend.Vector, q0zero bool, k int, tol float64, resid, ap0 backend.Vector) (backend.Vector, bool, error) {
	r.res.LinearStep, r.res.LinearMomentum = s.alpha, s.beta
	if k == 0 {
		if q0zero {
			r.b.Axpby(-1, rhs, 0, resid)
		} else {
			if err := r.hessVec(resid, q); err != nil {
				return nil, false, r.fail("linear", 0, err)
			}
			r.b.Axpy(-1, rhs, resid)
		}
		nrm := r.b.Nrm2(resid)
		if err := r.check("linear", 0); err != nil {
			return nil, false, err
		}
		if !finite(nrm) {
			return nil, false, r.fail("linear", 0, fmt.Errorf("%w: residual norm %v", ErrNonFinite, nrm))
		}
		if err := r.report(PhaseLinear, 0, q, nrm); err != nil {
			return nil, false, err
		}
		r.setLinear(0, nrm, tol > 0 && nrm <= tol, tol)
		return q, true, nil
	}
	op := r.hessOp(q.Len())
	var solver krylov.Solver
	switch s.kind {
	case linFP:
		solver = krylov.Richardson{Step: s.alpha}
	case linHB:
		solver = krylov.HeavyBall{Step: s.alpha, Momentum: s.beta}
	case linAD:
		solver = frozenAD{alpha: s.alpha, beta: s.beta}
	case linKrylov:
		solver = s.solver
	case linCG:
		if s.jacobi {
			pcg, err := r.jacobiPCG("linear")
			if err != nil {
				return nil, false, err
			}
			solver = pcg
		} else {
			solver = krylov.CG{}
			if q0zero {
				op.first = ap0
			}
		}
	}
	sol, err := r.krylovSolve(solver, op, q, rhs, k, tol, resid, "linear", true)
	if err != nil {
		return nil, false, err
	}
	r.setLinear(sol.Iterations, sol.Residual, sol.Status == krylov.Converged, tol)
	return q, sol.ResidualSet, nil
}

// setLinear records the linear phase's iterations, residual and status.
func (r *run) setLinear(iters int, res float64, converged bool, tol float64) {
	r.res.LinearIters, r.res.LinearResidual = iters, res
	switch {
	case converged:
		r.res.LinearStatus = Converged
	case tol <= 0:
		r.res.LinearStatus = Completed
	default:
		r.res.LinearStatus = IterationLimit
	}
}

// krylovSolve runs solver on op·q = rhs from q for at most k ≥ 1
// iterations, stopping at ‖rhs − A q‖ ≤ tol when tol > 0, with resid (if
// not nil) as krylov.Settings.Residual and, when report is set, the
// monitor on every iteration. A failure of the solve is an *Error of the
// phase.
func (r *run) krylovSolve(solver krylov.Solver, op krylov.Operator, q, rhs backend.Vector, k int, tol float64, resid backend.Vector, phase string, report bool) (krylov.Solution, error) {
	set := krylov.Settings{MaxIter: k, AbsTol: tol, Residual: resid, Workspace: r.workspace()}
	if report && r.monitor != nil {
		set.Monitor = func(i int, x backend.Vector, nrm float64) error {
			if err := r.monitor(Progress{Phase: PhaseLinear, Iter: i, X: x, Residual: nrm}); err != nil {
				return fmt.Errorf("monitor: %w", err)
			}
			return nil
		}
	}
	sol, err := solver.Solve(r.ctx, r.b, op, rhs, q, set)
	if err != nil {
		return sol, r.fail(phase, -1, err)
	}
	switch sol.Status {
	case krylov.Converged, krylov.IterationLimit:
		return sol, nil
	case krylov.Canceled:
		return sol, r.fail(phase, sol.Iterations, sol.Err)
	}
	return sol, r.fail(phase, sol.Iterations, linearError(sol.Err))
}

// jacobi sets r.minv ← 1/diag(A) at the linearization point and returns
// it. The diagonal of a positive definite A is positive; an entry that is
// not (or is not finite) is reported as ErrNotPositiveDefinite
// (ErrNonFinite).
func (r *run) jacobi(phase string) (backend.Vector, error) {
	hd, ok := r.p.(bilevel.HessDiager)
	if !ok {
		return nil, r.fail(phase, -1, fmt.Errorf("%w: Jacobi preconditioning needs a problem that implements bilevel.HessDiager", ErrInvalidSettings))
	}
	d := r.p.InnerDim()
	if r.minv == nil {
		v, err := r.vec(d)
		if err != nil {
			return nil, r.fail(phase, -1, err)
		}
		r.minv = v
	}
	minv := r.minv
	r.res.Counts.HessDiags++
	if err := hd.HessDiag(minv); err != nil {
		return nil, r.fail(phase, -1, fmt.Errorf("HessDiag: %w", err))
	}
	if len(r.diag) != d {
		r.diag = make([]float64, d)
	}
	r.b.Download(r.diag, minv)
	if err := r.b.Err(); err != nil {
		return nil, r.fail(phase, -1, err)
	}
	for j, a := range r.diag {
		switch {
		case math.IsNaN(a) || math.IsInf(a, 0):
			return nil, r.fail(phase, -1, fmt.Errorf("%w: diag(A)[%d] = %v", ErrNonFinite, j, a))
		case !(a > 0):
			return nil, r.fail(phase, -1, fmt.Errorf("%w: diag(A)[%d] = %v", ErrNotPositiveDefinite, j, a))
		}
		r.diag[j] = 1 / a
	}
	r.b.Upload(minv, r.diag)
	return minv, nil
}

// hessOp returns the run's Hessian operator (one per run: repeated solves
// allocate nothing), with no primed first product.
func (r *run) hessOp(n int) *hessOperator {
	if r.hop == nil {
		r.hop = &hessOperator{r: r, n: n}
	}
	r.hop.first = nil
	return r.hop
}

// jacobiPCG computes the Jacobi preconditioner at the linearization point
// (jacobi) and returns PCG with it, built once per run.
func (r *run) jacobiPCG(phase string) (krylov.Solver, error) {
	minv, err := r.jacobi(phase)
	if err != nil {
		return nil, err
	}
	if r.pcg == nil {
		r.pcg = krylov.PCG{M: invDiag{b: r.b, minv: minv}}
	}
	return r.pcg, nil
}

// hessOperator is A = ∇²_ww g at the linearization point as a
// krylov.Operator: symmetric positive definite, its own transpose, and a
// krylov.Pairer through the problem's bilevel.HessVecPairer. Every product
// is counted in Counts.HessVecs. If first is not nil, the first Apply
// copies it instead of a product: AID's A·∇_wE computed together with the
// last inner gradient, which is CG's first product from zero.
type hessOperator struct {
	r     *run
	n     int
	first backend.Vector
}

var (
	_ krylov.Transposer = (*hessOperator)(nil)
	_ krylov.Pairer     = (*hessOperator)(nil)
)

func (o *hessOperator) Dims() (rows, cols int) { return o.n, o.n }
func (o *hessOperator) Tags() krylov.Tags      { return krylov.Symmetric | krylov.PositiveDefinite }

func (o *hessOperator) Apply(dst, x backend.Vector) error {
	if o.first != nil {
		o.r.b.Copy(dst, o.first)
		o.first = nil
		return o.r.b.Err()
	}
	return o.r.hessVec(dst, x)
}

func (o *hessOperator) ApplyTrans(dst, x backend.Vector) error { return o.Apply(dst, x) }

func (o *hessOperator) ApplyPair(dst1, x1, dst2, x2 backend.Vector) error {
	if o.first != nil { // not the first product of a solve from zero
		return fmt.Errorf("hypergrad: internal error: pair before the primed first product")
	}
	return o.r.hessVecPair(dst1, x1, dst2, x2)
}

// invDiag is the Jacobi preconditioner M⁻¹x = minv ⊙ x.
type invDiag struct {
	b    backend.Backend
	minv backend.Vector
}

func (m invDiag) Dims() (rows, cols int) { return m.minv.Len(), m.minv.Len() }
func (m invDiag) Tags() krylov.Tags      { return krylov.Symmetric | krylov.PositiveDefinite }
func (m invDiag) Apply(dst, x backend.Vector) error {
	m.b.MulElem(dst, 1, m.minv, x, 0)
	return m.b.Err()
}
