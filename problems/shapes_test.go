package problems

import (
	"errors"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
)

// TestCheckProblemShapes runs the shared operand checker (nil, typed-nil,
// too long and too short vectors, out-of-range slots: an error, no panic,
// no backend error left) on ridge and logreg with h = d and h = 1 and on
// quadratic with h < d, h = 1 and h > d, and the fixed-point one on their
// gradient-step maps.
func TestCheckProblemShapes(t *testing.T) {
	for _, z := range crossZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			bileveltest.CheckProblemShapes(t, p)
			gs, err := bilevel.NewGradientStep(p, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer gs.Close()
			w := bileveltest.Vec(t, p.Backend(), randomPoint(p.InnerDim(), 90))
			defer p.Backend().Free(w)
			if err := gs.Linearize(w); err != nil {
				t.Fatal(err)
			}
			bileveltest.CheckFixedPointShapes(t, gs)
		})
	}
}

// TestOperandErrors: a bad operand gives an *OperandError that wraps
// ErrOperand and names the oracle and the argument, leaves dst as it was
// and records nothing on the backend.
func TestOperandErrors(t *testing.T) {
	for _, z := range crossZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			b := p.Backend()
			d, h := p.InnerDim(), p.HyperDim()
			sentinel := func(n int) []float64 {
				x := make([]float64, n)
				for i := range x {
					x[i] = float64(i) + 0.25
				}
				return x
			}
			dstD := bileveltest.Vec(t, b, sentinel(d))
			defer b.Free(dstD)
			dstH := bileveltest.Vec(t, b, sentinel(h))
			defer b.Free(dstH)
			w := bileveltest.Vec(t, b, randomPoint(d, 91))
			defer b.Free(w)
			long := bileveltest.Vec(t, b, make([]float64, d+h+1)) // neither d nor h
			defer b.Free(long)
			if err := p.Linearize(w); err != nil {
				t.Fatal(err)
			}
			ca := p.(bilevel.CrossApplier)
			for _, c := range []struct {
				oracle, operand string
				nilOp           bool
				dst             backend.Vector // left untouched
				call            func() error
			}{
				{"InnerValue", "w", true, dstD, func() error { _, err := p.InnerValue(nil); return err }},
				{"InnerGrad", "w", false, dstD, func() error { return p.InnerGrad(dstD, long) }},
				{"InnerGrad", "dst", true, dstD, func() error { return p.InnerGrad(nil, w) }},
				{"Linearize", "w", true, dstD, func() error { return p.Linearize(nil) }},
				{"HessVec", "v", false, dstD, func() error { return p.HessVec(dstD, long) }},
				{"CrossVec", "dst", false, dstH, func() error { return p.CrossVec(long, w) }},
				{"CrossVec", "v", true, dstH, func() error { return p.CrossVec(dstH, nil) }},
				{"CrossApply", "u", false, dstD, func() error { return ca.CrossApply(dstD, long) }},
				{"OuterValue", "w", false, dstD, func() error { _, err := p.OuterValue(long); return err }},
				{"OuterGrad", "dst", true, dstD, func() error { return p.OuterGrad(nil, w) }},
				{"OuterHyperGrad", "dst", false, dstH, func() error { return p.OuterHyperGrad(long, w) }},
				{"OuterHyperGrad", "w", true, dstH, func() error { return p.OuterHyperGrad(dstH, nil) }},
				{"HessDiag", "dst", false, dstD, func() error { return p.(bilevel.HessDiager).HessDiag(long) }},
			} {
				before := bileveltest.Host(t, b, c.dst)
				err := c.call()
				var oe *OperandError
				switch {
				case !errors.Is(err, ErrOperand) || !errors.As(err, &oe):
					t.Errorf("%s with a bad %s: %v, want an *OperandError wrapping ErrOperand", c.oracle, c.operand, err)
				case oe.Oracle != c.oracle || oe.Operand != c.operand || oe.Nil != c.nilOp:
					t.Errorf("%s with a bad %s: %+v names the wrong oracle or operand", c.oracle, c.operand, *oe)
				case !c.nilOp && (oe.Len != d+h+1 || oe.Want != d && oe.Want != h):
					t.Errorf("%s with a bad %s: %+v: wrong lengths (have %d)", c.oracle, c.operand, *oe, d+h+1)
				}
				if e := b.Err(); e != nil {
					t.Errorf("%s with a bad %s: the backend recorded %v", c.oracle, c.operand, e)
					b.ClearErr()
				}
				if after := bileveltest.Host(t, b, c.dst); bileveltest.RelErr(after, before) != 0 {
					t.Errorf("%s with a bad %s: dst was written: %v", c.oracle, c.operand, after)
				}
			}
		})
	}
}

