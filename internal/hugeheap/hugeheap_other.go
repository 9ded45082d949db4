//go:build !linux

package hugeheap

// Prepare does nothing here: transparent huge pages are Linux's.
func Prepare(n int) (start uintptr, length int) { return 0, 0 }
