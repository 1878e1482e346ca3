package data

import (
	"fmt"
	"math"
	"slices"
)

// Multiclass is the data of per-feature (or per-class) L2-regularised
// multinomial logistic regression, spec "multilogreg" (the 20-newsgroups
// setting of Grazzi et al., "On the Iteration Complexity of Hypergradient
// Computation", ICML 2020; per-class weights as in the benchopt covtype
// setting): training rows X_train (n×d) with labels y_train, validation rows
// X_val (m×d) with labels y_val, labels in {0, …, Classes−1}, and the
// hyperparameters λ of the regulariser
//
//	1/(2dc) Σ_{j,k} e^{λ_j} W_jk²   (per-feature: len λ = d, or 1 shared weight)
//	1/(2dc) Σ_{j,k} e^{λ_k} W_jk²   (PerClass: len λ = c)
//
// of the inner weights W ∈ R^{d×c}.
//
// File fields (.npz): X_train and X_val (dense, or CSR as the four members
// X_train_data, X_train_indices, X_train_indptr, X_train_shape), y_train and
// y_val (integer labels, in an int array or a float array holding integers),
// and exactly one of lambda (d, or 1) and lambda_class (c, PerClass). The
// optional scalar classes gives c; without it c = 1 + the largest label of
// y_train and y_val.
type Multiclass struct {
	XTrain, XVal *Matrix   // n×d and m×d, dense or CSR
	YTrain, YVal []int     // n and m labels in [0, Classes)
	Classes      int       // c ≥ 2
	Lambda       []float64 // d or 1 (per-feature), c (PerClass)
	PerClass     bool      // λ weights the classes (columns of W), not the features
}

// Dims returns n (training rows), m (validation rows), d (features) and c
// (classes). It does not validate s.
func (s *Multiclass) Dims() (n, m, d, c int) {
	if s.XTrain != nil {
		n, d = s.XTrain.Rows, s.XTrain.Cols
	}
	if s.XVal != nil {
		m = s.XVal.Rows
	}
	return n, m, d, s.Classes
}

// Validate checks the shapes (X_train n×d and X_val m×d with n, m, d ≥ 1;
// one label per row; Classes ≥ 2; λ of length d or 1, or c when PerClass),
// that every value is finite and that every label lies in [0, Classes).
func (s *Multiclass) Validate() error {
	if err := s.XTrain.check("X_train"); err != nil {
		return err
	}
	if err := s.XVal.check("X_val"); err != nil {
		return err
	}
	n, d := s.XTrain.Rows, s.XTrain.Cols
	lname := s.lambdaName()
	switch {
	case n < 1 || d < 1:
		return newErr(ErrShape, "X_train", "X_train is %d×%d; want at least 1 row and 1 column", n, d)
	case s.XVal.Rows < 1:
		return newErr(ErrShape, "X_val", "X_val has no rows; want at least 1")
	case s.XVal.Cols != d:
		return newErr(ErrShape, "X_val", "X_val has %d columns, X_train has %d", s.XVal.Cols, d)
	case len(s.YTrain) != n:
		return newErr(ErrShape, "y_train", "y_train has length %d, X_train has %d rows", len(s.YTrain), n)
	case len(s.YVal) != s.XVal.Rows:
		return newErr(ErrShape, "y_val", "y_val has length %d, X_val has %d rows", len(s.YVal), s.XVal.Rows)
	case s.Classes < 2:
		return newErr(ErrShape, "classes", "classes = %d; want at least 2", s.Classes)
	case s.PerClass && len(s.Lambda) != s.Classes:
		return newErr(ErrShape, lname, "lambda_class has length %d; want one weight per class (%d)", len(s.Lambda), s.Classes)
	case !s.PerClass && len(s.Lambda) != d && len(s.Lambda) != 1:
		return newErr(ErrShape, lname, "lambda has length %d; want %d (one per column of X_train) or 1 (one shared weight)", len(s.Lambda), d)
	}
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"X_train", s.XTrain}, {"X_val", s.XVal}} {
		if err := c.m.checkFinite(c.name); err != nil {
			return err
		}
	}
	if err := checkVector(lname, s.Lambda); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		y    []int
	}{{"y_train", s.YTrain}, {"y_val", s.YVal}} {
		for i, y := range c.y {
			if y < 0 || y >= s.Classes {
				return newErr(ErrLabels, c.name, "%s[%d] = %d: labels must lie in [0, %d) (classes = %d)", c.name, i, y, s.Classes, s.Classes)
			}
		}
	}
	return nil
}

// lambdaName is the file member of λ.
func (s *Multiclass) lambdaName() string {
	if s.PerClass {
		return "lambda_class"
	}
	return "lambda"
}

