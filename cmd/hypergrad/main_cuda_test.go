//go:build cuda || cudaemu

package main

import "testing"

// TestGradEquilibriumCUDA: hypergrad grad runs the equilibrium problem on the
// CUDA backend (the GPU with -tags cuda, the emulator with -tags cudaemu)
// and agrees with the CPU backend and the exact reference.
func TestGradEquilibriumCUDA(t *testing.T) {
	const src = "synth:n=60,d=4,k=3,c=3,q=0.8,seed=5"
	for _, method := range []string{"aid-gmres", "itd"} {
		cpu := gradEq(t, "-data", src, "-method", method, "-t", "120", "-k", "40")
		gpu := gradEq(t, "-data", src, "-method", method, "-t", "120", "-k", "40", "-backend", "cuda")
		if d := relErr(gpu.Hypergradient, cpu.Hypergradient); !(d <= 1e-12) {
			t.Errorf("%s: CUDA and CPU differ by %.3g relative", method, d)
		}
		if gpu.RelativeError == nil || !(*gpu.RelativeError <= 1e-10) {
			t.Errorf("%s on CUDA: relative error %v against the exact reference", method, gpu.RelativeError)
		}
		// GMRES may stop at its rounding floor one iteration apart on the two
		// backends; the fixed-point iterations are the same.
		if gpu.Counts["maps"] != 120 || cpu.Counts["maps"] != 120 {
			t.Errorf("%s: counts %v on CUDA, %v on the CPU", method, gpu.Counts, cpu.Counts)
		}
	}
}
