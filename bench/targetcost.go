package bench

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// TargetCostSpec configures the target-cost study: on each problem, AID
// (conjugate gradients on the linear system) with an accuracy target of Rel
// relative error, for each inner solver, against the cheapest point of a
// (t, k) grid that meets Rel with the same solvers, chosen knowing the
// exact answer.
type TargetCostSpec struct {
	Problems []ProblemSpec
	Rel      float64
	// Inners are the inner solvers with their t grids (Newton counts steps).
	Inners []TargetInner
	// KGrid are the linear iterations at which the grid's hypergradient is
	// taken (one run per t, snapshots at each k).
	KGrid []int
	// T and K are the target's budgets.
	T, K int
}

// TargetInner is an inner solver of the study and its t grid.
type TargetInner struct {
	Name  string // gd, hb, fista or newton
	TGrid []int
}

// DefaultTargetCost is the study of the acceptance: logreg with
// n = 2000, d = 200, κ = L/μ ≈ 1e3 (λ = log(0.2633/1e3), the generator's
// L_X/κ), a 1e-6 relative target, every inner solver.
func DefaultTargetCost() *TargetCostSpec {
	first := []int{10, 20, 50, 100, 200, 300, 400, 500, 700, 1000, 2000}
	return &TargetCostSpec{
		Problems: []ProblemSpec{{Name: "logreg-kappa1e3-target", Problem: "logreg", Source: "synth:n=2000,d=200,kappa=1000,lambda=-8.2422,seed=0"}},
		Rel:      1e-6,
		Inners: []TargetInner{
			{Name: "newton", TGrid: []int{1, 2, 3, 4, 5, 6, 7, 8, 10}},
			{Name: "fista", TGrid: first},
			{Name: "hb", TGrid: first},
			{Name: "gd", TGrid: []int{1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000}},
		},
		KGrid: []int{5, 10, 20, 50, 100, 150, 200, 300},
		T:     100000, K: 5000,
	}
}

// TargetCostRow is one problem × inner solver of the study.
type TargetCostRow struct {
	Problem string  `json:"problem"`
	Inner   string  `json:"inner"`
	Rel     float64 `json:"rel"` // the relative target
	// Calls and Rounds are the target run's oracle calls and rounds; Met
	// whether it certified the target, TrueRel its true relative error and
	// BoundRel the relative bound it certified.
	Calls    int     `json:"calls"`
	Rounds   int     `json:"rounds"`
	Met      bool    `json:"met"`
	TrueRel  float64 `json:"true_rel"`
	BoundRel float64 `json:"bound_rel"`
	// GridT, GridK and GridCalls are the cheapest grid point whose true
	// relative error meets the target (GridCalls 0: none does), and Ratio
	// Calls/GridCalls.
	GridT     int     `json:"grid_t"`
	GridK     int     `json:"grid_k"`
	GridCalls int     `json:"grid_calls"`
	Ratio     float64 `json:"ratio"`
}

// targetCost runs the study.
func (r *Runner) targetCost(ctx context.Context, s *TargetCostSpec) ([]TargetCostRow, error) {
	var rows []TargetCostRow
	for _, spec := range s.Problems {
		p, _, err := NewProblem(r.Backend, spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Name, err)
		}
		ref, err := p.Reference()
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("%s: %w", spec.Name, err)
		}
		rn := norm(ref.Hypergradient)
		for _, in := range s.Inners {
			row, err := r.targetCostRow(ctx, p, spec.Name, in, s, ref.Hypergradient, rn)
			if err != nil {
				p.Close()
				return nil, fmt.Errorf("%s, %s: %w", spec.Name, in.Name, err)
			}
			rows = append(rows, row)
			r.Progress.Step("target cost " + spec.Name + " " + in.Name)
		}
		p.Close()
	}
	return rows, nil
}

func (r *Runner) targetCostRow(ctx context.Context, p problem, name string, in TargetInner, s *TargetCostSpec, ref []float64, rn float64) (TargetCostRow, error) {
	row := TargetCostRow{Problem: name, Inner: in.Name, Rel: s.Rel}
	aid, err := aidOf(MethodSpec{Name: "aid-cg", Inner: in.Name, Target: &hypergrad.Target{Rel: s.Rel}}, s.T, s.K)
	if err != nil {
		return row, err
	}
	res, err := aid.Estimate(ctx, p, nil)
	if err != nil {
		return row, err
	}
	row.Calls, row.Rounds, row.Met = res.Counts.Oracles(), res.Rounds, res.TargetMet
	row.TrueRel = distance(res.Hypergradient, ref) / rn
	row.BoundRel = res.Bound.Relative(norm(res.Hypergradient))
	kmax := s.KGrid[len(s.KGrid)-1]
	for _, t := range in.TGrid {
		e, err := aidOf(MethodSpec{Name: "aid-cg", Inner: in.Name}, t, kmax)
		if err != nil {
			return row, err
		}
		errs := map[int]float64{}
		mon, free, err := snapshotMonitor(p, s.KGrid, ref, rn, errs)
		if err != nil {
			return row, err
		}
		e.Monitor = mon
		gr, err := e.Estimate(ctx, p, nil)
		free()
		if err != nil {
			return row, err
		}
		for _, k := range s.KGrid {
			if cost := gr.Counts.Oracles() - gr.LinearIters + k; errs[k] <= s.Rel && (row.GridCalls == 0 || cost < row.GridCalls) {
				row.GridT, row.GridK, row.GridCalls = t, k, cost
			}
		}
	}
	row.Ratio = math.NaN()
	if row.GridCalls > 0 {
		row.Ratio = float64(row.Calls) / float64(row.GridCalls)
	}
	return row, nil
}

// snapshotMonitor returns an AID monitor that records, at each linear
// iteration k of ks, the relative error of ĥ_k = ∇_λE(w_t) − B(w_t)ᵀq_k
// against ref (norm rn) in errs; w_t is the last inner iterate. free
// releases its vectors.
func snapshotMonitor(p problem, ks []int, ref []float64, rn float64, errs map[int]float64) (mon hypergrad.Monitor, free func(), err error) {
	b := p.Backend()
	d, h := p.InnerDim(), p.HyperDim()
	var vs []backend.Vector
	free = func() {
		for _, v := range vs {
			b.Free(v)
		}
	}
	for _, n := range []int{d, h, h} {
		v, err := b.NewVector(n)
		if err != nil {
			free()
			return nil, nil, err
		}
		vs = append(vs, v)
	}
	w, cv, ev := vs[0], vs[1], vs[2]
	want := map[int]bool{}
	for _, k := range ks {
		want[k] = true
	}
	hg := make([]float64, h)
	return func(pr hypergrad.Progress) error {
		switch {
		case pr.Phase == hypergrad.PhaseInner:
			b.Copy(w, pr.X)
		case pr.Phase == hypergrad.PhaseLinear && want[pr.Iter]:
			if err := p.CrossVec(cv, pr.X); err != nil {
				return err
			}
			if err := p.OuterHyperGrad(ev, w); err != nil {
				return err
			}
			b.Axpy(-1, cv, ev)
			b.Download(hg, ev)
			errs[pr.Iter] = distance(hg, ref) / rn
		}
		return b.Err()
	}, free, nil
}
