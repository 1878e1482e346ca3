//go:build cuda || cudaemu

package cuda

import (
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// colReduceRef is hg_colreduce's documented order on the host: for column
// j, group g < 32 adds partial[b·cols + j] for b = g, g+32, g+64, … < nb
// in that order (from 0), the 32 group sums are added by the tree
// sh[g] += sh[g+w] for w = 16, 8, 4, 2, 1, and the result is α·s (β = 0)
// or α·s + β·dst_j, each product rounded.
func colReduceRef(part []float64, nb, cols int, alpha, beta float64, dst []float64) []float64 {
	out := make([]float64, cols)
	for j := range cols {
		var sh [32]float64
		for g := range sh {
			s := 0.0
			for b := g; b < nb; b += 32 {
				s += part[b*cols+j]
			}
			sh[g] = s
		}
		for w := 16; w > 0; w >>= 1 {
			for g := 0; g < w; g++ {
				sh[g] += sh[g+w]
			}
		}
		if beta == 0 {
			out[j] = alpha * sh[0]
		} else {
			out[j] = float64(alpha*sh[0]) + float64(beta*dst[j])
		}
	}
	return out
}

// hostVector returns a new vector of b holding x (the tests' upload).
func hostVector(t testing.TB, b backend.Backend, x []float64) backend.Vector {
	t.Helper()
	v, err := b.NewVector(len(x))
	if err != nil {
		t.Fatal(err)
	}
	b.Upload(v, x)
	return v
}

// TestColReduceOrder: hg_colreduce, which sums the dense pass's per-block
// column sums for GramVec, GLMGrad, MulVecTrans and GramDiag, adds them in
// its documented order, bit for bit, whatever number of loads it keeps in
// flight: block counts below, at and around multiples of its 32 groups and
// of its loads ahead, and the dense pass's grid on 100000 rows (1924). The
// values span 40 binades, so that another order gives other bits.
func TestColReduceOrder(t *testing.T) {
	b := open(t)
	defer b.Close()
	r := backendtest.Rand(11)
	for _, c := range []struct{ nb, cols int }{{1, 3}, {5, 9}, {32, 8}, {33, 1}, {511, 9}, {512, 8}, {513, 17}, {1000, 5}, {1924, 9}} {
		part := backendtest.RandVector(r, c.nb*c.cols)
		for i := range part {
			part[i] = math.Ldexp(part[i], r.IntN(41)-20)
		}
		dst0 := backendtest.RandVector(r, c.cols)
		pv, dv := hostVector(t, b, part), hostVector(t, b, dst0)
		saved := b.part
		b.part = scratch{p: b.v("test", pv).p, n: len(part)}
		for _, ab := range [][2]float64{{1, 0}, {-0.75, 1.5}} {
			b.Upload(dv, dst0)
			if !b.enter("test") {
				t.Fatal(b.Err())
			}
			b.colReduce("test", c.nb, c.cols, ab[0], ab[1], b.v("test", dv).p)
			b.drv.exit()
			got := make([]float64, c.cols)
			b.Download(got, dv)
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			want := colReduceRef(part, c.nb, c.cols, ab[0], ab[1], dst0)
			for j := range want {
				if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
					t.Errorf("nb %d, cols %d, α %v, β %v: column %d is %v, want %v (the documented order)", c.nb, c.cols, ab[0], ab[1], j, got[j], want[j])
				}
			}
		}
		b.part = saved
		b.Free(pv)
		b.Free(dv)
	}
}
