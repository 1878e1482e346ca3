package problems

import (
	"fmt"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
)

// FixedPointProblem is a fixed-point problem of the zoo (a lower level
// w = Φ(w, λ) that is not an optimisation): the oracles, the exact
// reference, and Close to free its device memory.
type FixedPointProblem interface {
	bilevel.FixedPoint
	bilevel.Referencer
	Close() error
}

// NewFixedPoint builds the fixed-point problem of a family ("equilibrium")
// on the backend from data as data.Load returns it (*data.Equilibrium), and
// describes its shape in one line.
func NewFixedPoint(b backend.Backend, family string, d any) (FixedPointProblem, string, error) {
	if v, ok := d.(*data.Equilibrium); ok && family == "equilibrium" && v != nil {
		n, p, k, c := v.Dims()
		shape := fmt.Sprintf("N=%d, p=%d, k=%d, C=%d, d=%d, h=%d", n, p, k, c, n*k, v.HyperDim())
		pr, err := NewEquilibrium(b, v)
		if err != nil {
			return nil, shape, err
		}
		return pr, shape, nil
	}
	return nil, "", fmt.Errorf("problems: no fixed-point family %q for data %T", family, d)
}
