package data

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// validSupervisedNPZ returns the bytes of a small valid ridge file.
func validSupervisedNPZ(t testing.TB, method uint16) []byte {
	return npzBytes(t, method, baseSupervised(nil)...)
}

// loadBytes loads an in-memory .npz (the file system is too slow for
// thousands of cases).
func loadBytes(_ testing.TB, path string, b []byte) (*Supervised, error) {
	a, err := newArchive(path, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	return loadSupervised(a, RealLabels)
}

// TestCorruptNPZ truncates a valid archive at every length and flips every
// byte: loading must return an error or the original data, never panic.
func TestCorruptNPZ(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.npz")
	for _, method := range []uint16{zip.Store, zip.Deflate} {
		good := validSupervisedNPZ(t, method)
		want, err := loadBytes(t, path, good)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(good); n++ {
			if _, err := loadBytes(t, path, good[:n]); err == nil {
				t.Fatalf("method %d: truncated to %d of %d bytes: no error", method, n, len(good))
			}
		}
		silent := 0
		for i := range good {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				b := append([]byte(nil), good...)
				b[i] ^= mask
				got, err := loadBytes(t, path, b)
				if err != nil {
					continue
				}
				silent++
				if !sameFloats(got.XTrain.Data, want.XTrain.Data) || !sameFloats(got.YTrain, want.YTrain) ||
					!sameFloats(got.XVal.Data, want.XVal.Data) || !sameFloats(got.YVal, want.YVal) || !sameFloats(got.Lambda, want.Lambda) {
					t.Fatalf("method %d: byte %d ^ %#x: loaded different data without an error", method, i, mask)
				}
			}
		}
		t.Logf("method %d: %d bytes, %d of %d single-byte corruptions were harmless (zip metadata archive/zip ignores)", method, len(good), silent, 3*len(good))
	}
}

// TestCorruptNPY truncates and corrupts a plain .npy file: no panics, and
// every truncation is an error.
func TestCorruptNPY(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.npy")
	good := npyBytes(t, dense(5, 3, xval))
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := LoadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shape) != 2 || a.Shape[0] != 5 || a.Shape[1] != 3 || a.Data[7] != xval(2, 1) || a.DType != "<f8" {
		t.Fatalf("LoadNPY = %+v", a)
	}
	for n := 0; n < len(good); n++ {
		if _, err := readNPY(bytes.NewReader(good[:n]), "mem"); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(good))
		}
	}
	for i := range good {
		for _, mask := range []byte{0x01, 0x20, 0x80, 0xff} {
			b := append([]byte(nil), good...)
			b[i] ^= mask
			_, _ = readNPY(bytes.NewReader(b), "mem") // must not panic
		}
	}
	if _, err := LoadNPY(filepath.Join(t.TempDir(), "absent.npy")); err == nil {
		t.Error("missing file: no error")
	}
}

// FuzzLoadNPY checks that no .npy input makes LoadNPY panic
// (go test -fuzz=FuzzLoadNPY ./data/ explores further).
func FuzzLoadNPY(f *testing.F) {
	f.Add(npyBytes(f, dense(2, 3, xval)))
	f.Add([]byte(rawNPY("'<i4'", true, "(2, 2)", leBytes([]int32{1, 2, 3, 4}))))
	f.Add([]byte(rawNPY("'|O'", false, "(1,)", []byte("\x80\x02K\x01."))))
	f.Add([]byte(rawNPY("'<f8'", false, "()", leBytes([]float64{1}))))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "f.npy")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := LoadNPY(path)
		if err == nil {
			n := 1
			for _, d := range a.Shape {
				n *= d
			}
			if n != len(a.Data) {
				t.Fatalf("shape %v but %d values", a.Shape, len(a.Data))
			}
		}
	})
}

// FuzzLoadSupervised checks that no .npz input makes LoadSupervised panic.
func FuzzLoadSupervised(f *testing.F) {
	f.Add(validSupervisedNPZ(f, zip.Store))
	f.Add(validSupervisedNPZ(f, zip.Deflate))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = loadBytes(t, filepath.Join(dir, "f.npz"), b)
	})
}
