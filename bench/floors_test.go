package bench

// The physical floors of issue #18: what the machine itself charges for the
// work a Cairn figure cannot avoid, measured in the same run as the figure
// so that a figure is judged as a ratio to its floor, which a change of
// machine (or of the machine's load) moves together with the figure.
//
// The SQLite floors talk to mattn/go-sqlite3 directly, outside the store
// package that is otherwise its only home (deps_test.go checks non-test
// imports only): a floor must not include the code it is the floor of.

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/cairnml/cairn/migrations"
)

// forkExecSerial is the floor of a chain of shell tasks: n fork/execs of
// /bin/true from Go, one after the other.
func forkExecSerial(b *testing.B, n int) time.Duration {
	b.Helper()
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatalf("fork/exec floor: /bin/true: %v", err)
		}
	}
	return time.Since(start)
}

// forkExecParallel is the floor of n independent shell tasks: n fork/execs
// of /bin/true spread over runtime.NumCPU() goroutines.
func forkExecParallel(b *testing.B, n int) time.Duration {
	b.Helper()
	workers := runtime.NumCPU()
	next := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		next <- struct{}{}
	}
	close(next)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := exec.Command("/bin/true").Run(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("parallel fork/exec floor: /bin/true: %v", err)
	}
	return took
}

// bareDB opens a new SQLite file as Cairn's store does (WAL,
// synchronous=NORMAL, foreign keys, one writer connection) with Cairn's
// own schema (every migration, indexes included: Cairn pays for them on
// every write too), and one run row for the task runs to belong to.
func bareDB(b *testing.B) (*sql.DB, *sql.Conn) {
	return bareDBOn(b, "")
}

