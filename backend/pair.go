package backend

// GramVecPairer is an optional capability of a GLM backend: two Gram products
// with the same weights in one pass over X. The CPU backend implements it.
// The package problems uses it for bilevel.HessVecPairer,
// and hypergrad's conjugate gradients for the last iteration's product
// together with the product that the a posteriori bound needs.
type GramVecPairer interface {
	// GramVecPair sets dst1 ← α·Xᵀ(d ⊙ (X·v1)) + β·dst1 and
	// dst2 ← α·Xᵀ(d ⊙ (X·v2)) + β·dst2 (d == nil means d_i = 1), each bit
	// for bit what GramVec(dst, α, x, d, v, β) gives it, reading X once.
	// The operands are those of GramVec(dst1, d, v1) and GramVec(dst2, d,
	// v2); moreover dst1 is neither dst2 nor v2, and dst2 is not v1
	// (ErrAlias).
	GramVecPair(dst1, dst2 Vector, alpha float64, x Matrix, d, v1, v2 Vector, beta float64)
}

// GLMGradGramVecer is an optional capability of a GLM backend: a GLM gradient
// and the Gram product weighted by the curvature it computes, in one pass
// over X. The CPU backend implements it.
// The package problems uses it for bilevel.GradHessVecer: the inner
// gradient at w_t together with AID's first Hessian-vector product.
type GLMGradGramVecer interface {
	// GLMGradGramVec does GLMGradNoLoss(dst, α, x, w, y, loss, β, curv) and
	// then GramVec(dst2, α, x, curv, v, β) with the curvature just computed
	// (d_i = 1 when curv is nil, which only the squared loss allows: its ℓ″
	// is 1), each result bit for bit, reading X once. The operands are
	// those of GLMGrad, with dst given (and curv too unless the loss is
	// Squared; else ErrInvalid), then those of GramVec(dst2, curv, v);
	// moreover dst2 is neither dst nor w nor y, and neither dst nor curv is
	// v (ErrAlias).
	GLMGradGramVec(dst, dst2 Vector, alpha float64, x Matrix, w, y Vector, loss Loss, beta float64, curv, v Vector)
}
