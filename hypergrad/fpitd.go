package hypergrad

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// FixedPointITD is iterative differentiation through the fixed-point
// iteration w_{s+1} = Φ(w_s, λ) (Grazzi et al. 2020, Algorithm 1): the exact
// gradient of the truncated objective f_t(λ) = E(w_t(λ), λ), w_0 fixed.
//
// Reverse mode (the default) stores the iterates and runs, from
// p_t = ∇_wE(w_t) and g = ∇_λE(w_t),
//
//	for s = t−1, …, t−K:  g += ∂_λΦ(w_s)ᵀ p_{s+1},   p_s = ∂_wΦ(w_s)ᵀ p_{s+1},
//
// one JacTransVec and one HyperJacTransVec per step, O(K·d) memory
// (Truncate = K > 0: the last K steps only, Shaban et al. 2019; 0: all t).
// With Checkpoint it stores every ⌈√K⌉-th iterate and recomputes one segment
// at a time with Φ (Griewank's checkpointing): O(√K·d) memory for at most K
// more maps, bit-identical.
//
// Forward mode carries the Jacobian Z_s = ∂w_s/∂λ (d×h, h columns of
// length d, Z_0 = 0):
//
//	Z_{s+1} = ∂_wΦ(w_s) Z_s + ∂_λΦ(w_s),   ∇f_t = ∇_λE(w_t) + Z_tᵀ∇_wE(w_t),
//
// h JacVecs and h HyperJacVecs per step, O(d·h) memory and no stored
// trajectory: the choice for few hyperparameters. It is the same gradient
// as reverse mode (to rounding) and takes no Truncate or Checkpoint.
//
// MaxBytes bounds the memory, estimated before anything is allocated (see
// MemoryBytes): ∂w/∂λ in forward mode (0: 1 GiB), the stored or
// checkpointed iterates in reverse mode (0: DefaultMaxBytes). Beyond it
// EstimateFixedPoint fails with ErrTooLarge, saying what would fit.
//
// The iteration stops early once ‖w_{s+1} − w_s‖ ≤ TolInner (0: off); t is
// then the steps made. A step showing Φ is not a contraction fails with
// ErrNotContraction (see FixedPointAID).
type FixedPointITD struct {
	T          int  // fixed-point iterations (≥ 0)
	Truncate   int  // reverse steps K (0: all T); reverse mode only
	Checkpoint bool // O(√K·d) memory by recomputation; reverse mode only
	Forward    bool // forward mode
	TolInner   float64
	MaxBytes   int64   // memory cap (0: 1 GiB forward, DefaultMaxBytes reverse)
	Monitor    Monitor // optional progress callback
}

// forwardMaxBytes is forward mode's memory budget when MaxBytes is 0.
const forwardMaxBytes int64 = 1 << 30

// keep returns the number K of reverse steps: Truncate, or T when
// Truncate is 0 or at least T.
func (m *FixedPointITD) keep() int {
	if m.Truncate > 0 && m.Truncate < m.T {
		return m.Truncate
	}
	return m.T
}

// memory returns the estimated bytes and the budget of m on a problem of
// inner dimension d with h hyperparameters (see MemoryBytes).
func (m *FixedPointITD) memory(d, h int) (need float64, limit int64) {
	if m.Forward {
		// Z's h columns, the iterate and four work vectors; three of length h.
		return vectorBytes(float64(h)+5, d) + vectorBytes(3, h), maxBytesOr(m.MaxBytes, forwardMaxBytes)
	}
	return fpTrajectoryBytes(m.Checkpoint, m.keep(), d) + vectorBytes(3, d) + vectorBytes(2, h),
		maxBytesOr(m.MaxBytes, DefaultMaxBytes)
}

// fpTrajectoryBytes estimates reverse mode's iterates over K = keep steps:
// K+2 vectors of length d stored (the ring and a spare), or ⌈K/s⌉+2
// checkpoints, s = ⌈√K⌉ iterates of one segment and a spare.
func fpTrajectoryBytes(checkpoint bool, keep, d int) float64 {
	k := float64(keep)
	if checkpoint {
		seg := math.Max(1, math.Ceil(math.Sqrt(k)))
		return vectorBytes(math.Ceil(k/seg)+2+seg+1, d)
	}
	return vectorBytes(k+2, d)
}

