package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// Runner runs a suite on a backend.
type Runner struct {
	Suite    *Suite
	Backend  backend.Backend
	Progress *Progress // nil: quiet
}

// problem is what the bench needs of a problem.
type problem = problems.Problem

// NewProblem loads a problem of the spec onto the backend.
func NewProblem(b backend.Backend, spec ProblemSpec) (problem, string, error) {
	d, err := data.Load(spec.Problem, spec.Source)
	if err != nil {
		return nil, "", err
	}
	return problems.New(b, spec.Problem, d)
}

// oracles is the number of derivative oracle calls of a run with t inner
// and k linear iterations: t+1 inner gradients (the last one gives the
// residual), then k Hessian-vector products and 1 cross product (AID, plus
// the Hessian diagonal for Jacobi CG), or t of each (ITD).
func (m MethodSpec) oracles(t, k int) int {
	if m.Name == "itd" {
		return 3*t + 1
	}
	if m.Name == "aid-pcg" {
		return t + 1 + k + 2
	}
	return t + 1 + k + 1
}

// Run executes the suite.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	start := time.Now()
	s := r.Suite
	rep := &Report{Meta: r.meta()}
	r.Progress.Start(r.tasks())
	for _, spec := range s.Problems {
		pr, err := r.runProblem(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("bench: problem %s: %w", spec.Name, err)
		}
		rep.Problems = append(rep.Problems, *pr)
	}
	if s.TargetCost != nil {
		rows, err := r.targetCost(ctx, s.TargetCost)
		if err != nil {
			return nil, fmt.Errorf("bench: target cost: %w", err)
		}
		rep.TargetCost = rows
	}
	if s.Outer != nil {
		o, err := r.runOuter(ctx, s.Outer)
		if err != nil {
			return nil, fmt.Errorf("bench: outer loop: %w", err)
		}
		rep.Outer = o
	}
	if s.Reproduce || s.Outer != nil {
		rp := &Reproduction{}
		if s.Reproduce {
			var err error
			if rp, err = r.reproduce(ctx, rep); err != nil {
				return nil, fmt.Errorf("bench: reproduction: %w", err)
			}
		}
		if rep.Outer != nil {
			rp.Claims = append(rp.Claims, maidClaim(rep.Outer))
		}
		rep.Reproduction = rp
	}
	r.Progress.Done()
	rep.Meta.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// tasks counts the progress units: one per grid point, timing and memory run.
func (r *Runner) tasks() int {
	s := r.Suite
	per := len(s.TGrid)*2 + 2 + len(s.MemoryT)
	n := len(s.Problems) * (len(s.Methods)*per + 3)
	if s.Reproduce {
		n += 19 + 8 + s.Equilibrium.tasks()
		if s.Cleaning != nil {
			n += 6
		}
		if s.Denoising != nil {
			n += 2
		}
	}
	if s.Tightness {
		n += len(s.Problems)
	}
	if tc := s.TargetCost; tc != nil {
		n += len(tc.Problems) * len(tc.Inners)
	}
	if s.Outer != nil {
		n += 1 + len(s.Outer.Fixed)
	}
	return n
}

func (r *Runner) meta() Meta {
	host, _ := os.Hostname()
	return Meta{
		Suite: r.Suite.Name, Backend: r.Backend.Name(), Device: r.Backend.Device(),
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), Commit: commit(),
		Date: time.Now().UTC().Format(time.RFC3339), Host: host,
	}
}

// commit returns the VCS revision stamped into the binary, if any.
func commit() string {
	rev, dirty := "", false
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = &debug.BuildInfo{}
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" { // not stamped (go run, or go build without -buildvcs): ask git
		out, err := exec.Command("git", "rev-parse", "HEAD").Output()
		if err != nil {
			return "unknown"
		}
		rev = strings.TrimSpace(string(out))
		st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
		dirty = err == nil && len(strings.TrimSpace(string(st))) > 0
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}

