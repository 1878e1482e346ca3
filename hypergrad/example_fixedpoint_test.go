package hypergrad_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// tanhMap is a user-defined fixed-point lower level, written on the backend
// operations: Φ(w, λ) = tanh(M w + U λ), a contraction when ‖M‖₂ < 1 (tanh is
// 1-Lipschitz), with the outer objective E(w) = ½‖w − y‖². With
// D = diag(tanh′(M w + U λ)) at the linearization point,
//
//	∂_wΦ = D M (not symmetric),   ∂_λΦ = D U,   ∇_wE = w − y,   ∇_λE = 0.
type tanhMap struct {
	b            backend.Backend
	m, u         backend.Matrix // d×d and d×h
	y, lam       backend.Vector
	deriv, tmp   backend.Vector // tanh′ at the linearization point; scratch
	lamH         []float64
	linearized   bool
	errNotLinear error
}

func (p *tanhMap) Backend() backend.Backend { return p.b }
func (p *tanhMap) InnerDim() int            { return p.y.Len() }
func (p *tanhMap) HyperDim() int            { return p.lam.Len() }
func (p *tanhMap) Hyper(dst []float64)      { copy(dst, p.lamH) }
func (p *tanhMap) SetHyper(lambda []float64) error {
	copy(p.lamH, lambda)
	p.b.Upload(p.lam, lambda)
	p.linearized = false
	return p.b.Err()
}

// preact sets dst ← M w + U λ.
func (p *tanhMap) preact(dst, w backend.Vector) {
	p.b.MulVec(dst, 1, p.m, w, 0)
	p.b.MulVec(dst, 1, p.u, p.lam, 1)
}

func (p *tanhMap) Map(dst, w backend.Vector) error {
	p.preact(dst, w)
	p.b.Map(dst, backend.Tanh, 0, dst)
	return p.b.Err()
}

func (p *tanhMap) Linearize(w backend.Vector) error {
	p.preact(p.deriv, w)
	p.b.Map(p.deriv, backend.TanhDeriv, 0, p.deriv)
	p.linearized = true
	return p.b.Err()
}

func (p *tanhMap) JacVec(dst, u backend.Vector) error { // D M u
	if !p.linearized {
		return p.errNotLinear
	}
	p.b.MulVec(dst, 1, p.m, u, 0)
	p.b.MulElem(dst, 1, p.deriv, dst, 0)
	return p.b.Err()
}

func (p *tanhMap) JacTransVec(dst, u backend.Vector) error { // Mᵀ D u
	if !p.linearized {
		return p.errNotLinear
	}
	p.b.MulElem(p.tmp, 1, p.deriv, u, 0)
	p.b.MulVecTrans(dst, 1, p.m, p.tmp, 0)
	return p.b.Err()
}

func (p *tanhMap) HyperJacTransVec(dst, u backend.Vector) error { // Uᵀ D u
	if !p.linearized {
		return p.errNotLinear
	}
	p.b.MulElem(p.tmp, 1, p.deriv, u, 0)
	p.b.MulVecTrans(dst, 1, p.u, p.tmp, 0)
	return p.b.Err()
}

func (p *tanhMap) HyperJacVec(dst, u backend.Vector) error { // D U u
	if !p.linearized {
		return p.errNotLinear
	}
	p.b.MulVec(dst, 1, p.u, u, 0)
	p.b.MulElem(dst, 1, p.deriv, dst, 0)
	return p.b.Err()
}

func (p *tanhMap) OuterValue(w backend.Vector) (float64, error) {
	p.b.Copy(p.tmp, w)
	p.b.Axpy(-1, p.y, p.tmp)
	n := p.b.Nrm2(p.tmp)
	return n * n / 2, p.b.Err()
}

func (p *tanhMap) OuterGrad(dst, w backend.Vector) error {
	p.b.Copy(dst, w)
	p.b.Axpy(-1, p.y, dst)
	return p.b.Err()
}

func (p *tanhMap) OuterHyperGrad(dst, _ backend.Vector) error {
	p.b.Fill(dst, 0)
	return p.b.Err()
}

// newTanhMap builds the problem with d = 6 states and h = 2 hyperparameters:
// M = 0.2 I + 0.6 P (P the cyclic shift, so ‖M‖₂ ≤ 0.8), U and y fixed.
func newTanhMap(b backend.Backend) (*tanhMap, error) {
	const d, h = 6, 2
	m := make([]float64, d*d)
	u := make([]float64, d*h)
	y := make([]float64, d)
	for i := range d {
		m[i*d+i] = 0.2
		m[i*d+(i+1)%d] = 0.6
		u[i*h] = float64(i%3) - 1
		u[i*h+1] = 0.5 + 0.1*float64(i)
		y[i] = 0.3 * float64(i%2)
	}
	p := &tanhMap{b: b, lamH: make([]float64, h), errNotLinear: fmt.Errorf("tanhMap: Linearize first")}
	var err error
	if p.m, err = b.NewDense(d, d, m); err != nil {
		return nil, err
	}
	if p.u, err = b.NewDense(d, h, u); err != nil {
		return nil, err
	}
	vecs := []*backend.Vector{&p.y, &p.deriv, &p.tmp}
	for _, v := range vecs {
		if *v, err = b.NewVector(d); err != nil {
			return nil, err
		}
	}
	if p.lam, err = b.NewVector(h); err != nil {
		return nil, err
	}
	b.Upload(p.y, y)
	return p, p.SetHyper([]float64{0.4, -0.3})
}

var _ bilevel.FixedPoint = (*tanhMap)(nil)

// ExampleFixedPointAID computes the hypergradient of a user-defined
// fixed-point problem (tanhMap above: a few dozen lines on the backend
// operations) with AID-GMRES, and checks it against ITD in forward mode.
func ExampleFixedPointAID() {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	p, err := newTanhMap(b)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	aid := &hypergrad.FixedPointAID{T: 200, K: 50, Solver: krylov.GMRES{}, TolInner: 1e-14, TolLinear: 1e-14}
	ra, err := aid.EstimateFixedPoint(ctx, p, nil)
	if err != nil {
		log.Fatal(err)
	}
	itd := &hypergrad.FixedPointITD{T: ra.InnerIters, Forward: true}
	ri, err := itd.EstimateFixedPoint(ctx, p, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: ∇f = [%.8f %.8f] after %d maps and %d linear iterations (%s)\n",
		ra.Method, ra.Hypergradient[0], ra.Hypergradient[1], ra.InnerIters, ra.LinearIters, ra.Status)
	fmt.Printf("%s: ∇f = [%.8f %.8f]\n", ri.Method, ri.Hypergradient[0], ri.Hypergradient[1])
	// Output:
	// aid-gmres30(fpi): ∇f = [-0.90402844 -4.13064816] after 50 maps and 6 linear iterations (converged)
	// itd-fwd(fpi): ∇f = [-0.90402844 -4.13064816]
}
