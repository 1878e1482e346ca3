package data

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mcSmall is a valid 6×4 / 3×4 multilogreg problem with 3 classes.
func mcSmall() *Multiclass {
	return &Multiclass{
		XTrain:  NewDense(6, 4, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24.5}),
		XVal:    NewCSR(3, 4, []int{0, 2, 2, 4}, []int{0, 3, 1, 2}, []float64{0.5, -1, 2, 0.25}),
		YTrain:  []int{0, 1, 2, 1, 0, 2},
		YVal:    []int{2, 0, 1},
		Classes: 3,
		Lambda:  []float64{0.1, 0.2, 0.3, 0.4},
	}
}

// mcEntries returns the members of mcSmall's file (y as int64, no classes
// member), with the named members replaced or removed (nil).
func mcEntries(replace map[string]any) []entry {
	s := mcSmall()
	return baseSupervised(mergeMC(map[string]any{
		"X_train": dense(6, 4, func(i, j int) float64 { return s.XTrain.Data[i*4+j] }),
		"y_train": []int64{0, 1, 2, 1, 0, 2},
		"X_val":   dense(3, 4, func(i, j int) float64 { return s.XVal.At(i, j) }),
		"y_val":   []int64{2, 0, 1},
		"lambda":  s.Lambda,
	}, replace))
}

