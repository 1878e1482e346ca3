// Elementwise maps and row operations of backend/cuda on row-major blocks.
//
// Elementwise (grid-stride loops over the flat index, any grid): DivElem
// (hg_divelem), Map (hg_map), ScaleRows and ScaleCols (hg_scale). Each output
// element is a function of the same element of the inputs (and of its row's
// or column's scale), computed by the formula of package backend with the
// same IEEE operations as the CPU backend.
//
// Row operations (hg_rows): RowSums, RowNorms, LogSumExp, Softmax and
// CrossEntropy. A segment of w threads (w the least power of two ≥ cols, at
// most HG_BLOCK: chosen by the host from cols alone) owns one row; lane l
// visits the columns j = l, l+w, … in increasing j, and the lanes are
// combined by the fixed tree of hg_segment_sum (for maxima, the same tree
// with a NaN-propagating max). Block b handles the rows b·(HG_BLOCK/w) + t/w,
// stepping by gridDim.x·(HG_BLOCK/w); a row's result does not depend on the
// grid.
//
// Column sums (hg_colsums, then hg_colreduce of dense.cu): block b owns the
// rows [b·rpb, min(rows, (b+1)·rpb)). With cw the least power of two ≥ cols
// (at most HG_BLOCK) and L = HG_BLOCK/cw lanes per column, thread t takes
// column t mod cw and lane g = t div cw, adds the rows r0+g, r0+g+L, … in
// order, and the L lanes are added by the fixed tree sh[t] += sh[t + h·cw]
// for h = L/2, …, 1. With L = 1 (cols > HG_BLOCK/2) thread t sums the
// columns t, t+HG_BLOCK, … each over the block's rows in order. The block
// writes partial[b·cols + j]; hg_colreduce adds the blocks in its fixed
// order and applies α and β. rpb depends only on the shape.
#include "common.cuh"

// Functions of hg_map: the values of backend.Func.
#define HG_FN_EXP 0
#define HG_FN_LOG 1
#define HG_FN_SOFTPLUS 2
#define HG_FN_SIGMOID 3
#define HG_FN_SIGMOID_D 4
#define HG_FN_TANH 5
#define HG_FN_TANH_D 6
#define HG_FN_SQRTSQ 7
#define HG_FN_SQRTSQ_D 8
#define HG_FN_SQRTSQ_D2 9
#define HG_FN_RECIP 10

// HG_SQRTSQ_BIG is 2⁵⁰⁰ (exactly: the literal rounds to it), beyond which
// SqrtSq and SqrtSqDeriv do not form x².
#define HG_SQRTSQ_BIG 3.2733906078961419e+150

// hg_sqrtsq is backend.SqrtSq: sqrt(x·x + c) for |x| ≤ 2⁵⁰⁰, else
// |x|·sqrt(1 + c/(x·x)).
__device__ __forceinline__ double hg_sqrtsq(double x, double c) {
	if (fabs(x) <= HG_SQRTSQ_BIG) return sqrt(x * x + c);
	return fabs(x) * sqrt(1 + c / (x * x));
}

