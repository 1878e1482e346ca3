package bileveltest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// ConstantsOptions control CheckConstants and ConstantsViolations.
type ConstantsOptions struct {
	// Center is the host point the sample points surround (len d); nil
	// means the origin.
	Center []float64
	// Radius scales the sample points: w = Center + Radius·z with z
	// Gaussian of per-coordinate variance 1/d, so ‖w − Center‖ ≈ Radius.
	// Default 1.
	Radius float64
	// Points is the number of sample points; default 6.
	Points int
	// Directions is the number of random directions v ∈ R^d (for μ, L, L_A
	// and L_B) per point; default 3.
	Directions int
	// Iters is the number of Rayleigh–Ritz steps (single-vector LOBPCG)
	// taken from each random direction toward each end of the spectrum of
	// A(w), so that μ and L are tested near the extreme eigenvalues and not
	// only at the mean curvature of random directions. Default 20; negative
	// means none.
	Iters int
	// Slack is the relative rounding allowance; default 1e-12 (see
	// ConstantsViolations).
	Slack float64
	// Seed seeds the points and directions; default 1.
	Seed uint64
}

// Violation is a sampled value that contradicts a claimed constant.
type Violation struct {
	// Name is the constant: "Mu", "L", "Lf", "LA", "LB" or "LEl".
	Name string
	// Claim is what Constants() returned.
	Claim bilevel.Constant
	// Sampled is the value that contradicts it: a Rayleigh quotient
	// vᵀA(w)v/vᵀv for Mu and L, a difference quotient for the others.
	Sampled float64
	// Where says at which sample (point, direction) it was found.
	Where string
}

func (v Violation) String() string {
	rel := "≤"
	if v.Name == "Mu" {
		rel = "≥"
	}
	return fmt.Sprintf("%s: sampled %.6g at %s, but claimed %s %s %.6g", v.Name, v.Sampled, v.Where, v.Claim.Kind, rel, v.Claim.Value)
}

// ConstantCheck summarises the samples of one constant.
type ConstantCheck struct {
	// Claim is what Constants() returned.
	Claim bilevel.Constant
	// Samples is the number of sampled values (0 for Unknown claims).
	Samples int
	// Sampled is the extreme sampled value: the smallest Rayleigh quotient
	// for Mu, the largest Rayleigh or difference quotient for the others.
	Sampled float64
	// Ratio is Claim/Sampled for Mu and Sampled/Claim for the others: at
	// most 1 (up to rounding) when the claim holds at the samples, and
	// close to 1 when it is tight there. +Inf for a zero denominator and a
	// positive numerator, 0 when both are zero.
	Ratio float64
}

// Report gives one ConstantCheck per constant.
type Report struct {
	Mu, L, Lf, LA, LB, LEl ConstantCheck
}

func (r Report) String() string {
	var sb strings.Builder
	for _, c := range r.list() {
		if c.check.Samples == 0 {
			fmt.Fprintf(&sb, "%s %s; ", c.name, c.check.Claim.Kind)
			continue
		}
		fmt.Fprintf(&sb, "%s %s %.4g sampled %.4g ratio %.3g; ", c.name, c.check.Claim.Kind, c.check.Claim.Value, c.check.Sampled, c.check.Ratio)
	}
	return strings.TrimSuffix(sb.String(), "; ")
}

type namedCheck struct {
	name  string
	check *ConstantCheck
}

func (r *Report) list() []namedCheck {
	return []namedCheck{{"Mu", &r.Mu}, {"L", &r.L}, {"Lf", &r.Lf}, {"LA", &r.LA}, {"LB", &r.LB}, {"LEl", &r.LEl}}
}

// CheckConstants samples p (see ConstantsViolations) and reports, with
// t.Errorf, every sampled value that contradicts a constant claimed as
// bilevel.Bound or bilevel.Exact; samples that exceed an Estimate are only
// logged. It returns the report, so that a test can log how tight the
// claims are. Oracle failures and invalid options are fatal.
func CheckConstants(t testing.TB, p bilevel.Problem, opts ConstantsOptions) Report {
	t.Helper()
	viol, rep, err := ConstantsViolations(p, opts)
	if err != nil {
		t.Fatalf("CheckConstants: %v", err)
	}
	for _, v := range viol {
		t.Errorf("CheckConstants: %v", v)
	}
	for _, c := range rep.list() {
		if c.check.Claim.Kind == bilevel.Estimate && c.check.Ratio > 1 {
			t.Logf("CheckConstants: estimate %s = %.6g exceeded at the samples (ratio %.4g); not an error", c.name, c.check.Claim.Value, c.check.Ratio)
		}
	}
	return rep
}

