package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

func cmdRuns(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("runs", "[flags]", "List runs, newest first. The run id is the first column; any unique prefix of it\n"+
		"(4 characters or more) works wherever a RUN is asked for. A run no process drives any more (its\n"+
		"process died, or a stopping 'cairn server' let it go) is shown as orphaned: a running 'cairn server'\n"+
		"takes it over by itself, or 'cairn resume RUN' finishes it. With --server, the runs of a cairn server.\n\n"+
		"--metric TASK.METRIC (repeatable) adds a column of that task's metric to each run. --sort desc|asc\n"+
		"ranks the runs by the first --metric instead (runs without it are left out) and pages by --offset,\n"+
		"not --before: a ranking changes as runs finish, so a later page may repeat or skip a run.")
	var f scheduler.RunFilter
	var metrics multiFlag
	var sortBy string
	var offset int
	fs.Var(&metrics, "metric", "add a column of this task's metric, TASK.METRIC (evaluate.f1); repeat for more")
	fs.StringVar(&sortBy, "sort", "", "rank the runs by the first --metric: desc (largest first) or asc; pages by --offset")
	fs.IntVar(&offset, "offset", 0, "with --sort, the runs to skip: the next page's offset, which the previous page printed")
	var state string
	var asJSON bool
	fs.StringVar(&f.Workflow, "workflow", "", "only runs of this workflow")
	fs.StringVar(&state, "state", "", "only runs in this state: queued, running, succeeded, failed, cancelled (orphaned runs are running)")
	fs.IntVar(&f.Limit, "limit", 20, "runs per page")
	fs.StringVar(&f.Before, "before", "", "the page after this run id (the cursor the previous page printed)")
	fs.BoolVar(&asJSON, "json", false, `print JSON for scripts: {"runs": [...], "next": cursor or null}`)
	var idsOnly bool
	fs.BoolVar(&idsOnly, "q", false, "print only run ids, one per line")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if asJSON && idsOnly {
		return usageError{"--json and -q cannot be used together"}
	}
	if state != "" {
		state = strings.ToLower(strings.TrimSpace(state))
		if state == orphanedState {
			return usageError{"orphaned is not a stored state: --state running lists the orphaned runs too (their STATE says orphaned)"}
		}
		s, err := cairn.ParseRunState(state)
		if err != nil {
			return usageError{err.Error()}
		}
		f.State = s
	}
	if f.Limit <= 0 || f.Limit > maxListLimit {
		return usageError{fmt.Sprintf("--limit must be between 1 and %d", maxListLimit)}
	}
	mq, err := metricFlags(metrics, sortBy, offset, f)
	if err != nil {
		return err
	}
	src, err := a.source(ctx, rf, true) // no database: nothing has run with this home, no runs (and no file made)
	if err != nil {
		return err
	}
	defer src.close()
	if len(mq.Metrics) > 0 {
		return a.listMetricRuns(ctx, src, f, mq, asJSON, idsOnly, rf)
	}
	runs, next, err := src.listRuns(ctx, f)
	if err != nil {
		return err
	}
	now := time.Now()
	switch {
	case idsOnly:
		for _, r := range runs {
			fmt.Fprintln(a.stdout, r.ID)
		}
		return nil
	case asJSON:
		out := runsJSON{Runs: make([]runJSON, 0, len(runs))}
		for _, r := range runs {
			out.Runs = append(out.Runs, runjson.FromRun(r.Run, r.orphaned))
		}
		if next != "" {
			out.Next = &next
		}
		return writeJSON(a.stdout, out)
	}
	if len(runs) == 0 {
		fmt.Fprintln(a.stderr, "no runs")
		return nil
	}
	sty := newStyle(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RUN\tWORKFLOW\t%s\tCREATED\tDURATION\tTRIGGER\n", sty.state("STATE"))
	var lost []*cairn.Run
	for _, r := range runs {
		state := string(r.State)
		if r.orphaned {
			state = orphanedState
			lost = append(lost, r.Run)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, sty.state(state), localTime(r.CreatedAt), runDuration(r, now), triggerText(r.Run))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range lost {
		fmt.Fprintf(a.stderr, "run %s is orphaned (%s; a cairn server takes it over): cairn resume %s%s\n", r.ID, orphanedWhy(r), r.ID, rf.serverArg())
	}
	if next != "" {
		fmt.Fprintf(a.stderr, "more: %s\n", a.nextPage(f, next, rf))
	}
	return nil
}

// maxListLimit bounds --limit of runs.
const maxListLimit = 100000

// nextPage is the command that prints the page after cursor with the
// same filters and page size (and the same --home and --db).
func (a *app) nextPage(f scheduler.RunFilter, cursor string, rf *remoteFlags) string {
	cmd := append([]string{"cairn"}, a.globalArgs()...)
	cmd = append(cmd, "runs")
	if f.Workflow != "" {
		cmd = append(cmd, "--workflow", shellQuote(f.Workflow))
	}
	if f.State != "" {
		cmd = append(cmd, "--state", string(f.State))
	}
	cmd = append(cmd, "--limit", strconv.Itoa(f.Limit), "--before", cursor)
	return strings.Join(cmd, " ") + rf.serverArg()
}

// shellQuote quotes s for a POSIX shell unless it needs none.
func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@%+,", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// orphanedState is the state runs and show display for a run that is not
// finished but whose driving process is gone. It is derived when the run
// is read, never stored: the run is still running in the store, and
// 'cairn resume' takes it over.
const orphanedState = "orphaned"

// ownerTTL is the run claim's lifetime, the driver's default
// (scheduler.DriverOptions.OwnerTTL), which cairn run does not change:
// a claim that expires at t was last renewed at t - ownerTTL.
const ownerTTL = 10 * time.Second

// orphaned reports whether run r is unfinished and nobody drives it: its
// owner's claim has expired, or its owner was a process on this host that
// no longer exists (the test resume uses to take a run over at once), or
// it is running and its owner let it go (a cairn server that stopped, a
// cairn run that detached from a full disk). A queued run nobody claimed
// waits for a server; it is not orphaned.
func orphaned(r *cairn.Run, now time.Time) bool {
	if r.State.Terminal() {
		return false
	}
	if r.Owner == "" {
		return r.State == cairn.RunRunning
	}
	return r.OwnerExpiresAt.Before(now) || ownerGone(r.Owner)
}

// orphanedWhy says why no process drives an orphaned run.
func orphanedWhy(r *cairn.Run) string {
	if r.Owner == "" {
		return "the process driving it let it go"
	}
	return "the process driving it died"
}

// runEnd is the end of run r's time axis: when it finished, now while it
// runs, and for an orphaned run the last time its owner was known alive
// (its last claim renewal; its start when that is not known: a server's
// run; now, as it did not end, for a run its owner let go).
func runEnd(r runItem, now time.Time) time.Time {
	switch {
	case !r.FinishedAt.IsZero():
		return r.FinishedAt
	case r.orphaned && r.Owner != "" && !r.lastAlive.IsZero():
		return r.lastAlive
	case r.orphaned && r.Owner != "":
		return r.StartedAt
	}
	return now
}

// runDuration is how long run r ran: to its end, to now while it runs
// (marked …), or for an orphaned run to the last time its owner was
// known alive (its last claim renewal; "?" when that is not known; a run
// its owner let go counts on, as it did not end).
func runDuration(r runItem, now time.Time) string {
	switch {
	case r.StartedAt.IsZero():
		return "-"
	case !r.FinishedAt.IsZero():
		return r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	case r.orphaned && r.Owner != "" && r.lastAlive.IsZero():
		return "?"
	case r.orphaned && r.Owner != "":
		return runEnd(r, now).Sub(r.StartedAt).Round(time.Second).String()
	}
	return now.Sub(r.StartedAt).Round(time.Second).String() + "…"
}

// The shapes --json prints (docs/cli.md) are package runjson's, which the
// server's API writes too: one document for scripts, whichever way they
// ask. The tests decode into them under these names.
type (
	runsJSON    = runjson.Page
	runJSON     = runjson.Run
	taskJSON    = runjson.Task
	attemptJSON = runjson.Attempt
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// taskDuration is the time from the first attempt's start to the end.
func taskDuration(tr *cairn.TaskRun, atts []*cairn.Attempt) (time.Duration, bool) {
	return runjson.TaskDuration(tr, atts)
}

// gateFailed reports whether task tr succeeded with a gate that did not
// pass: its output passed is false (evaluate's gate, fail_on_gate unset).
func gateFailed(tr *cairn.TaskRun) bool {
	return tr.State == cairn.TaskSucceeded && string(bytes.TrimSpace(tr.Outputs["passed"])) == "false"
}

// maxReport bounds how much of a report artifact gateResults reads.
const maxReport = 64 << 20

// gateResults reads the conditions of task tr's gate and their outcome
// from its report artifact (an evaluate task's); nil when it cannot.
func (a *app) gateResults(ctx context.Context, tr *cairn.TaskRun) []evaluate.GateResult {
	var ref cairn.ArtifactRef
	if tr.Type != "evaluate" || json.Unmarshal(tr.Outputs["report"], &ref) != nil || ref.Validate() != nil {
		return nil
	}
	arts, _, err := a.stores()
	if err != nil {
		return nil
	}
	rc, err := arts.Open(ctx, ref)
	if err != nil {
		return nil
	}
	defer rc.Close()
	var rep struct {
		Gate []evaluate.GateResult `json:"gate"`
	}
	if json.NewDecoder(io.LimitReader(rc, maxReport)).Decode(&rep) != nil {
		return nil
	}
	return rep.Gate
}

// gateDetail is ": " and the conditions of a gate that did not hold, or "".
func gateDetail(gate []evaluate.GateResult) string {
	var parts []string
	for _, g := range gate {
		switch {
		case g.Passed:
		case g.Actual != nil:
			parts = append(parts, fmt.Sprintf("%s is %.4g, want %s %g", g.Metric, *g.Actual, g.Op, g.Value))
		default:
			parts = append(parts, fmt.Sprintf("%s %s", g.Condition, g.Reason))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return printable(": " + strings.Join(parts, "; "))
}

func cmdShow(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("show", "RUN [TASK] [--json]", "Show a run and every task: state, attempts, duration, error, outputs and metrics.\n"+
		"With TASK, that task alone, and whether its outputs came from the cache — or, when it ran, why not:\n"+
		"caching was off for it (and why), or what differs from its last success in the same workflow\n"+
		"(type, version, which params, which inputs).\n"+
		"A for_each task's items are listed under it, train[0], train[1]…, failed ones first, at most "+strconv.Itoa(maxShownItems)+"\n"+
		"(a line counts the others by state; --json has them all); its own row counts its items' attempts.\n"+
		"An item is a TASK too: cairn show RUN 'train[3]'.\n"+
		"With --server, a run of a cairn server.")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print JSON for scripts (with every attempt)")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) != 1 && len(pos) != 2 {
		return usageError{"want a run id, and perhaps a task id"}
	}
	src, err := a.source(ctx, rf, false)
	if err != nil {
		return err
	}
	defer src.close()
	d, err := src.getRun(ctx, pos[0])
	if err != nil {
		return err
	}
	if len(pos) == 2 {
		return a.showTask(ctx, src, d, pos[1], asJSON)
	}
	r, trs, atts := d.Run, d.tasks, d.atts
	if asJSON {
		out := runjson.FromRun(r, d.orphaned)
		out.Tasks = runjson.Tasks(trs, atts, d.waiting)
		return runjson.WriteIndented(a.stdout, out)
	}
	now := time.Now()
	gates := map[string][]evaluate.GateResult{}
	for _, tr := range trs {
		if gateFailed(tr) {
			gates[tr.TaskID] = src.gateResults(ctx, tr)
		}
	}

	w := a.stdout
	sty := newStyle(w)
	state := sty.state(string(r.State))
	if d.orphaned {
		state = sty.state(orphanedState) + " (" + orphanedWhy(r) + "; the store says running)"
	}
	fmt.Fprintf(w, "run       %s\nworkflow  %s (%s)\nfile      %s\nstate     %s\n", r.ID, r.Workflow, printable(r.Digest), printable(r.SourcePath), state)
	if d.orphaned {
		fmt.Fprintf(w, "resume    a cairn server takes it over, or: cairn resume %s%s\n", r.ID, rf.serverArg())
	}
	if l, ok := src.(*localSource); ok && r.State == cairn.RunQueued && l.st != nil {
		// A queued run waits for a server: say whether one runs here.
		if who, ok := l.a.starter(ctx, l.st); ok {
			fmt.Fprintf(w, "waits     for %s to start it, within the active-run limits\n", who)
		} else if !l.a.onPostgres() {
			fmt.Fprintf(w, "waits     for a cairn server, and none runs on this home: start one ('cairn server'), or cancel it: cairn cancel %s\n", r.ID)
		} else {
			fmt.Fprintf(w, "waits     for a cairn server, and none is live on this database: start one ('cairn server'), or cancel it: cairn cancel %s\n", r.ID)
		}
	}
	fmt.Fprintf(w, "created   %s\nduration  %s\n", localTime(r.CreatedAt), runDuration(d.runItem, now))
	if r.Error != "" {
		fmt.Fprintf(w, "error     %s\n", printable(r.Error))
	}
	if len(r.Params) > 0 {
		var ps []string
		for _, k := range sortedKeys(r.Params) {
			ps = append(ps, printable(k+"="+paramText(r.Params[k])))
		}
		fmt.Fprintf(w, "params    %s\n", strings.Join(ps, " "))
	}
	fmt.Fprintln(w)
	tl := newTimeline(r, d.all, runEnd(d.runItem, now))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "TASK\tTYPE\t%s\tATTEMPTS\tDURATION\t%s\tERROR\n", sty.state("STATE"), tl.header())
	groups := workflows.CountGroups(trs)
	var open []string // the sub-workflow groups of the row above
	shown, more := itemsOrder(trs)
	items := runjson.ItemAttempts(trs, atts)
	for k, tr := range shown {
		indent := ""
		if tr.IsItem() {
			indent = "  " // under its for_each task
		} else {
			open = groupRows(tw, open, tr.TaskID, groups, sty)
		}
		rowAtts := atts[tr.TaskID]
		if as, ok := items[tr.TaskID]; ok {
			rowAtts = as // a for_each task's row spans its items
		}
		dur := "-"
		if d, ok := taskDuration(tr, rowAtts); ok {
			dur = d.Round(time.Millisecond).String()
		}
		note := oneLine(tr.Error)
		if gateFailed(tr) {
			note = sty.paint(colorYellow, "gate did not pass")
		}
		if from := cachedFrom(tr, atts[tr.TaskID]); !from.IsZero() {
			note = strings.TrimSpace(sty.paint(colorCyan, "cache") + " (from " + from.String() + ") " + note)
		}
		if why := d.waiting[tr.TaskID]; why != "" {
			note = sty.paint(colorYellow, printable(why))
		}
		fmt.Fprintf(tw, "%s%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.Repeat("  ", len(open)), indent, tr.TaskID, tr.Type, sty.state(string(tr.State)), runjson.AttemptsText(tr, items[tr.TaskID]), dur,
			tl.bar(rowAtts), note)
		if parent, _, ok := cairn.ParseItemID(tr.TaskID); ok && more[parent] != "" && (k+1 == len(shown) || !shown[k+1].IsItem()) {
			fmt.Fprintf(tw, "%s  …\t\t\t\t\t\t%s\n", strings.Repeat("  ", len(open)), strings.Replace(more[parent], "RUN", r.ID, 1))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, tr := range shown {
		var ran []string // the plugin binaries that ran its attempts
		for _, at := range atts[tr.TaskID] {
			if p := at.Plugin; p != nil {
				ran = append(ran, printable(fmt.Sprintf("  plugin  attempt %d: %s %s, sha256:%s, protocol %d", at.Number, p.Name, p.Version, p.SHA256, p.Protocol)))
			}
		}
		if len(tr.Outputs) == 0 && len(tr.Metrics) == 0 && len(ran) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", tr.TaskID)
		if gateFailed(tr) {
			fmt.Fprintf(w, "  %s    the task succeeded, its gate did not pass%s\n", sty.paint(colorYellow, "gate"), gateDetail(gates[tr.TaskID]))
		}
		for _, l := range ran {
			fmt.Fprintln(w, l)
		}
		for _, k := range sortedKeys(tr.Outputs) {
			fmt.Fprintf(w, "  output  %s = %s\n", printable(k), clip(string(tr.Outputs[k]), maxOutputText, r.ID))
		}
		for _, k := range sortedKeys(tr.Metrics) {
			fmt.Fprintf(w, "  metric  %s = %g\n", printable(k), tr.Metrics[k])
		}
		printPlots(w, tr)
	}
	return nil
}

func cmdLogs(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("logs", "RUN TASK [--attempt N] [-f]", "Print the log of a task attempt: the latest attempt unless --attempt is given.\n"+
		"With -f, keep printing as the task writes, through its retries, until it finishes.\n"+
		"With --server, the log of a cairn server's run (-f follows it as Server-Sent Events).")
	attempt := fs.Int("attempt", 0, "attempt number (1 is the first)")
	follow := fs.Bool("f", false, "follow the log until the task (or, with --attempt, that attempt) finishes")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) != 2 {
		return usageError{"want a run id and a task id"}
	}
	src, err := a.source(ctx, rf, false)
	if err != nil {
		return err
	}
	defer src.close()
	d, err := src.getRun(ctx, pos[0])
	if err != nil {
		return err
	}
	id, task := d.ID, pos[1]
	tr, err := d.task(task)
	if err != nil {
		return err
	}
	atts := d.atts[task]
	if len(atts) == 0 && tr.Items > 0 {
		// A for_each task runs as its items: their logs are theirs.
		last := ""
		if tr.Items > 1 {
			last = fmt.Sprintf(" … '%s'", cairn.ItemID(task, tr.Items-1))
		}
		return fmt.Errorf("task %s of run %s is a for_each task: its %s ran as tasks of their own, each with its log: cairn logs %s '%s'%s",
			task, id, plural(tr.Items, "item"), id, cairn.ItemID(task, 0), last)
	}
	if len(atts) == 0 && !*follow {
		return fmt.Errorf("task %s of run %s has no attempts (it is %s)", task, id, tr.State)
	}
	n := *attempt
	if n == 0 && len(atts) > 0 {
		n = atts[len(atts)-1].Number
	}
	if *attempt != 0 && (n < 1 || n > len(atts)) {
		return fmt.Errorf("task %s has attempts 1 to %d, not %d", task, len(atts), n)
	}
	var from cairn.AttemptRef // the attempt n reused the outputs of, if it did
	for _, at := range atts {
		if at.Number == n {
			from = at.CachedFrom
		}
	}
	// An attempt that reused outputs ended as it began: there is nothing
	// to follow.
	if *follow && from.IsZero() {
		return src.followLog(ctx, id, task, n, *attempt != 0, a.stdout, a.stderr)
	}
	rc, err := src.openLog(ctx, id, task, n)
	if errors.Is(err, cairn.ErrNotFound) && !from.IsZero() {
		// It ran nothing and wrote no log (executor.Pool.reuse).
		fmt.Fprintln(a.stdout, cairn.ReusedNote(from))
		return nil
	}
	if errors.Is(err, cairn.ErrNotFound) {
		fmt.Fprintf(a.stderr, "(attempt %d of %s printed nothing)\n", n, task)
		return nil
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(a.stdout, rc)
	return err
}

// followLocalLog prints attempt n's log as it grows (the worker moves a
// running command's output to it every quarter second) and, unless
// pinned, goes on to the task's next attempts, until the attempt or task
// is finished or ctx ends (Ctrl-C). n is 0 while the task has no attempt
// yet.
//
// It says on notes when the run becomes orphaned — a follower would
// otherwise wait in silence for a process that is gone — and when a
// process drives it again.
func followLocalLog(ctx context.Context, st database, logs *artifacts.Logs, runID, taskID string, n int, pinned bool, out, notes io.Writer) error {
	var off int64
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lost, ticks := false, 0
	noted := false // the note of an attempt that reused outputs, printed
	for {
		if lost || ticks%orphanCheckEvery == 0 { // an orphaned run at every tick
			r, err := st.GetRun(ctx, runID)
			if err != nil {
				return err
			}
			o := orphaned(r, time.Now())
			switch {
			case o && !lost:
				fmt.Fprintf(notes, "run %s is orphaned (%s; a cairn server takes it over): cairn resume %s; still following\n",
					runID, orphanedWhy(r), runID)
			case !o && lost && r.Owner != "":
				fmt.Fprintf(notes, "run %s is driven again, by %s; following\n", runID, r.Owner)
			}
			lost = o
		}
		ticks++
		// Look at the state first and print second, so that the bytes of
		// an attempt seen finished are all printed before leaving.
		tr, err := st.GetTaskRun(ctx, runID, taskID)
		if err != nil {
			return err
		}
		atts, err := st.ListAttempts(ctx, runID, taskID)
		if err != nil {
			return err
		}
		if n > 0 {
			if off, err = printFrom(out, logs, runID, taskID, n, off); err != nil {
				return err
			}
			if n <= len(atts) && off == 0 && !noted {
				if at := atts[n-1]; !at.CachedFrom.IsZero() && !at.FinishedAt.IsZero() {
					// It ran nothing and wrote no log (executor.Pool.reuse):
					// seen finished before its log was read, it has none.
					fmt.Fprintln(out, cairn.ReusedNote(at.CachedFrom))
					noted = true
				}
			}
		}
		latest := 0
		if len(atts) > 0 {
			latest = atts[len(atts)-1].Number
		}
		switch {
		case pinned && n <= len(atts) && !atts[n-1].FinishedAt.IsZero():
			return nil
		case !pinned && latest > n:
			n, off = latest, 0
			if latest > 1 {
				fmt.Fprintf(notes, "--- attempt %d ---\n", latest)
			}
			continue // print the new attempt's log at once
		case !pinned && tr.State.Terminal():
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// orphanCheckEvery is how many of followLocalLog's ticks (a quarter
// second) pass between two looks at whether its run is orphaned.
const orphanCheckEvery = 8

// printFrom prints attempt n's log from byte off and returns the new end.
// A log not created yet (nothing printed so far) is empty.
func printFrom(out io.Writer, logs *artifacts.Logs, runID, taskID string, n int, off int64) (int64, error) {
	path, err := logs.Path(runID, taskID, n)
	if err != nil {
		return off, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return off, nil
	}
	if err != nil {
		return off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, err
	}
	copied, err := io.Copy(out, f)
	return off + copied, err
}

func cmdCancel(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("cancel", "RUN", "Cancel a run. If a process is driving it, that process stops its running tasks\n"+
		"(within about two seconds) and records them as cancelled; otherwise the run is cancelled here.\n"+
		"With --server, the server cancels its run (an operator token).")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) != 1 {
		return usageError{"want exactly one run id"}
	}
	src, err := a.source(ctx, rf, false)
	if err != nil {
		return err
	}
	defer src.close()
	msg, err := src.cancel(ctx, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, msg)
	return nil
}

// maxOutputText bounds how much of one output value the text of `show`
// prints; --json and `cairn artifact` give everything.
const maxOutputText = 240

// clip shortens a long output value for a terminal, saying how much it left out.
func clip(s string, n int, runID string) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all: cairn show %s --json)", s[:cut], len(s), runID)
}

// paramText is a param's value as JSON, as written: '<', '>' and '&'
// stay themselves (json.Marshal writes them as \u003c, for HTML).
func paramText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// triggerText is the TRIGGER column of runs: what created the run, and
// its slot (local time) for a cron or backfill run.
func triggerText(r *cairn.Run) string {
	t := string(r.Trigger)
	if t == "" {
		t = string(cairn.TriggerManual)
	}
	if !r.ScheduledFor.IsZero() {
		t += " " + localTime(r.ScheduledFor)
	}
	return t
}
