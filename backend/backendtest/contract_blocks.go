package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// blockCase is one call of an operation that must fail: op names the
// operation the error must name.
type blockCase struct {
	name string
	op   string
	do   func()
}

// blockFixture holds the operands of the error tests of the block
// operations, with their host values so that a test can check that a
// failed operation changed none of them.
type blockFixture struct {
	b    backend.Backend
	vs   []backend.Vector
	host [][]float64
}

// block allocates a rows×cols block of random values, remembered by f.
func (f *blockFixture) block(t *testing.T, rows, cols int) backend.Block {
	t.Helper()
	x := RandVector(Rand(uint64(7000+len(f.vs))), rows*cols)
	v := newBlock(t, f.b, rows, cols, x)
	f.vs, f.host = append(f.vs, v), append(f.host, x)
	return v
}

// vec allocates an n-vector of random values, remembered by f.
func (f *blockFixture) vec(t *testing.T, n int) backend.Vector {
	t.Helper()
	x := RandVector(Rand(uint64(7000+len(f.vs))), n)
	v := newVec(t, f.b, x)
	f.vs, f.host = append(f.vs, v), append(f.host, x)
	return v
}

// view returns a rows×cols Reshape view of v.
func (f *blockFixture) view(t *testing.T, v backend.Vector, rows, cols int) backend.Block {
	t.Helper()
	w, err := f.b.Reshape(v, rows, cols)
	if err != nil {
		t.Fatalf("Reshape(%d, %d, %d): %v", v.Len(), rows, cols, err)
	}
	return w
}

// run runs every case, checks that it records target naming its op, and
// that no operand changed.
func (f *blockFixture) run(t *testing.T, target error, cases []blockCase) {
	t.Helper()
	for k, c := range cases {
		c.do()
		what := fmt.Sprintf("case %d %s", k, c.name)
		wantErr(t, f.b, target, c.op, what)
		for i, v := range f.vs {
			checkExact(t, fmt.Sprintf("%s: operand %d changed", what, i), get(t, f.b, v), f.host[i])
		}
	}
}

