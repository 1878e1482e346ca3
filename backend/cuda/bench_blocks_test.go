//go:build cuda || cudaemu

package cuda

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// BenchmarkBlockProducts times the products of the problems beyond the GLMs
// on the benchmark matrices (dense 100000×1000, also in float32, and CSR;
// smaller on the emulator) with k = 10 columns — X·W (MulBlock) and Xᵀ·G
// (MulBlockTrans), multinomial logistic regression's gradient — and Gemm
// of an equilibrium model's S·A (1000×50 · 50×50), and the row operations
// Softmax and CrossEntropy on rows×10 scores. Bytes are those of X (the
// products) or of the scores (read and written). gpu-session.sh times
// cuBLAS's dgemm (PyTorch's X @ W) on the same shapes.
func BenchmarkBlockProducts(b *testing.B) {
	const k = 10
	be, ops := fixture(b)
	r := backendtest.Rand(2)
	block := func(rows, cols int) backend.Block {
		blk, err := be.NewBlock(rows, cols)
		if err != nil {
			b.Fatal(err)
		}
		be.Upload(blk, backendtest.RandVector(r, rows*cols))
		return blk
	}
	run := func(name string, bytes int64, op func()) {
		b.Run(name, func(b *testing.B) {
			op() // warm up: grows the scratch space
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(bytes)
			b.ResetTimer()
			for range b.N {
				op()
			}
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
		})
	}
	for _, format := range []string{"dense", "dense32", "csr"} {
		o := ops[format]
		rows, cols := o.a.Dims()
		w, g, z, dt := block(cols, k), block(rows, k), block(rows, k), block(cols, k)
		run("MulBlock/"+format, o.a.Bytes(), func() { be.MulBlock(z, 1, o.a, w, 0) })
		run("MulBlockTrans/"+format, o.a.Bytes(), func() { be.MulBlockTrans(dt, 1, o.a, g, 0) })
	}
	s, a, d := block(1000, 50), block(50, 50), block(1000, 50)
	run("Gemm/1000x50x50", 8*(1000*50*2+50*50), func() { be.Gemm(d, 1, s, backend.NoTrans, a, backend.NoTrans, 0) })
	rows, _ := ops["dense"].a.Dims()
	scores, grad, loss := block(rows, k), block(rows, k), block(rows, 1)
	y := make([]int, rows)
	for i := range y {
		y[i] = i % k
	}
	lab, err := be.NewLabels(k, y)
	if err != nil {
		b.Fatal(err)
	}
	run("Softmax", int64(16*rows*k), func() { be.Softmax(grad, scores) })
	run("CrossEntropy", int64(16*rows*k), func() { be.CrossEntropy(grad, loss, scores, lab) })
}
