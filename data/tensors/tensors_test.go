package tensors_test

import (
	"errors"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/data/tensors"
)

// rng12 is the 3×4 tensor with t[i, j] = 4i + j.
func rng12() *tensor.Dense {
	return tensor.New(tensor.WithShape(3, 4), tensor.WithBacking(tensor.Range(tensor.Float64, 0, 12)))
}

func at(t *testing.T, x *tensor.Dense, coords ...int) float64 {
	t.Helper()
	v, err := x.At(coords...)
	if err != nil {
		t.Fatal(err)
	}
	return v.(float64)
}

// TestTensorMatrixSharesMemory: ToMatrix and FromMatrix share the backing both
// ways, element (i, j) at Data[i·c + j].
func TestTensorMatrixSharesMemory(t *testing.T) {
	x := rng12()
	m, err := tensors.ToMatrix(x)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 3 || m.Cols != 4 || m.IsCSR() || len(m.Data) != 12 {
		t.Fatalf("matrix %d×%d, %d values, CSR %v", m.Rows, m.Cols, len(m.Data), m.IsCSR())
	}
	for i := range 3 {
		for j := range 4 {
			if m.At(i, j) != at(t, x, i, j) {
				t.Fatalf("(%d, %d): %v vs %v", i, j, m.At(i, j), at(t, x, i, j))
			}
		}
	}
	m.Data[1*4+2] = -7
	if at(t, x, 1, 2) != -7 {
		t.Error("a write through the matrix is not seen by the tensor")
	}
	if err := x.SetAt(42.0, 2, 3); err != nil {
		t.Fatal(err)
	}
	if m.At(2, 3) != 42 {
		t.Error("a write through the tensor is not seen by the matrix")
	}

	d := data.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})
	y, err := tensors.FromMatrix(d)
	if err != nil {
		t.Fatal(err)
	}
	if s := y.Shape(); s.Dims() != 2 || s[0] != 2 || s[1] != 3 || at(t, y, 1, 0) != 4 {
		t.Fatalf("FromMatrix: shape %v, (1, 0) = %v", s, at(t, y, 1, 0))
	}
	if err := y.SetAt(-1.0, 0, 2); err != nil {
		t.Fatal(err)
	}
	d.Data[3] = 9
	if d.At(0, 2) != -1 || at(t, y, 1, 0) != 9 {
		t.Error("FromMatrix does not share the backing")
	}
	back, err := tensors.ToMatrix(y)
	if err != nil || &back.Data[0] != &d.Data[0] {
		t.Errorf("round trip: %v, shared %v", err, err == nil && &back.Data[0] == &d.Data[0])
	}
}

