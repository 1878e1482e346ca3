package problems

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// Limits of the host fixed-point solve of Equilibrium.Reference, per row.
const (
	eqRefMaxIter = 100000 // Φ iterations at most
	eqRefStall   = 20     // Φ iterations without a new least ‖Δs‖ that end them
	eqRefNewton  = 50     // Newton steps at most
	eqRefHalving = 30     // step halvings of one damped Newton step at most
	// eqRefTol is the largest ‖Φ(s) − s‖₂ of a row accepted as a fixed
	// point: far above the rounding level (|s_j| < 1), far below any
	// estimator's accuracy.
	eqRefTol = 1e-12
)

// eqHost is the equilibrium problem at one λ on the host (float64 slices,
// row-major), for the reference and the tests.
type eqHost struct {
	n, p, k, c          int
	x                   *data.Matrix
	y                   []int
	a, bm, bias, wo, bo []float64
}

// hostAt returns the host problem at λ (len h; the slices alias lambda).
func (p *Equilibrium) hostAt(lambda []float64) *eqHost {
	return &eqHost{
		n: p.n, p: p.p, k: p.k, c: p.c, x: p.host.X, y: p.host.Y,
		a: lambda[:p.offB], bm: lambda[p.offB:p.offBias], bias: lambda[p.offBias:p.offWo],
		wo: lambda[p.offWo:p.offBo], bo: lambda[p.offBo:],
	}
}

// xTimes returns X·M for M p×cols (N×cols).
func (h *eqHost) xTimes(m []float64, cols int) []float64 {
	out := make([]float64, h.n*cols)
	for i := 0; i < h.n; i++ {
		row := out[i*cols : (i+1)*cols]
		h.eachX(i, func(j int, v float64) {
			for l, mv := range m[j*cols : (j+1)*cols] {
				row[l] += v * mv
			}
		})
	}
	return out
}

// xTransTimes returns Xᵀ·U for U N×cols (p×cols).
func (h *eqHost) xTransTimes(u []float64, cols int) []float64 {
	out := make([]float64, h.p*cols)
	for i := 0; i < h.n; i++ {
		urow := u[i*cols : (i+1)*cols]
		h.eachX(i, func(j int, v float64) {
			for l, uv := range urow {
				out[j*cols+l] += v * uv
			}
		})
	}
	return out
}

// eachX calls f on the stored entries of row i of X.
func (h *eqHost) eachX(i int, f func(j int, v float64)) {
	x := h.x
	if x.IsCSR() {
		for t := x.Indptr[i]; t < x.Indptr[i+1]; t++ {
			f(x.Indices[t], x.Data[t])
		}
		return
	}
	for j, v := range x.Data[i*x.Cols : (i+1)*x.Cols] {
		f(j, v)
	}
}

// preact returns X B + 1 biasᵀ (N×k).
func (h *eqHost) preact() []float64 {
	c0 := h.xTimes(h.bm, h.k)
	for i := 0; i < h.n; i++ {
		for j, b := range h.bias {
			c0[i*h.k+j] += b
		}
	}
	return c0
}

// zRow sets z ← s A + c (one row).
func (h *eqHost) zRow(z, s, c []float64) {
	copy(z, c)
	for l, sl := range s {
		for j, a := range h.a[l*h.k : (l+1)*h.k] {
			z[j] += sl * a
		}
	}
}

// mapRow sets dst ← tanh(s A + c) and returns ‖dst − s‖₂.
func (h *eqHost) mapRow(dst, s, c []float64) float64 {
	h.zRow(dst, s, c)
	var r float64
	for j := range dst {
		dst[j] = math.Tanh(dst[j])
		r = math.Hypot(r, dst[j]-s[j])
	}
	return r
}

