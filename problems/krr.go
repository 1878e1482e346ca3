package problems

import (
	"errors"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// KRR is kernel ridge regression with a Gaussian kernel and learned ρ and γ
// (spec "krr"; Grazzi et al. 2020, the kernel ridge regression setting).
// With training rows x_i (n), validation rows x^val_i (m), squared
// distances D_ij = ‖x_i − x_j‖² and (D_vt)_ij = ‖x^val_i − x_j‖²,
// λ = (log ρ, log γ), K = exp(−γD), K_vt = exp(−γD_vt) (elementwise):
//
//	g(w, λ) = ½ wᵀ(K + ρI)w − yᵀw,   w* = (K + ρI)⁻¹y,
//	E(w, λ) = 1/(2m)‖K_vt w − y_val‖²,   r = K_vt w − y_val,
//	A = K + ρI,   B = [ρw, −γ(D⊙K)w]   (n×2: ∂/∂log ρ, ∂/∂log γ of ∇_w g),
//	∇_wE = K_vtᵀr/m,   ∇_λE = (0, −γ/m · rᵀ(D_vt⊙K_vt)w).
//
// The inner variable is the vector of n dual coefficients (d = n, h = 2).
// A does not depend on w (L_A = 0) and B is linear in w.
//
// The squared distances are computed once, at construction, on the host
// from their definition Σ_k (x_ik − x_jk)² (never by the expansion
// ‖x_i‖² + ‖x_j‖² − 2x_iᵀx_j, which cancels: its entries can come out
// negative, and the diagonal non-zero), so D is symmetric, non-negative and
// zero on the diagonal to the bit, and identical on every backend; they are
// uploaded in chunks of rows, so the host holds at most about 8 MiB of them
// at a time. The device keeps D, K and D⊙K for both the training and the
// validation–training pairs (data.KRRKernelBytes: 24(n² + mn) bytes);
// SetHyper rebuilds K = exp(−γD) and D⊙K on the device (Axpby, Map Exp,
// MulElem). Every oracle is one or two products by those blocks (Gemm with
// n×1 views of the vectors, kept for the next calls) and allocates nothing
// after construction.
//
// Constants, Reference and ExactConstants form dense n×n and m×n matrices on
// the host: they check DenseBytes against the dense budget (SetMaxDenseBytes)
// first.
type KRR struct {
	denseBudget
	b       backend.Backend
	host    *data.KRR
	n, m, p int

	dTT, kTT, dkTT backend.Block  // n×n: D, K, D⊙K
	dVT, kVT, dkVT backend.Block  // m×n: D_vt, K_vt, D_vt⊙K_vt
	y, yVal        backend.Vector // n, m
	yValCol        backend.Block  // m×1 view of yVal
	wLin           backend.Vector // n: the linearization point
	wLinCol        backend.Block  // n×1 view of wLin
	bt             backend.Block  // 2×n: Bᵀ at the linearization point, rows ρw and −γ(D⊙K)w
	tn             backend.Block  // n×1 scratch
	tm, tm2        backend.Block  // m×1 scratch
	tmRow          backend.Block  // 1×m view of tm
	one            backend.Block  // 1×1 scratch

	lam        [2]float64
	rho, gamma float64
	lin        bool
	consts     *bilevel.Constants
	sums       []float64 // host scratch for row and column sums (max(n, m))

	views blockViews
}

var (
	_ bilevel.Problem      = (*KRR)(nil)
	_ bilevel.Referencer   = (*KRR)(nil)
	_ bilevel.CrossApplier = (*KRR)(nil)
	_ bilevel.CrossNormer  = (*KRR)(nil)
	_ bilevel.HessDiager   = (*KRR)(nil)
	_ DenseBudgeter        = (*KRR)(nil)
)

// krrChunkBytes bounds the host buffer of squared distances uploaded at a
// time (a variable for the tests).
var krrChunkBytes = 8 << 20

// NewKRR uploads krr data to the backend, computing the squared distances
// (see KRR), and sets λ to the data's lambda.
func NewKRR(b backend.Backend, k *data.KRR) (*KRR, error) {
	if b == nil {
		return nil, errors.New("problems: krr: nil backend")
	}
	if k == nil {
		return nil, errors.New("problems: krr: nil data")
	}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("problems: krr: %w", err)
	}
	n, m, p := k.Dims()
	if n > math.MaxInt/8/n || m > math.MaxInt/8/n {
		return nil, fmt.Errorf("problems: krr: n=%d, m=%d is too large", n, m)
	}
	pr := &KRR{b: b, host: k, n: n, m: m, p: p, sums: make([]float64, max(n, m))}
	err := pr.upload()
	if err == nil {
		err = pr.SetHyper(k.Lambda)
	}
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("problems: krr: %w", err)
	}
	return pr, nil
}

