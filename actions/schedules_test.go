package actions_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/actions"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/workflows"
	"github.com/cairnml/cairn/workflows/catalog"
)

// cronHome is a home and a workflows folder; each cronServer on it is a
// server process as far as firing goes: its own store on the file, its
// own catalog and actions, and a clock the test sets. No service runs:
// Fire is what the service's maintenance loop calls.
type cronHome struct {
	t   *testing.T
	db  string
	dir string
	reg *tasks.Registry
}

type cronServer struct {
	st   *sqlite.Store
	acts *actions.Actions
	now  time.Time
	mu   sync.Mutex
}

func newCronHome(t *testing.T, files map[string]string) *cronHome {
	t.Helper()
	home := t.TempDir()
	h := &cronHome{t: t, db: filepath.Join(home, "cairn.db"), dir: filepath.Join(home, "workflows")}
	if err := os.Mkdir(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		h.write(name, src)
	}
	var err error
	if h.reg, err = tasks.NewRegistry(noop.New()); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *cronHome) write(name, src string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, name), []byte(src), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// server starts a server (a store, a catalog, the actions) at now.
func (h *cronHome) server(now time.Time) *cronServer {
	h.t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	cat, err := catalog.New(h.dir, catalog.Options{Types: h.reg})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range cat.Entries() {
		if !e.OK() {
			h.t.Fatalf("%s: %v", e.File, e.Problems)
		}
	}
	cs := &cronServer{st: st, now: now}
	svc := scheduler.NewService(st, scheduler.NewBroker(st, scheduler.BrokerOptions{Name: "t"}), scheduler.ServiceOptions{Owner: "t:1:x"})
	cs.acts, err = actions.New(actions.Options{Store: st, Service: svc, Workflows: cat, Types: h.reg,
		Now: func() time.Time { cs.mu.Lock(); defer cs.mu.Unlock(); return cs.now }})
	if err != nil {
		h.t.Fatal(err)
	}
	return cs
}

// fire fires at now.
func (cs *cronServer) fire(now time.Time) time.Time {
	cs.mu.Lock()
	cs.now = now
	cs.mu.Unlock()
	next, err := cs.acts.Fire(context.Background(), now, nil)
	if err != nil {
		panic(err) // unfenced: Fire has no error to return
	}
	return next
}

// slots lists workflow wf's runs by slot: slot (UTC, RFC 3339) → triggers.
func (h *cronHome) slots(wf string) map[string][]cairn.Trigger {
	h.t.Helper()
	st, err := sqlite.Open(context.Background(), h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.ListRuns(context.Background(), scheduler.RunFilter{Workflow: wf, Limit: 100000})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]cairn.Trigger{}
	for _, r := range runs {
		key := "none"
		if !r.ScheduledFor.IsZero() {
			key = r.ScheduledFor.UTC().Format(time.RFC3339)
		}
		out[key] = append(out[key], r.Trigger)
	}
	return out
}

// keys is m's slots, sorted, as one string.
func keys(m map[string][]cairn.Trigger) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

func hourlyWF(catchup string) string {
	return "name: hourly\nschedule: {cron: \"0 * * * *\", catchup: " + catchup + "}\ntasks:\n  - {id: a, type: noop}\n"
}

func utc(h, m, s int) time.Time { return time.Date(2025, 6, 1, h, m, s, 0, time.UTC) }

