package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
)

// TestCreateRunFreshRows: task runs as a new run has them are inserted
// binding only what differs between them, the other columns left to their
// defaults; the rows must be those the statement binding every column
// writes (a batch holding one task that is not fresh takes that one),
// column by column, types included.
func TestCreateRunFreshRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cairn.db")
	s := open(t, path)
	ctx := context.Background()
	fresh := func() []*cairn.TaskRun {
		var ts []*cairn.TaskRun
		for i := range 10 {
			ts = append(ts, &cairn.TaskRun{TaskID: fmt.Sprintf("t%d", i), Type: "noop", State: cairn.TaskPending,
				Retry:   cairn.RetryPolicy{Retries: i, Backoff: time.Duration(i) * time.Second, Factor: 1.5, MaxBackoff: time.Hour, MaxInterruptions: i % 3},
				Timeout: time.Duration(i) * time.Minute})
		}
		return ts
	}
	a := &cairn.Run{ID: "run-fresh", Workflow: "w", State: cairn.RunQueued, CreatedAt: benchNow}
	if err := s.CreateRun(ctx, a, fresh()); err != nil {
		t.Fatal(err)
	}
	b := &cairn.Run{ID: "run-mixed", Workflow: "w", State: cairn.RunQueued, CreatedAt: benchNow}
	mixed := append(fresh(), &cairn.TaskRun{TaskID: "skipped", Type: "noop", State: cairn.TaskSkipped, Error: "when: false"})
	if err := s.CreateRun(ctx, b, mixed); err != nil {
		t.Fatal(err)
	}
	db := sqlite.RawDB(t, path)
	defer db.Close()
	var cols []string
	rows, err := db.Query(`SELECT name FROM pragma_table_info('task_runs') WHERE name != 'run_id' ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, "quote("+c+")")
	}
	rows.Close()
	if len(cols) < 25 {
		t.Fatalf("task_runs has %d columns", len(cols))
	}
	read := func(run string) []string {
		rows, err := db.Query(`SELECT `+strings.Join(cols, " || '|' || ")+` FROM task_runs WHERE run_id = ? AND task_id != 'skipped' ORDER BY seq`, run)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	got, want := read("run-fresh"), read("run-mixed")
	if len(got) != 10 || len(want) != 10 {
		t.Fatalf("%d and %d rows", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("row %d:\nfresh %s\nall   %s", i, got[i], want[i])
		}
	}
	// And they read back as they were given.
	trs, err := s.ListTaskRuns(ctx, "run-fresh")
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range trs {
		f := fresh()[i]
		if tr.TaskID != f.TaskID || tr.Retry != f.Retry || tr.Timeout != f.Timeout || tr.State != cairn.TaskPending || tr.Version != 1 ||
			tr.Params != nil || tr.Inputs != nil || tr.Outputs != nil || tr.Error != "" || !tr.StartedAt.IsZero() {
			t.Errorf("task %d read back as %+v", i, tr)
		}
	}
}

// BenchmarkCreateRun100k creates a run of 100,000 task runs as a new run
// of a workflow has them (pending, nothing resolved yet).
func BenchmarkCreateRun100k(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		run := benchRun(b, i)
		tasks := make([]*cairn.TaskRun, 100_000)
		for j := range tasks {
			tasks[j] = &cairn.TaskRun{TaskID: fmt.Sprintf("t%d", j), Type: "noop", State: cairn.TaskPending,
				Retry: cairn.RetryPolicy{Factor: 1}}
		}
		b.StartTimer()
		if err := s.CreateRun(ctx, run, tasks); err != nil {
			b.Fatal(err)
		}
	}
}
