package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/mattn/go-sqlite3"
)

// TestHopStatementsNotReprepared: the statements of every commit on the
// hop's path stay prepared when their bound values change. SQLite plans
// some statements with the values bound to them (a plain `LIMIT ?`, a
// parameter compared with a partial index's term) and then prepares them
// again — parse and plan, about the cost of running them — whenever a
// different value is bound. Each statement here runs three times with
// different values; SQLite's count of its re-preparations
// (SQLITE_STMTSTATUS_REPREPARE, which the driver keeps) must stay 0.
func TestHopStatementsNotReprepared(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lease := func(r cairn.LeaseRequest, pooled, priority bool) func(i int) (string, []any) {
		return func(i int) (string, []any) {
			q, args := leaseSelect(r, leaseMode{pooled: pooled, priority: priority}, map[string]*poolRoom{})
			return q, append(args, i+1)
		}
	}
	fixed := func(q func(int) string, size int) func(i int) (string, []any) {
		return func(i int) (string, []any) {
			text := q(size)
			args := make([]any, params(text))
			for j := range args {
				args[j] = int64(i*100 + j)
			}
			return text, args
		}
	}
	stmts := map[string]func(i int) (string, []any){
		"lease of a run":             lease(cairn.LeaseRequest{RunID: "r", AnyTask: true}, false, false),
		"lease of a run, owned":      lease(cairn.LeaseRequest{RunID: "r", Owner: "o"}, false, false),
		"lease of an owner's runs":   lease(cairn.LeaseRequest{Owner: "o"}, false, false),
		"lease of any run":           lease(cairn.LeaseRequest{}, false, false),
		"lease of a run, routed":     lease(cairn.LeaseRequest{RunID: "r", Queues: []string{"q"}, Labels: map[string]string{"k": "v"}}, false, false),
		"lease, routed":              lease(cairn.LeaseRequest{Queues: []string{"q"}, Labels: map[string]string{"k": "v"}}, false, false),
		"lease, priorities":          lease(cairn.LeaseRequest{}, false, true),
		"lease of a run, priorities": lease(cairn.LeaseRequest{RunID: "r"}, false, true),
		"expired leases":             func(i int) (string, []any) { return expiredLeasesQuery, []any{int64(i), i + 1} },
		"expired leases of a run":    func(i int) (string, []any) { return expiredRunLeasesQuery, []any{int64(i), "r", i + 1} },
		"lease mode":                 func(int) (string, []any) { return leaseModeQuery, nil },
		"any ready":                  func(int) (string, []any) { return anyReadyQuery(cairn.LeaseRequest{RunID: "r"}) },
		"claim ready, 8":             fixed(claimReadyQuery, 8),
		"claim ready, 1":             fixed(claimReadyQuery, 1),
		"complete, 8":                fixed(func(n int) string { return completeManyQuery(n, leaseLive) }, 8),
		"complete, 1":                fixed(func(n int) string { return completeManyQuery(n, leaseLive) }, 1),
		"end attempts, 8":            fixed(func(n int) string { return endAttemptsQuery(n, leaseLive) }, 8),
		"end attempts, 1":            fixed(func(n int) string { return endAttemptsQuery(n, leaseLive) }, 1),
		"ready change, 8":            fixed(readyChangeQuery, 8),
		"end change, 8":              fixed(endChangeQuery, 8),
		"lease change, 8":            fixed(leaseChangeQuery, 8),
		"lease change, 1":            fixed(leaseChangeQuery, 1),
	}
	c := s.wc
	for name, stmt := range stmts {
		err := c.Raw(func(dc any) error {
			conn, ok := dc.(*sqlite3.SQLiteConn)
			if !ok {
				return errors.New("the writer's connection is not go-sqlite3's")
			}
			text, _ := stmt(0)
			st, err := conn.Prepare(text)
			if err != nil {
				return err
			}
			defer st.Close()
			for i := range 3 {
				_, args := stmt(i)
				named := make([]driver.NamedValue, len(args))
				for j, a := range args {
					v, err := driver.DefaultParameterConverter.ConvertValue(a)
					if err != nil {
						return err
					}
					named[j] = driver.NamedValue{Ordinal: j + 1, Value: v}
				}
				rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, named)
				if err != nil {
					return err
				}
				dest := make([]driver.Value, len(rows.Columns()))
				for rows.Next(dest) == nil {
				}
				rows.Close()
			}
			f := reflect.ValueOf(st).Elem().FieldByName("repreps")
			if !f.IsValid() {
				t.Skip("go-sqlite3 no longer keeps a statement's re-preparations (SQLiteStmt.repreps)")
			}
			if n := f.Int(); n != 0 {
				t.Errorf("%s: prepared again %d times in 3 runs with other values bound", name, n)
			}
			return nil
		})
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestLeasePlans: every form of the lease's select reads the lease queue's
// index in its order and stops at the limit — no sort of the ready tasks,
// no scan of task_runs — whatever is bound to it (textArg, limitArg).
func TestLeasePlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, c := range map[string]struct {
		r     cairn.LeaseRequest
		index string
	}{
		"a run":           {cairn.LeaseRequest{RunID: "r", AnyTask: true}, "task_runs_ready_run (run_id=?)"},
		"a run, owned":    {cairn.LeaseRequest{RunID: "r", Owner: "o"}, "task_runs_ready_run (run_id=?)"},
		"an owner's":      {cairn.LeaseRequest{Owner: "o"}, "SCAN t USING INDEX task_runs_ready"},
		"any run":         {cairn.LeaseRequest{}, "SCAN t USING INDEX task_runs_ready"},
		"a run, routed":   {cairn.LeaseRequest{RunID: "r", Queues: []string{"q"}, Labels: map[string]string{"k": "v"}}, "task_runs_ready_run (run_id=?)"},
		"any run, routed": {cairn.LeaseRequest{Queues: []string{"q"}}, "SCAN t USING INDEX task_runs_ready"},
	} {
		q, args := leaseSelect(c.r, leaseMode{}, nil)
		got := queryPlan(t, s, q, append(args, 8)...)
		if !strings.Contains(got, c.index) || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("lease of %s: %s", name, got)
		}
	}
}
