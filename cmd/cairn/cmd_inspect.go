package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
)

func cmdRuns(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("runs", "[flags]", "List runs, newest first. The run id is the first column; any unique prefix of it\n"+
		"(4 characters or more) works wherever a RUN is asked for.")
	var f scheduler.RunFilter
	var state string
	var asJSON bool
	fs.StringVar(&f.Workflow, "workflow", "", "only runs of this workflow")
	fs.StringVar(&state, "state", "", "only runs in this state: queued, running, succeeded, failed, cancelled")
	fs.IntVar(&f.Limit, "limit", 20, "runs per page")
	fs.StringVar(&f.Before, "before", "", "the page after this run id (printed at the end of a full page)")
	fs.BoolVar(&asJSON, "json", false, "print JSON for scripts")
	var idsOnly bool
	fs.BoolVar(&idsOnly, "q", false, "print only run ids, one per line")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if state != "" {
		s, err := cairn.ParseRunState(state)
		if err != nil {
			return usageError{err.Error()}
		}
		f.State = s
	}
	if f.Limit <= 0 {
		return usageError{"--limit must be positive"}
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.ListRuns(ctx, f)
	if err != nil {
		return err
	}
	if idsOnly {
		for _, r := range runs {
			fmt.Fprintln(a.stdout, r.ID)
		}
		return nil
	}
	if asJSON {
		out := make([]runJSON, 0, len(runs))
		for _, r := range runs {
			out = append(out, toRunJSON(r))
		}
		return writeJSON(a.stdout, out)
	}
	sty := newStyle(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RUN\tWORKFLOW\t%s\tCREATED\tDURATION\n", sty.state("STATE"))
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, sty.state(string(r.State)), localTime(r.CreatedAt), runDuration(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintln(a.stderr, "no runs")
	} else if len(runs) == f.Limit {
		fmt.Fprintf(a.stderr, "more: cairn runs --before %s\n", runs[len(runs)-1].ID)
	}
	return nil
}

func runDuration(r *cairn.Run) string {
	switch {
	case r.StartedAt.IsZero():
		return "-"
	case r.FinishedAt.IsZero():
		return time.Since(r.StartedAt).Round(time.Second).String() + "…"
	}
	return r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
}

// runJSON and taskJSON are the --json shapes: stable, snake_case names.
type runJSON struct {
	ID              string         `json:"id"`
	Workflow        string         `json:"workflow"`
	Digest          string         `json:"digest"`
	SourcePath      string         `json:"source_path"`
	State           cairn.RunState `json:"state"`
	Params          map[string]any `json:"params"`
	Error           string         `json:"error,omitempty"`
	CancelRequested bool           `json:"cancel_requested,omitempty"`
	CreatedAt       time.Time      `json:"created_at"`
	StartedAt       *time.Time     `json:"started_at,omitempty"`
	FinishedAt      *time.Time     `json:"finished_at,omitempty"`
	Tasks           []taskJSON     `json:"tasks,omitempty"`
}

type taskJSON struct {
	ID         string                     `json:"id"`
	Type       string                     `json:"type"`
	State      cairn.TaskState            `json:"state"`
	Attempts   int                        `json:"attempts"`
	Error      string                     `json:"error,omitempty"`
	DurationMS *int64                     `json:"duration_ms,omitempty"`
	Outputs    map[string]json.RawMessage `json:"outputs,omitempty"`
	Metrics    map[string]float64         `json:"metrics,omitempty"`
	Attempt    []attemptJSON              `json:"attempt_history,omitempty"`
}

type attemptJSON struct {
	Number     int              `json:"number"`
	State      cairn.TaskState  `json:"state"`
	Worker     string           `json:"worker"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	Error      string           `json:"error,omitempty"`
	ExitCode   *int             `json:"exit_code,omitempty"`
	Stack      string           `json:"stack,omitempty"`
	Plugin     *cairn.PluginRef `json:"plugin,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toRunJSON(r *cairn.Run) runJSON {
	return runJSON{ID: r.ID, Workflow: r.Workflow, Digest: r.Digest, SourcePath: r.SourcePath, State: r.State,
		Params: r.Params, Error: r.Error, CancelRequested: r.CancelRequested, CreatedAt: r.CreatedAt,
		StartedAt: timePtr(r.StartedAt), FinishedAt: timePtr(r.FinishedAt)}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// taskDuration is the time from the first attempt's start to the end.
func taskDuration(tr *cairn.TaskRun, atts []*cairn.Attempt) (time.Duration, bool) {
	if len(atts) == 0 || tr.FinishedAt.IsZero() {
		return 0, false
	}
	return tr.FinishedAt.Sub(atts[0].StartedAt), true
}

func cmdShow(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("show", "RUN [--json]", "Show a run and every task: state, attempts, duration, error, outputs and metrics.")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print JSON for scripts (with every attempt)")
	st, r, err := a.oneRun(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	id := r.ID
	trs, err := st.ListTaskRuns(ctx, id)
	if err != nil {
		return err
	}
	all, err := st.ListAttempts(ctx, id, "")
	if err != nil {
		return err
	}
	atts := map[string][]*cairn.Attempt{}
	for _, at := range all {
		atts[at.TaskID] = append(atts[at.TaskID], at)
	}
	if asJSON {
		out := toRunJSON(r)
		for _, tr := range trs {
			tj := taskJSON{ID: tr.TaskID, Type: tr.Type, State: tr.State, Attempts: tr.Attempt, Error: tr.Error,
				Outputs: tr.Outputs, Metrics: tr.Metrics}
			if d, ok := taskDuration(tr, atts[tr.TaskID]); ok {
				ms := d.Milliseconds()
				tj.DurationMS = &ms
			}
			for _, at := range atts[tr.TaskID] {
				tj.Attempt = append(tj.Attempt, attemptJSON{Number: at.Number, State: at.State, Worker: at.Worker,
					StartedAt: at.StartedAt, FinishedAt: timePtr(at.FinishedAt), Error: at.Error, ExitCode: at.ExitCode, Stack: at.Stack, Plugin: at.Plugin})
			}
			out.Tasks = append(out.Tasks, tj)
		}
		return writeJSON(a.stdout, out)
	}

	w := a.stdout
	sty := newStyle(w)
	fmt.Fprintf(w, "run       %s\nworkflow  %s (%s)\nfile      %s\nstate     %s\n", r.ID, r.Workflow, r.Digest, r.SourcePath, sty.state(string(r.State)))
	fmt.Fprintf(w, "created   %s\nduration  %s\n", localTime(r.CreatedAt), runDuration(r))
	if r.Error != "" {
		fmt.Fprintf(w, "error     %s\n", r.Error)
	}
	if len(r.Params) > 0 {
		var ps []string
		for _, k := range sortedKeys(r.Params) {
			b, _ := json.Marshal(r.Params[k])
			ps = append(ps, k+"="+string(b))
		}
		fmt.Fprintf(w, "params    %s\n", strings.Join(ps, " "))
	}
	fmt.Fprintln(w)
	tl := newTimeline(r, all, time.Now())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "TASK\tTYPE\t%s\tATTEMPTS\tDURATION\t%s\tERROR\n", sty.state("STATE"), tl.header())
	for _, tr := range trs {
		dur := "-"
		if d, ok := taskDuration(tr, atts[tr.TaskID]); ok {
			dur = d.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", tr.TaskID, tr.Type, sty.state(string(tr.State)), tr.Attempt, dur,
			tl.bar(atts[tr.TaskID]), oneLine(tr.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, tr := range trs {
		var ran []string // the plugin binaries that ran its attempts
		for _, at := range atts[tr.TaskID] {
			if p := at.Plugin; p != nil {
				ran = append(ran, fmt.Sprintf("  plugin  attempt %d: %s %s, sha256:%s, protocol %d", at.Number, p.Name, p.Version, p.SHA256, p.Protocol))
			}
		}
		if len(tr.Outputs) == 0 && len(tr.Metrics) == 0 && len(ran) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", tr.TaskID)
		for _, l := range ran {
			fmt.Fprintln(w, l)
		}
		for _, k := range sortedKeys(tr.Outputs) {
			fmt.Fprintf(w, "  output  %s = %s\n", k, clip(string(tr.Outputs[k]), maxOutputText, r.ID))
		}
		for _, k := range sortedKeys(tr.Metrics) {
			fmt.Fprintf(w, "  metric  %s = %g\n", k, tr.Metrics[k])
		}
		printPlots(w, tr)
	}
	return nil
}

func cmdLogs(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("logs", "RUN TASK [--attempt N] [-f]", "Print the log of a task attempt: the latest attempt unless --attempt is given.\n"+
		"With -f, keep printing as the task writes, through its retries, until it finishes.")
	attempt := fs.Int("attempt", 0, "attempt number (1 is the first)")
	follow := fs.Bool("f", false, "follow the log until the task (or, with --attempt, that attempt) finishes")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"want a run id and a task id"}
	}
	st, r, err := a.openRun(ctx, pos[0])
	if err != nil {
		return err
	}
	defer st.Close()
	id, task := r.ID, pos[1]
	tr, err := findTask(ctx, st, id, task)
	if err != nil {
		return err
	}
	atts, err := st.ListAttempts(ctx, id, task)
	if err != nil {
		return err
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
	_, logs, err := a.stores()
	if err != nil {
		return err
	}
	if !*follow {
		rc, err := logs.Open(id, task, n)
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
	return a.followLog(ctx, st, logs, id, task, n, *attempt != 0)
}

// findTask returns task id of run, or an error naming the nearest task.
func findTask(ctx context.Context, st *sqlite.Store, runID, taskID string) (*cairn.TaskRun, error) {
	trs, err := st.ListTaskRuns(ctx, runID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, tr := range trs {
		if tr.TaskID == taskID {
			return tr, nil
		}
		ids = append(ids, tr.TaskID)
	}
	return nil, fmt.Errorf("run %s has no task %q%s", runID, taskID, suggest(taskID, ids))
}

// followLog prints attempt n's log as it grows (the worker moves a running
// command's output to it every quarter second) and, unless pinned, goes on
// to the task's next attempts, until the attempt or task is finished or
// ctx ends (Ctrl-C). n is 0 while the task has no attempt yet.
func (a *app) followLog(ctx context.Context, st *sqlite.Store, logs *artifacts.Logs, runID, taskID string, n int, pinned bool) error {
	var off int64
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		// Look at the state first and print second, so that the bytes of
		// an attempt seen finished are all printed before leaving.
		tr, err := findTask(ctx, st, runID, taskID)
		if err != nil {
			return err
		}
		atts, err := st.ListAttempts(ctx, runID, taskID)
		if err != nil {
			return err
		}
		if n > 0 {
			if off, err = a.printFrom(logs, runID, taskID, n, off); err != nil {
				return err
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
				fmt.Fprintf(a.stderr, "--- attempt %d ---\n", latest)
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

// printFrom prints attempt n's log from byte off and returns the new end.
// A log not created yet (nothing printed so far) is empty.
func (a *app) printFrom(logs *artifacts.Logs, runID, taskID string, n int, off int64) (int64, error) {
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
	copied, err := io.Copy(a.stdout, f)
	return off + copied, err
}

func cmdCancel(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("cancel", "RUN", "Cancel a run. If a process is driving it, that process stops its running tasks\n"+
		"(within about two seconds) and records them as cancelled; otherwise the run is cancelled here.")
	st, r, err := a.oneRun(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	id := r.ID
	if err := st.RequestCancel(ctx, id); err != nil {
		if errors.Is(err, cairn.ErrTerminal) {
			if r, gerr := st.GetRun(ctx, id); gerr == nil {
				return fmt.Errorf("run %s already %s", id, r.State)
			}
		}
		return err
	}
	// If no live process drives the run, finish the cancellation here.
	if r, err = st.GetRun(ctx, id); err != nil {
		return err
	}
	now := time.Now()
	if r.Owner == "" || r.OwnerExpiresAt.Before(now) || ownerGone(r.Owner) {
		reg, err := registry()
		if err != nil {
			return err
		}
		if err := cancelHere(ctx, st, r, reg); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "run %s cancelled\n", id)
		return nil
	}
	fmt.Fprintf(a.stdout, "run %s: cancellation requested; %s is stopping it\n", id, r.Owner)
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
