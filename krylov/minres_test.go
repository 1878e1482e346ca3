package krylov

import (
	"context"
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestMINRES(t *testing.T) {
	for _, s := range []system{indefiniteSystem(60, 10, 31), indefiniteSystem(90, 100, 32), spdSystem(100, 100, 33)} {
		sol := solveAndCheck(t, MINRES{}, s, tight(1000), 1e-12)
		if sol.MatVecs != sol.Iterations || sol.TransVecs != 0 || sol.PrecVecs != 0 {
			t.Errorf("minres on %s: %d products, %d with Aᵀ, %d of M for %d iterations", s.name, sol.MatVecs, sol.TransVecs, sol.PrecVecs, sol.Iterations)
		}
		// |φ̄_k| = |s_k|·|φ̄_{k−1}| with |s_k| ≤ 1: the history never rises.
		for i := 1; i < len(sol.History); i++ {
			if sol.History[i] > sol.History[i-1] {
				t.Errorf("minres on %s: residual %v after %d iterations rises to %v", s.name, sol.History[i-1], i-1, sol.History[i])
				break
			}
		}
	}
	symCommon(t, MINRES{}, indefiniteSystem(60, 30, 34))
}

// TestMINRESMinimalResidual: the k-th iterate minimises ‖b − A x‖ over
// x_0 + K_k(A, r_0), and |φ̄_k| is that minimal residual, on an indefinite
// system from x_0 ≠ 0.
func TestMINRESMinimalResidual(t *testing.T) {
	s := indefiniteSystem(60, 100, 35)
	b := newCPU(t)
	op := s.operator(t, b, s.tags)
	n := len(s.rhs)
	x0 := make([]float64, n)
	for i := range x0 {
		x0[i] = math.Sin(float64(i))
	}
	var r0 mat.VecDense
	r0.MulVec(s.a, mat.NewVecDense(n, x0))
	r0.SubVec(mat.NewVecDense(n, s.rhs), &r0)
	for k := 1; k <= 6; k++ {
		sol, x, err := symSolve(t, context.Background(), MINRES{}, b, op, s.rhs, x0, tight(k))
		if err != nil || sol.Status != IterationLimit || sol.Iterations != k {
			t.Fatalf("minres, MaxIter %d: error %v, status %v (%v), %d iterations", k, err, sol.Status, sol.Err, sol.Iterations)
		}
		v := krylovBasis(s.a, r0.RawVector().Data, k)
		var av mat.Dense
		av.Mul(s.a, v)
		var y, want mat.VecDense
		if err := y.SolveVec(&av, &r0); err != nil { // least squares: min ‖r_0 − A V y‖
			t.Fatal(err)
		}
		want.MulVec(v, &y)
		want.AddVec(&want, mat.NewVecDense(n, x0))
		if e := relErr(x, want.RawVector().Data); !(e <= 1e-9) {
			t.Errorf("x_%d differs from the minimal-residual iterate by %.3g relative", k, e)
		}
		if tr := denseResidual(s.a, s.rhs, x); math.Abs(tr-sol.Residual) > 1e-10*tr {
			t.Errorf("x_%d: |φ̄_%d| = %v, ‖b − A x_%d‖ = %v", k, k, sol.Residual, k, tr)
		}
	}
}

// TestMINRESNotSymmetric: MINRES refuses an operator not tagged Symmetric
// before any product.
func TestMINRESNotSymmetric(t *testing.T) {
	b := newCPU(t)
	s := indefiniteSystem(60, 10, 36)
	for _, tags := range []Tags{0, PositiveDefinite} {
		op := &symCountOp{Transposer: s.operator(t, b, tags), tags: tags}
		sol, _, err := symSolve(t, context.Background(), MINRES{}, b, op, s.rhs, make([]float64, 60), tight(100))
		if !errors.Is(err, ErrNotSymmetric) || op.products != 0 || sol.Iterations != 0 {
			t.Errorf("minres on tags %v: error %v, %d products, %d iterations; want ErrNotSymmetric and none", tags, err, op.products, sol.Iterations)
		}
	}
}

// TestMINRESBreakdown: A = diag(2, 2, 0, 0) and b = (1, 1, 1, 1), whose
// part (0, 0, 1, 1) lies outside A's range: the Krylov space is invariant
// after two steps with T_2 singular, so γ_2 = 0 (exactly: every quantity
// is a power of two, or c_1 = s_1 = 1/√2 alike).
func TestMINRESBreakdown(t *testing.T) {
	b := newCPU(t)
	m, err := b.NewDense(4, 4, []float64{2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	op := MatrixOperator{B: b, A: m, T: Symmetric}
	sol, _, err := symSolve(t, context.Background(), MINRES{}, b, op, []float64{1, 1, 1, 1}, make([]float64, 4), tight(100))
	if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrBreakdown) || sol.Iterations != 1 {
		t.Fatalf("minres on an incompatible singular system: error %v, status %v (%v) after %d iterations", err, sol.Status, sol.Err, sol.Iterations)
	}
	if math.Abs(sol.Residual-math.Sqrt2) > 1e-15 {
		t.Errorf("minres on an incompatible singular system: residual %v, want √2", sol.Residual)
	}
}
