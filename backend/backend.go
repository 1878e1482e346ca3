// Package backend is the narrow waist between the hypergradient estimators and
// the hardware: float64 vectors, row-major blocks, class labels and data
// matrices resident on a device, and a closed set of operations on them —
// BLAS-1, matrix–vector and matrix–block products, GEMM, elementwise maps
// with their derivatives, and row operations (softmax, log-sum-exp, cross-
// entropy, sums and norms). The fused one-pass kernels of the GLM-type
// problems (GLM) and of multinomial logistic regression (Multinomial) are
// extensions that a backend may offer beside the core.
//
// Estimators and problems see only these interfaces, which is what lets the
// same estimator code run on the pure-Go CPU backend (package backend/cpu)
// and on the CUDA backend (package backend/cuda, build tag cuda).
//
// # Conventions
//
// Destination-first arguments, as in gonum/mat, except for the BLAS-1 names
// (Axpy, Axpby, Scal) that keep their BLAS argument order. All arithmetic is
// float64. Where an operation has the form dst ← α·(…) + β·dst, β = 0
// overwrites dst (its NaN or Inf does not propagate).
//
// # Vectors and blocks
//
// A Vector is a contiguous float64 array. A Block is a Vector with a
// row-major shape rows×cols: element (i, j) is element i·cols + j of the
// vector, so every vector operation (Copy, Axpy, Dot, Nrm2, Map, …) applies to
// a block as the flat vector it is, and a solver that works on vectors works
// on blocks unchanged. NewBlock allocates a block; Reshape views a vector (or
// a block) with another shape of the same length, sharing its storage. There
// are no views of parts of an allocation: CopyRange copies a contiguous part
// of one vector into a part of another (or of the same one).
//
// # Errors
//
// Operations do not return errors one by one. The first failure (a shape
// mismatch, an operand of another backend, a freed operand, a forbidden alias,
// an invalid argument, a device failure) is recorded as an *OpError naming
// the operation and is returned by Err. After a failure every operation is a
// no-op and reductions return NaN, until ClearErr. Estimators check Err once
// per iteration, as a CUDA program checks its sticky error. Allocations
// (NewVector, NewBlock, NewDense, NewCSR, NewLabels) and Reshape return their
// errors directly. The backends reject the same operands with the same
// errors: they share one set of checks (package backend/internal/check).
//
// # Aliasing
//
// Two operands alias exactly when they share storage: the same Vector or
// Block, or a Reshape view of it. Elementwise operations (Copy, Axpy, Axpby,
// Scal, MulElem, DivElem, Fill, Map, ScaleRows, ScaleCols, Softmax) allow any
// aliasing, as each element of the output depends only on the same element
// of the inputs (or, for the row operations, on the same row). Every other
// operation writes its outputs while it reads its inputs: an output must not
// alias an input, nor another output, except where the operation says
// otherwise (CopyRange allows dst and src to share storage when the two
// ranges are disjoint). A forbidden alias is reported as ErrAlias.
//
// # Special values
//
// Operations follow their formulas in IEEE arithmetic, with no BLAS-style
// shortcuts: α = 0 multiplies (so 0·Inf = NaN), except that β = 0 overwrites
// the destination instead of scaling it. Nrm2 is NaN if an element is NaN,
// else +Inf if one is infinite. The maxima of the row operations propagate
// NaN.
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
//
// # The operation set, and how to add an operation
//
// Memory: NewVector, NewBlock, Reshape, NewLabels, NewDense, NewCSR, Free,
// FreeMatrix, Allocated, Upload, Download. Errors and ordering: Err,
// ClearErr, Sync, Close. BLAS-1: Copy, CopyRange, Fill, Scal, Axpy, Axpby,
// MulElem, DivElem, Dot, Nrm2. Products: MulVec, MulVecTrans (data matrix ×
// vector), MulBlock, MulBlockTrans (data matrix × block), Gemm (block ×
// block).
// Elementwise maps: Map with a Func of the closed set Exp, Log, Softplus,
// Sigmoid, SigmoidDeriv, Tanh, TanhDeriv, SqrtSq, SqrtSqDeriv, SqrtSqDeriv2,
// Recip (Func.Deriv gives each one's derivative where it is in the set). Row
// operations: ScaleRows, ScaleCols, RowSums, ColSums, RowNorms, Softmax,
// LogSumExp, CrossEntropy. Finite differences (total variation) are CSR
// matrices built by ForwardDiff1D and ForwardDiff2D, applied with MulVec and
// MulVecTrans. Extensions a backend may add: GLM (the fused GLM passes),
// Multinomial (the fused softmax cross-entropy passes), GramVecPairer,
// GLMGradGramVecer, CGStepper.
//
// To add an operation (an afternoon's work):
//
//  1. Declare it here, destination first, with its formula, its shapes,
//     its aliasing and its special values, and add its operand check to
//     backend/internal/check (shapes, then aliases, then arguments), with a
//     case in check_test.go.
//  2. CPU (backend/cpu): resolve the operands with b.v / b.mat, call the
//     check, then run the work with the engine: an elementwise or row-wise
//     operation is cut into parts by splitLen or splitRows (no reduction
//     across parts); a reduction gives every part its own accumulator and
//     sums them in part order. Bind the part function once in newEngine so
//     that dispatching allocates nothing, and add the operation to the
//     zero-allocation test.
//  3. CUDA: a kernel in kernels/*.cu (every parameter 64 bits wide, 256
//     threads a block, reductions by the fixed trees of common.cuh, no
//     atomics), its name in backend/cuda/launch.go, the host method beside
//     its CPU twin; run go generate ./kernels to regenerate the PTX. The
//     emulator (go test -tags cudaemu ./backend/cuda/...) compiles the
//     sources and runs them without a GPU.
//  4. Conformance (backend/backendtest): a reference on host slices with
//     the magnitude of its terms, awkward shapes, each error, each alias,
//     NaN and Inf, and bit-identical repeats. Both backends must pass it.
package backend

