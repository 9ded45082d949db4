// Package sqlrow is what store/sqlite and store/postgres share beyond their
// SQL: the column lists both dialects read, the decoding of a row into the
// vocabulary (runs, task runs, attempts, model versions, artifacts,
// lineage edges, tokens, workers, evaluations), the encoding of values for
// storage, and the logic around a statement that does not depend on the
// database (a completion checked and encoded, a token authenticated, the
// model registry's decisions through RegistryTx). Each store keeps its
// SQL, its driver and its transactions.
//
// Rows are read through Scanner, which *sql.Row(s) and pgx's rows both
// are; a nullable integer is scanned into sql.NullInt64, which both
// drivers fill, and integers through int64 (what both columns hold).
// Standard library, the vocabulary and the types of auth, experiments and
// scheduler only.
package sqlrow

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cairnml/cairn"
)

// Scanner is one row of a result: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// The columns both dialects read, in the order the scanners below take
// them.
const (
	RunCols = `id, workflow, digest, source_path, source, params, state, max_active, cancel_requested, error,
	created_at, started_at, finished_at, owner, owner_expires_at, version, max_active_runs, reproduce_of, "trigger", scheduled_for`

	TaskCols = `run_id, task_id, type, state, attempt, retries, backoff_ns, backoff_factor, max_backoff_ns, timeout_ns,
	params, inputs, outputs, metrics, error, retry_at, lease_token, lease_worker, lease_expires_at,
	started_at, finished_at, version, max_interruptions, interrupted, interrupted_streak, round, failed_before, cache,
	labels, queue, item, items, pool, pool_slots, priority`

	AttemptCols = `run_id, task_id, number, state, worker, started_at, running_at, finished_at, error, stack, retryable, exit_code, plugin,
	type, version, params, cache_key, cached_run, cached_task, cached_attempt`

	ModelCols = `name, version, digest, stage, metrics, report, run_id, task_id, attempt, created_at, stage_changed_at`

	// ModelSelect reads a version with its artifact's size and media type
	// (Model scans it).
	ModelSelect = `SELECT m.name, m.version, m.digest, m.stage, m.metrics, m.report, m.run_id, m.task_id, m.attempt,
	m.created_at, m.stage_changed_at, coalesce(a.size, 0), coalesce(a.media_type, '')
FROM models m LEFT JOIN artifacts a ON a.digest = m.digest`

	ArtifactCols = `digest, size, media_type, run_id, task_id, attempt, created_at`

	EdgeCols = `run_id, task_id, attempt, direction, port, digest`

	TokenCols = `id, name, role, created_at, expires_at, revoked_at, last_used_at`
)

// Prefixed qualifies each of a list of columns: Prefixed("a.", "x, y")
// is "a.x, a.y".
func Prefixed(p, cols string) string {
	parts := strings.Split(strings.Join(strings.Fields(cols), " "), ", ")
	return p + strings.Join(parts, ", "+p)
}

