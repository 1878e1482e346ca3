package problems

import (
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/bilevel"
)

// Limits of TVDenoise.Reference.
const (
	tvRefNewton  = 500  // Newton steps at most
	tvRefStall   = 3    // Newton steps without a new least ‖∇g‖ that end the solve
	tvRefHalving = 60   // step halvings of one damped Newton step at most
	tvRefCGStall = 1000 // CG iterations without a new least residual that end CG
)

// tvHost is the tvdenoise problem at one λ on the host.
type tvHost struct {
	h, w, n, k     int
	twoD           bool
	y, xt          []float64
	alpha, nu2     float64
	lmax           float64   // ≥ ‖A‖: 1 + α‖D‖²/ν
	u, s           []float64 // scratch: D x (len n·k) and the norms (len n)
	bw             int       // half bandwidth of the Hessian
	band, chol     []float64 // n·(bw+1) each when banded
	banded         bool
	cgIters, steps int
}

func (p *TVDenoise) hostProblem() *tvHost {
	h := &tvHost{
		h: p.hgt, w: p.wd, n: p.n, k: p.k, twoD: p.twoD, y: p.host.Y, xt: p.host.XTrue,
		alpha: p.alpha, nu2: p.nu2, lmax: 1 + p.alpha*p.dNorm2/p.nu, u: make([]float64, p.m), s: make([]float64, p.n), bw: 1,
	}
	if p.twoD {
		h.bw = p.wd
	}
	return h
}

// diff sets h.u ← D x and h.s ← sqrt(|u_p|² + ν²), as the backend does.
func (h *tvHost) diff(x []float64) {
	if !h.twoD {
		for i := 0; i < h.n; i++ {
			h.u[i] = 0
			if i+1 < h.n {
				h.u[i] = x[i+1] - x[i]
			}
			h.s[i] = math.Sqrt(h.nu2 + h.u[i]*h.u[i])
		}
		return
	}
	for i := 0; i < h.h; i++ {
		for j := 0; j < h.w; j++ {
			p := i*h.w + j
			var a, b float64
			if j+1 < h.w {
				a = x[p+1] - x[p]
			}
			if i+1 < h.h {
				b = x[p+h.w] - x[p]
			}
			h.u[2*p], h.u[2*p+1] = a, b
			h.s[p] = math.Sqrt(h.nu2 + a*a + b*b)
		}
	}
}

// diffT returns Dᵀz (z of length n·k).
func (h *tvHost) diffT(z []float64) []float64 {
	out := make([]float64, h.n)
	if !h.twoD {
		for i := 0; i+1 < h.n; i++ {
			out[i+1] += z[i]
			out[i] -= z[i]
		}
		return out
	}
	for i := 0; i < h.h; i++ {
		for j := 0; j < h.w; j++ {
			p := i*h.w + j
			if j+1 < h.w {
				out[p+1] += z[2*p]
				out[p] -= z[2*p]
			}
			if i+1 < h.h {
				out[p+h.w] += z[2*p+1]
				out[p] -= z[2*p+1]
			}
		}
	}
	return out
}

// diffOp returns D x.
func (h *tvHost) diffOp(x []float64) []float64 {
	h.diff(x)
	return append([]float64(nil), h.u...)
}

// value returns g(x).
func (h *tvHost) value(x []float64) float64 {
	h.diff(x)
	var fit, tv float64
	for i, v := range x {
		fit += (v - h.y[i]) * (v - h.y[i])
	}
	for _, s := range h.s {
		tv += s
	}
	return 0.5*fit + h.alpha*tv
}

// grad returns ∇g(x) = x − y + α Dᵀ(u/s).
func (h *tvHost) grad(x []float64) []float64 {
	h.diff(x)
	z := make([]float64, len(h.u))
	for i := range z {
		z[i] = h.u[i] / h.s[i/h.k]
	}
	g := h.diffT(z)
	for i := range g {
		g[i] = h.alpha*g[i] + x[i] - h.y[i]
	}
	return g
}

