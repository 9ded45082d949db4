package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn/migrations"
)

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

var pgMigrations = sync.OnceValues(func() ([]migration, error) { return loadMigrations(migrations.Postgres()) })

const schemaMigrationsDDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT NOT NULL PRIMARY KEY,
	name       TEXT   NOT NULL,
	applied_at BIGINT NOT NULL
)`

// Advisory lock keys (pg_advisory_xact_lock): one namespace, 'cairn' in
// the high bits.
const (
	lockMigrate     int64 = 0x636169726e<<16 | 1 // migrations: one process at a time
	lockEvaluations int64 = 0x636169726e<<16 | 2 // evaluation ids in commit order
	lockRegistry    int64 = 0x636169726e<<16 | 3 // model versions and stage changes
)

// SchemaVersionError reports a database whose schema is newer than this
// binary's migrations, or older with ReadOnly (which cannot migrate it).
type SchemaVersionError struct {
	Database, Binary int
	// Older: the database is older than the binary and the store was
	// opened ReadOnly.
	Older bool
}

func (e *SchemaVersionError) Error() string {
	if e.Older {
		return fmt.Sprintf("database schema version %d is older than this binary's (%d); run 'cairn migrate' (it upgrades the database in place)", e.Database, e.Binary)
	}
	return fmt.Sprintf("database schema version %d is newer than this binary supports (%d); upgrade cairn", e.Database, e.Binary)
}

// Migrate applies the migrations the database lacks, each in its own
// transaction under an advisory lock (several processes starting at once
// apply each once), and returns the names of those it applied. A
// database newer than the binary is refused (*SchemaVersionError).
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	ms, err := pgMigrations()
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		done := false
		err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			done = false
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrate); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, schemaMigrationsDDL); err != nil {
				return err
			}
			var have int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
				return err
			}
			if newest := ms[len(ms)-1].version; have > newest {
				return &SchemaVersionError{Database: have, Binary: newest}
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UnixNano()); err != nil {
				return err
			}
			done = true
			return nil
		}, true)
		if err != nil {
			return applied, fmt.Errorf("migrate: %w", translate(err))
		}
		if done {
			applied = append(applied, m.name)
		}
	}
	return applied, nil
}

// SchemaVersion returns the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", translate(err))
	}
	return v, nil
}
