package problems

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

// spec2 returns the largest singular value of m.
func spec2(t testing.TB, m mat.Matrix) float64 {
	t.Helper()
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDNone) {
		t.Fatal("SVD did not converge")
	}
	return svd.Values(nil)[0]
}

// boxPoint returns an N×k state with entries uniform in [−scale, scale].
func boxPoint(rng *rand.Rand, d int, scale float64) []float64 {
	s := make([]float64, d)
	for i := range s {
		s[i] = scale * (2*rng.Float64() - 1)
	}
	return s
}

// TestEquilibriumTanhCurvature: c₂ = 4/(3√3) is max|tanh″|, to 1e-9 on a
// fine grid of tanh″ = −2 tanh (1 − tanh²).
func TestEquilibriumTanhCurvature(t *testing.T) {
	var m float64
	for i := -40000; i <= 40000; i++ {
		z := float64(i) * 1e-4
		th := math.Tanh(z)
		m = math.Max(m, math.Abs(2*th*(1-th*th)))
	}
	if m > eqTanh2 || eqTanh2-m > 1e-9 {
		t.Errorf("max|tanh″| on the grid = %.15g, c₂ = %.15g", m, eqTanh2)
	}
}

// TestEquilibriumFixedPointConstants checks each constant against its
// definition on sampled pairs: the Lipschitz ratios of ∇_SE, ∇_λE (from the
// oracles) and of the dense Jacobians ∂_SΦ and ∂_λΦ (built entry by entry,
// operator norms by SVD) never exceed L_E1, L_E2, ν1, ν2, on pairs in the
// box |S_ij| ≤ 1 (far apart and close together) and, for the global ν1 and
// L_E1, outside it; HyperJacNorm bounds ‖∂_λΦ(S)‖₂ at every sampled S, in
// the box or not. The largest ratios are logged.
func TestEquilibriumFixedPointConstants(t *testing.T) {
	b := newCPU(t)
	for _, z := range eqZoo(t)[:2] {
		t.Run(z.name, func(t *testing.T) {
			p := mustEq(t, b, z.e)
			c, err := p.FixedPointConstants()
			if err != nil {
				t.Fatal(err)
			}
			for name, k := range map[string]bilevel.Constant{"L_E1": c.LE1, "L_E2": c.LE2, "ν1": c.NuW, "ν2": c.NuL} {
				if k.Kind != bilevel.Bound || !(k.Value > 0) || math.IsInf(k.Value, 0) {
					t.Errorf("%s = %+v, want a positive finite Bound", name, k)
				}
			}
			if q, _ := p.Contraction(); c.Q != q {
				t.Errorf("Q = %+v, Contraction = %+v", c.Q, q)
			}
			lam := make([]float64, p.h)
			p.Hyper(lam)
			woNorm := spec2(t, mat.NewDense(p.k, p.c, lam[p.offWo:p.offBo]))
			if want := woNorm * woNorm / (2 * float64(p.n)); math.Abs(c.LE1.Value-want) > 1e-14*want {
				t.Errorf("L_E1 = %v, want ‖Wo‖₂²/(2N) = %v", c.LE1.Value, want)
			}

			d := p.d
			rng := rand.New(rand.NewPCG(11, 12))
			sv, s2v := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d))
			g1, g2 := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d))
			h1, h2 := bileveltest.Vec(t, b, make([]float64, p.h)), bileveltest.Vec(t, b, make([]float64, p.h))
			var worst [5]float64 // largest ratio / constant: L_E1, L_E2, ν1, ν2, ‖K‖
			check := func(s, s2 []float64, box bool) {
				var ds float64
				for i := range s {
					ds = math.Hypot(ds, s[i]-s2[i])
				}
				b.Upload(sv, s)
				b.Upload(s2v, s2)
				if err := p.OuterGrad(g1, sv); err != nil {
					t.Fatal(err)
				}
				if err := p.OuterGrad(g2, s2v); err != nil {
					t.Fatal(err)
				}
				if err := p.OuterHyperGrad(h1, sv); err != nil {
					t.Fatal(err)
				}
				if err := p.OuterHyperGrad(h2, s2v); err != nil {
					t.Fatal(err)
				}
				de1 := norm2(sub(bileveltest.Host(t, b, g1), bileveltest.Host(t, b, g2)))
				de2 := norm2(sub(bileveltest.Host(t, b, h1), bileveltest.Host(t, b, h2)))
				a, a2 := denseEq(p, lam, s), denseEq(p, lam, s2)
				var dj, dk mat.Dense
				dj.Sub(a.j, a2.j)
				dk.Sub(a.k, a2.k)
				ratios := []struct {
					name  string
					r, c  float64
					i     int
					boxed bool
				}{
					{"L_E1", de1 / ds, c.LE1.Value, 0, false},
					{"L_E2", de2 / ds, c.LE2.Value, 1, true},
					{"ν1", spec2(t, &dj) / ds, c.NuW.Value, 2, false},
					{"ν2", spec2(t, &dk) / ds, c.NuL.Value, 3, true},
				}
				for _, r := range ratios {
					if r.boxed && !box {
						continue
					}
					// 1e-6 relative covers the rounding of differences of
					// close points.
					if !(r.r <= r.c*(1+1e-6)) {
						t.Errorf("%s: sampled ratio %.6g > constant %.6g (‖ΔS‖ = %.3g, box %v)", r.name, r.r, r.c, ds, box)
					}
					worst[r.i] = math.Max(worst[r.i], r.r/r.c)
				}
				kn, err := p.HyperJacNorm(sv)
				if err != nil || kn.Kind != bilevel.Bound {
					t.Fatalf("HyperJacNorm: %+v, %v", kn, err)
				}
				if kt := spec2(t, a.k); !(kt <= kn.Value*(1+1e-12)) {
					t.Errorf("HyperJacNorm = %.6g < ‖∂_λΦ(S)‖₂ = %.6g", kn.Value, kt)
				} else {
					worst[4] = math.Max(worst[4], kt/kn.Value)
				}
			}
			for range 30 { // far apart in the box
				check(boxPoint(rng, d, 1), boxPoint(rng, d, 1), true)
			}
			for range 30 { // close together in the box
				s := boxPoint(rng, d, 0.999)
				s2 := append([]float64(nil), s...)
				for i := range s2 {
					s2[i] += 1e-4 * (2*rng.Float64() - 1)
				}
				check(s, s2, true)
			}
			for range 10 { // the corners of the box
				s, s2 := boxPoint(rng, d, 1), boxPoint(rng, d, 1)
				for i := range s {
					s[i] = math.Copysign(1, s[i])
				}
				check(s, s2, true)
			}
			for range 10 { // outside the box: the global constants
				check(boxPoint(rng, d, 4), boxPoint(rng, d, 4), false)
			}
			t.Logf("largest sampled ratio / constant: L_E1 %.3g, L_E2 %.3g, ν1 %.3g, ν2 %.3g, ‖K‖ %.3g",
				worst[0], worst[1], worst[2], worst[3], worst[4])
			// Fails if a constant were not tied to its quantity at all.
			for i, w := range worst {
				if !(w > 0.03) {
					t.Errorf("constant %d: largest sampled ratio only %.3g of it", i, w)
				}
			}
		})
	}
}

