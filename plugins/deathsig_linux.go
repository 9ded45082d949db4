package plugins

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill the plugin if cairn dies without
// stopping it (kill -9): no plugin outlives its host. The kernel sends it
// when the forking thread exits, so proc.start forks from a goroutine
// that keeps its thread for the process's life. The plugin also leads a
// process group of its own, which the processes it starts join unless
// they leave it: killGroup ends them with it, a wrapper script's child
// orphaned by the script's death included, where the plugin has no
// cgroup.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// killGroup kills the process group the plugin process pid leads. The
// caller has not reaped pid (go-plugin reaps it only once the pipes the
// group holds are closed), so the group's id is not another's.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
