package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn/migrations"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// sqliteMigrations is this binary's migrations, read once.
var sqliteMigrations = sync.OnceValues(func() ([]sqlrow.Migration, error) { return sqlrow.LoadMigrations(migrations.SQLite()) })

// latestVersion is the newest schema version this binary knows, from the
// names of its migrations alone (none is read, as sqliteMigrations does).
var latestVersion = sync.OnceValues(func() (int, error) { return sqlrow.LatestVersion(migrations.SQLite()) })

// longOpens counts the opens of an existing database that were not
// settled by upToDate's one read (tests).
var longOpens atomic.Int64

// upToDate reports, in one read, whether db is a Cairn database at this
// binary's schema version: its schema_migrations' highest version is the
// newest this binary knows. That is every open of a home after its first,
// and it settles the open: the database is Cairn's (checkCairn asks no
// more than that it has schema_migrations) and has every migration
// (Migrate applies them in order, each recorded with its changes, and
// nobody removes one). Anything else — a new, older, newer or foreign
// database, an error — is false, and goes the long way.
func upToDate(ctx context.Context, db *sql.DB) bool {
	latest, err := latestVersion()
	if err != nil || latest == 0 {
		return false
	}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return false
	}
	return v == latest
}

// schemaMigrationsDDL makes the table that records the applied migrations.
const schemaMigrationsDDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
)`

// execer is a transaction's statements: the writer's connection inside
// a write transaction (Migrate) or a new database's *sql.Tx
// (createSchema).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// apply runs migration m in tx and records it in schema_migrations.
func apply(ctx context.Context, tx execer, m sqlrow.Migration) error {
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("apply %s: %w", m.Name, translate(err))
	}
	return record(ctx, tx, m)
}

// record notes migration m as applied.
func record(ctx context.Context, tx execer, m sqlrow.Migration) error {
	// applied_at is a record for people, not a decision: the clock is fine here.
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("record %s: %w", m.Name, translate(err))
	}
	return nil
}

// Migrate applies the pending migrations, each in its own transaction
// recorded in schema_migrations, and returns the names of those it applied
// (none if the schema was current). It fails with a *SchemaVersionError,
// changing nothing, if the database is newer than this binary.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	ms, err := sqliteMigrations()
	if err != nil {
		return nil, err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	// A database that has every migration (every open of an existing
	// home) needs no write transaction: one read says so. Another
	// process can only add migrations, never remove them.
	if current, newer, err := s.applied(ctx, ms); err == nil {
		if newer > latest {
			return nil, fmt.Errorf("migrate %s: %w", s.path, &SchemaVersionError{Database: newer, Binary: latest})
		}
		if current {
			return nil, nil
		}
	}
	if err := s.onWriter(func(c *sql.Conn) error {
		_, err := c.ExecContext(ctx, schemaMigrationsDDL)
		return err
	}); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", translate(err))
	}
	for _, m := range ms {
		did := false
		err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
			// Read the version inside the write lock: another process
			// may have migrated meanwhile.
			var cur int
			s.stmts.Add(1)
			if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
				return translate(err)
			}
			if cur > latest {
				return &SchemaVersionError{Database: cur, Binary: latest}
			}
			var n int
			s.stmts.Add(1)
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return translate(err)
			}
			if n > 0 {
				return nil
			}
			s.stmts.Add(2)
			if err := apply(ctx, tx, m); err != nil {
				return err
			}
			did = true
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", s.path, err)
		}
		if did {
			applied = append(applied, m.Name)
		}
	}
	// With nothing pending the loop above may not have looked.
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return applied, err
	}
	if v > latest {
		return applied, fmt.Errorf("migrate %s: %w", s.path, &SchemaVersionError{Database: v, Binary: latest})
	}
	return applied, nil
}

// applied reports, in one read, whether every migration of ms is recorded
// in the database, and the highest version recorded. It fails when there
// is no schema_migrations table (a new database).
func (s *Store) applied(ctx context.Context, ms []sqlrow.Migration) (all bool, highest int, err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	rows, err := s.wc.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return false, 0, translate(err)
	}
	defer rows.Close()
	have := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return false, 0, translate(err)
		}
		have[v] = true
		highest = max(highest, v)
	}
	if err := rows.Err(); err != nil {
		return false, 0, translate(err)
	}
	for _, m := range ms {
		if !have[m.Version] {
			return false, highest, nil
		}
	}
	return true, highest, nil
}

// createSchema gives the new, empty database db this binary's schema in
// one transaction: the snapshot of the schema (migrations.SQLiteSnapshot),
// when it is one of this binary's versions and snapshot is true, then the
// migrations after it; each migration is recorded as applied.
func createSchema(ctx context.Context, db *sql.DB, snapshot bool) error {
	ms, err := sqliteMigrations()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	from := 0
	if v, snap := migrations.SQLiteSnapshot(); snapshot && v > 0 && knownVersion(ms, v) {
		if _, err := tx.ExecContext(ctx, snap); err != nil {
			return fmt.Errorf("create the schema of version %d: %w", v, translate(err))
		}
		for _, m := range ms {
			if m.Version <= v {
				if err := record(ctx, tx, m); err != nil {
					return err
				}
			}
		}
		from = v
	} else if _, err := tx.ExecContext(ctx, schemaMigrationsDDL); err != nil {
		return fmt.Errorf("create schema_migrations: %w", translate(err))
	}
	for _, m := range ms {
		if m.Version > from {
			if err := apply(ctx, tx, m); err != nil {
				return err
			}
		}
	}
	return translate(tx.Commit())
}

// knownVersion reports whether v is the version of one of ms.
func knownVersion(ms []sqlrow.Migration, v int) bool {
	for _, m := range ms {
		if m.Version == v {
			return true
		}
	}
	return false
}

// SchemaVersion returns the database's schema version: the highest
// migration applied, 0 for a new database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.onWriter(func(c *sql.Conn) error {
		return c.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", translate(err))
	}
	return v, nil
}
