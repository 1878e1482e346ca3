package krylov

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// pairOp is a MatrixOperator that is a Pairer, counting its pair calls.
type pairOp struct {
	MatrixOperator
	pairs int
}

func (p *pairOp) ApplyPair(dst1, x1, dst2, x2 backend.Vector) error {
	p.pairs++
	if err := p.Apply(dst1, x1); err != nil {
		return err
	}
	return p.Apply(dst2, x2)
}

// stepper gives a backend backendtest.CGStepRef as its CGStep, so that CG
// takes the queued path on the CPU.
type stepper struct{ backend.Backend }

func (s stepper) CGStep(st backend.Vector, j int, q, r, p, ap backend.Vector, tol, floor float64) {
	backendtest.CGStepRef(s.Backend, st, j, q, r, p, ap, tol, floor)
}

// TestMonitor: the monitor sees every iteration from 0 with the tracked
// residual, and its error fails the solve.
func TestMonitor(t *testing.T) {
	b := newCPU(t)
	s := spdSystem(30, 100, 1)
	op := s.operator(t, b, s.tags)
	for _, solver := range []Solver{CG{}, Richardson{Step: 0.01}, HeavyBall{Step: 0.01, Momentum: 0.5}, GMRES{}, MINRES{}, BiCGStab{}, CGNE{}} {
		var iters []int
		var norms []float64
		set := Settings{MaxIter: 12, History: true, Monitor: func(i int, x backend.Vector, rnorm float64) error {
			if x == nil || x.Len() != 30 {
				t.Errorf("%v: monitor got x %v", solver, x)
			}
			iters, norms = append(iters, i), append(norms, rnorm)
			return nil
		}}
		sol, err := solver.Solve(context.Background(), b, op, vector(t, b, s.rhs), vector(t, b, make([]float64, 30)), set)
		if err != nil {
			t.Fatal(err)
		}
		if len(iters) != len(sol.History) || iters[0] != 0 || iters[len(iters)-1] != sol.Iterations {
			t.Errorf("%v: monitor iterations %v, solution %d iterations, history %d", solver, iters, sol.Iterations, len(sol.History))
		}
		for i := range norms {
			if i < len(sol.History) && norms[i] != sol.History[i] {
				t.Errorf("%v: monitor residual %d = %v, history %v", solver, i, norms[i], sol.History[i])
				break
			}
		}
		stop := errors.New("stop")
		set.Monitor = func(i int, _ backend.Vector, _ float64) error {
			if i == 3 {
				return stop
			}
			return nil
		}
		sol, err = solver.Solve(context.Background(), b, op, vector(t, b, s.rhs), vector(t, b, make([]float64, 30)), set)
		if err != nil || sol.Status != Failed || !errors.Is(sol.Err, stop) || sol.Iterations != 3 {
			t.Errorf("%v: monitor error: %v, %v, %v after %d", solver, err, sol.Status, sol.Err, sol.Iterations)
		}
	}
}

// TestResidualOut: Settings.Residual holds b − A x of the returned x where
// the solver says so — Richardson and HeavyBall always, CG and PCG without
// a tolerance (through one ApplyPair on a Pairer, with the bits of two
// Apply calls) — and is left alone otherwise.
func TestResidualOut(t *testing.T) {
	b := newCPU(t)
	s := spdSystem(40, 50, 2)
	n := 40
	m := MatrixOperator{B: b, A: s.operator(t, b, s.tags).A, T: s.tags}
	jac := Jacobi{B: b, D: vector(t, b, diagonal(s.a))}
	cases := []struct {
		solver Solver
		set    Settings
		want   bool
	}{
		{Richardson{Step: 0.02}, Settings{MaxIter: 7}, true},
		{Richardson{Step: 0.02}, Settings{MaxIter: 500, Tol: 1e-6}, true},
		{HeavyBall{Step: 0.02, Momentum: 0.3}, Settings{MaxIter: 7}, true},
		{CG{}, Settings{MaxIter: 7}, true},
		{CG{}, Settings{MaxIter: 1}, true},
		{CG{}, Settings{MaxIter: 7, Tol: 1e-30}, false},
		{PCG{M: jac}, Settings{MaxIter: 7}, true},
	}
	for _, c := range cases {
		for _, x0 := range [][]float64{make([]float64, n), s.sol[:n:n]} {
			x0 := append([]float64(nil), x0...)
			if x0[0] != 0 {
				for i := range x0 {
					x0[i] *= 0.5
				}
			}
			res, err := b.NewVector(n)
			if err != nil {
				t.Fatal(err)
			}
			b.Fill(res, 7)
			set := c.set
			set.Residual = res
			op := &pairOp{MatrixOperator: m}
			x := vector(t, b, x0)
			sol, err := c.solver.Solve(context.Background(), b, op, vector(t, b, s.rhs), x, set)
			if err != nil || sol.Status == Failed {
				t.Fatalf("%v: %v %v", c.solver, err, sol.Err)
			}
			if sol.ResidualSet != c.want {
				t.Errorf("%v %+v: ResidualSet %v", c.solver, c.set, sol.ResidualSet)
				continue
			}
			got := download(t, b, res)
			if !c.want {
				if got[0] != 7 {
					t.Errorf("%v: Residual written though not set", c.solver)
				}
				continue
			}
			want := make([]float64, n)
			xs := download(t, b, x)
			for i := range want {
				want[i] = s.rhs[i]
				for j := range n {
					want[i] -= s.a.At(i, j) * xs[j]
				}
			}
			diff := make([]float64, n)
			for i := range diff {
				diff[i] = got[i] - want[i]
			}
			if e := norm2(diff) / norm2(s.rhs); e > 1e-13 {
				t.Errorf("%v %+v x0=%v: ‖Residual − (b − A x)‖/‖b‖ = %.3g", c.solver, c.set, x0[0] != 0, e)
			}
			_, isCG := c.solver.(CG)
			if isCG && x0[0] != 0 && op.pairs != 1 {
				t.Errorf("CG from x0 ≠ 0: %d pair calls, want 1", op.pairs)
			}
			// The pair gives the bits of a plain operator.
			if isCG {
				x2 := vector(t, b, x0)
				res2, _ := b.NewVector(n)
				set.Residual = res2
				if _, err := c.solver.Solve(context.Background(), b, m, vector(t, b, s.rhs), x2, set); err != nil {
					t.Fatal(err)
				}
				a1, a2 := download(t, b, x), download(t, b, x2)
				r1, r2 := got, download(t, b, res2)
				for i := range a1 {
					if a1[i] != a2[i] || r1[i] != r2[i] {
						t.Fatalf("CG with a Pairer changed the bits")
					}
				}
			}
		}
	}
}

