package problems

import (
	"errors"
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// BiasReg is biased regularisation across tasks (spec "biasreg"; Denevi et
// al., ICML 2019; Grazzi et al. 2020, §4): T least-squares tasks whose
// weights w_t ∈ R^d are pulled towards a shared bias h = λ ∈ R^d,
//
//	g(w, h) = Σ_t g_t(w_t, h),   g_t = 1/(2n)‖X_t w_t − y_t‖² + ρ/2‖w_t − h‖²,
//	E(w)    = 1/T Σ_t 1/(2m)‖X_val,t w_t − y_val,t‖²,
//
// with w = (w_1, …, w_T) ∈ R^{T·d} task-major. The inner objective is the
// sum of the task objectives, not their mean: the tasks are independent
// given h, w*_t minimises g_t alone, and A = ∇²_ww g is block diagonal with
// the blocks of the tasks themselves (a mean would scale A, B and the
// constants by 1/T and leave w* and ∇f unchanged). Then
//
//	A   = blockdiag(A_t),   A_t = X_tᵀX_t/n + ρI,
//	B   = ∂²g/∂w∂h = −ρ·[I; …; I]   (T·d × d),   Bᵀv = −ρ Σ_t v_t,   B u = −ρ(u, …, u),
//	w*_t = A_t⁻¹(X_tᵀy_t/n + ρh),   q_t = A_t⁻¹∇_{w_t}E,   ∇f = −Bᵀq = ρ Σ_t q_t,
//
// with ∇_{w_t}E = X_val,tᵀ(X_val,t w_t − y_val,t)/(mT). E does not depend on
// h, and neither A nor B depends on w or on h: the constants are those of
// the data and ρ alone (see Constants).
//
// The tasks are stored on the backend in one of two layouts
// (BiasRegLayout), each reading the data once per oracle:
//
//   - BiasRegBlockCSR: one block-diagonal CSR matrix blockdiag(X_1, …, X_T)
//     of (T·n) × (T·d), and likewise for X_val, so that every oracle is one
//     fused GLM call (GLMGrad, GramVec, GramDiag) whatever T is: one kernel
//     launch on a GPU. The price is a column index per stored value, and on
//     the CPU backend a CSR pass costs several times a dense one per value.
//   - BiasRegPerTask: T dense matrices and one fused GLM call per task, with
//     w_t copied in and the task's result copied out (CopyRange: the backend
//     has no views of parts of a vector). The CPU's dense kernels make it the
//     faster layout there once a task holds about a hundred values; below
//     that the T calls cost more than the CSR pass, and on a GPU they are T
//     kernel launches per oracle.
//
// BiasRegAuto, the layout of NewBiasReg, takes BiasRegPerTask on the CPU
// backend when a task holds at least 100 values (n·d), and BiasRegBlockCSR
// otherwise. B is the CSR matrix −ρ·[I; …; I] (T·d values),
// applied with MulVec and MulVecTrans in both layouts. Every oracle
// allocates nothing after construction.
//
// Reference and ExactConstants form dense d×d matrices, one task at a time:
// they check DenseBytes against the dense budget (SetMaxDenseBytes) first
// and fail with ErrTooLarge beyond it.
type BiasReg struct {
	denseBudget

	b    backend.Backend
	g    backend.GLM
	host *data.BiasReg

	tasks, n, m, d, dim int // dim = T·d
	rho                 float64

	layout BiasRegLayout // BiasRegBlockCSR or BiasRegPerTask

	// BiasRegBlockCSR: blockdiag(X_t) (T·n)×(T·d), blockdiag(X_val,t)
	// (T·m)×(T·d), and the targets concatenated (T·n, T·m).
	x, xVal backend.Matrix
	y, yVal backend.Vector
	// BiasRegPerTask: X_t (n×d) and X_val,t (m×d), y_t and y_val,t, and
	// scratch vectors of length d for the task's operands and results.
	xs, xvs         []backend.Matrix
	ys, yvs         []backend.Vector
	wt, vt, gt, gt2 backend.Vector

	stack backend.Matrix // [I; …; I], (T·d)×d: B = −ρ·stack
	hTile backend.Vector // (h, …, h), len T·d
	tmp   backend.Vector // len T·d

	lam  []float64 // h
	tile []float64 // host (h, …, h)
	lin  bool

	consts *bilevel.Constants // independent of h: computed once
}

var (
	_ bilevel.Problem       = (*BiasReg)(nil)
	_ bilevel.Referencer    = (*BiasReg)(nil)
	_ bilevel.CrossApplier  = (*BiasReg)(nil)
	_ bilevel.CrossNormer   = (*BiasReg)(nil)
	_ bilevel.HessDiager    = (*BiasReg)(nil)
	_ bilevel.HessVecPairer = (*BiasReg)(nil)
	_ DenseBudgeter         = (*BiasReg)(nil)
)

const brName = "biasreg"

// BiasRegLayout selects how BiasReg stores the tasks on the backend (see
// BiasReg).
type BiasRegLayout int

const (
	// BiasRegAuto is BiasRegPerTask on the CPU backend for tasks of at least
	// 100 values (n·d), BiasRegBlockCSR otherwise.
	BiasRegAuto BiasRegLayout = iota
	// BiasRegBlockCSR stores blockdiag(X_1, …, X_T) as one CSR matrix.
	BiasRegBlockCSR
	// BiasRegPerTask stores one dense matrix per task.
	BiasRegPerTask
)

func (l BiasRegLayout) String() string {
	switch l {
	case BiasRegAuto:
		return "auto"
	case BiasRegBlockCSR:
		return "block-csr"
	case BiasRegPerTask:
		return "per-task"
	}
	return fmt.Sprintf("BiasRegLayout(%d)", int(l))
}

// brTaskEntries is the smallest task (n·d values) that BiasRegAuto stores
// per task on the CPU backend: from there one dense call per task costs
// less than the task's share of a block-diagonal CSR pass.
const brTaskEntries = 100

// NewBiasReg uploads biasreg data to the backend (which must offer the
// fused GLM kernels, backend.GLM, as the CPU and CUDA backends do) in the
// layout BiasRegAuto chooses, and sets h to the data's Lambda.
func NewBiasReg(b backend.Backend, r *data.BiasReg) (*BiasReg, error) {
	return NewBiasRegLayout(b, r, BiasRegAuto)
}

// NewBiasRegLayout is NewBiasReg with the tasks stored in the given layout.
func NewBiasRegLayout(b backend.Backend, r *data.BiasReg, layout BiasRegLayout) (*BiasReg, error) {
	if b == nil {
		return nil, errors.New("problems: biasreg: nil backend")
	}
	if r == nil {
		return nil, errors.New("problems: biasreg: nil data")
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("problems: biasreg: %w", err)
	}
	g, err := fusedGLM(b)
	if err != nil {
		return nil, fmt.Errorf("problems: biasreg: %w", err)
	}
	tasks, n, m, d := r.Dims()
	switch layout {
	case BiasRegAuto:
		layout = BiasRegBlockCSR
		if b.Name() == "cpu" && n*d >= brTaskEntries {
			layout = BiasRegPerTask
		}
	case BiasRegBlockCSR, BiasRegPerTask:
	default:
		return nil, fmt.Errorf("problems: biasreg: unknown layout %v", layout)
	}
	p := &BiasReg{b: b, g: g, host: r, tasks: tasks, n: n, m: m, d: d, dim: tasks * d, rho: r.Rho, layout: layout}
	p.lam = make([]float64, d)
	p.tile = make([]float64, p.dim)
	err = p.upload()
	if err == nil {
		err = p.SetHyper(r.Lambda)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("problems: biasreg: %w", err)
	}
	return p, nil
}

// blockDiag returns the CSR form of blockdiag(xs[0], …, xs[T−1]) for T
// dense rows×d matrices: (T·rows) × (T·d), every entry of every block
// stored.
func blockDiag(xs []*data.Matrix, rows, d int) backend.CSRData {
	tasks := len(xs)
	c := backend.CSRData{Rows: tasks * rows, Cols: tasks * d,
		Indptr: make([]int, tasks*rows+1), Indices: make([]int, tasks*rows*d), Data: make([]float64, tasks*rows*d)}
	for t, x := range xs {
		copy(c.Data[t*rows*d:], x.Data)
		for i := range rows {
			row := t*rows + i
			for j := range d {
				c.Indices[row*d+j] = t*d + j
			}
			c.Indptr[row+1] = (row + 1) * d
		}
	}
	return c
}

func (p *BiasReg) upload() error {
	var err error
	if p.layout == BiasRegBlockCSR {
		err = p.uploadBlock()
	} else {
		err = p.uploadTasks()
	}
	if err != nil {
		return err
	}
	st := backend.CSRData{Rows: p.dim, Cols: p.d, Indptr: make([]int, p.dim+1), Indices: make([]int, p.dim), Data: make([]float64, p.dim)}
	for i := range p.dim {
		st.Indptr[i+1], st.Indices[i], st.Data[i] = i+1, i%p.d, 1
	}
	if p.stack, err = st.Upload(p.b); err != nil {
		return err
	}
	for _, v := range []*backend.Vector{&p.hTile, &p.tmp} {
		if *v, err = p.b.NewVector(p.dim); err != nil {
			return err
		}
	}
	return p.b.Err()
}

// newVector allocates a vector of length n holding init (if not nil).
func (p *BiasReg) newVector(n int, init []float64) (backend.Vector, error) {
	v, err := p.b.NewVector(n)
	if err == nil && init != nil {
		p.b.Upload(v, init)
	}
	return v, err
}

func (p *BiasReg) uploadBlock() error {
	var err error
	if p.x, err = blockDiag(p.host.X, p.n, p.d).Upload(p.b); err != nil {
		return err
	}
	if p.xVal, err = blockDiag(p.host.XVal, p.m, p.d).Upload(p.b); err != nil {
		return err
	}
	concat := func(ys [][]float64) []float64 {
		out := make([]float64, 0, len(ys)*len(ys[0]))
		for _, y := range ys {
			out = append(out, y...)
		}
		return out
	}
	if p.y, err = p.newVector(p.tasks*p.n, concat(p.host.Y)); err != nil {
		return err
	}
	p.yVal, err = p.newVector(p.tasks*p.m, concat(p.host.YVal))
	return err
}

func (p *BiasReg) uploadTasks() error {
	r := p.host
	p.xs, p.xvs = make([]backend.Matrix, p.tasks), make([]backend.Matrix, p.tasks)
	p.ys, p.yvs = make([]backend.Vector, p.tasks), make([]backend.Vector, p.tasks)
	var err error
	for t := range p.tasks {
		if p.xs[t], err = p.b.NewDense(p.n, p.d, r.X[t].Data); err != nil {
			return err
		}
		if p.xvs[t], err = p.b.NewDense(p.m, p.d, r.XVal[t].Data); err != nil {
			return err
		}
		if p.ys[t], err = p.newVector(p.n, r.Y[t]); err != nil {
			return err
		}
		if p.yvs[t], err = p.newVector(p.m, r.YVal[t]); err != nil {
			return err
		}
	}
	for _, v := range []*backend.Vector{&p.wt, &p.vt, &p.gt, &p.gt2} {
		if *v, err = p.b.NewVector(p.d); err != nil {
			return err
		}
	}
	return nil
}

// Close frees the problem's device memory.
func (p *BiasReg) Close() error {
	vecs := append([]backend.Vector{p.y, p.yVal, p.hTile, p.tmp, p.wt, p.vt, p.gt, p.gt2}, p.ys...)
	for _, v := range append(vecs, p.yvs...) {
		if !isNil(v) {
			p.b.Free(v)
		}
	}
	mats := append([]backend.Matrix{p.x, p.xVal, p.stack}, p.xs...)
	for _, m := range append(mats, p.xvs...) {
		if m != nil {
			p.b.FreeMatrix(m)
		}
	}
	p.y, p.yVal, p.hTile, p.tmp, p.wt, p.vt, p.gt, p.gt2 = nil, nil, nil, nil, nil, nil, nil, nil
	p.x, p.xVal, p.stack = nil, nil, nil
	p.xs, p.xvs, p.ys, p.yvs = nil, nil, nil, nil
	p.lin = false
	return nil
}

// Layout returns the layout of the tasks on the backend (never
// BiasRegAuto).
func (p *BiasReg) Layout() BiasRegLayout { return p.layout }

// The data passes of the oracles, in either layout. In BiasRegPerTask,
// task t's part of a vector of length T·d is copied to a scratch vector of
// length d and its result copied back, and scalar losses are summed over
// the tasks in order on the host.

// loss returns Σ_t ½‖X_t w_t − y_t‖² (val: of the validation sets).
func (p *BiasReg) loss(val bool, w backend.Vector) float64 {
	if p.layout == BiasRegBlockCSR {
		x, y := p.x, p.y
		if val {
			x, y = p.xVal, p.yVal
		}
		return p.g.GLMGrad(nil, 0, x, w, y, backend.Squared, 0, nil)
	}
	xs, ys := p.xs, p.ys
	if val {
		xs, ys = p.xvs, p.yvs
	}
	var s float64
	for t := range p.tasks {
		p.b.CopyRange(p.wt, 0, w, t*p.d, p.d)
		s += p.g.GLMGrad(nil, 0, xs[t], p.wt, ys[t], backend.Squared, 0, nil)
	}
	return s
}

// lossGrad sets dst ← α·X_tᵀ(X_t w_t − y_t) task by task (val: of the
// validation sets).
func (p *BiasReg) lossGrad(val bool, dst backend.Vector, alpha float64, w backend.Vector) {
	if p.layout == BiasRegBlockCSR {
		x, y := p.x, p.y
		if val {
			x, y = p.xVal, p.yVal
		}
		p.g.GLMGradNoLoss(dst, alpha, x, w, y, backend.Squared, 0, nil)
		return
	}
	xs, ys := p.xs, p.ys
	if val {
		xs, ys = p.xvs, p.yvs
	}
	for t := range p.tasks {
		p.b.CopyRange(p.wt, 0, w, t*p.d, p.d)
		p.g.GLMGradNoLoss(p.gt, alpha, xs[t], p.wt, ys[t], backend.Squared, 0, nil)
		p.b.CopyRange(dst, t*p.d, p.gt, 0, p.d)
	}
}

// gram sets dst ← α·X_tᵀX_t v_t task by task, and dst2 ← α·X_tᵀX_t v2_t
// too when dst2 is not nil (the backend being a GramVecPairer).
func (p *BiasReg) gram(dst backend.Vector, alpha float64, v, dst2, v2 backend.Vector) {
	pb, _ := p.b.(backend.GramVecPairer)
	if p.layout == BiasRegBlockCSR {
		if dst2 != nil {
			pb.GramVecPair(dst, dst2, alpha, p.x, nil, v, v2, 0)
			return
		}
		p.g.GramVec(dst, alpha, p.x, nil, v, 0)
		return
	}
	for t := range p.tasks {
		p.b.CopyRange(p.wt, 0, v, t*p.d, p.d)
		if dst2 != nil {
			p.b.CopyRange(p.vt, 0, v2, t*p.d, p.d)
			pb.GramVecPair(p.gt, p.gt2, alpha, p.xs[t], nil, p.wt, p.vt, 0)
			p.b.CopyRange(dst2, t*p.d, p.gt2, 0, p.d)
		} else {
			p.g.GramVec(p.gt, alpha, p.xs[t], nil, p.wt, 0)
		}
		p.b.CopyRange(dst, t*p.d, p.gt, 0, p.d)
	}
}

// gramDiag sets dst ← α·diag(X_tᵀX_t) + shift task by task.
func (p *BiasReg) gramDiag(dst backend.Vector, alpha, shift float64) {
	if p.layout == BiasRegBlockCSR {
		p.b.Fill(dst, shift)
		p.g.GramDiag(dst, alpha, p.x, nil, 1)
		return
	}
	for t := range p.tasks {
		p.b.Fill(p.gt, shift)
		p.g.GramDiag(p.gt, alpha, p.xs[t], nil, 1)
		p.b.CopyRange(dst, t*p.d, p.gt, 0, p.d)
	}
}

func (p *BiasReg) Backend() backend.Backend { return p.b }

// InnerDim returns T·d.
func (p *BiasReg) InnerDim() int { return p.dim }

// HyperDim returns d.
func (p *BiasReg) HyperDim() int       { return p.d }
func (p *BiasReg) Hyper(dst []float64) { copy(dst, p.lam) }

// Data returns the host data the problem was built from (its Lambda is the
// h of construction; Hyper gives the current one).
func (p *BiasReg) Data() *data.BiasReg { return p.host }

// Dims returns the number of tasks T and the rows n, m and features d of
// each task.
func (p *BiasReg) Dims() (tasks, n, m, d int) { return p.tasks, p.n, p.m, p.d }

// Rho returns ρ.
func (p *BiasReg) Rho() float64 { return p.rho }

// SetHyper moves the problem to the bias h = lambda (len d, finite): it
// uploads (h, …, h). The constants do not depend on h, and the
// linearization (which holds nothing, A and B being constant) is kept.
func (p *BiasReg) SetHyper(lambda []float64) error {
	if len(lambda) != p.d {
		return fmt.Errorf("problems: biasreg: h has length %d, want d = %d", len(lambda), p.d)
	}
	for j, l := range lambda {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("problems: biasreg: h[%d] = %v (want finite)", j, l)
		}
	}
	copy(p.lam, lambda)
	for t := range p.tasks {
		copy(p.tile[t*p.d:], lambda)
	}
	p.b.Upload(p.hTile, p.tile)
	return p.b.Err()
}

