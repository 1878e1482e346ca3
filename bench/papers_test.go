package bench

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// TestCleaningAndDenoising runs both experiments of the papers suite at a
// small size: every solver pair of the hyper-cleaning runs within its budget
// with a finite true loss below the initial one, the claims are stated, and
// MAID's TV parameters are reported with their PSNR next to the grid's.
func TestCleaningAndDenoising(t *testing.T) {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	r := &Runner{Suite: &Suite{Name: "test"}, Backend: b}
	cs := &CleaningSpec{Problem: ProblemSpec{Name: "hc", Problem: "hypercleaning", Source: "synth:n=120,m=80,d=6,c=3,corrupt=0.3,reg=1e-2,seed=1"},
		Budget: 3000, Step: 10, Eps: 0.1, Delta: 0.01}
	c, claims, err := r.cleaning(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range claims {
		t.Logf("%s: held %v: %s", c.Claim, c.Held, c.Evidence)
	}
	if len(c.Runs) != 6 || len(claims) != 3 {
		t.Fatalf("%d runs, %d claims", len(c.Runs), len(claims))
	}
	for _, run := range c.Runs {
		if run.Calls > cs.Budget+200 || run.Iters < 1 || !(run.FinalLoss < c.Loss0) || math.IsNaN(run.BelowMedian) {
			t.Errorf("%s+%s: %+v (initial loss %g)", run.Lower, run.Linear, run, c.Loss0)
		}
	}
	var md strings.Builder
	writeCleaning(&md, c)
	if !strings.Contains(md.String(), "| hb | cg |") {
		t.Errorf("cleaning table:\n%s", md.String())
	}

	ds := &DenoisingSpec{Problem: ProblemSpec{Name: "tv", Problem: "tvdenoise", Source: "synth:h=1,w=64,noise=0.1,alpha=0.01,nu=0.1,seed=1"},
		Budget: 2000, Alphas: []float64{0.01, 0.1, 1}, Nus: []float64{0.1}}
	d, claims, err := r.denoising(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: held %v: %s", claims[0].Claim, claims[0].Held, claims[0].Evidence)
	if len(claims) != 1 || d.GridSize != 3 || !(d.PSNR > d.PSNRNoisy) || !(d.GridPSNR >= d.PSNR0) || d.Iters < 1 {
		t.Errorf("denoising %+v, claims %v", d, claims)
	}
	// The grid's best value is the best of its points: recompute one.
	if !(d.GridAlpha == 0.01 || d.GridAlpha == 0.1 || d.GridAlpha == 1) {
		t.Errorf("grid α %g not a grid value", d.GridAlpha)
	}
}

// TestBelowCleanMedian: the fraction of corrupted rows under the clean
// rows' median λ.
func TestBelowCleanMedian(t *testing.T) {
	lam := []float64{1, 2, 3, 4, 0, 5, 2.4}
	bad := []bool{false, false, false, false, true, true, true}
	// clean median 2.5: corrupted 0 and 2.4 below, 5 above.
	if got := belowCleanMedian(lam, bad); math.Abs(got-2.0/3) > 1e-15 {
		t.Errorf("got %v, want 2/3", got)
	}
	if !math.IsNaN(belowCleanMedian(lam, make([]bool, len(lam)))) {
		t.Error("no corrupted rows gave a number")
	}
}
