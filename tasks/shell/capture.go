package shell

import (
	"errors"
	"io"
	"os"
)

// capture carries a command's stdout and stderr, both on one file so that
// their writes stay in order, to the attempt's log.
type capture interface {
	// writer is the file the child writes to.
	writer() *os.File
	// started is called once the child holds the file.
	started()
	// finish copies what is left to the log, after the command and its
	// process group are gone, and releases the capture. It returns the
	// first error writing the log. With reuse, no process of the command
	// can hold the file any more (its tree was emptied and closed): a
	// capture that nothing was written to may then serve another command.
	finish(reuse bool) error
}

// copyAll copies r into log until EOF. After a log write fails it keeps
// reading, so that a writer on the other end never blocks, and reports the
// first write error.
func copyAll(log io.Writer, r io.Reader, buf []byte) error {
	var werr error
	for {
		n, err := r.Read(buf)
		if n > 0 && werr == nil {
			_, werr = log.Write(buf[:n])
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return werr
			}
			if werr == nil {
				werr = err
			}
			return werr
		}
	}
}
