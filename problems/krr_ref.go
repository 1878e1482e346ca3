package problems

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// krrHost is the krr problem at one λ on the host: the kernel matrices
// row-major, computed with the operations of the device (−γ·D rounded once,
// backend.Exp.Eval, the product D·K), so that they equal the CPU backend's
// to the bit.
type krrHost struct {
	n, m       int
	rho, gamma float64
	y, yVal    []float64
	k, dk      []float64 // n×n
	kv, dkv    []float64 // m×n
}

// krrKernel returns K = exp(−γD) and D⊙K for the rows of a against the rows
// of x.
func krrKernel(a, x *data.Matrix, gamma float64) (k, dk []float64) {
	rows, n := a.Rows, x.Rows
	k, dk = make([]float64, rows*n), make([]float64, rows*n)
	for i := 0; i < rows; i++ {
		d := dk[i*n : (i+1)*n]
		krrDistRow(d, a, i, x)
		for j, v := range d {
			e := backend.Exp.Eval(-gamma*v, 0)
			k[i*n+j] = e
			d[j] = v * e
		}
	}
	return k, dk
}

// hostAt returns the host problem at the current λ.
func (p *KRR) hostAt() *krrHost {
	h := &krrHost{n: p.n, m: p.m, rho: p.rho, gamma: p.gamma, y: p.host.YTrain, yVal: p.host.YVal}
	h.k, h.dk = krrKernel(p.host.XTrain, p.host.XTrain, p.gamma)
	h.kv, h.dkv = krrKernel(p.host.XVal, p.host.XTrain, p.gamma)
	return h
}

// sym returns the symmetric n×n matrix s (row-major, symmetric to the bit)
// plus shift·I.
func krrSym(n int, s []float64, shift float64) *mat.SymDense {
	a := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			a.SetSym(i, j, s[i*n+j])
		}
		a.SetSym(i, i, a.At(i, i)+shift)
	}
	return a
}

// mul returns M·w for M rows×cols row-major.
func krrMul(m []float64, rows, cols int, w []float64) []float64 {
	out := make([]float64, rows)
	for i := range out {
		var s float64
		for j, v := range m[i*cols : (i+1)*cols] {
			s += v * w[j]
		}
		out[i] = s
	}
	return out
}

// mulT returns Mᵀ·r for M rows×cols row-major.
func krrMulT(m []float64, rows, cols int, r []float64) []float64 {
	out := make([]float64, cols)
	for i := 0; i < rows; i++ {
		for j, v := range m[i*cols : (i+1)*cols] {
			out[j] += v * r[i]
		}
	}
	return out
}

func krrDot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// krrSpectral returns ‖M‖₂ of the rows×cols row-major M: the square root of
// the largest eigenvalue of the smaller of MMᵀ and MᵀM.
func krrSpectral(m []float64, rows, cols int) (float64, error) {
	md := mat.NewDense(rows, cols, m)
	var g mat.SymDense
	if err := guard("Gram matrix", func() error {
		if rows <= cols {
			g.SymOuterK(1, md)
		} else {
			g.SymOuterK(1, md.T())
		}
		return nil
	}); err != nil {
		return 0, err
	}
	_, hi, err := symExtremes(&g)
	if err != nil {
		return 0, err
	}
	return math.Sqrt(math.Max(hi, 0)), nil
}

// krrBall returns R = 2‖y‖/ρ, the radius of the ball around 0 on which the
// L_Eλ of Constants holds (see ExactConstants).
func (p *KRR) krrBall() float64 { return 2 * norm2(p.host.YTrain) / p.rho }

