package bench

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
)

// WriteMarkdown writes a human summary of the report, linking the figures
// (paths relative to the summary).
func WriteMarkdown(w io.Writer, rep *Report, figures []string) error {
	var b strings.Builder
	m := rep.Meta
	fmt.Fprintf(&b, "# hypergrad bench: suite %s\n\n", m.Suite)
	fmt.Fprintf(&b, "- date: %s; host: %s\n- backend: %s (%s)\n- Go %s, GOMAXPROCS %d, commit %s\n- run time: %.1f s\n\n",
		m.Date, m.Host, m.Backend, m.Device, m.GoVersion, m.GOMAXPROCS, m.Commit, m.Seconds)
	b.WriteString("Relative errors are ‖ĥ − ∇f‖/‖∇f‖ against the exact reference. Oracle calls count inner gradients, " +
		"Hessian-vector products and cross products once each. Methods use the gradient-descent inner solver with " +
		"α = 2/(L+μ) from the problem's constants.\n\n")
	for _, pr := range rep.Problems {
		writeProblem(&b, &pr, figures)
	}
	if len(rep.TargetCost) > 0 {
		writeTargetCost(&b, rep.TargetCost)
	}
	if rep.Outer != nil {
		writeOuter(&b, rep.Outer)
	}
	if rep.Reproduction != nil {
		writeReproduction(&b, rep.Reproduction)
	}
	if rep.Peers != nil {
		writePeers(&b, rep.Peers)
	}
	if rep.TTA != nil {
		writeTTA(&b, rep.TTA)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sci(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.3g", x)
}

func dur(s float64) string {
	switch {
	case math.IsNaN(s):
		return "—"
	case s < 1e-3:
		return fmt.Sprintf("%.3g µs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.3g ms", s*1e3)
	}
	return fmt.Sprintf("%.3g s", s)
}

func writeProblem(b *strings.Builder, pr *ProblemReport, figures []string) {
	fmt.Fprintf(b, "## %s\n\n`%s` (%s, %s). At w*: μ* = %s, L* = %s, κ* = %s (with the Jacobi preconditioner diag(A): %s); step sizes from μ = %s, L = %s (%s). ‖∇f‖ = %s (%s).\n\n",
		pr.Name, pr.Source, pr.Problem, pr.Shape, sci(pr.MuStar), sci(pr.LStar), sci(pr.KappaStar), sci(pr.KappaJacobi), sci(pr.Mu), sci(pr.L), pr.ConstKind, sci(pr.RefNorm), pr.RefMethod)
	o := pr.Oracles
	fmt.Fprintf(b, "Time per oracle call (median, min–max): inner gradient %s (%s–%s), Hessian-vector %s (%s–%s), cross %s (%s–%s).\n\n",
		dur(o["inner_grad"].Median), dur(o["inner_grad"].Min), dur(o["inner_grad"].Max),
		dur(o["hess_vec"].Median), dur(o["hess_vec"].Min), dur(o["hess_vec"].Max),
		dur(o["cross_vec"].Median), dur(o["cross_vec"].Min), dur(o["cross_vec"].Max))

	b.WriteString("### Iteration complexity\n\nCheapest (t, k) of the grid from which the relative error stays at or below each target (as oracle calls, with t and k), and the iterations t = k on the diagonal after which it stays there (interpolated between grid points).\n\n")
	b.WriteString("| method |")
	var targets []float64
	if len(pr.Methods) > 0 {
		for _, c := range pr.Methods[0].Complexity {
			targets = append(targets, c.Target)
			fmt.Fprintf(b, " %.0e |", c.Target)
		}
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(targets)) + "\n")
	for _, m := range pr.Methods {
		fmt.Fprintf(b, "| %s |", m.Estimator)
		for _, c := range m.Complexity {
			if !c.Found {
				b.WriteString(" not reached |")
				continue
			}
			diag := "—"
			if c.Diagonal > 0 {
				diag = fmt.Sprintf("%.1f", c.DiagonalIters)
			}
			fmt.Fprintf(b, " %d calls (t=%d, k=%d); diagonal t=%s |", c.Oracles, c.T, c.K, diag)
		}
		b.WriteString("\n")
	}

	b.WriteString("\n### Asymptotic rates\n\nFitted contraction per iteration (least squares on log error between 1e-12 and 1e-2) against theory with the spectrum [μ*, L*] of A(w*).\n\n| phase | fitted | theory | formula | points | measurement against theory |\n|---|---|---|---|---|---|\n")
	for _, r := range pr.InnerRates {
		fmt.Fprintf(b, "| %s | %.5f | %.5f | %s | %d | %s |\n", r.Phase, r.Fitted, r.Theory, mdCell(r.Formula), r.Points, rateNote(r.Fitted, r.Theory))
	}
	for _, m := range pr.Methods {
		if m.Rate != nil {
			fmt.Fprintf(b, "| %s %s | %.5f | %.5f | %s | %d | %s |\n", m.Estimator, m.Rate.Phase, m.Rate.Fitted, m.Rate.Theory, mdCell(m.Rate.Formula), m.Rate.Points, rateNote(m.Rate.Fitted, m.Rate.Theory))
		}
	}

	if len(pr.Methods) > 0 {
		m0 := pr.Methods[0]
		fmt.Fprintf(b, "\n### Time per hypergradient\n\nMedian (min–max) of %d runs at (t, k) = (%d, %d) (ITD: all t steps back-propagated), and of up to 3 runs at the cheapest (t, k) of the grid that reaches a relative error of %.0e, the time a user pays for that accuracy.\n\n"+
			"| method | at (%d, %d): median | min–max | relative error | to %.0e: (t, k) | median | min–max | relative error |\n|---|---|---|---|---|---|---|---|\n",
			m0.Timing.N, m0.TimingT, m0.TimingK, TimeTarget, m0.TimingT, m0.TimingK, TimeTarget)
		for _, m := range pr.Methods {
			to := "not reached | | |"
			if tp := m.TimeToTarget; tp != nil {
				to = fmt.Sprintf("(%d, %d) | %s | %s–%s | %s", tp.T, tp.K, dur(tp.Seconds.Median), dur(tp.Seconds.Min), dur(tp.Seconds.Max), sci(tp.RelErr))
			}
			fmt.Fprintf(b, "| %s | %s | %s–%s | %s | %s |\n", m.Estimator, dur(m.Timing.Median), dur(m.Timing.Min), dur(m.Timing.Max), sci(m.TimingErr), to)
		}
		b.WriteString("\n### Memory\n\nPeak device bytes the estimator allocates (beyond the problem's data), by inner iterations t.\n\n| t |")
		cols := 0
		for _, m := range pr.Methods {
			fmt.Fprintf(b, " %s |", m.Estimator)
			cols++
			if len(m.MemoryCheckpointed) > 0 {
				fmt.Fprintf(b, " %s, √t checkpoints |", m.Estimator)
				cols++
			}
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", cols) + "\n")
		for i, mp := range m0.Memory {
			fmt.Fprintf(b, "| %d |", mp.T)
			for _, m := range pr.Methods {
				if i < len(m.Memory) {
					fmt.Fprintf(b, " %s |", bytesString(m.Memory[i].DeviceBytes))
				}
				if i < len(m.MemoryCheckpointed) {
					fmt.Fprintf(b, " %s |", bytesString(m.MemoryCheckpointed[i].DeviceBytes))
				}
			}
			b.WriteString("\n")
		}
	}
	if t := pr.Tightness; t != nil {
		fmt.Fprintf(b, "\n### Error bounds: a posteriori bound / true error\n\nFISTA on the lower level; \"residual\" rows are dominated by the linear-solve term ‖B‖‖r‖/μ, \"lower-level\" rows by the ε̂ terms. Bounds below the true error: %d.\n\n", t.Violations)
		fmt.Fprintf(b, "Error estimate (uncertified, hypergrad.EstimateError) / true error over the %d rows with a true error above 1e-12·‖∇f‖: median %s, worst %s, outside [0.1, 10]: %d.\n\n",
			t.EstimatePoints, sci(t.EstimateMedian), sci(t.EstimateWorst), t.EstimateOutside)
		fmt.Fprintf(b, "Bound / true error over the %d rows with a bound and a true error above 1e-12·‖∇f‖: a posteriori median %s, worst %s; refined (estimate + bound of the corrected ĥ⁺, hypergrad.RefinedBound) median %s, worst %s.\n\n",
			t.BoundPoints, sci(t.PlainMedian), sci(t.PlainWorst), sci(t.RefinedMedian), sci(t.RefinedWorst))
		fmt.Fprintf(b, "The estimate with its refined bound costs %s times the oracle calls of the AID estimate it refines (median; at most %s; column \"cost\", with the estimate's rounds).\n\n", sci(t.CostMedian), sci(t.CostWorst))
		b.WriteString("| linear solver | t | k | phase | kind | bound | true error | ratio | a priori | estimate | estimate ratio | refined bound | refined ratio | cost (rounds) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range t.Rows {
			fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%d) |\n", r.Linear, r.T, r.K, r.Phase, r.Kind, sci(r.Bound), sci(r.TrueErr), sci(r.Ratio), sci(r.APriori),
				sci(r.Estimate), sci(r.EstimateRatio), sci(r.Refined), sci(r.RefinedRatio), sci(float64(r.EstimateCalls)/float64(max(r.Calls, 1))), r.EstimateRounds)
		}
	}
	b.WriteString("\n")
	for _, f := range figures {
		base := filepath.Base(f)
		if strings.HasSuffix(base, "_"+pr.Name+".png") {
			fmt.Fprintf(b, "![%s](%s)\n\n", strings.TrimSuffix(base, ".png"), base)
		}
	}
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func writeTargetCost(b *strings.Builder, rows []TargetCostRow) {
	b.WriteString("## Accuracy targets: oracle calls against the cheapest grid point\n\n" +
		"AID with conjugate gradients and an accuracy target (hypergrad.AID.Target; Newton is a target's default inner solver), " +
		"against the cheapest (t, k) of a grid with the same solvers whose true relative error meets the target, chosen knowing the exact answer.\n\n" +
		"| problem | inner | target calls (rounds) | met | true rel. error | certified rel. bound | cheapest grid (t, k) | grid calls | ratio |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s | %d (%d) | %v | %s | %s | (%d, %d) | %d | %s |\n", r.Problem, r.Inner, r.Calls, r.Rounds, r.Met,
			sci(r.TrueRel), sci(r.BoundRel), r.GridT, r.GridK, r.GridCalls, sci(r.Ratio))
	}
	b.WriteString("\n")
}

