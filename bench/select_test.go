package bench

import (
	"strings"
	"testing"
)

// TestSelectRefuses: a name listed twice, and a selection from a suite
// without problems or methods, are errors naming the cause; a selection
// keeps the listed order and ignores surrounding spaces.
func TestSelectRefuses(t *testing.T) {
	s := Quick()
	if err := s.Select(" quadratic ,ridge", "itd"); err != nil || len(s.Problems) != 2 || s.Problems[0].Name != "quadratic" || s.Problems[1].Name != "ridge" {
		t.Fatalf("Select: %v, problems %v", err, s.Problems)
	}
	for _, tc := range []struct {
		suite             *Suite
		problems, methods string
		want              string
	}{
		{Quick(), "quadratic,quadratic", "", `duplicate problem "quadratic"`},
		{Quick(), "", "itd, itd", `duplicate method "itd"`},
		{OuterOnly(), "ridge", "", "suite maid has no problems"},
		{OuterOnly(), "", "itd", "suite maid has no methods"},
		{NoProblems(), "ridge", "", "suite none has no problems"},
	} {
		if err := tc.suite.Select(tc.problems, tc.methods); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Select(%q, %q) on %s: %v, want an error saying %q", tc.problems, tc.methods, tc.suite.Name, err, tc.want)
		}
	}
	if !NoProblems().Empty() || Quick().Empty() || OuterOnly().Empty() {
		t.Error("Empty: want true for none only")
	}
}
