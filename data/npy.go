package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npy/float16"
)

// Array is an n-dimensional array read from a .npy file or an .npz member,
// converted to float64 in C (row-major) order whatever the file's dtype
// (bool, int8…int64, uint8…uint64, float16/32/64, either byte order) and
// memory order (C or Fortran). A 0-d array has an empty Shape and one value.
type Array struct {
	Shape []int
	Data  []float64
	DType string // the file's dtype, as numpy writes it (e.g. "<i8", "|b1")
}

// maxHeaderLen bounds the .npy header a file may declare (numpy's own default
// limit is 10000 bytes), so that a corrupt length cannot force a huge
// allocation.
const maxHeaderLen = 1 << 20

// npyHeader is a parsed and checked .npy header.
type npyHeader struct {
	dtype   string // as in the file, e.g. "<f8"
	canon   string // the form handed to npyio: "<f8", ">i4", "|b1"
	size    int    // bytes per element
	fortran bool
	shape   []int
	nelems  int
}

func (h *npyHeader) dataBytes() int64 { return int64(h.nelems) * int64(h.size) }

// readNPYHeader reads the magic string, version and header dictionary of a .npy
// stream and checks that the dtype is one this package converts.
func readNPYHeader(r io.Reader, name string) (*npyHeader, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, newErr(ErrFormat, name, "%s: not a .npy array: cannot read its 8-byte preamble (%v)", name, err)
	}
	if !bytes.Equal(pre[:6], npy.Magic[:]) {
		return nil, newErr(ErrFormat, name, "%s: not a .npy array (bad magic string %q)", name, pre[:6])
	}
	var hlen int
	switch major := pre[6]; major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, newErr(ErrFormat, name, "%s: truncated .npy header (%v)", name, err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, newErr(ErrFormat, name, "%s: truncated .npy header (%v)", name, err)
		}
		n := binary.LittleEndian.Uint32(b[:])
		if n > maxHeaderLen {
			return nil, newErr(ErrFormat, name, "%s: .npy header length %d exceeds the limit of %d bytes", name, n, maxHeaderLen)
		}
		hlen = int(n)
	default:
		return nil, newErr(ErrFormat, name, "%s: unsupported .npy format version %d.%d", name, major, pre[7])
	}
	buf := make([]byte, hlen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, newErr(ErrFormat, name, "%s: truncated .npy header: want %d bytes (%v)", name, hlen, err)
	}
	dict, err := parsePyDict(string(buf))
	if err != nil {
		return nil, newErr(ErrFormat, name, "%s: malformed .npy header %q: %v", name, strings.TrimSpace(string(buf)), err)
	}
	h := &npyHeader{}
	descr, ok := dict["descr"]
	if !ok {
		return nil, newErr(ErrFormat, name, "%s: .npy header has no 'descr' key", name)
	}
	if descr.kind != pyString {
		return nil, newErr(ErrDType, name, "%s has unsupported dtype %s (structured or record array); want a plain bool, int, uint or float array", name, descr.raw)
	}
	if err := h.setDType(descr.str, name); err != nil {
		return nil, err
	}
	fo, ok := dict["fortran_order"]
	if !ok || fo.kind != pyBool {
		return nil, newErr(ErrFormat, name, "%s: .npy header lacks a True/False 'fortran_order'", name)
	}
	h.fortran = fo.b
	sh, ok := dict["shape"]
	if !ok || sh.kind != pyTuple {
		return nil, newErr(ErrFormat, name, "%s: .npy header lacks a 'shape' tuple", name)
	}
	h.shape = sh.ints
	h.nelems = 1
	for _, n := range h.shape {
		if n < 0 {
			return nil, newErr(ErrFormat, name, "%s: negative dimension in shape %s", name, shapeString(h.shape))
		}
		if n != 0 && h.nelems > math.MaxInt64/h.size/n {
			return nil, newErr(ErrFormat, name, "%s: shape %s is too large", name, shapeString(h.shape))
		}
		h.nelems *= n
	}
	return h, nil
}

