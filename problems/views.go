package problems

import (
	"reflect"

	"github.com/hypergrad-go/hypergrad/backend"
)

// blockViews keeps the rows×cols views (backend.Reshape) of the last
// blockViewsKept caller vectors, so that oracles called again and again with
// the same few vectors, as the estimators do, reuse their views instead of
// allocating new ones on every call. A vector that already is a rows×cols
// block is its own view. Only vectors of pointer type are kept: the others
// cannot be told apart by identity. The zero value is empty and ready.
type blockViews struct {
	kept [blockViewsKept]blockView
	next int
}

// blockViewsKept is the number of views a blockViews keeps.
const blockViewsKept = 8

type blockView struct {
	v   backend.Vector
	blk backend.Block
}

// view returns v (of length rows·cols, which the caller has checked) as a
// rows×cols block on b. The error is Reshape's, for the caller to wrap.
func (c *blockViews) view(b backend.Backend, v backend.Vector, rows, cols int) (backend.Block, error) {
	if blk, ok := v.(backend.Block); ok {
		if r, k := blk.Dims(); r == rows && k == cols {
			return blk, nil
		}
	}
	keep := reflect.TypeOf(v).Kind() == reflect.Pointer
	if keep {
		for _, e := range c.kept {
			if e.v == v {
				return e.blk, nil
			}
		}
	}
	blk, err := b.Reshape(v, rows, cols)
	if err != nil {
		return nil, err
	}
	if keep {
		c.kept[c.next] = blockView{v, blk}
		c.next = (c.next + 1) % blockViewsKept
	}
	return blk, nil
}

// reset forgets every kept view (Close: they share the freed storage).
func (c *blockViews) reset() { *c = blockViews{} }