func (p *KRR) upload() error {
	b := p.b
	var err error
	for _, blk := range []struct {
		dst        *backend.Block
		rows, cols int
	}{
		{&p.dTT, p.n, p.n}, {&p.kTT, p.n, p.n}, {&p.dkTT, p.n, p.n},
		{&p.dVT, p.m, p.n}, {&p.kVT, p.m, p.n}, {&p.dkVT, p.m, p.n},
		{&p.bt, 2, p.n}, {&p.tn, p.n, 1}, {&p.tm, p.m, 1}, {&p.tm2, p.m, 1}, {&p.one, 1, 1},
	} {
		if *blk.dst, err = b.NewBlock(blk.rows, blk.cols); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		dst  *backend.Vector
		n    int
		init []float64
	}{{&p.y, p.n, p.host.YTrain}, {&p.yVal, p.m, p.host.YVal}, {&p.wLin, p.n, nil}} {
		if *v.dst, err = b.NewVector(v.n); err != nil {
			return err
		}
		if v.init != nil {
			b.Upload(*v.dst, v.init)
		}
	}
	if p.wLinCol, err = b.Reshape(p.wLin, p.n, 1); err != nil {
		return err
	}
	if p.tmRow, err = b.Reshape(p.tm, 1, p.m); err != nil {
		return err
	}
	if p.yValCol, err = b.Reshape(p.yVal, p.m, 1); err != nil {
		return err
	}
	if err := p.uploadDistances(p.dTT, p.host.XTrain, "X_train"); err != nil {
		return err
	}
	if err := p.uploadDistances(p.dVT, p.host.XVal, "X_val"); err != nil {
		return err
	}
	return b.Err()
}

// uploadDistances fills dst (rows of a × n) with the squared distances
// between the rows of a and the training rows, a chunk of rows at a time.
// A distance that overflows to +Inf is an error (it would make D⊙K NaN).
func (p *KRR) uploadDistances(dst backend.Block, a *data.Matrix, name string) error {
	b := p.b
	rows := a.Rows
	chunk := max(1, min(rows, krrChunkBytes/8/p.n))
	buf := make([]float64, chunk*p.n)
	dev, err := b.NewVector(chunk * p.n)
	if err != nil {
		return err
	}
	defer b.Free(dev)
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		for i := lo; i < hi; i++ {
			row := buf[(i-lo)*p.n : (i-lo+1)*p.n]
			krrDistRow(row, a, i, p.host.XTrain)
			for j, v := range row {
				if math.IsInf(v, 0) {
					return fmt.Errorf("the squared distance of %s row %d to X_train row %d overflows (%v): rescale the inputs", name, i, j, v)
				}
			}
		}
		b.Upload(dev, buf)
		b.CopyRange(dst, lo*p.n, dev, 0, (hi-lo)*p.n)
	}
	return b.Err()
}

// krrDistRow sets row[j] ← Σ_k (a_ik − x_jk)² for the rows x_j of x (both
// dense), summed in the order of k.
func krrDistRow(row []float64, a *data.Matrix, i int, x *data.Matrix) {
	p := x.Cols
	ai := a.Data[i*p : (i+1)*p]
	for j := range row {
		xj := x.Data[j*p : (j+1)*p]
		var s float64
		for k, v := range ai {
			d := v - xj[k]
			s += float64(d * d)
		}
		row[j] = s
	}
}

// Close frees the problem's device memory.
func (p *KRR) Close() error {
	for _, v := range []backend.Vector{p.dTT, p.kTT, p.dkTT, p.dVT, p.kVT, p.dkVT, p.y, p.yVal, p.wLin,
		p.bt, p.tn, p.tm, p.tm2, p.one} {
		if !isNil(v) {
			p.b.Free(v)
		}
	}
	p.views.reset()
	p.lin = false
	return nil
}