// curvature returns, for the point of the last diff, the 2×2 blocks M_p
// (m00, m01, m11; 2-D) or the scalars ν²/s³ (1-D, in m00).
func (h *tvHost) curvature(p int) (m00, m01, m11 float64) {
	s := h.s[p]
	if !h.twoD {
		return h.nu2 / (s * s * s), 0, 0
	}
	a, b := h.u[2*p]/s, h.u[2*p+1]/s
	return (1 - a*a) / s, -a * b / s, (1 - b*b) / s
}

// hessVec returns A v at the point of the last diff.
func (h *tvHost) hessVec(v []float64) []float64 {
	t := make([]float64, len(h.u))
	if !h.twoD {
		for i := 0; i+1 < h.n; i++ {
			m, _, _ := h.curvature(i)
			t[i] = m * (v[i+1] - v[i])
		}
	} else {
		for i := 0; i < h.h; i++ {
			for j := 0; j < h.w; j++ {
				p := i*h.w + j
				var a, b float64
				if j+1 < h.w {
					a = v[p+1] - v[p]
				}
				if i+1 < h.h {
					b = v[p+h.w] - v[p]
				}
				m00, m01, m11 := h.curvature(p)
				t[2*p], t[2*p+1] = m00*a+m01*b, m01*a+m11*b
			}
		}
	}
	out := h.diffT(t)
	for i := range out {
		out[i] = v[i] + h.alpha*out[i]
	}
	return out
}

// bandAdd adds v to A(i, j) and A(j, i) (lower band storage; i ≥ j).
func (h *tvHost) bandAdd(i, j int, v float64) {
	if i < j {
		i, j = j, i
	}
	h.band[i*(h.bw+1)+j-i+h.bw] += v
}

// factor forms the banded Hessian at the point of the last diff and its
// Cholesky factor: A = I + α Σ_p D_pᵀ M_p D_p, with D_p the rows of pixel p.
func (h *tvHost) factor() error {
	w := h.bw + 1
	if h.band == nil {
		h.band = make([]float64, h.n*w)
		h.chol = make([]float64, h.n*w)
	}
	clear(h.band)
	for i := 0; i < h.n; i++ {
		h.band[i*w+h.bw] = 1
	}
	type term struct {
		idx  [2]int
		coef [2]float64
		nz   int
	}
	for p := 0; p < h.n; p++ {
		m00, m01, m11 := h.curvature(p)
		var comps [2]term
		nc := 1
		if !h.twoD {
			if p+1 < h.n {
				comps[0] = term{[2]int{p, p + 1}, [2]float64{-1, 1}, 2}
			}
		} else {
			nc = 2
			i, j := p/h.w, p%h.w
			if j+1 < h.w {
				comps[0] = term{[2]int{p, p + 1}, [2]float64{-1, 1}, 2}
			}
			if i+1 < h.h {
				comps[1] = term{[2]int{p, p + h.w}, [2]float64{-1, 1}, 2}
			}
		}
		m := [2][2]float64{{m00, m01}, {m01, m11}}
		for a := 0; a < nc; a++ {
			for b := 0; b < nc; b++ {
				ca, cb := comps[a], comps[b]
				for x := 0; x < ca.nz; x++ {
					for y := 0; y < cb.nz; y++ {
						i, j := ca.idx[x], cb.idx[y]
						if i >= j { // each unordered pair once from the (i ≥ j) side
							h.bandAdd(i, j, h.alpha*m[a][b]*ca.coef[x]*cb.coef[y])
						}
					}
				}
			}
		}
	}
	// Banded Cholesky A = L Lᵀ: L(i, j) at chol[i*w + j − i + bw].
	l := h.chol
	for j := 0; j < h.n; j++ {
		for i := j; i < min(h.n, j+w); i++ {
			v := h.band[i*w+j-i+h.bw]
			for k := max(0, i-h.bw); k < j; k++ {
				v -= l[i*w+k-i+h.bw] * l[j*w+k-j+h.bw]
			}
			if i == j {
				if !(v > 0) || math.IsInf(v, 0) {
					return fmt.Errorf("%w: tvdenoise: the banded Hessian is not positive definite to working precision (pivot %d = %v)", ErrNumerical, j, v)
				}
				l[j*w+h.bw] = math.Sqrt(v)
			} else {
				l[i*w+j-i+h.bw] = v / l[j*w+h.bw]
			}
		}
	}
	return nil
}

