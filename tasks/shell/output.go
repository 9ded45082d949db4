package shell

import (
	"fmt"
	"io/fs"

	"github.com/cairnml/cairn/tasks"
)

// notRegular says why an output that is not a regular file is refused,
// in words ("is a directory") rather than its mode bits (d---------).
func notRegular(rel string, m fs.FileMode) error {
	if m.IsDir() {
		return fmt.Errorf("%s is a directory: an output is one file (archive a folder first, for example with tar)", rel)
	}
	return fmt.Errorf("%s is %s: an output is a regular file", rel, tasks.FileKind(m))
}
