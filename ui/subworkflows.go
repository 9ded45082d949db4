package ui

import (
	"fmt"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/workflows"
)

// groupHead is a row of the run page's tasks that names a sub-workflow
// (the task that uses it: the prefix of its tasks' ids, "prep" of
// "prep:clean") with how its tasks stand.
type groupHead struct {
	Name    string
	Depth   int
	State   cairn.TaskState
	Summary string
}

// groupsOf returns the sub-workflow groups task id is in, outermost first.
func groupsOf(id string) []string {
	var out []string
	for i := 0; i < len(id); i++ {
		if id[i] == workflows.TaskSep[0] {
			out = append(out, id[:i])
		}
	}
	return out
}

// subworkflowCounts counts the task runs of each group by state.
func subworkflowCounts(trs []*cairn.TaskRun) map[string]map[cairn.TaskState]int {
	groups := map[string]map[cairn.TaskState]int{}
	for _, tr := range trs {
		for _, g := range groupsOf(tr.TaskID) {
			if groups[g] == nil {
				groups[g] = map[cairn.TaskState]int{}
			}
			groups[g][tr.State]++
		}
	}
	return groups
}

// groupHeads returns the heads of the groups task id enters after a row in
// open, and id's groups.
func groupHeads(open []string, id string, groups map[string]map[cairn.TaskState]int) ([]groupHead, []string) {
	gs := groupsOf(id)
	same := 0
	for same < len(open) && same < len(gs) && open[same] == gs[same] {
		same++
	}
	var heads []groupHead
	for depth := same; depth < len(gs); depth++ {
		counts := groups[gs[depth]]
		n := 0
		var parts []string
		for _, st := range cairn.TaskStates {
			if c := counts[st]; c > 0 {
				n += c
				parts = append(parts, fmt.Sprintf("%d %s", c, st))
			}
		}
		heads = append(heads, groupHead{Name: gs[depth], Depth: depth, State: groupState(counts),
			Summary: fmt.Sprintf("%d tasks: %s", n, strings.Join(parts, ", "))})
	}
	return heads, gs
}

// groupState sums up a group's task states in one: failed if one failed,
// running if one runs, succeeded when all did.
func groupState(counts map[cairn.TaskState]int) cairn.TaskState {
	for _, st := range []cairn.TaskState{cairn.TaskFailed, cairn.TaskUpstreamFailed, cairn.TaskCancelled, cairn.TaskRunning, cairn.TaskRetrying, cairn.TaskLeased, cairn.TaskReady, cairn.TaskPending} {
		if counts[st] > 0 {
			return st
		}
	}
	if counts[cairn.TaskSucceeded] > 0 {
		return cairn.TaskSucceeded
	}
	return cairn.TaskSkipped
}
