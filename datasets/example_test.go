package datasets_test

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/floats"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// Example: the hypergradient of the digits validation loss with respect to
// the 64 per-pixel regularisation weights of multinomial logistic
// regression, by AID with heavy-ball inner steps and conjugate gradients,
// checked against the exact reference.
func Example() {
	d, err := data.Load("multilogreg", "multilogreg-digits.npz")
	if err != nil {
		panic(err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, shape, err := problems.New(b, "multilogreg", d)
	if err != nil {
		panic(err)
	}
	defer p.Close()
	res, err := (&hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 3000, K: 1000, TolInner: 1e-13, TolLinear: 1e-13}).Estimate(context.Background(), p, nil)
	if err != nil {
		panic(err)
	}
	ref, err := p.Reference()
	if err != nil {
		panic(err)
	}
	rel := floats.Distance(res.Hypergradient, ref.Hypergradient, 2) / floats.Norm(ref.Hypergradient, 2)
	fmt.Println(shape)
	fmt.Printf("status %v, relative error below 1e-10: %v, bound %v\n", res.Status, rel < 1e-10, res.Bound.Kind)
	fmt.Printf("‖∇f‖ = %.2e\n", floats.Norm(ref.Hypergradient, 2))
	// Output:
	// n=1198, m=599, d=64, c=10, inner 640, h=64
	// status converged, relative error below 1e-10: true, bound certified
	// ‖∇f‖ = 1.10e-02
}