func (r *Runner) runProblem(ctx context.Context, spec ProblemSpec) (*ProblemReport, error) {
	s := r.Suite
	p, shape, err := NewProblem(r.Backend, spec)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	ref, err := p.Reference()
	if err != nil {
		return nil, err
	}
	c, err := p.Constants()
	if err != nil {
		return nil, err
	}
	pr := &ProblemReport{Name: spec.Name, Problem: spec.Problem, Source: spec.Source, Shape: shape,
		D: p.InnerDim(), H: p.HyperDim(), Mu: c.Mu.Value, L: c.L.Value, ConstKind: c.L.Kind.String(),
		RefNorm: norm(ref.Hypergradient), RefMethod: ref.Method}
	pr.MuStar, pr.LStar, pr.KappaJacobi, err = localSpectrum(p, ref.W)
	if err != nil {
		return nil, err
	}
	pr.KappaStar = pr.LStar / pr.MuStar
	r.Progress.Step(spec.Name + ": oracles")
	if pr.Oracles, err = r.timeOracles(p, ref.W); err != nil {
		return nil, err
	}
	r.Progress.Step(spec.Name + ": inner rates")
	if pr.InnerRates, err = r.innerRates(ctx, p, ref, pr); err != nil {
		return nil, err
	}
	r.Progress.Step(spec.Name)
	if s.Tightness {
		if pr.Tightness, err = r.tightness(ctx, p, ref); err != nil {
			return nil, err
		}
	}
	for _, m := range s.Methods {
		mr, err := r.runMethod(ctx, p, ref, pr, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		pr.Methods = append(pr.Methods, *mr)
	}
	return pr, nil
}

// localSpectrum returns the extreme eigenvalues of A(w*), formed densely
// from d Hessian-vector products (d ≤ 2000), and the condition number
// kj of D^{-1/2} A D^{-1/2}, D = diag(A), which Jacobi CG sees.
func localSpectrum(p problem, w []float64) (lo, hi, kj float64, err error) {
	b := p.Backend()
	d := p.InnerDim()
	if d > 2000 {
		return math.NaN(), math.NaN(), math.NaN(), nil
	}
	wv, e, col := vec(b, w), vec(b, make([]float64, d)), vec(b, make([]float64, d))
	defer free(b, wv, e, col)
	if err := p.Linearize(wv); err != nil {
		return 0, 0, 0, err
	}
	a := mat.NewSymDense(d, nil)
	unit := make([]float64, d)
	c := make([]float64, d)
	for j := 0; j < d; j++ {
		unit[j] = 1
		b.Upload(e, unit)
		if err := p.HessVec(col, e); err != nil {
			return 0, 0, 0, err
		}
		b.Download(c, col)
		for i := 0; i <= j; i++ {
			a.SetSym(i, j, c[i])
		}
		unit[j] = 0
	}
	var eig mat.EigenSym
	if !eig.Factorize(a, false) {
		return 0, 0, 0, errors.New("eigendecomposition of A(w*) failed")
	}
	v := eig.Values(nil)
	s := make([]float64, d)
	for i := range s {
		s[i] = 1 / math.Sqrt(a.At(i, i))
	}
	sa := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			sa.SetSym(i, j, s[i]*a.At(i, j)*s[j])
		}
	}
	if !eig.Factorize(sa, false) {
		return 0, 0, 0, errors.New("eigendecomposition of D^{-1/2}A(w*)D^{-1/2} failed")
	}
	vj := eig.Values(nil)
	return v[0], v[d-1], vj[d-1] / vj[0], b.Err()
}

// timeOracles times one inner gradient, one Hessian-vector product and one
// cross product (median of Repeats batches).
func (r *Runner) timeOracles(p problem, w []float64) (map[string]Stat, error) {
	b := p.Backend()
	d, h := p.InnerDim(), p.HyperDim()
	wv, g, hv := vec(b, w), vec(b, make([]float64, d)), vec(b, make([]float64, h))
	defer free(b, wv, g, hv)
	if err := p.Linearize(wv); err != nil {
		return nil, err
	}
	out := map[string]Stat{}
	for _, o := range []struct {
		name string
		f    func() error
	}{
		{"inner_grad", func() error { return p.InnerGrad(g, wv) }},
		{"hess_vec", func() error { return p.HessVec(g, wv) }},
		{"cross_vec", func() error { return p.CrossVec(hv, wv) }},
	} {
		st, err := timeIt(b, r.Suite.Repeats, o.f)
		if err != nil {
			return nil, err
		}
		out[o.name] = st
	}
	return out, nil
}

// timeIt times f: Repeats batches of calls, each batch about 5 ms or at
// least one call; it reports the per-call statistics over batches.
func timeIt(b backend.Backend, repeats int, f func() error) (Stat, error) {
	calls := 1
	for {
		t0 := time.Now()
		for i := 0; i < calls; i++ {
			if err := f(); err != nil {
				return Stat{}, err
			}
		}
		if err := b.Sync(); err != nil {
			return Stat{}, err
		}
		if time.Since(t0) > 5*time.Millisecond || calls >= 1<<16 {
			break
		}
		calls *= 2
	}
	xs := make([]float64, repeats)
	for i := range xs {
		t0 := time.Now()
		for j := 0; j < calls; j++ {
			if err := f(); err != nil {
				return Stat{}, err
			}
		}
		if err := b.Sync(); err != nil {
			return Stat{}, err
		}
		xs[i] = time.Since(t0).Seconds() / float64(calls)
	}
	return stat(xs), nil
}

