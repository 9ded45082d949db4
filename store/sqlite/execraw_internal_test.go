package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// TestExecRawBindsAsDatabaseSQL: a write statement run past database/sql
// (execRaw) stores every kind of value the store binds as database/sql
// stores it — strings, named string types, ints of every size, floats,
// bools, bytes and json.RawMessage, nil, typed nil pointers, pointers,
// sql.Null* — and refuses what database/sql refuses (a wrong number of
// values, a value it cannot convert).
func TestExecRawBindsAsDatabaseSQL(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	values := bindValues()
	const insert = `INSERT INTO x (k, via, v) VALUES (?, ?, ?)`
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE x (k INTEGER, via TEXT, v)`); err != nil {
			return err
		}
		for i, v := range values {
			if _, err := s.exec(ctx, tx, insert, i, "raw", v); err != nil {
				return fmt.Errorf("raw %d (%T): %w", i, v, err)
			}
			if _, err := tx.ExecContext(ctx, insert, i, "sql", v); err != nil {
				return fmt.Errorf("sql %d (%T): %w", i, v, err)
			}
		}
		if _, err := s.exec(ctx, tx, insert, 1, "raw"); err == nil {
			t.Error("two values for three: no error")
		}
		if _, err := s.exec(ctx, tx, insert, 1, "raw", struct{}{}); err == nil {
			t.Error("a struct: no error")
		}
		return sameStored(t, tx, values, "raw", "past database/sql", "sql", "through it", "", len(values))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	_, raw := s.xstmt[insert]
	s.mu.Unlock()
	if !raw {
		t.Error("the insert did not run past database/sql (the test reads it wrongly)")
	}
}

// fusedRan reports whether a write of s ran through stepFused: the first
// prepares changesQuery on the writer's connection.
func fusedRan(s *Store) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.xstmt[changesQuery]
	return ok
}

// bindValues is a value of every kind the store binds: strings (one
// holding a NUL, one not UTF-8), named
// string types, ints of every size, floats, bools, bytes and
// json.RawMessage, nil, typed nil pointers, pointers, sql.Null*.
func bindValues() []any {
	seven := 7
	return []any{"text", "", "a\x00b", "\xff\xfe not UTF-8", cairn.TaskRunning, 42, int64(-3), int32(5), uint8(9), 2.5, float32(0.25), true, false,
		[]byte("bytes"), []byte{}, json.RawMessage(`{"a":1}`), nil, (*int)(nil), &seven, sql.NullString{}, sql.NullString{String: "s", Valid: true},
		sql.NullInt64{Int64: 8, Valid: true}, time.Duration(1500)}
}

// sameStored compares, in table x (k, via, v), each value of values
// stored as row k by one path (via) with the same value stored by another
// (against), on the rows that where adds to (a condition on r), and checks
// that want rows were compared; what and againstWhat name the paths.
func sameStored(t *testing.T, tx *sql.Conn, values []any, via, what, against, againstWhat, where string, want int) error {
	t.Helper()
	rows, err := tx.QueryContext(context.Background(), `SELECT r.k, typeof(r.v), quote(r.v) || ' ' || hex(r.v), typeof(q.v), quote(q.v) || ' ' || hex(q.v)
		FROM x r JOIN x q ON q.k = r.k AND q.via = ? WHERE r.via = ?`+where+` ORDER BY r.k`, against, via)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k int
		var rt, rv, qt, qv string
		if err := rows.Scan(&k, &rt, &rv, &qt, &qv); err != nil {
			return err
		}
		if rt != qt || rv != qv {
			t.Errorf("%T %v: stored as %s %s %s, %s %s %s", values[k], values[k], rt, rv, what, qt, qv, againstWhat)
		}
		n++
	}
	if n != want {
		t.Errorf("%d values compared of %d", n, want)
	}
	return rows.Err()
}

// taskInsertWidest is the width of taskInsertRow, whose values CreateRun
// makes room for.
func TestTaskInsertWidest(t *testing.T) {
	if n := strings.Count(taskInsertRow, "?"); n != taskInsertWidest {
		t.Errorf("taskInsertRow has %d values, taskInsertWidest says %d", n, taskInsertWidest)
	}
}

// TestExecRawFused: a statement binding fusedExecMin values or more runs
// through go-sqlite3's query path (stepFused) and stores every kind of
// value as the exec path does, NULLs among them in their places; it
// returns the rows it changed, 0 included, and its errors as exec's
// (a unique key broken: cairn.ErrConflict).
func TestExecRawFused(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	values := append(bindValues(), time.Unix(1700000000, 5).UTC())
	var args []any
	for i, v := range values {
		args = append(args, i, "fused", v)
	}
	wide := `INSERT INTO x (k, via, v) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(values)), ",")
	const narrow = `INSERT INTO x (k, via, v) VALUES (?, ?, ?)`
	const update = `UPDATE x SET v = ? WHERE via = ? AND k >= ? AND k < ? AND ? AND ? AND ? AND ? AND ?`
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE x (k INTEGER, via TEXT, v, UNIQUE (k, via))`); err != nil {
			return err
		}
		n, err := s.exec(ctx, tx, wide, args...)
		if err != nil {
			return fmt.Errorf("wide insert: %w", err)
		}
		if n != int64(len(values)) {
			t.Errorf("wide insert: %d rows changed, want %d", n, len(values))
		}
		if !fusedRan(s) {
			t.Error("the wide insert did not run through stepFused (the test reads it wrongly)")
		}
		for i, v := range values {
			if _, err := s.exec(ctx, tx, narrow, i, "one", v); err != nil {
				return fmt.Errorf("narrow %d (%T): %w", i, v, err)
			}
		}
		if n, err := s.exec(ctx, tx, update, "u", "fused", 3, 7, 1, 1, 1, 1, 1); err != nil || n != 4 {
			t.Errorf("update of 4 rows: %d changed, %v", n, err)
		}
		if n, err := s.exec(ctx, tx, update, "u", "fused", 100, 107, 1, 1, 1, 1, 1); err != nil || n != 0 {
			t.Errorf("update of no row: %d changed, %v", n, err)
		}
		if _, err := s.exec(ctx, tx, wide, args...); !errors.Is(err, cairn.ErrConflict) {
			t.Errorf("wide insert again: %v, want cairn.ErrConflict", err)
		}
		if _, err := s.exec(ctx, tx, wide, args[:len(args)-1]...); err == nil {
			t.Error("a value short: no error")
		}
		// Rows 3 to 6 were updated since.
		return sameStored(t, tx, values, "fused", "by the fused path", "one", "by exec's", " AND (r.k < 3 OR r.k >= 7)", len(values)-4)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExecRawFusedBounded: a wide statement binding more than
// fusedExecMaxBytes of text goes through the exec path (go-sqlite3's
// query path would keep a buffer that large as long as the statement),
// and writes the same.
func TestExecRawFusedBounded(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wide := `INSERT INTO x (k, v) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?),", 5), ",")
	big := strings.Repeat("b", fusedExecMaxBytes)
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE x (k INTEGER, v TEXT)`); err != nil {
			return err
		}
		n, err := s.exec(ctx, tx, wide, 1, big, 2, "x", 3, "y", 4, "z", 5, "w")
		if err != nil || n != 5 {
			t.Errorf("a wide insert of %d bytes: %d rows, %v", len(big)+4, n, err)
		}
		if fusedRan(s) {
			t.Error("more than fusedExecMaxBytes bound through stepFused")
		}
		if n, err := s.exec(ctx, tx, wide, 6, "a", 7, "b", 8, "c", 9, "d", 10, "e"); err != nil || n != 5 {
			t.Errorf("a small wide insert: %d rows, %v", n, err)
		}
		if !fusedRan(s) {
			t.Error("a small wide insert did not go through stepFused (the test reads it wrongly)")
		}
		var got int
		if err := tx.QueryRowContext(ctx, `SELECT length(v) FROM x WHERE k = 1`).Scan(&got); err != nil || got != len(big) {
			t.Errorf("the large value: %d bytes stored, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
