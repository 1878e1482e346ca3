package krylov

import (
	"context"
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// richardsonStep is the optimal step 2/(λ_min+λ_max) of an spdSystem of
// condition cond (eigenvalues 1 to cond).
func richardsonStep(cond float64) float64 { return 2 / (1 + cond) }

func TestRichardson(t *testing.T) {
	for _, c := range []struct {
		n       int
		cond    float64
		maxIter int
	}{{60, 10, 500}, {100, 100, 5000}} {
		s := spdSystem(c.n, c.cond, 11)
		sol := solveAndCheck(t, Richardson{Step: richardsonStep(c.cond)}, s, tight(c.maxIter), 1e-12)
		if sol.MatVecs != sol.Iterations || sol.TransVecs != 0 || sol.PrecVecs != 0 {
			t.Errorf("richardson: %d products, %d with Aᵀ, %d of M for %d iterations", sol.MatVecs, sol.TransVecs, sol.PrecVecs, sol.Iterations)
		}
		// The error contracts by (κ−1)/(κ+1) an iteration, so the residual
		// by at most √κ times that power: a bound on the iterations.
		rho := (c.cond - 1) / (c.cond + 1)
		if bound := math.Log(c.cond*1e14) / -math.Log(rho); float64(sol.Iterations) > bound {
			t.Errorf("richardson on κ = %v: %d iterations, more than the bound %.0f", c.cond, sol.Iterations, bound)
		}
	}
	symCommon(t, Richardson{Step: richardsonStep(30)}, spdSystem(60, 30, 12))
}

// TestRichardsonNeumann: from x_0 = 0 the k-th iterate is the Neumann sum
// α Σ_{j<k} (I − αA)^j b, and the residual tracked is b − A x_k itself
// (recomputed, so bit-identical to TrueResidual).
func TestRichardsonNeumann(t *testing.T) {
	s := spdSystem(60, 30, 13)
	alpha := richardsonStep(30)
	b := newCPU(t)
	op := s.operator(t, b, s.tags)
	n := len(s.rhs)
	for k := 1; k <= 6; k++ {
		rv, xv := vector(t, b, s.rhs), vector(t, b, make([]float64, n))
		sol, err := Richardson{Step: alpha}.Solve(context.Background(), b, op, rv, xv, tight(k))
		if err != nil || sol.Status != IterationLimit || sol.Iterations != k {
			t.Fatalf("richardson, MaxIter %d: error %v, status %v (%v), %d iterations", k, err, sol.Status, sol.Err, sol.Iterations)
		}
		want := mat.NewVecDense(n, nil)
		term := mat.NewVecDense(n, nil)
		term.ScaleVec(alpha, mat.NewVecDense(n, s.rhs))
		for range k {
			want.AddVec(want, term)
			var at mat.VecDense
			at.MulVec(s.a, term)
			term.AddScaledVec(term, -alpha, &at)
		}
		if e := relErr(download(t, b, xv), want.RawVector().Data); !(e <= 1e-13) {
			t.Errorf("x_%d differs from the Neumann sum by %.3g relative", k, e)
		}
		if tr, err := TrueResidual(b, op, rv, xv); err != nil || tr != sol.Residual {
			t.Errorf("x_%d: residual %v, true residual %v (%v)", k, sol.Residual, tr, err)
		}
		b.Free(rv)
		b.Free(xv)
	}
}

// TestRichardsonDiverged: a step of 3/λ_max makes I − αA expand by 2 an
// iteration along the top eigenvector: ErrDiverged once the residual
// exceeds DivergenceFactor·‖r_0‖.
func TestRichardsonDiverged(t *testing.T) {
	s := spdSystem(60, 30, 14)
	b := newCPU(t)
	for _, factor := range []float64{0, 1e3} {
		set := tight(1000)
		set.DivergenceFactor, set.History = factor, true
		sol, _, err := symSolve(t, context.Background(), Richardson{Step: 3.0 / 30}, b, s.operator(t, b, s.tags), s.rhs, make([]float64, 60), set)
		if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrDiverged) || sol.Iterations >= 100 {
			t.Fatalf("richardson with α = 3/λ_max, factor %v: error %v, status %v (%v) after %d iterations", factor, err, sol.Status, sol.Err, sol.Iterations)
		}
		if f := set.divergence(); !(sol.Residual > f*sol.History[0]) || sol.History[len(sol.History)-2] > f*sol.History[0] {
			t.Errorf("richardson with α = 3/λ_max: stopped at residual %.3g, ‖r_0‖ %.3g, factor %v", sol.Residual, sol.History[0], f)
		}
	}
}

// TestRichardsonSettings: the step must be positive and finite.
func TestRichardsonSettings(t *testing.T) {
	s := spdSystem(60, 10, 15)
	b := newCPU(t)
	for _, step := range []float64{0, -0.1, math.Inf(1), math.NaN()} {
		op := &symCountOp{Transposer: s.operator(t, b, s.tags), tags: s.tags}
		sol, _, err := symSolve(t, context.Background(), Richardson{Step: step}, b, op, s.rhs, make([]float64, 60), tight(100))
		if !errors.Is(err, ErrSettings) || op.products != 0 || sol.Iterations != 0 {
			t.Errorf("richardson, step %v: error %v, %d products; want ErrSettings and none", step, err, op.products)
		}
	}
}
