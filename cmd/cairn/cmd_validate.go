package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

func cmdValidate(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("validate", "FILE...",
		"Check workflow files without running them. Every problem is printed as FILE:LINE:COL: message,\n"+
			"not only the first (at most 20 of a file and 3 alike, then a count of the rest; --all prints every one).\n"+
			"Exits 2 if any file is bad.")
	all := fs.Bool("all", false, "print every problem of a file, not at most 20 (3 alike) and a count of the rest")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError{"want at least one workflow file"}
	}
	// The built-in types first; the plugins (started, or in the lean build
	// cairn-full handed the command) only when a file names a type they do
	// not know, and before anything is printed.
	reg, err := registry()
	if err != nil {
		return err
	}
	parseAll := func(reg *tasks.Registry) ([]*workflows.Workflow, []error, bool) {
		wfs, errs, unknown := make([]*workflows.Workflow, len(files)), make([]error, len(files)), false
		for i, f := range files {
			wfs[i], errs[i] = workflows.ParseFile(f, workflows.Options{Types: reg})
			unknown = unknown || errors.Is(errs[i], workflows.ErrUnknownType)
		}
		return wfs, errs, unknown
	}
	wfs, errs, unknown := parseAll(reg)
	if unknown {
		if reg, err = a.taskTypes(ctx); err != nil {
			return err
		}
		wfs, errs, _ = parseAll(reg)
	}
	bad := 0
	for i, f := range files {
		wf, err := wfs[i], errs[i]
		if err != nil {
			bad++
			var list workflows.ErrorList
			if *all && errors.As(err, &list) {
				fmt.Fprintln(a.stderr, printableLines(list.Format(0)))
			} else {
				fmt.Fprintln(a.stderr, printableLines(err.Error()))
			}
			continue
		}
		fmt.Fprintf(a.stdout, "%s: ok: workflow %s, %s, %s\n", printable(f), wf.Name, plural(len(wf.Tasks), "task"), wf.Digest)
	}
	if bad > 0 {
		return exitError{exitBadFile, errors.New(plural(bad, "file") + " with problems")}
	}
	return nil
}
