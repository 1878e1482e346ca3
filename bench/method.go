package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// errEnough stops a monitored run early once its error has stopped falling.
var errEnough = errors.New("bench: error stopped falling")

// floorTol is the relative error below which more iterations are pointless.
const floorTol = 1e-15

// plateau tracks a decreasing error and says when more iterations are
// pointless. In a scan over k at fixed t (level = false) it stops as soon as
// the error fails to improve by 1 % for 6 consecutive records, whatever its
// level (the inner error then limits it). In a scan over t (level = true)
// the error may first grow (ITD's t·q^t), so it stops only at the rounding
// floor or when it stalls below 1e-10.
type plateau struct {
	level bool
	best  float64
	stall int
}

func (p *plateau) add(e float64) bool {
	if p.best == 0 || e < 0.99*p.best {
		p.best, p.stall = e, 0
	} else {
		p.stall++
	}
	if e <= floorTol {
		return true
	}
	return p.stall >= 6 && (!p.level || p.best <= 1e-10)
}

func (r *Runner) runMethod(ctx context.Context, p problem, ref *bilevel.Reference, pr *ProblemReport, m MethodSpec) (*MethodReport, error) {
	s := r.Suite
	e, err := m.Estimator(1, 1)
	if err != nil {
		return nil, err
	}
	mr := &MethodReport{Name: methodLabel(m), Estimator: e.String()}
	if m.Name == "itd" {
		mr.Grid, err = r.itdGrid(ctx, p, ref, pr, m)
		mr.Diagonal = mr.Grid
	} else {
		mr.Grid, err = r.aidGrid(ctx, p, ref, pr, m)
		if err == nil {
			mr.Diagonal, err = r.diagonal(ctx, p, ref, pr, m)
		}
	}
	if err != nil {
		return nil, err
	}
	if mr.Rate, err = r.methodRate(ctx, p, ref, pr, m, mr); err != nil {
		return nil, err
	}
	mr.Complexity = complexity(s.Targets, mr.Grid, mr.Diagonal)

	mr.TimingT, mr.TimingK = s.TimingT, s.TimingK
	if m.Name == "itd" {
		mr.TimingK = s.TimingT
	}
	times := make([]float64, s.Repeats)
	for i := range times {
		e, err := m.Estimator(s.TimingT, s.TimingK)
		if err != nil {
			return nil, err
		}
		res, err := e.Estimate(ctx, p, nil)
		if err != nil {
			return nil, err
		}
		times[i] = res.Time.Total.Seconds()
		mr.TimingErr = relErr(res.Hypergradient, ref.Hypergradient)
	}
	mr.Timing = stat(times)
	for _, c := range mr.Complexity {
		if c.Target != TimeTarget || !c.Found {
			continue
		}
		tp := &TimedPoint{Target: c.Target, T: c.T, K: c.K}
		times := times[:min(len(times), timeToTargetRepeats)]
		for i := range times {
			e, err := m.Estimator(c.T, c.K)
			if err != nil {
				return nil, err
			}
			res, err := e.Estimate(ctx, p, nil)
			if err != nil {
				return nil, err
			}
			times[i] = res.Time.Total.Seconds()
			tp.RelErr = relErr(res.Hypergradient, ref.Hypergradient)
		}
		tp.Seconds = stat(times)
		mr.TimeToTarget = tp
	}
	r.Progress.Step(pr.Name + " " + mr.Name + ": timing")

	for _, t := range s.MemoryT {
		e, err := m.Estimator(t, s.TimingK)
		if err != nil {
			return nil, err
		}
		mp, err := memory(ctx, p, e, t)
		if err != nil {
			return nil, err
		}
		mr.Memory = append(mr.Memory, mp)
		if itd, ok := e.(*hypergrad.ITD); ok {
			itd.Checkpoint = true
			if mp, err = memory(ctx, p, itd, t); err != nil {
				return nil, err
			}
			mr.MemoryCheckpointed = append(mr.MemoryCheckpointed, mp)
		}
		r.Progress.Step(pr.Name + " " + mr.Name + ": memory")
	}
	return mr, nil
}

