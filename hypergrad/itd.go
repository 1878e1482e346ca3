package hypergrad

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// ITD is iterative differentiation (Grazzi et al. 2020, Algorithm 1), in
// reverse mode unless Forward: the exact gradient of the truncated objective
// f_t(λ) = E(w_t(λ), λ), where w_t(λ) is T steps of Inner from a fixed w_0
// with fixed step sizes, computed by back-propagation through the stored
// trajectory w_0, …, w_t. For gradient descent, with p_t = ∇_wE(w_t),
//
//	for s = t−1, …, t−K:  ∇̂f += −α B(w_s)ᵀ p_{s+1},  p_s = (I − αA(w_s)) p_{s+1},
//
// starting from ∇̂f = ∇_λE(w_t). For heavy ball the adjoint recursion also
// carries the momentum term: a_s = ((1+β)I − αA(w_s)) a_{s+1} − β a_{s+2}.
// FISTA's step y_{s+1} = z_s − τ∇_w g(z_s), z_s = (1+β_s)y_s − β_s y_{s−1},
// linearizes at z_s (rebuilt from the stored y_s, y_{s−1} with the forward
// pass's operations) and carries ā_s = (I − τA(z_s)) a_{s+1} to
// a_s += (1+β_s) ā_s and a_{s−1} = −β_s ā_s, with ∇̂f += −τ B(z_s)ᵀ a_{s+1};
// it stores one more iterate (checkpointed: y_{k−1} at each checkpoint too).
// Truncate = K > 0 back-propagates through the last K steps only (truncated
// ITD, Shaban et al. 2019) and stores only K+1 iterates; 0 means all steps.
// Memory is O(K·d); AID needs O(d). With Checkpoint, ITD stores the state
// every ⌈√K⌉ steps and recomputes the iterates of one segment at a time in
// the reverse pass (Griewank's √t checkpointing): O(√K·d) memory for at most
// K more inner gradients, with a bit-identical result.
//
// When the problem implements bilevel.LinearizationStore (ridge, logreg) and
// Checkpoint is off, the forward pass records the linearization at each w_s
// (for logreg, the curvature weights that the gradient's pass over X computes
// anyway) and the reverse pass restores it instead of linearizing again:
// two passes over the data per step instead of three, again with a
// bit-identical result, for (K+1)·SlotBytes of memory (used when that is at
// most MaxCacheBytes, default 1 GiB).
//
// Before allocating anything, Estimate estimates the memory it needs (see
// MemoryBytes: the stored or checkpointed trajectory and the work vectors,
// or the recorded linearizations instead of the trajectory) and fails with
// ErrTooLarge when that exceeds MaxBytes, saying whether Checkpoint or which
// Truncate would fit.
//
// Forward mode (Forward) carries Z_s = ∂w_s/∂λ (h columns of length d,
// Z_0 = 0) along the inner solve instead of storing the trajectory:
//
//	gradient descent  Z_{s+1} = Z_s − α(A(w_s)Z_s + B(w_s)),
//	heavy ball        Z_{s+1} = (1+β)Z_s − βZ_{s−1} − α(A(w_s)Z_s + B(w_s)),
//	FISTA             Zz_s = (1+β_s)Zy_s − β_s Zy_{s−1},
//	                  Zy_{s+1} = Zz_s − τ(A(z_s)Zz_s + B(z_s)),
//
// and ∇f_t = ∇_λE(w_t) + Z_tᵀ∇_wE(w_t). It is the same gradient of f_t as
// reverse mode (to rounding), for O(d·h) memory and h HessVecs and h
// cross products B·e_j per step (the problem must be a
// bilevel.CrossApplier; the products are counted in Counts.CrossVecs):
// the choice for few hyperparameters and many steps. It takes no Truncate
// or Checkpoint, and gives no error bound. The tangent steps run inside
// the inner solve (the Monitor sees PhaseInner; their time is Time.Linear,
// their failures are of phase "linear").
type ITD struct {
	Inner      InnerSolver // nil means GradientDescent{}
	T          int         // inner iterations (≥ 1; 0 is ErrInvalidSettings)
	Truncate   int         // reverse steps K (0: all T)
	TolInner   float64     // stop the inner solve when ‖∇_w g‖ ≤ TolInner (0: off)
	Checkpoint bool        // O(√K·d) memory by recomputation
	Forward    bool        // forward mode: O(d·h) memory, no Truncate or Checkpoint
	// MaxCacheBytes caps the memory of recorded linearizations (0: 1 GiB;
	// negative: never record).
	MaxCacheBytes int64
	// MaxBytes bounds the memory of the trajectory, the recorded
	// linearizations and the work vectors, checked before allocating
	// (0: DefaultMaxBytes, 1 GiB in forward mode; negative:
	// ErrInvalidSettings).
	MaxBytes int64
	Monitor  Monitor // optional progress callback
}