func (p *KRR) Backend() backend.Backend { return p.b }
func (p *KRR) InnerDim() int            { return p.n }
func (p *KRR) HyperDim() int            { return 2 }
func (p *KRR) Hyper(dst []float64)      { copy(dst, p.lam[:]) }

// Data returns the host data the problem was built from (its Lambda is the
// one of construction; Hyper gives the current λ).
func (p *KRR) Data() *data.KRR { return p.host }

// Dims returns n (training rows, the inner dimension), m (validation rows)
// and p (features).
func (p *KRR) Dims() (n, m, features int) { return p.n, p.m, p.p }

// RhoGamma returns ρ = e^{λ_0} and γ = e^{λ_1} at the current λ.
func (p *KRR) RhoGamma() (rho, gamma float64) { return p.rho, p.gamma }

// DenseBytes estimates the most bytes Reference or ExactConstants allocate
// on the host (see krrDenseBytes).
func (p *KRR) DenseBytes() int64 { return saturate(krrDenseBytes(p.host)) }

// krrDenseBytes estimates the host memory of KRR's dense computations:
// ExactConstants holds D, K, D⊙K and A (n×n), the copies of a symmetric
// eigendecomposition (2n²), D_vt, K_vt and D_vt⊙K_vt (m×n), the n×n matrix
// the product K_vtᵀ(D_vt⊙K_vt) and its symmetrization with their
// eigensolver copies, and the Gram matrix of K_vt (at most 3mn more);
// Reference less. 8 bytes per entry, plus 16 host
// vectors of length n and of length m.
func krrDenseBytes(k *data.KRR) float64 {
	if k == nil || k.XTrain == nil || k.XVal == nil {
		return 0
	}
	n, m := float64(k.XTrain.Rows), float64(k.XVal.Rows)
	return 8*(8*n*n+6*m*n) + 8*16*(n+m)
}

// SetHyper moves the problem to λ = (log ρ, log γ) and rebuilds K =
// exp(−γD), D⊙K, K_vt and D_vt⊙K_vt on the device; a linearization point is
// kept, its Bᵀ recomputed at the new λ. ρ and γ must be positive and finite
// (λ_0, λ_1 within about ±709).
func (p *KRR) SetHyper(lambda []float64) error {
	if len(lambda) != 2 {
		return fmt.Errorf("problems: krr: λ has length %d, want 2 (log ρ, log γ)", len(lambda))
	}
	rho, gamma := math.Exp(lambda[0]), math.Exp(lambda[1])
	for j, v := range []float64{rho, gamma} {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("problems: krr: λ[%d] = %v: e^λ = %v (want λ finite, with e^λ positive and finite)", j, lambda[j], v)
		}
	}
	copy(p.lam[:], lambda)
	p.rho, p.gamma = rho, gamma
	p.consts = nil
	b := p.b
	for _, k := range []struct{ d, k, dk backend.Block }{{p.dTT, p.kTT, p.dkTT}, {p.dVT, p.kVT, p.dkVT}} {
		b.Axpby(-gamma, k.d, 0, k.k)
		b.Map(k.k, backend.Exp, 0, k.k)
		b.MulElem(k.dk, 1, k.d, k.k, 0)
	}
	if p.lin {
		p.linearize()
	}
	return b.Err()
}

// col returns v (length v.Len(), already checked) as a column block: v
// itself if it is one, else a Reshape view, kept for the next calls.
func (p *KRR) col(v backend.Vector) (backend.Block, error) {
	blk, err := p.views.view(p.b, v, v.Len(), 1)
	if err != nil {
		return nil, fmt.Errorf("problems: krr: %w", err)
	}
	return blk, nil
}

// cols2 returns the column views of two vectors.
func (p *KRR) cols2(a, c backend.Vector) (backend.Block, backend.Block, error) {
	x, err := p.col(a)
	if err != nil {
		return nil, nil, err
	}
	y, err := p.col(c)
	return x, y, err
}

func (p *KRR) linearized(op string) error {
	if !p.lin {
		return fmt.Errorf("problems: krr: %s: %w", op, ErrNotLinearized)
	}
	return nil
}

