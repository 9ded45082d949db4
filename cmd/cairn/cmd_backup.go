package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
)

func cmdBackup(ctx context.Context, a *app, args []string) error {
	flags := a.newFlags("backup", "DIR",
		"Copy the home into DIR, a new or empty folder, while runs go on: a consistent snapshot of the\n"+
			"database (SQLite's online backup), then the artifacts it refers to (content-addressed,\n"+
			"each checked against its sha256), the logs, the prediction sample log a server keeps for\n"+
			"retrain (predictions/), the plugins folder and the plugin lock file.\n"+
			"DIR is itself a home: 'cairn --home DIR runs' reads it, 'cairn restore DIR' puts it back.\n"+
			"Its last file, backup.json, lists every file with its size: a backup that did not finish has none,\n"+
			"and restore refuses it.\n"+
			"Secret params are not in it (they are never stored). Keep it as private as the home.\n"+
			"With --db postgres://..., DIR gets the home's artifacts, logs and plugins but not the database:\n"+
			"dump that with pg_dump first (then the copy holds every artifact the dump names), e.g.\n"+
			"  pg_dump --format=custom --file=cairn.pgdump postgres://cairn@db.example.com/cairn && cairn backup DIR")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want the folder to back up into"}
	}
	home, err := a.homeDir()
	if err != nil {
		return err
	}
	t, err := a.database()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if realDir, realHome := realPath(dir), realPath(home); same(realDir, realHome) || within(realDir, realHome) {
		return fmt.Errorf("backup folder %s is inside the home %s: give a folder outside it", dir, realHome)
	}
	if err := newPrivateDir(dir); err != nil {
		return err
	}
	if t.dsn != "" {
		return a.backupFiles(t, home, dir)
	}
	// The database first: every artifact its snapshot refers to was
	// stored before the commit that refers to it, and artifacts are never
	// removed, so the copy that follows holds them all.
	st, err := sqlite.Open(ctx, t.path, sqlite.ReadOnly(), sqlite.WithReadConns(1))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database at %s: nothing to back up (give --home, CAIRN_HOME or --db)", t.path)
	}
	if err != nil {
		return err // sqlite.Open's errors name the file
	}
	defer st.Close()
	if err := st.Backup(ctx, filepath.Join(dir, "cairn.db")); err != nil {
		return err
	}
	n, err := copyHome(home, dir, a.pluginsDir == "")
	if err == nil {
		err = writeManifest(dir, home, "sqlite")
	}
	if err != nil {
		return fmt.Errorf("%w\nthe backup in %s did not finish: restore refuses it; back up again into a new folder", err, dir)
	}
	fmt.Fprintf(a.stdout, "backed up %s into %s: the database, %s\n", home, dir, n)
	return nil
}

// pgNote is the file of a backup of a home whose database is PostgreSQL:
// it says where the database is, and that the backup does not hold it.
const pgNote = "database.txt"

// backupFiles backs up the files of a home whose database is PostgreSQL
// (t): artifacts, logs and plugins, and says how to back up the database,
// which only PostgreSQL's own tools can copy consistently.
func (a *app) backupFiles(t dbTarget, home, dir string) error {
	note := fmt.Sprintf("This is a backup of the Cairn home %s: its artifacts, logs, prediction sample log and plugins.\n"+
		"Its database (runs, lineage, the model registry, tokens) is in PostgreSQL, %s, and is not here.\n"+
		"Back it up with pg_dump, run before 'cairn backup' (so that this copy holds every artifact the dump names):\n"+
		"  pg_dump --format=custom --file=cairn.pgdump %s\n"+
		"and restore it with pg_restore before 'cairn restore' of this folder:\n"+
		"  pg_restore --dbname=%s cairn.pgdump\n", home, t, shellQuote(t.arg()), shellQuote(t.arg()))
	if err := os.WriteFile(filepath.Join(dir, pgNote), []byte(note), 0o600); err != nil {
		return err
	}
	n, err := copyHome(home, dir, a.pluginsDir == "")
	if err == nil {
		err = writeManifest(dir, home, "postgres")
	}
	if err != nil {
		return fmt.Errorf("%w\nthe backup in %s did not finish: restore refuses it; back up again into a new folder", err, dir)
	}
	fmt.Fprintf(a.stdout, "backed up %s into %s: %s; not the database, which is in PostgreSQL\n", home, dir, n)
	fmt.Fprintf(a.stderr, "cairn backup: the database (%s) is not in %s: back it up with pg_dump, before 'cairn backup' so that the copy holds every artifact it names:\n"+
		"  pg_dump --format=custom --file=cairn.pgdump %s\n", t, dir, shellQuote(t.arg()))
	return nil
}

