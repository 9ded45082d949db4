package tasks

import (
	"context"
	"fmt"
	"io"
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
