package ui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/draw"
)

// chromiumPath is Debian's chromium, which the browser tests drive; it is
// never downloaded at run time.
const chromiumPath = "/usr/bin/chromium"

var installOnce sync.Once

// chromium returns the browser's path, installing Debian's package first
// when it is missing and this is root with apt-get (as make deps does);
// it skips the test, saying why, only when it is missing and cannot be
// installed.
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	var why string
	installOnce.Do(func() {
		if os.Geteuid() != 0 {
			why = "not root"
			return
		}
		if _, err := exec.LookPath("apt-get"); err != nil {
			why = "no apt-get"
			return
		}
		t.Logf("installing chromium with apt-get (make deps does this before the tests)")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		install := func() error {
			out, err := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "chromium").CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, lastLines(string(out), 3))
			}
			return nil
		}
		if err := install(); err != nil {
			exec.CommandContext(ctx, "apt-get", "update", "-qq").Run()
			if err := install(); err != nil {
				why = "apt-get install chromium: " + err.Error()
			}
		}
	})
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if why == "" {
		why = "an earlier attempt to install it failed"
	}
	t.Skipf("SKIP: the browser tests need Debian's chromium at %s, which is missing and could not be installed (%s); as root, make deps installs it", chromiumPath, why)
	return ""
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], " / ")
}

// browser starts a headless chromium with a fresh profile for the test,
// and collects what its pages write to the console (CSP violations
// included: the browser's log).
type browser struct {
	ctx      context.Context
	shots    string
	mu       sync.Mutex
	messages []string
	dialogs  []string // the messages of the dialogs the pages opened
	dismiss  bool     // answer the next dialogs with Cancel (else OK)
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx}
	// A dialog (window.confirm) blocks the page, and the action that
	// opened it, until it is answered: answered here, as b.dismiss says.
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			accept := !b.dismiss
			b.mu.Unlock()
			go chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: accept})
		}
	}()
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, string(m.Type)+": "+m.Text)
			b.mu.Unlock()
		}
	}()
	// Screenshots go to $CAIRN_UI_SCREENSHOTS when it is set (kept), else
	// to the test's temporary folder (removed with it).
	b.shots = os.Getenv("CAIRN_UI_SCREENSHOTS")
	if b.shots == "" {
		b.shots = t.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s (set CAIRN_UI_SCREENSHOTS to keep them)", b.shots)
	return b
}

// do runs steps with a bound on the time they may take.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is true in the page.
func (b *browser) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// until waits, up to a minute, until a JavaScript expression is true in
// the page, as waitFor, but through a navigation or an open dialog: an
// evaluation that fails (the page going away, a dialog not yet answered)
// is tried again.
func (b *browser) until(t *testing.T, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shot saves a screenshot of the whole page as name.png.
//
// It waits for the page to be loaded: after a form's post the next page
// can be in the DOM (what a test waited for shows) before it is laid out,
// and a screenshot then has no size ("Cannot take screenshot with 0
// width", TestBrowserModels 1 run in 14 after a rollback).
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	b.until(t, "the page loaded for "+name, `document.readyState === "complete" && document.documentElement.scrollWidth > 0`)
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	var png []byte
	var err error
	for try := 0; ; try++ {
		if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil || !strings.Contains(err.Error(), "0 width") || try == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// blocked returns the console messages that say the page's policy
// refused something, or that report an error.
func (b *browser) blocked() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.messages {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Refused") || strings.HasPrefix(m, "exception") {
			out = append(out, m)
		}
	}
	return out
}

// rgb turns "#rrggbb" into the "rgb(r, g, b)" getComputedStyle gives.
func rgb(hex string) string {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	return fmt.Sprintf("rgb(%d, %d, %d)", v>>16, v>>8&0xff, v&0xff)
}

