// Package krylov holds linear operators and iterative linear solvers as
// values, on the vectors of a backend.Backend, so that they run unchanged on
// the CPU and on a GPU: an Operator applies A (and, optionally, Aᵀ) to device
// vectors and carries tags (symmetric, positive definite) that let a solver
// refuse what it cannot solve; a Solver solves A x = b from a starting x and
// returns a Solution with its status, iterations, residual history and
// counts. Every solver works on whole vectors through backend operations
// only (Dot, Nrm2, Axpy, …), so only scalars cross to the host per
// iteration.
//
// The solvers, each in a file of its own:
//
//	Richardson  x ← x + α(b − A x): the fixed-point (Neumann) iteration of AID-FP
//	HeavyBall   Richardson with momentum β(x_i − x_{i−1})
//	CG          conjugate gradients (Hestenes–Stiefel), A symmetric positive definite
//	PCG         CG preconditioned by M⁻¹ (Jacobi: a diagonal), A and M SPD
//	MINRES      minimal residuals (Paige & Saunders), A symmetric, possibly indefinite
//	GMRES       generalised minimal residuals with restarts every m steps, any A
//	BiCGStab    bi-conjugate gradients stabilised (van der Vorst), any A
//	CGNE        CG on the normal equations AᵀA x = Aᵀb, any A with Aᵀ
//
// Settings carry what a caller may want of any solver: a Monitor called
// every iteration, a Residual vector receiving b − A x of the returned x
// where the solver has it from products (not the recursion), and a
// Workspace that lends repeated solves their work vectors. An operator may
// also be a Pairer (two products in one pass over its data); CG runs its
// device-resident fast path on a backend.CGStepper.
//
// # Stopping, status and errors
//
// A solver stops when the residual norm ‖b − A x‖ it tracks falls to
// Settings.Tol·‖b‖ + Settings.AbsTol (Converged), when it has made
// Settings.MaxIter iterations (IterationLimit), or when the method breaks
// down. The solvers that update their residual recursively (CG, PCG,
// MINRES, CGNE, GMRES within a cycle, BiCGStab) also stop as Converged at
// the rounding floor residualFloor·max(‖b‖, ‖r_0‖), where the iterate can
// no longer change; with Tol = AbsTol = 0 they run until MaxIter or that
// floor. From x_0 = 0, Richardson, HeavyBall, CG, PCG, MINRES and CGNE take
// the first residual b without a product (initialResidual); GMRES and
// BiCGStab always compute b − A x_0.
//
// What the caller did wrong is an error and no iteration is made:
// ErrNotSymmetric (CG, PCG and MINRES refuse an operator, and PCG a
// preconditioner, not tagged Symmetric), ErrNoTranspose (CGNE on an
// operator without ApplyTrans), ErrShape, an invalid setting
// (ErrSettings). What happened in the iteration is a status with an error
// wrapping one of ErrNotPositiveDefinite (CG: pᵀAp ≤ 0; PCG: also
// rᵀM⁻¹r ≤ 0), ErrBreakdown (a division by zero of the method: BiCGStab's
// ρ, r̂ᵀAp or ω, a singular system in MINRES, CGNE or GMRES; GMRES's lucky
// breakdown is convergence), ErrStagnation (GMRES(m): a restart cycle that
// does not reduce the true residual), ErrDiverged (the residual grew beyond
// Settings.DivergenceFactor·‖r_0‖: Richardson on a map that is not a
// contraction) or ErrNonFinite (a NaN or Inf in a scalar of the method). The
// solution x is then the last iterate. Context cancellation stops a solver
// between iterations (Canceled).
//
// # Adding a solver
//
// A solver is a value with a Solve method (the Solver interface): write it
// in a file of its own with its formula and source in the doc comment, use
// the workspace helpers of this package for its vectors, and add a test file
// that checks it against a dense solve (testsystems_test.go builds the
// systems). Nothing else changes. A solver of one's own, outside this
// package, is the same: any value with Solve and String (the example
// Example_ownSolver writes steepest descent in forty lines) is accepted by
// the estimators of package hypergrad (hypergrad.Krylov, FixedPointAID).
package krylov

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Tags describe properties of an Operator that solvers rely on.
type Tags uint8

const (
	// Symmetric: A = Aᵀ (square).
	Symmetric Tags = 1 << iota
	// PositiveDefinite: xᵀA x > 0 for x ≠ 0 (with Symmetric: SPD).
	PositiveDefinite
)

