//go:build !cuda

package graph

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// HyperBlock is one named block of the hyperparameters of a FixedPointSpec:
// a Rows×Cols matrix node (Cols = 0: a vector node of length Rows).
type HyperBlock struct {
	Name       string
	Rows, Cols int
}

// size returns the number of values of the block.
func (b HyperBlock) size() int { return b.Rows * max(b.Cols, 1) }

// shape returns the Gorgonia shape of the block's node.
func (b HyperBlock) shape() []int {
	if b.Cols == 0 {
		return []int{b.Rows}
	}
	return []int{b.Rows, b.Cols}
}

// FixedPointFunc builds a Gorgonia expression of the state w (a float64
// node of the shape FixedPointSpec declares), the hyperparameter blocks
// (one node per FixedPointSpec.Hyper entry, under its name) and the
// constant data tensors (one node per FixedPointSpec.Data entry, under its
// name). Like Func, it is called once per compiled graph on fresh nodes of
// a fresh graph: it must build the same expression every time and keep no
// nodes between calls.
type FixedPointFunc func(w *G.Node, lambda, data map[string]*G.Node) (*G.Node, error)

// FixedPointSpec is a fixed-point problem (bilevel.FixedPoint) written as
// two Gorgonia expressions:
//
//	w = Φ(w, λ) = Map(w, λ, data)   (a node of w's shape),
//	E(w, λ)     = Outer(w, λ, data) (a scalar).
//
// The state w is a Rows×Cols matrix node (Cols = 0: a vector of length
// Rows), d = Rows·max(Cols, 1), flattened row-major into the vectors of the
// bilevel.FixedPoint oracles. Gorgonia v0.9.18 differentiates a Reshape of
// an input wrongly, so a matrix-shaped state is declared here and its node
// built with that shape directly, not reshaped from a vector. λ is the
// row-major concatenation of the Hyper blocks, in order (h = Σ sizes), for
// the same reason (and because Slice is refused): each block is its own
// input node.
type FixedPointSpec struct {
	Rows, Cols int
	Hyper      []HyperBlock
	Lambda     []float64 // initial λ (len h, finite)
	// Data are the constant float64 tensors the expressions read, shared
	// with the graphs (not copied): the caller must not change them while
	// the problem is in use.
	Data  map[string]*tensor.Dense
	Map   FixedPointFunc
	Outer FixedPointFunc
	// CertTol is the largest normwise relative disagreement between the
	// graph derivatives and 4-point central finite differences that
	// NewFixedPoint accepts (0: DefaultCertTol).
	CertTol float64
	// Seed draws the certification point and directions and the start of
	// the power iteration (0: 1).
	Seed uint64
	// ContractionAt is the point w (len d) at which Contraction estimates
	// ‖∂_wΦ‖₂; nil means w = Φ(0, λ), a point in the range of Φ.
	ContractionAt []float64
	// PowerIters bounds the power iteration of Contraction, each step one
	// J u and one Jᵀu (0: DefaultPowerIters; negative: no estimate,
	// Contraction returns the Unknown zero Constant).
	PowerIters int
}

// DefaultPowerIters is the default FixedPointSpec.PowerIters.
const DefaultPowerIters = 30

// powerTol is the relative change of σ_k that stops the power iteration.
const powerTol = 1e-6

// maxPowerIters bounds FixedPointSpec.PowerIters.
const maxPowerIters = 1 << 20

// fpMachine is a compiled graph of a fixed-point problem with the backings
// of its inputs: w (len d), λ (len h, each block node backed by its part),
// and a direction (len d or h, or nil).
type fpMachine struct {
	m    *machine
	outs []int // block index of each vector output, −1 for w-shaped
}