// ConstantsViolations samples points w (opts.Points of them, around
// opts.Center) and directions v ∈ R^d, u ∈ R^d on p's backend and tests the
// constants p.Constants() claims as bilevel.Bound or bilevel.Exact (see
// bilevel.Constants):
//
//	Mu, L  μ ≤ vᵀA(w)v/vᵀv ≤ L, with A(w)v from Linearize(w) and HessVec,
//	       for random v and for the iterates of opts.Iters Rayleigh–Ritz
//	       steps from each v toward the smallest and the largest eigenvalue;
//	Lf     ‖∇_wE(w) − ∇_wE(w')‖ ≤ L_f‖w − w'‖,
//	LA     ‖A(w)v − A(w')v‖ ≤ L_A‖w − w'‖‖v‖   (≤ ‖A(w) − A(w')‖‖v‖),
//	LB     ‖B(w)ᵀu − B(w')ᵀu‖ ≤ L_B‖w − w'‖‖u‖ (CrossVec, len h),
//	LEl    ‖∇_λE(w) − ∇_λE(w')‖ ≤ L_Eλ‖w − w'‖,
//
// over the pairs (w_i, w_{i+1}) of consecutive points (cyclically) and the
// near pairs (w_i, w_i + 10⁻³·Radius·z), z a random unit vector, since the
// Lipschitz constant of a nonlinear map is attained as w' → w. Every
// sampled quotient is a lower bound on the true constant, so a sample
// beyond a claim disproves it, up to rounding: with s = opts.Slack, a
// Rayleigh quotient ρ violates μ only when ρ < μ − s·max(μ, ‖A‖~) and L
// only when ρ > L + s·max(L, ‖A‖~), ‖A‖~ the largest ‖A(w)v‖/‖v‖ sampled at
// that point (the rounding error of vᵀAv is of order dε‖A‖‖v‖²); a
// difference quotient ‖x − x'‖/(‖w − w'‖σ) (σ = ‖v‖, ‖u‖ or 1) violates
// its claim C only when ‖x − x'‖ > C(1+s)‖w − w'‖σ + s(‖x‖ + ‖x'‖), the
// last term bounding the rounding error of the two evaluations.
//
// Estimate claims are sampled and reported but never violations; Unknown
// claims are skipped. Sampling can only disprove a claim, never prove it.
// λ is not changed (only Constants, Linearize and the oracles are
// called); p is left linearized at the last sample point. The error
// reports invalid options, a failing oracle or a non-finite sample.
func ConstantsViolations(p bilevel.Problem, opts ConstantsOptions) ([]Violation, Report, error) {
	var rep Report
	if p == nil {
		return nil, rep, errors.New("nil problem")
	}
	if opts.Radius == 0 {
		opts.Radius = 1
	}
	if opts.Points == 0 {
		opts.Points = 6
	}
	if opts.Directions == 0 {
		opts.Directions = 3
	}
	if opts.Iters == 0 {
		opts.Iters = 20
	}
	if opts.Iters < 0 {
		opts.Iters = 0
	}
	if opts.Slack == 0 {
		opts.Slack = 1e-12
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	d, h := p.InnerDim(), p.HyperDim()
	switch {
	case !(opts.Radius > 0) || math.IsInf(opts.Radius, 0):
		return nil, rep, fmt.Errorf("radius %g: want a finite positive number", opts.Radius)
	case opts.Points < 0 || opts.Directions < 0:
		return nil, rep, fmt.Errorf("points %d, directions %d: want non-negative counts", opts.Points, opts.Directions)
	case !(opts.Slack > 0) || opts.Slack >= 1:
		return nil, rep, fmt.Errorf("slack %g: want a number in (0, 1)", opts.Slack)
	case opts.Center != nil && len(opts.Center) != d:
		return nil, rep, fmt.Errorf("center has length %d, want %d", len(opts.Center), d)
	case d < 1:
		return nil, rep, fmt.Errorf("inner dimension %d", d)
	}
	for _, c := range opts.Center {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return nil, rep, errors.New("center is not finite")
		}
	}
	cs, err := p.Constants()
	if err != nil {
		return nil, rep, fmt.Errorf("calling Constants: %w", err)
	}
	rep = Report{Mu: ConstantCheck{Claim: cs.Mu}, L: ConstantCheck{Claim: cs.L}, Lf: ConstantCheck{Claim: cs.Lf},
		LA: ConstantCheck{Claim: cs.LA}, LB: ConstantCheck{Claim: cs.LB}, LEl: ConstantCheck{Claim: cs.LEl}}
	s := &sampler{p: p, b: p.Backend(), d: d, h: h, slack: opts.Slack}
	if err := s.alloc(); err != nil {
		return nil, rep, err
	}
	defer s.free()

	rng := rand.New(rand.NewPCG(opts.Seed, 7))
	randn := func(n int, scale float64) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = scale * rng.NormFloat64()
		}
		return x
	}
	points := make([][]float64, opts.Points)
	for i := range points {
		w := randn(d, opts.Radius/math.Sqrt(float64(d)))
		for j, c := range opts.Center {
			w[j] += c
		}
		points[i] = w
	}
	dirs := make([][]float64, opts.Directions)
	udirs := make([][]float64, opts.Directions)
	for k := range dirs {
		dirs[k] = randn(d, 1)
		udirs[k] = randn(d, 1)
	}

	// μ and L: Rayleigh quotients at every point.
	if active(cs.Mu) || active(cs.L) {
		for i, w := range points {
			if err := s.rayleigh(&rep, w, dirs, opts.Iters, fmt.Sprintf("point %d", i)); err != nil {
				return s.viol, rep, err
			}
		}
	}
	// Lipschitz constants over far and near pairs.
	if active(cs.Lf) || active(cs.LA) || active(cs.LB) || active(cs.LEl) {
		for i, w := range points {
			var pairs [][2][]float64
			var names []string
			if len(points) > 1 {
				pairs = append(pairs, [2][]float64{w, points[(i+1)%len(points)]})
				names = append(names, fmt.Sprintf("points %d, %d", i, (i+1)%len(points)))
			}
			z := randn(d, 1)
			nz := Norm(z)
			near := make([]float64, d)
			for j := range near {
				near[j] = w[j] + 1e-3*opts.Radius*z[j]/nz
			}
			pairs = append(pairs, [2][]float64{w, near})
			names = append(names, fmt.Sprintf("point %d and a point 1e-3·radius away", i))
			for k, pr := range pairs {
				if err := s.lipschitz(&rep, pr[0], pr[1], dirs, udirs, names[k]); err != nil {
					return s.viol, rep, err
				}
			}
		}
	}
	return s.viol, rep, nil
}

