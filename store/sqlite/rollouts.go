package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/internal/sqlrow"
)

// Rollouts (issue #22): a model's rollout (one row per name), its history
// (rollout_events, counted by ModelStageSeq so that serving follows it),
// and the request log that feedback labels and live metrics are read
// from.

// StartRollout starts a rollout of version candidate of model name
// against its production version, following spec (see
// cairn.RolloutSpec), with its history's first event and an audit entry
// (actor is who asked), in one transaction. An active rollout of the
// name is rolled back first. Errors wrap cairn.ErrNotFound for a version
// that does not exist, cairn.ErrConflict when the model has no production
// version or candidate is it; a spec that is not valid is a plain error.
func (s *Store) StartRollout(ctx context.Context, name string, candidate int, spec cairn.RolloutSpec, actor string, now time.Time) (*cairn.Rollout, error) {
	var r *cairn.Rollout
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		var err error
		r, err = s.startRollout(ctx, tx, name, candidate, spec, actor, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start the rollout of %s@%d: %w", name, candidate, err)
	}
	return r, nil
}

func (s *Store) startRollout(ctx context.Context, tx *sql.Conn, name string, candidate int, spec cairn.RolloutSpec, actor string, now time.Time) (*cairn.Rollout, error) {
	var stage string
	err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = ? AND version = ?`, name, candidate).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.noSuchVersion(ctx, tx, name, candidate)
	}
	if err != nil {
		return nil, translate(err)
	}
	var prod int
	if err := s.queryRow(ctx, tx, `SELECT coalesce(max(version), 0) FROM models WHERE name = ? AND stage = 'production'`, name).Scan(&prod); err != nil {
		return nil, translate(err)
	}
	spec, err = sqlrow.CheckRolloutStart(name, candidate, prod, spec)
	if err != nil {
		return nil, err
	}
	if stage == string(cairn.StageArchived) {
		if err := s.setStage(ctx, tx, name, candidate, cairn.StageArchived, cairn.StageCandidate, "promote", actor, now); err != nil {
			return nil, err
		}
	}
	prev, err := s.activeRollout(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		if err := s.endRollout(ctx, tx, prev, cairn.RolloutRolledBack, fmt.Sprintf("replaced by the rollout of version %d", candidate), now); err != nil {
			return nil, err
		}
	}
	specJSON, err := sqlrow.RolloutSpecJSON(spec)
	if err != nil {
		return nil, err
	}
	r := &cairn.Rollout{Name: name, Spec: spec, Baseline: prod, Candidate: candidate, State: cairn.RolloutActive,
		Share: sqlrow.FirstShare(spec), StepAt: now, StartedAt: now, UpdatedAt: now}
	if _, err := s.exec(ctx, tx, `INSERT INTO rollouts (`+sqlrow.RolloutCols+`) VALUES (?, ?, ?, ?, ?, 'active', ?, 0, ?, '', ?, ?, 0)
ON CONFLICT (name) DO UPDATE SET strategy = excluded.strategy, spec = excluded.spec, baseline = excluded.baseline, candidate = excluded.candidate,
	state = 'active', share = excluded.share, step = 0, step_at = excluded.step_at, reason = '', started_at = excluded.started_at, updated_at = excluded.updated_at, paused = 0`,
		name, string(spec.Strategy), specJSON, prod, candidate, r.Share, now.UnixNano(), now.UnixNano(), now.UnixNano()); err != nil {
		return nil, err
	}
	if err := s.rolloutEvent(ctx, tx, r, cairn.RolloutEventStart, string(spec.Strategy), now); err != nil {
		return nil, err
	}
	a, err := sqlrow.RolloutAudit(r, cairn.RolloutEventStart, "", actor, now)
	if err != nil {
		return nil, err
	}
	_, err = s.addAudit(ctx, tx, a)
	return r, err
}

// activeRollout reads name's rollout if it is active (nil otherwise).
func (s *Store) activeRollout(ctx context.Context, tx *sql.Conn, name string) (*cairn.Rollout, error) {
	r, err := sqlrow.Rollout(s.queryRow(ctx, tx, `SELECT `+sqlrow.RolloutCols+` FROM rollouts WHERE name = ? AND state = 'active'`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	return r, nil
}

// endRollout ends r in state to (promoted or rolled back) with its event;
// the candidate's stage is the caller's.
func (s *Store) endRollout(ctx context.Context, tx *sql.Conn, r *cairn.Rollout, to cairn.RolloutState, why string, now time.Time) error {
	share := r.Share
	if to == cairn.RolloutRolledBack {
		share = 0
	}
	if _, err := s.exec(ctx, tx, `UPDATE rollouts SET state = ?, share = ?, reason = ?, updated_at = ? WHERE name = ?`,
		string(to), share, why, now.UnixNano(), r.Name); err != nil {
		return err
	}
	r.State, r.Share, r.Reason, r.UpdatedAt = to, share, why, now
	event := cairn.RolloutEventRollback
	if to == cairn.RolloutPromoted {
		event = cairn.RolloutEventPromote
	}
	return s.rolloutEvent(ctx, tx, r, event, why, now)
}

func (s *Store) rolloutEvent(ctx context.Context, tx *sql.Conn, r *cairn.Rollout, event, detail string, now time.Time) error {
	_, err := s.exec(ctx, tx, `INSERT INTO rollout_events (name, at, event, share, baseline, candidate, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Name, now.UnixNano(), event, r.Share, r.Baseline, r.Candidate, detail)
	return err
}

