package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// vecBytes is the documented estimate of n vectors of length d.
func vecBytes(n, d int) int64 { return int64(n) * (8*int64(d) + 64) }

// TestITDMemoryBytes: MemoryBytes is the documented formula, stored and
// checkpointed, for gradient descent, heavy ball and FISTA.
func TestITDMemoryBytes(t *testing.T) {
	const d, h = 100, 3
	work := vecBytes(8, d) + vecBytes(2, h)
	seg := 32 // ⌈√1000⌉
	cks := (1000+seg-1)/seg + 2
	for _, c := range []struct {
		m    *hypergrad.ITD
		want int64
	}{
		{&hypergrad.ITD{T: 10}, vecBytes(11, d) + work},
		{&hypergrad.ITD{T: 10, Truncate: 4}, vecBytes(5, d) + work},
		{&hypergrad.ITD{T: 10, Truncate: 40}, vecBytes(11, d) + work},
		{&hypergrad.ITD{T: 10, Inner: hypergrad.FISTA{}}, vecBytes(12, d) + 80 + work},
		{&hypergrad.ITD{T: 1000, Checkpoint: true}, vecBytes(cks+seg+1, d) + work},
		{&hypergrad.ITD{T: 1000, Checkpoint: true, Inner: hypergrad.HeavyBall{}}, vecBytes(2*cks+seg+3, d) + work},
		{&hypergrad.ITD{T: 1000, Checkpoint: true, Inner: hypergrad.FISTA{}}, vecBytes(2*cks+seg+3, d) + 8000 + work},
		{&hypergrad.ITD{T: math.MaxInt}, math.MaxInt64},
	} {
		if got := c.m.MemoryBytes(d, h); got != c.want {
			t.Errorf("%v (T = %d): MemoryBytes = %d, want %d", c.m, c.m.T, got, c.want)
		}
	}
}

// TestITDRefusesBeyondMemory: ITD with t = 1e8 on d = 100 (a stored
// trajectory of 86 GB) fails with ErrTooLarge at once, allocating next to
// nothing, and says Checkpoint would fit; a negative MaxBytes is invalid.
func TestITDRefusesBeyondMemory(t *testing.T) {
	p := ridge(t, 200, 100, 10, 1)
	if _, err := p.Constants(); err != nil { // not part of the estimate's allocations
		t.Fatal(err)
	}
	m := &hypergrad.ITD{T: 100_000_000}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	_, err := m.Estimate(context.Background(), p, nil)
	elapsed := time.Since(t0)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, hypergrad.ErrTooLarge) || !errors.Is(err, hypergrad.ErrInvalidSettings) {
		t.Fatalf("T = 1e8: got %v, want ErrTooLarge", err)
	}
	for _, s := range []string{"K = 100000000", "d = 100", "set Checkpoint", "Truncate ≤"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("the refusal allocated %d bytes, want < 1 MiB", alloc)
	}
	if elapsed > 5*time.Second {
		t.Errorf("the refusal took %v", elapsed)
	}
	// The Truncate the message proposes fits, one more does not.
	k, err2 := strconv.Atoi(regexp.MustCompile(`Truncate ≤ (\d+)`).FindStringSubmatch(err.Error())[1])
	if err2 != nil {
		t.Fatal(err2)
	}
	fits := func(k int) bool {
		return (&hypergrad.ITD{T: 100_000_000, Truncate: k}).MemoryBytes(100, 100) <= hypergrad.DefaultMaxBytes
	}
	if !fits(k) || fits(k+1) {
		t.Errorf("proposed Truncate %d: fits %v, %d fits %v", k, fits(k), k+1, fits(k+1))
	}
	if _, err := (&hypergrad.ITD{T: 5, MaxBytes: -1}).Estimate(context.Background(), p, nil); !errors.Is(err, hypergrad.ErrInvalidSettings) || errors.Is(err, hypergrad.ErrTooLarge) {
		t.Errorf("MaxBytes = -1: got %v, want ErrInvalidSettings", err)
	}
}

