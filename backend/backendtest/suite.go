// Package backendtest is the conformance suite every backend.Backend must
// pass. A backend's own tests call Run with a function that opens a fresh
// instance:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backend.Backend { return cpu.New(cpu.Options{}) })
//	}
//
// Every operation of the interface is compared with a plain float64
// reference computed in this package on host slices, over shapes chosen to
// be awkward: empty, 1×1, lengths that are not multiples of any block size,
// more rows than any reasonable worker count and fewer, CSR matrices with
// empty rows, empty columns, unsorted and duplicate column indices. The
// suite also checks the error contract (sticky errors, ErrShape, ErrAlias,
// ErrForeign, ErrFreed, ErrInvalid), the aliasing rules, Allocated, and that
// reductions and fused kernels are bit-for-bit deterministic. It covers the
// core operations, the GLM extension, which every backend must implement,
// and the Multinomial extension (SoftmaxGrad, SoftmaxHessBlock) for a
// backend that implements it: against host references, against the core
// operations they fuse, and as the gradient and Hessian they are (central
// differences).
//
// Tolerances are those of DESIGN.md: a vector result must satisfy
// ‖got − ref‖₂ ≤ 1e-12·‖mag‖₂ and a scalar |got − ref| ≤ 1e-12·mag, where
// mag is the same formula evaluated on absolute values (Σ|x_i·y_i| for a dot
// product; |α|·|A|·|x| + |β|·|dst| for a product), which is the natural scale
// of rounding errors under any summation order and with fused multiply-adds.
// Copies, fills and uploads must be exact, and so must the results that are
// one rounding of one operation (ScaleRows, ScaleCols). Map is compared
// element by element with backend.Func.Eval, to 1e-12 relative (math
// libraries differ in the last bits), NaN, infinities and signed zeros
// exactly. Where a result holds NaN or ±Inf (the IEEE rules of the package
// documentation: 0·Inf, β = 0 over NaN, the special rows of the row
// operations), their positions must match exactly and the finite rest is
// compared as above.
//
// All data come from generators seeded with math/rand/v2 (Rand), so failures
// are reproducible; failure messages name the operation, the shape and the
// parameters.
package backendtest

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Tol is the relative tolerance of every inexact comparison.
const Tol = 1e-12

