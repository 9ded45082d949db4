package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn/migrations"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

var pgMigrations = sync.OnceValues(func() ([]sqlrow.Migration, error) { return sqlrow.LoadMigrations(migrations.Postgres()) })

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
			if newest := ms[len(ms)-1].Version; have > newest {
				return &SchemaVersionError{Database: have, Binary: newest}
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UnixNano()); err != nil {
				return err
			}
			done = true
			return nil
		}, true)
		if err != nil {
			return applied, fmt.Errorf("migrate: %w", translate(err))
		}
		if done {
			applied = append(applied, m.Name)
		}
	}
	return applied, nil
}

// SchemaVersion returns the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", translate(err))
	}
	return v, nil
}
