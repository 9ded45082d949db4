package actions_test

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
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/actions"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/ui"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/workflows"
	"github.com/cairnml/cairn/workflows/catalog"
)

// waitLimit bounds every wait for a run to reach a state: a hang fails
// the test instead of stalling the suite. It is no timed assertion.
const waitLimit = 60 * time.Second

// server is what cairn server wires, in the test process: a real SQLite
// store, the scheduler service with Adopt, its worker pool running real
// shell tasks, the workflows folder, the actions and the UI's handler on
// an HTTP server.
type server struct {
	t      *testing.T
	dir    string // the workflows folder
	arts   string // the artifact store's folder
	st     *sqlite.Store
	svc    *scheduler.Service
	owner  string
	cat    *catalog.Catalog
	srv    *httptest.Server
	client *http.Client
}

type serverOptions struct {
	// actionsGone is the actions' OwnerGone (the service's says nothing
	// is gone, so that it takes over only expired claims on its own).
	actionsGone func(owner string) bool
	// authorize, when set, is the handler's (else none: every caller is
	// core.NoAuthActor).
	authorize func(r *http.Request, need core.Access) (*http.Request, error)
	// hasSecret is the server's environment, for secret params.
	hasSecret func(env string) bool
	slots     int
	// serviceStore, when set, is the store the service is given, made
	// from the server's (a wrapper that counts its calls, say).
	serviceStore func(*sqlite.Store) scheduler.Store
}