// hg_func returns f(x; c) for f a backend.Func, by the formula of
// backend.Func.Eval, operation for operation (NaN for an unknown f, which
// the host never passes).
__device__ __forceinline__ double hg_func(i64 f, double x, double c) {
	switch (f) {
	case HG_FN_EXP:
		if (x > 709) { // as Func.Eval: exp(x/2)² beyond 709
			const double e = exp(0.5 * x);
			return e * e;
		}
		return exp(x);
	case HG_FN_LOG:
		if (x > 0 && x < 0x1p-1022) return log(x * 0x1p64) - 64 * 0.6931471805599453; // subnormals, as Func.Eval
		return log(x);
	case HG_FN_SOFTPLUS: {
		// max(x, 0) as Go's math.Max: NaN for NaN, +0 for ±0.
		const double m = (x != x) ? x : (x > 0 ? x : 0.0);
		return m + log1p(exp(-fabs(x)));
	}
	case HG_FN_SIGMOID: {
		const double e = exp(-fabs(x));
		return x >= 0 ? 1 / (1 + e) : e / (1 + e);
	}
	case HG_FN_SIGMOID_D: {
		const double e = exp(-fabs(x));
		return e / ((1 + e) * (1 + e));
	}
	case HG_FN_TANH:
		return tanh(x);
	case HG_FN_TANH_D: {
		const double e = exp(-2 * fabs(x));
		return 4 * e / ((1 + e) * (1 + e));
	}
	case HG_FN_SQRTSQ:
		return hg_sqrtsq(x, c);
	case HG_FN_SQRTSQ_D:
		if (fabs(x) <= HG_SQRTSQ_BIG) return x / sqrt(x * x + c);
		return copysign(1 / sqrt(1 + c / (x * x)), x);
	case HG_FN_SQRTSQ_D2: {
		const double s = hg_sqrtsq(x, c);
		return c / (s * s * s);
	}
	case HG_FN_RECIP:
		return 1 / x;
	}
	return 0.0 / 0.0;
}

// hg_map sets dst_i ← f(x_i; c) (dst may be x).
extern "C" __global__ void hg_map(i64 n, i64 f, double c, double* dst, const double* x) {
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) dst[i] = hg_func(f, x[i], c);
}

// hg_divelem sets dst ← α·(x ⊘ y) + β·dst, or α·(x ⊘ y) when β = 0.
extern "C" __global__ void hg_divelem(i64 n, double* dst, double alpha, const double* x, const double* y, double beta) {
	for (i64 i = hg_gtid(); i < n; i += hg_gstride()) dst[i] = hg_finish(alpha, x[i] / y[i], beta, &dst[i]);
}

// hg_scale sets, for the n = rows·cols elements of a row-major block,
// dst_ij ← v_i·a_ij (byRow ≠ 0: ScaleRows) or dst_ij ← a_ij·v_j (ScaleCols).
// dst may be a.
extern "C" __global__ void hg_scale(i64 n, i64 cols, i64 byRow, double* dst, const double* a, const double* v) {
	for (i64 e = hg_gtid(); e < n; e += hg_gstride()) {
		const i64 i = e / cols;
		dst[e] = byRow ? v[i] * a[e] : a[e] * v[e - i * cols];
	}
}

// Operations of hg_rows.
#define HG_ROW_SUM 0     // out_i ← α·Σ_j a_ij + β·out_i (β = 0 overwrites)
#define HG_ROW_NORM 1    // out_i ← sqrt(c + Σ_j a_ij²)
#define HG_ROW_LSE 2     // out_i ← LSE(a_i)
#define HG_ROW_SOFTMAX 3 // blk_i ← softmax(a_i)
#define HG_ROW_XENT 4    // out_i ← LSE(a_i) − a_{i,y_i} (out ≠ 0), blk_i ← softmax(a_i) − e_{y_i} (blk ≠ 0)

