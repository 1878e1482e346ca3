//go:build openblas

// Package openblascmp measures the CPU backend's one-pass kernels against
// OpenBLAS's dgemv, and its block products and Gemm against OpenBLAS's
// dgemm (gemm.go), on the same matrix in the same process: the yardstick of
// the bandwidth target of issue 6 (the fused gradient and Hessian-vector
// product at ≥ 90 % of the bandwidth dgemv reaches on the same X). The
// bench suite compares with PyTorch's X @ v in another process, which this
// machine's drifting memory bandwidth makes noisy; here the calls alternate
// in one process, in tight loops, so both sides see the same drift.
//
// It is built only with the openblas tag and needs cgo and OpenBLAS's shared
// library (Debian: libopenblas0-pthread; no headers needed):
//
//	OPENBLAS_THREAD_TIMEOUT=4 go test -tags openblas -run '^$' -bench . -benchtime 1x ./backend/cpu/openblascmp
//
// CGO_LDFLAGS overrides where the library is looked for.
package openblascmp

/*
#cgo LDFLAGS: -L/usr/lib/x86_64-linux-gnu/openblas-pthread -l:libopenblas.so.0
void openblas_set_num_threads(int);
void cblas_dgemv(int order, int trans, int m, int n, double alpha, const double *a, int lda,
	const double *x, int incx, double beta, double *y, int incy);
*/
import "C"

import "unsafe"

// setThreads sets the number of OpenBLAS threads.
func setThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// gemv sets y ← A·x for the row-major rows×cols matrix a (cblas_dgemv,
// CblasRowMajor, CblasNoTrans: the X @ v of the PyTorch peer).
func gemv(rows, cols int, a, x, y []float64) {
	C.cblas_dgemv(101, 111, C.int(rows), C.int(cols), 1, (*C.double)(unsafe.Pointer(&a[0])), C.int(cols),
		(*C.double)(unsafe.Pointer(&x[0])), 1, 0, (*C.double)(unsafe.Pointer(&y[0])), 1)
}

// gemvT sets y ← Aᵀ·x for the row-major rows×cols matrix a (cblas_dgemv,
// CblasRowMajor, CblasTrans: the Xᵀ @ r of the PyTorch peer's backward pass).
func gemvT(rows, cols int, a, x, y []float64) {
	C.cblas_dgemv(101, 112, C.int(rows), C.int(cols), 1, (*C.double)(unsafe.Pointer(&a[0])), C.int(cols),
		(*C.double)(unsafe.Pointer(&x[0])), 1, 0, (*C.double)(unsafe.Pointer(&y[0])), 1)
}
