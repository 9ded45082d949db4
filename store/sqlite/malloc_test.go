package sqlite

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestOpenTunesMalloc checks that after Open a block of a few hundred KiB
// — the size whose free moves glibc's thresholds in one process and not in
// another — comes from the heap and stays there when freed, so that the
// ephemeral tables' page caches are not given back and faulted in again.
// It probes a process of its own: in one whose earlier tests left a large
// block free in the C heap, malloc serves even a block above the mmap
// threshold from there.
func TestOpenTunesMalloc(t *testing.T) {
	if _, _, ok := mallocProbe(1); !ok {
		t.Skip("not glibc (2.33 or later): the thresholds are the C library's own")
	}
	if os.Getenv("CAIRN_TEST_MALLOC_PROBE") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOpenTunesMalloc$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CAIRN_TEST_MALLOC_PROBE=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, n := range []int{300 << 10, mallocMmapThreshold - 64<<10} {
		mapped, trimmed, _ := mallocProbe(n)
		if mapped || trimmed {
			t.Errorf("a block of %d KiB: mapped %v, heap given back %v; want neither", n>>10, mapped, trimmed)
		}
	}
	// Above the threshold a block is mapped, as glibc does by default.
	if mapped, _, _ := mallocProbe(2 * mallocMmapThreshold); !mapped {
		t.Errorf("a block of %d KiB was not mapped", 2*mallocMmapThreshold>>10)
	}
}

// TestOneArena checks that the C memory of every thread comes from glibc's
// main arena (cairn_one_arena, before main): blocks allocated at once on
// eight threads, each held by its goroutine so that no two share one.
// Without the limit each thread but the first has an arena of its own.
func TestOneArena(t *testing.T) {
	if _, ok := oneArena(64); !ok {
		t.Skip("not glibc: its arenas are not to be told")
	}
	if os.Getenv("MALLOC_ARENA_MAX") != "" || strings.Contains(os.Getenv("GLIBC_TUNABLES"), "arena_max") {
		t.Skip("the environment sets glibc's arena limit: cairn leaves it")
	}
	const threads = 8
	var ready, allocated, done sync.WaitGroup
	ready.Add(threads)
	allocated.Add(threads)
	done.Add(threads)
	release := make(chan struct{})
	mains := make([]bool, threads)
	for i := range threads {
		go func() {
			defer done.Done()
			runtime.LockOSThread() // held until all have allocated: eight threads
			defer runtime.UnlockOSThread()
			ready.Done()
			<-release
			mains[i], _ = oneArena(4 << 10) // above glibc's per-thread cache
			allocated.Done()
			allocated.Wait()
		}()
	}
	ready.Wait()
	close(release)
	done.Wait()
	for i, m := range mains {
		if !m {
			t.Errorf("thread %d of %d allocated outside the main arena", i+1, threads)
		}
	}
}
