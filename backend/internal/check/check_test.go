package check

import (
	"errors"
	"github.com/hypergrad-go/hypergrad/backend"
	"math"
	"testing"
)

// tv is a test vector of length n; its address is its identity.
type tv struct{ n int }

// o returns v as an Operand; nil is an optional operand left out.
func o(v *tv) Operand[*tv] {
	if v == nil {
		return Operand[*tv]{}
	}
	return Operand[*tv]{ID: v, Len: v.n}
}

// want is the expected result of a check: err nil means valid.
type want struct {
	err    error
	detail string
}

func checkViolation(t *testing.T, name string, got Violation, w want) {
	t.Helper()
	if got.Err != w.err || got.Detail != w.detail {
		t.Errorf("%s = {%v, %q}, want {%v, %q}", name, got.Err, got.Detail, w.err, w.detail)
	}
}

var valid = want{} // the operands pass

func TestCheckSameLen(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		ns   []int
		want want
	}{
		{"one", 3, nil, valid},
		{"two", 3, []int{3}, valid},
		{"three", 0, []int{0, 0}, valid},
		{"second differs", 3, []int{4}, want{backend.ErrShape, "lengths 3 and 4"}},
		{"third differs", 3, []int{3, 2}, want{backend.ErrShape, "lengths 3 and 2"}},
		{"first difference", 5, []int{1, 2}, want{backend.ErrShape, "lengths 5 and 1"}},
	} {
		checkViolation(t, c.name, SameLen(c.n, c.ns...), c.want)
	}
}

func TestCheckHostLen(t *testing.T) {
	checkViolation(t, "equal", HostLen(4, 4), valid)
	checkViolation(t, "empty", HostLen(0, 0), valid)
	checkViolation(t, "short", HostLen(2, 3), want{backend.ErrShape, "host slice of 2 for a vector of 3"})
	checkViolation(t, "long", HostLen(4, 3), want{backend.ErrShape, "host slice of 4 for a vector of 3"})
}

func TestCheckMatVec(t *testing.T) {
	v3, v5, v5b := &tv{3}, &tv{5}, &tv{5}
	sq := &tv{4}
	for _, c := range []struct {
		name       string
		rows, cols int
		trans      bool
		dst, x     *tv
		want       want
	}{
		{"A·x", 5, 3, false, v5, v3, valid},
		{"Aᵀ·x", 5, 3, true, v3, v5, valid},
		{"empty", 0, 0, false, &tv{0}, &tv{0}, valid},
		{"A·x, x short", 5, 3, false, v5, &tv{2}, want{backend.ErrShape, "dst 5, matrix 5×3, x 2"}},
		{"A·x, dst long", 5, 3, false, &tv{6}, v3, want{backend.ErrShape, "dst 6, matrix 5×3, x 3"}},
		{"A·x with Aᵀ's lengths", 5, 3, false, v3, v5, want{backend.ErrShape, "dst 3, matrix 5×3, x 5"}},
		{"Aᵀ·x with A's lengths", 5, 3, true, v5, v3, want{backend.ErrShape, "dst 5, matrix 5×3 transposed, x 3"}},
		{"Aᵀ·x, dst short", 5, 3, true, &tv{2}, v5b, want{backend.ErrShape, "dst 2, matrix 5×3 transposed, x 5"}},
		{"A·x, dst is x", 4, 4, false, sq, sq, want{backend.ErrAlias, "dst is x"}},
		{"Aᵀ·x, dst is x", 4, 4, true, sq, sq, want{backend.ErrAlias, "dst is x"}},
		{"shape before alias", 5, 3, false, v3, v3, want{backend.ErrShape, "dst 3, matrix 5×3, x 3"}},
		{"equal lengths, distinct", 5, 5, false, v5, v5b, valid},
	} {
		checkViolation(t, c.name, MatVec(c.rows, c.cols, c.trans, o(c.dst), o(c.x)), c.want)
	}
}

