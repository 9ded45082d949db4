package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Set-based writes: one statement over many rows, its rows given as a
// VALUES list in a common table expression (`WITH v(...) AS (VALUES ...)
// UPDATE ... FROM v`). A list is padded with rows of NULLs up to a power of
// two, which match no row, so that a handful of statement texts — one per
// size — serve every batch and stay prepared on the writer.
//
// The updates of task_runs on the write path of every attempt (the
// completion, the lease, the plan's changes and hand-outs) are UPDATE OR
// FAIL: a statement that may write many rows (a list, or a RETURNING
// clause, which SQLite runs as a trigger) and may abort on a constraint
// (task_runs' CHECKs) opens a statement journal, a copy of every page it
// changes, to undo its own rows alone; under FAIL it opens none. Nothing
// here needs that undo: none of these statements changes a key, so their
// only possible constraint errors are CHECK and NOT NULL ones, which are
// failures of the database that roll back the whole request (its
// savepoint or its transaction), never refusals it goes on after. On a
// chain this saves six page copies a hop.

// maxSetRows bounds the rows of one set-based statement (SQLite allows
// 32,766 bound values; the widest list here has 14 columns). Each padded
// size is prepared once a process, and a large one is dear to prepare: the
// completion's list of 512 rows 1.4–4.3 ms, of 256 0.6–2.1 ms, of 64 0.2–
// 0.8 ms (about 25 ms of a 10,000-task cairn run went to the 128- to
// 512-row statements), while a statement's own cost past its rows is a few
// µs. With 64, a 10,000-task fan ran 0.485 → 0.455 s (12 alternating
// pairs), a 100,000-task one 3.75 → 3.50 s (3 pairs).
const maxSetRows = 64

// setSize is the padded number of rows for n.
func setSize(n int) int {
	size := 1
	for size < n {
		size *= 2
	}
	return size
}

var valuesCache sync.Map // "rows,cols" → the VALUES list's text

