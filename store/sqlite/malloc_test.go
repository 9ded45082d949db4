package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestOpenTunesMalloc checks that after Open a block of a few hundred KiB
// — the size whose free moves glibc's thresholds in one process and not in
// another — comes from the heap and stays there when freed, so that the
// ephemeral tables' page caches are not given back and faulted in again.
func TestOpenTunesMalloc(t *testing.T) {
	if _, _, ok := mallocProbe(1); !ok {
		t.Skip("not glibc (2.33 or later): the thresholds are the C library's own")
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
