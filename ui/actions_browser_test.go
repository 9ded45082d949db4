package ui_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	"github.com/cairnml/cairn/ui/draw"
	"github.com/cairnml/cairn/workflows"
	"github.com/cairnml/cairn/workflows/catalog"

	"net/http/httptest"
)

// liveServer is cairn server's parts in the test process: a real SQLite
// store, the scheduler service with Adopt and its pool running real shell
// tasks, the workflows folder, the write side (package actions) and the
// UI, on an HTTP server; without authentication, as --insecure-no-auth.
func liveServer(t *testing.T, folder string) string {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(home, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := tasks.NewRegistry(shell.New(), noop.New())
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifacts.Open(filepath.Join(home, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(home, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	const owner = "test:1:server"
	broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: owner})
	svc := scheduler.NewService(st, broker, scheduler.ServiceOptions{Owner: owner, Adopt: true, PollInterval: 20 * time.Millisecond,
		Load: func(_ context.Context, r *cairn.Run) (scheduler.Graph, error) {
			return workflows.Parse(r.SourcePath, r.Source, workflows.Options{Types: reg})
		}})
	pool := executor.New(broker, executor.Options{Worker: owner, Owner: owner, Slots: 4, Types: reg,
		Artifacts: arts, Logs: logs, ScratchDir: t.TempDir()})
	svc.Start(ctx)
	pool.Start(ctx)
	t.Cleanup(func() {
		pool.StopAndCancel()
		svc.Stop(context.Background())
	})
	cat, err := catalog.New(folder, catalog.Options{Types: reg})
	if err != nil {
		t.Fatal(err)
	}
	acts, err := actions.New(actions.Options{Store: st, Service: svc, Workflows: cat, Types: reg})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ui.New(ui.Options{Store: st, Logs: logs, Actions: acts, Workflows: cat,
		Poll: 200 * time.Millisecond, LogPoll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBrowserActions uses the write side as a person does, in a real
// browser: triggers a workflow from its form (a refused param shown
// beside its input first), watches the DAG turn green, opens a failed
// task's log from its node, retries it and sees the run succeed, and
// cancels a running run; screenshots are kept (CAIRN_UI_SCREENSHOTS).
func TestBrowserActions(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := ui.StartBrowser(t)
	folder, scratch := t.TempDir(), t.TempDir()
	gate, marker, never := filepath.Join(scratch, "gate"), filepath.Join(scratch, "marker"), filepath.Join(scratch, "never")
	files := map[string]string{
		"hello.yaml": `name: hello
description: greets <everyone>, once the gate opens
params:
  who: {type: string, default: world, description: whom to greet}
  times: {type: int, default: 1}
  tags: {type: list, default: []}
tasks:
  - {id: start, type: noop}
  - id: greet
    type: shell
    needs: [start]
    with:
      script: 'while [ ! -e "` + gate + `" ]; do sleep 0.05; done; echo "hello ${{ params.who }} x${{ params.times }}"'
  - {id: done, type: noop, needs: [greet]}
`,
		"flaky.yaml": `name: flaky
description: fails the first time
tasks:
  - {id: first, type: noop}
  - id: flaky
    type: shell
    needs: [first]
    with:
      script: 'if [ -e "` + marker + `" ]; then echo "second time: fine"; else touch "` + marker + `"; echo "first time: the data is not there yet"; exit 3; fi'
  - {id: after, type: noop, needs: [flaky]}
`,
		"gated.yaml": `name: gated
tasks:
  - id: wait
    type: shell
    with:
      script: 'while [ ! -e "` + never + `" ]; do sleep 0.05; done'
`,
		"broken.yaml": "name: broken\ntasks:\n  - {id: a, type: nosuch}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(folder, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url := liveServer(t, folder)
	green := ui.RGB(draw.StyleOf(cairn.TaskSucceeded).Fill)
	node := func(task string) string { return `document.querySelector('[id="task-` + task + `"]')` }
	runState := `document.getElementById("run-state").textContent`

	// The workflows page: the good files, and the broken one with its problem.
	b.Do(t, "open the workflows page", chromedp.Navigate(url+"/workflows"), chromedp.WaitVisible(chromedp.CSS("table.workflows")))
	b.Shot(t, "workflows")
	if n := b.Int(t, `document.querySelectorAll("table.workflows tbody tr").length`); n != 4 {
		t.Errorf("the workflows page lists %d files, want 4", n)
	}
	if p := b.String(t, `document.querySelector('tr[data-file="broken.yaml"] .problem').textContent`); !strings.Contains(p, `broken.yaml:3:19: unknown task type "nosuch"`) {
		t.Errorf("the broken file's problem: %q", p)
	}

	// The Trigger form: a list that is not one is refused beside its input.
	b.Do(t, "open hello", chromedp.Click(chromedp.CSS(`a[href="/workflows/hello"]`)), chromedp.WaitVisible(chromedp.CSS("form#trigger")))
	if got := b.String(t, `document.getElementById("param.who").value`); got != "world" {
		t.Errorf("the who input holds %q, want its default", got)
	}
	b.Do(t, "fill the form badly", chromedp.SetValue(chromedp.CSS(`[id="param.who"]`), "you & me"),
		chromedp.SetValue(chromedp.CSS(`[id="param.times"]`), "3"), chromedp.SetValue(chromedp.CSS(`[id="param.tags"]`), "[unclosed"),
		chromedp.Click(chromedp.CSS("#trigger-run")), chromedp.WaitVisible(chromedp.CSS("#error-tags")))
	b.Shot(t, "trigger-refused")
	if got := b.String(t, `document.getElementById("param.who").value`); got != "you & me" {
		t.Errorf("after the refusal the who input holds %q, want what was typed", got)
	}
	b.Do(t, "fix the form and trigger", chromedp.SetValue(chromedp.CSS(`[id="param.tags"]`), `["a"]`), chromedp.Click(chromedp.CSS("#trigger-run")),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if f := b.String(t, `document.getElementById("flash").textContent`); !strings.Contains(f, "of hello triggered") {
		t.Errorf("the flash message: %q", f)
	}
	b.WaitFor(t, "greet to run", node("greet")+`.dataset.state === "running"`)
	b.Shot(t, "triggered-running")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.WaitFor(t, "the run to succeed", runState+` === "succeeded"`)
	for _, task := range []string{"start", "greet", "done"} {
		if got := b.String(t, `getComputedStyle(`+node(task)+`.querySelector("rect")).fill`); got != green {
			t.Errorf("node %s is filled %s, want green %s", task, got, green)
		}
	}
	b.Shot(t, "triggered-succeeded")
	b.Do(t, "open greet", ui.ClickLive(`a[id="task-greet"]`), chromedp.WaitVisible(chromedp.CSS("pre#log")))
	if log := b.String(t, `document.getElementById("log").textContent`); !strings.Contains(log, "hello you & me x3") {
		t.Errorf("greet's log: %q", log)
	}

	// A failed run: its failed task's log, then Retry from the task's page.
	b.Do(t, "open flaky", chromedp.Navigate(url+"/workflows/flaky"), chromedp.WaitVisible(chromedp.CSS("form#trigger")),
		chromedp.Click(chromedp.CSS("#trigger-run")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	b.WaitFor(t, "the flaky run to fail", runState+` === "failed"`)
	b.WaitFor(t, "the Retry buttons", `document.getElementById("retry-run") !== null`)
	b.Shot(t, "run-failed")
	b.Do(t, "open the failed task", ui.ClickLive(`a[id="task-flaky"]`), chromedp.WaitVisible(chromedp.CSS("pre#log")))
	if log := b.String(t, `document.getElementById("log").textContent`); !strings.Contains(log, "first time: the data is not there yet") {
		t.Errorf("the failed task's log: %q", log)
	}
	b.Shot(t, "task-failed")
	b.Do(t, "retry the task", ui.ClickLive("#retry-task"), chromedp.WaitVisible(chromedp.CSS("#flash")))
	b.WaitFor(t, "the retried run to succeed", runState+` === "succeeded"`)
	if f := b.String(t, `document.getElementById("flash").textContent`); !strings.Contains(f, "Retrying task flaky") {
		t.Errorf("the flash message: %q", f)
	}
	if got := b.String(t, `getComputedStyle(`+node("flaky")+`.querySelector("rect")).fill`); got != green {
		t.Errorf("the retried node is filled %s, want green", got)
	}
	if n := b.Int(t, `document.querySelectorAll("svg.gantt rect.bar").length`); n != 4 {
		t.Errorf("the Gantt has %d bars, want 4 (first, flaky twice, after)", n)
	}
	b.Shot(t, "run-retried")
	b.Do(t, "open the retried task", ui.ClickLive(`a[id="task-flaky"]`), chromedp.WaitVisible(chromedp.CSS("pre#log")))
	if log := b.String(t, `document.getElementById("log").textContent`); !strings.Contains(log, "second time: fine") {
		t.Errorf("attempt 2's log: %q", log)
	}
	if n := b.Int(t, `document.querySelectorAll("a.attempt").length`); n != 2 {
		t.Errorf("the task page lists %d attempts, want 2", n)
	}

	// A running run, cancelled with its button.
	b.Do(t, "trigger gated", chromedp.Navigate(url+"/workflows/gated"), chromedp.WaitVisible(chromedp.CSS("form#trigger")),
		chromedp.Click(chromedp.CSS("#trigger-run")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	b.WaitFor(t, "the wait task to run", node("wait")+`.dataset.state === "running"`)
	// Once more, without the trigger's message, so that the cancel's is new.
	run := b.String(t, `location.href`)
	// Cancel asks first: answered Cancel, nothing happens.
	b.Dismiss(true)
	b.Do(t, "cancel it, then say no", chromedp.Navigate(run), chromedp.WaitVisible(chromedp.CSS("#cancel-run")),
		ui.ClickLive("#cancel-run"))
	time.Sleep(300 * time.Millisecond) // a post, had one gone, would be answered by now
	if d := b.Dialogs(); len(d) != 1 || !strings.HasPrefix(d[0], "Cancel run ") || !strings.Contains(d[0], "running tasks are stopped") {
		t.Errorf("the Cancel button's confirmation: %q", d)
	}
	if st := b.String(t, runState); st != "running" {
		t.Fatalf("a cancel answered no: the run is %s", st)
	}
	b.Dismiss(false)
	b.Do(t, "cancel it", chromedp.Navigate(run), chromedp.WaitVisible(chromedp.CSS("#cancel-run")),
		ui.ClickLive("#cancel-run"), chromedp.WaitVisible(chromedp.CSS("#flash")))
	b.WaitFor(t, "the run to be cancelled", runState+` === "cancelled"`)
	if f := b.String(t, `document.getElementById("flash").textContent`); !strings.Contains(f, "Cancel of run") {
		t.Errorf("the flash message: %q", f)
	}
	if st := b.String(t, node("wait")+`.dataset.state`); st != "cancelled" {
		t.Errorf("the cancelled run's task is %s", st)
	}
	b.Shot(t, "run-cancelled")

	if bad := b.Blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}
