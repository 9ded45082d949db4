package sqlrow

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered SQL file of a dialect (migrations.SQLite(),
// migrations.Postgres()).
type Migration struct {
	Version int
	Name    string // file name, e.g. "0001_init.sql"
	SQL     string
}

// LoadMigrations reads the NNNN_name.sql files of fsys, by version; two
// of one version, or a name of another shape, are refused.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		v, ok, err := migrationVersion(e)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// LatestVersion is the highest version of the NNNN_name.sql files of
// fsys (0 for none), from their names alone: no file is read. It is what
// opening a database compares the database's own version with.
func LatestVersion(fsys fs.FS) (int, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return 0, fmt.Errorf("read migrations: %w", err)
	}
	latest := 0
	for _, e := range entries {
		v, ok, err := migrationVersion(e)
		if err != nil {
			return 0, err
		}
		if ok {
			latest = max(latest, v)
		}
	}
	return latest, nil
}

// migrationVersion is the version of a migration file NNNN_name.sql; ok
// is false for an entry that is no migration (a folder, another
// extension), and a .sql file named otherwise is an error.
func migrationVersion(e fs.DirEntry) (v int, ok bool, err error) {
	if e.IsDir() || path.Ext(e.Name()) != ".sql" {
		return 0, false, nil
	}
	num, _, cut := strings.Cut(e.Name(), "_")
	v, err = strconv.Atoi(num)
	if !cut || err != nil || v <= 0 {
		return 0, false, fmt.Errorf("migration %s: name is not NNNN_name.sql", e.Name())
	}
	return v, true, nil
}
