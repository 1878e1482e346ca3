package hypergrad_test

import (
	"testing"

	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// TestFixedPointZooForwardMode: on every optimisation family of the zoo beyond ridge,
// logreg and quadratic (TestGradientStepAdapter has those), through the
// gradient-step map Φ = w − α∇g, fixed-point ITD equals ITD through
// gradient descent, and forward-mode ITD (which needs B·u,
// bilevel.CrossApplier) equals reverse mode, to 1e-12 relative.
func TestFixedPointZooForwardMode(t *testing.T) {
	for family, src := range map[string]string{
		"multilogreg":   "synth:n=60,m=30,d=5,c=3,density=0.6,seed=1",
		"hypercleaning": "synth:n=40,m=20,d=4,c=3,seed=1",
		"krr":           "synth:n=30,m=10,d=3,rho=0.5,gamma=0.2,seed=1",
		"biasreg":       "synth:tasks=3,n=8,m=6,d=4,rho=2,seed=1",
		"tvdenoise":     "synth:h=4,w=6,alpha=0.2,nu=0.1,seed=1",
	} {
		t.Run(family, func(t *testing.T) {
			d, err := data.Load(family, src)
			if err != nil {
				t.Fatal(err)
			}
			p, _, err := problems.New(newBackend(t), family, d)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if _, ok := p.(bilevel.CrossApplier); !ok {
				t.Fatalf("%s is not a bilevel.CrossApplier", family)
			}
			gs, err := bilevel.NewGradientStep(p, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer gs.Close()
			const T = 20
			rev := estimateFP(t, &hypergrad.FixedPointITD{T: T}, gs, nil)
			fwd := estimateFP(t, &hypergrad.FixedPointITD{T: T, Forward: true}, gs, nil)
			itd := estimate(t, &hypergrad.ITD{Inner: hypergrad.GradientDescent{Step: gs.Alpha}, T: T}, p, nil)
			if e := relErr(fwd.Hypergradient, rev.Hypergradient); e > 1e-12 {
				t.Errorf("forward vs reverse ITD: %.3g", e)
			}
			if e := relErr(rev.Hypergradient, itd.Hypergradient); e > 1e-12 {
				t.Errorf("fixed-point ITD vs ITD(gd): %.3g", e)
			}
		})
	}
}
