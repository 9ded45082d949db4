package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/store/transfer"
)

const migrateHelp = "Without --to: create the database or upgrade its schema to this binary's version, in place.\n" +
	"Other commands do this too; migrate says what it applied.\n\n" +
	"With --to postgres://…: copy a SQLite home's history, lineage and registry into PostgreSQL, to move\n" +
	"up to 'cairn server' replicas and remote workers on one database. The source (--from, else the\n" +
	"home's database) is read in one snapshot; the target is migrated to this binary's schema, then\n" +
	"filled in one transaction and verified before it commits: every table's row count and a sha256\n" +
	"over its rows in primary-key order, computed on both sides and printed. A difference, an error,\n" +
	"Ctrl-C or a kill leaves the target as it was. Refused: a source whose schema is not this binary's\n" +
	"(upgrade it first with 'cairn migrate --db PATH'), a source with runs in flight or a live server\n" +
	"on it, a target that already holds a history (unless --replace). Copied: runs, task runs,\n" +
	"attempts, lineage, artifacts' records, models and their stage changes, audit log, tokens,\n" +
	"schedules. Not copied: evaluations, workers and the leader lease (live state the new servers\n" +
	"make afresh). The artifacts' bytes and the logs are files: they stay in the home folder, which\n" +
	"every server on PostgreSQL must share (--home on a shared volume)."

func cmdMigrate(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("migrate", "[--from sqlite://PATH|HOME] [--to postgres://DSN [--replace]]", migrateHelp)
	from := fs.String("from", "", "the SQLite database to copy: sqlite://PATH, a database file or a home folder (default: this home's database); with --to only")
	to := fs.String("to", "", "the PostgreSQL database to copy into, a postgres:// URL (password in it, or PGPASSWORD); its schema is made or upgraded first")
	replace := fs.Bool("replace", false, "empty the target's copied tables first, in the same transaction (what they held is gone once the copy commits, kept if it fails); without it a target holding any row is refused")
	prog := "auto"
	fs.Var((*progressMode)(&prog), "progress", "progress display: auto (a bar on a terminal), bar, lines, none")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *to == "" {
		if *from != "" || *replace {
			return usageError{"--from and --replace go with --to postgres://…: without --to, migrate upgrades this home's database in place"}
		}
		return a.migrateInPlace(ctx)
	}
	return a.copyToPostgres(ctx, *from, *to, *replace, prog)
}

// migrateInPlace creates the database's tables or upgrades its schema:
// the home's SQLite file, or the database of --db (CAIRN_DB).
func (a *app) migrateInPlace(ctx context.Context) error {
	t, err := a.database()
	if err != nil {
		return err
	}
	var st interface {
		Migrate(ctx context.Context) ([]string, error)
		Close() error
	}
	if t.dsn != "" {
		pg, err := postgres.Open(ctx, t.connectDSN(), postgres.WithoutMigrations())
		if err != nil {
			return err // postgres.Open's errors name the host and the cause, the password hidden
		}
		st = pg
	} else {
		if err := readOnlyDatabase(t.path); err != nil {
			return err
		}
		lite, err := sqlite.Open(ctx, t.path, sqlite.WithoutMigrations())
		if err != nil {
			return err // sqlite.Open's errors name the file
		}
		st = lite
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(a.stdout, "%s: schema up to date\n", t)
		return nil
	}
	for _, m := range applied {
		fmt.Fprintf(a.stdout, "%s: applied %s\n", t, m)
	}
	return nil
}

