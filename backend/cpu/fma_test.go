package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// fmaRuns reports whether the kernels of fma_amd64.s (or their Go versions,
// in builds without the assembly) can run here.
var fmaRuns = haveFMA || !asmKernels

// kernelSets runs f once for each set of dense kernels this machine can run:
// the FMA kernels (assembly where haveFMA, their Go versions in builds
// without assembly) and the portable ones (gonum), with useFMA set
// accordingly.
func kernelSets(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	sets := []bool{false}
	if fmaRuns {
		sets = []bool{true, false}
	}
	for _, fma := range sets {
		name := "portable"
		if fma {
			name = "fma"
		}
		t.Run(name, func(t *testing.T) {
			defer func(old bool) { useFMA = old }(useFMA)
			useFMA = fma
			f(t)
		})
	}
}

// TestConformanceOtherKernels runs the conformance suite on the set of dense
// kernels that TestConformance does not use: the portable ones where the
// assembly kernels run, else the Go versions of the FMA kernels.
func TestConformanceOtherKernels(t *testing.T) {
	if !fmaRuns {
		t.Skip("the FMA kernels cannot run here; TestConformance runs the portable ones")
	}
	defer func(old bool) { useFMA = old }(useFMA)
	useFMA = !useFMA
	for _, w := range workerCounts {
		t.Run(fmt.Sprintf("workers=%d", w), func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) backend.Backend { return New(Options{Workers: w}) })
		})
	}
}

// refDot is Σ_j a_j·x_j in the order the assembly dot products promise:
// fused multiply-adds into eight lanes (lane j mod 8), lanes l and l+4
// added, a four-column step, (l0+l1)+(l2+l3), then the last columns in order.
func refDot(a, x []float64) float64 {
	n := len(x)
	var acc [8]float64
	j := 0
	for ; j+8 <= n; j += 8 {
		for l := range acc {
			acc[l] = math.FMA(a[j+l], x[j+l], acc[l])
		}
	}
	var s [4]float64
	for l := range s {
		s[l] = acc[l] + acc[l+4]
	}
	if n-j >= 4 {
		for l := range s {
			s[l] = math.FMA(a[j+l], x[j+l], s[l])
		}
		j += 4
	}
	r := (s[0] + s[1]) + (s[2] + s[3])
	for ; j < n; j++ {
		r = math.FMA(a[j], x[j], r)
	}
	return r
}

// refAxpy sets y_j ← fma(c, a_j, y_j), as the assembly axpys do row by row.
func refAxpy(c float64, a, y []float64) {
	for j := range y {
		y[j] = math.FMA(c, a[j], y[j])
	}
}

// sameBits reports whether got and want are bit-identical, counting any
// two NaNs as equal.
func sameBits(got, want float64) bool {
	return math.Float64bits(got) == math.Float64bits(want) || math.IsNaN(got) && math.IsNaN(want)
}

// fmaLens are the column counts of the kernel tests: every remainder of the
// 16-, 8- and 4-column steps, and a long row.
var fmaLens = func() []int {
	var ns []int
	for n := range 41 {
		ns = append(ns, n)
	}
	return append(ns, 2000, 2003, 2013)
}()

