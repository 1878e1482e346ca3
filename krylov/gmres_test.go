package krylov

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
)

// nsSystem is the test system A x = rhs with its dense (LU) solution, for
// a matrix and right-hand side built by hand.
func nsSystem(name string, a *mat.Dense, rhs []float64, tags Tags) system {
	n, _ := a.Dims()
	var x mat.VecDense
	if err := x.SolveVec(a, mat.NewVecDense(n, rhs)); err != nil {
		panic(err)
	}
	return system{name: name, a: a, rhs: rhs, sol: x.RawVector().Data, tags: tags}
}

// nsUnit returns e_i of n elements.
func nsUnit(n, i int) []float64 {
	e := make([]float64, n)
	e[i] = 1
	return e
}

// nsShift returns the n×n matrix that is the identity except for its
// leading k×k block, the cyclic shift P e_i = e_{i+1 mod k}, plus shift·I
// on that block. A leading block with shift 0 is orthogonal and
// (Aᵀ = A⁻¹) has v·A v = 0 for v = e_1: GMRES(1) from e_1 makes no progress.
func nsShift(n, k int, shift float64) *mat.Dense {
	a := mat.NewDense(n, n, nil)
	for i := range n {
		if i >= k {
			a.Set(i, i, 1)
			continue
		}
		a.Set((i+1)%k, i, 1)
		a.Set(i, i, a.At(i, i)+shift)
	}
	return a
}

// nsRandom returns n standard normal values.
func nsRandom(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 99))
	out := make([]float64, n)
	for i := range out {
		out[i] = r.NormFloat64()
	}
	return out
}

// nsSolve runs solver on s from x0 (nil: 0) on a fresh CPU backend and
// returns the solution record, x, the true residual and the error.
func nsSolve(t *testing.T, ctx context.Context, solver Solver, s system, op func(MatrixOperator) Operator, x0 []float64, set Settings) (Solution, []float64, float64, error) {
	t.Helper()
	b := newCPU(t)
	mo := s.operator(t, b, s.tags)
	var o Operator = mo
	if op != nil {
		o = op(mo)
	}
	n := len(s.rhs)
	if x0 == nil {
		x0 = make([]float64, n)
	}
	rhs, x := vector(t, b, s.rhs), vector(t, b, x0)
	sol, err := solver.Solve(ctx, b, o, rhs, x, set)
	tr, terr := TrueResidual(b, mo, rhs, x)
	if terr != nil {
		t.Fatal(terr)
	}
	// Only rhs, x and the matrix are left: the workspace was freed.
	if a, want := b.Allocated(), int64(8*(2*n+n*n)); a != want {
		t.Errorf("%v: %d bytes allocated after the solve, want %d", solver, a, want)
	}
	return sol, download(t, b, x), tr, err
}

// gmresMatVecs is the number of products of a GMRES(m) solve that stopped
// in its last cycle after k iterations: r_0, one per iteration, one per
// restart.
func gmresMatVecs(k, m int) int {
	if k == 0 {
		return 1
	}
	return 1 + k + (k-1)/m
}

// TestGMRESDense: GMRES(m) with m ≥ n and GMRES(10) reach the dense solve to
// 1e-12 on the non-symmetric, SPD and symmetric indefinite systems, with
// the products of its restarts; without restarts in at most n iterations.
func TestGMRESDense(t *testing.T) {
	const n = 80
	systems := []system{nonsymmetricSystem(n, 1), spdSystem(n, 100, 2), indefiniteSystem(n, 100, 3)}
	for _, s := range systems {
		restarts := []int{n, 2 * n, 10, 0}
		if s.name == "indefinite" {
			// In 20n iterations on it GMRES(10) reduces the residual
			// by a factor of about 8 only, GMRES(30) by about 2e4: a
			// restart discards the polynomial that must be small on
			// eigenvalues of both signs.
			restarts = restarts[:2]
		}
		for _, restart := range restarts {
			solver := GMRES{Restart: restart}
			m := min(n, restart)
			if restart == 0 {
				m = 30
			}
			sol := solveAndCheck(t, solver, s, tight(20*n), 1e-12)
			if restart >= n && sol.Iterations > n {
				t.Errorf("%v on %s: %d iterations > n = %d without restarts", solver, s.name, sol.Iterations, n)
			}
			if want := gmresMatVecs(sol.Iterations, m); sol.MatVecs != want || sol.TransVecs != 0 || sol.PrecVecs != 0 {
				t.Errorf("%v on %s: %d/%d/%d products for %d iterations, want %d/0/0", solver, s.name,
					sol.MatVecs, sol.TransVecs, sol.PrecVecs, sol.Iterations, want)
			}
			// The minimal residual is non-increasing, across restarts too.
			for i := 1; i < len(sol.History); i++ {
				if sol.History[i] > sol.History[i-1]*(1+1e-8) {
					t.Errorf("%v on %s: residual grew from %.6g to %.6g at iteration %d", solver, s.name, sol.History[i-1], sol.History[i], i)
					break
				}
			}
			t.Logf("%v on %s: %d iterations, %d products", solver, s.name, sol.Iterations, sol.MatVecs)
		}
	}
}