// LoadMulticlass reads and validates a multilogreg problem file (.npz with
// X_train, y_train, X_val, y_val, lambda or lambda_class, and optionally
// classes). It uses the default Limits.
func LoadMulticlass(path string) (*Multiclass, error) { return Limits{}.LoadMulticlass(path) }

// LoadMulticlass is the package function LoadMulticlass with the memory
// budget of l; the int copies of the labels are charged to it too.
func (l Limits) LoadMulticlass(path string) (*Multiclass, error) {
	a, err := l.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	for _, name := range []string{"X_train", "y_train", "X_val", "y_val"} {
		if !a.Has(name) && !(name[0] == 'X' && a.Has(name+"_data")) {
			if name[0] == 'X' {
				_, err := a.Matrix(name)
				return nil, err
			}
			return nil, a.missing(name, "")
		}
	}
	s := &Multiclass{}
	switch hasL, hasC := a.Has("lambda"), a.Has("lambda_class"); {
	case hasL && hasC:
		return nil, &Error{Path: path, Array: "lambda", Kind: ErrFormat,
			Msg: "ambiguous archive: it holds both lambda (per-feature) and lambda_class (per-class); keep one"}
	case !hasL && !hasC:
		return nil, a.missing("lambda", "a multilogreg file needs lambda (per-feature) or lambda_class (per-class)")
	case hasC:
		s.PerClass = true
	}
	if s.XTrain, err = a.Matrix("X_train"); err != nil {
		return nil, err
	}
	if s.YTrain, err = a.mcLabels("y_train", s.XTrain.Rows, "X_train"); err != nil {
		return nil, err
	}
	if s.XVal, err = a.Matrix("X_val"); err != nil {
		return nil, err
	}
	if s.YVal, err = a.mcLabels("y_val", s.XVal.Rows, "X_val"); err != nil {
		return nil, err
	}
	if s.Lambda, err = a.Vector(s.lambdaName()); err != nil {
		return nil, err
	}
	if a.Has("classes") {
		v, err := a.Vector("classes")
		if err != nil {
			return nil, err
		}
		if len(v) != 1 || v[0] != math.Trunc(v[0]) || v[0] < 2 || v[0] > math.MaxInt32 {
			return nil, &Error{Path: path, Array: "classes", Kind: ErrShape,
				Msg: fmt.Sprintf("classes = %v; want one integer in [2, 2³¹−1]", v)}
		}
		s.Classes = int(v[0])
	} else {
		s.Classes = 1 + max(slices.Max(s.YTrain), slices.Max(s.YVal))
	}
	if err := s.Validate(); err != nil {
		return nil, withPath(err, path)
	}
	return s, nil
}

// mcLabels reads the integer labels called name, one per row of the matrix
// called of (rows rows): an int array, or a float array holding integers in
// [0, 2³¹−1]. The int copy is charged to the budget.
func (a *Archive) mcLabels(name string, rows int, of string) ([]int, error) {
	v, err := a.Vector(name)
	if err != nil {
		return nil, err
	}
	if len(v) != rows {
		return nil, &Error{Path: a.path, Array: name, Kind: ErrShape, Msg: fmt.Sprintf("%s has length %d, %s has %d rows", name, len(v), of, rows)}
	}
	if err := checkVector(name, v); err != nil {
		return nil, withPath(err, a.path)
	}
	if err := a.budget.take(name, mulBytes(8, int64(len(v)), 1), fmt.Sprintf("the int copy of its %d labels", len(v))); err != nil {
		return nil, withPath(err, a.path)
	}
	y := make([]int, len(v))
	for i, x := range v {
		if x != math.Trunc(x) || x < 0 || x > math.MaxInt32 {
			return nil, &Error{Path: a.path, Array: name, Kind: ErrLabels,
				Msg: fmt.Sprintf("%s[%d] = %v: labels must be integers in [0, classes)", name, i, x)}
		}
		y[i] = int(x)
	}
	return y, nil
}

// SaveMulticlass writes s to path as an .npz archive that numpy.load reads:
// X_train and X_val (float64, or the four CSR members of a CSR matrix),
// y_train and y_val (float64 holding the integer labels), lambda or
// lambda_class (float64) and classes (a float64 array of length 1). s must
// pass Validate.
func SaveMulticlass(path string, s *Multiclass) error {
	if s == nil {
		return &Error{Path: path, Kind: ErrMissing, Msg: "nil multiclass data"}
	}
	if err := s.Validate(); err != nil {
		return withPath(err, path)
	}
	f := func(y []int) []float64 {
		v := make([]float64, len(y))
		for i, x := range y {
			v[i] = float64(x)
		}
		return v
	}
	return writeNPZ(path, []member{
		{"X_train", s.XTrain}, {"y_train", f(s.YTrain)},
		{"X_val", s.XVal}, {"y_val", f(s.YVal)},
		{s.lambdaName(), s.Lambda}, {"classes", []float64{float64(s.Classes)}},
	})
}

