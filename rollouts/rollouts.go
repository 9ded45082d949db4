package rollouts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// Store is what the controller reads and writes (*sqlite.Store and
// *postgres.Store satisfy it).
type Store interface {
	ActiveRollouts(ctx context.Context) ([]*cairn.Rollout, error)
	RequestStats(ctx context.Context, name string, since time.Time) (map[int]cairn.RequestStats, error)
	ChangeRollout(ctx context.Context, ch cairn.RolloutChange, fence *scheduler.Fence) (*cairn.Rollout, error)
	PruneRequests(ctx context.Context, before time.Time, limit int) (int64, error)
}

// AlertStore is what the per-model alerts need beyond Store (both
// stores have it): see cairn.ModelAlertFinding.
type AlertStore interface {
	RecordModelAlert(ctx context.Context, f cairn.ModelAlertFinding) (bool, error)
}

// ModelAlertStore is what a model's own alerts (cairn.ModelAlerts) need
// beyond AlertStore (both stores have it): the models that have alerts,
// with their production versions.
type ModelAlertStore interface {
	WatchedModels(ctx context.Context) ([]cairn.ModelAlerts, error)
}

// MinuteStore is what the models page's charts over time need beyond
// Store (both stores have it): the request log aggregated per model
// version and minute.
type MinuteStore interface {
	RecordMinutes(ctx context.Context, from, to, prune time.Time) (int, error)
}

// Check says whether per-model alert a holds on a version's stats; known
// false when the stats are too few to tell (fewer labeled rows than the
// alert's min, else the rollout's min_samples, for a live metric; fewer
// requests than its min, else min_requests, for the p99), which changes
// nothing. A model's own alerts pass a zero spec: the defaults.
func Check(a cairn.ModelAlert, st cairn.RequestStats, spec cairn.RolloutSpec) (holds, known bool, value float64, detail string) {
	spec = spec.WithDefaults()
	if a.Min > 0 {
		spec.MinSamples, spec.MinRequests = a.Min, a.Min
	}
	switch a.On {
	case cairn.AlertLiveMetricBelow:
		metric, v, ok := st.LiveMetric()
		if !ok || st.Labeled < spec.MinSamples {
			return false, false, 0, ""
		}
		return v < a.Bound, true, v, fmt.Sprintf("version %d's %s is %.4g, below the bound %g (%d labeled rows)", st.Version, metric, v, a.Bound, st.Labeled)
	case cairn.AlertP99Above:
		if st.Requests == 0 || st.Requests < spec.MinRequests {
			return false, false, 0, ""
		}
		bound := time.Duration(a.Bound * float64(time.Second))
		return st.P99 > bound, true, st.P99.Seconds(), fmt.Sprintf("version %d's p99 latency is %s, above the bound %s (%d requests)", st.Version, st.P99, bound, st.Requests)
	}
	return false, false, 0, ""
}

// Decision is what Judge makes of a rollout now: Event "" holds it (Why
// says what it waits for), else a step to Share at Step, a promotion or
// a rollback, Why saying why.
type Decision struct {
	Event string
	Share int
	Step  int
	Why   string
}

