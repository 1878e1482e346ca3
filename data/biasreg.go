package data

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// BiasReg is the data of biased regularisation across tasks (meta-learning
// a shared bias; Denevi et al., "Learning-to-Learn Stochastic Gradient
// Descent with Biased Regularization", ICML 2019, and Grazzi et al. 2020,
// §4): T tasks, each a least-squares problem with n training and m
// validation rows of d features, and the shared bias h ∈ R^d
// (hyperparameter) towards which every task's weights are pulled:
//
//	g_t(w_t, h) = 1/(2n)‖X_t w_t − y_t‖² + ρ/2‖w_t − h‖²,
//	E = 1/T Σ_t 1/(2m)‖X_val,t w_t − y_val,t‖².
//
// Every task has the same n, m and d. The tasks are kept one matrix per
// task (X[t] n×d, XVal[t] m×d, dense): the per-task algebra of the dense
// reference (Gram matrices, Cholesky) works on them directly, a task can be
// added or dropped without copying the others, and the loader's 3-D arrays
// become T views of one allocation, with no copy.
//
// File fields (.npz): X (T×n×d), y (T×n), X_val (T×m×d), y_val (T×m),
// lambda (d) = h, and an optional scalar rho (default 1).
type BiasReg struct {
	X      []*Matrix   // T training inputs, dense n×d each
	Y      [][]float64 // T training targets, n each
	XVal   []*Matrix   // T validation inputs, dense m×d each
	YVal   [][]float64 // T validation targets, m each
	Lambda []float64   // d: the shared bias h
	Rho    float64     // ρ > 0, the strength of the pull towards h
}

// DefaultBiasRegRho is the ρ of a file without rho.
const DefaultBiasRegRho = 1.0

// Dims returns the number of tasks T and the rows n, m and features d of
// the first task. It does not validate r.
func (r *BiasReg) Dims() (tasks, n, m, d int) {
	tasks = len(r.X)
	if tasks > 0 && r.X[0] != nil {
		n, d = r.X[0].Rows, r.X[0].Cols
	}
	if len(r.XVal) > 0 && r.XVal[0] != nil {
		m = r.XVal[0].Rows
	}
	return tasks, n, m, d
}

