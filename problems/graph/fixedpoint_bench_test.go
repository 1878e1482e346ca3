//go:build !cuda

package graph_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/krylov"
	"github.com/hypergrad-go/hypergrad/problems"
	"github.com/hypergrad-go/hypergrad/problems/graph"
)

// BenchmarkFixedPointOverhead times Map, JacTransVec, JacVec and a whole
// fixed-point AID estimate (GMRES, t = k = 30) of the equilibrium model
// (N = 2000, p = 50, k = 32, C = 10) written as Gorgonia graphs against the
// built-in problems.Equilibrium on the same data and backend. The
// contraction estimate of the graph problem is computed (and cached) before
// the timings.
func BenchmarkFixedPointOverhead(b *testing.B) {
	e, err := data.SynthEquilibrium(data.EquilibriumOptions{N: 2000, P: 50, K: 32, C: 10, Q: 0.9, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	be := cpu.New(cpu.Options{})
	defer be.Close()
	start := time.Now()
	gp, err := graph.NewFixedPoint(be, equilibriumSpec(e))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("graph.NewFixedPoint (build, compile, certify): %v", time.Since(start))
	defer gp.Close()
	start = time.Now()
	q, err := gp.Contraction()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("Contraction (power iteration, then cached): %.6g in %v", q.Value, time.Since(start))
	ref, err := problems.NewEquilibrium(be, e)
	if err != nil {
		b.Fatal(err)
	}
	defer ref.Close()
	d := ref.InnerDim()
	rng := rand.New(rand.NewPCG(1, 1))
	vec := func() backend.Vector {
		v, err := be.NewVector(d)
		if err != nil {
			b.Fatal(err)
		}
		be.Upload(v, randVec(rng, d, 0.5))
		return v
	}
	w, u, dst := vec(), vec(), vec()
	for _, c := range []struct {
		name string
		p    bilevel.FixedPoint
	}{{"graph", gp}, {"builtin", ref}} {
		if err := c.p.Linearize(w); err != nil {
			b.Fatal(err)
		}
		for _, o := range []struct {
			name string
			f    func() error
		}{
			{"Map", func() error { return c.p.Map(dst, w) }},
			{"JacTransVec", func() error { return c.p.JacTransVec(dst, u) }},
			{"JacVec", func() error { return c.p.JacVec(dst, u) }},
		} {
			b.Run(c.name+"/"+o.name, func(b *testing.B) {
				for b.Loop() {
					if err := o.f(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(c.name+"/AID", func(b *testing.B) {
			aid := &hypergrad.FixedPointAID{Solver: krylov.GMRES{}, T: 30, K: 30}
			for b.Loop() {
				if _, err := aid.EstimateFixedPoint(context.Background(), c.p, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
