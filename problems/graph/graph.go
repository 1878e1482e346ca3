//go:build !cuda

package graph

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"unsafe"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
)

// Func builds a scalar Gorgonia expression of the inner variable w (a float64
// vector node of length d), the hyperparameters lambda (a float64 vector node
// of length h) and the constant data tensors, one node per Spec.Data entry,
// under the same names. It is called once per compiled graph, each time on
// fresh nodes of a fresh graph, so it must build the same expression every
// time and keep no nodes between calls.
type Func func(w, lambda *G.Node, data map[string]*G.Node) (*G.Node, error)

// Spec is a bilevel problem written as two Gorgonia expressions:
//
//	g(w, λ) = Inner(w, λ, data),   E(w, λ) = Outer(w, λ, data).
//
// g must be twice differentiable and strongly convex in w; E once
// differentiable in w and λ, and twice in w for the L_f estimate.
type Spec struct {
	InnerDim, HyperDim int       // d = len w, h = len λ (both ≥ 1)
	Lambda             []float64 // initial λ (len h, finite)
	// Data are the constant float64 tensors the expressions read. They are
	// shared with the graphs, not copied: the caller must not change them
	// while the Problem is in use.
	Data  map[string]*tensor.Dense
	Inner Func
	Outer Func
	// CertTol is the largest normwise relative disagreement between the
	// graph derivatives and 4-point central finite differences that New
	// accepts (0: DefaultCertTol).
	CertTol float64
	// Seed draws the certification point and directions (0: 1).
	Seed uint64
	// ConstantsAt is the point w (len d) at which Constants estimates μ, L
	// and L_f by Lanczos; nil means w = 0.
	ConstantsAt []float64
}

// DefaultCertTol is the default Spec.CertTol.
const DefaultCertTol = 1e-6

// maxDim bounds d and h so that the host buffers stay bounded.
const maxDim = 1 << 28

// ErrBrokenOp is returned by New for an expression that uses a Gorgonia
// operation whose derivatives Gorgonia v0.9.18 computes wrongly.
var ErrBrokenOp = errors.New("graph: operation with wrong Gorgonia derivatives")

// ErrBackend is returned by New on a backend other than "cpu".
var ErrBackend = errors.New("graph: only the cpu backend is supported")

// ErrCertification is returned by New when a graph derivative disagrees with
// central finite differences by more than Spec.CertTol.
var ErrCertification = errors.New("graph: derivative disagrees with finite differences")

// machine is one compiled graph: the input backings that each run reads
// (w, λ and a direction v) and the values that its Read nodes fill.
type machine struct {
	vm        G.VM
	w, lam, v []float64
	scalar    G.Value   // the expression's value, if read
	out       []G.Value // vector outputs
	zero      bool      // the output is identically zero (no dependence)
	roots     G.Nodes   // the Read nodes: only their ancestors are compiled
}

// run executes the machine: inputs must be in the backings.
func (m *machine) run() (err error) {
	if m.zero {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph: gorgonia panicked: %v", r)
		}
	}()
	m.vm.Reset()
	if err := m.vm.RunAll(); err != nil {
		return fmt.Errorf("graph: gorgonia: %w", err)
	}
	return nil
}

// scalarValue returns the read scalar.
func (m *machine) scalarValue() (float64, error) {
	if m.scalar == nil {
		return 0, errors.New("graph: no value read")
	}
	switch x := m.scalar.Data().(type) {
	case float64:
		return x, nil
	case []float64:
		if len(x) == 1 {
			return x[0], nil
		}
	}
	return 0, fmt.Errorf("graph: expression value is %v, not a float64 scalar", m.scalar.Shape())
}

// vector copies output i into dst.
func (m *machine) vector(i int, dst []float64) error {
	if m.zero {
		clear(dst)
		return nil
	}
	v := m.out[i]
	if v == nil {
		return errors.New("graph: no output read")
	}
	x, ok := v.Data().([]float64)
	if !ok {
		if s, ok := v.Data().(float64); ok && len(dst) == 1 {
			dst[0] = s
			return nil
		}
		return fmt.Errorf("graph: output is %T, not float64", v.Data())
	}
	if len(x) != len(dst) {
		return fmt.Errorf("graph: output has %d values, want %d", len(x), len(dst))
	}
	copy(dst, x)
	return nil
}

