//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// The tests of this file compare the CUDA backend with the CPU backend on
// large problems, with the tolerances of DESIGN.md: ‖Δ‖/‖ref‖ ≤ 1e-12 for
// vectors and |Δ| ≤ 1e-12·Σ|x_i·y_i| for reductions. With -short, and on the
// emulator unless HG_CUDA_LARGE is set, the shapes are smaller.

const agreeTol = 1e-12

// largeShape is a matrix of the agreement tests.
type largeShape struct {
	name       string
	rows, cols int
	density    float64 // 0: dense
}

func largeShapes(t testing.TB) []largeShape {
	if (emulated && os.Getenv("HG_CUDA_LARGE") == "") || testing.Short() {
		return []largeShape{
			{"dense 10003×300", 10003, 300, 0},
			{"dense 2003×1500", 2003, 1500, 0}, // wider than the register tiles
			{"csr 20011×5003", 20011, 5003, 0.004},
		}
	}
	return []largeShape{
		{"dense 100003×1000", 100003, 1000, 0},
		{"dense 20011×3001", 20011, 3001, 0},
		{"csr 200003×50021", 200003, 50021, 0.002},
	}
}

// pair holds the same operands on a CUDA and a CPU backend.
type pair struct {
	gpu, cpu *pairSide
}

// fullBackend is a backend with the GLM extension, as both sides are.
type fullBackend interface {
	backend.Backend
	backend.GLM
}

type pairSide struct {
	b            fullBackend
	a            backend.Matrix
	w, v, dst    backend.Vector // len cols
	r, y, d, row backend.Vector // len rows
}

func newPair(t *testing.T, sh largeShape) *pair { return newPairOpts(t, sh, Options{}, false) }

