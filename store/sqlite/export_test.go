package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Pragmas reads the writer connection's settings that Open must have set.
func (s *Store) Pragmas(ctx context.Context, t testing.TB) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, p := range []string{"journal_mode", "foreign_keys", "synchronous", "busy_timeout"} {
		var v any
		if err := s.wc.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", p, err)
		}
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		out[p] = v
	}
	// The read pool must enforce foreign keys too and refuse writes.
	var fk int
	if err := s.r.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("read pool foreign_keys = %d, %v", fk, err)
	}
	if _, err := s.r.ExecContext(ctx, "DELETE FROM runs"); err == nil {
		t.Error("read pool accepted a write")
	}
	return out
}

// ExecForTest runs a statement on the writer in a transaction.
func (s *Store) ExecForTest(ctx context.Context, query string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		_, err := tx.ExecContext(ctx, query)
		return translate(err)
	})
}

// RawDB opens path with the driver alone, bypassing migrations.
func RawDB(t testing.TB, path string) *sql.DB {
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// PanicInTx runs a write transaction whose body panics after a write.
func (s *Store) PanicInTx(ctx context.Context) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM runs"); err != nil {
			return err
		}
		panic("bug in a transaction body")
	})
}

// ErrPanicked is errPanicked, for tests.
var ErrPanicked = errPanicked

// HoldWriter runs a write transaction whose body blocks until release is
// called, so that every write made meanwhile waits in the queue. It
// returns once the body runs; release returns once that transaction has
// committed and passed the lead on.
func (s *Store) HoldWriter(t testing.TB) (release func()) {
	t.Helper()
	started, rel, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.inTx(context.Background(), func(ctx context.Context, tx *sql.Conn) error {
			close(started)
			<-rel
			return nil
		})
	}()
	<-started
	var once sync.Once
	return func() {
		once.Do(func() {
			close(rel)
			if err := <-done; err != nil {
				t.Errorf("the holding transaction: %v", err)
			}
		})
	}
}

// Queued is how many write requests wait for their turn.
func (s *Store) Queued() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue)
}

// LongOpens is how many opens of an existing database went past
// upToDate's one read.
func LongOpens() int64 { return longOpens.Load() }

// KillAtCreateStep makes this process kill itself (SIGKILL) when Open's
// making of a new database reaches step ("written": the image is in the
// file under its temporary name; "synced": that file is durable, not yet
// linked into place).
func KillAtCreateStep(step string) {
	createStep = func(at string) {
		if at == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

// EphemeralTables counts the ephemeral tables the program of query opens
// (EXPLAIN's OpenEphemeral) as the writer connection compiles it.
func (s *Store) EphemeralTables(ctx context.Context, query string) (int, error) {
	n := 0
	err := s.onWriter(func(c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, "EXPLAIN "+query)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		for rows.Next() {
			if err := rows.Scan(vals...); err != nil {
				return err
			}
			if op, _ := (*vals[1].(*any)).(string); op == "OpenEphemeral" {
				n++
			}
		}
		return rows.Err()
	})
	return n, err
}

// CheckKnownCompletions makes every completion whose task run the store
// builds from its caller's copy (sqlrow.Finish.Completed), rather than
// reads, read the row in its transaction and compare: each difference is
// reported to failed. It returns the count of completions so built.
func (s *Store) CheckKnownCompletions(failed func(format string, args ...any)) *atomic.Int64 {
	n := new(atomic.Int64)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.checkKnown = func(ctx context.Context, tx *sql.Conn, built *cairn.TaskRun) error {
		n.Add(1)
		rows, err := s.query(ctx, tx, `SELECT `+sqlrow.TaskCols+` FROM task_runs WHERE run_id = ? AND task_id = ?`, built.RunID, built.TaskID)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return fmt.Errorf("task run %s/%s not found: %w", built.RunID, built.TaskID, rows.Err())
		}
		stored, err := sqlrow.TaskRun(rows)
		if err != nil {
			return err
		}
		if d := taskRunDiff(built, stored); d != "" {
			failed("completion of %s/%s#%d: the task run built differs from the row: %s", built.RunID, built.TaskID, built.Attempt, d)
		}
		return nil
	}
	return n
}

// taskRunDiff names the fields of a and b that differ, times compared as
// instants.
func taskRunDiff(a, b *cairn.TaskRun) string {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	var diffs []string
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if ta, ok := fa.(time.Time); ok {
			if !ta.Equal(fb.(time.Time)) {
				diffs = append(diffs, fmt.Sprintf("%s %v, stored %v", va.Type().Field(i).Name, fa, fb))
			}
			continue
		}
		if !reflect.DeepEqual(fa, fb) {
			diffs = append(diffs, fmt.Sprintf("%s %#v, stored %#v", va.Type().Field(i).Name, fa, fb))
		}
	}
	return strings.Join(diffs, "; ")
}
