//go:build openblas

package openblascmp

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// TestGemvAgrees checks the harness: OpenBLAS's dgemv and the backend's
// MulVec compute the same product, and so do dgemv with CblasTrans and
// MulVecTrans (to rounding).
func TestGemvAgrees(t *testing.T) {
	const rows, cols = 300, 200
	r := backendtest.Rand(5)
	h := backendtest.RandDense(r, rows, cols)
	x := backendtest.RandVector(r, cols)
	y := make([]float64, rows)
	gemv(rows, cols, h.Dense, x, y)
	b := cpu.New(cpu.Options{})
	defer b.Close()
	m, err := b.NewDense(rows, cols, h.Dense)
	if err != nil {
		t.Fatal(err)
	}
	xv, _ := b.NewVector(cols)
	yv, _ := b.NewVector(rows)
	b.Upload(xv, x)
	b.MulVec(yv, 1, m, xv, 0)
	got := make([]float64, rows)
	b.Download(got, yv)
	for i := range y {
		if math.Abs(got[i]-y[i]) > 1e-12*(1+math.Abs(y[i])) {
			t.Fatalf("row %d: MulVec %v, dgemv %v", i, got[i], y[i])
		}
	}
	yt := make([]float64, cols)
	gemvT(rows, cols, h.Dense, y, yt)
	b.MulVecTrans(xv, 1, m, yv, 0)
	gotT := make([]float64, cols)
	b.Download(gotT, xv)
	for j := range yt {
		if math.Abs(gotT[j]-yt[j]) > 1e-12*(1+math.Abs(yt[j])) {
			t.Fatalf("column %d: MulVecTrans %v, dgemv (CblasTrans) %v", j, gotT[j], yt[j])
		}
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAgainstDgemv times, on X 20000×2000 (320 MB), OpenBLAS's dgemv
// (X @ v), its transposed product (Xᵀ @ r, "dgemvT") and the backend's
// MulVec, GramVec and GLMGradNoLoss (logistic), each in blocks of 3
// back-to-back calls, the blocks alternating in 40 rounds (forward, then
// backward order), with 1 and 2 threads on both sides. It reports each
// operation's median time and its bandwidth as a fraction of dgemv's (X's
// bytes per second; "frac" metrics), and the fused passes' time over
// dgemv + dgemvT ("per-peer-iter"): the PyTorch peer makes those two passes
// per inner step and per Hessian-vector product where we make one fused
// pass, so this is the AID-CG time ratio that the passes alone predict
// (without the peer's autograd overhead, and with one pass per iteration
// on either side: we make 102.25 passes at t = k = 50 and the peer 202.5). OpenBLAS's threads spin
// for about 0.1 s after a call, taking a core from whatever runs next: run
// with OPENBLAS_THREAD_TIMEOUT=4 so that they sleep at once.
func BenchmarkAgainstDgemv(b *testing.B) {
	const rows, cols, rounds, calls = 20000, 2000, 40, 3
	r := backendtest.Rand(1)
	h := backendtest.RandDense(r, rows, cols)
	x := backendtest.RandVector(r, cols)
	y := make([]float64, rows)
	gt := make([]float64, cols)
	labels := make([]float64, rows)
	for i := range labels {
		labels[i] = float64(2*(i%2) - 1)
	}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", workers), func(b *testing.B) {
			setThreads(workers)
			be := cpu.New(cpu.Options{Workers: workers})
			defer be.Close()
			m, err := be.NewDense(rows, cols, h.Dense)
			if err != nil {
				b.Fatal(err)
			}
			vec := func(v []float64) backend.Vector {
				out, err := be.NewVector(len(v))
				if err != nil {
					b.Fatal(err)
				}
				be.Upload(out, v)
				return out
			}
			w, d, lab := vec(x), vec(backendtest.RandVector(r, rows)), vec(labels)
			z, g, curv := vec(y), vec(make([]float64, cols)), vec(y)
			ops := []struct {
				name string
				f    func()
			}{
				{"dgemv", func() { gemv(rows, cols, h.Dense, x, y) }},
				{"dgemvT", func() { gemvT(rows, cols, h.Dense, y, gt) }},
				{"MulVec", func() { be.MulVec(z, 1, m, w, 0) }},
				{"GramVec", func() { be.GramVec(g, 1, m, d, w, 0) }},
				{"GLMGradNoLoss", func() { be.GLMGradNoLoss(g, 1, m, w, lab, backend.Logistic, 0, curv) }},
			}
			for range b.N {
				times := make([][]float64, len(ops))
				for rd := range rounds {
					for k := range ops {
						if rd%2 == 1 {
							k = len(ops) - 1 - k
						}
						for range calls {
							t0 := time.Now()
							ops[k].f()
							times[k] = append(times[k], time.Since(t0).Seconds())
						}
					}
				}
				if err := be.Err(); err != nil {
					b.Fatal(err)
				}
				med := make([]float64, len(ops))
				for k := range ops {
					slices.Sort(times[k])
					med[k] = times[k][len(times[k])/2]
				}
				bytes := float64(rows * cols * 8)
				b.ReportMetric(bytes/med[0]/1e9, "dgemv-GB/s")
				for k := 1; k < len(ops); k++ {
					b.ReportMetric(med[k]*1e3, ops[k].name+"-ms")
					b.ReportMetric(med[0]/med[k], ops[k].name+"-frac")
					if name := ops[k].name; name == "GramVec" || name == "GLMGradNoLoss" {
						b.ReportMetric(med[k]/(med[0]+med[1]), name+"-per-peer-iter")
					}
				}
			}
		})
	}
}
