package data

import (
	"errors"
	"testing"
)

// TestLoadSynthHypercleaning: the synth: keys of hypercleaning reach
// SynthHypercleaning; corrupt=0 means clean labels; keys of other families
// and out-of-range values are ErrOption.
func TestLoadSynthHypercleaning(t *testing.T) {
	v, err := Load("hypercleaning", "synth:n=50,m=20,d=3,c=3,corrupt=0.2,reg=0.05,lambda=1,seed=7")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := SynthHypercleaning(HypercleaningOptions{N: 50, M: 20, P: 3, C: 3, Corrupt: 0.2, Reg: 0.05, Lambda: 1, Seed: 7})
	if !sameHypercleaning(v.(*Hypercleaning), want) {
		t.Error("Load differs from SynthHypercleaning")
	}
	v, err = Load("hypercleaning", "synth:n=50,corrupt=0")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range v.(*Hypercleaning).Corrupted {
		if c {
			t.Fatal("corrupt=0 corrupted a row")
		}
	}
	for _, bad := range []string{"synth:kappa=3", "synth:k=2", "synth:c=1", "synth:corrupt=2", "synth:reg=0", "synth:reg=-1"} {
		if _, err := Load("hypercleaning", bad); !errors.Is(err, ErrOption) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := Load("ridge", "synth:corrupt=0.1"); !errors.Is(err, ErrOption) {
		t.Errorf("corrupt for ridge: %v", err)
	}
}
