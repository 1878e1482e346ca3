// Dense row-major kernels of backend/cuda: MulVec, MulVecTrans, the fused
// one-pass GramVec and GLMGrad, and GramDiag (hg_dense_sqcols, at the end).
//
// One pass over X. Block b owns the rows [b·rpb, min(rows, (b+1)·rpb)) and
// walks them in tiles of HG_R rows. Thread t owns the columns
// j = t + k·HG_BLOCK, k = 0, 1, …, kc−1 (kc = ⌈cols/HG_BLOCK⌉), so that
// consecutive threads read consecutive addresses of a row. For each tile:
//   1. row dot products: thread t forms p_r = Σ_k X[i_r, j_k]·u[j_k] (k in
//      increasing order) for the HG_R rows r of the tile; the block adds the
//      p_r of its threads by the fixed tree of hg_block_sum (HG_R trees at once);
//   2. threads r < HG_R turn z_r into the row weight s_r (MulVec: writes its
//      output instead; GramVec: s = d·z; GLMGrad: s = ℓ'(z,y), curv = ℓ''(z,y),
//      and the loss);
//   3. accumulation: thread t adds s_0·X[i_0,j] + s_1·X[i_1,j] + … (rows in
//      order) to its column accumulators.
// When kc ≤ HG_KMAX (cols ≤ HG_KMAX·HG_BLOCK) the tile's values stay in
// registers between steps 1 and 3 and the accumulators too: X is read exactly
// once. Wider matrices re-read the tile in step 3 (from L1/L2, right after
// step 1) and keep the accumulators in the block's row of partial.
// Each block writes its accumulators to partial[b·cols + j]; hg_colreduce adds
// the blocks' rows in the fixed order b = g, g+8, … per group g < 8, then the 8
// groups by a tree, and applies α and β. rpb, and so the tree, depend only on
// the shape (see backend/cuda), so results are bit-identical run to run.
#include "common.cuh"

#define HG_R 4    // rows per tile
#define HG_KMAX 4 // column chunks per thread kept in registers

