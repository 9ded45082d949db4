package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

func cmdWorkers(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("workers", "[--since D] [--json]",
		"List the workers that run tasks: the remote workers ('cairn worker') registered on the home's\n"+
			"database, live now or seen within --since, the live ones first, each with its labels, queues,\n"+
			"state, the tasks it runs and its last call; a cairn server on the home is listed too, for its own\n"+
			"pool. A worker takes a task when every label of the task is among its labels and the task's queue\n"+
			"among its queues (Routing in docs/workflows.md).\n"+
			"With --server, a cairn server's workers (its own pool first).")
	since := fs.Duration("since", time.Hour, "also list the workers that are no longer live but were seen within this long")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, `print JSON for scripts: {"workers": [...]}`)
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *since < 0 {
		return usageError{fmt.Sprintf("--since %s: want 0 or more, such as 1h", *since)}
	}
	now := time.Now()
	out := runjson.WorkerList{Workers: []runjson.Worker{}}
	if rf.remote() {
		c, err := a.client(rf)
		if err != nil {
			return err
		}
		list, err := c.Workers(ctx, *since)
		if err != nil {
			return err
		}
		// A field that cannot be shown as it is (a control or bidi
		// character) is escaped where it is printed, as the local list's
		// are: one worker's name never hides the others.
		for i, w := range list.Workers {
			if !plainText(string(w.State)) {
				list.Workers[i].State = cairn.WorkerState(printable(string(w.State)))
			}
		}
		out = *list
	} else {
		st, err := a.openStore(ctx)
		if err != nil && !errors.Is(err, errNoDatabase) {
			return err
		}
		if st != nil {
			defer st.Close()
			if info, ok := liveServer(a.serverInfoPath()); ok {
				if p, ok := info.pool(now); ok {
					out.Workers = append(out.Workers, runjson.FromWorker(p, now))
				}
			}
			ws, err := st.ListWorkers(ctx, now, now.Add(-*since))
			if err != nil {
				return err
			}
			for _, w := range ws {
				out.Workers = append(out.Workers, runjson.FromWorker(w, now))
			}
		}
	}
	if asJSON {
		return writeJSON(a.stdout, out)
	}
	if len(out.Workers) == 0 {
		fmt.Fprintf(a.stderr, "no workers: none live, none seen within %s\n", *since)
		return nil
	}
	sty := newStyle(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tHOST\tLABELS\tQUEUES\tSTATE\tRUNNING\tLAST HEARTBEAT")
	for _, w := range out.Workers {
		labels := cairn.FormatLabels(w.Labels)
		if labels == "" {
			labels = "-"
		}
		state := string(w.State)
		if !w.Live && (w.State == cairn.WorkerActive || w.State == cairn.WorkerDraining) {
			state = "expired"
		}
		seen := "-"
		if !w.SeenAt.IsZero() {
			seen = now.Sub(w.SeenAt).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", printable(w.ID), printable(w.Name), printable(w.Host), printable(labels),
			printable(cairn.FormatQueues(w.ToWorker().Queues)), sty.state(state), w.Running, seen)
	}
	return tw.Flush()
}
