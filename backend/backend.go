// Package backend is the narrow waist between the hypergradient estimators and
// the hardware: float64 vectors and data matrices resident on a device, BLAS-1,
// matrix-vector products, and the fused one-pass kernels that the GLM-type
// problems of shared/spec/problems.md need.
//
// Estimators and problems see only this interface, which is what lets the same
// estimator code run on the pure-Go CPU backend (package backend/cpu) and on the
// CUDA backend (package backend/cuda, build tag cuda).
//
// # Conventions
//
// Destination-first arguments, as in gonum/mat, except for the BLAS-1 names
// (Axpy, Axpby, Scal) that keep their BLAS argument order. All arithmetic is
// float64.
//
// # Errors
//
// Operations do not return errors one by one. The first failure (a shape
// mismatch, an operand of another backend, a freed operand, a forbidden alias,
// a device failure) is recorded as an *OpError naming the operation and is
// returned by Err. After a failure every operation is a no-op and reductions
// return NaN, until ClearErr. Estimators check Err once per iteration, as a
// CUDA program checks its sticky error. Allocation returns its error directly.
// The backends reject the same operands with the same errors: they share the
// checks of lengths, dimensions and aliases (CheckGLMGrad and the other Check
// functions, which only implementations of Backend call).
//
// # Aliasing
//
// Vectors are whole allocations (there are no views), so two operands alias
// exactly when they are the same Vector. Elementwise operations (Copy, Axpy,
// Axpby, Scal, MulElem, Fill) allow any aliasing. Matrix-vector products and
// the fused kernels (MulVec, MulVecTrans, GramVec, GramDiag, GLMGrad) write
// dst while they read the other vector operands: dst must not be any of them,
// and in GLMGrad the outputs dst and curv must be distinct from each other
// and from w and y. A forbidden alias is reported as ErrAlias.
//
// # Special values
//
// Operations follow their formulas in IEEE arithmetic, with no BLAS-style
// shortcuts: α = 0 multiplies (so 0·Inf = NaN), except that β = 0 overwrites
// the destination instead of scaling it (NaN or Inf in dst does not
// propagate). Nrm2 is NaN if an element is NaN, else +Inf if one is infinite.
//
// # Determinism
//
// A backend computes reductions in a fixed order, so the same inputs on the
// same backend with the same configuration give bit-identical results.
//
// # Concurrency
//
// A Backend is not safe for concurrent use: one goroutine issues its
// operations, as one CUDA stream orders its kernels. Backends may use many
// threads internally.
package backend

import (
	"errors"
	"fmt"
)

// Vector is a float64 vector resident on one backend's device. It is created
// by Backend.NewVector and may be used only with that backend.
type Vector interface {
	// Len returns the number of elements.
	Len() int
}

// Matrix is a data matrix resident on one backend's device, stored dense
// row-major or in compressed sparse row (CSR) form. It is created by
// Backend.NewDense or Backend.NewCSR and may be used only with that backend.
type Matrix interface {
	// Dims returns the number of rows and columns.
	Dims() (rows, cols int)
	// Format reports the storage format.
	Format() Format
	// NNZ returns the number of stored values: rows·cols for Dense.
	NNZ() int
	// Bytes returns the number of bytes one full pass over the matrix reads
	// (values, plus column indices and row pointers for CSR).
	Bytes() int64
}

// Format is the storage format of a Matrix.
type Format int

const (
	// Dense is row-major storage of every entry.
	Dense Format = iota
	// CSR is compressed sparse row storage.
	CSR
)

