package hypergrad_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/krylov"
	"github.com/hypergrad-go/hypergrad/problems"
)

// fpbEquilibrium builds the equilibrium problem of o on the test backend,
// with its exact reference.
func fpbEquilibrium(t testing.TB, o data.EquilibriumOptions) (*problems.Equilibrium, *bilevel.Reference) {
	t.Helper()
	return fpbEquilibriumData(t, o, false)
}

// fpbEquilibriumData is fpbEquilibrium, with X stored as CSR with about a
// third of its entries dropped when csr is set.
func fpbEquilibriumData(t testing.TB, o data.EquilibriumOptions, csr bool) (*problems.Equilibrium, *bilevel.Reference) {
	t.Helper()
	e, err := data.SynthEquilibrium(o)
	if err != nil {
		t.Fatal(err)
	}
	if csr {
		x := e.X
		indptr := []int{0}
		var indices []int
		var vals []float64
		for i := 0; i < x.Rows; i++ {
			for j := 0; j < x.Cols; j++ {
				if (i+2*j)%3 != 0 {
					indices = append(indices, j)
					vals = append(vals, x.Data[i*x.Cols+j])
				}
			}
			indptr = append(indptr, len(indices))
		}
		e.X = data.NewCSR(x.Rows, x.Cols, indptr, indices, vals)
	}
	p, err := problems.NewEquilibrium(newBackend(t), e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ref, err := p.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return p, ref
}

// fpbGradientStep is the gradient-step map of p with α = 2/(L+μ).
func fpbGradientStep(t testing.TB, p bilevel.Problem) *bilevel.GradientStep {
	t.Helper()
	gs, err := bilevel.NewGradientStep(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gs.Close() })
	return gs
}

// checkFPBounds runs FixedPointAID over a grid of (T, K) and solvers and
// checks that every bound has kind want and is at least the true error
// less allow (the reference's own error); where the true error is above
// 1e-13, the bound must be within 1e6 of it. It logs the largest and the
// median ratio bound/error.
func checkFPBounds(t *testing.T, p bilevel.FixedPoint, ref *bilevel.Reference, solvers []krylov.Solver, want hypergrad.BoundKind, allow float64) {
	t.Helper()
	var ratios []float64
	checked := 0
	for _, s := range solvers {
		for _, T := range []int{1, 3, 10, 40, 150} {
			for _, K := range []int{0, 2, 30} {
				res := estimateFP(t, &hypergrad.FixedPointAID{Solver: s, T: T, K: K}, p, nil)
				name := fmt.Sprintf("%s T=%d K=%d", res.Method, T, K)
				b := res.Bound
				if b.Kind != want {
					t.Fatalf("%s: bound kind %v (%s), want %v", name, b.Kind, b.Note, want)
				}
				trueErr := norm(sub(res.Hypergradient, ref.Hypergradient))
				if !(b.Value >= trueErr-allow) {
					t.Errorf("%s: bound %.4g below the true error %.4g", name, b.Value, trueErr)
				}
				if sum := b.Linear + b.Inner + b.InnerSquared; b.Value != sum || !(b.Eps >= 0) || !(b.Residual >= 0) {
					t.Errorf("%s: bound %+v: Value is not Linear + Inner + InnerSquared (%v)", name, b, sum)
				}
				checked++
				if trueErr > 1e-13 {
					r := b.Value / trueErr
					ratios = append(ratios, r)
					if !(r <= 1e6) {
						t.Errorf("%s: bound %.4g is %.3g times the true error %.4g", name, b.Value, r, trueErr)
					}
				}
			}
		}
	}
	slices.Sort(ratios)
	if len(ratios) == 0 {
		t.Fatal("no estimate with an error above 1e-13")
	}
	t.Logf("%d bounds checked; bound/error over %d with error > 1e-13: min %.3g, median %.3g, max %.3g",
		checked, len(ratios), ratios[0], ratios[len(ratios)/2], ratios[len(ratios)-1])
}

