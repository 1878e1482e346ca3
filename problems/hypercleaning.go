package problems

import (
	"errors"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// Hypercleaning is data hyper-cleaning (Franceschi et al. 2017, §5.1;
// Ehrhardt & Roberts 2024, §4.2): multinomial logistic regression on a
// training set with partly corrupted labels, each example's loss weighted by
// s_i = σ(λ_i) (σ the logistic sigmoid), the weights tuned on a clean
// validation set. With x̃ = [x; 1] ∈ R^{p+1}, W ∈ R^{c×(p+1)}, CE(z, y) =
// LSE(z) − z_y and X̃ the n×(p+1) matrix of rows x̃_iᵀ,
//
//	g(W, λ) = 1/n Σ_i s_i CE(W x̃_i, y_i) + reg‖W‖_F²,
//	E(W)    = 1/m Σ_j CE(W x̃_j, y_j)          (validation rows; no λ),
//	∇_W g   = X̃ᵀ diag(s/n) (P − Y) + 2reg W    (as the (p+1)×c block Wᵀ),
//	A V     = X̃ᵀ R + 2reg V,  R_i = (s_i/n)(p_i ⊙ u_i − p_i (p_iᵀu_i)),  u_i = Vᵀx̃_i,
//	(Bᵀv)_i = σ'(λ_i)/n ⟨p_i − e_{y_i}, Vᵀx̃_i⟩,
//	B u     = X̃ᵀ diag(σ'(λ) ⊙ u/n) (P − Y),
//
// with P the row softmax of the scores X̃ Wᵀ, Y the one-hot labels, and
// σ' = σ(1 − σ). The hyperparameter dimension is h = n.
//
// Layout of the inner variable: w (len d = (p+1)·c) is Wᵀ stored row-major,
// the (p+1)×c block feature-major: w[j·c + k] = W_{kj}, the weight of
// feature j (j = p the intercept) for class k. The scores X̃·Wᵀ are then the
// backend's X·W convention (MulBlock, SoftmaxGrad), and A = Σ_i (s_i/n)
// x̃_ix̃_iᵀ ⊗ H_i + 2reg·I with H_i = diag(p_i) − p_ip_iᵀ.
//
// X̃ is built at construction: a dense X gets a column of ones, a CSR X
// one more stored entry per row, and stays CSR. The oracles use the fused
// kernels of backend.Multinomial (SoftmaxGrad with weights s/n,
// SoftmaxHessBlock) where the backend has them, and compose core operations
// otherwise; each reads its data matrix once and allocates nothing after
// construction. Linearize keeps P and P − Y at w, which do not depend on λ,
// so SetHyper leaves the linearization in place.
//
// Constants are proven bounds (Kind Bound) when the Gram matrices are formed
// exactly on the host, Lanczos estimates (Kind Estimate) otherwise; their
// derivations are on Constants. Reference forms d×d Hessians: it checks
// DenseBytes against the dense budget (SetMaxDenseBytes) first and fails
// with ErrTooLarge beyond it.
type Hypercleaning struct {
	denseBudget

	b    backend.Backend
	mn   backend.Multinomial // nil: the core-operation compositions
	host *data.Hypercleaning
	xt   *data.Matrix // X̃ on the host
	xv   *data.Matrix // X̃_val on the host

	n, m, pe, c, d int // pe = p + 1
	reg            float64

	xTr, xVal  backend.Matrix
	xSq        backend.Matrix // X̃ ⊙ X̃, uploaded at the first HessDiag
	yTr, yVal  backend.Labels
	wts        backend.Vector // n: s/n
	dsig       backend.Vector // n: σ'(λ)/n
	crossW     backend.Vector // n: σ'(λ_i)‖x̃_i‖/n
	prob, res  backend.Block  // n×c: P and P − Y at the linearization point
	zN, tN     backend.Block  // n×c workspace
	vecN       backend.Vector // n workspace
	zM         backend.Block  // m×c workspace
	lossM, one backend.Vector // m: losses, ones

	lam, s, sp []float64 // λ, σ(λ), σ'(λ) on the host
	rowNorm2   []float64 // ‖x̃_i‖² (n)
	hbuf       []float64 // n host scratch
	lin        bool

	consts *bilevel.Constants // at the current λ
	// λ-independent spectral norms, computed once: ‖X̃‖₂² and ‖X̃_val‖₂²
	// with their kind (Exact, or Estimate from Lanczos).
	x2, xv2   float64
	xKind     bilevel.Kind
	normsDone bool

	views blockViews
}

var (
	_ bilevel.Problem       = (*Hypercleaning)(nil)
	_ bilevel.Referencer    = (*Hypercleaning)(nil)
	_ bilevel.CrossNormer   = (*Hypercleaning)(nil)
	_ bilevel.CrossApplier  = (*Hypercleaning)(nil)
	_ bilevel.HessVecPairer = (*Hypercleaning)(nil)
	_ bilevel.HessDiager    = (*Hypercleaning)(nil)
	_ DenseBudgeter         = (*Hypercleaning)(nil)
	_ Problem               = (*Hypercleaning)(nil)
)

const hcName = "hypercleaning"

// NewHypercleaning validates the data, builds X̃ and X̃_val, uploads them to
// the backend and sets λ to the data's Lambda.
func NewHypercleaning(b backend.Backend, h *data.Hypercleaning) (*Hypercleaning, error) {
	if b == nil {
		return nil, errors.New("problems: hypercleaning: nil backend")
	}
	if h == nil {
		return nil, errors.New("problems: hypercleaning: nil data")
	}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("problems: hypercleaning: %w", err)
	}
	n, m, p, c := h.Dims()
	if p >= math.MaxInt/8/c || n > math.MaxInt/8/(p+1) || m > math.MaxInt/8/(p+1) || max(n, m) > math.MaxInt/8/c {
		return nil, fmt.Errorf("problems: hypercleaning: n=%d, m=%d, p=%d, c=%d is too large", n, m, p, c)
	}
	pr := &Hypercleaning{b: b, host: h, n: n, m: m, pe: p + 1, c: c, d: (p + 1) * c, reg: h.Reg}
	pr.mn, _ = b.(backend.Multinomial)
	pr.xt, pr.xv = hcWithOnes(h.XTrain), hcWithOnes(h.XVal)
	pr.lam, pr.s, pr.sp, pr.hbuf = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	pr.rowNorm2 = hcRowNorms2(pr.xt)
	err := pr.upload()
	if err == nil {
		err = pr.SetHyper(h.Lambda)
	}
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("problems: hypercleaning: %w", err)
	}
	return pr, nil
}

