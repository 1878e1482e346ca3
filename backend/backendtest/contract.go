package backendtest

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// square returns an n×n test matrix of each format, for the aliasing tests.
func squareMatrices(n int) []*HostMatrix {
	return []*HostMatrix{RandDense(Rand(uint64(n)), n, n), RandCSR(Rand(uint64(n)+1), n, n, 0.3)}
}

// testAllowedAliases checks read-only operands that are the same vector.
func (s *suite) testAllowedAliases(t *testing.T) {
	b := s.backend(t)
	for _, n := range []int{6, 300} {
		for _, m := range squareMatrices(n) {
			a := newMat(t, b, m)
			v := RandVector(Rand(uint64(n)+2), n)
			for i := range v {
				v[i] = math.Abs(v[i])
			}
			vv := newVec(t, b, v)
			dv := newVec(t, b, make([]float64, n))

			b.GramVec(dv, 1.5, a, vv, vv, 0)
			what := fmt.Sprintf("GramVec(dst, α, X, v, v, 0) %v", m)
			if noErr(t, b, what) {
				ref, mag := refGramVec(1.5, m, v, v, 0, nil)
				checkVec(t, what, get(t, b, dv), ref, mag)
			}

			got := b.GLMGrad(dv, 1, a, vv, vv, backend.Squared, 0, nil)
			what = fmt.Sprintf("GLMGrad(dst, α, X, w, w, squared, 0, nil) %v", m)
			if noErr(t, b, what) {
				ref := refGLM(m, v, v, backend.Squared)
				grad, gradMag := combine(1, ref.xtg, ref.xtgMag, 0, nil)
				checkScalar(t, what+": loss", got, ref.loss, ref.lossMag)
				checkVec(t, what+": dst", get(t, b, dv), grad, gradMag)
			}
			b.FreeMatrix(a)
		}
	}
}

// testForbiddenAliases checks that every forbidden alias records ErrAlias and
// leaves the outputs untouched.
func (s *suite) testForbiddenAliases(t *testing.T) {
	b := s.backend(t)
	const n = 300
	for _, m := range squareMatrices(n) {
		a := newMat(t, b, m)
		r := Rand(7)
		x, y := RandVector(r, n), RandLabels(r, n)
		xv, yv, ov := newVec(t, b, x), newVec(t, b, y), newVec(t, b, x)
		cases := []struct {
			name string
			op   string
			do   func()
		}{
			{"MulVec(x, α, A, x, β)", "MulVec", func() { b.MulVec(xv, 1, a, xv, 0) }},
			{"MulVecTrans(x, α, A, x, β)", "MulVecTrans", func() { b.MulVecTrans(xv, 1, a, xv, 1) }},
			{"GramVec(v, α, X, d, v, β)", "GramVec", func() { b.GramVec(xv, 1, a, yv, xv, 0) }},
			{"GramVec(v, α, X, nil, v, β)", "GramVec", func() { b.GramVec(xv, 1, a, nil, xv, 0) }},
			{"GramVec(d, α, X, d, v, β)", "GramVec", func() { b.GramVec(xv, 1, a, xv, yv, 0) }},
			{"GramDiag(d, α, X, d, β)", "GramDiag", func() { b.GramDiag(xv, 1, a, xv, 0) }},
			{"GLMGrad(w, α, X, w, y, …)", "GLMGrad", func() { b.GLMGrad(xv, 1, a, xv, yv, backend.Logistic, 0, nil) }},
			{"GLMGrad(y, α, X, w, y, …)", "GLMGrad", func() { b.GLMGrad(xv, 1, a, yv, xv, backend.Logistic, 0, nil) }},
			{"GLMGrad(c, α, X, w, y, …, c)", "GLMGrad", func() { b.GLMGrad(xv, 1, a, ov, yv, backend.Logistic, 0, xv) }},
			{"GLMGrad(nil, …, curv = w)", "GLMGrad", func() { b.GLMGrad(nil, 1, a, xv, yv, backend.Logistic, 0, xv) }},
			{"GLMGrad(nil, …, curv = y)", "GLMGrad", func() { b.GLMGrad(nil, 1, a, yv, xv, backend.Logistic, 0, xv) }},
			{"GLMGrad(dst, …, curv = w)", "GLMGrad", func() { b.GLMGrad(ov, 1, a, xv, yv, backend.Logistic, 0, xv) }},
			{"GLMGradNoLoss(w, α, X, w, y, …)", "GLMGradNoLoss", func() { b.GLMGradNoLoss(xv, 1, a, xv, yv, backend.Logistic, 0, nil) }},
			{"GLMGradNoLoss(nil, …, curv = y)", "GLMGradNoLoss", func() { b.GLMGradNoLoss(nil, 1, a, yv, xv, backend.Logistic, 0, xv) }},
		}
		for _, c := range cases {
			b.Upload(xv, x)
			b.Upload(yv, y)
			b.Upload(ov, x)
			noErr(t, b, "Upload")
			c.do()
			what := fmt.Sprintf("%s %v", c.name, m)
			wantErr(t, b, backend.ErrAlias, c.op, what)
			checkExact(t, what+": operand x changed", get(t, b, xv), x)
			checkExact(t, what+": operand y changed", get(t, b, yv), y)
			checkExact(t, what+": operand o changed", get(t, b, ov), x)
		}
		b.FreeMatrix(a)
	}
}