func newServer(t *testing.T, o serverOptions) *server {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	s := &server{t: t, dir: filepath.Join(home, "workflows"), owner: "test:1:server", client: &http.Client{
		// The forms answer 303: the tests look at the answer itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.st, err = sqlite.Open(ctx, filepath.Join(home, "cairn.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.st.Close() })
	reg, err := tasks.NewRegistry(shell.New(), noop.New())
	if err != nil {
		t.Fatal(err)
	}
	s.arts = filepath.Join(home, "artifacts")
	arts, err := artifacts.Open(s.arts)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(home, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	broker := scheduler.NewBroker(s.st, scheduler.BrokerOptions{Name: s.owner})
	var svcStore scheduler.Store = s.st
	if o.serviceStore != nil {
		svcStore = o.serviceStore(s.st)
	}
	s.svc = scheduler.NewService(svcStore, broker, scheduler.ServiceOptions{
		Owner: s.owner, Adopt: true, OwnerTTL: 2 * time.Second, PollInterval: 20 * time.Millisecond,
		Load: func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) {
			wf, err := workflows.Parse(run.SourcePath, run.Source, workflows.Options{Types: reg})
			if err != nil {
				return nil, fmt.Errorf("%w: %v", scheduler.ErrCannotPlan, err)
			}
			return wf, nil
		},
	})
	if o.slots == 0 {
		o.slots = 4
	}
	pool := executor.New(broker, executor.Options{Worker: s.owner, Owner: s.owner, Slots: o.slots, Types: reg,
		Artifacts: arts, Logs: logs, ScratchDir: t.TempDir()})
	s.svc.Start(ctx)
	pool.Start(ctx)
	t.Cleanup(func() {
		pool.StopAndCancel()
		s.svc.Stop(context.Background())
	})
	if s.cat, err = catalog.New(s.dir, catalog.Options{Types: reg}); err != nil {
		t.Fatal(err)
	}
	acts, err := actions.New(actions.Options{Store: s.st, Service: s.svc, Workflows: s.cat, Types: reg, Artifacts: arts,
		OwnerGone: o.actionsGone, HasSecret: o.hasSecret, ClaimTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ui.New(ui.Options{Store: s.st, Logs: logs, Actions: acts, Schedules: acts, Workflows: s.cat, Authorize: o.authorize,
		OwnerGone: o.actionsGone, Poll: 100 * time.Millisecond, LogPoll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
	return s
}

// workflow writes a file into the workflows folder and reads the folder.
func (s *server) workflow(name, src string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, name), []byte(src), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.cat.Reload(); err != nil {
		s.t.Fatal(err)
	}
}

// call makes an API request and returns the status and the body.
func (s *server) call(method, path, body string, header ...string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// want makes an API request that must answer status, and decodes its
// JSON answer into out (if not nil).
func (s *server) want(status int, method, path, body string, out any) string {
	s.t.Helper()
	got, text := s.call(method, path, body)
	if got != status {
		s.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, got, text, status)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			s.t.Fatalf("%s %s: %v\n%s", method, path, err, text)
		}
	}
	return text
}

// trigger runs workflow name through the API and returns the run's id.
func (s *server) trigger(name, params string) string {
	s.t.Helper()
	var out struct{ ID string }
	s.want(201, "POST", "/api/v1/workflows/"+name+"/runs", `{"params": `+params+`}`, &out)
	if out.ID == "" {
		s.t.Fatal("trigger answered no id")
	}
	return out.ID
}

// runJSON is the part of GET /api/v1/runs/{id} the tests read.
type runJSON struct {
	ID     string         `json:"id"`
	State  string         `json:"state"`
	Owner  *string        `json:"owner"`
	Params map[string]any `json:"params"`
	Tasks  []struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
		History  []struct {
			Number int    `json:"number"`
			State  string `json:"state"`
		} `json:"attempt_history"`
	} `json:"tasks"`
}

func (r runJSON) task(id string) (state string, attempts []string) {
	for _, t := range r.Tasks {
		if t.ID == id {
			for _, a := range t.History {
				attempts = append(attempts, a.State)
			}
			return t.State, attempts
		}
	}
	return "", nil
}

func (s *server) run(id string) runJSON {
	s.t.Helper()
	var r runJSON
	s.want(200, "GET", "/api/v1/runs/"+id, "", &r)
	return r
}

// waitState waits until run id is in one of states.
func (s *server) waitState(id string, states ...string) runJSON {
	s.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		r := s.run(id)
		for _, st := range states {
			if r.State == st {
				return r
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s is %s after %s, want %v: %+v", id, r.State, waitLimit, states, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitTask waits until task of run id is in state.
func (s *server) waitTask(id, task, state string) {
	s.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if st, _ := s.run(id).task(task); st == state {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("task %s of run %s did not reach %s within %s", task, id, state, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) runCount() int {
	s.t.Helper()
	runs, err := s.st.ListRuns(context.Background(), scheduler.RunFilter{Limit: 1000})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(runs)
}

// audit returns the audit log of run id, oldest first, as "actor action task".
func (s *server) audit(id string) []string {
	s.t.Helper()
	as, err := s.st.ListAudit(context.Background(), scheduler.AuditFilter{RunID: id})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for i := len(as) - 1; i >= 0; i-- {
		out = append(out, strings.TrimSpace(as[i].Actor+" "+as[i].Action+" "+as[i].TaskID))
	}
	return out
}

const greetWF = `name: greet
description: says hello
params:
  who: {type: string, description: whom to greet}
  times: {type: int, default: 1}
  loud: {type: bool, default: false}
  tags: {type: list, default: []}
  token: {type: string, secret: true, required: false}
tasks:
  - id: hello
    type: shell
    with:
      script: 'echo "hello ${{ params.who }} x${{ params.times }} ${{ params.loud }}"'
  - id: after
    type: noop
    needs: [hello]
`

// A trigger with good params makes a run the service starts and
// finishes, its params typed by the workflow; an unknown, mistyped,
// missing or secret param is a 400 naming it, and nothing is created.
func TestTrigger(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("greet.yaml", greetWF)
	id := s.trigger("greet", `{"who": "<b>you</b>", "times": 3, "loud": true, "tags": ["a", "b"]}`)
	r := s.waitState(id, "succeeded")
	if r.Params["who"] != "<b>you</b>" || r.Params["times"] != float64(3) || r.Params["loud"] != true ||
		fmt.Sprint(r.Params["tags"]) != "[a b]" {
		t.Errorf("the run's params: %v", r.Params)
	}
	if got := s.audit(id); strings.Join(got, "|") != core.NoAuthActor+" trigger" {
		t.Errorf("audit %q", got)
	}
	// Numbers as strings are typed as -p types them.
	s.waitState(s.trigger("greet", `{"who": "x", "times": "4", "loud": "false"}`), "succeeded")

	before := s.runCount()
	for _, tc := range []struct{ params, param, says string }{
		{`{"who": "x", "tmes": 2}`, "tmes", `unknown param \"tmes\" (did you mean \"times\"?)`},
		{`{"who": "x", "times": "many"}`, "times", `want an int, got \"many\"`},
		{`{"who": "x", "times": 1.5}`, "times", `want an int, got \"1.5\"`},
		{`{"who": "x", "loud": "yes"}`, "loud", `want true or false`},
		{`{"who": "x", "tags": {"a": 1}}`, "tags", `want a list`},
		{`{"who": null}`, "who", `null is no value`},
		{`{"times": 2}`, "who", `is required`},
		{`{"who": "x", "token": "s3cret"}`, "token", `CAIRN_PARAM_TOKEN=VALUE`},
	} {
		code, body := s.call("POST", "/api/v1/workflows/greet/runs", `{"params": `+tc.params+`}`)
		var e struct {
			Code   string            `json:"code"`
			Params map[string]string `json:"params"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != 400 || e.Code != "bad_input" ||
			!strings.Contains(body, tc.says) || e.Params[tc.param] == "" {
			t.Errorf("trigger with %s: %d %s; want 400 naming %s: %s", tc.params, code, body, tc.param, tc.says)
		}
		// The param is named once: by its key in params, and once in
		// the message (was `param "times": param "times": want an int`).
		if twice := fmt.Sprintf("param %q: param %q", tc.param, tc.param); strings.Contains(body, strings.ReplaceAll(twice, `"`, `\"`)) ||
			strings.HasPrefix(e.Params[tc.param], fmt.Sprintf("param %q: ", tc.param)) {
			t.Errorf("trigger with %s: %s names the param twice", tc.params, body)
		}
	}
	if code, body := s.call("POST", "/api/v1/workflows/nope/runs", `{}`); code != 404 || !strings.Contains(body, `no workflow \"nope\"`) {
		t.Errorf("trigger of an unknown workflow: %d %s", code, body)
	}
	s.workflow("broken.yaml", "name: broken\ntasks:\n  - {id: a, type: noop}\n")
	s.workflow("broken.yaml", "name: broken\ntasks:\n  - {id: a, type: nope}\n")
	if code, body := s.call("POST", "/api/v1/workflows/broken/runs", `{}`); code != 409 || !strings.Contains(body, "broken.yaml:3:") {
		t.Errorf("trigger of a workflow whose file broke: %d %s", code, body)
	}
	if n := s.runCount(); n != before {
		t.Errorf("%d runs after the refused triggers, want %d: something was created", n, before)
	}
}

// claimCounter is the service's store, counting the claims it writes.
type claimCounter struct {
	*sqlite.Store
	mu     sync.Mutex
	claims map[string]int // run id → claims of it
}

func (c *claimCounter) count(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.claims[id]++
	}
}

func (c *claimCounter) claimsOf(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims[id]
}

func (c *claimCounter) ClaimRun(ctx context.Context, id, owner string, now time.Time, ttl time.Duration, steal bool) (*cairn.Run, error) {
	c.count(id)
	return c.Store.ClaimRun(ctx, id, owner, now, ttl, steal)
}

func (c *claimCounter) ClaimRuns(ctx context.Context, ids []string, owner string, now time.Time, ttl time.Duration) ([]string, error) {
	c.count(ids...)
	return c.Store.ClaimRuns(ctx, ids, owner, now, ttl)
}

// A triggered run is created claimed by the server's service, which
// drives it at once as created: no adopt pass claims it (a read of the
// unowned and active runs, a claim written and read back, the snapshot
// read), its row names the service from its creation on. A workflow with
// max_active_runs is left to an adopt pass, which alone counts the active
// runs: created unclaimed, then claimed.
func TestTriggerDrivesTheRunAsCreated(t *testing.T) {
	var cc *claimCounter
	s := newServer(t, serverOptions{serviceStore: func(st *sqlite.Store) scheduler.Store {
		cc = &claimCounter{Store: st, claims: map[string]int{}}
		return cc
	}})
	s.workflow("greet.yaml", greetWF)
	id := s.trigger("greet", `{"who": "you"}`)
	run, err := s.st.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Owner != s.owner {
		t.Errorf("the run as the trigger answered: owner %q, want %q (claimed as created)", run.Owner, s.owner)
	}
	s.waitState(id, "succeeded")
	if n := cc.claimsOf(id); n != 0 {
		t.Errorf("the triggered run was claimed %d times after its creation, want 0: an adopt pass took it", n)
	}

	s.workflow("capped.yaml", strings.Replace(greetWF, "name: greet", "name: capped\nmax_active_runs: 1", 1))
	id = s.trigger("capped", `{"who": "you"}`)
	s.waitState(id, "succeeded")
	if n := cc.claimsOf(id); n != 1 {
		t.Errorf("the triggered run of a workflow with max_active_runs was claimed %d times, want 1: by an adopt pass", n)
	}
}

// A required secret param comes from the server's environment: without
// it the trigger is refused; with it the run is made, the value never
// sent nor stored.
func TestTriggerSecret(t *testing.T) {
	env := map[string]bool{}
	s := newServer(t, serverOptions{hasSecret: func(e string) bool { return env[e] }})
	s.workflow("s.yaml", "name: s\nparams:\n  key: {type: string, secret: true}\ntasks:\n  - {id: a, type: noop}\n")
	if code, body := s.call("POST", "/api/v1/workflows/s/runs", `{}`); code != 400 || !strings.Contains(body, "lacks CAIRN_PARAM_KEY") {
		t.Errorf("trigger without the server's secret: %d %s", code, body)
	}
	env["CAIRN_PARAM_KEY"] = true
	id := s.trigger("s", `{}`)
	if r := s.run(id); r.Params["key"] != workflows.SecretPlaceholder("key") {
		t.Errorf("the secret param is stored as %v, want its placeholder", r.Params["key"])
	}
}

// The workflows routes list the folder, good files and bad, and check a
// file sent to them; a run of a file a client has is made from it.
func TestWorkflowsAndSubmit(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("greet.yaml", greetWF)
	s.workflow("bad.yaml", "name: bad\ntasks:\n  - {id: a, type: noop, needs: [zz]}\n")
	var list struct {
		Workflows []struct {
			Name   *string `json:"name"`
			File   string  `json:"file"`
			Digest *string `json:"digest"`
			Params []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Default  any    `json:"default"`
				Required bool   `json:"required"`
				Secret   bool   `json:"secret"`
			} `json:"params"`
			Tasks []struct {
				ID    string   `json:"id"`
				Needs []string `json:"needs"`
			} `json:"tasks"`
			Error    *string `json:"error"`
			Problems []struct {
				File      string
				Line, Col int
				Message   string
			} `json:"problems"`
		} `json:"workflows"`
	}
	s.want(200, "GET", "/api/v1/workflows", "", &list)
	if len(list.Workflows) != 2 {
		t.Fatalf("workflows: %+v", list)
	}
	bad, greet := list.Workflows[0], list.Workflows[1]
	if bad.File != "bad.yaml" || bad.Error == nil || !strings.Contains(*bad.Error, "bad.yaml:3:") || len(bad.Problems) != 1 ||
		bad.Problems[0].Line != 3 || bad.Problems[0].File != "bad.yaml" || bad.Name != nil {
		t.Errorf("bad.yaml: %+v", bad)
	}
	if greet.Name == nil || *greet.Name != "greet" || greet.Error != nil || greet.Digest == nil || len(greet.Params) != 5 ||
		greet.Params[0].Name != "who" || !greet.Params[0].Required || greet.Params[1].Default != float64(1) ||
		!greet.Params[4].Secret || len(greet.Tasks) != 2 || fmt.Sprint(greet.Tasks[1].Needs) != "[hello]" {
		t.Errorf("greet.yaml: %+v", greet)
	}
	s.want(200, "GET", "/api/v1/workflows/greet", "", nil)
	s.want(404, "GET", "/api/v1/workflows/nope", "", nil)

	var v struct {
		Valid    bool `json:"valid"`
		Problems []struct {
			File      string
			Line, Col int
			Message   string
		} `json:"problems"`
		Workflow *struct {
			Name string `json:"name"`
		} `json:"workflow"`
	}
	s.want(200, "POST", "/api/v1/workflows/validate?file=mine.yaml", "name: mine\ntasks:\n  - {id: a, type: noop, with: {x: 1}}\n", &v)
	if v.Valid || len(v.Problems) != 1 || v.Problems[0].File != "mine.yaml" || v.Problems[0].Line != 3 || v.Workflow != nil {
		t.Errorf("validate of a bad file: %+v", v)
	}
	s.want(200, "POST", "/api/v1/workflows/validate", greetWF, &v)
	if !v.Valid || len(v.Problems) != 0 || v.Workflow == nil || v.Workflow.Name != "greet" {
		t.Errorf("validate of a good file: %+v", v)
	}

	before := s.runCount()
	code, body := s.call("POST", "/api/v1/runs", `{"file": "mine.yaml", "source": "name: mine\ntasks:\n  - {id: a, type: nope}\n"}`)
	if code != 400 || !strings.Contains(body, `"problems"`) || !strings.Contains(body, `"line": 3`) || !strings.Contains(body, "unknown task type") {
		t.Errorf("submit of a bad file: %d %s", code, body)
	}
	if code, body := s.call("POST", "/api/v1/runs", `{"file": "../x.yaml", "source": "name: x"}`); code != 400 {
		t.Errorf("submit of a file with a folder: %d %s", code, body)
	}
	if s.runCount() != before {
		t.Error("a refused submit made a run")
	}
	src, _ := json.Marshal("name: mine\nparams:\n  n: {type: int}\ntasks:\n  - {id: a, type: shell, with: {script: 'test ${{ params.n }} = 5'}}\n")
	var out struct{ ID string }
	s.want(201, "POST", "/api/v1/runs", `{"file": "mine.yaml", "source": `+string(src)+`, "params": {"n": 5}}`, &out)
	s.waitState(out.ID, "succeeded")
	if got := s.audit(out.ID); len(got) != 1 || got[0] != core.NoAuthActor+" trigger" {
		t.Errorf("audit of a submitted run: %q", got)
	}
}

// flakyWF's task fails the first time (it leaves a marker) and succeeds
// after; gateWF's waits for a file.
func flakyWF(marker string) string {
	return `name: flaky
tasks:
  - {id: first, type: noop}
  - id: flaky
    type: shell
    needs: [first]
    with:
      script: 'if [ -e "` + marker + `" ]; then echo second time; else touch "` + marker + `"; echo first time; exit 3; fi'
  - {id: after, type: noop, needs: [flaky]}
`
}

func gateWF(gate string) string {
	return `name: gated
tasks:
  - id: wait
    type: shell
    with:
      script: 'while [ ! -e "` + gate + `" ]; do sleep 0.02; done'
`
}

// Retry of a failed run through the API: its failed task runs again as
// attempt 2 and the run succeeds; a run that has not finished is a 409,
// a task that cannot be retried a 409, an unknown one a 404. Cancel stops
// a running run (202) and is a 409 once it finished. Each action is in
// the audit log.
func TestRetryAndCancel(t *testing.T) {
	s := newServer(t, serverOptions{})
	marker, gate := filepath.Join(t.TempDir(), "marker"), filepath.Join(t.TempDir(), "gate")
	s.workflow("flaky.yaml", flakyWF(marker))
	s.workflow("gated.yaml", gateWF(gate))

	failed := s.trigger("flaky", `{}`)
	r := s.waitState(failed, "failed")
	if st, atts := r.task("flaky"); st != "failed" || strings.Join(atts, " ") != "failed" {
		t.Fatalf("flaky after the first run: %s %v", st, atts)
	}
	for _, tc := range []struct {
		body   string
		status int
		says   string
	}{
		{`{"task": "after"}`, 409, "its upstream flaky failed; retry that task, or the whole run"},
		{`{"task": "first"}`, 409, "only a failed or cancelled task runs again"},
		{`{"task": "nope"}`, 404, `has no task \"nope\"`},
		{`{"tsk": "flaky"}`, 400, `unknown key \"tsk\" in the request body (it takes \"task\")`},
	} {
		if code, body := s.call("POST", "/api/v1/runs/"+failed+"/retry", tc.body); code != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("retry %s: %d %s, want %d saying %s", tc.body, code, body, tc.status, tc.says)
		}
	}

	running := s.trigger("gated", `{}`)
	s.waitTask(running, "wait", "running")
	if code, body := s.call("POST", "/api/v1/runs/"+running+"/retry", `{}`); code != 409 || !strings.Contains(body, "is running: it can be retried once it has finished") {
		t.Errorf("retry of a running run: %d %s", code, body)
	} else if strings.Contains(body, "state changed concurrently") {
		// Nothing raced: the sentinel's own text would mislead.
		t.Errorf("retry of a running run: %s says the state changed concurrently", body)
	}

	s.want(202, "POST", "/api/v1/runs/"+failed+"/retry", `{}`, nil)
	r = s.waitState(failed, "succeeded")
	st, atts := r.task("flaky")
	if st != "succeeded" || strings.Join(atts, " ") != "failed succeeded" {
		t.Errorf("flaky after the retry: %s, attempts %v; want succeeded at attempt 2", st, atts)
	}
	if st, atts := r.task("first"); st != "succeeded" || len(atts) != 1 {
		t.Errorf("first (succeeded before) after the retry: %s, attempts %v; want it not run again", st, atts)
	}
	if st, _ := r.task("after"); st != "succeeded" {
		t.Errorf("after: %s", st)
	}
	if code, _ := s.call("POST", "/api/v1/runs/"+failed+"/retry", `{}`); code != 409 {
		t.Errorf("retry of a run that succeeded: %d", code)
	}

	s.want(202, "POST", "/api/v1/runs/"+running+"/cancel", "", nil)
	r = s.waitState(running, "cancelled")
	if st, _ := r.task("wait"); st != "cancelled" {
		t.Errorf("the cancelled run's task: %s", st)
	}
	if code, body := s.call("POST", "/api/v1/runs/"+running+"/cancel", ""); code != 409 || !strings.Contains(body, "already cancelled") {
		t.Errorf("cancel of a cancelled run: %d %s", code, body)
	}
	// A cancelled run is retried too: its task runs again.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.want(202, "POST", "/api/v1/runs/"+running+"/retry", `{"task": "wait"}`, nil)
	r = s.waitState(running, "succeeded")
	if _, atts := r.task("wait"); strings.Join(atts, " ") != "cancelled succeeded" {
		t.Errorf("the cancelled task's attempts after its retry: %v", atts)
	}

	a := core.NoAuthActor
	if got, want := s.audit(failed), []string{a + " trigger", a + " retry"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit of the retried run: %q, want %q", got, want)
	}
	if got, want := s.audit(running), []string{a + " trigger", a + " cancel", a + " retry wait"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit of the cancelled run: %q, want %q", got, want)
	}
}

// A retry whose failed task reads an artifact of a succeeded task that
// is gone (cairn gc removed it) is a 409 naming the producer, its output
// and what to do, and changes nothing: no attempt is spent failing on
// "artifact not found" (trial finding 17). Once the artifact is back, the
// retry runs.
func TestRetryRefusedWhenInputGone(t *testing.T) {
	s := newServer(t, serverOptions{})
	marker := filepath.Join(t.TempDir(), "ok")
	s.workflow("gcretry.yaml", `name: gcretry
tasks:
  - id: a
    type: shell
    with: {script: 'echo made > o.txt', outputs: {o: o.txt}}
  - id: b
    type: shell
    inputs: {i: "${{ tasks.a.outputs.o }}"}
    with: {script: 'cat "$CAIRN_INPUT_I" && test -e "`+marker+`"'}
`)
	id := s.trigger("gcretry", `{}`)
	r := s.waitState(id, "failed")
	var blob, saved string
	filepath.WalkDir(filepath.Join(s.arts, "sha256"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blob = p
		}
		return nil
	})
	if blob == "" {
		t.Fatal("a's output is not in the artifact store")
	}
	saved = blob + ".saved"
	if err := os.Rename(blob, saved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := s.call("POST", "/api/v1/runs/"+id+"/retry", `{}`)
	for _, want := range []string{"cannot be retried", "task a's output o (sha256:", "cairn gc removed it",
		"run workflow gcretry again", "cairn reproduce " + id + " --reread"} {
		if code != 409 || !strings.Contains(body, want) {
			t.Errorf("retry with a's output gone: %d %s; want 409 saying %q", code, body, want)
		}
	}
	after := s.run(id)
	if _, atts := after.task("b"); after.State != "failed" || len(atts) != 1 {
		t.Errorf("the refused retry changed the run: %s, b's attempts %v", after.State, atts)
	}
	if got := s.audit(id); len(got) != 1 {
		t.Errorf("the refused retry is in the audit log: %q", got)
	}
	if _, atts := r.task("b"); len(atts) != 1 {
		t.Fatalf("b before: %v", atts)
	}
	if err := os.Rename(saved, blob); err != nil {
		t.Fatal(err)
	}
	s.want(202, "POST", "/api/v1/runs/"+id+"/retry", `{}`, nil)
	r = s.waitState(id, "succeeded")
	if _, atts := r.task("b"); strings.Join(atts, " ") != "failed succeeded" {
		t.Errorf("b after the retry: %v", atts)
	}
}

// Resume of an orphaned run — its process is gone, its claim not yet
// expired — makes the server take it and finish it now; a run a live
// process drives is a 409, and so is one that finished.
func TestResume(t *testing.T) {
	const dead, alive = "thishost:99:dead", "otherhost:7:alive"
	s := newServer(t, serverOptions{actionsGone: func(owner string) bool { return owner == dead }})
	wf, err := workflows.Parse("orphan.yaml", []byte("name: orphan\ntasks:\n  - {id: a, type: noop}\n  - {id: b, type: noop, needs: [a]}\n"),
		workflows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(owner string) string {
		params, err := wf.BindParams(nil)
		if err != nil {
			t.Fatal(err)
		}
		run, trs := wf.NewRun(params, time.Now())
		run.Owner, run.OwnerExpiresAt = owner, time.Now().Add(time.Hour)
		if err := s.st.CreateRun(context.Background(), run, trs); err != nil {
			t.Fatal(err)
		}
		return run.ID
	}
	orphan, owned := mk(dead), mk(alive)
	if code, body := s.call("POST", "/api/v1/runs/"+owned+"/resume", ""); code != 409 || !strings.Contains(body, alive+" drives it") {
		t.Errorf("resume of a run a live process drives: %d %s", code, body)
	}
	var page struct {
		Runs []struct {
			ID       string `json:"id"`
			Orphaned bool   `json:"orphaned"`
		} `json:"runs"`
	}
	s.want(200, "GET", "/api/v1/runs", "", &page)
	for _, r := range page.Runs {
		if r.Orphaned != (r.ID == orphan) {
			t.Errorf("run %s orphaned: %v", r.ID, r.Orphaned)
		}
	}
	s.want(202, "POST", "/api/v1/runs/"+orphan+"/resume", "", nil)
	s.waitState(orphan, "succeeded")
	if got := s.audit(orphan); strings.Join(got, "|") != core.NoAuthActor+" resume" {
		t.Errorf("audit: %q", got)
	}
	if code, body := s.call("POST", "/api/v1/runs/"+orphan+"/resume", ""); code != 409 || !strings.Contains(body, "already succeeded") {
		t.Errorf("resume of a finished run: %d %s", code, body)
	}
	if r := s.run(owned); r.State != "queued" || r.Owner == nil || *r.Owner != alive {
		t.Errorf("the run a live process drives: %s by %v", r.State, r.Owner)
	}
}

// With authentication, the audit log records the caller's token.
func TestAuditActor(t *testing.T) {
	s := newServer(t, serverOptions{authorize: func(r *http.Request, need core.Access) (*http.Request, error) {
		if r.Header.Get("Authorization") != "Bearer good" {
			return nil, ui.ErrUnauthenticated
		}
		return r.WithContext(core.WithCaller(r.Context(), core.Caller{Actor: "tok0123", Role: "operator", Access: core.Operate, Bearer: true})), nil
	}})
	s.workflow("greet.yaml", greetWF)
	if code, _ := s.call("POST", "/api/v1/workflows/greet/runs", `{"params": {"who": "x"}}`); code != 401 {
		t.Errorf("trigger without a token: %d", code)
	}
	code, body := s.call("POST", "/api/v1/workflows/greet/runs", `{"params": {"who": "x"}}`, "Authorization", "Bearer good")
	var out struct{ ID string }
	if err := json.Unmarshal([]byte(body), &out); code != 201 || err != nil {
		t.Fatalf("trigger: %d %s", code, body)
	}
	if got := s.audit(out.ID); strings.Join(got, "|") != "tok0123 trigger" {
		t.Errorf("audit: %q", got)
	}
}

// A trigger that gets several params wrong is told about each at once: a
// secret sent along no longer hides the others (it was the only one
// named, and the next try found the next problem).
func TestTriggerNamesEveryRefusedParam(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("greet.yaml", greetWF)
	code, body := s.call("POST", "/api/v1/workflows/greet/runs", `{"params": {"tmes": 2, "loud": "yes", "token": "s3cret"}}`)
	var e struct {
		Params map[string]string `json:"params"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || code != 400 {
		t.Fatalf("%d %s", code, body)
	}
	for _, p := range []string{"tmes", "loud", "token", "who"} {
		if e.Params[p] == "" {
			t.Errorf("the refusal does not name %s:\n%s", p, body)
		}
	}
	if n := s.runCount(); n != 0 {
		t.Errorf("%d runs made", n)
	}
}

// A trigger of a workflow name of 100 KB says no such workflow without
// sending the name back whole.
func TestTriggerLongNameNotEchoed(t *testing.T) {
	s := newServer(t, serverOptions{})
	code, body := s.call("POST", "/api/v1/workflows/"+strings.Repeat("w", 100_000)+"/runs", `{}`)
	if code != 404 || len(body) > 4000 || !strings.Contains(body, "… (100000 bytes)") {
		t.Errorf("%d, %d bytes: %.300s", code, len(body), body)
	}
}

// A run whose task names a pool the database does not declare, or more
// slots than the pool has, is refused with a 400 whose problems say
// where (FILE:LINE:COL at the task's pool:), naming no run (none was
// made), whether the file was sent or is the server's.
func TestTriggerPoolProblems(t *testing.T) {
	s := newServer(t, serverOptions{})
	s.workflow("pooled.yaml", "name: pooled\ntasks:\n  - id: a\n    type: noop\n    pool: gpu\n")
	before := s.runCount()
	for _, tc := range []struct {
		what, path, body, want string
		line                   int
	}{
		{"by name, undeclared", "/api/v1/workflows/pooled/runs", `{}`, "pool gpu is not declared", 5},
		{"sent, undeclared", "/api/v1/runs", `{"file": "mine.yaml", "source": "name: mine\ntasks:\n  - id: a\n    type: noop\n    pool: gpu\n"}`, "pool gpu is not declared", 5},
		{"sent, too many slots", "/api/v1/runs", `{"file": "mine.yaml", "source": "name: mine\npools: {gpu: 1}\ntasks:\n  - id: a\n    type: noop\n    pool: gpu\n    pool_slots: 3\n"}`, "takes 3 slots of pool gpu, which has 1", 7},
	} {
		code, body := s.call("POST", tc.path, tc.body)
		if line := fmt.Sprintf(`"line": %d`, tc.line); code != 400 || !strings.Contains(body, `"problems"`) || !strings.Contains(body, tc.want) || !strings.Contains(body, line) {
			t.Errorf("%s: %d %s; want a 400 with the problem at line %d: %s", tc.what, code, body, tc.line, tc.want)
		}
		if strings.Contains(body, "create run") {
			t.Errorf("%s: the refusal names a run that was never made: %s", tc.what, body)
		}
	}
	if s.runCount() != before {
		t.Error("a refused run was made")
	}
}
