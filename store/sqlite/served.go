package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// servedCols is the width of a row of servedQuery's list.
const servedCols = 4

// servedQuery inserts size served rows (a padded VALUES list; the row's
// JSON bound as bytes and stored as text).
func servedQuery(size int) string {
	return `INSERT INTO served_rows (name, version, at, row)
SELECT column1, column2, column3, CAST(column4 AS TEXT) FROM (VALUES ` + valuesList(size, servedCols) + `) WHERE column1 IS NOT NULL`
}

// LogServedRows stores rows serving sampled (issue #22), in one
// transaction that also deletes, for each model version written, its rows
// past the newest keep (cairn.DefaultServedRowsKept when keep is 0 or
// less).
func (s *Store) LogServedRows(ctx context.Context, rows []cairn.ServedRow, keep int) error {
	if len(rows) == 0 {
		return nil
	}
	if err := sqlrow.CheckServedRows(rows); err != nil {
		return err
	}
	keep = sqlrow.Kept(keep)
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		// One statement per 512 rows (a VALUES list padded to a power of
		// two), as the request log.
		if err := eachChunk(rows, func(chunk []cairn.ServedRow, size int) error {
			args := make([]any, 0, size*servedCols)
			for _, r := range chunk {
				args = append(args, r.Name, int64(r.Version), r.At.UnixNano(), r.Row)
			}
			_, err := s.exec(ctx, tx, servedQuery(size), padArgs(args, len(chunk), size, servedCols)...)
			return err
		}); err != nil {
			return err
		}
		for _, v := range sqlrow.ServedVersions(rows) {
			if _, err := s.exec(ctx, tx, sqlrow.TrimServed(sqliteArg), v.Name, int64(v.Version), v.Name, int64(v.Version), int64(keep)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("log %d served rows: %w", len(rows), translate(err))
	}
	return nil
}

// ServedRows returns the newest rows (at most limit) served by model
// name's version since since, newest first.
func (s *Store) ServedRows(ctx context.Context, name string, version int, since time.Time, limit int) ([]cairn.ServedRow, error) {
	rows, err := s.r.QueryContext(ctx, sqlrow.ServedRowsQuery(sqliteArg), name, int64(version), since.UnixNano(), int64(limit))
	if err != nil {
		return nil, fmt.Errorf("read the served rows of %s@%d: %w", name, version, translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, func(sc sqlrow.Scanner) (cairn.ServedRow, error) { return sqlrow.ServedRow(sc, name, version) })
	if err != nil {
		return nil, fmt.Errorf("read the served rows of %s@%d: %w", name, version, translate(err))
	}
	return out, nil
}

// SetModelDrift records the drift the leader measured of a model version
// (replacing the last).
func (s *Store) SetModelDrift(ctx context.Context, d cairn.ModelDrift) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		_, err := s.exec(ctx, tx, sqlrow.SetDrift(sqliteArg), sqlrow.DriftArgs(d)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("record the drift of %s@%d: %w", d.Name, d.Version, translate(err))
	}
	return nil
}

// ModelDrifts returns the drift last measured of each version of model
// name (of every model when name is ""), by name and version.
func (s *Store) ModelDrifts(ctx context.Context, name string) ([]cairn.ModelDrift, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.DriftCols+` FROM model_drift WHERE ? = '' OR name = ? ORDER BY name, version`, name, name)
	if err != nil {
		return nil, fmt.Errorf("read the models' drift: %w", translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.ModelDrift)
	if err != nil {
		return nil, fmt.Errorf("read the models' drift: %w", translate(err))
	}
	return out, nil
}

// PruneServedRows deletes at most limit served rows sampled before
// before (the oldest first), and returns how many.
func (s *Store) PruneServedRows(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		var err error
		n, err = s.exec(ctx, tx, `DELETE FROM served_rows WHERE id IN (SELECT id FROM served_rows WHERE at < ? ORDER BY id LIMIT ?)`, before.UnixNano(), int64(limit))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune the served rows: %w", err)
	}
	return n, nil
}