// Judge decides what becomes of rollout r given its versions' request
// stats since r.StepAt (see the package documentation); at a step of 100%,
// where production answers nothing, production's are those of the whole
// rollout (since r.StartedAt). It is pure.
func Judge(r *cairn.Rollout, stats map[int]cairn.RequestStats, now time.Time) Decision {
	spec := r.Spec.WithDefaults()
	cand, base := stats[r.Candidate], stats[r.Baseline]
	if spec.Strategy != cairn.StrategyCanary {
		return Decision{Why: fmt.Sprintf("a%s %s rollout changes only by hand: cairn models rollout %s promote or abort",
			map[bool]string{true: "n", false: ""}[spec.Strategy == cairn.StrategyAB], spec.Strategy, r.Name)}
	}
	if cand.Requests >= spec.MinRequests && cand.ErrorRate() > spec.MaxErrorRate {
		return Decision{Event: cairn.RolloutEventRollback, Why: fmt.Sprintf("version %d failed %d of %d requests (%.1f%%), above the %.1f%% allowed",
			r.Candidate, cand.Failed, cand.Requests, 100*cand.ErrorRate(), 100*spec.MaxErrorRate)}
	}
	judged := spec.Judge == cairn.JudgeErrors
	if spec.Judge == cairn.JudgeLive && cand.Labeled >= spec.MinSamples && base.Labeled >= spec.MinSamples {
		metric, cm, _ := cand.LiveMetric()
		_, bm, _ := base.LiveMetric()
		if cand.Kind == "" {
			metric, _, _ = base.LiveMetric()
		}
		if worse(metric, cm, bm, spec.Tolerance) {
			return Decision{Event: cairn.RolloutEventRollback, Why: fmt.Sprintf("version %d's %s %.4g is worse than production's %.4g by more than %g%% (%d and %d labeled rows)",
				r.Candidate, metric, cm, bm, 100*spec.Tolerance, cand.Labeled, base.Labeled)}
		}
		judged = true
	}
	if r.Paused {
		return Decision{Why: fmt.Sprintf("paused at %d%%: cairn models rollout %s resume (a failing candidate is still rolled back)", r.Share, r.Name)}
	}
	if left := r.StepAt.Add(time.Duration(spec.Interval)).Sub(now); left > 0 {
		return Decision{Why: fmt.Sprintf("step %d of %d (%d%%) holds %s more", max(r.Step, 0)+1, len(spec.Steps), r.Share, left.Round(time.Second))}
	}
	if cand.Requests < spec.MinRequests {
		return Decision{Why: fmt.Sprintf("waiting for requests: version %d answered %d of the %d its error rate is judged on", r.Candidate, cand.Requests, spec.MinRequests)}
	}
	if !judged {
		over := ""
		if r.Share >= 100 {
			over = " (production's over the whole rollout: it answers nothing at 100%)"
		}
		return Decision{Why: fmt.Sprintf("waiting for feedback: %d and %d labeled rows%s of the %d each version needs (POST /api/v1/models/%s/feedback)",
			cand.Labeled, base.Labeled, over, spec.MinSamples, r.Name)}
	}
	held := heldText(r, cand, base, spec)
	if r.Step+1 >= len(spec.Steps) {
		return Decision{Event: cairn.RolloutEventPromote, Why: fmt.Sprintf("version %d held at %d%% for %s: %s", r.Candidate, r.Share, time.Duration(spec.Interval), held)}
	}
	next := spec.Steps[r.Step+1]
	return Decision{Event: cairn.RolloutEventStep, Share: next, Step: r.Step + 1, Why: fmt.Sprintf("%d%% held for %s: %s", r.Share, time.Duration(spec.Interval), held)}
}

// worse says whether the candidate's metric c is worse than the
// baseline's b by more than tolerance, relative.
func worse(metric string, c, b, tolerance float64) bool {
	if cairn.HigherIsBetter(metric) {
		return c < b*(1-tolerance)
	}
	return c > b*(1+tolerance)
}

func heldText(r *cairn.Rollout, cand, base cairn.RequestStats, spec cairn.RolloutSpec) string {
	s := fmt.Sprintf("error rate %.2f%%", 100*cand.ErrorRate())
	if metric, cm, ok := cand.LiveMetric(); ok {
		if _, bm, ok := base.LiveMetric(); ok {
			s += fmt.Sprintf(", %s %.4g against production's %.4g", metric, cm, bm)
		}
	}
	return s
}

// Options configure a Controller.
type Options struct {
	Store Store
	// Leader returns the fencing token of this process's term as the
	// scheduler's leader, or false when it does not lead.
	Leader func() (scheduler.Fence, bool)
	// Every is how often the leader looks at the active rollouts
	// (DefaultEvery when 0).
	Every time.Duration
	// Retention is how long the request log is kept (DefaultRetention
	// when 0).
	Retention time.Duration
	Logger    *slog.Logger
	// Changed, if set, is told of every change the controller made (the
	// server's model server refreshes at once).
	Changed func(name string)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Reference, if set, reads a model version's training data for its
	// drift_above alerts (read once per version and kept); without it
	// they wait, their figure saying why.
	Reference ReferenceFunc
	// DriftEvery is how often a version's drift is measured again
	// (DefaultDriftEvery when 0).
	DriftEvery time.Duration
}

