package hypergrad_test

import (
	"context"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// newBackend returns the backend the estimator tests run on. A CUDA build
// can point this at its backend to run the same tests on the GPU.
var newBackend = func(t testing.TB) backend.Backend {
	b := cpu.New(cpu.Options{})
	t.Cleanup(func() { b.Close() })
	return b
}

func synthOpts(n, d int, kappa float64, seed uint64) data.SynthOptions {
	o := data.DefaultSynthOptions()
	o.N, o.D, o.Kappa, o.Seed = n, d, kappa, seed
	return o
}

func ridge(t testing.TB, n, d int, kappa float64, seed uint64) *problems.Ridge {
	t.Helper()
	s, err := data.SynthRidge(synthOpts(n, d, kappa, seed))
	if err != nil {
		t.Fatal(err)
	}
	p, err := problems.NewRidge(newBackend(t), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func logreg(t testing.TB, n, d int, kappa float64, seed uint64) *problems.Logreg {
	t.Helper()
	s, err := data.SynthLogreg(synthOpts(n, d, kappa, seed))
	if err != nil {
		t.Fatal(err)
	}
	p, err := problems.NewLogreg(newBackend(t), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func quadratic(t testing.TB, o data.QuadraticOptions) *problems.Quadratic {
	t.Helper()
	q, err := data.SynthQuadratic(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := problems.NewQuadratic(newBackend(t), q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func reference(t testing.TB, p bilevel.Problem) *bilevel.Reference {
	t.Helper()
	ref, err := p.(bilevel.Referencer).Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func estimate(t testing.TB, e hypergrad.Estimator, p bilevel.Problem, start *hypergrad.Start) *hypergrad.Result {
	t.Helper()
	res, err := e.Estimate(context.Background(), p, start)
	if err != nil {
		t.Fatalf("%v: %v", e, err)
	}
	return res
}

// exactConstants returns the dense constants of ridge or quadratic.
func exactConstants(t testing.TB, p bilevel.Problem) bilevel.Constants {
	t.Helper()
	type exact interface {
		ExactConstants() (bilevel.Constants, error)
	}
	c, err := p.(exact).ExactConstants()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var relErr = bileveltest.RelErr

func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

func norm(x []float64) float64 { return bileveltest.Norm(x) }

func newRidgeFrom(t testing.TB, s *data.Supervised) *problems.Ridge {
	t.Helper()
	p, err := problems.NewRidge(newBackend(t), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