// InnerValue returns g = 1/(2n) Σ_t ‖X_t w_t − y_t‖² + ρ/2‖w − (h, …, h)‖².
func (p *BiasReg) InnerValue(w backend.Vector) (float64, error) {
	if err := checkVec(brName, "InnerValue", "w", w, p.dim); err != nil {
		return 0, err
	}
	b := p.b
	l := p.loss(false, w)
	b.Copy(p.tmp, w)
	b.Axpy(-1, p.hTile, p.tmp)
	r := b.Dot(p.tmp, p.tmp)
	return l/float64(p.n) + 0.5*p.rho*r, b.Err()
}

// InnerGrad sets dst ← ∇_w g, task by task X_tᵀ(X_t w_t − y_t)/n + ρ(w_t − h).
func (p *BiasReg) InnerGrad(dst, w backend.Vector) error {
	if err := checkVecs(brName, "InnerGrad", "dst", dst, p.dim, "w", w, p.dim); err != nil {
		return err
	}
	b := p.b
	p.lossGrad(false, dst, 1/float64(p.n), w)
	b.Axpy(p.rho, w, dst)
	b.Axpy(-p.rho, p.hTile, dst)
	return b.Err()
}

// Linearize checks w; A and B do not depend on w, so nothing is kept.
func (p *BiasReg) Linearize(w backend.Vector) error {
	if err := checkVec(brName, "Linearize", "w", w, p.dim); err != nil {
		return err
	}
	p.lin = true
	return nil
}

