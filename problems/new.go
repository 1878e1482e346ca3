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

// New builds the problem of a family (one of data.Families except the
// fixed-point "equilibrium", which NewFixedPoint builds) on the backend from
// data as data.Load returns it, and describes its shape in one line. On an
// error the Problem is nil.
func New(b backend.Backend, family string, d any) (Problem, string, error) {
	p, shape, err := newProblem(b, family, d)
	if err != nil {
		return nil, "", err
	}
	return p, shape, nil
}

// newProblem dispatches on the data type; its Problem may be a typed nil
// on an error, which New turns into a nil interface.
func newProblem(b backend.Backend, family string, d any) (Problem, string, error) {
	switch v := d.(type) {
	case *data.Supervised:
		if v == nil {
			break
		}
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
		if family == "quadratic" && v != nil {
			p, err := NewQuadratic(b, v)
			return p, fmt.Sprintf("m1=%d, m2=%d, d=%d, h=%d", v.A.Rows, v.D.Rows, v.D.Cols, v.C.Cols), err
		}
	case *data.Multiclass:
		if family == "multilogreg" && v != nil {
			p, err := NewMultilogreg(b, v)
			n, m, dd, c := v.Dims()
			return p, fmt.Sprintf("n=%d, m=%d, d=%d, c=%d, inner %d, h=%d", n, m, dd, c, dd*c, len(v.Lambda)), err
		}
	case *data.Hypercleaning:
		if family == "hypercleaning" && v != nil {
			p, err := NewHypercleaning(b, v)
			n, m, f, c := v.Dims()
			return p, fmt.Sprintf("n=%d, m=%d, p=%d, c=%d, inner %d, h=%d", n, m, f, c, (f+1)*c, n), err
		}
	case *data.KRR:
		if family == "krr" && v != nil {
			p, err := NewKRR(b, v)
			n, m, dd := v.Dims()
			return p, fmt.Sprintf("n=%d, m=%d, d=%d, inner %d, h=2", n, m, dd, n), err
		}
	case *data.BiasReg:
		if family == "biasreg" && v != nil {
			p, err := NewBiasReg(b, v)
			tasks, n, m, dd := v.Dims()
			return p, fmt.Sprintf("T=%d, n=%d, m=%d, d=%d, inner %d, h=%d", tasks, n, m, dd, tasks*dd, dd), err
		}
	case *data.TVDenoise:
		if family == "tvdenoise" && v != nil {
			p, err := NewTVDenoise(b, v)
			return p, fmt.Sprintf("H=%d, W=%d, inner %d, h=2", v.H, v.W, v.H*v.W), err
		}
	}
	return nil, "", fmt.Errorf("problems: no family %q for data %T", family, d)
}