// Defaults of Options.
const (
	DefaultEvery     = time.Second
	DefaultRetention = 7 * 24 * time.Hour
	pruneEvery       = 10 * time.Minute
	pruneBatch       = 10000
	// MinuteRetention is how long the per-minute figures of the models
	// page are kept.
	MinuteRetention = 30 * 24 * time.Hour
	// minuteLag is how long after a minute ends it is aggregated: the
	// request log is written every half second by each server.
	minuteLag = 5 * time.Second
	// minuteBack is how far back a leader that just began aggregates
	// again (the minutes of a leader that stopped meanwhile).
	minuteBack = 10 * time.Minute
)

// Actor is the audit log's actor of the controller's changes.
const Actor = "rollout"

// Controller is the leader's maintenance of rollouts; Start and Stop.
type Controller struct {
	o    Options
	stop context.CancelFunc
	wg   sync.WaitGroup
	// lastWhy is the last hold logged per rollout (the loop's own).
	lastWhy   map[string]string
	lastPrune time.Time
	// holds is whether each per-model alert held at the last finding
	// recorded (name/version/seq/event): the store is written only when it
	// changes (or is not known here yet).
	holds map[string]bool
	// minutesTo is the end of the minutes aggregated so far (zero: none
	// since this process began leading).
	minutesTo  time.Time
	lastMinute time.Time // when the minutes were last pruned
	// refs are the training data read per model version, drifts the
	// last drift measured per version and window, lastDriftErr why the
	// last measurement failed (logged once): the loop's own.
	refs         map[string]*refEntry
	drifts       map[driftKey]measured
	lastDriftErr map[driftKey]string
	// shadowRows are the shadow rollouts' candidates and production
	// versions by model, this pass: a shadow candidate answers no request,
	// so its drift is measured on the rows production served (the same
	// inputs).
	shadowRows map[string][2]int
}

// New returns a controller.
func New(o Options) (*Controller, error) {
	if o.Store == nil || o.Leader == nil {
		return nil, errors.New("rollouts: Options.Store and Options.Leader are required")
	}
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Changed == nil {
		o.Changed = func(string) {}
	}
	if o.DriftEvery <= 0 {
		o.DriftEvery = DefaultDriftEvery
	}
	return &Controller{o: o, lastWhy: map[string]string{}, holds: map[string]bool{},
		refs: map[string]*refEntry{}, drifts: map[driftKey]measured{}, lastDriftErr: map[driftKey]string{}, shadowRows: map[string][2]int{}}, nil
}

// Start runs the loop until Stop.
func (c *Controller) Start(ctx context.Context) {
	ctx, c.stop = context.WithCancel(ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.o.Every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.Tick(ctx)
			}
		}
	}()
}

// Stop ends the loop and waits for it.
func (c *Controller) Stop() {
	if c.stop != nil {
		c.stop()
	}
	c.wg.Wait()
}

// Tick does one pass if this process leads: every active rollout judged
// and changed as decided, and the request log pruned now and then.
func (c *Controller) Tick(ctx context.Context) {
	fence, ok := c.o.Leader()
	if !ok {
		clear(c.holds) // another leader records findings meanwhile
		clear(c.drifts)
		c.minutesTo = time.Time{}
		return
	}
	c.minutes(ctx)
	rs, err := c.o.Store.ActiveRollouts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.o.Logger.Warn("rollouts: list the active rollouts", "err", err)
		}
		return
	}
	clear(c.shadowRows)
	for _, r := range rs {
		if r.Routes() && r.Spec.Strategy == cairn.StrategyShadow {
			c.shadowRows[r.Name] = [2]int{r.Candidate, r.Baseline}
		}
	}
	for _, r := range rs {
		if err := c.judge(ctx, r, fence); err != nil {
			if errors.Is(err, cairn.ErrNotLeader) {
				return
			}
			if ctx.Err() == nil && !errors.Is(err, cairn.ErrConflict) {
				c.o.Logger.Warn("rollouts: judge a rollout", "model", r.Name, "err", err)
			}
		}
	}
	c.watch(ctx, rs)
	now := c.o.Now()
	if now.Sub(c.lastPrune) >= pruneEvery {
		c.lastPrune = now
		n, err := c.o.Store.PruneRequests(ctx, now.Add(-c.o.Retention), pruneBatch)
		if err != nil && ctx.Err() == nil {
			c.o.Logger.Warn("rollouts: prune the request log", "err", err)
		} else if n == pruneBatch {
			c.lastPrune = time.Time{} // more to delete: next pass
		}
		if sp, ok := c.o.Store.(ServedPruner); ok {
			n, err := sp.PruneServedRows(ctx, now.Add(-c.o.Retention), pruneBatch)
			if err != nil && ctx.Err() == nil {
				c.o.Logger.Warn("rollouts: prune the served rows", "err", err)
			} else if n == pruneBatch {
				c.lastPrune = time.Time{}
			}
		}
	}
}

