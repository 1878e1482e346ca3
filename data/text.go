package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxLineBytes bounds the length of one line of a text file (LIBSVM or
// CSV) when TextOptions.MaxLineBytes is zero: 64 MiB. A longer line is an
// ErrFormat error ("line too long") rather than an unbounded buffer.
const DefaultMaxLineBytes = 64 << 20

// DefaultSplit is the fraction of the training rows a text source holds out
// for validation when it names no val file (key split).
const DefaultSplit = 0.25

// maxTextCols bounds the column count of a text file (1 + the largest LIBSVM
// index): 2⁵³, so that every column index is exact as a float64 and the
// arithmetic of the memory estimates cannot overflow.
const maxTextCols = 1 << 53

// TextOptions configures ReadLIBSVM and ReadCSV. The zero value reads a
// 1-based LIBSVM file whose column count is 1 + its largest index, and a
// comma-separated CSV file with an auto-detected header whose label is the
// FIRST column (LabelColumn = 0); DefaultTextOptions selects the last column,
// as the csv: source does by default.
type TextOptions struct {
	// Features (LIBSVM) fixes the column count: an index at or beyond it is
	// an ErrShape error. 0 takes 1 + the largest index of the file.
	Features int
	// ZeroBased (LIBSVM) reads column indices from 0 instead of 1.
	ZeroBased bool

	// LabelColumn (CSV) is the column of the labels: k ≥ 0 counts from the
	// first column (0 = first), k < 0 from the last (−1 = last, −2 the one
	// before it). The other columns, in file order, are the features.
	LabelColumn int
	// Header (CSV): "auto" or "" (the first record is a header when one of
	// its fields is neither empty nor a number), "yes" (the first record is
	// a header) or "no" (every record is data).
	Header string
	// Comma (CSV) is the field separator; 0 means ','. It may not be '#'
	// (which starts a comment line), '"', '\r', '\n' or an invalid rune.
	Comma rune

	// MaxBytes bounds the decoded data: 8 bytes per value, per CSR column
	// index and row pointer, and per label, charged as the arrays grow (by
	// their capacity); for LIBSVM also the vectors a problem allocates for a
	// CSR matrix, 8·16·(rows + cols + 1) bytes, as for a CSR .npz member
	// (see Limits). 0 means DefaultMaxBytes; a negative value is an
	// ErrOption error.
	MaxBytes int64
	// MaxLineBytes bounds the length of one line; 0 means
	// DefaultMaxLineBytes. A negative value is an ErrOption error.
	MaxLineBytes int
}

// DefaultTextOptions returns the options of a text source without keys:
// 1-based LIBSVM with the column count from the file; CSV with the label in
// the last column (LabelColumn = −1), Header "auto" and Comma ','.
func DefaultTextOptions() TextOptions {
	return TextOptions{LabelColumn: -1, Header: "auto", Comma: ','}
}

// normalize fills in the defaults of o and checks its fields.
func (o TextOptions) normalize(name string) (TextOptions, error) {
	bad := func(format string, args ...any) error {
		return &Error{Path: name, Kind: ErrOption, Msg: fmt.Sprintf(format, args...)}
	}
	if o.Features < 0 || o.Features > maxTextCols {
		return o, bad("TextOptions.Features = %d; want 0 (from the file) or a column count in [1, 2^53]", o.Features)
	}
	switch o.Header {
	case "":
		o.Header = "auto"
	case "auto", "yes", "no":
	default:
		return o, bad("TextOptions.Header = %q; want auto, yes or no", o.Header)
	}
	if o.Comma == 0 {
		o.Comma = ','
	}
	if o.Comma == '#' || o.Comma == '"' || o.Comma == '\r' || o.Comma == '\n' || o.Comma == utf8.RuneError || !utf8.ValidRune(o.Comma) {
		return o, bad("TextOptions.Comma = %q is not a valid CSV separator", o.Comma)
	}
	if o.MaxBytes < 0 {
		return o, bad("TextOptions.MaxBytes = %d; want a positive byte count, or 0 for the default of %d", o.MaxBytes, DefaultMaxBytes)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxLineBytes < 0 {
		return o, bad("TextOptions.MaxLineBytes = %d; want a positive byte count, or 0 for the default of %d", o.MaxLineBytes, DefaultMaxLineBytes)
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	return o, nil
}

// textReader holds what the LIBSVM and CSV readers share: the file name for
// errors and the memory budget.
type textReader struct {
	name  string
	limit int64 // bytes
	used  int64 // bytes charged (capacities of the decoded arrays)
}

// errAt returns an *Error of kind for the file, at line (if positive).
func (t *textReader) errAt(kind error, line int, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	return &Error{Path: t.name, Kind: kind, Msg: msg}
}

// tooLarge is the ErrTooLarge error for needing need more bytes at line.
func (t *textReader) tooLarge(line int, need int64, what string) *Error {
	return t.errAt(ErrTooLarge, line, "%s needs %s, beyond the memory limit of %s (%s already taken by the decoded arrays); raise data.Limits.MaxBytes (TextOptions.MaxBytes) if the machine has the memory",
		what, byteString(need), byteString(t.limit), byteString(t.used))
}

// fits reports an ErrTooLarge error unless need more bytes fit in the budget
// (without charging them).
func (t *textReader) fits(line int, need int64, what string) error {
	if need <= t.limit-t.used {
		return nil
	}
	return t.tooLarge(line, need, what)
}

// grow returns s with room for one more element, charging a new capacity to
// the budget: it doubles (at least 8 elements) but takes no more than the
// budget has left, so the arrays never hold more than MaxBytes; only the old
// array, garbage once copied, briefly adds to that.
func grow[T int | float64](t *textReader, s []T, line int, what string) ([]T, error) {
	if len(s) < cap(s) {
		return s, nil
	}
	add := int64(max(cap(s), 8))
	if room := (t.limit - t.used) / 8; add > room {
		add = room
	}
	if add < 1 {
		return nil, t.tooLarge(line, 8, fmt.Sprintf("growing %s beyond %d elements", what, len(s)))
	}
	t.used += 8 * add
	ns := make([]T, len(s), int64(len(s))+add)
	copy(ns, s)
	return ns, nil
}

// push appends v to *s through grow.
func push[T int | float64](t *textReader, s *[]T, v T, line int, what string) error {
	if len(*s) == cap(*s) {
		ns, err := grow(t, *s, line, what)
		if err != nil {
			return err
		}
		*s = ns
	}
	*s = append(*s, v)
	return nil
}

// skipBOM returns a reader of r without a leading UTF-8 byte-order mark.
func skipBOM(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\uFEFF")) {
		_, _ = br.Discard(3)
	}
	return br
}

// shortToken quotes b for an error message, cut to 40 bytes.
func shortToken(b []byte) string {
	const n = 40
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "…"
	}
	return strconv.Quote(string(b))
}

// parseNumber parses a float64 value for ReadLIBSVM and ReadCSV: what
// strconv.ParseFloat accepts. It returns ok = false when s is not a number,
// and the value (±Inf on overflow, NaN for "nan") otherwise.
func parseNumber(s string) (float64, bool) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return x, true // ±Inf or a denormal rounded to 0: a number
		}
		return 0, false
	}
	return x, true
}

