//go:build cuda || cudaemu

package cuda

import "math"

// blockSize is the number of threads of every block: HG_BLOCK of
// kernels/common.cuh, which the kernels assume.
const blockSize = 256

// kernelID names a kernel of package kernels.
type kernelID int

const (
	kFill kernelID = iota
	kCopy
	kScal
	kAxpy
	kAxpby
	kMulElem
	kDotPartial
	kSsqPartial
	kScaledSsqPartial
	kSumFinal
	kDensePass
	kColReduce
	kCSRRows
	kCSCCols
	kDenseSqCols
	kCSCSqCols
	kDensePassF32
	kDenseSqColsF32
	kCGPap
	kCGUpdate
	kCGRR
	kCGAxpby
	kDivElem
	kMap
	kScale
	kRows
	kColSums
	kGemm
	kGemmF32
	kCSRBlock
	kSoftmaxGrad
	kSoftmaxHess
	numKernels
)

// kernelNames are the extern "C" names of the kernels, by kernelID.
var kernelNames = [numKernels]string{
	kFill:             "hg_fill",
	kCopy:             "hg_copy",
	kScal:             "hg_scal",
	kAxpy:             "hg_axpy",
	kAxpby:            "hg_axpby",
	kMulElem:          "hg_mulelem",
	kDotPartial:       "hg_dot_partial",
	kSsqPartial:       "hg_ssq_partial",
	kScaledSsqPartial: "hg_scaled_ssq_partial",
	kSumFinal:         "hg_sum_final",
	kDensePass:        "hg_dense_pass",
	kColReduce:        "hg_colreduce",
	kCSRRows:          "hg_csr_rows",
	kCSCCols:          "hg_csc_cols",
	kDenseSqCols:      "hg_dense_sqcols",
	kCSCSqCols:        "hg_csc_sqcols",
	kDensePassF32:     "hg_dense_pass_f32",
	kDenseSqColsF32:   "hg_dense_sqcols_f32",
	kCGPap:            "hg_cg_pap",
	kCGUpdate:         "hg_cg_update",
	kCGRR:             "hg_cg_rr",
	kCGAxpby:          "hg_cg_axpby",
	kDivElem:          "hg_divelem",
	kMap:              "hg_map",
	kScale:            "hg_scale",
	kRows:             "hg_rows",
	kColSums:          "hg_colsums",
	kGemm:             "hg_gemm",
	kGemmF32:          "hg_gemm_f32",
	kCSRBlock:         "hg_csr_block",
	kSoftmaxGrad:      "hg_softmax_grad",
	kSoftmaxHess:      "hg_softmax_hess",
}

func (k kernelID) String() string { return kernelNames[k] }

// Operations of hg_dense_pass and hg_csr_rows (HG_OP_* of common.cuh).
const (
	opMulVec = 0
	opTrans  = 1
	opGram   = 2
	opGLM    = 3
)

// Operations of hg_rows (HG_ROW_* of kernels/rows.cu).
const (
	opRowSum     = 0
	opRowNorm    = 1
	opRowLSE     = 2
	opRowSoftmax = 3
	opRowXent    = 4
)

// Launch configurations. Every choice that affects the order of a
// floating-point reduction is a function of the operands' shapes alone, never
// of the device, so results are bit-identical run to run and from one GPU to
// another of the same PTX JIT.
const (
	// maxElemGrid caps the grid of elementwise kernels (grid-stride loops;
	// their results do not depend on the grid).
	maxElemGrid = 4096
	// reducePerThread is the least number of elements per thread of a
	// scalar reduction, and maxReduceGrid caps its grid: the partial sums
	// (2·maxReduceGrid doubles for Nrm2) live in a fixed scratch buffer.
	reducePerThread = 4
	maxReduceGrid   = 1024
	// denseTileRows is HG_R, the rows of a tile of hg_dense_pass; a block
	// owns at least denseMinRows rows, and there are at most maxDenseGrid
	// blocks, each writing a partial vector of cols doubles (so the
	// partial vectors take at most 1/32 of X's memory). 2048 rather than
	// 1024: on an H100 (100000 × 1000, 3 blocks per SM) more, shorter blocks
	// cut the last wave's idle time: GramVec 313 µs instead of 323, GLMGrad
	// 358 instead of 376 (results/gpu-2026-11-22.md).
	denseTileRows = 4
	denseMinRows  = 32
	maxDenseGrid  = 2048
	// colReduceCols is HG_CR_COLS, the columns of a block of hg_colreduce.
	colReduceCols = 8
	// maxSegGrid caps the grid of the segment kernels (hg_csr_rows,
	// hg_csc_cols); maxSegWidth is the widest segment of threads per row
	// or column.
	maxSegGrid  = 1024
	maxSegWidth = 32
	// maxRowGrid caps the grid of hg_rows (a row's result does not depend
	// on the grid).
	maxRowGrid = 4096
	// hg_colsums: at most maxColSumsGrid blocks, each owning at least
	// colSumsRowsPerLane rows per lane of a column (so at least 8 rows):
	// the partial vectors take at most min(maxColSumsGrid, ⌈rows/8⌉)·cols
	// doubles.
	maxColSumsGrid     = 1024
	colSumsRowsPerLane = 8
	// gemmTK is HG_GEMM_TK, the K chunk of hg_gemm. A product is split
	// along K into at most maxGemmSplits parts of at least minGemmSplitK
	// (so that each adds a long run in order), as many as bring the grid to
	// gemmTargetBlocks, and no more than keep the partial sums within
	// maxGemmScratch doubles.
	gemmTK           = 16
	minGemmSplitK    = 512
	maxGemmSplits    = 64
	gemmTargetBlocks = 1024
	maxGemmScratch   = 1 << 22
)

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// elemGrid returns the grid of an elementwise kernel over n > 0 elements.
func elemGrid(n int) int { return min(ceilDiv(n, blockSize), maxElemGrid) }

