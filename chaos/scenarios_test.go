package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/chaos"
	"github.com/cairnml/cairn/scheduler"
)

// writeWorkflow writes src into a file of the test's own.
func writeWorkflow(t *testing.T, name string, src []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKillServersAndWorkers is the first figure: SIGKILLs of
// servers and workers at random moments (CAIRN_CHAOS_KILLS, 50 under
// make chaos) during a run of 1,000 probe tasks, with SIGSTOPs and, on
// PostgreSQL, dropped connections between them: 0 lost, 0 doubled, 0
// stale completions accepted, every run terminal (and succeeded). Two
// servers on one database; three remote workers besides when cairn
// worker exists. Short: 48 tasks, up to 3 kills.
//
// make test runs one short variant (PostgreSQL when the binary and the
// test server have it, else SQLite) to keep within its minute; make chaos
// runs both long.
func TestKillServersAndWorkers(t *testing.T) {
	t.Parallel()
	short := "sqlite"
	if os.Getenv("CAIRN_TEST_POSTGRES") != "" && hasPostgresDB(t) {
		short = "postgres"
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			if !long() && db != short {
				t.Skipf("make test runs the %s variant only; make chaos runs both", short)
			}
			t.Parallel()
			killServersAndWorkers(t, db == "postgres")
		})
	}
}

func killServersAndWorkers(t *testing.T, pg bool) {
	if pg {
		pgtestServer(t)
	}
	binaries(t)
	_, rng := seed(t)
	spec := clusterSpec{servers: 2, serverSlots: 4, postgres: pg, leaseTTL: 3 * time.Second}
	if hasWorkers(t) {
		spec.serverSlots, spec.workers, spec.workerSlots = 2, 3, 2
	} else {
		t.Log("no cairn worker yet (the remote workers of issue #21): servers only")
	}
	c := newCluster(t, spec)
	n, width, nap := pick(48, 1000), pick(8, 50), pick(400, 2500)
	kills := envInt(t, "CAIRN_CHAOS_KILLS", pick(3, 50))
	src := probeWorkflow("kill-probe", n, width, nap, 0)
	// A cap on the attempts at once, so that the run's work outlasts the
	// kills: under make chaos 1,000 × 2.5 s / 8, over five minutes,
	// against 50 kills 1-3 s apart with the stops and drops between them
	// (4.5 minutes on 2026-12-05: 1.5 s a task ended the run after 49
	// kills); short, 48 × 0.4 s / 4.
	src = append(src, fmt.Sprintf("concurrency: %d\n", pick(4, 8))...)
	wf := writeWorkflow(t, "kill-probe.yaml", src)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	ids := c.queue(wf, 1, "ledger="+ledger)
	st := c.store()
	start := time.Now()
	made, stops, drops := c.chaosLoop(rng, kills, func() time.Duration {
		return pick(500*time.Millisecond, time.Second) + time.Duration(rng.Int64N(int64(pick(time.Second, 2*time.Second))))
	}, pick(2*time.Second, 12*time.Second), func() bool { return allTerminal(t, st, ids) })
	// Timing decides how many kills a run lasts: short, one is enough to
	// have tested something; under make chaos, all of them.
	if len(made) == 0 || (long() && len(made) < kills) {
		t.Errorf("the run ended after %d kills, want %d: give it more work", len(made), kills)
	}
	if !waitTerminal(t, st, ids, pick(2*time.Minute, 15*time.Minute)) {
		t.Errorf("runs not terminal %s after the last kill", pick(2*time.Minute, 15*time.Minute))
	}
	took := time.Since(start)
	c.stopAll()
	db := "SQLite"
	if pg {
		db = "PostgreSQL"
	}
	rep := report(t, st, fmt.Sprintf("kill -9 of servers and workers on %s (%d servers, %d workers)", db, spec.servers, spec.workers),
		ids, ledger, true)
	recs, _ := chaos.ReadLedger(ledger)
	rq, _ := requeues(made, recs, nil)
	t.Logf("%d kills, %d stops, %d connection drops in %s; %d interrupted attempts; from a kill to the next attempt of a task it interrupted (%d): p50 %s, p99 %s, max %s (lease TTL %s)",
		len(made), stops, drops, took.Round(time.Second), rep.Interrupted, len(rq), quantile(rq, 0.5).Round(time.Millisecond),
		quantile(rq, 0.99).Round(time.Millisecond), quantile(rq, 1).Round(time.Millisecond), c.ttl)
}