func mergeMC(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func sameMulticlass(a, b *Multiclass) bool {
	sameInts := func(x, y []int) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	sameMat := func(x, y *Matrix) bool {
		return x.Rows == y.Rows && x.Cols == y.Cols && x.IsCSR() == y.IsCSR() && sameFloats(x.Data, y.Data) &&
			sameInts(x.Indptr, y.Indptr) && sameInts(x.Indices, y.Indices)
	}
	return sameMat(a.XTrain, b.XTrain) && sameMat(a.XVal, b.XVal) && sameInts(a.YTrain, b.YTrain) &&
		sameInts(a.YVal, b.YVal) && a.Classes == b.Classes && sameFloats(a.Lambda, b.Lambda) && a.PerClass == b.PerClass
}

// TestMulticlassRoundTrip: SaveMulticlass then LoadMulticlass gives the
// same bits, dense and CSR, per-feature, shared and per-class λ, and with
// more classes than the labels use.
func TestMulticlassRoundTrip(t *testing.T) {
	dir := t.TempDir()
	shared := mcSmall()
	shared.Lambda = []float64{-1}
	perClass := mcSmall()
	perClass.PerClass, perClass.Lambda = true, []float64{1, 2, 3}
	wide := mcSmall()
	wide.Classes = 7
	csr := mcSmall()
	csr.XTrain, csr.XVal = csr.XVal, csr.XTrain
	csr.YTrain, csr.YVal = csr.YVal, csr.YTrain
	synth, err := SynthMulticlass(MulticlassOptions{N: 40, M: 20, D: 30, C: 4, Density: 0.1, PerClass: true, Lambda: 0.5, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Multiclass{"mixed": mcSmall(), "shared": shared, "perclass": perClass, "wide": wide, "csr": csr, "synth": synth} {
		path := filepath.Join(dir, name+".npz")
		if err := SaveMulticlass(path, s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := LoadMulticlass(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !sameMulticlass(got, s) {
			t.Errorf("%s: round trip: got %+v, want %+v", name, got, s)
		}
		if _, err := (Limits{MaxBytes: 256}).LoadMulticlass(path); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: a 256-byte budget: %v, want ErrTooLarge", name, err)
		}
	}
}

// TestMulticlassFiles: int and float labels, the classes member and its
// default, and every way a file can be wrong, each an *Error naming the file
// and the array.
func TestMulticlassFiles(t *testing.T) {
	got, err := LoadMulticlass(writeNPZTest(t, 0, mcEntries(nil)...))
	if err != nil {
		t.Fatal(err)
	}
	want := mcSmall()
	want.XVal = want.XVal.ToDense()
	if !sameMulticlass(got, want) {
		t.Errorf("int labels, no classes: got %+v", got)
	}
	got, err = LoadMulticlass(writeNPZTest(t, 0, mcEntries(map[string]any{
		"y_train": []float64{0, 1, 2, 1, 0, 2}, "classes": []int64{5}, "lambda": nil, "lambda_class": []float64{1, 2, 3, 4, 5},
	})...))
	if err != nil {
		t.Fatal(err)
	}
	if got.Classes != 5 || !got.PerClass || len(got.Lambda) != 5 {
		t.Errorf("float labels, classes 5, lambda_class: got classes %d, per-class %v, λ %v", got.Classes, got.PerClass, got.Lambda)
	}
	for _, c := range []struct {
		name    string
		replace map[string]any
		kind    error
		array   string
		want    string
	}{
		{"missing y_val", map[string]any{"y_val": nil}, ErrMissing, "y_val", `missing array "y_val"`},
		{"missing X_train", map[string]any{"X_train": nil}, ErrMissing, "X_train", "X_train"},
		{"no lambda", map[string]any{"lambda": nil}, ErrMissing, "lambda", "lambda_class"},
		{"both lambdas", map[string]any{"lambda_class": []float64{1, 2, 3}}, ErrFormat, "lambda", "ambiguous"},
		{"fractional label", map[string]any{"y_train": []float64{0, 1, 2.5, 1, 0, 2}}, ErrLabels, "y_train", "y_train[2] = 2.5"},
		{"negative label", map[string]any{"y_val": []int64{0, -1, 1}}, ErrLabels, "y_val", "y_val[1] = -1"},
		{"NaN label", map[string]any{"y_val": []float64{0, math.NaN(), 1}}, ErrNonFinite, "y_val", "NaN"},
		{"label ≥ classes", map[string]any{"classes": []float64{2}}, ErrLabels, "y_train", "y_train[2] = 2"},
		{"one class", map[string]any{"y_train": []int64{0, 0, 0, 0, 0, 0}, "y_val": []int64{0, 0, 0}}, ErrShape, "classes", "classes = 1"},
		{"classes 1", map[string]any{"classes": []float64{1}}, ErrShape, "classes", "classes = [1]"},
		{"classes fractional", map[string]any{"classes": []float64{3.5}}, ErrShape, "classes", "classes = [3.5]"},
		{"classes vector", map[string]any{"classes": []float64{3, 3}}, ErrShape, "classes", "classes = [3 3]"},
		{"short y_train", map[string]any{"y_train": []int64{0, 1}}, ErrShape, "y_train", "y_train has length 2, X_train has 6 rows"},
		{"y matrix", map[string]any{"y_val": dense(3, 2, xval)}, ErrShape, "y_val", "want 1 (a vector)"},
		{"X_val columns", map[string]any{"X_val": dense(3, 5, xval)}, ErrShape, "X_val", "X_val has 5 columns"},
		{"lambda length", map[string]any{"lambda": []float64{1, 2}}, ErrShape, "lambda", "lambda has length 2"},
		{"lambda_class length", map[string]any{"lambda": nil, "lambda_class": []float64{1, 2}}, ErrShape, "lambda_class", "lambda_class has length 2"},
		{"NaN lambda", map[string]any{"lambda": []float64{1, math.Inf(1), 0, 0}}, ErrNonFinite, "lambda", "+Inf"},
		{"NaN X", map[string]any{"X_train": dense(6, 4, func(i, j int) float64 { return math.NaN() })}, ErrNonFinite, "X_train", "NaN"},
	} {
		path := writeNPZTest(t, 0, mcEntries(c.replace)...)
		_, err := LoadMulticlass(path)
		var de *Error
		if !errors.Is(err, c.kind) || err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &de) || de.Path != path || de.Array != c.array {
			t.Errorf("%s: LoadMulticlass = %v (array %q); want %v on %q containing %q and the path", c.name, err, mcArrayOf(err), c.kind, c.array, c.want)
		}
	}
	// Broken files.
	dir := t.TempDir()
	if _, err := LoadMulticlass(filepath.Join(dir, "absent.npz")); err == nil {
		t.Error("absent file accepted")
	}
	full := npzBytes(t, 0, mcEntries(nil)...)
	trunc := writeFile(t, "trunc.npz", full[:len(full)/2])
	if _, err := LoadMulticlass(trunc); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated file: %v, want ErrFormat", err)
	}
	if _, err := (Limits{MaxBytes: -1}).LoadMulticlass(trunc); !errors.Is(err, ErrOption) {
		t.Errorf("negative budget: %v, want ErrOption", err)
	}
}

func mcArrayOf(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Array
	}
	return ""
}

// TestMulticlassValidate: every validation error of in-memory data, and of
// SaveMulticlass.
func TestMulticlassValidate(t *testing.T) {
	if err := mcSmall().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		modify func(s *Multiclass)
		kind   error
		array  string
	}{
		{"nil X_train", func(s *Multiclass) { s.XTrain = nil }, ErrMissing, "X_train"},
		{"nil X_val", func(s *Multiclass) { s.XVal = nil }, ErrMissing, "X_val"},
		{"empty X_train", func(s *Multiclass) { s.XTrain, s.YTrain = NewDense(0, 4, nil), nil }, ErrShape, "X_train"},
		{"no columns", func(s *Multiclass) { s.XTrain = NewDense(6, 0, nil) }, ErrShape, "X_train"},
		{"bad CSR", func(s *Multiclass) { s.XVal.Indices[0] = 9 }, ErrShape, "X_val"},
		{"empty X_val", func(s *Multiclass) { s.XVal, s.YVal = NewDense(0, 4, nil), nil }, ErrShape, "X_val"},
		{"X_val columns", func(s *Multiclass) { s.XVal = NewDense(3, 3, make([]float64, 9)) }, ErrShape, "X_val"},
		{"y_train length", func(s *Multiclass) { s.YTrain = s.YTrain[:5] }, ErrShape, "y_train"},
		{"y_val length", func(s *Multiclass) { s.YVal = nil }, ErrShape, "y_val"},
		{"one class", func(s *Multiclass) { s.Classes = 1 }, ErrShape, "classes"},
		{"lambda length", func(s *Multiclass) { s.Lambda = s.Lambda[:3] }, ErrShape, "lambda"},
		{"lambda_class length", func(s *Multiclass) { s.PerClass = true }, ErrShape, "lambda_class"},
		{"NaN X_train", func(s *Multiclass) { s.XTrain.Data[5] = math.NaN() }, ErrNonFinite, "X_train"},
		{"Inf X_val", func(s *Multiclass) { s.XVal.Data[2] = math.Inf(-1) }, ErrNonFinite, "X_val"},
		{"NaN lambda", func(s *Multiclass) { s.Lambda[1] = math.NaN() }, ErrNonFinite, "lambda"},
		{"label ≥ classes", func(s *Multiclass) { s.YTrain[4] = 3 }, ErrLabels, "y_train"},
		{"negative label", func(s *Multiclass) { s.YVal[0] = -1 }, ErrLabels, "y_val"},
	} {
		s := mcSmall()
		c.modify(s)
		err := s.Validate()
		if !errors.Is(err, c.kind) || mcArrayOf(err) != c.array {
			t.Errorf("%s: Validate = %v (array %q); want %v on %q", c.name, err, mcArrayOf(err), c.kind, c.array)
		}
		path := filepath.Join(t.TempDir(), "bad.npz")
		if err := SaveMulticlass(path, s); !errors.Is(err, c.kind) {
			t.Errorf("%s: SaveMulticlass = %v; want %v", c.name, err, c.kind)
		}
	}
	if err := SaveMulticlass(filepath.Join(t.TempDir(), "nil.npz"), nil); !errors.Is(err, ErrMissing) {
		t.Errorf("SaveMulticlass(nil) = %v; want ErrMissing", err)
	}
}