func TestFireOnceAndCatchUp(t *testing.T) {
	h := newCronHome(t, map[string]string{"hourly.yaml": hourlyWF("all")})
	a := h.server(utc(10, 0, 30))
	// First sight registers the schedule from now: nothing fires.
	if next := a.fire(utc(10, 0, 30)); !next.Equal(utc(11, 0, 0)) {
		t.Errorf("next after registering = %v, want 11:00", next)
	}
	a.fire(utc(10, 59, 59))
	if got := h.slots("hourly"); len(got) != 0 {
		t.Fatalf("runs before the first slot: %v", got)
	}
	a.fire(utc(11, 0, 0).Add(300 * time.Millisecond))
	a.fire(utc(11, 0, 1)) // again: nothing more
	got := h.slots("hourly")
	if keys(got) != "2025-06-01T11:00:00Z" || got["2025-06-01T11:00:00Z"][0] != cairn.TriggerCron {
		t.Fatalf("after 11:00: %v", got)
	}
	// The server stops; another starts at 14:30 on the home: catch-up
	// all runs 12:00, 13:00 and 14:00, each once.
	b := h.server(utc(14, 30, 0))
	b.fire(utc(14, 30, 0))
	b.fire(utc(14, 30, 1))
	if k := keys(h.slots("hourly")); k != "2025-06-01T11:00:00Z 2025-06-01T12:00:00Z 2025-06-01T13:00:00Z 2025-06-01T14:00:00Z" {
		t.Fatalf("after the restart: %s", k)
	}
	// The clock goes back two hours: nothing fires twice; at 15:00 the
	// next slot fires once.
	b.fire(utc(12, 30, 0))
	b.fire(utc(14, 0, 0))
	b.fire(utc(15, 0, 2))
	got = h.slots("hourly")
	if k := keys(got); k != "2025-06-01T11:00:00Z 2025-06-01T12:00:00Z 2025-06-01T13:00:00Z 2025-06-01T14:00:00Z 2025-06-01T15:00:00Z" {
		t.Fatalf("after the clock went back: %s", k)
	}
	for slot, ts := range got {
		if len(ts) != 1 {
			t.Errorf("slot %s has %d runs", slot, len(ts))
		}
	}
}

func TestFireCatchupModes(t *testing.T) {
	for _, c := range []struct{ mode, want string }{
		{"none", ""},
		{"latest", "2025-06-01T14:00:00Z"},
		{"all", "2025-06-01T11:00:00Z 2025-06-01T12:00:00Z 2025-06-01T13:00:00Z 2025-06-01T14:00:00Z"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			h := newCronHome(t, map[string]string{"hourly.yaml": hourlyWF(c.mode)})
			h.server(utc(10, 30, 0)).fire(utc(10, 30, 0))
			s := h.server(utc(14, 30, 0))
			s.fire(utc(14, 30, 0))
			if k := keys(h.slots("hourly")); k != c.want {
				t.Errorf("after downtime: %q, want %q", k, c.want)
			}
			// Then on time again, whatever the mode.
			s.fire(utc(15, 0, 5))
			if got := h.slots("hourly"); len(got["2025-06-01T15:00:00Z"]) != 1 {
				t.Errorf("15:00: %v", got)
			}
		})
	}
}

// TestFireTwoServers: two servers on one home fire at the same moments,
// concurrently: each slot has one run.
func TestFireTwoServers(t *testing.T) {
	h := newCronHome(t, map[string]string{"often.yaml": "name: often\nschedule: {cron: \"*/10 * * * * *\", catchup: all}\ntasks:\n  - {id: a, type: noop}\n"})
	a, b := h.server(utc(10, 0, 0)), h.server(utc(10, 0, 0))
	a.fire(utc(10, 0, 0))
	var wg sync.WaitGroup
	for i := 1; i <= 30; i++ {
		now := utc(10, 0, 0).Add(time.Duration(i) * 5 * time.Second)
		for _, s := range []*cronServer{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); s.acts.Fire(context.Background(), now, nil) }()
		}
		wg.Wait()
	}
	got := h.slots("often")
	if len(got) != 15 {
		t.Errorf("%d slots fired, want 15: %s", len(got), keys(got))
	}
	for slot, ts := range got {
		if len(ts) != 1 {
			t.Errorf("slot %s has %d runs", slot, len(ts))
		}
	}
}

