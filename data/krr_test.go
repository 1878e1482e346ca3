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

// smallKRR returns a valid problem with n = 4, m = 3, p = 2.
func smallKRR() *KRR {
	return &KRR{
		XTrain: NewDense(4, 2, []float64{0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8}),
		YTrain: []float64{1, -1, 0.5, 2},
		XVal:   NewDense(3, 2, []float64{0, 1, -1, 0, 0.25, 0.75}),
		YVal:   []float64{0.3, -0.2, 0.1},
		Lambda: []float64{math.Log(0.1), math.Log(0.5)},
	}
}

// krrEntries returns the members of smallKRR's file with the named members
// replaced or removed (nil removes).
func krrEntries(replace map[string]any) []entry {
	k := smallKRR()
	es := []entry{
		{"X_train", mat.NewDense(4, 2, k.XTrain.Data)},
		{"y_train", k.YTrain},
		{"X_val", mat.NewDense(3, 2, k.XVal.Data)},
		{"y_val", k.YVal},
		{"lambda", k.Lambda},
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

func sameKRR(a, b *KRR) bool {
	return a.XTrain.Rows == b.XTrain.Rows && a.XTrain.Cols == b.XTrain.Cols && a.XVal.Rows == b.XVal.Rows &&
		!a.XTrain.IsCSR() && !b.XTrain.IsCSR() &&
		sameFloats(a.XTrain.Data, b.XTrain.Data) && sameFloats(a.XVal.Data, b.XVal.Data) &&
		sameFloats(a.YTrain, b.YTrain) && sameFloats(a.YVal, b.YVal) && sameFloats(a.Lambda, b.Lambda)
}

func TestKRRValidate(t *testing.T) {
	if err := smallKRR().Validate(); err != nil {
		t.Fatal(err)
	}
	if n, m, p := smallKRR().Dims(); n != 4 || m != 3 || p != 2 {
		t.Fatalf("Dims = %d %d %d", n, m, p)
	}
	for _, c := range []struct {
		name   string
		modify func(k *KRR)
		kind   error
		want   string
	}{
		{"nil X_train", func(k *KRR) { k.XTrain = nil }, ErrMissing, "X_train is nil"},
		{"nil X_val", func(k *KRR) { k.XVal = nil }, ErrMissing, "X_val is nil"},
		{"CSR X_train", func(k *KRR) {
			k.XTrain = NewCSR(4, 2, []int{0, 1, 2, 2, 3}, []int{0, 1, 0}, []float64{1, 2, 3})
		}, ErrShape, "X_train is stored as CSR"},
		{"CSR X_val", func(k *KRR) { k.XVal = NewCSR(3, 2, []int{0, 0, 1, 1}, []int{1}, []float64{1}) }, ErrShape, "X_val is stored as CSR"},
		{"bad data length", func(k *KRR) { k.XTrain.Data = k.XTrain.Data[:7] }, ErrShape, "X_train has 7 values"},
		{"empty X_train", func(k *KRR) { k.XTrain = NewDense(0, 2, nil); k.YTrain = nil }, ErrShape, "X_train is 0×2"},
		{"no features", func(k *KRR) { k.XTrain = NewDense(4, 0, nil); k.XVal = NewDense(3, 0, nil) }, ErrShape, "X_train is 4×0"},
		{"empty X_val", func(k *KRR) { k.XVal = NewDense(0, 2, nil); k.YVal = nil }, ErrShape, "X_val has no rows"},
		{"X_val cols", func(k *KRR) { k.XVal = NewDense(3, 3, make([]float64, 9)) }, ErrShape, "X_val has 3 columns, X_train has 2"},
		{"short y_train", func(k *KRR) { k.YTrain = k.YTrain[1:] }, ErrShape, "y_train has length 3"},
		{"long y_val", func(k *KRR) { k.YVal = append(k.YVal, 1) }, ErrShape, "y_val has length 4"},
		{"lambda 1", func(k *KRR) { k.Lambda = k.Lambda[:1] }, ErrShape, "lambda has length 1; want 2"},
		{"lambda 3", func(k *KRR) { k.Lambda = append(k.Lambda, 0) }, ErrShape, "lambda has length 3"},
		{"NaN X_train", func(k *KRR) { k.XTrain.Data[3] = math.NaN() }, ErrNonFinite, "X_train contains NaN at (1, 1)"},
		{"Inf X_val", func(k *KRR) { k.XVal.Data[4] = math.Inf(1) }, ErrNonFinite, "X_val contains +Inf at (2, 0)"},
		{"NaN y_train", func(k *KRR) { k.YTrain[2] = math.NaN() }, ErrNonFinite, "y_train contains NaN at index 2"},
		{"Inf y_val", func(k *KRR) { k.YVal[0] = math.Inf(-1) }, ErrNonFinite, "y_val contains -Inf at index 0"},
		{"NaN lambda", func(k *KRR) { k.Lambda[1] = math.NaN() }, ErrNonFinite, "lambda contains NaN at index 1"},
	} {
		k := smallKRR()
		c.modify(k)
		err := k.Validate()
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v; want %v containing %q", c.name, err, c.kind, c.want)
		}
	}
}

func TestKRRFiles(t *testing.T) {
	dir := t.TempDir()
	k := smallKRR()
	path := filepath.Join(dir, "k.npz")
	if err := SaveKRR(path, k); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKRR(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameKRR(got, k) {
		t.Errorf("round trip: got %+v, want %+v", got, k)
	}
	// A file written by numpy-style members loads the same.
	if got, err := LoadKRR(writeNPZTest(t, 0, krrEntries(nil)...)); err != nil || !sameKRR(got, k) {
		t.Errorf("numpy members: %v", err)
	}

	bad := func(r, c int) *mat.Dense { return mat.NewDense(r, c, make([]float64, r*c)) }
	csr := map[string]any{
		"X_train":         nil,
		"X_train_data":    []float64{1, 2},
		"X_train_indices": []int64{0, 1},
		"X_train_indptr":  []int64{0, 1, 2, 2, 2},
		"X_train_shape":   []int64{4, 2},
	}
	csrEntries := krrEntries(map[string]any{"X_train": nil})
	for _, name := range []string{"X_train_data", "X_train_indices", "X_train_indptr", "X_train_shape"} {
		csrEntries = append(csrEntries, entry{name, csr[name]})
	}
	for _, c := range []struct {
		name    string
		entries []entry
		kind    error
		want    string
	}{
		{"missing y_val", krrEntries(map[string]any{"y_val": nil}), ErrMissing, `missing array "y_val"`},
		{"missing X_train", krrEntries(map[string]any{"X_train": nil}), ErrMissing, `missing array "X_train"`},
		{"missing lambda", krrEntries(map[string]any{"lambda": nil}), ErrMissing, `missing array "lambda"`},
		{"CSR X_train", csrEntries, ErrShape, "X_train is stored as CSR"},
		{"X_val columns", krrEntries(map[string]any{"X_val": bad(3, 3)}), ErrShape, "X_val has 3 columns"},
		{"X_train vector", krrEntries(map[string]any{"X_train": []float64{1, 2, 3, 4}}), ErrShape, "want 2 (a matrix)"},
		{"y_train matrix", krrEntries(map[string]any{"y_train": bad(4, 2)}), ErrShape, "want 1 (a vector)"},
		{"short y_train", krrEntries(map[string]any{"y_train": []float64{1, 2}}), ErrShape, "y_train has length 2"},
		{"lambda length", krrEntries(map[string]any{"lambda": []float64{1, 2, 3}}), ErrShape, "lambda has length 3"},
		{"NaN y_val", krrEntries(map[string]any{"y_val": []float64{0, math.NaN(), 1}}), ErrNonFinite, "y_val contains NaN"},
		{"Inf X_val", krrEntries(map[string]any{"X_val": mat.NewDense(3, 2, []float64{0, 1, 2, math.Inf(1), 4, 5})}), ErrNonFinite, "X_val contains +Inf"},
	} {
		path := writeNPZTest(t, 0, c.entries...)
		_, err := LoadKRR(path)
		var de *Error
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || !errors.As(err, &de) || de.Path != path {
			t.Errorf("%s: LoadKRR = %v; want %v containing %q and the path", c.name, err, c.kind, c.want)
		}
	}

	// Not an archive; a truncated one.
	for _, c := range []struct{ name, content string }{{"text", "not a zip"}, {"empty", ""}} {
		p := filepath.Join(dir, c.name+".npz")
		if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKRR(p); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: LoadKRR = %v; want ErrFormat", c.name, err)
		}
	}
	full := npzBytes(t, 0, krrEntries(nil)...)
	p := filepath.Join(dir, "cut.npz")
	if err := os.WriteFile(p, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKRR(p); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated: LoadKRR = %v; want ErrFormat", err)
	}

	// The kernel is charged to the budget: the arrays of the file take
	// 8·(8 + 4 + 6 + 3 + 2) = 184 bytes, the kernel 24·(16 + 12) = 672.
	if KRRKernelBytes(4, 3) != 672 {
		t.Fatalf("KRRKernelBytes(4, 3) = %d, want 672", KRRKernelBytes(4, 3))
	}
	if _, err := (Limits{MaxBytes: 184 + 672}).LoadKRR(path); err != nil {
		t.Errorf("budget that fits: %v", err)
	}
	_, err = (Limits{MaxBytes: 600}).LoadKRR(path)
	var de *Error
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "kernel matrices of 4 training and 3 validation rows") ||
		!errors.As(err, &de) || de.Path != path || de.Array != "X_train" {
		t.Errorf("budget without room for the kernel: %v; want ErrTooLarge naming the kernel", err)
	}
	if _, err := (Limits{MaxBytes: -1}).LoadKRR(path); !errors.Is(err, ErrOption) {
		t.Errorf("negative budget: %v", err)
	}

	bk := smallKRR()
	bk.Lambda = nil
	if err := SaveKRR(filepath.Join(dir, "bad.npz"), bk); !errors.Is(err, ErrShape) {
		t.Errorf("SaveKRR(bad lambda) = %v; want ErrShape", err)
	}
	if err := SaveKRR(filepath.Join(dir, "nil.npz"), nil); !errors.Is(err, ErrMissing) {
		t.Errorf("SaveKRR(nil) = %v; want ErrMissing", err)
	}
}

