package krylov

import (
	"context"
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// heavyBallParams are the heavy-ball α = 4/(√L+√μ)² and
// β = ((√L−√μ)/(√L+√μ))² of an spdSystem of condition cond (μ = 1, L = cond).
func heavyBallParams(cond float64) HeavyBall {
	sl, sm := math.Sqrt(cond), 1.0
	return HeavyBall{Step: 4 / ((sl + sm) * (sl + sm)), Momentum: ((sl - sm) / (sl + sm)) * ((sl - sm) / (sl + sm))}
}

func TestHeavyBall(t *testing.T) {
	for _, c := range []struct {
		n    int
		cond float64
	}{{60, 10}, {100, 100}} {
		s := spdSystem(c.n, c.cond, 21)
		sol := solveAndCheck(t, heavyBallParams(c.cond), s, tight(2000), 1e-12)
		if sol.MatVecs != sol.Iterations || sol.TransVecs != 0 || sol.PrecVecs != 0 {
			t.Errorf("heavyball: %d products, %d with Aᵀ, %d of M for %d iterations", sol.MatVecs, sol.TransVecs, sol.PrecVecs, sol.Iterations)
		}
		// Momentum accelerates: far fewer iterations than Richardson's
		// (κ−1)/(κ+1) rate would need.
		rich := math.Log(1e14) / -math.Log((c.cond-1)/(c.cond+1))
		if c.cond >= 100 && !(float64(sol.Iterations) < rich/3) {
			t.Errorf("heavyball on κ = %v: %d iterations; Richardson needs about %.0f", c.cond, sol.Iterations, rich)
		}
	}
	symCommon(t, heavyBallParams(30), spdSystem(60, 30, 22))
}

// TestHeavyBallIterates compares the first iterates with the recurrence
// x_{i+1} = x_i + α(b − A x_i) + β(x_i − x_{i−1}), x_{−1} = x_0 ≠ 0, on the
// host, and Momentum 0 with Richardson.
func TestHeavyBallIterates(t *testing.T) {
	s := spdSystem(60, 30, 23)
	hb := heavyBallParams(30)
	b := newCPU(t)
	op := s.operator(t, b, s.tags)
	n := len(s.rhs)
	x0 := make([]float64, n)
	for i := range x0 {
		x0[i] = math.Cos(float64(i))
	}
	for k := 1; k <= 6; k++ {
		sol, x, err := symSolve(t, context.Background(), hb, b, op, s.rhs, x0, tight(k))
		if err != nil || sol.Status != IterationLimit || sol.Iterations != k || sol.MatVecs != k+1 {
			t.Fatalf("heavyball, MaxIter %d: error %v, status %v (%v), %d iterations, %d products", k, err, sol.Status, sol.Err, sol.Iterations, sol.MatVecs)
		}
		prev, cur := mat.NewVecDense(n, append([]float64(nil), x0...)), mat.NewVecDense(n, append([]float64(nil), x0...))
		for range k {
			var r, next mat.VecDense
			r.MulVec(s.a, cur)
			r.SubVec(mat.NewVecDense(n, s.rhs), &r)
			next.AddScaledVec(cur, hb.Step, &r)
			var d mat.VecDense
			d.SubVec(cur, prev)
			next.AddScaledVec(&next, hb.Momentum, &d)
			prev, cur = cur, &next
		}
		if e := relErr(x, cur.RawVector().Data); !(e <= 1e-13) {
			t.Errorf("x_%d differs from the heavy-ball recurrence by %.3g relative", k, e)
		}
		if tr := denseResidual(s.a, s.rhs, x); math.Abs(tr-sol.Residual) > 1e-12*tr {
			t.Errorf("x_%d: residual %v, true residual %v", k, sol.Residual, tr)
		}
	}
	// Momentum 0 is Richardson.
	set := tight(1000)
	step := richardsonStep(30)
	h, xh, err := symSolve(t, context.Background(), HeavyBall{Step: step}, b, op, s.rhs, x0, set)
	if err != nil {
		t.Fatal(err)
	}
	r, xr, err := symSolve(t, context.Background(), Richardson{Step: step}, b, op, s.rhs, x0, set)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != Converged || h.Iterations != r.Iterations || !(relErr(xh, xr) <= 1e-14) {
		t.Errorf("heavyball with β = 0: %v after %d iterations, richardson %v after %d; ‖x_hb − x_r‖/‖x_r‖ = %.3g", h.Status, h.Iterations, r.Status, r.Iterations, relErr(xh, xr))
	}
}

// TestHeavyBallSettings: the step must be positive and finite, the
// momentum in [0, 1); too large a step diverges.
func TestHeavyBallSettings(t *testing.T) {
	s := spdSystem(60, 10, 24)
	b := newCPU(t)
	for _, hb := range []HeavyBall{{}, {Step: -0.1}, {Step: math.Inf(1)}, {Step: math.NaN()},
		{Step: 0.1, Momentum: 1}, {Step: 0.1, Momentum: -0.1}, {Step: 0.1, Momentum: math.NaN()}} {
		op := &symCountOp{Transposer: s.operator(t, b, s.tags), tags: s.tags}
		sol, _, err := symSolve(t, context.Background(), hb, b, op, s.rhs, make([]float64, 60), tight(100))
		if !errors.Is(err, ErrSettings) || op.products != 0 || sol.Iterations != 0 {
			t.Errorf("heavyball %+v: error %v, %d products; want ErrSettings and none", hb, err, op.products)
		}
	}
	// α = 4/λ_max with β = 1/2: the iteration matrix has an eigenvalue of
	// modulus > 1 along the top eigenvector.
	sol, _, err := symSolve(t, context.Background(), HeavyBall{Step: 0.4, Momentum: 0.5}, b, s.operator(t, b, s.tags), s.rhs, make([]float64, 60), tight(1000))
	if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrDiverged) {
		t.Errorf("heavyball with α = 4/λ_max: error %v, status %v (%v) after %d iterations", err, sol.Status, sol.Err, sol.Iterations)
	}
}
