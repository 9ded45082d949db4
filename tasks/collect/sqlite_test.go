package collect_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnml/cairn/store/sqlsource"
	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/tasktest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"
)

// TestSQLSourceSQLite runs the sql source end to end through the querier
// cmd/cairn wires (store/sqlsource) on a real SQLite file.
func TestSQLSourceSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE orders (id INTEGER, amount REAL, country TEXT, placed TEXT)`,
		`INSERT INTO orders VALUES (1, 9.5, 'fr', '2024-05-01'), (2, NULL, 'de', '2024-05-02'), (3, 12, NULL, '2024-05-03')`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	task := collect.New(collect.Options{SQL: sqlsource.New()})
	dsn := "sqlite:" + path
	tasktest.Run(t, task,
		tasktest.Case{
			Name:   "query",
			Params: map[string]any{"source": "sql", "dsn": dsn, "query": "SELECT id, amount, country, placed FROM orders ORDER BY id"},
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				want := "id,amount,country,placed\n1,9.5,fr,2024-05-01T00:00:00Z\n2,,de,2024-05-02T00:00:00Z\n3,12,,2024-05-03T00:00:00Z\n"
				if got := string(data(t, a)); got != want {
					t.Errorf("data:\n%s\nwant:\n%s", got, want)
				}
				s := schema(t, a)
				kinds := []dataset.Kind{dataset.Numeric, dataset.Numeric, dataset.Categorical, dataset.Datetime}
				for j, c := range s.Columns {
					if c.Kind != kinds[j] {
						t.Errorf("column %s: %s, want %s", c.Name, c.Kind, kinds[j])
					}
				}
				wantLog("returned 3 rows × 4 columns")(t, a)
			},
		},
		tasktest.Case{
			Name:   "write-refused",
			Params: map[string]any{"source": "sql", "dsn": dsn, "query": "DELETE FROM orders"},
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("read-only"),
		},
		tasktest.Case{
			Name:   "unknown-table",
			Params: map[string]any{"source": "sql", "dsn": dsn, "query": "SELECT * FROM order_lines"},
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("no such table: order_lines"),
		},
		tasktest.Case{
			Name:   "missing-file",
			Params: map[string]any{"source": "sql", "dsn": "sqlite:" + path + ".missing", "query": "SELECT 1"},
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("does not exist"),
		},
	)
}

// TestSQLSourcePostgres runs the sql source on the PostgreSQL server of
// CAIRN_TEST_POSTGRES, in a table of its own that it drops afterwards.
func TestSQLSourcePostgres(t *testing.T) {
	dsn := os.Getenv("CAIRN_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("CAIRN_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): PostgreSQL test skipped")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() }) // after the drop below: cleanups run last first
	table := fmt.Sprintf("collect_%d_%d", os.Getpid(), time.Now().UnixNano())
	for _, stmt := range []string{
		`CREATE TABLE ` + table + ` (id int, amount numeric(8,2), country text, vip boolean, placed timestamptz)`,
		`INSERT INTO ` + table + ` VALUES (1, 9.50, 'fr', true, '2024-05-01 10:00:00+00'), (2, NULL, 'de', false, '2024-05-02 11:30:00+02'), (3, 12, NULL, NULL, NULL)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP TABLE ` + table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	tasktest.Run(t, collect.New(collect.Options{SQL: sqlsource.New()}),
		tasktest.Case{
			Name:   "query",
			Params: map[string]any{"source": "sql", "dsn": dsn, "query": "SELECT id, amount, country, vip, placed FROM " + table + " ORDER BY id"},
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				want := "id,amount,country,vip,placed\n1,9.5,fr,true,2024-05-01T10:00:00Z\n2,,de,false,2024-05-02T09:30:00Z\n3,12,,,\n"
				if got := string(data(t, a)); got != want {
					t.Errorf("data:\n%s\nwant:\n%s", got, want)
				}
				kinds := []dataset.Kind{dataset.Numeric, dataset.Numeric, dataset.Categorical, dataset.Boolean, dataset.Datetime}
				for j, c := range schema(t, a).Columns {
					if c.Kind != kinds[j] {
						t.Errorf("column %s: %s, want %s", c.Name, c.Kind, kinds[j])
					}
				}
			},
		},
		tasktest.Case{
			Name:   "write-refused",
			Params: map[string]any{"source": "sql", "dsn": dsn, "query": "UPDATE " + table + " SET id = 0"},
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("read-only"),
		},
	)
}
