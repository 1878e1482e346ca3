package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// SynthOptions configures SynthRidge and SynthLogreg. The zero value is not
// usable (N and D must be positive, Kappa at least 1); start from
// DefaultSynthOptions. Lambda = 0 means λ_j = 0 (e^λ = 1); NaN selects the
// default.
type SynthOptions struct {
	N, M, D int     // training rows, validation rows (0 → max(N/4, 1)), features
	Kappa   float64 // condition knob ≥ 1: feature scales s_j with s_j² log-spaced over [1/Kappa, 1]
	Noise   float64 // label noise ≥ 0: ridge, noise-to-signal ratio; logreg, label-flip probability ≤ 0.5
	Lambda  float64 // hyperparameter for every feature; NaN → log(1e-2/Kappa)
	Seed    uint64
}

// DefaultSynthOptions returns the defaults of the synth: source keys:
// N = 1000, M = 0 (→ N/4), D = 100, Kappa = 100, Noise = 0.1, Lambda = NaN
// (→ log(1e-2/Kappa)), Seed = 0.
func DefaultSynthOptions() SynthOptions {
	return SynthOptions{N: 1000, D: 100, Kappa: 100, Noise: 0.1, Lambda: math.NaN()}
}

// synthBlockRows is the number of rows drawn from one seeded stream. Each block
// has its own stream, so the output does not depend on how blocks are spread
// over goroutines.
const synthBlockRows = 256

// Stream families (the top byte of a stream id).
const (
	streamFeatures = 1 + iota
	streamLabels
	streamWeights
	streamQuadratic
)

// splitmix64 is the SplitMix64 finaliser, used to derive PCG seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// newStream returns the PCG generator for stream id of the given seed.
func newStream(seed, id uint64) *rand.Rand {
	k := splitmix64(id)
	return rand.New(rand.NewPCG(splitmix64(seed^k), splitmix64(k^0x6a09e667f3bcc909)))
}

func streamID(family, set, block uint64) uint64 { return family<<56 | set<<48 | block }

// resolve validates o and fills in the defaults of M and Lambda.
func (o SynthOptions) resolve() (SynthOptions, error) {
	switch {
	case o.N < 1:
		return o, synthBad("n", o.N, "want at least 1 training row")
	case o.M < 0:
		return o, synthBad("m", o.M, "want at least 1 validation row, or 0 for the default n/4")
	case o.D < 1:
		return o, synthBad("d", o.D, "want at least 1 feature")
	case math.IsNaN(o.Kappa) || math.IsInf(o.Kappa, 0) || o.Kappa < 1:
		return o, synthBad("kappa", o.Kappa, "want a finite value ≥ 1")
	case math.IsNaN(o.Noise) || math.IsInf(o.Noise, 0) || o.Noise < 0:
		return o, synthBad("noise", o.Noise, "want a finite value ≥ 0")
	case math.IsInf(o.Lambda, 0):
		return o, synthBad("lambda", o.Lambda, "want a finite value (or NaN for the default)")
	}
	if o.M == 0 {
		o.M = max(o.N/4, 1)
	}
	if err := synthFits("n", o.N, (float64(o.N)+float64(o.M))*(float64(o.D)+1)+float64(o.D),
		fmt.Sprintf("%d training and %d validation rows × %d features", o.N, o.M, o.D)); err != nil {
		return o, err
	}
	if math.IsNaN(o.Lambda) {
		o.Lambda = math.Log(1e-2 / o.Kappa)
	}
	return o, nil
}

// MaxSynthBytes caps the memory of the arrays a synthetic generator
// allocates (SynthRidge, SynthLogreg, SynthQuadratic, and SynthEquilibrium
// through Load): sizes whose arrays would need more than 16 GiB of float64
// values are an ErrOption error stating the estimate, returned before
// anything is allocated, rather than a runtime out-of-memory crash or a
// panic in make.
const MaxSynthBytes = 16 << 30

