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
	Keys        map[string]string  // the keys given in the string, with their raw values
}

// synthKeys lists the keys of a synth: string and the problems they apply
// to: "all", or a space-separated list of scopes ("supervised" is ridge and
// logreg).
var synthKeys = map[string]string{
	"n": "supervised equilibrium", "m": "supervised", "kappa": "supervised", "noise": "supervised", "lambda": "supervised",
	"d": "all", "seed": "all",
	"m1": "quadratic", "m2": "quadratic", "h": "quadratic", "sigma": "quadratic", "numpy": "quadratic",
	"k": "equilibrium", "c": "equilibrium", "q": "equilibrium",
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
	s = &Synth{Options: DefaultSynthOptions(), Keys: map[string]string{}}
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
		case "n", "m", "d", "m1", "m2", "h", "k", "c":
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
				s.Options.N, s.Equilibrium.N = n, n
			case "m":
				s.Options.M = n
			case "d":
				s.Options.D, s.Quadratic.D, s.Equilibrium.P = n, n, n
			case "m1":
				s.Quadratic.M1 = n
			case "m2":
				s.Quadratic.M2 = n
			case "h":
				s.Quadratic.H = n
			case "k":
				s.Equilibrium.K = n
			case "c":
				s.Equilibrium.C = n
			}
		case "kappa", "noise", "lambda", "sigma", "q":
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
				s.Options.Noise = x
			case "lambda":
				s.Options.Lambda = x
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
			s.Options.Seed, s.Quadratic.Seed, s.Equilibrium.Seed = u, u, u
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

// Load returns the data of problem ("ridge", "logreg", "quadratic" or
// "equilibrium") from source, a "synth:" string or the path of an .npz file,
// validated: a *Supervised for ridge (RealLabels) and logreg (BinaryLabels,
// {0, 1} mapped to {−1, +1}), a *Quadratic for quadratic, an *Equilibrium for
// equilibrium. A synth: key that does not apply to the problem is an error.
// Files are read with the default Limits.
func Load(problem string, source string) (any, error) { return Limits{}.Load(problem, source) }

// Load is the package function Load with the memory budget of l for a file
// source; l does not apply to synth: sources, which are generated rather than
// read.
func (l Limits) Load(problem string, source string) (any, error) {
	var labels Labels
	switch problem {
	case "ridge":
		labels = RealLabels
	case "logreg":
		labels = BinaryLabels
	case "quadratic", "equilibrium":
	default:
		return nil, newErr(ErrOption, "", "unknown problem %q: data.Load knows ridge, logreg, quadratic and equilibrium", problem)
	}
	s, ok, err := ParseSynth(source)
	if err != nil {
		return nil, err
	}
	if !ok {
		switch problem {
		case "quadratic":
			return l.LoadQuadratic(source)
		case "equilibrium":
			return l.LoadEquilibrium(source)
		}
		return l.LoadSupervised(source, labels)
	}
	want := "supervised"
	if problem == "quadratic" || problem == "equilibrium" {
		want = problem
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
	switch problem {
	case "ridge", "logreg":
		gen := SynthRidge
		if problem == "logreg" {
			gen = SynthLogreg
		}
		sup, err := gen(s.Options)
		if err != nil {
			return nil, err
		}
		if err := sup.Validate(labels); err != nil {
			return nil, err
		}
		return sup, nil
	case "equilibrium":
		if err := synthEquilibriumFits(s.Equilibrium); err != nil {
			return nil, err
		}
		e, err := SynthEquilibrium(s.Equilibrium)
		if err != nil {
			return nil, err
		}
		if err := e.Validate(); err != nil {
			return nil, err
		}
		return e, nil
	}
	q, err := SynthQuadratic(s.Quadratic)
	if err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return q, nil
}
