package bench

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"codeberg.org/go-fonts/dejavu/dejavusans"
	"golang.org/x/image/font/opentype"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// mathFont is DejaVu Sans, which has the mathematical glyphs of the
// figures' texts (∇, ‖, ĥ, κ, ε, …) that gonum's default Liberation fonts
// lack. It is added to font.DefaultCache (which gonum's text handler reads)
// once, and set on each figure's texts; gonum's DefaultFont is left alone.
var mathFont = font.Font{Typeface: "DejaVu", Variant: "Sans"}

var mathFontOnce sync.Once

func registerMathFont() {
	mathFontOnce.Do(func() {
		f, err := opentype.Parse(dejavusans.TTF)
		if err != nil {
			return // the texts fall back to the default font
		}
		font.DefaultCache.Add(font.Collection{{Font: mathFont, Face: f}})
	})
}

// withMathFont sets the typeface of a text style, keeping its size.
func withMathFont(s *text.Style) {
	registerMathFont()
	s.Font.Typeface, s.Font.Variant = mathFont.Typeface, mathFont.Variant
}

// palette is a colour-blind-safe set (Okabe–Ito).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
}

// errFloor keeps log axes away from zero errors.
const errFloor = 1e-17

// Figure geometry: every figure is figWidth wide; the axes and data area
// take figHeight, the legend rows below it come on top of that.
const (
	figWidth  = 7 * vg.Inch
	figHeight = 4.5 * vg.Inch
	figMargin = 5 // points, round the plot
)

// Labels of the error axes; every rune of every figure text is one the
// figures' font (mathFont) draws (TestFigureGlyphs).
const (
	relErrLabel = "relative error ‖ĥ − ∇f‖ / ‖∇f‖"
	theoryLabel = "theory: rate of the slower phase"
)

