package hypergrad_test

import (
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// soakSample is the process state the soak test compares.
type soakSample struct {
	heap       uint64 // live heap bytes after a full GC (runtime.MemStats.HeapAlloc)
	goroutines int
	device     int64 // backend.Allocated()
}

// TestSoak computes 1000 hypergradients on one small ridge problem (n = 60,
// d = 8), alternating AID-CG and ITD, and checks that nothing leaks: the live
// heap after GC grows by less than 1 MiB between the end of the first 100
// estimates and the end of the last 100, the goroutine count and the
// backend's allocated bytes are exactly those after the first 100, and every
// estimate of a method is bit-identical to its first, which is within 1e-8
// of the exact (dense) hypergradient for AID.
func TestSoak(t *testing.T) {
	const (
		total    = 1000
		warmup   = 100
		maxHeapΔ = 1 << 20
	)
	p := ridge(t, 60, 8, 10, 7)
	b := p.Backend()
	ref := reference(t, p)
	ests := []hypergrad.Estimator{
		&hypergrad.AID{Inner: hypergrad.GradientDescent{}, Linear: hypergrad.ConjugateGradient{}, T: 400, K: 8},
		&hypergrad.ITD{Inner: hypergrad.GradientDescent{}, T: 60},
	}
	first := make([][]float64, len(ests))
	sample := func() soakSample {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return soakSample{heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine(), device: b.Allocated()}
	}
	base := b.Allocated()
	var after soakSample
	ctx := context.Background()
	for i := range total {
		e := ests[i%len(ests)]
		res, err := e.Estimate(ctx, p, nil)
		if err != nil {
			t.Fatalf("estimate %d: %v", i, err)
		}
		h := res.Hypergradient
		if f := first[i%len(ests)]; f == nil {
			first[i%len(ests)] = h
		} else {
			for j := range h {
				if math.Float64bits(h[j]) != math.Float64bits(f[j]) {
					t.Fatalf("estimate %d (%s): h[%d] = %v, the first estimate gave %v", i, res.Method, j, h[j], f[j])
				}
			}
		}
		if got := b.Allocated(); got != base {
			t.Fatalf("estimate %d (%s) left %d bytes allocated on the backend, %d before", i, res.Method, got, base)
		}
		if i == warmup-1 {
			after = sample()
		}
	}
	if rel := bileveltest.RelErr(first[0], ref.Hypergradient); !(rel <= 1e-8) {
		t.Fatalf("AID-CG relative error %.3g against the exact hypergradient, want ≤ 1e-8", rel)
	}
	end := sample()
	t.Logf("after %d: heap %d B, %d goroutines, %d device bytes; after %d: heap %d B, %d goroutines, %d device bytes",
		warmup, after.heap, after.goroutines, after.device, total, end.heap, end.goroutines, end.device)
	if end.heap > after.heap+maxHeapΔ {
		t.Errorf("live heap grew from %d to %d bytes over %d estimates (limit %d)", after.heap, end.heap, total-warmup, maxHeapΔ)
	}
	if end.goroutines != after.goroutines {
		t.Errorf("goroutines: %d after %d estimates, %d after %d", after.goroutines, warmup, end.goroutines, total)
	}
	if end.device != after.device {
		t.Errorf("backend bytes: %d after %d estimates, %d after %d", after.device, warmup, end.device, total)
	}
}
