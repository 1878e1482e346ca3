package problems

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/hypergrad-go/hypergrad/bilevel"
)

// Limits of the Newton solve of Hypercleaning.Reference.
const (
	hcRefNewton = 100 // Newton steps at most
	hcRefStalls = 2   // steps without a new least ‖∇g‖ that end the solve
	hcRefArmijo = 1e-4
	hcRefMinT   = 1e-10 // the shortest damped step tried
)

// hcLoss returns, for the weights ω (len rows) and w = Wᵀ (pe×c row-major),
// Σ_i ω_i CE(W x̃_i, y_i), its gradient X̃ᵀ diag(ω)(P − Y) (pe×c row-major)
// and P (rows×c row-major), on the host; x is X̃ dense.
func hcLoss(x *mat.Dense, y []int, omega, w []float64, c int) (val float64, grad, prob []float64) {
	rows, pe := x.Dims()
	var z mat.Dense
	z.Mul(x, mat.NewDense(pe, c, w))
	prob = make([]float64, rows*c)
	g := mat.NewDense(rows, c, nil)
	for i := 0; i < rows; i++ {
		zi := z.RawRowView(i)
		m := math.Inf(-1)
		for _, v := range zi {
			m = math.Max(m, v)
		}
		var sum float64
		for _, v := range zi {
			sum += math.Exp(v - m)
		}
		lse := m + math.Log(sum)
		val += omega[i] * (lse - zi[y[i]])
		for k, v := range zi {
			pk := math.Exp(v - lse)
			prob[i*c+k] = pk
			if k == y[i] {
				pk--
			}
			g.Set(i, k, omega[i]*pk)
		}
	}
	var gr mat.Dense
	gr.Mul(x.T(), g)
	grad = make([]float64, pe*c)
	for j := 0; j < pe; j++ {
		copy(grad[j*c:(j+1)*c], gr.RawRowView(j))
	}
	return val, grad, prob
}

// hcHessian returns Σ_i ω_i x̃_ix̃_iᵀ ⊗ H_i + shift·I (d×d, d = pe·c, in the
// layout of w = Wᵀ: index j·c + k), H_i = diag(p_i) − p_ip_iᵀ, formed as
// one weighted Gram matrix X̃ᵀ diag(ω ⊙ H_{·,kl}) X̃ per pair of classes
// k ≤ l.
func hcHessian(x *mat.Dense, omega, prob []float64, c int, shift float64) *mat.SymDense {
	rows, pe := x.Dims()
	d := pe * c
	a := mat.NewSymDense(d, nil)
	left := mat.NewDense(rows, pe, nil)
	g := mat.NewDense(pe, pe, nil)
	for k := 0; k < c; k++ {
		for l := k; l < c; l++ {
			for i := 0; i < rows; i++ {
				pk, pl := prob[i*c+k], prob[i*c+l]
				h := -pk * pl
				if k == l {
					h += pk
				}
				wt := omega[i] * h
				dst, src := left.RawRowView(i), x.RawRowView(i)
				for j, v := range src {
					dst[j] = wt * v
				}
			}
			g.Mul(left.T(), x)
			for j := 0; j < pe; j++ {
				for j2 := 0; j2 < pe; j2++ {
					if k == l && j2 < j {
						continue
					}
					a.SetSym(j*c+k, j2*c+l, 0.5*(g.At(j, j2)+g.At(j2, j)))
				}
			}
		}
	}
	for i := 0; i < d; i++ {
		a.SetSym(i, i, a.At(i, i)+shift)
	}
	return a
}

// innerAt returns g(w), ∇g(w) and P at w on the host.
func (p *Hypercleaning) innerAt(x *mat.Dense, omega, w []float64) (float64, []float64, []float64) {
	val, grad, prob := hcLoss(x, p.host.YTrain, omega, w, p.c)
	var w2 float64
	for j, v := range w {
		w2 += v * v
		grad[j] += 2 * p.reg * v
	}
	return val + p.reg*w2, grad, prob
}