// synthFits returns an ErrOption error naming key = val unless elems
// float64 values (8 bytes each; the count in float64 so that it cannot
// overflow) fit in MaxSynthBytes; what describes the arrays.
func synthFits(key string, val int, elems float64, what string) error {
	bytes := 8 * elems
	if bytes <= MaxSynthBytes {
		return nil
	}
	return newErr(ErrOption, "", "synth option %s = %d: %s need %.3g GiB, more than the %d GiB that synthetic data may take (data.MaxSynthBytes)",
		key, val, what, bytes/(1<<30), MaxSynthBytes>>30)
}

// synthEquilibriumFits checks the arrays of SynthEquilibrium(o), with its
// defaults for zero fields, against MaxSynthBytes: X (n×d), the labels, the
// state S (n×k) an estimator iterates, and λ = (A, B, bias, Wo, bo).
func synthEquilibriumFits(o EquilibriumOptions) error {
	def := func(v, d int) float64 {
		if v <= 0 {
			return float64(d)
		}
		return float64(v)
	}
	n, p := def(o.N, defaultEquilibriumN), def(o.P, defaultEquilibriumP)
	k, c := def(o.K, defaultEquilibriumK), def(o.C, defaultEquilibriumC)
	return synthFits("n", int(n), n*(p+1+k)+k*(k+p+1+c)+c,
		fmt.Sprintf("%.0f rows × %.0f features with width %.0f and %.0f classes", n, p, k, c))
}

// featureScales returns s_j = Kappa^(−j/(2(d−1))), so s_j² is log-spaced from 1
// down to 1/Kappa.
func featureScales(d int, kappa float64) []float64 {
	s := make([]float64, d)
	for j := range s {
		if d == 1 {
			s[j] = 1
			continue
		}
		s[j] = math.Pow(kappa, -float64(j)/(2*float64(d-1)))
	}
	return s
}

// synthSet draws rows×d features X = Z·diag(s) and one label per row; label
// receives the row's features, the signal xᵀw and the labels stream, and
// returns y. Blocks of synthBlockRows rows are generated in parallel, each from
// its own stream, so the result depends only on (seed, set, shapes).
func synthSet(rows int, s []float64, w []float64, seed, set uint64, label func(xw float64, r *rand.Rand) float64) (*Matrix, []float64) {
	d := len(s)
	X := NewDense(rows, d, nil)
	y := make([]float64, rows)
	nblocks := (rows + synthBlockRows - 1) / synthBlockRows
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), nblocks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= nblocks {
					return
				}
				fr := newStream(seed, streamID(streamFeatures, set, uint64(b)))
				lr := newStream(seed, streamID(streamLabels, set, uint64(b)))
				for i := b * synthBlockRows; i < min((b+1)*synthBlockRows, rows); i++ {
					row := X.Data[i*d : (i+1)*d]
					var xw float64
					for j := range row {
						row[j] = fr.NormFloat64() * s[j]
						xw += float64(row[j] * w[j]) // the conversion forbids FMA fusion, so every GOARCH rounds alike
					}
					y[i] = label(xw, lr)
				}
			}
		}()
	}
	wg.Wait()
	return X, y
}

// trueWeights draws w_true ~ N(0, I_d) and returns it with the standard
// deviation sqrt(Σ_j s_j² w_j²) of a row's signal xᵀw_true.
func trueWeights(s []float64, seed uint64) ([]float64, float64) {
	r := newStream(seed, streamID(streamWeights, 0, 0))
	w := make([]float64, len(s))
	var v float64
	for j := range w {
		w[j] = r.NormFloat64()
		v += float64(s[j] * s[j] * w[j] * w[j])
	}
	sd := math.Sqrt(v)
	if sd == 0 {
		sd = 1
	}
	return w, sd
}

func synthLambda(o SynthOptions) []float64 {
	l := make([]float64, o.D)
	for j := range l {
		l[j] = o.Lambda
	}
	return l
}

