package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// eachBlockShape calls f with every shape of blockShapes and a seed.
func eachBlockShape(f func(seed uint64, rows, cols int)) {
	for k, sh := range blockShapes {
		f(uint64(4000+k), sh[0], sh[1])
	}
}

// testScaleRowsCols checks ScaleRows and ScaleCols, out of place and in
// place, exactly: each element is one product. v holds a zero where a holds
// an infinity, so 0·Inf = NaN must appear.
func (s *suite) testScaleRowsCols(t *testing.T) {
	b := s.backend(t)
	eachBlockShape(func(seed uint64, rows, cols int) {
		r := Rand(seed)
		a := RandVector(r, rows*cols)
		vr, vc := RandVector(r, rows), RandVector(r, cols)
		if rows > 1 && cols > 1 {
			a[cols+1] = math.Inf(1) // a_11
			vr[1], vc[1] = 0, 0
			a[0], vr[0], vc[0] = math.NaN(), math.Inf(-1), math.Inf(-1)
		}
		av, vrv, vcv := newBlock(t, b, rows, cols, a), newVec(t, b, vr), newVec(t, b, vc)
		for _, inPlace := range []bool{false, true} {
			for _, byRow := range []bool{true, false} {
				b.Upload(av, a)
				dv := av
				if !inPlace {
					dv = newBlock(t, b, rows, cols, withNaN(RandVector(r, rows*cols)))
				}
				var ref []float64
				op := "ScaleRows"
				if byRow {
					b.ScaleRows(dv, vrv, av)
					ref = refScaleRows(vr, a, rows, cols)
				} else {
					op = "ScaleCols"
					b.ScaleCols(dv, av, vcv)
					ref = refScaleCols(a, vc, rows, cols)
				}
				what := fmt.Sprintf("%s %d×%d in place=%v (seed %d)", op, rows, cols, inPlace, seed)
				if noErr(t, b, what) {
					checkSame(t, what, get(t, b, dv), ref)
					if !inPlace {
						checkExact(t, what+": a", get(t, b, av), a)
					}
					checkExact(t, what+": v", get(t, b, vrv), vr)
					checkExact(t, what+": v", get(t, b, vcv), vc)
				}
				if !inPlace {
					b.Free(dv)
				}
			}
		}
		b.Free(av)
		b.Free(vrv)
		b.Free(vcv)
	})

	// v may be a (a column for ScaleRows, a row for ScaleCols), and dst
	// may be both.
	x := RandVector(Rand(4100), 5)
	sq := refScaleRows(x, x, 5, 1)
	col, row := newBlock(t, b, 5, 1, x), newBlock(t, b, 1, 5, x)
	for _, c := range []struct {
		name string
		in   backend.Block
		do   func(dst backend.Block)
	}{
		{"ScaleRows(dst, a, a)", col, func(d backend.Block) { b.ScaleRows(d, col, col) }},
		{"ScaleCols(dst, a, a)", row, func(d backend.Block) { b.ScaleCols(d, row, row) }},
	} {
		r, cc := c.in.Dims()
		dv := newBlock(t, b, r, cc, nil)
		c.do(dv)
		if noErr(t, b, c.name) {
			checkSame(t, c.name, get(t, b, dv), sq)
			checkExact(t, c.name+": a", get(t, b, c.in), x)
		}
		b.Free(dv)
	}
}

// sumsCoefs are the (α, β) cases of RowSums and ColSums: alphaBetas and
// α = 0 over an infinite element.
var sumsCoefs = append(append([]struct {
	alpha, beta float64
	nanDst      bool
}(nil), alphaBetas...), struct {
	alpha, beta float64
	nanDst      bool
}{0, 0, true})

