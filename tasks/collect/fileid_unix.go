//go:build unix

package collect

import (
	"os"
	"syscall"
	"time"
)

// fileID is what tells a file changed without reading it: its size,
// modification and change times, device and inode. Any write, rename or
// chmod moves the change time, which no caller can set back.
type fileID struct {
	size, mtime, ctime int64
	dev, ino           uint64
}

// idOf returns fi's identity, and whether it has one that a later change
// of the file is sure to move: its change time at least settled before
// now (a write within the same tick of a coarse file-system clock would
// not move it).
func idOf(fi os.FileInfo, now time.Time) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: st.Ctim.Nano(), dev: uint64(st.Dev), ino: st.Ino}
	return id, now.UnixNano()-id.ctime > int64(settled)
}
