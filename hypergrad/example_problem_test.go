package hypergrad_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"slices"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// shrink is a problem written from scratch on the public API: denoising a
// vector a by per-coordinate shrinkage towards 0, with the weights learned
// against a clean vector c,
//
//	g(w, λ) = ½‖w − a‖² + ½ Σ_j e^{λ_j} w_j²,   E(w) = ½‖w − c‖²,
//	A = I + diag(e^λ),   B(w) = diag(e^λ ⊙ w),   w* = a ⊘ (1 + e^λ).
//
// Every oracle runs on backend vectors; the work vectors are allocated once.
type shrink struct {
	b         backend.Backend
	a, c, el  backend.Vector // the data and e^λ
	w, tmp    backend.Vector // the linearization point and a work vector
	lam, elam []float64      // λ and e^λ on the host
}

func newShrink(b backend.Backend, a, c, lambda []float64) (*shrink, error) {
	p := &shrink{b: b}
	for _, v := range []*backend.Vector{&p.a, &p.c, &p.el, &p.w, &p.tmp} {
		var err error
		if *v, err = b.NewVector(len(a)); err != nil {
			return nil, err
		}
	}
	b.Upload(p.a, a)
	b.Upload(p.c, c)
	return p, p.SetHyper(lambda)
}

func (p *shrink) Backend() backend.Backend { return p.b }
func (p *shrink) InnerDim() int            { return p.a.Len() }
func (p *shrink) HyperDim() int            { return p.a.Len() }
func (p *shrink) Hyper(dst []float64)      { copy(dst, p.lam) }

func (p *shrink) SetHyper(lambda []float64) error {
	if len(lambda) != p.a.Len() {
		return fmt.Errorf("shrink: λ has length %d, want %d", len(lambda), p.a.Len())
	}
	p.lam = slices.Clone(lambda)
	p.elam = make([]float64, len(lambda))
	for j, l := range lambda {
		p.elam[j] = math.Exp(l)
	}
	p.b.Upload(p.el, p.elam)
	return p.b.Err()
}

// InnerValue is g(w) = ½‖w − a‖² + ½ Σ e^λ w².
func (p *shrink) InnerValue(w backend.Vector) (float64, error) {
	b := p.b
	b.Copy(p.tmp, w)
	b.Axpy(-1, p.a, p.tmp)
	fit := b.Dot(p.tmp, p.tmp)
	b.MulElem(p.tmp, 1, p.el, w, 0)
	return 0.5*fit + 0.5*b.Dot(p.tmp, w), b.Err()
}

// InnerGrad is ∇g = w − a + e^λ ⊙ w.
func (p *shrink) InnerGrad(dst, w backend.Vector) error {
	b := p.b
	b.MulElem(dst, 1, p.el, w, 0)
	b.Axpy(1, w, dst)
	b.Axpy(-1, p.a, dst)
	return b.Err()
}

func (p *shrink) Linearize(w backend.Vector) error { p.b.Copy(p.w, w); return p.b.Err() }

// HessVec is A v = v + e^λ ⊙ v (A does not depend on w).
func (p *shrink) HessVec(dst, v backend.Vector) error {
	p.b.MulElem(dst, 1, p.el, v, 0)
	p.b.Axpy(1, v, dst)
	return p.b.Err()
}

// CrossVec is B(w)ᵀv = e^λ ⊙ w ⊙ v at the linearization point.
func (p *shrink) CrossVec(dst, v backend.Vector) error {
	p.b.MulElem(dst, 1, p.el, p.w, 0)
	p.b.MulElem(dst, 1, dst, v, 0)
	return p.b.Err()
}

func (p *shrink) OuterValue(w backend.Vector) (float64, error) {
	p.b.Copy(p.tmp, w)
	p.b.Axpy(-1, p.c, p.tmp)
	return 0.5 * p.b.Dot(p.tmp, p.tmp), p.b.Err()
}

