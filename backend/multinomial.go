package backend

// Multinomial is the extension of a Backend with the fused one-pass
// kernels of multinomial logistic regression and of the weighted losses
// built on it (hyper-cleaning): for a data matrix X (rows×cols), a weight
// block W (cols×k), scores Z = X·W, the row softmax P = softmax(Z) and
// class labels y_i ∈ [0, k), the gradient and the Hessian-block product of
//
//	L(W) = Σ_i d_i·CE_i,   CE_i = LSE(z_i) − z_{i,y_i},
//
// each computable in one pass over X where the core operations take two
// (MulBlock, then CrossEntropy and ScaleRows, then MulBlockTrans: what the
// fused operations compute, up to the order of the sums). How many passes
// a backend makes is its own documentation's to say. The row formulas
// are those of Softmax, LogSumExp and CrossEntropy; the weights d (len
// rows) are optional, nil meaning d_i = 1.
type Multinomial interface {
	// SoftmaxGrad computes Z = X·W and, in the same pass over the rows of X,
	//
	//	dst ← α·Xᵀ·G + β·dst,  G_ij = d_i·(P_ij − [j = y_i])   (dst cols×k)
	//	prob ← P                                               (rows×k; skipped when nil)
	//	loss_i ← CE_i                                          (skipped when nil)
	//
	// with y.Len() = rows and y.Classes() = k. The outputs dst, prob and
	// loss alias no input (W, d) and no other output (ErrAlias).
	SoftmaxGrad(dst Block, alpha float64, x Matrix, w Block, y Labels, d Vector, beta float64, prob Block, loss Vector)
	// SoftmaxHessBlock sets dst ← α·Xᵀ·R + β·dst with, for each row i,
	// u_i = x_iᵀ·V and R_i = d_i·(p_i ⊙ u_i − p_i·(p_iᵀu_i)), in one pass
	// over the rows of X (V and dst cols×k, P rows×k: the prob of
	// SoftmaxGrad at the W of the Hessian). This is the Hessian of L at W
	// applied to V, the block (cols·k)-vector. dst aliases none of P, d, V.
	SoftmaxHessBlock(dst Block, alpha float64, x Matrix, p Block, d Vector, v Block, beta float64)
}
