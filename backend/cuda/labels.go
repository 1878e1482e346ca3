//go:build cuda || cudaemu

package cuda

import (
	"unsafe"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// labels are class labels stored on the device as int32.
type labels struct {
	*store
	classes int
}

func (l *labels) Len() int     { return l.n }
func (l *labels) Classes() int { return l.classes }

// NewLabels checks the labels on the host and copies them as int32.
func (b *Backend) NewLabels(classes int, y []int) (backend.Labels, error) {
	const op = "NewLabels"
	if b.Closed() {
		return nil, b.Error(op, backend.ErrClosed, "")
	}
	if v := check.Labels(classes, y); v.Err != nil {
		return nil, v.OpError("cuda", op)
	}
	n := len(y)
	l := &labels{store: &store{owner: b, n: n, bytes: int64(n) * 4}, classes: classes}
	if n == 0 {
		return l, nil
	}
	host := make([]int32, n)
	for i, c := range y {
		host[i] = int32(c)
	}
	if err := b.drv.enter(); err != nil {
		return nil, allocError(op, l.bytes, err)
	}
	defer b.drv.exit()
	p, err := b.rawAlloc(l.bytes)
	if err != nil {
		return nil, allocError(op, l.bytes, err)
	}
	if err := b.drv.htod(p, unsafe.Pointer(&host[0]), l.bytes); err != nil {
		b.rawFree(p)
		return nil, b.Error(op, backend.ErrDevice, err.Error())
	}
	l.p = p
	b.allocated += l.bytes
	return l, nil
}

// lab resolves a labels operand, recording an error for nil, foreign or
// freed ones.
func (b *Backend) lab(op string, y backend.Labels) *labels {
	return check.Resolve[*labels](&b.State, b, op, "labels", y)
}
