package data

import "fmt"

// Supervised is a ridge or logreg problem file: training and validation sets
// and the hyperparameter vector at which to differentiate (fields X_train,
// y_train, X_val, y_val, lambda of a problem file; see the package doc).
type Supervised struct {
	XTrain, XVal *Matrix
	YTrain, YVal []float64
	Lambda       []float64 // len Cols, or 1 for one shared weight
}

// Labels selects the label rule Validate applies.
type Labels int

const (
	// RealLabels (ridge): any finite value.
	RealLabels Labels = iota
	// BinaryLabels (logreg): every label is −1 or +1. LoadSupervised and Load
	// first map a file's {0, 1} labels to {−1, +1} (see NormalizeBinaryLabels).
	BinaryLabels
)

func (l Labels) String() string {
	switch l {
	case RealLabels:
		return "RealLabels"
	case BinaryLabels:
		return "BinaryLabels"
	}
	return fmt.Sprintf("Labels(%d)", int(l))
}

// Validate checks that s is a well-formed problem: X_train has at least one
// row and one column; X_val has at least one row and as many columns as
// X_train; y_train and y_val have one label per row; lambda has length Cols
// or 1; every value is finite; and the labels follow the rule for labels. It
// does not modify s (in particular it does not map {0, 1} labels: call
// NormalizeBinaryLabels first).
func (s *Supervised) Validate(labels Labels) error {
	if labels != RealLabels && labels != BinaryLabels {
		return newErr(ErrOption, "", "unknown label rule %v", labels)
	}
	if err := s.XTrain.check("X_train"); err != nil {
		return err
	}
	if err := s.XVal.check("X_val"); err != nil {
		return err
	}
	n, d := s.XTrain.Rows, s.XTrain.Cols
	if n < 1 || d < 1 {
		return newErr(ErrShape, "X_train", "X_train is %d×%d; want at least 1 row and 1 column", n, d)
	}
	if s.XVal.Rows < 1 {
		return newErr(ErrShape, "X_val", "X_val has no rows; want at least 1")
	}
	if s.XVal.Cols != d {
		return newErr(ErrShape, "X_val", "X_val has %d columns, X_train has %d", s.XVal.Cols, d)
	}
	if len(s.YTrain) != n {
		return newErr(ErrShape, "y_train", "y_train has length %d, X_train has %d rows", len(s.YTrain), n)
	}
	if len(s.YVal) != s.XVal.Rows {
		return newErr(ErrShape, "y_val", "y_val has length %d, X_val has %d rows", len(s.YVal), s.XVal.Rows)
	}
	if len(s.Lambda) != d && len(s.Lambda) != 1 {
		return newErr(ErrShape, "lambda", "lambda has length %d; want %d (one per column of X_train) or 1 (one shared weight)", len(s.Lambda), d)
	}
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"X_train", s.XTrain}, {"X_val", s.XVal}} {
		if err := c.m.checkFinite(c.name); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name string
		v    []float64
	}{{"y_train", s.YTrain}, {"y_val", s.YVal}, {"lambda", s.Lambda}} {
		if err := checkVector(c.name, c.v); err != nil {
			return err
		}
	}
	if labels == BinaryLabels {
		for _, c := range []struct {
			name string
			v    []float64
		}{{"y_train", s.YTrain}, {"y_val", s.YVal}} {
			for i, y := range c.v {
				if y != 1 && y != -1 {
					return newErr(ErrLabels, c.name, "%s[%d] = %v: logreg labels must be -1 or +1 (a file's {0, 1} labels are mapped 0 → -1 on loading)", c.name, i, y)
				}
			}
		}
	}
	return nil
}

