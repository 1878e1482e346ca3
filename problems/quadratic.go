package problems

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// Quadratic is the least-squares bilevel problem of Li, Gu & Huang (2022),
// used by Ehrhardt & Roberts (2024) §4.1 (spec "quadratic"; the file's A is
// the outer data matrix, not the Hessian):
//
//	g(w,θ) = ‖Cθ + Dw − e‖²,   E(w) = ‖Aw − b‖²,
//	A_g = 2DᵀD,   B = 2DᵀC,   ∇_wE = 2Aᵀ(Aw − b),
//	w* = D⁺(e − Cθ),   ∇f = −Bᵀ A_g⁻¹ ∇_wE(w*).
//
// Constants: μ = 2σ_min(D)², L = 2σ_max(D)², L_f = 2σ_max(A)², L_A = L_B = 0.
// D must have full column rank.
//
// Reference (a QR of the m2×d D) and ExactConstants (eigendecompositions of
// d×d Gram matrices) check the estimate DenseBytes against the dense
// budget (SetMaxDenseBytes) first and fail with ErrTooLarge beyond it.
type Quadratic struct {
	denseBudget
	b       backend.Backend
	g       backend.GLM // b's fused GLM kernels
	host    *data.Quadratic
	d, h    int
	a, c, m backend.Matrix // outer A, C, D
	bv      backend.Vector // b
	eff     backend.Vector // e − Cθ
	tmpM    backend.Vector // len rows(D)
	theta   []float64
	effH    []float64
	lin     bool
	consts  *bilevel.Constants
	bnorm   *bilevel.Constant
}

var (
	_ bilevel.Problem      = (*Quadratic)(nil)
	_ bilevel.Referencer   = (*Quadratic)(nil)
	_ bilevel.HessDiager   = (*Quadratic)(nil)
	_ bilevel.CrossApplier = (*Quadratic)(nil)
	_ DenseBudgeter        = (*Quadratic)(nil)
)

// DenseBytes estimates the most bytes Reference or ExactConstants allocate
// (see the package function DenseBytes).
func (p *Quadratic) DenseBytes() int64 { return saturate(quadraticDenseBytes(p.host)) }

// NewQuadratic uploads quadratic data to the backend.
func NewQuadratic(b backend.Backend, q *data.Quadratic) (*Quadratic, error) {
	if b == nil {
		return nil, errors.New("problems: quadratic: nil backend")
	}
	if q == nil {
		return nil, errors.New("problems: quadratic: nil data")
	}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("problems: quadratic: %w", err)
	}
	g, err := fusedGLM(b)
	if err != nil {
		return nil, err
	}
	p := &Quadratic{b: b, g: g, host: q, d: q.D.Cols, h: q.C.Cols}
	err = p.upload()
	if err == nil {
		p.theta = make([]float64, p.h)
		p.effH = make([]float64, q.D.Rows)
		err = p.SetHyper(q.Theta)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("problems: quadratic: %w", err)
	}
	return p, nil
}

func (p *Quadratic) upload() error {
	var err error
	q := p.host
	if p.a, err = uploadMatrix(p.b, q.A); err != nil {
		return err
	}
	if p.c, err = uploadMatrix(p.b, q.C); err != nil {
		return err
	}
	if p.m, err = uploadMatrix(p.b, q.D); err != nil {
		return err
	}
	if p.bv, err = p.b.NewVector(len(q.B)); err != nil {
		return err
	}
	p.b.Upload(p.bv, q.B)
	if p.eff, err = p.b.NewVector(q.D.Rows); err != nil {
		return err
	}
	if p.tmpM, err = p.b.NewVector(q.D.Rows); err != nil {
		return err
	}
	return p.b.Err()
}

// Close frees the problem's device memory.
func (p *Quadratic) Close() error {
	for _, v := range []backend.Vector{p.bv, p.eff, p.tmpM} {
		if v != nil {
			p.b.Free(v)
		}
	}
	for _, m := range []backend.Matrix{p.a, p.c, p.m} {
		if m != nil {
			p.b.FreeMatrix(m)
		}
	}
	return nil
}

func (p *Quadratic) Backend() backend.Backend { return p.b }
func (p *Quadratic) InnerDim() int            { return p.d }
func (p *Quadratic) HyperDim() int            { return p.h }
func (p *Quadratic) Hyper(dst []float64)      { copy(dst, p.theta) }

// Data returns the host data the problem was built from.
func (p *Quadratic) Data() *data.Quadratic { return p.host }