// FixedPointProblem is a bilevel.FixedPoint (and bilevel.Contractor) whose
// Φ and E are Gorgonia graphs, compiled once by NewFixedPoint. With
// J = ∂_wΦ (d×d) and K = ∂_λΦ (d×h) at the linearization point,
//
//	Jᵀu = ∇_w⟨Φ(w, λ), u⟩,   Kᵀu = ∇_λ⟨Φ(w, λ), u⟩        (one Grad),
//	J u = ∇_z⟨∇_w⟨Φ, z⟩, u⟩,  K u = ∇_z⟨∇_λ⟨Φ, z⟩, u⟩     (double reverse),
//
// the forward products by the double-reverse trick: ∇_w⟨Φ, z⟩ = Jᵀz is
// linear in z, so its inner product with u has gradient J u in z (at any
// z; the graphs evaluate it at z = 0). The second Grad is taken after the
// first Grad's cached derivatives are cleared (see Problem). Every oracle
// copies its operands to host slices, runs one tape machine and copies the
// result back; it is not safe for concurrent use.
type FixedPointProblem struct {
	hostSide
	spec   FixedPointSpec
	d, h   int
	offs   []int // offset of each block in λ
	lambda []float64

	mapM, outerM, jt, kt, jv, kv *fpMachine
	phiLambdaFree, outerLFree    bool

	hostW []float64 // scratch, len d
	hostU []float64 // scratch, len d
	hostH []float64 // scratch, len h
	outD  []float64 // scratch, len d
	q     *bilevel.Constant
	all   []*fpMachine
}

var (
	_ bilevel.FixedPoint = (*FixedPointProblem)(nil)
	_ bilevel.Contractor = (*FixedPointProblem)(nil)
)

// NewFixedPoint checks spec, builds and compiles the graphs of Φ, E with
// ∇_wE and ∇_λE, Jᵀu, Kᵀu, J u and K u, and certifies every derivative
// against 4-point central finite differences of the graph values at a seeded
// random point w₀ ~ N(0, I/d) and the initial λ, along seeded random unit
// directions, as New does:
//
//	J v      against the differences of Φ along v in w,
//	⟨Jᵀu, v⟩ against ⟨u, those differences⟩,
//	K r      against the differences of Φ along r in λ,
//	⟨Kᵀu, r⟩ against ⟨u, those differences⟩,
//	⟨∇_wE, v⟩, ⟨∇_λE, r⟩ against the differences of E,
//
// accepting a normwise relative disagreement up to Spec.CertTol. It refuses
// the operations New refuses (ErrBrokenOp), backends other than "cpu"
// (ErrBackend), a Φ of another shape than w, and a Φ or E that does not
// depend on w. The certification is evidence at one point, not a proof for
// every w. NewFixedPoint must not run concurrently with other Gorgonia
// graph construction.
func NewFixedPoint(b backend.Backend, spec FixedPointSpec) (*FixedPointProblem, error) {
	if b == nil {
		return nil, errors.New("graph: nil backend")
	}
	if b.Name() != "cpu" {
		return nil, fmt.Errorf("%w (got %q): the graphs run on host slices", ErrBackend, b.Name())
	}
	d, h, offs, err := validateFP(&spec)
	if err != nil {
		return nil, err
	}
	p := &FixedPointProblem{
		hostSide: hostSide{b: b, lin: make([]float64, d)},
		spec:     spec, d: d, h: h, offs: offs,
		lambda: append([]float64(nil), spec.Lambda...),
		hostW:  make([]float64, d),
		hostU:  make([]float64, d),
		hostH:  make([]float64, h),
		outD:   make([]float64, d),
	}
	err = p.build()
	if err == nil {
		err = p.certify()
	}
	if err != nil {
		p.closeMachines()
		return nil, err
	}
	return p, nil
}