// testBlockShapeErrors checks that every shape mismatch of the block
// operations records ErrShape naming the operation and writes nothing.
func (s *suite) testBlockShapeErrors(t *testing.T) {
	b := s.backend(t)
	f := &blockFixture{b: b}
	for _, m := range []*HostMatrix{RandDense(Rand(1), 5, 3), RandCSR(Rand(2), 5, 3, 0.5)} {
		x := newMat(t, b, m) // 5×3
		b32, b52, b53, b35, b34, b43 := f.block(t, 3, 2), f.block(t, 5, 2), f.block(t, 5, 3), f.block(t, 3, 5), f.block(t, 3, 4), f.block(t, 4, 3)
		b22, b33, b23, b25, b26, b15 := f.block(t, 2, 2), f.block(t, 3, 3), f.block(t, 2, 3), f.block(t, 2, 5), f.block(t, 2, 6), f.block(t, 1, 5)
		v3, v4, v12 := f.vec(t, 3), f.vec(t, 4), f.vec(t, 12)
		v3col := f.view(t, v3, 3, 1)
		y3, y4 := newLabels(t, b, 4, []int{0, 1, 3}), newLabels(t, b, 3, []int{0, 1, 2, 2})
		y5 := newLabels(t, b, 5, []int{0, 1, 2})
		cases := []blockCase{
			{"DivElem dst", "DivElem", func() { b.DivElem(v4, 1, v3, v3, 0) }},
			{"DivElem x", "DivElem", func() { b.DivElem(v3, 1, v4, v3, 0) }},
			{"DivElem y", "DivElem", func() { b.DivElem(v3, 1, v3, v4, 0) }},
			{"Map", "Map", func() { b.Map(v4, backend.Exp, 0, v3) }},
			{"Map block", "Map", func() { b.Map(b35, backend.Tanh, 0, b34) }},
			{"MulBlock W rows", "MulBlock", func() { b.MulBlock(b52, 1, x, b22, 0) }},
			{"MulBlock dst rows", "MulBlock", func() { b.MulBlock(b22, 1, x, b32, 0) }},
			{"MulBlock dst cols", "MulBlock", func() { b.MulBlock(b53, 1, x, b32, 0) }},
			{"MulBlock W a 3×1 vector, dst 5×2", "MulBlock", func() { b.MulBlock(b52, 1, x, v3col, 0) }},
			{"MulBlock dst 2×5 for 5×2", "MulBlock", func() { b.MulBlock(b25, 1, x, b32, 0) }},
			{"MulBlockTrans G rows", "MulBlockTrans", func() { b.MulBlockTrans(b32, 1, x, b22, 0) }},
			{"MulBlockTrans dst rows", "MulBlockTrans", func() { b.MulBlockTrans(b53, 1, x, b52, 0) }},
			{"MulBlockTrans dst cols", "MulBlockTrans", func() { b.MulBlockTrans(b33, 1, x, b52, 0) }},
			{"MulBlockTrans dst 2×3 for 3×2", "MulBlockTrans", func() { b.MulBlockTrans(b23, 1, x, b52, 0) }},
			{"MulBlockTrans as MulBlock", "MulBlockTrans", func() { b.MulBlockTrans(b52, 1, x, b32, 0) }},
			{"Gemm inner NN", "Gemm", func() { b.Gemm(b33, 1, b34, backend.NoTrans, b35, backend.NoTrans, 0) }},
			{"Gemm inner TN", "Gemm", func() { b.Gemm(b33, 1, b34, backend.Trans, b43, backend.NoTrans, 0) }},
			{"Gemm inner NT", "Gemm", func() { b.Gemm(b33, 1, b34, backend.NoTrans, b43, backend.Trans, 0) }},
			{"Gemm inner TT", "Gemm", func() { b.Gemm(b33, 1, b34, backend.Trans, b35, backend.Trans, 0) }},
			{"Gemm dst rows", "Gemm", func() { b.Gemm(b53, 1, b34, backend.NoTrans, b43, backend.NoTrans, 0) }},
			{"Gemm dst cols", "Gemm", func() { b.Gemm(b35, 1, b34, backend.NoTrans, b43, backend.NoTrans, 0) }},
			{"Gemm dst 2×3 for 3×2", "Gemm", func() { b.Gemm(b23, 1, b32, backend.NoTrans, b22, backend.NoTrans, 0) }},
			{"Gemm dst 3×3 for 4×4", "Gemm", func() { b.Gemm(b33, 1, b34, backend.Trans, b34, backend.NoTrans, 0) }},
			{"ScaleRows v", "ScaleRows", func() { b.ScaleRows(b34, v4, b34) }},
			{"ScaleRows dst", "ScaleRows", func() { b.ScaleRows(b43, v3, b34) }},
			{"ScaleRows dst same length", "ScaleRows", func() { b.ScaleRows(b26, v3, b34) }},
			{"ScaleCols v", "ScaleCols", func() { b.ScaleCols(b34, b34, v3) }},
			{"ScaleCols dst", "ScaleCols", func() { b.ScaleCols(b43, b34, v4) }},
			{"RowSums", "RowSums", func() { b.RowSums(v4, 1, b34, 0) }},
			{"RowSums by cols", "RowSums", func() { b.RowSums(v3, 1, b43, 0) }},
			{"ColSums", "ColSums", func() { b.ColSums(v3, 1, b34, 0) }},
			{"ColSums 12", "ColSums", func() { b.ColSums(v12, 1, b34, 0) }},
			{"RowNorms", "RowNorms", func() { b.RowNorms(v4, b34, 0) }},
			{"Softmax", "Softmax", func() { b.Softmax(b43, b34) }},
			{"Softmax same length", "Softmax", func() { b.Softmax(b26, b34) }},
			{"LogSumExp", "LogSumExp", func() { b.LogSumExp(v4, b34) }},
			{"CrossEntropy grad", "CrossEntropy", func() { b.CrossEntropy(b43, v3, b34, y3) }},
			{"CrossEntropy grad same length", "CrossEntropy", func() { b.CrossEntropy(b26, nil, b34, y3) }},
			{"CrossEntropy loss", "CrossEntropy", func() { b.CrossEntropy(nil, v4, b34, y3) }},
			{"CrossEntropy label count", "CrossEntropy", func() { b.CrossEntropy(nil, v3, b34, y4) }},
			{"CrossEntropy classes", "CrossEntropy", func() { b.CrossEntropy(nil, v3, b34, y5) }},
			{"CrossEntropy nothing out, classes", "CrossEntropy", func() { b.CrossEntropy(nil, nil, b35, y3) }},
			{"CrossEntropy 1×5", "CrossEntropy", func() { b.CrossEntropy(b15, nil, b15, y5) }},
		}
		f.run(t, backend.ErrShape, cases)
		b.FreeMatrix(x)
	}
}

