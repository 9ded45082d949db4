//go:build linux

package hugeheap

import (
	"bytes"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"unsafe"
)

// Prepare maps n bytes of the Go heap, asks for transparent huge pages on
// the 2 MiB-aligned part of them, and returns that part's address and
// length (0, 0 when nothing was asked: n under two huge pages, huge pages
// off in the kernel or by GODEBUG, or madvise refused). The memory goes
// back to the runtime at the next collection, which the caller's next
// allocation starts (the object is far past a young heap's goal); pages
// already touched stay as they were. It is for a process's start, before
// the heap holds much.
func Prepare(n int) (start uintptr, length int) {
	if n < 2*Page || !enabled() {
		return 0, 0
	}
	// No collection may start inside the allocation: the collector
	// could scan this goroutine's stack while the allocator's frame
	// still holds the object and keep it for a cycle (3 runs in 20
	// did), and a run that does not collect again would never reuse it.
	percent := debug.SetGCPercent(-1)
	p := mapped(n)
	debug.SetGCPercent(percent)
	// The object is garbage from here: a collection may sweep it, and
	// the runtime may place other objects in it, before or while
	// madvise runs. Neither matters: the runtime never unmaps its heap,
	// and MADV_HUGEPAGE changes no byte, only how the pages not yet
	// touched will be backed.
	beg := (p + Page - 1) &^ (Page - 1)
	end := (p + uintptr(n)) &^ (Page - 1)
	if end <= beg {
		return 0, 0
	}
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, beg, end-beg, syscall.MADV_HUGEPAGE); e != 0 {
		return 0, 0
	}
	return beg, int(end - beg)
}

// mapped allocates n bytes and returns their address only: no pointer to
// them outlives the call.
//
//go:noinline
func mapped(n int) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(make([]byte, n))))
}

// enabled reports whether the kernel gives huge pages to memory that asks
// (its setting is "always" or "madvise"), GODEBUG does not turn them off
// for Go's heap, and no limit is set on the process's address space or
// data: the one allocation asks for the heap all at once, and a limit it
// went past would end the process (Go's out of memory is fatal), where
// the heap grown piece by piece might have stayed under it.
func enabled() bool {
	if godebugOff(os.Getenv("GODEBUG")) || limited() {
		return false
	}
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("[always]")) || bytes.Contains(b, []byte("[madvise]"))
}

// rlimInfinity is RLIM_INFINITY as an Rlimit's field holds it.
const rlimInfinity = ^uint64(0)

// limited reports whether RLIMIT_AS or RLIMIT_DATA is set (or cannot be
// read).
func limited() bool {
	for _, r := range []int{syscall.RLIMIT_AS, syscall.RLIMIT_DATA} {
		var l syscall.Rlimit
		if syscall.Getrlimit(r, &l) != nil || l.Cur != rlimInfinity {
			return true
		}
	}
	return false
}

// godebugOff reports whether a GODEBUG value sets disablethp to other
// than 0 (the last setting of it wins, as in the runtime).
func godebugOff(v string) bool {
	off := false
	for _, kv := range strings.Split(v, ",") {
		if k, val, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "disablethp" {
			off = val != "0"
		}
	}
	return off
}