// SetHyper moves the problem to θ.
func (p *Quadratic) SetHyper(theta []float64) error {
	if len(theta) != p.h {
		return fmt.Errorf("problems: quadratic: θ has length %d, want %d", len(theta), p.h)
	}
	for j, t := range theta {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("problems: quadratic: θ[%d] = %v", j, t)
		}
	}
	copy(p.theta, theta)
	ct := matVec(p.host.C, theta)
	for i := range p.effH {
		p.effH[i] = p.host.E[i] - ct[i]
	}
	p.b.Upload(p.eff, p.effH)
	return p.b.Err()
}

// InnerValue is ‖Dw − (e − Cθ)‖² = 2·Σ ½(d_iᵀw − eff_i)².
func (p *Quadratic) InnerValue(w backend.Vector) (float64, error) {
	if err := checkVec("quadratic", "InnerValue", "w", w, p.d); err != nil {
		return 0, err
	}
	v := p.g.GLMGrad(nil, 0, p.m, w, p.eff, backend.Squared, 0, nil)
	return 2 * v, p.b.Err()
}

// InnerGrad is 2Dᵀ(Dw + Cθ − e).
func (p *Quadratic) InnerGrad(dst, w backend.Vector) error {
	if err := checkVecs("quadratic", "InnerGrad", "dst", dst, p.d, "w", w, p.d); err != nil {
		return err
	}
	p.g.GLMGradNoLoss(dst, 2, p.m, w, p.eff, backend.Squared, 0, nil)
	return p.b.Err()
}

// Linearize records that second-order products may be taken; A_g and B do
// not depend on w.
func (p *Quadratic) Linearize(w backend.Vector) error {
	if err := checkVec("quadratic", "Linearize", "w", w, p.d); err != nil {
		return err
	}
	p.lin = true
	return nil
}

// HessVec is 2Dᵀ(Dv).
func (p *Quadratic) HessVec(dst, v backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVecs("quadratic", "HessVec", "dst", dst, p.d, "v", v, p.d); err != nil {
		return err
	}
	p.g.GramVec(dst, 2, p.m, nil, v, 0)
	return p.b.Err()
}

// HessDiag sets dst ← diag(A_g) = 2·diag(DᵀD), the squared column norms of
// D doubled, in one pass over D (backend GramDiag).
func (p *Quadratic) HessDiag(dst backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVec("quadratic", "HessDiag", "dst", dst, p.d); err != nil {
		return err
	}
	p.g.GramDiag(dst, 2, p.m, nil, 0)
	return p.b.Err()
}

// CrossVec is Bᵀv = 2Cᵀ(Dv).
func (p *Quadratic) CrossVec(dst, v backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVecs("quadratic", "CrossVec", "dst", dst, p.h, "v", v, p.d); err != nil {
		return err
	}
	p.b.MulVec(p.tmpM, 1, p.m, v, 0)
	p.b.MulVecTrans(dst, 2, p.c, p.tmpM, 0)
	return p.b.Err()
}

// CrossApply sets dst ← B·u = 2Dᵀ(C u) (bilevel.CrossApplier; len u = h,
// len dst = d), the derivative in θ of ∇_w g = 2Dᵀ(Dw + Cθ − e) in
// direction u, and the adjoint of CrossVec: ⟨B u, v⟩ = ⟨u, Bᵀv⟩. B does not
// depend on w or θ. It fails with ErrNotLinearized before any Linearize, and
// with an error that leaves the backend's error state alone when a length is
// wrong. It allocates nothing (C u goes to the rows(D) scratch vector).
func (p *Quadratic) CrossApply(dst, u backend.Vector) error {
	if !p.lin {
		return ErrNotLinearized
	}
	if err := checkVecs("quadratic", "CrossApply", "dst", dst, p.d, "u", u, p.h); err != nil {
		return err
	}
	p.b.MulVec(p.tmpM, 1, p.c, u, 0)
	p.b.MulVecTrans(dst, 2, p.m, p.tmpM, 0)
	return p.b.Err()
}

// OuterValue is ‖Aw − b‖².
func (p *Quadratic) OuterValue(w backend.Vector) (float64, error) {
	if err := checkVec("quadratic", "OuterValue", "w", w, p.d); err != nil {
		return 0, err
	}
	v := p.g.GLMGrad(nil, 0, p.a, w, p.bv, backend.Squared, 0, nil)
	return 2 * v, p.b.Err()
}

