package data

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// smallTV returns a valid 2×3 image.
func smallTV() *TVDenoise {
	return &TVDenoise{
		Y:      []float64{0.1, 0.9, 1.1, -0.2, 0.05, 1},
		XTrue:  []float64{0, 1, 1, 0, 0, 1},
		H:      2,
		W:      3,
		Lambda: []float64{math.Log(0.1), math.Log(0.05)},
	}
}

func sameTV(a, b *TVDenoise) bool {
	return a.H == b.H && a.W == b.W && sameFloats(a.Y, b.Y) && sameFloats(a.XTrue, b.XTrue) && sameFloats(a.Lambda, b.Lambda)
}

// tvEntries returns the members of smallTV's file with the named members
// replaced or removed (nil removes).
func tvEntries(replace map[string]any) []entry {
	t := smallTV()
	es := []entry{
		{"y", mat.NewDense(2, 3, t.Y)},
		{"x_true", mat.NewDense(2, 3, t.XTrue)},
		{"lambda", t.Lambda},
	}
	var out []entry
	for _, x := range es {
		if v, ok := replace[x.name]; ok {
			if v == nil {
				continue
			}
			x.v = v
		}
		out = append(out, x)
	}
	return out
}

func TestTVDenoiseValidate(t *testing.T) {
	if err := smallTV().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		modify func(d *TVDenoise)
		kind   error
		want   string
	}{
		{"H = 0", func(d *TVDenoise) { d.H = 0 }, ErrShape, "the image is 0×3"},
		{"W < 0", func(d *TVDenoise) { d.W = -1 }, ErrShape, "the image is 2×-1"},
		{"huge", func(d *TVDenoise) { d.H, d.W = math.MaxInt/2, 3 }, ErrShape, "too many pixels"},
		{"short y", func(d *TVDenoise) { d.Y = d.Y[1:] }, ErrShape, "y has 5 entries, want H·W = 2·3 = 6"},
		{"long x_true", func(d *TVDenoise) { d.XTrue = append(d.XTrue, 0) }, ErrShape, "x_true has 7 entries"},
		{"lambda", func(d *TVDenoise) { d.Lambda = d.Lambda[:1] }, ErrShape, "lambda has length 1, want 2"},
		{"NaN y", func(d *TVDenoise) { d.Y[2] = math.NaN() }, ErrNonFinite, "y contains NaN at index 2"},
		{"Inf x_true", func(d *TVDenoise) { d.XTrue[0] = math.Inf(1) }, ErrNonFinite, "x_true contains +Inf at index 0"},
		{"Inf lambda", func(d *TVDenoise) { d.Lambda[1] = math.Inf(-1) }, ErrNonFinite, "lambda contains -Inf"},
	} {
		d := smallTV()
		c.modify(d)
		err := d.Validate()
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v; want %v containing %q", c.name, err, c.kind, c.want)
		}
	}
}

func TestTVDenoiseFiles(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []*TVDenoise{smallTV(), {Y: []float64{1, 2, 3}, XTrue: []float64{1, 1, 3}, H: 1, W: 3, Lambda: []float64{0, -1}}} {
		path := filepath.Join(dir, "tv.npz")
		if err := SaveTVDenoise(path, d); err != nil {
			t.Fatal(err)
		}
		got, err := LoadTVDenoise(path)
		if err != nil {
			t.Fatal(err)
		}
		if !sameTV(got, d) {
			t.Errorf("round trip: got %+v, want %+v", got, d)
		}
		a, err := OpenNPZ(path)
		if err != nil {
			t.Fatal(err)
		}
		arr, err := a.Array("y")
		a.Close()
		if err != nil {
			t.Fatal(err)
		}
		if wantDims := map[bool]int{true: 1, false: 2}[d.H == 1]; len(arr.Shape) != wantDims {
			t.Errorf("%d×%d: y saved with shape %v", d.H, d.W, arr.Shape)
		}
	}

	// A 1-D x_true with a 2-D y, and a budget that fits.
	path := writeNPZTest(t, 0, tvEntries(map[string]any{"x_true": smallTV().XTrue})...)
	got, err := Limits{MaxBytes: 1 << 20}.LoadTVDenoise(path)
	if err != nil || !sameTV(got, smallTV()) {
		t.Errorf("1-D x_true: %v, %+v", err, got)
	}

	three := rawNPY("'<f8'", false, "(1, 2, 3)", leBytes(smallTV().Y))
	for _, c := range []struct {
		name    string
		replace map[string]any
		limits  Limits
		kind    error
		want    string
	}{
		{"missing y", map[string]any{"y": nil}, Limits{}, ErrMissing, `missing array "y"`},
		{"missing x_true", map[string]any{"x_true": nil}, Limits{}, ErrMissing, `missing array "x_true"`},
		{"missing lambda", map[string]any{"lambda": nil}, Limits{}, ErrMissing, `missing array "lambda"`},
		{"3-D y", map[string]any{"y": three}, Limits{}, ErrShape, "y has 3 dimensions"},
		{"empty y", map[string]any{"y": rawNPY("'<f8'", false, "(0,)", nil), "x_true": rawNPY("'<f8'", false, "(0,)", nil)}, Limits{}, ErrShape, "want at least one sample"},
		{"3-D x_true", map[string]any{"x_true": three}, Limits{}, ErrShape, "x_true has 3 dimensions"},
		{"x_true shape", map[string]any{"x_true": mat.NewDense(3, 2, smallTV().XTrue)}, Limits{}, ErrShape, "x_true has shape (3, 2), y has (2, 3)"},
		{"x_true length", map[string]any{"x_true": []float64{1, 2}}, Limits{}, ErrShape, "x_true has shape (2,)"},
		{"lambda length", map[string]any{"lambda": []float64{1, 2, 3}}, Limits{}, ErrShape, "lambda has length 3"},
		{"lambda matrix", map[string]any{"lambda": mat.NewDense(1, 2, []float64{1, 2})}, Limits{}, ErrShape, "want 1 (a vector)"},
		{"NaN y", map[string]any{"y": mat.NewDense(2, 3, []float64{0, 0, math.NaN(), 0, 0, 0})}, Limits{}, ErrNonFinite, "y contains NaN"},
		{"budget", nil, Limits{MaxBytes: 8 * 6 * 20}, ErrTooLarge, "work vectors"},
	} {
		path := writeNPZTest(t, 0, tvEntries(c.replace)...)
		_, err := c.limits.LoadTVDenoise(path)
		var de *Error
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || !errors.As(err, &de) || de.Path != path {
			t.Errorf("%s: LoadTVDenoise = %v; want %v containing %q and the path", c.name, err, c.kind, c.want)
		}
	}
	if _, err := LoadTVDenoise(filepath.Join(dir, "absent.npz")); !errors.Is(err, ErrFormat) {
		t.Errorf("absent file: %v", err)
	}
	bad := smallTV()
	bad.Lambda = nil
	if err := SaveTVDenoise(filepath.Join(dir, "bad.npz"), bad); !errors.Is(err, ErrShape) {
		t.Errorf("SaveTVDenoise(bad lambda) = %v; want ErrShape", err)
	}
	if err := SaveTVDenoise(filepath.Join(dir, "nil.npz"), nil); !errors.Is(err, ErrMissing) {
		t.Errorf("SaveTVDenoise(nil) = %v; want ErrMissing", err)
	}
}

