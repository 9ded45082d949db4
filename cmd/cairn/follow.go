package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/scheduler"
)

// Following a server's run: how often its state is read, and how long
// the server may stay out of reach before the command gives up.
const (
	watchPoll    = 250 * time.Millisecond
	watchOutage  = 30 * time.Second
	cancelTimout = 10 * time.Second
)

// watchRun follows run id on the server as 'cairn run' follows a local
// one: the same progress (a bar or lines, from the changes it reads) and
// the same summary; it returns an exitError unless the run succeeded. The
// first Ctrl-C (ctx ending) asks the server to cancel the run and waits
// for it to end; the second (main) exits at once, leaving the server to
// finish the cancellation. verb (run, retry, trigger) heads the output.
//
// before is the run as it was before the command changed it (a retry, a
// resume), the start of its progress; nil for a new run (every task
// pending). The server may have moved on by the first read: the changes
// since before are shown all the same.
func (a *app) watchRun(ctx context.Context, src *remoteSource, id, verb, mode string, quiet bool, before *runDetail) error {
	bg := context.WithoutCancel(ctx)
	d, err := src.getRun(ctx, id)
	if err != nil {
		return err
	}
	declared := 0 // the workflow's tasks: the bar counts the items as it sees them
	for _, tr := range d.tasks {
		if !tr.IsItem() {
			declared++
		}
	}
	if !quiet { // --quiet: the summary and nothing else
		fmt.Fprintf(a.stderr, "%s %s  workflow %s  %s  (%s)  on %s\n", verb, d.ID, d.Workflow, plural(declared, "task"),
			shortDigest(d.Digest), src.c.URL())
	}
	if before == nil {
		before = newRunOf(d)
	}
	prog := newProgress(a.stderr, mode, quiet, declared)
	prog.seed(before.tasks)
	start := time.Now()
	w := watcher{prev: before}
	for _, e := range w.events(d) {
		prog.observe(e)
	}
	cancelled := false
	var lost time.Time // when the server went out of reach
	for !d.State.Terminal() {
		wake := ctx.Done()
		if cancelled {
			wake = nil // cancelled already: wait for the poll alone
		}
		select {
		case <-wake:
		case <-time.After(watchPoll):
		}
		if ctx.Err() != nil && !cancelled {
			cancelled = true
			a.cancelRemote(bg, src, prog, d.ID, ctx)
		}
		next, err := src.getRun(bg, d.ID)
		if err != nil {
			var ue *client.UnreachableError
			var ce *client.Error
			if errors.As(err, &ue) || (errors.As(err, &ce) && ce.Status >= 500) {
				if lost.IsZero() {
					lost = time.Now()
					prog.say(fmt.Sprintf("lost the server: %v; trying again for %s", oneLine(err.Error()), watchOutage))
				}
				if time.Since(lost) < watchOutage {
					continue
				}
			}
			prog.finish()
			return fmt.Errorf("%w\nthe run goes on on the server: cairn show %s%s", err, d.ID, src.rf.serverArg())
		}
		if !lost.IsZero() {
			lost = time.Time{}
			prog.say("the server answers again")
		}
		for _, e := range w.events(next) {
			prog.observe(e)
		}
		d = next
	}
	prog.finish()
	a.summary(bg, d.Run, countTasks(d.tasks), d.tasks, d.cached(), src.gateResults, time.Since(start), src.rf.serverArg(), tookWord(verb))
	if d.State != cairn.RunSucceeded {
		return exitError{exitFailed, errors.New("")}
	}
	return nil
}

// cancelRemote asks the server to cancel the run, once Ctrl-C (or
// SIGTERM) ended ctx, and says so.
func (a *app) cancelRemote(bg context.Context, src *remoteSource, prog *progress, id string, ctx context.Context) {
	name := "Ctrl-C"
	var in interrupted
	if errors.As(context.Cause(ctx), &in) {
		name = signalName(in.sig)
	}
	cctx, cancel := context.WithTimeout(bg, cancelTimout)
	defer cancel()
	_, err := src.c.Cancel(cctx, id)
	switch {
	case err == nil:
		prog.say(fmt.Sprintf("cancelling run %s on the server: waiting for its tasks to stop; %s again to stop waiting (the server goes on cancelling)", id, name))
	case errors.Is(err, cairn.ErrConflict): // it has just ended
	default:
		prog.say(fmt.Sprintf("could not cancel run %s: %v; %s again to stop waiting", id, oneLine(remoteErr(err).Error()), name))
	}
}

