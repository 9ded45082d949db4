package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cairnml/cairn/internal/durable"
)

// Backup writes a consistent copy of the database to dest, a file that
// must not exist yet, while other connections and processes go on writing:
// SQLite's online backup copies one snapshot (a read transaction, which in
// WAL mode blocks no writer). The copy is 0600, synced, and appears at
// dest only once complete.
func (s *Store) Backup(ctx context.Context, dest string) error {
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("backup %s to %s: %w", s.path, dest, fs.ErrExist)
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("backup %s: %w", s.path, err)
	}
	defer conn.Close()
	if err := copyDB(ctx, conn, dest); err != nil {
		return fmt.Errorf("backup %s to %s: %w", s.path, dest, err)
	}
	return nil
}

// copyDB copies the database of src to a new file dest with the online
// backup API, through a temporary file renamed into place once synced.
func copyDB(ctx context.Context, src *sql.Conn, dest string) error {
	tmp := dest + ".tmp-" + strconv.Itoa(os.Getpid())
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", tmp)
	if err != nil {
		return err
	}
	dconn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return err
	}
	err = dconn.Raw(func(d any) error {
		return src.Raw(func(sc any) error {
			dc, ok1 := d.(*sqlite3.SQLiteConn)
			scc, ok2 := sc.(*sqlite3.SQLiteConn)
			if !ok1 || !ok2 {
				return errors.New("not a go-sqlite3 connection")
			}
			b, err := dc.Backup("main", scc, "main")
			if err != nil {
				return err
			}
			for {
				// All pages in one step: one snapshot of the source.
				finished, err := b.Step(-1)
				if err != nil {
					b.Finish()
					return err
				}
				if finished {
					return b.Finish()
				}
				// SQLITE_BUSY or LOCKED: the source is locked for a moment.
				select {
				case <-ctx.Done():
					b.Finish()
					return ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	})
	dconn.Close()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return translate(err)
	}
	if err := durable.Sync(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	done = true
	return durable.Sync(filepath.Dir(dest))
}

// Restore replaces the database at path (creating it, and its folder
// 0700, if missing) by a consistent copy of the database at src, a
// backup. The restored runs have no owner: the processes that drove them
// drive another database, so 'cairn resume' takes them over at once.
//
// It fails with an error wrapping ErrInUse, changing nothing, while a
// process has the database at path open (Open holds a shared lock on the
// file) or a run in it is claimed by a live owner — a claim that has not
// expired, unless ownerGone (which may be nil) says its process is dead;
// with ErrNotCairn if either file is not a Cairn database; and with a
// *SchemaVersionError if src is newer than this binary. Processes that
// try to Open the database meanwhile fail with ErrInUse.
func Restore(ctx context.Context, src, path string, ownerGone func(owner string) bool) error {
	// Reading src read-only makes SQLite create an empty -wal and a -shm
	// beside it that it cannot remove: leave the backup as it was.
	if _, err := os.Stat(src + "-wal"); errors.Is(err, fs.ErrNotExist) {
		defer func() {
			f, err := os.Open(src)
			if err != nil {
				return
			}
			defer f.Close()
			// Only while no process has src open (its WAL is then unused).
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
				return
			}
			if fi, err := os.Stat(src + "-wal"); err == nil && fi.Size() == 0 {
				os.Remove(src + "-wal")
				os.Remove(src + "-shm")
			}
		}()
	}
	from, err := Open(ctx, src, ReadOnly(), WithReadConns(1), func(o *options) { o.noLock = true })
	var sv *SchemaVersionError
	if errors.As(err, &sv) && sv.Older {
		// An older backup is fine: the next write-mode Open migrates it.
		from, err = Open(ctx, src, func(o *options) { o.readOnly, o.migrate, o.noLock = true, false, true }, WithReadConns(1))
	}
	if err != nil {
		return fmt.Errorf("restore from %s: %w", src, err)
	}
	defer from.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}

	lock, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		lock = nil
	case err != nil:
		return fmt.Errorf("restore %s: %w", path, err)
	default:
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return fmt.Errorf("restore %s: a cairn process has it open (a run, a resume, a look at its runs): %w; let it end first", path, ErrInUse)
			}
			return fmt.Errorf("restore %s: lock: %w", path, err)
		}
		if err := checkUnclaimed(ctx, path, ownerGone); err != nil {
			return fmt.Errorf("restore %s: %w", path, err)
		}
	}

	conn, err := from.r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restore from %s: %w", src, err)
	}
	tmp := path + ".restore-" + strconv.Itoa(os.Getpid())
	os.Remove(tmp)
	err = copyDB(ctx, conn, tmp)
	conn.Close()
	if err != nil {
		return fmt.Errorf("restore from %s: %w", src, err)
	}
	defer os.Remove(tmp) // after a failure; renamed away otherwise
	if err := releaseClaims(ctx, tmp); err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	// The old database's WAL must not meet the new file: nobody has the
	// old one open (the lock), and what its WAL may hold (a command leaves
	// its log, see LeaveWALOnClose) belongs to the database replaced.
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restore %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	return durable.Sync(filepath.Dir(path))
}

// checkUnclaimed fails with ErrInUse if a run of the database at path has
// a live owner. The caller holds the exclusive lock.
func checkUnclaimed(ctx context.Context, path string, ownerGone func(string) bool) error {
	st, err := Open(ctx, path, ReadOnly(), WithReadConns(1), func(o *options) { o.noLock = true })
	var sv *SchemaVersionError
	if errors.As(err, &sv) && sv.Older {
		st, err = Open(ctx, path, func(o *options) { o.readOnly, o.migrate, o.noLock = true, false, true }, WithReadConns(1))
	}
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.r.QueryContext(ctx, `SELECT id, owner, coalesce(owner_expires_at, 0) FROM runs
WHERE owner != '' AND state IN ('queued', 'running') ORDER BY id`)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	now := time.Now().UnixNano() // a decision about other processes' claims: their clock is the wall clock
	var live []string
	for rows.Next() {
		var id, owner string
		var until int64
		if err := rows.Scan(&id, &owner, &until); err != nil {
			return translate(err)
		}
		if until > now && (ownerGone == nil || !ownerGone(owner)) {
			live = append(live, fmt.Sprintf("run %s (driven by %s)", id, owner))
		}
	}
	if err := rows.Err(); err != nil {
		return translate(err)
	}
	if len(live) > 0 {
		return fmt.Errorf("%s: %w; stop it (or wait for it to end) first", strings.Join(live, ", "), ErrInUse)
	}
	return nil
}

// releaseClaims clears every run's owner in the database file at path.
func releaseClaims(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `UPDATE runs SET owner = '', owner_expires_at = NULL WHERE owner != ''`)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return translate(err)
}
