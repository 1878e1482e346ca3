package data

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// textWantErr fails unless err is an *Error of kind for file path whose
// message contains every one of subs.
func textWantErr(t *testing.T, err error, kind error, path string, subs ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *data.Error", err, err)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q has kind %v, want %v", err, e.Kind, kind)
	}
	if e.Path != path {
		t.Fatalf("error %q names file %q, want %q", err, e.Path, path)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not say %q", err, s)
		}
	}
}

// textSameMatrix fails unless got equals want exactly (layout, shape, arrays).
func textSameMatrix(t *testing.T, got, want *Matrix) {
	t.Helper()
	if got.Rows != want.Rows || got.Cols != want.Cols || got.IsCSR() != want.IsCSR() ||
		!slices.Equal(got.Data, want.Data) || !slices.Equal(got.Indptr, want.Indptr) || !slices.Equal(got.Indices, want.Indices) {
		t.Fatalf("matrix\n got %+v\nwant %+v", got, want)
	}
	if err := got.check("X"); err != nil {
		t.Fatal(err)
	}
}

func TestReadLIBSVM(t *testing.T) {
	// Comments, blank lines, CRLF, tabs, trailing blanks, a BOM, an
	// out-of-order line (stored sorted), an explicit zero, an empty row and
	// every label spelling.
	in := "\uFEFF# a header comment\n" +
		"+1 1:0.5 3:-2   \r\n" +
		"\n" +
		"-1\t2:1e-3\t4:7 # trailing comment\n" +
		"   \t \n" +
		"3 4:1 1:2 2:0\r\n" +
		"1.5e0\n" +
		"0 3:4.25"
	x, y, err := ReadLIBSVM(strings.NewReader(in), "a.svm", TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := NewCSR(5, 4, []int{0, 2, 4, 7, 7, 8}, []int{0, 2, 1, 3, 0, 1, 3, 2}, []float64{0.5, -2, 1e-3, 7, 2, 0, 1, 4.25})
	textSameMatrix(t, x, want)
	if !slices.Equal(y, []float64{1, -1, 3, 1.5, 0}) {
		t.Fatalf("labels %v", y)
	}

	// Features fixes the column count; ZeroBased shifts the indices.
	x, _, err = ReadLIBSVM(strings.NewReader("1 2:1\n-1 1:3\n"), "b.svm", TextOptions{Features: 6})
	if err != nil {
		t.Fatal(err)
	}
	textSameMatrix(t, x, NewCSR(2, 6, []int{0, 1, 2}, []int{1, 0}, []float64{1, 3}))
	x, _, err = ReadLIBSVM(strings.NewReader("1 0:1 2:2\n-1\n"), "c.svm", TextOptions{ZeroBased: true})
	if err != nil {
		t.Fatal(err)
	}
	textSameMatrix(t, x, NewCSR(2, 3, []int{0, 2, 2}, []int{0, 2}, []float64{1, 2}))
	// A file of labels only has no columns.
	x, y, err = ReadLIBSVM(strings.NewReader("1\n2\n"), "d.svm", TextOptions{})
	if err != nil || x.Rows != 2 || x.Cols != 0 || len(y) != 2 {
		t.Fatalf("labels only: %+v %v %v", x, y, err)
	}
}

func TestReadLIBSVMErrors(t *testing.T) {
	for _, c := range []struct {
		in   string
		o    TextOptions
		kind error
		subs []string
	}{
		{"", TextOptions{}, ErrShape, []string{"no data lines"}},
		{"# only a comment\n\n", TextOptions{}, ErrShape, []string{"no data lines"}},
		{"1 1:1\nx 1:2\n", TextOptions{}, ErrFormat, []string{"line 2: label \"x\" is not a number"}},
		{"1 1:1\n\n1 3:abc\n", TextOptions{}, ErrFormat, []string{`line 3: token "3:abc": value "abc" is not a number`}},
		{"1 1:1:1\n", TextOptions{}, ErrFormat, []string{"line 1:", `value "1:1" is not a number`}},
		{"1 1:\n", TextOptions{}, ErrFormat, []string{"line 1:", "missing value"}},
		{"1 :4\n", TextOptions{}, ErrFormat, []string{"line 1:", "missing index"}},
		{"1 4\n", TextOptions{}, ErrFormat, []string{"line 1:", "want index:value"}},
		{"1 a:4\n", TextOptions{}, ErrFormat, []string{"line 1:", "not an integer"}},
		{"1 1.5:4\n", TextOptions{}, ErrFormat, []string{"line 1:", "not an integer"}},
		{"1 -1:4\n", TextOptions{}, ErrFormat, []string{"line 1:", "negative index"}},
		{"1 2:1\n1 0:4\n", TextOptions{}, ErrFormat, []string{"line 2:", "index 0 in a 1-based file", "zerobased"}},
		{"1 -1:4\n", TextOptions{ZeroBased: true}, ErrFormat, []string{"negative index"}},
		{"1 99999999999999999999:1\n", TextOptions{}, ErrFormat, []string{"line 1:", "too large"}},
		{"1 9007199254740993:1\n", TextOptions{}, ErrFormat, []string{"line 1:", "too large"}},
		{"1 2147483648:1\n", TextOptions{}, ErrTooLarge, []string{"line 1:", "index 2147483648 (a matrix of 2147483648 columns", "memory limit"}},
		{"1 1:1 3:2 1:5\n", TextOptions{}, ErrFormat, []string{"line 1:", "index 1 appears twice"}},
		{"1 2:1 2:1\n", TextOptions{}, ErrFormat, []string{"line 1:", "index 2 appears twice"}},
		{"1 0:1 0:1\n", TextOptions{ZeroBased: true}, ErrFormat, []string{"index 0 appears twice"}},
		{"1 qid:3 1:1\n", TextOptions{}, ErrFormat, []string{"line 1:", "qid"}},
		{"1 1:1\n1 5:1\n", TextOptions{Features: 4}, ErrShape, []string{"line 2:", "beyond the 4 features"}},
		{"1 4:1\n", TextOptions{Features: 4, ZeroBased: true}, ErrShape, []string{"line 1:", "beyond the 4 features"}},
		{"1 1:NaN\n", TextOptions{}, ErrNonFinite, []string{"line 1:", "NaN"}},
		{"1 1:1\n1 1:-inf\n", TextOptions{}, ErrNonFinite, []string{"line 2:", "-Inf"}},
		{"1 1:1e999\n", TextOptions{}, ErrNonFinite, []string{"line 1:", "+Inf"}},
		{"nan 1:1\n", TextOptions{}, ErrNonFinite, []string{"line 1: label"}},
		{"1 1:1\n1 " + strings.Repeat("1", 200) + ":1\n", TextOptions{MaxLineBytes: 100}, ErrFormat, []string{"line 2:", "line too long"}},
		{"1 1:1\n", TextOptions{Features: -1}, ErrOption, []string{"Features"}},
		{"1 1:1\n", TextOptions{MaxBytes: -1}, ErrOption, []string{"MaxBytes"}},
		{"1 1:1\n", TextOptions{MaxLineBytes: -1}, ErrOption, []string{"MaxLineBytes"}},
		{"1 1:1\n", TextOptions{Features: 1 << 40}, ErrTooLarge, []string{"features=1099511627776"}},
	} {
		_, _, err := ReadLIBSVM(strings.NewReader(c.in), "t.svm", c.o)
		if err == nil {
			t.Fatalf("ReadLIBSVM(%q, %+v): no error", c.in, c.o)
		}
		textWantErr(t, err, c.kind, "t.svm", c.subs...)
	}
	// A failing reader is an ErrFormat error at the line being read.
	_, _, err := ReadLIBSVM(iotest.ErrReader(errors.New("disk on fire")), "r.svm", TextOptions{})
	textWantErr(t, err, ErrFormat, "r.svm", "line 1: read error: disk on fire")
}

// TestReadLIBSVMBudget checks that the decoded arrays are charged as they
// grow: a budget that holds the first rows fails at a later line, and the
// whole file fits in a budget of its bytes (capacities included).
func TestReadLIBSVMBudget(t *testing.T) {
	var b strings.Builder
	for i := range 200 {
		b.WriteString("1 1:1 2:2 3:3\n")
		_ = i
	}
	in := b.String()
	_, _, err := ReadLIBSVM(strings.NewReader(in), "big.svm", TextOptions{MaxBytes: 4000})
	textWantErr(t, err, ErrTooLarge, "big.svm", "line ", "memory limit of 4000 bytes")
	var e *Error
	errors.As(err, &e)
	if strings.HasPrefix(e.Msg, "line 1:") {
		t.Fatalf("budget of 4000 bytes failed at the first line: %v", err)
	}
	// 200 rows: 600 values, 600 indices, 201 row pointers, 200 labels, plus
	// the work vectors 8·16·(200+3+1) = 26112 bytes: 64 KiB holds it all.
	x, y, err := ReadLIBSVM(strings.NewReader(in), "big.svm", TextOptions{MaxBytes: 64 << 10})
	if err != nil || x.Rows != 200 || x.Cols != 3 || x.NNZ() != 600 || len(y) != 200 {
		t.Fatalf("64 KiB budget: %v", err)
	}
	// The work-vector estimate alone: 8·16·(1+1000000+1) bytes > 100 MB.
	_, _, err = ReadLIBSVM(strings.NewReader("1 1000000:1\n"), "wide.svm", TextOptions{MaxBytes: 100e6})
	textWantErr(t, err, ErrTooLarge, "wide.svm", "line 1:", "index 1000000 (a matrix of 1000000 columns")
}

// TestLoadTextLIBSVM loads the fixtures under testdata/text: a val file with
// a larger index widens both matrices; features fixes the width; without val
// the last rows are held out.
func TestLoadTextLIBSVM(t *testing.T) {
	train, val := filepath.Join("testdata", "text", "train.svm"), filepath.Join("testdata", "text", "val.svm")
	ts, ok, err := ParseTextSource("libsvm:train=" + train + ",val=" + val + ",lambda=-2")
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	td, err := Limits{}.LoadText(ts)
	if err != nil {
		t.Fatal(err)
	}
	textSameMatrix(t, td.XTrain, NewCSR(4, 6, []int{0, 2, 3, 5, 6}, []int{0, 2, 1, 0, 3, 2}, []float64{1, 2, 0.5, -1, 3, 4}))
	textSameMatrix(t, td.XVal, NewCSR(2, 6, []int{0, 2, 3}, []int{1, 5, 0}, []float64{2, 1, -3}))
	if !slices.Equal(td.YTrain, []float64{1, -1, 1, -1}) || !slices.Equal(td.YVal, []float64{-1, 1}) || !td.HasLambda || td.Lambda != -2 {
		t.Fatalf("labels/lambda: %+v", td)
	}
	sup := &Supervised{XTrain: td.XTrain, XVal: td.XVal, YTrain: td.YTrain, YVal: td.YVal, Lambda: []float64{td.Lambda}}
	if err := sup.Validate(BinaryLabels); err != nil {
		t.Fatal(err)
	}

	ts, _, _ = ParseTextSource("libsvm:train=" + train + ",val=" + val + ",features=8")
	td, err = Limits{}.LoadText(ts)
	if err != nil || td.XTrain.Cols != 8 || td.XVal.Cols != 8 || td.HasLambda {
		t.Fatalf("features=8: %+v, %v", td, err)
	}
	ts, _, _ = ParseTextSource("libsvm:train=" + train + ",val=" + val + ",features=5")
	_, err = Limits{}.LoadText(ts)
	textWantErr(t, err, ErrShape, val, "line 1:", "beyond the 5 features")

	// Split: 4 rows, split=0.25 (default) holds out the last one; 0.5 two.
	ts, _, _ = ParseTextSource("libsvm:train=" + train)
	td, err = Limits{}.LoadText(ts)
	if err != nil {
		t.Fatal(err)
	}
	textSameMatrix(t, td.XTrain, NewCSR(3, 4, []int{0, 2, 3, 5}, []int{0, 2, 1, 0, 3}, []float64{1, 2, 0.5, -1, 3}))
	textSameMatrix(t, td.XVal, NewCSR(1, 4, []int{0, 1}, []int{2}, []float64{4}))
	if !slices.Equal(td.YTrain, []float64{1, -1, 1}) || !slices.Equal(td.YVal, []float64{-1}) {
		t.Fatalf("split labels %v %v", td.YTrain, td.YVal)
	}
	ts, _, _ = ParseTextSource("libsvm:train=" + train + ",split=0.5")
	td, err = Limits{}.LoadText(ts)
	if err != nil || td.XTrain.Rows != 2 || td.XVal.Rows != 2 || td.XVal.Indptr[2] != 3 {
		t.Fatalf("split=0.5: %+v, %v", td, err)
	}

	// The budget covers both files: the training file alone fits, not both.
	ts, _, _ = ParseTextSource("libsvm:train=" + train + ",val=" + val)
	// Train: 4 arrays of capacity 8 (256 bytes) and the work vectors
	// 8·16·(4+4+1) = 1152 bytes need 1408; it leaves limit − 168 (its
	// 21 decoded values) to val, which needs 256 + 8·16·(2+6+1) = 1408.
	if _, err = (Limits{MaxBytes: 1408 + 168}).LoadText(ts); err != nil {
		t.Fatal(err)
	}
	_, err = Limits{MaxBytes: 1408 + 167}.LoadText(ts)
	textWantErr(t, err, ErrTooLarge, val)
	_, err = Limits{MaxBytes: 1407}.LoadText(ts)
	textWantErr(t, err, ErrTooLarge, train)
	none := filepath.Join(t.TempDir(), "none.svm")
	_, err = Limits{}.LoadText(&TextSource{Format: "libsvm", Train: none, Split: 0.25})
	textWantErr(t, err, ErrFormat, none)
}

// TestLoadTextErrors covers the errors of LoadText itself.
func TestLoadTextErrors(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.svm")
	empty := filepath.Join(dir, "empty.svm")
	if err := os.WriteFile(one, []byte("1 1:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Limits{}.LoadText(&TextSource{Format: "libsvm", Train: one, Split: 0.5})
	textWantErr(t, err, ErrShape, one, "1 rows", "no training rows")
	_, err = Limits{}.LoadText(&TextSource{Format: "libsvm", Train: empty, Val: one})
	textWantErr(t, err, ErrShape, empty, "1×0")
	for _, ts := range []*TextSource{nil, {Format: "tsv", Train: one}, {Format: "csv"}, {Format: "csv", Train: one, Split: 1}, {Format: "csv", Train: one, Split: math.NaN()}} {
		_, err = Limits{}.LoadText(ts)
		textWantErr(t, err, ErrOption, "")
	}
	_, err = Limits{MaxBytes: -1}.LoadText(&TextSource{Format: "libsvm", Train: one, Val: one})
	textWantErr(t, err, ErrOption, "", "MaxBytes")
}

func TestHoldOut(t *testing.T) {
	for _, c := range []struct {
		f       float64
		n, want int
	}{{0.25, 4, 1}, {0.25, 5, 2}, {0.1, 30, 3}, {0.1, 31, 4}, {0.3, 10, 3}, {0.7, 10, 7}, {1e-9, 2, 1}, {0.5, 2, 1}} {
		got, err := holdOut(c.f, c.n)
		if err != nil || got != c.want {
			t.Fatalf("holdOut(%v, %d) = %d, %v; want %d", c.f, c.n, got, err, c.want)
		}
	}
	for _, c := range []struct {
		f float64
		n int
	}{{0.5, 1}, {0.999, 10}, {0, 10}, {1, 10}} {
		if got, err := holdOut(c.f, c.n); err == nil {
			t.Fatalf("holdOut(%v, %d) = %d, want an error", c.f, c.n, got)
		}
	}
}

// BenchmarkReadLIBSVM reads 10000 rows of 20 pairs (about 2.6 MB of text).
func BenchmarkReadLIBSVM(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		sb.WriteString(strconv.Itoa(i%2*2 - 1))
		for k := range 20 {
			sb.WriteString(" " + strconv.Itoa(1+k*50+i%50) + ":" + strconv.FormatFloat(float64(i*k)/7, 'g', -1, 64))
		}
		sb.WriteByte('\n')
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ReadLIBSVM(strings.NewReader(in), "b.svm", TextOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTextDataClassLabels(t *testing.T) {
	td := &TextData{YTrain: []float64{7, 1, 3, 1}, YVal: []float64{3, 5}}
	tr, va, c, err := td.ClassLabels()
	if err != nil || c != 4 || !slices.Equal(tr, []int{3, 0, 1, 0}) || !slices.Equal(va, []int{1, 2}) {
		t.Fatalf("%v %v %d %v", tr, va, c, err)
	}
	if !slices.Equal(td.YTrain, []float64{7, 1, 3, 1}) {
		t.Fatal("ClassLabels modified the labels")
	}
	tr, va, c, err = (&TextData{YTrain: []float64{-1, 1}, YVal: []float64{1}}).ClassLabels()
	if err != nil || c != 2 || !slices.Equal(tr, []int{0, 1}) || !slices.Equal(va, []int{1}) {
		t.Fatalf("%v %v %d %v", tr, va, c, err)
	}
	_, _, _, err = (&TextData{YTrain: []float64{1, 2.5}, YVal: []float64{1}}).ClassLabels()
	textWantErr(t, err, ErrLabels, "", "y_train[1] = 2.5")
	_, _, _, err = (&TextData{YTrain: []float64{1, 2}, YVal: []float64{1e300}}).ClassLabels()
	textWantErr(t, err, ErrLabels, "", "y_val[0]")
	_, _, _, err = (&TextData{YTrain: []float64{4, 4}, YVal: []float64{4}}).ClassLabels()
	textWantErr(t, err, ErrLabels, "", "1 distinct values")
}