// hcWithOnes returns X̃ = [X 1]: dense with a last column of ones, or CSR
// with one more stored entry (column p, value 1) at the end of each row.
func hcWithOnes(x *data.Matrix) *data.Matrix {
	r, pe := x.Rows, x.Cols+1
	if !x.IsCSR() {
		out := data.NewDense(r, pe, nil)
		for i := range r {
			copy(out.Data[i*pe:], x.Data[i*x.Cols:(i+1)*x.Cols])
			out.Data[i*pe+pe-1] = 1
		}
		return out
	}
	nnz := len(x.Data) + r
	indptr, indices, vals := make([]int, r+1), make([]int, 0, nnz), make([]float64, 0, nnz)
	for i := range r {
		lo, hi := x.Indptr[i], x.Indptr[i+1]
		indices = append(append(indices, x.Indices[lo:hi]...), x.Cols)
		vals = append(append(vals, x.Data[lo:hi]...), 1)
		indptr[i+1] = len(vals)
	}
	return data.NewCSR(r, pe, indptr, indices, vals)
}

// hcRowNorms2 returns ‖x_i‖² of every row of x (CSR duplicates summed, as
// the backends and ToDense sum them).
func hcRowNorms2(x *data.Matrix) []float64 {
	out := make([]float64, x.Rows)
	if !x.IsCSR() {
		for i := range out {
			var s float64
			for _, v := range x.Data[i*x.Cols : (i+1)*x.Cols] {
				s += v * v
			}
			out[i] = s
		}
		return out
	}
	acc := make([]float64, x.Cols)
	for i := range out {
		lo, hi := x.Indptr[i], x.Indptr[i+1]
		for k := lo; k < hi; k++ {
			acc[x.Indices[k]] += x.Data[k]
		}
		var s float64
		for k := lo; k < hi; k++ {
			j := x.Indices[k]
			s += acc[j] * acc[j]
			acc[j] = 0 // a duplicate column counts once
		}
		out[i] = s
	}
	return out
}

