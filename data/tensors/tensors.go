// Package tensors converts between gorgonia.org/tensor dense tensors and the
// host data of package data (data.Matrix, []float64 vectors, integer labels)
// and builds data.Supervised and data.Multiclass problems from tensors.
//
// Conversions share memory wherever the layout allows: a float64 tensor whose
// values are contiguous and row-major (C order) has the same memory layout as
// a dense data.Matrix (Rows·Cols values, row after row) or a []float64, so
// ToMatrix, ToVector, FromMatrix and FromVector wrap the same backing array,
// and a write through one is seen by the other. Element (i, j) of an r×c
// tensor is backing[i·c + j] in both. A layout that cannot be shared is an
// error, never a silent copy: another dtype (ErrDtype), a tensor that is not
// contiguous in row-major order — a transposed tensor (T without
// Transpose), a column-major one, a view that skips elements such as a
// column slice or a strided slice, a masked one — (ErrLayout), and a wrong
// number of dimensions (ErrDims). A contiguous view, such as a slice of
// whole rows, is shared. Labels are the one copy: integer labels are held
// as float64 or int tensors, converted to []int.
//
// Only programs that import this package link gorgonia.org/tensor: the core
// packages and the command do not import it.
package tensors

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/data"
)

// ErrDtype is returned for a tensor of another dtype than the conversion
// needs (float64; int or float64 for labels).
var ErrDtype = errors.New("tensors: wrong dtype")

// ErrLayout is returned for a tensor whose values are not contiguous in
// row-major order (a transposed, column-major, strided or masked tensor), or
// not accessible from Go.
var ErrLayout = errors.New("tensors: values not contiguous in row-major order")

// ErrDims is returned for a tensor with the wrong number of dimensions.
var ErrDims = errors.New("tensors: wrong number of dimensions")

// maxLen bounds the number of values of a tensor, so that the products of
// its dimensions do not overflow.
const maxLen = math.MaxInt

// check returns an error unless t is a non-nil tensor of dtype dt with dims
// dimensions whose values are contiguous in row-major order.
func check(what string, t *tensor.Dense, dt tensor.Dtype, dims int) error {
	if t == nil {
		return fmt.Errorf("tensors: %s: nil tensor", what)
	}
	if t.Dtype() != dt {
		return fmt.Errorf("%w: %s has dtype %v, want %v", ErrDtype, what, t.Dtype(), dt)
	}
	sh := t.Shape()
	if sh.Dims() != dims {
		return fmt.Errorf("%w: %s has shape %v (%d dimensions), want %d", ErrDims, what, sh, sh.Dims(), dims)
	}
	n := 1
	for _, s := range sh {
		if s < 1 || s > maxLen/n {
			return fmt.Errorf("tensors: %s has shape %v: want every dimension ≥ 1 and at most %d values", what, sh, maxLen)
		}
		n *= s
	}
	if !t.IsNativelyAccessible() {
		return fmt.Errorf("%w: %s is not accessible from Go", ErrLayout, what)
	}
	if t.IsMasked() {
		return fmt.Errorf("%w: %s is masked", ErrLayout, what)
	}
	if n > 1 && (t.RequiresIterator() || !t.DataOrder().IsRowMajor()) {
		return fmt.Errorf("%w: %s (shape %v, strides %v, %v) is transposed, column-major or a non-contiguous view; make a row-major copy first (Transpose after T, Materialize of a view)",
			ErrLayout, what, sh, t.Strides(), t.DataOrder())
	}
	// Row-major strides, ignoring dimensions of size 1 (whose stride is
	// never used).
	strides := t.Strides()
	if len(strides) != len(sh) && n > 1 {
		return fmt.Errorf("%w: %s has shape %v but strides %v", ErrLayout, what, sh, strides)
	}
	want := 1
	for i := len(sh) - 1; i >= 0; i-- {
		if sh[i] != 1 && strides[i] != want {
			return fmt.Errorf("%w: %s (shape %v) has strides %v, not the row-major ones", ErrLayout, what, sh, strides)
		}
		want *= sh[i]
	}
	return nil
}

// float64s returns the n = shape.TotalSize() values of a checked float64
// tensor, sharing its backing.
func float64s(what string, t *tensor.Dense) ([]float64, error) {
	x := t.Float64s()
	n := t.Shape().TotalSize()
	if len(x) < n {
		return nil, fmt.Errorf("%w: %s has %d values for shape %v", ErrLayout, what, len(x), t.Shape())
	}
	return x[:n:n], nil
}

// ToMatrix returns the r×c float64 tensor t as a dense r×c data.Matrix whose
// Data is t's backing (shared, not copied): M.Data[i·c + j] = t[i, j].
func ToMatrix(t *tensor.Dense) (*data.Matrix, error) {
	if err := check("matrix", t, tensor.Float64, 2); err != nil {
		return nil, err
	}
	x, err := float64s("matrix", t)
	if err != nil {
		return nil, err
	}
	sh := t.Shape()
	return data.NewDense(sh[0], sh[1], x), nil
}

// ToVector returns the values of the 1-D float64 tensor t, sharing t's
// backing.
func ToVector(t *tensor.Dense) ([]float64, error) {
	if err := check("vector", t, tensor.Float64, 1); err != nil {
		return nil, err
	}
	return float64s("vector", t)
}

