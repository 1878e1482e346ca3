package hypergrad

import (
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// InnerSolver is an iterative method for the inner problem min_w g(w, λ):
// GradientDescent, HeavyBall, FISTA or Newton.
type InnerSolver interface {
	// String names the solver: "gd", "hb", "fista" or "newton".
	String() string
	// spec resolves zero parameters from the constants.
	spec(c func() (bilevel.Constants, error)) (innerSpec, error)
}

type innerKind int

const (
	innerGD innerKind = iota
	innerHB
	innerFISTA
	innerNewton
)

// innerSpec is an inner solver with resolved parameters.
type innerSpec struct {
	kind        innerKind
	alpha, beta float64 // step and momentum (heavy ball)
	q           float64 // μ/L (FISTA)
	every       int     // FISTA: iterations between tolerance checks
	// Newton: forcing bound η_max, CG cap per step (0: DefaultMaxCG(d)), Jacobi.
	forcing float64
	maxCG   int
	jacobi  bool
}

// GradientDescent is w_{k+1} = w_k − α∇_w g(w_k, λ). Step 0 means
// α = 2/(L+μ), the step that minimises the contraction factor
// q = max(|1−αμ|, |1−αL|) = (κ−1)/(κ+1) (Grazzi et al. 2020, §2.1).
type GradientDescent struct {
	Step float64 // α > 0, or 0 for 2/(L+μ)
}

func (GradientDescent) String() string { return "gd" }

func (s GradientDescent) spec(c func() (bilevel.Constants, error)) (innerSpec, error) {
	alpha := s.Step
	if alpha < 0 || !finite(alpha) {
		return innerSpec{}, fmt.Errorf("%w: gradient-descent step %v", ErrInvalidSettings, alpha)
	}
	if alpha == 0 {
		k, err := c()
		if err != nil {
			return innerSpec{}, err
		}
		alpha = 2 / (k.L.Value + k.Mu.Value)
	}
	return innerSpec{kind: innerGD, alpha: alpha}, nil
}

// HeavyBall is Polyak's heavy-ball method
//
//	w_{k+1} = w_k − α∇_w g(w_k, λ) + β(w_k − w_{k−1}),   w_{−1} = w_0,
//
// with, for zero fields, α = 4/(√L+√μ)² and β = ((√L−√μ)/(√L+√μ))², which
// give the rate (√κ−1)/(√κ+1) on quadratics (Ehrhardt & Roberts 2024 §3.2,
// after Mehmood & Ochs 2020). On a g that is not quadratic these parameters
// carry no guarantee: with logreg and the global constants it can cycle.
type HeavyBall struct {
	Step     float64 // α > 0, or 0 for 4/(√L+√μ)²
	Momentum float64 // β in [0, 1), or 0 for ((√L−√μ)/(√L+√μ))²
}

func (HeavyBall) String() string { return "hb" }

func (s HeavyBall) spec(c func() (bilevel.Constants, error)) (innerSpec, error) {
	alpha, beta, err := heavyBallSteps(s.Step, s.Momentum, c)
	return innerSpec{kind: innerHB, alpha: alpha, beta: beta}, err
}

// FISTA is the strongly convex variant of FISTA (Chambolle & Pock 2016,
// Alg. 5; as in Ehrhardt & Roberts 2024 §3.2), with τ = Step (default 1/L)
// and q = μ/L, t_0 = 0, y_{−1} = y_0:
//
//	t_{k+1} = (1 − q t_k² + √((1 − q t_k²)² + 4t_k²))/2,
//	β_k     = (t_k − 1)(1 − q t_{k+1}) / (t_{k+1}(1 − q)),
//	z_k     = y_k + β_k(y_k − y_{k−1}),   y_{k+1} = z_k − τ∇_w g(z_k, λ).
//
// It converges for every μ-strongly convex, L-smooth g with
// ‖y_k − w*‖² ≤ min{(1+√q)(1−√q)^k, 4/(k+1)²}·(L/μ)‖y_0 − w*‖². Its gradient
// is taken at z_k, so a tolerance on ‖∇_w g(y_k)‖ costs one more gradient per
// check: with a tolerance it checks every CheckEvery iterations (default 10).
// ITD differentiates through it (see ITD).
type FISTA struct {
	Step       float64 // τ in (0, 1/L], or 0 for 1/L
	CheckEvery int     // iterations between tolerance checks; 0 means 10
}

func (FISTA) String() string { return "fista" }

func (s FISTA) spec(c func() (bilevel.Constants, error)) (innerSpec, error) {
	if s.Step < 0 || !finite(s.Step) || s.CheckEvery < 0 {
		return innerSpec{}, fmt.Errorf("%w: FISTA step %v, check every %d", ErrInvalidSettings, s.Step, s.CheckEvery)
	}
	k, err := c()
	if err != nil {
		return innerSpec{}, err
	}
	tau := s.Step
	if tau == 0 {
		tau = 1 / k.L.Value
	}
	every := s.CheckEvery
	if every == 0 {
		every = 10
	}
	return innerSpec{kind: innerFISTA, alpha: tau, q: k.Mu.Value / k.L.Value, every: every}, nil
}

// Newton is the inexact (truncated) Newton method with conjugate gradients
// (Nocedal & Wright 2006, §7.1; Dembo, Eisenstat & Steihaug 1982): at w_k,
//
//	s_k ≈ −A(w_k)⁻¹∇_w g(w_k)   by CG from 0 until ‖A s + ∇g‖ ≤ η_k‖∇g(w_k)‖,
//	η_k = min(η_max, √(‖∇g(w_k)‖/‖∇g(w_0)‖)),
//	w_{k+1} = w_k + τ s_k,   τ = 1, ½, ¼, …, 2⁻¹⁹ the first with
//	‖∇g(w_k + τ s_k)‖² ≤ (1 − 2·10⁻⁴ τ(1−η_k))‖∇g(w_k)‖².
//
// Since ∇gᵀA s_k ≤ −(1−η_k)‖∇g‖², s_k descends ½‖∇g‖², so the backtracking
// ends for every strongly convex g with a Lipschitz Hessian, and the
// forcing terms η_k → 0 give local superlinear convergence (N&W Thm 7.2).
// When no τ decreases ‖∇g‖ (its rounding floor), the solve stops there.
// The gradient the line search evaluates is the next step's gradient, so
// a step costs one gradient per trial, the CG Hessian-vector products, and,
// when the problem is a bilevel.HessDiager, one Hessian diagonal: CG is
// then Jacobi-preconditioned (ConjugateGradient with Jacobi) unless
// PlainCG. Newton needs neither L nor μ; one inner iteration is one Newton
// step. Its rate depends on constants the problem does not give, so it has
// no a priori bound (the a posteriori bound holds as for every solver).
// ITD does not differentiate through Newton.
//
// Each step's CG runs at most MaxCG iterations; 0 means
// DefaultMaxCG(d) = max(100, 2d), twice the d iterations in which CG
// terminates in exact arithmetic. A step whose CG stops at the cap is still
// a descent direction whenever its residual is below ‖∇g‖ (the line search
// decides), so the cap bounds the work of a nearly singular A (for instance
// logreg with d > n and e^λ ≈ 0, where the forcing tolerance is below the
// rounding of CG's residual) without changing the iterates of a
// well-conditioned one.
type Newton struct {
	Forcing float64 // η_max in (0, 1), or 0 for 0.5
	MaxCG   int     // CG iterations per step (≥ 0; 0: DefaultMaxCG(d))
	PlainCG bool    // never precondition the steps' CG
}

// DefaultMaxCG is the cap on the CG iterations of a Newton step when
// Newton.MaxCG is 0, for inner dimension d: max(100, 2d).
func DefaultMaxCG(d int) int { return max(100, 2*min(d, math.MaxInt/4)) }

func (Newton) String() string { return "newton" }

func (s Newton) spec(func() (bilevel.Constants, error)) (innerSpec, error) {
	eta := s.Forcing
	if eta == 0 {
		eta = 0.5
	}
	if !(eta > 0 && eta < 1) || s.MaxCG < 0 {
		return innerSpec{}, fmt.Errorf("%w: Newton forcing %v (want 0 < η < 1), MaxCG %d", ErrInvalidSettings, s.Forcing, s.MaxCG)
	}
	// maxCG 0 is resolved against the problem's d when the steps run.
	return innerSpec{kind: innerNewton, forcing: eta, maxCG: s.MaxCG, jacobi: !s.PlainCG}, nil
}

// heavyBallSteps fills zero step and momentum from the constants.
func heavyBallSteps(alpha, beta float64, c func() (bilevel.Constants, error)) (float64, float64, error) {
	if alpha < 0 || !finite(alpha) {
		return 0, 0, fmt.Errorf("%w: heavy-ball step %v", ErrInvalidSettings, alpha)
	}
	if beta < 0 || beta >= 1 || !finite(beta) {
		return 0, 0, fmt.Errorf("%w: heavy-ball momentum %v (want 0 ≤ β < 1)", ErrInvalidSettings, beta)
	}
	if alpha == 0 || beta == 0 {
		k, err := c()
		if err != nil {
			return 0, 0, err
		}
		sl, sm := math.Sqrt(k.L.Value), math.Sqrt(k.Mu.Value)
		if alpha == 0 {
			alpha = 4 / ((sl + sm) * (sl + sm))
		}
		if beta == 0 {
			q := (sl - sm) / (sl + sm)
			beta = q * q
		}
	}
	return alpha, beta, nil
}

// constantsFor returns a memoised accessor of p's constants that checks they
// can give step sizes.
func constantsFor(p bilevel.Problem) func() (bilevel.Constants, error) {
	var (
		c    bilevel.Constants
		err  error
		done bool
	)
	return func() (bilevel.Constants, error) {
		if !done {
			done = true
			c, err = p.Constants()
			if err == nil && !(c.Mu.Value > 0 && c.L.Value >= c.Mu.Value && finite(c.L.Value)) {
				err = fmt.Errorf("%w: constants μ = %v, L = %v cannot give step sizes (set them explicitly)",
					ErrInvalidSettings, c.Mu.Value, c.L.Value)
			}
		}
		return c, err
	}
}

// innerState is an inner solve that can be continued: the iterate w_k, the
// gradient vector, the steps taken, ‖∇_w g(w_0)‖, and the solver's own
// state: the step rule of a first-order method, or Newton's.
type innerState struct {
	w, grad backend.Vector
	iters   int     // steps taken so far
	grad0   float64 // ‖∇_w g(w_0)‖
	method  innerMethod
	newton  *newtonMethod // Newton (method nil)
}

// innerMethod is one first-order inner solver's state and step: gdMethod,
// hbMethod and fistaMethod, which continueInner's loop drives. Newton
// (newtonMethod) runs a loop of its own.
type innerMethod interface {
	// ownGrad reports that the step takes its own gradient (FISTA, at
	// z_k) instead of ∇_w g(w_k), which the loop then computes only to
	// check a tolerance.
	ownGrad() bool
	// step takes st.w from w_k to w_{k+1}, with st.grad = ∇_w g(w_k)
	// where !ownGrad.
	step(r *run, st *innerState, k int) error
}

// gdMethod is gradient descent, w_{k+1} = w_k − α∇_w g(w_k).
type gdMethod struct{ alpha float64 }

func (gdMethod) ownGrad() bool { return false }

func (m gdMethod) step(r *run, st *innerState, _ int) error {
	r.b.Axpy(-m.alpha, st.grad, st.w)
	return nil
}

// hbMethod is heavy ball; prev holds w_{k−1}.
type hbMethod struct {
	alpha, beta float64
	prev        backend.Vector
}

func (*hbMethod) ownGrad() bool { return false }

func (m *hbMethod) step(r *run, st *innerState, _ int) error {
	r.b.Axpby(1+m.beta, st.w, -m.beta, m.prev) // prev ← (1+β)w_k − βw_{k−1}
	r.b.Axpy(-m.alpha, st.grad, m.prev)        // prev ← w_{k+1}
	st.w, m.prev = m.prev, st.w
	return nil
}

// fistaMethod is strongly convex FISTA; prev holds y_{k−1}, z the point
// z_k, tk the t_k of the momentum recurrence.
type fistaMethod struct {
	alpha, q, tk float64
	prev, z      backend.Vector
}

func (*fistaMethod) ownGrad() bool { return true }

func (m *fistaMethod) step(r *run, st *innerState, k int) error {
	tn, beta := fistaNext(m.q, m.tk)
	m.tk = tn
	r.b.Copy(m.z, st.w)
	r.b.Axpby(-beta, m.prev, 1+beta, m.z) // z = (1+β)y_k − βy_{k−1}
	if err := r.innerGrad(st.grad, m.z); err != nil {
		return r.fail("inner", k, err)
	}
	if k > 0 && k&(k-1) == 0 {
		if err := r.innerDiverged(k, "z", r.b.Nrm2(st.grad), st.grad0); err != nil {
			return err
		}
	}
	r.b.Axpy(-m.alpha, st.grad, m.z) // z ← y_{k+1}
	m.prev, st.w, m.z = st.w, m.z, m.prev
	return nil
}

// newtonMethod is inexact Newton–CG: prev and z hold the line search's
// trial iterate and its gradient, step the Newton step s_k.
type newtonMethod struct {
	spec           innerSpec
	prev, z, steps backend.Vector
}

// innerObserver sees the inner iterates w_0, w_1, … as the solve makes
// them (ITD's trajectories, forward-mode ITD's tangents); an error it
// returns ends the solve with that error.
type innerObserver interface {
	observe(k int, w backend.Vector) error
}

// newInnerState allocates the state of an inner solve starting at w.
func (r *run) newInnerState(s innerSpec, w backend.Vector) (*innerState, error) {
	d := r.p.InnerDim()
	st := &innerState{w: w, grad0: math.NaN()}
	vec := func() (backend.Vector, error) {
		v, err := r.vec(d)
		if err != nil {
			return nil, r.fail("inner", -1, err)
		}
		return v, nil
	}
	var err error
	if st.grad, err = vec(); err != nil {
		return nil, err
	}
	var prev backend.Vector
	if s.kind != innerGD {
		if prev, err = vec(); err != nil {
			return nil, err
		}
		r.b.Copy(prev, w) // w_{−1} = w_0
	}
	switch s.kind {
	case innerGD:
		st.method = gdMethod{alpha: s.alpha}
	case innerHB:
		st.method = &hbMethod{alpha: s.alpha, beta: s.beta, prev: prev}
	case innerFISTA:
		m := &fistaMethod{alpha: s.alpha, q: s.q, prev: prev}
		if m.z, err = vec(); err != nil {
			return nil, err
		}
		st.method = m
	case innerNewton:
		m := &newtonMethod{spec: s, prev: prev}
		if m.z, err = vec(); err != nil {
			return nil, err
		}
		if m.steps, err = vec(); err != nil {
			return nil, err
		}
		st.newton = m
	}
	return st, nil
}

// solveInner runs up to t steps of the inner solver from w (which it
// overwrites) and returns the vector holding w_t, which is w or another run
// vector. obs, if not nil, observes w_0, …, w_t. With tol > 0 it stops at
// the first w_k with ‖∇_w g(w_k)‖ ≤ tol.
func (r *run) solveInner(s innerSpec, w backend.Vector, t int, tol float64, obs innerObserver) (backend.Vector, error) {
	st, err := r.newInnerState(s, w)
	if err != nil {
		return nil, err
	}
	if obs != nil {
		if err := obs.observe(0, w); err != nil {
			return nil, err
		}
	}
	if err := r.continueInner(s, st, t, tol, 0, obs, nil); err != nil {
		return nil, err
	}
	return st.w, nil
}

// continueInner takes up to t more steps of the inner solve in st (until
// ‖∇_w g‖ ≤ tol when tol > 0; with tolRel > 0 the tolerance is
// tolRel·‖∇_w g(w_0)‖), then evaluates ‖∇_w g(w)‖ at the final iterate into
// InnerResidual and sets InnerIters and InnerStatus. With final (AID's
// fused first product; nil otherwise) a first-order solve takes that last
// gradient with it.
func (r *run) continueInner(s innerSpec, st *innerState, t int, tol, tolRel float64, obs innerObserver, final *fusedLast) error {
	t0 := time.Now()
	defer func() { r.res.Time.Inner += r.since(t0) }()
	r.res.InnerStep, r.res.InnerMomentum = s.alpha, s.beta
	if st.newton != nil {
		return st.newton.solve(r, st, t, tol, tolRel)
	}
	if tolRel > 0 && st.grad0 >= 0 {
		tol = tolRel * st.grad0
	}
	wantNorm := tol > 0 || tolRel > 0 || r.monitor != nil
	every := max(s.every, 1)
	own := st.method.ownGrad()
	var hist stallHistory
	for j := 0; j < t; j++ {
		k := st.iters
		if err := r.check("inner", k); err != nil {
			return err
		}
		// The gradient at w_k: the step's own gradient for GD and heavy
		// ball; for FISTA (whose step uses ∇g(z_k)) only when checking.
		if !own || (wantNorm && j%every == 0) || !(st.grad0 >= 0) {
			if err := r.stepGrad(k, st.grad, st.w); err != nil {
				return r.fail("inner", k, err)
			}
			if wantNorm || !(st.grad0 >= 0) {
				nrm := r.b.Nrm2(st.grad)
				if !finite(nrm) {
					return r.fail("inner", k, fmt.Errorf("%w: ‖∇g(w_%d)‖ = %v", ErrNonFinite, k, nrm))
				}
				if !(st.grad0 >= 0) {
					st.grad0 = nrm
					if tolRel > 0 {
						tol = tolRel * nrm
					}
				}
				if err := r.innerDiverged(k, "w", nrm, st.grad0); err != nil {
					return err
				}
				if wantNorm {
					if err := r.report(PhaseInner, k, st.w, nrm); err != nil {
						return err
					}
					if tol > 0 && nrm <= tol {
						r.res.InnerIters, r.res.InnerResidual, r.res.InnerStatus = k, nrm, Converged
						return nil
					}
					if tol > 0 && hist.stalled(k, nrm, st.grad0) {
						break // at the rounding floor: more steps cannot reach tol
					}
				}
			}
		}
		if !own && !wantNorm && k > 0 && k&(k-1) == 0 {
			// Without a tolerance the norm is not needed: check the growth
			// at k = 1, 2, 4, … only (a host synchronisation each).
			if err := r.innerDiverged(k, "w", r.b.Nrm2(st.grad), st.grad0); err != nil {
				return err
			}
		}
		if err := st.method.step(r, st, k); err != nil {
			return err
		}
		st.iters++
		if obs != nil {
			if err := obs.observe(st.iters, st.w); err != nil {
				return err
			}
		}
	}
	k := st.iters
	if err := r.check("inner", k); err != nil {
		return err
	}
	if err := r.finalGrad(k, st.grad, st.w, final); err != nil {
		return r.fail("inner", k, err)
	}
	nrm := r.b.Nrm2(st.grad)
	if err := r.check("inner", k); err != nil {
		return err
	}
	if !finite(nrm) {
		return r.fail("inner", k, fmt.Errorf("%w: ‖∇g(w_%d)‖ = %v", ErrNonFinite, k, nrm))
	}
	if !(st.grad0 >= 0) {
		st.grad0 = nrm
		if tolRel > 0 {
			tol = tolRel * nrm
		}
	}
	if err := r.innerDiverged(k, "w", nrm, st.grad0); err != nil {
		return err
	}
	r.res.InnerIters, r.res.InnerResidual = k, nrm
	switch {
	case tol <= 0:
		r.res.InnerStatus = Completed
	case nrm <= tol:
		r.res.InnerStatus = Converged
	default:
		r.res.InnerStatus = IterationLimit
	}
	return r.report(PhaseInner, k, st.w, nrm)
}

// DivergenceFactor is the growth of a residual over its initial value that
// the estimators report as divergence (ErrDiverged): the inner solve's
// ‖∇_w g(w_k)‖ (for FISTA also ‖∇_w g(z_k)‖) against ‖∇_w g(w_0)‖, ITD's
// adjoint against ‖∇_wE(w_t)‖, and, through krylov.Settings, every linear
// solve's residual against its initial one. A convergent first-order
// method with admissible steps never grows its residual by more than a
// modest factor (gradient descent with α < 2/L contracts it), so growth by
// 1e8 means the steps are too long for the problem, long before the
// iterates overflow.
const DivergenceFactor = 1e8

// innerDiverged returns ErrDiverged (an *Error of the inner phase at
// iteration k) when nrm = ‖∇_w g(at_k)‖ exceeds DivergenceFactor·grad0.
// A zero grad0 (w_0 stationary) never diverges: the iterates do not move.
func (r *run) innerDiverged(k int, at string, nrm, grad0 float64) error {
	if !finite(nrm) {
		return r.fail("inner", k, fmt.Errorf("%w: ‖∇g(%s_%d)‖ = %v", ErrNonFinite, at, k, nrm))
	}
	if grad0 > 0 && nrm > DivergenceFactor*grad0 {
		return r.fail("inner", k, fmt.Errorf("%w: ‖∇g(%s_%d)‖ = %.3g > %.0e·‖∇g(w_0)‖ = %.3g (the step is too long for the problem)",
			ErrDiverged, at, k, nrm, DivergenceFactor, DivergenceFactor*grad0))
	}
	return nil
}

// stallHistory detects an iteration stuck at its rounding floor: the
// residual is below 1e-10 of the initial one and has not improved by 10 %
// over the last max(100, k/4) iterations. A tolerance below that floor can
// never be met, and without the check an accuracy target would spend the
// whole budget.
type stallHistory struct {
	best  float64
	bestK int
}

func (h *stallHistory) stalled(k int, nrm, grad0 float64) bool {
	if h.bestK == 0 && h.best == 0 || nrm < 0.9*h.best {
		h.best, h.bestK = nrm, k
		return false
	}
	return nrm <= 1e-10*grad0 && k-h.bestK >= max(100, k/4)
}

// solve takes up to t more Newton steps (see Newton and continueInner). The gradient at the current iterate is evaluated first;
// each accepted line-search trial's gradient is the next iterate's.
func (m *newtonMethod) solve(r *run, st *innerState, t int, tol, tolRel float64) error {
	s := m.spec
	k := st.iters
	if err := r.check("inner", k); err != nil {
		return err
	}
	if err := r.stepGrad(k, st.grad, st.w); err != nil {
		return r.fail("inner", k, err)
	}
	nrm := r.b.Nrm2(st.grad)
	if !finite(nrm) {
		return r.fail("inner", k, fmt.Errorf("%w: ‖∇g(w_%d)‖ = %v", ErrNonFinite, k, nrm))
	}
	if !(st.grad0 >= 0) {
		st.grad0 = nrm
	}
	if tolRel > 0 {
		tol = tolRel * st.grad0
	}
	status := Completed
	for j := 0; ; j++ {
		if err := r.report(PhaseInner, k, st.w, nrm); err != nil {
			return err
		}
		if tol > 0 && nrm <= tol {
			status = Converged
			break
		}
		if j == t {
			if tol > 0 {
				status = IterationLimit
			}
			break
		}
		if err := r.check("inner", k); err != nil {
			return err
		}
		// A(w_k): the linearization the gradient at w_k recorded, or a new one.
		recorded, err := r.useRecorded()
		if err == nil && !recorded {
			err = r.linearize(st.w)
		}
		if err != nil {
			return r.fail("inner", k, err)
		}
		eta := math.Min(s.forcing, math.Sqrt(nrm/st.grad0))
		r.b.Axpby(-1, st.grad, 0, m.z) // rhs −∇g(w_k)
		r.b.Fill(m.steps, 0)
		maxCG := s.maxCG
		if maxCG == 0 {
			maxCG = DefaultMaxCG(st.w.Len())
		}
		if err := r.newtonStep(m.steps, m.z, maxCG, eta*nrm, s.jacobi && r.hasDiag()); err != nil {
			return err
		}
		// Backtracking on ‖∇g‖: the trial iterate in prev, its gradient in z.
		accepted := false
		var nt float64
		for tau, n := 1.0, 0; n < 20; tau, n = tau/2, n+1 {
			r.b.Copy(m.prev, st.w)
			r.b.Axpy(tau, m.steps, m.prev)
			if err := r.stepGrad(k+1, m.z, m.prev); err != nil {
				return r.fail("inner", k, err)
			}
			nt = r.b.Nrm2(m.z)
			if finite(nt) && nt*nt <= (1-2e-4*tau*(1-eta))*nrm*nrm {
				accepted = true
				break
			}
		}
		if !accepted {
			// ‖∇g‖ cannot decrease: the rounding floor. The trials overwrote
			// the recorded linearization, so take the gradient at w_k again.
			if err := r.stepGrad(k, st.grad, st.w); err != nil {
				return r.fail("inner", k, err)
			}
			if tol > 0 {
				status = IterationLimit
			}
			break
		}
		st.w, m.prev = m.prev, st.w
		st.grad, m.z = m.z, st.grad
		nrm = nt
		st.iters++
		k++
	}
	if err := r.check("inner", k); err != nil {
		return err
	}
	r.res.InnerIters, r.res.InnerResidual, r.res.InnerStatus = k, nrm, status
	return nil
}

// newtonStep solves A step = rhs from step = 0 by at most maxCG iterations of
// conjugate gradients (with jacobi, preconditioned by diag(A)) to the
// residual tol, the inexact Newton step; failures are errors of the inner
// phase.
func (r *run) newtonStep(step, rhs backend.Vector, maxCG int, tol float64, jacobi bool) error {
	var solver krylov.Solver = krylov.CG{}
	if jacobi {
		var err error
		if solver, err = r.jacobiPCG("inner"); err != nil {
			return err
		}
	}
	_, err := r.krylovSolve(solver, r.hessOp(step.Len()), step, rhs, maxCG, tol, nil, "inner", false)
	return err
}

// hasDiag reports whether the problem can give the Jacobi preconditioner.
func (r *run) hasDiag() bool {
	_, ok := r.p.(bilevel.HessDiager)
	return ok
}
