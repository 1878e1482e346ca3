package hypergrad

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// trajectory gives ITD's reverse pass the inner iterates w_s, for
// s = t−1, t−2, … in decreasing order.
type trajectory interface {
	// observe records w_k; the forward pass calls it with w_0, …, w_t.
	innerObserver
	// at returns w_s (valid until the next call); calls come with s
	// decreasing.
	at(s int) (backend.Vector, error)
}

// storedTrajectory keeps the last keep+1 iterates: O(keep·d) memory.
type storedTrajectory struct {
	r    *run
	ring []backend.Vector
}

func newStoredTrajectory(r *run, keep, d int) (*storedTrajectory, error) {
	t := &storedTrajectory{r: r, ring: make([]backend.Vector, keep+1)}
	for i := range t.ring {
		v, err := r.vec(d)
		if err != nil {
			return nil, err
		}
		t.ring[i] = v
	}
	return t, nil
}

func (t *storedTrajectory) observe(k int, w backend.Vector) error {
	t.r.b.Copy(t.ring[k%len(t.ring)], w)
	return nil
}

func (t *storedTrajectory) at(s int) (backend.Vector, error) { return t.ring[s%len(t.ring)], nil }

// checkpointedTrajectory stores the inner state every seg = ⌈√keep⌉ steps
// (w_k, and w_{k−1} for heavy ball and FISTA, whose momenta β_k depend on k
// alone and are recomputed by fistaMomenta) for the last keep steps, and recomputes
// one segment of seg iterates at a time during the reverse pass: memory
// O(√keep·d) instead of O(keep·d), at the cost of recomputing each of the
// keep reverse steps' iterates once (at most one more forward pass). The
// recomputation repeats the forward pass's operations in the same order, so
// the iterates, and the hypergradient, are bit-identical to stored ITD.
type checkpointedTrajectory struct {
	r       *run
	spec    innerSpec
	seg     int
	cks     []checkpoint // ring of checkpoints
	last    backend.Vector
	buf     []backend.Vector // w_{base}, …, w_{base+seg−1}
	base    int              // iterate held in buf[0]; −1: none
	grad    backend.Vector
	scratch backend.Vector
	beta    []float64 // FISTA's momenta β_0, β_1, … (as far as needed)
}

type checkpoint struct {
	k       int
	w, prev backend.Vector
}

func newCheckpointedTrajectory(r *run, spec innerSpec, keep, d int) (*checkpointedTrajectory, error) {
	seg := max(1, int(math.Ceil(math.Sqrt(float64(keep)))))
	t := &checkpointedTrajectory{r: r, spec: spec, seg: seg, base: -1,
		cks: make([]checkpoint, (keep+seg-1)/seg+2), buf: make([]backend.Vector, seg)}
	heavy := spec.kind == innerHB || spec.kind == innerFISTA // w_{k−1} too
	var err error
	for i := range t.cks {
		t.cks[i].k = -1
		if t.cks[i].w, err = r.vec(d); err != nil {
			return nil, err
		}
		if heavy {
			if t.cks[i].prev, err = r.vec(d); err != nil {
				return nil, err
			}
		}
	}
	for i := range t.buf {
		if t.buf[i], err = r.vec(d); err != nil {
			return nil, err
		}
	}
	if t.grad, err = r.vec(d); err != nil {
		return nil, err
	}
	if heavy {
		if t.last, err = r.vec(d); err != nil {
			return nil, err
		}
		if t.scratch, err = r.vec(d); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *checkpointedTrajectory) observe(k int, w backend.Vector) error {
	b := t.r.b
	if k%t.seg == 0 {
		c := &t.cks[(k/t.seg)%len(t.cks)]
		c.k = k
		b.Copy(c.w, w)
		if c.prev != nil {
			if k == 0 {
				b.Copy(c.prev, w) // w_{−1} = w_0
			} else {
				b.Copy(c.prev, t.last)
			}
		}
	}
	if t.last != nil {
		b.Copy(t.last, w)
	}
	return nil
}

func (t *checkpointedTrajectory) at(s int) (backend.Vector, error) {
	if t.base < 0 || s < t.base || s >= t.base+t.seg {
		if err := t.recompute(s-s%t.seg, s); err != nil {
			return nil, err
		}
	}
	return t.buf[s-t.base], nil
}

// recompute refills buf with w_base, …, w_upto from the checkpoint at base,
// by the forward pass's own steps (the reverse pass asks for the largest s of
// a segment first, so no iterate beyond it is computed).
func (t *checkpointedTrajectory) recompute(base, upto int) error {
	c := &t.cks[(base/t.seg)%len(t.cks)]
	if c.k != base {
		return &Error{Method: t.r.res.Method, Phase: "reverse", Iter: -1, Err: errCheckpoint}
	}
	b := t.r.b
	b.Copy(t.buf[0], c.w)
	var prev backend.Vector
	if c.prev != nil {
		b.Copy(t.scratch, c.prev)
		prev = t.scratch
	}
	if t.spec.kind == innerFISTA && len(t.beta) < upto {
		t.beta = fistaMomenta(t.spec.q, upto)
	}
	for i := 1; i <= upto-base; i++ {
		cur, next := t.buf[i-1], t.buf[i]
		switch t.spec.kind {
		case innerHB:
			// As the forward pass: prev ← (1+β)w_k − βw_{k−1}; prev ← prev − α∇g(w_k).
			if err := t.r.innerGrad(t.grad, cur); err != nil {
				return err
			}
			b.Copy(next, prev)
			b.Axpby(1+t.spec.beta, cur, -t.spec.beta, next)
			b.Axpy(-t.spec.alpha, t.grad, next)
			b.Copy(prev, cur)
		case innerFISTA:
			// As the forward pass: z ← (1+β_k)y_k − β_k y_{k−1}; y_{k+1} = z − τ∇g(z).
			beta := t.beta[base+i-1]
			b.Copy(next, cur)
			b.Axpby(-beta, prev, 1+beta, next)
			if err := t.r.innerGrad(t.grad, next); err != nil {
				return err
			}
			b.Axpy(-t.spec.alpha, t.grad, next)
			b.Copy(prev, cur)
		default:
			if err := t.r.innerGrad(t.grad, cur); err != nil {
				return err
			}
			b.Copy(next, cur)
			b.Axpy(-t.spec.alpha, t.grad, next)
		}
	}
	t.base = base
	return b.Err()
}