// Run runs the conformance suite as subtests of t. open must return a fresh,
// working backend each time it is called; the suite closes it (with
// t.Cleanup) when the subtest ends, so open must not close it too. Some
// subtests open two backends at once (to test ErrForeign). The suite covers
// the core operations and the GLM extension (backend.GLM), which the
// backend must implement, and the Multinomial extension
// (backend.Multinomial) where the backend implements it (Run opens one
// backend to see): such a backend must pass those subtests too.
func Run(t *testing.T, open func(t *testing.T) backend.Backend) {
	s := &suite{open: open}
	tests := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"Info", s.testInfo},
		{"UploadDownload", s.testUploadDownload},
		{"Copy", s.testCopy},
		{"CopyRange", s.testCopyRange},
		{"CopyRangeErrors", s.testCopyRangeErrors},
		{"Fill", s.testFill},
		{"Scal", s.testScal},
		{"Axpy", s.testAxpy},
		{"Axpby", s.testAxpby},
		{"MulElem", s.testMulElem},
		{"Dot", s.testDot},
		{"Nrm2", s.testNrm2},
		{"ElementwiseAliases", s.testElementwiseAliases},
		{"MulVec", s.testMulVec},
		{"MulVecTrans", s.testMulVecTrans},
		{"GramVec", s.testGramVec},
		{"GramDiag", s.testGramDiag},
		{"GLMGrad", s.testGLMGrad},
		{"CSRDuplicates", s.testCSRDuplicates},
		{"AllowedAliases", s.testAllowedAliases},
		{"ForbiddenAliases", s.testForbiddenAliases},
		{"ShapeErrors", s.testShapeErrors},
		{"StickyError", s.testStickyError},
		{"Foreign", s.testForeign},
		{"Freed", s.testFreed},
		{"InvalidArguments", s.testInvalid},
		{"Allocated", s.testAllocated},
		{"Determinism", s.testDeterminism},
		{"BlockAlloc", s.testBlockAlloc},
		{"DivElem", s.testDivElem},
		{"Map", s.testMap},
		{"MapLibmEdges", s.testMapLibmEdges},
		{"FuncDerivs", s.testFuncDerivs},
		{"MulBlock", s.testMulBlock},
		{"MulBlockTrans", s.testMulBlockTrans},
		{"Gemm", s.testGemm},
		{"ProductSpecials", s.testProductSpecials},
		{"ScaleRowsCols", s.testScaleRowsCols},
		{"RowColSums", s.testRowColSums},
		{"RowNorms", s.testRowNorms},
		{"SoftmaxLogSumExp", s.testSoftmaxLSE},
		{"CrossEntropy", s.testCrossEntropy},
		{"RowSpecials", s.testRowSpecials},
		{"Views", s.testViews},
		{"BlockShapeErrors", s.testBlockShapeErrors},
		{"BlockAliases", s.testBlockAliases},
		{"BlockForeign", s.testBlockForeign},
		{"BlockFreed", s.testBlockFreed},
		{"BlockInvalid", s.testBlockInvalid},
		{"BlockSticky", s.testBlockSticky},
		{"BlockAllocated", s.testBlockAllocated},
		{"BlockDeterminism", s.testBlockDeterminism},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.f)
	}
	if !s.hasMultinomial(t) {
		t.Log("the backend does not implement backend.Multinomial: the suite does not cover it")
		return
	}
	for _, tc := range []struct {
		name string
		f    func(t *testing.T)
	}{
		{"SoftmaxGrad", s.testSoftmaxGrad},
		{"SoftmaxHessBlock", s.testSoftmaxHessBlock},
		{"MultinomialComposition", s.testMultinomialComposition},
		{"MultinomialDerivatives", s.testMultinomialDerivatives},
		{"MultinomialSpecials", s.testMultinomialSpecials},
		{"MultinomialShapeErrors", s.testMultinomialShapeErrors},
		{"MultinomialAliases", s.testMultinomialAliases},
		{"MultinomialForeign", s.testMultinomialForeign},
		{"MultinomialFreed", s.testMultinomialFreed},
		{"MultinomialInvalid", s.testMultinomialInvalid},
		{"MultinomialSticky", s.testMultinomialSticky},
		{"MultinomialDeterminism", s.testMultinomialDeterminism},
	} {
		t.Run(tc.name, tc.f)
	}
}

type suite struct {
	open func(t *testing.T) backend.Backend
}

// full is a backend with the GLM extension, which the suite covers beside
// the core operations.
type full interface {
	backend.Backend
	backend.GLM
}