// hg_dense_pass runs op (HG_OP_*) over the rows of the rows×cols matrix X
// (at least HG_DENSE_MINBLOCKS = 3 blocks resident per SM: without the bound
// ptxas gives it 100 registers, 2 blocks per SM, and an H100 measured GramVec
// at 343 µs and GLMGrad at 413 µs on 100000 × 1000; with it 80 registers, no
// spills, 324 µs and 377 µs; see bench/results/gpu-2026-11-22.md):
//   MULVEC: rowout_i ← α·(x_iᵀu) + β·rowout_i (β = 0 overwrites);
//   TRANS:  partial ← per-block Σ_i aux_i·x_i;
//   GRAM:   partial ← per-block Σ_i aux_i·(x_iᵀu)·x_i (aux == 0: weight 1);
//   GLM:    z_i = x_iᵀu, y_i = aux_i: per-block Σ_i ℓ'(z_i,y_i)·x_i into partial
//           (when partial ≠ 0), curv_i ← ℓ''(z_i,y_i) (when curv ≠ 0), and the
//           per-block loss Σ_i ℓ(z_i,y_i) into losspart[b] (when losspart ≠ 0).
#if HG_BLOCK != 256
#error "hg_dense_pass assumes 256 threads per block"
#endif
#ifndef HG_DENSE_MINBLOCKS
#define HG_DENSE_MINBLOCKS 3
#endif
// hg_dense_pass_impl is hg_dense_pass for X of element type T (double, or
// float for matrices stored in float32: the values are widened to double as
// they are loaded, and all arithmetic and accumulation are in double).
// Flat selects how a tile's row dot products are added over the block's
// threads: three levels of fixed-order sums (3 barriers), or the binary tree
// (8 barriers). Both orders are fixed, so results are bit-identical run to
// run. On an H100 (100000 × 1000) the flat sums made the float32 passes 8–11 %
// faster (GramVec 266 → 242 µs) and the float64 ones 1–2 %; the float64 pass
// keeps the tree, whose rounding the tests' Newton step counts were measured
// with (bench/results/gpu-2026-11-22.md).
template <typename T, bool Flat>
__device__ __forceinline__ void hg_dense_pass_impl(i64 op, i64 rows, i64 cols, const T* X, const double* u,
                                         const double* aux, i64 loss, double alpha, double beta, double* rowout,
                                         double* curv, double* partial, double* losspart, i64 rpb) {
	__shared__ double red[HG_R][HG_BLOCK];
	__shared__ double red1[HG_R][32]; // Flat only
	__shared__ double red2[HG_R][4];  // Flat only
	__shared__ double srow[HG_R];
	__shared__ double lrow[HG_R];
	const int t = threadIdx.x;
	const i64 r0 = (i64)blockIdx.x * rpb;
	const i64 r1 = hg_min64(rows, r0 + rpb);
	const i64 kc = (cols + HG_BLOCK - 1) / HG_BLOCK;
	const bool dots = op != HG_OP_TRANS;
	const bool accum = op != HG_OP_MULVEC && partial != 0;
	const bool inreg = kc <= HG_KMAX;
	double* prow = accum ? partial + (i64)blockIdx.x * cols : 0; // this block's row of partial
	double acc[HG_KMAX];
	HG_UNROLL for (int k = 0; k < HG_KMAX; k++) acc[k] = 0;
	if (accum && !inreg) {
		for (i64 j = t; j < cols; j += HG_BLOCK) prow[j] = 0;
	}
	double lossacc = 0; // loss of the rows of slot t < HG_R

	for (i64 i0 = r0; i0 < r1; i0 += HG_R) { // the same trip count in every thread
		double xr[HG_R][HG_KMAX];
#ifdef __CUDACC__
		// The tile's row weight inputs (GramVec's d_i, GLMGrad's y_i) are read
		// after its sums, by the threads t < HG_R: fetch their line into L1 now,
		// so that the read does not wait for memory. On an H100 (100000 ×
		// 1000) GramVec 307.6 → 305.1 µs, GLMGradNoLoss 318.4 → 315.1 µs, the
		// float32 passes 2 % (bench/results/gpu-2026-11-23b.md); loading the
		// values themselves early, into registers or shared memory, made ptxas
		// spill at the 80-register bound and every pass slower.
		if (t == 0 && dots && aux != 0) asm volatile("prefetch.global.L1 [%0];" ::"l"(aux + i0));
#endif
		if (dots) {
			double p[HG_R];
			HG_UNROLL for (int r = 0; r < HG_R; r++) p[r] = 0;
			if (inreg) {
				HG_UNROLL for (int k = 0; k < HG_KMAX; k++) {
					const i64 j = t + (i64)k * HG_BLOCK;
					const bool okj = k < kc && j < cols;
					const double uj = okj ? u[j] : 0;
					HG_UNROLL for (int r = 0; r < HG_R; r++) {
						const i64 i = i0 + r;
						const double a = (okj && i < r1) ? X[i * cols + j] : 0;
						xr[r][k] = a;
						p[r] += a * uj;
					}
				}
			} else {
				for (i64 j = t; j < cols; j += HG_BLOCK) {
					const double uj = u[j];
					HG_UNROLL for (int r = 0; r < HG_R; r++) {
						const i64 i = i0 + r;
						if (i < r1) p[r] += X[i * cols + j] * uj;
					}
				}
			}
			HG_UNROLL for (int r = 0; r < HG_R; r++) red[r][t] = p[r];
			__syncthreads();
			if (Flat) {
				// Three barriers instead of eight: row r's 256 sums are added in
				// 32 strided groups of 8 (lane l: l, l+32, …, l+224, in order),
				// those 32 in 4 consecutive groups of 8, and the 4 as (0+1)+(2+3).
				if (t < HG_R * 32) {
					const int r = t >> 5, l = t & 31;
					double a = red[r][l];
					HG_UNROLL for (int q = 1; q < HG_BLOCK / 32; q++) a += red[r][l + 32 * q];
					red1[r][l] = a;
				}
				__syncthreads();
				if (t < HG_R * 4) {
					const int r = t >> 2, c = t & 3;
					double a = red1[r][8 * c];
					HG_UNROLL for (int q = 1; q < 8; q++) a += red1[r][8 * c + q];
					red2[r][c] = a;
				}
				__syncthreads();
			} else { // the binary tree: 8 barriers
				for (int s = HG_BLOCK / 2; s > 0; s >>= 1) {
					if (t < s) {
						HG_UNROLL for (int r = 0; r < HG_R; r++) red[r][t] += red[r][t + s];
					}
					__syncthreads();
				}
			}
			if (t < HG_R) {
				const i64 i = i0 + t;
				double sv = 0;
				if (i < r1) {
					const double z = Flat ? (red2[t][0] + red2[t][1]) + (red2[t][2] + red2[t][3]) : red[t][0];
					if (op == HG_OP_MULVEC) {
						rowout[i] = hg_finish(alpha, z, beta, &rowout[i]);
					} else if (op == HG_OP_GRAM) {
						sv = aux != 0 ? aux[i] * z : z;
					} else { // HG_OP_GLM
						double l, g, h;
						hg_glm(loss, z, aux[i], losspart != 0, &l, &g, &h);
						lossacc += l;
						if (curv != 0) curv[i] = h;
						sv = g;
					}
				}
				srow[t] = sv;
			}
		} else if (t < HG_R) { // HG_OP_TRANS
			const i64 i = i0 + t;
			srow[t] = i < r1 ? aux[i] : 0;
		}
		__syncthreads();
		if (accum) {
			if (inreg) {
				HG_UNROLL for (int k = 0; k < HG_KMAX; k++) {
					const i64 j = t + (i64)k * HG_BLOCK;
					if (k < kc && j < cols) {
						double a = acc[k];
						HG_UNROLL for (int r = 0; r < HG_R; r++) {
							const i64 i = i0 + r;
							if (i < r1) a += srow[r] * (dots ? xr[r][k] : X[i * cols + j]);
						}
						acc[k] = a;
					}
				}
			} else {
				for (i64 j = t; j < cols; j += HG_BLOCK) {
					double a = prow[j];
					HG_UNROLL for (int r = 0; r < HG_R; r++) {
						const i64 i = i0 + r;
						if (i < r1) a += srow[r] * X[i * cols + j];
					}
					prow[j] = a;
				}
			}
		}
		__syncthreads(); // srow and red are rewritten by the next tile
	}

	if (accum && inreg) {
		HG_UNROLL for (int k = 0; k < HG_KMAX; k++) {
			const i64 j = t + (i64)k * HG_BLOCK;
			if (k < kc && j < cols) prow[j] = acc[k];
		}
	}
	if (losspart != 0) {
		if (t < HG_R) lrow[t] = lossacc;
		__syncthreads();
		if (t == 0) {
			double s = 0;
			HG_UNROLL for (int r = 0; r < HG_R; r++) s += lrow[r];
			losspart[blockIdx.x] = s;
		}
	}
}

