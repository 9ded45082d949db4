package migrations_test

import (
	"fmt"
	"io/fs"
	"regexp"
	"testing"

	"github.com/cairnml/cairn/migrations"
)

func TestSQLiteFilesNumbered(t *testing.T) {
	names, err := fs.Glob(migrations.SQLite(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 || names[0] != "0001_init.sql" {
		t.Fatalf("SQLite migrations = %v, want 0001_init.sql first", names)
	}
	re := regexp.MustCompile(`^\d{4}_[a-z0-9_]+\.sql$`)
	for _, n := range names {
		if !re.MatchString(n) {
			t.Errorf("migration %q is not NNNN_name.sql", n)
		}
	}
}

// TestDialectsInStep fails when a migration is added to one dialect only:
// every version has one file in each, under the same name.
func TestDialectsInStep(t *testing.T) {
	lite, err := fs.Glob(migrations.SQLite(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := fs.Glob(migrations.Postgres(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	in := func(names []string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	l, p := in(lite), in(pg)
	for _, n := range lite {
		if !p[n] {
			t.Errorf("migrations/sqlite/%s has no migrations/postgres/%s: write the PostgreSQL version of it", n, n)
		}
	}
	for _, n := range pg {
		if !l[n] {
			t.Errorf("migrations/postgres/%s has no migrations/sqlite/%s: write the SQLite version of it", n, n)
		}
	}
}

// TestVersionsContiguous fails on two files of one version or a version
// skipped: a database at the highest version is taken as up to date, so a
// file numbered below it that lands later would never be applied to it.
// A migration takes the next number free on main when it lands.
func TestVersionsContiguous(t *testing.T) {
	names, err := fs.Glob(migrations.SQLite(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if want := fmt.Sprintf("%04d_", i+1); n[:5] != want {
			t.Fatalf("migration %d is %s, want %s...: versions are 1, 2, 3 ... with one file each (renumber yours to the next free number)", i+1, n, want)
		}
	}
}
