package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/internal/sqlrow"
	"github.com/jackc/pgx/v5"
)

// LogServedRows stores rows serving sampled (issue #22), in one
// transaction (one insert over arrays) that also deletes, for each model
// version written, its rows past the newest keep
// (cairn.DefaultServedRowsKept when keep is 0 or less).
func (s *Store) LogServedRows(ctx context.Context, rows []cairn.ServedRow, keep int) error {
	if len(rows) == 0 {
		return nil
	}
	if err := sqlrow.CheckServedRows(rows); err != nil {
		return err
	}
	keep = sqlrow.Kept(keep)
	names, texts := make([]string, len(rows)), make([]string, len(rows))
	versions, ats := make([]int64, len(rows)), make([]int64, len(rows))
	for i, r := range rows {
		names[i], versions[i], ats[i], texts[i] = r.Name, int64(r.Version), r.At.UnixNano(), string(r.Row)
	}
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO served_rows (name, version, at, row)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])`, names, versions, ats, texts); err != nil {
			return err
		}
		for _, v := range sqlrow.ServedVersions(rows) {
			if _, err := s.exec(ctx, tx, sqlrow.TrimServed(pgArg), v.Name, int64(v.Version), v.Name, int64(v.Version), int64(keep)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("log %d served rows: %w", len(rows), err)
	}
	return nil
}

// ServedRows returns the newest rows (at most limit) served by model
// name's version since since, newest first.
func (s *Store) ServedRows(ctx context.Context, name string, version int, since time.Time, limit int) ([]cairn.ServedRow, error) {
	rows, err := s.db.Query(ctx, sqlrow.ServedRowsQuery(pgArg), name, int64(version), since.UnixNano(), int64(limit))
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
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.exec(ctx, tx, sqlrow.SetDrift(pgArg), sqlrow.DriftArgs(d)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("record the drift of %s@%d: %w", d.Name, d.Version, err)
	}
	return nil
}

// ModelDrifts returns the drift last measured of each version of model
// name (of every model when name is ""), by name and version.
func (s *Store) ModelDrifts(ctx context.Context, name string) ([]cairn.ModelDrift, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sqlrow.DriftCols+` FROM model_drift WHERE $1 = '' OR name = $1 ORDER BY name, version`, name)
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
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		n, err = s.exec(ctx, tx, `DELETE FROM served_rows WHERE id IN (SELECT id FROM served_rows WHERE at < $1 ORDER BY id LIMIT $2)`, before.UnixNano(), int64(limit))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune the served rows: %w", err)
	}
	return n, nil
}
