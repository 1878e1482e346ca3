package problems

import (
	"errors"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// ErrNotLinearized is returned by HessVec, HessDiag, CrossVec and CrossApply
// before any Linearize.
var ErrNotLinearized = errors.New("problems: second-order oracle (HessVec, HessDiag, CrossVec or CrossApply) called before Linearize")

// ErrOperand is wrapped by the error (an *OperandError) that an oracle of
// ridge, logreg or quadratic returns for an operand it cannot use: a vector
// that is nil, a nil pointer in a non-nil backend.Vector, or of the wrong
// length, or a slot index out of range. The operands are checked before any
// backend call, so that such an error leaves the outputs and the backend's
// error state untouched.
var ErrOperand = errors.New("problems: invalid operand")

// OperandError describes an operand an oracle rejected; it wraps ErrOperand.
type OperandError struct {
	Problem string // "ridge", "logreg" or "quadratic"
	Oracle  string // the method, e.g. "HessVec"
	Operand string // the argument's name, e.g. "dst"
	Nil     bool   // the vector is nil or a nil pointer
	Len     int    // its length (the index, for a slot) when not Nil
	Want    int    // the length wanted (the number of slots, for a slot)
}

func (e *OperandError) Error() string {
	switch {
	case e.Nil:
		return fmt.Sprintf("problems: %s: %s: %s is nil (want a vector of length %d)", e.Problem, e.Oracle, e.Operand, e.Want)
	case e.Operand == "slot":
		return fmt.Sprintf("problems: %s: %s: slot %d out of range [0, %d)", e.Problem, e.Oracle, e.Len, e.Want)
	}
	return fmt.Sprintf("problems: %s: %s: %s has length %d, want %d", e.Problem, e.Oracle, e.Operand, e.Len, e.Want)
}

// Unwrap returns ErrOperand.
func (e *OperandError) Unwrap() error { return ErrOperand }

// checkVec returns nil when v is a non-nil vector of length n, else an
// *OperandError; it allocates only to build the error.
func checkVec(problem, oracle, operand string, v backend.Vector, n int) error {
	if isNil(v) {
		return &OperandError{Problem: problem, Oracle: oracle, Operand: operand, Nil: true, Want: n}
	}
	if l := v.Len(); l != n {
		return &OperandError{Problem: problem, Oracle: oracle, Operand: operand, Len: l, Want: n}
	}
	return nil
}

// checkVecs checks two vector operands (see checkVec), a of length na and b
// of length nb, in that order.
func checkVecs(problem, oracle, nameA string, a backend.Vector, na int, nameB string, b backend.Vector, nb int) error {
	if err := checkVec(problem, oracle, nameA, a, na); err != nil {
		return err
	}
	return checkVec(problem, oracle, nameB, b, nb)
}

// glm is the shared implementation of ridge and logreg:
//
//	g(w,λ) = 1/n Σ_i ℓ(x_iᵀw, y_i) + ½ Σ_j e^{λ_j} w_j²,   E(w) = 1/m Σ_i ℓ(x_iᵀw, y_i) (validation rows),
//	∇_w g = Xᵀℓ'(Xw, y)/n + e^λ ⊙ w,
//	A v   = Xᵀ(ℓ''(Xw, y) ⊙ Xv)/n + e^λ ⊙ v,
//	Bᵀv   = e^λ ⊙ w ⊙ v   (per-feature λ),   Σ_j e^λ w_j v_j   (shared λ),
//	B u   = e^λ ⊙ w ⊙ u   (per-feature λ),   u_0·e^λ w        (shared λ),
//
// with ℓ the squared loss ½(z−y)² (ridge) or the logistic loss (logreg).
type glm struct {
	b     backend.Backend
	g     backend.GLM // b's fused GLM kernels
	loss  backend.Loss
	host  *data.Supervised
	n, m  int
	d, h  int
	xTr   backend.Matrix
	xVal  backend.Matrix
	yTr   backend.Vector
	yVal  backend.Vector
	lam   []float64 // λ (len h)
	elamH []float64 // e^λ broadcast to len d, on the host
	elam  backend.Vector
	wLin  backend.Vector // linearization point
	curv  backend.Vector // ℓ''(X wLin, y) (logistic only)
	tmp   backend.Vector // len d scratch
	// curW and curCurv are the current linearization: wLin and curv after
	// Linearize, or a slot's vectors after UseSlot.
	curW, curCurv backend.Vector
	slots         []glmSlot
	one           []float64 // len 1 host scratch for a shared λ
	lin           bool
	// constants cache at the current λ
	consts *bilevel.Constants
}

var (
	_ bilevel.CrossApplier = (*glm)(nil)
	_ bilevel.CrossApplier = (*Ridge)(nil)
	_ bilevel.CrossApplier = (*Logreg)(nil)
)

func newGLM(b backend.Backend, s *data.Supervised, loss backend.Loss) (*glm, error) {
	if b == nil {
		return nil, errors.New("problems: nil backend")
	}
	if s == nil || s.XTrain == nil || s.XVal == nil {
		return nil, errors.New("problems: missing data")
	}
	g, err := fusedGLM(b)
	if err != nil {
		return nil, err
	}
	p := &glm{b: b, g: g, loss: loss, host: s, n: s.XTrain.Rows, m: s.XVal.Rows, d: s.XTrain.Cols, h: len(s.Lambda)}
	cleanup := func() { p.Close() }
	if p.xTr, err = uploadMatrix(b, s.XTrain); err != nil {
		cleanup()
		return nil, err
	}
	if p.xVal, err = uploadMatrix(b, s.XVal); err != nil {
		cleanup()
		return nil, err
	}
	for _, v := range []struct {
		dst  *backend.Vector
		n    int
		init []float64
	}{{&p.yTr, p.n, s.YTrain}, {&p.yVal, p.m, s.YVal}, {&p.elam, p.d, nil}, {&p.wLin, p.d, nil}, {&p.tmp, p.d, nil}} {
		if *v.dst, err = b.NewVector(v.n); err != nil {
			cleanup()
			return nil, err
		}
		if v.init != nil {
			b.Upload(*v.dst, v.init)
		}
	}
	if loss == backend.Logistic {
		if p.curv, err = b.NewVector(p.n); err != nil {
			cleanup()
			return nil, err
		}
	}
	p.lam = make([]float64, p.h)
	p.elamH = make([]float64, p.d)
	p.one = make([]float64, 1)
	p.curW, p.curCurv = p.wLin, p.curv
	if err := p.SetHyper(s.Lambda); err != nil {
		cleanup()
		return nil, err
	}
	if err := b.Err(); err != nil {
		cleanup()
		return nil, err
	}
	return p, nil
}

// glmSlot is a stored linearization: w and, for the logistic loss, the
// curvature weights at w.
type glmSlot struct {
	w, curv backend.Vector
}

// uploadMatrix copies a host matrix to the backend.
// fusedGLM returns b's fused GLM kernels (the backend.GLM extension), which
// the GLM-type problems use for their oracles, or an error naming the
// backend when it has none.
func fusedGLM(b backend.Backend) (backend.GLM, error) {
	g, ok := b.(backend.GLM)
	if !ok {
		return nil, fmt.Errorf("problems: backend %s lacks the fused GLM kernels (backend.GLM)", b.Name())
	}
	return g, nil
}

func uploadMatrix(b backend.Backend, m *data.Matrix) (backend.Matrix, error) {
	if m.IsCSR() {
		return b.NewCSR(m.Rows, m.Cols, m.Indptr, m.Indices, m.Data)
	}
	return b.NewDense(m.Rows, m.Cols, m.Data)
}

// Close frees the problem's device memory.
func (p *glm) Close() error {
	p.FreeSlots()
	for _, v := range []backend.Vector{p.yTr, p.yVal, p.elam, p.wLin, p.curv, p.tmp} {
		if v != nil {
			p.b.Free(v)
		}
	}
	for _, m := range []backend.Matrix{p.xTr, p.xVal} {
		if m != nil {
			p.b.FreeMatrix(m)
		}
	}
	return nil
}

// name is the problem's family, for errors.
func (p *glm) name() string {
	if p.loss == backend.Logistic {
		return "logreg"
	}
	return "ridge"
}

// checkSlot returns nil when slot indexes an allocated slot, else an
// *OperandError.
func (p *glm) checkSlot(oracle string, slot int) error {
	if slot < 0 || slot >= len(p.slots) {
		return &OperandError{Problem: p.name(), Oracle: oracle, Operand: "slot", Len: slot, Want: len(p.slots)}
	}
	return nil
}

func (p *glm) Backend() backend.Backend { return p.b }
func (p *glm) InnerDim() int            { return p.d }
func (p *glm) HyperDim() int            { return p.h }
func (p *glm) Hyper(dst []float64)      { copy(dst, p.lam) }

// Data returns the host data the problem was built from.
func (p *glm) Data() *data.Supervised { return p.host }

// SetHyper moves the problem to λ.
func (p *glm) SetHyper(lambda []float64) error {
	if len(lambda) != p.h {
		return fmt.Errorf("problems: λ has length %d, want %d", len(lambda), p.h)
	}
	for j, l := range lambda {
		e := math.Exp(l)
		if math.IsNaN(l) || !(e > 0) || math.IsInf(e, 0) {
			return fmt.Errorf("problems: λ[%d] = %v gives e^λ = %v (want finite and > 0)", j, l, e)
		}
	}
	copy(p.lam, lambda)
	for j := range p.elamH {
		if p.h == 1 {
			p.elamH[j] = math.Exp(lambda[0])
		} else {
			p.elamH[j] = math.Exp(lambda[j])
		}
	}
	p.b.Upload(p.elam, p.elamH)
	p.consts = nil
	return p.b.Err()
}

func (p *glm) InnerValue(w backend.Vector) (float64, error) {
	if err := checkVec(p.name(), "InnerValue", "w", w, p.d); err != nil {
		return 0, err
	}
	l := p.g.GLMGrad(nil, 0, p.xTr, w, p.yTr, p.loss, 0, nil)
	p.b.MulElem(p.tmp, 1, p.elam, w, 0)
	r := p.b.Dot(p.tmp, w)
	return l/float64(p.n) + 0.5*r, p.b.Err()
}

func (p *glm) InnerGrad(dst, w backend.Vector) error {
	if err := checkVecs(p.name(), "InnerGrad", "dst", dst, p.d, "w", w, p.d); err != nil {
		return err
	}
	p.g.GLMGradNoLoss(dst, 1/float64(p.n), p.xTr, w, p.yTr, p.loss, 0, nil)
	p.b.MulElem(dst, 1, p.elam, w, 1)
	return p.b.Err()
}

func (p *glm) Linearize(w backend.Vector) error {
	if err := checkVec(p.name(), "Linearize", "w", w, p.d); err != nil {
		return err
	}
	p.b.Copy(p.wLin, w)
	if p.loss == backend.Logistic {
		p.g.GLMGradNoLoss(nil, 0, p.xTr, w, p.yTr, p.loss, 0, p.curv)
	}
	if err := p.b.Err(); err != nil {
		return err
	}
	p.curW, p.curCurv, p.lin = p.wLin, p.curv, true
	return nil
}

func (p *glm) HessVec(dst, v backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVecs(p.name(), "HessVec", "dst", dst, p.d, "v", v, p.d); err != nil {
		return err
	}
	p.g.GramVec(dst, 1/float64(p.n), p.xTr, p.curCurv, v, 0) // nil curvature for ridge
	p.b.MulElem(dst, 1, p.elam, v, 1)
	return p.b.Err()
}

// HessVecPair sets dst1 ← A·v1 and dst2 ← A·v2 as HessVec does
// (bilevel.HessVecPairer): with one pass over X where the backend is a
// backend.GramVecPairer, else with two HessVec calls; the same bits either
// way.
func (p *glm) HessVecPair(dst1, v1, dst2, v2 backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVecs(p.name(), "HessVecPair", "dst1", dst1, p.d, "v1", v1, p.d); err != nil {
		return err
	}
	if err := checkVecs(p.name(), "HessVecPair", "dst2", dst2, p.d, "v2", v2, p.d); err != nil {
		return err
	}
	pb, ok := p.b.(backend.GramVecPairer)
	if !ok {
		if err := p.HessVec(dst1, v1); err != nil {
			return err
		}
		return p.HessVec(dst2, v2)
	}
	pb.GramVecPair(dst1, dst2, 1/float64(p.n), p.xTr, p.curCurv, v1, v2, 0)
	p.b.MulElem(dst1, 1, p.elam, v1, 1)
	p.b.MulElem(dst2, 1, p.elam, v2, 1)
	return p.b.Err()
}

// HessDiag sets dst ← diag(A) = diag(Xᵀ diag(ℓ”(Xw, y)) X)/n + e^λ at the
// linearization point, in one pass over X (backend GramDiag).
func (p *glm) HessDiag(dst backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVec(p.name(), "HessDiag", "dst", dst, p.d); err != nil {
		return err
	}
	p.g.GramDiag(dst, 1/float64(p.n), p.xTr, p.curCurv, 0) // nil curvature for ridge
	p.b.Axpy(1, p.elam, dst)
	return p.b.Err()
}

func (p *glm) CrossVec(dst, v backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVecs(p.name(), "CrossVec", "dst", dst, p.h, "v", v, p.d); err != nil {
		return err
	}
	if p.h == 1 {
		p.b.MulElem(p.tmp, 1, p.elam, p.curW, 0)
		p.one[0] = p.b.Dot(p.tmp, v)
		p.b.Upload(dst, p.one)
		return p.b.Err()
	}
	p.b.MulElem(dst, 1, p.elam, p.curW, 0)
	p.b.MulElem(dst, 1, dst, v, 0)
	return p.b.Err()
}

// CrossApply sets dst ← B(w, λ)·u at the linearization point w
// (bilevel.CrossApplier; len u = h, len dst = d). B = ∇²_wλ g is the
// derivative in λ of ∇_w g = Xᵀℓ'(Xw, y)/n + e^λ ⊙ w, in which only the
// regulariser depends on λ:
//
//	per-feature λ (h = d):  B = diag(e^λ ⊙ w),   B u = (e^λ ⊙ w) ⊙ u,
//	shared λ (h = 1):       B = e^λ·w (d×1),     B u = u_0·(e^λ ⊙ w),
//
// the adjoint of CrossVec: ⟨B u, v⟩ = ⟨u, Bᵀv⟩. It fails with
// ErrNotLinearized before any Linearize (or UseSlot), and with an error that
// leaves the backend's error state alone when a length is wrong. It
// allocates nothing; the shared case reads u_0 back to the host.
func (p *glm) CrossApply(dst, u backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVecs(p.name(), "CrossApply", "dst", dst, p.d, "u", u, p.h); err != nil {
		return err
	}
	if p.h == 1 {
		p.b.Download(p.one, u)
		p.b.MulElem(dst, p.one[0], p.elam, p.curW, 0)
		return p.b.Err()
	}
	p.b.MulElem(p.tmp, 1, p.elam, p.curW, 0)
	p.b.MulElem(dst, 1, p.tmp, u, 0)
	return p.b.Err()
}

// SlotBytes is d (and n for the logistic loss's curvature) float64s.
func (p *glm) SlotBytes() int64 {
	n := int64(p.d)
	if p.loss == backend.Logistic {
		n += int64(p.n)
	}
	return 8 * n
}

// AllocSlots prepares n linearization slots.
func (p *glm) AllocSlots(n int) error {
	p.FreeSlots()
	if n < 0 {
		return fmt.Errorf("problems: AllocSlots(%d)", n)
	}
	p.slots = make([]glmSlot, n)
	for i := range p.slots {
		var err error
		if p.slots[i].w, err = p.b.NewVector(p.d); err != nil {
			p.FreeSlots()
			return err
		}
		if p.loss == backend.Logistic {
			if p.slots[i].curv, err = p.b.NewVector(p.n); err != nil {
				p.FreeSlots()
				return err
			}
		}
	}
	return nil
}

// InnerGradRecord is InnerGrad that also keeps w and the curvature weights,
// which the gradient's pass over X computes anyway.
func (p *glm) InnerGradRecord(dst, w backend.Vector, slot int) error {
	if err := p.checkSlot("InnerGradRecord", slot); err != nil {
		return err
	}
	if err := checkVecs(p.name(), "InnerGradRecord", "dst", dst, p.d, "w", w, p.d); err != nil {
		return err
	}
	s := p.slots[slot]
	p.g.GLMGradNoLoss(dst, 1/float64(p.n), p.xTr, w, p.yTr, p.loss, 0, s.curv) // nil curvature for ridge
	p.b.MulElem(dst, 1, p.elam, w, 1)
	p.b.Copy(s.w, w)
	return p.b.Err()
}

// InnerGradRecordHessVec does InnerGradRecord(dst, w, slot), UseSlot(slot)
// and HessVec(hdst, v) (bilevel.GradHessVecer): with one pass over X where
// the backend is a backend.GLMGradGramVecer (the Hessian's Gram product
// weighted by the curvature the gradient's pass computes), else in turn;
// the same bits either way.
func (p *glm) InnerGradRecordHessVec(dst, w backend.Vector, slot int, hdst, v backend.Vector) error {
	const oracle = "InnerGradRecordHessVec"
	if err := p.checkSlot(oracle, slot); err != nil {
		return err
	}
	if err := checkVecs(p.name(), oracle, "dst", dst, p.d, "w", w, p.d); err != nil {
		return err
	}
	if err := checkVecs(p.name(), oracle, "hdst", hdst, p.d, "v", v, p.d); err != nil {
		return err
	}
	fb, ok := p.b.(backend.GLMGradGramVecer)
	if !ok {
		if err := p.InnerGradRecord(dst, w, slot); err != nil {
			return err
		}
		if err := p.UseSlot(slot); err != nil {
			return err
		}
		return p.HessVec(hdst, v)
	}
	s := p.slots[slot]
	fb.GLMGradGramVec(dst, hdst, 1/float64(p.n), p.xTr, w, p.yTr, p.loss, 0, s.curv, v) // nil curvature for ridge
	p.b.MulElem(dst, 1, p.elam, w, 1)
	p.b.Copy(s.w, w)
	if err := p.UseSlot(slot); err != nil {
		return err
	}
	p.b.MulElem(hdst, 1, p.elam, v, 1)
	return p.b.Err()
}

// UseSlot makes a stored linearization current.
func (p *glm) UseSlot(slot int) error {
	if err := p.checkSlot("UseSlot", slot); err != nil {
		return err
	}
	p.curW, p.curCurv, p.lin = p.slots[slot].w, p.slots[slot].curv, true
	return nil
}

// FreeSlots releases the slots; the current linearization falls back to
// the last Linearize.
func (p *glm) FreeSlots() {
	for _, s := range p.slots {
		if s.w != nil {
			p.b.Free(s.w)
		}
		if s.curv != nil {
			p.b.Free(s.curv)
		}
	}
	if p.slots != nil && p.curW != p.wLin {
		p.lin = false // the current linearization was a slot
	}
	p.slots = nil
	p.curW, p.curCurv = p.wLin, p.curv
}

func (p *glm) OuterValue(w backend.Vector) (float64, error) {
	if err := checkVec(p.name(), "OuterValue", "w", w, p.d); err != nil {
		return 0, err
	}
	l := p.g.GLMGrad(nil, 0, p.xVal, w, p.yVal, p.loss, 0, nil)
	return l / float64(p.m), p.b.Err()
}

func (p *glm) OuterGrad(dst, w backend.Vector) error {
	if err := checkVecs(p.name(), "OuterGrad", "dst", dst, p.d, "w", w, p.d); err != nil {
		return err
	}
	p.g.GLMGradNoLoss(dst, 1/float64(p.m), p.xVal, w, p.yVal, p.loss, 0, nil)
	return p.b.Err()
}

func (p *glm) OuterHyperGrad(dst, w backend.Vector) error {
	if err := checkVecs(p.name(), "OuterHyperGrad", "dst", dst, p.h, "w", w, p.d); err != nil {
		return err
	}
	p.b.Fill(dst, 0)
	return p.b.Err()
}

// elamRange returns min_j and max_j of e^{λ_j}.
func (p *glm) elamRange() (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	for _, e := range p.elamH {
		lo, hi = math.Min(lo, e), math.Max(hi, e)
	}
	return lo, hi
}

// gramMax returns λ_max(XᵀX)/rows for x (the training or validation
// matrix): exact by a dense eigendecomposition when cheap, otherwise a
// Lanczos estimate widened by its residual.
func (p *glm) gramMax(x backend.Matrix, host *data.Matrix) (bilevel.Constant, error) {
	rows := float64(host.Rows)
	if denseCheap(host.Rows, host.Cols) {
		lo, hi, err := gramExtremes(host, nil, nil)
		_ = lo
		return bilevel.Constant{Value: hi / rows, Kind: bilevel.Exact}, err
	}
	s, err := lanczos(p.b, host.Cols, func(dst, v backend.Vector) error {
		p.g.GramVec(dst, 1/rows, x, nil, v, 0)
		return p.b.Err()
	})
	return bilevel.Constant{Value: s.Max + s.MaxResidual, Kind: bilevel.Estimate}, err
}

// CrossNorm returns ‖B(w)‖₂ exactly: B = diag(e^λ ⊙ w) for per-feature λ, so
// ‖B‖ = max_j e^{λ_j}|w_j|; B = e^λ·w (d×1) for a shared λ, so ‖B‖ = e^λ‖w‖.
func (p *glm) CrossNorm(w backend.Vector) (bilevel.Constant, error) {
	if err := checkVec(p.name(), "CrossNorm", "w", w, p.d); err != nil {
		return bilevel.Constant{}, err
	}
	if p.h == 1 {
		n := p.b.Nrm2(w)
		return bilevel.Constant{Value: p.elamH[0] * n, Kind: bilevel.Exact}, p.b.Err()
	}
	x := make([]float64, p.d)
	p.b.Download(x, w)
	var m float64
	for j, v := range x {
		m = math.Max(m, p.elamH[j]*math.Abs(v))
	}
	return bilevel.Constant{Value: m, Kind: bilevel.Exact}, p.b.Err()
}
