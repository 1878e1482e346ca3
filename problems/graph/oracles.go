//go:build !cuda

package graph

import (
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/spectral"
)

// Backend returns the backend of the problem's vectors.
func (p *Problem) Backend() backend.Backend { return p.b }

// InnerDim returns d.
func (p *Problem) InnerDim() int { return p.d }

// HyperDim returns h.
func (p *Problem) HyperDim() int { return p.h }

// Hyper copies λ into dst.
func (p *Problem) Hyper(dst []float64) { copy(dst, p.lambda) }

// SetHyper moves the problem to λ (len h, finite). The linearization point
// is kept: HessVec and CrossVec then differentiate at the new λ.
func (p *Problem) SetHyper(lambda []float64) error {
	if err := p.live(); err != nil {
		return err
	}
	if len(lambda) != p.h {
		return fmt.Errorf("graph: SetHyper: len(λ) = %d, want %d", len(lambda), p.h)
	}
	if err := finite("λ", lambda); err != nil {
		return err
	}
	copy(p.lambda, lambda)
	p.consts = nil
	return nil
}

// Close releases the tape machines; the backend and the data stay.
func (p *Problem) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	p.closeMachines()
	return nil
}

// checkVec returns an error unless v is a non-nil vector of length n.
func checkVec(oracle, name string, v backend.Vector, n int) error {
	if v == nil {
		return fmt.Errorf("graph: %s: %s is nil", oracle, name)
	}
	if r := reflect.ValueOf(v); r.Kind() == reflect.Pointer && r.IsNil() {
		return fmt.Errorf("graph: %s: %s is a nil pointer", oracle, name)
	}
	if l := v.Len(); l != n {
		return fmt.Errorf("graph: %s: len(%s) = %d, want %d", oracle, name, l, n)
	}
	return nil
}

// runAt runs m at the host point w and the current λ (with direction dir
// already in m.v, if any).
func (p *Problem) runAt(m *machine, w []float64) error {
	if err := p.live(); err != nil {
		return err
	}
	copy(m.w, w)
	copy(m.lam, p.lambda)
	return m.run()
}

// InnerValue returns g(w, λ).
func (p *Problem) InnerValue(w backend.Vector) (float64, error) {
	if err := checkVec("InnerValue", "w", w, p.d); err != nil {
		return 0, err
	}
	if err := p.download(p.hostW, w); err != nil {
		return 0, err
	}
	return p.innerValueHost(p.hostW)
}

func (p *Problem) innerValueHost(w []float64) (float64, error) {
	if err := p.runAt(p.inner, w); err != nil {
		return 0, err
	}
	return p.inner.scalarValue()
}

// InnerGrad sets dst ← ∇_w g(w, λ).
func (p *Problem) InnerGrad(dst, w backend.Vector) error {
	if err := checkVec("InnerGrad", "dst", dst, p.d); err != nil {
		return err
	}
	if err := checkVec("InnerGrad", "w", w, p.d); err != nil {
		return err
	}
	if err := p.download(p.hostW, w); err != nil {
		return err
	}
	if err := p.innerGradHost(p.outD, p.hostW); err != nil {
		return err
	}
	return p.upload(dst, p.outD)
}

func (p *Problem) innerGradHost(dst, w []float64) error {
	if err := p.runAt(p.inner, w); err != nil {
		return err
	}
	return p.inner.vector(0, dst)
}

// Linearize keeps a copy of w for HessVec, CrossVec and CrossApply.
func (p *Problem) Linearize(w backend.Vector) error { return p.linearize(w) }

// product runs the directional machine m at the linearization point with
// direction v (len m.v) and writes output to dst (len n).
func (p *Problem) product(oracle string, m *machine, dst, v backend.Vector, nv, nd int) error {
	if err := checkVec(oracle, "dst", dst, nd); err != nil {
		return err
	}
	if err := checkVec(oracle, "v", v, nv); err != nil {
		return err
	}
	if !p.linOK {
		return fmt.Errorf("graph: %s before Linearize", oracle)
	}
	out := p.outD
	if nd == p.h {
		out = p.hostH
	}
	if m.zero {
		clear(out)
		return p.upload(dst, out)
	}
	if err := p.download(m.v, v); err != nil {
		return err
	}
	if err := p.runAt(m, p.lin); err != nil {
		return err
	}
	if err := m.vector(0, out); err != nil {
		return err
	}
	return p.upload(dst, out)
}

// productHost is product on host slices at the host point w.
func (p *Problem) productHost(m *machine, dst, w, v []float64) error {
	if m.zero {
		clear(dst)
		return nil
	}
	copy(m.v, v)
	if err := p.runAt(m, w); err != nil {
		return err
	}
	return m.vector(0, dst)
}

// HessVec sets dst ← A v = ∇_w⟨∇_w g(w, λ), v⟩ at the linearization point.
func (p *Problem) HessVec(dst, v backend.Vector) error {
	return p.product("HessVec", p.hess, dst, v, p.d, p.d)
}

// CrossVec sets dst ← Bᵀv = ∇_λ⟨∇_w g(w, λ), v⟩ (len dst = h).
func (p *Problem) CrossVec(dst, v backend.Vector) error {
	return p.product("CrossVec", p.cross, dst, v, p.d, p.h)
}

// CrossApply sets dst ← B u = ∇_w⟨∇_λ g(w, λ), u⟩ (len u = h).
func (p *Problem) CrossApply(dst, u backend.Vector) error {
	return p.product("CrossApply", p.crossApply, dst, u, p.h, p.d)
}

