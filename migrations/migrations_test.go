package migrations_test

import (
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