// testBlockAliases checks that every forbidden alias of the block
// operations (also through a Reshape view) records ErrAlias and changes no
// operand.
func (s *suite) testBlockAliases(t *testing.T) {
	b := s.backend(t)
	f := &blockFixture{b: b}
	for _, m := range []*HostMatrix{RandDense(Rand(3), 4, 4), RandCSR(Rand(4), 4, 4, 0.6)} {
		x := newMat(t, b, m)
		w42, w44, c41, r14 := f.block(t, 4, 2), f.block(t, 4, 4), f.block(t, 4, 1), f.block(t, 1, 4)
		w44b, c41b := f.block(t, 4, 4), f.block(t, 4, 1)
		v4 := f.vec(t, 4)
		view44 := f.view(t, w44, 4, 4)
		viewC41 := f.view(t, c41, 4, 1)
		viewV41 := f.view(t, v4, 4, 1)
		viewV14 := f.view(t, v4, 1, 4)
		y1 := newLabels(t, b, 1, []int{0, 0, 0, 0})
		cases := []blockCase{
			{"MulBlock(W, α, X, W, β)", "MulBlock", func() { b.MulBlock(w42, 1, x, w42, 0) }},
			{"MulBlock(view of W, α, X, W, β)", "MulBlock", func() { b.MulBlock(view44, 1, x, w44, 1) }},
			{"MulBlockTrans(G, α, X, G, β)", "MulBlockTrans", func() { b.MulBlockTrans(w42, 1, x, w42, 0) }},
			{"MulBlockTrans(view of G, α, X, G, β)", "MulBlockTrans", func() { b.MulBlockTrans(w44, 2, x, view44, 0) }},
			{"Gemm(A, α, A, N, B, N, β)", "Gemm", func() { b.Gemm(w44, 1, w44, backend.NoTrans, w44b, backend.NoTrans, 0) }},
			{"Gemm(B, α, A, N, B, N, β)", "Gemm", func() { b.Gemm(w44b, 1, w44, backend.NoTrans, w44b, backend.NoTrans, 0) }},
			{"Gemm(B, α, A, T, B, T, β)", "Gemm", func() { b.Gemm(w44b, 1, w44, backend.Trans, w44b, backend.Trans, 1) }},
			{"Gemm(A, α, A, T, A, N, β)", "Gemm", func() { b.Gemm(w44, 1, w44, backend.Trans, w44, backend.NoTrans, 0) }},
			{"Gemm(view of A, α, A, N, B, N, β)", "Gemm", func() { b.Gemm(view44, 1, w44, backend.NoTrans, w44b, backend.NoTrans, 0) }},
			{"Gemm(A, α, view of A, N, B, N, β)", "Gemm", func() { b.Gemm(w44, 1, view44, backend.NoTrans, w44b, backend.NoTrans, 0) }},
			{"ScaleRows(v, v, a)", "ScaleRows", func() { b.ScaleRows(c41, c41, c41) }},
			{"ScaleRows(dst, view of dst, a)", "ScaleRows", func() { b.ScaleRows(c41, viewC41, viewC41) }},
			{"ScaleRows(v as 4×1, v, a)", "ScaleRows", func() { b.ScaleRows(viewV41, v4, c41) }},
			{"ScaleCols(v, a, v)", "ScaleCols", func() { b.ScaleCols(r14, r14, r14) }},
			{"ScaleCols(v as 1×4, a, v)", "ScaleCols", func() { b.ScaleCols(viewV14, r14, v4) }},
			{"RowSums(a, α, a, β)", "RowSums", func() { b.RowSums(c41, 1, c41, 0) }},
			{"RowSums(view of a, α, a, β)", "RowSums", func() { b.RowSums(viewC41, 1, c41, 1) }},
			{"ColSums(a, α, a, β)", "ColSums", func() { b.ColSums(r14, 1, r14, 0) }},
			{"ColSums(v, α, v as 1×4, β)", "ColSums", func() { b.ColSums(v4, 1, viewV14, 0) }},
			{"RowNorms(a, a, c)", "RowNorms", func() { b.RowNorms(c41, c41, 0) }},
			{"RowNorms(v, v as 4×1, c)", "RowNorms", func() { b.RowNorms(v4, viewV41, 1) }},
			{"LogSumExp(a, a)", "LogSumExp", func() { b.LogSumExp(c41, c41) }},
			{"LogSumExp(view of a, a)", "LogSumExp", func() { b.LogSumExp(viewC41, c41) }},
			{"CrossEntropy(grad, a, a, y)", "CrossEntropy", func() { b.CrossEntropy(c41b, c41, c41, y1) }},
			{"CrossEntropy(nil, a, a, y)", "CrossEntropy", func() { b.CrossEntropy(nil, c41, c41, y1) }},
			{"CrossEntropy(nil, a, view of a, y)", "CrossEntropy", func() { b.CrossEntropy(nil, v4, viewV41, y1) }},
			{"CrossEntropy(grad, grad, a, y)", "CrossEntropy", func() { b.CrossEntropy(viewV41, v4, c41, y1) }},
			{"CrossEntropy(a, a, a, y)", "CrossEntropy", func() { b.CrossEntropy(c41, c41, c41, y1) }},
		}
		f.run(t, backend.ErrAlias, cases)
		b.FreeMatrix(x)
	}
}