// DefaultMaxBytes is the memory budget of ITD and of FixedPointITD's
// reverse mode when their MaxBytes is 0: 8 GiB.
const DefaultMaxBytes int64 = 8 << 30

// vectorBytes estimates the memory of n backend vectors of length d: 8·d
// bytes of values and 64 bytes of handle each (n is a float64 so that
// counts near math.MaxInt do not overflow).
func vectorBytes(n float64, d int) float64 { return n * (8*float64(d) + 64) }

// saturate converts a byte estimate to int64, math.MaxInt64 beyond it.
func saturate(b float64) int64 {
	if !(b < math.MaxInt64) {
		return math.MaxInt64
	}
	return int64(b)
}

// bytesString formats a byte estimate with a binary prefix:
// "1.07e+09 bytes (1.0 GiB)".
func bytesString(b float64) string {
	if b < 1<<10 {
		return fmt.Sprintf("%.0f bytes", b)
	}
	v, i := b, 0
	for v >= 1<<10 && i < 6 {
		v /= 1 << 10
		i++
	}
	return fmt.Sprintf("%.3g bytes (%.1f %ciB)", b, v, "KMGTPE"[i-1])
}

// maxBytesOr returns n, or def for 0.
func maxBytesOr(n, def int64) int64 {
	if n == 0 {
		return def
	}
	return n
}

// keep returns the number K of reverse steps: Truncate, or T when
// Truncate is 0 or at least T.
func (m *ITD) keep() int {
	if m.Truncate > 0 && m.Truncate < m.T {
		return m.Truncate
	}
	return m.T
}

// workBytes estimates ITD's vectors besides the trajectory for inner
// dimension d and h hyperparameters: eight of length d (the iterate, the
// adjoints, the inner solver's gradient and momentum, scratch) and two of
// length h.
func workBytes(d, h int) float64 { return vectorBytes(8, d) + vectorBytes(2, h) }

// trajectoryBytes estimates the memory of ITD's stored or checkpointed
// trajectory over K = keep reverse steps of T = t inner steps (see
// MemoryBytes).
func trajectoryBytes(inner string, checkpoint bool, keep, t, d int) float64 {
	k := float64(keep)
	switch {
	case checkpoint:
		seg := math.Max(1, math.Ceil(math.Sqrt(k)))
		cks := math.Ceil(k/seg) + 2
		n := cks + seg + 1 // checkpoints, one segment, the gradient
		if inner == "hb" || inner == "fista" {
			n += cks + 2 // w_{k−1} at each checkpoint, the last iterate, scratch
		}
		if inner == "fista" {
			return vectorBytes(n, d) + 8*float64(t) // and the momenta
		}
		return vectorBytes(n, d)
	case inner == "fista": // K+2 iterates and the T momenta
		return vectorBytes(k+2, d) + 8*float64(t)
	}
	return vectorBytes(k+1, d)
}

