package backend

// GramVecPairer is an optional capability of a Backend: two Gram products
// with the same weights in one pass over X. The CPU backend implements it;
// on the 2-core VM (20000×2000) it took 1.34–1.45 times one GramVec where two
// calls take two. The package problems uses it for bilevel.HessVecPairer,
// and hypergrad's conjugate gradients for the last iteration's product
// together with the product that the a posteriori bound needs.
type GramVecPairer interface {
	// GramVecPair sets dst1 ← α·Xᵀ(d ⊙ (X·v1)) + β·dst1 and
	// dst2 ← α·Xᵀ(d ⊙ (X·v2)) + β·dst2 (d == nil means d_i = 1), each bit
	// for bit what GramVec(dst, α, x, d, v, β) gives it, reading X once.
	// The operands are checked by CheckGramVecPair.
	GramVecPair(dst1, dst2 Vector, alpha float64, x Matrix, d, v1, v2 Vector, beta float64)
}

// CheckGramVecPair checks the operands of GramVecPair with X rows×cols:
// those of GramVec(dst1, d, v1) and of GramVec(dst2, d, v2) (CheckGramVec:
// shapes, then dst1 is neither v1 nor d, dst2 neither v2 nor d), then that
// dst1 is neither dst2 nor v2 and dst2 is not v1 (ErrAlias).
func CheckGramVecPair[ID comparable](rows, cols int, dst1, dst2, d, v1, v2 Operand[ID]) Violation {
	if v := CheckGramVec(rows, cols, dst1, d, v1); v.Err != nil {
		return v
	}
	if v := CheckGramVec(rows, cols, dst2, d, v2); v.Err != nil {
		return v
	}
	switch {
	case dst1.ID == dst2.ID:
		return alias("dst1 is dst2")
	case dst1.ID == v2.ID:
		return alias("dst1 is v2")
	case dst2.ID == v1.ID:
		return alias("dst2 is v1")
	}
	return Violation{}
}

// GLMGradGramVecer is an optional capability of a Backend: a GLM gradient
// and the Gram product weighted by the curvature it computes, in one pass
// over X. The CPU backend implements it (1.3–1.45 passes, as GramVecPair).
// The package problems uses it for bilevel.GradHessVecer: the inner
// gradient at w_t together with AID's first Hessian-vector product.
type GLMGradGramVecer interface {
	// GLMGradGramVec does GLMGradNoLoss(dst, α, x, w, y, loss, β, curv) and
	// then GramVec(dst2, α, x, curv, v, β) with the curvature just computed
	// (d_i = 1 when curv is nil, which only the squared loss allows: its ℓ″
	// is 1), each result bit for bit, reading X once. The operands are
	// checked by CheckGLMGradGramVec.
	GLMGradGramVec(dst, dst2 Vector, alpha float64, x Matrix, w, y Vector, loss Loss, beta float64, curv, v Vector)
}

// CheckGLMGradGramVec checks the operands of GLMGradGramVec with X
// rows×cols, in this order: those of GLMGrad (CheckGLMGrad); dst is given,
// and curv too unless the loss is Squared (ErrInvalid); those of GramVec
// with dst2, curv and v (CheckGramVec); dst2 is neither dst nor w nor y,
// and neither dst nor curv is v (ErrAlias).
func CheckGLMGradGramVec[ID comparable](rows, cols int, dst, dst2, w, y, curv, v Operand[ID], loss Loss) Violation {
	if vi := CheckGLMGrad(rows, cols, dst, w, y, curv, loss); vi.Err != nil {
		return vi
	}
	var none ID
	switch {
	case dst.ID == none:
		return Violation{ErrInvalid, "no gradient output"}
	case curv.ID == none && loss != Squared:
		return Violation{ErrInvalid, "no curvature output for the " + loss.String() + " loss"}
	}
	if vi := CheckGramVec(rows, cols, dst2, curv, v); vi.Err != nil {
		return vi
	}
	switch {
	case dst2.ID == dst.ID:
		return alias("dst2 is dst")
	case dst2.ID == w.ID:
		return alias("dst2 is w")
	case dst2.ID == y.ID:
		return alias("dst2 is y")
	case dst.ID == v.ID:
		return alias("dst is v")
	case curv.ID == v.ID:
		return alias("curv is v")
	}
	return Violation{}
}