// WriteFigures draws, for every problem, the error against iterations (the
// diagonal t = k, log scale, theory dashed), the best error within a budget
// of oracle calls, the error against wall time, and the memory against t;
// then the equilibrium and outer-loop figures when the report has them. It
// returns the files written.
func WriteFigures(dir string, rep *Report) ([]string, error) {
	figs := reportFigures(rep)
	var paths []string
	for _, f := range figs {
		path := filepath.Join(dir, f.file)
		if err := f.save(path); err != nil {
			return nil, fmt.Errorf("figure %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// reportFigures builds the figures of a report, in the order they are written.
func reportFigures(rep *Report) []*figure {
	var figs []*figure
	for i := range rep.Problems {
		pr := &rep.Problems[i]
		if len(pr.Methods) == 0 {
			continue // no estimator curves (the bounds suite)
		}
		for _, f := range []struct {
			name string
			draw func(*ProblemReport) *figure
		}{
			{"error_vs_iterations_" + pr.Name + ".png", errorVsIterations},
			{"error_vs_oracles_" + pr.Name + ".png", errorVsOracles},
			{"error_vs_time_" + pr.Name + ".png", errorVsTime},
			{"memory_vs_t_" + pr.Name + ".png", memoryVsT},
		} {
			fig := f.draw(pr)
			fig.file = f.name
			figs = append(figs, fig)
		}
	}
	if rep.Reproduction != nil && rep.Reproduction.Equilibrium != nil {
		fig := equilibriumPlot(rep.Reproduction.Equilibrium)
		fig.file = equilibriumFigure
		figs = append(figs, fig)
	}
	if rep.Outer != nil {
		fig := outerPlot(rep.Outer)
		fig.file = "outer_loss_vs_calls.png"
		figs = append(figs, fig)
	}
	return figs
}

// equilibriumFigure is the file of the equilibrium experiment's figure.
const equilibriumFigure = "equilibrium_error_vs_t.png"

// equilibriumPlot draws the relative error of each method against t = k
// (log scale), with qᵗ and ρ(∂_wΦ(w*))ᵗ dashed for reference.
func equilibriumPlot(eq *EquilibriumReport) *figure {
	f := &figure{title: "equilibrium model: relative error at t = k", xLabel: "t = k", yLabel: relErrLabel, clipX: true}
	tMax := 0
	for i, c := range eq.Methods {
		var xys plotter.XYs
		for _, pt := range c.Points {
			xys = append(xys, plotter.XY{X: float64(pt.T), Y: math.Max(pt.RelErr, errFloor)})
			tMax = max(tMax, pt.T)
		}
		f.method(c.Estimator, xys, i, markStaggered)
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
		f.series = append(f.series, series{label: ref.label, xys: xys, style: curveStyle{
			Color: palette[(len(eq.Methods)+i)%len(palette)], Dashes: referenceDashes[i%len(referenceDashes)]}, width: vg.Points(1)})
	}
	return f
}

// outerPlot draws the true validation loss above the best final loss
// against oracle calls, one line per accuracy rule.
func outerPlot(o *OuterReport) *figure {
	f := &figure{title: fmt.Sprintf("%s: validation loss − best final loss (%.5g)", o.Problem, o.BestLoss),
		xLabel: "oracle calls", yLabel: "E(w*(λ)) − best", logX: true}
	for i, r := range o.Runs {
		var xys plotter.XYs
		for _, pt := range r.Curve {
			if pt.Calls > 0 {
				xys = append(xys, plotter.XY{X: float64(pt.Calls), Y: math.Max(pt.Loss-o.BestLoss, 1e-9*math.Abs(o.BestLoss))})
			}
		}
		f.method(r.Name, xys, i, markStaggered)
	}
	return f
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

func errorVsIterations(pr *ProblemReport) *figure {
	title := fmt.Sprintf("%s (κ* = %.3g): relative error, t = k", pr.Name, pr.KappaStar)
	if !(pr.KappaStar > 0) { // not computed: NaN, or 0 when read back from JSON
		title = pr.Name + ": relative error, t = k"
	}
	f := &figure{title: title, xLabel: "iterations t = k", yLabel: relErrLabel, clipX: true}
	var theory []series
	for i, m := range pr.Methods {
		var xys plotter.XYs
		for _, g := range m.Diagonal {
			xys = append(xys, plotter.XY{X: float64(g.T), Y: math.Max(g.RelErr, errFloor)})
		}
		f.method(m.Estimator, xys, i, markStaggered)
		// Theory, dashed: e(t0)·q^{t−t0} (ITD: ·t/t0), from the first point
		// below 1e-3 down to 1e-16.
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
		if len(th) > 0 {
			theory = append(theory, series{xys: th, style: theoryStyle, width: vg.Points(1)})
		}
	}
	// One legend entry for all theory lines, after the methods'.
	if len(theory) > 0 {
		theory[0].label = theoryLabel
	}
	f.series = append(f.series, theory...)
	return f
}

// errorVsOracles draws, for each method, the smallest error of the grid
// reachable within each number of oracle calls (the cost frontier over all
// (t, k), where AID-CG's short linear solves show).
func errorVsOracles(pr *ProblemReport) *figure {
	f := &figure{title: pr.Name + ": best relative error within a budget of oracle calls (all t, k)",
		xLabel: "oracle calls", yLabel: relErrLabel, logX: true}
	for i, m := range pr.Methods {
		pts := slices.Clone(m.Grid)
		slices.SortFunc(pts, func(a, b GridPoint) int { return a.Oracles - b.Oracles })
		var xys plotter.XYs
		best := math.Inf(1)
		for _, g := range pts {
			if g.RelErr < best && g.Oracles > 0 {
				best = g.RelErr
				xys = append(xys, plotter.XY{X: float64(g.Oracles), Y: math.Max(best, errFloor)})
			}
		}
		f.method(m.Estimator, xys, i, markStaggered)
	}
	return f
}

func errorVsTime(pr *ProblemReport) *figure {
	f := &figure{title: pr.Name + ": relative error against wall time (t = k, median of 3 runs)",
		xLabel: "seconds per hypergradient", yLabel: relErrLabel, logX: true}
	for i, m := range pr.Methods {
		var xys plotter.XYs
		for _, g := range m.Diagonal {
			if g.Seconds > 0 {
				xys = append(xys, plotter.XY{X: g.Seconds, Y: math.Max(g.RelErr, errFloor)})
			}
		}
		f.method(m.Estimator, xys, i, markStaggered)
	}
	return f
}

// memoryVsT marks every measured point: there are few, and they are the data.
func memoryVsT(pr *ProblemReport) *figure {
	f := &figure{title: pr.Name + ": peak device memory of the estimator", xLabel: "inner iterations t", yLabel: "bytes", logX: true}
	n := len(pr.Methods)
	for i, m := range pr.Methods {
		var xys plotter.XYs
		for _, mp := range m.Memory {
			xys = append(xys, plotter.XY{X: float64(mp.T), Y: math.Max(float64(mp.DeviceBytes), 1)})
		}
		f.method(m.Estimator, xys, i, markPoints)
		if len(m.MemoryCheckpointed) > 0 {
			var ck plotter.XYs
			for _, mp := range m.MemoryCheckpointed {
				ck = append(ck, plotter.XY{X: float64(mp.T), Y: math.Max(float64(mp.DeviceBytes), 1)})
			}
			// Its own style, after the methods' ones; the colour of its method.
			st := curveStyleOf(n)
			st.Color = curveStyleOf(i).Color
			f.series = append(f.series, series{label: m.Name + " with √t checkpointing", xys: ck, style: st, width: vg.Points(1.5), marks: markPoints})
			n++
		}
	}
	return f
}

// curveStyle is how one curve is drawn: colour, dash pattern (nil: solid)
// and marker shape (nil: none).
type curveStyle struct {
	Color  color.Color
	Dashes []vg.Length
	Glyph  draw.GlyphDrawer
}

// dashPatterns and glyphs are the per-curve dash patterns and marker
// shapes; curve i takes dashPatterns[i mod 9] and glyphs[i mod 9], so up to
// nine curves of a figure differ in both.
var (
	dashPatterns = [][]vg.Length{
		nil,
		{vg.Points(7), vg.Points(3)},
		{vg.Points(2), vg.Points(2)},
		{vg.Points(9), vg.Points(3), vg.Points(2), vg.Points(3)},
		{vg.Points(4), vg.Points(2), vg.Points(1), vg.Points(2), vg.Points(1), vg.Points(2)},
		{vg.Points(12), vg.Points(4)},
		{vg.Points(1), vg.Points(3)},
		{vg.Points(6), vg.Points(2), vg.Points(6), vg.Points(2), vg.Points(1), vg.Points(2)},
		{vg.Points(3), vg.Points(5)},
	}
	glyphs = []draw.GlyphDrawer{
		draw.RingGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}, diamondGlyph{},
		draw.PlusGlyph{}, draw.CircleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{},
	}
	// referenceDashes are the reference rates' patterns (thin, no markers).
	referenceDashes = [][]vg.Length{{vg.Points(5), vg.Points(3)}, {vg.Points(1.5), vg.Points(2.5)}}
	// theoryStyle is the predicted rate: thin, grey, dashed, no markers.
	theoryStyle = curveStyle{Color: color.Gray{Y: 40}, Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
)

// curveStyleOf is the style of the i-th curve of a figure: colour
// palette[i mod 6], dash pattern and marker i mod 9.
func curveStyleOf(i int) curveStyle {
	return curveStyle{Color: palette[i%len(palette)], Dashes: dashPatterns[i%len(dashPatterns)], Glyph: glyphs[i%len(glyphs)]}
}

// diamondGlyph is an unfilled square standing on a corner.
type diamondGlyph struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(0.75)})
	r := sty.Radius * 1.3
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r, Y: pt.Y})
	p.Close()
	c.Stroke(p)
}

