package bench

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// curve samples y(t) at the given t.
func curve(ts []float64, y func(float64) float64) plotter.XYs {
	xys := make(plotter.XYs, len(ts))
	for i, t := range ts {
		xys[i] = plotter.XY{X: t, Y: y(t)}
	}
	return xys
}

func span(a, b int) []float64 {
	var ts []float64
	for t := a; t <= b; t++ {
		ts = append(ts, float64(t))
	}
	return ts
}

// checkCut asserts floorClip's invariant: every point right of xmax is
// within a factor 1.5 of its curve's final value.
func checkCut(t *testing.T, name string, curves []plotter.XYs, xmax float64) {
	t.Helper()
	for i, c := range curves {
		for _, pt := range c {
			if pt.X > xmax && pt.Y > 1.5*c[len(c)-1].Y {
				t.Errorf("%s: curve %d: point (%v, %v) cut off at %v, final %v", name, i, pt.X, pt.Y, xmax, c[len(c)-1].Y)
			}
		}
	}
}

func TestFloorClip(t *testing.T) {
	// Floors reached at t = 50 (0.5^t down to 1e-15) and t = 77 (0.7^t
	// down to 1e-12), both running to t = 2000: the last points above 1.5
	// times the floor are t = 49 and t = 76, so the axis ends at 1.3·76.
	fast := curve(span(1, 2000), func(t float64) float64 { return math.Max(math.Pow(0.5, t), 1e-15) })
	slow := curve(span(1, 2000), func(t float64) float64 { return math.Max(math.Pow(0.7, t), 1e-12) })
	for _, tc := range []struct {
		name   string
		curves []plotter.XYs
		xmax   float64
		ok     bool
	}{
		{"fast", []plotter.XYs{fast}, 1.3 * 49, true},
		{"fast and slow", []plotter.XYs{fast, slow}, 1.3 * 76, true},
		{"slow and fast", []plotter.XYs{slow, fast}, 1.3 * 76, true},
		// Still decreasing at its end: 1.3·96 is past t = 100, no clip.
		{"no floor", []plotter.XYs{curve(span(1, 100), func(t float64) float64 { return math.Pow(0.9, t) })}, 0, false},
		// Next to a floored curve to t = 2000 it is shown whole.
		{"no floor with a floored one", []plotter.XYs{fast, curve(span(1, 100), func(t float64) float64 { return math.Pow(0.9, t) })}, 1.3 * 96, true},
		// Wide grid steps: last above the floor at 40, the floor reached at
		// 80 > 1.3·40, so the axis goes to 80.
		{"wide steps", []plotter.XYs{{{X: 10, Y: 1e-2}, {X: 20, Y: 1e-4}, {X: 40, Y: 1e-8}, {X: 80, Y: 1e-15}, {X: 160, Y: 1e-15}, {X: 320, Y: 1e-15}}}, 80, true},
		// Flat from the start, empty, none: nothing to clip.
		{"flat", []plotter.XYs{curve(span(1, 50), func(float64) float64 { return 1e-3 })}, 0, false},
		{"empty", []plotter.XYs{nil, {}}, 0, false},
		{"none", nil, 0, false},
	} {
		xmax, ok := floorClip(tc.curves)
		if ok != tc.ok || math.Abs(xmax-tc.xmax) > 1e-12 {
			t.Errorf("%s: floorClip = %v, %v; want %v, %v", tc.name, xmax, ok, tc.xmax, tc.ok)
		}
		if ok {
			checkCut(t, tc.name, tc.curves, xmax)
		}
	}

	// Random geometric descents onto floors with noise up to a factor 3,
	// on the bench's geometric t grid: the invariant holds, and every curve is shown down
	// to the point where it first comes within 1.5 of its final value
	// after its last excursion above.
	rng := rand.New(rand.NewPCG(1, 2))
	ts := geom(1, 2000, 1.15)
	clipped := 0
	for trial := range 200 {
		var curves []plotter.XYs
		for range 1 + rng.IntN(5) {
			q, floor, noise := 0.5+0.45*rng.Float64(), math.Pow(10, -16+6*rng.Float64()), 2*rng.Float64()
			c := curve(toFloats(ts), func(t float64) float64 {
				return math.Max(math.Pow(q, t), floor) * (1 + noise*rng.Float64())
			})
			curves = append(curves, c)
		}
		xmax, ok := floorClip(curves)
		if !ok {
			continue
		}
		clipped++
		name := fmt.Sprintf("random %d", trial)
		checkCut(t, name, curves, xmax)
		for i, c := range curves {
			last := -1
			for k, pt := range c {
				if pt.Y > 1.5*c[len(c)-1].Y {
					last = k
				}
			}
			if last >= 0 && c[last+1].X > xmax {
				t.Errorf("%s: curve %d reaches its floor at %v, right of %v", name, i, c[last+1].X, xmax)
			}
		}
	}
	if clipped < 50 {
		t.Errorf("%d of 200 random figures clipped", clipped)
	}
}

