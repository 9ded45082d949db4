package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/secrets"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/workflows"
)

// paramFlags collects repeated -p key=value flags.
type paramFlags map[string]string

func (p paramFlags) String() string { return "" }
func (p paramFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if _, dup := p[k]; dup {
		return fmt.Errorf("param %q given twice", k)
	}
	p[k] = v
	return nil
}

// execFlags are the flags of run and resume.
type execFlags struct {
	slots     int
	quiet     bool
	progress  string
	stopGrace time.Duration
	logLimit  int64
	labels    map[string]string // --labels: routing applies (see route)
	queues    []string          // --queues
}

// route is the routing of a foreground pool: every task of its run,
// whatever its labels and queue, unless --labels or --queues was given;
// then only the tasks they allow, like any worker.
func (f *execFlags) route(o *executor.Options) {
	if f.labels == nil && f.queues == nil {
		o.AnyTask = true
		return
	}
	o.Labels, o.Queues = f.labels, f.queues
}

func (f *execFlags) register(a *app, fs interface {
	IntVar(*int, string, int, string)
	BoolVar(*bool, string, bool, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	Var(flag.Value, string, string)
	StringVar(*string, string, string, string)
}) {
	fs.IntVar(&f.slots, "workers", max(8, 4*runtime.NumCPU()), "attempts run at once by this process (the global concurrency limit; cap one run with the workflow's concurrency:)")
	fs.BoolVar(&f.quiet, "quiet", false, "print only the summary")
	f.progress = "auto"
	fs.Var((*progressMode)(&f.progress), "progress", "progress display: auto (a bar on a terminal), bar, lines, none")
	f.logLimit = artifacts.DefaultLogLimit
	fs.Var(sizeFlag{&f.logLimit}, "log-limit", "task output kept in each attempt's log: its beginning and its last MiB (0 for all)")
	fs.DurationVar(&f.stopGrace, "stop-grace", executor.DefaultStopGrace, "how long a task told to stop (timeout, Ctrl-C) may take before it is abandoned; a shell task gets at least its kill_grace + 2s")
	fs.Var(labelsFlag{&f.labels}, "labels", "run only the tasks these labels allow, as a worker offering them would (k=v,...); without --labels and --queues every task of the run runs here, whatever its labels and queue")
	fs.Var(queuesFlag{&f.queues}, "queues", "run only the tasks of these queues (a,b; 'default' is the default queue); see --labels")
}

// check refuses flag values that cannot be meant.
func (f *execFlags) check() error {
	if f.slots < 1 {
		return usageError{fmt.Sprintf("--workers %d: want 1 or more (the attempts this process runs at once)", f.slots)}
	}
	if f.stopGrace <= 0 {
		return usageError{fmt.Sprintf("--stop-grace %s: want a positive duration such as 10s", f.stopGrace)}
	}
	return nil
}

func cmdRun(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("run", "FILE [-p key=value]... [flags]",
		"Run a workflow in the foreground with live progress. Exits 0 only if the run succeeded.\n"+
			"Ctrl-C (or SIGTERM) cancels the run: running tasks are stopped and recorded as cancelled,\n"+
			"each given --stop-grace to stop; a second Ctrl-C stops at once. Exit status 130 (143 for SIGTERM).\n"+
			"If the process dies, 'cairn resume RUN' finishes the run.\n"+
			"Every task of the run runs in this process, whatever its labels: and queue: (see Routing in\n"+
			"docs/workflows.md), unless --labels or --queues is given; then only those they allow, the others\n"+
			"waiting for a worker that may take them.\n"+
			"With --server, the file is sent to that cairn server, which runs it (an admin token: the file's\n"+
			"commands run as the server's user); this command follows the run there as it does a local one\n"+
			"(Ctrl-C asks the server to cancel it), or with --detach prints its id.")
	params := paramFlags{}
	fs.Var(params, "p", "set a workflow param: -p key=value (repeatable)")
	detach := fs.Bool("detach", false, "queue the run for 'cairn server' and print its id, instead of running it here (with --quiet, only the id)")
	noCache := fs.Bool("no-cache", false, "run every task: reuse no earlier success, and offer none of this run's for reuse (see Caching in docs/workflows.md)")
	var ef execFlags
	ef.register(a, fs)
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if err := ef.check(); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want exactly one workflow file"}
	}
	if rf.remote() {
		return a.runRemote(ctx, fs, rf, pos[0], params, ef, *detach, *noCache)
	}
	if !*detach {
		var size int64
		if fi, err := os.Stat(pos[0]); err == nil {
			size = fi.Size()
		}
		defer runHeap(size)()
	}
	wf, reg, err := a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) {
		wf, err := workflows.ParseFile(pos[0], workflows.Options{Types: reg})
		if err != nil {
			return nil, exitError{exitBadFile, fmt.Errorf("%w\nnothing was run", err)}
		}
		return wf, nil
	})
	if err != nil {
		return err
	}
	if *detach {
		// The flags of the foreground's worker pool and display mean
		// nothing to a queued run: the server's own flags rule it.
		var fg []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "workers", "progress", "stop-grace", "log-limit", "labels", "queues":
				fg = append(fg, flagName(f.Name))
			}
		})
		if len(fg) > 0 {
			return usageError{fmt.Sprintf("%s: only for a run in the foreground; a detached run runs with the flags of 'cairn server' (see 'cairn server --help')",
				strings.Join(fg, ", "))}
		}
		return a.queueRun(ctx, wf, params, ef.quiet, *noCache)
	}
	warnSecretFlags(a.stderr, wf, params)
	values, params := secretParams(wf, params)
	a.secrets = secrets.New(values)
	bound, err := wf.BindParams(params)
	if err != nil {
		return exitError{exitBadFile, err}
	}
	a.dbConns = dbConns(0, ef.slots)
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkRunPools(ctx, st, wf); err != nil {
		return err
	}
	now := time.Now()
	r, trs := wf.NewRun(bound, now)
	if *noCache {
		workflows.NoCache(trs)
	}
	// The run keeps the file's absolute path: resume works from any
	// directory, and ${{ workflow.dir }} resolves against it.
	if abs, err := filepath.Abs(r.SourcePath); err == nil {
		r.SourcePath = abs
	}
	// Made claimed by this process, so that a server on the same
	// database never takes the run in the moment before Drive claims it.
	a.owner = ownerName()
	r.Owner, r.OwnerExpiresAt = a.owner, now.Add(10*time.Second)
	// The first plan is made here and written with the run: the tasks
	// that wait for nothing are created ready. Its events are shown
	// when the run starts, as the driver's would have been.
	var first []scheduler.Event
	observe := func(e scheduler.Event) { first = append(first, e) }
	if displayMode(a.stderr, ef.progress, ef.quiet) != "lines" {
		observe = nil // only the lines show each change
	}
	if err := scheduler.PlanCreated(r, wf, trs, now, observe); err != nil {
		return err
	}
	if err := st.CreateRun(ctx, r, trs); err != nil {
		return createRunErr(err) // "create run ID: ..."
	}
	if len(trs) >= collectAfterCreate {
		// What parsing, the first plan and the insert made and dropped
		// is garbage now; a collection that marked while it was live
		// (113–147 MB of a 100,000-task run, 106–111 MB after) set the
		// heap's goal from it, and the heap would grow to that goal
		// (253–295 MB) before the next. One now, beside the run's start,
		// sets it from what the run keeps.
		go runtime.GC()
	}
	a.firstEvents = first
	return a.execute(ctx, st, wf, reg, r.ID, r, trs, ef, "run")
}