func stat(xs []float64) Stat {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return Stat{}
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// innerRates fits the contraction of ‖w_t − w*‖ for the inner solvers the
// suite's methods use.
func (r *Runner) innerRates(ctx context.Context, p problem, ref *bilevel.Reference, pr *ProblemReport) ([]Rate, error) {
	b := p.Backend()
	var rates []Rate
	seen := map[string]bool{}
	for _, m := range r.Suite.Methods {
		if seen[m.Inner] {
			continue
		}
		seen[m.Inner] = true
		var errs []float64
		x := make([]float64, p.InnerDim())
		wn := norm(ref.W)
		aid, err := aidOf(MethodSpec{Name: "aid-cg", Inner: m.Inner}, r.Suite.RateT, 0)
		if err != nil {
			return nil, err
		}
		aid.Monitor = func(pg hypergrad.Progress) error {
			if pg.Phase == hypergrad.PhaseInner {
				b.Download(x, pg.X)
				errs = append(errs, distance(x, ref.W)/wn)
			}
			return nil
		}
		res, err := aid.Estimate(ctx, p, nil)
		if err != nil {
			return nil, err
		}
		fitted, n := fitRate(errs, 1e-12, 1e-2)
		theory, formula := innerTheory(m.Inner, res.InnerStep, res.InnerMomentum, pr.MuStar, pr.LStar)
		rates = append(rates, Rate{Phase: "inner-" + m.Inner, Fitted: fitted, Theory: theory, Formula: formula, Points: n})
	}
	return rates, nil
}

// innerTheory is the asymptotic rate of the inner solver with steps α, β on
// a problem whose Hessian at w* has spectrum [μ*, L*].
func innerTheory(inner string, alpha, beta, mu, l float64) (float64, string) {
	if inner == "hb" {
		return math.Max(hbRadius(alpha, beta, mu), hbRadius(alpha, beta, l)), "max_{λ∈{μ*,L*}} ρ(z² − (1+β−αλ)z + β)"
	}
	return math.Max(math.Abs(1-alpha*mu), math.Abs(1-alpha*l)), "max(|1−αμ*|, |1−αL*|)"
}

// hbRadius is the spectral radius of the heavy-ball iteration on the
// eigenvalue λ: the largest |z| with z² − (1+β−αλ)z + β = 0.
func hbRadius(alpha, beta, lambda float64) float64 {
	bb := 1 + beta - alpha*lambda
	disc := bb*bb - 4*beta
	if disc < 0 {
		return math.Sqrt(beta)
	}
	sq := math.Sqrt(disc)
	return math.Max(math.Abs((bb+sq)/2), math.Abs((bb-sq)/2))
}

// fitRate returns the least-squares contraction factor of errs[i] against
// i over the iterations whose error lies in [lo, hi] (the asymptotic phase,
// above the rounding floor), and the number of points used. It returns NaN
// with fewer than 3 points.
func fitRate(errs []float64, lo, hi float64) (float64, int) {
	var sx, sy, sxx, sxy float64
	n := 0
	for i, e := range errs {
		if !(e >= lo && e <= hi) {
			continue
		}
		x, y := float64(i), math.Log(e)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		n++
	}
	if n < 3 {
		return math.NaN(), n
	}
	fn := float64(n)
	return math.Exp((fn*sxy - sx*sy) / (fn*sxx - sx*sx)), n
}

func vec(b backend.Backend, x []float64) backend.Vector {
	v, err := b.NewVector(len(x))
	if err != nil {
		return nil
	}
	b.Upload(v, x)
	return v
}

func free(b backend.Backend, vs ...backend.Vector) {
	for _, v := range vs {
		if v != nil {
			b.Free(v)
		}
	}
}

func norm(x []float64) float64 { return floats.Norm(x, 2) }

func distance(x, y []float64) float64 { return floats.Distance(x, y, 2) }

func relErr(got, want []float64) float64 {
	n := norm(want)
	if n == 0 {
		return norm(got)
	}
	return distance(got, want) / n
}

func methodLabel(m MethodSpec) string {
	return strings.TrimSpace(m.Name)
}
