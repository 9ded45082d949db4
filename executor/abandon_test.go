package executor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/shell"
)

// deaf is a task type that ignores its context: it blocks until the test
// releases it (as a read of a FIFO nobody writes blocks in a system call),
// then tries to write to its log and reports what became of that write.
type deaf struct {
	release chan struct{}
	started chan string    // "task#attempt", once each attempt began
	wrote   chan error     // the error of each late log write
	count   sync.WaitGroup // attempts that have not returned yet
}

func newDeaf() *deaf {
	return &deaf{release: make(chan struct{}), started: make(chan string, 8), wrote: make(chan error, 8)}
}

func (d *deaf) Info() cairn.TypeInfo { return cairn.TypeInfo{Name: "deaf"} }

func (d *deaf) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	d.count.Add(1)
	defer d.count.Done()
	d.started <- req.TaskID
	<-d.release // ctx is not looked at
	_, err := env.Log.Write([]byte("late output of an abandoned attempt\n"))
	d.wrote <- err
	if err := os.WriteFile(filepath.Join(req.WorkDir, "late"), []byte("x"), 0o600); err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{}, nil
}

// An attempt whose task ignores its context ends StopGrace after its
// timeout anyway: it is recorded failed with the timeout, its slot is
// freed (the single slot runs the retry), the pool counts it abandoned,
// Stop does not wait for it, and what it writes to its log once released
// is refused.
func TestPoolAbandonsATaskThatIgnoresItsContext(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	d := newDeaf()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(d.release) }) }
	t.Cleanup(release)
	r := newRig(t, d)
	wf, id := r.create(t, `
name: deaf
tasks:
  - {id: stuck, type: deaf, timeout: 20ms, retries: 1, retry_backoff: {delay: 1ms}}
`)
	pool := r.startPool(t, 1, func(o *executor.Options) { o.StopGrace = 10 * time.Millisecond })
	run := r.drive(t, id, wf)
	wantRun(t, run, cairn.RunFailed)

	as := r.attempts(t, id, "stuck")
	if len(as) != 2 {
		t.Fatalf("stuck has %d attempts, want 2: the abandoned attempt must free the only slot for its retry", len(as))
	}
	for _, a := range as {
		if !strings.HasPrefix(a.Error, "timed out after 20ms") || !strings.Contains(a.Error, "abandoned") || !a.Retryable {
			t.Errorf("attempt %d: error %q retryable %v; want a retryable timeout saying the task was abandoned", a.Number, a.Error, a.Retryable)
		}
	}
	if n := pool.pool.Abandoned(); n != 2 {
		t.Errorf("Abandoned() = %d with both tasks still blocked, want 2", n)
	}

	// Stop returns although both goroutines are still blocked.
	stopped := make(chan struct{})
	go func() {
		pool.hard()
		close(stopped)
	}()
	await(t, "StopAndCancel with abandoned attempts", stopped)

	release()
	for i := 0; i < 2; i++ {
		if err := await(t, "late write", d.wrote); err == nil {
			t.Errorf("an abandoned attempt's log write after its completion was accepted")
		}
	}
	d.count.Wait()
	for n := 1; n <= 2; n++ {
		b, err := os.ReadFile(filepath.Join(r.dir, "logs", id, "stuck", []string{"", "1.log", "2.log"}[n]))
		if err != nil {
			t.Fatalf("log of attempt %d: %v", n, err)
		}
		if strings.Contains(string(b), "late output") {
			t.Errorf("log of attempt %d holds output written after the attempt was abandoned:\n%s", n, b)
		}
		if !strings.Contains(string(b), "abandoned") {
			t.Errorf("log of attempt %d does not say the attempt was abandoned:\n%s", n, b)
		}
	}
	if got := r.taskRuns(t, id)["stuck"]; got.State != cairn.TaskFailed {
		t.Errorf("stuck is %s after the abandoned attempts returned, want failed", got.State)
	}
	r.st.Close()
	goleak.VerifyNone(t, ignore) // and Abandoned's goroutines ended with their tasks
}

// A timed-out attempt reads "timed out after …", not the task's word for
// a cancelled context: neither a task that returns ctx.Err() nor a shell
// command stopped by the attempt's timeout says "cancelled".
func TestTimeoutReadsTimedOut(t *testing.T) {
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		<-ctx.Done()
		return tasks.Result{}, ctx.Err()
	})
	r := newRig(t, p, shell.New())
	wf, id := r.create(t, `
name: timeouts
tasks:
  - {id: probe, type: probe, timeout: 20ms}
  - {id: sh, type: shell, timeout: 200ms, with: {script: "sleep 30"}}
`)
	r.startPool(t, 2)
	wantRun(t, r.drive(t, id, wf), cairn.RunFailed)
	for task, want := range map[string]string{"probe": "timed out after 20ms", "sh": "timed out after 200ms"} {
		as := r.attempts(t, id, task)
		if len(as) != 1 {
			t.Fatalf("%s has %d attempts, want 1", task, len(as))
		}
		e := as[0].Error
		if !strings.HasPrefix(e, want) || strings.Contains(strings.ToLower(e), "cancel") {
			t.Errorf("%s's attempt failed with %q; want it to start %q and not speak of a cancellation", task, e, want)
		}
	}
}

