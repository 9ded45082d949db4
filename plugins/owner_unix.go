//go:build unix

package plugins

import (
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// ownedByMe reports whether this process's user owns the file.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// otherOwner is the uid of the file's owner when that is neither this
// process's user nor root ("" otherwise): that user may rewrite or
// replace it, whatever its mode.
func otherOwner(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Geteuid() || st.Uid == 0 {
		return ""
	}
	return "uid " + strconv.FormatUint(uint64(st.Uid), 10)
}
