//go:build linux

package shell

import (
	"runtime"
	"syscall"
)

// dieWithParent asks the kernel to SIGKILL the command when the worker dies
// without stopping it (kill -9, a crash): otherwise the interrupted attempt
// would run on, unsupervised, alongside the retry a resumed run starts. It
// returns the function to call once the command has been reaped.
//
// The kernel sends the signal when the thread that forked the child exits,
// not the process, so the calling goroutine stays on its thread from the
// fork until the child is reaped: the runtime cannot retire that thread
// (and kill a healthy command) in between.
func dieWithParent(a *syscall.SysProcAttr) (release func()) {
	a.Pdeathsig = syscall.SIGKILL
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
