//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

func init() {
	backend.Register("cuda", func() (backend.Backend, error) { return New(Options{}) })
	backend.Register("cuda-f32", func() (backend.Backend, error) { return New(Options{DenseFloat32: true}) })
}

// Options configure a CUDA backend.
type Options struct {
	// Device is the ordinal of the GPU (0 for the first).
	Device int
	// DenseFloat32 stores dense matrices in float32 on the device: every
	// pass over X reads half the bytes. Each X_ij is rounded to float32
	// once, at NewDense; vectors stay float64, and every product widens
	// the values to float64 as it loads them, so the results are those of
	// the float64 kernels applied to the rounded matrix X̃ (|X̃_ij − X_ij| ≤
	// 2⁻²⁴|X_ij|). The hypergradient is then that of the problem with data
	// X̃, not X: a relative change of order 1e-7 (measured in
	// results). CSR matrices are unaffected.
	DenseFloat32 bool
}

// Backend is the CUDA implementation of backend.Backend. Like every backend
// it is not safe for concurrent use. Close it: device memory and the
// context's retain are released only there.
type Backend struct {
	check.State // the recorded error (Err, ClearErr) and whether closed

	drv  driver
	desc string
	f32  bool // Options.DenseFloat32

	allocated int64    // bytes of live vectors and matrices
	live      []devptr // every live allocation, scratch included, for Close

	small devptr  // scalar partial sums (2·maxReduceGrid doubles), then 4 result doubles
	part  scratch // per-block column partials of the dense kernels
	rowS  scratch // row weights s of the CSR kernels; the rows×k block of SoftmaxGrad and SoftmaxHessBlock
	// host receives results from the device and args holds the arguments
	// of the launch in flight. Each is an allocation of its own, free of Go
	// pointers, as cgo requires of memory whose address is passed to C.
	host *[4]float64
	args *[16]uint64
}

// scratch is a device buffer of doubles grown on demand.
type scratch struct {
	p devptr
	n int // capacity in doubles
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.GLM     = (*Backend)(nil)
)

// smallDoubles is the size of Backend.small: 2·maxReduceGrid partial sums
// and 4 results.
const smallDoubles = 2*maxReduceGrid + 4

// New opens the GPU opts.Device: it retains its primary context, creates a
// stream, and loads the kernels (the driver JIT-compiles their PTX). Errors
// are *backend.OpError with Op "Open" wrapping backend.ErrDevice.
func New(opts Options) (*Backend, error) {
	d, err := openDriver(opts)
	if err != nil {
		return nil, &backend.OpError{Backend: "cuda", Op: "Open", Err: backend.ErrDevice, Detail: err.Error()}
	}
	b := &Backend{State: check.NewState("cuda"), drv: d, host: new([4]float64), args: new([16]uint64), f32: opts.DenseFloat32}
	if err := d.enter(); err != nil {
		d.close()
		return nil, &backend.OpError{Backend: "cuda", Op: "Open", Err: backend.ErrDevice, Detail: err.Error()}
	}
	defer d.exit()
	b.desc = d.describe()
	if b.f32 {
		b.desc += ", dense matrices in float32"
	}
	if b.small, err = b.rawAlloc(smallDoubles * 8); err != nil {
		d.close()
		return nil, allocError("Open", smallDoubles*8, err)
	}
	return b, nil
}

// Name returns "cuda".
func (b *Backend) Name() string { return "cuda" }

// Device describes the GPU.
func (b *Backend) Device() string { return b.desc }

// MemInfo returns the device's free and total memory as the driver reports
// them (cuMemGetInfo), for all processes and contexts.
func (b *Backend) MemInfo() (free, total int64, err error) {
	if b.Closed() {
		return 0, 0, b.Error("MemInfo", backend.ErrClosed, "")
	}
	if err := b.drv.enter(); err != nil {
		return 0, 0, err
	}
	defer b.drv.exit()
	return b.drv.memInfo()
}

// store is the device memory of one allocation: a vector, a block, and
// the views of either that Reshape makes share it. Operands alias exactly
// when their stores are the same.
type store struct {
	owner *Backend
	n     int    // elements
	bytes int64  // device bytes held (n·8 for float64, n·4 for labels)
	p     devptr // 0 when n = 0
	freed bool
}

func (s *store) Owner() *Backend { return s.owner }
func (s *store) Freed() bool     { return s.freed }

// vec is a vector or a block: a store with a shape (n×1 for a vector made
// by NewVector).
type vec struct {
	*store
	rows, cols int
}

func (v *vec) Len() int               { return v.n }
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
		o = check.Operand[*store]{ID: v.store, Len: v.n, Rows: v.rows, Cols: v.cols}
	}
	return o
}

func (b *Backend) fail(op string, err error, format string, args ...any) {
	b.Fail(op, err, format, args...)
}