func (p *Hypercleaning) upload() error {
	var err error
	if p.xTr, err = uploadMatrix(p.b, p.xt); err != nil {
		return err
	}
	if p.xVal, err = uploadMatrix(p.b, p.xv); err != nil {
		return err
	}
	if p.yTr, err = p.b.NewLabels(p.c, p.host.YTrain); err != nil {
		return err
	}
	if p.yVal, err = p.b.NewLabels(p.c, p.host.YVal); err != nil {
		return err
	}
	for _, blk := range []struct {
		dst        *backend.Block
		rows, cols int
	}{{&p.prob, p.n, p.c}, {&p.res, p.n, p.c}, {&p.zN, p.n, p.c}, {&p.tN, p.n, p.c}, {&p.zM, p.m, p.c}} {
		if *blk.dst, err = p.b.NewBlock(blk.rows, blk.cols); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		dst *backend.Vector
		n   int
	}{{&p.wts, p.n}, {&p.dsig, p.n}, {&p.crossW, p.n}, {&p.vecN, p.n}, {&p.lossM, p.m}, {&p.one, p.m}} {
		if *v.dst, err = p.b.NewVector(v.n); err != nil {
			return err
		}
	}
	p.b.Fill(p.one, 1)
	return p.b.Err()
}

// Close frees the problem's device memory.
func (p *Hypercleaning) Close() error {
	for _, v := range []backend.Vector{p.wts, p.dsig, p.crossW, p.prob, p.res, p.zN, p.tN, p.vecN, p.zM, p.lossM, p.one} {
		if !isNil(v) {
			p.b.Free(v)
		}
	}
	for _, y := range []backend.Labels{p.yTr, p.yVal} {
		if y != nil {
			p.b.Free(y)
		}
	}
	for _, x := range []backend.Matrix{p.xTr, p.xVal, p.xSq} {
		if x != nil {
			p.b.FreeMatrix(x)
		}
	}
	p.xSq = nil
	p.views.reset()
	p.lin = false
	return nil
}

func (p *Hypercleaning) Backend() backend.Backend { return p.b }
func (p *Hypercleaning) InnerDim() int            { return p.d }
func (p *Hypercleaning) HyperDim() int            { return p.n }
func (p *Hypercleaning) Hyper(dst []float64)      { copy(dst, p.lam) }

// Data returns the host data the problem was built from (its Lambda is the
// one of construction; Hyper gives the current one).
func (p *Hypercleaning) Data() *data.Hypercleaning { return p.host }

// Dims returns n (training rows), m (validation rows), p (features, without
// the intercept) and c (classes).
func (p *Hypercleaning) Dims() (n, m, features, classes int) { return p.n, p.m, p.pe - 1, p.c }

// DenseBytes estimates the most bytes Reference or the exact constants
// allocate on the host (see hypercleaningDenseBytes).
func (p *Hypercleaning) DenseBytes() int64 { return saturate(hypercleaningDenseBytes(p.host)) }

// hypercleaningDenseBytes estimates Hypercleaning's dense computations, with
// pe = p + 1 and d = pe·c: Reference's dense copy of X̃ and one weighted copy
// (2n·pe), the pe×pe Gram product and its symmetric copy (2pe²), the d×d
// Hessian and its Cholesky factor (2d²) and host vectors (16 of length d,
// 8 of length n·c and m·c); the exact constants' weighted Gram matrices of
// X̃ and X̃_val (gramBytes) and their eigendecompositions (4pe² more).
func hypercleaningDenseBytes(h *data.Hypercleaning) float64 {
	if h == nil || h.XTrain == nil || h.XVal == nil {
		return 0
	}
	n, m, pe, c := float64(h.XTrain.Rows), float64(h.XVal.Rows), float64(h.XTrain.Cols+1), float64(max(h.Classes, 1))
	d := pe * c
	ref := 8 * (2*n*pe + 2*pe*pe + 2*d*d + 16*d + 8*(n+m)*c)
	consts := 8*(2*n*pe+4*pe*pe) + 8*16*(n+m)
	return math.Max(ref, consts)
}

// hcSigmoid returns σ(x) = 1/(1 + e^{−x}) and σ'(x) = σ(x)σ(−x) without
// overflow.
func hcSigmoid(x float64) (s, ds float64) {
	e := math.Exp(-math.Abs(x))
	if x >= 0 {
		s = 1 / (1 + e)
	} else {
		s = e / (1 + e)
	}
	return s, e / ((1 + e) * (1 + e))
}

