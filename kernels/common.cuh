// Shared definitions of the hypergrad CUDA kernels (included by every .cu file).
//
// Conventions, relied on by backend/cuda:
//   - every kernel is extern "C" __global__ and every parameter is 64 bits wide
//     (pointers, long long, double): gorgonia.org/cu's Launch copies 8 bytes per
//     argument;
//   - every kernel runs with HG_BLOCK threads per block (1-D blocks, 1-D grids);
//   - no floating-point atomics and no warp-synchronous code: every reduction is a
//     fixed tree in shared memory separated by __syncthreads(), so results depend
//     only on the launch configuration, which the host derives from the shapes
//     alone, never from the device; repeated runs are bit-identical;
//   - compiled with -fmad=false, so that a*b+c rounds twice as in Go on amd64.
//
// The same sources compile as C++ for the CPU emulator of backend/cuda
// (build tag cudaemu), which defines __global__, __shared__, threadIdx, … itself.
#ifndef HG_COMMON_CUH
#define HG_COMMON_CUH

#ifdef __CUDACC__
#define HG_UNROLL _Pragma("unroll")
#else
#define HG_UNROLL
#endif

typedef long long i64;

// HG_BLOCK is the number of threads of every block. backend/cuda launches
// every kernel with exactly this many threads.
#define HG_BLOCK 256

// Operations of the row kernels (hg_dense_pass, hg_csr_rows).
#define HG_OP_MULVEC 0 // out_i = α·z_i + β·out_i, z = X·u
#define HG_OP_TRANS 1  // s_i = aux_i, accumulate Xᵀs (dense only)
#define HG_OP_GRAM 2   // s_i = aux_i·z_i (aux == 0: s_i = z_i), accumulate Xᵀs
#define HG_OP_GLM 3    // s_i = ℓ'(z_i, aux_i), curv_i = ℓ''(z_i, aux_i), Σ ℓ(z_i, aux_i)

// Losses, as backend.Loss.
#define HG_LOSS_SQUARED 0
#define HG_LOSS_LOGISTIC 1

__device__ __forceinline__ i64 hg_min64(i64 a, i64 b) { return a < b ? a : b; }

// hg_gtid and hg_gstride index grid-stride loops.
__device__ __forceinline__ i64 hg_gtid() { return (i64)blockIdx.x * HG_BLOCK + threadIdx.x; }
__device__ __forceinline__ i64 hg_gstride() { return (i64)gridDim.x * HG_BLOCK; }

// hg_finish returns α·a + β·d, or α·a when β = 0 (d is then not read, so
// that NaN or Inf in the destination does not propagate).
__device__ __forceinline__ double hg_finish(double alpha, double a, double beta, const double* d) {
	return beta == 0 ? alpha * a : alpha * a + beta * *d;
}

// hg_block_sum returns to every thread the sum of v over the block, by the
// fixed tree sh[t] += sh[t+s] for s = HG_BLOCK/2, …, 2, 1. Every thread of the
// block must call it; sh holds HG_BLOCK doubles and may be reused afterwards.
__device__ __forceinline__ double hg_block_sum(double v, double* sh) {
	const int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (int s = HG_BLOCK / 2; s > 0; s >>= 1) {
		if (t < s) sh[t] += sh[t + s];
		__syncthreads();
	}
	const double r = sh[0];
	__syncthreads();
	return r;
}

// hg_block_max returns to every thread max over the block of v ≥ 0 (NaNs
// are ignored, as by fmax; callers detect NaN otherwise), by the same tree.
__device__ __forceinline__ double hg_block_max(double v, double* sh) {
	const int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (int s = HG_BLOCK / 2; s > 0; s >>= 1) {
		if (t < s) sh[t] = fmax(sh[t], sh[t + s]);
		__syncthreads();
	}
	const double r = sh[0];
	__syncthreads();
	return r;
}

