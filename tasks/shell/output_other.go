//go:build !linux

package shell

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// openOutput opens rel under wd for reading without following a link:
// each component is checked with Lstat, the file opened with O_NOFOLLOW
// and checked again on the descriptor. (Linux walks with openat, which
// leaves no gap between the checks of the folders and the open.)
func openOutput(wd, rel string) (*os.File, error) {
	parts := strings.Split(filepath.Clean(rel), string(filepath.Separator))
	for i := range parts {
		p := filepath.Join(wd, filepath.Join(parts[:i+1]...))
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &linkError{path: rel, link: filepath.Join(parts[:i+1]...)}
		}
	}
	f, err := os.OpenFile(filepath.Join(wd, rel), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(rel, st.Mode())
	}
	return f, nil
}