// SetHyper moves the problem to λ (len n, finite): it uploads s/n, σ'(λ)/n
// and σ'(λ_i)‖x̃_i‖/n. The linearization (P and P − Y) does not depend on λ
// and is kept.
func (p *Hypercleaning) SetHyper(lambda []float64) error {
	if len(lambda) != p.n {
		return fmt.Errorf("problems: hypercleaning: λ has length %d, want n = %d", len(lambda), p.n)
	}
	for i, l := range lambda {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("problems: hypercleaning: λ[%d] = %v (want finite)", i, l)
		}
	}
	copy(p.lam, lambda)
	inv := 1 / float64(p.n)
	for i, l := range lambda {
		p.s[i], p.sp[i] = hcSigmoid(l)
	}
	for i := range p.hbuf {
		p.hbuf[i] = p.s[i] * inv
	}
	p.b.Upload(p.wts, p.hbuf)
	for i := range p.hbuf {
		p.hbuf[i] = p.sp[i] * inv
	}
	p.b.Upload(p.dsig, p.hbuf)
	for i := range p.hbuf {
		p.hbuf[i] = p.sp[i] * math.Sqrt(p.rowNorm2[i]) * inv
	}
	p.b.Upload(p.crossW, p.hbuf)
	p.consts = nil
	return p.b.Err()
}

// view returns v (len d, checked) as a (p+1)×c block: v itself if it is one,
// else a Reshape view, kept for the next calls.
func (p *Hypercleaning) view(v backend.Vector) (backend.Block, error) {
	blk, err := p.views.view(p.b, v, p.pe, p.c)
	if err != nil {
		return nil, fmt.Errorf("problems: hypercleaning: %w", err)
	}
	return blk, nil
}

// views2 checks two length-d operands and returns their block views.
func (p *Hypercleaning) views2(oracle, na string, a backend.Vector, nb string, b backend.Vector) (backend.Block, backend.Block, error) {
	if err := checkVecs(hcName, oracle, na, a, p.d, nb, b, p.d); err != nil {
		return nil, nil, err
	}
	va, err := p.view(a)
	if err != nil {
		return nil, nil, err
	}
	vb, err := p.view(b)
	if err != nil {
		return nil, nil, err
	}
	return va, vb, nil
}

// InnerValue returns g = Σ_i (s_i/n) CE_i + reg‖w‖².
func (p *Hypercleaning) InnerValue(w backend.Vector) (float64, error) {
	if err := checkVec(hcName, "InnerValue", "w", w, p.d); err != nil {
		return 0, err
	}
	wb, err := p.view(w)
	if err != nil {
		return 0, err
	}
	b := p.b
	b.MulBlock(p.zN, 1, p.xTr, wb, 0)
	b.CrossEntropy(nil, p.vecN, p.zN, p.yTr)
	v := b.Dot(p.vecN, p.wts) + p.reg*b.Dot(w, w)
	return v, b.Err()
}

// softmaxGrad sets dst ← α·X̃ᵀ diag(d)(P − Y) (d nil: ones) for the scores
// X̃·W, in one pass over X̃: SoftmaxGrad, or MulBlock → CrossEntropy →
// ScaleRows → MulBlockTrans into the n×c (or m×c) workspace z.
func (p *Hypercleaning) softmaxGrad(dst backend.Block, alpha float64, x backend.Matrix, w backend.Block, y backend.Labels, d backend.Vector, z backend.Block) {
	b := p.b
	if p.mn != nil {
		p.mn.SoftmaxGrad(dst, alpha, x, w, y, d, 0, nil, nil)
		return
	}
	b.MulBlock(z, 1, x, w, 0)
	b.CrossEntropy(z, nil, z, y)
	if d != nil {
		b.ScaleRows(z, d, z)
	}
	b.MulBlockTrans(dst, alpha, x, z, 0)
}

// InnerGrad sets dst ← X̃ᵀ diag(s/n)(P − Y) + 2reg·w.
func (p *Hypercleaning) InnerGrad(dst, w backend.Vector) error {
	d, wb, err := p.views2("InnerGrad", "dst", dst, "w", w)
	if err != nil {
		return err
	}
	p.softmaxGrad(d, 1, p.xTr, wb, p.yTr, p.wts, p.zN)
	p.b.Axpy(2*p.reg, w, dst)
	return p.b.Err()
}