func cmdRestore(ctx context.Context, a *app, args []string) error {
	flags := a.newFlags("restore", "DIR [--force]",
		"Put a backup made by 'cairn backup DIR' in place as the home (--home, CAIRN_HOME): its database,\n"+
			"artifacts, logs and plugins. Refuses a home that is not empty unless --force, and always one\n"+
			"in use (a cairn process has its database open, or a run has a live owner). The restored runs\n"+
			"have no owner: 'cairn resume RUN' finishes an unfinished one (secret params given again).\n"+
			"With --db postgres://..., it puts back the artifacts, logs and plugins of a backup of a home on\n"+
			"PostgreSQL; the database is restored with pg_restore from the dump made beside the backup.\n"+
			"The backup is checked first against its backup.json (every file there, at its size; the database\n"+
			"at its sha256; each artifact against its name as it is copied): one that did not finish is refused.\n"+
			"A restore into an empty home that fails (a full disk) removes what it had written, so the home is as it was.")
	force := flags.Bool("force", false, "replace the database of a home that is not empty (never one in use)")
	unchecked := flags.Bool("unchecked", false, "restore a backup that has no backup.json (made by an older Cairn) or does not match it, as it is")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want the backup folder"}
	}
	dir, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	t, err := a.database()
	if err != nil {
		return err
	}
	src := filepath.Join(dir, "cairn.db")
	_, statErr := os.Stat(src)
	_, noteErr := os.Stat(filepath.Join(dir, pgNote))
	switch {
	case t.dsn != "" && statErr == nil:
		return fmt.Errorf("%s holds a SQLite database, and the database here is PostgreSQL (%s): restore it into a SQLite home (--home, or --db FILE)", dir, t)
	case t.dsn == "" && statErr != nil && noteErr == nil:
		return fmt.Errorf("%s is a backup of a home whose database is PostgreSQL (see %s in it): it holds no database; "+
			"restore the database with pg_restore and this folder with 'cairn --db postgres://... restore %s'", dir, pgNote, dir)
	case t.dsn == "" && statErr != nil:
		return fmt.Errorf("%s is not a backup: no cairn.db in it (%v)", dir, statErr)
	case t.dsn != "" && noteErr != nil:
		return fmt.Errorf("%s is not a backup: no %s in it (%v)", dir, pgNote, noteErr)
	}
	if !*unchecked {
		if _, err := checkManifest(dir); err != nil {
			return err
		}
	}
	home, err := a.homeDir()
	if err != nil {
		return err
	}
	if same(dir, home) {
		return fmt.Errorf("the backup %s is the home itself", dir)
	}
	entries, err := os.ReadDir(home)
	wasEmpty := err != nil || len(entries) == 0 // nothing of the user's to keep, should the restore fail
	if err == nil && len(entries) > 0 && !*force {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		what := "restoring replaces its database"
		if t.dsn != "" {
			what = "restoring puts the backup's logs and plugins over its own"
		}
		return fmt.Errorf("home %s is not empty (%s): %s; give an empty or new home, or --force",
			home, strings.Join(names, ", "), what)
	}
	if err := a.privateHome(); err != nil {
		return err
	}
	if t.dsn != "" {
		n, err := copyHome(dir, home, a.pluginsDir == "")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "restored %s into %s: %s; not the database, which is in PostgreSQL (%s)\n", dir, home, n, t)
		fmt.Fprintf(a.stderr, "cairn restore: restore the database from its pg_dump with pg_restore, e.g. pg_restore --dbname=%s cairn.pgdump\n", shellQuote(t.arg()))
		return nil
	}
	dbPath := t.path
	if err := restoreSQLite(ctx, a, dir, src, home, dbPath); err != nil {
		if wasEmpty {
			// What this restore wrote is all there is: it goes, so that
			// the home is as it was (a full disk left half the artifacts
			// and no database, and the next try was refused as "not
			// empty").
			if rerr := emptyHome(home); rerr == nil {
				return fmt.Errorf("%w\nnothing was restored: what the restore had written into %s was removed; fix the cause (free space?) and restore again", err, home)
			}
		}
		return fmt.Errorf("%w\nthe home %s now holds part of the backup: fix the cause (free space?) and restore again with --force", err, home)
	}
	return nil
}