// testShapeErrors checks that every length mismatch records ErrShape and
// writes nothing.
func (s *suite) testShapeErrors(t *testing.T) {
	b := s.backend(t)
	for _, m := range []*HostMatrix{RandDense(Rand(1), 5, 3), RandCSR(Rand(2), 5, 3, 0.5)} {
		a := newMat(t, b, m)
		v3, v5, v4 := newVec(t, b, []float64{1, 2, 3}), newVec(t, b, []float64{1, 2, 3, 4, 5}), newVec(t, b, []float64{1, 2, 3, 4})
		v3b, v5b := newVec(t, b, []float64{3, 2, 1}), newVec(t, b, []float64{1, -1, 1, -1, 1})
		cases := []struct {
			op string
			do func()
		}{
			{"Upload", func() { b.Upload(v3, []float64{1, 2}) }},
			{"Download", func() { b.Download(make([]float64, 4), v3) }},
			{"Copy", func() { b.Copy(v3, v4) }},
			{"Axpy", func() { b.Axpy(1, v4, v3) }},
			{"Axpby", func() { b.Axpby(1, v3, 2, v4) }},
			{"MulElem", func() { b.MulElem(v4, 1, v3, v3b, 0) }},
			{"MulElem", func() { b.MulElem(v3, 1, v4, v3b, 0) }},
			{"MulElem", func() { b.MulElem(v3, 1, v3b, v4, 0) }},
			{"Dot", func() { b.Dot(v3, v4) }},
			{"MulVec", func() { b.MulVec(v4, 1, a, v3, 0) }},
			{"MulVec", func() { b.MulVec(v5, 1, a, v4, 0) }},
			{"MulVec", func() { b.MulVec(v3, 1, a, v5, 0) }},
			{"MulVecTrans", func() { b.MulVecTrans(v4, 1, a, v5, 0) }},
			{"MulVecTrans", func() { b.MulVecTrans(v3, 1, a, v4, 0) }},
			{"MulVecTrans", func() { b.MulVecTrans(v5, 1, a, v3, 0) }},
			{"GramVec", func() { b.GramVec(v4, 1, a, nil, v3, 0) }},
			{"GramVec", func() { b.GramVec(v3b, 1, a, nil, v4, 0) }},
			{"GramVec", func() { b.GramVec(v3b, 1, a, v4, v3, 0) }},
			{"GramVec", func() { b.GramVec(v3b, 1, a, v3, v5, 0) }},
			{"GramDiag", func() { b.GramDiag(v4, 1, a, nil, 0) }},
			{"GramDiag", func() { b.GramDiag(v5, 1, a, v5b, 0) }},
			{"GramDiag", func() { b.GramDiag(v3b, 1, a, v4, 0) }},
			{"GramDiag", func() { b.GramDiag(v3b, 1, a, v3, 0) }},
			{"GLMGrad", func() { b.GLMGrad(v3b, 1, a, v4, v5, backend.Squared, 0, nil) }},
			{"GLMGrad", func() { b.GLMGrad(v3b, 1, a, v3, v4, backend.Squared, 0, nil) }},
			{"GLMGrad", func() { b.GLMGrad(v4, 1, a, v3, v5, backend.Squared, 0, nil) }},
			{"GLMGrad", func() { b.GLMGrad(nil, 1, a, v3, v5, backend.Squared, 0, v4) }},
			{"GLMGrad", func() { b.GLMGrad(v3b, 1, a, v3, v5b, backend.Squared, 0, v4) }},
			{"GLMGradNoLoss", func() { b.GLMGradNoLoss(v3b, 1, a, v4, v5, backend.Squared, 0, nil) }},
			{"GLMGradNoLoss", func() { b.GLMGradNoLoss(nil, 1, a, v3, v5, backend.Squared, 0, v4) }},
		}
		before := [][]float64{get(t, b, v3), get(t, b, v5), get(t, b, v4), get(t, b, v3b), get(t, b, v5b)}
		for k, c := range cases {
			c.do()
			what := fmt.Sprintf("shape case %d (%s) on %v", k, c.op, m)
			wantErr(t, b, backend.ErrShape, c.op, what)
			for i, v := range []backend.Vector{v3, v5, v4, v3b, v5b} {
				checkExact(t, fmt.Sprintf("%s: vector %d changed", what, i), get(t, b, v), before[i])
			}
		}
		if r := b.Dot(v3, v4); !math.IsNaN(r) {
			t.Errorf("Dot of mismatched lengths returned %v, want NaN", r)
		}
		b.ClearErr()
		b.FreeMatrix(a)
	}
}

