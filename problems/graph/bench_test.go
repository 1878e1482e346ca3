//go:build !cuda

package graph_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/problems"
	"github.com/hypergrad-go/hypergrad/problems/graph"
)

// BenchmarkOverhead times InnerGrad and HessVec of logistic regression
// (n = 20000 training rows, d = 500 features, dense) written as a Gorgonia
// graph against the analytic problems.Logreg on the same data and backend.
func BenchmarkOverhead(b *testing.B) {
	o := data.DefaultSynthOptions()
	o.N, o.D, o.Seed = 20000, 500, 1
	s, err := data.SynthLogreg(o)
	if err != nil {
		b.Fatal(err)
	}
	be := cpu.New(cpu.Options{})
	defer be.Close()
	start := time.Now()
	gp, err := graph.New(be, logregSpec(s))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("graph.New (build, compile, certify): %v", time.Since(start))
	defer gp.Close()
	ap, err := problems.NewLogreg(be, s)
	if err != nil {
		b.Fatal(err)
	}
	defer ap.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	vec := func(scale float64) backend.Vector {
		v, err := be.NewVector(o.D)
		if err != nil {
			b.Fatal(err)
		}
		be.Upload(v, randVec(rng, o.D, scale))
		return v
	}
	w, v, dst := vec(0.05), vec(1), vec(0)
	for _, c := range []struct {
		name string
		p    bilevel.Problem
	}{{"graph", gp}, {"analytic", ap}} {
		if err := c.p.Linearize(w); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/InnerGrad", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.p.InnerGrad(dst, w); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/HessVec", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.p.HessVec(dst, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