// derivRow sets dp ← 1 − tanh(s A + c)², evaluated as backend.TanhDeriv
// does.
func (h *eqHost) derivRow(dp, s, c []float64) {
	h.zRow(dp, s, c)
	for j, z := range dp {
		e := math.Exp(-2 * math.Abs(z))
		dp[j] = 4 * e / ((1 + e) * (1 + e))
	}
}

// rowSystem returns M = I − A diag(dp): Jᵀ = A diag(dp) and J = diag(dp) Aᵀ
// are the transposed Jacobian and the Jacobian of s ↦ tanh(s A + c) (a row
// s as a column vector), so (I − Jᵀ) = M and (I − J) = Mᵀ.
func (h *eqHost) rowSystem(dp []float64) *mat.Dense {
	m := mat.NewDense(h.k, h.k, nil)
	for l := 0; l < h.k; l++ {
		for j := 0; j < h.k; j++ {
			v := -h.a[l*h.k+j] * dp[j]
			if l == j {
				v++
			}
			m.Set(l, j, v)
		}
	}
	return m
}

// fixedPoint solves S = tanh(S A + X B + 1 biasᵀ) row by row: Φ iterations
// from s = 0 until ‖Δs‖ has not reached a new least value for eqRefStall
// iterations (for a contraction, once it stops decreasing at the rounding
// level), then damped Newton steps on F(s) = s − Φ(s), (I − J)δ = Φ(s) − s,
// while they reduce ‖F‖. It returns S, ‖Φ(S) − S‖_F, and an error if some
// row's residual stays above eqRefTol.
func (h *eqHost) fixedPoint() ([]float64, float64, error) {
	k := h.k
	c0 := h.preact()
	S := make([]float64, h.n*k)
	s, next, best, trial, dp, rhs := make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k)
	var lu mat.LU
	var delta mat.VecDense
	var total float64
	for i := 0; i < h.n; i++ {
		c := c0[i*k : (i+1)*k]
		clear(s)
		bestRes, stall := math.Inf(1), 0
		for it := 0; it < eqRefMaxIter && stall < eqRefStall; it++ {
			r := h.mapRow(next, s, c) // r = ‖Φ(s) − s‖
			if r < bestRes {
				bestRes, stall = r, 0
				copy(best, s)
			} else {
				stall++
			}
			if r == 0 {
				break
			}
			s, next = next, s
		}
		copy(s, best)
		res := bestRes
		for it := 0; it < eqRefNewton && res > 0; it++ {
			h.mapRow(next, s, c)
			for j := range rhs {
				rhs[j] = next[j] - s[j]
			}
			h.derivRow(dp, s, c)
			lu.Factorize(h.rowSystem(dp))
			if err := lu.SolveVecTo(&delta, true, mat.NewVecDense(k, rhs)); err != nil {
				if _, ok := err.(mat.Condition); !ok {
					break
				}
			}
			improved := false
			for t, half := 1.0, 0; half <= eqRefHalving; t, half = t/2, half+1 {
				for j := range trial {
					trial[j] = s[j] + t*delta.AtVec(j)
				}
				if r := h.mapRow(next, trial, c); r < res {
					res, improved = r, true
					copy(s, trial)
					break
				}
			}
			if !improved {
				break
			}
		}
		if !(res <= eqRefTol) {
			return nil, 0, fmt.Errorf("problems: equilibrium: reference: no fixed point found for row %d (‖Φ(s) − s‖ = %.3g after iterations and Newton steps; ‖A‖₂ ≥ 1?)", i, res)
		}
		copy(S[i*k:(i+1)*k], s)
		total = math.Hypot(total, res)
	}
	return S, total, nil
}

