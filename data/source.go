package data

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Synth is a parsed "synth:" source string.
type Synth struct {
	Options     SynthOptions       // for ridge and logreg (defaults filled in)
	Quadratic   QuadraticOptions   // for quadratic (zero fields select its defaults)
	Equilibrium EquilibriumOptions // for equilibrium (zero fields select its defaults)
	// The other families' generators (zero fields select their defaults;
	// KRR and BiasReg start from DefaultKRROptions and DefaultBiasRegOptions).
	Hypercleaning HypercleaningOptions
	Multiclass    MulticlassOptions // multilogreg
	KRR           KRROptions
	BiasReg       BiasRegOptions
	TVDenoise     TVDenoiseOptions
	Keys          map[string]string // the keys given in the string, with their raw values
}

// synthKeys lists the keys of a synth: string and the problems they apply
// to: "all", or a space-separated list of scopes ("supervised" is ridge and
// logreg).
var synthKeys = map[string]string{
	"n": "supervised equilibrium hypercleaning multilogreg krr biasreg", "m": "supervised hypercleaning multilogreg krr biasreg",
	"kappa": "supervised", "noise": "supervised multilogreg krr biasreg tvdenoise",
	"lambda": "supervised hypercleaning multilogreg biasreg", "corrupt": "hypercleaning", "reg": "hypercleaning",
	"d": "all", "seed": "all",
	"m1": "quadratic", "m2": "quadratic", "h": "quadratic tvdenoise", "sigma": "quadratic", "numpy": "quadratic",
	"k": "equilibrium", "c": "equilibrium hypercleaning multilogreg", "q": "equilibrium",
	"density": "multilogreg", "perclass": "multilogreg",
	"rho": "krr biasreg", "gamma": "krr",
	"tasks": "biasreg", "spread": "biasreg",
	"w": "tvdenoise", "alpha": "tvdenoise", "nu": "tvdenoise",
}

// keyApplies reports whether the synth: key applies to the scope.
func keyApplies(key, scope string) bool {
	scopes := synthKeys[key]
	return scopes == "all" || slices.Contains(strings.Fields(scopes), scope)
}

