// Package hypergrad computes hypergradients: the gradient ∇f(λ) of the outer
// objective f(λ) = E(w*(λ), λ) of a bilevel problem whose inner solution is
// w*(λ) = argmin_w g(w, λ). By the implicit function theorem
//
//	∇f(λ) = ∇_λE − Bᵀq,   A q = ∇_wE,   A = ∇²_ww g,  B = ∇²_wλ g,
//
// evaluated at (w*(λ), λ) (package problems). The estimators follow
// Grazzi, Franceschi, Pontil & Salzo, "On the Iteration Complexity of
// Hypergradient Computation" (ICML 2020), and Ehrhardt & Roberts, "Analyzing
// Inexact Hypergradients for Bilevel Learning" (IMA J. Appl. Math. 2024):
//
//   - AID (approximate implicit differentiation, Grazzi et al. Algorithm 2):
//     t steps of an inner solver give w_t ≈ w*; k steps of a linear solver give
//     q_k ≈ A(w_t)⁻¹∇_wE(w_t); the estimate is ∇_λE(w_t) − B(w_t)ᵀq_k. The
//     linear solver is FixedPoint (AID-FP: Richardson iteration, equal to the
//     Neumann series of Grazzi et al.), ConjugateGradient (AID-CG; with
//     Jacobi, preconditioned by diag(A): AID-PCG), HeavyBallLinear (AID-HB),
//     or any solver of package krylov through Krylov (MINRES, GMRES, …, or
//     the user's own krylov.Solver).
//   - ITD (iterative differentiation, Grazzi et al. Algorithm 1): the exact
//     gradient of the truncated objective f_t(λ) = E(w_t(λ), λ), computed by
//     reverse mode through the stored inner trajectory; Truncate = K
//     back-propagates through the last K steps only. With Forward, ITD
//     carries the Jacobian Z_s = ∂w_s/∂λ along the inner solve instead
//     (Z_{s+1} = Z_s − α(A(w_s)Z_s + B(w_s)) for gradient descent, with the
//     momentum terms of heavy ball and FISTA) and returns
//     ∇_λE(w_t) + Z_tᵀ∇_wE(w_t): the same gradient of f_t for memory and
//     cost proportional to h, for problems that apply B·u
//     (bilevel.CrossApplier).
//
// The inner solvers are GradientDescent, w_{k+1} = w_k − α∇_w g(w_k),
// HeavyBall, w_{k+1} = w_k − α∇_w g(w_k) + β(w_k − w_{k−1}), and the strongly
// convex FISTA, with the step sizes of the papers: α = 2/(L+μ) for gradient
// descent, α = 4/(√L+√μ)², β = ((√L−√μ)/(√L+√μ))² for heavy ball, τ = 1/L for
// FISTA (Ehrhardt & Roberts §3.2, after Mehmood & Ochs 2020 and Chambolle &
// Pock 2016). Newton is inexact Newton–CG (Nocedal & Wright §7.1): CG
// steps on A(w_k)s = −∇_w g(w_k) to a forcing tolerance and a line search
// on ‖∇_w g‖; it needs no step size and converges superlinearly, so it is
// the fastest route to an accurate w_t when Hessian-vector products are as
// cheap as gradients (the GLM problems). FrozenAD back-propagates through further frozen solver steps
// (Ehrhardt & Roberts' "AD"), which equals FixedPoint or HeavyBallLinear.
//
// Certified accuracy: every AID Result carries the a posteriori error bound
// of Ehrhardt & Roberts (2024) — certified when every constant of the problem
// is exact or a proven bound, an estimate otherwise, none where no bound
// exists (see Bound) — and the a priori bound where the iteration counts
// determine one. ITD gets a bound where it is AID in disguise (A and B
// constant in w). AID.Target asks for an accuracy instead of iteration
// counts: the estimator chooses the lower-level and linear-solve tolerances
// from the bound and iterates until it certifies the target.
//
// Minimizer is the outer loop over λ: fixed-step gradient descent, Adam, or
// MAID's backtracking line search with inexact function values, with fixed
// or adaptive (MAID) accuracies and warm starts of w and q across steps.
//
// Fixed-point lower levels w = Φ(w, λ) (bilevel.FixedPoint: equilibrium
// models, recurrent and graph networks, whose ∂_wΦ is not symmetric) have
// estimators of their own, FixedPointEstimator: FixedPointAID solves
// (I − ∂_wΦᵀ)v = ∇_wE with any krylov.Solver — GMRES, BiCGStab or CG on the
// normal equations in general, CG or MINRES where ∂_wΦ is symmetric,
// Richardson with step 1 for AID-FP — and returns ∇_λE + ∂_λΦᵀv;
// FixedPointITD differentiates through the fixed-point iteration in reverse
// mode (truncated, checkpointed) or in forward mode (cost and memory ∝ h).
// bilevel.NewGradientStep turns an optimisation problem into one.
//
// Relation to Grazzi et al.'s fixed-point notation: with the gradient-step map
// Φ(w, λ) = w − α∇_w g(w, λ), I − ∂_wΦ = αA and ∂_λΦ = −αB, so their adjoint
// v (the solution of (I − ∂_wΦᵀ)v = ∇_wE) equals q/α. This package works with
// q throughout.
//
// Estimators run unchanged on every backend: they see the problem only
// through the bilevel.Problem oracles and its vectors only through the
// backend.Backend operations. Every Result carries the iterations used, oracle
// counts, final residuals, time per phase and a status; failures (a
// non-finite value, a breakdown of conjugate gradients on an operator that is
// not positive definite, a cancelled context, a backend error) are returned as
// errors that say where they happened.
//
// # Failure modes
//
// Every error of an estimator is a *Error (phase and iteration) wrapping one
// of the errors below; test with errors.Is. The command hypergrad exits 1 on
// any of them (2 for a bad setting, which it refuses before estimating). One
// test per row: TestFailureModesLibrary.
//
//	situation                                               error
//	zero-value estimator, T = K = 0, a bad step or setting  ErrInvalidSettings
//	a start W0 or V0 of the wrong length                    ErrShape
//	a non-finite start, iterate, residual or hypergradient  ErrNonFinite
//	a residual (‖∇_w g‖, the adjoint, the linear residual)  ErrDiverged
//	  grown DivergenceFactor times its start (a step
//	  beyond 2/L), before any value overflows
//	CG on an operator that is not positive definite         ErrNotPositiveDefinite
//	a fixed-point map whose steps outgrow its contraction   ErrNotContraction
//	  constant q, or grow without bound
//	a cancelled context                                     context.Canceled
//
// The problems' own failures come from package problems (ErrConstants,
// ErrNumerical) and the data's from package data (see its Failure modes).
package hypergrad
