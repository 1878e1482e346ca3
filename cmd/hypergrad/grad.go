package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/floats"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bench"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

const gradUsage = `Usage: hypergrad grad [flags]

Computes one hypergradient ∇f(λ) of f(λ) = E(w*(λ), λ) for a problem of the zoo
(go doc ./problems) at the λ stored with its data: w*(λ) = argmin_w g(w, λ) for
the optimisation problems (ridge, logreg, quadratic, multilogreg, hypercleaning,
krr, biasreg, tvdenoise); the fixed point w*(λ) = Φ(w*(λ), λ) for equilibrium
(Grazzi et al. 2020, §3.2), where t counts fixed-point iterations and AID's
solver works on (I − ∂_wΦᵀ) v = ∇_wE.

Methods (-method):
  optimisation problems: itd, itd-fwd (forward mode), aid-fp, aid-cg, aid-pcg,
                         aid-hb, aid-minres, aid-gmres, aid-bicgstab, aid-cgne
  equilibrium:           itd, itd-fwd (forward mode), aid-fp (fixed-point
                         iteration), aid-gmres, aid-bicgstab, aid-cgne

Data (-data): an .npz file with the family's fields (go doc ./data), a text
file pair for ridge, logreg, multilogreg and hypercleaning
("libsvm:train=PATH,val=PATH" or "csv:train=PATH,val=PATH"; go doc
data.ParseTextSource), or "synth:key=value,..." with the keys
  ridge, logreg:  n, m, d, kappa, noise, lambda, seed
  quadratic:      m1, m2, d, h, sigma, seed, numpy
  equilibrium:    n, d, k, c, q, seed
  multilogreg:    n, m, d, c, density, noise, lambda, perclass, seed
  hypercleaning:  n, m, d, c, corrupt, reg, lambda, seed
  krr:            n, m, d, noise, rho, gamma, seed
  biasreg:        tasks, n, m, d, noise, rho, spread, lambda, seed
  tvdenoise:      h, w, noise, alpha, nu, seed
Small real data sets are in the repository's datasets/ folder.

Memory: before building the problem, grad estimates the memory the run
needs (the data, its host and backend copies, the problem's and the
estimator's vectors, ITD's stored or checkpointed trajectory, -exact's dense
matrices) and refuses with exit 2 and the estimate when it exceeds
-max-memory (default: MemAvailable of /proc/meminfo, else 8 GiB). The same
budget bounds ITD's trajectory and the dense reference, and, when given, the
data files (else the loaders' 8 GiB default).

Flags:
`

// defaultSource is the data of ridge and logreg when -data is not given;
// the other problems take their generator's defaults ("synth:").
const defaultSource = "synth:n=1000,d=100,kappa=100,seed=0"

// fixedPointFamilies are the problems whose lower level is a fixed point.
var fixedPointFamilies = map[string]bool{"equilibrium": true}

// gradFlags are the parsed flags of hypergrad grad.
type gradFlags struct {
	problem, source, method, inner, backend string
	t, k, maxCG                             int
	tolInner, tolLinear                     float64
	targetRel, targetAbs                    float64
	exact, json, checkpoint, estimate       bool
	maxMemory                               string          // -max-memory as given
	maxMem                                  int64           // -max-memory in bytes; 0: not given
	set                                     map[string]bool // flags given on the command line
}

// fixedPoint says whether the problem is a fixed-point one.
func (f *gradFlags) fixedPoint() bool { return fixedPointFamilies[f.problem] }

// itd says whether the method differentiates through the iteration (its -k
// is a truncation length).
func (f *gradFlags) itd() bool { return f.method == "itd" || f.method == "itd-fwd" }