func (m *machine) close() {
	if m.vm != nil {
		_ = m.vm.Close()
	}
}

// Problem is a bilevel.Problem (and bilevel.CrossApplier) whose g and E are
// Gorgonia graphs, compiled once into tape machines by New. Every oracle
// copies its backend vectors to the host, runs one tape machine and copies
// the result back; it is not safe for concurrent use.
//
// Derivatives (all exact reverse-mode products, no finite differences):
//
//	∇_w g, ∇_w E, ∇_λ E         Grad of the expression,
//	A v  = ∇_w⟨∇_w g(w, λ), v⟩  (Pearlmutter 1994),
//	Bᵀv  = ∇_λ⟨∇_w g(w, λ), v⟩,
//	B u  = ∇_w⟨∇_λ g(w, λ), u⟩  (equality of mixed partials),
//
// each second derivative built in its own graph and taken after the first
// Grad's cached derivatives are cleared (Gorgonia's Backpropagate otherwise
// reuses them and returns wrong second derivatives). Each machine computes
// only the ancestors of its outputs; a product recomputes the forward pass
// and the first gradient at the linearization point.
type Problem struct {
	hostSide
	d, h   int
	lambda []float64
	spec   Spec

	inner, outer, hess, cross, crossApply, outerHess *machine
	outerLambdaFree                                  bool

	hostW    []float64 // scratch, len d
	hostH    []float64 // scratch, len h
	outD     []float64 // scratch, len d
	consts   *bilevel.Constants
	machines []*machine
}

var (
	_ bilevel.Problem      = (*Problem)(nil)
	_ bilevel.CrossApplier = (*Problem)(nil)
)

// New checks spec, builds and compiles the graphs of g, ∇_w g, E, ∇E, A v,
// Bᵀv, B u and ∇²_ww E v, and certifies every derivative against 4-point
// central finite differences of the graph values at a seeded random point
// w₀ ~ N(0, I/d) and the initial λ, along seeded random unit directions:
//
//	D(f)(x; u) ≈ [f(x−2εu) − 8f(x−εu) + 8f(x+εu) − f(x+2εu)]/(12ε),
//	ε = 10⁻³·max(1, ‖x‖)  (truncation O(ε⁴), rounding O(ϵ_mach/ε)),
//
// accepting a disagreement up to Spec.CertTol normwise relative (for scalar
// directional derivatives, relative to ‖∇f‖, the Cauchy–Schwarz scale). It
// refuses (ErrBrokenOp, naming the operations) expressions that use Slice,
// OuterProd, SoftMax/LogSoftMax, Max (so vector LogSumExp) or a Reshape of
// an input, whose Gorgonia v0.9.18 derivatives are wrong, and backends other
// than "cpu" (ErrBackend). The certification is evidence at one point, not a
// proof for every w. New must not run concurrently with other Gorgonia graph
// construction: Gorgonia shares some constant nodes between graphs.
func New(b backend.Backend, spec Spec) (*Problem, error) {
	if b == nil {
		return nil, errors.New("graph: nil backend")
	}
	if b.Name() != "cpu" {
		return nil, fmt.Errorf("%w (got %q): the graphs run on host slices", ErrBackend, b.Name())
	}
	if err := validate(&spec); err != nil {
		return nil, err
	}
	if spec.ConstantsAt != nil {
		spec.ConstantsAt = append([]float64(nil), spec.ConstantsAt...)
	}
	p := &Problem{
		hostSide: hostSide{b: b, lin: make([]float64, spec.InnerDim)},
		d:        spec.InnerDim, h: spec.HyperDim, spec: spec,
		lambda: append([]float64(nil), spec.Lambda...),
		hostW:  make([]float64, spec.InnerDim),
		hostH:  make([]float64, spec.HyperDim),
		outD:   make([]float64, spec.InnerDim),
	}
	err := p.build()
	if err == nil {
		err = p.certify()
	}
	if err != nil {
		p.closeMachines()
		return nil, err
	}
	return p, nil
}

