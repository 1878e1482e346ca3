package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npy"
	"gonum.org/v1/gonum/mat"
)

// raw is a hand-made .npy member (for layouts npyio does not write).
type raw []byte

// entry is one member of a test archive: v is written with npyio (npy.Write)
// unless it is raw.
type entry struct {
	name string
	v    any
}

// npyBytes encodes v with npyio.
func npyBytes(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := npy.Write(&buf, v); err != nil {
		t.Fatalf("npy.Write(%T): %v", v, err)
	}
	return buf.Bytes()
}

// rawNPY builds a version-1.0 .npy member with the given header fields and
// data bytes.
func rawNPY(descr string, fortran bool, shape string, data []byte) raw {
	dict := fmt.Sprintf("{'descr': %s, 'fortran_order': %s, 'shape': %s, }", descr, pyBoolString(fortran), shape)
	pad := (16 - (10+len(dict)+1)%16) % 16
	dict += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.Write(npy.Magic[:])
	b.Write([]byte{1, 0})
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(dict)))
	b.WriteString(dict)
	b.Write(data)
	return b.Bytes()
}

// leBytes encodes values little-endian with binary.Write (v a slice of fixed
// size values).
func leBytes(v any) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// writeNPZTest writes an archive with the given members (method zip.Store or
// zip.Deflate) into a temporary directory and returns its path.
func writeNPZTest(t testing.TB, method uint16, entries ...entry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.npz")
	if err := os.WriteFile(path, npzBytes(t, method, entries...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func npzBytes(t testing.TB, method uint16, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name + ".npy", Method: method})
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		if r, ok := e.v.(raw); ok {
			b = r
		} else {
			b = npyBytes(t, e.v)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dense returns a gonum matrix for npyio to write.
func dense(rows, cols int, f func(i, j int) float64) *mat.Dense {
	m := mat.NewDense(rows, cols, nil)
	for i := range rows {
		for j := range cols {
			m.Set(i, j, f(i, j))
		}
	}
	return m
}

func xval(i, j int) float64 { return float64(10*i+j) + 0.5 }

// baseSupervised returns the members of a valid 6×4 / 3×4 ridge file with
// labels in {−1, +1}, with the named members replaced or removed (a nil value
// removes the member).
func baseSupervised(replace map[string]any) []entry {
	const n, m, d = 6, 3, 4
	y := []float64{1, -1, 1, 1, -1, -1}
	es := []entry{
		{"X_train", dense(n, d, xval)},
		{"y_train", y},
		{"X_val", dense(m, d, func(i, j int) float64 { return -xval(i, j) })},
		{"y_val", []float64{-1, 1, 1}},
		{"lambda", []float64{0.1, 0.2, 0.3, 0.4}},
	}
	var out []entry
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.name] = true
		if v, ok := replace[e.name]; ok {
			if v == nil {
				continue
			}
			e.v = v
		}
		out = append(out, e)
	}
	var extra []string
	for k, v := range replace {
		if !seen[k] && v != nil {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		out = append(out, entry{k, replace[k]})
	}
	return out
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}