func synthKeyList() string {
	keys := make([]string, 0, len(synthKeys))
	for k := range synthKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// ParseSynth parses a synthetic-data source such as
// "synth:n=20000,d=2000,kappa=1e3,seed=0". It returns ok = false (and no
// error) for anything that does not start with "synth:", which is then a file
// path. Keys are listed in the package doc; unknown or repeated keys,
// malformed numbers and out-of-range values are ErrOption errors naming the
// key. Omitted keys take their defaults.
func ParseSynth(spec string) (s *Synth, ok bool, err error) {
	rest, found := strings.CutPrefix(spec, "synth:")
	if !found {
		return nil, false, nil
	}
	s = &Synth{Options: DefaultSynthOptions(), KRR: DefaultKRROptions(), BiasReg: DefaultBiasRegOptions(), Keys: map[string]string{}}
	bad := func(key, val, why string) error {
		return newErr(ErrOption, "", "%s: key %s=%s: %s", spec, key, val, why)
	}
	for item := range strings.SplitSeq(rest, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, hasEq := strings.Cut(item, "=")
		key, val = strings.TrimSpace(strings.ToLower(key)), strings.TrimSpace(val)
		if !hasEq || key == "" {
			return nil, true, newErr(ErrOption, "", "%s: %q is not key=value (keys: %s)", spec, item, synthKeyList())
		}
		if _, known := synthKeys[key]; !known {
			return nil, true, newErr(ErrOption, "", "%s: unknown key %q (keys: %s)", spec, key, synthKeyList())
		}
		if _, dup := s.Keys[key]; dup {
			return nil, true, newErr(ErrOption, "", "%s: key %s given twice", spec, key)
		}
		s.Keys[key] = val
		switch key {
		case "n", "m", "d", "m1", "m2", "h", "k", "c", "tasks", "w":
			n, err := parseSize(val)
			if err != nil {
				return nil, true, bad(key, val, err.Error())
			}
			min := 1
			if key == "m" {
				min = 0
			}
			if n < min {
				return nil, true, bad(key, val, "want an integer ≥ "+strconv.Itoa(min))
			}
			switch key {
			case "n":
				s.Options.N, s.Equilibrium.N, s.Hypercleaning.N, s.Multiclass.N, s.KRR.N, s.BiasReg.N = n, n, n, n, n, n
			case "m":
				s.Options.M, s.Hypercleaning.M, s.Multiclass.M, s.KRR.M, s.BiasReg.M = n, n, n, n, n
			case "d":
				s.Options.D, s.Quadratic.D, s.Equilibrium.P, s.Hypercleaning.P, s.Multiclass.D, s.KRR.D, s.BiasReg.D = n, n, n, n, n, n, n
			case "m1":
				s.Quadratic.M1 = n
			case "m2":
				s.Quadratic.M2 = n
			case "h":
				s.Quadratic.H, s.TVDenoise.H = n, n
			case "w":
				s.TVDenoise.W = n
			case "k":
				s.Equilibrium.K = n
			case "c":
				s.Equilibrium.C, s.Hypercleaning.C, s.Multiclass.C = n, n, n
			case "tasks":
				s.BiasReg.T = n
			}
		case "kappa", "noise", "lambda", "sigma", "q", "corrupt", "reg", "density", "rho", "gamma", "spread", "alpha", "nu":
			x, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return nil, true, bad(key, val, "not a number")
			}
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, true, bad(key, val, "want a finite number")
			}
			switch key {
			case "kappa":
				if x < 1 {
					return nil, true, bad(key, val, "want kappa ≥ 1")
				}
				s.Options.Kappa = x
			case "noise":
				if x < 0 {
					return nil, true, bad(key, val, "want noise ≥ 0")
				}
				s.Options.Noise, s.Multiclass.Noise, s.KRR.Noise, s.BiasReg.Noise, s.TVDenoise.Noise = x, x, x, x, x
			case "lambda":
				s.Options.Lambda, s.Hypercleaning.Lambda, s.Multiclass.Lambda, s.BiasReg.Lambda = x, x, x, x
			case "density":
				if !(x > 0 && x <= 1) {
					return nil, true, bad(key, val, "want 0 < density ≤ 1")
				}
				s.Multiclass.Density = x
			case "rho", "gamma":
				if !(x > 0) {
					return nil, true, bad(key, val, "want "+key+" > 0")
				}
				if key == "rho" {
					s.KRR.Rho, s.BiasReg.Rho = x, x
				} else {
					s.KRR.Gamma = x
				}
			case "alpha", "nu":
				if !(x > 0) {
					return nil, true, bad(key, val, "want "+key+" > 0")
				}
				if key == "alpha" {
					s.TVDenoise.Alpha = x
				} else {
					s.TVDenoise.Nu = x
				}
			case "spread":
				if x < 0 {
					return nil, true, bad(key, val, "want spread ≥ 0")
				}
				s.BiasReg.Spread = x
			case "corrupt":
				if !(x >= 0 && x <= 1) {
					return nil, true, bad(key, val, "want a fraction in [0, 1]")
				}
				s.Hypercleaning.Corrupt = x
				if x == 0 {
					s.Hypercleaning.Corrupt = HypercleaningNoCorruption
				}
			case "reg":
				if !(x > 0) {
					return nil, true, bad(key, val, "want reg > 0")
				}
				s.Hypercleaning.Reg = x
			case "sigma":
				if x <= 0 {
					return nil, true, bad(key, val, "want sigma > 0")
				}
				s.Quadratic.Sigma = x
			case "q":
				if !(x > 0 && x <= MaxEquilibriumQ) {
					return nil, true, bad(key, val, fmt.Sprintf("want 0 < q ≤ %v", MaxEquilibriumQ))
				}
				s.Equilibrium.Q = x
			}
		case "seed":
			u, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return nil, true, bad(key, val, "want an integer in [0, 2^64)")
			}
			s.Options.Seed, s.Quadratic.Seed, s.Equilibrium.Seed, s.Hypercleaning.Seed = u, u, u, u
			s.Multiclass.Seed, s.KRR.Seed, s.BiasReg.Seed, s.TVDenoise.Seed = u, u, u, u
		case "perclass":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return nil, true, bad(key, val, "want true or false")
			}
			s.Multiclass.PerClass = b
		case "numpy":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return nil, true, bad(key, val, "want true or false")
			}
			s.Quadratic.NumPy = b
		}
	}
	return s, true, nil
}