// backend opens a fresh backend that is closed when t ends.
func (s *suite) backend(t *testing.T) full {
	t.Helper()
	ob := s.open(t)
	if ob == nil {
		t.Fatal("open returned a nil backend")
	}
	b, ok := ob.(full)
	if !ok {
		ob.Close()
		t.Fatalf("backend %s lacks the GLM extension (backend.GLM), which the suite covers", ob.Name())
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// Vector lengths of the elementwise tests: empty, tiny, odd, and long enough
// for a backend to split the work (2^16+3 and 10^5+3 elements).
var vecLens = []int{0, 1, 7, 33, 257, 1003, 1<<16 + 3, 100003}

// shape is a matrix of the suite: dense when density is 0, else CSR.
type shape struct {
	rows, cols int
	density    float64
}

// Matrix shapes of the product tests. The larger ones (40K to 260K
// multiply-adds) make a parallel backend split rows, into parts of unequal
// sizes and into fewer rows than workers ({2, 20011}, {5, 12007}).
var shapes = []shape{
	{1, 1, 0}, {0, 0, 0}, {0, 5, 0}, {5, 0, 0}, {1, 7, 0}, {7, 1, 0}, {7, 3, 0}, {3, 7, 0},
	{33, 257, 0}, {257, 33, 0}, {1003, 67, 0}, {40, 1003, 0}, {2, 20011, 0}, {1003, 257, 0},
	{1, 1, 1}, {0, 0, 0.5}, {0, 5, 0.5}, {5, 0, 0.5}, {7, 3, 0.5}, {3, 7, 0.5}, {100, 50, 1e-9},
	{33, 257, 0.1}, {257, 33, 0.3}, {3001, 257, 0.06}, {5, 12007, 0.8}, {20011, 3, 0.7}, {10007, 100, 0.2},
}

// hostMatrix builds the matrix of sh from r.
func (sh shape) hostMatrix(seed uint64) *HostMatrix {
	r := Rand(seed)
	if sh.density == 0 {
		return RandDense(r, sh.rows, sh.cols)
	}
	return RandCSR(r, sh.rows, sh.cols, sh.density)
}

// newVec allocates a vector holding x.
func newVec(t *testing.T, b backend.Backend, x []float64) backend.Vector {
	t.Helper()
	v, err := b.NewVector(len(x))
	if err != nil {
		t.Fatalf("NewVector(%d): %v", len(x), err)
	}
	b.Upload(v, x)
	if err := b.Err(); err != nil {
		t.Fatalf("Upload of %d values: %v", len(x), err)
	}
	return v
}

// newMat uploads m.
func newMat(t *testing.T, b backend.Backend, m *HostMatrix) backend.Matrix {
	t.Helper()
	a, err := m.Upload(b)
	if err != nil {
		t.Fatalf("uploading %v: %v", m, err)
	}
	if r, c := a.Dims(); r != m.Rows || c != m.Cols || a.Format() != m.Format || a.NNZ() != m.NNZ() {
		t.Fatalf("uploaded %v reports %v %d×%d with %d values", m, a.Format(), r, c, a.NNZ())
	}
	return a
}

// get downloads v.
func get(t *testing.T, b backend.Backend, v backend.Vector) []float64 {
	t.Helper()
	x := make([]float64, v.Len())
	b.Download(x, v)
	if err := b.Err(); err != nil {
		t.Fatalf("Download of %d values: %v", len(x), err)
	}
	return x
}

// noErr reports an error recorded by the operations described by what, and
// clears it. It returns false if there was one.
func noErr(t *testing.T, b backend.Backend, what string) bool {
	t.Helper()
	if err := b.Err(); err != nil {
		t.Errorf("%s: unexpected error: %v", what, err)
		b.ClearErr()
		return false
	}
	return true
}

// wantErr checks that the recorded error wraps target and names op, and
// clears it.
func wantErr(t *testing.T, b backend.Backend, target error, op, what string) {
	t.Helper()
	err := b.Err()
	b.ClearErr()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
		return
	}
	var oe *backend.OpError
	if !errors.As(err, &oe) {
		t.Errorf("%s: error %v (%T) is not a *backend.OpError", what, err, err)
	} else if oe.Op != op {
		t.Errorf("%s: error %v names operation %q, want %q", what, err, oe.Op, op)
	}
}

// checkVec reports a vector result with ‖got − ref‖₂ > Tol·‖mag‖₂.
func checkVec(t *testing.T, what string, got, ref, mag []float64) {
	t.Helper()
	if len(got) != len(ref) {
		t.Errorf("%s: got %d values, want %d", what, len(got), len(ref))
		return
	}
	diff := make([]float64, len(got))
	worst := -1
	for i := range got {
		diff[i] = got[i] - ref[i]
		if worst < 0 || math.Abs(diff[i]) > math.Abs(diff[worst]) || math.IsNaN(diff[i]) && !math.IsNaN(diff[worst]) {
			worst = i
		}
	}
	d, bound := refNrm2(diff), Tol*refNrm2(mag)
	if d <= bound {
		return
	}
	t.Errorf("%s: ‖got−ref‖ = %.3g > %.0e·‖terms‖ = %.3g (‖ref‖ = %.3g); worst at [%d]: got %v, want %v",
		what, d, Tol, bound, refNrm2(ref), worst, got[worst], ref[worst])
}

// checkScalar reports a scalar result with |got − ref| > Tol·mag.
func checkScalar(t *testing.T, what string, got, ref, mag float64) {
	t.Helper()
	if d := math.Abs(got - ref); !(d <= Tol*mag) {
		t.Errorf("%s: got %v, want %v (|Δ| = %.3g > %.0e·%.3g)", what, got, ref, d, Tol, mag)
	}
}

// checkExact reports a result that is not bit-for-bit ref.
func checkExact(t *testing.T, what string, got, ref []float64) {
	t.Helper()
	if len(got) != len(ref) {
		t.Errorf("%s: got %d values, want %d", what, len(got), len(ref))
		return
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(ref[i]) {
			t.Errorf("%s: [%d] = %v, want exactly %v", what, i, got[i], ref[i])
			return
		}
	}
}

// withNaN returns a copy of x with NaN in every third element, to check that
// β = 0 overwrites.
func withNaN(x []float64) []float64 {
	y := append([]float64(nil), x...)
	for i := 0; i < len(y); i += 3 {
		y[i] = math.NaN()
	}
	return y
}

// coef describes the α, β of a test case.
func coef(alpha, beta float64, nanDst bool) string {
	s := fmt.Sprintf("α=%g β=%g", alpha, beta)
	if nanDst {
		s += " (NaN in dst)"
	}
	return s
}

// newBlock allocates a rows×cols block holding x (row-major), or zeros when
// x is nil.
func newBlock(t *testing.T, b backend.Backend, rows, cols int, x []float64) backend.Block {
	t.Helper()
	v, err := b.NewBlock(rows, cols)
	if err != nil {
		t.Fatalf("NewBlock(%d, %d): %v", rows, cols, err)
	}
	if r, c := v.Dims(); r != rows || c != cols || v.Len() != rows*cols {
		t.Fatalf("NewBlock(%d, %d) is %d×%d of length %d", rows, cols, r, c, v.Len())
	}
	if x != nil {
		b.Upload(v, x)
		if err := b.Err(); err != nil {
			t.Fatalf("Upload of a %d×%d block: %v", rows, cols, err)
		}
	}
	return v
}

// newLabels copies the labels y of classes classes to b.
func newLabels(t *testing.T, b backend.Backend, classes int, y []int) backend.Labels {
	t.Helper()
	l, err := b.NewLabels(classes, y)
	if err != nil {
		t.Fatalf("NewLabels(%d, %d labels): %v", classes, len(y), err)
	}
	if l.Len() != len(y) || l.Classes() != classes {
		t.Fatalf("NewLabels(%d, %d labels) has %d labels of %d classes", classes, len(y), l.Len(), l.Classes())
	}
	return l
}

// special reports whether x is NaN or infinite.
func special(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }

// checkVecIEEE is checkVec for results that hold NaN or ±Inf: got must
// hold NaN exactly where ref does and the same infinity where ref holds
// one, and the finite elements must agree as checkVec requires (the
// special positions taking no part in the norms).
func checkVecIEEE(t *testing.T, what string, got, ref, mag []float64) {
	t.Helper()
	if len(got) != len(ref) {
		t.Errorf("%s: got %d values, want %d", what, len(got), len(ref))
		return
	}
	var g, r, m []float64
	for i := range ref {
		if !special(ref[i]) && !special(got[i]) {
			continue
		}
		if math.IsNaN(ref[i]) != math.IsNaN(got[i]) || (!math.IsNaN(ref[i]) && got[i] != ref[i]) {
			t.Errorf("%s: [%d] = %v, want %v", what, i, got[i], ref[i])
			return
		}
		if g == nil {
			g, r, m = append([]float64(nil), got...), append([]float64(nil), ref...), append([]float64(nil), mag...)
		}
		g[i], r[i], m[i] = 0, 0, 0
	}
	if g == nil {
		g, r, m = got, ref, mag
	}
	checkVec(t, what, g, r, m)
}

// checkSame reports a result that is not ref bit for bit, except that a
// NaN matches any NaN (IEEE leaves the payload of a computed NaN open).
func checkSame(t *testing.T, what string, got, ref []float64) {
	t.Helper()
	if len(got) != len(ref) {
		t.Errorf("%s: got %d values, want %d", what, len(got), len(ref))
		return
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(ref[i]) && !(math.IsNaN(got[i]) && math.IsNaN(ref[i])) {
			t.Errorf("%s: [%d] = %v, want exactly %v", what, i, got[i], ref[i])
			return
		}
	}
}
