package backend

import (
	"fmt"
	"math"
	"strconv"
)

// This file holds the operand checks that the implementations of Backend
// share, so that every backend rejects the same operands with the same
// errors. They are for the packages that implement a Backend (backend/cpu,
// backend/cuda), not for its callers.
//
// A backend first resolves each operand into its own concrete type, which is
// where nil, foreign and freed operands are found (ErrInvalid, ErrForeign,
// ErrFreed): that part is its own. It then hands the rest, which does not
// depend on the backend, to the Check function of the operation — that
// lengths and dimensions agree (ErrShape), that no output is an operand it
// must not be (ErrAlias), that the loss is known (ErrInvalid) — and records
// the Violation it returns, if any, as its sticky *OpError (Violation.Record);
// allocations return it (Violation.OpError).
//
// The checks are pure functions of lengths, dimensions and operand
// identities, O(1) (CheckCSR is O(rows)), and allocate nothing when the
// operands are valid: a Violation's detail is formatted only when there is
// one. Each reports the first violation it finds, in the order its
// documentation gives (the loss, then shapes, then aliasing).

// Violation is what an operand check found wrong: Err is the sentinel error
// (ErrShape, ErrAlias or ErrInvalid) and Detail says exactly what is wrong,
// for OpError.Detail. The zero Violation (Err == nil) means the operands are
// valid.
type Violation struct {
	Err    error
	Detail string
}

// OpError returns v as the error of operation op of the backend named name,
// the error that an allocation returns.
func (v Violation) OpError(name, op string) *OpError {
	return &OpError{Backend: name, Op: op, Err: v.Err, Detail: v.Detail}
}

// Record reports whether the operands passed the check (v.Err == nil). If
// not, it records v as the error of operation op of the backend named name
// in *sticky, the backend's recorded error, unless that already holds one:
// the first failure stays.
func (v Violation) Record(sticky *error, name, op string) bool {
	if v.Err != nil && *sticky == nil {
		*sticky = v.OpError(name, op)
	}
	return v.Err == nil
}

// Operand is a resolved vector operand as the checks see it: ID is the
// backend's own handle of the vector (a pointer to its vector type), so that
// two operands alias exactly when their IDs are equal, and Len its length.
// The zero ID stands for an optional operand left out: d of GramVec and
// GramDiag, dst and curv of GLMGrad; every other operand has a non-zero ID.
//
// The checks take Operand values rather than Vector interfaces so that they
// cost what comparing lengths and pointers costs: no dynamic calls.
type Operand[ID comparable] struct {
	ID  ID
	Len int
}

// CheckSameLen checks the lengths of the vector operands of an elementwise
// operation (Copy, Axpy, Axpby, MulElem) or of Dot: every one of ns must
// equal n. Otherwise it returns ErrShape naming n and the first length that
// differs ("lengths 3 and 4").
func CheckSameLen(n int, ns ...int) Violation {
	for _, m := range ns {
		if m != n {
			return shape("lengths %d and %d", n, m)
		}
	}
	return Violation{}
}

// CheckHostLen checks that a host slice of length host matches a vector of
// length n, for Upload and Download (ErrShape).
func CheckHostLen(host, n int) Violation {
	if host != n {
		return shape("host slice of %d for a vector of %d", host, n)
	}
	return Violation{}
}

// CheckMatVec checks the operands of a matrix-vector product
// dst ← α·op(A)·x + β·dst with A rows×cols: op(A) = A for MulVec (len x =
// cols, len dst = rows) and op(A) = Aᵀ for MulVecTrans, trans (len x = rows,
// len dst = cols); otherwise ErrShape. dst must not be x (ErrAlias).
func CheckMatVec[ID comparable](rows, cols int, trans bool, dst, x Operand[ID]) Violation {
	r, c := rows, cols
	if trans {
		r, c = c, r
	}
	if x.Len != c || dst.Len != r {
		if trans {
			return shape("dst %d, matrix %d×%d transposed, x %d", dst.Len, rows, cols, x.Len)
		}
		return shape("dst %d, matrix %d×%d, x %d", dst.Len, rows, cols, x.Len)
	}
	if dst.ID == x.ID {
		return alias("dst is x")
	}
	return Violation{}
}

// CheckGramVec checks the operands of GramVec with X rows×cols: len dst =
// len v = cols, and len d = rows unless d is left out (ErrShape); dst must be
// neither v nor d (ErrAlias).
func CheckGramVec[ID comparable](rows, cols int, dst, d, v Operand[ID]) Violation {
	var none ID
	if dst.Len != cols || v.Len != cols || (d.ID != none && d.Len != rows) {
		return shape("X %d×%d, dst %d, v %d, d %s", rows, cols, dst.Len, v.Len, optLen(d))
	}
	switch dst.ID {
	case v.ID:
		return alias("dst is v")
	case d.ID:
		return alias("dst is d")
	}
	return Violation{}
}

