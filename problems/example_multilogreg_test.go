package problems_test

import (
	"fmt"
	"log"
	"math"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/problems"
)

// ExampleNewMultilogreg builds a small sparse multinomial logistic
// regression with one regularisation weight per feature and computes its
// exact hypergradient.
func ExampleNewMultilogreg() {
	s, err := data.SynthMulticlass(data.MulticlassOptions{N: 200, M: 100, D: 40, C: 4, Density: 0.25, Lambda: 1, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, err := problems.NewMultilogreg(b, s)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ref, err := p.Reference()
	if err != nil {
		log.Fatal(err)
	}
	var sq float64
	for _, g := range ref.Hypergradient {
		sq += g * g
	}
	fmt.Printf("w ∈ R^%d, λ ∈ R^%d\n", p.InnerDim(), p.HyperDim())
	fmt.Printf("‖∇f(λ)‖ = %.3g, ‖∇g(w*)‖ < 1e-14: %v\n", math.Sqrt(sq), ref.InnerGradNorm < 1e-14)
	fmt.Println(ref.Method)
	// Output:
	// w ∈ R^160, λ ∈ R^40
	// ‖∇f(λ)‖ = 0.0358, ‖∇g(w*)‖ < 1e-14: true
	// damped Newton with the dense 160×160 Hessian (Cholesky) on the host, then a dense solve for q
}
