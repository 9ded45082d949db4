// Package fileid tells whether a file changed without reading it: by its
// identity, the size, modification and change times, device and inode
// that a stat gives. Any write, rename or chmod moves the change time,
// which no caller can set back. artifacts.Dir remembers the blobs it
// hashed by it, collect the sources it digested.
package fileid

import "os"

// ID is a file's identity; the zero ID is no identity.
type ID struct {
	Size, Mtime, Ctime int64
	Dev, Ino           uint64
}

// Stat returns the identity of the file at path (through symlinks), false
// if it cannot be read or has none.
func Stat(path string) (ID, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return ID{}, false
	}
	return Of(fi)
}