// TestTensorVectorSharesMemory: ToVector and FromVector share the backing.
func TestTensorVectorSharesMemory(t *testing.T) {
	x := []float64{1, 2, 3}
	v, err := tensors.FromVector(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetAt(5.0, 1); err != nil {
		t.Fatal(err)
	}
	if x[1] != 5 {
		t.Error("a write through the tensor is not seen by the slice")
	}
	y, err := tensors.ToVector(v)
	if err != nil {
		t.Fatal(err)
	}
	y[2] = -3
	if x[2] != -3 || at(t, v, 2) != -3 || len(y) != 3 || cap(y) != 3 {
		t.Errorf("ToVector: %v, len %d cap %d; slice %v", y, len(y), cap(y), x)
	}
}

// TestTensorContiguousViewShared: a view of whole rows is contiguous and
// row-major; ToMatrix shares it from its first row.
func TestTensorContiguousViewShared(t *testing.T) {
	x := rng12()
	v, err := x.Slice(tensor.S(1, 3))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tensors.ToMatrix(v.(*tensor.Dense))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 2 || m.Cols != 4 || len(m.Data) != 8 || m.At(0, 0) != 4 || m.At(1, 3) != 11 {
		t.Fatalf("row view: %d×%d %v", m.Rows, m.Cols, m.Data)
	}
	m.Data[0] = 100
	if at(t, x, 1, 0) != 100 {
		t.Error("a write through the view's matrix is not seen by the tensor")
	}
	// A materialized transpose is a fresh row-major tensor: accepted.
	y := rng12()
	if err := y.T(); err != nil {
		t.Fatal(err)
	}
	if err := y.Transpose(); err != nil {
		t.Fatal(err)
	}
	mt, err := tensors.ToMatrix(y)
	if err != nil {
		t.Fatal(err)
	}
	if mt.Rows != 4 || mt.Cols != 3 || mt.At(3, 1) != 7 {
		t.Errorf("transposed copy: %d×%d, (3, 1) = %v, want 7", mt.Rows, mt.Cols, mt.At(3, 1))
	}
}

// TestTensorConversionErrors: other dtypes, non-contiguous layouts and wrong
// dimensions are refused with the matching error.
func TestTensorConversionErrors(t *testing.T) {
	transposed := rng12()
	if err := transposed.T(); err != nil {
		t.Fatal(err)
	}
	colView, err := rng12().Slice(nil, tensor.S(1, 3))
	if err != nil {
		t.Fatal(err)
	}
	stride, err := tensor.New(tensor.WithShape(5), tensor.WithBacking(tensor.Range(tensor.Float64, 0, 5))).Slice(tensor.S(0, 5, 2))
	if err != nil {
		t.Fatal(err)
	}
	column, err := rng12().Slice(nil, tensor.S(1))
	if err != nil {
		t.Fatal(err)
	}
	fortran := tensor.New(tensor.WithShape(3, 4), tensor.WithBacking(tensor.Range(tensor.Float64, 0, 12)), tensor.AsFortran(nil))
	masked := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}),
		tensor.WithMask([]bool{false, true, false, false}))
	f32 := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))
	vec := tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{1, 2, 3}))
	cube := tensor.New(tensor.WithShape(2, 2, 2), tensor.WithBacking(make([]float64, 8)))
	scalar := tensor.New(tensor.FromScalar(1.0))
	ints := tensor.New(tensor.WithShape(3), tensor.WithBacking([]int{1, 2, 3}))
	for _, c := range []struct {
		name string
		f    func() error
		is   error
	}{
		{"matrix float32", func() error { _, err := tensors.ToMatrix(f32); return err }, tensors.ErrDtype},
		{"vector int", func() error { _, err := tensors.ToVector(ints); return err }, tensors.ErrDtype},
		{"transposed", func() error { _, err := tensors.ToMatrix(transposed); return err }, tensors.ErrLayout},
		{"column view", func() error { _, err := tensors.ToMatrix(colView.(*tensor.Dense)); return err }, tensors.ErrLayout},
		{"strided vector", func() error { _, err := tensors.ToVector(stride.(*tensor.Dense)); return err }, tensors.ErrLayout},
		{"column of a matrix", func() error { _, err := tensors.ToVector(column.(*tensor.Dense)); return err }, tensors.ErrLayout},
		{"column-major", func() error { _, err := tensors.ToMatrix(fortran); return err }, tensors.ErrLayout},
		{"masked", func() error { _, err := tensors.ToMatrix(masked); return err }, tensors.ErrLayout},
		{"vector as matrix", func() error { _, err := tensors.ToMatrix(vec); return err }, tensors.ErrDims},
		{"3-D as matrix", func() error { _, err := tensors.ToMatrix(cube); return err }, tensors.ErrDims},
		{"matrix as vector", func() error { _, err := tensors.ToVector(rng12()); return err }, tensors.ErrDims},
		{"scalar as vector", func() error { _, err := tensors.ToVector(scalar); return err }, tensors.ErrDims},
		{"labels 2-D", func() error { _, err := tensors.ToLabels(rng12()); return err }, tensors.ErrDims},
		{"labels float32", func() error {
			_, err := tensors.ToLabels(tensor.New(tensor.WithBacking([]float32{1})))
			return err
		}, tensors.ErrDtype},
		{"CSR", func() error {
			_, err := tensors.FromMatrix(data.NewCSR(2, 2, []int{0, 1, 2}, []int{0, 1}, []float64{1, 2}))
			return err
		}, tensors.ErrLayout},
	} {
		err := c.f()
		if !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
		}
	}
	for _, c := range []struct {
		name, want string
		f          func() error
	}{
		{"nil tensor", "nil tensor", func() error { _, err := tensors.ToMatrix(nil); return err }},
		{"nil labels", "nil tensor", func() error { _, err := tensors.ToLabels(nil); return err }},
		{"nil matrix", "nil matrix", func() error { _, err := tensors.FromMatrix(nil); return err }},
		{"short data", "has 3 values", func() error { _, err := tensors.FromMatrix(data.NewDense(2, 2, []float64{1, 2, 3})); return err }},
		{"empty matrix", "at least 1×1", func() error { _, err := tensors.FromMatrix(data.NewDense(0, 2, nil)); return err }},
		{"empty vector", "length 0", func() error { _, err := tensors.FromVector(nil); return err }},
		{"fractional label", "not an integer", func() error {
			_, err := tensors.ToLabels(tensor.New(tensor.WithBacking([]float64{0, 1.5})))
			return err
		}},
	} {
		if err := c.f(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

// TestTensorLabels: int and integer float64 tensors give the labels, copied.
func TestTensorLabels(t *testing.T) {
	ib := []int{2, 0, 1}
	got, err := tensors.ToLabels(tensor.New(tensor.WithBacking(ib)))
	if err != nil {
		t.Fatal(err)
	}
	fl, err := tensors.ToLabels(tensor.New(tensor.WithBacking([]float64{2, 0, 1})))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ib {
		if got[i] != ib[i] || fl[i] != ib[i] {
			t.Fatalf("labels %v and %v, want %v", got, fl, ib)
		}
	}
	got[0] = 9
	if ib[0] != 2 {
		t.Error("ToLabels shares an int backing; it should copy")
	}
}

// TestTensorSupervised: Supervised shares the tensors and validates.
func TestTensorSupervised(t *testing.T) {
	x := rng12()
	y := tensor.New(tensor.WithBacking([]float64{1, -1, 1}))
	xv := tensor.New(tensor.WithShape(2, 4), tensor.WithBacking([]float64{1, 0, 0, 1, 0, 1, 1, 0}))
	yv := tensor.New(tensor.WithBacking([]float64{-1, 1}))
	lam := []float64{0.5}
	s, err := tensors.Supervised(x, y, xv, yv, lam, data.BinaryLabels)
	if err != nil {
		t.Fatal(err)
	}
	s.XTrain.Data[5] = 3.5
	s.YVal[0] = 1
	if at(t, x, 1, 1) != 3.5 || at(t, yv, 0) != 1 {
		t.Error("Supervised does not share the tensors")
	}
	s.Lambda[0] = 9
	if lam[0] != 0.5 {
		t.Error("Supervised shares lambda; it should copy it")
	}
	badY := tensor.New(tensor.WithBacking([]float64{1, -1}))
	for _, c := range []struct {
		name, want string
		f          func() error
	}{
		{"rows", "y_train", func() error { _, err := tensors.Supervised(x, badY, xv, yv, lam, data.RealLabels); return err }},
		{"labels", "label", func() error {
			_, err := tensors.Supervised(x, tensor.New(tensor.WithBacking([]float64{0, 1, 1})), xv, yv, lam, data.BinaryLabels)
			return err
		}},
		{"X_val dims", "X_val", func() error { _, err := tensors.Supervised(x, y, yv, yv, lam, data.RealLabels); return err }},
		{"y_train layout", "y_train", func() error { _, err := tensors.Supervised(x, x, xv, yv, lam, data.RealLabels); return err }},
		{"lambda", "lambda", func() error { _, err := tensors.Supervised(x, y, xv, yv, []float64{1, 2}, data.RealLabels); return err }},
	} {
		if err := c.f(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

// TestTensorMulticlass: Multiclass shares the matrices, converts the
// labels and validates.
func TestTensorMulticlass(t *testing.T) {
	x := rng12()
	y := tensor.New(tensor.WithBacking([]int{0, 2, 1}))
	xv := tensor.New(tensor.WithShape(1, 4), tensor.WithBacking([]float64{1, 0, 0, 1}))
	yv := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{2}))
	s, err := tensors.Multiclass(x, y, xv, yv, 3, []float64{0, 0, 0, 0}, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, m, d, c := s.Dims(); n != 3 || m != 1 || d != 4 || c != 3 || s.YTrain[1] != 2 || s.YVal[0] != 2 {
		t.Fatalf("dims %d %d %d %d, labels %v %v", n, m, d, c, s.YTrain, s.YVal)
	}
	s.XVal.Data[2] = 8
	if at(t, xv, 0, 2) != 8 {
		t.Error("Multiclass does not share X_val")
	}
	if _, err := tensors.Multiclass(x, y, xv, yv, 2, []float64{0}, false); err == nil || !strings.Contains(err.Error(), "label") {
		t.Errorf("label 2 with 2 classes: %v", err)
	}
	if _, err := tensors.Multiclass(x, rng12(), xv, yv, 3, []float64{0}, false); !errors.Is(err, tensors.ErrDims) {
		t.Errorf("2-D labels: %v", err)
	}
	if _, err := tensors.Multiclass(x, y, x, yv, 3, []float64{0}, false); err == nil {
		t.Error("X_val with 3 rows and 1 label accepted")
	}
	if _, err := tensors.Multiclass(y, y, xv, yv, 3, []float64{0}, false); !errors.Is(err, tensors.ErrDtype) {
		t.Errorf("int X_train: %v", err)
	}
}
