package shell

import (
	"fmt"
	"io/fs"
)

// notRegular says why an output that is not a regular file is refused,
// in words ("is a directory") rather than its mode bits (d---------).
func notRegular(rel string, m fs.FileMode) error {
	what := "not a regular file (" + m.Type().String() + ")"
	switch {
	case m.IsDir():
		what = "a directory: an output is one file (archive a folder first, for example with tar)"
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link: an output is a regular file"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe: an output is a regular file"
	case m&fs.ModeSocket != 0:
		what = "a socket: an output is a regular file"
	case m&fs.ModeDevice != 0:
		what = "a device: an output is a regular file"
	}
	return fmt.Errorf("%s is %s", rel, what)
}