func toFloats(v []int) []float64 {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return f
}

func TestStaggeredMarks(t *testing.T) {
	// Two copies of 10^(−t/10) on t = 0, 5, …, 100, linear x: slots 0 and
	// 1 of 2 put their 8 markers at (j + ¼)·12.5 and (j + ¾)·12.5, on the
	// curve (log-linear interpolation is exact for an exponential).
	var ts []float64
	for x := 0; x <= 100; x += 5 {
		ts = append(ts, float64(x))
	}
	exp := func(x float64) float64 { return math.Pow(10, -x/10) }
	c := curve(ts, exp)
	a, b := staggeredMarks(c, 0, 100, false, 0, 2, 8), staggeredMarks(c, 0, 100, false, 1, 2, 8)
	if len(a) != 8 || len(b) != 8 {
		t.Fatalf("%d and %d marks, want 8", len(a), len(b))
	}
	for j := range 8 {
		for _, m := range []struct {
			got plotter.XY
			x   float64
		}{{a[j], (float64(j) + 0.25) * 12.5}, {b[j], (float64(j) + 0.75) * 12.5}} {
			if math.Abs(m.got.X-m.x) > 1e-12 || math.Abs(m.got.Y/exp(m.x)-1) > 1e-12 {
				t.Errorf("mark %d: %v, want (%v, %v)", j, m.got, m.x, exp(m.x))
			}
		}
	}
	// Log x: x^−2 on decades 1…1e4, marks at 10^((j + ½)·4/4) on the curve.
	pw := curve([]float64{1, 10, 100, 1000, 1e4}, func(x float64) float64 { return 1 / (x * x) })
	m := staggeredMarks(pw, 1, 1e4, true, 0, 1, 4)
	if len(m) != 4 {
		t.Fatalf("log x: %d marks", len(m))
	}
	for j, pt := range m {
		x := math.Pow(10, float64(j)+0.5)
		if math.Abs(pt.X/x-1) > 1e-12 || math.Abs(pt.Y*x*x-1) > 1e-12 {
			t.Errorf("log x mark %d: %v, want (%v, %v)", j, pt, x, 1/(x*x))
		}
	}
	// A curve spanning only [50, 100] of the axis gets the marks over it.
	if m := staggeredMarks(c[10:], 0, 100, false, 0, 1, 8); len(m) != 4 || m[0].X != 56.25 {
		t.Errorf("half curve: %v", m)
	}
	// One point: marked at it; no slots or an empty range: none.
	if m := staggeredMarks(c[3:4], 0, 100, false, 0, 1, 8); len(m) != 1 || m[0] != c[3] {
		t.Errorf("one point: %v", m)
	}
	if staggeredMarks(c, 0, 100, false, 0, 0, 8) != nil || staggeredMarks(c, 5, 5, false, 0, 1, 8) != nil || staggeredMarks(c, 0, 100, true, 0, 1, 8) != nil {
		t.Error("marks without slots, on an empty range or a log axis from 0")
	}
}