// createRunErr is the error of a run that could not be created: on a
// full disk it says that nothing was run and what to do (the insert is
// one transaction: no part of the run was kept).
func createRunErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w\nnothing was run (no part of it was kept): free space on the disk of the home's database, then run it again", err)
	}
	return err
}

// collectAfterCreate is the number of tasks from which cairn run collects
// the garbage of its start-up as the run begins (see cmdRun): below it
// the heap is a few MB and a collection costs the start more than it
// saves.
const collectAfterCreate = 10000

// queueRun makes a queued run of wf for 'cairn server' to start, and
// prints its id alone on stdout (id=$(cairn run --detach wf.yaml)); on
// stderr, unless quiet, whether a server will start it.
func (a *app) queueRun(ctx context.Context, wf *workflows.Workflow, params paramFlags, quiet, noCache bool) error {
	// Secret values are never stored: the server takes them from its own
	// environment. Each secret param is bound to its placeholder.
	for _, d := range wf.Params {
		if !d.Secret {
			continue
		}
		if _, given := params[d.Name]; given {
			return usageError{fmt.Sprintf("-p %s: secret params cannot travel with --detach (they are never stored); start the server with %s=VALUE in its environment instead",
				d.Name, workflows.SecretEnv(d.Name))}
		}
		params[d.Name] = workflows.SecretPlaceholder(d.Name)
	}
	bound, err := wf.BindParams(params)
	if err != nil {
		return exitError{exitBadFile, err}
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkRunPools(ctx, st, wf); err != nil {
		return err
	}
	r, trs := wf.NewRun(bound, time.Now())
	if noCache {
		workflows.NoCache(trs)
	}
	if abs, err := filepath.Abs(r.SourcePath); err == nil {
		r.SourcePath = abs
	}
	if err := st.CreateRun(ctx, r, trs); err != nil {
		return createRunErr(err)
	}
	fmt.Fprintln(a.stdout, r.ID)
	if quiet {
		return nil
	}
	fmt.Fprintf(a.stderr, "queued run %s (workflow %s, %s)\n", r.ID, wf.Name, plural(len(wf.Tasks), "task"))
	if who, ok := a.starter(ctx, st); ok {
		fmt.Fprintf(a.stderr, "%s starts it; follow it with: cairn show %s\n", who, r.ID)
	} else {
		fmt.Fprintf(a.stderr, "%s: start one ('cairn server') and it starts the run; or cancel it: cairn cancel %s\n", a.noStarter(), r.ID)
	}
	return nil
}

func cmdResume(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("resume", "RUN [flags]",
		"Finish a run whose process died (kill -9, a crash, a reboot). Succeeded tasks are not run again;\n"+
			"attempts the crash interrupted are recorded as interrupted and retried at once, without using\n"+
			"the task's retries (up to max_interruptions in a row, 10 by default).\n"+
			"The run is re-planned from the exact workflow file it started with, stored with it.\n"+
			"With --server, that server takes the run over at once (an operator token; it would within 10 s\n"+
			"anyway) and this command follows it there as 'cairn run --server' does.")
	var ef execFlags
	ef.register(a, fs)
	params := paramFlags{}
	fs.Var(params, "p", "give a secret param again: -p name=value (better, in the environment: CAIRN_PARAM_NAME=value)")
	rf := a.remoteFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	rf.resolve(fs)
	if len(pos) != 1 {
		return usageError{"want exactly one run id"}
	}
	if err := ef.check(); err != nil {
		return err
	}
	if rf.remote() {
		if err := localOnly(fs, "workers", "log-limit", "stop-grace", "labels", "queues"); err != nil {
			return err
		}
		if len(params) > 0 {
			return usageError{"-p gives secret params to the process that runs the tasks: with --server that is the server, from its environment"}
		}
		return a.resumeRemote(ctx, rf, pos[0], ef)
	}
	st, r, err := a.openRun(ctx, pos[0])
	if err != nil {
		return err
	}
	defer st.Close()
	defer runHeap(int64(len(r.Source)))()
	id := r.ID
	if r.State.CanRetry() {
		return fmt.Errorf("run %s already %s: nothing to resume; run its failures again with 'cairn retry %s', or start a new one with 'cairn run %s'",
			id, r.State, id, r.SourcePath)
	}
	if r.State.Terminal() {
		return fmt.Errorf("run %s already %s; start a new one with 'cairn run %s'", id, r.State, r.SourcePath)
	}
	if r.Owner != "" && !orphaned(r, time.Now()) {
		// Said before the header (the claim would refuse it after).
		return fmt.Errorf("run %s: %w: %s holds it until %s; cancel it or wait",
			id, cairn.ErrRunOwned, r.Owner, r.OwnerExpiresAt.Format(time.RFC3339))
	}
	wf, reg, err := a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) {
		return storedWorkflow(ctx, st, reg, r, "resume")
	})
	if err != nil {
		return err
	}
	if a.secrets, err = a.resumeSecrets(r, wf, params); err != nil {
		return err
	}
	return a.execute(ctx, st, wf, reg, id, nil, nil, ef, "resume")
}