// An attempt's error is stored cut to MaxErrorBytes with its full length
// and where to read it; the full text ends the attempt's log.
func TestLongErrorIsBoundedWithFullTextInLog(t *testing.T) {
	field := strings.Repeat("é", 300<<10) // 600 KiB of two-byte characters
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		return tasks.Result{}, cairn.Permanent(errors.New("row 2: bad value " + field + " end of field"))
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: long-error
tasks:
  - {id: parse, type: probe}
`)
	r.startPool(t, 1)
	wantRun(t, r.drive(t, id, wf), cairn.RunFailed)
	as := r.attempts(t, id, "parse")
	if len(as) != 1 {
		t.Fatalf("%d attempts, want 1", len(as))
	}
	e := as[0].Error
	if len(e) > executor.DefaultMaxErrorBytes {
		t.Errorf("stored error is %d bytes, want at most %d", len(e), executor.DefaultMaxErrorBytes)
	}
	full := len("row 2: bad value " + field + " end of field")
	if !strings.HasPrefix(e, "row 2: bad value é") || !strings.Contains(e, "cairn logs "+id+" parse --attempt 1") || !utf8.ValidString(e) {
		t.Errorf("stored error does not start with the error and say where the rest is: %q", e[max(0, len(e)-200):])
	}
	if !strings.Contains(e, "cut: "+strconv.Itoa(full)+" bytes in all") {
		t.Errorf("stored error does not give the full length %d: %q", full, e[max(0, len(e)-200):])
	}
	if tr := r.taskRuns(t, id)["parse"]; tr.Error != e {
		t.Errorf("the task run's error differs from the attempt's: %d bytes", len(tr.Error))
	}
	log, err := os.ReadFile(filepath.Join(r.dir, "logs", id, "parse", "1.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), field+" end of field") {
		t.Errorf("the log (%d bytes) does not hold the full error text", len(log))
	}
}

// An error is redacted (Options.Redact) before it is cut: a value to hide
// that straddles the cut leaves not even its beginning.
func TestErrorRedactedBeforeCut(t *testing.T) {
	const secret = "hunter2-hunter2-hunter2"
	msg := strings.Repeat("a", executor.DefaultMaxErrorBytes-120) + secret + strings.Repeat("b", 10<<10)
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		return tasks.Result{}, cairn.Permanent(errors.New(msg))
	})
	r := newRig(t, p)
	wf, id := r.create(t, `
name: redact
tasks:
  - {id: leak, type: probe}
`)
	r.startPool(t, 1, func(o *executor.Options) {
		o.Redact = func(s string) string { return strings.ReplaceAll(s, secret, "«secret:pw»") }
	})
	wantRun(t, r.drive(t, id, wf), cairn.RunFailed)
	as := r.attempts(t, id, "leak")
	if len(as) != 1 || strings.Contains(as[0].Error, "hunter") || !strings.Contains(as[0].Error, "bytes in all") {
		t.Fatalf("stored error %q…: want it cut, with no part of the secret", as[0].Error[len(as[0].Error)-200:])
	}
}

// A shell command that ignores SIGTERM is given its kill_grace to be
// killed, even past the pool's StopGrace: its attempt is not abandoned
// while the shell type is still stopping it as asked. The timeout leaves
// bash time to install its trap on a loaded machine: a TERM that came
// first would end it at once (143), which is not what is tested here.
func TestShellKillGraceIsWaitedFor(t *testing.T) {
	r := newRig(t, shell.New())
	wf, id := r.create(t, `
name: grace
tasks:
  - id: trap
    type: shell
    timeout: 1s
    with:
      kill_grace: 300ms
      script: |
        trap 'echo TERM ignored' TERM
        while :; do sleep 0.05 || true; done
`)
	r.startPool(t, 1, func(o *executor.Options) { o.StopGrace = time.Millisecond })
	wantRun(t, r.drive(t, id, wf), cairn.RunFailed)
	as := r.attempts(t, id, "trap")
	if len(as) != 1 || !strings.HasPrefix(as[0].Error, "timed out after 1s") || strings.Contains(as[0].Error, "abandoned") {
		t.Fatalf("attempts %+v; want one timed out, killed by the shell type, not abandoned", as)
	}
	if as[0].ExitCode == nil || *as[0].ExitCode != 137 {
		t.Errorf("exit code %v, want 137 (SIGKILL after kill_grace)", as[0].ExitCode)
	}
}
