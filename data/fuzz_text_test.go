package data

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the text readers and the text source parser. Each asserts
// that the input is either rejected with an *Error of the package's kinds
// naming the file (and, for what is read, the line) or accepted with a result
// that satisfies the invariants of its type and survives a write/read round
// trip bit for bit. The seed corpora under testdata/fuzz/<FuzzName>/ hold one
// input per error class; `go test` runs every seed.

// fuzzTextOptions bounds a fuzzed read: 4 MiB of decoded data, 4 KiB lines.
func fuzzTextOptions() TextOptions {
	o := DefaultTextOptions()
	o.MaxBytes, o.MaxLineBytes = 4<<20, 4<<10
	return o
}

// checkTextErr checks an error of ReadLIBSVM or ReadCSV on file name: it
// names the file and the line, except for an option, an empty file, and the
// memory check of a given column count (LIBSVM features), made before reading.
func checkTextErr(t *testing.T, err error, name string) {
	t.Helper()
	checkTypedErr(t, err)
	var e *Error
	errors.As(err, &e)
	if e.Path != name {
		t.Fatalf("error %q names file %q, want %q", err, e.Path, name)
	}
	if !errors.Is(err, ErrOption) && !strings.HasPrefix(e.Msg, "no data") && !strings.HasPrefix(e.Msg, "features=") && !strings.HasPrefix(e.Msg, "line ") {
		t.Fatalf("error %q does not name a line", err)
	}
}

// checkTextValues fails unless every value of m and y is finite.
func checkTextValues(t *testing.T, m *Matrix, y []float64) {
	t.Helper()
	if err := m.checkFinite("X"); err != nil {
		t.Fatal(err)
	}
	if err := checkVector("y", y); err != nil {
		t.Fatal(err)
	}
}