// emptyHome removes everything in home, keeping the folder.
func emptyHome(home string) error {
	entries, err := os.ReadDir(home)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(home, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// restoreSQLite puts backup dir (its database src) in place as home, whose
// database is dbPath, and says what it restored.
func restoreSQLite(ctx context.Context, a *app, dir, src, home, dbPath string) error {
	// Artifacts before the database: the restored runs refer to them.
	// They are content-addressed, so adding them to a home in use (which
	// the database restore then refuses) changes nothing there.
	if _, err := copyTree(filepath.Join(dir, "artifacts", "sha256"), filepath.Join(home, "artifacts", "sha256"), blobCopier, nil); err != nil {
		return err
	}
	if err := sqlite.Restore(ctx, src, dbPath, ownerGone); err != nil {
		return err
	}
	n, err := copyHome(dir, home, a.pluginsDir == "")
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return fmt.Errorf("the restored database: %w", err) // Open's error names the file
	}
	defer st.Close()
	fmt.Fprintf(a.stdout, "restored %s into %s: the database, %s\n", dir, home, n)
	for _, state := range []cairn.RunState{cairn.RunRunning, cairn.RunQueued} {
		runs, err := st.ListRuns(ctx, scheduler.RunFilter{State: state, Limit: 1000})
		if err != nil {
			return err
		}
		for _, r := range runs {
			fmt.Fprintf(a.stdout, "run %s (%s) is unfinished: cairn resume %s\n", r.ID, r.Workflow, r.ID)
		}
	}
	return nil
}

// copied counts what copyHome copied.
type copied struct {
	artifacts, logs, plugins, samples int
	skipped                           []string // what is not a regular file (a link, a socket): not copied
}

func (c copied) String() string {
	s := tasks.Plural(c.artifacts, "artifact") + ", " + tasks.Plural(c.logs, "log") + ", " + tasks.Plural(c.plugins, "plugin file")
	if c.samples > 0 {
		s += ", " + tasks.Plural(c.samples, "prediction sample file")
	}
	if n := len(c.skipped); n > 0 {
		s += fmt.Sprintf("; skipped %d that %s not a regular file (a symbolic link, a socket): %s", n, map[bool]string{true: "is", false: "are"}[n == 1], strings.Join(c.skipped[:min(n, 5)], ", "))
		if n > 5 {
			s += fmt.Sprintf(" and %d more", n-5)
		}
	}
	return s
}

// copyHome copies a home's files other than the database from one home
// (or backup) to another: artifacts (verified), logs, the prediction
// sample log (served traffic, which retrain reads and nothing can make
// again; a file a server is appending to is copied as far as it was
// written) and — when the plugins live in the home — the plugins folder
// and its lock file.
func copyHome(from, to string, plugins bool) (copied, error) {
	var c copied
	var err error
	if c.artifacts, err = copyTree(filepath.Join(from, "artifacts", "sha256"), filepath.Join(to, "artifacts", "sha256"), blobCopier, &c.skipped); err != nil {
		return c, err
	}
	if c.logs, err = copyTree(filepath.Join(from, "logs"), filepath.Join(to, "logs"), fileCopier(0o600), &c.skipped); err != nil {
		return c, err
	}
	if c.samples, err = copyTree(filepath.Join(from, "predictions"), filepath.Join(to, "predictions"), fileCopier(0o600), &c.skipped); err != nil {
		return c, err
	}
	if !plugins {
		return c, nil
	}
	if c.plugins, err = copyTree(filepath.Join(from, "plugins"), filepath.Join(to, "plugins"), fileCopier(0), &c.skipped); err != nil {
		return c, err
	}
	lock := filepath.Join(from, "plugins.lock")
	if _, err := os.Stat(lock); err == nil {
		if err := fileCopier(0)(lock, filepath.Join(to, "plugins.lock")); err != nil {
			return c, err
		}
		c.plugins++
	}
	return c, nil
}

// copier copies one regular file.
type copier func(src, dst string) error

// copyTree copies the regular files under from into to (folders 0700),
// returning how many; the paths of what is not a regular file (a link, a
// socket: not state, never followed) are added to skipped, if not nil. A
// missing from is an empty tree.
func copyTree(from, to string, cp copier, skipped *[]string) (int, error) {
	n := 0
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == from {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o700)
		case !d.Type().IsRegular():
			if skipped != nil {
				*skipped = append(*skipped, p)
			}
			return nil // a socket, a link: not state
		}
		if err := cp(p, dst); err != nil {
			return fmt.Errorf("copy %s: %w", p, err)
		}
		n++
		return nil
	})
	return n, err
}

