package data

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// smallHypercleaning returns a valid problem: 5 training rows, 3 validation
// rows, 2 features, 3 classes.
func smallHypercleaning() *Hypercleaning {
	return &Hypercleaning{
		XTrain:    NewDense(5, 2, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}),
		XVal:      NewDense(3, 2, []float64{1, 0, 0, 1, 0.5, 0.5}),
		YTrain:    []int{0, 2, 1, 1, 0},
		YVal:      []int{2, 0, 1},
		Classes:   3,
		Lambda:    []float64{0, 0.5, -1, 2, 0},
		Reg:       0.01,
		Corrupted: []bool{false, true, false, false, true},
	}
}

// hypercleaningEntries returns the members of smallHypercleaning's file
// with the named members replaced or removed (nil removes).
func hypercleaningEntries(replace map[string]any) []entry {
	h := smallHypercleaning()
	es := []entry{
		{"X_train", mat.NewDense(5, 2, h.XTrain.Data)},
		{"y_train", []int64{0, 2, 1, 1, 0}},
		{"X_val", mat.NewDense(3, 2, h.XVal.Data)},
		{"y_val", []int64{2, 0, 1}},
		{"lambda", h.Lambda},
		{"reg", []float64{0.01}},
		{"classes", []int64{3}},
		{"corrupted", []int64{0, 1, 0, 0, 1}},
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

func hcSameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameHypercleaning(a, b *Hypercleaning) bool {
	if len(a.Corrupted) != len(b.Corrupted) {
		return false
	}
	for i := range a.Corrupted {
		if a.Corrupted[i] != b.Corrupted[i] {
			return false
		}
	}
	x, y := a.XTrain.ToDense(), b.XTrain.ToDense()
	xv, yv := a.XVal.ToDense(), b.XVal.ToDense()
	return x.Rows == y.Rows && x.Cols == y.Cols && sameFloats(x.Data, y.Data) &&
		xv.Rows == yv.Rows && sameFloats(xv.Data, yv.Data) &&
		hcSameInts(a.YTrain, b.YTrain) && hcSameInts(a.YVal, b.YVal) &&
		a.Classes == b.Classes && sameFloats(a.Lambda, b.Lambda) && a.Reg == b.Reg
}

func TestHypercleaningValidate(t *testing.T) {
	h := smallHypercleaning()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if n, m, p, c := h.Dims(); n != 5 || m != 3 || p != 2 || c != 3 {
		t.Fatalf("Dims = %d %d %d %d", n, m, p, c)
	}
	for _, c := range []struct {
		name   string
		modify func(h *Hypercleaning)
		kind   error
		want   string
	}{
		{"nil X_train", func(h *Hypercleaning) { h.XTrain = nil }, ErrMissing, "X_train is nil"},
		{"nil X_val", func(h *Hypercleaning) { h.XVal = nil }, ErrMissing, "X_val is nil"},
		{"empty X_train", func(h *Hypercleaning) { h.XTrain = NewDense(0, 2, nil) }, ErrShape, "X_train is 0×2"},
		{"empty X_val", func(h *Hypercleaning) { h.XVal = NewDense(3, 0, nil) }, ErrShape, "X_val is 3×0"},
		{"X_val cols", func(h *Hypercleaning) { h.XVal = NewDense(3, 3, make([]float64, 9)) }, ErrShape, "X_val has 3 columns, X_train has 2"},
		{"short y_train", func(h *Hypercleaning) { h.YTrain = h.YTrain[1:] }, ErrShape, "y_train has length 4"},
		{"short y_val", func(h *Hypercleaning) { h.YVal = h.YVal[1:] }, ErrShape, "y_val has length 2"},
		{"short lambda", func(h *Hypercleaning) { h.Lambda = h.Lambda[1:] }, ErrShape, "lambda has length 4"},
		{"short corrupted", func(h *Hypercleaning) { h.Corrupted = h.Corrupted[1:] }, ErrShape, "corrupted has length 4"},
		{"one class", func(h *Hypercleaning) { h.Classes = 1 }, ErrLabels, "classes = 1"},
		{"NaN X_train", func(h *Hypercleaning) { h.XTrain.Data[3] = math.NaN() }, ErrNonFinite, "X_train contains NaN at (1, 1)"},
		{"Inf X_val", func(h *Hypercleaning) { h.XVal.Data[0] = math.Inf(1) }, ErrNonFinite, "X_val contains +Inf"},
		{"Inf lambda", func(h *Hypercleaning) { h.Lambda[2] = math.Inf(-1) }, ErrNonFinite, "lambda contains -Inf at index 2"},
		{"zero reg", func(h *Hypercleaning) { h.Reg = 0 }, ErrOption, "reg = 0"},
		{"NaN reg", func(h *Hypercleaning) { h.Reg = math.NaN() }, ErrOption, "reg = NaN"},
		{"label high", func(h *Hypercleaning) { h.YTrain[3] = 3 }, ErrLabels, "y_train[3] = 3"},
		{"label negative", func(h *Hypercleaning) { h.YVal[1] = -1 }, ErrLabels, "y_val[1] = -1"},
	} {
		h := smallHypercleaning()
		c.modify(h)
		err := h.Validate()
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v; want %v containing %q", c.name, err, c.kind, c.want)
		}
	}
	// No corrupted flags is valid.
	h.Corrupted = nil
	if err := h.Validate(); err != nil {
		t.Error(err)
	}
}

func TestHypercleaningFiles(t *testing.T) {
	dir := t.TempDir()
	h := smallHypercleaning()
	path := filepath.Join(dir, "h.npz")
	if err := SaveHypercleaning(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := LoadHypercleaning(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameHypercleaning(got, h) {
		t.Errorf("round trip: got %+v, want %+v", got, h)
	}

	// CSR inputs round-trip as CSR; no corrupted flags round-trips as nil.
	c := smallHypercleaning()
	c.XTrain = NewCSR(5, 2, []int{0, 2, 2, 3, 4, 5}, []int{0, 1, 0, 1, 0}, []float64{0.1, 0.2, 0.5, 0.8, 0.9})
	c.XVal = NewCSR(3, 2, []int{0, 1, 2, 2}, []int{0, 1}, []float64{1, 1})
	c.Corrupted = nil
	cpath := filepath.Join(dir, "c.npz")
	if err := SaveHypercleaning(cpath, c); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadHypercleaning(cpath); err != nil || !got.XTrain.IsCSR() || !got.XVal.IsCSR() || got.Corrupted != nil || !sameHypercleaning(got, c) {
		t.Errorf("CSR round trip: %v, %+v", err, got)
	}

	// Integer arrays, and the defaults of reg and classes.
	ipath := writeNPZTest(t, 0, hypercleaningEntries(map[string]any{"reg": nil, "classes": nil})...)
	got, err = LoadHypercleaning(ipath)
	if err != nil {
		t.Fatal(err)
	}
	want := smallHypercleaning()
	want.Reg = DefaultHypercleaningReg
	if !sameHypercleaning(got, want) {
		t.Errorf("defaults: got %+v", got)
	}
	// classes wider than the labels; a 0-d reg.
	got, err = LoadHypercleaning(writeNPZTest(t, 0, hypercleaningEntries(map[string]any{"classes": 5.0, "reg": 0.5})...))
	if err != nil || got.Classes != 5 || got.Reg != 0.5 {
		t.Errorf("classes = 5, reg = 0.5: %v, %+v", err, got)
	}

	bad := func(r, c int) *mat.Dense { return mat.NewDense(r, c, make([]float64, r*c)) }
	for _, c := range []struct {
		name    string
		replace map[string]any
		kind    error
		want    string
	}{
		{"missing lambda", map[string]any{"lambda": nil}, ErrMissing, `missing array "lambda"`},
		{"missing X_train", map[string]any{"X_train": nil}, ErrMissing, "X_train"},
		{"missing y_val", map[string]any{"y_val": nil}, ErrMissing, `missing array "y_val"`},
		{"fractional label", map[string]any{"y_train": []float64{0, 2, 1.5, 1, 0}}, ErrLabels, "y_train[2] = 1.5"},
		{"negative label", map[string]any{"y_val": []int64{2, -1, 1}}, ErrLabels, "y_val[1] = -1"},
		{"label ≥ classes", map[string]any{"y_train": []int64{0, 2, 1, 3, 0}}, ErrLabels, "y_train[3] = 3"},
		{"NaN label", map[string]any{"y_train": []float64{0, math.NaN(), 1, 1, 0}}, ErrNonFinite, "y_train contains NaN"},
		{"short y_train", map[string]any{"y_train": []int64{0, 1}}, ErrShape, "y_train has length 2, X_train has 5 rows"},
		{"y matrix", map[string]any{"y_val": bad(3, 2)}, ErrShape, "want 1 (a vector)"},
		{"X_val shape", map[string]any{"X_val": bad(3, 4)}, ErrShape, "X_val has 4 columns"},
		{"lambda length", map[string]any{"lambda": []float64{1, 2}}, ErrShape, "lambda has length 2"},
		{"NaN lambda", map[string]any{"lambda": []float64{0, 0, math.NaN(), 0, 0}}, ErrNonFinite, "lambda contains NaN"},
		{"reg vector", map[string]any{"reg": []float64{1, 2}}, ErrShape, "reg has 2 values"},
		{"negative reg", map[string]any{"reg": []float64{-1}}, ErrOption, "reg = -1"},
		{"Inf reg", map[string]any{"reg": []float64{math.Inf(1)}}, ErrNonFinite, "reg contains +Inf"},
		{"one class", map[string]any{"classes": []int64{1}}, ErrLabels, "classes = 1"},
		{"fractional classes", map[string]any{"classes": []float64{2.5}}, ErrLabels, "classes = 2.5"},
		{"corrupted value", map[string]any{"corrupted": []float64{0, 1, 0.5, 0, 0}}, ErrShape, "corrupted[2] = 0.5"},
		{"corrupted length", map[string]any{"corrupted": []int64{0, 1}}, ErrShape, "corrupted has length 2"},
	} {
		path := writeNPZTest(t, 0, hypercleaningEntries(c.replace)...)
		_, err := LoadHypercleaning(path)
		var de *Error
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || !errors.As(err, &de) || de.Path != path {
			t.Errorf("%s: LoadHypercleaning = %v; want %v containing %q and the path", c.name, err, c.kind, c.want)
		}
	}
	// Broken files: not a zip, empty, truncated.
	good := npzBytes(t, 0, hypercleaningEntries(nil)...)
	for _, b := range [][]byte{[]byte("not an npz"), {}, good[:len(good)/2]} {
		p := filepath.Join(dir, "broken.npz")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadHypercleaning(p); !errors.Is(err, ErrFormat) {
			t.Errorf("broken file of %d bytes: %v; want ErrFormat", len(b), err)
		}
	}
	// The memory budget.
	if _, err := (Limits{MaxBytes: 64}).LoadHypercleaning(path); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a 64-byte budget: %v; want ErrTooLarge", err)
	}
	badSave := smallHypercleaning()
	badSave.YVal[0] = 7
	if err := SaveHypercleaning(filepath.Join(dir, "bad.npz"), badSave); !errors.Is(err, ErrLabels) {
		t.Errorf("SaveHypercleaning(bad labels) = %v; want ErrLabels", err)
	}
	if err := SaveHypercleaning(filepath.Join(dir, "nil.npz"), nil); !errors.Is(err, ErrMissing) {
		t.Errorf("SaveHypercleaning(nil) = %v; want ErrMissing", err)
	}
}

func TestSynthHypercleaning(t *testing.T) {
	o := HypercleaningOptions{N: 400, M: 150, P: 6, C: 5, Corrupt: 0.25, Reg: 0.02, Lambda: -0.5, Seed: 3}
	h, err := SynthHypercleaning(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if n, m, p, c := h.Dims(); n != 400 || m != 150 || p != 6 || c != 5 || h.Reg != 0.02 {
		t.Fatalf("dims %d %d %d %d, reg %v", n, m, p, c, h.Reg)
	}
	for _, l := range h.Lambda {
		if l != -0.5 {
			t.Fatalf("λ = %v, want -0.5 everywhere", l)
		}
	}
	// The clean labels of the same options, without corruption.
	oc := o
	oc.Corrupt = HypercleaningNoCorruption
	clean, err := SynthHypercleaning(oc)
	if err != nil {
		t.Fatal(err)
	}
	if !sameFloats(clean.XTrain.Data, h.XTrain.Data) || !hcSameInts(clean.YVal, h.YVal) {
		t.Error("the corruption changed the inputs or the validation labels")
	}
	var corrupted int
	for i, c := range h.Corrupted {
		if clean.Corrupted[i] {
			t.Fatal("HypercleaningNoCorruption marked a row")
		}
		switch {
		case c && h.YTrain[i] == clean.YTrain[i]:
			t.Errorf("row %d marked corrupted keeps its label %d", i, h.YTrain[i])
		case !c && h.YTrain[i] != clean.YTrain[i]:
			t.Errorf("row %d not marked has label %d, clean %d", i, h.YTrain[i], clean.YTrain[i])
		}
		if c {
			corrupted++
		}
	}
	if corrupted != 100 {
		t.Errorf("%d rows corrupted, want round(0.25·400) = 100", corrupted)
	}
	// Clean labels follow a linear classifier: every class occurs, and a
	// planted model separates them (the validation labels included).
	counts := make([]int, 5)
	for _, y := range append(append([]int(nil), clean.YTrain...), clean.YVal...) {
		counts[y]++
	}
	for c, k := range counts {
		if k < 550/5/4 {
			t.Errorf("class %d has %d of 550 clean labels", c, k)
		}
	}

	// Deterministic; the seed matters; more rows keep the first ones.
	again, _ := SynthHypercleaning(o)
	if !sameHypercleaning(again, h) {
		t.Error("two runs with the same options differ")
	}
	o2 := o
	o2.Seed = 4
	if other, _ := SynthHypercleaning(o2); sameFloats(other.XTrain.Data, h.XTrain.Data) {
		t.Error("seed 4 gives the data of seed 3")
	}
	o3 := oc
	o3.N, o3.M = 700, 300
	longer, _ := SynthHypercleaning(o3)
	if !sameFloats(longer.XTrain.Data[:400*6], clean.XTrain.Data) || !hcSameInts(longer.YTrain[:400], clean.YTrain) ||
		!sameFloats(longer.XVal.Data[:150*6], clean.XVal.Data) {
		t.Error("N = 700, M = 300 changes the first rows")
	}

	d, err := SynthHypercleaning(HypercleaningOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var dc int
	for _, c := range d.Corrupted {
		if c {
			dc++
		}
	}
	if n, m, p, c := d.Dims(); n != 300 || m != 200 || p != 20 || c != 4 || d.Reg != 1e-3 || dc != 90 || d.Lambda[0] != 0 {
		t.Errorf("defaults: %d %d %d %d, reg %v, %d corrupted, λ_0 = %v", n, m, p, c, d.Reg, dc, d.Lambda[0])
	}
	full, err := SynthHypercleaning(HypercleaningOptions{N: 50, C: 2, Corrupt: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range full.Corrupted {
		if !c {
			t.Fatalf("Corrupt = 1: row %d not corrupted", i)
		}
	}
	for _, bad := range []HypercleaningOptions{
		{N: -1}, {M: -1}, {P: -2}, {C: -1}, {C: 1}, {Corrupt: 1.5}, {Corrupt: -0.5}, {Corrupt: math.NaN()},
		{Reg: -1}, {Reg: math.Inf(1)}, {Reg: math.NaN()}, {Lambda: math.NaN()}, {Lambda: math.Inf(-1)},
		{N: 1 << 40, P: 1 << 10},
	} {
		if _, err := SynthHypercleaning(bad); !errors.Is(err, ErrOption) {
			t.Errorf("SynthHypercleaning(%+v) = %v; want ErrOption", bad, err)
		}
	}
}
