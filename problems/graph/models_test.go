//go:build !cuda

package graph_test

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/problems/graph"
)

// dense wraps a host matrix (row-major, shared) as a tensor.
func dense(m *data.Matrix) *tensor.Dense {
	return tensor.New(tensor.WithShape(m.Rows, m.Cols), tensor.WithBacking(m.Data))
}

func vec(x []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(len(x)), tensor.WithBacking(x))
}

// supervisedData names the tensors of a ridge or logreg problem.
func supervisedData(s *data.Supervised) map[string]*tensor.Dense {
	return map[string]*tensor.Dense{
		"X": dense(s.XTrain), "y": vec(s.YTrain),
		"Xv": dense(s.XVal), "yv": vec(s.YVal),
	}
}

// l2 is ½ Σ_j e^{λ_j} w_j².
func l2(w, lambda *G.Node) (*G.Node, error) {
	e, err := G.Exp(lambda)
	if err != nil {
		return nil, err
	}
	w2, err := G.Square(w)
	if err != nil {
		return nil, err
	}
	p, err := G.HadamardProd(e, w2)
	if err != nil {
		return nil, err
	}
	s, err := G.Sum(p)
	if err != nil {
		return nil, err
	}
	return G.Mul(s, G.NewConstant(0.5))
}

// logLoss is 1/n Σ_i log(1 + exp(−y_i x_iᵀw)).
func logLoss(x, y, w *G.Node) (*G.Node, error) {
	z, err := G.Mul(x, w)
	if err != nil {
		return nil, err
	}
	m, err := G.HadamardProd(y, z)
	if err != nil {
		return nil, err
	}
	if m, err = G.Neg(m); err != nil {
		return nil, err
	}
	sp, err := G.Softplus(m)
	if err != nil {
		return nil, err
	}
	s, err := G.Sum(sp)
	if err != nil {
		return nil, err
	}
	return G.Mul(s, G.NewConstant(1/float64(x.Shape()[0])))
}

// sqLoss is 1/(2n) ‖Xw − y‖².
func sqLoss(x, y, w *G.Node) (*G.Node, error) {
	z, err := G.Mul(x, w)
	if err != nil {
		return nil, err
	}
	r, err := G.Sub(z, y)
	if err != nil {
		return nil, err
	}
	r2, err := G.Square(r)
	if err != nil {
		return nil, err
	}
	s, err := G.Sum(r2)
	if err != nil {
		return nil, err
	}
	return G.Mul(s, G.NewConstant(0.5/float64(x.Shape()[0])))
}

func add(a, b *G.Node, err error) (*G.Node, error) {
	if err != nil {
		return nil, err
	}
	return G.Add(a, b)
}

// logregSpec is per-feature L2 logistic regression (problems.Logreg) as a graph.
func logregSpec(s *data.Supervised) graph.Spec {
	return graph.Spec{
		InnerDim: s.XTrain.Cols, HyperDim: s.XTrain.Cols,
		Lambda: append([]float64(nil), s.Lambda...),
		Data:   supervisedData(s),
		Inner: func(w, lambda *G.Node, d map[string]*G.Node) (*G.Node, error) {
			loss, err := logLoss(d["X"], d["y"], w)
			if err != nil {
				return nil, err
			}
			reg, err := l2(w, lambda)
			return add(loss, reg, err)
		},
		Outer: func(w, _ *G.Node, d map[string]*G.Node) (*G.Node, error) {
			return logLoss(d["Xv"], d["yv"], w)
		},
	}
}

// ridgeSpec is per-feature L2 least squares (problems.Ridge) as a graph.
func ridgeSpec(s *data.Supervised) graph.Spec {
	return graph.Spec{
		InnerDim: s.XTrain.Cols, HyperDim: s.XTrain.Cols,
		Lambda: append([]float64(nil), s.Lambda...),
		Data:   supervisedData(s),
		Inner: func(w, lambda *G.Node, d map[string]*G.Node) (*G.Node, error) {
			loss, err := sqLoss(d["X"], d["y"], w)
			if err != nil {
				return nil, err
			}
			reg, err := l2(w, lambda)
			return add(loss, reg, err)
		},
		Outer: func(w, _ *G.Node, d map[string]*G.Node) (*G.Node, error) {
			return sqLoss(d["Xv"], d["yv"], w)
		},
	}
}
