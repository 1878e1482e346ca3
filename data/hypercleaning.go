package data

import (
	"fmt"
	"math"
)

// Hypercleaning is the data of the data hyper-cleaning problem of package
// problems (Franceschi et al. 2017, "Forward and Reverse Gradient-Based
// Hyperparameter Optimization", §5.1; Ehrhardt & Roberts 2024, §4.2): a
// training set whose labels are partly corrupted, a clean validation set,
// and one hyperparameter λ_i per training example, whose weight s_i = σ(λ_i)
// (the logistic sigmoid) scales that example's loss in the lower-level
// problem
//
//	g(W, λ) = 1/n Σ_i σ(λ_i) CE(W x̃_i, y_i) + reg‖W‖_F²,
//	E(W)    = 1/m Σ_j CE(W x̃_j, y_j)   (validation rows),
//
// with x̃ = [x; 1], W ∈ R^{c×(p+1)} and CE(z, y) = logsumexp(z) − z_y.
//
// File fields (.npz): X_train (n×p, dense or CSR), y_train (n integer labels,
// of an int or a float array), X_val (m×p, dense or CSR), y_val (m), lambda
// (n); optional: reg (a scalar, default DefaultHypercleaningReg), classes (a
// scalar c, default 1 + the largest label of y_train and y_val), corrupted (n
// values 0 or 1: which training labels were corrupted; experiments only,
// the problem ignores it).
type Hypercleaning struct {
	XTrain, XVal *Matrix   // n×p and m×p, dense or CSR
	YTrain, YVal []int     // labels in [0, Classes)
	Classes      int       // c ≥ 2
	Lambda       []float64 // n: the per-example hyperparameters
	Reg          float64   // > 0: the weight of reg‖W‖_F²
	Corrupted    []bool    // nil, or n: which training labels were corrupted
}

// DefaultHypercleaningReg is the reg of a file without one.
const DefaultHypercleaningReg = 1e-3

// Dims returns n (training rows), m (validation rows), p (features) and c
// (classes). It does not validate h.
func (h *Hypercleaning) Dims() (n, m, p, c int) {
	if h.XTrain != nil {
		n, p = h.XTrain.Rows, h.XTrain.Cols
	}
	if h.XVal != nil {
		m = h.XVal.Rows
	}
	return n, m, p, h.Classes
}

// Validate checks that the shapes agree (X_train n×p, X_val m×p, y_train n,
// y_val m, lambda n, corrupted nil or n, with n, m, p ≥ 1), that Classes ≥ 2,
// that every label lies in [0, Classes), that reg > 0 and that every value is
// finite.
func (h *Hypercleaning) Validate() error {
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"X_train", h.XTrain}, {"X_val", h.XVal}} {
		if err := c.m.check(c.name); err != nil {
			return err
		}
		if c.m.Rows < 1 || c.m.Cols < 1 {
			return newErr(ErrShape, c.name, "%s is %d×%d; want at least 1 row and 1 column", c.name, c.m.Rows, c.m.Cols)
		}
	}
	n, m, p, _ := h.Dims()
	switch {
	case h.XVal.Cols != p:
		return newErr(ErrShape, "X_val", "X_val has %d columns, X_train has %d", h.XVal.Cols, p)
	case len(h.YTrain) != n:
		return newErr(ErrShape, "y_train", "y_train has length %d, X_train has %d rows", len(h.YTrain), n)
	case len(h.YVal) != m:
		return newErr(ErrShape, "y_val", "y_val has length %d, X_val has %d rows", len(h.YVal), m)
	case len(h.Lambda) != n:
		return newErr(ErrShape, "lambda", "lambda has length %d, want one weight per training row (%d)", len(h.Lambda), n)
	case h.Corrupted != nil && len(h.Corrupted) != n:
		return newErr(ErrShape, "corrupted", "corrupted has length %d, X_train has %d rows", len(h.Corrupted), n)
	case h.Classes < 2:
		return newErr(ErrLabels, "classes", "classes = %d; want at least 2", h.Classes)
	}
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"X_train", h.XTrain}, {"X_val", h.XVal}} {
		if err := c.m.checkFinite(c.name); err != nil {
			return err
		}
	}
	if err := checkVector("lambda", h.Lambda); err != nil {
		return err
	}
	if !(h.Reg > 0) || math.IsInf(h.Reg, 0) {
		return newErr(ErrOption, "reg", "reg = %v; want a finite value > 0", h.Reg)
	}
	for _, c := range []struct {
		name string
		y    []int
	}{{"y_train", h.YTrain}, {"y_val", h.YVal}} {
		for i, y := range c.y {
			if y < 0 || y >= h.Classes {
				return newErr(ErrLabels, c.name, "%s[%d] = %d: labels must lie in [0, %d) (classes)", c.name, i, y, h.Classes)
			}
		}
	}
	return nil
}

