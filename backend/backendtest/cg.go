package backendtest

import (
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// CGStepRef is backend.CGStepper's CGStep done by the host with b's own
// operations: it reads the state st back, computes the dot products with
// b.Dot, the scalars on the host and the vector updates with b.Axpy and
// b.Axpby, and writes the state back. A CGStepper's results must equal it bit
// for bit. It checks no operands; b's own operations report what they find.
func CGStepRef(b backend.Backend, st backend.Vector, j int, q, r, p, ap backend.Vector, tol, floor float64) {
	s := make([]float64, st.Len())
	b.Download(s, st)
	if s[0] != 0 || q.Len() == 0 {
		return
	}
	defer b.Upload(st, s)
	pap := b.Dot(p, ap)
	s[4+2*j] = pap
	if !(pap > 0) {
		s[0] = 1
		return
	}
	a := s[3+2*j] / pap
	s[1] = a
	b.Axpy(a, p, q)
	b.Axpy(-a, ap, r)
	rr := b.Dot(r, r)
	s[5+2*j] = rr
	nrm := math.Sqrt(rr)
	if math.IsNaN(nrm) || math.IsInf(nrm, 0) || (tol > 0 && nrm <= tol) || nrm <= floor {
		s[0] = 1
		return
	}
	beta := rr / s[3+2*j]
	s[2] = beta
	b.Axpby(1, r, beta, p)
}
