//go:build unix

package fileid

import (
	"os"
	"syscall"
)

// Of returns the identity of the file fi describes, false if the system
// gives none.
func Of(fi os.FileInfo) (ID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ID{}, false
	}
	return ID{Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Ctime: st.Ctim.Nano(), Dev: uint64(st.Dev), Ino: st.Ino}, true
}
