package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// TestReadsOnIdleWriterOpenNoConnection: the reads of a one-task run (the
// evaluations' cursor and poll, the lease's look for ready tasks, the
// pools', the summary) and a re-run's cache lookups (FindCached) run on
// the writer's connection while no write holds it, and
// the read pool opens no connection, whose opening parses the whole
// schema again. A read that meets a write reads on the pool, which keeps
// its connection for the reads after; a read on the writer is not begun
// for a cancelled context.
func TestReadsOnIdleWriterOpenNoConnection(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "one", State: cairn.RunRunning, CreatedAt: now}
	trs := []*cairn.TaskRun{{RunID: run.ID, TaskID: "a", Type: "noop", State: cairn.TaskReady}}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	reads := func() {
		t.Helper()
		if _, err := s.LastEvaluation(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Evaluations(ctx, 0, 10); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.anyReady(ctx, cairn.LeaseRequest{RunID: run.ID, AnyTask: true}); err != nil || !ok {
			t.Fatalf("anyReady: %v, %v; want the ready task", ok, err)
		}
		if waiting, err := s.PoolWaiting(ctx); err != nil || waiting {
			t.Fatalf("PoolWaiting: %v, %v; want false", waiting, err)
		}
		counts, shown, err := s.SummaryTaskRuns(ctx, run.ID)
		if err != nil || counts[cairn.TaskReady] != 1 {
			t.Fatalf("SummaryTaskRuns: %v, %v, %v; want one ready task", counts, shown, err)
		}
		if hits, err := s.FindCached(ctx, "sha256:"+strings.Repeat("ab", 32), 4); err != nil || len(hits) != 0 {
			t.Fatalf("FindCached: %v, %v; want no hit", hits, err)
		}
	}
	reads()
	if n := s.r.Stats().OpenConnections; n != 0 {
		t.Fatalf("the reads of an idle store opened %d read connections, want none", n)
	}

	// A read that meets a write in progress (its lock held) reads beside
	// it, on the pool.
	s.wmu.Lock()
	done := make(chan error, 1)
	go func() {
		_, err := s.LastEvaluation(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		s.wmu.Unlock()
		t.Fatal("a read waited for the write in progress")
	}
	s.wmu.Unlock()
	if n := s.r.Stats().OpenConnections; n != 1 {
		t.Fatalf("a read beside a write: %d read connections open, want 1", n)
	}
	// The reads after go on on the pool, not on the writer.
	delete(s.wstmt, `SELECT EXISTS (SELECT 1 FROM task_runs WHERE pool != '' AND state = 'ready')`)
	reads()
	if _, onWriter := s.wstmt[`SELECT EXISTS (SELECT 1 FROM task_runs WHERE pool != '' AND state = 'ready')`]; onWriter {
		t.Error("a read after the pool opened a connection ran on the writer")
	}

	// On the writer, a cancelled context's read does not run.
	s2, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s2.LastEvaluation(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("LastEvaluation on a cancelled context: %v, want context.Canceled", err)
	}
	if n := s2.r.Stats().OpenConnections; n != 0 {
		t.Errorf("a cancelled read opened %d read connections, want none", n)
	}
}

// TestSummaryReadsShownOnlyWhenAny: the summary of a run whose task runs
// all plainly succeeded prepares one statement (its counts); the shown
// task runs' statement only for a run that has any (storetest checks
// what both read).
func TestSummaryReadsShownOnlyWhenAny(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prepared := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.wstmt) + len(s.rstmt)
	}
	now := time.Now()
	plain := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "one", State: cairn.RunSucceeded, CreatedAt: now}
	if err := s.CreateRun(ctx, plain, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskSucceeded}}); err != nil {
		t.Fatal(err)
	}
	failed := &cairn.Run{ID: cairn.NewRunID(now.Add(time.Millisecond)), Workflow: "one", State: cairn.RunFailed, CreatedAt: now}
	if err := s.CreateRun(ctx, failed, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskFailed, Error: "boom"}}); err != nil {
		t.Fatal(err)
	}
	before := prepared()
	counts, shown, err := s.SummaryTaskRuns(ctx, plain.ID)
	if err != nil || counts[cairn.TaskSucceeded] != 1 || len(shown) != 0 {
		t.Fatalf("plain run: %v, %v, %v", counts, shown, err)
	}
	if n := prepared() - before; n != 1 {
		t.Errorf("the summary of a plain run prepared %d statements, want 1", n)
	}
	counts, shown, err = s.SummaryTaskRuns(ctx, failed.ID)
	if err != nil || counts[cairn.TaskFailed] != 1 || len(shown) != 1 || shown[0].Error != "boom" {
		t.Fatalf("failed run: %v, %v, %v", counts, shown, err)
	}
	if n := prepared() - before; n != 2 {
		t.Errorf("with a failed run's summary, %d statements prepared, want 2", n)
	}
}