// TestBrowser opens the pages in a real browser: the runs list, a run
// with its DAG coloured by state, a failed task's log by a click on its
// node, an evaluation's ROC curve; and nothing the pages do is refused by
// their Content-Security-Policy.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f := newFixture(t)
	failed := f.run(t, pipelineWF, nil)
	ml := f.run(t, mlWF, nil)
	hostile := f.run(t, hostileWF, nil)
	url := f.srv.URL

	b.do(t, "open the runs page", chromedp.Navigate(url+"/runs"), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	b.shot(t, "runs")
	if n := eval[int](t, b, `document.querySelectorAll("table.runs tbody tr").length`); n != 3 {
		t.Errorf("the runs page shows %d runs, want 3", n)
	}
	if got := eval[string](t, b, `document.querySelector("table.runs tbody tr").dataset.run`); got != hostile.ID {
		t.Errorf("the first run is %s, want the newest, %s", got, hostile.ID)
	}

	// Filter by state with the form.
	b.do(t, "filter failed runs", chromedp.SetValue(chromedp.CSS(`select[name="state"]`), "failed"),
		chromedp.Click(chromedp.CSS(`form.filters button`)), chromedp.WaitReady(chromedp.CSS(`option[value="failed"][selected]`)))
	if n := eval[int](t, b, `document.querySelectorAll("table.runs tbody tr").length`); n != 2 {
		t.Errorf("state=failed shows %d runs, want 2 (pipeline and hostile)", n)
	}

	// Open the failed run: its DAG, each node coloured by its state.
	b.do(t, "open the failed run", clickLive(`a[href="/runs/`+failed.ID+`"]`), chromedp.WaitVisible(chromedp.CSS("svg.dag")))
	b.shot(t, "run-failed")
	for task, state := range map[string]cairn.TaskState{"hello": cairn.TaskSucceeded, "fails": cairn.TaskFailed, "after": cairn.TaskUpstreamFailed, "side": cairn.TaskSucceeded} {
		sel := `document.querySelector('[id="task-` + task + `"]')`
		if got := eval[string](t, b, sel+`.dataset.state`); got != string(state) {
			t.Errorf("node %s is %s, want %s", task, got, state)
		}
		if got := eval[string](t, b, `getComputedStyle(`+sel+`.querySelector("rect")).fill`); got != rgb(draw.StyleOf(state).Fill) {
			t.Errorf("node %s (%s) is filled %s, want %s", task, state, got, rgb(draw.StyleOf(state).Fill))
		}
	}
	if n := eval[int](t, b, `document.querySelectorAll("svg.gantt rect.bar").length`); n != 4 {
		t.Errorf("the Gantt has %d bars, want 4 (hello, side, fails twice)", n)
	}

	// A click on the failed node opens its page: the error and the log.
	b.do(t, "open the failed task", clickLive(`a[id="task-fails"]`), chromedp.WaitVisible(chromedp.CSS("pre#log")))
	b.shot(t, "task-failed")
	if log := eval[string](t, b, `document.getElementById("log").textContent`); !strings.Contains(log, "attempt 2 starting") || !strings.Contains(log, "the data is bad") {
		t.Errorf("the failed task's log: %q", log)
	}
	if e := eval[string](t, b, `document.getElementById("attempt-error").textContent`); !strings.Contains(e, "exit code 3") {
		t.Errorf("the attempt's error: %q", e)
	}

	// An evaluation's results: metrics and the ROC curve.
	b.do(t, "open the ML run", chromedp.Navigate(url+"/runs/"+ml.ID), chromedp.WaitVisible(chromedp.CSS(".roc svg")))
	b.shot(t, "run-ml")
	if n := eval[int](t, b, `document.querySelectorAll(".roc svg polyline").length`); n < 1 {
		t.Error("the ROC chart has no curve")
	}

	// Markup in the hostile run is text: no element came out of it.
	b.do(t, "open the hostile task", chromedp.Navigate(url+"/runs/"+hostile.ID+"/tasks/bad"), chromedp.WaitVisible(chromedp.CSS("pre#log")))
	b.shot(t, "task-hostile")
	if n := eval[int](t, b, `document.scripts.length + document.images.length`); n != 2 {
		t.Errorf("the hostile task's page has %d scripts and images, want our 2 scripts", n)
	}
	if log := eval[string](t, b, `document.getElementById("log").textContent`); !strings.Contains(log, `<script>alert("log")</script>`) {
		t.Errorf("the hostile log is not shown as text: %q", log)
	}

	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}

