package workflows

import (
	"strconv"
)

// The limits of a workflow file, stated in docs/workflows.md ("Limits").
// Each is refused with an error that names it, its value and what to do.
// They are sized so that a workflow of 100,000 tasks, the scale Cairn is
// measured at (docs/benchmarks.md), fits well inside every one of them.
const (
	// DefaultMaxBytes is the largest workflow file Parse accepts when
	// Options.MaxBytes is 0: 64 MiB. A task of a fan-out is 30 to 200
	// bytes of YAML, so 100,000 tasks are 3 to 20 MiB, and a million
	// short ones fit. A large file is read a few tasks at a time (see
	// parseInChunks); one that must be read whole (aliases across tasks)
	// takes about 60 times its size in memory while it is parsed.
	DefaultMaxBytes = 64 << 20

	// MaxTasks is the most tasks one workflow may have: ten times the
	// 100,000 that a `cairn run` is measured with. The memory of a run
	// grows with its tasks (a few KB each), so a larger graph is better
	// split into several workflows.
	MaxTasks = 1_000_000

	// MaxDepth bounds the nesting of mappings and lists inside one
	// another, aliases followed.
	MaxDepth = 100

	// MaxAliasNodes and AliasRatio bound what anchors and aliases (&x,
	// *x) add to a file: the nodes reached through aliases, each counted
	// every time an alias reaches it, may number at most AliasRatio times
	// the nodes the file writes, or MaxAliasNodes if that is more. The
	// nodes a file writes are bounded by its size; only aliases can make
	// a small file expand to billions of values ("billion laughs"), and
	// this stops them after a bounded amount of work, while an honest
	// file of 100,000 tasks that each merge a `<<: *defaults` block
	// passes.
	MaxAliasNodes = 1_000_000
	AliasRatio    = 10
)

// thousands renders n with a comma between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
