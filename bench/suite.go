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
)

// ProblemSpec names a problem instance of the suite.
type ProblemSpec struct {
	Name    string // label in the report, e.g. "ridge"
	Problem string // family: ridge, logreg or quadratic
	Source  string // data source: a synth: string or an .npz path
}

// MethodSpec is an estimator of the suite.
type MethodSpec struct {
	Name   string // itd, aid-fp, aid-cg, aid-pcg or aid-hb
	Inner  string // gd, hb, fista or newton (the last two AID only)
	Linear string // fp, cg, pcg (Jacobi CG) or hb (AID only)
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
	// Ehrhardt & Roberts budget split).
	Reproduce bool
	// Tightness compares error bounds with true errors on every problem.
	Tightness bool
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
		{Name: "aid-fp", Inner: "gd", Linear: "fp"},
		{Name: "aid-cg", Inner: "gd", Linear: "cg"},
		{Name: "aid-pcg", Inner: "gd", Linear: "pcg"},
		{Name: "aid-hb", Inner: "gd", Linear: "hb"},
	}
}

// Quick is the default suite: small problems (κ ≈ 15–130), all methods, in
// well under a minute on 2 cores.
func Quick() *Suite {
	return &Suite{
		Name: "quick",
		Problems: []ProblemSpec{
			{Name: "ridge", Problem: "ridge", Source: "synth:n=1000,d=50,kappa=100,seed=0"},
			{Name: "logreg", Problem: "logreg", Source: "synth:n=1000,d=50,kappa=10,lambda=-4,seed=0"},
			{Name: "quadratic", Problem: "quadratic", Source: "synth:numpy=true"},
		},
		Methods:   AllMethods(),
		TGrid:     geom(1, 2000, 1.25),
		KGrid:     geom(1, 2000, 1.25),
		RateT:     4000,
		TimingT:   100,
		TimingK:   100,
		Repeats:   7,
		MemoryT:   []int{10, 30, 100, 300, 1000, 3000},
		Targets:   []float64{1e-2, 1e-4, 1e-6, 1e-8},
		Reproduce: true,
		Tightness: true,
	}
}

// Full is the larger suite: the quick problems, a harder ridge (κ ≈ 1e3) and
// a wider quadratic, finer grids, more repeats, and the outer-loop (MAID)
// experiment. It takes about 4 minutes on 2 cores.
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

// SuiteByName returns the suite of that name: quick, full, maid or none.
func SuiteByName(name string) (*Suite, error) {
	switch name {
	case "none":
		return NoProblems(), nil
	case "quick":
		return Quick(), nil
	case "full":
		return Full(), nil
	case "maid":
		return OuterOnly(), nil
	}
	return nil, fmt.Errorf("unknown suite %q (want quick, full, maid or none)", name)
}

// Select keeps the listed problems and methods (comma-separated names; empty
// keeps all) and reports unknown names.
func (s *Suite) Select(problems, methods string) error {
	if problems != "" {
		var keep []ProblemSpec
		for _, name := range strings.Split(problems, ",") {
			i := slices.IndexFunc(s.Problems, func(p ProblemSpec) bool { return p.Name == strings.TrimSpace(name) })
			if i < 0 {
				return fmt.Errorf("unknown problem %q in suite %s (have %s)", name, s.Name, names(s.Problems, func(p ProblemSpec) string { return p.Name }))
			}
			keep = append(keep, s.Problems[i])
		}
		s.Problems = keep
	}
	if methods != "" {
		var keep []MethodSpec
		for _, name := range strings.Split(methods, ",") {
			i := slices.IndexFunc(s.Methods, func(m MethodSpec) bool { return m.Name == strings.TrimSpace(name) })
			if i < 0 {
				return fmt.Errorf("unknown method %q (have %s)", name, names(s.Methods, func(m MethodSpec) string { return m.Name }))
			}
			keep = append(keep, s.Methods[i])
		}
		s.Methods = keep
	}
	return nil
}

func names[T any](xs []T, f func(T) string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return strings.Join(out, ", ")
}
