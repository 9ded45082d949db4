package cairn

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Sentinel errors. Stores and brokers wrap them with context; callers test
// with errors.Is.
var (
	// ErrNotFound: the run, task run or attempt does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a compare-and-set failed because the row changed since
	// it was read; re-read and try again.
	ErrConflict = errors.New("conflict: state changed concurrently")
	// ErrLeaseLost: the lease expired, was superseded or its task was
	// cancelled; the holder must stop and its report is discarded.
	ErrLeaseLost = errors.New("lease lost")
	// ErrRunOwned: another live process drives the run.
	ErrRunOwned = errors.New("run is owned by another live process")
	// ErrTerminal: the run or task already reached a terminal state.
	ErrTerminal = errors.New("already in a terminal state")
	// ErrAmbiguous: an id prefix matches more than one run.
	ErrAmbiguous = errors.New("ambiguous id prefix")
	// ErrNotLeader: the leader lease is another's (or expired), or a
	// write only the leader may make carried a fencing token (holder and
	// epoch) that is no longer the lease's; nothing was changed.
	ErrNotLeader = errors.New("not the leader")
	// ErrCorruptArtifact: an artifact's stored bytes do not match its
	// digest or size (artifacts.ErrCorrupt is this error). An attempt that
	// failed with it is not retried: a retry would read the same bytes.
	ErrCorruptArtifact = errors.New("artifact content does not match its digest")
)

// PermanentError marks a task error that no retry can fix (bad params,
// missing input, invalid data). The attempt fails and the task is not
// retried whatever its policy.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that it is not retried. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return &PermanentError{Err: fmt.Errorf(format, args...)}
}

// IsRetryable reports whether a failed attempt's error allows a retry:
// every error does unless it is (or wraps) a PermanentError.
func IsRetryable(err error) bool {
	var p *PermanentError
	return err != nil && !errors.As(err, &p)
}

// PanicError is the error of an attempt whose task panicked. The attempt
// fails with the stack recorded; the worker process lives on.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("task panicked: %v", e.Value) }

// Unreachable reports whether err says a network source cannot be reached
// at all: its host name does not resolve, it refuses the connection, or
// there is no route to it. Task types that read from the network treat
// that as permanent (a wrong address), unlike a timeout or a reset.
func Unreachable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}
