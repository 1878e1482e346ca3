package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"

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

// BenchmarkFusedRatio times the fused dense passes against MulVec on the
// same matrix and backend, interleaved call by call (MulVec, GramVec,
// GLMGradNoLoss, repeated), so that the drift of a shared machine's memory
// bandwidth reaches all three alike; it reports the ratios of their median
// times. A fused pass reads X once, as MulVec does, and rereads each block of
// rows from cache (see fusedFMA): 1 is the bandwidth bound.
//
//	go test -run '^$' -bench FusedRatio -benchtime 40x ./backend/cpu
func BenchmarkFusedRatio(b *testing.B) {
	for _, w := range benchWorkers {
		b.Run(fmt.Sprintf("dense/workers=%d", w), func(b *testing.B) {
			f := fixture(b, w)
			o := f.operands(b, "dense")
			be := f.b
			ops := []func(){
				func() { be.MulVec(o.curv, 1, o.a, o.w, 0) },
				func() { be.GramVec(o.dst, 1, o.a, nil, o.w, 0) },
				func() { be.GLMGradNoLoss(o.dst, 1, o.a, o.w, o.labels, backend.Logistic, 0, o.curv) },
			}
			for _, op := range ops {
				op() // warm up: grows the accumulators
			}
			ts := make([][]float64, len(ops))
			b.ResetTimer()
			for b.Loop() {
				for i, op := range ops {
					t0 := time.Now()
					op()
					ts[i] = append(ts[i], time.Since(t0).Seconds())
				}
			}
			b.StopTimer()
			if err := be.Err(); err != nil {
				b.Fatal(err)
			}
			mv := median(ts[0])
			b.ReportMetric(median(ts[1])/mv, "gram/mulvec")
			b.ReportMetric(median(ts[2])/mv, "glmgrad/mulvec")
			b.ReportMetric(float64(o.a.Bytes())/mv/1e6, "mulvec-MB/s")
		})
	}
}