// Validate checks that r is well formed: T ≥ 1 tasks, each with dense X[t]
// n×d and XVal[t] m×d (n, m, d ≥ 1, the same for every task; T·n·d and
// T·m·d fit in an int), Y[t] of length n and YVal[t] of length m; lambda of
// length d; every value finite; ρ > 0. Errors name the file's array (X,
// y, X_val, y_val, lambda, rho) in Error.Array and the task in the message
// ("X[3] is 4×2, …"): ErrMissing for a nil matrix, ErrShape for shapes,
// ErrNonFinite for NaN or ±Inf (ρ included), ErrOption for ρ ≤ 0.
func (r *BiasReg) Validate() error {
	if r == nil {
		return newErr(ErrMissing, "", "nil biasreg data")
	}
	tasks := len(r.X)
	if tasks < 1 {
		return newErr(ErrShape, "X", "X has no tasks; want at least 1")
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"y", len(r.Y)}, {"X_val", len(r.XVal)}, {"y_val", len(r.YVal)}} {
		if c.n != tasks {
			return newErr(ErrShape, c.name, "%s has %d tasks, X has %d", c.name, c.n, tasks)
		}
	}
	_, n, m, d := r.Dims()
	for _, set := range []struct {
		name string
		xs   []*Matrix
		rows int
	}{{"X", r.X, n}, {"X_val", r.XVal, m}} {
		for t, x := range set.xs {
			name := fmt.Sprintf("%s[%d]", set.name, t)
			if err := x.check(name); err != nil {
				return inArray(err, set.name)
			}
			switch {
			case x.IsCSR():
				return newErr(ErrShape, set.name, "%s is stored as CSR; biasreg tasks must be dense", name)
			case x.Rows < 1 || x.Cols < 1:
				return newErr(ErrShape, set.name, "%s is %d×%d; want at least 1 row and 1 column", name, x.Rows, x.Cols)
			case x.Rows != set.rows || x.Cols != d:
				return newErr(ErrShape, set.name, "%s is %d×%d, but %s[0] is %d×%d and X[0] has %d columns: every task must have the same shape",
					name, x.Rows, x.Cols, set.name, set.rows, d, d)
			}
		}
	}
	if n > math.MaxInt/d/tasks || m > math.MaxInt/d/tasks {
		return newErr(ErrShape, "X", "%d tasks of %d and %d rows × %d features overflow int", tasks, n, m, d)
	}
	for _, set := range []struct {
		name string
		ys   [][]float64
		n    int
	}{{"y", r.Y, n}, {"y_val", r.YVal, m}} {
		for t, y := range set.ys {
			if len(y) != set.n {
				return newErr(ErrShape, set.name, "%s[%d] has length %d, want %d (the rows of task %d)", set.name, t, len(y), set.n, t)
			}
		}
	}
	if len(r.Lambda) != d {
		return newErr(ErrShape, "lambda", "lambda has length %d, want d = %d (the columns of X)", len(r.Lambda), d)
	}
	if math.IsNaN(r.Rho) || math.IsInf(r.Rho, 0) {
		return newErr(ErrNonFinite, "rho", "rho = %v; want a finite value > 0", r.Rho)
	}
	if !(r.Rho > 0) {
		return newErr(ErrOption, "rho", "rho = %v; want a finite value > 0", r.Rho)
	}
	for _, set := range []struct {
		name string
		xs   []*Matrix
		ys   [][]float64
	}{{"X", r.X, r.Y}, {"X_val", r.XVal, r.YVal}} {
		for t := range set.xs {
			if err := set.xs[t].checkFinite(fmt.Sprintf("%s[%d]", set.name, t)); err != nil {
				return inArray(err, set.name)
			}
			yname := "y"
			if set.name == "X_val" {
				yname = "y_val"
			}
			if err := checkVector(fmt.Sprintf("%s[%d]", yname, t), set.ys[t]); err != nil {
				return inArray(err, yname)
			}
		}
	}
	return checkVector("lambda", r.Lambda)
}

// inArray returns err with its Array set to name when it is an *Error
// (the array of a file: "X" for the task "X[3]").
func inArray(err error, name string) error {
	if e, ok := err.(*Error); ok {
		c := *e
		c.Array = name
		return &c
	}
	return err
}

// LoadBiasReg reads and validates a biasreg problem file (.npz with X
// T×n×d, y T×n, X_val T×m×d, y_val T×m, lambda d and an optional scalar
// rho). It uses the default Limits.
func LoadBiasReg(path string) (*BiasReg, error) { return Limits{}.LoadBiasReg(path) }

