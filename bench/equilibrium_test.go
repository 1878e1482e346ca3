package bench

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/data"
)

func mustLoad(t *testing.T, problem, source string) any {
	t.Helper()
	d, err := data.Load(problem, source)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRhoStar: for A = [[0, a], [b, 0]] and a row s, A diag(1 − s²) has the
// eigenvalues ±√(a b (1 − s_1²)(1 − s_2²)); ρ is the largest modulus over
// the rows, real or complex (ab < 0).
func TestRhoStar(t *testing.T) {
	for _, tc := range []struct{ a, b float64 }{{0.6, 0.5}, {0.6, -0.5}} {
		e := &data.Equilibrium{X: data.NewDense(2, 1, []float64{0, 0}), Y: []int{0, 0},
			A: data.NewDense(2, 2, []float64{0, tc.a, tc.b, 0})}
		w := []float64{0.5, -0.2, 0.1, 0.3} // rows (0.5, −0.2), (0.1, 0.3)
		got, err := rhoStar(e, w)
		if err != nil {
			t.Fatal(err)
		}
		r1 := math.Sqrt(math.Abs(tc.a * tc.b * (1 - 0.25) * (1 - 0.04)))
		r2 := math.Sqrt(math.Abs(tc.a * tc.b * (1 - 0.01) * (1 - 0.09)))
		if want := math.Max(r1, r2); math.Abs(got-want) > 1e-14 {
			t.Errorf("a = %v, b = %v: ρ = %.17g, want %.17g", tc.a, tc.b, got, want)
		}
	}
	if _, err := rhoStar(&data.Equilibrium{X: data.NewDense(2, 1, nil), A: data.NewDense(2, 2, make([]float64, 4))}, []float64{1}); err == nil {
		t.Error("a fixed point of the wrong length accepted")
	}
}

// TestEquilibriumExperiment runs the experiment on a tiny problem: its
// structure, its errors against the exact reference, and claims that follow
// the measurements (each flips when the data it reads is altered).
func TestEquilibriumExperiment(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	spec := &EquilibriumSpec{Source: "synth:n=150,d=6,k=6,c=3,q=0.9,seed=4", TGrid: geom(1, 60, 1.3), KGrid: intRange(1, 60), Repeats: 2}
	r := &Runner{Suite: &Suite{}, Backend: b}
	eq, claims, err := r.equilibrium(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(eq.Q-0.9) > 1e-12 || eq.QKind == "" || !(eq.RhoStar > 0 && eq.RhoStar <= eq.Q) || !(eq.RefNorm > 0) || eq.RefMethod == "" {
		t.Fatalf("q = %v (%s), ρ* = %v, ‖∇f‖ = %v (%s)", eq.Q, eq.QKind, eq.RhoStar, eq.RefNorm, eq.RefMethod)
	}
	check := func(cs []EquilibriumCurve, names []string, grid []int, diagonal bool) {
		t.Helper()
		if len(cs) != len(names) {
			t.Fatalf("%d curves, want %v", len(cs), names)
		}
		for i, c := range cs {
			if c.Name != names[i] || c.Estimator == "" || len(c.Points) != len(grid) {
				t.Fatalf("curve %d: %s (%s), %d points, want %s with %d", i, c.Name, c.Estimator, len(c.Points), names[i], len(grid))
			}
			if !(c.RatePoints >= 3 && c.Rate > 0 && c.Rate < 1) {
				t.Errorf("%s: fitted rate %v over %d points", c.Name, c.Rate, c.RatePoints)
			}
			for j, pt := range c.Points {
				wantT, wantK := grid[j], grid[j]
				if !diagonal {
					wantT = 0
				}
				if pt.T != wantT || pt.K != wantK || !(pt.RelErr >= 0) || pt.JacProducts < 1 || pt.Oracles <= pt.JacProducts || !(pt.Seconds > 0) {
					t.Errorf("%s point %d: %+v (want t = %d, k = %d)", c.Name, j, pt, wantT, wantK)
				}
				if j > 0 && pt.Oracles < c.Points[j-1].Oracles {
					t.Errorf("%s: oracle calls fall from %d to %d", c.Name, c.Points[j-1].Oracles, pt.Oracles)
				}
			}
			// Converged: every method reaches the exact reference.
			if last := c.Points[len(c.Points)-1]; !(last.RelErr <= 1e-12) {
				t.Errorf("%s: relative error %.3g at the end of the grid", c.Name, last.RelErr)
			}
		}
	}
	check(eq.Methods, equilibriumMethods, spec.TGrid, true)
	check(eq.Scan, equilibriumScan, spec.KGrid, false)
	// ITD through t steps makes t maps, t transposed Jacobian products and t
	// ∂_λΦᵀ products (Counts.Oracles counts no outer gradients).
	for _, pt := range eq.Methods[0].Points {
		if pt.JacProducts != pt.T || pt.Oracles != 3*pt.T {
			t.Errorf("itd at t = %d: %d Jacobian products, %d oracle calls", pt.T, pt.JacProducts, pt.Oracles)
		}
	}

	if len(claims) != 4 {
		t.Fatalf("%d claims", len(claims))
	}
	for _, c := range claims {
		if !c.Held || c.Evidence == "" || !strings.HasPrefix(c.Source, "Grazzi et al. 2020") {
			t.Errorf("claim not held on the tiny problem: %s: %s", c.Claim, c.Evidence)
		}
	}
	// The verdicts come from the measurements: alter the data each claim
	// reads and that claim, alone, fails.
	clone := func() *EquilibriumReport {
		c := *eq
		c.Methods, c.Scan = slices.Clone(eq.Methods), slices.Clone(eq.Scan)
		for i := range c.Methods {
			c.Methods[i].Points = slices.Clone(c.Methods[i].Points)
		}
		for i := range c.Scan {
			c.Scan[i].Points = slices.Clone(c.Scan[i].Points)
		}
		return &c
	}
	for _, tc := range []struct {
		name  string
		alter func(*EquilibriumReport)
		fails int
	}{
		{"a rate above q", func(e *EquilibriumReport) { e.Methods[3].Rate = e.Q * 1.1 }, 0},
		{"ITD better than AID-FP at t = 20", func(e *EquilibriumReport) {
			for i, pt := range e.Methods[0].Points {
				if pt.T >= 20 && pt.RelErr > 1e-12 {
					e.Methods[0].Points[i].RelErr = e.Methods[1].Points[i].RelErr / 2
					return
				}
			}
			t.Fatal("no ITD point to alter")
		}, 1},
		{"GMRES as slow as FP", func(e *EquilibriumReport) { copy(e.Scan[1].Points, e.Scan[0].Points) }, 2},
		{"GMRES never at 1e-8", func(e *EquilibriumReport) { e.Scan[1].Points[len(e.Scan[1].Points)-1].RelErr = 1e-7 }, 2},
		{"AID-CGNE not converged", func(e *EquilibriumReport) { e.Methods[3].Points[len(e.Methods[3].Points)-1].RelErr = 1e-9 }, 3},
	} {
		e := clone()
		tc.alter(e)
		for i, c := range equilibriumClaims(e) {
			if c.Held == (i == tc.fails) {
				t.Errorf("%s: claim %d held = %v: %s", tc.name, i, c.Held, c.Evidence)
			}
		}
	}

	var md strings.Builder
	writeEquilibrium(&md, eq)
	for _, want := range []string{"Equilibrium model", "| t = k |", "| k |", eq.Methods[2].Estimator, equilibriumFigure} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("section lacks %q", want)
		}
	}
}
