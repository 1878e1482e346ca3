// Package check holds the operand checks that the implementations of
// backend.Backend share, so that every backend rejects the same operands with
// the same errors. It is for the packages that implement a Backend
// (backend/cpu, backend/cuda), not for their callers, hence internal.
//
// A backend first resolves each operand into its own concrete type, which is
// where nil, foreign and freed operands are found (ErrInvalid, ErrForeign,
// ErrFreed; the Core and Resolve helpers of this package). It then hands
// the rest, which does not depend on the backend, to the check function of
// the operation — that lengths and dimensions agree (ErrShape), that no
// output is an operand it must not be (ErrAlias), that an argument is in its
// documented set (ErrInvalid) — and records the Violation it returns, if
// any, as its sticky *backend.OpError (Violation.Record); allocations return
// it (Violation.OpError).
//
// The checks are pure functions of lengths, dimensions and operand
// identities, O(1) (CSR is O(rows)), and allocate nothing when the operands
// are valid: a Violation's detail is formatted only when there is one. Each
// reports the first violation it finds, in the order its documentation gives
// (the arguments, then shapes, then aliasing).
package check

import (
	"fmt"
	"math"
	"strconv"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Violation is what an operand check found wrong: Err is the sentinel error
// (ErrShape, ErrAlias or ErrInvalid) and Detail says exactly what is wrong,
// for backend.OpError.Detail. The zero Violation (Err == nil) means the operands are
// valid.
type Violation struct {
	Err    error
	Detail string
}

// OpError returns v as the error of operation op of the backend named name,
// the error that an allocation returns.
func (v Violation) OpError(name, op string) *backend.OpError {
	return &backend.OpError{Backend: name, Op: op, Err: v.Err, Detail: v.Detail}
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

// Operand is a resolved vector or block operand as the checks see it: ID is
// the backend's own handle of its storage (a pointer to its storage type,
// which views share), so that two operands alias exactly when their IDs are
// equal, Len its length and Rows×Cols its shape.
// The zero ID stands for an optional operand left out: d of GramVec and
// GramDiag, dst and curv of GLMGrad; every other operand has a non-zero ID.
//
// The checks take Operand values rather than Vector interfaces so that they
// cost what comparing lengths and pointers costs: no dynamic calls.
type Operand[ID comparable] struct {
	ID         ID
	Len        int
	Rows, Cols int // the shape of a block (Len = Rows·Cols); a vector's is Len×1
}

// SameLen checks the lengths of the vector operands of an elementwise
// operation (Copy, Axpy, Axpby, MulElem) or of Dot: every one of ns must
// equal n. Otherwise it returns ErrShape naming n and the first length that
// differs ("lengths 3 and 4").
func SameLen(n int, ns ...int) Violation {
	for _, m := range ns {
		if m != n {
			return shape("lengths %d and %d", n, m)
		}
	}
	return Violation{}
}

// HostLen checks that a host slice of length host matches a vector of
// length n, for Upload and Download (ErrShape).
func HostLen(host, n int) Violation {
	if host != n {
		return shape("host slice of %d for a vector of %d", host, n)
	}
	return Violation{}
}

// MatVec checks the operands of a matrix-vector product
// dst ← α·op(A)·x + β·dst with A rows×cols: op(A) = A for MulVec (len x =
// cols, len dst = rows) and op(A) = Aᵀ for MulVecTrans, trans (len x = rows,
// len dst = cols); otherwise ErrShape. dst must not be x (ErrAlias).
func MatVec[ID comparable](rows, cols int, trans bool, dst, x Operand[ID]) Violation {
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

// GramVec checks the operands of GramVec with X rows×cols: len dst =
// len v = cols, and len d = rows unless d is left out (ErrShape); dst must be
// neither v nor d (ErrAlias).
func GramVec[ID comparable](rows, cols int, dst, d, v Operand[ID]) Violation {
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

// GramDiag checks the operands of GramDiag with X rows×cols: len dst =
// cols, and len d = rows unless d is left out (ErrShape); dst must not be d
// (ErrAlias).
func GramDiag[ID comparable](rows, cols int, dst, d Operand[ID]) Violation {
	var none ID
	if dst.Len != cols || (d.ID != none && d.Len != rows) {
		return shape("X %d×%d, dst %d, d %s", rows, cols, dst.Len, optLen(d))
	}
	if dst.ID == d.ID {
		return alias("dst is d")
	}
	return Violation{}
}

// GLMGrad checks the operands of GLMGrad with X rows×cols, in this
// order: the loss is Squared or Logistic (ErrInvalid); len w = cols, len y =
// rows, len dst = cols unless dst is left out and len curv = rows unless curv
// is left out (ErrShape); the outputs dst and curv are neither w nor y nor
// each other (ErrAlias).
func GLMGrad[ID comparable](rows, cols int, dst, w, y, curv Operand[ID], loss backend.Loss) Violation {
	if loss != backend.Squared && loss != backend.Logistic {
		return Violation{backend.ErrInvalid, "unknown loss " + loss.String()}
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

// Dense checks the arguments of NewDense: rows, cols ≥ 0, rows·cols
// does not overflow int, and there are n = rows·cols values (ErrShape).
func Dense(rows, cols, n int) Violation {
	if rows < 0 || cols < 0 || (cols > 0 && rows > math.MaxInt/cols) || n != rows*cols {
		return shape("%d×%d matrix with %d values", rows, cols, n)
	}
	return Violation{}
}

// CSR checks the structure of the arguments of NewCSR, all but the
// column indices themselves (a backend checks that they lie in [0, cols) in
// the pass that copies them): 0 ≤ rows ≤ maxRows (the backend's own limit,
// math.MaxInt for none) and 0 ≤ cols ≤ MaxInt32 (column indices are stored
// in 32 bits); indptr has rows+1 entries, starts at 0 and does not decrease;
// and its last entry is the number of indices, nIndices, and of values,
// nValues. Otherwise it returns ErrInvalid.
func CSR(rows, cols, maxRows int, indptr []int, nIndices, nValues int) Violation {
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

// CSRIndex returns the violation (ErrInvalid) of NewCSR's column
// index j at position k, out of [0, cols): the check that CSR leaves to
// the backend's copying pass, whose condition is j < 0 || j >= cols.
func CSRIndex(j, cols, k int) Violation {
	return invalid("column index %d out of range [0,%d) at position %d", j, cols, k)
}

// shape returns an ErrShape violation with a formatted detail. It and
// invalid are kept out of line so that formatting costs the checks nothing
// until it is needed (and SameLen and HostLen stay small enough to
// be inlined into the backends' operations).
//
//go:noinline
func shape(format string, args ...any) Violation {
	return Violation{backend.ErrShape, fmt.Sprintf(format, args...)}
}

// invalid returns an ErrInvalid violation with a formatted detail.
//
//go:noinline
func invalid(format string, args ...any) Violation {
	return Violation{backend.ErrInvalid, fmt.Sprintf(format, args...)}
}

// alias returns an ErrAlias violation.
func alias(detail string) Violation { return Violation{backend.ErrAlias, detail} }

// optLen returns the length of an optional operand for a detail: "nil" when
// it was left out.
func optLen[ID comparable](o Operand[ID]) string {
	var none ID
	if o.ID == none {
		return "nil"
	}
	return strconv.Itoa(o.Len)
}

// GramVecPair checks the operands of GramVecPair with X rows×cols:
// those of GramVec(dst1, d, v1) and of GramVec(dst2, d, v2) (GramVec:
// shapes, then dst1 is neither v1 nor d, dst2 neither v2 nor d), then that
// dst1 is neither dst2 nor v2 and dst2 is not v1 (ErrAlias).
func GramVecPair[ID comparable](rows, cols int, dst1, dst2, d, v1, v2 Operand[ID]) Violation {
	if v := GramVec(rows, cols, dst1, d, v1); v.Err != nil {
		return v
	}
	if v := GramVec(rows, cols, dst2, d, v2); v.Err != nil {
		return v
	}
	switch {
	case dst1.ID == dst2.ID:
		return alias("dst1 is dst2")
	case dst1.ID == v2.ID:
		return alias("dst1 is v2")
	case dst2.ID == v1.ID:
		return alias("dst2 is v1")
	}
	return Violation{}
}

// GLMGradGramVec checks the operands of GLMGradGramVec with X
// rows×cols, in this order: those of GLMGrad (GLMGrad); dst is given,
// and curv too unless the loss is Squared (ErrInvalid); those of GramVec
// with dst2, curv and v (GramVec); dst2 is neither dst nor w nor y,
// and neither dst nor curv is v (ErrAlias).
func GLMGradGramVec[ID comparable](rows, cols int, dst, dst2, w, y, curv, v Operand[ID], loss backend.Loss) Violation {
	if vi := GLMGrad(rows, cols, dst, w, y, curv, loss); vi.Err != nil {
		return vi
	}
	var none ID
	switch {
	case dst.ID == none:
		return Violation{backend.ErrInvalid, "no gradient output"}
	case curv.ID == none && loss != backend.Squared:
		return Violation{backend.ErrInvalid, "no curvature output for the " + loss.String() + " loss"}
	}
	if vi := GramVec(rows, cols, dst2, curv, v); vi.Err != nil {
		return vi
	}
	switch {
	case dst2.ID == dst.ID:
		return alias("dst2 is dst")
	case dst2.ID == w.ID:
		return alias("dst2 is w")
	case dst2.ID == y.ID:
		return alias("dst2 is y")
	case dst.ID == v.ID:
		return alias("dst is v")
	case curv.ID == v.ID:
		return alias("curv is v")
	}
	return Violation{}
}

// CGStep checks the operands of CGStep for step j: j ≥ 0 and len st ≥
// backend.CGStateLen(j+1) (ErrInvalid, ErrShape), len q = len r = len p = len ap
// (ErrShape), and q, r, p, ap pairwise distinct, st none of them (ErrAlias).
func CGStep[ID comparable](j int, st, q, r, p, ap Operand[ID]) Violation {
	if j < 0 {
		return Violation{Err: backend.ErrInvalid, Detail: "negative step"}
	}
	if st.Len < backend.CGStateLen(j+1) {
		return shape("state of %d for step %d (want ≥ %d)", st.Len, j, backend.CGStateLen(j+1))
	}
	if v := SameLen(q.Len, r.Len, p.Len, ap.Len); v.Err != nil {
		return v
	}
	ops := [5]Operand[ID]{st, q, r, p, ap}
	names := [5]string{"st", "q", "r", "p", "ap"}
	for a := range ops {
		for b := a + 1; b < len(ops); b++ {
			if ops[a].ID == ops[b].ID {
				return alias(names[a] + " is " + names[b])
			}
		}
	}
	return Violation{}
}
