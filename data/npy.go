package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
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
	// headerBytes is the length of the magic string, version, length field
	// and header dictionary: the offset of the data in the stream.
	headerBytes int64
}

// dataBytes is the number of data bytes the header declares.
func (h *npyHeader) dataBytes() int64 { return int64(h.nelems) * int64(h.size) }

// peakBytes is the memory decodeNPY allocates for the array: 8 bytes per
// element, twice that for a Fortran-order array with at least two dimensions
// longer than 1 (fortranToC copies it). It cannot overflow: readNPYHeader
// bounds nelems·size, and 16·nelems ≤ 16·MaxInt64/size is checked there.
func (h *npyHeader) peakBytes() int64 {
	n := int64(h.nelems) * 8
	if h.fortran {
		long := 0
		for _, d := range h.shape {
			if d > 1 {
				long++
			}
		}
		if long >= 2 {
			n *= 2
		}
	}
	return n
}

// clip shortens s to at most n bytes for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// maxNDim is the most dimensions an array may have (numpy's NPY_MAXDIMS in
// numpy 2; numpy 1 allows 32). The header parser stops at the 65th dimension,
// so a header listing hundreds of thousands of them costs no per-dimension
// work beyond reading its bytes.
const maxNDim = 64

// readNPYHeader reads the magic string, version and header dictionary of a .npy
// stream and checks that the dtype is one this package converts, that the
// shape has at most maxNDim non-negative dimensions and that its byte size
// fits in an int64. avail is the number of bytes the stream holds, or −1 if
// unknown: a header longer than that is reported as truncated before it is
// read.
func readNPYHeader(r io.Reader, name string, avail int64) (*npyHeader, error) {
	var magic [8]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, newErr(ErrFormat, name, "%s: not a .npy array: cannot read its 8-byte preamble (%v)", name, err)
	}
	if !bytes.Equal(magic[:6], npy.Magic[:]) {
		return nil, newErr(ErrFormat, name, "%s: not a .npy array (bad magic string %q)", name, magic[:6])
	}
	var hlen int
	switch major := magic[6]; major {
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
		return nil, newErr(ErrFormat, name, "%s: unsupported .npy format version %d.%d", name, major, magic[7])
	}
	pre := int64(10)
	if magic[6] != 1 {
		pre = 12
	}
	if avail >= 0 && pre+int64(hlen) > avail {
		return nil, newErr(ErrFormat, name, "%s: truncated .npy header: want %d bytes, %d remain", name, hlen, max(avail-pre, 0))
	}
	buf := make([]byte, hlen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, newErr(ErrFormat, name, "%s: truncated .npy header: want %d bytes (%v)", name, hlen, err)
	}
	dict, err := parsePyDict(string(buf))
	if errors.Is(err, errTooManyDims) {
		return nil, newErr(ErrFormat, name, "%s: shape has more than %d dimensions (numpy's limit)", name, maxNDim)
	}
	if err != nil {
		return nil, newErr(ErrFormat, name, "%s: malformed .npy header %q: %v", name, clip(strings.TrimSpace(string(buf)), 200), err)
	}
	h := &npyHeader{headerBytes: pre + int64(hlen)}
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
		if n != 0 && h.nelems > math.MaxInt64/16/n {
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

// readChunk is the size of the buffer array data is read through: data is
// decoded incrementally, never read whole into memory before conversion.
const readChunk = 1 << 16

// decodeNPY reads the data of an array whose header h has been read from r and
// returns it as float64 in C order. It reads at most h.dataBytes() bytes. When
// exact is true the caller has checked that the source holds that many bytes,
// and the result is allocated once; otherwise (a stream of unknown length, or
// a compressed member whose directory size cannot be trusted until its
// checksum is read) the result grows geometrically as data arrives, so memory
// stays within twice the data actually present however large the header
// claims the array is. A short source is an ErrFormat error saying how many
// bytes it holds.
func decodeNPY(r io.Reader, h *npyHeader, name string, exact bool) (*Array, error) {
	want := h.dataBytes()
	initial := h.nelems
	if !exact {
		initial = min(h.nelems, readChunk)
	}
	vals := make([]float64, 0, initial)
	step := max(readChunk/h.size*h.size, h.size)
	buf := make([]byte, min(int64(step), max(want, 1)))
	var got int64
	order := binary.ByteOrder(binary.LittleEndian)
	if h.canon[0] == '>' {
		order = binary.BigEndian
	}
	kind := h.canon[1]
	for got < want {
		chunk := buf[:min(int64(len(buf)), want-got)]
		n, err := io.ReadFull(r, chunk)
		got += int64(n)
		k := n / h.size
		if len(vals)+k > cap(vals) {
			vals = slices.Grow(vals, min(h.nelems, max(2*cap(vals), len(vals)+k))-len(vals))
		}
		vals = appendDecoded(vals, chunk[:k*h.size], kind, h.size, order)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			return nil, newErr(ErrFormat, name, "%s: cannot read array data: %v", name, err)
		}
	}
	if got < want {
		return nil, truncated(h, name, got)
	}
	if h.fortran {
		vals = fortranToC(vals, h.shape)
	}
	shape := h.shape
	if shape == nil {
		shape = []int{}
	}
	return &Array{Shape: shape, Data: vals, DType: h.dtype}, nil
}

