package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/ui/runjson"
)

// RolloutReader is what the rollout views read (*sqlite.Store and
// *postgres.Store satisfy it).
type RolloutReader interface {
	Rollout(ctx context.Context, name string) (*cairn.Rollout, error)
	RequestStats(ctx context.Context, name string, since time.Time) (map[int]cairn.RequestStats, error)
	RolloutEvents(ctx context.Context, name string, limit int) ([]cairn.RolloutEvent, error)
}

// maxRolloutEvents is the history a rollout view shows.
const maxRolloutEvents = 200

// RolloutDetail is model name's rollout as the API, the CLI and the page
// show it, at now. Errors wrap cairn.ErrNotFound when the model never
// had one.
func RolloutDetail(ctx context.Context, rr RolloutReader, name string, now time.Time) (*runjson.Rollout, error) {
	r, err := rr.Rollout(ctx, name)
	if err != nil {
		return nil, err
	}
	since := r.StepAt
	if !r.Routes() {
		since = r.StartedAt
	}
	stats, err := rr.RequestStats(ctx, name, since)
	if err != nil {
		return nil, err
	}
	hist, err := rr.RolloutEvents(ctx, name, maxRolloutEvents)
	if err != nil {
		return nil, err
	}
	out := &runjson.Rollout{Name: r.Name, Strategy: string(r.Spec.Strategy), State: string(r.State), Baseline: r.Baseline,
		Candidate: r.Candidate, Share: r.Share, Step: r.Step, Paused: r.Paused, StepAt: r.StepAt.UTC(), StartedAt: r.StartedAt.UTC(), Reason: r.Reason,
		Spec: redactSpec(r.Spec), History: hist}
	for i := range out.History {
		out.History[i].At = out.History[i].At.UTC()
	}
	for _, v := range []struct {
		version int
		role    string
	}{{r.Baseline, "production"}, {r.Candidate, "candidate"}} {
		st := stats[v.version]
		rv := runjson.RolloutVersion{Version: v.version, Role: v.role, Requests: st.Requests, Failed: st.Failed, ErrorRate: st.ErrorRate(),
			Labeled: st.Labeled, P99Ms: float64(st.P99.Microseconds()) / 1000}
		var val float64
		var ok bool
		rv.Metric, val, ok = st.LiveMetric()
		if ok {
			rv.Value = &val
		}
		out.Versions = append(out.Versions, rv)
	}
	switch r.State {
	case cairn.RolloutActive:
		d := rollouts.Judge(r, stats, now)
		out.Next = d.Why
		if d.Event != "" {
			out.Next = fmt.Sprintf("%s at the leader's next look: %s", d.Event, d.Why)
		}
	case cairn.RolloutPromoted:
		out.Next = fmt.Sprintf("none: version %d was promoted", r.Candidate)
	default:
		out.Next = fmt.Sprintf("none: version %d was rolled back (%s)", r.Candidate, r.Reason)
	}
	return out, nil
}

// redactSpec is spec with its alerts' webhooks redacted: a webhook's URL
// is often its credential, and the rollout is shown to every reader.
func redactSpec(spec cairn.RolloutSpec) cairn.RolloutSpec {
	if len(spec.Alerts) == 0 {
		return spec
	}
	as := make([]cairn.ModelAlert, len(spec.Alerts))
	for i, a := range spec.Alerts {
		a.Webhook = cairn.RedactWebhook(a.Webhook)
		as[i] = a
	}
	spec.Alerts = as
	return spec
}

// RolloutChanger is what a rollout's changes by hand need (*sqlite.Store
// and *postgres.Store satisfy it).
type RolloutChanger interface {
	RolloutReader
	ChangeRollout(ctx context.Context, ch cairn.RolloutChange, fence *scheduler.Fence) (*cairn.Rollout, error)
}

// The changes by hand of a rollout (cairn models rollout NAME ACTION,
// POST /api/v1/models/{name}/rollout/{action}).
const (
	RolloutPause    = "pause"
	RolloutResume   = "resume"
	RolloutPromote  = "promote"
	RolloutAbort    = "abort"
	RolloutSetShare = "set-share"
)

// RolloutActions lists them, for messages.
var RolloutActions = []string{RolloutPause, RolloutResume, RolloutPromote, RolloutAbort, RolloutSetShare}

// ChangeRollout applies a change by hand to model name's active rollout
// for actor: pause (the share holds; the leader neither steps nor
// promotes it), resume (the step's window starts again), promote (the
// candidate goes to production), abort (the candidate is rolled back) or
// set-share (share percent of the requests go to the candidate; a canary
// goes on from there). It is recorded in the rollout's history and the
// audit log, and returns the rollout as it now is. A model with no
// rollout is an error wrapping cairn.ErrNotFound; one whose rollout ended,
// or a change that does not apply (pause a paused rollout, set the share
// of a shadow), cairn.ErrConflict; a share outside 0-100, bad input.
func ChangeRollout(ctx context.Context, rc RolloutChanger, name, action string, share int, actor string, now time.Time) (*runjson.Rollout, error) {
	ch := cairn.RolloutChange{Name: name, Actor: actor, At: now, Share: share}
	switch action {
	case RolloutPause:
		ch.Event, ch.Detail = cairn.RolloutEventPause, "paused by "+actor
	case RolloutResume:
		ch.Event, ch.Detail = cairn.RolloutEventResume, "resumed by "+actor
	case RolloutPromote:
		ch.Event, ch.Detail = cairn.RolloutEventPromote, "promoted by "+actor
	case RolloutAbort:
		ch.Event, ch.Detail = cairn.RolloutEventRollback, "aborted by "+actor
	case RolloutSetShare:
		if share < 0 || share > 100 {
			return nil, BadInput("share %d: the candidate's share is a percentage from 0 to 100", share)
		}
		ch.Event, ch.Detail = cairn.RolloutEventShare, fmt.Sprintf("share set to %d%% by %s", share, actor)
	default:
		return nil, BadInput("rollout action %s: want one of %s", Brief(action), strings.Join(RolloutActions, ", "))
	}
	r, err := rc.Rollout(ctx, name)
	if err != nil {
		return nil, err
	}
	if !r.Routes() {
		return nil, fmt.Errorf("model %s has no active rollout (its last one, of version %d, was %s: %s), so there is nothing to %s: %w",
			name, r.Candidate, strings.ReplaceAll(string(r.State), "_", " "), r.Reason, action, cairn.ErrConflict)
	}
	ch.Candidate, ch.FromStep, ch.FromPaused, ch.Step = r.Candidate, r.Step, r.Paused, r.Step
	if ch.Event == cairn.RolloutEventShare && r.Spec.Strategy == cairn.StrategyCanary {
		ch.Step = cairn.ShareStep(r.Spec.WithDefaults().Steps, share)
	}
	if _, err := rc.ChangeRollout(ctx, ch, nil); err != nil {
		return nil, err
	}
	return RolloutDetail(ctx, rc, name, now)
}
