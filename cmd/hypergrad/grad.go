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
	"strings"
	"time"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/bilevel"
	"github.com/hypergrad-go/hypergrad/bilevel/bileveltest"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
	"github.com/hypergrad-go/hypergrad/problems"
)

const gradUsage = `Usage: hypergrad grad [flags]

Computes one hypergradient ∇f(λ) of f(λ) = E(w*(λ), λ), w*(λ) = argmin_w g(w, λ),
for a problem of the zoo (go doc ./problems) at the λ stored with its data.

Flags:
`

const defaultSource = "synth:n=1000,d=100,kappa=100,seed=0"

// gradFlags are the parsed flags of hypergrad grad.
type gradFlags struct {
	problem, source, method, inner, backend string
	t, k                                    int
	tolInner, tolLinear                     float64
	targetRel, targetAbs                    float64
	exact, json                             bool
}

func parseGrad(args []string, stdout, stderr io.Writer) (*gradFlags, int, bool) {
	f := &gradFlags{}
	fs := flag.NewFlagSet("grad", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.problem, "problem", "ridge", "problem: ridge, logreg or quadratic")
	fs.StringVar(&f.source, "data", defaultSource, "an .npz file, or synth:key=value,... (keys n, m, d, kappa, noise, lambda, seed; quadratic: m1, m2, d, h, sigma, seed, numpy)")
	fs.StringVar(&f.method, "method", "aid-cg", "estimator: itd, aid-fp, aid-cg, aid-pcg (CG with the Jacobi preconditioner diag(A)) or aid-hb")
	fs.StringVar(&f.inner, "inner", "gd", "inner solver: gd (gradient descent, α = 2/(L+μ)), hb (heavy ball), fista, or newton (inexact Newton with Jacobi CG; AID only)")
	fs.IntVar(&f.t, "t", 100, "inner iterations T ≥ 1 (the budget when -tol-inner is set)")
	fs.IntVar(&f.k, "k", 20, "AID: linear iterations K ≥ 1 (the budget when -tol-linear is set); ITD: truncation length (0 = full, the default for itd)")
	fs.Float64Var(&f.tolInner, "tol-inner", 0, "stop the inner solve when ‖∇_w g‖ ≤ this (0: run exactly T steps)")
	fs.Float64Var(&f.tolLinear, "tol-linear", 0, "stop the linear solve when ‖A q − ∇_wE‖ ≤ this (0: run exactly K steps)")
	fs.Float64Var(&f.targetRel, "target-rel", 0, "AID: iterate until the certified bound guarantees this relative accuracy (-t, -k become budgets)")
	fs.Float64Var(&f.targetAbs, "target-abs", 0, "AID: iterate until the certified bound guarantees this absolute accuracy")
	fs.StringVar(&f.backend, "backend", "cpu", "backend: cpu, cuda, or cuda-f32 (dense X stored in float32 on the GPU: half the bytes per pass, X rounded once)")
	fs.BoolVar(&f.exact, "exact", false, "also compute the exact reference hypergradient (dense, O(n·d²)) and the relative error")
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
	kSet := false
	fs.Visit(func(fl *flag.Flag) { kSet = kSet || fl.Name == "k" })
	if f.method == "itd" && !kSet {
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
	switch f.problem {
	case "ridge", "logreg", "quadratic":
	default:
		return fmt.Errorf("unknown problem %q (want ridge, logreg or quadratic)", f.problem)
	}
	switch f.method {
	case "itd", "aid-fp", "aid-cg", "aid-pcg", "aid-hb":
	default:
		return fmt.Errorf("unknown method %q (want itd, aid-fp, aid-cg, aid-pcg or aid-hb)", f.method)
	}
	if f.inner != "gd" && f.inner != "hb" && f.inner != "fista" && f.inner != "newton" {
		return fmt.Errorf("unknown inner solver %q (want gd, hb, fista or newton)", f.inner)
	}
	if f.method == "itd" && (f.inner == "fista" || f.inner == "newton") {
		return fmt.Errorf("itd differentiates through gd or hb, not %s", f.inner)
	}
	if f.t < 1 {
		return fmt.Errorf("-t %d: want T ≥ 1", f.t)
	}
	if f.method == "itd" && f.k < 0 {
		return fmt.Errorf("-k %d: for itd, K is the truncation length, ≥ 0 (0 = full)", f.k)
	}
	if f.method != "itd" && f.k < 1 {
		return fmt.Errorf("-k %d: want K ≥ 1 for %s", f.k, f.method)
	}
	for _, tol := range []struct {
		name string
		v    float64
	}{{"-tol-inner", f.tolInner}, {"-tol-linear", f.tolLinear}} {
		if !(tol.v >= 0) || math.IsInf(tol.v, 0) {
			return fmt.Errorf("%s %v: want a finite value ≥ 0", tol.name, tol.v)
		}
	}
	if f.method == "itd" && f.tolLinear != 0 {
		return errors.New("-tol-linear does not apply to itd (it has no linear solve)")
	}
	for _, tg := range []struct {
		name string
		v    float64
	}{{"-target-rel", f.targetRel}, {"-target-abs", f.targetAbs}} {
		if !(tg.v >= 0) || math.IsInf(tg.v, 0) {
			return fmt.Errorf("%s %v: want a finite value ≥ 0", tg.name, tg.v)
		}
	}
	if f.targetRel > 0 || f.targetAbs > 0 {
		if f.method == "itd" {
			return errors.New("accuracy targets need AID (itd has no error bound in general)")
		}
		if f.tolInner != 0 || f.tolLinear != 0 {
			return errors.New("a target chooses the tolerances: drop -tol-inner and -tol-linear")
		}
	}
	return nil
}

func (f *gradFlags) estimator() hypergrad.Estimator {
	var inner hypergrad.InnerSolver = hypergrad.GradientDescent{}
	switch f.inner {
	case "hb":
		inner = hypergrad.HeavyBall{}
	case "fista":
		inner = hypergrad.FISTA{}
	case "newton":
		inner = hypergrad.Newton{}
	}
	if f.method == "itd" {
		return &hypergrad.ITD{Inner: inner, T: f.t, Truncate: f.k, TolInner: f.tolInner}
	}
	var lin hypergrad.LinearSolver
	switch f.method {
	case "aid-fp":
		lin = hypergrad.FixedPoint{}
	case "aid-hb":
		lin = hypergrad.HeavyBallLinear{}
	case "aid-pcg":
		lin = hypergrad.ConjugateGradient{Jacobi: true}
	default:
		lin = hypergrad.ConjugateGradient{}
	}
	aid := &hypergrad.AID{Inner: inner, Linear: lin, T: f.t, K: f.k, TolInner: f.tolInner, TolLinear: f.tolLinear}
	if f.targetRel > 0 || f.targetAbs > 0 {
		aid.Target = &hypergrad.Target{Rel: f.targetRel, Abs: f.targetAbs}
	}
	return aid
}

// gradOutput is the JSON object printed with -json.
type gradOutput struct {
	Problem       string              `json:"problem"`
	Shape         string              `json:"shape"`
	Source        string              `json:"data"`
	Backend       string              `json:"backend"`
	Device        string              `json:"device"`
	Method        string              `json:"method"`
	Hypergradient []float64           `json:"hypergradient"`
	Norm          float64             `json:"norm"`
	Iterations    map[string]int      `json:"iterations"`
	Counts        hypergrad.Counts    `json:"counts"`
	Seconds       map[string]float64  `json:"seconds"`
	Status        string              `json:"status"`
	InnerStatus   string              `json:"inner_status"`
	LinearStatus  string              `json:"linear_status"`
	Residuals     map[string]*float64 `json:"residuals"`
	Steps         map[string]float64  `json:"steps"`
	Constants     map[string]any      `json:"constants,omitempty"`
	Bound         *float64            `json:"bound"`
	BoundKind     string              `json:"bound_kind"`
	BoundRel      *float64            `json:"bound_relative"`
	BoundNote     string              `json:"bound_note,omitempty"`
	BoundTerms    map[string]float64  `json:"bound_terms,omitempty"`
	APriori       *float64            `json:"a_priori_bound"`
	APrioriKind   string              `json:"a_priori_kind"`
	Target        map[string]any      `json:"target,omitempty"`
	Exact         []float64           `json:"exact,omitempty"`
	RelativeError *float64            `json:"relative_error,omitempty"`
	Reference     string              `json:"reference,omitempty"`
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

	tLoad := time.Now()
	d, err := data.Load(f.problem, f.source)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	load := time.Since(tLoad)

	tSetup := time.Now()
	p, shape, err := problems.New(b, f.problem, d)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	defer p.Close()
	consts, err := p.Constants()
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	setup := time.Since(tSetup)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	est := f.estimator()
	res, err := est.Estimate(ctx, p, nil)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	if res.Target != nil && !res.TargetMet {
		defer fmt.Fprintf(stderr, "hypergrad grad: target not met within the budgets (-t %d, -k %d): the bound reached %.3g relative\n",
			f.t, f.k, res.Bound.Relative(bileveltest.Norm(res.Hypergradient)))
	}

	out := gradOutput{
		Problem: f.problem, Shape: shape, Source: f.source, Backend: b.Name(), Device: b.Device(),
		Method: res.Method, Hypergradient: res.Hypergradient, Norm: bileveltest.Norm(res.Hypergradient),
		Iterations: map[string]int{"inner": res.InnerIters, "linear": res.LinearIters},
		Counts:     res.Counts,
		Seconds: map[string]float64{"total": res.Time.Total.Seconds(), "inner": res.Time.Inner.Seconds(),
			"linear": res.Time.Linear.Seconds(), "cross": res.Time.Cross.Seconds(),
			"load": load.Seconds(), "setup": setup.Seconds()},
		Status: res.Status.String(), InnerStatus: res.InnerStatus.String(), LinearStatus: res.LinearStatus.String(),
		Residuals: map[string]*float64{"inner": finiteOrNil(res.InnerResidual), "linear": finiteOrNil(res.LinearResidual)},
		Steps:     map[string]float64{"inner_alpha": res.InnerStep, "inner_beta": res.InnerMomentum, "linear_alpha": res.LinearStep, "linear_beta": res.LinearMomentum},
		Constants: map[string]any{"mu": consts.Mu, "L": consts.L, "kappa": consts.Kappa(), "L_f": consts.Lf, "L_A": consts.LA, "L_B": consts.LB},
		Bound:     finiteOrNil(res.Bound.Value), BoundKind: res.Bound.Kind.String(), BoundNote: res.Bound.Note,
		BoundRel: finiteOrNil(res.Bound.Relative(bileveltest.Norm(res.Hypergradient))),
		APriori:  finiteOrNil(res.APriori.Value), APrioriKind: res.APriori.Kind.String(),
	}
	if res.Bound.Kind != hypergrad.BoundNone {
		out.BoundTerms = map[string]float64{"linear": res.Bound.Linear, "inner": res.Bound.Inner, "inner_squared": res.Bound.InnerSquared,
			"eps": res.Bound.Eps, "residual": res.Bound.Residual, "cross_norm": res.Bound.CrossNorm}
	}
	if res.Target != nil {
		out.Target = map[string]any{"rel": res.Target.Rel, "abs": res.Target.Abs, "met": res.TargetMet, "rounds": res.Rounds}
	}
	if f.exact {
		tRef := time.Now()
		ref, err := p.Reference()
		if err != nil {
			return fail(exitFailure, "exact reference: %v", err)
		}
		out.Seconds["exact"] = time.Since(tRef).Seconds()
		rel := bileveltest.RelErr(res.Hypergradient, ref.Hypergradient)
		out.Exact, out.RelativeError, out.Reference = ref.Hypergradient, &rel, ref.Method
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fail(exitFailure, "writing JSON: %v", err)
		}
		return exitOK
	}
	printText(stdout, &out, res)
	return exitOK
}