// OuterGrad is 2Aᵀ(Aw − b).
func (p *Quadratic) OuterGrad(dst, w backend.Vector) error {
	if err := checkVecs("quadratic", "OuterGrad", "dst", dst, p.d, "w", w, p.d); err != nil {
		return err
	}
	p.g.GLMGradNoLoss(dst, 2, p.a, w, p.bv, backend.Squared, 0, nil)
	return p.b.Err()
}

// OuterHyperGrad is zero: E does not depend on θ.
func (p *Quadratic) OuterHyperGrad(dst, w backend.Vector) error {
	if err := checkVecs("quadratic", "OuterHyperGrad", "dst", dst, p.h, "w", w, p.d); err != nil {
		return err
	}
	p.b.Fill(dst, 0)
	return p.b.Err()
}

// Constants returns μ, L, L_f exactly (dense) when cheap, else Lanczos
// estimates; L_A = L_B = 0.
func (p *Quadratic) Constants() (bilevel.Constants, error) {
	if p.consts != nil {
		return *p.consts, nil
	}
	var (
		c   bilevel.Constants
		err error
	)
	q := p.host
	if denseCheap(q.D.Rows, p.d) && denseCheap(q.A.Rows, p.d) && p.fits("", quadraticDenseBytes(q)) == nil {
		c, err = p.ExactConstants()
	} else {
		c, err = p.estimatedConstants()
	}
	if err != nil {
		return c, err
	}
	if err := checkConstants("quadratic", c); err != nil {
		return c, err
	}
	p.consts = &c
	return c, nil
}

// ExactConstants computes μ, L and L_f from dense eigendecompositions of
// DᵀD and AᵀA; matrices beyond the dense budget are ErrTooLarge, before
// anything is allocated.
func (p *Quadratic) ExactConstants() (bilevel.Constants, error) {
	if err := p.fits("quadratic: exact constants", quadraticDenseBytes(p.host)); err != nil {
		return bilevel.Constants{}, err
	}
	lo, hi, err := gramExtremes(p.host.D, nil, nil)
	if err != nil {
		return bilevel.Constants{}, err
	}
	if !(lo > float64(p.d)*0x1p-52*hi) { // below the rounding level of the eigensolver
		return bilevel.Constants{}, fmt.Errorf("problems: quadratic: D does not have full column rank (σ_min(D)²/σ_max(D)² = %.3g)", lo/hi)
	}
	_, lf, err := gramExtremes(p.host.A, nil, nil)
	if err != nil {
		return bilevel.Constants{}, err
	}
	exact := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Exact} }
	c := bilevel.Constants{Mu: exact(2 * lo), L: exact(2 * hi), Lf: exact(2 * lf), LA: exact(0), LB: exact(0), LEl: exact(0)}
	return c, checkConstants("quadratic", c)
}

func (p *Quadratic) estimatedConstants() (bilevel.Constants, error) {
	s, err := lanczos(p.b, p.d, func(dst, v backend.Vector) error {
		p.g.GramVec(dst, 2, p.m, nil, v, 0)
		return p.b.Err()
	})
	if err != nil {
		return bilevel.Constants{}, err
	}
	sa, err := lanczos(p.b, p.d, func(dst, v backend.Vector) error {
		p.g.GramVec(dst, 2, p.a, nil, v, 0)
		return p.b.Err()
	})
	if err != nil {
		return bilevel.Constants{}, err
	}
	if !(s.Min > float64(p.d)*0x1p-52*s.Max) {
		return bilevel.Constants{}, fmt.Errorf("problems: quadratic: D appears rank deficient (σ_min(D)²/σ_max(D)² ≈ %.3g)", s.Min/s.Max)
	}
	mu := s.Min - s.MinResidual
	if !(mu > 0) {
		mu = s.Min
	}
	est := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Estimate} }
	exact := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Exact} }
	return bilevel.Constants{Mu: est(mu), L: est(s.Max + s.MaxResidual), Lf: est(sa.Max + sa.MaxResidual), LA: exact(0), LB: exact(0), LEl: exact(0)}, nil
}

// Reference computes w* = D⁺(e − Cθ) and q = (2DᵀD)⁻¹∇_wE(w*) through a QR
// factorisation D = QR (so DᵀD = RᵀR, without squaring the condition number
// in the solve), and ∇f = −2CᵀD q.
//
// A failure or panic of the factorisation is an error wrapping
// ErrNumerical, as is a reference that comes out non-finite; matrices
// beyond the dense budget are ErrTooLarge, before anything is allocated.
func (p *Quadratic) Reference() (ref *bilevel.Reference, err error) {
	if err := p.fits("quadratic: reference", quadraticDenseBytes(p.host)); err != nil {
		return nil, err
	}
	err = guard("quadratic reference", func() error {
		var e error
		ref, e = p.reference()
		return e
	})
	if err != nil {
		return nil, err
	}
	return checkReference("quadratic", ref)
}