// formatLIBSVM writes x, y in LIBSVM form with indices from base.
func formatLIBSVM(x *Matrix, y []float64, base int) []byte {
	var b bytes.Buffer
	for i := range x.Rows {
		b.WriteString(strconv.FormatFloat(y[i], 'g', -1, 64))
		for k := x.Indptr[i]; k < x.Indptr[i+1]; k++ {
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(x.Indices[k] + base))
			b.WriteByte(':')
			b.WriteString(strconv.FormatFloat(x.Data[k], 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func FuzzLIBSVM(f *testing.F) {
	for _, s := range []string{
		"+1 1:0.5 3:-2\n-1 2:1e-3\n", "3 4:1 1:2 2:0\r\n# c\n\n1.5e0\n", "1 0:1 2:2\n", "1 2:1\n-1 1:3\n",
		"1 1:1:1\n", "1 qid:2 1:1\n", "1 2147483648:1\n", "1 -1:1\n", "1 1:nan\n", "",
	} {
		f.Add([]byte(s), s == "1 0:1 2:2\n", uint16(0))
	}
	f.Add([]byte("1 2:1\n-1 1:3\n"), false, uint16(6))
	f.Fuzz(func(t *testing.T, in []byte, zeroBased bool, features uint16) {
		o := fuzzTextOptions()
		o.ZeroBased, o.Features = zeroBased, int(features)
		x, y, err := ReadLIBSVM(bytes.NewReader(in), "f.svm", o)
		if err != nil {
			checkTextErr(t, err, "f.svm")
			if x != nil || y != nil {
				t.Fatal("data returned with an error")
			}
			return
		}
		if !x.IsCSR() || x.check("X") != nil || x.Rows < 1 || len(y) != x.Rows {
			t.Fatalf("inconsistent result %+v, %d labels: %v", x, len(y), x.check("X"))
		}
		checkTextValues(t, x, y)
		maxCol := -1
		for i := range x.Rows {
			row := x.Indices[x.Indptr[i]:x.Indptr[i+1]]
			if !slices.IsSorted(row) || len(slices.Compact(slices.Clone(row))) != len(row) {
				t.Fatalf("row %d indices %v not strictly increasing", i, row)
			}
			if len(row) > 0 {
				maxCol = max(maxCol, row[len(row)-1])
			}
		}
		if (features > 0 && x.Cols != int(features)) || (features == 0 && x.Cols != maxCol+1) {
			t.Fatalf("%d columns; features %d, largest column %d", x.Cols, features, maxCol)
		}
		base := 1
		if zeroBased {
			base = 0
		}
		x2, y2, err := ReadLIBSVM(bytes.NewReader(formatLIBSVM(x, y, base)), "g.svm", o)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		textSameBits(t, x2, x, y2, y)
	})
}

// textSameBits fails unless two results are bit-identical.
func textSameBits(t *testing.T, x2, x *Matrix, y2, y []float64) {
	t.Helper()
	bits := func(v []float64) []uint64 {
		u := make([]uint64, len(v))
		for i, f := range v {
			u[i] = math.Float64bits(f)
		}
		return u
	}
	if x2.Rows != x.Rows || x2.Cols != x.Cols || x2.IsCSR() != x.IsCSR() || !slices.Equal(x2.Indptr, x.Indptr) ||
		!slices.Equal(x2.Indices, x.Indices) || !slices.Equal(bits(x2.Data), bits(x.Data)) || !slices.Equal(bits(y2), bits(y)) {
		t.Fatalf("round trip differs:\n%+v %v\n%+v %v", x2, y2, x, y)
	}
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"x1,x2,y\n1,2.5,+1\n-3,0.4,-1\n", "1,2,3\r\n4,5,6\r\n", ",x1,y\n1,2,3\n", "# h\n1;2\n3;4\n",
		"1,2,3\n4,5\n", "1,,3\n", "1,\"2\n", "1,NaN,3\n", "", "a,b\n",
	} {
		f.Add([]byte(s), int8(-1), uint8(0), strings.Contains(s, ";"))
	}
	f.Add([]byte("1,2,3\n4,5,6\n"), int8(0), uint8(1), false)
	f.Add([]byte("1,2,3\n4,5,6\n"), int8(-3), uint8(2), false)
	f.Fuzz(func(t *testing.T, in []byte, label int8, header uint8, semicolon bool) {
		o := fuzzTextOptions()
		o.LabelColumn, o.Header = int(label), []string{"auto", "yes", "no"}[header%3]
		if semicolon {
			o.Comma = ';'
		}
		x, y, err := ReadCSV(bytes.NewReader(in), "f.csv", o)
		if err != nil {
			checkTextErr(t, err, "f.csv")
			if x != nil || y != nil {
				t.Fatal("data returned with an error")
			}
			return
		}
		if x.IsCSR() || x.check("X") != nil || x.Rows < 1 || x.Cols < 1 || len(y) != x.Rows {
			t.Fatalf("inconsistent result %+v, %d labels", x, len(y))
		}
		checkTextValues(t, x, y)
		lc := int(label)
		if lc < 0 {
			lc += x.Cols + 1
		}
		var b bytes.Buffer
		for i := range x.Rows {
			row := slices.Clone(x.Data[i*x.Cols : (i+1)*x.Cols])
			row = slices.Insert(row, lc, y[i])
			for j, v := range row {
				if j > 0 {
					b.WriteRune(o.Comma)
				}
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
			b.WriteString("\r\n")
		}
		o.Header = "no"
		x2, y2, err := ReadCSV(&b, "g.csv", o)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		textSameBits(t, x2, x, y2, y)
	})
}

// canonicalTextSpec rebuilds a source string from the parsed keys.
func canonicalTextSpec(ts *TextSource) string {
	keys := make([]string, 0, len(ts.Keys))
	for k := range ts.Keys {
		keys = append(keys, k+"="+ts.Keys[k])
	}
	sort.Strings(keys)
	return ts.Format + ":" + strings.Join(keys, ",")
}

func FuzzParseTextSource(f *testing.F) {
	for _, s := range []string{
		"libsvm:train=a.svm,val=b.svm,features=100,zerobased=true,lambda=-2",
		"csv:train=a.csv,label=first,header=no,sep=;,split=0.1", "csv:train=a.csv,sep=tab,label=-2",
		"libsvm:train=a.svm,sep=;", "libsvm:val=b", "csv:train=a,val=b,split=0.5", "libsvm:train=a,features=0",
		"csv:train=a,train=b", "synth:n=3", "a.npz", "csv:train=a,lambda=inf", "csv:train=a,sep=#",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ts, ok, err := ParseTextSource(spec)
		if ok != (strings.HasPrefix(spec, "libsvm:") || strings.HasPrefix(spec, "csv:")) {
			t.Fatalf("ok = %v for %q", ok, spec)
		}
		if !ok {
			if ts != nil || err != nil {
				t.Fatalf("not a text source, yet %v, %v", ts, err)
			}
			return
		}
		if err != nil {
			checkTypedErr(t, err)
			if !errors.Is(err, ErrOption) || ts != nil {
				t.Fatalf("ParseTextSource(%q) = %v, %v: want nil and an ErrOption error", spec, ts, err)
			}
			return
		}
		if ts.Train == "" || !(ts.Split > 0 && ts.Split < 1) || !finite(ts.Lambda) || (ts.Val != "" && ts.Keys["split"] != "") {
			t.Fatalf("ParseTextSource(%q) accepted %+v", spec, ts)
		}
		if _, err := ts.Options.normalize("x"); err != nil {
			t.Fatalf("ParseTextSource(%q) accepted invalid options: %v", spec, err)
		}
		again, ok, err := ParseTextSource(canonicalTextSpec(ts))
		if !ok || err != nil || !reflect.DeepEqual(again, ts) {
			t.Fatalf("canonical form %q of %q parses to %+v, %v; want %+v", canonicalTextSpec(ts), spec, again, err, ts)
		}
	})
}

func TestParseTextSource(t *testing.T) {
	ts, ok, err := ParseTextSource(" libsvm:train=a.svm")
	if ok || ts != nil || err != nil {
		t.Fatal("a leading space is a file path, as for synth:")
	}
	ts, ok, err = ParseTextSource("libsvm: Train = d/a.svm , VAL=b.svm,features=2e3,zerobased=1,lambda=-1.5")
	if !ok || err != nil {
		t.Fatal(err)
	}
	want := DefaultTextOptions()
	want.Features, want.ZeroBased = 2000, true
	if ts.Format != "libsvm" || ts.Train != "d/a.svm" || ts.Val != "b.svm" || ts.Options != want || ts.Lambda != -1.5 || !ts.HasLambda || ts.Split != DefaultSplit {
		t.Fatalf("%+v", ts)
	}
	for spec, o := range map[string]TextOptions{
		"csv:train=a": DefaultTextOptions(),
		"csv:train=a,label=first,header=no,sep=\\t":    {LabelColumn: 0, Header: "no", Comma: '\t'},
		"csv:train=a,label=LAST,header=Yes,sep=;":      {LabelColumn: -1, Header: "yes", Comma: ';'},
		"csv:train=a,label=3,sep=space":                {LabelColumn: 3, Header: "auto", Comma: ' '},
		"csv:train=a,label=-2,sep=pipe,header=auto":    {LabelColumn: -2, Header: "auto", Comma: '|'},
		"csv:train=a,sep=semicolon,split=0.1,lambda=0": {LabelColumn: -1, Header: "auto", Comma: ';'},
	} {
		ts, ok, err := ParseTextSource(spec)
		if !ok || err != nil || ts.Options != o {
			t.Fatalf("%s: %+v, %v", spec, ts, err)
		}
	}
	for spec, sub := range map[string]string{
		"libsvm:":                           "train is missing",
		"libsvm:val=b":                      "train is missing",
		"libsvm:train=":                     "key train=",
		"libsvm:train=a,nope=1":             `unknown key "nope"`,
		"libsvm:train=a,train=b":            "key train given twice",
		"libsvm:train=a,sep=;":              "key sep does not apply to libsvm",
		"csv:train=a,features=3":            "key features does not apply to csv",
		"csv:train=a,val=b,split=0.2":       "key split applies only without val",
		"csv:train=a,split=1":               "key split=1",
		"csv:train=a,split=0":               "key split=0",
		"csv:train=a,split=nan":             "key split=nan",
		"csv:train=a,lambda=inf":            "key lambda=inf",
		"csv:train=a,lambda=x":              "key lambda=x",
		"libsvm:train=a,features=0":         "key features=0",
		"libsvm:train=a,features=1.5":       "key features=1.5",
		"libsvm:train=a,features=1e300":     "key features=1e300",
		"libsvm:train=a,zerobased=maybe":    "key zerobased=maybe",
		"csv:train=a,label=middle":          "key label=middle",
		"csv:train=a,header=sometimes":      "key header=sometimes",
		"csv:train=a,sep=ab":                "key sep=ab",
		"csv:train=a,sep=#":                 "key sep=#",
		"csv:train=a,sep=\"":                "key sep=\"",
		"csv:train=a,sep=":                  "key sep=",
		"csv:train=a,oops":                  `"oops" is not key=value`,
		"csv:train=a,=3":                    `"=3" is not key=value`,
		"libsvm:train=a,label=first":        "key label does not apply to libsvm",
		"libsvm:train=a,val=b,split=0.3,x=": "unknown key",
	} {
		ts, ok, err := ParseTextSource(spec)
		if !ok || ts != nil {
			t.Fatalf("%s: ok %v, %+v", spec, ok, ts)
		}
		textWantErr(t, err, ErrOption, "", sub)
	}
}

// readTextSeed decodes a "go test fuzz v1" corpus file of the text fuzz
// targets: one value per line, of the forms []byte("…"), string("…"),
// bool(…), int8(…), uint8(…), uint16(…).
func readTextSeed(t *testing.T, path string) []any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) < 2 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a fuzz corpus file", path)
	}
	var vals []any
	for _, l := range lines[1:] {
		typ, arg, ok := strings.Cut(l, "(")
		arg, ok2 := strings.CutSuffix(arg, ")")
		if !ok || !ok2 {
			t.Fatalf("%s: bad line %q", path, l)
		}
		var v any
		switch typ {
		case "[]byte", "string":
			s, err := strconv.Unquote(arg)
			if err != nil {
				t.Fatalf("%s: %q: %v", path, l, err)
			}
			v = s
			if typ == "[]byte" {
				v = []byte(s)
			}
		case "bool":
			v, err = strconv.ParseBool(arg)
		case "int8":
			var n int64
			n, err = strconv.ParseInt(arg, 10, 8)
			v = int8(n)
		case "uint8", "uint16":
			var n uint64
			n, err = strconv.ParseUint(arg, 10, map[string]int{"uint8": 8, "uint16": 16}[typ])
			if typ == "uint8" {
				v = uint8(n)
			} else {
				v = uint16(n)
			}
		default:
			t.Fatalf("%s: type %s", path, typ)
		}
		if err != nil {
			t.Fatalf("%s: %q: %v", path, l, err)
		}
		vals = append(vals, v)
	}
	return vals
}