// testStickyError checks that after a failure every operation is a no-op and
// reductions return NaN until ClearErr.
func (s *suite) testStickyError(t *testing.T) {
	b := s.backend(t)
	m := RandDense(Rand(3), 4, 4)
	a := newMat(t, b, m)
	x, y := []float64{1, 2, 3, 4}, []float64{-1, 0.5, 2, 8}
	xv, yv, zv, short := newVec(t, b, x), newVec(t, b, y), newVec(t, b, y), newVec(t, b, []float64{1})

	b.Axpy(1, short, yv) // the first failure
	first := b.Err()
	if first == nil {
		t.Fatal("Axpy with mismatched lengths recorded no error")
	}
	if err := b.Sync(); err != first {
		t.Errorf("Sync() = %v, want the recorded error %v", err, first)
	}
	host := []float64{9, 9, 9, 9}
	b.Upload(yv, []float64{7, 7, 7, 7})
	b.Download(host, yv)
	b.Copy(yv, xv)
	b.Fill(yv, 3)
	b.Scal(2, yv)
	b.Axpy(1, xv, yv)
	b.Axpby(1, xv, 0, yv)
	b.MulElem(yv, 1, xv, xv, 0)
	b.MulVec(yv, 1, a, xv, 0)
	b.MulVecTrans(yv, 1, a, xv, 0)
	b.GramVec(yv, 1, a, nil, xv, 0)
	b.GramDiag(yv, 1, a, xv, 0)
	b.Dot(xv, short) // a second failure must not replace the first
	for name, r := range map[string]float64{
		"Dot":     b.Dot(xv, xv),
		"Nrm2":    b.Nrm2(xv),
		"GLMGrad": b.GLMGrad(yv, 1, a, xv, zv, backend.Squared, 0, nil),
	} {
		if !math.IsNaN(r) {
			t.Errorf("%s after a failure returned %v, want NaN", name, r)
		}
	}
	if err := b.Err(); err != first {
		t.Errorf("Err() = %v after more operations, want the first error %v", err, first)
	}
	wantErr(t, b, backend.ErrShape, "Axpy", "first failure")
	checkExact(t, "Download after a failure wrote the host slice", host, []float64{9, 9, 9, 9})
	checkExact(t, "operations after a failure changed y", get(t, b, yv), y)
	if err := b.Sync(); err != nil {
		t.Errorf("Sync() after ClearErr = %v", err)
	}
	got := b.Dot(xv, yv)
	if noErr(t, b, "Dot after ClearErr") {
		ref, mag := refDot(x, y)
		checkScalar(t, "Dot after ClearErr", got, ref, mag)
	}
}