// finite reports whether x is neither NaN nor ±Inf.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// TextSource is a parsed "libsvm:" or "csv:" source string (ParseTextSource).
type TextSource struct {
	Format    string      // "libsvm" or "csv"
	Train     string      // the training file
	Val       string      // the validation file, or "" to split the training file
	Split     float64     // in (0, 1): the fraction of training rows held out when Val is ""
	Options   TextOptions // the reader options (MaxBytes is set by LoadText from its Limits)
	Lambda    float64     // the hyperparameter given by key lambda
	HasLambda bool        // whether key lambda was given
	Keys      map[string]string
}

// TextData is the data a text source holds: training and validation sets of
// the same column count, and the hyperparameter if the source gave one.
type TextData struct {
	XTrain, XVal *Matrix
	YTrain, YVal []float64
	Lambda       float64
	HasLambda    bool
}

// textKeys lists the keys of a text source and the formats they apply to.
var textKeys = map[string]string{
	"train": "libsvm csv", "val": "libsvm csv", "split": "libsvm csv", "lambda": "libsvm csv",
	"features": "libsvm", "zerobased": "libsvm",
	"label": "csv", "header": "csv", "sep": "csv",
}

// ParseTextSource parses a text-file source:
//
//	libsvm:train=PATH[,val=PATH][,features=D][,zerobased=true][,split=F][,lambda=X]
//	csv:train=PATH[,val=PATH][,label=last|first|K][,header=auto|yes|no][,sep=S][,split=F][,lambda=X]
//
// It returns ok = false (and no error) for anything that does not start with
// "libsvm:" or "csv:". Keys (case-insensitive, each at most once):
//
//	train      the training file (required)
//	val        the validation file; without it the training file is split
//	split=F    0 < F < 1 (default 0.25, only without val): the LAST ⌈F·rows⌉
//	           rows of the training file are the validation set, the others
//	           the training set (deterministic, no shuffling); ⌈F·rows⌉ is
//	           computed exactly from the decimal F, so split=0.1 of 30 rows
//	           holds out 3
//	lambda=X   a finite hyperparameter value (TextData.HasLambda)
//	features=D libsvm: the column count (ReadLIBSVM's TextOptions.Features);
//	           without it, 1 + the largest index of either file
//	zerobased  libsvm: true for 0-based indices (default false)
//	label      csv: the label column, last (default), first, or K: a column
//	           index from 0, negative from the end (−1 = last)
//	header     csv: auto (default), yes or no (see ReadCSV)
//	sep        csv: one character, or "tab", "\t", "semicolon", "space",
//	           "pipe"; default ','
//
// Paths cannot contain ',' (the key separator); spaces around keys and values
// are trimmed. Unknown or repeated keys, keys of the other format, a missing
// train, val together with split, and malformed or out-of-range values are
// ErrOption errors naming the key.
func ParseTextSource(spec string) (ts *TextSource, ok bool, err error) {
	format, rest, found := strings.Cut(spec, ":")
	if !found || (format != "libsvm" && format != "csv") {
		return nil, false, nil
	}
	ts = &TextSource{Format: format, Split: DefaultSplit, Options: DefaultTextOptions(), Keys: map[string]string{}}
	bad := func(key, val, why string) error {
		return newErr(ErrOption, "", "%s: key %s=%s: %s", spec, key, val, why)
	}
	for item := range strings.SplitSeq(rest, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, hasEq := strings.Cut(item, "=")
		key, val = strings.TrimSpace(strings.ToLower(key)), strings.TrimSpace(val)
		if !hasEq || key == "" {
			return nil, true, newErr(ErrOption, "", "%s: %q is not key=value (keys: %s)", spec, item, textKeyList(format))
		}
		scope, known := textKeys[key]
		if !known {
			return nil, true, newErr(ErrOption, "", "%s: unknown key %q (keys: %s)", spec, key, textKeyList(format))
		}
		if !strings.Contains(scope, format) {
			return nil, true, newErr(ErrOption, "", "%s: key %s does not apply to %s files (keys: %s)", spec, key, format, textKeyList(format))
		}
		if _, dup := ts.Keys[key]; dup {
			return nil, true, newErr(ErrOption, "", "%s: key %s given twice", spec, key)
		}
		ts.Keys[key] = val
		switch key {
		case "train", "val":
			if val == "" {
				return nil, true, bad(key, val, "want a file path")
			}
			if key == "train" {
				ts.Train = val
			} else {
				ts.Val = val
			}
		case "split":
			x, err := strconv.ParseFloat(val, 64)
			if err != nil || !(x > 0 && x < 1) {
				return nil, true, bad(key, val, "want a fraction 0 < F < 1")
			}
			ts.Split = x
		case "lambda":
			x, err := strconv.ParseFloat(val, 64)
			if err != nil || !finite(x) {
				return nil, true, bad(key, val, "want a finite number")
			}
			ts.Lambda, ts.HasLambda = x, true
		case "features":
			n, err := parseSize(val)
			if err != nil || n < 1 || n > maxTextCols {
				return nil, true, bad(key, val, "want an integer in [1, 2^53]")
			}
			ts.Options.Features = n
		case "zerobased":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return nil, true, bad(key, val, "want true or false")
			}
			ts.Options.ZeroBased = b
		case "label":
			switch strings.ToLower(val) {
			case "last":
				ts.Options.LabelColumn = -1
			case "first":
				ts.Options.LabelColumn = 0
			default:
				k, err := strconv.Atoi(val)
				if err != nil {
					return nil, true, bad(key, val, "want last, first or a column index (negative from the end)")
				}
				ts.Options.LabelColumn = k
			}
		case "header":
			switch h := strings.ToLower(val); h {
			case "auto", "yes", "no":
				ts.Options.Header = h
			default:
				return nil, true, bad(key, val, "want auto, yes or no")
			}
		case "sep":
			c, err := parseSep(val)
			if err != nil {
				return nil, true, bad(key, val, err.Error())
			}
			ts.Options.Comma = c
		}
	}
	if ts.Train == "" {
		return nil, true, newErr(ErrOption, "", "%s: key train is missing (want %s:train=PATH[,val=PATH]…)", spec, format)
	}
	if _, ok := ts.Keys["split"]; ok && ts.Val != "" {
		return nil, true, newErr(ErrOption, "", "%s: key split applies only without val (the validation set is either a file or held out from train)", spec)
	}
	return ts, true, nil
}

