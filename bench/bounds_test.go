package bench

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// TestBoundsSuite: every problem of the bounds suite loads (the datasets/
// files relative to the repository root), and a small bounds-style run — the
// tightness rows with the refined bound, and the target-cost study — gives
// sound bounds, refined ratios near 1, a met target and a grid point to
// compare it with, and writes its tables.
func TestBoundsSuite(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	s := Bounds()
	if len(s.Problems) != 12 || s.TargetCost == nil || !s.Tightness || len(s.TightnessPoints) != 11 {
		t.Fatalf("bounds suite: %d problems, target cost %v, tightness %v (%d points)", len(s.Problems), s.TargetCost != nil, s.Tightness, len(s.TightnessPoints))
	}
	for _, spec := range s.Problems {
		if strings.HasPrefix(spec.Source, "datasets/") {
			spec.Source = filepath.Join("..", spec.Source)
		}
		p, _, err := NewProblem(b, spec)
		if err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		p.Close()
	}

	small := &Suite{Name: "test", Tightness: true, TightnessPoints: [][2]int{{200, 2}, {5, 100}, {30, 3}},
		Problems: []ProblemSpec{{Name: "logreg", Problem: "logreg", Source: "synth:n=300,d=20,kappa=100,lambda=-5.9,seed=3"}},
		TargetCost: &TargetCostSpec{
			Problems: []ProblemSpec{{Name: "logreg", Problem: "logreg", Source: "synth:n=300,d=20,kappa=100,lambda=-5.9,seed=3"}},
			Rel:      1e-6,
			Inners:   []TargetInner{{Name: "newton", TGrid: []int{2, 4, 6, 8}}, {Name: "fista", TGrid: []int{50, 100, 200, 400}}},
			KGrid:    []int{10, 20, 50, 100},
			T:        100000, K: 5000,
		}}
	rep, err := (&Runner{Suite: small, Backend: b}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tg := rep.Problems[0].Tightness
	if tg == nil || len(tg.Rows) != 9 || tg.Violations != 0 || tg.BoundPoints == 0 || !(tg.RefinedMedian <= 2) || !(tg.RefinedWorst <= 10) {
		t.Fatalf("tightness %+v", tg)
	}
	for _, r := range tg.Rows {
		if r.RefinedKind != "certified" || !(r.Refined <= r.Bound) || r.EstimateCalls <= 0 || r.EstimateRounds < 1 {
			t.Errorf("row %+v", r)
		}
	}
	if len(rep.TargetCost) != 2 {
		t.Fatalf("target cost rows %+v", rep.TargetCost)
	}
	for _, r := range rep.TargetCost {
		if !r.Met || !(r.TrueRel <= 1e-6) || !(r.BoundRel <= 1e-6) || r.GridCalls == 0 || math.IsNaN(r.Ratio) || r.Calls == 0 {
			t.Errorf("target cost %+v", r)
		}
		t.Logf("%s: target %d calls, grid (%d, %d) %d calls, ratio %.3g", r.Inner, r.Calls, r.GridT, r.GridK, r.GridCalls, r.Ratio)
	}
	dir := t.TempDir()
	if _, err := WriteAll(dir, rep); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Accuracy targets", "refined bound", "| logreg | newton |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	checkMarkdownTables(t, string(md))
	if m, _ := filepath.Glob(filepath.Join(dir, "error_vs_*.png")); len(m) != 0 {
		t.Errorf("figures of a suite without methods: %v", m)
	}
}