func validate(s *Spec) error {
	if s.InnerDim < 1 || s.HyperDim < 1 || s.InnerDim > maxDim || s.HyperDim > maxDim {
		return fmt.Errorf("graph: dimensions d = %d, h = %d outside [1, %d]", s.InnerDim, s.HyperDim, maxDim)
	}
	if len(s.Lambda) != s.HyperDim {
		return fmt.Errorf("graph: len(Lambda) = %d, want h = %d", len(s.Lambda), s.HyperDim)
	}
	if err := finite("Lambda", s.Lambda); err != nil {
		return err
	}
	if s.Inner == nil || s.Outer == nil {
		return errors.New("graph: Inner and Outer must be set")
	}
	if s.ConstantsAt != nil {
		if len(s.ConstantsAt) != s.InnerDim {
			return fmt.Errorf("graph: len(ConstantsAt) = %d, want d = %d", len(s.ConstantsAt), s.InnerDim)
		}
		if err := finite("ConstantsAt", s.ConstantsAt); err != nil {
			return err
		}
	}
	if s.CertTol < 0 || math.IsNaN(s.CertTol) {
		return fmt.Errorf("graph: CertTol = %g must be ≥ 0", s.CertTol)
	}
	if s.CertTol == 0 {
		s.CertTol = DefaultCertTol
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	return validateData(s.Data)
}

// validateData checks the data tensors: non-nil, float64, at least one
// dimension, finite values.
func validateData(data map[string]*tensor.Dense) error {
	for name, t := range data {
		if t == nil {
			return fmt.Errorf("graph: data %q is nil", name)
		}
		if t.Dtype() != tensor.Float64 {
			return fmt.Errorf("graph: data %q has dtype %v, want float64", name, t.Dtype())
		}
		if t.Shape().Dims() < 1 {
			return fmt.Errorf("graph: data %q is a scalar; use a length-1 vector", name)
		}
		if err := finite("data "+name, t.Float64s()); err != nil {
			return err
		}
	}
	return nil
}

func finite(name string, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("graph: %s[%d] = %g is not finite", name, i, v)
		}
	}
	return nil
}

// which expression a graph differentiates.
type which int

const (
	innerExpr which = iota
	outerExpr
)

// graphCtx is a fresh graph with its input nodes.
type graphCtx struct {
	g          *G.ExprGraph
	w, lam     *G.Node
	wb, lb     []float64
	data       map[string]*G.Node
	val        *G.Node
	dependsOnL bool // the expression depends on λ
	dependsOnW bool // the expression depends on w
}

// fresh builds a new graph with inputs w, λ and the data, and applies the
// user's function.
func (p *Problem) fresh(e which) (c *graphCtx, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph: building the expression panicked: %v", r)
		}
	}()
	c = &graphCtx{g: G.NewGraph(), wb: make([]float64, p.d), lb: make([]float64, p.h)}
	c.w = G.NewVector(c.g, G.Float64, G.WithShape(p.d), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(p.d), tensor.WithBacking(c.wb))))
	c.lam = G.NewVector(c.g, G.Float64, G.WithShape(p.h), G.WithName("λ"),
		G.WithValue(tensor.New(tensor.WithShape(p.h), tensor.WithBacking(c.lb))))
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
	f := p.spec.Inner
	label := "inner"
	if e == outerExpr {
		f, label = p.spec.Outer, "outer"
	}
	v, err := f(c.w, c.lam, c.data)
	if err != nil {
		return nil, fmt.Errorf("graph: %s expression: %w", label, err)
	}
	if v == nil {
		return nil, fmt.Errorf("graph: %s expression is nil", label)
	}
	if !v.IsScalar() {
		return nil, fmt.Errorf("graph: %s expression has shape %v, want a scalar", label, v.Shape())
	}
	if err := checkOps(c.g); err != nil {
		return nil, fmt.Errorf("%w: %s expression uses %s", ErrBrokenOp, label, err.Error())
	}
	c.val = v
	c.dependsOnW = dependsOn(v, c.w)
	c.dependsOnL = dependsOn(v, c.lam)
	return c, nil
}

