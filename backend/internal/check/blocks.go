package check

import (
	"math"
	"strconv"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Block checks the dimensions of NewBlock: rows, cols ≥ 0 (ErrInvalid), and
// rows·cols doubles addressable in bytes (ErrOutOfMemory).
func Block(rows, cols int) Violation {
	if rows < 0 || cols < 0 {
		return invalid("dimensions %d×%d", rows, cols)
	}
	if cols > 0 && rows > math.MaxInt/8/cols {
		return Violation{backend.ErrOutOfMemory, "dimensions " + dims(rows, cols)}
	}
	return Violation{}
}

// Reshape checks the shape of Reshape of a vector of n elements: rows,
// cols ≥ 0 and rows·cols = n (ErrShape).
func Reshape(n, rows, cols int) Violation {
	if rows < 0 || cols < 0 || (cols > 0 && rows > math.MaxInt/cols) || rows*cols != n {
		return shape("%d×%d view of %d elements", rows, cols, n)
	}
	return Violation{}
}

// Labels checks the arguments of NewLabels: classes ≥ 1 and every label in
// [0, classes) (ErrInvalid, naming the first label out of range). It is
// O(len y).
func Labels(classes int, y []int) Violation {
	if classes < 1 || classes > math.MaxInt32 {
		return invalid("%d classes", classes)
	}
	for i, c := range y {
		if c < 0 || c >= classes {
			return invalid("label %d of row %d out of range [0,%d)", c, i, classes)
		}
	}
	return Violation{}
}

// Map checks the operands of Map: f is in the set, c ≥ 0 and finite for a
// function with a parameter and c = 0 otherwise (ErrInvalid); len dst =
// len x (ErrShape). Any aliasing is allowed.
func Map(f backend.Func, c float64, dst, x int) Violation {
	switch {
	case !f.Valid():
		return invalid("unknown function %v", f)
	case f.HasParam() && !(c >= 0 && c <= math.MaxFloat64):
		return invalid("parameter c = %v of %v (want finite c ≥ 0)", c, f)
	case !f.HasParam() && c != 0:
		return invalid("parameter c = %v of %v, which takes none (want 0)", c, f)
	}
	return SameLen(dst, x)
}

// Gemm checks the operands of Gemm: op(A) m×k, op(B) k×n and dst m×n
// (ErrShape); dst is neither A nor B (ErrAlias).
func Gemm[ID comparable](dst, a Operand[ID], ta backend.Transpose, b Operand[ID], tb backend.Transpose) Violation {
	am, ak := a.Rows, a.Cols
	if ta {
		am, ak = ak, am
	}
	bk, bn := b.Rows, b.Cols
	if tb {
		bk, bn = bn, bk
	}
	if ak != bk || dst.Rows != am || dst.Cols != bn {
		return shape("dst %s, op(A) %s (A %s %v), op(B) %s (B %s %v)", dims(dst.Rows, dst.Cols),
			dims(am, ak), dims(a.Rows, a.Cols), ta, dims(bk, bn), dims(b.Rows, b.Cols), tb)
	}
	switch dst.ID {
	case a.ID:
		return alias("dst is A")
	case b.ID:
		return alias("dst is B")
	}
	return Violation{}
}

// MulBlock checks the operands of a product dst ← α·op(X)·w + β·dst with X
// rows×cols: op(X) = X for MulBlock (w cols×k, dst rows×k) and op(X) = Xᵀ
// for MulBlockTrans, trans (w rows×k, dst cols×k); otherwise ErrShape. dst
// must not be w (ErrAlias).
func MulBlock[ID comparable](rows, cols int, trans bool, dst, w Operand[ID]) Violation {
	r, c := rows, cols
	if trans {
		r, c = c, r
	}
	if w.Rows != c || dst.Rows != r || dst.Cols != w.Cols {
		what := "X"
		if trans {
			what = "Xᵀ"
		}
		return shape("dst %s, %s with X %s, W %s", dims(dst.Rows, dst.Cols), what, dims(rows, cols), dims(w.Rows, w.Cols))
	}
	if dst.ID == w.ID {
		return alias("dst is W")
	}
	return Violation{}
}

// Scale checks the operands of ScaleRows (rows) and ScaleCols: dst has a's
// shape and len v = rows of a (ScaleRows) or cols of a (ScaleCols)
// (ErrShape); dst is not v (ErrAlias). dst may be a.
func Scale[ID comparable](rows bool, dst, a, v Operand[ID]) Violation {
	want := a.Cols
	if rows {
		want = a.Rows
	}
	if dst.Rows != a.Rows || dst.Cols != a.Cols || v.Len != want {
		return shape("dst %s, a %s, v %d", dims(dst.Rows, dst.Cols), dims(a.Rows, a.Cols), v.Len)
	}
	if dst.ID == v.ID {
		return alias("dst is v")
	}
	return Violation{}
}

// Reduce checks the operands of a reduction of the rows of a (RowSums,
// RowNorms, LogSumExp: byRow, len dst = rows of a) or of its columns
// (ColSums: len dst = cols of a) (ErrShape); dst is not a (ErrAlias).
func Reduce[ID comparable](byRow bool, dst, a Operand[ID]) Violation {
	want := a.Cols
	if byRow {
		want = a.Rows
	}
	if dst.Len != want {
		return shape("dst %d, a %s", dst.Len, dims(a.Rows, a.Cols))
	}
	if dst.ID == a.ID {
		return alias("dst is a")
	}
	return Violation{}
}

// RowNorms checks the operands of RowNorms: c ≥ 0 and finite (ErrInvalid),
// then as Reduce by rows.
func RowNorms[ID comparable](dst, a Operand[ID], c float64) Violation {
	if !(c >= 0 && c <= math.MaxFloat64) {
		return invalid("c = %v (want finite c ≥ 0)", c)
	}
	return Reduce(true, dst, a)
}

// SameShape checks that dst has a's shape (Softmax; ErrShape). Any
// aliasing is allowed.
func SameShape[ID comparable](dst, a Operand[ID]) Violation {
	if dst.Rows != a.Rows || dst.Cols != a.Cols {
		return shape("dst %s, a %s", dims(dst.Rows, dst.Cols), dims(a.Rows, a.Cols))
	}
	return Violation{}
}

// CrossEntropy checks the operands of CrossEntropy with scores a and n
// labels of classes classes: n = rows of a and classes = cols of a, grad
// (unless left out) has a's shape, len loss = rows of a unless loss is
// left out (ErrShape); loss is neither a nor grad (ErrAlias). grad may be a.
func CrossEntropy[ID comparable](grad, loss, a Operand[ID], n, classes int) Violation {
	var none ID
	if n != a.Rows || classes != a.Cols || (grad.ID != none && (grad.Rows != a.Rows || grad.Cols != a.Cols)) ||
		(loss.ID != none && loss.Len != a.Rows) {
		return shape("a %s, %d labels of %d classes, grad %s, loss %s", dims(a.Rows, a.Cols), n, classes, optDims(grad), optLen(loss))
	}
	if loss.ID != none {
		switch loss.ID {
		case a.ID:
			return alias("loss is a")
		case grad.ID:
			return alias("loss is grad")
		}
	}
	return Violation{}
}

// dims formats a shape for a detail.
func dims(rows, cols int) string { return strconv.Itoa(rows) + "×" + strconv.Itoa(cols) }

// optDims formats the shape of an optional operand: "nil" when left out.
func optDims[ID comparable](o Operand[ID]) string {
	var none ID
	if o.ID == none {
		return "nil"
	}
	return dims(o.Rows, o.Cols)
}
