package data

import (
	"archive/zip"
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestLoadSupervisedErrors(t *testing.T) {
	nan := dense(6, 4, func(i, j int) float64 {
		if i == 1 && j == 2 {
			return math.NaN()
		}
		return xval(i, j)
	})
	cases := []struct {
		name    string
		labels  Labels
		replace map[string]any
		kind    error
		msg     []string // substrings the message must contain
	}{
		{"missing y_val", RealLabels, map[string]any{"y_val": nil}, ErrMissing,
			[]string{`missing array "y_val"`, "arrays present: X_train, X_val, lambda, y_train"}},
		{"missing X_train", RealLabels, map[string]any{"X_train": nil}, ErrMissing,
			[]string{`missing array "X_train"`, "X_train_data"}},
		{"partial CSR", RealLabels, map[string]any{"X_train": nil, "X_train_data": []float64{1}, "X_train_indices": []int64{0}, "X_train_shape": []int64{6, 4}},
			ErrMissing, []string{`missing array "X_train_indptr"`}},
		{"X_val columns", RealLabels, map[string]any{"X_val": dense(3, 7, xval)}, ErrShape,
			[]string{"X_val has 7 columns, X_train has 4"}},
		{"y_train length", RealLabels, map[string]any{"y_train": []float64{1, 2, 3}}, ErrShape,
			[]string{"y_train has length 3, X_train has 6 rows"}},
		{"y_val length", RealLabels, map[string]any{"y_val": []float64{1}}, ErrShape,
			[]string{"y_val has length 1, X_val has 3 rows"}},
		{"lambda length", RealLabels, map[string]any{"lambda": []float64{1, 2}}, ErrShape,
			[]string{"lambda has length 2; want 4", "or 1"}},
		{"X_train 1-D", RealLabels, map[string]any{"X_train": []float64{1, 2, 3}}, ErrShape,
			[]string{"X_train has 1 dimension (shape (3,)); want 2"}},
		{"X_train 3-D", RealLabels, map[string]any{"X_train": rawNPY("'<f8'", false, "(1, 2, 3)", leBytes(make([]float64, 6)))}, ErrShape,
			[]string{"X_train has 3 dimensions (shape (1, 2, 3)); want 2"}},
		{"y_train 2-D", RealLabels, map[string]any{"y_train": dense(6, 1, xval)}, ErrShape,
			[]string{"y_train has 2 dimensions (shape (6, 1)); want 1"}},
		{"X_train no rows", RealLabels, map[string]any{"X_train": rawNPY("'<f8'", false, "(0, 4)", nil), "y_train": rawNPY("'<f8'", false, "(0,)", nil)}, ErrShape,
			[]string{"X_train is 0×4; want at least 1 row"}},
		{"NaN in X_train", RealLabels, map[string]any{"X_train": nan}, ErrNonFinite,
			[]string{"X_train contains NaN at (1, 2)"}},
		{"Inf in lambda", RealLabels, map[string]any{"lambda": []float64{0, 0, math.Inf(1), 0}}, ErrNonFinite,
			[]string{"lambda contains +Inf at index 2"}},
		{"NaN in y_val logreg", BinaryLabels, map[string]any{"y_val": []float64{1, math.NaN(), 1}}, ErrNonFinite,
			[]string{"y_val contains NaN at index 1"}},
		{"label 2", BinaryLabels, map[string]any{"y_train": []int64{1, -1, 2, 1, 1, 1}}, ErrLabels,
			[]string{"y_train[2] = 2", "{-1, +1} or {0, 1}"}},
		{"label mix", BinaryLabels, map[string]any{"y_train": []int64{1, -1, 0, 1, 1, 1}}, ErrLabels,
			[]string{"mix", "y_train[2] = 0", "y_train[1] = -1"}},
		{"mix across sets", BinaryLabels, map[string]any{"y_train": []int64{1, 0, 0, 1, 1, 1}}, ErrLabels,
			[]string{"mix", "y_val[0] = -1"}},
		{"object array", RealLabels, map[string]any{"y_train": rawNPY("'|O'", false, "(6,)", []byte("\x80\x02]q\x00."))}, ErrDType,
			[]string{"y_train is an object array", "'|O'"}},
		{"complex", RealLabels, map[string]any{"lambda": []complex128{1, 2, 3, 4}}, ErrDType,
			[]string{"lambda has unsupported dtype '<c16' (complex)"}},
		{"string", RealLabels, map[string]any{"y_val": rawNPY("'<U3'", false, "(3,)", make([]byte, 36))}, ErrDType,
			[]string{"y_val has unsupported dtype '<U3' (string)"}},
		{"structured", RealLabels, map[string]any{"lambda": rawNPY("[('a', '<f8'), ('b', '<i4')]", false, "(4,)", make([]byte, 48))}, ErrDType,
			[]string{"lambda has unsupported dtype [('a', '<f8'), ('b', '<i4')]"}},
		{"long double", RealLabels, map[string]any{"lambda": rawNPY("'<f16'", false, "(4,)", make([]byte, 64))}, ErrDType,
			[]string{"'<f16'", "16-byte f"}},
		{"truncated data", RealLabels, map[string]any{"X_train": rawNPY("'<f8'", false, "(6, 4)", leBytes(make([]float64, 23))[:183])}, ErrFormat,
			[]string{"X_train is truncated", "needs 192 bytes", "holds 183"}},
		{"bad magic", RealLabels, map[string]any{"lambda": raw("hello, world")}, ErrFormat,
			[]string{"lambda: not a .npy array"}},
		{"bad header", RealLabels, map[string]any{"lambda": raw(rawNPY("'<f8'", false, "(4,", nil))}, ErrFormat,
			[]string{"lambda: malformed .npy header"}},
		{"negative dim", RealLabels, map[string]any{"lambda": rawNPY("'<f8'", false, "(-4,)", nil)}, ErrFormat,
			[]string{"negative dimension"}},
		{"CSR bad indptr", RealLabels, map[string]any{"X_train": nil,
			"X_train_data": []float64{1, 2}, "X_train_indices": []int32{0, 3}, "X_train_indptr": []int32{0, 1, 0, 2, 2, 2, 2}, "X_train_shape": []int64{6, 4}},
			ErrShape, []string{"X_train (CSR) indptr decreases at row 1"}},
		{"CSR bad column", RealLabels, map[string]any{"X_train": nil,
			"X_train_data": []float64{1, 2}, "X_train_indices": []int32{0, 4}, "X_train_indptr": []int32{0, 1, 2, 2, 2, 2, 2}, "X_train_shape": []int64{6, 4}},
			ErrShape, []string{"column index 4 at position 1 is outside [0, 4)"}},
		{"CSR nnz mismatch", RealLabels, map[string]any{"X_train": nil,
			"X_train_data": []float64{1, 2, 3}, "X_train_indices": []int32{0, 1}, "X_train_indptr": []int32{0, 1, 2, 2, 2, 2, 2}, "X_train_shape": []int64{6, 4}},
			ErrShape, []string{"indptr[6] = 2 but it has 3 values and 2 column indices"}},
		{"CSR bad shape", RealLabels, map[string]any{"X_train": nil,
			"X_train_data": []float64{1}, "X_train_indices": []int32{0}, "X_train_indptr": []int32{0, 1}, "X_train_shape": []int64{6}},
			ErrShape, []string{"X_train_shape = [6]; want two non-negative integers"}},
		{"CSR non-integer index", RealLabels, map[string]any{"X_train": nil,
			"X_train_data": []float64{1}, "X_train_indices": []float64{0.5}, "X_train_indptr": []int32{0, 1, 1, 1, 1, 1, 1}, "X_train_shape": []int64{6, 4}},
			ErrShape, []string{"X_train_indices[0] = 0.5; want an integer"}},
		{"CSR NaN", RealLabels, map[string]any{"X_train": nil,
			"X_train_data": []float64{1, math.NaN()}, "X_train_indices": []int32{0, 3}, "X_train_indptr": []int32{0, 1, 1, 1, 2, 2, 2}, "X_train_shape": []int64{6, 4}},
			ErrNonFinite, []string{"X_train contains NaN at (3, 3)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeNPZTest(t, zip.Store, baseSupervised(c.replace)...)
			_, err := LoadSupervised(path, c.labels)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q: kind is not %v", err, c.kind)
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != path {
				t.Errorf("error %q does not carry the path", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, s := range c.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestLoadSupervisedAccepts(t *testing.T) {
	xf := func(i, j int) float64 { return xval(i, j) }
	// Fortran-order X_train: column-major bytes of the same matrix.
	fdata := make([]float64, 0, 24)
	for j := range 4 {
		for i := range 6 {
			fdata = append(fdata, xval(i, j))
		}
	}
	// Big-endian X_val.
	var be []byte
	for i := range 3 {
		for j := range 4 {
			var b [8]byte
			bits := math.Float64bits(-xval(i, j))
			for k := range 8 {
				b[k] = byte(bits >> (56 - 8*k))
			}
			be = append(be, b[:]...)
		}
	}
	f32 := make([]float32, 24)
	for k := range f32 {
		f32[k] = float32(xval(k/4, k%4))
	}
	cases := []struct {
		name    string
		labels  Labels
		replace map[string]any
		check   func(t *testing.T, s *Supervised)
	}{
		{"plain", BinaryLabels, nil, func(t *testing.T, s *Supervised) {
			if s.XTrain.Rows != 6 || s.XTrain.Cols != 4 || s.XTrain.At(2, 3) != xval(2, 3) || s.XVal.At(1, 1) != -xval(1, 1) {
				t.Errorf("X wrong: %+v", s.XTrain)
			}
		}},
		{"int64 labels", RealLabels, map[string]any{"y_train": []int64{3, -7, 0, 1, 2, 1 << 40}}, func(t *testing.T, s *Supervised) {
			if !sameFloats(s.YTrain, []float64{3, -7, 0, 1, 2, 1 << 40}) {
				t.Errorf("y_train = %v", s.YTrain)
			}
		}},
		{"{0,1} labels mapped", BinaryLabels, map[string]any{"y_train": []int64{1, 0, 1, 1, 0, 0}, "y_val": []uint8{0, 1, 1}}, func(t *testing.T, s *Supervised) {
			if !sameFloats(s.YTrain, []float64{1, -1, 1, 1, -1, -1}) || !sameFloats(s.YVal, []float64{-1, 1, 1}) {
				t.Errorf("labels %v %v", s.YTrain, s.YVal)
			}
		}},
		{"bool labels", BinaryLabels, map[string]any{"y_train": []bool{true, false, true, true, false, false}, "y_val": []bool{false, true, true}}, func(t *testing.T, s *Supervised) {
			if !sameFloats(s.YTrain, []float64{1, -1, 1, 1, -1, -1}) {
				t.Errorf("labels %v", s.YTrain)
			}
		}},
		{"{0,1} labels kept for ridge", RealLabels, map[string]any{"y_train": []int64{1, 0, 1, 1, 0, 0}}, func(t *testing.T, s *Supervised) {
			if !sameFloats(s.YTrain, []float64{1, 0, 1, 1, 0, 0}) {
				t.Errorf("labels %v", s.YTrain)
			}
		}},
		{"float32 X", RealLabels, map[string]any{"X_train": rawNPY("'<f4'", false, "(6, 4)", leBytes(f32))}, func(t *testing.T, s *Supervised) {
			if s.XTrain.At(5, 3) != float64(float32(xval(5, 3))) {
				t.Errorf("X[5,3] = %v", s.XTrain.At(5, 3))
			}
		}},
		{"Fortran order", RealLabels, map[string]any{"X_train": rawNPY("'<f8'", true, "(6, 4)", leBytes(fdata))}, func(t *testing.T, s *Supervised) {
			for i := range 6 {
				for j := range 4 {
					if s.XTrain.At(i, j) != xf(i, j) {
						t.Fatalf("X[%d,%d] = %v, want %v", i, j, s.XTrain.At(i, j), xf(i, j))
					}
				}
			}
		}},
		{"big endian", RealLabels, map[string]any{"X_val": rawNPY("'>f8'", false, "(3, 4)", be)}, func(t *testing.T, s *Supervised) {
			if s.XVal.At(2, 1) != -xval(2, 1) {
				t.Errorf("X_val[2,1] = %v", s.XVal.At(2, 1))
			}
		}},
		{"0-d lambda", RealLabels, map[string]any{"lambda": float64(-2.5)}, func(t *testing.T, s *Supervised) {
			if !sameFloats(s.Lambda, []float64{-2.5}) {
				t.Errorf("lambda = %v", s.Lambda)
			}
		}},
		{"int16 and uint16", RealLabels, map[string]any{"y_val": []int16{-3, 4, 5}, "lambda": []uint16{1, 2, 3, 65535}}, func(t *testing.T, s *Supervised) {
			if !sameFloats(s.YVal, []float64{-3, 4, 5}) || s.Lambda[3] != 65535 {
				t.Errorf("y_val %v lambda %v", s.YVal, s.Lambda)
			}
		}},
		{"float16", RealLabels, map[string]any{"lambda": rawNPY("'<f2'", false, "(4,)", leBytes([]uint16{0x3c00, 0xc000, 0x3800, 0}))}, func(t *testing.T, s *Supervised) {
			if !sameFloats(s.Lambda, []float64{1, -2, 0.5, 0}) {
				t.Errorf("lambda %v", s.Lambda)
			}
		}},
		{"CSR", RealLabels, map[string]any{"X_train": nil,
			"X_train_data": []float64{5, 7, 1, 2}, "X_train_indices": []int32{3, 0, 1, 1}, "X_train_indptr": []int32{0, 2, 2, 3, 3, 4, 4}, "X_train_shape": []int64{6, 4}},
			func(t *testing.T, s *Supervised) {
				if !s.XTrain.IsCSR() {
					t.Fatal("not CSR")
				}
				want := mat.NewDense(6, 4, []float64{7, 0, 0, 5, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0})
				d := s.XTrain.ToDense()
				if !mat.Equal(mat.NewDense(6, 4, d.Data), want) || s.XTrain.At(0, 0) != 7 || s.XTrain.At(4, 1) != 2 || s.XTrain.At(5, 3) != 0 {
					t.Errorf("CSR X = %v", d.Data)
				}
			}},
	}
	for _, c := range cases {
		for _, method := range []uint16{zip.Store, zip.Deflate} {
			t.Run(c.name, func(t *testing.T) {
				path := writeNPZTest(t, method, baseSupervised(c.replace)...)
				s, err := LoadSupervised(path, c.labels)
				if err != nil {
					t.Fatal(err)
				}
				c.check(t, s)
			})
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := SynthLogreg(SynthOptions{N: 50, M: 20, D: 7, Kappa: 10, Noise: 0.1, Lambda: math.NaN(), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := dir + "/s.npz"
	if err := SaveSupervised(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSupervised(path, BinaryLabels)
	if err != nil {
		t.Fatal(err)
	}
	if !sameFloats(got.XTrain.Data, s.XTrain.Data) || !sameFloats(got.XVal.Data, s.XVal.Data) ||
		!sameFloats(got.YTrain, s.YTrain) || !sameFloats(got.YVal, s.YVal) || !sameFloats(got.Lambda, s.Lambda) ||
		got.XTrain.Rows != 50 || got.XTrain.Cols != 7 || got.XVal.Rows != 20 {
		t.Error("supervised round trip changed the data")
	}

	// CSR matrices are written as the four CSR members.
	csr := &Supervised{
		XTrain: NewCSR(3, 4, []int{0, 2, 2, 3}, []int{1, 3, 0}, []float64{1.5, -2, 4}),
		XVal:   NewCSR(1, 4, []int{0, 0}, []int{}, []float64{}),
		YTrain: []float64{1, 2, 3}, YVal: []float64{4}, Lambda: []float64{0.5},
	}
	path = dir + "/csr.npz"
	if err := SaveSupervised(path, csr); err != nil {
		t.Fatal(err)
	}
	a, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Names(), ","); got != "X_train_data,X_train_indices,X_train_indptr,X_train_shape,X_val_data,X_val_indices,X_val_indptr,X_val_shape,lambda,y_train,y_val" {
		t.Errorf("members %s", got)
	}
	a.Close()
	got, err = LoadSupervised(path, RealLabels)
	if err != nil {
		t.Fatal(err)
	}
	if !got.XTrain.IsCSR() || !sameFloats(got.XTrain.ToDense().Data, csr.XTrain.ToDense().Data) || got.XVal.Rows != 1 || got.XVal.NNZ() != 0 {
		t.Errorf("CSR round trip: %+v %+v", got.XTrain, got.XVal)
	}

	q, err := SynthQuadratic(QuadraticOptions{M1: 30, M2: 40, D: 5, H: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	path = dir + "/q.npz"
	if err := SaveQuadratic(path, q); err != nil {
		t.Fatal(err)
	}
	gq, err := LoadQuadratic(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameFloats(gq.A.Data, q.A.Data) || !sameFloats(gq.B, q.B) || !sameFloats(gq.C.Data, q.C.Data) ||
		!sameFloats(gq.D.Data, q.D.Data) || !sameFloats(gq.E, q.E) || !sameFloats(gq.Theta, q.Theta) || gq.D.Rows != 40 || gq.C.Cols != 3 {
		t.Error("quadratic round trip changed the data")
	}

	// Save refuses invalid data and leaves no file behind.
	bad := *s
	bad.Lambda = []float64{1, 2}
	if err := SaveSupervised(dir+"/bad.npz", &bad); !errors.Is(err, ErrShape) {
		t.Errorf("SaveSupervised(bad) = %v", err)
	}
}

func TestValidateInMemory(t *testing.T) {
	good := func() *Supervised {
		return &Supervised{
			XTrain: NewDense(2, 2, []float64{1, 2, 3, 4}), XVal: NewDense(1, 2, []float64{5, 6}),
			YTrain: []float64{1, -1}, YVal: []float64{1}, Lambda: []float64{0},
		}
	}
	if err := good().Validate(BinaryLabels); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mod    func(s *Supervised)
		labels Labels
		kind   error
		msg    string
	}{
		{"nil X_val", func(s *Supervised) { s.XVal = nil }, RealLabels, ErrMissing, "X_val is nil"},
		{"short data", func(s *Supervised) { s.XTrain.Data = s.XTrain.Data[:3] }, RealLabels, ErrShape, "X_train has 3 values, want 2×2 = 4"},
		{"zero label", func(s *Supervised) { s.YVal[0] = 0 }, BinaryLabels, ErrLabels, "y_val[0] = 0"},
		{"unknown rule", func(s *Supervised) {}, Labels(7), ErrOption, "Labels(7)"},
	}
	for _, c := range cases {
		s := good()
		c.mod(s)
		err := s.Validate(c.labels)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v", c.name, err)
		}
		if strings.Contains(err.Error(), ": :") {
			t.Errorf("%s: odd message %q", c.name, err)
		}
	}
	// NormalizeBinaryLabels leaves s unchanged on error.
	s := good()
	s.YTrain = []float64{0, 1}
	s.YVal = []float64{-1}
	if err := s.NormalizeBinaryLabels(); !errors.Is(err, ErrLabels) || s.YTrain[0] != 0 {
		t.Errorf("NormalizeBinaryLabels mix: %v, %v", err, s.YTrain)
	}
}

func TestLoadQuadraticErrors(t *testing.T) {
	q, err := SynthQuadratic(QuadraticOptions{M1: 5, M2: 6, D: 3, H: 2})
	if err != nil {
		t.Fatal(err)
	}
	m := func(x *Matrix) *mat.Dense { return mat.NewDense(x.Rows, x.Cols, x.Data) }
	base := map[string]any{"A": m(q.A), "b": q.B, "C": m(q.C), "D": m(q.D), "e": q.E, "theta": q.Theta}
	cases := []struct {
		name    string
		replace map[string]any
		kind    error
		msg     string
	}{
		{"ok", nil, nil, ""},
		{"missing theta", map[string]any{"theta": nil}, ErrMissing, `missing array "theta" (arrays present: A, C, D, b, e)`},
		{"b length", map[string]any{"b": []float64{1}}, ErrShape, "b has length 1, A has 5 rows"},
		{"D rows", map[string]any{"D": dense(5, 3, xval)}, ErrShape, "D has 5 rows, C has 6"},
		{"D cols", map[string]any{"D": dense(6, 4, xval)}, ErrShape, "D has 4 columns, A has 3"},
		{"e length", map[string]any{"e": []float64{1}}, ErrShape, "e has length 1, C and D have 6 rows"},
		{"theta length", map[string]any{"theta": []float64{1, 1, 1}}, ErrShape, "theta has length 3, C has 2 columns"},
		{"Inf in D", map[string]any{"D": dense(6, 3, func(i, j int) float64 { return 1 / float64(i*3+j-4) })}, ErrNonFinite, "D contains +Inf at (1, 1)"},
		{"A 1-D", map[string]any{"A": []float64{1, 2}}, ErrShape, "A has 1 dimension"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var es []entry
			for _, k := range []string{"A", "b", "C", "D", "e", "theta"} {
				v := base[k]
				if r, ok := c.replace[k]; ok {
					v = r
				}
				if v != nil {
					es = append(es, entry{k, v})
				}
			}
			path := writeNPZTest(t, zip.Deflate, es...)
			got, err := LoadQuadratic(path)
			if c.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !sameFloats(got.E, q.E) || !sameFloats(got.D.Data, q.D.Data) {
					t.Error("data changed")
				}
				return
			}
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v; want kind %v containing %q and the path", err, c.kind, c.msg)
			}
		})
	}
}