// MulticlassOptions configures SynthMulticlass (synth: keys n, m, d, c,
// density, noise, lambda, perclass and seed). Zero fields take the defaults
// N = 500, M = 250, D = 50, C = 5, Density = 1 (dense), Noise = 1, Lambda = 0.
type MulticlassOptions struct {
	N, M, D, C int     // training rows, validation rows, features, classes (C ≥ 2)
	Density    float64 // in (0, 1]: 1 gives a dense X, below 1 a CSR X with about Density·D nonzeros a row
	Noise      float64 // > 0: the scale of the Gumbel noise added to the planted scores
	Lambda     float64 // the value of every λ_j (finite; 0 is e^λ = 1)
	PerClass   bool    // one λ per class (len C) instead of one per feature (len D)
	Seed       uint64
}

// Defaults of MulticlassOptions.
const (
	defaultMulticlassN     = 500
	defaultMulticlassM     = 250
	defaultMulticlassD     = 50
	defaultMulticlassC     = 5
	defaultMulticlassNoise = 1
	// multiclassSignal is the standard deviation of the planted weights W*:
	// with unit rows x_i, the planted scores x_iᵀW*_{:k} are about N(0, 9),
	// well above the Gumbel noise of scale 1.
	multiclassSignal = 3
)

// resolve validates o and fills in the defaults.
func (o MulticlassOptions) resolve() (MulticlassOptions, error) {
	if err := defaultSizes([]sizeDefault{{"n", &o.N, defaultMulticlassN}, {"m", &o.M, defaultMulticlassM}, {"d", &o.D, defaultMulticlassD}, {"c", &o.C, defaultMulticlassC}}); err != nil {
		return o, err
	}
	switch {
	case o.C < 2:
		return o, synthBad("c", o.C, "want at least 2 classes")
	case o.C > math.MaxInt32:
		return o, synthBad("c", o.C, "want at most 2³¹−1 classes")
	case math.IsNaN(o.Density) || o.Density < 0 || o.Density > 1:
		return o, synthBad("density", o.Density, "want 0 < density ≤ 1 (or 0 for the default 1, dense)")
	case math.IsNaN(o.Noise) || math.IsInf(o.Noise, 0) || o.Noise < 0:
		return o, synthBad("noise", o.Noise, "want a finite value > 0 (or 0 for the default 1)")
	case math.IsNaN(o.Lambda) || math.IsInf(o.Lambda, 0):
		return o, synthBad("lambda", o.Lambda, "want a finite value")
	}
	if o.Density == 0 {
		o.Density = 1
	}
	if o.Noise == 0 {
		o.Noise = defaultMulticlassNoise
	}
	return o, synthMulticlassFits(o)
}

// multiclassRowNNZ returns the stored values of a row: D when dense, else
// round(Density·D) clamped to [1, D].
func (o MulticlassOptions) multiclassRowNNZ() int {
	if o.Density >= 1 {
		return o.D
	}
	return min(max(int(math.Round(o.Density*float64(o.D))), 1), o.D)
}

// synthMulticlassFits checks the arrays of SynthMulticlass(o) (resolved
// options) against MaxSynthBytes before anything is allocated: the stored
// values of X_train and X_val (with their column indices and row pointers
// when CSR), the labels, the planted weights W* (D×C), λ, and the column
// marks of the sampler (D).
func synthMulticlassFits(o MulticlassOptions) error {
	rows := float64(o.N) + float64(o.M)
	nnz := rows * float64(o.multiclassRowNNZ())
	elems := nnz + rows + float64(o.D)*float64(o.C) + float64(max(o.D, o.C)) + float64(o.D)
	if o.Density < 1 {
		elems += nnz + rows + 2 // indices and indptr, 8 bytes each
	}
	if err := synthFits("n", o.N, elems, fmt.Sprintf("%d training and %d validation rows × %d features (density %g) with %d classes",
		o.N, o.M, o.D, o.Density, o.C)); err != nil {
		return err
	}
	if o.Density >= 1 && float64(o.D)*rows > math.MaxInt/2 {
		return newErr(ErrOption, "", "synth option n = %d: problem too large", o.N)
	}
	return nil
}

// streamMulticlass is the stream family of SynthMulticlass (the top byte of
// its stream ids), apart from the families of synth.go and equilibrium.go.
const streamMulticlass = 0x4d

// Stream sets of SynthMulticlass.
const (
	mcSetWeights = iota
	mcSetTrain
	mcSetVal
)

