// Package bench is hypergrad's benchmark suite: for every problem × estimator
// it measures the relative error ‖ĥ − ∇f‖/‖∇f‖ against the exact reference
// over a grid of inner (t) and linear (k) iterations, fits the asymptotic
// contraction rate of each phase next to its theoretical rate, tabulates the
// iterations and oracle calls needed to reach 1e-2 … 1e-8 (the
// iteration-complexity table), times hypergradients and oracle calls, and
// measures the memory of ITD against AID as t grows. It reproduces the
// findings of the two papers the library follows (see Reproduce) and can run
// a PyTorch peer on the same data side by side (see peers.go).
//
// Results are written as JSON, CSV (one row per measurement), a markdown
// summary and PNG figures (WriteAll).
package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// ProblemSpec names a problem instance of the suite.
type ProblemSpec struct {
	Name    string // label in the report, e.g. "ridge"
	Problem string // family: ridge, logreg or quadratic
	Source  string // data source: a synth: string or an .npz path
}

// MethodSpec names an estimator and its options; Estimator and
// FixedPointEstimator (methods.go) build it.
type MethodSpec struct {
	// Name is the method: itd, aid-fp, aid-cg, aid-pcg, aid-hb, aid-minres,
	// aid-gmres, aid-bicgstab or aid-cgne for optimisation problems
	// (OptimisationMethods); itd, itd-fwd, aid-fp, aid-gmres, aid-bicgstab,
	// aid-cgne, and with a symmetric Jacobian aid-cg and aid-minres, for
	// fixed-point problems (FixedPointMethods).
	Name string
	// Inner is the inner solver of an optimisation problem: gd (also ""),
	// hb, fista or newton (AID only). Fixed-point problems take none ("").
	Inner string

	// The options of a single estimate (the command line); the suite leaves
	// them zero.

	// Truncate makes ITD back-propagate through its last Truncate steps
	// only (0: all; reverse mode only).
	Truncate int
	// TolInner stops the inner solve (‖∇_w g‖, or the fixed-point step
	// ‖w_{s+1} − w_s‖) and TolLinear the linear solve (its residual) at
	// these values; 0: exactly t and k iterations.
	TolInner, TolLinear float64
	// Target asks AID on an optimisation problem for a certified accuracy
	// instead of iteration counts (hypergrad.AID.Target).
	Target *hypergrad.Target
}

// Suite describes a benchmark run.
type Suite struct {
	Name     string
	Problems []ProblemSpec
	Methods  []MethodSpec
	// TGrid and KGrid are the inner and linear iteration counts of the error
	// grid; the diagonal t = k is their common values.
	TGrid, KGrid []int
	// RateT is the inner iteration count at which the linear-solve rates are
	// fitted (large enough for w_t = w* to rounding).
	RateT int
	// TimingT and TimingK configure the timed hypergradient; Repeats is the
	// number of timed runs (median, min, max reported).
	TimingT, TimingK int
	Repeats          int
	// MemoryT are the inner iteration counts of the ITD vs AID memory curve.
	MemoryT []int
	// Targets are the relative errors of the iteration-complexity table.
	Targets []float64
	// Reproduce runs the papers' experiments (Grazzi et al. hierarchy,
	// Ehrhardt & Roberts budget split, and the Grazzi et al. equilibrium
	// experiment when Equilibrium is set).
	Reproduce bool
	// Equilibrium, if not nil, configures the equilibrium experiment that
	// Reproduce runs (see equilibrium.go).
	Equilibrium *EquilibriumSpec
	// Cleaning and Denoising, if not nil, configure the hyper-cleaning and
	// TV-denoising experiments that Reproduce runs (see papers.go).
	Cleaning  *CleaningSpec
	Denoising *DenoisingSpec
	// Tightness compares error bounds with true errors on every problem, at
	// TightnessPoints (nil: DefaultTightnessPoints).
	Tightness       bool
	TightnessPoints [][2]int
	// TargetCost, if not nil, runs the target-cost study (targetcost.go).
	TargetCost *TargetCostSpec
	// Outer, if not nil, runs the outer-loop experiment (MAID).
	Outer *OuterSpec
}

