package data

import (
	"archive/zip"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// smallBiasReg returns a valid problem of T = 2 tasks, n = 3, m = 2, d = 2.
func smallBiasReg() *BiasReg {
	return &BiasReg{
		X:      []*Matrix{NewDense(3, 2, []float64{1, 2, 3, 4, 5, 6}), NewDense(3, 2, []float64{-1, 0.5, 2, -3, 0.25, 1})},
		Y:      [][]float64{{1, 0, -1}, {0.5, 0.25, 2}},
		XVal:   []*Matrix{NewDense(2, 2, []float64{0.1, 0.2, 0.3, 0.4}), NewDense(2, 2, []float64{-0.5, 1, 1.5, -2})},
		YVal:   [][]float64{{0.7, -0.7}, {1, 2}},
		Lambda: []float64{0.3, -0.2},
		Rho:    0.5,
	}
}

func sameBiasReg(a, b *BiasReg) bool {
	if len(a.X) != len(b.X) || len(a.XVal) != len(b.XVal) || a.Rho != b.Rho || !sameFloats(a.Lambda, b.Lambda) {
		return false
	}
	for t := range a.X {
		if a.X[t].Rows != b.X[t].Rows || a.X[t].Cols != b.X[t].Cols || !sameFloats(a.X[t].Data, b.X[t].Data) ||
			!sameFloats(a.Y[t], b.Y[t]) || a.XVal[t].Rows != b.XVal[t].Rows || !sameFloats(a.XVal[t].Data, b.XVal[t].Data) ||
			!sameFloats(a.YVal[t], b.YVal[t]) {
			return false
		}
	}
	return true
}

// raw3 is a little-endian float64 .npy member of the given shape.
func raw3(shape []int, v []float64) raw {
	return rawNPY("'<f8'", false, shapeTuple(shape), leBytes(v))
}

// biasRegEntries returns the members of smallBiasReg's file with the named
// members replaced or removed (nil removes).
func biasRegEntries(replace map[string]any) []entry {
	r := smallBiasReg()
	cat := func(ms []*Matrix) []float64 { return append(append([]float64(nil), ms[0].Data...), ms[1].Data...) }
	es := []entry{
		{"X", raw3([]int{2, 3, 2}, cat(r.X))},
		{"y", mat.NewDense(2, 3, append(append([]float64(nil), r.Y[0]...), r.Y[1]...))},
		{"X_val", raw3([]int{2, 2, 2}, cat(r.XVal))},
		{"y_val", mat.NewDense(2, 2, append(append([]float64(nil), r.YVal[0]...), r.YVal[1]...))},
		{"lambda", r.Lambda},
		{"rho", raw3(nil, []float64{0.5})},
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

func TestBiasRegValidate(t *testing.T) {
	r := smallBiasReg()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if tasks, n, m, d := r.Dims(); tasks != 2 || n != 3 || m != 2 || d != 2 {
		t.Fatalf("Dims = %d %d %d %d", tasks, n, m, d)
	}
	var nilR *BiasReg
	if err := nilR.Validate(); !errors.Is(err, ErrMissing) {
		t.Errorf("nil: %v", err)
	}
	for _, c := range []struct {
		name   string
		modify func(r *BiasReg)
		kind   error
		array  string
		want   string
	}{
		{"no tasks", func(r *BiasReg) { r.X, r.Y, r.XVal, r.YVal = nil, nil, nil, nil }, ErrShape, "X", "X has no tasks"},
		{"y tasks", func(r *BiasReg) { r.Y = r.Y[:1] }, ErrShape, "y", "y has 1 tasks, X has 2"},
		{"X_val tasks", func(r *BiasReg) { r.XVal = append(r.XVal, r.XVal[0]) }, ErrShape, "X_val", "X_val has 3 tasks"},
		{"y_val tasks", func(r *BiasReg) { r.YVal = r.YVal[:1] }, ErrShape, "y_val", "y_val has 1 tasks"},
		{"nil task", func(r *BiasReg) { r.X[1] = nil }, ErrMissing, "X", "X[1] is nil"},
		{"bad task data", func(r *BiasReg) { r.X[1].Data = r.X[1].Data[1:] }, ErrShape, "X", "X[1] has 5 values"},
		{"CSR task", func(r *BiasReg) { r.XVal[0] = NewCSR(2, 2, []int{0, 1, 2}, []int{0, 1}, []float64{1, 1}) }, ErrShape, "X_val", "X_val[0] is stored as CSR"},
		{"empty task", func(r *BiasReg) { r.X[0] = NewDense(0, 2, nil) }, ErrShape, "X", "X[0] is 0×2"},
		{"rows differ", func(r *BiasReg) { r.X[1] = NewDense(2, 2, make([]float64, 4)) }, ErrShape, "X", "X[1] is 2×2, but X[0] is 3×2"},
		{"cols differ", func(r *BiasReg) { r.XVal[1] = NewDense(2, 3, make([]float64, 6)) }, ErrShape, "X_val", "X_val[1] is 2×3"},
		{"short y", func(r *BiasReg) { r.Y[1] = r.Y[1][:2] }, ErrShape, "y", "y[1] has length 2, want 3"},
		{"long y_val", func(r *BiasReg) { r.YVal[0] = append(r.YVal[0], 1) }, ErrShape, "y_val", "y_val[0] has length 3, want 2"},
		{"lambda", func(r *BiasReg) { r.Lambda = r.Lambda[:1] }, ErrShape, "lambda", "lambda has length 1, want d = 2"},
		{"rho 0", func(r *BiasReg) { r.Rho = 0 }, ErrOption, "rho", "rho = 0"},
		{"rho negative", func(r *BiasReg) { r.Rho = -1 }, ErrOption, "rho", "rho = -1"},
		{"rho NaN", func(r *BiasReg) { r.Rho = math.NaN() }, ErrNonFinite, "rho", "rho = NaN"},
		{"rho Inf", func(r *BiasReg) { r.Rho = math.Inf(1) }, ErrNonFinite, "rho", "rho = +Inf"},
		{"NaN X", func(r *BiasReg) { r.X[1].Data[3] = math.NaN() }, ErrNonFinite, "X", "X[1] contains NaN at (1, 1)"},
		{"Inf X_val", func(r *BiasReg) { r.XVal[0].Data[0] = math.Inf(-1) }, ErrNonFinite, "X_val", "X_val[0] contains -Inf"},
		{"NaN y", func(r *BiasReg) { r.Y[0][2] = math.NaN() }, ErrNonFinite, "y", "y[0] contains NaN at index 2"},
		{"Inf y_val", func(r *BiasReg) { r.YVal[1][0] = math.Inf(1) }, ErrNonFinite, "y_val", "y_val[1] contains +Inf"},
		{"NaN lambda", func(r *BiasReg) { r.Lambda[1] = math.NaN() }, ErrNonFinite, "lambda", "lambda contains NaN"},
	} {
		r := smallBiasReg()
		c.modify(r)
		err := r.Validate()
		var e *Error
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || !errors.As(err, &e) || e.Array != c.array {
			t.Errorf("%s: Validate = %v (array %q); want %v containing %q, array %q", c.name, err, e.Array, c.kind, c.want, c.array)
		}
	}
}

func TestBiasRegFiles(t *testing.T) {
	dir := t.TempDir()
	r := smallBiasReg()
	path := filepath.Join(dir, "b.npz")
	if err := SaveBiasReg(path, r); err != nil {
		t.Fatal(err)
	}
	got, err := LoadBiasReg(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBiasReg(got, r) {
		t.Errorf("round trip: got %+v, want %+v", got, r)
	}
	// The arrays numpy sees: X is T×n×d, rho a 0-d scalar.
	a, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, shape := range map[string][]int{"X": {2, 3, 2}, "y": {2, 3}, "X_val": {2, 2, 2}, "y_val": {2, 2}, "lambda": {2}, "rho": {}} {
		arr, err := a.Array(name)
		if err != nil || fmt.Sprint(arr.Shape) != fmt.Sprint(shape) || arr.DType != "<f8" {
			t.Errorf("%s: %v, shape %v dtype %q; want %v <f8", name, err, arr.Shape, arr.DType, shape)
		}
	}
	a.Close()

	// Hand-written files: rho given, and omitted (default 1).
	got, err = LoadBiasReg(writeNPZTest(t, 0, biasRegEntries(nil)...))
	if err != nil || !sameBiasReg(got, r) {
		t.Errorf("hand-written file: %v", err)
	}
	got, err = LoadBiasReg(writeNPZTest(t, 0, biasRegEntries(map[string]any{"rho": nil})...))
	if err != nil || got.Rho != DefaultBiasRegRho {
		t.Errorf("no rho: %v, ρ = %v", err, got)
	}
	// A Fortran-order X (element (t, i, j) at t + T·(i + n·j)) and int targets.
	xf := make([]float64, 12)
	for ti, x := range r.X {
		for i := range 3 {
			for j := range 2 {
				xf[ti+2*(i+3*j)] = x.At(i, j)
			}
		}
	}
	got, err = LoadBiasReg(writeNPZTest(t, zip.Deflate, biasRegEntries(map[string]any{
		"X": rawNPY("'<f8'", true, "(2, 3, 2)", leBytes(xf)), "y_val": rawNPY("'<i8'", false, "(2, 2)", leBytes([]int64{1, 0, -3, 2})),
	})...))
	if err != nil || !sameFloats(got.X[0].Data, r.X[0].Data) || !sameFloats(got.X[1].Data, r.X[1].Data) || !sameFloats(got.YVal[1], []float64{-3, 2}) {
		t.Errorf("Fortran X, int y_val: %v", err)
	}
	got, err = LoadBiasReg(writeNPZTest(t, 0, biasRegEntries(map[string]any{"rho": []float64{2}})...))
	if err != nil || got.Rho != 2 {
		t.Errorf("rho of length 1: %v", err)
	}

	x24 := raw3([]int{2, 4, 2}, make([]float64, 16))
	for _, c := range []struct {
		name    string
		replace map[string]any
		kind    error
		array   string
		want    string
	}{
		{"missing X", map[string]any{"X": nil}, ErrMissing, "X", `missing array "X"`},
		{"missing y_val", map[string]any{"y_val": nil}, ErrMissing, "y_val", `missing array "y_val"`},
		{"missing lambda", map[string]any{"lambda": nil}, ErrMissing, "lambda", `missing array "lambda"`},
		{"X with 2 dims", map[string]any{"X": mat.NewDense(6, 2, make([]float64, 12))}, ErrShape, "X", "X has 2 dimensions (shape (6, 2)); want 3"},
		{"X_val with 4 dims", map[string]any{"X_val": raw3([]int{2, 2, 2, 1}, make([]float64, 8))}, ErrShape, "X_val", "X_val has 4 dimensions"},
		{"y with 3 dims", map[string]any{"y": raw3([]int{2, 3, 1}, make([]float64, 6))}, ErrShape, "y", "y has 3 dimensions"},
		{"y 1-D", map[string]any{"y": make([]float64, 6)}, ErrShape, "y", "y has 1 dimension (shape (6,))"},
		{"y tasks disagree", map[string]any{"y": mat.NewDense(3, 2, make([]float64, 6))}, ErrShape, "y", "y has shape (3, 2), X has (2, 3, 2)"},
		{"y rows disagree", map[string]any{"X": x24}, ErrShape, "y", "want (T, n) = (2, 4)"},
		{"X_val tasks disagree", map[string]any{"X_val": raw3([]int{3, 2, 2}, make([]float64, 12))}, ErrShape, "X_val", "X_val has shape (3, 2, 2)"},
		{"X_val features disagree", map[string]any{"X_val": raw3([]int{2, 2, 3}, make([]float64, 12))}, ErrShape, "X_val", "d = 2"},
		{"y_val disagrees", map[string]any{"y_val": mat.NewDense(2, 3, make([]float64, 6))}, ErrShape, "y_val", "y_val has shape (2, 3)"},
		{"lambda length", map[string]any{"lambda": []float64{1, 2, 3}}, ErrShape, "lambda", "lambda has length 3, want d = 2"},
		{"lambda matrix", map[string]any{"lambda": mat.NewDense(1, 2, []float64{1, 2})}, ErrShape, "lambda", "want 1 (a vector)"},
		{"rho vector", map[string]any{"rho": []float64{1, 2}}, ErrShape, "rho", "rho has 2 values; want a scalar"},
		{"rho zero", map[string]any{"rho": []float64{0}}, ErrOption, "rho", "rho = 0"},
		{"rho NaN", map[string]any{"rho": []float64{math.NaN()}}, ErrNonFinite, "rho", "rho = NaN"},
		{"NaN X", map[string]any{"X": raw3([]int{2, 3, 2}, []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, math.NaN(), 0, 0})}, ErrNonFinite, "X", "X[1] contains NaN at (1, 1)"},
		{"no tasks", map[string]any{"X": raw3([]int{0, 3, 2}, nil), "y": raw3([]int{0, 3}, nil), "X_val": raw3([]int{0, 2, 2}, nil), "y_val": raw3([]int{0, 2}, nil)},
			ErrShape, "X", "want at least 1 task"},
		{"no features", map[string]any{"X": raw3([]int{2, 3, 0}, nil), "X_val": raw3([]int{2, 2, 0}, nil), "lambda": raw3([]int{0}, nil)}, ErrShape, "X", "want at least 1 task, row and feature"},
	} {
		path := writeNPZTest(t, 0, biasRegEntries(c.replace)...)
		_, err := LoadBiasReg(path)
		var de *Error
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || !errors.As(err, &de) || de.Path != path || de.Array != c.array {
			t.Errorf("%s: LoadBiasReg = %v; want %v containing %q, the path and array %q", c.name, err, c.kind, c.want, c.array)
		}
	}

	// The memory budget: the arrays, and the vectors of length T·d.
	if _, err := (Limits{MaxBytes: 100}).LoadBiasReg(path); !errors.Is(err, ErrTooLarge) {
		t.Errorf("100-byte budget: %v; want ErrTooLarge", err)
	}
	if _, err := (Limits{MaxBytes: 8*16*4 - 1 + 8*12}).LoadBiasReg(path); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "T·d") {
		t.Errorf("budget below the work vectors: %v; want ErrTooLarge naming T·d", err)
	}
	if _, err := (Limits{MaxBytes: 1 << 20}).LoadBiasReg(path); err != nil {
		t.Errorf("1 MiB budget: %v", err)
	}
	if _, err := (Limits{MaxBytes: -1}).LoadBiasReg(path); !errors.Is(err, ErrOption) {
		t.Errorf("negative budget: %v", err)
	}

	bad := smallBiasReg()
	bad.Rho = -2
	if err := SaveBiasReg(filepath.Join(dir, "bad.npz"), bad); !errors.Is(err, ErrOption) {
		t.Errorf("SaveBiasReg(ρ < 0) = %v; want ErrOption", err)
	}
	if err := SaveBiasReg(filepath.Join(dir, "nil.npz"), nil); !errors.Is(err, ErrMissing) {
		t.Errorf("SaveBiasReg(nil) = %v; want ErrMissing", err)
	}
	if err := SaveBiasReg(filepath.Join(dir, "no-such-dir", "x.npz"), r); !errors.Is(err, ErrFormat) {
		t.Errorf("SaveBiasReg(bad path) = %v; want ErrFormat", err)
	}
}

func TestSynthBiasReg(t *testing.T) {
	o := BiasRegOptions{T: 4, N: 12, M: 7, D: 3, Noise: 0.1, Rho: 2, Spread: 0.4, Lambda: 0.25, Seed: 3}
	r, err := SynthBiasReg(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if tasks, n, m, d := r.Dims(); tasks != 4 || n != 12 || m != 7 || d != 3 || r.Rho != 2 {
		t.Fatalf("dims %d %d %d %d, ρ %v", tasks, n, m, d, r.Rho)
	}
	for _, l := range r.Lambda {
		if l != 0.25 {
			t.Fatalf("lambda = %v, want 0.25 everywhere", r.Lambda)
		}
	}

	// Deterministic; the seed matters; more tasks and rows keep the first.
	again, _ := SynthBiasReg(o)
	if !sameBiasReg(again, r) {
		t.Error("two runs with the same options differ")
	}
	o2 := o
	o2.Seed = 4
	if other, _ := SynthBiasReg(o2); sameFloats(other.X[0].Data, r.X[0].Data) || sameFloats(other.Y[2], r.Y[2]) {
		t.Error("seed 4 gives the data of seed 3")
	}
	o3 := o
	o3.T, o3.N = 6, 20
	bigger, _ := SynthBiasReg(o3)
	for ti := range 4 {
		if !sameFloats(bigger.X[ti].Data[:12*3], r.X[ti].Data) || !sameFloats(bigger.Y[ti][:12], r.Y[ti]) || !sameFloats(bigger.XVal[ti].Data, r.XVal[ti].Data) {
			t.Errorf("T = 6, N = 20 changes task %d's first rows", ti)
		}
	}

	// Without noise and spread every task has the same weights w̄: the
	// least-squares solutions of the tasks agree, exactly up to rounding.
	exact, err := SynthBiasReg(BiasRegOptions{T: 3, N: 8, M: 2, D: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	var first []float64
	for ti := range 3 {
		var w mat.VecDense
		if err := w.SolveVec(mat.NewDense(8, 3, exact.X[ti].Data), mat.NewVecDense(8, exact.Y[ti])); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = w.RawVector().Data
			continue
		}
		for j, v := range w.RawVector().Data {
			if math.Abs(v-first[j]) > 1e-12 {
				t.Errorf("noise-free task %d: weights %v, task 0 %v", ti, w.RawVector().Data, first)
				break
			}
		}
	}
	// With spread the tasks differ.
	spread, _ := SynthBiasReg(BiasRegOptions{T: 2, N: 8, M: 2, D: 3, Spread: 1, Seed: 5})
	var w0, w1 mat.VecDense
	_ = w0.SolveVec(mat.NewDense(8, 3, spread.X[0].Data), mat.NewVecDense(8, spread.Y[0]))
	_ = w1.SolveVec(mat.NewDense(8, 3, spread.X[1].Data), mat.NewVecDense(8, spread.Y[1]))
	if mat.EqualApprox(&w0, &w1, 0.1) {
		t.Errorf("spread 1: task weights %v and %v agree", w0.RawVector().Data, w1.RawVector().Data)
	}

	d, err := SynthBiasReg(DefaultBiasRegOptions())
	if err != nil {
		t.Fatal(err)
	}
	if tasks, n, m, dd := d.Dims(); tasks != 10 || n != 20 || m != 20 || dd != 10 || d.Rho != 1 {
		t.Errorf("defaults: %d %d %d %d ρ %v", tasks, n, m, dd, d.Rho)
	}
	z, err := SynthBiasReg(BiasRegOptions{})
	if err != nil || !sameBiasReg(z, func() *BiasReg {
		o := DefaultBiasRegOptions()
		o.Noise, o.Spread = 0, 0
		r, _ := SynthBiasReg(o)
		return r
	}()) {
		t.Errorf("zero options: %v, or not the defaults with Noise = Spread = 0", err)
	}
	for _, c := range []struct {
		o    BiasRegOptions
		want string
	}{
		{BiasRegOptions{T: -1}, "tasks = -1"},
		{BiasRegOptions{N: -1}, "n = -1"},
		{BiasRegOptions{M: -2}, "m = -2"},
		{BiasRegOptions{D: -3}, "d = -3"},
		{BiasRegOptions{Noise: -0.1}, "noise = -0.1"},
		{BiasRegOptions{Noise: math.NaN()}, "noise = NaN"},
		{BiasRegOptions{Spread: math.Inf(1)}, "spread = +Inf"},
		{BiasRegOptions{Rho: -1}, "rho = -1"},
		{BiasRegOptions{Lambda: math.NaN()}, "lambda = NaN"},
		{BiasRegOptions{T: 1 << 20, N: 1 << 20, D: 1 << 20}, "GiB"},
	} {
		if _, err := SynthBiasReg(c.o); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SynthBiasReg(%+v) = %v; want ErrOption containing %q", c.o, err, c.want)
		}
	}
}
