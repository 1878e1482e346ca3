//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
)

// TestCGStep: CGStep's kernels give the bits of backendtest.CGStepRef (the
// step done with the backend's own Dot, Axpy and Axpby and the scalars on the
// host) on every vector and every entry of the state, step after step, with
// each way to stop: pᵀAp ≤ 0, pᵀAp = NaN, the residual norm at the
// tolerance, at the floor, and not finite. Then the operand checks.
func TestCGStep(t *testing.T) {
	b := open(t)
	defer b.Close()
	const n, steps = 5003, 6
	type stepFn func(st backend.Vector, j int, q, r, p, ap backend.Vector, tol, floor float64)
	ref := func(st backend.Vector, j int, q, r, p, ap backend.Vector, tol, floor float64) {
		backendtest.CGStepRef(b, st, j, q, r, p, ap, tol, floor)
	}
	cases := []struct {
		name       string
		tol, floor float64
		ap         func(j int, p, ap []float64) // ap of step j from p
		stopAt     int                          // the step after which st[0] = 1; steps: never
	}{
		{"run", 0, 0, nil, steps},
		{"pap ≤ 0 at step 2", 0, 0, func(j int, p, ap []float64) {
			if j == 2 {
				for i := range ap {
					ap[i] = -p[i]
				}
			}
		}, 2},
		{"pap NaN at step 1", 0, 0, func(j int, p, ap []float64) {
			if j == 1 {
				ap[17] = math.NaN()
			}
		}, 1},
		{"residual Inf at step 3", 0, 0, func(j int, p, ap []float64) {
			if j == 3 {
				ap[9] = 1e300 // α·ap overflows into r
			}
		}, 3},
		{"tolerance", 1e300, 0, nil, 0},
		{"floor", 0, 1e300, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var runs [2]map[string][]float64
			for k, step := range []stepFn{ref, b.CGStep} {
				r := backendtest.Rand(7)
				host := map[string][]float64{
					"q": backendtest.RandVector(r, n), "r": backendtest.RandVector(r, n),
					"p": backendtest.RandVector(r, n),
				}
				vec := func(x []float64) backend.Vector { return hostVector(t, b, x) }
				q, rv, p := vec(host["q"]), vec(host["r"]), vec(host["p"])
				ap := vec(make([]float64, n))
				s := make([]float64, backend.CGStateLen(steps))
				s[3] = b.Dot(rv, rv)
				st := vec(s)
				apHost, pHost := make([]float64, n), make([]float64, n)
				for j := range steps {
					// A = diag(1 + i/n), symmetric positive definite, unless the case
					// changes ap.
					b.Download(pHost, p)
					for i := range apHost {
						apHost[i] = (1 + float64(i)/n) * pHost[i]
					}
					if c.ap != nil {
						c.ap(j, pHost, apHost)
					}
					b.Upload(ap, apHost)
					step(st, j, q, rv, p, ap, c.tol, c.floor)
				}
				out := map[string][]float64{}
				for name, v := range map[string]backend.Vector{"q": q, "r": rv, "p": p, "st": st} {
					out[name] = make([]float64, v.Len())
					b.Download(out[name], v)
				}
				if err := b.Err(); err != nil {
					t.Fatal(err)
				}
				runs[k] = out
			}
			for name, want := range runs[0] {
				got := runs[1][name]
				for i := range want {
					if math.Float64bits(want[i]) != math.Float64bits(got[i]) {
						t.Errorf("%s[%d]: CGStep %v, CGStepRef %v", name, i, got[i], want[i])
						break
					}
				}
			}
			st := runs[1]["st"]
			if stopped := st[0] != 0; stopped != (c.stopAt < steps) {
				t.Errorf("stop flag %v, want a stop at step %d", st[0], c.stopAt)
			}
			if c.stopAt < steps && st[5+2*(c.stopAt+1)] != 0 {
				t.Errorf("a step after the stop at %d changed the state: %v", c.stopAt, st)
			}
		})
	}

	vec := func(n int) backend.Vector {
		v, err := b.NewVector(n)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	st, q, r, p, ap := vec(backend.CGStateLen(2)), vec(8), vec(8), vec(8), vec(8)
	for _, c := range []struct {
		name string
		f    func()
		want error
	}{
		{"alias q r", func() { b.CGStep(st, 0, q, q, p, ap, 0, 0) }, backend.ErrAlias},
		{"alias st ap", func() { b.CGStep(st, 0, q, r, p, st, 0, 0) }, backend.ErrAlias}, // st has the length of q here
		{"short state", func() { b.CGStep(st, 2, q, r, p, ap, 0, 0) }, backend.ErrShape},
		{"negative step", func() { b.CGStep(st, -1, q, r, p, ap, 0, 0) }, backend.ErrInvalid},
		{"lengths", func() { b.CGStep(st, 0, q, r, p, vec(9), 0, 0) }, backend.ErrShape},
		{"nil", func() { b.CGStep(st, 0, q, r, nil, ap, 0, 0) }, backend.ErrInvalid},
	} {
		c.f()
		if err := b.Err(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		b.ClearErr()
	}
	b.CGStep(st, 1, q, r, p, ap, 0, 0)
	if err := b.Err(); err != nil {
		t.Errorf("valid operands: %v", err)
	}
}
