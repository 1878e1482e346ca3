package problems

import (
	"errors"
	"fmt"
	"math"
	"reflect"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// Equilibrium is the equilibrium-model problem of Grazzi et al. (2020, §3.2),
// an RNN-style model whose lower level is a fixed point, not a minimum. The
// inner variable is the state S ∈ R^{N×k} (w = S row-major, d = N·k), the
// hyperparameters are λ = (A, B, bias, Wo, bo) with A k×k, B p×k, bias k,
// Wo k×C and bo C, concatenated row-major (h = k² + pk + k + kC + C), and
//
//	Φ(S, λ) = tanh(S A + X B + 1 biasᵀ),
//	E(S, λ) = 1/N Σ_i CE(S_i Wo + bo, y_i)   (mean softmax cross-entropy).
//
// Φ is a contraction in the Frobenius norm with q = ‖A‖₂, since tanh is
// 1-Lipschitz: ‖Φ(S) − Φ(S')‖_F ≤ ‖(S − S')A‖_F ≤ ‖A‖₂‖S − S'‖_F. With
// Z = S A + X B + 1 biasᵀ and D' = 1 − tanh(Z)² at the linearization point S,
//
//	J U   = (U A) ⊙ D',                   Jᵀ U = (U ⊙ D') Aᵀ,
//	K u   = (S dA + X dB + 1 dbiasᵀ) ⊙ D'  for u = (dA, dB, dbias, dWo, dbo),
//	Kᵀ U  = (Sᵀ(U⊙D'), Xᵀ(U⊙D'), colsum(U⊙D'), 0, 0),
//	∇_S E = (P − Y) Woᵀ / N,   ∇_λE = (0, 0, 0, Sᵀ(P − Y)/N, colsum(P − Y)/N),
//
// with P = softmax(S Wo + 1 boᵀ) row by row and Y the one-hot labels. J is
// not symmetric, so Equilibrium is no bilevel.SymmetricJacobian. The rows of
// S are independent: J is block diagonal with N blocks of k×k.
//
// Every oracle runs on the backend (X uploaded as given, dense or CSR) and
// allocates nothing after construction; X B + 1 biasᵀ is computed at
// SetHyper. A vector of length d is viewed as an N×k block (Reshape); the
// views of the last few vectors are kept, so vectors reused across calls
// cost no allocation.
type Equilibrium struct {
	b                           backend.Backend
	host                        *data.Equilibrium
	n, p, k, c, d, h            int
	offB, offBias, offWo, offBo int // offsets of the parts of λ

	x    backend.Matrix
	y    backend.Labels
	ones backend.Block // N×1 ones: 1 biasᵀ, 1 boᵀ as rank-one products
	a    backend.Block // k×k
	bm   backend.Block // p×k (B)
	bias backend.Block // 1×k
	wo   backend.Block // k×C
	bo   backend.Block // 1×C

	c0     backend.Block  // N×k: X B + 1 biasᵀ
	sLin   backend.Block  // N×k: the linearization point S
	dp     backend.Block  // N×k: D' = 1 − tanh(Z)² at sLin
	tmp    backend.Block  // N×k workspace
	logits backend.Block  // N×C: S Wo + 1 boᵀ, then P − Y
	loss   backend.Vector // N
	gA     backend.Block  // k×k: parts of λ-space vectors
	gB     backend.Block  // p×k
	gBias  backend.Block  // 1×k
	gWo    backend.Block  // k×C
	gBo    backend.Block  // 1×C

	lam []float64
	q   float64 // ‖A‖₂ at the current λ
	lin bool

	// Norms for FixedPointConstants and HyperJacNorm: at SetHyper,
	// aCol = max_j ‖A_{:j}‖₂ and woNorm = ‖Wo‖₂ (host SVD); once, from X,
	// xRow2 = max_i ‖X_i‖₂² and xOne ≥ ‖[X 1]‖₂ (xDone when computed);
	// sts holds SᵀS (k×k) on the host.
	aCol, woNorm float64
	xRow2, xOne  float64
	xDone        bool
	sts          []float64

	views blockViews
}

var (
	_ bilevel.FixedPoint = (*Equilibrium)(nil)
	_ bilevel.Contractor = (*Equilibrium)(nil)
	_ bilevel.Referencer = (*Equilibrium)(nil)

	_ bilevel.FixedPointConstanter = (*Equilibrium)(nil)
)

// NewEquilibrium uploads equilibrium data to the backend and sets λ to the
// data's hyperparameters (e.Lambda()).
func NewEquilibrium(b backend.Backend, e *data.Equilibrium) (*Equilibrium, error) {
	if b == nil {
		return nil, errors.New("problems: equilibrium: nil backend")
	}
	if e == nil {
		return nil, errors.New("problems: equilibrium: nil data")
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("problems: equilibrium: %w", err)
	}
	n, p, k, c := e.Dims()
	if k > math.MaxInt/8/n || p > math.MaxInt/8/k || c > math.MaxInt/8/max(n, k) {
		return nil, fmt.Errorf("problems: equilibrium: N=%d, p=%d, k=%d, C=%d is too large", n, p, k, c)
	}
	pr := &Equilibrium{b: b, host: e, n: n, p: p, k: k, c: c, d: n * k, h: e.HyperDim()}
	pr.offB = k * k
	pr.offBias = pr.offB + p*k
	pr.offWo = pr.offBias + k
	pr.offBo = pr.offWo + k*c
	pr.lam = make([]float64, pr.h)
	err := pr.upload()
	if err == nil {
		err = pr.SetHyper(e.Lambda())
	}
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("problems: equilibrium: %w", err)
	}
	return pr, nil
}

