// Row kernels of backend/cuda's Multinomial operations (SoftmaxGrad,
// SoftmaxHessBlock), which run between a block product Z = X·W (or U = X·V)
// and the product Xᵀ·G (or Xᵀ·R) of kernels/blocks.cu, on the rows×k block
// that the host keeps in scratch space:
//
//   hg_softmax_grad turns the scores Z into G_ij = d_i·(P_ij − [j = y_i]),
//   P = softmax(Z), in place, writing P and the cross-entropy CE_i =
//   LSE(z_i) − z_{i,y_i} where asked;
//   hg_softmax_hess turns U into R_ij = d_i·(p_ij·u_ij − p_ij·s_i), s_i =
//   Σ_j p_ij·u_ij, in place.
//
// Geometry and order, as hg_rows (kernels/rows.cu): a segment of w threads
// (w the least power of two ≥ k, at most HG_BLOCK, chosen by the host from k
// alone) owns one row; lane l visits the columns j = l, l+w, … in increasing
// j, and the lanes are combined by the fixed tree s = w/2, …, 1 of
// hg_segment_sum (for the maximum, the same tree with a NaN-propagating
// max). Block b handles the rows b·(HG_BLOCK/w) + t/w, stepping by
// gridDim.x·(HG_BLOCK/w); a row's result does not depend on the grid. With
// the same w, hg_softmax_grad computes P, CE and P − e_y with the operations
// of hg_rows' SOFTMAX and XENT, so its P and CE equal Softmax's and
// CrossEntropy's bit for bit, and its G equals CrossEntropy's gradient scaled
// by ScaleRows.
//
// In place: each element (i, j) is read and written only by the lane j mod w
// of row i's segment, except the label's score z_{i,y_i}, which lane 0 reads
// before the segment's first barrier; every write follows the last barrier.
#include "common.cuh"

// hg_softmax_grad overwrites the rows×k scores z with
//   G_ij = d_i·q_ij,  q_ij = exp(z_ij − m_i)/s_i − [j = y_i]
// (G_ij = q_ij when d = 0), m_i = max_j z_ij (NaN-propagating), s_i =
// Σ_j exp(z_ij − m_i), with the int32 labels y; and where given (non-zero)
//   prob_ij ← exp(z_ij − m_i)/s_i,
//   loss_i ← LSE_i − z_{i,y_i},  LSE_i = m_i when m_i = ±Inf, else m_i + log(s_i)
// (a row of NaN for P when m_i is not finite, as the formula gives).
extern "C" __global__ void hg_softmax_grad(i64 rows, i64 k, double* z, const int* y, const double* d, double* prob,
                                           double* loss, i64 w) {
	__shared__ double sh[HG_BLOCK];
	const int t = threadIdx.x;
	const int wi = (int)w;
	const int lane = t & (wi - 1);
	const i64 spb = HG_BLOCK / wi;
	for (i64 base = (i64)blockIdx.x * spb; base < rows; base += (i64)gridDim.x * spb) { // uniform trip count
		const i64 i = base + t / wi;
		const bool ok = i < rows;
		const i64 row = ok ? i * k : 0;
		i64 yi = -1;
		double zy = 0;
		if (ok) {
			yi = y[i];
			if (lane == 0) zy = z[row + yi];
		}
		double m, s;
		hg_seg_softmax_stats(z + row, k, ok, lane, wi, sh, &m, &s);
		if (!ok) continue; // no barrier follows in this iteration
		if (lane == 0 && loss != 0) {
			const double lse = isinf(m) ? m : m + log(s);
			loss[i] = lse - zy;
		}
		const double di = d != 0 ? d[i] : 1.0;
		for (i64 j = lane; j < k; j += wi) {
			const double q = exp(z[row + j] - m) / s;
			if (prob != 0) prob[row + j] = q;
			double g = j == yi ? q - 1 : q;
			if (d != 0) g = di * g;
			z[row + j] = g;
		}
	}
}

// hg_softmax_hess overwrites the rows×k block u (U = X·V) with
//   R_ij = d_i·(p_ij·u_ij − p_ij·s_i),  s_i = Σ_j p_ij·u_ij
// (without the factor d_i when d = 0), p the rows×k probabilities.
extern "C" __global__ void hg_softmax_hess(i64 rows, i64 k, double* u, const double* p, const double* d, i64 w) {
	__shared__ double sh[HG_BLOCK];
	const int t = threadIdx.x;
	const int wi = (int)w;
	const int lane = t & (wi - 1);
	const i64 spb = HG_BLOCK / wi;
	for (i64 base = (i64)blockIdx.x * spb; base < rows; base += (i64)gridDim.x * spb) { // uniform trip count
		const i64 i = base + t / wi;
		const bool ok = i < rows;
		const i64 row = ok ? i * k : 0;
		double a = 0;
		if (ok) {
			for (i64 j = lane; j < k; j += wi) a += p[row + j] * u[row + j];
		}
		const double s = hg_seg_sum_all(a, sh, wi);
		if (!ok) continue; // no barrier follows in this iteration
		const double di = d != 0 ? d[i] : 1.0;
		for (i64 j = lane; j < k; j += wi) {
			const double pj = p[row + j];
			double r = pj * u[row + j] - pj * s;
			if (d != 0) r = di * r;
			u[row + j] = r;
		}
	}
}
