package tasks

import (
	"context"
	"fmt"
	"io"
	"io/fs"
)

// ContextReader returns a reader that fails once ctx is done, so that a
// task parsing a large input stops promptly when its attempt is cancelled
// or times out. The error wraps context.Cause(ctx).
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, fmt.Errorf("cancelled: %w", context.Cause(c.ctx))
	}
	return c.r.Read(p)
}

// FileKind names what a file that is not a regular one is, for a refusal:
// "a directory", "a named pipe (FIFO)", "a character device", "a block
// device", "a socket", "a symbolic link"; "not a regular file" for
// anything else, "a regular file" for one.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// ReadErr is the error to report for a reader r of an artifact's bytes
// (an Artifacts.Open's) whose parse failed with err before their end. The
// store checks the bytes against their digest only at their end, so that a
// damaged blob may first read as malformed data (a broken CSV line, a
// header that does not parse) and be reported so, without its digest and
// as the data's fault. ReadErr reads the rest of r: when that fails (the
// store's error wrapping artifacts.ErrCorrupt, which names the digest, or
// an I/O error) it returns that error, else err. It returns err as it is
// when err is nil or ctx is done.
func ReadErr(ctx context.Context, r io.Reader, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	if _, rerr := io.Copy(io.Discard, ContextReader(ctx, r)); rerr != nil && ctx.Err() == nil {
		return rerr
	}
	return err
}
