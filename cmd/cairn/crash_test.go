package main

// End-to-end tests of stopping runs: Ctrl-C, `cairn cancel`, kill -9 and
// `cairn resume`, and the chaos loop (`make chaos`).

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitTask polls `show --json` until task is in state.
func waitTask(t *testing.T, e *env, p *proc, id, task, state string) runJSON {
	t.Helper()
	var s runJSON
	waitFor(t, 15*time.Second, fmt.Sprintf("task %s %s", task, state), func() bool {
		if p != nil && p.exited() {
			t.Fatalf("cairn exited while waiting for task %s %s:\n%s", task, state, p.stderr.String())
		}
		s = e.show(id)
		return string(taskByID(t, s, task).State) == state
	})
	return s
}

// startSleeper starts a run of testdata/sleeper.yaml and waits until its
// long task runs; it returns the process, the run id and the task's pid.
func startSleeper(t *testing.T, e *env) (*proc, string, int) {
	t.Helper()
	pidfile := filepath.Join(t.TempDir(), "nap.pid")
	p := e.start("run", testdata(t, "sleeper.yaml"), "-p", "pidfile="+pidfile, "--progress", "lines")
	id := p.runID()
	waitTask(t, e, p, id, "nap", "running")
	waitFor(t, 10*time.Second, "the task's pid file", func() bool {
		_, err := os.Stat(pidfile)
		return err == nil
	})
	pid := readPid(t, pidfile)
	killGroupOnCleanup(t, pid)
	if !alive(pid) {
		t.Fatalf("the task's process %d is not running", pid)
	}
	return p, id, pid
}

// --- 4. Ctrl-C -------------------------------------------------------------------

func TestCtrlC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, id, pid := startSleeper(t, e)

	start := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code := p.wait(10 * time.Second)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cairn took %s to stop after Ctrl-C", took)
	}
	if code != 130 {
		t.Errorf("exit status %d after Ctrl-C, want 130 (128 + SIGINT)\n%s", code, p.stderr.String())
	}
	s := e.show(id)
	if s.State != "cancelled" {
		t.Errorf("run %s, want cancelled", s.State)
	}
	for task, want := range map[string]string{"first": "succeeded", "nap": "cancelled", "after": "cancelled"} {
		if got := string(taskByID(t, s, task).State); got != want {
			t.Errorf("task %s: %s, want %s", task, got, want)
		}
	}
	if nap := taskByID(t, s, "nap"); nap.Attempts != 1 || len(nap.Attempt) != 1 || nap.Attempt[0].State != "cancelled" {
		t.Errorf("nap: %+v", nap)
	}
	if !strings.Contains(p.stdout.String(), "CANCELLED") {
		t.Errorf("summary:\n%s", p.stdout.String())
	}
	expectGone(t, pid, "the cancelled task's process")
	r := e.must(1, "resume", id)
	if !strings.Contains(r.stderr, "already cancelled") {
		t.Errorf("resume of a cancelled run:\n%s", r)
	}
}

// --- 5 and 7. cancel and resume from another process ------------------------------

func TestCancelFromAnotherProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, id, pid := startSleeper(t, e)

	// 7: resume refuses a run whose owner is alive, and names it.
	r := e.must(1, "resume", id[:10])
	owner := fmt.Sprintf(":%d:", p.pid())
	if !strings.Contains(r.stderr, owner) || !strings.Contains(r.stderr, "cancel it or wait") {
		t.Errorf("resume of a run driven by pid %d:\n%s", p.pid(), r)
	}
	if s := e.show(id); s.State != "running" || taskByID(t, s, "nap").State != "running" || taskByID(t, s, "nap").Attempts != 1 {
		t.Errorf("the refused resume changed the run: %+v", s)
	}
	if p.exited() || !alive(pid) {
		t.Fatalf("the refused resume stopped the run")
	}

	// 5: cancel from another process; the owner notices within its
	// claim renewal (2s) and stops the task.
	start := time.Now()
	r = e.must(0, "cancel", id)
	if !strings.Contains(r.stdout, "cancellation requested") || !strings.Contains(r.stdout, owner) {
		t.Errorf("cancel of a live run:\n%s", r)
	}
	code := p.wait(8 * time.Second)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the run took %s to stop after cairn cancel", took)
	}
	if code != 1 {
		t.Errorf("the cancelled run's process exited %d, want 1", code)
	}
	s := e.show(id)
	if s.State != "cancelled" || taskByID(t, s, "nap").State != "cancelled" || taskByID(t, s, "after").State != "cancelled" ||
		taskByID(t, s, "first").State != "succeeded" {
		t.Errorf("after cancel: %+v", s)
	}
	expectGone(t, pid, "the cancelled task's process")
	r = e.must(1, "cancel", id)
	if !strings.Contains(r.stderr, "already cancelled") {
		t.Errorf("cancel of a cancelled run:\n%s", r)
	}
}

func TestCancelOrphanedRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, id, pid := startSleeper(t, e)
	p.kill9()
	// The task of a SIGKILLed cairn must not run on unsupervised.
	expectGone(t, pid, "the task of the killed cairn")

	r := e.must(0, "cancel", id)
	if !strings.Contains(r.stdout, "run "+id+" cancelled") {
		t.Errorf("cancel of a run with no live owner:\n%s", r)
	}
	s := e.show(id)
	if s.State != "cancelled" || s.FinishedAt == nil {
		t.Errorf("run: %+v", s)
	}
	for task, want := range map[string]string{"first": "succeeded", "after": "cancelled"} {
		if got := string(taskByID(t, s, task).State); got != want {
			t.Errorf("task %s: %s, want %s", task, got, want)
		}
	}
	// The attempt the crash interrupted ends cancelled, not failed: the
	// run is being cancelled, so nothing will retry it.
	nap := taskByID(t, s, "nap")
	if nap.State != "cancelled" {
		t.Errorf("task nap: %s, want cancelled", nap.State)
	}
	if len(nap.Attempt) != 1 || nap.Attempt[0].State != "cancelled" || !strings.Contains(nap.Attempt[0].Error, "interrupted") {
		t.Errorf("nap's attempts: %+v", nap.Attempt)
	}
}

// --- 6. crash safety -----------------------------------------------------------------

// ledgerDeps is the DAG of testdata/ledger.yaml: task → upstreams.
var ledgerDeps = map[string][]string{
	"a": nil, "b": {"a"}, "c": {"b"}, "f1": {"a"}, "f2": {"a"}, "f3": {"a"}, "j": {"c", "f1", "f2", "f3"},
}

type ledgerLine struct {
	kind    string // start or done
	task    string
	attempt int
	pid     int
}

func readLedger(t *testing.T, path string) []ledgerLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []ledgerLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 || (fs[0] != "start" && fs[0] != "done") {
			t.Fatalf("ledger: bad line %q", sc.Text())
		}
		n, err1 := strconv.Atoi(fs[2])
		pid, err2 := strconv.Atoi(fs[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("ledger: bad line %q", sc.Text())
		}
		lines = append(lines, ledgerLine{fs[0], fs[1], n, pid})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// killLedgerGroupsOnCleanup kills, at the end of the test, whatever the
// ledger's tasks left running: the process groups of the ledger's pids
// that still belong to one of its tasks (their LEDGER variable names this
// ledger). A ledger holds thousands of pids, and by the end of the test
// many of those numbers belong to other tests' processes.
func killLedgerGroupsOnCleanup(t *testing.T, path string) {
	t.Cleanup(func() {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if fs := strings.Fields(l); len(fs) == 4 {
				if pid, err := strconv.Atoi(fs[3]); err == nil && pid > 0 && alive(pid) && hasEnv(pid, "LEDGER="+path) {
					_ = syscall.Kill(-pid, syscall.SIGKILL)
				}
			}
		}
	})
}