func (p *Equilibrium) upload() error {
	var err error
	if p.x, err = uploadMatrix(p.b, p.host.X); err != nil {
		return err
	}
	if p.y, err = p.b.NewLabels(p.c, p.host.Y); err != nil {
		return err
	}
	for _, blk := range []struct {
		dst        *backend.Block
		rows, cols int
	}{
		{&p.ones, p.n, 1}, {&p.a, p.k, p.k}, {&p.bm, p.p, p.k}, {&p.bias, 1, p.k}, {&p.wo, p.k, p.c}, {&p.bo, 1, p.c},
		{&p.c0, p.n, p.k}, {&p.sLin, p.n, p.k}, {&p.dp, p.n, p.k}, {&p.tmp, p.n, p.k}, {&p.logits, p.n, p.c},
		{&p.gA, p.k, p.k}, {&p.gB, p.p, p.k}, {&p.gBias, 1, p.k}, {&p.gWo, p.k, p.c}, {&p.gBo, 1, p.c},
	} {
		if *blk.dst, err = p.b.NewBlock(blk.rows, blk.cols); err != nil {
			return err
		}
	}
	if p.loss, err = p.b.NewVector(p.n); err != nil {
		return err
	}
	p.b.Fill(p.ones, 1)
	return p.b.Err()
}

// Close frees the problem's device memory.
func (p *Equilibrium) Close() error {
	for _, v := range []backend.Vector{p.ones, p.a, p.bm, p.bias, p.wo, p.bo, p.c0, p.sLin, p.dp, p.tmp,
		p.logits, p.gA, p.gB, p.gBias, p.gWo, p.gBo, p.loss} {
		if !isNil(v) {
			p.b.Free(v)
		}
	}
	if p.y != nil {
		p.b.Free(p.y)
	}
	if p.x != nil {
		p.b.FreeMatrix(p.x)
	}
	p.views.reset()
	p.lin = false
	return nil
}

// isNil reports whether v is nil or a typed nil pointer (a field never
// allocated).
func isNil(v backend.Vector) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}

func (p *Equilibrium) Backend() backend.Backend { return p.b }
func (p *Equilibrium) InnerDim() int            { return p.d }
func (p *Equilibrium) HyperDim() int            { return p.h }
func (p *Equilibrium) Hyper(dst []float64)      { copy(dst, p.lam) }

// Data returns the host data the problem was built from (its λ is the one
// of construction; Hyper gives the current one).
func (p *Equilibrium) Data() *data.Equilibrium { return p.host }