// testForeign checks operands of another backend instance.
func (s *suite) testForeign(t *testing.T) {
	b, other := s.backend(t), s.backend(t)
	m := RandDense(Rand(4), 3, 3)
	a, oa := newMat(t, b, m), newMat(t, other, m)
	x, ox := newVec(t, b, []float64{1, 2, 3}), newVec(t, other, []float64{1, 2, 3})
	y := newVec(t, b, []float64{1, 2, 3})
	cases := []struct {
		op string
		do func()
	}{
		{"Upload", func() { b.Upload(ox, []float64{1, 2, 3}) }},
		{"Download", func() { b.Download(make([]float64, 3), ox) }},
		{"Copy", func() { b.Copy(x, ox) }},
		{"Fill", func() { b.Fill(ox, 1) }},
		{"Scal", func() { b.Scal(2, ox) }},
		{"Axpy", func() { b.Axpy(1, ox, x) }},
		{"Axpby", func() { b.Axpby(1, x, 1, ox) }},
		{"MulElem", func() { b.MulElem(x, 1, ox, y, 0) }},
		{"Dot", func() { b.Dot(x, ox) }},
		{"Nrm2", func() { b.Nrm2(ox) }},
		{"MulVec", func() { b.MulVec(x, 1, oa, y, 0) }},
		{"MulVec", func() { b.MulVec(x, 1, a, ox, 0) }},
		{"MulVecTrans", func() { b.MulVecTrans(ox, 1, a, y, 0) }},
		{"GramVec", func() { b.GramVec(x, 1, oa, nil, y, 0) }},
		{"GramVec", func() { b.GramVec(x, 1, a, ox, y, 0) }},
		{"GramDiag", func() { b.GramDiag(x, 1, oa, y, 0) }},
		{"GramDiag", func() { b.GramDiag(ox, 1, a, y, 0) }},
		{"GramDiag", func() { b.GramDiag(x, 1, a, ox, 0) }},
		{"GLMGrad", func() { b.GLMGrad(x, 1, a, y, ox, backend.Squared, 0, nil) }},
		{"GLMGrad", func() { b.GLMGrad(nil, 1, a, y, x, backend.Squared, 0, ox) }},
		{"GLMGrad", func() { b.GLMGrad(x, 1, oa, y, y, backend.Squared, 0, nil) }},
		{"GLMGradNoLoss", func() { b.GLMGradNoLoss(x, 1, oa, y, y, backend.Squared, 0, nil) }},
		{"GLMGradNoLoss", func() { b.GLMGradNoLoss(nil, 1, a, y, x, backend.Squared, 0, ox) }},
	}
	for k, c := range cases {
		c.do()
		wantErr(t, b, backend.ErrForeign, c.op, fmt.Sprintf("foreign case %d (%s)", k, c.op))
	}
	if err := other.Err(); err != nil {
		t.Errorf("the other backend recorded %v", err)
	}
	checkExact(t, "the other backend's vector", get(t, other, ox), []float64{1, 2, 3})
}

// testFreed checks use after Free and FreeMatrix, and that freeing twice or
// freeing nil is harmless.
func (s *suite) testFreed(t *testing.T) {
	b := s.backend(t)
	m := RandCSR(Rand(5), 3, 3, 0.7)
	a := newMat(t, b, m)
	x, y, f := newVec(t, b, []float64{1, 2, 3}), newVec(t, b, []float64{1, 2, 3}), newVec(t, b, []float64{1, 2, 3})
	b.Free(f)
	b.Free(f)
	b.Free(nil)
	noErr(t, b, "Free twice and Free(nil)")
	cases := []struct {
		op string
		do func()
	}{
		{"Upload", func() { b.Upload(f, []float64{1, 2, 3}) }},
		{"Download", func() { b.Download(make([]float64, 3), f) }},
		{"Copy", func() { b.Copy(x, f) }},
		{"Axpy", func() { b.Axpy(1, x, f) }},
		{"Dot", func() { b.Dot(f, x) }},
		{"Nrm2", func() { b.Nrm2(f) }},
		{"MulVec", func() { b.MulVec(f, 1, a, x, 0) }},
		{"GramVec", func() { b.GramVec(y, 1, a, f, x, 0) }},
		{"GramDiag", func() { b.GramDiag(f, 1, a, x, 0) }},
		{"GramDiag", func() { b.GramDiag(y, 1, a, f, 0) }},
		{"GLMGrad", func() { b.GLMGrad(nil, 1, a, x, y, backend.Squared, 0, f) }},
		{"GLMGradNoLoss", func() { b.GLMGradNoLoss(nil, 1, a, x, y, backend.Squared, 0, f) }},
	}
	for k, c := range cases {
		c.do()
		wantErr(t, b, backend.ErrFreed, c.op, fmt.Sprintf("freed vector case %d (%s)", k, c.op))
	}
	b.FreeMatrix(a)
	b.FreeMatrix(a)
	b.FreeMatrix(nil)
	noErr(t, b, "FreeMatrix twice and FreeMatrix(nil)")
	b.MulVecTrans(y, 1, a, x, 0)
	wantErr(t, b, backend.ErrFreed, "MulVecTrans", "freed matrix")
	b.GLMGrad(y, 1, a, x, y, backend.Squared, 0, nil)
	wantErr(t, b, backend.ErrFreed, "GLMGrad", "freed matrix")
	b.GramDiag(y, 1, a, nil, 0)
	wantErr(t, b, backend.ErrFreed, "GramDiag", "freed matrix")
}

