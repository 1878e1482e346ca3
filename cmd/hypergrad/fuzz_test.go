package main

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/data"
)

// FuzzGradFlags feeds hypergrad grad command lines (whitespace-separated
// arguments) to its flag parser. Every input must end in exit status 0 (a
// parse or -h) or 2 (bad input, with a one-line message that is not an
// internal error); an accepted parse must satisfy the flags' invariants and
// parse again to the same flags from its canonical form. Accepted command
// lines on small synthetic data (at most fuzzMaxValues generated values,
// T, K ≤ fuzzMaxIters) are also run end to end on the CPU backend: the exit
// status is 0, 1 or 2, never an internal error, and -json output decodes.
// The seed corpus under testdata/fuzz/FuzzGradFlags holds the hostile
// classes in small form (synth:n=9e15,d=1; kappa=1e300; λ = −700; T = 1e8;
// zero budgets).
func FuzzGradFlags(f *testing.F) {
	for _, s := range []string{
		"", "-h", "-problem ridge -data synth:n=40,d=5,seed=1 -t 50 -k 10 -json -exact",
		"-problem logreg -data synth:n=30,d=6,lambda=-2,seed=3 -method aid-pcg -inner newton -t 5 -k 20",
		"-problem quadratic -data synth:m1=8,m2=6,d=3,h=2 -method aid-hb -inner hb -t 40 -k 40",
		"-problem equilibrium -data synth:n=12,d=4,k=5,c=3 -method itd-fwd -t 30",
		"-problem ridge -data synth:n=20,d=4 -method itd -inner fista -t 20 -k 3",
		"-data synth:n=20,d=3 -target-rel 1e-3 -t 50 -k 50", "-tol-inner NaN", "-t -1", "extra",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		var stdout, stderr bytes.Buffer
		fl, code, ok := parseGrad(args, &stdout, &stderr)
		switch {
		case ok:
			if code != exitOK || fl == nil {
				t.Fatalf("%q: ok with status %d, flags %v", line, code, fl)
			}
		case code == exitOK:
			if stdout.Len() == 0 {
				t.Fatalf("%q: status 0 without flags or help text", line)
			}
			return
		case code == exitUsage:
			msg := stderr.String()
			if !strings.HasPrefix(msg, "hypergrad grad: ") || strings.Count(msg, "\n") != 1 || strings.Contains(msg, "internal error") {
				t.Fatalf("%q: status 2 with message %q, want one 'hypergrad grad: ' line", line, msg)
			}
			return
		default:
			t.Fatalf("%q: status %d from the flag parser", line, code)
		}
		checkFlags(t, line, fl)

		// Canonical form: every flag given, as -name=value, parses to the
		// same flags.
		canon := canonicalArgs(fl)
		fl2, code2, ok2 := parseGrad(canon, &stdout, &stderr)
		if !ok2 {
			t.Fatalf("%q: canonical form %q rejected with status %d: %s", line, canon, code2, stderr.String())
		}
		if a, b := flagsString(fl), flagsString(fl2); a != b {
			t.Fatalf("%q and its canonical form %q parse differently:\n%s\n%s", line, canon, a, b)
		}

		if !smallRun(fl) {
			return
		}
		var o, e bytes.Buffer
		status := run(append([]string{"grad"}, args...), &o, &e)
		if status != exitOK && status != exitFailure && status != exitUsage {
			t.Fatalf("%q: exit status %d", line, status)
		}
		if strings.Contains(e.String(), "internal error") {
			t.Fatalf("%q: %s", line, e.String())
		}
		if status != exitOK && e.Len() == 0 {
			t.Fatalf("%q: exit status %d without a message", line, status)
		}
		if status == exitOK && fl.json {
			var out struct {
				Hypergradient []float64 `json:"hypergradient"`
				Status        string    `json:"status"`
			}
			if err := json.Unmarshal(o.Bytes(), &out); err != nil {
				t.Fatalf("%q: -json output does not decode: %v", line, err)
			}
			if len(out.Hypergradient) == 0 || out.Status == "" {
				t.Fatalf("%q: -json output without a hypergradient or status: %s", line, o.String())
			}
		}
	})
}