// testRowColSums checks RowSums and ColSums on every block shape and
// coefficient case; the last case (α = 0) has an infinity in a, whose
// row and column sums must be NaN.
func (s *suite) testRowColSums(t *testing.T) {
	b := s.backend(t)
	eachBlockShape(func(seed uint64, rows, cols int) {
		r := Rand(seed)
		a := RandVector(r, rows*cols)
		for ci, ab := range sumsCoefs {
			last := ci == len(sumsCoefs)-1
			if last && len(a) > 0 {
				a = append([]float64(nil), a...)
				a[len(a)/2] = math.Inf(-1)
			}
			av := newBlock(t, b, rows, cols, a)
			for _, byRow := range []bool{true, false} {
				n, op := cols, "ColSums"
				if byRow {
					n, op = rows, "RowSums"
				}
				d := RandVector(r, n)
				if ab.nanDst {
					d = withNaN(d)
				}
				dv := newVec(t, b, d)
				var p, pMag []float64
				if byRow {
					b.RowSums(dv, ab.alpha, av, ab.beta)
					p, pMag = refRowSums(a, rows, cols)
				} else {
					b.ColSums(dv, ab.alpha, av, ab.beta)
					p, pMag = refColSums(a, rows, cols)
				}
				what := fmt.Sprintf("%s %d×%d %s%s (seed %d)", op, rows, cols, coef(ab.alpha, ab.beta, ab.nanDst),
					map[bool]string{true: " −Inf in a", false: ""}[last], seed)
				if noErr(t, b, what) {
					ref, mag := combine(ab.alpha, p, pMag, ab.beta, d)
					mustHaveNaN(t, what, ref, last && n > 0 && len(a) > 0)
					checkVecIEEE(t, what, get(t, b, dv), ref, mag)
					checkExact(t, what+": a", get(t, b, av), a)
				}
				b.Free(dv)
			}
			b.Free(av)
		}
	})
}

func (s *suite) testRowNorms(t *testing.T) {
	b := s.backend(t)
	eachBlockShape(func(seed uint64, rows, cols int) {
		r := Rand(seed)
		a := RandVector(r, rows*cols)
		av := newBlock(t, b, rows, cols, a)
		for _, c := range []float64{0, 1e-8, 2.5} {
			dv := newVec(t, b, withNaN(RandVector(r, rows)))
			b.RowNorms(dv, av, c)
			what := fmt.Sprintf("RowNorms %d×%d c=%g (seed %d)", rows, cols, c, seed)
			if noErr(t, b, what) {
				ref, mag := refRowNorms(a, rows, cols, c)
				checkVec(t, what, get(t, b, dv), ref, mag)
				checkExact(t, what+": a", get(t, b, av), a)
			}
			b.Free(dv)
		}
		b.Free(av)
	})
	// Scaled entries (the documented sum is plain: no overflow below 1e154),
	// and special values: NaN → NaN, ±Inf → +Inf.
	inf := math.Inf(1)
	a := []float64{
		3e150, -4e150, 0,
		3e-150, 4e-150, 0,
		math.NaN(), 1, inf,
		1, -inf, 2,
		0, math.Copysign(0, -1), 0,
	}
	av, dv := newBlock(t, b, 5, 3, a), newVec(t, b, make([]float64, 5))
	for _, c := range []float64{0, 1} {
		b.RowNorms(dv, av, c)
		what := fmt.Sprintf("RowNorms of scaled and special rows c=%g", c)
		if noErr(t, b, what) {
			ref, mag := refRowNorms(a, 5, 3, c)
			checkVecIEEE(t, what, get(t, b, dv), ref, mag)
		}
	}
}

// rowOpShapes are the shapes of Softmax, LogSumExp and CrossEntropy:
// blockShapes with at least one column where labels need one.
func rowOpShapes(labels bool) [][2]int {
	var out [][2]int
	for _, sh := range blockShapes {
		if !labels || sh[1] > 0 {
			out = append(out, sh)
		}
	}
	return out
}

