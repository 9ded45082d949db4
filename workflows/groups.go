package workflows

import (
	"fmt"
	"strings"

	"github.com/cairnml/cairn"
)

// The tasks of a sub-workflow (uses:) have ids prefixed with the id of the
// task that uses it ("prep:clean"); `cairn show` and the run page group
// them under it, with one heading row per group.

// Groups returns the sub-workflow groups task id is in, outermost first:
// "a:b:c" is in "a" and "a:b".
func Groups(id string) []string {
	var out []string
	for i := 0; i < len(id); i++ {
		if id[i] == TaskSep[0] {
			out = append(out, id[:i])
		}
	}
	return out
}

// GroupCounts is how the task runs of each group stand: group → state →
// how many.
type GroupCounts map[string]map[cairn.TaskState]int

// CountGroups counts the task runs of each group by state (a for_each
// task through its items: cairn.TaskRun.Counted).
func CountGroups(trs []*cairn.TaskRun) GroupCounts {
	groups := GroupCounts{}
	for _, tr := range trs {
		if !tr.Counted() {
			continue
		}
		for _, g := range Groups(tr.TaskID) {
			if groups[g] == nil {
				groups[g] = map[cairn.TaskState]int{}
			}
			groups[g][tr.State]++
		}
	}
	return groups
}

// GroupHead is the heading row of a group: the task that uses the
// sub-workflow, its depth, its tasks' states summed up in one and counted.
type GroupHead struct {
	Name    string
	Depth   int
	State   cairn.TaskState
	Summary string // "3 tasks: 2 succeeded, 1 running"
}

// Enter returns the heads of the groups task id enters after a row whose
// groups were open, and id's groups (the next row's open).
func (gc GroupCounts) Enter(open []string, id string) ([]GroupHead, []string) {
	gs := Groups(id)
	same := 0
	for same < len(open) && same < len(gs) && open[same] == gs[same] {
		same++
	}
	var heads []GroupHead
	for depth := same; depth < len(gs); depth++ {
		counts := gc[gs[depth]]
		n := 0
		var parts []string
		for _, st := range cairn.TaskStates {
			if c := counts[st]; c > 0 {
				n += c
				parts = append(parts, fmt.Sprintf("%d %s", c, st))
			}
		}
		heads = append(heads, GroupHead{Name: gs[depth], Depth: depth, State: groupState(counts),
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
	for st := range counts {
		if st != cairn.TaskSucceeded && st != cairn.TaskSkipped {
			return st
		}
	}
	if counts[cairn.TaskSucceeded] > 0 {
		return cairn.TaskSucceeded
	}
	return cairn.TaskSkipped
}