// TestSynthMulticlass: defaults, shapes, density, row norms, labels in
// range with every class drawn, determinism (same seed, same bits; another
// seed, other bits), and the option errors.
func TestSynthMulticlass(t *testing.T) {
	s, err := SynthMulticlass(MulticlassOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, m, d, c := s.Dims(); n != 500 || m != 250 || d != 50 || c != 5 || s.XTrain.IsCSR() || len(s.Lambda) != 50 || s.Lambda[0] != 0 {
		t.Errorf("defaults: %d×%d, %d val rows, %d classes, CSR %v, λ %v", n, d, m, c, s.XTrain.IsCSR(), s.Lambda[:1])
	}
	o := MulticlassOptions{N: 700, M: 300, D: 400, C: 6, Density: 0.05, Noise: 0.5, Lambda: -2, PerClass: true, Seed: 7}
	s, err = SynthMulticlass(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !s.XTrain.IsCSR() || !s.XVal.IsCSR() || s.XTrain.NNZ() != 700*20 || s.XVal.NNZ() != 300*20 {
		t.Errorf("CSR %v, nnz %d and %d; want 20 a row", s.XTrain.IsCSR(), s.XTrain.NNZ(), s.XVal.NNZ())
	}
	if len(s.Lambda) != 6 || s.Lambda[5] != -2 || !s.PerClass {
		t.Errorf("per-class λ %v", s.Lambda)
	}
	counts := make([]int, 6)
	colHit := make([]int, 400)
	for _, x := range []*Matrix{s.XTrain, s.XVal} {
		for i := 0; i < x.Rows; i++ {
			var ss float64
			for k := x.Indptr[i]; k < x.Indptr[i+1]; k++ {
				ss += x.Data[k] * x.Data[k]
				colHit[x.Indices[k]]++
				if k > x.Indptr[i] && x.Indices[k] <= x.Indices[k-1] {
					t.Fatalf("row %d: columns not strictly increasing", i)
				}
			}
			if math.Abs(ss-1) > 1e-14 {
				t.Errorf("row %d: ‖x‖² = %v", i, ss)
			}
		}
	}
	for _, y := range s.YTrain {
		counts[y]++
	}
	for k, n := range counts {
		if n < 700/6/4 {
			t.Errorf("class %d drawn %d times of 700", k, n)
		}
	}
	for j, h := range colHit { // each column expects 1000·20/400 = 50 hits
		if h < 20 || h > 90 {
			t.Errorf("column %d hit %d times; want about 50", j, h)
		}
	}
	again, err := SynthMulticlass(o)
	if err != nil {
		t.Fatal(err)
	}
	if !sameMulticlass(s, again) {
		t.Error("same options, different data")
	}
	o.Seed = 8
	other, err := SynthMulticlass(o)
	if err != nil {
		t.Fatal(err)
	}
	if sameFloats(s.XTrain.Data, other.XTrain.Data) {
		t.Error("another seed, same data")
	}
	// The labels follow the planted model: with little noise the training
	// labels are mostly the argmax of the planted scores, so a dense problem
	// of one class is impossible and the noise changes labels.
	lo, err := SynthMulticlass(MulticlassOptions{N: 400, D: 20, C: 4, Noise: 1e-9, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	hi, err := SynthMulticlass(MulticlassOptions{N: 400, D: 20, C: 4, Noise: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var diff int
	for i := range lo.YTrain {
		if lo.YTrain[i] != hi.YTrain[i] {
			diff++
		}
	}
	if diff < 100 {
		t.Errorf("noise 1e-9 and 100 differ on %d of 400 labels", diff)
	}
	for _, c := range []struct {
		o   MulticlassOptions
		key string
	}{
		{MulticlassOptions{N: -1}, "n"}, {MulticlassOptions{M: -1}, "m"}, {MulticlassOptions{D: -2}, "d"},
		{MulticlassOptions{C: 1}, "c"}, {MulticlassOptions{Density: 1.5}, "density"}, {MulticlassOptions{Density: math.NaN()}, "density"},
		{MulticlassOptions{Noise: -1}, "noise"}, {MulticlassOptions{Noise: math.Inf(1)}, "noise"}, {MulticlassOptions{Lambda: math.NaN()}, "lambda"},
		{MulticlassOptions{N: 1 << 40, D: 1 << 20}, "n"},
	} {
		_, err := SynthMulticlass(c.o)
		if !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), "synth option "+c.key+" =") {
			t.Errorf("%+v: %v; want ErrOption naming %s", c.o, err, c.key)
		}
	}
}

// TestSynthMulticlassNewsgroups: the 20-newsgroups shape (n = 11314, m =
// 7532, d = 130107, c = 20, density 0.001) is generated as CSR with 130
// values a row; the time is logged, not asserted.
func TestSynthMulticlassNewsgroups(t *testing.T) {
	start := time.Now()
	s, err := SynthMulticlass(MulticlassOptions{N: 11314, M: 7532, D: 130107, C: 20, Density: 0.001, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated in %v", time.Since(start))
	if !s.XTrain.IsCSR() || s.XTrain.NNZ() != 11314*130 || s.XVal.NNZ() != 7532*130 || len(s.Lambda) != 130107 {
		t.Errorf("nnz %d + %d, λ %d", s.XTrain.NNZ(), s.XVal.NNZ(), len(s.Lambda))
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}
