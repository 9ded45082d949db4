package proctree

import "syscall"

// setSubreaper makes this process the child subreaper of its descendants
// (PR_SET_CHILD_SUBREAPER): an orphan is re-parented to it, not to init.
func setSubreaper() error {
	const prSetChildSubreaper = 36
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
