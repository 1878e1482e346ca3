//go:build openblas

package openblascmp

/*
void cblas_dgemm(int order, int transa, int transb, int m, int n, int k, double alpha, const double *a, int lda,
	const double *b, int ldb, double beta, double *c, int ldc);
*/
import "C"

import "unsafe"

// dgemm sets c ← α·op(A)·op(B) + β·c for row-major operands (cblas_dgemm,
// CblasRowMajor): op(A) m×k, op(B) k×n, c m×n, with leading dimensions the
// column counts of A (k, or m when ta), B (n, or k when tb) and c (n).
func dgemm(ta, tb bool, m, n, k int, alpha float64, a, b []float64, beta float64, c []float64) {
	trans := func(t bool) C.int {
		if t {
			return 112 // CblasTrans
		}
		return 111 // CblasNoTrans
	}
	lda, ldb := k, n
	if ta {
		lda = m
	}
	if tb {
		ldb = k
	}
	C.cblas_dgemm(101, trans(ta), trans(tb), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(max(lda, 1)), (*C.double)(unsafe.Pointer(&b[0])), C.int(max(ldb, 1)),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(max(n, 1)))
}
