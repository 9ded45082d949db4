package sqlrow

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// RolloutCols are the columns of rollouts both stores read, in the order
// Rollout scans them.
const RolloutCols = `name, strategy, spec, baseline, candidate, state, share, step, step_at, reason, started_at, updated_at, paused`

// RolloutEventCols are the columns of rollout_events, in the order
// RolloutEvent scans them.
const RolloutEventCols = `id, name, at, event, share, baseline, candidate, detail`

// ModelRequestCols are the columns of model_requests_all (the request
// log one row per request and version, a shadow's answer apart) that
// ModelRequest scans, in order.
const ModelRequestCols = `request_id, name, version, shadow, at, duration_us, failed, rows, kind, predictions, labeled, score`

// LogRequestCols are the columns of model_requests that LogRequests
// writes (AppendRequestArgs), in order: ModelRequestCols and the shadow
// candidate's answer in the same row.
const LogRequestCols = ModelRequestCols + `, shadow_version, shadow_duration_us, shadow_failed, shadow_kind, shadow_predictions`

// LogRequestWidth is the number of LogRequestCols.
const LogRequestWidth = 17

// Rollout decodes a row of RolloutCols.
func Rollout(sc Scanner) (*cairn.Rollout, error) {
	var (
		r                        cairn.Rollout
		strategy, spec, state    string
		base, cand, share, step  int64
		stepAt, started, updated int64
		paused                   int64
	)
	if err := sc.Scan(&r.Name, &strategy, &spec, &base, &cand, &state, &share, &step, &stepAt, &r.Reason, &started, &updated, &paused); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(spec), &r.Spec); err != nil {
		return nil, fmt.Errorf("rollout %s: spec: %w", r.Name, err)
	}
	r.Spec.Strategy = cairn.RolloutStrategy(strategy)
	r.Baseline, r.Candidate, r.Share, r.Step = int(base), int(cand), int(share), int(step)
	r.State = cairn.RolloutState(state)
	r.Paused = paused != 0
	r.StepAt, r.StartedAt, r.UpdatedAt = time.Unix(0, stepAt), time.Unix(0, started), time.Unix(0, updated)
	return &r, nil
}

// RolloutEvent decodes a row of RolloutEventCols.
func RolloutEvent(sc Scanner) (cairn.RolloutEvent, error) {
	var (
		e                     cairn.RolloutEvent
		at, share, base, cand int64
	)
	if err := sc.Scan(&e.ID, &e.Name, &at, &e.Event, &share, &base, &cand, &e.Detail); err != nil {
		return e, err
	}
	e.At, e.Share, e.Baseline, e.Candidate = time.Unix(0, at), int(share), int(base), int(cand)
	return e, nil
}

// RolloutSpecJSON encodes a spec for the spec column (its strategy is a
// column of its own).
func RolloutSpecJSON(s cairn.RolloutSpec) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode the rollout spec: %w", err)
	}
	return string(b), nil
}

// CheckRolloutStart checks a rollout to start: a strategy other than
// direct, a valid spec, and a candidate that is not the production
// version (prod, 0 for none).
func CheckRolloutStart(name string, candidate, prod int, spec cairn.RolloutSpec) (cairn.RolloutSpec, error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return spec, fmt.Errorf("rollout of %s: %w", name, err)
	}
	if spec.Strategy == cairn.StrategyDirect {
		return spec, fmt.Errorf("rollout of %s: strategy direct has no rollout: promote the version (cairn models promote %s %d)", name, name, candidate)
	}
	if prod == 0 {
		return spec, fmt.Errorf("model %s has no version in production to roll version %d out against: promote one first: %w", name, candidate, cairn.ErrConflict)
	}
	if prod == candidate {
		return spec, fmt.Errorf("version %d of %s is in production already: %w", candidate, name, cairn.ErrConflict)
	}
	return spec, nil
}