// newPairOpts opens the CUDA side with opts; with roundCPU the CPU side gets
// the matrix rounded to float32 (the data a DenseFloat32 backend holds).
func newPairOpts(t *testing.T, sh largeShape, opts Options, roundCPU bool) *pair {
	t.Helper()
	r := backendtest.Rand(uint64(sh.rows))
	var m *backendtest.HostMatrix
	if sh.density == 0 {
		m = backendtest.RandDense(r, sh.rows, sh.cols)
	} else {
		m = backendtest.RandCSR(r, sh.rows, sh.cols, sh.density)
	}
	mCPU := m
	if roundCPU {
		c := *m
		c.Dense = make([]float64, len(m.Dense))
		for i, v := range m.Dense {
			c.Dense[i] = float64(float32(v))
		}
		mCPU = &c
	}
	w := backendtest.RandVector(r, sh.cols)
	perRow := float64(sh.cols) // entries per row, so that z = Xw is of order 1
	if sh.density > 0 {
		perRow *= sh.density
	}
	for i := range w {
		w[i] /= math.Sqrt(max(1, perRow))
	}
	v, dst := backendtest.RandVector(r, sh.cols), backendtest.RandVector(r, sh.cols)
	rv, y := backendtest.RandVector(r, sh.rows), backendtest.RandLabels(r, sh.rows)
	d := backendtest.RandVector(r, sh.rows)
	for i := range d {
		d[i] = math.Abs(d[i])
	}
	side := func(b fullBackend, m *backendtest.HostMatrix) *pairSide {
		t.Cleanup(func() { b.Close() })
		a, err := m.Upload(b)
		if err != nil {
			t.Fatal(err)
		}
		up := func(x []float64) backend.Vector { return hostVector(t, b, x) }
		s := &pairSide{b: b, a: a, w: up(w), v: up(v), dst: up(dst), r: up(rv), y: up(y), d: up(d),
			row: up(make([]float64, sh.rows))}
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &pair{gpu: side(g, m), cpu: side(cpu.New(cpu.Options{}), mCPU)}
}

func download(t *testing.T, b backend.Backend, v backend.Vector) []float64 {
	t.Helper()
	x := make([]float64, v.Len())
	b.Download(x, v)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return x
}

// relDiff returns ‖got − ref‖/‖ref‖ (‖got − ref‖ when ref = 0).
func relDiff(got, ref []float64) float64 {
	var d2, r2 float64
	for i := range ref {
		d2 += (got[i] - ref[i]) * (got[i] - ref[i])
		r2 += ref[i] * ref[i]
	}
	if r2 == 0 {
		return math.Sqrt(d2)
	}
	return math.Sqrt(d2 / r2)
}

// agreeVec runs op on both sides and compares the vector out (and the
// scalars op returns, to scale·1e-12; scale < 0 means the CPU's |scalar|,
// which is Σ|terms| for sums of nonnegative terms such as losses).
func (p *pair) agreeVec(t *testing.T, what string, out func(s *pairSide) backend.Vector, op func(s *pairSide) float64, scale float64) {
	t.Helper()
	gs, cs := op(p.gpu), op(p.cpu)
	if scale < 0 {
		scale = math.Abs(cs)
	}
	if err := p.gpu.b.Err(); err != nil {
		t.Fatalf("%s on cuda: %v", what, err)
	}
	if err := p.cpu.b.Err(); err != nil {
		t.Fatalf("%s on cpu: %v", what, err)
	}
	if !(math.Abs(gs-cs) <= agreeTol*scale) {
		t.Errorf("%s: scalar %v on cuda, %v on cpu (|Δ| = %.3g > %.0e·%.3g)", what, gs, cs, math.Abs(gs-cs), agreeTol, scale)
	}
	if out == nil {
		return
	}
	g, c := download(t, p.gpu.b, out(p.gpu)), download(t, p.cpu.b, out(p.cpu))
	if d := relDiff(g, c); !(d <= agreeTol) {
		t.Errorf("%s: ‖Δ‖/‖ref‖ = %.3g > %.0e", what, d, agreeTol)
	} else {
		t.Logf("%s: ‖Δ‖/‖ref‖ = %.3g", what, d)
	}
}

func TestAgreeWithCPU(t *testing.T) {
	for _, sh := range largeShapes(t) {
		t.Run(sh.name, func(t *testing.T) { p := newPair(t, sh); p.agreeAll(t) })
	}
}

// TestDenseFloat32 checks Options.DenseFloat32: its products agree to 1e-12
// with the CPU backend's on the matrix rounded to float32 (the arithmetic is
// float64 throughout), they differ from those on the unrounded matrix by
// about float32's rounding (so the rounding did happen), and the matrix
// takes 4 bytes per entry.
func TestDenseFloat32(t *testing.T) {
	for _, sh := range largeShapes(t) {
		if sh.density > 0 {
			continue // CSR is unaffected
		}
		t.Run(sh.name, func(t *testing.T) {
			p := newPairOpts(t, sh, Options{DenseFloat32: true}, true)
			if got, want := p.gpu.a.Bytes(), int64(sh.rows)*int64(sh.cols)*4; got != want {
				t.Errorf("Bytes() = %d, want %d", got, want)
			}
			// Against the float64 matrix (before agreeAll changes the vectors):
			// GramVec moves by about float32's rounding.
			exact := newPair(t, sh)
			for _, q := range []*pair{p, exact} {
				q.gpu.b.GramVec(q.gpu.dst, 1, q.gpu.a, q.gpu.d, q.gpu.v, 0)
			}
			d := relDiff(download(t, p.gpu.b, p.gpu.dst), download(t, exact.gpu.b, exact.gpu.dst))
			if !(d > 1e-10 && d < 1e-6) {
				t.Errorf("GramVec, float32 against float64 storage: ‖Δ‖/‖ref‖ = %.3g, want float32 rounding (1e-10, 1e-6)", d)
			} else {
				t.Logf("GramVec, float32 against float64 storage: ‖Δ‖/‖ref‖ = %.3g", d)
			}
			p.agreeAll(t) // after the above: it changes the vectors
		})
	}
}

// agreeAll compares every matrix product, reduction and fused kernel of the
// two sides.
func (p *pair) agreeAll(t *testing.T) {
	t.Helper()
	none := func(*pairSide) float64 { return 0 }
	p.agreeVec(t, "MulVec", func(s *pairSide) backend.Vector { return s.row }, func(s *pairSide) float64 {
		s.b.MulVec(s.row, 1.5, s.a, s.v, 0)
		return 0
	}, 0)
	p.agreeVec(t, "MulVecTrans", func(s *pairSide) backend.Vector { return s.dst }, func(s *pairSide) float64 {
		s.b.MulVecTrans(s.dst, -0.5, s.a, s.r, 0)
		return 0
	}, 0)
	p.agreeVec(t, "GramVec", func(s *pairSide) backend.Vector { return s.dst }, func(s *pairSide) float64 {
		s.b.GramVec(s.dst, 2, s.a, s.d, s.v, 0)
		return 0
	}, 0)
	p.agreeVec(t, "GramVec d=nil β=0.5", func(s *pairSide) backend.Vector { return s.dst }, func(s *pairSide) float64 {
		s.b.GramVec(s.dst, 1, s.a, nil, s.v, 0.5)
		return 0
	}, 0)
	p.agreeVec(t, "GramDiag", func(s *pairSide) backend.Vector { return s.dst }, func(s *pairSide) float64 {
		s.b.GramDiag(s.dst, 2, s.a, s.d, 0)
		return 0
	}, 0)
	p.agreeVec(t, "GramDiag d=nil β=0.5", func(s *pairSide) backend.Vector { return s.dst }, func(s *pairSide) float64 {
		s.b.GramDiag(s.dst, 1, s.a, nil, 0.5)
		return 0
	}, 0)
	const lossScale = -1 // the loss is a sum of nonnegative terms
	for _, loss := range []backend.Loss{backend.Logistic, backend.Squared} {
		y := func(s *pairSide) backend.Vector { return s.y }
		if loss == backend.Squared {
			y = func(s *pairSide) backend.Vector { return s.r }
		}
		p.agreeVec(t, fmt.Sprintf("GLMGrad %v: dst", loss), func(s *pairSide) backend.Vector { return s.dst },
			func(s *pairSide) float64 { return s.b.GLMGrad(s.dst, 1, s.a, s.w, y(s), loss, 0, s.row) }, lossScale)
		p.agreeVec(t, fmt.Sprintf("GLMGrad %v: curv", loss), func(s *pairSide) backend.Vector { return s.row }, none, 0)
	}
	// Reductions: scale = Σ|x_i·y_i|.
	x := download(t, p.cpu.b, p.cpu.r)
	yy := download(t, p.cpu.b, p.cpu.d)
	var mag, sq float64
	for i := range x {
		mag += math.Abs(x[i] * yy[i])
		sq += x[i] * x[i]
	}
	p.agreeVec(t, "Dot", nil, func(s *pairSide) float64 { return s.b.Dot(s.r, s.d) }, mag)
	p.agreeVec(t, "Nrm2", nil, func(s *pairSide) float64 { return s.b.Nrm2(s.r) }, math.Sqrt(sq))
	p.agreeVec(t, "Axpby", func(s *pairSide) backend.Vector { return s.d }, func(s *pairSide) float64 {
		s.b.Axpby(0.25, s.r, -1.5, s.d)
		return 0
	}, 0)
}

// TestDeterminismLarge repeats every reduction and fused kernel on the large
// shapes, on the same backend and on a second one, and requires
// bit-identical results.
func TestDeterminismLarge(t *testing.T) {
	for _, sh := range largeShapes(t) {
		t.Run(sh.name, func(t *testing.T) {
			p := newPair(t, sh)
			other := newPair(t, sh).gpu
			var first map[string][]float64
			for rep, s := range []*pairSide{p.gpu, p.gpu, other} {
				got := map[string][]float64{}
				b := s.b
				run := func(name string, out backend.Vector, scalar float64) {
					got[name] = append(download(t, b, out), scalar)
				}
				b.Fill(s.dst, 1)
				b.MulVecTrans(s.dst, 1, s.a, s.r, 0.5)
				run("MulVecTrans", s.dst, 0)
				b.Fill(s.dst, 1)
				b.GramVec(s.dst, 1, s.a, s.d, s.v, 0.5)
				run("GramVec", s.dst, 0)
				b.Fill(s.dst, 1)
				b.GramDiag(s.dst, 1, s.a, s.d, 0.5)
				run("GramDiag", s.dst, 0)
				b.Fill(s.dst, 1)
				l := b.GLMGrad(s.dst, 1, s.a, s.w, s.y, backend.Logistic, 0.5, s.row)
				run("GLMGrad", s.dst, l)
				run("GLMGrad curv", s.row, 0)
				b.MulVec(s.row, 1, s.a, s.v, 0)
				run("MulVec", s.row, b.Dot(s.r, s.d))
				run("Nrm2", s.row, b.Nrm2(s.row))
				if rep == 0 {
					first = got
					continue
				}
				for name, want := range first {
					for i := range want {
						if math.Float64bits(got[name][i]) != math.Float64bits(want[i]) {
							t.Fatalf("%s, run %d: [%d] = %v, first run %v", name, rep, i, got[name][i], want[i])
						}
					}
				}
			}
		})
	}
}