func TestCheckGramVec(t *testing.T) {
	dst, v, d := &tv{3}, &tv{3}, &tv{5}
	sq, sq2, sq3 := &tv{4}, &tv{4}, &tv{4}
	for _, c := range []struct {
		name       string
		rows, cols int
		dst, d, v  *tv
		want       want
	}{
		{"with d", 5, 3, dst, d, v, valid},
		{"nil d", 5, 3, dst, nil, v, valid},
		{"d is v", 4, 4, sq, sq2, sq2, valid},
		{"dst short", 5, 3, &tv{2}, d, v, want{backend.ErrShape, "X 5×3, dst 2, v 3, d 5"}},
		{"v long", 5, 3, dst, d, &tv{4}, want{backend.ErrShape, "X 5×3, dst 3, v 4, d 5"}},
		{"d short", 5, 3, dst, &tv{3}, v, want{backend.ErrShape, "X 5×3, dst 3, v 3, d 3"}},
		{"nil d, v short", 5, 3, dst, nil, &tv{1}, want{backend.ErrShape, "X 5×3, dst 3, v 1, d nil"}},
		{"dst is v", 4, 4, sq, sq2, sq, want{backend.ErrAlias, "dst is v"}},
		{"dst is v, nil d", 4, 4, sq, nil, sq, want{backend.ErrAlias, "dst is v"}},
		{"dst is d", 4, 4, sq, sq, sq3, want{backend.ErrAlias, "dst is d"}},
		{"dst is v, right lengths", 5, 3, dst, nil, dst, want{backend.ErrAlias, "dst is v"}},
		{"shape before alias", 5, 4, dst, nil, dst, want{backend.ErrShape, "X 5×4, dst 3, v 3, d nil"}},
	} {
		checkViolation(t, c.name, GramVec(c.rows, c.cols, o(c.dst), o(c.d), o(c.v)), c.want)
	}
}

func TestCheckGramDiag(t *testing.T) {
	dst, d, sq := &tv{3}, &tv{5}, &tv{4}
	for _, c := range []struct {
		name       string
		rows, cols int
		dst, d     *tv
		want       want
	}{
		{"with d", 5, 3, dst, d, valid},
		{"nil d", 5, 3, dst, nil, valid},
		{"empty", 0, 0, &tv{0}, nil, valid},
		{"dst long", 5, 3, &tv{5}, d, want{backend.ErrShape, "X 5×3, dst 5, d 5"}},
		{"d short", 5, 3, dst, &tv{3}, want{backend.ErrShape, "X 5×3, dst 3, d 3"}},
		{"nil d, dst short", 5, 3, &tv{2}, nil, want{backend.ErrShape, "X 5×3, dst 2, d nil"}},
		{"dst is d", 4, 4, sq, sq, want{backend.ErrAlias, "dst is d"}},
		{"shape before alias", 5, 3, dst, dst, want{backend.ErrShape, "X 5×3, dst 3, d 3"}},
	} {
		checkViolation(t, c.name, GramDiag(c.rows, c.cols, o(c.dst), o(c.d)), c.want)
	}
}

func TestCheckGLMGrad(t *testing.T) {
	dst, w, y, curv := &tv{3}, &tv{3}, &tv{5}, &tv{5}
	a, b, c4, d4 := &tv{4}, &tv{4}, &tv{4}, &tv{4}
	for _, c := range []struct {
		name            string
		rows, cols      int
		dst, w, y, curv *tv
		loss            backend.Loss
		want            want
	}{
		{"all", 5, 3, dst, w, y, curv, backend.Logistic, valid},
		{"nil dst", 5, 3, nil, w, y, curv, backend.Squared, valid},
		{"nil curv", 5, 3, dst, w, y, nil, backend.Squared, valid},
		{"nil dst and curv", 5, 3, nil, w, y, nil, backend.Logistic, valid},
		{"w is y", 4, 4, c4, a, a, d4, backend.Squared, valid},
		{"unknown loss", 5, 3, dst, w, y, curv, backend.Loss(7), want{backend.ErrInvalid, "unknown loss Loss(7)"}},
		{"loss before shape", 5, 3, dst, y, w, curv, backend.Loss(-1), want{backend.ErrInvalid, "unknown loss Loss(-1)"}},
		{"w short", 5, 3, dst, &tv{2}, y, curv, backend.Squared, want{backend.ErrShape, "X 5×3, w 2, y 5, dst 3, curv 5"}},
		{"y long", 5, 3, dst, w, &tv{6}, nil, backend.Squared, want{backend.ErrShape, "X 5×3, w 3, y 6, dst 3, curv nil"}},
		{"dst long", 5, 3, &tv{5}, w, y, nil, backend.Squared, want{backend.ErrShape, "X 5×3, w 3, y 5, dst 5, curv nil"}},
		{"curv short", 5, 3, nil, w, y, &tv{3}, backend.Squared, want{backend.ErrShape, "X 5×3, w 3, y 5, dst nil, curv 3"}},
		{"dst is w", 4, 4, a, a, b, nil, backend.Squared, want{backend.ErrAlias, "dst is w"}},
		{"dst is y", 4, 4, b, a, b, nil, backend.Squared, want{backend.ErrAlias, "dst is y"}},
		{"dst is curv", 4, 4, c4, a, b, c4, backend.Squared, want{backend.ErrAlias, "dst is curv"}},
		{"curv is w", 4, 4, nil, a, b, a, backend.Squared, want{backend.ErrAlias, "curv is w"}},
		{"curv is y", 4, 4, nil, a, b, b, backend.Squared, want{backend.ErrAlias, "curv is y"}},
		{"curv is w, with dst", 4, 4, d4, a, b, a, backend.Logistic, want{backend.ErrAlias, "curv is w"}},
		{"dst is w, right lengths", 5, 3, w, w, y, nil, backend.Squared, want{backend.ErrAlias, "dst is w"}},
		{"shape before alias", 4, 3, w, w, y, nil, backend.Squared, want{backend.ErrShape, "X 4×3, w 3, y 5, dst 3, curv nil"}},
		{"loss before alias", 5, 3, w, w, y, nil, backend.Loss(2), want{backend.ErrInvalid, "unknown loss Loss(2)"}},
	} {
		checkViolation(t, c.name, GLMGrad(c.rows, c.cols, o(c.dst), o(c.w), o(c.y), o(c.curv), c.loss), c.want)
	}
}

