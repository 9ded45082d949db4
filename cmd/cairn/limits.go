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
// live process's (executor.SweepScratch); and the folders of the plugin
// processes' sockets, named as scratch folders are but always in
// os.TempDir() (plugins.Host).
func removeStale(scratch string) {
	_ = limits.RemoveStale()
	_, _ = executor.SweepScratch(scratch)
	if scratch != "" {
		_, _ = executor.SweepScratch("")
	}
}