// LoadBiasReg is the package function LoadBiasReg with the memory budget of
// l. Besides the arrays themselves, the 16 vectors of length T·d (the inner
// dimension) that a problem allocates must fit in it.
func (l Limits) LoadBiasReg(path string) (*BiasReg, error) {
	a, err := l.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	for _, name := range []string{"X", "y", "X_val", "y_val", "lambda"} {
		if !a.Has(name) {
			return nil, a.missing(name, "")
		}
	}
	fail := func(kind error, name, format string, args ...any) error {
		return withPath(newErr(kind, name, format, args...), path)
	}
	array := func(name string, dims int, what string) (*Array, error) {
		arr, err := a.Array(name)
		if err != nil {
			return nil, err
		}
		if len(arr.Shape) != dims {
			return nil, fail(ErrShape, name, "%s has %d dimension%s (shape %s); want %d (%s)",
				name, len(arr.Shape), plural(len(arr.Shape)), shapeString(arr.Shape), dims, what)
		}
		return arr, nil
	}
	x, err := array("X", 3, "tasks × rows × features")
	if err != nil {
		return nil, err
	}
	tasks, n, d := x.Shape[0], x.Shape[1], x.Shape[2]
	if err := a.budget.fits("X", mulBytes(8*csrWorkVectors, int64(tasks), int64(d)),
		fmt.Sprintf("the %d vectors of length T·d = %d·%d a problem allocates", csrWorkVectors, tasks, d)); err != nil {
		return nil, withPath(err, path)
	}
	y, err := array("y", 2, "tasks × rows")
	if err != nil {
		return nil, err
	}
	if y.Shape[0] != tasks || y.Shape[1] != n {
		return nil, fail(ErrShape, "y", "y has shape %s, X has %s: want (T, n) = (%d, %d)", shapeString(y.Shape), shapeString(x.Shape), tasks, n)
	}
	xv, err := array("X_val", 3, "tasks × rows × features")
	if err != nil {
		return nil, err
	}
	if xv.Shape[0] != tasks || xv.Shape[2] != d {
		return nil, fail(ErrShape, "X_val", "X_val has shape %s, X has %s: want (T, m, d) with T = %d, d = %d", shapeString(xv.Shape), shapeString(x.Shape), tasks, d)
	}
	m := xv.Shape[1]
	yv, err := array("y_val", 2, "tasks × rows")
	if err != nil {
		return nil, err
	}
	if yv.Shape[0] != tasks || yv.Shape[1] != m {
		return nil, fail(ErrShape, "y_val", "y_val has shape %s, X_val has %s: want (T, m) = (%d, %d)", shapeString(yv.Shape), shapeString(xv.Shape), tasks, m)
	}
	r := &BiasReg{Rho: DefaultBiasRegRho}
	if r.Lambda, err = a.Vector("lambda"); err != nil {
		return nil, err
	}
	if a.Has("rho") {
		rho, err := a.Vector("rho")
		if err != nil {
			return nil, err
		}
		if len(rho) != 1 {
			return nil, fail(ErrShape, "rho", "rho has %d values; want a scalar", len(rho))
		}
		r.Rho = rho[0]
	}
	if tasks < 1 || n < 1 || m < 1 || d < 1 {
		return nil, fail(ErrShape, "X", "X has shape %s and X_val %s; want at least 1 task, row and feature", shapeString(x.Shape), shapeString(xv.Shape))
	}
	r.X, r.Y = splitTasks(x.Data, y.Data, tasks, n, d)
	r.XVal, r.YVal = splitTasks(xv.Data, yv.Data, tasks, m, d)
	if err := r.Validate(); err != nil {
		return nil, withPath(err, path)
	}
	return r, nil
}

// splitTasks returns the T dense rows×d matrices and the T target vectors
// of the C-order arrays x (T×rows×d) and y (T×rows), as views (no copy).
func splitTasks(x, y []float64, tasks, rows, d int) ([]*Matrix, [][]float64) {
	xs := make([]*Matrix, tasks)
	ys := make([][]float64, tasks)
	for t := range xs {
		xs[t] = NewDense(rows, d, x[t*rows*d:(t+1)*rows*d:(t+1)*rows*d])
		ys[t] = y[t*rows : (t+1)*rows : (t+1)*rows]
	}
	return xs, ys
}

// SaveBiasReg writes r to path as an .npz archive that numpy.load reads:
// float64 arrays X (T×n×d), y (T×n), X_val (T×m×d), y_val (T×m), lambda (d)
// and the scalar rho. r must pass Validate.
func SaveBiasReg(path string, r *BiasReg) error {
	if r == nil {
		return &Error{Path: path, Kind: ErrMissing, Msg: "nil biasreg data"}
	}
	if err := r.Validate(); err != nil {
		return withPath(err, path)
	}
	tasks, n, m, d := r.Dims()
	xs := func(ms []*Matrix) [][]float64 {
		out := make([][]float64, len(ms))
		for t, x := range ms {
			out[t] = x.Data
		}
		return out
	}
	return writeNPZChunks(path, []chunkedArray{
		{"X", []int{tasks, n, d}, xs(r.X)},
		{"y", []int{tasks, n}, r.Y},
		{"X_val", []int{tasks, m, d}, xs(r.XVal)},
		{"y_val", []int{tasks, m}, r.YVal},
		{"lambda", []int{d}, [][]float64{r.Lambda}},
		{"rho", []int{}, [][]float64{{r.Rho}}},
	})
}

