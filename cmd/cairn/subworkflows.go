package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/workflows"
)

// The tasks of a sub-workflow (uses:) have ids prefixed with the id of the
// task that uses it ("prep:clean"); show and graph group them under it.

// groupsOf returns the sub-workflow groups task id is in, outermost first:
// "a:b:c" is in "a" and "a:b".
func groupsOf(id string) []string {
	var out []string
	for i := 0; i < len(id); i++ {
		if id[i] == workflows.TaskSep[0] {
			out = append(out, id[:i])
		}
	}
	return out
}

// subworkflowGroups counts the task runs of each group by state.
func subworkflowGroups(trs []*cairn.TaskRun) map[string]map[cairn.TaskState]int {
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

// groupRows writes a heading row for each group task id enters (open is
// the groups of the row above) and returns id's groups.
func groupRows(w io.Writer, open []string, id string, groups map[string]map[cairn.TaskState]int, sty style) []string {
	gs := groupsOf(id)
	same := 0
	for same < len(open) && same < len(gs) && open[same] == gs[same] {
		same++
	}
	for depth := same; depth < len(gs); depth++ {
		g := gs[depth]
		counts := groups[g]
		n := 0
		var parts []string
		for _, st := range cairn.TaskStates {
			if c := counts[st]; c > 0 {
				n += c
				parts = append(parts, fmt.Sprintf("%d %s", c, st))
			}
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\t\t\t\t%s\n", strings.Repeat("  ", depth), g, "uses", sty.state(string(groupState(counts))),
			fmt.Sprintf("%d tasks: %s", n, strings.Join(parts, ", ")))
	}
	return gs
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

// usedFiles returns the sub-workflow groups of wf, parents before their
// children, with the file of each.
func usedFiles(wf *workflows.Workflow) map[string]string {
	out := map[string]string{}
	for _, u := range wf.Uses {
		out[u.Task] = u.Path
	}
	return out
}

// writeGrouped writes the tasks of wf with node, each sub-workflow's tasks
// inside open(group, file) ... close().
func writeGrouped(wf *workflows.Workflow, node func(t *workflows.Task, indent string), open func(group, file, indent string), closeGroup func(indent string)) {
	files := usedFiles(wf)
	var cur []string
	for _, t := range wf.Tasks {
		var gs []string
		for _, g := range groupsOf(t.ID) {
			if _, ok := files[g]; ok {
				gs = append(gs, g)
			}
		}
		same := 0
		for same < len(cur) && same < len(gs) && cur[same] == gs[same] {
			same++
		}
		for len(cur) > same {
			cur = cur[:len(cur)-1]
			closeGroup(strings.Repeat("    ", len(cur)+1))
		}
		for _, g := range gs[same:] {
			open(g, files[g], strings.Repeat("    ", len(cur)+1))
			cur = append(cur, g)
		}
		node(t, strings.Repeat("    ", len(cur)+1))
	}
	for len(cur) > 0 {
		cur = cur[:len(cur)-1]
		closeGroup(strings.Repeat("    ", len(cur)+1))
	}
}
