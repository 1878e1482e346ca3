package data

import (
	"errors"
	"hash/fnv"
	"math"
	"runtime"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// digest hashes every value of s bit for bit.
func digest(s *Supervised) uint64 {
	h := fnv.New64a()
	put := func(v []float64) {
		var b [8]byte
		for _, x := range v {
			u := math.Float64bits(x)
			for k := range b {
				b[k] = byte(u >> (8 * k))
			}
			h.Write(b[:])
		}
	}
	put(s.XTrain.Data)
	put(s.YTrain)
	put(s.XVal.Data)
	put(s.YVal)
	put(s.Lambda)
	return h.Sum64()
}

func TestSynthDeterministic(t *testing.T) {
	o := SynthOptions{N: 1000, M: 300, D: 13, Kappa: 50, Noise: 0.2, Lambda: math.NaN(), Seed: 42}
	for _, gen := range []struct {
		name string
		f    func(SynthOptions) (*Supervised, error)
	}{{"ridge", SynthRidge}, {"logreg", SynthLogreg}} {
		t.Run(gen.name, func(t *testing.T) {
			procs := runtime.GOMAXPROCS(0)
			defer runtime.GOMAXPROCS(procs)
			var first uint64
			for i, p := range []int{1, 2, 5} {
				runtime.GOMAXPROCS(p)
				s, err := gen.f(o)
				if err != nil {
					t.Fatal(err)
				}
				if d := digest(s); i == 0 {
					first = d
				} else if d != first {
					t.Fatalf("GOMAXPROCS=%d changed the data", p)
				}
			}
			o2 := o
			o2.Seed = 43
			s2, err := gen.f(o2)
			if err != nil {
				t.Fatal(err)
			}
			if digest(s2) == first {
				t.Error("seeds 42 and 43 gave the same data")
			}
		})
	}
}

// TestSynthGolden pins the generated bits, so that a change in the generator
// (or in math/rand/v2's PCG or NormFloat64) is noticed: data sets named by a
// synth: string must stay reproducible.
func TestSynthGolden(t *testing.T) {
	o := SynthOptions{N: 300, M: 40, D: 6, Kappa: 10, Noise: 0.1, Lambda: math.NaN(), Seed: 7}
	r, err := SynthRidge(o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := SynthLogreg(o)
	if err != nil {
		t.Fatal(err)
	}
	q, err := SynthQuadratic(QuadraticOptions{M1: 20, M2: 30, D: 4, H: 3, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	qs := &Supervised{XTrain: q.A, XVal: q.C, YTrain: q.B, YVal: q.E, Lambda: q.D.Data}
	got := []uint64{digest(r), digest(l), digest(qs)}
	want := []uint64{0xa33b056229dc8c5f, 0xb366527be6e11ac3, 0xe27e30ac31d6fa38} // amd64, Go 1.26
	for i, name := range []string{"ridge", "logreg", "quadratic"} {
		if got[i] != want[i] {
			t.Errorf("%s digest = %#x, want %#x", name, got[i], want[i])
		}
	}
}

func TestSynthShapesAndLabels(t *testing.T) {
	o := DefaultSynthOptions()
	o.N, o.D = 401, 9
	r, err := SynthRidge(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(RealLabels); err != nil {
		t.Fatal(err)
	}
	if r.XTrain.Rows != 401 || r.XTrain.Cols != 9 || r.XVal.Rows != 100 || r.XVal.Cols != 9 || len(r.Lambda) != 9 {
		t.Errorf("shapes %d×%d, %d×%d, lambda %d", r.XTrain.Rows, r.XTrain.Cols, r.XVal.Rows, r.XVal.Cols, len(r.Lambda))
	}
	if want := math.Log(1e-2 / 100); r.Lambda[0] != want || r.Lambda[8] != want {
		t.Errorf("default lambda %v, want %v", r.Lambda[0], want)
	}
	l, err := SynthLogreg(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Validate(BinaryLabels); err != nil {
		t.Fatal(err)
	}
	if !sameFloats(l.XTrain.Data, r.XTrain.Data) || !sameFloats(l.XVal.Data, r.XVal.Data) {
		t.Error("logreg and ridge features differ for the same seed")
	}
	pos := 0
	for _, y := range l.YTrain {
		if y == 1 {
			pos++
		}
	}
	if pos < 120 || pos > 280 {
		t.Errorf("%d of 401 labels are +1", pos)
	}
	// Small sizes: M defaults to at least 1.
	o = SynthOptions{N: 2, D: 1, Kappa: 1, Lambda: 0.5}
	s, err := SynthRidge(o)
	if err != nil {
		t.Fatal(err)
	}
	if s.XVal.Rows != 1 || s.Lambda[0] != 0.5 {
		t.Errorf("N=2: %d validation rows, lambda %v", s.XVal.Rows, s.Lambda)
	}
}

func TestSynthOptionErrors(t *testing.T) {
	base := DefaultSynthOptions()
	cases := []struct {
		mod func(o *SynthOptions)
		key string
	}{
		{func(o *SynthOptions) { o.N = 0 }, "n = 0"},
		{func(o *SynthOptions) { o.M = -1 }, "m = -1"},
		{func(o *SynthOptions) { o.D = 0 }, "d = 0"},
		{func(o *SynthOptions) { o.Kappa = 0.5 }, "kappa = 0.5"},
		{func(o *SynthOptions) { o.Kappa = math.NaN() }, "kappa = NaN"},
		{func(o *SynthOptions) { o.Noise = -1 }, "noise = -1"},
		{func(o *SynthOptions) { o.Noise = math.Inf(1) }, "noise = +Inf"},
		{func(o *SynthOptions) { o.Lambda = math.Inf(-1) }, "lambda = -Inf"},
	}
	for _, c := range cases {
		o := base
		c.mod(&o)
		_, err := SynthRidge(o)
		if !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: %v", c.key, err)
		}
	}
	o := base
	o.Noise = 0.6
	if _, err := SynthLogreg(o); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), "noise") {
		t.Errorf("logreg noise 0.6: %v", err)
	}
	if _, err := SynthQuadratic(QuadraticOptions{NumPy: true, Seed: 1 << 32}); !errors.Is(err, ErrOption) {
		t.Errorf("numpy seed 2^32: %v", err)
	}
	if _, err := SynthQuadratic(QuadraticOptions{Sigma: -1}); !errors.Is(err, ErrOption) {
		t.Errorf("sigma -1: %v", err)
	}
}

// TestSynthKappa checks κ(XᵀX/n) against the documented range
// [Kappa/ρ, Kappa·ρ], ρ = ((1+√(d/n))/(1−√(d/n)))².
func TestSynthKappa(t *testing.T) {
	const n, d, kappa = 4000, 40, 100.0
	s, err := SynthRidge(SynthOptions{N: n, D: d, Kappa: kappa, Noise: 0.1, Lambda: math.NaN(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	X := mat.NewDense(n, d, s.XTrain.Data)
	var G mat.SymDense
	G.SymOuterK(1/float64(n), X.T())
	var eig mat.EigenSym
	if !eig.Factorize(&G, false) {
		t.Fatal("EigenSym failed")
	}
	ev := eig.Values(nil) // ascending
	got := ev[d-1] / ev[0]
	r := math.Sqrt(float64(d) / n)
	rho := math.Pow((1+r)/(1-r), 2)
	t.Logf("κ(XᵀX/n) = %.2f, Kappa = %v, documented range [%.1f, %.1f]", got, kappa, kappa/rho, kappa*rho)
	if got < kappa/rho || got > kappa*rho {
		t.Errorf("κ(XᵀX/n) = %.2f outside [%.1f, %.1f]", got, kappa/rho, kappa*rho)
	}
	// With the default λ, κ(A) = κ(XᵀX/n + e^λ I) is also about Kappa.
	e := math.Exp(s.Lambda[0])
	kA := (ev[d-1] + e) / (ev[0] + e)
	if kA < kappa/rho || kA > kappa*rho {
		t.Errorf("κ(A) = %.2f outside [%.1f, %.1f]", kA, kappa/rho, kappa*rho)
	}
}

// TestSynthRidgeNoise checks the meaning of Noise: with Noise = 0 the labels
// are exactly linear in X; otherwise the least-squares residual is about
// Noise/√(1+Noise²) of ‖y‖.
func TestSynthRidgeNoise(t *testing.T) {
	for _, noise := range []float64{0, 0.3} {
		s, err := SynthRidge(SynthOptions{N: 3000, D: 10, Kappa: 10, Noise: noise, Lambda: math.NaN(), Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		X := mat.NewDense(3000, 10, s.XTrain.Data)
		y := mat.NewVecDense(3000, s.YTrain)
		var w, res mat.VecDense
		if err := w.SolveVec(X, y); err != nil {
			t.Fatal(err)
		}
		res.MulVec(X, &w)
		res.SubVec(y, &res)
		rel := mat.Norm(&res, 2) / mat.Norm(y, 2)
		want := noise / math.Sqrt(1+noise*noise)
		if math.Abs(rel-want) > 0.05*want+1e-12 {
			t.Errorf("noise %v: relative residual %.4f, want ≈ %.4f", noise, rel, want)
		}
	}
}
