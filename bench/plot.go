package bench

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette is a colour-blind-safe set (Okabe–Ito).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
}

// errFloor keeps log axes away from zero errors.
const errFloor = 1e-17

// WriteFigures draws, for every problem, the error against iterations (the
// diagonal t = k, log scale, theory dashed), the error against wall time,
// and the memory against t; it returns the files written.
func WriteFigures(dir string, rep *Report) ([]string, error) {
	var paths []string
	for _, pr := range rep.Problems {
		for _, f := range []struct {
			name string
			draw func(*ProblemReport) (*plot.Plot, error)
		}{
			{"error_vs_iterations_" + pr.Name + ".png", errorVsIterations},
			{"error_vs_oracles_" + pr.Name + ".png", errorVsOracles},
			{"error_vs_time_" + pr.Name + ".png", errorVsTime},
			{"memory_vs_t_" + pr.Name + ".png", memoryVsT},
		} {
			p, err := f.draw(&pr)
			if err != nil {
				return nil, fmt.Errorf("figure %s: %w", f.name, err)
			}
			if p == nil {
				continue
			}
			path := filepath.Join(dir, f.name)
			if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
				return nil, fmt.Errorf("figure %s: %w", path, err)
			}
			paths = append(paths, path)
		}
	}
	if rep.Reproduction != nil && rep.Reproduction.Equilibrium != nil {
		p, err := equilibriumPlot(rep.Reproduction.Equilibrium)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, equilibriumFigure)
		if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	if rep.Outer != nil {
		p, err := outerPlot(rep.Outer)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "outer_loss_vs_calls.png")
		if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// equilibriumFigure is the file of the equilibrium experiment's figure.
const equilibriumFigure = "equilibrium_error_vs_t.png"

// equilibriumPlot draws the relative error of each method against t = k
// (log scale), with qᵗ and ρ(∂_wΦ(w*))ᵗ dashed for reference.
func equilibriumPlot(eq *EquilibriumReport) (*plot.Plot, error) {
	p := newPlot("equilibrium model: relative error at t = k", "t = k", "‖ĥ − ∇f‖/‖∇f‖", false)
	tMax := 0
	for i, c := range eq.Methods {
		var xys plotter.XYs
		for _, pt := range c.Points {
			xys = append(xys, plotter.XY{X: float64(pt.T), Y: math.Max(pt.RelErr, errFloor)})
			tMax = max(tMax, pt.T)
		}
		if err := addLine(p, xys, palette[i%len(palette)], c.Estimator, false); err != nil {
			return nil, err
		}
	}
	for i, ref := range []struct {
		rate  float64
		label string
	}{{eq.Q, "qᵗ, q = ‖A‖₂"}, {eq.RhoStar, "ρᵗ, ρ = ρ(∂_wΦ(w*))"}} {
		if !(ref.rate > 0 && ref.rate < 1) {
			continue
		}
		var xys plotter.XYs
		for t := 0; t <= tMax; t++ {
			if v := math.Pow(ref.rate, float64(t)); v >= errFloor {
				xys = append(xys, plotter.XY{X: float64(t), Y: v})
			}
		}
		if err := addLine(p, xys, palette[(len(eq.Methods)+i)%len(palette)], ref.label, true); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// outerPlot draws the true validation loss above the best final loss
// against oracle calls, one line per accuracy rule.
func outerPlot(o *OuterReport) (*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("%s: validation loss − best final loss (%.5g)", o.Problem, o.BestLoss), "oracle calls", "E(w*(λ)) − best", true)
	for i, r := range o.Runs {
		var xys plotter.XYs
		for _, pt := range r.Curve {
			if pt.Calls > 0 {
				xys = append(xys, plotter.XY{X: float64(pt.Calls), Y: math.Max(pt.Loss-o.BestLoss, 1e-9*math.Abs(o.BestLoss))})
			}
		}
		if err := addLine(p, xys, palette[i%len(palette)], r.Name, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func newPlot(title, x, y string, logX bool) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = decades{}
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = decades{}
	}
	p.Legend.Top = false
	p.Legend.Left = true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(8)
	p.Add(plotter.NewGrid())
	return p
}

// decades labels powers of ten as 1e-4 (every other decade when there are
// more than 10), with unlabelled minor ticks in between.
type decades struct{}

func (decades) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	a, b := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	every := 1
	if b-a > 10 {
		every = 2
	}
	var ticks []plot.Tick
	for e := a; e <= b; e++ {
		v := math.Pow(10, float64(e))
		label := ""
		if e%every == 0 {
			label = fmt.Sprintf("1e%d", e)
		}
		if v >= lo && v <= hi {
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
		for m := 2; m < 10 && b-a <= 6; m++ {
			if w := float64(m) * v; w >= lo && w <= hi {
				ticks = append(ticks, plot.Tick{Value: w})
			}
		}
	}
	return ticks
}

func addLine(p *plot.Plot, xys plotter.XYs, c color.Color, label string, dashed bool) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		l.Width = vg.Points(1)
	}
	p.Add(l)
	if label != "" {
		p.Legend.Add(label, l)
	}
	return nil
}

