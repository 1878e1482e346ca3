//go:build cuda || cudaemu

package cuda

import (
	"math"
	"sync"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// Benchmarks report bandwidth (MB/s) from b.SetBytes: the bytes of X one
// call reads (backend.Matrix.Bytes) for the products, the bytes read plus
// written for BLAS-1 and the copies. Each timed loop ends with a Sync, so
// that asynchronous launches are counted in full. Compare GramVec's MB/s
// with the device-to-device copy's: a one-pass kernel reads X once, so its
// bandwidth can approach the copy's.
//
//	go test -tags cuda -run '^$' -bench . -benchtime 20x ./backend/cuda
//	(on the GPU machine: .gpubin/backend/cuda/pkg.test -test.run '^$' -test.bench . -test.benchtime 20x)

// benchSizes returns the benchmark shapes: the synthetic problem
// (dense 100000×1000, 800 MB) and a CSR matrix like the CPU backend's
// benchmark (100000×20000, ≈10M entries); much smaller on the emulator. A
// small dense 1000×100 matrix is benchmarked as well (benchMat).
func benchSizes() (rows, cols, csrRows, csrCols int, density float64, copyBytes int64) {
	if emulated {
		return 2000, 500, 5000, 2000, 0.005, 8 << 20
	}
	return 100000, 1000, 100000, 20000, 0.005, 1 << 30
}

var (
	benchOnce sync.Once
	benchB    *Backend
	benchOps  map[string]*benchOperands
	benchErr  error
)

// benchOperands are a matrix and the vectors of its products.
type benchOperands struct {
	a                       backend.Matrix
	w, dst, r, labels, curv backend.Vector
}

// fixture opens one backend for all benchmarks and uploads the operands
// (outside any timed region). The backend stays open until the process ends.
func fixture(b *testing.B) (*Backend, map[string]*benchOperands) {
	benchOnce.Do(func() {
		be, err := New(Options{})
		if err != nil {
			benchErr = err
			return
		}
		rows, cols, csrRows, csrCols, density, _ := benchSizes()
		r := backendtest.Rand(1)
		ops := map[string]*benchOperands{}
		dense := backendtest.RandDense(r, rows, cols)
		for name, m := range map[string]*backendtest.HostMatrix{
			"dense":   dense,
			"dense32": dense, // the same matrix stored in float32 (Options.DenseFloat32)
			"csr":     backendtest.RandCSR(r, csrRows, csrCols, density),
			"small":   backendtest.RandDense(r, 1000, 100), // launch overhead, not bandwidth
		} {
			be.f32 = name == "dense32" // one backend holds both storages here
			a, err := m.Upload(be)
			be.f32 = false
			if err != nil {
				benchErr = err
				return
			}
			vec := func(x []float64) backend.Vector {
				v, err := be.NewVector(len(x))
				if err != nil && benchErr == nil {
					benchErr = err
				}
				be.Upload(v, x)
				return v
			}
			w := backendtest.RandVector(r, m.Cols)
			for i := range w {
				w[i] /= math.Sqrt(float64(m.Cols))
			}
			ops[name] = &benchOperands{a: a, w: vec(w), dst: vec(make([]float64, m.Cols)),
				r: vec(backendtest.RandVector(r, m.Rows)), labels: vec(backendtest.RandLabels(r, m.Rows)),
				curv: vec(make([]float64, m.Rows))}
		}
		if benchErr == nil {
			benchErr = be.Err()
		}
		benchB, benchOps = be, ops
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchB, benchOps
}

// benchMat runs op on each matrix format, bytes = one pass over the matrix
// (4 bytes per entry for "dense32", the dense matrix stored in float32);
// "small" (dense 1000×100, 800 kB) shows the cost of a call where launch
// overhead, not bandwidth, dominates.
func benchMat(b *testing.B, op func(be *Backend, o *benchOperands)) {
	for _, format := range []string{"dense", "dense32", "csr", "small"} {
		b.Run(format, func(b *testing.B) {
			be, ops := fixture(b)
			o := ops[format]
			op(be, o) // warm up: grows the scratch space, JIT caches
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(o.a.Bytes())
			b.ResetTimer()
			for range b.N {
				op(be, o)
			}
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
		})
	}
}

func BenchmarkMulVec(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) { be.MulVec(o.curv, 1, o.a, o.w, 0) })
}

func BenchmarkMulVecTrans(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) { be.MulVecTrans(o.dst, 1, o.a, o.r, 0) })
}

