package data

import (
	"fmt"
	"math"
)

// Matrix is a host matrix, dense row-major or compressed sparse row (CSR).
//
// Dense: Data holds Rows·Cols values in row-major order and Indptr, Indices are
// nil. CSR (the scipy.sparse.csr_matrix layout): row i's stored values are
// Data[Indptr[i]:Indptr[i+1]] in columns Indices[Indptr[i]:Indptr[i+1]];
// len(Indptr) = Rows+1, Indptr[0] = 0, Indptr[Rows] = len(Data) = len(Indices).
// Column indices need not be sorted within a row; duplicates are summed (as
// scipy does) by At and ToDense.
type Matrix struct {
	Rows, Cols int
	Data       []float64 // dense: Rows*Cols row-major; CSR: the stored values
	Indptr     []int     // CSR only: Rows+1 row pointers (nil for dense)
	Indices    []int     // CSR only: column indices
}

// NewDense returns a dense rows×cols matrix backed by data (row-major, not
// copied). If data is nil a zero matrix is allocated. A data slice of the
// wrong length is not a panic: Validate methods report it.
func NewDense(rows, cols int, data []float64) *Matrix {
	if data == nil && rows > 0 && cols > 0 {
		data = make([]float64, rows*cols)
	}
	return &Matrix{Rows: rows, Cols: cols, Data: data}
}

// NewCSR returns a rows×cols CSR matrix backed by the given slices (not
// copied).
func NewCSR(rows, cols int, indptr, indices []int, data []float64) *Matrix {
	if indptr == nil {
		indptr = []int{} // non-nil marks CSR
	}
	return &Matrix{Rows: rows, Cols: cols, Data: data, Indptr: indptr, Indices: indices}
}

// IsCSR reports whether m is stored in CSR form.
func (m *Matrix) IsCSR() bool { return m.Indptr != nil }

// At returns element (i, j). It is O(1) for dense matrices and O(nnz of row i)
// for CSR; it is meant for tests and small problems. It panics if (i, j) is out
// of range, as a slice index does.
func (m *Matrix) At(i, j int) float64 {
	if i < 0 || i >= m.Rows || j < 0 || j >= m.Cols {
		panic(fmt.Sprintf("data: index (%d, %d) out of range for %d×%d matrix", i, j, m.Rows, m.Cols))
	}
	if !m.IsCSR() {
		return m.Data[i*m.Cols+j]
	}
	var s float64
	for k := m.Indptr[i]; k < m.Indptr[i+1]; k++ {
		if m.Indices[k] == j {
			s += m.Data[k]
		}
	}
	return s
}

// ToDense returns a dense copy of a CSR matrix; a dense m is returned itself.
func (m *Matrix) ToDense() *Matrix {
	if !m.IsCSR() {
		return m
	}
	d := NewDense(m.Rows, m.Cols, nil)
	for i := 0; i < m.Rows; i++ {
		row := d.Data[i*m.Cols : (i+1)*m.Cols]
		for k := m.Indptr[i]; k < m.Indptr[i+1]; k++ {
			row[m.Indices[k]] += m.Data[k]
		}
	}
	return d
}

// NNZ returns the number of stored values (Rows·Cols for dense).
func (m *Matrix) NNZ() int { return len(m.Data) }

// check verifies the structure of m (not its values), naming it name.
func (m *Matrix) check(name string) error {
	if m == nil {
		return newErr(ErrMissing, name, "%s is nil", name)
	}
	if m.Rows < 0 || m.Cols < 0 {
		return newErr(ErrShape, name, "%s has negative dimensions %d×%d", name, m.Rows, m.Cols)
	}
	if !m.IsCSR() {
		if m.Indices != nil {
			return newErr(ErrShape, name, "%s has Indices but no Indptr (neither dense nor CSR)", name)
		}
		if m.Cols != 0 && m.Rows > math.MaxInt/m.Cols {
			return newErr(ErrShape, name, "%s: %d×%d elements overflow int", name, m.Rows, m.Cols)
		}
		if len(m.Data) != m.Rows*m.Cols {
			return newErr(ErrShape, name, "%s has %d values, want %d×%d = %d", name, len(m.Data), m.Rows, m.Cols, m.Rows*m.Cols)
		}
		return nil
	}
	if len(m.Indptr) != m.Rows+1 {
		return newErr(ErrShape, name, "%s (CSR) has %d row pointers, want rows+1 = %d", name, len(m.Indptr), m.Rows+1)
	}
	if m.Indptr[0] != 0 {
		return newErr(ErrShape, name, "%s (CSR) indptr[0] = %d, want 0", name, m.Indptr[0])
	}
	for i := 0; i < m.Rows; i++ {
		if m.Indptr[i+1] < m.Indptr[i] {
			return newErr(ErrShape, name, "%s (CSR) indptr decreases at row %d (%d > %d)", name, i, m.Indptr[i], m.Indptr[i+1])
		}
	}
	nnz := m.Indptr[m.Rows]
	if len(m.Data) != nnz || len(m.Indices) != nnz {
		return newErr(ErrShape, name, "%s (CSR) indptr[%d] = %d but it has %d values and %d column indices", name, m.Rows, nnz, len(m.Data), len(m.Indices))
	}
	for k, j := range m.Indices {
		if j < 0 || j >= m.Cols {
			return newErr(ErrShape, name, "%s (CSR) column index %d at position %d is outside [0, %d)", name, j, k, m.Cols)
		}
	}
	return nil
}

// checkFinite reports the first NaN or ±Inf in m (whose structure is valid).
func (m *Matrix) checkFinite(name string) error {
	for k, v := range m.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			i, j := k/max(m.Cols, 1), k%max(m.Cols, 1)
			if m.IsCSR() {
				i, j = csrRow(m.Indptr, k), m.Indices[k]
			}
			return newErr(ErrNonFinite, name, "%s contains %v at (%d, %d)", name, v, i, j)
		}
	}
	return nil
}

// csrRow returns the row that stored position k belongs to.
func csrRow(indptr []int, k int) int {
	lo, hi := 0, len(indptr)-1 // indptr[lo] <= k < indptr[hi]
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if indptr[mid] <= k {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// checkVector reports the first NaN or ±Inf in v.
func checkVector(name string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return newErr(ErrNonFinite, name, "%s contains %v at index %d", name, x, i)
		}
	}
	return nil
}
