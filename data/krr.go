package data

import (
	"fmt"
	"math"
)

// KRR is the data of the kernel ridge regression problem of package problems
// (Grazzi et al. 2020, the kernel ridge regression setting): n training
// rows x_i ∈ R^p with real targets y_i, m validation rows with targets
// y^val, and the hyperparameters λ = (log ρ, log γ) of
//
//	K_ij = exp(−γ‖x_i − x_j‖²),   g(w, λ) = ½ wᵀ(K + ρI)w − yᵀw,
//	E(w, λ) = 1/(2m)‖K_val,train w − y_val‖²,
//
// with (K_val,train)_ij = exp(−γ‖x^val_i − x_j‖²). The inner variable w has
// one dual coefficient per training row (d = n), and h = 2.
//
// File fields (.npz): X_train (n×p), y_train (n), X_val (m×p), y_val (m),
// lambda (2) = (log ρ, log γ). The inputs must be dense: the kernel is
// formed from whole rows.
type KRR struct {
	XTrain, XVal *Matrix   // n×p and m×p, dense
	YTrain, YVal []float64 // n and m targets
	Lambda       []float64 // (log ρ, log γ)
}

// Dims returns n (training rows), m (validation rows) and p (features). It
// does not validate k.
func (k *KRR) Dims() (n, m, p int) {
	if k.XTrain != nil {
		n, p = k.XTrain.Rows, k.XTrain.Cols
	}
	if k.XVal != nil {
		m = k.XVal.Rows
	}
	return n, m, p
}

// KRRKernelBytes returns the bytes of the kernel matrices the krr problem of
// package problems keeps on its device: the squared distances D, the kernel
// K = exp(−γD) and the product D ⊙ K, each for the n×n training pairs and
// the m×n validation–training pairs, 8 bytes per entry:
// 24·(n² + m·n). It saturates at math.MaxInt64.
func KRRKernelBytes(n, m int) int64 {
	if n < 0 || m < 0 {
		return 0
	}
	a, b := mulBytes(24, int64(n), int64(n)), mulBytes(24, int64(m), int64(n))
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Validate checks that X_train has at least one row and one column, X_val
// at least one row and as many columns, that both are dense (a CSR matrix
// is an ErrShape error naming it), that y_train and y_val have one target
// per row, that lambda has length 2, and that every value is finite.
func (k *KRR) Validate() error {
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"X_train", k.XTrain}, {"X_val", k.XVal}} {
		if err := c.m.check(c.name); err != nil {
			return err
		}
		if c.m.IsCSR() {
			return newErr(ErrShape, c.name, "%s is stored as CSR; krr needs dense inputs (the Gaussian kernel is formed from whole rows)", c.name)
		}
	}
	n, m, p := k.Dims()
	switch {
	case n < 1 || p < 1:
		return newErr(ErrShape, "X_train", "X_train is %d×%d; want at least 1 row and 1 column", n, p)
	case m < 1:
		return newErr(ErrShape, "X_val", "X_val has no rows; want at least 1")
	case k.XVal.Cols != p:
		return newErr(ErrShape, "X_val", "X_val has %d columns, X_train has %d", k.XVal.Cols, p)
	case len(k.YTrain) != n:
		return newErr(ErrShape, "y_train", "y_train has length %d, X_train has %d rows", len(k.YTrain), n)
	case len(k.YVal) != m:
		return newErr(ErrShape, "y_val", "y_val has length %d, X_val has %d rows", len(k.YVal), m)
	case len(k.Lambda) != 2:
		return newErr(ErrShape, "lambda", "lambda has length %d; want 2, (log ρ, log γ)", len(k.Lambda))
	}
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"X_train", k.XTrain}, {"X_val", k.XVal}} {
		if err := c.m.checkFinite(c.name); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name string
		v    []float64
	}{{"y_train", k.YTrain}, {"y_val", k.YVal}, {"lambda", k.Lambda}} {
		if err := checkVector(c.name, c.v); err != nil {
			return err
		}
	}
	return nil
}

// LoadKRR reads and validates a krr problem file (.npz with X_train,
// y_train, X_val, y_val, lambda), with the default Limits.
func LoadKRR(path string) (*KRR, error) { return Limits{}.LoadKRR(path) }