// FirstShare is the candidate's share when a rollout of spec starts.
func FirstShare(spec cairn.RolloutSpec) int {
	switch spec.Strategy {
	case cairn.StrategyCanary:
		return spec.Steps[0]
	case cairn.StrategyAB:
		return spec.Split
	}
	return 0
}

// RolloutAudit is the audit entry of a rollout's change by actor.
func RolloutAudit(r *cairn.Rollout, event, detail, actor string, now time.Time) (scheduler.Audit, error) {
	d := map[string]any{"model": r.Name, "event": event, "strategy": r.Spec.Strategy, "baseline": r.Baseline,
		"candidate": r.Candidate, "share": r.Share}
	if detail != "" {
		d["detail"] = detail
	}
	return modelAudit(scheduler.AuditModelRollout, actor, now, d)
}

// ModelRequest decodes a row of ModelRequestCols.
func ModelRequest(sc Scanner) (cairn.ModelRequest, error) {
	var (
		m                                             cairn.ModelRequest
		version, shadow, at, dur, failed, rows, label int64
		preds                                         *string
	)
	if err := sc.Scan(&m.RequestID, &m.Name, &version, &shadow, &at, &dur, &failed, &rows, &m.Kind, &preds, &label, &m.Score); err != nil {
		return m, err
	}
	m.Version, m.Shadow, m.At, m.Duration = int(version), shadow != 0, time.Unix(0, at), time.Duration(dur)*time.Microsecond
	m.Failed, m.Rows, m.Labeled = failed != 0, int(rows), int(label)
	if preds != nil {
		m.Predictions = []byte(*preds)
	}
	return m, nil
}

// AppendRequestArgs appends the values of ModelRequestCols for r to args, boxing no more than
// it must (the request log is written by the thousand): the kinds are one
// of two constants, the model's name is prev's when it is the same
// (prev: the previous row's arguments, or nil), and the predictions are
// their bytes as they are, not copied to a string (a BLOB to the driver:
// the statement casts them to TEXT).
func AppendRequestArgs(args []any, r cairn.ModelRequest, prev []any) []any {
	var name any = r.Name
	if len(prev) > 1 {
		if p, ok := prev[1].(string); ok && p == r.Name {
			name = prev[1]
		}
	}
	var preds any
	if r.Predictions != nil {
		preds = r.Predictions
	}
	var spreds any
	if r.ShadowPredictions != nil {
		spreds = r.ShadowPredictions
	}
	return append(args, r.RequestID, name, int64(r.Version), BoolInt(r.Shadow), r.At.UnixNano(), r.Duration.Microseconds(),
		BoolInt(r.Failed), int64(r.Rows), kindArg(r.Kind), preds, int64(r.Labeled), r.Score,
		int64(r.ShadowVersion), r.ShadowDuration.Microseconds(), BoolInt(r.ShadowFailed), kindArg(r.ShadowKind), spreds)
}

// kindArg is a model kind as an argument: a constant's, boxed without an
// allocation, for the two kinds.
func kindArg(kind string) any {
	switch kind {
	case "classification":
		return "classification"
	case "regression":
		return "regression"
	}
	return kind
}

// CheckRequest checks a request to log.
func CheckRequest(r cairn.ModelRequest) error {
	if r.RequestID == "" || r.Name == "" || r.Version < 1 {
		return fmt.Errorf("log request %q of %s@%d: a request id, a model and a version are needed", r.RequestID, r.Name, r.Version)
	}
	if r.Kind != "classification" && r.Kind != "regression" {
		return fmt.Errorf("log request %s: kind %q is not classification or regression", r.RequestID, r.Kind)
	}
	if r.ShadowVersion != 0 && (r.ShadowVersion < 1 || r.ShadowVersion == r.Version || r.Shadow ||
		(r.ShadowKind != "classification" && r.ShadowKind != "regression")) {
		return fmt.Errorf("log request %s: the shadow answer of version %d (kind %q) in the row of version %d is not one", r.RequestID, r.ShadowVersion, r.ShadowKind, r.Version)
	}
	return nil
}

