package cpu

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

var workerCounts = []int{1, 2, 3, 8}

func TestConformance(t *testing.T) {
	for _, w := range workerCounts {
		t.Run(fmt.Sprintf("workers=%d", w), func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) backend.Backend { return New(Options{Workers: w}) })
		})
	}
}

func TestRegistered(t *testing.T) {
	b, err := backend.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Name() != "cpu" || b.(*Backend).Workers() < 1 {
		t.Errorf("Open(cpu): name %q, %d workers", b.Name(), b.(*Backend).Workers())
	}
}

func TestClosed(t *testing.T) {
	b := New(Options{Workers: 2})
	x, _ := b.NewVector(3)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.NewVector(3); err == nil {
		t.Error("NewVector after Close: no error")
	}
	if r := b.Dot(x, x); !math.IsNaN(r) {
		t.Errorf("Dot after Close = %v, want NaN", r)
	}
	if b.Err() == nil {
		t.Error("Dot after Close recorded no error")
	}
}

// opFixture is a problem of every kind of operand on one backend.
type opFixture struct {
	b                 *Backend
	dense, sparse     backend.Matrix
	rows, cols        int
	x, y, z           backend.Vector // len n
	w, v, dst         backend.Vector // len cols
	r, labels, curv   backend.Vector // len rows
	rowDst, rowsScale backend.Vector // len rows

	// Blocks of fixK columns: W and MulBlockTrans' dst (cols×fixK), scores,
	// their gradient and MulBlock's dst (rows×fixK), a fixK×fixK block, a
	// vector of fixK and the scores' class labels.
	wBlk, colBlk         backend.Block
	scores, grad, rowBlk backend.Block
	kk                   backend.Block
	kVec, kDst           backend.Vector
	classes              backend.Labels
}

// fixK is the number of columns of the fixture's blocks (classes, the k of
// MulBlock).
const fixK = 10