// settleRollout ends name's active rollout when a change by hand made
// it moot: production is no longer its baseline (the candidate promoted:
// promoted; another version: rolled back), or its candidate was archived.
func (s *Store) settleRollout(ctx context.Context, tx *sql.Conn, name string, now time.Time) error {
	r, err := s.activeRollout(ctx, tx, name)
	if err != nil || r == nil {
		return err
	}
	var prod int
	if err := s.queryRow(ctx, tx, `SELECT coalesce(max(version), 0) FROM models WHERE name = ? AND stage = 'production'`, name).Scan(&prod); err != nil {
		return translate(err)
	}
	var cand string
	if err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = ? AND version = ?`, name, r.Candidate).Scan(&cand); err != nil {
		return translate(err)
	}
	if state, why, ended := sqlrow.EndedOutside(r, prod, cand); ended {
		return s.endRollout(ctx, tx, r, state, why, now)
	}
	return nil
}

// ChangeRollout applies ch to the active rollout of ch.Name (see
// cairn.RolloutChange): a step, a promotion (the candidate goes to
// production, the baseline to archived) or a rollback, with its event and,
// for the last two, an audit entry, in one transaction. With fence (the
// leader's maintenance loop), it applies only within that term
// (cairn.ErrNotLeader otherwise). It returns the rollout as it now is;
// errors wrap cairn.ErrNotFound when the model has no rollout,
// cairn.ErrConflict when it is not active at ch's candidate and step.
func (s *Store) ChangeRollout(ctx context.Context, ch cairn.RolloutChange, fence *scheduler.Fence) (*cairn.Rollout, error) {
	var r *cairn.Rollout
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		if fence != nil {
			var n int
			if err := s.queryRow(ctx, tx, `SELECT count(*) FROM leader WHERE name = ? AND holder = ? AND epoch = ?`,
				fence.Name, fence.Holder, fence.Epoch).Scan(&n); err != nil {
				return translate(err)
			}
			if n == 0 {
				return fmt.Errorf("%w: %s's term (epoch %d) of %s is over", cairn.ErrNotLeader, fence.Holder, fence.Epoch, fence.Name)
			}
		}
		var err error
		r, err = sqlrow.Rollout(s.queryRow(ctx, tx, `SELECT `+sqlrow.RolloutCols+` FROM rollouts WHERE name = ?`, ch.Name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("model %s has no rollout: %w", ch.Name, cairn.ErrNotFound)
		}
		if err != nil {
			return translate(err)
		}
		if err := sqlrow.CheckRolloutChange(r, ch); err != nil {
			return err
		}
		switch ch.Event {
		case cairn.RolloutEventStep, cairn.RolloutEventShare, cairn.RolloutEventPause, cairn.RolloutEventResume:
			set, args := sqlrow.RolloutChangeSet(r, ch, func(int) string { return "?" })
			if _, err := s.exec(ctx, tx, `UPDATE rollouts SET `+set+` WHERE name = ?`, append(args, ch.Name)...); err != nil {
				return err
			}
			if err := s.rolloutEvent(ctx, tx, r, ch.Event, ch.Detail, ch.At); err != nil || ch.Event == cairn.RolloutEventStep {
				return err // the leader's steps are in the history, not the audit log
			}
		case cairn.RolloutEventPromote:
			if err := s.endRollout(ctx, tx, r, cairn.RolloutPromoted, ch.Detail, ch.At); err != nil {
				return err
			}
			var from string
			if err := s.queryRow(ctx, tx, `SELECT stage FROM models WHERE name = ? AND version = ?`, ch.Name, r.Candidate).Scan(&from); err != nil {
				return translate(err)
			}
			if err := s.setStage(ctx, tx, ch.Name, r.Candidate, cairn.ModelStage(from), cairn.StageProduction, "promote", ch.Actor, ch.At); err != nil {
				return err
			}
		default:
			if err := s.endRollout(ctx, tx, r, cairn.RolloutRolledBack, ch.Detail, ch.At); err != nil {
				return err
			}
		}
		a, err := sqlrow.RolloutAudit(r, ch.Event, ch.Detail, ch.Actor, ch.At)
		if err != nil {
			return err
		}
		_, err = s.addAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s the rollout of model %s: %w", ch.Event, ch.Name, err)
	}
	return r, nil
}

// Rollout returns model name's rollout (active or the last one), or an
// error wrapping cairn.ErrNotFound.
func (s *Store) Rollout(ctx context.Context, name string) (*cairn.Rollout, error) {
	r, err := sqlrow.Rollout(s.r.QueryRowContext(ctx, `SELECT `+sqlrow.RolloutCols+` FROM rollouts WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("model %s has no rollout: %w", name, cairn.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read the rollout of %s: %w", name, translate(err))
	}
	return r, nil
}