// testBlockForeign checks operands of another backend instance.
func (s *suite) testBlockForeign(t *testing.T) {
	b, other := s.backend(t), s.backend(t)
	m := RandDense(Rand(4), 3, 3)
	x, ox := newMat(t, b, m), newMat(t, other, m)
	a, oa := newBlock(t, b, 3, 3, RandVector(Rand(5), 9)), newBlock(t, other, 3, 3, RandVector(Rand(5), 9))
	d := newBlock(t, b, 3, 3, nil)
	v, ov := newVec(t, b, []float64{1, 2, 3}), newVec(t, other, []float64{1, 2, 3})
	y, oy := newLabels(t, b, 3, []int{0, 1, 2}), newLabels(t, other, 3, []int{0, 1, 2})
	cases := []blockCase{
		{"DivElem", "DivElem", func() { b.DivElem(a, 1, a, oa, 0) }},
		{"Map", "Map", func() { b.Map(oa, backend.Exp, 0, a) }},
		{"MulBlock X", "MulBlock", func() { b.MulBlock(d, 1, ox, a, 0) }},
		{"MulBlock W", "MulBlock", func() { b.MulBlock(d, 1, x, oa, 0) }},
		{"MulBlockTrans dst", "MulBlockTrans", func() { b.MulBlockTrans(oa, 1, x, a, 0) }},
		{"MulBlockTrans X", "MulBlockTrans", func() { b.MulBlockTrans(d, 1, ox, a, 0) }},
		{"Gemm A", "Gemm", func() { b.Gemm(d, 1, oa, backend.NoTrans, a, backend.NoTrans, 0) }},
		{"Gemm B", "Gemm", func() { b.Gemm(d, 1, a, backend.NoTrans, oa, backend.Trans, 0) }},
		{"Gemm dst", "Gemm", func() { b.Gemm(oa, 1, a, backend.NoTrans, a, backend.Trans, 0) }},
		{"ScaleRows v", "ScaleRows", func() { b.ScaleRows(d, ov, a) }},
		{"ScaleCols a", "ScaleCols", func() { b.ScaleCols(d, oa, v) }},
		{"RowSums", "RowSums", func() { b.RowSums(v, 1, oa, 0) }},
		{"ColSums", "ColSums", func() { b.ColSums(ov, 1, a, 0) }},
		{"RowNorms", "RowNorms", func() { b.RowNorms(v, oa, 0) }},
		{"Softmax", "Softmax", func() { b.Softmax(d, oa) }},
		{"LogSumExp", "LogSumExp", func() { b.LogSumExp(ov, a) }},
		{"CrossEntropy labels", "CrossEntropy", func() { b.CrossEntropy(d, v, a, oy) }},
		{"CrossEntropy a", "CrossEntropy", func() { b.CrossEntropy(d, v, oa, y) }},
		{"CrossEntropy grad", "CrossEntropy", func() { b.CrossEntropy(oa, nil, a, y) }},
		{"CrossEntropy loss", "CrossEntropy", func() { b.CrossEntropy(nil, ov, a, y) }},
	}
	for k, c := range cases {
		c.do()
		wantErr(t, b, backend.ErrForeign, c.op, fmt.Sprintf("foreign case %d (%s)", k, c.name))
	}
	if w, err := b.Reshape(oa, 9, 1); !isErr(err, backend.ErrForeign) || nilIfNil(w) != nil {
		t.Errorf("Reshape of another backend's block: %v, %v; want ErrForeign", w, err)
	}
	if err := other.Err(); err != nil {
		t.Errorf("the other backend recorded %v", err)
	}
	checkExact(t, "the other backend's block", get(t, other, oa), RandVector(Rand(5), 9))
	checkExact(t, "the other backend's vector", get(t, other, ov), []float64{1, 2, 3})
}

