package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Channels of LISTEN/NOTIFY (see Listen).
const (
	channelReady       = "cairn_ready"       // tasks became ready (payload: '')
	channelEvaluations = "cairn_evaluations" // an evaluation was written (payload: its run id)
)

// addEvaluation inserts e in tx and returns its id, under the evaluations'
// advisory lock (held until the transaction ends, so that ids appear in
// commit order), and notifies channelEvaluations at commit. A run that
// does not exist is refused with cairn.ErrNotFound without a failing
// statement (which would abort a shared transaction).
func (s *Store) addEvaluation(ctx context.Context, q querier, e scheduler.Evaluation) (int64, error) {
	e, err := sqlrow.NewEvaluation(e)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.queryRow(ctx, q, `WITH l AS (SELECT pg_advisory_xact_lock($7)), n AS (SELECT pg_notify('`+channelEvaluations+`', $1))
INSERT INTO evaluations (run_id, reason, task_id, writer, created_at, due_at)
SELECT $1, $2, $3, $4, $5, $6 FROM l, n WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1)
RETURNING id`, e.RunID, e.Reason, e.TaskID, e.Writer, e.CreatedAt.UnixNano(), e.DueAt.UnixNano(), lockEvaluations).Scan(&id)
	if noRows(err) {
		return 0, fmt.Errorf("add evaluation of run %s: no such run: %w", e.RunID, cairn.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("add evaluation of run %s: %w", e.RunID, translate(err))
	}
	return id, nil
}

// Evaluations lists evaluations with an id above after, by id, at most
// limit (100 if limit <= 0).
func (s *Store) Evaluations(ctx context.Context, after int64, limit int) ([]scheduler.Evaluation, error) {
	rs, err := s.db.Query(ctx, `SELECT `+sqlrow.EvaluationCols+` FROM evaluations
WHERE id > $1 ORDER BY id LIMIT $2`, after, sqlrow.PageLimit(limit))
	out, err := collect(rs, err, sqlrow.Evaluation)
	if err != nil {
		return nil, fmt.Errorf("list evaluations: %w", err)
	}
	return out, nil
}

// LastEvaluation returns the highest evaluation id ever given, 0 for none.
// It waits, under the evaluations' lock taken shared, for a writer that
// holds an id it has not committed yet: a reader starting after that id
// would never see it.
func (s *Store) LastEvaluation(ctx context.Context) (int64, error) {
	var id int64
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `WITH l AS (SELECT pg_advisory_xact_lock_shared($1))
SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM l, evaluations_id_seq`, lockEvaluations).Scan(&id)
	}, true)
	if err != nil {
		return 0, fmt.Errorf("last evaluation: %w", translate(err))
	}
	return id, nil
}

// AckEvaluations deletes run runID's evaluations with id <= upTo that are
// due by now; with upTo < 0, all of them.
func (s *Store) AckEvaluations(ctx context.Context, runID string, upTo int64, now time.Time) error {
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if upTo < 0 {
			_, err = s.exec(ctx, tx, `DELETE FROM evaluations WHERE run_id = $1`, runID)
		} else {
			_, err = s.exec(ctx, tx, `DELETE FROM evaluations WHERE run_id = $1 AND id <= $2 AND due_at <= $3`, runID, upTo, now.UnixNano())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("acknowledge evaluations of run %s: %w", runID, err)
	}
	return nil
}

func (b *batchTx) AddEvaluation(e scheduler.Evaluation) (int64, error) {
	var id int64
	err := b.run(func(ctx context.Context, tx pgx.Tx) error {
		var err error
		id, err = b.s.addEvaluation(ctx, tx, e)
		return err
	}, true)
	return id, err
}