func TestKRRKernelBytes(t *testing.T) {
	for _, c := range []struct {
		n, m int
		want int64
	}{{0, 0, 0}, {1, 0, 24}, {10, 5, 24 * 150}, {-1, 3, 0}, {1 << 40, 1 << 40, math.MaxInt64}, {1 << 31, 0, math.MaxInt64}} {
		if got := KRRKernelBytes(c.n, c.m); got != c.want {
			t.Errorf("KRRKernelBytes(%d, %d) = %d, want %d", c.n, c.m, got, c.want)
		}
	}
}

func TestSynthKRR(t *testing.T) {
	o := KRROptions{N: 300, M: 40, D: 3, Noise: 0.05, Rho: 0.2, Gamma: 0.3, Seed: 3}
	k, err := SynthKRR(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	if n, m, p := k.Dims(); n != 300 || m != 40 || p != 3 {
		t.Fatalf("dims %d %d %d", n, m, p)
	}
	if k.Lambda[0] != math.Log(0.2) || k.Lambda[1] != math.Log(0.3) {
		t.Errorf("lambda = %v", k.Lambda)
	}
	// The targets are a smooth function (|f| ≤ √3) plus small noise; the
	// inputs are standard normal.
	var sx, sxx float64
	for _, v := range k.XTrain.Data {
		sx += v
		sxx += v * v
	}
	nx := float64(len(k.XTrain.Data))
	if mean, vr := sx/nx, sxx/nx-(sx/nx)*(sx/nx); math.Abs(mean) > 0.15 || math.Abs(vr-1) > 0.15 {
		t.Errorf("inputs: mean %v, variance %v", mean, vr)
	}
	var yy float64
	for _, y := range k.YTrain {
		if math.Abs(y) > math.Sqrt(3)+0.5 {
			t.Fatalf("target %v beyond √3 + 10 noise deviations", y)
		}
		yy += y * y
	}
	if yy/300 < 0.05 {
		t.Errorf("targets nearly zero: mean square %v", yy/300)
	}

	again, _ := SynthKRR(o)
	if !sameKRR(again, k) {
		t.Error("two runs with the same options differ")
	}
	o2 := o
	o2.Seed = 4
	if other, _ := SynthKRR(o2); sameFloats(other.XTrain.Data, k.XTrain.Data) || sameFloats(other.YTrain, k.YTrain) {
		t.Error("seed 4 gives the data of seed 3")
	}
	o3 := o
	o3.N, o3.M = 600, 80
	longer, _ := SynthKRR(o3)
	if !sameFloats(longer.XTrain.Data[:300*3], k.XTrain.Data) || !sameFloats(longer.YTrain[:300], k.YTrain) ||
		!sameFloats(longer.XVal.Data[:40*3], k.XVal.Data) {
		t.Error("more rows change the first rows")
	}
	o4 := o
	o4.Noise = 0.5
	noisier, _ := SynthKRR(o4)
	if !sameFloats(noisier.XTrain.Data, k.XTrain.Data) || sameFloats(noisier.YTrain, k.YTrain) {
		t.Error("the noise level changes the inputs, or not the targets")
	}

	d, err := SynthKRR(DefaultKRROptions())
	if err != nil {
		t.Fatal(err)
	}
	z, err := SynthKRR(KRROptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !sameFloats(z.XTrain.Data, d.XTrain.Data) || !sameFloats(z.Lambda, d.Lambda) || sameFloats(z.YTrain, d.YTrain) {
		t.Error("KRROptions{} differs from the defaults in other than the noise")
	}
	// Noise 0: the targets are the smooth function itself, |f| ≤ √3.
	for _, y := range z.YTrain {
		if math.Abs(y) > math.Sqrt(3) {
			t.Fatalf("noiseless target %v beyond √3", y)
		}
	}
	if n, m, p := d.Dims(); n != 200 || m != 100 || p != 5 {
		t.Errorf("defaults: %d %d %d", n, m, p)
	}
	if d.Lambda[0] != math.Log(0.1) || d.Lambda[1] != math.Log(0.1) {
		t.Errorf("default lambda = %v, want (log 0.1, log 1/(2·5))", d.Lambda)
	}
	for _, c := range []struct {
		o    KRROptions
		want string
	}{
		{KRROptions{N: -1}, "n = -1"},
		{KRROptions{M: -2}, "m = -2"},
		{KRROptions{D: -1}, "d = -1"},
		{KRROptions{Noise: -0.1}, "noise = -0.1"},
		{KRROptions{Noise: math.NaN()}, "noise = NaN"},
		{KRROptions{Rho: math.NaN()}, "rho = NaN"},
		{KRROptions{Gamma: math.Inf(1)}, "gamma = +Inf"},
		{KRROptions{N: 1 << 20}, "more than the 16 GiB"},
	} {
		if _, err := SynthKRR(c.o); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SynthKRR(%+v) = %v; want ErrOption containing %q", c.o, err, c.want)
		}
	}
}
