package hypergrad_test

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// linearErrors runs AID with the given linear solver on ridge100 after an
// inner solve converged to machine precision, and returns ‖q_i − q*‖ for
// i = 0..K, q* = A⁻¹∇_wE(w*) from the dense reference (A is constant for
// ridge, so q* is the solution of the system the solver sees).
func linearErrors(t *testing.T, p bilevel.Problem, lin hypergrad.LinearSolver, k int) []float64 {
	t.Helper()
	ref := reference(t, p)
	b := p.Backend()
	var errs []float64
	aid := &hypergrad.AID{Inner: hypergrad.HeavyBall{}, Linear: lin, T: 600, K: k,
		Monitor: func(pr hypergrad.Progress) error {
			if pr.Phase == hypergrad.PhaseLinear {
				errs = append(errs, norm(sub(bileveltest.Host(t, b, pr.X), ref.V)))
			}
			return nil
		}}
	res := estimate(t, aid, p, nil)
	if e := relErr(res.W, ref.W); e > 1e-13 {
		t.Fatalf("inner solve not converged: relative error %.3g", e)
	}
	if len(errs) != k+1 {
		t.Fatalf("monitor saw %d linear iterates, want %d", len(errs), k+1)
	}
	return errs
}

// fitRate returns the least-squares slope r of log e_i against i over the
// iterations where e_i lies in [lo, hi] (the asymptotic phase, above the
// rounding floor), as a contraction factor per iteration.
func fitRate(errs []float64, lo, hi float64) (r float64, n int) {
	var sx, sy, sxx, sxy float64
	for i, e := range errs {
		if e < lo || e > hi {
			continue
		}
		x, y := float64(i), math.Log(e)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		n++
	}
	fn := float64(n)
	return math.Exp((fn*sxy - sx*sy) / (fn*sxx - sx*sx)), n
}

// TestFixedPointRate: the AID-FP linear-solve error contracts by
// q = (κ−1)/(κ+1) per iteration with α = 2/(L+μ), μ and L the exact extreme
// eigenvalues of A (Grazzi et al. 2020, AID-FP: σ(k) = q^k).
func TestFixedPointRate(t *testing.T) {
	p := ridge100(t)
	c := exactConstants(t, p)
	kappa := c.Kappa()
	q := (kappa - 1) / (kappa + 1)
	alpha := 2 / (c.L.Value + c.Mu.Value)
	errs := linearErrors(t, p, hypergrad.FixedPoint{Step: alpha}, 1500)
	r, n := fitRate(errs, 1e-11*errs[0], 1e-3*errs[0])
	t.Logf("κ = %.4g, q = %.6f, fitted r = %.6f over %d iterations, ln r/ln q = %.4f", kappa, q, r, n, math.Log(r)/math.Log(q))
	if n < 100 {
		t.Fatalf("only %d iterations in the fitting window", n)
	}
	if d := math.Abs(math.Log(r)/math.Log(q) - 1); !(d <= 0.1) {
		t.Errorf("|ln r/ln q − 1| = %.3g > 0.1", d)
	}
}

// TestConjugateGradientBound: the AID-CG error stays under
// 2√κ((√κ−1)/(√κ+1))^k ‖q_0 − q*‖ (Euclidean form of Nocedal & Wright eq.
// 5.36) for every k where the bound is above 1e3·ε relative.
func TestConjugateGradientBound(t *testing.T) {
	p := ridge100(t)
	c := exactConstants(t, p)
	sk := math.Sqrt(c.Kappa())
	rho := (sk - 1) / (sk + 1)
	errs := linearErrors(t, p, hypergrad.ConjugateGradient{}, 20) // d = 20: CG terminates
	checked := 0
	for k, e := range errs {
		bound := 2 * sk * math.Pow(rho, float64(k)) * errs[0]
		if bound/errs[0] < 1e3*0x1p-52 {
			break
		}
		checked++
		if e > bound {
			t.Errorf("k = %d: error %.3g above the bound %.3g", k, e, bound)
		}
	}
	t.Logf("checked %d iterations; error at k = 20: %.3g relative", checked, errs[len(errs)-1]/errs[0])
	if checked < 10 {
		t.Errorf("only %d iterations checked", checked)
	}
}