// MemoryBytes estimates the bytes Estimate allocates on a problem of inner
// dimension d with h hyperparameters when it stores the trajectory (no
// recorded linearizations): with K the reverse steps (Truncate, or T) and
// 8d + 64 bytes per vector of length d,
//
//	stored:        K+1 iterates (FISTA: K+2, and 8·T bytes of momenta)
//	checkpointed:  ⌈K/s⌉+2 checkpoints (heavy ball and FISTA: twice, and
//	               2 more vectors; FISTA: and 8·T bytes of momenta),
//	               s = ⌈√K⌉ iterates of one segment, 1 gradient
//
// plus 8 work vectors of length d and 2 of length h. Where the problem
// records linearizations (see ITD), the (K+1)·SlotBytes of its slots,
// bounded by MaxCacheBytes, replace the iterates. Estimate refuses with
// ErrTooLarge when its estimate exceeds MaxBytes. The value saturates at
// math.MaxInt64. In forward mode it is the h columns of Z (2h for heavy
// ball and FISTA) and 8 vectors of length d, and 3 of length h.
func (m *ITD) MemoryBytes(d, h int) int64 {
	if m.Forward {
		return saturate(m.forwardBytes(d, h))
	}
	return saturate(trajectoryBytes(m.inner().String(), m.Checkpoint, m.keep(), m.T, d) + workBytes(d, h))
}

// tooLarge is the ErrTooLarge error of an ITD run needing need bytes of
// the budget limit, with what would fit instead.
func (m *ITD) tooLarge(need float64, limit int64, d, h int) error {
	keep, inner := m.keep(), m.inner().String()
	work := workBytes(d, h)
	hint := ""
	if !m.Checkpoint {
		ck := trajectoryBytes(inner, true, keep, m.T, d) + work
		if ck <= float64(limit) {
			hint = fmt.Sprintf("set Checkpoint (O(√K·d): about %s fits)", bytesString(ck))
		} else {
			hint = fmt.Sprintf("even Checkpoint needs about %s", bytesString(ck))
		}
	}
	// The largest K whose stored trajectory fits: vectorBytes(K+1, d) ≤ limit − work.
	fit := int(math.Floor((float64(limit)-work)/(8*float64(d)+64))) - 1
	if inner == "fista" { // K+2 iterates and 8·T bytes of momenta
		fit = int(math.Floor((float64(limit)-work-8*float64(m.T))/(8*float64(d)+64))) - 2
	}
	switch {
	case fit >= 1 && hint != "":
		hint += fmt.Sprintf(", or Truncate ≤ %d stored steps", fit)
	case fit >= 1:
		hint = fmt.Sprintf("set Truncate ≤ %d stored steps", fit)
	case hint == "":
		hint = "no trajectory of this d fits: raise MaxBytes if the machine has the memory"
	}
	what := fmt.Sprintf("%d stored iterates", keep+1)
	if m.Checkpoint {
		what = "its √K checkpoints"
	}
	return fmt.Errorf("%w (%w): ITD through K = %d steps of d = %d needs about %s (%s and work vectors), over MaxBytes = %s; %s",
		ErrTooLarge, ErrInvalidSettings, keep, d, bytesString(need), what, bytesString(float64(limit)), hint)
}

func (m *ITD) inner() InnerSolver {
	if m.Inner == nil {
		return GradientDescent{}
	}
	return m.Inner
}

// String returns "itd(<inner>)", "titd<K>(<inner>)" when truncated, with a
// "-ckpt" suffix on the name when checkpointed, "itd-fwd(<inner>)" in
// forward mode.
func (m *ITD) String() string {
	if m.Forward {
		return "itd-fwd(" + m.inner().String() + ")"
	}
	ck := ""
	if m.Checkpoint {
		ck = "-ckpt"
	}
	if m.Truncate > 0 && m.Truncate < m.T {
		return fmt.Sprintf("titd%d%s(%s)", m.Truncate, ck, m.inner())
	}
	return "itd" + ck + "(" + m.inner().String() + ")"
}

