package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// Files written by WriteAll into the output directory.
const (
	JSONFile     = "report.json"
	CSVFile      = "results.csv"
	MarkdownFile = "summary.md"
)

// CheckDir makes sure dir exists (creating it) and is writable, so that a
// bad -out fails before the suite runs.
func CheckDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// WriteAll writes the JSON report, the CSV rows, the markdown summary and
// the figures into dir and returns the paths written.
func WriteAll(dir string, rep *Report) ([]string, error) {
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	var paths []string
	write := func(name string, f func(io.Writer) error) error {
		path := filepath.Join(dir, name)
		out, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := f(out); err != nil {
			out.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := out.Close(); err != nil {
			return err
		}
		paths = append(paths, path)
		return nil
	}
	if err := write(JSONFile, func(w io.Writer) error { return WriteJSON(w, rep) }); err != nil {
		return nil, err
	}
	if err := write(CSVFile, func(w io.Writer) error { return WriteCSV(w, rep) }); err != nil {
		return nil, err
	}
	figs, err := WriteFigures(dir, rep)
	if err != nil {
		return nil, err
	}
	if err := write(MarkdownFile, func(w io.Writer) error { return WriteMarkdown(w, rep, figs) }); err != nil {
		return nil, err
	}
	return append(paths, figs...), nil
}

// WriteJSON writes the report as indented JSON; NaN and ±Inf (a rate that
// could not be fitted, say) become null.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonValue(reflect.ValueOf(rep)))
}

// jsonValue converts v to maps, slices and scalars as encoding/json would
// (honouring json tags), with non-finite floats as nil.
func jsonValue(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return jsonValue(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			out[name] = jsonValue(fv)
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonValue(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[fmt.Sprint(k.Interface())] = jsonValue(v.MapIndex(k))
		}
		return out
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return f
	}
	return v.Interface()
}

// Row is one measurement of the CSV file.
type Row struct {
	Problem, Method, Measure string
	T, K                     int
	Value                    float64
	Unit                     string
}

