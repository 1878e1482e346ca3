package backendtest

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// blockShapes are the shapes of the block tests: empty ones, 1×1, odd
// ones, and ones large enough for a parallel backend to split the rows
// (1003×67, 20011×3) or a row (3×20011), with at least 2^16 elements.
var blockShapes = [][2]int{
	{0, 0}, {0, 5}, {5, 0}, {1, 1}, {1, 7}, {7, 1}, {7, 3}, {3, 7}, {33, 257}, {1003, 67}, {20011, 3}, {3, 20011},
}

// testBlockAlloc checks NewBlock, Reshape and NewLabels: shapes, zeroed
// storage, views that share it, and the errors they return.
func (s *suite) testBlockAlloc(t *testing.T) {
	b := s.backend(t)
	for _, sh := range blockShapes {
		rows, cols := sh[0], sh[1]
		v := newBlock(t, b, rows, cols, nil)
		checkExact(t, fmt.Sprintf("NewBlock(%d, %d) is zeroed", rows, cols), get(t, b, v), make([]float64, rows*cols))
		b.Free(v)
	}

	// A view and its base share their storage both ways, and views of views too.
	x := RandVector(Rand(11), 12)
	base := newVec(t, b, x)
	views := make([]backend.Block, 0, 6)
	for _, sh := range [][2]int{{3, 4}, {4, 3}, {12, 1}, {1, 12}, {2, 6}} {
		w, err := b.Reshape(base, sh[0], sh[1])
		if err != nil {
			t.Fatalf("Reshape(12-vector, %d, %d): %v", sh[0], sh[1], err)
		}
		if r, c := w.Dims(); r != sh[0] || c != sh[1] || w.Len() != 12 {
			t.Errorf("Reshape(12-vector, %d, %d) is %d×%d of length %d", sh[0], sh[1], r, c, w.Len())
		}
		checkExact(t, fmt.Sprintf("Reshape(12-vector, %d, %d) reads the vector", sh[0], sh[1]), get(t, b, w), x)
		views = append(views, w)
	}
	vv, err := b.Reshape(views[0], 6, 2)
	if err != nil {
		t.Fatalf("Reshape of a view: %v", err)
	}
	views = append(views, vv)
	for k, w := range views {
		y := RandVector(Rand(uint64(20+k)), 12)
		b.Upload(w, y)
		noErr(t, b, "Upload to a view")
		checkExact(t, fmt.Sprintf("vector after an Upload to view %d", k), get(t, b, base), y)
		for l, u := range views {
			checkExact(t, fmt.Sprintf("view %d after an Upload to view %d", l, k), get(t, b, u), y)
		}
	}
	b.Upload(base, x)
	checkExact(t, "view after an Upload to the vector", get(t, b, views[1]), x)

	empty := newVec(t, b, nil)
	for _, sh := range [][2]int{{0, 0}, {0, 5}, {5, 0}} {
		if w, err := b.Reshape(empty, sh[0], sh[1]); err != nil {
			t.Errorf("Reshape(empty vector, %d, %d): %v", sh[0], sh[1], err)
		} else if r, c := w.Dims(); r != sh[0] || c != sh[1] || w.Len() != 0 {
			t.Errorf("Reshape(empty vector, %d, %d) is %d×%d of length %d", sh[0], sh[1], r, c, w.Len())
		}
	}

	// Errors are returned, not recorded.
	wantReturned := func(what string, got any, err, target error, op string) {
		t.Helper()
		var oe *backend.OpError
		switch {
		case !errors.Is(err, target):
			t.Errorf("%s: error %v, want %v", what, err, target)
		case !errors.As(err, &oe):
			t.Errorf("%s: error %v (%T) is not a *backend.OpError", what, err, err)
		case oe.Op != op:
			t.Errorf("%s: error %v names operation %q, want %q", what, err, oe.Op, op)
		}
		if got != nil {
			t.Errorf("%s: returned %v beside the error, want nil", what, got)
		}
		if err := b.Err(); err != nil {
			t.Errorf("%s recorded the error %v, which an allocation returns instead", what, err)
			b.ClearErr()
		}
	}
	for _, sh := range [][2]int{{-1, 3}, {3, -1}, {-2, -2}, {-1, 0}} {
		blk, err := b.NewBlock(sh[0], sh[1])
		wantReturned(fmt.Sprintf("NewBlock(%d, %d)", sh[0], sh[1]), nilIfNil(blk), err, backend.ErrInvalid, "NewBlock")
	}
	blk, err := b.NewBlock(math.MaxInt/4, 8)
	wantReturned("NewBlock(MaxInt/4, 8), whose size overflows", nilIfNil(blk), err, backend.ErrOutOfMemory, "NewBlock")
	for _, sh := range [][2]int{{5, 2}, {3, 5}, {0, 12}, {12, 0}, {-3, -4}, {-12, -1}, {13, 1}} {
		w, err := b.Reshape(base, sh[0], sh[1])
		wantReturned(fmt.Sprintf("Reshape(12-vector, %d, %d)", sh[0], sh[1]), nilIfNil(w), err, backend.ErrShape, "Reshape")
	}
	w, err := b.Reshape(empty, 1<<62, 4) // 2^64 elements wrap to 0 in int arithmetic
	wantReturned("Reshape(empty vector, 2^62, 4)", nilIfNil(w), err, backend.ErrShape, "Reshape")
	w, err = b.Reshape(nil, 0, 0)
	wantReturned("Reshape(nil, 0, 0)", nilIfNil(w), err, backend.ErrInvalid, "Reshape")

	// Labels.
	for _, c := range []struct {
		classes int
		y       []int
	}{{1, nil}, {1, []int{0, 0, 0}}, {3, []int{2, 0, 1, 1}}, {1000, RandClasses(Rand(12), 5000, 1000)}} {
		l := newLabels(t, b, c.classes, c.y)
		b.Free(l)
	}
	for _, c := range []struct {
		name    string
		classes int
		y       []int
	}{
		{"0 classes", 0, nil},
		{"0 classes with a label", 0, []int{0}},
		{"−1 classes", -1, []int{0}},
		{"label = classes", 3, []int{0, 1, 3}},
		{"negative label", 3, []int{0, -1, 2}},
		{"label far out", 2, []int{1 << 40}},
	} {
		l, err := b.NewLabels(c.classes, c.y)
		wantReturned("NewLabels with "+c.name, nilIfNil(l), err, backend.ErrInvalid, "NewLabels")
	}
}