// reduceGrid returns the grid of a scalar reduction over n > 0 elements.
func reduceGrid(n int) int { return min(ceilDiv(n, blockSize*reducePerThread), maxReduceGrid) }

// denseGrid returns the rows per block and the number of blocks of
// hg_dense_pass over a matrix of rows rows (at least one block, even when
// rows = 0, so that the per-block results are always defined).
func denseGrid(rows int) (rpb, grid int) {
	rpb = max(denseMinRows, ceilDiv(rows, maxDenseGrid))
	rpb = ceilDiv(rpb, denseTileRows) * denseTileRows
	return rpb, max(1, ceilDiv(rows, rpb))
}

// segWidth returns the threads per segment for segments (rows or columns)
// holding nnz entries in all: the least power of two ≥ the average, at most
// maxSegWidth.
func segWidth(nnz, segments int) int {
	avg := 1
	if segments > 0 {
		avg = ceilDiv(nnz, segments)
	}
	w := 1
	for w < avg && w < maxSegWidth {
		w *= 2
	}
	return w
}

// segGrid returns the grid of a segment kernel over n > 0 segments of width w.
func segGrid(n, w int) int { return min(ceilDiv(n, blockSize/w), maxSegGrid) }

// pow2Ceil returns the least power of two ≥ n, at least 1 and at most limit
// (a power of two).
func pow2Ceil(n, limit int) int {
	w := 1
	for w < n && w < limit {
		w *= 2
	}
	return w
}

// rowWidth returns the threads per row of hg_rows for rows of cols
// elements: the least power of two ≥ cols, at most blockSize.
func rowWidth(cols int) int { return pow2Ceil(cols, blockSize) }

// rowGrid returns the grid of hg_rows over rows > 0 rows with w threads each.
func rowGrid(rows, w int) int { return min(ceilDiv(rows, blockSize/w), maxRowGrid) }

// colSumsGrid returns the launch of hg_colsums over a rows×cols block
// (cols > 0): cw threads per row, rpb rows per block and the number of
// blocks (at least one, even when rows = 0, so that the partial sums are
// defined).
func colSumsGrid(rows, cols int) (cw, rpb, grid int) {
	cw = pow2Ceil(cols, blockSize)
	rpb = max(ceilDiv(rows, maxColSumsGrid), colSumsRowsPerLane*(blockSize/cw))
	return cw, rpb, max(1, ceilDiv(rows, rpb))
}

// gemmGeom is the launch of hg_gemm for dst m×n and a reduction of length
// k > 0: tile width tn (tm = blockSize/tn), splits of kc along K (a multiple
// of gemmTK), their number, and the grid (tiles × splits).
type gemmGeom struct {
	tn, kc, splits, grid int
}

// gemmGrid returns the launch of hg_gemm for m, n, k > 0. Every choice that
// affects the order of the sums (kc and so splits) is a function of the
// shape alone.
func gemmGrid(m, n, k int) gemmGeom {
	tn := 16
	switch {
	case n <= 4:
		tn = 4
	case n <= 8:
		tn = 8
	}
	tiles := ceilDiv(m, blockSize/tn) * ceilDiv(n, tn)
	s := ceilDiv(gemmTargetBlocks, tiles)
	s = min(s, ceilDiv(k, minGemmSplitK), maxGemmSplits, maxGemmScratch/(m*n))
	s = max(s, 1)
	kc := ceilDiv(ceilDiv(k, s), gemmTK) * gemmTK
	s = ceilDiv(k, kc)
	return gemmGeom{tn: tn, kc: kc, splits: s, grid: tiles * s}
}

func f64(x float64) uint64 { return math.Float64bits(x) }
func i64(x int) uint64     { return uint64(int64(x)) }

// b64 is a flag argument: 1 for true, 0 for false.
func b64(x bool) uint64 {
	if x {
		return 1
	}
	return 0
}
