package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/krylov"
)

// tanhHost is tanhMap on the host, for references.
type tanhHost struct {
	m, u *mat.Dense
	y    []float64
}

func newTanhHost() *tanhHost {
	const d, h = 6, 2
	m := mat.NewDense(d, d, nil)
	u := mat.NewDense(d, h, nil)
	y := make([]float64, d)
	for i := range d {
		m.Set(i, i, 0.2)
		m.Set(i, (i+1)%d, 0.6)
		u.Set(i, 0, float64(i%3)-1)
		u.Set(i, 1, 0.5+0.1*float64(i))
		y[i] = 0.3 * float64(i%2)
	}
	return &tanhHost{m: m, u: u, y: y}
}

// phi returns Φ(w, λ) and tanh′ of the pre-activation.
func (p *tanhHost) phi(w, lam []float64) (out, deriv []float64) {
	var z, zu mat.VecDense
	z.MulVec(p.m, mat.NewVecDense(len(w), append([]float64(nil), w...)))
	zu.MulVec(p.u, mat.NewVecDense(len(lam), append([]float64(nil), lam...)))
	z.AddVec(&z, &zu)
	out, deriv = make([]float64, len(w)), make([]float64, len(w))
	for i := range out {
		out[i] = math.Tanh(z.AtVec(i))
		deriv[i] = 1 - out[i]*out[i]
	}
	return out, deriv
}

// ft returns f_t(λ) = E(w_t(λ)), w_0 = 0.
func (p *tanhHost) ft(lam []float64, t int) float64 {
	w := make([]float64, len(p.y))
	for range t {
		w, _ = p.phi(w, lam)
	}
	var e float64
	for i := range w {
		e += (w[i] - p.y[i]) * (w[i] - p.y[i]) / 2
	}
	return e
}

// reference returns the exact hypergradient: the fixed point to machine
// precision, then (I − Jᵀ)v = w − y by LU and ∇f = Uᵀ D v.
func (p *tanhHost) reference(t testing.TB, lam []float64) []float64 {
	t.Helper()
	d := len(p.y)
	w := make([]float64, d)
	var deriv []float64
	for range 400 { // q ≤ 0.8: 0.8⁴⁰⁰ ≈ 1e-39
		w, deriv = p.phi(w, lam)
	}
	a := mat.NewDense(d, d, nil)
	for i := range d {
		for j := range d {
			// (I − Jᵀ)_{ij} = δ_ij − J_{ji} = δ_ij − D_j M_{ji}
			v := -deriv[j] * p.m.At(j, i)
			if i == j {
				v++
			}
			a.Set(i, j, v)
		}
	}
	rhs := make([]float64, d)
	for i := range rhs {
		rhs[i] = w[i] - p.y[i]
	}
	var v mat.VecDense
	if err := v.SolveVec(a, mat.NewVecDense(d, rhs)); err != nil {
		t.Fatal(err)
	}
	for i := range d {
		v.SetVec(i, v.AtVec(i)*deriv[i])
	}
	var g mat.VecDense
	g.MulVec(p.u.T(), &v)
	return g.RawVector().Data
}

