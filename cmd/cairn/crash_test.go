package main

// End-to-end tests of stopping runs: Ctrl-C, `cairn cancel`, kill -9 and
// `cairn resume`, and the chaos loop (`make chaos`).

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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
// ledger's tasks left running.
func killLedgerGroupsOnCleanup(t *testing.T, path string) {
	t.Cleanup(func() {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if fs := strings.Fields(l); len(fs) == 4 {
				if pid, err := strconv.Atoi(fs[3]); err == nil && pid > 0 && alive(pid) {
					_ = syscall.Kill(-pid, syscall.SIGKILL)
				}
			}
		}
	})
}

// checkLedgerRun checks a finished run of testdata/ledger.yaml against its
// ledger, whatever crashes it went through:
//   - the run and every task succeeded;
//   - each task's attempts are numbered 1..n, the last succeeded and every
//     earlier one failed as interrupted (nothing else fails in this
//     workflow);
//   - the ledger holds the successful attempt's completion exactly once,
//     no attempt is started twice, none beyond n;
//   - no two attempts of a task overlapped: an attempt that completed did
//     so before the next one started, and none of the processes are left;
//   - no task started before its upstreams' recorded completions.
//
// It returns how many completions were repeated: a task finished its work
// but the process was killed before it recorded that, so it ran again
// (at-least-once; allowed, but only for an attempt recorded as interrupted).
func checkLedgerRun(t *testing.T, e *env, id, ledger string) (s runJSON, repeated int) {
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
			if i < n-1 && (at.State != "retrying" || !strings.Contains(at.Error, "interrupted")) {
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
		for _, up := range ledgerDeps[l.task] {
			done, ok := index[fmt.Sprintf("done %s %d", up, final[up])]
			if !ok || done > i {
				t.Errorf("ledger: %s attempt %d started before upstream %s's recorded completion", l.task, l.attempt, up)
			}
		}
	}
	for _, l := range lines {
		if l.kind == "start" {
			expectGone(t, l.pid, fmt.Sprintf("task %s attempt %d", l.task, l.attempt))
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
	waitFor(t, 15*time.Second, "a, b, f1-f3 succeeded and c running", func() bool {
		if p.exited() {
			t.Fatalf("cairn exited:\n%s", p.stderr.String())
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
	s, repeated := checkLedgerRun(t, e, id, ledger)
	if repeated != 0 {
		t.Errorf("%d completions repeated", repeated)
	}
	// Nothing that had succeeded ran again; c's interrupted attempt counted
	// as failed and c retried.
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
	_, repeated = checkLedgerRun(t, e, id, ledger)
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