// minutes aggregates the request log's minutes that ended (minuteLag
// ago) since the last pass into the store's per-minute figures, and
// prunes those past MinuteRetention now and then.
func (c *Controller) minutes(ctx context.Context) {
	ms, ok := c.o.Store.(MinuteStore)
	if !ok {
		return
	}
	now := c.o.Now()
	to := now.Add(-minuteLag).Truncate(time.Minute)
	from := c.minutesTo
	if from.IsZero() || from.Before(to.Add(-minuteBack)) {
		from = to.Add(-minuteBack)
	}
	if !to.After(from) {
		return
	}
	var prune time.Time
	if now.Sub(c.lastMinute) >= pruneEvery {
		prune = now.Add(-MinuteRetention)
	}
	if _, err := ms.RecordMinutes(ctx, from, to, prune); err != nil {
		if ctx.Err() == nil {
			c.o.Logger.Warn("rollouts: record the models' minutes; the models page's charts miss them until the next pass", "from", from, "err", err)
		}
		return
	}
	c.minutesTo = to
	if !prune.IsZero() {
		c.lastMinute = now
	}
}

func (c *Controller) judge(ctx context.Context, r *cairn.Rollout, fence scheduler.Fence) error {
	// Only a canary is judged by its requests, and only a rollout with
	// alerts watches them: a shadow or A-B rollout without alerts reads
	// none. The read sums the request log since the step began, every
	// Every: for a shadow or A-B rollout, never stepped, since it began,
	// a scan that grows with every request served (in a shadow
	// rollout's benchmark a few µs of the leader's CPU per request after
	// a few seconds; hours in, more than the requests themselves).
	canary := r.Spec.WithDefaults().Strategy == cairn.StrategyCanary
	var stats map[int]cairn.RequestStats
	if canary || len(r.Spec.Alerts) > 0 {
		var err error
		if stats, err = c.o.Store.RequestStats(ctx, r.Name, r.StepAt); err != nil {
			return err
		}
	}
	now := c.o.Now()
	c.alerts(ctx, r, stats, now)
	judged := stats
	if canary && r.Share >= 100 {
		// Production answers nothing at a step of 100%: the candidate is
		// judged against what production answered over the rollout.
		all, err := c.o.Store.RequestStats(ctx, r.Name, r.StartedAt)
		if err != nil {
			return err
		}
		judged = maps.Clone(stats)
		judged[r.Baseline] = all[r.Baseline]
	}
	d := Judge(r, judged, now)
	if d.Event == "" {
		if c.lastWhy[r.Name] != d.Why {
			c.lastWhy[r.Name] = d.Why
			c.o.Logger.Debug("rollouts: holds", "model", r.Name, "why", d.Why)
		}
		return nil
	}
	delete(c.lastWhy, r.Name)
	_, err := c.o.Store.ChangeRollout(ctx, cairn.RolloutChange{Name: r.Name, Candidate: r.Candidate, FromStep: r.Step, FromPaused: r.Paused, Event: d.Event,
		Share: d.Share, Step: d.Step, Detail: d.Why, Actor: Actor, At: now}, &fence)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if d.Event == cairn.RolloutEventRollback {
		level = slog.LevelWarn
	}
	c.o.Logger.Log(ctx, level, "rollouts: "+d.Event, "model", r.Name, "candidate", r.Candidate, "baseline", r.Baseline, "share", d.Share, "why", d.Why)
	c.o.Changed(r.Name)
	return nil
}

