package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

func TestGeom(t *testing.T) {
	g := geom(1, 100, 1.5)
	if g[0] != 1 || g[len(g)-1] != 100 {
		t.Fatalf("geom = %v", g)
	}
	for i := 1; i < len(g); i++ {
		if g[i] <= g[i-1] {
			t.Fatalf("not increasing: %v", g)
		}
	}
}

func TestFitRate(t *testing.T) {
	errs := make([]float64, 200)
	for i := range errs {
		errs[i] = 3 * math.Pow(0.9, float64(i))
	}
	r, n := fitRate(errs, 1e-8, 1e-1)
	if math.Abs(r-0.9) > 1e-12 || n < 100 {
		t.Errorf("fitRate = %v over %d points, want 0.9", r, n)
	}
	if r, _ := fitRate(errs[:2], 0, 10); !math.IsNaN(r) {
		t.Errorf("fitRate with 2 points = %v, want NaN", r)
	}
}

func TestHBRadius(t *testing.T) {
	// Optimal heavy ball on [μ, L] contracts by (√κ−1)/(√κ+1) at both ends.
	mu, l := 1.0, 100.0
	sl, sm := math.Sqrt(l), math.Sqrt(mu)
	alpha, beta := 4/((sl+sm)*(sl+sm)), math.Pow((sl-sm)/(sl+sm), 2)
	for _, lam := range []float64{mu, 10, l} {
		if r := hbRadius(alpha, beta, lam); math.Abs(r-9.0/11) > 1e-6 {
			t.Errorf("radius at λ = %v: %v, want %v", lam, r, 9.0/11)
		}
	}
}

func TestComplexity(t *testing.T) {
	// AID grid at two t values; the dip to 1e-9 at t = 10, k = 2 is lucky
	// (the error rises again) and must not count.
	grid := []GridPoint{
		{T: 10, K: 1, RelErr: 1e-1, Oracles: 13}, {T: 10, K: 2, RelErr: 1e-9, Oracles: 14}, {T: 10, K: 3, RelErr: 1e-3, Oracles: 15},
		{T: 20, K: 1, RelErr: 1e-2, Oracles: 23}, {T: 20, K: 2, RelErr: 1e-5, Oracles: 24}, {T: 20, K: 3, RelErr: 1e-7, Oracles: 25},
	}
	diag := []GridPoint{{T: 10, K: 10, RelErr: 1e-2}, {T: 20, K: 20, RelErr: 1e-6}}
	c := complexity([]float64{1e-3, 1e-6, 1e-8}, grid, diag)
	if !c[0].Found || c[0].Oracles != 14 || c[0].T != 10 || c[0].K != 2 {
		t.Errorf("1e-3: %+v", c[0])
	}
	if !c[1].Found || c[1].Oracles != 25 || c[1].Diagonal != 20 {
		t.Errorf("1e-6: %+v", c[1])
	}
	// Interpolated diagonal: from 1e-2 at 10 to 1e-6 at 20, 1e-4 is reached at 15.
	c = complexity([]float64{1e-4}, grid, diag)
	if math.Abs(c[0].DiagonalIters-15) > 1e-9 {
		t.Errorf("interpolated diagonal iterations %v, want 15", c[0].DiagonalIters)
	}
	if c := complexity([]float64{1e-8}, grid, diag); c[0].Found || c[0].Diagonal != 0 {
		t.Errorf("1e-8 reached: %+v", c[0])
	}
}

func TestSelect(t *testing.T) {
	s := Quick()
	if err := s.Select("ridge,quadratic", "aid-cg"); err != nil || len(s.Problems) != 2 || len(s.Methods) != 1 {
		t.Fatalf("Select: %v, %d problems, %d methods", err, len(s.Problems), len(s.Methods))
	}
	if err := Quick().Select("lasso", ""); err == nil || !strings.Contains(err.Error(), "lasso") {
		t.Errorf("unknown problem: %v", err)
	}
	if err := Quick().Select("", "aid-gmres"); err == nil {
		t.Error("unknown method accepted")
	}
	if _, err := SuiteByName("huge"); err == nil {
		t.Error("unknown suite accepted")
	}
}

// TestNoProblemsSuite: the empty suite runs nothing and writes its (empty)
// report; it keeps the repeats that the peers' oracle timings use.
func TestNoProblemsSuite(t *testing.T) {
	s, err := SuiteByName("none")
	if err != nil || len(s.Problems) != 0 || s.Outer != nil || s.Repeats < 1 {
		t.Fatalf("none: %+v, %v", s, err)
	}
	b := cpu.New(cpu.Options{})
	defer b.Close()
	rep, err := (&Runner{Suite: s, Backend: b}).Run(context.Background())
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("Run: %v, %d problems", err, len(rep.Problems))
	}
	if _, err := WriteAll(t.TempDir(), rep); err != nil {
		t.Fatal(err)
	}
}