// TestSlotErrors: an out-of-range slot of InnerGradRecord,
// InnerGradRecordHessVec and UseSlot is an *OperandError for the operand
// "slot" that leaves the current linearization and dst alone.
func TestSlotErrors(t *testing.T) {
	for _, z := range crossZoo() {
		ls, ok := z.p(t).(bilevel.LinearizationStore)
		if !ok {
			continue
		}
		t.Run(z.name, func(t *testing.T) {
			p := ls.(bilevel.Problem)
			b := p.Backend()
			d := p.InnerDim()
			w := bileveltest.Vec(t, b, randomPoint(d, 92))
			defer b.Free(w)
			v := bileveltest.Vec(t, b, randomPoint(d, 93))
			defer b.Free(v)
			dst := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(dst)
			hdst := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(hdst)
			if err := p.Linearize(w); err != nil {
				t.Fatal(err)
			}
			if err := p.HessVec(hdst, v); err != nil {
				t.Fatal(err)
			}
			want := bileveltest.Host(t, b, hdst)
			if err := ls.AllocSlots(2); err != nil {
				t.Fatal(err)
			}
			defer ls.FreeSlots()
			gh := p.(bilevel.GradHessVecer)
			for _, slot := range []int{-1, 2, 1 << 40} {
				for name, call := range map[string]func() error{
					"UseSlot":                func() error { return ls.UseSlot(slot) },
					"InnerGradRecord":        func() error { return ls.InnerGradRecord(dst, w, slot) },
					"InnerGradRecordHessVec": func() error { return gh.InnerGradRecordHessVec(dst, w, slot, hdst, v) },
				} {
					b.Fill(dst, 7)
					err := call()
					var oe *OperandError
					if !errors.As(err, &oe) || !errors.Is(err, ErrOperand) || oe.Oracle != name || oe.Operand != "slot" || oe.Len != slot || oe.Want != 2 {
						t.Errorf("%s(slot %d): %v, want an *OperandError for the slot", name, slot, err)
					}
					for i, x := range bileveltest.Host(t, b, dst) {
						if x != 7 {
							t.Fatalf("%s(slot %d): dst[%d] = %v was written", name, slot, i, x)
						}
					}
				}
			}
			// The linearization at w is still current.
			if err := p.HessVec(hdst, v); err != nil {
				t.Fatal(err)
			}
			if got := bileveltest.Host(t, b, hdst); bileveltest.RelErr(got, want) != 0 {
				t.Errorf("HessVec after rejected slots: %v, want %v", got, want)
			}
		})
	}
}

// TestOraclesNoAllocs: with valid operands, the oracles allocate nothing on
// the host per call (the operand checks build an error only on failure).
// CrossNorm is left out: for a per-feature λ it downloads w to the host.
func TestOraclesNoAllocs(t *testing.T) {
	for _, z := range crossZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			b := p.Backend()
			d, h := p.InnerDim(), p.HyperDim()
			w := bileveltest.Vec(t, b, randomPoint(d, 94))
			defer b.Free(w)
			v := bileveltest.Vec(t, b, randomPoint(d, 95))
			defer b.Free(v)
			u := bileveltest.Vec(t, b, randomPoint(h, 96))
			defer b.Free(u)
			dst := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(dst)
			dst2 := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(dst2)
			dstH := bileveltest.Vec(t, b, make([]float64, h))
			defer b.Free(dstH)
			var err error
			keep := func(e error) {
				if e != nil && err == nil {
					err = e
				}
			}
			calls := []struct {
				name string
				call func()
			}{
				{"InnerValue", func() { _, e := p.InnerValue(w); keep(e) }},
				{"InnerGrad", func() { keep(p.InnerGrad(dst, w)) }},
				{"Linearize", func() { keep(p.Linearize(w)) }},
				{"HessVec", func() { keep(p.HessVec(dst, v)) }},
				{"CrossVec", func() { keep(p.CrossVec(dstH, v)) }},
				{"CrossApply", func() { keep(p.(bilevel.CrossApplier).CrossApply(dst, u)) }},
				{"HessDiag", func() { keep(p.(bilevel.HessDiager).HessDiag(dst)) }},
				{"OuterValue", func() { _, e := p.OuterValue(w); keep(e) }},
				{"OuterGrad", func() { keep(p.OuterGrad(dst, w)) }},
				{"OuterHyperGrad", func() { keep(p.OuterHyperGrad(dstH, w)) }},
			}
			if pp, ok := p.(bilevel.HessVecPairer); ok {
				calls = append(calls, struct {
					name string
					call func()
				}{"HessVecPair", func() { keep(pp.HessVecPair(dst, v, dst2, w)) }})
			}
			if ls, ok := p.(bilevel.LinearizationStore); ok {
				if err := ls.AllocSlots(1); err != nil {
					t.Fatal(err)
				}
				defer ls.FreeSlots()
				gh := p.(bilevel.GradHessVecer)
				calls = append(calls, []struct {
					name string
					call func()
				}{
					{"InnerGradRecord", func() { keep(ls.InnerGradRecord(dst, w, 0)) }},
					{"UseSlot", func() { keep(ls.UseSlot(0)) }},
					{"InnerGradRecordHessVec", func() { keep(gh.InnerGradRecordHessVec(dst, w, 0, dst2, v)) }},
				}...)
			}
			for _, c := range calls {
				keep(p.Linearize(w))
				c.call()
				if a := testing.AllocsPerRun(20, c.call); a != 0 {
					t.Errorf("%s: %v allocations per call", c.name, a)
				}
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			}
		})
	}
}
