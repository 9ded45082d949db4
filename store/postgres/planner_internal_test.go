package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/postgres/pgtest"
)

// TestReadyQueuePlans: on a table whose statistics do not know its ready
// tasks (never analyzed, as after a burst of runs), the lease's select and
// the look for a ready task run after indexPlanner walk the ready queue's
// index in its order and stop at what they take: no bitmap scan of every
// ready row, no sort of them.
func TestReadyQueuePlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	for r := range 4 {
		run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "wf", State: cairn.RunRunning, CreatedAt: now}
		var trs []*cairn.TaskRun
		for i := range 2000 {
			trs = append(trs, &cairn.TaskRun{TaskID: fmt.Sprintf("t%d", i), Type: "noop", State: cairn.TaskReady})
		}
		if err := s.CreateRun(ctx, run, trs); err != nil {
			t.Fatalf("run %d: %v", r, err)
		}
	}
	explain := func(t *testing.T, query string, args []any) string {
		t.Helper()
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, indexPlanner); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	ordered := regexp.MustCompile(`Index (Only )?Scan using task_runs_ready`)
	for name, r := range map[string]cairn.LeaseRequest{
		"any run":   {Worker: "w", Max: 16},
		"a run":     {Worker: "w", Max: 16, RunID: "r"},
		"a route":   {Worker: "w", Max: 16, Labels: map[string]string{"gpu": "a100"}, Queues: []string{"fast"}},
		"any tasks": {Worker: "w", Max: 16, AnyTask: true},
		// An owner's lease (a server's own pool) goes through its runs
		// (runs_owner), then each one's ready tasks in order: sorted
		// together, but never a bitmap scan of every ready row.
		"an owner": {Worker: "w", Max: 16, Owner: "o"},
	} {
		t.Run(name, func(t *testing.T) {
			q, args := leaseSelect(r, leaseMode{}, nil)
			plan := explain(t, q, append(args, r.Max))
			if !ordered.MatchString(plan) || strings.Contains(plan, "Bitmap") || (r.Owner == "" && strings.Contains(plan, "Sort")) {
				t.Errorf("the lease's plan does not walk the ready queue in order:\n%s", plan)
			}
			// The lease's select and claim in one statement (leaseFirst):
			// the same walk, and each row claimed where the walk locked it.
			q, args, _ = s.leaseFirstQuery(r, r.Holders(r.Max), claim{state: cairn.TaskLeased, now: now, ttl: time.Minute})
			if plan := explain(t, q, args); !ordered.MatchString(plan) || strings.Contains(plan, "Bitmap") ||
				!strings.Contains(plan, "Tid Scan") {
				t.Errorf("the lease's select and claim do not walk the ready queue in order and claim by ctid:\n%s", plan)
			}
			q, args = anyReadyQuery(r)
			if plan := explain(t, q, args); !ordered.MatchString(plan) || strings.Contains(plan, "Bitmap") {
				t.Errorf("the look for a ready task does not stop at the first:\n%s", plan)
			}
		})
	}
}
