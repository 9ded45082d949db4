package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
)

// A pool of 1 declared by a workflow and shared by three 'cairn run'
// processes on one home: every run succeeds, and the attempts' recorded
// times show no two holders at once; cairn pools lists the pool.
func TestPoolSharedByConcurrentRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "gpu.yaml", `name: gpu-job
pools: {gpu: 1}
tasks:
  - {id: prep, type: noop}
  - id: train
    type: shell
    needs: [prep]
    pool: gpu
    with: {argv: ["sleep", "0.5"]}
`)
	var procs []*proc
	for range 3 {
		procs = append(procs, e.start("run", wf, "--progress", "lines"))
	}
	// While one holds gpu, cairn show of another says who.
	sawWhy := false
	waitFor(t, time.Minute, "a run waiting for gpu", func() bool {
		for _, r := range e.runs() {
			out := e.must(0, "show", r.ID).stdout
			if strings.Contains(out, "waiting for pool gpu: 1 of 1 in use by ") {
				sawWhy = true
			}
		}
		return sawWhy || len(e.runs("--state", "succeeded")) == 3
	})
	if !sawWhy {
		t.Log("every run ended before one was seen waiting (too fast to catch)")
	}
	for _, p := range procs {
		if code := p.wait(2 * time.Minute); code != 0 {
			t.Fatalf("cairn run: exit %d\n%s\n%s", code, p.stdout.String(), p.stderr.String())
		}
	}
	runs := e.runs()
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3", len(runs))
	}
	var spans []holdSpan
	for _, r := range runs {
		if r.State != "succeeded" {
			t.Errorf("run %s %s", r.ID, r.State)
		}
		as := e.attemptsOf(r.ID, "train")
		if len(as) != 1 || as[0].State != cairn.TaskSucceeded {
			t.Fatalf("run %s: train attempts %+v", r.ID, as)
		}
		spans = append(spans, holdSpan{r.ID + "/train", as[0].StartedAt, as[0].FinishedAt})
	}
	checkOneHolder(t, spans)
	out := e.must(0, "pools").stdout
	if !strings.Contains(out, "gpu   1     0       0        workflow") {
		t.Errorf("cairn pools:\n%s", out)
	}
}

// A task naming a pool nobody declared is refused before anything runs,
// at the line and column of its pool:; a server's --pool declares it.
func TestPoolUndeclared(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "lic.yaml", `name: lic
tasks:
  - id: solve
    type: noop
    pool: licence
`)
	r := e.must(2, "run", wf)
	if !strings.Contains(r.stderr, "lic.yaml:5:11: task \"solve\": pool licence is not declared") ||
		!strings.Contains(r.stderr, "--pool licence=SIZE") || !strings.Contains(r.stderr, "nothing was run") {
		t.Errorf("run with an undeclared pool:\n%s", r)
	}
	if runs := e.runs(); len(runs) != 0 {
		t.Errorf("a run was made: %+v", runs)
	}
	if r := e.cairn("server", "--pool", "licence=0"); r.code != 2 || !strings.Contains(r.stderr, "size 0 is not between 1 and") {
		t.Errorf("server --pool licence=0:\n%s", r)
	}
	if r := e.cairn("server", "--pool", "licence"); r.code != 2 || !strings.Contains(r.stderr, "NAME=SIZE") {
		t.Errorf("server --pool licence:\n%s", r)
	}
}

// A pool of 1 declared by a server (--pool gpu=1) that runs no task itself
// and shared by 3 runs queued at once, whose tasks three `cairn worker`
// processes run (each could take two at a time): every run succeeds, and
// the attempts' recorded times (leased to finished) show no two holders of
// the pool at once. On SQLite here, on PostgreSQL in
// TestPostgresPoolRemoteWorkers.
func TestPoolRemoteWorkers(t *testing.T) {
	t.Parallel()
	testPoolRemoteWorkers(t, newEnv(t))
}

