package postgres

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoSchema is the error of a database that has no Cairn tables, opened
// ReadOnly (which creates none).
var ErrNoSchema = errors.New("the database has no Cairn tables")

// ReadOnly opens the store for the commands that only look (runs, show,
// logs, artifact): it applies no migration, every transaction of its
// sessions is READ ONLY (default_transaction_read_only), so that a write
// fails rather than changes anything, and Open fails with an error
// wrapping ErrNoSchema if the database has no Cairn tables and with a
// *SchemaVersionError if its schema is not this binary's.
func ReadOnly() Option { return func(o *options) { o.readOnly, o.migrate = true, false } }

// checkSchema says whether the database holds this binary's schema.
func (s *Store) checkSchema(ctx context.Context) error {
	var table *string
	if err := s.db.QueryRow(ctx, `SELECT to_regclass('schema_migrations')::text`).Scan(&table); err != nil {
		return fmt.Errorf("read the schema: %w", translate(err))
	}
	if table == nil {
		return ErrNoSchema
	}
	have, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	ms, err := pgMigrations()
	if err != nil {
		return err
	}
	switch newest := ms[len(ms)-1].Version; {
	case have == 0:
		return ErrNoSchema
	case have > newest:
		return &SchemaVersionError{Database: have, Binary: newest}
	case have < newest:
		return &SchemaVersionError{Database: have, Binary: newest, Older: true}
	}
	return nil
}