func TestCheckDense(t *testing.T) {
	for _, c := range []struct {
		name          string
		rows, cols, n int
		want          want
	}{
		{"2×3", 2, 3, 6, valid},
		{"0×0", 0, 0, 0, valid},
		{"0×5", 0, 5, 0, valid},
		{"5×0", 5, 0, 0, valid},
		{"too few", 2, 3, 5, want{backend.ErrShape, "2×3 matrix with 5 values"}},
		{"too many", 2, 3, 7, want{backend.ErrShape, "2×3 matrix with 7 values"}},
		{"negative rows", -1, 3, 0, want{backend.ErrShape, "-1×3 matrix with 0 values"}},
		{"negative cols", 3, -1, 0, want{backend.ErrShape, "3×-1 matrix with 0 values"}},
		{"negative both", -2, -3, 6, want{backend.ErrShape, "-2×-3 matrix with 6 values"}},
		{"overflow", math.MaxInt/2 + 1, 2, 0, want{backend.ErrShape, "4611686018427387904×2 matrix with 0 values"}},
		{"overflow to n", 1 << 62, 4, 0, want{backend.ErrShape, "4611686018427387904×4 matrix with 0 values"}}, // rows·cols wraps to 0
	} {
		checkViolation(t, c.name, Dense(c.rows, c.cols, c.n), c.want)
	}
}

func TestCheckCSR(t *testing.T) {
	for _, c := range []struct {
		name                string
		rows, cols, maxRows int
		indptr              []int
		nIndices, nValues   int
		want                want
	}{
		{"2×3", 2, 3, math.MaxInt, []int{0, 1, 3}, 3, 3, valid},
		{"empty rows", 3, 3, math.MaxInt, []int{0, 0, 0, 0}, 0, 0, valid},
		{"0×3", 0, 3, math.MaxInt, []int{0}, 0, 0, valid},
		{"at maxRows", 2, 3, 2, []int{0, 1, 2}, 2, 2, valid},
		{"cols at MaxInt32", 1, math.MaxInt32, math.MaxInt, []int{0, 0}, 0, 0, valid},
		{"negative rows", -1, 3, math.MaxInt, []int{0}, 0, 0, want{backend.ErrInvalid, "dimensions -1×3"}},
		{"negative cols", 1, -3, math.MaxInt, []int{0, 0}, 0, 0, want{backend.ErrInvalid, "dimensions 1×-3"}},
		{"cols past MaxInt32", 1, math.MaxInt32 + 1, math.MaxInt, []int{0, 0}, 0, 0, want{backend.ErrInvalid, "dimensions 1×2147483648"}},
		{"rows past maxRows", 3, 3, 2, []int{0, 0, 0, 0}, 0, 0, want{backend.ErrInvalid, "dimensions 3×3"}},
		{"short indptr", 2, 3, math.MaxInt, []int{0, 1}, 1, 1, want{backend.ErrInvalid, "indptr has 2 entries, want 3 starting at 0"}},
		{"long indptr", 1, 3, math.MaxInt, []int{0, 1, 1}, 1, 1, want{backend.ErrInvalid, "indptr has 3 entries, want 2 starting at 0"}},
		{"empty indptr", 0, 3, math.MaxInt, nil, 0, 0, want{backend.ErrInvalid, "indptr has 0 entries, want 1 starting at 0"}},
		{"indptr[0] ≠ 0", 2, 3, math.MaxInt, []int{1, 1, 2}, 2, 2, want{backend.ErrInvalid, "indptr has 3 entries, want 3 starting at 0"}},
		{"decreasing indptr", 3, 3, math.MaxInt, []int{0, 2, 1, 3}, 3, 3, want{backend.ErrInvalid, "indptr decreases at row 1"}},
		{"negative indptr", 2, 3, math.MaxInt, []int{0, -1, 0}, 0, 0, want{backend.ErrInvalid, "indptr decreases at row 0"}},
		{"indptr past the end", 2, 3, math.MaxInt, []int{0, 1, 3}, 2, 2, want{backend.ErrInvalid, "indptr ends at 3 but there are 2 indices and 2 values"}},
		{"indices and values differ", 1, 3, math.MaxInt, []int{0, 2}, 2, 1, want{backend.ErrInvalid, "indptr ends at 2 but there are 2 indices and 1 values"}},
	} {
		checkViolation(t, c.name, CSR(c.rows, c.cols, c.maxRows, c.indptr, c.nIndices, c.nValues), c.want)
	}
	checkViolation(t, "CSRIndex", CSRIndex(3, 3, 1),
		want{backend.ErrInvalid, "column index 3 out of range [0,3) at position 1"})
}