func validateFP(s *FixedPointSpec) (d, h int, offs []int, err error) {
	if s.Rows < 1 || s.Cols < 0 || s.Rows > maxDim || s.Cols > maxDim/s.Rows {
		return 0, 0, nil, fmt.Errorf("graph: state shape %d×%d: want Rows ≥ 1, Cols ≥ 0, Rows·Cols ≤ %d", s.Rows, s.Cols, maxDim)
	}
	d = s.Rows * max(s.Cols, 1)
	if len(s.Hyper) == 0 {
		return 0, 0, nil, errors.New("graph: no hyperparameter blocks (Hyper)")
	}
	seen := map[string]bool{}
	for i, blk := range s.Hyper {
		if blk.Name == "" || seen[blk.Name] {
			return 0, 0, nil, fmt.Errorf("graph: Hyper[%d]: name %q empty or repeated", i, blk.Name)
		}
		seen[blk.Name] = true
		if blk.Rows < 1 || blk.Cols < 0 || blk.Rows > maxDim || blk.Cols > maxDim/blk.Rows || blk.size() > maxDim-h {
			return 0, 0, nil, fmt.Errorf("graph: Hyper[%d] (%s): shape %d×%d outside the bounds (h ≤ %d)", i, blk.Name, blk.Rows, blk.Cols, maxDim)
		}
		offs = append(offs, h)
		h += blk.size()
	}
	if len(s.Lambda) != h {
		return 0, 0, nil, fmt.Errorf("graph: len(Lambda) = %d, want h = %d", len(s.Lambda), h)
	}
	if err := finite("Lambda", s.Lambda); err != nil {
		return 0, 0, nil, err
	}
	if s.Map == nil || s.Outer == nil {
		return 0, 0, nil, errors.New("graph: Map and Outer must be set")
	}
	if s.ContractionAt != nil {
		if len(s.ContractionAt) != d {
			return 0, 0, nil, fmt.Errorf("graph: len(ContractionAt) = %d, want d = %d", len(s.ContractionAt), d)
		}
		if err := finite("ContractionAt", s.ContractionAt); err != nil {
			return 0, 0, nil, err
		}
		s.ContractionAt = append([]float64(nil), s.ContractionAt...)
	}
	if s.CertTol < 0 || math.IsNaN(s.CertTol) {
		return 0, 0, nil, fmt.Errorf("graph: CertTol = %g must be ≥ 0", s.CertTol)
	}
	if s.CertTol == 0 {
		s.CertTol = DefaultCertTol
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	if s.PowerIters > maxPowerIters {
		return 0, 0, nil, fmt.Errorf("graph: PowerIters = %d above %d", s.PowerIters, maxPowerIters)
	}
	if s.PowerIters == 0 {
		s.PowerIters = DefaultPowerIters
	}
	if err := validateData(s.Data); err != nil {
		return 0, 0, nil, err
	}
	return d, h, offs, nil
}

// fpGraph is a fresh graph of a fixed-point problem with its input nodes.
type fpGraph struct {
	c      *graphCtx // g, w (the state node), wb, lb, data
	blocks []*G.Node // the λ block nodes, in Hyper order
	val    *G.Node   // Φ or E
}

// fresh builds a new graph with inputs w, the λ blocks (backed by parts of
// one slice of length h) and the data, and applies Map (outer false) or
// Outer.
func (p *FixedPointProblem) fresh(outer bool) (f *fpGraph, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph: building the expression panicked: %v", r)
		}
	}()
	c := &graphCtx{g: G.NewGraph(), wb: make([]float64, p.d), lb: make([]float64, p.h)}
	c.w = p.stateNode(c.g, "w", c.wb)
	f = &fpGraph{c: c}
	lam := make(map[string]*G.Node, len(p.spec.Hyper))
	for i, blk := range p.spec.Hyper {
		n := p.blockNode(c.g, i, "λ:"+blk.Name, c.lb[p.offs[i]:p.offs[i]+blk.size()])
		f.blocks = append(f.blocks, n)
		lam[blk.Name] = n
	}
	c.data = make(map[string]*G.Node, len(p.spec.Data))
	names := make([]string, 0, len(p.spec.Data))
	for name := range p.spec.Data {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := p.spec.Data[name]
		c.data[name] = G.NewTensor(c.g, G.Float64, t.Shape().Dims(), G.WithShape(t.Shape()...),
			G.WithName("data:"+name), G.WithValue(t))
	}
	fn, label := p.spec.Map, "map"
	if outer {
		fn, label = p.spec.Outer, "outer"
	}
	v, err := fn(c.w, lam, c.data)
	if err != nil {
		return nil, fmt.Errorf("graph: %s expression: %w", label, err)
	}
	if v == nil {
		return nil, fmt.Errorf("graph: %s expression is nil", label)
	}
	if outer {
		if !v.IsScalar() {
			return nil, fmt.Errorf("graph: outer expression has shape %v, want a scalar", v.Shape())
		}
	} else if !sameShape(v.Shape(), c.w.Shape()) {
		return nil, fmt.Errorf("graph: map expression has shape %v, want the state's %v", v.Shape(), c.w.Shape())
	}
	if err := checkOps(c.g); err != nil {
		return nil, fmt.Errorf("%w: %s expression uses %s", ErrBrokenOp, label, err.Error())
	}
	if !dependsOn(v, c.w) {
		return nil, fmt.Errorf("graph: the %s expression does not depend on w", label)
	}
	f.val = v
	return f, nil
}

