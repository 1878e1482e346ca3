package problems

import (
	"errors"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// TVDenoise is smoothed total-variation denoising (spec "tvdenoise"; the
// image-denoising problem of Ehrhardt & Roberts 2024): for a noisy image y
// (H×W, row-major, n = H·W pixels; H = 1 a 1-D signal), its clean version
// x_true and λ = (log α, log ν),
//
//	g(x, λ) = ½‖x − y‖² + α Σ_p φ(u_p),   φ(u) = sqrt(|u|² + ν²),   u = D x,
//	E(x)    = ½‖x − x_true‖²,
//
// with D the forward differences with the Neumann boundary
// (backend.ForwardDiff1D for H = 1, with u_p = (Dx)_p a scalar;
// backend.ForwardDiff2D otherwise, with u_p ∈ R² the interleaved rows 2p,
// 2p+1 of D x). With s_p = φ(u_p),
//
//	∇_x g = x − y + α Dᵀ(u/s),
//	A     = I + α Dᵀ M D,   M_p = ∇²φ(u_p) = (1/s_p)(I − u_p u_pᵀ/s_p²)   (ν²/s_p³ in 1-D),
//	B     = [α Dᵀ(u/s),  −α ν² Dᵀ(u/s³)]   (∂/∂log α, ∂/∂log ν of ∇_x g),
//	∇_x E = x − x_true,   ∇_λ E = 0,
//
// u/s and u/s³ taken pixel by pixel. The constants (bilevel.Constants, at
// the current λ, for every x) are, with ‖D‖² = ρ(W) + ρ(H) in 2-D and ρ(W)
// in 1-D, ρ(k) = 4 sin²(π(k−1)/(2k)) the largest eigenvalue of the path
// Laplacian of k nodes (DᵀD is that Laplacian in 1-D and the Kronecker sum
// of the two in 2-D; so ‖D‖² < 4 in 1-D and < 8 in 2-D):
//
//	μ   = 1, Exact: M_p ⪰ 0 gives A ⪰ I, and D1 = 0 (Neumann) gives A1 = 1.
//	L   = 1 + α‖D‖²/ν, Bound (attained where D x = 0): ‖M_p‖ = 1/s_p ≤ 1/ν.
//	L_f = 1, Exact.   L_Eλ = 0, Exact.
//	L_A = α c ‖D‖³/ν², Bound: ‖A(x) − A(x')‖ ≤ α‖D‖² max_p ‖M_p − M'_p‖ and
//	      ‖M_p − M'_p‖ ≤ (c/ν²)|u_p − u'_p| ≤ (c/ν²)‖D‖‖x − x'‖, where
//	      c/ν² = sup ‖∇³φ‖ (φ_ν(u) = ν φ_1(u/ν), so ∇³φ_ν = ν⁻² ∇³φ_1(u/ν)).
//	      1-D: φ_1‴(u) = −3u/(1+u²)^{5/2}, largest at u² = 1/4:
//	      c = c₁ = 48/(25√5) ≈ 0.8587. 2-D: by rotation u = (r, 0), h =
//	      (cos θ, sin θ), s² = 1 + r², the derivative of M along h is
//	      (r/s³)·[[−3cosθ/s², −sinθ], [−sinθ, −cosθ]]; its norm is at most
//	      its largest absolute row sum, ≤ c₁|cos θ| + c₀|sin θ| with
//	      c₀ = max r/s³ = 2/(3√3) (at r² = 1/2) ≤ c₁, so
//	      c = c₂ = √(c₁² + c₀²) ≈ 0.9410 (Cauchy–Schwarz).
//	L_B = √2 α‖D‖²/ν, Bound: the columns are α Dᵀψ₁(u) and −α Dᵀψ₃(u),
//	      ψ₁(u) = u/s = ∇φ with Jacobian M (‖M‖ ≤ 1/ν), ψ₃(u) = ν²u/s³ with
//	      Jacobian ν²(I/s³ − 3uuᵀ/s⁵), whose eigenvalues ν²/s³ and
//	      ν²(ν² − 2|u|²)/s⁵ are at most 1/ν in absolute value; each column
//	      is α‖D‖²/ν-Lipschitz and ‖B‖ ≤ ‖B‖_F.
//
// CrossNorm is ‖B(x)‖₂ at x, from the 2×2 Gram matrix of B (Exact).
//
// D lives on the device as a CSR matrix; every oracle runs on backend ops
// (MulVec/MulVecTrans with D, RowNorms, Map, ScaleRows, RowSums, MulElem,
// Gemm with 2×m blocks) and allocates nothing after construction.
// Linearize keeps u = D x, 1/s, u/s, the 1-D curvature ν²/s³ and the
// 2×m block G = [α u/s; −αν² u/s³] (B = DᵀGᵀ, Bᵀv = G D v).
//
// Reference solves g by damped Newton on the host (by continuation in ν
// when ν < 0.1): the Hessian is banded (bandwidth 1 in 1-D, W in 2-D) and
// factorised by a banded Cholesky when DenseBytes fits the dense budget
// (SetMaxDenseBytes), else each Newton system is solved by conjugate
// gradients to the rounding level; it never fails with ErrTooLarge.
type TVDenoise struct {
	denseBudget
	b       backend.Backend
	host    *data.TVDenoise
	hgt, wd int // H and W
	n, m, k int // pixels, rows of D, components per pixel (1 or 2)
	twoD    bool
	dHost   backend.CSRData
	dNorm2  float64 // ‖D‖² (rounded up)

	d, dAbs backend.Matrix // D and |D| (entrywise; for HessDiag)
	y, xt   backend.Vector
	ones    backend.Vector // n ones
	onesK   backend.Block  // n×k ones
	mask    backend.Vector // 2-D: 1 where both differences of a pixel exist
	perm    backend.Block  // 2-D: [[0, 1], [1, 0]]

	// scratch for oracles at any point
	u, z, t backend.Block  // n×k
	s, r, c backend.Vector // n
	diff    backend.Vector // n
	b1, b2  backend.Vector // n (CrossNorm)
	tCol    backend.Block  // m×1 view of t
	in2     backend.Block  // 2×1
	out2    backend.Block  // 2×1

	// linearization
	xLin   backend.Vector // n
	uL, vL backend.Block  // n×k: D x and D x / s
	rL, hw backend.Vector // n: 1/s, and ν²/s³ (1-D)
	g      backend.Block  // 2×m: [α u/s; −αν² u/s³]
	lin    bool

	lam            [2]float64
	alpha, nu, nu2 float64
}

var (
	_ Problem              = (*TVDenoise)(nil)
	_ bilevel.CrossApplier = (*TVDenoise)(nil)
	_ bilevel.CrossNormer  = (*TVDenoise)(nil)
	_ bilevel.HessDiager   = (*TVDenoise)(nil)
	_ DenseBudgeter        = (*TVDenoise)(nil)
	_ bilevel.Referencer   = (*TVDenoise)(nil)
)

// tvFamily names the family in errors.
const tvFamily = "tvdenoise"

// Constants of the third derivative of φ_1(u) = sqrt(|u|² + 1) (see
// TVDenoise): c₁ = max|φ_1‴| in 1-D, c₀ = max r/(1+r²)^{3/2}, and the 2-D
// bound c₂ = √(c₁² + c₀²).
var (
	tvC1 = 48 / (25 * math.Sqrt(5))
	tvC0 = 2 / (3 * math.Sqrt(3))
	tvC2 = math.Hypot(tvC1, tvC0)
)

// pathLapMax returns ρ(k) = 4 sin²(π(k−1)/(2k)), the largest eigenvalue of
// the Laplacian of the path of k nodes (0 for k = 1).
func pathLapMax(k int) float64 {
	if k <= 1 {
		return 0
	}
	v := math.Sin(math.Pi * float64(k-1) / float64(2*k))
	return 4 * v * v
}

// tvDiffNorm2 returns ‖D‖² for an h×w image (h = 1: a signal), rounded up
// by 8 ulps and capped by the crude bounds 4 (1-D) and 8 (2-D).
func tvDiffNorm2(h, w int) float64 {
	v, crude := pathLapMax(w), 4.0
	if h > 1 {
		v += pathLapMax(h)
		crude = 8
	}
	return math.Min(crude, v*(1+8*0x1p-52))
}

// tvDenseBytes estimates the host bytes of TVDenoise.Reference: the banded
// Hessian and its Cholesky factor (n·(bw+1) entries each, bw = 1 in 1-D
// and W in 2-D) and 24 host vectors of n pixels (differences of 2n).
func tvDenseBytes(t *data.TVDenoise) float64 {
	if t == nil {
		return 0
	}
	n := float64(t.H) * float64(t.W)
	bw := 1.0
	if t.H > 1 {
		bw = float64(t.W)
	}
	return 8 * (2*n*(bw+1) + 24*n)
}

// DenseBytes estimates the bytes of Reference's banded Cholesky (beyond the
// budget, Reference uses conjugate gradients instead).
func (p *TVDenoise) DenseBytes() int64 { return saturate(tvDenseBytes(p.host)) }

// NewTVDenoise uploads tvdenoise data to the backend and sets λ to the
// data's (log α, log ν).
func NewTVDenoise(b backend.Backend, t *data.TVDenoise) (*TVDenoise, error) {
	if b == nil {
		return nil, errors.New("problems: tvdenoise: nil backend")
	}
	if t == nil {
		return nil, errors.New("problems: tvdenoise: nil data")
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("problems: tvdenoise: %w", err)
	}
	if t.H*t.W > math.MaxInt/16 {
		return nil, fmt.Errorf("problems: tvdenoise: %d×%d is too large", t.H, t.W)
	}
	p := &TVDenoise{b: b, host: t, hgt: t.H, wd: t.W, n: t.H * t.W, k: 1, twoD: t.H > 1}
	var err error
	if p.twoD {
		p.k = 2
		p.dHost, err = backend.ForwardDiff2D(t.H, t.W)
	} else {
		p.dHost, err = backend.ForwardDiff1D(t.W)
	}
	if err != nil {
		return nil, fmt.Errorf("problems: tvdenoise: %w", err)
	}
	p.m = p.n * p.k
	p.dNorm2 = tvDiffNorm2(t.H, t.W)
	if err := p.upload(); err != nil {
		p.Close()
		return nil, fmt.Errorf("problems: tvdenoise: %w", err)
	}
	if err := p.SetHyper(t.Lambda); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *TVDenoise) upload() error {
	b := p.b
	var err error
	if p.d, err = p.dHost.Upload(b); err != nil {
		return err
	}
	abs := make([]float64, len(p.dHost.Data))
	for i, v := range p.dHost.Data {
		abs[i] = v * v
	}
	if p.dAbs, err = b.NewCSR(p.dHost.Rows, p.dHost.Cols, p.dHost.Indptr, p.dHost.Indices, abs); err != nil {
		return err
	}
	for _, v := range []*backend.Vector{&p.y, &p.xt, &p.ones, &p.s, &p.r, &p.c, &p.diff, &p.b1, &p.b2, &p.xLin, &p.rL, &p.hw} {
		if *v, err = b.NewVector(p.n); err != nil {
			return err
		}
	}
	for _, blk := range []struct {
		dst        *backend.Block
		rows, cols int
	}{{&p.onesK, p.n, p.k}, {&p.u, p.n, p.k}, {&p.z, p.n, p.k}, {&p.t, p.n, p.k}, {&p.uL, p.n, p.k}, {&p.vL, p.n, p.k},
		{&p.in2, 2, 1}, {&p.out2, 2, 1}, {&p.g, 2, p.m}} {
		if *blk.dst, err = b.NewBlock(blk.rows, blk.cols); err != nil {
			return err
		}
	}
	if p.tCol, err = b.Reshape(p.t, p.m, 1); err != nil {
		return err
	}
	b.Upload(p.y, p.host.Y)
	b.Upload(p.xt, p.host.XTrue)
	b.Fill(p.ones, 1)
	b.Fill(p.onesK, 1)
	if p.twoD {
		if p.mask, err = b.NewVector(p.n); err != nil {
			return err
		}
		if p.perm, err = b.NewBlock(2, 2); err != nil {
			return err
		}
		mask := make([]float64, p.n)
		for i := 0; i < p.hgt-1; i++ {
			for j := 0; j < p.wd-1; j++ {
				mask[i*p.wd+j] = 1
			}
		}
		b.Upload(p.mask, mask)
		b.Upload(p.perm, []float64{0, 1, 1, 0})
	}
	return b.Err()
}

// Close frees the problem's device memory.
func (p *TVDenoise) Close() error {
	for _, v := range []backend.Vector{p.y, p.xt, p.ones, p.onesK, p.mask, p.perm, p.u, p.z, p.t, p.s, p.r, p.c,
		p.diff, p.b1, p.b2, p.in2, p.out2, p.xLin, p.uL, p.vL, p.rL, p.hw, p.g} {
		if !isNil(v) {
			p.b.Free(v)
		}
	}
	for _, m := range []backend.Matrix{p.d, p.dAbs} {
		if m != nil {
			p.b.FreeMatrix(m)
		}
	}
	p.d, p.dAbs, p.tCol = nil, nil, nil
	p.lin = false
	return nil
}

func (p *TVDenoise) Backend() backend.Backend { return p.b }
func (p *TVDenoise) InnerDim() int            { return p.n }
func (p *TVDenoise) HyperDim() int            { return 2 }
func (p *TVDenoise) Hyper(dst []float64)      { copy(dst, p.lam[:]) }

// Data returns the host data the problem was built from (its λ is the one
// of construction; Hyper gives the current one).
func (p *TVDenoise) Data() *data.TVDenoise { return p.host }

// Dims returns the image's rows H and columns W (H = 1 for a signal).
func (p *TVDenoise) Dims() (h, w int) { return p.hgt, p.wd }

// SetHyper moves the problem to λ = (log α, log ν); ν² must neither
// underflow nor overflow and α‖D‖²/ν must be finite. A linearization point
// is kept, its quantities recomputed at the new λ.
func (p *TVDenoise) SetHyper(lambda []float64) error {
	if len(lambda) != 2 {
		return fmt.Errorf("problems: tvdenoise: λ has length %d, want 2 (log α, log ν)", len(lambda))
	}
	for j, l := range lambda {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("problems: tvdenoise: λ[%d] = %v (want finite)", j, l)
		}
	}
	alpha, nu := math.Exp(lambda[0]), math.Exp(lambda[1])
	nu2 := nu * nu
	if !(nu2 > 0) || math.IsInf(nu2, 0) || math.IsInf(alpha, 0) || math.IsInf(alpha*p.dNorm2/nu, 0) ||
		math.IsInf(alpha*tvC2*p.dNorm2*math.Sqrt(p.dNorm2)/nu2, 0) {
		return fmt.Errorf("%w: tvdenoise: λ = (%v, %v) gives α = %v, ν = %v: ν² must be positive and finite, and α‖D‖²/ν and α‖D‖³/ν² finite",
			ErrConstants, lambda[0], lambda[1], alpha, nu)
	}
	copy(p.lam[:], lambda)
	p.alpha, p.nu, p.nu2 = alpha, nu, nu2
	if p.lin {
		p.linearize()
	}
	return p.b.Err()
}