func finiteOrNil(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func printText(w io.Writer, o *gradOutput, res *hypergrad.Result) {
	fmt.Fprintf(w, "problem        %s (%s) from %s\n", o.Problem, o.Shape, o.Source)
	fmt.Fprintf(w, "backend        %s\n", o.Device)
	fmt.Fprintf(w, "method         %s: %d inner, %d linear iterations (", o.Method, res.InnerIters, res.LinearIters)
	if res.InnerStep != 0 {
		fmt.Fprintf(w, "α = %.4g", res.InnerStep)
		if res.InnerMomentum != 0 {
			fmt.Fprintf(w, ", β = %.4g", res.InnerMomentum)
		}
		fmt.Fprint(w, "; ")
	}
	fmt.Fprintf(w, "κ %s %.4g)\n", map[bool]string{true: "=", false: "≈"}[o.Constants["L"].(bilevel.Constant).Kind == bilevel.Exact], o.Constants["kappa"])
	fmt.Fprintf(w, "status         %s (inner %s, linear %s)\n", o.Status, o.InnerStatus, o.LinearStatus)
	fmt.Fprintf(w, "residuals      ‖∇g(w_t)‖ = %.3g", res.InnerResidual)
	if !math.IsNaN(res.LinearResidual) {
		fmt.Fprintf(w, ", ‖A q − ∇E‖ = %.3g", res.LinearResidual)
	}
	fmt.Fprintln(w)
	c := res.Counts
	fmt.Fprintf(w, "oracle calls   %d inner gradients, %d Hessian-vector, %d cross, %d outer gradients", c.InnerGrads, c.HessVecs, c.CrossVecs, c.OuterGrads)
	if c.HessDiags > 0 {
		fmt.Fprintf(w, ", %d Hessian diagonals", c.HessDiags)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "seconds        %.4g total: inner %.4g, linear %.4g, cross %.4g (load %.3g, setup %.3g not included)\n",
		o.Seconds["total"], o.Seconds["inner"], o.Seconds["linear"], o.Seconds["cross"], o.Seconds["load"], o.Seconds["setup"])
	fmt.Fprintf(w, "hypergradient  ‖h‖ = %.6g; %s\n", o.Norm, head(o.Hypergradient))
	if res.Bound.Kind != hypergrad.BoundNone {
		fmt.Fprintf(w, "error bound    ‖h − ∇f‖ ≤ %.3g (%s; relative ≤ %.3g)", res.Bound.Value, res.Bound.Kind, res.Bound.Relative(o.Norm))
		if res.APriori.Kind != hypergrad.BoundNone {
			fmt.Fprintf(w, "; a priori %.3g", res.APriori.Value)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "error bound    none (%s)\n", res.Bound.Note)
	}
	if res.Target != nil {
		fmt.Fprintf(w, "target         relative %g, absolute %g: met %v after %d rounds\n", res.Target.Rel, res.Target.Abs, res.TargetMet, res.Rounds)
	}
	if o.RelativeError != nil {
		fmt.Fprintf(w, "exact          ‖h − ∇f‖/‖∇f‖ = %.3g (%s, %.3g s)\n", *o.RelativeError, o.Reference, o.Seconds["exact"])
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