// Constants returns the constants at the current λ (cached until the next
// SetHyper): ExactConstants where n ≤ DenseLimit, the products by the m×n
// K_vt are cheap (denseCheap) and the dense budget allows, else the proven
// bounds of BoundConstants.
func (p *KRR) Constants() (bilevel.Constants, error) {
	if p.consts != nil {
		return *p.consts, nil
	}
	var (
		c   bilevel.Constants
		err error
	)
	if denseCheap(p.n, p.n) && denseCheap(p.m, p.n) && p.fits("", krrDenseBytes(p.host)) == nil {
		c, err = p.ExactConstants()
	} else {
		c, err = p.BoundConstants()
	}
	if err != nil {
		return c, err
	}
	p.consts = &c
	return c, nil
}

// ExactConstants computes the constants from dense decompositions on the
// host (any size within the dense budget, else ErrTooLarge):
//
//	μ    = λ_min(K + ρI) (Exact), or the proven bound ρ (Kind Bound; K is a
//	       Gaussian Gram matrix, positive semidefinite) when the computed
//	       value falls below ρ by rounding;
//	L    = λ_max(K + ρI) (Exact);
//	L_f  = ‖K_vt‖₂²/m (Exact): ∇_wE = K_vtᵀ(K_vt w − y_val)/m is affine
//	       with matrix K_vtᵀK_vt/m;
//	L_A  = 0 (Exact): A = K + ρI does not depend on w;
//	L_B  = √(ρ² + γ²‖D⊙K‖₂²) (Exact): B(w) − B(w') = B(δ), δ = w − w', and
//	       ‖B(δ)‖₂ = max_{‖u‖=1} ‖(u_0ρI − u_1γ(D⊙K))δ‖; D⊙K is symmetric
//	       with eigenvalues κ_i, so sup_δ ‖B(δ)‖₂/‖δ‖ = max_i max_{‖u‖=1}
//	       |u_0ρ − u_1γκ_i| = √(ρ² + γ² max_i κ_i²);
//	L_Eλ = γ/m (‖M‖₂R + ‖(D_vt⊙K_vt)ᵀy_val‖), M = K_vtᵀ(D_vt⊙K_vt) +
//	       (D_vt⊙K_vt)ᵀK_vt, R = 2‖y‖/ρ, Kind Estimate: ∇_λE = (0, φ(w)) with
//	       φ(w) = −γ/m (K_vt w − y_val)ᵀ(D_vt⊙K_vt)w quadratic, so it has no
//	       global Lipschitz constant; ∇φ(w) = −γ/m (Mw − (D_vt⊙K_vt)ᵀy_val)
//	       bounds it on the ball ‖w‖ ≤ R, which holds w* (‖w*‖ ≤ ‖y‖/ρ) and
//	       every gradient-descent iterate from 0 (‖w_t − w*‖ ≤ ‖w*‖). The
//	       value is proven on that ball only, hence Estimate.
func (p *KRR) ExactConstants() (bilevel.Constants, error) {
	if err := p.fits("krr: exact constants", krrDenseBytes(p.host)); err != nil {
		return bilevel.Constants{}, err
	}
	var h *krrHost
	if err := guard("krr kernel", func() error { h = p.hostAt(); return nil }); err != nil {
		return bilevel.Constants{}, err
	}
	n, m := p.n, p.m
	lo, hi, err := symExtremes(krrSym(n, h.k, p.rho))
	if err != nil {
		return bilevel.Constants{}, err
	}
	dlo, dhi, err := symExtremes(krrSym(n, h.dk, 0))
	if err != nil {
		return bilevel.Constants{}, err
	}
	kvNorm, err := krrSpectral(h.kv, m, n)
	if err != nil {
		return bilevel.Constants{}, err
	}
	// M = K_vtᵀ(D_vt⊙K_vt) + its transpose (n×n).
	var prod mat.Dense
	if err := guard("krr cross product", func() error {
		prod.Mul(mat.NewDense(m, n, h.kv).T(), mat.NewDense(m, n, h.dkv))
		return nil
	}); err != nil {
		return bilevel.Constants{}, err
	}
	msym := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			msym.SetSym(i, j, prod.At(i, j)+prod.At(j, i))
		}
	}
	mlo, mhi, err := symExtremes(msym)
	if err != nil {
		return bilevel.Constants{}, err
	}
	dky := norm2(krrMulT(h.dkv, m, n, p.host.YVal))
	dkNorm := math.Max(math.Abs(dlo), math.Abs(dhi))
	mf := float64(m)
	mu := bilevel.Constant{Value: lo, Kind: bilevel.Exact}
	if !(lo >= p.rho) {
		mu = bilevel.Constant{Value: p.rho, Kind: bilevel.Bound}
	}
	c := bilevel.Constants{
		Mu:  mu,
		L:   bilevel.Constant{Value: hi, Kind: bilevel.Exact},
		Lf:  bilevel.Constant{Value: kvNorm * kvNorm / mf, Kind: bilevel.Exact},
		LA:  bilevel.Constant{Value: 0, Kind: bilevel.Exact},
		LB:  bilevel.Constant{Value: math.Hypot(p.rho, p.gamma*dkNorm), Kind: bilevel.Exact},
		LEl: bilevel.Constant{Value: p.gamma / mf * (math.Max(math.Abs(mlo), math.Abs(mhi))*p.krrBall() + dky), Kind: bilevel.Estimate},
	}
	return c, checkConstants("krr", c)
}

