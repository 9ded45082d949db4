package main

import (
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// TestSQLSourceParamIsBound runs docs/workflows.md's sql example as
// written (issue 14 item 1): a -p value reaches the query as a bound
// parameter, so the attack in it is a value that matches nothing;
// a workflow splicing a param into query: is refused by validate and run
// before anything is written; and a query trying to rewrite
// $CAIRN_HOME/cairn.db through ATTACH fails and leaves a failed run failed.
func TestSQLSourceParamIsBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	doc, err := os.ReadFile("../../docs/workflows.md")
	if err != nil {
		t.Fatal(err)
	}
	var orders string
	for _, b := range yamlBlocks(string(doc)) {
		if strings.HasPrefix(b, "name: orders\n") {
			orders = b
		}
	}
	if orders == "" {
		t.Fatal("docs/workflows.md has no `name: orders` example")
	}
	wf := filepath.Join(dir, "orders.yaml")
	if err := os.WriteFile(wf, []byte(orders), 0o644); err != nil {
		t.Fatal(err)
	}
	shop := filepath.Join(dir, "shop.db")
	db, err := sql.Open("sqlite3", shop)
	if err != nil {
		t.Fatal(err)
	}
	// The database of the doc's sqlite3 command.
	if _, err := db.Exec(`CREATE TABLE orders (id INTEGER, amount REAL, country TEXT);
		INSERT INTO orders VALUES (1, 9.5, 'fr'), (2, 20, 'de'), (3, 12, 'fr'), (4, 30, 'fr');`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	sum := func(p string) [32]byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum(shop)

	r := e.cairnIn(dir, "run", "orders.yaml", "-p", "country=fr", "-p", "min=10")
	if r.code != 0 {
		t.Fatalf("the doc's example: %s", r)
	}
	id := runIDOf(t, r.stderr)
	if got := e.must(0, "artifact", id, "orders", "data").stdout; got != "id,amount\n3,12\n4,30\n" {
		t.Errorf("data:\n%s", got)
	}

	home := filepath.Join(e.home, "cairn.db")
	attack := "fr'; PRAGMA query_only=0; ATTACH '" + home + "' AS w; UPDATE w.runs SET state = 'succeeded'; --"
	r = e.cairnIn(dir, "run", "orders.yaml", "-p", "country="+attack)
	if r.code != 1 || !strings.Contains(r.stderr, "has no rows") {
		t.Fatalf("the attack as a -p value: want exit 1 with no rows (a value that matches nothing), got %s", r)
	}
	failed := runIDOf(t, r.stderr)

	// The same attack written into the query itself: refused by the guard.
	direct := filepath.Join(dir, "direct.yaml")
	if err := os.WriteFile(direct, []byte(`name: direct
tasks:
  - id: q
    type: collect
    with:
      source: sql
      dsn: "sqlite:`+shop+`"
      query: "PRAGMA query_only=0; ATTACH '`+home+`' AS w; UPDATE w.runs SET state = 'succeeded'; SELECT 1 AS x"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.cairnIn(dir, "run", direct)
	if r.code != 1 || !strings.Contains(r.stderr, "read-only") || !strings.Contains(r.stderr, "PRAGMA query_only = 0") {
		t.Fatalf("ATTACH of cairn.db: want exit 1 naming the refused PRAGMA, got %s", r)
	}
	if s := e.show(failed); s.State != "failed" {
		t.Errorf("run %s is %s after the attack, want failed", failed, s.State)
	}
	if sum(shop) != before {
		t.Errorf("shop.db changed")
	}

	// A param spliced into the query's text: refused before anything runs.
	spliced := filepath.Join(dir, "spliced.yaml")
	if err := os.WriteFile(spliced, []byte(strings.Replace(orders, "country = :country", "country = '${{ params.country }}'", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	runsBefore := len(e.runs())
	for _, cmd := range []string{"validate", "run"} {
		r = e.cairnIn(dir, cmd, spliced)
		if r.code != 2 || !strings.Contains(r.stderr, "spliced into the SQL text") || !strings.Contains(r.stderr, "spliced.yaml:") {
			t.Errorf("cairn %s of a spliced query: want exit 2 with the file position and the reason, got %s", cmd, r)
		}
	}
	if n := len(e.runs()); n != runsBefore {
		t.Errorf("a refused workflow created a run (%d runs, was %d)", n, runsBefore)
	}
}