// TestPostgresPoolRemoteWorkers is TestPoolRemoteWorkers on PostgreSQL,
// where the lease locks the pool's row FOR UPDATE.
func TestPostgresPoolRemoteWorkers(t *testing.T) {
	t.Parallel()
	testPoolRemoteWorkers(t, pgEnv(t))
}

func testPoolRemoteWorkers(t *testing.T, e *env) {
	_, tok := e.token("worker")
	srv := e.startServer(nil, "--workers", "0", "--pool", "gpu=1")
	for _, name := range []string{"one", "two", "three"} {
		e.startWorker(srv, tok, nil, "--concurrency", "2", "--name", name)
	}
	wf := writeWorkflow(t, "gpu.yaml", `name: gpu-remote
tasks:
  - {id: prep, type: noop}
  - id: train
    type: shell
    needs: [prep]
    pool: gpu
    with: {argv: ["sleep", "0.4"]}
  - id: score
    type: shell
    needs: [prep]
    pool: gpu
    with: {argv: ["sleep", "0.2"]}
`)
	var ids []string
	for range 3 {
		id, _ := e.detach(wf)
		ids = append(ids, id)
	}
	var spans []holdSpan
	for _, id := range ids {
		run := e.waitRunState(2*time.Minute, id, "succeeded")
		for _, tj := range run.Tasks {
			if tj.ID == "prep" {
				continue
			}
			if len(tj.Attempt) != 1 || tj.Attempt[0].State != cairn.TaskSucceeded || tj.Attempt[0].FinishedAt == nil {
				t.Fatalf("run %s: %s attempts %+v", id, tj.ID, tj.Attempt)
			}
			a := tj.Attempt[0]
			if a.Worker == "" || strings.HasPrefix(a.Worker, srv.owner) {
				t.Errorf("run %s: %s ran on %q, not on a remote worker", id, tj.ID, a.Worker)
			}
			spans = append(spans, holdSpan{id + "/" + tj.ID + " on " + a.Worker, a.StartedAt, *a.FinishedAt})
		}
	}
	if len(spans) != 6 {
		t.Fatalf("%d pooled attempts, want 6", len(spans))
	}
	checkOneHolder(t, spans)
	if out := e.must(0, "pools").stdout; !strings.Contains(out, "gpu   1     0       0        server") {
		t.Errorf("cairn pools:\n%s", out)
	}
}

// holdSpan is an attempt of a pooled task, from its lease to its end.
type holdSpan struct {
	what       string
	start, end time.Time
}