// aidGrid measures the AID error over the (t, k) grid: one run per t with
// K = max(KGrid), recording the hypergradient ∇_λE(w_t) − B(w_t)ᵀq_k at every
// k of the grid through the monitor (one extra cross product each, not part
// of the estimate), until the error stops falling.
func (r *Runner) aidGrid(ctx context.Context, p problem, ref *bilevel.Reference, pr *ProblemReport, m MethodSpec) ([]GridPoint, error) {
	b := p.Backend()
	h := p.HyperDim()
	tmp := vec(b, make([]float64, h))
	defer free(b, tmp)
	dE, cross := make([]float64, h), make([]float64, h)
	hg := make([]float64, h)
	kmax := slices.Max(r.Suite.KGrid)
	var grid []GridPoint
	outer := plateau{level: true}
	for _, t := range r.Suite.TGrid {
		var pl plateau
		var last float64
		aid, err := aidOf(m, t, kmax)
		if err != nil {
			return nil, err
		}
		aid.Monitor = func(pg hypergrad.Progress) error {
			switch {
			case pg.Phase == hypergrad.PhaseInner && pg.Iter == t:
				if err := p.OuterHyperGrad(tmp, pg.X); err != nil {
					return err
				}
				b.Download(dE, tmp)
			case pg.Phase == hypergrad.PhaseLinear && slices.Contains(r.Suite.KGrid, pg.Iter):
				if err := p.CrossVec(tmp, pg.X); err != nil {
					return err
				}
				b.Download(cross, tmp)
				for i := range hg {
					hg[i] = dE[i] - cross[i]
				}
				e := relErr(hg, ref.Hypergradient)
				last = e
				grid = append(grid, GridPoint{T: t, K: pg.Iter, RelErr: e, Oracles: m.oracles(t, pg.Iter)})
				if pl.add(e) {
					return errEnough
				}
			}
			return nil
		}
		res, err := aid.Estimate(ctx, p, nil)
		if err != nil && !errors.Is(err, errEnough) {
			return nil, err
		}
		if err == nil && !slices.Contains(r.Suite.KGrid, res.LinearIters) {
			// The solver converged between grid points (CG at its floor):
			// its final iterate holds for every larger k.
			e := relErr(res.Hypergradient, ref.Hypergradient)
			last = e
			grid = append(grid, GridPoint{T: t, K: res.LinearIters, RelErr: e, Oracles: m.oracles(t, res.LinearIters)})
		}
		r.Progress.Step(pr.Name + " " + m.Name + ": grid")
		if outer.add(last) {
			r.Progress.Skip(len(r.Suite.TGrid) - slices.Index(r.Suite.TGrid, t) - 1)
			break
		}
	}
	return grid, nil
}

// aidOf builds the AID estimator of an AID method (an error for ITD).
func aidOf(m MethodSpec, t, k int) (*hypergrad.AID, error) {
	e, err := m.Estimator(t, k)
	if err != nil {
		return nil, err
	}
	aid, ok := e.(*hypergrad.AID)
	if !ok {
		return nil, fmt.Errorf("bench: %s is not AID", m.Name)
	}
	return aid, nil
}

// diagonalRuns is how many times each diagonal point is run; its wall time
// is the median.
const diagonalRuns = 3

// timedRun runs e diagonalRuns times and returns the last result with the
// median wall time.
func timedRun(ctx context.Context, e hypergrad.Estimator, p problem) (*hypergrad.Result, float64, error) {
	var res *hypergrad.Result
	ts := make([]float64, diagonalRuns)
	for i := range ts {
		var err error
		if res, err = e.Estimate(ctx, p, nil); err != nil {
			return nil, 0, err
		}
		ts[i] = res.Time.Total.Seconds()
	}
	return res, stat(ts).Median, nil
}