// checkLedgerRun checks a finished run of a ledger workflow (testdata/
// ledger.yaml, or one of ledgerWorkflow's) whose DAG is deps (task →
// upstreams) against its ledger, whatever crashes it went through:
//   - the run and every task succeeded;
//   - each task's attempts are numbered 1..n, the last succeeded and every
//     earlier one was interrupted (nothing fails in this workflow);
//   - the ledger holds the successful attempt's completion exactly once,
//     no attempt is started twice, none beyond n;
//   - no two attempts of a task overlapped: an attempt that completed did
//     so before the next one started, and none of the processes are left;
//   - no task started before its upstreams' recorded completions.
//
// It returns how many completions were repeated: a task finished its work
// but the process was killed before it recorded that, so it ran again
// (at-least-once; allowed, but only for an attempt recorded as interrupted).
func checkLedgerRun(t *testing.T, e *env, id, ledger string, deps map[string][]string) (s runJSON, repeated int) {
	t.Helper()
	s = e.show(id)
	if s.State != "succeeded" {
		t.Errorf("run %s: %s (%s)", id, s.State, s.Error)
	}
	lines := readLedger(t, ledger)
	index := map[string]int{} // "kind task attempt" → line index
	for i, l := range lines {
		k := fmt.Sprintf("%s %s %d", l.kind, l.task, l.attempt)
		if _, dup := index[k]; dup {
			t.Errorf("ledger: %q twice: an attempt ran twice", k)
		}
		index[k] = i
	}
	final := map[string]int{}
	for _, tj := range s.Tasks {
		n := tj.Attempts
		final[tj.ID] = n
		if tj.State != "succeeded" || n < 1 || len(tj.Attempt) != n {
			t.Errorf("task %s: %s after %d attempts (%d in history)", tj.ID, tj.State, n, len(tj.Attempt))
			continue
		}
		for i, at := range tj.Attempt {
			if at.Number != i+1 {
				t.Errorf("task %s: attempt %d numbered %d", tj.ID, i+1, at.Number)
			}
			if i < n-1 && (at.State != "interrupted" || !strings.Contains(at.Error, "interrupted")) {
				t.Errorf("task %s attempt %d: %s %q, want an interrupted attempt", tj.ID, at.Number, at.State, at.Error)
			}
		}
		if at := tj.Attempt[n-1]; at.State != "succeeded" {
			t.Errorf("task %s: last attempt %s", tj.ID, at.State)
		}
		if _, ok := index[fmt.Sprintf("done %s %d", tj.ID, n)]; !ok {
			t.Errorf("task %s: its successful attempt %d never completed in the ledger", tj.ID, n)
		}
		for k := 1; k < n; k++ {
			done, ok := index[fmt.Sprintf("done %s %d", tj.ID, k)]
			if !ok {
				continue
			}
			repeated++
			for m := k + 1; m <= n; m++ {
				if start, ok := index[fmt.Sprintf("start %s %d", tj.ID, m)]; ok && start < done {
					t.Errorf("task %s: attempt %d completed after attempt %d started: two attempts ran at once", tj.ID, k, m)
				}
			}
		}
	}
	for i, l := range lines {
		if n, ok := final[l.task]; !ok || l.attempt < 1 || l.attempt > n {
			t.Errorf("ledger line %d: %s %s %d: no such attempt in the run", i, l.kind, l.task, l.attempt)
		}
		if l.kind == "done" {
			if start, ok := index[fmt.Sprintf("start %s %d", l.task, l.attempt)]; !ok || start > i {
				t.Errorf("ledger: %s %d done before it started", l.task, l.attempt)
			}
			continue
		}
		for _, up := range deps[l.task] {
			done, ok := index[fmt.Sprintf("done %s %d", up, final[up])]
			if !ok || done > i {
				t.Errorf("ledger: %s attempt %d started before upstream %s's recorded completion", l.task, l.attempt, up)
			}
		}
	}
	// Every attempt's process is gone. Over a long run pid numbers come
	// round again: a pid counts as the task's only while the process
	// carries this ledger in its environment.
	for _, l := range lines {
		if l.kind != "start" {
			continue
		}
		deadline := time.Now().Add(3 * time.Second)
		for alive(l.pid) && hasEnv(l.pid, "LEDGER="+ledger) {
			if time.Now().After(deadline) {
				t.Errorf("task %s attempt %d (pid %d) is still running", l.task, l.attempt, l.pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if t.Failed() {
		b, _ := os.ReadFile(ledger)
		t.Logf("ledger:\n%s", b)
	}
	return s, repeated
}

func TestCrashAndResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	killLedgerGroupsOnCleanup(t, ledger)
	// c's first attempt sleeps long: we kill cairn while it runs.
	p := e.start("run", testdata(t, "ledger.yaml"), "-p", "ledger="+ledger, "-p", "hold=300", "--progress", "lines")
	id := p.runID()
	var before runJSON
	waitFor(t, 15*time.Second, "a, b, f1-f3 succeeded and c's script started", func() bool {
		if p.exited() {
			t.Fatalf("cairn exited:\n%s", p.stderr.String())
		}
		// The store says running from the lease on, before the script
		// runs: wait for the script's own first line too.
		if b, _ := os.ReadFile(ledger); !strings.Contains(string(b), "start c 1 ") {
			return false
		}
		before = e.show(id)
		for _, tj := range before.Tasks {
			want := "succeeded"
			switch tj.ID {
			case "c":
				want = "running"
			case "j":
				want = "pending"
			}
			if string(tj.State) != want {
				return false
			}
		}
		return true
	})
	p.kill9()

	after := e.show(id)
	if after.State != "running" || taskByID(t, after, "c").State != "running" {
		t.Fatalf("after kill -9 the store should still say running: %+v", after)
	}
	r := e.must(0, "resume", id[:12], "--progress", "lines")
	if !strings.Contains(r.stdout, "SUCCEEDED") || !strings.Contains(r.stderr, "resume "+id) {
		t.Errorf("resume:\n%s", r)
	}
	s, repeated := checkLedgerRun(t, e, id, ledger, ledgerDeps)
	if repeated != 0 {
		t.Errorf("%d completions repeated", repeated)
	}
	// Nothing that had succeeded ran again; c's attempt was interrupted and
	// c retried.
	for _, tj := range s.Tasks {
		want := 1
		if tj.ID == "c" {
			want = 2
		}
		if tj.Attempts != want {
			t.Errorf("task %s: %d attempts, want %d", tj.ID, tj.Attempts, want)
		}
	}
	c := taskByID(t, s, "c")
	if len(c.Attempt) == 2 && !strings.Contains(c.Attempt[0].Error, "attempt interrupted: the process running it stopped") {
		t.Errorf("c's first attempt: %+v", c.Attempt[0])
	}
	var starts []string
	for _, l := range readLedger(t, ledger) {
		if l.kind == "start" {
			starts = append(starts, fmt.Sprintf("%s/%d", l.task, l.attempt))
		}
	}
	if got := strings.Join(starts, " "); strings.Count(got, "/") != 8 || !strings.Contains(got, "c/1") || !strings.Contains(got, "c/2") ||
		strings.Contains(got, "c/3") {
		t.Errorf("ledger starts: %s; want each task once and c twice", got)
	}
}

// crashRound runs testdata/ledger.yaml, kill -9s cairn at a random moment,
// then resumes — killing up to maxKills processes in all — until the run
// ends, and checks the invariants of checkLedgerRun.
func crashRound(t *testing.T, rng *rand.Rand, maxKills int) (kills, repeated int) {
	e := newEnv(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	killLedgerGroupsOnCleanup(t, ledger)
	randomKill := func(p *proc, max time.Duration) bool {
		select {
		case <-p.done:
			return false
		case <-time.After(time.Duration(rng.Int64N(int64(max)))):
		}
		if p.exited() {
			return false
		}
		p.kill9()
		kills++
		return true
	}
	p := e.start("run", testdata(t, "ledger.yaml"), "-p", "ledger="+ledger, "--progress", "lines")
	id := p.runID()
	// The run takes about 0.9s after its header: most kills land mid-run,
	// a few in its first instants or after it ended.
	if !randomKill(p, 1000*time.Millisecond) {
		if code := p.wait(30 * time.Second); code != 0 {
			t.Fatalf("run exited %d:\n%s", code, p.stderr.String())
		}
	}
	for i := 0; ; i++ {
		if i > maxKills+2 {
			t.Fatalf("run %s still not finished after %d resumes", id, i)
		}
		if s := e.show(id); s.State == "succeeded" || s.State == "failed" || s.State == "cancelled" {
			break
		}
		q := e.start("resume", id, "--progress", "lines")
		if kills < maxKills && rng.IntN(3) > 0 && randomKill(q, 700*time.Millisecond) {
			continue
		}
		if code := q.wait(30 * time.Second); code != 0 {
			t.Fatalf("resume exited %d:\n%s\n%s", code, q.stdout.String(), q.stderr.String())
		}
	}
	_, repeated = checkLedgerRun(t, e, id, ledger, ledgerDeps)
	return kills, repeated
}

func TestCrashAtRandomMoments(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for round := 1; round <= 3; round++ {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			kills, repeated := crashRound(t, rng, 2)
			t.Logf("%d kills, %d repeated completions", kills, repeated)
		})
	}
}

// TestChaos is `make chaos`: CAIRN_CHAOS_ROUNDS rounds of random kill -9s
// and resumes (CAIRN_CHAOS_SEED to replay one sequence).
func TestChaos(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("CAIRN_CHAOS_ROUNDS"))
	if rounds <= 0 {
		t.Skip("set CAIRN_CHAOS_ROUNDS (make chaos) to run")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CAIRN_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CAIRN_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (CAIRN_CHAOS_SEED=%d to replay)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	totalKills, totalRepeated := 0, 0
	for round := 1; round <= rounds; round++ {
		ok := t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			kills, repeated := crashRound(t, rng, 3)
			t.Logf("%d kills, %d repeated completions", kills, repeated)
			totalKills += kills
			totalRepeated += repeated
		})
		if !ok {
			break
		}
	}
	t.Logf("%d rounds, %d kills, %d repeated completions", rounds, totalKills, totalRepeated)
}

