package krylov

import (
	"context"
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
)

// symCountOp wraps a Transposer, overriding its tags, counting its
// products and canceling a context at the cancelAt-th product with A.
type symCountOp struct {
	Transposer
	tags            Tags
	products, trans int
	cancelAt        int
	cancel          context.CancelFunc
}

func (c *symCountOp) Tags() Tags { return c.tags }

func (c *symCountOp) Apply(dst, x backend.Vector) error {
	c.products++
	if c.cancel != nil && c.products == c.cancelAt {
		c.cancel()
	}
	return c.Transposer.Apply(dst, x)
}

func (c *symCountOp) ApplyTrans(dst, x backend.Vector) error {
	c.trans++
	return c.Transposer.ApplyTrans(dst, x)
}

// symSolve runs solver on op from x0 (uploaded to a new vector of b) and
// returns the solution, the final x and the error. It checks that Solve
// frees its workspace.
func symSolve(t *testing.T, ctx context.Context, solver Solver, b backend.Backend, op Operator, rhs, x0 []float64, set Settings) (Solution, []float64, error) {
	t.Helper()
	rv, xv := vector(t, b, rhs), vector(t, b, x0)
	defer b.Free(rv)
	defer b.Free(xv)
	before := b.Allocated()
	sol, err := solver.Solve(ctx, b, op, rv, xv, set)
	if after := b.Allocated(); after != before {
		t.Errorf("%v: %d bytes allocated before Solve, %d after", solver, before, after)
	}
	return sol, download(t, b, xv), err
}

// denseResidual returns ‖b − A x‖ computed on the host.
func denseResidual(a *mat.Dense, rhs, x []float64) float64 {
	var r mat.VecDense
	r.MulVec(a, mat.NewVecDense(len(x), x))
	r.SubVec(mat.NewVecDense(len(rhs), rhs), &r)
	return mat.Norm(&r, 2)
}