func (p *BiasReg) linearized(op string) error {
	if !p.lin {
		return fmt.Errorf("problems: biasreg: %s: %w", op, ErrNotLinearized)
	}
	return nil
}

// HessVec sets dst ← A v, task by task X_tᵀX_t v_t/n + ρv_t.
func (p *BiasReg) HessVec(dst, v backend.Vector) error {
	if err := p.linearized("HessVec"); err != nil {
		return err
	}
	if err := checkVecs(brName, "HessVec", "dst", dst, p.dim, "v", v, p.dim); err != nil {
		return err
	}
	p.gram(dst, 1/float64(p.n), v, nil, nil)
	p.b.Axpy(p.rho, v, dst)
	return p.b.Err()
}

// HessVecPair sets dst1 ← A v1 and dst2 ← A v2 (bilevel.HessVecPairer):
// one pass over X where the backend is a backend.GramVecPairer, else two
// HessVec calls; the same bits either way.
func (p *BiasReg) HessVecPair(dst1, v1, dst2, v2 backend.Vector) error {
	const op = "HessVecPair"
	if err := p.linearized(op); err != nil {
		return err
	}
	if err := checkVecs(brName, op, "dst1", dst1, p.dim, "v1", v1, p.dim); err != nil {
		return err
	}
	if err := checkVecs(brName, op, "dst2", dst2, p.dim, "v2", v2, p.dim); err != nil {
		return err
	}
	if _, ok := p.b.(backend.GramVecPairer); !ok {
		if err := p.HessVec(dst1, v1); err != nil {
			return err
		}
		return p.HessVec(dst2, v2)
	}
	p.gram(dst1, 1/float64(p.n), v1, dst2, v2)
	p.b.Axpy(p.rho, v1, dst1)
	p.b.Axpy(p.rho, v2, dst2)
	return p.b.Err()
}