// NormalizeBinaryLabels maps labels in {0, 1} to {−1, +1} in place. The rule
// applies to y_train and y_val together: if every label of both is 0 or 1,
// zeros become −1; if every label is −1 or +1 nothing changes; any other set
// (a value outside {−1, 0, 1}, or a mix such as {−1, 0, 1}) is an ErrLabels
// error naming the first offending label, and s is left unchanged.
func (s *Supervised) NormalizeBinaryLabels() error {
	var first [2]struct {
		name string
		i    int
		y    float64
	} // first 0 seen, first −1 seen
	seen0, seenM := false, false
	for _, c := range []struct {
		name string
		v    []float64
	}{{"y_train", s.YTrain}, {"y_val", s.YVal}} {
		for i, y := range c.v {
			switch y {
			case 1:
			case 0:
				if !seen0 {
					seen0, first[0].name, first[0].i, first[0].y = true, c.name, i, y
				}
			case -1:
				if !seenM {
					seenM, first[1].name, first[1].i, first[1].y = true, c.name, i, y
				}
			default:
				return newErr(ErrLabels, c.name, "%s[%d] = %v: logreg labels must be in {-1, +1} or {0, 1}", c.name, i, y)
			}
		}
	}
	if seen0 && seenM {
		return newErr(ErrLabels, first[0].name, "labels mix {0, 1} and {-1, +1} encodings: %s[%d] = 0 and %s[%d] = -1; use one of them",
			first[0].name, first[0].i, first[1].name, first[1].i)
	}
	if seen0 {
		for _, v := range [][]float64{s.YTrain, s.YVal} {
			for i := range v {
				if v[i] == 0 {
					v[i] = -1
				}
			}
		}
	}
	return nil
}

// LoadSupervised reads a ridge/logreg problem file (.npz with X_train,
// y_train, X_val, y_val, lambda; X_train and X_val dense or CSR), maps {0, 1}
// labels to {−1, +1} when labels is BinaryLabels, and validates it. It uses
// the default Limits.
func LoadSupervised(path string, labels Labels) (*Supervised, error) {
	return Limits{}.LoadSupervised(path, labels)
}

// LoadSupervised is the package function LoadSupervised with the memory
// budget of l.
func (l Limits) LoadSupervised(path string, labels Labels) (*Supervised, error) {
	a, err := l.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return loadSupervised(a, labels)
}

// loadSupervised reads, normalises and validates the problem in a.
func loadSupervised(a *Archive, labels Labels) (*Supervised, error) {
	path := a.path
	s, err := readSupervised(a)
	if err != nil {
		return nil, err
	}
	// Shapes and finiteness first, so that a NaN label is reported as such.
	if err := s.Validate(RealLabels); err != nil {
		return nil, withPath(err, path)
	}
	if labels == BinaryLabels {
		if err := s.NormalizeBinaryLabels(); err != nil {
			return nil, withPath(err, path)
		}
	}
	if err := s.Validate(labels); err != nil {
		return nil, withPath(err, path)
	}
	return s, nil
}

func readSupervised(a *Archive) (*Supervised, error) {
	// Report every missing array at once before reading anything.
	for _, name := range []string{"X_train", "y_train", "X_val", "y_val", "lambda"} {
		if !a.Has(name) && !(name[0] == 'X' && a.Has(name+"_data")) {
			if name[0] == 'X' {
				_, err := a.Matrix(name)
				return nil, err
			}
			return nil, a.missing(name, "")
		}
	}
	s := &Supervised{}
	var err error
	if s.XTrain, err = a.Matrix("X_train"); err != nil {
		return nil, err
	}
	if s.YTrain, err = a.Vector("y_train"); err != nil {
		return nil, err
	}
	if s.XVal, err = a.Matrix("X_val"); err != nil {
		return nil, err
	}
	if s.YVal, err = a.Vector("y_val"); err != nil {
		return nil, err
	}
	if s.Lambda, err = a.Vector("lambda"); err != nil {
		return nil, err
	}
	return s, nil
}

// SaveSupervised writes s to path as an .npz archive that numpy.load reads:
// float64 arrays X_train, y_train, X_val, y_val, lambda; a CSR matrix is
// written as the four CSR members (see the package doc). s must pass
// Validate(RealLabels).
func SaveSupervised(path string, s *Supervised) error {
	if err := s.Validate(RealLabels); err != nil {
		return withPath(err, path)
	}
	return writeNPZ(path, []member{
		{"X_train", s.XTrain}, {"y_train", s.YTrain},
		{"X_val", s.XVal}, {"y_val", s.YVal},
		{"lambda", s.Lambda},
	})
}