// markMode says where a curve's markers go.
type markMode int

const (
	markNone      markMode = iota
	markStaggered          // evenly along the x axis, shifted per curve (staggeredMarks)
	markPoints             // at every data point
)

// marksPerCurve is the number of marker positions along the x axis a
// staggered curve gets.
const marksPerCurve = 8

// series is one curve of a figure.
type series struct {
	label string // legend text; "" for none
	xys   plotter.XYs
	style curveStyle
	width vg.Length
	marks markMode
	// floor: the curve counts for the x clipping of an error-vs-iterations
	// figure (floorClip).
	floor bool
}

// figure is a plot whose legend is drawn in rows below the data area, so
// that it never covers a curve.
type figure struct {
	file                  string
	title, xLabel, yLabel string
	logX                  bool // log x axis (the y axis is always log)
	clipX                 bool // end the x axis where the curves reach their floors (floorClip)
	series                []series
}

// method adds the measured curve of the i-th method of the figure, in the
// i-th style.
func (f *figure) method(label string, xys plotter.XYs, i int, marks markMode) {
	f.series = append(f.series, series{label: label, xys: xys, style: curveStyleOf(i), width: vg.Points(1.5), marks: marks, floor: true})
}

// legendEntry is one entry of a figure's legend.
type legendEntry struct {
	label  string
	thumbs []plot.Thumbnailer
}

