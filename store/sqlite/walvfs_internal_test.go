//go:build cgo

package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStoreLogGathersFrames: the store's writer appends a transaction's
// frames to its log in one write, not two a frame (walvfs_cgo.go).
// writeFrames commits transactions of three frames at least (a table
// page and two overflow pages).
func TestStoreLogGathersFrames(t *testing.T) {
	if walVFS() == "" {
		t.Fatal("the cairn VFS is not registered")
	}
	s, _ := scratchStore(t)
	asked0, written0 := walVFSCounts()
	const commits = 200
	writeFrames(t, s, commits)
	asked, written := walVFSCounts()
	asked, written = asked-asked0, written-written0
	if asked < 2*3*commits {
		t.Fatalf("SQLite asked for %d writes of the log in %d commits of 3 frames or more; want ≥ %d: is the store on the cairn VFS?", asked, commits, 2*3*commits)
	}
	if written > commits+commits/10 {
		t.Errorf("%d commits asked for %d writes and made %d; want at most about one a commit", commits, asked, written)
	}
}

// walDSN opens path on the cairn VFS as the store does, without the
// store's schema.
func walDSN(path string, extra ...string) string {
	if walVFS() == "" {
		panic("the cairn VFS is not registered")
	}
	return path + "?" + strings.Join(append([]string{"vfs=cairn", "_journal_mode=WAL", "_synchronous=NORMAL", "_busy_timeout=5000"}, extra...), "&")
}