// Has reports whether t holds every tag of u.
func (t Tags) Has(u Tags) bool { return t&u == u }

func (t Tags) String() string {
	switch t {
	case 0:
		return "general"
	case Symmetric:
		return "symmetric"
	case PositiveDefinite:
		return "positive definite"
	case Symmetric | PositiveDefinite:
		return "symmetric positive definite"
	}
	return fmt.Sprintf("Tags(%d)", uint8(t))
}

// Operator is a linear map A: Rⁿ → Rᵐ applied to the vectors of one
// backend.
type Operator interface {
	// Dims returns m and n: A x has m elements for x of n.
	Dims() (rows, cols int)
	// Apply sets dst ← A x (len dst = rows, len x = cols; dst is not x).
	Apply(dst, x backend.Vector) error
	// Tags returns what is known of A.
	Tags() Tags
}

// Pairer is an Operator that applies itself to two vectors in one call,
// with the bits of two Apply calls, in fewer passes over its data (the
// Hessian of a GLM-type problem reads its data matrix once). CG uses it in
// its last iteration for A p and the A x that Settings.Residual needs.
type Pairer interface {
	Operator
	// ApplyPair sets dst1 ← A x1 and dst2 ← A x2, exactly as two Apply
	// calls would; the four vectors are distinct.
	ApplyPair(dst1, x1, dst2, x2 backend.Vector) error
}

// Transposer is an Operator that also applies its transpose, as CGNE
// needs.
type Transposer interface {
	Operator
	// ApplyTrans sets dst ← Aᵀ x (len dst = cols, len x = rows; dst is not x).
	ApplyTrans(dst, x backend.Vector) error
}

// Settings bound and stop a solve. The zero value is invalid: MaxIter must
// be set.
type Settings struct {
	// MaxIter is the most iterations (≥ 1): each costs one or two
	// applications of A, and the bound of every loop.
	MaxIter int
	// Tol and AbsTol stop the solve when the residual norm ‖b − A x‖ falls
	// to Tol·‖b‖ + AbsTol (both ≥ 0; both 0: run to MaxIter or, for the
	// recursive-residual solvers, to the rounding floor).
	Tol, AbsTol float64
	// DivergenceFactor stops a solve whose residual norm exceeds
	// DivergenceFactor·‖r_0‖ (ErrDiverged); 0 means 1e8.
	DivergenceFactor float64
	// History records the residual norm of every iteration in
	// Solution.History (bounded by MaxIter+1 values).
	History bool
	// Monitor, if not nil, is called with the iterations made (0 for the
	// starting point), the current iterate (valid during the call only;
	// GMRES forms it at the end of a cycle, and passes the last one formed)
	// and the residual norm tracked; an error stops the solve as Failed
	// with that error. A Monitor keeps CG off the queued path (see CG).
	Monitor func(iter int, x backend.Vector, rnorm float64) error
	// Residual, if not nil (n elements, none of the solve's other
	// vectors), receives b − A x of the returned x computed from products
	// with the iterates, not from the recursion, where the solver has it
	// without a further product: Richardson and HeavyBall always (they
	// recompute their residual every iteration), CG and PCG when the solve
	// runs to MaxIter without a tolerance (the last iteration computes A x
	// together with A p, in one call where the operator is a Pairer).
	// Solution.ResidualSet says whether it was set.
	Residual backend.Vector
	// Workspace, if not nil, lends the solve its work vectors (see
	// Workspace); a Workspace of another backend is ignored.
	Workspace *Workspace
}

// Status is how a solve ended.
type Status int

const (
	// Converged: the residual norm reached the tolerance.
	Converged Status = iota
	// IterationLimit: MaxIter iterations were made first.
	IterationLimit
	// Failed: the method broke down, diverged or met a non-finite value
	// (Solution.Err says which).
	Failed
	// Canceled: the context was done.
	Canceled
)