// Linearize keeps P = softmax(X̃·W) and P − Y at w.
func (p *Hypercleaning) Linearize(w backend.Vector) error {
	if err := checkVec(hcName, "Linearize", "w", w, p.d); err != nil {
		return err
	}
	wb, err := p.view(w)
	if err != nil {
		return err
	}
	b := p.b
	b.MulBlock(p.zN, 1, p.xTr, wb, 0)
	b.Softmax(p.prob, p.zN)
	b.CrossEntropy(p.res, nil, p.zN, p.yTr)
	if err := b.Err(); err != nil {
		return err
	}
	p.lin = true
	return nil
}

func (p *Hypercleaning) linearized(oracle string) error {
	if !p.lin {
		return fmt.Errorf("problems: hypercleaning: %s: %w", oracle, ErrNotLinearized)
	}
	return nil
}

// HessDiag sets dst ← diag(A) at the linearization point (bilevel.HessDiager,
// the Jacobi preconditioner): the diagonal of Σ_i (s_i/n) x̃_ix̃_iᵀ ⊗ H_i is
// (X̃ ⊙ X̃)ᵀ diag(s/n) (P ⊙ (1 − P)) in the (p+1)×c layout of w, plus 2reg.
// X̃ ⊙ X̃ (CSR duplicates summed first) is uploaded at the first call: O(nnz)
// more device memory, only when preconditioning is used.
func (p *Hypercleaning) HessDiag(dst backend.Vector) error {
	if err := p.linearized("HessDiag"); err != nil {
		return err
	}
	if err := checkVec(hcName, "HessDiag", "dst", dst, p.d); err != nil {
		return err
	}
	d, err := p.view(dst)
	if err != nil {
		return err
	}
	if p.xSq == nil {
		if p.xSq, err = uploadMatrix(p.b, mlrSquared(p.xt)); err != nil {
			p.xSq = nil
			return fmt.Errorf("problems: hypercleaning: HessDiag: %w", err)
		}
	}
	b := p.b
	b.MulElem(p.zN, -1, p.prob, p.prob, 0) // −P ⊙ P
	b.Axpy(1, p.prob, p.zN)                // P ⊙ (1 − P)
	b.ScaleRows(p.zN, p.wts, p.zN)         // rows weighted by s_i/n
	b.Fill(dst, 2*p.reg)
	b.MulBlockTrans(d, 1, p.xSq, p.zN, 1)
	return b.Err()
}

// HessVec sets dst ← A·v = X̃ᵀR + 2reg·v, R_i = (s_i/n)(p_i ⊙ u_i −
// p_i(p_iᵀu_i)), u_i = Vᵀx̃_i, at the linearization point.
func (p *Hypercleaning) HessVec(dst, v backend.Vector) error {
	if err := p.linearized("HessVec"); err != nil {
		return err
	}
	d, vb, err := p.views2("HessVec", "dst", dst, "v", v)
	if err != nil {
		return err
	}
	p.hessVec(d, vb)
	p.b.Axpy(2*p.reg, v, dst)
	return p.b.Err()
}

// hessVec sets d ← X̃ᵀR (the data term of A·v).
func (p *Hypercleaning) hessVec(d, v backend.Block) {
	if p.mn != nil {
		p.mn.SoftmaxHessBlock(d, 1, p.xTr, p.prob, p.wts, v, 0)
		return
	}
	b := p.b
	b.MulBlock(p.zN, 1, p.xTr, v, 0)      // U
	b.MulElem(p.zN, 1, p.zN, p.prob, 0)   // P ⊙ U
	b.RowSums(p.vecN, 1, p.zN, 0)         // p_iᵀu_i
	b.ScaleRows(p.tN, p.vecN, p.prob)     // p_i (p_iᵀu_i)
	b.Axpy(-1, p.tN, p.zN)                // R unweighted
	b.ScaleRows(p.zN, p.wts, p.zN)        // R
	b.MulBlockTrans(d, 1, p.xTr, p.zN, 0) // X̃ᵀR
}

// HessVecPair sets dst1 ← A·v1 and dst2 ← A·v2 with two HessVec calls
// (bilevel.HessVecPairer; the same bits).
func (p *Hypercleaning) HessVecPair(dst1, v1, dst2, v2 backend.Vector) error {
	if err := p.linearized("HessVecPair"); err != nil {
		return err
	}
	if err := checkVecs(hcName, "HessVecPair", "dst1", dst1, p.d, "v1", v1, p.d); err != nil {
		return err
	}
	if err := checkVecs(hcName, "HessVecPair", "dst2", dst2, p.d, "v2", v2, p.d); err != nil {
		return err
	}
	if err := p.HessVec(dst1, v1); err != nil {
		return err
	}
	return p.HessVec(dst2, v2)
}