// ActiveRollouts returns the active rollouts, by name.
func (s *Store) ActiveRollouts(ctx context.Context) ([]*cairn.Rollout, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.RolloutCols+` FROM rollouts WHERE state = 'active' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.Rollout)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", translate(err))
	}
	return out, nil
}

// RolloutEvents returns the newest limit events of model name's rollouts,
// oldest first (empty when none).
func (s *Store) RolloutEvents(ctx context.Context, name string, limit int) ([]cairn.RolloutEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT * FROM (SELECT `+sqlrow.RolloutEventCols+` FROM rollout_events WHERE name = ? ORDER BY id DESC LIMIT ?) ORDER BY id`, name, limit)
	if err != nil {
		return nil, fmt.Errorf("read the rollout history of %s: %w", name, translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.RolloutEvent)
	if err != nil {
		return nil, fmt.Errorf("read the rollout history of %s: %w", name, translate(err))
	}
	return out, nil
}

// requestCols is the width of a row of logRequestsQuery's list.
const requestCols = sqlrow.LogRequestWidth

// logRequestsQuery logs size requests (rows of sqlrow.AppendRequestArgs,
// whose predictions are bytes, cast to the columns' TEXT; the padding's
// NULL rows are skipped).
func logRequestsQuery(size int) string {
	return `INSERT INTO model_requests (` + sqlrow.LogRequestCols + `)
SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9, CAST(column10 AS TEXT), column11, column12,
	column13, column14, column15, column16, CAST(column17 AS TEXT)
FROM (VALUES ` + valuesList(size, requestCols) + `) WHERE column1 IS NOT NULL
ON CONFLICT (request_id, version) DO NOTHING`
}

