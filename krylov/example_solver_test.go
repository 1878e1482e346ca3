package krylov_test

import (
	"context"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// steepestDescent is a solver of one's own: steepest descent for A
// symmetric positive definite, x ← x + (rᵀr / rᵀA r) r with r = b − A x.
// Anything with this Solve method and a String is a krylov.Solver, and the
// estimators of package hypergrad take it (hypergrad.Krylov for AID on an
// optimisation problem, hypergrad.FixedPointAID on a fixed-point one).
type steepestDescent struct{}

func (steepestDescent) String() string { return "steepest" }

func (steepestDescent) Solve(ctx context.Context, b backend.Backend, op krylov.Operator, rhs, x backend.Vector, s krylov.Settings) (krylov.Solution, error) {
	if !op.Tags().Has(krylov.Symmetric | krylov.PositiveDefinite) {
		return krylov.Solution{}, krylov.ErrNotSymmetric
	}
	if s.MaxIter < 1 {
		return krylov.Solution{}, krylov.ErrSettings
	}
	r, err := b.NewVector(x.Len())
	if err != nil {
		return krylov.Solution{}, err
	}
	defer b.Free(r)
	ar, err := b.NewVector(x.Len())
	if err != nil {
		return krylov.Solution{}, err
	}
	defer b.Free(ar)
	sol := krylov.Solution{RHSNorm: b.Nrm2(rhs)}
	target := s.Tol*sol.RHSNorm + s.AbsTol
	residual := func() error { // r ← b − A x
		sol.MatVecs++
		if err := op.Apply(r, x); err != nil {
			return err
		}
		b.Axpby(1, rhs, -1, r)
		sol.Residual = b.Nrm2(r)
		return b.Err()
	}
	if err := residual(); err != nil {
		sol.Status, sol.Err = krylov.Failed, err
		return sol, nil
	}
	for sol.Status = krylov.IterationLimit; sol.Iterations < s.MaxIter && sol.Residual > target; sol.Iterations++ {
		if err := ctx.Err(); err != nil {
			sol.Status, sol.Err = krylov.Canceled, err
			return sol, nil
		}
		sol.MatVecs++
		if err := op.Apply(ar, r); err != nil {
			sol.Status, sol.Err = krylov.Failed, err
			return sol, nil
		}
		b.Axpy(sol.Residual*sol.Residual/b.Dot(r, ar), r, x)
		if err := residual(); err != nil {
			sol.Status, sol.Err = krylov.Failed, err
			return sol, nil
		}
	}
	if sol.Residual <= target {
		sol.Status = krylov.Converged
	}
	if math.IsNaN(sol.Residual) {
		sol.Status, sol.Err = krylov.Failed, krylov.ErrNonFinite
	}
	return sol, nil
}

// Adding a solver: a value with Solve and String (steepestDescent above),
// used wherever a krylov.Solver is, here on diag(1, 2, 4) x = 1.
func Example_ownSolver() {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	a, err := b.NewDense(3, 3, []float64{1, 0, 0, 0, 2, 0, 0, 0, 4})
	if err != nil {
		panic(err)
	}
	op := krylov.MatrixOperator{B: b, A: a, T: krylov.Symmetric | krylov.PositiveDefinite}
	rhs, _ := b.NewVector(3)
	x, _ := b.NewVector(3)
	b.Fill(rhs, 1)
	var s krylov.Solver = steepestDescent{}
	sol, err := s.Solve(context.Background(), b, op, rhs, x, krylov.Settings{MaxIter: 200, Tol: 1e-10})
	if err != nil {
		panic(err)
	}
	out := make([]float64, 3)
	b.Download(out, x)
	fmt.Printf("%s: %v, x = %.6f\n", s, sol.Status, out)
	// Output:
	// steepest: converged, x = [1.000000 0.500000 0.250000]
}
