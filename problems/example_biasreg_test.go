package problems_test

import (
	"fmt"
	"log"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/problems"
)

// ExampleNewBiasReg builds biased regularisation across 5 tasks of 3
// features (w ∈ R^{5·3}, the shared bias h ∈ R^3), reads its constants, and
// computes the exact hypergradient ∇f(h) = ρ Σ_t q_t, which equals −Bᵀq from
// the backend's CrossVec.
func ExampleNewBiasReg() {
	r, err := data.SynthBiasReg(data.BiasRegOptions{T: 5, N: 20, M: 10, D: 3, Noise: 0.1, Spread: 0.5, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, err := problems.NewBiasReg(b, r)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	tasks, n, m, d := p.Dims()
	fmt.Printf("T=%d n=%d m=%d d=%d: InnerDim %d, HyperDim %d, ρ = %v\n", tasks, n, m, d, p.InnerDim(), p.HyperDim(), p.Rho())

	c, err := p.Constants()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("μ ≥ ρ: %v (%v); L_A = %v, L_B = %v (%v)\n", c.Mu.Value >= p.Rho(), c.Mu.Kind, c.LA.Value, c.LB.Value, c.LB.Kind)

	ref, err := p.Reference()
	if err != nil {
		log.Fatal(err)
	}
	q, err := b.NewVector(p.InnerDim())
	if err != nil {
		log.Fatal(err)
	}
	bq, err := b.NewVector(p.HyperDim())
	if err != nil {
		log.Fatal(err)
	}
	b.Upload(q, ref.V)
	if err := p.Linearize(q); err != nil {
		log.Fatal(err)
	}
	if err := p.CrossVec(bq, q); err != nil {
		log.Fatal(err)
	}
	minusBq := make([]float64, p.HyperDim())
	b.Download(minusBq, bq)
	for j := range minusBq {
		minusBq[j] = -minusBq[j]
	}
	fmt.Printf("∇f(h)  = %.4f\n", ref.Hypergradient)
	fmt.Printf("−Bᵀq   = %.4f\n", minusBq)
	fmt.Printf("‖∇g(w*)‖ < 1e-12: %v\n", ref.InnerGradNorm < 1e-12)
	// Output:
	// T=5 n=20 m=10 d=3: InnerDim 15, HyperDim 3, ρ = 1
	// μ ≥ ρ: true (exact); L_A = 0, L_B = 0 (exact)
	// ∇f(h)  = [0.0621 0.1236 0.0310]
	// −Bᵀq   = [0.0621 0.1236 0.0310]
	// ‖∇g(w*)‖ < 1e-12: true
}
