package data

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadCSV(t *testing.T) {
	// Header auto-detected, CRLF, blank and '#' lines, spaces around fields,
	// quoted fields, a BOM; label in the last column.
	in := "\uFEFFx1, x2 ,y\r\n" +
		"# a comment\r\n" +
		"1,2.5,+1\r\n" +
		"\r\n" +
		" -3 , 4e-1 ,\"-1\"\r\n" +
		"0,0x1p-2,1"
	x, y, err := ReadCSV(strings.NewReader(in), "a.csv", DefaultTextOptions())
	if err != nil {
		t.Fatal(err)
	}
	textSameMatrix(t, x, NewDense(3, 2, []float64{1, 2.5, -3, 0.4, 0, 0.25}))
	if !slices.Equal(y, []float64{1, -1, 1}) {
		t.Fatalf("labels %v", y)
	}

	// Label column choices on one headerless file: first, last, middle,
	// counted from the end.
	const plain = "1,2,3\n4,5,6\n"
	for _, c := range []struct {
		col   int
		x     []float64
		y     []float64
		label string
	}{
		{0, []float64{2, 3, 5, 6}, []float64{1, 4}, "first"},
		{-1, []float64{1, 2, 4, 5}, []float64{3, 6}, "last"},
		{1, []float64{1, 3, 4, 6}, []float64{2, 5}, "middle"},
		{2, []float64{1, 2, 4, 5}, []float64{3, 6}, "index 2"},
		{-3, []float64{2, 3, 5, 6}, []float64{1, 4}, "-3"},
	} {
		o := DefaultTextOptions()
		o.LabelColumn = c.col
		x, y, err := ReadCSV(strings.NewReader(plain), "p.csv", o)
		if err != nil {
			t.Fatalf("%s: %v", c.label, err)
		}
		textSameMatrix(t, x, NewDense(2, 2, c.x))
		if !slices.Equal(y, c.y) {
			t.Fatalf("%s: labels %v", c.label, y)
		}
	}

	// Header modes: "no" reads a numeric first line as data, "yes" skips it,
	// "auto" skips only a non-numeric one (pandas' ",x1,y" included); the zero
	// value takes the first column as the label.
	for _, c := range []struct {
		header, in string
		y          []float64
	}{
		{"no", plain, []float64{1, 4}}, {"yes", plain, []float64{4}}, {"auto", plain, []float64{1, 4}}, {"", plain, []float64{1, 4}},
		{"auto", ",x1,y\n7,2,3\n", []float64{7}}, {"auto", "a,b,c\n7,2,3\n", []float64{7}}, {"yes", "a,b,c\n7,2,3\n", []float64{7}},
		{"auto", "nan,inf,1\n1,2,3\n", nil},
	} {
		x, y, err := ReadCSV(strings.NewReader(c.in), "h.csv", TextOptions{Header: c.header})
		if c.y == nil {
			textWantErr(t, err, ErrNonFinite, "h.csv", "line 1:")
			continue
		}
		if err != nil || x.Rows != len(c.y) || !slices.Equal(y, c.y) {
			t.Fatalf("header %q on %q: %+v %v %v", c.header, c.in, x, y, err)
		}
	}

	// Other separators.
	for sep, in := range map[rune]string{';': "1;2\n3;4\n", '\t': "1\t2\n3\t4\n", ' ': "1 2\n3 4\n", '|': "1|2\n3|4\n"} {
		o := DefaultTextOptions()
		o.Comma = sep
		x, y, err := ReadCSV(strings.NewReader(in), "s.csv", o)
		if err != nil {
			t.Fatalf("sep %q: %v", sep, err)
		}
		textSameMatrix(t, x, NewDense(2, 1, []float64{1, 3}))
		if !slices.Equal(y, []float64{2, 4}) {
			t.Fatalf("sep %q: labels %v", sep, y)
		}
	}
}

