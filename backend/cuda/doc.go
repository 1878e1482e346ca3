//go:build cuda || cudaemu

// Package cuda is the NVIDIA GPU backend: backend.Backend on
// gorgonia.org/cu v0.9.6 (the CUDA driver API) with the kernels of package
// kernels, compiled only with the build tag cuda:
//
//	go test -tags cuda ./...
//	go build -tags cuda ./cmd/hypergrad   # then: hypergrad grad -backend cuda …
//
// Importing the package registers it with backend.Register as "cuda", and
// as "cuda-f32" with Options.DenseFloat32 (dense matrices stored in float32).
//
// # Requirements, and what happens without a GPU
//
// A cuda-tagged binary needs an NVIDIA GPU and its driver: it is linked
// against libcuda.so.1 (and nothing else of CUDA: no cuBLAS, no runtime
// library), so without the driver library it does not even start — the
// dynamic loader stops it before any Go code runs. The kernels are PTX for
// compute_75 (ISA 7.8), which the driver JIT-compiles for the GPU at New: a
// driver of release R520 or later, a GPU of compute capability 7.5 or later.
// Building needs the CUDA headers (11.8 or 12.x; gorgonia.org/cu v0.9.6 does
// not compile against 13.x) and libcuda.so or its stub at link time.
//
// gorgonia.org/cu calls cuInit in its package initialization and, when that
// fails (no GPU, no usable driver), prints a message and calls os.Exit(1) —
// before main, before any test, with no way for the program to recover. This
// package turns that exit into an error: it links the program with
// -Wl,--wrap=cuInit (a cgo directive of this package) and defines
// __wrap_cuInit, so the linker redirects gorgonia.org/cu's call of cuInit to
// a wrapper that calls the driver's cuInit, records its result, and reports
// success. New then returns the recorded failure, e.g.
// "cuda: Open: device failure: cuInit: CUDA_ERROR_NO_DEVICE: …", and
// backend.Open("cuda") returns that error. The wrap is a documented GNU ld
// option (cgo allows it in #cgo LDFLAGS) that changes one symbol reference in
// the link and leaves gorgonia.org/cu unmodified; if a linker ignored it, the
// program would behave exactly as gorgonia.org/cu alone does (the exit), never
// worse. It needs the GNU or LLVM linker (Linux).
//
// # Threads and streams
//
// A CUDA context is current per OS thread. Rather than hand every operation
// to a goroutine locked to one thread (a channel round trip and a goroutine
// wake-up, microseconds per call), each Backend method that touches the
// device locks the calling goroutine to its OS thread for the duration of the
// call (runtime.LockOSThread) and makes the device's primary context current
// there (cuCtxSetCurrent), then unlocks. That costs one cgo call (about
// 0.1 µs) per operation, next to a kernel launch's few microseconds
// (gorgonia.org/cu's Launch adds two small C allocations). A Backend may
// therefore be used from any goroutine, one at a time, as every backend.
//
// New retains the device's primary context (cuDevicePrimaryCtxRetain: the
// context every CUDA library of the process shares), creates one
// non-blocking stream and loads the kernels' modules; Close releases them.
// Every copy and kernel of a Backend is issued on its stream in program
// order, asynchronously. The operations that wait for the device are those
// that return data to the host — Download, Dot, Nrm2, GLMGrad (the loss;
// GLMGradNoLoss does not wait) —
// and Sync, Free, FreeMatrix (memory is freed after the operations in
// flight), Close, and the growth of scratch space. An asynchronous kernel
// fault is therefore reported by the next of these, as ErrDevice; after such
// a fault the CUDA context is usually unusable, and ClearErr does not repair
// it.
//
// The Backend is a backend.CGStepper: CGStep queues one conjugate gradient
// iteration whose scalars (pᵀAp, α, rᵀr, β, the stop tests) stay in a device
// vector, so the estimators' CG reads them back once per chunk of queued
// iterations (4, 8, then 16; 4 with a tolerance) instead of waiting on two
// Dot calls every iteration, with bit-identical results. On an H100, with
// six launches a step (five now), this took AID-CG (t = k = 50) on logreg 100000×1000
// from 36.9–37.6 to 35.4–35.7 ms and on logreg 1000×100 (t = k = 100) from
// 10.6–11.7 to 7.2–7.4 ms (results/gpu-2026-11-23.md).
//
// # Memory
//
// Each vector and matrix is its own device allocation (cuMemAlloc), freed by
// Free/FreeMatrix or, for those still live, by Close. A dense matrix is
// stored row-major. A CSR matrix is stored twice: as given (64-bit row
// pointers, 32-bit column indices, values) and transposed (CSC: 64-bit column
// pointers, 32-bit row indices, values), built on the host at upload, so
// that every reduction is a gather with a fixed order (below); Allocated
// counts both, Bytes one pass over the CSR form. The backend keeps scratch
// space (per-block partial sums, the CSR row weights) that grows on demand
// and is not counted by Allocated. An allocation beyond the device's free
// memory returns an *backend.OpError wrapping backend.ErrOutOfMemory, and
// the backend remains usable.
//
// # Kernels and deterministic reductions
//
// Every operation is a kernel of package kernels (kernels/*.cu): 256
// threads per block, no floating-point atomics, no warp-synchronous code.
// Every launch configuration that affects the order of a floating-point
// reduction is a function of the operands' shapes alone, never of the device,
// so repeated runs are bit-identical:
//
//   - Dot, Nrm2 and every scalar sum: thread t of block b sums elements
//     b·256+t, b·256+t+256·G, … in order; a block adds its threads by a
//     binary tree in shared memory (t += t+128, then t+64, …, t+1); one block
//     adds the G block sums the same way. G = min(⌈n/1024⌉, 1024).
//
//   - Dense products (MulVec, MulVecTrans, GramVec, GramDiag, GLMGrad):
//     block b owns rows [b·rpb, (b+1)·rpb) with rpb = max(32, ⌈rows/2048⌉)
//     rounded up to a multiple of 4, in tiles of 4 rows; thread t owns the
//     columns t, t+256, …
//     A row's dot product is thread t's sum over its columns in order, then
//     the binary tree over the 256 threads. A column's sum over the block's
//     rows is in row order; the blocks' column sums are then added in the
//     order b ≡ g (mod 32) for each of 32 groups, and the groups by a tree
//     (hg_colreduce, 8 columns per block).
//
//   - CSR rows (MulVec, and the row pass of GramVec and GLMGrad) and CSC
//     columns (MulVecTrans, GramDiag, the column pass): a segment of w
//     threads (w the least power of two ≥ the average entries per row or
//     column, at most 32) owns a row or column; lane l sums the entries l,
//     l+w, … in order, and the lanes are added by a binary tree.
//
//   - Elementwise operations (Copy … MulElem, DivElem, Map, ScaleRows,
//     ScaleCols): grid-stride loops, one thread per element, no reduction.
//     CopyRange is hg_copy launched on the device addresses of its two
//     ranges (8 bytes an element past each vector's start).
//     Map follows backend.Func.Eval operation for operation (one kernel,
//     hg_map, switching on the function).
//
//   - Row operations (RowSums, RowNorms, LogSumExp, Softmax, CrossEntropy;
//     hg_rows): a segment of w threads per row, w the least power of two
//     ≥ cols, at most 256; lane l takes the columns l, l+w, … in order and
//     the lanes are added (or their maxima taken, propagating NaN) by the
//     binary tree of hg_segment_sum. A row's result does not depend on the
//     grid, min(⌈rows/(256/w)⌉, 4096) blocks looping over rows. Outputs may
//     alias the input: a segment reads its row before its last barrier and
//     writes after it.
//
//   - ColSums (hg_colsums, then hg_colreduce): cw threads per row (the least
//     power of two ≥ cols, at most 256), so L = 256/cw lanes per column;
//     block b owns rows [b·rpb, (b+1)·rpb), rpb = max(⌈rows/1024⌉, 8·L);
//     lane g adds the rows r0+g, r0+g+L, … in order, the lanes are added by
//     a tree, and hg_colreduce adds the blocks' sums in its order.
//
//   - Gemm and dense MulBlock/MulBlockTrans (hg_gemm, hg_gemm_f32 for
//     float32 storage): a block computes a tm×tn tile of dst (tn = 4, 8 or
//     16 by n, tm = 256/tn), one element per thread, the inner dimension K
//     staged through shared memory 16 at a time and each element summed
//     over k in increasing order. K is split into S parts of kc (a multiple
//     of 16), S = min(⌈1024/tiles⌉, ⌈K/512⌉, 64, 2²²/(m·n)) ≥ 1: with S = 1
//     the kernel applies α and β itself, else the parts' sums go to scratch
//     and hg_colreduce adds them. MulBlock is op(A) = X, MulBlockTrans
//     op(A) = Xᵀ with K = rows (the long reduction spread over blocks). The
//     order depends on kc, a function of the shapes alone.
//
//   - CSR MulBlock and MulBlockTrans (hg_csr_block): one thread per element
//     (i, c) of dst adds val_e·W[ind_e·k + c] over the entries of its row in
//     stored order — of the CSR arrays for MulBlock, of the transposed CSC
//     copy for MulBlockTrans (a gather: no atomics).
//
//   - SoftmaxGrad and SoftmaxHessBlock (hg_softmax_grad, hg_softmax_hess):
//     three launches over a rows×k block of scratch space (grown on demand
//     to rows·k doubles): Z = X·W (or U = X·V) as MulBlock; a row kernel
//     that overwrites it with G_ij = d_i·(P_ij − [j = y_i]), writing P and
//     the cross-entropy where asked (or with R_ij = d_i·(p_ij·u_ij −
//     p_ij·s_i), s_i = Σ_j p_ij·u_ij); then dst ← α·Xᵀ·G + β·dst as
//     MulBlockTrans. The row kernels have hg_rows' geometry and order, so
//     the results equal, bit for bit, the core composition MulBlock,
//     CrossEntropy, ScaleRows, MulBlockTrans (prob equals Softmax's, loss
//     CrossEntropy's). X is read twice; a one-pass kernel in the manner of
//     hg_dense_pass (the k scores of a tile of rows in registers, per-block
//     cols×k partial sums) is for when a GPU can measure it.
//
// GramVec and GLMGrad on a dense matrix make one pass over X: a block
// computes the dot products of a tile of rows and accumulates the tile's
// rows, weighted, into its column sums while the tile is in registers
// (cols ≤ 1024) or in L1/L2 (wider), then writes its partial vector; a
// second small kernel adds the partial vectors. On a CSR matrix they make a
// row pass (CSR: the row weights, the loss and curvature) and a column pass
// (CSC: Xᵀ of the weights): a one-pass scatter of rows into shared column
// sums would need floating-point atomics, or, to stay deterministic, per-block
// partial vectors of length cols (too large for wide sparse matrices) or
// per-block column maps whose index traffic costs about what the second pass
// does.
//
// GramDiag makes one pass: on a dense matrix each thread sums d_i·X_ij² down
// its columns over its block's rows, in row order, and hg_colreduce adds the
// blocks' partial vectors; on a CSR matrix each column of the transposed copy
// is gathered, a row's duplicate entries (adjacent there) summed before they
// are squared.
//
// The kernels are compiled with nvcc -fmad=false, so a·b+c rounds twice, as
// in Go: elementwise results equal the CPU backend's bit for bit, and
// reductions differ from it only by their order (the conformance tolerance
// of DESIGN.md, 1e-12 relative to the magnitude of the terms). The kernels
// are bound by memory bandwidth, so contraction into FMA would not make
// them measurably faster.
//
// There is no cuBLAS: the GLM operations are memory-bound, the fused kernels
// have no cuBLAS equivalent, cuBLAS's reductions do not promise a fixed
// order, and without it a binary needs only libcuda.so.1. Measured on an
// H100 (100000 × 1000, results/gpu-2026-11-22.md): MulVec 272 µs
// against cuBLAS's X·v 278 µs; MulVecTrans 341 µs against cuBLAS's Xᵀ·r
// 276 µs, which is faster but off the estimators' path (their gradient and
// Hessian-vector product are the fused GLMGrad and GramVec passes). Gemm,
// MulBlock and MulBlockTrans are a tiled kernel of our own as well (fixed
// summation order); their speed against cuBLAS's dgemm is to be measured on
// a GPU (BenchmarkBlockProducts and gpu-session.sh's PyTorch comparison).
//
// # Dense matrices in float32
//
// With Options.DenseFloat32 ("cuda-f32") NewDense rounds each entry to
// float32 once and keeps 4 bytes per entry on the device; the dense kernels
// (hg_dense_pass_f32, hg_dense_sqcols_f32) widen each value to float64 as
// they load it, so every result is the float64 one of the rounded matrix.
// On the H100 this made a logreg AID-CG hypergradient (100000×1000,
// t = k = 50) 1.25–1.27× faster with the flat row sums of the float32 pass
// (1.14× before them) and changed it by 3.6e-8 relative.
//
// # The CPU emulator
//
// With the build tag cudaemu (and without cuda) the same host code runs the
// same kernel sources on a CPU emulator (package internal/emu, which needs a
// C++ compiler at test time): go test -tags cudaemu ./backend/cuda/... runs
// the conformance suite, the agreement and determinism tests, and the memory
// tests without a GPU. It checks indexing, launch arguments, barriers and
// memory bounds, not timing.
package cuda