var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// setDType checks a numpy dtype string such as "<f8" and records its canonical
// form and element size.
func (h *npyHeader) setDType(dt, name string) error {
	h.dtype = dt
	order, rest := byte('='), dt
	if len(rest) > 0 && strings.IndexByte("<>|=", rest[0]) >= 0 {
		order, rest = rest[0], rest[1:]
	}
	if rest == "?" {
		rest = "b1"
	}
	unsupported := func(what string) error {
		return newErr(ErrDType, name, "%s has unsupported dtype '%s' (%s); want bool, int, uint or float of at most 64 bits", name, dt, what)
	}
	if rest == "" {
		return unsupported("empty")
	}
	kind := rest[0]
	switch kind {
	case 'O':
		return newErr(ErrDType, name, "%s is an object array (dtype '%s'), which is not supported: save plain numeric arrays (e.g. np.asarray(x, dtype=np.float64))", name, dt)
	case 'c':
		return unsupported("complex")
	case 'S', 'a', 'U':
		return unsupported("string")
	case 'V':
		return unsupported("void/record")
	case 'M', 'm':
		return unsupported("datetime")
	case 'b', 'i', 'u', 'f':
	default:
		return unsupported("unknown kind")
	}
	size, err := strconv.Atoi(rest[1:])
	if err != nil {
		return unsupported("bad item size")
	}
	ok := false
	switch kind {
	case 'b':
		ok = size == 1
	case 'i', 'u':
		ok = size == 1 || size == 2 || size == 4 || size == 8
	case 'f':
		ok = size == 2 || size == 4 || size == 8
	}
	if !ok {
		return unsupported(fmt.Sprintf("%d-byte %c", size, kind))
	}
	h.size = size
	switch {
	case size == 1:
		order = '|'
	case order == '|':
		return unsupported("multi-byte type without byte order")
	case order == '=':
		order = '>'
		if littleEndianHost {
			order = '<'
		}
	}
	h.canon = string(order) + string(kind) + strconv.Itoa(size)
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decodeNPY reads the data of an array whose header h has been read from r,
// using npyio to convert the bytes, and returns it as float64 in C order.
// It never panics: a panic inside npyio becomes an ErrFormat error.
func decodeNPY(r io.Reader, h *npyHeader, name string) (arr *Array, err error) {
	// Hand npyio a canonical header (its parser expects numpy's exact key order
	// and spacing) followed by at most the declared number of bytes.
	hdr := bytes.NewReader(npyHeaderBytes(h.canon, h.fortran, h.shape))

	want := h.dataBytes()
	cr := &countingReader{r: io.LimitReader(r, want)}
	var a npy.Array
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = newErr(ErrFormat, name, "%s: cannot decode array data (npyio panicked: %v)", name, p)
			}
		}()
		var rd *npy.Reader
		rd, err = npy.NewReader(io.MultiReader(hdr, cr))
		if err == nil {
			err = rd.Read(&a)
		}
	}()
	if cr.n < want {
		return nil, newErr(ErrFormat, name, "%s is truncated: shape %s of dtype '%s' needs %d bytes of data, the file holds %d",
			name, shapeString(h.shape), h.dtype, want, cr.n)
	}
	if err != nil {
		if _, ok := err.(*Error); ok {
			return nil, err
		}
		return nil, newErr(ErrFormat, name, "%s: cannot decode array data: %v", name, err)
	}
	vals, err := toFloat64(a.Data(), name, h.dtype)
	if err != nil {
		return nil, err
	}
	if len(vals) != h.nelems {
		return nil, newErr(ErrFormat, name, "%s: decoded %d values, shape %s needs %d", name, len(vals), shapeString(h.shape), h.nelems)
	}
	if h.fortran && len(h.shape) > 1 {
		vals = fortranToC(vals, h.shape)
	}
	shape := h.shape
	if shape == nil {
		shape = []int{}
	}
	return &Array{Shape: shape, Data: vals, DType: h.dtype}, nil
}

