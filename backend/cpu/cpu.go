// Package cpu is the pure-Go backend: vectors are Go slices, BLAS-1 uses
// gonum's assembly kernels, and the dense matrix kernels use AVX2 + FMA3
// assembly on amd64 CPUs that have it (golang.org/x/sys/cpu tells), gonum's
// kernels otherwise and with the purego build tag (see kernels.go).
//
// # Parallelism
//
// A Backend owns a persistent pool of Workers−1 goroutines; the goroutine
// that issues an operation does the first part of it itself. An operation
// long enough to be worth sharing is cut into at most Workers contiguous
// parts (ranges of elements, or ranges of rows balanced by rows for dense
// matrices and by stored entries for CSR); shorter ones run on the calling
// goroutine alone, so small problems pay no synchronization. A pass over a
// large matrix is cut into more chunks than parts, from large to small, that
// the goroutines take one after another as they finish the last
// (splitChunks), so that a core that streams slower does not hold up the
// pass.
//
// Reductions are deterministic: every part, or chunk, accumulates into its
// own accumulator (a scalar for Dot, Nrm2 and the GLMGrad loss; a vector of
// length cols for MulVecTrans, GramVec, GramDiag and GLMGrad), and the
// accumulators are summed in the fixed order 0, 1, …, parts−1 — each column
// of the vector accumulators in that order too, whichever goroutine sums it.
// How an operation is cut depends only on its shape and on Workers, and the
// set of dense kernels is chosen once per process from the CPU's features,
// so results are bit-identical for the same inputs and the same Workers,
// whatever the scheduling. Different Workers, and machines with and without
// AVX2 + FMA3, may differ in the last bits.
//
// After warm-up (the first operation of each size) no operation allocates:
// per-part and per-chunk accumulators are kept in the Backend, grown on
// demand and reused.
//
// Importing the package registers it with backend.Register as "cpu".
package cpu

import (
	"fmt"
	"math"
	"runtime"

	"github.com/hypergrad-go/hypergrad/backend"
)

func init() {
	backend.Register("cpu", func() (backend.Backend, error) { return New(Options{}), nil })
}

// Options configure a CPU backend.
type Options struct {
	// Workers is the number of goroutines that share the work of one
	// operation; 0 means runtime.GOMAXPROCS(0). Results are bit-identical
	// for the same inputs and the same Workers.
	Workers int
}

// Backend is the CPU implementation of backend.Backend. Like every backend
// it is not safe for concurrent use; it uses Workers goroutines internally.
// Close stops its goroutines (they are also stopped if the Backend becomes
// unreachable without Close).
type Backend struct {
	workers   int
	err       error
	closed    bool
	allocated int64
	eng       *engine
}

var _ backend.Backend = (*Backend)(nil)

// New returns a CPU backend whose operations use opts.Workers goroutines.
func New(opts Options) *Backend {
	w := opts.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	b := &Backend{workers: w, eng: newEngine(w)}
	// The pool's goroutines reference only the engine, never b, so an
	// abandoned Backend is collected and its goroutines stopped.
	runtime.AddCleanup(b, func(e *engine) { e.stop() }, b.eng)
	return b
}

// Name returns "cpu".
func (b *Backend) Name() string { return "cpu" }

// Device describes the CPU configuration.
func (b *Backend) Device() string {
	return fmt.Sprintf("cpu: %s/%s, %d workers", runtime.GOOS, runtime.GOARCH, b.workers)
}

// Workers returns the number of goroutines an operation may use.
func (b *Backend) Workers() int { return b.workers }

type vec struct {
	owner *Backend
	data  []float64
	freed bool
}

func (v *vec) Len() int { return len(v.data) }

// operand describes v to package backend's operand checks; nil is an
// optional operand left out.
func (v *vec) operand() (o backend.Operand[*vec]) {
	if v != nil {
		o = backend.Operand[*vec]{ID: v, Len: len(v.data)}
	}
	return o
}