// truncated is the error for array data shorter than its header declares.
func truncated(h *npyHeader, name string, have int64) error {
	return newErr(ErrFormat, name, "%s is truncated: shape %s of dtype '%s' needs %d bytes of data, the file holds %d",
		name, shapeString(h.shape), h.dtype, h.dataBytes(), have)
}

// appendDecoded converts b, whole elements of the given kind ('b', 'i', 'u',
// 'f') and size in the given byte order, to float64 and appends them to dst.
// A bool byte is true when non-zero, as in numpy; float16 is widened exactly
// through float32.
func appendDecoded(dst []float64, b []byte, kind byte, size int, order binary.ByteOrder) []float64 {
	for i := 0; i+size <= len(b); i += size {
		e := b[i : i+size]
		var v float64
		switch kind {
		case 'b':
			if e[0] != 0 {
				v = 1
			}
		case 'i':
			switch size {
			case 1:
				v = float64(int8(e[0]))
			case 2:
				v = float64(int16(order.Uint16(e)))
			case 4:
				v = float64(int32(order.Uint32(e)))
			default:
				v = float64(int64(order.Uint64(e)))
			}
		case 'u':
			switch size {
			case 1:
				v = float64(e[0])
			case 2:
				v = float64(order.Uint16(e))
			case 4:
				v = float64(order.Uint32(e))
			default:
				v = float64(order.Uint64(e))
			}
		default: // 'f'
			switch size {
			case 2:
				v = float64(float16.Float16Frombits(order.Uint16(e)).Float32())
			case 4:
				v = float64(math.Float32frombits(order.Uint32(e)))
			default:
				v = math.Float64frombits(order.Uint64(e))
			}
		}
		dst = append(dst, v)
	}
	return dst
}

// fortranToC reorders column-major (Fortran) data of the given shape into
// row-major (C) order. Dimensions of length 1 do not affect the order and are
// dropped first; every remaining dimension has length at least 2, so the
// odometer below carries into dimension t only once every 2^(k−1−t) elements
// and the whole reordering costs O(len(src)) steps. With fewer than two
// remaining dimensions both orders coincide and src is returned as is.
func fortranToC(src []float64, shape []int) []float64 {
	var dims []int
	for _, n := range shape {
		if n == 0 {
			return src
		}
		if n != 1 {
			dims = append(dims, n)
		}
	}
	k := len(dims)
	if k < 2 {
		return src
	}
	dst := make([]float64, len(src))
	fstride := make([]int, k)
	s := 1
	for t := 0; t < k; t++ {
		fstride[t] = s
		s *= dims[t]
	}
	idx := make([]int, k) // C-order odometer
	off := 0              // Fortran offset of idx
	for i := range dst {
		dst[i] = src[off]
		for t := k - 1; t >= 0; t-- {
			idx[t]++
			off += fstride[t]
			if idx[t] < dims[t] {
				break
			}
			off -= idx[t] * fstride[t]
			idx[t] = 0
		}
	}
	return dst
}

// LoadNPY reads a .npy file with the default Limits.
func LoadNPY(path string) (*Array, error) { return Limits{}.LoadNPY(path) }

// LoadNPY reads a .npy file. The header's declared data must fit in the file
// and, decoded to float64, in the memory budget of l; both are checked before
// the data is read.
func (l Limits) LoadNPY(path string) (*Array, error) {
	b, err := l.newBudget()
	if err != nil {
		return nil, withPath(err, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	avail := int64(-1)
	if st.Mode().IsRegular() {
		avail = st.Size()
	}
	return readNPYStream(bufio.NewReaderSize(f, readChunk), path, avail, b)
}

// readNPY reads a .npy stream of unknown length with the default budget; path
// names it in errors.
func readNPY(r io.Reader, path string) (*Array, error) {
	return readNPYStream(r, path, -1, &budget{limit: DefaultMaxBytes})
}

// readNPYStream reads a .npy stream holding avail bytes (−1: unknown), charging
// the array to b.
func readNPYStream(r io.Reader, path string, avail int64, b *budget) (*Array, error) {
	h, err := readNPYHeader(r, "array", avail)
	if err != nil {
		return nil, withPath(err, path)
	}
	if err := checkDeclared(h, "array", avail, b); err != nil {
		return nil, withPath(err, path)
	}
	a, err := decodeNPY(io.LimitReader(r, h.dataBytes()), h, "array", avail >= 0)
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
