// BLAS-1 kernels of backend/cuda: elementwise operations (grid-stride loops,
// any grid size) and the two-stage reductions Dot and Nrm2.
//
// Reduction tree (Dot, Nrm2, and every scalar sum): with G blocks of HG_BLOCK
// threads, thread t of block b adds the products of elements
// i = b·HG_BLOCK + t + k·G·HG_BLOCK, k = 0, 1, … in increasing k; the block
// adds its threads' sums by the fixed binary tree of hg_block_sum and writes
// partial[b]; hg_sum_final (one block) adds partial[t], partial[t+HG_BLOCK], …
// per thread and the threads by the same tree. G depends only on n (see
// backend/cuda), so the result is a function of the inputs alone.
#include "common.cuh"

extern "C" __global__ void hg_fill(i64 n, double* x, double a) {
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) x[i] = a;
}

extern "C" __global__ void hg_copy(i64 n, double* dst, const double* src) {
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) dst[i] = src[i];
}

// hg_scal sets x ← α·x (0·NaN = NaN).
extern "C" __global__ void hg_scal(i64 n, double alpha, double* x) {
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) x[i] = alpha * x[i];
}

// hg_axpy sets y ← α·x + y.
extern "C" __global__ void hg_axpy(i64 n, double alpha, const double* x, double* y) {
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) y[i] = alpha * x[i] + y[i];
}

// hg_axpby sets y ← α·x + β·y, or α·x when β = 0.
extern "C" __global__ void hg_axpby(i64 n, double alpha, const double* x, double beta, double* y) {
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) y[i] = hg_finish(alpha, x[i], beta, &y[i]);
}

// hg_mulelem sets dst ← α·(x ⊙ y) + β·dst, or α·(x ⊙ y) when β = 0.
extern "C" __global__ void hg_mulelem(i64 n, double* dst, double alpha, const double* x, const double* y, double beta) {
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) dst[i] = hg_finish(alpha, x[i] * y[i], beta, &dst[i]);
}

// hg_dot_partial sets partial[b] to block b's share of Σ x_i·y_i.
extern "C" __global__ void hg_dot_partial(i64 n, const double* x, const double* y, double* partial) {
	__shared__ double sh[HG_BLOCK];
	double s = 0;
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) s += x[i] * y[i];
	s = hg_block_sum(s, sh);
	if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// hg_ssq_partial sets partial[b] to block b's share of Σ x_i² and
// partial[gridDim.x + b] to its max |x_i|.
extern "C" __global__ void hg_ssq_partial(i64 n, const double* x, double* partial) {
	__shared__ double sh[HG_BLOCK];
	double s = 0, m = 0;
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) {
		const double v = x[i];
		s += v * v;
		m = fmax(m, fabs(v));
	}
	s = hg_block_sum(s, sh);
	m = hg_block_max(m, sh);
	if (threadIdx.x == 0) {
		partial[blockIdx.x] = s;
		partial[gridDim.x + blockIdx.x] = m;
	}
}

// hg_scaled_ssq_partial sets partial[b] to block b's share of
// Σ (x_i·2^k)², the second pass of Nrm2 when Σ x_i² overflows or underflows.
extern "C" __global__ void hg_scaled_ssq_partial(i64 n, const double* x, i64 k, double* partial) {
	__shared__ double sh[HG_BLOCK];
	double s = 0;
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) {
		const double v = scalbn(x[i], (int)k);
		s += v * v;
	}
	s = hg_block_sum(s, sh);
	if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// hg_partials_sum returns to every thread of one block Σ_{b<np} partial[b]:
// thread t adds partial[t], partial[t+HG_BLOCK], … in order, then the block
// adds its threads' sums by hg_block_sum's tree. Every thread must call it.
__device__ __forceinline__ double hg_partials_sum(i64 np, const double* partial, double* sh) {
	double s = 0;
	for (i64 i = threadIdx.x; i < np; i += HG_BLOCK) s += partial[i];
	return hg_block_sum(s, sh);
}