// MemoryBytes estimates the bytes EstimateFixedPoint allocates on a
// problem of inner dimension d with h hyperparameters, with 8d + 64 bytes
// per vector of length d and K the reverse steps (Truncate, or T):
//
//	reverse, stored:        K+2 vectors of length d (the iterates w_{t−K}, …, w_t, a spare)
//	reverse, checkpointed:  ⌈K/s⌉+2 checkpoints, s = ⌈√K⌉ iterates of one segment, a spare
//	forward:                h+5 vectors of length d (Z = ∂w/∂λ, the iterate, work), 3 of length h
//
// plus, in reverse mode, 3 work vectors of length d and 2 of length h.
// EstimateFixedPoint refuses with ErrTooLarge when it exceeds MaxBytes. The
// value saturates at math.MaxInt64.
func (m *FixedPointITD) MemoryBytes(d, h int) int64 {
	need, _ := m.memory(d, h)
	return saturate(need)
}

// tooLarge is the ErrTooLarge error of a run needing need bytes of limit.
func (m *FixedPointITD) tooLarge(need float64, limit int64, d, h int) error {
	if m.Forward {
		return fmt.Errorf("%w (%w): forward mode needs about %s for ∂w/∂λ (d = %d, h = %d), over MaxBytes = %s; use reverse mode",
			ErrTooLarge, ErrInvalidSettings, bytesString(need), d, h, bytesString(float64(limit)))
	}
	keep := m.keep()
	work := vectorBytes(3, d) + vectorBytes(2, h)
	var hints []string
	if !m.Checkpoint {
		ck := fpTrajectoryBytes(true, keep, d) + work
		if ck <= float64(limit) {
			hints = append(hints, fmt.Sprintf("set Checkpoint (O(√K·d): about %s fits)", bytesString(ck)))
		}
	}
	if fit := int(math.Floor((float64(limit)-work)/(8*float64(d)+64))) - 2; fit >= 1 {
		hints = append(hints, fmt.Sprintf("set Truncate ≤ %d stored steps", fit))
	}
	hint := "raise MaxBytes if the machine has the memory"
	if len(hints) > 0 {
		hint = strings.Join(hints, ", or ")
	}
	return fmt.Errorf("%w (%w): reverse-mode ITD through K = %d fixed-point steps of d = %d needs about %s, over MaxBytes = %s; %s",
		ErrTooLarge, ErrInvalidSettings, keep, d, bytesString(need), bytesString(float64(limit)), hint)
}

var _ FixedPointEstimator = (*FixedPointITD)(nil)

// String returns "itd(fpi)", "titd<K>(fpi)" when truncated, "itd-ckpt(fpi)"
// checkpointed, or "itd-fwd(fpi)" in forward mode.
func (m *FixedPointITD) String() string {
	switch {
	case m.Forward:
		return "itd-fwd(fpi)"
	case m.Truncate > 0 && m.Truncate < m.T && m.Checkpoint:
		return fmt.Sprintf("titd%d-ckpt(fpi)", m.Truncate)
	case m.Truncate > 0 && m.Truncate < m.T:
		return fmt.Sprintf("titd%d(fpi)", m.Truncate)
	case m.Checkpoint:
		return "itd-ckpt(fpi)"
	}
	return "itd(fpi)"
}

// EstimateFixedPoint computes the ITD hypergradient. start.V0 is ignored.
// See FixedPointEstimator.
func (m *FixedPointITD) EstimateFixedPoint(ctx context.Context, p bilevel.FixedPoint, start *Start) (*Result, error) {
	r, err := newFPRun(ctx, p, m.String(), m.Monitor)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := r.res
	if m.T < 0 || m.Truncate < 0 || !(m.TolInner >= 0) || !finite(m.TolInner) || m.MaxBytes < 0 ||
		(m.Forward && (m.Truncate > 0 || m.Checkpoint)) {
		return res, r.fail("setup", -1, fmt.Errorf("%w: T = %d, Truncate = %d, TolInner = %v, MaxBytes = %d, Forward %v with Truncate or Checkpoint",
			ErrInvalidSettings, m.T, m.Truncate, m.TolInner, m.MaxBytes, m.Forward))
	}
	if need, limit := m.memory(p.InnerDim(), p.HyperDim()); need > float64(limit) {
		return res, r.fail("setup", -1, m.tooLarge(need, limit, p.InnerDim(), p.HyperDim()))
	}
	if start == nil {
		start = &Start{}
	}
	w, err := r.upload("W0", start.W0, p.InnerDim())
	if err != nil {
		return res, err
	}
	if m.Forward {
		err = m.forward(r, w)
	} else {
		err = m.reverse(r, w)
	}
	return res, err
}