// --- issue 14, item 7: cairn's own crash is not the task's failure ------------------

// ledgerWorkflow writes a workflow of n shell tasks (t0000, t0001, ...) in
// layers of width, each task after the first layer needing two of the
// layer before, that record their attempts in a ledger as
// testdata/ledger.yaml's do: every first attempt sleeps its nap (param nap,
// in tenths of a second; param hold for the task it returns as held), later
// ones a tenth. It returns the file, the DAG (task → upstreams) and the held
// task.
func ledgerWorkflow(t *testing.T, n, width, retries int) (path string, deps map[string][]string, held string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `name: ledger-%d
params:
  ledger: {type: string}
  nap: {type: int, default: 1}
  hold: {type: int, default: 1}
defaults:
  retries: %d
  retry_backoff: 20ms
x-step: &step
  env: &env
    LEDGER: "${{ params.ledger }}"
    NAP: "${{ params.nap }}"
  script: |
    echo "start $CAIRN_TASK_ID $CAIRN_ATTEMPT $$" >> "$LEDGER"
    if [ "$CAIRN_ATTEMPT" -gt 1 ]; then NAP=1; fi
    while [ "$NAP" -gt 0 ]; do sleep 0.1; NAP=$((NAP - 1)); done
    echo "done $CAIRN_TASK_ID $CAIRN_ATTEMPT $$" >> "$LEDGER"
tasks:
`, n, retries)
	deps = map[string][]string{}
	name := func(i int) string { return fmt.Sprintf("t%04d", i) }
	held = name(min(width, n-1))
	for i := range n {
		id := name(i)
		var needs []string
		if layer := i / width; layer > 0 {
			first := (layer - 1) * width
			needs = []string{name(first + i%width), name(first + (i+1)%width)}
		}
		deps[id] = needs
		with := "*step"
		if id == held {
			with = `{<<: *step, env: {<<: *env, NAP: "${{ params.hold }}"}}`
		}
		if len(needs) > 0 {
			fmt.Fprintf(&b, "  - {id: %s, type: shell, needs: [%s], with: %s}\n", id, strings.Join(needs, ", "), with)
		} else {
			fmt.Fprintf(&b, "  - {id: %s, type: shell, with: %s}\n", id, with)
		}
	}
	path = filepath.Join(t.TempDir(), "ledger.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, deps, held
}