func parseGrad(args []string, stdout, stderr io.Writer) (*gradFlags, int, bool) {
	f := &gradFlags{}
	fs := flag.NewFlagSet("grad", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.problem, "problem", "ridge", "problem: "+strings.Join(data.Families, ", "))
	fs.StringVar(&f.source, "data", "", "an .npz file, libsvm:… or csv:…, or synth:key=value,... (keys above) (default \""+defaultSource+"\" for ridge and logreg, \"synth:\" otherwise)")
	fs.StringVar(&f.method, "method", "aid-cg", "estimator (see above; default aid-gmres for equilibrium): itd, itd-fwd (forward mode), aid-fp, aid-cg, aid-pcg (CG with the Jacobi preconditioner diag(A)), aid-hb, aid-minres, aid-gmres, aid-bicgstab, aid-cgne")
	fs.StringVar(&f.inner, "inner", "gd", "inner solver: gd (gradient descent, α = 2/(L+μ)), hb (heavy ball), fista, or newton (inexact Newton with Jacobi CG; AID only; the default with -target-rel or -target-abs); not for equilibrium, which iterates Φ")
	fs.IntVar(&f.t, "t", 100, "inner (equilibrium: fixed-point) iterations T ≥ 1 (the budget when -tol-inner is set)")
	fs.IntVar(&f.k, "k", 20, "AID: linear iterations K ≥ 1 (the budget when -tol-linear is set); ITD: truncation length (0 = full, the default for itd)")
	fs.IntVar(&f.maxCG, "max-cg", 0, "-inner newton: CG iterations per Newton step (0: max(100, 2d), hypergrad.DefaultMaxCG)")
	fs.Float64Var(&f.tolInner, "tol-inner", 0, "stop the inner solve when ‖∇_w g‖ ≤ this (equilibrium: the fixed-point step ‖w_{s+1} − w_s‖; 0: run exactly T steps)")
	fs.Float64Var(&f.tolLinear, "tol-linear", 0, "stop the linear solve when its residual (‖A q − ∇_wE‖; equilibrium: ‖(I − ∂_wΦᵀ)v − ∇_wE‖) ≤ this (0: run exactly K steps)")
	fs.Float64Var(&f.targetRel, "target-rel", 0, "AID on an optimisation problem: iterate until the certified bound guarantees this relative accuracy (-t, -k become budgets)")
	fs.Float64Var(&f.targetAbs, "target-abs", 0, "AID on an optimisation problem: iterate until the certified bound guarantees this absolute accuracy")
	fs.StringVar(&f.backend, "backend", "cpu", "backend: cpu, cuda, or cuda-f32 (dense X stored in float32 on the GPU: half the bytes per pass, X rounded once)")
	fs.BoolVar(&f.exact, "exact", false, "also compute the exact reference hypergradient (dense, O(n·d²)) and the relative error")
	fs.BoolVar(&f.estimate, "estimate", false, "AID on an optimisation problem: also an error estimate (one Newton correction of w and of the adjoint, by CG to 1e-3; not certified, close to the true error)")
	fs.StringVar(&f.maxMemory, "max-memory", "", "memory budget in bytes: a number with an optional K, M, G or T suffix (powers of 1024), such as 8G or 1.5e9; the run is refused (exit 2) when its estimate exceeds it (default: MemAvailable from /proc/meminfo, else 8 GiB)")
	fs.BoolVar(&f.checkpoint, "checkpoint", false, "itd (reverse mode): store every ⌈√K⌉-th iterate and recompute the others (O(√K·d) memory for at most K more inner steps; the same result)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of text")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, gradUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil, exitOK, false
		}
		fmt.Fprintf(stderr, "hypergrad grad: %v (see hypergrad grad -h)\n", err)
		return nil, exitUsage, false
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if !f.set["data"] {
		f.source = defaultSource
		if f.problem != "ridge" && f.problem != "logreg" {
			f.source = "synth:"
		}
	}
	if !f.set["method"] && f.fixedPoint() {
		f.method = "aid-gmres"
	}
	if f.itd() && !f.set["k"] {
		f.k = 0 // full ITD unless a truncation is asked for
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hypergrad grad: unexpected argument %q (see hypergrad grad -h)\n", fs.Arg(0))
		return nil, exitUsage, false
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "hypergrad grad: %v\n", err)
		return nil, exitUsage, false
	}
	return f, exitOK, true
}

func (f *gradFlags) check() error {
	if !slices.Contains(data.Families, f.problem) {
		return fmt.Errorf("unknown problem %q (want %s)", f.problem, strings.Join(data.Families, ", "))
	}
	if strings.TrimSpace(f.source) == "" {
		return errors.New("-data is empty: give an .npz file or a synth: source (or leave -data out for the default)")
	}
	if strings.TrimSpace(f.method) == "" {
		return errors.New("-method is empty (see hypergrad grad -h for the methods)")
	}
	if f.t < 1 {
		return fmt.Errorf("-t %d: want T ≥ 1", f.t)
	}
	if f.set["max-memory"] {
		n, err := parseBytes(f.maxMemory)
		if err != nil {
			return fmt.Errorf("-max-memory %q: %v", f.maxMemory, err)
		}
		f.maxMem = n
	}
	if f.estimate && (f.fixedPoint() || f.itd()) {
		return fmt.Errorf("-estimate applies to AID on an optimisation problem, not %s on %s", f.method, f.problem)
	}
	if f.checkpoint && f.method != "itd" {
		return fmt.Errorf("-checkpoint applies to -method itd (reverse mode), not %s", f.method)
	}
	if f.maxCG < 0 {
		return fmt.Errorf("-max-cg %d: want a CG cap ≥ 0 (0: max(100, 2d))", f.maxCG)
	}
	if f.set["max-cg"] && f.inner != "newton" {
		return fmt.Errorf("-max-cg applies to -inner newton (the CG of each Newton step), not -inner %s", f.inner)
	}
	if f.itd() && f.k < 0 {
		return fmt.Errorf("-k %d: for %s, K is the truncation length, ≥ 0 (0 = full)", f.k, f.method)
	}
	if !f.itd() && f.k < 1 {
		return fmt.Errorf("-k %d: want K ≥ 1 for %s", f.k, f.method)
	}
	for _, tol := range []struct {
		name string
		v    float64
	}{{"-tol-inner", f.tolInner}, {"-tol-linear", f.tolLinear}, {"-target-rel", f.targetRel}, {"-target-abs", f.targetAbs}} {
		if !(tol.v >= 0) || math.IsInf(tol.v, 0) {
			return fmt.Errorf("%s %v: want a finite value ≥ 0", tol.name, tol.v)
		}
	}
	if f.fixedPoint() {
		if f.set["inner"] {
			return fmt.Errorf("-inner does not apply to %s: its lower level is the fixed-point iteration w ← Φ(w, λ)", f.problem)
		}
		if f.targetRel > 0 || f.targetAbs > 0 {
			return fmt.Errorf("-target-rel and -target-abs do not apply to %s: accuracy targets are for AID on optimisation problems", f.problem)
		}
	}
	if (f.targetRel > 0 || f.targetAbs > 0) && (f.tolInner != 0 || f.tolLinear != 0) {
		return errors.New("a target chooses the tolerances: drop -tol-inner and -tol-linear")
	}
	if (f.targetRel > 0 || f.targetAbs > 0) && !f.fixedPoint() && !f.set["inner"] {
		f.inner = "newton" // a target's default inner solver (hypergrad.AID.Inner)
	}
	if !f.fixedPoint() {
		// Everything else about the method is the factory's to say; a
		// fixed-point method is checked once the problem is built (aid-cg
		// and aid-minres depend on its Jacobian).
		if _, err := f.spec().Estimator(f.t, f.k); err != nil {
			return err
		}
	}
	return nil
}