// parseSep parses the csv: key sep.
func parseSep(val string) (rune, error) {
	switch strings.ToLower(val) {
	case "tab", `\t`:
		return '\t', nil
	case "semicolon":
		return ';', nil
	case "space":
		return ' ', nil
	case "pipe":
		return '|', nil
	case "comma":
		return ',', nil
	}
	r, size := utf8.DecodeRuneInString(val)
	if size == 0 || size != len(val) {
		return 0, errString(`want one character, or tab, \t, semicolon, space, pipe or comma`)
	}
	if _, err := (TextOptions{Comma: r}).normalize(""); err != nil {
		return 0, errString("not a valid CSV separator")
	}
	return r, nil
}

func textKeyList(format string) string {
	if format == "libsvm" {
		return "train, val, split, lambda, features, zerobased"
	}
	return "train, val, split, lambda, label, header, sep"
}

// LoadText reads the files of a text source (ParseTextSource) with the
// memory budget of l for both files together: ReadLIBSVM or ReadCSV on train,
// then on val (or the last ⌈Split·rows⌉ rows of train held out). The
// validation set has the training set's column count: for LIBSVM without
// features, both matrices get 1 + the largest index of either file; for CSV
// the two files must have the same number of feature columns (ErrShape). The
// training set needs at least one row and one column, the validation set at
// least one row (ErrShape). Labels are returned as read; the problem's label
// rule is the caller's (Supervised.Validate).
func (l Limits) LoadText(ts *TextSource) (*TextData, error) {
	if ts == nil {
		return nil, newErr(ErrOption, "", "nil text source")
	}
	if ts.Format != "libsvm" && ts.Format != "csv" {
		return nil, newErr(ErrOption, "", "text source format %q; want libsvm or csv", ts.Format)
	}
	if ts.Train == "" {
		return nil, newErr(ErrOption, "", "text source without a training file")
	}
	if ts.Val == "" && !(ts.Split > 0 && ts.Split < 1) {
		return nil, newErr(ErrOption, "", "text source split = %v; want 0 < split < 1", ts.Split)
	}
	if l.MaxBytes < 0 {
		return nil, newErr(ErrOption, "", "Limits.MaxBytes = %d; want a positive byte count, or 0 for the default of %d", l.MaxBytes, DefaultMaxBytes)
	}
	limit := l.MaxBytes
	if limit == 0 {
		limit = DefaultMaxBytes
	}
	read := ReadCSV
	if ts.Format == "libsvm" {
		read = ReadLIBSVM
	}
	o := ts.Options
	o.MaxBytes = limit
	xt, yt, err := readTextFile(ts.Train, o, read)
	if err != nil {
		return nil, err
	}
	if xt.Rows < 1 || xt.Cols < 1 {
		return nil, &Error{Path: ts.Train, Kind: ErrShape, Msg: fmt.Sprintf("the training set is %d×%d; want at least 1 row and 1 column", xt.Rows, xt.Cols)}
	}
	td := &TextData{Lambda: ts.Lambda, HasLambda: ts.HasLambda}
	if ts.Val == "" {
		hold, err := holdOut(ts.Split, xt.Rows)
		if err != nil {
			return nil, &Error{Path: ts.Train, Kind: ErrShape, Msg: err.Error()}
		}
		td.XTrain, td.XVal = splitRows(xt, xt.Rows-hold)
		td.YTrain, td.YVal = yt[:xt.Rows-hold:xt.Rows-hold], yt[xt.Rows-hold:]
		return td, nil
	}
	o.MaxBytes = limit - textBytes(xt, yt)
	if o.MaxBytes < 1 {
		return nil, &Error{Path: ts.Val, Kind: ErrTooLarge, Msg: fmt.Sprintf("the training set took the whole memory limit of %s; raise data.Limits.MaxBytes if the machine has the memory", byteString(limit))}
	}
	xv, yv, err := readTextFile(ts.Val, o, read)
	if err != nil {
		return nil, err
	}
	if xv.Rows < 1 {
		return nil, &Error{Path: ts.Val, Kind: ErrShape, Msg: "the validation set has no rows; want at least 1"}
	}
	if ts.Format == "libsvm" && ts.Options.Features == 0 {
		c := max(xt.Cols, xv.Cols)
		xt.Cols, xv.Cols = c, c
	}
	if xv.Cols != xt.Cols {
		return nil, &Error{Path: ts.Val, Kind: ErrShape, Msg: fmt.Sprintf("the validation set has %d feature columns, the training set (%s) has %d", xv.Cols, ts.Train, xt.Cols)}
	}
	td.XTrain, td.XVal, td.YTrain, td.YVal = xt, xv, yt, yv
	return td, nil
}