// Dims returns N, p, k and C.
func (p *Equilibrium) Dims() (n, features, k, classes int) { return p.n, p.p, p.k, p.c }

// SetHyper moves the problem to λ = (A, B, bias, Wo, bo): it uploads the
// parts, computes X B + 1 biasᵀ on the backend and ‖A‖₂, ‖Wo‖₂ and the
// largest column norm of A on the host (SVD).
// A linearization point is kept, its D' recomputed at the new λ.
func (p *Equilibrium) SetHyper(lambda []float64) error {
	if len(lambda) != p.h {
		return fmt.Errorf("problems: equilibrium: λ has length %d, want k² + pk + k + kC + C = %d", len(lambda), p.h)
	}
	for j, l := range lambda {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("problems: equilibrium: λ[%d] = %v (want finite)", j, l)
		}
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(p.k, p.k, append([]float64(nil), lambda[:p.offB]...)), mat.SVDNone) {
		return errors.New("problems: equilibrium: the SVD of A did not converge")
	}
	var wsvd mat.SVD
	if !wsvd.Factorize(mat.NewDense(p.k, p.c, append([]float64(nil), lambda[p.offWo:p.offBo]...)), mat.SVDNone) {
		return errors.New("problems: equilibrium: the SVD of Wo did not converge")
	}
	p.q = svd.Values(nil)[0]
	p.woNorm = wsvd.Values(nil)[0]
	p.aCol = maxColNorm(lambda[:p.offB], p.k)
	copy(p.lam, lambda)
	b := p.b
	b.Upload(p.a, p.lam[:p.offB])
	b.Upload(p.bm, p.lam[p.offB:p.offBias])
	b.Upload(p.bias, p.lam[p.offBias:p.offWo])
	b.Upload(p.wo, p.lam[p.offWo:p.offBo])
	b.Upload(p.bo, p.lam[p.offBo:])
	b.MulBlock(p.c0, 1, p.x, p.bm, 0)
	b.Gemm(p.c0, 1, p.ones, backend.NoTrans, p.bias, backend.NoTrans, 1)
	if p.lin {
		p.derivAt(p.sLin)
	}
	return b.Err()
}

// view returns v as an N×k block: v itself if it is one, else a Reshape
// view, kept for the next calls.
func (p *Equilibrium) view(op, name string, v backend.Vector) (backend.Block, error) {
	if err := p.checkLen(op, name, v, p.d); err != nil {
		return nil, err
	}
	blk, err := p.views.view(p.b, v, p.n, p.k)
	if err != nil {
		return nil, fmt.Errorf("problems: equilibrium: %s: %s: %w", op, name, err)
	}
	return blk, nil
}

func (p *Equilibrium) checkLen(op, name string, v backend.Vector, n int) error {
	if isNil(v) {
		return fmt.Errorf("problems: equilibrium: %s: %s is nil", op, name)
	}
	if v.Len() != n {
		return fmt.Errorf("problems: equilibrium: %s: %s has length %d, want %d", op, name, v.Len(), n)
	}
	return nil
}

// views2 returns the N×k views of two length-d vectors.
func (p *Equilibrium) views2(op string, dst, src backend.Vector) (backend.Block, backend.Block, error) {
	d, err := p.view(op, "dst", dst)
	if err != nil {
		return nil, nil, err
	}
	s, err := p.view(op, "argument", src)
	if err != nil {
		return nil, nil, err
	}
	return d, s, nil
}

// Map sets dst ← tanh(S A + X B + 1 biasᵀ).
func (p *Equilibrium) Map(dst, w backend.Vector) error {
	d, s, err := p.views2("Map", dst, w)
	if err != nil {
		return err
	}
	b := p.b
	b.Copy(d, p.c0)
	b.Gemm(d, 1, s, backend.NoTrans, p.a, backend.NoTrans, 1)
	b.Map(d, backend.Tanh, 0, d)
	return b.Err()
}

