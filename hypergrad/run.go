package hypergrad

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// run is the state of one estimate: the problem, its backend, the result
// being filled, and the device vectors to free at the end. Its oracle methods
// count every call.
type run struct {
	ctx     context.Context
	p       bilevel.Problem
	b       backend.Backend
	res     *Result
	monitor Monitor
	vecs    []backend.Vector
	start   time.Time
	consts  func() (bilevel.Constants, error) // memoised p.Constants()
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
	// diag is host scratch for the Jacobi preconditioner.
	diag []float64
	// cg holds the conjugate-gradient work vectors once allocated.
	cg *cgWork
}

func newRun(ctx context.Context, p bilevel.Problem, method string, monitor Monitor) (*run, error) {
	r := &run{ctx: ctx, p: p, monitor: monitor, start: time.Now(),
		res: &Result{Method: method, InnerResidual: math.NaN(), LinearResidual: math.NaN()}}
	if p == nil {
		return nil, r.fail("setup", -1, fmt.Errorf("%w: nil problem", ErrInvalidSettings))
	}
	r.b = p.Backend()
	r.consts = constantsFor(p)
	if r.b == nil {
		return nil, r.fail("setup", -1, fmt.Errorf("%w: problem has no backend", ErrInvalidSettings))
	}
	if err := r.b.Err(); err != nil {
		return nil, r.fail("setup", -1, fmt.Errorf("backend has a pending error: %w", err))
	}
	return r, nil
}

// vec allocates a zeroed device vector that is freed by close.
func (r *run) vec(n int) (backend.Vector, error) {
	v, err := r.b.NewVector(n)
	if err != nil {
		return nil, err
	}
	r.vecs = append(r.vecs, v)
	return v, nil
}

// vecs allocates several vectors of length n.
func (r *run) vecsN(n int, dst ...*backend.Vector) error {
	for _, d := range dst {
		v, err := r.vec(n)
		if err != nil {
			return r.fail("setup", -1, err)
		}
		*d = v
	}
	return nil
}

// upload allocates a device copy of x (len n), or zeros when x is nil.
func (r *run) upload(name string, x []float64, n int) (backend.Vector, error) {
	v, err := r.vec(n)
	if err != nil {
		return nil, r.fail("setup", -1, err)
	}
	if x != nil {
		if len(x) != n {
			return nil, r.fail("setup", -1, fmt.Errorf("%w: %s has length %d, want %d", ErrShape, name, len(x), n))
		}
		for i, xi := range x {
			if math.IsNaN(xi) || math.IsInf(xi, 0) {
				return nil, r.fail("setup", -1, fmt.Errorf("%w: %s[%d] = %v", ErrNonFinite, name, i, xi))
			}
		}
		r.b.Upload(v, x)
	}
	return v, nil
}

func (r *run) download(v backend.Vector) []float64 {
	x := make([]float64, v.Len())
	r.b.Download(x, v)
	return x
}

// close frees the run's vectors and stamps the total time.
func (r *run) close() {
	for _, v := range r.vecs {
		r.b.Free(v)
	}
	r.vecs = nil
	r.res.Time.Total = time.Since(r.start)
}

// fail wraps err with where it happened and marks the result failed.
func (r *run) fail(phase string, iter int, err error) error {
	r.res.Status = Failed
	switch phase {
	case "inner":
		r.res.InnerStatus = Failed
	case "linear", "reverse":
		r.res.LinearStatus = Failed
	}
	return &Error{Method: r.res.Method, Phase: phase, Iter: iter, Err: err}
}

// check returns an error if the context is done or the backend failed.
func (r *run) check(phase string, iter int) error {
	if err := r.ctx.Err(); err != nil {
		return r.fail(phase, iter, err)
	}
	if err := r.b.Err(); err != nil {
		return r.fail(phase, iter, err)
	}
	return nil
}

// report calls the monitor, if any.
func (r *run) report(phase Phase, iter int, x backend.Vector, residual float64) error {
	if r.monitor == nil {
		return nil
	}
	if err := r.monitor(Progress{Phase: phase, Iter: iter, X: x, Residual: residual}); err != nil {
		return r.fail(phase.String(), iter, fmt.Errorf("monitor: %w", err))
	}
	return nil
}

// since syncs the backend and returns the time elapsed since t.
func (r *run) since(t time.Time) time.Duration {
	_ = r.b.Sync()
	return time.Since(t)
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

// finish downloads the hypergradient and checks that it is finite.
func (r *run) finish(hg backend.Vector) error {
	r.res.Hypergradient = r.download(hg)
	if err := r.b.Sync(); err != nil {
		return r.fail("cross", -1, err)
	}
	for i, x := range r.res.Hypergradient {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return r.fail("cross", -1, fmt.Errorf("%w: hypergradient[%d] = %v", ErrNonFinite, i, x))
		}
	}
	r.res.Status = worse(r.res.InnerStatus, r.res.LinearStatus)
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func nan() float64 { return math.NaN() }
