package workflows

import (
	"fmt"
	"testing"
)

// TestChunksOverLimitAsWhole: a task list the lines say is over the limit
// of tasks is refused as the whole file refuses it: the lines over-count
// a quoted string spanning an item line (the file has no more tasks than
// the limit, so it is valid), and a file whose list does not decode says
// why, not that it has too many tasks.
func TestChunksOverLimitAsWhole(t *testing.T) {
	const head = "name: lim\n"
	for _, c := range []struct{ name, src string }{
		{"item line inside a string", head + "tasks:\n  - id: a\n    type: noop\n    description: \"one\n  - id: c\n    two\"\n  - id: b\n    type: noop\n"},
		{"invalid YAML in the list", head + "tasks:\n  - id: a\n    type: noop\n  - id: b\n    type: [noop\n  - id: c\n    type: noop\n"},
		{"over the limit", head + "tasks:\n  - id: a\n    type: noop\n  - id: b\n    type: noop\n  - id: c\n    type: noop\n"},
	} {
		for _, batch := range []int{1, 30, 1 << 20} {
			defer func(b int) { chunkBytes = b }(chunkBytes)
			chunkBytes = batch
			o := opts()
			o.MaxTasks = 2
			w1, err1, ok := parseInChunks(c.name, []byte(c.src), o)
			w2, err2 := parseWhole(c.name, []byte(c.src), o)
			if ok && (fmt.Sprint(err1) != fmt.Sprint(err2) || (w1 == nil) != (w2 == nil)) {
				t.Errorf("%s (batch %d): in chunks: %v\nwhole: %v", c.name, batch, err1, err2)
			}
		}
	}
}
