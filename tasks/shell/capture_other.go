//go:build !linux

package shell

import "io"

func newCapture(log io.Writer) (capture, error) { return newPipe(log) }
