//go:build !linux

package plugins

import "os/exec"

// setDeathSignal does nothing where the kernel has no parent-death signal.
func setDeathSignal(cmd *exec.Cmd) {}

// killGroup does nothing: the plugin leads no process group here.
func killGroup(pid int) {}