// TestFMAKernels checks each FMA kernel (assembly, or its Go version in
// builds without it) bit for bit against refDot and refAxpy, with a row stride larger than the row, and with Inf and NaN in the
// data.
func TestFMAKernels(t *testing.T) {
	if !fmaRuns {
		t.Skip("no AVX2+FMA on this CPU")
	}
	r := backendtest.Rand(7)
	for _, special := range []bool{false, true} {
		for _, n := range fmaLens {
			stride := n + 3
			a := backendtest.RandVector(r, 8*stride)
			x := backendtest.RandVector(r, n)
			y0 := backendtest.RandVector(r, n)
			c := [4]float64{0.5, -1.25, 3, 1e-3}
			if special && n > 2 {
				a[1], a[stride+n-1] = math.Inf(1), math.NaN()
				x[n/2] = math.Inf(-1)
			}
			row := func(k int) []float64 { return a[k*stride : k*stride+n] }
			what := fmt.Sprintf("n=%d special=%v", n, special)

			var z [4]float64
			dot4FMA(a[:3*stride+n], stride, x, &z)
			for k := range 4 {
				if want := refDot(row(k), x); !sameBits(z[k], want) {
					t.Errorf("dot4FMA %s: row %d = %v, want %v", what, k, z[k], want)
				}
				if got, want := dot1FMA(row(k), x), refDot(row(k), x); !sameBits(got, want) {
					t.Errorf("dot1FMA %s: row %d = %v, want %v", what, k, got, want)
				}
			}

			want := append([]float64(nil), y0...)
			for k := range 4 {
				refAxpy(c[k], row(k), want)
			}
			y := append([]float64(nil), y0...)
			axpy4FMA(a[:3*stride+n], stride, &c, y)
			checkBits(t, "axpy4FMA "+what, y, want)
			y = append(y[:0], y0...)
			for k := range 4 {
				axpy1FMA(c[k], row(k), y)
			}
			checkBits(t, "axpy1FMA "+what, y, want)

			for _, g := range gram4Kernels() {
				y = append(y[:0], y0...)
				g.f(a[:7*stride+n], stride, &c, x, y, &z)
				checkBits(t, g.name+" axpy "+what, y, want)
				for k := range 4 {
					if want := refDot(row(4+k), x); !sameBits(z[k], want) {
						t.Errorf("%s %s: dot of row %d = %v, want %v", g.name, what, 4+k, z[k], want)
					}
				}
			}
		}
	}
}

// gram4Kernel is one implementation of the fused pass's step (gram4FMA's
// contract).
type gram4Kernel struct {
	name string
	f    func(a []float64, stride int, c *[4]float64, x, y []float64, z *[4]float64)
}

// gram4Kernels lists the step kernels this machine runs: gram4FMA, and
// gram4AVX512 where the CPU has AVX-512F.
func gram4Kernels() []gram4Kernel {
	ks := []gram4Kernel{{"gram4FMA", gram4FMA}}
	if haveAVX512 {
		ks = append(ks, gram4Kernel{"gram4AVX512", gram4AVX512})
	}
	return ks
}

func checkBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for j := range want {
		if !sameBits(got[j], want[j]) {
			t.Errorf("%s: [%d] = %v, want %v", what, j, got[j], want[j])
			return
		}
	}
}

// TestFusedFMA checks the software-pipelined fused pass bit for bit against
// the rows processed one by one in row order (refDot, weights or loss,
// refAxpy), for every number of rows up to a few blocks and ragged column
// counts, with each step kernel (gram4Kernels): the pipelining changes when a
// row is accumulated, not how.
func TestFusedFMA(t *testing.T) {
	if !fmaRuns {
		t.Skip("no AVX2+FMA on this CPU")
	}
	avx := []bool{false}
	if haveAVX512 {
		avx = []bool{false, true}
	}
	defer func(old bool) { useAVX512 = old }(useAVX512)
	for _, useAVX512 = range avx {
		testFusedFMA(t)
	}
}

