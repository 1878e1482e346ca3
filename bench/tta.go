package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

// TTAOptions configure the time-to-accuracy comparison: the time to a
// hypergradient of relative error ≤ Target on logistic regression with
// κ = L/μ = Kappa (the spec's constants), for our candidate configurations
// and for the peer's AID-CG with gradient-descent inner steps, each at the
// smallest (t, k) that reaches the target.
type TTAOptions struct {
	Python  string  // as PeerOptions.Python
	Source  string  // logreg data; its λ is replaced (see Kappa)
	Kappa   float64 // every λ_j = log(L_X/(Kappa−1)), L_X = σ_max(X)²/(4n), so that L/μ = Kappa
	Target  float64 // relative error ‖∇̂f − ∇f‖/‖∇f‖
	Repeats int
	Threads int    // torch threads; 0 → GOMAXPROCS
	Device  string // the peer's torch device, as PeerOptions.Device
	// Configs are our candidates (AID methods with their inner solver);
	// the fastest at its smallest (t, k) is "ours".
	Configs []MethodSpec
}

// DefaultTTAOptions is the comparison of issue 6: logreg with κ = 1e3 to
// 1e-6 relative.
func DefaultTTAOptions() TTAOptions {
	return TTAOptions{Source: "synth:n=10000,d=1000,kappa=1e3,seed=0", Kappa: 1e3, Target: 1e-6, Repeats: 3,
		Configs: []MethodSpec{
			{Name: "aid-pcg", Inner: "newton"},
			{Name: "aid-pcg", Inner: "fista"},
			{Name: "aid-cg", Inner: "fista"},
		}}
}

// TTAReport is the time-to-accuracy comparison.
type TTAReport struct {
	Problem     string  `json:"problem"`
	Source      string  `json:"source"`
	Shape       string  `json:"shape"`
	Lambda      float64 `json:"lambda"`
	Kappa       float64 `json:"kappa"`        // L/μ of the constants the steps use
	KappaStar   float64 `json:"kappa_star"`   // κ(A(w*))
	KappaJacobi float64 `json:"kappa_jacobi"` // κ of diag(A)^{-1/2}A diag(A)^{-1/2} at w*
	Target      float64 `json:"target"`
	Alpha       float64 `json:"alpha"` // gradient-descent step 2/(L+μ), both sides
	Threads     int     `json:"threads"`
	PeerDevice  string  `json:"peer_device"`
	OursDevice  string  `json:"ours_device"`
	Torch       string  `json:"torch"`
	BLAS        string  `json:"blas"`
	// Peer is PyTorch's AID-CG(gd); Same is ours with the same algorithm
	// and (t, k); Ours are the candidates, Best the fastest of them.
	Peer  TTAEntry   `json:"peer"`
	Same  TTAEntry   `json:"same_algorithm_ours"`
	Ours  []TTAEntry `json:"ours"`
	Best  int        `json:"best"`
	Ratio float64    `json:"ratio_best_over_peer"` // median over median
}

// TTAEntry is one configuration at its smallest (t, k).
type TTAEntry struct {
	Config  string  `json:"config"`
	T       int     `json:"t"`
	K       int     `json:"k"`
	Oracles int     `json:"oracle_calls"` // passes over the data for ours; 0 for the peer
	RelErr  float64 `json:"rel_error"`    // of the timed run against the exact reference
	Met     bool    `json:"met"`
	Seconds Stat    `json:"seconds"`
	Evals   int     `json:"search_estimates"` // estimates the (t, k) search made
}

