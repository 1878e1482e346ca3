package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npz"
	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// TestReliabilityExitCodes: hostile sizes and scales end with the
// documented exit codes and a message, never "internal error".
func TestReliabilityExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"grad", "-data", "synth:n=9e15,d=1"}, exitUsage, "MaxSynthBytes"},
		{[]string{"grad", "-data", "synth:n=1e6,d=1e5"}, exitUsage, "MaxSynthBytes"},
		{[]string{"grad", "-problem", "quadratic", "-data", "synth:m1=1e9,d=1e3"}, exitUsage, "MaxSynthBytes"},
		{[]string{"grad", "-problem", "equilibrium", "-data", "synth:n=1e9,d=1e3"}, exitUsage, "MaxSynthBytes"},
		{[]string{"grad", "-data", "synth:kappa=1e300,n=1,d=7"}, exitOK, ""},
		{[]string{"grad", "-data", "synth:kappa=1e300,n=1,d=7", "-exact"}, exitFailure, "exact reference"},
		{[]string{"grad", "-max-cg", "-1", "-inner", "newton"}, exitUsage, "-max-cg"},
		{[]string{"grad", "-max-cg", "5"}, exitUsage, "-inner newton"},
		{[]string{"grad", "-data", "synth:n=100,d=5,seed=3", "-inner", "gd", "-t", "1", "-k", "1"}, exitOK, ""},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "internal error") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestNewtonMaxCGFlag: -max-cg caps the CG of each Newton step: logreg with
// d > n and λ = −200 (A singular to working precision) ends within
// t·cap + k + 1 Hessian-vector products.
func TestNewtonMaxCGFlag(t *testing.T) {
	const steps, k, cg = 4, 3, 7
	code, out, errOut := runCLI("grad", "-json", "-problem", "logreg", "-data", "synth:n=20,d=60,lambda=-200,seed=1",
		"-inner", "newton", "-method", "aid-fp", "-t", "4", "-k", "3", "-max-cg", "7")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var o struct {
		Counts hypergrad.Counts `json:"counts"`
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatal(err)
	}
	if hv := o.Counts.HessVecs; hv > steps*cg+k+1 {
		t.Errorf("%d Hessian-vector products, want ≤ %d", hv, steps*cg+k+1)
	}
}

// TestJSONNonFinite: -json always writes valid JSON; non-finite numbers are
// the strings "+Inf", "-Inf" and "NaN".
func TestJSONNonFinite(t *testing.T) {
	b, err := json.Marshal([]jnum{1.5, jnum(math.Inf(1)), jnum(math.Inf(-1)), jnum(math.NaN()), 1e-300})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `[1.5,"+Inf","-Inf","NaN",1e-300]`; got != want {
		t.Errorf("jnum: %s, want %s", got, want)
	}
	c, err := json.Marshal(jsonConstants(map[string]any{"kappa": math.Inf(1)}))
	if err != nil || string(c) != `{"kappa":"+Inf"}` {
		t.Errorf("constants: %s, %v", c, err)
	}

	// Entries near 1e157 (squares overflow) and 1e-273 (squares underflow),
	// and λ = −700 with n < d (μ ≈ 1e-304, κ ≈ 1e304): the output is valid
	// JSON whatever the estimate, and a failure is a typed exit 1.
	dir := t.TempDir()
	for _, scale := range []float64{1e157, 1e-273} {
		s, err := data.SynthRidge(data.SynthOptions{N: 30, D: 4, Kappa: 2, Lambda: math.NaN(), Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range [][]float64{s.XTrain.Data, s.XVal.Data} {
			for i := range x {
				x[i] *= scale
			}
		}
		p := filepath.Join(dir, "scaled.npz")
		if err := npz.Write(p, map[string]any{
			"X_train": mat.NewDense(s.XTrain.Rows, s.XTrain.Cols, s.XTrain.Data), "y_train": s.YTrain,
			"X_val": mat.NewDense(s.XVal.Rows, s.XVal.Cols, s.XVal.Data), "y_val": s.YVal, "lambda": s.Lambda,
		}); err != nil {
			t.Fatal(err)
		}
		checkJSONRun(t, "-data", p)
	}
	checkJSONRun(t, "-data", "synth:n=20,d=60,lambda=-700,seed=1", "-exact")
}

// checkJSONRun runs grad -json with args: exit 0 with valid JSON on stdout,
// or a typed failure (exit 1 or 2) with a message and no internal error.
func checkJSONRun(t *testing.T, args ...string) {
	t.Helper()
	code, out, errOut := runCLI(append([]string{"grad", "-json"}, args...)...)
	switch {
	case strings.Contains(errOut, "internal error") || strings.Contains(errOut, "writing JSON"):
		t.Errorf("%v: %s", args, errOut)
	case code == exitOK && !json.Valid([]byte(out)):
		t.Errorf("%v: invalid JSON:\n%s", args, out)
	case code != exitOK && errOut == "":
		t.Errorf("%v: exit %d without a message", args, code)
	}
	t.Logf("%v: exit %d %s", args, code, strings.TrimSpace(errOut))
}
