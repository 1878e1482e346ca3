package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Fuzz targets for the .npy parser, the .npz archive reader and the synth:
// source parser. Each asserts that the input is either rejected with an
// *Error of one of the package's kinds or accepted with a result that
// satisfies the invariants of its type, and that accepted results survive a
// write/read round trip bit for bit. The seed corpora under
// testdata/fuzz/<FuzzName>/ hold the hostile classes in small form (many
// dimensions in Fortran order, huge declared shapes, CSR parts with huge
// declared columns, duplicate and suffix-colliding members, oversized synth:
// sizes); `go test` runs every seed.

// fuzzKinds are the kinds an error of this package may have.
var fuzzKinds = []error{ErrFormat, ErrMissing, ErrDType, ErrShape, ErrNonFinite, ErrLabels, ErrOption, ErrTooLarge}

// checkTypedErr fails unless err is an *Error whose Kind is one of fuzzKinds
// and whose message is not empty.
func checkTypedErr(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *data.Error", err, err)
	}
	if e.Msg == "" {
		t.Fatalf("error %#v has an empty message", e)
	}
	for _, k := range fuzzKinds {
		if e.Kind == k && errors.Is(err, k) {
			return
		}
	}
	t.Fatalf("error %v has kind %v, not one of the package's kinds", err, e.Kind)
}

// checkArray verifies the invariants of a decoded array: at most maxNDim
// non-negative dimensions whose product is len(Data), and a dtype.
func checkArray(t *testing.T, a *Array) {
	t.Helper()
	if a == nil || a.Shape == nil {
		t.Fatalf("nil array or shape without an error: %+v", a)
	}
	if len(a.Shape) > maxNDim {
		t.Fatalf("accepted an array of %d dimensions (limit %d)", len(a.Shape), maxNDim)
	}
	n := 1
	for _, d := range a.Shape {
		if d < 0 {
			t.Fatalf("negative dimension in shape %v", a.Shape)
		}
		n *= d
	}
	if n != len(a.Data) {
		t.Fatalf("shape %v holds %d values, Data has %d", a.Shape, n, len(a.Data))
	}
	if a.DType == "" {
		t.Fatal("empty DType")
	}
}

// f8NPY encodes a as a little-endian float64 .npy stream in C order.
func f8NPY(a *Array) []byte {
	var b bytes.Buffer
	b.Write(npyHeaderBytes("<f8", false, a.Shape))
	var w [8]byte
	for _, x := range a.Data {
		binary.LittleEndian.PutUint64(w[:], math.Float64bits(x))
		b.Write(w[:])
	}
	return b.Bytes()
}

// roundTripArray re-encodes a as float64 .npy and reads it back: the shape
// and every bit of every value must survive.
func roundTripArray(t *testing.T, a *Array) {
	t.Helper()
	b, err := readNPY(bytes.NewReader(f8NPY(a)), "roundtrip.npy")
	if err != nil {
		t.Fatalf("re-reading the float64 encoding of shape %v: %v", a.Shape, err)
	}
	if !slices.Equal(a.Shape, b.Shape) || !sameFloats(a.Data, b.Data) || b.DType != "<f8" {
		t.Fatalf("round trip changed the array: shape %v → %v, dtype %s", a.Shape, b.Shape, b.DType)
	}
}

