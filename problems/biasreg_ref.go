package problems

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// biasRegDenseBytes estimates what BiasReg's Reference and ExactConstants
// allocate on the host. Both work one task at a time (the previous task's
// matrices are garbage): ExactConstants the eigendecompositions of the
// d×d Gram matrices of X_t and X_val,t (4d² values each: the product, the
// symmetric matrix, the scaled copy and the solver's copy, as eigBytes),
// Reference a Gram matrix and its Cholesky factor (3d²). Then the vectors:
// w*, q and ∇_w g of length T·d (4 for slack), and 16 of each of n, m and
// d.
func biasRegDenseBytes(r *data.BiasReg) float64 {
	if r == nil || len(r.X) == 0 || r.X[0] == nil {
		return 0
	}
	tasks, n, m, d := r.Dims()
	df := float64(d)
	perTask := 8 * 4 * df * df
	return perTask + 8*(4*float64(tasks)*df+16*(float64(n)+float64(m)+df))
}

// DenseBytes estimates the most bytes Reference or ExactConstants allocate:
// a few d×d matrices of one task at a time and vectors of length T·d.
func (p *BiasReg) DenseBytes() int64 { return saturate(biasRegDenseBytes(p.host)) }

// biasRegCheap reports whether the per-task Gram matrices and their
// eigendecompositions (T(n+m)d² + 2Td³ flops) are cheap enough for
// Constants to compute the exact constants.
func biasRegCheap(tasks, n, m, d int) bool {
	df := float64(d)
	return d <= DenseLimit && float64(tasks)*(float64(n)+float64(m)+2*df)*df*df <= 4e9
}

// Constants returns the constants of the problem, which depend on the data
// and ρ only (not on h, nor on w): exact (ExactConstants) when the dense
// per-task eigendecompositions are cheap and fit the dense budget, else the
// proven bounds of BoundConstants. L_A = L_B = 0 (A and B are constant),
// L_Eλ = 0 (E does not depend on h), all Exact. They are computed once.
func (p *BiasReg) Constants() (bilevel.Constants, error) {
	if p.consts != nil {
		return *p.consts, nil
	}
	var (
		c   bilevel.Constants
		err error
	)
	if biasRegCheap(p.tasks, p.n, p.m, p.d) && p.fits("", biasRegDenseBytes(p.host)) == nil {
		c, err = p.ExactConstants()
	} else {
		c = p.BoundConstants()
	}
	if err == nil {
		err = checkConstants(brName, c)
	}
	if err != nil {
		return c, err
	}
	p.consts = &c
	return c, nil
}

// ExactConstants computes, from dense eigendecompositions of the d×d Gram
// matrices of every task (at any size; ErrTooLarge beyond the dense
// budget),
//
//	μ   = min_t λ_min(A_t) = ρ + min_t λ_min(X_tᵀX_t)/n,
//	L   = max_t λ_max(A_t) = ρ + max_t λ_max(X_tᵀX_t)/n,
//	L_f = max_t λ_max(X_val,tᵀX_val,t)/(mT),
//
// all Exact: A and ∇²E = blockdiag(X_val,tᵀX_val,t/(mT)) are block diagonal,
// so their extreme eigenvalues are the extremes over the blocks. A computed
// λ_min of a Gram matrix below 0 (rounding of a singular one) is taken as 0.
// L_A = L_B = L_Eλ = 0 (Exact).
func (p *BiasReg) ExactConstants() (bilevel.Constants, error) {
	if err := p.fits("biasreg: exact constants", biasRegDenseBytes(p.host)); err != nil {
		return bilevel.Constants{}, err
	}
	lo, hi := math.Inf(1), 0.0
	var lf float64
	for t := range p.tasks {
		l, h, err := gramExtremes(p.host.X[t], nil, nil)
		if err != nil {
			return bilevel.Constants{}, err
		}
		lo, hi = math.Min(lo, math.Max(l, 0)), math.Max(hi, h)
		_, hv, err := gramExtremes(p.host.XVal[t], nil, nil)
		if err != nil {
			return bilevel.Constants{}, err
		}
		lf = math.Max(lf, hv)
	}
	exact := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Exact} }
	c := bilevel.Constants{
		Mu:  exact(p.rho + lo/float64(p.n)),
		L:   exact(p.rho + hi/float64(p.n)),
		Lf:  exact(lf / (float64(p.m) * float64(p.tasks))),
		LA:  exact(0),
		LB:  exact(0),
		LEl: exact(0), // E does not depend on h
	}
	return c, checkConstants(brName, c)
}