// LoadHypercleaning reads and validates a hyper-cleaning problem file (.npz
// with X_train, y_train, X_val, y_val, lambda and the optional reg, classes,
// corrupted; see Hypercleaning). It uses the default Limits.
func LoadHypercleaning(path string) (*Hypercleaning, error) { return Limits{}.LoadHypercleaning(path) }

// LoadHypercleaning is the package function LoadHypercleaning with the
// memory budget of l; the int copies of the labels are charged to it too.
func (l Limits) LoadHypercleaning(path string) (*Hypercleaning, error) {
	a, err := l.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	for _, name := range []string{"X_train", "y_train", "X_val", "y_val", "lambda"} {
		if !a.Has(name) && !(name[0] == 'X' && a.Has(name+"_data")) {
			if name[0] == 'X' {
				_, err := a.Matrix(name)
				return nil, err
			}
			return nil, a.missing(name, "")
		}
	}
	h := &Hypercleaning{Reg: DefaultHypercleaningReg}
	if h.XTrain, err = a.Matrix("X_train"); err != nil {
		return nil, err
	}
	if h.XVal, err = a.Matrix("X_val"); err != nil {
		return nil, err
	}
	labels := func(name string, rows int, xname string) ([]int, error) {
		v, err := a.Vector(name)
		if err != nil {
			return nil, err
		}
		if len(v) != rows {
			return nil, withPath(newErr(ErrShape, name, "%s has length %d, %s has %d rows", name, len(v), xname, rows), path)
		}
		if err := checkVector(name, v); err != nil {
			return nil, withPath(err, path)
		}
		if err := a.budget.take(name, mulBytes(8, int64(len(v)), 1), fmt.Sprintf("the int copy of its %d labels", len(v))); err != nil {
			return nil, withPath(err, path)
		}
		y := make([]int, len(v))
		for i, x := range v {
			if x != math.Trunc(x) || x < 0 || x > math.MaxInt32 {
				return nil, withPath(newErr(ErrLabels, name, "%s[%d] = %v: labels must be integers in [0, classes)", name, i, x), path)
			}
			y[i] = int(x)
		}
		return y, nil
	}
	if h.YTrain, err = labels("y_train", h.XTrain.Rows, "X_train"); err != nil {
		return nil, err
	}
	if h.YVal, err = labels("y_val", h.XVal.Rows, "X_val"); err != nil {
		return nil, err
	}
	if h.Lambda, err = a.Vector("lambda"); err != nil {
		return nil, err
	}
	scalar := func(name string) (float64, error) {
		v, err := a.Vector(name)
		if err != nil {
			return 0, err
		}
		if len(v) != 1 {
			return 0, withPath(newErr(ErrShape, name, "%s has %d values; want a scalar", name, len(v)), path)
		}
		if err := checkVector(name, v); err != nil {
			return 0, withPath(err, path)
		}
		return v[0], nil
	}
	if a.Has("reg") {
		if h.Reg, err = scalar("reg"); err != nil {
			return nil, err
		}
	}
	if a.Has("classes") {
		c, err := scalar("classes")
		if err != nil {
			return nil, err
		}
		if c != math.Trunc(c) || c < 2 || c > math.MaxInt32 {
			return nil, withPath(newErr(ErrLabels, "classes", "classes = %v; want an integer ≥ 2", c), path)
		}
		h.Classes = int(c)
	} else {
		for _, y := range [][]int{h.YTrain, h.YVal} {
			for _, v := range y {
				h.Classes = max(h.Classes, v+1)
			}
		}
	}
	if a.Has("corrupted") {
		v, err := a.Vector("corrupted")
		if err != nil {
			return nil, err
		}
		if len(v) != h.XTrain.Rows {
			return nil, withPath(newErr(ErrShape, "corrupted", "corrupted has length %d, X_train has %d rows", len(v), h.XTrain.Rows), path)
		}
		h.Corrupted = make([]bool, len(v))
		for i, x := range v {
			if x != 0 && x != 1 {
				return nil, withPath(newErr(ErrShape, "corrupted", "corrupted[%d] = %v; want 0 or 1", i, x), path)
			}
			h.Corrupted[i] = x == 1
		}
	}
	if err := h.Validate(); err != nil {
		return nil, withPath(err, path)
	}
	return h, nil
}