// cholSolve solves A x = rhs with the banded factor.
func (h *tvHost) cholSolve(rhs []float64) []float64 {
	w, l := h.bw+1, h.chol
	x := append([]float64(nil), rhs...)
	for i := 0; i < h.n; i++ {
		v := x[i]
		for k := max(0, i-h.bw); k < i; k++ {
			v -= l[i*w+k-i+h.bw] * x[k]
		}
		x[i] = v / l[i*w+h.bw]
	}
	for i := h.n - 1; i >= 0; i-- {
		v := x[i]
		for r := i + 1; r < min(h.n, i+w); r++ {
			v -= l[r*w+i-r+h.bw] * x[r]
		}
		x[i] = v / l[i*w+h.bw]
	}
	return x
}

// solve solves A x = rhs at the point of the last diff: by the banded
// Cholesky factor (factor must have been called) or by conjugate gradients
// from 0 until the residual reaches the rounding level
// ‖r‖ ≤ 16ε(L‖x‖ + ‖rhs‖) (L = h.lmax ≥ ‖A‖) or has not reached a new
// least value for tvRefCGStall iterations (at most 100·n + 1000); the
// iterate of least residual is returned.
func (h *tvHost) solve(rhs []float64) []float64 {
	if h.banded {
		return h.cholSolve(rhs)
	}
	x := make([]float64, h.n)
	r := append([]float64(nil), rhs...)
	d := append([]float64(nil), rhs...)
	rr := tvDot(r, r)
	best, bestX, stall := math.Sqrt(rr), append([]float64(nil), x...), 0
	bn := norm2(rhs)
	for it := 0; it < 100*h.n+1000 && rr > 0 && stall < tvRefCGStall; it++ {
		h.cgIters++
		ad := h.hessVec(d)
		a := rr / tvDot(d, ad)
		for i := range x {
			x[i] += a * d[i]
			r[i] -= a * ad[i]
		}
		// The recursive residual drifts; recompute it every 50 iterations.
		if it%50 == 49 {
			ax := h.hessVec(x)
			for i := range r {
				r[i] = rhs[i] - ax[i]
			}
		}
		rn := tvDot(r, r)
		if math.Sqrt(rn) < best {
			best, stall = math.Sqrt(rn), 0
			copy(bestX, x)
		} else {
			stall++
		}
		if math.Sqrt(rn) <= 16*0x1p-52*(h.lmax*norm2(x)+bn) {
			break
		}
		beta := rn / rr
		rr = rn
		for i := range d {
			d[i] = r[i] + beta*d[i]
		}
	}
	return bestX
}

func tvDot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// prepare linearizes at x: the norms, and the banded factor when banded.
func (h *tvHost) prepare(x []float64) error {
	h.diff(x)
	if h.banded {
		return h.factor()
	}
	return nil
}

// minimize runs damped Newton from x = y, by continuation in ν when ν < 0.1
// (stages ν_c = 1, 0.1, … above 10ν, each solved loosely, then ν). Each
// step solves A Δ = −∇g; with the decrement δ = −∇gᵀΔ, it halves t from 1
// until the Armijo test
// g(x + tΔ) ≤ g(x) − 10⁻⁴tδ holds, or, once δ is within 10³ε|g(x)| (the
// decrease of g is then below its rounding), until ‖∇g(x + tΔ)‖ ≤ ‖∇g(x)‖.
// In that last regime it stops when ‖∇g‖ has not reached a new least
// value for tvRefStall steps; it stops too when no step is accepted or
// δ ≤ 0. It returns the point of least ‖∇g‖ with that norm.
func (h *tvHost) minimize() ([]float64, float64, error) {
	x := append([]float64(nil), h.y...)
	nu2 := h.nu2
	defer func() { h.nu2 = nu2 }()
	// Continuation: for small ν, start from ν_c = 1 and divide it by 10
	// while it stays above ν, each stage solved until δ ≤ 10⁻⁶|g|.
	var stages []float64
	for c := 1.0; c*c > nu2*100; c /= 10 {
		stages = append(stages, c*c)
	}
	for _, c2 := range stages {
		h.nu2 = c2
		var err error
		if x, _, err = h.newton(x, 1e-6); err != nil {
			return nil, 0, err
		}
	}
	h.nu2 = nu2
	return h.newton(x, 0)
}