// spec is the method of the flags for the estimator factory.
func (f *gradFlags) spec() bench.MethodSpec {
	m := bench.MethodSpec{Name: f.method, TolInner: f.tolInner, TolLinear: f.tolLinear}
	if !f.fixedPoint() {
		m.Inner = f.inner
	}
	if f.itd() {
		m.Truncate = f.k
	}
	if f.targetRel > 0 || f.targetAbs > 0 {
		m.Target = &hypergrad.Target{Rel: f.targetRel, Abs: f.targetAbs}
	}
	return m
}

// gradOutput is the JSON object printed with -json.
type gradOutput struct {
	Problem       string              `json:"problem"`
	Shape         string              `json:"shape"`
	Source        string              `json:"data"`
	Backend       string              `json:"backend"`
	Device        string              `json:"device"`
	Method        string              `json:"method"`
	Hypergradient []jnum              `json:"hypergradient"`
	Norm          jnum                `json:"norm"`
	Iterations    map[string]int      `json:"iterations"`
	Counts        hypergrad.Counts    `json:"counts"`
	Seconds       map[string]float64  `json:"seconds"`
	Status        string              `json:"status"`
	InnerStatus   string              `json:"inner_status"`
	LinearStatus  string              `json:"linear_status"`
	Residuals     map[string]*float64 `json:"residuals"`
	Steps         map[string]jnum     `json:"steps"`
	Constants     map[string]any      `json:"constants,omitempty"`
	Bound         *float64            `json:"bound"`
	BoundKind     string              `json:"bound_kind"`
	BoundRel      *float64            `json:"bound_relative"`
	BoundNote     string              `json:"bound_note,omitempty"`
	BoundTerms    map[string]jnum     `json:"bound_terms,omitempty"`
	ErrorEst      *float64            `json:"error_estimate,omitempty"`
	ErrorEstNote  string              `json:"error_estimate_note,omitempty"`
	APriori       *float64            `json:"a_priori_bound"`
	APrioriKind   string              `json:"a_priori_kind"`
	Target        map[string]any      `json:"target,omitempty"`
	Exact         []jnum              `json:"exact,omitempty"`
	RelativeError *jnum               `json:"relative_error,omitempty"`
	Reference     string              `json:"reference,omitempty"`
	RefGradNorm   *jnum               `json:"reference_inner_grad_norm,omitempty"`
}

// gradProblem is what runGrad needs of a problem of either kind, besides
// the estimate itself.
type gradProblem interface {
	bilevel.Referencer
	Close() error
}