// execute drives run id of workflow wf, parsed with the task types reg,
// to its end with an in-process worker pool, showing progress, and prints
// a summary; verb (run, resume, retry) heads it.
// made and trs, if not nil, are the run and its task runs as this command
// just created them (claimed by a.owner; every task pending or as its
// first plan left it); nil reads them.
func (a *app) execute(ctx context.Context, st database, wf *workflows.Workflow, reg *tasks.Registry, id string,
	made *cairn.Run, trs []*cairn.TaskRun, ef execFlags, verb string) error {
	arts, logs, err := a.stores()
	if err != nil {
		return err
	}
	logs = logs.WithLimit(ef.logLimit)
	models, err := a.models(st, arts)
	if err != nil {
		return err
	}
	prog := newProgress(a.stderr, ef.progress, ef.quiet, len(wf.Tasks))
	created := trs // the run's own, as just created: its driver's snapshot
	if trs == nil {
		if trs, err = st.ListTaskRuns(ctx, id); err != nil {
			return err
		}
	}
	prog.seed(trs)
	trs = nil
	owner := a.owner
	if owner == "" {
		owner = ownerName()
	}
	broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Observe: prog.observe, Abandoned: reapOrphans(reg), Name: owner})
	po := executor.Options{
		Worker: owner, RunID: id, Slots: ef.slots, Types: reg, Artifacts: arts, Logs: withSecretLogs(logs, a.secrets), StopGrace: ef.stopGrace, Version: implVersion(),
		Redact: a.secrets.Redact, Models: models, Cache: st,
	}
	ef.route(&po)
	removeStale("")
	pool := executor.New(withSecrets(broker, a.secrets), po)
	broker.SetReuser(pool) // a chain of cache hits in one commit (scheduler.Reuser)
	// The pool outlives ctx: on Ctrl-C the driver first records the
	// cancellation, then revokes the running attempts. It starts only once
	// the driver holds the run: a resume refused because another live
	// process drives the run must not lease (and run) any of its attempts.
	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPool()
	started := false
	driver := scheduler.NewDriver(st, broker, scheduler.DriverOptions{Owner: owner, OwnerGone: ownerGone,
		Claimed: func() { started = true; pool.Start(poolCtx) }})

	if !ef.quiet { // --quiet: the summary and nothing else
		fmt.Fprintf(a.stderr, "%s %s  workflow %s  %s  (%s)\n", verb, id, wf.Name, plural(len(wf.Tasks), "task"), shortDigest(wf.Digest))
	}
	for _, e := range a.firstEvents {
		prog.observe(e)
	}
	a.firstEvents = nil
	start := time.Now()
	stopAnnouncing := announceCancel(ctx, prog, pool.StopGrace())
	stopWatching := watchPoolWaits(ctx, st, id, prog)
	// A full disk halts the pool; the run is then left as it is, for
	// resume, rather than cancelled or failed.
	dctx, detach := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-pool.Halted():
			detach(scheduler.ErrDetached)
		case <-dctx.Done():
		}
	}()
	var (
		final *cairn.Run
		derr  error
	)
	if made != nil {
		final, derr = driver.DriveCreated(dctx, made, wf, created)
	} else {
		final, derr = driver.Drive(dctx, id, wf)
	}
	created = nil
	detach(nil)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if ctx.Err() != nil {
		// Interrupted: the driver recorded the cancellation; every attempt
		// is stopped now and has the pool's stop grace to return.
		cancel()
	}
	if started {
		pool.Stop(stopCtx)
	}
	cancel()
	stopAnnouncing()
	stopWatching()
	prog.finish()
	if herr := pool.Err(); herr != nil {
		return fmt.Errorf("%w\nthe run is left unfinished, to resume: free space, then 'cairn resume %s' (the attempt is retried)", herr, id)
	}
	if derr != nil {
		if errors.Is(derr, syscall.ENOSPC) || errors.Is(derr, syscall.EDQUOT) {
			return fmt.Errorf("%w\nthe run is left unfinished, to resume: free space, then 'cairn resume %s'", derr, id)
		}
		return derr
	}
	// The run's writes are over: the store copies its log into the
	// database file while the summary is read and printed, rather than
	// as it closes (sqlite.Store.Settle).
	if s, ok := st.(interface{ Settle() }); ok {
		s.Settle()
	}
	// Not every task run read back: for a fan of 10,000 noop tasks
	// 3 ms, where ListTaskRuns took 38–45 ms and 200,000 allocations,
	// some 5 % of the run's CPU.
	counts, shown, err := st.SummaryTaskRuns(context.WithoutCancel(ctx), id)
	if err != nil {
		return err
	}
	took := time.Since(start)
	a.summary(context.WithoutCancel(ctx), final, counts, shown, int(prog.cached.Load()), a.gateResults, took, "", tookWord(verb))
	// Its notify: alerts, written with the run's end: sent before this
	// process exits, within alertWait, whatever the webhooks do. A run's
	// alerts are only ever for the targets of its workflow's notify:
	// (kept with the run): without any there is nothing to look for.
	if len(wf.Notify) > 0 {
		a.sendAlerts(ctx, st, id, owner)
	}
	if final.State != cairn.RunSucceeded {
		return exitError{exitFailed, errors.New("")}
	}
	return nil
}