func (b *Backend) fail(op string, err error, format string, args ...any) {
	if b.err == nil {
		b.err = &backend.OpError{Backend: "cpu", Op: op, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
}

// ok reports whether operations may run: no recorded error and not closed.
func (b *Backend) ok(op string) bool {
	if b.closed {
		b.fail(op, backend.ErrClosed, "")
	}
	return b.err == nil
}

// v resolves a vector operand, recording an error for nil, foreign or freed ones.
func (b *Backend) v(op string, x backend.Vector) *vec {
	if b.err != nil {
		return nil
	}
	xv, isCPU := x.(*vec)
	switch {
	case x == nil || (isCPU && xv == nil):
		b.fail(op, backend.ErrInvalid, "nil vector")
		return nil
	case !isCPU || xv.owner != b:
		b.fail(op, backend.ErrForeign, "vector %T", x)
		return nil
	case xv.freed:
		b.fail(op, backend.ErrFreed, "vector")
		return nil
	}
	return xv
}

// optV resolves an optional vector operand: nil stays nil. It reports false
// when a non-nil operand is invalid.
func (b *Backend) optV(op string, x backend.Vector) (*vec, bool) {
	if x == nil {
		return nil, b.err == nil
	}
	xv := b.v(op, x)
	return xv, xv != nil
}

// check records v, the result of one of package backend's operand checks,
// as the error of op, and reports whether the operands passed.
func (b *Backend) check(op string, v backend.Violation) bool { return v.Record(&b.err, "cpu", op) }

// NewVector allocates a zeroed vector.
func (b *Backend) NewVector(n int) (backend.Vector, error) {
	if b.closed {
		return nil, &backend.OpError{Backend: "cpu", Op: "NewVector", Err: backend.ErrClosed}
	}
	if n < 0 {
		return nil, &backend.OpError{Backend: "cpu", Op: "NewVector", Err: backend.ErrInvalid, Detail: fmt.Sprintf("length %d", n)}
	}
	b.allocated += int64(n) * 8
	return &vec{owner: b, data: make([]float64, n)}, nil
}

// Free releases a vector.
func (b *Backend) Free(x backend.Vector) {
	if xv, ok := x.(*vec); ok && xv != nil && xv.owner == b && !xv.freed {
		b.allocated -= int64(len(xv.data)) * 8
		xv.freed = true
		xv.data = nil
	}
}

// Allocated returns the bytes held by live vectors and matrices. The
// backend's own scratch space (per-worker accumulators) is not counted.
func (b *Backend) Allocated() int64 { return b.allocated }

// Upload copies src into dst.
func (b *Backend) Upload(dst backend.Vector, src []float64) {
	const op = "Upload"
	if !b.ok(op) {
		return
	}
	d := b.v(op, dst)
	if d == nil {
		return
	}
	if !b.check(op, backend.CheckHostLen(len(src), len(d.data))) {
		return
	}
	copy(d.data, src)
}

// Download copies src to the host slice dst.
func (b *Backend) Download(dst []float64, src backend.Vector) {
	const op = "Download"
	if !b.ok(op) {
		return
	}
	s := b.v(op, src)
	if s == nil {
		return
	}
	if !b.check(op, backend.CheckHostLen(len(dst), len(s.data))) {
		return
	}
	copy(dst, s.data)
}

// Err returns the first recorded error.
func (b *Backend) Err() error { return b.err }

// ClearErr forgets the recorded error.
func (b *Backend) ClearErr() { b.err = nil }

// Sync returns Err: CPU operations finish before they return.
func (b *Backend) Sync() error { return b.err }

// Close marks the backend closed and stops its worker goroutines; memory is
// returned to the Go runtime. Closing twice is harmless.
func (b *Backend) Close() error {
	b.closed = true
	b.allocated = 0
	b.eng.stop()
	return nil
}

// nan is returned by reductions that did not run.
var nan = math.NaN()