// readTextFile opens path and reads it with read.
func readTextFile(path string, o TextOptions, read func(io.Reader, string, TextOptions) (*Matrix, []float64, error)) (*Matrix, []float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	defer f.Close()
	return read(f, path, o)
}

// textBytes is what the decoded arrays of a text file hold: 8 bytes per value,
// CSR index and row pointer, and label.
func textBytes(m *Matrix, y []float64) int64 {
	return 8 * int64(len(m.Data)+len(m.Indices)+len(m.Indptr)+len(y))
}

// holdOut returns ⌈f·n⌉ for the decimal shortest representation of f
// (exactly, with big.Rat, so that 0.1·30 is 3 and not 4), checking that it
// leaves at least one row on each side.
func holdOut(f float64, n int) (int, error) {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok || r.Sign() <= 0 || r.Cmp(big.NewRat(1, 1)) >= 0 {
		return 0, fmt.Errorf("split = %v; want 0 < split < 1", f)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(n)))
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	hold := q.Int64()
	if m.Sign() != 0 {
		hold++
	}
	if hold < 1 || hold >= int64(n) {
		return 0, fmt.Errorf("the training file has %d rows; split=%v would hold out %d of them, leaving no training rows (want at least 2 rows, or a val file)", n, f, hold)
	}
	return int(hold), nil
}

