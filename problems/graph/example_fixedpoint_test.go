//go:build !cuda

package graph_test

import (
	"context"
	"fmt"
	"log"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/krylov"
	"github.com/hypergrad-go/hypergrad/problems"
	"github.com/hypergrad-go/hypergrad/problems/graph"
)

// ExampleNewFixedPoint writes a small equilibrium model (an RNN-style
// fixed point, Grazzi et al. 2020, §3.2) as Gorgonia graphs,
//
//	S = Φ(S, λ) = tanh(S A + X B + 1 bias),   S N×k,
//	E(S, λ) = 1/N Σ_i [log Σ_c exp(L_ic) − L_{i,y_i}],   L = S Wo + 1 bo,
//
// with λ = (A, B, bias, Wo, bo) as five matrix blocks and S a matrix node,
// and computes its hypergradient by fixed-point AID (GMRES), matching the
// built-in problems.Equilibrium on the same data. The log-sum-exp has no
// max shift (Gorgonia's Max has wrong derivatives): fine for O(1) logits.
func ExampleNewFixedPoint() {
	e, err := data.SynthEquilibrium(data.EquilibriumOptions{N: 20, P: 3, K: 3, C: 2, Q: 0.8, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	n, p, k, c := e.Dims()
	onehot := make([]float64, n*c)
	for i, y := range e.Y {
		onehot[i*c+y] = 1
	}
	ones := func(shape ...int) *tensor.Dense {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = 1
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
	}
	x := e.X.ToDense()
	spec := graph.FixedPointSpec{
		Rows: n, Cols: k, // the state S, built as an N×k matrix node
		Hyper: []graph.HyperBlock{
			{Name: "A", Rows: k, Cols: k}, {Name: "B", Rows: p, Cols: k}, {Name: "bias", Rows: 1, Cols: k},
			{Name: "Wo", Rows: k, Cols: c}, {Name: "bo", Rows: 1, Cols: c},
		},
		Lambda: e.Lambda(),
		Data: map[string]*tensor.Dense{
			"X": tensor.New(tensor.WithShape(n, p), tensor.WithBacking(x.Data)),
			"Y": tensor.New(tensor.WithShape(n, c), tensor.WithBacking(onehot)),
			"1": ones(n, 1), "1C": ones(c),
		},
		Map: func(s *G.Node, l, d map[string]*G.Node) (*G.Node, error) {
			z := G.Must(G.Add(G.Must(G.Mul(s, l["A"])), G.Must(G.Mul(d["X"], l["B"]))))
			return G.Tanh(G.Must(G.Add(z, G.Must(G.Mul(d["1"], l["bias"])))))
		},
		Outer: func(s *G.Node, l, d map[string]*G.Node) (*G.Node, error) {
			logits := G.Must(G.Add(G.Must(G.Mul(s, l["Wo"])), G.Must(G.Mul(d["1"], l["bo"]))))
			lse := G.Must(G.Log(G.Must(G.Mul(G.Must(G.Exp(logits)), d["1C"]))))
			picked := G.Must(G.Sum(G.Must(G.HadamardProd(d["Y"], logits))))
			return G.Mul(G.Must(G.Sub(G.Must(G.Sum(lse)), picked)), G.NewConstant(1/float64(n)))
		},
	}
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	gp, err := graph.NewFixedPoint(b, spec)
	if err != nil {
		log.Fatal(err)
	}
	defer gp.Close()
	aid := &hypergrad.FixedPointAID{Solver: krylov.GMRES{}, T: 200, K: 200, TolInner: 1e-14, TolLinear: 1e-14}
	res, err := aid.EstimateFixedPoint(context.Background(), gp, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("∂f/∂A row 1: %.4f\n", res.Hypergradient[:k])
	fmt.Printf("∂f/∂bo: %.4f\n", res.Hypergradient[len(res.Hypergradient)-c:])

	ref, err := problems.NewEquilibrium(b, e)
	if err != nil {
		log.Fatal(err)
	}
	defer ref.Close()
	want, err := aid.EstimateFixedPoint(context.Background(), ref, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("agrees with problems.Equilibrium to 1e-12:", bileveltest.RelErr(res.Hypergradient, want.Hypergradient) < 1e-12)
	// Output:
	// ∂f/∂A row 1: [0.0063 0.0470 0.0145]
	// ∂f/∂bo: [0.0186 -0.0186]
	// agrees with problems.Equilibrium to 1e-12: true
}
