package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/experiments"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/workflows"
)

// runSource is where runs, show, logs and cancel read runs and ask for
// changes: the home's database (localSource) or a cairn server
// (remoteSource, --server). Both give the same values, so that each
// command prints from one code path whichever it talks to.
type runSource interface {
	// listRuns returns a page of runs, newest first, and the cursor of
	// the next page ("" on the last). f.Before is a run id or a unique
	// prefix of one, as the user gave it; one naming no run is a
	// usageError.
	listRuns(ctx context.Context, f scheduler.RunFilter) ([]runItem, string, error)
	// getRun reads the run arg names (an id or a unique prefix), with its
	// tasks and their attempts.
	getRun(ctx context.Context, arg string) (*runDetail, error)
	// openLog opens attempt n's log; an error wrapping cairn.ErrNotFound
	// when the attempt printed nothing.
	openLog(ctx context.Context, runID, taskID string, n int) (io.ReadCloser, error)
	// followLog prints the log of attempt n (0: none yet) to out as it
	// grows and, unless pinned, goes on to the task's next attempts
	// (marking each on notes), until the attempt or the task is finished
	// or ctx ends.
	followLog(ctx context.Context, runID, taskID string, n int, pinned bool, out, notes io.Writer) error
	// cancel asks run arg to stop and returns what to tell the user.
	cancel(ctx context.Context, arg string) (string, error)
	// gateResults are the conditions of task tr's gate and how they
	// fared, for a task whose gate did not pass; nil when unknown.
	gateResults(ctx context.Context, tr *cairn.TaskRun) []evaluate.GateResult
	// compare compares the runs args name (ids or unique prefixes; two
	// or more): cmd_compare.go.
	compare(ctx context.Context, args []string) (*experiments.Comparison, error)
	// metricRuns is listRuns with the metrics of q, ranked by the first
	// with q.Sort: cmd_compare.go.
	metricRuns(ctx context.Context, f scheduler.RunFilter, q core.MetricQuery) (*metricPage, error)
	close()
}

// runItem is a run as a list shows it.
type runItem struct {
	*cairn.Run
	// orphaned: unfinished, and no process drives it (docs/cli.md).
	orphaned bool
	// lastAlive is, for an orphaned run, the last time its owner was
	// known alive (its last claim renewal); zero when not known.
	lastAlive time.Time
}

// runDetail is a run with its tasks and attempts.
type runDetail struct {
	runItem
	tasks []*cairn.TaskRun
	atts  map[string][]*cairn.Attempt // by task, oldest first
	all   []*cairn.Attempt
	// waiting says why each task that is not running is not (core.Waiting,
	// cairn.Why), by task id.
	waiting map[string]string
}

func newDetail(it runItem, trs []*cairn.TaskRun, all []*cairn.Attempt) *runDetail {
	d := &runDetail{runItem: it, tasks: trs, all: all, atts: map[string][]*cairn.Attempt{}}
	for _, at := range all {
		d.atts[at.TaskID] = append(d.atts[at.TaskID], at)
	}
	return d
}

// cached counts the tasks whose latest attempt reused an earlier success.
func (d *runDetail) cached() int {
	n := 0
	for _, tr := range d.tasks {
		if atts := d.atts[tr.TaskID]; tr.State == cairn.TaskSucceeded && len(atts) > 0 && !atts[len(atts)-1].CachedFrom.IsZero() {
			n++
		}
	}
	return n
}

// task returns task id of the run, or an error naming the nearest one.
func (d *runDetail) task(id string) (*cairn.TaskRun, error) {
	var ids []string
	for _, tr := range d.tasks {
		if tr.TaskID == id {
			return tr, nil
		}
		ids = append(ids, tr.TaskID)
	}
	return nil, fmt.Errorf("run %s has no task %q%s", d.ID, id, suggest(id, ids))
}

// localSource reads the home's database, artifacts and logs.
type localSource struct {
	a  *app
	st database // nil: no database (a read-only command on a new home)
}

// openLocal opens the home's database (read-only for a read-only
// command). With missingOK, a read-only command works without one (st
// nil: there is nothing to read, and no file is made).
func (a *app) openLocal(ctx context.Context, missingOK bool) (*localSource, error) {
	st, err := a.openStore(ctx)
	if err != nil && !(missingOK && errors.Is(err, errNoDatabase)) {
		return nil, err
	}
	if err != nil {
		// A database named by --db or CAIRN_DB that is not there is a
		// mistake to say, not an empty list: only a home's own may be
		// missing (nothing has run with it yet).
		if t, terr := a.database(); terr == nil && t.given {
			return nil, err
		}
	}
	return &localSource{a: a, st: st}, nil
}

func (l *localSource) close() {
	if l.st != nil {
		l.st.Close()
	}
}

// item is r with what a reader derives from it now.
func localItem(r *cairn.Run, now time.Time) runItem {
	it := runItem{Run: r, orphaned: orphaned(r, now)}
	if it.orphaned && r.Owner != "" {
		last := r.OwnerExpiresAt.Add(-ownerTTL)
		if last.After(now) {
			last = now
		}
		if last.Before(r.StartedAt) {
			last = r.StartedAt
		}
		it.lastAlive = last
	}
	return it
}