// summary prints how the run ended: counts per state, failed tasks, hints
// (each command they name ends with more, " --server URL" for a server's run).
// cached is how many of the tasks reused an earlier success.
// inWord says what took took: "in" for a run, "resumed in" or "retried
// in" when it is the time of a resume or a retry, not of the whole run.
//
// counts is the number of the run's task runs in each state, of those
// counted (cairn.TaskRun.Counted); trs holds, in the run's order, at least
// the task runs the summary may print a line of — the failed ones, and
// the succeeded ones with metrics, a gate's outputs or a deploy's — and
// may hold them all (countTasks).
func (a *app) summary(ctx context.Context, r *cairn.Run, counts map[cairn.TaskState]int, trs []*cairn.TaskRun, cached int,
	gates func(context.Context, *cairn.TaskRun) []evaluate.GateResult, took time.Duration, more, inWord string) {
	var parts []string
	w := a.stdout
	sty := newStyle(w)
	for _, s := range cairn.TaskStates {
		if counts[s] > 0 {
			part := fmt.Sprintf("%d %s", counts[s], sty.state(string(s)))
			if s == cairn.TaskSucceeded && cached > 0 {
				part += fmt.Sprintf(" (%d from cache)", cached)
			}
			parts = append(parts, part)
		}
	}
	fmt.Fprintf(w, "run %s %s %s %s: %s\n", r.ID, sty.paint(stateColor(string(r.State)), strings.ToUpper(string(r.State))),
		inWord, took.Round(time.Millisecond), strings.Join(parts, ", "))
	// Every failed task run, a for_each task's own line ("2 of 10 items
	// did not succeed: …") beside its items'.
	failed := 0
	for _, tr := range trs {
		if tr.State == cairn.TaskFailed {
			failed++
		}
	}
	shown := 0
	for _, tr := range trs {
		if tr.State != cairn.TaskFailed {
			continue
		}
		if shown == 10 {
			fmt.Fprintf(w, "  … and %d more failed\n", failed-shown)
			break
		}
		if tr.Attempt == 0 {
			// A for_each parent (its items ran) or a task that never
			// started: no "after 0 attempts".
			fmt.Fprintf(w, "  %s %s: %s\n", tr.TaskID, sty.state("failed"), oneLine(tr.Error))
		} else {
			fmt.Fprintf(w, "  %s %s after %s: %s\n", tr.TaskID, sty.state("failed"), plural(tr.Attempt, "attempt"), oneLine(tr.Error))
		}
		if tr.Attempt > 0 {
			fmt.Fprintf(w, "    log: cairn logs %s %s%s\n", r.ID, tr.TaskID, more)
		}
		shown++
	}
	for _, tr := range trs {
		if gateFailed(tr) {
			fmt.Fprintf(w, "  %s %s, but its %s did not pass%s\n", tr.TaskID, sty.state("succeeded"), sty.paint(colorYellow, "gate"),
				gateDetail(gates(ctx, tr)))
		}
	}
	printMetrics(w, trs)
	printDeploys(w, trs, more)
	fmt.Fprintf(w, "details: cairn show %s%s\n", r.ID, more)
}