// killAndResume kill -9s the run's cairn process p up to kills times —
// the first once first returns (if set), each other pause() after its
// process started — and resumes the run after each kill; then lets the
// last process finish the run. It returns how many kills it made: fewer
// if the run ended first.
func killAndResume(t *testing.T, e *env, p *proc, id string, kills int, pause func() time.Duration, first func(p *proc)) int {
	t.Helper()
	made := 0
	for made < kills {
		if made == 0 && first != nil {
			first(p)
		} else {
			select {
			case <-p.done:
			case <-time.After(pause()):
			}
		}
		if p.exited() {
			break
		}
		p.kill9()
		made++
		switch e.show(id).State {
		case "succeeded", "failed", "cancelled": // killed after the run's end
			return made
		}
		p = e.start("resume", id, "--progress", "lines")
	}
	if code := p.wait(10 * time.Minute); code != 0 {
		t.Fatalf("the last cairn process exited %d:\n%s", code, p.stderr.String())
	}
	return made
}

// interruptions counts a finished run's interrupted attempts, and the most
// of them one task had.
func interruptions(s runJSON) (total, most int) {
	for _, tj := range s.Tasks {
		n := 0
		for _, at := range tj.Attempt {
			if at.State == "interrupted" {
				n++
			}
		}
		total += n
		most = max(most, n)
	}
	return total, most
}

