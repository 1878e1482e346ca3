package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Rand returns a generator seeded with seed (PCG), so that every data set of
// the suite, and every failure it reports, is reproducible.
func Rand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}

// RandVector returns n standard normal values.
func RandVector(r *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return x
}

// RandLabels returns n labels drawn uniformly from {−1, +1}.
func RandLabels(r *rand.Rand, n int) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = 1
		if r.IntN(2) == 0 {
			y[i] = -1
		}
	}
	return y
}

// HostMatrix is a data matrix on the host, dense row-major or CSR, as the
// arguments of Backend.NewDense and Backend.NewCSR.
type HostMatrix struct {
	Rows, Cols int
	Format     backend.Format
	Dense      []float64 // row-major values (Format == backend.Dense)
	Indptr     []int     // CSR row pointers (Format == backend.CSR)
	Indices    []int     // CSR column indices: unsorted, duplicates allowed
	Data       []float64 // CSR values
}

// RandDense returns a rows×cols matrix of standard normal values.
func RandDense(r *rand.Rand, rows, cols int) *HostMatrix {
	return &HostMatrix{Rows: rows, Cols: cols, Format: backend.Dense, Dense: RandVector(r, rows*cols)}
}

// RandCSR returns a rows×cols CSR matrix with about density·cols entries in
// a typical row, standard normal values, and the awkward structure a backend
// must handle: about one row in eight empty, about one column in eight never
// used, column indices in random order, and duplicate indices (sampled with
// replacement, and one explicit repeat in about one row in four).
func RandCSR(r *rand.Rand, rows, cols int, density float64) *HostMatrix {
	m := &HostMatrix{Rows: rows, Cols: cols, Format: backend.CSR, Indptr: make([]int, 1, rows+1)}
	var usable []int // columns that may hold entries
	for j := range cols {
		if cols < 4 || r.IntN(8) != 0 {
			usable = append(usable, j)
		}
	}
	for range rows {
		if len(usable) > 0 && r.IntN(8) != 0 {
			k := int(math.Round(density * float64(cols) * (0.5 + r.Float64())))
			start := len(m.Indices)
			for range k {
				m.Indices = append(m.Indices, usable[r.IntN(len(usable))])
				m.Data = append(m.Data, r.NormFloat64())
			}
			if k > 0 && r.IntN(4) == 0 {
				m.Indices = append(m.Indices, m.Indices[start+r.IntN(k)])
				m.Data = append(m.Data, r.NormFloat64())
			}
		}
		m.Indptr = append(m.Indptr, len(m.Indices))
	}
	return m
}

// Merged returns m with the duplicate entries of each CSR row merged into
// one, their values summed in CSR order (as a backend must sum them), the
// columns of a row kept in the order of their first entry; a dense m is
// returned as is. The result describes the same matrix with no duplicates.
func (m *HostMatrix) Merged() *HostMatrix {
	if m.Format != backend.CSR {
		return m
	}
	out := &HostMatrix{Rows: m.Rows, Cols: m.Cols, Format: backend.CSR, Indptr: make([]int, 1, m.Rows+1)}
	pos := make([]int, m.Cols) // 1 + the position in out of column j's entry in the current row
	for i := range m.Rows {
		start := len(out.Indices)
		for k := m.Indptr[i]; k < m.Indptr[i+1]; k++ {
			j := m.Indices[k]
			if p := pos[j] - 1; p >= start {
				out.Data[p] += m.Data[k]
				continue
			}
			pos[j] = len(out.Indices) + 1
			out.Indices = append(out.Indices, j)
			out.Data = append(out.Data, m.Data[k])
		}
		out.Indptr = append(out.Indptr, len(out.Indices))
	}
	return out
}

// Upload copies the matrix to b with NewDense or NewCSR.
func (m *HostMatrix) Upload(b backend.Backend) (backend.Matrix, error) {
	if m.Format == backend.CSR {
		return b.NewCSR(m.Rows, m.Cols, m.Indptr, m.Indices, m.Data)
	}
	return b.NewDense(m.Rows, m.Cols, m.Dense)
}

// NNZ returns the number of stored values.
func (m *HostMatrix) NNZ() int {
	if m.Format == backend.CSR {
		return len(m.Data)
	}
	return m.Rows * m.Cols
}

// String describes the matrix, as in "dense 7×3" or "csr 7×3 (nnz 12)".
func (m *HostMatrix) String() string {
	if m.Format == backend.CSR {
		return fmt.Sprintf("csr %d×%d (nnz %d)", m.Rows, m.Cols, len(m.Data))
	}
	return fmt.Sprintf("dense %d×%d", m.Rows, m.Cols)
}

// row calls f(j, a_ij) for every stored entry of row i.
func (m *HostMatrix) row(i int, f func(j int, a float64)) {
	if m.Format == backend.CSR {
		for k := m.Indptr[i]; k < m.Indptr[i+1]; k++ {
			f(m.Indices[k], m.Data[k])
		}
		return
	}
	for j, a := range m.Dense[i*m.Cols : (i+1)*m.Cols] {
		f(j, a)
	}
}

// RandClasses returns n class labels drawn uniformly from {0, …,
// classes−1}, for Backend.NewLabels.
func RandClasses(r *rand.Rand, n, classes int) []int {
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(classes)
	}
	return y
}

// RandScores returns a rows×cols block of scores for the row operations:
// 3·N(0, 1) values, each row shifted by one of 0, 800, −800, 30 in turn, so
// that exp of a raw score overflows or underflows in some rows and the
// maximum must be subtracted first.
func RandScores(r *rand.Rand, rows, cols int) []float64 {
	a := make([]float64, rows*cols)
	shifts := [4]float64{0, 800, -800, 30}
	for i := range rows {
		for j := range cols {
			a[i*cols+j] = 3*r.NormFloat64() + shifts[i%4]
		}
	}
	return a
}