// TestWorkerLoss is the second figure: a worker SIGKILLed while
// it runs tasks; each of them runs again elsewhere, p99 of the time from
// the kill to the next attempt's start at most the lease TTL + 1 s.
// One server that runs nothing itself, three workers; each kill lands
// while the tasks nap 3 s: 30 kills, lease TTL 5 s. Under make chaos
// only (CAIRN_CHAOS_LONG=1).
func TestWorkerLoss(t *testing.T) {
	if !long() {
		t.Skip("a figure of make chaos (CAIRN_CHAOS_LONG=1); make test's kill scenario kills workers too")
	}
	t.Parallel()
	binaries(t)
	if !hasWorkers(t) {
		t.Skip("waits for cairn worker (the remote workers of issue #21)")
	}
	if !hasLeaseTTL(t) {
		t.Skip("waits for cairn server --lease-ttl (the remote workers of issue #21)")
	}
	_, rng := seed(t)
	ttl := pick(2*time.Second, 5*time.Second)
	c := newCluster(t, clusterSpec{servers: 1, serverSlots: 0, workers: 3, workerSlots: 2, leaseTTL: ttl})
	kills := pick(3, 30)
	// Layers of 3 tasks on 6 slots: with one worker dead, the others have
	// room for its tasks at once, so that the figure is the time to notice
	// the loss, not a wait for a free slot.
	wf := writeWorkflow(t, "loss.yaml", probeWorkflow("loss", kills*3+3, 3, 3000, 0))
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	ids := c.queue(wf, 1, "ledger="+ledger)
	st := c.store()
	var made []kill
	for len(made) < kills && !allTerminal(t, st, ids) {
		time.Sleep(time.Duration(1000+rng.IntN(1500)) * time.Millisecond)
		p := c.workers[rng.IntN(len(c.workers))]
		pid := p.pid()
		made = append(made, kill{proc: p, pid: pid, at: p.kill9()})
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		c.restart(p)
	}
	if !waitTerminal(t, st, ids, pick(2*time.Minute, 10*time.Minute)) {
		t.Error("runs not terminal after the kills")
	}
	c.stopAll()
	report(t, st, "worker SIGKILL", ids, ledger, true)
	recs, err := chaos.ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	rq, leased := requeues(made, recs, func(run, task string, attempt int) time.Time {
		atts, err := st.ListAttempts(context.Background(), run, task)
		if err != nil {
			return time.Time{}
		}
		for _, a := range atts {
			if a.Number == attempt {
				return a.StartedAt
			}
		}
		return time.Time{}
	})
	timeline(t, st, ids, made, recs)
	p99 := quantile(rq, 0.99)
	t.Logf("of which the server's part, from the kill to the next attempt's lease: p50 %s, p99 %s (the rest: a worker leasing it, starting its plugin and the probe)",
		quantile(leased, 0.5).Round(time.Millisecond), quantile(leased, 0.99).Round(time.Millisecond))
	t.Logf("worker SIGKILL → the task running again elsewhere: %d attempts over %d kills: p50 %s, p99 %s, max %s (lease TTL %s: want p99 ≤ %s)",
		len(rq), len(made), quantile(rq, 0.5).Round(time.Millisecond), p99.Round(time.Millisecond), quantile(rq, 1).Round(time.Millisecond),
		ttl, ttl+time.Second)
	if len(rq) == 0 {
		t.Error("no kill interrupted an attempt: the scenario measured nothing")
	}
	if long() && p99 > ttl+time.Second {
		t.Errorf("p99 %s > lease TTL + 1 s (%s)", p99, ttl+time.Second)
	}
}

// leaderName is the leader lease's name.
const leaderName = scheduler.LeaderScheduler

// leaderTerm is the servers' leader term: ServiceOptions.LeaderTTL's
// default, 10 s or the lease TTL when that is shorter. The issue asks for
// cron to fire again within the lease TTL + 1 s; the term is the same or
// a stricter bound.
func leaderTerm(leaseTTL time.Duration) time.Duration { return min(10*time.Second, leaseTTL) }

// TestCronReplicas is the third figure: three servers on one
// database fire an every-second schedule with catch-up on (catchup: all)
// while the leader — the holder of the leader lease, or any server where
// there is none — is SIGKILLed and restarted at random moments: no slot
// fired twice, none missed, and after each kill the schedule fires again
// within the leader term + 1 s (within the lease TTL + 1 s, as the issue
// asks: the term is no longer). Short: 10 slots, 2 kills; long: 1,000
// slots.
func TestCronReplicas(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			if !long() && db == "postgres" {
				t.Skip("make test runs the SQLite variant only; make chaos runs both")
			}
			t.Parallel()
			cronReplicas(t, db == "postgres")
		})
	}
}