func (s *suite) testSoftmaxLSE(t *testing.T) {
	b := s.backend(t)
	for k, sh := range rowOpShapes(false) {
		rows, cols := sh[0], sh[1]
		seed := uint64(5000 + k)
		r := Rand(seed)
		a := RandScores(r, rows, cols)
		av := newBlock(t, b, rows, cols, a)
		sm, smMag := refSoftmax(a, rows, cols)
		lse, lseMag := refLogSumExp(a, rows, cols)

		dv := newBlock(t, b, rows, cols, withNaN(RandVector(r, rows*cols)))
		b.Softmax(dv, av)
		what := fmt.Sprintf("Softmax %d×%d (seed %d)", rows, cols, seed)
		if noErr(t, b, what) {
			checkVecIEEE(t, what, get(t, b, dv), sm, smMag)
			checkExact(t, what+": a", get(t, b, av), a)
		}
		b.Free(dv)

		lv := newVec(t, b, withNaN(RandVector(r, rows)))
		b.LogSumExp(lv, av)
		what = fmt.Sprintf("LogSumExp %d×%d (seed %d)", rows, cols, seed)
		if noErr(t, b, what) {
			checkVecIEEE(t, what, get(t, b, lv), lse, lseMag)
			checkExact(t, what+": a", get(t, b, av), a)
		}
		b.Free(lv)

		b.Softmax(av, av)
		what = fmt.Sprintf("Softmax(a, a) %d×%d (seed %d)", rows, cols, seed)
		if noErr(t, b, what) {
			checkVecIEEE(t, what, get(t, b, av), sm, smMag)
		}
		b.Free(av)
	}
}

func (s *suite) testCrossEntropy(t *testing.T) {
	b := s.backend(t)
	for k, sh := range rowOpShapes(true) {
		rows, cols := sh[0], sh[1]
		seed := uint64(6000 + k)
		r := Rand(seed)
		a := RandScores(r, rows, cols)
		y := RandClasses(r, rows, cols)
		ref := refCrossEntropy(a, rows, cols, y)
		av, yl := newBlock(t, b, rows, cols, a), newLabels(t, b, cols, y)
		for _, c := range []struct {
			grad, loss, inPlace bool
		}{{true, true, false}, {true, false, false}, {false, true, false}, {false, false, false}, {true, true, true}, {true, false, true}} {
			b.Upload(av, a)
			var gv backend.Block
			var lv backend.Vector
			if c.grad {
				gv = av
				if !c.inPlace {
					gv = newBlock(t, b, rows, cols, withNaN(RandVector(r, rows*cols)))
				}
			}
			if c.loss {
				lv = newVec(t, b, withNaN(RandVector(r, rows)))
			}
			b.CrossEntropy(gv, lv, av, yl)
			what := fmt.Sprintf("CrossEntropy %d×%d grad=%v loss=%v grad=a:%v (seed %d)", rows, cols, c.grad, c.loss, c.inPlace, seed)
			if noErr(t, b, what) {
				if c.grad {
					checkVecIEEE(t, what+": grad", get(t, b, gv), ref.grad, ref.gradMag)
				}
				if c.loss {
					checkVecIEEE(t, what+": loss", get(t, b, lv), ref.loss, ref.lossMag)
				}
				if !c.inPlace {
					checkExact(t, what+": a", get(t, b, av), a)
				}
			}
			if c.grad && !c.inPlace {
				b.Free(gv)
			}
			if c.loss {
				b.Free(lv)
			}
		}
		b.Free(av)
		b.Free(yl)
	}
}

