package data

import (
	"fmt"
	"math"
	"slices"
)

// TVDenoise is the data of the smoothed total-variation denoising problem of
// package problems (Ehrhardt & Roberts 2024, image denoising): a noisy H×W
// image y, the clean image x_true it was made from, and the hyperparameters
// λ = (log α, log ν) of
//
//	g(x, λ) = ½‖x − y‖² + α Σ_p sqrt(|∇x|_p² + ν²),   E(x) = ½‖x − x_true‖².
//
// Images are stored row-major (pixel p = i·W + j); H = 1 is a 1-D signal of
// W samples.
//
// File fields (.npz): y (H×W, or a 1-D array of W samples for H = 1),
// x_true (the shape of y), lambda (2: log α, log ν).
type TVDenoise struct {
	Y, XTrue []float64 // H·W pixels each, row-major
	H, W     int       // rows and columns; H = 1 for a 1-D signal
	Lambda   []float64 // (log α, log ν)
}

// Validate checks H, W ≥ 1, that Y and XTrue have H·W entries and lambda
// two, and that every value is finite.
func (t *TVDenoise) Validate() error {
	if t.H < 1 || t.W < 1 {
		return newErr(ErrShape, "y", "the image is %d×%d; want H, W ≥ 1", t.H, t.W)
	}
	if t.H > math.MaxInt/t.W {
		return newErr(ErrShape, "y", "the image %d×%d has too many pixels", t.H, t.W)
	}
	n := t.H * t.W
	switch {
	case len(t.Y) != n:
		return newErr(ErrShape, "y", "y has %d entries, want H·W = %d·%d = %d", len(t.Y), t.H, t.W, n)
	case len(t.XTrue) != n:
		return newErr(ErrShape, "x_true", "x_true has %d entries, want H·W = %d·%d = %d", len(t.XTrue), t.H, t.W, n)
	case len(t.Lambda) != 2:
		return newErr(ErrShape, "lambda", "lambda has length %d, want 2 (log α, log ν)", len(t.Lambda))
	}
	for _, c := range []struct {
		name string
		v    []float64
	}{{"y", t.Y}, {"x_true", t.XTrue}, {"lambda", t.Lambda}} {
		if err := checkVector(c.name, c.v); err != nil {
			return err
		}
	}
	return nil
}

// tvWorkVectors is the number of float64 vectors of length H·W that a
// problem built on the data is assumed to allocate (the difference operator
// of 2-D images with its indices, gradients per pixel, iterates and
// scratch), charged to a loader's budget before the arrays are read.
const tvWorkVectors = 32

// LoadTVDenoise reads and validates a tvdenoise file (.npz with y, x_true
// and lambda), with the default Limits.
func LoadTVDenoise(path string) (*TVDenoise, error) { return Limits{}.LoadTVDenoise(path) }

// LoadTVDenoise is the package function LoadTVDenoise with the memory budget
// of l. A 1-D y is a signal (H = 1); a 2-D y is an H×W image; x_true must
// have the shape of y (a 1-D x_true of H·W entries is accepted for an image
// too). The vectors a problem allocates for the image (8·32·H·W bytes) are
// charged to the budget before x_true is read.
func (l Limits) LoadTVDenoise(path string) (*TVDenoise, error) {
	a, err := l.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	for _, name := range []string{"y", "x_true", "lambda"} {
		if !a.Has(name) {
			return nil, a.missing(name, "")
		}
	}
	y, err := a.Array("y")
	if err != nil {
		return nil, err
	}
	t := &TVDenoise{Y: y.Data}
	switch len(y.Shape) {
	case 1:
		t.H, t.W = 1, y.Shape[0]
	case 2:
		t.H, t.W = y.Shape[0], y.Shape[1]
	default:
		return nil, withPath(newErr(ErrShape, "y", "y has %d dimensions (shape %s); want 1 (a signal) or 2 (an image)", len(y.Shape), shapeString(y.Shape)), path)
	}
	if t.H < 1 || t.W < 1 {
		return nil, withPath(newErr(ErrShape, "y", "y has shape %s; want at least one sample", shapeString(y.Shape)), path)
	}
	if err := a.budget.take("y", mulBytes(8, tvWorkVectors, int64(len(y.Data))), fmt.Sprintf("the %d work vectors of %d pixels a problem allocates", tvWorkVectors, len(y.Data))); err != nil {
		return nil, withPath(err, path)
	}
	xt, err := a.Array("x_true")
	if err != nil {
		return nil, err
	}
	switch {
	case len(xt.Shape) == 2 && (xt.Shape[0] != t.H || xt.Shape[1] != t.W):
		return nil, withPath(newErr(ErrShape, "x_true", "x_true has shape %s, y has %s", shapeString(xt.Shape), shapeString(y.Shape)), path)
	case len(xt.Shape) > 2 || len(xt.Shape) == 0:
		return nil, withPath(newErr(ErrShape, "x_true", "x_true has %d dimensions (shape %s); want the shape of y, %s", len(xt.Shape), shapeString(xt.Shape), shapeString(y.Shape)), path)
	case len(xt.Data) != len(y.Data):
		return nil, withPath(newErr(ErrShape, "x_true", "x_true has shape %s, y has %s", shapeString(xt.Shape), shapeString(y.Shape)), path)
	}
	t.XTrue = xt.Data
	if t.Lambda, err = a.Vector("lambda"); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, withPath(err, path)
	}
	return t, nil
}