// CheckGramDiag checks the operands of GramDiag with X rows×cols: len dst =
// cols, and len d = rows unless d is left out (ErrShape); dst must not be d
// (ErrAlias).
func CheckGramDiag[ID comparable](rows, cols int, dst, d Operand[ID]) Violation {
	var none ID
	if dst.Len != cols || (d.ID != none && d.Len != rows) {
		return shape("X %d×%d, dst %d, d %s", rows, cols, dst.Len, optLen(d))
	}
	if dst.ID == d.ID {
		return alias("dst is d")
	}
	return Violation{}
}

// CheckGLMGrad checks the operands of GLMGrad with X rows×cols, in this
// order: the loss is Squared or Logistic (ErrInvalid); len w = cols, len y =
// rows, len dst = cols unless dst is left out and len curv = rows unless curv
// is left out (ErrShape); the outputs dst and curv are neither w nor y nor
// each other (ErrAlias).
func CheckGLMGrad[ID comparable](rows, cols int, dst, w, y, curv Operand[ID], loss Loss) Violation {
	if loss != Squared && loss != Logistic {
		return Violation{ErrInvalid, "unknown loss " + loss.String()}
	}
	var none ID
	if w.Len != cols || y.Len != rows || (dst.ID != none && dst.Len != cols) || (curv.ID != none && curv.Len != rows) {
		return shape("X %d×%d, w %d, y %d, dst %s, curv %s", rows, cols, w.Len, y.Len, optLen(dst), optLen(curv))
	}
	if dst.ID != none {
		switch dst.ID {
		case w.ID:
			return alias("dst is w")
		case y.ID:
			return alias("dst is y")
		case curv.ID:
			return alias("dst is curv")
		}
	}
	if curv.ID != none {
		switch curv.ID {
		case w.ID:
			return alias("curv is w")
		case y.ID:
			return alias("curv is y")
		}
	}
	return Violation{}
}

// CheckDense checks the arguments of NewDense: rows, cols ≥ 0, rows·cols
// does not overflow int, and there are n = rows·cols values (ErrShape).
func CheckDense(rows, cols, n int) Violation {
	if rows < 0 || cols < 0 || (cols > 0 && rows > math.MaxInt/cols) || n != rows*cols {
		return shape("%d×%d matrix with %d values", rows, cols, n)
	}
	return Violation{}
}

// CheckCSR checks the structure of the arguments of NewCSR, all but the
// column indices themselves (a backend checks that they lie in [0, cols) in
// the pass that copies them): 0 ≤ rows ≤ maxRows (the backend's own limit,
// math.MaxInt for none) and 0 ≤ cols ≤ MaxInt32 (column indices are stored
// in 32 bits); indptr has rows+1 entries, starts at 0 and does not decrease;
// and its last entry is the number of indices, nIndices, and of values,
// nValues. Otherwise it returns ErrInvalid.
func CheckCSR(rows, cols, maxRows int, indptr []int, nIndices, nValues int) Violation {
	if rows < 0 || cols < 0 || cols > math.MaxInt32 || rows > maxRows {
		return invalid("dimensions %d×%d", rows, cols)
	}
	if len(indptr) != rows+1 || indptr[0] != 0 {
		return invalid("indptr has %d entries, want %d starting at 0", len(indptr), rows+1)
	}
	for i := range rows {
		if indptr[i+1] < indptr[i] {
			return invalid("indptr decreases at row %d", i)
		}
	}
	if nnz := indptr[rows]; nIndices != nnz || nValues != nnz {
		return invalid("indptr ends at %d but there are %d indices and %d values", nnz, nIndices, nValues)
	}
	return Violation{}
}

// CSRIndexViolation returns the violation (ErrInvalid) of NewCSR's column
// index j at position k, out of [0, cols): the check that CheckCSR leaves to
// the backend's copying pass, whose condition is j < 0 || j >= cols.
func CSRIndexViolation(j, cols, k int) Violation {
	return invalid("column index %d out of range [0,%d) at position %d", j, cols, k)
}

// shape returns an ErrShape violation with a formatted detail. It and
// invalid are kept out of line so that formatting costs the checks nothing
// until it is needed (and CheckSameLen and CheckHostLen stay small enough to
// be inlined into the backends' operations).
//
//go:noinline
func shape(format string, args ...any) Violation {
	return Violation{ErrShape, fmt.Sprintf(format, args...)}
}

// invalid returns an ErrInvalid violation with a formatted detail.
//
//go:noinline
func invalid(format string, args ...any) Violation {
	return Violation{ErrInvalid, fmt.Sprintf(format, args...)}
}

// alias returns an ErrAlias violation.
func alias(detail string) Violation { return Violation{ErrAlias, detail} }

// optLen returns the length of an optional operand for a detail: "nil" when
// it was left out.
func optLen[ID comparable](o Operand[ID]) string {
	var none ID
	if o.ID == none {
		return "nil"
	}
	return strconv.Itoa(o.Len)
}
