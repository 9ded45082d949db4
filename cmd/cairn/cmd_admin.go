package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// cancelHere cancels a run that no live process drives: it claims the run
// and lets the planner cancel every unfinished task.
func cancelHere(ctx context.Context, st database, r *cairn.Run, reg *tasks.Registry) error {
	wf, err := workflows.Parse(r.SourcePath, r.Source, workflows.Options{Types: reg})
	if err != nil {
		return fmt.Errorf("re-read the workflow stored with run %s: %w", r.ID, err)
	}
	broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Abandoned: reapOrphans(reg)})
	driver := scheduler.NewDriver(st, broker, scheduler.DriverOptions{Owner: ownerName(), OwnerGone: ownerGone})
	_, err = driver.Drive(ctx, r.ID, wf)
	return err
}

func cmdTypes(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("types", "[TYPE]", "List the task types this binary knows (built in and from pinned plugins): each one's\n"+
		"params under with:, with their kind and default, its inputs and outputs. With TYPE, show that\n"+
		"type alone, every param with its default and what it means.")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{"want at most one task type"}
	}
	reg, err := a.taskTypes(ctx)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		info, ok := reg.Info(pos[0])
		if !ok {
			return exitError{exitBadFile, fmt.Errorf("unknown task type %q%s; known types: %s",
				pos[0], suggest(pos[0], reg.Names()), strings.Join(reg.Names(), ", "))}
		}
		return writeType(a.stdout, info)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	for _, name := range reg.Names() {
		info, _ := reg.Info(name)
		fmt.Fprintf(tw, "%s\t%s\n", name, info.Summary)
		for _, p := range info.Params {
			fmt.Fprintf(tw, "  with.%s\t%s%s\t%s\n", p.Name, p.Kind, paramDefault(p, " (required)", " (default %s)", ""), p.Doc)
		}
		var ins []string
		for _, in := range info.Inputs {
			d := in.Name
			if in.Required {
				d += " (required)"
			}
			ins = append(ins, d)
		}
		if len(ins) > 0 {
			fmt.Fprintf(tw, "  inputs\t\t%s\n", strings.Join(ins, ", "))
		}
		var outs []string
		for _, o := range info.Outputs {
			outs = append(outs, o.Name)
		}
		if info.OutputsParam != "" {
			outs = append(outs, "(the keys of with."+info.OutputsParam+")")
		}
		if len(outs) > 0 {
			fmt.Fprintf(tw, "  outputs\t\t%s\n", strings.Join(outs, ", "))
		}
	}
	return tw.Flush()
}

// paramDefault formats p's default with format (a %s verb), or says
// required, or none.
func paramDefault(p cairn.ParamInfo, required, format, none string) string {
	switch {
	case p.Required:
		return required
	case p.Default == nil:
		return none
	}
	if s, ok := p.Default.(string); ok {
		return fmt.Sprintf(format, s)
	}
	b, err := json.Marshal(p.Default)
	if err != nil {
		return fmt.Sprintf(format, fmt.Sprint(p.Default))
	}
	return fmt.Sprintf(format, b)
}

// writeType prints one task type: every param with its kind and default,
// every input and output with what it is.
func writeType(w io.Writer, info cairn.TypeInfo) error {
	fmt.Fprintf(w, "%s: %s\n", info.Name, info.Summary)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(info.Params) > 0 {
		fmt.Fprintf(tw, "\nPARAM (with:)\tKIND\tDEFAULT\tMEANING\n")
		for _, p := range info.Params {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Kind, paramDefault(p, "required", "%s", "none"), p.Doc)
		}
		if info.OpenParams {
			fmt.Fprintf(tw, "(any other key)\tany\tnone\tpassed on as it is\n")
		}
	}
	if len(info.Inputs) > 0 {
		fmt.Fprintf(tw, "\nINPUT (inputs:)\tKIND\tREQUIRED\tMEANING\n")
		for _, in := range info.Inputs {
			req := "no"
			if in.Required {
				req = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.Name, portKind(in), req, in.Doc)
		}
	}
	if len(info.Outputs) > 0 || info.OutputsParam != "" {
		fmt.Fprintf(tw, "\nOUTPUT\tKIND\t\tMEANING\n")
		for _, o := range info.Outputs {
			fmt.Fprintf(tw, "%s\t%s\t\t%s\n", o.Name, portKind(o), o.Doc)
		}
		if info.OutputsParam != "" {
			fmt.Fprintf(tw, "(the keys of with.%s)\tartifact\t\tthe files the task declares\n", info.OutputsParam)
		}
	}
	return tw.Flush()
}

func portKind(p cairn.PortInfo) string {
	if p.Artifact {
		return "artifact"
	}
	return "value"
}
