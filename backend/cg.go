package backend

// CGStepper is an optional capability of a Backend: one iteration of the
// conjugate gradient method (Hestenes–Stiefel, without preconditioning;
// Nocedal & Wright, Algorithm 5.2) queued with its scalars kept on the
// device, so that a run of iterations needs no transfer to the host until
// their scalars are read back together. A GPU backend implements it to save
// the two synchronizing dot products of every host-driven iteration; the
// package hypergrad uses it when the backend has it.
//
// The state vector st (a Vector of length ≥ CGStateLen(j+1)) holds:
//
//	st[0]      the stop flag, 0 while running
//	st[1]      α of the last step,  st[2]  β of the last step
//	st[3+2j]   ρ_j = r_jᵀr_j before step j (the caller sets ρ_0)
//	st[4+2j]   π_j = p_jᵀAp_j of step j
//
// CGStep(st, j, q, r, p, ap, tol, floor), with ap = A·p queued before it,
// does nothing if st[0] ≠ 0. Otherwise it sets π_j = pᵀap; if !(π_j > 0)
// (NaN included) it sets st[0] = 1 and stops there. Else, with α = ρ_j/π_j,
// it sets q ← α·p + q, r ← (−α)·ap + r, ρ_{j+1} = rᵀr, and with
// ν = √ρ_{j+1}: if ν is not finite, or tol > 0 and ν ≤ tol, or ν ≤ floor,
// it sets st[0] = 1; else, with β = ρ_{j+1}/ρ_j, p ← r + β·p.
//
// Every scalar is computed as the host would compute it from the backend's
// own Dot, and the vector updates are the backend's Axpy(α, p, q),
// Axpy(−α, ap, r) and Axpby(1, r, β, p): the results are bit-identical to
// that host loop's (CGStepRef in package backendtest spells it out).
// q, r, p and ap have one length and are four distinct vectors (ErrShape,
// ErrAlias, checked by package backend/internal/check); on vectors of length 0 nothing is done.
type CGStepper interface {
	CGStep(st Vector, j int, q, r, p, ap Vector, tol, floor float64)
}

// CGStateLen returns the length of a CGStepper state vector for steps
// 0, …, m−1: the flag, α, β, then ρ_0 … ρ_m and π_0 … π_{m−1} interleaved.
func CGStateLen(m int) int { return 3 + 2*m + 1 }
