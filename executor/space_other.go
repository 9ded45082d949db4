//go:build !(linux || darwin)

package executor

// spaceOf cannot tell the room left here: a full disk is known only by a
// task's ENOSPC.
func spaceOf(dir string) (avail, ffree, files uint64, ok bool) { return 0, 0, 0, false }