// TestFixedPointAIDBoundSoundness: the a posteriori bound of fixed-point
// AID is certified and at least the true error on the equilibrium model
// (q = 0.5, 0.8 and 0.95, and 0.7 with CSR inputs; GMRES, BiCGStab, CGNE and Richardson) and on the
// gradient-step maps of ridge and quadratic (exact constants; GMRES and
// Richardson), over T ∈ [1, 150] and K ∈ [0, 30]; and within 1e6 of the
// error.
func TestFixedPointAIDBoundSoundness(t *testing.T) {
	all := []krylov.Solver{krylov.GMRES{}, krylov.Richardson{Step: 1}, krylov.BiCGStab{}, krylov.CGNE{}}
	for _, c := range []struct {
		name string
		o    data.EquilibriumOptions
		csr  bool
	}{
		{"equilibrium-q0.5", data.EquilibriumOptions{N: 40, P: 6, K: 4, C: 3, Q: 0.5, Seed: 31}, false},
		{"equilibrium-q0.8", data.EquilibriumOptions{N: 40, P: 6, K: 4, C: 3, Q: 0.8, Seed: 32}, false},
		{"equilibrium-q0.95", data.EquilibriumOptions{N: 30, P: 5, K: 5, C: 4, Q: 0.95, Seed: 33}, false},
		{"equilibrium-csr", data.EquilibriumOptions{N: 30, P: 5, K: 5, C: 4, Q: 0.7, Seed: 39}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, ref := fpbEquilibriumData(t, c.o, c.csr)
			// The reference's fixed point is accurate to 1e-12 per row.
			checkFPBounds(t, p, ref, all, hypergrad.BoundCertified, 1e-11*norm(ref.Hypergradient))
		})
	}
	t.Run("ridge", func(t *testing.T) {
		p := ridge(t, 200, 12, 50, 21)
		checkFPBounds(t, fpbGradientStep(t, p), reference(t, p), all[:2], hypergrad.BoundCertified, refAllowance*norm(reference(t, p).Hypergradient))
	})
	t.Run("quadratic", func(t *testing.T) {
		p := quadratic(t, data.QuadraticOptions{M1: 80, M2: 60, D: 8, H: 5, Seed: 23})
		checkFPBounds(t, fpbGradientStep(t, p), reference(t, p), all[:2], hypergrad.BoundCertified, refAllowance*norm(reference(t, p).Hypergradient))
	})
}

// TestFixedPointAIDBoundConverged: with both phases converged the bound is
// tiny (1e-9 of ‖∇f‖) and the true error below it.
func TestFixedPointAIDBoundConverged(t *testing.T) {
	p, ref := fpbEquilibrium(t, data.EquilibriumOptions{N: 40, P: 6, K: 4, C: 3, Q: 0.8, Seed: 34})
	res := estimateFP(t, &hypergrad.FixedPointAID{T: 1000, K: 200, TolInner: 1e-15, TolLinear: 1e-15}, p, nil)
	rn := norm(ref.Hypergradient)
	trueErr := norm(sub(res.Hypergradient, ref.Hypergradient))
	if res.Bound.Kind != hypergrad.BoundCertified || res.Bound.Value > 1e-9*rn || trueErr > res.Bound.Value+1e-11*rn {
		t.Errorf("converged: bound %+v, true error %.3g, ‖∇f‖ %.3g", res.Bound, trueErr, rn)
	}
	t.Logf("converged: bound %.3g, true error %.3g (‖∇f‖ = %.3g)", res.Bound.Value, trueErr, rn)
}

// TestFixedPointAIDBoundParts: the bound's parts follow its formula from the
// constants the problem reports (Δ = q‖w_t − w_{t−1}‖/(1 − q), the residual
// recomputed with one more JacTransVec), and the bound costs exactly that
// one product: the same estimate on the problem with its constants hidden
// has the same hypergradient, one JacTransVec fewer, and no bound.
func TestFixedPointAIDBoundParts(t *testing.T) {
	p, _ := fpbEquilibrium(t, data.EquilibriumOptions{N: 40, P: 6, K: 4, C: 3, Q: 0.8, Seed: 35})
	aid := &hypergrad.FixedPointAID{T: 12, K: 4}
	res := estimateFP(t, aid, p, nil)
	c, err := p.FixedPointConstants()
	if err != nil {
		t.Fatal(err)
	}
	b := res.Bound
	q := c.Q.Value
	s := 1 - q
	delta := math.Min(q*res.InnerResidual/s, c.Diameter.Value)
	le1, nu1, kn := c.LE1.Value, c.NuW.Value, b.CrossNorm
	vs := (b.OuterGradNorm + le1*delta) / s
	if den := 1 - nu1*delta/s; den > 0 {
		vs = math.Min(vs, (norm(res.V)+(b.Residual+le1*delta)/s)/den)
	}
	want := kn*b.Residual/s + (c.LE2.Value+kn*le1/s)*delta + (kn*nu1/s+c.NuL.Value)*delta*vs
	if math.Abs(b.Eps-delta) > 1e-15*delta || math.Abs(b.Value-want) > 1e-12*want {
		t.Errorf("bound %+v: want Δ = %v, value %v", b, delta, want)
	}
	// The residual is the true one: the solver's, at K = 4, is close to it.
	if math.Abs(b.Residual-res.LinearResidual) > 1e-8*b.OuterGradNorm {
		t.Errorf("residual %v, the solver's %v", b.Residual, res.LinearResidual)
	}
	plain := estimateFP(t, aid, hidden{p}, nil)
	if plain.Bound.Kind != hypergrad.BoundNone || !math.IsInf(plain.Bound.Value, 1) ||
		!strings.Contains(plain.Bound.Note, "FixedPointConstanter") {
		t.Errorf("without constants: bound %+v, want none naming bilevel.FixedPointConstanter", plain.Bound)
	}
	if d := res.Counts.JacTransVecs - plain.Counts.JacTransVecs; d != 1 {
		t.Errorf("the bound cost %d JacTransVecs, want 1", d)
	}
	if !slices.Equal(res.Hypergradient, plain.Hypergradient) {
		t.Errorf("the bound changed the hypergradient: %v vs %v", res.Hypergradient, plain.Hypergradient)
	}
}