func sameShape(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// stateNode is an input node of the state's shape backed by buf (len d).
func (p *FixedPointProblem) stateNode(g *G.ExprGraph, name string, buf []float64) *G.Node {
	if p.spec.Cols == 0 {
		return G.NewVector(g, G.Float64, G.WithShape(p.d), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(p.d), tensor.WithBacking(buf))))
	}
	r, c := p.spec.Rows, p.spec.Cols
	return G.NewMatrix(g, G.Float64, G.WithShape(r, c), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(buf))))
}

// blockNode is an input node of block i's shape backed by buf.
func (p *FixedPointProblem) blockNode(g *G.ExprGraph, i int, name string, buf []float64) *G.Node {
	sh := p.spec.Hyper[i].shape()
	if len(sh) == 1 {
		return G.NewVector(g, G.Float64, G.WithShape(sh...), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(sh...), tensor.WithBacking(buf))))
	}
	return G.NewMatrix(g, G.Float64, G.WithShape(sh...), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(sh...), tensor.WithBacking(buf))))
}

// innerProd is Σ(a ⊙ b).
func innerProd(a, b *G.Node) (*G.Node, error) {
	prod, err := G.HadamardProd(a, b)
	if err != nil {
		return nil, err
	}
	return G.Sum(prod)
}

// lambdaDeps returns the indices of the λ blocks that n depends on.
func lambdaDeps(n *G.Node, blocks []*G.Node) []int {
	var out []int
	for i, b := range blocks {
		if dependsOn(n, b) {
			out = append(out, i)
		}
	}
	return out
}

// build compiles the six machines.
func (p *FixedPointProblem) build() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph: building the graphs panicked: %v", r)
		}
	}()
	// Φ.
	f, err := p.fresh(false)
	if err != nil {
		return err
	}
	p.phiLambdaFree = len(lambdaDeps(f.val, f.blocks)) == 0
	m := &machine{out: make([]G.Value, 1)}
	m.roots = G.Nodes{G.Read(f.val, &m.out[0])}
	if p.mapM, err = p.compileFP(f, m, nil, []int{-1}); err != nil {
		return err
	}

	// E, ∇_w E, ∇_λ E (the blocks E depends on).
	if f, err = p.fresh(true); err != nil {
		return err
	}
	deps := lambdaDeps(f.val, f.blocks)
	p.outerLFree = len(deps) == 0
	wrt := G.Nodes{f.c.w}
	outs := []int{-1}
	for _, i := range deps {
		wrt = append(wrt, f.blocks[i])
		outs = append(outs, i)
	}
	ge, err := grad(f.val, wrt...)
	if err != nil {
		return fmt.Errorf("graph: ∇E: %w", err)
	}
	m = &machine{out: make([]G.Value, len(ge))}
	m.roots = G.Nodes{G.Read(f.val, &m.scalar)}
	for i := range ge {
		m.roots = append(m.roots, G.Read(ge[i], &m.out[i]))
	}
	if p.outerM, err = p.compileFP(f, m, nil, outs); err != nil {
		return err
	}

	if p.jt, err = p.transposed(false); err != nil {
		return err
	}
	if p.kt, err = p.transposed(true); err != nil {
		return err
	}
	if p.jv, err = p.forward(false); err != nil {
		return err
	}
	p.kv, err = p.forward(true)
	return err
}

