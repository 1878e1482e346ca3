package cpu

import (
	"errors"
	"fmt"
	"math"
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
}

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
		{"Fill", func() { b.Fill(f.z, 0.5) }},
		{"Scal", func() { b.Scal(1.0000001, f.z) }},
		{"Axpy", func() { b.Axpy(0.5, f.x, f.z) }},
		{"Axpby", func() { b.Axpby(0.5, f.x, 0.25, f.z) }},
		{"MulElem", func() { b.MulElem(f.z, 0.5, f.x, f.y, 0.5) }},
		{"Dot", func() { b.Dot(f.x, f.y) }},
		{"Nrm2", func() { b.Nrm2(f.x) }},
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
			for _, op := range f.ops() {
				op.do() // warm up: scratch space is grown here
				if allocs := testing.AllocsPerRun(20, op.do); allocs != 0 {
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
	}
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
