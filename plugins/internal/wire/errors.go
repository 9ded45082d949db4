package wire

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnml/cairn"
	pb "github.com/cairnml/cairn/plugins/proto"
)

// TransportError is a Run whose stream broke: the plugin process died or
// the connection failed. The attempt may be retried in a fresh process.
type TransportError struct{ Err error }

func (e *TransportError) Error() string {
	return fmt.Sprintf("plugin connection lost during the attempt (did the plugin crash? its stderr is in the task log): %v", e.Err)
}
func (e *TransportError) Unwrap() error { return e.Err }

// UnresponsiveError is a Run that did not end within the grace period
// after its context ended: the plugin ignores cancellation.
type UnresponsiveError struct {
	Grace time.Duration
	Cause error
}

func (e *UnresponsiveError) Error() string {
	return fmt.Sprintf("plugin did not stop within %s of the attempt ending (%v)", e.Grace, e.Cause)
}
func (e *UnresponsiveError) Unwrap() error { return e.Cause }

// ProtocolError is an answer from the plugin that breaks the protocol
// (output that is not JSON, an event of no known kind).
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "plugin broke the protocol: " + e.Msg }

// TaskError is an error the task returned, as the plugin's Failure said:
// the attempt is over in the plugin, and its process is free to serve the
// next one (unless Err is a *cairn.PanicError). Err keeps the kind the
// task gave it.
type TaskError struct{ Err error }

func (e *TaskError) Error() string { return e.Err.Error() }
func (e *TaskError) Unwrap() error { return e.Err }

// NotStartedError is a Run that ended before the plugin was sent the
// attempt (its context had ended): the process never saw it.
type NotStartedError struct{ Cause error }

func (e *NotStartedError) Error() string { return fmt.Sprintf("attempt not started: %v", e.Cause) }
func (e *NotStartedError) Unwrap() error { return e.Cause }

// remoteError is an error a task returned in the plugin. It keeps the
// task's message as it was, and unwraps to the context error it came from,
// if any, so that errors.Is(err, context.Canceled) holds on both sides.
type remoteError struct {
	msg   string
	cause error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.cause }

// failureOf encodes a task's error.
func failureOf(err error) *pb.Failure {
	f := &pb.Failure{Kind: pb.Failure_RETRYABLE, Message: err.Error()}
	var pe *cairn.PanicError
	switch {
	case errors.As(err, &pe):
		f.Kind = pb.Failure_PANIC
		f.Message = fmt.Sprint(pe.Value)
		f.Stack = string(pe.Stack)
	case !cairn.IsRetryable(err):
		f.Kind = pb.Failure_PERMANENT
	}
	return f
}

// errorOf decodes a Failure, restoring context errors from their message
// kind.
func errorOf(ctx context.Context, f *pb.Failure) error {
	switch f.GetKind() {
	case pb.Failure_PANIC:
		return &cairn.PanicError{Value: f.GetMessage(), Stack: []byte(f.GetStack())}
	case pb.Failure_PERMANENT:
		return cairn.Permanent(&remoteError{msg: f.GetMessage()})
	case pb.Failure_RETRYABLE:
		var cause error
		if ctx.Err() != nil {
			cause = ctx.Err()
		}
		return &remoteError{msg: f.GetMessage(), cause: cause}
	}
	return &ProtocolError{Msg: fmt.Sprintf("failure of unknown kind %d: %s", f.GetKind(), f.GetMessage())}
}

// statusOf turns an artifact store error into a gRPC status that keeps
// whether a retry can help.
func statusOf(err error) error {
	switch {
	case errors.Is(err, cairn.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case !cairn.IsRetryable(err):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

// fromStatus is statusOf's inverse, on the plugin's side.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := st.Message()
	switch st.Code() {
	case codes.NotFound:
		return cairn.Permanent(&remoteError{msg: msg, cause: cairn.ErrNotFound})
	case codes.FailedPrecondition, codes.PermissionDenied, codes.InvalidArgument:
		return cairn.Permanent(errors.New(msg))
	case codes.Canceled:
		return &remoteError{msg: msg, cause: context.Canceled}
	case codes.DeadlineExceeded:
		return &remoteError{msg: msg, cause: context.DeadlineExceeded}
	}
	return errors.New(msg)
}
