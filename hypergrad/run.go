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
	// gradRecord, if set, replaces the inner gradient of step k (ITD records
	// the linearization at w_k with it).
	gradRecord func(k int, dst, w backend.Vector) error
	// finalGrad, if set, replaces the inner gradient at the last iterate
	// of a first-order inner solve (continueInner), the one that gives the
	// inner residual (AID fuses it with its first Hessian-vector product).
	finalGrad func(k int, dst, w backend.Vector) error
	// useRecorded, if set, makes the linearization recorded by the last
	// gradRecord current (Newton's steps use it instead of Linearize).
	useRecorded func() error
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

// stepGrad is the inner gradient of step k: innerGrad, or gradRecord.
func (r *run) stepGrad(k int, dst, w backend.Vector) error {
	if r.gradRecord == nil {
		return r.innerGrad(dst, w)
	}
	r.res.Counts.InnerGrads++
	return r.gradRecord(k, dst, w)
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