// testInvalid checks the allocation errors and unknown losses.
func (s *suite) testInvalid(t *testing.T) {
	b := s.backend(t)
	if _, err := b.NewVector(-1); !isErr(err, backend.ErrInvalid) {
		t.Errorf("NewVector(-1): error %v, want ErrInvalid", err)
	}
	if _, err := b.NewDense(2, 3, make([]float64, 5)); !isErr(err, backend.ErrShape) && !isErr(err, backend.ErrInvalid) {
		t.Errorf("NewDense(2, 3) with 5 values: error %v, want ErrShape or ErrInvalid", err)
	}
	if _, err := b.NewDense(-1, 3, nil); err == nil {
		t.Errorf("NewDense(-1, 3): no error")
	}
	bad := []struct {
		name       string
		rows, cols int
		indptr     []int
		indices    []int
		data       []float64
	}{
		{"short indptr", 2, 3, []int{0, 1}, []int{0}, []float64{1}},
		{"long indptr", 1, 3, []int{0, 1, 1}, []int{0}, []float64{1}},
		{"empty indptr", 0, 3, nil, nil, nil},
		{"indptr[0] ≠ 0", 2, 3, []int{1, 1, 2}, []int{0, 1}, []float64{1, 2}},
		{"decreasing indptr", 3, 3, []int{0, 2, 1, 3}, []int{0, 1, 2}, []float64{1, 2, 3}},
		{"negative indptr", 2, 3, []int{0, -1, 0}, nil, nil},
		{"indptr past the end", 2, 3, []int{0, 1, 3}, []int{0, 1}, []float64{1, 2}},
		{"indptr short of the end", 2, 3, []int{0, 1, 1}, []int{0, 1}, []float64{1, 2}},
		{"indices and data differ", 1, 3, []int{0, 2}, []int{0, 1}, []float64{1}},
		{"index = cols", 2, 3, []int{0, 1, 2}, []int{0, 3}, []float64{1, 2}},
		{"negative index", 2, 3, []int{0, 1, 2}, []int{-1, 0}, []float64{1, 2}},
		{"negative rows", -1, 3, []int{0}, nil, nil},
		{"negative cols", 1, -3, []int{0, 0}, nil, nil},
		{"index with zero cols", 1, 0, []int{0, 1}, []int{0}, []float64{1}},
	}
	for _, c := range bad {
		m, err := b.NewCSR(c.rows, c.cols, c.indptr, c.indices, c.data)
		if !isErr(err, backend.ErrInvalid) {
			t.Errorf("NewCSR with %s: matrix %v, error %v; want ErrInvalid", c.name, m, err)
		}
	}
	if _, err := b.NewCSR(0, 3, []int{0}, nil, nil); err != nil {
		t.Errorf("NewCSR of a 0×3 matrix: %v", err)
	}
	x := newVec(t, b, []float64{1, 2})
	a := newMat(t, b, RandDense(Rand(6), 2, 2))
	if r := b.GLMGrad(nil, 1, a, x, x, backend.Loss(99), 0, nil); !math.IsNaN(r) {
		t.Errorf("GLMGrad with an unknown loss returned %v, want NaN", r)
	}
	wantErr(t, b, backend.ErrInvalid, "GLMGrad", "unknown loss")
}

func isErr(err, target error) bool {
	return err != nil && errors.Is(err, target)
}