// checkFlags asserts the invariants of accepted flags.
func checkFlags(t *testing.T, line string, f *gradFlags) {
	t.Helper()
	switch f.problem {
	case "ridge", "logreg", "quadratic", "equilibrium":
	default:
		t.Fatalf("%q: accepted problem %q", line, f.problem)
	}
	if f.t < 1 || f.k < 0 || (!f.itd() && f.k < 1) {
		t.Fatalf("%q: accepted -t %d -k %d for %s", line, f.t, f.k, f.method)
	}
	for _, v := range []float64{f.tolInner, f.tolLinear, f.targetRel, f.targetAbs} {
		if !(v >= 0) || math.IsInf(v, 0) {
			t.Fatalf("%q: accepted tolerance or target %v", line, v)
		}
	}
	if f.source == "" || f.method == "" {
		t.Fatalf("%q: empty -data or -method after parsing", line)
	}
	if err := f.check(); err != nil {
		t.Fatalf("%q: accepted flags fail check: %v", line, err)
	}
}

// canonicalArgs writes the flags given on the command line as -name=value.
func canonicalArgs(f *gradFlags) []string {
	value := map[string]string{
		"problem": f.problem, "data": f.source, "method": f.method, "inner": f.inner, "backend": f.backend,
		"t": strconv.Itoa(f.t), "k": strconv.Itoa(f.k),
		"tol-inner": strconv.FormatFloat(f.tolInner, 'g', -1, 64), "tol-linear": strconv.FormatFloat(f.tolLinear, 'g', -1, 64),
		"target-rel": strconv.FormatFloat(f.targetRel, 'g', -1, 64), "target-abs": strconv.FormatFloat(f.targetAbs, 'g', -1, 64),
		"exact": strconv.FormatBool(f.exact), "json": strconv.FormatBool(f.json),
	}
	names := make([]string, 0, len(f.set))
	for n := range f.set {
		names = append(names, n)
	}
	sort.Strings(names)
	var args []string
	for _, n := range names {
		if v, ok := value[n]; ok {
			args = append(args, "-"+n+"="+v)
		}
	}
	return args
}

// flagsString prints the parsed flags for comparison.
func flagsString(f *gradFlags) string {
	c := *f
	c.set = nil
	return strconv.Quote(strings.Join([]string{
		c.problem, c.source, c.method, c.inner, c.backend, strconv.Itoa(c.t), strconv.Itoa(c.k),
		strconv.FormatFloat(c.tolInner, 'g', -1, 64), strconv.FormatFloat(c.tolLinear, 'g', -1, 64),
		strconv.FormatFloat(c.targetRel, 'g', -1, 64), strconv.FormatFloat(c.targetAbs, 'g', -1, 64),
		strconv.FormatBool(c.exact), strconv.FormatBool(c.json),
	}, "|")) + " set " + strings.Join(canonicalArgs(f), " ")
}

// Bounds on the command lines FuzzGradFlags runs end to end.
const (
	fuzzMaxValues = 1 << 12 // generated data values
	fuzzMaxIters  = 200     // T and K
)

// smallRun says whether the accepted flags describe a run small enough to
// execute in the fuzz body: synthetic data with at most fuzzMaxValues values
// and T, K ≤ fuzzMaxIters, on the CPU backend.
func smallRun(f *gradFlags) bool {
	if f.backend != "cpu" || f.t > fuzzMaxIters || f.k > fuzzMaxIters {
		return false
	}
	s, ok, err := data.ParseSynth(f.source)
	if err != nil || !ok {
		return false // a file path, or a spec the run rejects the same way
	}
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	var n, d int
	switch f.problem {
	case "ridge", "logreg":
		m := or(s.Options.M, max(s.Options.N/4, 1))
		n, d = s.Options.N+m, s.Options.D
	case "quadratic":
		q := s.Quadratic
		n, d = or(q.M1, 1000)+2*or(q.M2, 1000), or(q.D, 10)+or(q.H, 10)
	case "equilibrium":
		e := s.Equilibrium
		n, d = or(e.N, 1000)+or(e.K, 20), or(e.P, 20)+or(e.K, 20)+or(e.C, 10)
	}
	return n > 0 && d > 0 && n <= fuzzMaxValues/d
}