// HessDiag sets dst ← diag(A) = diag(X_tᵀX_t)/n + ρ task by task, in one
// pass over X (GramDiag).
func (p *BiasReg) HessDiag(dst backend.Vector) error {
	if err := p.linearized("HessDiag"); err != nil {
		return err
	}
	if err := checkVec(brName, "HessDiag", "dst", dst, p.dim); err != nil {
		return err
	}
	p.gramDiag(dst, 1/float64(p.n), p.rho)
	return p.b.Err()
}

// CrossVec sets dst ← Bᵀv = −ρ Σ_t v_t (len dst = d).
func (p *BiasReg) CrossVec(dst, v backend.Vector) error {
	if err := p.linearized("CrossVec"); err != nil {
		return err
	}
	if err := checkVecs(brName, "CrossVec", "dst", dst, p.d, "v", v, p.dim); err != nil {
		return err
	}
	p.b.MulVecTrans(dst, -p.rho, p.stack, v, 0)
	return p.b.Err()
}

// CrossApply sets dst ← B u = −ρ(u, …, u) (bilevel.CrossApplier; len u =
// d), the adjoint of CrossVec.
func (p *BiasReg) CrossApply(dst, u backend.Vector) error {
	if err := p.linearized("CrossApply"); err != nil {
		return err
	}
	if err := checkVecs(brName, "CrossApply", "dst", dst, p.dim, "u", u, p.d); err != nil {
		return err
	}
	p.b.MulVec(dst, -p.rho, p.stack, u, 0)
	return p.b.Err()
}