// glyphThumb draws a marker in the middle of a legend thumbnail.
type glyphThumb struct{ sty draw.GlyphStyle }

// Thumbnail implements plot.Thumbnailer.
func (g glyphThumb) Thumbnail(c *draw.Canvas) { c.DrawGlyph(g.sty, c.Center()) }

// glyphStyle is the marker of a curve style, or a zero style (no marker).
func (s curveStyle) glyphStyle() draw.GlyphStyle {
	if s.Glyph == nil {
		return draw.GlyphStyle{}
	}
	return draw.GlyphStyle{Color: s.Color, Radius: vg.Points(3), Shape: s.Glyph}
}

// build makes the plot (without a legend inside it) and the legend entries
// in series order: the lines without markers first, then the others, then
// every marker on top, so that lines which coincide keep their markers
// visible.
func (f *figure) build() (*plot.Plot, []legendEntry, error) {
	p := plot.New()
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label} {
		withMathFont(s)
	}
	p.Title.Text = f.title
	// The axis labels are drawn by render, not by gonum: gonum places a
	// centred label's box at the scale's image of the arithmetic mean of
	// the range, near the end of a log axis, and pads the data area for it.
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = decades{}
	p.X.Tick.Marker = plainTicks{}
	if f.logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = decades{}
	}
	p.Add(plotter.NewGrid())

	lo, hi := math.Inf(1), math.Inf(-1)
	var floors []plotter.XYs
	for _, s := range f.series {
		for _, pt := range s.xys {
			lo, hi = math.Min(lo, pt.X), math.Max(hi, pt.X)
		}
		if s.floor {
			floors = append(floors, s.xys)
		}
	}
	clipped := false
	if f.clipX {
		if xmax, ok := floorClip(floors); ok {
			hi, clipped = xmax, true
		}
	}
	slots := 0
	for _, s := range f.series {
		if s.marks == markStaggered && len(s.xys) > 0 {
			slots++
		}
	}

	// Curves without markers (theory, references) go under the measured ones.
	var order []int
	for pass := range 2 {
		for i, s := range f.series {
			if (s.marks == markNone) == (pass == 0) {
				order = append(order, i)
			}
		}
	}
	entries := make([]*legendEntry, len(f.series))
	var marks []plot.Plotter
	slot := 0
	for _, i := range order {
		s := f.series[i]
		if len(s.xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return nil, nil, fmt.Errorf("curve %q: %w", s.label, err)
		}
		l.Color, l.Width, l.Dashes = s.style.Color, s.width, s.style.Dashes
		p.Add(l)
		thumbs := []plot.Thumbnailer{l}
		var pts plotter.XYs
		switch s.marks {
		case markStaggered:
			pts = staggeredMarks(s.xys, lo, hi, f.logX, slot, slots, marksPerCurve)
			slot++
		case markPoints:
			pts = s.xys
		}
		if gs := s.style.glyphStyle(); gs.Shape != nil && s.marks != markNone {
			thumbs = append(thumbs, glyphThumb{gs})
			if len(pts) > 0 {
				sc, err := plotter.NewScatter(pts)
				if err != nil {
					return nil, nil, fmt.Errorf("curve %q: %w", s.label, err)
				}
				sc.GlyphStyle = gs
				marks = append(marks, sc)
			}
		}
		if s.label != "" {
			entries[i] = &legendEntry{s.label, thumbs}
		}
	}
	p.Add(marks...)
	var legend []legendEntry
	for _, e := range entries {
		if e != nil {
			legend = append(legend, *e)
		}
	}
	if clipped {
		p.X.Max = hi
	}
	return p, legend, nil
}