// InnerValue returns g = wᵀ(½Kw + ½ρw − y).
func (p *KRR) InnerValue(w backend.Vector) (float64, error) {
	if err := checkVec("krr", "InnerValue", "w", w, p.n); err != nil {
		return 0, err
	}
	wc, err := p.col(w)
	if err != nil {
		return 0, err
	}
	b := p.b
	b.Gemm(p.tn, 0.5, p.kTT, backend.NoTrans, wc, backend.NoTrans, 0)
	b.Axpy(0.5*p.rho, w, p.tn)
	b.Axpy(-1, p.y, p.tn)
	v := b.Dot(w, p.tn)
	return v, b.Err()
}

// InnerGrad sets dst ← Kw + ρw − y.
func (p *KRR) InnerGrad(dst, w backend.Vector) error {
	if err := checkVecs("krr", "InnerGrad", "dst", dst, p.n, "w", w, p.n); err != nil {
		return err
	}
	d, wc, err := p.cols2(dst, w)
	if err != nil {
		return err
	}
	b := p.b
	b.Gemm(d, 1, p.kTT, backend.NoTrans, wc, backend.NoTrans, 0)
	b.Axpy(p.rho, w, dst)
	b.Axpy(-1, p.y, dst)
	return b.Err()
}

// Linearize keeps a copy of w and Bᵀ = [ρw, −γ(D⊙K)w]ᵀ at w (2×n). A does
// not depend on w, but HessVec and HessDiag too need a Linearize first, as
// for every problem of the package.
func (p *KRR) Linearize(w backend.Vector) error {
	if err := checkVec("krr", "Linearize", "w", w, p.n); err != nil {
		return err
	}
	p.b.Copy(p.wLin, w)
	p.linearize()
	if err := p.b.Err(); err != nil {
		return err
	}
	p.lin = true
	return nil
}

// linearize sets bt ← [ρ wLin; −γ(D⊙K) wLin] (rows).
func (p *KRR) linearize() {
	b := p.b
	b.Axpby(p.rho, p.wLin, 0, p.tn)
	b.CopyRange(p.bt, 0, p.tn, 0, p.n)
	b.Gemm(p.tn, -p.gamma, p.dkTT, backend.NoTrans, p.wLinCol, backend.NoTrans, 0)
	b.CopyRange(p.bt, p.n, p.tn, 0, p.n)
}

// HessVec sets dst ← Kv + ρv.
func (p *KRR) HessVec(dst, v backend.Vector) error {
	if err := checkVecs("krr", "HessVec", "dst", dst, p.n, "v", v, p.n); err != nil {
		return err
	}
	if err := p.linearized("HessVec"); err != nil {
		return err
	}
	d, vc, err := p.cols2(dst, v)
	if err != nil {
		return err
	}
	b := p.b
	b.Gemm(d, 1, p.kTT, backend.NoTrans, vc, backend.NoTrans, 0)
	b.Axpy(p.rho, v, dst)
	return b.Err()
}

// HessDiag sets dst ← diag(K + ρI) = 1 + ρ: K_ii = exp(−γ·0) = 1 exactly,
// since D_ii = 0 to the bit.
func (p *KRR) HessDiag(dst backend.Vector) error {
	if err := checkVec("krr", "HessDiag", "dst", dst, p.n); err != nil {
		return err
	}
	if err := p.linearized("HessDiag"); err != nil {
		return err
	}
	p.b.Fill(dst, 1+p.rho)
	return p.b.Err()
}

// CrossVec sets dst ← Bᵀv = (ρ wᵀv, −γ vᵀ(D⊙K)w) at the linearization
// point w.
func (p *KRR) CrossVec(dst, v backend.Vector) error {
	if err := checkVecs("krr", "CrossVec", "dst", dst, 2, "v", v, p.n); err != nil {
		return err
	}
	if err := p.linearized("CrossVec"); err != nil {
		return err
	}
	d, vc, err := p.cols2(dst, v)
	if err != nil {
		return err
	}
	p.b.Gemm(d, 1, p.bt, backend.NoTrans, vc, backend.NoTrans, 0)
	return p.b.Err()
}

