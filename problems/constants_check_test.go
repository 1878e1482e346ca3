package problems

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

// constantsZoo is the problems whose claimed constants are sampled: ridge
// and logreg with one weight per feature (h = d) and one shared weight
// (h = 1), and the Ehrhardt–Roberts quadratic.
func constantsZoo() []named {
	return []named{
		{"ridge", func(t testing.TB) bilevel.Problem { return mustRidge(t, synth(t, false, 50, 7, 20, 1)) }},
		{"ridge-shared", func(t testing.TB) bilevel.Problem {
			s := synth(t, false, 50, 7, 20, 2)
			s.Lambda = []float64{-1.5}
			return mustRidge(t, s)
		}},
		{"logreg", func(t testing.TB) bilevel.Problem { return mustLogreg(t, synth(t, true, 60, 6, 20, 4)) }},
		{"logreg-shared", func(t testing.TB) bilevel.Problem {
			s := synth(t, true, 60, 6, 20, 5)
			s.Lambda = []float64{-2}
			return mustLogreg(t, s)
		}},
		{"quadratic", func(t testing.TB) bilevel.Problem {
			q, err := data.SynthQuadratic(data.QuadraticOptions{M1: 30, M2: 25, D: 5, H: 4, Seed: 6})
			if err != nil {
				t.Fatal(err)
			}
			return mustQuadratic(t, q)
		}},
	}
}

// TestCheckConstantsZoo samples every problem's own constants around the
// origin and around a random point: none may be contradicted, λ must be
// unchanged, and the exact constants (μ and L of ridge and the quadratic,
// computed by dense eigendecompositions) must be attained by the
// Rayleigh–Ritz samples to 1e-8.
func TestCheckConstantsZoo(t *testing.T) {
	for _, z := range constantsZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			lam := make([]float64, p.HyperDim())
			p.Hyper(lam)
			for _, o := range []bileveltest.ConstantsOptions{
				{},
				{Center: randomPoint(p.InnerDim(), 9), Radius: 3, Points: 4, Seed: 2},
			} {
				rep := bileveltest.CheckConstants(t, p, o)
				t.Logf("radius %g: %v", o.Radius, rep)
				for _, c := range []struct {
					name string
					c    bileveltest.ConstantCheck
				}{{"Mu", rep.Mu}, {"L", rep.L}, {"Lf", rep.Lf}, {"LA", rep.LA}, {"LB", rep.LB}, {"LEl", rep.LEl}} {
					if c.c.Claim.Kind != bilevel.Unknown && c.c.Samples == 0 {
						t.Errorf("%s (%v) was not sampled", c.name, c.c.Claim.Kind)
					}
				}
				if z.name != "logreg" && z.name != "logreg-shared" {
					for _, c := range []bileveltest.ConstantCheck{rep.Mu, rep.L} {
						if c.Claim.Kind == bilevel.Exact && math.Abs(c.Ratio-1) > 1e-8 {
							t.Errorf("exact %v not attained by the Rayleigh–Ritz samples: ratio %.12g", c.Claim.Value, c.Ratio)
						}
					}
				}
			}
			got := make([]float64, len(lam))
			p.Hyper(got)
			if !slices.Equal(got, lam) {
				t.Errorf("λ changed: %v → %v", lam, got)
			}
		})
	}
}

// wrongConstants is a problem whose Constants() applies edit to the real ones.
type wrongConstants struct {
	bilevel.Problem
	edit func(*bilevel.Constants)
}

func (w wrongConstants) Constants() (bilevel.Constants, error) {
	c, err := w.Problem.Constants()
	if err != nil {
		return c, err
	}
	w.edit(&c)
	return c, nil
}

