//go:build !linux

package shell

import "syscall"

// dieWithParent does nothing where there is no parent-death signal: a
// command outlives a worker that is killed without stopping it.
func dieWithParent(*syscall.SysProcAttr) (release func()) { return func() {} }
