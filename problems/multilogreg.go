package problems

import (
	"errors"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// Multilogreg is L2-regularised multinomial logistic regression with one
// regularisation weight per feature (spec "multilogreg"; the 20-newsgroups
// setting of Grazzi et al., "On the Iteration Complexity of Hypergradient
// Computation", ICML 2020), one shared weight, or one per class (the benchopt
// covtype setting). The inner variable is W ∈ R^{d×c}, w = W row-major
// (InnerDim d·c), and with CE(z, y) = LSE(z) − z_y, z_i = Wᵀx_i,
//
//	g(W,λ) = 1/n Σ_i CE(z_i, y_i) + 1/(2dc) Σ_{j,k} r_jk W_jk²,
//	E(W)   = 1/m Σ_i CE(Wᵀx_i, y_i)   (validation rows),
//
// r_jk = e^{λ_j} (per-feature, h = d), e^{λ_0} (shared, h = 1) or e^{λ_k}
// (per-class, h = c). With P = softmax(XW) row by row, Y the one-hot labels
// and ρ = r/(dc) elementwise,
//
//	∇_W g = Xᵀ(P − Y)/n + ρ ⊙ W,
//	A V   = Xᵀ R/n + ρ ⊙ V,   R_i = p_i ⊙ u_i − p_i (p_iᵀu_i),  u_i = Vᵀx_i,
//	Bᵀv   = (Σ_k ρ_jk W_jk V_jk)_j  (per-feature),  Σ_jk ρ_jk W_jk V_jk  (shared),
//	        (Σ_j ρ_jk W_jk V_jk)_k  (per-class),
//	B u   = ρ ⊙ W ⊙ (u broadcast along the rows, the columns, or u_0),
//
// A being (1/n) Σ_i (x_i x_iᵀ) ⊗ (diag(p_i) − p_ip_iᵀ) + diag(ρ).
//
// Every oracle runs on the backend with X as given (dense or CSR: device
// memory O(nnz + (n + m)·c + d·c)), using the fused kernels of
// backend.Multinomial where the backend has them and core operations
// (MulBlock, CrossEntropy, Softmax, RowSums, ScaleRows, MulBlockTrans)
// otherwise; each reads X once. Linearize keeps W and P = softmax(XW) for
// HessVec; InnerGradRecord keeps them in a slot (bilevel.LinearizationStore)
// from the gradient's own pass. HessDiag (the Jacobi preconditioner) reads
// X ⊙ X, uploaded at its first call. The oracles allocate nothing after
// construction: a vector of length d·c is viewed as a d×c block (Reshape),
// and the views of the last few vectors are kept.
type Multilogreg struct {
	denseBudget
	b    backend.Backend
	mn   backend.Multinomial // nil: the core operations
	host *data.Multiclass

	n, m, d, c, dim, h int
	mode               mlrMode

	xTr, xVal    backend.Matrix
	yTr, yVal    backend.Labels
	onesN, onesM backend.Vector
	lossN, lossM backend.Vector
	zTr          backend.Block  // n×c: scores, P − Y, or the rows R
	zVal         backend.Block  // m×c
	scr          backend.Block  // n×c scratch of the core-operation path (nil when fused)
	rowN         backend.Vector // n: p_iᵀu_i on the core-operation path (nil when fused)
	rho          backend.Block  // d×c: ρ = r/(dc)
	wLin         backend.Block  // d×c: the point W of the last Linearize
	prob         backend.Block  // n×c: P at wLin
	tmp          backend.Block  // d×c scratch
	x2           backend.Matrix // X ⊙ X, uploaded at the first HessDiag
	// curW and curP are the current linearization: wLin and prob after
	// Linearize, or a slot's blocks after UseSlot.
	curW, curP backend.Block
	slots      []mlrSlot
	norms      backend.Vector // d (per-feature) or c (per-class): CrossNorm's row or column norms

	lam    []float64 // λ (len h)
	rhoH   []float64 // ρ (len d·c), host
	normsH []float64 // host copy of norms
	one    []float64 // len 1 host scratch
	lin    bool

	consts *bilevel.Constants
	// Norms of the data for Constants (xDone when computed): bounds on
	// ‖X‖₂² and ‖X_val‖₂², and max_i ‖x_i‖₂ over the training rows.
	xTr2, xVal2, rowMax float64
	xDone               bool

	views blockViews

	// refDenseMax is the largest d·c of the dense Newton reference
	// (mlrDenseMax unless a test lowers it).
	refDenseMax int
}

// mlrMode says how λ enters the regulariser.
type mlrMode int

const (
	mlrFeature mlrMode = iota // r_jk = e^{λ_j}
	mlrShared                 // r_jk = e^{λ_0}
	mlrClass                  // r_jk = e^{λ_k}
)

// mlrSlot is a stored linearization: W and P = softmax(XW).
type mlrSlot struct {
	w, p backend.Block
}

var (
	_ Problem              = (*Multilogreg)(nil)
	_ bilevel.CrossNormer  = (*Multilogreg)(nil)
	_ bilevel.CrossApplier = (*Multilogreg)(nil)
	_ DenseBudgeter        = (*Multilogreg)(nil)

	_ bilevel.HessDiager         = (*Multilogreg)(nil)
	_ bilevel.LinearizationStore = (*Multilogreg)(nil)
)

const mlrName = "multilogreg"

// NewMultilogreg uploads multiclass data to the backend and sets λ to the
// data's Lambda.
func NewMultilogreg(b backend.Backend, s *data.Multiclass) (*Multilogreg, error) {
	if b == nil {
		return nil, errors.New("problems: multilogreg: nil backend")
	}
	if s == nil {
		return nil, errors.New("problems: multilogreg: nil data")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("problems: multilogreg: %w", err)
	}
	n, m, d, c := s.Dims()
	if d > math.MaxInt/8/c || max(n, m) > math.MaxInt/8/c {
		return nil, fmt.Errorf("problems: multilogreg: n=%d, m=%d, d=%d, c=%d is too large", n, m, d, c)
	}
	p := &Multilogreg{b: b, host: s, n: n, m: m, d: d, c: c, dim: d * c, h: len(s.Lambda), refDenseMax: mlrDenseMax}
	switch {
	case s.PerClass:
		p.mode = mlrClass
	case p.h == 1 && d > 1:
		p.mode = mlrShared
	}
	if mn, ok := b.(backend.Multinomial); ok {
		p.mn = mn
	}
	p.lam = make([]float64, p.h)
	p.rhoH = make([]float64, p.dim)
	switch p.mode { // CrossNorm's row or column norms
	case mlrFeature:
		p.normsH = make([]float64, d)
	case mlrClass:
		p.normsH = make([]float64, c)
	}
	p.one = make([]float64, 1)
	err := p.upload()
	if err == nil {
		err = p.SetHyper(s.Lambda)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("problems: multilogreg: %w", err)
	}
	return p, nil
}

func (p *Multilogreg) upload() error {
	var err error
	b := p.b
	if p.xTr, err = uploadMatrix(b, p.host.XTrain); err != nil {
		return err
	}
	if p.xVal, err = uploadMatrix(b, p.host.XVal); err != nil {
		return err
	}
	if p.yTr, err = b.NewLabels(p.c, p.host.YTrain); err != nil {
		return err
	}
	if p.yVal, err = b.NewLabels(p.c, p.host.YVal); err != nil {
		return err
	}
	blocks := []struct {
		dst        *backend.Block
		rows, cols int
	}{
		{&p.zTr, p.n, p.c}, {&p.zVal, p.m, p.c}, {&p.rho, p.d, p.c}, {&p.wLin, p.d, p.c},
		{&p.prob, p.n, p.c}, {&p.tmp, p.d, p.c},
	}
	vecs := []struct {
		dst *backend.Vector
		n   int
	}{{&p.onesN, p.n}, {&p.onesM, p.m}, {&p.lossN, p.n}, {&p.lossM, p.m}, {&p.norms, len(p.normsH)}}
	if p.mn == nil {
		blocks = append(blocks, struct {
			dst        *backend.Block
			rows, cols int
		}{&p.scr, p.n, p.c})
		vecs = append(vecs, struct {
			dst *backend.Vector
			n   int
		}{&p.rowN, p.n})
	}
	for _, blk := range blocks {
		if *blk.dst, err = b.NewBlock(blk.rows, blk.cols); err != nil {
			return err
		}
	}
	for _, v := range vecs {
		if *v.dst, err = b.NewVector(v.n); err != nil {
			return err
		}
	}
	b.Fill(p.onesN, 1)
	b.Fill(p.onesM, 1)
	p.curW, p.curP = p.wLin, p.prob
	return b.Err()
}

// Close frees the problem's device memory.
func (p *Multilogreg) Close() error {
	p.FreeSlots()
	for _, v := range []backend.Vector{p.onesN, p.onesM, p.lossN, p.lossM, p.zTr, p.zVal, p.scr, p.rowN,
		p.rho, p.wLin, p.prob, p.tmp, p.norms} {
		if !isNil(v) {
			p.b.Free(v)
		}
	}
	for _, y := range []backend.Labels{p.yTr, p.yVal} {
		if y != nil {
			p.b.Free(y)
		}
	}
	for _, x := range []backend.Matrix{p.xTr, p.xVal, p.x2} {
		if x != nil {
			p.b.FreeMatrix(x)
		}
	}
	p.views.reset()
	p.lin = false
	return nil
}

func (p *Multilogreg) Backend() backend.Backend { return p.b }
func (p *Multilogreg) InnerDim() int            { return p.dim }
func (p *Multilogreg) HyperDim() int            { return p.h }
func (p *Multilogreg) Hyper(dst []float64)      { copy(dst, p.lam) }

// Data returns the host data the problem was built from (its Lambda is the
// one of construction; Hyper gives the current λ).
func (p *Multilogreg) Data() *data.Multiclass { return p.host }

// Dims returns n, m, d and c.
func (p *Multilogreg) Dims() (n, m, d, c int) { return p.n, p.m, p.d, p.c }

// Fused reports whether the oracles use the backend's fused
// backend.Multinomial kernels (else the core operations).
func (p *Multilogreg) Fused() bool { return p.mn != nil }

// SetHyper moves the problem to λ: ρ = e^λ/(dc) broadcast to d×c is
// uploaded (a kept linearization, W and P, does not depend on λ).
func (p *Multilogreg) SetHyper(lambda []float64) error {
	if len(lambda) != p.h {
		return fmt.Errorf("problems: multilogreg: λ has length %d, want %d", len(lambda), p.h)
	}
	dc := float64(p.d) * float64(p.c)
	for j, l := range lambda {
		r := math.Exp(l) / dc
		if math.IsNaN(l) || !(r > 0) || math.IsInf(r, 0) {
			return fmt.Errorf("problems: multilogreg: λ[%d] = %v gives e^λ/(dc) = %v (want finite and > 0)", j, l, r)
		}
	}
	copy(p.lam, lambda)
	for j := 0; j < p.d; j++ {
		for k := 0; k < p.c; k++ {
			var l float64
			switch p.mode {
			case mlrFeature:
				l = lambda[j]
			case mlrShared:
				l = lambda[0]
			case mlrClass:
				l = lambda[k]
			}
			p.rhoH[j*p.c+k] = math.Exp(l) / dc
		}
	}
	p.b.Upload(p.rho, p.rhoH)
	p.consts = nil
	return p.b.Err()
}

// view returns v (checked: non-nil, length d·c) as a d×c block: v itself if
// it is one, else a Reshape view, kept for the next calls.
func (p *Multilogreg) view(oracle, name string, v backend.Vector) (backend.Block, error) {
	if err := checkVec(mlrName, oracle, name, v, p.dim); err != nil {
		return nil, err
	}
	blk, err := p.views.view(p.b, v, p.d, p.c)
	if err != nil {
		return nil, fmt.Errorf("problems: multilogreg: %s: %s: %w", oracle, name, err)
	}
	return blk, nil
}

// views2 checks two length-d·c operands, then returns their views.
func (p *Multilogreg) views2(oracle, nameA string, a backend.Vector, nameB string, bv backend.Vector) (backend.Block, backend.Block, error) {
	if err := checkVecs(mlrName, oracle, nameA, a, p.dim, nameB, bv, p.dim); err != nil {
		return nil, nil, err
	}
	va, err := p.view(oracle, nameA, a)
	if err != nil {
		return nil, nil, err
	}
	vb, err := p.view(oracle, nameB, bv)
	if err != nil {
		return nil, nil, err
	}
	return va, vb, nil
}

func (p *Multilogreg) linearized() error {
	if !p.lin {
		return ErrNotLinearized
	}
	return nil
}

// meanCE returns 1/rows Σ_i CE(Wᵀx_i, y_i): scores by MulBlock, the losses
// by CrossEntropy, summed on the device.
func (p *Multilogreg) meanCE(x backend.Matrix, w backend.Block, y backend.Labels, z backend.Block, loss, ones backend.Vector, rows int) float64 {
	b := p.b
	b.MulBlock(z, 1, x, w, 0)
	b.CrossEntropy(nil, loss, z, y)
	return b.Dot(loss, ones) / float64(rows)
}

// ceGrad sets dst ← Xᵀ(P − Y)/rows: one fused pass (SoftmaxGrad), or
// MulBlock, CrossEntropy and MulBlockTrans with z as the rows×c work block.
func (p *Multilogreg) ceGrad(dst backend.Block, x backend.Matrix, w backend.Block, y backend.Labels, z backend.Block, rows int) {
	if p.mn != nil {
		p.mn.SoftmaxGrad(dst, 1/float64(rows), x, w, y, nil, 0, nil, nil)
		return
	}
	b := p.b
	b.MulBlock(z, 1, x, w, 0)
	b.CrossEntropy(z, nil, z, y)
	b.MulBlockTrans(dst, 1/float64(rows), x, z, 0)
}

// InnerValue returns g(W, λ) = 1/n Σ_i CE(Wᵀx_i, y_i) + ½ Σ ρ_jk W_jk².
func (p *Multilogreg) InnerValue(w backend.Vector) (float64, error) {
	ww, err := p.view("InnerValue", "w", w)
	if err != nil {
		return 0, err
	}
	b := p.b
	ce := p.meanCE(p.xTr, ww, p.yTr, p.zTr, p.lossN, p.onesN, p.n)
	b.MulElem(p.tmp, 1, p.rho, ww, 0)
	r := b.Dot(p.tmp, ww)
	return ce + 0.5*r, b.Err()
}

// InnerGrad sets dst ← Xᵀ(P − Y)/n + ρ ⊙ W.
func (p *Multilogreg) InnerGrad(dst, w backend.Vector) error {
	d, ww, err := p.views2("InnerGrad", "dst", dst, "w", w)
	if err != nil {
		return err
	}
	p.ceGrad(d, p.xTr, ww, p.yTr, p.zTr, p.n)
	p.b.MulElem(d, 1, p.rho, ww, 1)
	return p.b.Err()
}

// Linearize keeps W and P = softmax(XW) (one MulBlock and a row softmax).
func (p *Multilogreg) Linearize(w backend.Vector) error {
	ww, err := p.view("Linearize", "w", w)
	if err != nil {
		return err
	}
	b := p.b
	b.Copy(p.wLin, ww)
	b.MulBlock(p.prob, 1, p.xTr, p.wLin, 0)
	b.Softmax(p.prob, p.prob)
	if err := b.Err(); err != nil {
		return err
	}
	p.curW, p.curP, p.lin = p.wLin, p.prob, true
	return nil
}

// HessVec sets dst ← A V = XᵀR/n + ρ ⊙ V with R_i = p_i ⊙ u_i −
// p_i(p_iᵀu_i), u_i = Vᵀx_i: one fused pass (SoftmaxHessBlock), or
// MulBlock, MulElem, RowSums, ScaleRows, Axpy and MulBlockTrans.
func (p *Multilogreg) HessVec(dst, v backend.Vector) error {
	if err := p.linearized(); err != nil {
		return err
	}
	d, vv, err := p.views2("HessVec", "dst", dst, "v", v)
	if err != nil {
		return err
	}
	b := p.b
	if p.mn != nil {
		p.mn.SoftmaxHessBlock(d, 1/float64(p.n), p.xTr, p.curP, nil, vv, 0)
	} else {
		b.MulBlock(p.zTr, 1, p.xTr, vv, 0)
		b.MulElem(p.zTr, 1, p.curP, p.zTr, 0)
		b.RowSums(p.rowN, 1, p.zTr, 0)
		b.ScaleRows(p.scr, p.rowN, p.curP)
		b.Axpy(-1, p.scr, p.zTr)
		b.MulBlockTrans(d, 1/float64(p.n), p.xTr, p.zTr, 0)
	}
	b.MulElem(d, 1, p.rho, vv, 1)
	return b.Err()
}

// CrossVec sets dst ← Bᵀv: the row sums (per-feature), the column sums
// (per-class) or the sum (shared λ; read back to the host and uploaded) of
// ρ ⊙ W ⊙ V.
func (p *Multilogreg) CrossVec(dst, v backend.Vector) error {
	if err := p.linearized(); err != nil {
		return err
	}
	if err := checkVecs(mlrName, "CrossVec", "dst", dst, p.h, "v", v, p.dim); err != nil {
		return err
	}
	vv, err := p.view("CrossVec", "v", v)
	if err != nil {
		return err
	}
	b := p.b
	b.MulElem(p.tmp, 1, p.rho, p.curW, 0)
	switch p.mode {
	case mlrShared:
		p.one[0] = b.Dot(p.tmp, vv)
		b.Upload(dst, p.one)
	case mlrFeature:
		b.MulElem(p.tmp, 1, p.tmp, vv, 0)
		b.RowSums(dst, 1, p.tmp, 0)
	case mlrClass:
		b.MulElem(p.tmp, 1, p.tmp, vv, 0)
		b.ColSums(dst, 1, p.tmp, 0)
	}
	return b.Err()
}

// CrossApply sets dst ← B u (bilevel.CrossApplier; len u = h, len dst =
// d·c), the derivative in λ of ∇_W g along u, in which only ρ ⊙ W depends on
// λ (∂ρ_jk/∂λ_l = ρ_jk when r_jk = e^{λ_l}):
//
//	per-feature:  (B u)_jk = ρ_jk W_jk u_j   (ScaleRows),
//	per-class:    (B u)_jk = ρ_jk W_jk u_k   (ScaleCols),
//	shared:       B u = u_0·ρ ⊙ W            (u_0 read back to the host),
//
// the adjoint of CrossVec.
func (p *Multilogreg) CrossApply(dst, u backend.Vector) error {
	if err := p.linearized(); err != nil {
		return err
	}
	if err := checkVecs(mlrName, "CrossApply", "dst", dst, p.dim, "u", u, p.h); err != nil {
		return err
	}
	d, err := p.view("CrossApply", "dst", dst)
	if err != nil {
		return err
	}
	b := p.b
	switch p.mode {
	case mlrShared:
		b.Download(p.one, u)
		b.MulElem(d, p.one[0], p.rho, p.curW, 0)
	case mlrFeature:
		b.MulElem(p.tmp, 1, p.rho, p.curW, 0)
		b.ScaleRows(d, u, p.tmp)
	case mlrClass:
		b.MulElem(p.tmp, 1, p.rho, p.curW, 0)
		b.ScaleCols(d, p.tmp, u)
	}
	return b.Err()
}

// CrossNorm returns ‖B(W)‖₂ exactly (Kind Exact). The columns of B have
// disjoint supports (column l holds ρ_jk W_jk at the entries (j, k) with
// r_jk = e^{λ_l}), so BᵀB is diagonal and
//
//	per-feature: ‖B‖ = max_j e^{λ_j}‖W_{j,:}‖/(dc),
//	per-class:   ‖B‖ = max_k e^{λ_k}‖W_{:,k}‖/(dc),
//	shared:      ‖B‖ = e^{λ_0}‖W‖_F/(dc).
//
// The d (or c) norms are formed on the device and read back for the
// maximum.
func (p *Multilogreg) CrossNorm(w backend.Vector) (bilevel.Constant, error) {
	ww, err := p.view("CrossNorm", "w", w)
	if err != nil {
		return bilevel.Constant{}, err
	}
	b := p.b
	b.MulElem(p.tmp, 1, p.rho, ww, 0)
	var v float64
	switch p.mode {
	case mlrShared:
		v = b.Nrm2(p.tmp)
	case mlrFeature:
		rows, err := p.rowNorms(p.tmp)
		if err != nil {
			return bilevel.Constant{}, err
		}
		for _, r := range rows {
			v = math.Max(v, r)
		}
	case mlrClass:
		b.MulElem(p.tmp, 1, p.tmp, p.tmp, 0)
		b.ColSums(p.norms, 1, p.tmp, 0)
		b.Download(p.normsH, p.norms)
		for _, s := range p.normsH {
			v = math.Max(v, s)
		}
		v = math.Sqrt(v)
	}
	return bilevel.Constant{Value: v, Kind: bilevel.Exact}, b.Err()
}

// rowNorms returns the d row norms of the d×c block a, computed on the
// device (RowNorms) and read back into normsH.
func (p *Multilogreg) rowNorms(a backend.Block) ([]float64, error) {
	b := p.b
	b.RowNorms(p.norms, a, 0)
	b.Download(p.normsH, p.norms)
	return p.normsH, b.Err()
}

// OuterValue returns E(W) = 1/m Σ_i CE(Wᵀx_i, y_i) over the validation rows.
func (p *Multilogreg) OuterValue(w backend.Vector) (float64, error) {
	ww, err := p.view("OuterValue", "w", w)
	if err != nil {
		return 0, err
	}
	v := p.meanCE(p.xVal, ww, p.yVal, p.zVal, p.lossM, p.onesM, p.m)
	return v, p.b.Err()
}

// OuterGrad sets dst ← X_valᵀ(P_val − Y_val)/m.
func (p *Multilogreg) OuterGrad(dst, w backend.Vector) error {
	d, ww, err := p.views2("OuterGrad", "dst", dst, "w", w)
	if err != nil {
		return err
	}
	p.ceGrad(d, p.xVal, ww, p.yVal, p.zVal, p.m)
	return p.b.Err()
}

// OuterHyperGrad sets dst ← 0: E does not depend on λ.
func (p *Multilogreg) OuterHyperGrad(dst, w backend.Vector) error {
	if err := checkVecs(mlrName, "OuterHyperGrad", "dst", dst, p.h, "w", w, p.dim); err != nil {
		return err
	}
	p.b.Fill(dst, 0)
	return p.b.Err()
}

// HessDiag sets dst ← diag(A) at the linearization point (bilevel.HessDiager):
//
//	A_{(j,k),(j,k)} = 1/n Σ_i X_ij² P_ik(1 − P_ik) + ρ_jk,
//
// one pass over X ⊙ X (MulBlockTrans with the rows P ⊙ (1 − P)). X ⊙ X (with
// the duplicates of a CSR X summed first) is uploaded at the first call:
// O(nnz) more device memory, for the Jacobi preconditioner of conjugate
// gradients only.
func (p *Multilogreg) HessDiag(dst backend.Vector) error {
	if err := p.linearized(); err != nil {
		return err
	}
	d, err := p.view("HessDiag", "dst", dst)
	if err != nil {
		return err
	}
	if p.x2 == nil {
		if p.x2, err = uploadMatrix(p.b, mlrSquared(p.host.XTrain)); err != nil {
			p.x2 = nil
			return fmt.Errorf("problems: multilogreg: HessDiag: %w", err)
		}
	}
	b := p.b
	b.MulElem(p.zTr, -1, p.curP, p.curP, 0)
	b.Axpy(1, p.curP, p.zTr)
	b.MulBlockTrans(d, 1/float64(p.n), p.x2, p.zTr, 0)
	b.Axpy(1, p.rho, d)
	return b.Err()
}

// mlrSquared returns X ⊙ X, with the duplicates of a CSR row summed
// before squaring (so that it is the square of the matrix X stands for).
func mlrSquared(x *data.Matrix) *data.Matrix {
	if !x.IsCSR() {
		sq := make([]float64, len(x.Data))
		for k, v := range x.Data {
			sq[k] = v * v
		}
		return data.NewDense(x.Rows, x.Cols, sq)
	}
	indptr := make([]int, x.Rows+1)
	indices := make([]int, 0, len(x.Indices))
	vals := make([]float64, 0, len(x.Data))
	pos := make(map[int]int) // column → position in the current row
	for i := 0; i < x.Rows; i++ {
		clear(pos)
		start := len(indices)
		for k := x.Indptr[i]; k < x.Indptr[i+1]; k++ {
			j := x.Indices[k]
			if at, ok := pos[j]; ok {
				vals[at] += x.Data[k]
				continue
			}
			pos[j] = len(indices)
			indices = append(indices, j)
			vals = append(vals, x.Data[k])
		}
		for k := start; k < len(vals); k++ {
			vals[k] *= vals[k]
		}
		indptr[i+1] = len(indices)
	}
	return data.NewCSR(x.Rows, x.Cols, indptr, indices, vals)
}

// checkSlot returns nil when slot indexes an allocated slot, else an
// *OperandError.
func (p *Multilogreg) checkSlot(oracle string, slot int) error {
	if slot < 0 || slot >= len(p.slots) {
		return &OperandError{Problem: mlrName, Oracle: oracle, Operand: "slot", Len: slot, Want: len(p.slots)}
	}
	return nil
}

// SlotBytes is W and P: (d + n)·c float64s.
func (p *Multilogreg) SlotBytes() int64 { return 8 * (int64(p.d) + int64(p.n)) * int64(p.c) }

// AllocSlots prepares n linearization slots (bilevel.LinearizationStore).
func (p *Multilogreg) AllocSlots(n int) error {
	p.FreeSlots()
	if n < 0 {
		return fmt.Errorf("problems: multilogreg: AllocSlots(%d)", n)
	}
	p.slots = make([]mlrSlot, n)
	for i := range p.slots {
		var err error
		if p.slots[i].w, err = p.b.NewBlock(p.d, p.c); err == nil {
			p.slots[i].p, err = p.b.NewBlock(p.n, p.c)
		}
		if err != nil {
			p.FreeSlots()
			return err
		}
	}
	return nil
}

// InnerGradRecord is InnerGrad that also keeps W and P = softmax(XW) in
// slot: the fused pass writes P as it goes (SoftmaxGrad's prob), the core
// operations take it from the scores (Softmax) before CrossEntropy.
func (p *Multilogreg) InnerGradRecord(dst, w backend.Vector, slot int) error {
	const oracle = "InnerGradRecord"
	if err := p.checkSlot(oracle, slot); err != nil {
		return err
	}
	d, ww, err := p.views2(oracle, "dst", dst, "w", w)
	if err != nil {
		return err
	}
	s, b := p.slots[slot], p.b
	if p.mn != nil {
		p.mn.SoftmaxGrad(d, 1/float64(p.n), p.xTr, ww, p.yTr, nil, 0, s.p, nil)
	} else {
		b.MulBlock(p.zTr, 1, p.xTr, ww, 0)
		b.Softmax(s.p, p.zTr)
		b.CrossEntropy(p.zTr, nil, p.zTr, p.yTr)
		b.MulBlockTrans(d, 1/float64(p.n), p.xTr, p.zTr, 0)
	}
	b.MulElem(d, 1, p.rho, ww, 1)
	b.Copy(s.w, ww)
	return b.Err()
}

// UseSlot makes a stored linearization current.
func (p *Multilogreg) UseSlot(slot int) error {
	if err := p.checkSlot("UseSlot", slot); err != nil {
		return err
	}
	p.curW, p.curP, p.lin = p.slots[slot].w, p.slots[slot].p, true
	return nil
}

// FreeSlots releases the slots; the current linearization falls back to the
// last Linearize.
func (p *Multilogreg) FreeSlots() {
	for _, s := range p.slots {
		for _, v := range []backend.Vector{s.w, s.p} {
			if !isNil(v) {
				p.b.Free(v)
			}
		}
	}
	if p.slots != nil && p.curW != p.wLin {
		p.lin = false // the current linearization was a slot
	}
	p.slots = nil
	p.curW, p.curP = p.wLin, p.prob
}

// rhoRange returns min and max of ρ = e^λ/(dc).
func (p *Multilogreg) rhoRange() (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	dc := float64(p.d) * float64(p.c)
	for _, l := range p.lam {
		r := math.Exp(l) / dc
		lo, hi = math.Min(lo, r), math.Max(hi, r)
	}
	return lo, hi
}

// mlrLSE3 bounds the third derivative of log-sum-exp: for z, δ, u ∈ R^c and
// H(z) = diag(p) − ppᵀ, p = softmax(z), ‖DH(z)[δ]‖₂ ≤ ‖δ‖/√2. Proof: uᵀ
// DH(z)[δ] u is the third cumulant E_p[(u_J − ū)²(δ_J − δ̄)] of the index
// J ~ p (ū = pᵀu, δ̄ = pᵀδ); |δ_j − δ̄| = |Σ_l p_l(δ_j − δ_l)| ≤
// max_l |δ_j − δ_l| ≤ √2‖δ‖, and E_p[(u_J − ū)²] = uᵀH u ≤ ½‖u‖² (below),
// so |uᵀ DH[δ] u| ≤ ‖δ‖‖u‖²/√2, and DH[δ] is symmetric.
var mlrLSE3 = 1 / math.Sqrt2

// Constants returns proven constants (Kind Bound, Exact for L_B and L_Eλ),
// valid for every W:
//
//	μ  = min ρ = min_l e^{λ_l}/(dc): the cross-entropy part of A is PSD;
//	L  = ‖X‖₂²/(2n) + max ρ: H(z) = diag(p) − ppᵀ ⪯ ½I (Gershgorin: row j
//	     has diagonal p_j(1 − p_j) and off-diagonal sum p_j(1 − p_j), so every
//	     disc lies in [0, 2p_j(1 − p_j)] ⊆ [0, ½]), hence
//	     Σ_i x_ix_iᵀ ⊗ H(z_i)/n ⪯ ½XᵀX/n ⊗ I;
//	L_f = ‖X_val‖₂²/(2m), likewise (E has no regulariser);
//	L_A = max_i‖x_i‖·‖X‖₂²/(√2 n): with ΔW = W − W', z_i − z_i' = ΔWᵀx_i,
//	     ‖H(z_i) − H(z_i')‖ ≤ ‖ΔWᵀx_i‖/√2 ≤ ‖ΔW‖_F‖x_i‖/√2 (mlrLSE3, along the
//	     segment), so |Vᵀ(A(W) − A(W'))V| ≤ Σ_i ‖ΔW‖_F‖x_i‖‖Vᵀx_i‖²/(√2 n) ≤
//	     ‖ΔW‖_F max_i‖x_i‖ ‖XV‖_F²/(√2 n) ≤ ‖ΔW‖_F max_i‖x_i‖ ‖X‖₂²‖V‖_F²/(√2 n);
//	L_B = max ρ (Exact): B is linear in W, ‖B(ΔW)‖ = max_l ρ_l‖ΔW restricted
//	     to λ_l's entries‖ ≤ max ρ‖ΔW‖_F, attained by a ΔW supported there;
//	L_Eλ = 0 (Exact): E does not depend on λ.
//
// ‖X‖₂² is bounded by the least of the largest eigenvalue of XᵀX (a dense
// eigendecomposition, widened by its rounding, when denseCheap and within
// the dense budget), ‖X‖_F² and ‖X‖₁‖X‖_∞ (Hölder), from one host pass
// over X (duplicate CSR entries summed first), done once.
func (p *Multilogreg) Constants() (bilevel.Constants, error) {
	if p.consts != nil {
		return *p.consts, nil
	}
	if err := p.dataNorms(); err != nil {
		return bilevel.Constants{}, err
	}
	lo, hi := p.rhoRange()
	bound := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Bound} }
	n, m := float64(p.n), float64(p.m)
	c := bilevel.Constants{
		Mu:  bound(lo),
		L:   bound(p.xTr2/(2*n) + hi),
		Lf:  bound(p.xVal2 / (2 * m)),
		LA:  bound(mlrLSE3 * p.rowMax * p.xTr2 / n),
		LB:  bilevel.Constant{Value: hi, Kind: bilevel.Exact},
		LEl: bilevel.Constant{Value: 0, Kind: bilevel.Exact},
	}
	if err := checkConstants(mlrName, c); err != nil {
		return c, err
	}
	p.consts = &c
	return c, nil
}

