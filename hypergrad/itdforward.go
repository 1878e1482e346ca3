package hypergrad

import (
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
// solve has taken it (tangents.observe at w_{s+1}), from a saved copy of
// the step's point, so an early stop at TolInner leaves Z = ∂w_t/∂λ for the
// t steps taken. Each step costs one Linearize, h CrossApply products
// (counted in Counts.CrossVecs) and, from s = 1 on (Z_0 = 0), h HessVecs.
func (m *ITD) forward(r *run, spec innerSpec, w backend.Vector) error {
	res, b := r.res, r.b
	d, h := r.p.InnerDim(), r.p.HyperDim()
	tg := &tangents{r: r, spec: spec, ca: r.p.(bilevel.CrossApplier), // checked by Estimate
		fista: spec.kind == innerFISTA, heavy: spec.kind == innerHB, unit: make([]float64, h)}
	tg.z = make([]backend.Vector, h)
	if tg.heavy || tg.fista {
		tg.zPrev = make([]backend.Vector, h)
	}
	for j := range h {
		if err := r.vecsN(d, &tg.z[j]); err != nil {
			return err
		}
		if tg.zPrev != nil {
			if err := r.vecsN(d, &tg.zPrev[j]); err != nil {
				return err
			}
		}
	}
	var az, hg backend.Vector
	if err := r.vecsN(d, &tg.pt, &az, &tg.bz); err != nil {
		return err
	}
	tg.az = az
	if tg.fista {
		if err := r.vecsN(d, &tg.ptPrev, &tg.at); err != nil {
			return err
		}
	}
	if err := r.vecsN(h, &tg.e, &hg); err != nil {
		return err
	}
	w, err := r.solveInner(spec, w, m.T, m.TolInner, tg)
	if err != nil {
		return err
	}
	res.Time.Inner -= tg.time
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
	for j := range tg.z {
		g[j] += b.Dot(tg.z[j], az)
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
	res.Time.Linear, res.Time.Cross = tg.time, r.since(c0)
	return nil
}

// tangents carries forward-mode ITD's Z = ∂w_s/∂λ (h columns z, and zPrev
// for heavy ball and FISTA) along the inner solve, as its innerObserver:
// pt (and ptPrev for FISTA) save the iterates w_s (y_s, y_{s−1}), at is
// FISTA's z_s, az and bz hold A·Z and B·e_j, e the unit vector e_j, tk
// FISTA's t_s advanced as the inner solve does, and time the time spent.
type tangents struct {
	r                         *run
	spec                      innerSpec
	ca                        bilevel.CrossApplier
	fista, heavy              bool
	z, zPrev                  []backend.Vector
	pt, ptPrev, at, az, bz, e backend.Vector
	unit                      []float64
	tk                        float64
	time                      time.Duration
}

// observe takes the tangent step of inner step s = k − 1 once the inner
// solve has made w_k, then saves w_k.
func (tg *tangents) observe(k int, wk backend.Vector) error {
	r, b := tg.r, tg.r.b
	t0 := time.Now()
	defer func() { tg.time += r.since(t0) }()
	if k > 0 {
		s := k - 1
		x, beta := tg.pt, 0.0
		if tg.fista {
			// z_s = (1+β_s)y_s − β_s y_{s−1}, the inner solve's operations.
			tg.tk, beta = fistaNext(tg.spec.q, tg.tk)
			b.Copy(tg.at, tg.pt)
			b.Axpby(-beta, tg.ptPrev, 1+beta, tg.at)
			x = tg.at
		}
		if err := tg.step(s, x, beta); err != nil {
			return err
		}
	}
	if tg.fista {
		if k == 0 {
			b.Copy(tg.ptPrev, wk) // y_{−1} = y_0
		} else {
			tg.pt, tg.ptPrev = tg.ptPrev, tg.pt
		}
	}
	b.Copy(tg.pt, wk)
	return nil
}

// step advances Z by inner step s, taken at the point x (w_s, or z_s).
func (tg *tangents) step(s int, x backend.Vector, beta float64) error {
	r, b, spec := tg.r, tg.r.b, tg.spec
	if err := r.linearize(x); err != nil {
		return err
	}
	for j := range tg.z {
		if err := r.check("linear", s); err != nil {
			return err
		}
		tg.unit[j] = 1
		b.Upload(tg.e, tg.unit)
		tg.unit[j] = 0
		r.res.Counts.CrossVecs++
		if err := tg.ca.CrossApply(tg.bz, tg.e); err != nil {
			return r.fail("linear", s, err)
		}
		zj := tg.z[j] // the tangent at the step's point: Z_s or Zz_s
		if tg.fista {
			b.Axpby(1+beta, tg.z[j], -beta, tg.zPrev[j]) // zPrev ← Zz_s
			zj = tg.zPrev[j]
		}
		if s > 0 { // Z_0 = 0 (and Zz_0 = 0): A·0 is not evaluated
			if err := r.hessVec(tg.az, zj); err != nil {
				return r.fail("linear", s, err)
			}
			b.Axpy(1, tg.az, tg.bz) // bz ← A Z + B e_j
		}
		switch {
		case tg.fista: // Zy_{s+1} = Zz_s − τ(A Zz_s + B e_j)
			b.Axpy(-spec.alpha, tg.bz, tg.zPrev[j])
			tg.z[j], tg.zPrev[j] = tg.zPrev[j], tg.z[j]
		case tg.heavy: // Z_{s+1} = (1+β)Z_s − βZ_{s−1} − α(A Z_s + B e_j)
			b.Axpby(1+spec.beta, tg.z[j], -spec.beta, tg.zPrev[j])
			b.Axpy(-spec.alpha, tg.bz, tg.zPrev[j])
			tg.z[j], tg.zPrev[j] = tg.zPrev[j], tg.z[j]
		default: // Z_{s+1} = Z_s − α(A Z_s + B e_j)
			b.Axpy(-spec.alpha, tg.bz, tg.z[j])
		}
	}
	if err := b.Err(); err != nil {
		return r.fail("linear", s, err)
	}
	return nil
}