func (l *localSource) listRuns(ctx context.Context, f scheduler.RunFilter) ([]runItem, string, error) {
	if l.st == nil { // no database, so no run, and none a cursor could name
		if f.Before != "" {
			return nil, "", usageError{fmt.Sprintf("--before %q names no run; give a run id that 'cairn runs' printed", f.Before)}
		}
		return nil, "", nil
	}
	if f.Before != "" {
		// A cursor is a run id (or a unique prefix of one): one that names
		// no run is a mistake, not "every run".
		id, err := l.st.ResolveRunID(ctx, f.Before)
		switch {
		case errors.Is(err, cairn.ErrNotFound):
			return nil, "", usageError{fmt.Sprintf("--before %q names no run; give a run id that 'cairn runs' printed", f.Before)}
		case errors.Is(err, cairn.ErrAmbiguous):
			return nil, "", usageError{fmt.Sprintf("--before %q matches several runs; give more characters of the run id", f.Before)}
		case err != nil:
			return nil, "", usageError{fmt.Sprintf("--before %q: %v", f.Before, err)}
		}
		f.Before = id
	}
	// One run more than the page tells whether another page follows.
	page := f
	page.Limit = f.Limit + 1
	runs, err := l.st.ListRuns(ctx, page)
	if err != nil {
		return nil, "", err
	}
	var next string
	if len(runs) > f.Limit {
		runs = runs[:f.Limit]
		next = runs[len(runs)-1].ID
	}
	now := time.Now()
	items := make([]runItem, len(runs))
	for i, r := range runs {
		items[i] = localItem(r, now)
	}
	return items, next, nil
}

func (l *localSource) getRun(ctx context.Context, arg string) (*runDetail, error) {
	if l.st == nil {
		return nil, fmt.Errorf("no run %q (see 'cairn runs')", arg)
	}
	id, err := resolveRun(ctx, l.st, arg)
	if err != nil {
		return nil, err
	}
	r, err := l.st.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	trs, err := l.st.ListTaskRuns(ctx, id)
	if err != nil {
		return nil, err
	}
	all, err := l.st.ListAttempts(ctx, id, "")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	d := newDetail(localItem(r, now), trs, all)
	// A server on this home runs tasks in its own pool too.
	var (
		pool      *cairn.Worker
		poolOwner string
	)
	if info, ok := liveServer(l.a.serverInfoPath()); ok {
		if p, ok := info.pool(now); ok {
			pool = &p
		}
		poolOwner = info.Owner
	}
	// The run's workflow as stored with it, for its upstreams and when:
	// expressions; one that no longer parses names neither.
	graph := func() cairn.WaitGraph {
		if sources, err := l.st.RunSources(ctx, r.ID); err == nil {
			if wf, err := workflows.ParseRun(r, sources, workflows.Options{}); err == nil {
				return wf
			}
		}
		return nil
	}
	d.waiting, err = core.Waiting(ctx, core.WaitSources{Runs: l.st, Pools: l.st, Workers: l.st, Pool: pool, PoolOwner: poolOwner, OwnerGone: ownerGone}, r, trs, graph, now)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (l *localSource) logs() (*artifacts.Logs, error) {
	_, logs, err := l.a.stores()
	return logs, err
}

func (l *localSource) openLog(ctx context.Context, runID, taskID string, n int) (io.ReadCloser, error) {
	logs, err := l.logs()
	if err != nil {
		return nil, err
	}
	return logs.Open(runID, taskID, n)
}

func (l *localSource) followLog(ctx context.Context, runID, taskID string, n int, pinned bool, out, notes io.Writer) error {
	logs, err := l.logs()
	if err != nil {
		return err
	}
	return followLocalLog(ctx, l.st, logs, runID, taskID, n, pinned, out, notes)
}

func (l *localSource) cancel(ctx context.Context, arg string) (string, error) {
	if l.st == nil {
		return "", fmt.Errorf("no run %q (see 'cairn runs')", arg)
	}
	id, err := resolveRun(ctx, l.st, arg)
	if err != nil {
		return "", err
	}
	st := l.st
	if err := st.RequestCancel(ctx, id); err != nil {
		if errors.Is(err, cairn.ErrTerminal) {
			if r, gerr := st.GetRun(ctx, id); gerr == nil {
				return "", fmt.Errorf("run %s already %s", id, r.State)
			}
		}
		return "", err
	}
	// If no live process drives the run, finish the cancellation here.
	r, err := st.GetRun(ctx, id)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if r.Owner == "" || r.OwnerExpiresAt.Before(now) || ownerGone(r.Owner) {
		reg, err := registry()
		if err != nil {
			return "", err
		}
		if err := cancelHere(ctx, st, r, reg); err != nil {
			// A server took the run in the meantime (a queued run it
			// started): it reads the cancel request and stops the run.
			if cur, gerr := st.GetRun(ctx, id); errors.Is(err, cairn.ErrRunOwned) && gerr == nil && cur.Owner != "" {
				return fmt.Sprintf("run %s: cancellation requested; %s is stopping it", id, cur.Owner), nil
			}
			return "", err
		}
		return fmt.Sprintf("run %s cancelled", id), nil
	}
	return fmt.Sprintf("run %s: cancellation requested; %s is stopping it", id, r.Owner), nil
}

func (l *localSource) gateResults(ctx context.Context, tr *cairn.TaskRun) []evaluate.GateResult {
	return l.a.gateResults(ctx, tr)
}

// sourceRun parses args with fs, wants exactly one positional argument —
// a run id or a unique prefix of one — and reads that run from the
// source rf names. The caller closes the source.
func (a *app) sourceRun(ctx context.Context, fs *flag.FlagSet, rf *remoteFlags, args []string) (runSource, *runDetail, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, err
	}
	rf.resolve(fs)
	if len(pos) != 1 {
		return nil, nil, usageError{"want exactly one run id"}
	}
	src, err := a.source(ctx, rf, false)
	if err != nil {
		return nil, nil, err
	}
	d, err := src.getRun(ctx, pos[0])
	if err != nil {
		src.close()
		return nil, nil, err
	}
	return src, d, nil
}

// findTask returns task id of run, or an error naming the nearest task.
func findTask(ctx context.Context, st database, runID, taskID string) (*cairn.TaskRun, error) {
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