// Estimate computes the ITD hypergradient. start.V0 is ignored. See Estimator.
func (m *ITD) Estimate(ctx context.Context, p bilevel.Problem, start *Start) (*Result, error) {
	r, err := newRun(ctx, p, m.String(), m.Monitor)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := r.res
	if m.T < 0 || m.Truncate < 0 || m.TolInner < 0 || !finite(m.TolInner) || m.MaxBytes < 0 {
		return res, r.fail("setup", -1, fmt.Errorf("%w: T = %d, Truncate = %d, TolInner = %v, MaxBytes = %d",
			ErrInvalidSettings, m.T, m.Truncate, m.TolInner, m.MaxBytes))
	}
	if m.T == 0 {
		return res, r.fail("setup", -1, fmt.Errorf("%w: T = 0 differentiates no step (the result would be ∇_λE(w_0) alone): set T ≥ 1 inner iterations", ErrInvalidSettings))
	}
	if m.Forward {
		return res, m.estimateForward(r, start)
	}
	// The memory, before anything is allocated: the recorded
	// linearizations where the problem records them and they fit, else the
	// stored or checkpointed trajectory.
	d, h := p.InnerDim(), p.HyperDim()
	keep := m.keep()
	budget := maxBytesOr(m.MaxBytes, DefaultMaxBytes)
	limit := m.MaxCacheBytes
	if limit == 0 {
		limit = 1 << 30
	}
	work := workBytes(d, h)
	trajBytes := trajectoryBytes(m.inner().String(), m.Checkpoint, keep, m.T, d)
	ls, useSlots := p.(bilevel.LinearizationStore)
	if useSlots {
		slots := float64(keep+1) * float64(ls.SlotBytes())
		useSlots = !m.Checkpoint && m.inner().String() != "fista" && slots <= float64(limit) && work+slots <= float64(budget)
	}
	if !useSlots && work+trajBytes > float64(budget) {
		return res, r.fail("setup", -1, m.tooLarge(work+trajBytes, budget, d, h))
	}
	spec, err := m.inner().spec(r.consts)
	if err != nil {
		return res, r.fail("setup", -1, err)
	}
	fista := spec.kind == innerFISTA
	if spec.kind == innerNewton {
		return res, r.fail("setup", -1, fmt.Errorf("%w: ITD differentiates through gradient descent, heavy ball or FISTA, not %v", ErrInvalidSettings, m))
	}
	alpha, beta, heavy := spec.alpha, spec.beta, spec.kind == innerHB
	if start == nil {
		start = &Start{}
	}
	w, err := r.upload("W0", start.W0, d)
	if err != nil {
		return res, err
	}
	var (
		traj  trajectory
		store bilevel.LinearizationStore
	)
	if useSlots {
		if err := ls.AllocSlots(keep + 1); err == nil {
			store = ls
			defer ls.FreeSlots()
			r.rec = recording{store: ls, slots: keep + 1}
		} else if work+trajBytes > float64(budget) {
			return res, r.fail("setup", -1, m.tooLarge(work+trajBytes, budget, d, h))
		}
	}
	switch {
	case store != nil: // the slots hold the iterates
	case m.Checkpoint:
		traj, err = newCheckpointedTrajectory(r, spec, keep, d)
	case fista: // the reverse step from y_{s+1} needs y_s and y_{s−1}
		traj, err = newStoredTrajectory(r, keep+1, d)
	default:
		traj, err = newStoredTrajectory(r, keep, d)
	}
	if err != nil {
		return res, r.fail("setup", -1, err)
	}
	var obs innerObserver
	if traj != nil {
		obs = traj
	}
	var a, aNext, tmp, z, hg, tmpH backend.Vector
	if err := r.vecsN(d, &a, &aNext, &tmp, &z); err != nil {
		return res, err
	}
	if err := r.vecsN(h, &hg, &tmpH); err != nil {
		return res, err
	}

	w, err = r.solveInner(spec, w, m.T, m.TolInner, obs)
	r.rec = recording{}
	if err != nil {
		return res, err
	}
	t := res.InnerIters
	steps := min(keep, t)
	var fistaBeta []float64
	if fista {
		fistaBeta = fistaMomenta(spec.q, t)
	}

	t0 := time.Now()
	var cross time.Duration
	crossStep := func(dst, v backend.Vector) error {
		c0 := time.Now()
		err := r.crossVec(dst, v)
		cross += r.since(c0)
		return err
	}
	// aNext holds a_{s+1} (complete); a holds the partial a_s (the −β a_{s+2}
	// term of heavy ball, zero for gradient descent).
	if err := r.outerGrad(aNext, w); err != nil {
		return res, r.fail("reverse", -1, err)
	}
	fNorm := r.b.Nrm2(aNext)
	c0 := time.Now()
	if err := r.outerHyperGrad(hg, w); err != nil {
		return res, r.fail("cross", -1, err)
	}
	cross += r.since(c0)
	for j := 0; j < steps; j++ {
		s := t - 1 - j
		if err := r.check("reverse", j); err != nil {
			return res, err
		}
		if fista {
			if err := r.fistaPoint(z, traj, s, fistaBeta[s]); err != nil {
				return res, r.fail("reverse", j, err)
			}
			if err := r.linearize(z); err != nil {
				return res, r.fail("reverse", j, err)
			}
		} else if store != nil {
			if err := store.UseSlot(s % (keep + 1)); err != nil {
				return res, r.fail("reverse", j, err)
			}
		} else {
			ws, err := traj.at(s)
			if err != nil {
				return res, r.fail("reverse", j, err)
			}
			if err := r.linearize(ws); err != nil {
				return res, r.fail("reverse", j, err)
			}
		}
		if err := crossStep(tmpH, aNext); err != nil {
			return res, r.fail("reverse", j, err)
		}
		r.b.Axpy(-alpha, tmpH, hg)
		if err := r.hessVec(tmp, aNext); err != nil {
			return res, r.fail("reverse", j, err)
		}
		switch {
		case fista:
			// ā = (I − τA(z_s)) a_{s+1}; a_s += (1+β_s) ā; partial a_{s−1} = −β_s ā.
			r.b.Axpby(1, aNext, -alpha, tmp)
			r.b.Axpy(1+fistaBeta[s], tmp, a)
			r.b.Axpby(-fistaBeta[s], tmp, 0, aNext)
			a, aNext = aNext, a
		case heavy:
			r.b.Axpy(1+beta, aNext, a) // a_s += (1+β) a_{s+1} − α A(w_s) a_{s+1}
			r.b.Axpy(-alpha, tmp, a)
			r.b.Scal(-beta, aNext) // partial a_{s−1} = −β a_{s+1}
			a, aNext = aNext, a
		default:
			r.b.Axpy(-alpha, tmp, aNext) // p_s = p_{s+1} − α A(w_s) p_{s+1}
		}
		if err := r.report(PhaseReverse, j+1, aNext, nan()); err != nil {
			return res, err
		}
	}
	if err := r.check("reverse", steps); err != nil {
		return res, err
	}
	// The adjoint contracts for admissible steps (‖I − αA‖ < 1 for gradient
	// descent): growth beyond DivergenceFactor·‖∇_wE(w_t)‖ is divergence.
	if an := r.b.Nrm2(aNext); !finite(an) {
		return res, r.fail("reverse", steps, fmt.Errorf("%w: adjoint norm %v", ErrNonFinite, an))
	} else if fNorm > 0 && an > DivergenceFactor*fNorm {
		return res, r.fail("reverse", steps, fmt.Errorf("%w: adjoint norm %.3g > %.0e·‖∇_wE(w_t)‖ = %.3g (the step is too long for the problem)",
			ErrDiverged, an, DivergenceFactor, DivergenceFactor*fNorm))
	}
	res.LinearIters, res.LinearStatus = steps, Completed
	if fista {
		res.Bound = Bound{Kind: BoundNone, Value: math.Inf(1), Note: "ITD through FISTA: its momenta vary with the step, so it is not a fixed linear solve at w_t"}
	} else {
		res.Bound = honest(r.itdBound(w, a, aNext, fNorm))
	}
	res.W = r.download(w)
	if err := r.finish(hg); err != nil {
		return res, err
	}
	total := r.since(t0)
	res.Time.Cross = cross
	res.Time.Linear = total - cross
	return res, nil
}