// norms sets u ← D x, s ← sqrt(|u_p|² + ν²) and r ← 1/s.
func (p *TVDenoise) norms(x backend.Vector) {
	b := p.b
	b.MulVec(p.u, 1, p.d, x, 0)
	b.RowNorms(p.s, p.u, p.nu2)
	b.Map(p.r, backend.Recip, 0, p.s)
}

// InnerValue returns g(x) = ½‖x − y‖² + α Σ_p sqrt(|u_p|² + ν²).
func (p *TVDenoise) InnerValue(x backend.Vector) (float64, error) {
	if err := checkVec(tvFamily, "InnerValue", "w", x, p.n); err != nil {
		return 0, err
	}
	b := p.b
	b.Copy(p.diff, x)
	b.Axpy(-1, p.y, p.diff)
	fit := b.Dot(p.diff, p.diff)
	b.MulVec(p.u, 1, p.d, x, 0)
	b.RowNorms(p.s, p.u, p.nu2)
	tv := b.Dot(p.s, p.ones)
	return 0.5*fit + p.alpha*tv, b.Err()
}

// InnerGrad sets dst ← x − y + α Dᵀ(u/s).
func (p *TVDenoise) InnerGrad(dst, x backend.Vector) error {
	if err := checkVecs(tvFamily, "InnerGrad", "dst", dst, p.n, "w", x, p.n); err != nil {
		return err
	}
	b := p.b
	p.norms(x)
	b.ScaleRows(p.z, p.r, p.u)
	b.MulVecTrans(dst, p.alpha, p.d, p.z, 0)
	b.Axpy(1, x, dst)
	b.Axpy(-1, p.y, dst)
	return b.Err()
}

