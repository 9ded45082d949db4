package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// ApplyPlan applies p in one transaction, each change a compare-and-set on
// the row's version and state: see store/sqlite's ApplyPlan, which this
// mirrors statement for statement (as arrays).
func (s *Store) ApplyPlan(ctx context.Context, p *scheduler.Plan) error {
	fn, _, err := s.applyPlanFn(p)
	if err == nil && fn != nil {
		err = s.inTx(ctx, fn)
	}
	if err != nil {
		return fmt.Errorf("apply plan run %s: %w", p.RunID, err)
	}
	return nil
}

func (b *batchTx) ApplyPlan(p *scheduler.Plan) error {
	delete(b.owners, p.RunID) // the plan may end the run, and its claim
	fn, cas, err := b.s.applyPlanFn(p)
	if err == nil && fn != nil {
		err = b.run(fn, cas)
	}
	if err != nil {
		return fmt.Errorf("apply plan run %s: %w", p.RunID, err)
	}
	return nil
}

func (s *Store) applyPlanFn(p *scheduler.Plan) (fn txFn, cas bool, err error) {
	if p.Empty() {
		return nil, false, nil
	}
	if p.Run != nil && !p.Run.From.CanTransition(p.Run.To) {
		return nil, false, fmt.Errorf("run cannot move from %s to %s", p.Run.From, p.Run.To)
	}
	for i := range p.Tasks {
		c := &p.Tasks[i]
		if !c.Allowed() {
			return nil, false, fmt.Errorf("task %s cannot move from %s to %s", c.TaskID, c.From, c.To)
		}
		if c.To.Active() {
			return nil, false, fmt.Errorf("task %s: only Lease and StartAttempt move a task to %s", c.TaskID, c.To)
		}
		if l := c.Lease; l != nil {
			switch {
			case c.To != cairn.TaskReady:
				return nil, false, fmt.Errorf("task %s: a lease comes with a change to ready, not to %s", c.TaskID, c.To)
			case l.RunID != p.RunID || l.TaskID != c.TaskID:
				return nil, false, fmt.Errorf("task %s: lease of %s/%s", c.TaskID, l.RunID, l.TaskID)
			case l.Token == "" || l.Worker == "" || l.Attempt < 1 || l.ExpiresAt.IsZero() || c.At.IsZero():
				return nil, false, fmt.Errorf("task %s: incomplete lease (token, worker, attempt, expiry and the change's time are needed)", c.TaskID)
			}
		}
	}
	if err := sqlrow.CheckExpansions(p.Expand); err != nil {
		return nil, false, err
	}
	cas = len(p.Expand) == 0 && (len(p.Tasks) == 1 && p.Run == nil || len(p.Tasks) == 0)
	return func(ctx context.Context, tx pgx.Tx) error {
		var runVersion int64
		taskVersions := make([]int64, len(p.Tasks))
		if rc := p.Run; rc != nil {
			var started, finished *int64
			if rc.To == cairn.RunRunning {
				started = nanos(rc.At)
			}
			if rc.To.Terminal() {
				finished = nanos(rc.At)
			}
			end := rc.To.Terminal()
			err := s.queryRow(ctx, tx, `UPDATE runs SET state = $1, error = $2,
	started_at = coalesce($3, started_at), finished_at = coalesce($4, finished_at), version = version + 1,
	owner = CASE WHEN $5 THEN '' ELSE owner END, owner_expires_at = CASE WHEN $5 THEN NULL ELSE owner_expires_at END
WHERE id = $6 AND version = $7 AND state = $8 RETURNING version`, string(rc.To), rc.Error, started, finished, end, p.RunID,
				rc.FromVersion, string(rc.From)).Scan(&runVersion)
			if noRows(err) {
				return s.runMissOrConflict(ctx, tx, p.RunID, fmt.Sprintf("run at version %d", rc.FromVersion))
			}
			if err != nil {
				return translate(err)
			}
		}
		if err := s.checkFanIns(ctx, tx, p.RunID, p.Tasks); err != nil {
			return err
		}
		if err := s.applyTaskChanges(ctx, tx, p.RunID, p.Tasks, taskVersions); err != nil {
			return err
		}
		if err := s.applyExpansions(ctx, tx, p.RunID, p.Expand); err != nil {
			return err
		}
		if rc := p.Run; rc != nil && rc.To.Terminal() {
			if _, err := s.exec(ctx, tx, `DELETE FROM evaluations WHERE run_id = $1`, p.RunID); err != nil {
				return err
			}
			if err := s.runEndAlerts(ctx, tx, p.RunID, rc.To, runVersion, rc.Error, rc.At); err != nil {
				return err
			}
		}
		if p.Run != nil {
			p.Run.NewVersion = runVersion
		}
		for i := range p.Tasks {
			p.Tasks[i].NewVersion = taskVersions[i]
		}
		return nil
	}, cas, nil
}

