package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

// poolFlag is a repeatable --pool NAME=SIZE flag (cairn.ParsePool).
type poolFlag struct{ m *map[string]int }

func (f poolFlag) String() string {
	if f.m == nil {
		return ""
	}
	return formatPools(*f.m)
}

func (f poolFlag) Set(s string) error {
	name, size, err := cairn.ParsePool(s)
	if err != nil {
		return err
	}
	if *f.m == nil {
		*f.m = map[string]int{}
	}
	if _, dup := (*f.m)[name]; dup {
		return fmt.Errorf("pool %s is given twice", name)
	}
	(*f.m)[name] = size
	return nil
}

// formatPools writes pools as --pool reads them, by name: "gpu=1,wh=4";
// "" for none.
func formatPools(pools map[string]int) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(pools)) {
		parts = append(parts, fmt.Sprintf("%s=%d", name, pools[name]))
	}
	return strings.Join(parts, ",")
}

// poolLister is what checkRunPools reads of a store.
type poolLister interface {
	Pools(ctx context.Context) ([]cairn.PoolState, error)
}

// checkRunPools refuses, with FILE:LINE:COL at each task's pool:, a
// workflow whose tasks name a pool that neither the file nor the database
// declares, or more slots than a pool has: the store would refuse the run
// (cairn.PoolError), without saying where in the file.
func checkRunPools(ctx context.Context, st poolLister, wf *workflows.Workflow) error {
	if !wf.UsesPools() {
		return nil
	}
	ps, err := st.Pools(ctx)
	if err != nil {
		return err
	}
	if err := workflows.CheckPools(wf, ps); err != nil {
		return exitError{exitBadFile, fmt.Errorf("%s\n%s", err, "nothing was run")}
	}
	return nil
}

func cmdPools(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("pools", "[--json]",
		"List the pools of the home's database: each one's size, who declared it (a server's --pool, which\n"+
			"wins, or a workflow's pools:), the slots in use and the tasks holding them (RUN/TASK; a task cancelled\n"+
			"while it ran holds them, 'cancelling', until its process is gone), and how many\n"+
			"ready tasks wait for it (the first ones in the lease queue's order with --json). A task with\n"+
			"'pool: NAME' runs only while its pool_slots fit beside the holders; until then it waits in ready, and\n"+
			"'cairn show' says for which pool. See Pools and priorities in docs/workflows.md.")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, `print JSON for scripts: {"pools": [{name, size, source, used, holders, waiting, queue, updated_at}]}`)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	out := runjson.PoolList{Pools: []runjson.Pool{}}
	st, err := a.openStore(ctx)
	if err != nil && !errors.Is(err, errNoDatabase) {
		return err
	}
	if st != nil {
		defer st.Close()
		ps, err := st.Pools(ctx)
		if err != nil {
			return err
		}
		out = runjson.FromPools(ps)
	}
	if asJSON {
		return writeJSON(a.stdout, out)
	}
	if len(out.Pools) == 0 {
		fmt.Fprintln(a.stderr, "no pools: declare one in a workflow (pools: {gpu: 1}) or start the server with --pool gpu=1")
		return nil
	}
	// A holder whose run nobody drives (its process died) is said so.
	orphans := map[string]bool{}
	now := time.Now()
	for _, p := range out.Pools {
		for _, h := range p.Holders {
			if _, seen := orphans[h.RunID]; seen || st == nil || h.Cancelling {
				continue
			}
			r, err := st.GetRun(ctx, h.RunID)
			orphans[h.RunID] = err == nil && orphaned(r, now)
		}
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tSIZE\tIN USE\tWAITING\tDECLARED BY\tHELD BY")
	for _, p := range out.Pools {
		held := "-"
		if len(p.Holders) > 0 {
			var hs []string
			for _, h := range p.Holders {
				s := h.RunID + "/" + h.TaskID
				if h.Slots > 1 {
					s += fmt.Sprintf(" (%d)", h.Slots)
				}
				if h.Cancelling {
					// Cancelled while it ran: its slots come back when its
					// process is gone, or its lease would have expired.
					s += " (cancelling)"
				} else if orphans[h.RunID] {
					// Its slot comes back when the lease expires (a
					// server's reaper, or a run waiting for the pool).
					s += " (orphaned: cairn resume " + h.RunID + ")"
				}
				hs = append(hs, s)
			}
			held = strings.Join(hs, ", ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", printable(p.Name), p.Size, p.Used, p.Waiting, p.Source, printable(held))
	}
	return tw.Flush()
}
