package problems

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// mlrDenseMax is the largest d·c for which Reference forms the dense
// (d·c)×(d·c) Hessian on the host; beyond it, or beyond the dense budget or
// mlrDenseWork, Reference runs Newton–CG on the backend.
const mlrDenseMax = 200

// mlrDenseWork caps Σ_i nnz(x_i)²·c², the multiply-adds of forming the dense
// Hessian once.
const mlrDenseWork = 2e9

// mlrMaxCG caps the conjugate-gradient iterations of one solve of the
// matrix-free reference.
const mlrMaxCG = 5000

// multilogregDenseBytes estimates the host bytes of Reference and
// Constants on s: the dense Newton path (the Hessian, its symmetric copy and
// its Cholesky factor: 3(dc)² values) when d·c ≤ mlrDenseMax, the
// eigendecompositions of XᵀX and X_valᵀX_val when denseCheap (eigBytes), and
// 16 host vectors of length (n + m)·c and d·c.
func multilogregDenseBytes(s *data.Multiclass) float64 {
	if s == nil || s.XTrain == nil || s.XVal == nil {
		return 0
	}
	n, m, d, c := s.Dims()
	dim := float64(d) * float64(c)
	vecs := 8 * 16 * ((float64(n)+float64(m))*float64(c) + dim)
	var dense float64
	if dim <= mlrDenseMax {
		dense = 8 * 3 * dim * dim
	}
	var eig float64
	for _, x := range []*data.Matrix{s.XTrain, s.XVal} {
		if denseCheap(x.Rows, x.Cols) {
			eig = math.Max(eig, eigBytes(x))
		}
	}
	return math.Max(dense, eig) + vecs
}

// DenseBytes estimates the most bytes Reference or Constants allocate on the
// host (see multilogregDenseBytes).
func (p *Multilogreg) DenseBytes() int64 { return saturate(multilogregDenseBytes(p.host)) }

// mlrHost evaluates, on the host, for W (d×c row-major) and the rows of x
// with labels y: val = 1/rows Σ_i CE(Wᵀx_i, y_i) + ½ Σ ρ_jk W_jk² (rho nil:
// no regulariser), its gradient in W, and P = softmax(XW) (rows×c).
func mlrHost(x *data.Matrix, y []int, c int, w, rho []float64) (val float64, grad, prob []float64) {
	rows := float64(x.Rows)
	grad = make([]float64, len(w))
	prob = make([]float64, x.Rows*c)
	z := make([]float64, c)
	for i := 0; i < x.Rows; i++ {
		clear(z)
		mlrRow(x, i, func(j int, v float64) {
			for k := range z {
				z[k] += v * w[j*c+k]
			}
		})
		mx := math.Inf(-1)
		for _, zk := range z {
			mx = math.Max(mx, zk)
		}
		var s float64
		p := prob[i*c : (i+1)*c]
		for k, zk := range z {
			p[k] = math.Exp(zk - mx)
			s += p[k]
		}
		for k := range p {
			p[k] /= s
		}
		val += (mx + math.Log(s) - z[y[i]]) / rows
		mlrRow(x, i, func(j int, v float64) {
			for k := range z {
				g := p[k]
				if k == y[i] {
					g--
				}
				grad[j*c+k] += v * g / rows
			}
		})
	}
	for j, r := range rho {
		val += 0.5 * r * w[j] * w[j]
		grad[j] += r * w[j]
	}
	return val, grad, prob
}

// mlrRow calls f(j, x_ij) for the stored entries of row i.
func mlrRow(x *data.Matrix, i int, f func(j int, v float64)) {
	if x.IsCSR() {
		for k := x.Indptr[i]; k < x.Indptr[i+1]; k++ {
			f(x.Indices[k], x.Data[k])
		}
		return
	}
	for j, v := range x.Data[i*x.Cols : (i+1)*x.Cols] {
		f(j, v)
	}
}

// mlrDenseWorkOf returns Σ_i nnz(x_i)²·c².
func mlrDenseWorkOf(x *data.Matrix, c int) float64 {
	var w float64
	for i := 0; i < x.Rows; i++ {
		r := float64(x.Cols)
		if x.IsCSR() {
			r = float64(x.Indptr[i+1] - x.Indptr[i])
		}
		w += r * r
	}
	return w * float64(c) * float64(c)
}

