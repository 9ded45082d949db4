package main

import "github.com/cairnml/cairn/tasks/limits"

// removeStaleLimits removes the cgroups a cairn killed with kill -9 left
// for its tasks' resources (see tasks/limits), before this one runs tasks.
// Where limits cannot be enforced there are none to remove.
func removeStaleLimits() {
	_ = limits.RemoveStale()
}
