//go:build !cuda

package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// certify compares every graph derivative with 4-point central finite
// differences of the graph values at a seeded random point (see New).
func (p *Problem) certify() error {
	rng := rand.New(rand.NewPCG(p.spec.Seed, 0x6772617068))
	d, h := p.d, p.h
	w0 := make([]float64, d)
	s := 1 / math.Sqrt(float64(d))
	for i := range w0 {
		w0[i] = s * rng.NormFloat64()
	}
	u := unit(rng, d)
	v := unit(rng, d)
	r := unit(rng, h)
	lam0 := append([]float64(nil), p.lambda...)
	defer copy(p.lambda, lam0)

	epsW := 1e-3 * math.Max(1, norm(w0))
	epsL := 1e-3 * math.Max(1, norm(lam0))
	at := func(x0, dir []float64, t float64, x []float64) {
		for i := range x {
			x[i] = x0[i] + t*dir[i]
		}
	}
	// noise is the rounding noise of the last fd4: its weights sum to 18/12,
	// each value carries a relative error of a few ϵ_mach, so the difference
	// is uncertain by about ϵ_mach·max‖F‖/ε; 100 times that is accepted on
	// top of the relative tolerance (it matters only where the derivative is
	// zero or tiny, such as B when ∇_w g does not depend on λ).
	var noise float64
	// fd4 returns the 4-point central difference of the vector function f
	// (output len n) along dir from x0, with x the argument f reads.
	fd4 := func(n int, x0, dir, x []float64, eps float64, f func(out []float64) error) ([]float64, error) {
		out := make([]float64, n)
		tmp := make([]float64, n)
		maxF := 0.0
		for _, c := range [...]struct{ t, wgt float64 }{{-2, 1}, {-1, -8}, {1, 8}, {2, -1}} {
			at(x0, dir, c.t*eps, x)
			if err := f(tmp); err != nil {
				return nil, err
			}
			maxF = math.Max(maxF, norm(tmp))
			for i := range out {
				out[i] += c.wgt * tmp[i]
			}
		}
		copy(x, x0)
		for i := range out {
			out[i] /= 12 * eps
		}
		noise = 100 * 0x1p-52 * maxF / eps
		return out, nil
	}
	x := make([]float64, d)
	scalarInner := func(out []float64) (err error) { out[0], err = p.innerValueHost(x); return err }
	scalarOuter := func(out []float64) error {
		if err := p.runAt(p.outer, x); err != nil {
			return err
		}
		var err error
		out[0], err = p.outer.scalarValue()
		return err
	}
	gradInner := func(out []float64) error { return p.innerGradHost(out, x) }
	gradOuter := func(out []float64) error {
		if err := p.runAt(p.outer, x); err != nil {
			return err
		}
		return p.outer.vector(0, out)
	}
	check := func(what string, exact, fd []float64, scale float64) error {
		diff := 0.0
		for i := range exact {
			diff = math.Hypot(diff, exact[i]-fd[i])
		}
		scale = math.Max(scale, math.Max(norm(exact), norm(fd)))
		if diff > p.spec.CertTol*scale+noise || math.IsNaN(diff) {
			return fmt.Errorf("%w: %s: |graph − finite difference| = %.3g, %.3g relative (tolerance %.3g)",
				ErrCertification, what, diff, diff/scale, p.spec.CertTol)
		}
		return nil
	}
	gw := make([]float64, d)
	copy(x, w0)
	if err := p.innerGradHost(gw, w0); err != nil {
		return fmt.Errorf("graph: ∇_w g at the certification point: %w", err)
	}

	// ⟨∇_w g, u⟩.
	fd, err := fd4(1, w0, u, x, epsW, scalarInner)
	if err != nil {
		return err
	}
	if err := check("∇_w g", []float64{dot(gw, u)}, fd, norm(gw)); err != nil {
		return err
	}
	// ⟨∇_w E, u⟩ and ⟨∇_λ E, r⟩.
	ge := make([]float64, d)
	if err := gradOuter(ge); err != nil {
		return fmt.Errorf("graph: ∇_w E at the certification point: %w", err)
	}
	if fd, err = fd4(1, w0, u, x, epsW, scalarOuter); err != nil {
		return err
	}
	if err := check("∇_w E", []float64{dot(ge, u)}, fd, norm(ge)); err != nil {
		return err
	}
	if !p.outerLambdaFree {
		gl := make([]float64, h)
		if err := p.outer.vector(1, gl); err != nil {
			return err
		}
		// f reads λ from p.lambda (set by at), w from x = w0.
		if fd, err = fd4(1, lam0, r, p.lambda, epsL, scalarOuter); err != nil {
			return err
		}
		if err := check("∇_λ E", []float64{dot(gl, r)}, fd, norm(gl)); err != nil {
			return err
		}
	}
	// A u against differences of ∇_w g along u.
	au := make([]float64, d)
	if err := p.productHost(p.hess, au, w0, u); err != nil {
		return fmt.Errorf("graph: A v at the certification point: %w", err)
	}
	if fd, err = fd4(d, w0, u, x, epsW, gradInner); err != nil {
		return err
	}
	if err := check("A v (Hessian-vector product of g)", au, fd, 0); err != nil {
		return err
	}
	// ⟨Bᵀv, r⟩ against λ-differences of ⟨v, ∇_w g⟩, and B r against
	// λ-differences of ∇_w g.
	btv := make([]float64, h)
	if err := p.productHost(p.cross, btv, w0, v); err != nil {
		return fmt.Errorf("graph: Bᵀv at the certification point: %w", err)
	}
	if fd, err = fd4(d, lam0, r, p.lambda, epsL, gradInner); err != nil {
		return err
	}
	if err := check("Bᵀv (cross product of g)", []float64{dot(btv, r)}, []float64{dot(v, fd)}, norm(btv)); err != nil {
		return err
	}
	br := make([]float64, d)
	if err := p.productHost(p.crossApply, br, w0, r); err != nil {
		return fmt.Errorf("graph: B u at the certification point: %w", err)
	}
	if err := check("B u (forward cross product of g)", br, fd, 0); err != nil {
		return err
	}
	// ∇²_ww E u against differences of ∇_w E.
	eu := make([]float64, d)
	if err := p.productHost(p.outerHess, eu, w0, u); err != nil {
		return fmt.Errorf("graph: ∇²E v at the certification point: %w", err)
	}
	if fd, err = fd4(d, w0, u, x, epsW, gradOuter); err != nil {
		return err
	}
	return check("∇²_ww E v (Hessian-vector product of E)", eu, fd, 0)
}

func unit(rng *rand.Rand, n int) []float64 {
	u := make([]float64, n)
	for i := range u {
		u[i] = rng.NormFloat64()
	}
	s := norm(u)
	for i := range u {
		u[i] /= s
	}
	return u
}

func norm(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s = math.Hypot(s, v)
	}
	return s
}

func dot(x, y []float64) float64 {
	s := 0.0
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}