// TestFixedPointIsNeumannSum: AID-FP with k iterations from q_0 = 0 equals
// α times the k-term Neumann sum Σ_{i<k} (I − αA)^i ∇_wE, i.e. Grazzi et
// al.'s v = Σ_{i<k} (Jᵀ)^i ∇_wE with J = I − αA, computed here directly with
// Hessian-vector products at the same w_t.
func TestFixedPointIsNeumannSum(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    func(testing.TB) bilevel.Problem
	}{{"ridge", ridge100}, {"logreg", logregTest}} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p(t)
			const k = 37
			res := estimate(t, &hypergrad.AID{Linear: hypergrad.FixedPoint{}, T: 25, K: k}, p, nil)
			b, d := p.Backend(), p.InnerDim()
			alpha := res.LinearStep
			w := bileveltest.Vec(t, b, res.W)
			if err := p.Linearize(w); err != nil {
				t.Fatal(err)
			}
			term := bileveltest.Vec(t, b, make([]float64, d))
			if err := p.OuterGrad(term, w); err != nil {
				t.Fatal(err)
			}
			sum := bileveltest.Vec(t, b, make([]float64, d))
			av := bileveltest.Vec(t, b, make([]float64, d))
			for i := 0; i < k; i++ {
				b.Axpy(1, term, sum)
				if err := p.HessVec(av, term); err != nil {
					t.Fatal(err)
				}
				b.Axpy(-alpha, av, term) // term ← (I − αA) term
			}
			b.Scal(alpha, sum)
			neumann := bileveltest.Host(t, b, sum)
			if e := relErr(res.V, neumann); !(e <= 1e-12) {
				t.Errorf("AID-FP q_k vs α·Neumann sum: relative difference %.3g", e)
			}
		})
	}
}

// TestITDEqualsAIDOnQuadratic: with constant Jacobians (quadratic: A and B
// do not depend on w), ITD through t steps equals AID with k = t linear
// iterations at the same w_t: gradient descent ↔ fixed point (Grazzi et al.
// 2020) and heavy ball ↔ heavy ball on the linear system (Ehrhardt & Roberts
// 2024 §3.2), with the same α and β.
func TestITDEqualsAIDOnQuadratic(t *testing.T) {
	p := quadratic(t, data.QuadraticOptions{Seed: 7})
	c := exactConstants(t, p)
	alpha := 2 / (c.L.Value + c.Mu.Value)
	for _, tt := range []int{1, 2, 10, 60} {
		itd := estimate(t, &hypergrad.ITD{Inner: hypergrad.GradientDescent{Step: alpha}, T: tt}, p, nil)
		aid := estimate(t, &hypergrad.AID{Inner: hypergrad.GradientDescent{Step: alpha},
			Linear: hypergrad.FixedPoint{Step: alpha}, T: tt, K: tt}, p, nil)
		if e := relErr(itd.Hypergradient, aid.Hypergradient); !(e <= 1e-12) {
			t.Errorf("t = %d: ITD(gd) vs AID-FP: relative difference %.3g", tt, e)
		}
		hb := hypergrad.HeavyBall{}
		itdHB := estimate(t, &hypergrad.ITD{Inner: hb, T: tt}, p, nil)
		aidHB := estimate(t, &hypergrad.AID{Inner: hb, Linear: hypergrad.HeavyBallLinear{}, T: tt, K: tt}, p, nil)
		if e := relErr(itdHB.Hypergradient, aidHB.Hypergradient); !(e <= 1e-12) {
			t.Errorf("t = %d: ITD(hb) vs AID-HB: relative difference %.3g", tt, e)
		}
	}
}

// TestITDMatchesFiniteDifferences: ITD is the exact gradient of the
// truncated objective f_t(λ) = E(w_t(λ), λ) with w_0, α and β held fixed;
// f_t is evaluated here by an independent forward loop over the oracles.
func TestITDMatchesFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    func(testing.TB) bilevel.Problem
	}{
		{"ridge", func(t testing.TB) bilevel.Problem { return ridge(t, 60, 6, 30, 8) }},
		{"ridge-shared", func(t testing.TB) bilevel.Problem {
			s, err := data.SynthRidge(synthOpts(60, 6, 30, 9))
			if err != nil {
				t.Fatal(err)
			}
			s.Lambda = []float64{-2}
			return newRidgeFrom(t, s)
		}},
		{"logreg", func(t testing.TB) bilevel.Problem { return logreg(t, 80, 5, 10, 10) }},
		{"quadratic", func(t testing.TB) bilevel.Problem {
			return quadratic(t, data.QuadraticOptions{M1: 40, M2: 30, D: 6, H: 4, Seed: 11})
		}},
	} {
		for _, inner := range []string{"gd", "hb"} {
			t.Run(tc.name+"/"+inner, func(t *testing.T) {
				p := tc.p(t)
				c, err := p.Constants()
				if err != nil {
					t.Fatal(err)
				}
				// Fixed steps, deliberately not the optimal ones.
				alpha, beta := 1.5/(c.L.Value+c.Mu.Value), 0.0
				var solver hypergrad.InnerSolver = hypergrad.GradientDescent{Step: alpha}
				if inner == "hb" {
					beta = 0.3
					solver = hypergrad.HeavyBall{Step: alpha, Momentum: beta}
				}
				const steps = 30
				d := p.InnerDim()
				w0 := make([]float64, d)
				for i := range w0 {
					w0[i] = 0.1 * float64(i%3-1)
				}
				res := estimate(t, &hypergrad.ITD{Inner: solver, T: steps}, p, &hypergrad.Start{W0: w0})
				lam := make([]float64, p.HyperDim())
				p.Hyper(lam)
				ft := func(l []float64) float64 { return truncatedObjective(t, p, l, w0, alpha, beta, steps) }
				fd := bileveltest.FDGradient(ft, lam)
				if err := p.SetHyper(lam); err != nil {
					t.Fatal(err)
				}
				if e := relErr(res.Hypergradient, fd); !(e <= 1e-6) {
					t.Errorf("ITD vs central differences of f_t: relative error %.3g\n itd %v\n fd  %v", e, res.Hypergradient, fd)
				}
			})
		}
	}
}

