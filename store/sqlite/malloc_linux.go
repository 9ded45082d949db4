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
