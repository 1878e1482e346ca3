package check

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

func TestCheckSoftmaxGrad(t *testing.T) {
	w, dst, d, p, l := &tb{3, 4}, &tb{3, 4}, &tb{5, 1}, &tb{5, 4}, &tb{5, 1}
	var none *tb
	for _, c := range []struct {
		name          string
		rows, cols    int
		dst, w        *tb
		n, classes    int
		d, prob, loss *tb
		want          want
	}{
		{"all", 5, 3, dst, w, 5, 4, d, p, l, valid},
		{"none optional", 5, 3, dst, w, 5, 4, none, none, none, valid},
		{"W rows", 5, 2, dst, w, 5, 4, d, p, l, want{backend.ErrShape, "X 5×2, W 3×4, 5 labels of 4 classes, dst 3×4, d 5, prob 5×4, loss 5"}},
		{"classes", 5, 3, dst, w, 5, 3, none, none, none, want{backend.ErrShape, "X 5×3, W 3×4, 5 labels of 3 classes, dst 3×4, d nil, prob nil, loss nil"}},
		{"labels", 5, 3, dst, w, 4, 4, none, none, none, want{backend.ErrShape, "X 5×3, W 3×4, 4 labels of 4 classes, dst 3×4, d nil, prob nil, loss nil"}},
		{"dst", 5, 3, &tb{4, 3}, w, 5, 4, none, none, none, want{backend.ErrShape, "X 5×3, W 3×4, 5 labels of 4 classes, dst 4×3, d nil, prob nil, loss nil"}},
		{"prob", 5, 3, dst, w, 5, 4, none, &tb{4, 4}, none, want{backend.ErrShape, "X 5×3, W 3×4, 5 labels of 4 classes, dst 3×4, d nil, prob 4×4, loss nil"}},
		{"d", 5, 3, dst, w, 5, 4, &tb{4, 1}, none, none, want{backend.ErrShape, "X 5×3, W 3×4, 5 labels of 4 classes, dst 3×4, d 4, prob nil, loss nil"}},
		{"loss", 5, 3, dst, w, 5, 4, none, none, &tb{3, 1}, want{backend.ErrShape, "X 5×3, W 3×4, 5 labels of 4 classes, dst 3×4, d nil, prob nil, loss 3"}},
	} {
		checkViolation(t, c.name, SoftmaxGrad(c.rows, c.cols, ob(c.dst), ob(c.w), c.n, c.classes, ob(c.d), ob(c.prob), ob(c.loss)), c.want)
	}
	// Square shapes with one class, so that every operand could be any other.
	a, b, e, f, g := &tb{5, 1}, &tb{5, 1}, &tb{5, 1}, &tb{5, 1}, &tb{5, 1}
	sg := func(dst, w, d, prob, loss *tb) Violation {
		return SoftmaxGrad(5, 5, ob(dst), ob(w), 5, 1, ob(d), ob(prob), ob(loss))
	}
	checkViolation(t, "distinct", sg(a, b, e, f, g), valid)
	checkViolation(t, "dst is W", sg(a, a, e, f, g), want{backend.ErrAlias, "dst is W"})
	checkViolation(t, "dst is d", sg(a, b, a, f, g), want{backend.ErrAlias, "dst is d"})
	checkViolation(t, "dst is prob", sg(a, b, e, a, g), want{backend.ErrAlias, "dst is prob"})
	checkViolation(t, "dst is loss", sg(a, b, e, f, a), want{backend.ErrAlias, "dst is loss"})
	checkViolation(t, "prob is W", sg(a, b, e, b, g), want{backend.ErrAlias, "prob is W"})
	checkViolation(t, "prob is d", sg(a, b, e, e, g), want{backend.ErrAlias, "prob is d"})
	checkViolation(t, "prob is loss", sg(a, b, e, f, f), want{backend.ErrAlias, "prob is loss"})
	checkViolation(t, "loss is W", sg(a, b, e, none, b), want{backend.ErrAlias, "loss is W"})
	checkViolation(t, "loss is d", sg(a, b, e, none, e), want{backend.ErrAlias, "loss is d"})
	checkViolation(t, "W is d (both read)", sg(a, b, b, f, g), valid)
}

func TestCheckSoftmaxHessBlock(t *testing.T) {
	p, v, dst, d := &tb{5, 4}, &tb{3, 4}, &tb{3, 4}, &tb{5, 1}
	var none *tb
	checkViolation(t, "valid", SoftmaxHessBlock(5, 3, ob(dst), ob(p), ob(d), ob(v)), valid)
	checkViolation(t, "no d", SoftmaxHessBlock(5, 3, ob(dst), ob(p), ob(none), ob(v)), valid)
	checkViolation(t, "P rows", SoftmaxHessBlock(4, 3, ob(dst), ob(p), ob(none), ob(v)), want{backend.ErrShape, "X 4×3, P 5×4, V 3×4, dst 3×4, d nil"})
	checkViolation(t, "V", SoftmaxHessBlock(5, 3, ob(dst), ob(p), ob(none), ob(&tb{3, 3})), want{backend.ErrShape, "X 5×3, P 5×4, V 3×3, dst 3×4, d nil"})
	checkViolation(t, "d", SoftmaxHessBlock(5, 3, ob(dst), ob(p), ob(&tb{3, 1}), ob(v)), want{backend.ErrShape, "X 5×3, P 5×4, V 3×4, dst 3×4, d 3"})
	sq := &tb{5, 1}
	checkViolation(t, "dst is V", SoftmaxHessBlock(5, 5, ob(sq), ob(&tb{5, 1}), ob(none), ob(sq)), want{backend.ErrAlias, "dst is V"})
	checkViolation(t, "dst is P", SoftmaxHessBlock(5, 5, ob(sq), ob(sq), ob(none), ob(&tb{5, 1})), want{backend.ErrAlias, "dst is P"})
	checkViolation(t, "dst is d", SoftmaxHessBlock(5, 5, ob(sq), ob(&tb{5, 1}), ob(sq), ob(&tb{5, 1})), want{backend.ErrAlias, "dst is d"})
}
