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
// tagged symmetric positive definite (its ApplyTrans is A again). The
// solver's tracked residual ‖∇_wE − A q‖ is the one tested against
// TolLinear; the a posteriori bound recomputes the true one with one more
// product. There is no a priori bound for it. ConjugateGradient remains the
// fast path for CG (fused first product, device-resident iterations).
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
// q (which it overwrites; zero when q0zero) at the current linearization
// point, and returns the vector holding q_k. With tol > 0 it stops at the
// first residual ‖A q_i − rhs‖ ≤ tol.
//
// It also reports whether it left in resid the residual A q_k − rhs of the
// returned q_k computed from Hessian-vector products of q (not the
// recursively updated residual), which the a posteriori bound needs: the
// fixed-point and heavy-ball iterations compute it anyway, and conjugate
// gradients with a fixed k compute A q_{k−1} together with the last A p
// (hessVecPair) and update it to A q_k = A q_{k−1} + α A p_{k−1}. Otherwise
// (a tolerance, an early stop, FrozenAD, a CGStepper backend) the caller
// computes it.
//
// ap0, if not nil, is A·rhs, already computed: the first product of
// conjugate gradients from q = 0 without preconditioning (p_0 = rhs).
func (r *run) solveLinear(s linearSpec, q, rhs backend.Vector, q0zero bool, k int, tol float64, resid, ap0 backend.Vector) (backend.Vector, bool, error) {
	r.res.LinearStep, r.res.LinearMomentum = s.alpha, s.beta
	var (
		iters   int
		res     float64
		exact   bool
		residOK bool
		err     error
	)
	switch s.kind {
	case linCG:
		if !q0zero || s.jacobi {
			ap0 = nil
		}
		iters, res, exact, residOK, err = r.conjugateGradient(q, rhs, q0zero, k, tol, s.jacobi, "linear", true, resid, ap0)
	case linAD:
		iters, res, err = r.frozenAD(s, q, rhs, q0zero, k, tol)
	case linKrylov:
		iters, res, exact, err = r.krylovSolve(s.solver, q, rhs, k, tol)
	default:
		q, iters, res, residOK, err = r.richardson(s, q, rhs, q0zero, k, tol, resid)
	}
	if err != nil {
		return nil, false, err
	}
	r.res.LinearIters, r.res.LinearResidual = iters, res
	switch {
	case exact || tol > 0 && res <= tol:
		r.res.LinearStatus = Converged
	case tol <= 0:
		r.res.LinearStatus = Completed
	default:
		r.res.LinearStatus = IterationLimit
	}
	return q, residOK, nil
}

// richardson runs the fixed-point (β = 0) or heavy-ball iteration. Each
// iteration computes the residual res_i = A q_i − rhs (one Hessian-vector
// product; none for q_0 = 0, where res_0 = −rhs) and then steps
// q_{i+1} = q_i − α res_i + β(q_i − q_{i−1}). The residual of the last iterate
// is computed too, so k iterations cost k Hessian-vector products from zero;
// it is copied into resid when that is not nil (and the last return value
// is then true).
func (r *run) richardson(s linearSpec, q, rhs backend.Vector, q0zero bool, k int, tol float64, resid backend.Vector) (backend.Vector, int, float64, bool, error) {
	d := q.Len()
	var res, prev backend.Vector
	if err := r.vecsN(d, &res); err != nil {
		return nil, 0, 0, false, err
	}
	heavy := s.kind == linHB
	if heavy {
		if err := r.vecsN(d, &prev); err != nil {
			return nil, 0, 0, false, err
		}
		r.b.Copy(prev, q)
	}
	i := 0
	for ; ; i++ {
		if err := r.check("linear", i); err != nil {
			return nil, 0, 0, false, err
		}
		if q0zero && i == 0 {
			r.b.Axpby(-1, rhs, 0, res)
		} else {
			if err := r.hessVec(res, q); err != nil {
				return nil, 0, 0, false, r.fail("linear", i, err)
			}
			r.b.Axpy(-1, rhs, res)
		}
		nrm := math.NaN()
		if tol > 0 || r.monitor != nil || i == k {
			nrm = r.b.Nrm2(res)
			if !finite(nrm) {
				return nil, 0, 0, false, r.fail("linear", i, fmt.Errorf("%w: residual norm %v", ErrNonFinite, nrm))
			}
			if err := r.report(PhaseLinear, i, q, nrm); err != nil {
				return nil, 0, 0, false, err
			}
		}
		if i == k || (tol > 0 && nrm <= tol) {
			if resid != nil {
				r.b.Copy(resid, res)
			}
			return q, i, nrm, resid != nil, nil
		}
		if heavy {
			r.b.Axpby(1+s.beta, q, -s.beta, prev) // prev ← (1+β)q_i − βq_{i−1}
			r.b.Axpy(-s.alpha, res, prev)         // prev ← q_{i+1}
			q, prev = prev, q
		} else {
			r.b.Axpy(-s.alpha, res, q)
		}
	}
}