func (p *shrink) OuterGrad(dst, w backend.Vector) error {
	p.b.Copy(dst, w)
	p.b.Axpy(-1, p.c, dst)
	return p.b.Err()
}

func (p *shrink) OuterHyperGrad(dst, _ backend.Vector) error { p.b.Fill(dst, 0); return p.b.Err() }

// CrossNorm is ‖B(w)‖₂ = max_j e^{λ_j}|w_j| (bilevel.CrossNormer: without
// it AID can give no certified bound).
func (p *shrink) CrossNorm(w backend.Vector) (bilevel.Constant, error) {
	host := make([]float64, w.Len())
	p.b.Download(host, w)
	var m float64
	for j, v := range host {
		m = math.Max(m, p.elam[j]*math.Abs(v))
	}
	return bilevel.Constant{Value: m, Kind: bilevel.Exact}, p.b.Err()
}

// Constants are exact: A = I + diag(e^λ) for every w, ∇E has Lipschitz
// constant 1, A does not vary with w, B(w) − B(w') = diag(e^λ ⊙ (w − w')).
func (p *shrink) Constants() (bilevel.Constants, error) {
	exact := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Exact} }
	return bilevel.Constants{
		Mu: exact(1 + slices.Min(p.elam)), L: exact(1 + slices.Max(p.elam)),
		Lf: exact(1), LA: exact(0), LB: exact(slices.Max(p.elam)), LEl: exact(0),
	}, nil
}

// Example_ownProblem implements bilevel.Problem from scratch (the type
// shrink above: values, gradients, Hessian-vector and cross products on
// backend vectors, and exact constants), and compares AID's hypergradient
// with the closed form ∇f = −e^λ ⊙ w* ⊙ q, q = (w* − c) ⊘ (1 + e^λ).
func Example_ownProblem() {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	a := []float64{1, -2, 0.5, 3}
	c := []float64{0.8, -1, 0, 2.5}
	lam := []float64{0, -1, 1, -2}
	p, err := newShrink(b, a, c, lam)
	if err != nil {
		log.Fatal(err)
	}
	res, err := (&hypergrad.AID{T: 200, K: 50, TolInner: 1e-14, TolLinear: 1e-14}).Estimate(context.Background(), p, nil)
	if err != nil {
		log.Fatal(err)
	}
	for j := range a {
		e := math.Exp(lam[j])
		w := a[j] / (1 + e)
		q := (w - c[j]) / (1 + e)
		fmt.Printf("λ_%d: AID %+.6f, closed form %+.6f\n", j, res.Hypergradient[j], -e*w*q)
	}
	fmt.Println(res.Status, "bound", res.Bound.Kind)
	// Output:
	// λ_0: AID +0.075000, closed form +0.075000
	// λ_1: AID -0.181715, closed form -0.181715
	// λ_2: AID -0.013219, closed form -0.013219
	// λ_3: AID -0.044850, closed form -0.044850
	// converged bound certified
}

// ExampleMinimizer learns the four shrinkage weights of the problem above
// by MAID (inexact hypergradients whose accuracy adapts to the progress, a
// backtracking line search on inexact values, warm starts), starting from
// λ = 0, and compares the final validation loss with the initial one.
func ExampleMinimizer() {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	a := []float64{1, -2, 0.5, 3}
	c := []float64{0.8, -1, 0, 2.5}
	p, err := newShrink(b, a, c, make([]float64, 4))
	if err != nil {
		log.Fatal(err)
	}
	loss := func(lam []float64) float64 { // E(w*(λ)) in closed form
		var s float64
		for j := range a {
			d := a[j]/(1+math.Exp(lam[j])) - c[j]
			s += d * d / 2
		}
		return s
	}
	res, err := (&hypergrad.Minimizer{Budget: 20000}).Minimize(context.Background(), p, make([]float64, 4))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("validation loss %.4f → %.4f\n", loss(make([]float64, 4)), loss(res.Lambda))
	fmt.Println("stopped:", res.Status)
	// Output:
	// validation loss 0.5763 → 0.0001
	// stopped: budget
}
