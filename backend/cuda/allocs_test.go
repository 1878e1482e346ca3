//go:build cuda || cudaemu

package cuda

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// TestNoAllocs checks that no operation allocates Go memory once the scratch
// space has grown: the estimators' iterations must not allocate.
func TestNoAllocs(t *testing.T) {
	b := open(t)
	defer b.Close()
	r := backendtest.Rand(3)
	const rows, cols = 300, 40
	up := func(x []float64) backend.Vector { return newVecOf(t, b, x) }
	x, y, z := up(backendtest.RandVector(r, 1000)), up(backendtest.RandVector(r, 1000)), up(make([]float64, 1000))
	v, dst := up(backendtest.RandVector(r, cols)), up(make([]float64, cols))
	rv, labels, curv := up(backendtest.RandVector(r, rows)), up(backendtest.RandLabels(r, rows)), up(make([]float64, rows))
	host := make([]float64, 1000)
	for _, m := range []*backendtest.HostMatrix{backendtest.RandDense(r, rows, cols), backendtest.RandCSR(r, rows, cols, 0.2)} {
		a, err := m.Upload(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range []struct {
			name string
			do   func()
		}{
			{"Upload", func() { b.Upload(z, host) }},
			{"Download", func() { b.Download(host, y) }},
			{"Copy", func() { b.Copy(z, x) }},
			{"CopyRange", func() { b.CopyRange(z, 1, x, 2, 997) }},
			{"CopyRange/same", func() { b.CopyRange(z, 0, z, 500, 500) }},
			{"Fill", func() { b.Fill(z, 0.5) }},
			{"Scal", func() { b.Scal(1.5, z) }},
			{"Axpy", func() { b.Axpy(0.5, x, z) }},
			{"Axpby", func() { b.Axpby(0.5, x, 0.25, z) }},
			{"MulElem", func() { b.MulElem(z, 0.5, x, y, 0.5) }},
			{"Dot", func() { b.Dot(x, y) }},
			{"Nrm2", func() { b.Nrm2(x) }},
			{"MulVec", func() { b.MulVec(curv, 1, a, v, 0.5) }},
			{"MulVecTrans", func() { b.MulVecTrans(dst, 1, a, rv, 0.5) }},
			{"GramVec", func() { b.GramVec(dst, 1, a, rv, v, 0) }},
			{"GramDiag", func() { b.GramDiag(dst, 1, a, rv, 0) }},
			{"GramDiag nil d", func() { b.GramDiag(dst, 1, a, nil, 0.5) }},
			{"GLMGrad", func() { b.GLMGrad(dst, 1, a, v, labels, backend.Logistic, 0, curv) }},
			{"Sync", func() { b.Sync() }},
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
	// NewVector allocates its vector and nothing else, the same number of
	// times on every call, whatever the allocations before: estimators count
	// on allocations that do not vary with the number of iterations.
	newFree := func() {
		v, err := b.NewVector(100)
		if err != nil {
			t.Fatal(err)
		}
		b.Free(v)
	}
	newFree()
	if n := testing.AllocsPerRun(100, newFree); n != 1 {
		t.Errorf("NewVector and Free: %v allocations per call, want 1", n)
	}
}