// derivAt sets dp ← 1 − tanh(Z)², Z = S A + X B + 1 biasᵀ.
func (p *Equilibrium) derivAt(s backend.Block) {
	b := p.b
	b.Copy(p.tmp, p.c0)
	b.Gemm(p.tmp, 1, s, backend.NoTrans, p.a, backend.NoTrans, 1)
	b.Map(p.dp, backend.TanhDeriv, 0, p.tmp)
}

// Linearize keeps a copy of S and D' = 1 − tanh(Z)² at S.
func (p *Equilibrium) Linearize(w backend.Vector) error {
	s, err := p.view("Linearize", "w", w)
	if err != nil {
		return err
	}
	p.b.Copy(p.sLin, s)
	p.derivAt(p.sLin)
	if err := p.b.Err(); err != nil {
		return err
	}
	p.lin = true
	return nil
}

func (p *Equilibrium) linearized(op string) error {
	if !p.lin {
		return fmt.Errorf("problems: equilibrium: %s: %w", op, ErrNotLinearized)
	}
	return nil
}

// JacVec sets dst ← (U A) ⊙ D'.
func (p *Equilibrium) JacVec(dst, u backend.Vector) error {
	if err := p.linearized("JacVec"); err != nil {
		return err
	}
	d, uu, err := p.views2("JacVec", dst, u)
	if err != nil {
		return err
	}
	b := p.b
	b.Gemm(d, 1, uu, backend.NoTrans, p.a, backend.NoTrans, 0)
	b.MulElem(d, 1, d, p.dp, 0)
	return b.Err()
}

// JacTransVec sets dst ← (U ⊙ D') Aᵀ.
func (p *Equilibrium) JacTransVec(dst, u backend.Vector) error {
	if err := p.linearized("JacTransVec"); err != nil {
		return err
	}
	d, uu, err := p.views2("JacTransVec", dst, u)
	if err != nil {
		return err
	}
	b := p.b
	b.MulElem(p.tmp, 1, uu, p.dp, 0)
	b.Gemm(d, 1, p.tmp, backend.NoTrans, p.a, backend.Trans, 0)
	return b.Err()
}

// HyperJacTransVec sets dst ← Kᵀ U = (Sᵀ(U⊙D'), Xᵀ(U⊙D'), colsum(U⊙D'), 0, 0).
func (p *Equilibrium) HyperJacTransVec(dst, u backend.Vector) error {
	const op = "HyperJacTransVec"
	if err := p.linearized(op); err != nil {
		return err
	}
	if err := p.checkLen(op, "dst", dst, p.h); err != nil {
		return err
	}
	uu, err := p.view(op, "u", u)
	if err != nil {
		return err
	}
	b := p.b
	b.MulElem(p.tmp, 1, uu, p.dp, 0)
	b.Gemm(p.gA, 1, p.sLin, backend.Trans, p.tmp, backend.NoTrans, 0)
	b.MulBlockTrans(p.gB, 1, p.x, p.tmp, 0)
	b.ColSums(p.gBias, 1, p.tmp, 0)
	b.Fill(dst, 0)
	b.CopyRange(dst, 0, p.gA, 0, p.offB)
	b.CopyRange(dst, p.offB, p.gB, 0, p.offBias-p.offB)
	b.CopyRange(dst, p.offBias, p.gBias, 0, p.k)
	return b.Err()
}

// HyperJacVec sets dst ← K u = (S dA + X dB + 1 dbiasᵀ) ⊙ D' for u = (dA,
// dB, dbias, dWo, dbo) of length h (dWo and dbo do not enter Φ).
func (p *Equilibrium) HyperJacVec(dst, u backend.Vector) error {
	const op = "HyperJacVec"
	if err := p.linearized(op); err != nil {
		return err
	}
	if err := p.checkLen(op, "u", u, p.h); err != nil {
		return err
	}
	d, err := p.view(op, "dst", dst)
	if err != nil {
		return err
	}
	b := p.b
	b.CopyRange(p.gA, 0, u, 0, p.offB)
	b.CopyRange(p.gB, 0, u, p.offB, p.offBias-p.offB)
	b.CopyRange(p.gBias, 0, u, p.offBias, p.k)
	b.Gemm(d, 1, p.sLin, backend.NoTrans, p.gA, backend.NoTrans, 0)
	b.MulBlock(d, 1, p.x, p.gB, 1)
	b.Gemm(d, 1, p.ones, backend.NoTrans, p.gBias, backend.NoTrans, 1)
	b.MulElem(d, 1, d, p.dp, 0)
	return b.Err()
}

