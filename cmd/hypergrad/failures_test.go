package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npy"
	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// member is one member of a test archive: its name in the zip (with the
// .npy suffix) and its bytes.
type member struct {
	name string
	b    []byte
}

// npyOf encodes v (a []float64, []int64, *mat.Dense, …) as a .npy member.
func npyOf(t *testing.T, name string, v any) member {
	t.Helper()
	var buf bytes.Buffer
	if err := npy.Write(&buf, v); err != nil {
		t.Fatalf("npy.Write(%s): %v", name, err)
	}
	return member{name + ".npy", buf.Bytes()}
}

// rawNPYMember is a version-1.0 .npy member with the given header fields,
// followed by payload (for headers npyio does not write).
func rawNPYMember(name, descr, shape string, payload []byte) member {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	dict += strings.Repeat(" ", (16-(10+len(dict)+1)%16)%16) + "\n"
	var b bytes.Buffer
	b.Write(npy.Magic[:])
	b.Write([]byte{1, 0})
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(dict)))
	b.WriteString(dict)
	b.Write(payload)
	return member{name + ".npy", b.Bytes()}
}

// writeArchive writes the members, stored, into a new .npz file in dir.
func writeArchive(t *testing.T, dir, file string, members []member) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(m.b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// supervisedMembers returns the members of a small synthetic ridge (or,
// with logistic, logreg) file: X_train scaled by trainScale, every λ_j =
// lambda (NaN keeps the generator's), with the named arrays replaced
// (a nil value drops the array).
func supervisedMembers(t *testing.T, logistic bool, trainScale, lambda float64, replace map[string]any) []member {
	t.Helper()
	gen := data.SynthRidge
	if logistic {
		gen = data.SynthLogreg
	}
	s, err := gen(data.SynthOptions{N: 30, D: 4, Kappa: 2, Lambda: math.NaN(), Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.XTrain.Data {
		s.XTrain.Data[i] *= trainScale
	}
	if !math.IsNaN(lambda) {
		for i := range s.Lambda {
			s.Lambda[i] = lambda
		}
	}
	arrays := map[string]any{
		"X_train": mat.NewDense(s.XTrain.Rows, s.XTrain.Cols, s.XTrain.Data), "y_train": s.YTrain,
		"X_val": mat.NewDense(s.XVal.Rows, s.XVal.Cols, s.XVal.Data), "y_val": s.YVal, "lambda": s.Lambda,
	}
	for k, v := range replace {
		arrays[k] = v
	}
	var ms []member
	for _, k := range []string{"X_train", "y_train", "X_val", "y_val", "lambda",
		"X_train_data", "X_train_indices", "X_train_indptr", "X_train_shape"} {
		switch v := arrays[k].(type) {
		case nil:
		case member:
			ms = append(ms, v)
		default:
			ms = append(ms, npyOf(t, k, v))
		}
	}
	return ms
}

// constantsError builds the problem of family on the data of source and
// returns the error of its Constants (the library side of a CLI row).
func constantsError(family, source string) error {
	d, err := data.Load(family, source)
	if err != nil {
		return err
	}
	b, err := backend.Open("cpu")
	if err != nil {
		return err
	}
	defer b.Close()
	p, _, err := problems.New(b, family, d)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.Constants()
	return err
}

// TestFailureModes is the failure-mode table of docs/cli.md ("Failure
// modes") and of the package docs of hypergrad and data, one case per row,
// in the table's order: the command line (on an input built here) exits
// with the row's code and prints one line on stderr that names the error;
// where the row names a typed error, the library returns it on the same
// input (errors.Is) and the CLI prints the library's message.
func TestFailureModes(t *testing.T) {
	dir := t.TempDir()
	x := func(rows, cols int) *mat.Dense {
		m := mat.NewDense(rows, cols, nil)
		for i := range rows {
			for j := range cols {
				m.Set(i, j, float64(i-j)/7)
			}
		}
		return m
	}
	file := func(name string, logistic bool, scale, lambda float64, replace map[string]any) string {
		return writeArchive(t, dir, name, supervisedMembers(t, logistic, scale, lambda, replace))
	}
	load := func(family, source string) func() error {
		return func() error { _, err := data.Load(family, source); return err }
	}
	badSVM := filepath.Join(dir, "bad.svm")
	if err := os.WriteFile(badSVM, []byte("1 1:0.5 2:1\n-1 1:abc\n1 2:3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.npz")
	if err := os.WriteFile(garbage, []byte("PK\x03\x04 this is not a zip archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		missing   = file("missing.npz", false, 1, math.NaN(), map[string]any{"X_val": nil})
		dtype     = file("dtype.npz", false, 1, math.NaN(), map[string]any{"y_train": rawNPYMember("y_train", "<c16", "(30,)", make([]byte, 30*16))})
		shape     = file("shape.npz", false, 1, math.NaN(), map[string]any{"X_val": x(7, 5)})
		nan       = file("nan.npz", false, 1, math.NaN(), map[string]any{"lambda": []float64{0, math.NaN(), 0, 0}})
		labels    = file("labels.npz", false, 1, math.NaN(), nil) // real labels, read as logreg
		csrBad    = file("csr.npz", false, 1, math.NaN(), map[string]any{"X_train": nil, "X_train_data": []float64{1, 2}, "X_train_indices": []int64{0, 1}, "X_train_indptr": append([]int64{0, 2, 1}, make([]int64, 28)...), "X_train_shape": []int64{30, 4}})
		manyDims  = file("dims.npz", false, 1, math.NaN(), map[string]any{"lambda": rawNPYMember("lambda", "<f8", "("+strings.Repeat("1, ", 65)+")", make([]byte, 8))})
		truncated = file("truncated.npz", false, 1, math.NaN(), map[string]any{"lambda": rawNPYMember("lambda", "<f8", "(1000000, 1000000)", make([]byte, 64))})
		csrHuge   = file("csrhuge.npz", false, 1, math.NaN(), map[string]any{"X_train": nil, "X_train_data": []float64{1}, "X_train_indices": []int64{1<<31 - 2}, "X_train_indptr": append([]int64{0}, slicesOf(30, 1)...), "X_train_shape": []int64{30, 1<<31 - 1}})
		duplicate = writeArchive(t, dir, "dup.npz", append(supervisedMembers(t, false, 1, math.NaN(), nil), npyOf(t, "X_train", x(30, 4))))
		constants = file("constants.npz", true, 1e150, math.NaN(), nil)  // logreg: L_A = +Inf
		numerical = file("numerical.npz", false, 1e200, math.NaN(), nil) // ridge: XᵀX overflows
		nonFinite = file("nonfinite.npz", true, 1e-200, -745, nil)       // logreg: α = 2/(L+μ) = +Inf
	)
	for _, row := range []struct {
		name string
		args []string
		code int
		kind error        // the row's typed error, nil for a usage error
		lib  func() error // the library call that returns it on the same input
		want string       // what stderr says (besides the library's message)
	}{
		// .npz that is not a zip archive → data.ErrFormat → 2
		{"not an archive", []string{"grad", "-data", garbage}, exitUsage, data.ErrFormat, load("ridge", garbage), "garbage.npz"},
		// array missing → data.ErrMissing → 2
		{"missing array", []string{"grad", "-data", missing}, exitUsage, data.ErrMissing, load("ridge", missing), "X_val"},
		// unsupported dtype (complex, object, string, …) → data.ErrDType → 2
		{"complex dtype", []string{"grad", "-data", dtype}, exitUsage, data.ErrDType, load("ridge", dtype), "y_train"},
		// shapes that do not agree → data.ErrShape → 2
		{"shape mismatch", []string{"grad", "-data", shape}, exitUsage, data.ErrShape, load("ridge", shape), "X_val"},
		// NaN or ±Inf in an array → data.ErrNonFinite → 2
		{"NaN value", []string{"grad", "-data", nan}, exitUsage, data.ErrNonFinite, load("ridge", nan), "lambda"},
		// labels outside the problem's set → data.ErrLabels → 2
		{"labels", []string{"grad", "-problem", "logreg", "-data", labels}, exitUsage, data.ErrLabels, load("logreg", labels), "y_train"},
		// CSR structure (indptr decreasing, indices out of range) → data.ErrShape → 2
		{"CSR structure", []string{"grad", "-data", csrBad}, exitUsage, data.ErrShape, load("ridge", csrBad), "indptr"},
		// more than 64 dimensions → data.ErrFormat → 2
		{"65 dimensions", []string{"grad", "-data", manyDims}, exitUsage, data.ErrFormat, load("ridge", manyDims), "64 dimensions"},
		// declared size beyond the file or member → data.ErrFormat → 2
		{"declared size beyond the member", []string{"grad", "-data", truncated}, exitUsage, data.ErrFormat, load("ridge", truncated), "truncated"},
		// declared size beyond the memory budget → data.ErrTooLarge → 2
		{"CSR beyond the budget", []string{"grad", "-data", csrHuge}, exitUsage, data.ErrTooLarge, load("ridge", csrHuge), "memory limit"},
		// two members for one array → data.ErrFormat → 2
		{"duplicate members", []string{"grad", "-data", duplicate}, exitUsage, data.ErrFormat, load("ridge", duplicate), "ambiguous archive"},
		// synth: sizes beyond data.MaxSynthBytes → data.ErrOption → 2
		{"synth beyond MaxSynthBytes", []string{"grad", "-data", "synth:n=9e15,d=1"}, exitUsage, data.ErrOption, load("ridge", "synth:n=9e15,d=1"), "MaxSynthBytes"},
		// malformed synth: option → data.ErrOption → 2
		{"bad synth option", []string{"grad", "-data", "synth:kappa=0.5"}, exitUsage, data.ErrOption, load("ridge", "synth:kappa=0.5"), "kappa"},
		// text file that does not parse → data.ErrFormat → 2, naming file and line
		{"text file that does not parse", []string{"grad", "-data", "libsvm:train=" + badSVM}, exitUsage, data.ErrFormat, load("ridge", "libsvm:train="+badSVM), "line 2"},
		// text source with an unknown or bad key → data.ErrOption → 2
		{"bad text source", []string{"grad", "-data", "csv:train=" + badSVM + ",sep=;;"}, exitUsage, data.ErrOption, load("ridge", "csv:train="+badSVM+",sep=;;"), "sep"},
		// text source for a family that needs an .npz file → data.ErrOption → 2
		{"text source for krr", []string{"grad", "-problem", "krr", "-data", "libsvm:train=" + badSVM}, exitUsage, data.ErrOption, load("krr", "libsvm:train="+badSVM), "text source"},
		// unusable constants (μ ≤ 0, non-finite, L < μ) → problems.ErrConstants → 2
		{"unusable constants", []string{"grad", "-problem", "logreg", "-data", constants}, exitUsage, problems.ErrConstants,
			func() error { return constantsError("logreg", constants) }, "L_A"},
		// dense factorisation/LAPACK failure → problems.ErrNumerical → 1
		{"dense linear algebra", []string{"grad", "-data", numerical}, exitFailure, problems.ErrNumerical,
			func() error { return constantsError("ridge", numerical) }, "+Inf"},
		// -exact reference that fails → problems.ErrNumerical → 1
		{"exact reference", []string{"grad", "-data", "synth:kappa=1e300,n=1,d=7", "-exact"}, exitFailure, problems.ErrNumerical, nil, "exact reference"},
		// non-finite value during the estimate → hypergrad.ErrNonFinite → 1
		{"non-finite estimate", []string{"grad", "-problem", "logreg", "-data", nonFinite}, exitFailure, hypergrad.ErrNonFinite, nil, "inner iteration 1"},
		// zero budgets and bad settings → usage error naming the flag → 2
		{"zero budget", []string{"grad", "-t", "0"}, exitUsage, nil, nil, "-t 0: want T ≥ 1"},
		{"bad setting", []string{"grad", "-method", "itd", "-target-rel", "1e-3"}, exitUsage, nil, nil, "accuracy target needs AID"},
		// bad flags, unknown backend → 2
		{"unknown flag", []string{"grad", "-frobnicate"}, exitUsage, nil, nil, "flag provided but not defined"},
		{"unknown backend", []string{"grad", "-backend", "tpu"}, exitUsage, nil, nil, "unknown backend"},
		// a run's estimated memory beyond -max-memory → usage error with the estimate → 2
		{"run memory", []string{"grad", "-max-memory", "1M"}, exitUsage, nil, nil, "the run needs about"},
		// ITD's trajectory beyond the budget → hypergrad.ErrTooLarge (the CLI refuses it first, with the estimate) → 2
		{"ITD trajectory", []string{"grad", "-method", "itd", "-t", "100000000"}, exitUsage, nil, nil, "use -checkpoint"},
		// bench: a problem listed twice, a run that does nothing → 2
		{"bench duplicate problem", []string{"bench", "-out", dir, "-problems", "quadratic,quadratic"}, exitUsage, nil, nil, `duplicate problem "quadratic"`},
		{"bench nothing to run", []string{"bench", "-out", dir, "-suite", "none"}, exitUsage, nil, nil, "add -peers"},
	} {
		t.Run(row.name, func(t *testing.T) {
			code, stdout, errOut := runCLI(row.args...)
			if code != row.code {
				t.Errorf("exit %d, want %d; stderr %q", code, row.code, errOut)
			}
			if stdout != "" || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 || strings.Contains(errOut, "internal error") {
				t.Errorf("stdout %q, stderr %q: want one line on stderr, no internal error", stdout, errOut)
			}
			if !strings.Contains(errOut, row.want) {
				t.Errorf("stderr %q does not say %q", errOut, row.want)
			}
			if row.kind == nil {
				return
			}
			if row.lib == nil {
				// The CLI prints the library's error, whose text names the kind.
				if !strings.Contains(errOut, row.kind.Error()) {
					t.Errorf("stderr %q does not name %q", errOut, row.kind)
				}
				return
			}
			err := row.lib()
			if !errors.Is(err, row.kind) {
				t.Fatalf("library: %v, want %q", err, row.kind)
			}
			if !strings.Contains(errOut, err.Error()) {
				t.Errorf("stderr %q does not print the library's error %q", errOut, err)
			}
		})
	}
}

// slicesOf returns n copies of v.
func slicesOf(n int, v int64) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = v
	}
	return s
}