// SaveTVDenoise writes t to path as an .npz archive that numpy.load reads:
// y and x_true as H×W float64 arrays (1-D arrays of W samples when H = 1)
// and lambda. t must pass Validate.
func SaveTVDenoise(path string, t *TVDenoise) error {
	if t == nil {
		return &Error{Path: path, Kind: ErrMissing, Msg: "nil tvdenoise data"}
	}
	if err := t.Validate(); err != nil {
		return withPath(err, path)
	}
	img := func(v []float64) any {
		if t.H == 1 {
			return v
		}
		return NewDense(t.H, t.W, v)
	}
	return writeNPZ(path, []member{{"y", img(t.Y)}, {"x_true", img(t.XTrue)}, {"lambda", t.Lambda}})
}

// TVDenoiseOptions configures SynthTVDenoise (synth: keys h, w, noise,
// alpha, nu and seed). Zero fields take the defaults: H = 1 (a 1-D signal),
// W = 256 for a signal and W = H for an image, Noise = 0.1, Alpha = 0.1,
// Nu = 0.05.
type TVDenoiseOptions struct {
	H, W      int     // rows (1: a 1-D signal) and columns
	Noise     float64 // standard deviation σ of the Gaussian noise, ≥ 0
	Alpha, Nu float64 // the initial α and ν, > 0: λ = (log α, log ν)
	Seed      uint64
}

// Defaults of TVDenoiseOptions.
const (
	defaultTVDenoiseW     = 256
	defaultTVDenoiseNoise = 0.1
	defaultTVDenoiseAlpha = 0.1
	defaultTVDenoiseNu    = 0.05
)

func (o TVDenoiseOptions) resolve() (TVDenoiseOptions, error) {
	if o.H < 0 {
		return o, synthBad("h", o.H, "want a positive number of rows (or 0 for the default 1, a 1-D signal)")
	}
	if o.W < 0 {
		return o, synthBad("w", o.W, "want a positive number of columns (or 0 for the default)")
	}
	if o.H == 0 {
		o.H = 1
	}
	if o.W == 0 {
		o.W = defaultTVDenoiseW
		if o.H > 1 {
			o.W = o.H
		}
	}
	for _, f := range []struct {
		key      string
		p        *float64
		def      float64
		positive bool
	}{{"noise", &o.Noise, defaultTVDenoiseNoise, false}, {"alpha", &o.Alpha, defaultTVDenoiseAlpha, true}, {"nu", &o.Nu, defaultTVDenoiseNu, true}} {
		v := *f.p
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return o, synthBad(f.key, v, fmt.Sprintf("want a finite value > 0 (or 0 for the default %v)", f.def))
		}
		if v == 0 {
			*f.p = f.def
		}
		if sq := (*f.p) * (*f.p); f.positive && !(sq > 0 && !math.IsInf(sq, 0)) {
			return o, synthBad(f.key, v, "out of range: its square must neither underflow nor overflow")
		}
	}
	if err := synthFits("w", o.W, tvWorkVectors*float64(o.H)*float64(o.W), fmt.Sprintf("an image of %d×%d pixels and the %d vectors a problem allocates for it", o.H, o.W, tvWorkVectors)); err != nil {
		return o, err
	}
	return o, nil
}

