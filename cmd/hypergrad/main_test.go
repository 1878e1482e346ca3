package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npz"
	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/data"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestGradJSON(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		maxErr float64
	}{
		{[]string{"-problem", "ridge", "-data", "synth:n=300,d=20,kappa=50,seed=1", "-method", "aid-cg", "-inner", "hb", "-t", "400", "-k", "40"}, 1e-10},
		{[]string{"-problem", "logreg", "-data", "synth:n=300,d=10,kappa=10,lambda=-2,seed=2", "-method", "aid-cg", "-t", "3000", "-k", "30", "-tol-inner", "1e-14"}, 1e-10},
		{[]string{"-problem", "quadratic", "-data", "synth:numpy=true", "-method", "aid-hb", "-inner", "hb", "-t", "200", "-k", "200"}, 1e-10},
		{[]string{"-problem", "ridge", "-data", "synth:n=300,d=20,kappa=1e4,seed=1", "-method", "aid-pcg", "-inner", "fista", "-t", "5000", "-k", "60", "-tol-inner", "1e-15"}, 1e-10},
		{[]string{"-problem", "logreg", "-data", "synth:n=500,d=30,kappa=1e3,lambda=-7,seed=3", "-method", "aid-pcg", "-inner", "newton", "-t", "20", "-k", "100", "-tol-inner", "1e-15"}, 1e-10},
		{[]string{"-problem", "ridge", "-data", "synth:n=300,d=20,kappa=50,seed=1", "-method", "itd", "-inner", "hb", "-t", "300", "-k", "0"}, 1e-10},
		{[]string{"-problem", "ridge", "-data", "synth:n=300,d=20,kappa=50,seed=1", "-method", "aid-fp", "-t", "5", "-k", "5"}, 1e3}, // unconverged: only the output shape is checked
	} {
		code, out, errOut := runCLI(append([]string{"grad", "-json", "-exact"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errOut)
		}
		var o struct {
			Hypergradient []float64          `json:"hypergradient"`
			Exact         []float64          `json:"exact"`
			RelativeError *float64           `json:"relative_error"`
			Iterations    map[string]int     `json:"iterations"`
			Seconds       map[string]float64 `json:"seconds"`
			Counts        map[string]int     `json:"counts"`
			Status        string             `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &o); err != nil {
			t.Fatalf("%v: invalid JSON: %v\n%s", tc.args, err, out)
		}
		if len(o.Hypergradient) == 0 || len(o.Exact) != len(o.Hypergradient) || o.RelativeError == nil {
			t.Fatalf("%v: missing fields in %s", tc.args, out)
		}
		if !(*o.RelativeError <= tc.maxErr) {
			t.Errorf("%v: relative error %.3g > %.3g", tc.args, *o.RelativeError, tc.maxErr)
		}
		for _, k := range []string{"total", "inner", "linear", "cross"} {
			if v, ok := o.Seconds[k]; !ok || v < 0 || math.IsNaN(v) {
				t.Errorf("%v: seconds.%s = %v", tc.args, k, v)
			}
		}
		if _, ok := o.Iterations["inner"]; !ok || o.Counts["inner_grads"] == 0 || o.Status == "" {
			t.Errorf("%v: iterations %v counts %v status %q", tc.args, o.Iterations, o.Counts, o.Status)
		}
	}
	// Without tolerance flags exactly T inner and K linear iterations run.
	_, out, _ := runCLI("grad", "-json", "-t", "7", "-k", "3")
	var o struct {
		Iterations map[string]int `json:"iterations"`
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Iterations["inner"] != 7 || o.Iterations["linear"] != 3 {
		t.Errorf("iterations %v (%v)", o.Iterations, err)
	}
}

func TestGradText(t *testing.T) {
	code, out, errOut := runCLI("grad", "-exact")
	if code != 0 || !strings.Contains(out, "hypergradient") || !strings.Contains(out, "exact") || errOut != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, out, _ := runCLI("grad", "-h"); code != 0 || !strings.Contains(out, "-tol-inner") {
		t.Errorf("grad -h: exit %d, %s", code, out)
	}
}

// TestBadInput: every bad input exits non-zero with one clear line on stderr
// and no panic trace.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good, err := data.SynthRidge(data.SynthOptions{N: 20, D: 3, Kappa: 2, Lambda: math.NaN()})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, arrays map[string]any) string {
		p := filepath.Join(dir, name)
		if err := npz.Write(p, arrays); err != nil {
			t.Fatal(err)
		}
		return p
	}
	arrays := func(edit func(map[string]any)) map[string]any {
		m := map[string]any{
			"X_train": mat.NewDense(good.XTrain.Rows, good.XTrain.Cols, good.XTrain.Data), "y_train": good.YTrain,
			"X_val": mat.NewDense(good.XVal.Rows, good.XVal.Cols, good.XVal.Data), "y_val": good.YVal, "lambda": good.Lambda,
		}
		edit(m)
		return m
	}
	okPath := write("ok.npz", arrays(func(map[string]any) {}))
	missing := write("missing.npz", arrays(func(m map[string]any) { delete(m, "X_val") }))
	flat := write("flat.npz", arrays(func(m map[string]any) { m["X_train"] = good.XTrain.Data }))
	nanPath := write("nan.npz", arrays(func(m map[string]any) {
		y := append([]float64(nil), good.YTrain...)
		y[2] = math.NaN()
		m["y_train"] = y
	}))
	if code, _, errOut := runCLI("grad", "-data", okPath); code != 0 {
		t.Fatalf("the unbroken file fails: %s", errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"grad", "-x"}, "flag provided but not defined"},
		{"unknown problem", []string{"grad", "-problem", "lasso"}, "unknown problem"},
		{"unknown method", []string{"grad", "-method", "aid-lu"}, "unknown method"},
		{"unknown inner", []string{"grad", "-inner", "adam"}, "unknown inner"},
		{"T = 0", []string{"grad", "-t", "0"}, "-t 0"},
		{"K = 0 for AID", []string{"grad", "-k", "0"}, "-k 0"},
		{"negative K for ITD", []string{"grad", "-method", "itd", "-k", "-1"}, "-k -1"},
		{"NaN tolerance", []string{"grad", "-tol-inner", "NaN"}, "-tol-inner"},
		{"negative tolerance", []string{"grad", "-tol-linear", "-1"}, "-tol-linear"},
		{"tol-linear with itd", []string{"grad", "-method", "itd", "-tol-linear", "1e-3"}, "does not apply"},
		{"unknown backend", []string{"grad", "-backend", "tpu"}, "unknown backend"},
		{"missing file", []string{"grad", "-data", filepath.Join(dir, "nope.npz")}, "nope.npz"},
		{"not an npz", []string{"grad", "-data", "main_test.go"}, "main_test.go"},
		{"missing array", []string{"grad", "-data", missing}, "X_val"},
		{"mis-shaped array", []string{"grad", "-data", flat}, "X_train"},
		{"NaN in data", []string{"grad", "-data", nanPath}, "nan.npz"},
		{"labels outside the spec", []string{"grad", "-problem", "logreg", "-data", okPath}, "y_train"},
		{"bad synth key", []string{"grad", "-data", "synth:n=10,zz=3"}, "zz"},
		{"bad synth value", []string{"grad", "-data", "synth:kappa=0.5"}, "kappa"},
		{"synth key of another problem", []string{"grad", "-problem", "quadratic", "-data", "synth:kappa=3"}, "kappa"},
		{"diverging step", []string{"grad", "-problem", "ridge", "-data", "synth:n=50,d=5,lambda=-40", "-method", "itd", "-t", "3"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(tc.args...)
			if tc.name == "diverging step" {
				// Not bad input: a valid problem; it must simply not panic.
				if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
					t.Errorf("panic output: %s", errOut)
				}
				return
			}
			if code == 0 {
				t.Fatalf("exit 0, want non-zero")
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic:") {
				t.Fatalf("panic trace on stderr:\n%s", errOut)
			}
			if tc.args != nil && strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
				t.Errorf("stderr has more than one line:\n%s", errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not mention %q", errOut, tc.want)
			}
		})
	}
}

func TestBench(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCLI("bench", "-problems", "quadratic", "-methods", "aid-cg,itd", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range []string{"report.json", "results.csv", "summary.md", "error_vs_iterations_quadratic.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if !strings.Contains(stdout, "oracle calls to 1e-6") || !strings.Contains(stdout, "reproduction:") {
		t.Errorf("stdout:\n%s", stdout)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "-suite", "huge"}, "unknown suite"},
		{[]string{"bench", "-problems", "lasso"}, "lasso"},
		{[]string{"bench", "-methods", "aid-gmres"}, "aid-gmres"},
		{[]string{"bench", "-repeats", "3"}, "flag provided but not defined"},
		{[]string{"bench", "-peers", "-rounds", "0"}, "-rounds 0"},
		{[]string{"bench", "-out", filepath.Join(file, "sub")}, "-out"},
		{[]string{"bench", "-peers", "-python", "/nonexistent/python3", "-out", out}, "PyTorch"},
		{[]string{"bench", "extra"}, "unexpected argument"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q (want one line mentioning %q)", tc.args, code, errOut, tc.want)
		}
	}
}

// TestCUDAWithoutTag: without the cuda build tag, -backend cuda says so.
func TestCUDAWithoutTag(t *testing.T) {
	if slices.Contains(backend.Names(), "cuda") {
		t.Skip("built with -tags cuda: the cuda backend is registered")
	}
	for _, args := range [][]string{{"grad", "-backend", "cuda"}, {"bench", "-backend", "cuda", "-out", t.TempDir()}} {
		code, _, errOut := runCLI(args...)
		if code == 0 || !strings.Contains(errOut, "hypergrad was built without the cuda tag (go build -tags cuda)") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestGradTarget(t *testing.T) {
	code, out, errOut := runCLI("grad", "-json", "-exact", "-problem", "logreg", "-data", "synth:n=400,d=20,kappa=10,lambda=-3,seed=3",
		"-inner", "fista", "-t", "20000", "-k", "2000", "-target-rel", "1e-8")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var o struct {
		Bound         *float64       `json:"bound"`
		BoundKind     string         `json:"bound_kind"`
		BoundRel      *float64       `json:"bound_relative"`
		RelativeError *float64       `json:"relative_error"`
		Target        map[string]any `json:"target"`
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatal(err)
	}
	if o.BoundKind != "certified" || o.Bound == nil || o.BoundRel == nil || *o.BoundRel > 1e-8 || o.Target["met"] != true {
		t.Fatalf("bound %v %v %v, target %v", o.Bound, o.BoundKind, o.BoundRel, o.Target)
	}
	if *o.RelativeError > 1e-8 {
		t.Errorf("true relative error %.3g above the target", *o.RelativeError)
	}
	// An unreachable target within the budget: exit 0 with the result, and a
	// line on stderr saying the target was not met.
	code, _, errOut = runCLI("grad", "-problem", "ridge", "-t", "5", "-k", "5", "-target-rel", "1e-10")
	if code != 0 || !strings.Contains(errOut, "target not met") {
		t.Errorf("unmet target: exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{
		{"grad", "-method", "itd", "-target-rel", "1e-3"},
		{"grad", "-target-rel", "1e-3", "-tol-inner", "1e-5"},
		{"grad", "-target-abs", "-1"},
		{"grad", "-method", "itd", "-inner", "newton"},
	} {
		if code, _, errOut := runCLI(args...); code != exitUsage || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// eqOutput is the part of grad's JSON that the equilibrium tests read.
type eqOutput struct {
	Problem       string             `json:"problem"`
	Method        string             `json:"method"`
	Hypergradient []float64          `json:"hypergradient"`
	Exact         []float64          `json:"exact"`
	RelativeError *float64           `json:"relative_error"`
	Iterations    map[string]int     `json:"iterations"`
	Counts        map[string]int     `json:"counts"`
	Constants     map[string]any     `json:"constants"`
	Seconds       map[string]float64 `json:"seconds"`
}

func gradEq(t *testing.T, args ...string) eqOutput {
	t.Helper()
	code, out, errOut := runCLI(append([]string{"grad", "-problem", "equilibrium", "-json", "-exact"}, args...)...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	var o eqOutput
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("%v: invalid JSON: %v\n%s", args, err, out)
	}
	return o
}

// TestGradEquilibrium: the equilibrium problem (a fixed point) from synth:
// data and from an .npz written with data.SaveEquilibrium, with every
// fixed-point method; converged runs match the exact reference, and the
// file gives the same hypergradient as the generator it was written from.
func TestGradEquilibrium(t *testing.T) {
	const src = "synth:n=120,d=5,k=4,c=3,q=0.8,seed=2"
	byMethod := map[string][]float64{}
	for _, tc := range []struct {
		args []string
		jac  string // the Jacobian count the method must use
	}{
		{[]string{"-method", "aid-gmres", "-t", "150", "-k", "60"}, "jac_trans_vecs"},
		{[]string{"-method", "aid-fp", "-t", "150", "-k", "150"}, "jac_trans_vecs"},
		{[]string{"-method", "aid-bicgstab", "-t", "150", "-k", "60"}, "jac_trans_vecs"},
		{[]string{"-method", "aid-cgne", "-t", "150", "-k", "150"}, "jac_vecs"},
		{[]string{"-method", "itd", "-t", "150"}, "jac_trans_vecs"},
		{[]string{"-method", "itd-fwd", "-t", "150"}, "jac_vecs"},
		{[]string{"-t", "150", "-tol-inner", "1e-15", "-k", "60", "-tol-linear", "1e-14"}, "jac_trans_vecs"}, // default method: aid-gmres
	} {
		o := gradEq(t, append([]string{"-data", src}, tc.args...)...)
		if o.Problem != "equilibrium" || len(o.Hypergradient) != 16+20+4+12+3 || len(o.Exact) != len(o.Hypergradient) || o.RelativeError == nil {
			t.Fatalf("%v: output %+v", tc.args, o)
		}
		if !(*o.RelativeError <= 1e-10) {
			t.Errorf("%v (%s): relative error %.3g against the exact reference", tc.args, o.Method, *o.RelativeError)
		}
		if o.Counts["maps"] < 1 || o.Counts[tc.jac] < 1 || o.Iterations["inner"] < 1 {
			t.Errorf("%v: counts %v, iterations %v", tc.args, o.Counts, o.Iterations)
		}
		if q, ok := o.Constants["q"].(map[string]any); !ok || math.Abs(q["value"].(float64)-0.8) > 1e-12 {
			t.Errorf("%v: constants %v, want q = 0.8", tc.args, o.Constants)
		}
		if _, ok := byMethod[o.Method]; !ok { // the first run of each (-t 150 -k 60 for aid-gmres)
			byMethod[o.Method] = o.Hypergradient
		}
	}
	if byMethod["aid-gmres30(fpi)"] == nil || byMethod["itd-fwd(fpi)"] == nil || byMethod["aid-richardson(fpi)"] == nil {
		t.Errorf("methods run: %v", slices.Collect(maps.Keys(byMethod)))
	}

	// The same data from a file.
	raw, err := data.Load("equilibrium", src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "eq.npz")
	if err := data.SaveEquilibrium(path, raw.(*data.Equilibrium)); err != nil {
		t.Fatal(err)
	}
	o := gradEq(t, "-data", path, "-method", "aid-gmres", "-t", "150", "-k", "60")
	if !slices.Equal(o.Hypergradient, byMethod["aid-gmres30(fpi)"]) { // the same arithmetic on the same numbers
		t.Errorf("from the file: %v\nfrom the generator: %v", head(o.Hypergradient), head(byMethod["aid-gmres30(fpi)"]))
	}

	// Text output: the fixed-point counts and the reference error.
	code, out, errOut := runCLI("grad", "-problem", "equilibrium", "-data", src, "-method", "itd", "-t", "50", "-k", "10", "-exact")
	for _, want := range []string{"itd", "50 fixed-point", "maps Φ", "∂_wΦᵀ·u", "q = 0.8", "exact          ‖h − ∇f‖/‖∇f‖"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("text output lacks %q (exit %d, stderr %q):\n%s", want, code, errOut, out)
		}
	}
}

// TestGradEquilibriumErrors: flags and methods that do not apply to a
// fixed-point problem are one-line usage errors.
func TestGradEquilibriumErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-inner", "gd"}, "-inner"},
		{[]string{"-target-rel", "1e-6"}, "-target-rel"},
		{[]string{"-method", "aid-cg"}, "symmetric"},
		{[]string{"-method", "aid-minres"}, "symmetric"},
		{[]string{"-method", "aid-pcg"}, "Hessian"},
		{[]string{"-method", "aid-lu"}, "unknown method"},
		{[]string{"-method", "itd-fwd", "-k", "3"}, "truncation"},
		{[]string{"-method", "itd", "-tol-linear", "1e-6"}, "linear"},
		{[]string{"-data", "synth:kappa=3"}, "kappa"},
	} {
		args := append([]string{"grad", "-problem", "equilibrium", "-data", "synth:n=20,d=3,k=2,c=2"}, tc.args...)
		code, _, errOut := runCLI(args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q (want one line mentioning %q)", tc.args, code, errOut, tc.want)
		}
	}
	// Forward mode on an optimisation problem equals reverse mode; it takes
	// no truncation and not Newton.
	var fwd, rev struct{ Hypergradient []float64 }
	for _, c := range []struct {
		method string
		out    *struct{ Hypergradient []float64 }
	}{{"itd-fwd", &fwd}, {"itd", &rev}} {
		code, stdout, errOut := runCLI("grad", "-problem", "logreg", "-data", "synth:n=200,d=6,seed=2", "-method", c.method, "-inner", "hb", "-t", "40", "-json")
		if code != exitOK || json.Unmarshal([]byte(stdout), c.out) != nil {
			t.Fatalf("logreg %s: exit %d, %s", c.method, code, errOut)
		}
	}
	if e := relErrOf(fwd.Hypergradient, rev.Hypergradient); !(e <= 1e-12) {
		t.Errorf("itd-fwd vs itd on logreg: %.3g", e)
	}
	for _, args := range [][]string{{"-k", "5"}, {"-inner", "newton"}} {
		if code, _, errOut := runCLI(append([]string{"grad", "-method", "itd-fwd"}, args...)...); code != exitUsage {
			t.Errorf("itd-fwd %v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// relErrOf is ‖a − b‖/‖b‖ (+Inf for vectors of different lengths).
func relErrOf(a, b []float64) float64 {
	if len(a) != len(b) || len(b) == 0 {
		return math.Inf(1)
	}
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}