// testAllocated checks that Allocated follows allocations and frees.
func (s *suite) testAllocated(t *testing.T) {
	b := s.backend(t)
	base := b.Allocated()
	v, err := b.NewVector(1000)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Allocated(); got < base+8000 {
		t.Errorf("Allocated() = %d after NewVector(1000), want ≥ %d", got, base+8000)
	}
	m := RandCSR(Rand(8), 50, 40, 0.2)
	d := RandDense(Rand(9), 50, 40)
	withV := b.Allocated()
	as, ad := newMat(t, b, m), newMat(t, b, d)
	if got, least := b.Allocated(), withV+int64(8*m.NNZ()+8*2000); got < least {
		t.Errorf("Allocated() = %d after a %v and a %v, want ≥ %d", got, m, d, least)
	}
	b.FreeMatrix(as)
	b.FreeMatrix(ad)
	if got := b.Allocated(); got != withV {
		t.Errorf("Allocated() = %d after FreeMatrix, want %d as before", got, withV)
	}
	b.Free(v)
	if got := b.Allocated(); got != base {
		t.Errorf("Allocated() = %d after Free, want %d as before", got, base)
	}
}

// testDeterminism runs every reduction and fused kernel twice on the same
// inputs and requires bit-identical results.
func (s *suite) testDeterminism(t *testing.T) {
	b := s.backend(t)
	same := func(what string, first, second []float64) {
		t.Helper()
		for i := range first {
			if math.Float64bits(first[i]) != math.Float64bits(second[i]) {
				t.Errorf("%s is not deterministic: [%d] = %v, then %v", what, i, first[i], second[i])
				return
			}
		}
	}
	for _, n := range []int{1003, 100003} {
		r := Rand(uint64(n))
		x, y := RandVector(r, n), RandVector(r, n)
		xv, yv := newVec(t, b, x), newVec(t, b, y)
		d1, d2 := b.Dot(xv, yv), b.Dot(xv, yv)
		n1, n2 := b.Nrm2(xv), b.Nrm2(xv)
		noErr(t, b, "Dot, Nrm2")
		same(fmt.Sprintf("Dot n=%d", n), []float64{d1, n1}, []float64{d2, n2})
	}
	for k, sh := range []shape{{1003, 67, 0}, {2, 20011, 0}, {3001, 257, 0.06}, {20011, 3, 0.7}} {
		m := sh.hostMatrix(uint64(2000 + k))
		a := newMat(t, b, m)
		r := Rand(uint64(k))
		w, v, y := newVec(t, b, RandVector(r, m.Cols)), newVec(t, b, RandVector(r, m.Rows)), newVec(t, b, RandLabels(r, m.Rows))
		start := RandVector(r, m.Cols)
		startRows := RandVector(r, m.Rows)
		run := func(op func(dst, curv backend.Vector) float64) ([]float64, float64) {
			dst, curv := newVec(t, b, start), newVec(t, b, startRows)
			defer b.Free(dst)
			defer b.Free(curv)
			s := op(dst, curv)
			return append(get(t, b, dst), get(t, b, curv)...), s
		}
		ops := map[string]func(dst, curv backend.Vector) float64{
			"MulVec":      func(_, c backend.Vector) float64 { b.MulVec(c, 1.5, a, w, 0.5); return 0 },
			"MulVecTrans": func(d, _ backend.Vector) float64 { b.MulVecTrans(d, 1.5, a, v, 0.5); return 0 },
			"GramVec":     func(d, _ backend.Vector) float64 { b.GramVec(d, 1.5, a, y, w, 0.5); return 0 },
			"GramDiag":    func(d, _ backend.Vector) float64 { b.GramDiag(d, 1.5, a, v, 0.5); return 0 },
			"GLMGrad logistic": func(d, c backend.Vector) float64 {
				return b.GLMGrad(d, 1.5, a, w, y, backend.Logistic, 0.5, c)
			},
			"GLMGrad squared, no dst": func(_, c backend.Vector) float64 {
				return b.GLMGrad(nil, 1, a, w, v, backend.Squared, 0, c)
			},
		}
		for name, op := range ops {
			first, s1 := run(op)
			second, s2 := run(op)
			noErr(t, b, name)
			same(fmt.Sprintf("%s on %v", name, m), append(first, s1), append(second, s2))
		}
		b.FreeMatrix(a)
	}
}
