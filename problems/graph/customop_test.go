//go:build !cuda

package graph_test

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/problems/graph"
)

// elemOp is a user-defined elementwise Gorgonia operation x ↦ f(x) whose
// symbolic derivative is built by d(x, grad).
type elemOp struct {
	name string
	f    func(float64) float64
	d    func(x, grad *G.Node) (*G.Node, error)
}

func (op elemOp) Arity() int { return 1 }
func (op elemOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}
func (op elemOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, errors.New("elemOp: no shape")
	}
	return s.Clone(), nil
}
func (op elemOp) Do(vals ...G.Value) (G.Value, error) {
	t, ok := vals[0].(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("elemOp: %T", vals[0])
	}
	x := t.Float64s()
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = op.f(v)
	}
	return tensor.New(tensor.WithShape(t.Shape().Clone()...), tensor.WithBacking(y)), nil
}
func (op elemOp) ReturnsPtr() bool      { return false }
func (op elemOp) CallsExtern() bool     { return false }
func (op elemOp) OverwritesInput() int  { return -1 }
func (op elemOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.name) }
func (op elemOp) String() string        { return op.name }
func (op elemOp) DiffWRT(n int) []bool  { return []bool{true} }
func (op elemOp) Hashcode() uint32      { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (op elemOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	d, err := op.d(in[0], grad)
	return G.Nodes{d}, err
}

// twice is x ↦ 2x with the wrong derivative 3 (its first use is right, its
// derivative is not); square is x ↦ x² with derivative grad ⊙ twice(x).
var (
	twice = elemOp{name: "twice", f: func(x float64) float64 { return 2 * x },
		d: func(_, grad *G.Node) (*G.Node, error) { return G.Mul(grad, G.NewConstant(3.0)) }}
	square = elemOp{name: "mysquare", f: func(x float64) float64 { return x * x },
		d: func(x, grad *G.Node) (*G.Node, error) {
			tx, err := G.ApplyOp(twice, x)
			if err != nil {
				return nil, err
			}
			return G.HadamardProd(grad, tx)
		}}
)

// TestCertificationCatchesWrongHessian: g = ½ Σ mysquare(w) + ½ Σ e^λ w²
// has a right gradient but, through the wrong derivative of twice, a
// Hessian-vector product 1.5v + e^λ ⊙ v instead of v + e^λ ⊙ v; New refuses it
// and names the Hessian-vector product.
func TestCertificationCatchesWrongHessian(t *testing.T) {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	s := cubeSpec(3)
	s.Inner = func(w, lambda *G.Node, _ map[string]*G.Node) (*G.Node, error) {
		sq, err := G.ApplyOp(square, w)
		if err != nil {
			return nil, err
		}
		h := G.Must(G.Mul(G.Must(G.Sum(sq)), G.NewConstant(0.5)))
		return G.Add(h, G.Must(l2(w, lambda)))
	}
	p, err := graph.New(b, s)
	if !errors.Is(err, graph.ErrCertification) || !strings.Contains(err.Error(), "A v") {
		t.Fatalf("New = %v, %v; want ErrCertification naming A v", p, err)
	}
	t.Log(err)

	// The same model with the right derivative of twice is accepted.
	right := twice
	right.name = "twice2"
	right.d = func(_, grad *G.Node) (*G.Node, error) { return G.Mul(grad, G.NewConstant(2.0)) }
	sq := square
	sq.name = "mysquare2"
	sq.d = func(x, grad *G.Node) (*G.Node, error) {
		tx, err := G.ApplyOp(right, x)
		if err != nil {
			return nil, err
		}
		return G.HadamardProd(grad, tx)
	}
	s.Inner = func(w, lambda *G.Node, _ map[string]*G.Node) (*G.Node, error) {
		q, err := G.ApplyOp(sq, w)
		if err != nil {
			return nil, err
		}
		h := G.Must(G.Mul(G.Must(G.Sum(q)), G.NewConstant(0.5)))
		return G.Add(h, G.Must(l2(w, lambda)))
	}
	p, err = graph.New(b, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}