// streamTVDenoise is the stream family of SynthTVDenoise (the top byte of
// its stream ids), apart from the other synthetic families.
const streamTVDenoise = 0x54

// Stream sets of SynthTVDenoise.
const (
	tvSetShapes = iota // the jumps of a signal, the shapes of an image
	tvSetNoise         // the noise, one stream per block of rows
)

// Shapes of SynthTVDenoise's images and signals.
const (
	tvJumps = 5 // jumps of a signal (at most W − 1)
	tvRects = 3 // rectangles of an image
	tvDisks = 2 // disks of an image
)

// SynthTVDenoise generates a denoising problem: a piecewise-constant clean
// image x_true and y = x_true + σ·N(0, I), with λ = (log Alpha, log Nu).
//
//	H = 1   a signal of W samples with min(5, W−1) jumps at distinct uniform
//	        positions, each segment at a level drawn uniformly from [0, 1];
//	H > 1   an image, 0 outside 3 axis-aligned rectangles and 2 disks drawn
//	        in turn (later shapes cover earlier ones), each with a level
//	        uniform in [0.2, 1]; a rectangle spans a uniform sub-interval of
//	        at least a quarter of each side, a disk has a uniform centre and
//	        a radius uniform in [H', 3H']/8, H' = min(H, W).
//
// The shapes come from one PCG stream derived from Seed and the noise from
// one stream per block of 256 rows (256 samples for a signal), so the output
// depends only on the options. The size is checked against MaxSynthBytes
// before anything is allocated.
func SynthTVDenoise(o TVDenoiseOptions) (*TVDenoise, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	n := o.H * o.W
	xt := make([]float64, n)
	r := newStream(o.Seed, streamID(streamTVDenoise, tvSetShapes, 0))
	if o.H == 1 {
		jumps := min(tvJumps, o.W-1)
		// Distinct jump positions in [1, W): a partial Fisher–Yates draw
		// would need W ints; rejection of repeats is enough for 5 jumps.
		pos := make([]int, 0, jumps+2)
		pos = append(pos, 0)
		for len(pos) < jumps+1 {
			p := 1 + r.IntN(o.W-1)
			dup := false
			for _, q := range pos {
				dup = dup || q == p
			}
			if !dup {
				pos = append(pos, p)
			}
		}
		pos = append(pos, o.W)
		slices.Sort(pos)
		for s := 0; s+1 < len(pos); s++ {
			level := r.Float64()
			for i := pos[s]; i < pos[s+1]; i++ {
				xt[i] = level
			}
		}
	} else {
		span := func(size int) (lo, hi int) {
			l := max(1, size/4)
			lo = r.IntN(size - l + 1)
			hi = lo + l + r.IntN(size-lo-l+1)
			return lo, hi
		}
		for range tvRects {
			i0, i1 := span(o.H)
			j0, j1 := span(o.W)
			level := 0.2 + float64(0.8*r.Float64())
			for i := i0; i < i1; i++ {
				for j := j0; j < j1; j++ {
					xt[i*o.W+j] = level
				}
			}
		}
		side := float64(min(o.H, o.W))
		for range tvDisks {
			ci, cj := float64(o.H)*r.Float64(), float64(o.W)*r.Float64()
			rad := side * (1 + float64(2*r.Float64())) / 8
			level := 0.2 + float64(0.8*r.Float64())
			for i := 0; i < o.H; i++ {
				for j := 0; j < o.W; j++ {
					di, dj := float64(i)+0.5-ci, float64(j)+0.5-cj
					if float64(di*di)+float64(dj*dj) <= float64(rad*rad) {
						xt[i*o.W+j] = level
					}
				}
			}
		}
	}
	y := make([]float64, n)
	rows, cols := o.H, o.W
	if o.H == 1 {
		rows, cols = o.W, 1
	}
	for b := 0; b*synthBlockRows < rows; b++ {
		nr := newStream(o.Seed, streamID(streamTVDenoise, tvSetNoise, uint64(b)))
		lo, hi := b*synthBlockRows*cols, min((b+1)*synthBlockRows, rows)*cols
		for i := lo; i < hi; i++ {
			y[i] = xt[i] + float64(o.Noise*nr.NormFloat64())
		}
	}
	return &TVDenoise{Y: y, XTrue: xt, H: o.H, W: o.W, Lambda: []float64{math.Log(o.Alpha), math.Log(o.Nu)}}, nil
}
