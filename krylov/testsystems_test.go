package krylov

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// system is a test system A x = b with its exact solution from a dense
// LAPACK solve (gonum's LU), on the CPU backend.
type system struct {
	name string
	a    *mat.Dense
	rhs  []float64
	sol  []float64 // the dense solve's solution
	tags Tags
}

// newCPU returns a CPU backend closed when t ends.
func newCPU(t testing.TB) backend.Backend {
	t.Helper()
	b := cpu.New(cpu.Options{})
	t.Cleanup(func() { b.Close() })
	return b
}

// orthogonal returns a random n×n orthogonal matrix (QR of a Gaussian one).
func orthogonal(r *rand.Rand, n int) *mat.Dense {
	g := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			g.Set(i, j, r.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	return &q
}

// spectral returns Q diag(eig) Qᵀ for a random orthogonal Q: symmetric,
// with the eigenvalues eig.
func spectral(r *rand.Rand, eig []float64) *mat.Dense {
	n := len(eig)
	q := orthogonal(r, n)
	var qd mat.Dense
	qd.Mul(q, mat.NewDiagDense(n, eig))
	var a mat.Dense
	a.Mul(&qd, q.T())
	// Symmetrize exactly.
	for i := range n {
		for j := range i {
			v := 0.5 * (a.At(i, j) + a.At(j, i))
			a.Set(i, j, v)
			a.Set(j, i, v)
		}
	}
	return &a
}

// logspace returns n values from lo to hi, evenly spaced in log scale.
func logspace(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		f := 0.0
		if n > 1 {
			f = float64(i) / float64(n-1)
		}
		out[i] = lo * math.Pow(hi/lo, f)
	}
	return out
}

// spdSystem is symmetric positive definite with eigenvalues from 1 to cond.
func spdSystem(n int, cond float64, seed uint64) system {
	r := rand.New(rand.NewPCG(seed, 1))
	return finish(r, "spd", spectral(r, logspace(1, cond, n)), Symmetric|PositiveDefinite)
}

// indefiniteSystem is symmetric with eigenvalues of both signs, |λ| from 1
// to cond.
func indefiniteSystem(n int, cond float64, seed uint64) system {
	r := rand.New(rand.NewPCG(seed, 2))
	eig := logspace(1, cond, n)
	for i := range eig {
		if i%3 == 1 {
			eig[i] = -eig[i]
		}
	}
	return finish(r, "indefinite", spectral(r, eig), Symmetric)
}

// nonsymmetricSystem is I·shift + a random matrix scaled to spectral
// radius about 1/2 of shift: well conditioned, far from symmetric.
func nonsymmetricSystem(n int, seed uint64) system {
	r := rand.New(rand.NewPCG(seed, 3))
	a := mat.NewDense(n, n, nil)
	s := 0.5 / math.Sqrt(float64(n))
	for i := range n {
		for j := range n {
			a.Set(i, j, s*r.NormFloat64())
		}
		a.Set(i, i, a.At(i, i)+1)
	}
	return finish(r, "nonsymmetric", a, 0)
}

// finish draws b and solves A x = b densely (LU).
func finish(r *rand.Rand, name string, a *mat.Dense, tags Tags) system {
	n, _ := a.Dims()
	rhs := make([]float64, n)
	for i := range rhs {
		rhs[i] = r.NormFloat64()
	}
	var x mat.VecDense
	if err := x.SolveVec(a, mat.NewVecDense(n, rhs)); err != nil {
		panic(err)
	}
	return system{name: name, a: a, rhs: rhs, sol: x.RawVector().Data, tags: tags}
}

// operator uploads the system's matrix to b as a MatrixOperator with tags.
func (s system) operator(t testing.TB, b backend.Backend, tags Tags) MatrixOperator {
	t.Helper()
	n, _ := s.a.Dims()
	m, err := b.NewDense(n, n, s.a.RawMatrix().Data)
	if err != nil {
		t.Fatal(err)
	}
	return MatrixOperator{B: b, A: m, T: tags}
}

// vector uploads x to b.
func vector(t testing.TB, b backend.Backend, x []float64) backend.Vector {
	t.Helper()
	v, err := b.NewVector(len(x))
	if err != nil {
		t.Fatal(err)
	}
	b.Upload(v, x)
	return v
}

// download returns v's values.
func download(t testing.TB, b backend.Backend, v backend.Vector) []float64 {
	t.Helper()
	out := make([]float64, v.Len())
	b.Download(out, v)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// relErr returns ‖x − y‖/‖y‖.
func relErr(x, y []float64) float64 {
	var d, s float64
	for i := range y {
		d += (x[i] - y[i]) * (x[i] - y[i])
		s += y[i] * y[i]
	}
	return math.Sqrt(d / s)
}

// solveAndCheck solves s with solver from x_0 = 0 and checks that it
// converged, that ‖x − x*‖/‖x*‖ ≤ tol against the dense solve, that the
// true residual agrees with the reported one's test, and that the counts
// and history are consistent. It returns the solution.
func solveAndCheck(t *testing.T, solver Solver, s system, set Settings, tol float64) Solution {
	t.Helper()
	b := newCPU(t)
	op := s.operator(t, b, s.tags)
	n := len(s.rhs)
	rhs, x := vector(t, b, s.rhs), vector(t, b, make([]float64, n))
	set.History = true
	sol, err := solver.Solve(context.Background(), b, op, rhs, x, set)
	if err != nil {
		t.Fatalf("%v on %s: %v", solver, s.name, err)
	}
	if sol.Status != Converged {
		t.Fatalf("%v on %s: status %v (%v) after %d iterations, residual %.3g", solver, s.name, sol.Status, sol.Err, sol.Iterations, sol.Residual)
	}
	if e := relErr(download(t, b, x), s.sol); !(e <= tol) {
		t.Errorf("%v on %s: ‖x − x*‖/‖x*‖ = %.3g > %.0e (%d iterations)", solver, s.name, e, tol, sol.Iterations)
	}
	if len(sol.History) != sol.Iterations+1 || sol.History[len(sol.History)-1] != sol.Residual {
		t.Errorf("%v on %s: history of %d values for %d iterations, last %v, residual %v", solver, s.name,
			len(sol.History), sol.Iterations, sol.History[len(sol.History)-1], sol.Residual)
	}
	if sol.MatVecs < sol.Iterations || sol.MatVecs > 2*sol.Iterations+2 {
		t.Errorf("%v on %s: %d products for %d iterations", solver, s.name, sol.MatVecs, sol.Iterations)
	}
	if tr, err := TrueResidual(b, op, rhs, x); err != nil || !(tr <= 100*set.target(sol.RHSNorm)+1e-13*sol.RHSNorm) {
		t.Errorf("%v on %s: true residual %.3g (%v) against the target %.3g", solver, s.name, tr, err, set.target(sol.RHSNorm))
	}
	return sol
}

// tight are the settings of the accuracy tests: a relative residual of
// 1e-14, enough for ‖x − x*‖ ≤ 1e-12‖x*‖ at condition numbers up to 100.
func tight(maxIter int) Settings { return Settings{MaxIter: maxIter, Tol: 1e-14} }
