package data

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestLoadEveryFamily: Load builds every family of Families from a synth:
// source with the family's own data type, refuses a key of another family,
// and names the families when the problem is unknown.
func TestLoadEveryFamily(t *testing.T) {
	sources := map[string]string{
		"ridge":         "synth:n=50,d=5,seed=1",
		"logreg":        "synth:n=50,d=5,seed=1",
		"quadratic":     "synth:m1=20,m2=30,d=5,h=3,seed=1",
		"equilibrium":   "synth:n=20,d=4,k=3,c=2,seed=1",
		"multilogreg":   "synth:n=40,m=20,d=6,c=3,density=0.5,seed=1",
		"hypercleaning": "synth:n=40,m=20,d=4,c=3,seed=1",
		"krr":           "synth:n=30,m=10,d=3,rho=0.5,gamma=0.2,seed=1",
		"biasreg":       "synth:tasks=3,n=8,m=6,d=4,rho=2,seed=1",
		"tvdenoise":     "synth:h=4,w=6,alpha=0.2,nu=0.1,seed=1",
	}
	want := map[string]string{
		"ridge": "*data.Supervised", "logreg": "*data.Supervised", "quadratic": "*data.Quadratic",
		"equilibrium": "*data.Equilibrium", "multilogreg": "*data.Multiclass", "hypercleaning": "*data.Hypercleaning",
		"krr": "*data.KRR", "biasreg": "*data.BiasReg", "tvdenoise": "*data.TVDenoise",
	}
	if len(sources) != len(Families) {
		t.Fatalf("%d families, %d sources in the test", len(Families), len(sources))
	}
	for _, f := range Families {
		d, err := Load(f, sources[f])
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if got := fmt.Sprintf("%T", d); got != want[f] {
			t.Errorf("%s: data of type %s, want %s", f, got, want[f])
		}
	}
	// A key of another family is an error naming it.
	for f, key := range map[string]string{"krr": "tasks=2", "biasreg": "gamma=1", "tvdenoise": "c=3", "multilogreg": "corrupt=0.1", "ridge": "w=3"} {
		if _, err := Load(f, "synth:"+key); !errors.Is(err, ErrOption) {
			t.Errorf("%s with %s: %v, want ErrOption", f, key, err)
		}
	}
	if _, err := Load("lasso", "synth:"); !errors.Is(err, ErrOption) {
		t.Errorf("unknown family: %v", err)
	}
}

// TestLoadTextFamilies: a text source feeds ridge, logreg, multilogreg and
// hypercleaning, with λ of the documented length, and is refused for the
// other families.
func TestLoadTextFamilies(t *testing.T) {
	dir := filepath.Join("testdata", "text")
	src := fmt.Sprintf("libsvm:train=%s,val=%s,lambda=-1", filepath.Join(dir, "train.svm"), filepath.Join(dir, "val.svm"))
	for _, f := range []string{"ridge", "logreg", "multilogreg", "hypercleaning"} {
		d, err := Load(f, src)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var lam []float64
		switch v := d.(type) {
		case *Supervised:
			lam = v.Lambda
			if cols := v.XTrain.Cols; len(lam) != cols {
				t.Errorf("%s: len λ = %d, want d = %d", f, len(lam), cols)
			}
		case *Multiclass:
			lam = v.Lambda
			if cols := v.XTrain.Cols; len(lam) != cols || v.Classes != 2 {
				t.Errorf("%s: len λ = %d (d = %d), %d classes", f, len(lam), cols, v.Classes)
			}
		case *Hypercleaning:
			lam = v.Lambda
			if rows := v.XTrain.Rows; len(lam) != rows || v.Reg != DefaultHypercleaningReg {
				t.Errorf("%s: len λ = %d (n = %d), reg %g", f, len(lam), rows, v.Reg)
			}
		default:
			t.Fatalf("%s: data of type %T", f, d)
		}
		for _, l := range lam {
			if l != -1 {
				t.Fatalf("%s: λ %v, want every entry −1", f, lam)
			}
		}
	}
	for _, f := range []string{"quadratic", "equilibrium", "krr", "biasreg", "tvdenoise"} {
		if _, err := Load(f, src); !errors.Is(err, ErrOption) {
			t.Errorf("%s from a text source: %v, want ErrOption", f, err)
		}
	}
}
