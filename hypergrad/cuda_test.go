//go:build cuda || cudaemu

package hypergrad_test

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cuda"
)

// With -tags cuda the estimator tests of this package run on the GPU (and
// with -tags cudaemu on the CPU emulator of backend/cuda): newBackend, which
// every test uses, opens the CUDA backend instead of the CPU one.
func init() {
	newBackend = func(t testing.TB) backend.Backend {
		b, err := cuda.New(cuda.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
}