// splitRows returns rows [0, k) and [k, Rows) of m, sharing its arrays (the
// first with capacities clipped).
func splitRows(m *Matrix, k int) (*Matrix, *Matrix) {
	if !m.IsCSR() {
		c := m.Cols
		return NewDense(k, c, m.Data[:k*c:k*c]), NewDense(m.Rows-k, c, m.Data[k*c:])
	}
	p := m.Indptr[k]
	top := NewCSR(k, m.Cols, m.Indptr[:k+1:k+1], m.Indices[:p:p], m.Data[:p:p])
	ip := make([]int, m.Rows-k+1)
	for i := range ip {
		ip[i] = m.Indptr[k+i] - p
	}
	return top, NewCSR(m.Rows-k, m.Cols, ip, m.Indices[p:], m.Data[p:])
}

// ClassLabels maps the labels of td to classes for a multiclass problem: the
// distinct label values of y_train and y_val together, sorted, become the
// classes 0, 1, …, classes−1 (so {1, …, 7} of covtype is 0…6, {−1, +1} is
// {0, 1}, and {0, …, 19} is unchanged). Every label must be an integer (as a
// float64, |y| ≤ 2⁵³) and there must be at least two classes, else an
// ErrLabels error naming the first offending label. td is not modified.
func (td *TextData) ClassLabels() (train, val []int, classes int, err error) {
	var values []float64
	for _, c := range []struct {
		name string
		y    []float64
	}{{"y_train", td.YTrain}, {"y_val", td.YVal}} {
		for i, y := range c.y {
			if y != math.Trunc(y) || math.Abs(y) > 1<<53 {
				return nil, nil, 0, newErr(ErrLabels, c.name, "%s[%d] = %v: class labels must be integers", c.name, i, y)
			}
		}
		values = append(values, c.y...)
	}
	slices.Sort(values)
	values = slices.Compact(values)
	if len(values) < 2 {
		return nil, nil, 0, newErr(ErrLabels, "y_train", "the labels take %d distinct values; a multiclass problem needs at least 2", len(values))
	}
	class := func(y []float64) []int {
		out := make([]int, len(y))
		for i, v := range y {
			out[i], _ = slices.BinarySearch(values, v)
		}
		return out
	}
	return class(td.YTrain), class(td.YVal), len(values), nil
}
