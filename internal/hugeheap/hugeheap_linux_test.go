//go:build linux

package hugeheap

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
)

// thpAvailable skips a test where the kernel gives no huge pages on
// request, saying why.
func thpAvailable(t *testing.T) {
	t.Helper()
	if !enabled() {
		b, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
		t.Skipf("transparent huge pages are not given on request here (%q)", strings.TrimSpace(string(b)))
	}
}

// vmFlags returns the VmFlags of the mapping holding addr, from
// /proc/self/smaps.
func vmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 && strings.Contains(line[:strings.IndexByte(line, ' ')], "-") {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping holds %#x", addr)
	return nil
}

func TestPrepareAdvisesTheHeap(t *testing.T) {
	thpAvailable(t)
	const n = 24 << 20
	start, length := Prepare(n)
	if start == 0 || length == 0 {
		t.Fatalf("Prepare(%d) asked for nothing", n)
	}
	if start%Page != 0 || length%Page != 0 || length < n-2*Page || length > n {
		t.Fatalf("Prepare(%d) = %#x, %d: want a 2 MiB-aligned range of %d–%d bytes", n, start, length, n-2*Page, n)
	}
	for _, a := range []uintptr{start, start + uintptr(length) - 1} {
		flags := vmFlags(t, a)
		if !contains(flags, "hg") {
			t.Errorf("the mapping of %#x has VmFlags %v, want hg (MADV_HUGEPAGE)", a, flags)
		}
	}
}

// The memory Prepare maps goes back to the runtime at the first collection
// after it. A collection started inside its allocation (the allocation
// itself starts one) scanned the allocator's frame, still holding the
// object, and kept 50 MB live for a whole run that did not collect again
// (3 runs in 20): each try here waits for the first cycle to end after
// Prepare, allocating as a run would, and reads what it left live.
var sink []byte

func TestPrepareKeepsNothingLive(t *testing.T) {
	thpAvailable(t)
	const n = 64 << 20
	sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
	for i := 0; i < 25; i++ {
		runtime.GC()
		metrics.Read(sample)
		before := sample[0].Value.Uint64()
		if start, _ := Prepare(n); start == 0 {
			t.Fatalf("Prepare(%d) asked for nothing", n)
		}
		for {
			sink = make([]byte, 64<<10)
			metrics.Read(sample)
			if sample[0].Value.Uint64() > before {
				break
			}
		}
		if live := sample[1].Value.Uint64(); live >= n/2 {
			t.Fatalf("try %d: the first collection after Prepare left %d bytes live, want under %d: Prepare's allocation was kept", i, live, n/2)
		}
	}
}

func TestPrepareSmall(t *testing.T) {
	if start, length := Prepare(2*Page - 1); start != 0 || length != 0 {
		t.Fatalf("Prepare(under two huge pages) = %#x, %d; want nothing asked", start, length)
	}
}

func TestGODEBUGTurnsItOff(t *testing.T) {
	for v, want := range map[string]bool{
		"":                            false,
		"disablethp=1":                true,
		"disablethp=0":                false,
		"madvdontneed=1,disablethp=1": true,
		"disablethp=1,disablethp=0":   false,
		" disablethp=1 ":              true,
		"xdisablethp=1":               false,
	} {
		if got := godebugOff(v); got != want {
			t.Errorf("godebugOff(%q) = %v, want %v", v, got, want)
		}
	}
	thpAvailable(t)
	t.Setenv("GODEBUG", "disablethp=1")
	if start, length := Prepare(8 << 20); start != 0 || length != 0 {
		t.Fatalf("Prepare under GODEBUG=disablethp=1 = %#x, %d; want nothing asked", start, length)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Under a limit on the address space, Prepare asks for nothing: its one
// allocation of the whole heap could go past the limit where the heap
// grown piece by piece would not, and Go's out of memory is fatal.
func TestPrepareUnderAnAddressSpaceLimit(t *testing.T) {
	thpAvailable(t)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur != rlimInfinity {
		t.Skipf("RLIMIT_AS is already set here (%d)", old.Cur)
	}
	lim := old
	lim.Cur = 1 << 44 // far above anything this test maps, but set
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		t.Skipf("cannot set RLIMIT_AS: %v", err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &old); err != nil {
			t.Fatal(err)
		}
	}()
	if start, length := Prepare(8 << 20); start != 0 || length != 0 {
		t.Fatalf("Prepare under RLIMIT_AS = %#x, %d; want nothing asked", start, length)
	}
}