// Time decodes a stored time (Unix nanoseconds; NULL is the zero time).
func Time(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// Nanos encodes a time for storage: Unix nanoseconds, NULL (nil) for the
// zero time.
func Nanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

// Before encodes an exclusive upper bound on a stored time: Unix
// nanoseconds, the largest for the zero time (no bound).
func Before(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.UnixNano()
}

// JSONText encodes v as JSON text, NULL (nil) when isNil.
func JSONText[T any](v T, isNil bool) (*string, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// RawJSON stores raw JSON bytes as text, NULL (nil) when empty.
func RawJSON(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// BoolInt stores a flag as 0 or 1.
func BoolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Run decodes RunCols.
func Run(sc Scanner) (*cairn.Run, error) {
	var (
		r                                             cairn.Run
		state, trigger                                string
		params                                        []byte
		cancel, maxActive, maxActiveRuns              int64
		created, started, finished, ownerExpiry, slot sql.NullInt64
	)
	if err := sc.Scan(&r.ID, &r.Workflow, &r.Digest, &r.SourcePath, &r.Source, &params, &state, &maxActive, &cancel,
		&r.Error, &created, &started, &finished, &r.Owner, &ownerExpiry, &r.Version, &maxActiveRuns, &r.ReproduceOf, &trigger, &slot); err != nil {
		return nil, err
	}
	r.MaxActive, r.MaxActiveRuns = int(maxActive), int(maxActiveRuns)
	r.Trigger, r.ScheduledFor = cairn.Trigger(trigger), Time(slot)
	r.State = cairn.RunState(state)
	r.CancelRequested = cancel != 0
	r.CreatedAt, r.StartedAt, r.FinishedAt = Time(created), Time(started), Time(finished)
	r.OwnerExpiresAt = Time(ownerExpiry)
	if params != nil {
		if err := DecodeParams(params, &r.Params); err != nil {
			return nil, fmt.Errorf("decode params of run %s: %w", r.ID, err)
		}
	}
	return &r, nil
}

// DecodeParams decodes a run's params keeping integers exact: a seed of
// 2^53+1 comes back as the int64 it was, not as the nearest float64.
func DecodeParams(b []byte, params *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		return err
	}
	for k, v := range *params {
		(*params)[k] = exactNumbers(v)
	}
	return nil
}

// exactNumbers turns the json.Numbers in v into int64 where they are
// integers that fit, float64 where they have a fraction or an exponent,
// and leaves an integer beyond int64 a json.Number, exact, as the
// workflows package gives it (a seed of 2^64-1 stays that seed).
func exactNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if !strings.ContainsAny(string(v), ".eE") {
			return v
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = exactNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = exactNumbers(v[k])
		}
	}
	return v
}

// WorkItemStored sets it's Params and Inputs from a ready task run's
// stored values, as a lease hands them out; when they do not decode (a
// database changed by hand or damaged), it says which and why instead.
func WorkItemStored(it *cairn.WorkItem, params, inputs []byte) (badParams, badInputs bool, err error) {
	var why []string
	if params != nil {
		if json.Valid(params) {
			it.Params = json.RawMessage(params)
		} else {
			badParams = true
			why = append(why, "its stored params are not valid JSON")
		}
	}
	if inputs != nil {
		if err := DecodeMap(inputs, &it.Inputs); err != nil {
			badInputs = true
			why = append(why, fmt.Sprintf("its stored inputs do not decode: %v", err))
		}
	}
	if len(why) > 0 {
		return badParams, badInputs, errors.New(strings.Join(why, "; "))
	}
	return false, false, nil
}

// DecodeMap decodes the JSON object b into the zero map *m. The empty
// object — what a task without inputs stores, read back by every lease
// and completion — is made without the decoder: one allocation, not four.
func DecodeMap[V any](b []byte, m *map[string]V) error {
	if string(b) == "{}" {
		*m = map[string]V{}
		return nil
	}
	return json.Unmarshal(b, m)
}

// taskScan holds what TaskRun scans a row into: one allocation for all of
// it (each variable whose address Scan takes would otherwise be one), apart
// from the task run it returns, which does not keep it alive.
type taskScan struct {
	t                                                         cairn.TaskRun
	state                                                     string
	attempt, retries, maxIntr, intr, streak, round, fb, cache int64
	backoff, maxBackoff, timeout                              int64
	params, inputs, outputs, metrics                          []byte
	token, worker                                             sql.NullString
	retryAt, expires, started, finished                       sql.NullInt64
	labels, item                                              []byte
	items                                                     sql.NullInt64
	poolSlots, priority                                       int64
	dest                                                      [35]any
}

// TaskRun decodes TaskCols.
func TaskRun(sc Scanner) (*cairn.TaskRun, error) {
	return newTaskScan().decode(sc)
}

// TaskDecoder decodes the rows of a result of TaskCols one at a time, as
// TaskRun does, into storage it keeps from one row to the next: TaskRun
// allocates its scan storage (1.5 KiB) for every row. Its zero value is
// ready to use; it is not safe for concurrent use.
type TaskDecoder struct{ r *taskScan }

