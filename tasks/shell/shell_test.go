package shell_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/proctree"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func TestMain(m *testing.M) {
	if pidfile := os.Getenv("SHELL_TEST_WORKER"); pidfile != "" {
		dyingWorker(pidfile)
		return
	}
	// The emptied cgroups kept for reuse go at the end, as cairn's own do.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) { proctree.RemoveIdle(); os.Exit(code) }))
}

func logHas(want ...string) func(*testing.T, tasktest.Attempt) {
	return func(t *testing.T, a tasktest.Attempt) {
		t.Helper()
		for _, w := range want {
			if !bytes.Contains(a.Log, []byte(w)) {
				t.Errorf("log lacks %q:\n%s", w, a.Log)
			}
		}
	}
}

func exitCodeIs(t *testing.T, res tasks.Result, want int) {
	t.Helper()
	got, ok := res.Outputs["exit_code"]
	if !ok || string(got) != strconv.Itoa(want) {
		t.Errorf("exit_code = %s (present %v), want %d", got, ok, want)
	}
}

func TestConformance(t *testing.T) {
	modelJSON := `{"weights":[1,2,3]}`
	tasktest.Run(t, shell.New(),
		tasktest.Case{Name: "argv", Params: map[string]any{"argv": []string{"echo", "hello", "world"}},
			Check: func(t *testing.T, a tasktest.Attempt) {
				logHas("hello world\n")(t, a)
				exitCodeIs(t, a.Result, 0)
			}},
		tasktest.Case{Name: "script", Params: map[string]any{"script": "echo one\necho two >&2"},
			Check: logHas("one\n", "two\n")},
		tasktest.Case{Name: "set -e stops midway", Params: map[string]any{"script": "echo before\nfalse\necho after"},
			Want: tasktest.FailsRetryable,
			Check: func(t *testing.T, a tasktest.Attempt) {
				logHas("before")(t, a)
				if bytes.Contains(a.Log, []byte("after")) {
					t.Errorf("script went on past a failing command:\n%s", a.Log)
				}
				exitCodeIs(t, a.Result, 1)
			}},
		tasktest.Case{Name: "exit code 3 fails", Params: map[string]any{"script": "exit 3"}, Want: tasktest.FailsRetryable,
			Check: func(t *testing.T, a tasktest.Attempt) {
				exitCodeIs(t, a.Result, 3)
				if !strings.Contains(a.Err.Error(), "exit code 3") {
					t.Errorf("err = %v, want it to name exit code 3", a.Err)
				}
			}},
		tasktest.Case{Name: "exit code 3 allowed", Params: map[string]any{"script": "exit 3", "success_exit_codes": []int{0, 3}},
			Check: func(t *testing.T, a tasktest.Attempt) { exitCodeIs(t, a.Result, 3) }},
		tasktest.Case{Name: "killed by signal", Params: map[string]any{"script": "kill -9 $$"}, Want: tasktest.FailsRetryable,
			Check: func(t *testing.T, a tasktest.Attempt) { exitCodeIs(t, a.Result, 137) }},
		tasktest.Case{Name: "command not found", Params: map[string]any{"argv": []string{"cairn-no-such-command"}},
			Want: tasktest.FailsPermanent,
			Check: func(t *testing.T, a tasktest.Attempt) {
				exitCodeIs(t, a.Result, 127)
				if !strings.Contains(a.Err.Error(), "not found") {
					t.Errorf("err = %v", a.Err)
				}
			}},
		tasktest.Case{Name: "absolute path not found", Params: map[string]any{"argv": []string{"/nonexistent/cmd"}},
			Want: tasktest.FailsPermanent,
			Check: func(t *testing.T, a tasktest.Attempt) {
				exitCodeIs(t, a.Result, 127)
				if !errors.Is(a.Err, os.ErrNotExist) {
					t.Errorf("err = %v, want it to wrap ENOENT", a.Err)
				}
			}},
		tasktest.Case{Name: "not executable", Params: map[string]any{"argv": []string{"/etc/passwd"}},
			Want:  tasktest.FailsPermanent,
			Check: func(t *testing.T, a tasktest.Attempt) { exitCodeIs(t, a.Result, 126) }},
		tasktest.Case{Name: "outputs", Params: map[string]any{
			"script":  `printf '%s' '` + modelJSON + `' > "$CAIRN_OUTPUT_MODEL"; echo a,b > out/data.csv`,
			"outputs": map[string]any{"model": "model.json", "data": "out/data.csv"},
		}, Check: func(t *testing.T, a tasktest.Attempt) {
			for name, content := range map[string]string{"model": modelJSON, "data": "a,b\n"} {
				ref, ok := cairn.AsArtifactRef(a.Result.Outputs[name])
				if !ok {
					t.Fatalf("output %s = %s, not an artifact", name, a.Result.Outputs[name])
				}
				sum := sha256.Sum256([]byte(content))
				if ref.Digest != "sha256:"+hex.EncodeToString(sum[:]) || ref.Size != int64(len(content)) {
					t.Errorf("output %s = %+v, want the digest of %q", name, ref, content)
				}
			}
			if mt := mustRef(t, a.Result, "model").MediaType; mt != "application/json" {
				t.Errorf("model media type %q", mt)
			}
		}},
		tasktest.Case{Name: "missing declared output", Params: map[string]any{
			"argv": []string{"true"}, "outputs": map[string]any{"model": "model.json"},
		}, Want: tasktest.FailsPermanent, Check: func(t *testing.T, a tasktest.Attempt) {
			if !strings.Contains(a.Err.Error(), "declared output model") || !strings.Contains(a.Err.Error(), "model.json") {
				t.Errorf("err = %v, want it to name the output and its file", a.Err)
			}
		}},
		tasktest.Case{Name: "inputs", Inputs: map[string][]byte{"train-data": []byte("x,y\n1,2\n")},
			Params: map[string]any{"script": `cat "$CAIRN_INPUT_TRAIN_DATA"; test ! -w "$CAIRN_INPUT_TRAIN_DATA" || [ "$(id -u)" = 0 ]`},
			Check:  logHas("x,y\n1,2\n")},
		tasktest.Case{Name: "workdir", Params: map[string]any{"script": `mkdir -p sub; cd sub; pwd`}},
		tasktest.Case{Name: "sleeps", Params: map[string]any{"argv": []string{"sleep", "100"}}, Want: tasktest.Blocks},
		tasktest.Case{Name: "script sleeps", Params: map[string]any{"script": "sleep 100; echo never"}, Want: tasktest.Blocks},

		tasktest.Case{Name: "argv and script", Params: map[string]any{"argv": []string{"true"}, "script": "true"}, InvalidParams: true},
		tasktest.Case{Name: "neither argv nor script", Params: map[string]any{"env": map[string]string{"A": "b"}}, InvalidParams: true},
		tasktest.Case{Name: "list argv element", Params: map[string]any{"argv": []any{"echo", []any{3}}}, InvalidParams: true},
		tasktest.Case{Name: "empty argv", Params: map[string]any{"argv": []string{}}, InvalidParams: true},
		tasktest.Case{Name: "output escapes workdir", Params: map[string]any{"argv": []string{"true"}, "outputs": map[string]any{"m": "../m"}}, InvalidParams: true},
		tasktest.Case{Name: "absolute output", Params: map[string]any{"argv": []string{"true"}, "outputs": map[string]any{"m": "/tmp/m"}}, InvalidParams: true},
		tasktest.Case{Name: "output named exit_code", Params: map[string]any{"argv": []string{"true"}, "outputs": map[string]any{"exit_code": "x"}}, InvalidParams: true},
		tasktest.Case{Name: "reserved env", Params: map[string]any{"argv": []string{"true"}, "env": map[string]any{"CAIRN_RUN_ID": "x"}}, InvalidParams: true},
		tasktest.Case{Name: "map env value", Params: map[string]any{"argv": []string{"true"}, "env": map[string]any{"N": map[string]any{"a": 1}}}, InvalidParams: true},
		tasktest.Case{Name: "bad exit code", Params: map[string]any{"argv": []string{"true"}, "success_exit_codes": []any{0, 300}}, InvalidParams: true},
		tasktest.Case{Name: "bad timeout", Params: map[string]any{"argv": []string{"true"}, "timeout": "soon"}, InvalidParams: true},
	)
}