// LoadKRR is the package function LoadKRR with the memory budget of l.
// Besides the arrays, the kernel matrices the problem will keep
// (KRRKernelBytes(n, m), known once X_train and X_val are read) are charged
// to the budget before the targets are read: a file whose kernel would not
// fit is an ErrTooLarge error saying so.
func (l Limits) LoadKRR(path string) (*KRR, error) {
	a, err := l.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	for _, name := range []string{"X_train", "y_train", "X_val", "y_val", "lambda"} {
		if !a.Has(name) && !(name[0] == 'X' && a.Has(name+"_data")) {
			return nil, a.missing(name, "")
		}
	}
	k := &KRR{}
	if k.XTrain, err = a.Matrix("X_train"); err != nil {
		return nil, err
	}
	if k.XVal, err = a.Matrix("X_val"); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"X_train", k.XTrain}, {"X_val", k.XVal}} {
		if c.m.IsCSR() {
			return nil, withPath(newErr(ErrShape, c.name, "%s is stored as CSR; krr needs dense inputs (the Gaussian kernel is formed from whole rows)", c.name), path)
		}
	}
	n, m := k.XTrain.Rows, k.XVal.Rows
	if err := a.budget.take("X_train", KRRKernelBytes(n, m),
		fmt.Sprintf("the kernel matrices of %d training and %d validation rows (D, K and D⊙K, n×n and m×n each, on the device)", n, m)); err != nil {
		return nil, withPath(err, path)
	}
	if k.YTrain, err = a.Vector("y_train"); err != nil {
		return nil, err
	}
	if k.YVal, err = a.Vector("y_val"); err != nil {
		return nil, err
	}
	if k.Lambda, err = a.Vector("lambda"); err != nil {
		return nil, err
	}
	if err := k.Validate(); err != nil {
		return nil, withPath(err, path)
	}
	return k, nil
}

// SaveKRR writes k to path as an .npz archive that numpy.load reads: the
// float64 arrays X_train, y_train, X_val, y_val and lambda. k must pass
// Validate.
func SaveKRR(path string, k *KRR) error {
	if k == nil {
		return &Error{Path: path, Kind: ErrMissing, Msg: "nil krr data"}
	}
	if err := k.Validate(); err != nil {
		return withPath(err, path)
	}
	return writeNPZ(path, []member{
		{"X_train", k.XTrain}, {"y_train", k.YTrain},
		{"X_val", k.XVal}, {"y_val", k.YVal},
		{"lambda", k.Lambda},
	})
}

// KRROptions configures SynthKRR (suggested synth: keys n, m, d, noise, rho,
// gamma and seed). Zero sizes, Rho and Gamma take the defaults N = 200,
// M = 100, D = 5, Rho = 0.1 and Gamma = 1/(2D); Noise is used as given (0:
// noiseless targets; DefaultKRROptions sets 0.1). Negative values are errors.
type KRROptions struct {
	N, M, D int     // training rows, validation rows, features
	Noise   float64 // standard deviation of the target noise ≥ 0
	Rho     float64 // initial ρ > 0 (λ_0 = log ρ)
	Gamma   float64 // initial γ > 0 (λ_1 = log γ)
	Seed    uint64
}

// DefaultKRROptions returns the defaults of the synth: keys of krr: N = 200,
// M = 100, D = 5, Noise = 0.1, Rho = 0.1, Gamma = 0 (→ 1/(2D)), Seed = 0.
func DefaultKRROptions() KRROptions {
	return KRROptions{N: defaultKRRN, M: defaultKRRM, D: defaultKRRD, Noise: defaultKRRNoise, Rho: defaultKRRRho}
}

// Defaults of KRROptions.
const (
	defaultKRRN     = 200
	defaultKRRM     = 100
	defaultKRRD     = 5
	defaultKRRNoise = 0.1
	defaultKRRRho   = 0.1
)

// krrWaves is the number of sine waves of SynthKRR's target function.
const krrWaves = 3