// chunkedArray is a float64 array of any shape whose C-order values are the
// concatenation of chunks.
type chunkedArray struct {
	name   string
	shape  []int
	chunks [][]float64
}

// writeNPZChunks writes the arrays to path as an uncompressed .npz archive
// of little-endian float64 .npy members, each chunk written in turn (no
// concatenated copy). The archive is removed on error.
func writeNPZChunks(path string, arrays []chunkedArray) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = &Error{Path: path, Kind: ErrFormat, Msg: cerr.Error()}
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	zw := zip.NewWriter(f)
	var buf [8]byte
	for _, arr := range arrays {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: arr.name + ".npy", Method: zip.Store})
		if err == nil {
			bw := bufio.NewWriterSize(w, 1<<16)
			_, err = bw.Write(npyHeaderBytes("<f8", false, arr.shape))
			for _, c := range arr.chunks {
				for _, v := range c {
					if err != nil {
						break
					}
					binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
					_, err = bw.Write(buf[:])
				}
			}
			if err == nil {
				err = bw.Flush()
			}
		}
		if err != nil {
			return &Error{Path: path, Array: arr.name, Kind: ErrFormat, Msg: fmt.Sprintf("cannot write %s: %v", arr.name, err)}
		}
	}
	if err := zw.Close(); err != nil {
		return &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	return nil
}

// BiasRegOptions configures SynthBiasReg (suggested synth: keys tasks, n,
// m, d, noise, rho, spread, lambda and seed). Zero sizes and a zero Rho take
// the defaults of DefaultBiasRegOptions; Noise, Spread and Lambda are used
// as given (0 is a valid value of each).
type BiasRegOptions struct {
	T, N, M, D int     // tasks, training rows, validation rows, features (per task)
	Noise      float64 // standard deviation of the target noise, ≥ 0
	Rho        float64 // ρ > 0 (0: the default)
	Spread     float64 // standard deviation of the task weights around their common mean, ≥ 0
	Lambda     float64 // the initial value of every h_j
	Seed       uint64
}

// Defaults of BiasRegOptions.
const (
	defaultBiasRegT      = 10
	defaultBiasRegN      = 20
	defaultBiasRegM      = 20
	defaultBiasRegD      = 10
	defaultBiasRegNoise  = 0.1
	defaultBiasRegSpread = 0.5
)

// DefaultBiasRegOptions returns T = 10, N = 20, M = 20, D = 10, Noise = 0.1,
// Rho = 1, Spread = 0.5, Lambda = 0, Seed = 0.
func DefaultBiasRegOptions() BiasRegOptions {
	return BiasRegOptions{T: defaultBiasRegT, N: defaultBiasRegN, M: defaultBiasRegM, D: defaultBiasRegD,
		Noise: defaultBiasRegNoise, Rho: DefaultBiasRegRho, Spread: defaultBiasRegSpread}
}

