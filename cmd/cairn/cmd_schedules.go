package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/actions"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

const schedulesHelp = "The schedules a cairn server fires: the schedule: of each workflow of its --workflows folder.\n" +
	"  list            every schedule: cron, zone, catch-up, paused or not, the last slot handled, the next slot\n" +
	"  pause NAME      fire nothing of workflow NAME's schedule until it is resumed\n" +
	"  resume NAME     fire its slots again from now on (the slots of the pause are not run: cairn backfill runs them)\n" +
	"On the home's database (a server registers a schedule when it first reads its file), or with --server on that\n" +
	"server (pause and resume need an operator token)."

func cmdSchedules(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("schedules", "list|pause|resume [NAME] [--json] [--server URL]", schedulesHelp)
	asJSON := fs.Bool("json", false, `list: print JSON for scripts: {"schedules": [...]}`)
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) == 0 {
		return usageError{"want a subcommand: list, pause or resume"}
	}
	switch sub := pos[0]; sub {
	case "list":
		if len(pos) != 1 {
			return usageError{"schedules list takes no argument"}
		}
		list, err := a.listSchedules(ctx, rf)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(a.stdout, runjson.Schedules{Schedules: list})
		}
		return a.printSchedules(list)
	case "pause", "resume":
		if *asJSON {
			return usageError{"--json applies to schedules list"}
		}
		if len(pos) != 2 {
			return usageError{fmt.Sprintf("want the workflow whose schedule to %s: cairn schedules %s NAME", sub, sub)}
		}
		return a.pauseSchedule(ctx, rf, pos[1], sub == "pause")
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q: want list, pause or resume", sub)}
	}
}

