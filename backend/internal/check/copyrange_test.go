package check

import (
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

func TestCheckCopyRange(t *testing.T) {
	d, s, e := &tb{10, 1}, &tb{6, 1}, &tb{0, 1}
	other := &tb{10, 1} // another allocation of the same length: a distinct ID
	for _, c := range []struct {
		name      string
		dst       *tb
		dstOff    int
		src       *tb
		srcOff, n int
		want      want
	}{
		{"whole src", d, 2, s, 0, 6, valid},
		{"to the end", d, 7, s, 3, 3, valid},
		{"empty at the ends", d, 10, s, 6, 0, valid},
		{"empty vectors", e, 0, &tb{0, 1}, 0, 0, valid},
		{"other storage, same offsets", d, 0, other, 0, 10, valid},
		{"same storage, adjacent after", d, 0, d, 5, 5, valid},
		{"same storage, adjacent before", d, 5, d, 0, 5, valid},
		{"same storage, empty", d, 3, d, 3, 0, valid},
		{"negative dstOff", d, -1, s, 0, 1, want{backend.ErrInvalid, "dstOff -1, srcOff 0, n 1 (want ≥ 0)"}},
		{"negative srcOff", d, 0, s, -2, 1, want{backend.ErrInvalid, "dstOff 0, srcOff -2, n 1 (want ≥ 0)"}},
		{"negative n", d, 0, s, 0, -1, want{backend.ErrInvalid, "dstOff 0, srcOff 0, n -1 (want ≥ 0)"}},
		{"invalid before shape", d, 20, s, 0, -1, want{backend.ErrInvalid, "dstOff 20, srcOff 0, n -1 (want ≥ 0)"}},
		{"past dst", d, 5, s, 0, 6, want{backend.ErrShape, "6 elements at dst[5:] of 10 and src[0:] of 6"}},
		{"past src", d, 0, s, 1, 6, want{backend.ErrShape, "6 elements at dst[0:] of 10 and src[1:] of 6"}},
		{"n beyond both", d, 0, s, 0, 11, want{backend.ErrShape, "11 elements at dst[0:] of 10 and src[0:] of 6"}},
		{"empty past dst", d, 11, s, 0, 0, want{backend.ErrShape, "0 elements at dst[11:] of 10 and src[0:] of 6"}},
		{"empty past src", d, 0, s, 7, 0, want{backend.ErrShape, "0 elements at dst[0:] of 10 and src[7:] of 6"}},
		{"offset overflow", d, math.MaxInt, s, 0, 1, want{backend.ErrShape, "1 elements at dst[9223372036854775807:] of 10 and src[0:] of 6"}},
		{"n overflow", d, 1, s, 1, math.MaxInt, want{backend.ErrShape, "9223372036854775807 elements at dst[1:] of 10 and src[1:] of 6"}},
		{"shape before alias", d, 8, d, 0, 5, want{backend.ErrShape, "5 elements at dst[8:] of 10 and src[0:] of 10"}},
		{"same range", d, 2, d, 2, 3, want{backend.ErrAlias, "dst[2:5] overlaps src[2:5] in the same storage"}},
		{"dst overlaps from below", d, 0, d, 4, 5, want{backend.ErrAlias, "dst[0:5] overlaps src[4:9] in the same storage"}},
		{"dst overlaps from above", d, 4, d, 0, 5, want{backend.ErrAlias, "dst[4:9] overlaps src[0:5] in the same storage"}},
		{"one element", d, 9, d, 9, 1, want{backend.ErrAlias, "dst[9:10] overlaps src[9:10] in the same storage"}},
	} {
		checkViolation(t, c.name, CopyRange(ob(c.dst), c.dstOff, ob(c.src), c.srcOff, c.n), c.want)
	}
	// A view shares its storage's ID (and its numbering of the elements),
	// whatever its shape: the check sees the same ID with another shape.
	blk := Operand[*tb]{ID: d, Len: 10, Rows: 2, Cols: 5}
	checkViolation(t, "view, disjoint", CopyRange(blk, 5, ob(d), 0, 5), valid)
	checkViolation(t, "view, overlapping", CopyRange(blk, 3, ob(d), 0, 5),
		want{backend.ErrAlias, "dst[3:8] overlaps src[0:5] in the same storage"})
}

func TestCopyRangeCheckDoesNotAllocate(t *testing.T) {
	d, s := ob(&tb{10, 1}), ob(&tb{6, 1})
	var bad int
	n := testing.AllocsPerRun(100, func() {
		for _, v := range []Violation{
			CopyRange(d, 2, s, 0, 6),
			CopyRange(d, 0, d, 5, 5),
			CopyRange(d, 10, s, 6, 0),
		} {
			if v.Err != nil {
				bad++
			}
		}
	})
	if bad != 0 {
		t.Fatalf("%d checks of valid operands failed", bad)
	}
	if n != 0 {
		t.Errorf("checks of valid operands: %v allocations per run", n)
	}
}