func mustRef(t *testing.T, res tasks.Result, name string) cairn.ArtifactRef {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(res.Outputs[name])
	if !ok {
		t.Fatalf("output %s = %s, not an artifact", name, res.Outputs[name])
	}
	return ref
}

func TestValidateParamsAcceptsReferences(t *testing.T) {
	errs := shell.New().ValidateParams(map[string]any{
		"argv":    "${{ tasks.plan.outputs.argv }}",
		"env":     map[string]any{"SEED": "${{ params.seed }}"},
		"outputs": "${{ params.outputs }}",
		"timeout": "${{ params.timeout }}",
	})
	if len(errs) != 0 {
		t.Fatalf("errors for params holding references: %v", errs)
	}
	errs = shell.New().ValidateParams(map[string]any{"argv": []any{"echo", 3, true}})
	if len(errs) != 0 {
		t.Fatalf("errors = %v for number and bool argv elements, want none", errs)
	}
	errs = shell.New().ValidateParams(map[string]any{"argv": []any{"echo", []any{1}, map[string]any{}}})
	if len(errs) != 2 || errs[0].Key != "argv" || !strings.Contains(errs[0].Msg, "element 1") {
		t.Fatalf("errors = %v, want two on argv elements 1 and 2", errs)
	}
	errs = shell.New().ValidateParams(map[string]any{"argv": []any{"x"}, "script": "y"})
	if len(errs) != 1 || errs[0].Key != "" {
		t.Fatalf("errors = %v, want one on the block", errs)
	}
}