// hg_segment_sum sums v over segments of w consecutive threads (w a power of
// two ≤ HG_BLOCK): the fixed tree sh[t] += sh[t+s] for s = w/2, …, 1 within
// each segment. It returns the segment's sum to the segment's first thread
// (t % w == 0) and an unspecified value to the others. Every thread of the
// block must call it with the same w.
__device__ __forceinline__ double hg_segment_sum(double v, double* sh, int w) {
	const int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (int s = w / 2; s > 0; s >>= 1) {
		if ((t & (w - 1)) < s) sh[t] += sh[t + s];
		__syncthreads();
	}
	const double r = sh[t];
	__syncthreads();
	return r;
}

// hg_glm sets l = ℓ(z,y), g = ℓ'(z,y), h = ℓ''(z,y) with the formulas of
// backend.Loss (the same operations as the CPU backend):
//   squared:  r = z−y, ℓ = ½r², ℓ' = r, ℓ'' = 1;
//   logistic: s = −y·z, e = exp(−|s|), ℓ = max(s,0) + log1p(e),
//             ℓ' = −y·σ(s) with σ(s) = 1/(1+e) for s ≥ 0 and e/(1+e) otherwise,
//             ℓ'' = e/(1+e)².
// max(s,0) propagates NaN, as Go's math.Max. With wantl false, l is set to 0
// and the log1p is not evaluated (GLMGradNoLoss); g and h are the same.
__device__ __forceinline__ void hg_glm(i64 loss, double z, double y, bool wantl, double* l, double* g, double* h) {
	if (loss == HG_LOSS_SQUARED) {
		const double r = z - y;
		*l = 0.5 * r * r;
		*g = r;
		*h = 1;
		return;
	}
	const double s = -y * z;
	const double e = exp(-fabs(s));
	const double m = (s != s) ? s : (s > 0 ? s : 0.0);
	*l = wantl ? m + log1p(e) : 0.0;
	const double sig = s >= 0 ? 1 / (1 + e) : e / (1 + e);
	*g = -y * sig;
	*h = e / ((1 + e) * (1 + e));
}

// hg_nanmax returns max(a, b), NaN when either is NaN (fmax ignores NaN).
__device__ __forceinline__ double hg_nanmax(double a, double b) { return (a > b || a != a) ? a : b; }

// hg_seg_sum_all is hg_segment_sum (the same tree, so the same sums) that
// returns the segment's sum to every thread of the segment.
__device__ __forceinline__ double hg_seg_sum_all(double v, double* sh, int w) {
	const int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (int s = w / 2; s > 0; s >>= 1) {
		if ((t & (w - 1)) < s) sh[t] += sh[t + s];
		__syncthreads();
	}
	const double r = sh[t & ~(w - 1)];
	__syncthreads();
	return r;
}

// hg_seg_max_all returns to every thread of a segment of w threads the
// maximum of v over the segment, NaN if any is NaN, by the tree of
// hg_segment_sum.
__device__ __forceinline__ double hg_seg_max_all(double v, double* sh, int w) {
	const int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (int s = w / 2; s > 0; s >>= 1) {
		if ((t & (w - 1)) < s) sh[t] = hg_nanmax(sh[t], sh[t + s]);
		__syncthreads();
	}
	const double r = sh[t & ~(w - 1)];
	__syncthreads();
	return r;
}

// hg_seg_softmax_stats returns to every thread of a segment of w threads,
// for the row of cols entries at a (read only when ok), its maximum *m
// (propagating NaN; −Inf for an empty row) and *s = Σ_j exp(a_j − m): lane
// takes the columns lane, lane+w, … in order, and the lanes are combined by
// the trees of hg_seg_max_all and hg_seg_sum_all. Every thread of the block
// must call it with the same w.
__device__ __forceinline__ void hg_seg_softmax_stats(const double* a, i64 cols, bool ok, int lane, int w, double* sh,
                                                     double* m, double* s) {
	double mx = -INFINITY;
	if (ok) {
		for (i64 j = lane; j < cols; j += w) mx = hg_nanmax(mx, a[j]);
	}
	mx = hg_seg_max_all(mx, sh, w);
	double p = 0;
	if (ok) {
		for (i64 j = lane; j < cols; j += w) p += exp(a[j] - mx);
	}
	*m = mx;
	*s = hg_seg_sum_all(p, sh, w);
}

#endif // HG_COMMON_CUH
