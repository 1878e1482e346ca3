package hypergrad

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// session is what every estimate holds whatever its problem: the context,
// the backend, the result being filled, the monitor, and the device vectors
// to free at the end.
type session struct {
	ctx     context.Context
	b       backend.Backend
	res     *Result
	monitor Monitor
	vecs    []backend.Vector
	start   time.Time
	// ws lends the linear solves their work vectors (krylov.Workspace),
	// created on first use and freed by close.
	ws *krylov.Workspace
}

func newSession(ctx context.Context, method string, monitor Monitor) session {
	return session{ctx: ctx, monitor: monitor, start: time.Now(),
		res: &Result{Method: method, InnerResidual: math.NaN(), LinearResidual: math.NaN()}}
}

// workspace returns the session's krylov.Workspace.
func (r *session) workspace() *krylov.Workspace {
	if r.ws == nil {
		r.ws = krylov.NewWorkspace(r.b)
	}
	return r.ws
}

// attach sets the backend, which must be usable.
func (r *session) attach(b backend.Backend) error {
	if b == nil {
		return r.fail("setup", -1, fmt.Errorf("%w: problem has no backend", ErrInvalidSettings))
	}
	r.b = b
	if err := b.Err(); err != nil {
		return r.fail("setup", -1, fmt.Errorf("backend has a pending error: %w", err))
	}
	return nil
}

// vec allocates a zeroed device vector that is freed by close.
func (r *session) vec(n int) (backend.Vector, error) {
	v, err := r.b.NewVector(n)
	if err != nil {
		return nil, err
	}
	r.vecs = append(r.vecs, v)
	return v, nil
}

// vecs allocates several vectors of length n.
func (r *session) vecsN(n int, dst ...*backend.Vector) error {
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
func (r *session) upload(name string, x []float64, n int) (backend.Vector, error) {
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

func (r *session) download(v backend.Vector) []float64 {
	x := make([]float64, v.Len())
	r.b.Download(x, v)
	return x
}

// close frees the run's vectors and stamps the total time.
func (r *session) close() {
	for _, v := range r.vecs {
		r.b.Free(v)
	}
	r.vecs = nil
	if r.ws != nil {
		r.ws.Free()
		r.ws = nil
	}
	r.res.Time.Total = time.Since(r.start)
}

// fail wraps err with where it happened and marks the result failed.
func (r *session) fail(phase string, iter int, err error) error {
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
func (r *session) check(phase string, iter int) error {
	if err := r.ctx.Err(); err != nil {
		return r.fail(phase, iter, err)
	}
	if err := r.b.Err(); err != nil {
		return r.fail(phase, iter, err)
	}
	return nil
}

// report calls the monitor, if any.
func (r *session) report(phase Phase, iter int, x backend.Vector, residual float64) error {
	if r.monitor == nil {
		return nil
	}
	if err := r.monitor(Progress{Phase: phase, Iter: iter, X: x, Residual: residual}); err != nil {
		return r.fail(phase.String(), iter, fmt.Errorf("monitor: %w", err))
	}
	return nil
}

// since syncs the backend and returns the time elapsed since t.
func (r *session) since(t time.Time) time.Duration {
	_ = r.b.Sync()
	return time.Since(t)
}

// finish downloads the hypergradient and checks that it is finite.
func (r *session) finish(hg backend.Vector) error {
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