// Decode decodes the row sc is on.
func (d *TaskDecoder) Decode(sc Scanner) (*cairn.TaskRun, error) {
	if d.r == nil {
		d.r = newTaskScan()
	}
	return d.r.decode(sc)
}

// newTaskScan returns scan storage whose destinations point at its own
// fields.
func newTaskScan() *taskScan {
	r := new(taskScan)
	t := &r.t
	r.dest = [35]any{&t.RunID, &t.TaskID, &t.Type, &r.state, &r.attempt, &r.retries, &r.backoff, &t.Retry.Factor,
		&r.maxBackoff, &r.timeout, &r.params, &r.inputs, &r.outputs, &r.metrics, &t.Error, &r.retryAt, &r.token, &r.worker, &r.expires,
		&r.started, &r.finished, &t.Version, &r.maxIntr, &r.intr, &r.streak, &r.round, &r.fb, &r.cache, &r.labels, &t.Queue, &r.item, &r.items,
		&t.Pool, &r.poolSlots, &r.priority}
	return r
}

// decode scans the row sc is on into r and returns a task run of its own
// (r's storage is reused by the next row).
func (r *taskScan) decode(sc Scanner) (*cairn.TaskRun, error) {
	// The fields set below only when their column is not NULL (labels,
	// inputs, outputs, metrics, item, pool slots) must not keep the
	// previous row's.
	r.t = cairn.TaskRun{}
	t := &r.t
	if err := sc.Scan(r.dest[:]...); err != nil {
		return nil, err
	}
	if r.item != nil {
		t.Item = json.RawMessage(r.item)
	}
	t.Expanded, t.Items = r.items.Valid, int(r.items.Int64)
	if r.labels != nil {
		if err := json.Unmarshal(r.labels, &t.Labels); err != nil {
			return nil, fmt.Errorf("decode labels of %s/%s: %w", t.RunID, t.TaskID, err)
		}
	}
	t.Priority = int(r.priority)
	if t.Pool != "" {
		t.PoolSlots = int(r.poolSlots)
	}
	t.Attempt, t.Retry.Retries, t.Retry.MaxInterruptions = int(r.attempt), int(r.retries), int(r.maxIntr)
	t.Interrupted, t.InterruptedInARow, t.Round, t.FailedBefore, t.Cache = int(r.intr), int(r.streak), int(r.round), int(r.fb), r.cache != 0
	t.State = cairn.TaskState(r.state)
	t.Retry.Backoff, t.Retry.MaxBackoff, t.Timeout = time.Duration(r.backoff), time.Duration(r.maxBackoff), time.Duration(r.timeout)
	if r.params != nil {
		t.Params = json.RawMessage(r.params)
	}
	if r.inputs != nil {
		if err := DecodeMap(r.inputs, &t.Inputs); err != nil {
			return nil, fmt.Errorf("decode inputs of %s/%s: %w", t.RunID, t.TaskID, err)
		}
	}
	if r.outputs != nil {
		if err := DecodeMap(r.outputs, &t.Outputs); err != nil {
			return nil, fmt.Errorf("decode outputs of %s/%s: %w", t.RunID, t.TaskID, err)
		}
	}
	if r.metrics != nil {
		if err := DecodeMap(r.metrics, &t.Metrics); err != nil {
			return nil, fmt.Errorf("decode metrics of %s/%s: %w", t.RunID, t.TaskID, err)
		}
	}
	t.RetryAt, t.LeaseExpiresAt = Time(r.retryAt), Time(r.expires)
	t.StartedAt, t.FinishedAt = Time(r.started), Time(r.finished)
	t.LeaseToken, t.LeaseWorker = r.token.String, r.worker.String
	out := new(cairn.TaskRun)
	*out = *t
	return out, nil
}

