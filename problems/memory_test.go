package problems

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// wideSupervised is ridge or logreg data with n rows and d columns of
// deterministic values, labels ±1, one hyperparameter per feature.
func wideSupervised(n, m, d int) *data.Supervised {
	fill := func(rows int, seed float64) *data.Matrix {
		x := make([]float64, rows*d)
		for i := range x {
			x[i] = math.Sin(seed + 0.37*float64(i))
		}
		return data.NewDense(rows, d, x)
	}
	labels := func(k int) []float64 {
		y := make([]float64, k)
		for i := range y {
			y[i] = float64(1 - 2*(i%2))
		}
		return y
	}
	return &data.Supervised{XTrain: fill(n, 0), XVal: fill(m, 1), YTrain: labels(n), YVal: labels(m), Lambda: make([]float64, d)}
}

// TestDenseBytesFormulas: the package function DenseBytes is the
// documented formula for each family, and agrees with the problems'
// DenseBytes method.
func TestDenseBytesFormulas(t *testing.T) {
	const n, m, d = 30, 20, 10
	s := wideSupervised(n, m, d)
	vecs := 8 * 16 * float64(n+d+m)
	dd := float64(d * d)
	ridgeWant := math.Max(16*dd+8*dd, 32*dd) + vecs // max(gram + Cholesky, eigendecomposition)
	logregWant := 16*dd + 8*n*d + 8*dd + vecs       // weighted gram + Cholesky
	q, err := data.SynthQuadratic(data.QuadraticOptions{M1: 40, M2: 50, D: d, H: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	quadWant := math.Max(8*50*d+8*dd, 32*dd) + 8*16*float64(50+d+40)
	for _, c := range []struct {
		family string
		data   any
		want   float64
	}{{"ridge", s, ridgeWant}, {"logreg", s, logregWant}, {"quadratic", q, quadWant}} {
		got, err := DenseBytes(c.family, c.data)
		if err != nil || got != int64(c.want) {
			t.Errorf("DenseBytes(%s) = %d, %v; want %d", c.family, got, err, int64(c.want))
		}
	}
	r, err := NewRidge(newCPU(t), s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.DenseBytes(); got != int64(ridgeWant) {
		t.Errorf("Ridge.DenseBytes = %d, want %d", got, int64(ridgeWant))
	}
	if _, err := DenseBytes("ridge", q); err == nil {
		t.Error("DenseBytes(ridge, quadratic data): no error")
	}
	// CSR: the dense copy counts.
	csr := data.NewCSR(2, 1_000_000, []int{0, 1, 2}, []int{0, 5}, []float64{1, 2})
	big := &data.Supervised{XTrain: csr, XVal: csr, YTrain: []float64{1, -1}, YVal: []float64{1, -1}, Lambda: []float64{0}}
	if got, _ := DenseBytes("ridge", big); got < 8*1e12 {
		t.Errorf("DenseBytes(ridge, 2×1e6 CSR) = %d, want at least the 8e12 bytes of A", got)
	}
}

// TestDenseBudgetRefusesFast: -exact at d = 1e5 (16·d² = 160 GB of dense
// matrices) fails with ErrTooLarge at once, allocating next to nothing,
// with the estimate in the message; the exact constants too.
func TestDenseBudgetRefusesFast(t *testing.T) {
	const d = 100_000
	s := wideSupervised(4, 3, d)
	for _, family := range []string{"ridge", "logreg"} {
		pr, _, err := New(newCPU(t), family, s)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		_, err = pr.Reference()
		elapsed := time.Since(t0)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "GiB") || !strings.Contains(err.Error(), family+": reference") {
			t.Errorf("%s reference at d = %d: got %v, want ErrTooLarge with the estimate", family, d, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: the refusal allocated %d bytes", family, alloc)
		}
		if elapsed > 2*time.Second {
			t.Errorf("%s: the refusal took %v", family, elapsed)
		}
		pr.Close()
	}
	r, err := NewRidge(newCPU(t), s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.ExactConstants(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ExactConstants at d = %d: got %v, want ErrTooLarge", d, err)
	}
}

// TestDenseBudgetOption: SetMaxDenseBytes below the estimate refuses
// Reference and ExactConstants and makes Constants use its estimates; at
// the estimate the reference runs and matches the unbounded one; a
// negative budget is an error.
func TestDenseBudgetOption(t *testing.T) {
	s := wideSupervised(60, 40, 8)
	for i := range s.Lambda {
		s.Lambda[i] = -1
	}
	r, err := NewRidge(newCPU(t), s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want, err := r.Reference()
	if err != nil {
		t.Fatal(err)
	}
	exact, err := r.ExactConstants()
	if err != nil {
		t.Fatal(err)
	}
	need := r.DenseBytes()
	if err := r.SetMaxDenseBytes(-1); err == nil {
		t.Error("SetMaxDenseBytes(-1): no error")
	}
	if err := r.SetMaxDenseBytes(need - 1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reference(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Reference within %d bytes: got %v, want ErrTooLarge", need-1, err)
	}
	if _, err := r.ExactConstants(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ExactConstants within %d bytes: got %v, want ErrTooLarge", need-1, err)
	}
	c, err := r.Constants()
	if err != nil || c.L.Kind != bilevel.Estimate {
		t.Errorf("Constants within the budget: %v (L %v), want Lanczos estimates", err, c.L.Kind)
	}
	if math.Abs(c.L.Value-exact.L.Value) > 1e-4*exact.L.Value {
		t.Errorf("estimated L = %v, exact %v", c.L.Value, exact.L.Value)
	}
	if err := r.SetMaxDenseBytes(need); err != nil {
		t.Fatal(err)
	}
	got, err := r.Reference()
	if err != nil {
		t.Fatalf("Reference within its estimate: %v", err)
	}
	for i := range want.Hypergradient {
		if got.Hypergradient[i] != want.Hypergradient[i] {
			t.Fatalf("reference %v, want %v", got.Hypergradient, want.Hypergradient)
		}
	}

	q, err := data.SynthQuadratic(data.QuadraticOptions{M1: 40, M2: 50, D: 10, H: 3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	qp, err := NewQuadratic(newCPU(t), q)
	if err != nil {
		t.Fatal(err)
	}
	defer qp.Close()
	if err := qp.SetMaxDenseBytes(1000); err != nil {
		t.Fatal(err)
	}
	if _, err := qp.Reference(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("quadratic Reference within 1000 bytes: got %v", err)
	}
	if _, err := qp.ExactConstants(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("quadratic ExactConstants within 1000 bytes: got %v", err)
	}
	if c, err := qp.Constants(); err != nil || c.Mu.Kind != bilevel.Estimate {
		t.Errorf("quadratic Constants within 1000 bytes: %v (μ %v), want estimates", err, c.Mu.Kind)
	}
}
