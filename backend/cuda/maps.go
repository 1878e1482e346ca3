//go:build cuda || cudaemu

package cuda

import (
	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// DivElem sets dst ← α·(x ⊘ y) + β·dst; with β = 0, dst ← α·(x ⊘ y)
// (hg_divelem). Any aliasing is allowed.
func (b *Backend) DivElem(dst backend.Vector, alpha float64, x, y backend.Vector, beta float64) {
	const op = "DivElem"
	if !b.ok(op) {
		return
	}
	d, xv, yv := b.v(op, dst), b.v(op, x), b.v(op, y)
	if d == nil || xv == nil || yv == nil || !b.check(op, check.SameLen(d.n, xv.n, yv.n)) || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kDivElem, elemGrid(d.n), i64(d.n), d.p, f64(alpha), xv.p, yv.p, f64(beta))
}

// Map sets dst_i ← f(x_i; c) by the formula of backend.Func.Eval (hg_map,
// which takes f by its value). Any aliasing is allowed.
func (b *Backend) Map(dst backend.Vector, f backend.Func, c float64, x backend.Vector) {
	const op = "Map"
	if !b.ok(op) {
		return
	}
	d, xv := b.v(op, dst), b.v(op, x)
	if d == nil || xv == nil || !b.check(op, check.Map(f, c, d.n, xv.n)) || d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kMap, elemGrid(d.n), i64(d.n), i64(int(f)), f64(c), d.p, xv.p)
}

// ScaleRows sets dst_ij ← v_i·a_ij (hg_scale). dst may alias a.
func (b *Backend) ScaleRows(dst backend.Block, v backend.Vector, a backend.Block) {
	b.scale("ScaleRows", true, dst, a, v)
}

// ScaleCols sets dst_ij ← a_ij·v_j (hg_scale). dst may alias a.
func (b *Backend) ScaleCols(dst backend.Block, a backend.Block, v backend.Vector) {
	b.scale("ScaleCols", false, dst, a, v)
}

// scale is ScaleRows (byRow) and ScaleCols.
func (b *Backend) scale(op string, byRow bool, dst, a backend.Block, v backend.Vector) {
	if !b.ok(op) {
		return
	}
	d, av, vv := b.v(op, dst), b.v(op, a), b.v(op, v)
	if d == nil || av == nil || vv == nil || !b.check(op, check.Scale(byRow, d.operand(), av.operand(), vv.operand())) ||
		d.n == 0 || !b.enter(op) {
		return
	}
	defer b.drv.exit()
	b.launch(op, kScale, elemGrid(d.n), i64(d.n), i64(av.cols), b64(byRow), d.p, av.p, vv.p)
}