func runGrad(args []string, stdout, stderr io.Writer) int {
	f, status, ok := parseGrad(args, stdout, stderr)
	if !ok {
		return status
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "hypergrad grad: "+format+"\n", a...)
		return code
	}
	b, err := backend.Open(f.backend)
	if err != nil {
		return fail(exitUsage, "-backend %s: %v", f.backend, err)
	}
	defer b.Close()

	budget, budgetFrom := f.maxMem, "-max-memory"
	if budget == 0 {
		budget, budgetFrom = availableMemory()
	}

	tLoad := time.Now()
	// The loaders take -max-memory where given, else their own default
	// (data.DefaultMaxBytes); the estimate below then checks the whole run.
	d, err := data.Limits{MaxBytes: f.maxMem}.Load(f.problem, f.source)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	load := time.Since(tLoad)
	// The memory of the run, before the problem is uploaded.
	mem, err := f.estimateMemory(d)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if total := mem.total(); total > float64(budget) {
		return fail(exitUsage, "the run needs about %s, more than the %s allowed (%s): %s", byteString(total), byteString(float64(budget)), budgetFrom, mem)
	}

	// The problem, its constants for the output, and the estimate, by kind.
	var (
		p         gradProblem
		shape     string
		constants map[string]any
		estimate  func(context.Context) (*hypergrad.Result, error)
	)
	tSetup := time.Now()
	live := newLiveProgress(stderr)
	if f.fixedPoint() {
		fp, sh, err := problems.NewFixedPoint(b, f.problem, d)
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		defer fp.Close()
		p, shape = fp, sh
		if c, ok := fp.(bilevel.Contractor); ok {
			q, err := c.Contraction()
			if err != nil {
				return fail(exitCode(err), "%v", err)
			}
			constants = map[string]any{"q": q}
		}
		if db, ok := fp.(problems.DenseBudgeter); ok {
			if err := db.SetMaxDenseBytes(budget); err != nil {
				return fail(exitUsage, "%v", err)
			}
		}
		est, err := f.spec().FixedPointEstimator(f.t, f.k, fp)
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		if itd, ok := est.(*hypergrad.FixedPointITD); ok {
			itd.Checkpoint, itd.MaxBytes = f.checkpoint, budget
		}
		setMonitor(est, live.monitor())
		estimate = func(ctx context.Context) (*hypergrad.Result, error) { return est.EstimateFixedPoint(ctx, fp, nil) }
	} else {
		op, sh, err := problems.New(b, f.problem, d)
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		defer op.Close()
		p, shape = op, sh
		if db, ok := op.(problems.DenseBudgeter); ok {
			if err := db.SetMaxDenseBytes(budget); err != nil {
				return fail(exitUsage, "%v", err)
			}
		}
		consts, err := op.Constants()
		if err != nil {
			return fail(exitCode(err), "%v", err)
		}
		constants = map[string]any{"mu": consts.Mu, "L": consts.L, "kappa": consts.Kappa(), "L_f": consts.Lf, "L_A": consts.LA, "L_B": consts.LB}
		est, err := f.spec().Estimator(f.t, f.k)
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		if aid, ok := est.(*hypergrad.AID); ok {
			aid.ErrorEstimate = f.estimate
			if nt, ok := aid.Inner.(hypergrad.Newton); ok {
				nt.MaxCG = f.maxCG
				aid.Inner = nt
			}
		}
		if itd, ok := est.(*hypergrad.ITD); ok {
			itd.Checkpoint, itd.MaxBytes = f.checkpoint, budget
		}
		setMonitor(est, live.monitor())
		estimate = func(ctx context.Context) (*hypergrad.Result, error) { return est.Estimate(ctx, op, nil) }
	}
	setup := time.Since(tSetup)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := estimate(ctx)
	live.done()
	if err != nil {
		if errors.Is(err, hypergrad.ErrTooLarge) {
			return fail(exitUsage, "%v", err)
		}
		return fail(exitFailure, "%v", err)
	}
	hnorm := floats.Norm(res.Hypergradient, 2)
	if res.Target != nil && !res.TargetMet {
		switch res.TargetStop {
		case hypergrad.TargetFloor:
			defer fmt.Fprintf(stderr, "hypergrad grad: target not met: the bound stopped shrinking at %.3g relative (%.3g absolute): the rounding floor; the target is below what float64 allows here\n",
				res.Bound.Relative(hnorm), res.Bound.Value)
		case hypergrad.TargetRounds:
			defer fmt.Fprintf(stderr, "hypergrad grad: target not met within %d rounds: the bound reached %.3g relative\n",
				res.Rounds, res.Bound.Relative(hnorm))
		default:
			defer fmt.Fprintf(stderr, "hypergrad grad: target not met within the budgets (-t %d, -k %d): the bound reached %.3g relative\n",
				f.t, f.k, res.Bound.Relative(hnorm))
		}
	}

	out := gradOutput{
		Problem: f.problem, Shape: shape, Source: f.source, Backend: b.Name(), Device: b.Device(),
		Method: res.Method, Hypergradient: jnums(res.Hypergradient), Norm: jnum(hnorm),
		Iterations: map[string]int{"inner": res.InnerIters, "linear": res.LinearIters},
		Counts:     res.Counts,
		Seconds: map[string]float64{"total": res.Time.Total.Seconds(), "inner": res.Time.Inner.Seconds(),
			"linear": res.Time.Linear.Seconds(), "cross": res.Time.Cross.Seconds(),
			"load": load.Seconds(), "setup": setup.Seconds()},
		Status: res.Status.String(), InnerStatus: res.InnerStatus.String(), LinearStatus: res.LinearStatus.String(),
		Residuals: map[string]*float64{"inner": finiteOrNil(res.InnerResidual), "linear": finiteOrNil(res.LinearResidual)},
		Steps:     map[string]jnum{"inner_alpha": jnum(res.InnerStep), "inner_beta": jnum(res.InnerMomentum), "linear_alpha": jnum(res.LinearStep), "linear_beta": jnum(res.LinearMomentum)},
		Constants: constants,
		Bound:     finiteOrNil(res.Bound.Value), BoundKind: res.Bound.Kind.String(), BoundNote: res.Bound.Note,
		ErrorEst: estimateOrNil(f.estimate, res.Estimate), ErrorEstNote: res.Estimate.Note,
		BoundRel: finiteOrNil(res.Bound.Relative(hnorm)),
		APriori:  finiteOrNil(res.APriori.Value), APrioriKind: res.APriori.Kind.String(),
	}
	if res.Bound.Kind != hypergrad.BoundNone {
		out.BoundTerms = map[string]jnum{"linear": jnum(res.Bound.Linear), "inner": jnum(res.Bound.Inner), "inner_squared": jnum(res.Bound.InnerSquared),
			"eps": jnum(res.Bound.Eps), "residual": jnum(res.Bound.Residual), "cross_norm": jnum(res.Bound.CrossNorm)}
		if res.Bound.Refined {
			out.BoundTerms["correction"] = jnum(res.Bound.Correction)
			out.BoundTerms["remainder"] = jnum(res.Bound.Remainder)
			out.BoundTerms["plain"] = jnum(res.Bound.Plain)
		}
	}
	if res.Target != nil {
		out.Target = map[string]any{"rel": res.Target.Rel, "abs": res.Target.Abs, "met": res.TargetMet, "rounds": res.Rounds, "stop": res.TargetStop.String()}
	}
	if f.exact {
		tRef := time.Now()
		ref, err := p.Reference()
		if errors.Is(err, problems.ErrTooLarge) {
			return fail(exitUsage, "exact reference: %v", err)
		}
		if err != nil {
			return fail(exitFailure, "exact reference: %v", err)
		}
		out.Seconds["exact"] = time.Since(tRef).Seconds()
		rel := jnum(relErr(res.Hypergradient, ref.Hypergradient))
		out.Exact, out.RelativeError, out.Reference = jnums(ref.Hypergradient), &rel, ref.Method
		gn := jnum(ref.InnerGradNorm)
		out.RefGradNorm = &gn
	}
	if f.json {
		jout := out
		jout.Constants = jsonConstants(out.Constants)
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(jout); err != nil {
			return fail(exitFailure, "internal error: writing JSON: %v (please report it with the command line)", err)
		}
		return exitOK
	}
	printText(stdout, &out, res, f.fixedPoint())
	return exitOK
}