// hidden is a fixed-point problem with only the bilevel.FixedPoint methods
// (no constants, no contraction).
type hidden struct{ bilevel.FixedPoint }

// withConstants overrides one constant of a fixed-point problem.
type withConstants struct {
	*problems.Equilibrium
	name string
	c    bilevel.Constant
}

func (w withConstants) FixedPointConstants() (bilevel.FixedPointConstants, error) {
	c, err := w.Equilibrium.FixedPointConstants()
	switch w.name {
	case "L_E2":
		c.LE2 = w.c
	case "ν2":
		c.NuL = w.c
	case "q":
		c.Q = w.c
	}
	return c, err
}

func (w withConstants) HyperJacNorm(v backend.Vector) (bilevel.Constant, error) {
	k, err := w.Equilibrium.HyperJacNorm(v)
	if w.name == "‖∂_λΦ‖" {
		k = w.c
	}
	return k, err
}

// TestFixedPointAIDBoundKinds: an estimated constant makes the bound an
// estimate, an unknown one (or q ≥ 1, or no fixed-point step) none, with a
// note naming it; the equilibrium model with ‖A‖₂ > 1 has no bound; and
// FixedPointITD has none.
func TestFixedPointAIDBoundKinds(t *testing.T) {
	p, _ := fpbEquilibrium(t, data.EquilibriumOptions{N: 40, P: 6, K: 4, C: 3, Q: 0.8, Seed: 36})
	aid := &hypergrad.FixedPointAID{T: 20, K: 5}
	for _, c := range []struct {
		p    bilevel.FixedPoint
		kind hypergrad.BoundKind
		note string
	}{
		{withConstants{p, "ν2", bilevel.Constant{Value: 3, Kind: bilevel.Estimate}}, hypergrad.BoundEstimate, "estimated constants: ν2"},
		{withConstants{p, "‖∂_λΦ‖", bilevel.Constant{Value: 3, Kind: bilevel.Estimate}}, hypergrad.BoundEstimate, "estimated constants: ‖∂_λΦ‖"},
		{withConstants{p, "L_E2", bilevel.Constant{Kind: bilevel.Unknown}}, hypergrad.BoundNone, "unknown constants: L_E2"},
		{withConstants{p, "q", bilevel.Constant{Value: 1, Kind: bilevel.Bound}}, hypergrad.BoundNone, "q = 1 is not below 1"},
		{withConstants{p, "", bilevel.Constant{}}, hypergrad.BoundCertified, ""},
	} {
		res := estimateFP(t, aid, c.p, nil)
		if res.Bound.Kind != c.kind || res.Bound.Note != c.note {
			t.Errorf("%s: bound %v (%q), want %v (%q)", c.p.(withConstants).name, res.Bound.Kind, res.Bound.Note, c.kind, c.note)
		}
		if (c.kind == hypergrad.BoundNone) != math.IsInf(res.Bound.Value, 1) {
			t.Errorf("%s: bound value %v with kind %v", c.p.(withConstants).name, res.Bound.Value, res.Bound.Kind)
		}
	}
	if res := estimateFP(t, &hypergrad.FixedPointAID{T: 0, K: 5}, p, nil); res.Bound.Kind != hypergrad.BoundNone || !strings.Contains(res.Bound.Note, "T = 0") {
		t.Errorf("T = 0: bound %+v, want none", res.Bound)
	}
	if res := estimateFP(t, &hypergrad.FixedPointITD{T: 20}, p, nil); res.Bound.Kind != hypergrad.BoundNone {
		t.Errorf("ITD: bound %+v, want none", res.Bound)
	}
	wide, _ := fpbEquilibrium(t, data.EquilibriumOptions{N: 40, P: 6, K: 4, C: 3, Q: 1.2, Seed: 37})
	if res := estimateFP(t, aid, wide, nil); res.Bound.Kind != hypergrad.BoundNone || res.Bound.Note != "unknown constants: q" {
		t.Errorf("‖A‖₂ = 1.2: bound %+v, want none (q unknown)", res.Bound)
	}
	// A gradient step whose problem is no CrossNormer has no ‖∂_λΦ‖.
	gs := fpbGradientStep(t, noCrossNorm{ridge(t, 100, 8, 20, 38)})
	if res := estimateFP(t, aid, gs, nil); res.Bound.Kind != hypergrad.BoundNone || !strings.Contains(res.Bound.Note, "CrossNormer") {
		t.Errorf("no CrossNormer: bound %+v, want none", res.Bound)
	}
}

// noCrossNorm hides the CrossNormer of a problem.
type noCrossNorm struct{ bilevel.Problem }
