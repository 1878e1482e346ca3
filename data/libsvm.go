package data

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sort"
	"strconv"
)

// ReadLIBSVM reads a sparse data set in the LIBSVM (svmlight) text format
// from r, naming it name in errors, and returns its rows as a CSR matrix
// (0-based columns) and its labels. One line per row:
//
//	label index:value index:value …
//
// Tokens are separated by spaces or tabs; a line may end in "\r\n"; text from
// '#' to the end of the line is a comment; blank and comment-only lines are
// skipped (they are no rows, but count in line numbers); a UTF-8 byte-order
// mark at the start is ignored. The label is any number strconv.ParseFloat
// reads ("+1", "-1", "3", "1.5e0"); the problem checks which labels it
// accepts. A row may have no index:value pairs (a zero row).
//
// Indices are integers from 1 (or from 0 with o.ZeroBased) and become the
// column index − 1 (or the index). Within a line they may come in any order
// but each at most once: a line with two pairs for one index is an error. The
// matrix stores each row with increasing column indices (a line out of order
// is sorted); explicit zero values are kept. o.Features fixes the column
// count; when it is 0 the count is 1 + the largest column index (0 for a file
// without pairs). Query ids ("qid:3", the svmlight ranking extension) are
// rejected, since no problem here ranks.
//
// Errors are *Error values naming the file (Path = name) and the line
// number, and the token when one is at fault, e.g.
//
//	data: train.svm: line 17: token "3:abc": value "abc" is not a number
//
// Kinds: ErrFormat for what does not parse (a label or value that is not a
// number, a token without ':', a missing index or value, "1:1:1", an index
// that is not an integer, is negative, is 0 in a 1-based file or is 2⁵³ or
// more, a repeated index, a qid: token, a line longer than o.MaxLineBytes, a
// read error); ErrShape for an index at or beyond o.Features, or a file
// without data lines; ErrNonFinite for a NaN or ±Inf label or value
// (including one that overflows float64); ErrTooLarge when the decoded arrays
// (8 bytes per value, column index, row pointer and label) or the vectors a
// problem allocates for the CSR matrix (8·16·(rows + cols + 1) bytes) exceed
// o.MaxBytes, reported at the line where they do; ErrOption for invalid
// options.
//
// The file is read line by line: memory is the decoded arrays, charged to
// o.MaxBytes as they grow, plus one line (at most o.MaxLineBytes).
func ReadLIBSVM(r io.Reader, name string, o TextOptions) (*Matrix, []float64, error) {
	o, err := o.normalize(name)
	if err != nil {
		return nil, nil, err
	}
	t := &textReader{name: name, limit: o.MaxBytes}
	if o.Features > 0 {
		if err := t.fits(0, mulBytes(8, csrWorkVectors, int64(o.Features)+1), "features="+strconv.Itoa(o.Features)+" (the vectors of that length a problem allocates)"); err != nil {
			return nil, nil, err
		}
	}
	sc := bufio.NewScanner(skipBOM(r))
	sc.Buffer(make([]byte, 0, min(64<<10, o.MaxLineBytes+2)), o.MaxLineBytes+2)
	var (
		indptr, indices []int
		values, labels  []float64
		line            int
		maxCol          = -1
	)
	if err := push(t, &indptr, 0, 0, "the row pointers"); err != nil {
		return nil, nil, err
	}
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) > o.MaxLineBytes {
			return nil, nil, t.errAt(ErrFormat, line, "line too long (%d bytes; the limit is %d, TextOptions.MaxLineBytes)", len(b), o.MaxLineBytes)
		}
		if i := bytes.IndexByte(b, '#'); i >= 0 {
			b = b[:i]
		}
		tok, rest := nextToken(b)
		if tok == nil {
			continue
		}
		y, ok := parseNumber(string(tok))
		if !ok {
			return nil, nil, t.errAt(ErrFormat, line, "label %s is not a number", shortToken(tok))
		}
		if !finite(y) {
			return nil, nil, t.errAt(ErrNonFinite, line, "label %s is %v", shortToken(tok), y)
		}
		if err := push(t, &labels, y, line, "the labels"); err != nil {
			return nil, nil, err
		}
		start, prev, sorted := len(indices), -1, true
		for {
			if tok, rest = nextToken(rest); tok == nil {
				break
			}
			col, v, err := t.parsePair(tok, line, o)
			if err != nil {
				return nil, nil, err
			}
			if col <= prev {
				sorted = false
			}
			prev = col
			if col > maxCol {
				maxCol = col
				if o.Features == 0 {
					need := mulBytes(8, csrWorkVectors, int64(len(labels))+int64(col)+2)
					if err := t.fits(line, need, "index "+strconv.Itoa(col+t.base(o))+" (a matrix of "+strconv.Itoa(col+1)+" columns, for the vectors of length rows and cols a problem allocates for it)"); err != nil {
						return nil, nil, err
					}
				}
			}
			if err := push(t, &indices, col, line, "the column indices"); err != nil {
				return nil, nil, err
			}
			if err := push(t, &values, v, line, "the values"); err != nil {
				return nil, nil, err
			}
		}
		if !sorted {
			row := csrRowSorter{indices[start:], values[start:]}
			sort.Sort(row)
			for k := 1; k < len(row.idx); k++ {
				if row.idx[k] == row.idx[k-1] {
					return nil, nil, t.errAt(ErrFormat, line, "index %d appears twice", row.idx[k]+t.base(o))
				}
			}
		}
		if err := push(t, &indptr, len(indices), line, "the row pointers"); err != nil {
			return nil, nil, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, t.errAt(ErrFormat, line+1, "line too long (more than %d bytes, TextOptions.MaxLineBytes)", o.MaxLineBytes)
		}
		return nil, nil, t.errAt(ErrFormat, line+1, "read error: %v", err)
	}
	rows := len(labels)
	if rows == 0 {
		return nil, nil, t.errAt(ErrShape, 0, "no data lines (an empty LIBSVM file)")
	}
	cols := o.Features
	if cols == 0 {
		cols = maxCol + 1
	}
	need := mulBytes(8, csrWorkVectors, int64(rows)+int64(cols)+1)
	if err := t.fits(line, need, "the "+strconv.Itoa(rows)+"×"+strconv.Itoa(cols)+" matrix (the vectors of length rows and cols a problem allocates for it)"); err != nil {
		return nil, nil, err
	}
	return NewCSR(rows, cols, indptr, indices, values), labels, nil
}

