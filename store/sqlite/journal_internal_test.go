package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHopUpdatesOpenNoStatementJournal: the updates of task_runs on the
// write path of every attempt (see many.go) may not abort their own rows
// alone. SQLite opens a statement journal, a copy of each page a
// statement changes, for a statement that may write many rows and may
// abort: in its program, a constraint's Halt or HaltIfNull with P2 = 2
// (OE_Abort); under OR FAIL their P2 is 3 and no journal is opened.
func TestHopUpdatesOpenNoStatementJournal(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, text := range map[string]func(int) string{
		"complete":     func(n int) string { return completeManyQuery(n, leaseLive) },
		"complete any": func(n int) string { return completeManyQuery(n, leaseAny) },
		"claim ready":  claimReadyQuery,
		"ready change": readyChangeQuery,
		"end change":   endChangeQuery,
		"lease change": leaseChangeQuery,
	} {
		for _, size := range []int{1, 2, 64} {
			aborts, halts := constraintHalts(t, s.r, text(size))
			if halts == 0 {
				t.Errorf("%s, %d rows: no constraint check in its program (the test reads it wrongly)", name, size)
			}
			if aborts > 0 {
				t.Errorf("%s, %d rows: %d of its %d constraint checks abort the statement (a statement journal per run)", name, size, aborts, halts)
			}
		}
	}
}

// constraintHalts counts the constraint checks in query's program and
// those that abort the statement (OE_Abort).
func constraintHalts(t *testing.T, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string) (aborts, halts int) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN "+query, make([]any, params(query))...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			addr, p1, p2, p3 int
			op               string
			p4, comment      sql.NullString
			p5               sql.NullString
		)
		if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		// SQLITE_CONSTRAINT is 19; its extended codes are 19 + 256*k.
		if (op == "Halt" || op == "HaltIfNull") && p1&0xff == 19 {
			halts++
			if p2 == 2 {
				aborts++
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return aborts, halts
}

// params is the number of values query takes: its highest ?N if it
// numbers them, else its count of ?.
func params(query string) int {
	n := 0
	for _, m := range regexp.MustCompile(`\?(\d+)`).FindAllStringSubmatch(query, -1) {
		k, _ := strconv.Atoi(m[1])
		n = max(n, k)
	}
	if n > 0 {
		return n
	}
	return strings.Count(query, "?")
}

// TestWriterKeepsTempFilesInMemory: the writer's statement journals (an
// INSERT of many rows into a table with a foreign key keeps one: CreateRun,
// the attempts of a completion batch) and other temporary files stay in
// memory rather than spill to a file past 64 KiB.
func TestWriterKeepsTempFilesInMemory(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode int
	if err := s.wc.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Errorf("the writer's temp_store is %d, want 2 (MEMORY)", mode)
	}
}