// transposed builds Jᵀu = ∇_w⟨Φ, u⟩ (hyper false) or Kᵀu = ∇_λ⟨Φ, u⟩.
func (p *FixedPointProblem) transposed(hyper bool) (*fpMachine, error) {
	label := "Jᵀu"
	if hyper {
		label = "Kᵀu"
	}
	f, err := p.fresh(false)
	if err != nil {
		return nil, err
	}
	ub := make([]float64, p.d)
	u := p.stateNode(f.c.g, "u", ub)
	s, err := innerProd(f.val, u)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", label, err)
	}
	wrt := G.Nodes{f.c.w}
	outs := []int{-1}
	if hyper {
		wrt, outs = nil, nil
		for _, i := range lambdaDeps(f.val, f.blocks) {
			wrt = append(wrt, f.blocks[i])
			outs = append(outs, i)
		}
		if len(wrt) == 0 {
			return &fpMachine{m: &machine{zero: true}}, nil
		}
	}
	gs, err := grad(s, wrt...)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", label, err)
	}
	m := &machine{out: make([]G.Value, len(gs))}
	for i := range gs {
		m.roots = append(m.roots, G.Read(gs[i], &m.out[i]))
	}
	return p.compileFP(f, m, ub, outs)
}

// forward builds J u = ∇_z⟨∇_w⟨Φ, z⟩, u⟩ (hyper false, u len d) or
// K u = ∇_z Σ_b ⟨∇_{λ_b}⟨Φ, z⟩, u_b⟩ (u len h, one node per block), with
// z a w-shaped input held at 0 and the derivative cache cleared between
// the two Grads.
func (p *FixedPointProblem) forward(hyper bool) (*fpMachine, error) {
	label := "J u"
	if hyper {
		label = "K u"
	}
	f, err := p.fresh(false)
	if err != nil {
		return nil, err
	}
	g := f.c.g
	z := p.stateNode(g, "z", make([]float64, p.d))
	s, err := innerProd(f.val, z)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", label, err)
	}
	wrt := G.Nodes{f.c.w}
	idx := []int{-1}
	if hyper {
		wrt, idx = nil, nil
		for _, i := range lambdaDeps(f.val, f.blocks) {
			wrt = append(wrt, f.blocks[i])
			idx = append(idx, i)
		}
		if len(wrt) == 0 {
			return &fpMachine{m: &machine{zero: true}}, nil
		}
	}
	g1, err := grad(s, wrt...)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: first derivative: %w", label, err)
	}
	if err := clearDerivs(g); err != nil {
		return nil, err
	}
	n := p.d
	if hyper {
		n = p.h
	}
	ub := make([]float64, n)
	var t *G.Node
	for j, i := range idx {
		var u *G.Node
		if i < 0 {
			u = p.stateNode(g, "u", ub)
		} else {
			blk := p.spec.Hyper[i]
			u = p.blockNode(g, i, "u:"+blk.Name, ub[p.offs[i]:p.offs[i]+blk.size()])
		}
		tj, err := innerProd(g1[j], u)
		if err != nil {
			return nil, fmt.Errorf("graph: %s: %w", label, err)
		}
		if t == nil {
			t = tj
		} else if t, err = G.Add(t, tj); err != nil {
			return nil, fmt.Errorf("graph: %s: %w", label, err)
		}
	}
	if !dependsOn(t, z) {
		return &fpMachine{m: &machine{zero: true}}, nil
	}
	g2, err := grad(t, z)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: second derivative: %w", label, err)
	}
	m := &machine{out: make([]G.Value, 1)}
	m.roots = G.Nodes{G.Read(g2[0], &m.out[0])}
	return p.compileFP(f, m, ub, []int{-1})
}