// Legend geometry: thumbnails wide enough to show a whole dash pattern,
// rows one font line apart plus legendGap, columns legendColGap apart.
const (
	legendFontSize  = 11
	legendThumbW    = 34
	legendGap       = 2
	legendColGap    = 14
	legendMarginTop = 4
	legendMarginBot = 6
)

// legendLayout is where a figure's legend goes: cols × rows entries, entry
// i in row i / cols and column i mod cols, each column colW wide, rows
// pitch apart; height is the strip below the axes that holds them.
type legendLayout struct {
	cols, rows   int
	colW, pitch  vg.Length
	height, left vg.Length
}

// newLegend is a gonum legend with the figures' text and thumbnail style.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	withMathFont(&l.TextStyle)
	l.TextStyle.Font.Size = legendFontSize
	l.ThumbnailWidth = vg.Points(legendThumbW)
	l.Top, l.Left = true, true
	return l
}

// layoutLegend puts the entries in as many columns of equal width as fit
// in the width w (at least one), fills rows left to right, and centres the
// block. gonum's entry height is the text's ascent less the line gap, so
// the rows are spaced a full font line (the font's Height) plus legendGap.
func layoutLegend(labels []string, w vg.Length) legendLayout {
	if len(labels) == 0 {
		return legendLayout{}
	}
	l := newLegend()
	sty := l.TextStyle
	colW := vg.Length(0)
	for _, s := range labels {
		colW = max(colW, l.ThumbnailWidth+sty.Width(" "+s)+vg.Points(legendColGap))
	}
	cols := max(1, min(len(labels), int(w/colW)))
	rows := (len(labels) + cols - 1) / cols
	cols = (len(labels) + rows - 1) / rows // balance: no emptier last row than needed
	pitch := sty.FontExtents().Height + vg.Points(legendGap)
	used := vg.Length(cols)*colW - vg.Points(legendColGap)
	return legendLayout{
		cols: cols, rows: rows, colW: colW, pitch: pitch,
		height: vg.Length(rows)*pitch + vg.Points(legendMarginTop+legendMarginBot),
		left:   max(0, (w-used)/2),
	}
}

// render draws the figure: the plot in the top figHeight, the legend in
// the strip below it.
func (f *figure) render(format string) (vg.CanvasWriterTo, error) {
	p, entries, err := f.build()
	if err != nil {
		return nil, err
	}
	labels := make([]string, len(entries))
	for i, e := range entries {
		labels[i] = e.label
	}
	lay := layoutLegend(labels, figWidth)
	c, err := draw.NewFormattedCanvas(figWidth, figHeight+lay.height, format)
	if err != nil {
		return nil, err
	}
	dc := draw.New(c)
	// A margin round the plot: accents above the ascent (the hat of ĥ)
	// stick out of a text's box.
	pc := draw.Crop(dc, vg.Points(figMargin), -vg.Points(figMargin), lay.height, -vg.Points(figMargin))
	xs, ys := p.X.Label.TextStyle, p.Y.Label.TextStyle
	inner := draw.Crop(pc, ys.Height(f.yLabel)+p.Y.Label.Padding, 0, xs.Height(f.xLabel)+p.X.Label.Padding, 0)
	p.Draw(inner)
	da := p.DataCanvas(inner)
	pc.FillText(xs, vg.Point{X: da.Center().X, Y: pc.Min.Y + xs.FontExtents().Descent}, f.xLabel)
	rot := ys
	rot.Rotation += math.Pi / 2
	pc.FillText(rot, vg.Point{X: pc.Min.X + ys.Height(f.yLabel) - ys.FontExtents().Descent, Y: da.Center().Y}, f.yLabel)
	if lay.cols == 0 {
		return c, nil
	}
	for col := range lay.cols {
		l := newLegend()
		// gonum's row spacing is entryHeight + Padding; make it the pitch.
		l.Padding = lay.pitch - l.TextStyle.Rectangle("M").Max.Y
		for i := col; i < len(entries); i += lay.cols {
			l.Add(entries[i].label, entries[i].thumbs...)
		}
		x0 := lay.left + vg.Length(col)*lay.colW
		l.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x0, Y: 0},
			Max: vg.Point{X: x0 + lay.colW, Y: lay.height - vg.Points(legendMarginTop)},
		}})
	}
	return c, nil
}