// sourcePath turns --from into a database file: sqlite://PATH or PATH, a
// folder meaning the home whose cairn.db it is; "" the home's database.
func (a *app) sourcePath(from string) (string, error) {
	if from == "" {
		t, err := a.database()
		if err != nil {
			return "", err
		}
		if t.dsn != "" {
			return "", usageError{fmt.Sprintf("this home's database is PostgreSQL (%s): give the SQLite database to copy with --from sqlite://PATH", t)}
		}
		return t.path, nil
	}
	p := from
	if scheme, rest, ok := strings.Cut(from, "://"); ok {
		switch strings.ToLower(scheme) {
		case "sqlite", "sqlite3", "file":
			p = rest
		case "postgres", "postgresql":
			return "", usageError{"--from is a SQLite database (sqlite://PATH, its path or a home folder): copying from PostgreSQL is not supported (use pg_dump between two PostgreSQL databases)"}
		default:
			return "", usageError{fmt.Sprintf("--from %s: want sqlite://PATH, a database file or a home folder", scheme+"://…")}
		}
	}
	if p == "" {
		return "", usageError{"--from sqlite://: the path is missing (sqlite:///srv/cairn/cairn.db, or sqlite://cairn.db relative to here)"}
	}
	st, err := os.Stat(p)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("--from %s: no such file or folder", p)
	case err != nil:
		return "", fmt.Errorf("--from %s: %w", p, err)
	case st.IsDir():
		db := filepath.Join(p, "cairn.db")
		if _, err := os.Stat(db); err != nil {
			return "", fmt.Errorf("--from %s: a folder without cairn.db, so not a Cairn home", p)
		}
		return db, nil
	}
	return p, nil
}