func (p *Quadratic) reference() (*bilevel.Reference, error) {
	q := p.host
	dm := hostDense(q.D)
	if dm == nil {
		return nil, errors.New("problems: quadratic: empty D")
	}
	rows, d := dm.Dims()
	if rows < d {
		return nil, fmt.Errorf("problems: quadratic: D is %d×%d, cannot have full column rank", rows, d)
	}
	var qr mat.QR
	qr.Factorize(dm)
	var w mat.Dense
	if err := qr.SolveTo(&w, false, mat.NewDense(rows, 1, append([]float64(nil), p.effH...))); err != nil {
		return nil, fmt.Errorf("problems: quadratic: D⁺(e − Cθ): %w", err)
	}
	ws := mat.Col(nil, 0, &w)
	ge := squaredGrad(q.A, q.B, ws, 2)
	var r mat.Dense
	qr.RTo(&r)
	// Solve RᵀR q = ge/2: Rᵀ z = ge/2, then R q = z.
	sol := make([]float64, d)
	for j := range ge {
		sol[j] = ge[j] / 2
	}
	raw := r.RawMatrix()
	rb := blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: d, Stride: raw.Stride, Data: raw.Data}
	for j := 0; j < d; j++ {
		if rb.Data[j*rb.Stride+j] == 0 {
			return nil, errors.New("problems: quadratic: D does not have full column rank")
		}
	}
	vec := blas64.Vector{N: d, Inc: 1, Data: sol}
	blas64.Trsv(blas.Trans, rb, vec)
	blas64.Trsv(blas.NoTrans, rb, vec)
	dq := matVec(q.D, sol)
	hg := matTVec(q.C, dq)
	for j := range hg {
		hg[j] *= -2
	}
	gi := squaredGrad(q.D, p.effH, ws, 2)
	return &bilevel.Reference{
		Hypergradient: hg,
		W:             ws,
		V:             sol,
		InnerGradNorm: norm2(gi),
		Method:        "QR of D: w* = D⁺(e − Cθ), q = (RᵀR)⁻¹∇_wE/2",
	}, nil
}

// CrossNorm returns ‖B‖₂ = 2‖DᵀC‖₂, which does not depend on w or θ: exact
// by a dense SVD when cheap, else a Lanczos estimate on BᵀB. w is checked
// like the other oracles' operands all the same.
func (p *Quadratic) CrossNorm(w backend.Vector) (bilevel.Constant, error) {
	if err := checkVec("quadratic", "CrossNorm", "w", w, p.d); err != nil {
		return bilevel.Constant{}, err
	}
	if p.bnorm != nil {
		return *p.bnorm, nil
	}
	q := p.host
	var c bilevel.Constant
	if denseCheap(q.D.Rows, max(p.d, p.h)) {
		err := guard("SVD of DᵀC", func() error {
			dc := mat.NewDense(p.d, p.h, nil)
			dc.Mul(hostDense(q.D).T(), hostDense(q.C))
			var svd mat.SVD
			if !svd.Factorize(dc, mat.SVDNone) {
				return fmt.Errorf("%w: quadratic: SVD of DᵀC failed", ErrNumerical)
			}
			c = bilevel.Constant{Value: 2 * svd.Values(nil)[0], Kind: bilevel.Exact}
			return nil
		})
		if err != nil {
			return c, err
		}
	} else {
		// BᵀB v = 4 Cᵀ D Dᵀ C v on R^h.
		u, err := p.b.NewVector(p.d)
		if err != nil {
			return c, err
		}
		defer p.b.Free(u)
		s, err := lanczos(p.b, p.h, func(dst, v backend.Vector) error {
			p.b.MulVec(p.tmpM, 1, p.c, v, 0)        // C v
			p.b.MulVecTrans(u, 1, p.m, p.tmpM, 0)   // Dᵀ C v
			p.b.MulVec(p.tmpM, 1, p.m, u, 0)        // D Dᵀ C v
			p.b.MulVecTrans(dst, 4, p.c, p.tmpM, 0) // 4 Cᵀ D Dᵀ C v
			return p.b.Err()
		})
		if err != nil {
			return c, err
		}
		c = bilevel.Constant{Value: math.Sqrt(s.Max + s.MaxResidual), Kind: bilevel.Estimate}
	}
	p.bnorm = &c
	return c, nil
}