// hg_sum_final (one block) sets out[0] = Σ_{b<np} partial[b] and, when
// withMax ≠ 0, out[1] = max_{b<np} partial[np+b] (the layout of
// hg_ssq_partial).
extern "C" __global__ void hg_sum_final(i64 np, const double* partial, i64 withMax, double* out) {
	__shared__ double sh[HG_BLOCK];
	const double s = hg_partials_sum(np, partial, sh);
	if (threadIdx.x == 0) out[0] = s;
	if (withMax) {
		double m = 0;
		for (i64 i = threadIdx.x; i < np; i += HG_BLOCK) m = fmax(m, partial[np + i]);
		m = hg_block_max(m, sh);
		if (threadIdx.x == 0) out[1] = m;
	}
}

// The conjugate gradient iteration with its scalars kept on the device
// (backend.CGStepper, queued by backend/cuda's CGStep as hg_dot_partial,
// hg_cg_pap, hg_cg_update, hg_cg_rr, hg_cg_axpby): st[0] is
// the stop flag (0 while running), st[1] holds α, st[2] β, st[3+2j] the
// residual's rᵀr before step j, st[4+2j] the step's pᵀAp. Once st[0] ≠ 0
// the kernels below change nothing (every thread of a kernel reads the same
// flag, so all of a block return, or none), and the vectors keep the state at
// the stop. Their arithmetic is the host loop's: the sums are hg_sum_final's
// tree over Dot's partial sums, α = rᵀr/pᵀAp and β = r'ᵀr'/rᵀr are correctly
// rounded divisions, and the updates are hg_axpy's and hg_axpby's
// expressions with those scalars, so the results are bit-identical to it.

// hg_cg_pap (one block) sums Dot's partial sums of pᵀAp into st[4+2j] as
// hg_sum_final does; then stops when !(pᵀAp > 0) (NaN included), else sets
// st[1] = α = st[3+2j] / pᵀAp.
extern "C" __global__ void hg_cg_pap(i64 np, const double* partial, double* st, i64 j) {
	__shared__ double sh[HG_BLOCK];
	if (st[0] != 0) return;
	const double s = hg_partials_sum(np, partial, sh);
	if (threadIdx.x != 0) return;
	st[4 + 2 * j] = s;
	if (!(s > 0)) {
		st[0] = 1;
		return;
	}
	st[1] = st[3 + 2 * j] / s;
}

// hg_cg_update sets q ← α·p + q and r ← (−α)·ap + r with α = st[1] (hg_axpy's
// expression for each) and partial[b] to block b's share of r'ᵀr' for the
// updated r, unless stopped. Launched with Dot's grid for n, its threads
// visit the elements in hg_dot_partial's order and add the same products in
// the same order, so the partial sums are those of Dot(r, r).
extern "C" __global__ void hg_cg_update(i64 n, const double* st, const double* p, const double* ap, double* q, double* r, double* partial) {
	__shared__ double sh[HG_BLOCK];
	if (st[0] != 0) return;
	const double alpha = st[1], malpha = -st[1];
	double s = 0;
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) {
		q[i] = alpha * p[i] + q[i];
		const double ri = malpha * ap[i] + r[i];
		r[i] = ri;
		s += ri * ri;
	}
	s = hg_block_sum(s, sh);
	if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// hg_cg_rr (one block) sums Dot's partial sums of r'ᵀr' into st[5+2j] as
// hg_sum_final does; then, with ‖r'‖ = √(r'ᵀr'), stops when ‖r'‖ is not
// finite, when tol > 0 and ‖r'‖ ≤ tol, or when ‖r'‖ ≤ floor (the host loop's
// tests at the top of the next iteration); else sets st[2] = β =
// r'ᵀr' / st[3+2j].
extern "C" __global__ void hg_cg_rr(i64 np, const double* partial, double* st, i64 j, double tol, double floor) {
	__shared__ double sh[HG_BLOCK];
	if (st[0] != 0) return;
	const double s = hg_partials_sum(np, partial, sh);
	if (threadIdx.x != 0) return;
	st[5 + 2 * j] = s;
	const double nrm = sqrt(s);
	if (!isfinite(nrm) || (tol > 0 && nrm <= tol) || nrm <= floor) {
		st[0] = 1;
		return;
	}
	st[2] = s / st[3 + 2 * j];
}

// hg_cg_axpby sets p ← r + β·p with β = st[2] (as hg_axpby with α = 1),
// unless stopped.
extern "C" __global__ void hg_cg_axpby(i64 n, const double* st, const double* r, double* p) {
	if (st[0] != 0) return;
	const double beta = st[2];
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) p[i] = hg_finish(1, r[i], beta, &p[i]);
}