// TestGMRESCyclicShift: on the cyclic shift P with b = e_1 the Krylov
// spaces are span(e_1…e_j), the residual stays 1 for n − 1 iterations, and
// step n is a lucky breakdown (h_{n+1,n} = 0) with the exact solution e_n:
// exactly n iterations, the bound of exact arithmetic. With the shift as
// the leading 5×5 block of a larger matrix, the lucky breakdown ends the
// first cycle of GMRES(10) after 5 iterations.
func TestGMRESCyclicShift(t *testing.T) {
	const n = 64
	for _, c := range []struct {
		k, restart int
	}{{n, n}, {n, 0}, {5, 10}} {
		s := nsSystem("cyclic shift", nsShift(n, c.k, 0), nsUnit(n, 0), 0)
		solver := GMRES{Restart: c.restart}
		if c.restart == 0 {
			// GMRES(30) stagnates on it: every cycle is a GMRES(1) step.
			sol, _, _, err := nsSolve(t, context.Background(), solver, s, nil, nil, tight(10*n))
			if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrStagnation) || sol.Iterations != 30 {
				t.Errorf("%v on the cyclic shift: %v, %v (%v) after %d iterations, want stagnation after 30", solver, err, sol.Status, sol.Err, sol.Iterations)
			}
			continue
		}
		sol := solveAndCheck(t, solver, s, tight(10*n), 1e-12)
		if sol.Iterations != c.k || sol.Residual != 0 || sol.MatVecs != c.k+1 {
			t.Errorf("%v on the %d-cycle: %d iterations, %d products, residual %v; want %d, %d, 0", solver, c.k,
				sol.Iterations, sol.MatVecs, sol.Residual, c.k, c.k+1)
		}
		for i, r := range sol.History[:c.k] {
			if r != 1 {
				t.Errorf("%v on the %d-cycle: residual %v after %d iterations, want 1", solver, c.k, r, i)
				break
			}
		}
	}
}

// TestGMRESStagnation: GMRES(1) from e_1 on the cyclic shift minimises
// ‖e_1 − α P e_1‖ = ‖e_1 − α e_2‖ at α = 0: the first cycle makes no progress
// and the solve fails with ErrStagnation, x unchanged.
func TestGMRESStagnation(t *testing.T) {
	const n = 60
	s := nsSystem("cyclic shift", nsShift(n, n, 0), nsUnit(n, 0), 0)
	sol, x, tr, err := nsSolve(t, context.Background(), GMRES{Restart: 1}, s, nil, nil, tight(1000))
	if err != nil {
		t.Fatal(err)
	}
	if sol.Status != Failed || !errors.Is(sol.Err, ErrStagnation) {
		t.Fatalf("gmres(1) on the cyclic shift: %v (%v), want failed with ErrStagnation", sol.Status, sol.Err)
	}
	if sol.Iterations != 1 || sol.MatVecs != 3 || tr != 1 || nrm(x) != 0 {
		t.Errorf("gmres(1): %d iterations, %d products, true residual %v, ‖x‖ %v; want 1, 3, 1, 0", sol.Iterations, sol.MatVecs, tr, nrm(x))
	}
	t.Log(sol.Err)
}