func TestSynthTVDenoise(t *testing.T) {
	for _, o := range []TVDenoiseOptions{
		{W: 300, Noise: 0.2, Alpha: 0.3, Nu: 0.01, Seed: 3},
		{H: 20, W: 13, Seed: 4},
		{H: 2, W: 1, Seed: 5},
		{W: 1, Seed: 6},
	} {
		d, err := SynthTVDenoise(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		h := max(o.H, 1)
		if d.H != h || d.W != o.W {
			t.Errorf("%+v: %d×%d", o, d.H, d.W)
		}
		alpha, nu := o.Alpha, o.Nu
		if alpha == 0 {
			alpha, nu = 0.1, 0.05
		}
		if !sameFloats(d.Lambda, []float64{math.Log(alpha), math.Log(nu)}) {
			t.Errorf("%+v: λ = %v", o, d.Lambda)
		}
		// Piecewise constant: few distinct levels; noise of the right size.
		levels := map[float64]bool{}
		var ss float64
		for i, x := range d.XTrue {
			levels[x] = true
			ss += (d.Y[i] - x) * (d.Y[i] - x)
		}
		if h == 1 && len(levels) > min(6, o.W) || h > 1 && len(levels) > 6 {
			t.Errorf("%+v: %d levels", o, len(levels))
		}
		sigma := o.Noise
		if sigma == 0 {
			sigma = 0.1
		}
		if n := float64(len(d.Y)); n > 100 && math.Abs(math.Sqrt(ss/n)-sigma) > 0.2*sigma {
			t.Errorf("%+v: noise level %v, want %v", o, math.Sqrt(ss/n), sigma)
		}
		again, _ := SynthTVDenoise(o)
		if !sameTV(again, d) {
			t.Errorf("%+v: two runs differ", o)
		}
		o2 := o
		o2.Seed++
		other, _ := SynthTVDenoise(o2)
		if sameFloats(other.Y, d.Y) {
			t.Errorf("%+v: seed %d gives the data of seed %d", o, o2.Seed, o.Seed)
		}
	}
	// 2-D images have some structure: at least two levels.
	d, _ := SynthTVDenoise(TVDenoiseOptions{H: 32, Seed: 1})
	levels := map[float64]bool{}
	for _, x := range d.XTrue {
		levels[x] = true
	}
	if d.W != 32 || len(levels) < 2 {
		t.Errorf("32×%d image with %d levels", d.W, len(levels))
	}
	def, err := SynthTVDenoise(TVDenoiseOptions{})
	if err != nil || def.H != 1 || def.W != 256 {
		t.Errorf("defaults: %v, %d×%d", err, def.H, def.W)
	}
	for _, bad := range []TVDenoiseOptions{{H: -1}, {W: -2}, {Noise: -1}, {Noise: math.NaN()}, {Alpha: math.Inf(1)},
		{Alpha: -0.1}, {Nu: 1e-200}, {Nu: 1e300}, {H: 1 << 20, W: 1 << 20}} {
		if _, err := SynthTVDenoise(bad); !errors.Is(err, ErrOption) {
			t.Errorf("SynthTVDenoise(%+v) = %v; want ErrOption", bad, err)
		}
	}
}
