package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/cairnml/cairn/workflows"
)

func cmdGraph(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("graph", "FILE [--format mermaid|dot]", "Print a workflow's DAG for rendering: Mermaid (paste into a Markdown file\n"+
		"or mermaid.live) or Graphviz DOT (cairn graph wf.yaml --format dot | dot -Tsvg > wf.svg).\n"+
		"Solid edges carry data (${{ tasks.X.outputs.Y }}), dashed ones are needs: only; a task with\n"+
		"a when: condition is drawn as a diamond. The tasks of a sub-workflow (uses:) are drawn inside\n"+
		"a box named after the task that uses it.")
	format := fs.String("format", "mermaid", "mermaid or dot")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want exactly one workflow file"}
	}
	if *format != "mermaid" && *format != "dot" {
		return usageError{fmt.Sprintf("unknown format %q: want mermaid or dot", *format)}
	}
	reg, err := a.taskTypes(ctx)
	if err != nil {
		return err
	}
	wf, err := workflows.ParseFile(pos[0], workflows.Options{Types: reg})
	if err != nil {
		return exitError{exitBadFile, err}
	}
	if *format == "dot" {
		writeDot(a.stdout, wf)
	} else {
		writeMermaid(a.stdout, wf)
	}
	return nil
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

func writeMermaid(w io.Writer, wf *workflows.Workflow) {
	// Node ids are positions: task ids may hold characters Mermaid reads
	// as syntax.
	node := make(map[string]string, len(wf.Tasks))
	fmt.Fprintf(w, "flowchart TD\n")
	for i, t := range wf.Tasks {
		node[t.ID] = fmt.Sprintf("t%d", i)
	}
	groups := 0
	writeGrouped(wf, func(t *workflows.Task, indent string) {
		label := fmt.Sprintf("%s<br/><i>%s</i>", t.ID, t.Type)
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

func writeDot(w io.Writer, wf *workflows.Workflow) {
	fmt.Fprintf(w, "digraph %q {\n    rankdir=TB;\n    node [shape=box, fontname=\"Helvetica\"];\n", wf.Name)
	groups := 0
	writeGrouped(wf, func(t *workflows.Task, indent string) {
		shape := ""
		if t.When != "" {
			shape = ", shape=diamond"
		}
		fmt.Fprintf(w, "%s%q [label=%q%s];\n", indent, t.ID, t.ID+"\n"+t.Type, shape)
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
