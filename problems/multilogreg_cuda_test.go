//go:build cuda || cudaemu

package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
)

// TestMultilogregCUDA compares every oracle on the CUDA backend (the GPU
// with -tags cuda, the emulator with -tags cudaemu) with the CPU backend's,
// normwise to 1e-12, dense and CSR, with the fused kernels and with the
// core operations; runs the derivative checks there; and checks that the
// matrix-free reference on the device agrees with the dense one on the CPU.
func TestMultilogregCUDA(t *testing.T) {
	for _, z := range mlrZoo(t) {
		t.Run(z.name, func(t *testing.T) {
			g, c := mustMLR(t, newCUDA(t), z.s), mustMLR(t, newCPU(t), z.s)
			if !g.Fused() {
				t.Error("the CUDA backend offers no backend.Multinomial")
			}
			w := mlrScaled(randomPoint(g.InnerDim(), 51), 0.7)
			u, r := randomPoint(g.InnerDim(), 52), randomPoint(g.HyperDim(), 53)
			want := mlrOutputs(t, c, w, u, r)
			mlrCompare(t, "CUDA fused against CPU", mlrOutputs(t, g, w, u, r), want, 1e-12)
			core := mustMLR(t, mlrCoreOnly{newCUDA(t)}, z.s)
			mlrCompare(t, "CUDA core operations against CPU", mlrOutputs(t, core, w, u, r), want, 1e-12)
			bileveltest.CheckOracles(t, g, w, bileveltest.Options{})

			ref, err := c.Reference()
			if err != nil {
				t.Fatal(err)
			}
			g.refDenseMax = 0
			dev, err := g.Reference()
			if err != nil {
				t.Fatal(err)
			}
			if e := bileveltest.RelErr(dev.Hypergradient, ref.Hypergradient); !(e <= 1e-10) {
				t.Errorf("Newton–CG on CUDA against the dense reference: relative error %.3g", e)
			}
		})
	}
}

// TestMultilogregSlotsCUDA runs the linearization-store checks (same bits
// as InnerGrad and Linearize) on the CUDA backend.
func TestMultilogregSlotsCUDA(t *testing.T) { mlrCheckSlots(t, newCUDA) }