func testFusedFMA(t *testing.T) {
	r := backendtest.Rand(8)
	e := newEngine(1)
	defer e.stop()
	for _, n := range []int{1, 3, 4, 7, 8, 9, 16, 17, 2001} {
		for rows := range 14 {
			val := backendtest.RandVector(r, rows*n)
			v := backendtest.RandVector(r, n)
			wts := backendtest.RandVector(r, rows)
			labels := backendtest.RandLabels(r, rows)
			for _, glmOp := range []bool{false, true} {
				e.args = opArgs{m: matRef{rows: rows, cols: n, val: val}, x: v, glm: glmOp}
				if glmOp {
					e.args.y, e.args.loss, e.args.curv = labels, backend.Logistic, make([]float64, rows)
				} else {
					e.args.wts = wts
				}
				// Part [lo, rows): a start that is not a multiple of 4.
				lo := min(rows, 1)
				acc := backendtest.RandVector(r, n)
				want := append([]float64(nil), acc...)
				wantCurv := make([]float64, rows)
				var wantLoss float64
				for i := lo; i < rows; i++ {
					row := val[i*n : (i+1)*n]
					z := refDot(row, v)
					if glmOp {
						l, g, h := glm(backend.Logistic, z, labels[i], true)
						wantLoss += l
						z, wantCurv[i] = g, h
					} else {
						z *= wts[i]
					}
					refAxpy(z, row, want)
				}
				loss := e.fusedFMA(0, lo, rows, acc, nil)
				what := fmt.Sprintf("fusedFMA n=%d rows=%d glm=%v avx512=%v", n, rows, glmOp, useAVX512)
				checkBits(t, what, acc, want)
				if glmOp {
					checkBits(t, what+" curv", e.args.curv, wantCurv)
					if !sameBits(loss, wantLoss) {
						t.Errorf("%s: loss %v, want %v", what, loss, wantLoss)
					}
				}
				e.reset()
			}
		}
	}
}

// TestBlockKernels checks the kernels of MulBlock and MulBlockTrans bit for
// bit: dot4x2FMA against lanes of fused multiply-adds in column order (and
// against itself called on two tiles of columns), axpy4x2FMA against
// axpy4FMA on each vector, with Inf and NaN in the data.
func TestBlockKernels(t *testing.T) {
	if !fmaRuns {
		t.Skip("no AVX2+FMA on this CPU")
	}
	r := backendtest.Rand(9)
	for _, special := range []bool{false, true} {
		for _, n := range fmaLens {
			stride := n + 3
			a := backendtest.RandVector(r, 4*stride)
			x0, x1 := backendtest.RandVector(r, n), backendtest.RandVector(r, n)
			y0, y1 := backendtest.RandVector(r, n), backendtest.RandVector(r, n)
			if special && n > 2 {
				a[1], a[stride+n-1] = math.Inf(1), math.NaN()
				x1[n/2] = math.Inf(-1)
			}
			row := func(k int) []float64 { return a[k*stride : k*stride+n] }
			what := fmt.Sprintf("n=%d special=%v", n, special)

			n4 := n &^ 3
			var acc, want [32]float64
			for p := range acc {
				acc[p] = float64(p) * 0.25
			}
			want = acc
			for rr := range 4 {
				for v, x := range [][]float64{x0, x1} {
					for j := range n4 {
						l := &want[4*(2*rr+v)+j%4]
						*l = math.FMA(row(rr)[j], x[j], *l)
					}
				}
			}
			got := acc
			dot4x2FMA(a[:3*stride+n4], stride, x0[:n4], x1[:n4], &got)
			checkBits(t, "dot4x2FMA "+what, got[:], want[:])
			if n4 >= 8 { // two tiles of columns
				j0 := (n4 / 2) &^ 3
				got = acc
				dot4x2FMA(a[:3*stride+j0], stride, x0[:j0], x1[:j0], &got)
				dot4x2FMA(a[j0:3*stride+n4], stride, x0[j0:n4], x1[j0:n4], &got)
				checkBits(t, "dot4x2FMA in two tiles "+what, got[:], want[:])
			}

			c := [8]float64{0.5, -1.25, 3, 1e-3, -2, 0.75, 1e3, -1e-2}
			w0, w1 := append([]float64(nil), y0...), append([]float64(nil), y1...)
			axpy4FMA(a[:3*stride+n], stride, (*[4]float64)(c[0:4]), w0)
			axpy4FMA(a[:3*stride+n], stride, (*[4]float64)(c[4:8]), w1)
			g0, g1 := append([]float64(nil), y0...), append([]float64(nil), y1...)
			axpy4x2FMA(a[:3*stride+n], stride, &c, g0, g1)
			checkBits(t, "axpy4x2FMA y0 "+what, g0, w0)
			checkBits(t, "axpy4x2FMA y1 "+what, g1, w1)
			if !haveAVX512 && asmKernels {
				continue // the AVX-512 kernels run only where the CPU has them
			}
			g0, g1 = append(g0[:0], y0...), append(g1[:0], y1...)
			axpy4x2AVX512(a[:3*stride+n], stride, &c, g0, g1)
			checkBits(t, "axpy4x2AVX512 y0 "+what, g0, w0)
			checkBits(t, "axpy4x2AVX512 y1 "+what, g1, w1)

			// dot4x4AVX512: the pairs (x0, x1) and (x0, x0) interleaved
			// (an odd k = 3), against dot4x2FMA on each, whole and in two
			// tiles.
			wt := append(append([]float64(nil), x0[:n4]...), x1[:n4]...)
			wti := interleavePairs(nil, append(wt, x0[:n4]...), 3, n4)
			var acc4, want4 [64]float64
			for p := range acc4 {
				acc4[p] = float64(p) * 0.125
			}
			want4 = acc4
			dot4x2FMA(a[:3*stride+n4], stride, x0[:n4], x1[:n4], (*[32]float64)(want4[0:32]))
			dot4x2FMA(a[:3*stride+n4], stride, x0[:n4], x0[:n4], (*[32]float64)(want4[32:64]))
			got4 := acc4
			dot4x4AVX512(a[:3*stride+n4], stride, wti[:2*n4], wti[2*n4:], &got4)
			checkBits(t, "dot4x4AVX512 "+what, got4[:], want4[:])
			if n4 >= 8 {
				j0 := (n4 / 2) &^ 3
				got4 = acc4
				dot4x4AVX512(a[:3*stride+j0], stride, wti[:2*j0], wti[2*n4:2*n4+2*j0], &got4)
				dot4x4AVX512(a[j0:3*stride+n4], stride, wti[2*j0:2*n4], wti[2*n4+2*j0:], &got4)
				checkBits(t, "dot4x4AVX512 in two tiles "+what, got4[:], want4[:])
			}
		}
	}
}

