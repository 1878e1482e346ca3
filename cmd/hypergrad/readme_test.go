package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEProgram runs the README's library program as written, from the
// repository root (where its data path points), so that the README's
// example cannot drift from the API.
func TestREADMEProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "```go\npackage main\n")
	if i < 0 {
		t.Fatal("README.md has no ```go block with package main")
	}
	s = s[i+len("```go\n"):]
	src := s[:strings.Index(s, "```")]
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// A directory whose name starts with a dot is outside ./... patterns.
	dir, err := os.MkdirTemp(root, ".readme-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./"+filepath.Base(dir))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run of the README's program: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "converged") || !strings.Contains(string(out), "outer iterations") {
		t.Errorf("README program printed %q", out)
	}
}
