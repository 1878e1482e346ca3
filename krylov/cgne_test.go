package krylov

import (
	"context"
	"errors"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestCGNE(t *testing.T) {
	for _, s := range []system{nonsymmetricSystem(60, 41), nonsymmetricSystem(100, 42), spdSystem(60, 10, 43)} {
		sol := solveAndCheck(t, CGNE{}, s, tight(1000), 1e-12)
		if sol.MatVecs != sol.Iterations || sol.TransVecs != sol.Iterations || sol.PrecVecs != 0 {
			t.Errorf("cgne on %s: %d products, %d with Aᵀ, %d of M for %d iterations; want one and one an iteration", s.name, sol.MatVecs, sol.TransVecs, sol.PrecVecs, sol.Iterations)
		}
		// x_k minimises ‖b − A x‖ over growing spaces: the residual does not
		// rise (up to the rounding of its recursion).
		for i := 1; i < len(sol.History); i++ {
			if sol.History[i] > sol.History[i-1]*(1+1e-12) {
				t.Errorf("cgne on %s: residual %v after %d iterations rises to %v", s.name, sol.History[i-1], i-1, sol.History[i])
				break
			}
		}
	}
	symCommon(t, CGNE{}, nonsymmetricSystem(60, 44))
}

// TestCGNEMinimalResidual: the k-th iterate minimises ‖b − A x‖ over
// K_k(AᵀA, Aᵀb) (CG on the normal equations minimises their error in the
// AᵀA-norm, which is that residual).
func TestCGNEMinimalResidual(t *testing.T) {
	s := nonsymmetricSystem(60, 45)
	b := newCPU(t)
	op := s.operator(t, b, s.tags)
	n := len(s.rhs)
	var ata mat.Dense
	ata.Mul(s.a.T(), s.a)
	var atb mat.VecDense
	atb.MulVec(s.a.T(), mat.NewVecDense(n, s.rhs))
	for k := 1; k <= 6; k++ {
		sol, x, err := symSolve(t, context.Background(), CGNE{}, b, op, s.rhs, make([]float64, n), tight(k))
		if err != nil || sol.Status != IterationLimit || sol.Iterations != k {
			t.Fatalf("cgne, MaxIter %d: error %v, status %v (%v), %d iterations", k, err, sol.Status, sol.Err, sol.Iterations)
		}
		v := krylovBasis(&ata, atb.RawVector().Data, k)
		var av mat.Dense
		av.Mul(s.a, v)
		var y, want mat.VecDense
		if err := y.SolveVec(&av, mat.NewVecDense(n, s.rhs)); err != nil {
			t.Fatal(err)
		}
		want.MulVec(v, &y)
		if e := relErr(x, want.RawVector().Data); !(e <= 1e-9) {
			t.Errorf("x_%d differs from the minimal-residual iterate over K_%d(AᵀA, Aᵀb) by %.3g relative", k, k, e)
		}
	}
}

// TestCGNENoTranspose: an operator without ApplyTrans is refused before
// any product.
func TestCGNENoTranspose(t *testing.T) {
	b := newCPU(t)
	s := nonsymmetricSystem(60, 46)
	cnt := &symCountOp{Transposer: s.operator(t, b, 0)}
	op := struct{ Operator }{cnt} // hides ApplyTrans
	sol, _, err := symSolve(t, context.Background(), CGNE{}, b, op, s.rhs, make([]float64, 60), tight(100))
	if !errors.Is(err, ErrNoTranspose) || cnt.products != 0 || sol.Iterations != 0 {
		t.Errorf("cgne without Aᵀ: error %v, %d products, %d iterations; want ErrNoTranspose and none", err, cnt.products, sol.Iterations)
	}
}

// TestCGNEBreakdown: A = diag(2, 2, 2, 0) and b = (1, 1, 1, 1): one step
// (α = 1/4 exactly) leaves r = (0, 0, 0, 1) with Aᵀr = 0, a least-squares
// solution of the incompatible system: ErrBreakdown, residual 1.
func TestCGNEBreakdown(t *testing.T) {
	b := newCPU(t)
	m, err := b.NewDense(4, 4, []float64{2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	sol, x, err := symSolve(t, context.Background(), CGNE{}, b, MatrixOperator{B: b, A: m}, []float64{1, 1, 1, 1}, make([]float64, 4), tight(100))
	if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrBreakdown) || sol.Iterations != 1 || sol.Residual != 1 {
		t.Fatalf("cgne on an incompatible singular system: error %v, status %v (%v) after %d iterations, residual %v", err, sol.Status, sol.Err, sol.Iterations, sol.Residual)
	}
	if want := []float64{0.5, 0.5, 0.5, 0}; relErr(x, want) != 0 {
		t.Errorf("cgne on an incompatible singular system: x = %v, want %v", x, want)
	}
}