// Attempt decodes AttemptCols, then extra.
func Attempt(sc Scanner, extra ...any) (*cairn.Attempt, error) {
	var (
		a                          cairn.Attempt
		state, plugin              string
		number, retryable, cached  int64
		started, running, finished sql.NullInt64
		exit                       sql.NullInt64
		params                     []byte
	)
	if err := sc.Scan(append([]any{&a.RunID, &a.TaskID, &number, &state, &a.Worker, &started, &running, &finished, &a.Error,
		&a.Stack, &retryable, &exit, &plugin, &a.Type, &a.Version, &params, &a.CacheKey, &a.CachedFrom.RunID,
		&a.CachedFrom.TaskID, &cached}, extra...)...); err != nil {
		return nil, err
	}
	a.Number, a.CachedFrom.Number = int(number), int(cached)
	if params != nil {
		a.Params = json.RawMessage(params)
	}
	if plugin != "" {
		a.Plugin = new(cairn.PluginRef)
		if err := json.Unmarshal([]byte(plugin), a.Plugin); err != nil {
			return nil, fmt.Errorf("attempt %d of %s/%s: plugin: %w", a.Number, a.RunID, a.TaskID, err)
		}
	}
	a.State = cairn.TaskState(state)
	a.StartedAt, a.RunningAt, a.FinishedAt = Time(started), Time(running), Time(finished)
	a.Retryable = retryable != 0
	if exit.Valid {
		c := int(exit.Int64)
		a.ExitCode = &c
	}
	return &a, nil
}

// Model decodes what ModelSelect reads.
func Model(sc Scanner) (*cairn.ModelVersion, error) {
	var (
		m                cairn.ModelVersion
		stage            string
		metrics, report  []byte
		created, changed int64
		version, attempt int64
	)
	if err := sc.Scan(&m.Name, &version, &m.Model.Digest, &stage, &metrics, &report, &m.Producer.RunID, &m.Producer.TaskID,
		&attempt, &created, &changed, &m.Model.Size, &m.Model.MediaType); err != nil {
		return nil, err
	}
	m.Version, m.Producer.Number = int(version), int(attempt)
	m.Stage = cairn.ModelStage(stage)
	m.CreatedAt, m.StageChangedAt = time.Unix(0, created).UTC(), time.Unix(0, changed).UTC()
	if metrics != nil {
		if err := json.Unmarshal(metrics, &m.Metrics); err != nil {
			return nil, fmt.Errorf("model %s@%d: decode metrics: %w", m.Name, m.Version, err)
		}
	}
	if report != nil {
		m.Report = new(cairn.ArtifactRef)
		if err := json.Unmarshal(report, m.Report); err != nil {
			return nil, fmt.Errorf("model %s@%d: decode report: %w", m.Name, m.Version, err)
		}
	}
	return &m, nil
}

// StageChange decodes version, from_stage, to_stage, reason, actor, at
// of model_stages.
func StageChange(sc Scanner) (cairn.ModelStageChange, error) {
	var (
		c           cairn.ModelStageChange
		from, to    string
		version, at int64
	)
	if err := sc.Scan(&version, &from, &to, &c.Reason, &c.Actor, &at); err != nil {
		return c, err
	}
	c.Version = int(version)
	c.From, c.To, c.At = cairn.ModelStage(from), cairn.ModelStage(to), time.Unix(0, at).UTC()
	return c, nil
}

// Artifact decodes ArtifactCols.
func Artifact(sc Scanner) (*cairn.ArtifactRecord, error) {
	var (
		a                cairn.ArtifactRecord
		attempt, created int64
	)
	if err := sc.Scan(&a.Digest, &a.Size, &a.MediaType, &a.Producer.RunID, &a.Producer.TaskID, &attempt, &created); err != nil {
		return nil, err
	}
	a.Producer.Number = int(attempt)
	a.CreatedAt = time.Unix(0, created).UTC()
	return &a, nil
}

