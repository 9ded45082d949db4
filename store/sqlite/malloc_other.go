//go:build !linux || !cgo

package sqlite

// tuneMalloc is glibc's (malloc_linux.go): nothing to do here.
func tuneMalloc() bool { return false }

// mallocProbe is malloc_linux.go's: here nothing can be told.
func mallocProbe(int) (mapped, trimmed, ok bool) { return false, false, false }

// oneArena is malloc_linux.go's: here nothing can be told.
func oneArena(int) (main, ok bool) { return false, false }
