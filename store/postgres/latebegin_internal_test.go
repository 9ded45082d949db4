package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres/pgtest"
)

// tripTracer records what each round trip to the server carried: a
// statement alone, or a batch's statements.
type tripTracer struct {
	mu    sync.Mutex
	trips [][]string
}

func (r *tripTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips = append(r.trips, []string{first(d.SQL)})
	return ctx
}

func (r *tripTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *tripTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips = append(r.trips, nil)
	return ctx
}

func (r *tripTracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips[len(r.trips)-1] = append(r.trips[len(r.trips)-1], first(d.SQL))
}

func (r *tripTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *tripTracer) take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.trips
	r.trips = nil
	return t
}

// first is a statement's first word, in lower case.
func first(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(f[0])
}

// tracedStore is a store on dsn's database, migrated, whose connections
// report their round trips to the tracer returned.
func tracedStore(t *testing.T, dsn string) (*Store, *tripTracer) {
	t.Helper()
	ctx := context.Background()
	m, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	tr := &tripTracer{}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{pool: pool, db: retryDB{pool}}
	t.Cleanup(func() { s.Close() })
	return s, tr
}

// TestBeginGoesWithFirstBatch: a Batch whose first call sends a batch of
// statements (a Lease: the planner's settings and the lease) begins its
// transaction in that round trip — BEGIN first in it, no round trip of
// its own —, and a Batch that runs nothing sends nothing.
func TestBeginGoesWithFirstBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	s, tr := tracedStore(t, dsn)
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunRunning, CreatedAt: now}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskReady}}); err != nil {
		t.Fatal(err)
	}
	tr.take()
	var items []cairn.WorkItem
	if err := s.Batch(ctx, func(tx scheduler.Tx) error {
		var err error
		items, err = tx.Lease(cairn.LeaseRequest{Worker: "w", Max: 1}, now, time.Minute)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Fatalf("leased %d tasks, want 1", len(items))
	}
	trips := tr.take()
	if len(trips) != 2 || len(trips[0]) < 2 || trips[0][0] != "begin" || len(trips[1]) != 1 || trips[1][0] != "commit" {
		t.Fatalf("round trips of a Batch of one Lease: %q; want [begin, the lease's statements...] then [commit]", trips)
	}
	if err := s.Batch(ctx, func(scheduler.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if trips := tr.take(); len(trips) != 0 {
		t.Fatalf("round trips of an empty Batch: %q; want none", trips)
	}
	// A Batch whose first statement goes alone begins first, as before;
	// its writes commit.
	if err := s.Batch(ctx, func(tx scheduler.Tx) error {
		_, err := tx.AddEvaluation(scheduler.Evaluation{RunID: run.ID, Reason: scheduler.EvalCompleted, CreatedAt: now, DueAt: now})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if trips := tr.take(); len(trips) < 3 || trips[0][0] != "begin" || trips[len(trips)-1][0] != "commit" {
		t.Fatalf("round trips of a Batch of one evaluation: %q; want begin, its statements, commit", trips)
	}
	evs, err := s.Evaluations(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Reason == scheduler.EvalCompleted {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("evaluations: %v; want the one added", evs)
	}
}

// TestRunOwnerFromCompletion: in a Batch, the owner of a run a
// CompleteMany of the batch completed a task of comes from the
// completion's own statement, which locked the run's row FOR SHARE (a
// claim by another transaction waits): RunOwner then sends nothing. A run
// the batch wrote since (ClaimRun) is read again.
func TestRunOwnerFromCompletion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	s, tr := tracedStore(t, dsn)
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunRunning, CreatedAt: now}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "a", Type: "noop", State: cairn.TaskReady},
		{TaskID: "b", Type: "noop", State: cairn.TaskReady}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimRun(ctx, run.ID, "o1", now, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", Max: 2}, now, time.Hour)
	if err != nil || len(items) != 2 {
		t.Fatalf("lease: %v, %v", items, err)
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	tr.take()
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		trs, errs, err := tx.CompleteMany([]scheduler.Finish{{Lease: items[0].Lease, Completion: cairn.Completion{State: cairn.TaskSucceeded}}}, now)
		if err != nil || errs[0] != nil || trs[0] == nil {
			t.Fatalf("complete: %v, %v", errs, err)
		}
		before := len(tr.take())
		owner, err := tx.RunOwner(run.ID)
		if err != nil || owner != "o1" {
			t.Fatalf("RunOwner: %q, %v; want o1", owner, err)
		}
		if trips := tr.take(); len(trips) != 0 || before != 1 {
			t.Errorf("round trips: %d for the completion (want 1, BEGIN in it), %q for RunOwner (want none)", before, trips)
		}
		// The run's row is locked FOR SHARE: a claim waits.
		_, lerr := admin.Exec(ctx, `SELECT 1 FROM runs WHERE id = $1 FOR UPDATE NOWAIT`, run.ID)
		if lerr == nil || !strings.Contains(lerr.Error(), "55P03") {
			t.Errorf("lock of the run's row from another session: %v; want it refused (55P03, lock not available)", lerr)
		}
		// Written by the batch: read again.
		if _, err := tx.ClaimRun(run.ID, "o2", now, time.Hour, true); err != nil {
			t.Fatal(err)
		}
		tr.take()
		if owner, err := tx.RunOwner(run.ID); err != nil || owner != "o2" {
			t.Fatalf("RunOwner after a claim in the batch: %q, %v; want o2", owner, err)
		}
		if trips := tr.take(); len(trips) != 1 {
			t.Errorf("round trips of RunOwner after a claim: %q; want one", trips)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
