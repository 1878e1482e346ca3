package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/problems"
)

// TestMemoryRefusals: runs beyond memory are refused before anything large
// is allocated, with exit 2 and the estimate: ITD with t = 1e8 (stored
// trajectory of 86 GB; -checkpoint proposed), -exact at d = 1e5 (dense
// matrices of 300 GB), a normal run under a small -max-memory, and data
// beyond the synthetic cap.
func TestMemoryRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"grad", "-method", "itd", "-t", "100000000"}, []string{"the run needs about", "ITD's stored trajectory", "8.64e+10 bytes", "use -checkpoint"}},
		{[]string{"grad", "-problem", "equilibrium", "-method", "itd", "-t", "100000000"}, []string{"ITD's stored trajectory", "use -checkpoint"}},
		{[]string{"grad", "-problem", "logreg", "-method", "itd", "-inner", "fista", "-t", "100000000"}, []string{"ITD's stored trajectory", "use a truncation -k"}},
		{[]string{"grad", "-data", "synth:n=10,d=1e5", "-exact", "-t", "1", "-k", "1"}, []string{"-exact's dense matrices", "GiB", "drop -exact"}},
		{[]string{"grad", "-problem", "quadratic", "-data", "synth:m1=10,m2=20,d=1e5", "-exact", "-t", "1", "-k", "1"}, []string{"-exact's dense matrices", "drop -exact"}},
		{[]string{"grad", "-max-memory", "1M"}, []string{"the run needs about", "more than the 1.05e+06 bytes (1.0 MiB) allowed (-max-memory)", "data "}},
		{[]string{"grad", "-data", "synth:n=2e6,d=2000"}, []string{"MaxSynthBytes"}},
	} {
		t0 := time.Now()
		code, out, errOut := runCLI(tc.args...)
		if elapsed := time.Since(t0); elapsed > 5*time.Second {
			t.Errorf("%v: refused after %v", tc.args, elapsed)
		}
		if code != exitUsage || out != "" || strings.Contains(errOut, "internal error") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2", tc.args, code, out, errOut)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, errOut, w)
			}
		}
	}
}

// TestMaxMemoryBoundary: the estimate is what -max-memory is compared
// with: a run with -max-memory at its estimate runs, one byte less is
// refused; the ITD part is the library's MemoryBytes, the -exact part
// problems.DenseBytes.
func TestMaxMemoryBoundary(t *testing.T) {
	for _, args := range [][]string{
		{"-data", "synth:n=100,d=50,seed=1", "-method", "itd", "-t", "300"},
		{"-data", "synth:n=100,d=50,seed=1", "-method", "itd", "-t", "300", "-checkpoint", "-exact"},
		{"-problem", "equilibrium", "-data", "synth:n=20,d=5,k=4,c=3,seed=1", "-method", "itd", "-t", "50"},
		{"-data", "synth:n=100,d=50,seed=1", "-exact"},
	} {
		f, _, ok := parseGrad(args, io.Discard, io.Discard)
		if !ok {
			t.Fatalf("%v: flags refused", args)
		}
		d, err := data.Load(f.problem, f.source)
		if err != nil {
			t.Fatal(err)
		}
		m, err := f.estimateMemory(d)
		if err != nil {
			t.Fatal(err)
		}
		if f.exact {
			want, err := problems.DenseBytes(f.problem, d)
			if err != nil || m.exact != float64(want) || want == 0 {
				t.Errorf("%v: -exact part %v, want problems.DenseBytes %d (%v)", args, m.exact, want, err)
			}
		}
		if f.method == "itd" && f.problem == "ridge" {
			// The documented formula: (t+1) iterates (stored) or the √t
			// checkpoints, plus 8 work vectors of d and 2 of h.
			vb := func(n int, dim int) float64 { return float64(n) * (8*float64(dim) + 64) }
			want := vb(301, 50) + vb(8, 50) + vb(2, 50)
			if f.checkpoint {
				want = vb(17+2+18+1, 50) + vb(8, 50) + vb(2, 50) // s = ⌈√300⌉ = 18, ⌈300/18⌉ = 17
			}
			if m.estimator != want {
				t.Errorf("%v: ITD part %v, want %v", args, m.estimator, want)
			}
		}
		total := int64(math.Ceil(m.total()))
		ok1, _, errOut := runCLI(append([]string{"grad", "-max-memory", strconv.FormatInt(total, 10)}, args...)...)
		if ok1 != exitOK {
			t.Errorf("%v at -max-memory %d (its estimate): exit %d, %s", args, total, ok1, errOut)
		}
		code, _, errOut := runCLI(append([]string{"grad", "-max-memory", strconv.FormatInt(total-1, 10)}, args...)...)
		if code != exitUsage || !strings.Contains(errOut, "the run needs about") {
			t.Errorf("%v at -max-memory %d: exit %d, %q; want a refusal", args, total-1, code, errOut)
		}
	}
}

