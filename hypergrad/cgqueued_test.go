package hypergrad_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/backendtest"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// glmBackend is a backend with the fused GLM kernels that the GLM problems
// need: the test backends are, and so must their wrappers be.
type glmBackend interface {
	backend.Backend
	backend.GLM
}

// hostLoop hides a backend's CGStepper, so that CG runs the host-driven loop.
type hostLoop struct{ glmBackend }

// withGLM returns b as a glmBackend (the CPU and CUDA backends are).
func withGLM(b backend.Backend) glmBackend { return b.(glmBackend) }

// refStepper gives a backend backendtest.CGStepRef as its CGStep, so that
// CG takes the queued path on a backend without its own (the CPU's).
type refStepper struct{ glmBackend }

func (s refStepper) CGStep(st backend.Vector, j int, q, r, p, ap backend.Vector, tol, floor float64) {
	backendtest.CGStepRef(s.glmBackend, st, j, q, r, p, ap, tol, floor)
}

// queuedBackend returns the test backend with a CGStepper: its own (CUDA),
// or CGStepRef.
func queuedBackend(t *testing.T) backend.Backend {
	b := newBackend(t)
	if _, ok := b.(backend.CGStepper); ok {
		return b
	}
	return refStepper{withGLM(b)}
}

// TestCGQueuedSameBits: CG queued in chunks with its scalars on the device
// (backend.CGStepper) gives the host-driven loop's results bit for bit —
// hypergradient, adjoint, iterations, residual, status, the errors — on
// fixed iteration counts (chunks of 4, 8, 16 and a remainder), tolerances that stop
// inside a chunk, Newton's inner CG, the stop at the rounding floor and an
// indefinite operator. Only Hessian-vector products queued after a stop
// inside a chunk may be extra: at most a chunk's length − 1.
func TestCGQueuedSameBits(t *testing.T) {
	ctx := context.Background()
	ls, err := data.SynthLogreg(synthOpts(600, 40, 100, 3))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := data.SynthRidge(synthOpts(200, 6, 10, 4))
	if err != nil {
		t.Fatal(err)
	}
	type mk func(b backend.Backend) (bilevel.Problem, error)
	logregP := func(b backend.Backend) (bilevel.Problem, error) { return problems.NewLogreg(b, ls) }
	ridgeP := func(b backend.Backend) (bilevel.Problem, error) { return problems.NewRidge(b, rs) }
	cases := []struct {
		name     string
		prob     mk
		est      hypergrad.Estimator
		maxExtra int
	}{
		{"fixed k=40", logregP, &hypergrad.AID{T: 30, K: 40}, 0},
		{"fixed k=16", logregP, &hypergrad.AID{T: 30, K: 16}, 0},
		{"tolerance", logregP, &hypergrad.AID{T: 200, K: 500, TolLinear: 3e-10}, 3},
		{"newton", logregP, &hypergrad.AID{Inner: hypergrad.Newton{PlainCG: true}, T: 20, K: 60, TolInner: 1e-11, TolLinear: 1e-11}, 100},
		{"floor", ridgeP, &hypergrad.AID{T: 400, K: 200}, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var res [2]*hypergrad.Result
			for k, b := range []backend.Backend{hostLoop{withGLM(newBackend(t))}, queuedBackend(t)} {
				p, err := c.prob(b)
				if err != nil {
					t.Fatal(err)
				}
				before := b.Allocated()
				if res[k], err = c.est.Estimate(ctx, p, nil); err != nil {
					t.Fatal(err)
				}
				if after := b.Allocated(); after != before {
					t.Errorf("backend %d: %d bytes allocated after the estimate, %d before", k, after, before)
				}
			}
			h, q := res[0], res[1]
			same := func(name string, a, b []float64) {
				for i := range a {
					if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
						t.Errorf("%s[%d]: host loop %v, queued %v", name, i, a[i], b[i])
						return
					}
				}
			}
			same("hypergradient", h.Hypergradient, q.Hypergradient)
			same("V", h.V, q.V)
			same("W", h.W, q.W)
			if h.LinearIters != q.LinearIters || math.Float64bits(h.LinearResidual) != math.Float64bits(q.LinearResidual) ||
				h.LinearStatus != q.LinearStatus || h.InnerIters != q.InnerIters {
				t.Errorf("linear %d %v %v, inner %d (host loop) against %d %v %v, %d (queued)",
					h.LinearIters, h.LinearResidual, h.LinearStatus, h.InnerIters, q.LinearIters, q.LinearResidual, q.LinearStatus, q.InnerIters)
			}
			extra := q.Counts.HessVecs - h.Counts.HessVecs
			hc, qc := h.Counts, q.Counts
			hc.HessVecs, qc.HessVecs = 0, 0
			if hc != qc || extra < 0 || extra > c.maxExtra {
				t.Errorf("counts %+v (host loop), %+v (queued)", h.Counts, q.Counts)
			}
			if c.name == "floor" && h.LinearStatus != hypergrad.Converged {
				t.Errorf("floor case: status %v after %d iterations, want converged before k", h.LinearStatus, h.LinearIters)
			}
			if c.name == "tolerance" && (h.LinearStatus != hypergrad.Converged) {
				t.Errorf("tolerance case: status %v after %d iterations", h.LinearStatus, h.LinearIters)
			}
			t.Logf("linear %d iterations (%v), Hessian-vector products %d host loop, %d queued", h.LinearIters, h.LinearStatus, h.Counts.HessVecs, q.Counts.HessVecs)
		})
	}

	// An indefinite operator: pᵀAp = 1 − 4 < 0 for p = (1, 1), at iteration 0.
	var msgs [2]string
	for k, wrap := range []func(backend.Backend) backend.Backend{
		func(b backend.Backend) backend.Backend { return hostLoop{withGLM(b)} },
		func(b backend.Backend) backend.Backend {
			if _, ok := b.(backend.CGStepper); ok {
				return b
			}
			return refStepper{withGLM(b)}
		},
	} {
		nd := newDiag(t, []float64{1, -4}, []float64{-1, -1}, []float64{0, 0})
		nd.b = wrap(nd.b)
		_, err := (&hypergrad.AID{Inner: hypergrad.GradientDescent{Step: 0.1}, T: 0, K: 5}).Estimate(ctx, nd, nil)
		if !errors.Is(err, hypergrad.ErrNotPositiveDefinite) {
			t.Fatalf("indefinite operator: %v", err)
		}
		msgs[k] = err.Error()
	}
	if msgs[0] != msgs[1] {
		t.Errorf("indefinite operator: host loop %q, queued %q", msgs[0], msgs[1])
	}
}