// theoryRate is the asymptotic rate of a method on the diagonal t = k: the
// slower of its inner and linear phases.
func theoryRate(pr *ProblemReport, m *MethodReport) float64 {
	r := 0.0
	for _, ir := range pr.InnerRates {
		r = math.Max(r, ir.Theory)
	}
	if m.Rate != nil && m.Rate.Phase == "linear" {
		r = math.Max(r, m.Rate.Theory)
	}
	return r
}

func errorVsIterations(pr *ProblemReport) (*plot.Plot, error) {
	title := fmt.Sprintf("%s (κ* = %.3g): relative error, t = k", pr.Name, pr.KappaStar)
	if math.IsNaN(pr.KappaStar) {
		title = pr.Name + ": relative error, t = k"
	}
	p := newPlot(title,
		"iterations t = k", "‖ĥ − ∇f‖ / ‖∇f‖", false)
	for i, m := range pr.Methods {
		c := palette[i%len(palette)]
		var xys plotter.XYs
		for _, g := range m.Diagonal {
			xys = append(xys, plotter.XY{X: float64(g.T), Y: math.Max(g.RelErr, errFloor)})
		}
		if err := addLine(p, xys, c, m.Estimator, false); err != nil {
			return nil, err
		}
		// Theory, dashed: e(t0)·q^{t−t0} (ITD: ·t/t0), from the first point
		// above 1e-3 down to 1e-16.
		q := theoryRate(pr, &m)
		var t0, e0 float64
		for _, g := range m.Diagonal {
			if g.RelErr < 1e-3 {
				t0, e0 = float64(g.T), g.RelErr
				break
			}
		}
		if e0 == 0 || !(q > 0 && q < 1) {
			continue
		}
		var th plotter.XYs
		last := xys[len(xys)-1].X
		for t := t0; t <= last; t += math.Max(1, (last-t0)/200) {
			y := e0 * math.Pow(q, t-t0)
			if m.Name == "itd" {
				y *= t / t0
			}
			if y < 1e-16 {
				break
			}
			th = append(th, plotter.XY{X: t, Y: y})
		}
		if err := addLine(p, th, color.Gray{Y: 40}, "", true); err != nil {
			return nil, err
		}
	}
	dash, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 1}})
	if err != nil {
		return nil, err
	}
	dash.Color, dash.Dashes = color.Gray{Y: 40}, []vg.Length{vg.Points(5), vg.Points(3)}
	p.Legend.Add("theory: rate of the slower phase", dash)
	return p, nil
}

// errorVsOracles draws, for each method, the smallest error of the grid
// reachable within each number of oracle calls (the cost frontier over all
// (t, k), where AID-CG's short linear solves show).
func errorVsOracles(pr *ProblemReport) (*plot.Plot, error) {
	p := newPlot(pr.Name+": best relative error within a budget of oracle calls (all t, k)", "oracle calls", "‖ĥ − ∇f‖ / ‖∇f‖", true)
	for i, m := range pr.Methods {
		pts := slices.Clone(m.Grid)
		slices.SortFunc(pts, func(a, b GridPoint) int { return a.Oracles - b.Oracles })
		var xys plotter.XYs
		best := math.Inf(1)
		for _, g := range pts {
			if g.RelErr < best {
				best = g.RelErr
				xys = append(xys, plotter.XY{X: float64(g.Oracles), Y: math.Max(best, errFloor)})
			}
		}
		if err := addLine(p, xys, palette[i%len(palette)], m.Estimator, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func errorVsTime(pr *ProblemReport) (*plot.Plot, error) {
	p := newPlot(pr.Name+": relative error against wall time (t = k, median of 3 runs)", "seconds per hypergradient", "‖ĥ − ∇f‖ / ‖∇f‖", true)
	for i, m := range pr.Methods {
		var xys plotter.XYs
		for _, g := range m.Diagonal {
			if g.Seconds > 0 {
				xys = append(xys, plotter.XY{X: g.Seconds, Y: math.Max(g.RelErr, errFloor)})
			}
		}
		if err := addLine(p, xys, palette[i%len(palette)], m.Estimator, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func memoryVsT(pr *ProblemReport) (*plot.Plot, error) {
	p := newPlot(pr.Name+": peak device memory of the estimator", "inner iterations t", "bytes", true)
	for i, m := range pr.Methods {
		var xys plotter.XYs
		for _, mp := range m.Memory {
			xys = append(xys, plotter.XY{X: float64(mp.T), Y: math.Max(float64(mp.DeviceBytes), 1)})
		}
		if err := addLine(p, xys, palette[i%len(palette)], m.Estimator, false); err != nil {
			return nil, err
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		s.Color = palette[i%len(palette)]
		s.Shape = draw.CircleGlyph{}
		p.Add(s)
		if len(m.MemoryCheckpointed) > 0 {
			var ck plotter.XYs
			for _, mp := range m.MemoryCheckpointed {
				ck = append(ck, plotter.XY{X: float64(mp.T), Y: math.Max(float64(mp.DeviceBytes), 1)})
			}
			if err := addLine(p, ck, palette[i%len(palette)], m.Name+" with √t checkpointing", true); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}
