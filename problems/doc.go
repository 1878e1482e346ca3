// Package problems is the problem zoo: each family
// implements the matrix-free oracles of bilevel.Problem on a backend and an
// exact reference hypergradient (a closed form, a direct dense solve with
// gonum, or Newton's method to machine precision, reporting the ‖∇_w g‖ it
// reached).
//
// Families (formulas exactly as the spec; n training rows, m validation rows):
//
//	ridge:     g(w,λ) = 1/(2n)‖X w − y‖² + ½Σ_j e^{λ_j} w_j²,   E(w) = 1/(2m)‖X_val w − y_val‖²
//	logreg:    g(w,λ) = 1/n Σ_i log(1+exp(−y_i x_iᵀw)) + ½Σ_j e^{λ_j} w_j²,
//	           E(w) = 1/m Σ_i log(1+exp(−y_i x_iᵀw)) over the validation rows
//	quadratic: g(w,θ) = ‖Cθ + Dw − e‖²,   E(w) = ‖Aw − b‖²
//	multilogreg: W ∈ R^{d×c} (w = W row-major), g(W,λ) = 1/n Σ_i CE(x_iᵀW, y_i) + 1/(2dc) Σ_{j,k} e^{λ_j} W_jk²
//	           (per-class: e^{λ_k}; shared: one λ),   E(W) = 1/m Σ_i CE(x_iᵀW, y_i) over the validation rows
//	hypercleaning: x̃ = [x; 1], W ∈ R^{c×(p+1)} (w = Wᵀ row-major), s_i = σ(λ_i),
//	           g(W,λ) = 1/n Σ_i s_i CE(W x̃_i, y_i) + reg‖W‖_F²,   E(W) = 1/m Σ_j CE(W x̃_j, y_j)
//	krr:       K_ij = exp(−γ‖x_i − x_j‖²), λ = (log ρ, log γ), g(w,λ) = ½wᵀ(K + ρI)w − yᵀw,
//	           E(w,λ) = 1/(2m)‖K_val,train w − y_val‖² (E depends on γ directly)
//	biasreg:   w = (w_1, …, w_T), λ = h, g = Σ_t 1/(2n)‖X_t w_t − y_t‖² + ρ/2‖w_t − h‖²,
//	           E = 1/T Σ_t 1/(2m)‖X_val,t w_t − y_val,t‖²
//	tvdenoise: λ = (log α, log ν), g(x,λ) = ½‖x − y‖² + α Σ_pixels sqrt(|∇x|² + ν²) (forward
//	           differences, Neumann boundary), E(x) = ½‖x − x_true‖²
//
// CE(z, y) = logsumexp(z) − z_y is the cross-entropy of scores z and label
// y. Each family's type documents its constants with their derivations.
//
// One family has a fixed-point lower level (bilevel.FixedPoint, built by
// NewFixedPoint; Grazzi et al. 2020, §3.2):
//
//	equilibrium: S = Φ(S,λ) = tanh(S A + X B + 1 biasᵀ),   E(S,λ) = 1/N Σ_i CE(S_i Wo + bo, y_i),
//	             λ = (A, B, bias, Wo, bo), w = S (N×k); Φ contracts with q = ‖A‖₂ (exact, host SVD)
//
// Ridge and logreg take one hyperparameter per feature (len λ = d) or one
// shared weight (len λ = 1, where B = e^λ·w is d×1 and the hypergradient is
// the sum of the per-feature one).
//
// Problems upload their data once at construction; oracles then run on the
// backend and allocate nothing. They keep a reference to the host data for the
// exact reference and the dense constants: do not modify it afterwards. Close
// frees the device memory.
//
// Operands: every oracle of every family (those of
// bilevel.Problem and the optional HessVecPair, HessDiag, CrossApply,
// CrossNorm, InnerGradRecord, InnerGradRecordHessVec and UseSlot) checks its
// operands before any backend call: a vector that is nil, a nil pointer in a
// non-nil backend.Vector, or not of its documented length (d for w, v and
// most dst; h for the dst of CrossVec and OuterHyperGrad and the u of
// CrossApply), and a slot index outside the allocated slots, give an
// *OperandError naming the oracle and the argument, which wraps ErrOperand.
// Such a call writes nothing and leaves the backend's error state alone; the
// checks allocate nothing unless they fail. The second-order oracles return
// ErrNotLinearized before any Linearize, whatever their operands.
//
// Constants: where a dense eigendecomposition is cheap (d ≤ DenseLimit and
// rows·d² ≤ 4·10⁹) μ, L and L_f are exact; otherwise they are Lanczos
// estimates (package spectral) widened by the Ritz residual, or the spec's
// proven bounds where those exist. Each Constant says which (bilevel.Kind).
//
// Certified error bounds (hypergrad.Bound) need μ, L_f, L_A, L_B, L_Eλ and
// ‖B(w)‖ (bilevel.CrossNormer) to be exact or proven bounds:
//
//	ridge:     μ = λ_min(A), L_f = λ_max(X_valᵀX_val)/m exact (dense); L_A = 0;
//	           L_B = max e^λ; L_Eλ = 0; ‖B(w)‖ = max_j e^{λ_j}|w_j| exact —
//	           certified for d ≤ DenseLimit, an estimate above (Lanczos μ, L_f).
//	logreg:    μ ≥ min e^λ, L_f ≤ σ_max(X_val)²/(4m), L_A ≤ σ_max(X)² max_i‖x_i‖/(6√3 n)
//	           (proven for every w), L_B = max e^λ, L_Eλ = 0, ‖B(w)‖ exact — certified
//	           when σ_max is exact (d ≤ DenseLimit), an estimate above.
//	quadratic: μ = 2σ_min(D)², L_f = 2σ_max(A)² exact (dense), L_A = L_B = L_Eλ = 0,
//	           ‖B‖ = 2‖DᵀC‖₂ exact — certified for small d, an estimate above.
//
// logreg's μ = min e^λ is a global bound: the local curvature at w* is often
// much larger, so its certified bounds are conservative.
//
// Memory: the dense references and ExactConstants of ridge, logreg and
// quadratic form matrices of d² (and, for logreg's weighted X, quadratic's
// QR and a CSR matrix made dense, rows·d) entries. They estimate those bytes
// first (DenseBytes, also a package function of the data alone, usable
// before a problem is built) and fail with ErrTooLarge beyond the
// problem's dense budget (DenseBudgeter.SetMaxDenseBytes, default
// DefaultMaxDenseBytes = 8 GiB), so that a reference at d = 10⁵ is refused
// at once instead of exhausting memory; Constants then falls back to its
// Lanczos estimates. Equilibrium's reference solves k×k blocks row by row
// and needs no budget.
package problems
