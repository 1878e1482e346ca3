//go:build amd64 && !purego

#include "textflag.h"

// AVX2 + FMA3 kernels for dense row-major matrices; see fma_amd64.go for
// their contracts and kernels.go for how they are used. Every kernel has a
// fixed summation order that depends only on the number of columns n, so
// its results are bit-identical from call to call.
//
// Register use: SI walks the rows (row r at SI + r·R8, R9 = 3·R8), DI walks
// the vector (x or y), CX holds n, BX counts the iterations of the main loop.
//
// gram4FMA prefetches, one cache line per row per iteration, each of its four
// new rows 1024 bytes ahead into L2 (PREFETCHT1) and each of the four rows it
// rereads 256 bytes ahead into L1 (PREFETCHT0); a prefetch past the end of the
// matrix is harmless. See fusedFMA in kernels.go for what it measured.
//
// gram4AVX512 is gram4FMA with its main loop on 512-bit registers (AVX-512F),
// for CPUs that have them; it gives the same bits (see its comment).

// GRAM4_ARGS loads gram4FMA's and gram4AVX512's arguments: SI rows 0…3,
// R10 rows 4…7, R8 the stride in bytes and R9 three times it, DX c, DI x,
// CX n, R11 y.
#define GRAM4_ARGS \
	MOVQ a_base+0(FP), SI; \
	MOVQ stride+24(FP), R8; \
	MOVQ c+32(FP), DX; \
	MOVQ x_base+40(FP), DI; \
	MOVQ x_len+48(FP), CX; \
	MOVQ y_base+64(FP), R11; \
	SHLQ $3, R8; \
	LEAQ (R8)(R8*2), R9; \
	LEAQ (SI)(R8*4), R10

// GRAM4_TAIL ends gram4FMA and gram4AVX512 alike, from the 8-column loop's
// accumulators in Y0…Y7 (Y1, Y3, Y5, Y7 the second of each row): it adds
// them, takes the 4-column step and the last n mod 4 columns of the
// accumulation, reduces the dot products into z and adds their last
// columns. Registers as in gram4FMA, with DX = z; the labels are the
// including function's own.
#define GRAM4_TAIL \
	VADDPD Y1, Y0, Y0; \
	VADDPD Y3, Y2, Y2; \
	VADDPD Y5, Y4, Y4; \
	VADDPD Y7, Y6, Y6; \
	TESTQ $4, CX; \
	JZ g4axpyscalar; \
	VMOVUPD (DI), Y8; \
	VMOVUPD (R11), Y10; \
	VFMADD231PD (R10), Y8, Y0; \
	VFMADD231PD (R10)(R8*1), Y8, Y2; \
	VFMADD231PD (R10)(R8*2), Y8, Y4; \
	VFMADD231PD (R10)(R9*1), Y8, Y6; \
	VFMADD231PD (SI), Y12, Y10; \
	VFMADD231PD (SI)(R8*1), Y13, Y10; \
	VFMADD231PD (SI)(R8*2), Y14, Y10; \
	VFMADD231PD (SI)(R9*1), Y15, Y10; \
	VMOVUPD Y10, (R11); \
	ADDQ $32, SI; \
	ADDQ $32, R10; \
	ADDQ $32, DI; \
	ADDQ $32, R11; \
g4axpyscalar: \
	ANDQ $3, CX; \
	MOVQ CX, BX; \
	JZ g4reduce; \
g4aloop: \
	VMOVSD (R11), X10; \
	VFMADD231SD (SI), X12, X10; \
	VFMADD231SD (SI)(R8*1), X13, X10; \
	VFMADD231SD (SI)(R8*2), X14, X10; \
	VFMADD231SD (SI)(R9*1), X15, X10; \
	VMOVSD X10, (R11); \
	ADDQ $8, SI; \
	ADDQ $8, R11; \
	DECQ BX; \
	JNZ g4aloop; \
g4reduce: \
	VHADDPD Y2, Y0, Y0; \
	VHADDPD Y6, Y4, Y4; \
	VPERM2F128 $0x20, Y4, Y0, Y1; \
	VPERM2F128 $0x31, Y4, Y0, Y3; \
	VADDPD Y3, Y1, Y1; \
	VMOVUPD Y1, (DX); \
	TESTQ CX, CX; \
	JZ g4done; \