// nilIfNil returns nil for a nil interface value or a nil pointer in one,
// so that a failed allocation may return either; else x.
func nilIfNil(x any) any {
	if x == nil {
		return nil
	}
	if v := reflect.ValueOf(x); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return x
}

// blockKs are the numbers of columns of the blocks of MulBlock and
// MulBlockTrans (0 for the small shapes only).
var blockKs = []int{0, 1, 3, 10}

// pickCoefs returns the (α, β) cases of one product: all of alphaBetas when
// the product is small (work multiply-adds), else two of them, rotating
// with i so that each case meets the large shapes.
func pickCoefs(i, work int) []int {
	n := len(alphaBetas)
	if work <= 20000 {
		all := make([]int, n)
		for k := range all {
			all[k] = k
		}
		return all
	}
	return []int{i % n, (i + 2) % n}
}

func (s *suite) testMulBlock(t *testing.T)      { s.mulBlock(t, false) }
func (s *suite) testMulBlockTrans(t *testing.T) { s.mulBlock(t, true) }

// mulBlock checks MulBlock (trans false) or MulBlockTrans on every matrix
// shape of the suite, with k ∈ blockKs columns.
func (s *suite) mulBlock(t *testing.T, trans bool) {
	b := s.backend(t)
	op := "MulBlock"
	if trans {
		op = "MulBlockTrans"
	}
	eachShape(t, b, func(seed uint64, m *HostMatrix, a backend.Matrix) {
		r := Rand(seed)
		in, out := m.Cols, m.Rows
		if trans {
			in, out = out, in
		}
		size := max(m.NNZ(), m.Rows, m.Cols)
		for ki, k := range blockKs {
			if (k == 0 && size > 1000) || (k == 10 && size > 100000) {
				continue // keep the emulated backends quick
			}
			w := RandVector(r, in*k)
			wv := newBlock(t, b, in, k, w)
			var p, pMag []float64
			if trans {
				p, pMag = refMulBlockTrans(m, w, k)
			} else {
				p, pMag = refMulBlock(m, w, k)
			}
			for _, ci := range pickCoefs(int(seed)+ki, size*k) {
				ab := alphaBetas[ci]
				d := RandVector(r, out*k)
				if ab.nanDst {
					d = withNaN(d)
				}
				dv := newBlock(t, b, out, k, d)
				if trans {
					b.MulBlockTrans(dv, ab.alpha, a, wv, ab.beta)
				} else {
					b.MulBlock(dv, ab.alpha, a, wv, ab.beta)
				}
				what := fmt.Sprintf("%s %v k=%d %s (seed %d)", op, m, k, coef(ab.alpha, ab.beta, ab.nanDst), seed)
				if noErr(t, b, what) {
					ref, mag := combine(ab.alpha, p, pMag, ab.beta, d)
					checkVec(t, what, get(t, b, dv), ref, mag)
					checkExact(t, what+": W", get(t, b, wv), w)
				}
				b.Free(dv)
			}
			b.Free(wv)
		}
	})
}