// TestBrowserLive watches a run as it runs: the log of its running attempt
// grows in place (Server-Sent Events), and its DAG node turns from running
// to succeeded (htmx polling).
func TestBrowserLive(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f := newFixture(t)
	gate1, gate2 := filepath.Join(f.dir, "gate1"), filepath.Join(f.dir, "gate2")
	src := `name: live
tasks:
  - id: first
    type: noop
  - id: wait
    type: shell
    needs: [first]
    with:
      script: |
        echo "before the gate"
        while [ ! -e "` + gate1 + `" ]; do sleep 0.05; done
        echo "after the gate"
        while [ ! -e "` + gate2 + `" ]; do sleep 0.05; done
`
	run, trs, wf := f.prepare(t, src, nil)
	if err := f.st.CreateRun(context.Background(), run, trs); err != nil { // before the page asks for it
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		r, err := f.driveStored(t, run, wf)
		if err == nil && r.State != cairn.RunSucceeded {
			err = fmt.Errorf("run %s", r.State)
		}
		done <- err
	}()
	defer func() { // let the run end whatever happened
		os.WriteFile(gate1, nil, 0o600)
		os.WriteFile(gate2, nil, 0o600)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := f.srv.URL

	b.do(t, "open the run", chromedp.Navigate(url+"/runs/"+run.ID), chromedp.WaitVisible(chromedp.CSS("svg.dag")))
	b.waitFor(t, "the wait task to run", `document.querySelector('[id="task-wait"]').dataset.state === "running"`)
	b.shot(t, "live-running")

	// The running attempt's log, followed.
	b.do(t, "open the running task", clickLive(`a[id="task-wait"]`), chromedp.WaitVisible(chromedp.CSS("pre#log[data-follow]")))
	b.waitFor(t, "the first line", `document.getElementById("log").textContent.includes("before the gate")`)
	eval[bool](t, b, `window.cairnTestMark = true`)
	if err := os.WriteFile(gate1, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the line printed after the page loaded", `document.getElementById("log").textContent.includes("after the gate")`)
	if !eval[bool](t, b, `window.cairnTestMark === true`) {
		t.Error("the page was loaded again to show the new line: it should have been appended")
	}
	b.shot(t, "live-log")

	// Back to the run: the node turns green when the task ends.
	b.do(t, "open the run again", chromedp.Navigate(url+"/runs/"+run.ID), chromedp.WaitVisible(chromedp.CSS("svg.dag")))
	if got := eval[string](t, b, `document.querySelector('[id="task-wait"]').dataset.state`); got != "running" {
		t.Fatalf("the wait task is %s before its second gate", got)
	}
	if err := os.WriteFile(gate2, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the node to turn succeeded", `document.querySelector('[id="task-wait"]').dataset.state === "succeeded"`)
	b.waitFor(t, "the run to show succeeded", `document.getElementById("run-state").textContent === "succeeded"`)
	want := rgb(draw.StyleOf(cairn.TaskSucceeded).Fill)
	if got := eval[string](t, b, `getComputedStyle(document.querySelector('[id="task-wait"] rect')).fill`); got != want {
		t.Errorf("the finished node is filled %s, want %s", got, want)
	}
	if eval[bool](t, b, `document.getElementById("live").hasAttribute("hx-get")`) {
		t.Error("the page of a finished run still polls")
	}
	b.shot(t, "live-done")
	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}

// clickLive clicks the element sel names with one script in the page, so
// that an htmx swap of a live page (polled) cannot replace the node
// between finding it and clicking it, as chromedp.Click's separate steps
// allow ("Could not find node with given id"). It waits, up to the step's
// bound, until the element is there.
func clickLive(sel string) chromedp.Action[chromedp.Void] {
	q := strconv.Quote(sel)
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+q+`); if (!e) return false; e.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true, view: window})); return true })()`)(ctx, tg)
			if err != nil || ok {
				return chromedp.Void{}, err
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("click %s: %w", sel, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