// checkOps lists the operations of g whose Gorgonia derivatives are wrong.
func checkOps(g *G.ExprGraph) error {
	var bad []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			bad = append(bad, s)
		}
	}
	for _, n := range g.AllNodes() {
		op := n.Op()
		if op == nil {
			continue
		}
		typ := fmt.Sprintf("%T", op)
		switch {
		case strings.HasSuffix(typ, ".sliceOp"), strings.HasSuffix(typ, ".sliceIncrOp"):
			add("Slice (" + op.String() + ")")
		case strings.HasSuffix(typ, ".softmaxOp"):
			add("SoftMax/LogSoftMax (" + op.String() + ")")
		case strings.HasSuffix(typ, ".maxOp"):
			add("Max or LogSumExp (" + op.String() + ")")
		case strings.HasSuffix(typ, ".linAlgBinOp"):
			ch := children(n)
			if len(ch) == 2 && ch[0].Dims() == 1 && ch[1].Dims() == 1 && n.Dims() == 2 {
				add("OuterProd (" + op.String() + ")")
			}
		case strings.HasSuffix(typ, ".reshapeOp"):
			for _, ch := range children(n) {
				if ch.Op() == nil {
					add("Reshape of input " + ch.Name() + " (" + op.String() + ")")
				}
			}
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, ", "))
	}
	return nil
}

// dependsOn reports whether target is an ancestor of (or is) root.
func dependsOn(root, target *G.Node) bool {
	seen := map[*G.Node]bool{}
	stack := []*G.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == target {
			return true
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		stack = append(stack, children(n)...)
	}
	return false
}

// children returns the operands of n, in order.
func children(n *G.Node) []*G.Node {
	g := n.Graph()
	if g == nil {
		return nil
	}
	it := g.From(n.ID())
	if it == nil {
		return nil
	}
	var out []*G.Node
	for it.Next() {
		if c, ok := it.Node().(*G.Node); ok {
			out = append(out, c)
		}
	}
	return out
}

// derivFields are the reflect indices of Gorgonia's per-node derivative
// cache (Node.deriv and Node.derivOf), or an error if this Gorgonia has none.
var derivFields, derivErr = func() ([2]int, error) {
	t := reflect.TypeOf(G.Node{})
	var idx [2]int
	for i, name := range []string{"deriv", "derivOf"} {
		f, ok := t.FieldByName(name)
		if !ok {
			return idx, fmt.Errorf("graph: gorgonia.Node has no field %q: cannot clear cached derivatives", name)
		}
		idx[i] = f.Index[0]
	}
	return idx, nil
}()

// clearDerivs clears the derivative cache of every node of g, so that the
// next Grad differentiates every node afresh: Backpropagate (Gorgonia
// v0.9.18) skips a node whose deriv is set and adds the cached deriv as its
// gradient, which makes Grad of a gradient wrong.
func clearDerivs(g *G.ExprGraph) error {
	if derivErr != nil {
		return derivErr
	}
	for _, n := range g.AllNodes() {
		v := reflect.ValueOf(n).Elem()
		for _, i := range derivFields {
			f := v.Field(i)
			reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.Zero(f.Type()))
		}
	}
	return nil
}

// compile makes a tape machine of the part of c's graph that the roots
// need: Backpropagate also builds the gradients of the operands that are not
// differentiated (the data), which the machine must not compute.
func compile(c *graphCtx, vin []float64, roots G.Nodes) (m *machine, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph: compiling panicked: %v", r)
		}
	}()
	m = &machine{w: c.wb, lam: c.lb, v: vin}
	m.vm = G.NewTapeMachine(c.g.ExactSubgraphRoots(roots...))
	return m, nil
}

// grad is G.Grad with panics turned into errors.
func grad(cost *G.Node, wrt ...*G.Node) (out G.Nodes, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph: Grad panicked: %v", r)
		}
	}()
	out, err = G.Grad(cost, wrt...)
	if err != nil {
		return nil, fmt.Errorf("graph: Grad: %w", err)
	}
	return out, nil
}

// directional builds s = Σ (gradNode ⊙ v) for a new input v of gradNode's
// length, after clearing the derivative cache.
func directional(c *graphCtx, gradNode *G.Node, n int, name string) (s *G.Node, vb []float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph: building a directional derivative panicked: %v", r)
		}
	}()
	if err := clearDerivs(c.g); err != nil {
		return nil, nil, err
	}
	vb = make([]float64, n)
	v := G.NewVector(c.g, G.Float64, G.WithShape(n), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(vb))))
	prod, err := G.HadamardProd(gradNode, v)
	if err != nil {
		return nil, nil, err
	}
	s, err = G.Sum(prod)
	return s, vb, err
}