// gemmShapes are the m×n×k shapes of the Gemm tests: empty ones (k = 0
// among them: dst ← β·dst), tiny and odd ones, and ones large enough for a
// parallel backend to split the rows (1003×10×67) or the inner dimension
// (3×3×20011).
var gemmShapes = [][3]int{
	{0, 0, 0}, {0, 3, 4}, {3, 0, 4}, {3, 4, 0}, {0, 0, 5}, {1, 1, 1}, {2, 1, 5}, {1, 6, 1}, {7, 5, 3}, {5, 7, 11},
	{33, 17, 65}, {64, 64, 64}, {1003, 10, 67}, {10, 1003, 7}, {3, 3, 20011},
}

var transposes = []backend.Transpose{backend.NoTrans, backend.Trans}

// stored returns the stored shape of an operand whose op(X) is r×c.
func stored(r, c int, tr backend.Transpose) (int, int) {
	if tr == backend.Trans {
		return c, r
	}
	return r, c
}

// testGemm checks Gemm on every shape and transposition.
func (s *suite) testGemm(t *testing.T) {
	b := s.backend(t)
	for si, sh := range gemmShapes {
		m, n, k := sh[0], sh[1], sh[2]
		for _, ta := range transposes {
			for _, tb := range transposes {
				seed := uint64(3000 + 4*si)
				if ta {
					seed++
				}
				if tb {
					seed += 2
				}
				r := Rand(seed)
				ar, ac := stored(m, k, ta)
				br, bc := stored(k, n, tb)
				am, bm := RandVector(r, ar*ac), RandVector(r, br*bc)
				av, bv := newBlock(t, b, ar, ac, am), newBlock(t, b, br, bc, bm)
				p, pMag := refGemmProduct(am, ac, ta, bm, bc, tb, m, n, k)
				for _, ci := range pickCoefs(int(seed), m*n*k) {
					ab := alphaBetas[ci]
					d := RandVector(r, m*n)
					if ab.nanDst || k == 0 {
						d = withNaN(d)
					}
					dv := newBlock(t, b, m, n, d)
					b.Gemm(dv, ab.alpha, av, ta, bv, tb, ab.beta)
					what := fmt.Sprintf("Gemm %d×%d×%d %v%v %s (seed %d)", m, n, k, ta, tb, coef(ab.alpha, ab.beta, ab.nanDst || k == 0), seed)
					if noErr(t, b, what) {
						ref, mag := combine(ab.alpha, p, pMag, ab.beta, d)
						checkVecIEEE(t, what, get(t, b, dv), ref, mag)
						checkExact(t, what+": A", get(t, b, av), am)
						checkExact(t, what+": B", get(t, b, bv), bm)
					}
					b.Free(dv)
				}
				b.Free(av)
				b.Free(bv)
			}
		}
	}

	// A and B the same block (AᵀA, AAᵀ, A·A, AᵀAᵀ), or views of the same
	// storage with different shapes.
	for _, sh := range [][2]int{{37, 11}, {11, 11}, {1, 5}} {
		ar, ac := sh[0], sh[1]
		am := RandVector(Rand(uint64(ar)), ar*ac)
		av := newBlock(t, b, ar, ac, am)
		for _, ta := range transposes {
			for _, tb := range transposes {
				m, k := stored(ar, ac, ta)
				k2, n := stored(ar, ac, tb)
				if k != k2 {
					continue
				}
				d := withNaN(RandVector(Rand(7), m*n))
				dv := newBlock(t, b, m, n, d)
				b.Gemm(dv, 1.5, av, ta, av, tb, 0)
				what := fmt.Sprintf("Gemm(dst, α, A, %v, A, %v, 0) A %d×%d", ta, tb, ar, ac)
				if noErr(t, b, what) {
					p, pMag := refGemmProduct(am, ac, ta, am, ac, tb, m, n, k)
					ref, mag := combine(1.5, p, pMag, 0, nil)
					checkVec(t, what, get(t, b, dv), ref, mag)
					checkExact(t, what+": A", get(t, b, av), am)
				}
				b.Free(dv)
			}
		}
		b.Free(av)
	}
	x := RandVector(Rand(13), 12)
	xv := newVec(t, b, x)
	a34, err := b.Reshape(xv, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	a43, err := b.Reshape(xv, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	d := RandVector(Rand(14), 9)
	dv := newBlock(t, b, 3, 3, d)
	b.Gemm(dv, -1, a34, backend.NoTrans, a43, backend.NoTrans, 0.5)
	if noErr(t, b, "Gemm of two views of one vector") {
		p, pMag := refGemmProduct(x, 4, backend.NoTrans, x, 3, backend.NoTrans, 3, 3, 4)
		ref, mag := combine(-1, p, pMag, 0.5, d)
		checkVec(t, "Gemm(dst, α, X as 3×4, N, X as 4×3, N, β)", get(t, b, dv), ref, mag)
	}
}

// testProductSpecials checks the IEEE rules of the products: α = 0
// multiplies (0·Inf = NaN), β = 0 overwrites a NaN in dst, and β ≠ 0
// propagates it.
func (s *suite) testProductSpecials(t *testing.T) {
	b := s.backend(t)
	inf, nan := math.Inf(1), math.NaN()
	// Dense and CSR (no duplicate entries, so that the place of every
	// 0·Inf is the same whether a backend sums duplicates first or not).
	de := RandDense(Rand(15), 5, 4)
	de.Dense[1*4+2] = inf // X_12
	sp := &HostMatrix{Rows: 5, Cols: 4, Format: backend.CSR, Indptr: []int{0, 2, 3, 3, 6, 7},
		Indices: []int{3, 0, 2, 0, 1, 3, 2}, Data: []float64{1.5, -2, inf, 0.5, -1, 2, 3}}
	const k = 3
	for _, m := range []*HostMatrix{de, sp} {
		a := newMat(t, b, m)
		for _, trans := range []bool{false, true} {
			in, out := m.Cols, m.Rows
			if trans {
				in, out = out, in
			}
			w := RandVector(Rand(16), in*k)
			w[1*k+1] = -inf // an infinite operand, also where X is finite
			wv := newBlock(t, b, in, k, w)
			var p, pMag []float64
			if trans {
				p, pMag = refMulBlockTrans(m, w, k)
			} else {
				p, pMag = refMulBlock(m, w, k)
			}
			for _, ab := range []struct{ alpha, beta float64 }{{0, 0}, {0, 1}, {1, 0}, {2, -1}} {
				d := withNaN(RandVector(Rand(17), out*k))
				d[out*k-1] = inf
				dv := newBlock(t, b, out, k, d)
				op := "MulBlock"
				if trans {
					op = "MulBlockTrans"
					b.MulBlockTrans(dv, ab.alpha, a, wv, ab.beta)
				} else {
					b.MulBlock(dv, ab.alpha, a, wv, ab.beta)
				}
				what := fmt.Sprintf("%s %v with ±Inf in X and W %s, NaN and Inf in dst", op, m, coef(ab.alpha, ab.beta, false))
				if noErr(t, b, what) {
					ref, mag := combine(ab.alpha, p, pMag, ab.beta, d)
					mustHaveNaN(t, what, ref, ab.alpha == 0)
					checkVecIEEE(t, what, get(t, b, dv), ref, mag)
				}
				b.Free(dv)
			}
			b.Free(wv)
		}
		b.FreeMatrix(a)
	}

	// Gemm: Inf in A, NaN in B.
	for _, ta := range transposes {
		for _, tb := range transposes {
			const m, n, k = 4, 5, 3
			ar, ac := stored(m, k, ta)
			br, bc := stored(k, n, tb)
			am, bm := RandVector(Rand(18), ar*ac), RandVector(Rand(19), br*bc)
			am[0], bm[len(bm)-1] = inf, nan
			av, bv := newBlock(t, b, ar, ac, am), newBlock(t, b, br, bc, bm)
			p, pMag := refGemmProduct(am, ac, ta, bm, bc, tb, m, n, k)
			for _, ab := range []struct{ alpha, beta float64 }{{0, 0}, {0, 0.5}, {-1, 0}, {1, 1}} {
				d := withNaN(RandVector(Rand(20), m*n))
				dv := newBlock(t, b, m, n, d)
				b.Gemm(dv, ab.alpha, av, ta, bv, tb, ab.beta)
				what := fmt.Sprintf("Gemm %d×%d×%d %v%v with Inf in A, NaN in B %s, NaN in dst", m, n, k, ta, tb, coef(ab.alpha, ab.beta, false))
				if noErr(t, b, what) {
					ref, mag := combine(ab.alpha, p, pMag, ab.beta, d)
					mustHaveNaN(t, what, ref, ab.alpha == 0)
					checkVecIEEE(t, what, get(t, b, dv), ref, mag)
				}
				b.Free(dv)
			}
			b.Free(av)
			b.Free(bv)
		}
	}
	// Gemm with k = 0 is documented as dst ← β·dst (0 when β = 0): α
	// plays no part, even when it is infinite or NaN.
	av, bv := newBlock(t, b, 2, 0, nil), newBlock(t, b, 0, 2, nil)
	for _, c := range []struct {
		alpha, beta float64
		want        []float64
	}{{1, 0, []float64{0, 0, 0, 0}}, {inf, 0, []float64{0, 0, 0, 0}}, {3, -2, []float64{nan, -2, inf, -4}}, {nan, 1, []float64{nan, 1, -inf, 2}}} {
		dv := newBlock(t, b, 2, 2, []float64{nan, 1, -inf, 2})
		b.Gemm(dv, c.alpha, av, backend.NoTrans, bv, backend.NoTrans, c.beta)
		what := fmt.Sprintf("Gemm 2×2×0 %s over [NaN 1 −Inf 2]", coef(c.alpha, c.beta, false))
		if noErr(t, b, what) {
			checkSame(t, what, get(t, b, dv), c.want)
		}
		b.Free(dv)
	}
}

// mustHaveNaN reports a reference that lacks the NaN of a 0·Inf that the
// case is built to produce (when want), a defect of the test itself.
func mustHaveNaN(t *testing.T, what string, ref []float64, want bool) {
	t.Helper()
	if !want {
		return
	}
	for _, v := range ref {
		if math.IsNaN(v) {
			return
		}
	}
	t.Fatalf("%s: the reference holds no NaN from 0·Inf", what)
}