func FuzzNPY(f *testing.F) {
	f.Add(npyBytes(f, []float64{1, -2.5, math.Inf(1), math.NaN()}))
	f.Add(npyBytes(f, dense(2, 3, xval)))
	f.Add(npyBytes(f, []int32{1, -2, 3}))
	f.Add(npyBytes(f, []bool{true, false}))
	f.Add([]byte(rawNPY("'>u2'", true, "(2, 3)", leBytes([]uint16{1, 2, 3, 4, 5, 6}))))
	f.Add([]byte(rawNPY("'<f2'", false, "()", []byte{0, 0x3c})))
	f.Add([]byte(rawNPY("'|b1'", false, "(0, 5)", nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := readNPY(bytes.NewReader(b), "fuzz.npy")
		if err != nil {
			checkTypedErr(t, err)
			var e *Error
			if errors.As(err, &e); e.Path != "fuzz.npy" {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		checkArray(t, a)
		roundTripArray(t, a)
	})
}

// zipNames returns the member names of the zip archive b as archive/zip
// reads them (nil if it cannot).
func zipNames(b []byte) []string {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	return names
}

// checkMatrix verifies the structure of a matrix read from an archive.
func checkMatrix(t *testing.T, name string, m *Matrix) {
	t.Helper()
	if err := m.check(name); err != nil {
		t.Fatalf("Matrix(%q) returned a matrix that fails its own check: %v", name, err)
	}
}

func sameMatrix(a, b *Matrix) bool {
	return a.Rows == b.Rows && a.Cols == b.Cols && a.IsCSR() == b.IsCSR() &&
		sameFloats(a.Data, b.Data) && slices.Equal(a.Indptr, b.Indptr) && slices.Equal(a.Indices, b.Indices)
}

func FuzzNPZ(f *testing.F) {
	f.Add(validSupervisedNPZ(f, zip.Store))
	f.Add(validSupervisedNPZ(f, zip.Deflate))
	csr := NewCSR(6, 4, []int{0, 1, 1, 3, 4, 4, 5}, []int{2, 0, 3, 1, 2}, []float64{1, 2, 3, 4, 5})
	csrEntries := append(baseSupervised(map[string]any{"X_train": nil}),
		entry{"X_train_data", csr.Data}, entry{"X_train_indices", toInt64(csr.Indices)},
		entry{"X_train_indptr", toInt64(csr.Indptr)}, entry{"X_train_shape", []int64{6, 4}})
	f.Add(npzBytes(f, zip.Store, csrEntries...))
	f.Add(npzBytes(f, zip.Deflate, entry{"a", raw(rawNPY("'<i8'", true, "(2, 2)", leBytes([]int64{1, 2, 3, 4})))}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := newArchive("fuzz.npz", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			checkTypedErr(t, err)
			return
		}
		names := a.Names()
		if !sort.StringsAreSorted(names) {
			t.Fatalf("Names() = %v is not sorted", names)
		}
		// Each name maps to exactly one member: an archive with two members
		// for one name is ambiguous and must have been rejected.
		seen := map[string]int{}
		for _, m := range zipNames(b) {
			seen[strings.TrimSuffix(m, ".npy")]++
		}
		for _, n := range names {
			if !a.Has(n) || !a.Has(n+".npy") {
				t.Fatalf("Names() lists %q but Has denies it", n)
			}
			if seen[n] > 1 {
				t.Fatalf("archive accepted with %d members for %q", seen[n], n)
			}
			arr, err := a.Array(n)
			if err != nil {
				checkTypedErr(t, err)
			} else {
				checkArray(t, arr)
				roundTripArray(t, arr)
			}
			if m, err := a.Matrix(strings.TrimSuffix(n, "_data")); err != nil {
				checkTypedErr(t, err)
			} else {
				checkMatrix(t, n, m)
			}
		}
		for _, labels := range []Labels{RealLabels, BinaryLabels} {
			s, err := loadSupervised(a, labels)
			if err != nil {
				checkTypedErr(t, err)
				continue
			}
			if err := s.Validate(labels); err != nil {
				t.Fatalf("loaded problem fails Validate(%v): %v", labels, err)
			}
			// Write it back and read it again: every value survives.
			path := filepath.Join(t.TempDir(), "rt.npz")
			if err := SaveSupervised(path, s); err != nil {
				t.Fatalf("saving a loaded problem: %v", err)
			}
			r, err := LoadSupervised(path, labels)
			if err != nil {
				t.Fatalf("re-loading a saved problem: %v", err)
			}
			if !sameMatrix(s.XTrain, r.XTrain) || !sameMatrix(s.XVal, r.XVal) ||
				!sameFloats(s.YTrain, r.YTrain) || !sameFloats(s.YVal, r.YVal) || !sameFloats(s.Lambda, r.Lambda) {
				t.Fatal("save/load round trip changed the problem")
			}
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// synthString rebuilds a synth: string from the keys ParseSynth recorded.
func synthString(keys map[string]string) string {
	parts := make([]string, 0, len(keys))
	for k, v := range keys {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return "synth:" + strings.Join(parts, ",")
}

// fuzzMaxValues bounds the number of values a parsed synth: spec may
// generate inside the fuzz body.
const fuzzMaxValues = 1 << 14

// synthValues returns the number of float64 values Load generates for
// problem from the parsed spec s (ok = false if it cannot be bounded).
func synthValues(problem string, s *Synth) (int, bool) {
	mul := func(a, b int) (int, bool) {
		if a < 0 || b < 0 || (b != 0 && a > math.MaxInt/4/b) {
			return 0, false
		}
		return a * b, true
	}
	var terms [][2]int
	switch problem {
	case "ridge", "logreg":
		o := s.Options
		m := o.M
		if m == 0 {
			m = max(o.N/4, 1)
		}
		terms = [][2]int{{o.N, o.D}, {m, o.D}}
	case "quadratic":
		q := s.Quadratic
		or := func(v, def int) int {
			if v == 0 {
				return def
			}
			return v
		}
		m1, m2, d, h := or(q.M1, 1000), or(q.M2, 1000), or(q.D, 10), or(q.H, 10)
		terms = [][2]int{{m1, d}, {m2, h}, {m2, d}}
	case "equilibrium":
		e := s.Equilibrium
		or := func(v, def int) int {
			if v == 0 {
				return def
			}
			return v
		}
		n, p, k, c := or(e.N, 1000), or(e.P, 20), or(e.K, 20), or(e.C, 10)
		terms = [][2]int{{n, p}, {k, k}, {p, k}, {k, c}, {n, 1}}
	}
	total := 0
	for _, tm := range terms {
		v, ok := mul(tm[0], tm[1])
		if !ok || total > math.MaxInt/4-v {
			return 0, false
		}
		total += v
	}
	return total, true
}

func FuzzParseSynth(f *testing.F) {
	for _, s := range []string{
		"synth:", "synth:n=20000,d=2000,kappa=1e3,seed=0", "synth:n=40,m=7,d=5,kappa=10,noise=0.3,lambda=-3,seed=5",
		"synth:m1=6,m2=5,d=3,h=2,sigma=0.1,numpy=true,seed=7", "synth:n=30,d=4,k=5,c=3,q=1.2,seed=2",
		"data/file.npz", "synth:n=1,n=2", " synth:n=1", "synth:n=2e1 , D=3", "synth:seed=18446744073709551615",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, ok, err := ParseSynth(spec)
		if ok != strings.HasPrefix(spec, "synth:") {
			t.Fatalf("ok = %v for %q", ok, spec)
		}
		if !ok {
			if s != nil || err != nil {
				t.Fatalf("not a synth: string, yet s = %v, err = %v", s, err)
			}
			return
		}
		if err != nil {
			checkTypedErr(t, err)
			if !errors.Is(err, ErrOption) || s != nil {
				t.Fatalf("ParseSynth(%q) = %v, %v: want a nil spec and an ErrOption error", spec, s, err)
			}
			return
		}
		o := s.Options
		if o.N < 1 || o.M < 0 || o.D < 1 || !(o.Kappa >= 1) || math.IsInf(o.Kappa, 0) || !(o.Noise >= 0) || math.IsInf(o.Noise, 0) || math.IsInf(o.Lambda, 0) {
			t.Fatalf("ParseSynth(%q) accepted out-of-range options %+v", spec, o)
		}
		q, e := s.Quadratic, s.Equilibrium
		if q.M1 < 0 || q.M2 < 0 || q.D < 0 || q.H < 0 || q.Sigma < 0 || e.N < 0 || e.P < 0 || e.K < 0 || e.C < 0 || e.Q < 0 || e.Q > MaxEquilibriumQ {
			t.Fatalf("ParseSynth(%q) accepted out-of-range sizes %+v %+v", spec, q, e)
		}
		// The canonical form of the keys parses to the same specification.
		canon := synthString(s.Keys)
		s2, ok2, err2 := ParseSynth(canon)
		if !ok2 || err2 != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, spec, err2)
		}
		if got, want := fmt.Sprintf("%#v", *s2), fmt.Sprintf("%#v", *s); got != want {
			t.Fatalf("%q and its canonical form %q parse differently:\n%s\n%s", spec, canon, want, got)
		}
		// Generate the data of every problem the keys apply to, when small.
		for _, problem := range []string{"ridge", "logreg", "quadratic", "equilibrium"} {
			if v, ok := synthValues(problem, s); !ok || v > fuzzMaxValues {
				continue
			}
			d, err := Load(problem, spec)
			if err != nil {
				checkTypedErr(t, err)
				continue
			}
			var verr error
			switch x := d.(type) {
			case *Supervised:
				labels := RealLabels
				if problem == "logreg" {
					labels = BinaryLabels
				}
				verr = x.Validate(labels)
				if verr == nil && (x.XTrain.Rows != o.N || x.XTrain.Cols != o.D || len(x.Lambda) != o.D) {
					t.Fatalf("Load(%s, %q): X_train is %d×%d with %d λ, want %d×%d", problem, spec, x.XTrain.Rows, x.XTrain.Cols, len(x.Lambda), o.N, o.D)
				}
			case *Quadratic:
				verr = x.Validate()
			case *Equilibrium:
				verr = x.Validate()
			default:
				t.Fatalf("Load(%s) returned %T", problem, d)
			}
			if verr != nil {
				t.Fatalf("Load(%s, %q) returned data that fails Validate: %v", problem, spec, verr)
			}
		}
	})
}