// symCommon checks what every solver of this file set shares, on the
// system s it solves (tagged s.tags): the caller's errors (no iteration,
// no product), cancellation before and during the solve, the iteration
// limit, and a nonzero x_0.
func symCommon(t *testing.T, solver Solver, s system) {
	t.Helper()
	b := newCPU(t)
	n := len(s.rhs)
	zero := make([]float64, n)
	ctx := context.Background()
	newOp := func() *symCountOp { return &symCountOp{Transposer: s.operator(t, b, s.tags), tags: s.tags} }

	// Caller mistakes: returned errors, no product.
	for _, c := range []struct {
		name string
		set  Settings
	}{
		{"MaxIter 0", Settings{Tol: 1e-10}},
		{"MaxIter < 0", Settings{MaxIter: -1, Tol: 1e-10}},
		{"Tol < 0", Settings{MaxIter: 10, Tol: -1}},
		{"Tol NaN", Settings{MaxIter: 10, Tol: math.NaN()}},
		{"AbsTol < 0", Settings{MaxIter: 10, AbsTol: -1e-3}},
		{"DivergenceFactor < 0", Settings{MaxIter: 10, Tol: 1e-10, DivergenceFactor: -1}},
	} {
		op := newOp()
		sol, _, err := symSolve(t, ctx, solver, b, op, s.rhs, zero, c.set)
		if !errors.Is(err, ErrSettings) || sol.Iterations != 0 || op.products+op.trans != 0 {
			t.Errorf("%v, %s: error %v, %d iterations, %d products; want ErrSettings and none", solver, c.name, err, sol.Iterations, op.products+op.trans)
		}
	}
	for _, c := range []struct {
		name   string
		rn, xn int
	}{{"short rhs", n - 1, n}, {"long x", n, n + 1}} {
		op := newOp()
		rhs, x := make([]float64, c.rn), make([]float64, c.xn)
		copy(rhs, s.rhs)
		sol, _, err := symSolve(t, ctx, solver, b, op, rhs, x, tight(10))
		if !errors.Is(err, ErrShape) || sol.Iterations != 0 || op.products+op.trans != 0 {
			t.Errorf("%v, %s: error %v, %d iterations, %d products; want ErrShape and none", solver, c.name, err, sol.Iterations, op.products+op.trans)
		}
	}

	// A context canceled before the solve: no iteration.
	done, cancel := context.WithCancel(ctx)
	cancel()
	sol, _, err := symSolve(t, done, solver, b, newOp(), s.rhs, zero, tight(100))
	if err != nil || sol.Status != Canceled || !errors.Is(sol.Err, context.Canceled) || sol.Iterations != 0 {
		t.Errorf("%v, canceled context: error %v, status %v (%v), %d iterations; want Canceled after 0", solver, err, sol.Status, sol.Err, sol.Iterations)
	}
	// Canceled at the third product with A: the solve stops at the end of
	// that iteration.
	during, cancel := context.WithCancel(ctx)
	defer cancel()
	op := newOp()
	op.cancelAt, op.cancel = 3, cancel
	sol, _, err = symSolve(t, during, solver, b, op, s.rhs, zero, tight(100))
	if err != nil || sol.Status != Canceled || !errors.Is(sol.Err, context.Canceled) || sol.Iterations < 1 || sol.Iterations > 3 {
		t.Errorf("%v, context canceled at product 3: error %v, status %v (%v), %d iterations; want Canceled after 1–3", solver, err, sol.Status, sol.Err, sol.Iterations)
	}

	// The iteration limit, with a history of MaxIter+1 values.
	set := tight(3)
	set.History = true
	sol, _, err = symSolve(t, ctx, solver, b, newOp(), s.rhs, zero, set)
	if err != nil || sol.Status != IterationLimit || sol.Err != nil || sol.Iterations != 3 || len(sol.History) != 4 ||
		math.Abs(sol.History[0]-sol.RHSNorm) > 1e-14*sol.RHSNorm || sol.History[3] != sol.Residual {
		t.Errorf("%v, MaxIter 3: error %v, status %v (%v), %d iterations, history %v (‖b‖ %v, residual %v)", solver, err, sol.Status, sol.Err, sol.Iterations, sol.History, sol.RHSNorm, sol.Residual)
	}

	// A nonzero x_0 is honoured: the first residual is ‖b − A x_0‖, one
	// more product is made, and the solve reaches the same solution.
	x0 := make([]float64, n)
	for i := range x0 {
		x0[i] = s.sol[i] + math.Sin(float64(3*i+1))
	}
	set = tight(4000)
	set.History = true
	op = newOp()
	sol, x, err := symSolve(t, ctx, solver, b, op, s.rhs, x0, set)
	if err != nil || sol.Status != Converged {
		t.Fatalf("%v from x_0 ≠ 0: error %v, status %v (%v)", solver, err, sol.Status, sol.Err)
	}
	if want := denseResidual(s.a, s.rhs, x0); math.Abs(sol.History[0]-want) > 1e-12*want {
		t.Errorf("%v from x_0 ≠ 0: first residual %v, ‖b − A x_0‖ = %v", solver, sol.History[0], want)
	}
	if e := relErr(x, s.sol); !(e <= 1e-12) {
		t.Errorf("%v from x_0 ≠ 0: ‖x − x*‖/‖x*‖ = %.3g", solver, e)
	}
	if op.products != sol.MatVecs || sol.MatVecs != sol.Iterations+1 {
		t.Errorf("%v from x_0 ≠ 0: %d products (%d counted) for %d iterations; want iterations+1", solver, op.products, sol.MatVecs, sol.Iterations)
	}
}

func TestCG(t *testing.T) {
	for _, c := range []struct {
		n    int
		cond float64
	}{{60, 10}, {100, 100}} {
		s := spdSystem(c.n, c.cond, 1)
		sol := solveAndCheck(t, CG{}, s, tight(500), 1e-12)
		if sol.MatVecs != sol.Iterations || sol.TransVecs != 0 || sol.PrecVecs != 0 {
			t.Errorf("cg: %d products, %d with Aᵀ, %d of M for %d iterations", sol.MatVecs, sol.TransVecs, sol.PrecVecs, sol.Iterations)
		}
		if math.Abs(sol.History[0]-sol.RHSNorm) > 1e-14*sol.RHSNorm {
			t.Errorf("cg: first residual %v, ‖b‖ %v", sol.History[0], sol.RHSNorm)
		}
		// From ‖e_k‖_A ≤ 2ρ^k ‖e_0‖_A, ρ = (√κ−1)/(√κ+1), and
		// √λ_min ‖e‖_A ≤ ‖r‖ ≤ √λ_max ‖e‖_A: ‖r_k‖ ≤ 2√κ ρ^k ‖r_0‖, so
		// 1e-14 takes at most log(2√κ·1e14)/log(1/ρ) iterations (in exact
		// arithmetic; at κ ≤ 100 rounding delays CG little).
		rho := (math.Sqrt(c.cond) - 1) / (math.Sqrt(c.cond) + 1)
		if bound := math.Log(2*math.Sqrt(c.cond)*1e14) / -math.Log(rho); float64(sol.Iterations) > bound {
			t.Errorf("cg on κ = %v: %d iterations, more than the bound %.0f", c.cond, sol.Iterations, bound)
		}
	}
	// CG accepts a symmetric operator without the PositiveDefinite tag.
	s := spdSystem(60, 100, 3)
	s.tags = Symmetric
	solveAndCheck(t, CG{}, s, tight(500), 1e-12)
	symCommon(t, CG{}, spdSystem(60, 100, 4))
}

