package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// refCopyRange returns dst with dst[dstOff+i] = src[srcOff+i] for i < n,
// read before written (the ranges of the suite's calls never overlap when
// dst and src are one vector, so this is the operation's result).
func refCopyRange(dst []float64, dstOff int, src []float64, srcOff, n int) []float64 {
	out := append([]float64(nil), dst...)
	part := append([]float64(nil), src[srcOff:srcOff+n]...)
	copy(out[dstOff:], part)
	return out
}

// copyRangeSource returns a vector of n elements whose first ones are the
// special values (signed zeros, infinities, NaN, a subnormal) and the rest
// random, for a copy that must move every bit.
func copyRangeSource(seed uint64, n int) []float64 {
	x := RandVector(Rand(seed), n)
	special := []float64{math.Copysign(0, -1), math.Inf(1), math.NaN(), math.Inf(-1), 0x1p-1060, -math.MaxFloat64, 0}
	copy(x, special)
	return x
}

// testCopyRange checks CopyRange between two vectors over the lengths of
// the elementwise tests, within one vector, between a vector and a Reshape
// view of it, into a row of a block, and with n = 0: the destination range
// must hold the source range bit for bit, and every other element of dst,
// and src, must be unchanged.
func (s *suite) testCopyRange(t *testing.T) {
	b := s.backend(t)
	for _, n := range vecLens {
		src := copyRangeSource(uint64(n), n)
		dst := withNaN(RandVector(Rand(uint64(n)+1), n+5))
		sv, dv := newVec(t, b, src), newVec(t, b, dst)
		for _, c := range []struct{ dstOff, srcOff, n int }{
			{0, 0, n},         // all of src at the start of dst
			{5, 0, n},         // all of src at the end of dst
			{2, n / 3, n / 2}, // a middle part
			{n / 4, n - n/3, n / 3},
			{n + 5, n, 0},     // empty, at both ends
			{1, 0, min(n, 1)}, // one element
			{n + 4 - n/7, n - n/7, n / 7},
		} {
			b.Upload(dv, dst)
			b.CopyRange(dv, c.dstOff, sv, c.srcOff, c.n)
			what := fmt.Sprintf("CopyRange(dst[%d:], src[%d:], %d) of %d into %d", c.dstOff, c.srcOff, c.n, n, n+5)
			if noErr(t, b, what) {
				checkExact(t, what, get(t, b, dv), refCopyRange(dst, c.dstOff, src, c.srcOff, c.n))
				checkExact(t, what+": src", get(t, b, sv), src)
			}
		}
		b.Free(sv)
		b.Free(dv)
	}

	// Within one vector, the ranges disjoint (adjacent, apart, either order),
	// and between a vector and a view of it.
	const n = 1003
	x := copyRangeSource(7, n)
	xv := newVec(t, b, x)
	blk, err := b.Reshape(xv, 17, 59)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name           string
		dst            backend.Vector
		dstOff         int
		src            backend.Vector
		srcOff, length int
	}{
		{"x, x: adjacent, dst first", xv, 0, xv, 501, 501},
		{"x, x: adjacent, src first", xv, 501, xv, 0, 501},
		{"x, x: apart", xv, 900, xv, 3, 100},
		{"x, x: one element", xv, n - 1, xv, 0, 1},
		{"x, x: empty, same offset", xv, 400, xv, 400, 0},
		{"view, x", blk, 0, xv, 600, 403},
		{"x, view", xv, 700, blk, 100, 300},
		{"view, view", blk, 59, blk, 2 * 59, 59},
	} {
		b.Upload(xv, x)
		b.CopyRange(c.dst, c.dstOff, c.src, c.srcOff, c.length)
		what := fmt.Sprintf("CopyRange(%s) dst[%d:], src[%d:], %d of %d", c.name, c.dstOff, c.srcOff, c.length, n)
		if noErr(t, b, what) {
			checkExact(t, what, get(t, b, xv), refCopyRange(x, c.dstOff, x, c.srcOff, c.length))
		}
	}

	// A row of a block from a vector, and part of a row back to a vector.
	const rows, cols = 4, 7
	bd := withNaN(RandVector(Rand(8), rows*cols))
	bv := newBlock(t, b, rows, cols, bd)
	row := RandVector(Rand(9), cols)
	rv := newVec(t, b, row)
	b.CopyRange(bv, 2*cols, rv, 0, cols)
	if noErr(t, b, "CopyRange(block row 2, vector)") {
		checkExact(t, "CopyRange(block row 2, vector)", get(t, b, bv), refCopyRange(bd, 2*cols, row, 0, cols))
	}
	b.CopyRange(rv, 1, bv, 3*cols+1, cols-1)
	if noErr(t, b, "CopyRange(vector, block row 3)") {
		checkExact(t, "CopyRange(vector, block row 3)", get(t, b, rv), refCopyRange(row, 1, get(t, b, bv), 3*cols+1, cols-1))
	}

	// Empty vectors.
	e1, e2 := newVec(t, b, nil), newVec(t, b, nil)
	b.CopyRange(e1, 0, e2, 0, 0)
	noErr(t, b, "CopyRange of empty vectors")
	b.CopyRange(e1, 0, e1, 0, 0)
	noErr(t, b, "CopyRange of an empty vector into itself")
	b.CopyRange(xv, n, e1, 0, 0)
	noErr(t, b, "CopyRange(x[n:], empty, 0)")
}