// TestITDCheckpointWithinBudget: with a budget that the stored trajectory
// of t = 500 steps exceeds, stored ITD is refused and checkpointed ITD
// runs, with the bits of stored ITD under the default budget.
func TestITDCheckpointWithinBudget(t *testing.T) {
	const d = 40
	p := ridge(t, 100, d, 10, 2)
	budget := vecBytes(501, d) / 4 // stored: 501 iterates; checkpointed: 48 (heavy ball and FISTA 74)
	for _, inner := range []hypergrad.InnerSolver{hypergrad.GradientDescent{}, hypergrad.HeavyBall{}, hypergrad.FISTA{}} {
		stored := &hypergrad.ITD{T: 500, Inner: inner, MaxCacheBytes: -1, MaxBytes: budget}
		if _, err := stored.Estimate(context.Background(), p, nil); !errors.Is(err, hypergrad.ErrTooLarge) || !strings.Contains(err.Error(), "set Checkpoint") {
			t.Fatalf("%v stored within %d bytes: got %v, want ErrTooLarge proposing Checkpoint", inner, budget, err)
		}
		ck := &hypergrad.ITD{T: 500, Inner: inner, Checkpoint: true, MaxBytes: budget}
		if need := ck.MemoryBytes(d, p.HyperDim()); need > budget {
			t.Fatalf("%v checkpointed needs %d > %d", inner, need, budget)
		}
		got := estimate(t, ck, p, nil)
		want := estimate(t, &hypergrad.ITD{T: 500, Inner: inner, MaxCacheBytes: -1}, p, nil)
		for i := range want.Hypergradient {
			if got.Hypergradient[i] != want.Hypergradient[i] {
				t.Fatalf("%v: checkpointed %v, stored %v", inner, got.Hypergradient[:3], want.Hypergradient[:3])
			}
		}
	}
}

// TestITDRecordedLinearizationsCount: where the problem records its
// linearizations (ridge), the slots replace the trajectory in the budget:
// a budget below the stored trajectory but above the slots and work
// vectors runs, with the bits of the unbounded run.
func TestITDRecordedLinearizationsCount(t *testing.T) {
	const d = 50
	p := ridge(t, 100, d, 10, 3)
	want := estimate(t, &hypergrad.ITD{T: 300}, p, nil)
	slots := 301 * p.SlotBytes()
	work := vecBytes(8, d) + vecBytes(2, p.HyperDim())
	stored := (&hypergrad.ITD{T: 300}).MemoryBytes(d, p.HyperDim())
	if slots+work >= stored {
		t.Fatalf("slots (%d bytes) not smaller than the trajectory (%d): the test needs another shape", slots, stored)
	}
	got := estimate(t, &hypergrad.ITD{T: 300, MaxBytes: slots + work}, p, nil)
	for i := range want.Hypergradient {
		if got.Hypergradient[i] != want.Hypergradient[i] {
			t.Fatalf("recorded within budget: %v, want %v", got.Hypergradient[:3], want.Hypergradient[:3])
		}
	}
	// Without recording the same budget refuses.
	if _, err := (&hypergrad.ITD{T: 300, MaxBytes: slots + work, MaxCacheBytes: -1}).Estimate(context.Background(), p, nil); !errors.Is(err, hypergrad.ErrTooLarge) {
		t.Errorf("stored within %d bytes: got %v, want ErrTooLarge", slots+work, err)
	}
}