func cronReplicas(t *testing.T, pg bool) {
	if pg {
		pgtestServer(t)
	}
	binaries(t)
	_, rng := seed(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tick.yaml"), []byte(`name: tick
schedule: {cron: "@every 1s", catchup: all}
tasks:
  - {id: t, type: noop}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, clusterSpec{servers: 3, serverSlots: 2, postgres: pg, leaseTTL: pick(2*time.Second, 5*time.Second),
		serverArgs: []string{"--workflows", dir}})
	st := c.store()
	ctx := context.Background()
	term := leaderTerm(c.ttl)
	slots := pick(10, 1000)
	kills := pick(2, 40)
	start := time.Now()
	var gaps []time.Duration
	leaderless := false
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(slots) * time.Second / time.Duration(kills+1) * time.Duration(1+rng.IntN(2)) / 2)
		victim := c.servers[rng.IntN(len(c.servers))]
		if l, err := st.Leader(ctx, leaderName, time.Now()); err == nil && l.Live {
			for _, s := range c.servers {
				if s.pid() == ownerPid(l.Holder) {
					victim = s
				}
			}
		} else if errors.Is(err, cairn.ErrNotFound) {
			leaderless = true
		}
		at := victim.kill9()
		// The next run created after the kill, by the other servers.
		var next time.Time
		deadline := at.Add(term + 10*time.Second)
		for next.IsZero() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			runs, err := st.ListRuns(ctx, scheduler.RunFilter{Workflow: "tick", Limit: 5})
			if err != nil {
				continue
			}
			for _, r := range runs {
				if r.CreatedAt.After(at) && (next.IsZero() || r.CreatedAt.Before(next)) {
					next = r.CreatedAt
				}
			}
		}
		if next.IsZero() {
			t.Errorf("kill %d: no run created within %s of the kill", i+1, term+10*time.Second)
		} else {
			gaps = append(gaps, next.Sub(at))
		}
		c.restart(victim)
	}
	if rest := time.Until(start.Add(time.Duration(slots) * time.Second)); rest > 0 {
		time.Sleep(rest)
	}
	c.stopAll()
	// Every slot from the first run's to the last's: one run each.
	var all []*cairn.Run
	for before := ""; ; {
		page, err := st.ListRuns(ctx, scheduler.RunFilter{Workflow: "tick", Before: before, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].ID
	}
	bySlot := map[int64]int{}
	var first, last int64
	notTerminal := 0
	for _, r := range all {
		if r.ScheduledFor.IsZero() {
			continue
		}
		s := r.ScheduledFor.Unix()
		bySlot[s]++
		if first == 0 || s < first {
			first = s
		}
		last = max(last, s)
		if !r.State.Terminal() {
			notTerminal++
		}
	}
	twice, missed := 0, 0
	for s := first; s <= last && first != 0; s++ {
		switch n := bySlot[s]; {
		case n == 0:
			missed++
		case n > 1:
			twice++
		}
	}
	slices.Sort(gaps)
	how := "the leader lease's holder"
	if leaderless {
		how = "a server (no leader lease held: every server fires)"
	}
	t.Logf("cron on %d replicas (%s): %d slots (%s to %s), fired twice %d, missed %d, runs not terminal %d; %d kills of %s: fired again after p50 %s, max %s (leader term %s, lease TTL %s)",
		len(c.servers), map[bool]string{false: "SQLite", true: "PostgreSQL"}[pg], last-first+1, time.Unix(first, 0).UTC().Format("15:04:05"),
		time.Unix(last, 0).UTC().Format("15:04:05"), twice, missed, notTerminal, len(gaps), how,
		quantile(gaps, 0.5).Round(time.Millisecond), quantile(gaps, 1).Round(time.Millisecond), term, c.ttl)
	if twice > 0 || missed > 0 {
		t.Errorf("%d slots fired twice, %d missed", twice, missed)
	}
	if last-first+1 < int64(slots)/2 {
		t.Errorf("only %d slots fired in %d s", last-first+1, slots)
	}
	if long() && quantile(gaps, 1) > term+time.Second {
		t.Errorf("cron fired again %s after a kill, more than the leader term + 1 s (%s)", quantile(gaps, 1), term+time.Second)
	}
}