// watcher turns the successive states of a run into the events of its
// progress: each task's new state, and the attempts that ended in
// between (a retry's failed attempt) from their history.
type watcher struct {
	prev *runDetail
}

func (w *watcher) events(d *runDetail) []scheduler.Event {
	old := map[string]*cairn.TaskRun{}
	for _, tr := range w.prev.tasks {
		old[tr.TaskID] = tr
	}
	now := time.Now()
	var evs []scheduler.Event
	for _, tr := range d.tasks {
		was, ok := old[tr.TaskID]
		seen := 0
		if ok {
			seen = was.Attempt
		}
		atts := d.atts[tr.TaskID]
		// Attempts that began since the last read: each one's start, and
		// the end of those before the last (a retry's failed attempt).
		started := false
		for _, at := range atts {
			if at.Number <= seen {
				continue
			}
			evs = append(evs, scheduler.Event{RunID: d.ID, TaskID: tr.TaskID, To: cairn.TaskRunning, Attempt: at.Number, At: at.StartedAt})
			started = at.Number == tr.Attempt
			if at.Number == tr.Attempt || at.FinishedAt.IsZero() {
				continue
			}
			st := at.State
			if st == cairn.AttemptInterrupted {
				st = cairn.TaskRetrying
			}
			evs = append(evs, scheduler.Event{RunID: d.ID, TaskID: tr.TaskID, To: st, Attempt: at.Number, Error: at.Error, At: at.FinishedAt})
		}
		if started && tr.State.Active() {
			continue // the running attempt's start is said above
		}
		if ok && was.State == tr.State && was.Attempt == tr.Attempt {
			continue
		}
		e := scheduler.Event{RunID: d.ID, TaskID: tr.TaskID, To: tr.State, Attempt: tr.Attempt, At: now}
		if ok {
			e.From = was.State
		}
		var last *cairn.Attempt
		if len(atts) > 0 {
			last = atts[len(atts)-1]
		}
		switch tr.State {
		case cairn.TaskLeased, cairn.TaskRunning:
			if last != nil {
				e.At = last.StartedAt
			}
		case cairn.TaskRetrying:
			if last != nil && !last.FinishedAt.IsZero() {
				e.At = last.FinishedAt
			}
			e.Error = tr.Error
		case cairn.TaskFailed, cairn.TaskUpstreamFailed, cairn.TaskSkipped:
			e.Error = tr.Error
		}
		if tr.State.Terminal() && !tr.FinishedAt.IsZero() {
			e.At = tr.FinishedAt
		}
		evs = append(evs, e)
	}
	// The tasks' changes in the order they happened, as a local run
	// prints them; the run's start before them, its end after.
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	if d.State != w.prev.State {
		switch {
		case d.State == cairn.RunRunning:
			at := d.StartedAt
			if w.prev.State.Terminal() { // a retry: it runs again from now
				at = now
			}
			evs = append([]scheduler.Event{{RunID: d.ID, Run: d.State, At: at}}, evs...)
		case d.State.Terminal():
			if w.prev.State == cairn.RunQueued && !d.StartedAt.IsZero() {
				evs = append([]scheduler.Event{{RunID: d.ID, Run: cairn.RunRunning, At: d.StartedAt}}, evs...)
			}
			evs = append(evs, scheduler.Event{RunID: d.ID, Run: d.State, Error: d.Error, At: d.FinishedAt})
		}
	}
	w.prev = d
	return evs
}

// newRunOf is run d as it was made: queued, every task pending, no attempt.
func newRunOf(d *runDetail) *runDetail {
	r := *d.Run
	r.State, r.StartedAt, r.FinishedAt, r.Error = cairn.RunQueued, time.Time{}, time.Time{}, ""
	trs := make([]*cairn.TaskRun, len(d.tasks))
	for i, tr := range d.tasks {
		trs[i] = &cairn.TaskRun{RunID: tr.RunID, TaskID: tr.TaskID, Type: tr.Type, State: cairn.TaskPending}
	}
	return newDetail(runItem{Run: &r}, trs, nil)
}
