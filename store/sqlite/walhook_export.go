//go:build cgo

package sqlite

// #include <stdint.h>
import "C"

// cairnWALGrown is called by cairn_wal_hook (walhook_cgo.go) on the
// watched connection's goroutine, inside its commit, when the log holds
// 1,000 frames or more; it answers whether that connection checkpoints
// the log at once, itself (see checkpointer.grown). A token no store
// holds any more (none commits after its Close) answers as SQLite's own
// hook would.
//
//export cairnWALGrown
func cairnWALGrown(token C.uintptr_t, frames C.int) C.int {
	c, ok := walWatches.Load(uintptr(token))
	if !ok || c.(*checkpointer).grown(int(frames)) {
		return 1
	}
	return 0
}