func writeReproduction(b *strings.Builder, rp *Reproduction) {
	b.WriteString("## Reproduction of the papers' findings\n\n| source | claim | held | measured |\n|---|---|---|---|\n")
	for _, c := range rp.Claims {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", c.Source, c.Claim, map[bool]string{true: "yes", false: "**no**"}[c.Held], c.Evidence)
	}
	if len(rp.Budget) > 0 {
		b.WriteString("\nEhrhardt & Roberts' budget of 200 iterations (quadratic of §4.1): N heavy-ball lower-level steps, 200 − N linear-solver steps; absolute errors ‖h − ∇F‖.\n\n| N | ε = ‖w_N − w*‖ | error, HB | error, CG | error/ε | digest (HB) |\n|---|---|---|---|---|---|\n")
		for _, r := range rp.Budget {
			fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s |\n", r.N, sci(r.Eps), sci(r.ErrHB), sci(r.ErrCG), sci(r.Ratio), sci(r.Digest))
		}
	}
	b.WriteString("\n")
	if rp.Equilibrium != nil {
		writeEquilibrium(b, rp.Equilibrium)
	}
	if rp.Cleaning != nil {
		writeCleaning(b, rp.Cleaning)
	}
	if rp.Denoising != nil {
		writeDenoising(b, rp.Denoising)
	}
}

