package ui

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/gin-gonic/gin"
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
		Candidate: r.Candidate, Share: r.Share, Step: r.Step, StepAt: r.StepAt.UTC(), StartedAt: r.StartedAt.UTC(), Reason: r.Reason,
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

// GET /api/v1/models/{name}/rollout → the model's rollout.
func (h *handler) apiRollout(c *gin.Context) {
	if h.o.Rollouts == nil {
		h.fail(c, fmt.Errorf("this server keeps no rollouts: %w", errNotImplemented))
		return
	}
	name, err := modelName(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	r, err := RolloutDetail(c.Request.Context(), h.o.Rollouts, name, time.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusOK, r)
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
