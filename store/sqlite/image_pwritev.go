//go:build darwin || linux || openbsd

package sqlite

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// writeAllAt writes bufs one after the other into f from offset off.
func writeAllAt(f *os.File, bufs [][]byte, off int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for len(bufs) > 0 {
		batch := bufs[:min(len(bufs), maxIOV)]
		var n int
		var werr error
		if err := rc.Control(func(fd uintptr) {
			for {
				n, werr = unix.Pwritev(int(fd), batch, off)
				if werr != unix.EINTR {
					return
				}
			}
		}); err != nil {
			return err
		}
		if werr != nil {
			return &os.PathError{Op: "pwritev", Path: f.Name(), Err: werr}
		}
		if n == 0 {
			return &os.PathError{Op: "pwritev", Path: f.Name(), Err: io.ErrShortWrite}
		}
		off += int64(n)
		// Past what was written: whole buffers dropped, a part of one cut.
		for n > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs = bufs[1:]
				continue
			}
			bufs[0] = bufs[0][n:]
			n = 0
		}
	}
	return nil
}

// maxIOV is the most buffers one pwritev takes (IOV_MAX on Linux).
const maxIOV = 1024