// TestLogProgress: a log progress writes one timestamped line per named
// step, and nothing for unnamed ones or at Done.
func TestLogProgress(t *testing.T) {
	var buf strings.Builder
	p := NewLogProgress(&buf)
	p.Start(3)
	p.Step("first")
	p.Skip(2)
	p.Step("second")
	p.Done()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "] first") || !strings.HasSuffix(lines[1], "] second") || !strings.HasPrefix(lines[0], "[") {
		t.Errorf("log:\n%s", buf.String())
	}
}

// tinySuite is the quick suite cut down to run in about a second.
func tinySuite() *Suite {
	s := Quick()
	s.Problems = []ProblemSpec{
		{Name: "ridge", Problem: "ridge", Source: "synth:n=200,d=10,kappa=20,seed=1"},
		{Name: "quadratic", Problem: "quadratic", Source: "synth:m1=60,m2=50,d=6,h=3,seed=2"},
	}
	s.TGrid, s.KGrid = geom(1, 400, 1.4), geom(1, 400, 1.4)
	s.RateT, s.Repeats, s.MemoryT = 800, 3, []int{10, 100}
	return s
}

func TestRunAndWrite(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	r := &Runner{Suite: tinySuite(), Backend: b}
	rep, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 2 || rep.Reproduction == nil {
		t.Fatalf("%d problems, reproduction %v", len(rep.Problems), rep.Reproduction != nil)
	}
	for _, pr := range rep.Problems {
		if len(pr.Methods) != 5 || pr.KappaStar < 1 || !(pr.KappaJacobi >= 1) {
			t.Fatalf("%s: %d methods, κ* = %v", pr.Name, len(pr.Methods), pr.KappaStar)
		}
		for _, ir := range pr.InnerRates {
			// Gradient descent on these problems: fitted rate within 1 % of theory.
			if math.Abs(ir.Fitted/ir.Theory-1) > 0.01 {
				t.Errorf("%s %s: fitted %v, theory %v", pr.Name, ir.Phase, ir.Fitted, ir.Theory)
			}
		}
		for _, m := range pr.Methods {
			if m.Name == "aid-fp" && math.Abs(m.Rate.Fitted/m.Rate.Theory-1) > 0.01 {
				t.Errorf("%s aid-fp linear rate: fitted %v, theory %v", pr.Name, m.Rate.Fitted, m.Rate.Theory)
			}
			if m.Name == "aid-cg" && !(m.Rate.Fitted <= m.Rate.Theory*1.05) {
				t.Errorf("%s aid-cg linear rate %v above the bound %v", pr.Name, m.Rate.Fitted, m.Rate.Theory)
			}
			prev := 0
			for _, c := range m.Complexity {
				if !c.Found {
					t.Errorf("%s %s: %.0e not reached", pr.Name, m.Name, c.Target)
					continue
				}
				if c.Oracles < prev {
					t.Errorf("%s %s: oracle calls decrease with the target", pr.Name, m.Name)
				}
				prev = c.Oracles
			}
			if m.Timing.N != 3 || !(m.Timing.Min <= m.Timing.Median && m.Timing.Median <= m.Timing.Max) {
				t.Errorf("%s %s timing %+v", pr.Name, m.Name, m.Timing)
			}
			if len(m.Memory) != 2 {
				t.Fatalf("%s %s: memory points %d", pr.Name, m.Name, len(m.Memory))
			}
			grows := m.Memory[1].DeviceBytes > 5*m.Memory[0].DeviceBytes
			if (m.Name == "itd") != grows {
				t.Errorf("%s %s: device bytes %d at t=10, %d at t=100", pr.Name, m.Name, m.Memory[0].DeviceBytes, m.Memory[1].DeviceBytes)
			}
		}
	}
	// Certified bounds are never below the true error.
	for _, pr := range rep.Problems {
		if pr.Tightness == nil || len(pr.Tightness.Rows) != 24 || pr.Tightness.Violations != 0 ||
			pr.Tightness.EstimatePoints == 0 || pr.Tightness.EstimateOutside != 0 {
			t.Errorf("%s tightness: %+v", pr.Name, pr.Tightness)
		}
	}
	// The Ehrhardt–Roberts claims hold on their problem; the quick suite's
	// equilibrium experiment ran and its four claims were evaluated.
	eqClaims := 0
	for _, c := range rep.Reproduction.Claims {
		if strings.HasPrefix(c.Source, "Ehrhardt") && !c.Held {
			t.Errorf("claim not held: %s: %s", c.Claim, c.Evidence)
		}
		if strings.Contains(c.Claim, "equilibrium model") {
			eqClaims++
		}
	}
	if eq := rep.Reproduction.Equilibrium; eq == nil || len(eq.Methods) != 4 || len(eq.Scan) != 3 || eqClaims != 4 {
		t.Errorf("equilibrium experiment %v with %d claims", eq != nil, eqClaims)
	}

	dir := t.TempDir()
	paths, err := WriteAll(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	raw, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil || json.Unmarshal(raw, &doc) != nil {
		t.Fatalf("report.json: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) < 100 || recs[0][0] != "suite" || recs[1][4] == "" {
		t.Fatalf("results.csv: %v, %d rows", err, len(recs))
	}
	eqRows := 0
	for _, rec := range recs {
		if rec[6] == "equilibrium" && rec[8] == "rel_error_diagonal" {
			eqRows++
		}
	}
	if want := 4 * len(QuickEquilibrium().TGrid); eqRows != want {
		t.Errorf("results.csv: %d equilibrium error rows, want %d", eqRows, want)
	}
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	checkMarkdownTables(t, string(md))
	for _, want := range []string{"Iteration complexity", "Reproduction", "error_vs_iterations_ridge.png", "Equilibrium model", equilibriumFigure} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	pngs := 0
	for _, p := range paths {
		if strings.HasSuffix(p, ".png") {
			st, err := os.Stat(p)
			if err != nil || st.Size() < 1000 {
				t.Errorf("figure %s: %v", p, err)
			}
			pngs++
		}
	}
	if pngs != 9 {
		t.Errorf("%d figures, want 4 per problem and the equilibrium one", pngs)
	}
}

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(filepath.Join(file, "sub")); err == nil {
		t.Error("a directory under a file accepted")
	}
	if err := CheckDir(filepath.Join(dir, "new", "dir")); err != nil {
		t.Errorf("new directory: %v", err)
	}
}

func TestFindPython(t *testing.T) {
	if _, err := FindPython("/nonexistent/python"); err == nil || !strings.Contains(err.Error(), "PyTorch") {
		t.Errorf("FindPython(/nonexistent): %v", err)
	}
}

func TestOuterAndTightness(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	s := &Suite{Name: "test", Outer: &OuterSpec{
		Problem: ProblemSpec{Name: "ridge-hpo", Problem: "ridge", Source: "synth:n=300,d=8,kappa=20,seed=31"},
		Budget:  4000, Fixed: []float64{1e-2, 1e-6}, Points: 10,
	}}
	rep, err := (&Runner{Suite: s, Backend: b}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o := rep.Outer
	if o == nil || len(o.Runs) != 3 || o.Runs[0].Name != "maid" {
		t.Fatalf("outer report %+v", o)
	}
	for _, run := range o.Runs {
		if run.Calls == 0 || len(run.Curve) < 1 || run.FinalLoss > o.Loss0+1e-12 {
			t.Errorf("%s: %d calls, %d points, final loss %v (initial %v)", run.Name, run.Calls, len(run.Curve), run.FinalLoss, o.Loss0)
		}
	}
	if len(rep.Reproduction.Claims) != 1 || !strings.Contains(rep.Reproduction.Claims[0].Source, "MAID") {
		t.Errorf("claims %+v", rep.Reproduction.Claims)
	}
	dir := t.TempDir()
	if _, err := WriteAll(dir, rep); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "outer_loss_vs_calls.png")); err != nil {
		t.Error(err)
	}
}

// checkMarkdownTables fails if a row of a markdown table has another number
// of cells than the table's header (an unescaped | inside a cell).
func checkMarkdownTables(t *testing.T, md string) {
	t.Helper()
	cells := func(line string) int {
		n := 0
		for i := 0; i < len(line); i++ {
			if line[i] == '\\' {
				i++
				continue
			}
			if line[i] == '|' {
				n++
			}
		}
		return n - 1
	}
	header := 0
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = 0
			continue
		}
		if header == 0 {
			header = cells(line)
			continue
		}
		if c := cells(line); c != header {
			t.Errorf("summary.md line %d: %d cells under a %d-cell header: %s", i+1, c, header, line)
		}
	}
}
