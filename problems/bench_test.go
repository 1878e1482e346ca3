package problems

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
)

// benchLogreg is logreg with n = 20000, d = 2000 (X is 320 MB): the size of
// the PyTorch comparison.
func benchLogreg(b *testing.B) (*Logreg, backend.Vector, backend.Vector) {
	b.Helper()
	o := data.DefaultSynthOptions()
	o.N, o.D, o.Kappa = 20000, 2000, 1e3
	s, err := data.SynthLogreg(o)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewLogreg(newCPU(b), s)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	w := bileveltest.Vec(b, p.Backend(), randomPoint(o.D, 1))
	dst := bileveltest.Vec(b, p.Backend(), make([]float64, o.D))
	if err := p.Linearize(w); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(o.N) * int64(o.D) * 8) // bytes of X per oracle call
	b.ResetTimer()
	return p, w, dst
}

func BenchmarkLogregInnerGrad(b *testing.B) {
	p, w, dst := benchLogreg(b)
	for b.Loop() {
		if err := p.InnerGrad(dst, w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLogregHessVec(b *testing.B) {
	p, w, dst := benchLogreg(b)
	for b.Loop() {
		if err := p.HessVec(dst, w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLogregLinearize(b *testing.B) {
	p, w, _ := benchLogreg(b)
	for b.Loop() {
		if err := p.Linearize(w); err != nil {
			b.Fatal(err)
		}
	}
}