// blobCopier copies an artifact blob, checking that its bytes hash to its
// name, 0400; one already there with the same size is kept.
func blobCopier(src, dst string) error {
	name := filepath.Base(src)
	if fi, err := os.Stat(dst); err == nil {
		if si, err := os.Stat(src); err == nil && si.Size() == fi.Size() {
			return nil
		}
	}
	h := sha256.New()
	return writeFileAtomic(src, dst, 0o400, h, func() error {
		if got := hex.EncodeToString(h.Sum(nil)); got != name {
			return fmt.Errorf("artifact sha256:%s holds bytes hashing to sha256:%s: corrupt, not copied", name, got)
		}
		return nil
	})
}

// fileCopier copies a file with mode perm (0: the source's mode, less
// group and other write).
func fileCopier(perm fs.FileMode) copier {
	return func(src, dst string) error {
		mode := perm
		if mode == 0 {
			fi, err := os.Stat(src)
			if err != nil {
				return err
			}
			mode = fi.Mode().Perm() &^ 0o022
		}
		return writeFileAtomic(src, dst, mode, io.Discard, nil)
	}
}

// writeFileAtomic copies src to dst through a temporary file (teeing the
// bytes into also), runs check before the file replaces dst.
func writeFileAtomic(src, dst string, mode fs.FileMode, also io.Writer, check func() error) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp-" + cairn.NewToken()[:8]
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.MultiWriter(out, also), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && check != nil {
		err = check()
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// newPrivateDir makes dir 0700, or checks that an existing one is empty.
func newPrivateDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		return os.Chmod(dir, 0o700)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("backup folder %s is not empty: give a new or empty folder", dir)
	}
	return os.Chmod(dir, 0o700)
}

func same(a, b string) bool {
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	if err1 == nil && err2 == nil {
		return os.SameFile(ai, bi)
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// realPath is p made absolute with the symbolic links of its longest
// existing prefix resolved, so that two spellings of one place (a relative
// --home, a link to the home) compare equal; p itself need not exist.
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for cur := abs; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within reports whether path lies under dir.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}