// TestGMRESExactRestart: a restart whose true residual is exactly 0 ends
// the solve as converged (residual and last history value 0) rather than
// dividing by it. The operator makes A x = b = 1 at the restart's product
// (the 5th of GMRES(3)), with Tol = 0 so that only an exact residual stops.
func TestGMRESExactRestart(t *testing.T) {
	const n = 40
	s := nonsymmetricSystem(n, 8)
	for i := range s.rhs {
		s.rhs[i] = 1
	}
	exact := nsFault(5, func(b backend.Backend, dst backend.Vector) error { b.Fill(dst, 1); return nil })
	set := Settings{MaxIter: 100, History: true}
	sol, _, _, err := nsSolve(t, context.Background(), GMRES{Restart: 3}, s, exact, nil, set)
	if err != nil || sol.Status != Converged || sol.Iterations != 3 || sol.MatVecs != 5 || sol.Residual != 0 ||
		len(sol.History) != 4 || sol.History[3] != 0 {
		t.Errorf("gmres(3), exact restart: %v, %v (%v), %d iterations, %d products, residual %v, history %v",
			err, sol.Status, sol.Err, sol.Iterations, sol.MatVecs, sol.Residual, sol.History)
	}
}

// nrm returns ‖x‖.
func nrm(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// TestGMRESArguments: caller mistakes are errors, with no iteration and no
// product.
func TestGMRESArguments(t *testing.T) {
	nsArguments(t, GMRES{})
	s := nonsymmetricSystem(20, 4)
	for _, g := range []GMRES{{Restart: -1}, {Restart: math.MinInt}} {
		sol, _, _, err := nsSolve(t, context.Background(), g, s, nil, nil, tight(10))
		if !errors.Is(err, ErrSettings) || sol.MatVecs != 0 || sol.Iterations != 0 {
			t.Errorf("Restart %d: %v, %d products; want ErrSettings and none", g.Restart, err, sol.MatVecs)
		}
	}
	for _, c := range []struct {
		g    GMRES
		want string
	}{{GMRES{}, "gmres(30)"}, {GMRES{Restart: 7}, "gmres(7)"}} {
		if got := c.g.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

// nsDiff returns ‖x − y‖.
func nsDiff(x, y []float64) float64 {
	d := make([]float64, len(x))
	for i := range x {
		d[i] = x[i] - y[i]
	}
	return nrm(d)
}

// nsArguments checks a solver's argument errors: invalid settings and
// shapes, each returned with no iteration and no product, x untouched.
func nsArguments(t *testing.T, solver Solver) {
	t.Helper()
	const n = 20
	s := nonsymmetricSystem(n, 4)
	b := newCPU(t)
	op := s.operator(t, b, 0)
	rhs, x := vector(t, b, s.rhs), vector(t, b, make([]float64, n))
	short := vector(t, b, make([]float64, n-1))
	rect, err := b.NewDense(n, n-1, make([]float64, n*(n-1)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		op       Operator
		rhs, x   backend.Vector
		set      Settings
		sentinel error
	}{
		{"MaxIter 0", op, rhs, x, Settings{Tol: 1e-8}, ErrSettings},
		{"negative Tol", op, rhs, x, Settings{MaxIter: 5, Tol: -1}, ErrSettings},
		{"NaN AbsTol", op, rhs, x, Settings{MaxIter: 5, AbsTol: math.NaN()}, ErrSettings},
		{"nil operator", nil, rhs, x, tight(5), ErrSettings},
		{"nil x", op, rhs, nil, tight(5), ErrSettings},
		{"short rhs", op, short, x, tight(5), ErrShape},
		{"short x", op, rhs, short, tight(5), ErrShape},
		{"rectangular", MatrixOperator{B: b, A: rect}, rhs, x, tight(5), ErrShape},
	}
	for _, c := range cases {
		sol, err := solver.Solve(context.Background(), b, c.op, c.rhs, c.x, c.set)
		if !errors.Is(err, c.sentinel) {
			t.Errorf("%v, %s: error %v, want %v", solver, c.name, err, c.sentinel)
		}
		if sol.Iterations != 0 || sol.MatVecs != 0 {
			t.Errorf("%v, %s: %d iterations, %d products", solver, c.name, sol.Iterations, sol.MatVecs)
		}
	}
	if got := download(t, b, x); nrm(got) != 0 {
		t.Errorf("%v: x changed by failed calls", solver)
	}
}

// nsFaultOp applies its Operator and, at the at-th application (from 1),
// calls act on the product (act may overwrite it or return an error).
type nsFaultOp struct {
	Operator
	at, calls int
	act       func(dst backend.Vector) error
}

func (o *nsFaultOp) Apply(dst, x backend.Vector) error {
	if err := o.Operator.Apply(dst, x); err != nil {
		return err
	}
	o.calls++
	if o.calls == o.at {
		return o.act(dst)
	}
	return nil
}

// nsFault returns the operator transformation of nsSolve that acts at the
// at-th application.
func nsFault(at int, act func(b backend.Backend, dst backend.Vector) error) func(MatrixOperator) Operator {
	return func(m MatrixOperator) Operator {
		return &nsFaultOp{Operator: m, at: at, act: func(dst backend.Vector) error { return act(m.B, dst) }}
	}
}

// nsStops checks a solver's stops other than convergence and breakdown on
// the non-symmetric system: a context canceled before the solve and during
// it, MaxIter, a NaN product, an Operator error, and the starting point
// (a random x_0, and the solution itself), Tol = 0 (ending Converged at the
// rounding floor, or in ErrStagnation if stagnatesAtTol0). After a stop the iterate x is
// consistent: its true residual is the one reported.
func nsStops(t *testing.T, solver Solver, maxIter int, stagnatesAtTol0 bool) {
	t.Helper()
	const n = 60
	s := nonsymmetricSystem(n, 5)
	bnorm := nrm(s.rhs)
	consistent := func(name string, sol Solution, tr float64) {
		t.Helper()
		if math.Abs(tr-sol.Residual) > 1e-10*bnorm {
			t.Errorf("%v, %s: true residual %.10g, reported %.10g", solver, name, tr, sol.Residual)
		}
		if len(sol.History) != sol.Iterations+1 || sol.History[sol.Iterations] != sol.Residual {
			t.Errorf("%v, %s: history of %d values for %d iterations", solver, name, len(sol.History), sol.Iterations)
		}
	}
	set := tight(10 * n)
	set.History = true

	// Canceled before: no iteration, one product (r_0), x untouched.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sol, x, _, err := nsSolve(t, ctx, solver, s, nil, nil, set)
	if err != nil || sol.Status != Canceled || !errors.Is(sol.Err, context.Canceled) || sol.Iterations != 0 || sol.MatVecs != 1 || nrm(x) != 0 {
		t.Errorf("%v, canceled context: %v, %v (%v), %d iterations, %d products, ‖x‖ %v", solver, err, sol.Status, sol.Err, sol.Iterations, sol.MatVecs, nrm(x))
	}
	// Canceled during the 4th product: the iteration it is in completes.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	sol, _, tr, err := nsSolve(t, ctx, solver, s, nsFault(4, func(backend.Backend, backend.Vector) error { cancel(); return nil }), nil, set)
	if err != nil || sol.Status != Canceled || !errors.Is(sol.Err, context.Canceled) || sol.Iterations == 0 || sol.Iterations > 3 {
		t.Errorf("%v, canceled during the solve: %v, %v (%v), %d iterations", solver, err, sol.Status, sol.Err, sol.Iterations)
	}
	consistent("canceled during the solve", sol, tr)

	// MaxIter.
	lim := set
	lim.MaxIter = maxIter
	sol, _, tr, err = nsSolve(t, context.Background(), solver, s, nil, nil, lim)
	if err != nil || sol.Status != IterationLimit || sol.Err != nil || sol.Iterations != maxIter {
		t.Errorf("%v, MaxIter %d: %v, %v (%v), %d iterations", solver, maxIter, err, sol.Status, sol.Err, sol.Iterations)
	}
	consistent("MaxIter", sol, tr)
	if !(sol.Residual < sol.History[0]) {
		t.Errorf("%v, MaxIter %d: residual %v from %v", solver, maxIter, sol.Residual, sol.History[0])
	}

	// A NaN product in the 3rd application.
	nan := nsFault(3, func(b backend.Backend, dst backend.Vector) error { b.Fill(dst, math.NaN()); return nil })
	sol, _, _, err = nsSolve(t, context.Background(), solver, s, nan, nil, set)
	if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrNonFinite) {
		t.Errorf("%v, NaN product: %v, %v (%v)", solver, err, sol.Status, sol.Err)
	}
	// A NaN in A: r_0 is NaN.
	bad := nsSystem("NaN", mat.DenseCopyOf(s.a), s.rhs, 0)
	bad.a.Set(3, 7, math.NaN())
	sol, _, _, err = nsSolve(t, context.Background(), solver, bad, nil, nil, set)
	if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrNonFinite) || sol.Iterations != 0 {
		t.Errorf("%v, NaN in A: %v, %v (%v), %d iterations", solver, err, sol.Status, sol.Err, sol.Iterations)
	}
	// The operator fails at the 3rd application.
	boom := errors.New("boom")
	sol, _, _, err = nsSolve(t, context.Background(), solver, s, nsFault(3, func(backend.Backend, backend.Vector) error { return boom }), nil, set)
	if err != nil || sol.Status != Failed || !errors.Is(sol.Err, boom) {
		t.Errorf("%v, failing operator: %v, %v (%v)", solver, err, sol.Status, sol.Err)
	}

	// A random x_0: the same solution.
	x0 := nsRandom(n, 6)
	sol, x, _, err = nsSolve(t, context.Background(), solver, s, nil, x0, set)
	if err != nil || sol.Status != Converged {
		t.Fatalf("%v from a random x_0: %v, %v (%v)", solver, err, sol.Status, sol.Err)
	}
	if e := relErr(x, s.sol); !(e <= 1e-12) {
		t.Errorf("%v from a random x_0: ‖x − x*‖/‖x*‖ = %.3g", solver, e)
	}
	// Starting at the solution: converged with no iteration, x untouched.
	loose := set
	loose.Tol = 1e-10
	sol, x, _, err = nsSolve(t, context.Background(), solver, s, nil, s.sol, loose)
	if err != nil || sol.Status != Converged || sol.Iterations != 0 || sol.MatVecs != 1 || nsDiff(x, s.sol) != 0 {
		t.Errorf("%v from x*: %v, %v, %d iterations, %d products", solver, err, sol.Status, sol.Iterations, sol.MatVecs)
	}

	// Tol = AbsTol = 0: the tracked residual reaches the rounding floor
	// (residualFloor) and the solve stops there as Converged; or, for
	// GMRES(m) with a small m, whose cycles cannot reach that floor from a
	// true residual at its own (ε‖A‖‖x‖), a cycle fails to reduce the true
	// residual: ErrStagnation. Either way x is the solution.
	zero := Settings{MaxIter: 10 * n, History: true}
	sol, x, _, err = nsSolve(t, context.Background(), solver, s, nil, nil, zero)
	ok := sol.Status == Converged && sol.Residual <= residualFloor*bnorm
	if stagnatesAtTol0 {
		ok = sol.Status == Failed && errors.Is(sol.Err, ErrStagnation)
	}
	for i, r := range sol.History[:len(sol.History)-1] {
		if ok && !(r > residualFloor*bnorm) {
			t.Errorf("%v with Tol 0: residual %.3g after %d iterations is at the floor, but the solve went on", solver, r, i)
			break
		}
	}
	if err != nil || !ok || !(relErr(x, s.sol) <= 1e-12) {
		t.Errorf("%v with Tol 0: %v, %v (%v) after %d iterations, residual %.3g, ‖x − x*‖/‖x*‖ = %.3g", solver, err,
			sol.Status, sol.Err, sol.Iterations, sol.Residual, relErr(x, s.sol))
	}

	// Deterministic: the same bits twice.
	sol1, x1, _, _ := nsSolve(t, context.Background(), solver, s, nil, x0, set)
	sol2, x2, _, _ := nsSolve(t, context.Background(), solver, s, nil, x0, set)
	if nsDiff(x1, x2) != 0 || sol1.Residual != sol2.Residual || sol1.Iterations != sol2.Iterations {
		t.Errorf("%v: two solves differ", solver)
	}
}

// TestGMRESStops: cancellation, MaxIter in the middle of a cycle, NaN,
// operator errors, the starting point, Tol = 0: GMRES(4) stagnates at the
// rounding floor of the true residual (a cycle of 4 steps cannot take its
// least-squares residual from there down to residualFloor), GMRES(30)
// reaches residualFloor within a cycle.
func TestGMRESStops(t *testing.T) {
	nsStops(t, GMRES{Restart: 4}, 7, true)
	nsStops(t, GMRES{}, 7, false)
}