// runShell runs one attempt with params and the given log.
func runShell(t *testing.T, ctx context.Context, params map[string]any, log io.Writer) (tasks.Request, tasks.Result, error) {
	t.Helper()
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	env, buf := tasktest.Env(t)
	if log != nil {
		env.Log = log
	} else {
		log = buf
	}
	req := tasktest.Request(t, raw)
	res, err := shell.New().Run(ctx, req, env)
	return req, res, err
}

func TestEnvIsolation(t *testing.T) {
	t.Setenv("SECRET_TOKEN", "hunter2")
	buf := &tasktest.Buffer{}
	req, _, err := runShell(t, context.Background(), map[string]any{
		"argv": []string{"env"},
		"env":  map[string]string{"GREETING": "hi there", "PATH": "/usr/bin:/bin"},
	}, buf)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	if _, leaked := got["SECRET_TOKEN"]; leaked {
		t.Fatalf("SECRET_TOKEN leaked into the child's environment:\n%s", buf)
	}
	want := map[string]string{
		"GREETING": "hi there", "PATH": "/usr/bin:/bin",
		"CAIRN_RUN_ID": "testrun", "CAIRN_TASK_ID": "t", "CAIRN_ATTEMPT": "1", "CAIRN_WORKDIR": req.WorkDir,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	allowed := map[string]bool{"HOME": true, "TMPDIR": true, "LANG": true, "PWD": true}
	for k := range got {
		if _, ok := want[k]; !ok && !allowed[k] {
			t.Errorf("unexpected variable %s in the child's environment", k)
		}
	}
}

func TestWorkdirParam(t *testing.T) {
	buf := &tasktest.Buffer{}
	req, _, err := runShell(t, context.Background(), map[string]any{
		"script":  `pwd; echo "$CAIRN_WORKDIR"; echo x > "$CAIRN_OUTPUT_OUT"`,
		"workdir": "sub/dir",
		"outputs": map[string]string{"out": "res/out.txt"},
	}, buf)
	if err == nil || cairn.IsRetryable(err) {
		// sub/dir does not exist: starting in it cannot work on a retry either.
		t.Fatalf("err = %v, want a permanent error for a missing workdir", err)
	}
	if err := os.MkdirAll(filepath.Join(req.WorkDir, "sub/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Same request again, now that the directory exists.
	env, _ := tasktest.Env(t)
	env.Log = buf
	res, err := shell.New().Run(context.Background(), req, env)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(req.WorkDir, "sub/dir")
	if got := buf.String(); !strings.Contains(got, want+"\n"+want+"\n") {
		t.Fatalf("log = %q, want pwd and CAIRN_WORKDIR = %s", got, want)
	}
	if _, ok := res.Outputs["out"]; !ok {
		t.Fatalf("outputs = %v", res.Outputs)
	}
}

// hiddenPath is a store without a Path method: inputs must be copied.
type hiddenPath struct{ tasks.Artifacts }

func TestInputsWithoutLocalPaths(t *testing.T) {
	env, buf := tasktest.Env(t)
	ref, err := env.Artifacts.Put(context.Background(), "text/csv", strings.NewReader("a,b\n"))
	if err != nil {
		t.Fatal(err)
	}
	env.Artifacts = hiddenPath{env.Artifacts}
	req := tasktest.Request(t, json.RawMessage(`{"script":"cat \"$CAIRN_INPUT_DATA\"; echo \"$CAIRN_INPUT_DATA\""}`))
	req.Inputs = map[string]cairn.ArtifactRef{"data": ref}
	if _, err := shell.New().Run(context.Background(), req, env); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "a,b\n"+filepath.Join(req.WorkDir, ".cairn-inputs", "DATA")+"\n"; got != want {
		t.Fatalf("log = %q, want %q", got, want)
	}

	req.Inputs = map[string]cairn.ArtifactRef{"data": {Digest: "sha256:" + strings.Repeat("1", 64), Size: 1}}
	if _, err := shell.New().Run(context.Background(), req, env); !errors.Is(err, cairn.ErrNotFound) || cairn.IsRetryable(err) {
		t.Fatalf("missing input: err = %v, want a permanent not-found error", err)
	}
}

// gone reports whether pid no longer runs (absent, or a zombie waiting
// for a reaper: a container's init may not reap).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // leave nothing behind
			t.Fatalf("process %d still runs after the attempt ended", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPid(t *testing.T, workdir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(workdir, "pid"))
	if err != nil {
		t.Fatalf("grandchild pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// logModes runs f with an in-memory log (fed by a pipe) and with a file
// log the child writes to directly.
func logModes(t *testing.T, f func(t *testing.T, log io.Writer, contents func() string)) {
	t.Run("pipe", func(t *testing.T) {
		buf := &tasktest.Buffer{}
		f(t, buf, buf.String)
	})
	t.Run("file", func(t *testing.T) {
		logs, err := artifacts.OpenLogs(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		w, err := logs.Create("r", "t", 1)
		if err != nil {
			t.Fatal(err)
		}
		closed := false
		t.Cleanup(func() {
			if !closed {
				w.Close()
			}
		})
		f(t, w, func() string {
			if !closed {
				w.Close()
				closed = true
			}
			rc, err := logs.Open("r", "t", 1)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			return string(b)
		})
	})
}

// The timeout's clock starts before the cgroup and the shell do, so on a
// loaded machine it can fire before the script has started its background
// job: such an attempt proves nothing about the job. The script renames its
// pid file into place only once the job runs and "started" is written; an
// attempt without it is run again with the timeout doubled, so the checks
// below are only ever made on an attempt whose deadline fired after the
// job existed.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	logModes(t, func(t *testing.T, log io.Writer, contents func() string) {
		for timeout := 300 * time.Millisecond; ; timeout *= 2 {
			if timeout > 40*time.Second {
				t.Fatal("the script never wrote its pid file before the timeout, even at 38s")
			}
			start := time.Now()
			req, res, err := runShell(t, context.Background(), map[string]any{
				"script":  `echo started; sleep 100 & echo $! > pid.new; mv pid.new pid; wait`,
				"timeout": timeout.String(),
			}, log)
			elapsed := time.Since(start)
			if err == nil || !cairn.IsRetryable(err) || !strings.Contains(err.Error(), "timed out after "+timeout.String()) {
				t.Fatalf("err = %v, want a retryable timeout error", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
			}
			if _, err := os.Stat(filepath.Join(req.WorkDir, "pid")); errors.Is(err, os.ErrNotExist) {
				t.Logf("the %v timeout fired before the script started its job: again with a longer one", timeout)
				continue
			}
			if elapsed > timeout+3*time.Second {
				t.Errorf("Run took %v after a %v timeout", elapsed, timeout)
			}
			exitCodeIs(t, res, 128+15)
			waitGone(t, readPid(t, req.WorkDir))
			// The log is shared by the attempts; an earlier one may have
			// written "started" too, and nothing else.
			if got := contents(); !strings.HasSuffix(got, "started\n") || strings.ReplaceAll(got, "started\n", "") != "" {
				t.Errorf("log = %q", got)
			}
			return
		}
	})
}

func TestKillGraceEscalatesToSIGKILL(t *testing.T) {
	start := time.Now()
	req, res, err := runShell(t, context.Background(), map[string]any{
		// Both the shell and its child ignore SIGTERM.
		"script":     `trap '' TERM; sleep 100 & echo $! > pid; wait; wait`,
		"timeout":    "200ms",
		"kill_grace": "300ms",
	}, nil)
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if elapsed < 500*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("Run took %v, want about timeout + kill_grace = 500ms", elapsed)
	}
	exitCodeIs(t, res, 128+9)
	waitGone(t, readPid(t, req.WorkDir))
}

func TestCancellationKillsProcessGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	done := make(chan error, 1)
	go func() {
		_, _, err := runShell(t, ctx, map[string]any{
			"script": `sleep 100 & echo $! > "` + pidFile + `"; wait`,
		}, nil)
		done <- err
	}()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("script did not start its child")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !cairn.IsRetryable(err) || !strings.Contains(err.Error(), "cancelled") {
			t.Fatalf("err = %v, want a cancellation error", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	waitGone(t, readPid(t, dir))
}

func TestBackgroundJobsDoNotOutliveTheAttempt(t *testing.T) {
	logModes(t, func(t *testing.T, log io.Writer, contents func() string) {
		start := time.Now()
		req, _, err := runShell(t, context.Background(), map[string]any{
			// The background job keeps the log open: Run must not wait for it.
			"script": `sleep 100 & echo $! > pid; echo done`,
		}, log)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Run took %v; it waited for a background job", d)
		}
		waitGone(t, readPid(t, req.WorkDir))
		if got := contents(); got != "done\n" {
			t.Errorf("log = %q", got)
		}
	})
}

func TestLargeOutputToLog(t *testing.T) {
	logModes(t, func(t *testing.T, log io.Writer, contents func() string) {
		const lines = 300000 // "0123456789\n" each: 3.3 MB
		_, _, err := runShell(t, context.Background(), map[string]any{
			"script": fmt.Sprintf(`yes 0123456789 | head -n %d; echo tail >&2`, lines),
		}, log)
		if err != nil {
			t.Fatal(err)
		}
		got := contents()
		if want := lines*11 + len("tail\n"); len(got) != want {
			t.Fatalf("log holds %d bytes, want %d", len(got), want)
		}
		if strings.Count(got, "0123456789\n") != lines || !strings.HasSuffix(got, "tail\n") {
			t.Fatal("log content garbled")
		}
	})
}

// failingLog fails every write.
type failingLog struct{}

func (failingLog) Write([]byte) (int, error) { return 0, errors.New("log disk full") }

func TestLogWriteFailureDoesNotHang(t *testing.T) {
	_, _, err := runShell(t, context.Background(), map[string]any{
		"script": `yes | head -c 1000000`,
	}, failingLog{})
	if err == nil || !strings.Contains(err.Error(), "log disk full") {
		t.Fatalf("err = %v, want the log's error", err)
	}
}

// Numbers and bools in argv and env — literal or resolved from a typed
// param — reach the command as their JSON text.
func TestScalarArgvAndEnvAreText(t *testing.T) {
	env, logBuf := tasktest.Env(t)
	req := tasktest.Request(t, json.RawMessage(`{"argv": ["/bin/sh", "-c", "echo \"$0 $1 $N $B $F\"", 42, true], "env": {"N": 7, "B": false, "F": 0.5}}`))
	if _, err := shell.New().Run(context.Background(), req, env); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(logBuf.String()); got != "42 true 7 false 0.5" {
		t.Fatalf("log %q, want %q", got, "42 true 7 false 0.5")
	}
}

// A failed command's exit code travels with the error, for the executor
// to record on the attempt, and the error stays retryable.
func TestExitCodeTravelsWithTheError(t *testing.T) {
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, json.RawMessage(`{"script": "exit 3"}`))
	_, err := shell.New().Run(context.Background(), req, env)
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) || ec.ExitCode() != 3 {
		t.Fatalf("error %v carries no exit code 3", err)
	}
	if !cairn.IsRetryable(err) {
		t.Fatalf("exit 3 is not retryable: %v", err)
	}
}

// timedLog records when each write arrived.
type timedLog struct {
	mu     sync.Mutex
	writes []string
	at     []time.Time
}

func (l *timedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, string(p))
	l.at = append(l.at, time.Now())
	return len(p), nil
}

// A long command's output reaches the log while it runs, not only at its
// end, and in order.
func TestOutputFollowedWhileRunning(t *testing.T) {
	env, _ := tasktest.Env(t)
	log := &timedLog{}
	env.Log = log
	req := tasktest.Request(t, json.RawMessage(`{"script": "echo first; sleep 1; echo second >&2"}`))
	if _, err := shell.New().Run(context.Background(), req, env); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	log.mu.Lock()
	defer log.mu.Unlock()
	if got := strings.Join(log.writes, ""); got != "first\nsecond\n" {
		t.Fatalf("log %q, want first then second", got)
	}
	if first := log.at[0]; end.Sub(first) < 500*time.Millisecond {
		t.Fatalf("first line reached the log %v before the end, want it while the command slept", end.Sub(first))
	}
}

// TestCorruptInputFails: an input whose stored bytes no longer match its
// digest (same size, other bytes) fails the task naming the digest, and
// the command never sees it.
func TestCorruptInputFails(t *testing.T) {
	env, buf := tasktest.Env(t)
	ctx := context.Background()
	ref, err := env.Artifacts.Put(ctx, "text/csv", strings.NewReader("a,b\n1,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	req := tasktest.Request(t, json.RawMessage(`{"script":"echo ran; cat \"$CAIRN_INPUT_DATA\""}`))
	req.Inputs = map[string]cairn.ArtifactRef{"data": ref}
	if _, err := shell.New().Run(ctx, req, env); err != nil {
		t.Fatal(err)
	}
	p, err := env.Artifacts.(interface {
		Path(cairn.ArtifactRef) (string, error)
	}).Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("a,b\n6,6\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	_, err = shell.New().Run(ctx, req, env)
	if !errors.Is(err, artifacts.ErrCorrupt) || !strings.Contains(err.Error(), ref.Digest) {
		t.Fatalf("corrupt input: err = %v, want ErrCorrupt naming %s", err, ref.Digest)
	}
	if n := strings.Count(buf.String(), "ran"); n != 1 {
		t.Fatalf("the command ran %d times, want once (not on the corrupt input): %q", n, buf.String())
	}
}

// Params are decoded once for attempts that give the same bytes (a chain
// or fan of one command), and anew for others: each attempt runs its own
// command, and a refusal names its own task.
func TestParamsOfEachAttempt(t *testing.T) {
	task := shell.New()
	run := func(taskID, params string) (string, error) {
		env, buf := tasktest.Env(t)
		req := tasktest.Request(t, json.RawMessage(params))
		req.TaskID = taskID
		_, err := task.Run(context.Background(), req, env)
		return buf.String(), err
	}
	for _, c := range []struct{ params, log string }{
		{`{"argv": ["echo", "a"]}`, "a\n"},
		{`{"argv": ["echo", "a"]}`, "a\n"},
		{`{"argv": ["echo", "b"]}`, "b\n"},
		{`{"argv": ["echo", "a"], "env": {"X": "1"}}`, "a\n"},
		{`{"argv": ["echo", "a"]}`, "a\n"},
	} {
		if got, err := run("t", c.params); err != nil || got != c.log {
			t.Errorf("%s: log %q, %v; want %q", c.params, got, err, c.log)
		}
	}
	for _, id := range []string{"first", "second"} {
		_, err := run(id, `{"argv": []}`)
		if err == nil || !strings.Contains(err.Error(), "shell "+id+": params: argv: empty") || cairn.IsRetryable(err) {
			t.Errorf("task %s: %v, want its own permanent refusal", id, err)
		}
	}
}

// Env.Idle is called once the command runs, before the wait for it, and
// once: the command here waits for a file that only Idle writes.
func TestIdleCalledWhileTheCommandRuns(t *testing.T) {
	var _ tasks.Idler = shell.New()
	dir := t.TempDir()
	var calls int
	env := tasks.Env{Log: &tasktest.Buffer{}, Idle: func() {
		calls++
		if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600); err != nil {
			t.Error(err)
		}
	}}
	req := tasks.Request{RunID: "r", TaskID: "t", Attempt: 1, WorkDir: dir,
		Params: json.RawMessage(`{"argv": ["/bin/sh", "-c", "while [ ! -e ready ]; do sleep 0.01; done"], "timeout": "20s"}`)}
	if _, err := shell.New().Run(context.Background(), req, env); err != nil {
		t.Fatalf("Run: %v (the command ran before Idle was called, or Idle never was)", err)
	}
	if calls != 1 {
		t.Errorf("Idle called %d times, want once", calls)
	}
}
