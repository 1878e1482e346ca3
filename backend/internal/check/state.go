package check

import (
	"fmt"

	"github.com/hypergrad-go/hypergrad/backend"
)

// State is the part of a backend that the error contract of package backend
// describes — the first failure, kept until ClearErr, and whether the
// backend is closed — shared by the implementations. A backend embeds it, so
// that its Err and ClearErr are the interface's.
type State struct {
	name   string
	err    error
	closed bool
}

// NewState returns the state of a working backend registered as name.
func NewState(name string) State { return State{name: name} }

// Err returns the first error recorded since the last ClearErr, or nil.
func (s *State) Err() error { return s.err }

// ClearErr forgets the recorded error.
func (s *State) ClearErr() { s.err = nil }

// Closed reports whether the backend was closed.
func (s *State) Closed() bool { return s.closed }

// MarkClosed records that the backend is closed: every later operation
// fails with ErrClosed.
func (s *State) MarkClosed() { s.closed = true }

// Fail records err, with a formatted detail, as the error of operation op,
// unless an earlier failure is recorded: the first stays.
func (s *State) Fail(op string, err error, format string, args ...any) {
	if s.err == nil {
		s.err = &backend.OpError{Backend: s.name, Op: op, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
}

// OK reports whether operation op may run: no recorded error, and the
// backend is not closed (which it records as ErrClosed).
func (s *State) OK(op string) bool {
	if s.closed {
		s.Fail(op, backend.ErrClosed, "")
	}
	return s.err == nil
}

// Check records v, the result of one of this package's operand checks, as
// the error of op, and reports whether the operands passed.
func (s *State) Check(op string, v Violation) bool { return v.Record(&s.err, s.name, op) }

// Error returns err as the error of operation op with detail, the error
// that an allocation returns rather than records.
func (s *State) Error(op string, err error, detail string) *backend.OpError {
	return &backend.OpError{Backend: s.name, Op: op, Err: err, Detail: detail}
}

// Owned is what a backend's operand types (its vectors, labels) tell
// Resolve: the backend that created the operand, and whether its storage was
// freed.
type Owned[B comparable] interface {
	comparable
	Owner() B
	Freed() bool
}

// Resolve resolves the operand x of operation op into the backend's own type
// P: it records ErrInvalid for a nil operand, ErrForeign for an operand of
// another type or of another backend than owner, ErrFreed for a freed one,
// and then returns the zero P; kind names the operand in the detail
// ("vector", "labels"). After an earlier failure it records nothing and
// returns the zero P.
func Resolve[P Owned[B], B comparable](s *State, owner B, op, kind string, x any) P {
	if s.err != nil {
		var zero P
		return zero
	}
	p, detail, err := resolve[P](owner, kind, x)
	if err != nil {
		s.Fail(op, err, "%s", detail)
	}
	return p
}

// ResolveNow is Resolve for the operations that return their errors
// (Reshape) rather than record them: it returns the error instead.
func ResolveNow[P Owned[B], B comparable](s *State, owner B, op, kind string, x any) (P, error) {
	p, detail, err := resolve[P](owner, kind, x)
	if err != nil {
		return p, s.Error(op, err, detail)
	}
	return p, nil
}

// resolve is Resolve's check: the operand, or the error and its detail.
func resolve[P Owned[B], B comparable](owner B, kind string, x any) (P, string, error) {
	var zero P
	p, is := x.(P)
	switch {
	case x == nil || (is && p == zero):
		return zero, "nil " + kind, backend.ErrInvalid
	case !is || p.Owner() != owner:
		return zero, fmt.Sprintf("%s %T", kind, x), backend.ErrForeign
	case p.Freed():
		return zero, kind, backend.ErrFreed
	}
	return p, "", nil
}
