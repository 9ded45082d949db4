//go:build cgo && linux

package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn/internal/smalldisk"
)

// The cairn VFS on a disk that fills and empties while a transaction
// runs (found by trial19): a write of gathered frames that fails must not
// lose them — SQLite was told they were written, and a statement's error
// does not end its transaction, so a later commit would have been
// published over a hole in the log (pages of zeros: "database disk image
// is malformed", copied into the database file by the next checkpoint).

// spillingTx opens path on the cairn VFS and begins a transaction that
// wrote more pages than its cache holds: SQLite spilled them to the log,
// where they are gathered, not yet written. The table t holds one row of
// 3,000 bytes before it, 21 within it.
func spillingTx(t *testing.T, path string) (*sql.DB, *sql.Conn) {
	t.Helper()
	db, err := sql.Open("sqlite3", walDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	qs := []string{"PRAGMA cache_size = 5", "CREATE TABLE t (x BLOB)", "INSERT INTO t VALUES (randomblob(3000))", "BEGIN IMMEDIATE"}
	for range 20 {
		qs = append(qs, "INSERT INTO t VALUES (randomblob(3000))")
	}
	for _, q := range qs {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db, c
}

// checkRows opens path again and wants it intact, with want rows of 3,000
// bytes in t.
func checkRows(t *testing.T, path string, want int) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q, %v", check, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t WHERE length(x) = 3000`).Scan(&n); err != nil || n != want {
		t.Errorf("rows: %d, %v; want %d", n, err, want)
	}
}

// TestWALFullDiskMidTransaction: a statement that reads spilled pages on a
// full disk fails (its flush of the gathered frames fails) and rolls back
// alone; the transaction goes on, the disk has room again, and its commit
// writes every frame — or fails; in no case is a commit published over
// frames that are not in the log.
func TestWALFullDiskMidTransaction(t *testing.T) {
	dir := smalldisk.Mount(t, t.TempDir(), "4m", "")
	path := filepath.Join(dir, "x.db")
	_, c := spillingTx(t, path)
	ctx := context.Background()
	free := smalldisk.Fill(t, dir)
	_, stmtErr := c.ExecContext(ctx, "INSERT INTO t SELECT randomblob(3000) FROM t")
	free()
	if stmtErr == nil {
		t.Fatal("a 22-row insert on a full disk succeeded: the test did not fill the disk")
	}
	want := 22
	if _, err := c.ExecContext(ctx, "INSERT INTO t VALUES (randomblob(3000))"); err != nil {
		t.Fatalf("the next statement: %v", err)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		t.Logf("COMMIT: %v: the transaction did not commit", err)
		c.ExecContext(ctx, "ROLLBACK")
		want = 1
	}
	c.Close()
	checkRows(t, path, want)
}

// TestWALFullDiskAtCommit: a commit on a full disk fails, as with SQLite's
// own VFS; the write lock is let go (another connection writes at once)
// and the gathered frames are not written later over that writer's log.
func TestWALFullDiskAtCommit(t *testing.T) {
	dir := smalldisk.Mount(t, t.TempDir(), "4m", "")
	path := filepath.Join(dir, "x.db")
	_, c := spillingTx(t, path)
	ctx := context.Background()
	free := smalldisk.Fill(t, dir)
	_, err := c.ExecContext(ctx, "COMMIT")
	if err == nil {
		free()
		t.Fatal("a commit on a full disk succeeded: the test did not fill the disk")
	}
	c.ExecContext(ctx, "ROLLBACK")
	free()
	other, err := sql.Open("sqlite3", walDSN(path, "_busy_timeout=200"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for range 3 {
		if _, err := other.Exec("INSERT INTO t VALUES (randomblob(3000))"); err != nil {
			t.Fatalf("another connection's write after the failed commit: %v", err)
		}
	}
	// The first connection's next transaction, and its close.
	if _, err := c.ExecContext(ctx, "INSERT INTO t VALUES (randomblob(3000))"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	checkRows(t, path, 5)
}

// TestWALFullDiskInABatch: the same through the store's shared write
// transaction, whose requests each run in a savepoint: request A spills
// frames, request B meets a full disk (and fails), request C finds room
// again; A's and C's commit must hold all of A's rows.
func TestWALFullDiskInABatch(t *testing.T) {
	dir := smalldisk.Mount(t, t.TempDir(), "120m", "")
	path := filepath.Join(dir, "c.db")
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE t (x BLOB)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var free func()
	gate, started := make(chan struct{}), make(chan struct{})
	// A blocker holds the writer while A, B and C queue: they run as one batch.
	go s.write(ctx, func(ctx context.Context, tx *sql.Conn) error {
		close(started)
		<-gate
		return nil
	}, false)
	<-started
	fns := []txFn{
		func(ctx context.Context, tx *sql.Conn) error { // A: 6 MB, more than the cache
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
				INSERT INTO t SELECT randomblob(3000) FROM n`)
			return err
		},
		func(ctx context.Context, tx *sql.Conn) error { // B: reads spilled pages on a full disk
			free = smalldisk.Fill(t, dir)
			_, err := tx.ExecContext(ctx, `UPDATE t SET x = zeroblob(10) WHERE rowid % 500 = 0`)
			return err
		},
		func(ctx context.Context, tx *sql.Conn) error { // C: room again
			free()
			_, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (x'01')`)
			return err
		},
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.write(ctx, fn, false) }()
		time.Sleep(50 * time.Millisecond) // queued in order
	}
	close(gate)
	wg.Wait()
	t.Logf("A: %v; B: %v; C: %v", errs[0], errs[1], errs[2])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := 0
	if errs[0] == nil {
		want = 2000
	}
	if errs[1] == nil && errs[0] == nil {
		want -= 4 // B's update, had the disk not been full
	}
	checkRows(t, path, want)
}

// TestWALFullDiskPaddedCommit: a commit padded to a sector's end (psow=0,
// synchronous=FULL) on a full disk fails as with SQLite's own VFS — it
// stopped the process (trial19b: the split write's rest was gathered,
// and the barrier could not write it).
func TestWALFullDiskPaddedCommit(t *testing.T) {
	dir := smalldisk.Mount(t, t.TempDir(), "2m", "")
	walVFS()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "p.db")+"?vfs=cairn&psow=0&_journal_mode=WAL&_synchronous=FULL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"CREATE TABLE t (x BLOB)", "INSERT INTO t VALUES (randomblob(100))"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// Room for a page or a few: the padded commit's first writes find
	// it, the rest of it does not.
	failed := 0
	for pages := range 4 {
		free := smalldisk.FillLeaving(t, dir, int64(pages)*4096)
		for range 5 {
			if _, err := db.Exec("INSERT INTO t VALUES (randomblob(3000))"); err != nil {
				failed++
			}
		}
		free()
	}
	if failed == 0 {
		t.Fatal("20 commits on a full disk succeeded: the test did not fill the disk")
	}
	if _, err := db.Exec("INSERT INTO t VALUES (randomblob(3000))"); err != nil {
		t.Fatalf("a commit once there is room: %v", err)
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q, %v", check, err)
	}
}
