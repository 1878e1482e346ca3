package data

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Hostile inputs: tiny files built here that declare huge or pathological
// arrays. Each load must return a typed error (or the right data) within the
// deadline, allocating at most hostileAlloc bytes in all.

const (
	hostileDeadline = 10 * time.Second
	hostileAlloc    = 64 << 20
)

// loadBounded runs load in a goroutine; it fails the test if load does not
// return within hostileDeadline or if the bytes allocated meanwhile
// (MemStats.TotalAlloc, which counts memory later freed too) exceed
// hostileAlloc. It returns load's error.
func loadBounded(t *testing.T, what string, load func() error) error {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan error, 1)
	go func() { done <- load() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(hostileDeadline):
		t.Fatalf("%s: the loader did not return within %v", what, hostileDeadline)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > hostileAlloc {
		t.Errorf("%s: the loader allocated %d bytes, more than %d", what, grew, hostileAlloc)
	}
	return err
}

// wantErr fails unless err is an *Error of the given kind whose message holds
// every string in msg.
func wantErr(t *testing.T, what string, err, kind error, msg ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, kind) {
		t.Fatalf("%s: error %v (%T); want a *data.Error of kind %v", what, err, err, kind)
	}
	for _, s := range msg {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q lacks %q", what, err, s)
		}
	}
}

// rawMember is a zip member written verbatim: data is the member's bytes
// (compressed already if method is zip.Deflate), and size and crc are what
// the directory declares (size −1: len(plain)).
type rawMember struct {
	name   string
	method uint16
	plain  []byte // the uncompressed bytes
	size   int64  // declared uncompressed size, or −1 for len(plain)
}

