package main

import "golang.org/x/sys/unix"

// hardenProcess makes this process non-dumpable: for a non-root cairn, a
// task or plugin running as the same user can then no longer read its
// environment, memory or open files through /proc/PID (environ, mem, fd,
// maps, ...) nor ptrace it, and no core dump of it is written. Children
// are not affected: execve makes them dumpable again, so cairn still
// finds a task's orphans by their /proc/PID/environ. Root bypasses it
// (see docs/security.md). A failure is ignored: the process runs as
// before.
func hardenProcess() {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
