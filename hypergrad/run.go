package hypergrad

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// run is the state of one estimate of an optimisation problem: the session
// (backend, result, vectors) and the problem, whose oracle methods count
// every call.
type run struct {
	session
	p      bilevel.Problem
	consts func() (bilevel.Constants, error) // memoised p.Constants()
	// rec says how the inner solve takes its gradients (see recording);
	// the zero value is plain InnerGrad.
	rec recording
	// diag is host scratch for the Jacobi preconditioner, minv its device
	// vector 1/diag(A) once allocated.
	diag []float64
	minv backend.Vector
	// hop and pcg are the linear solves' Hessian operator and Jacobi PCG,
	// built once per run.
	hop *hessOperator
	pcg krylov.Solver
}

func newRun(ctx context.Context, p bilevel.Problem, method string, monitor Monitor) (*run, error) {
	r := &run{session: newSession(ctx, method, monitor), p: p}
	if p == nil {
		return nil, r.fail("setup", -1, fmt.Errorf("%w: nil problem", ErrInvalidSettings))
	}
	r.consts = constantsFor(p)
	if err := r.attach(p.Backend()); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *run) innerGrad(dst, w backend.Vector) error {
	r.res.Counts.InnerGrads++
	return r.p.InnerGrad(dst, w)
}

// recording is how an inner solve takes its gradients when the problem
// records its linearization with them (bilevel.LinearizationStore): the
// gradient of step k records into slot k mod slots (ITD restores the slots
// in its reverse pass; AID keeps one, the linearization at w_t), and Newton's
// steps make the last recorded slot current instead of linearizing.
type recording struct {
	store bilevel.LinearizationStore // nil: plain InnerGrad
	slots int
	last  int // the slot of the last recorded gradient
}

// fusedLast is AID's request to take the gradient at the final iterate w_t
// of a first-order inner solve together with ∇_wE(w_t) into rhs and
// A(w_t)·∇_wE(w_t) into ap0 (bilevel.GradHessVecer), recording the
// linearization at w_t into slot 0; AID passes it to continueInner, and
// done reports that it ran.
type fusedLast struct {
	gh       bilevel.GradHessVecer
	rhs, ap0 backend.Vector
	done     bool
}

// stepGrad is the inner gradient of step k, recorded where r.rec says so.
func (r *run) stepGrad(k int, dst, w backend.Vector) error {
	r.res.Counts.InnerGrads++
	if r.rec.store == nil {
		return r.p.InnerGrad(dst, w)
	}
	r.rec.last = k % r.rec.slots
	return r.rec.store.InnerGradRecord(dst, w, r.rec.last)
}

// finalGrad is the inner gradient at the final iterate w_k of a first-order
// solve: stepGrad, or, with f, fused with AID's first product.
func (r *run) finalGrad(k int, dst, w backend.Vector, f *fusedLast) error {
	if f == nil {
		return r.stepGrad(k, dst, w)
	}
	if err := r.outerGrad(f.rhs, w); err != nil {
		return err
	}
	r.res.Counts.InnerGrads++
	r.res.Counts.HessVecs++
	f.done = true
	r.rec.last = 0
	return f.gh.InnerGradRecordHessVec(dst, w, 0, f.ap0, f.rhs)
}

// useRecorded makes the linearization recorded with the last gradient
// current, as Linearize at that iterate would; false without a store.
func (r *run) useRecorded() (bool, error) {
	if r.rec.store == nil {
		return false, nil
	}
	return true, r.rec.store.UseSlot(r.rec.last)
}

func (r *run) linearize(w backend.Vector) error {
	r.res.Counts.Linearizations++
	return r.p.Linearize(w)
}

func (r *run) hessVec(dst, v backend.Vector) error {
	r.res.Counts.HessVecs++
	return r.p.HessVec(dst, v)
}

// hessVecPair sets dst1 ← A·v1 and dst2 ← A·v2: in one call where the
// problem is a bilevel.HessVecPairer (fewer passes over the data, the bits
// of two HessVec calls), else in two. It counts two products.
func (r *run) hessVecPair(dst1, v1, dst2, v2 backend.Vector) error {
	r.res.Counts.HessVecs += 2
	if pp, ok := r.p.(bilevel.HessVecPairer); ok {
		return pp.HessVecPair(dst1, v1, dst2, v2)
	}
	if err := r.p.HessVec(dst1, v1); err != nil {
		return err
	}
	return r.p.HessVec(dst2, v2)
}

func (r *run) crossVec(dst, v backend.Vector) error {
	r.res.Counts.CrossVecs++
	return r.p.CrossVec(dst, v)
}

func (r *run) outerGrad(dst, w backend.Vector) error {
	r.res.Counts.OuterGrads++
	return r.p.OuterGrad(dst, w)
}

func (r *run) outerHyperGrad(dst, w backend.Vector) error {
	r.res.Counts.OuterHyperGrads++
	return r.p.OuterHyperGrad(dst, w)
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func nan() float64 { return math.NaN() }
