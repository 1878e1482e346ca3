//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// TestOutOfMemory asks for more memory than the device has and checks the
// error, then that the backend still works.
func TestOutOfMemory(t *testing.T) {
	b := open(t)
	defer b.Close()
	x := newVecOf(t, b, []float64{1, 2, 3})
	_, total, err := b.MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	n := int(total/8) + 1<<20
	v, err := b.NewVector(n)
	if !errors.Is(err, backend.ErrOutOfMemory) {
		t.Fatalf("NewVector(%d) on a device of %d bytes: vector %v, error %v; want ErrOutOfMemory", n, total, v, err)
	}
	var oe *backend.OpError
	if !errors.As(err, &oe) || oe.Op != "NewVector" || oe.Backend != "cuda" {
		t.Errorf("error %v does not name cuda and NewVector", err)
	}
	t.Logf("NewVector(%d): %v", n, err)
	if _, err := b.NewVector(math.MaxInt64/8 + 1); !errors.Is(err, backend.ErrOutOfMemory) {
		t.Errorf("NewVector(MaxInt64/8+1): %v, want ErrOutOfMemory", err)
	}
	if err := b.Err(); err != nil {
		t.Fatalf("a failed allocation recorded %v (allocations report errors directly)", err)
	}
	// The backend still works.
	y := newVecOf(t, b, []float64{-1, 0.5, 4})
	b.Axpy(2, x, y)
	if d := b.Dot(x, y); d != 1*1+2*4.5+3*10 || b.Err() != nil {
		t.Errorf("after the failed allocation: Dot = %v, error %v", d, b.Err())
	}
	big, err := b.NewVector(1 << 20)
	if err != nil {
		t.Fatalf("NewVector(2^20) after the failed allocation: %v", err)
	}
	b.Fill(big, 2)
	if nrm := b.Nrm2(big); nrm != 2*1024 || b.Err() != nil {
		t.Errorf("Nrm2 = %v, error %v", nrm, b.Err())
	}
}