// relErr is ‖got − want‖/‖want‖ (‖got‖ when want = 0).
func relErr(got, want []float64) float64 {
	n := floats.Norm(want, 2)
	if n == 0 {
		return floats.Norm(got, 2)
	}
	return floats.Distance(got, want, 2) / n
}

// jnum is a float64 that encodes to JSON as a number when finite and as
// the string "+Inf", "-Inf" or "NaN" otherwise (JSON has no non-finite
// numbers; encoding/json refuses them), so that a result is never lost to
// its encoding. docs/cli.md documents it.
type jnum float64

func (x jnum) MarshalJSON() ([]byte, error) {
	v := float64(x)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

func jnums(x []float64) []jnum {
	if x == nil {
		return nil
	}
	out := make([]jnum, len(x))
	for i, v := range x {
		out[i] = jnum(v)
	}
	return out
}

// jsonConstant is a bilevel.Constant with a JSON-safe value (its fields as
// encoding/json writes a bilevel.Constant).
type jsonConstant struct {
	Value jnum         `json:"value"`
	Kind  bilevel.Kind `json:"kind"`
}

// jsonConstants returns the constants with every number JSON-safe.
func jsonConstants(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch c := v.(type) {
		case bilevel.Constant:
			out[k] = jsonConstant{Value: jnum(c.Value), Kind: c.Kind}
		case float64:
			out[k] = jnum(c)
		default:
			out[k] = v
		}
	}
	return out
}

// exitCode is the exit status of a failure to build a problem's constants:
// a dense factorisation that failed (problems.ErrNumerical) is a
// computation failure; anything else says the data cannot define the
// problem (problems.ErrConstants: not strongly convex to working precision).
func exitCode(err error) int {
	if errors.Is(err, problems.ErrNumerical) {
		return exitFailure
	}
	return exitUsage
}

