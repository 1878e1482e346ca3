// Package data loads bilevel problem data on the host and generates seeded
// synthetic problems. It is host-side only: it returns float64 slices and
// matrices (dense row-major or CSR) that the problems package uploads to a
// backend, and it imports nothing from this module.
//
// # Files
//
// Problem files are NumPy .npz archives (numpy.savez or savez_compressed),
// with these fields:
//
//	ridge, logreg:  X_train (n×d), y_train (n), X_val (m×d), y_val (m), lambda (d, or 1 for one shared weight)
//	quadratic:      A (m1×d), b (m1), C (m2×h), D (m2×d), e (m2), theta (h)
//	equilibrium:    X (N×p), y (N labels in 0..C−1), A (k×k), B (p×k), bias (k), Wo (k×C), bo (C)
//	multilogreg:    X_train (n×d, dense or CSR), y_train (n labels in 0..c−1), X_val (m×d), y_val (m),
//	                lambda (d, or 1) or lambda_class (c, per-class weights); optional classes (scalar c)
//	hypercleaning:  X_train (n×p, dense or CSR), y_train (n labels in 0..c−1), X_val (m×p), y_val (m),
//	                lambda (n); optional reg (scalar, default 1e-3), classes (scalar), corrupted (n, 0/1)
//	krr:            X_train (n×p, dense), y_train (n), X_val (m×p, dense), y_val (m), lambda (2) = (log ρ, log γ)
//	biasreg:        X (T×n×d), y (T×n), X_val (T×m×d), y_val (T×m), lambda (d, the shared bias h);
//	                optional rho (scalar, default 1)
//	tvdenoise:      y (H×W image, or a 1-D signal), x_true (shape of y), lambda (2) = (log α, log ν)
//
// The formulas of each family are in the documentation of package problems.
// Text files (LIBSVM, CSV) can also feed ridge, logreg, multilogreg and
// hypercleaning: see Text files below.
//
// Any bool, int, uint or float dtype (at most 64 bits, either byte order) is
// converted to float64; C and Fortran memory order are both accepted. Object,
// string, complex, record and datetime arrays are rejected. A 0-d array is read
// as a vector of length 1 (so lambda may be a scalar). A matrix may instead be
// stored in CSR form as four arrays, as scipy.sparse.csr_matrix holds it:
//
//	X_train_data (nnz values), X_train_indices (nnz column indices),
//	X_train_indptr (rows+1 row pointers), X_train_shape ((rows, cols))
//
// Validation (Supervised.Validate, Quadratic.Validate, Equilibrium.Validate,
// run by every loader): shapes agree, there is at least one row and one
// column, every value is finite. Equilibrium labels are integers (of an int
// or a float array) in [0, C), C the number of columns of Wo; its λ is the
// concatenation (A, B, bias, Wo, bo), each row-major (Equilibrium.Lambda).
// Other labels: ridge (RealLabels) accepts any finite value; logreg
// (BinaryLabels) needs every label in {−1, +1}; a file whose labels (y_train
// and y_val together) are all in {0, 1} is mapped 0 → −1 on loading, and any
// other set, including a mix such as {−1, 0, 1}, is an error.
//
// Every error is an *Error naming the file and the array and saying what is
// wrong (a missing array, with the names present; a wrong number of
// dimensions; a shape mismatch such as "X_val has 7 columns, X_train has 5";
// the first NaN/Inf and its index; a label outside the rule; an unsupported
// dtype; a truncated or corrupt file). Its Kind (ErrFormat, ErrMissing,
// ErrDType, ErrShape, ErrNonFinite, ErrLabels, ErrOption, ErrTooLarge) works
// with errors.Is. No input file makes a loader panic.
//
// # Limits
//
// A loader checks what a file declares before allocating for it, so that a
// small corrupt or hostile file costs little time and memory:
//
//   - A .npy header is at most 1 MiB and its shape has at most 64 dimensions
//     (numpy's limit; the header parser stops at the 65th), else ErrFormat.
//     Fortran-order data is reordered in time linear in its element count.
//   - The data a header declares (elements × item size) must fit in the rest
//     of the file or archive member, else ErrFormat ("truncated") before any
//     data is read. A zip member's sizes come from the zip directory and are
//     checked first: its compressed size is within the archive, a stored
//     member's two sizes agree, and a deflated member claims at most 1032
//     times its compressed size (deflate's maximum ratio). Members are then
//     read incrementally, never past their declared size, and to the end so
//     that the CRC-32 is verified.
//   - A memory budget, Limits.MaxBytes (DefaultMaxBytes = 8 GiB when zero),
//     bounds the bytes of a file's arrays decoded to float64 (8 per element
//     whatever the dtype, twice that transiently for a Fortran-order array,
//     plus the int copy of CSR index arrays, and for equilibrium the dense
//     form of a CSR A, B or Wo), all arrays of the file together. A CSR
//     matrix's declared shape (rows, cols) must also leave room for the
//     vectors a problem allocates for it: 8·16·(rows + cols + 1) bytes; and
//     rows must match its indptr before indices and values are read. A file
//     beyond the budget is an ErrTooLarge error stating the bytes needed and
//     the limit. The package functions (Load, LoadSupervised, …) use the
//     default; the methods of Limits take another budget, e.g.
//     data.Limits{MaxBytes: 64 << 30}.Load("ridge", path). Peak memory while
//     loading stays within the budget plus the header (at most 1 MiB) and a
//     64 KiB read buffer, except that
//     a deflated member is grown geometrically as its data arrives (the
//     directory cannot be trusted until the CRC is checked), which can
//     transiently take up to twice its array.
//   - An archive with two members for one array (the same name twice, or
//     "X" and "X.npy"), or with both a dense matrix and CSR members for it,
//     is ambiguous: ErrFormat naming both members.
//
// A bool element is true when its byte is non-zero, as in numpy.
//
// # Synthetic data
//
// A source string "synth:key=value,…" (ParseSynth, Load) selects generated
// data instead of a file. Keys and defaults:
//
//	ridge, logreg (SynthRidge, SynthLogreg):
//	  n=1000      training rows
//	  m=n/4       validation rows (at least 1; m=0 also means n/4)
//	  d=100       features
//	  kappa=100   condition knob ≥ 1: feature scales s_j, s_j² log-spaced over [1/kappa, 1]
//	  noise=0.1   ridge: noise-to-signal ratio of y; logreg: label-flip probability (≤ 0.5)
//	  lambda=log(1e-2/kappa)  the hyperparameter of every feature
//	  seed=0
//	quadratic (SynthQuadratic, Ehrhardt & Roberts §4.1):
//	  m1=1000, m2=1000, d=10, h=10, sigma=0.01, seed=0
//	  numpy=false  true: reproduce numpy's np.random.seed(seed) stream exactly
//	equilibrium (SynthEquilibrium, Grazzi et al. 2020 §3.2):
//	  n=1000      rows N
//	  d=20        features p
//	  k=20        hidden width
//	  c=10        classes C
//	  q=0.9       ‖A‖₂ in (0, 1.5]: Φ contracts with constant q below 1
//	  seed=0
//	multilogreg (SynthMulticlass; rows L2-normalised, labels from a planted W):
//	  n=500, m=250, d=50, c=5 (≥ 2)
//	  density=1   0 < density ≤ 1: < 1 gives CSR rows with about density·d nonzeros
//	              (n=11314,m=7532,d=130107,c=20,density=0.001 is the 20-newsgroups shape)
//	  noise=1     Gumbel noise scale of the labels (0 also means 1)
//	  lambda=0, perclass=false (true: one weight per class), seed=0
//	hypercleaning (SynthHypercleaning):
//	  n=300, m=200, d=20 (features p), c=4
//	  corrupt=0.3 fraction of training labels replaced by another class (0: none)
//	  reg=1e-3, lambda=0, seed=0
//	krr (SynthKRR): n=200, m=100, d=5, noise=0.1, rho=0.1, gamma=1/(2d), seed=0
//	biasreg (SynthBiasReg): tasks=10, n=20, m=20, d=10, noise=0.1, rho=1,
//	  spread=0.5 (scatter of the tasks' weights around their mean), lambda=0, seed=0
//	tvdenoise (SynthTVDenoise): h=1 (1: a piecewise-constant 1-D signal; > 1: an
//	  image of rectangles and disks), w=256 (w=h when h > 1), noise=0.1, alpha=0.1,
//	  nu=0.05, seed=0
//
// For example "synth:n=20000,d=2000,kappa=1e3,seed=0". Sizes accept integral
// float notation (n=2e4). Unknown or repeated keys, keys of another problem,
// malformed numbers and out-of-range values (n<1, d<1, k<1, c<1, kappa<1,
// noise<0, sigma≤0, q outside (0, 1.5], density outside (0, 1], corrupt
// outside [0, 1], reg, rho, gamma, alpha or nu ≤ 0, spread<0, NaN or Inf) are
// errors naming the key.
//
// # Text files
//
// A source "libsvm:train=PATH[,val=PATH]…" or "csv:train=PATH[,val=PATH]…"
// (ParseTextSource, Limits.LoadText) reads supervised data from text: LIBSVM
// (sparse, "label index:value …", 1-based unless zerobased=true; ReadLIBSVM)
// or numeric CSV (dense, one label column; ReadCSV). Without val, the last
// ⌈split·rows⌉ rows of train (split=0.25 by default) are the validation set.
// Load gives every λ_j (ridge, logreg, multilogreg: one per feature) or λ_i
// (hypercleaning: one per training row) the source's lambda, 0 if not given;
// multilogreg and hypercleaning number the sorted distinct labels 0..c−1.
// Both readers stream line by line, bound a line by 64 MiB and the decoded
// arrays by the memory budget, and report errors naming the file and the line
// (ErrFormat, ErrShape, ErrNonFinite, ErrTooLarge, ErrOption).
//
// Generators are deterministic: the same options give bit-identical data for
// any GOMAXPROCS. SynthRidge and SynthLogreg draw rows in blocks of 256, each
// block from its own math/rand/v2 PCG stream derived from the seed, and fill
// the blocks in parallel; SynthEquilibrium draws its rows in such blocks too,
// and scales A by its norm from a gonum SVD. The arithmetic avoids fused
// multiply-adds, so other architectures give the same bits unless their
// math.Pow, Exp or Log (or gonum's SVD) round differently in the last place.
// In NumPy mode the uniform and normal draws are numpy's exactly; b and e,
// being matrix-vector products, agree with numpy's to rounding (its BLAS may
// sum in another order).
//
// # Failure modes
//
// What a loader returns, and the exit status of the command hypergrad on it
// (2: bad input); one test per row in TestFailureModes of cmd/hypergrad:
//
//	input                                                 error         exit
//	not an .npz/.npy file, corrupt or truncated archive   ErrFormat     2
//	an array the problem needs is missing                 ErrMissing    2
//	complex, object, string, record or datetime dtype     ErrDType      2
//	shapes that do not agree; CSR indptr or indices       ErrShape      2
//	NaN or ±Inf in an array                               ErrNonFinite  2
//	labels outside the problem's set                      ErrLabels     2
//	a .npy header with more than 64 dimensions            ErrFormat     2
//	a declared size beyond the file or archive member     ErrFormat     2
//	a declared size beyond the budget (Limits.MaxBytes)   ErrTooLarge   2
//	two members for one array ("X" and "X.npy")           ErrFormat     2
//	synth: sizes beyond MaxSynthBytes, a malformed option ErrOption     2
//	a LIBSVM or CSV line that does not parse              ErrFormat     2
//	a text source with an unknown or bad key, or for a
//	family that needs an .npz file                        ErrOption     2
package data