// testRowSpecials checks the special values of the row operations as
// documented: NaN anywhere in a row makes the row's softmax, log-sum-exp
// and loss NaN; +Inf makes the softmax NaN and the log-sum-exp +Inf; a row
// of −Inf has a NaN softmax and a log-sum-exp of −Inf; an empty row has a
// log-sum-exp of −Inf; scores far beyond exp's range work.
func (s *suite) testRowSpecials(t *testing.T) {
	b := s.backend(t)
	inf, nan := math.Inf(1), math.NaN()
	const cols = 4
	a := []float64{
		1, 2, 3, 4,
		nan, 1, 2, 3,
		1, inf, 2, 3,
		-inf, -inf, -inf, -inf,
		-inf, 0, 1, -inf,
		inf, nan, 1, 1,
		inf, inf, 0, 0,
		-inf, inf, 0, 0,
		1000, 999, -1000, 0,
		-1000, -1001, -1002, -1003,
		math.MaxFloat64, math.MaxFloat64, 0, 0,
		math.Copysign(0, -1), 0, math.Copysign(0, -1), 0,
		-inf, 0.5, 0.25, -inf,
		2, 2, 2, 2,
	}
	y := []int{3, 1, 1, 2, 0, 2, 2, 1, 2, 0, 0, 3, 2, 0}
	rows := len(a) / cols
	if len(y) != rows {
		t.Fatalf("the test has %d labels for %d rows", len(y), rows)
	}
	av, yl := newBlock(t, b, rows, cols, a), newLabels(t, b, cols, y)
	// Each row is compared on its own: the magnitudes of the rows differ
	// by hundreds of orders.
	byRow := func(what string, got, ref, mag []float64, n int) {
		t.Helper()
		for i := range rows {
			checkVecIEEE(t, fmt.Sprintf("%s: row %d %v", what, i, a[i*cols:(i+1)*cols]), got[i*n:(i+1)*n], ref[i*n:(i+1)*n], mag[i*n:(i+1)*n])
		}
	}

	sm, smMag := refSoftmax(a, rows, cols)
	dv := newBlock(t, b, rows, cols, nil)
	b.Softmax(dv, av)
	if noErr(t, b, "Softmax of special rows") {
		byRow("Softmax", get(t, b, dv), sm, smMag, cols)
	}
	lse, lseMag := refLogSumExp(a, rows, cols)
	lv := newVec(t, b, make([]float64, rows))
	b.LogSumExp(lv, av)
	if noErr(t, b, "LogSumExp of special rows") {
		byRow("LogSumExp", get(t, b, lv), lse, lseMag, 1)
	}
	ref := refCrossEntropy(a, rows, cols, y)
	b.Fill(dv, 7)
	b.Fill(lv, 7)
	b.CrossEntropy(dv, lv, av, yl)
	if noErr(t, b, "CrossEntropy of special rows") {
		byRow("CrossEntropy grad", get(t, b, dv), ref.grad, ref.gradMag, cols)
		byRow("CrossEntropy loss", get(t, b, lv), ref.loss, ref.lossMag, 1)
	}
	// The documented values, spelled out, so that the reference is checked too.
	wantLSE := map[int]float64{1: nan, 2: inf, 3: math.Inf(-1), 5: nan, 6: inf, 7: inf}
	for i, w := range wantLSE {
		if math.IsNaN(w) != math.IsNaN(lse[i]) || (!math.IsNaN(w) && lse[i] != w) {
			t.Errorf("test reference: LSE of row %d is %v, documented %v", i, lse[i], w)
		}
	}
	for _, i := range []int{1, 2, 3, 5, 6, 7} {
		for j := range cols {
			if !math.IsNaN(sm[i*cols+j]) {
				t.Errorf("test reference: softmax of row %d is not NaN", i)
			}
		}
	}
	if l := ref.loss[4]; l != inf { // a label at −Inf in a row with a finite maximum
		t.Errorf("test reference: loss of row 4 is %v, want +Inf", l)
	}

	// Empty rows: LSE = −Inf; softmax and cross-entropy of 0 rows.
	for _, sh := range [][2]int{{3, 0}, {0, 0}, {0, 3}} {
		ev := newBlock(t, b, sh[0], sh[1], nil)
		lv := newVec(t, b, withNaN(make([]float64, sh[0])))
		b.LogSumExp(lv, ev)
		what := fmt.Sprintf("LogSumExp of a %d×%d block", sh[0], sh[1])
		if noErr(t, b, what) {
			want := make([]float64, sh[0])
			for i := range want {
				want[i] = math.Inf(-1)
			}
			checkSame(t, what, get(t, b, lv), want)
		}
		b.Softmax(ev, ev)
		noErr(t, b, fmt.Sprintf("Softmax of a %d×%d block", sh[0], sh[1]))
		b.Free(ev)
		b.Free(lv)
	}
	ev, el := newBlock(t, b, 0, 3, nil), newLabels(t, b, 3, nil)
	ll := newVec(t, b, nil)
	b.CrossEntropy(ev, ll, ev, el)
	noErr(t, b, "CrossEntropy of 0 rows")
}
