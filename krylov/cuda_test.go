//go:build cuda || cudaemu

package krylov

import (
	"context"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cuda"
)

// TestGMRESBiCGStabCUDA: GMRES (restarted and not) and BiCGStab solve the
// same non-symmetric system on the CUDA backend (a GPU, or its CPU emulator)
// and on the CPU backend, unchanged; the two solutions agree to 1e-12
// (relative) with each other and with the dense solve, and each solve frees
// its workspace.
func TestGMRESBiCGStabCUDA(t *testing.T) {
	const n = 50
	s := nonsymmetricSystem(n, 7)
	gpu, err := cuda.New(cuda.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gpu.Close() })
	t.Log(gpu.Device())
	host := newCPU(t)
	solve := func(b backend.Backend, solver Solver) ([]float64, Solution) {
		t.Helper()
		op := s.operator(t, b, 0)
		defer b.FreeMatrix(op.A)
		rhs, x := vector(t, b, s.rhs), vector(t, b, make([]float64, n))
		defer b.Free(rhs)
		defer b.Free(x)
		before := b.Allocated()
		sol, err := solver.Solve(context.Background(), b, op, rhs, x, tight(20*n))
		if err != nil || sol.Status != Converged {
			t.Fatalf("%v on %s: %v, %v (%v) after %d iterations", solver, b.Name(), err, sol.Status, sol.Err, sol.Iterations)
		}
		if after := b.Allocated(); after != before {
			t.Errorf("%v on %s: %d bytes allocated before the solve, %d after", solver, b.Name(), before, after)
		}
		out := download(t, b, x)
		if e := relErr(out, s.sol); !(e <= 1e-12) {
			t.Errorf("%v on %s: ‖x − x*‖/‖x*‖ = %.3g against the dense solve", solver, b.Name(), e)
		}
		return out, sol
	}
	for _, solver := range []Solver{GMRES{Restart: 10}, GMRES{Restart: n}, BiCGStab{}} {
		xg, solg := solve(gpu, solver)
		xc, solc := solve(host, solver)
		if e := relErr(xg, xc); !(e <= 1e-12) {
			t.Errorf("%v: cuda and cpu solutions differ by %.3g (relative)", solver, e)
		}
		t.Logf("%v: %d iterations on cuda, %d on cpu; ‖x_cuda − x_cpu‖/‖x_cpu‖ = %.3g", solver, solg.Iterations, solc.Iterations, relErr(xg, xc))
	}
}
