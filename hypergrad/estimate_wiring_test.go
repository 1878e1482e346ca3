package hypergrad_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// TestAIDErrorEstimate: with AID.ErrorEstimate the Result carries the
// estimate of EstimateError on the same result (same bits), its oracle
// calls are added to the Result's Counts and nothing else changes; without
// it the Result has the zero estimate, and the hypergradient, W, V and
// Counts of the two runs are identical.
func TestAIDErrorEstimate(t *testing.T) {
	p := logregTest(t)
	off := estimate(t, &hypergrad.AID{Inner: hypergrad.FISTA{}, T: 40, K: 8}, p, nil)
	on := estimate(t, &hypergrad.AID{Inner: hypergrad.FISTA{}, T: 40, K: 8, ErrorEstimate: true}, p, nil)
	if !reflect.DeepEqual(off.Estimate, hypergrad.ErrorEstimate{}) {
		t.Errorf("estimate off: %+v, want the zero value", off.Estimate)
	}
	if !reflect.DeepEqual(on.Hypergradient, off.Hypergradient) || !reflect.DeepEqual(on.W, off.W) || !reflect.DeepEqual(on.V, off.V) {
		t.Error("the estimate changed the hypergradient or the iterates")
	}
	e := on.Estimate
	if e.Kind != hypergrad.BoundEstimate || !(e.Value > 0) {
		t.Fatalf("estimate %+v", e)
	}
	if subCounts(on.Counts, e.Counts) != off.Counts {
		t.Errorf("counts %+v − estimate %+v ≠ counts without %+v", on.Counts, e.Counts, off.Counts)
	}
	ref, err := hypergrad.EstimateError(context.Background(), p, off)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Value != e.Value || !reflect.DeepEqual(ref.Correction, e.Correction) || ref.Counts != e.Counts {
		t.Errorf("wired estimate %v, standalone %v", e.Value, ref.Value)
	}
	itd := estimate(t, &hypergrad.ITD{T: 20}, p, nil)
	if itd.Estimate.Kind != hypergrad.BoundNone {
		t.Errorf("ITD: estimate kind %v", itd.Estimate.Kind)
	}
}

func subCounts(a, b hypergrad.Counts) hypergrad.Counts {
	return hypergrad.Counts{InnerGrads: a.InnerGrads - b.InnerGrads, HessVecs: a.HessVecs - b.HessVecs, CrossVecs: a.CrossVecs - b.CrossVecs,
		OuterGrads: a.OuterGrads - b.OuterGrads, OuterHyperGrads: a.OuterHyperGrads - b.OuterHyperGrads,
		Linearizations: a.Linearizations - b.Linearizations, HessDiags: a.HessDiags - b.HessDiags}
}