// valuesList returns "(?, ?), (?, ?), ..." for rows rows of cols values.
func valuesList(rows, cols int) string {
	key := fmt.Sprint(rows, ",", cols)
	if s, ok := valuesCache.Load(key); ok {
		return s.(string)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	s := strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
	valuesCache.Store(key, s)
	return s
}

// padArgs appends NULL rows to args (rows of cols values) up to size rows.
func padArgs(args []any, rows, size, cols int) []any {
	for i := rows * cols; i < size*cols; i++ {
		args = append(args, nil)
	}
	return args
}

// eachChunk calls fn for xs cut in chunks of at most maxSetRows, with
// each chunk's padded size (setSize), and stops at its first error.
func eachChunk[T any](xs []T, fn func(chunk []T, size int) error) error {
	for start := 0; start < len(xs); start += maxSetRows {
		chunk := xs[start:min(start+maxSetRows, len(xs))]
		if err := fn(chunk, setSize(len(chunk))); err != nil {
			return err
		}
	}
	return nil
}

// completeManyCols is the width of a row of completeManyQuery's list.
const completeManyCols = 11

// leaseCond is the condition on a lease's expiry, at time ?, a check
// accepts.
func leaseCond(check leaseCheck, t string) string {
	switch check {
	case leaseExpired:
		return t + `.lease_expires_at <= ?`
	case leaseAny:
		return `? IS NOT NULL`
	}
	return t + `.lease_expires_at > ?`
}

// completeManyQuery ends the leases of a list of completions that check
// accepts, for size rows.
func completeManyQuery(size int, check leaseCheck) string {
	return checkedQuery("complete", size, check, buildCompleteMany)
}

const completeManyList = "run_id, task_id, attempt, token, state, outputs, metrics, error, retry_at, finished, intr"

// completeSet is what a completion writes to its task run
// (sqlrow.Finish.Completed builds the row it leaves).
var completeSet = `UPDATE OR FAIL task_runs SET state = v.state, outputs = v.outputs, metrics = v.metrics, error = v.error, retry_at = v.retry_at,
	finished_at = coalesce(v.finished, task_runs.finished_at), lease_token = NULL, lease_worker = NULL,
	lease_expires_at = NULL, attempt_started_at = NULL, attempt_running_at = NULL, ` + sqlrow.HoldOnCancel("v.state", "task_runs") + `,
	interrupted = task_runs.interrupted + v.intr, interrupted_streak = (task_runs.interrupted_streak + 1) * v.intr,
	version = task_runs.version + 1
FROM v WHERE task_runs.run_id = v.run_id AND task_runs.task_id = v.task_id AND task_runs.attempt = v.attempt
	AND task_runs.lease_token = v.token AND task_runs.state IN ('leased', 'running') AND `

func buildCompleteMany(size int, check leaseCheck) string {
	return setQuery(size, completeManyList, completeSet+leaseCond(check, "task_runs")+`
RETURNING `+qualifiedTaskCols)
}

// completeKnownQuery is completeManyQuery for one completion whose task
// run the caller knows at a version (sqlrow.Finish.Known), given after
// the list's columns: the same write as a compare-and-set on that
// version too, and nothing returned. A RETURNING clause makes SQLite
// collect the rows in an ephemeral table, and decoding the 35 columns
// of one through database/sql was most of a chain hop's completion
// (callgrind: the statement, its row and the decode 103k of the 167k
// instructions of the completion's writes a hop); the row it would
// return is the known one as the write leaves it.
//
// For more than one row it returns the keys of the rows it wrote (the
// count alone would not say which), two columns rather than the 35 of
// the rows.
func completeKnownQuery(size int, check leaseCheck) string {
	return checkedQuery("complete known", size, check, func(size int, check leaseCheck) string {
		body := completeSet + leaseCond(check, "task_runs") + `
	AND task_runs.version = v.known_version`
		if size > 1 {
			body += `
RETURNING task_runs.run_id, task_runs.task_id`
		}
		return setQuery(size, completeManyList+", known_version", body)
	})
}

// completeKnownCols is the width of a row of completeKnownQuery's list.
const completeKnownCols = completeManyCols + 1

// completeKnown writes the completions of chunk whose task run is known
// (sqlrow.Finish.Known) with completeKnownQuery, gives done each task run
// so written, built from the known one, and returns the completions left
// for completeManyQuery (in chunk's order) and how many it wrote.
func (s *Store) completeKnown(ctx context.Context, tx *sql.Conn, chunk []sqlrow.Finish, now time.Time, check leaseCheck,
	done func(*cairn.TaskRun)) (rest []sqlrow.Finish, written int64, err error) {
	var known []*sqlrow.Finish
	for i := range chunk {
		if chunk[i].Known != nil {
			known = append(known, &chunk[i])
		}
	}
	if len(known) == 0 {
		return chunk, 0, nil
	}
	size := setSize(len(known))
	args := s.argList(size*completeKnownCols + 1)
	defer func() { s.keepArgs(args) }()
	for _, r := range known {
		args = append(args, r.Lease.RunID, r.Lease.TaskID, r.Lease.Attempt, r.Lease.Token, string(r.State), r.Outputs,
			r.Metrics, r.ErrText, r.RetryAt, r.TaskFinished, r.Interrupted, r.Known.Version)
	}
	args = append(padArgs(args, len(known), size, completeKnownCols), now.UnixNano())
	build := func(r *sqlrow.Finish) error {
		t, err := r.Completed(r.Known)
		if err != nil {
			return err
		}
		if s.checkKnown != nil {
			if err := s.checkKnown(ctx, tx, t); err != nil {
				return err
			}
		}
		done(t)
		return nil
	}
	wrote := make(map[*sqlrow.Finish]bool, len(known))
	if len(known) == 1 {
		n, err := s.exec(ctx, tx, completeKnownQuery(1, check), args...)
		if err != nil {
			return nil, 0, err
		}
		if n == 1 {
			wrote[known[0]] = true
		}
	} else {
		type key struct{ run, task string }
		by := make(map[key]*sqlrow.Finish, len(known))
		for _, r := range known {
			by[key{r.Lease.RunID, r.Lease.TaskID}] = r
		}
		each := func(k key) error {
			r := by[k]
			if r == nil || wrote[r] {
				return fmt.Errorf("complete %d known task runs: the write returned %s/%s, not one of them or twice", len(known), k.run, k.task)
			}
			wrote[r] = true
			return nil
		}
		// Past database/sql (queryRawRows): the 12 values of each row
		// and the two it returns are not converted by reflection.
		err := s.queryRawRows(completeKnownQuery(size, check), args, 2, func(v []driver.Value) error {
			run, ok1 := rawText(v[0])
			task, ok2 := rawText(v[1])
			if !ok1 || !ok2 {
				return fmt.Errorf("complete %d known task runs: the write returned %T, %T, not two texts", len(known), v[0], v[1])
			}
			return each(key{run, task})
		})
		if err != nil {
			return nil, 0, err
		}
	}
	for _, r := range known {
		if wrote[r] {
			if err := build(r); err != nil {
				return nil, 0, err
			}
		}
	}
	if len(wrote) == len(chunk) {
		return nil, int64(len(wrote)), nil
	}
	rest = make([]sqlrow.Finish, 0, len(chunk)-len(wrote))
	for i := range chunk {
		if !wrote[&chunk[i]] {
			rest = append(rest, chunk[i])
		}
	}
	return rest, int64(len(wrote)), nil
}

// rawText is a TEXT value as go-sqlite3 gives it, a string or []byte.
func rawText(v driver.Value) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case []byte:
		return string(t), true
	}
	return "", false
}

