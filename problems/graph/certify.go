//go:build !cuda

package graph

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
)

// certify compares every graph derivative with 4-point central finite
// differences of the graph values at a seeded random point (see New).
func (p *Problem) certify() error {
	c := newCertPoint(p.spec.Seed, p.lambda, p.d, p.h)
	w0, u, v, r, lam0 := c.w0, c.u, c.v, c.r, c.lam0
	epsW, epsL := c.epsW, c.epsL
	d, h := p.d, p.h
	defer copy(p.lambda, lam0)
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
	check := func(what string, exact, fd []float64, scale, noise float64) error {
		return certCheck(p.spec.CertTol, what, exact, fd, scale, noise)
	}
	gw := make([]float64, d)
	copy(x, w0)
	if err := p.innerGradHost(gw, w0); err != nil {
		return fmt.Errorf("graph: ∇_w g at the certification point: %w", err)
	}

	// ⟨∇_w g, u⟩.
	fd, noise, err := fd4(1, w0, u, x, epsW, scalarInner)
	if err != nil {
		return err
	}
	if err := check("∇_w g", []float64{dot(gw, u)}, fd, norm(gw), noise); err != nil {
		return err
	}
	// ⟨∇_w E, u⟩ and ⟨∇_λ E, r⟩.
	ge := make([]float64, d)
	if err := gradOuter(ge); err != nil {
		return fmt.Errorf("graph: ∇_w E at the certification point: %w", err)
	}
	if fd, noise, err = fd4(1, w0, u, x, epsW, scalarOuter); err != nil {
		return err
	}
	if err := check("∇_w E", []float64{dot(ge, u)}, fd, norm(ge), noise); err != nil {
		return err
	}
	if !p.outerLambdaFree {
		gl := make([]float64, h)
		if err := p.outer.vector(1, gl); err != nil {
			return err
		}
		// f reads λ from p.lambda (set by at), w from x = w0.
		if fd, noise, err = fd4(1, lam0, r, p.lambda, epsL, scalarOuter); err != nil {
			return err
		}
		if err := check("∇_λ E", []float64{dot(gl, r)}, fd, norm(gl), noise); err != nil {
			return err
		}
	}
	// A u against differences of ∇_w g along u.
	au := make([]float64, d)
	if err := p.productHost(p.hess, au, w0, u); err != nil {
		return fmt.Errorf("graph: A v at the certification point: %w", err)
	}
	if fd, noise, err = fd4(d, w0, u, x, epsW, gradInner); err != nil {
		return err
	}
	if err := check("A v (Hessian-vector product of g)", au, fd, 0, noise); err != nil {
		return err
	}
	// ⟨Bᵀv, r⟩ against λ-differences of ⟨v, ∇_w g⟩, and B r against
	// λ-differences of ∇_w g.
	btv := make([]float64, h)
	if err := p.productHost(p.cross, btv, w0, v); err != nil {
		return fmt.Errorf("graph: Bᵀv at the certification point: %w", err)
	}
	if fd, noise, err = fd4(d, lam0, r, p.lambda, epsL, gradInner); err != nil {
		return err
	}
	if err := check("Bᵀv (cross product of g)", []float64{dot(btv, r)}, []float64{dot(v, fd)}, norm(btv), noise); err != nil {
		return err
	}
	br := make([]float64, d)
	if err := p.productHost(p.crossApply, br, w0, r); err != nil {
		return fmt.Errorf("graph: B u at the certification point: %w", err)
	}
	if err := check("B u (forward cross product of g)", br, fd, 0, noise); err != nil {
		return err
	}
	// ∇²_ww E u against differences of ∇_w E.
	eu := make([]float64, d)
	if err := p.productHost(p.outerHess, eu, w0, u); err != nil {
		return fmt.Errorf("graph: ∇²E v at the certification point: %w", err)
	}
	if fd, noise, err = fd4(d, w0, u, x, epsW, gradOuter); err != nil {
		return err
	}
	return check("∇²_ww E v (Hessian-vector product of E)", eu, fd, 0, noise)
}

// certPoint is the point at which certify compares the graph's
// derivatives with finite differences: w0 with independent N(0, 1/d)
// entries, unit directions u and v in w and r in λ (all seeded), the
// current λ, and the steps ε_w = 10⁻³·max(1, ‖w0‖) and ε_λ = 10⁻³·max(1, ‖λ‖).
type certPoint struct {
	w0, u, v, r, lam0 []float64
	epsW, epsL        float64
}

// newCertPoint draws the certification point of a problem with d unknowns
// and the hyperparameters lambda (h of them) from seed.
func newCertPoint(seed uint64, lambda []float64, d, h int) certPoint {
	rng := rand.New(rand.NewPCG(seed, 0x6772617068))
	c := certPoint{w0: make([]float64, d)}
	s := 1 / math.Sqrt(float64(d))
	for i := range c.w0 {
		c.w0[i] = s * rng.NormFloat64()
	}
	c.u, c.v, c.r = unit(rng, d), unit(rng, d), unit(rng, h)
	c.lam0 = append([]float64(nil), lambda...)
	c.epsW = 1e-3 * math.Max(1, norm(c.w0))
	c.epsL = 1e-3 * math.Max(1, norm(c.lam0))
	return c
}

// fd4 returns the 4-point central difference
// (f(x0−2εd) − 8f(x0−εd) + 8f(x0+εd) − f(x0+2εd))/(12ε) along dir = d of the
// vector function f (output len n), which reads its argument from x (left
// at x0), and the rounding noise 100·ϵ_mach·max‖f‖/ε of the difference: its
// weights sum to 18/12 and each value carries a relative error of a few
// ϵ_mach, so the difference is uncertain by about ϵ_mach·max‖f‖/ε. The
// noise matters only where the derivative is zero or tiny (such as B when
// ∇_w g does not depend on λ).
func fd4(n int, x0, dir, x []float64, eps float64, f func(out []float64) error) ([]float64, float64, error) {
	out := make([]float64, n)
	tmp := make([]float64, n)
	maxF := 0.0
	for _, c := range [...]struct{ t, wgt float64 }{{-2, 1}, {-1, -8}, {1, 8}, {2, -1}} {
		for i := range x {
			x[i] = x0[i] + c.t*eps*dir[i]
		}
		if err := f(tmp); err != nil {
			return nil, 0, err
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
	return out, 100 * 0x1p-52 * maxF / eps, nil
}

// certCheck accepts ‖exact − fd‖ ≤ tol·max(scale, ‖exact‖, ‖fd‖) + noise,
// and returns an ErrCertification naming what otherwise.
func certCheck(tol float64, what string, exact, fd []float64, scale, noise float64) error {
	diff := 0.0
	for i := range exact {
		diff = math.Hypot(diff, exact[i]-fd[i])
	}
	scale = math.Max(scale, math.Max(norm(exact), norm(fd)))
	if diff > tol*scale+noise || math.IsNaN(diff) {
		return fmt.Errorf("%w: %s: |graph − finite difference| = %.3g, %.3g relative (tolerance %.3g)",
			ErrCertification, what, diff, diff/scale, tol)
	}
	return nil
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

// norm and dot are gonum's, as everywhere on the host.
func norm(x []float64) float64 { return floats.Norm(x, 2) }

func dot(x, y []float64) float64 { return floats.Dot(x, y) }