// toFloat64 converts the typed slice npyio returns to float64 (no copy for
// float64).
func toFloat64(v any, name, dtype string) ([]float64, error) {
	switch s := v.(type) {
	case []float64:
		return s, nil
	case []float32:
		return convert(s), nil
	case []float16.Num:
		out := make([]float64, len(s))
		for i, x := range s {
			out[i] = float64(x.Float32())
		}
		return out, nil
	case []int8:
		return convert(s), nil
	case []int16:
		return convert(s), nil
	case []int32:
		return convert(s), nil
	case []int64:
		return convert(s), nil
	case []uint8:
		return convert(s), nil
	case []uint16:
		return convert(s), nil
	case []uint32:
		return convert(s), nil
	case []uint64:
		return convert(s), nil
	case []bool:
		out := make([]float64, len(s))
		for i, x := range s {
			if x {
				out[i] = 1
			}
		}
		return out, nil
	}
	return nil, newErr(ErrDType, name, "%s: dtype '%s' decoded to unsupported Go type %T", name, dtype, v)
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32
}

func convert[T number](s []T) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = float64(x)
	}
	return out
}

// fortranToC reorders column-major (Fortran) data of the given shape into
// row-major (C) order.
func fortranToC(src []float64, shape []int) []float64 {
	dst := make([]float64, len(src))
	if len(src) == 0 {
		return dst
	}
	k := len(shape)
	fstride := make([]int, k)
	s := 1
	for t := 0; t < k; t++ {
		fstride[t] = s
		s *= shape[t]
	}
	idx := make([]int, k) // C-order odometer
	off := 0              // Fortran offset of idx
	for i := range dst {
		dst[i] = src[off]
		for t := k - 1; t >= 0; t-- {
			idx[t]++
			off += fstride[t]
			if idx[t] < shape[t] {
				break
			}
			off -= idx[t] * fstride[t]
			idx[t] = 0
		}
	}
	return dst
}

// LoadNPY reads a .npy file.
func LoadNPY(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	defer f.Close()
	return readNPY(bufio.NewReaderSize(f, 1<<16), path)
}

// readNPY reads a .npy stream; path names it in errors.
func readNPY(r io.Reader, path string) (*Array, error) {
	h, err := readNPYHeader(r, "array")
	if err != nil {
		return nil, withPath(err, path)
	}
	a, err := decodeNPY(r, h, "array")
	return a, withPath(err, path)
}

// npyHeaderBytes returns the magic string, version and padded header of a
// .npy stream (version 1.0, or 2.0 if the header needs more than 64 KiB).
func npyHeaderBytes(descr string, fortran bool, shape []int) []byte {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, pyBoolString(fortran), shapeTuple(shape))
	var b bytes.Buffer
	b.Write(npy.Magic[:])
	pre := 10
	if pre+len(dict)+1 > math.MaxUint16 {
		pre = 12
	}
	pad := (16 - (pre+len(dict)+1)%16) % 16
	n := len(dict) + pad + 1
	if pre == 10 {
		b.Write([]byte{1, 0})
		_ = binary.Write(&b, binary.LittleEndian, uint16(n))
	} else {
		b.Write([]byte{2, 0})
		_ = binary.Write(&b, binary.LittleEndian, uint32(n))
	}
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", pad))
	b.WriteByte('\n')
	return b.Bytes()
}

func pyBoolString(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// shapeTuple formats a shape as a Python tuple: (), (3,), (3, 4).
func shapeTuple(shape []int) string {
	switch len(shape) {
	case 0:
		return "()"
	case 1:
		return "(" + strconv.Itoa(shape[0]) + ",)"
	}
	parts := make([]string, len(shape))
	for i, n := range shape {
		parts[i] = strconv.Itoa(n)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// shapeString formats a shape for messages, as numpy prints it.
func shapeString(shape []int) string { return shapeTuple(shape) }
