package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// RolloutStore is a model's rollouts and the request log (issue #22),
// beyond Server.
type RolloutStore interface {
	StartRollout(ctx context.Context, name string, candidate int, spec cairn.RolloutSpec, actor string, now time.Time) (*cairn.Rollout, error)
	ChangeRollout(ctx context.Context, ch cairn.RolloutChange, fence *scheduler.Fence) (*cairn.Rollout, error)
	Rollout(ctx context.Context, name string) (*cairn.Rollout, error)
	ActiveRollouts(ctx context.Context) ([]*cairn.Rollout, error)
	RolloutEvents(ctx context.Context, name string, limit int) ([]cairn.RolloutEvent, error)
	LogRequests(ctx context.Context, rs []cairn.ModelRequest) error
	ModelRequests(ctx context.Context, name, requestID string) ([]cairn.ModelRequest, error)
	SetFeedback(ctx context.Context, name, requestID string, scores []cairn.RequestScore) error
	RequestStats(ctx context.Context, name string, since time.Time) (map[int]cairn.RequestStats, error)
	PruneRequests(ctx context.Context, before time.Time, limit int) (int64, error)
}

// deployWith is deploy with a rollout spec on the registration. The
// stage output it sets is checked against the version's stage:
// production for a name's first version with a rollout (nothing to roll
// out against).
func deployWith(t *testing.T, s Server, at time.Time, name string, model cairn.ArtifactRef, spec *cairn.RolloutSpec) int {
	t.Helper()
	tr, err := completeDeploy(t, s, at, &cairn.ModelRegistration{Name: name, Stage: cairn.StageCandidate, Model: model,
		VersionOutput: "version", StageOutput: "stage", Rollout: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := json.Unmarshal(tr.Outputs["version"], &v); err != nil {
		t.Fatalf("version output %s: %v", tr.Outputs["version"], err)
	}
	mv, err := s.ModelVersion(context.Background(), name, v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + string(mv.Stage) + `"`; string(tr.Outputs["stage"]) != want {
		t.Fatalf("stage output %s, want the registered version's %s", tr.Outputs["stage"], want)
	}
	if v == 1 && spec != nil && spec.Strategy != cairn.StrategyDirect && mv.Stage != cairn.StageProduction {
		t.Fatalf("a first version deployed with a rollout is %s", mv.Stage)
	}
	return v
}

func testRollouts(t *testing.T, s Server) {
	rs, ok := s.(RolloutStore)
	if !ok {
		t.Skip("the store has no rollouts")
	}
	ctx := context.Background()
	at := origin()
	next := func() time.Time { at = at.Add(time.Second); return at }
	canary := &cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 50, 100}}

	// The first version of a name goes to production at once: there is
	// nothing to roll it out against.
	if v := deployWith(t, s, next(), "churn", testRef("r1"), canary); v != 1 {
		t.Fatalf("first version %d", v)
	}
	if p, err := s.ProductionModel(ctx, "churn"); err != nil || p.Version != 1 {
		t.Fatalf("the first canary deploy is production: %+v %v", p, err)
	}
	if _, err := rs.Rollout(ctx, "churn"); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("no rollout yet: %v", err)
	}
	seq0, _ := s.ModelStageSeq(ctx)
	// The second starts a canary at its first step, in the deploy's
	// transaction; production stays.
	v2 := deployWith(t, s, next(), "churn", testRef("r2"), canary)
	r, err := rs.Rollout(ctx, "churn")
	if err != nil || r.State != cairn.RolloutActive || r.Baseline != 1 || r.Candidate != v2 || r.Share != 10 || r.Step != 0 ||
		r.Spec.Strategy != cairn.StrategyCanary || r.Spec.MinSamples != cairn.DefaultMinSamples {
		t.Fatalf("rollout after the deploy: %+v %v", r, err)
	}
	if p, _ := s.ProductionModel(ctx, "churn"); p.Version != 1 {
		t.Fatalf("production during the canary: %d", p.Version)
	}
	if seq, _ := s.ModelStageSeq(ctx); seq <= seq0 {
		t.Fatalf("the registry's seq did not grow with the rollout: %d then %d", seq0, seq)
	}
	if act, err := rs.ActiveRollouts(ctx); err != nil || len(act) != 1 || act[0].Name != "churn" {
		t.Fatalf("active rollouts: %v %v", act, err)
	}

	// Steps are compare-and-set on (candidate, step), fenced when a
	// fence is given.
	step := cairn.RolloutChange{Name: "churn", Candidate: v2, FromStep: 0, Event: cairn.RolloutEventStep, Share: 50, Step: 1, Actor: "rollout", At: next()}
	if r, err = rs.ChangeRollout(ctx, step, nil); err != nil || r.Share != 50 || r.Step != 1 || !r.StepAt.Equal(step.At) {
		t.Fatalf("step: %+v %v", r, err)
	}
	if _, err := rs.ChangeRollout(ctx, step, nil); !errors.Is(err, cairn.ErrConflict) {
		t.Fatalf("the same step twice: %v", err)
	}
	fence := scheduler.Fence{Name: scheduler.LeaderScheduler, Holder: "nobody", Epoch: 7}
	step2 := cairn.RolloutChange{Name: "churn", Candidate: v2, FromStep: 1, Event: cairn.RolloutEventStep, Share: 100, Step: 2, Actor: "rollout", At: next()}
	if _, err := rs.ChangeRollout(ctx, step2, &fence); !errors.Is(err, cairn.ErrNotLeader) {
		t.Fatalf("a step under a term that is not the lease's: %v", err)
	}
	if r, _ := rs.Rollout(ctx, "churn"); r.Step != 1 {
		t.Fatalf("a refused step changed the rollout: %+v", r)
	}
	// A rollback ends it: production stays, the candidate answers none.
	back := cairn.RolloutChange{Name: "churn", Candidate: v2, FromStep: 1, Event: cairn.RolloutEventRollback, Detail: "accuracy 0.61 < 0.88", Actor: "rollout", At: next()}
	if r, err = rs.ChangeRollout(ctx, back, nil); err != nil || r.State != cairn.RolloutRolledBack || r.Share != 0 || r.Reason != "accuracy 0.61 < 0.88" {
		t.Fatalf("rollback: %+v %v", r, err)
	}
	if p, _ := s.ProductionModel(ctx, "churn"); p.Version != 1 {
		t.Fatalf("production after the rollback: %d", p.Version)
	}
	audit, err := s.ListAudit(ctx, scheduler.AuditFilter{})
	if err != nil || len(audit) == 0 || audit[0].Action != scheduler.AuditModelRollout {
		t.Fatalf("the rollback's audit entry: %+v %v", audit, err)
	}

	// By hand: a rollout of version 2 again, promoted at its last step.
	if _, err := rs.StartRollout(ctx, "churn", 1, *canary, "cli:a", next()); !errors.Is(err, cairn.ErrConflict) {
		t.Fatalf("a rollout of the production version: %v", err)
	}
	if _, err := rs.StartRollout(ctx, "churn", 9, *canary, "cli:a", next()); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("a rollout of no version: %v", err)
	}
	if _, err := rs.StartRollout(ctx, "churn", v2, cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 150}}, "cli:a", next()); err == nil {
		t.Fatal("a share of 150 was taken")
	}
	if r, err = rs.StartRollout(ctx, "churn", v2, cairn.RolloutSpec{Strategy: cairn.StrategyAB, Split: 30}, "cli:a", next()); err != nil ||
		r.Share != 30 || r.State != cairn.RolloutActive {
		t.Fatalf("an A-B rollout: %+v %v", r, err)
	}
	promote := cairn.RolloutChange{Name: "churn", Candidate: v2, FromStep: 0, Event: cairn.RolloutEventPromote, Detail: "held", Actor: "rollout", At: next()}
	if r, err = rs.ChangeRollout(ctx, promote, nil); err != nil || r.State != cairn.RolloutPromoted {
		t.Fatalf("promote: %+v %v", r, err)
	}
	if p, _ := s.ProductionModel(ctx, "churn"); p.Version != v2 {
		t.Fatalf("production after the promotion: %d", p.Version)
	}
	if v, _ := s.ModelVersion(ctx, "churn", 1); v.Stage != cairn.StageArchived {
		t.Fatalf("the baseline after the promotion: %s", v.Stage)
	}
	// A promotion by hand of the candidate settles an active rollout.
	v3 := deployWith(t, s, next(), "churn", testRef("r3"), &cairn.RolloutSpec{Strategy: cairn.StrategyShadow})
	if r, _ := rs.Rollout(ctx, "churn"); r.Candidate != v3 || r.Share != 0 || r.Spec.Strategy != cairn.StrategyShadow {
		t.Fatalf("shadow: %+v", r)
	}
	if _, err := s.PromoteModel(ctx, "churn", v3, cairn.StageProduction, "cli:a", next()); err != nil {
		t.Fatal(err)
	}
	if r, _ := rs.Rollout(ctx, "churn"); r.State != cairn.RolloutPromoted {
		t.Fatalf("a promotion by hand leaves the rollout %s", r.State)
	}
	ev, err := rs.RolloutEvents(ctx, "churn", 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range ev {
		kinds = append(kinds, e.Event)
	}
	want := []string{"start", "step", "rollback", "start", "promote", "start", "promote"}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
	if last, _ := rs.RolloutEvents(ctx, "churn", 2); len(last) != 2 || last[1].ID != ev[len(ev)-1].ID {
		t.Fatalf("the newest 2 events: %+v", last)
	}

	// The request log, feedback and the stats per version.
	t0 := next()
	reqs := []cairn.ModelRequest{
		{RequestID: "a", Name: "churn", Version: 1, At: t0, Duration: 2 * time.Millisecond, Rows: 2, Kind: "classification", Predictions: []byte(`[1,0]`)},
		{RequestID: "a", Name: "churn", Version: 2, Shadow: true, At: t0, Duration: 4 * time.Millisecond, Rows: 2, Kind: "classification", Predictions: []byte(`[1,1]`)},
		{RequestID: "b", Name: "churn", Version: 2, At: t0, Duration: 9 * time.Millisecond, Failed: true, Rows: 1, Kind: "classification"},
	}
	if err := rs.LogRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if err := rs.LogRequests(ctx, reqs[:1]); err != nil {
		t.Fatalf("a request logged twice: %v", err)
	}
	got, err := rs.ModelRequests(ctx, "churn", "a")
	if err != nil || len(got) != 2 || string(got[0].Predictions) != "[1,0]" || !got[1].Shadow || got[1].Duration != 4*time.Millisecond {
		t.Fatalf("request a: %+v %v", got, err)
	}
	if got, _ := rs.ModelRequests(ctx, "other", "a"); len(got) != 0 {
		t.Fatalf("request a of another model: %+v", got)
	}
	if err := rs.SetFeedback(ctx, "churn", "a", []cairn.RequestScore{{Version: 1, Labeled: 2, Score: 2}, {Version: 2, Labeled: 2, Score: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetFeedback(ctx, "churn", "zzz", []cairn.RequestScore{{Version: 1, Labeled: 1, Score: 1}}); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("feedback of no request: %v", err)
	}
	st, err := rs.RequestStats(ctx, "churn", t0)
	if err != nil || len(st) != 2 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	if s1 := st[1]; s1.Requests != 1 || s1.Failed != 0 || s1.Labeled != 2 || s1.Score != 2 || s1.Kind != "classification" || s1.P99 != 2*time.Millisecond {
		t.Fatalf("version 1: %+v", s1)
	}
	if s2 := st[2]; s2.Requests != 2 || s2.Failed != 1 || s2.Rows != 3 || s2.Labeled != 2 || s2.Score != 1 || s2.P99 != 9*time.Millisecond {
		t.Fatalf("version 2: %+v", s2)
	}
	if _, m, ok := st[2].LiveMetric(); !ok || m != 0.5 {
		t.Fatalf("version 2's accuracy %v %v", m, ok)
	}
	if st, _ := rs.RequestStats(ctx, "churn", t0.Add(time.Second)); len(st) != 0 {
		t.Fatalf("stats since later: %+v", st)
	}
	if n, err := rs.PruneRequests(ctx, t0.Add(time.Second), 2); err != nil || n != 2 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if n, err := rs.PruneRequests(ctx, t0.Add(time.Second), 100); err != nil || n != 1 {
		t.Fatalf("prune the rest: %d %v", n, err)
	}
}

// testRolloutByHand: the changes by hand of an active rollout — pause,
// resume, a share set — are compare-and-set like the leader's steps (on
// the step and whether it is paused), in its history and the audit log;
// a paused rollout refuses a second pause, a resumed one restarts its
// step's window, a shadow has no share to set.
func testRolloutByHand(t *testing.T, s Server) {
	rs, ok := s.(RolloutStore)
	if !ok {
		t.Skip("the store has no rollouts")
	}
	ctx := context.Background()
	at := origin()
	next := func() time.Time { at = at.Add(time.Second); return at }
	canary := &cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 50, 100}}
	deployWith(t, s, next(), "fraud", testRef("f1"), canary)
	v2 := deployWith(t, s, next(), "fraud", testRef("f2"), canary)
	seq0, _ := s.ModelStageSeq(ctx)

	pause := cairn.RolloutChange{Name: "fraud", Candidate: v2, Event: cairn.RolloutEventPause, Detail: "paused by cli:a", Actor: "cli:a", At: next()}
	r, err := rs.ChangeRollout(ctx, pause, nil)
	if err != nil || !r.Paused || r.Share != 10 {
		t.Fatalf("pause: %+v %v", r, err)
	}
	if r, _ := rs.Rollout(ctx, "fraud"); !r.Paused || r.State != cairn.RolloutActive {
		t.Fatalf("the paused rollout as read: %+v", r)
	}
	if seq, _ := s.ModelStageSeq(ctx); seq <= seq0 {
		t.Fatalf("a pause did not move the registry's seq: %d then %d", seq0, seq)
	}
	// A step decided before the pause committed is refused: it was
	// decided on a rollout that was not paused.
	step := cairn.RolloutChange{Name: "fraud", Candidate: v2, Event: cairn.RolloutEventStep, Share: 50, Step: 1, Actor: "rollout", At: next()}
	if _, err := rs.ChangeRollout(ctx, step, nil); !errors.Is(err, cairn.ErrConflict) {
		t.Fatalf("a step of the leader's on a paused rollout: %v", err)
	}
	pause.FromPaused = true
	if _, err := rs.ChangeRollout(ctx, pause, nil); !errors.Is(err, cairn.ErrConflict) || !strings.Contains(err.Error(), "paused already") {
		t.Fatalf("a second pause: %v", err)
	}
	// A share set by hand while paused: it stays paused; the step is the
	// last at or below the share.
	share := cairn.RolloutChange{Name: "fraud", Candidate: v2, FromPaused: true, Event: cairn.RolloutEventShare, Share: 60,
		Step: cairn.ShareStep(canary.Steps, 60), Detail: "share set to 60% by cli:a", Actor: "cli:a", At: next()}
	if r, err = rs.ChangeRollout(ctx, share, nil); err != nil || r.Share != 60 || r.Step != 1 || !r.Paused {
		t.Fatalf("set-share: %+v %v", r, err)
	}
	bad := share
	bad.FromStep, bad.Share = 1, 101
	if _, err := rs.ChangeRollout(ctx, bad, nil); err == nil || errors.Is(err, cairn.ErrConflict) {
		t.Fatalf("a share of 101: %v", err)
	}
	resume := cairn.RolloutChange{Name: "fraud", Candidate: v2, FromStep: 1, FromPaused: true, Event: cairn.RolloutEventResume, Actor: "cli:a", At: next()}
	if r, err = rs.ChangeRollout(ctx, resume, nil); err != nil || r.Paused || !r.StepAt.Equal(resume.At) || r.Share != 60 {
		t.Fatalf("resume: %+v %v", r, err)
	}
	if r, _ := rs.Rollout(ctx, "fraud"); r.Paused || !r.StepAt.Equal(resume.At) {
		t.Fatalf("the resumed rollout as read: %+v", r)
	}
	resume.FromPaused = false
	if _, err := rs.ChangeRollout(ctx, resume, nil); !errors.Is(err, cairn.ErrConflict) || !strings.Contains(err.Error(), "not paused") {
		t.Fatalf("a resume of a rollout not paused: %v", err)
	}
	abort := cairn.RolloutChange{Name: "fraud", Candidate: v2, FromStep: 1, Event: cairn.RolloutEventRollback, Detail: "aborted by cli:a", Actor: "cli:a", At: next()}
	if r, err = rs.ChangeRollout(ctx, abort, nil); err != nil || r.State != cairn.RolloutRolledBack || r.Share != 0 {
		t.Fatalf("abort: %+v %v", r, err)
	}
	pause.FromPaused, pause.FromStep = false, 1
	if _, err := rs.ChangeRollout(ctx, pause, nil); !errors.Is(err, cairn.ErrConflict) || !strings.Contains(err.Error(), "rolled back already") {
		t.Fatalf("a pause of a rollout rolled back: %v", err)
	}
	var kinds []string
	ev, _ := rs.RolloutEvents(ctx, "fraud", 100)
	for _, e := range ev {
		kinds = append(kinds, e.Event)
	}
	if want := "start pause share resume rollback"; strings.Join(kinds, " ") != want {
		t.Fatalf("events %v, want %s", kinds, want)
	}
	audit, err := s.ListAudit(ctx, scheduler.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byHand := 0
	for _, a := range audit {
		if a.Action == scheduler.AuditModelRollout && a.Actor == "cli:a" {
			byHand++
		}
	}
	if byHand != 4 {
		t.Fatalf("%d audit entries by cli:a, want 4 (pause, share, resume, abort): %+v", byHand, audit)
	}

	// A shadow has no share to set.
	v3 := deployWith(t, s, next(), "fraud", testRef("f3"), &cairn.RolloutSpec{Strategy: cairn.StrategyShadow})
	sh := cairn.RolloutChange{Name: "fraud", Candidate: v3, Event: cairn.RolloutEventShare, Share: 20, Actor: "cli:a", At: next()}
	if _, err := rs.ChangeRollout(ctx, sh, nil); !errors.Is(err, cairn.ErrConflict) || !strings.Contains(err.Error(), "shadow") {
		t.Fatalf("set-share of a shadow: %v", err)
	}
}

// MinuteStore is the per-minute figures of the models page (issue #22).
type MinuteStore interface {
	RecordMinutes(ctx context.Context, from, to, prune time.Time) (int, error)
	ModelMinutes(ctx context.Context, name string, since time.Time) ([]cairn.ModelMinute, error)
}

// testModelMinutes: the request log aggregated per model version and
// minute — requests, failures, rows, p99, the predictions' distribution —
// replaced by a second aggregation of the same span, while the feedback of
// the minute it arrived in is added (a replacement adding its change), and
// pruned.
func testModelMinutes(t *testing.T, s Server) {
	rs, ok1 := s.(RolloutStore)
	ms, ok2 := s.(MinuteStore)
	if !ok1 || !ok2 {
		t.Skip("the store has no per-minute figures")
	}
	ctx := context.Background()
	m0 := origin().Truncate(time.Minute)
	// The minutes are of registered models (the names serving serves).
	deployWith(t, s, m0, "spam", testRef("spam1"), nil)
	for i := range 3 {
		deployWith(t, s, m0, "price", testRef(fmt.Sprint("price", i)), nil)
	}
	var reqs []cairn.ModelRequest
	for i := range 100 {
		reqs = append(reqs, cairn.ModelRequest{RequestID: fmt.Sprint("c", i), Name: "spam", Version: 1, At: m0.Add(time.Duration(i) * time.Second),
			Duration: time.Duration(i+1) * time.Millisecond, Rows: 2, Kind: "classification", Predictions: []byte(`["ham","spam"]`), Failed: i == 7})
	}
	reqs = append(reqs,
		cairn.ModelRequest{RequestID: "r1", Name: "price", Version: 3, At: m0.Add(10 * time.Second), Duration: time.Millisecond, Rows: 3, Kind: "regression", Predictions: []byte(`[1.5,-2,4.5]`)},
		cairn.ModelRequest{RequestID: "late", Name: "price", Version: 3, At: m0.Add(3 * time.Minute), Duration: time.Millisecond, Rows: 1, Kind: "regression", Predictions: []byte(`[9]`)})
	reqs[7].Predictions = nil
	if err := rs.LogRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	n, err := ms.RecordMinutes(ctx, m0, m0.Add(2*time.Minute), time.Time{})
	if err != nil || n != 3 {
		t.Fatalf("RecordMinutes: %d %v, want 3 (spam@1 in two minutes, price@3 in one)", n, err)
	}
	got, err := ms.ModelMinutes(ctx, "spam", m0)
	if err != nil || len(got) != 2 {
		t.Fatalf("spam's minutes: %+v %v", got, err)
	}
	first, second := got[0], got[1]
	// One a second: 60 in the first minute, 40 in the second.
	if !first.Minute.Equal(m0) || first.Requests != 60 || second.Requests != 40 || !second.Minute.Equal(m0.Add(time.Minute)) {
		t.Fatalf("spam's minutes: %+v", got)
	}
	if first.Failed != 1 || first.Rows != 2*first.Requests || first.Kind != "classification" ||
		first.Dist.Classes[`"ham"`] != first.Requests-1 || first.Dist.Classes[`"spam"`] != first.Requests-1 {
		t.Fatalf("spam's first minute: %+v", first)
	}
	// The p99 (nearest rank) of durations 1..N ms.
	if want := time.Duration(int(math.Ceil(0.99*float64(first.Requests)))) * time.Millisecond; first.P99 != want {
		t.Fatalf("spam's first minute's p99 %s, want %s", first.P99, want)
	}
	price, _ := ms.ModelMinutes(ctx, "price", m0)
	if len(price) != 1 || price[0].Dist.N != 3 || price[0].Dist.Mean() != 4.0/3 || price[0].Dist.Min != -2 || price[0].Dist.Max != 4.5 {
		t.Fatalf("price's minutes (the late request is after the span): %+v", price)
	}

	// Feedback goes to the minute it arrives in (now); a second feedback
	// of the request adds its change; an aggregation leaves it.
	if err := rs.SetFeedback(ctx, "spam", "c0", []cairn.RequestScore{{Version: 1, Labeled: 2, Score: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetFeedback(ctx, "spam", "c1", []cairn.RequestScore{{Version: 1, Labeled: 2, Score: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetFeedback(ctx, "spam", "c1", []cairn.RequestScore{{Version: 1, Labeled: 1, Score: 0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ms.RecordMinutes(ctx, m0, m0.Add(2*time.Minute), time.Time{}); err != nil {
		t.Fatal(err)
	}
	all, err := ms.ModelMinutes(ctx, "spam", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	labeled, score, requests := 0, 0.0, 0
	for _, m := range all {
		labeled, score, requests = labeled+m.Labeled, score+m.Score, requests+m.Requests
	}
	if labeled != 3 || score != 1 || requests != 100 {
		t.Fatalf("after feedback: %d labeled, score %v, %d requests, want 3, 1, 100: %+v", labeled, score, requests, all)
	}
	again, _ := ms.ModelMinutes(ctx, "spam", m0)
	if len(again) != 2 || again[0].Requests != first.Requests || again[0].P99 != first.P99 {
		t.Fatalf("a second aggregation changed the minutes: %+v", again)
	}
	// Pruned: minutes before the bound.
	if _, err := ms.RecordMinutes(ctx, m0.Add(2*time.Minute), m0.Add(4*time.Minute), m0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := ms.ModelMinutes(ctx, "spam", m0); len(got) != 1 || !got[0].Minute.Equal(m0.Add(time.Minute)) {
		t.Fatalf("after pruning before the second minute: %+v", got)
	}
	if got, _ := ms.ModelMinutes(ctx, "price", m0); len(got) != 1 || !got[0].Minute.Equal(m0.Add(3*time.Minute)) || got[0].Dist.N != 1 {
		t.Fatalf("price after pruning and the next span: %+v", got)
	}
}

// testShadowInRow: a shadow candidate's answer written in the production
// version's row (one row, one insert per shadowed request) reads as a
// request of its own everywhere: ModelRequests, the stats per version
// (its failures and p99 its own), feedback (set and replaced per version)
// and the minutes; pruning deletes the one row.
func testShadowInRow(t *testing.T, s Server) {
	rs, ok := s.(RolloutStore)
	ms, ok2 := s.(MinuteStore)
	if !ok || !ok2 {
		t.Skip("the store has no request log")
	}
	ctx := context.Background()
	at := origin()
	deployWith(t, s, at, "shadowed", testRef("shadowed one"), nil)
	t0 := at.Add(time.Minute).Truncate(time.Minute)
	reqs := []cairn.ModelRequest{
		{RequestID: "s1", Name: "shadowed", Version: 1, At: t0, Duration: 2 * time.Millisecond, Rows: 2, Kind: "classification", Predictions: []byte(`[1,0]`),
			ShadowVersion: 2, ShadowDuration: 5 * time.Millisecond, ShadowKind: "classification", ShadowPredictions: []byte(`[0,0]`)},
		{RequestID: "s2", Name: "shadowed", Version: 1, At: t0, Duration: 3 * time.Millisecond, Rows: 1, Kind: "classification", Predictions: []byte(`[1]`),
			ShadowVersion: 2, ShadowDuration: 7 * time.Millisecond, ShadowFailed: true, ShadowKind: "classification"},
	}
	if err := rs.LogRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	bad := reqs[0]
	bad.RequestID, bad.ShadowVersion = "s3", 1
	if err := rs.LogRequests(ctx, []cairn.ModelRequest{bad}); err == nil {
		t.Fatal("a row shadowed by its own version was logged")
	}
	got, err := rs.ModelRequests(ctx, "shadowed", "s1")
	if err != nil || len(got) != 2 || got[0].Version != 1 || got[0].Shadow || string(got[0].Predictions) != "[1,0]" ||
		got[1].Version != 2 || !got[1].Shadow || string(got[1].Predictions) != "[0,0]" || got[1].Duration != 5*time.Millisecond || got[1].Rows != 2 {
		t.Fatalf("request s1: %+v %v", got, err)
	}
	if err := rs.SetFeedback(ctx, "shadowed", "s1", []cairn.RequestScore{{Version: 1, Labeled: 2, Score: 2}, {Version: 2, Labeled: 2, Score: 0}}); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetFeedback(ctx, "shadowed", "s1", []cairn.RequestScore{{Version: 2, Labeled: 2, Score: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetFeedback(ctx, "shadowed", "s1", []cairn.RequestScore{{Version: 3, Labeled: 1, Score: 1}}); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("feedback of a version that did not score the request: %v", err)
	}
	st, err := rs.RequestStats(ctx, "shadowed", t0)
	if err != nil || len(st) != 2 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	if s1 := st[1]; s1.Requests != 2 || s1.Failed != 0 || s1.Rows != 3 || s1.Labeled != 2 || s1.Score != 2 || s1.P99 != 3*time.Millisecond {
		t.Fatalf("version 1: %+v", s1)
	}
	if s2 := st[2]; s2.Requests != 2 || s2.Failed != 1 || s2.Labeled != 2 || s2.Score != 1 || s2.Kind != "classification" || s2.P99 != 7*time.Millisecond {
		t.Fatalf("version 2 (the shadow): %+v", s2)
	}
	if n, err := ms.RecordMinutes(ctx, t0, t0.Add(time.Minute), time.Time{}); err != nil || n != 2 {
		t.Fatalf("RecordMinutes: %d %v, want both versions' minute", n, err)
	}
	mins, err := ms.ModelMinutes(ctx, "shadowed", t0)
	if err != nil || len(mins) != 2 {
		t.Fatalf("minutes: %+v %v", mins, err)
	}
	for _, m := range mins {
		if m.Requests != 2 || (m.Version == 2 && (m.Failed != 1 || m.P99 != 7*time.Millisecond)) {
			t.Fatalf("minute of version %d: %+v", m.Version, m)
		}
	}
	if n, err := rs.PruneRequests(ctx, t0.Add(time.Second), 100); err != nil || n != 2 {
		t.Fatalf("prune: %d %v, want the 2 rows", n, err)
	}
	if st, _ := rs.RequestStats(ctx, "shadowed", t0); len(st) != 0 {
		t.Fatalf("stats after the prune: %+v", st)
	}
}
