package plugins

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill the plugin if cairn dies without
// stopping it (kill -9): no plugin outlives its host. The kernel sends it
// when the forking thread exits, so proc.start forks from a goroutine
// that keeps its thread for the process's life.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