// LogRequests writes served requests to the request log, in one
// transaction; a request already logged (its id and version) is left as
// it is.
func (s *Store) LogRequests(ctx context.Context, rs []cairn.ModelRequest) error {
	for _, r := range rs {
		if err := sqlrow.CheckRequest(r); err != nil {
			return err
		}
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		// One statement per 512 requests (a VALUES list padded to a
		// power of two): the log is written in batches of thousands.
		return eachChunk(rs, func(chunk []cairn.ModelRequest, size int) error {
			args := make([]any, 0, size*requestCols)
			for i, r := range chunk {
				var prev []any
				if i > 0 {
					prev = args[len(args)-requestCols:]
				}
				args = sqlrow.AppendRequestArgs(args, r, prev)
			}
			_, err := s.exec(ctx, tx, logRequestsQuery(size), padArgs(args, len(chunk), size, requestCols)...)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("log %d requests: %w", len(rs), err)
	}
	return nil
}

// ModelRequests returns the logged requests of model name with id
// requestID (one per version that scored it; empty when none).
func (s *Store) ModelRequests(ctx context.Context, name, requestID string) ([]cairn.ModelRequest, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.ModelRequestCols+` FROM model_requests_all WHERE request_id = ? AND name = ? ORDER BY version`, requestID, name)
	if err != nil {
		return nil, fmt.Errorf("read request %s: %w", requestID, translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.ModelRequest)
	if err != nil {
		return nil, fmt.Errorf("read request %s: %w", requestID, translate(err))
	}
	return out, nil
}

// SetFeedback records the feedback of request requestID of model name:
// each version's labeled rows and score (a second feedback replaces the
// first). Errors wrap cairn.ErrNotFound when no such request is logged.
func (s *Store) SetFeedback(ctx context.Context, name, requestID string, scores []cairn.RequestScore) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		minute := sqlrow.MinuteOf(time.Now())
		for _, sc := range scores {
			var (
				was      int64
				wasScore float64
				kind     string
			)
			// The version's own row, or the row whose shadow it is.
			set := sqlrow.FeedbackOwn
			err := s.queryRow(ctx, tx, `SELECT labeled, score, kind FROM model_requests WHERE request_id = ? AND name = ? AND version = ?`,
				requestID, name, sc.Version).Scan(&was, &wasScore, &kind)
			if errors.Is(err, sql.ErrNoRows) {
				set = sqlrow.FeedbackShadow
				err = s.queryRow(ctx, tx, `SELECT shadow_labeled, shadow_score, shadow_kind FROM model_requests WHERE request_id = ? AND name = ? AND shadow_version = ?`,
					requestID, name, sc.Version).Scan(&was, &wasScore, &kind)
			}
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("model %s has no request %s of version %d: %w", name, requestID, sc.Version, cairn.ErrNotFound)
			}
			if err != nil {
				return translate(err)
			}
			if _, err := s.exec(ctx, tx, set(sqliteArg), sc.Labeled, sc.Score, requestID, name, sc.Version); err != nil {
				return err
			}
			// The minute the feedback arrived in gets what it changed.
			if _, err := s.exec(ctx, tx, sqlrow.FeedbackMinute(sqliteArg), name, sc.Version, minute, kind,
				int64(sc.Labeled)-was, sc.Score-wasScore); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("feedback of request %s: %w", requestID, err)
	}
	return nil
}

