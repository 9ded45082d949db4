package actions

// The cron side of a server: the schedules of the workflows folder fired
// (Fire, called by the scheduler service's maintenance loop), listed,
// paused and resumed, and backfilled. Each slot's run is created in the
// transaction that advances its schedule's position, and the store keeps
// one run per workflow and slot, so a slot fires once whatever the
// number of servers, restarts and crashes.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
	"github.com/cairnml/cairn/workflows/catalog"
)

// CronActor is the audit log's actor of the runs a schedule fires.
const CronActor = "cron"

// MaxBackfillTasks bounds the task runs one backfill may create (slots ×
// tasks), besides workflows.MaxBackfill slots.
const MaxBackfillTasks = 1_000_000

// retryProblem is how soon a schedule that could not fire is looked at again.
const retryProblem = time.Minute

// cronMemo is what Fire remembers of a schedule between its passes.
type cronMemo struct {
	spec    string    // the schedule it was computed for
	next    time.Time // when to look again; zero: never (no more slots)
	problem string    // why the schedule cannot fire, if it cannot
}

// badInput is a request refused as bad, saying what to do (a 400).
type badInput struct{ msg string }

func (e *badInput) Error() string        { return e.msg }
func (e *badInput) Is(target error) bool { return target == core.ErrBadInput }

func refuse(format string, args ...any) error { return &badInput{msg: fmt.Sprintf(format, args...)} }

// Fire creates the runs of the slots due by now of every schedule of the
// workflows folder, each schedule in one transaction that also advances
// its position (see workflows.Schedule.Due for catch-up), and returns when
// a slot is due next (zero: none known). A schedule seen for the first
// time, or changed, starts from now: it fires the slots after it.
//
// fence, if not nil, is the term of the leader lease under which the
// caller fires (the scheduler service's): each schedule's transaction
// checks it first (scheduler.Tx.CheckFence), so that a server deposed as
// leader without knowing it fires nothing. Once one is refused Fire stops
// and returns the error, which wraps cairn.ErrNotLeader; other failures
// are logged, and the schedule is tried again later.
func (a *Actions) Fire(ctx context.Context, now time.Time, fence *scheduler.Fence) (time.Time, error) {
	var next time.Time
	seen := map[string]bool{}
	fired := false
	for _, e := range a.o.Workflows.Entries() {
		if !e.OK() || e.Workflow.Schedule == nil {
			continue
		}
		name := e.Workflow.Name
		seen[name] = true
		spec := e.Workflow.Schedule.Spec()
		a.mu.Lock()
		m := a.memo[name]
		a.mu.Unlock()
		if m == nil || m.spec != spec || (!m.next.IsZero() && !m.next.After(now)) {
			var n int
			var err error
			m, n, err = a.fire(ctx, e, spec, now, m, fence)
			if err != nil {
				if fired && a.o.Service != nil {
					a.o.Service.Kick()
				}
				return time.Time{}, err
			}
			fired = fired || n > 0
			a.mu.Lock()
			a.memo[name] = m
			a.mu.Unlock()
		}
		if !m.next.IsZero() && (next.IsZero() || m.next.Before(next)) {
			next = m.next
		}
	}
	a.mu.Lock()
	for name := range a.memo {
		if !seen[name] {
			delete(a.memo, name)
		}
	}
	a.mu.Unlock()
	if fired && a.o.Service != nil {
		a.o.Service.Kick() // start them now, within the limits
	}
	return next, nil
}

