package problems

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

// crossZoo is zoo() with the cases CrossApply branches on that zoo() lacks:
// a shared λ with the logistic loss, a quadratic problem with h = 1 and one
// with h > d.
func crossZoo() []named {
	quad := func(o data.QuadraticOptions) func(t testing.TB) bilevel.Problem {
		return func(t testing.TB) bilevel.Problem {
			q, err := data.SynthQuadratic(o)
			if err != nil {
				t.Fatal(err)
			}
			return mustQuadratic(t, q)
		}
	}
	return append(zoo(),
		named{"logreg-shared", func(t testing.TB) bilevel.Problem {
			s := synth(t, true, 60, 6, 20, 11)
			s.Lambda = []float64{-2.5}
			return mustLogreg(t, s)
		}},
		named{"quadratic-h1", quad(data.QuadraticOptions{M1: 20, M2: 15, D: 4, H: 1, Seed: 12})},
		named{"quadratic-wide", quad(data.QuadraticOptions{M1: 30, M2: 25, D: 5, H: 9, Seed: 13})},
	)
}

// TestCrossApplyChecks runs the shared checker (adjoint identity with
// CrossVec to 1e-13 of the terms, central differences of λ ↦ ∇_w g(w, λ)
// to 1e-6, determinism, shape errors) on every problem at random points.
func TestCrossApplyChecks(t *testing.T) {
	for _, z := range crossZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			for seed := uint64(1); seed <= 3; seed++ {
				bileveltest.CheckCrossApply(t, p, randomPoint(p.InnerDim(), 20+seed), bileveltest.Options{Seed: seed})
			}
			if err := p.Backend().Err(); err != nil {
				t.Errorf("backend error after the checks: %v", err)
			}
		})
	}
}

// glmOf returns the shared GLM implementation of a ridge or logreg problem.
func glmOf(t testing.TB, p bilevel.Problem) *glm {
	t.Helper()
	switch q := p.(type) {
	case *Ridge:
		return q.glm
	case *Logreg:
		return q.glm
	}
	t.Fatalf("%T is not a GLM problem", p)
	return nil
}

// denseCross builds B = ∇²_wλ g (d×h) on the host at w: diag(e^λ ⊙ w) for
// a per-feature λ, the column e^λ·w for a shared λ, 2DᵀC (gonum product)
// for the quadratic problem.
func denseCross(t testing.TB, p bilevel.Problem, w []float64) *mat.Dense {
	t.Helper()
	d, h := p.InnerDim(), p.HyperDim()
	if q, ok := p.(*Quadratic); ok {
		var bm mat.Dense
		bm.Mul(hostDense(q.host.D).T(), hostDense(q.host.C))
		bm.Scale(2, &bm)
		return &bm
	}
	lam := make([]float64, h)
	p.Hyper(lam)
	bm := mat.NewDense(d, h, nil)
	for j := 0; j < d; j++ {
		if h == 1 {
			bm.Set(j, 0, math.Exp(lam[0])*w[j])
		} else {
			bm.Set(j, j, math.Exp(lam[j])*w[j])
		}
	}
	return bm
}

// crossMagnitude returns a vector bounding the magnitudes of the terms that
// B u sums, componentwise: |B||u| for the GLMs, 2|D|ᵀ(|C||u|) for the
// quadratic problem.
func crossMagnitude(p bilevel.Problem, bm *mat.Dense, u []float64) []float64 {
	au := make([]float64, len(u))
	for i, x := range u {
		au[i] = math.Abs(x)
	}
	abs := func(m mat.Matrix) *mat.Dense {
		var a mat.Dense
		a.Apply(func(_, _ int, v float64) float64 { return math.Abs(v) }, m)
		return &a
	}
	var out mat.VecDense
	if q, ok := p.(*Quadratic); ok {
		var cu mat.VecDense
		cu.MulVec(abs(hostDense(q.host.C)), mat.NewVecDense(len(au), au))
		out.MulVec(abs(hostDense(q.host.D)).T(), &cu)
		out.ScaleVec(2, &out)
	} else {
		out.MulVec(abs(bm), mat.NewVecDense(len(au), au))
	}
	return out.RawVector().Data
}