// OuterValue returns E(w, λ).
func (p *Problem) OuterValue(w backend.Vector) (float64, error) {
	if err := checkVec("OuterValue", "w", w, p.d); err != nil {
		return 0, err
	}
	if err := p.download(p.hostW, w); err != nil {
		return 0, err
	}
	if err := p.runAt(p.outer, p.hostW); err != nil {
		return 0, err
	}
	return p.outer.scalarValue()
}

// OuterGrad sets dst ← ∇_w E(w, λ).
func (p *Problem) OuterGrad(dst, w backend.Vector) error {
	if err := checkVec("OuterGrad", "dst", dst, p.d); err != nil {
		return err
	}
	if err := checkVec("OuterGrad", "w", w, p.d); err != nil {
		return err
	}
	if err := p.download(p.hostW, w); err != nil {
		return err
	}
	if err := p.runAt(p.outer, p.hostW); err != nil {
		return err
	}
	if err := p.outer.vector(0, p.outD); err != nil {
		return err
	}
	return p.upload(dst, p.outD)
}

// OuterHyperGrad sets dst ← ∇_λ E(w, λ) (zero when E does not depend on λ).
func (p *Problem) OuterHyperGrad(dst, w backend.Vector) error {
	if err := checkVec("OuterHyperGrad", "dst", dst, p.h); err != nil {
		return err
	}
	if err := checkVec("OuterHyperGrad", "w", w, p.d); err != nil {
		return err
	}
	if p.outerLambdaFree {
		if err := p.live(); err != nil {
			return err
		}
		clear(p.hostH)
		return p.upload(dst, p.hostH)
	}
	if err := p.download(p.hostW, w); err != nil {
		return err
	}
	if err := p.runAt(p.outer, p.hostW); err != nil {
		return err
	}
	if err := p.outer.vector(1, p.hostH); err != nil {
		return err
	}
	return p.upload(dst, p.hostH)
}

// Constants returns Lanczos estimates (Kind Estimate) at the point
// Spec.ConstantsAt (w = 0 by default) of
//
//	μ = λ_min(∇²_ww g),  L = λ_max(∇²_ww g),  L_f = max|λ(∇²_ww E)|,
//
// (package spectral, seeded by Spec.Seed; Ritz values, not bounds, and
// valid at other w only when the Hessians are constant in w), L_A, L_B
// Unknown (third derivatives are not available), and L_Eλ an Exact 0 when
// E does not depend on λ, else Unknown. The a posteriori bound of package
// hypergrad is therefore of kind "none" (L_A and L_B are unknown).
func (p *Problem) Constants() (bilevel.Constants, error) {
	if err := p.live(); err != nil {
		return bilevel.Constants{}, err
	}
	if p.consts != nil {
		return *p.consts, nil
	}
	at := p.spec.ConstantsAt
	if at == nil {
		at = make([]float64, p.d)
	}
	vh := make([]float64, p.d)
	oh := make([]float64, p.d)
	apply := func(m *machine) func(dst, v backend.Vector) error {
		return func(dst, v backend.Vector) error {
			if err := p.download(vh, v); err != nil {
				return err
			}
			if err := p.productHost(m, oh, at, vh); err != nil {
				return err
			}
			return p.upload(dst, oh)
		}
	}
	opt := spectral.Options{Seed: p.spec.Seed}
	sa, err := spectral.Extremes(p.b, p.d, apply(p.hess), opt)
	if err != nil {
		return bilevel.Constants{}, fmt.Errorf("graph: Constants: Lanczos on A: %w", err)
	}
	if !(sa.Min > 0) {
		return bilevel.Constants{}, fmt.Errorf("graph: Constants: λ_min(A) ≈ %g at the constants point: g is not strongly convex there", sa.Min)
	}
	c := bilevel.Constants{
		Mu: bilevel.Constant{Value: sa.Min, Kind: bilevel.Estimate},
		L:  bilevel.Constant{Value: sa.Max, Kind: bilevel.Estimate},
	}
	if p.outerHess.zero {
		c.Lf = bilevel.Constant{Value: 0, Kind: bilevel.Exact}
	} else {
		se, err := spectral.Extremes(p.b, p.d, apply(p.outerHess), opt)
		if err != nil {
			return bilevel.Constants{}, fmt.Errorf("graph: Constants: Lanczos on ∇²E: %w", err)
		}
		c.Lf = bilevel.Constant{Value: math.Max(math.Abs(se.Min), math.Abs(se.Max)), Kind: bilevel.Estimate}
	}
	if p.outerLambdaFree {
		c.LEl = bilevel.Constant{Value: 0, Kind: bilevel.Exact}
	}
	p.consts = &c
	return c, nil
}

// hostSide is what both graph problems keep beside their tape machines: the
// backend their vectors live on, whether the problem is closed, and the
// linearization point (len d) at which the products run.
type hostSide struct {
	b      backend.Backend
	closed bool
	lin    []float64
	linOK  bool
}

func (h *hostSide) live() error {
	if h.closed {
		return errors.New("graph: problem is closed")
	}
	return nil
}

// download copies v into the host slice dst and reports a backend error.
func (h *hostSide) download(dst []float64, v backend.Vector) error {
	h.b.Download(dst, v)
	return h.b.Err()
}

// upload copies the host slice src into v and reports a backend error.
func (h *hostSide) upload(v backend.Vector, src []float64) error {
	h.b.Upload(v, src)
	return h.b.Err()
}

// linearize keeps a copy of w (len(lin), checked) as the linearization
// point; after a failed copy there is none.
func (h *hostSide) linearize(w backend.Vector) error {
	if err := h.live(); err != nil {
		return err
	}
	if err := checkVec("Linearize", "w", w, len(h.lin)); err != nil {
		return err
	}
	if err := h.download(h.lin, w); err != nil {
		h.linOK = false
		return err
	}
	h.linOK = true
	return nil
}