// TestFireDST: a daily 02:30 in Europe/Berlin fires once on the day the
// clocks skip 02:00-03:00 (at 03:30 CEST) and once on the day they
// repeat it (at 02:30 CEST), with a server whose clock goes to each time
// Fire says a slot is due, and through every hour of the days besides.
func TestFireDST(t *testing.T) {
	h := newCronHome(t, map[string]string{"nightly.yaml": "name: nightly\nschedule: {cron: \"30 2 * * *\", timezone: Europe/Berlin, catchup: none}\ntasks:\n  - {id: a, type: noop}\n"})
	for _, day := range []time.Time{time.Date(2025, 3, 29, 12, 0, 0, 0, time.UTC), time.Date(2025, 10, 25, 12, 0, 0, 0, time.UTC)} {
		s := h.server(day)
		for now := day; now.Before(day.Add(48 * time.Hour)); {
			next := s.fire(now)
			if !next.After(now) {
				t.Fatalf("at %v Fire says the next slot is %v", now, next)
			}
			now = now.Add(time.Hour)
			if next.Before(now) {
				now = next
			}
		}
	}
	if k := keys(h.slots("nightly")); k != "2025-03-30T01:30:00Z 2025-03-31T00:30:00Z 2025-10-26T00:30:00Z 2025-10-27T01:30:00Z" {
		t.Errorf("slots: %s\nwant 03-30 03:30 CEST, 03-31 02:30 CEST, 10-26 02:30 CEST (once), 10-27 02:30 CET", k)
	}
}

func TestFirePauseResumeEnd(t *testing.T) {
	h := newCronHome(t, map[string]string{"hourly.yaml": "name: hourly\nschedule: {cron: \"0 * * * *\", catchup: all, end: \"2025-06-01T16:00:00Z\"}\ntasks:\n  - {id: a, type: noop}\n"})
	s := h.server(utc(10, 30, 0))
	ctx := context.Background()
	s.fire(utc(10, 30, 0))
	if err := s.acts.PauseSchedule(ctx, "hourly", true); err != nil {
		t.Fatal(err)
	}
	s.fire(utc(11, 0, 1))
	s.fire(utc(12, 0, 1))
	if got := h.slots("hourly"); len(got) != 0 {
		t.Fatalf("a paused schedule fired: %v", got)
	}
	list, err := s.acts.Schedules(ctx)
	if err != nil || len(list) != 1 || !list[0].Paused || list[0].NextSlot == nil || !list[0].NextSlot.Equal(utc(13, 0, 0)) {
		t.Fatalf("Schedules = %+v, %v", list, err)
	}
	// Resumed at 13:30: the slots of the pause are not run, the next is.
	s.now = utc(13, 30, 0)
	if err := s.acts.PauseSchedule(ctx, "hourly", false); err != nil {
		t.Fatal(err)
	}
	s.fire(utc(13, 30, 0))
	s.fire(utc(14, 0, 1))
	if k := keys(h.slots("hourly")); k != "2025-06-01T14:00:00Z" {
		t.Fatalf("after resuming: %s", k)
	}
	// The end (16:00, exclusive): 15:00 fires, nothing after.
	for now := utc(14, 0, 1); now.Before(utc(20, 0, 0)); now = now.Add(30 * time.Minute) {
		s.fire(now)
	}
	if k := keys(h.slots("hourly")); k != "2025-06-01T14:00:00Z 2025-06-01T15:00:00Z" {
		t.Fatalf("past the end: %s", k)
	}
	if list, _ := s.acts.Schedules(ctx); list[0].NextSlot != nil {
		t.Errorf("next slot past the end: %v", list[0].NextSlot)
	}
	if err := s.acts.PauseSchedule(ctx, "nosuch", true); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("pause of an unknown schedule: %v", err)
	}
}

// TestFireHostile: a slot every second, catch-up all, a server down for a
// year: one pass makes workflows.MaxCatchup runs, the latest slots.
func TestFireHostile(t *testing.T) {
	h := newCronHome(t, map[string]string{"storm.yaml": "name: storm\nschedule: {cron: \"* * * * * *\", catchup: all}\ntasks:\n  - {id: a, type: noop}\n"})
	h.server(utc(10, 0, 0)).fire(utc(10, 0, 0))
	later := utc(10, 0, 0).AddDate(1, 0, 0)
	h.server(later).fire(later)
	got := h.slots("storm")
	if len(got) != workflows.MaxCatchup {
		t.Fatalf("%d runs, want %d", len(got), workflows.MaxCatchup)
	}
	if _, ok := got[later.Format(time.RFC3339)]; !ok {
		t.Errorf("the latest slot did not run: %s", keys(got))
	}
}