// BoundConstants returns proven bounds (Kind Bound) from one pass over the
// host data, for problems too large for ExactConstants:
//
//	μ   ≥ ρ                            (X_tᵀX_t ⪰ 0),
//	L   ≤ ρ + max_t ‖X_t‖_F²/n         (λ_max(XᵀX) = ‖X‖₂² ≤ ‖X‖_F²),
//	L_f ≤ max_t ‖X_val,t‖_F²/(mT),
//
// and L_A = L_B = L_Eλ = 0 (Exact).
func (p *BiasReg) BoundConstants() bilevel.Constants {
	frob := func(xs []*data.Matrix) float64 {
		var best float64
		for _, x := range xs {
			var s float64
			for _, v := range x.Data {
				s += v * v
			}
			best = math.Max(best, s)
		}
		return best
	}
	bound := func(v float64) bilevel.Constant { return bilevel.Constant{Value: v, Kind: bilevel.Bound} }
	exact := bilevel.Constant{Value: 0, Kind: bilevel.Exact}
	return bilevel.Constants{
		Mu:  bound(p.rho),
		L:   bound(p.rho + frob(p.host.X)/float64(p.n)),
		Lf:  bound(frob(p.host.XVal) / (float64(p.m) * float64(p.tasks))),
		LA:  exact,
		LB:  exact,
		LEl: exact,
	}
}

// Reference solves the problem exactly, task by task, by dense Cholesky
// factorisations of A_t = X_tᵀX_t/n + ρI:
//
//	w*_t = A_t⁻¹(X_tᵀy_t/n + ρh),   q_t = A_t⁻¹ X_val,tᵀ(X_val,t w*_t − y_val,t)/(mT),
//	∇f   = ρ Σ_t q_t,
//
// and reports ‖∇_w g(w*)‖ over all tasks. A factorisation that fails (A_t
// not positive definite to working precision, which ρ > 0 rules out short
// of overflow) or panics is an error wrapping ErrNumerical, as is a
// reference that comes out non-finite; beyond the dense budget the error
// wraps ErrTooLarge, before anything is allocated.
func (p *BiasReg) Reference() (*bilevel.Reference, error) {
	if err := p.fits("biasreg: reference", biasRegDenseBytes(p.host)); err != nil {
		return nil, err
	}
	r := p.host
	n, scaleE := float64(p.n), 1/(float64(p.m)*float64(p.tasks))
	w := make([]float64, 0, p.dim)
	q := make([]float64, 0, p.dim)
	grad := make([]float64, 0, p.dim)
	hg := make([]float64, p.d)
	for t := range p.tasks {
		var a *mat.SymDense
		if err := guard("biasreg Gram matrix", func() error { a = gram(r.X[t], nil, 1/n); return nil }); err != nil {
			return nil, err
		}
		for j := range p.d {
			a.SetSym(j, j, a.At(j, j)+p.rho)
		}
		chol, ok, err := cholesky(a)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: biasreg: A_%d is not positive definite to working precision", ErrNumerical, t)
		}
		rhs := matTVec(r.X[t], r.Y[t])
		for j := range rhs {
			rhs[j] = rhs[j]/n + p.rho*p.lam[j]
		}
		wt, err := cholSolve(chol, rhs)
		if err != nil {
			return nil, err
		}
		qt, err := cholSolve(chol, squaredGrad(r.XVal[t], r.YVal[t], wt, scaleE))
		if err != nil {
			return nil, err
		}
		gt := squaredGrad(r.X[t], r.Y[t], wt, 1/n)
		for j := range gt {
			gt[j] += p.rho * (wt[j] - p.lam[j])
			hg[j] += p.rho * qt[j]
		}
		w, q, grad = append(w, wt...), append(q, qt...), append(grad, gt...)
	}
	return checkReference(brName, &bilevel.Reference{
		Hypergradient: hg,
		W:             w,
		V:             q,
		InnerGradNorm: norm2(grad),
		Method:        "per-task dense Cholesky of A_t = X_tᵀX_t/n + ρI",
	})
}
