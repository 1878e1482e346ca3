package data

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"codeberg.org/sbinet/npyio/npz"
)

// Archive is an open .npz file (a zip archive of .npy members, as written by
// numpy.savez and numpy.savez_compressed). Member names are used without their
// ".npy" suffix. An Archive is not safe for concurrent use.
type Archive struct {
	path    string
	r       *npz.Reader
	names   []string          // sorted, without ".npy"
	members map[string]string // name → zip member name
	closer  io.Closer         // the file, if OpenNPZ opened it
}

// OpenNPZ opens the .npz file at path.
func OpenNPZ(path string) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	a, err := newArchive(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	a.closer = f
	return a, nil
}

// newArchive reads the zip directory of an .npz held by r (size bytes); path
// names it in errors.
func newArchive(path string, r io.ReaderAt, size int64) (a *Archive, err error) {
	defer func() {
		if p := recover(); p != nil {
			a, err = nil, &Error{Path: path, Kind: ErrFormat, Msg: fmt.Sprintf("cannot open as .npz (npyio panicked: %v)", p)}
		}
	}()
	zr, err := npz.NewReader(r, size)
	if err != nil {
		return nil, &Error{Path: path, Kind: ErrFormat, Msg: fmt.Sprintf("cannot open as .npz (zip) archive: %v", err)}
	}
	a = &Archive{path: path, r: zr, members: map[string]string{}}
	for _, k := range zr.Keys() {
		name := strings.TrimSuffix(k, ".npy")
		if _, dup := a.members[name]; dup {
			continue
		}
		a.members[name] = k
		a.names = append(a.names, name)
	}
	sort.Strings(a.names)
	return a, nil
}

// Path returns the file the archive was opened from.
func (a *Archive) Path() string { return a.path }

// Close closes the file.
func (a *Archive) Close() error {
	if a.closer == nil {
		return nil
	}
	c := a.closer
	a.closer = nil
	if err := c.Close(); err != nil {
		return &Error{Path: a.path, Kind: ErrFormat, Msg: err.Error()}
	}
	return nil
}

// Names returns the array names in the archive, sorted, without ".npy".
func (a *Archive) Names() []string { return append([]string(nil), a.names...) }

// Has reports whether the archive holds an array called name (with or without
// the ".npy" suffix).
func (a *Archive) Has(name string) bool {
	_, ok := a.members[strings.TrimSuffix(name, ".npy")]
	return ok
}

func (a *Archive) missing(name, detail string) error {
	present := "the archive is empty"
	if len(a.names) > 0 {
		present = "arrays present: " + strings.Join(a.names, ", ")
	}
	if detail != "" {
		detail += "; "
	}
	return &Error{Path: a.path, Array: name, Kind: ErrMissing, Msg: fmt.Sprintf("missing array %q (%s%s)", name, detail, present)}
}

// Array reads the array called name, converted to float64 in C order.
func (a *Archive) Array(name string) (arr *Array, err error) {
	name = strings.TrimSuffix(name, ".npy")
	member, ok := a.members[name]
	if !ok {
		return nil, a.missing(name, "")
	}
	defer func() {
		if p := recover(); p != nil {
			arr, err = nil, &Error{Path: a.path, Array: name, Kind: ErrFormat, Msg: fmt.Sprintf("%s: cannot read (npyio panicked: %v)", name, p)}
		}
	}()
	rc, err := a.r.Open(member)
	if err != nil {
		return nil, &Error{Path: a.path, Array: name, Kind: ErrFormat, Msg: fmt.Sprintf("%s: %v", name, err)}
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 4096)
	h, err := readNPYHeader(br, name)
	if err != nil {
		return nil, withPath(err, a.path)
	}
	arr, err = decodeNPY(br, h, name)
	if err != nil {
		return nil, withPath(err, a.path)
	}
	// Read to the end of the member so that archive/zip verifies its CRC-32.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, &Error{Path: a.path, Array: name, Kind: ErrFormat, Msg: fmt.Sprintf("%s: corrupt archive member: %v", name, err)}
	}
	return arr, nil
}

// Vector reads the 1-D array called name; a 0-d (scalar) array gives a
// vector of length 1.
func (a *Archive) Vector(name string) ([]float64, error) {
	arr, err := a.Array(name)
	if err != nil {
		return nil, err
	}
	if len(arr.Shape) > 1 {
		return nil, &Error{Path: a.path, Array: name, Kind: ErrShape, Msg: fmt.Sprintf("%s has %d dimensions (shape %s); want 1 (a vector)", name, len(arr.Shape), shapeString(arr.Shape))}
	}
	return arr.Data, nil
}

// Matrix reads the matrix called name: either a 2-D array name, or, when
// there is no such array, a CSR matrix stored as the four arrays name_data,
// name_indices, name_indptr and name_shape (the layout of
// scipy.sparse.csr_matrix; see the package doc). The CSR structure is checked
// (row pointers, column indices in range), not the values.
func (a *Archive) Matrix(name string) (*Matrix, error) {
	name = strings.TrimSuffix(name, ".npy")
	if a.Has(name) {
		arr, err := a.Array(name)
		if err != nil {
			return nil, err
		}
		if len(arr.Shape) != 2 {
			return nil, &Error{Path: a.path, Array: name, Kind: ErrShape, Msg: fmt.Sprintf("%s has %d dimension%s (shape %s); want 2 (a matrix)", name, len(arr.Shape), plural(len(arr.Shape)), shapeString(arr.Shape))}
		}
		return NewDense(arr.Shape[0], arr.Shape[1], arr.Data), nil
	}
	parts := []string{name + "_data", name + "_indices", name + "_indptr", name + "_shape"}
	var have []string
	for _, p := range parts {
		if a.Has(p) {
			have = append(have, p)
		}
	}
	if len(have) == 0 {
		return nil, a.missing(name, fmt.Sprintf("neither a dense %s nor CSR members %s", name, strings.Join(parts, ", ")))
	}
	for _, p := range parts {
		if !a.Has(p) {
			return nil, a.missing(p, fmt.Sprintf("CSR matrix %s needs %s", name, strings.Join(parts, ", ")))
		}
	}
	vals, err := a.Vector(parts[0])
	if err != nil {
		return nil, err
	}
	indices, err := a.intVector(parts[1])
	if err != nil {
		return nil, err
	}
	indptr, err := a.intVector(parts[2])
	if err != nil {
		return nil, err
	}
	shape, err := a.intVector(parts[3])
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 || shape[0] < 0 || shape[1] < 0 {
		return nil, &Error{Path: a.path, Array: parts[3], Kind: ErrShape, Msg: fmt.Sprintf("%s = %v; want two non-negative integers (rows, cols)", parts[3], shape)}
	}
	m := NewCSR(shape[0], shape[1], indptr, indices, vals)
	if err := m.check(name); err != nil {
		return nil, withPath(err, a.path)
	}
	return m, nil
}

// intVector reads a vector whose values must be integers.
func (a *Archive) intVector(name string) ([]int, error) {
	v, err := a.Vector(name)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return nil, &Error{Path: a.path, Array: name, Kind: ErrShape, Msg: fmt.Sprintf("%s[%d] = %v; want an integer", name, i, x)}
		}
		out[i] = int(x)
	}
	return out, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