// truncatedObjective evaluates f_t(λ) = E(w_t(λ)) with w_{k+1} = w_k −
// α∇g(w_k) + β(w_k − w_{k−1}), w_{−1} = w_0.
func truncatedObjective(t testing.TB, p bilevel.Problem, lam, w0 []float64, alpha, beta float64, steps int) float64 {
	t.Helper()
	if err := p.SetHyper(lam); err != nil {
		t.Fatal(err)
	}
	b := p.Backend()
	w, prev := bileveltest.Vec(t, b, w0), bileveltest.Vec(t, b, w0)
	g := bileveltest.Vec(t, b, make([]float64, len(w0)))
	defer func() {
		for _, v := range []backend.Vector{w, prev, g} {
			b.Free(v)
		}
	}()
	for k := 0; k < steps; k++ {
		if err := p.InnerGrad(g, w); err != nil {
			t.Fatal(err)
		}
		b.Axpby(1+beta, w, -beta, prev)
		b.Axpy(-alpha, g, prev)
		w, prev = prev, w
	}
	e, err := p.OuterValue(w)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestConjugateGradientDirectionUpdate guards the direction update
// p_{k+1} = r_{k+1} + β_k p_k with the new residual r_{k+1} (using the old
// residual there, as Betty's CG once did, breaks conjugacy). Correct CG
// iterates minimise the A-norm error over the Krylov space
// K_k = span{b, Ab, …, A^{k−1}b}, q_k = V(VᵀAV)⁻¹Vᵀb for an orthonormal basis V
// of K_k, and terminate at the exact solution after about d iterations.
func TestConjugateGradientDirectionUpdate(t *testing.T) {
	p := quadratic(t, data.QuadraticOptions{M1: 50, M2: 40, D: 8, H: 3, Seed: 12})
	q := p.Data()
	b := p.Backend()
	res0 := estimate(t, &hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 400, K: 0}, p, nil)
	var iterates [][]float64
	aid := &hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 400, K: 10,
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
	// Dense A = 2DᵀD and right-hand side ∇_wE(w_t) = 2Aᵀ(Aw_t − b).
	dm := mat.NewDense(q.D.Rows, q.D.Cols, q.D.Data)
	var a mat.Dense
	a.Mul(dm.T(), dm)
	a.Scale(2, &a)
	am := mat.NewDense(q.A.Rows, q.A.Cols, q.A.Data)
	var r mat.VecDense
	r.MulVec(am, mat.NewVecDense(len(res.W), res.W))
	r.SubVec(&r, mat.NewVecDense(len(q.B), q.B))
	var rhs mat.VecDense
	rhs.MulVec(am.T(), &r)
	rhs.ScaleVec(2, &rhs)
	d := len(res.W)
	var exact mat.VecDense
	if err := exact.SolveVec(&a, &rhs); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 4; k++ {
		// Orthonormal Krylov basis by QR of [b, Ab, …].
		kry := mat.NewDense(d, k, nil)
		col := mat.VecDenseCopyOf(&rhs)
		for j := 0; j < k; j++ {
			kry.SetCol(j, col.RawVector().Data)
			var next mat.VecDense
			next.MulVec(&a, col)
			col = &next
		}
		var qr mat.QR
		qr.Factorize(kry)
		var qfull mat.Dense
		qr.QTo(&qfull)
		v := qfull.Slice(0, d, 0, k)
		var vav, tmp mat.Dense
		tmp.Mul(&a, v)
		vav.Mul(v.T(), &tmp)
		var vb, y, want mat.VecDense
		vb.MulVec(v.T(), &rhs)
		if err := y.SolveVec(&vav, &vb); err != nil {
			t.Fatal(err)
		}
		want.MulVec(v, &y)
		if e := relErr(iterates[k], want.RawVector().Data); !(e <= 1e-9) {
			t.Errorf("q_%d differs from the Krylov minimiser by %.3g relative", k, e)
		}
	}
	// In floating point, finite termination may slip by an iteration or two
	// (here: 1.2e-8 at k = d, 7e-16 at k = d+1; a plain gonum CG gives the same).
	if e := relErr(iterates[d+2], exact.RawVector().Data); !(e <= 1e-12) {
		t.Errorf("after d+2 = %d iterations CG is %.3g from the exact solution (no finite termination)", d+2, e)
	}
}