// conjugateGradient runs the Hestenes–Stiefel iteration, preconditioned
// with M = diag(A) when jacobi (Nocedal & Wright, Algorithm 5.3; M = I
// otherwise, where z_i = r_i):
//
//	α_i = r_iᵀz_i / p_iᵀAp_i,  q_{i+1} = q_i + α_i p_i,  r_{i+1} = r_i − α_i Ap_i,
//	z_{i+1} = M⁻¹r_{i+1},  β_i = r_{i+1}ᵀz_{i+1} / r_iᵀz_i,  p_{i+1} = z_{i+1} + β_i p_i,
//
// with r_0 = rhs − A q_0, z_0 = M⁻¹r_0 and p_0 = z_0. The direction update uses
// the new residual (TestConjugateGradientDirectionUpdate guards this).
//
// The recursively updated residual keeps shrinking after the true residual
// has reached its rounding floor (about ε‖A‖‖q‖), until p underflows and
// pᵀAp = 0. So CG also stops, as converged, once ‖r_i‖ ≤ 2⁻⁶²‖rhs‖ (about
// 2e-19 relative): further iterations could not change q.
//
// phase names the phase in errors ("linear", or "inner" for Newton's
// steps); the monitor sees the iterates only when report is set.
//
// With resid not nil and no tolerance, the last iteration (i = k−1)
// computes A q_i together with A p_i (hessVecPair: 1.34–1.45 passes over
// the data on the CPU instead of two; A q_0 = 0 needs none), and then
// resid ← (A q_i + α_i A p_i) − rhs = A q_k − rhs: the residual of q_k from
// products of the iterates, as the a posteriori bound wants it, without a
// further pass. The fourth result says whether resid was set.
//
// ap0, if not nil (only with q0zero and without jacobi), holds A·rhs =
// A·p_0, computed by the caller: the first iteration uses it instead of a
// product of its own.
func (r *run) conjugateGradient(q, rhs backend.Vector, q0zero bool, k int, tol float64, jacobi bool, phase string, report bool, resid, ap0 backend.Vector) (int, float64, bool, bool, error) {
	w, err := r.cgVectors(q.Len(), jacobi)
	if err != nil {
		return 0, 0, false, false, err
	}
	res, p, ap, z, minv := w.res, w.p, w.ap, w.res, w.minv // M = I: z aliases r
	if jacobi {
		z = w.z
		if err := r.jacobi(minv, phase); err != nil {
			return 0, 0, false, false, err
		}
	}
	precond := func() {
		if jacobi {
			r.b.MulElem(z, 1, minv, res, 0)
		}
	}
	r.b.Copy(res, rhs)
	if !q0zero {
		if err := r.hessVec(ap, q); err != nil {
			return 0, 0, false, false, r.fail(phase, 0, err)
		}
		r.b.Axpy(-1, ap, res)
	}
	precond()
	r.b.Copy(p, z)
	rz := r.b.Dot(res, z)
	floor := 0x1p-62 * r.b.Nrm2(rhs)
	if cs, ok := r.b.(backend.CGStepper); ok && !jacobi && (!report || r.monitor == nil) {
		return r.cgQueued(cs, q, rhs, res, p, ap, rz, k, tol, floor, phase, q0zero, resid, ap0)
	}
	residOK := false
	for i := 0; ; i++ {
		if err := r.check(phase, i); err != nil {
			return 0, 0, false, false, err
		}
		nrm := math.Sqrt(rz)
		if jacobi {
			nrm = r.b.Nrm2(res)
		}
		if !finite(nrm) {
			return 0, 0, false, false, r.fail(phase, i, fmt.Errorf("%w: residual norm %v", ErrNonFinite, nrm))
		}
		if report {
			if err := r.report(PhaseLinear, i, q, nrm); err != nil {
				return 0, 0, false, false, err
			}
		}
		if i == k || (tol > 0 && nrm <= tol) {
			return i, nrm, false, residOK, nil
		}
		if nrm <= floor || jacobi && rz == 0 {
			return i, nrm, true, false, nil
		}
		pair := resid != nil && tol <= 0 && i == k-1
		zeroQ := i == 0 && q0zero // A q_0 = 0 exactly, without a product
		err = nil
		switch {
		case i == 0 && ap0 != nil:
			r.b.Copy(ap, ap0)
		case pair && !zeroQ:
			err = r.hessVecPair(ap, p, resid, q) // resid ← A q_i for now
		default:
			err = r.hessVec(ap, p)
		}
		if pair && zeroQ {
			r.b.Fill(resid, 0)
		}
		if err != nil {
			return 0, 0, false, false, r.fail(phase, i, err)
		}
		pap := r.b.Dot(p, ap)
		if !(pap > 0) {
			if math.IsNaN(pap) {
				return 0, 0, false, false, r.fail(phase, i, fmt.Errorf("%w: pᵀAp = NaN", ErrNonFinite))
			}
			return 0, 0, false, false, r.fail(phase, i, fmt.Errorf("%w: pᵀAp = %v", ErrNotPositiveDefinite, pap))
		}
		a := rz / pap
		r.b.Axpy(a, p, q)
		r.b.Axpy(-a, ap, res)
		if pair {
			r.b.Axpy(a, ap, resid)   // A q_{i+1} = A q_i + α A p_i
			r.b.Axpy(-1, rhs, resid) // the residual of q_{i+1} = q_k
			residOK = true
		}
		precond()
		rzNew := r.b.Dot(res, z)
		r.b.Axpby(1, z, rzNew/rz, p) // p ← z_{i+1} + β p
		rz = rzNew
	}
}

