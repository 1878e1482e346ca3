package hypergrad_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

var jacobiCG = hypergrad.ConjugateGradient{Jacobi: true}

// TestPCGMatchesReference: AID with Jacobi-preconditioned CG run to
// convergence matches the exact reference to 1e-10 relative on every
// problem, and computes the preconditioner once.
func TestPCGMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    func(testing.TB) bilevel.Problem
		aid  hypergrad.AID
	}{
		{"ridge", ridge100, hypergrad.AID{Inner: hypergrad.HeavyBall{}, Linear: jacobiCG, T: 400, K: 100}},
		{"ridge-kappa1e4", func(t testing.TB) bilevel.Problem { return ridge(t, 2000, 50, 1e4, 1) },
			hypergrad.AID{Inner: hypergrad.FISTA{}, Linear: jacobiCG, T: 3000, K: 200, TolInner: 1e-14}},
		{"logreg", logregTest, hypergrad.AID{Linear: jacobiCG, T: 5000, K: 100, TolInner: 1e-15, TolLinear: 1e-15}},
		{"quadratic", func(t testing.TB) bilevel.Problem { return quadratic(t, data.QuadraticOptions{Seed: 5}) },
			hypergrad.AID{Inner: hypergrad.HeavyBall{}, Linear: jacobiCG, T: 300, K: 30}},
		{"quadratic-wide", func(t testing.TB) bilevel.Problem {
			return quadratic(t, data.QuadraticOptions{M1: 300, M2: 400, D: 60, H: 7, Seed: 6})
		}, hypergrad.AID{Inner: hypergrad.HeavyBall{}, Linear: jacobiCG, T: 2000, K: 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p(t)
			ref := reference(t, p)
			res := estimate(t, &tc.aid, p, nil)
			if !strings.HasPrefix(res.Method, "aid-pcg(") {
				t.Errorf("method %q", res.Method)
			}
			if e := relErr(res.Hypergradient, ref.Hypergradient); !(e <= 1e-10) {
				t.Errorf("relative error %.3g > 1e-10 (T=%d, K=%d, ‖∇g‖=%.3g, residual=%.3g)",
					e, res.InnerIters, res.LinearIters, res.InnerResidual, res.LinearResidual)
			}
			if e := relErr(res.V, ref.V); !(e <= 1e-10) {
				t.Errorf("q: relative error %.3g", e)
			}
			if res.Counts.HessDiags != 1 {
				t.Errorf("%d Hessian diagonals, want 1", res.Counts.HessDiags)
			}
			if res.APriori.Kind != hypergrad.BoundNone {
				t.Errorf("a priori bound of kind %v for PCG, whose rate is unknown", res.APriori.Kind)
			}
		})
	}
}

// denseSystem returns A (by HessVec on the unit vectors) and ∇_wE at w,
// with p linearized at w.
func denseSystem(t *testing.T, p bilevel.Problem, w []float64) (*mat.SymDense, *mat.VecDense) {
	t.Helper()
	b := p.Backend()
	d := p.InnerDim()
	wv := bileveltest.Vec(t, b, w)
	defer b.Free(wv)
	if err := p.Linearize(wv); err != nil {
		t.Fatal(err)
	}
	e, av := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d))
	defer b.Free(e)
	defer b.Free(av)
	a := mat.NewSymDense(d, nil)
	unit := make([]float64, d)
	for j := 0; j < d; j++ {
		unit[j] = 1
		b.Upload(e, unit)
		if err := p.HessVec(av, e); err != nil {
			t.Fatal(err)
		}
		col := bileveltest.Host(t, b, av)
		for i := 0; i <= j; i++ {
			a.SetSym(i, j, col[i])
		}
		unit[j] = 0
	}
	if err := p.OuterGrad(av, wv); err != nil {
		t.Fatal(err)
	}
	return a, mat.NewVecDense(d, bileveltest.Host(t, b, av))
}

// krylovMinimiser returns argmin ‖q − A⁻¹r‖_A over span{s, Ss, …, S^{k−1}s},
// s = P r and S = P A: V(VᵀAV)⁻¹Vᵀr for an orthonormal basis V of that space.
// With P = I it is the k-th CG iterate from 0, with P = M⁻¹ the k-th PCG
// iterate (Nocedal & Wright §5.1).
func krylovMinimiser(a *mat.SymDense, r *mat.VecDense, pre []float64, k int) []float64 {
	d := r.Len()
	kry := mat.NewDense(d, k, nil)
	col := mat.NewVecDense(d, nil)
	for i := 0; i < d; i++ {
		col.SetVec(i, pre[i]*r.AtVec(i))
	}
	for j := 0; j < k; j++ {
		kry.SetCol(j, col.RawVector().Data)
		var next mat.VecDense
		next.MulVec(a, col)
		for i := 0; i < d; i++ {
			next.SetVec(i, pre[i]*next.AtVec(i))
		}
		col = &next
	}
	var qr mat.QR
	qr.Factorize(kry)
	var qfull mat.Dense
	qr.QTo(&qfull)
	v := qfull.Slice(0, d, 0, k)
	var vav, tmp mat.Dense
	tmp.Mul(a, v)
	vav.Mul(v.T(), &tmp)
	var vb, y, out mat.VecDense
	vb.MulVec(v.T(), r)
	if err := y.SolveVec(&vav, &vb); err != nil {
		panic(err)
	}
	out.MulVec(v, &y)
	return out.RawVector().Data
}