// TestCheckpointFlag: -checkpoint makes an ITD run that the budget refuses
// stored fit, with the stored run's hypergradient bit for bit; it is a
// usage error outside reverse-mode ITD.
func TestCheckpointFlag(t *testing.T) {
	args := []string{"grad", "-json", "-data", "synth:n=100,d=50,seed=2", "-method", "itd", "-t", "2000"}
	hg := func(out string) []float64 {
		var o struct {
			Hypergradient []float64 `json:"hypergradient"`
			Method        string    `json:"method"`
		}
		if err := json.Unmarshal([]byte(out), &o); err != nil {
			t.Fatal(err)
		}
		return o.Hypergradient
	}
	code, out, errOut := runCLI(args...)
	if code != exitOK {
		t.Fatalf("stored: exit %d, %s", code, errOut)
	}
	want := hg(out)
	if code, _, errOut := runCLI(append(args, "-max-memory", "600K")...); code != exitUsage || !strings.Contains(errOut, "use -checkpoint") {
		t.Errorf("stored within 600K: exit %d, %q", code, errOut)
	}
	code, out, errOut = runCLI(append(args, "-max-memory", "600K", "-checkpoint")...)
	if code != exitOK {
		t.Fatalf("checkpointed within 600K: exit %d, %s", code, errOut)
	}
	if got := hg(out); len(got) != len(want) || floatsDiffer(got, want) {
		t.Errorf("checkpointed %v, stored %v", got[:3], want[:3])
	}
	// Through FISTA too: the same bits as the stored trajectory.
	fista := append(append([]string(nil), args...), "-inner", "fista", "-t", "300")
	_, outF, _ := runCLI(fista...)
	if code, outC, errOut := runCLI(append(fista, "-checkpoint")...); code != exitOK || floatsDiffer(hg(outC), hg(outF)) {
		t.Errorf("checkpointed FISTA: exit %d (%s), differs from stored: %v", code, errOut, floatsDiffer(hg(outC), hg(outF)))
	}
	for _, bad := range [][]string{
		{"grad", "-checkpoint"},
		{"grad", "-problem", "equilibrium", "-method", "itd-fwd", "-checkpoint"},
		{"grad", "-max-memory", "8x"},
		{"grad", "-max-memory", "0"},
		{"grad", "-max-memory", "-1G"},
		{"grad", "-max-memory", "NaN"},
		{"grad", "-max-memory", "inf"},
	} {
		if code, _, errOut := runCLI(bad...); code != exitUsage || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want one usage line", bad, code, errOut)
		}
	}
}

func floatsDiffer(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return false
}

// TestParseBytes: -max-memory's number and suffixes.
func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"8G", 8 << 30}, {"512m", 512 << 20}, {"2K", 2048}, {"1.5e9", 1_500_000_000}, {"3T", 3 << 40},
		{" 0.5k ", 512}, {"1", 1}, {"1e30T", math.MaxInt64},
	} {
		if got, err := parseBytes(c.in); err != nil || got != c.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "G", "8x", "0", "0.5", "-3M", "NaN", "Inf", "8GB"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}

// TestAvailableMemory: the default budget is MemAvailable of the meminfo
// file, and 8 GiB where the file or the line is missing.
func TestAvailableMemory(t *testing.T) {
	dir := t.TempDir()
	saved := memInfoPath
	t.Cleanup(func() { memInfoPath = saved })
	for _, c := range []struct {
		content string
		want    int64
	}{
		{"MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:    4000000 kB\n", 4000000 * 1024},
		{"MemTotal:       16000000 kB\n", defaultMaxMemory},
		{"MemAvailable:    garbage kB\n", defaultMaxMemory},
		{"MemAvailable:    4000 MB\n", defaultMaxMemory},
	} {
		p := filepath.Join(dir, "meminfo")
		if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		memInfoPath = p
		if got, from := availableMemory(); got != c.want || from == "" {
			t.Errorf("%q: %d (%s), want %d", c.content, got, from, c.want)
		}
	}
	memInfoPath = filepath.Join(dir, "missing")
	if got, from := availableMemory(); got != defaultMaxMemory || !strings.Contains(from, "8 GiB") {
		t.Errorf("missing file: %d (%s)", got, from)
	}
}

// TestRoundingFloorMessage: a target below the rounding floor ends with
// exit 0, the result, and a line saying the bound stopped shrinking (not
// "within the budgets"); the JSON says why the rounds stopped.
func TestRoundingFloorMessage(t *testing.T) {
	code, out, errOut := runCLI("grad", "-json", "-t", "100000", "-k", "100000", "-target-rel", "1e-30")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"the bound stopped shrinking at", "the rounding floor; the target is below what float64 allows here"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr %q lacks %q", errOut, w)
		}
	}
	if strings.Contains(errOut, "within the budgets") {
		t.Errorf("stderr %q blames the budgets", errOut)
	}
	var o struct {
		Target map[string]any `json:"target"`
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatal(err)
	}
	if o.Target["stop"] != "rounding-floor" || o.Target["met"] != false {
		t.Errorf("target %v", o.Target)
	}
	code, out, errOut = runCLI("grad", "-json", "-t", "5", "-k", "5", "-target-rel", "1e-10")
	if err := json.Unmarshal([]byte(out), &o); err != nil || code != exitOK || o.Target["stop"] != "budget" || !strings.Contains(errOut, "within the budgets (-t 5, -k 5)") {
		t.Errorf("budget: exit %d, target %v, stderr %q", code, o.Target, errOut)
	}
}
