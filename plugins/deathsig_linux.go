package plugins

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill the plugin if cairn dies without
// stopping it (kill -9): no plugin outlives its host.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