// diagonal runs AID with t = k for every t of the grid (until the error
// stops falling), recording the error and the median wall time.
func (r *Runner) diagonal(ctx context.Context, p problem, ref *bilevel.Reference, pr *ProblemReport, m MethodSpec) ([]GridPoint, error) {
	var out []GridPoint
	pl := plateau{level: true}
	for i, t := range r.Suite.TGrid {
		est, err := m.Estimator(t, t)
		if err != nil {
			return nil, err
		}
		res, sec, err := timedRun(ctx, est, p)
		if err != nil {
			return nil, err
		}
		e := relErr(res.Hypergradient, ref.Hypergradient)
		out = append(out, GridPoint{T: t, K: t, RelErr: e, Oracles: res.Counts.Oracles(), Seconds: sec})
		r.Progress.Step(pr.Name + " " + m.Name + ": diagonal")
		if pl.add(e) {
			r.Progress.Skip(len(r.Suite.TGrid) - i - 1)
			break
		}
	}
	return out, nil
}

// itdGrid runs ITD for every t of the grid (until the error stops falling).
func (r *Runner) itdGrid(ctx context.Context, p problem, ref *bilevel.Reference, pr *ProblemReport, m MethodSpec) ([]GridPoint, error) {
	var out []GridPoint
	pl := plateau{level: true}
	for i, t := range r.Suite.TGrid {
		est, err := m.Estimator(t, 0)
		if err != nil {
			return nil, err
		}
		res, sec, err := timedRun(ctx, est, p)
		if err != nil {
			return nil, err
		}
		e := relErr(res.Hypergradient, ref.Hypergradient)
		out = append(out, GridPoint{T: t, K: t, RelErr: e, Oracles: res.Counts.Oracles(), Seconds: sec})
		r.Progress.Step(pr.Name + " itd: grid")
		if pl.add(e) {
			r.Progress.Skip(2*len(r.Suite.TGrid) - i - 1)
			return out, nil
		}
	}
	r.Progress.Skip(len(r.Suite.TGrid))
	return out, nil
}

// methodRate fits the asymptotic rate of the method's own phase: for AID
// the linear-solve error ‖q_k − q*‖/‖q*‖ at a converged w_t; for ITD the
// hypergradient error, which behaves like C·t·q^t (Grazzi et al. Thm 2.1).
func (r *Runner) methodRate(ctx context.Context, p problem, ref *bilevel.Reference, pr *ProblemReport, m MethodSpec, mr *MethodReport) (*Rate, error) {
	if m.Name == "itd" {
		var xs, ys []float64
		for _, g := range mr.Grid {
			if g.RelErr >= 1e-12 && g.RelErr <= 1e-2 {
				xs, ys = append(xs, float64(g.T)), append(ys, math.Log(g.RelErr/float64(g.T)))
			}
		}
		e, err := m.Estimator(1, 0)
		if err != nil {
			return nil, err
		}
		res, err := e.Estimate(ctx, p, nil)
		if err != nil {
			return nil, err
		}
		theory, formula := innerTheory(m.Inner, res.InnerStep, res.InnerMomentum, pr.MuStar, pr.LStar)
		return &Rate{Phase: "itd", Fitted: math.Exp(slope(xs, ys)), Theory: theory,
			Formula: "inner rate " + formula + " (error ~ t·q^t)", Points: len(xs)}, nil
	}
	b := p.Backend()
	x := make([]float64, p.InnerDim())
	qn := norm(ref.V)
	var errs []float64
	aid, err := aidOf(m, r.Suite.RateT, slices.Max(r.Suite.KGrid))
	if err != nil {
		return nil, err
	}
	var pl plateau
	aid.Monitor = func(pg hypergrad.Progress) error {
		if pg.Phase != hypergrad.PhaseLinear {
			return nil
		}
		b.Download(x, pg.X)
		e := distance(x, ref.V) / qn
		errs = append(errs, e)
		if e < 1e-13 && pl.add(e) {
			return errEnough
		}
		return nil
	}
	res, err := aid.Estimate(ctx, p, nil)
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	if res == nil {
		return nil, err
	}
	fitted, n := fitRate(errs, 1e-12, 1e-2)
	rate := &Rate{Phase: "linear", Fitted: fitted, Points: n}
	switch m.linear() {
	case "fp":
		rate.Theory = math.Max(math.Abs(1-res.LinearStep*pr.MuStar), math.Abs(1-res.LinearStep*pr.LStar))
		rate.Formula = "max(|1−αμ*|, |1−αL*|)"
	case "hb":
		rate.Theory = math.Max(hbRadius(res.LinearStep, res.LinearMomentum, pr.MuStar), hbRadius(res.LinearStep, res.LinearMomentum, pr.LStar))
		rate.Formula = "heavy-ball spectral radius on [μ*, L*]"
	case "pcg":
		sk := math.Sqrt(pr.KappaJacobi)
		rate.Theory = (sk - 1) / (sk + 1)
		rate.Formula = "(√κ_J−1)/(√κ_J+1), κ_J = κ(D^{-1/2}A*D^{-1/2})"
	default:
		sk := math.Sqrt(pr.KappaStar)
		rate.Theory = (sk - 1) / (sk + 1)
		rate.Formula = "(√κ*−1)/(√κ*+1)"
	}
	return rate, nil
}