func finiteOrNil(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func printText(w io.Writer, o *gradOutput, res *hypergrad.Result, fixedPoint bool) {
	fmt.Fprintf(w, "problem        %s (%s) from %s\n", o.Problem, o.Shape, o.Source)
	fmt.Fprintf(w, "backend        %s\n", o.Device)
	if fixedPoint {
		fmt.Fprintf(w, "method         %s: %d fixed-point, %d linear iterations", o.Method, res.InnerIters, res.LinearIters)
		if q, ok := o.Constants["q"].(bilevel.Constant); ok {
			fmt.Fprintf(w, " (Φ contracts with q = %.4g, %s)", q.Value, q.Kind)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "method         %s: %d inner, %d linear iterations (", o.Method, res.InnerIters, res.LinearIters)
		if res.InnerStep != 0 {
			fmt.Fprintf(w, "α = %.4g", res.InnerStep)
			if res.InnerMomentum != 0 {
				fmt.Fprintf(w, ", β = %.4g", res.InnerMomentum)
			}
			fmt.Fprint(w, "; ")
		}
		l, _ := o.Constants["L"].(bilevel.Constant)
		fmt.Fprintf(w, "κ %s %.4g)\n", map[bool]string{true: "=", false: "≈"}[l.Kind == bilevel.Exact], o.Constants["kappa"])
	}
	fmt.Fprintf(w, "status         %s (inner %s, linear %s)\n", o.Status, o.InnerStatus, o.LinearStatus)
	if fixedPoint {
		fmt.Fprintf(w, "residuals      ‖w_t − w_{t−1}‖ = %.3g", res.InnerResidual)
		if !math.IsNaN(res.LinearResidual) {
			fmt.Fprintf(w, ", ‖∇_wE − (I − ∂_wΦᵀ)v‖ = %.3g", res.LinearResidual)
		}
	} else {
		fmt.Fprintf(w, "residuals      ‖∇g(w_t)‖ = %.3g", res.InnerResidual)
		if !math.IsNaN(res.LinearResidual) {
			fmt.Fprintf(w, ", ‖A q − ∇E‖ = %.3g", res.LinearResidual)
		}
	}
	fmt.Fprintln(w)
	c := res.Counts
	if fixedPoint {
		fmt.Fprintf(w, "oracle calls   %d maps Φ, %d ∂_wΦ·u, %d ∂_wΦᵀ·u, %d ∂_λΦ·u, %d ∂_λΦᵀ·u, %d outer gradients\n",
			c.Maps, c.JacVecs, c.JacTransVecs, c.HyperJacVecs, c.HyperJacTransVecs, c.OuterGrads)
	} else {
		fmt.Fprintf(w, "oracle calls   %d inner gradients, %d Hessian-vector, %d cross, %d outer gradients", c.InnerGrads, c.HessVecs, c.CrossVecs, c.OuterGrads)
		if c.HessDiags > 0 {
			fmt.Fprintf(w, ", %d Hessian diagonals", c.HessDiags)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "seconds        %.4g total: inner %.4g, linear %.4g, cross %.4g (load %.3g, setup %.3g not included)\n",
		o.Seconds["total"], o.Seconds["inner"], o.Seconds["linear"], o.Seconds["cross"], o.Seconds["load"], o.Seconds["setup"])
	fmt.Fprintf(w, "hypergradient  ‖h‖ = %.6g; %s\n", float64(o.Norm), head(res.Hypergradient))
	if res.Bound.Kind != hypergrad.BoundNone {
		fmt.Fprintf(w, "error bound    ‖h − ∇f‖ ≤ %.3g (%s; relative ≤ %.3g)", res.Bound.Value, res.Bound.Kind, res.Bound.Relative(float64(o.Norm)))
		if b := res.Bound; b.Refined {
			fmt.Fprintf(w, "; refined: estimate %.3g + remainder %.3g, plain bound %.3g", b.Correction, b.Remainder, b.Plain)
		}
		if res.APriori.Kind != hypergrad.BoundNone {
			fmt.Fprintf(w, "; a priori %.3g", res.APriori.Value)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "error bound    none (%s)\n", res.Bound.Note)
	}
	if e := res.Estimate; e.Kind != hypergrad.BoundNone {
		fmt.Fprintf(w, "error estimate ‖h − ∇f‖ ≈ %.3g (not certified: %d Newton step(s) and an adjoint correction, %d CG iterations, %.3g s)\n", e.Value, e.NewtonSteps, e.Iters, e.Time.Seconds())
	} else if e.Note != "" {
		fmt.Fprintf(w, "error estimate none (%s)\n", e.Note)
	}
	if res.Target != nil {
		fmt.Fprintf(w, "target         relative %g, absolute %g: met %v after %d rounds (%s)\n", res.Target.Rel, res.Target.Abs, res.TargetMet, res.Rounds, res.TargetStop)
	}
	if o.RelativeError != nil {
		fmt.Fprintf(w, "exact          ‖h − ∇f‖/‖∇f‖ = %.3g (%s, reaching ‖∇_w g‖ = %.3g; %.3g s)\n", *o.RelativeError, o.Reference, float64(*o.RefGradNorm), o.Seconds["exact"])
	}
}

func head(x []float64) string {
	n := min(len(x), 5)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%.6g", x[i])
	}
	s := "[" + strings.Join(parts, " ")
	if len(x) > n {
		s += fmt.Sprintf(" … (%d values; -json prints all)", len(x))
	}
	return s + "]"
}

// defaultMaxMemory is the memory budget when -max-memory is not given and
// /proc/meminfo has no readable MemAvailable: 8 GiB.
const defaultMaxMemory int64 = 8 << 30

// memInfoPath is where availableMemory reads MemAvailable.
var memInfoPath = "/proc/meminfo"

// availableMemory returns the default memory budget and where it comes
// from: MemAvailable of /proc/meminfo (the memory the kernel can give
// without swapping) where readable, else defaultMaxMemory.
func availableMemory() (int64, string) {
	if b, err := os.ReadFile(memInfoPath); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "MemAvailable:" || (len(f) > 2 && f[2] != "kB") {
				continue
			}
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > 0 && kb <= math.MaxInt64/1024 {
				return kb * 1024, "MemAvailable of " + memInfoPath + "; set -max-memory to change it"
			}
		}
	}
	return defaultMaxMemory, "the default of 8 GiB, as " + memInfoPath + " has no MemAvailable; set -max-memory to change it"
}