// active reports whether a constant is sampled at all.
func active(c bilevel.Constant) bool { return c.Kind != bilevel.Unknown }

// claimed reports whether a constant's violations count.
func claimed(c bilevel.Constant) bool { return c.Kind == bilevel.Bound || c.Kind == bilevel.Exact }

type sampler struct {
	p          bilevel.Problem
	b          backend.Backend
	d, h       int
	slack      float64
	wv, xv, yv backend.Vector // len d
	hv         backend.Vector // len h
	viol       []Violation
}

func (s *sampler) alloc() error {
	for _, v := range []*backend.Vector{&s.wv, &s.xv, &s.yv} {
		x, err := s.b.NewVector(s.d)
		if err != nil {
			s.free()
			return fmt.Errorf("calling NewVector(%d): %w", s.d, err)
		}
		*v = x
	}
	x, err := s.b.NewVector(s.h)
	if err != nil {
		s.free()
		return fmt.Errorf("calling NewVector(%d): %w", s.h, err)
	}
	s.hv = x
	return nil
}

func (s *sampler) free() {
	for _, v := range []*backend.Vector{&s.wv, &s.xv, &s.yv, &s.hv} {
		if *v != nil {
			s.b.Free(*v)
			*v = nil
		}
	}
}

func (s *sampler) upload(dst backend.Vector, x []float64) error {
	s.b.Upload(dst, x)
	return s.b.Err()
}

