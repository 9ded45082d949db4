package sqlrow

import (
	"fmt"
	"time"

	"github.com/cairnml/cairn/scheduler"
)

// EvaluationCols are the columns Evaluation decodes, of evaluations.
const EvaluationCols = `id, run_id, reason, task_id, writer, created_at, due_at`

// Evaluation decodes EvaluationCols.
func Evaluation(sc Scanner) (scheduler.Evaluation, error) {
	var (
		e            scheduler.Evaluation
		created, due int64
	)
	if err := sc.Scan(&e.ID, &e.RunID, &e.Reason, &e.TaskID, &e.Writer, &created, &due); err != nil {
		return scheduler.Evaluation{}, err
	}
	e.CreatedAt, e.DueAt = time.Unix(0, created).UTC(), time.Unix(0, due).UTC()
	return e, nil
}

// NewEvaluation checks an evaluation to add and fills its times: a zero
// CreatedAt is now, a zero DueAt CreatedAt.
func NewEvaluation(e scheduler.Evaluation) (scheduler.Evaluation, error) {
	if e.RunID == "" {
		return e, fmt.Errorf("add evaluation: empty run id")
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now()
	}
	if e.DueAt.IsZero() {
		e.DueAt = e.CreatedAt
	}
	return e, nil
}

// PageLimit is a listing's limit: 100 when none is given (Evaluations,
// LoseWorkers).
func PageLimit(limit int) int {
	if limit <= 0 {
		return 100
	}
	return limit
}
