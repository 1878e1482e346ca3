package bileveltest

import (
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// CheckProblemShapes calls every oracle of p with one vector operand bad and
// the others right, and reports a nil error, a panic, or an error the call
// left recorded on the backend. A bad operand is nil, a nil pointer of the
// backend's vector type (when its vectors are pointers), or a vector one
// element longer or (when that leaves at least one) one shorter than its
// own length. The oracles are those of bilevel.Problem (InnerValue,
// InnerGrad, Linearize, HessVec, CrossVec, OuterValue, OuterGrad,
// OuterHyperGrad) and, where p implements them, HessVecPair, HessDiag,
// CrossApply, CrossNorm, InnerGradRecord, InnerGradRecordHessVec and UseSlot
// (the last three also with the slot −1 and one past the last). An oracle
// returning bilevel.ErrUnsupported passes.
//
// It linearizes p at w = 0 first, so that the errors are about the
// operands, and clears the backend's error after each call. p may be left
// linearized anywhere; a bilevel.LinearizationStore has its slots replaced
// by one slot and then freed.
func CheckProblemShapes(t testing.TB, p bilevel.Problem) {
	t.Helper()
	b := p.Backend()
	d, h := p.InnerDim(), p.HyperDim()
	vecs := map[int]backend.Vector{}
	get := func(n int) backend.Vector {
		if v, ok := vecs[n]; ok {
			return v
		}
		v := Vec(t, b, make([]float64, n))
		vecs[n] = v
		return v
	}
	defer func() {
		for _, v := range vecs {
			b.Free(v)
		}
	}()
	if err := p.Linearize(get(d)); err != nil {
		t.Fatalf("CheckProblemShapes: Linearize at 0: %v", err)
	}
	// typedNil is a nil pointer of the backend's vector type, or nil when
	// its vectors are not pointers.
	var typedNil backend.Vector
	if ty := reflect.TypeOf(get(d)); ty.Kind() == reflect.Pointer {
		typedNil, _ = reflect.Zero(ty).Interface().(backend.Vector)
	}
	type bad struct {
		what string
		v    backend.Vector
	}
	bads := func(n int) []bad {
		bs := []bad{{"nil", nil}, {"of length " + strconv.Itoa(n+1), get(n + 1)}}
		if typedNil != nil {
			bs = append(bs, bad{"a typed nil pointer", typedNil})
		}
		if n > 1 {
			bs = append(bs, bad{"of length " + strconv.Itoa(n-1), get(n - 1)})
		}
		return bs
	}
	// try reports a call that does not fail cleanly.
	try := func(name, what string, call func() error) {
		t.Helper()
		panicked, err := callSafe(call)
		pending := b.Err()
		b.ClearErr()
		if errors.Is(err, bilevel.ErrUnsupported) {
			return
		}
		if panicked != nil || err == nil || pending != nil {
			t.Errorf("%s with %s: error %v, panic %v, backend error left %v", name, what, err, panicked, pending)
		}
	}
	type oracle struct {
		name string
		lens []int // the lengths of the vector operands
		call func(ops []backend.Vector) error
	}
	one := func(f func(x backend.Vector) error) func([]backend.Vector) error {
		return func(ops []backend.Vector) error { return f(ops[0]) }
	}
	two := func(f func(x, y backend.Vector) error) func([]backend.Vector) error {
		return func(ops []backend.Vector) error { return f(ops[0], ops[1]) }
	}
	oracles := []oracle{
		{"InnerValue", []int{d}, one(func(w backend.Vector) error { _, err := p.InnerValue(w); return err })},
		{"InnerGrad", []int{d, d}, two(p.InnerGrad)},
		{"Linearize", []int{d}, one(p.Linearize)},
		{"HessVec", []int{d, d}, two(p.HessVec)},
		{"CrossVec", []int{h, d}, two(p.CrossVec)},
		{"OuterValue", []int{d}, one(func(w backend.Vector) error { _, err := p.OuterValue(w); return err })},
		{"OuterGrad", []int{d, d}, two(p.OuterGrad)},
		{"OuterHyperGrad", []int{h, d}, two(p.OuterHyperGrad)},
	}
	if pp, ok := p.(bilevel.HessVecPairer); ok {
		oracles = append(oracles, oracle{"HessVecPair", []int{d, d, d, d}, func(ops []backend.Vector) error {
			return pp.HessVecPair(ops[0], ops[1], ops[2], ops[3])
		}})
	}
	if hd, ok := p.(bilevel.HessDiager); ok {
		oracles = append(oracles, oracle{"HessDiag", []int{d}, one(hd.HessDiag)})
	}
	if ca, ok := p.(bilevel.CrossApplier); ok {
		oracles = append(oracles, oracle{"CrossApply", []int{d, h}, two(ca.CrossApply)})
	}
	if cn, ok := p.(bilevel.CrossNormer); ok {
		oracles = append(oracles, oracle{"CrossNorm", []int{d}, one(func(w backend.Vector) error { _, err := cn.CrossNorm(w); return err })})
	}
	ls, store := p.(bilevel.LinearizationStore)
	if store {
		if err := ls.AllocSlots(1); err != nil {
			t.Fatalf("CheckProblemShapes: AllocSlots(1): %v", err)
		}
		defer ls.FreeSlots()
		oracles = append(oracles, oracle{"InnerGradRecord", []int{d, d}, func(ops []backend.Vector) error {
			return ls.InnerGradRecord(ops[0], ops[1], 0)
		}})
		if gh, ok := p.(bilevel.GradHessVecer); ok {
			oracles = append(oracles, oracle{"InnerGradRecordHessVec", []int{d, d, d, d}, func(ops []backend.Vector) error {
				return gh.InnerGradRecordHessVec(ops[0], ops[1], 0, ops[2], ops[3])
			}})
		}
	}
	for _, o := range oracles {
		for i := range o.lens {
			for _, bv := range bads(o.lens[i]) {
				ops := make([]backend.Vector, len(o.lens))
				for j, n := range o.lens {
					ops[j] = get(n)
				}
				ops[i] = bv.v
				try(o.name, "operand "+strconv.Itoa(i)+" "+bv.what, func() error { return o.call(ops) })
			}
		}
	}
	if !store {
		return
	}
	dst, w := get(d), get(d) // the same vector: only the slot is bad
	for _, slot := range []int{-1, 1} {
		what := "slot " + strconv.Itoa(slot) + " of 1"
		try("UseSlot", what, func() error { return ls.UseSlot(slot) })
		try("InnerGradRecord", what, func() error { return ls.InnerGradRecord(dst, w, slot) })
		if gh, ok := p.(bilevel.GradHessVecer); ok {
			try("InnerGradRecordHessVec", what, func() error { return gh.InnerGradRecordHessVec(dst, w, slot, dst, w) })
		}
	}
}