// zipRaw writes members with CreateRaw so that the directory may lie about
// the decompressed size.
func zipRaw(t *testing.T, members ...rawMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		data := m.plain
		if m.method == zip.Deflate {
			var c bytes.Buffer
			fw, err := flate.NewWriter(&c, flate.BestCompression)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fw.Write(m.plain); err != nil {
				t.Fatal(err)
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			data = c.Bytes()
		}
		size := uint64(len(m.plain))
		if m.size >= 0 {
			size = uint64(m.size)
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: m.name, Method: m.method, CRC32: crc32.ChecksumIEEE(m.plain),
			CompressedSize64: uint64(len(data)), UncompressedSize64: size})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// storedMembers returns baseSupervised(replace) as stored raw members.
func storedMembers(t *testing.T, replace map[string]any) []rawMember {
	var ms []rawMember
	for _, e := range baseSupervised(replace) {
		ms = append(ms, rawMember{e.name + ".npy", zip.Store, npyBytes(t, e.v), -1})
	}
	return ms
}

// noise returns n incompressible bytes (a fixed xorshift sequence).
func noise(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 56)
	}
	return b
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// unitShape returns n dimensions of length 1.
func unitShape(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// TestHostileManyDims: a Fortran-order header with 300 000 unit dimensions
// (a 900 KB file) is refused as a file and as an archive member; 65
// dimensions are refused and 64 accepted, with the right values.
func TestHostileManyDims(t *testing.T) {
	hdr := npyHeaderBytes("<f8", true, unitShape(300000))
	file := append(append([]byte(nil), hdr...), leBytes([]float64{42})...)
	path := writeFile(t, "dims.npy", file)
	err := loadBounded(t, "300000 dims .npy", func() error { _, err := LoadNPY(path); return err })
	wantErr(t, "300000 dims .npy", err, ErrFormat, "more than 64 dimensions", path)
	if len(err.Error()) > 300 {
		t.Errorf("error message of %d bytes; want a short one", len(err.Error()))
	}

	npz := writeFile(t, "dims.npz", zipRaw(t, append(storedMembers(t, map[string]any{"lambda": nil}), rawMember{"lambda.npy", zip.Deflate, file, -1})...))
	err = loadBounded(t, "300000 dims member", func() error { _, err := LoadSupervised(npz, RealLabels); return err })
	wantErr(t, "300000 dims member", err, ErrFormat, "lambda: shape has more than 64 dimensions")

	for _, nd := range []int{65, 64} {
		shape := unitShape(nd)
		shape[3], shape[40] = 2, 3 // Fortran order: element (i, j) at i + 2j
		vals := []float64{0, 1, 2, 3, 4, 5}
		p := writeFile(t, "nd.npy", append(npyHeaderBytes("<f8", true, shape), leBytes(vals)...))
		var a *Array
		err := loadBounded(t, "ndim", func() (err error) { a, err = LoadNPY(p); return err })
		if nd == 65 {
			wantErr(t, "65 dims", err, ErrFormat, "more than 64 dimensions")
			continue
		}
		if err != nil {
			t.Fatalf("64 dims: %v", err)
		}
		want := []float64{0, 2, 4, 1, 3, 5} // C order of the 2×3 matrix
		if len(a.Shape) != 64 || !sameFloats(a.Data, want) {
			t.Errorf("64 dims: shape %d dims, data %v; want 64 dims, %v", len(a.Shape), a.Data, want)
		}
	}
}

// TestFortranToCReference compares fortranToC with the direct index formula
// on shapes mixing unit and longer dimensions.
func TestFortranToCReference(t *testing.T) {
	for _, shape := range [][]int{{2, 3}, {1, 4, 1, 3, 1}, {3, 1, 2, 2}, {5}, {1, 1}, {2, 0, 3}, {2, 3, 4, 5}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		src := make([]float64, n)
		for i := range src {
			src[i] = float64(i)
		}
		got := fortranToC(src, shape)
		if len(got) != n {
			t.Fatalf("shape %v: %d values, want %d", shape, len(got), n)
		}
		idx := make([]int, len(shape))
		for c := 0; c < n; c++ {
			// C-order index c → multi-index → Fortran offset.
			r := c
			for k := len(shape) - 1; k >= 0; k-- {
				idx[k] = r % shape[k]
				r /= shape[k]
			}
			off, s := 0, 1
			for k := range shape {
				off += idx[k] * s
				s *= shape[k]
			}
			if got[c] != src[off] {
				t.Fatalf("shape %v: C element %d = %v, want %v", shape, c, got[c], src[off])
			}
		}
	}
}

// csrSupervised returns the members of a 6-row ridge file whose X_train and
// X_val are CSR matrices with the given number of columns and one stored
// value each, and a single shared lambda.
func csrSupervised(cols int64) []entry {
	csr := func(prefix string, rows int) map[string]any {
		indptr := make([]int64, rows+1)
		for i := 1; i <= rows; i++ {
			indptr[i] = 1
		}
		return map[string]any{
			prefix + "_data": []float64{1}, prefix + "_indices": []int64{cols - 1},
			prefix + "_indptr": indptr, prefix + "_shape": []int64{int64(rows), cols},
		}
	}
	repl := map[string]any{"X_train": nil, "X_val": nil, "lambda": []float64{0.5}}
	for k, v := range csr("X_train", 6) {
		repl[k] = v
	}
	for k, v := range csr("X_val", 3) {
		repl[k] = v
	}
	return baseSupervised(repl)
}

// TestHostileCSRColumns: CSR matrices declaring 2³¹−1 or 2²⁷ columns in a
// file of a few KB are refused by the default budget before anything of
// length cols is allocated; a budget large enough for the problem's vectors
// accepts the 2²⁷-column file without allocating them.
func TestHostileCSRColumns(t *testing.T) {
	for _, cols := range []int64{1<<31 - 1, 1 << 27} {
		path := writeNPZTest(t, zip.Deflate, csrSupervised(cols)...)
		err := loadBounded(t, "CSR cols", func() error { _, err := LoadSupervised(path, RealLabels); return err })
		wantErr(t, "CSR cols", err, ErrTooLarge, "X_train", "CSR matrix", "memory limit of 8589934592 bytes")
	}
	path := writeNPZTest(t, zip.Deflate, csrSupervised(1<<27)...)
	var s *Supervised
	err := loadBounded(t, "CSR 2^27 cols, 32 GiB budget", func() (err error) {
		s, err = Limits{MaxBytes: 32 << 30}.LoadSupervised(path, RealLabels)
		return err
	})
	if err != nil {
		t.Fatalf("32 GiB budget: %v", err)
	}
	if s.XTrain.Cols != 1<<27 || s.XTrain.At(0, 1<<27-1) != 1 || s.XVal.Cols != 1<<27 {
		t.Errorf("loaded X_train %d×%d, X_val %d×%d", s.XTrain.Rows, s.XTrain.Cols, s.XVal.Rows, s.XVal.Cols)
	}
	// The row count is checked against indptr before indices and data are read.
	bad := writeNPZTest(t, zip.Store, baseSupervised(map[string]any{"X_train": nil,
		"X_train_data": []float64{1}, "X_train_indices": []int64{0}, "X_train_indptr": []int64{0, 1},
		"X_train_shape": []int64{1 << 40, 4}})...)
	err = loadBounded(t, "CSR rows", func() error { _, err := LoadSupervised(bad, RealLabels); return err })
	wantErr(t, "CSR 2^40 rows", err, ErrTooLarge, "1099511627776×4 CSR matrix")
	bad = writeNPZTest(t, zip.Store, baseSupervised(map[string]any{"X_train": nil,
		"X_train_data": []float64{1}, "X_train_indices": []int64{0}, "X_train_indptr": []int64{0, 1},
		"X_train_shape": []int64{1 << 20, 4}})...)
	err = loadBounded(t, "CSR rows", func() error { _, err := LoadSupervised(bad, RealLabels); return err })
	wantErr(t, "CSR rows vs indptr", err, ErrShape, "X_train (CSR) has 2 row pointers, want rows+1 = 1048577")
}

// TestHostileZipSizes: members whose directory claims far more decompressed
// bytes than the file can hold, or whose header declares 10¹² elements, are
// refused before their data is read.
func TestHostileZipSizes(t *testing.T) {
	small := npyBytes(t, []float64{1, 2, 3, 4})
	// A header declaring 2²⁹ float64 (4 GiB) followed by 4 KB of zeros.
	big := append(npyHeaderBytes("<f8", false, []int{1 << 29}), make([]byte, 4096)...)
	// A header declaring 10¹² float64 elements.
	huge := append(npyHeaderBytes("<f8", false, []int{1000000, 1000000}), make([]byte, 64)...)
	cases := []struct {
		name   string
		member rawMember
		kind   error
		msg    []string
	}{
		{"deflate claims 4 GiB", rawMember{"lambda.npy", zip.Deflate, small, 4 << 30}, ErrFormat,
			[]string{`member "lambda.npy" declares 4294967296 bytes decompressed`, "1032:1"}},
		{"stored claims 4 GiB", rawMember{"lambda.npy", zip.Store, small, 4 << 30}, ErrFormat,
			[]string{`stored member "lambda.npy" declares 4294967296 bytes uncompressed`}},
		{"header claims 4 GiB", rawMember{"lambda.npy", zip.Deflate, big, -1}, ErrFormat,
			[]string{"lambda is truncated", "needs 4294967296 bytes"}},
		{"header claims 1e12 elements", rawMember{"lambda.npy", zip.Store, huge, -1}, ErrFormat,
			[]string{"lambda is truncated", "needs 8000000000000 bytes"}},
		// The directory lies within deflate's ratio: the data is read
		// incrementally and the shortfall found without allocating 4 MB·8.
		{"directory lies within the ratio", rawMember{"lambda.npy", zip.Deflate,
			append(npyHeaderBytes("<f8", false, []int{1 << 19}), noise(8192)...), 1<<22 + 128}, ErrFormat,
			[]string{"lambda is truncated", "needs 4194304 bytes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms := storedMembers(t, map[string]any{"lambda": nil})
			path := writeFile(t, "z.npz", zipRaw(t, append(ms, c.member)...))
			err := loadBounded(t, c.name, func() error { _, err := LoadSupervised(path, RealLabels); return err })
			wantErr(t, c.name, err, c.kind, c.msg...)
		})
	}

	// The same declarations in a plain .npy file and in a stream of unknown
	// length: the file size, or else the budget, refuses them.
	p := writeFile(t, "huge.npy", huge)
	err := loadBounded(t, "1e12 .npy", func() error { _, err := LoadNPY(p); return err })
	wantErr(t, "1e12 .npy", err, ErrFormat, "array is truncated", "needs 8000000000000 bytes", "holds 64")
	err = loadBounded(t, "1e12 stream", func() error { _, err := readNPY(bytes.NewReader(huge), "mem"); return err })
	wantErr(t, "1e12 stream", err, ErrTooLarge, "shape (1000000, 1000000)", "8000000000000 bytes")
	err = loadBounded(t, "4 GiB stream", func() error { _, err := readNPY(bytes.NewReader(big), "mem"); return err })
	wantErr(t, "4 GiB stream", err, ErrFormat, "array is truncated", "needs 4294967296 bytes", "holds 4096")
}

// TestLimitsBudget: the budget counts every array of a file as float64
// (8 bytes per element whatever the dtype); a budget of exactly the bytes
// needed suffices and one byte less does not.
func TestLimitsBudget(t *testing.T) {
	path := writeNPZTest(t, zip.Store, baseSupervised(map[string]any{"y_val": []int8{-1, 1, 1}})...)
	// 6×4 + 6 + 3×4 + 3 + 4 = 49 values.
	const need = 49 * 8
	if _, err := (Limits{MaxBytes: need}).LoadSupervised(path, RealLabels); err != nil {
		t.Fatalf("budget of exactly %d bytes: %v", need, err)
	}
	_, err := Limits{MaxBytes: need - 1}.LoadSupervised(path, RealLabels)
	wantErr(t, "budget one byte short", err, ErrTooLarge, "lambda", "memory limit of 391 bytes", "with 360 bytes of other arrays")
	_, err = Limits{MaxBytes: -1}.LoadSupervised(path, RealLabels)
	wantErr(t, "negative budget", err, ErrOption, "Limits.MaxBytes = -1")
	_, err = Limits{MaxBytes: 100}.Load("ridge", path)
	wantErr(t, "Load with a budget", err, ErrTooLarge, "X_train: shape (6, 4)")

	// Fortran order needs a second copy while it is reordered.
	f := writeFile(t, "f.npy", append(npyHeaderBytes("<f8", true, []int{2, 3}), leBytes(make([]float64, 6))...))
	if _, err := (Limits{MaxBytes: 96}).LoadNPY(f); err != nil {
		t.Fatalf("Fortran 2×3 within 96 bytes: %v", err)
	}
	_, err = Limits{MaxBytes: 95}.LoadNPY(f)
	wantErr(t, "Fortran 2×3 within 95 bytes", err, ErrTooLarge, "Fortran-to-C")
}

// TestHostileDuplicateMembers: two members for one array, by the same name
// or with and without ".npy", and a dense matrix stored also as CSR, are
// refused naming both members.
func TestHostileDuplicateMembers(t *testing.T) {
	x := npyBytes(t, dense(6, 4, xval))
	for _, names := range [][2]string{{"X_train.npy", "X_train.npy"}, {"X_train", "X_train.npy"}, {"X_train.npy", "X_train"}} {
		ms := storedMembers(t, map[string]any{"X_train": nil})
		ms = append(ms, rawMember{names[0], zip.Store, x, -1}, rawMember{names[1], zip.Deflate, x, -1})
		path := writeFile(t, "dup.npz", zipRaw(t, ms...))
		err := loadBounded(t, "duplicate", func() error { _, err := LoadSupervised(path, RealLabels); return err })
		wantErr(t, names[0]+" and "+names[1], err, ErrFormat, "ambiguous archive", `"`+names[0]+`"`, `"`+names[1]+`"`)
		_, err = OpenNPZ(path)
		wantErr(t, "OpenNPZ", err, ErrFormat, "ambiguous archive")
	}
	path := writeNPZTest(t, zip.Store, baseSupervised(map[string]any{"X_train_data": []float64{1}})...)
	_, err := LoadSupervised(path, RealLabels)
	wantErr(t, "dense and CSR", err, ErrFormat, "ambiguous archive", `dense X_train (member "X_train.npy")`, `"X_train_data.npy"`)
}

// TestArrayNameEndingInNPY: a member "a.npy.npy" (numpy.savez with the key
// "a.npy") holds the array Names lists as "a.npy", which Has, Array and Matrix
// find under that name and under "a.npy.npy", beside a member "a.npy" (the
// array "a"), which they find as "a". A fuzzed archive found Has denying it.
func TestArrayNameEndingInNPY(t *testing.T) {
	val := func(i, j int) float64 { return float64(3*i + j) }
	b := npzBytes(t, zip.Store, entry{"a.npy", dense(2, 3, val)}, entry{"a", dense(1, 2, val)})
	a, err := newArchive("n.npz", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Names(); len(got) != 2 || got[0] != "a" || got[1] != "a.npy" {
		t.Fatalf("Names() = %q, want [a a.npy]", got)
	}
	for _, c := range []struct {
		name  string
		shape []int
	}{{"a.npy", []int{2, 3}}, {"a.npy.npy", []int{2, 3}}, {"a", []int{1, 2}}} {
		if !a.Has(c.name) {
			t.Errorf("Has(%q) = false", c.name)
		}
		arr, err := a.Array(c.name)
		if err != nil || len(arr.Shape) != 2 || arr.Shape[0] != c.shape[0] || arr.Shape[1] != c.shape[1] {
			t.Errorf("Array(%q) = %v, %v; want shape %v", c.name, arr, err, c.shape)
		}
		m, err := a.Matrix(c.name)
		if err != nil || m.Rows != c.shape[0] || m.Cols != c.shape[1] {
			t.Errorf("Matrix(%q) = %v, %v; want %v", c.name, m, err, c.shape)
		}
	}
	if a.Has("b") || a.Has("b.npy") {
		t.Error("Has found an array the archive does not hold")
	}
}