g4dscalar: \
	VMOVSD (DI), X8; \
	VMOVSD (DX), X9; \
	VFMADD231SD (R10), X8, X9; \
	VMOVSD X9, (DX); \
	VMOVSD 8(DX), X9; \
	VFMADD231SD (R10)(R8*1), X8, X9; \
	VMOVSD X9, 8(DX); \
	VMOVSD 16(DX), X9; \
	VFMADD231SD (R10)(R8*2), X8, X9; \
	VMOVSD X9, 16(DX); \
	VMOVSD 24(DX), X9; \
	VFMADD231SD (R10)(R9*1), X8, X9; \
	VMOVSD X9, 24(DX); \
	ADDQ $8, R10; \
	ADDQ $8, DI; \
	DECQ CX; \
	JNZ g4dscalar; \
g4done: \
	VZEROUPPER; \
	RET

// AXPY4X2_ARGS loads axpy4x2FMA's and axpy4x2AVX512's arguments: SI the
// rows, R8 the stride in bytes and R9 three times it, DX c, DI y0, CX n,
// R10 y1.
#define AXPY4X2_ARGS \
	MOVQ a_base+0(FP), SI; \
	MOVQ stride+24(FP), R8; \
	MOVQ c+32(FP), DX; \
	MOVQ y0_base+40(FP), DI; \
	MOVQ y0_len+48(FP), CX; \
	MOVQ y1_base+64(FP), R10; \
	SHLQ $3, R8; \
	LEAQ (R8)(R8*2), R9

// AXPY4X2_TAIL ends axpy4x2FMA and axpy4x2AVX512 alike: the 4-column steps
// over the CX columns left, then the last CX mod 4 one by one, with c in
// Y0…Y7 (the lower halves of Z0…Z7) and the registers of AXPY4X2_ARGS; the
// labels are the including function's own.
#define AXPY4X2_TAIL \
	MOVQ CX, BX; \
	SHRQ $2, BX; \
	JZ ax2scalar; \
ax2loop4: \
	VMOVUPD (SI), Y8; \
	VMOVUPD (SI)(R8*1), Y9; \
	VMOVUPD (SI)(R8*2), Y10; \
	VMOVUPD (SI)(R9*1), Y11; \
	VMOVUPD (DI), Y12; \
	VMOVUPD (R10), Y13; \
	VFMADD231PD Y8, Y0, Y12; \
	VFMADD231PD Y8, Y4, Y13; \
	VFMADD231PD Y9, Y1, Y12; \
	VFMADD231PD Y9, Y5, Y13; \
	VFMADD231PD Y10, Y2, Y12; \
	VFMADD231PD Y10, Y6, Y13; \
	VFMADD231PD Y11, Y3, Y12; \
	VFMADD231PD Y11, Y7, Y13; \
	VMOVUPD Y12, (DI); \
	VMOVUPD Y13, (R10); \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	ADDQ $32, R10; \
	DECQ BX; \
	JNZ ax2loop4; \
ax2scalar: \
	ANDQ $3, CX; \
	JZ ax2done; \
ax2sloop: \
	VMOVSD (SI), X8; \
	VMOVSD (SI)(R8*1), X9; \
	VMOVSD (SI)(R8*2), X10; \
	VMOVSD (SI)(R9*1), X11; \
	VMOVSD (DI), X12; \
	VMOVSD (R10), X13; \
	VFMADD231SD X8, X0, X12; \
	VFMADD231SD X8, X4, X13; \
	VFMADD231SD X9, X1, X12; \
	VFMADD231SD X9, X5, X13; \
	VFMADD231SD X10, X2, X12; \
	VFMADD231SD X10, X6, X13; \
	VFMADD231SD X11, X3, X12; \
	VFMADD231SD X11, X7, X13; \
	VMOVSD X12, (DI); \
	VMOVSD X13, (R10); \
	ADDQ $8, SI; \
	ADDQ $8, DI; \
	ADDQ $8, R10; \
	DECQ CX; \
	JNZ ax2sloop; \
ax2done: \
	VZEROUPPER; \
	RET

// func dot4FMA(a []float64, stride int, x []float64, z *[4]float64)
//
// z_r = Σ_j a[r·stride+j]·x[j] for r = 0…3, j < n = len(x). Each row has two
// accumulators of 4 lanes: lanes j mod 8 of the 8-column steps. After the
// loop they are added (acc0 + acc1), a 4-column step (n mod 8 ≥ 4) goes into
// the sum, the lanes are reduced as (l0+l1)+(l2+l3), and the last n mod 4
// columns are added one by one with scalar FMAs — the order of dot1FMA.
TEXT ·dot4FMA(SB), NOSPLIT, $0-64
	MOVQ a_base+0(FP), SI
	MOVQ stride+24(FP), R8
	MOVQ x_base+32(FP), DI
	MOVQ x_len+40(FP), CX
	MOVQ z+56(FP), DX
	SHLQ $3, R8
	LEAQ (R8)(R8*2), R9
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	MOVQ CX, BX
	SHRQ $3, BX
	JZ   d4tail4

