package bench

// Report is everything a suite run measured. It is written as JSON as is;
// Rows flattens it for CSV.
type Report struct {
	Meta         Meta            `json:"meta"`
	Problems     []ProblemReport `json:"problems"`
	Reproduction *Reproduction   `json:"reproduction,omitempty"`
	Outer        *OuterReport    `json:"outer,omitempty"`
	Peers        *PeerReport     `json:"peers,omitempty"`
	TTA          *TTAReport      `json:"time_to_accuracy,omitempty"`
	// TargetCost is the target-cost study (Suite.TargetCost).
	TargetCost []TargetCostRow `json:"target_cost,omitempty"`
}

// Meta describes the run.
type Meta struct {
	Suite      string  `json:"suite"`
	Backend    string  `json:"backend"`
	Device     string  `json:"device"`
	GoVersion  string  `json:"go_version"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Commit     string  `json:"commit"`
	Date       string  `json:"date"`
	Host       string  `json:"host"`
	Seconds    float64 `json:"seconds"` // wall time of the whole run
}

// ProblemReport holds the measurements of one problem.
type ProblemReport struct {
	Name    string `json:"name"`
	Problem string `json:"problem"`
	Source  string `json:"source"`
	Shape   string `json:"shape"`
	D, H    int    `json:"-"`
	// MuStar, LStar are the extreme eigenvalues of A at w* (dense, from
	// Hessian-vector products); KappaStar = LStar/MuStar governs the
	// asymptotic rates.
	MuStar    float64 `json:"mu_star"`
	LStar     float64 `json:"L_star"`
	KappaStar float64 `json:"kappa_star"`
	// KappaJacobi is κ(M^{-1/2} A M^{-1/2}) at w*, M = diag(A): the
	// condition number that governs Jacobi-preconditioned CG.
	KappaJacobi float64 `json:"kappa_jacobi"`
	// Mu, L are the constants the default step sizes come from (exact,
	// bounds or estimates, see Kind).
	Mu        float64 `json:"mu"`
	L         float64 `json:"L"`
	ConstKind string  `json:"constants_kind"`
	// RefNorm is ‖∇f‖ of the exact reference, RefMethod how it was computed.
	RefNorm   float64 `json:"reference_norm"`
	RefMethod string  `json:"reference_method"`
	// Oracle timings: one inner gradient, one Hessian-vector product, one
	// cross product.
	Oracles    map[string]Stat `json:"oracle_seconds"`
	InnerRates []Rate          `json:"inner_rates"`
	Methods    []MethodReport  `json:"methods"`
	Tightness  *Tightness      `json:"tightness,omitempty"`
}

// Stat summarises repeated timings in seconds.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// Rate is a fitted asymptotic contraction factor per iteration next to its
// theoretical value.
type Rate struct {
	Phase   string  `json:"phase"` // "inner-gd", "linear", "itd"
	Fitted  float64 `json:"fitted"`
	Theory  float64 `json:"theory"`
	Formula string  `json:"formula"`
	Points  int     `json:"points"` // iterations in the fitting window
}

// GridPoint is one (t, k) measurement of the relative error.
type GridPoint struct {
	T       int     `json:"t"`
	K       int     `json:"k"`
	RelErr  float64 `json:"rel_error"`
	Oracles int     `json:"oracles"` // inner gradients + HVPs + cross products of a run with these counts
	Seconds float64 `json:"seconds,omitempty"`
}

// Complexity is one row of the iteration-complexity table.
type Complexity struct {
	Target float64 `json:"target"`
	// Cheapest grid point (fewest oracle calls) reaching the target.
	Found   bool `json:"found"`
	T       int  `json:"t"`
	K       int  `json:"k"`
	Oracles int  `json:"oracles"`
	// Diagonal: the first grid t from which error(t, k = t) stays ≤ target
	// (0 if none), and the iterations interpolated in log error between it
	// and the previous grid point.
	Diagonal        int     `json:"diagonal_t"`
	DiagonalIters   float64 `json:"diagonal_iterations"`
	DiagonalOracles int     `json:"diagonal_oracles"`
}

// TimedPoint is the timing of estimates at one (t, k).
type TimedPoint struct {
	Target  float64 `json:"target"`
	T       int     `json:"t"`
	K       int     `json:"k"`
	Seconds Stat    `json:"seconds"`
	RelErr  float64 `json:"rel_error"`
}

// TimeTarget is the relative error at which the bench times each method
// (MethodReport.TimeToTarget), over at most timeToTargetRepeats runs.
const TimeTarget = 1e-6

const timeToTargetRepeats = 3

// MemPoint is the memory of one estimate with t inner iterations.
type MemPoint struct {
	T           int    `json:"t"`
	DeviceBytes int64  `json:"peak_device_bytes"` // peak of Backend.Allocated during the run
	HeapBytes   uint64 `json:"heap_alloc_bytes"`  // Go heap bytes allocated by the run
}

// MethodReport holds the measurements of one estimator on one problem.
type MethodReport struct {
	Name       string       `json:"name"`
	Estimator  string       `json:"estimator"`
	Grid       []GridPoint  `json:"grid"`
	Diagonal   []GridPoint  `json:"diagonal"`
	Rate       *Rate        `json:"rate,omitempty"`
	Complexity []Complexity `json:"complexity"`
	Timing     Stat         `json:"seconds_per_hypergradient"`
	TimingT    int          `json:"timing_t"`
	TimingK    int          `json:"timing_k"`
	TimingErr  float64      `json:"timing_rel_error"`
	// TimeToTarget is the time of a hypergradient at the cheapest (t, k) of
	// the grid reaching the relative error TimeTarget (nil if none does),
	// timed as Timing is.
	TimeToTarget *TimedPoint `json:"time_to_target,omitempty"`
	Memory       []MemPoint  `json:"memory"`
	// MemoryCheckpointed is ITD with √t checkpointing (ITD only).
	MemoryCheckpointed []MemPoint `json:"memory_checkpointed,omitempty"`
}

// Reproduction holds the papers' experiments and whether their claims held.
type Reproduction struct {
	Claims []Claim        `json:"claims"`
	Budget []BudgetResult `json:"budget"`
	// Equilibrium is the equilibrium experiment (Grazzi et al. §3.2), when run.
	Equilibrium *EquilibriumReport `json:"equilibrium,omitempty"`
	// Cleaning and Denoising are the hyper-cleaning and TV-denoising
	// experiments (papers.go), when run.
	Cleaning  *CleaningReport  `json:"hyper_cleaning,omitempty"`
	Denoising *DenoisingReport `json:"tv_denoising,omitempty"`
}

// Claim is a statement of a paper and what this run measured.
type Claim struct {
	Source   string `json:"source"`
	Claim    string `json:"claim"`
	Held     bool   `json:"held"`
	Evidence string `json:"evidence"`
}

// BudgetResult is one split of Ehrhardt & Roberts' fixed budget of 200
// iterations: N heavy-ball lower-level steps, 200 − N linear-solver steps.
type BudgetResult struct {
	N        int     `json:"n"`
	Eps      float64 `json:"eps"`       // ‖w_N − w*‖
	ErrHB    float64 `json:"error_hb"`  // ‖h − ∇F‖ with heavy ball on the linear system
	ErrCG    float64 `json:"error_cg"`  // with conjugate gradients
	Ratio    float64 `json:"floor_eps"` // ErrCG/Eps
	Digest   float64 `json:"digest"`    // the value the paper reports (HB column), 0 if none
	DigestCG float64 `json:"digest_cg,omitempty"`
}
