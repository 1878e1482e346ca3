package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// Benchmarks report bandwidth (MB/s) as the bytes of the operands one call
// reads: the whole matrix for the products (backend.Matrix.Bytes), the
// vectors read and written for BLAS-1. Compare workers=1 with workers=2 for
// the parallel speed-up, and MB/s with the machine's memory bandwidth.
//
//	go test -run '^$' -bench . -benchtime 20x ./backend/cpu

const (
	benchRows, benchCols = 20000, 2000               // dense: 320 MB
	csrRows, csrCols     = 100000, 20000             // CSR
	csrDensity           = 0.005                     // ≈100 entries a row, 10M in all
	benchLen             = benchRows * benchCols / 8 // vectors of 5M: 40 MB each
)

var benchWorkers = []int{1, 2}

var (
	benchHostOnce sync.Once
	benchDense    *backendtest.HostMatrix
	benchCSR      *backendtest.HostMatrix
	benchMerged   *backendtest.HostMatrix // benchCSR with its duplicates merged

	benchMu       sync.Mutex
	benchFixtures = map[int]*benchFixture{}
)

// benchFixture holds the benchmark operands on a backend of some Workers.
type benchFixture struct {
	b    *Backend
	x, y backend.Vector            // len benchLen
	ops  map[string]*benchOperands // by matrix format

}

// benchOperands are a matrix and the vectors of its products: w and dst of
// length cols, r, labels and curv of length rows.
type benchOperands struct {
	a                       backend.Matrix
	w, dst, r, labels, curv backend.Vector
}

// fixture returns the operands for workers, building them (outside any timed
// region) on first use.
func fixture(tb testing.TB, workers int) *benchFixture {
	benchHostOnce.Do(func() {
		r := backendtest.Rand(1)
		benchDense = backendtest.RandDense(r, benchRows, benchCols)
		benchCSR = backendtest.RandCSR(r, csrRows, csrCols, csrDensity)
	})
	benchMu.Lock()
	defer benchMu.Unlock()
	if f := benchFixtures[workers]; f != nil {
		return f
	}
	b := New(Options{Workers: workers})
	f := &benchFixture{b: b, ops: map[string]*benchOperands{}}
	r := backendtest.Rand(2)
	vec := func(x []float64) backend.Vector {
		v, err := b.NewVector(len(x))
		if err != nil {
			tb.Fatal(err)
		}
		b.Upload(v, x)
		return v
	}
	f.x, f.y = vec(backendtest.RandVector(r, benchLen)), vec(backendtest.RandVector(r, benchLen))
	for _, name := range []string{"dense", "csr"} {
		f.add(tb, name, r)
	}
	benchFixtures[workers] = f
	return f
}

// operands returns the operands of the named matrix, uploading them on
// first use ("csr-merged" only then, so that other benchmarks do not pay for it).
func (f *benchFixture) operands(tb testing.TB, name string) *benchOperands {
	benchMu.Lock()
	defer benchMu.Unlock()
	if o := f.ops[name]; o != nil {
		return o
	}
	f.add(tb, name, backendtest.Rand(3))
	return f.ops[name]
}

// add uploads the named matrix and the vectors of its products.
func (f *benchFixture) add(tb testing.TB, name string, r *rand.Rand) {
	b := f.b
	vec := func(x []float64) backend.Vector {
		v, err := b.NewVector(len(x))
		if err != nil {
			tb.Fatal(err)
		}
		b.Upload(v, x)
		return v
	}
	var m *backendtest.HostMatrix
	switch name {
	case "dense":
		m = benchDense
	case "csr":
		m = benchCSR
	case "csr-merged":
		if benchMerged == nil {
			benchMerged = benchCSR.Merged()
		}
		m = benchMerged
	default:
		tb.Fatalf("no benchmark matrix %q", name)
	}
	a, err := m.Upload(b)
	if err != nil {
		tb.Fatal(err)
	}
	w := backendtest.RandVector(r, m.Cols)
	for i := range w {
		w[i] /= math.Sqrt(float64(m.Cols))
	}
	f.ops[name] = &benchOperands{a: a, w: vec(w), dst: vec(make([]float64, m.Cols)),
		r: vec(backendtest.RandVector(r, m.Rows)), labels: vec(backendtest.RandLabels(r, m.Rows)),
		curv: vec(make([]float64, m.Rows))}
	if err := b.Err(); err != nil {
		tb.Fatal(err)
	}
}

// benchVec runs op on the vector fixture for each worker count.
func benchVec(b *testing.B, bytes int64, op func(f *benchFixture)) {
	for _, w := range benchWorkers {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			f := fixture(b, w)
			op(f) // warm up
			b.SetBytes(bytes)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				op(f)
			}
			b.StopTimer()
			if err := f.b.Err(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// benchMat runs op on each matrix format for each worker count.
func benchMat(b *testing.B, op func(be *Backend, o *benchOperands)) {
	benchMatFormats(b, []string{"dense", "csr"}, op)
}

// benchMatFormats runs op on the named operands ("dense", "csr",
// "csr-merged") for each worker count.
func benchMatFormats(b *testing.B, formats []string, op func(be *Backend, o *benchOperands)) {
	for _, format := range formats {
		for _, w := range benchWorkers {
			b.Run(fmt.Sprintf("%s/workers=%d", format, w), func(b *testing.B) {
				f := fixture(b, w)
				o := f.operands(b, format)
				op(f.b, o) // warm up: grows the accumulators
				b.SetBytes(o.a.Bytes())
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					op(f.b, o)
				}
				b.StopTimer()
				if err := f.b.Err(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

func BenchmarkDot(b *testing.B) {
	benchVec(b, 2*8*benchLen, func(f *benchFixture) { f.b.Dot(f.x, f.y) })
}

func BenchmarkNrm2(b *testing.B) {
	benchVec(b, 8*benchLen, func(f *benchFixture) { f.b.Nrm2(f.x) })
}

func BenchmarkAxpy(b *testing.B) {
	// Reads x and y, writes y. α = ±1e-3 alternating keeps y bounded.
	alpha := 1e-3
	benchVec(b, 3*8*benchLen, func(f *benchFixture) { alpha = -alpha; f.b.Axpy(alpha, f.x, f.y) })
}

func BenchmarkMulVec(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) { be.MulVec(o.curv, 1, o.a, o.w, 0) })
}

func BenchmarkMulVecTrans(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) { be.MulVecTrans(o.dst, 1, o.a, o.r, 0) })
}

func BenchmarkGramVec(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) { be.GramVec(o.dst, 1, o.a, nil, o.w, 0) })
}

// BenchmarkGramDiag is the Jacobi preconditioner diag(Xᵀ diag(d) X), d = r.
// The CSR matrix has duplicate entries in some rows (backendtest.RandCSR),
// so it takes the path that sums them first; csr-merged is the same matrix
// with them merged, which squares each stored entry as it comes.
func BenchmarkGramDiag(b *testing.B) {
	benchMatFormats(b, []string{"dense", "csr", "csr-merged"}, func(be *Backend, o *benchOperands) { be.GramDiag(o.dst, 1, o.a, o.r, 0) })
}

func BenchmarkGLMGradLogistic(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) {
		be.GLMGrad(o.dst, 1, o.a, o.w, o.labels, backend.Logistic, 0, o.curv)
	})
}

func BenchmarkGLMGradNoLoss(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) {
		be.GLMGradNoLoss(o.dst, 1, o.a, o.w, o.labels, backend.Logistic, 0, o.curv)
	})
}