func (a *app) listSchedules(ctx context.Context, rf *remoteFlags) ([]runjson.Schedule, error) {
	if rf.remote() {
		c, err := a.client(rf)
		if err != nil {
			return nil, err
		}
		list, err := c.Schedules(ctx)
		if err != nil {
			return nil, remoteErr(err)
		}
		for _, j := range list {
			for _, s := range []string{j.Workflow, j.File, j.Cron, j.Timezone, j.Catchup, j.Error} {
				if !plainText(s) {
					return nil, fmt.Errorf("the server at %s answered a schedule with control characters: %q", c.URL(), s)
				}
			}
		}
		return list, nil
	}
	a.readOnly = true
	st, err := a.openStore(ctx)
	if errors.Is(err, errNoDatabase) {
		return []runjson.Schedule{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rows, err := st.Schedules(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]runjson.Schedule, 0, len(rows))
	for i := range rows {
		s, err := workflows.ScheduleFromSpec(rows[i].Spec)
		if err != nil {
			out = append(out, runjson.Schedule{Workflow: rows[i].Workflow, Paused: rows[i].Paused, LastSlot: runjson.Time(rows[i].Position),
				Error: err.Error()})
			continue
		}
		out = append(out, actions.DescribeSchedule(rows[i].Workflow, s, &rows[i], now))
	}
	return out, nil
}

func (a *app) printSchedules(list []runjson.Schedule) error {
	if len(list) == 0 {
		fmt.Fprintln(a.stderr, "no schedules (a cairn server registers the schedule: of each workflow of its --workflows folder when it reads it)")
		return nil
	}
	opt := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return localTime(*t)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW\tCRON\tZONE\tCATCHUP\tSTATE\tLAST SLOT\tNEXT SLOT")
	for _, j := range list {
		state := "active"
		if j.Paused {
			state = "paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Workflow, j.Cron, j.Timezone, j.Catchup, state, opt(j.LastSlot), opt(j.NextSlot))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, j := range list {
		if j.Error != "" {
			fmt.Fprintf(a.stderr, "%s: %s\n", j.Workflow, j.Error)
		}
	}
	return nil
}

func (a *app) pauseSchedule(ctx context.Context, rf *remoteFlags, name string, paused bool) error {
	verb := map[bool]string{true: "paused", false: "resumed"}[paused]
	if rf.remote() {
		c, err := a.client(rf)
		if err != nil {
			return err
		}
		if err := c.PauseSchedule(ctx, name, paused); err != nil {
			if errors.Is(err, cairn.ErrNotFound) {
				return fmt.Errorf("the server at %s has no schedule of workflow %q: cairn schedules list%s lists them", c.URL(), name, rf.serverArg())
			}
			return remoteErr(err)
		}
		fmt.Fprintf(a.stderr, "schedule of %s %s on the server at %s\n", name, verb, c.URL())
		return nil
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	changed, err := actions.SetPaused(ctx, st, name, "", paused, time.Now(), cliActor())
	if err != nil {
		return errors.New(trimSentinel(err.Error()))
	}
	if !changed {
		fmt.Fprintf(a.stderr, "schedule of %s already %s\n", name, verb)
		return nil
	}
	fmt.Fprintf(a.stderr, "schedule of %s %s\n", name, verb)
	return nil
}

const backfillHelp = "Queue a run for each slot of a workflow's schedule: from --from to --to, both included: RFC 3339\n" +
	"(2025-01-31T06:00:00Z), or a date (2025-01-31) or a date and time (2025-01-31T06:00) in the schedule's timezone.\n" +
	"Each run knows its slot (${{ run.scheduled_for }}); a slot that has a run already (fired, or backfilled before) is\n" +
	"left as it is. The runs are queued: a cairn server on the home starts them, oldest slot first, within the\n" +
	"workflow's max_active_runs: and --max-active-runs. An empty or reversed range, one reaching into the future and\n" +
	"one of more than 10,000 slots are refused. Locally, NAME is the workflow's file; with --server, the name of one\n" +
	"of that server's workflows (an operator token). Prints the ids of the runs queued."

func cmdBackfill(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("backfill", "FILE|NAME --from T --to T [--server URL]", backfillHelp)
	from := fs.String("from", "", "`TIME` of the first slot, or earlier (required)")
	to := fs.String("to", "", "`TIME` of the last slot, or later (required)")
	quiet := fs.Bool("quiet", false, "print the run ids and nothing else")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) != 1 {
		return usageError{"want exactly one workflow: its file, or with --server its name"}
	}
	if *from == "" || *to == "" {
		return usageError{"--from and --to are required: the range of slots to run"}
	}
	var res *runjson.Backfill
	where, infoPath := "", ""
	if rf.remote() {
		c, err := a.client(rf)
		if err != nil {
			return err
		}
		if res, err = c.Backfill(ctx, pos[0], *from, *to); err != nil {
			if errors.Is(err, cairn.ErrNotFound) {
				return fmt.Errorf("the server at %s has no workflow %q: its page %s/workflows lists those it has", c.URL(), pos[0], c.URL())
			}
			return remoteErr(err)
		}
		where = " on the server at " + c.URL()
	} else {
		if fi, err := os.Stat(pos[0]); err != nil || fi.IsDir() {
			return usageError{fmt.Sprintf("%s: no such workflow file; locally give the workflow's file (a name needs --server: that server's workflows)", pos[0])}
		}
		wf, _, err := a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) {
			wf, err := workflows.ParseFile(pos[0], workflows.Options{Types: reg})
			if err != nil {
				return nil, exitError{exitBadFile, fmt.Errorf("%w\nnothing was queued", err)}
			}
			return wf, nil
		})
		if err != nil {
			return err
		}
		if wf.Schedule == nil {
			return exitError{exitBadFile, fmt.Errorf("workflow %s has no schedule: a backfill runs the slots of its schedule: (add one, e.g. schedule: {cron: \"0 3 * * *\"})", wf.Name)}
		}
		tf, err := wf.Schedule.ParseTime(*from)
		if err != nil {
			return usageError{"--from: " + err.Error()}
		}
		tt, err := wf.Schedule.ParseTime(*to)
		if err != nil {
			return usageError{"--to: " + err.Error()}
		}
		path := pos[0]
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		st, err := a.openStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		infoPath = a.serverInfoPath()
		hasSecret := func(env string) bool { _, ok := os.LookupEnv(env); return ok }
		b, err := actions.Backfill(ctx, st, wf, path, tf, tt, time.Now(), cliActor(), hasSecret)
		if errors.Is(err, core.ErrBadInput) {
			return exitError{exitBadFile, err}
		}
		if err != nil {
			return err
		}
		res = &b
	}
	for _, id := range res.Created {
		fmt.Fprintln(a.stdout, id)
	}
	if !*quiet {
		fmt.Fprintf(a.stderr, "backfill of %s%s: %d slots, %s queued, %d had a run already\n", res.Workflow, where, res.Slots,
			plural(len(res.Created), "run"), res.Existing)
		if !rf.remote() && len(res.Created) > 0 {
			if _, ok := liveServer(infoPath); !ok {
				fmt.Fprintln(a.stderr, "no cairn server runs on this home: start one ('cairn server') and it starts them")
			}
		}
	}
	return nil
}