// TestTextSeedClasses checks that each committed seed of the text fuzz
// targets is in the class its name says: ok_* are read without error, the
// others fail with the kind listed here (so the corpora keep covering every
// error class).
func TestTextSeedClasses(t *testing.T) {
	kinds := map[string]map[string]error{
		"FuzzLIBSVM": {
			"empty": ErrShape, "comment_only": ErrShape, "label_not_number": ErrFormat, "value_not_number": ErrFormat,
			"triple_colon": ErrFormat, "no_colon": ErrFormat, "missing_index": ErrFormat, "missing_value": ErrFormat,
			"index_not_integer": ErrFormat, "negative_index": ErrFormat, "zero_index_one_based": ErrFormat,
			"index_2pow31": ErrTooLarge, "index_2pow53": ErrFormat, "index_overflow": ErrFormat, "duplicate_index": ErrFormat,
			"qid": ErrFormat, "beyond_features": ErrShape, "features_too_large": ErrTooLarge, "nan_value": ErrNonFinite,
			"inf_label": ErrNonFinite, "overflow_value": ErrNonFinite, "line_too_long": ErrFormat,
		},
		"FuzzCSV": {
			"empty": ErrShape, "header_only": ErrShape, "single_column": ErrShape, "field_count": ErrFormat,
			"missing_value": ErrFormat, "not_a_number": ErrFormat, "na_value": ErrFormat, "open_quote": ErrFormat,
			"bare_quote": ErrFormat, "space_after_quote": ErrFormat, "nan_value": ErrNonFinite, "inf_label": ErrNonFinite,
			"overflow_value": ErrNonFinite, "label_out_of_range": ErrOption, "label_negative_out_of_range": ErrOption,
			"line_too_long": ErrFormat,
		},
	}
	for target, want := range kinds {
		dir := filepath.Join("testdata", "fuzz", target)
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, e := range ents {
			v := readTextSeed(t, filepath.Join(dir, e.Name()))
			o := fuzzTextOptions()
			var err error
			if target == "FuzzLIBSVM" {
				o.ZeroBased, o.Features = v[1].(bool), int(v[2].(uint16))
				_, _, err = ReadLIBSVM(bytes.NewReader(v[0].([]byte)), "s", o)
			} else {
				o.LabelColumn, o.Header = int(v[1].(int8)), []string{"auto", "yes", "no"}[v[2].(uint8)%3]
				if v[3].(bool) {
					o.Comma = ';'
				}
				_, _, err = ReadCSV(bytes.NewReader(v[0].([]byte)), "s", o)
			}
			if strings.HasPrefix(e.Name(), "ok_") {
				if err != nil {
					t.Fatalf("%s/%s: %v", target, e.Name(), err)
				}
				continue
			}
			kind, ok := want[e.Name()]
			if !ok {
				t.Fatalf("%s/%s: seed without an expected class", target, e.Name())
			}
			seen++
			if !errors.Is(err, kind) {
				t.Fatalf("%s/%s: error %v, want kind %v", target, e.Name(), err, kind)
			}
		}
		if seen != len(want) {
			t.Fatalf("%s: %d error seeds, want %d", target, seen, len(want))
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseTextSource")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		spec := readTextSeed(t, filepath.Join(dir, e.Name()))[0].(string)
		_, ok, err := ParseTextSource(spec)
		switch {
		case e.Name() == "not_text":
			if ok || err != nil {
				t.Fatalf("%s: ok %v, %v", e.Name(), ok, err)
			}
		case strings.HasPrefix(e.Name(), "ok_"):
			if !ok || err != nil {
				t.Fatalf("%s: ok %v, %v", e.Name(), ok, err)
			}
		default:
			if !ok || !errors.Is(err, ErrOption) {
				t.Fatalf("%s: ok %v, error %v; want ErrOption", e.Name(), ok, err)
			}
		}
	}
}
