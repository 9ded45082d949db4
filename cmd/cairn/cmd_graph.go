package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

func cmdGraph(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("graph", "FILE|RUN [--format mermaid|dot]", "Print a workflow's DAG for rendering: Mermaid (paste into a Markdown file\n"+
		"or mermaid.live) or Graphviz DOT (cairn graph wf.yaml --format dot | dot -Tsvg > wf.svg).\n"+
		"Solid edges carry data (${{ tasks.X.outputs.Y }}), dashed ones are needs: only; a task with\n"+
		"a when: condition is drawn as a diamond. The tasks of a sub-workflow (uses:) are drawn inside\n"+
		"a box named after the task that uses it. Given a run rather than a file, the workflow it ran,\n"+
		"each task with its state, and a for_each task's items as one node, train[0..N), counted by state.")
	format := fs.String("format", "mermaid", "mermaid or dot")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want exactly one workflow file or run"}
	}
	if *format != "mermaid" && *format != "dot" {
		return usageError{fmt.Sprintf("unknown format %q: want mermaid or dot", *format)}
	}
	var (
		wf    *workflows.Workflow
		nodes map[string]graphNode
	)
	if _, statErr := os.Stat(pos[0]); statErr == nil || !errors.Is(statErr, os.ErrNotExist) {
		var err error
		if wf, _, err = a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) {
			wf, err := workflows.ParseFile(pos[0], workflows.Options{Types: reg})
			if err != nil {
				return nil, exitError{exitBadFile, err}
			}
			return wf, nil
		}); err != nil {
			return err
		}
		nodes = fileNodes(wf)
	} else {
		st, r, err := a.openRun(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("%s is neither a file nor a run: %w", pos[0], err)
		}
		defer st.Close()
		if wf, _, err = a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) {
			return storedWorkflow(ctx, st, reg, r, "graph")
		}); err != nil {
			return err
		}
		trs, err := st.ListTaskRuns(ctx, r.ID)
		if err != nil {
			return err
		}
		nodes = runNodes(wf, trs)
	}
	if *format == "dot" {
		writeDot(a.stdout, wf, nodes)
	} else {
		writeMermaid(a.stdout, wf, nodes)
	}
	return nil
}

// graphNode is how a task is drawn: its name, and the line under it.
type graphNode struct{ label, note string }

// fileNodes draws each task of a file by its id and type; a for_each
// task as "train[…]", "TYPE, for_each".
func fileNodes(wf *workflows.Workflow) map[string]graphNode {
	out := make(map[string]graphNode, len(wf.Tasks))
	for _, t := range wf.Tasks {
		n := graphNode{label: t.ID, note: t.Type}
		if t.ForEach != nil {
			n.label, n.note = t.ID+"[…]", t.Type+", for_each"
		}
		out[t.ID] = n
	}
	return out
}

// runNodes draws each task of a run with its state; a for_each task that
// expanded as one node for its items, "train[0..N)", counted by state
// ("10000 items: 9990 succeeded, 10 running").
func runNodes(wf *workflows.Workflow, trs []*cairn.TaskRun) map[string]graphNode {
	out := fileNodes(wf)
	items := map[string]map[cairn.TaskState]int{}
	for _, tr := range trs {
		if parent, _, ok := cairn.ParseItemID(tr.TaskID); ok {
			if items[parent] == nil {
				items[parent] = map[cairn.TaskState]int{}
			}
			items[parent][tr.State]++
		}
	}
	for _, tr := range trs {
		n, ok := out[tr.TaskID]
		if !ok {
			continue
		}
		n.note = fmt.Sprintf("%s, %s", wf.Task(tr.TaskID).Type, tr.State)
		if tr.Expanded {
			var parts []string
			for _, st := range cairn.TaskStates {
				if c := items[tr.TaskID][st]; c > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", c, st))
				}
			}
			n.label = fmt.Sprintf("%s[0..%d)", tr.TaskID, tr.Items)
			n.note = fmt.Sprintf("%s, %s", wf.Task(tr.TaskID).Type, plural(tr.Items, "item"))
			if len(parts) > 0 {
				n.note += ": " + strings.Join(parts, ", ")
			}
		}
		out[tr.TaskID] = n
	}
	return out
}