// qualifiedTaskCols is sqlrow.TaskCols naming task_runs, for statements that
// join it with others.
var qualifiedTaskCols = "task_runs." + strings.Join(strings.Split(strings.ReplaceAll(sqlrow.TaskCols, "\n\t", " "), ", "), ", task_runs.")

// endAttemptsCols is the width of a row of endAttemptsQuery's list.
const endAttemptsCols = 18

// endAttemptsQuery writes the attempts of a list of completions that
// check accepts, as they ended, for size rows: each attempt's one write,
// made before its task run lets go of the lease, the worker and the
// times it copies.
func endAttemptsQuery(size int, check leaseCheck) string {
	return checkedQuery("end attempts", size, check, buildEndAttempts)
}

func buildEndAttempts(size int, check leaseCheck) string {
	return setQuery(size, "run_id, task_id, number, token, state, finished_at, error, stack, retryable, exit_code, plugin, version, cache_key, cached_run, cached_task, cached_attempt, outputs, metrics", `INSERT INTO attempts (run_id, task_id, number, state, worker, token, started_at, running_at, finished_at, error, stack,
	retryable, exit_code, plugin, type, version, params, cache_key, cached_run, cached_task, cached_attempt, outputs, metrics)
SELECT t.run_id, t.task_id, t.attempt, v.state, t.lease_worker, t.lease_token, t.attempt_started_at, t.attempt_running_at,
	v.finished_at, v.error, v.stack, v.retryable, v.exit_code, v.plugin, t.type, v.version, t.params, v.cache_key,
	v.cached_run, v.cached_task, v.cached_attempt, v.outputs, v.metrics
FROM v JOIN task_runs t ON t.run_id = v.run_id AND t.task_id = v.task_id AND t.attempt = v.number AND t.lease_token = v.token
WHERE t.state IN ('leased', 'running') AND `+leaseCond(check, "t"))
}