// newFixture builds an n-vector problem and rows×cols matrices (CSR of the
// given density).
func newFixture(t testing.TB, workers, n, rows, cols int, density float64) *opFixture {
	r := backendtest.Rand(42)
	b := New(Options{Workers: workers})
	f := &opFixture{b: b, rows: rows, cols: cols}
	var err error
	if f.dense, err = backendtest.RandDense(r, rows, cols).Upload(b); err != nil {
		t.Fatal(err)
	}
	if f.sparse, err = backendtest.RandCSR(r, rows, cols, density).Upload(b); err != nil {
		t.Fatal(err)
	}
	vec := func(x []float64) backend.Vector {
		v, err := b.NewVector(len(x))
		if err != nil {
			t.Fatal(err)
		}
		b.Upload(v, x)
		return v
	}
	scale := func(x []float64, s float64) []float64 {
		for i := range x {
			x[i] *= s
		}
		return x
	}
	f.x, f.y, f.z = vec(backendtest.RandVector(r, n)), vec(backendtest.RandVector(r, n)), vec(backendtest.RandVector(r, n))
	f.w = vec(scale(backendtest.RandVector(r, cols), 1/math.Sqrt(float64(cols))))
	f.v, f.dst = vec(backendtest.RandVector(r, cols)), vec(backendtest.RandVector(r, cols))
	f.r, f.labels = vec(backendtest.RandVector(r, rows)), vec(backendtest.RandLabels(r, rows))
	f.curv, f.rowDst = vec(make([]float64, rows)), vec(make([]float64, rows))
	f.rowsScale = vec(scale(backendtest.RandVector(r, rows), 0.1))
	block := func(rows, cols int, x []float64) backend.Block {
		v, err := b.NewBlock(rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		b.Upload(v, x)
		return v
	}
	f.wBlk = block(cols, fixK, scale(backendtest.RandVector(r, cols*fixK), 1/math.Sqrt(float64(cols))))
	f.colBlk = block(cols, fixK, backendtest.RandVector(r, cols*fixK))
	f.scores = block(rows, fixK, scale(backendtest.RandVector(r, rows*fixK), 3))
	f.grad = block(rows, fixK, backendtest.RandVector(r, rows*fixK))
	f.rowBlk = block(rows, fixK, backendtest.RandVector(r, rows*fixK))
	f.kk = block(fixK, fixK, backendtest.RandVector(r, fixK*fixK))
	f.kVec, f.kDst = vec(backendtest.RandVector(r, fixK)), vec(backendtest.RandVector(r, fixK))
	y := make([]int, rows)
	for i := range y {
		y[i] = r.IntN(fixK)
	}
	if f.classes, err = b.NewLabels(fixK, y); err != nil {
		t.Fatal(err)
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return f
}

// ops lists every operation of the interface on the fixture.
func (f *opFixture) ops() []struct {
	name string
	do   func()
} {
	b := f.b
	host := make([]float64, f.x.Len())
	type op = struct {
		name string
		do   func()
	}
	ops := []op{
		{"Download", func() { b.Download(host, f.y) }},
		{"Upload", func() { b.Upload(f.z, host) }},
		{"Copy", func() { b.Copy(f.z, f.x) }},
		{"CopyRange", func() { b.CopyRange(f.z, 1, f.x, 2, f.x.Len()-3) }},
		{"CopyRange/same", func() { b.CopyRange(f.z, 0, f.z, f.z.Len()/2, f.z.Len()/2) }},
		{"Fill", func() { b.Fill(f.z, 0.5) }},
		{"Scal", func() { b.Scal(1.0000001, f.z) }},
		{"Axpy", func() { b.Axpy(0.5, f.x, f.z) }},
		{"Axpby", func() { b.Axpby(0.5, f.x, 0.25, f.z) }},
		{"MulElem", func() { b.MulElem(f.z, 0.5, f.x, f.y, 0.5) }},
		{"Dot", func() { b.Dot(f.x, f.y) }},
		{"Nrm2", func() { b.Nrm2(f.x) }},
		{"DivElem", func() { b.DivElem(f.z, 0.5, f.x, f.y, 0.5) }},
		{"Map/tanh", func() { b.Map(f.z, backend.Tanh, 0, f.x) }},
		{"Map/sqrtsq", func() { b.Map(f.z, backend.SqrtSq, 0.5, f.x) }},
		{"ScaleRows", func() { b.ScaleRows(f.grad, f.rowsScale, f.scores) }},
		{"ScaleCols", func() { b.ScaleCols(f.grad, f.scores, f.kVec) }},
		{"RowSums", func() { b.RowSums(f.rowDst, 1, f.scores, 0.5) }},
		{"ColSums", func() { b.ColSums(f.kDst, 1, f.scores, 0.5) }},
		{"RowNorms", func() { b.RowNorms(f.rowDst, f.scores, 1e-3) }},
		{"Softmax", func() { b.Softmax(f.grad, f.scores) }},
		{"LogSumExp", func() { b.LogSumExp(f.rowDst, f.scores) }},
		{"CrossEntropy", func() { b.CrossEntropy(f.grad, f.rowDst, f.scores, f.classes) }},
		{"Gemm/TN", func() { b.Gemm(f.kk, 1, f.scores, backend.Trans, f.grad, backend.NoTrans, 0) }},
		{"Gemm/NN", func() { b.Gemm(f.rowBlk, 1, f.scores, backend.NoTrans, f.kk, backend.NoTrans, 0.5) }},
		{"Gemm/NT", func() { b.Gemm(f.rowBlk, 1, f.scores, backend.NoTrans, f.kk, backend.Trans, 0) }},
		{"Gemm/alpha=0", func() { b.Gemm(f.rowBlk, 0, f.scores, backend.NoTrans, f.kk, backend.NoTrans, 0.5) }},
	}
	for _, m := range []struct {
		name string
		a    backend.Matrix
	}{{"dense", f.dense}, {"csr", f.sparse}} {
		a := m.a
		ops = append(ops,
			op{"MulVec/" + m.name, func() { b.MulVec(f.rowDst, 1, a, f.v, 0.5) }},
			op{"MulVecTrans/" + m.name, func() { b.MulVecTrans(f.dst, 1, a, f.r, 0.5) }},
			op{"GramVec/" + m.name, func() { b.GramVec(f.dst, 1, a, f.rowsScale, f.v, 0) }},
			op{"GramVec/nil-d/" + m.name, func() { b.GramVec(f.dst, 1, a, nil, f.v, 0.5) }},
			op{"GramDiag/" + m.name, func() { b.GramDiag(f.dst, 1, a, f.rowsScale, 0) }},
			op{"GramDiag/nil-d/" + m.name, func() { b.GramDiag(f.dst, 1, a, nil, 0.5) }},
			op{"GLMGrad/logistic/" + m.name, func() { b.GLMGrad(f.dst, 1, a, f.w, f.labels, backend.Logistic, 0, f.curv) }},
			op{"GLMGrad/squared/" + m.name, func() { b.GLMGrad(f.dst, 1, a, f.w, f.r, backend.Squared, 0.5, nil) }},
			op{"GLMGrad/loss-only/" + m.name, func() { b.GLMGrad(nil, 1, a, f.w, f.labels, backend.Logistic, 0, nil) }},
			op{"MulBlock/" + m.name, func() { b.MulBlock(f.rowBlk, 1, a, f.wBlk, 0.5) }},
			op{"MulBlockTrans/" + m.name, func() { b.MulBlockTrans(f.colBlk, 1, a, f.scores, 0) }},
			op{"SoftmaxGrad/" + m.name, func() {
				b.SoftmaxGrad(f.colBlk, 1, a, f.wBlk, f.classes, f.rowsScale, 0.5, f.grad, f.rowDst)
			}},
			op{"SoftmaxHessBlock/nil-d/" + m.name, func() { b.SoftmaxHessBlock(f.colBlk, 1, a, f.grad, nil, f.wBlk, 0) }},
		)
	}
	return ops
}

// TestNoAllocs asserts that no operation allocates after warm-up, on sizes
// that take the serial path and sizes that take the parallel path, with
// each set of dense kernels.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	kernelSets(t, testNoAllocs)
}

func testNoAllocs(t *testing.T) {
	for _, size := range []struct {
		name                string
		n, rows, cols       int
		density             float64
		wantSerial, wantPar bool
	}{
		{"serial", 1000, 50, 40, 0.3, true, false},
		{"parallel", 1 << 17, 2000, 300, 0.2, false, true},
		{"chunked", 1000, 4000, 1000, 0.6, true, false},
	} {
		for _, workers := range []int{1, 2, 3} {
			f := newFixture(t, workers, size.n, size.rows, size.cols, size.density)
			// The sizes exercise what they are named after.
			if np := f.b.eng.parts(size.n, partElems, size.n); workers > 1 && (np > 1) != size.wantPar {
				t.Fatalf("%s: vectors of %d get %d parts with %d workers", size.name, size.n, np, workers)
			}
			if m := f.matRef(t, f.dense); workers > 1 && (f.b.eng.splitChunks(&m, workers, m.cols) > workers) != (size.name == "chunked") {
				t.Fatalf("%s: the dense matrix is cut into chunks: %v", size.name, size.name != "chunked")
			}
			runs := 20
			if size.name == "chunked" {
				runs = 5 // long operations: an allocation per call shows as well
			}
			for _, op := range f.ops() {
				op.do() // warm up: scratch space is grown here
				if allocs := testing.AllocsPerRun(runs, op.do); allocs != 0 {
					t.Errorf("%s %s workers=%d: %v allocations per call", op.name, size.name, workers, allocs)
				}
			}
			if err := f.b.Err(); err != nil {
				t.Errorf("%s workers=%d: %v", size.name, workers, err)
			}
			f.b.Close()
		}
	}
}

// TestParallelPaths checks that the shapes of the allocation and determinism
// tests really are cut into several parts.
func TestParallelPaths(t *testing.T) {
	b := New(Options{Workers: 3})
	defer b.Close()
	dense := matRef{rows: 2000, cols: 300}
	if np := b.eng.transParts(&dense, 1); np != 3 {
		t.Errorf("dense 2000×300: %d parts, want 3", np)
	}
	small := matRef{rows: 50, cols: 40}
	if np := b.eng.transParts(&small, 2); np != 1 {
		t.Errorf("dense 50×40: %d parts, want 1", np)
	}
	wide := matRef{rows: 100, cols: 1 << 20, indptr: make([]int, 101), val: make([]float64, 50000)}
	if np := b.eng.transParts(&wide, 2); np != 1 {
		t.Errorf("CSR 100×2^20 with 50000 entries: %d parts, want 1 (accumulators would dominate)", np)
	}
}

// TestChunkedPasses checks the row passes cut into chunks (splitChunks):
// the chunks cover the rows in order with at least the least work each;
// the results do not depend on the order in which the chunks are handed
// out (bit for bit) and agree with equal parts (to rounding); GramDiag of a
// CSR matrix with duplicate entries agrees with the merged matrix.
func TestChunkedPasses(t *testing.T) {
	kernelSets(t, testChunkedPasses)
}

func testChunkedPasses(t *testing.T) {
	const rows, cols = 4000, 1000
	for _, workers := range []int{2, 3} {
		f := newFixture(t, workers, 1000, rows, cols, 0.6)
		e := f.b.eng
		for _, c := range []struct {
			name    string
			m       matRef
			accCols int
		}{
			{"dense", matRef{rows: rows, cols: cols}, cols},
			{"dense, no accumulator", matRef{rows: rows, cols: cols}, 0},
			{"csr", f.matRef(t, f.sparse), cols},
		} {
			np := e.parts(matWork(&c.m), partWork, c.m.rows)
			nk := e.splitChunks(&c.m, np, c.accCols)
			if np != workers || nk <= 2*np {
				t.Fatalf("%s workers=%d: %d parts, %d chunks: the test does not exercise chunks", c.name, workers, np, nk)
			}
			b := e.bounds[:nk+1]
			minWork := max(chunkWork, accRatio*c.accCols)
			if b[0] != 0 || b[nk] != rows {
				t.Fatalf("%s: chunks %v do not cover [0, %d)", c.name, b, rows)
			}
			for k := range nk {
				w := c.m.workBefore(b[k+1]) - c.m.workBefore(b[k])
				if b[k+1] <= b[k] || (w < minWork && b[k+1]-b[k] > 1) {
					t.Fatalf("%s: chunk %d = [%d, %d) of work %d (least %d); chunks %v", c.name, k, b[k], b[k+1], w, minWork, b)
				}
			}
		}

		forward := f.reductions()
		reverseChunks = true
		reversed := f.reductions()
		reverseChunks, chunking = false, false
		parts := f.reductions()
		chunking = true
		for name, ref := range forward {
			var d2, r2 float64
			for i := range ref {
				if math.Float64bits(reversed[name][i]) != math.Float64bits(ref[i]) {
					t.Fatalf("%s workers=%d: chunks handed out last first differ at [%d]: %v vs %v", name, workers, i, reversed[name][i], ref[i])
				}
				d2 += (parts[name][i] - ref[i]) * (parts[name][i] - ref[i])
				r2 += ref[i] * ref[i]
			}
			if math.Sqrt(d2) > 1e-13*math.Sqrt(r2) {
				t.Errorf("%s workers=%d: chunks and equal parts differ by %.3g relative", name, workers, math.Sqrt(d2/r2))
			}
		}
		if err := f.b.Err(); err != nil {
			t.Fatal(err)
		}
		f.b.Close()
	}

	// GramDiag with duplicate entries keeps row scratch per chunk.
	b := New(Options{Workers: 2})
	defer b.Close()
	withDup := backendtest.RandCSR(backendtest.Rand(8), rows, cols, 0.8)
	var out [][]float64
	for _, h := range []*backendtest.HostMatrix{withDup, withDup.Merged()} {
		a, err := h.Upload(b)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := b.mat("test", a)
		if nk := b.eng.splitChunks(&m, 2, cols); nk <= 4 {
			t.Fatalf("CSR %d×%d with %d entries: %d chunks", rows, cols, len(h.Data), nk)
		}
		dst, _ := b.NewVector(cols)
		b.GramDiag(dst, 1, a, nil, 0)
		x := make([]float64, cols)
		b.Download(x, dst)
		out = append(out, x)
	}
	if a, _ := withDup.Upload(b); a.(*csr).dupRows == nil {
		t.Fatal("the CSR matrix has no duplicates")
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	sameAsMerged(t, out[0], out[1])
}

// TestGramVecPair checks that each product of GramVecPair is GramVec's, bit
// for bit, on dense and CSR matrices, with and without weights, on the
// serial, parallel and chunked paths and with each set of dense kernels,
// and that it rejects aliased outputs.
func TestGramVecPair(t *testing.T) {
	kernelSets(t, testGramVecPair)
}

func testGramVecPair(t *testing.T) {
	var _ backend.GramVecPairer = (*Backend)(nil)
	for _, size := range []struct{ rows, cols int }{{50, 40}, {3001, 257}, {4000, 1000}} {
		for _, workers := range []int{1, 2, 3} {
			f := newFixture(t, workers, 1000, size.rows, size.cols, 0.6)
			b := f.b
			get := func(v backend.Vector) []float64 {
				x := make([]float64, v.Len())
				b.Download(x, v)
				return x
			}
			v1, v2, d1 := f.v, f.w, f.dst
			want1, _ := b.NewVector(size.cols)
			want2, _ := b.NewVector(size.cols)
			out2, _ := b.NewVector(size.cols)
			for _, m := range []struct {
				name string
				a    backend.Matrix
			}{{"dense", f.dense}, {"csr", f.sparse}} {
				for _, d := range []backend.Vector{f.rowsScale, nil} {
					b.Fill(want1, 0.5)
					b.Fill(want2, -0.25)
					b.Copy(d1, want1)
					b.Copy(out2, want2)
					b.GramVec(want1, 0.75, m.a, d, v1, 0.5)
					b.GramVec(want2, 0.75, m.a, d, v2, 0.5)
					b.GramVecPair(d1, out2, 0.75, m.a, d, v1, v2, 0.5)
					what := fmt.Sprintf("%s %d×%d workers=%d d=%v", m.name, size.rows, size.cols, workers, d != nil)
					checkBits(t, what+" first", get(d1), get(want1))
					checkBits(t, what+" second", get(out2), get(want2))
				}
			}
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			b.GramVecPair(d1, d1, 1, f.dense, nil, v1, v2, 0)
			if err := b.Err(); !errors.Is(err, backend.ErrAlias) {
				t.Errorf("GramVecPair with dst1 = dst2: %v, want ErrAlias", err)
			}
			b.Close()
		}
	}
}

// TestGLMGradGramVec checks that GLMGradGramVec gives GLMGradNoLoss's
// gradient and curvature and GramVec's product weighted by that curvature,
// bit for bit, on dense and CSR matrices, for both losses (the squared loss
// also without curv), on the serial, parallel and chunked paths and with
// each set of dense kernels, and that it rejects a logistic loss without
// curvature output.
func TestGLMGradGramVec(t *testing.T) {
	kernelSets(t, testGLMGradGramVec)
}

func testGLMGradGramVec(t *testing.T) {
	var _ backend.GLMGradGramVecer = (*Backend)(nil)
	for _, size := range []struct{ rows, cols int }{{50, 40}, {3001, 257}, {4000, 1000}} {
		for _, workers := range []int{1, 2, 3} {
			f := newFixture(t, workers, 1000, size.rows, size.cols, 0.6)
			b := f.b
			get := func(v backend.Vector) []float64 {
				x := make([]float64, v.Len())
				b.Download(x, v)
				return x
			}
			vec := func(n int) backend.Vector {
				v, err := b.NewVector(n)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			grad, prod, wantGrad, wantProd := vec(size.cols), vec(size.cols), vec(size.cols), vec(size.cols)
			curv, wantCurv := vec(size.rows), vec(size.rows)
			for _, m := range []struct {
				name string
				a    backend.Matrix
			}{{"dense", f.dense}, {"csr", f.sparse}} {
				for _, c := range []struct {
					name string
					loss backend.Loss
					y    backend.Vector
					curv bool
				}{{"logistic", backend.Logistic, f.labels, true}, {"squared", backend.Squared, f.r, true}, {"squared, no curv", backend.Squared, f.r, false}} {
					for _, v := range []backend.Vector{f.v, f.w} {
						b.Fill(grad, 0.5)
						b.Fill(prod, -0.25)
						b.Copy(wantGrad, grad)
						b.Copy(wantProd, prod)
						var cv, wcv backend.Vector
						if c.curv {
							cv, wcv = curv, wantCurv
						}
						b.GLMGradNoLoss(wantGrad, 0.75, m.a, f.w, c.y, c.loss, 0.5, wcv)
						b.GramVec(wantProd, 0.75, m.a, wcv, v, 0.5)
						b.GLMGradGramVec(grad, prod, 0.75, m.a, f.w, c.y, c.loss, 0.5, cv, v)
						what := fmt.Sprintf("%s %s %d×%d workers=%d", m.name, c.name, size.rows, size.cols, workers)
						checkBits(t, what+" gradient", get(grad), get(wantGrad))
						checkBits(t, what+" product", get(prod), get(wantProd))
						if c.curv {
							checkBits(t, what+" curvature", get(curv), get(wantCurv))
						}
					}
				}
			}
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			b.GLMGradGramVec(grad, prod, 1, f.dense, f.w, f.labels, backend.Logistic, 0, nil, f.v)
			if err := b.Err(); !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("GLMGradGramVec, logistic without curvature: %v, want ErrInvalid", err)
			}
			b.Close()
		}
	}
}

// matRef returns the storage of a matrix of the fixture.
func (f *opFixture) matRef(t testing.TB, a backend.Matrix) matRef {
	m, ok := f.b.mat("test", a)
	if !ok {
		t.Fatal(f.b.Err())
	}
	return m
}

// TestSplitRowsCSR checks that CSR rows are balanced by stored entries.
func TestSplitRowsCSR(t *testing.T) {
	e := newEngine(4)
	defer e.stop()
	// 8 rows: one heavy row (index 2) of 1000 entries, others of 10.
	indptr := []int{0}
	for i := range 8 {
		k := 10
		if i == 2 {
			k = 1000
		}
		indptr = append(indptr, indptr[i]+k)
	}
	m := matRef{rows: 8, cols: 10, indptr: indptr, val: make([]float64, indptr[8])}
	e.splitRows(&m, 4)
	// The heavy row goes to the part in which it starts; the next parts,
	// whose share it already covers, are empty.
	want := []int{0, 3, 3, 3, 8}
	for k := range want {
		if e.bounds[k] != want[k] {
			t.Fatalf("bounds %v, want %v", e.bounds[:5], want)
		}
	}
	for i := range 8 {
		indptr[i+1] = indptr[i] + 10
	}
	m.val = m.val[:80]
	e.splitRows(&m, 4)
	want = []int{0, 2, 4, 6, 8}
	for k := range want {
		if e.bounds[k] != want[k] {
			t.Fatalf("uniform rows: bounds %v, want %v", e.bounds[:5], want)
		}
	}
}

// TestDeterminismAcrossWorkers checks that every reduction and fused kernel
// is bit-identical across repeated calls with the same Workers, and that
// different Workers agree to the conformance tolerance, with each set of
// dense kernels.
func TestDeterminismAcrossWorkers(t *testing.T) {
	kernelSets(t, testDeterminismAcrossWorkers)
}

func testDeterminismAcrossWorkers(t *testing.T) {
	const n, rows, cols = 100003, 3001, 257
	results := map[int]map[string][]float64{}
	for _, workers := range workerCounts {
		f := newFixture(t, workers, n, rows, cols, 0.1)
		res := map[string][]float64{}
		for rep := range 3 {
			for name, out := range f.reductions() {
				if rep == 0 {
					res[name] = out
					continue
				}
				for i := range out {
					if math.Float64bits(out[i]) != math.Float64bits(res[name][i]) {
						t.Fatalf("%s workers=%d: call %d differs at [%d]: %v vs %v", name, workers, rep, i, out[i], res[name][i])
					}
				}
			}
		}
		if err := f.b.Err(); err != nil {
			t.Fatal(err)
		}
		results[workers] = res
		f.b.Close()
	}
	for _, workers := range workerCounts[1:] {
		for name, ref := range results[1] {
			got := results[workers][name]
			var d2, r2 float64
			for i := range ref {
				d2 += (got[i] - ref[i]) * (got[i] - ref[i])
				r2 += ref[i] * ref[i]
			}
			if math.Sqrt(d2) > 1e-13*math.Sqrt(r2) {
				t.Errorf("%s: workers=%d differs from workers=1 by %.3g relative", name, workers, math.Sqrt(d2/r2))
			}
		}
	}
}

// reductions runs every reduction and fused kernel from the same starting
// point and returns the results (vectors with the returned scalar appended).
func (f *opFixture) reductions() map[string][]float64 {
	b := f.b
	get := func(v backend.Vector) []float64 {
		x := make([]float64, v.Len())
		b.Download(x, v)
		return x
	}
	out := map[string][]float64{
		"Dot":  {b.Dot(f.x, f.y)},
		"Nrm2": {b.Nrm2(f.x)},
	}
	for _, m := range []struct {
		name string
		a    backend.Matrix
	}{{"dense", f.dense}, {"csr", f.sparse}} {
		b.Fill(f.dst, 1)
		b.MulVecTrans(f.dst, 1, m.a, f.r, 0.5)
		out["MulVecTrans/"+m.name] = get(f.dst)
		b.Fill(f.dst, 1)
		b.GramVec(f.dst, 1, m.a, f.rowsScale, f.v, 0.5)
		out["GramVec/"+m.name] = get(f.dst)
		b.Fill(f.dst, 1)
		b.GramDiag(f.dst, 1, m.a, f.rowsScale, 0.5)
		out["GramDiag/"+m.name] = get(f.dst)
		b.Fill(f.dst, 1)
		loss := b.GLMGrad(f.dst, 1, m.a, f.w, f.labels, backend.Logistic, 0.5, f.curv)
		out["GLMGrad/"+m.name] = append(append(get(f.dst), get(f.curv)...), loss)
		b.Fill(f.rowDst, 1)
		b.MulVec(f.rowDst, 1, m.a, f.v, 0.5)
		out["MulVec/"+m.name] = get(f.rowDst)
		b.Fill(f.colBlk, 1)
		b.MulBlockTrans(f.colBlk, 1, m.a, f.scores, 0.5)
		out["MulBlockTrans/"+m.name] = get(f.colBlk)
		b.Fill(f.rowBlk, 1)
		b.MulBlock(f.rowBlk, 1, m.a, f.wBlk, 0.5)
		out["MulBlock/"+m.name] = get(f.rowBlk)
		b.Fill(f.colBlk, 1)
		b.SoftmaxGrad(f.colBlk, 1, m.a, f.wBlk, f.classes, f.rowsScale, 0.5, f.grad, f.rowDst)
		out["SoftmaxGrad/"+m.name] = append(append(get(f.colBlk), get(f.grad)...), get(f.rowDst)...)
		b.Fill(f.colBlk, 1)
		b.SoftmaxHessBlock(f.colBlk, 1, m.a, f.grad, f.rowsScale, f.wBlk, 0.5)
		out["SoftmaxHessBlock/"+m.name] = get(f.colBlk)
	}
	b.Fill(f.kDst, 1)
	b.ColSums(f.kDst, 1, f.scores, 0.5)
	out["ColSums"] = get(f.kDst)
	b.Gemm(f.kk, 1, f.scores, backend.Trans, f.scores, backend.NoTrans, 0)
	out["Gemm/TN"] = get(f.kk)
	b.CrossEntropy(f.grad, f.rowDst, f.scores, f.classes)
	out["CrossEntropy"] = append(get(f.grad), get(f.rowDst)...)
	return out
}

// TestCSRDuplicateFlag checks that NewCSR records whether a row holds two
// entries of the same column, which selects GramDiag's path, and that both
// paths agree on a matrix with and without its duplicates merged.
func TestCSRDuplicateFlag(t *testing.T) {
	b := New(Options{Workers: 3})
	defer b.Close()
	withDup := backendtest.RandCSR(backendtest.Rand(7), 3001, 257, 0.1)
	merged := withDup.Merged()
	adjacentRows := &backendtest.HostMatrix{Rows: 2, Cols: 3, Format: backend.CSR, // column 1 in both rows: no duplicate
		Indptr: []int{0, 2, 4}, Indices: []int{1, 0, 2, 1}, Data: []float64{1, 2, 3, 4}}
	var out [][]float64
	for _, c := range []struct {
		m    *backendtest.HostMatrix
		want bool
	}{{withDup, true}, {merged, false}, {adjacentRows, false}} {
		a, err := c.m.Upload(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.(*csr).dupRows != nil; got != c.want {
			t.Errorf("%v: rows with duplicates recorded: %v, want %v", c.m, got, c.want)
		}
		if c.m == adjacentRows {
			continue
		}
		dst, _ := b.NewVector(c.m.Cols)
		b.GramDiag(dst, 1, a, nil, 0)
		x := make([]float64, c.m.Cols)
		b.Download(x, dst)
		out = append(out, x)
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	sameAsMerged(t, out[0], out[1])
}

// TestAbandonedBackendStopsWorkers checks that the worker goroutines of a
// Backend dropped without Close end once it is collected.
func TestAbandonedBackendStopsWorkers(t *testing.T) {
	// Let the goroutines of earlier tests' backends finish first.
	before := runtime.NumGoroutine()
	for range 100 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == before {
			break
		}
		before = n
	}
	func() {
		b := New(Options{Workers: 4})
		x, _ := b.NewVector(1 << 17)
		b.Fill(x, 1) // takes the parallel path
		if b.Err() != nil || runtime.NumGoroutine() < before+3 {
			t.Fatalf("err %v, %d goroutines with a 4-worker backend, %d before", b.Err(), runtime.NumGoroutine(), before)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after dropping the backend, %d before", runtime.NumGoroutine(), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// sameAsMerged fails t unless the result computed with CSR duplicates
// agrees with the one on the merged matrix to 1e-12 relative, entry by entry.
func sameAsMerged(t *testing.T, withDup, merged []float64) {
	t.Helper()
	for j := range merged {
		if d := math.Abs(withDup[j] - merged[j]); d > 1e-12*math.Abs(merged[j]) {
			t.Fatalf("column %d: %v with duplicates, %v merged", j, withDup[j], merged[j])
		}
	}
}

// specialValues are the inputs on which Map must agree with Func.Eval bit
// for bit: signed zeros, infinities, NaN, subnormals, the extremes, the 2⁵⁰⁰
// boundary of SqrtSq and its derivatives, and ordinary values.
var specialValues = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 2, -2, 3.7, -3.7, 20, -20, 40, -40, 710, -710, 745, -746,
	math.Inf(1), math.Inf(-1), math.NaN(), 5e-324, -5e-324, 1e-310, -1e-310, 2.2250738585072014e-308,
	1e-300, -1e-300, 1e-160, 1e154, 1e155, -1e155, 1e300, -1e300, math.MaxFloat64, -math.MaxFloat64,
	0x1p500, -0x1p500, math.Nextafter(0x1p500, math.Inf(1)), math.Nextafter(0x1p500, 0),
	-math.Nextafter(0x1p500, math.Inf(1)), 0x1p-537, 0x1p-538, 1e-9, 1e-17, 0.1, -0.1, 1e10, -1e10,
	709, math.Nextafter(709, 710), 709.2, 709.436, 709.5, 709.78, 709.782712893384, 709.7827128933841,
	0x1p-1022, math.Nextafter(0x1p-1022, 0), 0x1p-1023, 3e-320,
}

// TestMapLibmEdges checks Map's values where Go's math library is wrong on
// amd64 (Exp near overflow, Log of subnormals), to 1e-15.
func TestMapLibmEdges(t *testing.T) {
	b := New(Options{Workers: 1})
	defer b.Close()
	for _, c := range []struct {
		f    backend.Func
		x    float64
		want float64 // to 1e-15
	}{
		{backend.Exp, 709.5, 1.354986319314633e+308}, {backend.Exp, 709.78, 1.7928227943945155e+308},
		{backend.Exp, 709.7827128933841, math.Inf(1)}, {backend.Exp, 710, math.Inf(1)}, {backend.Exp, 709.2, 1.003798554122782e+308},
		{backend.Log, 5e-324, -744.4400719213812}, {backend.Log, 1e-310, -713.8013788281542},
		{backend.Log, 0x1p-1023, -709.0895657128241}, {backend.Log, 0x1p-1022, -708.3964185322641},
	} {
		xv, _ := b.NewVector(1)
		b.Upload(xv, []float64{c.x})
		b.Map(xv, c.f, 0, xv)
		got := make([]float64, 1)
		b.Download(got, xv)
		if !(got[0] == c.want || math.Abs(got[0]-c.want) <= 1e-15*math.Abs(c.want)) {
			t.Errorf("Map %v(%v) = %v, want %v", c.f, c.x, got[0], c.want)
		}
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestMapMatchesEval checks that Map gives Func.Eval(x, c) bit for bit for
// every function of the set, on the special values and random ones, with c
// from 0 to huge for the functions that take it, in place and not, on the
// serial and the parallel paths.
func TestMapMatchesEval(t *testing.T) {
	r := backendtest.Rand(11)
	x := append([]float64(nil), specialValues...)
	for len(x) < 3*callElems*2 {
		v := r.NormFloat64()
		switch r.IntN(4) {
		case 0:
			v *= 30
		case 1:
			v = math.Ldexp(v, r.IntN(2100)-1050)
		}
		x = append(x, v)
	}
	for _, workers := range []int{1, 2, 3} {
		b := New(Options{Workers: workers})
		for _, n := range []int{len(specialValues), len(x)} {
			xv, _ := b.NewVector(n)
			dv, _ := b.NewVector(n)
			got := make([]float64, n)
			for f := backend.Exp; f.Valid(); f++ {
				cs := []float64{0}
				if f.HasParam() {
					cs = []float64{0, 5e-324, 1e-300, 1e-8, 0.25, 1, 3, 1e20, 1e300, math.MaxFloat64}
				}
				for _, c := range cs {
					for _, inPlace := range []bool{false, true} {
						b.Upload(xv, x[:n])
						dst := dv
						if inPlace {
							dst = xv
						}
						b.Map(dst, f, c, xv)
						b.Download(got, dst)
						for i, v := range x[:n] {
							if want := f.Eval(v, c); math.Float64bits(got[i]) != math.Float64bits(want) {
								t.Fatalf("Map %v c=%v workers=%d in place %v: f(%v) = %v, Eval %v", f, c, workers, inPlace, v, got[i], want)
							}
						}
					}
				}
			}
		}
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
}

// hostMat returns the dense row-major values of a host matrix.
func hostMat(m *backendtest.HostMatrix) []float64 {
	if m.Format == backend.Dense {
		return m.Dense
	}
	a := make([]float64, m.Rows*m.Cols)
	for i := range m.Rows {
		for q := m.Indptr[i]; q < m.Indptr[i+1]; q++ {
			a[i*m.Cols+m.Indices[q]] += m.Data[q]
		}
	}
	return a
}

// closeTo reports whether got agrees with ref to 1e-12·mag: both NaN, the
// same infinity, or |got − ref| ≤ 1e-12·mag.
func closeTo(got, ref, mag float64) bool {
	switch {
	case math.IsNaN(ref) || math.IsNaN(got):
		return math.IsNaN(ref) && math.IsNaN(got)
	case math.IsInf(ref, 0) || math.IsInf(got, 0):
		return got == ref
	}
	return math.Abs(got-ref) <= 1e-12*mag
}

// checkClose fails t at the first element of got that is not closeTo ref.
func checkClose(t *testing.T, what string, got, ref, mag []float64) {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(ref))
	}
	for i := range ref {
		if !closeTo(got[i], ref[i], mag[i]) {
			t.Fatalf("%s: [%d] = %v, want %v (magnitude %.3g)", what, i, got[i], ref[i], mag[i])
		}
	}
}

// blockBackend wraps a backend with host-side helpers for the block tests.
type blockBackend struct {
	*Backend
	t *testing.T
}

func (b blockBackend) block(rows, cols int, x []float64) backend.Block {
	b.t.Helper()
	v, err := b.NewBlock(rows, cols)
	if err != nil {
		b.t.Fatal(err)
	}
	if x != nil {
		b.Upload(v, x)
	}
	return v
}

func (b blockBackend) get(v backend.Vector) []float64 {
	x := make([]float64, v.Len())
	b.Download(x, v)
	return x
}

// randBlock returns n normal values with a NaN at every seventh element
// when nan (a destination that β = 0 must overwrite).
func randBlock(r *rand.Rand, n int, nan bool) []float64 {
	x := backendtest.RandVector(r, n)
	if nan {
		for i := 0; i < n; i += 7 {
			x[i] = math.NaN()
		}
	}
	return x
}

// coefs are the (α, β) of the block product tests: plain, general with a
// NaN destination overwritten by β = 0, α = 0 (which must still multiply).
var coefs = []struct{ alpha, beta float64 }{{1, 0}, {-0.75, 0.5}, {0, 0.25}, {2.5, 0}}

// TestBlockProducts checks MulBlock, MulBlockTrans and Gemm against plain
// host loops on dense and CSR matrices of awkward shapes, with each set of
// dense kernels and several worker counts, on the serial, parallel and
// chunked paths; the results of MulBlock and Gemm, whose parts need no
// reduction, must be bit-identical for every Workers, and every result
// bit-identical on a repeat.
func TestBlockProducts(t *testing.T) {
	refs := map[string][2][]float64{}
	kernelSets(t, func(t *testing.T) { testBlockProducts(t, refs) })
}

// testBlockProducts runs TestBlockProducts on one set of kernels; refs
// caches the references and magnitudes by case.
func testBlockProducts(t *testing.T, refs map[string][2][]float64) {
	type mshape struct {
		rows, cols int
		density    float64
	}
	shapes := []mshape{{0, 5, 0}, {5, 0, 0}, {1, 1, 0}, {7, 3, 0}, {33, 257, 0}, {1003, 67, 0}, {1600, 1000, 0},
		{7, 3, 0.5}, {257, 33, 0.3}, {3001, 257, 0.06}, {1600, 1000, 0.6}}
	first := map[string][]float64{}
	for _, workers := range []int{1, 2, 3} {
		b := blockBackend{New(Options{Workers: workers}), t}
		for si, sh := range shapes {
			r := backendtest.Rand(uint64(100 + si))
			var hm *backendtest.HostMatrix
			if sh.density == 0 {
				hm = backendtest.RandDense(r, sh.rows, sh.cols)
			} else {
				hm = backendtest.RandCSR(r, sh.rows, sh.cols, sh.density)
			}
			x := hostMat(hm)
			a, err := hm.Upload(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []int{1, 3, 10} {
				w := randBlock(r, sh.cols*k, false)
				g := randBlock(r, sh.rows*k, false)
				for ci, c := range coefs {
					d0 := randBlock(r, sh.rows*k, c.beta == 0)
					dt0 := randBlock(r, sh.cols*k, c.beta == 0)
					wb, gb := b.block(sh.cols, k, w), b.block(sh.rows, k, g)
					db, dtb := b.block(sh.rows, k, d0), b.block(sh.cols, k, dt0)
					name := fmt.Sprintf("%v k=%d coef %d", hm, k, ci)
					var got, gotT []float64
					for rep := range 2 {
						b.Upload(db, d0)
						b.Upload(dtb, dt0)
						b.MulBlock(db, c.alpha, a, wb, c.beta)
						b.MulBlockTrans(dtb, c.alpha, a, gb, c.beta)
						if rep == 0 {
							got, gotT = b.get(db), b.get(dtb)
							continue
						}
						checkBits(t, "MulBlock repeat "+name, b.get(db), got)
						checkBits(t, "MulBlockTrans repeat "+name, b.get(dtb), gotT)
					}
					rm, ok := refs["MulBlock "+name]
					if !ok {
						rm = refMulBlock(x, sh.rows, sh.cols, k, c.alpha, w, c.beta, d0, false)
						refs["MulBlock "+name] = rm
					}
					checkClose(t, "MulBlock "+name, got, rm[0], rm[1])
					rm, ok = refs["MulBlockTrans "+name]
					if !ok {
						rm = refMulBlock(x, sh.rows, sh.cols, k, c.alpha, g, c.beta, dt0, true)
						refs["MulBlockTrans "+name] = rm
					}
					checkClose(t, "MulBlockTrans "+name, gotT, rm[0], rm[1])
					if w1, ok := first[name]; !ok {
						first[name] = got
					} else {
						checkBits(t, fmt.Sprintf("MulBlock workers=%d vs 1 %s", workers, name), got, w1)
					}
					for _, v := range []backend.Vector{wb, gb, db, dtb} {
						b.Free(v)
					}
				}
			}
			b.FreeMatrix(a)
		}
		testGemm(t, b, first, refs)
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
}

// refMulBlock returns α·X·W + β·D (trans false; X rows×cols, W cols×k) or
// α·Xᵀ·W + β·D (W rows×k), β = 0 ignoring D, and the magnitudes of the
// terms.
func refMulBlock(x []float64, rows, cols, k int, alpha float64, w []float64, beta float64, d []float64, trans bool) [2][]float64 {
	out := rows
	if trans {
		out = cols
	}
	sum, mag := make([]float64, out*k), make([]float64, out*k)
	for i := range rows {
		for j, xij := range x[i*cols : (i+1)*cols] {
			o, l := i, j // output row o gets x_ol·w_l
			if trans {
				o, l = j, i
			}
			so, mo, wl := sum[o*k:(o+1)*k], mag[o*k:(o+1)*k], w[l*k:(l+1)*k]
			for c, wc := range wl {
				so[c] += xij * wc
				mo[c] += math.Abs(xij * wc)
			}
		}
	}
	for q := range sum {
		sum[q], mag[q] = alpha*sum[q], math.Abs(alpha)*mag[q]
		if beta != 0 {
			sum[q] += beta * d[q]
			mag[q] += math.Abs(beta * d[q])
		}
	}
	return [2][]float64{sum, mag}
}

// refGemm returns α·op(A)·op(B) + β·C (β = 0: C ignored) by its formula,
// and the magnitude of its terms.
func refGemm(m, n, k int, alpha float64, a []float64, ta bool, bm []float64, tb bool, beta float64, c []float64) (ref, mag []float64) {
	opA := func(i, l int) float64 {
		if ta {
			return a[l*m+i]
		}
		return a[i*k+l]
	}
	opB := func(l, j int) float64 {
		if tb {
			return bm[j*k+l]
		}
		return bm[l*n+j]
	}
	ref, mag = make([]float64, m*n), make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s, sm float64
			if beta != 0 {
				s, sm = beta*c[i*n+j], math.Abs(beta*c[i*n+j])
			}
			for l := range k {
				s += alpha * opA(i, l) * opB(l, j)
				sm += math.Abs(alpha * opA(i, l) * opB(l, j))
			}
			ref[i*n+j], mag[i*n+j] = s, sm
		}
	}
	return ref, mag
}

// testGemm checks Gemm against refGemm for every transposition, on shapes
// that fit one tile of dst and shapes of many, with special values in op(B)
// (0·Inf must give NaN) and A = B (AᵀA); the results of A·op(B) must equal
// those of the first backend's (first, by name) bit for bit.
func testGemm(t *testing.T, b blockBackend, first map[string][]float64, refs map[string][2][]float64) {
	r := backendtest.Rand(5)
	for _, sh := range []struct{ m, n, k int }{{1, 1, 1}, {7, 3, 5}, {0, 3, 2}, {3, 0, 2}, {4, 5, 0},
		{200, 70, 33}, {65, 193, 20}, {300, 10, 50}, {1000, 50, 50}} {
		for _, ta := range []backend.Transpose{backend.NoTrans, backend.Trans} {
			for _, tb := range []backend.Transpose{backend.NoTrans, backend.Trans} {
				for ci, c := range coefs {
					for _, special := range []bool{false, true} {
						a := randBlock(r, sh.m*sh.k, false)
						bm := randBlock(r, sh.k*sh.n, false)
						if special && sh.k > 0 && sh.m > 1 && sh.n > 0 {
							for l := range sh.k { // a zero row of op(A) …
								if ta {
									a[l*sh.m+1] = 0
								} else {
									a[sh.k+l] = 0
								}
							}
							bm[0], bm[len(bm)/2] = math.Inf(1), math.NaN() // … times Inf and NaN
							a[0] = math.Inf(-1)
						}
						c0 := randBlock(r, sh.m*sh.n, c.beta == 0)
						ar, ac := sh.m, sh.k
						if ta {
							ar, ac = ac, ar
						}
						br, bc := sh.k, sh.n
						if tb {
							br, bc = bc, br
						}
						ab, bb, cb := b.block(ar, ac, a), b.block(br, bc, bm), b.block(sh.m, sh.n, c0)
						b.Gemm(cb, c.alpha, ab, ta, bb, tb, c.beta)
						got := b.get(cb)
						name := fmt.Sprintf("Gemm %d×%d·%d×%d %v%v coef %d special %v", sh.m, sh.k, sh.k, sh.n, ta, tb, ci, special)
						rm, ok := refs[name]
						if !ok {
							rm[0], rm[1] = refGemm(sh.m, sh.n, sh.k, c.alpha, a, bool(ta), bm, bool(tb), c.beta, c0)
							refs[name] = rm
						}
						checkClose(t, name, got, rm[0], rm[1])
						// Aᵀ·op(B) sums over the rows of A in chunks, whose number
						// depends on Workers; A·op(B) does not.
						if w1, ok := first[name]; !ok {
							first[name] = got
						} else if !ta {
							checkBits(t, name+" vs workers=1", got, w1)
						}
						b.Free(ab)
						b.Free(bb)
						b.Free(cb)
					}
				}
			}
		}
	}
	// AᵀA with A = B.
	a := randBlock(r, 300*20, false)
	ab, cb := b.block(300, 20, a), b.block(20, 20, nil)
	b.Gemm(cb, 1, ab, backend.Trans, ab, backend.NoTrans, 0)
	ref, mag := refGemm(20, 20, 300, 1, a, true, a, false, 0, nil)
	checkClose(t, "Gemm AᵀA", b.get(cb), ref, mag)
	b.Free(ab)
	b.Free(cb)
}

// scoreRows returns a rows×cols block of scores: 3·N(0,1) shifted per row
// by 0, 800, −800 or 30 (exp of a raw score overflows or underflows), and,
// when cols ≥ 3, special rows at the start: a NaN last, +Inf, only −Inf,
// −Inf beside finite values, NaN first with +Inf, and huge values (1e300,
// whose squares overflow).
func scoreRows(r *rand.Rand, rows, cols int) []float64 {
	a := make([]float64, rows*cols)
	shifts := [4]float64{0, 800, -800, 30}
	for i := range rows {
		for j := range cols {
			a[i*cols+j] = 3*r.NormFloat64() + shifts[i%4]
		}
	}
	if cols < 3 || rows < 6 {
		return a
	}
	inf, nan := math.Inf(1), math.NaN()
	row := func(i int) []float64 { return a[i*cols : (i+1)*cols] }
	row(0)[cols-1] = nan
	row(1)[cols/2] = inf
	for j := range cols {
		row(2)[j] = -inf
	}
	row(3)[0], row(3)[cols-1] = -inf, -inf
	row(4)[0], row(4)[1] = nan, inf
	for j := range cols {
		row(5)[j] = 1e300 * float64(j+1)
	}
	return a
}

// TestRowOps checks the row operations and DivElem against plain host
// loops of their formulas, special rows included, on the serial and
// parallel paths; every result but ColSums' (a reduction over chunks of
// rows) must be bit-identical for every Workers, and all of them on a
// repeat.
func TestRowOps(t *testing.T) {
	first := map[string][]float64{}
	for _, workers := range []int{1, 2, 3} {
		b := blockBackend{New(Options{Workers: workers}), t}
		results := map[string][]float64{}
		for si, sh := range []struct{ rows, cols int }{{0, 3}, {3, 0}, {1, 1}, {7, 3}, {6, 5}, {1000, 10}, {3001, 7}, {20000, 10}, {5, 3000}, {40, 2001}} {
			r := backendtest.Rand(uint64(200 + si))
			rows, cols := sh.rows, sh.cols
			a := scoreRows(r, rows, cols)
			vr, vc := randBlock(r, rows, false), randBlock(r, cols, false)
			d0r, d0c := randBlock(r, rows, true), randBlock(r, cols, true)
			name := fmt.Sprintf("%d×%d", rows, cols)
			ab, db := b.block(rows, cols, a), b.block(rows, cols, nil)
			vrb, vcb := b.block(rows, 1, vr), b.block(cols, 1, vc)
			outR, outC := b.block(rows, 1, nil), b.block(cols, 1, nil)
			record := func(op string, got []float64) {
				results[op+" "+name] = got
			}

			b.ScaleRows(db, vrb, ab)
			got := b.get(db)
			b.ScaleCols(db, ab, vcb)
			gotC := b.get(db)
			for i := range rows {
				for j := range cols {
					if w := vr[i] * a[i*cols+j]; !sameBits(got[i*cols+j], w) {
						t.Fatalf("ScaleRows %s: [%d,%d] = %v, want %v", name, i, j, got[i*cols+j], w)
					}
					if w := a[i*cols+j] * vc[j]; !sameBits(gotC[i*cols+j], w) {
						t.Fatalf("ScaleCols %s: [%d,%d] = %v, want %v", name, i, j, gotC[i*cols+j], w)
					}
				}
			}
			record("ScaleRows", got)
			record("ScaleCols", gotC)

			for _, c := range coefs {
				b.Upload(outR, d0r)
				b.RowSums(outR, c.alpha, ab, c.beta)
				b.Upload(outC, d0c)
				b.ColSums(outC, c.alpha, ab, c.beta)
				ref, mag := make([]float64, rows), make([]float64, rows)
				refC, magC := make([]float64, cols), make([]float64, cols)
				for i := range rows {
					for j := range cols {
						ref[i] += a[i*cols+j]
						mag[i] += math.Abs(a[i*cols+j])
						refC[j] += a[i*cols+j]
						magC[j] += math.Abs(a[i*cols+j])
					}
				}
				for q, d := range [][]float64{d0r, d0c} {
					rf, mg := ref, mag
					if q == 1 {
						rf, mg = refC, magC
					}
					for i := range rf {
						rf[i], mg[i] = c.alpha*rf[i], math.Abs(c.alpha)*mg[i]
						if c.beta != 0 {
							rf[i] += c.beta * d[i]
							mg[i] += math.Abs(c.beta * d[i])
						}
					}
				}
				what := fmt.Sprintf("%s α=%v β=%v", name, c.alpha, c.beta)
				got := b.get(outR)
				checkClose(t, "RowSums "+what, got, ref, mag)
				record(fmt.Sprintf("RowSums α=%v β=%v", c.alpha, c.beta), got)
				got = b.get(outC)
				checkClose(t, "ColSums "+what, got, refC, magC)
				b.Upload(outC, d0c)
				b.ColSums(outC, c.alpha, ab, c.beta)
				checkBits(t, "ColSums repeat "+what, b.get(outC), got)
			}

			for _, c := range []float64{0, 1e-3, 7} {
				b.RowNorms(outR, ab, c)
				ref := make([]float64, rows)
				for i := range rows {
					var s float64
					for _, v := range a[i*cols : (i+1)*cols] {
						s += v * v
					}
					ref[i] = math.Sqrt(c + s)
				}
				got := b.get(outR)
				checkClose(t, fmt.Sprintf("RowNorms %s c=%v", name, c), got, ref, ref)
				record(fmt.Sprintf("RowNorms c=%v", c), got)
			}

			// Softmax, LogSumExp, CrossEntropy by their formulas.
			soft, lseRef, lseMag := make([]float64, rows*cols), make([]float64, rows), make([]float64, rows)
			y := make([]int, rows)
			for i := range rows {
				row := a[i*cols : (i+1)*cols]
				m, hasNaN := math.Inf(-1), false
				for _, v := range row {
					hasNaN = hasNaN || math.IsNaN(v)
					if v > m {
						m = v
					}
				}
				if hasNaN {
					m = math.NaN()
				}
				var s float64
				for _, v := range row {
					s += math.Exp(v - m)
				}
				for j, v := range row {
					soft[i*cols+j] = math.Exp(v-m) / s
				}
				switch {
				case math.IsNaN(m), math.IsInf(m, 0):
					lseRef[i], lseMag[i] = m, 0
				default:
					lseRef[i] = m + math.Log(s)
					lseMag[i] = math.Abs(m) + math.Abs(math.Log(s))
				}
				if cols > 0 {
					y[i] = r.IntN(cols)
				}
			}
			ones := make([]float64, rows*cols)
			for i := range ones {
				ones[i] = 1
			}
			b.Softmax(db, ab)
			got = b.get(db)
			checkClose(t, "Softmax "+name, got, soft, ones)
			record("Softmax", got)
			b.Upload(db, a)
			b.Softmax(db, db)
			checkBits(t, "Softmax in place "+name, b.get(db), got)
			b.LogSumExp(outR, ab)
			got = b.get(outR)
			checkClose(t, "LogSumExp "+name, got, lseRef, lseMag)
			record("LogSumExp", got)
			if cols == 0 {
				for i, v := range got {
					if !math.IsInf(v, -1) {
						t.Fatalf("LogSumExp of an empty row %d = %v, want -Inf", i, v)
					}
				}
			}

			if cols > 0 {
				lab, err := b.NewLabels(cols, y)
				if err != nil {
					t.Fatal(err)
				}
				lossRef, lossMag, gradRef := make([]float64, rows), make([]float64, rows), append([]float64(nil), soft...)
				for i := range rows {
					ay := a[i*cols+y[i]]
					lossRef[i], lossMag[i] = lseRef[i]-ay, lseMag[i]+math.Abs(ay)
					gradRef[i*cols+y[i]]--
				}
				b.CrossEntropy(db, outR, ab, lab)
				grad, loss := b.get(db), b.get(outR)
				checkClose(t, "CrossEntropy grad "+name, grad, gradRef, ones)
				checkClose(t, "CrossEntropy loss "+name, loss, lossRef, lossMag)
				checkBits(t, "CrossEntropy loss vs LogSumExp − a_y "+name, loss, func() []float64 {
					l := append([]float64(nil), results["LogSumExp "+name]...)
					for i := range l {
						l[i] -= a[i*cols+y[i]]
					}
					return l
				}())
				record("CrossEntropy grad", grad)
				record("CrossEntropy loss", loss)
				b.Fill(outR, 0)
				b.CrossEntropy(nil, outR, ab, lab)
				checkBits(t, "CrossEntropy loss only "+name, b.get(outR), loss)
				b.Upload(db, a)
				b.CrossEntropy(db, nil, db, lab)
				checkBits(t, "CrossEntropy grad only, in place "+name, b.get(db), grad)
				b.Free(lab)
			}

			// DivElem on the scores and a shifted copy (zeros, infinities, NaN).
			n := rows * cols
			yv := append([]float64(nil), a...)
			for i := range yv {
				if i%5 == 0 {
					yv[i] = 0
				} else {
					yv[i] = -yv[(i*7)%n]
				}
			}
			yb := b.block(rows, cols, yv)
			d0 := randBlock(r, n, true)
			for _, c := range coefs {
				b.Upload(db, d0)
				b.DivElem(db, c.alpha, ab, yb, c.beta)
				got := b.get(db)
				for i := range n {
					w := c.alpha * (a[i] / yv[i])
					if c.beta != 0 {
						w += c.beta * d0[i]
					}
					if !sameBits(got[i], w) {
						t.Fatalf("DivElem %s α=%v β=%v: [%d] = %v, want %v", name, c.alpha, c.beta, i, got[i], w)
					}
				}
			}
			for _, v := range []backend.Vector{ab, db, vrb, vcb, outR, outC, yb} {
				b.Free(v)
			}
		}
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		for op, got := range results {
			if w1, ok := first[op]; !ok {
				first[op] = got
			} else {
				checkBits(t, fmt.Sprintf("%s workers=%d vs 1", op, workers), got, w1)
			}
		}
		b.Close()
	}
}

// softmaxCase is a problem of TestSoftmaxGrad: X as a host matrix and on
// the backend, W, V and labels for k classes, weights d, P (rows×k).
type softmaxCase struct {
	hm      *backendtest.HostMatrix
	a       backend.Matrix
	k       int
	w, v    []float64 // cols×k
	y       []int
	d       []float64 // len rows
	special bool      // X holds a NaN in row 1 and a huge row 3
}

// TestSoftmaxGrad checks SoftmaxGrad and SoftmaxHessBlock against the
// compositions of the core operations on the same backend, dense and CSR,
// with each set of dense kernels, Workers 1 and 2 (a dense X cut into more
// chunks than workers among them), with and without d, prob and loss, for
// every (α, β) of coefs, with a NaN row of Z and rows whose exponentials
// overflow:
//
//	SoftmaxGrad:      MulBlock → CrossEntropy → ScaleRows(d) → MulBlockTrans, P by Softmax
//	SoftmaxHessBlock: MulBlock(V) → MulElem → RowSums → ScaleRows → Axpy → ScaleRows(d) → MulBlockTrans
//
// prob and loss must be bit-identical to Softmax's and CrossEntropy's, and
// SoftmaxGrad's dst to MulBlockTrans' wherever the two cut the rows into
// the same chunks (always, except the portable kernels on a dense X),
// else agree to 1e-12 of the terms' magnitude; SoftmaxHessBlock (whose
// p_iᵀu_i is summed in column order, RowSums' in sum4's) to 1e-12 of the
// terms' magnitude. Every result is bit-identical on a repeat.
func TestSoftmaxGrad(t *testing.T) {
	kernelSets(t, testSoftmaxGrad)
}

func testSoftmaxGrad(t *testing.T) {
	type mshape struct {
		rows, cols int
		density    float64
	}
	shapes := []mshape{{0, 5, 0}, {5, 0, 0}, {1, 1, 0}, {7, 3, 0}, {9, 6, 0}, {33, 257, 0}, {1003, 67, 0}, {1600, 1000, 0},
		{7, 3, 0.5}, {257, 33, 0.3}, {3001, 257, 0.06}, {1600, 1000, 0.2}}
	chunked := false
	for _, workers := range []int{1, 2} {
		b := blockBackend{New(Options{Workers: workers}), t}
		for si, sh := range shapes {
			for _, k := range []int{1, 3, 10} {
				for _, special := range []bool{false, true} {
					if special && (sh.rows < 6 || sh.cols < 1 || k == 1) {
						continue
					}
					c := newSoftmaxCase(t, b, uint64(300+si), sh.rows, sh.cols, sh.density, k, special)
					m, _ := b.mat("test", c.a)
					if _, nk := b.eng.softmaxChunks(&m, k); nk > workers {
						chunked = true
					}
					for _, withD := range []bool{false, true} {
						name := fmt.Sprintf("%v k=%d special=%v d=%v workers=%d", c.hm, k, special, withD, workers)
						testSoftmaxCase(t, b, c, withD, name)
					}
					b.FreeMatrix(c.a)
				}
			}
		}
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	if !chunked {
		t.Error("no case is cut into more chunks than workers")
	}
}

// newSoftmaxCase builds a problem of TestSoftmaxGrad on b: X normal (with
// special, a NaN at (1, 0) and row 3 scaled by 1e3, so that its scores'
// exponentials overflow), W and V of scale 3/√cols, d normal with a zero.
func newSoftmaxCase(t *testing.T, b blockBackend, seed uint64, rows, cols int, density float64, k int, special bool) *softmaxCase {
	r := backendtest.Rand(seed)
	c := &softmaxCase{k: k, special: special}
	if density == 0 {
		c.hm = backendtest.RandDense(r, rows, cols)
	} else {
		c.hm = backendtest.RandCSR(r, rows, cols, density)
	}
	if special {
		vals := c.hm.Dense
		lo1, hi1, lo3, hi3 := 1*cols, 2*cols, 3*cols, 4*cols
		if c.hm.Format == backend.CSR {
			vals = c.hm.Data
			lo1, hi1, lo3, hi3 = c.hm.Indptr[1], c.hm.Indptr[2], c.hm.Indptr[3], c.hm.Indptr[4]
		}
		if hi1 > lo1 {
			vals[lo1] = math.NaN()
		}
		for q := lo3; q < hi3; q++ {
			vals[q] *= 1e3
		}
	}
	var err error
	if c.a, err = c.hm.Upload(b); err != nil {
		t.Fatal(err)
	}
	s := 3 / math.Sqrt(float64(max(cols, 1)))
	c.w, c.v = randBlock(r, cols*k, false), randBlock(r, cols*k, false)
	for i := range c.w {
		c.w[i] *= s
		c.v[i] *= s
	}
	c.y = make([]int, rows)
	for i := range c.y {
		c.y[i] = r.IntN(k)
	}
	c.d = randBlock(r, rows, false)
	if rows > 2 {
		c.d[2] = 0
	}
	return c
}

// testSoftmaxCase runs one case of TestSoftmaxGrad for every (α, β) of
// coefs.
func testSoftmaxCase(t *testing.T, b blockBackend, c *softmaxCase, withD bool, name string) {
	rows, cols, k := c.hm.Rows, c.hm.Cols, c.k
	wb, vb := b.block(cols, k, c.w), b.block(cols, k, c.v)
	lab, err := b.NewLabels(k, c.y)
	if err != nil {
		t.Fatal(err)
	}
	var db backend.Vector
	if withD {
		db = b.block(rows, 1, c.d)
	}
	z, g, pc, lc := b.block(rows, k, nil), b.block(rows, k, nil), b.block(rows, k, nil), b.block(rows, 1, nil)

	// The compositions' row blocks: G (ScaleRows(d) of CrossEntropy's grad)
	// and R for SoftmaxHessBlock at P = softmax(X·W).
	b.MulBlock(z, 1, c.a, wb, 0)
	b.Softmax(pc, z)
	b.CrossEntropy(g, lc, z, lab)
	if withD {
		b.ScaleRows(g, db, g)
	}
	u, pu, cs, tb := b.block(rows, k, nil), b.block(rows, k, nil), b.block(rows, 1, nil), b.block(rows, k, nil)
	b.MulBlock(u, 1, c.a, vb, 0)
	b.MulElem(pu, 1, pc, u, 0)
	b.RowSums(cs, 1, pu, 0)
	b.ScaleRows(tb, cs, pc)
	b.Axpy(-1, tb, pu)
	if withD {
		b.ScaleRows(pu, db, pu)
	}
	wantP, wantL, gh, uh := b.get(pc), b.get(lc), b.get(g), b.get(u)
	// The magnitudes of r_ij's terms: |d_i|·(|p_ij·u_ij| + |p_ij|·Σ_l |p_il·u_il|).
	rmag := make([]float64, rows*k)
	for i := range rows {
		var s float64
		for l := range k {
			s += math.Abs(wantP[i*k+l] * uh[i*k+l])
		}
		di := 1.0
		if withD {
			di = math.Abs(c.d[i])
		}
		for j := range k {
			rmag[i*k+j] = di * (math.Abs(wantP[i*k+j]*uh[i*k+j]) + math.Abs(wantP[i*k+j])*s)
		}
	}
	magR := transMag(c.hm, k, rmag)

	// Do the fused and the composed operation cut the rows alike?
	m, _ := b.mat("test", c.a)
	_, nk := b.eng.softmaxChunks(&m, k)
	fused := append([]int(nil), b.eng.bounds[:nk+1]...)
	np := b.eng.transParts(&m, max(k, 1))
	nkT := b.eng.splitChunks(&m, np, m.cols)
	sameChunks := fmt.Sprint(fused) == fmt.Sprint(b.eng.bounds[:nkT+1])
	if !sameChunks && (m.indptr != nil || useFMA) {
		t.Fatalf("%s: chunks %v, MulBlockTrans' %v", name, fused, b.eng.bounds[:nkT+1])
	}
	var magG []float64
	if !sameChunks {
		magG = transMag(c.hm, k, gh)
	}

	r := backendtest.Rand(uint64(rows*cols + k))
	dstC, dst := b.block(cols, k, nil), b.block(cols, k, nil)
	pb, lb := b.block(rows, k, nil), b.block(rows, 1, nil)
	for ci, coef := range coefs {
		alpha, beta := coef.alpha, coef.beta
		what := fmt.Sprintf("%s coef %d", name, ci)
		d0 := randBlock(r, cols*k, beta == 0)
		b.Upload(dstC, d0)
		b.MulBlockTrans(dstC, alpha, c.a, g, beta)
		wantDst := b.get(dstC)
		b.Upload(dstC, d0)
		b.MulBlockTrans(dstC, alpha, c.a, pu, beta)
		wantH := b.get(dstC)

		// SoftmaxGrad with and without prob and loss, and a repeat (for the
		// first coefficients; prob and loss do not depend on them).
		type outputs struct{ prob, loss bool }
		variants, reps := []outputs{{true, true}, {false, false}, {true, false}, {false, true}, {true, true}}, 2
		if ci > 0 {
			variants, reps = variants[:1], 1
		}
		var first []float64
		for _, outs := range variants {
			b.Upload(dst, d0)
			b.Fill(pb, 7)
			b.Fill(lb, 7)
			var pArg backend.Block
			var lArg backend.Vector
			if outs.prob {
				pArg = pb
			}
			if outs.loss {
				lArg = lb
			}
			b.SoftmaxGrad(dst, alpha, c.a, wb, lab, db, beta, pArg, lArg)
			got := b.get(dst)
			if first == nil {
				first = got
				if sameChunks {
					checkBits(t, "SoftmaxGrad dst vs composition "+what, got, wantDst)
				} else {
					checkClose(t, "SoftmaxGrad dst vs composition "+what, got, wantDst, scaleMag(magG, alpha, beta, d0))
				}
			} else {
				checkBits(t, fmt.Sprintf("SoftmaxGrad dst repeat %+v %s", outs, what), got, first)
			}
			if outs.prob {
				checkBits(t, "SoftmaxGrad prob vs Softmax "+what, b.get(pb), wantP)
			} else if p := b.get(pb); len(p) > 0 && p[0] != 7 {
				t.Fatalf("%s: prob written when nil", what)
			}
			if outs.loss {
				checkBits(t, "SoftmaxGrad loss vs CrossEntropy "+what, b.get(lb), wantL)
			} else if l := b.get(lb); len(l) > 0 && l[0] != 7 {
				t.Fatalf("%s: loss written when nil", what)
			}
		}

		// SoftmaxHessBlock at P, and a repeat.
		for rep := range reps {
			b.Upload(dst, d0)
			b.SoftmaxHessBlock(dst, alpha, c.a, pc, db, vb, beta)
			got := b.get(dst)
			if rep == 0 {
				checkClose(t, "SoftmaxHessBlock vs composition "+what, got, wantH, scaleMag(magR, alpha, beta, d0))
				first = got
				continue
			}
			checkBits(t, "SoftmaxHessBlock repeat "+what, got, first)
		}
	}
	// A NaN in row 1 of X makes row 1 of Z, P and the loss NaN (and so
	// every column of dst that the row has an entry in).
	if c.special && cols > 0 && (c.hm.Format == backend.Dense || c.hm.Indptr[2] > c.hm.Indptr[1]) {
		if !math.IsNaN(wantL[1]) || !math.IsNaN(wantP[k]) || !math.IsNaN(b.get(lb)[1]) {
			t.Fatalf("%s: row 1 has a NaN: loss %v, p %v", name, wantL[1], wantP[k:2*k])
		}
	}
	if err := b.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, v := range []backend.Vector{wb, vb, z, g, pc, lc, u, pu, cs, tb, dstC, dst, pb, lb} {
		b.Free(v)
	}
	if db != nil {
		b.Free(db)
	}
	b.Free(lab)
}

// transMag returns the magnitudes of the terms of Xᵀ·G: Σ_i |x_ij·g_ic|
// (X rows×cols, G rows×k), over the stored entries of a CSR X.
func transMag(x *backendtest.HostMatrix, k int, g []float64) []float64 {
	mag := make([]float64, x.Cols*k)
	add := func(i, j int, xij float64) {
		for c := range k {
			mag[j*k+c] += math.Abs(xij * g[i*k+c])
		}
	}
	for i := range x.Rows {
		if x.Format == backend.CSR {
			for q := x.Indptr[i]; q < x.Indptr[i+1]; q++ {
				add(i, x.Indices[q], x.Data[q])
			}
			continue
		}
		for j, xij := range x.Dense[i*x.Cols : (i+1)*x.Cols] {
			add(i, j, xij)
		}
	}
	return mag
}

// scaleMag returns the magnitudes of the terms of α·Xᵀ·G + β·D (β = 0: D
// ignored) from mag, those of Xᵀ·G; a NaN magnitude is infinite.
func scaleMag(mag []float64, alpha, beta float64, d []float64) []float64 {
	out := make([]float64, len(mag))
	for q, v := range mag {
		out[q] = math.Abs(alpha) * v
		if beta != 0 {
			out[q] += math.Abs(beta * d[q])
		}
		if math.IsNaN(out[q]) {
			out[q] = math.Inf(1)
		}
	}
	return out
}

// TestSoftmaxGradDerivatives checks, by central differences, that
// SoftmaxGrad's dst is the gradient of L(W) = Σ_i d_i·CE_i (its loss output,
// weighted) and that SoftmaxHessBlock is the derivative of that gradient
// along V, dense and CSR, with each set of dense kernels and Workers 1, 2.
func TestSoftmaxGradDerivatives(t *testing.T) {
	kernelSets(t, testSoftmaxGradDerivatives)
}

func testSoftmaxGradDerivatives(t *testing.T) {
	const rows, cols, k, h = 60, 9, 4, 1e-5
	for _, workers := range []int{1, 2} {
		b := blockBackend{New(Options{Workers: workers}), t}
		for _, density := range []float64{0, 0.5} {
			c := newSoftmaxCase(t, b, 11, rows, cols, density, k, false)
			for i := range c.d {
				c.d[i] = math.Abs(c.d[i])
			}
			lab, err := b.NewLabels(k, c.y)
			if err != nil {
				t.Fatal(err)
			}
			db, wb, vb := b.block(rows, 1, c.d), b.block(cols, k, nil), b.block(cols, k, c.v)
			dst, pb, lb := b.block(cols, k, nil), b.block(rows, k, nil), b.block(rows, 1, nil)
			// grad returns L and ∇L at W + s·dir, with P there in pb.
			grad := func(s float64, dir []float64) (float64, []float64) {
				w := append([]float64(nil), c.w...)
				for q := range w {
					w[q] += s * dir[q]
				}
				b.Upload(wb, w)
				b.SoftmaxGrad(dst, 1, c.a, wb, lab, db, 0, pb, lb)
				var loss float64
				for i, l := range b.get(lb) {
					loss += c.d[i] * l
				}
				return loss, b.get(dst)
			}
			_, g0 := grad(0, c.v)
			b.SoftmaxHessBlock(dst, 1, c.a, pb, db, vb, 0)
			hv := b.get(dst)
			name := fmt.Sprintf("%v workers=%d", c.hm, workers)
			gmax, hmax := 0.0, 0.0
			for q := range g0 {
				gmax, hmax = max(gmax, math.Abs(g0[q])), max(hmax, math.Abs(hv[q]))
			}
			// ∂L/∂W_q along each coordinate q of W …
			for q := range g0 {
				e := make([]float64, len(g0))
				e[q] = 1
				lp, _ := grad(h, e)
				lm, _ := grad(-h, e)
				if fd := (lp - lm) / (2 * h); math.Abs(fd-g0[q]) > 1e-6*gmax {
					t.Errorf("%s: dL/dW[%d] = %v by differences, SoftmaxGrad %v", name, q, fd, g0[q])
				}
			}
			// … and the derivative of ∇L along V.
			_, gp := grad(h, c.v)
			_, gm := grad(-h, c.v)
			for q := range hv {
				if fd := (gp[q] - gm[q]) / (2 * h); math.Abs(fd-hv[q]) > 1e-6*hmax {
					t.Errorf("%s: (H·V)[%d] = %v by differences, SoftmaxHessBlock %v", name, q, fd, hv[q])
				}
			}
			if gmax == 0 || hmax == 0 {
				t.Errorf("%s: zero gradient or Hessian product", name)
			}
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			for _, v := range []backend.Vector{db, wb, vb, dst, pb, lb} {
				b.Free(v)
			}
			b.Free(lab)
			b.FreeMatrix(c.a)
		}
		b.Close()
	}
}
