// Block products of backend/cuda: Gemm, and MulBlock and MulBlockTrans of
// dense (hg_gemm, hg_gemm_f32) and CSR (hg_csr_block) data matrices.
//
// hg_gemm computes dst ← α·op(A)·op(B) + β·dst (dst m×n, op(A) m×K, op(B)
// K×n, all row-major) by tiles: a block owns a tm×tn tile of dst (tn ∈ {4, 8,
// 16}, tm = HG_BLOCK/tn, both chosen by the host from the shape) and one
// split of the K range, [s·kc, min(K, (s+1)·kc)); thread t owns the element
// (t div tn, t mod tn) of the tile. The split's K range is walked in chunks of
// HG_GEMM_TK that the block stages in shared memory (op(A) as a TK×tm array,
// op(B) as TK×tn), and each thread adds the products of its element in
// increasing k, from 0. With one split (S = 1) the block writes α·sum + β·dst;
// with S > 1 it writes the split's sum to partial[s·m·n + i·n + j] and
// hg_colreduce (dense.cu) adds the S partial sums of each element in its
// fixed order and applies α and β. The tile shape does not change the order
// of any sum; S and kc depend only on the shape (see backend/cuda), so
// results are bit-identical run to run.
//
// MulBlock of a dense X (rows×cols) is hg_gemm with op(A) = X, B = W;
// MulBlockTrans is hg_gemm with op(A) = Xᵀ (ta: A is K×m) and B = G, whose
// K = rows is split so that long reductions over the rows spread over many
// blocks. hg_gemm_f32 reads A stored in float32 (Options.DenseFloat32) and
// widens each value to double as it loads it.
//
// hg_csr_block computes, for a CSR-like matrix (ptr, ind, val) of n rows,
// dst_ic ← α·Σ_e val_e·W[ind_e·k + c] + β·dst_ic over row i's entries e in
// stored order: one thread per element (i, c) of dst, so the k threads of a
// row read the same entries and consecutive elements of W's rows. MulBlock
// runs it on the CSR arrays, MulBlockTrans on the transposed (CSC) copy: a
// gather per output element, with no atomics.
#include "common.cuh"

#define HG_GEMM_TK 16    // K chunk staged in shared memory
#define HG_GEMM_TMMAX 64 // the largest tm (tn = 4)

template <typename TA>
__device__ __forceinline__ void hg_gemm_impl(i64 m, i64 n, i64 K, const TA* A, i64 ta, const double* B, i64 tb,
                                             double alpha, double beta, double* dst, double* partial, i64 kc,
                                             i64 tn) {
	__shared__ double As[HG_GEMM_TK][HG_GEMM_TMMAX];
	__shared__ double Bs[HG_GEMM_TK][16];
	const int t = threadIdx.x;
	const int tni = (int)tn;
	const int tm = HG_BLOCK / tni;
	const i64 tilesN = (n + tni - 1) / tni;
	const i64 tiles = (m + tm - 1) / tm * tilesN;
	const i64 s = blockIdx.x / tiles, tile = blockIdx.x % tiles;
	const i64 m0 = tile / tilesN * tm, n0 = tile % tilesN * tni;
	const int ty = t / tni, tx = t % tni;
	const i64 k0 = s * kc, k1 = hg_min64(K, k0 + kc);
	double acc = 0;
	for (i64 kb = k0; kb < k1; kb += HG_GEMM_TK) { // the same trip count in every thread
		const int nk = (int)hg_min64(HG_GEMM_TK, k1 - kb);
		// Stage op(A)[m0.., kb..] as As[kk][im], reading consecutive
		// addresses with consecutive threads.
		for (int e = t; e < HG_GEMM_TK * tm; e += HG_BLOCK) {
			int kk, im;
			if (ta) { // A is K×m: op(A)_ik = A[k·m + i]
				kk = e / tm;
				im = e % tm;
			} else { // A is m×K: op(A)_ik = A[i·K + k]
				im = e / HG_GEMM_TK;
				kk = e % HG_GEMM_TK;
			}
			const i64 gi = m0 + im, gk = kb + kk;
			double v = 0;
			if (gi < m && kk < nk) v = (double)(ta ? A[gk * m + gi] : A[gi * K + gk]);
			As[kk][im] = v;
		}
		for (int e = t; e < HG_GEMM_TK * tni; e += HG_BLOCK) {
			int kk, jn;
			if (tb) { // B is n×K: op(B)_kj = B[j·K + k]
				jn = e / HG_GEMM_TK;
				kk = e % HG_GEMM_TK;
			} else { // B is K×n: op(B)_kj = B[k·n + j]
				kk = e / tni;
				jn = e % tni;
			}
			const i64 gj = n0 + jn, gk = kb + kk;
			double v = 0;
			if (gj < n && kk < nk) v = tb ? B[gj * K + gk] : B[gk * n + gj];
			Bs[kk][jn] = v;
		}
		__syncthreads();
		for (int kk = 0; kk < nk; kk++) acc += As[kk][ty] * Bs[kk][tx];
		__syncthreads(); // As and Bs are rewritten by the next chunk
	}
	const i64 i = m0 + ty, j = n0 + tx;
	if (i < m && j < n) {
		if (partial != 0) {
			partial[s * m * n + i * n + j] = acc;
		} else {
			dst[i * n + j] = hg_finish(alpha, acc, beta, &dst[i * n + j]);
		}
	}
}

// hg_gemm is the tiled product over float64 operands; partial == 0: one
// split (S = 1), written to dst with α and β.
extern "C" __global__ void hg_gemm(i64 m, i64 n, i64 K, const double* A, i64 ta, const double* B, i64 tb, double alpha,
                                   double beta, double* dst, double* partial, i64 kc, i64 tn) {
	hg_gemm_impl<double>(m, n, K, A, ta, B, tb, alpha, beta, dst, partial, kc, tn);
}

// hg_gemm_f32 is hg_gemm with A stored in float32.
extern "C" __global__ void hg_gemm_f32(i64 m, i64 n, i64 K, const float* A, i64 ta, const double* B, i64 tb,
                                       double alpha, double beta, double* dst, double* partial, i64 kc, i64 tn) {
	hg_gemm_impl<float>(m, n, K, A, ta, B, tb, alpha, beta, dst, partial, kc, tn);
}

// hg_csr_block sets dst_ic ← α·Σ_{e ∈ [ptr_i, ptr_{i+1})} val_e·W[ind_e·k + c]
// + β·dst_ic (β = 0 overwrites) for the n×k block dst, the entries in
// increasing e.
extern "C" __global__ void hg_csr_block(i64 n, i64 k, const i64* ptr, const int* ind, const double* val,
                                        const double* W, double alpha, double beta, double* dst) {
	const i64 total = n * k;
	for (i64 o = hg_gtid(); o < total; o += hg_gstride()) {
		const i64 i = o / k, c = o - i * k;
		const i64 end = ptr[i + 1];
		double s = 0;
		for (i64 e = ptr[i]; e < end; e++) s += val[e] * W[(i64)ind[e] * k + c];
		dst[o] = hg_finish(alpha, s, beta, &dst[o]);
	}
}