func (s Status) String() string {
	switch s {
	case Converged:
		return "converged"
	case IterationLimit:
		return "iteration limit"
	case Failed:
		return "failed"
	case Canceled:
		return "canceled"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Solution is what a solve did. The solution itself is the x passed to
// Solve, overwritten.
type Solution struct {
	Status     Status
	Err        error // why the solve failed or was canceled; nil otherwise
	Iterations int
	// Residual is the norm of the residual the solver tracked at the end,
	// and RHSNorm ‖b‖. Solvers that update the residual recursively
	// (CG, BiCGStab, MINRES, GMRES within a cycle) report the recursive
	// one; TrueResidual recomputes ‖b − A x‖.
	Residual, RHSNorm float64
	// History holds the residual norm after 0, 1, … iterations when
	// Settings.History is set.
	History []float64
	// ResidualSet reports that Settings.Residual holds b − A x (see there).
	ResidualSet bool
	// MatVecs, TransVecs and PrecVecs count the applications of A, of Aᵀ
	// and of the preconditioner (a Pairer's ApplyPair counts two).
	MatVecs, TransVecs, PrecVecs int
	Elapsed                      time.Duration
}

// Solver solves A x = b on a backend, from the starting point in x, which it
// overwrites with the solution. It returns an error, and makes no
// iteration, for what the caller did wrong (a wrong shape, an operator the
// method cannot solve, an invalid setting); what happened in the iteration
// is in the Solution.
type Solver interface {
	Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, s Settings) (Solution, error)
	// String names the method, such as "cg" or "gmres(30)".
	String() string
}

// Errors.
var (
	ErrShape               = errors.New("krylov: operand shapes do not match the operator")
	ErrSettings            = errors.New("krylov: invalid settings")
	ErrNotSymmetric        = errors.New("krylov: the method needs an operator tagged Symmetric")
	ErrNoTranspose         = errors.New("krylov: the method needs an operator with ApplyTrans")
	ErrNotPositiveDefinite = errors.New("krylov: operator or preconditioner is not positive definite")
	ErrBreakdown           = errors.New("krylov: breakdown of the method")
	ErrStagnation          = errors.New("krylov: stagnation")
	ErrDiverged            = errors.New("krylov: diverged")
	ErrNonFinite           = errors.New("krylov: non-finite value")
)

// check validates the common arguments of Solve: settings, a square
// operator of n columns, len rhs = len x = n. It returns n.
func check(b backend.Backend, op Operator, rhs, x backend.Vector, s Settings) (int, error) {
	if b == nil || op == nil || rhs == nil || x == nil {
		return 0, fmt.Errorf("%w: nil backend, operator or vector", ErrSettings)
	}
	if s.MaxIter < 1 || !(s.Tol >= 0) || !(s.AbsTol >= 0) || !(s.DivergenceFactor >= 0) ||
		math.IsInf(s.Tol, 0) || math.IsInf(s.AbsTol, 0) {
		return 0, fmt.Errorf("%w: MaxIter %d, Tol %v, AbsTol %v, DivergenceFactor %v", ErrSettings, s.MaxIter, s.Tol, s.AbsTol, s.DivergenceFactor)
	}
	m, n := op.Dims()
	if m != n || rhs.Len() != n || x.Len() != n {
		return 0, fmt.Errorf("%w: operator %d×%d, rhs %d, x %d", ErrShape, m, n, rhs.Len(), x.Len())
	}
	if s.Residual != nil && s.Residual.Len() != n {
		return 0, fmt.Errorf("%w: Residual has %d elements, want %d", ErrShape, s.Residual.Len(), n)
	}
	return n, nil
}

// divergence returns the factor of Settings.DivergenceFactor.
func (s Settings) divergence() float64 {
	if s.DivergenceFactor == 0 {
		return 1e8
	}
	return s.DivergenceFactor
}

// target returns the residual norm at which a solve of ‖b‖ = bnorm stops.
func (s Settings) target(bnorm float64) float64 { return s.Tol*bnorm + s.AbsTol }

// Workspace keeps the work vectors of solves on one backend for reuse: a
// solver given one (Settings.Workspace) takes its vectors from it — zeroed,
// as fresh ones — and leaves them there at the end, instead of allocating
// and freeing its own at every Solve, so that repeated solves (Newton's
// steps, the rounds of an accuracy target) allocate nothing after the first.
// A Workspace serves one solve at a time; Free releases its vectors.
type Workspace struct {
	b       backend.Backend
	vecs    []backend.Vector
	used    []bool
	scratch []backend.Vector
	host    []float64
}

// NewWorkspace returns an empty workspace for solves on b.
func NewWorkspace(b backend.Backend) *Workspace { return &Workspace{b: b} }

// Free releases the workspace's vectors; it may be used again afterwards.
func (w *Workspace) Free() {
	for _, v := range w.vecs {
		w.b.Free(v)
	}
	w.vecs, w.used = w.vecs[:0], w.used[:0]
}

// take returns an unused vector of n elements, zeroed.
func (w *Workspace) take(n int) (backend.Vector, error) {
	for i, v := range w.vecs {
		if !w.used[i] && v.Len() == n {
			w.used[i] = true
			w.b.Fill(v, 0)
			return v, nil
		}
	}
	v, err := w.b.NewVector(n)
	if err != nil {
		return nil, err
	}
	w.vecs, w.used = append(w.vecs, v), append(w.used, true)
	return v, nil
}

// release marks every vector unused (the end of a solve).
func (w *Workspace) release() { clear(w.used) }

// hostBuf returns a host buffer of n elements.
func (w *Workspace) hostBuf(n int) []float64 {
	if cap(w.host) < n {
		w.host = make([]float64, n)
	}
	return w.host[:n]
}

// workspace gives a solve its n-vectors: from the caller's Workspace, or
// allocated and freed together.
type workspace struct {
	b    backend.Backend
	pool *Workspace
	vecs []backend.Vector
}

func newWorkspace(b backend.Backend, pool *Workspace) workspace {
	if pool != nil && pool.b != b {
		pool = nil // a workspace of another backend: allocate
	}
	return workspace{b: b, pool: pool}
}

// vec returns a zeroed vector of n elements.
func (w *workspace) vec(n int) (backend.Vector, error) {
	if w.pool != nil {
		return w.pool.take(n)
	}
	v, err := w.b.NewVector(n)
	if err != nil {
		return nil, err
	}
	w.vecs = append(w.vecs, v)
	return v, nil
}

// many returns k zeroed vectors of n elements.
func (w *workspace) many(k, n int) ([]backend.Vector, error) {
	var out []backend.Vector
	if w.pool != nil {
		if cap(w.pool.scratch) < k {
			w.pool.scratch = make([]backend.Vector, k)
		}
		out = w.pool.scratch[:k]
	} else {
		out = make([]backend.Vector, k)
	}
	for i := range out {
		v, err := w.vec(n)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// hostBuf returns a host buffer of n elements.
func (w *workspace) hostBuf(n int) []float64 {
	if w.pool != nil {
		return w.pool.hostBuf(n)
	}
	return make([]float64, n)
}

// free releases the solve's vectors: back to the Workspace, or freed.
func (w *workspace) free() {
	if w.pool != nil {
		w.pool.release()
		return
	}
	for _, v := range w.vecs {
		w.b.Free(v)
	}
	w.vecs = nil
}

// loop is the bookkeeping every solver shares: the solution record, the
// stopping tests and the history. A solver calls start with ‖r_0‖, then
// step with each new residual norm; both report whether to stop.
type loop struct {
	ctx    context.Context
	b      backend.Backend
	s      Settings
	sol    Solution
	t0     time.Time
	target float64
	r0     float64
	// floor: the solver updates its residual recursively, and stops as
	// Converged at residualFloor (see there).
	floor bool
	// x is the iterate the Monitor sees.
	x backend.Vector
	// x0zero: initialResidual found x_0 = 0 (A x_0 = 0 without a product).
	x0zero bool
}

func newLoop(ctx context.Context, b backend.Backend, s Settings, x backend.Vector) *loop {
	return &loop{ctx: ctx, b: b, s: s, t0: time.Now(), x: x}
}

// start records ‖b‖ and ‖r_0‖ and reports whether the solve is over
// already (converged, or a failure: recorded).
func (l *loop) start(bnorm, rnorm float64) bool {
	l.sol.RHSNorm, l.r0 = bnorm, rnorm
	l.target = l.s.target(bnorm)
	if l.s.History {
		l.sol.History = make([]float64, 0, l.s.MaxIter+1)
	}
	return l.record(rnorm)
}

// step counts an iteration ending with residual norm rnorm and reports
// whether to stop.
func (l *loop) step(rnorm float64) bool {
	l.sol.Iterations++
	return l.record(rnorm)
}

// record applies the stopping tests to rnorm.
func (l *loop) record(rnorm float64) bool {
	l.sol.Residual = rnorm
	if l.s.History {
		l.sol.History = append(l.sol.History, rnorm)
	}
	if err := l.b.Err(); err != nil {
		return l.fail(err)
	}
	if math.IsNaN(rnorm) || math.IsInf(rnorm, 0) {
		return l.fail(fmt.Errorf("%w: residual norm %v after %d iterations", ErrNonFinite, rnorm, l.sol.Iterations))
	}
	if l.s.Monitor != nil {
		if err := l.s.Monitor(l.sol.Iterations, l.x, rnorm); err != nil {
			return l.fail(err)
		}
	}
	switch {
	case rnorm <= l.target || (l.floor && rnorm <= residualFloor*math.Max(l.sol.RHSNorm, l.r0)):
		l.sol.Status = Converged
		return true
	case rnorm > l.s.divergence()*l.r0 && l.r0 > 0:
		return l.fail(fmt.Errorf("%w: residual norm %.3g > %.3g·‖r_0‖ after %d iterations", ErrDiverged, rnorm, l.s.divergence(), l.sol.Iterations))
	case l.sol.Iterations >= l.s.MaxIter:
		l.sol.Status = IterationLimit
		return true
	}
	if err := l.ctx.Err(); err != nil {
		l.sol.Status, l.sol.Err = Canceled, err
		return true
	}
	return false
}

// exact records that x solves the system exactly: a true residual of 0
// found after the last iteration (GMRES at a restart), Converged.
func (l *loop) exact() {
	l.sol.Residual, l.sol.Status, l.sol.Err = 0, Converged, nil
	if k := len(l.sol.History); k > 0 {
		l.sol.History[k-1] = 0
	}
}

// fail records a failure and reports true (stop).
func (l *loop) fail(err error) bool {
	l.sol.Status, l.sol.Err = Failed, err
	return true
}

// trueResidual copies r, the residual b − A x that the solver recomputed
// from a product with the current x, into Settings.Residual, if any.
func (l *loop) trueResidual(r backend.Vector) {
	if l.s.Residual != nil {
		l.b.Copy(l.s.Residual, r)
		l.sol.ResidualSet = true
	}
}

// done returns the solution with its elapsed time.
func (l *loop) done() Solution {
	l.sol.Elapsed = time.Since(l.t0)
	return l.sol
}

// apply sets dst ← A x, counting it.
func (l *loop) apply(op Operator, dst, x backend.Vector) error {
	l.sol.MatVecs++
	return op.Apply(dst, x)
}

// applyTrans sets dst ← Aᵀ x, counting it.
func (l *loop) applyTrans(op Transposer, dst, x backend.Vector) error {
	l.sol.TransVecs++
	return op.ApplyTrans(dst, x)
}

// precond sets dst ← M⁻¹ x, counting it.
func (l *loop) precond(m Operator, dst, x backend.Vector) error {
	l.sol.PrecVecs++
	return m.Apply(dst, x)
}

// initialResidual sets r ← rhs − A x, the residual of the starting point,
// with one product counted by l; when ‖x‖ = 0 it sets r ← rhs without a
// product (A·0 = 0). It returns the error of the product.
func initialResidual(l *loop, op Operator, rhs, x, r backend.Vector) error {
	if l.b.Nrm2(x) == 0 {
		l.b.Copy(r, rhs)
		l.x0zero = true
		return nil
	}
	if err := l.apply(op, r, x); err != nil {
		return err
	}
	l.b.Axpby(1, rhs, -1, r)
	return nil
}

// residualFloor bounds the solvers that update their residual recursively
// (CG, PCG, MINRES, CGNE). Once the tracked residual norm is at most
// residualFloor·max(‖b‖, ‖r_0‖) (about 2e-19 relative), it is far below the
// rounding floor of the true residual (about ε‖A‖‖x‖), the iterate can no
// longer change, and further iterations would only let the recursion
// underflow into a false failure (pᵀAp = 0, rᵀz = 0, Aᵀr = 0). The solver
// then stops as Converged, as hypergrad's conjugate gradients do: this
// matters only for a tolerance below that floor (Tol = AbsTol = 0, say).
const residualFloor = 0x1p-62

// TrueResidual returns ‖b − A x‖, computed with one application of A into
// a temporary vector of b.
func TrueResidual(b backend.Backend, op Operator, rhs, x backend.Vector) (float64, error) {
	r, err := b.NewVector(rhs.Len())
	if err != nil {
		return 0, err
	}
	defer b.Free(r)
	if err := op.Apply(r, x); err != nil {
		return 0, err
	}
	b.Axpby(1, rhs, -1, r)
	n := b.Nrm2(r)
	return n, b.Err()
}
