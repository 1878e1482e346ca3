// Package cpu is the pure-Go backend: vectors and blocks are Go slices,
// BLAS-1 uses gonum's assembly kernels, and the dense matrix kernels (the
// products by a data matrix and Gemm) use AVX2 + FMA3
// assembly on amd64 CPUs that have it (golang.org/x/sys/cpu tells), gonum's
// kernels otherwise and with the purego build tag (see kernels.go). On CPUs
// with AVX-512F the fused passes (GramVec, GLMGrad), the block products
// (MulBlock, MulBlockTrans, Gemm through them) and the softmax passes run
// their main loops on 512-bit registers, with the bits of the AVX2 kernels;
// GODEBUG=cpu.avx512f=off turns that off.
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
// length cols for MulVecTrans, GramVec, GramDiag, GLMGrad and ColSums; k of
// them for MulBlockTrans and Gemm with op(A) = Aᵀ), and the
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
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
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
	check.State // the recorded error (Err, ClearErr) and whether closed

	workers   int
	allocated int64
	eng       *engine
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.GLM     = (*Backend)(nil)
)

// New returns a CPU backend whose operations use opts.Workers goroutines.
func New(opts Options) *Backend {
	w := opts.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	b := &Backend{State: check.NewState("cpu"), workers: w, eng: newEngine(w)}
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

// store is the memory of one allocation: a vector, a block, and the views
// of either that Reshape makes share it. Operands alias exactly when their
// stores are the same.
type store struct {
	owner *Backend
	data  []float64
	freed bool
}

func (s *store) Owner() *Backend { return s.owner }
func (s *store) Freed() bool     { return s.freed }

// vec is a vector or a block: a store with a shape (rows×1 for a vector
// made by NewVector).
type vec struct {
	*store
	rows, cols int
}

func (v *vec) Len() int               { return len(v.data) }
func (v *vec) Dims() (rows, cols int) { return v.rows, v.cols }

// newVecStore returns a rows×cols vec with a zero store of its own, both
// in one allocation.
func newVecStore(rows, cols int) *vec {
	vs := &struct {
		vec
		store
	}{}
	vs.vec = vec{store: &vs.store, rows: rows, cols: cols}
	return &vs.vec
}

// operand describes v to the operand checks; nil is an optional operand
// left out.
func (v *vec) operand() (o check.Operand[*store]) {
	if v != nil {
		o = check.Operand[*store]{ID: v.store, Len: len(v.data), Rows: v.rows, Cols: v.cols}
	}
	return o
}

func (b *Backend) fail(op string, err error, format string, args ...any) {
	b.Fail(op, err, format, args...)
}

// ok reports whether operations may run: no recorded error and not closed.
func (b *Backend) ok(op string) bool { return b.OK(op) }

// v resolves a vector operand, recording an error for nil, foreign or freed ones.
func (b *Backend) v(op string, x backend.Vector) *vec {
	return check.Resolve[*vec](&b.State, b, op, "vector", x)
}

// optV resolves an optional vector operand: nil stays nil. It reports false
// when a non-nil operand is invalid.
func (b *Backend) optV(op string, x backend.Vector) (*vec, bool) {
	if x == nil {
		return nil, b.Err() == nil
	}
	xv := b.v(op, x)
	return xv, xv != nil
}

// check records v, the result of one of the operand checks, as the error of
// op, and reports whether the operands passed.
func (b *Backend) check(op string, v check.Violation) bool { return b.Check(op, v) }

// NewVector allocates a zeroed vector: a block of n rows and one column.
func (b *Backend) NewVector(n int) (backend.Vector, error) {
	const op = "NewVector"
	if n < 0 {
		return nil, b.allocError(op, backend.ErrInvalid, fmt.Sprintf("length %d", n))
	}
	return b.newVec(op, n, 1)
}

// NewBlock allocates a zeroed rows×cols block.
func (b *Backend) NewBlock(rows, cols int) (backend.Block, error) {
	const op = "NewBlock"
	if v := check.Block(rows, cols); v.Err != nil {
		return nil, b.allocError(op, v.Err, v.Detail)
	}
	return b.newVec(op, rows, cols)
}

// newVec allocates the store of a rows×cols block (rows·cols does not overflow).
func (b *Backend) newVec(op string, rows, cols int) (*vec, error) {
	if b.Closed() {
		return nil, b.allocError(op, backend.ErrClosed, "")
	}
	n := rows * cols
	b.allocated += int64(n) * 8
	v := newVecStore(rows, cols)
	v.owner, v.data = b, make([]float64, n)
	return v, nil
}

// allocError returns the error of an allocation (not recorded: allocations
// return their errors).
func (b *Backend) allocError(op string, err error, detail string) error {
	return b.Error(op, err, detail)
}

// Reshape returns a rows×cols view of v's storage.
func (b *Backend) Reshape(v backend.Vector, rows, cols int) (backend.Block, error) {
	const op = "Reshape"
	if b.Closed() {
		return nil, b.allocError(op, backend.ErrClosed, "")
	}
	xv, err := check.ResolveNow[*vec](&b.State, b, op, "vector", v)
	if err != nil {
		return nil, err
	}
	if vi := check.Reshape(len(xv.data), rows, cols); vi.Err != nil {
		return nil, vi.OpError("cpu", op)
	}
	return &vec{store: xv.store, rows: rows, cols: cols}, nil
}

// Free releases the storage of a vector or block (and so of every view
// that shares it) or of labels.
func (b *Backend) Free(x backend.Vector) {
	var st *store
	switch t := x.(type) {
	case *vec:
		if t != nil {
			st = t.store
		}
	case *labels:
		if t != nil && t.owner == b && !t.freed {
			b.allocated -= int64(len(t.y)) * 4
			t.freed, t.y = true, nil
		}
		return
	}
	if st != nil && st.owner == b && !st.freed {
		b.allocated -= int64(len(st.data)) * 8
		st.freed = true
		st.data = nil
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
	if !b.check(op, check.HostLen(len(src), len(d.data))) {
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
	if !b.check(op, check.HostLen(len(dst), len(s.data))) {
		return
	}
	copy(dst, s.data)
}

// Sync returns Err: CPU operations finish before they return.
func (b *Backend) Sync() error { return b.Err() }

// Close marks the backend closed and stops its worker goroutines; memory is
// returned to the Go runtime. Closing twice is harmless.
func (b *Backend) Close() error {
	b.MarkClosed()
	b.allocated = 0
	b.eng.stop()
	return nil
}

// nan is returned by reductions that did not run.
var nan = math.NaN()