extern "C" __global__ void __launch_bounds__(HG_BLOCK, HG_DENSE_MINBLOCKS) hg_dense_pass(i64 op, i64 rows, i64 cols, const double* X, const double* u,
                                         const double* aux, i64 loss, double alpha, double beta, double* rowout,
                                         double* curv, double* partial, double* losspart, i64 rpb) {
	hg_dense_pass_impl<double, false>(op, rows, cols, X, u, aux, loss, alpha, beta, rowout, curv, partial, losspart, rpb);
}

// hg_dense_pass_f32 is hg_dense_pass over a matrix stored in float32, with
// the flat sums.
extern "C" __global__ void __launch_bounds__(HG_BLOCK, HG_DENSE_MINBLOCKS) hg_dense_pass_f32(i64 op, i64 rows, i64 cols, const float* X, const double* u,
                                         const double* aux, i64 loss, double alpha, double beta, double* rowout,
                                         double* curv, double* partial, double* losspart, i64 rpb) {
	hg_dense_pass_impl<float, true>(op, rows, cols, X, u, aux, loss, alpha, beta, rowout, curv, partial, losspart, rpb);
}

// hg_dense_sqcols is the pass of GramDiag: block b sets partial[b·cols + j] ←
// Σ_i d_i·(X_ij·X_ij) over its rows [b·rpb, min(rows, (b+1)·rpb)) (d == 0:
// d_i = 1), and hg_colreduce then adds the blocks' rows and applies α and β,
// as for the other column sums. Thread t owns the columns j = t + k·HG_BLOCK
// and sums each in a register, in row order; each row is read in tiles of
// HG_R rows, loaded before they are added so that HG_R loads are in flight.
// For a given row the block's threads read consecutive addresses. There is
// no shared memory and no barrier: the threads are independent.
template <typename T>
__device__ __forceinline__ void hg_dense_sqcols_impl(i64 rows, i64 cols, const T* X, const double* d, double* partial,
                                           i64 rpb) {
	const int t = threadIdx.x;
	const i64 r0 = (i64)blockIdx.x * rpb;
	const i64 r1 = hg_min64(rows, r0 + rpb);
	double* prow = partial + (i64)blockIdx.x * cols;
	for (i64 j = t; j < cols; j += HG_BLOCK) {
		double a = 0;
		i64 i = r0;
		for (; i + HG_R <= r1; i += HG_R) {
			double x[HG_R], w[HG_R];
			HG_UNROLL for (int r = 0; r < HG_R; r++) {
				x[r] = X[(i + r) * cols + j];
				w[r] = d != 0 ? d[i + r] : 1.0;
			}
			HG_UNROLL for (int r = 0; r < HG_R; r++) a += w[r] * (x[r] * x[r]);
		}
		for (; i < r1; i++) {
			const double x = X[i * cols + j];
			a += (d != 0 ? d[i] : 1.0) * (x * x);
		}
		prow[j] = a;
	}
}

