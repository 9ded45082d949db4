//go:build linux && cgo

package sqlite

/*
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

// cairn_tune_malloc fixes glibc's mmap and trim thresholds (see
// tuneMalloc). It reports whether it did.
static int cairn_tune_malloc(int mmap_threshold, int trim_threshold) {
#if defined(__GLIBC__)
	return mallopt(M_MMAP_THRESHOLD, mmap_threshold) && mallopt(M_TRIM_THRESHOLD, trim_threshold);
#else
	return 0;
#endif
}

// cairn_one_arena keeps glibc's malloc to its main arena, for every
// thread of the process (see oneArena). It runs as the program starts,
// before the Go runtime makes its first thread: glibc gives a thread its
// arena at its first malloc and keeps it. A limit the user set
// (MALLOC_ARENA_MAX, or arena_max in GLIBC_TUNABLES) is left alone.
__attribute__((constructor)) static void cairn_one_arena(void) {
#if defined(__GLIBC__)
	const char *t = getenv("GLIBC_TUNABLES");
	if (getenv("MALLOC_ARENA_MAX") != NULL || (t != NULL && strstr(t, "arena_max") != NULL)) return;
	mallopt(M_ARENA_MAX, 1);
#endif
}

// cairn_main_arena says whether the block p, from malloc, lies in glibc's
// main arena (1) or in another (0), by the NON_MAIN_ARENA bit of its
// chunk's size field; -1 where that cannot be told.
static int cairn_main_arena(void *p) {
#if defined(__GLIBC__)
	size_t size = ((size_t *)p)[-1];
	return (size & 4) == 0;
#else
	return -1;
#endif
}

// cairn_thread_block allocates n bytes of C memory on the calling
// thread and says whether they came from the main arena (as
// cairn_main_arena), then frees them.
static int cairn_thread_block(size_t n) {
	void *p = malloc(n);
	if (p == NULL) return -1;
	memset(p, 1, n);
	int r = cairn_main_arena(p);
	free(p);
	return r;
}

// cairn_malloc_probe allocates n bytes, touches them and frees them, in
// one thread: *mapped is set when the block came from mmap, *trimmed when
// freeing it shrank the heap. -1 where glibc's counts are not to be had.
static int cairn_malloc_probe(size_t n, int *mapped, int *trimmed) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 a = mallinfo2();
	char *p = malloc(n);
	if (p == NULL) return -1;
	memset(p, 1, n);
	struct mallinfo2 b = mallinfo2();
	free(p);
	struct mallinfo2 c = mallinfo2();
	*mapped = b.hblks > a.hblks;
	*trimmed = c.arena < b.arena;
	return 0;
#else
	return -1;
#endif
}
*/
import "C"

import "runtime"

// SQLite's allocations and glibc. Every statement that materializes a
// VALUES list or collects RETURNING rows — each set-based write, several
// per commit — opens an ephemeral table whose page cache allocates 20
// pages at once (88 KiB, SQLITE_DEFAULT_PCACHE_INITSZ), touches them and
// frees them when the statement ends. glibc gives memory at the top of a
// thread's arena back to the kernel (madvise) once more than its trim
// threshold is free there; that threshold starts at 128 KiB and is raised
// only when a block above the mmap threshold is freed — which one process
// happens to do early and another never. In the one that never does, each
// ephemeral table's 20 pages are given back and faulted in again: 10,000
// noop items of a for_each took 50,000–60,000 minor faults and 2,700
// madvise calls where 10,000 declared tasks, whose run had freed a 284 KiB
// block early, took 11,000 and 130 (and twice the system time). Fixing
// the thresholds where glibc itself would move them after such a free
// makes every process behave like the lucky one.
const (
	mallocMmapThreshold = 512 << 10
	mallocTrimThreshold = 1 << 20
)

// oneArena: glibc gives each thread that calls malloc an arena of its own
// (up to 8 per CPU), a heap reserved 64 MiB at a time and made writable a
// page at a time, one mprotect each, as it grows. SQLite runs on whichever
// threads the Go runtime lends its calls, and the runtime's own
// pthread_create allocates on the thread that calls it, so a one-task
// cairn run made 7 arenas: 100 of its 960 system calls were mprotects
// growing them, and its SQLite pages were spread over three heaps. One
// arena (the main one, grown by brk 128 KiB at a time) serves all of them:
// 8 mprotects. Threads still keep their own cache of small blocks
// (glibc's tcache), so they do not take the arena's lock for most
// allocations; a 5,000-task fan ran in the same CPU time (0.352 and 0.353
// s median, 6 runs each) and 1.2 MB less peak RSS. cairn_one_arena sets it
// before main; this reports whether the block of n bytes a new thread
// allocates comes from the main arena (ok false where that cannot be told).
func oneArena(n int) (main, ok bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := C.cairn_thread_block(C.size_t(n))
	return r == 1, r >= 0
}

// tuneMalloc sets glibc's thresholds (above); elsewhere it does nothing
// and reports false. It changes process-wide settings of the C library,
// the same values each time: calling it again is harmless.
func tuneMalloc() bool {
	return C.cairn_tune_malloc(C.int(mallocMmapThreshold), C.int(mallocTrimThreshold)) != 0
}

// mallocProbe allocates, touches and frees n bytes of C memory and says
// whether glibc took them from mmap and whether the free gave heap back;
// ok is false where that cannot be told.
func mallocProbe(n int) (mapped, trimmed, ok bool) {
	var m, t C.int
	if C.cairn_malloc_probe(C.size_t(n), &m, &t) != 0 {
		return false, false, false
	}
	return m != 0, t != 0, true
}