// TestMulBlockFMARows checks that the FMA path of the dense MulBlock gives
// each row the bits of its documented order — lanes of dot4x2FMA, (l0+l1) +
// (l2+l3), then the last n mod 4 columns by fused multiply-adds — whatever
// range of rows a part starts and ends at (the last rows go one by one),
// for odd and even k.
func TestMulBlockFMARows(t *testing.T) {
	if !fmaRuns {
		t.Skip("no AVX2+FMA on this CPU")
	}
	defer func(old bool) { useFMA = old }(useFMA)
	useFMA = true
	e := newEngine(1)
	defer e.stop()
	r := backendtest.Rand(10)
	const rows = 11
	for _, n := range []int{1, 3, 4, 7, 64, 300, 2003} {
		for _, k := range []int{1, 2, 3, 10} {
			x := backendtest.RandVector(r, rows*n)
			wt := backendtest.RandVector(r, k*n)
			want := make([]float64, rows*k)
			for i := range rows {
				for c := range k {
					var l [4]float64
					j := 0
					for ; j+4 <= n; j += 4 {
						for q := range l {
							l[q] = math.FMA(x[i*n+j+q], wt[c*n+j+q], l[q])
						}
					}
					z := (l[0] + l[1]) + (l[2] + l[3])
					for ; j < n; j++ {
						z = math.FMA(x[i*n+j], wt[c*n+j], z)
					}
					want[i*k+c] = 0.5 * z
				}
			}
			growAcc(&e.acc, 1, 32*((k+1)/2))
			for _, span := range [][2]int{{0, rows}, {1, 6}, {3, 4}, {5, 11}, {2, 9}} {
				got := make([]float64, rows*k)
				e.args = opArgs{m: matRef{rows: rows, cols: n, val: x}, dst: got, k: k, alpha: 0.5, wt: wt}
				e.mulBlockFMA(0, span[0], span[1])
				lo, hi := span[0]*k, span[1]*k
				checkBits(t, fmt.Sprintf("n=%d k=%d rows [%d,%d)", n, k, span[0], span[1]), got[lo:hi], want[lo:hi])
			}
		}
	}
}