func TestReadCSVErrors(t *testing.T) {
	d := DefaultTextOptions()
	with := func(f func(*TextOptions)) TextOptions { o := d; f(&o); return o }
	for _, c := range []struct {
		in   string
		o    TextOptions
		kind error
		subs []string
	}{
		{"", d, ErrShape, []string{"no data records"}},
		{"a,b,c\n", d, ErrShape, []string{"no data records"}},
		{"1,2,3\n", with(func(o *TextOptions) { o.Header = "yes" }), ErrShape, []string{"no data records"}},
		{"1\n2\n", d, ErrShape, []string{"line 1:", "1 field per record"}},
		{"1,2,3\n4,5\n", d, ErrFormat, []string{"line 2: 2 fields, want 3 (as on line 1)"}},
		{"a,b,c\n\n1,2,3\n4,5,6,7\n", d, ErrFormat, []string{"line 4: 4 fields, want 3 (as on line 1)"}},
		{"1,2,3\n4,,6\n", d, ErrFormat, []string{"line 2: column 1: missing value"}},
		{"1,,3\n4,5,6\n", d, ErrFormat, []string{"line 1: column 1: missing value"}}, // not a header
		{"1,2,3\n4, ,6\n", d, ErrFormat, []string{"line 2: column 1: missing value"}},
		{"1,2,3\n4,abc,6\n", d, ErrFormat, []string{`line 2: column 1: value "abc" is not a number`}},
		{"1,2,3\n4,5,NA\n", d, ErrFormat, []string{`line 2: column 2: value "NA" is not a number`}},
		{"1,2,3\n4,\"5\n", d, ErrFormat, []string{"line 2:", "quote"}},
		{"1,2,3\n4,5\"x,6\n", d, ErrFormat, []string{"line 2:", "quote"}},
		{"1,2,3\n4,\"5\"  ,6\n", d, ErrFormat, []string{"line 2:", "quote"}},
		{"1,2,3\n4,NaN,6\n", d, ErrNonFinite, []string{"line 2: column 1:", "NaN"}},
		{"1,2,3\r\n4,5,-Inf\r\n", d, ErrNonFinite, []string{"line 2: column 2:", "-Inf"}},
		{"1,2,1e400\n", d, ErrNonFinite, []string{"line 1: column 2:", "+Inf"}},
		{"1,2,3\n", with(func(o *TextOptions) { o.LabelColumn = 3 }), ErrOption, []string{"line 1:", "label column 3"}},
		{"1,2,3\n", with(func(o *TextOptions) { o.LabelColumn = -4 }), ErrOption, []string{"label column -4"}},
		{"1,2,3\n1," + strings.Repeat("7", 200) + ",3\n", with(func(o *TextOptions) { o.MaxLineBytes = 100 }), ErrFormat, []string{"line 2:", "line too long"}},
		{"1,2,3\n\"1\n" + strings.Repeat("7\n", 40000) + "\",2,3\n", with(func(o *TextOptions) { o.MaxLineBytes = 10 }), ErrFormat, []string{"record too long"}},
		{"1,2\n", with(func(o *TextOptions) { o.Header = "maybe" }), ErrOption, []string{"Header"}},
		{"1,2\n", with(func(o *TextOptions) { o.Comma = '#' }), ErrOption, []string{"Comma"}},
		{"1,2\n", with(func(o *TextOptions) { o.Comma = '"' }), ErrOption, []string{"Comma"}},
		{"1,2\n", with(func(o *TextOptions) { o.Comma = -5 }), ErrOption, []string{"Comma"}},
		{"1,2\n", with(func(o *TextOptions) { o.MaxBytes = -1 }), ErrOption, []string{"MaxBytes"}},
	} {
		_, _, err := ReadCSV(strings.NewReader(c.in), "t.csv", c.o)
		if err == nil {
			t.Fatalf("ReadCSV(%q, %+v): no error", c.in, c.o)
		}
		textWantErr(t, err, c.kind, "t.csv", c.subs...)
	}
	_, _, err := ReadCSV(iotest.ErrReader(errors.New("disk on fire")), "r.csv", d)
	textWantErr(t, err, ErrFormat, "r.csv", "line 1: read error: disk on fire")
}

