// Package graph turns a bilevel problem written as Gorgonia expressions into
// a bilevel.Problem (and bilevel.CrossApplier): the user writes the inner
// objective g(w, λ) and the outer objective E(w, λ) as functions that build
// scalar gorgonia.org/gorgonia expressions on a vector node w (len d), a
// vector node λ (len h) and constant data tensors, and New compiles them once
// into tape machines for
//
//	g, ∇_w g,   E, ∇_w E, ∇_λ E,
//	A v  = ∇_w⟨∇_w g, v⟩,   Bᵀv = ∇_λ⟨∇_w g, v⟩,   B u = ∇_w⟨∇_λ g, u⟩,
//	∇²_ww E v = ∇_w⟨∇_w E, v⟩,
//
// exact reverse-mode products (Pearlmutter, "Fast exact multiplication by the
// Hessian", Neural Computation 1994), with A = ∇²_ww g and B = ∇²_wλ g as in
// package bilevel.
//
// Gorgonia v0.9.18 computes a Grad of a gradient wrongly: Backpropagate caches
// each node's derivative on the node and, on a second Grad, adds the cached
// derivative instead of differentiating the node (Σ Cube(w) gives 3w⊙v for the
// Hessian-vector product instead of 6w⊙v). Each second-order product is built
// in its own graph and the cached derivatives are cleared between the two
// Grads, which makes the second Grad differentiate every node afresh; New
// then certifies every derivative against 4-point central finite differences
// and refuses (ErrCertification) a graph that disagrees by more than
// Spec.CertTol. It also refuses (ErrBrokenOp) expressions with operations
// whose Gorgonia derivatives are wrong at first or second order: Slice,
// OuterProd, SoftMax and LogSoftMax, Max (hence vector LogSumExp) and a
// Reshape of an input.
//
// Constants are Lanczos estimates (bilevel.Estimate) of μ, L and L_f at one
// point; L_A and L_B are Unknown, so hypergrad's a posteriori error bound
// has kind "none" for these problems.
//
// Fixed-point problems (bilevel.FixedPoint, bilevel.Contractor): NewFixedPoint
// compiles a map Φ(w, λ) with the shape of w and an outer E(w, λ), written on
// a state node of a declared shape (Rows×Cols, built with that shape since a
// Reshape of an input is refused) and on λ given as named matrix or vector
// blocks (each its own input node, concatenated row-major into λ), into
//
//	Φ, E, ∇_wE, ∇_λE,   Jᵀu = ∇_w⟨Φ, u⟩,   Kᵀu = ∇_λ⟨Φ, u⟩,
//	J u = ∇_z⟨∇_w⟨Φ, z⟩, u⟩,   K u = ∇_z⟨∇_λ⟨Φ, z⟩, u⟩,
//
// J = ∂_wΦ and K = ∂_λΦ, the forward products by double reverse (the inner
// gradient is linear in z), with the same cache clearing and finite-difference
// certification; Contraction is a power-iteration estimate of ‖J‖₂ at one
// point (Kind Estimate, which package hypergrad accepts but does not use as
// a proven constant).
//
// Only the cpu backend is supported: each oracle copies its operands to host
// slices, runs a tape machine and copies the result back. Gorgonia and its
// dependencies are linked only by programs that import this package.
//
// Build tags: with the tag cuda, Gorgonia compiles its own CUDA mode, which
// needs cuDNN's headers; this package runs on the CPU backend only, so its
// code is left out of cuda builds (only this documentation remains).
package graph