// newton runs damped Newton from x (see minimize); loose > 0 ends it once
// δ ≤ loose·|g(x)|.
func (h *tvHost) newton(x []float64, loose float64) ([]float64, float64, error) {
	g := h.grad(x)
	gn := norm2(g)
	best, bestX, stall := gn, append([]float64(nil), x...), 0
	xn := make([]float64, h.n)
	neg := make([]float64, h.n)
	for it := 0; it < tvRefNewton && stall < tvRefStall && gn > 0; it++ {
		h.steps++
		if err := h.prepare(x); err != nil {
			return nil, 0, err
		}
		for i := range g {
			neg[i] = -g[i]
		}
		step := h.solve(neg)
		dec := -tvDot(g, step)
		f0 := h.value(x)
		if !(dec > 0) || dec <= loose*math.Abs(f0) {
			break
		}
		local := dec <= 1e3*0x1p-52*math.Abs(f0)
		var gNew []float64
		accepted := false
		for t, k := 1.0, 0; k < tvRefHalving; t, k = t/2, k+1 {
			for i := range xn {
				xn[i] = x[i] + t*step[i]
			}
			if local {
				gNew = h.grad(xn)
				accepted = norm2(gNew) <= gn
			} else {
				accepted = h.value(xn) <= f0-1e-4*t*dec
			}
			if accepted {
				break
			}
		}
		if !accepted {
			break
		}
		if gNew == nil {
			gNew = h.grad(xn)
		}
		x, xn, g = xn, x, gNew
		gn = norm2(g)
		switch {
		case gn < best:
			best, stall = gn, 0
			copy(bestX, x)
		case local:
			stall++
		}
	}
	if !finiteAll(bestX) {
		return nil, 0, fmt.Errorf("%w: tvdenoise: Newton's iterate is not finite", ErrNumerical)
	}
	return bestX, best, nil
}

// Reference solves g by damped Newton on the host (see TVDenoise), then
// q = A⁻¹(x* − x_true) by the same solver at x*, and returns
// ∇f = −Bᵀq = (−α⟨u/s, Dq⟩, αν²⟨u/s³, Dq⟩) with InnerGradNorm = ‖∇g(x*)‖.
// The banded Cholesky factorisation is used when DenseBytes fits the dense
// budget, conjugate gradients otherwise.
func (p *TVDenoise) Reference() (*bilevel.Reference, error) {
	h := p.hostProblem()
	h.banded = p.fits("", tvDenseBytes(p.host)) == nil
	var (
		x     []float64
		gn    float64
		q, hg []float64
	)
	err := guard("tvdenoise reference", func() error {
		var err error
		if x, gn, err = h.minimize(); err != nil {
			return err
		}
		if err := h.prepare(x); err != nil {
			return err
		}
		rhs := make([]float64, h.n)
		for i := range rhs {
			rhs[i] = x[i] - h.xt[i]
		}
		q = h.solve(rhs)
		hg = h.hyperGrad(x, q)
		return nil
	})
	if err != nil {
		return nil, err
	}
	method := fmt.Sprintf("damped Newton (%d steps), banded Cholesky of A (bandwidth %d)", h.steps, h.bw)
	if !h.banded {
		method = fmt.Sprintf("damped Newton (%d steps), conjugate gradients on A to the rounding level (%d iterations)", h.steps, h.cgIters)
	}
	return checkReference(tvFamily, &bilevel.Reference{
		Hypergradient: hg,
		W:             x,
		V:             q,
		InnerGradNorm: gn,
		Method:        method,
	})
}

// hyperGrad returns −Bᵀq at x.
func (h *tvHost) hyperGrad(x, q []float64) []float64 {
	h.diff(x)
	u := append([]float64(nil), h.u...)
	s := append([]float64(nil), h.s...)
	dq := h.diffOp(q)
	var a, b float64
	for i := range u {
		si := s[i/h.k]
		a += u[i] / si * dq[i]
		b += u[i] / (si * si * si) * dq[i]
	}
	return []float64{-h.alpha * a, h.alpha * h.nu2 * b}
}
