package hypergrad_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// ExampleAID computes the hypergradient of per-feature ridge regression with
// AID-CG and compares it with the exact reference.
func ExampleAID() {
	opts := data.DefaultSynthOptions() // n = 1000 training rows, d = 100 features, κ ≈ 100
	s, err := data.SynthRidge(opts)
	if err != nil {
		log.Fatal(err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, err := problems.NewRidge(b, s)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	aid := &hypergrad.AID{
		Inner:     hypergrad.HeavyBall{},         // steps from μ and L of the problem
		Linear:    hypergrad.ConjugateGradient{}, // AID-CG
		T:         1000,                          // inner budget
		K:         200,                           // linear budget
		TolInner:  1e-12,                         // stop when ‖∇_w g‖ ≤ 1e-12
		TolLinear: 1e-12,                         // stop when ‖A q − ∇_wE‖ ≤ 1e-12
	}
	res, err := aid.Estimate(context.Background(), p, nil)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := p.Reference()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Method, res.Status)
	fmt.Println("hypergradient length:", len(res.Hypergradient))
	fmt.Println("within 1e-10 of the exact hypergradient:", bileveltest.RelErr(res.Hypergradient, ref.Hypergradient) <= 1e-10)
	// Output:
	// aid-cg(hb) converged
	// hypergradient length: 100
	// within 1e-10 of the exact hypergradient: true
}

// ExampleITD differentiates through 50 gradient-descent steps, back-propagating
// through the last 20 only (truncated ITD).
func ExampleITD() {
	s, err := data.SynthLogreg(data.DefaultSynthOptions())
	if err != nil {
		log.Fatal(err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, err := problems.NewLogreg(b, s)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	itd := &hypergrad.ITD{Inner: hypergrad.GradientDescent{}, T: 50, Truncate: 20}
	res, err := itd.Estimate(context.Background(), p, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Method, res.InnerIters, res.LinearIters)
	fmt.Println("oracle calls:", res.Counts.Oracles())
	// Output:
	// titd20(gd) 50 20
	// oracle calls: 91
}

// ExampleNewton is the fastest way to an accurate hypergradient of logistic
// regression with ill-scaled features: inexact Newton steps for the inner
// problem and conjugate gradients preconditioned with diag(A) for the
// adjoint, each to a tolerance, with the certified error bound.
func ExampleNewton() {
	opts := data.DefaultSynthOptions()
	opts.Kappa = 1e3 // feature scales spread over a factor √1000
	s, err := data.SynthLogreg(opts)
	if err != nil {
		log.Fatal(err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, err := problems.NewLogreg(b, s)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	aid := &hypergrad.AID{
		Inner:     hypergrad.Newton{},                        // no step size needed
		Linear:    hypergrad.ConjugateGradient{Jacobi: true}, // AID-PCG
		T:         50,                                        // Newton steps at most
		K:         500,                                       // PCG iterations at most
		TolInner:  1e-12,                                     // ‖∇_w g‖
		TolLinear: 1e-12,                                     // ‖A q − ∇_wE‖
	}
	res, err := aid.Estimate(context.Background(), p, nil)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := p.Reference()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Method, res.Status)
	fmt.Println("Newton steps ≤ 15:", res.InnerIters <= 15)
	fmt.Println("within 1e-8 of the exact hypergradient:", bileveltest.RelErr(res.Hypergradient, ref.Hypergradient) <= 1e-8)
	fmt.Println("bound holds:", bileveltest.Norm(sub(res.Hypergradient, ref.Hypergradient)) <= res.Bound.Value)
	// Output:
	// aid-pcg(newton) converged
	// Newton steps ≤ 15: true
	// within 1e-8 of the exact hypergradient: true
	// bound holds: true
}
