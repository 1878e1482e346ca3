package backend

import (
	"fmt"
	"math"
)

// CSRData is a CSR matrix on the host: the arguments of Backend.NewCSR.
type CSRData struct {
	Rows, Cols int
	Indptr     []int // Rows+1 offsets into Indices and Data
	Indices    []int // column of each stored value
	Data       []float64
}

// Upload copies the matrix to b (Backend.NewCSR).
func (m CSRData) Upload(b Backend) (Matrix, error) {
	return b.NewCSR(m.Rows, m.Cols, m.Indptr, m.Indices, m.Data)
}

// ForwardDiff1D returns the forward-difference operator D of a signal of n
// samples with the Neumann boundary condition, as an n×n CSR matrix:
//
//	(D·u)_i = u_{i+1} − u_i   for i < n−1,   (D·u)_{n−1} = 0,
//
// the last row being empty. Its adjoint Dᵀ (MulVecTrans) is the negative
// divergence: (Dᵀ·p)_i = p_{i−1} − p_i with p_{−1} = p_{n−1} = 0. With
// MulVec, MulVecTrans and Map (SqrtSq) it expresses smoothed 1-D total
// variation Σ_i sqrt((D·u)_i² + c). n ≥ 0, else an error.
func ForwardDiff1D(n int) (CSRData, error) {
	if n < 0 || n > math.MaxInt/2-1 {
		return CSRData{}, &OpError{Backend: "host", Op: "ForwardDiff1D", Err: ErrInvalid, Detail: fmt.Sprintf("%d samples", n)}
	}
	m := CSRData{Rows: n, Cols: n, Indptr: make([]int, n+1)}
	m.Indices = make([]int, 0, 2*max(n-1, 0))
	m.Data = make([]float64, 0, 2*max(n-1, 0))
	for i := range n {
		if i < n-1 {
			m.Indices = append(m.Indices, i, i+1)
			m.Data = append(m.Data, -1, 1)
		}
		m.Indptr[i+1] = len(m.Data)
	}
	return m, nil
}

// ForwardDiff2D returns the discrete gradient of an h×w image with the
// Neumann boundary condition, as a 2hw × hw CSR matrix D acting on the
// image u stored row-major (pixel p = i·w + j holds u_ij). Rows 2p and 2p+1
// of D are the horizontal and vertical forward differences at pixel p:
//
//	(D·u)_{2p}   = u_{i,j+1} − u_ij   (0 when j = w−1)
//	(D·u)_{2p+1} = u_{i+1,j} − u_ij   (0 when i = h−1)
//
// the boundary rows being empty. Interleaving the two components puts the
// gradient at pixel p in row p of Reshape(D·u, h·w, 2), so that RowNorms
// gives the group norms sqrt(c + |∇u|_p²) of isotropic total variation
// (Ehrhardt & Roberts' image denoising), and MulVecTrans applies Dᵀ (the
// negative divergence). h, w ≥ 0, else an error.
func ForwardDiff2D(h, w int) (CSRData, error) {
	if h < 0 || w < 0 || (w > 0 && h > math.MaxInt/8/w) {
		return CSRData{}, &OpError{Backend: "host", Op: "ForwardDiff2D", Err: ErrInvalid, Detail: fmt.Sprintf("%d×%d image", h, w)}
	}
	n := h * w
	nnz := 2*h*max(w-1, 0) + 2*w*max(h-1, 0)
	m := CSRData{Rows: 2 * n, Cols: n, Indptr: make([]int, 2*n+1)}
	m.Indices = make([]int, 0, nnz)
	m.Data = make([]float64, 0, nnz)
	for i := range h {
		for j := range w {
			p := i*w + j
			if j < w-1 {
				m.Indices = append(m.Indices, p, p+1)
				m.Data = append(m.Data, -1, 1)
			}
			m.Indptr[2*p+1] = len(m.Data)
			if i < h-1 {
				m.Indices = append(m.Indices, p, p+w)
				m.Data = append(m.Data, -1, 1)
			}
			m.Indptr[2*p+2] = len(m.Data)
		}
	}
	return m, nil
}