// RunTimeToAccuracy runs the comparison (see TTAOptions).
func (r *Runner) RunTimeToAccuracy(ctx context.Context, o TTAOptions) (*TTAReport, error) {
	python, err := r.peerSetup(o.Python, &o.Threads, &o.Device)
	if err != nil {
		return nil, err
	}
	if !(o.Kappa > 1) || !(o.Target > 0) || o.Repeats < 1 || len(o.Configs) == 0 {
		return nil, fmt.Errorf("time to accuracy: want Kappa > 1, Target > 0, Repeats ≥ 1 and a configuration (have %v, %v, %d, %d)",
			o.Kappa, o.Target, o.Repeats, len(o.Configs))
	}
	d, err := data.Load("logreg", o.Source)
	if err != nil {
		return nil, err
	}
	sv := d.(*data.Supervised)
	p, shape, err := problems.New(r.Backend, "logreg", sv)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	// L_X = L − max e^λ (= L_B) at the data's own λ, then λ for κ = Kappa,
	// on our problem and in the peer's copy of the data.
	c0, err := p.Constants()
	if err != nil {
		return nil, err
	}
	lam := math.Log((c0.L.Value - c0.LB.Value) / (o.Kappa - 1))
	for j := range sv.Lambda {
		sv.Lambda[j] = lam
	}
	if err := p.SetHyper(sv.Lambda); err != nil {
		return nil, err
	}
	c, err := p.Constants()
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "hypergrad-tta-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	npz, script := filepath.Join(dir, "data.npz"), filepath.Join(dir, "torch_peer.py")
	if err := data.SaveSupervised(npz, sv); err != nil {
		return nil, err
	}
	if err := os.WriteFile(script, torchPeer, 0o644); err != nil {
		return nil, err
	}
	r.Progress.Step("time to accuracy: reference")
	ref, err := p.Reference()
	if err != nil {
		return nil, err
	}
	rep := &TTAReport{Problem: "logreg", Source: o.Source, Shape: shape, Lambda: lam, Kappa: c.Kappa(), Target: o.Target,
		Alpha: 2 / (c.L.Value + c.Mu.Value), Threads: o.Threads, OursDevice: r.Backend.Device()}
	mu, l, kj, err := localSpectrum(p, ref.W)
	if err != nil {
		return nil, err
	}
	rep.KappaStar, rep.KappaJacobi = l/mu, kj

	s := &ttaSearch{ctx: ctx, p: p, ref: ref.Hypergradient, target: o.Target, kMax: 4 * p.InnerDim(), alpha: rep.Alpha}
	// The peer's algorithm, searched with our implementation (the two agree
	// to rounding: RunPeers), then timed on both sides.
	peerAlgo := MethodSpec{Name: "aid-cg", Inner: "gd"}
	r.Progress.Step("time to accuracy: search aid-cg(gd)")
	tp, kp, evals, err := s.minimal(peerAlgo)
	if err != nil {
		return nil, fmt.Errorf("aid-cg(gd): %w", err)
	}
	if rep.Same, err = s.timed(peerAlgo, tp, kp, o.Repeats); err != nil {
		return nil, err
	}
	rep.Same.Evals = evals
	for _, m := range o.Configs {
		r.Progress.Step(fmt.Sprintf("time to accuracy: search %s(%s)", methodLabel(m), m.Inner))
		t, k, evals, err := s.minimal(m)
		if err != nil {
			return nil, fmt.Errorf("%s(%s): %w", methodLabel(m), m.Inner, err)
		}
		e, err := s.timed(m, t, k, o.Repeats)
		if err != nil {
			return nil, err
		}
		e.Evals = evals
		rep.Ours = append(rep.Ours, e)
		if b := rep.Ours[rep.Best]; !b.Met || e.Met && e.Seconds.Median < b.Seconds.Median {
			rep.Best = len(rep.Ours) - 1
		}
	}

	r.Progress.Step("time to accuracy: PyTorch")
	out, err := runPeerScript(ctx, python, script, npz, o.Device, "logreg", []string{"aid-cg"}, tp, kp, rep.Alpha, o.Repeats, o.Threads)
	if err != nil {
		return nil, err
	}
	rep.Torch, rep.Threads, rep.BLAS, rep.PeerDevice = out.Torch, out.Threads, blasInfo(out.Config), out.Device
	if len(out.BLASLibs) > 0 {
		rep.BLAS += " (" + strings.Join(out.BLASLibs, ", ") + ")"
	}
	pm, ok := out.Methods["aid-cg"]
	if !ok {
		return nil, fmt.Errorf("peer did not run aid-cg")
	}
	pe := relErr(pm.Hypergradient, ref.Hypergradient)
	rep.Peer = TTAEntry{Config: "PyTorch aid-cg(gd)", T: tp, K: kp, RelErr: pe, Met: pe <= o.Target, Seconds: stat(pm.Seconds)}
	rep.Ratio = rep.Ours[rep.Best].Seconds.Median / rep.Peer.Seconds.Median
	return rep, nil
}