func (a *app) copyToPostgres(ctx context.Context, from, to string, replace bool, progressFlag string) error {
	// The target is read as --db reads a database (parseDB): the same
	// URLs, the same refusals (libpq's key=value settings included), the
	// same connect_timeout when the URL sets none.
	t, err := parseDB(to)
	if err != nil {
		return usageError{"--to " + err.Error()}
	}
	if t.dsn == "" {
		return usageError{fmt.Sprintf("--to %s: want a PostgreSQL database, postgres://USER@HOST:PORT/DB (copying into SQLite is what 'cairn backup' does)", postgres.Redact(to))}
	}
	shown := t.String()
	path, err := a.sourcePath(from)
	if err != nil {
		return err
	}
	if info, ok := liveServer(serverInfoPath(path)); ok {
		return fmt.Errorf("a cairn server (pid %d, %s) is serving %s: stop it first (SIGTERM drains it), then run this again; what it did after the copy began would be missing from the copy",
			info.PID, info.Addr, path)
	}
	src, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
	var sv *sqlite.SchemaVersionError
	switch {
	case errors.As(err, &sv) && sv.Older:
		return fmt.Errorf("%s has schema version %d, this binary %d: upgrade it in place first with 'cairn migrate --db %s' (take a 'cairn backup DIR' before if you want the old one kept), then run this again",
			path, sv.Database, sv.Binary, path)
	case errors.As(err, &sv):
		return fmt.Errorf("%s has schema version %d, newer than this binary's %d: copy it with the cairn that made it, or a newer one", path, sv.Database, sv.Binary)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w at %s: there is nothing to copy", errNoDatabase, path)
	case err != nil:
		return err // sqlite.Open's errors name the file
	}
	defer src.Close()
	ex, err := src.Export(ctx)
	if err != nil {
		return err
	}
	defer ex.Close()
	flying, err := ex.InFlight(ctx, time.Now(), ownerGone)
	if err != nil {
		return err
	}
	if len(flying) > 0 {
		var b strings.Builder
		for i, f := range flying {
			if i == 5 {
				fmt.Fprintf(&b, "\n  … and %d more", len(flying)-i)
				break
			}
			fmt.Fprintf(&b, "\n  %s  %s, driven by %s (claim renewed until %s)", f.Run, f.State, f.Owner, f.ClaimUntil.Local().Format("15:04:05"))
		}
		return exitError{exitFailed, fmt.Errorf("%s has %s in flight:%s\nwait for %s to end, cancel %s ('cairn cancel RUN'), or stop the process driving %s "+
			"(a run whose process is gone is copied as it is, and a server on PostgreSQL takes it over); then run this again",
			path, plural(len(flying), "run"), b.String(), them(len(flying)), them(len(flying)), them(len(flying)))}
	}

	var rows int64
	for _, t := range ex.Tables() {
		rows += t.Rows
	}
	fmt.Fprintf(a.stderr, "copying %s (schema version %d, %s) to %s\n", path, ex.SchemaVersion(), plural(int(rows), "row"), shown)
	dst, err := postgres.Open(ctx, t.connectDSN())
	if err != nil {
		return err // names the host and the cause, the password redacted
	}
	defer dst.Close()

	// A server using the target would go on with the history the copy
	// replaces (or adds to) under it: refused while one leads there.
	if l, err := dst.Leader(ctx, scheduler.LeaderScheduler, time.Now()); err == nil && l.Live {
		return exitError{exitFailed, fmt.Errorf("a cairn server (%s) leads on %s until %s unless it renews: stop every server and worker using that database first, then run this again",
			printable(l.Holder), shown, l.ExpiresAt.Local().Format("15:04:05"))}
	} else if err != nil && !errors.Is(err, cairn.ErrNotFound) {
		return err
	}

	p := newCopyProgress(a.stderr, progressFlag, ex.Tables())
	opts := postgres.ImportOptions{Replace: replace, Progress: p.observe}
	if kill := testKillInCopy(); kill != "" {
		opts.Progress = func(pr transfer.Progress) {
			p.observe(pr)
			if pr.Phase == "copy" && pr.Table == kill {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	checks, err := dst.Import(ctx, ex, opts)
	p.done()
	var ne *postgres.NotEmptyError
	var me *transfer.MismatchError
	switch {
	case errors.As(err, &ne):
		return exitError{exitFailed, fmt.Errorf("%w\ngive an empty database (CREATE DATABASE …), or --replace to replace what it holds with this home's history", err)}
	case errors.As(err, &me):
		writeChecks(a.stdout, checks)
		return exitError{exitFailed, fmt.Errorf("%w; nothing was written: run it again, and if it fails again report it with this output", err)}
	case err != nil:
		return err
	}
	writeChecks(a.stdout, checks)
	fmt.Fprintf(a.stderr, "copied and verified %s in %d tables into %s\n", plural(int(rows), "row"), len(checks), shown)
	fmt.Fprintf(a.stderr, "the artifacts and logs were not copied: they are files, and stay in %s (artifacts/, logs/);\n"+
		"give every 'cairn server' and 'cairn run' on this database that folder (a shared volume, --home); a 'cairn worker' needs neither\n"+
		"(it fetches what it reads from a server, by digest, into its own cache)\n",
		filepath.Dir(path))
	return nil
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// writeChecks prints the verification as a table: each table's rows and
// digest on both sides.
func writeChecks(w io.Writer, checks []transfer.TableCheck) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSQLITE ROWS\tPOSTGRES ROWS\tSQLITE SHA256\tPOSTGRES SHA256")
	for _, c := range checks {
		verdict := "ok"
		if !c.OK() {
			verdict = "MISMATCH"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", c.Table, c.SourceRows, c.TargetRows, short(c.SourceSHA256), short(c.TargetSHA256), verdict)
	}
	tw.Flush()
}

// short is a digest's first 16 hex digits, enough to tell two apart by
// eye; "-" for none.
func short(d string) string {
	switch {
	case d == "":
		return "-"
	case len(d) > 16:
		return d[:16]
	}
	return d
}

// copyProgress shows a copy as it goes: a bar redrawn in place on a
// terminal (the phase, the table, the share of all rows), or a line as
// each table is done otherwise.
type copyProgress struct {
	w     io.Writer
	mode  string
	total int64
	base  map[string]int64 // rows of the tables before each, per phase

	mu    sync.Mutex
	drawn time.Time
	shown bool
}

func newCopyProgress(w io.Writer, mode string, tables []transfer.Table) *copyProgress {
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	p := &copyProgress{w: w, mode: mode, base: map[string]int64{}}
	for _, t := range tables {
		p.base[t.Name] = p.total
		p.total += t.Rows
	}
	return p
}

func (p *copyProgress) observe(pr transfer.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "lines":
		if pr.End {
			verb := "copied"
			if pr.Phase == "verify" {
				verb = "verified"
			}
			fmt.Fprintf(p.w, "%s %s %s: %s\n", stamp(time.Now()), verb, pr.Table, plural(int(pr.Done), "row"))
		}
	case "bar":
		if time.Since(p.drawn) < 100*time.Millisecond && !pr.End {
			return
		}
		p.drawn = time.Now()
		done := p.base[pr.Table] + pr.Done
		frac := 1.0
		if p.total > 0 {
			frac = float64(done) / float64(p.total)
		}
		const width = 30
		n := int(frac * width)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		fmt.Fprintf(p.w, "\r\033[K%-6s [%s] %3.0f%%  %s %d/%d", pr.Phase, bar, frac*100, pr.Table, pr.Done, pr.Total)
		p.shown = true
	}
}

// done ends the bar's line.
func (p *copyProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
