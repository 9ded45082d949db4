//go:build linux || darwin

package executor

import "syscall"

// spaceOf says how much room is left on the file system holding dir for
// this user: bytes available and free inodes (files is 0 where a file
// system has no inode count). ok is false if it cannot be told.
func spaceOf(dir string) (avail, ffree, files uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), uint64(st.Ffree), uint64(st.Files), true
}