// CrossVec sets dst (len n) ← Bᵀv: (Bᵀv)_i = σ'(λ_i)/n ⟨p_i − e_{y_i},
// Vᵀx̃_i⟩ at the linearization point.
func (p *Hypercleaning) CrossVec(dst, v backend.Vector) error {
	if err := p.linearized("CrossVec"); err != nil {
		return err
	}
	if err := checkVecs(hcName, "CrossVec", "dst", dst, p.n, "v", v, p.d); err != nil {
		return err
	}
	vb, err := p.view(v)
	if err != nil {
		return err
	}
	b := p.b
	b.MulBlock(p.zN, 1, p.xTr, vb, 0)
	b.MulElem(p.zN, 1, p.zN, p.res, 0)
	b.RowSums(dst, 1, p.zN, 0)
	b.MulElem(dst, 1, dst, p.dsig, 0)
	return b.Err()
}

// CrossApply sets dst (len d) ← B·u = X̃ᵀ diag(σ'(λ) ⊙ u/n)(P − Y) at the
// linearization point (bilevel.CrossApplier), the adjoint of CrossVec.
func (p *Hypercleaning) CrossApply(dst, u backend.Vector) error {
	if err := p.linearized("CrossApply"); err != nil {
		return err
	}
	if err := checkVecs(hcName, "CrossApply", "dst", dst, p.d, "u", u, p.n); err != nil {
		return err
	}
	d, err := p.view(dst)
	if err != nil {
		return err
	}
	b := p.b
	b.MulElem(p.vecN, 1, p.dsig, u, 0)
	b.ScaleRows(p.zN, p.vecN, p.res)
	b.MulBlockTrans(d, 1, p.xTr, p.zN, 0)
	return b.Err()
}

// OuterValue returns E = 1/m Σ_j CE(W x̃_j, y_j) over the validation rows.
func (p *Hypercleaning) OuterValue(w backend.Vector) (float64, error) {
	if err := checkVec(hcName, "OuterValue", "w", w, p.d); err != nil {
		return 0, err
	}
	wb, err := p.view(w)
	if err != nil {
		return 0, err
	}
	b := p.b
	b.MulBlock(p.zM, 1, p.xVal, wb, 0)
	b.CrossEntropy(nil, p.lossM, p.zM, p.yVal)
	v := b.Dot(p.lossM, p.one) / float64(p.m)
	return v, b.Err()
}

// OuterGrad sets dst ← X̃_valᵀ(P_val − Y_val)/m.
func (p *Hypercleaning) OuterGrad(dst, w backend.Vector) error {
	d, wb, err := p.views2("OuterGrad", "dst", dst, "w", w)
	if err != nil {
		return err
	}
	p.softmaxGrad(d, 1/float64(p.m), p.xVal, wb, p.yVal, nil, p.zM)
	return p.b.Err()
}

// OuterHyperGrad sets dst ← 0: E does not depend on λ.
func (p *Hypercleaning) OuterHyperGrad(dst, w backend.Vector) error {
	if err := checkVecs(hcName, "OuterHyperGrad", "dst", dst, p.n, "w", w, p.d); err != nil {
		return err
	}
	p.b.Fill(dst, 0)
	return p.b.Err()
}

// CrossNorm returns a proven bound (Kind Bound) on ‖B(w)‖₂ at w, its
// Frobenius norm: column i of B is (σ'(λ_i)/n) x̃_i ⊗ r_i with r_i = p_i −
// e_{y_i}, of norm σ'(λ_i)‖x̃_i‖‖r_i‖/n, so
//
//	‖B‖₂ ≤ ‖B‖_F = (Σ_i σ'(λ_i)²‖x̃_i‖²‖r_i‖²)^{1/2}/n,
//
// computed on the backend in one pass over X̃ (the scores, then the row
// norms of P − Y). The linearization is left alone.
func (p *Hypercleaning) CrossNorm(w backend.Vector) (bilevel.Constant, error) {
	if err := checkVec(hcName, "CrossNorm", "w", w, p.d); err != nil {
		return bilevel.Constant{}, err
	}
	wb, err := p.view(w)
	if err != nil {
		return bilevel.Constant{}, err
	}
	b := p.b
	b.MulBlock(p.zN, 1, p.xTr, wb, 0)
	b.CrossEntropy(p.zN, nil, p.zN, p.yTr)
	b.RowNorms(p.vecN, p.zN, 0)
	b.MulElem(p.vecN, 1, p.vecN, p.crossW, 0)
	v := b.Nrm2(p.vecN)
	if err := b.Err(); err != nil {
		return bilevel.Constant{}, err
	}
	return bilevel.Constant{Value: v, Kind: bilevel.Bound}, nil
}