// scores sets logits ← S Wo + 1 boᵀ.
func (p *Equilibrium) scores(s backend.Block) {
	b := p.b
	b.Gemm(p.logits, 1, s, backend.NoTrans, p.wo, backend.NoTrans, 0)
	b.Gemm(p.logits, 1, p.ones, backend.NoTrans, p.bo, backend.NoTrans, 1)
}

// OuterValue returns E = 1/N Σ_i (LSE(S_i Wo + bo) − (S_i Wo + bo)_{y_i}).
func (p *Equilibrium) OuterValue(w backend.Vector) (float64, error) {
	s, err := p.view("OuterValue", "w", w)
	if err != nil {
		return 0, err
	}
	b := p.b
	p.scores(s)
	b.CrossEntropy(nil, p.loss, p.logits, p.y)
	v := b.Dot(p.loss, p.ones) / float64(p.n)
	return v, b.Err()
}

// OuterGrad sets dst ← (P − Y) Woᵀ / N.
func (p *Equilibrium) OuterGrad(dst, w backend.Vector) error {
	d, s, err := p.views2("OuterGrad", dst, w)
	if err != nil {
		return err
	}
	b := p.b
	p.scores(s)
	b.CrossEntropy(p.logits, nil, p.logits, p.y)
	b.Gemm(d, 1/float64(p.n), p.logits, backend.NoTrans, p.wo, backend.Trans, 0)
	return b.Err()
}

// OuterHyperGrad sets dst ← ∇_λE = (0, 0, 0, Sᵀ(P − Y)/N, colsum(P − Y)/N).
func (p *Equilibrium) OuterHyperGrad(dst, w backend.Vector) error {
	const op = "OuterHyperGrad"
	if err := p.checkLen(op, "dst", dst, p.h); err != nil {
		return err
	}
	s, err := p.view(op, "w", w)
	if err != nil {
		return err
	}
	b := p.b
	p.scores(s)
	b.CrossEntropy(p.logits, nil, p.logits, p.y)
	inv := 1 / float64(p.n)
	b.Gemm(p.gWo, inv, s, backend.Trans, p.logits, backend.NoTrans, 0)
	b.ColSums(p.gBo, inv, p.logits, 0)
	b.Fill(dst, 0)
	b.CopyRange(dst, p.offWo, p.gWo, 0, p.offBo-p.offWo)
	b.CopyRange(dst, p.offBo, p.gBo, 0, p.c)
	return b.Err()
}

// Contraction returns q = ‖A‖₂ (a host SVD at SetHyper), the contraction
// constant of Φ(·, λ) in the Frobenius norm: Kind Exact when q < 1, else
// Kind Unknown with Value q (Φ need not contract).
func (p *Equilibrium) Contraction() (bilevel.Constant, error) {
	if !(p.q < 1) {
		return bilevel.Constant{Value: p.q, Kind: bilevel.Unknown}, nil
	}
	return bilevel.Constant{Value: p.q, Kind: bilevel.Exact}, nil
}

// eqTanh2 is max|tanh″| = 4/(3√3): tanh″ = −2t(1 − t²) with t = tanh,
// largest in magnitude at t = ±1/√3.
var eqTanh2 = 4 / (3 * math.Sqrt(3))