func TestViolationOpError(t *testing.T) {
	err := SameLen(3, 4).OpError("cpu", "Axpy")
	if err.Backend != "cpu" || err.Op != "Axpy" || !errors.Is(err, backend.ErrShape) || err.Detail != "lengths 3 and 4" {
		t.Errorf("OpError = %#v", err)
	}
	if got, want := err.Error(), "cpu: Axpy: shape mismatch: lengths 3 and 4"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestViolationRecord(t *testing.T) {
	var sticky error
	if !(Violation{}).Record(&sticky, "cpu", "Copy") || sticky != nil {
		t.Fatalf("Record of no violation: false or recorded %v", sticky)
	}
	if SameLen(3, 4).Record(&sticky, "cpu", "Axpy") {
		t.Fatal("Record of a violation reported true")
	}
	var oe *backend.OpError
	if !errors.As(sticky, &oe) || oe.Backend != "cpu" || oe.Op != "Axpy" || oe.Err != backend.ErrShape || oe.Detail != "lengths 3 and 4" {
		t.Fatalf("recorded %#v", sticky)
	}
	first := sticky
	if HostLen(1, 2).Record(&sticky, "cpu", "Upload") || sticky != first {
		t.Errorf("a second violation replaced the first: %v", sticky)
	}
	if !(Violation{}).Record(&sticky, "cpu", "Copy") || sticky != first {
		t.Errorf("Record of no violation with an error recorded: false or replaced it with %v", sticky)
	}
}

// TestChecksDoNotAllocate checks that valid operands cost no allocation: the
// backends run these checks on every operation, which must not allocate.
func TestChecksDoNotAllocate(t *testing.T) {
	dst, w, y, curv, sq := o(&tv{3}), o(&tv{3}), o(&tv{5}), o(&tv{5}), o(&tv{5})
	var none Operand[*tv]
	indptr := []int{0, 1, 2, 3, 4, 5}
	var bad int
	n := testing.AllocsPerRun(100, func() {
		for _, v := range []Violation{
			SameLen(3, 3, 3),
			HostLen(3, 3),
			MatVec(5, 3, false, y, w),
			MatVec(5, 3, true, dst, sq),
			GramVec(5, 3, dst, y, w),
			GramVec(5, 3, dst, none, w),
			GramDiag(5, 3, dst, y),
			GramDiag(5, 3, dst, none),
			GLMGrad(5, 3, dst, w, y, curv, backend.Logistic),
			GLMGrad(5, 3, none, w, y, none, backend.Squared),
			Dense(5, 3, 15),
			CSR(5, 3, math.MaxInt, indptr, 5, 5),
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

func TestCheckCGStep(t *testing.T) {
	st, st2, q, r, p, ap, short := &tv{backend.CGStateLen(2)}, &tv{backend.CGStateLen(1)}, &tv{5}, &tv{5}, &tv{5}, &tv{5}, &tv{4}
	if backend.CGStateLen(1) != 6 || backend.CGStateLen(16) != 36 {
		t.Errorf("backend.CGStateLen(1) = %d, backend.CGStateLen(16) = %d, want 6 and 36", backend.CGStateLen(1), backend.CGStateLen(16))
	}
	for _, c := range []struct {
		name            string
		j               int
		st, q, r, p, ap *tv
		want            want
	}{
		{"step 0", 0, st, q, r, p, ap, valid},
		{"step 1", 1, st, q, r, p, ap, valid},
		{"last step of a short state", 0, st2, q, r, p, ap, valid},
		{"negative step", -1, st, q, r, p, ap, want{backend.ErrInvalid, "negative step"}},
		{"state too short", 1, st2, q, r, p, ap, want{backend.ErrShape, "state of 6 for step 1 (want ≥ 8)"}},
		{"lengths", 0, st, q, r, p, short, want{backend.ErrShape, "lengths 5 and 4"}},
		{"q is r", 0, st, q, q, p, ap, want{backend.ErrAlias, "q is r"}},
		{"p is ap", 0, st, q, r, p, p, want{backend.ErrAlias, "p is ap"}},
		{"st is q", 0, st2, st2, &tv{6}, &tv{6}, &tv{6}, want{backend.ErrAlias, "st is q"}},
	} {
		checkViolation(t, c.name, CGStep(c.j, o(c.st), o(c.q), o(c.r), o(c.p), o(c.ap)), c.want)
	}
}

func TestCheckGramVecPair(t *testing.T) {
	d1, d2, d, v1, v2, short, rowsD := &tv{3}, &tv{3}, &tv{4}, &tv{3}, &tv{3}, &tv{2}, &tv{5}
	for _, c := range []struct {
		name                  string
		dst1, dst2, d, v1, v2 *tv
		want                  want
	}{
		{"valid", d1, d2, d, v1, v2, valid},
		{"valid without d", d1, d2, nil, v1, v2, valid},
		{"same v", d1, d2, d, v1, v1, valid},
		{"first shape", short, d2, d, v1, v2, want{backend.ErrShape, "X 4×3, dst 2, v 3, d 4"}},
		{"second shape", d1, d2, rowsD, v1, v2, want{backend.ErrShape, "X 4×3, dst 3, v 3, d 5"}},
		{"dst1 is v1", v1, d2, d, v1, v2, want{backend.ErrAlias, "dst is v"}},
		{"dst2 is v2", d1, v2, d, v1, v2, want{backend.ErrAlias, "dst is v"}},
		{"dst1 is dst2", d1, d1, d, v1, v2, want{backend.ErrAlias, "dst1 is dst2"}},
		{"dst1 is v2", d1, d2, d, v1, d1, want{backend.ErrAlias, "dst1 is v2"}},
		{"dst2 is v1", d1, d2, d, d2, v2, want{backend.ErrAlias, "dst2 is v1"}},
	} {
		checkViolation(t, c.name, GramVecPair(4, 3, o(c.dst1), o(c.dst2), o(c.d), o(c.v1), o(c.v2)), c.want)
	}
}

func TestCheckGLMGradGramVec(t *testing.T) {
	dst, dst2, w, v, y, curv, short := &tv{3}, &tv{3}, &tv{3}, &tv{3}, &tv{4}, &tv{4}, &tv{2}
	for _, c := range []struct {
		name                     string
		dst, dst2, w, y, curv, v *tv
		loss                     backend.Loss
		want                     want
	}{
		{"valid", dst, dst2, w, y, curv, v, backend.Logistic, valid},
		{"squared without curv", dst, dst2, w, y, nil, v, backend.Squared, valid},
		{"v is w", dst, dst2, w, y, curv, w, backend.Logistic, valid},
		{"GLMGrad's checks first", dst, dst2, w, y, w, v, backend.Logistic, want{backend.ErrShape, "X 4×3, w 3, y 4, dst 3, curv 3"}},
		{"no dst", nil, dst2, w, y, curv, v, backend.Logistic, want{backend.ErrInvalid, "no gradient output"}},
		{"logistic without curv", dst, dst2, w, y, nil, v, backend.Logistic, want{backend.ErrInvalid, "no curvature output for the logistic loss"}},
		{"GramVec's checks", dst, short, w, y, curv, v, backend.Logistic, want{backend.ErrShape, "X 4×3, dst 2, v 3, d 4"}},
		{"dst2 is dst", dst, dst, w, y, curv, v, backend.Logistic, want{backend.ErrAlias, "dst2 is dst"}},
		{"dst2 is w", dst, w, w, y, curv, v, backend.Logistic, want{backend.ErrAlias, "dst2 is w"}},
		{"dst is v", dst, dst2, w, y, curv, dst, backend.Logistic, want{backend.ErrAlias, "dst is v"}},
	} {
		checkViolation(t, c.name, GLMGradGramVec(4, 3, o(c.dst), o(c.dst2), o(c.w), o(c.y), o(c.curv), o(c.v), c.loss), c.want)
	}
}
