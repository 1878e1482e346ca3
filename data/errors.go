package data

import (
	"errors"
	"fmt"
)

// Kinds of data error. Every error returned by this package is an *Error whose
// Kind is one of these, so callers can test with errors.Is.
var (
	// ErrFormat: the file is not a readable .npy/.npz file (bad magic, corrupt
	// header, truncated data, checksum mismatch, object arrays).
	ErrFormat = errors.New("malformed file")
	// ErrMissing: an array the problem needs is not in the archive.
	ErrMissing = errors.New("missing array")
	// ErrDType: the array's dtype cannot be converted to float64.
	ErrDType = errors.New("unsupported dtype")
	// ErrShape: wrong number of dimensions, or shapes that do not agree.
	ErrShape = errors.New("shape mismatch")
	// ErrNonFinite: an array holds NaN or ±Inf.
	ErrNonFinite = errors.New("non-finite value")
	// ErrLabels: labels outside the set the problem allows.
	ErrLabels = errors.New("invalid labels")
	// ErrOption: an invalid synthetic-data option or source string.
	ErrOption = errors.New("invalid option")
	// ErrTooLarge: the arrays a file declares (or the vectors a declared CSR
	// shape implies) need more memory than the loader's budget (Limits); the
	// message states the bytes needed and the limit.
	ErrTooLarge = errors.New("exceeds the memory limit")
)

// Error describes what is wrong with a data file, an in-memory data set or a
// synthetic-data specification, and where.
type Error struct {
	Path  string // the file, or "" for in-memory data and synth: specs
	Array string // the array concerned, or "" when no single array is
	Kind  error  // ErrFormat, ErrMissing, ErrDType, ErrShape, ErrNonFinite, ErrLabels, ErrOption or ErrTooLarge
	Msg   string // what is wrong; it names the array(s) involved
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "data: " + e.Msg
	}
	return "data: " + e.Path + ": " + e.Msg
}

// Unwrap returns e.Kind.
func (e *Error) Unwrap() error { return e.Kind }

func newErr(kind error, array, format string, args ...any) *Error {
	return &Error{Array: array, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// withPath sets the file of err if it is an *Error without one, and wraps any
// other error as an ErrFormat *Error for that file.
func withPath(err error, path string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Path == "" {
			c := *e
			c.Path = path
			return &c
		}
		return err
	}
	return &Error{Path: path, Kind: ErrFormat, Msg: err.Error()}
}
