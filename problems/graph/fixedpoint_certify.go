//go:build !cuda

package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// certify compares the Jacobian products and the gradients of E with
// 4-point central finite differences of the graph values at a seeded random
// point (see NewFixedPoint and New for the differences and the tolerance).
func (p *FixedPointProblem) certify() error {
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

	// fd4 returns the 4-point central difference along dir from x0 of the
	// vector function f (output len n), which reads its argument from x,
	// and the rounding noise 100·ϵ_mach·max‖f‖/ε of the difference.
	fd4 := func(n int, x0, dir, x []float64, eps float64, f func(out []float64) error) ([]float64, float64, error) {
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
	check := func(what string, exact, fd []float64, scale, noise float64) error {
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