// reverse is reverse-mode ITD.
func (m *FixedPointITD) reverse(r *fpRun, w backend.Vector) error {
	res, b := r.res, r.b
	d, h := r.p.InnerDim(), r.p.HyperDim()
	keep := m.T
	if m.Truncate > 0 && m.Truncate < m.T {
		keep = m.Truncate
	}
	var traj fpTrajectory
	var err error
	if m.Checkpoint {
		traj, err = newFPCheckpoints(r, keep, d)
	} else {
		traj, err = newFPRing(r, keep, d)
	}
	if err != nil {
		return r.fail("setup", -1, err)
	}
	var next, diff, hg, tmpH backend.Vector
	if err := r.vecsN(d, &next, &diff); err != nil {
		return err
	}
	if err := r.vecsN(h, &hg, &tmpH); err != nil {
		return err
	}
	if w, err = r.iterate(w, next, diff, m.T, m.TolInner, traj, nil); err != nil {
		return err
	}
	t := res.InnerIters
	steps := min(keep, t)

	t0 := time.Now()
	var cross time.Duration
	// p lives in the vector not holding w_t (diff is free again).
	pv, tmp := diff, next
	if tmp == w {
		tmp = traj.spare()
	}
	if err := r.outerGrad(pv, w); err != nil {
		return r.fail("reverse", -1, err)
	}
	c0 := time.Now()
	if err := r.outerHyperGrad(hg, w); err != nil {
		return r.fail("cross", -1, err)
	}
	cross += r.since(c0)
	res.W = r.download(w)
	for j := range steps {
		s := t - 1 - j
		if err := r.check("reverse", j); err != nil {
			return err
		}
		ws, err := traj.at(s)
		if err != nil {
			return r.fail("reverse", j, err)
		}
		if err := r.linearize(ws); err != nil {
			return r.fail("reverse", j, err)
		}
		c0 := time.Now()
		if err := r.hyperJacTransVec(tmpH, pv); err != nil {
			return r.fail("reverse", j, err)
		}
		b.Axpy(1, tmpH, hg)
		cross += r.since(c0)
		if err := r.jacTransVec(tmp, pv); err != nil {
			return r.fail("reverse", j, err)
		}
		pv, tmp = tmp, pv
		if err := r.report(PhaseReverse, j+1, pv, nan()); err != nil {
			return err
		}
	}
	if err := r.check("reverse", steps); err != nil {
		return err
	}
	res.LinearIters, res.LinearStatus = steps, Completed
	res.Bound = noFixedPointBound()
	if err := r.finish(hg); err != nil {
		return err
	}
	total := r.since(t0)
	res.Time.Cross, res.Time.Linear = cross, total-cross
	return nil
}

// forward is forward-mode ITD.
func (m *FixedPointITD) forward(r *fpRun, w backend.Vector) error {
	res, b := r.res, r.b
	d, h := r.p.InnerDim(), r.p.HyperDim()
	z := make([]backend.Vector, h)
	for j := range z {
		v, err := r.vec(d)
		if err != nil {
			return r.fail("setup", -1, err)
		}
		z[j] = v
	}
	var next, diff, jz, kz, e, hg, tmpH backend.Vector
	if err := r.vecsN(d, &next, &diff, &jz, &kz); err != nil {
		return err
	}
	if err := r.vecsN(h, &e, &hg, &tmpH); err != nil {
		return err
	}
	unit := make([]float64, h)
	var tangent time.Duration
	// Before step s: Z_{s+1} = ∂_wΦ(w_s) Z_s + ∂_λΦ(w_s), column by column.
	before := func(s int, ws backend.Vector) error {
		t0 := time.Now()
		defer func() { tangent += r.since(t0) }()
		if err := r.linearize(ws); err != nil {
			return err
		}
		for j := range z {
			unit[j] = 1
			b.Upload(e, unit)
			unit[j] = 0
			if err := r.hyperJacVec(kz, e); err != nil {
				return err
			}
			if s > 0 { // Z_0 = 0
				if err := r.jacVec(jz, z[j]); err != nil {
					return err
				}
				b.Axpy(1, jz, kz)
			}
			z[j], kz = kz, z[j]
		}
		return b.Err()
	}
	w, err := r.iterate(w, next, diff, m.T, m.TolInner, nil, before)
	if err != nil {
		return err
	}
	res.Time.Inner -= tangent
	c0 := time.Now()
	if err := r.outerGrad(jz, w); err != nil {
		return r.fail("cross", -1, err)
	}
	if err := r.outerHyperGrad(hg, w); err != nil {
		return r.fail("cross", -1, err)
	}
	g := r.download(hg)
	for j := range z {
		g[j] += b.Dot(z[j], jz)
	}
	if err := b.Err(); err != nil {
		return r.fail("cross", -1, err)
	}
	b.Upload(hg, g)
	res.LinearIters, res.LinearStatus = res.InnerIters, Completed
	res.Bound = noFixedPointBound()
	res.W = r.download(w)
	if err := r.finish(hg); err != nil {
		return err
	}
	res.Time.Linear, res.Time.Cross = tangent, r.since(c0)
	return nil
}

