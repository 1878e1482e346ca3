package data

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// smallEquilibrium returns a valid 5×3 problem with k = 2, C = 3.
func smallEquilibrium() *Equilibrium {
	return &Equilibrium{
		X:    NewDense(5, 3, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 0, 0.5, 0.25, 0.75, 0}),
		Y:    []int{0, 2, 1, 1, 0},
		A:    NewDense(2, 2, []float64{0.5, -0.1, 0.2, 0.3}),
		B:    NewDense(3, 2, []float64{1, 2, 3, 4, 5, 6}),
		Bias: []float64{0.01, -0.02},
		Wo:   NewDense(2, 3, []float64{1, -1, 0.5, 0.25, 2, -3}),
		Bo:   []float64{0.1, 0.2, 0.3},
	}
}

// equilibriumEntries returns the members of smallEquilibrium's file with
// the named members replaced or removed (nil removes).
func equilibriumEntries(replace map[string]any) []entry {
	e := smallEquilibrium()
	es := []entry{
		{"X", mat.NewDense(5, 3, e.X.Data)},
		{"y", []int64{0, 2, 1, 1, 0}},
		{"A", mat.NewDense(2, 2, e.A.Data)},
		{"B", mat.NewDense(3, 2, e.B.Data)},
		{"bias", e.Bias},
		{"Wo", mat.NewDense(2, 3, e.Wo.Data)},
		{"bo", e.Bo},
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

func sameEquilibrium(a, b *Equilibrium) bool {
	if len(a.Y) != len(b.Y) {
		return false
	}
	for i := range a.Y {
		if a.Y[i] != b.Y[i] {
			return false
		}
	}
	x, y := a.X.ToDense(), b.X.ToDense()
	return x.Rows == y.Rows && x.Cols == y.Cols && sameFloats(x.Data, y.Data) && sameFloats(a.Lambda(), b.Lambda()) &&
		a.A.Rows == b.A.Rows && a.B.Rows == b.B.Rows && a.Wo.Cols == b.Wo.Cols
}

func TestEquilibriumLambda(t *testing.T) {
	e := smallEquilibrium()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	n, p, k, c := e.Dims()
	if n != 5 || p != 3 || k != 2 || c != 3 || e.HyperDim() != 4+6+2+6+3 {
		t.Fatalf("dims %d %d %d %d, h = %d", n, p, k, c, e.HyperDim())
	}
	want := []float64{0.5, -0.1, 0.2, 0.3, 1, 2, 3, 4, 5, 6, 0.01, -0.02, 1, -1, 0.5, 0.25, 2, -3, 0.1, 0.2, 0.3}
	l := e.Lambda()
	if !sameFloats(l, want) {
		t.Fatalf("Lambda = %v, want %v", l, want)
	}
	for i := range l {
		l[i] = float64(i) - 0.5
	}
	old := e.A
	if err := e.SetLambda(l); err != nil {
		t.Fatal(err)
	}
	if !sameFloats(e.Lambda(), l) || old.Data[0] != 0.5 {
		t.Errorf("SetLambda: Lambda = %v; old A = %v", e.Lambda(), old.Data)
	}
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
	if err := e.SetLambda(l[1:]); !errors.Is(err, ErrShape) {
		t.Errorf("SetLambda(short) = %v; want ErrShape", err)
	}
	l[3] = math.Inf(1)
	if err := e.SetLambda(l); !errors.Is(err, ErrNonFinite) {
		t.Errorf("SetLambda(Inf) = %v; want ErrNonFinite", err)
	}
}

func TestEquilibriumValidate(t *testing.T) {
	for _, c := range []struct {
		name   string
		modify func(e *Equilibrium)
		kind   error
		want   string
	}{
		{"nil X", func(e *Equilibrium) { e.X = nil }, ErrMissing, "X is nil"},
		{"empty X", func(e *Equilibrium) { e.X = NewDense(0, 3, nil); e.Y = nil }, ErrShape, "X is 0×3"},
		{"nil A", func(e *Equilibrium) { e.A = nil }, ErrMissing, "A is nil"},
		{"CSR A", func(e *Equilibrium) { e.A = NewCSR(2, 2, []int{0, 1, 2}, []int{0, 1}, []float64{1, 1}) }, ErrShape, "must be dense"},
		{"short y", func(e *Equilibrium) { e.Y = e.Y[1:] }, ErrShape, "y has length 4"},
		{"non-square A", func(e *Equilibrium) { e.A = NewDense(2, 3, make([]float64, 6)) }, ErrShape, "square"},
		{"B rows", func(e *Equilibrium) { e.B = NewDense(2, 2, make([]float64, 4)) }, ErrShape, "B has 2 rows"},
		{"B cols", func(e *Equilibrium) { e.B = NewDense(3, 1, make([]float64, 3)) }, ErrShape, "B has 1 columns"},
		{"bias", func(e *Equilibrium) { e.Bias = e.Bias[:1] }, ErrShape, "bias has length 1"},
		{"Wo rows", func(e *Equilibrium) { e.Wo = NewDense(3, 3, make([]float64, 9)) }, ErrShape, "Wo has 3 rows"},
		{"bo", func(e *Equilibrium) { e.Bo = e.Bo[:2] }, ErrShape, "bo has length 2"},
		{"empty Wo", func(e *Equilibrium) { e.Wo = NewDense(2, 0, nil); e.Bo = nil }, ErrShape, "Wo is 2×0"},
		{"NaN X", func(e *Equilibrium) { e.X.Data[4] = math.NaN() }, ErrNonFinite, "X contains NaN at (1, 1)"},
		{"Inf A", func(e *Equilibrium) { e.A.Data[1] = math.Inf(-1) }, ErrNonFinite, "A contains -Inf"},
		{"NaN bo", func(e *Equilibrium) { e.Bo[2] = math.NaN() }, ErrNonFinite, "bo contains NaN at index 2"},
		{"label high", func(e *Equilibrium) { e.Y[3] = 3 }, ErrLabels, "y[3] = 3"},
		{"label negative", func(e *Equilibrium) { e.Y[0] = -1 }, ErrLabels, "y[0] = -1"},
	} {
		e := smallEquilibrium()
		c.modify(e)
		err := e.Validate()
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v; want %v containing %q", c.name, err, c.kind, c.want)
		}
	}
}

func TestEquilibriumFiles(t *testing.T) {
	dir := t.TempDir()
	e := smallEquilibrium()
	path := filepath.Join(dir, "e.npz")
	if err := SaveEquilibrium(path, e); err != nil {
		t.Fatal(err)
	}
	got, err := LoadEquilibrium(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameEquilibrium(got, e) {
		t.Errorf("round trip: got %+v, want %+v", got, e)
	}

	// CSR inputs round-trip as CSR.
	c := smallEquilibrium()
	c.X = NewCSR(5, 3, []int{0, 2, 2, 3, 5, 6}, []int{0, 2, 1, 0, 1, 2}, []float64{0.1, 0.3, 0.8, 1, 0.5, 0.75})
	cpath := filepath.Join(dir, "c.npz")
	if err := SaveEquilibrium(cpath, c); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadEquilibrium(cpath); err != nil || !got.X.IsCSR() || !sameEquilibrium(got, c) {
		t.Errorf("CSR round trip: %v", err)
	}

	// Integer labels, and Load.
	ipath := writeNPZTest(t, 0, equilibriumEntries(nil)...)
	v, err := Load("equilibrium", ipath)
	if err != nil {
		t.Fatal(err)
	}
	if !sameEquilibrium(v.(*Equilibrium), e) {
		t.Errorf("int labels: got %+v", v)
	}

	bad := func(n int) *mat.Dense { return mat.NewDense(n, 2, make([]float64, 2*n)) }
	for _, c := range []struct {
		name    string
		replace map[string]any
		kind    error
		want    string
	}{
		{"missing bo", map[string]any{"bo": nil}, ErrMissing, `missing array "bo"`},
		{"missing X", map[string]any{"X": nil}, ErrMissing, `missing array "X"`},
		{"fractional label", map[string]any{"y": []float64{0, 2, 1.5, 1, 0}}, ErrLabels, "y[2] = 1.5"},
		{"negative label", map[string]any{"y": []int64{0, 2, 1, -1, 0}}, ErrLabels, "y[3] = -1"},
		{"label ≥ C", map[string]any{"y": []int64{0, 2, 1, 3, 0}}, ErrLabels, "y[3] = 3"},
		{"NaN label", map[string]any{"y": []float64{0, math.NaN(), 1, 1, 0}}, ErrNonFinite, "y contains NaN"},
		{"short y", map[string]any{"y": []int64{0, 1}}, ErrShape, "y has length 2, X has 5 rows"},
		{"y matrix", map[string]any{"y": bad(5)}, ErrShape, "want 1 (a vector)"},
		{"B shape", map[string]any{"B": bad(4)}, ErrShape, "B has 4 rows"},
	} {
		path := writeNPZTest(t, 0, equilibriumEntries(c.replace)...)
		_, err := LoadEquilibrium(path)
		var de *Error
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || !errors.As(err, &de) || de.Path != path {
			t.Errorf("%s: LoadEquilibrium = %v; want %v containing %q and the path", c.name, err, c.kind, c.want)
		}
	}
	bad5 := smallEquilibrium()
	bad5.Y[0] = 7
	if err := SaveEquilibrium(filepath.Join(dir, "bad.npz"), bad5); !errors.Is(err, ErrLabels) {
		t.Errorf("SaveEquilibrium(bad labels) = %v; want ErrLabels", err)
	}
	if err := SaveEquilibrium(filepath.Join(dir, "nil.npz"), nil); !errors.Is(err, ErrMissing) {
		t.Errorf("SaveEquilibrium(nil) = %v; want ErrMissing", err)
	}
}

func TestSynthEquilibrium(t *testing.T) {
	o := EquilibriumOptions{N: 300, P: 7, K: 5, C: 4, Q: 0.8, Seed: 3}
	e, err := SynthEquilibrium(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	n, p, k, c := e.Dims()
	if n != 300 || p != 7 || k != 5 || c != 4 {
		t.Fatalf("dims %d %d %d %d", n, p, k, c)
	}
	// ‖A‖₂ = q: the square root of the largest eigenvalue of AᵀA.
	var ata mat.SymDense
	ata.SymOuterK(1, mat.NewDense(k, k, e.A.Data).T())
	var eig mat.EigenSym
	if !eig.Factorize(&ata, false) {
		t.Fatal("eigendecomposition failed")
	}
	vals := eig.Values(nil)
	if q := math.Sqrt(vals[len(vals)-1]); math.Abs(q-0.8) > 1e-14 {
		t.Errorf("‖A‖₂ = %v, want 0.8", q)
	}
	counts := make([]int, c)
	for _, y := range e.Y {
		counts[y]++
	}
	for cl, m := range counts {
		if m < 300/c/2 {
			t.Errorf("class %d has %d of 300 rows", cl, m)
		}
	}
	for _, x := range e.X.Data {
		if x < 0 || x > 1 {
			t.Fatalf("input %v outside [0, 1]", x)
		}
	}
	for _, b := range e.Bo {
		if b != 0 {
			t.Fatalf("bo = %v, want 0", e.Bo)
		}
	}

	// Deterministic; the seed matters; a longer run keeps the first rows
	// and the parameters.
	again, _ := SynthEquilibrium(o)
	if !sameEquilibrium(again, e) {
		t.Error("two runs with the same options differ")
	}
	o2 := o
	o2.Seed = 4
	other, _ := SynthEquilibrium(o2)
	if sameFloats(other.X.Data, e.X.Data) || sameFloats(other.Lambda(), e.Lambda()) {
		t.Error("seed 4 gives the data of seed 3")
	}
	o3 := o
	o3.N = 600
	longer, _ := SynthEquilibrium(o3)
	if !sameFloats(longer.X.Data[:300*p], e.X.Data) || !sameFloats(longer.Lambda(), e.Lambda()) {
		t.Error("N = 600 changes the first 300 rows or the parameters")
	}

	d, err := SynthEquilibrium(EquilibriumOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, p, k, c := d.Dims(); n != 1000 || p != 20 || k != 20 || c != 10 {
		t.Errorf("defaults: %d %d %d %d", n, p, k, c)
	}
	for _, bad := range []EquilibriumOptions{{N: -1}, {K: -2}, {C: -1}, {P: -1}, {Q: 1.6}, {Q: -0.5}, {Q: math.NaN()}} {
		if _, err := SynthEquilibrium(bad); !errors.Is(err, ErrOption) {
			t.Errorf("SynthEquilibrium(%+v) = %v; want ErrOption", bad, err)
		}
	}
}

func TestParseSynthEquilibrium(t *testing.T) {
	s, ok, err := ParseSynth("synth:n=40,d=6,k=3,c=4,q=1.2,seed=5")
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if want := (EquilibriumOptions{N: 40, P: 6, K: 3, C: 4, Q: 1.2, Seed: 5}); s.Equilibrium != want {
		t.Errorf("equilibrium %+v, want %+v", s.Equilibrium, want)
	}
	if s, _, _ := ParseSynth("synth:"); s.Equilibrium != (EquilibriumOptions{}) {
		t.Errorf("defaults %+v", s.Equilibrium)
	}
	for _, c := range []struct{ spec, want string }{
		{"synth:k=0", "key k=0"},
		{"synth:c=0", "key c=0"},
		{"synth:c=2.5", "key c=2.5"},
		{"synth:q=0", "key q=0"},
		{"synth:q=1.51", "key q=1.51"},
		{"synth:q=-1", "key q=-1"},
		{"synth:q=nan", "key q=nan"},
		{"synth:q=x", "key q=x"},
	} {
		_, ok, err := ParseSynth(c.spec)
		if !ok || !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSynth(%q) = %v, %v; want an error containing %q", c.spec, ok, err, c.want)
		}
	}

	v, err := Load("equilibrium", "synth:n=40,d=6,k=3,c=4,q=1.2,seed=5")
	if err != nil {
		t.Fatal(err)
	}
	e := v.(*Equilibrium)
	if n, p, k, c := e.Dims(); n != 40 || p != 6 || k != 3 || c != 4 {
		t.Errorf("Load dims %d %d %d %d", n, p, k, c)
	}
	want, _ := SynthEquilibrium(EquilibriumOptions{N: 40, P: 6, K: 3, C: 4, Q: 1.2, Seed: 5})
	if !sameEquilibrium(e, want) {
		t.Error("Load differs from SynthEquilibrium")
	}
	for _, c := range []struct{ problem, source, want string }{
		{"equilibrium", "synth:m=5", "key m does not apply to problem equilibrium"},
		{"equilibrium", "synth:h=5", "key h does not apply to problem equilibrium"},
		{"ridge", "synth:k=5", "key k does not apply to problem ridge"},
		{"quadratic", "synth:q=0.5", "key q does not apply to problem quadratic"},
		{"logreg", "synth:c=3", "key c does not apply to problem logreg"},
	} {
		if _, err := Load(c.problem, c.source); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q, %q) = %v; want an error containing %q", c.problem, c.source, err, c.want)
		}
	}
}