// bareDBOn is bareDB on the SQLite VFS named vfs ("": SQLite's default).
func bareDBOn(b *testing.B, vfs string) (*sql.DB, *sql.Conn) {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "floor.db")
	dsn := path + "?_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=on&_busy_timeout=5000"
	if vfs != "" {
		dsn += "&vfs=" + vfs
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		b.Fatalf("bare sqlite: %v", err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatalf("bare sqlite: %v", err)
	}
	b.Cleanup(func() { conn.Close() })
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		b.Fatalf("bare sqlite: journal mode %q, %v; want wal", mode, err)
	}
	files, err := fs.Glob(migrations.SQLite(), "*.sql")
	if err != nil {
		b.Fatalf("bare sqlite: migrations: %v", err)
	}
	sort.Strings(files)
	for _, f := range files {
		src, err := fs.ReadFile(migrations.SQLite(), f)
		if err != nil {
			b.Fatalf("bare sqlite: %s: %v", f, err)
		}
		if _, err := conn.ExecContext(ctx, string(src)); err != nil {
			b.Fatalf("bare sqlite: apply %s: %v", f, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO runs (id, workflow, state, created_at, started_at, version)
		VALUES ('r', 'floor', 'running', 1, 1, 1)`); err != nil {
		b.Fatalf("bare sqlite: insert run: %v", err)
	}
	return db, conn
}

// insertTasks inserts task runs t0..t(n-1) of run 'r' in state, each with
// an attempt row (state 'running') when running.
func insertTasks(b *testing.B, conn *sql.Conn, n int, state string) {
	b.Helper()
	ctx := context.Background()
	mustExec(b, conn, "BEGIN IMMEDIATE")
	ins, err := conn.PrepareContext(ctx, `INSERT INTO task_runs (run_id, task_id, seq, type, state, attempt,
		lease_token, lease_worker, lease_expires_at, started_at, version) VALUES ('r', ?, ?, 'noop', ?, ?, ?, ?, ?, ?, 1)`)
	if err != nil {
		b.Fatal(err)
	}
	defer ins.Close()
	att, err := conn.PrepareContext(ctx, `INSERT INTO attempts (run_id, task_id, number, state, worker, token, started_at, running_at)
		VALUES ('r', ?, 1, 'running', 'w', ?, 1, 1)`)
	if err != nil {
		b.Fatal(err)
	}
	defer att.Close()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("t%d", i)
		var args []any
		if state == "running" {
			args = []any{id, i, state, 1, "tok-" + id, "w", int64(1) << 62, 1}
		} else {
			args = []any{id, i, state, 0, nil, nil, nil, nil}
		}
		if _, err := ins.ExecContext(ctx, args...); err != nil {
			b.Fatalf("insert task run: %v", err)
		}
		if state == "running" {
			if _, err := att.ExecContext(ctx, id, "tok-"+id); err != nil {
				b.Fatalf("insert attempt: %v", err)
			}
		}
	}
	mustExec(b, conn, "COMMIT")
}

func mustExec(b *testing.B, conn *sql.Conn, q string, args ...any) {
	b.Helper()
	if _, err := conn.ExecContext(context.Background(), q, args...); err != nil {
		b.Fatalf("%s: %v", q, err)
	}
}

// execOne runs a prepared compare-and-set write that must change one row.
func execOne(b *testing.B, st *sql.Stmt, what string, args ...any) {
	b.Helper()
	res, err := st.ExecContext(context.Background(), args...)
	if err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		b.Fatalf("%s: %d rows, %v; want 1", what, n, err)
	}
}

// bareHops runs a chain of n hops on a new database and returns the time of
// the hops alone (the schema and the task rows are written first, outside
// the timing). One hop is one transaction doing the work the store must
// commit before the successor may start, with prepared statements:
//
//  1. UPDATE task_runs: the predecessor succeeded (compare-and-set on its
//     state and lease token; outputs, finished_at, lease cleared);
//  2. UPDATE attempts: its attempt succeeded;
//  3. INSERT evaluations: the completion's evaluation (Store.Complete
//     records one with every completion);
//  4. UPDATE task_runs: the successor, pending, is leased and running (made
//     ready and leased in one statement: the least a hop can write);
//  5. INSERT attempts: the successor's attempt;
//
// then COMMIT: three updates and two inserts, as issue #18 measures it. The
// values are fixed strings and integers: no JSON is encoded.
func bareHops(b *testing.B, n int) time.Duration {
	b.Helper()
	took, _, _ := bareHopsBetween(b, n, nil)
	return took
}

// bareHopsBetween is bareHops calling between (when not nil) after each
// hop's commit, outside the timing of the transactions: it returns the
// whole loop's time, the transactions' own (from BEGIN to the end of
// COMMIT) and the CPU time of this thread in them (RUSAGE_THREAD; the
// goroutine is locked to its thread for the loop).
func bareHopsBetween(b *testing.B, n int, between func()) (took, inTx, txCPU time.Duration) {
	b.Helper()
	return bareHopsOn(b, n, between, "")
}

// bareHopsOn is bareHopsBetween on the SQLite VFS named vfs ("": SQLite's
// default).
func bareHopsOn(b *testing.B, n int, between func(), vfs string) (took, inTx, txCPU time.Duration) {
	b.Helper()
	ctx := context.Background()
	_, conn := bareDBOn(b, vfs)
	insertTasks(b, conn, n+1, "pending")
	mustExec(b, conn, `UPDATE task_runs SET state = 'running', attempt = 1, lease_token = 'tok-t0', lease_worker = 'w',
		lease_expires_at = ?, started_at = 1, version = version + 1 WHERE run_id = 'r' AND task_id = 't0'`, int64(1)<<62)
	mustExec(b, conn, `INSERT INTO attempts (run_id, task_id, number, state, worker, token, started_at, running_at)
		VALUES ('r', 't0', 1, 'running', 'w', 'tok-t0', 1, 1)`)
	prep := func(q string) *sql.Stmt {
		st, err := conn.PrepareContext(ctx, q)
		if err != nil {
			b.Fatalf("prepare %s: %v", q, err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	complete := prep(`UPDATE task_runs SET state = 'succeeded', outputs = '{}', finished_at = ?, lease_token = NULL,
		lease_worker = NULL, lease_expires_at = NULL, version = version + 1
		WHERE run_id = 'r' AND task_id = ? AND attempt = 1 AND lease_token = ? AND state = 'running'`)
	finish := prep(`UPDATE attempts SET state = 'succeeded', finished_at = ?, exit_code = 0
		WHERE run_id = 'r' AND task_id = ? AND number = 1`)
	eval := prep(`INSERT INTO evaluations (run_id, reason, task_id, writer, created_at, due_at)
		VALUES ('r', 'completed', ?, 'w', ?, ?)`)
	lease := prep(`UPDATE task_runs SET state = 'running', attempt = 1, lease_token = ?, lease_worker = 'w',
		lease_expires_at = ?, started_at = ?, version = version + 1
		WHERE run_id = 'r' AND task_id = ? AND state = 'pending'`)
	start := prep(`INSERT INTO attempts (run_id, task_id, number, state, worker, token, started_at, running_at)
		VALUES ('r', ?, 1, 'running', 'w', ?, ?, ?)`)
	begin, commit := prep("BEGIN IMMEDIATE"), prep("COMMIT")
	ids := make([]string, n+1)
	toks := make([]string, n+1)
	for i := range ids {
		ids[i], toks[i] = fmt.Sprintf("t%d", i), fmt.Sprintf("tok-t%d", i)
	}
	if between != nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	var ru0, ru1 syscall.Rusage
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if between != nil {
			between()
			syscall.Getrusage(syscall.RUSAGE_THREAD, &ru0)
		}
		tx0 := time.Now()
		now := tx0.UnixNano()
		if _, err := begin.ExecContext(ctx); err != nil {
			b.Fatalf("begin: %v", err)
		}
		execOne(b, complete, "complete", now, ids[i], toks[i])
		execOne(b, finish, "finish attempt", now, ids[i])
		execOne(b, eval, "insert evaluation", ids[i], now, now)
		execOne(b, lease, "lease successor", toks[i+1], now+int64(time.Minute), now, ids[i+1])
		execOne(b, start, "insert attempt", ids[i+1], toks[i+1], now, now)
		if _, err := commit.ExecContext(ctx); err != nil {
			b.Fatalf("commit: %v", err)
		}
		inTx += time.Since(tx0)
		if between != nil {
			syscall.Getrusage(syscall.RUSAGE_THREAD, &ru1)
			txCPU += time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		}
	}
	return time.Since(t0), inTx, txCPU
}

// Batched completion styles.
const (
	perRow   = "per-row"   // one prepared UPDATE per task run and per attempt
	setBased = "set-based" // one UPDATE ... FROM (VALUES ...) per table per batch
)

// bareBatched completes n running task runs (and their attempts) in
// commits of batch completions each and returns the time of the commits
// alone. A completion is the compare-and-set of the task run (running with
// this lease token to succeeded, lease cleared) and its attempt's update.
// style says how a batch is written: perRow (2 × batch statements) or
// setBased (2 statements).
func bareBatched(b *testing.B, n, batch int, style string) time.Duration {
	b.Helper()
	ctx := context.Background()
	_, conn := bareDB(b)
	insertTasks(b, conn, n, "running")
	prep := func(q string) *sql.Stmt {
		st, err := conn.PrepareContext(ctx, q)
		if err != nil {
			b.Fatalf("prepare %s: %v", q, err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	begin, commit := prep("BEGIN IMMEDIATE"), prep("COMMIT")
	ids := make([]string, n)
	toks := make([]string, n)
	for i := range ids {
		ids[i], toks[i] = fmt.Sprintf("t%d", i), fmt.Sprintf("tok-t%d", i)
	}
	var write func(now int64, lo, hi int)
	switch style {
	case perRow:
		complete := prep(`UPDATE task_runs SET state = 'succeeded', outputs = '{}', finished_at = ?, lease_token = NULL,
			lease_worker = NULL, lease_expires_at = NULL, version = version + 1
			WHERE run_id = 'r' AND task_id = ? AND attempt = 1 AND lease_token = ? AND state = 'running'`)
		finish := prep(`UPDATE attempts SET state = 'succeeded', finished_at = ?, exit_code = 0
			WHERE run_id = 'r' AND task_id = ? AND number = 1`)
		write = func(now int64, lo, hi int) {
			for i := lo; i < hi; i++ {
				execOne(b, complete, "complete", now, ids[i], toks[i])
				execOne(b, finish, "finish attempt", now, ids[i])
			}
		}
	case setBased:
		stmts := map[int][2]*sql.Stmt{}
		get := func(k int) [2]*sql.Stmt {
			if s, ok := stmts[k]; ok {
				return s
			}
			pairs := strings.TrimSuffix(strings.Repeat("(?, ?),", k), ",")
			ones := strings.TrimSuffix(strings.Repeat("(?),", k), ",")
			s := [2]*sql.Stmt{
				prep(`UPDATE task_runs SET state = 'succeeded', outputs = '{}', finished_at = ?, lease_token = NULL,
					lease_worker = NULL, lease_expires_at = NULL, version = version + 1
					FROM (VALUES ` + pairs + `) AS v
					WHERE task_runs.run_id = 'r' AND task_runs.task_id = v.column1 AND task_runs.attempt = 1
					AND task_runs.lease_token = v.column2 AND task_runs.state = 'running'`),
				prep(`UPDATE attempts SET state = 'succeeded', finished_at = ?, exit_code = 0
					WHERE run_id = 'r' AND number = 1 AND task_id IN (VALUES ` + ones + `)`),
			}
			stmts[k] = s
			return s
		}
		write = func(now int64, lo, hi int) {
			s := get(hi - lo)
			runs := make([]any, 0, 1+2*(hi-lo))
			atts := make([]any, 0, 1+hi-lo)
			runs, atts = append(runs, now), append(atts, now)
			for i := lo; i < hi; i++ {
				runs = append(runs, ids[i], toks[i])
				atts = append(atts, ids[i])
			}
			for j, args := range [][]any{runs, atts} {
				res, err := s[j].ExecContext(ctx, args...)
				if err != nil {
					b.Fatalf("set-based completion: %v", err)
				}
				if got, err := res.RowsAffected(); err != nil || got != int64(hi-lo) {
					b.Fatalf("set-based completion: %d rows, %v; want %d", got, err, hi-lo)
				}
			}
		}
	default:
		b.Fatalf("batched commit: no style %q", style)
	}
	t0 := time.Now()
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		if _, err := begin.ExecContext(ctx); err != nil {
			b.Fatalf("begin: %v", err)
		}
		write(time.Now().UnixNano(), lo, hi)
		if _, err := commit.ExecContext(ctx); err != nil {
			b.Fatalf("commit: %v", err)
		}
	}
	took := time.Since(t0)
	var left int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM task_runs WHERE state != 'succeeded'`).Scan(&left); err != nil || left != 0 {
		b.Fatalf("batched commit: %d task runs not succeeded, %v", left, err)
	}
	return took
}