// krrSlack is the relative allowance for rounding of the device sums of
// BoundConstants: each sum of at most N non-negative terms (N = n + m) has
// relative error at most about Nε, far below 1 + 4(N+2)ε − 1.
func (p *KRR) krrSlack() float64 { return 1 + 4*float64(p.n+p.m+2)*0x1p-52 }

// BoundConstants returns proven bounds (Kind Bound) computed on the device
// from row sums, column sums and Frobenius norms of the kernel blocks, with
// no dense decomposition, each inflated by a relative 4(n+m+2)ε for the
// rounding of the sums (the row and column sums, n + m values, are
// downloaded):
//
//	μ    = ρ: K is positive semidefinite;
//	L    = ρ + min(max_i Σ_j K_ij, ‖K‖_F): Gershgorin (K ≥ 0 elementwise),
//	       and λ_max ≤ ‖K‖_F;
//	L_f  = min(‖K_vt‖_F², ‖K_vt‖₁‖K_vt‖_∞)/m: ‖M‖₂² ≤ ‖M‖₁‖M‖_∞ (Hölder);
//	L_A  = 0 (Exact);
//	L_B  = √(ρ² + γ²β²), β = min(max row sum of D⊙K, ‖D⊙K‖_F) ≥ ‖D⊙K‖₂
//	       (see ExactConstants);
//	L_Eλ = γ/m (2‖K_vt‖~‖D_vt⊙K_vt‖~R + ‖(D_vt⊙K_vt)ᵀy_val‖), ‖·‖~ the
//	       bounds of L_f, on the ball ‖w‖ ≤ R = 2‖y‖/ρ, Kind Estimate (see
//	       ExactConstants; ‖M‖₂ ≤ 2‖K_vt‖₂‖D_vt⊙K_vt‖₂).
func (p *KRR) BoundConstants() (bilevel.Constants, error) {
	b := p.b
	s := p.krrSlack()
	rowMax := func(blk, v backend.Block, rows int) float64 {
		b.RowSums(v, 1, blk, 0)
		b.Download(p.sums[:rows], v)
		return krrMax(p.sums[:rows])
	}
	colMax := func(blk backend.Block) float64 {
		b.ColSums(p.tn, 1, blk, 0)
		b.Download(p.sums[:p.n], p.tn)
		return krrMax(p.sums[:p.n])
	}
	kRow, kF := rowMax(p.kTT, p.tn, p.n), b.Nrm2(p.kTT)
	dkRow, dkF := rowMax(p.dkTT, p.tn, p.n), b.Nrm2(p.dkTT)
	kvRow, kvCol, kvF := rowMax(p.kVT, p.tm, p.m), colMax(p.kVT), b.Nrm2(p.kVT)
	dkvRow, dkvCol, dkvF := rowMax(p.dkVT, p.tm, p.m), colMax(p.dkVT), b.Nrm2(p.dkVT)
	b.Gemm(p.tn, 1, p.dkVT, backend.Trans, p.yValCol, backend.NoTrans, 0)
	dky := b.Nrm2(p.tn)
	if err := b.Err(); err != nil {
		return bilevel.Constants{}, err
	}
	kv := math.Sqrt(math.Min(kvF*kvF, kvRow*kvCol)) * s
	dkv := math.Sqrt(math.Min(dkvF*dkvF, dkvRow*dkvCol)) * s
	mf := float64(p.m)
	bound := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Bound} }
	c := bilevel.Constants{
		Mu:  bound(p.rho),
		L:   bound(p.rho + math.Min(kRow, kF)*s),
		Lf:  bound(kv * kv / mf),
		LA:  bilevel.Constant{Value: 0, Kind: bilevel.Exact},
		LB:  bound(math.Hypot(p.rho, p.gamma*math.Min(dkRow, dkF)*s)),
		LEl: bilevel.Constant{Value: p.gamma / mf * (2*kv*dkv*p.krrBall() + dky*s), Kind: bilevel.Estimate},
	}
	return c, checkConstants("krr", c)
}