func TestCurveStyles(t *testing.T) {
	n := len(dashPatterns)
	if len(glyphs) != n {
		t.Fatalf("%d dash patterns, %d glyphs", n, len(glyphs))
	}
	for i := range n {
		si := curveStyleOf(i)
		for j := range i {
			sj := curveStyleOf(j)
			if reflect.DeepEqual(si.Dashes, sj.Dashes) {
				t.Errorf("curves %d and %d share the dash pattern %v", i, j, si.Dashes)
			}
			if reflect.TypeOf(si.Glyph) == reflect.TypeOf(sj.Glyph) {
				t.Errorf("curves %d and %d share the marker %T", i, j, si.Glyph)
			}
			if j == i-1 && si.Color == sj.Color {
				t.Errorf("curves %d and %d share a colour", i, j)
			}
		}
		if reflect.DeepEqual(si.Dashes, theoryStyle.Dashes) && si.Color == theoryStyle.Color {
			t.Errorf("curve %d drawn like the theory lines", i)
		}
	}
	// In a figure, each method's legend entry shows its own line and marker.
	rep := smallReport()
	f := errorVsIterations(&rep.Problems[0])
	_, entries, err := f.build()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, e := range entries[:len(rep.Problems[0].Methods)] {
		if len(e.thumbs) != 2 {
			t.Fatalf("%s: %d thumbnails, want line and marker", e.label, len(e.thumbs))
		}
		l, ok1 := e.thumbs[0].(*plotter.Line)
		g, ok2 := e.thumbs[1].(glyphThumb)
		if !ok1 || !ok2 {
			t.Fatalf("%s: thumbnails %T, %T", e.label, e.thumbs[0], e.thumbs[1])
		}
		key := fmt.Sprint(l.Dashes, reflect.TypeOf(g.sty.Shape))
		if other, dup := seen[key]; dup {
			t.Errorf("%s drawn like %s", e.label, other)
		}
		seen[key] = e.label
	}
}

// smallReport is a report with the coincidences the figures must show: the
// four AID methods share one error curve, which reaches its floor at t = 60
// of 2000; ITD reaches its floor at t = 90.
func smallReport() *Report {
	ts := geom(1, 2000, 1.15)
	names := []string{"itd", "aid-fp", "aid-cg", "aid-pcg", "aid-hb"}
	pr := ProblemReport{Name: "small", KappaStar: 12.5, InnerRates: []Rate{{Phase: "inner-gd", Theory: 0.6}}}
	for i, name := range names {
		m := MethodReport{Name: name, Estimator: name + "(gd)", Rate: &Rate{Phase: "linear", Theory: 0.55}}
		q := 0.55
		if i == 0 {
			q = 0.7
		}
		for _, t := range ts {
			e := math.Max(math.Pow(q, float64(t)), 2e-15*(1+0.15*math.Sin(float64(t))))
			g := GridPoint{T: t, K: t, RelErr: e, Oracles: 3 * t, Seconds: 1e-5 * float64(t)}
			m.Diagonal = append(m.Diagonal, g)
			m.Grid = append(m.Grid, g, GridPoint{T: t, K: 1, RelErr: math.Min(1, 2*e), Oracles: t + 2})
		}
		for _, t := range []int{10, 100, 1000} {
			b := int64(4096)
			if name == "itd" {
				b *= int64(t)
			}
			m.Memory = append(m.Memory, MemPoint{T: t, DeviceBytes: b})
		}
		if name == "itd" {
			m.MemoryCheckpointed = []MemPoint{{T: 10, DeviceBytes: 4096 * 4}, {T: 100, DeviceBytes: 4096 * 10}, {T: 1000, DeviceBytes: 4096 * 32}}
		}
		pr.Methods = append(pr.Methods, m)
	}
	eq := &EquilibriumReport{Q: 0.9, RhoStar: 0.6}
	for _, name := range []string{"itd", "aid-richardson", "aid-gmres30", "aid-cgne"} {
		c := EquilibriumCurve{Name: name, Estimator: name + "(fpi)"}
		for t := 1; t <= 60; t++ {
			c.Points = append(c.Points, EquilibriumPoint{T: t, K: t, RelErr: math.Max(math.Pow(0.5, float64(t)), 1e-15)})
		}
		eq.Methods = append(eq.Methods, c)
	}
	o := &OuterReport{Problem: "small-hpo", BestLoss: 0.5, Runs: []OuterRun{
		{Name: "maid", Curve: []OuterPoint{{0, 0.7}, {30, 0.6}, {300, 0.51}, {3000, 0.5}}},
		{Name: "fixed 1e-01", Curve: []OuterPoint{{0, 0.7}, {37, 0.7}}},
	}}
	return &Report{Problems: []ProblemReport{pr}, Reproduction: &Reproduction{Equilibrium: eq}, Outer: o}
}

