package hypergrad

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// This file is ITD's forward mode (ITD.Forward): the Jacobian
// Z_s = ∂w_s/∂λ (d×h, as h columns of length d, Z_0 = 0 since w_0 is
// fixed) is carried along the inner solve by the derivative of each step,
// with A(w) = ∇²_ww g and B(w) = ∇²_wλ g at the step's point:
//
//	gradient descent  Z_{s+1} = Z_s − α(A(w_s)Z_s + B(w_s)),
//	heavy ball        Z_{s+1} = (1+β)Z_s − βZ_{s−1} − α(A(w_s)Z_s + B(w_s)),
//	FISTA             Zz_s = (1+β_s)Zy_s − β_s Zy_{s−1},
//	                  Zy_{s+1} = Zz_s − τ(A(z_s)Zz_s + B(z_s)),
//
// and ∇f_t = ∇_λE(w_t) + Z_tᵀ∇_wE(w_t) (Grazzi et al. 2020, Algorithm 1 in
// forward mode; the fixed-point form is FixedPointITD's). It is the
// gradient of the same f_t as reverse mode: the same steps α, β, τ and the
// same iterates (the inner solve is the reverse mode's), so the two agree
// to rounding. Column j of B(w) is B(w)·e_j (bilevel.CrossApplier).

// itdForwardColumns returns how many sets of h columns of length d forward
// mode keeps: Z_s, and for heavy ball and FISTA also Z_{s−1}.
func itdForwardColumns(inner string) float64 {
	if inner == "gd" {
		return 1
	}
	return 2
}

// forwardBytes estimates forward mode's memory (see ITD.MemoryBytes): the
// columns of Z (h, or 2h for heavy ball and FISTA) and 8 vectors of length
// d (the inner solver's state, the saved step point, two work vectors), and
// 3 vectors of length h.
func (m *ITD) forwardBytes(d, h int) float64 {
	return vectorBytes(itdForwardColumns(m.inner().String())*float64(h)+8, d) + vectorBytes(3, h)
}

// forwardTooLarge is the ErrTooLarge error of a forward-mode run needing
// need bytes of the budget limit.
func (m *ITD) forwardTooLarge(need float64, limit int64, d, h int) error {
	return fmt.Errorf("%w (%w): forward-mode ITD needs about %s for ∂w/∂λ (d = %d, h = %d, %v), over MaxBytes = %s; use reverse mode (Forward false, memory O(T·d) independent of h)",
		ErrTooLarge, ErrInvalidSettings, bytesString(need), d, h, m.inner(), bytesString(float64(limit)))
}

// estimateForward is Estimate in forward mode, after the checks common to
// both modes: it refuses Truncate and Checkpoint, Newton, a problem that is
// not a bilevel.CrossApplier, and a memory estimate over MaxBytes, before
// allocating anything.
func (m *ITD) estimateForward(r *run, start *Start) error {
	if m.Truncate > 0 || m.Checkpoint {
		return r.fail("setup", -1, fmt.Errorf("%w: forward-mode ITD differentiates through all T steps: Truncate = %d and Checkpoint = %v are reverse-mode settings",
			ErrInvalidSettings, m.Truncate, m.Checkpoint))
	}
	if _, ok := r.p.(bilevel.CrossApplier); !ok {
		return r.fail("setup", -1, fmt.Errorf("%w (%w): forward-mode ITD needs B·u: %T does not implement bilevel.CrossApplier (use reverse mode)",
			bilevel.ErrUnsupported, ErrInvalidSettings, r.p))
	}
	d, h := r.p.InnerDim(), r.p.HyperDim()
	limit := maxBytesOr(m.MaxBytes, forwardMaxBytes)
	if need := m.forwardBytes(d, h); need > float64(limit) {
		return r.fail("setup", -1, m.forwardTooLarge(need, limit, d, h))
	}
	spec, err := m.inner().spec(r.consts)
	if err != nil {
		return r.fail("setup", -1, err)
	}
	if spec.kind == innerNewton {
		return r.fail("setup", -1, fmt.Errorf("%w: ITD differentiates through gradient descent, heavy ball or FISTA, not %v", ErrInvalidSettings, m))
	}
	if start == nil {
		start = &Start{}
	}
	w, err := r.upload("W0", start.W0, d)
	if err != nil {
		return err
	}
	return m.forward(r, spec, w)
}

