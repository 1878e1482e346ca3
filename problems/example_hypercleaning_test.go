package problems_test

import (
	"fmt"
	"log"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/problems"
)

// ExampleNewHypercleaning builds a data hyper-cleaning problem whose
// training labels are 30% corrupted and computes the exact hypergradient
// at λ = 0 (every example weighted σ(0) = ½): on average it asks to lower
// the weights of the corrupted examples (∇f_i > 0) and to raise those of
// the clean ones.
func ExampleNewHypercleaning() {
	h, err := data.SynthHypercleaning(data.HypercleaningOptions{N: 200, M: 100, P: 5, C: 3, Corrupt: 0.3, Reg: 1e-2, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, err := problems.NewHypercleaning(b, h)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	fmt.Printf("d = (p+1)·c = %d, h = n = %d\n", p.InnerDim(), p.HyperDim())

	ref, err := p.Reference()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("inner problem solved to ‖∇g‖ < 1e-13:", ref.InnerGradNorm < 1e-13)
	var sum [2]float64
	var count [2]int
	for i, g := range ref.Hypergradient {
		k := 0
		if h.Corrupted[i] {
			k = 1
		}
		sum[k] += g
		count[k]++
	}
	fmt.Printf("corrupted rows: %d, mean ∇f_i > 0: %v\n", count[1], sum[1] > 0)
	fmt.Printf("clean rows: %d, mean ∇f_i < 0: %v\n", count[0], sum[0] < 0)
	// Output:
	// d = (p+1)·c = 18, h = n = 200
	// inner problem solved to ‖∇g‖ < 1e-13: true
	// corrupted rows: 60, mean ∇f_i > 0: true
	// clean rows: 140, mean ∇f_i < 0: true
}