// build compiles the six machines.
func (p *Problem) build() error {
	// g and ∇_w g.
	c, err := p.fresh(innerExpr)
	if err != nil {
		return err
	}
	if !c.dependsOnW {
		return errors.New("graph: the inner expression does not depend on w")
	}
	gw, err := grad(c.val, c.w)
	if err != nil {
		return fmt.Errorf("graph: ∇_w g: %w", err)
	}
	m := &machine{out: make([]G.Value, 1)}
	m.roots = G.Nodes{G.Read(c.val, &m.scalar), G.Read(gw[0], &m.out[0])}
	if p.inner, err = p.compileInto(c, m, nil); err != nil {
		return err
	}

	// E, ∇_w E and ∇_λ E.
	if c, err = p.fresh(outerExpr); err != nil {
		return err
	}
	if !c.dependsOnW {
		return errors.New("graph: the outer expression does not depend on w")
	}
	p.outerLambdaFree = !c.dependsOnL
	wrt := G.Nodes{c.w}
	if c.dependsOnL {
		wrt = append(wrt, c.lam)
	}
	ge, err := grad(c.val, wrt...)
	if err != nil {
		return fmt.Errorf("graph: ∇E: %w", err)
	}
	m = &machine{out: make([]G.Value, len(ge))}
	m.roots = G.Nodes{G.Read(c.val, &m.scalar)}
	for i := range ge {
		m.roots = append(m.roots, G.Read(ge[i], &m.out[i]))
	}
	if p.outer, err = p.compileInto(c, m, nil); err != nil {
		return err
	}

	// A v = ∇_w ⟨∇_w g, v⟩.
	if p.hess, err = p.second(innerExpr, "A v", true, false); err != nil {
		return err
	}
	// Bᵀv = ∇_λ ⟨∇_w g, v⟩.
	if p.cross, err = p.second(innerExpr, "Bᵀv", true, true); err != nil {
		return err
	}
	// B u = ∇_w ⟨∇_λ g, u⟩.
	if p.crossApply, err = p.second(innerExpr, "B u", false, false); err != nil {
		return err
	}
	// ∇²_ww E v, for L_f.
	if p.outerHess, err = p.second(outerExpr, "∇²E v", true, false); err != nil {
		return err
	}
	return nil
}

// second builds ∇_y ⟨∇_x f, v⟩ in a fresh graph, f the inner or outer
// expression, x = w (firstW) or λ, y = λ (thenL) or w.
func (p *Problem) second(e which, label string, firstW, thenL bool) (*machine, error) {
	c, err := p.fresh(e)
	if err != nil {
		return nil, err
	}
	x, y := c.lam, c.w
	nx := p.h
	if firstW {
		x, nx = c.w, p.d
	}
	if thenL {
		y = c.lam
	}
	zero := &machine{zero: true}
	if !dependsOn(c.val, x) {
		return zero, nil
	}
	g1, err := grad(c.val, x)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: first derivative: %w", label, err)
	}
	if !dependsOn(g1[0], y) {
		return zero, nil
	}
	s, vb, err := directional(c, g1[0], nx, "v")
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", label, err)
	}
	g2, err := grad(s, y)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: second derivative: %w", label, err)
	}
	m := &machine{out: make([]G.Value, 1)}
	m.roots = G.Nodes{G.Read(g2[0], &m.out[0])}
	return p.compileInto(c, m, vb)
}

// compileInto compiles c's graph into m (whose Read nodes are already in
// the graph) with direction backing vb.
func (p *Problem) compileInto(c *graphCtx, m *machine, vb []float64) (*machine, error) {
	cm, err := compile(c, vb, m.roots)
	if err != nil {
		return nil, err
	}
	m.vm, m.w, m.lam, m.v = cm.vm, cm.w, cm.lam, cm.v
	p.machines = append(p.machines, m)
	return m, nil
}

func (p *Problem) closeMachines() {
	for _, m := range p.machines {
		m.close()
	}
	p.machines = nil
}