func writeOuter(b *strings.Builder, o *OuterReport) {
	fmt.Fprintf(b, "## Outer loop: MAID against fixed accuracies\n\n`%s` (%s), per-feature hyperparameters, budget %d oracle calls per run; "+
		"MAID's line search with inexact values for every run (FISTA lower level, CG adjoint), so only the accuracy rule differs. "+
		"Losses are the true validation loss E(w*(λ)) at the iterates (exact solves, not counted). Initial loss %.6g; best final loss %.6g.\n\n",
		o.Source, o.Problem, o.Budget, o.Loss0, o.BestLoss)
	b.WriteString("| run | outer iterations | oracle calls | status | final loss | calls to within 1 % of the best | within 0.1 % | backtracks | final ε |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range o.Runs {
		fmt.Fprintf(b, "| %s | %d | %d | %s | %.6g | %s | %s | %d | %.2g |\n", r.Name, r.Iters, r.Calls, r.Status, r.FinalLoss, never(r.CallsToTol), never(r.CallsTo01), r.Backtracks, r.FinalEps)
	}
	b.WriteString("\n![outer loop](outer_loss_vs_calls.png)\n\n")
}

// mdCell escapes the pipes of a markdown table cell (formulas such as
// |1−αμ| would otherwise split the cell).
func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// rateNote says in a sentence how a fitted contraction rate compares with
// its theoretical rate.
func rateNote(fitted, theory float64) string {
	switch {
	case !(fitted > 0) || !(theory > 0):
		return "no comparison (no fit or no theory)"
	case math.Abs(fitted/theory-1) <= 0.05:
		return "agrees (within 5 %)"
	case fitted < theory:
		return fmt.Sprintf("faster than theory (%.2g× the log-rate): the theory is a worst case over [μ*, L*]; Krylov methods adapt to the spectrum's clusters and the error can leave the extreme eigenvectors early", math.Log(fitted)/math.Log(theory))
	}
	return fmt.Sprintf("slower than theory (%.2g× the log-rate): the fitted window may not be asymptotic, or the rounding floor flattens its end", math.Log(fitted)/math.Log(theory))
}