// testCopyRangeErrors checks that every invalid call of CopyRange records
// the documented error naming CopyRange and writes nothing: negative
// arguments (ErrInvalid), ranges outside a vector (ErrShape), overlapping
// ranges of one storage, through a view too (ErrAlias), nil, foreign and
// freed operands, and that it is a no-op after an earlier failure.
func (s *suite) testCopyRangeErrors(t *testing.T) {
	b, other := s.backend(t), s.backend(t)
	const n = 10
	x, y := copyRangeSource(1, n), RandVector(Rand(2), n+3)
	xv, yv := newVec(t, b, x), newVec(t, b, y)
	view, err := b.Reshape(xv, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	ov := newVec(t, other, x)
	freed := newVec(t, b, x)
	b.Free(freed)
	yFreed := newVec(t, b, y)
	freedViewOf, err := b.Reshape(yFreed, n+3, 1)
	if err != nil {
		t.Fatal(err)
	}
	b.Free(yFreed)

	big := math.MaxInt
	cases := []struct {
		name string
		err  error
		do   func()
	}{
		{"negative dstOff", backend.ErrInvalid, func() { b.CopyRange(yv, -1, xv, 0, 1) }},
		{"negative srcOff", backend.ErrInvalid, func() { b.CopyRange(yv, 0, xv, -1, 1) }},
		{"negative n", backend.ErrInvalid, func() { b.CopyRange(yv, 0, xv, 0, -1) }},
		{"past the end of dst", backend.ErrShape, func() { b.CopyRange(yv, 4, xv, 0, n) }},
		{"past the end of src", backend.ErrShape, func() { b.CopyRange(yv, 0, xv, 1, n) }},
		{"n longer than both", backend.ErrShape, func() { b.CopyRange(yv, 0, xv, 0, n+4) }},
		{"empty past the end of dst", backend.ErrShape, func() { b.CopyRange(yv, n+4, xv, 0, 0) }},
		{"empty past the end of src", backend.ErrShape, func() { b.CopyRange(yv, 0, xv, n+1, 0) }},
		{"huge dstOff", backend.ErrShape, func() { b.CopyRange(yv, big, xv, 0, 1) }},
		{"huge n", backend.ErrShape, func() { b.CopyRange(yv, 1, xv, 1, big) }},
		{"x, x: same range", backend.ErrAlias, func() { b.CopyRange(xv, 2, xv, 2, 3) }},
		{"x, x: dst below", backend.ErrAlias, func() { b.CopyRange(xv, 0, xv, 4, 5) }},
		{"x, x: dst above", backend.ErrAlias, func() { b.CopyRange(xv, 5, xv, 1, 5) }},
		{"x, x: all", backend.ErrAlias, func() { b.CopyRange(xv, 0, xv, 0, n) }},
		{"view, x: overlapping", backend.ErrAlias, func() { b.CopyRange(view, 3, xv, 0, 4) }},
		{"x, view: overlapping", backend.ErrAlias, func() { b.CopyRange(xv, 9, view, 9, 1) }},
		{"view, view: overlapping", backend.ErrAlias, func() { b.CopyRange(view, 1, view, 0, 5) }},
		{"nil dst", backend.ErrInvalid, func() { b.CopyRange(nil, 0, xv, 0, 1) }},
		{"nil src", backend.ErrInvalid, func() { b.CopyRange(yv, 0, nil, 0, 1) }},
		{"foreign dst", backend.ErrForeign, func() { b.CopyRange(ov, 0, xv, 0, 1) }},
		{"foreign src", backend.ErrForeign, func() { b.CopyRange(yv, 0, ov, 0, 1) }},
		{"freed dst", backend.ErrFreed, func() { b.CopyRange(freed, 0, xv, 0, 1) }},
		{"freed src", backend.ErrFreed, func() { b.CopyRange(yv, 0, freed, 0, 1) }},
		{"freed src, n = 0", backend.ErrFreed, func() { b.CopyRange(yv, 0, freed, 0, 0) }},
		{"view of freed storage", backend.ErrFreed, func() { b.CopyRange(freedViewOf, 0, xv, 0, 1) }},
	}
	for _, c := range cases {
		c.do()
		what := "CopyRange: " + c.name
		wantErr(t, b, c.err, "CopyRange", what)
		checkExact(t, what+": x changed", get(t, b, xv), x)
		checkExact(t, what+": y changed", get(t, b, yv), y)
	}
	if err := other.Err(); err != nil {
		t.Errorf("the other backend recorded %v", err)
	}
	checkExact(t, "the other backend's vector", get(t, other, ov), x)

	// After a failure CopyRange is a no-op and the first error stays.
	b.Copy(xv, yv) // lengths differ: the first failure
	first := b.Err()
	if first == nil {
		t.Fatal("Copy with mismatched lengths recorded no error")
	}
	b.CopyRange(yv, 0, xv, 0, n)
	b.CopyRange(yv, -1, xv, 0, n)
	if err := b.Err(); err != first {
		t.Errorf("Err() = %v after CopyRange, want the first error %v", err, first)
	}
	wantErr(t, b, backend.ErrShape, "Copy", "first failure")
	checkExact(t, "CopyRange after a failure changed y", get(t, b, yv), y)
	b.CopyRange(yv, 3, xv, 0, n)
	if noErr(t, b, "CopyRange after ClearErr") {
		checkExact(t, "CopyRange after ClearErr", get(t, b, yv), refCopyRange(y, 3, x, 0, n))
	}
}