// TestCGNotSymmetric: CG refuses an operator not tagged Symmetric before
// any product.
func TestCGNotSymmetric(t *testing.T) {
	b := newCPU(t)
	s := spdSystem(60, 10, 1)
	for _, tags := range []Tags{0, PositiveDefinite} {
		op := &symCountOp{Transposer: s.operator(t, b, tags), tags: tags}
		sol, _, err := symSolve(t, context.Background(), CG{}, b, op, s.rhs, make([]float64, 60), tight(100))
		if !errors.Is(err, ErrNotSymmetric) || op.products != 0 || sol.MatVecs != 0 || sol.Iterations != 0 {
			t.Errorf("cg on tags %v: error %v, %d products, %d iterations; want ErrNotSymmetric and none", tags, err, op.products, sol.Iterations)
		}
	}
}

// TestCGIndefinite: an indefinite operator tagged symmetric positive
// definite (a lie) fails with ErrNotPositiveDefinite at the first
// direction with pᵀAp ≤ 0.
func TestCGIndefinite(t *testing.T) {
	b := newCPU(t)
	s := indefiniteSystem(60, 100, 1)
	op := s.operator(t, b, Symmetric|PositiveDefinite)
	sol, _, err := symSolve(t, context.Background(), CG{}, b, op, s.rhs, make([]float64, 60), tight(500))
	if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrNotPositiveDefinite) {
		t.Fatalf("cg on an indefinite operator: error %v, status %v (%v); want Failed with ErrNotPositiveDefinite", err, sol.Status, sol.Err)
	}
	if sol.MatVecs != sol.Iterations+1 {
		t.Errorf("cg on an indefinite operator: %d products for %d iterations (the failing one not counted)", sol.MatVecs, sol.Iterations)
	}
}

// TestCGKrylovMinimiser guards the direction update
// p_{i+1} = r_{i+1} + β_i p_i with the new residual r_{i+1} and
// β_i = r_{i+1}ᵀr_{i+1}/r_iᵀr_i (using the old residual there, as Betty's CG
// once did, or another β, breaks conjugacy; hypergrad's
// TestConjugateGradientDirectionUpdate is the same test). Correct CG
// iterates minimise the A-norm error over the Krylov space
// K_k = span{b, Ab, …, A^{k−1}b}: x_k = V(VᵀAV)⁻¹Vᵀb for an orthonormal basis
// V of K_k; and on a small system CG terminates at the exact solution after
// about n iterations.
func TestCGKrylovMinimiser(t *testing.T) {
	s := spdSystem(60, 100, 5)
	b := newCPU(t)
	op := s.operator(t, b, s.tags)
	n := len(s.rhs)
	for k := 1; k <= 6; k++ {
		sol, x, err := symSolve(t, context.Background(), CG{}, b, op, s.rhs, make([]float64, n), tight(k))
		if err != nil || sol.Status != IterationLimit || sol.Iterations != k {
			t.Fatalf("cg, MaxIter %d: error %v, status %v (%v), %d iterations", k, err, sol.Status, sol.Err, sol.Iterations)
		}
		v := krylovBasis(s.a, s.rhs, k)
		var av, vav mat.Dense
		av.Mul(s.a, v)
		vav.Mul(v.T(), &av)
		var vb, y, want mat.VecDense
		vb.MulVec(v.T(), mat.NewVecDense(n, s.rhs))
		if err := y.SolveVec(&vav, &vb); err != nil {
			t.Fatal(err)
		}
		want.MulVec(v, &y)
		if e := relErr(x, want.RawVector().Data); !(e <= 1e-9) {
			t.Errorf("x_%d differs from the Krylov minimiser of the A-norm error by %.3g relative", k, e)
		}
	}
	// Finite termination on a small system: n+2 iterations are exact to
	// rounding.
	s = spdSystem(12, 100, 6)
	sol, x, err := symSolve(t, context.Background(), CG{}, b, s.operator(t, b, s.tags), s.rhs, make([]float64, 12), Settings{MaxIter: 14})
	if err != nil || sol.Status == Failed {
		t.Fatalf("cg, n = 12: error %v, status %v (%v)", err, sol.Status, sol.Err)
	}
	if e := relErr(x, s.sol); !(e <= 1e-12) {
		t.Errorf("after n+2 = 14 iterations CG is %.3g from the exact solution (no finite termination)", e)
	}
}

