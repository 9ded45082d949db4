package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/tasks/split"
	"github.com/cairnml/cairn/tasks/train"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/workflows"
)

// The SQLite store and the log folder are what the UI reads through.
var (
	_ core.Reader        = (*sqlite.Store)(nil)
	_ LogReader          = (*artifacts.Logs)(nil)
	_ core.LineageReader = (*sqlite.Store)(nil)
	_ ArtifactReader     = (*artifacts.Dir)(nil)
)

// fixture is a real SQLite store, artifact and log folders, the built-in
// task types a test workflow uses, and the UI over them on an httptest
// server.
type fixture struct {
	dir  string
	st   *sqlite.Store
	arts *artifacts.Dir
	logs *artifacts.Logs
	reg  *tasks.Registry
	h    *Handler
	srv  *httptest.Server
	// cache, when set, is where the pool's attempts look for earlier
	// successes to reuse (nil: every task runs).
	cache executor.Cache
}

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir()}
	var err error
	if f.st, err = sqlite.Open(ctx, filepath.Join(f.dir, "cairn.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	if f.arts, err = artifacts.Open(filepath.Join(f.dir, "artifacts")); err != nil {
		t.Fatal(err)
	}
	if f.logs, err = artifacts.OpenLogs(filepath.Join(f.dir, "logs")); err != nil {
		t.Fatal(err)
	}
	if f.reg, err = tasks.NewRegistry(shell.New(), noop.New(), collect.New(collect.Options{}), split.New(), train.New(), evaluate.New()); err != nil {
		t.Fatal(err)
	}
	o := Options{Store: f.st, Logs: f.logs, LogPoll: 50 * time.Millisecond, Poll: 500 * time.Millisecond,
		Lineage: f.st, Artifacts: f.arts, LineageNamespace: "cairn://test"}
	for _, m := range mod {
		m(&o)
	}
	if f.h, err = New(o); err != nil {
		t.Fatal(err)
	}
	f.srv = newServer(t, f.h)
	return f
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// run parses a workflow, creates its run with params (as -p gives them)
// and drives it to its end with an in-process pool, as cairn run does.
func (f *fixture) run(t *testing.T, src string, params map[string]string) *cairn.Run {
	t.Helper()
	run, trs, wf := f.prepare(t, src, params)
	return f.drive(t, run, trs, wf)
}

// prepare parses a workflow and makes its run with params, not stored yet.
func (f *fixture) prepare(t *testing.T, src string, params map[string]string) (*cairn.Run, []*cairn.TaskRun, *workflows.Workflow) {
	t.Helper()
	path := filepath.Join(f.dir, "wf-"+time.Now().Format("150405.000000000")+".yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	wf, err := workflows.ParseFile(path, workflows.Options{Types: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	bound, err := wf.BindParams(params)
	if err != nil {
		t.Fatal(err)
	}
	run, trs := wf.NewRun(bound, time.Now())
	return run, trs, wf
}

// drive creates run with its task runs and drives it over g to its end.
func (f *fixture) drive(t *testing.T, run *cairn.Run, trs []*cairn.TaskRun, g scheduler.Graph) *cairn.Run {
	t.Helper()
	final, err := f.driveErr(t, run, trs, g)
	if err != nil {
		t.Fatal(err)
	}
	return final
}

// driveErr is drive for another goroutine than the test's: it returns
// its error.
func (f *fixture) driveErr(t *testing.T, run *cairn.Run, trs []*cairn.TaskRun, g scheduler.Graph) (*cairn.Run, error) {
	if err := f.st.CreateRun(context.Background(), run, trs); err != nil {
		return nil, err
	}
	return f.driveStored(t, run, g)
}

// driveStored drives a run already stored to its end; for another
// goroutine than the test's, it returns its error.
func (f *fixture) driveStored(t *testing.T, run *cairn.Run, g scheduler.Graph) (*cairn.Run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	broker := scheduler.NewBroker(f.st, scheduler.BrokerOptions{})
	pool := executor.New(broker, executor.Options{Worker: "test-worker", RunID: run.ID, Slots: 4, Types: f.reg,
		Artifacts: f.arts, Logs: f.logs, ScratchDir: t.TempDir(), Version: "ui-test", Cache: f.cache})
	started := false
	driver := scheduler.NewDriver(f.st, broker, scheduler.DriverOptions{Owner: "test:1:" + run.ID,
		Claimed: func() { started = true; pool.Start(context.WithoutCancel(ctx)) }})
	final, err := driver.Drive(ctx, run.ID, g)
	if started {
		pool.Stop(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("drive run %s: %w", run.ID, err)
	}
	return final, nil
}

// get fetches path from the test server.
func (f *fixture) get(t *testing.T, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return f.do(t, http.MethodGet, path, nil, hdr...)
}

func (f *fixture) do(t *testing.T, method, path string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// getJSON fetches path, wants status, and decodes the body into v.
func (f *fixture) getJSON(t *testing.T, path string, status int, v any) {
	t.Helper()
	resp, body := f.get(t, path)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// The workflows the tests run.
const (
	// pipeline: a task that succeeds, one that fails after a retry
	// writing a log, and one held back by it.
	pipelineWF = `name: pipeline
description: A small pipeline for the UI tests.
params:
  greeting: {type: string, default: hello}
tasks:
  - id: hello
    type: shell
    description: Says hello.
    with:
      script: echo "${{ params.greeting }} from $CAIRN_TASK_ID"
  - id: fails
    type: shell
    needs: [hello]
    retries: 1
    retry_backoff: 10ms
    with:
      script: |
        echo "attempt $CAIRN_ATTEMPT starting"
        echo "the data is bad" >&2
        exit 3
  - id: after
    type: noop
    needs: [fails]
  - id: side
    type: noop
    needs: [hello]
`
	// hostile: markup in the description, a param, a task description,
	// the log and the error of a failing task.
	hostileWF = `name: hostile
description: 'Desc <script>alert("desc")</script><img src=x onerror=alert(1)>'
params:
  p: {type: string, default: '<script>alert("param")</script>'}
tasks:
  - id: bad
    type: shell
    description: 'Task <script>alert("task")</script>'
    with:
      script: |
        echo '<script>alert("log")</script><img src=x onerror=alert(2)>'
        echo '</pre><script>alert("err")</script>' >&2
        exit 7
`
	// ml: a synthetic data set, split, trained and evaluated (ROC curve,
	// confusion matrix, metrics).
	mlWF = `name: ml
tasks:
  - id: data
    type: collect
    with: {source: synthetic, rows: 200, features: 3, seed: 1, label: y}
  - id: split
    type: split
    inputs: {data: "${{ tasks.data.outputs.data }}"}
    with: {label: y, test_size: 0.3, seed: 1}
  - id: train
    type: train
    inputs: {train: "${{ tasks.split.outputs.train }}"}
    with: {model: logistic_regression, label: y}
  - id: evaluate
    type: evaluate
    inputs:
      model: "${{ tasks.train.outputs.model }}"
      test: "${{ tasks.split.outputs.test }}"
    with:
      gate: {accuracy: ">= 0.2"}
`
)