// hessianChol returns the Cholesky factor of the dense Hessian
// A = Σ_i (x_ix_iᵀ) ⊗ (diag(p_i) − p_ip_iᵀ)/n + diag(ρ) (index (j, k) →
// j·c + k).
func (p *Multilogreg) hessianChol(prob []float64) (*mat.Cholesky, error) {
	dim, c := p.dim, p.c
	x := p.host.XTrain
	h := make([]float64, dim*dim)
	hi := make([]float64, c*c)
	inv := 1 / float64(p.n)
	var js []int
	var vs []float64
	for i := 0; i < p.n; i++ {
		pi := prob[i*c : (i+1)*c]
		for k := 0; k < c; k++ {
			for l := 0; l < c; l++ {
				hi[k*c+l] = -pi[k] * pi[l]
			}
			hi[k*c+k] += pi[k]
		}
		js, vs = js[:0], vs[:0]
		mlrRow(x, i, func(j int, v float64) {
			if v != 0 {
				js, vs = append(js, j), append(vs, v)
			}
		})
		for a, ja := range js {
			for bb, jb := range js {
				f := vs[a] * vs[bb] * inv
				for k := 0; k < c; k++ {
					row := h[(ja*c+k)*dim+jb*c : (ja*c+k)*dim+jb*c+c]
					for l := range row {
						row[l] += f * hi[k*c+l]
					}
				}
			}
		}
	}
	s := mat.NewSymDense(dim, nil)
	for a := 0; a < dim; a++ {
		for bb := a; bb < dim; bb++ {
			v := 0.5 * (h[a*dim+bb] + h[bb*dim+a])
			if a == bb {
				v += p.rhoH[a]
			}
			s.SetSym(a, bb, v)
		}
	}
	chol, ok, err := cholesky(s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: multilogreg: Hessian is not positive definite to working precision", ErrNumerical)
	}
	return chol, nil
}

// hyperFromQ returns ∇f = −Bᵀq at W (E does not depend on λ): −Σ ρ_jk W_jk
// q_jk summed over the entries of each λ_l.
func (p *Multilogreg) hyperFromQ(w, q []float64) []float64 {
	hg := make([]float64, p.h)
	for j := 0; j < p.d; j++ {
		for k := 0; k < p.c; k++ {
			e := j*p.c + k
			t := -p.rhoH[e] * w[e] * q[e]
			switch p.mode {
			case mlrFeature:
				hg[j] += t
			case mlrShared:
				hg[0] += t
			case mlrClass:
				hg[k] += t
			}
		}
	}
	return hg
}

// Reference computes w*(λ), q = A⁻¹∇E(w*) and ∇f = −Bᵀq to machine
// precision. For d·c ≤ mlrDenseMax (within the dense budget and
// mlrDenseWork): damped Newton on the host from W = 0 with the dense Hessian
// and a Cholesky solve (Armijo backtracking on g; the full step is also
// accepted when it halves ‖∇g‖, as the decrease of g falls below its rounding
// near w*), until ‖∇g‖ stops decreasing or falls below 1e-15·(‖X‖_F/√n + 1),
// at most 100 steps, keeping the iterate with the smallest gradient; then q
// by the dense Cholesky solve. Otherwise the same Newton iteration runs
// matrix-free on the backend with the problem's own oracles, each step solved
// by conjugate gradients to the relative residual min(0.1, ‖∇g‖), and q by
// conjugate gradients to a residual of 1e-15·‖∇E‖ followed by one step of
// iterative refinement (mlrMaxCG iterations at most per solve); it uses the
// problem's own oracles and leaves it without a linearization
// (ErrNotLinearized until the next Linearize or UseSlot).
func (p *Multilogreg) Reference() (*bilevel.Reference, error) {
	x := p.host.XTrain
	thresh := 1e-15 * (norm2(x.Data)/math.Sqrt(float64(p.n)) + 1)
	if p.dim <= p.refDenseMax && mlrDenseWorkOf(x, p.c) <= mlrDenseWork &&
		p.fits("multilogreg: reference", multilogregDenseBytes(p.host)) == nil {
		return p.denseReference(thresh)
	}
	return p.cgReference(thresh)
}

func (p *Multilogreg) denseReference(thresh float64) (*bilevel.Reference, error) {
	s := p.host
	w := make([]float64, p.dim)
	val, grad, prob := mlrHost(s.XTrain, s.YTrain, p.c, w, p.rhoH)
	best, bestNorm := append([]float64(nil), w...), norm2(grad)
	stalls := 0
	for it := 0; it < 100 && bestNorm > thresh && stalls < 2; it++ {
		chol, err := p.hessianChol(prob)
		if err != nil {
			return nil, err
		}
		step, err := cholSolve(chol, grad)
		if err != nil {
			return nil, err
		}
		var slope float64
		for j := range step {
			slope += step[j] * grad[j]
		}
		trial := make([]float64, p.dim)
		t := 1.0
		var tv float64
		var tg, tp []float64
		for {
			for j := range w {
				trial[j] = w[j] - t*step[j]
			}
			tv, tg, tp = mlrHost(s.XTrain, s.YTrain, p.c, trial, p.rhoH)
			if tv <= val-1e-4*t*slope || (t == 1 && norm2(tg) <= 0.5*norm2(grad)) || t < 1e-10 {
				break
			}
			t /= 2
		}
		if t < 1e-10 {
			break // no decrease possible: g is at its rounding floor
		}
		w, val, grad, prob = trial, tv, tg, tp
		if nrm := norm2(grad); nrm < bestNorm {
			best, bestNorm = append(best[:0], w...), nrm
		} else {
			stalls++
		}
	}
	_, _, prob = mlrHost(s.XTrain, s.YTrain, p.c, best, p.rhoH)
	chol, err := p.hessianChol(prob)
	if err != nil {
		return nil, err
	}
	_, ge, _ := mlrHost(s.XVal, s.YVal, p.c, best, nil)
	q, err := cholSolve(chol, ge)
	if err != nil {
		return nil, err
	}
	return checkReference(mlrName, &bilevel.Reference{
		Hypergradient: p.hyperFromQ(best, q),
		W:             best,
		V:             q,
		InnerGradNorm: bestNorm,
		Method:        fmt.Sprintf("damped Newton with the dense %d×%d Hessian (Cholesky) on the host, then a dense solve for q", p.dim, p.dim),
	})
}