// missingGlyphs is the runes of s that the style's font has no glyph for
// (glyph index 0, .notdef, which the figures would draw as a blank).
func missingGlyphs(t *testing.T, sty text.Style, s string) string {
	t.Helper()
	face := sty.Handler.Cache().Lookup(sty.Font, sty.Font.Size)
	var miss []rune
	for _, r := range s {
		idx, err := face.Face.GlyphIndex(nil, r)
		if err != nil {
			t.Fatalf("glyph index of %q: %v", r, err)
		}
		if idx == 0 && !slices.Contains(miss, r) {
			miss = append(miss, r)
		}
	}
	return string(miss)
}

// TestFigureGlyphs: every rune of every title, axis label, tick label and
// legend entry of the figures is one their font draws.
func TestFigureGlyphs(t *testing.T) {
	leg := newLegend().TextStyle
	// The check sees a missing glyph: gonum's default font has no ∇, the
	// figures' font has it.
	def := text.Style{Font: plot.DefaultFont, Handler: leg.Handler}
	if miss := missingGlyphs(t, def, "‖ĥ − ∇f‖"); miss != "∇" {
		t.Fatalf("missing glyphs of ‖ĥ − ∇f‖ in the default font: %q, want ∇", miss)
	}
	if miss := missingGlyphs(t, leg, "‖ĥ − ∇f‖ κ* ε"); miss != "" {
		t.Fatalf("the figures' font lacks %q", miss)
	}
	rep := smallReport()
	figs := reportFigures(rep)
	texts := 0
	for _, f := range figs {
		p, entries, err := f.build()
		if err != nil {
			t.Fatal(err)
		}
		check := func(what string, sty text.Style, s string) {
			texts++
			if miss := missingGlyphs(t, sty, s); miss != "" {
				t.Errorf("%s: %s %q: no glyph for %q", f.file, what, s, miss)
			}
		}
		check("title", p.Title.TextStyle, f.title)
		check("x label", p.X.Label.TextStyle, f.xLabel)
		check("y label", p.Y.Label.TextStyle, f.yLabel)
		for _, e := range entries {
			check("legend", leg, e.label)
		}
		for _, ax := range []*plot.Axis{&p.X, &p.Y} {
			for _, tk := range ax.Tick.Marker.Ticks(ax.Min, ax.Max) {
				check("tick", ax.Tick.Label, tk.Label)
			}
		}
	}
	if texts < 100 {
		t.Errorf("only %d texts checked", texts)
	}
}