// hcC3 bounds the third derivative of log-sum-exp: for unit δ, v ∈ R^c,
// |∇³LSE(z)[δ, v, v]| ≤ 1/√2 (see Constants).
var hcC3 = 1 / math.Sqrt2

// Constants returns, at the current λ, with s_i = σ(λ_i), σ'_i = σ'(λ_i),
// G_s = λ_max(X̃ᵀ diag(s) X̃)/n, R = max_i ‖x̃_i‖ and the facts
// ‖diag(p) − ppᵀ‖₂ ≤ ½ (Gershgorin: the disc of row k lies in
// [0, 2p_k(1 − p_k)] ⊆ [0, ½]) and A = Σ_i (s_i/n) x̃_ix̃_iᵀ ⊗ H_i + 2reg I:
//
//	μ    = 2reg: every H_i ⪰ 0, so A ⪰ 2reg·I;
//	L    = G_s/2 + 2reg: H_i ⪯ ½I gives A ⪯ ½(X̃ᵀdiag(s/n)X̃) ⊗ I + 2reg·I;
//	L_f  = ‖X̃_val‖₂²/(2m): the same for ∇²E = (1/m) Σ_j x̃_jx̃_jᵀ ⊗ H_j;
//	L_A  = G_s·R/√2: with z_i = W x̃_i, A(W) − A(W') = Σ_i (s_i/n) x̃_ix̃_iᵀ ⊗
//	       (H(z_i) − H(z_i')). H = ∇²LSE and ∇³LSE(z)[δ, v, v] =
//	       E_p[(δ_K − δ̄)(v_K − v̄)²] (the third joint cumulant of K ~ p), so
//	       |∇³LSE[δ, v, v]| ≤ max_k|δ_k − δ̄|·Var_p(v_K) ≤ √2·½ for unit δ, v
//	       (δ̄ lies between min δ and max δ, and (max δ − min δ)² ≤ 2‖δ‖²;
//	       Popoviciu: Var ≤ (max v − min v)²/4 ≤ ½). Hence
//	       ‖H(z) − H(z')‖₂ ≤ ‖z − z'‖/√2, and for unit V (c×(p+1)),
//	       |vec(V)ᵀ(A(W) − A(W'))vec(V)| ≤ Σ_i (s_i/n)‖Vx̃_i‖²‖ΔW x̃_i‖/√2
//	       ≤ (R/√2)‖ΔW‖_F Σ_i (s_i/n)‖Vx̃_i‖² ≤ (R/√2) G_s ‖ΔW‖_F;
//	L_B  = min(√(Σ_i σ'_i²‖x̃_i‖⁴)/(2n), max_i(σ'_i‖x̃_i‖)·‖X̃‖₂/(2n)): column i
//	       of B(W) − B(W') is (σ'_i/n) x̃_i ⊗ (p_i − p_i'), and softmax is
//	       ½-Lipschitz (its Jacobian is H), so ‖p_i − p_i'‖ ≤ ‖ΔW x̃_i‖/2 ≤
//	       ‖x̃_i‖‖ΔW‖_F/2: the Frobenius norm gives the first; for unit u,
//	       ‖(B − B')u‖ ≤ Σ_i |u_i|(σ'_i/n)‖x̃_i‖‖ΔW x̃_i‖/2 ≤
//	       max_i(σ'_i‖x̃_i‖)‖ΔW X̃ᵀ‖_F/(2n) (Cauchy–Schwarz) the second;
//	L_Eλ = 0 exactly: E does not depend on λ.
//
// μ and L_Eλ are exact facts; the others are of Kind Bound when the
// spectral norms (G_s, ‖X̃‖₂, ‖X̃_val‖₂) come from dense eigendecompositions
// of the (p+1)×(p+1) Gram matrices (when forming them is cheap and within
// the dense budget), of Kind Estimate when they come from Lanczos on the
// backend.
func (p *Hypercleaning) Constants() (bilevel.Constants, error) {
	if p.consts != nil {
		return *p.consts, nil
	}
	if err := p.norms(); err != nil {
		return bilevel.Constants{}, err
	}
	gs, kind, err := p.weightedGramMax()
	if err != nil {
		return bilevel.Constants{}, err
	}
	if p.xKind != bilevel.Exact {
		kind = bilevel.Estimate
	}
	constKind := bilevel.Bound
	if kind != bilevel.Exact {
		constKind = bilevel.Estimate
	}
	n := float64(p.n)
	var sum4, rmax, spmax float64
	for i, r2 := range p.rowNorm2 {
		sum4 += p.sp[i] * p.sp[i] * r2 * r2
		rmax = math.Max(rmax, math.Sqrt(r2))
		spmax = math.Max(spmax, p.sp[i]*math.Sqrt(r2))
	}
	lb := math.Sqrt(sum4) / (2 * n)
	lbKind := bilevel.Bound
	if alt := spmax * math.Sqrt(p.x2) / (2 * n); alt < lb {
		lb = alt
		if p.xKind != bilevel.Exact {
			lbKind = bilevel.Estimate
		}
	}
	c := bilevel.Constants{
		Mu:  bilevel.Constant{Value: 2 * p.reg, Kind: bilevel.Bound},
		L:   bilevel.Constant{Value: gs/2 + 2*p.reg, Kind: constKind},
		Lf:  bilevel.Constant{Value: p.xv2 / (2 * float64(p.m)), Kind: constKind},
		LA:  bilevel.Constant{Value: hcC3 * rmax * gs, Kind: constKind},
		LB:  bilevel.Constant{Value: lb, Kind: lbKind},
		LEl: bilevel.Constant{Value: 0, Kind: bilevel.Exact},
	}
	if err := checkConstants(hcName, c); err != nil {
		return c, err
	}
	p.consts = &c
	return c, nil
}

