package hypergrad_test

import (
	"context"
	"testing"

	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// benchmarkEstimator times one hypergradient of logreg with n = 5000,
// d = 500 (t = k = 50).
func benchmarkEstimator(b *testing.B, e hypergrad.Estimator) {
	o := data.DefaultSynthOptions()
	o.N, o.D, o.Kappa = 5000, 500, 1e3
	s, err := data.SynthLogreg(o)
	if err != nil {
		b.Fatal(err)
	}
	p, err := problems.NewLogreg(newBackend(b), s)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Constants(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.Estimate(ctx, p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAIDCG(b *testing.B) { benchmarkEstimator(b, &hypergrad.AID{T: 50, K: 50}) }
func BenchmarkAIDFP(b *testing.B) {
	benchmarkEstimator(b, &hypergrad.AID{Linear: hypergrad.FixedPoint{}, T: 50, K: 50})
}
func BenchmarkITD(b *testing.B) { benchmarkEstimator(b, &hypergrad.ITD{T: 50}) }
func BenchmarkAIDCGHB(b *testing.B) {
	benchmarkEstimator(b, &hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 50, K: 50})
}