// device records a failure of the driver in op.
func (b *Backend) device(op string, err error) {
	if errors.Is(err, backend.ErrOutOfMemory) {
		b.fail(op, backend.ErrOutOfMemory, "%v", err)
		return
	}
	b.fail(op, backend.ErrDevice, "%v", err)
}

// ok reports whether operations may run: no recorded error and not closed.
func (b *Backend) ok(op string) bool { return b.OK(op) }

// enter binds the calling goroutine to the device for op; the caller
// defers b.drv.exit() when it returns true.
func (b *Backend) enter(op string) bool {
	if err := b.drv.enter(); err != nil {
		b.device(op, err)
		return false
	}
	return true
}

// launch runs kernel k on grid blocks with args, recording a failure in op.
func (b *Backend) launch(op string, k kernelID, grid int, args ...uint64) bool {
	if b.Err() != nil {
		return false
	}
	n := copy(b.args[:], args)
	if err := b.drv.launch(k, grid, b.args[:n]); err != nil {
		b.fail(op, backend.ErrDevice, "launch of %v (%d blocks): %v", k, grid, err)
		return false
	}
	return true
}

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

// rawAlloc allocates device memory and records it for Close. The record is
// a slice, not a map, so that allocating and freeing allocate no Go memory
// once it has grown to the most allocations ever live at once.
func (b *Backend) rawAlloc(bytes int64) (devptr, error) {
	p, err := b.drv.alloc(bytes)
	if err != nil {
		return 0, err
	}
	b.live = append(b.live, p)
	return p, nil
}

// rawFree releases an allocation of rawAlloc (0 is a no-op).
func (b *Backend) rawFree(p devptr) error {
	if p == 0 {
		return nil
	}
	for i, q := range b.live {
		if q == p {
			last := len(b.live) - 1
			b.live[i] = b.live[last]
			b.live = b.live[:last]
			break
		}
	}
	return b.drv.free(p)
}

// allocError returns the error of a failed allocation in op.
func allocError(op string, bytes int64, err error) error {
	e := backend.ErrDevice
	if errors.Is(err, backend.ErrOutOfMemory) {
		e = backend.ErrOutOfMemory
	}
	return &backend.OpError{Backend: "cuda", Op: op, Err: e, Detail: fmt.Sprintf("%d bytes: %v", bytes, err)}
}

// NewVector allocates a vector of n zeros: a block of n rows and one column.
func (b *Backend) NewVector(n int) (backend.Vector, error) {
	const op = "NewVector"
	if n < 0 {
		return nil, b.Error(op, backend.ErrInvalid, fmt.Sprintf("length %d", n))
	}
	if n > math.MaxInt64/8 {
		return nil, b.Error(op, backend.ErrOutOfMemory, fmt.Sprintf("length %d", n))
	}
	return b.newVec(op, n, 1)
}

// NewBlock allocates a rows×cols block of zeros.
func (b *Backend) NewBlock(rows, cols int) (backend.Block, error) {
	const op = "NewBlock"
	if v := check.Block(rows, cols); v.Err != nil {
		return nil, v.OpError("cuda", op)
	}
	return b.newVec(op, rows, cols)
}

// newVec allocates the store of a rows×cols block (rows·cols·8 does not
// overflow) and zeroes it.
func (b *Backend) newVec(op string, rows, cols int) (*vec, error) {
	if b.Closed() {
		return nil, b.Error(op, backend.ErrClosed, "")
	}
	n := rows * cols
	v := newVecStore(rows, cols)
	v.owner, v.n, v.bytes = b, n, int64(n)*8
	if n == 0 {
		return v, nil
	}
	bytes := int64(n) * 8
	if err := b.drv.enter(); err != nil {
		return nil, allocError(op, bytes, err)
	}
	defer b.drv.exit()
	p, err := b.rawAlloc(bytes)
	if err != nil {
		return nil, allocError(op, bytes, err)
	}
	// Zero it with a kernel on the stream (not through b.launch: an
	// allocation works whatever error the backend holds).
	args := b.args[:3]
	args[0], args[1], args[2] = i64(n), p, f64(0)
	if err := b.drv.launch(kFill, elemGrid(n), args); err != nil {
		b.rawFree(p)
		return nil, b.Error(op, backend.ErrDevice, err.Error())
	}
	v.p = p
	b.allocated += bytes
	return v, nil
}

// Reshape returns a rows×cols view of v's storage.
func (b *Backend) Reshape(v backend.Vector, rows, cols int) (backend.Block, error) {
	const op = "Reshape"
	if b.Closed() {
		return nil, b.Error(op, backend.ErrClosed, "")
	}
	xv, err := check.ResolveNow[*vec](&b.State, b, op, "vector", v)
	if err != nil {
		return nil, err
	}
	if vi := check.Reshape(xv.n, rows, cols); vi.Err != nil {
		return nil, vi.OpError("cuda", op)
	}
	return &vec{store: xv.store, rows: rows, cols: cols}, nil
}

