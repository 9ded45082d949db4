package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// cancelHere cancels a run that no live process drives: it claims the run
// and lets the planner cancel every unfinished task.
func cancelHere(ctx context.Context, st *sqlite.Store, r *cairn.Run, reg *tasks.Registry) error {
	wf, err := workflows.Parse(r.SourcePath, r.Source, workflows.Options{Types: reg})
	if err != nil {
		return fmt.Errorf("re-read the workflow stored with run %s: %w", r.ID, err)
	}
	broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Abandoned: reapOrphans(reg)})
	driver := scheduler.NewDriver(st, broker, scheduler.DriverOptions{Owner: ownerName(), OwnerGone: ownerGone})
	_, err = driver.Drive(ctx, r.ID, wf)
	return err
}

func cmdMigrate(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("migrate", "", "Create the database or upgrade its schema to this binary's version.\n"+
		"Other commands do this too; migrate says what it applied.")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	path, err := a.databasePath()
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, path, sqlite.WithoutMigrations())
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(a.stdout, "%s: schema up to date\n", path)
		return nil
	}
	for _, m := range applied {
		fmt.Fprintf(a.stdout, "%s: applied %s\n", path, m)
	}
	return nil
}

func cmdTypes(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("types", "", "List the task types this binary knows, with their params and outputs.")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	reg, err := a.taskTypes(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	for _, name := range reg.Names() {
		info, _ := reg.Info(name)
		fmt.Fprintf(tw, "%s\t%s\n", name, info.Summary)
		for _, p := range info.Params {
			req := ""
			if p.Required {
				req = " (required)"
			}
			fmt.Fprintf(tw, "  with.%s\t%s%s\t%s\n", p.Name, p.Kind, req, p.Doc)
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