// Linearize keeps x and, at x, u = D x, 1/s, u/s, ν²/s³ (1-D) and G.
func (p *TVDenoise) Linearize(x backend.Vector) error {
	if err := checkVec(tvFamily, "Linearize", "w", x, p.n); err != nil {
		return err
	}
	p.b.Copy(p.xLin, x)
	p.linearize()
	if err := p.b.Err(); err != nil {
		return err
	}
	p.lin = true
	return nil
}

// linearize computes the linearization at xLin and the current λ.
func (p *TVDenoise) linearize() {
	b := p.b
	b.MulVec(p.uL, 1, p.d, p.xLin, 0)
	b.RowNorms(p.s, p.uL, p.nu2)
	b.Map(p.rL, backend.Recip, 0, p.s)
	b.ScaleRows(p.vL, p.rL, p.uL)
	// G row 0: α u/s.
	b.Copy(p.z, p.vL)
	b.Scal(p.alpha, p.z)
	b.CopyRange(p.g, 0, p.z, 0, p.m)
	// G row 1: −αν² u/s³; hw ← ν²/s³.
	b.MulElem(p.hw, 1, p.rL, p.rL, 0)
	b.MulElem(p.hw, p.nu2, p.hw, p.rL, 0)
	b.ScaleRows(p.z, p.hw, p.uL)
	b.Scal(-p.alpha, p.z)
	b.CopyRange(p.g, p.m, p.z, 0, p.m)
}