// countTasks is the number of task runs of trs in each state, of those
// counted (cairn.TaskRun.Counted): a summary's counts.
func countTasks(trs []*cairn.TaskRun) map[cairn.TaskState]int {
	counts := map[cairn.TaskState]int{}
	for _, tr := range trs {
		if tr.Counted() {
			counts[tr.State]++
		}
	}
	return counts
}

// printDeploys says which model versions the run's deploy tasks
// registered (a version output the store set; none in a reproduced run).
func printDeploys(w io.Writer, trs []*cairn.TaskRun, more string) {
	for _, tr := range trs {
		if tr.Type != "deploy" || tr.State != cairn.TaskSucceeded {
			continue
		}
		var name, stage string
		var version int
		if json.Unmarshal(tr.Outputs["name"], &name) != nil || json.Unmarshal(tr.Outputs["stage"], &stage) != nil ||
			json.Unmarshal(tr.Outputs["version"], &version) != nil || version < 1 || cairn.ValidModelName(name) != nil {
			continue
		}
		fmt.Fprintf(w, "deployed: model:%s@%d as %s (cairn models show %s%s)\n", name, version, printable(stage), name, more)
	}
}

// maxMetricTasks bounds the tasks whose metrics the summary prints, so
// that a run of thousands of tasks keeps a short summary.
const maxMetricTasks = 12