func (s *sampler) download(v backend.Vector) ([]float64, error) {
	x := make([]float64, v.Len())
	s.b.Download(x, v)
	if err := s.b.Err(); err != nil {
		return nil, err
	}
	for _, e := range x {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return nil, errors.New("non-finite oracle output")
		}
	}
	return x, nil
}

// linearize makes w the linearization point.
func (s *sampler) linearize(w []float64) error {
	if err := s.upload(s.wv, w); err != nil {
		return fmt.Errorf("calling Upload: %w", err)
	}
	if err := s.p.Linearize(s.wv); err != nil {
		return fmt.Errorf("calling Linearize: %w", err)
	}
	return nil
}

// hessVec returns A·x at the linearization point.
func (s *sampler) hessVec(x []float64) ([]float64, error) {
	if err := s.upload(s.xv, x); err != nil {
		return nil, fmt.Errorf("calling Upload: %w", err)
	}
	if err := s.p.HessVec(s.yv, s.xv); err != nil {
		return nil, fmt.Errorf("calling HessVec: %w", err)
	}
	y, err := s.download(s.yv)
	if err != nil {
		return nil, fmt.Errorf("calling HessVec: %w", err)
	}
	return y, nil
}

// crossVec returns B(w)ᵀu at the linearization point.
func (s *sampler) crossVec(u []float64) ([]float64, error) {
	if err := s.upload(s.xv, u); err != nil {
		return nil, fmt.Errorf("calling Upload: %w", err)
	}
	if err := s.p.CrossVec(s.hv, s.xv); err != nil {
		return nil, fmt.Errorf("calling CrossVec: %w", err)
	}
	y, err := s.download(s.hv)
	if err != nil {
		return nil, fmt.Errorf("calling CrossVec: %w", err)
	}
	return y, nil
}

// outer returns ∇_wE(w) and ∇_λE(w).
func (s *sampler) outer(w []float64) (gw, gl []float64, err error) {
	if err := s.upload(s.wv, w); err != nil {
		return nil, nil, fmt.Errorf("calling Upload: %w", err)
	}
	if err := s.p.OuterGrad(s.yv, s.wv); err != nil {
		return nil, nil, fmt.Errorf("calling OuterGrad: %w", err)
	}
	if gw, err = s.download(s.yv); err != nil {
		return nil, nil, fmt.Errorf("calling OuterGrad: %w", err)
	}
	if err := s.p.OuterHyperGrad(s.hv, s.wv); err != nil {
		return nil, nil, fmt.Errorf("calling OuterHyperGrad: %w", err)
	}
	if gl, err = s.download(s.hv); err != nil {
		return nil, nil, fmt.Errorf("calling OuterHyperGrad: %w", err)
	}
	return gw, gl, nil
}

type rqSample struct {
	rho   float64 // vᵀAv/vᵀv
	where string
}