// P99 is the 99th percentile (nearest rank) of ds, which it sorts.
func P99(ds []int64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	k := int(math.Ceil(0.99*float64(len(ds)))) - 1
	return time.Duration(ds[max(k, 0)]) * time.Microsecond
}

// MaxP99Rows bounds the durations read per version to compute a p99:
// the newest ones.
const MaxP99Rows = 10000

// CheckRolloutChange says why ch does not apply to r (cairn.ErrConflict:
// r moved on), or whether ch is not a change at all.
func CheckRolloutChange(r *cairn.Rollout, ch cairn.RolloutChange) error {
	switch ch.Event {
	case cairn.RolloutEventStep, cairn.RolloutEventShare:
		if ch.Share < 0 || ch.Share > 100 {
			return fmt.Errorf("share %d is not a percentage from 0 to 100", ch.Share)
		}
	case cairn.RolloutEventPromote, cairn.RolloutEventRollback, cairn.RolloutEventPause, cairn.RolloutEventResume:
	default:
		return fmt.Errorf("event %q is not step, promote, rollback, pause, resume or share", ch.Event)
	}
	if ch.Actor == "" {
		return fmt.Errorf("a change of a rollout needs an actor")
	}
	if r.State != cairn.RolloutActive {
		return fmt.Errorf("the rollout of version %d is %s already: %w", r.Candidate, strings.ReplaceAll(string(r.State), "_", " "), cairn.ErrConflict)
	}
	if r.Candidate != ch.Candidate || r.Step != ch.FromStep || r.Paused != ch.FromPaused {
		return fmt.Errorf("the rollout is of version %d at step %d%s now, not of version %d at step %d%s: %w", r.Candidate, r.Step, pausedText(r.Paused),
			ch.Candidate, ch.FromStep, pausedText(ch.FromPaused), cairn.ErrConflict)
	}
	switch {
	case ch.Event == cairn.RolloutEventPause && r.Paused:
		return fmt.Errorf("the rollout of version %d is paused already: %w", r.Candidate, cairn.ErrConflict)
	case ch.Event == cairn.RolloutEventResume && !r.Paused:
		return fmt.Errorf("the rollout of version %d is not paused: %w", r.Candidate, cairn.ErrConflict)
	case ch.Event == cairn.RolloutEventShare && r.Spec.Strategy == cairn.StrategyShadow:
		return fmt.Errorf("a shadow rollout's candidate answers no request, so it has no share to set (set-share is for canary and ab rollouts): %w", cairn.ErrConflict)
	}
	return nil
}

func pausedText(p bool) string {
	if p {
		return " (paused)"
	}
	return ""
}

// RolloutChangeSet is the SET clause of ch (a step, a share or a pause
// or resume) on a rollout, with its arguments in order (the dialect's
// placeholders from ph), and what r becomes.
func RolloutChangeSet(r *cairn.Rollout, ch cairn.RolloutChange, ph func(i int) string) (string, []any) {
	switch ch.Event {
	case cairn.RolloutEventPause, cairn.RolloutEventResume:
		paused := ch.Event == cairn.RolloutEventPause
		r.Paused, r.UpdatedAt = paused, ch.At
		if !paused {
			r.StepAt = ch.At // the step's window of judgement starts again
		}
		return fmt.Sprintf("paused = %s, step_at = %s, updated_at = %s", ph(1), ph(2), ph(3)),
			[]any{map[bool]int64{true: 1, false: 0}[paused], r.StepAt.UnixNano(), ch.At.UnixNano()}
	}
	r.Share, r.Step, r.StepAt, r.UpdatedAt = ch.Share, ch.Step, ch.At, ch.At
	return fmt.Sprintf("share = %s, step = %s, step_at = %s, updated_at = %s", ph(1), ph(2), ph(3), ph(4)),
		[]any{ch.Share, ch.Step, ch.At.UnixNano(), ch.At.UnixNano()}
}

