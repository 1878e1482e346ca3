// CSR kernels of backend/cuda: MulVec, MulVecTrans, GramVec, GramDiag and
// GLMGrad.
//
// The matrix is on the device twice: as uploaded (CSR: 64-bit row pointers,
// 32-bit column indices) and transposed (CSC, made by the host at upload:
// 64-bit column pointers, 32-bit row indices, entries of a column in row
// order, duplicates kept in their CSR order). Row sums read the CSR form and
// column sums the CSC form, both as gathers, so that no two threads ever add
// into the same element: there are no atomics and no per-block partial
// vectors, and each column's sum has a fixed order.
//
// Segment reduction (both kernels): a segment of w threads (w a power of two
// ≤ 32, chosen by the host from the average entries per row or column) owns
// one row (column); lane l adds the entries k = start+l, start+l+w, … in
// increasing k, and hg_segment_sum adds the lanes by a fixed tree. Block b
// handles the segments b·(HG_BLOCK/w) + t/w, stepping by gridDim.x·(HG_BLOCK/w).
// The loss of GLMGrad is summed per thread over its rows, per block by
// hg_block_sum, and over blocks by hg_sum_final; the grid size is a function
// of the shape, so this order is fixed too.
#include "common.cuh"

// hg_csr_rows computes z_i = Σ_k val_k·u[idx_k] over row i's entries and
//   MULVEC: rowout_i ← α·z_i + β·rowout_i (β = 0 overwrites);
//   GRAM:   rowout_i ← aux_i·z_i (aux == 0: z_i);
//   GLM:    y_i = aux_i; rowout_i ← ℓ'(z_i,y_i) (when rowout ≠ 0),
//           curv_i ← ℓ''(z_i,y_i) (when curv ≠ 0), and the block's share of
//           Σ_i ℓ(z_i,y_i) into losspart[b] (when losspart ≠ 0).
extern "C" __global__ void hg_csr_rows(i64 op, i64 rows, const i64* indptr, const int* idx, const double* val,
                                       const double* u, const double* aux, i64 loss, double alpha, double beta,
                                       double* rowout, double* curv, double* losspart, i64 w) {
	__shared__ double sh[HG_BLOCK];
	const int t = threadIdx.x;
	const int wi = (int)w;
	const int lane = t & (wi - 1);
	const i64 spb = HG_BLOCK / wi;
	double lossacc = 0;
	for (i64 base = (i64)blockIdx.x * spb; base < rows; base += (i64)gridDim.x * spb) { // uniform trip count
		const i64 i = base + t / wi;
		double p = 0;
		if (i < rows) {
			const i64 end = indptr[i + 1];
			for (i64 k = indptr[i] + lane; k < end; k += wi) p += val[k] * u[idx[k]];
		}
		const double z = hg_segment_sum(p, sh, wi);
		if (lane == 0 && i < rows) {
			if (op == HG_OP_MULVEC) {
				rowout[i] = hg_finish(alpha, z, beta, &rowout[i]);
			} else if (op == HG_OP_GRAM) {
				rowout[i] = aux != 0 ? aux[i] * z : z;
			} else { // HG_OP_GLM
				double l, g, h;
				hg_glm(loss, z, aux[i], losspart != 0, &l, &g, &h);
				lossacc += l;
				if (curv != 0) curv[i] = h;
				if (rowout != 0) rowout[i] = g;
			}
		}
	}
	if (losspart != 0) {
		const double s = hg_block_sum(lossacc, sh);
		if (t == 0) losspart[blockIdx.x] = s;
	}
}

// hg_csc_cols sets dst_j ← α·Σ_k cval_k·s[rowind_k] + β·dst_j (β = 0
// overwrites) over column j's entries in the transposed copy: (Xᵀs)_j.
extern "C" __global__ void hg_csc_cols(i64 cols, const i64* colptr, const int* rowind, const double* cval,
                                       const double* s, double alpha, double beta, double* dst, i64 w) {
	__shared__ double sh[HG_BLOCK];
	const int t = threadIdx.x;
	const int wi = (int)w;
	const int lane = t & (wi - 1);
	const i64 spb = HG_BLOCK / wi;
	for (i64 base = (i64)blockIdx.x * spb; base < cols; base += (i64)gridDim.x * spb) {
		const i64 j = base + t / wi;
		double p = 0;
		if (j < cols) {
			const i64 end = colptr[j + 1];
			for (i64 k = colptr[j] + lane; k < end; k += wi) p += cval[k] * s[rowind[k]];
		}
		const double a = hg_segment_sum(p, sh, wi);
		if (lane == 0 && j < cols) dst[j] = hg_finish(alpha, a, beta, &dst[j]);
	}
}

// hg_csc_sqcols sets dst_j ← α·Σ_i d_i·X_ij² + β·dst_j (β = 0 overwrites;
// d == 0: d_i = 1) over column j's entries in the transposed copy: GramDiag.
// X_ij is the sum of row i's duplicate entries of column j, which the
// transposed copy holds consecutively (a column's entries are in row order,
// duplicates in their CSR order): a lane takes an entry only if it starts
// its row's run (the previous entry is of another row), adds the rest of the
// run in order, squares the sum and weighs it. The lanes' sums are then
// added as in hg_csc_cols.
extern "C" __global__ void hg_csc_sqcols(i64 cols, const i64* colptr, const int* rowind, const double* cval,
                                         const double* d, double alpha, double beta, double* dst, i64 w) {
	__shared__ double sh[HG_BLOCK];
	const int t = threadIdx.x;
	const int wi = (int)w;
	const int lane = t & (wi - 1);
	const i64 spb = HG_BLOCK / wi;
	for (i64 base = (i64)blockIdx.x * spb; base < cols; base += (i64)gridDim.x * spb) {
		const i64 j = base + t / wi;
		double p = 0;
		if (j < cols) {
			const i64 start = colptr[j], end = colptr[j + 1];
			for (i64 k = start + lane; k < end; k += wi) {
				const int r = rowind[k];
				if (k > start && rowind[k - 1] == r) continue; // inside a run of duplicates
				double x = cval[k];
				for (i64 q = k + 1; q < end && rowind[q] == r; q++) x += cval[q];
				p += (d != 0 ? d[r] : 1.0) * (x * x);
			}
		}
		const double a = hg_segment_sum(p, sh, wi);
		if (lane == 0 && j < cols) dst[j] = hg_finish(alpha, a, beta, &dst[j]);
	}
}