// applyTaskChanges applies a plan's task changes in one statement per kind
// (to ready, handed out, anything else), each row a compare-and-set, and
// writes the attempts of the active tasks the changes end in the same
// statement as their change.
func (s *Store) applyTaskChanges(ctx context.Context, tx pgx.Tx, runID string, cs []scheduler.TaskChange, versions []int64) error {
	var ready, leased, ends []int
	for i := range cs {
		switch c := &cs[i]; {
		case c.Lease != nil:
			leased = append(leased, i)
		case c.To == cairn.TaskReady:
			ready = append(ready, i)
		default:
			ends = append(ends, i)
		}
	}
	if len(ready) > 0 {
		ids, vers, from, params, inputs, errs := make([]string, 0, len(ready)), make([]int64, 0, len(ready)), make([]string, 0, len(ready)),
			make([]*string, 0, len(ready)), make([]*string, 0, len(ready)), make([]string, 0, len(ready))
		for _, i := range ready {
			c := &cs[i]
			in, err := jsonText(c.Inputs, c.Inputs == nil)
			if err != nil {
				return fmt.Errorf("task %s: encode inputs: %w", c.TaskID, err)
			}
			ids, vers, from = append(ids, c.TaskID), append(vers, c.FromVersion), append(from, string(c.From))
			params, inputs, errs = append(params, rawJSON(c.Params)), append(inputs, in), append(errs, c.Error)
		}
		rows, err := s.query(ctx, tx, `WITH n AS (SELECT pg_notify('`+channelReady+`', '')), g AS (SELECT nextval('task_runs_ready_gen') AS gen)
UPDATE task_runs t SET state = 'ready', params = v.params, inputs = v.inputs, error = v.error, ready_gen = g.gen,
	ready_at = $8, retry_at = NULL, version = t.version + 1
FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[]) AS v(task_id, version, state, params, inputs, error), g, n
WHERE t.run_id = $1 AND t.task_id = v.task_id AND t.version = v.version AND t.state = v.state
RETURNING t.task_id, t.version`, runID, ids, vers, from, params, inputs, errs, nanos(cs[ready[0]].At))
		if err != nil {
			return err
		}
		if err := s.collectVersions(ctx, tx, rows, runID, cs, ready, versions); err != nil {
			return err
		}
	}
	if len(leased) > 0 {
		n := len(leased)
		ids, vers, from, params, inputs, errs := make([]string, 0, n), make([]int64, 0, n), make([]string, 0, n),
			make([]*string, 0, n), make([]*string, 0, n), make([]string, 0, n)
		attempts, tokens, workers, expires, next, at := make([]int64, 0, n), make([]string, 0, n), make([]string, 0, n),
			make([]int64, 0, n), make([]string, 0, n), make([]int64, 0, n)
		for _, i := range leased {
			c := &cs[i]
			in, err := jsonText(c.Inputs, c.Inputs == nil)
			if err != nil {
				return fmt.Errorf("task %s: encode inputs: %w", c.TaskID, err)
			}
			l := c.Lease
			ids, vers, from = append(ids, c.TaskID), append(vers, c.FromVersion), append(from, string(c.From))
			params, inputs, errs = append(params, rawJSON(c.Params)), append(inputs, in), append(errs, c.Error)
			attempts, tokens, workers = append(attempts, int64(l.Attempt)), append(tokens, l.Token), append(workers, l.Worker)
			expires, next, at = append(expires, l.ExpiresAt.UnixNano()), append(next, string(leaseState(c))), append(at, c.At.UnixNano())
		}
		// The lease's TTL is what its expiry is after the change's time;
		// by the database's clock it runs from the database's now.
		expiry, start := "v.expires", "v.at"
		if !s.callerClock {
			expiry, start = dbNow+" + (v.expires - v.at)", dbNow
		}
		rows, err := s.query(ctx, tx, `UPDATE task_runs t SET state = v.next, params = v.params, inputs = v.inputs, error = v.error,
	attempt = v.attempt, lease_token = v.token, lease_worker = v.worker, lease_expires_at = `+expiry+`, ready_gen = NULL,
	retry_at = NULL, started_at = coalesce(t.started_at, v.at), attempt_started_at = v.at,
	attempt_running_at = CASE WHEN v.next = 'running' THEN v.at END,
	attempt_due_at = CASE WHEN v.next = 'running' THEN `+start+` + `+dueAfter("t")+` END, version = t.version + 1
FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[],
	$11::bigint[], $12::text[], $13::bigint[]) AS v(task_id, version, state, params, inputs, error, attempt, token, worker, expires, next, at)
WHERE t.run_id = $1 AND t.task_id = v.task_id AND t.version = v.version AND t.state = v.state AND t.attempt + 1 = v.attempt
RETURNING t.task_id, t.version`, runID, ids, vers, from, params, inputs, errs, attempts, tokens, workers, expires, next, at)
		if err != nil {
			return err
		}
		if err := s.collectVersions(ctx, tx, rows, runID, cs, leased, versions); err != nil {
			return err
		}
	}
	if len(ends) > 0 {
		n := len(ends)
		ids, vers, from, next, errs, finished, ats := make([]string, 0, n), make([]int64, 0, n), make([]string, 0, n),
			make([]string, 0, n), make([]string, 0, n), make([]*int64, 0, n), make([]*int64, 0, n)
		for _, i := range ends {
			c := &cs[i]
			var f *int64
			if c.To.Terminal() {
				f = nanos(c.At)
			}
			ids, vers, from = append(ids, c.TaskID), append(vers, c.FromVersion), append(from, string(c.From))
			next, errs, finished, ats = append(next, string(c.To)), append(errs, c.Error), append(finished, f), append(ats, nanos(c.At))
		}
		// The rows are locked and read as they were (old), moved on (u),
		// and the attempts of those that were active written as they
		// ended (the change's state, error and time) from what old held.
		rows, err := s.query(ctx, tx, `WITH v AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
	AS v(task_id, version, state, next, error, finished, at)),
old AS (SELECT t.task_id, t.attempt, t.lease_worker, t.lease_token, t.attempt_started_at, t.attempt_running_at
	FROM task_runs t JOIN v ON t.run_id = $1 AND t.task_id = v.task_id AND t.version = v.version AND t.state = v.state
	FOR UPDATE OF t),
u AS (UPDATE task_runs t SET state = v.next, error = v.error, finished_at = coalesce(v.finished, t.finished_at),
	ready_gen = NULL, lease_token = NULL, lease_worker = NULL, lease_expires_at = NULL, attempt_started_at = NULL,
	attempt_running_at = NULL, `+sqlrow.HoldOnCancel("v.next", "t")+`, version = t.version + 1
	FROM v JOIN old ON old.task_id = v.task_id
	WHERE t.run_id = $1 AND t.task_id = v.task_id AND t.version = v.version AND t.state = v.state
	RETURNING t.task_id, t.version),
a AS (INSERT INTO attempts (run_id, task_id, number, state, worker, token, started_at, running_at, finished_at, error)
	SELECT $1, old.task_id, old.attempt, v.next, old.lease_worker, old.lease_token, old.attempt_started_at,
		old.attempt_running_at, v.at, v.error
	FROM u JOIN old ON old.task_id = u.task_id JOIN v ON v.task_id = u.task_id
	WHERE old.lease_token IS NOT NULL)
SELECT task_id, version FROM u`, runID, ids, vers, from, next, errs, finished, ats)
		if err != nil {
			return err
		}
		if err := s.collectVersions(ctx, tx, rows, runID, cs, ends, versions); err != nil {
			return err
		}
	}
	return nil
}

// collectVersions reads a change statement's (task_id, version) rows into
// versions; a change that matched no row fails the call, naming it.
func (s *Store) collectVersions(ctx context.Context, tx pgx.Tx, rows pgx.Rows, runID string, cs []scheduler.TaskChange, idx []int, versions []int64) error {
	at := make(map[string]int, len(idx))
	for _, i := range idx {
		at[cs[i].TaskID] = i
	}
	for rows.Next() {
		var (
			id      string
			version int64
		)
		if err := rows.Scan(&id, &version); err != nil {
			rows.Close()
			return translate(err)
		}
		versions[at[id]] = version
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return translate(err)
	}
	for _, i := range idx {
		if versions[i] == 0 {
			return s.taskMissOrConflict(ctx, tx, runID, cs[i].TaskID, cs[i].FromVersion)
		}
	}
	return nil
}

// leaseState is the state a task handed out with its change to ready is
// stored in.
func leaseState(c *scheduler.TaskChange) cairn.TaskState {
	if c.Start {
		return cairn.TaskRunning
	}
	return cairn.TaskLeased
}