// TestEquilibriumConstantsFollowSetHyper: halving Wo quarters L_E1, halving
// A halves a_c and ‖A‖₂ (so ν1 is a quarter).
func TestEquilibriumConstantsFollowSetHyper(t *testing.T) {
	p := mustEq(t, newCPU(t), synthEq(t, 0.8, 5))
	c0, err := p.FixedPointConstants()
	if err != nil {
		t.Fatal(err)
	}
	lam := make([]float64, p.h)
	p.Hyper(lam)
	for j := range lam[:p.offB] {
		lam[j] /= 2
	}
	for j := p.offWo; j < p.offBo; j++ {
		lam[j] /= 2
	}
	if err := p.SetHyper(lam); err != nil {
		t.Fatal(err)
	}
	c1, err := p.FixedPointConstants()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name      string
		got, want float64
	}{
		{"q", c1.Q.Value, c0.Q.Value / 2},
		{"L_E1", c1.LE1.Value, c0.LE1.Value / 4},
		{"ν1", c1.NuW.Value, c0.NuW.Value / 4},
	} {
		if math.Abs(r.got-r.want) > 1e-13*r.want {
			t.Errorf("%s after halving A and Wo: %v, want %v", r.name, r.got, r.want)
		}
	}
}

// TestEquilibriumXNorm: ‖[X 1]‖₂ is exact (dense SVD, 1e-12) where the Gram
// matrix is cheap, and a bound within √(rank) of it otherwise (p = 600 >
// DenseLimit), for dense and CSR X; max_i ‖X_i‖² is exact.
func TestEquilibriumXNorm(t *testing.T) {
	wide, err := data.SynthEquilibrium(data.EquilibriumOptions{N: 24, P: 600, K: 3, C: 3, Q: 0.5, Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		e     *data.Equilibrium
		exact bool
	}{
		{"dense", synthEq(t, 0.8, 1), true},
		{"csr", eqWithCSR(synthEq(t, 0.8, 2)), true},
		{"wide", wide, false},
		{"wide-csr", eqWithCSR(wide), false},
	} {
		p := mustEq(t, newCPU(t), c.e)
		p.xNorms()
		x := c.e.X.ToDense()
		m := mat.NewDense(p.n, p.p+1, nil)
		var row2 float64
		for i := 0; i < p.n; i++ {
			var r float64
			for j := 0; j < p.p; j++ {
				v := x.Data[i*p.p+j]
				m.Set(i, j, v)
				r += v * v
			}
			m.Set(i, p.p, 1)
			row2 = math.Max(row2, r)
		}
		want := spec2(t, m)
		switch {
		case math.Abs(p.xRow2-row2) > 1e-12*row2:
			t.Errorf("%s: max ‖X_i‖² = %v, want %v", c.name, p.xRow2, row2)
		case c.exact && math.Abs(p.xOne-want) > 1e-12*want:
			t.Errorf("%s: ‖[X 1]‖₂ = %v, want %v", c.name, p.xOne, want)
		case !c.exact && !(p.xOne >= want*(1-1e-12) && p.xOne <= want*math.Sqrt(float64(p.n))):
			t.Errorf("%s: bound on ‖[X 1]‖₂ = %v, true %v", c.name, p.xOne, want)
		}
		t.Logf("%s: ‖[X 1]‖₂ = %.6g, bound %.6g", c.name, want, p.xOne)
	}
}

// TestEquilibriumHyperJacNormKeepsLinearization: HyperJacNorm leaves the
// linearization point alone (the products after it are those before).
func TestEquilibriumHyperJacNormKeepsLinearization(t *testing.T) {
	b := newCPU(t)
	p := mustEq(t, b, synthEq(t, 0.8, 1))
	s := bileveltest.Vec(t, b, randomPoint(p.d, 3))
	other := bileveltest.Vec(t, b, randomPoint(p.d, 4))
	u := bileveltest.Vec(t, b, randomPoint(p.d, 5))
	out := bileveltest.Vec(t, b, make([]float64, p.d))
	if err := p.Linearize(s); err != nil {
		t.Fatal(err)
	}
	if err := p.JacTransVec(out, u); err != nil {
		t.Fatal(err)
	}
	before := bileveltest.Host(t, b, out)
	if _, err := p.HyperJacNorm(other); err != nil {
		t.Fatal(err)
	}
	if err := p.JacTransVec(out, u); err != nil {
		t.Fatal(err)
	}
	for i, v := range bileveltest.Host(t, b, out) {
		if v != before[i] {
			t.Fatalf("JacTransVec changed after HyperJacNorm at %d: %v, was %v", i, v, before[i])
		}
	}
}

func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}