// base is the index of column 0 in the file.
func (t *textReader) base(o TextOptions) int {
	if o.ZeroBased {
		return 0
	}
	return 1
}

// parsePair parses an index:value token of line into a column and a value.
func (t *textReader) parsePair(tok []byte, line int, o TextOptions) (int, float64, error) {
	ib, vb, ok := bytes.Cut(tok, []byte{':'})
	switch {
	case !ok:
		return 0, 0, t.errAt(ErrFormat, line, "token %s: want index:value", shortToken(tok))
	case string(ib) == "qid":
		return 0, 0, t.errAt(ErrFormat, line, "token %s: qid: tokens (svmlight ranking files) are not supported", shortToken(tok))
	case len(ib) == 0:
		return 0, 0, t.errAt(ErrFormat, line, "token %s: missing index", shortToken(tok))
	case len(vb) == 0:
		return 0, 0, t.errAt(ErrFormat, line, "token %s: missing value", shortToken(tok))
	}
	idx, err := strconv.ParseInt(string(ib), 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, 0, t.errAt(ErrFormat, line, "token %s: index %s is too large (the limit is 2^53)", shortToken(tok), shortToken(ib))
		}
		return 0, 0, t.errAt(ErrFormat, line, "token %s: index %s is not an integer", shortToken(tok), shortToken(ib))
	}
	base := int64(t.base(o))
	switch {
	case idx < 0:
		return 0, 0, t.errAt(ErrFormat, line, "token %s: negative index", shortToken(tok))
	case idx < base:
		return 0, 0, t.errAt(ErrFormat, line, "token %s: index 0 in a 1-based file (zerobased=true, TextOptions.ZeroBased, reads 0-based files)", shortToken(tok))
	case idx-base >= maxTextCols:
		return 0, 0, t.errAt(ErrFormat, line, "token %s: index %d is too large (the limit is 2^53)", shortToken(tok), idx)
	case o.Features > 0 && idx-base >= int64(o.Features):
		return 0, 0, t.errAt(ErrShape, line, "token %s: index %d is beyond the %d features (features=, TextOptions.Features; indices from %d)", shortToken(tok), idx, o.Features, base)
	}
	v, ok := parseNumber(string(vb))
	if !ok {
		return 0, 0, t.errAt(ErrFormat, line, "token %s: value %s is not a number", shortToken(tok), shortToken(vb))
	}
	if !finite(v) {
		return 0, 0, t.errAt(ErrNonFinite, line, "token %s: value is %v", shortToken(tok), v)
	}
	return int(idx - base), v, nil
}

// nextToken returns the first run of non-blank bytes of b (nil if none) and
// what follows it. Blanks are space, tab, '\r', '\v' and '\f'.
func nextToken(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	if i == len(b) {
		return nil, nil
	}
	j := i
	for j < len(b) && !isBlank(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// csrRowSorter sorts one CSR row by column index, moving the values along.
type csrRowSorter struct {
	idx []int
	val []float64
}

func (s csrRowSorter) Len() int           { return len(s.idx) }
func (s csrRowSorter) Less(i, j int) bool { return s.idx[i] < s.idx[j] }
func (s csrRowSorter) Swap(i, j int) {
	s.idx[i], s.idx[j] = s.idx[j], s.idx[i]
	s.val[i], s.val[j] = s.val[j], s.val[i]
}
