package main

import (
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/tasks/limits"
)

// removeStale removes what a cairn killed with kill -9 left behind
// before this one runs tasks: the cgroups of its tasks' resources (see
// tasks/limits; where limits cannot be enforced there are none) and its
// attempts' scratch folders in scratch (os.TempDir() when "", a
// worker's HOME/work), those of processes that are gone only, never a
// live process's (executor.SweepScratch).
func removeStale(scratch string) {
	_ = limits.RemoveStale()
	_, _ = executor.SweepScratch(scratch)
}

// removeStaleMeanwhile runs removeStale(scratch) in a goroutine and
// returns a function that waits for it. A command that runs tasks starts
// it before its run's work and waits for it before it returns: it removes
// only what processes that are gone left (never this process's cgroups
// or scratch folders, which the run may make meanwhile), and its reading
// of /proc/self/mountinfo, the cgroup folders and the temporary folder —
// 0.4 ms of a one-task run, as much as an empty Go program's start —
// then runs beside the run's own work rather than before it.
func removeStaleMeanwhile(scratch string) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		removeStale(scratch)
	}()
	return func() { <-done }
}