// parseBytes parses -max-memory: a number of bytes with an optional K, M, G
// or T suffix (either case; powers of 1024), such as 8G, 512M or 1.5e9; at
// least one byte, and math.MaxInt64 at most (larger values are capped).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("want a number of bytes with an optional K, M, G or T suffix, such as 8G or 1.5e9")
	}
	b := v * mult
	switch {
	case !(b >= 1) || math.IsInf(b, 0):
		return 0, errors.New("want a finite budget of at least 1 byte")
	case b >= math.MaxInt64:
		return math.MaxInt64, nil
	}
	return int64(b), nil
}

// byteString formats a byte estimate with a binary prefix:
// "1.07e+09 bytes (1.0 GiB)".
func byteString(b float64) string {
	if b < 1<<10 {
		return fmt.Sprintf("%.0f bytes", b)
	}
	v, i := b, 0
	for v >= 1<<10 && i < 6 {
		v /= 1 << 10
		i++
	}
	return fmt.Sprintf("%.3g bytes (%.1f %ciB)", b, v, "KMGTPE"[i-1])
}

// runMemory is the estimate of a grad run's memory by part, in bytes.
type runMemory struct {
	data      float64 // the arrays of the data, once
	vectors   float64 // the problem's vectors
	estimator float64 // the estimator's vectors, with ITD's trajectory
	exact     float64 // -exact's dense matrices (problems.DenseBytes)
	what      string  // what the estimator's part is
	hint      string  // what needs less when the estimator's part dominates
}

// total is the estimate of the run: the data twice (the host copy and the
// backend's), and the other parts once.
func (m runMemory) total() float64 { return 2*m.data + m.vectors + m.estimator + m.exact }

// String lists the parts and what to change.
func (m runMemory) String() string {
	s := fmt.Sprintf("data %s (host and backend copies), problem vectors %s, %s %s",
		byteString(2*m.data), byteString(m.vectors), m.what, byteString(m.estimator))
	if m.exact > 0 {
		s += fmt.Sprintf(", -exact's dense matrices %s", byteString(m.exact))
	}
	switch max(2*m.data, m.vectors, m.estimator, m.exact) {
	case m.exact:
		s += "; drop -exact (its dense reference needs O(d²) memory)"
	case m.estimator:
		if m.hint != "" {
			s += "; " + m.hint
		}
	}
	return s + "; or raise -max-memory if the machine has the memory"
}

// matrixBytes is the memory of a data matrix: 8 bytes per value, and for
// CSR 8 per column index and row pointer.
func matrixBytes(x *data.Matrix) float64 {
	switch {
	case x == nil:
		return 0
	case x.IsCSR():
		return 16*float64(len(x.Data)) + 8*float64(x.Rows+1)
	}
	return 8 * float64(x.Rows) * float64(x.Cols)
}

// problemVectors is the number of vectors of each of the problem's
// dimensions (rows, inner dimension, hyperparameters) counted for its
// work vectors, as data.Limits counts for a CSR matrix.
const problemVectors = 16

// aidVectors is the number of vectors of length d counted for AID and the
// fixed-point AID: iterates, residuals, directions and GMRES's Krylov basis
// (restarted every 30 steps).
const aidVectors = 40

