package krylov

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestBiCGStabDense: BiCGStab reaches the dense solve to 1e-12 on the
// non-symmetric, SPD and symmetric indefinite systems (it converges on all
// three), with two products an iteration (one in an iteration that ends on
// ‖s‖).
func TestBiCGStabDense(t *testing.T) {
	const n = 80
	for _, s := range []system{nonsymmetricSystem(n, 1), spdSystem(n, 100, 2), indefiniteSystem(n, 100, 3)} {
		sol := solveAndCheck(t, BiCGStab{}, s, tight(20*n), 1e-12)
		if k := sol.Iterations; (sol.MatVecs != 2*k+1 && sol.MatVecs != 2*k) || sol.TransVecs != 0 || sol.PrecVecs != 0 {
			t.Errorf("bicgstab on %s: %d/%d/%d products for %d iterations", s.name, sol.MatVecs, sol.TransVecs, sol.PrecVecs, k)
		}
		t.Logf("bicgstab on %s: %d iterations, %d products", s.name, sol.Iterations, sol.MatVecs)
	}
}

// TestBiCGStabBreakdown: three systems on which the method divides by zero
// in exact floating-point arithmetic (every quantity is a small integer or
// a half), each from x_0 = 0 with r̂ = r_0 = b = e_1:
//
//   - ω = 0: A = [[1, 1], [1, 0]] ⊕ I. v = A e_1 = e_1 + e_2, α = 1,
//     s = −e_2, t = A s = −e_1, t·s = 0. The half step x = e_1 is kept
//     (residual ‖s‖ = 1) and counted.
//   - ρ = 0: A = I + P, P the cyclic shift of odd order n (A is then
//     invertible). v = e_1 + e_2, α = 1, s = −e_2, t = −e_2 − e_3, ω = 1/2,
//     x_1 = e_1 − e_2/2, r_1 = (e_3 − e_2)/2, and ρ_2 = e_1·r_1 = 0.
//   - r̂·A p = 0: A = P, v = e_2 ⊥ e_1 in the first iteration.
func TestBiCGStabBreakdown(t *testing.T) {
	const n = 61
	omega := nsShift(n, 0, 0)
	omega.Set(0, 0, 1)
	omega.Set(0, 1, 1)
	omega.Set(1, 0, 1)
	omega.Set(1, 1, 0)
	for _, c := range []struct {
		name       string
		what       string // in the error's message
		a          *mat.Dense
		iterations int
		x          []float64 // the iterate at the breakdown
		residual   float64
	}{
		{"ω = 0", "ω =", omega, 1, nsUnit(n, 0), 1},
		{"ρ = 0", "ρ =", nsShift(n, n, 1), 1, append([]float64{1, -0.5}, make([]float64, n-2)...), math.Sqrt(0.5)},
		{"r̂·A p = 0", "r̂·A p", nsShift(n, n, 0), 0, make([]float64, n), 1},
	} {
		s := nsSystem(c.name, c.a, nsUnit(n, 0), 0)
		set := tight(100)
		set.History = true
		sol, x, tr, err := nsSolve(t, context.Background(), BiCGStab{}, s, nil, nil, set)
		if err != nil {
			t.Fatal(err)
		}
		if sol.Status != Failed || !errors.Is(sol.Err, ErrBreakdown) || !strings.Contains(sol.Err.Error(), c.what) {
			t.Errorf("bicgstab, %s: %v (%v), want failed with ErrBreakdown", c.name, sol.Status, sol.Err)
			continue
		}
		if sol.Iterations != c.iterations || len(sol.History) != c.iterations+1 || sol.Residual != c.residual || tr != c.residual {
			t.Errorf("bicgstab, %s: %d iterations, history %v, residual %v, true residual %v; want %d, residual %v",
				c.name, sol.Iterations, sol.History, sol.Residual, tr, c.iterations, c.residual)
		}
		if nsDiff(x, c.x) != 0 {
			t.Errorf("bicgstab, %s: x = %v, want %v", c.name, x[:4], c.x[:4])
		}
		t.Log(sol.Err)
	}
}

// TestBiCGStabEarlyExit: with b = 1, an eigenvector of A = I + P (P the
// cyclic shift: A 1 = 2·1), the first half step is exact: α = 1/2, s = 0,
// and the iteration ends on ‖s‖ with x = 1/2, after one product.
func TestBiCGStabEarlyExit(t *testing.T) {
	const n = 61
	ones := make([]float64, n)
	half := make([]float64, n)
	for i := range ones {
		ones[i], half[i] = 1, 0.5
	}
	s := nsSystem("I + P", nsShift(n, n, 1), ones, 0)
	sol, x, tr, err := nsSolve(t, context.Background(), BiCGStab{}, s, nil, nil, tight(100))
	if err != nil || sol.Status != Converged || sol.Iterations != 1 || sol.MatVecs != 2 || sol.Residual != 0 || tr != 0 || nsDiff(x, half) != 0 {
		t.Errorf("bicgstab on an eigenvector: %v, %v (%v), %d iterations, %d products, residual %v, true %v, x %v…",
			err, sol.Status, sol.Err, sol.Iterations, sol.MatVecs, sol.Residual, tr, x[:3])
	}
}

// TestBiCGStabFloor: with Tol = 0, a half step whose s is far below the
// rounding floor ends as Converged, not as the ω = 0/0 breakdown its
// underflow makes. A = (I + P) ⊕ I with P the cyclic shift of order k and
// b = (1, …, 1, δ, 0, …) (k ones, δ = 1e-200): α = 1/2 (δ² underflows),
// s = (δ/2) e_{k+1}, t = A s, and t·s = t·t = 0.
func TestBiCGStabFloor(t *testing.T) {
	const n, k, delta = 40, 31, 1e-200
	rhs := make([]float64, n)
	for i := range k {
		rhs[i] = 1
	}
	rhs[k] = delta
	s := nsSystem("floor", nsShift(n, k, 1), rhs, 0)
	set := Settings{MaxIter: 100, History: true}
	sol, x, _, err := nsSolve(t, context.Background(), BiCGStab{}, s, nil, nil, set)
	if err != nil || sol.Status != Converged || sol.Iterations != 1 || sol.Residual != delta/2 || x[0] != 0.5 || x[k] != delta/2 {
		t.Errorf("bicgstab at the floor: %v, %v (%v), %d iterations, residual %v, x_1 %v, x_%d %v", err, sol.Status, sol.Err,
			sol.Iterations, sol.Residual, x[0], k+1, x[k])
	}
}

// TestBiCGStabArguments: caller mistakes are errors, with no iteration and
// no product.
func TestBiCGStabArguments(t *testing.T) {
	nsArguments(t, BiCGStab{})
	if got := (BiCGStab{}).String(); got != "bicgstab" {
		t.Errorf("String() = %q", got)
	}
}

// TestBiCGStabStops: cancellation, MaxIter, NaN, operator errors, the
// starting point, Tol = 0 (Converged at the rounding floor).
func TestBiCGStabStops(t *testing.T) {
	nsStops(t, BiCGStab{}, 3, false)
}