// compileFP compiles f's graph into m (whose Read nodes are in the graph)
// with direction backing vb; outs names the block of each vector output.
func (p *FixedPointProblem) compileFP(f *fpGraph, m *machine, vb []float64, outs []int) (*fpMachine, error) {
	cm, err := compile(f.c, vb, m.roots)
	if err != nil {
		return nil, err
	}
	m.vm, m.w, m.lam, m.v = cm.vm, cm.w, cm.lam, cm.v
	fm := &fpMachine{m: m, outs: outs}
	p.all = append(p.all, fm)
	return fm, nil
}

func (p *FixedPointProblem) closeMachines() {
	for _, m := range p.all {
		m.m.close()
	}
	p.all = nil
}

// runHost runs fm at the host point w and the current λ with direction v
// (nil: none), and gathers its vector outputs from index first on into dst:
// a w-shaped output fills dst (len d); block outputs fill their parts of
// dst (len h), the other blocks are set to zero.
func (p *FixedPointProblem) runHost(fm *fpMachine, dst, w, v []float64, first int) error {
	if err := p.live(); err != nil {
		return err
	}
	m := fm.m
	if m.zero {
		clear(dst)
		return nil
	}
	if v != nil {
		copy(m.v, v)
	}
	copy(m.w, w)
	copy(m.lam, p.lambda)
	if err := m.run(); err != nil {
		return err
	}
	if dst == nil {
		return nil
	}
	if len(fm.outs) > first && fm.outs[first] < 0 {
		return m.vector(first, dst)
	}
	return p.gatherBlocks(fm, dst, first)
}

// Backend returns the backend of the problem's vectors.
func (p *FixedPointProblem) Backend() backend.Backend { return p.b }

// InnerDim returns d = Rows·max(Cols, 1).
func (p *FixedPointProblem) InnerDim() int { return p.d }

// HyperDim returns h, the total size of the Hyper blocks.
func (p *FixedPointProblem) HyperDim() int { return p.h }

// Hyper copies λ into dst.
func (p *FixedPointProblem) Hyper(dst []float64) { copy(dst, p.lambda) }

// SetHyper moves the problem to λ (len h, finite). The linearization point
// is kept: the Jacobian products then differentiate at the new λ. The
// contraction estimate is recomputed at the next Contraction.
func (p *FixedPointProblem) SetHyper(lambda []float64) error {
	if err := p.live(); err != nil {
		return err
	}
	if len(lambda) != p.h {
		return fmt.Errorf("graph: SetHyper: len(λ) = %d, want %d", len(lambda), p.h)
	}
	if err := finite("λ", lambda); err != nil {
		return err
	}
	copy(p.lambda, lambda)
	p.q = nil
	return nil
}

// Close releases the tape machines; the backend and the data stay.
func (p *FixedPointProblem) Close() error {
	if !p.closed {
		p.closed = true
		p.closeMachines()
	}
	return nil
}

// Map sets dst ← Φ(w, λ).
func (p *FixedPointProblem) Map(dst, w backend.Vector) error {
	if err := checkVec("Map", "dst", dst, p.d); err != nil {
		return err
	}
	if err := checkVec("Map", "w", w, p.d); err != nil {
		return err
	}
	if err := p.download(p.hostW, w); err != nil {
		return err
	}
	if err := p.runHost(p.mapM, p.outD, p.hostW, nil, 0); err != nil {
		return err
	}
	return p.upload(dst, p.outD)
}