// checkOneHolder fails the test if two of spans overlap: two holders of a
// pool of 1.
func checkOneHolder(t *testing.T, spans []holdSpan) {
	t.Helper()
	slices.SortFunc(spans, func(a, b holdSpan) int { return a.start.Compare(b.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start.Before(spans[i-1].end) {
			t.Errorf("%s was leased at %s, before %s ended at %s: two holders of a pool of 1",
				spans[i].what, spans[i].start.Format(time.RFC3339Nano), spans[i-1].what, spans[i-1].end.Format(time.RFC3339Nano))
		}
	}
}

// The items of a for_each task take its pool as it would: a pool of 1 and
// four items on four workers run one at a time (the attempts' recorded
// times never overlap), and their priority is the task's.
func TestPoolForEachItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "items.yaml", `name: items
pools: {gpu: 1}
tasks:
  - id: train
    type: shell
    pool: gpu
    priority: 3
    for_each: [a, b, c, d]
    with: {argv: ["sleep", "0.2"]}
`)
	e.must(0, "run", wf, "--workers", "4")
	runs := e.runs()
	if len(runs) != 1 || runs[0].State != "succeeded" {
		t.Fatalf("runs: %+v", runs)
	}
	type span struct {
		task       string
		start, end time.Time
	}
	var spans []span
	for k := range 4 {
		id := cairn.ItemID("train", k)
		as := e.attemptsOf(runs[0].ID, id)
		if len(as) != 1 || as[0].State != cairn.TaskSucceeded {
			t.Fatalf("%s: attempts %+v", id, as)
		}
		spans = append(spans, span{id, as[0].StartedAt, as[0].FinishedAt})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start.Before(spans[i-1].end) {
			t.Errorf("%s started at %s, before %s ended at %s: two holders of a pool of 1", spans[i].task,
				spans[i].start.Format(time.RFC3339Nano), spans[i-1].task, spans[i-1].end.Format(time.RFC3339Nano))
		}
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(e.home, "cairn.db"), sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	trs, err := st.ListTaskRuns(t.Context(), runs[0].ID)
	if err != nil || len(trs) != 5 {
		t.Fatalf("%d task runs, %v", len(trs), err)
	}
	for _, tr := range trs {
		if tr.Pool != "gpu" || tr.Priority != 3 {
			t.Errorf("%s: pool %q priority %d, want gpu and 3", tr.TaskID, tr.Pool, tr.Priority)
		}
	}
}

// Without a server, the pool slot of a run killed (kill -9) while its
// task held it is given back once the lease expires: a later cairn run
// of the pool reaps that expired lease (as a server's reaper would) and
// finishes, where it used to wait for ever (found by the trial). The
// killed run keeps its task, interrupted and ready again, for resume.
func TestPoolSlotOfKilledRunGivenBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := writeWorkflow(t, "gpu.yaml", `name: gpu
params:
  pidfile: {type: string, default: ""}
pools: {gpu: 1}
tasks:
  - id: t
    type: shell
    pool: gpu
    with:
      env: {PIDFILE: "${{ params.pidfile }}"}
      script: |
        if [ -n "$PIDFILE" ]; then sleep 300 & echo $! > "$PIDFILE"; wait; fi
        echo done
`)
	pidfile := filepath.Join(t.TempDir(), "sleep.pid")
	first := e.start("run", wf, "-p", "pidfile="+pidfile, "--progress", "lines")
	held := first.runID()
	var pid int
	waitFor(t, 30*time.Second, "the first run's task to hold gpu", func() bool {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	t.Cleanup(func() { killPid(pid) })
	first.kill9()
	if out := e.must(0, "pools").stdout; !strings.Contains(out, held+"/t (orphaned: cairn resume "+held+")") {
		t.Errorf("cairn pools does not say the holder is orphaned:\n%s", out)
	}
	start := time.Now()
	second := e.start("run", wf, "--progress", "lines")
	// While it waits, cairn show of the waiting run says the holder is
	// orphaned, as cairn pools does (it said only "in use by").
	waiter := second.runID()
	orphanedWhy := "waiting for pool gpu: 1 of 1 in use by " + held + "/t (orphaned: cairn resume " + held + ")"
	var shown string
	waitFor(t, 25*time.Second, "cairn show of the waiting run to say why it waits", func() bool {
		shown = e.must(0, "show", waiter).stdout
		return strings.Contains(shown, "waiting for pool gpu") || second.exited()
	})
	if !strings.Contains(shown, orphanedWhy) {
		t.Errorf("cairn show of the waiting run does not say the holder is orphaned (%q):\n%s", orphanedWhy, shown)
	}
	// The lease lives 30 s without a heartbeat and the waiting run reaps
	// every 15 s: it finishes within about 45 s.
	if code := second.wait(2 * time.Minute); code != 0 {
		t.Fatalf("the second run: exit %d\n%s\n%s", code, second.stdout.String(), second.stderr.String())
	}
	t.Logf("the second run finished %s after the kill", time.Since(start).Round(time.Second))
	// Its progress lines said so too, once.
	if n := strings.Count(second.stderr.String(), "task t "+orphanedWhy); n != 1 {
		t.Errorf("the waiting run's progress said %d times that its task waits for an orphaned holder, want once:\n%s", n, second.stderr.String())
	}
	s := e.show(held)
	if tk := taskByID(t, s, "t"); tk.State != cairn.TaskReady && tk.State != cairn.TaskRetrying {
		t.Errorf("the killed run's task is %s, want ready again (interrupted) for resume", tk.State)
	}
}