// rayleigh samples Rayleigh quotients of A(w): each direction, and the
// iterates of Rayleigh–Ritz steps from it toward both ends of the spectrum.
func (s *sampler) rayleigh(rep *Report, w []float64, dirs [][]float64, iters int, where string) error {
	if err := s.linearize(w); err != nil {
		return err
	}
	var samples []rqSample
	normA := 0.0 // largest ‖Av‖/‖v‖ sampled at w
	record := func(x, ax []float64, at string) {
		xx := dot(x, x)
		samples = append(samples, rqSample{dot(x, ax) / xx, at})
		normA = math.Max(normA, Norm(ax)/math.Sqrt(xx))
	}
	for k, v := range dirs {
		av, err := s.hessVec(v)
		if err != nil {
			return err
		}
		record(v, av, fmt.Sprintf("%s, direction %d", where, k))
		for _, toward := range []int{-1, 1} {
			if err := s.ritz(v, av, toward, iters, func(x, ax []float64, it int) {
				end := "largest"
				if toward < 0 {
					end = "smallest"
				}
				record(x, ax, fmt.Sprintf("%s, direction %d after %d Rayleigh–Ritz steps toward the %s eigenvalue", where, k, it, end))
			}); err != nil {
				return err
			}
		}
	}
	for _, r := range samples {
		if math.IsNaN(r.rho) || math.IsInf(r.rho, 0) {
			return fmt.Errorf("non-finite Rayleigh quotient at %s", r.where)
		}
		if mu := rep.Mu.Claim; active(mu) {
			c := &rep.Mu
			if c.Samples == 0 || r.rho < c.Sampled {
				c.Sampled = r.rho
			}
			c.Samples++
			if claimed(mu) && r.rho < mu.Value-s.slack*math.Max(math.Abs(mu.Value), normA) {
				s.viol = append(s.viol, Violation{Name: "Mu", Claim: mu, Sampled: r.rho, Where: r.where})
			}
		}
		if l := rep.L.Claim; active(l) {
			c := &rep.L
			if c.Samples == 0 || r.rho > c.Sampled {
				c.Sampled = r.rho
			}
			c.Samples++
			if claimed(l) && r.rho > l.Value+s.slack*math.Max(math.Abs(l.Value), normA) {
				s.viol = append(s.viol, Violation{Name: "L", Claim: l, Sampled: r.rho, Where: r.where})
			}
		}
	}
	rep.Mu.Ratio = ratio(rep.Mu.Claim.Value, rep.Mu.Sampled)
	rep.L.Ratio = ratio(rep.L.Sampled, rep.L.Claim.Value)
	return nil
}

// ritz takes up to iters steps of single-vector LOBPCG (Knyazev 2001) from
// x0 toward the smallest (toward < 0) or largest eigenvalue of A: the next
// iterate is the Ritz vector of the extreme Ritz value of A on span{x, r,
// p}, r = Ax − ρx the residual and p the previous update. Every iterate's
// A·x is recomputed by HessVec and passed to visit, so each sampled
// Rayleigh quotient is one of a vector the oracle actually saw.
func (s *sampler) ritz(x0, ax0 []float64, toward, iters int, visit func(x, ax []float64, it int)) error {
	nx := Norm(x0)
	x, ax := scaled(x0, 1/nx), scaled(ax0, 1/nx)
	var pdir []float64
	for it := 1; it <= iters; it++ {
		rho := dot(x, ax)
		r := make([]float64, len(x))
		for i := range r {
			r[i] = ax[i] - rho*x[i]
		}
		if Norm(r) <= 1e-10*Norm(ax) {
			return nil // converged: the Ritz vector is an eigenvector to rounding
		}
		basis := [][]float64{x}
		abasis := [][]float64{ax}
		for _, c := range [][]float64{r, pdir} {
			q := orthonormalize(c, basis)
			if q == nil {
				continue
			}
			aq, err := s.hessVec(q)
			if err != nil {
				return err
			}
			basis = append(basis, q)
			abasis = append(abasis, aq)
		}
		m := len(basis)
		g := mat.NewSymDense(m, nil)
		for i := range m {
			for j := i; j < m; j++ {
				g.SetSym(i, j, 0.5*(dot(basis[i], abasis[j])+dot(basis[j], abasis[i])))
			}
		}
		var eig mat.EigenSym
		if !eig.Factorize(g, true) {
			return errors.New("the Rayleigh–Ritz steps: eigendecomposition of the projected matrix failed")
		}
		var vecs mat.Dense
		eig.VectorsTo(&vecs)
		col := 0 // eigenvalues ascend
		if toward > 0 {
			col = m - 1
		}
		next := make([]float64, len(x))
		pnew := make([]float64, len(x))
		for j := range m {
			c := vecs.At(j, col)
			for i := range next {
				next[i] += c * basis[j][i]
				if j > 0 {
					pnew[i] += c * basis[j][i]
				}
			}
		}
		nn := Norm(next)
		if !(nn > 0) {
			return errors.New("the Rayleigh–Ritz steps: zero Ritz vector")
		}
		x = scaled(next, 1/nn)
		pdir = pnew
		var err error
		if ax, err = s.hessVec(x); err != nil {
			return err
		}
		visit(x, ax, it)
	}
	return nil
}