// save writes the figure in the format its path's extension names.
func (f *figure) save(path string) (err error) {
	ext := filepath.Ext(path)
	if ext == "" {
		return fmt.Errorf("no format extension")
	}
	c, err := f.render(ext[1:])
	if err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if e := out.Close(); err == nil {
			err = e
		}
	}()
	_, err = c.WriteTo(out)
	return err
}

// floorClip is the right end of the x axis of an error-against-iterations
// figure: the larger of 1.3·max_i T_i and max_i R_i, where T_i is the
// largest x at which curve i is still above 1.5 times its final value (its
// plateau, the floor it ends on) and R_i the x of curve i's next point, the
// one where it reaches that floor. ok is false — nothing is clipped — when
// that end is not left of the data's largest x or no curve is ever above
// 1.5 times its final value. Invariant: every point cut off lies within a
// factor 1.5 of its curve's final value (on a log axis, a sliver of the
// last point's height), and each curve is shown down to the point where it
// reaches its floor.
func floorClip(curves []plotter.XYs) (xmax float64, ok bool) {
	tMax, reach, dataMax := math.Inf(-1), math.Inf(-1), math.Inf(-1)
	for _, c := range curves {
		if len(c) == 0 {
			continue
		}
		final := c[len(c)-1].Y
		last := -1
		for k, pt := range c {
			dataMax = math.Max(dataMax, pt.X)
			if pt.Y > 1.5*final {
				last = k
			}
		}
		if last >= 0 {
			tMax = math.Max(tMax, c[last].X)
			reach = math.Max(reach, c[min(last+1, len(c)-1)].X)
		}
	}
	end := math.Max(1.3*tMax, reach)
	if math.IsInf(tMax, -1) || !(end < dataMax) {
		return 0, false
	}
	return end, true
}

// staggeredMarks is n marker positions along the polyline xys, at the
// axis coordinates u_j = lo + (j + (s + ½)/m)·(hi − lo)/n, j = 0, …, n−1,
// (u = x, or log10 x on a log axis) for curve slot s of m: curves in
// different slots never put a marker at the same x, so curves that
// coincide show alternating markers. y is interpolated linearly in log10 y
// on the first segment that spans u_j; a u_j outside the curve's span gets
// no marker. A curve of one point, which draws no line, is marked at it.
func staggeredMarks(xys plotter.XYs, lo, hi float64, logX bool, s, m, n int) plotter.XYs {
	u := func(x float64) float64 {
		if logX {
			return math.Log10(x)
		}
		return x
	}
	x := func(u float64) float64 {
		if logX {
			return math.Pow(10, u)
		}
		return u
	}
	if m < 1 || n < 1 || len(xys) == 0 || !(hi > lo) || (logX && !(lo > 0)) {
		return nil
	}
	if len(xys) == 1 {
		return slices.Clone(xys)
	}
	ulo, uhi := u(lo), u(hi)
	var out plotter.XYs
	for j := range n {
		uj := ulo + (float64(j)+(float64(s)+0.5)/float64(m))*(uhi-ulo)/float64(n)
		for k := 1; k < len(xys); k++ {
			a, b := xys[k-1], xys[k]
			ua, ub := u(a.X), u(b.X)
			if uj < math.Min(ua, ub) || uj > math.Max(ua, ub) || !(a.Y > 0 && b.Y > 0) {
				continue
			}
			w := 0.0
			if ub != ua {
				w = (uj - ua) / (ub - ua)
			}
			ly := (1-w)*math.Log10(a.Y) + w*math.Log10(b.Y)
			out = append(out, plotter.XY{X: x(uj), Y: math.Pow(10, ly)})
			break
		}
	}
	return out
}

// plainTicks are gonum's default ticks with labels in the shortest form
// (25, not 25.00).
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'g', 6, 64)
		}
	}
	return ticks
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