// dataNorms computes, once, the bounds on ‖X‖₂² and ‖X_val‖₂² and the
// largest training row norm (see Constants).
func (p *Multilogreg) dataNorms() error {
	if p.xDone {
		return nil
	}
	var err error
	if p.xTr2, p.rowMax, err = p.normBound(p.host.XTrain); err != nil {
		return err
	}
	if p.xVal2, _, err = p.normBound(p.host.XVal); err != nil {
		return err
	}
	p.xDone = true
	return nil
}

// normBound returns an upper bound on ‖X‖₂² and max_i ‖x_i‖₂ (see
// Constants).
func (p *Multilogreg) normBound(x *data.Matrix) (norm2sq, rowMax float64, err error) {
	colAbs := make([]float64, x.Cols)
	var acc []float64
	var seen []bool
	var touched []int
	if x.IsCSR() {
		acc, seen = make([]float64, x.Cols), make([]bool, x.Cols)
	}
	var frob2, rowAbsMax, row2Max float64
	for i := 0; i < x.Rows; i++ {
		var r2, rAbs float64
		add := func(j int, v float64) {
			r2 += v * v
			rAbs += math.Abs(v)
			colAbs[j] += math.Abs(v)
		}
		if x.IsCSR() {
			touched = touched[:0]
			for k := x.Indptr[i]; k < x.Indptr[i+1]; k++ {
				j := x.Indices[k]
				if !seen[j] {
					seen[j] = true
					touched = append(touched, j)
				}
				acc[j] += x.Data[k]
			}
			for _, j := range touched {
				add(j, acc[j])
				acc[j], seen[j] = 0, false
			}
		} else {
			for j, v := range x.Data[i*x.Cols : (i+1)*x.Cols] {
				add(j, v)
			}
		}
		frob2 += r2
		rowAbsMax = math.Max(rowAbsMax, rAbs)
		row2Max = math.Max(row2Max, r2)
	}
	var colMax float64
	for _, v := range colAbs {
		colMax = math.Max(colMax, v)
	}
	// Rounding of the sums: a relative 1e-12 more keeps the bounds proven.
	const widen = 1 + 1e-12
	norm2sq = math.Min(frob2, colMax*rowAbsMax) * widen
	if denseCheap(x.Rows, x.Cols) && p.fits("", eigBytes(x)) == nil {
		_, hi, err := gramExtremes(x, nil, nil)
		if err != nil {
			return 0, 0, fmt.Errorf("problems: multilogreg: %w", err)
		}
		norm2sq = math.Min(norm2sq, (hi+eigTol(x.Cols, hi))*widen)
	}
	return norm2sq, math.Sqrt(row2Max) * widen, nil
}