// lipschitz samples the difference quotients of ∇_wE, A(·)v, B(·)ᵀu and
// ∇_λE between w and w2.
func (s *sampler) lipschitz(rep *Report, w, w2 []float64, dirs, udirs [][]float64, where string) error {
	dw := make([]float64, len(w))
	for i := range dw {
		dw[i] = w[i] - w2[i]
	}
	ndw := Norm(dw)
	if !(ndw > 0) {
		return nil
	}
	check := func(name string, c *ConstantCheck, x, x2 []float64, scale float64, at string) {
		diff := make([]float64, len(x))
		for i := range diff {
			diff[i] = x[i] - x2[i]
		}
		nd := Norm(diff)
		q := nd / (ndw * scale)
		if c.Samples == 0 || q > c.Sampled {
			c.Sampled = q
		}
		c.Samples++
		c.Ratio = ratio(c.Sampled, c.Claim.Value)
		if claimed(c.Claim) && nd > c.Claim.Value*(1+s.slack)*ndw*scale+s.slack*(Norm(x)+Norm(x2)) {
			s.viol = append(s.viol, Violation{Name: name, Claim: c.Claim, Sampled: q, Where: at})
		}
	}
	if active(rep.Lf.Claim) || active(rep.LEl.Claim) {
		g1, l1, err := s.outer(w)
		if err != nil {
			return err
		}
		g2, l2, err := s.outer(w2)
		if err != nil {
			return err
		}
		if active(rep.Lf.Claim) {
			check("Lf", &rep.Lf, g1, g2, 1, where)
		}
		if active(rep.LEl.Claim) {
			check("LEl", &rep.LEl, l1, l2, 1, where)
		}
	}
	if !active(rep.LA.Claim) && !active(rep.LB.Claim) {
		return nil
	}
	type products struct{ av, bu [][]float64 }
	eval := func(at []float64) (products, error) {
		var pr products
		if err := s.linearize(at); err != nil {
			return pr, err
		}
		for k := range dirs {
			if active(rep.LA.Claim) {
				av, err := s.hessVec(dirs[k])
				if err != nil {
					return pr, err
				}
				pr.av = append(pr.av, av)
			}
			if active(rep.LB.Claim) {
				bu, err := s.crossVec(udirs[k])
				if err != nil {
					return pr, err
				}
				pr.bu = append(pr.bu, bu)
			}
		}
		return pr, nil
	}
	p1, err := eval(w)
	if err != nil {
		return err
	}
	p2, err := eval(w2)
	if err != nil {
		return err
	}
	for k := range dirs {
		at := fmt.Sprintf("%s, direction %d", where, k)
		if active(rep.LA.Claim) {
			check("LA", &rep.LA, p1.av[k], p2.av[k], Norm(dirs[k]), at)
		}
		if active(rep.LB.Claim) {
			check("LB", &rep.LB, p1.bu[k], p2.bu[k], Norm(udirs[k]), at)
		}
	}
	return nil
}

// ratio returns num/den, +Inf for num > 0 = den and 0 for num = den = 0.
func ratio(num, den float64) float64 {
	if den == 0 {
		if num > 0 {
			return math.Inf(1)
		}
		return 0
	}
	if den < 0 || num < 0 {
		return math.Inf(1) // a non-positive Rayleigh quotient against μ, or a negative claim
	}
	return num / den
}

func scaled(x []float64, a float64) []float64 {
	y := make([]float64, len(x))
	for i := range x {
		y[i] = a * x[i]
	}
	return y
}

// orthonormalize returns c orthogonalized against the orthonormal basis
// (Gram–Schmidt, twice) and normalized, or nil when little of it is left.
func orthonormalize(c []float64, basis [][]float64) []float64 {
	if c == nil {
		return nil
	}
	n0 := Norm(c)
	if !(n0 > 0) {
		return nil
	}
	q := append([]float64(nil), c...)
	for range 2 {
		for _, b := range basis {
			a := dot(b, q)
			for i := range q {
				q[i] -= a * b[i]
			}
		}
	}
	n := Norm(q)
	if !(n > 1e-8*n0) {
		return nil
	}
	return scaled(q, 1/n)
}