// Linearize keeps a copy of w for the Jacobian products.
func (p *FixedPointProblem) Linearize(w backend.Vector) error { return p.linearize(w) }

// product runs fm at the linearization point with direction u (len h if
// hyperIn, else d) and writes its output (len h if hyperOut, else d) to dst.
func (p *FixedPointProblem) product(oracle string, fm *fpMachine, dst, u backend.Vector, hyperIn, hyperOut bool) error {
	in, out := p.hostU, p.outD
	if hyperIn {
		in = p.hostH
	}
	if hyperOut {
		out = p.hostH
	}
	if err := checkVec(oracle, "dst", dst, len(out)); err != nil {
		return err
	}
	if err := checkVec(oracle, "u", u, len(in)); err != nil {
		return err
	}
	if !p.linOK {
		return fmt.Errorf("graph: %s before Linearize", oracle)
	}
	if err := p.download(in, u); err != nil {
		return err
	}
	if err := p.runHost(fm, out, p.lin, in, 0); err != nil {
		return err
	}
	return p.upload(dst, out)
}

// JacVec sets dst ← J u = ∇_z⟨∇_w⟨Φ(w, λ), z⟩, u⟩ at the linearization point.
func (p *FixedPointProblem) JacVec(dst, u backend.Vector) error {
	return p.product("JacVec", p.jv, dst, u, false, false)
}

// JacTransVec sets dst ← Jᵀu = ∇_w⟨Φ(w, λ), u⟩ at the linearization point.
func (p *FixedPointProblem) JacTransVec(dst, u backend.Vector) error {
	return p.product("JacTransVec", p.jt, dst, u, false, false)
}

// HyperJacTransVec sets dst ← Kᵀu = ∇_λ⟨Φ(w, λ), u⟩ (len dst = h; zero in
// the blocks Φ does not depend on) at the linearization point.
func (p *FixedPointProblem) HyperJacTransVec(dst, u backend.Vector) error {
	return p.product("HyperJacTransVec", p.kt, dst, u, false, true)
}

// HyperJacVec sets dst ← K u = ∇_z⟨∇_λ⟨Φ(w, λ), z⟩, u⟩ (len u = h) at the
// linearization point.
func (p *FixedPointProblem) HyperJacVec(dst, u backend.Vector) error {
	return p.product("HyperJacVec", p.kv, dst, u, true, false)
}

// runOuter runs the E machine at w (a backend vector).
func (p *FixedPointProblem) runOuter(oracle string, w backend.Vector) error {
	if err := checkVec(oracle, "w", w, p.d); err != nil {
		return err
	}
	if err := p.download(p.hostW, w); err != nil {
		return err
	}
	return p.runHost(p.outerM, nil, p.hostW, nil, 0)
}

// OuterValue returns E(w, λ).
func (p *FixedPointProblem) OuterValue(w backend.Vector) (float64, error) {
	if err := p.runOuter("OuterValue", w); err != nil {
		return 0, err
	}
	return p.outerM.m.scalarValue()
}

// OuterGrad sets dst ← ∇_w E(w, λ).
func (p *FixedPointProblem) OuterGrad(dst, w backend.Vector) error {
	if err := checkVec("OuterGrad", "dst", dst, p.d); err != nil {
		return err
	}
	if err := p.runOuter("OuterGrad", w); err != nil {
		return err
	}
	if err := p.outerM.m.vector(0, p.outD); err != nil {
		return err
	}
	return p.upload(dst, p.outD)
}

// OuterHyperGrad sets dst ← ∇_λ E(w, λ) (zero in the blocks E does not
// depend on).
func (p *FixedPointProblem) OuterHyperGrad(dst, w backend.Vector) error {
	if err := checkVec("OuterHyperGrad", "dst", dst, p.h); err != nil {
		return err
	}
	if err := p.runOuter("OuterHyperGrad", w); err != nil {
		return err
	}
	if err := p.gatherBlocks(p.outerM, p.hostH, 1); err != nil {
		return err
	}
	return p.upload(dst, p.hostH)
}