// estimateMemory estimates the memory of the run on data d as data.Load
// returned it (see runMemory and docs/cli.md).
func (f *gradFlags) estimateMemory(d any) (runMemory, error) {
	var m runMemory
	var rows, dim, h int
	vec := func(xs ...int) float64 {
		var n float64
		for _, x := range xs {
			n += float64(x)
		}
		return 8 * n
	}
	switch v := d.(type) {
	case *data.Supervised:
		m.data = matrixBytes(v.XTrain) + matrixBytes(v.XVal) + vec(len(v.YTrain), len(v.YVal), len(v.Lambda))
		rows, dim, h = v.XTrain.Rows+v.XVal.Rows, v.XTrain.Cols, len(v.Lambda)
	case *data.Quadratic:
		m.data = matrixBytes(v.A) + matrixBytes(v.C) + matrixBytes(v.D) + vec(len(v.B), len(v.E), len(v.Theta))
		rows, dim, h = v.A.Rows+v.D.Rows, v.D.Cols, v.C.Cols
	case *data.Equilibrium:
		n, p, k, c := v.Dims()
		m.data = matrixBytes(v.X) + matrixBytes(v.A) + matrixBytes(v.B) + matrixBytes(v.Wo) + vec(len(v.Y), len(v.Bias), len(v.Bo))
		rows, dim, h = n*c+p, n*k, v.HyperDim()
	case *data.Multiclass:
		n, mv, dd, c := v.Dims()
		m.data = matrixBytes(v.XTrain) + matrixBytes(v.XVal) + vec(n, mv, len(v.Lambda))
		rows, dim, h = (n+mv)*c, dd*c, len(v.Lambda) // the probabilities are rows×c
	case *data.Hypercleaning:
		n, mv, p, c := v.Dims()
		// X̃ = [X, 1] is copied once on the host and once on the device.
		m.data = 2*(matrixBytes(v.XTrain)+matrixBytes(v.XVal)) + vec(n, mv, n)
		rows, dim, h = (n+mv)*c, (p+1)*c, n
	case *data.KRR:
		n, mv, _ := v.Dims()
		m.data = matrixBytes(v.XTrain) + matrixBytes(v.XVal) + vec(n, mv) + float64(data.KRRKernelBytes(n, mv))
		rows, dim, h = n+mv, n, 2
	case *data.BiasReg:
		tasks, n, mv, dd := v.Dims()
		m.data = vec(tasks*n*dd, tasks*mv*dd, tasks*n, tasks*mv, dd)
		rows, dim, h = tasks*(n+mv), tasks*dd, dd
	case *data.TVDenoise:
		px := v.H * v.W
		// y, x_true, and D and |D| as CSR: 2·px rows, at most 4·px stored
		// values of 16 bytes (value and column index), 2·px+1 row pointers.
		csr := 16*4*float64(px) + vec(2*px+1)
		m.data = vec(2*px) + 2*csr
		rows, dim, h = 2*px, px, 2
	default:
		return m, fmt.Errorf("internal error: data of type %T", d)
	}
	m.vectors = problemVectors * vec(rows, dim, h)
	switch {
	case f.method == "itd-fwd" && !f.fixedPoint():
		est, err := f.spec().Estimator(f.t, f.k)
		if err != nil {
			return m, err
		}
		itd, ok := est.(*hypergrad.ITD)
		if !ok {
			return m, fmt.Errorf("internal error: itd-fwd is %T", est)
		}
		m.estimator = float64(itd.MemoryBytes(dim, h))
		m.what, m.hint = "forward-mode ITD's ∂w/∂λ", "use -method itd (reverse mode)"
	case f.method == "itd" && !f.fixedPoint():
		est, err := f.spec().Estimator(f.t, f.k)
		if err != nil {
			return m, err
		}
		itd, ok := est.(*hypergrad.ITD)
		if !ok {
			return m, fmt.Errorf("internal error: itd is %T", est)
		}
		itd.Checkpoint = f.checkpoint
		m.estimator, m.what = float64(itd.MemoryBytes(dim, h)), "ITD's stored trajectory"
		if f.checkpoint {
			m.what = "ITD's checkpoints"
		} else if f.inner != "fista" {
			itd.Checkpoint = true
			m.hint = fmt.Sprintf("use -checkpoint (about %s for the trajectory) or a truncation -k", byteString(float64(itd.MemoryBytes(dim, h))))
		} else {
			m.hint = "use a truncation -k"
		}
	case f.itd(): // fixed-point ITD
		itd := &hypergrad.FixedPointITD{T: f.t, Truncate: f.k, Checkpoint: f.checkpoint, Forward: f.method == "itd-fwd"}
		m.estimator = float64(itd.MemoryBytes(dim, h))
		switch {
		case itd.Forward:
			m.what, m.hint = "forward-mode ITD's ∂w/∂λ", "use -method itd (reverse mode)"
		case f.checkpoint:
			m.what = "ITD's checkpoints"
		default:
			itd.Checkpoint = true
			m.what = "ITD's stored trajectory"
			m.hint = fmt.Sprintf("use -checkpoint (about %s for the trajectory) or a truncation -k", byteString(float64(itd.MemoryBytes(dim, h))))
		}
	default:
		m.estimator, m.what = aidVectors*vec(dim)+4*vec(h), "the estimator's vectors"
	}
	if f.exact {
		b, err := problems.DenseBytes(f.problem, d)
		if err != nil {
			return m, err
		}
		m.exact = float64(b)
	}
	return m, nil
}

// estimateOrNil is the error estimate for -json: nil without -estimate or
// without a finite estimate.
func estimateOrNil(asked bool, e hypergrad.ErrorEstimate) *float64 {
	if !asked || e.Kind == hypergrad.BoundNone {
		return nil
	}
	return finiteOrNil(e.Value)
}
