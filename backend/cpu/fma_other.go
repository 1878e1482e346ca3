//go:build !amd64 || purego

package cpu

import "math"

// haveFMA is false: this build has no assembly kernels, and dense matrices
// take the portable path (gonum's kernels) unless a test selects the Go
// versions of the kernels below.
const haveFMA = false

// haveAVX512 is false: gram4AVX512 is gram4FMA here.
const haveAVX512 = false

// asmKernels reports whether the kernels below are assembly.
const asmKernels = false

// The Go versions of the kernels of fma_amd64.s, with the same contracts and
// the same bits (math.FMA is a fused multiply-add everywhere). They are not
// used by default — where math.FMA is not a hardware instruction it is slow,
// and where it is, gonum's kernels serve — but they keep the fused pass
// compiling, and tested, on every platform.

func dot4FMA(a []float64, stride int, x []float64, z *[4]float64) {
	for r := range z {
		z[r] = dot1FMA(a[r*stride:], x)
	}
}

func dot1FMA(a, x []float64) float64 {
	n := len(x)
	a = a[:n]
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
	sum := (s[0] + s[1]) + (s[2] + s[3])
	for ; j < n; j++ {
		sum = math.FMA(a[j], x[j], sum)
	}
	return sum
}

func axpy4FMA(a []float64, stride int, c *[4]float64, y []float64) {
	for r, cr := range c {
		axpy1FMA(cr, a[r*stride:], y)
	}
}

func axpy1FMA(c float64, a, y []float64) {
	a = a[:len(y)]
	for j := range y {
		y[j] = math.FMA(c, a[j], y[j])
	}
}

func gram4FMA(a []float64, stride int, c *[4]float64, x, y []float64, z *[4]float64) {
	axpy4FMA(a, stride, c, y)
	dot4FMA(a[4*stride:], stride, x, z)
}

func gram4AVX512(a []float64, stride int, c *[4]float64, x, y []float64, z *[4]float64) {
	gram4FMA(a, stride, c, x, y, z)
}

func dot4x4AVX512(a []float64, stride int, x01, x23 []float64, acc *[64]float64) {
	n := len(x01) / 2
	for q, x := range [2][]float64{x01, x23[:2*n]} {
		for r := range 4 {
			row := a[r*stride : r*stride+n]
			for v := range 2 {
				lanes := acc[32*q+8*r+4*v : 32*q+8*r+4*v+4]
				for j := 0; j+4 <= n; j += 4 {
					for l := range lanes {
						lanes[l] = math.FMA(row[j+l], x[2*j+4*v+l], lanes[l])
					}
				}
			}
		}
	}
}

func axpy4x2AVX512(a []float64, stride int, c *[8]float64, y0, y1 []float64) {
	axpy4x2FMA(a, stride, c, y0, y1)
}

func dot4x2FMA(a []float64, stride int, x0, x1 []float64, acc *[32]float64) {
	n := len(x0)
	x1 = x1[:n]
	for r := range 4 {
		row := a[r*stride : r*stride+n]
		for v, x := range [2][]float64{x0, x1} {
			lanes := acc[4*(2*r+v) : 4*(2*r+v)+4]
			for j := 0; j+4 <= n; j += 4 {
				for l := range lanes {
					lanes[l] = math.FMA(row[j+l], x[j+l], lanes[l])
				}
			}
		}
	}
}

func axpy4x2FMA(a []float64, stride int, c *[8]float64, y0, y1 []float64) {
	axpy4FMA(a, stride, (*[4]float64)(c[0:4]), y0)
	axpy4FMA(a, stride, (*[4]float64)(c[4:8]), y1[:len(y0)])
}
