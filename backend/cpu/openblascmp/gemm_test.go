//go:build openblas

package openblascmp

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// block uploads the row-major rows×cols data as a block of be.
func block(tb testing.TB, be backend.Backend, rows, cols int, data []float64) backend.Block {
	tb.Helper()
	out, err := be.NewBlock(rows, cols)
	if err != nil {
		tb.Fatal(err)
	}
	be.Upload(out, data)
	return out
}

// agree fails tb unless got and want agree to 1e-12 relative to the
// magnitude of want's entries.
func agree(tb testing.TB, what string, got, want []float64) {
	tb.Helper()
	var d, s float64
	for i := range want {
		d = max(d, math.Abs(got[i]-want[i]))
		s = max(s, math.Abs(want[i]))
	}
	if !(d <= 1e-12*s) {
		tb.Fatalf("%s: max |Δ| = %.3g, max |ref| = %.3g", what, d, s)
	}
}

// TestGemmAgrees checks the harness: OpenBLAS's dgemm and the backend's
// Gemm (every transpose), MulBlock and MulBlockTrans compute the same
// products (to rounding).
func TestGemmAgrees(t *testing.T) {
	const m, n, k = 70, 30, 50
	r := backendtest.Rand(9)
	a, bm, c := backendtest.RandVector(r, m*k), backendtest.RandVector(r, k*n), backendtest.RandVector(r, m*n)
	be := cpu.New(cpu.Options{})
	defer be.Close()
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			ar, ac, br, bc := m, k, k, n
			if ta {
				ar, ac = k, m
			}
			if tb {
				br, bc = n, k
			}
			want := slices.Clone(c)
			dgemm(ta, tb, m, n, k, 1.5, a, bm, 0.5, want)
			dst := block(t, be, m, n, c)
			be.Gemm(dst, 1.5, block(t, be, ar, ac, a), backend.Transpose(ta), block(t, be, br, bc, bm), backend.Transpose(tb), 0.5)
			got := make([]float64, m*n)
			be.Download(got, dst)
			agree(t, fmt.Sprintf("Gemm %v %v", ta, tb), got, want)
		}
	}
	x, err := be.NewDense(m, k, a)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(c)
	dgemm(false, false, m, n, k, 1.5, a, bm, 0.5, want)
	dst := block(t, be, m, n, c)
	be.MulBlock(dst, 1.5, x, block(t, be, k, n, bm), 0.5)
	got := make([]float64, m*n)
	be.Download(got, dst)
	agree(t, "MulBlock", got, want)
	g := backendtest.RandVector(r, m*n)
	wantT := make([]float64, k*n)
	dgemm(true, false, k, n, m, 2, a, g, 0, wantT)
	dstT := block(t, be, k, n, make([]float64, k*n))
	be.MulBlockTrans(dstT, 2, x, block(t, be, m, n, g), 0)
	gotT := make([]float64, k*n)
	be.Download(gotT, dstT)
	agree(t, "MulBlockTrans", gotT, wantT)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAgainstDgemm times, with 1 and 2 threads on both sides, the
// products of the problems that come next against OpenBLAS's dgemm on the
// same data in the same process: X·W and Xᵀ·G with X 20000×2000 (320 MB)
// and k = 10 columns (multinomial logistic regression: the backend's
// MulBlock and MulBlockTrans on a dense Matrix, its Gemm on X stored as a
// Block, and gonum's Dgemm, which Gemm calls on tiles), and the square
// 1000×50 · 50×50 (an equilibrium model's S·A). Each operation runs in blocks
// of back-to-back calls, the blocks alternating over the rounds (forward,
// then backward order); it reports each median time and its ratio to
// dgemm's ("-x-dgemm" metrics: below 1 is faster than OpenBLAS). Run with
// OPENBLAS_THREAD_TIMEOUT=4 so that OpenBLAS's threads sleep at once after
// a call.
func BenchmarkAgainstDgemm(b *testing.B) {
	type op struct {
		name string
		f    func()
	}
	type size struct {
		name    string
		m, n, k int
		rounds  int
		ops     func(be *cpu.Backend, x, w, g, dst, dstT []float64) []op
	}
	r := backendtest.Rand(3)
	sizes := []size{
		{"XW-20000x2000x10", 20000, 10, 2000, 15, func(be *cpu.Backend, x, w, g, dst, dstT []float64) []op {
			const m, n, k = 20000, 10, 2000
			xm, err := be.NewDense(m, k, x)
			if err != nil {
				b.Fatal(err)
			}
			xb, wb, gb := block(b, be, m, k, x), block(b, be, k, n, w), block(b, be, m, n, g)
			db, dtb := block(b, be, m, n, dst), block(b, be, k, n, dstT)
			return []op{
				{"dgemm", func() { dgemm(false, false, m, n, k, 1, x, w, 0, dst) }},
				{"dgemmT", func() { dgemm(true, false, k, n, m, 1, x, g, 0, dstT) }},
				{"MulBlock", func() { be.MulBlock(db, 1, xm, wb, 0) }},
				{"MulBlockTrans", func() { be.MulBlockTrans(dtb, 1, xm, gb, 0) }},
				{"Gemm", func() { be.Gemm(db, 1, xb, backend.NoTrans, wb, backend.NoTrans, 0) }},
				{"GemmT", func() { be.Gemm(dtb, 1, xb, backend.Trans, gb, backend.NoTrans, 0) }},
				{"gonum", func() { gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, x, k, w, n, 0, dst, n) }},
			}
		}},
		{"SA-1000x50x50", 1000, 50, 50, 40, func(be *cpu.Backend, x, w, _, dst, _ []float64) []op {
			const m, n, k = 1000, 50, 50
			xb, wb, db := block(b, be, m, k, x), block(b, be, k, n, w), block(b, be, m, n, dst)
			return []op{
				{"dgemm", func() { dgemm(false, false, m, n, k, 1, x, w, 0, dst) }},
				{"Gemm", func() { be.Gemm(db, 1, xb, backend.NoTrans, wb, backend.NoTrans, 0) }},
				{"gonum", func() { gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, x, k, w, n, 0, dst, n) }},
			}
		}},
	}
	for _, sz := range sizes {
		x, w := backendtest.RandVector(r, sz.m*sz.k), backendtest.RandVector(r, sz.k*sz.n)
		g, dst, dstT := backendtest.RandVector(r, sz.m*sz.n), make([]float64, sz.m*sz.n), make([]float64, sz.k*sz.n)
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", sz.name, workers), func(b *testing.B) {
				setThreads(workers)
				be := cpu.New(cpu.Options{Workers: workers})
				defer be.Close()
				ops := sz.ops(be, x, w, g, dst, dstT)
				calls := 3
				for range b.N {
					times := make([][]float64, len(ops))
					for rd := range sz.rounds {
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
					for k := range ops {
						b.ReportMetric(med[k]*1e3, ops[k].name+"-ms")
						ref := med[0] // dgemm
						if ops[k].name == "MulBlockTrans" || ops[k].name == "GemmT" {
							ref = med[1] // dgemm with A transposed
						}
						if k > 0 && ops[k].name != "dgemmT" {
							b.ReportMetric(med[k]/ref, ops[k].name+"-x-dgemm")
						}
					}
				}
			})
		}
	}
}