// TestCrossApplyDense compares B u with the product of the dense B built on
// the host, to 1e-15 of the magnitude of its terms (a GLM entry is a
// product of three numbers; the quadratic problem sums in another order),
// at Linearize points and, for the GLMs, at a linearization stored in a
// slot (UseSlot), which CrossApply must follow.
func TestCrossApplyDense(t *testing.T) {
	for _, z := range crossZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			b := p.Backend()
			ca := p.(bilevel.CrossApplier)
			d, h := p.InnerDim(), p.HyperDim()
			dst := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(dst)
			check := func(what string, w []float64, seed uint64) {
				t.Helper()
				u := randomPoint(h, seed)
				uv := bileveltest.Vec(t, b, u)
				defer b.Free(uv)
				if err := ca.CrossApply(dst, uv); err != nil {
					t.Fatalf("%s: CrossApply: %v", what, err)
				}
				got := bileveltest.Host(t, b, dst)
				bm := denseCross(t, p, w)
				var want mat.VecDense
				want.MulVec(bm, mat.NewVecDense(h, u))
				mag := crossMagnitude(p, bm, u)
				for i := range got {
					e := math.Abs(got[i] - want.AtVec(i))
					if mag[i] > 0 {
						e /= mag[i]
					}
					if !(e <= 1e-15) {
						t.Errorf("%s: (B u)_%d = %.17g, dense %.17g (error %.3g of the terms' magnitude %.3g)", what, i, got[i], want.AtVec(i), e, mag[i])
					}
				}
			}
			for seed := uint64(1); seed <= 3; seed++ {
				w := randomPoint(d, 40+seed)
				wv := bileveltest.Vec(t, b, w)
				if err := p.Linearize(wv); err != nil {
					t.Fatal(err)
				}
				b.Free(wv) // Linearize keeps a copy
				check("Linearize", w, 50+seed)
			}
			if _, ok := p.(*Quadratic); ok {
				return
			}
			// A stored linearization: UseSlot makes it current for CrossApply,
			// and FreeSlots takes it away again.
			g := glmOf(t, p)
			if err := g.AllocSlots(2); err != nil {
				t.Fatal(err)
			}
			w := randomPoint(d, 60)
			wv := bileveltest.Vec(t, b, w)
			defer b.Free(wv)
			grad := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(grad)
			if err := g.InnerGradRecord(grad, wv, 1); err != nil {
				t.Fatal(err)
			}
			if err := g.UseSlot(1); err != nil {
				t.Fatal(err)
			}
			check("UseSlot", w, 61)
			g.FreeSlots()
			uv := bileveltest.Vec(t, b, make([]float64, h))
			defer b.Free(uv)
			if err := ca.CrossApply(dst, uv); !errors.Is(err, ErrNotLinearized) {
				t.Errorf("CrossApply after FreeSlots dropped the current slot: %v, want ErrNotLinearized", err)
			}
		})
	}
}

// TestCrossApplyErrors: ErrNotLinearized before any Linearize, and for wrong
// lengths and nil operands an error that leaves dst and the backend's error
// state untouched.
func TestCrossApplyErrors(t *testing.T) {
	for _, z := range crossZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			b := p.Backend()
			ca := p.(bilevel.CrossApplier)
			d, h := p.InnerDim(), p.HyperDim()
			dst := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(dst)
			u := bileveltest.Vec(t, b, randomPoint(h, 70))
			defer b.Free(u)
			if err := ca.CrossApply(dst, u); !errors.Is(err, ErrNotLinearized) {
				t.Errorf("CrossApply before Linearize: %v, want ErrNotLinearized", err)
			}
			w := bileveltest.Vec(t, b, randomPoint(d, 71))
			defer b.Free(w)
			if err := p.Linearize(w); err != nil {
				t.Fatal(err)
			}
			sentinel := make([]float64, d)
			for i := range sentinel {
				sentinel[i] = float64(i) + 0.5
			}
			for _, c := range []struct{ nd, nh int }{{d, h + 1}, {d + 1, h}, {d - 1, h}, {d, h - 1}, {h, d}} {
				if c.nd < 1 || c.nh < 1 || c.nd == d && c.nh == h {
					continue
				}
				dv := bileveltest.Vec(t, b, make([]float64, c.nd))
				uv := bileveltest.Vec(t, b, make([]float64, c.nh))
				b.Upload(dst, sentinel)
				if err := ca.CrossApply(dv, uv); err == nil {
					t.Errorf("len dst = %d, len u = %d (want %d, %d): no error", c.nd, c.nh, d, h)
				}
				if c.nd == d {
					if err := ca.CrossApply(dst, uv); err == nil {
						t.Errorf("len u = %d (want %d): no error", c.nh, h)
					}
					if got := bileveltest.Host(t, b, dst); bileveltest.RelErr(got, sentinel) != 0 {
						t.Errorf("len u = %d: dst was written: %v", c.nh, got)
					}
				}
				if err := b.Err(); err != nil {
					t.Errorf("len dst = %d, len u = %d: the backend recorded %v", c.nd, c.nh, err)
					b.ClearErr()
				}
				b.Free(dv)
				b.Free(uv)
			}
			if err := ca.CrossApply(nil, u); err == nil {
				t.Error("nil dst: no error")
			}
			if err := ca.CrossApply(dst, nil); err == nil {
				t.Error("nil u: no error")
			}
			if err := b.Err(); err != nil {
				t.Errorf("nil operands: the backend recorded %v", err)
			}
		})
	}
}

