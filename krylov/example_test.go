package krylov_test

import (
	"context"
	"fmt"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// CG solves the 1-D Laplacian tridiag(−1, 2, −1) x = 1 of size 5, whose
// solution is x_i = i(6−i)/2. The right-hand side is symmetric under
// reversal, so it lies in the span of three of the five eigenvectors and
// CG ends in three iterations.
func ExampleCG() {
	b := cpu.New(cpu.Options{Workers: 1})
	defer b.Close()
	const n = 5
	data := make([]float64, n*n)
	for i := range n {
		data[i*n+i] = 2
		if i > 0 {
			data[i*n+i-1] = -1
		}
		if i < n-1 {
			data[i*n+i+1] = -1
		}
	}
	a, err := b.NewDense(n, n, data)
	if err != nil {
		panic(err)
	}
	op := krylov.MatrixOperator{B: b, A: a, T: krylov.Symmetric | krylov.PositiveDefinite}
	rhs, _ := b.NewVector(n)
	x, _ := b.NewVector(n) // x_0 = 0
	b.Fill(rhs, 1)

	sol, err := krylov.CG{}.Solve(context.Background(), b, op, rhs, x, krylov.Settings{MaxIter: 100, Tol: 1e-12})
	if err != nil {
		panic(err)
	}
	out := make([]float64, n)
	b.Download(out, x)
	fmt.Printf("%v after %d iterations (%d products)\n", sol.Status, sol.Iterations, sol.MatVecs)
	fmt.Printf("x = %.6g\n", out)
	// Output:
	// converged after 3 iterations (3 products)
	// x = [2.5 4 4.5 4 2.5]
}
