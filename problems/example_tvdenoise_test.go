package problems_test

import (
	"fmt"
	"log"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/problems"
)

// ExampleNewTVDenoise builds smoothed TV denoising of a noisy 1-D signal
// on the CPU backend, reads its constants and computes the exact
// hypergradient ∇f(λ) of the reconstruction error with respect to
// λ = (log α, log ν).
func ExampleNewTVDenoise() {
	d, err := data.SynthTVDenoise(data.TVDenoiseOptions{W: 128, Alpha: 0.2, Nu: 0.05, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, err := problems.NewTVDenoise(b, d)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	c, err := p.Constants()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("d = %d, h = %d, μ = %v (%v), L = %.4f (%v)\n", p.InnerDim(), p.HyperDim(), c.Mu.Value, c.Mu.Kind, c.L.Value, c.L.Kind)

	ref, err := p.Reference()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("‖∇g(x*)‖ < 1e-13: %v\n", ref.InnerGradNorm < 1e-13)
	fmt.Printf("∇f = (%.6f, %.6f)\n", ref.Hypergradient[0], ref.Hypergradient[1])
	// Output:
	// d = 128, h = 2, μ = 1 (exact), L = 16.9976 (bound)
	// ‖∇g(x*)‖ < 1e-13: true
	// ∇f = (-0.030573, 0.022752)
}