// exactGram reports whether the (p+1)×(p+1) Gram matrices are formed on the
// host (cheap, and within the dense budget).
func (p *Hypercleaning) exactGram() bool {
	return denseCheap(max(p.n, p.m), p.pe) && p.fits("", hypercleaningDenseBytes(p.host)) == nil
}

// norms computes, once, ‖X̃‖₂² and ‖X̃_val‖₂²: the largest eigenvalues of
// the Gram matrices where exactGram, else Lanczos estimates.
func (p *Hypercleaning) norms() error {
	if p.normsDone {
		return nil
	}
	if p.exactGram() {
		_, x2, err := gramExtremes(p.xt, nil, nil)
		if err != nil {
			return err
		}
		_, xv2, err := gramExtremes(p.xv, nil, nil)
		if err != nil {
			return err
		}
		p.x2, p.xv2, p.xKind = x2, xv2, bilevel.Exact
	} else {
		x2, err := p.lanczosGram(p.xTr, p.n, nil)
		if err != nil {
			return err
		}
		xv2, err := p.lanczosGram(p.xVal, p.m, nil)
		if err != nil {
			return err
		}
		p.x2, p.xv2, p.xKind = x2, xv2, bilevel.Estimate
	}
	p.normsDone = true
	return nil
}

// weightedGramMax returns G_s = λ_max(X̃ᵀ diag(s) X̃)/n and its kind.
func (p *Hypercleaning) weightedGramMax() (float64, bilevel.Kind, error) {
	if p.exactGram() {
		_, hi, err := gramExtremes(p.xt, p.s, nil)
		return hi / float64(p.n), bilevel.Exact, err
	}
	hi, err := p.lanczosGram(p.xTr, p.n, p.wts)
	return hi, bilevel.Estimate, err
}

// lanczosGram estimates λ_max(Xᵀ diag(wts) X) (wts nil: ones) by Lanczos on
// the backend, plus its residual.
func (p *Hypercleaning) lanczosGram(x backend.Matrix, rows int, wts backend.Vector) (float64, error) {
	b := p.b
	tmp, err := b.NewVector(rows)
	if err != nil {
		return 0, err
	}
	defer b.Free(tmp)
	s, err := lanczos(b, p.pe, func(dst, v backend.Vector) error {
		b.MulVec(tmp, 1, x, v, 0)
		if wts != nil {
			b.MulElem(tmp, 1, tmp, wts, 0)
		}
		b.MulVecTrans(dst, 1, x, tmp, 0)
		return b.Err()
	})
	if err != nil {
		return 0, err
	}
	return s.Max + s.MaxResidual, nil
}