// Killed with -9 five times during a run of 200 short tasks that have no
// retries at all, the run still succeeds: the attempts the kills
// interrupted are recorded as interrupted, not failed, and retried without
// using the retries; nothing runs again after it succeeded. The first kill
// lands while a task is sure to be running (the held one), the others at
// random moments.
func TestCrashManyKillsUseNoRetries(t *testing.T) {
	t.Parallel()
	const kills = 5
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	e := newEnv(t)
	wf, deps, held := ledgerWorkflow(t, 200, 20, 0)
	ledger := filepath.Join(t.TempDir(), "ledger")
	killLedgerGroupsOnCleanup(t, ledger)
	start := time.Now()
	// Each task naps 0.2 s: after the first kill, about 5 s of work are
	// left, longer than the four kills and resumes that follow take
	// (0.3-0.9 s apart): with 0.1 s, a fast resume could end the run first.
	p := e.start("run", wf, "-p", "ledger="+ledger, "-p", "hold=50", "-p", "nap=2", "--progress", "lines")
	id := p.runID()
	made := killAndResume(t, e, p, id, kills, func() time.Duration {
		return time.Duration(300+rng.IntN(600)) * time.Millisecond
	}, func(p *proc) {
		waitFor(t, 30*time.Second, "the held task's first attempt to start", func() bool {
			b, _ := os.ReadFile(ledger)
			return p.exited() || strings.Contains(string(b), "start "+held+" 1 ")
		})
	})
	if made != kills {
		t.Errorf("the run ended after %d kills, want %d", made, kills)
	}
	s, repeated := checkLedgerRun(t, e, id, ledger, deps)
	total, most := interruptions(s)
	t.Logf("%d kills, %d interrupted attempts (at most %d for one task), %d repeated completions, %s",
		made, total, most, repeated, time.Since(start).Round(time.Millisecond))
	h := taskByID(t, s, held)
	if h.Interrupted < 1 || len(h.Attempt) < 2 || h.Attempt[0].State != "interrupted" ||
		!strings.Contains(h.Attempt[0].Error, "attempt interrupted: the process running it stopped") {
		t.Errorf("held task %s: %d interrupted, attempts %+v; want its first attempt interrupted", held, h.Interrupted, h.Attempt)
	}
	out := e.must(0, "show", id).stdout
	if !regexp.MustCompile(`(?m)^` + held + `\s+shell\s+succeeded\s+\d+ \(\d+ interrupted\)`).MatchString(out) {
		t.Errorf("cairn show does not say the held task's attempts were interrupted:\n%s", out)
	}
}