// forward is forward-mode ITD from the iterate w = w_0 (see ITD and the
// recursions above). The tangent step of inner step s runs once the inner
// solve has taken it (in the record hook at w_{s+1}), from a saved copy of
// the step's point, so an early stop at TolInner leaves Z = ∂w_t/∂λ for the
// t steps taken. Each step costs one Linearize, h CrossApply products
// (counted in Counts.CrossVecs) and, from s = 1 on (Z_0 = 0), h HessVecs.
func (m *ITD) forward(r *run, spec innerSpec, w backend.Vector) error {
	res, b := r.res, r.b
	d, h := r.p.InnerDim(), r.p.HyperDim()
	ca := r.p.(bilevel.CrossApplier) // checked by Estimate
	fista, heavy := spec.kind == innerFISTA, spec.kind == innerHB
	z := make([]backend.Vector, h)
	var zPrev []backend.Vector
	if heavy || fista {
		zPrev = make([]backend.Vector, h)
	}
	for j := range h {
		if err := r.vecsN(d, &z[j]); err != nil {
			return err
		}
		if zPrev != nil {
			if err := r.vecsN(d, &zPrev[j]); err != nil {
				return err
			}
		}
	}
	// pt, ptPrev: the saved w_s (FISTA: y_s, y_{s−1}); at: the step's point
	// (FISTA's z_s); az, bz: A·Z and B·e_j.
	var pt, ptPrev, at, az, bz, e, hg backend.Vector
	if err := r.vecsN(d, &pt, &az, &bz); err != nil {
		return err
	}
	if fista {
		if err := r.vecsN(d, &ptPrev, &at); err != nil {
			return err
		}
	}
	if err := r.vecsN(h, &e, &hg); err != nil {
		return err
	}
	// The hook cannot return an error: it keeps the first one and cancels
	// the inner solve, whose next check then stops it.
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	r.ctx = ctx
	var (
		hookErr error
		tangent time.Duration
		tk      float64 // FISTA's t_s, advanced as the inner solve does
		unit    = make([]float64, h)
	)
	// step advances Z by inner step s, taken at the point x (w_s, or z_s).
	step := func(s int, x backend.Vector, beta float64) error {
		if err := r.linearize(x); err != nil {
			return err
		}
		for j := range h {
			if err := r.check("linear", s); err != nil {
				return err
			}
			unit[j] = 1
			b.Upload(e, unit)
			unit[j] = 0
			r.res.Counts.CrossVecs++
			if err := ca.CrossApply(bz, e); err != nil {
				return r.fail("linear", s, err)
			}
			zj := z[j] // the tangent at the step's point: Z_s or Zz_s
			if fista {
				b.Axpby(1+beta, z[j], -beta, zPrev[j]) // zPrev ← Zz_s
				zj = zPrev[j]
			}
			if s > 0 { // Z_0 = 0 (and Zz_0 = 0): A·0 is not evaluated
				if err := r.hessVec(az, zj); err != nil {
					return r.fail("linear", s, err)
				}
				b.Axpy(1, az, bz) // bz ← A Z + B e_j
			}
			switch {
			case fista: // Zy_{s+1} = Zz_s − τ(A Zz_s + B e_j)
				b.Axpy(-spec.alpha, bz, zPrev[j])
				z[j], zPrev[j] = zPrev[j], z[j]
			case heavy: // Z_{s+1} = (1+β)Z_s − βZ_{s−1} − α(A Z_s + B e_j)
				b.Axpby(1+spec.beta, z[j], -spec.beta, zPrev[j])
				b.Axpy(-spec.alpha, bz, zPrev[j])
				z[j], zPrev[j] = zPrev[j], z[j]
			default: // Z_{s+1} = Z_s − α(A Z_s + B e_j)
				b.Axpy(-spec.alpha, bz, z[j])
			}
		}
		if err := b.Err(); err != nil {
			return r.fail("linear", s, err)
		}
		return nil
	}
	record := func(k int, wk backend.Vector) {
		if hookErr != nil {
			return
		}
		t0 := time.Now()
		defer func() { tangent += r.since(t0) }()
		if k > 0 {
			s := k - 1
			x, beta := pt, 0.0
			if fista {
				// z_s = (1+β_s)y_s − β_s y_{s−1}, the inner solve's operations.
				tk, beta = fistaNext(spec.q, tk)
				b.Copy(at, pt)
				b.Axpby(-beta, ptPrev, 1+beta, at)
				x = at
			}
			if err := step(s, x, beta); err != nil {
				hookErr = err
				cancel()
				return
			}
		}
		if fista {
			if k == 0 {
				b.Copy(ptPrev, wk) // y_{−1} = y_0
			} else {
				pt, ptPrev = ptPrev, pt
			}
		}
		b.Copy(pt, wk)
	}
	w, err := r.solveInner(spec, w, m.T, m.TolInner, record)
	if hookErr != nil {
		return hookErr
	}
	if err != nil {
		return err
	}
	res.Time.Inner -= tangent
	c0 := time.Now()
	if err := r.check("cross", -1); err != nil {
		return err
	}
	if err := r.outerGrad(az, w); err != nil {
		return r.fail("cross", -1, err)
	}
	if err := r.outerHyperGrad(hg, w); err != nil {
		return r.fail("cross", -1, err)
	}
	g := r.download(hg)
	for j := range z {
		g[j] += b.Dot(z[j], az)
	}
	if err := b.Err(); err != nil {
		return r.fail("cross", -1, err)
	}
	b.Upload(hg, g)
	res.LinearIters, res.LinearStatus = res.InnerIters, Completed
	res.Bound = Bound{Kind: BoundNone, Value: math.Inf(1), Note: "forward-mode ITD: the exact gradient of f_t, with no error bound against ∇f"}
	res.W = r.download(w)
	if err := r.finish(hg); err != nil {
		return err
	}
	res.Time.Linear, res.Time.Cross = tangent, r.since(c0)
	return nil
}
