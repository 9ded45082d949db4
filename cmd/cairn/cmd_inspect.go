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
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks/evaluate"
)

func cmdRuns(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("runs", "[flags]", "List runs, newest first. The run id is the first column; any unique prefix of it\n"+
		"(4 characters or more) works wherever a RUN is asked for. A run no process drives any more (its\n"+
		"process died, or a stopping 'cairn server' let it go) is shown as orphaned: a running 'cairn server'\n"+
		"takes it over by itself, or 'cairn resume RUN' finishes it.")
	var f scheduler.RunFilter
	var state string
	var asJSON bool
	fs.StringVar(&f.Workflow, "workflow", "", "only runs of this workflow")
	fs.StringVar(&state, "state", "", "only runs in this state: queued, running, succeeded, failed, cancelled (orphaned runs are running)")
	fs.IntVar(&f.Limit, "limit", 20, "runs per page")
	fs.StringVar(&f.Before, "before", "", "the page after this run id (the cursor the previous page printed)")
	fs.BoolVar(&asJSON, "json", false, `print JSON for scripts: {"runs": [...], "next": cursor or null}`)
	var idsOnly bool
	fs.BoolVar(&idsOnly, "q", false, "print only run ids, one per line")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
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
	var runs []*cairn.Run
	st, err := a.openStore(ctx)
	if err != nil && !errors.Is(err, errNoDatabase) {
		return err
	}
	if st == nil && f.Before != "" { // no database, so no run the cursor could name
		return usageError{fmt.Sprintf("--before %q names no run; give a run id that 'cairn runs' printed", f.Before)}
	}
	if st != nil { // no database: nothing has run with this home, no runs (and no file made)
		defer st.Close()
		if f.Before != "" {
			// A cursor is a run id (or a unique prefix of one): one that names
			// no run is a mistake, not "every run".
			id, err := st.ResolveRunID(ctx, f.Before)
			switch {
			case errors.Is(err, cairn.ErrNotFound):
				return usageError{fmt.Sprintf("--before %q names no run; give a run id that 'cairn runs' printed", f.Before)}
			case errors.Is(err, cairn.ErrAmbiguous):
				return usageError{fmt.Sprintf("--before %q matches several runs; give more characters of the run id", f.Before)}
			case err != nil:
				return usageError{fmt.Sprintf("--before %q: %v", f.Before, err)}
			}
			f.Before = id
		}
		// One run more than the page tells whether another page follows.
		page := f
		page.Limit = f.Limit + 1
		runs, err = st.ListRuns(ctx, page)
		if err != nil {
			return err
		}
	}
	var next string
	if len(runs) > f.Limit {
		runs = runs[:f.Limit]
		next = runs[len(runs)-1].ID
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
			out.Runs = append(out.Runs, toRunJSON(r, now))
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
	fmt.Fprintf(tw, "RUN\tWORKFLOW\t%s\tCREATED\tDURATION\n", sty.state("STATE"))
	var lost []*cairn.Run
	for _, r := range runs {
		state := string(r.State)
		if orphaned(r, now) {
			state = orphanedState
			lost = append(lost, r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, sty.state(state), localTime(r.CreatedAt), runDuration(r, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range lost {
		fmt.Fprintf(a.stderr, "run %s is orphaned (%s; a cairn server takes it over): cairn resume %s\n", r.ID, orphanedWhy(r), r.ID)
	}
	if next != "" {
		fmt.Fprintf(a.stderr, "more: %s\n", a.nextPage(f, next))
	}
	return nil
}

// maxListLimit bounds --limit of runs.
const maxListLimit = 100000

// nextPage is the command that prints the page after cursor with the
// same filters and page size (and the same --home and --db).
func (a *app) nextPage(f scheduler.RunFilter, cursor string) string {
	cmd := []string{"cairn"}
	if a.home != "" && a.home != os.Getenv("CAIRN_HOME") {
		cmd = append(cmd, "--home", shellQuote(a.home))
	}
	if a.dbPath != "" {
		cmd = append(cmd, "--db", shellQuote(a.dbPath))
	}
	cmd = append(cmd, "runs")
	if f.Workflow != "" {
		cmd = append(cmd, "--workflow", shellQuote(f.Workflow))
	}
	if f.State != "" {
		cmd = append(cmd, "--state", string(f.State))
	}
	cmd = append(cmd, "--limit", strconv.Itoa(f.Limit), "--before", cursor)
	return strings.Join(cmd, " ")
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
// (its last claim renewal; unknown, so now, for a run its owner let go).
func runEnd(r *cairn.Run, now time.Time) time.Time {
	switch {
	case !r.FinishedAt.IsZero():
		return r.FinishedAt
	case orphaned(r, now) && r.Owner != "":
		last := r.OwnerExpiresAt.Add(-ownerTTL)
		if last.After(now) {
			last = now
		}
		if last.Before(r.StartedAt) {
			last = r.StartedAt
		}
		return last
	}
	return now
}

// runDuration is how long run r ran: to its end, to now while it runs
// (marked …), or for an orphaned run to the last time its owner was
// known alive (its last claim renewal; a run its owner let go counts on,
// as it did not end).
func runDuration(r *cairn.Run, now time.Time) string {
	switch {
	case r.StartedAt.IsZero():
		return "-"
	case !r.FinishedAt.IsZero():
		return r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	case orphaned(r, now) && r.Owner != "":
		return runEnd(r, now).Sub(r.StartedAt).Round(time.Second).String()
	}
	return now.Sub(r.StartedAt).Round(time.Second).String() + "…"
}

// runsJSON is the shape of runs --json: a page of runs and the cursor of
// the next page (--before), null on the last page.
type runsJSON struct {
	Runs []runJSON `json:"runs"`
	Next *string   `json:"next"`
}

// runJSON, taskJSON and attemptJSON are what --json prints (docs/cli.md):
// snake_case names, every key always present — null when empty — and
// times in RFC 3339 UTC. Their fields are the convenient Go view (tests
// decode into them); their MarshalJSON methods write the stable shape.
type runJSON struct {
	ID              string
	Workflow        string
	Digest          string
	SourcePath      string `json:"source_path"`
	State           cairn.RunState
	Orphaned        bool
	Owner           string
	Params          map[string]any
	Error           string
	CancelRequested bool       `json:"cancel_requested"`
	CreatedAt       time.Time  `json:"created_at"`
	StartedAt       *time.Time `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	Tasks           []taskJSON // show only
}

func (j runJSON) MarshalJSON() ([]byte, error) {
	type wire struct {
		ID              string         `json:"id"`
		Workflow        string         `json:"workflow"`
		Digest          string         `json:"digest"`
		SourcePath      string         `json:"source_path"`
		State           cairn.RunState `json:"state"`
		Orphaned        bool           `json:"orphaned"`
		Owner           *string        `json:"owner"`
		Params          map[string]any `json:"params"`
		Error           *string        `json:"error"`
		CancelRequested bool           `json:"cancel_requested"`
		CreatedAt       *time.Time     `json:"created_at"`
		StartedAt       *time.Time     `json:"started_at"`
		FinishedAt      *time.Time     `json:"finished_at"`
		Tasks           []taskJSON     `json:"tasks,omitempty"`
	}
	w := wire{ID: j.ID, Workflow: j.Workflow, Digest: j.Digest, SourcePath: j.SourcePath, State: j.State,
		Orphaned: j.Orphaned, Owner: strPtr(j.Owner), Params: j.Params, Error: strPtr(j.Error),
		CancelRequested: j.CancelRequested, CreatedAt: jsonTime(j.CreatedAt), StartedAt: jsonTimePtr(j.StartedAt),
		FinishedAt: jsonTimePtr(j.FinishedAt), Tasks: j.Tasks}
	if len(w.Params) == 0 {
		w.Params = nil
	}
	return json.Marshal(w)
}

type taskJSON struct {
	ID       string
	Type     string
	State    cairn.TaskState
	Attempts int
	// Interrupted counts the attempts that were interrupted (not failures).
	Interrupted int
	Error       string
	Params      json.RawMessage
	Inputs      map[string]cairn.ArtifactRef
	Outputs     map[string]json.RawMessage
	Metrics     map[string]float64
	GatePassed  *bool         `json:"gate_passed"`
	StartedAt   *time.Time    `json:"started_at"`
	FinishedAt  *time.Time    `json:"finished_at"`
	DurationMS  *int64        `json:"duration_ms"`
	Attempt     []attemptJSON `json:"attempt_history"`
}

func (j taskJSON) MarshalJSON() ([]byte, error) {
	type wire struct {
		ID          string                       `json:"id"`
		Type        string                       `json:"type"`
		State       cairn.TaskState              `json:"state"`
		Attempts    int                          `json:"attempts"`
		Interrupted int                          `json:"interrupted"`
		Error       *string                      `json:"error"`
		Params      json.RawMessage              `json:"params"`
		Inputs      map[string]cairn.ArtifactRef `json:"inputs"`
		Outputs     map[string]json.RawMessage   `json:"outputs"`
		Metrics     map[string]float64           `json:"metrics"`
		GatePassed  *bool                        `json:"gate_passed"`
		StartedAt   *time.Time                   `json:"started_at"`
		FinishedAt  *time.Time                   `json:"finished_at"`
		DurationMS  *int64                       `json:"duration_ms"`
		Attempt     []attemptJSON                `json:"attempt_history"`
	}
	w := wire{ID: j.ID, Type: j.Type, State: j.State, Attempts: j.Attempts, Interrupted: j.Interrupted, Error: strPtr(j.Error),
		Params: j.Params, Inputs: j.Inputs, Outputs: j.Outputs, Metrics: j.Metrics, GatePassed: j.GatePassed,
		StartedAt: jsonTimePtr(j.StartedAt), FinishedAt: jsonTimePtr(j.FinishedAt), DurationMS: j.DurationMS,
		Attempt: j.Attempt}
	if len(w.Params) == 0 || string(w.Params) == "null" {
		w.Params = nil
	}
	if len(w.Inputs) == 0 {
		w.Inputs = nil
	}
	if len(w.Outputs) == 0 {
		w.Outputs = nil
	}
	if len(w.Metrics) == 0 {
		w.Metrics = nil
	}
	if len(w.Attempt) == 0 {
		w.Attempt = nil
	}
	return json.Marshal(w)
}

type attemptJSON struct {
	Number     int
	State      cairn.TaskState
	Worker     string
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string
	ExitCode   *int `json:"exit_code"`
	Stack      string
	Plugin     *cairn.PluginRef
}

func (j attemptJSON) MarshalJSON() ([]byte, error) {
	type wire struct {
		Number     int              `json:"number"`
		State      cairn.TaskState  `json:"state"`
		Worker     *string          `json:"worker"`
		StartedAt  *time.Time       `json:"started_at"`
		FinishedAt *time.Time       `json:"finished_at"`
		Error      *string          `json:"error"`
		ExitCode   *int             `json:"exit_code"`
		Stack      *string          `json:"stack"`
		Plugin     *cairn.PluginRef `json:"plugin"`
	}
	return json.Marshal(wire{Number: j.Number, State: j.State, Worker: strPtr(j.Worker), StartedAt: jsonTime(j.StartedAt),
		FinishedAt: jsonTimePtr(j.FinishedAt), Error: strPtr(j.Error), ExitCode: j.ExitCode, Stack: strPtr(j.Stack),
		Plugin: j.Plugin})
}

// strPtr is s for JSON: nil (null) when empty.
func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// jsonTimePtr is jsonTime of *t; nil for nil.
func jsonTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return jsonTime(*t)
}

func toRunJSON(r *cairn.Run, now time.Time) runJSON {
	j := runJSON{ID: r.ID, Workflow: r.Workflow, Digest: r.Digest, SourcePath: r.SourcePath, State: r.State,
		Orphaned: orphaned(r, now), Params: r.Params, Error: r.Error, CancelRequested: r.CancelRequested,
		CreatedAt: r.CreatedAt, StartedAt: jsonTime(r.StartedAt), FinishedAt: jsonTime(r.FinishedAt)}
	if !r.State.Terminal() {
		j.Owner = r.Owner
	}
	return j
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

// toTaskJSON is task run tr with its attempts as show --json prints it.
func toTaskJSON(tr *cairn.TaskRun, atts []*cairn.Attempt) taskJSON {
	tj := taskJSON{ID: tr.TaskID, Type: tr.Type, State: tr.State, Attempts: tr.Attempt, Interrupted: tr.Interrupted, Error: tr.Error,
		Params: tr.Params, Inputs: tr.Inputs, Outputs: tr.Outputs, Metrics: tr.Metrics,
		StartedAt: jsonTime(tr.StartedAt), FinishedAt: jsonTime(tr.FinishedAt)}
	if raw, ok := tr.Outputs["passed"]; ok {
		var passed bool
		if json.Unmarshal(raw, &passed) == nil {
			tj.GatePassed = &passed
		}
	}
	if tj.StartedAt == nil && len(atts) > 0 {
		tj.StartedAt = jsonTime(atts[0].StartedAt)
	}
	if d, ok := taskDuration(tr, atts); ok {
		ms := d.Milliseconds()
		tj.DurationMS = &ms
	}
	for _, at := range atts {
		tj.Attempt = append(tj.Attempt, attemptJSON{Number: at.Number, State: at.State, Worker: at.Worker,
			StartedAt: at.StartedAt, FinishedAt: jsonTime(at.FinishedAt), Error: at.Error,
			ExitCode: at.ExitCode, Stack: at.Stack, Plugin: at.Plugin})
	}
	return tj
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
	now := time.Now()
	gates := map[string][]evaluate.GateResult{}
	for _, tr := range trs {
		if gateFailed(tr) {
			gates[tr.TaskID] = a.gateResults(ctx, tr)
		}
	}
	if asJSON {
		out := toRunJSON(r, now)
		out.Tasks = make([]taskJSON, 0, len(trs))
		for _, tr := range trs {
			out.Tasks = append(out.Tasks, toTaskJSON(tr, atts[tr.TaskID]))
		}
		return writeJSON(a.stdout, out)
	}

	w := a.stdout
	sty := newStyle(w)
	state := sty.state(string(r.State))
	lost := orphaned(r, now)
	if lost {
		state = sty.state(orphanedState) + " (" + orphanedWhy(r) + "; the store says running)"
	}
	fmt.Fprintf(w, "run       %s\nworkflow  %s (%s)\nfile      %s\nstate     %s\n", r.ID, r.Workflow, r.Digest, r.SourcePath, state)
	if lost {
		fmt.Fprintf(w, "resume    a cairn server takes it over, or: cairn resume %s\n", r.ID)
	}
	fmt.Fprintf(w, "created   %s\nduration  %s\n", localTime(r.CreatedAt), runDuration(r, now))
	if r.Error != "" {
		fmt.Fprintf(w, "error     %s\n", printable(r.Error))
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
	tl := newTimeline(r, all, runEnd(r, now))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "TASK\tTYPE\t%s\tATTEMPTS\tDURATION\t%s\tERROR\n", sty.state("STATE"), tl.header())
	for _, tr := range trs {
		dur := "-"
		if d, ok := taskDuration(tr, atts[tr.TaskID]); ok {
			dur = d.Round(time.Millisecond).String()
		}
		note := oneLine(tr.Error)
		if gateFailed(tr) {
			note = sty.paint(colorYellow, "gate did not pass")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tr.TaskID, tr.Type, sty.state(string(tr.State)), attemptCount(tr), dur,
			tl.bar(atts[tr.TaskID]), note)
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
		if gateFailed(tr) {
			fmt.Fprintf(w, "  %s    the task succeeded, its gate did not pass%s\n", sty.paint(colorYellow, "gate"), gateDetail(gates[tr.TaskID]))
		}
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
	tr, err := st.GetTaskRun(ctx, runID, taskID)
	if !errors.Is(err, cairn.ErrNotFound) {
		return tr, err
	}
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
			// A server took the run in the meantime (a queued run it
			// started): it reads the cancel request and stops the run.
			if cur, gerr := st.GetRun(ctx, id); errors.Is(err, cairn.ErrRunOwned) && gerr == nil && cur.Owner != "" {
				fmt.Fprintf(a.stdout, "run %s: cancellation requested; %s is stopping it\n", id, cur.Owner)
				return nil
			}
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
