//go:build !cuda

package graph

import "fmt"

// certify compares the Jacobian products and the gradients of E with
// 4-point central finite differences of the graph values at a seeded random
// point (see NewFixedPoint and New for the differences and the tolerance).
func (p *FixedPointProblem) certify() error {
	c := newCertPoint(p.spec.Seed, p.lambda, p.d, p.h)
	w0, u, v, r, lam0 := c.w0, c.u, c.v, c.r, c.lam0
	epsW, epsL := c.epsW, c.epsL
	d, h := p.d, p.h
	defer copy(p.lambda, lam0)
	check := func(what string, exact, fd []float64, scale, noise float64) error {
		return certCheck(p.spec.CertTol, what, exact, fd, scale, noise)
	}
	x := make([]float64, d)
	copy(x, w0)
	phi := func(out []float64) error { return p.runHost(p.mapM, out, x, nil, 0) }
	outer := func(out []float64) error {
		if err := p.runHost(p.outerM, nil, x, nil, 0); err != nil {
			return err
		}
		var err error
		out[0], err = p.outerM.m.scalarValue()
		return err
	}

	// J v and ⟨Jᵀu, v⟩ against the differences of Φ along v.
	jv := make([]float64, d)
	if err := p.runHost(p.jv, jv, w0, v, 0); err != nil {
		return fmt.Errorf("graph: J u at the certification point: %w", err)
	}
	fd, noise, err := fd4(d, w0, v, x, epsW, phi)
	if err != nil {
		return err
	}
	if err := check("J u (Jacobian-vector product of Φ)", jv, fd, 0, noise); err != nil {
		return err
	}
	jtu := make([]float64, d)
	if err := p.runHost(p.jt, jtu, w0, u, 0); err != nil {
		return fmt.Errorf("graph: Jᵀu at the certification point: %w", err)
	}
	if err := check("Jᵀu (transposed Jacobian product of Φ)", []float64{dot(jtu, v)}, []float64{dot(u, fd)}, norm(jtu), noise); err != nil {
		return err
	}

	// K r and ⟨Kᵀu, r⟩ against the differences of Φ along r in λ (phi
	// reads λ from p.lambda, w from x = w0).
	kr := make([]float64, d)
	if err := p.runHost(p.kv, kr, w0, r, 0); err != nil {
		return fmt.Errorf("graph: K u at the certification point: %w", err)
	}
	if fd, noise, err = fd4(d, lam0, r, p.lambda, epsL, phi); err != nil {
		return err
	}
	if err := check("K u (hyper-Jacobian-vector product of Φ)", kr, fd, 0, noise); err != nil {
		return err
	}
	ktu := make([]float64, h)
	if err := p.runHost(p.kt, ktu, w0, u, 0); err != nil {
		return fmt.Errorf("graph: Kᵀu at the certification point: %w", err)
	}
	if err := check("Kᵀu (transposed hyper-Jacobian product of Φ)", []float64{dot(ktu, r)}, []float64{dot(u, fd)}, norm(ktu), noise); err != nil {
		return err
	}

	// ⟨∇_w E, v⟩ and ⟨∇_λ E, r⟩.
	if err := p.runHost(p.outerM, nil, w0, nil, 0); err != nil {
		return fmt.Errorf("graph: ∇E at the certification point: %w", err)
	}
	ge := make([]float64, d)
	if err := p.outerM.m.vector(0, ge); err != nil {
		return err
	}
	gl := make([]float64, h)
	if err := p.gatherBlocks(p.outerM, gl, 1); err != nil {
		return err
	}
	if fd, noise, err = fd4(1, w0, v, x, epsW, outer); err != nil {
		return err
	}
	if err := check("∇_w E", []float64{dot(ge, v)}, fd, norm(ge), noise); err != nil {
		return err
	}
	if fd, noise, err = fd4(1, lam0, r, p.lambda, epsL, outer); err != nil {
		return err
	}
	return check("∇_λ E", []float64{dot(gl, r)}, fd, norm(gl), noise)
}