func (p *TVDenoise) linearized(op string) error {
	if !p.lin {
		return fmt.Errorf("problems: tvdenoise: %s: %w", op, ErrNotLinearized)
	}
	return nil
}

// HessVec sets dst ← v + α Dᵀ M D v: in 1-D M_p = ν²/s_p³; in 2-D
// M_p t_p = (t_p − v_p(v_pᵀt_p))/s_p with v_p = u_p/s_p.
func (p *TVDenoise) HessVec(dst, v backend.Vector) error {
	if err := p.linearized("HessVec"); err != nil {
		return err
	}
	if err := checkVecs(tvFamily, "HessVec", "dst", dst, p.n, "v", v, p.n); err != nil {
		return err
	}
	b := p.b
	b.MulVec(p.t, 1, p.d, v, 0)
	if p.twoD {
		b.MulElem(p.z, 1, p.vL, p.t, 0)
		b.RowSums(p.c, 1, p.z, 0)
		b.ScaleRows(p.z, p.c, p.vL)
		b.Axpy(-1, p.z, p.t)
		b.ScaleRows(p.t, p.rL, p.t)
	} else {
		b.MulElem(p.t, 1, p.t, p.hw, 0)
	}
	b.MulVecTrans(dst, p.alpha, p.d, p.t, 0)
	b.Axpy(1, v, dst)
	return b.Err()
}

