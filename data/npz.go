package data

import (
	"archive/zip"
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// Archive is an open .npz file (a zip archive of .npy members, as written by
// numpy.savez and numpy.savez_compressed). Member names are used without their
// ".npy" suffix; two members that name the same array ("X" and "X.npy", or
// one name twice) make the archive ambiguous and are refused. Every array
// read is charged to the archive's memory budget (see Limits). An Archive is
// not safe for concurrent use.
type Archive struct {
	path    string
	size    int64                // bytes of the archive file
	names   []string             // sorted, without ".npy"
	members map[string]*zip.File // name → zip member
	closer  io.Closer            // the file, if OpenNPZ opened it
	budget  *budget
}

// OpenNPZ opens the .npz file at path with the default Limits.
func OpenNPZ(path string) (*Archive, error) { return Limits{}.OpenNPZ(path) }

// OpenNPZ opens the .npz file at path; the arrays read from it share the
// memory budget of l.
func (l Limits) OpenNPZ(path string) (*Archive, error) {
	b, err := l.newBudget()
	if err != nil {
		return nil, withPath(err, path)
	}
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
	a.budget = b
	return a, nil
}

// newArchive reads the zip directory of an .npz held by r (size bytes), with
// the default budget; path names it in errors.
func newArchive(path string, r io.ReaderAt, size int64) (a *Archive, err error) {
	defer func() {
		if p := recover(); p != nil {
			a, err = nil, &Error{Path: path, Kind: ErrFormat, Msg: fmt.Sprintf("cannot open as .npz (zip reader panicked: %v)", p)}
		}
	}()
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, &Error{Path: path, Kind: ErrFormat, Msg: fmt.Sprintf("cannot open as .npz (zip) archive: %v", err)}
	}
	a = &Archive{path: path, size: size, members: map[string]*zip.File{}, budget: &budget{limit: DefaultMaxBytes}}
	for _, f := range zr.File {
		name := strings.TrimSuffix(f.Name, ".npy")
		if prev, dup := a.members[name]; dup {
			return nil, &Error{Path: path, Array: name, Kind: ErrFormat,
				Msg: fmt.Sprintf("ambiguous archive: members %q and %q both hold array %q; keep one", prev.Name, f.Name, name)}
		}
		a.members[name] = f
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

// Has reports whether the archive holds an array called name (as Names lists
// it, or with ".npy" appended).
func (a *Archive) Has(name string) bool {
	_, _, ok := a.member(name)
	return ok
}

// member returns the zip member of the array called name and that array's
// name: name itself when Names lists it, else name without a ".npy" suffix.
// The exact name comes first, so that an array whose name ends in ".npy"
// (a member "a.npy.npy") is found as Names lists it.
func (a *Archive) member(name string) (*zip.File, string, bool) {
	if f, ok := a.members[name]; ok {
		return f, name, true
	}
	name = strings.TrimSuffix(name, ".npy")
	f, ok := a.members[name]
	return f, name, ok
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

// Array reads the array called name, converted to float64 in C order. Before
// reading the data it checks the member's sizes in the zip directory (the
// compressed size within the archive; a stored member's sizes equal; a
// deflated member's decompressed size at most 1032 times its compressed
// size), that the header's declared data fits in the decompressed size, and
// that the decoded array fits in the memory budget. The member is then read
// incrementally and never beyond its declared size; reading it to the end
// verifies its CRC-32.
func (a *Archive) Array(name string) (arr *Array, err error) {
	f, name, ok := a.member(name)
	if !ok {
		return nil, a.missing(name, "")
	}
	defer func() {
		if p := recover(); p != nil {
			arr, err = nil, &Error{Path: a.path, Array: name, Kind: ErrFormat, Msg: fmt.Sprintf("%s: cannot read (panic: %v)", name, p)}
		}
	}()
	fail := func(format string, args ...any) error {
		return &Error{Path: a.path, Array: name, Kind: ErrFormat, Msg: name + ": " + fmt.Sprintf(format, args...)}
	}
	csize, usize := f.CompressedSize64, f.UncompressedSize64
	if csize > uint64(a.size) {
		return nil, fail("member %q declares %d compressed bytes, more than the whole archive (%d bytes)", f.Name, csize, a.size)
	}
	switch f.Method {
	case zip.Store:
		if usize != csize {
			return nil, fail("stored member %q declares %d bytes uncompressed but %d stored", f.Name, usize, csize)
		}
	case zip.Deflate:
		if usize/maxDeflateRatio > csize {
			return nil, fail("member %q declares %d bytes decompressed from %d compressed, beyond deflate's maximum ratio of %d:1", f.Name, usize, csize, maxDeflateRatio)
		}
	}
	avail := int64(usize) // ≤ 1032 × the archive size: no overflow
	rc, err := f.Open()
	if err != nil {
		return nil, fail("%v", err)
	}
	defer rc.Close()
	// One byte beyond the declared size lets archive/zip see the end of the
	// member and verify its size and CRC-32.
	br := bufio.NewReaderSize(io.LimitReader(rc, avail+1), 4096)
	h, err := readNPYHeader(br, name, avail)
	if err != nil {
		return nil, withPath(err, a.path)
	}
	if err := checkDeclared(h, name, avail, a.budget); err != nil {
		return nil, withPath(err, a.path)
	}
	arr, err = decodeNPY(br, h, name, f.Method == zip.Store)
	if err != nil {
		return nil, withPath(err, a.path)
	}
	// Read to the end of the member so that archive/zip verifies its CRC-32.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, fail("corrupt archive member: %v", err)
	}
	return arr, nil
}

// checkDeclared checks, before any data is read, that the data declared by
// header h fits in the avail bytes of its stream (avail < 0: unknown) and that
// the decoded array fits in budget b, which it is then charged to.
func checkDeclared(h *npyHeader, name string, avail int64, b *budget) error {
	if avail >= 0 && h.dataBytes() > avail-h.headerBytes {
		return truncated(h, name, avail-h.headerBytes)
	}
	what := fmt.Sprintf("shape %s (%d elements, 8 bytes each as float64", shapeString(h.shape), h.nelems)
	if h.peakBytes() > int64(h.nelems)*8 {
		what += ", twice for the Fortran-to-C reordering"
	}
	if err := b.fits(name, h.peakBytes(), what+")"); err != nil {
		return err
	}
	return b.take(name, int64(h.nelems)*8, what+")")
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
//
// An archive holding both a dense name and CSR members for it is ambiguous
// and refused. The declared CSR shape is checked against the memory budget
// before the other three arrays are read: 8·16·(rows + cols + 1) bytes, the
// vectors of length rows and cols a problem allocates, must fit.
func (a *Archive) Matrix(name string) (*Matrix, error) {
	dense, name, isDense := a.member(name)
	parts := []string{name + "_data", name + "_indices", name + "_indptr", name + "_shape"}
	if isDense {
		for _, p := range parts {
			if part, _, ok := a.member(p); ok {
				return nil, &Error{Path: a.path, Array: name, Kind: ErrFormat,
					Msg: fmt.Sprintf("ambiguous archive: it holds both a dense %s (member %q) and the CSR member %q; keep one form", name, dense.Name, part.Name)}
			}
		}
		arr, err := a.Array(name)
		if err != nil {
			return nil, err
		}
		if len(arr.Shape) != 2 {
			return nil, &Error{Path: a.path, Array: name, Kind: ErrShape, Msg: fmt.Sprintf("%s has %d dimension%s (shape %s); want 2 (a matrix)", name, len(arr.Shape), plural(len(arr.Shape)), shapeString(arr.Shape))}
		}
		return NewDense(arr.Shape[0], arr.Shape[1], arr.Data), nil
	}
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
	shape, err := a.intVector(parts[3])
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 || shape[0] < 0 || shape[1] < 0 {
		return nil, &Error{Path: a.path, Array: parts[3], Kind: ErrShape, Msg: fmt.Sprintf("%s = %v; want two non-negative integers (rows, cols)", parts[3], shape)}
	}
	need := mulBytes(8, csrWorkVectors, int64(shape[0])+int64(shape[1])+1)
	if err := a.budget.fits(name, need, fmt.Sprintf("a %d×%d CSR matrix (the %d vectors of length rows and cols a problem allocates for it)", shape[0], shape[1], csrWorkVectors)); err != nil {
		return nil, withPath(err, a.path)
	}
	indptr, err := a.intVector(parts[2])
	if err != nil {
		return nil, err
	}
	if len(indptr) != shape[0]+1 {
		return nil, &Error{Path: a.path, Array: parts[2], Kind: ErrShape, Msg: fmt.Sprintf("%s (CSR) has %d row pointers, want rows+1 = %d", name, len(indptr), shape[0]+1)}
	}
	vals, err := a.Vector(parts[0])
	if err != nil {
		return nil, err
	}
	indices, err := a.intVector(parts[1])
	if err != nil {
		return nil, err
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
	if err := a.budget.take(name, mulBytes(8, int64(len(v)), 1), fmt.Sprintf("the int copy of its %d values", len(v))); err != nil {
		return nil, withPath(err, a.path)
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
