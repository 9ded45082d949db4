package sqlsource

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestSQLiteLayers checks the guard's layers one at a time on a real
// file: with the authorizer taken off, the connection itself is still
// read-only (mode=ro, query_only) and cannot attach a database (limit 0).
func TestSQLiteLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "src.db")
	setup, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Exec(`CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	setup.Close()

	db := sql.OpenDB(sqliteConnector{uri: sqliteURI(path), guard: &guard{}})
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c := dc.(*sqlite3.SQLiteConn)
		if got := c.GetLimit(sqlite3.SQLITE_LIMIT_ATTACHED); got != 0 {
			t.Errorf("attach limit %d, want 0", got)
		}
		c.RegisterAuthorizer(nil)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var se sqlite3.Error
	if _, err := conn.ExecContext(ctx, `PRAGMA query_only=0`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `DELETE FROM t`); !errors.As(err, &se) || se.Code != sqlite3.ErrReadonly {
		t.Errorf("DELETE on the mode=ro connection without the authorizer: %v, want SQLITE_READONLY", err)
	}
	if _, err := conn.ExecContext(ctx, `ATTACH ':memory:' AS w`); err == nil {
		t.Errorf("ATTACH without the authorizer succeeded: the attach limit is not 0")
	}
}