// Free releases the device memory of a vector or block (and so of every
// view that shares it) or of labels, after the operations in flight.
func (b *Backend) Free(x backend.Vector) {
	var st *store
	switch t := x.(type) {
	case *vec:
		if t != nil {
			st = t.store
		}
	case *labels:
		if t != nil {
			st = t.store
		}
	}
	if st == nil || st.owner != b || st.freed {
		return
	}
	st.freed = true
	if b.Closed() || st.p == 0 {
		return
	}
	b.allocated -= st.bytes
	b.release("Free", st.p)
	st.p = 0
}

// release frees p after the operations in flight, recording a failure in op.
func (b *Backend) release(op string, ps ...devptr) {
	if err := b.drv.enter(); err != nil {
		b.device(op, err)
		return
	}
	defer b.drv.exit()
	if err := b.drv.sync(); err != nil {
		b.device(op, err)
	}
	for _, p := range ps {
		if err := b.rawFree(p); err != nil {
			b.device(op, err)
		}
	}
}

// Allocated returns the bytes held by live vectors and matrices (both
// copies of a CSR matrix). The backend's scratch space is not counted.
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
	if !b.check(op, check.HostLen(len(src), d.n)) {
		return
	}
	if d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	if err := b.drv.htod(d.p, unsafe.Pointer(&src[0]), int64(d.n)*8); err != nil {
		b.device(op, err)
	}
}

// Download copies src to the host slice dst after every earlier operation.
func (b *Backend) Download(dst []float64, src backend.Vector) {
	const op = "Download"
	if !b.ok(op) {
		return
	}
	s := b.v(op, src)
	if s == nil {
		return
	}
	if !b.check(op, check.HostLen(len(dst), s.n)) {
		return
	}
	if !b.enter(op) {
		return
	}
	defer b.drv.exit()
	if s.n == 0 {
		if err := b.drv.sync(); err != nil {
			b.device(op, err)
		}
		return
	}
	if err := b.drv.dtoh(unsafe.Pointer(&dst[0]), s.p, int64(s.n)*8); err != nil {
		b.device(op, err)
	}
}

// ClearErr forgets the recorded error. After a failure of the device itself
// (ErrDevice from an asynchronous kernel fault), the CUDA context is usually
// unusable and later operations fail again.
func (b *Backend) ClearErr() { b.State.ClearErr() }

// Sync waits for every issued operation and returns Err. A kernel fault
// that happened asynchronously is recorded here, as ErrDevice with Op "Sync".
func (b *Backend) Sync() error {
	const op = "Sync"
	if b.Closed() {
		return b.Err()
	}
	if b.Err() != nil || !b.enter(op) {
		return b.Err()
	}
	defer b.drv.exit()
	if err := b.drv.sync(); err != nil {
		b.device(op, err)
	}
	return b.Err()
}

// Close waits for the operations in flight, frees every device allocation
// (vectors and matrices still live, and scratch space), and releases the
// stream, the kernels' modules and the primary context. Closing twice is
// harmless. It returns a device failure found on the way, if any.
func (b *Backend) Close() error {
	const op = "Close"
	if b.Closed() {
		return nil
	}
	b.MarkClosed()
	b.allocated = 0
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = &backend.OpError{Backend: "cuda", Op: op, Err: backend.ErrDevice, Detail: err.Error()}
		}
	}
	if err := b.drv.enter(); err != nil {
		note(err)
		return first
	}
	note(b.drv.sync())
	for _, p := range b.live {
		note(b.drv.free(p))
	}
	b.live = nil
	b.small, b.part, b.rowS = 0, scratch{}, scratch{}
	b.drv.exit()
	note(b.drv.close())
	return first
}

// grow makes s hold at least n doubles, recording a failure in op.
func (b *Backend) grow(op string, s *scratch, n int) bool {
	if s.n >= n {
		return true
	}
	if err := b.drv.sync(); err != nil {
		b.device(op, err)
		return false
	}
	if err := b.rawFree(s.p); err != nil {
		b.device(op, err)
		return false
	}
	*s = scratch{}
	n = max(n, 1024)
	p, err := b.rawAlloc(int64(n) * 8)
	if err != nil {
		b.fail(op, backend.ErrOutOfMemory, "scratch space of %d bytes: %v", n*8, err)
		return false
	}
	*s = scratch{p: p, n: n}
	return true
}

// result copies the first k results of the small buffer to b.host, after
// every earlier operation.
func (b *Backend) result(op string, k int) bool {
	if b.Err() != nil {
		return false
	}
	if err := b.drv.dtoh(unsafe.Pointer(&b.host[0]), b.resultPtr(), int64(k)*8); err != nil {
		b.device(op, err)
		return false
	}
	return true
}

// resultPtr is the address of the results in the small buffer.
func (b *Backend) resultPtr() devptr { return b.small + 2*maxReduceGrid*8 }

// nan is returned by reductions that did not run.
var nan = math.NaN()