// Edge decodes EdgeCols.
func Edge(sc Scanner) (cairn.LineageEdge, error) {
	var (
		e       cairn.LineageEdge
		attempt int64
	)
	err := sc.Scan(&e.Attempt.RunID, &e.Attempt.TaskID, &attempt, &e.Direction, &e.Port, &e.Digest)
	e.Attempt.Number = int(attempt)
	return e, err
}

// LineageRun decodes id, workflow, digest, state, created_at,
// reproduce_of of runs.
func LineageRun(sc Scanner) (*cairn.LineageRun, error) {
	var (
		r       cairn.LineageRun
		state   string
		created int64
	)
	if err := sc.Scan(&r.ID, &r.Workflow, &r.Digest, &state, &created, &r.ReproduceOf); err != nil {
		return nil, err
	}
	r.State = cairn.RunState(state)
	r.CreatedAt = time.Unix(0, created).UTC()
	return &r, nil
}

// FindCachedCols is what Cached decodes, of attempts.
const FindCachedCols = `run_id, task_id, number, type, outputs, metrics`

// Cached decodes FindCachedCols, an earlier success a cache key found.
func Cached(sc Scanner) (cairn.CachedAttempt, error) {
	var (
		c                cairn.CachedAttempt
		number           int64
		outputs, metrics []byte
	)
	if err := sc.Scan(&c.Attempt.RunID, &c.Attempt.TaskID, &number, &c.Type, &outputs, &metrics); err != nil {
		return c, err
	}
	c.Attempt.Number = int(number)
	if outputs != nil {
		if err := json.Unmarshal(outputs, &c.Outputs); err != nil {
			return c, fmt.Errorf("decode outputs of %s: %w", c.Attempt, err)
		}
	}
	if metrics != nil {
		if err := json.Unmarshal(metrics, &c.Metrics); err != nil {
			return c, fmt.Errorf("decode metrics of %s: %w", c.Attempt, err)
		}
	}
	return c, nil
}

// Rows is a result being read: *sql.Rows, pgx.Rows.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect reads every row of rs with scan, in order: never nil when it
// succeeds. The caller closes rs and translates its driver's errors.
func Collect[T any](rs Rows, scan func(Scanner) (T, error)) ([]T, error) {
	out := []T{}
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// The rows a run's summary reads (Store.SummaryTaskRuns, both stores):
// SummaryCounted keeps the task runs counted per state (not a for_each
// task that has items: cairn.TaskRun.Counted), SummaryShown those the
// summary may print a line of — the failed ones, and the succeeded ones
// of type deploy, with metrics or with a "passed" output (a gate's). Both
// are conditions on task_runs' own columns. Outputs and metrics are JSON
// objects as text, written by encoding/json: a key "passed" appears as
// such, and an empty object as {}; what else matches (a value holding
// "passed") is more than the summary needs, never less.
const (
	SummaryCounted = `(items IS NULL OR items = 0)`
	SummaryShown   = `(state = 'failed' OR (state = 'succeeded' AND (type = 'deploy'
	OR coalesce(metrics, '{}') <> '{}' OR coalesce(outputs, '') LIKE '%"passed"%')))`
)

// StateCounts reads the rows (state, count) of a GROUP BY state into a
// map. The caller closes rs and translates its driver's errors.
func StateCounts(rs Rows) (map[cairn.TaskState]int, error) {
	out := map[cairn.TaskState]int{}
	for rs.Next() {
		var (
			state string
			n     int
		)
		if err := rs.Scan(&state, &n); err != nil {
			return nil, err
		}
		out[cairn.TaskState(state)] = n
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Sources reads the rows (path, source) of run_sources into a map (a
// run's sub-workflow files, scheduler.RunStore's RunSources). The caller
// closes rs and translates its driver's errors.
func Sources(rs Rows) (map[string][]byte, error) {
	out := map[string][]byte{}
	for rs.Next() {
		var rel string
		var src []byte
		if err := rs.Scan(&rel, &src); err != nil {
			return nil, err
		}
		out[rel] = src
	}
	return out, rs.Err()
}
