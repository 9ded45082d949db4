package main

// Schedules through the real binary: a server killed with -9 inside the
// transaction that creates a slot's runs, and between slots, and two
// servers on one home — each slot has exactly one run. The schedules'
// clock is the test-only CAIRN_TEST_CLOCK, so the test fires the slots of
// a day at once instead of waiting for them; the kill inside the
// transaction is the test-only CAIRN_TEST_KILL_IN_SLOT_TX.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

const cronCrashWF = `name: hourly
max_active_runs: 2
schedule: {cron: "0 * * * *", timezone: UTC, catchup: all}
tasks:
  - id: slot
    type: shell
    with: {argv: [echo, "slot=${{ run.scheduled_for }}"]}
`

// slotRuns lists the home's runs of workflow hourly by slot.
func slotRuns(t *testing.T, e *env) map[string][]runJSON {
	t.Helper()
	out := map[string][]runJSON{}
	for _, r := range e.runs("--workflow", "hourly", "--json", "--limit", "500") {
		if r.ScheduledFor == nil {
			t.Fatalf("run %s has no slot", r.ID)
		}
		k := r.ScheduledFor.UTC().Format(time.RFC3339)
		out[k] = append(out[k], r)
	}
	return out
}

// wantSlots fails unless the slots are exactly want, each with one cron
// run.
func wantSlots(t *testing.T, e *env, want ...string) map[string][]runJSON {
	t.Helper()
	got := slotRuns(t, e)
	if len(got) != len(want) {
		t.Fatalf("%d slots have runs, want %d (%v): %v", len(got), len(want), want, got)
	}
	for _, slot := range want {
		rs := got[slot]
		if len(rs) != 1 || rs[0].Trigger != cairn.TriggerCron {
			t.Fatalf("slot %s: %d runs (%+v), want one cron run", slot, len(rs), rs)
		}
	}
	return got
}

func TestCronCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hourly.yaml"), []byte(cronCrashWF), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--workflows", dir, "--insecure-no-auth"}
	clock := func(s string) string { return "CAIRN_TEST_CLOCK=" + s }

	// A first server registers the schedule at 10:00:30, then dies.
	s := e.startServer([]string{clock("2025-06-01T10:00:30Z")}, args...)
	s.waitLog(30*time.Second, "schedule registered", map[string]string{"workflow": "hourly"})
	s.kill9()

	// Back at 15:00:30: catch-up all makes the runs of 11:00 to 15:00 in
	// one transaction, and the server dies inside it, before the commit.
	p := e.startWith([]string{clock("2025-06-01T15:00:30Z"), envTestKillInSlotTx + "=1"},
		append([]string{"server", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	if code := p.wait(30 * time.Second); code != -1 {
		t.Fatalf("the server killed inside the slot's transaction exited %d, want the kill:\n%s", code, p.stderr.String())
	}
	wantSlots(t, e) // nothing committed

	// Restarted: the five slots, each once.
	s = e.startServer([]string{clock("2025-06-01T15:00:30Z")}, args...)
	s.waitLog(30*time.Second, "schedule fired", map[string]string{"workflow": "hourly", "runs": "5"})
	got := wantSlots(t, e, "2025-06-01T11:00:00Z", "2025-06-01T12:00:00Z", "2025-06-01T13:00:00Z", "2025-06-01T14:00:00Z", "2025-06-01T15:00:00Z")
	// Each knows its slot: ${{ run.scheduled_for }}.
	id := got["2025-06-01T13:00:00Z"][0].ID
	e.waitRunState(60*time.Second, id, "succeeded")
	if r := e.must(0, "logs", id, "slot"); !strings.Contains(r.stdout, "slot=2025-06-01T13:00:00Z") {
		t.Errorf("the 13:00 run's log: %q", r.stdout)
	}
	// kill -9 between slots; back at 16:00:30: 16:00 fires, nothing twice.
	s.kill9()
	s = e.startServer([]string{clock("2025-06-01T16:00:30Z")}, args...)
	s.waitLog(30*time.Second, "schedule fired", map[string]string{"workflow": "hourly", "runs": "1"})
	wantSlots(t, e, "2025-06-01T11:00:00Z", "2025-06-01T12:00:00Z", "2025-06-01T13:00:00Z", "2025-06-01T14:00:00Z", "2025-06-01T15:00:00Z",
		"2025-06-01T16:00:00Z")
	s.kill9()

	// Two servers on the home at 17:00:30, started together: 17:00 has
	// one run. The one that did not fire it finds it fired: each logs
	// whether it fired, and one of them did.
	a := e.startServer([]string{clock("2025-06-01T17:00:30Z")}, args...)
	b := e.startServer([]string{clock("2025-06-01T17:00:30Z")}, args...)
	waitFor(t, 30*time.Second, "a server to fire 17:00", func() bool {
		_, fa := a.find("schedule fired", map[string]string{"workflow": "hourly"})
		_, fb := b.find("schedule fired", map[string]string{"workflow": "hourly"})
		return fa || fb
	})
	all := []string{"2025-06-01T11:00:00Z", "2025-06-01T12:00:00Z", "2025-06-01T13:00:00Z", "2025-06-01T14:00:00Z", "2025-06-01T15:00:00Z",
		"2025-06-01T16:00:00Z", "2025-06-01T17:00:00Z"}
	got = wantSlots(t, e, all...)
	// Every run finishes (the servers share them), and still once each.
	for _, rs := range got {
		e.waitRunState(60*time.Second, rs[0].ID, "succeeded")
	}
	wantSlots(t, e, all...)
	a.kill9()
	b.kill9()
}