func TestBackfill(t *testing.T) {
	h := newCronHome(t, map[string]string{
		"hourly.yaml":  hourlyWF("none"),
		"plain.yaml":   "name: plain\ntasks:\n  - {id: a, type: noop}\n",
		"started.yaml": "name: started\nschedule: {cron: \"0 * * * *\", start: \"2025-06-01T10:00:00Z\"}\ntasks:\n  - {id: a, type: noop}\n",
	})
	s := h.server(utc(12, 30, 0))
	ctx := context.Background()
	s.fire(utc(12, 30, 0))
	res, err := s.acts.Backfill(ctx, "hourly", "2025-06-01T08:00:00Z", "2025-06-01T11:00")
	if err != nil || res.Slots != 4 || len(res.Created) != 4 || res.Existing != 0 {
		t.Fatalf("backfill = %+v, %v", res, err)
	}
	// Again, and over a wider range: only the missing slots.
	res, err = s.acts.Backfill(ctx, "hourly", "2025-06-01T07:00:00Z", "2025-06-01T11:59:00Z")
	if err != nil || res.Slots != 5 || len(res.Created) != 1 || res.Existing != 4 {
		t.Fatalf("second backfill = %+v, %v", res, err)
	}
	got := h.slots("hourly")
	if k := keys(got); k != "2025-06-01T07:00:00Z 2025-06-01T08:00:00Z 2025-06-01T09:00:00Z 2025-06-01T10:00:00Z 2025-06-01T11:00:00Z" || got["2025-06-01T08:00:00Z"][0] != cairn.TriggerBackfill {
		t.Fatalf("slots: %v", got)
	}
	// A slot backfilled ahead of the schedule is not fired again.
	if _, err := s.acts.Backfill(ctx, "hourly", "2025-06-01T12:30:00Z", "2025-06-01T12:30:00Z"); err == nil {
		t.Error("a range without a slot was accepted")
	}
	for _, c := range []struct {
		name     string
		from, to time.Time
		want     string
	}{
		{"hourly", utc(11, 0, 0), utc(8, 0, 0), "the range is reversed"},
		{"hourly", utc(11, 10, 0), utc(11, 50, 0), "has no slot from"},
		{"hourly", utc(11, 0, 0), utc(13, 0, 0), "is in the future"},
		{"hourly", utc(11, 0, 0).AddDate(-5, 0, 0), utc(11, 0, 0), "more than 10000 slots"},
		{"plain", utc(8, 0, 0), utc(11, 0, 0), "has no schedule"},
		// A range before the schedule's start says so (found by the trial).
		{"started", utc(7, 0, 0), utc(9, 0, 0), "has no slot from 2025-06-01T07:00:00Z to 2025-06-01T09:00:00Z (its start: is 2025-06-01T10:00:00Z)"},
	} {
		_, err := s.acts.Backfill(ctx, c.name, c.from.Format(time.RFC3339), c.to.Format(time.RFC3339))
		if !errors.Is(err, core.ErrBadInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("backfill %s %v..%v: %v, want a bad input saying %q", c.name, c.from, c.to, err, c.want)
		}
	}
	for _, bad := range [][2]string{{"yesterday", "2025-06-01"}, {"", "2025-06-01"}} {
		if _, err := s.acts.Backfill(ctx, "hourly", bad[0], bad[1]); !errors.Is(err, core.ErrBadInput) {
			t.Errorf("backfill from %q: %v", bad[0], err)
		}
	}
	if _, err := s.acts.Backfill(ctx, "nosuch", "2025-06-01", "2025-06-01"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("backfill of an unknown workflow: %v", err)
	}
	s.fire(utc(13, 0, 1))
	if got := h.slots("hourly"); len(got) != 6 || len(got["2025-06-01T13:00:00Z"]) != 1 {
		t.Errorf("after 13:00: %v", got)
	}
}

