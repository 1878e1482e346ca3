package problems

import (
	"fmt"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// Problem is a problem of the zoo: the oracles, the exact reference, and
// Close to free its device memory.
type Problem interface {
	bilevel.Problem
	bilevel.Referencer
	Close() error
}

// New builds the problem of a family ("ridge", "logreg" or "quadratic") on
// the backend from data as data.Load returns it (*data.Supervised or
// *data.Quadratic), and describes its shape in one line.
func New(b backend.Backend, family string, d any) (Problem, string, error) {
	switch v := d.(type) {
	case *data.Supervised:
		shape := fmt.Sprintf("n=%d, m=%d, d=%d, h=%d", v.XTrain.Rows, v.XVal.Rows, v.XTrain.Cols, len(v.Lambda))
		switch family {
		case "logreg":
			p, err := NewLogreg(b, v)
			return p, shape, err
		case "ridge":
			p, err := NewRidge(b, v)
			return p, shape, err
		}
	case *data.Quadratic:
		if family == "quadratic" {
			p, err := NewQuadratic(b, v)
			return p, fmt.Sprintf("m1=%d, m2=%d, d=%d, h=%d", v.A.Rows, v.D.Rows, v.D.Cols, v.C.Cols), err
		}
	}
	return nil, "", fmt.Errorf("problems: no family %q for data %T", family, d)
}
