package problems

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// TestExtremeScalesNoPanic: synth:kappa=1e300,n=1,d=7 has Gram entries from
// 1.9 down to 1e-302, on which gonum's Dsterf panicked inside Constants.
// Constants now succeeds with the exact extremes (the Gram matrix of one
// row x is xxᵀ: λ_max = ‖x‖², the rest 0), and no call panics.
func TestExtremeScalesNoPanic(t *testing.T) {
	o := data.DefaultSynthOptions()
	o.N, o.D, o.Kappa = 1, 7, 1e300
	s, err := data.SynthRidge(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewRidge(newCPU(t), s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := p.Constants()
	if err != nil {
		t.Fatalf("Constants: %v", err)
	}
	x := s.XTrain.Data
	var xx float64
	for _, v := range x {
		xx += v * v
	}
	emin, emax := math.Exp(s.Lambda[0]), math.Exp(s.Lambda[0])
	if want := xx + emax; math.Abs(c.L.Value-want) > 1e-14*want {
		t.Errorf("L = %v, want ‖x‖² + e^λ = %v", c.L.Value, want)
	}
	// λ_min(A) = e^λ ≈ 1e-302 is below the eigensolver's rounding: μ is the
	// proven bound min e^λ.
	if c.Mu.Kind != bilevel.Bound || c.Mu.Value != emin {
		t.Errorf("μ = %v (%v), want the bound e^λ = %v", c.Mu.Value, c.Mu.Kind, emin)
	}
	// The reference fails with a typed error (A is singular to working
	// precision) or succeeds finite; it never panics.
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("Reference panicked: %v", r)
			}
		}()
		ref, err := p.Reference()
		if err != nil && !errors.Is(err, ErrNumerical) {
			t.Errorf("Reference: %v, want ErrNumerical", err)
		}
		if err == nil && !finiteAll(ref.Hypergradient, ref.W, ref.V) {
			t.Errorf("Reference not finite")
		}
	}()
}

// TestSymExtremesScaled: symExtremes is exact against a diagonal matrix
// whose entries span 1e-300…1e300, and wraps non-finite entries in
// ErrNumerical.
func TestSymExtremesScaled(t *testing.T) {
	for _, tc := range []struct{ lo, hi float64 }{{1e-300, 1e-290}, {3, 1e300}, {2e-310, 1}} {
		a := mat.NewSymDense(3, []float64{tc.hi, 0, 0, 0, tc.lo, 0, 0, 0, math.Sqrt(tc.lo) * math.Sqrt(tc.hi)})
		lo, hi, err := symExtremes(a)
		if err != nil {
			t.Fatalf("%v: %v", tc, err)
		}
		if hi != tc.hi || math.Abs(lo-tc.lo) > 1e-15*tc.hi {
			t.Errorf("%v: extremes %v, %v", tc, lo, hi)
		}
	}
	a := mat.NewSymDense(2, []float64{1, math.Inf(1), math.Inf(1), 1})
	if _, _, err := symExtremes(a); !errors.Is(err, ErrNumerical) {
		t.Errorf("Inf entry: %v, want ErrNumerical", err)
	}
}

// TestConstantsHonest: ridge with n < d has λ_min(XᵀX/n) = 0, so
// λ_min(A) = e^λ. At λ = −700 (e^λ ≈ 1e-304) the dense value is rounding:
// μ is the proven bound e^λ, of Kind Bound, never a negative "exact" μ.
// A μ that is not positive is ErrConstants.
func TestConstantsHonest(t *testing.T) {
	o := data.DefaultSynthOptions()
	o.N, o.D, o.Lambda, o.Seed = 20, 60, -700, 1
	s, err := data.SynthRidge(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewRidge(newCPU(t), s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := p.Constants()
	if err != nil {
		t.Fatal(err)
	}
	if c.Mu.Kind != bilevel.Bound || c.Mu.Value != math.Exp(-700) || !(c.Kappa() > 0) {
		t.Errorf("μ = %v (%v), κ = %v: want the bound e^−700 and κ > 0", c.Mu.Value, c.Mu.Kind, c.Kappa())
	}
	// A well-posed problem keeps its exact μ.
	o.N, o.Lambda = 200, math.NaN()
	s2, err := data.SynthRidge(o)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewRidge(newCPU(t), s2)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if c2, err := p2.Constants(); err != nil || c2.Mu.Kind != bilevel.Exact {
		t.Errorf("n > d: μ %+v, %v: want exact", c2.Mu, err)
	}

	exact := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Exact} }
	good := bilevel.Constants{Mu: exact(1), L: exact(2), Lf: exact(1), LA: exact(0), LB: exact(1), LEl: exact(0)}
	if err := checkConstants("test", good); err != nil {
		t.Errorf("good constants: %v", err)
	}
	for name, edit := range map[string]func(*bilevel.Constants){
		"negative μ":  func(c *bilevel.Constants) { c.Mu.Value = -3.8e-15 },
		"zero μ":      func(c *bilevel.Constants) { c.Mu.Value = 0 },
		"NaN μ":       func(c *bilevel.Constants) { c.Mu.Value = math.NaN() },
		"L below μ":   func(c *bilevel.Constants) { c.L.Value = 0.5 },
		"infinite L":  func(c *bilevel.Constants) { c.L.Value = math.Inf(1) },
		"NaN L_f":     func(c *bilevel.Constants) { c.Lf.Value = math.NaN() },
		"negative LB": func(c *bilevel.Constants) { c.LB.Value = -1 },
	} {
		bad := good
		edit(&bad)
		if err := checkConstants("test", bad); !errors.Is(err, ErrConstants) {
			t.Errorf("%s: %v, want ErrConstants", name, err)
		}
	}
}

// TestGuardRecovers: a panic inside a dense factorisation becomes an
// ErrNumerical error.
func TestGuardRecovers(t *testing.T) {
	err := guard("test", func() error {
		var eig mat.EigenSym
		eig.Factorize(mat.NewSymDense(2, nil), false)
		_ = eig.Values(make([]float64, 1)) // gonum panics: short destination
		return nil
	})
	if !errors.Is(err, ErrNumerical) {
		t.Errorf("guard: %v, want ErrNumerical", err)
	}
	if err := guard("test", func() error { return nil }); err != nil {
		t.Errorf("guard without panic: %v", err)
	}
}