// fpTrajectory gives the reverse pass the iterates w_s in decreasing s.
type fpTrajectory interface {
	innerObserver // records w_s as the iteration makes it
	at(s int) (backend.Vector, error)
	// spare returns a work vector of length d that at never returns.
	spare() backend.Vector
}

// fpRing keeps the last keep+1 iterates.
type fpRing struct {
	r    *fpRun
	ring []backend.Vector
	tmp  backend.Vector
}

func newFPRing(r *fpRun, keep, d int) (*fpRing, error) {
	t := &fpRing{r: r, ring: make([]backend.Vector, keep+1)}
	for i := range t.ring {
		v, err := r.vec(d)
		if err != nil {
			return nil, err
		}
		t.ring[i] = v
	}
	var err error
	t.tmp, err = r.vec(d)
	return t, err
}

func (t *fpRing) observe(s int, w backend.Vector) error {
	t.r.b.Copy(t.ring[s%len(t.ring)], w)
	return nil
}
func (t *fpRing) at(s int) (backend.Vector, error) { return t.ring[s%len(t.ring)], nil }
func (t *fpRing) spare() backend.Vector            { return t.tmp }

// fpCheckpoints stores w_s every seg = ⌈√keep⌉ steps and recomputes one
// segment at a time with Φ, as the forward pass did: the same bits.
type fpCheckpoints struct {
	r    *fpRun
	seg  int
	cks  []int // step of each checkpoint slot, −1: empty
	ckw  []backend.Vector
	buf  []backend.Vector // w_base, …, w_{base+seg−1}
	base int
	tmp  backend.Vector
}

func newFPCheckpoints(r *fpRun, keep, d int) (*fpCheckpoints, error) {
	seg := max(1, int(math.Ceil(math.Sqrt(float64(keep)))))
	n := (keep+seg-1)/seg + 2
	t := &fpCheckpoints{r: r, seg: seg, cks: make([]int, n), ckw: make([]backend.Vector, n),
		buf: make([]backend.Vector, seg), base: -1}
	var err error
	for i := range t.ckw {
		t.cks[i] = -1
		if t.ckw[i], err = r.vec(d); err != nil {
			return nil, err
		}
	}
	for i := range t.buf {
		if t.buf[i], err = r.vec(d); err != nil {
			return nil, err
		}
	}
	t.tmp, err = r.vec(d)
	return t, err
}

func (t *fpCheckpoints) spare() backend.Vector { return t.tmp }

func (t *fpCheckpoints) observe(s int, w backend.Vector) error {
	if s%t.seg == 0 {
		i := (s / t.seg) % len(t.cks)
		t.cks[i] = s
		t.r.b.Copy(t.ckw[i], w)
	}
	return nil
}

func (t *fpCheckpoints) at(s int) (backend.Vector, error) {
	if t.base < 0 || s < t.base || s >= t.base+t.seg {
		base := s - s%t.seg
		i := (base / t.seg) % len(t.cks)
		if t.cks[i] != base {
			return nil, errCheckpoint
		}
		t.r.b.Copy(t.buf[0], t.ckw[i])
		for k := 1; k <= s-base; k++ {
			if err := t.r.mapW(t.buf[k], t.buf[k-1]); err != nil {
				return nil, err
			}
		}
		t.base = base
	}
	return t.buf[s-t.base], t.r.b.Err()
}