// gatherBlocks copies the block outputs of fm from index first on into dst
// (len h), zero in the other blocks; fm has just run.
func (p *FixedPointProblem) gatherBlocks(fm *fpMachine, dst []float64, first int) error {
	clear(dst)
	for j := first; j < len(fm.outs); j++ {
		i := fm.outs[j]
		if i < 0 {
			return errors.New("graph: a w-shaped output among the λ-block outputs")
		}
		if err := fm.m.vector(j, dst[p.offs[i]:p.offs[i]+p.spec.Hyper[i].size()]); err != nil {
			return err
		}
	}
	return nil
}

// Contraction returns an estimate (Kind Estimate) of ‖∂_wΦ(w₀, λ)‖₂ at the
// point w₀ = Spec.ContractionAt (Φ(0, λ) by default) and the current λ:
// the power iteration on JᵀJ (J = ∂_wΦ(w₀, λ)),
//
//	v_{k+1} = JᵀJ v_k / ‖JᵀJ v_k‖,   σ_k = ‖J v_k‖  (‖v_k‖ = 1),
//
// from a seeded random v₀, for at most Spec.PowerIters steps or until σ_k
// changes by at most 10⁻⁶ relative; it returns max_k σ_k. Each σ_k is
// at most ‖J‖₂, so the estimate is from below, and it is the norm at one
// point: a contraction constant of Φ(·, λ) is sup_w ‖∂_wΦ(w, λ)‖₂ over
// the segments between iterates, which the estimate does not bound. Package
// hypergrad therefore does not use it to stop a diverging iteration (it
// trusts only Kind Bound or Exact). The estimate is computed at the first
// call after NewFixedPoint or SetHyper (package hypergrad calls it at the
// start of every estimate) and kept; with Spec.PowerIters < 0 it is not
// computed and Contraction returns the zero Constant (Kind Unknown).
func (p *FixedPointProblem) Contraction() (bilevel.Constant, error) {
	if err := p.live(); err != nil {
		return bilevel.Constant{}, err
	}
	if p.spec.PowerIters < 0 {
		return bilevel.Constant{}, nil
	}
	if p.q != nil {
		return *p.q, nil
	}
	at := p.spec.ContractionAt
	if at == nil {
		at = make([]float64, p.d)
		if err := p.runHost(p.mapM, at, make([]float64, p.d), nil, 0); err != nil {
			return bilevel.Constant{}, fmt.Errorf("graph: Contraction: Φ(0, λ): %w", err)
		}
	}
	rng := rand.New(rand.NewPCG(p.spec.Seed, 0x706f776572))
	v := unit(rng, p.d)
	jv := make([]float64, p.d)
	jtjv := make([]float64, p.d)
	best, prev := 0.0, math.NaN()
	for k := 0; k < p.spec.PowerIters; k++ {
		if err := p.runHost(p.jv, jv, at, v, 0); err != nil {
			return bilevel.Constant{}, fmt.Errorf("graph: Contraction: J v: %w", err)
		}
		sigma := norm(jv)
		if math.IsNaN(sigma) || math.IsInf(sigma, 0) {
			return bilevel.Constant{}, fmt.Errorf("graph: Contraction: ‖J v‖ = %v", sigma)
		}
		best = math.Max(best, sigma)
		if sigma == 0 || math.Abs(sigma-prev) <= powerTol*sigma {
			break
		}
		prev = sigma
		if err := p.runHost(p.jt, jtjv, at, jv, 0); err != nil {
			return bilevel.Constant{}, fmt.Errorf("graph: Contraction: Jᵀu: %w", err)
		}
		s := norm(jtjv)
		if s == 0 {
			break
		}
		for i := range v {
			v[i] = jtjv[i] / s
		}
	}
	q := bilevel.Constant{Value: best, Kind: bilevel.Estimate}
	p.q = &q
	return q, nil
}