// CrossApply sets dst ← B u = u_0 ρw − u_1 γ(D⊙K)w at the linearization
// point w.
func (p *KRR) CrossApply(dst, u backend.Vector) error {
	if err := checkVecs("krr", "CrossApply", "dst", dst, p.n, "u", u, 2); err != nil {
		return err
	}
	if err := p.linearized("CrossApply"); err != nil {
		return err
	}
	d, uc, err := p.cols2(dst, u)
	if err != nil {
		return err
	}
	p.b.Gemm(d, 1, p.bt, backend.Trans, uc, backend.NoTrans, 0)
	return p.b.Err()
}

// residual sets tm ← K_vt w − y_val.
func (p *KRR) residual(wc backend.Block) {
	p.b.Gemm(p.tm, 1, p.kVT, backend.NoTrans, wc, backend.NoTrans, 0)
	p.b.Axpy(-1, p.yVal, p.tm)
}

// OuterValue returns E = ‖K_vt w − y_val‖²/(2m).
func (p *KRR) OuterValue(w backend.Vector) (float64, error) {
	if err := checkVec("krr", "OuterValue", "w", w, p.n); err != nil {
		return 0, err
	}
	wc, err := p.col(w)
	if err != nil {
		return 0, err
	}
	p.residual(wc)
	v := p.b.Dot(p.tm, p.tm) / float64(2*p.m)
	return v, p.b.Err()
}

// OuterGrad sets dst ← K_vtᵀ(K_vt w − y_val)/m.
func (p *KRR) OuterGrad(dst, w backend.Vector) error {
	if err := checkVecs("krr", "OuterGrad", "dst", dst, p.n, "w", w, p.n); err != nil {
		return err
	}
	d, wc, err := p.cols2(dst, w)
	if err != nil {
		return err
	}
	p.residual(wc)
	p.b.Gemm(d, 1/float64(p.m), p.kVT, backend.Trans, p.tm, backend.NoTrans, 0)
	return p.b.Err()
}

// OuterHyperGrad sets dst ← ∇_λE = (0, −γ/m · rᵀ(D_vt⊙K_vt)w), r = K_vt w −
// y_val (E depends on γ through K_vt; not on ρ): one pass over K_vt and one
// over D_vt⊙K_vt, the dot product on the device.
func (p *KRR) OuterHyperGrad(dst, w backend.Vector) error {
	if err := checkVecs("krr", "OuterHyperGrad", "dst", dst, 2, "w", w, p.n); err != nil {
		return err
	}
	wc, err := p.col(w)
	if err != nil {
		return err
	}
	b := p.b
	p.residual(wc)
	b.Gemm(p.tm2, 1, p.dkVT, backend.NoTrans, wc, backend.NoTrans, 0)
	b.Gemm(p.one, -p.gamma/float64(p.m), p.tmRow, backend.NoTrans, p.tm2, backend.NoTrans, 0)
	b.Fill(dst, 0)
	b.CopyRange(dst, 1, p.one, 0, 1)
	return b.Err()
}

// CrossNorm returns ‖B(w)‖₂ exactly (Kind Exact): the square root of the
// largest eigenvalue of the 2×2 Gram matrix
//
//	BᵀB = [ρ²‖w‖²  −ργ wᵀu; −ργ wᵀu  γ²‖u‖²],   u = (D⊙K)w,
//
// from three device dot products; λ_max = (a+c)/2 + √(((a−c)/2)² + b²). The
// linearization is left alone.
func (p *KRR) CrossNorm(w backend.Vector) (bilevel.Constant, error) {
	if err := checkVec("krr", "CrossNorm", "w", w, p.n); err != nil {
		return bilevel.Constant{}, err
	}
	wc, err := p.col(w)
	if err != nil {
		return bilevel.Constant{}, err
	}
	b := p.b
	b.Gemm(p.tn, 1, p.dkTT, backend.NoTrans, wc, backend.NoTrans, 0)
	ww, wu, uu := b.Dot(w, w), b.Dot(w, p.tn), b.Dot(p.tn, p.tn)
	if err := b.Err(); err != nil {
		return bilevel.Constant{}, err
	}
	a, c, off := p.rho*p.rho*ww, p.gamma*p.gamma*uu, -p.rho*p.gamma*wu
	lmax := (a+c)/2 + math.Hypot((a-c)/2, off)
	v := math.Sqrt(lmax)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return bilevel.Constant{}, fmt.Errorf("problems: krr: CrossNorm: ‖B(w)‖ = %v", v)
	}
	return bilevel.Constant{Value: v, Kind: bilevel.Exact}, nil
}