// parseSize parses a non-negative integer, accepting float notation for
// integral values ("2e4").
func parseSize(val string) (int, error) {
	if n, err := strconv.Atoi(val); err == nil {
		return n, nil
	}
	x, err := strconv.ParseFloat(val, 64)
	if err != nil || x != math.Trunc(x) || math.Abs(x) > 1<<53 {
		return 0, errString("want an integer")
	}
	return int(x), nil
}

type errString string

func (e errString) Error() string { return string(e) }

// Families are the problem families data.Load knows, in the order the
// documentation lists them.
var Families = []string{"ridge", "logreg", "quadratic", "equilibrium", "multilogreg", "hypercleaning", "krr", "biasreg", "tvdenoise"}

// textFamilies are the families a text source (libsvm:, csv:) can feed.
var textFamilies = []string{"ridge", "logreg", "multilogreg", "hypercleaning"}

// Load returns the data of problem (one of Families) from source: a "synth:"
// string, a text source ("libsvm:…" or "csv:…", see ParseTextSource; ridge,
// logreg, multilogreg and hypercleaning), or the path of an .npz file,
// validated: a *Supervised for ridge (RealLabels) and logreg (BinaryLabels,
// {0, 1} mapped to {−1, +1}), a *Quadratic for quadratic, an *Equilibrium
// for equilibrium, a *Multiclass for multilogreg, a *Hypercleaning, a *KRR,
// a *BiasReg, a *TVDenoise. A synth: key that does not apply to the problem is an error.
// Files are read with the default Limits.
func Load(problem string, source string) (any, error) { return Limits{}.Load(problem, source) }

// Load is the package function Load with the memory budget of l for a file
// source; l does not apply to synth: sources, which are generated rather than
// read.
func (l Limits) Load(problem string, source string) (any, error) {
	if !slices.Contains(Families, problem) {
		return nil, newErr(ErrOption, "", "unknown problem %q: data.Load knows %s", problem, strings.Join(Families, ", "))
	}
	if ts, ok, err := ParseTextSource(source); ok {
		if err != nil {
			return nil, err
		}
		return l.loadText(problem, source, ts)
	}
	s, ok, err := ParseSynth(source)
	if err != nil {
		return nil, err
	}
	if !ok {
		return l.loadFile(problem, source)
	}
	want := problem
	if problem == "ridge" || problem == "logreg" {
		want = "supervised"
	}
	keys := make([]string, 0, len(s.Keys))
	for k := range s.Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !keyApplies(k, want) {
			return nil, newErr(ErrOption, "", "%s: key %s does not apply to problem %s", source, k, problem)
		}
	}
	var (
		d        any
		validate func() error
	)
	switch problem {
	case "ridge", "logreg":
		gen, labels := SynthRidge, RealLabels
		if problem == "logreg" {
			gen, labels = SynthLogreg, BinaryLabels
		}
		sup, err := gen(s.Options)
		if err != nil {
			return nil, err
		}
		d, validate = sup, func() error { return sup.Validate(labels) }
	case "quadratic":
		q, err := SynthQuadratic(s.Quadratic)
		if err != nil {
			return nil, err
		}
		d, validate = q, q.Validate
	case "equilibrium":
		if err := synthEquilibriumFits(s.Equilibrium); err != nil {
			return nil, err
		}
		e, err := SynthEquilibrium(s.Equilibrium)
		if err != nil {
			return nil, err
		}
		d, validate = e, e.Validate
	case "multilogreg":
		mc, err := SynthMulticlass(s.Multiclass)
		if err != nil {
			return nil, err
		}
		d, validate = mc, mc.Validate
	case "hypercleaning":
		h, err := SynthHypercleaning(s.Hypercleaning)
		if err != nil {
			return nil, err
		}
		d, validate = h, h.Validate
	case "krr":
		k, err := SynthKRR(s.KRR)
		if err != nil {
			return nil, err
		}
		d, validate = k, k.Validate
	case "biasreg":
		r, err := SynthBiasReg(s.BiasReg)
		if err != nil {
			return nil, err
		}
		d, validate = r, r.Validate
	case "tvdenoise":
		t, err := SynthTVDenoise(s.TVDenoise)
		if err != nil {
			return nil, err
		}
		d, validate = t, t.Validate
	}
	if err := validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// loadFile reads the .npz file of a family.