// outer returns E(S, λ), ∇_S E = (P − Y) Woᵀ/N, ∇_Wo E = Sᵀ(P − Y)/N and
// ∇_bo E = colsum(P − Y)/N.
func (h *eqHost) outer(S []float64) (e float64, gS, gWo, gBo []float64) {
	k, c := h.k, h.c
	gS, gWo, gBo = make([]float64, h.n*k), make([]float64, k*c), make([]float64, c)
	inv := 1 / float64(h.n)
	z := make([]float64, c)
	for i := 0; i < h.n; i++ {
		s := S[i*k : (i+1)*k]
		copy(z, h.bo)
		for l, sl := range s {
			for j, w := range h.wo[l*c : (l+1)*c] {
				z[j] += sl * w
			}
		}
		m := math.Inf(-1)
		for _, v := range z {
			m = math.Max(m, v)
		}
		var sum float64
		for _, v := range z {
			sum += math.Exp(v - m)
		}
		lse := m + math.Log(sum)
		e += lse - z[h.y[i]]
		for j := range z { // z ← P − Y
			z[j] = math.Exp(z[j] - lse)
		}
		z[h.y[i]]--
		for l := 0; l < k; l++ {
			var g float64
			for j, w := range h.wo[l*c : (l+1)*c] {
				g += z[j] * w
				gWo[l*c+j] += s[l] * z[j] * inv
			}
			gS[i*k+l] = g * inv
		}
		for j, v := range z {
			gBo[j] += v * inv
		}
	}
	return e * inv, gS, gWo, gBo
}

// Reference computes, at the current λ on the host: the fixed point S* to
// machine precision (rows are independent; Φ iterations, then Newton steps
// per row), v from (I − Jᵀ) v = ∇_S E(S*) solved per row by a dense LU of the
// k×k block I − A diag(D'_i), and
//
//	∇f = ∇_λE + Kᵀv = (Sᵀ(V⊙D'), Xᵀ(V⊙D'), colsum(V⊙D'), Sᵀ(P − Y)/N, colsum(P − Y)/N).
//
// InnerGradNorm is ‖Φ(S*) − S*‖_F. It fails when no fixed point is found
// (possible when ‖A‖₂ ≥ 1) or a block is singular.
func (p *Equilibrium) Reference() (*bilevel.Reference, error) {
	h := p.hostAt(p.lam)
	S, res, err := h.fixedPoint()
	if err != nil {
		return nil, err
	}
	k := h.k
	c0 := h.preact()
	_, gS, gWo, gBo := h.outer(S)
	V := make([]float64, p.d)
	U := make([]float64, p.d) // V ⊙ D'
	dp := make([]float64, k)
	var lu mat.LU
	var v mat.VecDense
	for i := 0; i < h.n; i++ {
		rows := func(x []float64) []float64 { return x[i*k : (i+1)*k] }
		h.derivRow(dp, rows(S), rows(c0))
		lu.Factorize(h.rowSystem(dp))
		if err := lu.SolveVecTo(&v, false, mat.NewVecDense(k, append([]float64(nil), rows(gS)...))); err != nil {
			return nil, fmt.Errorf("problems: equilibrium: reference: row %d: (I − Jᵀ)v = ∇_S E: %w", i, err)
		}
		for j := 0; j < k; j++ {
			V[i*k+j] = v.AtVec(j)
			U[i*k+j] = v.AtVec(j) * dp[j]
		}
	}
	hg := make([]float64, 0, p.h)
	gA := make([]float64, k*k) // Sᵀ U
	gBias := make([]float64, k)
	for i := 0; i < h.n; i++ {
		for l := 0; l < k; l++ {
			sl := S[i*k+l]
			for j := 0; j < k; j++ {
				gA[l*k+j] += sl * U[i*k+j]
			}
		}
		for j := 0; j < k; j++ {
			gBias[j] += U[i*k+j]
		}
	}
	hg = append(hg, gA...)
	hg = append(hg, h.xTransTimes(U, k)...)
	hg = append(hg, gBias...)
	hg = append(hg, gWo...)
	hg = append(hg, gBo...)
	return &bilevel.Reference{
		Hypergradient: hg,
		W:             S,
		V:             V,
		InnerGradNorm: res,
		Method:        "dense per-row LU at the machine-precision fixed point",
	}, nil
}