// TestCrossApplyNoAllocs: CrossApply allocates nothing on the host per call
// after the first.
func TestCrossApplyNoAllocs(t *testing.T) {
	for _, z := range crossZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			b := p.Backend()
			ca := p.(bilevel.CrossApplier)
			d, h := p.InnerDim(), p.HyperDim()
			dst := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(dst)
			u := bileveltest.Vec(t, b, randomPoint(h, 80))
			defer b.Free(u)
			w := bileveltest.Vec(t, b, randomPoint(d, 81))
			defer b.Free(w)
			if err := p.Linearize(w); err != nil {
				t.Fatal(err)
			}
			var err error
			call := func() {
				if e := ca.CrossApply(dst, u); e != nil && err == nil {
					err = e
				}
			}
			call()
			if a := testing.AllocsPerRun(50, call); a != 0 {
				t.Errorf("%v allocations per CrossApply", a)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGradientStepHyperJacVec: forward mode through the gradient-step map,
// ∂_λΦ·u = −αB u, against central differences of λ ↦ Φ(w, λ) along u.
func TestGradientStepHyperJacVec(t *testing.T) {
	for _, z := range crossZoo() {
		t.Run(z.name, func(t *testing.T) {
			p := z.p(t)
			b := p.Backend()
			s, err := bilevel.NewGradientStep(p, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			d, h := p.InnerDim(), p.HyperDim()
			w, u := randomPoint(d, 90), randomPoint(h, 91)
			wv, uv := bileveltest.Vec(t, b, w), bileveltest.Vec(t, b, u)
			defer b.Free(wv)
			defer b.Free(uv)
			dst := bileveltest.Vec(t, b, make([]float64, d))
			defer b.Free(dst)
			if err := s.Linearize(wv); err != nil {
				t.Fatal(err)
			}
			if err := s.HyperJacVec(dst, uv); err != nil {
				t.Fatal(err)
			}
			got := bileveltest.Host(t, b, dst)
			lam := make([]float64, h)
			p.Hyper(lam)
			step := bileveltest.Step(bileveltest.Norm(lam)) / bileveltest.Norm(u)
			mapAt := func(sg float64) []float64 {
				l := make([]float64, h)
				for i := range l {
					l[i] = lam[i] + sg*u[i]
				}
				if err := s.SetHyper(l); err != nil {
					t.Fatal(err)
				}
				if err := s.Map(dst, wv); err != nil {
					t.Fatal(err)
				}
				return bileveltest.Host(t, b, dst)
			}
			fp, fm := mapAt(step), mapAt(-step)
			if err := s.SetHyper(lam); err != nil {
				t.Fatal(err)
			}
			fd := make([]float64, d)
			for i := range fd {
				fd[i] = (fp[i] - fm[i]) / (2 * step)
			}
			if e := bileveltest.RelErr(got, fd); !(e <= 1e-6) {
				t.Errorf("HyperJacVec: relative error %.3g against central differences of Φ in λ\n got  %v\n want %v", e, got, fd)
			}
		})
	}
}