// HessDiag sets dst ← diag(A) = 1 + α(|D|ᵀ diag(M) + 2 mask ⊙ M_{01}):
// the diagonal entries of M_p, interleaved like D x, are summed over the
// rows of D that touch a pixel (D's entries are ±1), and the off-diagonal
// entry M_p[0][1] = −v_{p0}v_{p1}/s_p (2-D) enters pixel p alone, when
// both of its differences exist (mask).
func (p *TVDenoise) HessDiag(dst backend.Vector) error {
	if err := p.linearized("HessDiag"); err != nil {
		return err
	}
	if err := checkVec(tvFamily, "HessDiag", "dst", dst, p.n); err != nil {
		return err
	}
	b := p.b
	if !p.twoD {
		b.MulVecTrans(dst, p.alpha, p.dAbs, p.hw, 0)
		b.Axpy(1, p.ones, dst)
		return b.Err()
	}
	// t ← r(1 − v_a²) per component.
	b.MulElem(p.z, 1, p.vL, p.vL, 0)
	b.ScaleRows(p.z, p.rL, p.z)
	b.ScaleRows(p.t, p.rL, p.onesK)
	b.Axpy(-1, p.z, p.t)
	b.MulVecTrans(dst, p.alpha, p.dAbs, p.t, 0)
	// c ← 2 v0 v1 r mask = −2 M_{01} mask.
	b.Gemm(p.z, 1, p.vL, backend.NoTrans, p.perm, backend.NoTrans, 0)
	b.MulElem(p.z, 1, p.z, p.vL, 0)
	b.RowSums(p.c, 1, p.z, 0)
	b.MulElem(p.c, 1, p.c, p.rL, 0)
	b.MulElem(p.c, 1, p.c, p.mask, 0)
	b.Axpy(-p.alpha, p.c, dst)
	b.Axpy(1, p.ones, dst)
	return b.Err()
}

