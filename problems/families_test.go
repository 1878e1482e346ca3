package problems

import (
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/data"
)

// familySources are small synth: instances of every optimisation family.
var familySources = map[string]string{
	"ridge":         "synth:n=50,d=5,seed=1",
	"logreg":        "synth:n=50,d=5,seed=1",
	"quadratic":     "synth:m1=20,m2=30,d=5,h=3,seed=1",
	"multilogreg":   "synth:n=40,m=20,d=6,c=3,density=0.5,seed=1",
	"hypercleaning": "synth:n=40,m=20,d=4,c=3,seed=1",
	"krr":           "synth:n=30,m=10,d=3,rho=0.5,gamma=0.2,seed=1",
	"biasreg":       "synth:tasks=3,n=8,m=6,d=4,rho=2,seed=1",
	"tvdenoise":     "synth:h=4,w=6,alpha=0.2,nu=0.1,seed=1",
}

// TestNewEveryFamily: New builds every optimisation family of data.Families
// from what data.Load returns, with a shape line, a reference within the
// dense-byte estimate's budget, and a nil Problem (not a typed nil) with an
// error for data of another family or invalid data.
func TestNewEveryFamily(t *testing.T) {
	b := newCPU(t)
	for _, f := range data.Families {
		if f == "equilibrium" {
			if _, _, err := New(b, f, mustLoad(t, f, "synth:n=20,d=4,k=3,c=2,seed=1")); err == nil {
				t.Error("New built the fixed-point family equilibrium")
			}
			continue
		}
		src, ok := familySources[f]
		if !ok {
			t.Fatalf("no test source for %s", f)
		}
		d := mustLoad(t, f, src)
		p, shape, err := New(b, f, d)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if shape == "" || p.InnerDim() < 1 || p.HyperDim() < 1 {
			t.Errorf("%s: shape %q, d = %d, h = %d", f, shape, p.InnerDim(), p.HyperDim())
		}
		nb, err := DenseBytes(f, d)
		if err != nil || nb <= 0 {
			t.Errorf("%s: DenseBytes %d, %v", f, nb, err)
		}
		ref, err := p.Reference()
		if err != nil || len(ref.Hypergradient) != p.HyperDim() {
			t.Errorf("%s: reference: %v", f, err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("%s: Close: %v", f, err)
		}
		other := "ridge"
		if f == "ridge" || f == "logreg" {
			other = "krr"
		}
		if p, _, err := New(b, other, d); err == nil || p != nil || !strings.Contains(err.Error(), other) {
			t.Errorf("%s data as %s: %v, %v", f, other, p, err)
		}
	}
	// Invalid data: the error comes with a nil interface, not a typed nil.
	bad := &data.Supervised{XTrain: data.NewDense(2, 2, nil), XVal: data.NewDense(1, 3, nil), YTrain: []float64{1, 2}, YVal: []float64{1}, Lambda: []float64{0, 0}}
	if p, _, err := New(b, "ridge", bad); err == nil || p != nil {
		t.Errorf("invalid ridge data: %v, %v", p, err)
	}
}

func mustLoad(t *testing.T, family, src string) any {
	t.Helper()
	d, err := data.Load(family, src)
	if err != nil {
		t.Fatalf("%s: %v", family, err)
	}
	return d
}