d4loop8:
	VMOVUPD     (DI), Y8
	VMOVUPD     32(DI), Y9
	VFMADD231PD (SI), Y8, Y0
	VFMADD231PD 32(SI), Y9, Y1
	VFMADD231PD (SI)(R8*1), Y8, Y2
	VFMADD231PD 32(SI)(R8*1), Y9, Y3
	VFMADD231PD (SI)(R8*2), Y8, Y4
	VFMADD231PD 32(SI)(R8*2), Y9, Y5
	VFMADD231PD (SI)(R9*1), Y8, Y6
	VFMADD231PD 32(SI)(R9*1), Y9, Y7
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        BX
	JNZ         d4loop8

d4tail4:
	VADDPD Y1, Y0, Y0
	VADDPD Y3, Y2, Y2
	VADDPD Y5, Y4, Y4
	VADDPD Y7, Y6, Y6
	TESTQ  $4, CX
	JZ     d4reduce
	VMOVUPD     (DI), Y8
	VFMADD231PD (SI), Y8, Y0
	VFMADD231PD (SI)(R8*1), Y8, Y2
	VFMADD231PD (SI)(R8*2), Y8, Y4
	VFMADD231PD (SI)(R9*1), Y8, Y6
	ADDQ        $32, SI
	ADDQ        $32, DI

d4reduce:
	// Rows a, b, c, d in Y0, Y2, Y4, Y6.
	VHADDPD    Y2, Y0, Y0       // a0+a1, b0+b1, a2+a3, b2+b3
	VHADDPD    Y6, Y4, Y4       // c0+c1, d0+d1, c2+c3, d2+d3
	VPERM2F128 $0x20, Y4, Y0, Y1 // a0+a1, b0+b1, c0+c1, d0+d1
	VPERM2F128 $0x31, Y4, Y0, Y3 // a2+a3, b2+b3, c2+c3, d2+d3
	VADDPD     Y3, Y1, Y1
	VMOVUPD    Y1, (DX)
	ANDQ       $3, CX
	JZ         d4done

d4scalar:
	VMOVSD      (DI), X8
	VMOVSD      (DX), X9
	VFMADD231SD (SI), X8, X9
	VMOVSD      X9, (DX)
	VMOVSD      8(DX), X9
	VFMADD231SD (SI)(R8*1), X8, X9
	VMOVSD      X9, 8(DX)
	VMOVSD      16(DX), X9
	VFMADD231SD (SI)(R8*2), X8, X9
	VMOVSD      X9, 16(DX)
	VMOVSD      24(DX), X9
	VFMADD231SD (SI)(R9*1), X8, X9
	VMOVSD      X9, 24(DX)
	ADDQ        $8, SI
	ADDQ        $8, DI
	DECQ        CX
	JNZ         d4scalar

d4done:
	VZEROUPPER
	RET