// fire handles one schedule whose slot may be due: it returns what to
// remember of it and how many runs it created, or the error of a fence
// refused (cairn.ErrNotLeader).
func (a *Actions) fire(ctx context.Context, e catalog.Entry, spec string, now time.Time, prev *cronMemo, fence *scheduler.Fence) (*cronMemo, int, error) {
	wf, s := e.Workflow, e.Workflow.Schedule
	log := a.o.Logger.With("workflow", wf.Name)
	m := &cronMemo{spec: spec}
	bound, problem := a.bindScheduled(wf)
	var (
		due     workflows.Due
		created []string
		paused  bool
		pos     time.Time
		fresh   bool
	)
	err := a.o.Store.Batch(ctx, func(tx scheduler.Tx) error {
		created = created[:0]
		if fence != nil {
			if err := tx.CheckFence(*fence); err != nil {
				return err
			}
		}
		st, err := tx.Schedule(wf.Name)
		switch {
		case errors.Is(err, cairn.ErrNotFound):
			st = scheduler.ScheduleState{Workflow: wf.Name, Spec: spec, Position: now, UpdatedAt: now}
			pos, fresh = now, true
			return tx.PutSchedule(&st)
		case err != nil:
			return err
		case st.Spec != spec:
			// A changed schedule starts afresh: its old slots are not
			// caught up under the new rule.
			st.Spec, st.UpdatedAt = spec, now
			st.Position = latest(st.Position, now)
			pos, fresh = st.Position, true
			return tx.PutSchedule(&st)
		}
		pos, paused = st.Position, st.Paused
		if paused || problem != "" {
			return nil
		}
		due, err = s.Due(st.Position, now)
		if err != nil {
			return err
		}
		if due.Position.Equal(st.Position) {
			return nil
		}
		for _, slot := range due.Fire {
			run, trs := wf.NewRun(bound, now)
			run.SourcePath, run.Trigger, run.ScheduledFor = e.Path, cairn.TriggerCron, slot
			if err := tx.CreateRun(run, trs); err != nil {
				if errors.Is(err, cairn.ErrConflict) {
					continue // the slot has its run already (a backfill made it)
				}
				return err
			}
			if _, err := tx.AddAudit(scheduler.Audit{At: now, Actor: CronActor, Action: scheduler.AuditTrigger, RunID: run.ID,
				Detail: detail(map[string]any{"workflow": wf.Name, "file": e.File, "scheduled_for": slot.UTC().Format(time.RFC3339)})}); err != nil {
				return err
			}
			created = append(created, run.ID)
		}
		if len(created) > 0 && a.o.InSlotTx != nil {
			a.o.InSlotTx() // a test's crash point: the runs are written, not committed
		}
		st.Position, st.UpdatedAt = due.Position, now
		pos = due.Position
		return tx.PutSchedule(&st)
	})
	switch {
	case errors.Is(err, cairn.ErrNotLeader):
		return prev, 0, fmt.Errorf("fire the schedule of %s: %w", wf.Name, err)
	case errors.Is(err, cairn.ErrConflict):
		// Another server moved it meanwhile: look again at the next pass.
		m.next = now
		return m, 0, nil
	case err != nil:
		if ctx.Err() == nil {
			log.Warn("schedule: cannot fire; trying again in 10s", "err", err)
		}
		m.next = now.Add(10 * time.Second)
		return m, 0, nil
	}
	if fresh {
		log.Info("schedule registered", "cron", s.Cron, "timezone", s.Timezone, "catchup", s.Catchup, "from", pos.UTC().Format(time.RFC3339))
	}
	if problem != "" && !paused {
		if prev == nil || prev.problem != problem {
			log.Error("schedule cannot fire; fix the workflow file", "err", problem)
		}
		m.problem = problem
		m.next = now.Add(retryProblem)
		return m, 0, nil
	}
	if len(created) > 0 {
		slots := make([]string, 0, len(due.Fire))
		for _, t := range due.Fire {
			slots = append(slots, t.UTC().Format(time.RFC3339))
		}
		log.Info("schedule fired", "runs", len(created), "slots", strings.Join(slots, ","))
	}
	if !due.MissedFirst.IsZero() {
		log.Warn("schedule: missed slots skipped (catchup "+string(s.Catchup)+"); cairn backfill runs them",
			"first", due.MissedFirst.UTC().Format(time.RFC3339), "last", due.MissedLast.UTC().Format(time.RFC3339),
			"backfill", fmt.Sprintf("cairn backfill %s --from %s --to %s", wf.Name,
				due.MissedFirst.UTC().Format(time.RFC3339), due.MissedLast.UTC().Format(time.RFC3339)))
	}
	m.next, _ = s.Next(latest(pos, now))
	if !paused {
		m.next, _ = s.Next(pos)
		if !m.next.IsZero() && !m.next.After(now) {
			m.next = now // more than one pass's worth: go on at the next
		}
	}
	return m, len(created), nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// bindScheduled binds the params of a scheduled run: every default, and
// each secret param to its placeholder (the server gives its value from
// its environment). A problem says why no run can be made.
func (a *Actions) bindScheduled(wf *workflows.Workflow) (map[string]any, string) {
	bind := map[string]string{}
	for _, d := range wf.Params {
		if d.Secret {
			env := workflows.SecretEnv(d.Name)
			if d.Required && (a.o.HasSecret == nil || !a.o.HasSecret(env)) {
				return nil, fmt.Sprintf("secret param %q is required and this server's environment lacks %s", d.Name, env)
			}
			bind[d.Name] = workflows.SecretPlaceholder(d.Name)
		}
	}
	bound, err := wf.BindParams(bind)
	if err != nil {
		return nil, fmt.Sprintf("a scheduled run takes every param's default, and: %v (give each param a default)", err)
	}
	return bound, ""
}

// DescribeSchedule is schedule s of workflow as listed: where its state
// st stands (nil before a server registered it) and its next slot.
func DescribeSchedule(workflow string, s *workflows.Schedule, st *scheduler.ScheduleState, now time.Time) runjson.Schedule {
	j := runjson.Schedule{Workflow: workflow, Cron: s.Cron, Timezone: s.Timezone, Catchup: string(s.Catchup),
		Start: runjson.Time(s.Start), End: runjson.Time(s.End)}
	from := now
	if st != nil {
		j.Paused = st.Paused
		// The position is a slot once one was handled; before, it is
		// where the schedule started from (the server's start, a
		// resume), which is no slot of it and is not shown as one.
		if n, err := s.Next(st.Position.Add(-time.Nanosecond)); err == nil && n.Equal(st.Position) {
			j.LastSlot = runjson.Time(st.Position)
		}
		from = latest(st.Position, now)
	}
	if n, err := s.Next(from); err == nil {
		j.NextSlot = runjson.Time(n)
	}
	return j
}

// Schedules lists the schedules: those of the workflows folder, and those
// stored of workflows it no longer serves (which do not fire), by name.
func (a *Actions) Schedules(ctx context.Context) ([]runjson.Schedule, error) {
	rows, err := a.o.Store.Schedules(ctx)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*scheduler.ScheduleState, len(rows))
	for i := range rows {
		byName[rows[i].Workflow] = &rows[i]
	}
	now := a.o.Now()
	out := []runjson.Schedule{}
	listed := map[string]bool{}
	for _, e := range a.o.Workflows.Entries() {
		if !e.OK() || e.Workflow.Schedule == nil {
			continue
		}
		j := DescribeSchedule(e.Workflow.Name, e.Workflow.Schedule, byName[e.Workflow.Name], now)
		j.File = e.File
		if st := byName[e.Workflow.Name]; st != nil && st.Spec != e.Workflow.Schedule.Spec() {
			j.LastSlot = nil // changed: it starts afresh when the server reads it
		}
		if _, problem := a.bindScheduled(e.Workflow); problem != "" {
			j.Error = problem
		}
		out = append(out, j)
		listed[j.Workflow] = true
	}
	for _, st := range rows {
		if listed[st.Workflow] {
			continue
		}
		s, err := workflows.ScheduleFromSpec(st.Spec)
		if err != nil {
			out = append(out, runjson.Schedule{Workflow: st.Workflow, Paused: st.Paused, LastSlot: runjson.Time(st.Position), Error: err.Error()})
			continue
		}
		j := DescribeSchedule(st.Workflow, s, &st, now)
		j.NextSlot = nil
		j.Error = "no workflow file of the server's folder declares this schedule now: it does not fire"
		if e, ok := a.o.Workflows.Lookup(st.Workflow); ok && !e.OK() {
			j.File = e.File
			j.Error = "its file " + e.File + " has problems: it does not fire until they are fixed"
		}
		out = append(out, j)
	}
	slices.SortFunc(out, func(x, y runjson.Schedule) int { return strings.Compare(x.Workflow, y.Workflow) })
	return out, nil
}

