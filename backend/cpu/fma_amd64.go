//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// haveFMA reports whether this CPU and OS run the AVX2 + FMA3 kernels of
// fma_amd64.s (x/sys/cpu checks that the OS saves the YMM registers too).
var haveFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveAVX512 reports whether this CPU and OS also run gram4AVX512 (AVX-512F;
// x/sys/cpu checks that the OS saves the ZMM and mask registers).
// GODEBUG=cpu.avx512f=off turns it off; the results are the same bits.
var haveAVX512 = haveFMA && cpu.X86.HasAVX512F

// asmKernels reports whether the kernels below are assembly: they may run
// only where haveFMA.
const asmKernels = true

// The kernels below read and write only the memory their operands describe,
// given the lengths that the Go wrappers in kernels.go and blockprod.go
// check (they do not check them themselves). n is len(x) for the dot
// products, len(y) for the axpys; a holds rows of n values at a stride of
// stride values.

// dot4FMA sets z_r ← Σ_j a[r·stride+j]·x[j] for the four rows r = 0…3
// (len(a) ≥ 3·stride + n). Each row's sum is the one dot1FMA computes.
//
//go:noescape
func dot4FMA(a []float64, stride int, x []float64, z *[4]float64)

// dot1FMA returns Σ_j a[j]·x[j] (len(a) ≥ n) in a fixed order: fused
// multiply-adds into eight lanes over the first n − n mod 8 columns (lane
// j mod 8), lanes l and l+4 added, a four-column step when n mod 8 ≥ 4, the
// lanes reduced as (l0+l1)+(l2+l3), then the last n mod 4 columns in order
// (refDot in fma_test.go spells it out).
//
//go:noescape
func dot1FMA(a, x []float64) float64

// axpy4FMA sets y[j] ← y[j] + c_0·a_0[j] + c_1·a_1[j] + c_2·a_2[j] + c_3·a_3[j]
// with a_r = a[r·stride:] (len(a) ≥ 3·stride + n), as four fused
// multiply-adds in row order: the same bits as axpy1FMA on each row in turn.
//
//go:noescape
func axpy4FMA(a []float64, stride int, c *[4]float64, y []float64)

// axpy1FMA sets y[j] ← fma(c, a[j], y[j]) (len(a) ≥ n).
//
//go:noescape
func axpy1FMA(c float64, a, y []float64)

// gram4FMA is one step of the fused dense pass over the eight rows
// a_r = a[r·stride:], r = 0…7 (len(a) ≥ 7·stride + n, n = len(x) = len(y)):
// axpy4FMA(a, stride, c, y) on rows 0…3 and dot4FMA on rows 4…7 into z,
// with the same bits, in one loop over the columns.
//
//go:noescape
func gram4FMA(a []float64, stride int, c *[4]float64, x, y []float64, z *[4]float64)

// gram4AVX512 is gram4FMA, with the same contract and the same bits, its main
// loop on 512-bit registers. It may run only where haveAVX512.
//
//go:noescape
func gram4AVX512(a []float64, stride int, c *[4]float64, x, y []float64, z *[4]float64)

// dot4x4AVX512 is dot4x2FMA on two pairs of vectors at once, with the same
// bits, where haveAVX512: x01 and x23 hold the pairs interleaved four
// columns at a time (interleavePairs: x01[8m+4v+l] = x_v[4m+l]), n =
// len(x01)/2 columns (a multiple of 4, len(x23) ≥ 2n), and acc[32q+8r+4v+l]
// is dot4x2FMA's lane l of row r and vector v of pair q.
//
//go:noescape
func dot4x4AVX512(a []float64, stride int, x01, x23 []float64, acc *[64]float64)

// axpy4x2AVX512 is axpy4x2FMA, with the same contract and the same bits, its
// main loop on 512-bit registers. It may run only where haveAVX512.
//
//go:noescape
func axpy4x2AVX512(a []float64, stride int, c *[8]float64, y0, y1 []float64)

// dot4x2FMA adds to the lanes acc[4p+l], p = 2r+v, the products of the
// four rows a_r = a[r·stride:] (len(a) ≥ 3·stride + n) and the two vectors
// x_v over the columns j ≡ l (mod 4), j < n = len(x0), n a multiple of 4,
// len(x1) ≥ n: one fused multiply-add per lane and 4-column step, in column
// order. Calls on consecutive tiles of columns give the bits of one call.
//
//go:noescape
func dot4x2FMA(a []float64, stride int, x0, x1 []float64, acc *[32]float64)

// axpy4x2FMA is axpy4FMA(a, stride, c[4v:4v+4], y_v) for v = 0, 1 (len(y1)
// ≥ n = len(y0)), with the same bits, each row loaded once for both.
//
//go:noescape
func axpy4x2FMA(a []float64, stride int, c *[8]float64, y0, y1 []float64)
