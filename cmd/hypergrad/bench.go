package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bench"
)

const benchUsage = `Usage: hypergrad bench [flags]

Runs a benchmark suite: relative error against the exact hypergradient over a
grid of inner (t) and linear (k) iterations for every problem × estimator,
fitted rates next to theory, the iteration-complexity table, time per
hypergradient and per oracle call, memory of ITD against AID, and the papers'
findings reproduced. Writes report.json, results.csv, summary.md and PNG
figures into -out.

Flags:
`

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	suiteName := fs.String("suite", "quick", "suite: quick (every family, about 80 s on 2 cores), full, papers (the papers' experiments, a few minutes), bounds (error bounds against true errors on datasets/ and synthetic κ up to 1e4, and the cost of accuracy targets; run from the repository root; about a minute), maid (the outer-loop experiment) or none (with -peers: only the comparisons)")
	backendName := fs.String("backend", "cpu", "backend: cpu, cuda, or cuda-f32 (dense X stored in float32 on the GPU)")
	out := fs.String("out", "bench-out", "output directory (created if missing)")
	probs := fs.String("problems", "", "comma-separated problems of the suite (default: all)")
	methods := fs.String("methods", "", "comma-separated methods: itd, aid-fp, aid-cg, aid-pcg, aid-hb (default: all)")
	peers := fs.Bool("peers", false, "also run the PyTorch peer side by side (logreg 20000×2000, t = k = 50) and the time-to-accuracy comparison")
	python := fs.String("python", "", "Python interpreter for -peers (default: the first of python3, /usr/bin/python3 that imports torch)")
	peerProblem := fs.String("peer-problem", bench.DefaultPeerOptions().Problem, "problem of the peer comparison: ridge, logreg, quadratic or multilogreg (dense or CSR X)")
	peerSource := fs.String("peer-data", bench.DefaultPeerOptions().Source, "data of the peer comparison")
	peerT := fs.Int("peer-t", bench.DefaultPeerOptions().T, "inner iterations t of the peer comparison")
	peerK := fs.Int("peer-k", bench.DefaultPeerOptions().K, "linear iterations k of the peer comparison")
	peerMethods := fs.String("peer-methods", strings.Join(bench.DefaultPeerOptions().Methods, ","), "comma-separated methods of the peer comparison: itd, aid-fp, aid-cg")
	tta := fs.Bool("tta", true, "with -peers, also run the time-to-accuracy comparison (logreg, -tta-data)")
	verbose := fs.Bool("v", false, "log each step on stderr, one timestamped line each (instead of the bar drawn on a terminal)")
	peerDev := fs.String("peer-device", "", "torch device of the peer (-peers): cpu or cuda (default: the device of -backend)")
	rounds := fs.Int("rounds", bench.DefaultPeerOptions().Repeats, "alternating rounds of the peer comparison (-peers): the peer, then ours, each round; medians are over them")
	ttaSource := fs.String("tta-data", bench.DefaultTTAOptions().Source, "logreg data of the time-to-accuracy comparison (-peers; λ is set so that κ = 1e3)")
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "hypergrad bench: "+format+"\n", a...)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, benchUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		return fail("%v (see hypergrad bench -h)", err)
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (see hypergrad bench -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	// A flag that would be ignored is an error, not a silent no-op.
	if !*peers {
		for _, name := range peerOnlyFlags {
			if set[name] {
				return fail("-%s configures the PyTorch comparisons: add -peers, or drop -%s", name, name)
			}
		}
	}
	suite, err := bench.SuiteByName(*suiteName)
	if err != nil {
		return fail("%v", err)
	}
	if suite.Empty() && !*peers {
		return fail("-suite %s runs nothing by itself: add -peers for the PyTorch comparisons, or choose -suite quick, full or maid", suite.Name)
	}
	if err := suite.Select(*probs, *methods); err != nil {
		return fail("%v", err)
	}
	if *rounds < 1 {
		return fail("-rounds %d: want at least 1", *rounds)
	}
	switch *peerProblem {
	case "ridge", "logreg", "quadratic", "multilogreg":
	default:
		return fail("-peer-problem %q: the PyTorch peer runs ridge, logreg, quadratic or multilogreg", *peerProblem)
	}
	if *peerT < 1 || *peerK < 1 {
		return fail("-peer-t %d, -peer-k %d: want t, k ≥ 1", *peerT, *peerK)
	}
	peerMethodList, err := bench.PeerMethods(*peerMethods)
	if err != nil {
		return fail("-peer-methods: %v", err)
	}
	if err := bench.CheckPeerDevice(*peerDev); err != nil {
		return fail("-peer-device: %v", err)
	}
	if err := bench.CheckDir(*out); err != nil {
		return fail("-out: %v", err)
	}
	var peerPython string
	if *peers {
		if peerPython, err = bench.FindPython(*python); err != nil {
			return fail("-peers: %v", err)
		}
	}
	b, err := backend.Open(*backendName)
	if err != nil {
		return fail("-backend %s: %v", *backendName, err)
	}
	defer b.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r := &bench.Runner{Suite: suite, Backend: b, Progress: bench.NewProgress()}
	if *verbose {
		r.Progress = bench.NewLogProgress(stderr)
	}
	rep, err := r.Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "hypergrad bench: %v\n", err)
		return exitFailure
	}
	if *peers {
		o := bench.DefaultPeerOptions()
		o.Python, o.Source, o.Device, o.Repeats = peerPython, *peerSource, *peerDev, *rounds
		o.Problem, o.T, o.K, o.Methods = *peerProblem, *peerT, *peerK, peerMethodList
		if rep.Peers, err = r.RunPeers(ctx, o); err != nil {
			fmt.Fprintf(stderr, "hypergrad bench: peers: %v\n", err)
			return exitFailure
		}
		if *tta {
			to := bench.DefaultTTAOptions()
			to.Python, to.Source, to.Device = peerPython, *ttaSource, *peerDev
			if rep.TTA, err = r.RunTimeToAccuracy(ctx, to); err != nil {
				fmt.Fprintf(stderr, "hypergrad bench: time to accuracy: %v\n", err)
				return exitFailure
			}
		}
	}
	paths, err := bench.WriteAll(*out, rep)
	if err != nil {
		fmt.Fprintf(stderr, "hypergrad bench: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "suite %s on %s: %d problems, %.1f s\n", suite.Name, b.Device(), len(rep.Problems), rep.Meta.Seconds)
	printHeadlines(stdout, rep)
	fmt.Fprintf(stdout, "wrote %s\n", strings.Join(paths, "\n      "))
	return exitOK
}

// peerOnlyFlags are the flags of hypergrad bench that only the PyTorch
// comparisons (-peers) read.
var peerOnlyFlags = []string{"python", "peer-problem", "peer-data", "peer-t", "peer-k", "peer-methods", "peer-device", "rounds", "tta", "tta-data"}

// printHeadlines prints the iteration-complexity headline and the claims.
func printHeadlines(w io.Writer, rep *bench.Report) {
	for _, pr := range rep.Problems {
		kappa := "κ* not computed: d > 2000"
		if !math.IsNaN(pr.KappaStar) {
			kappa = fmt.Sprintf("κ* = %.3g", pr.KappaStar)
		}
		if t := pr.Tightness; len(pr.Methods) == 0 && t != nil {
			fmt.Fprintf(w, "%s (%s): bound / true error: a posteriori median %.3g, worst %.3g; refined median %.3g, worst %.3g; bounds below the true error: %d\n",
				pr.Name, kappa, t.PlainMedian, t.PlainWorst, t.RefinedMedian, t.RefinedWorst, t.Violations)
			continue
		}
		fmt.Fprintf(w, "%s (%s): oracle calls to 1e-6:", pr.Name, kappa)
		for _, m := range pr.Methods {
			for _, c := range m.Complexity {
				if c.Target == 1e-6 {
					if c.Found {
						fmt.Fprintf(w, "  %s %d", m.Name, c.Oracles)
					} else {
						fmt.Fprintf(w, "  %s —", m.Name)
					}
				}
			}
		}
		fmt.Fprintln(w)
	}
	for _, r := range rep.TargetCost {
		fmt.Fprintf(w, "target %.0e on %s with %s: %d oracle calls, %.3g× the cheapest grid point (%d calls)\n", r.Rel, r.Problem, r.Inner, r.Calls, r.Ratio, r.GridCalls)
	}
	if rep.Reproduction != nil {
		held := 0
		for _, c := range rep.Reproduction.Claims {
			if c.Held {
				held++
			}
		}
		fmt.Fprintf(w, "reproduction: %d of %d claims held (see summary.md)\n", held, len(rep.Reproduction.Claims))
	}
	if rep.Peers != nil {
		for _, m := range rep.Peers.Methods {
			fmt.Fprintf(w, "vs PyTorch %s: time ratio ours/theirs %.3f (paired by round: median %.3f, %.3f–%.3f), relative difference %.2g\n",
				m.Method, m.Ratio, m.Paired.Median, m.Paired.Min, m.Paired.Max, m.RelDiff)
		}
	}
	if tr := rep.TTA; tr != nil {
		b := tr.Ours[tr.Best]
		fmt.Fprintf(w, "time to %.0e: ours %s (t=%d, k=%d) %.3g s vs PyTorch aid-cg(gd) (t=%d, k=%d) %.3g s: ratio %.3f\n",
			tr.Target, b.Config, b.T, b.K, b.Seconds.Median, tr.Peer.T, tr.Peer.K, tr.Peer.Seconds.Median, tr.Ratio)
	}
}