// cgChunk and cgChunkTol bound how many CG iterations cgQueued queues
// between two reads of their scalars: without a tolerance the chunks grow
// 4, 8, 16, 16, …; with one they stay at 4.
const cgChunk, cgChunkTol = 16, 4

// cgQueued is conjugateGradient's loop without preconditioning on a
// backend.CGStepper: the same iterations with the same bits, queued in
// chunks whose scalars stay on the device, then read back at once. The host
// then replays the loop's tests on them: the iteration count, the residual
// norm, the stop at the floor and the errors are the host loop's. The device
// runs the same tests and leaves the vectors as they were at the stop, so
// only the Hessian-vector products queued after a stop inside a chunk are
// extra (they ran, and are counted). The chunks start at 4 iterations and
// double up to 16 (stay at 4 with a tolerance), so that a solve that stops
// early, at the floor after d steps on a small problem say, wastes little;
// on a GPU a chunk costs one synchronization where the host loop waits
// twice an iteration.
func (r *run) cgQueued(cs backend.CGStepper, q, rhs, res, p, ap backend.Vector, rz float64, k int, tol, floor float64, phase string, q0zero bool, resid, ap0 backend.Vector) (int, float64, bool, bool, error) {
	chunk := cgChunkTol
	w := r.cg
	if w.st == nil {
		v, err := r.vec(backend.CGStateLen(cgChunk))
		if err != nil {
			return 0, 0, false, false, r.fail(phase, 0, err)
		}
		w.st, w.host = v, make([]float64, v.Len())
	}
	// stop applies the host loop's tests at the top of iteration i (i < 0:
	// only those of the residual norm, which CGStep applies too): whether CG
	// ends there, the norm, and whether it ended at the floor.
	stop := func(i int, rz float64) (done bool, nrm float64, exact bool) {
		nrm = math.Sqrt(rz)
		switch {
		case !finite(nrm) || i == k || (tol > 0 && nrm <= tol):
			return true, nrm, false
		case nrm <= floor:
			return true, nrm, true
		}
		return false, nrm, false
	}
	residOK := false
	for i := 0; ; {
		if err := r.check(phase, i); err != nil {
			return 0, 0, false, false, err
		}
		if done, nrm, exact := stop(i, rz); done {
			if !finite(nrm) {
				return 0, 0, false, false, r.fail(phase, i, fmt.Errorf("%w: residual norm %v", ErrNonFinite, nrm))
			}
			return i, nrm, exact, residOK && i == k, nil
		}
		m := min(k-i, chunk)
		if tol <= 0 {
			chunk = min(2*chunk, cgChunk)
		}
		clear(w.host)
		w.host[3] = rz
		r.b.Upload(w.st, w.host)
		pairJ := -1 // the step whose product comes with A q (conjugateGradient's resid)
		for j := range m {
			if j > 0 {
				if err := r.check(phase, i+j); err != nil {
					return 0, 0, false, false, err
				}
			}
			var err error
			last := resid != nil && tol <= 0 && i+j == k-1
			zeroQ := i+j == 0 && q0zero // A q_0 = 0 exactly, without a product
			if last {
				pairJ = j
			}
			switch {
			case i+j == 0 && ap0 != nil:
				r.b.Copy(ap, ap0)
			case last && !zeroQ:
				err = r.hessVecPair(ap, p, resid, q) // resid ← A q_{k−1}
			default:
				err = r.hessVec(ap, p)
			}
			if last && zeroQ {
				r.b.Fill(resid, 0)
			}
			if err != nil {
				return 0, 0, false, false, r.fail(phase, i+j, err)
			}
			cs.CGStep(w.st, j, q, res, p, ap, tol, floor)
		}
		r.b.Download(w.host, w.st)
		if err := r.b.Err(); err != nil {
			return 0, 0, false, false, r.fail(phase, i, err)
		}
		stopped := false
		for j := range m {
			if pap := w.host[4+2*j]; !(pap > 0) {
				if math.IsNaN(pap) {
					return 0, 0, false, false, r.fail(phase, i, fmt.Errorf("%w: pᵀAp = NaN", ErrNonFinite))
				}
				return 0, 0, false, false, r.fail(phase, i, fmt.Errorf("%w: pᵀAp = %v", ErrNotPositiveDefinite, pap))
			}
			if j == pairJ {
				// Step k−1 ran with α = ρ/π, as the device computed it:
				// resid ← (A q_{k−1} + α A p_{k−1}) − rhs, as the host loop.
				r.b.Axpy(w.host[3+2*j]/w.host[4+2*j], ap, resid)
				r.b.Axpy(-1, rhs, resid)
				residOK = true
			}
			i, rz = i+1, w.host[5+2*j]
			if stopped, _, _ = stop(-1, rz); stopped {
				break // the top of the loop returns
			}
		}
		if stopped != (w.host[0] != 0) {
			return 0, 0, false, false, r.fail(phase, i, fmt.Errorf("CGStep stopped (flag %v) where the host's tests say %v", w.host[0], stopped))
		}
	}
}