// SynthMulticlass generates a multilogreg problem:
//
//	W*       D×C planted weights, W*_jk ~ N(0, 9)
//	rows     dense (Density = 1): x_ij ~ N(0, 1); CSR (Density < 1): K =
//	         round(Density·D) distinct columns drawn uniformly (Floyd's
//	         algorithm, sorted), values N(0, 1); each row scaled to unit L2
//	         norm (an all-zero row stays zero)
//	labels   y_i = argmax_k (x_iᵀW*_{:k} + Noise·G_ik), G_ik standard
//	         Gumbel: a draw from softmax(x_iᵀW*/Noise)
//	λ        Lambda in every entry (len D, or len C when PerClass)
//
// Memory is O(nnz + n + m + D·C) and the time O(nnz·C): the 20-newsgroups
// shape (n = 11314, m = 7532, D = 130107, C = 20, Density = 0.001) takes well
// under a second. Rows are drawn in blocks of 256, each block from its own PCG
// stream derived from Seed (training and validation rows from separate
// families of streams, W* from one of its own): the output depends only on
// the options. Arithmetic avoids fused multiply-adds.
func SynthMulticlass(o MulticlassOptions) (*Multiclass, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	wr := newStream(o.Seed, streamID(streamMulticlass, mcSetWeights, 0))
	wstar := make([]float64, o.D*o.C)
	for i := range wstar {
		wstar[i] = multiclassSignal * wr.NormFloat64()
	}
	var marks []bool
	if o.Density < 1 {
		marks = make([]bool, o.D)
	}
	s := &Multiclass{Classes: o.C, PerClass: o.PerClass}
	s.XTrain, s.YTrain = synthMulticlassRows(o, o.N, mcSetTrain, wstar, marks)
	s.XVal, s.YVal = synthMulticlassRows(o, o.M, mcSetVal, wstar, marks)
	nl := o.D
	if o.PerClass {
		nl = o.C
	}
	s.Lambda = make([]float64, nl)
	for i := range s.Lambda {
		s.Lambda[i] = o.Lambda
	}
	return s, nil
}

// synthMulticlassRows draws rows rows of SynthMulticlass from the streams of
// set; marks (len D, all false; nil when dense) is the sampler's scratch.
func synthMulticlassRows(o MulticlassOptions, rows int, set uint64, wstar []float64, marks []bool) (*Matrix, []int) {
	k := o.multiclassRowNNZ()
	y := make([]int, rows)
	var x *Matrix
	if marks == nil {
		x = NewDense(rows, o.D, nil)
	} else {
		x = NewCSR(rows, o.D, make([]int, rows+1), make([]int, rows*k), make([]float64, rows*k))
	}
	scores := make([]float64, o.C)
	cols := make([]int, 0, k)
	for b := 0; b*synthBlockRows < rows; b++ {
		r := newStream(o.Seed, streamID(streamMulticlass, set, uint64(b)))
		for i := b * synthBlockRows; i < min((b+1)*synthBlockRows, rows); i++ {
			var vals []float64
			if marks == nil {
				cols = cols[:0]
				vals = x.Data[i*o.D : (i+1)*o.D]
			} else {
				// Floyd's algorithm: k distinct columns of D, uniformly.
				cols = cols[:0]
				for j := o.D - k; j < o.D; j++ {
					t := r.IntN(j + 1)
					if marks[t] {
						t = j
					}
					marks[t] = true
					cols = append(cols, t)
				}
				slices.Sort(cols)
				for _, j := range cols {
					marks[j] = false
				}
				copy(x.Indices[i*k:], cols)
				x.Indptr[i+1] = (i + 1) * k
				vals = x.Data[i*k : (i+1)*k]
			}
			var ss float64
			for j := range vals {
				vals[j] = r.NormFloat64()
				ss += float64(vals[j] * vals[j])
			}
			if ss > 0 {
				inv := 1 / math.Sqrt(ss)
				for j := range vals {
					vals[j] *= inv
				}
			}
			clear(scores)
			for jj, v := range vals {
				j := jj
				if marks != nil {
					j = cols[jj]
				}
				row := wstar[j*o.C : (j+1)*o.C]
				for c := range scores {
					scores[c] += float64(v * row[c])
				}
			}
			best, bi := math.Inf(-1), 0
			for c, z := range scores {
				// Standard Gumbel: −log(−log U), U uniform on (0, 1).
				u := r.Float64()
				for u == 0 {
					u = r.Float64()
				}
				if g := z + float64(o.Noise*-math.Log(-math.Log(u))); g > best {
					best, bi = g, c
				}
			}
			y[i] = bi
		}
	}
	return x, y
}