// PauseSchedule pauses (or, with paused false, resumes) workflow name's
// schedule, with its audit entry.
func (a *Actions) PauseSchedule(ctx context.Context, name string, paused bool) error {
	spec := ""
	if e, ok := a.o.Workflows.Lookup(name); ok && e.OK() && e.Workflow.Schedule != nil {
		spec = e.Workflow.Schedule.Spec()
	}
	_, err := SetPaused(ctx, a.o.Store, name, spec, paused, a.o.Now(), actor(ctx))
	if err == nil {
		a.mu.Lock()
		delete(a.memo, name) // looked at again at the next pass
		a.mu.Unlock()
	}
	return err
}

// SetPaused pauses or resumes workflow name's schedule in one transaction
// with its audit entry (by actor), and reports whether it changed. A
// schedule no server registered yet is registered paused when spec (the
// schedule as the workflow file gives it) is known, else not found.
// Resuming moves the schedule's position to now: the slots of the pause
// are not run (cairn backfill runs them).
func SetPaused(ctx context.Context, store scheduler.Store, name, spec string, paused bool, now time.Time, actor string) (bool, error) {
	changed := false
	err := store.Batch(ctx, func(tx scheduler.Tx) error {
		changed = false
		st, err := tx.Schedule(name)
		switch {
		case errors.Is(err, cairn.ErrNotFound):
			if spec == "" {
				return fmt.Errorf("no schedule of workflow %s: a server registers a workflow's schedule when it reads its file (cairn schedules list lists them): %w",
					core.Brief(name), cairn.ErrNotFound)
			}
			st = scheduler.ScheduleState{Workflow: name, Spec: spec, Position: now, UpdatedAt: now}
		case err != nil:
			return err
		}
		if st.Version > 0 && st.Paused == paused {
			return nil
		}
		st.Paused, st.UpdatedAt = paused, now
		if !paused {
			st.Position = latest(st.Position, now)
		}
		if err := tx.PutSchedule(&st); err != nil {
			return err
		}
		action := scheduler.AuditSchedulePause
		if !paused {
			action = scheduler.AuditScheduleResume
		}
		changed = true
		_, err = tx.AddAudit(scheduler.Audit{At: now, Actor: actor, Action: action, Detail: detail(map[string]any{"workflow": name})})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("schedule %s: %w", name, err)
	}
	return changed, nil
}

// Backfill queues the runs of the past slots of served workflow name from
// from to to, both included: RFC 3339, or a date or a date and time in
// the schedule's zone (workflows.Schedule.ParseTime).
func (a *Actions) Backfill(ctx context.Context, name, from, to string) (runjson.Backfill, error) {
	e, ok := a.o.Workflows.Lookup(name)
	if !ok {
		return runjson.Backfill{}, fmt.Errorf("no workflow %s in the server's workflows folder: %w", core.Brief(name), cairn.ErrNotFound)
	}
	if !e.OK() {
		return runjson.Backfill{}, fmt.Errorf("workflow %s cannot run: its file %s has problems (fix the file; the server reads it again): %w",
			name, e.File, cairn.ErrConflict)
	}
	s := e.Workflow.Schedule
	if s == nil {
		return runjson.Backfill{Workflow: name, Created: []string{}}, refuse("workflow %s has no schedule: a backfill runs the slots of its schedule: (add one, e.g. schedule: {cron: \"0 3 * * *\"})", name)
	}
	var tf, tt time.Time
	var err error
	if from != "" {
		if tf, err = s.ParseTime(from); err != nil {
			return runjson.Backfill{Workflow: name, Created: []string{}}, refuse("from: %v", err)
		}
	}
	if to != "" {
		if tt, err = s.ParseTime(to); err != nil {
			return runjson.Backfill{Workflow: name, Created: []string{}}, refuse("to: %v", err)
		}
	}
	res, err := Backfill(ctx, a.o.Store, e.Workflow, e.Path, tf, tt, a.o.Now(), actor(ctx), a.o.HasSecret)
	if err == nil && len(res.Created) > 0 && a.o.Service != nil {
		a.o.Service.Kick()
	}
	return res, err
}

// Backfill queues a run of wf (its file at sourcePath) for each slot of
// its schedule from from to to, both included, in one transaction with
// its audit entry (by actor): runs of trigger backfill, which know their
// slot (${{ run.scheduled_for }}) and start, oldest slot first, within the
// active-run limits (max_active_runs:). A slot with a run already is left
// as it is. An empty or reversed range, one in the future, one of more
// than workflows.MaxBackfill slots, and a workflow without a schedule are
// refused (core.ErrBadInput).
func Backfill(ctx context.Context, store scheduler.Store, wf *workflows.Workflow, sourcePath string, from, to, now time.Time, actor string,
	hasSecret func(env string) bool) (runjson.Backfill, error) {
	res := runjson.Backfill{Workflow: wf.Name, Created: []string{}}
	s := wf.Schedule
	const layout = time.RFC3339
	switch {
	case s == nil:
		return res, refuse("workflow %s has no schedule: a backfill runs the slots of its schedule: (add one, e.g. schedule: {cron: \"0 3 * * *\"})", wf.Name)
	case from.IsZero() || to.IsZero():
		return res, refuse("a backfill needs its range: --from and --to (RFC 3339, or a date)")
	case to.Before(from):
		return res, refuse("the range is reversed: --to %s is before --from %s", to.Format(layout), from.Format(layout))
	case to.After(now):
		return res, refuse("--to %s is in the future: a backfill runs past slots (the schedule fires the others when they come)", to.Format(layout))
	}
	slots, more, err := s.Slots(from, to, workflows.MaxBackfill)
	if err != nil {
		return res, err
	}
	switch {
	case more:
		return res, refuse("from %s to %s, schedule %q has more than %d slots, the most one backfill runs: backfill the range in parts",
			from.Format(layout), to.Format(layout), s.Cron, workflows.MaxBackfill)
	case len(slots) == 0:
		why := ""
		switch {
		case !s.Start.IsZero() && to.Before(s.Start):
			why = fmt.Sprintf(" (its start: is %s)", s.Start.Format(layout))
		case !s.End.IsZero() && !from.Before(s.End):
			why = fmt.Sprintf(" (its end: is %s)", s.End.Format(layout))
		case !s.Start.IsZero() || !s.End.IsZero():
			why = " within its start: and end:"
		}
		return res, refuse("schedule %q (%s) has no slot from %s to %s%s: nothing to backfill", s.Cron, s.Timezone, from.Format(layout), to.Format(layout), why)
	case len(slots)*max(len(wf.Tasks), 1) > MaxBackfillTasks:
		return res, refuse("%d slots of %d tasks each are more than %d task runs, the most one backfill creates: backfill the range in parts",
			len(slots), len(wf.Tasks), MaxBackfillTasks)
	}
	a := &Actions{o: Options{HasSecret: hasSecret}}
	bound, problem := a.bindScheduled(wf)
	if problem != "" {
		return res, refuse("workflow %s: %s", wf.Name, problem)
	}
	res.Slots = len(slots)
	err = store.Batch(ctx, func(tx scheduler.Tx) error {
		res.Created, res.Existing = res.Created[:0], 0
		for _, slot := range slots {
			run, trs := wf.NewRun(bound, now)
			run.SourcePath, run.Trigger, run.ScheduledFor = sourcePath, cairn.TriggerBackfill, slot
			if err := tx.CreateRun(run, trs); err != nil {
				if errors.Is(err, cairn.ErrConflict) {
					res.Existing++
					continue
				}
				return err
			}
			res.Created = append(res.Created, run.ID)
		}
		_, err := tx.AddAudit(scheduler.Audit{At: now, Actor: actor, Action: scheduler.AuditBackfill,
			Detail: detail(map[string]any{"workflow": wf.Name, "from": from.UTC().Format(layout), "to": to.UTC().Format(layout),
				"slots": len(slots), "created": len(res.Created)})})
		return err
	})
	if err != nil {
		return res, fmt.Errorf("backfill %s: %w", wf.Name, err)
	}
	return res, nil
}