import (
	"errors"
	"fmt"
)

// Vector is a float64 vector resident on one backend's device. It is created
// by Backend.NewVector (or is a Block) and may be used only with that
// backend.
type Vector interface {
	// Len returns the number of elements.
	Len() int
}

// Block is a row-major rows×cols float64 array resident on one backend's
// device: a Vector of length rows·cols whose element i·cols + j is the
// block's (i, j). It is created by Backend.NewBlock or Backend.Reshape.
type Block interface {
	Vector
	// Dims returns the number of rows and columns.
	Dims() (rows, cols int)
}

// Labels are class labels y_i ∈ {0, …, classes−1} of n rows, resident on
// one backend's device, for CrossEntropy. They are created (and checked) by
// Backend.NewLabels and freed by Backend.Free.
type Labels interface {
	// Len returns the number of labels n.
	Len() int
	// Classes returns the number of classes.
	Classes() int
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

// Transpose selects op(A) = A or Aᵀ for an operand of Gemm.
type Transpose bool

const (
	// NoTrans is op(A) = A.
	NoTrans Transpose = false
	// Trans is op(A) = Aᵀ.
	Trans Transpose = true
)

func (t Transpose) String() string {
	if t {
		return "T"
	}
	return "N"
}

// Backend is a device that stores vectors, blocks, labels and matrices and
// computes on them. See the package documentation for the conventions on
// errors, aliasing, special values, determinism and concurrency.
type Backend interface {
	// Name is the backend's registered name, such as "cpu" or "cuda".
	Name() string
	// Device describes the hardware, such as "cpu: 2 workers" or the GPU model.
	Device() string

	// NewVector allocates a zeroed vector of n ≥ 0 elements.
	NewVector(n int) (Vector, error)
	// NewBlock allocates a zeroed rows×cols block (rows, cols ≥ 0, else
	// ErrInvalid; rows·cols must not overflow, else ErrOutOfMemory).
	NewBlock(rows, cols int) (Block, error)
	// Reshape returns a rows×cols block that shares v's storage (v a Vector
	// or a Block of this backend; rows, cols ≥ 0 and rows·cols = v.Len(),
	// else ErrShape). It allocates no device memory; the view and v alias,
	// and Free of either frees the storage of both.
	Reshape(v Vector, rows, cols int) (Block, error)
	// NewLabels copies class labels to the device: y_i ∈ [0, classes) for
	// 1 ≤ classes ≤ 2³¹−1 (else ErrInvalid).
	NewLabels(classes int, y []int) (Labels, error)
	// NewDense copies the row-major rows×cols matrix data (len rows·cols,
	// else ErrShape) to the device.
	NewDense(rows, cols int, data []float64) (Matrix, error)
	// NewCSR copies a CSR matrix to the device: row i holds the values
	// data[indptr[i]:indptr[i+1]] at the columns indices[indptr[i]:indptr[i+1]].
	// indptr has rows+1 non-decreasing entries starting at 0; column indices
	// lie in [0, cols) and need not be sorted; duplicates are summed.
	NewCSR(rows, cols int, indptr, indices []int, data []float64) (Matrix, error)
	// Free releases the device memory of a vector, block or labels (and of
	// every view sharing it). Freeing nil or twice is a no-op.
	Free(v Vector)
	// FreeMatrix releases a matrix's device memory. Freeing nil or twice is a no-op.
	FreeMatrix(m Matrix)
	// Allocated returns the bytes of device memory held by live vectors,
	// blocks, labels and matrices.
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
	// CopyRange sets dst[dstOff+i] ← src[srcOff+i] for 0 ≤ i < n: a
	// contiguous part of src into a contiguous part of dst, exactly (no
	// arithmetic). dstOff, srcOff, n ≥ 0 (else ErrInvalid) and both ranges
	// lie inside their vectors, off + n ≤ Len (else ErrShape); n = 0 does
	// nothing once the operands are checked. A Block is addressed as its
	// flat row-major vector. dst and src may share storage (the same vector,
	// or a Reshape view of it, numbering the elements alike) only if the two
	// ranges do not overlap, else ErrAlias.
	CopyRange(dst Vector, dstOff int, src Vector, srcOff, n int)
	// Fill sets every element of dst to a.
	Fill(dst Vector, a float64)
	// Scal sets x ← α·x.
	Scal(alpha float64, x Vector)
	// Axpy sets y ← α·x + y.
	Axpy(alpha float64, x, y Vector)
	// Axpby sets y ← α·x + β·y. With β = 0, y is overwritten (NaNs in y are not propagated).
	Axpby(alpha float64, x Vector, beta float64, y Vector)
	// MulElem sets dst ← α·(x ⊙ y) + β·dst, ⊙ the elementwise product.
	MulElem(dst Vector, alpha float64, x, y Vector, beta float64)
	// DivElem sets dst ← α·(x ⊘ y) + β·dst, ⊘ the elementwise quotient
	// x_i/y_i (IEEE: 1/0 = +Inf, 0/0 = NaN).
	DivElem(dst Vector, alpha float64, x, y Vector, beta float64)
	// Map sets dst_i ← f(x_i; c), f from the closed set of Func (c its
	// parameter: c ≥ 0 and finite for SqrtSq and its derivatives, 0 for
	// the others, else ErrInvalid).
	Map(dst Vector, f Func, c float64, x Vector)
	// Dot returns xᵀy.
	Dot(x, y Vector) float64
	// Nrm2 returns the Euclidean norm ‖x‖₂, computed without overflow or
	// underflow of the intermediate sum of squares.
	Nrm2(x Vector) float64

	// MulVec sets dst ← α·A·x + β·dst (len x = cols, len dst = rows).
	MulVec(dst Vector, alpha float64, a Matrix, x Vector, beta float64)
	// MulVecTrans sets dst ← α·Aᵀ·x + β·dst (len x = rows, len dst = cols).
	MulVecTrans(dst Vector, alpha float64, a Matrix, x Vector, beta float64)
	// MulBlock sets dst ← α·X·W + β·dst for a data matrix X rows×cols, W
	// cols×k and dst rows×k: the k-column MulVec.
	MulBlock(dst Block, alpha float64, x Matrix, w Block, beta float64)
	// MulBlockTrans sets dst ← α·Xᵀ·G + β·dst for a data matrix X
	// rows×cols, G rows×k and dst cols×k: the k-column MulVecTrans.
	MulBlockTrans(dst Block, alpha float64, x Matrix, g Block, beta float64)
	// Gemm sets dst ← α·op(A)·op(B) + β·dst with op(A) m×k, op(B) k×n and
	// dst m×n, op(X) = X or Xᵀ as ta and tb say. A and B may alias each
	// other (AᵀA). With k = 0, dst ← β·dst (0 when β = 0).
	Gemm(dst Block, alpha float64, a Block, ta Transpose, b Block, tb Transpose, beta float64)

	// ScaleRows sets dst_ij ← v_i·a_ij (dst and a rows×cols, len v = rows).
	// dst may alias a (but not v).
	ScaleRows(dst Block, v Vector, a Block)
	// ScaleCols sets dst_ij ← a_ij·v_j (dst and a rows×cols, len v = cols).
	// dst may alias a (but not v).
	ScaleCols(dst Block, a Block, v Vector)
	// RowSums sets dst_i ← α·Σ_j a_ij + β·dst_i (a rows×cols, len dst = rows).
	RowSums(dst Vector, alpha float64, a Block, beta float64)
	// ColSums sets dst_j ← α·Σ_i a_ij + β·dst_j (a rows×cols, len dst = cols).
	ColSums(dst Vector, alpha float64, a Block, beta float64)
	// RowNorms sets dst_i ← sqrt(c + Σ_j a_ij²) (a rows×cols, len dst =
	// rows; c ≥ 0 and finite, else ErrInvalid): the group norms of total
	// variation, smoothed by c. The sum is plain (it may overflow to +Inf
	// for entries beyond 1e154).
	RowNorms(dst Vector, a Block, c float64)
	// Softmax sets row i of dst to the softmax of row i of a:
	// dst_ij ← exp(a_ij − m_i) / Σ_l exp(a_il − m_i), m_i = max_l a_il
	// (dst and a rows×cols; dst may alias a). A row holding NaN or +Inf, or
	// only −Inf, gives a row of NaN.
	Softmax(dst, a Block)
	// LogSumExp sets dst_i ← m_i + log Σ_j exp(a_ij − m_i), m_i = max_j a_ij
	// (a rows×cols, len dst = rows): −Inf for an empty row (cols = 0) or a
	// row of −Inf, +Inf for a row holding +Inf and no NaN, NaN for a row
	// holding NaN.
	LogSumExp(dst Vector, a Block)
	// CrossEntropy computes, for each row i of the scores a (rows×cols)
	// with label y_i (len y = rows, y.Classes() = cols), the loss and its
	// gradient with respect to the row:
	//
	//	loss_i ← LSE(a_i) − a_{i,y_i}                (skipped when loss == nil)
	//	grad_ij ← softmax(a_i)_j − [j = y_i]          (skipped when grad == nil)
	//
	// with LSE and softmax as in LogSumExp and Softmax (grad rows×cols, len
	// loss = rows). grad may alias a; loss must alias neither.
	CrossEntropy(grad Block, loss Vector, a Block, y Labels)
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