// func dot1FMA(a, x []float64) float64
//
// Σ_j a[j]·x[j], j < n = len(x), in the order of one row of dot4FMA.
TEXT ·dot1FMA(SB), NOSPLIT, $0-56
	MOVQ   a_base+0(FP), SI
	MOVQ   x_base+24(FP), DI
	MOVQ   x_len+32(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	MOVQ   CX, BX
	SHRQ   $3, BX
	JZ     d1tail4

d1loop8:
	VMOVUPD     (DI), Y8
	VMOVUPD     32(DI), Y9
	VFMADD231PD (SI), Y8, Y0
	VFMADD231PD 32(SI), Y9, Y1
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        BX
	JNZ         d1loop8

d1tail4:
	VADDPD Y1, Y0, Y0
	TESTQ  $4, CX
	JZ     d1reduce
	VMOVUPD     (DI), Y8
	VFMADD231PD (SI), Y8, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI

d1reduce:
	VEXTRACTF128 $1, Y0, X1 // l2, l3
	VHADDPD      X1, X0, X0 // l0+l1, l2+l3
	VHADDPD      X0, X0, X0 // (l0+l1)+(l2+l3)
	ANDQ         $3, CX
	JZ           d1done

d1scalar:
	VMOVSD      (DI), X8
	VFMADD231SD (SI), X8, X0
	ADDQ        $8, SI
	ADDQ        $8, DI
	DECQ        CX
	JNZ         d1scalar

d1done:
	VMOVSD X0, ret+48(FP)
	VZEROUPPER
	RET

// func axpy4FMA(a []float64, stride int, c *[4]float64, y []float64)
//
// y[j] ← fma(c3, a3[j], fma(c2, a2[j], fma(c1, a1[j], fma(c0, a0[j], y[j]))))
// for j < n = len(y), a_r = a[r·stride:]: every element gets the same four
// fused multiply-adds in row order, whichever loop handles it, so the result
// equals four axpy1FMA calls in row order.
TEXT ·axpy4FMA(SB), NOSPLIT, $0-64
	MOVQ         a_base+0(FP), SI
	MOVQ         stride+24(FP), R8
	MOVQ         c+32(FP), DX
	MOVQ         y_base+40(FP), DI
	MOVQ         y_len+48(FP), CX
	SHLQ         $3, R8
	LEAQ         (R8)(R8*2), R9
	VBROADCASTSD (DX), Y12
	VBROADCASTSD 8(DX), Y13
	VBROADCASTSD 16(DX), Y14
	VBROADCASTSD 24(DX), Y15
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           a4tail4

a4loop16:
	VMOVUPD     (DI), Y0
	VMOVUPD     32(DI), Y1
	VMOVUPD     64(DI), Y2
	VMOVUPD     96(DI), Y3
	VFMADD231PD (SI), Y12, Y0
	VFMADD231PD 32(SI), Y12, Y1
	VFMADD231PD 64(SI), Y12, Y2
	VFMADD231PD 96(SI), Y12, Y3
	VFMADD231PD (SI)(R8*1), Y13, Y0
	VFMADD231PD 32(SI)(R8*1), Y13, Y1
	VFMADD231PD 64(SI)(R8*1), Y13, Y2
	VFMADD231PD 96(SI)(R8*1), Y13, Y3
	VFMADD231PD (SI)(R8*2), Y14, Y0
	VFMADD231PD 32(SI)(R8*2), Y14, Y1
	VFMADD231PD 64(SI)(R8*2), Y14, Y2
	VFMADD231PD 96(SI)(R8*2), Y14, Y3
	VFMADD231PD (SI)(R9*1), Y15, Y0
	VFMADD231PD 32(SI)(R9*1), Y15, Y1
	VFMADD231PD 64(SI)(R9*1), Y15, Y2
	VFMADD231PD 96(SI)(R9*1), Y15, Y3
	VMOVUPD     Y0, (DI)
	VMOVUPD     Y1, 32(DI)
	VMOVUPD     Y2, 64(DI)
	VMOVUPD     Y3, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	DECQ        BX
	JNZ         a4loop16

a4tail4:
	ANDQ $15, CX

a4loop4:
	CMPQ        CX, $4
	JL          a4scalar
	VMOVUPD     (DI), Y0
	VFMADD231PD (SI), Y12, Y0
	VFMADD231PD (SI)(R8*1), Y13, Y0
	VFMADD231PD (SI)(R8*2), Y14, Y0
	VFMADD231PD (SI)(R9*1), Y15, Y0
	VMOVUPD     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $4, CX
	JMP         a4loop4

a4scalar:
	TESTQ CX, CX
	JZ    a4done

a4sloop:
	VMOVSD      (DI), X0
	VFMADD231SD (SI), X12, X0
	VFMADD231SD (SI)(R8*1), X13, X0
	VFMADD231SD (SI)(R8*2), X14, X0
	VFMADD231SD (SI)(R9*1), X15, X0
	VMOVSD      X0, (DI)
	ADDQ        $8, SI
	ADDQ        $8, DI
	DECQ        CX
	JNZ         a4sloop

a4done:
	VZEROUPPER
	RET

// func axpy1FMA(c float64, a, y []float64)
//
// y[j] ← fma(c, a[j], y[j]) for j < n = len(y).
TEXT ·axpy1FMA(SB), NOSPLIT, $0-56
	VBROADCASTSD c+0(FP), Y12
	MOVQ         a_base+8(FP), SI
	MOVQ         y_base+32(FP), DI
	MOVQ         y_len+40(FP), CX
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           a1tail4

a1loop16:
	VMOVUPD     (DI), Y0
	VMOVUPD     32(DI), Y1
	VMOVUPD     64(DI), Y2
	VMOVUPD     96(DI), Y3
	VFMADD231PD (SI), Y12, Y0
	VFMADD231PD 32(SI), Y12, Y1
	VFMADD231PD 64(SI), Y12, Y2
	VFMADD231PD 96(SI), Y12, Y3
	VMOVUPD     Y0, (DI)
	VMOVUPD     Y1, 32(DI)
	VMOVUPD     Y2, 64(DI)
	VMOVUPD     Y3, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	DECQ        BX
	JNZ         a1loop16

a1tail4:
	ANDQ $15, CX

a1loop4:
	CMPQ        CX, $4
	JL          a1scalar
	VMOVUPD     (DI), Y0
	VFMADD231PD (SI), Y12, Y0
	VMOVUPD     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $4, CX
	JMP         a1loop4

a1scalar:
	TESTQ CX, CX
	JZ    a1done

a1sloop:
	VMOVSD      (DI), X0
	VFMADD231SD (SI), X12, X0
	VMOVSD      X0, (DI)
	ADDQ        $8, SI
	ADDQ        $8, DI
	DECQ        CX
	JNZ         a1sloop

a1done:
	VZEROUPPER
	RET

// func gram4FMA(a []float64, stride int, c *[4]float64, x, y []float64, z *[4]float64)
//
// One step of the fused pass over eight rows a_r = a[r·stride:], r = 0…7
// (len(a) ≥ 7·stride + n, n = len(x) = len(y)): it accumulates the four rows
// 0…3, whose coefficients c are known, y[j] += Σ_r c_r·a_r[j] as axpy4FMA
// does, and in the same loop computes the dot products z_r = a_{4+r}ᵀx of
// the next four rows as dot4FMA does — the same bits as the two calls, but
// with one stream of new rows from memory while the rows of the previous
// step are reread from cache.
//
// Registers: SI rows 0…3, R10 rows 4…7, DI x, R11 y; Y0…Y7 the dot-product
// accumulators (two a row), Y8, Y9 x, Y10, Y11 y, Y12…Y15 c.
TEXT ·gram4FMA(SB), NOSPLIT, $0-96
	GRAM4_ARGS
	VBROADCASTSD (DX), Y12
	VBROADCASTSD 8(DX), Y13
	VBROADCASTSD 16(DX), Y14
	VBROADCASTSD 24(DX), Y15
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	VXORPD       Y4, Y4, Y4
	VXORPD       Y5, Y5, Y5
	VXORPD       Y6, Y6, Y6
	VXORPD       Y7, Y7, Y7
	MOVQ         CX, BX
	SHRQ         $3, BX
	JZ           g4tail4

g4loop8:
	PREFETCHT1  1024(R10)
	PREFETCHT1  1024(R10)(R8*1)
	PREFETCHT1  1024(R10)(R8*2)
	PREFETCHT1  1024(R10)(R9*1)
	PREFETCHT0  256(SI)
	PREFETCHT0  256(SI)(R8*1)
	PREFETCHT0  256(SI)(R8*2)
	PREFETCHT0  256(SI)(R9*1)
	VMOVUPD     (DI), Y8
	VMOVUPD     32(DI), Y9
	VMOVUPD     (R11), Y10
	VMOVUPD     32(R11), Y11
	VFMADD231PD (R10), Y8, Y0
	VFMADD231PD 32(R10), Y9, Y1
	VFMADD231PD (R10)(R8*1), Y8, Y2
	VFMADD231PD 32(R10)(R8*1), Y9, Y3
	VFMADD231PD (R10)(R8*2), Y8, Y4
	VFMADD231PD 32(R10)(R8*2), Y9, Y5
	VFMADD231PD (R10)(R9*1), Y8, Y6
	VFMADD231PD 32(R10)(R9*1), Y9, Y7
	VFMADD231PD (SI), Y12, Y10
	VFMADD231PD 32(SI), Y12, Y11
	VFMADD231PD (SI)(R8*1), Y13, Y10
	VFMADD231PD 32(SI)(R8*1), Y13, Y11
	VFMADD231PD (SI)(R8*2), Y14, Y10
	VFMADD231PD 32(SI)(R8*2), Y14, Y11
	VFMADD231PD (SI)(R9*1), Y15, Y10
	VFMADD231PD 32(SI)(R9*1), Y15, Y11
	VMOVUPD     Y10, (R11)
	VMOVUPD     Y11, 32(R11)
	ADDQ        $64, SI
	ADDQ        $64, R10
	ADDQ        $64, DI
	ADDQ        $64, R11
	DECQ        BX
	JNZ         g4loop8

g4tail4:
	MOVQ z+88(FP), DX
	GRAM4_TAIL


// func dot4x2FMA(a []float64, stride int, x0, x1 []float64, acc *[32]float64)
//
// acc[4p+l] += Σ a_r[j]·x_v[j] over the columns j ≡ l (mod 4), j < n =
// len(x0) (a multiple of 4; len(x1) ≥ n), for the four rows a_r =
// a[r·stride:] and the two vectors x_v, p = 2r+v: one fused multiply-add
// per lane and 4-column step, in column order (eight columns an iteration,
// then a last 4-column step). The lanes are loaded from acc and stored back,
// so a row can be taken in tiles of columns with the bits of one call.
//
// Registers: Y0…Y7 the lanes of the pairs p, Y8, Y9 x0, x1, Y10…Y13 the
// rows; SI rows, DI x0, DX x1, AX acc, CX steps.
TEXT ·dot4x2FMA(SB), NOSPLIT, $0-88
	MOVQ    a_base+0(FP), SI
	MOVQ    stride+24(FP), R8
	MOVQ    x0_base+32(FP), DI
	MOVQ    x0_len+40(FP), CX
	MOVQ    x1_base+56(FP), DX
	MOVQ    acc+80(FP), AX
	SHLQ    $3, R8
	LEAQ    (R8)(R8*2), R9
	VMOVUPD (AX), Y0
	VMOVUPD 32(AX), Y1
	VMOVUPD 64(AX), Y2
	VMOVUPD 96(AX), Y3
	VMOVUPD 128(AX), Y4
	VMOVUPD 160(AX), Y5
	VMOVUPD 192(AX), Y6
	VMOVUPD 224(AX), Y7
	MOVQ    CX, BX
	SHRQ    $3, BX
	JZ      dx2tail4

dx2loop8:
	VMOVUPD     (DI), Y8
	VMOVUPD     (DX), Y9
	VMOVUPD     (SI), Y10
	VMOVUPD     (SI)(R8*1), Y11
	VMOVUPD     (SI)(R8*2), Y12
	VMOVUPD     (SI)(R9*1), Y13
	VFMADD231PD Y8, Y10, Y0
	VFMADD231PD Y9, Y10, Y1
	VFMADD231PD Y8, Y11, Y2
	VFMADD231PD Y9, Y11, Y3
	VFMADD231PD Y8, Y12, Y4
	VFMADD231PD Y9, Y12, Y5
	VFMADD231PD Y8, Y13, Y6
	VFMADD231PD Y9, Y13, Y7
	VMOVUPD     32(DI), Y8
	VMOVUPD     32(DX), Y9
	VMOVUPD     32(SI), Y10
	VMOVUPD     32(SI)(R8*1), Y11
	VMOVUPD     32(SI)(R8*2), Y12
	VMOVUPD     32(SI)(R9*1), Y13
	VFMADD231PD Y8, Y10, Y0
	VFMADD231PD Y9, Y10, Y1
	VFMADD231PD Y8, Y11, Y2
	VFMADD231PD Y9, Y11, Y3
	VFMADD231PD Y8, Y12, Y4
	VFMADD231PD Y9, Y12, Y5
	VFMADD231PD Y8, Y13, Y6
	VFMADD231PD Y9, Y13, Y7
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, DX
	DECQ        BX
	JNZ         dx2loop8

dx2tail4:
	TESTQ       $4, CX
	JZ          dx2done
	VMOVUPD     (DI), Y8
	VMOVUPD     (DX), Y9
	VMOVUPD     (SI), Y10
	VMOVUPD     (SI)(R8*1), Y11
	VMOVUPD     (SI)(R8*2), Y12
	VMOVUPD     (SI)(R9*1), Y13
	VFMADD231PD Y8, Y10, Y0
	VFMADD231PD Y9, Y10, Y1
	VFMADD231PD Y8, Y11, Y2
	VFMADD231PD Y9, Y11, Y3
	VFMADD231PD Y8, Y12, Y4
	VFMADD231PD Y9, Y12, Y5
	VFMADD231PD Y8, Y13, Y6
	VFMADD231PD Y9, Y13, Y7

dx2done:
	VMOVUPD Y0, (AX)
	VMOVUPD Y1, 32(AX)
	VMOVUPD Y2, 64(AX)
	VMOVUPD Y3, 96(AX)
	VMOVUPD Y4, 128(AX)
	VMOVUPD Y5, 160(AX)
	VMOVUPD Y6, 192(AX)
	VMOVUPD Y7, 224(AX)
	VZEROUPPER
	RET

// func axpy4x2FMA(a []float64, stride int, c *[8]float64, y0, y1 []float64)
//
// y_v[j] ← fma(c[4v+3], a3[j], fma(c[4v+2], a2[j], fma(c[4v+1], a1[j],
// fma(c[4v], a0[j], y_v[j])))) for v = 0, 1 and j < n = len(y0) (len(y1) ≥
// n), a_r = a[r·stride:]: the bits of axpy4FMA(a, stride, c[4v:4v+4], y_v)
// for each v, with each row loaded once for both.
//
// Registers: Y0…Y7 c, Y8…Y11 the rows, Y12, Y13 y0, y1; SI rows, DI y0,
// R10 y1, BX the 4-column steps, CX the columns left.
TEXT ·axpy4x2FMA(SB), NOSPLIT, $0-88
	AXPY4X2_ARGS
	VBROADCASTSD (DX), Y0
	VBROADCASTSD 8(DX), Y1
	VBROADCASTSD 16(DX), Y2
	VBROADCASTSD 24(DX), Y3
	VBROADCASTSD 32(DX), Y4
	VBROADCASTSD 40(DX), Y5
	VBROADCASTSD 48(DX), Y6
	VBROADCASTSD 56(DX), Y7
	AXPY4X2_TAIL

// func gram4AVX512(a []float64, stride int, c *[4]float64, x, y []float64, z *[4]float64)
//
// gram4FMA with the 8-column loop on ZMM registers: one 64-byte load per row
// and step, and half the instructions. The bits are gram4FMA's: each row's
// dot product has one ZMM accumulator whose lanes 0…3 and 4…7 are gram4FMA's
// two YMM accumulators (lanes j mod 8 of the 8-column steps), and after the
// loop the upper half is added to the lower one exactly as gram4FMA adds its
// second accumulator to its first; the accumulation of rows 0…3 is
// elementwise, in row order, in both. The 4-column step, the scalar columns
// and the reduction are gram4FMA's code on the lower halves. The new rows are
// prefetched 1024 bytes ahead into L2 (PREFETCHT1); the reread rows are not
// prefetched: with 64-byte loads that prefetch measured slower (kernels.go).
//
// Registers: as gram4FMA, with Z0, Z2, Z4, Z6 the dot-product accumulators,
// Z8 x, Z10 y, Z12…Z15 c.
TEXT ·gram4AVX512(SB), NOSPLIT, $0-96
	GRAM4_ARGS
	VBROADCASTSD (DX), Z12
	VBROADCASTSD 8(DX), Z13
	VBROADCASTSD 16(DX), Z14
	VBROADCASTSD 24(DX), Z15
	VXORPD       Y0, Y0, Y0  // a VEX write zeroes the upper half of Z0 too
	VXORPD       Y2, Y2, Y2
	VXORPD       Y4, Y4, Y4
	VXORPD       Y6, Y6, Y6
	MOVQ         CX, BX
	SHRQ         $3, BX
	JZ           g5split

g5loop8:
	PREFETCHT1  1024(R10)
	PREFETCHT1  1024(R10)(R8*1)
	PREFETCHT1  1024(R10)(R8*2)
	PREFETCHT1  1024(R10)(R9*1)
	VMOVUPD     (DI), Z8
	VMOVUPD     (R11), Z10
	VFMADD231PD (R10), Z8, Z0
	VFMADD231PD (R10)(R8*1), Z8, Z2
	VFMADD231PD (R10)(R8*2), Z8, Z4
	VFMADD231PD (R10)(R9*1), Z8, Z6
	VFMADD231PD (SI), Z12, Z10
	VFMADD231PD (SI)(R8*1), Z13, Z10
	VFMADD231PD (SI)(R8*2), Z14, Z10
	VFMADD231PD (SI)(R9*1), Z15, Z10
	VMOVUPD     Z10, (R11)
	ADDQ        $64, SI
	ADDQ        $64, R10
	ADDQ        $64, DI
	ADDQ        $64, R11
	DECQ        BX
	JNZ         g5loop8

g5split:
	// Y1, Y3, Y5, Y7 ← the upper halves: gram4FMA's second accumulators.
	VEXTRACTF64X4 $1, Z0, Y1
	VEXTRACTF64X4 $1, Z2, Y3
	VEXTRACTF64X4 $1, Z4, Y5
	VEXTRACTF64X4 $1, Z6, Y7
	MOVQ          z+88(FP), DX
	GRAM4_TAIL

// func dot4x4AVX512(a []float64, stride int, x01, x23 []float64, acc *[64]float64)
//
// dot4x2FMA on two pairs of vectors at once, with the same bits: x01 and x23
// hold the pairs (x0, x1) and (x2, x3) interleaved four columns at a time
// (x01[8m+4v+l] = x_v[4m+l]), n = len(x01)/2 columns (a multiple of 4,
// len(x23) ≥ 2n), and acc[32q+8r+4v+l] are the lanes of row r and vector
// 2q+v — dot4x2FMA's lanes of pair q, so that each ZMM accumulator holds
// one row's lanes for both vectors of a pair. Each 4-column step broadcasts
// a row's four values to both halves of a register and takes one fused
// multiply-add per row and pair: every lane gets the products of its
// columns in column order, as in dot4x2FMA, at twice the lanes an
// instruction, and eight independent accumulators keep both FMA units busy.
//
// Registers: Z0…Z3 pair 0's rows, Z4…Z7 pair 1's, Z8 x01, Z9 x23, Z10…Z13
// the rows; SI rows, DI x01, DX x23, AX acc, BX steps.
TEXT ·dot4x4AVX512(SB), NOSPLIT, $0-88
	MOVQ    a_base+0(FP), SI
	MOVQ    stride+24(FP), R8
	MOVQ    x01_base+32(FP), DI
	MOVQ    x01_len+40(FP), BX
	MOVQ    x23_base+56(FP), DX
	MOVQ    acc+80(FP), AX
	SHLQ    $3, R8
	LEAQ    (R8)(R8*2), R9
	VMOVUPD (AX), Z0
	VMOVUPD 64(AX), Z1
	VMOVUPD 128(AX), Z2
	VMOVUPD 192(AX), Z3
	VMOVUPD 256(AX), Z4
	VMOVUPD 320(AX), Z5
	VMOVUPD 384(AX), Z6
	VMOVUPD 448(AX), Z7
	SHRQ    $3, BX
	JZ      d44done

d44loop:
	VMOVUPD         (DI), Z8
	VMOVUPD         (DX), Z9
	VBROADCASTF64X4 (SI), Z10
	VBROADCASTF64X4 (SI)(R8*1), Z11
	VBROADCASTF64X4 (SI)(R8*2), Z12
	VBROADCASTF64X4 (SI)(R9*1), Z13
	VFMADD231PD     Z8, Z10, Z0
	VFMADD231PD     Z9, Z10, Z4
	VFMADD231PD     Z8, Z11, Z1
	VFMADD231PD     Z9, Z11, Z5
	VFMADD231PD     Z8, Z12, Z2
	VFMADD231PD     Z9, Z12, Z6
	VFMADD231PD     Z8, Z13, Z3
	VFMADD231PD     Z9, Z13, Z7
	ADDQ            $32, SI
	ADDQ            $64, DI
	ADDQ            $64, DX
	DECQ            BX
	JNZ             d44loop

d44done:
	VMOVUPD Z0, (AX)
	VMOVUPD Z1, 64(AX)
	VMOVUPD Z2, 128(AX)
	VMOVUPD Z3, 192(AX)
	VMOVUPD Z4, 256(AX)
	VMOVUPD Z5, 320(AX)
	VMOVUPD Z6, 384(AX)
	VMOVUPD Z7, 448(AX)
	VZEROUPPER
	RET

// func axpy4x2AVX512(a []float64, stride int, c *[8]float64, y0, y1 []float64)
//
// axpy4x2FMA with its main loop on ZMM registers, eight columns a step: the
// same fused multiply-adds, element by element in row order, so the same
// bits; the last n mod 8 columns are axpy4x2FMA's code (AXPY4X2_TAIL).
//
// Registers: Z0…Z7 c, Z8…Z11 the rows, Z12, Z13 y0, y1; as axpy4x2FMA.
TEXT ·axpy4x2AVX512(SB), NOSPLIT, $0-88
	AXPY4X2_ARGS
	VBROADCASTSD (DX), Z0
	VBROADCASTSD 8(DX), Z1
	VBROADCASTSD 16(DX), Z2
	VBROADCASTSD 24(DX), Z3
	VBROADCASTSD 32(DX), Z4
	VBROADCASTSD 40(DX), Z5
	VBROADCASTSD 48(DX), Z6
	VBROADCASTSD 56(DX), Z7
	MOVQ         CX, BX
	SHRQ         $3, BX
	JZ           a42tail

a42loop:
	VMOVUPD     (SI), Z8
	VMOVUPD     (SI)(R8*1), Z9
	VMOVUPD     (SI)(R8*2), Z10
	VMOVUPD     (SI)(R9*1), Z11
	VMOVUPD     (DI), Z12
	VMOVUPD     (R10), Z13
	VFMADD231PD Z8, Z0, Z12
	VFMADD231PD Z8, Z4, Z13
	VFMADD231PD Z9, Z1, Z12
	VFMADD231PD Z9, Z5, Z13
	VFMADD231PD Z10, Z2, Z12
	VFMADD231PD Z10, Z6, Z13
	VFMADD231PD Z11, Z3, Z12
	VFMADD231PD Z11, Z7, Z13
	VMOVUPD     Z12, (DI)
	VMOVUPD     Z13, (R10)
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, R10
	DECQ        BX
	JNZ         a42loop

a42tail:
	ANDQ $7, CX
	AXPY4X2_TAIL
