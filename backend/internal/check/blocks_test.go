package check

import (
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// tb is a test block of rows×cols; its address is its identity.
type tb struct{ rows, cols int }

// ob returns b as an Operand; nil is an optional operand left out.
func ob(b *tb) Operand[*tb] {
	if b == nil {
		return Operand[*tb]{}
	}
	return Operand[*tb]{ID: b, Len: b.rows * b.cols, Rows: b.rows, Cols: b.cols}
}

func TestCheckBlock(t *testing.T) {
	checkViolation(t, "3×4", Block(3, 4), valid)
	checkViolation(t, "0×0", Block(0, 0), valid)
	checkViolation(t, "huge rows of 0 cols", Block(math.MaxInt, 0), valid)
	checkViolation(t, "negative rows", Block(-1, 4), want{backend.ErrInvalid, "dimensions -1×4"})
	checkViolation(t, "negative cols", Block(3, -4), want{backend.ErrInvalid, "dimensions 3×-4"})
	checkViolation(t, "overflow", Block(math.MaxInt/4, 3), want{backend.ErrOutOfMemory, "dimensions 2305843009213693951×3"})
}

func TestCheckReshape(t *testing.T) {
	checkViolation(t, "12 as 3×4", Reshape(12, 3, 4), valid)
	checkViolation(t, "0 as 0×5", Reshape(0, 0, 5), valid)
	checkViolation(t, "0 as 5×0", Reshape(0, 5, 0), valid)
	checkViolation(t, "12 as 5×2", Reshape(12, 5, 2), want{backend.ErrShape, "5×2 view of 12 elements"})
	checkViolation(t, "negative", Reshape(12, -3, -4), want{backend.ErrShape, "-3×-4 view of 12 elements"})
	// rows·cols wraps around to 0 in int arithmetic.
	checkViolation(t, "overflow", Reshape(0, 1<<32, 1<<32), want{backend.ErrShape, "4294967296×4294967296 view of 0 elements"})
}

func TestCheckLabels(t *testing.T) {
	checkViolation(t, "valid", Labels(3, []int{0, 2, 1, 2}), valid)
	checkViolation(t, "none", Labels(1, nil), valid)
	checkViolation(t, "no classes", Labels(0, nil), want{backend.ErrInvalid, "0 classes"})
	checkViolation(t, "too many classes", Labels(math.MaxInt32+1, nil), want{backend.ErrInvalid, "2147483648 classes"})
	checkViolation(t, "negative", Labels(3, []int{0, -1}), want{backend.ErrInvalid, "label -1 of row 1 out of range [0,3)"})
	checkViolation(t, "too large", Labels(3, []int{3}), want{backend.ErrInvalid, "label 3 of row 0 out of range [0,3)"})
}

func TestCheckMap(t *testing.T) {
	for _, c := range []struct {
		name   string
		f      backend.Func
		c      float64
		dst, x int
		want   want
	}{
		{"exp", backend.Exp, 0, 3, 3, valid},
		{"sqrtsq c", backend.SqrtSq, 1e-6, 3, 3, valid},
		{"sqrtsq c = 0", backend.SqrtSqDeriv2, 0, 0, 0, valid},
		{"unknown before shape", backend.Func(-1), 0, 3, 4, want{backend.ErrInvalid, "unknown function Func(-1)"}},
		{"past the set", backend.Recip + 1, 0, 3, 3, want{backend.ErrInvalid, "unknown function Func(11)"}},
		{"negative c", backend.SqrtSq, -1, 3, 3, want{backend.ErrInvalid, "parameter c = -1 of sqrtsq (want finite c ≥ 0)"}},
		{"NaN c", backend.SqrtSqDeriv, math.NaN(), 3, 3, want{backend.ErrInvalid, "parameter c = NaN of sqrtsq' (want finite c ≥ 0)"}},
		{"Inf c", backend.SqrtSq, math.Inf(1), 3, 3, want{backend.ErrInvalid, "parameter c = +Inf of sqrtsq (want finite c ≥ 0)"}},
		{"c of exp", backend.Exp, 1, 3, 3, want{backend.ErrInvalid, "parameter c = 1 of exp, which takes none (want 0)"}},
		{"lengths", backend.Tanh, 0, 3, 4, want{backend.ErrShape, "lengths 3 and 4"}},
	} {
		checkViolation(t, c.name, Map(c.f, c.c, c.dst, c.x), c.want)
	}
}

func TestCheckGemm(t *testing.T) {
	a23, b34, d24 := &tb{2, 3}, &tb{3, 4}, &tb{2, 4}
	a32, b43, sq := &tb{3, 2}, &tb{4, 3}, &tb{3, 3}
	N, T := backend.NoTrans, backend.Trans
	for _, c := range []struct {
		name   string
		dst, a *tb
		ta     backend.Transpose
		b      *tb
		tb     backend.Transpose
		want   want
	}{
		{"NN", d24, a23, N, b34, N, valid},
		{"TN", d24, a32, T, b34, N, valid},
		{"NT", d24, a23, N, b43, T, valid},
		{"TT", d24, a32, T, b43, T, valid},
		{"AᵀA", sq, a23, T, a23, N, valid},
		{"inner", d24, a32, N, b34, N, want{backend.ErrShape, "dst 2×4, op(A) 3×2 (A 3×2 N), op(B) 3×4 (B 3×4 N)"}},
		{"dst", d24, a23, N, b43, N, want{backend.ErrShape, "dst 2×4, op(A) 2×3 (A 2×3 N), op(B) 4×3 (B 4×3 N)"}},
		{"dst is A", sq, sq, N, sq, T, want{backend.ErrAlias, "dst is A"}},
		{"dst is B", sq, &tb{3, 3}, N, sq, N, want{backend.ErrAlias, "dst is B"}},
	} {
		checkViolation(t, c.name, Gemm(ob(c.dst), ob(c.a), c.ta, ob(c.b), c.tb), c.want)
	}
}

func TestCheckMulBlock(t *testing.T) {
	w32, d52, g52, d32 := &tb{3, 2}, &tb{5, 2}, &tb{5, 2}, &tb{3, 2}
	checkViolation(t, "X·W", MulBlock(5, 3, false, ob(d52), ob(w32)), valid)
	checkViolation(t, "Xᵀ·G", MulBlock(5, 3, true, ob(d32), ob(g52)), valid)
	checkViolation(t, "empty", MulBlock(0, 3, false, ob(&tb{0, 2}), ob(w32)), valid)
	checkViolation(t, "W rows", MulBlock(5, 4, false, ob(d52), ob(w32)), want{backend.ErrShape, "dst 5×2, X with X 5×4, W 3×2"})
	checkViolation(t, "dst cols", MulBlock(5, 3, false, ob(&tb{5, 3}), ob(w32)), want{backend.ErrShape, "dst 5×3, X with X 5×3, W 3×2"})
	checkViolation(t, "G rows", MulBlock(5, 3, true, ob(d32), ob(w32)), want{backend.ErrShape, "dst 3×2, Xᵀ with X 5×3, W 3×2"})
	checkViolation(t, "dst is W", MulBlock(3, 3, false, ob(d32), ob(d32)), want{backend.ErrAlias, "dst is W"})
}

func TestCheckRowOps(t *testing.T) {
	a, a2, v3, v4 := &tb{3, 4}, &tb{3, 4}, &tb{3, 1}, &tb{4, 1}
	checkViolation(t, "ScaleRows", Scale(true, ob(a2), ob(a), ob(v3)), valid)
	checkViolation(t, "ScaleRows in place", Scale(true, ob(a), ob(a), ob(v3)), valid)
	checkViolation(t, "ScaleCols", Scale(false, ob(a2), ob(a), ob(v4)), valid)
	checkViolation(t, "ScaleRows v", Scale(true, ob(a2), ob(a), ob(v4)), want{backend.ErrShape, "dst 3×4, a 3×4, v 4"})
	checkViolation(t, "ScaleCols dst", Scale(false, ob(&tb{4, 3}), ob(a), ob(v4)), want{backend.ErrShape, "dst 4×3, a 3×4, v 4"})
	checkViolation(t, "ScaleRows v of the wrong length", Scale(true, ob(&tb{3, 3}), ob(&tb{3, 3}), ob(&tb{9, 1})), want{backend.ErrShape, "dst 3×3, a 3×3, v 9"})
	s := &tb{1, 1}
	checkViolation(t, "dst is v", Scale(true, ob(s), ob(&tb{1, 1}), ob(s)), want{backend.ErrAlias, "dst is v"})
	checkViolation(t, "a is v (both read)", Scale(true, ob(&tb{1, 1}), ob(s), ob(s)), valid)

	checkViolation(t, "RowSums", Reduce(true, ob(v3), ob(a)), valid)
	checkViolation(t, "ColSums", Reduce(false, ob(v4), ob(a)), valid)
	checkViolation(t, "RowSums len", Reduce(true, ob(v4), ob(a)), want{backend.ErrShape, "dst 4, a 3×4"})
	checkViolation(t, "ColSums len", Reduce(false, ob(v3), ob(a)), want{backend.ErrShape, "dst 3, a 3×4"})
	col := &tb{3, 1}
	checkViolation(t, "dst is a", Reduce(true, ob(col), ob(col)), want{backend.ErrAlias, "dst is a"})

	checkViolation(t, "RowNorms", RowNorms(ob(v3), ob(a), 0), valid)
	checkViolation(t, "RowNorms c < 0", RowNorms(ob(v4), ob(a), -1), want{backend.ErrInvalid, "c = -1 (want finite c ≥ 0)"})
	checkViolation(t, "RowNorms NaN", RowNorms(ob(v3), ob(a), math.NaN()), want{backend.ErrInvalid, "c = NaN (want finite c ≥ 0)"})
	checkViolation(t, "RowNorms len", RowNorms(ob(v4), ob(a), 1), want{backend.ErrShape, "dst 4, a 3×4"})

	checkViolation(t, "Softmax", SameShape(ob(a2), ob(a)), valid)
	checkViolation(t, "Softmax in place", SameShape(ob(a), ob(a)), valid)
	checkViolation(t, "Softmax shape", SameShape(ob(&tb{4, 3}), ob(a)), want{backend.ErrShape, "dst 4×3, a 3×4"})
}

func TestCheckCrossEntropy(t *testing.T) {
	a, g, l := &tb{3, 4}, &tb{3, 4}, &tb{3, 1}
	var none *tb
	for _, c := range []struct {
		name       string
		grad, loss *tb
		a          *tb
		n, classes int
		want       want
	}{
		{"both", g, l, a, 3, 4, valid},
		{"grad is a", a, l, a, 3, 4, valid},
		{"neither", none, none, a, 3, 4, valid},
		{"labels", g, l, a, 2, 4, want{backend.ErrShape, "a 3×4, 2 labels of 4 classes, grad 3×4, loss 3"}},
		{"classes", g, l, a, 3, 5, want{backend.ErrShape, "a 3×4, 3 labels of 5 classes, grad 3×4, loss 3"}},
		{"grad shape", &tb{4, 3}, none, a, 3, 4, want{backend.ErrShape, "a 3×4, 3 labels of 4 classes, grad 4×3, loss nil"}},
		{"loss len", none, &tb{4, 1}, a, 3, 4, want{backend.ErrShape, "a 3×4, 3 labels of 4 classes, grad nil, loss 4"}},
		{"loss is a", none, &tb{3, 1}, &tb{3, 1}, 3, 1, valid},
	} {
		checkViolation(t, c.name, CrossEntropy(ob(c.grad), ob(c.loss), ob(c.a), c.n, c.classes), c.want)
	}
	col := &tb{3, 1}
	checkViolation(t, "loss is a", CrossEntropy(ob(none), ob(col), ob(col), 3, 1), want{backend.ErrAlias, "loss is a"})
	checkViolation(t, "loss is grad", CrossEntropy(ob(col), ob(col), ob(&tb{3, 1}), 3, 1), want{backend.ErrAlias, "loss is grad"})
}

func TestBlockChecksDoNotAllocate(t *testing.T) {
	a, g, l, w, d := ob(&tb{5, 3}), ob(&tb{5, 3}), ob(&tb{5, 1}), ob(&tb{3, 2}), ob(&tb{5, 2})
	labels := []int{0, 1, 2, 1, 0}
	var bad int
	n := testing.AllocsPerRun(100, func() {
		for _, v := range []Violation{
			Block(5, 3),
			Reshape(15, 3, 5),
			Labels(3, labels),
			Map(backend.SqrtSq, 1, 3, 3),
			Gemm(d, a, backend.NoTrans, w, backend.NoTrans),
			MulBlock(5, 3, false, d, w),
			Scale(true, g, a, l),
			Reduce(true, l, a),
			RowNorms(l, a, 1),
			SameShape(g, a),
			CrossEntropy(g, l, a, 5, 3),
		} {
			if v.Err != nil {
				bad++
			}
		}
	})
	if bad != 0 {
		t.Fatalf("%d checks of valid operands failed", bad)
	}
	if n != 0 {
		t.Errorf("checks of valid operands: %v allocations per run", n)
	}
}