// krylovBasis returns an orthonormal basis of span{b, Ab, …, A^{k−1}b}
// (QR of the Krylov matrix).
func krylovBasis(a mat.Matrix, rhs []float64, k int) *mat.Dense {
	n := len(rhs)
	kry := mat.NewDense(n, k, nil)
	col := mat.NewVecDense(n, append([]float64(nil), rhs...))
	for j := range k {
		kry.SetCol(j, col.RawVector().Data)
		var next mat.VecDense
		next.MulVec(a, col)
		col = &next
	}
	var qr mat.QR
	qr.Factorize(kry)
	var q mat.Dense
	qr.QTo(&q)
	return mat.DenseCopyOf(q.Slice(0, n, 0, k))
}

// TestCGFloor: without a tolerance CG runs until the recursive residual is
// at the floor 2⁻⁶²·‖b‖, and stops there as converged instead of
// underflowing into a false failure; so do MINRES and CGNE.
func TestCGFloor(t *testing.T) {
	s := spdSystem(60, 100, 7)
	for _, solver := range []Solver{CG{}, jacobiPCG{d: diagonal(s.a)}, MINRES{}, CGNE{}} {
		b := newCPU(t)
		op := s.operator(t, b, s.tags)
		sol, x, err := symSolve(t, context.Background(), solver, b, op, s.rhs, make([]float64, 60), Settings{MaxIter: 5000})
		if err != nil || sol.Status != Converged || sol.Residual > 0x1p-62*sol.RHSNorm || sol.Iterations >= 1000 {
			t.Errorf("%v without a tolerance: error %v, status %v (%v) after %d iterations, residual %.3g", solver, err, sol.Status, sol.Err, sol.Iterations, sol.Residual/sol.RHSNorm)
		}
		if e := relErr(x, s.sol); !(e <= 1e-12) {
			t.Errorf("%v without a tolerance: ‖x − x*‖/‖x*‖ = %.3g", solver, e)
		}
	}
}

// diagonal returns the diagonal of a.
func diagonal(a *mat.Dense) []float64 {
	n, _ := a.Dims()
	d := make([]float64, n)
	for i := range d {
		d[i] = a.At(i, i)
	}
	return d
}

// scaledSystem is D A D with A SPD (eigenvalues 1 to cond) and D diagonal
// from 1 to scale: badly conditioned by the scales alone, which Jacobi
// undoes.
func scaledSystem(n int, cond, scale float64, seed uint64) system {
	s := spdSystem(n, cond, seed)
	d := logspace(1, scale, n)
	a := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			a.Set(i, j, d[i]*s.a.At(i, j)*d[j])
		}
	}
	sol := make([]float64, n)
	for i := range sol {
		sol[i] = s.sol[i] / d[i] // (DAD)(D⁻¹x*) = D b: rhs D b
	}
	rhs := make([]float64, n)
	for i := range rhs {
		rhs[i] = d[i] * s.rhs[i]
	}
	return system{name: "scaled spd", a: a, rhs: rhs, sol: sol, tags: s.tags}
}

func TestPCG(t *testing.T) {
	s := spdSystem(80, 100, 8)
	b := newCPU(t)
	// solveAndCheck makes its own backend; Jacobi needs D on it, so PCG is
	// built by a Solver that uploads D at the first Solve.
	sol := solveAndCheck(t, jacobiPCG{d: diagonal(s.a)}, s, tight(500), 1e-12)
	if sol.PrecVecs != sol.Iterations || sol.MatVecs != sol.Iterations {
		t.Errorf("pcg: %d products, %d of M for %d iterations; want one each an iteration", sol.MatVecs, sol.PrecVecs, sol.Iterations)
	}

	// On a system made ill conditioned by its scales, Jacobi recovers CG's
	// iteration count on the unscaled system.
	sc := scaledSystem(80, 100, 1e3, 8)
	op := sc.operator(t, b, sc.tags)
	set := Settings{MaxIter: 5000, Tol: 1e-10}
	plain, _, err := symSolve(t, context.Background(), CG{}, b, op, sc.rhs, make([]float64, 80), set)
	if err != nil {
		t.Fatal(err)
	}
	jac := PCG{M: Jacobi{B: b, D: vector(t, b, diagonal(sc.a))}}
	pre, x, err := symSolve(t, context.Background(), jac, b, op, sc.rhs, make([]float64, 80), set)
	if err != nil || pre.Status != Converged {
		t.Fatalf("pcg on the scaled system: error %v, status %v (%v)", err, pre.Status, pre.Err)
	}
	if tr := denseResidual(sc.a, sc.rhs, x); !(tr <= 10*1e-10*pre.RHSNorm) {
		t.Errorf("pcg on the scaled system: true residual %.3g", tr/pre.RHSNorm)
	}
	if !(pre.Iterations < plain.Iterations/2) {
		t.Errorf("pcg on the scaled system: %d iterations, cg %d (%v)", pre.Iterations, plain.Iterations, plain.Status)
	}
	symCommon(t, jacobiPCG{d: diagonal(s.a)}, s)
}