// TestConstantsViolationsCatchWrongClaims checks that wrong claims labelled
// Bound are caught: μ 3× too high and L 3× too low (ridge and the quadratic,
// whose μ and L are exact; logreg, whose L = σ_max(X)²/(4n) + max e^λ is
// attained to within 3× at w = 0), L_A = 0 on logreg (whose A varies with
// w) and L_f, L_B 3× too low. The same wrong value labelled Estimate is
// reported (ratio > 1) but is no violation.
func TestConstantsViolationsCatchWrongClaims(t *testing.T) {
	bound := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Bound} }
	cases := []struct {
		problem, name, constant string
		edit                    func(*bilevel.Constants)
	}{
		{"ridge", "mu-3x", "Mu", func(c *bilevel.Constants) { c.Mu = bound(3 * c.Mu.Value) }},
		{"ridge", "L-3x-low", "L", func(c *bilevel.Constants) { c.L = bound(c.L.Value / 3) }},
		{"ridge", "Lf-3x-low", "Lf", func(c *bilevel.Constants) { c.Lf = bound(c.Lf.Value / 3) }},
		{"ridge", "LB-3x-low", "LB", func(c *bilevel.Constants) { c.LB = bound(c.LB.Value / 3) }},
		{"quadratic", "mu-3x", "Mu", func(c *bilevel.Constants) { c.Mu = bound(3 * c.Mu.Value) }},
		{"quadratic", "L-3x-low", "L", func(c *bilevel.Constants) { c.L = bound(c.L.Value / 3) }},
		{"logreg", "L-3x-low", "L", func(c *bilevel.Constants) { c.L = bound(c.L.Value / 3) }},
		{"logreg", "LA-zero", "LA", func(c *bilevel.Constants) { c.LA = bound(0) }},
		{"logreg-shared", "LA-zero", "LA", func(c *bilevel.Constants) { c.LA = bound(0) }},
		{"logreg-shared", "LB-3x-low", "LB", func(c *bilevel.Constants) { c.LB = bound(c.LB.Value / 3) }},
	}
	zoo := map[string]func(testing.TB) bilevel.Problem{}
	for _, z := range constantsZoo() {
		zoo[z.name] = z.p
	}
	for _, c := range cases {
		t.Run(c.problem+"/"+c.name, func(t *testing.T) {
			p := wrongConstants{zoo[c.problem](t), c.edit}
			viol, rep, err := bileveltest.ConstantsViolations(p, bileveltest.ConstantsOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(viol) == 0 {
				t.Fatalf("no violation found; report %v", rep)
			}
			for _, v := range viol {
				if v.Name != c.constant {
					t.Errorf("violation of %s, want only %s: %v", v.Name, c.constant, v)
				}
			}
			t.Logf("%d violations, first: %v", len(viol), viol[0])

			// The same value as an Estimate: reported, not a violation.
			p.edit = func(k *bilevel.Constants) {
				c.edit(k)
				for _, x := range []*bilevel.Constant{&k.Mu, &k.L, &k.Lf, &k.LA, &k.LB, &k.LEl} {
					if x.Kind == bilevel.Bound {
						x.Kind = bilevel.Estimate
					}
				}
			}
			viol, rep, err = bileveltest.ConstantsViolations(p, bileveltest.ConstantsOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(viol) != 0 {
				t.Errorf("estimates gave %d violations: %v", len(viol), viol[0])
			}
			r := map[string]float64{"Mu": rep.Mu.Ratio, "L": rep.L.Ratio, "Lf": rep.Lf.Ratio, "LA": rep.LA.Ratio, "LB": rep.LB.Ratio}[c.constant]
			if !(r > 1) {
				t.Errorf("estimate's ratio %.4g, want > 1", r)
			}
		})
	}
}

// recordTB records the failures of a checker.
type recordTB struct {
	testing.TB
	errs []string
}

func (r *recordTB) Helper() {}
func (r *recordTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recordTB) Logf(string, ...any) {}

// TestCheckConstantsFailsTest checks that CheckConstants fails the test
// (t.Errorf) on a wrong Bound, naming the constant, and logs an exceeded
// Estimate without failing; and that an Unknown constant is not sampled.
func TestCheckConstantsFailsTest(t *testing.T) {
	p := wrongConstants{mustRidge(t, synth(t, false, 50, 7, 20, 1)), func(c *bilevel.Constants) {
		c.Mu = bilevel.Constant{Value: 3 * c.Mu.Value, Kind: bilevel.Bound}
		c.L = bilevel.Constant{Value: c.L.Value / 3, Kind: bilevel.Estimate}
		c.Lf = bilevel.Constant{}
	}}
	r := &recordTB{TB: t}
	rep := bileveltest.CheckConstants(r, p, bileveltest.ConstantsOptions{Points: 2, Directions: 1})
	if len(r.errs) == 0 {
		t.Fatal("CheckConstants did not fail on μ 3× too high")
	}
	for _, e := range r.errs {
		if !strings.Contains(e, "Mu:") {
			t.Errorf("unexpected failure: %s", e)
		}
	}
	if rep.Lf.Samples != 0 {
		t.Errorf("Unknown L_f sampled %d times", rep.Lf.Samples)
	}
	if !(rep.L.Ratio > 1) {
		t.Errorf("estimate L ratio %.4g, want > 1", rep.L.Ratio)
	}
}

// TestConstantsViolationsOptions checks that invalid options are errors.
func TestConstantsViolationsOptions(t *testing.T) {
	p := mustRidge(t, synth(t, false, 30, 4, 20, 1))
	for _, o := range []bileveltest.ConstantsOptions{
		{Center: []float64{1, 2}},
		{Center: []float64{0, math.NaN(), 0, 0}},
		{Radius: math.NaN()},
		{Radius: -1},
		{Points: -1},
		{Slack: 2},
	} {
		if _, _, err := bileveltest.ConstantsViolations(p, o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
	if _, _, err := bileveltest.ConstantsViolations(nil, bileveltest.ConstantsOptions{}); err == nil {
		t.Error("nil problem: no error")
	}
}

// failingHessVec is a problem whose HessVec fails.
type failingHessVec struct{ bilevel.Problem }

func (failingHessVec) HessVec(dst, v backend.Vector) error { return errors.New("broken") }

// TestConstantsViolationsOracleError checks that a failing oracle is an
// error, not a violation or a panic.
func TestConstantsViolationsOracleError(t *testing.T) {
	p := failingHessVec{mustRidge(t, synth(t, false, 30, 4, 20, 1))}
	if _, _, err := bileveltest.ConstantsViolations(p, bileveltest.ConstantsOptions{}); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("error %v, want the oracle's", err)
	}
}