// testBlockFreed checks use after Free of blocks, views (a view whose
// base was freed, and a base whose view was freed) and labels.
func (s *suite) testBlockFreed(t *testing.T) {
	b := s.backend(t)
	x := newMat(t, b, RandDense(Rand(6), 3, 3))
	a, d := newBlock(t, b, 3, 3, RandVector(Rand(7), 9)), newBlock(t, b, 3, 3, nil)
	v := newVec(t, b, []float64{1, 2, 3})
	y := newLabels(t, b, 3, []int{0, 2, 1})

	base := newVec(t, b, RandVector(Rand(8), 9))
	view, err := b.Reshape(base, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	b.Free(base) // frees the view's storage too
	base2 := newBlock(t, b, 3, 3, RandVector(Rand(9), 9))
	view2, err := b.Reshape(base2, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	b.Free(view2) // frees base2 too
	fb := newBlock(t, b, 3, 3, nil)
	b.Free(fb)
	b.Free(fb)
	b.Free(y)
	b.Free(y)
	noErr(t, b, "Free of blocks, views and labels, twice")
	cases := []blockCase{
		{"DivElem freed view", "DivElem", func() { b.DivElem(d, 1, a, view, 0) }},
		{"Map freed block", "Map", func() { b.Map(fb, backend.Exp, 0, a) }},
		{"Map base of a freed view", "Map", func() { b.Map(d, backend.Exp, 0, base2) }},
		{"MulBlock freed view", "MulBlock", func() { b.MulBlock(d, 1, x, view, 0) }},
		{"MulBlockTrans base of a freed view", "MulBlockTrans", func() { b.MulBlockTrans(base2, 1, x, a, 0) }},
		{"Gemm freed view", "Gemm", func() { b.Gemm(d, 1, a, backend.NoTrans, view, backend.NoTrans, 0) }},
		{"Gemm freed dst", "Gemm", func() { b.Gemm(fb, 1, a, backend.NoTrans, a, backend.NoTrans, 0) }},
		{"ScaleRows", "ScaleRows", func() { b.ScaleRows(d, v, view) }},
		{"ScaleCols", "ScaleCols", func() { b.ScaleCols(base2, a, v) }},
		{"RowSums", "RowSums", func() { b.RowSums(v, 1, view, 0) }},
		{"ColSums", "ColSums", func() { b.ColSums(v, 1, base2, 0) }},
		{"RowNorms", "RowNorms", func() { b.RowNorms(v, fb, 0) }},
		{"Softmax", "Softmax", func() { b.Softmax(view, a) }},
		{"LogSumExp", "LogSumExp", func() { b.LogSumExp(v, base2) }},
		{"CrossEntropy freed labels", "CrossEntropy", func() { b.CrossEntropy(d, v, a, y) }},
		{"CrossEntropy freed a", "CrossEntropy", func() { b.CrossEntropy(d, v, view, newLabels(t, b, 3, []int{0, 1, 2})) }},
	}
	for k, c := range cases {
		c.do()
		wantErr(t, b, backend.ErrFreed, c.op, fmt.Sprintf("freed case %d (%s)", k, c.name))
	}
	if w, err := b.Reshape(view, 9, 1); !isErr(err, backend.ErrFreed) || nilIfNil(w) != nil {
		t.Errorf("Reshape of a view whose vector was freed: %v, %v; want ErrFreed", w, err)
	}
	if w, err := b.Reshape(fb, 1, 9); !isErr(err, backend.ErrFreed) || nilIfNil(w) != nil {
		t.Errorf("Reshape of a freed block: %v, %v; want ErrFreed", w, err)
	}
	b.FreeMatrix(x)
	b.MulBlock(d, 1, x, a, 0)
	wantErr(t, b, backend.ErrFreed, "MulBlock", "freed matrix")
	b.MulBlockTrans(d, 1, x, a, 0)
	wantErr(t, b, backend.ErrFreed, "MulBlockTrans", "freed matrix")
}

// testBlockInvalid checks the invalid arguments of the block operations:
// Map's function and parameter, RowNorms' parameter and nil operands.
func (s *suite) testBlockInvalid(t *testing.T) {
	b := s.backend(t)
	f := &blockFixture{b: b}
	x, d := f.vec(t, 5), f.vec(t, 5)
	a, g := f.block(t, 5, 3), f.block(t, 5, 3)
	y := newLabels(t, b, 3, []int{0, 1, 2, 1, 0})
	inf, nan := math.Inf(1), math.NaN()
	cases := []blockCase{
		{"Map unknown Func(−1)", "Map", func() { b.Map(d, backend.Func(-1), 0, x) }},
		{"Map unknown Func(99)", "Map", func() { b.Map(d, backend.Func(99), 0, x) }},
		{"Map unknown function in place", "Map", func() { b.Map(x, backend.Func(11), 0, x) }},
	}
	for _, fn := range allFuncs {
		bad := []float64{1, -1, 0.5, inf, nan}
		if fn.HasParam() {
			bad = []float64{-1, -1e-300, math.Inf(-1), inf, nan}
		}
		for _, c := range bad {
			cases = append(cases, blockCase{fmt.Sprintf("Map %v c=%v", fn, c), "Map", func() { b.Map(d, fn, c, x) }})
		}
	}
	for _, c := range []float64{-1, -1e-300, math.Inf(-1), inf, nan} {
		cases = append(cases, blockCase{fmt.Sprintf("RowNorms c=%v", c), "RowNorms", func() { b.RowNorms(d, a, c) }})
	}
	cases = append(cases,
		blockCase{"Map nil dst", "Map", func() { b.Map(nil, backend.Exp, 0, x) }},
		blockCase{"DivElem nil y", "DivElem", func() { b.DivElem(d, 1, x, nil, 0) }},
		blockCase{"MulBlock nil X", "MulBlock", func() { b.MulBlock(a, 1, nil, g, 0) }},
		blockCase{"Gemm nil B", "Gemm", func() { b.Gemm(g, 1, a, backend.NoTrans, nil, backend.NoTrans, 0) }},
		blockCase{"ScaleRows nil v", "ScaleRows", func() { b.ScaleRows(g, nil, a) }},
		blockCase{"RowSums nil a", "RowSums", func() { b.RowSums(d, 1, nil, 0) }},
		blockCase{"Softmax nil dst", "Softmax", func() { b.Softmax(nil, a) }},
		blockCase{"LogSumExp nil dst", "LogSumExp", func() { b.LogSumExp(nil, a) }},
		blockCase{"CrossEntropy nil labels", "CrossEntropy", func() { b.CrossEntropy(g, d, a, nil) }},
		blockCase{"CrossEntropy nil a", "CrossEntropy", func() { b.CrossEntropy(g, d, nil, y) }},
	)
	f.run(t, backend.ErrInvalid, cases)

	// The valid parameters are accepted: −0 is 0, and the largest finite c.
	for _, c := range []float64{math.Copysign(0, -1), math.MaxFloat64} {
		b.Map(d, backend.SqrtSq, c, x)
		noErr(t, b, fmt.Sprintf("Map sqrtsq c=%v", c))
		b.RowNorms(d, a, c)
		noErr(t, b, fmt.Sprintf("RowNorms c=%v", c))
	}
	b.Map(d, backend.Exp, math.Copysign(0, -1), x)
	noErr(t, b, "Map exp c=−0")
}

// testBlockSticky checks that after a failure the block operations are
// no-ops until ClearErr.
func (s *suite) testBlockSticky(t *testing.T) {
	b := s.backend(t)
	f := &blockFixture{b: b}
	x := newMat(t, b, RandDense(Rand(10), 4, 4))
	a, w, d := f.block(t, 4, 4), f.block(t, 4, 4), f.block(t, 4, 4)
	v, u := f.vec(t, 4), f.vec(t, 4)
	y := newLabels(t, b, 4, []int{0, 1, 2, 3})
	short := f.vec(t, 1)

	b.Axpy(1, short, v) // the first failure
	first := b.Err()
	if first == nil {
		t.Fatal("Axpy with mismatched lengths recorded no error")
	}
	b.DivElem(d, 1, a, w, 0)
	b.Map(d, backend.Exp, 0, a)
	b.MulBlock(d, 1, x, w, 0)
	b.MulBlockTrans(d, 1, x, w, 0)
	b.Gemm(d, 1, a, backend.NoTrans, w, backend.Trans, 0)
	b.ScaleRows(d, v, a)
	b.ScaleCols(d, a, v)
	b.ScaleRows(a, v, a)
	b.RowSums(v, 1, a, 0)
	b.ColSums(u, 1, a, 0)
	b.RowNorms(v, a, 1)
	b.Softmax(d, a)
	b.Softmax(a, a)
	b.LogSumExp(v, a)
	b.CrossEntropy(d, v, a, y)
	b.CrossEntropy(a, u, a, y)
	b.Map(d, backend.Func(99), 0, a) // a second failure must not replace the first
	if err := b.Err(); err != first {
		t.Errorf("Err() = %v after more operations, want the first error %v", err, first)
	}
	wantErr(t, b, backend.ErrShape, "Axpy", "first failure")
	for i, vv := range f.vs {
		checkExact(t, fmt.Sprintf("operations after a failure changed operand %d", i), get(t, b, vv), f.host[i])
	}
	b.RowSums(v, 1, a, 0)
	if noErr(t, b, "RowSums after ClearErr") {
		ref, mag := refRowSums(f.host[0], 4, 4)
		checkVec(t, "RowSums after ClearErr", get(t, b, v), ref, mag)
	}
}

// testBlockAllocated checks that NewBlock and NewLabels count in Allocated
// and Free gives it back, and that Reshape allocates nothing.
func (s *suite) testBlockAllocated(t *testing.T) {
	b := s.backend(t)
	base := b.Allocated()
	blk := newBlock(t, b, 30, 7, nil)
	withBlock := b.Allocated()
	if withBlock < base+30*7*8 {
		t.Errorf("Allocated() = %d after NewBlock(30, 7), want ≥ %d", withBlock, base+30*7*8)
	}
	view, err := b.Reshape(blk, 7, 30)
	if err != nil {
		t.Fatal(err)
	}
	view2, err := b.Reshape(view, 210, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Allocated(); got != withBlock {
		t.Errorf("Allocated() = %d after two Reshapes, want %d as before", got, withBlock)
	}
	l := newLabels(t, b, 10, RandClasses(Rand(11), 1000, 10))
	if got := b.Allocated(); got <= withBlock {
		t.Errorf("Allocated() = %d after NewLabels of 1000 labels, want more than %d", got, withBlock)
	}
	b.Free(l)
	if got := b.Allocated(); got != withBlock {
		t.Errorf("Allocated() = %d after freeing the labels, want %d as before", got, withBlock)
	}
	b.Free(view2) // frees the block's storage
	if got := b.Allocated(); got != base {
		t.Errorf("Allocated() = %d after freeing a view, want %d as before the block", got, base)
	}
	b.Free(blk)
	b.Free(view)
	if got := b.Allocated(); got != base {
		t.Errorf("Allocated() = %d after freeing the block and another view too, want %d", got, base)
	}
}

// testViews checks that operations on Reshape views see and write the
// storage of their vector, that the elementwise operations treat blocks as
// the flat vectors they are, and that a vector made by NewVector is an n×1
// block.
func (s *suite) testViews(t *testing.T) {
	b := s.backend(t)
	const rows, cols = 6, 5
	x := RandVector(Rand(12), rows*cols)
	xv := newVec(t, b, x)
	av, err := b.Reshape(xv, rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	// Row reductions of the view read the vector.
	sums := newVec(t, b, make([]float64, rows))
	b.RowSums(sums, 1, av, 0)
	if noErr(t, b, "RowSums of a view") {
		ref, mag := refRowSums(x, rows, cols)
		checkVec(t, "RowSums of a 6×5 view of a 30-vector", get(t, b, sums), ref, mag)
	}
	// An operation writing the view writes the vector.
	b.Softmax(av, av)
	if noErr(t, b, "Softmax(view, view)") {
		ref, mag := refSoftmax(x, rows, cols)
		checkVec(t, "the vector after Softmax(view, view)", get(t, b, xv), ref, mag)
	}
	// A flat operation on a block and a view of another shape.
	b.Upload(xv, x)
	blk := newBlock(t, b, 5, 6, nil)
	b.Map(blk, backend.Exp, 0, av)
	if noErr(t, b, "Map(5×6 block, exp, 0, 6×5 view)") {
		checkMap(t, "Map(5×6 block, exp, 0, 6×5 view)", get(t, b, blk), x, backend.Exp, 0)
	}
	d := RandVector(Rand(13), rows*cols)
	dv := newVec(t, b, d)
	b.DivElem(dv, 1.5, blk, av, -1)
	if noErr(t, b, "DivElem(30-vector, α, 5×6 block, 6×5 view, β)") {
		e := get(t, b, blk)
		ref, mag := refDivElem(1.5, e, x, -1, d)
		checkVec(t, "DivElem(30-vector, α, 5×6 block, 6×5 view, β)", get(t, b, dv), ref, mag)
	}
	// A Gemm writing a view of a vector: the vector holds the product.
	p := newVec(t, b, withNaN(make([]float64, rows*rows)))
	pv, err := b.Reshape(p, rows, rows)
	if err != nil {
		t.Fatal(err)
	}
	b.Gemm(pv, 1, av, backend.NoTrans, av, backend.Trans, 0)
	if noErr(t, b, "Gemm(view, 1, A, N, A, T, 0)") {
		ref, mag := refGemmProduct(x, cols, backend.NoTrans, x, cols, backend.Trans, rows, rows, cols)
		checkVec(t, "the vector under Gemm(view, 1, A, N, A, T, 0)", get(t, b, p), ref, mag)
	}

	// A vector made by NewVector is an n×1 block.
	const n = 7
	z := RandVector(Rand(14), n)
	zv := newVec(t, b, z)
	zb, ok := zv.(backend.Block)
	if !ok {
		t.Fatalf("a vector from NewVector (%T) is not a Block", zv)
	}
	if r, c := zb.Dims(); r != n || c != 1 {
		t.Fatalf("a vector of %d from NewVector is %d×%d, want %d×1", n, r, c, n)
	}
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	sv := newVec(t, b, make([]float64, n))
	b.Softmax(sv.(backend.Block), zb)
	if noErr(t, b, "Softmax of a vector") {
		checkExact(t, "Softmax of a vector as n×1: rows of one element", get(t, b, sv), ones)
	}
	b.RowSums(sv, 1, zb, 0)
	if noErr(t, b, "RowSums of a vector") {
		checkExact(t, "RowSums of a vector as n×1", get(t, b, sv), z)
	}
	one := newVec(t, b, []float64{math.NaN()})
	b.ColSums(one, 1, zb, 0)
	if noErr(t, b, "ColSums of a vector") {
		ref, mag := refColSums(z, n, 1)
		checkVec(t, "ColSums of a vector as n×1", get(t, b, one), ref, mag)
	}
	b.Gemm(one.(backend.Block), 1, zb, backend.Trans, zb, backend.NoTrans, 0)
	if noErr(t, b, "Gemm(1×1, 1, z, T, z, N, 0)") {
		ref, mag := refDot(z, z)
		checkVec(t, "Gemm(1×1, 1, z, T, z, N, 0) = zᵀz", get(t, b, one), []float64{ref}, []float64{mag})
	}
	m := RandDense(Rand(15), 4, n)
	xm := newMat(t, b, m)
	out := newVec(t, b, make([]float64, 4))
	b.MulBlock(out.(backend.Block), 2, xm, zb, 0)
	if noErr(t, b, "MulBlock with vectors") {
		ax, axMag := refAx(m, z)
		ref, mag := combine(2, ax, axMag, 0, nil)
		checkVec(t, "MulBlock(4-vector, α, X, 7-vector, 0)", get(t, b, out), ref, mag)
	}
}

// testBlockDeterminism runs every reduction of the block operations twice
// on the same inputs and requires bit-identical results.
func (s *suite) testBlockDeterminism(t *testing.T) {
	b := s.backend(t)
	same := func(what string, first, second []float64) {
		t.Helper()
		for i := range first {
			if math.Float64bits(first[i]) != math.Float64bits(second[i]) {
				t.Errorf("%s is not deterministic: [%d] = %v, then %v", what, i, first[i], second[i])
				return
			}
		}
	}
	// twice runs op twice into fresh outputs of n elements starting from
	// start, and compares.
	twice := func(what string, n int, op func(out backend.Block)) {
		t.Helper()
		start := RandVector(Rand(uint64(n)), n)
		var res [2][]float64
		for k := range res {
			out := newBlock(t, b, n, 1, start)
			op(out)
			if !noErr(t, b, what) {
				b.Free(out)
				return
			}
			res[k] = get(t, b, out)
			b.Free(out)
		}
		same(what, res[0], res[1])
	}
	for _, sh := range [][2]int{{1003, 67}, {20011, 3}, {3, 20011}} {
		rows, cols := sh[0], sh[1]
		a := RandScores(Rand(uint64(rows)), rows, cols)
		av := newBlock(t, b, rows, cols, a)
		yl := newLabels(t, b, cols, RandClasses(Rand(uint64(cols)), rows, cols))
		asA := func(out backend.Block) backend.Block {
			w, err := b.Reshape(out, rows, cols)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		dims := fmt.Sprintf("%d×%d", rows, cols)
		twice("RowSums "+dims, rows, func(o backend.Block) { b.RowSums(o, 1.5, av, 0.5) })
		twice("ColSums "+dims, cols, func(o backend.Block) { b.ColSums(o, 1.5, av, 0.5) })
		twice("RowNorms "+dims, rows, func(o backend.Block) { b.RowNorms(o, av, 0.5) })
		twice("LogSumExp "+dims, rows, func(o backend.Block) { b.LogSumExp(o, av) })
		twice("Softmax "+dims, rows*cols, func(o backend.Block) { b.Softmax(asA(o), av) })
		twice("Map "+dims, rows*cols, func(o backend.Block) { b.Map(o, backend.Softplus, 0, av) })
		twice("CrossEntropy loss "+dims, rows, func(o backend.Block) { b.CrossEntropy(nil, o, av, yl) })
		twice("CrossEntropy grad "+dims, rows*cols, func(o backend.Block) { b.CrossEntropy(asA(o), nil, av, yl) })
		// Gemm: AᵀA (cols×cols) and a product with the long dimension inside.
		if cols <= 67 {
			twice("Gemm AᵀA "+dims, cols*cols, func(o backend.Block) {
				g, err := b.Reshape(o, cols, cols)
				if err != nil {
					t.Fatal(err)
				}
				b.Gemm(g, 1.5, av, backend.Trans, av, backend.NoTrans, 0.5)
			})
		} else {
			twice("Gemm AAᵀ "+dims, rows*rows, func(o backend.Block) {
				g, err := b.Reshape(o, rows, rows)
				if err != nil {
					t.Fatal(err)
				}
				b.Gemm(g, 1.5, av, backend.NoTrans, av, backend.Trans, 0.5)
			})
		}
		b.Free(av)
		b.Free(yl)
	}
	for k, sh := range []shape{{1003, 67, 0}, {3001, 257, 0.06}, {20011, 3, 0.7}, {2, 20011, 0}} {
		m := sh.hostMatrix(uint64(8000 + k))
		x := newMat(t, b, m)
		const kc = 3
		w := newBlock(t, b, m.Cols, kc, RandVector(Rand(uint64(k)), m.Cols*kc))
		g := newBlock(t, b, m.Rows, kc, RandVector(Rand(uint64(k)+1), m.Rows*kc))
		twice(fmt.Sprintf("MulBlock %v", m), m.Rows*kc, func(o backend.Block) {
			d, err := b.Reshape(o, m.Rows, kc)
			if err != nil {
				t.Fatal(err)
			}
			b.MulBlock(d, 1.5, x, w, 0.5)
		})
		twice(fmt.Sprintf("MulBlockTrans %v", m), m.Cols*kc, func(o backend.Block) {
			d, err := b.Reshape(o, m.Cols, kc)
			if err != nil {
				t.Fatal(err)
			}
			b.MulBlockTrans(d, 1.5, x, g, 0.5)
		})
		b.Free(w)
		b.Free(g)
		b.FreeMatrix(x)
	}
}