// FixedPointConstants returns the constants of the error bound of
// fixed-point AID (bilevel.FixedPointConstants) in the Frobenius norm of S,
// proven (Kind Bound; Q is Contraction) on the box 𝒲 = {S : |S_ij| ≤ 1},
// which holds the range of Φ = tanh(·), so w(λ) and every iterate w_t,
// t ≥ 1. With c₂ = max|tanh″| = 4/(3√3), 0 < tanh′ ≤ 1,
// a_c = max_j ‖A_{:j}‖₂ ≤ ‖A‖₂, ΔS = S − S' and D, D̃ = tanh′(Z) at S and
// S' (Z = S A + X B + 1 biasᵀ), |D_ij − D̃_ij| ≤ c₂|(ΔS_i A)_j| ≤
// c₂ a_c ‖ΔS_i‖ (ΔS_i row i), and
//
//	L_E1 = ‖Wo‖₂²/(2N): ∇_S E is, row by row, Wo(p_i − y_i)/N with
//	       p_i = softmax(Woᵀs_i + bo); its Hessian is block diagonal with
//	       blocks Wo(diag(p_i) − p_ip_iᵀ)Woᵀ/N, and ‖diag(p) − ppᵀ‖ ≤ 1/2
//	       (Gershgorin: every disc lies in [0, 2p_j(1 − p_j)]);
//	L_E2 = (√2 + √(k+1)‖Wo‖₂/2)/√N: ∇_λE is [S 1]ᵀR/N in its (Wo, bo)
//	       blocks, R = P − Y, and [S 1]ᵀR − [S' 1]ᵀR' =
//	       [S 1]ᵀ(R − R') + [ΔS 0]ᵀR', with ‖R − R'‖_F ≤ ‖Wo‖₂‖ΔS‖_F/2 (as
//	       above), ‖[S 1]‖₂ ≤ ‖[S 1]‖_F ≤ √(N(k+1)) on 𝒲, and
//	       ‖R'‖₂ ≤ ‖R'‖_F ≤ √(2N) (‖p − e_y‖² ≤ 2(1 − p_y)² ≤ 2);
//	ν1   = c₂ a_c ‖A‖₂: (J(S) − J(S'))U = (U A) ⊙ (D − D̃), whose row i
//	       is at most ‖A‖₂‖U_i‖·c₂ a_c‖ΔS_i‖ (on all of R^{N×k});
//	ν2   = 1 + c₂ a_c √(k + 1 + max_i ‖X_i‖²): with M = [S X 1] and
//	       U = [dA; dB; dbiasᵀ] for u = (dA, dB, dbias, dWo, dbo),
//	       (K(S) − K(S'))u = (M U) ⊙ (D − D̃) + (ΔS dA) ⊙ D̃, the first
//	       with rows at most c₂ a_c‖ΔS_i‖‖M_i‖‖u‖, ‖M_i‖² = ‖S_i‖² + ‖X_i‖² + 1
//	       ≤ k + 1 + ‖X_i‖² on 𝒲, the second at most ‖ΔS‖_F‖u‖;
//	Diameter = 2√(Nk), that of the box.
//
// ‖A‖₂, ‖Wo‖₂ and a_c come from the host SVD at SetHyper; max_i ‖X_i‖² from
// one pass over X at the first call.
func (p *Equilibrium) FixedPointConstants() (bilevel.FixedPointConstants, error) {
	q, err := p.Contraction()
	if err != nil {
		return bilevel.FixedPointConstants{}, err
	}
	p.xNorms()
	n, k := float64(p.n), float64(p.k)
	bound := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Bound} }
	return bilevel.FixedPointConstants{
		Q:   q,
		LE1: bound(p.woNorm * p.woNorm / (2 * n)),
		LE2: bound((math.Sqrt2 + math.Sqrt(k+1)*p.woNorm/2) / math.Sqrt(n)),
		NuW: bound(eqTanh2 * p.aCol * p.q),
		NuL: bound(1 + eqTanh2*p.aCol*math.Sqrt(k+1+p.xRow2)),

		Diameter: bound(2 * math.Sqrt(float64(p.d))),
	}, nil
}

