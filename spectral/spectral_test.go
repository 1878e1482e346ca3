package spectral

import (
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// diagOp applies diag(ev) on the backend.
func diagOp(t *testing.T, b backend.Backend, ev []float64) func(dst, v backend.Vector) error {
	d, err := b.NewVector(len(ev))
	if err != nil {
		t.Fatal(err)
	}
	b.Upload(d, ev)
	return func(dst, v backend.Vector) error {
		b.MulElem(dst, 1, d, v, 0)
		return b.Err()
	}
}

func TestExtremes(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	for _, tc := range []struct {
		name string
		ev   []float64
	}{
		{"one", []float64{3}},
		{"two", []float64{-1, 5}},
		{"log-spaced", logSpaced(60, 1e-3, 1)},
		{"clustered-top", append(logSpaced(200, 1e-2, 0.5), 1, 0.9999)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, e := range tc.ev {
				lo, hi = math.Min(lo, e), math.Max(hi, e)
			}
			s, err := Extremes(b, len(tc.ev), diagOp(t, b, tc.ev), Options{MaxIter: 300})
			if err != nil {
				t.Fatal(err)
			}
			scale := math.Max(math.Abs(lo), math.Abs(hi))
			// Ritz values lie inside the spectrum and, once the residuals
			// are small, within them of the extremes.
			if s.Max > hi+1e-12*scale || s.Min < lo-1e-12*scale {
				t.Errorf("Ritz values [%v, %v] outside the spectrum [%v, %v]", s.Min, s.Max, lo, hi)
			}
			if math.Abs(s.Max-hi) > s.MaxResidual+1e-12*scale || math.Abs(s.Min-lo) > s.MinResidual+1e-12*scale {
				t.Errorf("[%v ± %v, %v ± %v] does not cover [%v, %v]", s.Min, s.MinResidual, s.Max, s.MaxResidual, lo, hi)
			}
			if math.Abs(s.Max-hi) > 1e-8*scale || math.Abs(s.Min-lo) > 1e-8*scale {
				t.Errorf("after %d steps: [%v, %v], want [%v, %v]", s.Iters, s.Min, s.Max, lo, hi)
			}
		})
	}
	if _, err := Extremes(b, 0, nil, Options{}); err == nil {
		t.Error("n = 0 accepted")
	}
}

func logSpaced(n int, lo, hi float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo * math.Pow(hi/lo, float64(i)/float64(n-1))
	}
	return out
}
