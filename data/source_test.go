package data

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSynth(t *testing.T) {
	s, ok, err := ParseSynth("synth:n=20000,d=2000,kappa=1e3,seed=0")
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	o := s.Options
	if o.N != 20000 || o.D != 2000 || o.Kappa != 1000 || o.Seed != 0 || o.M != 0 || o.Noise != 0.1 || !math.IsNaN(o.Lambda) {
		t.Errorf("options %+v", o)
	}
	if len(s.Keys) != 4 || s.Keys["kappa"] != "1e3" {
		t.Errorf("keys %v", s.Keys)
	}

	s, ok, err = ParseSynth("synth:")
	if d := s.Options; err != nil || !ok || d.N != 1000 || d.M != 0 || d.D != 100 || d.Kappa != 100 || d.Noise != 0.1 || !math.IsNaN(d.Lambda) || d.Seed != 0 || s.Quadratic != (QuadraticOptions{}) {
		t.Errorf("defaults: %+v %v %v", s, ok, err)
	}

	s, _, err = ParseSynth("synth: m1=50, m2=60 ,d=4,h=3,sigma=0.5,numpy=true,seed=9")
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Quadratic; q != (QuadraticOptions{M1: 50, M2: 60, D: 4, H: 3, Sigma: 0.5, Seed: 9, NumPy: true}) {
		t.Errorf("quadratic %+v", q)
	}

	s, _, err = ParseSynth("synth:n=2e4,m=0,noise=0,lambda=-3.5")
	if err != nil || s.Options.N != 20000 || s.Options.Noise != 0 || s.Options.Lambda != -3.5 {
		t.Errorf("%+v %v", s, err)
	}

	for _, path := range []string{"data.npz", "/tmp/synth:x.npz", "Synth:n=1", ""} {
		if s, ok, err := ParseSynth(path); ok || err != nil || s != nil {
			t.Errorf("ParseSynth(%q) = %v, %v, %v; want a file path", path, s, ok, err)
		}
	}

	bad := []struct{ spec, want string }{
		{"synth:n=0", "key n=0"},
		{"synth:n=-5", "key n=-5"},
		{"synth:n=1.5", "key n=1.5"},
		{"synth:n=abc", "key n=abc"},
		{"synth:d=0", "key d=0"},
		{"synth:m=-1", "key m=-1"},
		{"synth:kappa=0.9", "key kappa=0.9"},
		{"synth:kappa=nan", "key kappa=nan"},
		{"synth:noise=-0.1", "key noise=-0.1"},
		{"synth:noise=inf", "key noise=inf"},
		{"synth:lambda=NaN", "key lambda=NaN"},
		{"synth:sigma=0", "key sigma=0"},
		{"synth:seed=-1", "key seed=-1"},
		{"synth:numpy=yes", "key numpy=yes"},
		{"synth:rows=5", `unknown key "rows"`},
		{"synth:n=5,n=6", "key n given twice"},
		{"synth:n", `"n" is not key=value`},
	}
	for _, c := range bad {
		_, ok, err := ParseSynth(c.spec)
		if !ok || !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSynth(%q) = %v, %v; want an error containing %q", c.spec, ok, err, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	v, err := Load("ridge", "synth:n=100,d=5,seed=3")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := v.(*Supervised)
	if !ok || r.XTrain.Rows != 100 || r.XTrain.Cols != 5 || r.XVal.Rows != 25 {
		t.Fatalf("ridge: %T", v)
	}
	v, err = Load("logreg", "synth:n=100,d=5,seed=3,noise=0")
	if err != nil {
		t.Fatal(err)
	}
	if l := v.(*Supervised); !sameFloats(l.XTrain.Data, r.XTrain.Data) {
		t.Error("logreg features differ from ridge")
	}
	v, err = Load("quadratic", "synth:numpy=true")
	if err != nil {
		t.Fatal(err)
	}
	q := v.(*Quadratic)
	if q.A.Rows != 1000 || q.A.At(0, 0) != 0.5488135039273248 {
		t.Errorf("quadratic A[0,0] = %v", q.A.At(0, 0))
	}

	// Files.
	dir := t.TempDir()
	path := filepath.Join(dir, "r.npz")
	if err := SaveSupervised(path, r); err != nil {
		t.Fatal(err)
	}
	if v, err := Load("ridge", path); err != nil || !sameFloats(v.(*Supervised).YTrain, r.YTrain) {
		t.Errorf("Load(ridge, file): %v", err)
	}
	if _, err := Load("logreg", path); !errors.Is(err, ErrLabels) {
		t.Errorf("Load(logreg, real-valued file) = %v; want ErrLabels", err)
	}
	qpath := filepath.Join(dir, "q.npz")
	if err := SaveQuadratic(qpath, q); err != nil {
		t.Fatal(err)
	}
	if v, err := Load("quadratic", qpath); err != nil || !sameFloats(v.(*Quadratic).E, q.E) {
		t.Errorf("Load(quadratic, file): %v", err)
	}
	if _, err := Load("quadratic", path); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), `missing array "A"`) {
		t.Errorf("Load(quadratic, ridge file) = %v", err)
	}

	for _, c := range []struct{ problem, source, want string }{
		{"lasso", "synth:", `unknown problem "lasso"`},
		{"quadratic", "synth:n=10", "key n does not apply to problem quadratic"},
		{"ridge", "synth:sigma=0.1", "key sigma does not apply to problem ridge"},
		{"logreg", "synth:noise=0.7", "noise"},
		{"ridge", "synth:kappa=0", "key kappa=0"},
		{"ridge", filepath.Join(dir, "absent.npz"), "absent.npz"},
	} {
		if _, err := Load(c.problem, c.source); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q, %q) = %v; want an error containing %q", c.problem, c.source, err, c.want)
		}
	}
}
