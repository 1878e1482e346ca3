//go:build cuda || cudaemu

package cuda

import (
	"math"
	"runtime"
	"unsafe"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// dense is a row-major matrix on the device.
type dense struct {
	owner      *Backend
	rows, cols int
	p          devptr // rows·cols doubles, or floats when f32 (0 when empty)
	f32        bool   // stored in float32 (Options.DenseFloat32)
	freed      bool
}

func (m *dense) Dims() (int, int)       { return m.rows, m.cols }
func (m *dense) Format() backend.Format { return backend.Dense }
func (m *dense) NNZ() int               { return m.rows * m.cols }

// Bytes returns the bytes of one pass over the matrix: 8 per entry, or 4
// when stored in float32.
func (m *dense) Bytes() int64 {
	size := int64(8)
	if m.f32 {
		size = 4
	}
	return int64(m.rows) * int64(m.cols) * size
}

// pass and sqcols return the kernels of m's element type: hg_dense_pass
// and hg_dense_sqcols, or their float32 forms.
func (m *dense) pass() kernelID {
	if m.f32 {
		return kDensePassF32
	}
	return kDensePass
}

func (m *dense) sqcols() kernelID {
	if m.f32 {
		return kDenseSqColsF32
	}
	return kDenseSqCols
}

// csr is a CSR matrix on the device with its transpose: the CSR arrays as
// uploaded (64-bit row pointers, 32-bit column indices, values), read by row
// sums, and a CSC copy made on the host at upload (64-bit column pointers,
// 32-bit row indices, values; each column's entries in row order, duplicates
// in their CSR order), read by column sums. See kernels/sparse.cu.
type csr struct {
	owner      *Backend
	rows, cols int
	nnz        int
	indptr     devptr // rows+1 int64
	indices    devptr // nnz int32
	val        devptr // nnz float64
	colptr     devptr // cols+1 int64
	rowind     devptr // nnz int32
	cval       devptr // nnz float64
	wRow, wCol int    // threads per row and per column of the segment kernels
	freed      bool
}

func (m *csr) Dims() (int, int)       { return m.rows, m.cols }
func (m *csr) Format() backend.Format { return backend.CSR }
func (m *csr) NNZ() int               { return m.nnz }

// Bytes returns the bytes of one pass over the CSR form (values, column
// indices and row pointers), as for the CPU backend.
func (m *csr) Bytes() int64 { return int64(m.nnz)*12 + int64(m.rows+1)*8 }

// devBytes returns the device memory of both forms.
func (m *csr) devBytes() int64 { return m.Bytes() + int64(m.nnz)*12 + int64(m.cols+1)*8 }

// upload allocates and fills one array of a matrix; n = 0 gives no memory.
func (b *Backend) upload(src unsafe.Pointer, bytes int64) (devptr, error) {
	if bytes == 0 {
		return 0, nil
	}
	p, err := b.rawAlloc(bytes)
	if err != nil {
		return 0, err
	}
	if err := b.drv.htod(p, src, bytes); err != nil {
		b.rawFree(p)
		return 0, err
	}
	return p, nil
}

// NewDense copies a row-major matrix to the device.
func (b *Backend) NewDense(rows, cols int, data []float64) (backend.Matrix, error) {
	const op = "NewDense"
	if b.Closed() {
		return nil, &backend.OpError{Backend: "cuda", Op: op, Err: backend.ErrClosed}
	}
	if v := check.Dense(rows, cols, len(data)); v.Err != nil {
		return nil, v.OpError("cuda", op)
	}
	m := &dense{owner: b, rows: rows, cols: cols, f32: b.f32}
	if len(data) == 0 {
		return m, nil
	}
	src := unsafe.Pointer(&data[0])
	if m.f32 {
		x32 := make([]float32, len(data)) // rounded to nearest, as Go converts
		for i, v := range data {
			x32[i] = float32(v)
		}
		src = unsafe.Pointer(&x32[0])
		defer runtime.KeepAlive(x32)
	}
	if err := b.drv.enter(); err != nil {
		return nil, allocError(op, m.Bytes(), err)
	}
	defer b.drv.exit()
	p, err := b.upload(src, m.Bytes())
	if err != nil {
		return nil, allocError(op, m.Bytes(), err)
	}
	m.p = p
	b.allocated += m.Bytes()
	return m, nil
}

// NewCSR checks a CSR matrix, builds its transpose on the host, and copies
// both to the device.
func (b *Backend) NewCSR(rows, cols int, indptr, indices []int, data []float64) (backend.Matrix, error) {
	const op = "NewCSR"
	if b.Closed() {
		return nil, &backend.OpError{Backend: "cuda", Op: op, Err: backend.ErrClosed}
	}
	// At most MaxInt32 rows: the transpose stores row indices in 32 bits.
	if v := check.CSR(rows, cols, math.MaxInt32, indptr, len(indices), len(data)); v.Err != nil {
		return nil, v.OpError("cuda", op)
	}
	nnz := indptr[rows]
	ptr64 := make([]int64, rows+1)
	for i, p := range indptr {
		ptr64[i] = int64(p)
	}
	idx := make([]int32, nnz)
	count := make([]int64, cols+1)
	for k, j := range indices {
		if j < 0 || j >= cols {
			return nil, check.CSRIndex(j, cols, k).OpError("cuda", op)
		}
		idx[k] = int32(j)
		count[j+1]++
	}
	// The transpose: column j's entries in row order, duplicates in CSR order.
	colptr := count
	for j := range cols {
		colptr[j+1] += colptr[j]
	}
	next := append([]int64(nil), colptr[:cols]...)
	rowind := make([]int32, nnz)
	cval := make([]float64, nnz)
	for i := range rows {
		for k := indptr[i]; k < indptr[i+1]; k++ {
			j := idx[k]
			rowind[next[j]] = int32(i)
			cval[next[j]] = data[k]
			next[j]++
		}
	}
	m := &csr{owner: b, rows: rows, cols: cols, nnz: nnz, wRow: segWidth(nnz, rows), wCol: segWidth(nnz, cols)}
	if err := b.drv.enter(); err != nil {
		return nil, allocError(op, m.devBytes(), err)
	}
	defer b.drv.exit()
	parts := []struct {
		dst   *devptr
		src   unsafe.Pointer
		bytes int64
	}{
		{&m.indptr, unsafe.Pointer(&ptr64[0]), int64(rows+1) * 8},
		{&m.indices, first(idx), int64(nnz) * 4},
		{&m.val, first(data), int64(nnz) * 8},
		{&m.colptr, unsafe.Pointer(&colptr[0]), int64(cols+1) * 8},
		{&m.rowind, first(rowind), int64(nnz) * 4},
		{&m.cval, first(cval), int64(nnz) * 8},
	}
	for k, part := range parts {
		p, err := b.upload(part.src, part.bytes)
		if err != nil {
			for _, done := range parts[:k] {
				b.rawFree(*done.dst)
			}
			return nil, allocError(op, m.devBytes(), err)
		}
		*part.dst = p
	}
	b.allocated += m.devBytes()
	return m, nil
}

// first returns the address of s[0], or nil for an empty slice.
func first[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

// FreeMatrix releases a matrix's device memory after the operations in flight.
func (b *Backend) FreeMatrix(a backend.Matrix) {
	switch t := a.(type) {
	case *dense:
		if t == nil || t.owner != b || t.freed {
			return
		}
		t.freed = true
		if !b.Closed() {
			b.allocated -= t.Bytes()
			b.release("FreeMatrix", t.p)
		}
		t.p = 0
	case *csr:
		if t == nil || t.owner != b || t.freed {
			return
		}
		t.freed = true
		if !b.Closed() {
			b.allocated -= t.devBytes()
			b.release("FreeMatrix", t.indptr, t.indices, t.val, t.colptr, t.rowind, t.cval)
		}
		t.indptr, t.indices, t.val, t.colptr, t.rowind, t.cval = 0, 0, 0, 0, 0, 0
	}
}

// mat resolves a matrix operand, recording an error for nil, foreign or
// freed ones. Exactly one of the results is non-nil on success.
func (b *Backend) mat(op string, a backend.Matrix) (*dense, *csr, bool) {
	if b.Err() != nil {
		return nil, nil, false
	}
	var owner *Backend
	var freed bool
	var d *dense
	var s *csr
	switch t := a.(type) {
	case *dense:
		if t != nil {
			owner, freed, d = t.owner, t.freed, t
		}
	case *csr:
		if t != nil {
			owner, freed, s = t.owner, t.freed, t
		}
	case nil:
	default:
		b.fail(op, backend.ErrForeign, "matrix %T", a)
		return nil, nil, false
	}
	switch {
	case owner == nil:
		b.fail(op, backend.ErrInvalid, "nil matrix")
	case owner != b:
		b.fail(op, backend.ErrForeign, "matrix")
	case freed:
		b.fail(op, backend.ErrFreed, "matrix")
	default:
		return d, s, true
	}
	return nil, nil, false
}