// Reference solves the inner problem on the host by damped Newton from
// W = 0 (dense d×d Hessians, d = (p+1)·c, Cholesky; Armijo backtracking on
// g, the full step also accepted when it halves ‖∇g‖, as the decrease of g
// falls below its rounding near w*) until ‖∇g‖ has not reached a new least
// value for two steps or is below 1e-15·(1 + ‖X̃‖_F/√n), at most 100 steps,
// keeping the iterate of least ‖∇g‖ (InnerGradNorm); then q = A⁻¹∇E(w*) by
// a Cholesky solve and
//
//	∇f(λ)_i = −(Bᵀq)_i = −σ'(λ_i)/n ⟨p_i − e_{y_i}, Qᵀx̃_i⟩.
//
// Matrices beyond the dense budget are ErrTooLarge, before anything is
// allocated; a failed factorisation is ErrNumerical.
func (p *Hypercleaning) Reference() (*bilevel.Reference, error) {
	if err := p.fits("hypercleaning: reference", hypercleaningDenseBytes(p.host)); err != nil {
		return nil, err
	}
	var ref *bilevel.Reference
	if err := guard("hypercleaning reference", func() (err error) {
		ref, err = p.reference()
		return err
	}); err != nil {
		return nil, err
	}
	return checkReference(hcName, ref)
}

func (p *Hypercleaning) reference() (*bilevel.Reference, error) {
	x, xv := hostDense(p.xt), hostDense(p.xv)
	n := float64(p.n)
	omega := make([]float64, p.n)
	for i, s := range p.s {
		omega[i] = s / n
	}
	factor := func(prob []float64) (*mat.Cholesky, error) {
		chol, ok, err := cholesky(hcHessian(x, omega, prob, p.c, 2*p.reg))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: hypercleaning: Hessian is not positive definite to working precision", ErrNumerical)
		}
		return chol, nil
	}
	thresh := 1e-15 * (1 + norm2(p.xt.Data)/math.Sqrt(n))
	w := make([]float64, p.d)
	val, grad, prob := p.innerAt(x, omega, w)
	best, bestNorm := append([]float64(nil), w...), norm2(grad)
	trial := make([]float64, p.d)
	for it, stalls := 0, 0; it < hcRefNewton && bestNorm > thresh && stalls < hcRefStalls; it++ {
		chol, err := factor(prob)
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
		gn := norm2(grad)
		t := 1.0
		var tv float64
		var tg, tp []float64
		for {
			for j := range w {
				trial[j] = w[j] - t*step[j]
			}
			tv, tg, tp = p.innerAt(x, omega, trial)
			if tv <= val-hcRefArmijo*t*slope || (t == 1 && norm2(tg) <= 0.5*gn) || t < hcRefMinT {
				break
			}
			t /= 2
		}
		if t < hcRefMinT {
			break // no decrease possible: g is at its rounding floor
		}
		copy(w, trial)
		val, grad, prob = tv, tg, tp
		if nrm := norm2(grad); nrm < bestNorm {
			best, bestNorm, stalls = append(best[:0], w...), nrm, 0
		} else {
			stalls++
		}
	}
	_, _, prob = p.innerAt(x, omega, best)
	chol, err := factor(prob)
	if err != nil {
		return nil, err
	}
	inv := make([]float64, p.m)
	for i := range inv {
		inv[i] = 1 / float64(p.m)
	}
	_, ge, _ := hcLoss(xv, p.host.YVal, inv, best, p.c)
	q, err := cholSolve(chol, ge)
	if err != nil {
		return nil, err
	}
	var u mat.Dense // X̃ Q (n×c)
	u.Mul(x, mat.NewDense(p.pe, p.c, q))
	hg := make([]float64, p.n)
	for i := range hg {
		var s float64
		for k, v := range u.RawRowView(i) {
			r := prob[i*p.c+k]
			if k == p.host.YTrain[i] {
				r--
			}
			s += r * v
		}
		hg[i] = -p.sp[i] / n * s
	}
	return &bilevel.Reference{
		Hypergradient: hg,
		W:             best,
		V:             q,
		InnerGradNorm: bestNorm,
		Method:        "damped Newton with dense Cholesky, then a dense solve for q",
	}, nil
}