// Rows flattens the report into measurements.
func Rows(rep *Report) []Row {
	var rows []Row
	add := func(p, m, meas string, t, k int, v float64, unit string) {
		rows = append(rows, Row{p, m, meas, t, k, v, unit})
	}
	for _, pr := range rep.Problems {
		add(pr.Name, "", "kappa_star", 0, 0, pr.KappaStar, "")
		add(pr.Name, "", "mu_star", 0, 0, pr.MuStar, "")
		add(pr.Name, "", "L_star", 0, 0, pr.LStar, "")
		for _, name := range []string{"inner_grad", "hess_vec", "cross_vec"} {
			st := pr.Oracles[name]
			add(pr.Name, "", "seconds_per_"+name+"_median", 0, 0, st.Median, "s")
			add(pr.Name, "", "seconds_per_"+name+"_min", 0, 0, st.Min, "s")
			add(pr.Name, "", "seconds_per_"+name+"_max", 0, 0, st.Max, "s")
		}
		for _, rt := range pr.InnerRates {
			add(pr.Name, rt.Phase, "rate_fitted", 0, 0, rt.Fitted, "")
			add(pr.Name, rt.Phase, "rate_theory", 0, 0, rt.Theory, "")
		}
		for _, m := range pr.Methods {
			for _, g := range m.Grid {
				add(pr.Name, m.Name, "rel_error", g.T, g.K, g.RelErr, "")
				add(pr.Name, m.Name, "oracles", g.T, g.K, float64(g.Oracles), "calls")
			}
			for _, g := range m.Diagonal {
				add(pr.Name, m.Name, "rel_error_diagonal", g.T, g.K, g.RelErr, "")
				add(pr.Name, m.Name, "seconds_diagonal", g.T, g.K, g.Seconds, "s")
			}
			if m.Rate != nil {
				add(pr.Name, m.Name, "rate_fitted_"+m.Rate.Phase, 0, 0, m.Rate.Fitted, "")
				add(pr.Name, m.Name, "rate_theory_"+m.Rate.Phase, 0, 0, m.Rate.Theory, "")
			}
			for _, c := range m.Complexity {
				if c.Found {
					add(pr.Name, m.Name, fmt.Sprintf("oracles_to_%.0e", c.Target), c.T, c.K, float64(c.Oracles), "calls")
				}
				if c.Diagonal > 0 {
					add(pr.Name, m.Name, fmt.Sprintf("diagonal_t_to_%.0e", c.Target), c.Diagonal, c.Diagonal, float64(c.Diagonal), "iterations")
				}
			}
			add(pr.Name, m.Name, "seconds_per_hypergradient_median", m.TimingT, m.TimingK, m.Timing.Median, "s")
			add(pr.Name, m.Name, "seconds_per_hypergradient_min", m.TimingT, m.TimingK, m.Timing.Min, "s")
			add(pr.Name, m.Name, "seconds_per_hypergradient_max", m.TimingT, m.TimingK, m.Timing.Max, "s")
			for _, mp := range m.Memory {
				add(pr.Name, m.Name, "peak_device_bytes", mp.T, 0, float64(mp.DeviceBytes), "bytes")
				add(pr.Name, m.Name, "heap_alloc_bytes", mp.T, 0, float64(mp.HeapBytes), "bytes")
			}
		}
	}
	for _, pr := range rep.Problems {
		if pr.Tightness == nil {
			continue
		}
		for _, r := range pr.Tightness.Rows {
			m := "aid-" + r.Linear + "(fista)"
			add(pr.Name, m, "bound_"+r.Kind, r.T, r.K, r.Bound, "")
			add(pr.Name, m, "bound_true_error", r.T, r.K, r.TrueErr, "")
			add(pr.Name, m, "bound_ratio_"+r.Phase, r.T, r.K, r.Ratio, "")
			add(pr.Name, m, "bound_a_priori", r.T, r.K, r.APriori, "")
			add(pr.Name, m, "error_estimate", r.T, r.K, r.Estimate, "")
			add(pr.Name, m, "error_estimate_ratio", r.T, r.K, r.EstimateRatio, "")
			add(pr.Name, m, "bound_refined_"+r.RefinedKind, r.T, r.K, r.Refined, "")
			add(pr.Name, m, "bound_refined_ratio", r.T, r.K, r.RefinedRatio, "")
		}
	}
	for _, r := range rep.TargetCost {
		m := "aid-cg(" + r.Inner + ")-target"
		add(r.Problem, m, "target_calls", 0, 0, float64(r.Calls), "calls")
		add(r.Problem, m, "target_true_rel", 0, 0, r.TrueRel, "")
		add(r.Problem, m, "grid_calls", r.GridT, r.GridK, float64(r.GridCalls), "calls")
		add(r.Problem, m, "target_grid_ratio", r.GridT, r.GridK, r.Ratio, "")
	}
	if rep.Outer != nil {
		for _, run := range rep.Outer.Runs {
			for _, pt := range run.Curve {
				add(rep.Outer.Problem, run.Name, "validation_loss", 0, 0, pt.Loss, "calls="+strconv.Itoa(pt.Calls))
			}
			add(rep.Outer.Problem, run.Name, "calls_to_1pct", 0, 0, float64(run.CallsToTol), "calls")
			add(rep.Outer.Problem, run.Name, "calls_to_0.1pct", 0, 0, float64(run.CallsTo01), "calls")
		}
	}
	if rep.Reproduction != nil {
		for _, b := range rep.Reproduction.Budget {
			add("er-quadratic", "budget-hb", "abs_error", b.N, 200-b.N, b.ErrHB, "")
			add("er-quadratic", "budget-cg", "abs_error", b.N, 200-b.N, b.ErrCG, "")
			add("er-quadratic", "budget", "eps", b.N, 200-b.N, b.Eps, "")
		}
		if eq := rep.Reproduction.Equilibrium; eq != nil {
			add("equilibrium", "", "q", 0, 0, eq.Q, "")
			add("equilibrium", "", "rho_star", 0, 0, eq.RhoStar, "")
			for _, c := range eq.Methods {
				add("equilibrium", c.Estimator, "rate_fitted", 0, 0, c.Rate, "")
				for _, pt := range c.Points {
					add("equilibrium", c.Estimator, "rel_error_diagonal", pt.T, pt.K, pt.RelErr, "")
					add("equilibrium", c.Estimator, "oracles_diagonal", pt.T, pt.K, float64(pt.Oracles), "calls")
					add("equilibrium", c.Estimator, "seconds_diagonal", pt.T, pt.K, pt.Seconds, "s")
				}
			}
			for _, c := range eq.Scan {
				for _, pt := range c.Points {
					add("equilibrium", c.Estimator, "rel_error_from_w_star", pt.T, pt.K, pt.RelErr, "")
					add("equilibrium", c.Estimator, "jac_products_from_w_star", pt.T, pt.K, float64(pt.JacProducts), "products")
				}
			}
		}
	}
	if rep.Peers != nil {
		for _, pm := range rep.Peers.Methods {
			add(rep.Peers.Problem, pm.Method, "seconds_ours", rep.Peers.T, rep.Peers.K, pm.Ours.Median, "s")
			add(rep.Peers.Problem, pm.Method, "seconds_peer", rep.Peers.T, rep.Peers.K, pm.Peer.Median, "s")
			add(rep.Peers.Problem, pm.Method, "time_ratio_ours_over_peer", rep.Peers.T, rep.Peers.K, pm.Ratio, "")
			add(rep.Peers.Problem, pm.Method, "paired_time_ratio", rep.Peers.T, rep.Peers.K, pm.Paired.Median, "")
			add(rep.Peers.Problem, pm.Method, "rel_difference", rep.Peers.T, rep.Peers.K, pm.RelDiff, "")
		}
	}
	if tr := rep.TTA; tr != nil {
		for _, e := range append([]TTAEntry{tr.Peer, tr.Same}, tr.Ours...) {
			add("tta-logreg", e.Config, "seconds_to_target", e.T, e.K, e.Seconds.Median, "s")
			add("tta-logreg", e.Config, "rel_error", e.T, e.K, e.RelErr, "")
		}
		add("tta-logreg", tr.Ours[tr.Best].Config, "time_ratio_best_over_peer", tr.Ours[tr.Best].T, tr.Ours[tr.Best].K, tr.Ratio, "")
	}
	return rows
}

// WriteCSV writes one row per measurement with the run's metadata.
func WriteCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	m := rep.Meta
	if err := cw.Write([]string{"suite", "backend", "device", "go_version", "gomaxprocs", "commit", "problem", "method", "measure", "t", "k", "value", "unit"}); err != nil {
		return err
	}
	for _, r := range Rows(rep) {
		rec := []string{m.Suite, m.Backend, m.Device, m.GoVersion, strconv.Itoa(m.GOMAXPROCS), m.Commit,
			r.Problem, r.Method, r.Measure, strconv.Itoa(r.T), strconv.Itoa(r.K), formatFloat(r.Value), r.Unit}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func formatFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 8, 64)
}
