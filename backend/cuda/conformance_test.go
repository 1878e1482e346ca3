//go:build cuda || cudaemu

package cuda

import (
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
	"github.com/hypergrad-go/hypergrad/kernels"
)

// open opens a backend on the first GPU (or the emulator) or fails t.
func open(t testing.TB) *Backend {
	t.Helper()
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return open(t) })
}

// TestKernelsInPTX checks that every kernel the backend launches is an
// entry of the embedded PTX (the emulator compiles the sources instead, so
// this is the check that the GPU build will find them).
func TestKernelsInPTX(t *testing.T) {
	for _, name := range kernelNames {
		found := false
		for _, ptx := range kernels.PTX {
			if strings.Contains(ptx, ".entry "+name+"(") {
				found = true
			}
		}
		if !found {
			t.Errorf("kernel %s is in no PTX module", name)
		}
	}
}