// TestFireRequiredParam: a schedule whose workflow has a required param
// without a default fires nothing and says why.
func TestFireRequiredParam(t *testing.T) {
	h := newCronHome(t, map[string]string{"p.yaml": "name: p\nparams: {data: {type: string}}\nschedule: \"@hourly\"\ntasks:\n  - {id: a, type: noop}\n"})
	s := h.server(utc(10, 30, 0))
	s.fire(utc(10, 30, 0))
	s.fire(utc(11, 0, 1))
	s.fire(utc(12, 0, 1))
	if got := h.slots("p"); len(got) != 0 {
		t.Errorf("runs: %v", got)
	}
	list, err := s.acts.Schedules(context.Background())
	if err != nil || len(list) != 1 || !strings.Contains(list[0].Error, `"data"`) {
		t.Errorf("Schedules = %+v, %v", list, err)
	}
}

// TestSchedulesAPI: the schedules routes through the real handler: list,
// pause, resume, backfill (201, and 400 for a reversed range).
func TestSchedulesAPI(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("hourly.yaml", hourlyWF("none"))
	var list struct {
		Schedules []struct {
			Workflow string  `json:"workflow"`
			Paused   bool    `json:"paused"`
			NextSlot *string `json:"next_slot"`
			File     *string `json:"file"`
		} `json:"schedules"`
	}
	s.want(200, "GET", "/api/v1/schedules", "", &list)
	if len(list.Schedules) != 1 || list.Schedules[0].Workflow != "hourly" || list.Schedules[0].NextSlot == nil || *list.Schedules[0].File != "hourly.yaml" {
		t.Fatalf("schedules: %+v", list)
	}
	var one struct{ Paused bool }
	s.want(200, "POST", "/api/v1/schedules/hourly/pause", "", &one)
	if !one.Paused {
		t.Error("pause answered an active schedule")
	}
	s.want(200, "POST", "/api/v1/schedules/hourly/resume", "", &one)
	if one.Paused {
		t.Error("resume answered a paused schedule")
	}
	s.want(404, "POST", "/api/v1/schedules/nosuch/pause", "", nil)
	from := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Hour)
	var res struct {
		Slots   int      `json:"slots"`
		Created []string `json:"created"`
	}
	s.want(201, "POST", "/api/v1/workflows/hourly/backfill", `{"from": "`+from.Format(time.RFC3339)+`", "to": "`+from.Add(time.Hour).Format(time.RFC3339)+`"}`, &res)
	if res.Slots != 2 || len(res.Created) != 2 {
		t.Errorf("backfill: %+v", res)
	}
	if text := s.want(400, "POST", "/api/v1/workflows/hourly/backfill", `{"from": "2025-06-02", "to": "2025-06-01"}`, nil); !strings.Contains(text, "reversed") {
		t.Errorf("a reversed range: %s", text)
	}
	for _, id := range res.Created {
		var r runJSON
		s.want(200, "GET", "/api/v1/runs/"+id, "", &r)
	}
}

// LAST SLOT is a slot of the schedule or nothing: before a slot was
// handled, the stored position is where the schedule started from (the
// server's start, a resume), which is not listed as a slot (found by a
// trial: a fresh server listed its start time as the last slot of
// "30 2 * * *").
func TestDescribeScheduleLastSlotIsASlot(t *testing.T) {
	s, err := workflows.ScheduleFromSpec(`{"cron":"30 2 * * *","timezone":"UTC","catchup":"none"}`)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 11, 33, 27, 123, time.UTC)
	started := actions.DescribeSchedule("w", s, &scheduler.ScheduleState{Workflow: "w", Position: now}, now)
	if started.LastSlot != nil {
		t.Errorf("a schedule started at %s lists LAST SLOT %v, want none", now, started.LastSlot)
	}
	slot := time.Date(2026, 12, 4, 2, 30, 0, 0, time.UTC)
	fired := actions.DescribeSchedule("w", s, &scheduler.ScheduleState{Workflow: "w", Position: slot}, now)
	if fired.LastSlot == nil || !time.Time(*fired.LastSlot).Equal(slot) {
		t.Errorf("a schedule whose slot %s was handled lists LAST SLOT %v", slot, fired.LastSlot)
	}
	if fired.NextSlot == nil || !time.Time(*fired.NextSlot).Equal(slot.Add(24*time.Hour)) {
		t.Errorf("next slot %v, want %s", fired.NextSlot, slot.Add(24*time.Hour))
	}
}