// CrossNorm returns ‖B‖₂ = ρ√T exactly at every w: BᵀB = ρ²·T·I_d.
func (p *BiasReg) CrossNorm(w backend.Vector) (bilevel.Constant, error) {
	if err := checkVec(brName, "CrossNorm", "w", w, p.dim); err != nil {
		return bilevel.Constant{}, err
	}
	return bilevel.Constant{Value: p.rho * math.Sqrt(float64(p.tasks)), Kind: bilevel.Exact}, nil
}

// OuterValue returns E = 1/(2mT) Σ_t ‖X_val,t w_t − y_val,t‖².
func (p *BiasReg) OuterValue(w backend.Vector) (float64, error) {
	if err := checkVec(brName, "OuterValue", "w", w, p.dim); err != nil {
		return 0, err
	}
	l := p.loss(true, w)
	return l / (float64(p.m) * float64(p.tasks)), p.b.Err()
}

// OuterGrad sets dst ← ∇_w E, task by task X_val,tᵀ(X_val,t w_t − y_val,t)/(mT).
func (p *BiasReg) OuterGrad(dst, w backend.Vector) error {
	if err := checkVecs(brName, "OuterGrad", "dst", dst, p.dim, "w", w, p.dim); err != nil {
		return err
	}
	p.lossGrad(true, dst, 1/(float64(p.m)*float64(p.tasks)), w)
	return p.b.Err()
}

// OuterHyperGrad sets dst ← ∇_h E = 0 (len d).
func (p *BiasReg) OuterHyperGrad(dst, w backend.Vector) error {
	if err := checkVecs(brName, "OuterHyperGrad", "dst", dst, p.d, "w", w, p.dim); err != nil {
		return err
	}
	p.b.Fill(dst, 0)
	return p.b.Err()
}
