package main

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestBenchFlagsNotIgnored: a bench command line that would run a problem
// twice, run nothing, or set a flag that nothing reads is a usage error
// (exit 2, one line naming the cause), before anything runs.
func TestBenchFlagsNotIgnored(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-problems", "quadratic,quadratic"}, []string{`duplicate problem "quadratic"`, "-problems"}},
		{[]string{"-problems", "ridge, quadratic ,ridge"}, []string{`duplicate problem "ridge"`}},
		{[]string{"-methods", "itd,aid-cg,itd"}, []string{`duplicate method "itd"`, "-methods"}},
		{[]string{"-suite", "none"}, []string{"-suite none", "add -peers"}},
		{[]string{"-suite", "maid", "-problems", "ridge"}, []string{"suite maid has no problems"}},
		{[]string{"-suite", "maid", "-methods", "itd"}, []string{"suite maid has no methods"}},
		{[]string{"-suite", "none", "-peers", "-problems", "ridge"}, []string{"suite none has no problems"}},
		{[]string{"-peers", "-peer-device", "tpu"}, []string{"-peer-device", `"tpu"`}},
		{[]string{"-peers", "-peer-problem", "krr"}, []string{"-peer-problem", `"krr"`}},
		{[]string{"-peers", "-peer-t", "0"}, []string{"-peer-t 0", "want t, k ≥ 1"}},
		{[]string{"-peers", "-peer-methods", "aid-cg, aid-cg"}, []string{"-peer-methods", `duplicate method "aid-cg"`}},
		{[]string{"-peers", "-peer-methods", "aid-pcg"}, []string{"-peer-methods", `unknown method "aid-pcg"`, "itd, aid-fp, aid-cg"}},
		{[]string{"-peers", "-peer-methods", ""}, []string{"-peer-methods", `unknown method ""`}},
	}
	for _, name := range peerOnlyFlags {
		arg := []string{"-" + name, "x"}
		switch name {
		case "rounds", "peer-t", "peer-k":
			arg[1] = "3"
		case "peer-methods":
			arg[1] = "aid-cg"
		case "tta":
			arg = []string{"-tta=false"}
		}
		cases = append(cases, struct {
			args []string
			want []string
		}{arg, []string{"-" + name + " configures the PyTorch comparisons", "add -peers"}})
	}
	for _, tc := range cases {
		args := append([]string{"bench", "-out", out}, tc.args...)
		code, stdout, errOut := runCLI(args...)
		if code != exitUsage || stdout != "" || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and one line", tc.args, code, stdout, errOut, exitUsage)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q does not say %q", tc.args, errOut, w)
			}
		}
	}
}

// TestBenchFlagsClassified: every flag that hypergrad bench -h lists is
// either read by every run or one of peerOnlyFlags (refused without
// -peers), so that a new flag cannot be silently ignored unnoticed.
func TestBenchFlagsClassified(t *testing.T) {
	always := []string{"suite", "backend", "out", "problems", "methods", "peers", "v"}
	code, help, _ := runCLI("bench", "-h")
	if code != exitOK {
		t.Fatalf("bench -h: exit %d", code)
	}
	listed := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help, -1)
	var got []string
	for _, m := range listed {
		got = append(got, m[1])
	}
	want := append(slices.Clone(always), peerOnlyFlags...)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("bench -h lists %v; classified %v (add the new flag to always or peerOnlyFlags, and refuse it where it does nothing)", got, want)
	}
}
