package data

import (
	"fmt"
	"math"
)

// DefaultMaxBytes is the memory budget of a loader whose Limits.MaxBytes is
// zero (the package-level functions OpenNPZ, LoadNPY, LoadSupervised,
// LoadQuadratic, LoadEquilibrium and Load): 8 GiB.
const DefaultMaxBytes int64 = 8 << 30

// csrWorkVectors is the number of float64 vectors of length rows + cols that
// a problem built on a CSR matrix is assumed to allocate (iterates, gradients,
// conjugate-gradient directions, hypergradient, scratch): a CSR member whose
// declared shape (rows, cols) makes 8·csrWorkVectors·(rows + cols + 1) bytes
// exceed the budget is refused, since its few stored values would not stop the
// problem from allocating those vectors.
const csrWorkVectors = 16

// maxDeflateRatio bounds the decompressed size of a deflate-compressed zip
// member by its compressed size: DEFLATE encodes at most 258 bytes in a
// length/distance pair of at least 2 bits, so no stream expands more than
// 1032-fold. A zip directory that claims more is corrupt or hostile.
const maxDeflateRatio = 1032

// Limits bounds the memory the loaders allocate, so that a small hostile or
// corrupt file cannot make them exhaust memory: the Limits methods (OpenNPZ,
// LoadNPY, LoadSupervised, LoadQuadratic, LoadEquilibrium, Load) check every
// declared size against the budget before allocating, and fail with an
// ErrTooLarge error stating the bytes needed and the limit. The zero value
// uses DefaultMaxBytes.
type Limits struct {
	// MaxBytes bounds, for one file, the bytes of all its arrays decoded to
	// float64 (8 per element, whatever the file's dtype), counting the
	// transient copy a Fortran-order array needs and the int copy of CSR
	// index arrays, and the estimate 8·16·(rows + cols + 1) of the vectors a
	// problem allocates for a CSR matrix. 0 means DefaultMaxBytes; a negative
	// value is an ErrOption error.
	MaxBytes int64
}

// budget tracks the bytes one file's arrays have taken from a Limits.
type budget struct {
	limit, used int64
}

// newBudget returns the budget of l, or an ErrOption error if MaxBytes < 0.
func (l Limits) newBudget() (*budget, error) {
	switch {
	case l.MaxBytes < 0:
		return nil, newErr(ErrOption, "", "Limits.MaxBytes = %d; want a positive byte count, or 0 for the default of %d", l.MaxBytes, DefaultMaxBytes)
	case l.MaxBytes == 0:
		return &budget{limit: DefaultMaxBytes}, nil
	}
	return &budget{limit: l.MaxBytes}, nil
}

// fits reports an ErrTooLarge error for array name unless n more bytes fit
// in the budget; what says what needs them.
func (b *budget) fits(name string, n int64, what string) error {
	if n <= b.limit-b.used {
		return nil
	}
	already := ""
	if b.used > 0 {
		already = fmt.Sprintf(" (with %d bytes of other arrays of the file already read)", b.used)
	}
	return newErr(ErrTooLarge, name, "%s: %s needs %s, which exceeds the memory limit of %s%s; raise data.Limits.MaxBytes if the machine has the memory",
		name, what, byteString(n), byteString(b.limit), already)
}

// take is fits followed by charging n bytes to the budget.
func (b *budget) take(name string, n int64, what string) error {
	if err := b.fits(name, n, what); err != nil {
		return err
	}
	b.used += n
	return nil
}

// mulBytes returns a·b·c for non-negative factors, or math.MaxInt64 if the
// product overflows int64 (so that it exceeds any budget).
func mulBytes(a, b, c int64) int64 {
	p := int64(1)
	for _, f := range []int64{a, b, c} {
		if f == 0 {
			return 0
		}
		if p > math.MaxInt64/f {
			p = math.MaxInt64
			continue
		}
		p *= f
	}
	return p
}

// byteString formats a byte count exactly, with a binary-prefixed
// approximation for large counts: "1073741824 bytes (1.0 GiB)".
func byteString(n int64) string {
	const unit = 1 << 10
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 6 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%d bytes (%.1f %ciB)", n, v, "KMGTPE"[i-1])
}