// slope is the least-squares slope of ys against xs (NaN with < 3 points).
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 3 {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// complexity returns, for each target, the cheapest grid point from which
// the error stays at or below the target (later k at the same t, for AID;
// later t, for ITD), and the number of diagonal iterations t = k after which
// it stays there, interpolated in log error between grid points. "Stays"
// keeps a lucky dip of a non-monotone error from counting.
func complexity(targets []float64, grid, diag []GridPoint) []Complexity {
	byT := map[int][]GridPoint{}
	var ts []int
	for _, g := range grid {
		if _, ok := byT[g.T]; !ok {
			ts = append(ts, g.T)
		}
		byT[g.T] = append(byT[g.T], g)
	}
	itd := true
	for _, g := range grid {
		itd = itd && g.T == g.K
	}
	var out []Complexity
	for _, tg := range targets {
		c := Complexity{Target: tg}
		consider := func(g GridPoint) {
			if !c.Found || g.Oracles < c.Oracles {
				c.Found, c.T, c.K, c.Oracles = true, g.T, g.K, g.Oracles
			}
		}
		if itd {
			if i := settles(grid, tg); i >= 0 {
				consider(grid[i])
			}
		} else {
			for _, t := range ts {
				pts := byT[t]
				slices.SortFunc(pts, func(a, b GridPoint) int { return a.K - b.K })
				if i := settles(pts, tg); i >= 0 {
					consider(pts[i])
				}
			}
		}
		if i := settles(diag, tg); i >= 0 {
			c.Diagonal, c.DiagonalOracles = diag[i].T, diag[i].Oracles
			c.DiagonalIters = float64(diag[i].T)
			if i > 0 {
				a, b := diag[i-1], diag[i]
				if a.RelErr > tg && b.RelErr > 0 && b.RelErr < a.RelErr {
					f := (math.Log(a.RelErr) - math.Log(tg)) / (math.Log(a.RelErr) - math.Log(b.RelErr))
					c.DiagonalIters = float64(a.T) + f*float64(b.T-a.T)
				}
			}
		}
		out = append(out, c)
	}
	return out
}

// settles returns the first index from which every error is ≤ target, or −1.
func settles(pts []GridPoint, target float64) int {
	at := -1
	for i := len(pts) - 1; i >= 0; i-- {
		if !(pts[i].RelErr <= target) {
			break
		}
		at = i
	}
	return at
}

// memory measures the device bytes an estimate allocates at its peak
// (sampled through the monitor, above what the problem holds) and the Go
// heap bytes it allocates.
func memory(ctx context.Context, p problem, e hypergrad.Estimator, t int) (MemPoint, error) {
	b := p.Backend()
	base := b.Allocated()
	peak := base
	sample := func(hypergrad.Progress) error {
		peak = max(peak, b.Allocated())
		return nil
	}
	switch v := e.(type) {
	case *hypergrad.AID:
		v.Monitor = sample
	case *hypergrad.ITD:
		v.Monitor = sample
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := e.Estimate(ctx, p, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		return MemPoint{}, err
	}
	return MemPoint{T: t, DeviceBytes: peak - base, HeapBytes: after.TotalAlloc - before.TotalAlloc}, nil
}