// ToLabels returns the integer labels of the 1-D tensor t: an int tensor's
// values are copied, a float64 tensor's values must be integers (|y| <
// 2⁵³) and are converted. The result never shares t's backing.
func ToLabels(t *tensor.Dense) ([]int, error) {
	if t == nil {
		return nil, errors.New("tensors: labels: nil tensor")
	}
	switch t.Dtype() {
	case tensor.Int:
		if err := check("labels", t, tensor.Int, 1); err != nil {
			return nil, err
		}
		x := t.Ints()
		n := t.Shape().TotalSize()
		if len(x) < n {
			return nil, fmt.Errorf("%w: labels have %d values for shape %v", ErrLayout, len(x), t.Shape())
		}
		return append([]int(nil), x[:n]...), nil
	case tensor.Float64:
		if err := check("labels", t, tensor.Float64, 1); err != nil {
			return nil, err
		}
		x, err := float64s("labels", t)
		if err != nil {
			return nil, err
		}
		out := make([]int, len(x))
		for i, v := range x {
			if v != math.Trunc(v) || math.Abs(v) >= 1<<53 {
				return nil, fmt.Errorf("tensors: labels[%d] = %v is not an integer", i, v)
			}
			out[i] = int(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: labels have dtype %v, want int or float64", ErrDtype, t.Dtype())
}

// FromMatrix returns the dense matrix m as an m.Rows×m.Cols float64 tensor
// backed by m.Data (shared, not copied). A CSR matrix is an error (convert
// it with ToDense, which copies).
func FromMatrix(m *data.Matrix) (*tensor.Dense, error) {
	if m == nil {
		return nil, errors.New("tensors: nil matrix")
	}
	if m.IsCSR() {
		return nil, fmt.Errorf("%w: the matrix is CSR (sparse); ToDense makes a dense copy", ErrLayout)
	}
	if m.Rows < 1 || m.Cols < 1 || m.Rows > maxLen/m.Cols {
		return nil, fmt.Errorf("tensors: matrix is %d×%d: want at least 1×1 and at most %d values", m.Rows, m.Cols, maxLen)
	}
	if len(m.Data) != m.Rows*m.Cols {
		return nil, fmt.Errorf("tensors: dense %d×%d matrix has %d values, want %d", m.Rows, m.Cols, len(m.Data), m.Rows*m.Cols)
	}
	return tensor.New(tensor.WithShape(m.Rows, m.Cols), tensor.WithBacking(m.Data)), nil
}

// FromVector returns x (len ≥ 1) as a 1-D float64 tensor backed by x
// (shared, not copied).
func FromVector(x []float64) (*tensor.Dense, error) {
	if len(x) < 1 || len(x) > maxLen {
		return nil, fmt.Errorf("tensors: vector of length %d: want 1 to %d values", len(x), maxLen)
	}
	return tensor.New(tensor.WithShape(len(x)), tensor.WithBacking(x)), nil
}

// Supervised builds a ridge or logreg problem (data.Supervised) from the
// training matrix xTrain (n×p), targets yTrain (n), validation matrix xVal
// (m×p) and targets yVal (m), sharing the tensors' backings, with a copy of
// lambda (len p, or 1), and checks it with Validate(labels). Binary labels
// must already be ±1: NormalizeBinaryLabels would map {0, 1} labels in
// place, through the shared backing, into the caller's tensors.
func Supervised(xTrain, yTrain, xVal, yVal *tensor.Dense, lambda []float64, labels data.Labels) (*data.Supervised, error) {
	var s data.Supervised
	var err error
	if s.XTrain, err = ToMatrix(xTrain); err != nil {
		return nil, fmt.Errorf("tensors: X_train: %w", err)
	}
	if s.YTrain, err = ToVector(yTrain); err != nil {
		return nil, fmt.Errorf("tensors: y_train: %w", err)
	}
	if s.XVal, err = ToMatrix(xVal); err != nil {
		return nil, fmt.Errorf("tensors: X_val: %w", err)
	}
	if s.YVal, err = ToVector(yVal); err != nil {
		return nil, fmt.Errorf("tensors: y_val: %w", err)
	}
	s.Lambda = append([]float64(nil), lambda...)
	if err := s.Validate(labels); err != nil {
		return nil, fmt.Errorf("tensors: %w", err)
	}
	return &s, nil
}

// Multiclass builds a multinomial logistic regression problem
// (data.Multiclass) from the training matrix xTrain (n×p) with labels
// yTrain (n), the validation matrix xVal (m×p) with labels yVal (m), the
// number of classes and a copy of lambda (len p or 1, or classes when
// perClass), and checks it with Validate. The matrices share the tensors'
// backings; the labels are converted (ToLabels).
func Multiclass(xTrain, yTrain, xVal, yVal *tensor.Dense, classes int, lambda []float64, perClass bool) (*data.Multiclass, error) {
	s := data.Multiclass{Classes: classes, PerClass: perClass, Lambda: append([]float64(nil), lambda...)}
	var err error
	if s.XTrain, err = ToMatrix(xTrain); err != nil {
		return nil, fmt.Errorf("tensors: X_train: %w", err)
	}
	if s.YTrain, err = ToLabels(yTrain); err != nil {
		return nil, fmt.Errorf("tensors: y_train: %w", err)
	}
	if s.XVal, err = ToMatrix(xVal); err != nil {
		return nil, fmt.Errorf("tensors: X_val: %w", err)
	}
	if s.YVal, err = ToLabels(yVal); err != nil {
		return nil, fmt.Errorf("tensors: y_val: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("tensors: %w", err)
	}
	return &s, nil
}