// SynthRidge generates a ridge problem: X = Z·diag(s) with Z iid N(0, 1) and
// s_j² log-spaced over [1/Kappa, 1] (s_0 = 1, s_{d−1}² = 1/Kappa), so the
// population Gram matrix E[XᵀX/n] = diag(s²) has condition number exactly
// Kappa; w_true ~ N(0, I); y = X w_true + Noise·σ·ε with ε iid N(0, 1) and
// σ = sqrt(Σ_j s_j² w_true,j²) the standard deviation of a row's signal
// x_iᵀw_true (so Noise is the noise-to-signal ratio). The validation set is
// drawn the same way with the same w_true; Lambda has length D.
//
// The sample matrix XᵀX/n = S·(ZᵀZ/n)·S has condition number within a factor
// ρ = ((1+√(d/n))/(1−√(d/n)))² of Kappa (Marchenko–Pastur edges of ZᵀZ/n;
// κ(SWS) ≤ κ(S²)κ(W) and ≥ κ(S²)/κ(W)), i.e. in [Kappa/ρ, Kappa·ρ] up to
// O(n^(−2/3)) fluctuations; for n = 4000, d = 40, ρ ≈ 1.49. With the default
// Lambda, e^λ = 1e-2/Kappa = 1e-2·min_j s_j², and κ(A) = κ(XᵀX/n + e^λI) is
// about Kappa as well.
//
// The output depends only on the options (not on GOMAXPROCS): rows are drawn
// in blocks of 256, each from its own PCG stream derived from Seed. The
// feature matrix for a given (Seed, N, M, D, Kappa) is the same as
// SynthLogreg's.
func SynthRidge(o SynthOptions) (*Supervised, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	s := featureScales(o.D, o.Kappa)
	w, sd := trueWeights(s, o.Seed)
	label := func(xw float64, r *rand.Rand) float64 { return xw + float64(o.Noise*sd*r.NormFloat64()) }
	sup := &Supervised{Lambda: synthLambda(o)}
	sup.XTrain, sup.YTrain = synthSet(o.N, s, w, o.Seed, 0, label)
	sup.XVal, sup.YVal = synthSet(o.M, s, w, o.Seed, 1, label)
	return sup, nil
}

// SynthLogreg generates a binary logistic-regression problem with the same
// features as SynthRidge (same Seed ⇒ same X) and w_true scaled so that
// x_iᵀw_true has unit standard deviation: y_i = +1 with probability
// σ(x_iᵀw_true), else −1 (so the classes overlap and the data are not
// separable); then each label is flipped independently with probability
// Noise, which must be at most 0.5 (0.5 makes the labels independent of X).
func SynthLogreg(o SynthOptions) (*Supervised, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	if o.Noise > 0.5 {
		return nil, newErr(ErrOption, "", "synth option noise = %v: for logreg it is a label-flip probability and must be at most 0.5", o.Noise)
	}
	s := featureScales(o.D, o.Kappa)
	w, sd := trueWeights(s, o.Seed)
	for j := range w {
		w[j] /= sd
	}
	label := func(xw float64, r *rand.Rand) float64 {
		y := -1.0
		if r.Float64() < 1/(1+math.Exp(-xw)) {
			y = 1
		}
		if r.Float64() < o.Noise {
			y = -y
		}
		return y
	}
	sup := &Supervised{Lambda: synthLambda(o)}
	sup.XTrain, sup.YTrain = synthSet(o.N, s, w, o.Seed, 0, label)
	sup.XVal, sup.YVal = synthSet(o.M, s, w, o.Seed, 1, label)
	return sup, nil
}

// synthBad is the ErrOption error of a synth: option out of range.
func synthBad(key string, v any, why string) error {
	return newErr(ErrOption, "", "synth option %s = %v: %s", key, v, why)
}

// sizeDefault is a size option of a generator with its default.
type sizeDefault struct {
	key string
	p   *int
	def int
}

// defaultSizes sets every zero size to its default and rejects a negative
// one (ErrOption naming the key).
func defaultSizes(sizes []sizeDefault) error {
	for _, f := range sizes {
		if *f.p < 0 {
			return synthBad(f.key, *f.p, "want a positive size (or 0 for the default)")
		}
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	return nil
}