// TestLegendBelow: no figure draws a legend inside its data area; each
// puts every labelled curve in the strip below, the rows filled left to
// right, within the figure's width.
func TestLegendBelow(t *testing.T) {
	c := draw.NewCanvas(nil, figWidth, figHeight)
	for _, f := range reportFigures(smallReport()) {
		p, entries, err := f.build()
		if err != nil {
			t.Fatal(err)
		}
		if r := p.Legend.Rectangle(c); r.Size().X != 0 || r.Size().Y != 0 {
			t.Errorf("%s: a legend inside the plot, %v", f.file, r)
		}
		labelled := 0
		for _, s := range f.series {
			if s.label != "" && len(s.xys) > 0 {
				labelled++
			}
		}
		if labelled == 0 || len(entries) != labelled {
			t.Errorf("%s: %d legend entries for %d labelled curves", f.file, len(entries), labelled)
		}
		labels := make([]string, len(entries))
		for i, e := range entries {
			labels[i] = e.label
		}
		lay := layoutLegend(labels, figWidth)
		if lay.cols < 1 || lay.cols*lay.rows < len(labels) || (lay.rows-1)*lay.cols >= len(labels) {
			t.Errorf("%s: %d entries in %d × %d", f.file, len(labels), lay.cols, lay.rows)
		}
		if w := lay.left + vg.Length(lay.cols)*lay.colW - vg.Points(legendColGap); lay.cols > 1 && w > figWidth {
			t.Errorf("%s: legend %v wide in a %v figure", f.file, w, figWidth)
		}
		if lay.height < vg.Length(lay.rows)*newLegend().TextStyle.Font.Size {
			t.Errorf("%s: %d rows in %v", f.file, lay.rows, lay.height)
		}
	}
	// One long label: one column; many short ones: several, balanced.
	if lay := layoutLegend([]string{string(bytes.Repeat([]byte("x"), 200))}, figWidth); lay.cols != 1 || lay.rows != 1 || lay.left != 0 {
		t.Errorf("long label: %+v", lay)
	}
	if lay := layoutLegend([]string{"a", "b", "c", "d", "e", "f", "g"}, figWidth); lay.rows != 1 || lay.cols != 7 {
		t.Errorf("seven short labels: %+v", lay)
	}
	if lay := layoutLegend(nil, figWidth); lay.height != 0 {
		t.Errorf("no labels: %+v", lay)
	}
}

// TestWriteFigures: the small report's figures keep their names, are
// valid PNGs of the figure width, with the legend strip below the plot,
// and the error-vs-iterations axis ends where the curves reach their floor.
func TestWriteFigures(t *testing.T) {
	rep := smallReport()
	dir := t.TempDir()
	paths, err := WriteFigures(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	want := []string{"error_vs_iterations_small.png", "error_vs_oracles_small.png", "error_vs_time_small.png", "memory_vs_t_small.png", equilibriumFigure, "outer_loss_vs_calls.png"}
	if !slices.Equal(names, want) {
		t.Fatalf("figures %v, want %v", names, want)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b := img.Bounds()
		// 96 dpi: 7 in wide, 4.5 in plus the legend high.
		if b.Dx() != 672 || b.Dy() <= 432 || b.Dy() > 432+200 {
			t.Errorf("%s: %d × %d pixels", p, b.Dx(), b.Dy())
		}
		// Not blank: the pixels of the data area vary.
		colours := map[[4]uint32]bool{}
		for y := b.Min.Y; y < b.Max.Y; y += 3 {
			for x := b.Min.X; x < b.Max.X; x += 3 {
				r, g, bl, a := img.At(x, y).RGBA()
				colours[[4]uint32{r, g, bl, a}] = true
			}
		}
		if len(colours) < 10 {
			t.Errorf("%s: %d colours", p, len(colours))
		}
	}
	// The ITD curve, 0.7^t, is last above 1.5 times its floor (2e-15 ± 15 %)
	// before t = 100; the AID ones, 0.55^t, before t = 60: the axis ends
	// at 1.3 times ITD's, far left of t = 2000.
	p, _, err := errorVsIterations(&rep.Problems[0]).build()
	if err != nil {
		t.Fatal(err)
	}
	var itd plotter.XYs
	for _, g := range rep.Problems[0].Methods[0].Diagonal {
		itd = append(itd, plotter.XY{X: float64(g.T), Y: g.RelErr})
	}
	last := 0.0
	for _, pt := range itd {
		if pt.Y > 1.5*itd[len(itd)-1].Y {
			last = pt.X
		}
	}
	if !(last > 80 && last < 100) || math.Abs(p.X.Max-1.3*last) > 1e-9 {
		t.Errorf("x axis ends at %v; ITD last above its floor at %v", p.X.Max, last)
	}
}