// jacobiPCG is PCG with the Jacobi preconditioner of the diagonal d,
// uploaded to the backend of each Solve.
type jacobiPCG struct{ d []float64 }

func (j jacobiPCG) String() string { return "pcg" }

func (j jacobiPCG) Solve(ctx context.Context, b backend.Backend, op Operator, rhs, x backend.Vector, s Settings) (Solution, error) {
	d, err := b.NewVector(len(j.d))
	if err != nil {
		return Solution{}, err
	}
	defer b.Free(d)
	b.Upload(d, j.d)
	return PCG{M: Jacobi{B: b, D: d}}.Solve(ctx, b, op, rhs, x, s)
}

// TestPCGErrors: a nil, misshapen or unsymmetric preconditioner is the
// caller's error; one that is not positive definite fails.
func TestPCGErrors(t *testing.T) {
	b := newCPU(t)
	s := spdSystem(60, 10, 9)
	op := &symCountOp{Transposer: s.operator(t, b, s.tags), tags: s.tags}
	zero := make([]float64, 60)
	ctx := context.Background()
	d := vector(t, b, diagonal(s.a))
	short := vector(t, b, diagonal(s.a)[:59])
	m := s.operator(t, b, Symmetric|PositiveDefinite)
	for _, c := range []struct {
		name string
		m    Operator
		want error
	}{
		{"nil M", nil, ErrSettings},
		{"M 59×59", Jacobi{B: b, D: short}, ErrShape},
		{"M tagged general", MatrixOperator{B: b, A: m.A}, ErrNotSymmetric},
	} {
		sol, _, err := symSolve(t, ctx, PCG{M: c.m}, b, op, s.rhs, zero, tight(100))
		if !errors.Is(err, c.want) || op.products != 0 || sol.Iterations != 0 || sol.PrecVecs != 0 {
			t.Errorf("pcg, %s: error %v, %d products; want %v and none", c.name, err, op.products, c.want)
		}
	}
	sol, _, err := symSolve(t, ctx, PCG{M: Jacobi{B: b, D: d}}, b, &symCountOp{Transposer: s.operator(t, b, 0), tags: 0}, s.rhs, zero, tight(100))
	if !errors.Is(err, ErrNotSymmetric) || sol.PrecVecs != 0 {
		t.Errorf("pcg on a general operator: error %v, %d applications of M", err, sol.PrecVecs)
	}

	// M⁻¹ = −diag(A)⁻¹ is negative definite: rᵀM⁻¹r < 0 at once.
	neg := diagonal(s.a)
	for i := range neg {
		neg[i] = -neg[i]
	}
	sol, _, err = symSolve(t, ctx, PCG{M: Jacobi{B: b, D: vector(t, b, neg)}}, b, s.operator(t, b, s.tags), s.rhs, zero, tight(100))
	if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrNotPositiveDefinite) || sol.Iterations != 0 || sol.PrecVecs != 1 {
		t.Errorf("pcg with a negative definite M: error %v, status %v (%v), %d iterations, %d applications of M", err, sol.Status, sol.Err, sol.Iterations, sol.PrecVecs)
	}
}

// TestCGNonFinite: a NaN in A makes pᵀAp NaN: ErrNonFinite, not a verdict
// on definiteness.
func TestCGNonFinite(t *testing.T) {
	b := newCPU(t)
	s := spdSystem(60, 10, 10)
	a := mat.DenseCopyOf(s.a)
	a.Set(0, 0, math.NaN())
	m, err := b.NewDense(60, 60, a.RawMatrix().Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, solver := range []Solver{CG{}, MINRES{}, CGNE{}} {
		sol, _, err := symSolve(t, context.Background(), solver, b, MatrixOperator{B: b, A: m, T: s.tags}, s.rhs, make([]float64, 60), tight(100))
		if err != nil || sol.Status != Failed || !errors.Is(sol.Err, ErrNonFinite) || errors.Is(sol.Err, ErrNotPositiveDefinite) {
			t.Errorf("%v with a NaN in A: error %v, status %v (%v)", solver, err, sol.Status, sol.Err)
		}
	}
}
