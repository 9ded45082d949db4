//go:build linux

package shell

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// openOutput opens rel under wd for reading without following a link.
func openOutput(wd, rel string) (*os.File, error) {
	const dirFlags = syscall.O_RDONLY | syscall.O_DIRECTORY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	dirfd, err := syscall.Open(wd, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: wd, Err: err}
	}
	parts := strings.Split(filepath.Clean(rel), string(filepath.Separator))
	for i, part := range parts {
		flags := dirFlags
		last := i == len(parts)-1
		if last {
			// Non-blocking: a FIFO must not hang the worker.
			flags = syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
		}
		fd, err := syscall.Openat(dirfd, part, flags, 0)
		if err != nil {
			syscall.Close(dirfd)
			// The open refused it; Lstat only says why, for the message.
			fi, lerr := os.Lstat(filepath.Join(wd, filepath.Join(parts[:i+1]...)))
			isLink := lerr == nil && fi.Mode()&fs.ModeSymlink != 0
			if isLink {
				return nil, &linkError{path: rel, link: filepath.Join(parts[:i+1]...)}
			}
			return nil, &fs.PathError{Op: "open", Path: filepath.Join(wd, filepath.Join(parts[:i+1]...)), Err: err}
		}
		syscall.Close(dirfd)
		dirfd = fd
	}
	f := os.NewFile(uintptr(dirfd), filepath.Join(wd, rel))
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
