package check

// SoftmaxGrad checks the operands of SoftmaxGrad with X rows×cols and n
// labels of classes classes: W is cols×k with k = classes, n = rows, dst
// is cols×k, and d (len rows), prob (rows×k) and loss (len rows) where
// given (ErrShape); then dst is none of W, d, prob, loss, prob none of W,
// d, loss, and loss neither W nor d (ErrAlias).
func SoftmaxGrad[ID comparable](rows, cols int, dst, w Operand[ID], n, classes int, d, prob, loss Operand[ID]) Violation {
	var none ID
	k := w.Cols
	if w.Rows != cols || classes != k || n != rows || dst.Rows != cols || dst.Cols != k ||
		(d.ID != none && d.Len != rows) || (prob.ID != none && (prob.Rows != rows || prob.Cols != k)) ||
		(loss.ID != none && loss.Len != rows) {
		return shape("X %s, W %s, %d labels of %d classes, dst %s, d %s, prob %s, loss %s", dims(rows, cols),
			dims(w.Rows, w.Cols), n, classes, dims(dst.Rows, dst.Cols), optLen(d), optDims(prob), optLen(loss))
	}
	switch dst.ID {
	case w.ID:
		return alias("dst is W")
	case d.ID:
		return alias("dst is d")
	case prob.ID:
		return alias("dst is prob")
	case loss.ID:
		return alias("dst is loss")
	}
	if prob.ID != none {
		switch prob.ID {
		case w.ID:
			return alias("prob is W")
		case d.ID:
			return alias("prob is d")
		case loss.ID:
			return alias("prob is loss")
		}
	}
	if loss.ID != none {
		switch loss.ID {
		case w.ID:
			return alias("loss is W")
		case d.ID:
			return alias("loss is d")
		}
	}
	return Violation{}
}

// SoftmaxHessBlock checks the operands of SoftmaxHessBlock with X
// rows×cols: P is rows×k, V and dst cols×k, d (where given) of len rows
// (ErrShape); dst is none of P, d, V (ErrAlias).
func SoftmaxHessBlock[ID comparable](rows, cols int, dst, p, d, v Operand[ID]) Violation {
	var none ID
	k := p.Cols
	if p.Rows != rows || v.Rows != cols || v.Cols != k || dst.Rows != cols || dst.Cols != k ||
		(d.ID != none && d.Len != rows) {
		return shape("X %s, P %s, V %s, dst %s, d %s", dims(rows, cols), dims(p.Rows, p.Cols),
			dims(v.Rows, v.Cols), dims(dst.Rows, dst.Cols), optLen(d))
	}
	switch dst.ID {
	case p.ID:
		return alias("dst is P")
	case d.ID:
		return alias("dst is d")
	case v.ID:
		return alias("dst is V")
	}
	return Violation{}
}
