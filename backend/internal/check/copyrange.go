package check

import "fmt"

// CopyRange checks the operands of CopyRange, dst[dstOff+i] ← src[srcOff+i]
// for 0 ≤ i < n, in this order: dstOff, srcOff, n ≥ 0 (ErrInvalid); the
// ranges [dstOff, dstOff+n) and [srcOff, srcOff+n) lie inside dst and src,
// 0 ≤ off ≤ off+n ≤ len (ErrShape); and when dst and src share storage (the
// same vector, or a Reshape view of it: the same ID, whose elements are
// numbered alike), the two ranges do not overlap, dstOff+n ≤ srcOff or
// srcOff+n ≤ dstOff (ErrAlias). An empty range (n = 0) overlaps nothing;
// its offset may be the vector's length. The bounds are compared without
// forming off+n, so no offset overflows int.
func CopyRange[ID comparable](dst Operand[ID], dstOff int, src Operand[ID], srcOff, n int) Violation {
	if dstOff < 0 || srcOff < 0 || n < 0 {
		return invalid("dstOff %d, srcOff %d, n %d (want ≥ 0)", dstOff, srcOff, n)
	}
	if n > dst.Len || dstOff > dst.Len-n || n > src.Len || srcOff > src.Len-n {
		return shape("%d elements at dst[%d:] of %d and src[%d:] of %d", n, dstOff, dst.Len, srcOff, src.Len)
	}
	if dst.ID == src.ID && n > 0 && dstOff-srcOff < n && srcOff-dstOff < n {
		return overlap(dstOff, srcOff, n)
	}
	return Violation{}
}

// overlap returns the ErrAlias violation of CopyRange's overlapping ranges.
//
//go:noinline
func overlap(dstOff, srcOff, n int) Violation {
	return alias(fmt.Sprintf("dst[%d:%d] overlaps src[%d:%d] in the same storage", dstOff, dstOff+n, srcOff, srcOff+n))
}