// geom returns about n integers spread geometrically over [lo, hi], always
// including both ends.
func geom(lo, hi int, factor float64) []int {
	var out []int
	for x := float64(lo); ; x *= factor {
		v := int(x + 0.5)
		if v > hi {
			break
		}
		if len(out) == 0 || v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	if out[len(out)-1] != hi {
		out = append(out, hi)
	}
	return out
}

// AllMethods are the estimators of Grazzi et al. (2020), all with the
// gradient-descent inner solver of the paper, and AID with
// Jacobi-preconditioned CG.
func AllMethods() []MethodSpec {
	return []MethodSpec{
		{Name: "itd", Inner: "gd"},
		{Name: "aid-fp", Inner: "gd"},
		{Name: "aid-cg", Inner: "gd"},
		{Name: "aid-pcg", Inner: "gd"},
		{Name: "aid-hb", Inner: "gd"},
	}
}

// Quick is the default suite: a small instance of every optimisation family
// of the zoo, all methods, and
// the equilibrium experiment on a tiny problem, in well under a minute on 2
// cores.
func Quick() *Suite {
	return &Suite{
		Name: "quick",
		Problems: []ProblemSpec{
			{Name: "ridge", Problem: "ridge", Source: "synth:n=1000,d=50,kappa=100,seed=0"},
			{Name: "logreg", Problem: "logreg", Source: "synth:n=1000,d=50,kappa=10,lambda=-4,seed=0"},
			{Name: "quadratic", Problem: "quadratic", Source: "synth:numpy=true"},
			{Name: "multilogreg", Problem: "multilogreg", Source: "synth:n=500,m=250,d=50,c=5,lambda=-2,seed=0"},
			{Name: "hypercleaning", Problem: "hypercleaning", Source: "synth:n=300,m=200,d=20,c=4,reg=0.01,seed=0"},
			{Name: "krr", Problem: "krr", Source: "synth:n=200,m=100,d=5,rho=1,seed=0"},
			{Name: "biasreg", Problem: "biasreg", Source: "synth:tasks=10,n=20,m=20,d=10,rho=0.1,seed=0"},
			{Name: "tvdenoise", Problem: "tvdenoise", Source: "synth:h=1,w=256,seed=0"},
		},
		Methods:     AllMethods(),
		TGrid:       geom(1, 2000, 1.25),
		KGrid:       geom(1, 2000, 1.25),
		RateT:       4000,
		TimingT:     100,
		TimingK:     100,
		Repeats:     7,
		MemoryT:     []int{10, 30, 100, 300, 1000, 3000},
		Targets:     []float64{1e-2, 1e-4, 1e-6, 1e-8},
		Reproduce:   true,
		Equilibrium: QuickEquilibrium(),
		Tightness:   true,
	}
}

// Full is the larger suite: the quick problems, a harder ridge (κ ≈ 1e3) and
// a wider quadratic, finer grids, more repeats, the outer-loop (MAID)
// experiment, and the equilibrium experiment at N = 2000, k = 20.
func Full() *Suite {
	s := Quick()
	s.Name = "full"
	s.Problems = append(s.Problems,
		ProblemSpec{Name: "ridge-kappa1e3", Problem: "ridge", Source: "synth:n=2000,d=100,kappa=1000,seed=1"},
		ProblemSpec{Name: "quadratic-wide", Problem: "quadratic", Source: "synth:m1=500,m2=600,d=60,h=20,seed=1"},
	)
	s.TGrid = geom(1, 10000, 1.15)
	s.KGrid = geom(1, 10000, 1.15)
	s.RateT = 20000
	s.Repeats = 11
	s.MemoryT = []int{10, 30, 100, 300, 1000, 3000, 10000}
	s.Outer = DefaultOuter()
	s.Equilibrium = FullEquilibrium()
	s.Cleaning = DefaultCleaning()
	s.Denoising = DefaultDenoising()
	return s
}

// Bounds is the usefulness study of the error bounds: on the real data sets
// of the repository's datasets/ folder (run from the repository root) and
// on synthetic ridge and logreg with κ = L/μ ≈ 1e2, 1e3 and 1e4 (n = 2000,
// d = 200; logreg's λ = log(0.27/κ) with L ≈ 0.27), the tightness rows at
// DefaultTightnessPoints and at (t, k) = (30, 3), (200, 10), (60, 60):
// true error, a posteriori bound, refined bound and error estimate; and the
// target-cost study DefaultTargetCost. No estimator grids.
func Bounds() *Suite {
	s := &Suite{Name: "bounds", Tightness: true}
	for _, f := range []string{"ridge-diabetes", "krr-diabetes", "logreg-breast-cancer", "multilogreg-iris", "multilogreg-digits", "hypercleaning-digits"} {
		fam, _, _ := strings.Cut(f, "-")
		s.Problems = append(s.Problems, ProblemSpec{Name: f, Problem: fam, Source: "datasets/" + f + ".npz"})
	}
	for _, k := range []struct {
		name, kappa, lambda string
	}{{"1e2", "100", "-5.9145"}, {"1e3", "1000", "-8.2171"}, {"1e4", "10000", "-10.5197"}} {
		s.Problems = append(s.Problems,
			ProblemSpec{Name: "ridge-kappa" + k.name, Problem: "ridge", Source: "synth:n=2000,d=200,kappa=" + k.kappa + ",seed=1"},
			ProblemSpec{Name: "logreg-kappa" + k.name, Problem: "logreg", Source: "synth:n=2000,d=200,kappa=" + k.kappa + ",lambda=" + k.lambda + ",seed=1"})
	}
	s.TightnessPoints = append(append([][2]int(nil), DefaultTightnessPoints...), [2]int{30, 3}, [2]int{200, 10}, [2]int{60, 60})
	s.TargetCost = DefaultTargetCost()
	return s
}

// OuterOnly is the outer-loop experiment alone (MAID against fixed
// accuracies; about two minutes on 2 cores).
func OuterOnly() *Suite {
	return &Suite{Name: "maid", Outer: DefaultOuter()}
}

// NoProblems is the empty suite: no problems and no outer experiment, for
// runs that want only the comparisons with the peer (-peers).
func NoProblems() *Suite {
	return &Suite{Name: "none", Repeats: 7}
}

// SuiteByName returns the suite of that name: quick, full, papers, bounds,
// maid or none.
func SuiteByName(name string) (*Suite, error) {
	switch name {
	case "papers":
		return Papers(), nil
	case "none":
		return NoProblems(), nil
	case "quick":
		return Quick(), nil
	case "full":
		return Full(), nil
	case "maid":
		return OuterOnly(), nil
	case "bounds":
		return Bounds(), nil
	}
	return nil, fmt.Errorf("unknown suite %q (want quick, full, papers, bounds, maid or none)", name)
}

// Empty reports whether the suite runs nothing by itself: no problems, no
// outer-loop experiment and no reproduction (the "none" suite, which only
// the peer comparisons use).
func (s *Suite) Empty() bool {
	return len(s.Problems) == 0 && s.Outer == nil && !s.Reproduce && s.TargetCost == nil
}

// Select keeps the listed problems and methods (comma-separated names,
// surrounding spaces ignored; empty keeps all), in the order listed. An
// unknown name, a name listed twice (its results would overwrite each
// other) and a selection from a suite that has no problems or no methods
// are errors.
func (s *Suite) Select(problems, methods string) error {
	if problems != "" {
		if len(s.Problems) == 0 {
			return fmt.Errorf("-problems %q: suite %s has no problems to select (-problems applies to the quick and full suites)", problems, s.Name)
		}
		keep, err := selectNamed(s.Problems, problems, "problem", s.Name, func(p ProblemSpec) string { return p.Name })
		if err != nil {
			return err
		}
		s.Problems = keep
	}
	if methods != "" {
		if len(s.Methods) == 0 {
			return fmt.Errorf("-methods %q: suite %s has no methods to select (-methods applies to the quick and full suites)", methods, s.Name)
		}
		keep, err := selectNamed(s.Methods, methods, "method", s.Name, func(m MethodSpec) string { return m.Name })
		if err != nil {
			return err
		}
		s.Methods = keep
	}
	return nil
}

// selectNamed returns the elements of xs named in the comma-separated list,
// in its order; what ("problem" or "method") and suite word the errors.
func selectNamed[T any](xs []T, list, what, suite string, name func(T) string) ([]T, error) {
	var keep []T
	seen := map[string]bool{}
	for _, raw := range strings.Split(list, ",") {
		n := strings.TrimSpace(raw)
		i := slices.IndexFunc(xs, func(x T) bool { return name(x) == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown %s %q in suite %s (have %s)", what, n, suite, names(xs, name))
		}
		if seen[n] {
			return nil, fmt.Errorf("duplicate %s %q in -%ss %q: each runs once (a second run would overwrite the first's results)", what, n, what, list)
		}
		seen[n] = true
		keep = append(keep, xs[i])
	}
	return keep, nil
}

func names[T any](xs []T, f func(T) string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return strings.Join(out, ", ")
}