// Stats decodes a row of version, count, failed, rows, labeled, score,
// kind (RequestStats' grouping).
func Stats(sc Scanner) (cairn.RequestStats, error) {
	var (
		st                          cairn.RequestStats
		v, n, failed, rows, labeled int64
		score                       float64
		kind                        *string
	)
	if err := sc.Scan(&v, &n, &failed, &rows, &labeled, &score, &kind); err != nil {
		return st, err
	}
	st.Version, st.Requests, st.Failed, st.Rows, st.Labeled, st.Score = int(v), int(n), int(failed), int(rows), int(labeled), score
	if kind != nil {
		st.Kind = *kind
	}
	return st, nil
}

// EndedOutside says whether the active rollout r ended by a registry
// change outside it, from the model's production version now (0: none)
// and its candidate's stage: the candidate promoted by hand, production
// changed to another version, or the candidate archived. ok is false when
// the rollout stands.
func EndedOutside(r *cairn.Rollout, prod int, candStage string) (state cairn.RolloutState, why string, ok bool) {
	switch {
	case prod == r.Candidate:
		return cairn.RolloutPromoted, fmt.Sprintf("version %d promoted outside the rollout", r.Candidate), true
	case prod != r.Baseline:
		to := "no version"
		if prod != 0 {
			to = fmt.Sprintf("version %d", prod)
		}
		return cairn.RolloutRolledBack, "production changed outside the rollout, to " + to, true
	case candStage == string(cairn.StageArchived):
		return cairn.RolloutRolledBack, fmt.Sprintf("version %d archived outside the rollout", r.Candidate), true
	}
	return "", "", false
}

// MinuteCols are the columns of model_minutes, in the order ModelMinute
// scans them.
const MinuteCols = `name, version, minute, requests, failed, rows, p99_us, kind, dist, labeled, score`

// MinuteRequestCols are the columns of model_requests a minute's
// aggregation reads (Minutes.Add), in order.
const MinuteRequestCols = `name, version, at, duration_us, failed, rows, kind, predictions`

// FeedbackOwn and FeedbackShadow are the statements that set the feedback
// of a request's version (labeled, score, request id, name, version): in
// its own row, or in the row it is the shadow of.
func FeedbackOwn(ph func(i int) string) string {
	return `UPDATE model_requests SET labeled = ` + ph(1) + `, score = ` + ph(2) + ` WHERE request_id = ` + ph(3) + ` AND name = ` + ph(4) + ` AND version = ` + ph(5)
}

// FeedbackShadow: see FeedbackOwn.
func FeedbackShadow(ph func(i int) string) string {
	return `UPDATE model_requests SET shadow_labeled = ` + ph(1) + `, shadow_score = ` + ph(2) + ` WHERE request_id = ` + ph(3) + ` AND name = ` + ph(4) + ` AND shadow_version = ` + ph(5)
}

// MinuteUpsert is the statement that writes one minute's requests (the
// dialect's placeholders: ? or $n), leaving the feedback it holds.
func MinuteUpsert(ph func(i int) string) string {
	return `INSERT INTO model_minutes (name, version, minute, requests, failed, rows, p99_us, kind, dist) VALUES (` +
		ph(1) + `, ` + ph(2) + `, ` + ph(3) + `, ` + ph(4) + `, ` + ph(5) + `, ` + ph(6) + `, ` + ph(7) + `, ` + ph(8) + `, ` + ph(9) + `)
ON CONFLICT (name, version, minute) DO UPDATE SET requests = excluded.requests, failed = excluded.failed, rows = excluded.rows,
	p99_us = excluded.p99_us, kind = excluded.kind, dist = excluded.dist`
}