func (f Format) String() string {
	switch f {
	case Dense:
		return "dense"
	case CSR:
		return "csr"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Loss selects the per-row loss ℓ(z, y) of the fused GLMGrad kernel, with
// z = x_iᵀw the linear prediction of row i and y its label.
type Loss int

const (
	// Squared is ℓ(z,y) = ½(z−y)², with ℓ'(z,y) = z−y and ℓ''(z,y) = 1
	// (ridge and quadratic in shared/spec/problems.md).
	Squared Loss = iota
	// Logistic is ℓ(z,y) = log(1+exp(−y·z)) for y ∈ {−1,+1}, with
	// ℓ'(z,y) = −y·σ(−y·z) and ℓ''(z,y) = σ(z)·σ(−z), σ(s) = 1/(1+e^{−s})
	// (logreg in shared/spec/problems.md). ℓ is evaluated as
	// max(s,0)+log1p(e^{−|s|}), s = −y·z, so it neither overflows nor loses
	// accuracy for large |z|.
	Logistic
)

func (l Loss) String() string {
	switch l {
	case Squared:
		return "squared"
	case Logistic:
		return "logistic"
	}
	return fmt.Sprintf("Loss(%d)", int(l))
}

// Backend is a device that stores vectors and matrices and computes on them.
// See the package documentation for the conventions on errors, aliasing,
// determinism and concurrency.
type Backend interface {
	// Name is the backend's registered name, such as "cpu" or "cuda".
	Name() string
	// Device describes the hardware, such as "cpu: 2 workers" or the GPU model.
	Device() string

	// NewVector allocates a zeroed vector of n ≥ 0 elements.
	NewVector(n int) (Vector, error)
	// NewDense copies the row-major rows×cols matrix data (len rows·cols,
	// else ErrShape) to the device.
	NewDense(rows, cols int, data []float64) (Matrix, error)
	// NewCSR copies a CSR matrix to the device: row i holds the values
	// data[indptr[i]:indptr[i+1]] at the columns indices[indptr[i]:indptr[i+1]].
	// indptr has rows+1 non-decreasing entries starting at 0; column indices
	// lie in [0, cols) and need not be sorted; duplicates are summed.
	NewCSR(rows, cols int, indptr, indices []int, data []float64) (Matrix, error)
	// Free releases a vector's device memory. Freeing nil or twice is a no-op.
	Free(v Vector)
	// FreeMatrix releases a matrix's device memory. Freeing nil or twice is a no-op.
	FreeMatrix(m Matrix)
	// Allocated returns the bytes of device memory held by live vectors and matrices.
	Allocated() int64

	// Upload copies src (len dst.Len()) from the host into dst.
	Upload(dst Vector, src []float64)
	// Download copies src into dst (len src.Len()) on the host; it waits for
	// every earlier operation.
	Download(dst []float64, src Vector)

	// Err returns the first error recorded since the last ClearErr, or nil.
	Err() error
	// ClearErr forgets the recorded error so that operations run again.
	ClearErr()
	// Sync waits until every issued operation has finished and returns Err.
	Sync() error
	// Close frees all device memory held by the backend. The backend must not
	// be used afterwards.
	Close() error

	// Copy sets dst ← src.
	Copy(dst, src Vector)
	// Fill sets every element of dst to a.
	Fill(dst Vector, a float64)
	// Scal sets x ← α·x.
	Scal(alpha float64, x Vector)
	// Axpy sets y ← α·x + y.
	Axpy(alpha float64, x, y Vector)
	// Axpby sets y ← α·x + β·y. With β = 0, y is overwritten (NaNs in y are not propagated).
	Axpby(alpha float64, x Vector, beta float64, y Vector)
	// MulElem sets dst ← α·(x ⊙ y) + β·dst, ⊙ the elementwise product. With
	// β = 0, dst is overwritten.
	MulElem(dst Vector, alpha float64, x, y Vector, beta float64)
	// Dot returns xᵀy.
	Dot(x, y Vector) float64
	// Nrm2 returns the Euclidean norm ‖x‖₂, computed without overflow or
	// underflow of the intermediate sum of squares.
	Nrm2(x Vector) float64

	// MulVec sets dst ← α·A·x + β·dst (len x = cols, len dst = rows). With
	// β = 0, dst is overwritten.
	MulVec(dst Vector, alpha float64, a Matrix, x Vector, beta float64)
	// MulVecTrans sets dst ← α·Aᵀ·x + β·dst (len x = rows, len dst = cols).
	// With β = 0, dst is overwritten.
	MulVecTrans(dst Vector, alpha float64, a Matrix, x Vector, beta float64)
	// GramVec sets dst ← α·Xᵀ(d ⊙ (X·v)) + β·dst in one pass over the rows
	// of X (len v = len dst = cols, len d = rows; d == nil means d = 1).
	// This is the Hessian-vector product of every GLM-type loss.
	GramVec(dst Vector, alpha float64, x Matrix, d, v Vector, beta float64)
	// GramDiag sets dst ← α·diag(Xᵀ diag(d) X) + β·dst, that is
	// dst_j ← α·Σ_i d_i·X_ij² + β·dst_j, in one pass over X (len d = rows,
	// len dst = cols; d == nil means d = 1). With β = 0, dst is overwritten.
	// For CSR, X_ij is the sum of row i's entries of column j (duplicates
	// are summed, then squared), and only stored entries contribute.
	// It is the diagonal of the GLM Hessian, the Jacobi preconditioner of
	// conjugate gradients.
	GramDiag(dst Vector, alpha float64, x Matrix, d Vector, beta float64)
	// GLMGrad computes z = X·w and, in the same pass over the rows of X,
	//
	//	dst ← α·Xᵀℓ'(z, y) + β·dst   (skipped when dst == nil)
	//	curv_i ← ℓ''(z_i, y_i)        (skipped when curv == nil)
	//
	// and returns Σ_i ℓ(z_i, y_i) (len w = cols, len y = rows, len dst =
	// cols, len curv = rows). It is the gradient (and, through curv, the
	// Hessian weights) of the GLM-type losses.
	GLMGrad(dst Vector, alpha float64, x Matrix, w, y Vector, loss Loss, beta float64, curv Vector) float64
	// GLMGradNoLoss is GLMGrad without the loss: dst and curv are GLMGrad's,
	// bit for bit, and nothing is returned. A GPU backend then neither
	// computes the loss nor waits for the device (a gradient step needs
	// only the gradient).
	GLMGradNoLoss(dst Vector, alpha float64, x Matrix, w, y Vector, loss Loss, beta float64, curv Vector)
}

// Sentinel errors, wrapped by *OpError; test with errors.Is.
var (
	// ErrShape reports operands whose lengths or dimensions do not agree.
	ErrShape = errors.New("shape mismatch")
	// ErrAlias reports a destination that is also an operand where that is forbidden.
	ErrAlias = errors.New("forbidden aliasing")
	// ErrForeign reports an operand that another backend created.
	ErrForeign = errors.New("operand belongs to another backend")
	// ErrFreed reports an operand used after Free.
	ErrFreed = errors.New("operand was freed")
	// ErrInvalid reports an invalid argument (negative size, bad CSR structure, unknown loss).
	ErrInvalid = errors.New("invalid argument")
	// ErrOutOfMemory reports an allocation beyond the device's free memory.
	ErrOutOfMemory = errors.New("out of device memory")
	// ErrClosed reports use of a closed backend.
	ErrClosed = errors.New("backend is closed")
	// ErrDevice reports a failure of the device or its driver.
	ErrDevice = errors.New("device failure")
)

// OpError is the error a backend records when an operation fails.
type OpError struct {
	Backend string // backend name
	Op      string // operation, such as "Axpy"
	Err     error  // one of the sentinel errors, or a device error
	Detail  string // what exactly was wrong
}

func (e *OpError) Error() string {
	s := e.Backend + ": " + e.Op + ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *OpError) Unwrap() error { return e.Err }
