// Command runfloor is the floor of BenchmarkRunOneTask: the least a
// one-task run can do in a process of its own, with the database Cairn
// uses and its durability, in a program that links nothing but
// mattn/go-sqlite3 (and is built as cairn is, by `make build`: statically,
// with its tags).
//
//	runfloor DB
//
// It opens the SQLite file DB as Cairn's store opens its database (WAL,
// synchronous=NORMAL, foreign keys, a busy timeout, BEGIN IMMEDIATE, no
// per-connection mutex, statement journals in memory; one connection),
// creating it and its folder (0700, the file 0600) when missing, then
// commits the four transactions of a run of one task, each durable before
// the next begins as Cairn's are:
//
//  1. the run, running, and its task, ready (with the tables, in a new
//     database: three tables and the index of ready tasks, the least a
//     run writes to);
//  2. the task leased and started: a compare-and-set on its state, with
//     a lease token and expiry;
//  3. its attempt written, succeeded, and the task succeeded (a
//     compare-and-set on its state and token);
//  4. the run succeeded;
//
// then reads the run's task counts and prints one line. Like cairn run, it
// leaves the write-ahead log for the next process (no checkpoint, no
// fsync at exit) unless the log passed 1 MiB, when it closes the
// database and SQLite copies the log into it.
//
// It is not Cairn's schema (27 tables, 43 indexes, whose parse every open
// pays), nor its migrations check, task types, workflow file, scheduler
// or worker pool: those are what the run costs past this floor.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

const schema = `
CREATE TABLE runs (
	id TEXT PRIMARY KEY, workflow TEXT NOT NULL, state TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL, finished_at INTEGER, version INTEGER NOT NULL);
CREATE TABLE task_runs (
	run_id TEXT NOT NULL REFERENCES runs (id), task_id TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL,
	attempt INTEGER NOT NULL DEFAULT 0, lease_token TEXT, lease_expires_at INTEGER, outputs TEXT,
	started_at INTEGER, finished_at INTEGER, version INTEGER NOT NULL, PRIMARY KEY (run_id, task_id));
CREATE INDEX task_runs_ready ON task_runs (state, run_id);
CREATE TABLE attempts (
	run_id TEXT NOT NULL, task_id TEXT NOT NULL, number INTEGER NOT NULL, state TEXT NOT NULL,
	token TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
	PRIMARY KEY (run_id, task_id, number), FOREIGN KEY (run_id, task_id) REFERENCES task_runs (run_id, task_id));
`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: runfloor DB")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "runfloor: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, path string) error {
	_, err := os.Stat(path)
	fresh := os.IsNotExist(err)
	if fresh {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	db, err := sql.Open("sqlite3", path+"?_foreign_keys=on&_busy_timeout=5000&_synchronous=NORMAL&_mutex=no&_txlock=immediate")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil || mode != "wal" {
		return fmt.Errorf("journal mode %q: %v", mode, err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
		return err
	}
	tx := func(what string, fn func() error) error {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := fn(); err != nil {
			conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("%s: %w", what, err)
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	one := func(q string, args ...any) error {
		res, err := conn.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%d rows changed (%v), want 1: %s", n, err, q)
		}
		return nil
	}
	id, token := newID(), newID()
	now := time.Now().UnixNano()
	if err := tx("create", func() error {
		if fresh {
			if _, err := conn.ExecContext(ctx, schema); err != nil {
				return err
			}
		}
		if err := one(`INSERT INTO runs (id, workflow, state, owner, created_at, version) VALUES (?, 'one', 'running', 'floor', ?, 1)`, id, now); err != nil {
			return err
		}
		return one(`INSERT INTO task_runs (run_id, task_id, type, state, version) VALUES (?, 'only', 'noop', 'ready', 1)`, id)
	}); err != nil {
		return err
	}
	if err := tx("lease", func() error {
		return one(`UPDATE task_runs SET state = 'running', attempt = attempt + 1, lease_token = ?, lease_expires_at = ?,
			started_at = ?, version = version + 1 WHERE run_id = ? AND task_id = 'only' AND state = 'ready'`,
			token, now+int64(30*time.Second), time.Now().UnixNano(), id)
	}); err != nil {
		return err
	}
	if err := tx("complete", func() error {
		end := time.Now().UnixNano()
		if err := one(`INSERT INTO attempts (run_id, task_id, number, state, token, started_at, finished_at)
			VALUES (?, 'only', 1, 'succeeded', ?, ?, ?)`, id, token, now, end); err != nil {
			return err
		}
		return one(`UPDATE task_runs SET state = 'succeeded', outputs = '{}', finished_at = ?, lease_token = NULL,
			lease_expires_at = NULL, version = version + 1 WHERE run_id = ? AND task_id = 'only' AND state = 'running' AND lease_token = ?`,
			end, id, token)
	}); err != nil {
		return err
	}
	if err := tx("finish", func() error {
		return one(`UPDATE runs SET state = 'succeeded', owner = '', finished_at = ?, version = version + 1 WHERE id = ? AND state = 'running'`,
			time.Now().UnixNano(), id)
	}); err != nil {
		return err
	}
	var state string
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT state, count(*) FROM task_runs WHERE run_id = ? GROUP BY state`, id).Scan(&state, &n); err != nil {
		return err
	}
	fmt.Printf("run %s: %d %s\n", id, n, state)
	// As a command's store does (sqlite.LeaveWALOnClose): the log is left
	// for the next process unless it passed 1 MiB.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 1<<20 {
		conn.Close()
		return db.Close()
	}
	return nil
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