// TestPCGKrylov: the PCG iterates are the A-norm minimisers over the
// preconditioned Krylov spaces K_k(M⁻¹A, M⁻¹r) with M = diag(A), computed
// densely, and differ from the plain CG iterates (so the test sees the
// preconditioner). Ridge with generator κ = 1e3 has features of very
// different scales, which is what Jacobi corrects.
func TestPCGKrylov(t *testing.T) {
	p := ridge(t, 300, 12, 1e3, 7)
	b := p.Backend()
	res0 := estimate(t, &hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 50, K: 0}, p, nil)
	var iterates [][]float64
	aid := &hypergrad.AID{Inner: hypergrad.HeavyBall{}, Linear: jacobiCG, T: 50, K: 6,
		Monitor: func(pr hypergrad.Progress) error {
			if pr.Phase == hypergrad.PhaseLinear {
				iterates = append(iterates, bileveltest.Host(t, b, pr.X))
			}
			return nil
		}}
	res := estimate(t, aid, p, nil)
	if relErr(res.W, res0.W) != 0 {
		t.Fatal("inner solve is not deterministic")
	}
	a, rhs := denseSystem(t, p, res.W)
	d := p.InnerDim()
	minv, ones := make([]float64, d), make([]float64, d)
	for i := range minv {
		minv[i], ones[i] = 1/a.At(i, i), 1
	}
	for k := 1; k <= 5; k++ {
		want := krylovMinimiser(a, rhs, minv, k)
		if e := relErr(iterates[k], want); !(e <= 1e-9) {
			t.Errorf("q_%d differs from the preconditioned Krylov minimiser by %.3g relative", k, e)
		}
		if e := relErr(iterates[k], krylovMinimiser(a, rhs, ones, k)); !(e > 1e-3) {
			t.Errorf("q_%d is within %.3g of the unpreconditioned CG iterate: the preconditioner did nothing", k, e)
		}
	}
}

// TestPCGFewerIterations: with feature scales spread over κ = 1e4, Jacobi
// CG needs a fraction of plain CG's iterations for the same residual.
func TestPCGFewerIterations(t *testing.T) {
	p := ridge(t, 2000, 50, 1e4, 1)
	iters := map[bool]int{}
	for _, jac := range []bool{false, true} {
		res := estimate(t, &hypergrad.AID{Inner: hypergrad.FISTA{}, Linear: hypergrad.ConjugateGradient{Jacobi: jac},
			T: 3000, K: 1000, TolInner: 1e-14, TolLinear: 1e-10}, p, nil)
		if res.LinearStatus != hypergrad.Converged {
			t.Fatalf("jacobi=%v: linear status %v after %d iterations", jac, res.LinearStatus, res.LinearIters)
		}
		iters[jac] = res.LinearIters
	}
	t.Logf("iterations to ‖Aq − ∇E‖ ≤ 1e-10: CG %d, Jacobi CG %d", iters[false], iters[true])
	if !(3*iters[true] <= iters[false]) {
		t.Errorf("Jacobi CG took %d iterations, plain CG %d: want at most a third", iters[true], iters[false])
	}
}

// negDiag is a problem whose Hessian diagonal is reported as negative.
type negDiag struct{ bilevel.Problem }

func (p negDiag) HessDiag(dst backend.Vector) error {
	p.Backend().Fill(dst, -1)
	return p.Backend().Err()
}

func TestPCGErrors(t *testing.T) {
	ctx := context.Background()
	// The user-defined diag problem has no HessDiag.
	nd := newDiag(t, []float64{1, 4}, []float64{-1, -1}, []float64{0, 0})
	_, err := (&hypergrad.AID{Linear: jacobiCG, T: 1, K: 5}).Estimate(ctx, nd, nil)
	if !errors.Is(err, hypergrad.ErrInvalidSettings) {
		t.Errorf("problem without HessDiag: %v", err)
	}
	_, err = (&hypergrad.AID{Linear: jacobiCG, T: 1, K: 5}).Estimate(ctx, negDiag{ridge100(t)}, nil)
	if !errors.Is(err, hypergrad.ErrNotPositiveDefinite) {
		t.Errorf("negative diagonal: %v", err)
	}
}
