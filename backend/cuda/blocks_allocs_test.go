//go:build cuda || cudaemu

package cuda

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// TestNoAllocsBlocks checks that the block operations and those of the
// Multinomial extension allocate no Go memory once the scratch space has
// grown, as TestNoAllocs does for the others.
func TestNoAllocsBlocks(t *testing.T) {
	b := open(t)
	defer b.Close()
	r := backendtest.Rand(5)
	const rows, cols, k = 300, 40, 5
	rn := &runner{t: t, b: b}
	blk := func(m, n int) backend.Block { return rn.block(backendtest.RandVector(r, m*n), m, n) }
	x, y, z := rn.vec(backendtest.RandVector(r, 1000)), rn.vec(backendtest.RandVector(r, 1000)), rn.vec(make([]float64, 1000))
	a, a2, ar := blk(rows, cols), blk(rows, cols), blk(rows, k)
	vr, vc := rn.vec(backendtest.RandVector(r, rows)), rn.vec(backendtest.RandVector(r, cols))
	vr2 := rn.vec(make([]float64, rows))
	wc, dr, dc := blk(cols, k), blk(rows, k), blk(cols, k)
	g1, g2, e1, e2 := blk(cols, cols), blk(k, k), blk(k, 0), blk(0, k)
	tall := blk(1100, k) // K long enough for several splits
	labels := make([]int, rows)
	for i := range labels {
		labels[i] = i % cols
	}
	yl := rn.labels(cols, labels)
	yk := rn.labels(k, backendtest.RandClasses(r, rows, k))
	pk := blk(rows, k)
	for _, m := range []*backendtest.HostMatrix{backendtest.RandDense(r, rows, cols), backendtest.RandCSR(r, rows, cols, 0.2)} {
		xm := rn.mat(m)
		for _, op := range []struct {
			name string
			do   func()
		}{
			{"DivElem", func() { b.DivElem(z, 0.5, x, y, 0.5) }},
			{"Map", func() { b.Map(z, backend.SqrtSq, 0.5, x) }},
			{"ScaleRows", func() { b.ScaleRows(a2, vr, a) }},
			{"ScaleCols", func() { b.ScaleCols(a2, a, vc) }},
			{"RowSums", func() { b.RowSums(vr, 1, a, 0.5) }},
			{"ColSums", func() { b.ColSums(vc, 1, a, 0.5) }},
			{"RowNorms", func() { b.RowNorms(vr, a, 0.5) }},
			{"Softmax", func() { b.Softmax(a2, a) }},
			{"LogSumExp", func() { b.LogSumExp(vr, a) }},
			{"CrossEntropy", func() { b.CrossEntropy(a2, vr, a, yl) }},
			{"CrossEntropy nil grad", func() { b.CrossEntropy(nil, vr, a, yl) }},
			{"Gemm", func() { b.Gemm(g1, 1, a, backend.Trans, a, backend.NoTrans, 0) }},
			{"Gemm splits", func() { b.Gemm(g2, 1, tall, backend.Trans, tall, backend.NoTrans, 0.5) }},
			{"Gemm k=0", func() { b.Gemm(g2, 1, e1, backend.NoTrans, e2, backend.NoTrans, 0.5) }},
			{"Gemm one split", func() { b.Gemm(dr, 1, a, backend.NoTrans, wc, backend.NoTrans, 0.5) }},
			{"MulBlock", func() { b.MulBlock(dr, 1, xm, wc, 0.5) }},
			{"MulBlockTrans", func() { b.MulBlockTrans(dc, 1, xm, ar, 0) }},
			{"SoftmaxGrad", func() { b.SoftmaxGrad(dc, 1, xm, wc, yk, vr, 0.5, pk, vr2) }},
			{"SoftmaxGrad no prob, loss, d", func() { b.SoftmaxGrad(dc, 1, xm, wc, yk, nil, 0, nil, nil) }},
			{"SoftmaxHessBlock", func() { b.SoftmaxHessBlock(dc, 1, xm, pk, vr, wc, 0.5) }},
		} {
			op.do() // grows the scratch space
			if n := testing.AllocsPerRun(10, op.do); n != 0 {
				t.Errorf("%s on %v: %v allocations per call", op.name, m, n)
			}
		}
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if g := gemmGrid(k, k, 1100); g.splits < 2 {
		t.Errorf("the Gemm case has %d splits: it should cover several", g.splits)
	}
	rn.free()
}
