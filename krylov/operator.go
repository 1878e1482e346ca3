package krylov

import (
	"github.com/hypergrad-go/hypergrad/backend"
)

// MatrixOperator is the Operator of a data matrix of a backend: A x is
// MulVec and Aᵀ x MulVecTrans. T says what is known of A (a square dense
// matrix that is symmetric, say); the tags are the caller's claim, not
// checked.
type MatrixOperator struct {
	B backend.Backend
	A backend.Matrix
	T Tags
}

var _ Transposer = MatrixOperator{}

// Dims returns the matrix's dimensions.
func (m MatrixOperator) Dims() (rows, cols int) { return m.A.Dims() }

// Tags returns T.
func (m MatrixOperator) Tags() Tags { return m.T }

// Apply sets dst ← A x.
func (m MatrixOperator) Apply(dst, x backend.Vector) error {
	m.B.MulVec(dst, 1, m.A, x, 0)
	return m.B.Err()
}

// ApplyTrans sets dst ← Aᵀ x.
func (m MatrixOperator) ApplyTrans(dst, x backend.Vector) error {
	m.B.MulVecTrans(dst, 1, m.A, x, 0)
	return m.B.Err()
}

// Jacobi is the diagonal preconditioner M⁻¹ x = x ⊘ D of PCG, for the
// diagonal D (len n, entries > 0 for an SPD M) of an operator: D is
// read, not copied, at every application.
type Jacobi struct {
	B backend.Backend
	D backend.Vector
}

var _ Operator = Jacobi{}

// Dims returns n×n.
func (j Jacobi) Dims() (rows, cols int) { return j.D.Len(), j.D.Len() }

// Tags returns Symmetric | PositiveDefinite: the caller vouches for D > 0.
func (j Jacobi) Tags() Tags { return Symmetric | PositiveDefinite }

// Apply sets dst ← x ⊘ D.
func (j Jacobi) Apply(dst, x backend.Vector) error {
	j.B.DivElem(dst, 1, x, j.D, 0)
	return j.B.Err()
}