// edge is one dependency: from must finish before to; data says whether to
// reads from's outputs (rather than only needing it).
type edge struct {
	from, to string
	data     bool
}

func edges(wf *workflows.Workflow) []edge {
	var es []edge
	for _, t := range wf.Tasks {
		needs := map[string]bool{}
		for _, n := range t.Needs {
			needs[n] = true
		}
		for _, up := range t.Upstream {
			// An upstream that is only in needs: carries no data.
			data := !needs[up] || referenced(t, up)
			es = append(es, edge{from: up, to: t.ID, data: data})
		}
	}
	return es
}

// referenced reports whether task t refers to an output of up.
func referenced(t *workflows.Task, up string) bool {
	prefix := "tasks." + up + ".outputs."
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return strings.Contains(strings.ReplaceAll(v, " ", ""), prefix)
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		case map[string]any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	for _, in := range t.Inputs {
		if walk(in) {
			return true
		}
	}
	return walk(t.With) || walk(t.When)
}

func writeMermaid(w io.Writer, wf *workflows.Workflow, nodes map[string]graphNode) {
	// Node ids are positions: task ids may hold characters Mermaid reads
	// as syntax.
	node := make(map[string]string, len(wf.Tasks))
	fmt.Fprintf(w, "flowchart TD\n")
	for i, t := range wf.Tasks {
		node[t.ID] = fmt.Sprintf("t%d", i)
	}
	groups := 0
	writeGrouped(wf, func(t *workflows.Task, indent string) {
		label := fmt.Sprintf("%s<br/><i>%s</i>", nodes[t.ID].label, nodes[t.ID].note)
		if t.When != "" {
			fmt.Fprintf(w, "%s%s{\"%s\"}\n", indent, node[t.ID], label)
		} else {
			fmt.Fprintf(w, "%s%s[\"%s\"]\n", indent, node[t.ID], label)
		}
	}, func(group, file, indent string) {
		fmt.Fprintf(w, "%ssubgraph g%d[\"%s<br/><i>uses %s</i>\"]\n", indent, groups, group, file)
		groups++
	}, func(indent string) { fmt.Fprintf(w, "%send\n", indent) })
	for _, e := range edges(wf) {
		arrow := "-->"
		if !e.data {
			arrow = "-.->"
		}
		fmt.Fprintf(w, "    %s %s %s\n", node[e.from], arrow, node[e.to])
	}
}

func writeDot(w io.Writer, wf *workflows.Workflow, nodes map[string]graphNode) {
	fmt.Fprintf(w, "digraph %q {\n    rankdir=TB;\n    node [shape=box, fontname=\"Helvetica\"];\n", wf.Name)
	groups := 0
	writeGrouped(wf, func(t *workflows.Task, indent string) {
		shape := ""
		if t.When != "" {
			shape = ", shape=diamond"
		}
		fmt.Fprintf(w, "%s%q [label=%q%s];\n", indent, t.ID, nodes[t.ID].label+"\n"+nodes[t.ID].note, shape)
	}, func(group, file, indent string) {
		fmt.Fprintf(w, "%ssubgraph \"cluster_%d\" {\n%s    label=%q;\n", indent, groups, indent, group+" (uses "+file+")")
		groups++
	}, func(indent string) { fmt.Fprintf(w, "%s}\n", indent) })
	for _, e := range edges(wf) {
		style := ""
		if !e.data {
			style = " [style=dashed]"
		}
		fmt.Fprintf(w, "    %q -> %q%s;\n", e.from, e.to, style)
	}
	fmt.Fprintf(w, "}\n")
}