// printMetrics prints the metrics of the run's succeeded tasks, a line
// each, in the run's task order: the numbers a user runs an ML workflow for.
func printMetrics(w io.Writer, trs []*cairn.TaskRun) {
	var with []*cairn.TaskRun
	for _, tr := range trs {
		if tr.State == cairn.TaskSucceeded && len(tr.Metrics) > 0 {
			with = append(with, tr)
		}
	}
	if len(with) == 0 {
		return
	}
	fmt.Fprintln(w, "metrics:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, tr := range with {
		if i == maxMetricTasks {
			fmt.Fprintf(tw, "  … %d more tasks with metrics\t\n", len(with)-i)
			break
		}
		names := make([]string, 0, len(tr.Metrics))
		for k := range tr.Metrics {
			names = append(names, k)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for j, k := range names {
			parts[j] = fmt.Sprintf("%s=%.4g", k, tr.Metrics[k])
		}
		fmt.Fprintf(tw, "  %s\t%s\n", tr.TaskID, strings.Join(parts, " "))
	}
	tw.Flush()
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// reapOrphans cleans up after an attempt whose process died: task types
// that run processes (shell) kill what the attempt left running, so that
// it never runs on beside its retry.
func reapOrphans(reg *tasks.Registry) func(ctx context.Context, it cairn.WorkItem) error {
	return func(ctx context.Context, it cairn.WorkItem) error {
		t, ok := reg.Lookup(it.Type)
		if !ok {
			return nil
		}
		if r, ok := t.(tasks.OrphanReaper); ok {
			return r.ReapOrphans(ctx, it.Lease.RunID, it.Lease.TaskID, it.Lease.Attempt)
		}
		return nil
	}
}

// ownerName names this process in run claims and leases:
// host:pid:token, the token random, followed, where /proc tells it, by
// "~" and the process's start time (clock ticks after boot), so that
// ownerGone can tell this process from a later one given the same pid.
func ownerName() string {
	host, _ := os.Hostname()
	token := cairn.NewToken()[:8]
	if start, ok := procStart(os.Getpid()); ok {
		token += "~" + start
	}
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), token)
}