// resolve fills in the defaults and checks o, including the memory its
// arrays need (MaxSynthBytes), before anything is allocated.
func (o BiasRegOptions) resolve() (BiasRegOptions, error) {
	if err := defaultSizes([]sizeDefault{{"tasks", &o.T, defaultBiasRegT}, {"n", &o.N, defaultBiasRegN}, {"m", &o.M, defaultBiasRegM}, {"d", &o.D, defaultBiasRegD}}); err != nil {
		return o, err
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case !finite(o.Noise) || o.Noise < 0:
		return o, synthBad("noise", o.Noise, "want a finite value ≥ 0")
	case !finite(o.Spread) || o.Spread < 0:
		return o, synthBad("spread", o.Spread, "want a finite value ≥ 0")
	case !finite(o.Rho) || o.Rho < 0:
		return o, synthBad("rho", o.Rho, "want a finite value > 0 (or 0 for the default 1)")
	case !finite(o.Lambda):
		return o, synthBad("lambda", o.Lambda, "want a finite value")
	}
	if o.Rho == 0 {
		o.Rho = DefaultBiasRegRho
	}
	t, n, m, d := float64(o.T), float64(o.N), float64(o.M), float64(o.D)
	// X, y, X_val, y_val, h, the task weights, and the 16 vectors of length
	// T·d an estimator allocates.
	elems := t*(n+m)*(d+1) + d + (t+1)*d + 16*t*d
	return o, synthFits("tasks", o.T, elems, fmt.Sprintf("%d tasks of %d + %d rows × %d features", o.T, o.N, o.M, o.D))
}

// streamBiasReg is the stream family of SynthBiasReg (the top byte of its
// stream ids), apart from the other generators' families.
const streamBiasReg = 0x62

// Stream sets of SynthBiasReg.
const (
	brSetMean  = iota // the common mean of the task weights
	brSetTask         // task t's weights (block t)
	brSetTrain        // task t's training rows (block t)
	brSetVal          // task t's validation rows (block t)
)

// SynthBiasReg generates a biasreg problem after Denevi et al. (2019): task
// weights scattered around a common mean, which a good bias h recovers:
//
//	w̄ ~ N(0, I_d),   w_t = w̄ + Spread·N(0, I_d),
//	x_ti ~ N(0, I_d),   y_ti = x_tiᵀw_t + Noise·N(0, 1)   (training and validation rows),
//	h = Lambda·1,   ρ = Rho.
//
// Each task's weights, training rows and validation rows come from PCG
// streams of their own derived from Seed, so that the output depends only
// on the options, and adding tasks or rows keeps the earlier ones.
// Arithmetic avoids fused multiply-adds.
func SynthBiasReg(o BiasRegOptions) (*BiasReg, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	mean := make([]float64, o.D)
	mr := newStream(o.Seed, streamID(streamBiasReg, brSetMean, 0))
	for j := range mean {
		mean[j] = mr.NormFloat64()
	}
	r := &BiasReg{Rho: o.Rho, Lambda: make([]float64, o.D)}
	for j := range r.Lambda {
		r.Lambda[j] = o.Lambda
	}
	xtr := make([]float64, o.T*o.N*o.D)
	ytr := make([]float64, o.T*o.N)
	xva := make([]float64, o.T*o.M*o.D)
	yva := make([]float64, o.T*o.M)
	w := make([]float64, o.D)
	rows := func(x, y []float64, set uint64, t int) {
		s := newStream(o.Seed, streamID(streamBiasReg, set, uint64(t)))
		for i := range y {
			row := x[i*o.D : (i+1)*o.D]
			var xw float64
			for j := range row {
				row[j] = s.NormFloat64()
				xw += float64(row[j] * w[j])
			}
			y[i] = xw + float64(o.Noise*s.NormFloat64())
		}
	}
	for t := range o.T {
		tr := newStream(o.Seed, streamID(streamBiasReg, brSetTask, uint64(t)))
		for j := range w {
			w[j] = mean[j] + float64(o.Spread*tr.NormFloat64())
		}
		rows(xtr[t*o.N*o.D:(t+1)*o.N*o.D], ytr[t*o.N:(t+1)*o.N], brSetTrain, t)
		rows(xva[t*o.M*o.D:(t+1)*o.M*o.D], yva[t*o.M:(t+1)*o.M], brSetVal, t)
	}
	r.X, r.Y = splitTasks(xtr, ytr, o.T, o.N, o.D)
	r.XVal, r.YVal = splitTasks(xva, yva, o.T, o.M, o.D)
	return r, nil
}