// hg_rows runs the row operation op (HG_ROW_*) over the rows×cols block a
// with a segment of w threads per row (see the top of the file):
//   SUM:     out_i ← α·s_i + β·out_i, s_i = Σ_j a_ij;
//   NORM:    out_i ← sqrt(c + s_i), s_i = Σ_j a_ij·a_ij;
//   LSE:     m_i = max_j a_ij (NaN if any is NaN; −Inf for cols = 0),
//            s_i = Σ_j exp(a_ij − m_i), out_i ← m_i when m_i = ±Inf, else
//            m_i + log(s_i) (NaN for a NaN m_i);
//   SOFTMAX: blk_ij ← exp(a_ij − m_i) / s_i (a row of NaN when m_i is not
//            finite, as the formula gives);
//   XENT:    out_i ← LSE_i − a_{i,y_i} (out ≠ 0), blk_ij ← exp(a_ij − m_i) / s_i
//            − [j = y_i] (blk ≠ 0), with y the int32 labels.
// blk may be a: every thread reads its elements (and lane 0 the label's
// score) before the segment's barriers and writes them after the last.
extern "C" __global__ void hg_rows(i64 op, i64 rows, i64 cols, const double* a, double alpha, double beta, double c,
                                   double* out, double* blk, const int* y, i64 w) {
	__shared__ double sh[HG_BLOCK];
	const int t = threadIdx.x;
	const int wi = (int)w;
	const int lane = t & (wi - 1);
	const i64 spb = HG_BLOCK / wi;
	for (i64 base = (i64)blockIdx.x * spb; base < rows; base += (i64)gridDim.x * spb) { // uniform trip count
		const i64 i = base + t / wi;
		const bool ok = i < rows;
		const i64 row = ok ? i * cols : 0;
		if (op == HG_ROW_SUM || op == HG_ROW_NORM) {
			double p = 0;
			if (ok) {
				for (i64 j = lane; j < cols; j += wi) {
					const double v = a[row + j];
					p += op == HG_ROW_SUM ? v : v * v;
				}
			}
			const double s = hg_segment_sum(p, sh, wi);
			if (ok && lane == 0) out[i] = op == HG_ROW_SUM ? hg_finish(alpha, s, beta, &out[i]) : sqrt(c + s);
			continue;
		}
		i64 yi = -1;
		double ay = 0;
		if (op == HG_ROW_XENT && ok) {
			yi = y[i];
			if (lane == 0) ay = a[row + yi];
		}
		double m, s;
		hg_seg_softmax_stats(a + row, cols, ok, lane, wi, sh, &m, &s);
		if (!ok) continue; // no barrier follows in this iteration
		if (lane == 0 && (op == HG_ROW_LSE || (op == HG_ROW_XENT && out != 0))) {
			const double lse = isinf(m) ? m : m + log(s);
			out[i] = op == HG_ROW_LSE ? lse : lse - ay;
		}
		if (op == HG_ROW_SOFTMAX || (op == HG_ROW_XENT && blk != 0)) {
			for (i64 j = lane; j < cols; j += wi) {
				double q = exp(a[row + j] - m) / s;
				if (j == yi) q = q - 1;
				blk[row + j] = q;
			}
		}
	}
}

// hg_colsums sets partial[b·cols + j] to block b's share of Σ_i a_ij: the
// rows [b·rpb, min(rows, (b+1)·rpb)), with cw threads per row (a power of
// two ≥ min(cols, HG_BLOCK)) and L = HG_BLOCK/cw lanes per column, in the
// order described at the top of the file.
extern "C" __global__ void hg_colsums(i64 rows, i64 cols, const double* a, double* partial, i64 rpb, i64 cw) {
	__shared__ double sh[HG_BLOCK];
	const int t = threadIdx.x;
	const int cwi = (int)cw;
	const int lanes = HG_BLOCK / cwi;
	const i64 r0 = (i64)blockIdx.x * rpb;
	const i64 r1 = hg_min64(rows, r0 + rpb);
	double* prow = partial + (i64)blockIdx.x * cols;
	if (lanes == 1) { // uniform: no barrier
		for (i64 j = t; j < cols; j += HG_BLOCK) {
			double s = 0;
			for (i64 i = r0; i < r1; i++) s += a[i * cols + j];
			prow[j] = s;
		}
		return;
	}
	const int cc = t & (cwi - 1), g = t / cwi;
	double s = 0;
	if (cc < cols) {
		for (i64 i = r0 + g; i < r1; i += lanes) s += a[i * cols + cc];
	}
	sh[t] = s;
	__syncthreads();
	for (int h = lanes / 2; h > 0; h >>= 1) {
		if (g < h) sh[t] += sh[t + h * cwi];
		__syncthreads();
	}
	if (g == 0 && cc < cols) prow[cc] = sh[t];
}