// ownerGone reports whether a claim's process is known dead: it ran on
// this host and its pid no longer exists, is a zombie, or is another
// process's (one that started at another time than the claim's owner, on
// a machine that reuses pids quickly). A claim from another host is never
// known dead; it must expire.
func ownerGone(owner string) bool {
	parts := strings.Split(owner, ":")
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(parts[1])
	if parts[0] != host || err != nil || pid <= 0 {
		return false
	}
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, ok := procStat(pid)
	if !ok {
		return false
	}
	// A zombie is dead too: killed, but not reaped yet (PID 1 in a
	// container may never reap the orphans it inherits).
	if stat[0] == "Z" {
		return true
	}
	// Only a start time as ownerName writes it (digits) tells: a stamp
	// this version cannot read (empty, or another version's "~start~more")
	// is as no stamp, lest a live process's claim be taken.
	_, start, stamped := strings.Cut(parts[2], "~")
	_, err = strconv.ParseUint(start, 10, 64)
	return stamped && err == nil && len(stat) > 19 && stat[19] != start
}

// procStat returns the fields of /proc/PID/stat after the command's name
// (the state first, the start time at index 19), false when it cannot be
// read.
func procStat(pid int) ([]string, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	// pid (comm) STATE ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(string(stat[i+1:]))
	return f, len(f) > 0
}

// procStart returns the start time of process pid, in clock ticks after
// boot, as /proc/PID/stat writes it.
func procStart(pid int) (string, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) <= 19 {
		return "", false
	}
	return f[19], true
}

// storedWorkflow parses the exact workflow file stored with run r, with
// reg's task types, and checks that it is the workflow that planned the
// run: a cairn that reads it otherwise must not go on with the run. verb
// is what the user was doing (resume, retry), for the message.
// sourceReader reads the sub-workflow files stored with a run
// (scheduler.RunStore's RunSources).
type sourceReader interface {
	RunSources(ctx context.Context, id string) (map[string][]byte, error)
}

// storedWorkflow re-reads the workflow run r started from, as stored with
// it (its file and its sub-workflow files), with the task types reg; verb
// (resume, retry, ...) says in the error what cannot be done.
func storedWorkflow(ctx context.Context, st sourceReader, reg *tasks.Registry, r *cairn.Run, verb string) (*workflows.Workflow, error) {
	sources, err := st.RunSources(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	wf, err := workflows.ParseRun(r, sources, workflows.Options{Types: reg})
	if err != nil {
		return nil, fmt.Errorf("re-read the workflow stored with run %s: %w", r.ID, err)
	}
	if wf.Digest != r.Digest {
		if len(wf.Uses) > 0 && len(sources) == 0 {
			// A run created before Cairn kept its sub-workflow files
			// reads them from the disk, where they may have changed.
			return nil, fmt.Errorf("run %s was planned from workflow %s but its files now read as %s: a sub-workflow file it uses (%s) changed since it started; put the file back as it was to %s it",
				r.ID, r.Digest, wf.Digest, usesFiles(wf), verb)
		}
		return nil, fmt.Errorf("run %s was planned from workflow %s but this cairn reads its file as %s; %s it with the cairn version that started it",
			r.ID, r.Digest, wf.Digest, verb)
	}
	return wf, nil
}

// usesFiles lists the sub-workflow files wf uses, once each.
func usesFiles(wf *workflows.Workflow) string {
	var files []string
	for _, u := range wf.Uses {
		if !slices.Contains(files, u.Path) {
			files = append(files, u.Path)
		}
	}
	return strings.Join(files, ", ")
}

// tookWord is the word of a summary's time for what execute did (verb).
func tookWord(verb string) string {
	switch verb {
	case "resume":
		return "resumed in"
	case "retry":
		return "retried in"
	}
	return "in"
}