func (l Limits) loadFile(problem, path string) (any, error) {
	switch problem {
	case "ridge":
		return l.LoadSupervised(path, RealLabels)
	case "logreg":
		return l.LoadSupervised(path, BinaryLabels)
	case "quadratic":
		return l.LoadQuadratic(path)
	case "equilibrium":
		return l.LoadEquilibrium(path)
	case "multilogreg":
		return l.LoadMulticlass(path)
	case "hypercleaning":
		return l.LoadHypercleaning(path)
	case "krr":
		return l.LoadKRR(path)
	case "biasreg":
		return l.LoadBiasReg(path)
	case "tvdenoise":
		return l.LoadTVDenoise(path)
	}
	return nil, newErr(ErrOption, "", "unknown problem %q", problem)
}

// loadText reads a text source for ridge, logreg, multilogreg or
// hypercleaning. The source's lambda (0 when not given) is every λ_j of a
// per-feature λ (len d) for ridge, logreg and multilogreg, and every
// per-example λ_i (len n) for hypercleaning, whose reg takes its default.
func (l Limits) loadText(problem, source string, ts *TextSource) (any, error) {
	if !slices.Contains(textFamilies, problem) {
		return nil, newErr(ErrOption, "", "%s: a text source (libsvm:, csv:) holds supervised data for %s; problem %s needs an .npz file or synth:",
			source, strings.Join(textFamilies, ", "), problem)
	}
	td, err := l.LoadText(ts)
	if err != nil {
		return nil, err
	}
	fill := func(n int) []float64 {
		lam := make([]float64, n)
		for i := range lam {
			lam[i] = td.Lambda // 0 when the source has no lambda
		}
		return lam
	}
	switch problem {
	case "multilogreg", "hypercleaning":
		ytr, yva, c, err := td.ClassLabels()
		if err != nil {
			return nil, withPath(err, ts.Train)
		}
		if problem == "multilogreg" {
			mc := &Multiclass{XTrain: td.XTrain, XVal: td.XVal, YTrain: ytr, YVal: yva, Classes: c, Lambda: fill(td.XTrain.Cols)}
			if err := mc.Validate(); err != nil {
				return nil, withPath(err, ts.Train)
			}
			return mc, nil
		}
		h := &Hypercleaning{XTrain: td.XTrain, XVal: td.XVal, YTrain: ytr, YVal: yva, Classes: c, Lambda: fill(td.XTrain.Rows), Reg: DefaultHypercleaningReg}
		if err := h.Validate(); err != nil {
			return nil, withPath(err, ts.Train)
		}
		return h, nil
	}
	labels := RealLabels
	sup := &Supervised{XTrain: td.XTrain, XVal: td.XVal, YTrain: td.YTrain, YVal: td.YVal, Lambda: fill(td.XTrain.Cols)}
	if problem == "logreg" {
		labels = BinaryLabels
		if err := sup.NormalizeBinaryLabels(); err != nil {
			return nil, withPath(err, ts.Train)
		}
	}
	if err := sup.Validate(labels); err != nil {
		return nil, withPath(err, ts.Train)
	}
	return sup, nil
}