// itdBound is the a posteriori bound of ITD where it is AID in disguise: when
// A and B do not depend on w (L_A = L_B = 0), ITD through K steps equals AID
// with K fixed-point (gradient descent) or heavy-ball iterations at w_t
// (Grazzi et al. 2020; Ehrhardt & Roberts 2024 §3.2), whose residual is
// r = βa_{t−K+1} − a_{t−K}, minus the sum of the reverse pass's last two
// adjoint vectors (for gradient descent, β = 0 and r = −p_{t−K}). Otherwise
// ITD has no bound (Bound.Kind none).
func (r *run) itdBound(w, a, aNext backend.Vector, fNorm float64) Bound {
	k := r.constantsForBound(w)
	c := k.c
	if k.kind != BoundNone && !(c.LA.Value == 0 && c.LB.Value == 0 && c.LA.Kind >= bilevel.Bound && c.LB.Kind >= bilevel.Bound) {
		return Bound{Kind: BoundNone, Value: math.Inf(1), Note: "ITD: A or B varies with w (L_A or L_B ≠ 0), so ITD is not a linear solve at w_t"}
	}
	r.b.Axpy(1, aNext, a) // a ← a_{t−K} + (−β a_{t−K+1}) = −r
	resid := r.b.Nrm2(a)
	if err := r.b.Err(); err != nil {
		return Bound{Kind: BoundNone, Value: math.Inf(1), Note: err.Error()}
	}
	return posterior(k, r.res.InnerResidual, fNorm, resid, math.Inf(1))
}

