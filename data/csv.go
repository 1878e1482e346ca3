package data

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
)

// ReadCSV reads a dense numeric data set in CSV form (RFC 4180, as
// encoding/csv reads it) from r, naming it name in errors, and returns the
// feature columns as a dense row-major matrix and the label column.
//
//   - o.Comma separates fields (default ','; e.g. ';' or '\t'). Fields may be
//     quoted; spaces around a field are ignored; lines may end in "\r\n";
//     blank lines and lines starting with '#' (numpy.savetxt's header) are
//     skipped; a UTF-8 byte-order mark at the start is ignored.
//   - o.LabelColumn picks the label column: k ≥ 0 counts from the first
//     (0 = first), k < 0 from the last (−1 = last, the csv: default). Every
//     other column, in file order, is a feature, so there must be at least
//     two columns.
//   - o.Header: "auto" (or "") treats the first record as a header when one
//     of its fields is neither empty nor a number (so "x1,x2,y" and pandas'
//     ",x1,y" are headers, "1,2,3" is data); "yes" always skips the first
//     record; "no" reads it as data.
//   - Every record has the number of fields of the first (header or data).
//   - A value is what strconv.ParseFloat reads; an empty field is a missing
//     value, which is an error (no imputation).
//
// Errors are *Error values naming the file (Path = name) and the line, and
// the column (from 0, as in the file) when one field is at fault, e.g.
//
//	data: train.csv: line 17: column 3: value "abc" is not a number
//
// Kinds: ErrFormat for what does not parse (a CSV syntax error such as a
// stray quote, a record with a different number of fields, a missing value,
// a value that is not a number, a line or record longer than o.MaxLineBytes,
// a read error); ErrShape for a file without data records or with fewer than
// two columns; ErrOption for a label column outside the record or invalid
// options; ErrNonFinite for a NaN or ±Inf value or label (including one that
// overflows float64); ErrTooLarge when the decoded values (8 bytes each,
// labels included) exceed o.MaxBytes, at the line where they do.
//
// The file is read record by record: memory is the decoded arrays, charged to
// o.MaxBytes as they grow, plus one record (at most o.MaxLineBytes per line).
func ReadCSV(r io.Reader, name string, o TextOptions) (*Matrix, []float64, error) {
	o, err := o.normalize(name)
	if err != nil {
		return nil, nil, err
	}
	t := &textReader{name: name, limit: o.MaxBytes}
	lim := &lineLimiter{r: skipBOM(r), maxLine: int64(o.MaxLineBytes), maxRecord: int64(o.MaxLineBytes) + 64<<10}
	cr := csv.NewReader(lim)
	cr.Comma = o.Comma
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	var (
		fields, labelCol int
		x, y             []float64
		first            = true
		firstLine        int
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, t.csvError(err, lim)
		}
		line, _ := cr.FieldPos(0)
		lim.record()
		if first {
			first, fields, firstLine = false, len(rec), line
			labelCol = o.LabelColumn
			if labelCol < 0 {
				labelCol += fields
			}
			if labelCol < 0 || labelCol >= fields {
				return nil, nil, t.errAt(ErrOption, line, "label column %d is outside the %d fields of the first record (label=, TextOptions.LabelColumn)", o.LabelColumn, fields)
			}
			if fields < 2 {
				return nil, nil, t.errAt(ErrShape, line, "1 field per record; want a label column and at least one feature column")
			}
			if o.Header == "yes" || (o.Header == "auto" && isHeader(rec)) {
				continue
			}
		}
		if len(rec) != fields {
			return nil, nil, t.errAt(ErrFormat, line, "%d fields, want %d (as on line %d)", len(rec), fields, firstLine)
		}
		for j, f := range rec {
			f = strings.TrimSpace(f)
			if f == "" {
				return nil, nil, t.errAt(ErrFormat, line, "column %d: missing value", j)
			}
			v, ok := parseNumber(f)
			if !ok {
				return nil, nil, t.errAt(ErrFormat, line, "column %d: value %s is not a number", j, shortToken([]byte(f)))
			}
			if !finite(v) {
				return nil, nil, t.errAt(ErrNonFinite, line, "column %d: value %s is %v", j, shortToken([]byte(f)), v)
			}
			if j == labelCol {
				err = push(t, &y, v, line, "the labels")
			} else {
				err = push(t, &x, v, line, "the values")
			}
			if err != nil {
				return nil, nil, err
			}
		}
	}
	if len(y) == 0 {
		return nil, nil, t.errAt(ErrShape, 0, "no data records (an empty CSV file, or a header only)")
	}
	return NewDense(len(y), fields-1, x), y, nil
}

// isHeader reports whether a first record is a header: one of its fields is
// neither empty nor a number.
func isHeader(rec []string) bool {
	for _, f := range rec {
		if f = strings.TrimSpace(f); f != "" {
			if _, ok := parseNumber(f); !ok {
				return true
			}
		}
	}
	return false
}

// csvError converts an error of csv.Reader.Read.
func (t *textReader) csvError(err error, lim *lineLimiter) error {
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe):
		msg := pe.Err.Error()
		if pe.Column > 0 {
			msg = "byte " + strconv.Itoa(pe.Column) + ": " + msg
		}
		return t.errAt(ErrFormat, pe.Line, "%s", msg)
	case errors.Is(err, errLineTooLong):
		return t.errAt(ErrFormat, lim.line(), "line too long (more than %d bytes, TextOptions.MaxLineBytes)", lim.maxLine)
	case errors.Is(err, errRecordTooLong):
		return t.errAt(ErrFormat, lim.line(), "record too long (a quoted field spanning lines; more than %d bytes)", lim.maxRecord)
	}
	return t.errAt(ErrFormat, lim.line(), "read error: %v", err)
}

var (
	errLineTooLong   = errors.New("line too long")
	errRecordTooLong = errors.New("record too long")
)

// lineLimiter passes r through, failing once a line (bytes between '\n')
// exceeds maxLine or the bytes read since the last call to record exceed
// maxRecord, so that encoding/csv never buffers an unbounded record. It
// counts the newlines it has passed, for the line number of the failure.
type lineLimiter struct {
	r                  io.Reader
	maxLine, maxRecord int64
	cur, rec           int64 // bytes of the current line, since the last record
	newlines           int
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	if l.rec >= l.maxRecord {
		return 0, errRecordTooLong
	}
	if int64(len(p)) > l.maxRecord-l.rec {
		p = p[:l.maxRecord-l.rec]
	}
	n, err := l.r.Read(p)
	for b := p[:n]; len(b) > 0; {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.cur += int64(len(b))
			break
		}
		if l.cur+int64(i) > l.maxLine {
			l.cur += int64(i)
			break
		}
		l.newlines++
		l.cur = 0
		b = b[i+1:]
	}
	l.rec += int64(n)
	if l.cur > l.maxLine {
		return 0, errLineTooLong
	}
	return n, err
}

// record notes that a record was returned.
func (l *lineLimiter) record() { l.rec = 0 }

// line is the number of the line being read.
func (l *lineLimiter) line() int { return l.newlines + 1 }
