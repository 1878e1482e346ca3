package data

import (
	"math"
	"path/filepath"
	"testing"
)

// BenchmarkLoadSupervised loads a 4000×500 float64 problem (16 MB of X_train);
// the MB/s figure is bytes of X_train per second.
func BenchmarkLoadSupervised(b *testing.B) {
	s, err := SynthRidge(SynthOptions{N: 4000, M: 10, D: 500, Kappa: 10, Lambda: math.NaN()})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench.npz")
	if err := SaveSupervised(path, s); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(8 * len(s.XTrain.Data)))
	for b.Loop() {
		if _, err := LoadSupervised(path, RealLabels); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSynthRidge generates a 4000×500 problem.
func BenchmarkSynthRidge(b *testing.B) {
	o := SynthOptions{N: 4000, M: 10, D: 500, Kappa: 10, Lambda: math.NaN()}
	b.SetBytes(int64(8 * o.N * o.D))
	for b.Loop() {
		if _, err := SynthRidge(o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveSupervised writes a 4000×500 problem.
func BenchmarkSaveSupervised(b *testing.B) {
	s, err := SynthRidge(SynthOptions{N: 4000, M: 10, D: 500, Kappa: 10, Lambda: math.NaN()})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench.npz")
	b.SetBytes(int64(8 * len(s.XTrain.Data)))
	for b.Loop() {
		if err := SaveSupervised(path, s); err != nil {
			b.Fatal(err)
		}
	}
}