// SaveHypercleaning writes h to path as an .npz archive that numpy.load
// reads: X_train and X_val (float64, or the four CSR members each), y_train
// and y_val (float64 holding the integer labels), lambda, reg and classes
// (float64 arrays of one value), and corrupted (float64 0/1) when h has it.
// h must pass Validate.
func SaveHypercleaning(path string, h *Hypercleaning) error {
	if h == nil {
		return &Error{Path: path, Kind: ErrMissing, Msg: "nil hyper-cleaning data"}
	}
	if err := h.Validate(); err != nil {
		return withPath(err, path)
	}
	floats := func(y []int) []float64 {
		out := make([]float64, len(y))
		for i, v := range y {
			out[i] = float64(v)
		}
		return out
	}
	members := []member{
		{"X_train", h.XTrain}, {"y_train", floats(h.YTrain)},
		{"X_val", h.XVal}, {"y_val", floats(h.YVal)},
		{"lambda", h.Lambda}, {"reg", []float64{h.Reg}}, {"classes", []float64{float64(h.Classes)}},
	}
	if h.Corrupted != nil {
		c := make([]float64, len(h.Corrupted))
		for i, b := range h.Corrupted {
			if b {
				c[i] = 1
			}
		}
		members = append(members, member{"corrupted", c})
	}
	return writeNPZ(path, members)
}

// HypercleaningOptions configures SynthHypercleaning (suggested synth: keys
// n, m, d, c, corrupt, reg, lambda and seed). Zero fields take the defaults
// N = 300, M = 200, P = 20, C = 4, Corrupt = 0.3, Reg = 1e-3, Lambda = 0.
type HypercleaningOptions struct {
	N, M, P, C int     // training rows, validation rows, features, classes (≥ 2)
	Corrupt    float64 // fraction in (0, 1] of training labels corrupted; 0 → 0.3; HypercleaningNoCorruption → none
	Reg        float64 // > 0; 0 → 1e-3
	Lambda     float64 // the initial λ_i of every row (finite; 0 gives weights σ(0) = ½)
	Seed       uint64
}

// HypercleaningNoCorruption as HypercleaningOptions.Corrupt asks for clean training
// labels (the zero value selects the default fraction).
const HypercleaningNoCorruption = -1

// Defaults of HypercleaningOptions.
const (
	defaultHypercleaningN       = 300
	defaultHypercleaningM       = 200
	defaultHypercleaningP       = 20
	defaultHypercleaningC       = 4
	defaultHypercleaningCorrupt = 0.3
)

func (o HypercleaningOptions) resolve() (HypercleaningOptions, error) {
	if err := defaultSizes([]sizeDefault{{"n", &o.N, defaultHypercleaningN}, {"m", &o.M, defaultHypercleaningM}, {"d", &o.P, defaultHypercleaningP}, {"c", &o.C, defaultHypercleaningC}}); err != nil {
		return o, err
	}
	switch {
	case o.C < 2:
		return o, synthBad("c", o.C, "want at least 2 classes")
	case o.Corrupt == HypercleaningNoCorruption:
		o.Corrupt = 0
	case o.Corrupt == 0:
		o.Corrupt = defaultHypercleaningCorrupt
	case !(o.Corrupt > 0 && o.Corrupt <= 1):
		return o, synthBad("corrupt", o.Corrupt, "want a fraction in (0, 1] (0 for the default 0.3, HypercleaningNoCorruption for none)")
	}
	switch {
	case math.IsNaN(o.Reg) || math.IsInf(o.Reg, 0) || o.Reg < 0:
		return o, synthBad("reg", o.Reg, "want a finite value > 0 (or 0 for the default 1e-3)")
	case o.Reg == 0:
		o.Reg = DefaultHypercleaningReg
	}
	if math.IsNaN(o.Lambda) || math.IsInf(o.Lambda, 0) {
		return o, synthBad("lambda", o.Lambda, "want a finite value")
	}
	if err := synthHypercleaningFits(o); err != nil {
		return o, err
	}
	return o, nil
}

