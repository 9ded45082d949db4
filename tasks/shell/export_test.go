package shell

import "github.com/cairnml/cairn/tasks/proctree"

// NewSweeping returns the shell type with its attempts' processes held by
// the sweep, not a cgroup: the fallback, forced.
func NewSweeping() *Task { return &Task{tree: proctree.Options{NoCgroup: true}} }
