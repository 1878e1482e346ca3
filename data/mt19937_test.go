package data

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestNumpyRandomSeed0(t *testing.T) {
	r := newNumpyRandom(0)
	want := []float64{0.5488135039273248, 0.7151893663724195, 0.6027633760716439}
	for i, w := range want {
		if got := r.float64(); got != w {
			t.Errorf("rand()[%d] = %.17g, want %.17g", i, got, w)
		}
	}
	r = newNumpyRandom(0)
	wantN := []float64{1.764052345967664, 0.4001572083672233, 0.9787379841057392}
	for i, w := range wantN {
		if got := r.normFloat64(); got != w {
			t.Errorf("randn()[%d] = %.17g, want %.17g", i, got, w)
		}
	}
}

// quadConstants returns L = 2σmax(D)², μ = 2σmin(D)², L_f = 2σmax(A)² and
// ‖B‖ = 2‖DᵀC‖₂.
func quadConstants(t *testing.T, q *Quadratic) (L, mu, Lf, normB float64) {
	t.Helper()
	dense := func(m *Matrix) *mat.Dense { return mat.NewDense(m.Rows, m.Cols, m.Data) }
	sv := func(m mat.Matrix) []float64 {
		var svd mat.SVD
		if !svd.Factorize(m, mat.SVDNone) {
			t.Fatal("SVD failed")
		}
		return svd.Values(nil)
	}
	sD := sv(dense(q.D))
	sA := sv(dense(q.A))
	var DtC mat.Dense
	DtC.Mul(dense(q.D).T(), dense(q.C))
	sB := sv(&DtC)
	return 2 * sD[0] * sD[0], 2 * sD[len(sD)-1] * sD[len(sD)-1], 2 * sA[0] * sA[0], 2 * sB[0]
}

// TestSynthQuadraticNumPyDigest checks the NumPy-mode quadratic against the
// numbers that Ehrhardt & Roberts (2024) report for §4.1 (quadratic test problem)
// computed from the authors' generator with numpy seed 0, each to within half
// a unit of the digest's last digit. L, μ, L_f and ‖B‖ depend on A, C and D;
// ‖x*‖, ‖∇F‖ and ‖∇f(x*)‖ also on b and e, so every draw is covered.
func TestSynthQuadraticNumPyDigest(t *testing.T) {
	q, err := SynthQuadratic(QuadraticOptions{NumPy: true})
	if err != nil {
		t.Fatal(err)
	}
	if q.A.Rows != 1000 || q.A.Cols != 10 || q.C.Rows != 1000 || q.C.Cols != 10 || len(q.Theta) != 10 || q.Theta[9] != 1 {
		t.Fatalf("default shapes wrong")
	}
	L, mu, Lf, nB := quadConstants(t, q)

	A := mat.NewDense(q.A.Rows, q.A.Cols, q.A.Data)
	C := mat.NewDense(q.C.Rows, q.C.Cols, q.C.Data)
	D := mat.NewDense(q.D.Rows, q.D.Cols, q.D.Data)
	b := mat.NewVecDense(len(q.B), q.B)
	// x* = D⁺(e − Cθ), by least squares (D has full column rank).
	var rhs, xs mat.VecDense
	rhs.MulVec(C, mat.NewVecDense(len(q.Theta), q.Theta))
	rhs.SubVec(mat.NewVecDense(len(q.E), q.E), &rhs)
	if err := xs.SolveVec(D, &rhs); err != nil {
		t.Fatal(err)
	}
	// ∇F(θ) = 2 (A D⁺ C)ᵀ (b − A x*), ∇f(x*) = 2 Aᵀ(A x* − b).
	var DpC, M mat.Dense
	if err := DpC.Solve(D, C); err != nil {
		t.Fatal(err)
	}
	M.Mul(A, &DpC)
	var r, gF, gf mat.VecDense
	r.MulVec(A, &xs)
	r.SubVec(b, &r)
	gF.MulVec(M.T(), &r)
	gF.ScaleVec(2, &gF)
	gf.MulVec(A.T(), &r)
	gf.ScaleVec(-2, &gf)

	t.Logf("L=%.9g μ=%.9g κ=%.6g L_f=%.9g ‖B‖=%.9g ‖x*‖=%.6g ‖∇F‖=%.9g ‖∇f(x*)‖=%.9g",
		L, mu, L/mu, Lf, nB, mat.Norm(&xs, 2), mat.Norm(&gF, 2), mat.Norm(&gf, 2))
	for _, c := range []struct {
		name      string
		got, want float64
		unit      float64 // last digit of the digest's value
	}{
		{"L", L, 5108.13, 0.01},
		{"μ", mu, 145.603, 0.001},
		{"κ", L / mu, 35.08, 0.01},
		{"L_f", Lf, 5100.09, 0.01},
		{"‖B‖", nB, 4964.88, 0.01},
		{"‖x*‖", mat.Norm(&xs, 2), 0.9065, 0.0001},
		{"‖∇F‖", mat.Norm(&gF, 2), 5322.45, 0.01},
		{"‖∇f(x*)‖", mat.Norm(&gf, 2), 5452.99, 0.01},
	} {
		if math.Abs(c.got-c.want) > c.unit/2 {
			t.Errorf("%s = %.9g, digest %v", c.name, c.got, c.want)
		}
	}
}
