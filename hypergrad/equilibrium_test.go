package hypergrad_test

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/krylov"
	"github.com/hypergrad-go/hypergrad/problems"
)

func equilibrium(t testing.TB, o data.EquilibriumOptions) *problems.Equilibrium {
	t.Helper()
	e, err := data.SynthEquilibrium(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := problems.NewEquilibrium(newBackend(t), e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestEquilibriumEstimators: on the equilibrium model (∂_SΦ not symmetric),
// AID with GMRES, BiCGStab, CGNE and the fixed-point iteration reaches the
// dense reference to 1e-10 relative, CG is refused, and forward-mode ITD
// equals reverse-mode ITD to 1e-12 relative. With -tags cudaemu (or cuda)
// newBackend makes this run on the CUDA backend.
func TestEquilibriumEstimators(t *testing.T) {
	p := equilibrium(t, data.EquilibriumOptions{N: 40, P: 6, K: 4, C: 3, Q: 0.9, Seed: 7})
	ref, err := p.Reference()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []krylov.Solver{krylov.GMRES{}, krylov.BiCGStab{}, krylov.CGNE{}, krylov.Richardson{Step: 1}} {
		res := estimateFP(t, &hypergrad.FixedPointAID{Solver: s, T: 2000, K: 2000, TolInner: 1e-15, TolLinear: 1e-15}, p, nil)
		if e := relErr(res.Hypergradient, ref.Hypergradient); e > 1e-10 {
			t.Errorf("%s: relative error %.3g (%d maps, %d linear iterations, %v)", res.Method, e, res.InnerIters, res.LinearIters, res.Status)
		}
	}
	for _, T := range []int{1, 4, 15} {
		rev := estimateFP(t, &hypergrad.FixedPointITD{T: T}, p, nil)
		fwd := estimateFP(t, &hypergrad.FixedPointITD{T: T, Forward: true}, p, nil)
		if e := relErr(fwd.Hypergradient, rev.Hypergradient); e > 1e-12 {
			t.Errorf("T = %d: forward vs reverse ITD: %.3g", T, e)
		}
	}
	long := estimateFP(t, &hypergrad.FixedPointITD{T: 400}, p, nil)
	if e := relErr(long.Hypergradient, ref.Hypergradient); e > 1e-10 {
		t.Errorf("ITD through 400 steps: relative error %.3g", e)
	}
}
