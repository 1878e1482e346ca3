//go:build cudaemu && linux && amd64

package emu

import (
	"errors"
	"math"
	"testing"
	"unsafe"
)

func alloc(t *testing.T, x []float64) uint64 {
	t.Helper()
	p, err := Alloc(int64(len(x)) * 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := CopyIn(p, unsafe.Pointer(&x[0]), int64(len(x))*8); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Free(p) })
	return p
}

func kernel(t *testing.T, name string) int {
	t.Helper()
	k, ok := Kernel(name)
	if !ok {
		t.Fatalf("no kernel %s", name)
	}
	return k
}

// TestDot runs the two stages of a dot product in every order.
func TestDot(t *testing.T) {
	if err := Open(); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	x, y := make([]float64, n), make([]float64, n)
	var want float64
	for i := range x {
		x[i], y[i] = float64(i%7)-3, float64(i%5)+0.5
		want += x[i] * y[i]
	}
	px, py := alloc(t, x), alloc(t, y)
	part := alloc(t, make([]float64, 8))
	out := alloc(t, make([]float64, 2))
	for _, o := range []Order{Forward, Reverse, Shuffled} {
		SetOrder(o, 7)
		if err := Launch(kernel(t, "hg_dot_partial"), 8, 256, []uint64{n, px, py, part}); err != nil {
			t.Fatal(err)
		}
		if err := Launch(kernel(t, "hg_sum_final"), 1, 256, []uint64{8, part, 0, out}); err != nil {
			t.Fatal(err)
		}
		got := make([]float64, 2)
		if err := CopyOut(unsafe.Pointer(&got[0]), out, 16); err != nil {
			t.Fatal(err)
		}
		if math.Abs(got[0]-want) > 1e-9 {
			t.Errorf("order %d: dot %v, want %v", o, got[0], want)
		}
	}
	SetOrder(Shuffled, 0)
}

func TestErrors(t *testing.T) {
	if err := Open(); err != nil {
		t.Fatal(err)
	}
	k := kernel(t, "hg_fill")
	if err := Launch(k, 1, 256, []uint64{1, 2}); err == nil {
		t.Error("launch with 2 of 3 arguments: no error")
	}
	if err := Launch(k, 0, 256, []uint64{1, 2, 3}); err == nil {
		t.Error("launch of 0 blocks: no error")
	}
	free, total := MemInfo()
	if _, err := Alloc(total + 1); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("Alloc beyond %d bytes (%d free): %v", total, free, err)
	}
	p := alloc(t, []float64{1, 2})
	if err := CopyIn(p+8, unsafe.Pointer(&[]float64{1, 2}[0]), 16); err == nil {
		t.Error("copy past the end of an allocation: no error")
	}
	if len(KernelNames()) == 0 {
		t.Error("no kernels")
	}
}