func krrMax(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		if math.IsNaN(x) {
			return x
		}
		m = math.Max(m, x)
	}
	return m
}

// Reference solves the problem exactly on the host: the kernels at the
// current λ (as the device computes them), a dense Cholesky factorisation
// of A = K + ρI, w* = A⁻¹y, q = A⁻¹∇_wE(w*) = A⁻¹K_vtᵀr/m and
//
//	∇f = ∇_λE − Bᵀq = (−ρ wᵀq, −γ/m rᵀ(D_vt⊙K_vt)w + γ qᵀ(D⊙K)w),
//
// r = K_vt w − y_val. InnerGradNorm is ‖A w* − y‖. Beyond the dense budget
// it is ErrTooLarge, before anything is allocated; a failed factorisation
// or a non-finite result is ErrNumerical.
func (p *KRR) Reference() (*bilevel.Reference, error) {
	if err := p.fits("krr: reference", krrDenseBytes(p.host)); err != nil {
		return nil, err
	}
	var h *krrHost
	if err := guard("krr kernel", func() error { h = p.hostAt(); return nil }); err != nil {
		return nil, err
	}
	n, m := p.n, p.m
	chol, ok, err := cholesky(krrSym(n, h.k, p.rho))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: krr: K + ρI is not positive definite to working precision", ErrNumerical)
	}
	w, err := cholSolve(chol, h.y)
	if err != nil {
		return nil, err
	}
	r := krrMul(h.kv, m, n, w)
	for i := range r {
		r[i] -= h.yVal[i]
	}
	ge := krrMulT(h.kv, m, n, r)
	for j := range ge {
		ge[j] /= float64(m)
	}
	q, err := cholSolve(chol, ge)
	if err != nil {
		return nil, err
	}
	dkw := krrMul(h.dk, n, n, w)
	dkvw := krrMul(h.dkv, m, n, w)
	hg := []float64{
		-p.rho * krrDot(w, q),
		-p.gamma/float64(m)*krrDot(r, dkvw) + p.gamma*krrDot(q, dkw),
	}
	g := krrMul(h.k, n, n, w)
	for i := range g {
		g[i] += p.rho*w[i] - h.y[i]
	}
	return checkReference("krr", &bilevel.Reference{
		Hypergradient: hg,
		W:             w,
		V:             q,
		InnerGradNorm: norm2(g),
		Method:        "dense Cholesky of A = K + ρI",
	})
}