// TestFixedPointITDMemory: reverse mode's ring is bounded like ITD's
// trajectory (t = 1e8 refused at once, checkpointing proposed and
// accepted within the budget, with the stored bits), forward mode's
// ∂w/∂λ as before, and MemoryBytes is the documented formula.
func TestFixedPointITDMemory(t *testing.T) {
	p := tanhProblem(t)
	d, h := p.InnerDim(), p.HyperDim()
	if got, want := (&hypergrad.FixedPointITD{T: 17}).MemoryBytes(d, h), vecBytes(19, d)+vecBytes(3, d)+vecBytes(2, h); got != want {
		t.Errorf("reverse MemoryBytes = %d, want %d", got, want)
	}
	if got, want := (&hypergrad.FixedPointITD{T: 17, Checkpoint: true}).MemoryBytes(d, h), vecBytes(4+2+5+1, d)+vecBytes(3, d)+vecBytes(2, h); got != want {
		t.Errorf("checkpointed MemoryBytes = %d, want %d", got, want)
	}
	if got, want := (&hypergrad.FixedPointITD{T: 17, Forward: true}).MemoryBytes(d, h), vecBytes(h+5, d)+vecBytes(3, h); got != want {
		t.Errorf("forward MemoryBytes = %d, want %d", got, want)
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := (&hypergrad.FixedPointITD{T: 100_000_000, MaxBytes: 4 << 20}).EstimateFixedPoint(context.Background(), p, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, hypergrad.ErrTooLarge) || !strings.Contains(err.Error(), "set Checkpoint") {
		t.Fatalf("T = 1e8: got %v, want ErrTooLarge proposing Checkpoint", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("the refusal allocated %d bytes, want < 1 MiB", alloc)
	}

	budget := vecBytes(400, d) // stored 1000 steps need 1005 vectors; checkpointed 69
	if _, err := (&hypergrad.FixedPointITD{T: 1000, MaxBytes: budget}).EstimateFixedPoint(context.Background(), p, nil); !errors.Is(err, hypergrad.ErrTooLarge) {
		t.Fatalf("stored within %d bytes: got %v, want ErrTooLarge", budget, err)
	}
	got := estimateFP(t, &hypergrad.FixedPointITD{T: 1000, Checkpoint: true, MaxBytes: budget}, p, nil)
	want := estimateFP(t, &hypergrad.FixedPointITD{T: 1000}, p, nil)
	for i := range want.Hypergradient {
		if got.Hypergradient[i] != want.Hypergradient[i] {
			t.Fatalf("checkpointed %v, stored %v", got.Hypergradient, want.Hypergradient)
		}
	}

	_, err = (&hypergrad.FixedPointITD{T: 3, Forward: true, MaxBytes: 8}).EstimateFixedPoint(context.Background(), p, nil)
	if !errors.Is(err, hypergrad.ErrTooLarge) || !strings.Contains(err.Error(), "use reverse mode") {
		t.Errorf("forward within 8 bytes: got %v", err)
	}
}

// TestTargetStop: a reachable target ends TargetReached, a target below
// the rounding floor ends TargetFloor with budgets left, exhausted budgets
// end TargetBudget, and no target leaves TargetNone.
func TestTargetStop(t *testing.T) {
	p := ridge(t, 200, 20, 10, 4)
	for _, c := range []struct {
		aid  *hypergrad.AID
		want hypergrad.TargetStop
	}{
		{&hypergrad.AID{T: 100000, K: 100000, Target: &hypergrad.Target{Rel: 1e-6}}, hypergrad.TargetReached},
		{&hypergrad.AID{T: 100000, K: 100000, Target: &hypergrad.Target{Rel: 1e-30}}, hypergrad.TargetFloor},
		{&hypergrad.AID{T: 3, K: 2, Target: &hypergrad.Target{Rel: 1e-12}}, hypergrad.TargetBudget},
		{&hypergrad.AID{T: 50, K: 10}, hypergrad.TargetNone},
	} {
		res := estimate(t, c.aid, p, nil)
		if res.TargetStop != c.want {
			t.Errorf("%+v: TargetStop %v, want %v (met %v, %d rounds, %d inner iterations)", c.aid.Target, res.TargetStop, c.want, res.TargetMet, res.Rounds, res.InnerIters)
		}
		if c.want == hypergrad.TargetFloor && (res.InnerIters >= c.aid.T || res.TargetMet) {
			t.Errorf("floor: %d inner iterations of %d, met %v", res.InnerIters, c.aid.T, res.TargetMet)
		}
		if b, err := c.want.MarshalText(); err != nil || string(b) != c.want.String() {
			t.Errorf("MarshalText(%v) = %q, %v", c.want, b, err)
		}
	}
}