// crashImage copies a database and its log, as they are on disk, into a
// new folder (the -shm file left behind, as a killed process leaves it
// useless to the next) and returns the copy's path: opening it recovers
// the log from the file alone, by its checksums.
func crashImage(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if err == nil {
			if err := os.WriteFile(filepath.Join(dir, "copy.db"+suffix), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return filepath.Join(dir, "copy.db")
}

// TestWALCommitWritesItsFrames: when a commit returns, its frames are in
// the log file — with the writes at the shared index's barrier and locks
// turned off, the commit frame alone must have written them. Each shape
// of transaction SQLite writes differently is committed, then the files
// are copied as a kill -9 would leave them and the copy must hold the
// transaction: one frame; several; a transaction larger than SQLite's
// cache, whose pages spill to the log before the commit and are written
// again in place (SQLite then rewrites the checksums of its frames from
// the first it overwrote); one larger than a gathered write (128 KiB);
// and the first after the log restarted.
func TestWALCommitWritesItsFrames(t *testing.T) {
	for _, belt := range []bool{false, true} {
		t.Run(fmt.Sprintf("belt=%v", belt), func(t *testing.T) {
			setWALVFSBelt(belt)
			t.Cleanup(func() { setWALVFSBelt(true) })
			path := filepath.Join(t.TempDir(), "w.db")
			db, err := sql.Open("sqlite3", walDSN(path))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			ctx := context.Background()
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := conn.ExecContext(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(`CREATE TABLE marks (n INTEGER PRIMARY KEY, what TEXT)`)
			exec(`CREATE TABLE rows (id INTEGER PRIMARY KEY, n INTEGER, b BLOB)`)
			n := 0
			commit := func(what string, body func()) {
				t.Helper()
				n++
				exec("BEGIN IMMEDIATE")
				body()
				exec(`INSERT INTO marks (n, what) VALUES (?, ?)`, n, what)
				exec("COMMIT")
				copyPath := crashImage(t, path)
				c, err := sql.Open("sqlite3", copyPath)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				var got int
				var check string
				if err := c.QueryRow(`SELECT coalesce(max(n), 0) FROM marks`).Scan(&got); err != nil {
					t.Fatalf("%s: the copy: %v", what, err)
				}
				if got != n {
					t.Errorf("%s: the copy made right after commit %d holds commits up to %d: the commit's frames were not in the log file", what, n, got)
				}
				if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
					t.Errorf("%s: integrity_check of the copy: %q, %v", what, check, err)
				}
			}
			blob := func(size int) []byte { return []byte(strings.Repeat(strconv.Itoa(n%10), size)) }
			commit("one frame", func() {})
			commit("several frames", func() {
				for range 5 {
					exec(`INSERT INTO rows (n, b) VALUES (?, ?)`, n, blob(3000))
				}
			})
			commit("spilled and rewritten", func() {
				exec(`PRAGMA cache_size = 10`)
				for range 400 {
					exec(`INSERT INTO rows (n, b) VALUES (?, ?)`, n, blob(900))
				}
				exec(`UPDATE rows SET b = ? WHERE n = ?`, blob(800), n)
				exec(`INSERT INTO rows (n, b) VALUES (?, ?)`, n, blob(100))
			})
			exec(`PRAGMA cache_size = -2000`)
			commit("larger than a gathered write", func() {
				exec(`INSERT INTO rows (n, b) VALUES (?, ?)`, n, blob(600<<10))
			})
			commit("after it", func() {})
			var busy, logged, copied int
			if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &copied); err != nil || busy != 0 {
				t.Fatalf("checkpoint: busy %d, %v", busy, err)
			}
			commit("the log restarted", func() {
				exec(`INSERT INTO rows (n, b) VALUES (?, ?)`, n, blob(5000))
			})
			commit("the next", func() {})
		})
	}
}

// TestWALExclusiveModeWritesAsSQLite: a connection in exclusive locking
// mode from its start keeps its log's index in its own memory and never
// meets the shared index's barrier: its log does not gather, and writes
// as SQLite asks.
func TestWALExclusiveModeWritesAsSQLite(t *testing.T) {
	asked, written := logWritesOf20Commits(t, walDSN(filepath.Join(t.TempDir(), "x.db"), "_locking_mode=EXCLUSIVE"))
	if asked < 20*2 || written != asked {
		t.Errorf("exclusive mode: asked %d writes, made %d; want the same, and some", asked, written)
	}
}

// logWritesOf20Commits opens dsn, creates a table, and returns the log
// writes SQLite asked for and those the cairn VFS made in 20 commits of a
// 6,000-byte row each (3 frames or more).
func logWritesOf20Commits(t *testing.T, dsn string) (asked, written uint64) {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	asked0, written0 := walVFSCounts()
	for range 20 {
		if _, err := db.Exec(`INSERT INTO t (b) VALUES (?)`, strings.Repeat("x", 6000)); err != nil {
			t.Fatal(err)
		}
	}
	asked, written = walVFSCounts()
	return asked - asked0, written - written0
}

// walWriterEnv makes the test binary the writer TestWALKilledWriterKeepsCommits kills.
const walWriterEnv = "CAIRN_TEST_WAL_WRITER"

// walWriterPageEnv is the writer's page size.
const walWriterPageEnv = "CAIRN_TEST_WAL_WRITER_PAGE"

// TestWALKilledWriterKeepsCommits kills a process committing on the cairn
// VFS (kill -9) at random moments, then opens its database: every commit
// it reported before it died is there, with all of its rows, and the file
// is intact. The writer's transactions vary in size (1 to 200 rows of 700
// bytes) and many overflow its small cache: their pages go to the log
// before the commit, and some are written again in place (SQLite then
// rewrites the checksums of the transaction's frames).
func TestWALKilledWriterKeepsCommits(t *testing.T) {
	if path := os.Getenv(walWriterEnv); path != "" {
		walWriter(path)
		return
	}
	kills := 10
	if testing.Short() {
		kills = 4
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 18))
	for k := range kills {
		path := filepath.Join(t.TempDir(), "k.db")
		cmd := exec.Command(os.Args[0], "-test.run=^TestWALKilledWriterKeepsCommits$", "-test.count=1")
		// Half the writers use SQLite's largest page (64 KiB): a frame
		// and the next one's header pass the 128 KiB of one write.
		page := []int{4096, 65536}[k%2]
		cmd.Env = append(os.Environ(), walWriterEnv+"="+path, walWriterPageEnv+"="+strconv.Itoa(page))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		want := 5 + rng.IntN(50)
		last := 0
		for last < want && lines.Scan() {
			last, _ = strconv.Atoi(lines.Text())
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		// What it printed before it died was committed too.
		rest, _ := io.ReadAll(out)
		for _, l := range strings.Fields(string(rest)) {
			if n, err := strconv.Atoi(l); err == nil {
				last = n
			}
		}
		_ = cmd.Wait()
		if last < want {
			t.Fatalf("kill %d: the writer reported %d commits, then stopped", k, last)
		}
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		var got, bad int
		var check string
		if err := db.QueryRow(`SELECT coalesce(max(n), 0) FROM marks`).Scan(&got); err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM marks m WHERE m.rows != (SELECT count(*) FROM rows r WHERE r.n = m.n)`).Scan(&bad); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
			t.Fatal(err)
		}
		var gotPage int
		var mode string
		if err := db.QueryRow(`PRAGMA page_size`).Scan(&gotPage); err != nil || gotPage != page {
			t.Errorf("kill %d: page size %d, %v; want %d", k, gotPage, err, page)
		}
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("kill %d: journal mode %q, %v; want wal", k, mode, err)
		}
		db.Close()
		if got < last {
			t.Errorf("kill %d: the writer reported commit %d, the database holds up to %d", k, last, got)
		}
		if bad != 0 || check != "ok" {
			t.Errorf("kill %d: %d commits with rows missing; integrity_check %q", k, bad, check)
		}
	}
}

// walWriter commits transactions until it is killed, printing each one's
// number after its commit returned.
func walWriter(path string) {
	walVFS()
	db, err := sql.Open("sqlite3", path+"?vfs=cairn&_synchronous=NORMAL")
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(1)
	must := func(_ sql.Result, err error) {
		if err != nil {
			panic(err)
		}
	}
	if page := os.Getenv(walWriterPageEnv); page != "" {
		must(db.Exec(`PRAGMA page_size = ` + page)) // before WAL mode and the first table: the file's page size
	}
	must(db.Exec(`PRAGMA journal_mode = WAL`))
	must(db.Exec(`CREATE TABLE marks (n INTEGER PRIMARY KEY, rows INTEGER)`))
	must(db.Exec(`CREATE TABLE rows (id INTEGER PRIMARY KEY, n INTEGER, b BLOB)`))
	must(db.Exec(`PRAGMA cache_size = 10`))
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	payload := []byte(strings.Repeat("p", 700))
	for n := 1; ; n++ {
		rows := 1 + rng.IntN(200)
		tx, err := db.Begin()
		if err != nil {
			panic(err)
		}
		for range rows {
			if _, err := tx.Exec(`INSERT INTO rows (n, b) VALUES (?, ?)`, n, payload); err != nil {
				panic(err)
			}
		}
		if n%3 == 0 {
			if _, err := tx.Exec(`UPDATE rows SET b = ? WHERE n = ?`, payload[:600], n); err != nil {
				panic(err)
			}
		}
		if _, err := tx.Exec(`INSERT INTO marks (n, rows) VALUES (?, ?)`, n, rows); err != nil {
			panic(err)
		}
		if err := tx.Commit(); err != nil {
			panic(err)
		}
		fmt.Fprintln(os.Stdout, n)
	}
}

// TestWALGathersOnlyPowersafe: with synchronous=FULL the log gathers as
// with NORMAL; without power-safe overwrite (psow=0) SQLite pads a commit
// to a sector's end and splits a write around a sync, and the log writes
// as SQLite asks.
func TestWALGathersOnlyPowersafe(t *testing.T) {
	for _, psow := range []bool{true, false} {
		t.Run(fmt.Sprintf("psow=%v", psow), func(t *testing.T) {
			walVFS()
			dsn := "file:" + filepath.Join(t.TempDir(), "p.db") + "?vfs=cairn&_journal_mode=WAL&_synchronous=FULL"
			if !psow {
				dsn += "&psow=0"
			}
			asked, written := logWritesOf20Commits(t, dsn)
			if psow && written > 20+2 {
				t.Errorf("synchronous=FULL: 20 commits asked %d writes and made %d; want about one a commit", asked, written)
			}
			if !psow && written != asked {
				t.Errorf("psow=0: asked %d writes, made %d; want the same", asked, written)
			}
		})
	}
}