// TestBoundResidualOfIterate checks the residual ‖A q − ∇_wE‖ that the a
// posteriori bound uses when the linear solver supplies it (solveLinear):
// it is that of the returned adjoint q = Result.V at w_t = Result.W,
// recomputed here with HessVec — for CG from A q_{k−1} and A p_{k−1}
// (HessVecPair) on the host loop and on the queued path, for the fixed-point
// iteration from its last product — and not that of an earlier iterate.
func TestBoundResidualOfIterate(t *testing.T) {
	ctx := context.Background()
	ls, err := data.SynthLogreg(synthOpts(600, 40, 100, 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		est  *hypergrad.AID
		b    func(t *testing.T) backend.Backend
	}{
		{"cg host loop", &hypergrad.AID{T: 30, K: 12}, func(t *testing.T) backend.Backend { return hostLoop{withGLM(newBackend(t))} }},
		{"cg queued", &hypergrad.AID{T: 30, K: 12}, queuedBackend},
		{"cg queued, k in the second chunk", &hypergrad.AID{T: 30, K: 6}, queuedBackend},
		{"fixed point", &hypergrad.AID{Linear: hypergrad.FixedPoint{}, T: 30, K: 12}, func(t *testing.T) backend.Backend { return newBackend(t) }},
	} {
		b := c.b(t)
		p, err := problems.NewLogreg(b, ls)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.est.Estimate(ctx, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := p.InnerDim()
		w, q := bileveltest.Vec(t, b, res.W), bileveltest.Vec(t, b, res.V)
		aq, rhs := bileveltest.Vec(t, b, make([]float64, d)), bileveltest.Vec(t, b, make([]float64, d))
		if err := p.Linearize(w); err != nil {
			t.Fatal(err)
		}
		if err := p.HessVec(aq, q); err != nil {
			t.Fatal(err)
		}
		if err := p.OuterGrad(rhs, w); err != nil {
			t.Fatal(err)
		}
		b.Axpy(-1, rhs, aq)
		want, fNorm := b.Nrm2(aq), b.Nrm2(rhs)
		if d := math.Abs(res.LinearResidual - want); !(d <= 1e-9*want+1e-14*fNorm) {
			t.Errorf("%s: residual %v, recomputed %v (‖∇_wE‖ = %v)", c.name, res.LinearResidual, want, fNorm)
		}
		if res.LinearIters != c.est.K || !(want > 1e-8*fNorm) {
			t.Errorf("%s: %d iterations, residual %v of ‖∇_wE‖ = %v: the case does not test what it should", c.name, res.LinearIters, want, fNorm)
		}
		p.Close()
	}
}

// plainStore is a problem with its LinearizationStore and HessDiager and
// nothing else: no bilevel.GradHessVecer or HessVecPairer, so that AID
// computes its first product and the bound's products on their own.
type plainStore struct {
	bilevel.Problem
	bilevel.LinearizationStore
	bilevel.HessDiager
}

// countFused counts the calls of InnerGradRecordHessVec.
type countFused struct {
	*problems.Logreg
	n *int
}

func (c countFused) InnerGradRecordHessVec(dst, w backend.Vector, slot int, hdst, v backend.Vector) error {
	*c.n++
	return c.Logreg.InnerGradRecordHessVec(dst, w, slot, hdst, v)
}

// TestFusedFirstProduct checks that AID-CG with a fixed t, which computes
// the last inner gradient together with CG's first product
// (bilevel.GradHessVecer) and the bound's A q with the last A p
// (HessVecPairer), gives what the separate calls give, bit for bit —
// hypergradient, W, V, residuals, counts — on the host loop and the queued
// path, and with k = 1 (first product and last iteration at once).
func TestFusedFirstProduct(t *testing.T) {
	ctx := context.Background()
	ls, err := data.SynthLogreg(synthOpts(600, 40, 100, 3))
	if err != nil {
		t.Fatal(err)
	}
	plain := func(t *testing.T) backend.Backend { return newBackend(t) }
	for _, c := range []struct {
		name  string
		est   *hypergrad.AID
		b     func(t *testing.T) backend.Backend
		fused int // calls of InnerGradRecordHessVec
	}{
		{"host loop", &hypergrad.AID{T: 30, K: 12}, plain, 1},
		{"queued", &hypergrad.AID{T: 30, K: 12}, queuedBackend, 1},
		{"k = 1", &hypergrad.AID{T: 30, K: 1}, plain, 1},
		{"t = 0", &hypergrad.AID{T: 0, K: 5}, plain, 1},
		{"heavy ball, tolerance", &hypergrad.AID{Inner: hypergrad.HeavyBall{}, T: 30, K: 50, TolLinear: 1e-6}, plain, 1},
		// Where the last inner gradient must come first, or CG's first
		// product is not A·∇_wE: no fusion.
		{"inner tolerance", &hypergrad.AID{T: 300, K: 12, TolInner: 1e-4}, plain, 0},
		{"jacobi", &hypergrad.AID{Linear: hypergrad.ConjugateGradient{Jacobi: true}, T: 30, K: 12}, plain, 0},
		{"fixed point", &hypergrad.AID{Linear: hypergrad.FixedPoint{}, T: 30, K: 12}, plain, 0},
	} {
		var res [2]*hypergrad.Result
		fusedCalls := 0
		for k := range res {
			b := c.b(t)
			lp, err := problems.NewLogreg(b, ls)
			if err != nil {
				t.Fatal(err)
			}
			var p bilevel.Problem = countFused{lp, &fusedCalls}
			if k == 1 {
				p = plainStore{lp, lp, lp}
			}
			if res[k], err = c.est.Estimate(ctx, p, nil); err != nil {
				t.Fatal(err)
			}
			lp.Close()
		}
		f, s := res[0], res[1]
		for _, v := range []struct {
			name string
			a, b []float64
		}{{"hypergradient", f.Hypergradient, s.Hypergradient}, {"W", f.W, s.W}, {"V", f.V, s.V},
			{"residuals", []float64{f.InnerResidual, f.LinearResidual}, []float64{s.InnerResidual, s.LinearResidual}}} {
			for i := range v.a {
				if math.Float64bits(v.a[i]) != math.Float64bits(v.b[i]) {
					t.Errorf("%s: %s[%d] fused %v, separate %v", c.name, v.name, i, v.a[i], v.b[i])
					break
				}
			}
		}
		if f.Counts != s.Counts || f.LinearIters != s.LinearIters || f.InnerIters != s.InnerIters {
			t.Errorf("%s: counts %+v (fused), %+v (separate)", c.name, f.Counts, s.Counts)
		}
		if fusedCalls != c.fused {
			t.Errorf("%s: %d calls of InnerGradRecordHessVec, want %d", c.name, fusedCalls, c.fused)
		}
	}
}
