package tasks

import (
	"context"
	"fmt"
	"io"
	"io/fs"
)

// ContextReader returns a reader that fails once ctx is done, so that a
// task parsing a large input stops promptly when its attempt is cancelled
// or times out. The error wraps context.Cause(ctx). When r is also an
// io.ReaderAt and an io.Seeker (a bytes.Reader, a file, an artifact's
// reader), so is the reader returned, its ReadAt failing once ctx is done
// too, with r's Size if it has one: dataset.ReadCSV then reads a column
// that turned to text again from r rather than keep the whole input in
// memory, and sizes its columns by r's size.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	if ra, ok := r.(readSeekerAt); ok {
		return ctxReaderAt{ctxReader{ctx, r}, ra}
	}
	return ctxReader{ctx, r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c ctxReader) err() error {
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("cancelled: %w", context.Cause(c.ctx))
	}
	return nil
}

type readSeekerAt interface {
	io.ReaderAt
	io.Seeker
}

type ctxReaderAt struct {
	ctxReader
	ra readSeekerAt
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.err(); err != nil {
		return 0, err
	}
	return c.ra.ReadAt(p, off)
}

func (c ctxReaderAt) Seek(offset int64, whence int) (int64, error) { return c.ra.Seek(offset, whence) }

// Size is the reader's, when it has one (an io.SectionReader, an
// artifact's), or a regular file's size (what dataset.ReadCSV sizes its
// columns by); else -1.
func (c ctxReaderAt) Size() int64 {
	switch x := c.ra.(type) {
	case interface{ Size() int64 }:
		return x.Size()
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := x.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
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