// cgWork are the work vectors of conjugateGradient, allocated once per run,
// and cgQueued's state vector st (with its host copy) once it is needed.
type cgWork struct {
	res, p, ap, z, minv backend.Vector
	st                  backend.Vector
	host                []float64
}

// cgVectors returns the run's CG work vectors of length d, allocating them
// (and the preconditioner's, when jacobi) on first use.
func (r *run) cgVectors(d int, jacobi bool) (*cgWork, error) {
	w := r.cg
	if w == nil {
		w = &cgWork{}
		if err := r.vecsN(d, &w.res, &w.p, &w.ap); err != nil {
			return nil, err
		}
		r.cg = w
	}
	if jacobi && w.z == nil {
		if err := r.vecsN(d, &w.z, &w.minv); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// jacobi sets minv ← 1/diag(A) at the linearization point. The diagonal of
// a positive definite A is positive; an entry that is not (or is not
// finite) is reported as ErrNotPositiveDefinite (ErrNonFinite).
func (r *run) jacobi(minv backend.Vector, phase string) error {
	hd, ok := r.p.(bilevel.HessDiager)
	if !ok {
		return r.fail(phase, -1, fmt.Errorf("%w: Jacobi preconditioning needs a problem that implements bilevel.HessDiager", ErrInvalidSettings))
	}
	r.res.Counts.HessDiags++
	if err := hd.HessDiag(minv); err != nil {
		return r.fail(phase, -1, fmt.Errorf("HessDiag: %w", err))
	}
	if len(r.diag) != minv.Len() {
		r.diag = make([]float64, minv.Len())
	}
	r.b.Download(r.diag, minv)
	if err := r.b.Err(); err != nil {
		return r.fail(phase, -1, err)
	}
	for j, a := range r.diag {
		switch {
		case math.IsNaN(a) || math.IsInf(a, 0):
			return r.fail(phase, -1, fmt.Errorf("%w: diag(A)[%d] = %v", ErrNonFinite, j, a))
		case !(a > 0):
			return r.fail(phase, -1, fmt.Errorf("%w: diag(A)[%d] = %v", ErrNotPositiveDefinite, j, a))
		}
		r.diag[j] = 1 / a
	}
	r.b.Upload(minv, r.diag)
	return nil
}

// frozenAD runs the adjoint recursion of FrozenAD.
func (r *run) frozenAD(s linearSpec, q, rhs backend.Vector, q0zero bool, k int, tol float64) (int, float64, error) {
	d := q.Len()
	var z, zPrev, az, res backend.Vector
	if err := r.vecsN(d, &z, &zPrev, &az, &res); err != nil {
		return 0, 0, err
	}
	r.b.Copy(z, rhs) // z_0 = rhs − A q_0
	if !q0zero {
		if err := r.hessVec(az, q); err != nil {
			return 0, 0, r.fail("linear", 0, err)
		}
		r.b.Axpy(-1, az, z)
	}
	r.b.Axpby(-1, z, 0, res) // r_0 = A q_0 − rhs = −z_0
	for i := 0; ; i++ {
		if err := r.check("linear", i); err != nil {
			return 0, 0, err
		}
		nrm := r.b.Nrm2(res)
		if !finite(nrm) {
			return 0, 0, r.fail("linear", i, fmt.Errorf("%w: residual norm %v", ErrNonFinite, nrm))
		}
		if err := r.report(PhaseLinear, i, q, nrm); err != nil {
			return 0, 0, err
		}
		if i == k || (tol > 0 && nrm <= tol) {
			return i, nrm, nil
		}
		if err := r.hessVec(az, z); err != nil {
			return 0, 0, r.fail("linear", i, err)
		}
		r.b.Axpy(s.alpha, z, q)    // q_{j+1} = q_j + α z_j
		r.b.Axpy(s.alpha, az, res) // r_{j+1} = r_j + α A z_j
		// z_{j+1} = (1+β) z_j − β z_{j−1} − α A z_j, into zPrev.
		r.b.Axpby(1+s.beta, z, -s.beta, zPrev)
		r.b.Axpy(-s.alpha, az, zPrev)
		z, zPrev = zPrev, z
	}
}

// krylovSolve runs a krylov.Solver on A q = rhs from q for at most k
// iterations (none for k = 0), stopping at ‖rhs − A q‖ ≤ tol when tol > 0.
// It reports the iterations, the tracked residual norm, and whether the
// solver converged (at tol, or at its rounding floor).
func (r *run) krylovSolve(solver krylov.Solver, q, rhs backend.Vector, k int, tol float64) (int, float64, bool, error) {
	if k == 0 { // no iteration: the caller computes the residual of q_0
		return 0, math.NaN(), false, r.check("linear", 0)
	}
	op := &hessOperator{r: r, n: q.Len()}
	sol, err := solver.Solve(r.ctx, r.b, op, rhs, q, krylov.Settings{MaxIter: k, AbsTol: tol})
	if err != nil {
		return 0, 0, false, r.fail("linear", -1, err)
	}
	switch sol.Status {
	case krylov.Converged:
		return sol.Iterations, sol.Residual, true, nil
	case krylov.IterationLimit:
		return sol.Iterations, sol.Residual, false, nil
	case krylov.Canceled:
		return 0, 0, false, r.fail("linear", sol.Iterations, sol.Err)
	}
	return 0, 0, false, r.fail("linear", sol.Iterations, linearError(sol.Err))
}

// hessOperator is A = ∇²_ww g at the linearization point as a
// krylov.Operator: symmetric positive definite, its own transpose.
type hessOperator struct {
	r *run
	n int
}

var _ krylov.Transposer = (*hessOperator)(nil)

func (o *hessOperator) Dims() (rows, cols int) { return o.n, o.n }
func (o *hessOperator) Tags() krylov.Tags      { return krylov.Symmetric | krylov.PositiveDefinite }
func (o *hessOperator) Apply(dst, x backend.Vector) error {
	return o.r.hessVec(dst, x)
}
func (o *hessOperator) ApplyTrans(dst, x backend.Vector) error {
	return o.r.hessVec(dst, x)
}