func TestReadCSVBudget(t *testing.T) {
	in := strings.Repeat("1,2,3,4\n", 100)
	o := DefaultTextOptions()
	o.MaxBytes = 2000
	_, _, err := ReadCSV(strings.NewReader(in), "big.csv", o)
	textWantErr(t, err, ErrTooLarge, "big.csv", "line ", "memory limit of 2000 bytes")
	var e *Error
	errors.As(err, &e)
	if strings.HasPrefix(e.Msg, "line 1:") {
		t.Fatalf("budget of 2000 bytes failed at the first line: %v", err)
	}
	// 100 rows of 4 values: 3200 bytes decoded; with capacities (300 values
	// → 512, 100 labels → 128) 5120 bytes.
	o.MaxBytes = 5120
	x, y, err := ReadCSV(strings.NewReader(in), "big.csv", o)
	if err != nil || x.Rows != 100 || x.Cols != 3 || len(y) != 100 {
		t.Fatalf("5120-byte budget: %v", err)
	}
}

// TestLoadTextCSV loads the CSV fixtures under testdata/text (a header, the
// label in the first column, ';' separators).
func TestLoadTextCSV(t *testing.T) {
	train, val := filepath.Join("testdata", "text", "train.csv"), filepath.Join("testdata", "text", "val.csv")
	ts, ok, err := ParseTextSource("csv:train=" + train + ",val=" + val + ",label=first,sep=;,header=yes")
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	td, err := Limits{}.LoadText(ts)
	if err != nil {
		t.Fatal(err)
	}
	textSameMatrix(t, td.XTrain, NewDense(3, 2, []float64{0.5, 1, -1, 2, 3, -0.25}))
	textSameMatrix(t, td.XVal, NewDense(2, 2, []float64{1, 1, 2, 2}))
	if !slices.Equal(td.YTrain, []float64{1, 0, 1}) || !slices.Equal(td.YVal, []float64{0, 1}) || td.HasLambda {
		t.Fatalf("labels %+v", td)
	}
	sup := &Supervised{XTrain: td.XTrain, XVal: td.XVal, YTrain: td.YTrain, YVal: td.YVal, Lambda: []float64{0, 0}}
	if err := sup.NormalizeBinaryLabels(); err != nil {
		t.Fatal(err)
	}
	if err := sup.Validate(BinaryLabels); err != nil {
		t.Fatal(err)
	}

	// Split: the last ⌈0.25·3⌉ = 1 row of train.
	ts, _, _ = ParseTextSource("csv:train=" + train + ",label=0,sep=semicolon")
	td, err = Limits{}.LoadText(ts)
	if err != nil {
		t.Fatal(err)
	}
	textSameMatrix(t, td.XTrain, NewDense(2, 2, []float64{0.5, 1, -1, 2}))
	textSameMatrix(t, td.XVal, NewDense(1, 2, []float64{3, -0.25}))
	if !slices.Equal(td.YTrain, []float64{1, 0}) || !slices.Equal(td.YVal, []float64{1}) {
		t.Fatalf("split labels %v %v", td.YTrain, td.YVal)
	}

	// A val file with one more column than train.
	wide := filepath.Join(t.TempDir(), "wide.csv")
	if err := os.WriteFile(wide, []byte("y;a;b;c\n1;1;1;1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, _, _ = ParseTextSource("csv:train=" + train + ",val=" + wide + ",label=first,sep=;")
	_, err = Limits{}.LoadText(ts)
	textWantErr(t, err, ErrShape, wide, "3 feature columns", "has 2")
}

// BenchmarkReadCSV reads 10000 rows of 21 fields (about 2.6 MB of text).
func BenchmarkReadCSV(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		for k := range 20 {
			sb.WriteString(strconv.FormatFloat(float64(i*k)/7, 'g', -1, 64) + ",")
		}
		sb.WriteString(strconv.Itoa(i%2*2-1) + "\n")
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ReadCSV(strings.NewReader(in), "b.csv", DefaultTextOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
