package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// TestScanReadyRawAsScan: the lease's selection of ready tasks read past
// database/sql (scanReady) gives the items, pool slots and bad rows
// that database/sql's Scan gives (scanReadyByScan), for tasks with every column
// it reads set — params and inputs or none, retries, a backoff factor
// whole or not, interruptions, a cache, a pool — and rows whose params or
// inputs are not valid JSON; and refuses what Scan refuses (a boolean
// stored as 2).
func TestScanReadyRawAsScan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_700_000_000, 0)
	run := &cairn.Run{ID: "r1", Workflow: "wf", State: cairn.RunRunning, CreatedAt: now, Params: map[string]any{}, Pools: map[string]int{"gpus": 2}}
	var trs []*cairn.TaskRun
	for i, tc := range []struct {
		params json.RawMessage
		inputs map[string]cairn.ArtifactRef
		retry  cairn.RetryPolicy
		cache  bool
		pool   string
	}{
		{},
		{params: json.RawMessage(`{"argv":["/bin/true"],"n":1.5}`), retry: cairn.RetryPolicy{Retries: 3, Backoff: time.Second, Factor: 2, MaxBackoff: time.Minute, MaxInterruptions: 4}},
		{params: json.RawMessage(`{}`), inputs: map[string]cairn.ArtifactRef{}, retry: cairn.RetryPolicy{Retries: 1, Factor: 1.5}, cache: true},
		{inputs: map[string]cairn.ArtifactRef{"x": {Digest: "sha256:" + strings.Repeat("ab", 32), Size: 7, MediaType: "text/csv"}}},
		{params: json.RawMessage(`{"gpu":"a\u00e9\"q"}`), pool: "gpus"},
		{params: json.RawMessage(`{"fine":true}`)},
		{params: json.RawMessage(`{"fine":true}`)},
	} {
		trs = append(trs, &cairn.TaskRun{RunID: run.ID, TaskID: "t" + string(rune('a'+i)), Type: "noop", State: cairn.TaskReady,
			Params: tc.params, Inputs: tc.inputs, Retry: tc.retry, Cache: tc.cache, Pool: tc.pool, PoolSlots: 1, Timeout: time.Duration(i) * time.Second})
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		// Values no task is created with, and rows a lease must fail.
		for _, q := range []string{
			`UPDATE task_runs SET interrupted = 2, interrupted_streak = 1, failed_before = 5, attempt = 3 WHERE task_id = 'tb'`,
			`UPDATE task_runs SET params = '{not json' WHERE task_id = 'tf'`,
			`UPDATE task_runs SET inputs = '[1,' WHERE task_id = 'tg'`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		for _, limit := range []int{1, 3, 100} {
			m, err := s.leaseMode(ctx, tx)
			if err != nil {
				return err
			}
			rooms, err := s.poolRooms(ctx, tx, now)
			if err != nil {
				return err
			}
			query, args := leaseSelect(cairn.LeaseRequest{Worker: "w", Max: limit}, m, rooms)
			st, err := s.txStmt(ctx, tx, query)
			if err != nil {
				return err
			}
			items, slots, bad, err := scanReadyByScan(ctx, st, append([]any(nil), args...), limit)
			if err != nil {
				return err
			}
			ritems, rslots, rbad, err := s.scanReady(query, append([]any(nil), args...), limit)
			if err != nil {
				return err
			}
			if len(items)+len(bad) == 0 {
				t.Fatalf("limit %d: nothing selected (the test reads it wrongly)", limit)
			}
			if !reflect.DeepEqual(items, ritems) || !reflect.DeepEqual(slots, rslots) {
				t.Errorf("limit %d: Scan read\n%+v %v\npast database/sql\n%+v %v", limit, items, slots, ritems, rslots)
			}
			if len(bad) != len(rbad) {
				t.Errorf("limit %d: %d bad rows by Scan, %d past database/sql", limit, len(bad), len(rbad))
			}
			for i := range min(len(bad), len(rbad)) {
				a, b := bad[i], rbad[i]
				if a.runID != b.runID || a.taskID != b.taskID || a.badParams != b.badParams || a.badInputs != b.badInputs || a.err.Error() != b.err.Error() {
					t.Errorf("limit %d: bad row %+v by Scan, %+v past database/sql", limit, a, b)
				}
			}
			if limit == 100 && (len(bad) != 2 || len(items) != 5) {
				t.Errorf("limit 100: %d items and %d bad rows, want 5 and 2", len(items), len(bad))
			}
		}
		// A value Scan refuses is refused.
		if _, err := tx.ExecContext(ctx, `PRAGMA ignore_check_constraints = 1`); err != nil {
			return err
		}
		defer tx.ExecContext(ctx, `PRAGMA ignore_check_constraints = 0`)
		if _, err := tx.ExecContext(ctx, `UPDATE task_runs SET cache = 2 WHERE task_id = 'ta'`); err != nil {
			return err
		}
		m, _ := s.leaseMode(ctx, tx)
		rooms, _ := s.poolRooms(ctx, tx, now)
		query, args := leaseSelect(cairn.LeaseRequest{Worker: "w", Max: 100}, m, rooms)
		st, err := s.txStmt(ctx, tx, query)
		if err != nil {
			return err
		}
		if _, _, _, err := scanReadyByScan(ctx, st, append([]any(nil), args...), 100); err == nil {
			t.Error("cache = 2: Scan read it (the test reads it wrongly)")
		}
		if _, _, _, err := s.scanReady(query, append([]any(nil), args...), 100); err == nil {
			t.Error("cache = 2: read past database/sql, Scan refuses it")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// scanReadyByScan is scanReady through database/sql, each value
// converted by its Scan: the reference scanReady's conversions (rawCols)
// must agree with.
func scanReadyByScan(ctx context.Context, st *sql.Stmt, args []any, limit int) (items []cairn.WorkItem, slots []int, bad []badRow, err error) {
	rows, err := st.QueryContext(ctx, append(args, limit)...)
	if err != nil {
		return nil, nil, nil, translate(err)
	}
	defer rows.Close()
	items, slots = make([]cairn.WorkItem, 0, readyCap(limit)), make([]int, 0, readyCap(limit))
	var v struct {
		params, inputs               []byte
		timeout, backoff, maxBackoff int64
		poolSlots                    int
	}
	for rows.Next() {
		items = append(items, cairn.WorkItem{})
		it := &items[len(items)-1]
		if err := rows.Scan(&it.Lease.RunID, &it.Lease.TaskID, &it.Lease.Attempt, &it.Type, &v.params, &v.inputs,
			&v.timeout, &it.Retry.Retries, &v.backoff, &it.Retry.Factor, &v.maxBackoff, &it.Retry.MaxInterruptions,
			&it.Interrupted, &it.InterruptedInARow, &it.FailedBefore, &it.Cache, &it.Pool, &v.poolSlots); err != nil {
			return nil, nil, nil, translate(err)
		}
		if badParams, badInputs, err := sqlrow.WorkItemStored(it, v.params, v.inputs); err != nil {
			bad = append(bad, badRow{runID: it.Lease.RunID, taskID: it.Lease.TaskID, badParams: badParams, badInputs: badInputs, err: err})
			items = items[:len(items)-1]
			continue
		}
		it.Timeout, it.Retry.Backoff, it.Retry.MaxBackoff = time.Duration(v.timeout), time.Duration(v.backoff), time.Duration(v.maxBackoff)
		it.PoolSlots = v.poolSlots
		slots = append(slots, v.poolSlots)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, translate(err)
	}
	return items, slots, bad, nil
}
