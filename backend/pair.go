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