// FeedbackMinute is the statement that adds feedback (labeled rows and
// their score, which may be negative: a feedback replacing an earlier one)
// to a minute.
func FeedbackMinute(ph func(i int) string) string {
	return `INSERT INTO model_minutes (name, version, minute, kind, labeled, score) VALUES (` +
		ph(1) + `, ` + ph(2) + `, ` + ph(3) + `, ` + ph(4) + `, ` + ph(5) + `, ` + ph(6) + `)
ON CONFLICT (name, version, minute) DO UPDATE SET labeled = model_minutes.labeled + excluded.labeled, score = model_minutes.score + excluded.score,
	kind = CASE WHEN model_minutes.kind = '' THEN excluded.kind ELSE model_minutes.kind END`
}

// MinuteOf is the start of t's minute, in Unix nanoseconds.
func MinuteOf(t time.Time) int64 { return t.Truncate(time.Minute).UnixNano() }

// Minutes aggregates the request log's rows of a span by model version
// and minute (Add each row of MinuteRequestCols, then Args).
type Minutes struct {
	m    map[minuteKey]*minuteAcc
	keys []minuteKey
}

type minuteKey struct {
	name    string
	version int64
	minute  int64
}

type minuteAcc struct {
	requests, failed, rows int64
	kind                   string
	durs                   []int64
	dist                   cairn.PredictionDist
}

// Add reads one row of MinuteRequestCols.
func (ms *Minutes) Add(sc Scanner) error {
	var (
		k                 minuteKey
		at, dur, fail, rs int64
		kind              string
		preds             *string
	)
	if err := sc.Scan(&k.name, &k.version, &at, &dur, &fail, &rs, &kind, &preds); err != nil {
		return err
	}
	k.minute = MinuteOf(time.Unix(0, at))
	if ms.m == nil {
		ms.m = map[minuteKey]*minuteAcc{}
	}
	a := ms.m[k]
	if a == nil {
		a = &minuteAcc{kind: kind}
		ms.m[k] = a
		ms.keys = append(ms.keys, k)
	}
	a.requests++
	a.failed += fail
	a.rows += rs
	a.durs = append(a.durs, dur)
	if preds != nil && fail == 0 {
		var ps []json.RawMessage
		if json.Unmarshal([]byte(*preds), &ps) == nil {
			for _, p := range ps {
				a.dist.Add(kind, p)
			}
		}
	}
	return nil
}

// Len is the number of model versions' minutes aggregated.
func (ms *Minutes) Len() int { return len(ms.keys) }

// Args returns the arguments of MinuteUpsert for each minute aggregated,
// in the order they were first seen.
func (ms *Minutes) Args() ([][]any, error) {
	out := make([][]any, 0, len(ms.keys))
	for _, k := range ms.keys {
		a := ms.m[k]
		dist, err := json.Marshal(a.dist)
		if err != nil {
			return nil, err
		}
		out = append(out, []any{k.name, k.version, k.minute, a.requests, a.failed, a.rows, P99(a.durs).Microseconds(), a.kind, string(dist)})
	}
	return out, nil
}

// ModelMinute decodes a row of MinuteCols.
func ModelMinute(sc Scanner) (cairn.ModelMinute, error) {
	var (
		m                                   cairn.ModelMinute
		v, minute, req, failed, rows, p99us int64
		labeled                             int64
		dist                                string
	)
	if err := sc.Scan(&m.Name, &v, &minute, &req, &failed, &rows, &p99us, &m.Kind, &dist, &labeled, &m.Score); err != nil {
		return m, err
	}
	m.Version, m.Minute, m.Requests, m.Failed, m.Rows = int(v), time.Unix(0, minute).UTC(), int(req), int(failed), int(rows)
	m.P99, m.Labeled = time.Duration(p99us)*time.Microsecond, int(labeled)
	if dist != "" {
		if err := json.Unmarshal([]byte(dist), &m.Dist); err != nil {
			return m, fmt.Errorf("model %s@%d minute %s: dist: %w", m.Name, m.Version, m.Minute.Format(time.RFC3339), err)
		}
	}
	return m, nil
}