// ttaSearch finds the smallest (t, k) that reach a relative error.
type ttaSearch struct {
	ctx    context.Context
	p      problem
	ref    []float64
	target float64
	kMax   int
	alpha  float64
	evals  int
}

// estimate runs m with t inner and k linear iterations from w0 (nil: 0)
// and returns the result and its relative error.
func (s *ttaSearch) estimate(m MethodSpec, t, k int, w0 []float64) (*hypergrad.Result, float64, error) {
	s.evals++
	e, err := m.Estimator(t, k)
	if err != nil {
		return nil, 0, err
	}
	if m.Inner == "gd" {
		e = withSteps(e, s.alpha)
	}
	res, err := e.Estimate(s.ctx, s.p, &hypergrad.Start{W0: w0})
	if err != nil {
		return nil, 0, err
	}
	return res, relErr(res.Hypergradient, s.ref), nil
}

// minimal returns the (t, k) with the fewest oracle calls (inner solve plus
// k) among
// t ∈ {1, 1.05, 1.1, 1.2, 1.35, 1.5, 2}·t₀, t₀ the smallest t whose
// hypergradient with a converged linear solve meets the target (found by
// doubling, then bisection to 1 %), and k the smallest that meets it at
// that t (bisection). Gradient descent is continued from the last iterate
// (its iterates do not depend on where a run started, so continuing is
// bit-identical to a fresh run); FISTA is rerun from 0.
func (s *ttaSearch) minimal(m MethodSpec) (tBest, kBest, evals int, err error) {
	s.evals = 0
	gd := m.Inner == "gd"
	converged := func(t int, w0 []float64, from int) (bool, []float64, error) {
		steps := t
		if gd && w0 != nil {
			steps = t - from
		} else {
			w0 = nil
		}
		res, e, err := s.estimate(m, steps, s.kMax, w0)
		if err != nil {
			return false, nil, err
		}
		return e <= s.target, res.W, nil
	}
	// Doubling.
	lo, hi := 0, 8
	var wLo []float64
	for {
		ok, w, err := converged(hi, wLo, lo)
		if err != nil {
			return 0, 0, 0, err
		}
		if ok {
			break
		}
		if hi >= 1<<17 {
			return 0, 0, 0, fmt.Errorf("relative error %g not reached in %d inner iterations", s.target, hi)
		}
		lo, wLo, hi = hi, w, 2*hi
	}
	// Bisection on t to 1 %.
	for hi-lo > max(1, lo/100) {
		mid := (lo + hi) / 2
		ok, w, err := converged(mid, wLo, lo)
		if err != nil {
			return 0, 0, 0, err
		}
		if ok {
			hi = mid
		} else {
			lo, wLo = mid, w
		}
	}
	t0 := hi
	best := math.MaxInt
	prevT, prevW := lo, wLo
	for _, f := range []float64{1, 1.05, 1.1, 1.2, 1.35, 1.5, 2} {
		t := int(math.Ceil(f * float64(t0)))
		if t <= prevT && f > 1 {
			continue
		}
		// w_t, then k by bisection from w_t with T = 0.
		steps, from := t, []float64(nil)
		if gd && prevW != nil {
			steps, from = t-prevT, prevW
		}
		res, _, err := s.estimate(m, steps, 0, from)
		if err != nil {
			return 0, 0, 0, err
		}
		wt := res.W
		innerCost := t + 1 // gradients; Newton's steps also make Hessian-vector products
		if gd {
			prevT, prevW = t, wt
		} else {
			innerCost = res.Counts.Oracles()
		}
		meets := func(k int) (bool, error) {
			_, e, err := s.estimate(m, 0, k, wt)
			return e <= s.target, err
		}
		ok, err := meets(s.kMax)
		if err != nil {
			return 0, 0, 0, err
		}
		if !ok {
			continue
		}
		klo, khi := 0, s.kMax
		for khi-klo > 1 {
			mid := (klo + khi) / 2
			ok, err := meets(mid)
			if err != nil {
				return 0, 0, 0, err
			}
			if ok {
				khi = mid
			} else {
				klo = mid
			}
		}
		if innerCost+khi < best {
			best, tBest, kBest = innerCost+khi, t, khi
		}
	}
	if best == math.MaxInt {
		return 0, 0, 0, fmt.Errorf("no (t, k) met relative error %g", s.target)
	}
	return tBest, kBest, s.evals, nil
}

