package data

import (
	"archive/zip"
	"bufio"
	"fmt"
	"os"

	"codeberg.org/sbinet/npyio/npy"
	"gonum.org/v1/gonum/mat"
)

// member is one array to write: a *Matrix or a []float64.
type member struct {
	name string
	v    any
}

// writeNPZ writes the members to path as an uncompressed .npz archive (what
// numpy.savez writes), using npyio for each .npy member. A CSR matrix becomes
// the members name_data, name_indices, name_indptr and name_shape.
func writeNPZ(path string, members []member) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = &Error{Path: path, Kind: ErrFormat, Msg: cerr.Error()}
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	zw := zip.NewWriter(f)
	put := func(name string, v any) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
		if err != nil {
			return err
		}
		bw := bufio.NewWriterSize(w, 1<<16)
		if n, ok := emptyDescr(v); ok { // npyio writes an empty slice with shape ()
			_, err = bw.Write(npyHeaderBytes(n, false, []int{0}))
		} else {
			err = npy.Write(bw, v)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return bw.Flush()
	}
	for _, m := range members {
		switch v := m.v.(type) {
		case []float64:
			err = put(m.name, v)
		case *Matrix:
			if v.IsCSR() {
				err = put(m.name+"_data", v.Data)
				if err == nil {
					err = put(m.name+"_indices", toInt64(v.Indices))
				}
				if err == nil {
					err = put(m.name+"_indptr", toInt64(v.Indptr))
				}
				if err == nil {
					err = put(m.name+"_shape", []int64{int64(v.Rows), int64(v.Cols)})
				}
			} else {
				err = put(m.name, mat.NewDense(v.Rows, v.Cols, v.Data))
			}
		default:
			err = fmt.Errorf("%s: cannot write %T", m.name, v)
		}
		if err != nil {
			return &Error{Path: path, Array: m.name, Kind: ErrFormat, Msg: fmt.Sprintf("cannot write %s: %v", m.name, err)}
		}
	}
	if err := zw.Close(); err != nil {
		return &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
	}
	return nil
}

func toInt64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, x := range s {
		out[i] = int64(x)
	}
	return out
}

// emptyDescr returns the dtype of an empty []float64 or []int64.
func emptyDescr(v any) (string, bool) {
	switch e := v.(type) {
	case []float64:
		return "<f8", len(e) == 0
	case []int64:
		return "<i8", len(e) == 0
	}
	return "", false
}
