//go:build linux

package shell

// IdleSpools is how many output files of ended commands wait for reuse.
func IdleSpools() int {
	idleSpools.mu.Lock()
	defer idleSpools.mu.Unlock()
	return len(idleSpools.idle)
}