extern "C" __global__ void hg_dense_sqcols(i64 rows, i64 cols, const double* X, const double* d, double* partial,
                                           i64 rpb) {
	hg_dense_sqcols_impl<double>(rows, cols, X, d, partial, rpb);
}

// hg_dense_sqcols_f32 is hg_dense_sqcols over a matrix stored in float32.
extern "C" __global__ void hg_dense_sqcols_f32(i64 rows, i64 cols, const float* X, const double* d, double* partial,
                                           i64 rpb) {
	hg_dense_sqcols_impl<float>(rows, cols, X, d, partial, rpb);
}

// hg_colreduce sets dst_j ← α·Σ_{b<nb} partial[b·cols + j] + β·dst_j (β = 0
// overwrites) for j < cols. A block covers HG_CR_COLS = 8 columns with
// HG_CR_GROUPS = 32 groups of 8 threads (thread t: column t mod 8, group
// t div 8): group g adds the rows b = g, g+32, g+64, … of partial in that
// order (loading HG_CR_AHEAD = 16 of them ahead of the additions, so that
// many loads are in flight; the order of the additions does not depend on
// it), then the 32 groups are added by a fixed tree. Grid: ⌈cols/8⌉ blocks,
// so that even a few hundred columns spread over many SMs: the sum over
// nb ≈ 2000 block rows is then bandwidth-bound, not latency-bound. On an
// H100 (1924 block rows × 1000 columns, 15.4 MB) 16 loads ahead took the
// reduction from 8 to 5 µs and GramVec on 100000 × 1000 from 314 to 307 µs,
// with the same bits (bench/results/gpu-2026-11-23b.md).
#define HG_CR_COLS 8
#define HG_CR_GROUPS (HG_BLOCK / HG_CR_COLS)
#define HG_CR_AHEAD 16
extern "C" __global__ void hg_colreduce(i64 nb, i64 cols, const double* partial, double alpha, double beta,
                                        double* dst) {
	__shared__ double sh[HG_CR_GROUPS][HG_CR_COLS];
	const int c = threadIdx.x % HG_CR_COLS, g = threadIdx.x / HG_CR_COLS;
	const i64 j = (i64)blockIdx.x * HG_CR_COLS + c;
	double s = 0;
	if (j < cols) {
		i64 b = g;
		for (; b + (HG_CR_AHEAD - 1) * HG_CR_GROUPS < nb; b += HG_CR_AHEAD * HG_CR_GROUPS) {
			double v[HG_CR_AHEAD];
			HG_UNROLL for (int q = 0; q < HG_CR_AHEAD; q++) v[q] = partial[(b + q * HG_CR_GROUPS) * cols + j];
			HG_UNROLL for (int q = 0; q < HG_CR_AHEAD; q++) s += v[q];
		}
		for (; b < nb; b += HG_CR_GROUPS) s += partial[b * cols + j];
	}
	sh[g][c] = s;
	__syncthreads();
	for (int w = HG_CR_GROUPS / 2; w > 0; w >>= 1) {
		if (g < w) sh[g][c] += sh[g + w][c];
		__syncthreads();
	}
	if (g == 0 && j < cols) dst[j] = hg_finish(alpha, sh[0][c], beta, &dst[j]);
}
