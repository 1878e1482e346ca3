package backend

import "fmt"

// Loss selects the per-row loss ℓ(z, y) of the fused GLMGrad kernel, with
// z = x_iᵀw the linear prediction of row i and y its label.
type Loss int

const (
	// Squared is ℓ(z,y) = ½(z−y)², with ℓ'(z,y) = z−y and ℓ''(z,y) = 1
	// (ridge and quadratic in package problems).
	Squared Loss = iota
	// Logistic is ℓ(z,y) = log(1+exp(−y·z)) for y ∈ {−1,+1}, with
	// ℓ'(z,y) = −y·σ(−y·z) and ℓ''(z,y) = σ(z)·σ(−z), σ(s) = 1/(1+e^{−s})
	// (logreg in package problems). ℓ is evaluated as
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

// GLM is the extension of a Backend with the fused one-pass kernels of the
// GLM-type problems (ridge, logistic regression, the quadratic of
// package problems): the gradient, the Hessian-vector product and
// the Hessian's diagonal of Σ_i ℓ(x_iᵀw, y_i), each reading X once. The CPU
// and CUDA backends implement it; a problem uses it when the backend offers
// it (a type assertion), and the same quantities can be composed from the
// core operations (MulVec, Map, MulElem, MulVecTrans) where it does not.
// The operands follow the package's conventions; the aliasing rules of each
// kernel are stated with it.
type GLM interface {
	// GramVec sets dst ← α·Xᵀ(d ⊙ (X·v)) + β·dst in one pass over the rows
	// of X (len v = len dst = cols, len d = rows; d == nil means d = 1).
	// This is the Hessian-vector product of every GLM-type loss. dst must
	// be neither v nor d.
	GramVec(dst Vector, alpha float64, x Matrix, d, v Vector, beta float64)
	// GramDiag sets dst ← α·diag(Xᵀ diag(d) X) + β·dst, that is
	// dst_j ← α·Σ_i d_i·X_ij² + β·dst_j, in one pass over X (len d = rows,
	// len dst = cols; d == nil means d = 1). For CSR, X_ij is the sum of
	// row i's entries of column j (duplicates are summed, then squared),
	// and only stored entries contribute. It is the diagonal of the GLM
	// Hessian, the Jacobi preconditioner of conjugate gradients. dst must
	// not be d.
	GramDiag(dst Vector, alpha float64, x Matrix, d Vector, beta float64)
	// GLMGrad computes z = X·w and, in the same pass over the rows of X,
	//
	//	dst ← α·Xᵀℓ'(z, y) + β·dst   (skipped when dst == nil)
	//	curv_i ← ℓ''(z_i, y_i)        (skipped when curv == nil)
	//
	// and returns Σ_i ℓ(z_i, y_i) (len w = cols, len y = rows, len dst =
	// cols, len curv = rows). It is the gradient (and, through curv, the
	// Hessian weights) of the GLM-type losses. The loss is Squared or
	// Logistic (else ErrInvalid); the outputs dst and curv are neither w
	// nor y nor each other.
	GLMGrad(dst Vector, alpha float64, x Matrix, w, y Vector, loss Loss, beta float64, curv Vector) float64
	// GLMGradNoLoss is GLMGrad without the loss: dst and curv are GLMGrad's,
	// bit for bit, and nothing is returned. A GPU backend then neither
	// computes the loss nor waits for the device (a gradient step needs
	// only the gradient).
	GLMGradNoLoss(dst Vector, alpha float64, x Matrix, w, y Vector, loss Loss, beta float64, curv Vector)
}
