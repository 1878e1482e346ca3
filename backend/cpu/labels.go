package cpu

import (
	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/internal/check"
)

// labels are class labels stored as int32.
type labels struct {
	owner   *Backend
	classes int
	y       []int32
	freed   bool
}

func (l *labels) Len() int        { return len(l.y) }
func (l *labels) Classes() int    { return l.classes }
func (l *labels) Owner() *Backend { return l.owner }
func (l *labels) Freed() bool     { return l.freed }

// NewLabels checks the labels and copies them as int32.
func (b *Backend) NewLabels(classes int, y []int) (backend.Labels, error) {
	const op = "NewLabels"
	if b.Closed() {
		return nil, b.allocError(op, backend.ErrClosed, "")
	}
	if v := check.Labels(classes, y); v.Err != nil {
		return nil, v.OpError("cpu", op)
	}
	l := &labels{owner: b, classes: classes, y: make([]int32, len(y))}
	for i, c := range y {
		l.y[i] = int32(c)
	}
	b.allocated += int64(len(y)) * 4
	return l, nil
}

// lab resolves a labels operand, recording an error for nil, foreign or
// freed ones.
func (b *Backend) lab(op string, y backend.Labels) *labels {
	return check.Resolve[*labels](&b.State, b, op, "labels", y)
}