// BenchmarkGramVec is the fused Hessian-vector product Xᵀ(d ⊙ Xv).
func BenchmarkGramVec(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) { be.GramVec(o.dst, 1, o.a, o.curv, o.w, 0) })
}

// BenchmarkGramDiag is the Jacobi preconditioner diag(Xᵀ diag(d) X): one
// pass over X (for CSR, over the transposed copy, with the row indices).
func BenchmarkGramDiag(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) { be.GramDiag(o.dst, 1, o.a, o.r, 0) })
}

// BenchmarkGLMGradLogistic is the fused gradient; it returns the loss, so
// every call synchronizes.
func BenchmarkGLMGradLogistic(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) {
		be.GLMGrad(o.dst, 1, o.a, o.w, o.labels, backend.Logistic, 0, o.curv)
	})
}

// BenchmarkGLMGradNoLoss is the fused gradient of an inner step (with the
// curvature, as InnerGradRecord): no loss, no synchronization per call.
func BenchmarkGLMGradNoLoss(b *testing.B) {
	benchMat(b, func(be *Backend, o *benchOperands) {
		be.GLMGradNoLoss(o.dst, 1, o.a, o.w, o.labels, backend.Logistic, 0, o.curv)
	})
}

// BenchmarkColReduce is hg_colreduce alone: the sum, in block order, of the
// per-block column sums that the dense pass over the "dense" matrix leaves
// (its grid and columns), the part of GramVec, GLMGrad and MulVecTrans after
// the pass. MB/s counts the per-block sums read.
func BenchmarkColReduce(b *testing.B) {
	be, ops := fixture(b)
	o := ops["dense"]
	rows, cols := o.a.Dims()
	_, g := denseGrid(rows)
	be.GramVec(o.dst, 1, o.a, o.curv, o.w, 0) // fills the per-block sums
	dst := be.v("ColReduce", o.dst)
	if err := be.Sync(); err != nil || dst == nil {
		b.Fatal(err, dst)
	}
	if !be.enter("ColReduce") {
		b.Fatal(be.Err())
	}
	b.SetBytes(int64(g) * int64(cols) * 8)
	b.ResetTimer()
	for range b.N {
		be.colReduce("ColReduce", g, cols, 1, 0, dst.p)
	}
	be.drv.exit()
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// benchCopy measures a device-to-device copy of ≥ 1 GiB, counting the bytes
// read plus the bytes written, by the driver's copy (cuMemcpyDtoDAsync) and
// by the Copy kernel.
func BenchmarkCopy(b *testing.B) {
	_, _, _, _, _, size := benchSizes()
	be := open(b)
	defer be.Close()
	n := int(size / 8)
	x, err := be.NewVector(n)
	if err != nil {
		b.Fatal(err)
	}
	y, err := be.NewVector(n)
	if err != nil {
		b.Fatal(err)
	}
	be.Fill(x, 1)
	xp, yp := x.(*vec).p, y.(*vec).p
	for _, c := range []struct {
		name string
		do   func()
	}{
		{"driver", func() {
			if err := be.drv.enter(); err != nil {
				b.Fatal(err)
			}
			if err := be.drv.dtod(yp, xp, size); err != nil {
				b.Fatal(err)
			}
			be.drv.exit()
		}},
		{"kernel", func() { be.Copy(y, x) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.do()
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(2 * size)
			b.ResetTimer()
			for range b.N {
				c.do()
			}
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
		})
	}
}

func BenchmarkDot(b *testing.B) {
	be, ops := fixture(b)
	o := ops["dense"]
	n := o.r.Len()
	b.SetBytes(int64(n) * 16)
	for range b.N {
		be.Dot(o.r, o.curv)
	}
}

func BenchmarkAxpy(b *testing.B) {
	be, ops := fixture(b)
	o := ops["dense"]
	n := o.r.Len()
	alpha := 1e-3
	b.SetBytes(int64(n) * 24)
	b.ResetTimer()
	for range b.N {
		alpha = -alpha
		be.Axpy(alpha, o.r, o.curv)
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
}