// synthHypercleaningFits checks the arrays of SynthHypercleaning(o) (sizes
// resolved) against MaxSynthBytes: X_train and X_val, their labels, λ, the
// corruption flags and the planted model, counted in float64s.
func synthHypercleaningFits(o HypercleaningOptions) error {
	n, m, p, c := float64(o.N), float64(o.M), float64(o.P), float64(o.C)
	return synthFits("n", o.N, (n+m)*(p+1)+3*n+m+c*(p+1),
		fmt.Sprintf("%d training and %d validation rows × %d features", o.N, o.M, o.P))
}

// streamHypercleaning is the stream family of SynthHypercleaning (the top
// byte of its stream ids), apart from the families of the other generators.
const streamHypercleaning = 0x48

// Stream sets of SynthHypercleaning.
const (
	hcSetModel = iota
	hcSetTrain
	hcSetVal
	hcSetCorrupt
)

// SynthHypercleaning generates a hyper-cleaning problem from a planted
// linear classifier:
//
//	model     W* ∈ R^{C×P}, W*_kj ~ N(0, 1)
//	inputs    x ~ N(0, I_P), training and validation rows alike
//	labels    y = argmax_k (W* x)_k (the first on a tie)
//	corrupt   round(Corrupt·N) training rows, chosen uniformly without
//	          replacement, get a label drawn uniformly from the C − 1 others;
//	          Corrupted marks them; validation labels stay clean
//	λ         Lambda for every row; Reg as given
//
// Rows are drawn in blocks of 256, each block from its own PCG stream derived
// from Seed (training and validation rows from different streams), the
// model and the corruption from streams of their own: the output depends
// only on the options, and a larger N or M keeps the rows of a smaller one
// (not the choice of corrupted rows, which depends on N). The sizes are
// checked against MaxSynthBytes before anything is allocated.
func SynthHypercleaning(o HypercleaningOptions) (*Hypercleaning, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	model := make([]float64, o.C*o.P)
	mr := newStream(o.Seed, streamID(streamHypercleaning, hcSetModel, 0))
	for i := range model {
		model[i] = mr.NormFloat64()
	}
	rows := func(set uint64, n int) (*Matrix, []int) {
		x := NewDense(n, o.P, nil)
		y := make([]int, n)
		for b := 0; b*synthBlockRows < n; b++ {
			r := newStream(o.Seed, streamID(streamHypercleaning, set, uint64(b)))
			for i := b * synthBlockRows; i < min((b+1)*synthBlockRows, n); i++ {
				row := x.Data[i*o.P : (i+1)*o.P]
				for j := range row {
					row[j] = r.NormFloat64()
				}
				best, arg := math.Inf(-1), 0
				for k := 0; k < o.C; k++ {
					var z float64
					for j, v := range row {
						z += float64(model[k*o.P+j] * v)
					}
					if z > best {
						best, arg = z, k
					}
				}
				y[i] = arg
			}
		}
		return x, y
	}
	h := &Hypercleaning{Classes: o.C, Reg: o.Reg, Lambda: make([]float64, o.N), Corrupted: make([]bool, o.N)}
	h.XTrain, h.YTrain = rows(hcSetTrain, o.N)
	h.XVal, h.YVal = rows(hcSetVal, o.M)
	for i := range h.Lambda {
		h.Lambda[i] = o.Lambda
	}
	// A partial Fisher–Yates shuffle picks the corrupted rows.
	k := int(math.Round(o.Corrupt * float64(o.N)))
	perm := make([]int, o.N)
	for i := range perm {
		perm[i] = i
	}
	cr := newStream(o.Seed, streamID(streamHypercleaning, hcSetCorrupt, 0))
	for t := 0; t < k; t++ {
		j := t + cr.IntN(o.N-t)
		perm[t], perm[j] = perm[j], perm[t]
		i := perm[t]
		other := cr.IntN(o.C - 1)
		if other >= h.YTrain[i] {
			other++
		}
		h.YTrain[i] = other
		h.Corrupted[i] = true
	}
	return h, nil
}