// mlrRefVecs are the device vectors of the matrix-free reference.
type mlrRefVecs struct {
	w, g, s, r, pd, ap, trial backend.Vector
}

// cg solves A x = rhs at the current linearization by conjugate gradients
// from x = 0 until ‖r‖ ≤ tol or maxIter iterations, and returns the last
// recursive residual norm.
func (p *Multilogreg) cg(x, rhs backend.Vector, v *mlrRefVecs, tol float64, maxIter int) (float64, error) {
	b := p.b
	b.Fill(x, 0)
	b.Copy(v.r, rhs)
	b.Copy(v.pd, rhs)
	rho := b.Dot(v.r, v.r)
	for it := 0; it < maxIter && math.Sqrt(rho) > tol; it++ {
		if err := p.HessVec(v.ap, v.pd); err != nil {
			return 0, err
		}
		pap := b.Dot(v.pd, v.ap)
		if !(pap > 0) {
			break
		}
		alpha := rho / pap
		b.Axpy(alpha, v.pd, x)
		b.Axpy(-alpha, v.ap, v.r)
		next := b.Dot(v.r, v.r)
		b.Axpby(1, v.r, next/rho, v.pd)
		rho = next
	}
	return math.Sqrt(rho), b.Err()
}

func (p *Multilogreg) cgReference(thresh float64) (ref *bilevel.Reference, err error) {
	b := p.b
	var v mlrRefVecs
	all := []*backend.Vector{&v.w, &v.g, &v.s, &v.r, &v.pd, &v.ap, &v.trial}
	defer func() {
		for _, x := range all {
			if !isNil(*x) {
				b.Free(*x)
			}
		}
		p.lin = false // the linearization was the reference's
	}()
	for _, x := range all {
		if *x, err = b.NewVector(p.dim); err != nil {
			return nil, err
		}
	}
	maxCG := min(mlrMaxCG, 10*p.dim+100)
	best := make([]float64, p.dim)
	bestNorm := math.Inf(1)
	stalls := 0
	for it := 0; it < 100; it++ {
		if err := p.InnerGrad(v.g, v.w); err != nil {
			return nil, err
		}
		gn := b.Nrm2(v.g)
		if gn < bestNorm {
			b.Download(best, v.w)
			bestNorm = gn
		} else if it > 0 {
			stalls++
		}
		if !(gn > thresh) || stalls >= 2 {
			break
		}
		if err := p.Linearize(v.w); err != nil {
			return nil, err
		}
		if _, err := p.cg(v.s, v.g, &v, math.Min(0.1, gn)*gn, maxCG); err != nil {
			return nil, err
		}
		val, err := p.InnerValue(v.w)
		if err != nil {
			return nil, err
		}
		slope := b.Dot(v.s, v.g)
		t := 1.0
		for {
			b.Copy(v.trial, v.w)
			b.Axpy(-t, v.s, v.trial)
			tv, err := p.InnerValue(v.trial)
			if err != nil {
				return nil, err
			}
			if tv <= val-1e-4*t*slope || t < 1e-10 {
				break
			}
			if t == 1 {
				if err := p.InnerGrad(v.r, v.trial); err != nil {
					return nil, err
				}
				if b.Nrm2(v.r) <= 0.5*gn {
					break
				}
			}
			t /= 2
		}
		if t < 1e-10 {
			break
		}
		b.Copy(v.w, v.trial)
	}
	b.Upload(v.w, best)
	if err := p.Linearize(v.w); err != nil {
		return nil, err
	}
	if err := p.OuterGrad(v.g, v.w); err != nil {
		return nil, err
	}
	gen := b.Nrm2(v.g)
	if _, err := p.cg(v.s, v.g, &v, 1e-15*gen, maxCG); err != nil {
		return nil, err
	}
	// One step of iterative refinement: q ← q + A⁻¹(∇E − A q).
	if err := p.HessVec(v.trial, v.s); err != nil {
		return nil, err
	}
	b.Axpby(1, v.g, -1, v.trial) // trial ← ∇E − A q
	// v.w is free: Linearize keeps its own copy of W.
	if _, err := p.cg(v.w, v.trial, &v, 1e-15*gen, maxCG); err != nil {
		return nil, err
	}
	b.Axpy(1, v.w, v.s)
	q := make([]float64, p.dim)
	b.Download(q, v.s)
	if err := b.Err(); err != nil {
		return nil, err
	}
	return checkReference(mlrName, &bilevel.Reference{
		Hypergradient: p.hyperFromQ(best, q),
		W:             best,
		V:             q,
		InnerGradNorm: bestNorm,
		Method:        "matrix-free Newton–CG on the backend, then conjugate gradients (with one refinement step) for q",
	})
}
