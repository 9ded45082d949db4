//go:build !linux

package plugins

import "os/exec"

// setDeathSignal does nothing where the kernel has no parent-death signal.
func setDeathSignal(cmd *exec.Cmd) {}
