package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/cairnml/cairn/workflows"
)

// groupRows writes a heading row for each sub-workflow group task id
// enters (open is the groups of the row above) and returns id's groups.
func groupRows(w io.Writer, open []string, id string, groups workflows.GroupCounts, sty style) []string {
	heads, gs := groups.Enter(open, id)
	for _, h := range heads {
		fmt.Fprintf(w, "%s%s\t%s\t%s\t\t\t\t%s\n", strings.Repeat("  ", h.Depth), h.Name, "uses", sty.state(string(h.State)), h.Summary)
	}
	return gs
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
		for _, g := range workflows.Groups(t.ID) {
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