// TestChaosThousandTasks is the test of issue 14, item 7, in `make chaos`:
// 50 kill -9s (CAIRN_CHAOS_KILLS) at 1–3 s intervals during a run of 1,000
// short tasks (retries: 5) end in succeeded, nothing run again after it
// succeeded.
func TestChaosThousandTasks(t *testing.T) {
	if os.Getenv("CAIRN_CHAOS_ROUNDS") == "" {
		t.Skip("set CAIRN_CHAOS_ROUNDS (make chaos) to run")
	}
	kills := 50
	if s := os.Getenv("CAIRN_CHAOS_KILLS"); s != "" {
		var err error
		if kills, err = strconv.Atoi(s); err != nil || kills < 1 {
			t.Fatalf("CAIRN_CHAOS_KILLS=%q: want a positive number", s)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CAIRN_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CAIRN_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (CAIRN_CHAOS_SEED=%d to replay the pauses)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	e := newEnv(t)
	// 1,000 tasks whose first attempts sleep a second, at most 4 at once
	// (the workflow's concurrency:, which holds for the resumes too,
	// whatever their default worker count): at least 250 s of work, longer
	// than 50 pauses of at most 3 s (150 s) and their resumes. With half a
	// second and no cap, an idle machine finished the run after 33 kills.
	wf, deps, _ := ledgerWorkflow(t, 1000, 50, 5)
	capped, err := os.ReadFile(wf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wf, append(capped, "concurrency: 4\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	ledger := filepath.Join(t.TempDir(), "ledger")
	killLedgerGroupsOnCleanup(t, ledger)
	start := time.Now()
	p := e.start("run", wf, "-p", "ledger="+ledger, "-p", "nap=10", "-p", "hold=5", "--workers", "4", "--progress", "lines")
	id := p.runID()
	made := killAndResume(t, e, p, id, kills, func() time.Duration {
		return time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
	}, nil)
	if made != kills {
		t.Errorf("the run ended after %d kills, want %d", made, kills)
	}
	s, repeated := checkLedgerRun(t, e, id, ledger, deps)
	total, most := interruptions(s)
	t.Logf("%d tasks, %d kills, %d interrupted attempts (at most %d for one task), %d repeated completions, %s",
		len(s.Tasks), made, total, most, repeated, time.Since(start).Round(time.Second))
}

// A task that kills the process running it, every time, stops: its
// max_interruptions-th interruption in a row fails it, with an error that
// says so, and the run fails.
func TestSelfKillingTaskStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	count := filepath.Join(t.TempDir(), "count")
	wf := filepath.Join(t.TempDir(), "kamikaze.yaml")
	if err := os.WriteFile(wf, []byte(`name: kamikaze
params:
  count: {type: string}
tasks:
  - id: kamikaze
    type: shell
    max_interruptions: 3
    with:
      env: {COUNT: "${{ params.count }}"}
      script: |
        echo ran >> "$COUNT"
        kill -9 $PPID
        sleep 10
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.start("run", wf, "-p", "count="+count, "--progress", "lines")
	id := p.runID()
	// The run and two resumes die; the third resume finds the third
	// interruption in a row and fails the task.
	for i := 1; i <= 3; i++ {
		if code := p.wait(30 * time.Second); code != -1 {
			t.Fatalf("process %d exited %d, want killed by its task:\n%s", i, code, p.stderr.String())
		}
		p = e.start("resume", id, "--progress", "lines")
	}
	code := p.wait(30 * time.Second)
	out := p.stdout.String() + p.stderr.String()
	if code != 1 || !strings.Contains(out, "interrupted 3 times in a row") || !strings.Contains(out, "max_interruptions: 3") {
		t.Fatalf("the last resume exited %d, want 1 and the task failed for its interruptions:\n%s", code, out)
	}
	s := e.show(id)
	k := taskByID(t, s, "kamikaze")
	if s.State != "failed" || k.State != "failed" || k.Attempts != 3 || k.Interrupted != 3 || len(k.Attempt) != 3 {
		t.Fatalf("run %s, kamikaze %s after %d attempts (%d interrupted); want failed after 3, all interrupted", s.State, k.State,
			k.Attempts, k.Interrupted)
	}
	for _, at := range k.Attempt {
		if at.State != "interrupted" {
			t.Errorf("attempt %d: %s, want interrupted", at.Number, at.State)
		}
	}
	if b, _ := os.ReadFile(count); strings.Count(string(b), "ran\n") != 3 {
		t.Errorf("the task ran %d times, want 3", strings.Count(string(b), "ran\n"))
	}
	if r := e.must(1, "resume", id); !strings.Contains(r.stderr, "already failed") || !strings.Contains(r.stderr, "cairn retry "+id) {
		t.Errorf("resume of the failed run:\n%s", r)
	}
}