// timed runs m at (t, k) from 0 repeats times.
func (s *ttaSearch) timed(m MethodSpec, t, k, repeats int) (TTAEntry, error) {
	var secs []float64
	var res *hypergrad.Result
	var e float64
	for i := 0; i < repeats; i++ {
		var err error
		if res, e, err = s.estimate(m, t, k, nil); err != nil {
			return TTAEntry{}, err
		}
		secs = append(secs, res.Time.Total.Seconds())
	}
	return TTAEntry{Config: res.Method, T: t, K: k, Oracles: res.Counts.Oracles(), RelErr: e, Met: e <= s.target, Seconds: stat(secs)}, nil
}

func writeTTA(b *strings.Builder, tr *TTAReport) {
	fmt.Fprintf(b, "## Time to accuracy\n\n`%s` (logreg, %s) with every λ_j = %.6g, so that the spec's constants give κ = L/μ = %.4g (at w*: κ* = %s, with the Jacobi preconditioner %s). Target: relative error ≤ %.0e against the exact reference. Each configuration at the smallest (t, k) reaching it (searched with our estimator; the peer's t, k found with our identical AID-CG(gd), α = %.6g). %d threads on both sides; ours on %s, the peer on %s: PyTorch %s, %s.\n\n",
		tr.Source, tr.Shape, tr.Lambda, tr.Kappa, sci(tr.KappaStar), sci(tr.KappaJacobi), tr.Target, tr.Alpha, tr.Threads, tr.OursDevice, orUnknown(tr.PeerDevice), tr.Torch, tr.BLAS)
	b.WriteString("| configuration | t | k | oracle calls | relative error | met | time (median, min–max) | ratio to PyTorch |\n|---|---|---|---|---|---|---|---|\n")
	row := func(e TTAEntry, mark string) {
		calls := "—"
		if e.Oracles > 0 {
			calls = fmt.Sprint(e.Oracles)
		}
		fmt.Fprintf(b, "| %s%s | %d | %d | %s | %.2g | %v | %s (%s–%s) | %.3f |\n", e.Config, mark, e.T, e.K, calls, e.RelErr, e.Met,
			dur(e.Seconds.Median), dur(e.Seconds.Min), dur(e.Seconds.Max), e.Seconds.Median/tr.Peer.Seconds.Median)
	}
	row(tr.Peer, "")
	row(tr.Same, " (ours, same algorithm)")
	for i, e := range tr.Ours {
		mark := ""
		if i == tr.Best {
			mark = " **best**"
		}
		row(e, mark)
	}
	fmt.Fprintf(b, "\nBest of ours over PyTorch: **%.3f**.\n\n", tr.Ratio)
}