// TestWorkspace: solves lent a Workspace give the bits of solves without,
// and repeated solves allocate nothing after the first.
func TestWorkspace(t *testing.T) {
	b := newCPU(t)
	s := spdSystem(30, 100, 3)
	var op Operator = s.operator(t, b, s.tags) // boxed once: the test allocates nothing per solve
	ws := NewWorkspace(b)
	defer ws.Free()
	rhs := vector(t, b, s.rhs)
	for _, solver := range []Solver{CG{}, PCG{M: Jacobi{B: b, D: vector(t, b, diagonal(s.a))}}, MINRES{}, GMRES{Restart: 5}, BiCGStab{}, CGNE{}, Richardson{Step: 0.01}, HeavyBall{Step: 0.01, Momentum: 0.4}} {
		x1, x2 := vector(t, b, make([]float64, 30)), vector(t, b, make([]float64, 30))
		s1, err1 := solver.Solve(context.Background(), b, op, rhs, x1, Settings{MaxIter: 25})
		s2, err2 := solver.Solve(context.Background(), b, op, rhs, x2, Settings{MaxIter: 25, Workspace: ws})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		a1, a2 := download(t, b, x1), download(t, b, x2)
		for i := range a1 {
			if a1[i] != a2[i] || s1.Iterations != s2.Iterations || s1.Residual != s2.Residual {
				t.Fatalf("%v: a Workspace changed the result", solver)
			}
		}
		set := Settings{MaxIter: 25, Workspace: ws}
		allocs := testing.AllocsPerRun(5, func() {
			b.Fill(x2, 0)
			if _, err := solver.Solve(context.Background(), b, op, rhs, x2, set); err != nil {
				t.Fatal(err)
			}
		})
		if _, gm := solver.(GMRES); allocs > 0 && !gm {
			t.Errorf("%v: %v allocations per solve with a Workspace", solver, allocs)
		}
	}
}

// TestCGQueued: on a backend.CGStepper CG queues its iterations and gives
// the host loop's bits — x, iterations, residual, history, status — with
// and without a tolerance, at the rounding floor, with the residual out,
// and on an indefinite operator (the same error at the same iteration).
func TestCGQueued(t *testing.T) {
	host := newCPU(t)
	queued := stepper{host}
	for _, c := range []struct {
		s   system
		set Settings
	}{
		{spdSystem(50, 1e3, 4), Settings{MaxIter: 37, History: true}},
		{spdSystem(50, 1e3, 4), Settings{MaxIter: 200, Tol: 1e-9, History: true}},
		{spdSystem(20, 10, 5), Settings{MaxIter: 300, History: true}},
		{indefiniteSystem(30, 10, 6), Settings{MaxIter: 50}},
	} {
		run := func(b backend.Backend) (Solution, []float64, []float64) {
			op := c.s.operator(t, host, Symmetric|PositiveDefinite)
			n := len(c.s.rhs)
			res, _ := host.NewVector(n)
			set := c.set
			set.Residual = res
			x := vector(t, host, make([]float64, n))
			sol, err := CG{}.Solve(context.Background(), b, op, vector(t, host, c.s.rhs), x, set)
			if err != nil {
				t.Fatal(err)
			}
			return sol, download(t, host, x), download(t, host, res)
		}
		s1, x1, r1 := run(host)
		s2, x2, r2 := run(queued)
		same := s1.Iterations == s2.Iterations && s1.Status == s2.Status && s1.ResidualSet == s2.ResidualSet &&
			math.Float64bits(s1.Residual) == math.Float64bits(s2.Residual) && len(s1.History) == len(s2.History) &&
			errors.Is(s2.Err, ErrNotPositiveDefinite) == errors.Is(s1.Err, ErrNotPositiveDefinite)
		for i := range x1 {
			same = same && x1[i] == x2[i] && (!s1.ResidualSet || r1[i] == r2[i])
		}
		for i := range s1.History {
			same = same && s1.History[i] == s2.History[i]
		}
		if !same {
			t.Errorf("%s %+v: host %v %d it %v (%v) / queued %v %d it %v (%v)", c.s.name, c.set, s1.Status, s1.Iterations, s1.Residual, s1.Err,
				s2.Status, s2.Iterations, s2.Residual, s2.Err)
		}
		if c.s.tags.Has(PositiveDefinite) && s2.Status == Failed {
			t.Errorf("%s: queued CG failed: %v", c.s.name, s2.Err)
		}
	}
}

func norm2(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}