// TestCloseFreesMemory checks with the device's free memory (cuMemGetInfo)
// that Close returns every byte a backend allocated: vectors, matrices,
// scratch space and the kernels' modules.
func TestCloseFreesMemory(t *testing.T) {
	observer := open(t) // keeps the primary context alive and measures
	defer observer.Close()
	free0, _, err := observer.MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	b := open(t)
	const n = 1 << 25 // 256 MiB of vectors
	var held int64
	for range 4 {
		v, err := b.NewVector(n / 4)
		if err != nil {
			t.Fatal(err)
		}
		b.Fill(v, 1)
		held += n / 4 * 8
	}
	r := backendtest.Rand(1)
	dm, err := backendtest.RandDense(r, 3000, 1500).Upload(b)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := backendtest.RandCSR(r, 20000, 3000, 0.01).Upload(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []backend.Matrix{dm, sm} {
		rows, cols := a.Dims()
		v, _ := b.NewVector(cols)
		dst, _ := b.NewVector(cols)
		wts, _ := b.NewVector(rows)
		curv, _ := b.NewVector(rows)
		b.Fill(v, 1)
		b.Fill(wts, 0.5)
		b.GramVec(dst, 1, a, wts, v, 0) // grows the scratch space
		b.GLMGrad(dst, 1, a, v, wts, backend.Squared, 0, curv)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if b.Allocated() < held {
		t.Errorf("Allocated() = %d with %d bytes of vectors live", b.Allocated(), held)
	}
	free1, _, _ := observer.MemInfo()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	free2, _, err := observer.MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("free memory: %d before, %d with the second backend, %d after Close", free0, free1, free2)
	if free0-free1 < held {
		t.Errorf("free memory fell by %d bytes while %d were allocated", free0-free1, held)
	}
	// A slack of 8 MiB for the driver's bookkeeping; a leak of any buffer
	// of the test would be larger.
	if free2 < free0-8<<20 {
		t.Errorf("free memory %d after Close, %d before the backend was opened: %d bytes not returned", free2, free0, free0-free2)
	}
	if b.Allocated() != 0 {
		t.Errorf("Allocated() = %d after Close", b.Allocated())
	}
	if _, err := b.NewVector(1); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("NewVector after Close: %v, want ErrClosed", err)
	}
	b.FreeMatrix(dm) // after Close: no-ops
	b.FreeMatrix(sm)
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestFreeReturnsMemory checks that Free and FreeMatrix return device memory
// at once.
func TestFreeReturnsMemory(t *testing.T) {
	b := open(t)
	defer b.Close()
	free0, _, _ := b.MemInfo()
	v, err := b.NewVector(1 << 25)
	if err != nil {
		t.Fatal(err)
	}
	free1, _, _ := b.MemInfo()
	b.Free(v)
	free2, _, _ := b.MemInfo()
	if free0-free1 < 1<<28 || free2 < free0-4<<20 {
		t.Errorf("free memory %d, %d with 256 MiB allocated, %d after Free", free0, free1, free2)
	}
	if err := b.Err(); err != nil {
		t.Error(err)
	}
}

func newVecOf(t *testing.T, b backend.Backend, x []float64) backend.Vector {
	t.Helper()
	v, err := b.NewVector(len(x))
	if err != nil {
		t.Fatal(err)
	}
	b.Upload(v, x)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRegistered checks that the package registers "cuda", and "cuda-f32"
// with dense matrices in float32.
func TestRegistered(t *testing.T) {
	for _, name := range []string{"cuda", "cuda-f32"} {
		b, err := backend.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		if b.Name() != "cuda" || b.Device() == "" {
			t.Errorf("Open(%s): name %q, device %q", name, b.Name(), b.Device())
		}
		m, err := b.NewDense(2, 3, make([]float64, 6))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int64{"cuda": 48, "cuda-f32": 24}[name]; m.Bytes() != want {
			t.Errorf("Open(%s): a 2×3 dense matrix takes %d bytes, want %d", name, m.Bytes(), want)
		}
		t.Log(b.Device())
		b.Close()
	}
}

// TestLaunchConfig checks the launch configurations that fix the reduction
// orders: functions of the shapes alone, within the limits of the scratch
// buffers.
func TestLaunchConfig(t *testing.T) {
	for _, rows := range []int{0, 1, 31, 32, 33, 1000, 32768, 32769, 100003, 1 << 26} {
		rpb, g := denseGrid(rows)
		if rpb%denseTileRows != 0 || rpb < denseMinRows || g < 1 || g > maxDenseGrid || (rows > 0 && (g-1)*rpb >= rows) || g*rpb < rows {
			t.Errorf("denseGrid(%d) = %d rows per block, %d blocks", rows, rpb, g)
		}
	}
	for _, n := range []int{1, 1023, 1024, 1025, 1 << 30} {
		if g := reduceGrid(n); g < 1 || g > maxReduceGrid {
			t.Errorf("reduceGrid(%d) = %d", n, g)
		}
	}
	for _, c := range []struct{ nnz, segs, want int }{{0, 0, 1}, {0, 5, 1}, {5, 5, 1}, {6, 5, 2}, {100, 5, 32}, {1e6, 5, 32}, {33, 1, 32}, {17, 1, 32}, {16, 1, 16}} {
		if w := segWidth(c.nnz, c.segs); w != c.want {
			t.Errorf("segWidth(%d, %d) = %d, want %d", c.nnz, c.segs, w, c.want)
		}
	}
	for _, w := range []int{1, 2, 32} {
		for _, n := range []int{1, 255, 1 << 20} {
			if g := segGrid(n, w); g < 1 || g > maxSegGrid {
				t.Errorf("segGrid(%d, %d) = %d", n, w, g)
			}
		}
	}
}