// completeMany records completions under leases check accepts (live
// ones for Complete) in a few statements whatever their number: each is as
// Complete or Expire (without its evaluation). It returns per completion the task run as stored, or the
// error that refused it alone (cairn.ErrLeaseLost, a value that does not
// encode); err is a failure of the database, after which the transaction
// cannot be trusted.
func (s *Store) completeMany(ctx context.Context, tx *sql.Conn, fs []scheduler.Finish, now time.Time, check leaseCheck) (trs []*cairn.TaskRun, errs []error, err error) {
	trs, errs = make([]*cairn.TaskRun, len(fs)), make([]error, len(fs))
	type key struct{ run, task string }
	at := make(map[key]int, len(fs)) // the position of each task's completion
	rows := make([]sqlrow.Finish, 0, len(fs))
	for i, f := range fs {
		r, err := sqlrow.EncodeFinish(f.Lease, f.Completion, now)
		if k := f.Known; k != nil && k.RunID == f.Lease.RunID && k.TaskID == f.Lease.TaskID && k.Attempt == f.Lease.Attempt &&
			k.LeaseToken == f.Lease.Token && k.Version > 0 {
			r.Known = k
		}
		k := key{f.Lease.RunID, f.Lease.TaskID}
		if _, dup := at[k]; dup && err == nil {
			// Two reports for one task: the first decides, the second
			// finds the lease gone, as it would one statement later.
			err = cairn.ErrLeaseLost
		}
		if err != nil {
			errs[i] = fmt.Errorf("complete attempt %s: %w", leaseName(f.Lease), err)
			continue
		}
		at[k] = i
		rows = append(rows, r)
	}
	err = eachChunk(rows, func(chunk []sqlrow.Finish, size int) error {
		// The attempts first: the update lets go of what they copy.
		args := s.argList(size*endAttemptsCols + 1)
		defer func() { s.keepArgs(args) }()
		for _, r := range chunk {
			args = append(args, r.Lease.RunID, r.Lease.TaskID, r.Lease.Attempt, r.Lease.Token, string(r.AttemptState), r.FinishedAt, r.ErrText,
				r.Stack, r.Retryable, r.Exit, r.Plugin, r.Version, r.CacheKey, r.Cached.RunID, r.Cached.TaskID, r.Cached.Number,
				r.AttemptOutputs, r.AttemptMetrics)
		}
		args = append(padArgs(args, len(chunk), size, endAttemptsCols), now.UnixNano())
		ended, err := s.exec(ctx, tx, endAttemptsQuery(size, check), args...)
		if err != nil {
			return fmt.Errorf("write attempts: %w", err)
		}
		// The completions whose task run is known (a chain's hop, a
		// task its run's plan or queue lease handed out in this
		// process) are written as a compare-and-set on that version,
		// their rows built rather than read back; the rest, and those
		// whose version moved (a start, a retry by hand, a takeover),
		// by the statement below, which reads the rows or refuses.
		rest, known, err := s.completeKnown(ctx, tx, chunk, now, check, func(t *cairn.TaskRun) { trs[at[key{t.RunID, t.TaskID}]] = t })
		if err != nil {
			return err
		}
		if len(rest) == 0 {
			if known != ended {
				return fmt.Errorf("complete %d attempts: %d task runs ended but %d attempts written", len(chunk), known, ended)
			}
			return nil
		}
		if len(rest) < len(chunk) {
			chunk, size = rest, setSize(len(rest))
		}
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r.Lease.RunID, r.Lease.TaskID, r.Lease.Attempt, r.Lease.Token, string(r.State), r.Outputs, r.Metrics,
				r.ErrText, r.RetryAt, r.TaskFinished, r.Interrupted)
		}
		args = append(padArgs(args, len(chunk), size, completeManyCols), now.UnixNano())
		res, err := s.query(ctx, tx, completeManyQuery(size, check), args...)
		if err != nil {
			return err
		}
		defer res.Close()
		n := int64(0)
		for res.Next() {
			t, err := s.tdec.Decode(res)
			if err != nil {
				return translate(err)
			}
			trs[at[key{t.RunID, t.TaskID}]] = t
			n++
		}
		if err := res.Err(); err != nil {
			return translate(err)
		}
		// The writer lock is held: the statements saw the same rows.
		if n+known != ended {
			return fmt.Errorf("complete %d attempts: %d task runs ended but %d attempts written", len(chunk)+int(known), n+known, ended)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	refused := false
	for i := range fs {
		if trs[i] == nil && errs[i] == nil {
			errs[i] = fmt.Errorf("complete attempt %s: %w", leaseName(fs[i].Lease), cairn.ErrLeaseLost)
			refused = true
		}
	}
	if refused && check == leaseLive {
		// A worker's report of an attempt its run's cancel ended: its
		// process is gone, and so is its hold on its pool's slots.
		if _, err := s.releaseHolds(ctx, tx, fs, errs); err != nil {
			return nil, nil, fmt.Errorf("release the pool slots of cancelled attempts: %w", err)
		}
	}
	ended := make([]sqlrow.Ended, 0, len(rows))
	for i := range rows {
		if t := trs[at[key{rows[i].Lease.RunID, rows[i].Lease.TaskID}]]; t != nil {
			ended = append(ended, sqlrow.Ended{F: &rows[i], TR: t})
		}
	}
	if err := s.recordLineage(ctx, tx, ended, now); err != nil {
		return nil, nil, err
	}
	return trs, errs, nil
}

// CompleteMany is Complete for many completions in one transaction and a
// few statements, each with its evaluation as Complete records it.
func (s *Store) CompleteMany(ctx context.Context, fs []scheduler.Finish, now time.Time) ([]*cairn.TaskRun, []error, error) {
	var (
		trs  []*cairn.TaskRun
		errs []error
	)
	err := s.inTxCAS(ctx, func(ctx context.Context, tx *sql.Conn) error {
		var err error
		if trs, errs, err = s.completeMany(ctx, tx, fs, now, leaseLive); err != nil {
			return err
		}
		for i, f := range fs {
			if trs[i] == nil {
				continue
			}
			if _, err := s.addEvaluation(ctx, tx, completionEval(f.Lease, f.Completion, now, scheduler.EvalCompleted)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("complete %d attempts: %w", len(fs), err)
	}
	return trs, errs, nil
}

func (b *batchTx) CompleteMany(fs []scheduler.Finish, now time.Time) ([]*cairn.TaskRun, []error, error) {
	var (
		trs  []*cairn.TaskRun
		errs []error
	)
	// Refusals write nothing and are reported per item: the call fails
	// only when the database does, which breaks the transaction anyway.
	err := b.run(func(ctx context.Context, tx *sql.Conn) error {
		var err error
		trs, errs, err = b.s.completeMany(ctx, tx, fs, now, leaseLive)
		return err
	}, true)
	if err != nil {
		return nil, nil, fmt.Errorf("complete %d attempts: %w", len(fs), err)
	}
	return trs, errs, nil
}

var checkedQueries sync.Map // checkedKey → the statement's text

type checkedKey struct {
	name  string
	size  int
	check leaseCheck
}

// checkedQuery returns build(size, check), built once: a statement whose
// text depends on a lease check is put together from parts, and a hop
// must not pay for that.
func checkedQuery(name string, size int, check leaseCheck, build func(int, leaseCheck) string) string {
	k := checkedKey{name, size, check}
	if q, ok := checkedQueries.Load(k); ok {
		return q.(string)
	}
	q := build(size, check)
	checkedQueries.Store(k, q)
	return q
}

// sizedQueries holds one set-based statement's texts by padded size (a
// power of two, setSize), each built once: a statement whose body is put
// together from parts at the call (a var, sqlrow.HoldOnCancel) built and
// hashed its ~700 bytes for setQuery's cache at every call — the hand-out
// of every chain hop (1.8k instructions).
type sizedQueries struct {
	texts [bits.UintSize]atomic.Pointer[string]
}

// get returns the text for size, from build the first time.
func (q *sizedQueries) get(size int, build func(size int) string) string {
	if size <= 0 || size&(size-1) != 0 {
		return build(size) // not a padded size: setQuery's own cache
	}
	t := &q.texts[bits.TrailingZeros(uint(size))]
	if p := t.Load(); p != nil {
		return *p
	}
	text := build(size)
	t.Store(&text)
	return text
}

var setQueries sync.Map // setQueryKey → the statement's text

type setQueryKey struct {
	body string
	size int
}

// setQuery is the text of a set-based statement over size rows whose
// columns are cols ("run_id, task_id, ..."), named v.COL in body, and
// whose other values are body's own "?"s, after the rows'. Over two rows
// or more it is "WITH v(cols) AS (VALUES ...) body". Over one it is body
// alone, its v.COL the row's numbered values and its own "?"s numbered
// after them, with the same arguments: SQLite runs an UPDATE ... FROM a
// one-row VALUES list at two to three times the cost of the plain
// statement (the list is materialized), and a chain's hop is all one-row
// statements. body joins v in one of two ways, which the plain text
// rewrites: "FROM v WHERE" (an UPDATE), or "FROM v JOIN task_runs t ON
// ... \nWHERE ..." (an INSERT ... SELECT).
func setQuery(size int, cols, body string) string {
	k := setQueryKey{body, size}
	if q, ok := setQueries.Load(k); ok {
		return q.(string)
	}
	names := strings.Split(cols, ", ")
	var q string
	if size > 1 {
		q = "WITH v(" + cols + ") AS (VALUES " + valuesList(size, len(names)) + ")\n" + body
	} else {
		q = plainQuery(body, names)
	}
	setQueries.Store(k, q)
	return q
}

// plainQuery is body for one row (see setQuery).
func plainQuery(body string, names []string) string {
	var sb strings.Builder
	next := len(names)
	for i := 0; i < len(body); i++ {
		if body[i] == '?' {
			next++
			sb.WriteByte('?')
			sb.WriteString(strconv.Itoa(next))
			continue
		}
		sb.WriteByte(body[i])
	}
	q := sb.String()
	q = strings.Replace(q, "FROM v JOIN task_runs t ON ", "FROM task_runs t WHERE ", 1)
	if strings.Contains(body, "FROM v JOIN ") {
		q = strings.Replace(q, "\nWHERE ", "\n\tAND ", 1)
	}
	q = strings.Replace(q, "FROM v WHERE ", "WHERE ", 1)
	return replaceVColumns(q, func(name string) string {
		for i, n := range names {
			if n == name {
				return "?" + strconv.Itoa(i+1)
			}
		}
		panic("sqlite: set-based statement names v." + name + ", not one of its columns " + strings.Join(names, ", "))
	})
}

// replaceVColumns returns q with each reference to a column of a
// set-based statement's list, v.COL, replaced by f(COL): what the regular
// expression \bv\.[a-z_]+\b matches — a "v." after no word character,
// then lower-case letters and underscores, then no word character — found
// by hand, as a regular expression's matching cost about 4 % of the
// instructions of a one-task cairn run (each statement's text is made
// once per process).
func replaceVColumns(q string, f func(col string) string) string {
	var sb strings.Builder
	last := 0
	for i := 0; i+2 < len(q); i++ {
		if q[i] != 'v' || q[i+1] != '.' || (i > 0 && isWordByte(q[i-1])) {
			continue
		}
		j := i + 2
		for j < len(q) && (q[j] >= 'a' && q[j] <= 'z' || q[j] == '_') {
			j++
		}
		if j == i+2 || (j < len(q) && isWordByte(q[j])) {
			continue
		}
		sb.WriteString(q[last:i])
		sb.WriteString(f(q[i+2 : j]))
		last, i = j, j-1
	}
	if last == 0 {
		return q
	}
	sb.WriteString(q[last:])
	return sb.String()
}

// isWordByte reports whether c is an ASCII word character ([0-9A-Za-z_],
// as \b of Go's regular expressions has it).
func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}