// watch checks the models' own alerts (cairn.ModelAlerts) on each
// model's production version and on the candidate of its active rollout
// (rs), each over its window, and records the findings that change.
func (c *Controller) watch(ctx context.Context, rs []*cairn.Rollout) {
	ms, ok := c.o.Store.(ModelAlertStore)
	if !ok {
		return
	}
	as, ok := c.o.Store.(AlertStore)
	if !ok {
		return
	}
	sets, err := ms.WatchedModels(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.o.Logger.Warn("rollouts: list the models' alerts", "err", err)
		}
		return
	}
	candidates := map[string]int{}
	for _, r := range rs {
		if r.Routes() {
			candidates[r.Name] = r.Candidate
		}
	}
	now := c.o.Now()
	for _, set := range sets {
		versions := make([]int, 0, 2)
		if set.Production > 0 {
			versions = append(versions, set.Production)
		}
		if v := candidates[set.Name]; v > 0 && v != set.Production {
			versions = append(versions, v)
		}
		if len(versions) == 0 {
			continue
		}
		stats := map[time.Duration]map[int]cairn.RequestStats{} // per window
		for i, a := range set.Alerts {
			if a.On == cairn.AlertDriftAbove {
				for _, v := range versions {
					c.record(ctx, as, set.Name, v, set.Seq(i), a, cairn.RequestStats{Version: v}, cairn.RolloutSpec{}, now)
				}
				continue
			}
			w := a.WindowOr(cairn.DefaultAlertWindow)
			st, ok := stats[w]
			if !ok {
				if st, err = c.o.Store.RequestStats(ctx, set.Name, now.Add(-w)); err != nil {
					if ctx.Err() == nil {
						c.o.Logger.Warn("rollouts: read a model's request stats for its alerts", "model", set.Name, "err", err)
					}
					break
				}
				stats[w] = st
			}
			for _, v := range versions {
				s := st[v]
				s.Version = v
				c.record(ctx, as, set.Name, v, set.Seq(i), a, s, cairn.RolloutSpec{}, now)
			}
		}
	}
}

// record checks alert a (number seq) on version v's stats st (a
// drift_above alert: on its served rows) and records the finding when
// whether it holds changed (or is not known here yet).
func (c *Controller) record(ctx context.Context, as AlertStore, name string, v, seq int, a cairn.ModelAlert, st cairn.RequestStats, spec cairn.RolloutSpec, now time.Time) {
	var (
		holds, known bool
		value        float64
		detail       string
	)
	if a.On == cairn.AlertDriftAbove {
		ds, ok := c.o.Store.(DriftStore)
		if !ok {
			return
		}
		holds, known, value, detail = c.checkDrift(ctx, ds, name, v, a, now)
	} else {
		holds, known, value, detail = Check(a, st, spec)
	}
	if !known {
		return
	}
	key := fmt.Sprintf("%s/%d/%d/%s", name, v, seq, a.On)
	if was, seen := c.holds[key]; seen && was == holds {
		return
	}
	fired, err := as.RecordModelAlert(ctx, cairn.ModelAlertFinding{Name: name, Version: v, Seq: seq, Alert: a, Holds: holds,
		Value: value, Detail: detail, Now: now})
	if err != nil {
		if ctx.Err() == nil {
			c.o.Logger.Warn("rollouts: record a model alert", "model", name, "version", v, "on", a.On, "err", err)
		}
		return
	}
	c.holds[key] = holds
	if fired {
		c.o.Logger.Warn("rollouts: model alert", "model", name, "version", v, "on", a.On, "detail", detail)
	}
}

// alerts checks rollout r's per-model alerts on its candidate and its
// production version and records each finding that changes whether one
// holds: an alert is written when its condition starts to hold.
func (c *Controller) alerts(ctx context.Context, r *cairn.Rollout, stats map[int]cairn.RequestStats, now time.Time) {
	as, ok := c.o.Store.(AlertStore)
	if !ok || len(r.Spec.Alerts) == 0 {
		return
	}
	for _, v := range []int{r.Candidate, r.Baseline} {
		st := stats[v]
		st.Version = v
		for i, a := range r.Spec.Alerts {
			c.record(ctx, as, r.Name, v, i, a, st, r.Spec, now)
		}
	}
}