func tanhProblem(t testing.TB) *tanhMap {
	t.Helper()
	p, err := newTanhMap(newBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func estimateFP(t testing.TB, e hypergrad.FixedPointEstimator, p bilevel.FixedPoint, start *hypergrad.Start) *hypergrad.Result {
	t.Helper()
	res, err := e.EstimateFixedPoint(context.Background(), p, start)
	if err != nil {
		t.Fatalf("%v: %v", e, err)
	}
	return res
}

// TestFixedPointAIDSolversMatchReference: AID with every non-symmetric
// Krylov solver reaches the dense reference of the non-symmetric tanhMap to
// 1e-10 relative.
func TestFixedPointAIDSolversMatchReference(t *testing.T) {
	p := tanhProblem(t)
	lam := []float64{0.4, -0.3}
	want := newTanhHost().reference(t, lam)
	for _, s := range []krylov.Solver{krylov.GMRES{}, krylov.GMRES{Restart: 2}, krylov.BiCGStab{}, krylov.CGNE{}, krylov.Richardson{Step: 1}} {
		aid := &hypergrad.FixedPointAID{Solver: s, T: 300, K: 300, TolInner: 1e-15, TolLinear: 1e-15}
		res := estimateFP(t, aid, p, nil)
		if e := relErr(res.Hypergradient, want); e > 1e-10 {
			t.Errorf("%s: relative error %.3g (%d inner, %d linear iterations)", res.Method, e, res.InnerIters, res.LinearIters)
		}
		if res.Counts.JacTransVecs == 0 || res.Counts.HyperJacTransVecs != 1 || res.Counts.Maps != res.InnerIters {
			t.Errorf("%s: counts %+v", res.Method, res.Counts)
		}
		if _, ok := s.(krylov.CGNE); ok && res.Counts.JacVecs == 0 {
			t.Errorf("%s: CGNE made no products with ∂_wΦ", res.Method)
		}
	}
}

// TestFixedPointAIDRefusesCG: CG and MINRES need a symmetric operator, and
// I − ∂_wΦᵀ of tanhMap is not tagged symmetric.
func TestFixedPointAIDRefusesCG(t *testing.T) {
	p := tanhProblem(t)
	for _, s := range []krylov.Solver{krylov.CG{}, krylov.MINRES{}} {
		_, err := (&hypergrad.FixedPointAID{Solver: s, T: 10, K: 10}).EstimateFixedPoint(context.Background(), p, nil)
		var he *hypergrad.Error
		if !errors.Is(err, krylov.ErrNotSymmetric) || !errors.As(err, &he) || he.Phase != "linear" {
			t.Errorf("%v: got %v, want krylov.ErrNotSymmetric in the linear phase", s, err)
		}
	}
}

// TestFixedPointITDForwardEqualsReverse: forward- and reverse-mode ITD are
// the same gradient of f_t, which matches central differences of f_t.
func TestFixedPointITDForwardEqualsReverse(t *testing.T) {
	p := tanhProblem(t)
	host := newTanhHost()
	lam := []float64{0.4, -0.3}
	for _, T := range []int{1, 3, 12} {
		rev := estimateFP(t, &hypergrad.FixedPointITD{T: T}, p, nil)
		fwd := estimateFP(t, &hypergrad.FixedPointITD{T: T, Forward: true}, p, nil)
		if e := relErr(fwd.Hypergradient, rev.Hypergradient); e > 1e-12 {
			t.Errorf("T = %d: forward vs reverse relative difference %.3g", T, e)
		}
		fd := bileveltest.FDGradient(func(l []float64) float64 { return host.ft(l, T) }, lam)
		if e := relErr(rev.Hypergradient, fd); e > 1e-6 {
			t.Errorf("T = %d: reverse ITD vs finite differences of f_t: %.3g", T, e)
		}
		if fwd.Counts.JacVecs != 2*(T-1) || fwd.Counts.HyperJacVecs != 2*T || rev.Counts.JacTransVecs != T {
			t.Errorf("T = %d: counts forward %+v reverse %+v", T, fwd.Counts, rev.Counts)
		}
	}
}

// TestFixedPointITDCheckpointBits: checkpointed reverse mode gives the bits
// of stored reverse mode, truncated or not.
func TestFixedPointITDCheckpointBits(t *testing.T) {
	p := tanhProblem(t)
	for _, k := range []int{0, 1, 5, 17} {
		a := estimateFP(t, &hypergrad.FixedPointITD{T: 17, Truncate: k}, p, nil)
		b := estimateFP(t, &hypergrad.FixedPointITD{T: 17, Truncate: k, Checkpoint: true}, p, nil)
		for i := range a.Hypergradient {
			if a.Hypergradient[i] != b.Hypergradient[i] {
				t.Fatalf("K = %d: checkpointed %v, stored %v", k, b.Hypergradient, a.Hypergradient)
			}
		}
		if k > 0 && a.LinearIters != k {
			t.Errorf("K = %d: %d reverse steps", k, a.LinearIters)
		}
	}
}

// claimed wraps tanhMap with a contraction constant it does not have.
type claimed struct {
	*tanhMap
	q float64
}

func (c claimed) Contraction() (bilevel.Constant, error) {
	return bilevel.Constant{Value: c.q, Kind: bilevel.Bound}, nil
}

// TestFixedPointNotContraction: a step longer than the proven q allows, and
// steps growing without bound, fail with ErrNotContraction.
func TestFixedPointNotContraction(t *testing.T) {
	p := tanhProblem(t)
	_, err := (&hypergrad.FixedPointITD{T: 20}).EstimateFixedPoint(context.Background(), claimed{p, 0.05}, nil)
	if !errors.Is(err, hypergrad.ErrNotContraction) {
		t.Errorf("claimed q = 0.05: got %v, want ErrNotContraction", err)
	}
	// The true constant passes.
	if _, err := (&hypergrad.FixedPointITD{T: 20}).EstimateFixedPoint(context.Background(), claimed{p, 0.8}, nil); err != nil {
		t.Errorf("q = 0.8: %v", err)
	}
	// Gradient descent with a step far beyond 2/L diverges.
	r := ridge(t, 200, 10, 10, 1)
	c := exactConstants(t, r)
	gs, err := bilevel.NewGradientStep(r, 10/c.L.Value)
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	_, err = (&hypergrad.FixedPointAID{T: 200, K: 5}).EstimateFixedPoint(context.Background(), gs, &hypergrad.Start{W0: ones(r.InnerDim())})
	if !errors.Is(err, hypergrad.ErrNotContraction) {
		t.Errorf("α = 10/L: got %v, want ErrNotContraction", err)
	}
}

func ones(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = 1
	}
	return x
}

// TestGradientStepAdapter: on the optimisation problems through
// Φ = w − α∇g, fixed-point AID with CG, MINRES and GMRES reaches the exact
// reference, fixed-point ITD equals ITD through gradient descent, and
// forward mode equals reverse mode.
func TestGradientStepAdapter(t *testing.T) {
	probs := map[string]bilevel.Problem{
		"ridge":     ridge(t, 300, 12, 20, 2),
		"logreg":    logreg(t, 300, 12, 20, 2),
		"quadratic": quadratic(t, data.QuadraticOptions{M1: 30, M2: 40, D: 10, H: 5, Seed: 3}),
	}
	for name, p := range probs {
		gs, err := bilevel.NewGradientStep(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer gs.Close()
		want := reference(t, p).Hypergradient
		for _, s := range []krylov.Solver{krylov.CG{}, krylov.MINRES{}, krylov.GMRES{}} {
			res := estimateFP(t, &hypergrad.FixedPointAID{Solver: s, T: 3000, K: 200}, gs, nil)
			if e := relErr(res.Hypergradient, want); e > 1e-10 {
				t.Errorf("%s %s: relative error %.3g (%d inner, %d linear)", name, res.Method, e, res.InnerIters, res.LinearIters)
			}
		}
		const T = 25
		fp := estimateFP(t, &hypergrad.FixedPointITD{T: T}, gs, nil)
		itd := estimate(t, &hypergrad.ITD{Inner: hypergrad.GradientDescent{Step: gs.Alpha}, T: T}, p, nil)
		if e := relErr(fp.Hypergradient, itd.Hypergradient); e > 1e-12 {
			t.Errorf("%s: fixed-point ITD vs ITD(gd): %.3g", name, e)
		}
		if _, ok := p.(bilevel.CrossApplier); !ok {
			t.Errorf("%s: not a bilevel.CrossApplier", name)
			continue
		}
		fwd := estimateFP(t, &hypergrad.FixedPointITD{T: T, Forward: true}, gs, nil)
		if e := relErr(fwd.Hypergradient, fp.Hypergradient); e > 1e-12 {
			t.Errorf("%s: forward vs reverse ITD: %.3g", name, e)
		}
	}
}

// TestFixedPointSettings: invalid settings and warm starts are errors.
func TestFixedPointSettings(t *testing.T) {
	p := tanhProblem(t)
	ctx := context.Background()
	bad := []hypergrad.FixedPointEstimator{
		&hypergrad.FixedPointAID{T: -1},
		&hypergrad.FixedPointAID{K: -1},
		&hypergrad.FixedPointAID{TolInner: math.NaN()},
		&hypergrad.FixedPointITD{T: 3, Forward: true, Truncate: 1},
		&hypergrad.FixedPointITD{T: 3, Forward: true, Checkpoint: true},
		&hypergrad.FixedPointITD{T: 3, Forward: true, MaxBytes: 8},
	}
	for _, e := range bad {
		if _, err := e.EstimateFixedPoint(ctx, p, nil); !errors.Is(err, hypergrad.ErrInvalidSettings) {
			t.Errorf("%v: got %v, want ErrInvalidSettings", e, err)
		}
	}
	if _, err := (&hypergrad.FixedPointAID{T: 3, K: 3}).EstimateFixedPoint(ctx, p, &hypergrad.Start{W0: []float64{1}}); !errors.Is(err, hypergrad.ErrShape) {
		t.Errorf("short W0: got %v, want ErrShape", err)
	}
	if _, err := (&hypergrad.FixedPointAID{T: 3, K: 3}).EstimateFixedPoint(ctx, nil, nil); !errors.Is(err, hypergrad.ErrInvalidSettings) {
		t.Errorf("nil problem: got %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (&hypergrad.FixedPointITD{T: 3}).EstimateFixedPoint(cctx, p, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v", err)
	}
	_ = backend.Tanh
}

// TestAIDWithKrylovSolvers: AID on the optimisation problems with MINRES,
// GMRES, BiCGStab and CGNE of package krylov (hypergrad.Krylov) reaches the
// exact hypergradient, with the a posteriori bound certifying it where the
// constants are exact; CG through Krylov gives what the native
// ConjugateGradient gives to rounding.
func TestAIDWithKrylovSolvers(t *testing.T) {
	p := ridge(t, 400, 15, 50, 6)
	want := reference(t, p).Hypergradient
	for _, s := range []krylov.Solver{krylov.MINRES{}, krylov.GMRES{}, krylov.BiCGStab{}, krylov.CGNE{}, krylov.CG{}} {
		aid := &hypergrad.AID{Inner: hypergrad.Newton{}, Linear: hypergrad.Krylov{Solver: s}, T: 50, K: 400, TolInner: 1e-14, TolLinear: 1e-14}
		res := estimate(t, aid, p, nil)
		if e := relErr(res.Hypergradient, want); e > 1e-10 {
			t.Errorf("%s: relative error %.3g (%d linear iterations, %v)", res.Method, e, res.LinearIters, res.LinearStatus)
		}
		if res.LinearStatus != hypergrad.Converged || res.Bound.Value > 1e-9*norm(want) {
			t.Errorf("%s: %v, bound %.3g", res.Method, res.LinearStatus, res.Bound.Value)
		}
	}
	cg := estimate(t, &hypergrad.AID{Inner: hypergrad.Newton{}, T: 50, K: 8}, p, nil)
	kc := estimate(t, &hypergrad.AID{Inner: hypergrad.Newton{}, Linear: hypergrad.Krylov{Solver: krylov.CG{}}, T: 50, K: 8}, p, nil)
	if e := relErr(kc.Hypergradient, cg.Hypergradient); e > 1e-13 || kc.LinearIters != 8 {
		t.Errorf("8 CG iterations through Krylov vs ConjugateGradient: %.3g (%d iterations)", e, kc.LinearIters)
	}
	if _, err := (&hypergrad.AID{Linear: hypergrad.Krylov{}, T: 1, K: 1}).Estimate(context.Background(), p, nil); !errors.Is(err, hypergrad.ErrInvalidSettings) {
		t.Errorf("nil Krylov solver: %v", err)
	}
}

// TestFixedPointMonitor: the monitor sees the inner and the linear
// iterations of fixed-point AID, and its error stops the estimate.
func TestFixedPointMonitor(t *testing.T) {
	p := tanhProblem(t)
	var inner, linear int
	mon := func(pr hypergrad.Progress) error {
		switch pr.Phase {
		case hypergrad.PhaseInner:
			inner++
		case hypergrad.PhaseLinear:
			linear++
		}
		return nil
	}
	res := estimateFP(t, &hypergrad.FixedPointAID{T: 20, K: 5, Monitor: mon}, p, nil)
	if inner != res.InnerIters || linear != res.LinearIters+1 {
		t.Errorf("monitor saw %d inner and %d linear reports for %d and %d iterations", inner, linear, res.InnerIters, res.LinearIters)
	}
	stop := errors.New("stop")
	_, err := (&hypergrad.FixedPointAID{T: 20, K: 5, Monitor: func(pr hypergrad.Progress) error {
		if pr.Phase == hypergrad.PhaseLinear && pr.Iter == 2 {
			return stop
		}
		return nil
	}}).EstimateFixedPoint(context.Background(), p, nil)
	if !errors.Is(err, stop) {
		t.Errorf("monitor error: %v", err)
	}
}