func (o KRROptions) resolve() (KRROptions, error) {
	if err := defaultSizes([]sizeDefault{{"n", &o.N, defaultKRRN}, {"m", &o.M, defaultKRRM}, {"d", &o.D, defaultKRRD}}); err != nil {
		return o, err
	}
	if math.IsNaN(o.Noise) || math.IsInf(o.Noise, 0) || o.Noise < 0 {
		return o, synthBad("noise", o.Noise, "want a finite value ≥ 0")
	}
	for _, f := range []struct {
		key string
		p   *float64
		def float64
	}{{"rho", &o.Rho, defaultKRRRho}, {"gamma", &o.Gamma, 1 / (2 * float64(o.D))}} {
		if math.IsNaN(*f.p) || math.IsInf(*f.p, 0) || *f.p < 0 {
			return o, synthBad(f.key, *f.p, "want a finite value > 0 (or 0 for the default)")
		}
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	return o, synthKRRFits(o)
}

// synthKRRFits checks the arrays of SynthKRR(o) (o resolved) and the kernel
// matrices of its problem (KRRKernelBytes) against MaxSynthBytes, before
// anything is allocated.
func synthKRRFits(o KRROptions) error {
	n, m, d := float64(o.N), float64(o.M), float64(o.D)
	return synthFits("n", o.N, (n+m)*(d+1)+2+3*(n*n+m*n),
		fmt.Sprintf("%d training and %d validation rows × %d features and their kernel matrices (3(n² + mn) values)", o.N, o.M, o.D))
}

// streamKRR is the stream family of SynthKRR (the top byte of its stream
// ids), apart from the families of the other generators.
const streamKRR = 0x4b

// Stream sets of SynthKRR.
const (
	krrSetWaves = iota
	krrSetTrain
	krrSetVal
)

// SynthKRR generates a kernel ridge regression problem:
//
//	inputs   x ~ N(0, I_D), training and validation rows alike;
//	targets  y = f(x) + Noise·N(0, 1) (the noise draws are made even when
//	         Noise = 0, so that Noise changes only the targets),  f(x) = Σ_{k<3} sin(a_kᵀx + φ_k)/√3,
//	         a_k ~ N(0, I_D·4/D) (so a_kᵀx has variance about 4), φ_k ~ U(0, 2π);
//	lambda   (log Rho, log Gamma).
//
// With the default γ = 1/(2D), the typical squared distance 2D between
// rows gives kernel entries near e^{−1}. Rows are drawn in blocks of 256,
// each block (row by row, the features and then the noise) from its own
// PCG stream derived from Seed; the waves have a stream of their own: the
// output depends only on the options.
func SynthKRR(o KRROptions) (*KRR, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	wr := newStream(o.Seed, streamID(streamKRR, krrSetWaves, 0))
	waves := make([]float64, krrWaves*o.D)
	phase := make([]float64, krrWaves)
	scale := 2 / math.Sqrt(float64(o.D))
	for k := 0; k < krrWaves; k++ {
		for j := 0; j < o.D; j++ {
			waves[k*o.D+j] = float64(scale * wr.NormFloat64())
		}
		phase[k] = float64(2 * math.Pi * wr.Float64())
	}
	inv := 1 / math.Sqrt(krrWaves)
	rows := func(set uint64, n int) (*Matrix, []float64) {
		x, y := NewDense(n, o.D, nil), make([]float64, n)
		for b := 0; b*synthBlockRows < n; b++ {
			r := newStream(o.Seed, streamID(streamKRR, set, uint64(b)))
			for i := b * synthBlockRows; i < min((b+1)*synthBlockRows, n); i++ {
				row := x.Data[i*o.D : (i+1)*o.D]
				for j := range row {
					row[j] = r.NormFloat64()
				}
				var f float64
				for k := 0; k < krrWaves; k++ {
					z := phase[k]
					for j, v := range row {
						z += float64(waves[k*o.D+j] * v)
					}
					f += math.Sin(z)
				}
				y[i] = float64(f*inv) + float64(o.Noise*r.NormFloat64())
			}
		}
		return x, y
	}
	k := &KRR{Lambda: []float64{math.Log(o.Rho), math.Log(o.Gamma)}}
	k.XTrain, k.YTrain = rows(krrSetTrain, o.N)
	k.XVal, k.YVal = rows(krrSetVal, o.M)
	return k, nil
}