// HyperJacNorm returns a proven bound (Kind Bound) on ‖∂_λΦ(S)‖₂ at S = w:
// with M = [S X 1] and U as in FixedPointConstants, ‖K u‖_F =
// ‖(M U) ⊙ D'‖_F ≤ ‖M‖₂‖u‖ since 0 < D' ≤ 1, and
// ‖M‖₂² = λ_max(S Sᵀ + [X 1][X 1]ᵀ) ≤ ‖S‖₂² + ‖[X 1]‖₂². ‖S‖₂² is the
// largest eigenvalue of SᵀS (k×k, formed on the backend); ‖[X 1]‖₂ is
// computed once (see xNorms). The linearization is left alone.
func (p *Equilibrium) HyperJacNorm(w backend.Vector) (bilevel.Constant, error) {
	s, err := p.view("HyperJacNorm", "w", w)
	if err != nil {
		return bilevel.Constant{}, err
	}
	b := p.b
	b.Gemm(p.gA, 1, s, backend.Trans, s, backend.NoTrans, 0)
	if p.sts == nil {
		p.sts = make([]float64, p.k*p.k)
	}
	b.Download(p.sts, p.gA)
	if err := b.Err(); err != nil {
		return bilevel.Constant{}, err
	}
	g := mat.NewSymDense(p.k, nil)
	for i := 0; i < p.k; i++ {
		for j := i; j < p.k; j++ {
			g.SetSym(i, j, 0.5*(p.sts[i*p.k+j]+p.sts[j*p.k+i]))
		}
	}
	_, s2, err := symExtremes(g)
	if err != nil {
		return bilevel.Constant{}, fmt.Errorf("problems: equilibrium: HyperJacNorm: %w", err)
	}
	if !(s2 >= 0) || math.IsInf(s2, 0) {
		return bilevel.Constant{}, fmt.Errorf("problems: equilibrium: HyperJacNorm: ‖S‖₂² = %v", s2)
	}
	p.xNorms()
	return bilevel.Constant{Value: math.Sqrt(s2 + p.xOne*p.xOne), Kind: bilevel.Bound}, nil
}

// xNorms computes, once, xRow2 = max_i ‖X_i‖₂² and xOne ≥ ‖[X 1]‖₂: the
// largest eigenvalue of the Gram matrix [X 1]ᵀ[X 1] where forming it is
// cheap (denseCheap), else the least of ‖[X 1]‖_F and
// √(‖[X 1]‖₁‖[X 1]‖_∞) (Hölder: ‖M‖₂² ≤ ‖M‖₁‖M‖_∞).
func (p *Equilibrium) xNorms() {
	if p.xDone {
		return
	}
	h := p.hostAt(p.lam)
	colAbs := make([]float64, p.p)
	colSum := make([]float64, p.p)
	var frob2, rowMax, rowAbsMax float64
	for i := 0; i < p.n; i++ {
		var r2, rAbs float64
		h.eachX(i, func(j int, v float64) {
			r2 += v * v
			rAbs += math.Abs(v)
			colAbs[j] += math.Abs(v)
			colSum[j] += v
		})
		frob2 += r2
		rowMax = math.Max(rowMax, r2)
		rowAbsMax = math.Max(rowAbsMax, rAbs)
	}
	n := float64(p.n)
	norm1 := n // the column of ones
	for _, c := range colAbs {
		norm1 = math.Max(norm1, c)
	}
	xOne := math.Min(math.Sqrt(frob2+n), math.Sqrt(norm1*(rowAbsMax+1)))
	if denseCheap(p.n, p.p+1) {
		xx := gram(p.host.X, nil, 1)
		g := mat.NewSymDense(p.p+1, nil)
		for i := 0; i < p.p; i++ {
			for j := i; j < p.p; j++ {
				g.SetSym(i, j, xx.At(i, j))
			}
			g.SetSym(i, p.p, colSum[i])
		}
		g.SetSym(p.p, p.p, n)
		if _, hi, err := symExtremes(g); err == nil && hi >= 0 {
			xOne = math.Min(xOne, math.Sqrt(hi))
		}
	}
	p.xRow2, p.xOne, p.xDone = rowMax, xOne, true
}

// maxColNorm returns max_j ‖A_{:j}‖₂ of the k×k row-major A.
func maxColNorm(a []float64, k int) float64 {
	var m float64
	for j := 0; j < k; j++ {
		var c float64
		for i := 0; i < k; i++ {
			c = math.Hypot(c, a[i*k+j])
		}
		m = math.Max(m, c)
	}
	return m
}