// fistaMomenta returns FISTA's momenta β_0, …, β_{t−1}, by the forward
// pass's recurrence with the same floating-point operations (so the
// reverse pass rebuilds z_s with its bits): t_0 = 0,
// t_{k+1} = (1 − q t_k² + √((1 − q t_k²)² + 4t_k²))/2,
// β_k = (t_k − 1)(1 − q t_{k+1})/(t_{k+1}(1 − q)).
func fistaMomenta(q float64, t int) []float64 {
	beta := make([]float64, t)
	tk := 0.0
	for k := range beta {
		tk, beta[k] = fistaNext(q, tk)
	}
	return beta
}

// fistaNext returns t_{k+1} and β_k of strongly convex FISTA from t_k and
// q = μ/L. For q ≥ 1 (κ = 1, where one step of τ = 1/L solves the problem)
// the formula is 0/0 from k = 1 on (t_k = 1); its limit as q → 1 is β_k = 0,
// and β_0 multiplies y_0 − y_{−1} = 0, so β = 0 is returned.
func fistaNext(q, tk float64) (tn, beta float64) {
	a := 1 - q*tk*tk
	tn = (a + math.Sqrt(a*a+4*tk*tk)) / 2
	if q >= 1 {
		return tn, 0
	}
	return tn, (tk - 1) * (1 - q*tn) / (tn * (1 - q))
}

// fistaPoint sets z ← z_s = (1+β_s)y_s − β_s y_{s−1} (y_{−1} = y_0) from the
// stored trajectory, with the forward pass's operations.
func (r *run) fistaPoint(z backend.Vector, traj trajectory, s int, beta float64) error {
	ys, err := traj.at(s)
	if err != nil {
		return err
	}
	r.b.Copy(z, ys)
	prev := ys
	if s > 0 {
		if prev, err = traj.at(s - 1); err != nil {
			return err
		}
	}
	r.b.Axpby(-beta, prev, 1+beta, z)
	return r.b.Err()
}