// CrossVec sets dst ← Bᵀv = G D v = (α⟨u/s, Dv⟩, −αν²⟨u/s³, Dv⟩).
func (p *TVDenoise) CrossVec(dst, v backend.Vector) error {
	if err := p.linearized("CrossVec"); err != nil {
		return err
	}
	if err := checkVecs(tvFamily, "CrossVec", "dst", dst, 2, "v", v, p.n); err != nil {
		return err
	}
	b := p.b
	b.MulVec(p.t, 1, p.d, v, 0)
	b.Gemm(p.out2, 1, p.g, backend.NoTrans, p.tCol, backend.NoTrans, 0)
	b.Copy(dst, p.out2)
	return b.Err()
}

// CrossApply sets dst ← B u = Dᵀ(Gᵀu) = Dᵀ(α u₀ u/s − αν² u₁ u/s³).
func (p *TVDenoise) CrossApply(dst, u backend.Vector) error {
	if err := p.linearized("CrossApply"); err != nil {
		return err
	}
	if err := checkVecs(tvFamily, "CrossApply", "dst", dst, p.n, "u", u, 2); err != nil {
		return err
	}
	b := p.b
	b.Copy(p.in2, u)
	b.Gemm(p.tCol, 1, p.g, backend.Trans, p.in2, backend.NoTrans, 0)
	b.MulVecTrans(dst, 1, p.d, p.t, 0)
	return b.Err()
}

