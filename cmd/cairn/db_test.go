package main

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestParseDB: what --db and CAIRN_DB accept, and that no message
// repeats a password.
func TestParseDB(t *testing.T) {
	for _, c := range []struct {
		in, path, dsn, err string
	}{
		{in: "/srv/cairn/cairn.db", path: "/srv/cairn/cairn.db"},
		{in: "rel/cairn.db", path: "rel/cairn.db"},
		{in: "sqlite:///srv/cairn.db", path: "/srv/cairn.db"},
		{in: "sqlite://rel.db", path: "rel.db"},
		{in: "SQLite3://x.db", path: "x.db"},
		{in: "file:///srv/cairn.db", path: "/srv/cairn.db"},
		{in: "weird:name.db", path: "weird:name.db"},
		{in: "postgres://u:pw@h:5432/db?sslmode=disable", dsn: "postgres://u:pw@h:5432/db?sslmode=disable"},
		{in: "postgresql://h/db", dsn: "postgresql://h/db"},
		{in: "sqlite://", err: `"sqlite://": give the file`},
		{in: "mysql://root:pw@h/db", err: "mysql://…: Cairn keeps its state in SQLite or PostgreSQL"},
		{in: "postgres://u:p w@h/db", err: "postgres://…: not a valid URL"},
		{in: "postgres://u:pw@h:port/db", err: "postgres://…: not a valid URL"},
		{in: "host=h dbname=cairn password=pw", err: "key=value settings are not taken here"},
	} {
		got, err := parseDB(c.in)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "pw") {
				t.Errorf("parseDB(%q): %v, want an error with %q and no password", c.in, err, c.err)
			}
		case err != nil:
			t.Errorf("parseDB(%q): %v", c.in, err)
		case got.path != c.path || got.dsn != c.dsn:
			t.Errorf("parseDB(%q) = %+v, want path %q dsn %q", c.in, got, c.path, c.dsn)
		}
	}
}

// TestDBTargetNames: a PostgreSQL URL is shown without its password, and
// given again (in a hint) without it; --db wins over CAIRN_DB, which wins
// over the home.
func TestDBTargetNames(t *testing.T) {
	pg := dbTarget{dsn: "postgres://cairn:s3cret@db:5432/cairn?sslmode=disable&password=s3cret"}
	if s := pg.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "cairn:xxxxx@db:5432") {
		t.Errorf("String() = %q", s)
	}
	if s := pg.arg(); strings.Contains(s, "s3cret") || !strings.HasPrefix(s, "postgres://cairn@db:5432/cairn?") || !strings.Contains(s, "sslmode=disable") {
		t.Errorf("arg() = %q", s)
	}
	if s := pg.connectDSN(); !strings.Contains(s, "connect_timeout=10") {
		t.Errorf("connectDSN() = %q", s)
	}
	if s := (dbTarget{dsn: "postgres://h/db", timeout: completeConnectTimeout}).connectDSN(); !strings.Contains(s, "connect_timeout=2") {
		t.Errorf("connectDSN() for the completion scripts = %q", s)
	}
	if s := (dbTarget{dsn: "postgres://h/db?connect_timeout=3"}).connectDSN(); strings.Count(s, "connect_timeout") != 1 || !strings.Contains(s, "connect_timeout=3") {
		t.Errorf("connectDSN() of a URL with a timeout = %q", s)
	}

	home := t.TempDir()
	t.Setenv(envDB, "")
	a := &app{home: home}
	if got, err := a.database(); err != nil || got.path != filepath.Join(home, "cairn.db") || got.given {
		t.Errorf("no --db nor CAIRN_DB: %+v, %v", got, err)
	}
	t.Setenv(envDB, "postgres://h/env")
	if got, err := a.database(); err != nil || got.dsn != "postgres://h/env" || !got.given {
		t.Errorf("CAIRN_DB: %+v, %v", got, err)
	}
	a.dbFlag = "/x/flag.db"
	if got, err := a.database(); err != nil || got.path != "/x/flag.db" {
		t.Errorf("--db and CAIRN_DB: %+v, %v", got, err)
	}
	a.dbFlag = ""
	t.Setenv(envDB, "mysql://x")
	var ue usageError
	if _, err := a.database(); !errors.As(err, &ue) || !strings.HasPrefix(ue.msg, "CAIRN_DB mysql://…") {
		t.Errorf("a bad CAIRN_DB: %v", err)
	}
}

// TestDBConns: the PostgreSQL pool of a server or a foreground run is sized
// to its worker slots and the CPUs, within bounds; --db-max-conns wins.
func TestDBConns(t *testing.T) {
	cpus := runtime.GOMAXPROCS(0)
	for _, c := range []struct{ flag, slots, want int }{
		{0, 0, min(30, max(10, 2*cpus+4))},
		{0, 8, min(30, max(10, 2*cpus+4+2))},
		{0, 4096, 30},
		{7, 4096, 7},
		{200, 0, 200},
	} {
		if got := dbConns(c.flag, c.slots); got != c.want {
			t.Errorf("dbConns(%d, %d) = %d, want %d", c.flag, c.slots, got, c.want)
		}
	}
}