// median returns the median of x (sorted in place).
func median(x []float64) float64 {
	slices.Sort(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
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

// Block operations: the products of multinomial logistic regression with
// blockK classes on the dense benchmark matrix (20000×2000) and on a CSR
// matrix of the same shape at 1 % density, GEMM, and the row operations on
// 20000×blockK scores.
const (
	blockK       = 10
	blockDensity = 0.01
)

var (
	blockHostOnce sync.Once
	blockCSR      *backendtest.HostMatrix // benchRows×benchCols at blockDensity
	blockW        []float64               // benchCols×blockK
	blockG        []float64               // benchRows×blockK

	blockFixtures = map[int]*blockFixture{}
)

// blockFixture holds the operands of the block benchmarks on the backend of
// fixture(workers).
type blockFixture struct {
	b                 *Backend
	dense, csr        backend.Matrix
	w, g, dst, dstT   backend.Block    // W cols×k, G rows×k, dst rows×k, dstT cols×k
	wCol, gCol        []backend.Vector // the columns of W and G
	dstCol, dstTCol   []backend.Vector // columns of results for the k separate products
	xBlk              backend.Block    // the dense matrix as a block (Gemm)
	a, bb, c          backend.Block    // Gemm 1000×50·50×50
	scores, grad, out backend.Block    // rows×k, rows×k, rows×1
	classes           backend.Labels
	prob, tmp         backend.Block // rows×k: SoftmaxGrad's P (of the dense matrix at W), scratch
}

// blockFix returns the block operands for workers, building them (outside
// any timed region) on first use.
func blockFix(tb testing.TB, workers int) *blockFixture {
	f := fixture(tb, workers)
	blockHostOnce.Do(func() {
		r := backendtest.Rand(4)
		blockCSR = backendtest.RandCSR(r, benchRows, benchCols, blockDensity)
		blockW = backendtest.RandVector(r, benchCols*blockK)
		for i := range blockW {
			blockW[i] /= math.Sqrt(benchCols)
		}
		blockG = backendtest.RandVector(r, benchRows*blockK)
	})
	benchMu.Lock()
	defer benchMu.Unlock()
	if bf := blockFixtures[workers]; bf != nil {
		return bf
	}
	b := f.b
	block := func(rows, cols int, x []float64) backend.Block {
		v, err := b.NewBlock(rows, cols)
		if err != nil {
			tb.Fatal(err)
		}
		if x != nil {
			b.Upload(v, x)
		}
		return v
	}
	column := func(x []float64, rows, c int) []float64 {
		col := make([]float64, rows)
		for i := range col {
			col[i] = x[i*blockK+c]
		}
		return col
	}
	r := backendtest.Rand(5)
	bf := &blockFixture{b: b, dense: f.ops["dense"].a}
	var err error
	if bf.csr, err = blockCSR.Upload(b); err != nil {
		tb.Fatal(err)
	}
	bf.w, bf.g = block(benchCols, blockK, blockW), block(benchRows, blockK, blockG)
	bf.dst, bf.dstT = block(benchRows, blockK, nil), block(benchCols, blockK, nil)
	for c := range blockK {
		bf.wCol = append(bf.wCol, block(benchCols, 1, column(blockW, benchCols, c)))
		bf.gCol = append(bf.gCol, block(benchRows, 1, column(blockG, benchRows, c)))
		bf.dstCol = append(bf.dstCol, block(benchRows, 1, nil))
		bf.dstTCol = append(bf.dstTCol, block(benchCols, 1, nil))
	}
	bf.xBlk = block(benchRows, benchCols, benchDense.Dense)
	bf.a, bf.bb = block(1000, 50, backendtest.RandVector(r, 1000*50)), block(50, 50, backendtest.RandVector(r, 50*50))
	bf.c = block(1000, 50, nil)
	sc := backendtest.RandVector(r, benchRows*blockK)
	for i := range sc {
		sc[i] *= 3
	}
	bf.scores, bf.grad, bf.out = block(benchRows, blockK, sc), block(benchRows, blockK, nil), block(benchRows, 1, nil)
	y := make([]int, benchRows)
	for i := range y {
		y[i] = r.IntN(blockK)
	}
	if bf.classes, err = b.NewLabels(blockK, y); err != nil {
		tb.Fatal(err)
	}
	bf.prob, bf.tmp = block(benchRows, blockK, nil), block(benchRows, blockK, nil)
	b.SoftmaxGrad(bf.dstT, 1, bf.dense, bf.w, bf.classes, nil, 0, bf.prob, nil)
	if err := b.Err(); err != nil {
		tb.Fatal(err)
	}
	blockFixtures[workers] = bf
	return bf
}

// benchBlock runs op, on the block fixture, for each worker count, with
// bytes read per call.
func benchBlock(b *testing.B, bytes func(f *blockFixture) int64, op func(f *blockFixture)) {
	for _, w := range benchWorkers {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			f := blockFix(b, w)
			op(f) // warm up: grows the scratch space
			b.SetBytes(bytes(f))
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

// matBytes is the bytes of one pass over the named matrix of the fixture:
// the block operation and the k separate products report the same bytes,
// so that their MB/s compare as their times do.
func matBytes(name string) func(f *blockFixture) int64 {
	return func(f *blockFixture) int64 {
		if name == "csr" {
			return f.csr.Bytes()
		}
		return f.dense.Bytes()
	}
}

// BenchmarkMulBlock compares MulBlock (one pass over X for the k columns of
// W) with k separate MulVec calls (k passes), and on the dense matrix with
// gonum's Dgemm on the same host data (its own goroutines, GOMAXPROCS).
func BenchmarkMulBlock(b *testing.B) {
	for _, name := range []string{"dense", "csr"} {
		mat := func(f *blockFixture) backend.Matrix {
			if name == "csr" {
				return f.csr
			}
			return f.dense
		}
		b.Run(name+"/block", func(b *testing.B) {
			benchBlock(b, matBytes(name), func(f *blockFixture) { f.b.MulBlock(f.dst, 1, mat(f), f.w, 0) })
		})
		b.Run(name+"/mulvec", func(b *testing.B) {
			benchBlock(b, matBytes(name), func(f *blockFixture) {
				for c := range blockK {
					f.b.MulVec(f.dstCol[c], 1, mat(f), f.wCol[c], 0)
				}
			})
		})
	}
	b.Run("dense/gonum", func(b *testing.B) {
		blockFix(b, 1)
		dst := make([]float64, benchRows*blockK)
		b.SetBytes(int64(len(benchDense.Dense)) * 8)
		b.ReportAllocs()
		for b.Loop() {
			impl.Dgemm(blas.NoTrans, blas.NoTrans, benchRows, blockK, benchCols, 1, benchDense.Dense, benchCols, blockW, blockK, 0, dst, blockK)
		}
	})
}

// BenchmarkMulBlockTrans compares MulBlockTrans with k separate MulVecTrans
// calls.
func BenchmarkMulBlockTrans(b *testing.B) {
	for _, name := range []string{"dense", "csr"} {
		mat := func(f *blockFixture) backend.Matrix {
			if name == "csr" {
				return f.csr
			}
			return f.dense
		}
		b.Run(name+"/block", func(b *testing.B) {
			benchBlock(b, matBytes(name), func(f *blockFixture) { f.b.MulBlockTrans(f.dstT, 1, mat(f), f.g, 0) })
		})
		b.Run(name+"/mulvectrans", func(b *testing.B) {
			benchBlock(b, matBytes(name), func(f *blockFixture) {
				for c := range blockK {
					f.b.MulVecTrans(f.dstTCol[c], 1, mat(f), f.gCol[c], 0)
				}
			})
		})
	}
}

// BenchmarkGemm times 1000×50·50×50 and the dense benchmark matrix as a
// block times W (20000×2000·2000×10), reporting the bytes of A and B.
func BenchmarkGemm(b *testing.B) {
	b.Run("1000x50x50", func(b *testing.B) {
		benchBlock(b, func(*blockFixture) int64 { return 8 * (1000*50 + 50*50) },
			func(f *blockFixture) { f.b.Gemm(f.c, 1, f.a, backend.NoTrans, f.bb, backend.NoTrans, 0) })
	})
	b.Run("20000x2000x10", func(b *testing.B) {
		benchBlock(b, func(f *blockFixture) int64 { return f.dense.Bytes() },
			func(f *blockFixture) { f.b.Gemm(f.dst, 1, f.xBlk, backend.NoTrans, f.w, backend.NoTrans, 0) })
	})
}

// BenchmarkRowOps times Map and the row operations on 20000×10 scores,
// reporting the bytes read and written.
func BenchmarkRowOps(b *testing.B) {
	const bytes = 2 * 8 * benchRows * blockK
	size := func(*blockFixture) int64 { return bytes }
	for _, fn := range []backend.Func{backend.Tanh, backend.Softplus} {
		b.Run("Map/"+fn.String(), func(b *testing.B) {
			benchBlock(b, size, func(f *blockFixture) { f.b.Map(f.grad, fn, 0, f.scores) })
		})
	}
	b.Run("Softmax", func(b *testing.B) {
		benchBlock(b, size, func(f *blockFixture) { f.b.Softmax(f.grad, f.scores) })
	})
	b.Run("CrossEntropy", func(b *testing.B) {
		benchBlock(b, size, func(f *blockFixture) { f.b.CrossEntropy(f.grad, f.out, f.scores, f.classes) })
	})
}

// BenchmarkSoftmaxGrad compares SoftmaxGrad (one pass over X) with the
// composition that computes the same gradient and losses with the core
// operations (MulBlock, CrossEntropy, MulBlockTrans: two passes), on the
// dense and CSR block matrices with blockK classes.
func BenchmarkSoftmaxGrad(b *testing.B) {
	for _, name := range []string{"dense", "csr"} {
		mat := func(f *blockFixture) backend.Matrix {
			if name == "csr" {
				return f.csr
			}
			return f.dense
		}
		b.Run(name+"/fused", func(b *testing.B) {
			benchBlock(b, matBytes(name), func(f *blockFixture) {
				f.b.SoftmaxGrad(f.dstT, 1, mat(f), f.w, f.classes, nil, 0, nil, f.out)
			})
		})
		b.Run(name+"/composed", func(b *testing.B) {
			benchBlock(b, matBytes(name), func(f *blockFixture) {
				f.b.MulBlock(f.dst, 1, mat(f), f.w, 0)
				f.b.CrossEntropy(f.grad, f.out, f.dst, f.classes)
				f.b.MulBlockTrans(f.dstT, 1, mat(f), f.grad, 0)
			})
		})
	}
}

// BenchmarkSoftmaxHessBlock compares SoftmaxHessBlock (one pass over X)
// with the composition of the core operations that computes the same
// product (MulBlock, MulElem, RowSums, ScaleRows, Axpy, MulBlockTrans: two
// passes), V = W, on the dense and CSR block matrices with blockK classes.
func BenchmarkSoftmaxHessBlock(b *testing.B) {
	for _, name := range []string{"dense", "csr"} {
		mat := func(f *blockFixture) backend.Matrix {
			if name == "csr" {
				return f.csr
			}
			return f.dense
		}
		b.Run(name+"/fused", func(b *testing.B) {
			benchBlock(b, matBytes(name), func(f *blockFixture) {
				f.b.SoftmaxHessBlock(f.dstT, 1, mat(f), f.prob, nil, f.w, 0)
			})
		})
		b.Run(name+"/composed", func(b *testing.B) {
			benchBlock(b, matBytes(name), func(f *blockFixture) {
				f.b.MulBlock(f.dst, 1, mat(f), f.w, 0)
				f.b.MulElem(f.grad, 1, f.prob, f.dst, 0)
				f.b.RowSums(f.out, 1, f.grad, 0)
				f.b.ScaleRows(f.tmp, f.out, f.prob)
				f.b.Axpy(-1, f.tmp, f.grad)
				f.b.MulBlockTrans(f.dstT, 1, mat(f), f.grad, 0)
			})
		})
	}
}