// CrossNorm returns ‖B(x)‖₂ at x (Exact): the square root of the largest
// eigenvalue of the 2×2 Gram matrix of B's columns b₁ = α Dᵀ(u/s) and
// b₂ = −αν² Dᵀ(u/s³), formed on the backend (three dot products). The
// linearization is left alone.
func (p *TVDenoise) CrossNorm(x backend.Vector) (bilevel.Constant, error) {
	if err := checkVec(tvFamily, "CrossNorm", "w", x, p.n); err != nil {
		return bilevel.Constant{}, err
	}
	b := p.b
	p.norms(x)
	b.ScaleRows(p.z, p.r, p.u)
	b.MulVecTrans(p.b1, p.alpha, p.d, p.z, 0)
	b.MulElem(p.c, 1, p.r, p.r, 0)
	b.MulElem(p.c, 1, p.c, p.r, 0)
	b.ScaleRows(p.z, p.c, p.u)
	b.MulVecTrans(p.b2, -p.alpha*p.nu2, p.d, p.z, 0)
	g11, g12, g22 := b.Dot(p.b1, p.b1), b.Dot(p.b1, p.b2), b.Dot(p.b2, p.b2)
	if err := b.Err(); err != nil {
		return bilevel.Constant{}, err
	}
	hi := 0.5*(g11+g22) + math.Hypot(0.5*(g11-g22), g12)
	if !(hi >= 0) || math.IsInf(hi, 0) {
		return bilevel.Constant{}, fmt.Errorf("%w: tvdenoise: CrossNorm: ‖B‖² = %v", ErrNumerical, hi)
	}
	return bilevel.Constant{Value: math.Sqrt(hi), Kind: bilevel.Exact}, nil
}

// OuterValue returns E(x) = ½‖x − x_true‖².
func (p *TVDenoise) OuterValue(x backend.Vector) (float64, error) {
	if err := checkVec(tvFamily, "OuterValue", "w", x, p.n); err != nil {
		return 0, err
	}
	b := p.b
	b.Copy(p.diff, x)
	b.Axpy(-1, p.xt, p.diff)
	v := 0.5 * b.Dot(p.diff, p.diff)
	return v, b.Err()
}

// OuterGrad sets dst ← x − x_true.
func (p *TVDenoise) OuterGrad(dst, x backend.Vector) error {
	if err := checkVecs(tvFamily, "OuterGrad", "dst", dst, p.n, "w", x, p.n); err != nil {
		return err
	}
	b := p.b
	b.Copy(dst, x)
	b.Axpy(-1, p.xt, dst)
	return b.Err()
}

// OuterHyperGrad sets dst ← 0 (E does not depend on λ).
func (p *TVDenoise) OuterHyperGrad(dst, x backend.Vector) error {
	if err := checkVecs(tvFamily, "OuterHyperGrad", "dst", dst, 2, "w", x, p.n); err != nil {
		return err
	}
	p.b.Fill(dst, 0)
	return p.b.Err()
}

// Constants returns the proven constants of TVDenoise's doc comment at the
// current λ: μ = 1 (Exact), L = 1 + α‖D‖²/ν, L_A = α c ‖D‖³/ν² and
// L_B = √2 α‖D‖²/ν (Bound), L_f = 1 and L_Eλ = 0 (Exact).
func (p *TVDenoise) Constants() (bilevel.Constants, error) {
	c1 := tvC1
	if p.twoD {
		c1 = tvC2
	}
	dn := math.Sqrt(p.dNorm2)
	bound := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Bound} }
	exact := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Exact} }
	c := bilevel.Constants{
		Mu:  exact(1),
		L:   bound(1 + p.alpha*p.dNorm2/p.nu),
		Lf:  exact(1),
		LA:  bound(p.alpha * c1 * p.dNorm2 * dn / p.nu2),
		LB:  bound(math.Sqrt2 * p.alpha * p.dNorm2 / p.nu),
		LEl: exact(0),
	}
	return c, checkConstants(tvFamily, c)
}