// RequestStats returns, per version of model name, its logged requests
// since since (see cairn.RequestStats; the p99 of the newest
// sqlrow.MaxP99Rows).
func (s *Store) RequestStats(ctx context.Context, name string, since time.Time) (map[int]cairn.RequestStats, error) {
	out := map[int]cairn.RequestStats{}
	rows, err := s.r.QueryContext(ctx, `SELECT version, count(*), CAST(sum(failed) AS BIGINT), CAST(sum(rows) AS BIGINT), CAST(sum(labeled) AS BIGINT), sum(score), max(kind)
FROM model_requests_all WHERE name = ? AND at >= ? GROUP BY version`, name, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("read the requests of %s: %w", name, translate(err))
	}
	err = scanAll(rows, func(sc scanner) error {
		st, err := sqlrow.Stats(sc)
		out[st.Version] = st
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the requests of %s: %w", name, err)
	}
	for v, st := range out {
		rows, err := s.r.QueryContext(ctx, `SELECT duration_us FROM model_requests_all WHERE name = ? AND version = ? AND at >= ? ORDER BY at DESC LIMIT ?`,
			name, v, since.UnixNano(), sqlrow.MaxP99Rows)
		if err != nil {
			return nil, fmt.Errorf("read the durations of %s@%d: %w", name, v, translate(err))
		}
		var ds []int64
		if err := scanAll(rows, func(sc scanner) error {
			var d int64
			err := sc.Scan(&d)
			ds = append(ds, d)
			return err
		}); err != nil {
			return nil, fmt.Errorf("read the durations of %s@%d: %w", name, v, err)
		}
		st.P99 = sqlrow.P99(ds)
		out[v] = st
	}
	return out, nil
}

// PruneRequests deletes the logged requests older than before, at most
// limit of them, and returns how many it deleted.
func (s *Store) PruneRequests(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		var err error
		n, err = s.exec(ctx, tx, `DELETE FROM model_requests WHERE id IN (SELECT id FROM model_requests WHERE at < ? ORDER BY id LIMIT ?)`, before.UnixNano(), limit)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune the request log: %w", err)
	}
	return n, nil
}

// sqliteArg is SQLite's placeholder, for sqlrow's statements.
func sqliteArg(int) string { return "?" }

// RecordMinutes aggregates the request log's rows of [from, to) by model
// version and minute (read per registered name, on the log's index of
// name and time) into model_minutes (see cairn.ModelMinute), each
// minute's requests replacing what an earlier aggregation wrote and
// leaving its feedback, and with prune not zero deletes the minutes
// before it. It returns the model versions' minutes written.
func (s *Store) RecordMinutes(ctx context.Context, from, to, prune time.Time) (int, error) {
	var ms sqlrow.Minutes
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.MinuteRequestCols+` FROM model_requests_all
WHERE name IN (SELECT DISTINCT name FROM models) AND at >= ? AND at < ?`, from.UnixNano(), to.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("read the request log from %s: %w", from.Format(time.RFC3339), translate(err))
	}
	if err := scanAll(rows, func(sc scanner) error { return ms.Add(sc) }); err != nil {
		return 0, fmt.Errorf("read the request log from %s: %w", from.Format(time.RFC3339), err)
	}
	args, err := ms.Args()
	if err != nil {
		return 0, err
	}
	if len(args) == 0 && prune.IsZero() {
		return 0, nil
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Conn) error {
		for _, a := range args {
			if _, err := s.exec(ctx, tx, sqlrow.MinuteUpsert(sqliteArg), a...); err != nil {
				return err
			}
		}
		if !prune.IsZero() {
			_, err := s.exec(ctx, tx, `DELETE FROM model_minutes WHERE minute < ?`, prune.UnixNano())
			return err
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record the minutes from %s: %w", from.Format(time.RFC3339), err)
	}
	return len(args), nil
}

// ModelMinutes returns model name's minutes from since on, by version
// and minute.
func (s *Store) ModelMinutes(ctx context.Context, name string, since time.Time) ([]cairn.ModelMinute, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlrow.MinuteCols+` FROM model_minutes WHERE name = ? AND minute >= ? ORDER BY version, minute`,
		name, sqlrow.MinuteOf(since))
	if err != nil {
		return nil, fmt.Errorf("read the minutes of %s: %w", name, translate(err))
	}
	defer rows.Close()
	out, err := sqlrow.Collect(rows, sqlrow.ModelMinute)
	if err != nil {
		return nil, fmt.Errorf("read the minutes of %s: %w", name, translate(err))
	}
	return out, nil
}
