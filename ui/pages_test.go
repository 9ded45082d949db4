package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

func TestRunsPage(t *testing.T) {
	f := newFixture(t)
	t0 := time.Now().Add(-time.Hour)
	a := f.queuedRuns(t, "alpha", 3, t0)
	b := f.queuedRuns(t, "beta", 2, t0.Add(time.Second))
	resp, body := f.get(t, "/runs?limit=3")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("runs page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Newest first: b[1], b[0], a[2]; then a link to the older ones.
	i1, i2, i3 := strings.Index(body, b[1]), strings.Index(body, b[0]), strings.Index(body, a[2])
	if i1 < 0 || i2 < i1 || i3 < i2 || strings.Contains(body, `data-run="`+a[1]+`"`) {
		t.Errorf("runs page order: %d %d %d", i1, i2, i3)
	}
	if !strings.Contains(body, `href="/runs?before=`+a[2]+`&amp;limit=3"`) {
		t.Errorf("no link to the next page")
	}
	_, body = f.get(t, "/runs?limit=3&before="+a[2])
	if !strings.Contains(body, `data-run="`+a[1]+`"`) || !strings.Contains(body, `data-run="`+a[0]+`"`) || strings.Contains(body, "Older runs") {
		t.Errorf("second page")
	}
	_, body = f.get(t, "/runs?workflow=alpha")
	if strings.Contains(body, `data-run="`+b[0]+`"`) || !strings.Contains(body, `data-run="`+a[0]+`"`) || !strings.Contains(body, `value="alpha"`) {
		t.Errorf("workflow filter")
	}
	_, body = f.get(t, "/runs?state=failed")
	if !strings.Contains(body, "No runs match these filters") || !strings.Contains(body, `<option value="failed" selected>`) {
		t.Errorf("state filter with no match")
	}
	if resp, body := f.get(t, "/runs?state=orphaned"); resp.StatusCode != 400 || !strings.Contains(body, "orphaned is not a stored state") {
		t.Errorf("state=orphaned: %d", resp.StatusCode)
	}
	if resp, _ := f.get(t, "/"); resp.Request.URL.Path != "/runs" {
		t.Errorf("/ went to %s", resp.Request.URL.Path)
	}
}

func TestRunPage(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, pipelineWF, nil)
	resp, body := f.get(t, "/runs/"+run.ID)
	if resp.StatusCode != 200 {
		t.Fatalf("run page: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<svg xmlns="http://www.w3.org/2000/svg" class="dag"`,
		`<a class="node" id="task-fails" data-task="fails" data-state="failed" href="/runs/` + run.ID + `/tasks/fails">`,
		`data-task="after" data-state="upstream_failed"`,
		`data-task="hello" data-state="succeeded"`,
		`class="gantt"`,
		`<rect class="bar" data-task="fails" data-attempt="2" data-state="failed"`,
		`A small pipeline for the UI tests.`,
		`<th>greeting</th><td class="mono">&#34;hello&#34;</td>`, // params
		`retry_backoff: 10ms`, // the workflow file
		`command failed: exit code 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %s", want)
		}
	}
	if strings.Contains(body, "hx-get") || strings.Contains(body, "orphaned") {
		t.Error("a finished run's page polls or says orphaned")
	}
	// A run someone claimed and left: orphaned, and its page polls.
	ids := f.queuedRuns(t, "left", 1, time.Now())
	ctx := context.Background()
	if _, err := f.st.ClaimRun(ctx, ids[0], "elsewhere:1:x", time.Now().Add(-time.Minute), 10*time.Second, false); err != nil {
		t.Fatal(err)
	}
	_, body = f.get(t, "/runs/"+ids[0])
	if !strings.Contains(body, `<span class="badge orphaned">orphaned</span>`) || !strings.Contains(body, `hx-get="/runs/`+ids[0]+`/live" hx-trigger="every 500ms"`) {
		t.Errorf("an orphaned run's page:\n%s", body)
	}
	_, body = f.get(t, "/runs?workflow=left")
	if !strings.Contains(body, `orphaned</span>`) {
		t.Error("the runs page does not say orphaned")
	}
	resp, body = f.get(t, "/runs/"+ids[0]+"/live")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "\n<div id=\"live\" hx-get=") || strings.Contains(body, "<html") {
		t.Errorf("live fragment: %d\n%.300s", resp.StatusCode, body)
	}
	if resp, _ := f.get(t, "/runs/zzzzzzzzzzzz"); resp.StatusCode != 404 {
		t.Errorf("a missing run: %d", resp.StatusCode)
	}
}

func TestTaskPage(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, pipelineWF, nil)
	_, body := f.get(t, "/runs/"+run.ID+"/tasks/fails")
	for _, want := range []string{
		"Attempt 2", "attempt 2 starting", "the data is bad", "command failed: exit code 3", "<th>Exit code</th><td>3</td>",
		`href="/runs/` + run.ID + `/tasks/fails?attempt=1"`, `href="/api/v1/runs/` + run.ID + `/tasks/fails/log?attempt=2"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("task page lacks %q", want)
		}
	}
	if strings.Contains(body, "data-follow") {
		t.Error("a finished attempt's log is followed")
	}
	_, body = f.get(t, "/runs/"+run.ID+"/tasks/fails?attempt=1")
	if !strings.Contains(body, "attempt 1 starting") || !strings.Contains(body, "Attempt 1") {
		t.Error("attempt 1's page")
	}
	_, body = f.get(t, "/runs/"+run.ID+"/tasks/hello")
	if !strings.Contains(body, "Says hello.") {
		t.Error("the task's description is missing")
	}
	_, body = f.get(t, "/runs/"+run.ID+"/tasks/after")
	if !strings.Contains(body, "none yet") {
		t.Error("a task that never ran")
	}
	if resp, _ := f.get(t, "/runs/"+run.ID+"/tasks/nope"); resp.StatusCode != 404 {
		t.Errorf("a missing task: %d", resp.StatusCode)
	}
}

// TestResultsPage: an evaluate task's metrics, gate, confusion matrix and
// ROC curve (tasks/ml/plot's SVG) are on the run page.
func TestResultsPage(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, mlWF, nil)
	if run.State != cairn.RunSucceeded {
		t.Fatalf("ml run %s: %s", run.State, run.Error)
	}
	_, body := f.get(t, "/runs/"+run.ID)
	for _, want := range []string{"<h2>Results</h2>", "gate passed", "<th>accuracy</th>", "Confusion matrix", "ROC of evaluate", "AUC", "<polyline"} {
		if !strings.Contains(body, want) {
			t.Errorf("results lack %q", want)
		}
	}
}

var (
	tagRE   = regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	valueRE = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	badAttr = regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=`)
)

// inline returns what in a page the Content-Security-Policy would block:
// a script element that is not an empty one loading /static/, an event
// handler or style attribute, a style element, a javascript: URL. Escaped
// text holds no '<', so every tag found is a real one; attribute values
// are blanked before looking at the names.
func inline(page string) string {
	for _, tag := range tagRE.FindAllStringIndex(page, -1) {
		t := page[tag[0]:tag[1]]
		bare := valueRE.ReplaceAllString(t, `""`)
		lower := strings.ToLower(t)
		switch {
		case strings.HasPrefix(lower, "<script") && (!strings.Contains(t, ` src="/static/`) || !strings.HasPrefix(page[tag[1]:], "</script>")):
			return t
		case strings.HasPrefix(lower, "<style"), badAttr.MatchString(bare), strings.Contains(lower, "javascript:"):
			return t
		}
	}
	return ""
}

// hostileGraph is a DAG whose task ids no workflow file may hold: the
// store takes them all the same, and so must the pages.
type hostileGraph struct{ ids []string }

func (g hostileGraph) TaskIDs() []string           { return g.ids }
func (g hostileGraph) Upstream(id string) []string { return nil }
func (g hostileGraph) Prepare(id string, s scheduler.Scope) (scheduler.Prepared, error) {
	p, _ := json.Marshal(map[string]any{"script": `echo '<b>bold</b><script>alert("log2")</script>'; exit 1`})
	return scheduler.Prepared{Run: true, Params: p}, nil
}

// TestEscaped: HTML and JS in a workflow's description, its params, a
// task's description, id, error and log come out as text on every page,
// in the pictures too, and in JSON.
func TestEscaped(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, hostileWF, nil)
	ids := []string{`x<script>alert("id")</script>`, `y"><img src=x onerror=alert(3)>`}
	hrun := &cairn.Run{ID: cairn.NewRunID(time.Now()), Workflow: `wf<script>alert("wf")</script>`, Digest: "sha256:00",
		SourcePath: `/tmp/<script>.yaml`, Source: []byte("name: x\n<script>alert('src')</script>\n"), State: cairn.RunQueued, CreatedAt: time.Now()}
	var trs []*cairn.TaskRun
	for _, id := range ids {
		trs = append(trs, &cairn.TaskRun{RunID: hrun.ID, TaskID: id, Type: "shell", State: cairn.TaskPending})
	}
	hrun = f.drive(t, hrun, trs, hostileGraph{ids})
	pages := []string{
		"/runs", "/runs/" + run.ID, "/runs/" + run.ID + "/tasks/bad", "/runs/" + hrun.ID,
		"/runs?workflow=" + `wf<script>alert("wf")</script>`,
	}
	for _, id := range ids {
		pages = append(pages, "/runs/"+hrun.ID+"/tasks/"+urlPath(id))
	}
	for _, p := range pages {
		resp, body := f.get(t, p)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
			continue
		}
		for _, bad := range []string{"<script>alert", "<img src=x", "<b>bold", "</pre><script>"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s holds %q unescaped", p, bad)
			}
		}
		if m := inline(body); m != "" {
			t.Errorf("%s holds inline script or style: %q", p, m)
		}
	}
	// The text is there, escaped.
	_, body := f.get(t, "/runs/"+run.ID+"/tasks/bad")
	for _, want := range []string{
		`Task &lt;script&gt;alert(&#34;task&#34;)&lt;/script&gt;`,
		`&lt;script&gt;alert(&#34;log&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;`,
		`&lt;/pre&gt;&lt;script&gt;alert(&#34;err&#34;)&lt;/script&gt;`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the task page lacks %s", want)
		}
	}
	_, body = f.get(t, "/runs/"+run.ID)
	for _, want := range []string{`Desc &lt;script&gt;alert(&#34;desc&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;`,
		`&lt;script&gt;alert(\&#34;param\&#34;)&lt;/script&gt;`} {
		if !strings.Contains(body, want) {
			t.Errorf("the run page lacks %s", want)
		}
	}
	_, body = f.get(t, "/runs/"+hrun.ID)
	for _, want := range []string{`data-task="x&lt;script&gt;alert(&#34;id&#34;)&lt;/script&gt;"`, `y&#34;&gt;&lt;img src=x onerror=alert(3)&gt;`,
		"could not be read again"} {
		if !strings.Contains(body, want) {
			t.Errorf("the hostile run's page lacks %s", want)
		}
	}
	// JSON escapes markup too (\u003c), as the CLI's --json does.
	_, body = f.get(t, "/api/v1/runs/"+hrun.ID)
	if strings.Contains(body, "<script") || !strings.Contains(body, `\u003cscript\u003e`) {
		t.Errorf("the API's JSON holds markup unescaped")
	}
}

func urlPath(s string) string {
	return url.PathEscape(s)
}

// TestHeadersAndAssets: pages carry a CSP that allows no inline script and
// no framing; the assets are served from the binary with their types, and
// htmx is the file its licence note names.
func TestHeadersAndAssets(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "/runs")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", resp.Header)
	}
	for _, src := range regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`).FindAllStringSubmatch(body, -1) {
		resp, _ := f.get(t, strings.ReplaceAll(src[1], "&amp;", "&"))
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d %q", src[1], resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	total := 0
	for name, ctype := range map[string]string{"htmx.min.js": "text/javascript", "app.js": "text/javascript", "app.css": "text/css", "htmx.LICENSE": "text/plain"} {
		resp, body := f.get(t, "/static/"+name)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if name != "htmx.LICENSE" {
			total += len(body)
		}
		if name == "htmx.min.js" {
			sum := sha256.Sum256([]byte(body))
			_, lic := f.get(t, "/static/htmx.LICENSE")
			if !strings.Contains(lic, hex.EncodeToString(sum[:])) || !strings.Contains(lic, "Zero-Clause BSD") {
				t.Errorf("htmx.min.js (sha256 %x) is not the file htmx.LICENSE names", sum)
			}
		}
	}
	if total > 200<<10 {
		t.Errorf("the assets are %d bytes; a first page load should stay under 200 KB", total)
	}
	if resp, _ := f.get(t, "/static/nope.js"); resp.StatusCode != 404 {
		t.Errorf("a missing asset: %d", resp.StatusCode)
	}
}

func TestTaskParamsShownAsWritten(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, pipelineWF, nil)
	_, body := f.get(t, "/runs/"+run.ID+"/tasks/fails")
	if !strings.Contains(body, `echo \&#34;the data is bad\&#34; &gt;&amp;2`) || strings.Contains(body, `\u003e`) {
		t.Errorf("the task's params are not shown as written:\n%s", body)
	}
}

// TestRunPageMarksCachedTasks: a task whose outputs came from the cache
// has a "cache" tag on its DAG node, whose title names the attempt it
// reused, and a "cache" badge in the task table linking to that task.
func TestRunPageMarksCachedTasks(t *testing.T) {
	f := newFixture(t)
	f.cache = f.st
	const src = `name: cached-ui
tasks:
  - id: data
    type: collect
    with: {source: synthetic, rows: 40, seed: 3}
  - id: side
    type: noop
`
	first := f.run(t, src, nil)
	second := f.run(t, src, nil)
	_, body := f.get(t, "/runs/"+second.ID)
	from := first.ID + "/data#1"
	for _, want := range []string{
		`data-task="data" data-state="succeeded" href="/runs/` + second.ID + `/tasks/data" data-cached="` + from + `">`,
		`<title>data (collect): succeeded — from cache: ` + from + `</title>`,
		`<g class="cache-tag">`,
		`<a class="badge cache" href="/runs/` + first.ID + `/tasks/data" title="from cache: ` + from + `">cache</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the run page lacks %s", want)
		}
	}
	if strings.Count(body, `class="cache-tag"`) != 1 || strings.Count(body, `class="badge cache"`) != 1 {
		t.Errorf("the run page marks more than the one cached task")
	}
	if _, body := f.get(t, "/runs/"+first.ID); strings.Contains(body, "cache-tag") || strings.Contains(body, "badge cache") {
		t.Error("the first run's page marks a task cached")
	}
}

// A run page draws a for_each task's items as one node, which links to
// the page with them drawn one by one (?expand=TASK), which the poll of a
// live run keeps and whose node links back.
func TestRunPageForEachItems(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, `name: fan
tasks:
  - {id: prep, type: noop}
  - {id: train, type: noop, needs: [prep], for_each: [1, 2, 3, 4, 5]}
  - {id: report, type: noop, needs: [train]}
`, nil)
	_, body := f.get(t, "/runs/"+run.ID)
	for _, want := range []string{
		`<a class="node" id="task-train" data-task="train" data-state="succeeded" href="/runs/` + run.ID + `?expand=train#dag" data-items="5" data-expanded="false">`,
		`>train[0..5)</text>`, `5 items: 5 succeeded`, `id="dag"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %s", want)
		}
	}
	// Folded in the table too: the task's row, its items' counts and a
	// link that shows them (a run of 10,000 items sent a row each).
	if strings.Contains(body, `data-task="train[0]"`) || strings.Contains(body, `id="task-train[0]"`) {
		t.Error("an item drawn as its own node, row or Gantt bar while collapsed")
	}
	if !strings.Contains(body, `<rect class="span" data-task="train"`) {
		t.Error("the Gantt lacks the for_each task's bar spanning its items")
	}
	if !strings.Contains(body, `<tr data-task="train" data-state="succeeded">`) ||
		!strings.Contains(body, `<a class="items-link" href="/runs/`+run.ID+`?expand=train#task-rows">show the items</a>`) {
		t.Error("the for_each task's row lacks its link to its items")
	}
	_, body = f.get(t, "/runs/"+run.ID+"?expand=train")
	if !strings.Contains(body, `<tr data-task="train[4]" data-state="succeeded">`) || !strings.Contains(body, `class="bar" data-task="train[4]"`) ||
		!strings.Contains(body, `<a class="items-link" href="/runs/`+run.ID+`#task-rows">hide the items</a>`) {
		t.Error("the expanded page lacks the items' rows or the link that hides them")
	}
	for _, want := range []string{
		`href="/runs/` + run.ID + `#dag" data-items="5" data-expanded="true">`,
		`<a class="node" id="task-train[4]" data-task="train[4]" data-state="succeeded" href="/runs/` + run.ID + `/tasks/train%5B4%5D">`,
		`class="edge" data-from="train" data-to="train[4]"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("expanded run page lacks %s", want)
		}
	}
}

// The run page shows the run's workflow file with its webhooks cut, as
// the CLI and the API show them: a viewer does not read a webhook's
// credential there.
func TestRunPageCutsWebhooks(t *testing.T) {
	f := newFixture(t)
	run := f.run(t, `name: hooked
notify:
  - on: failure
    webhook: "https://hooks.example.com/services/T0/B0/SECRETXYZ?tok=abc"
tasks:
  - id: a
    type: noop
`, nil)
	resp, body := f.get(t, "/runs/"+run.ID)
	if resp.StatusCode != 200 {
		t.Fatalf("run page: %d", resp.StatusCode)
	}
	if strings.Contains(body, "SECRETXYZ") || strings.Contains(body, "tok=abc") {
		t.Fatalf("the run page shows the webhook's credential:\n%s", body)
	}
	if !strings.Contains(body, "https://hooks.example.com/services/…") {
		t.Errorf("the run page lacks the cut webhook")
	}
}

// TestHeadAnswersAsGet: a GET route answers HEAD with GET's status and
// headers and no body (RFC 9110); a route without GET still refuses it.
func TestHeadAnswersAsGet(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/static/app.js", "/runs", "/api/v1/runs"} {
		get, _ := f.get(t, p)
		head, body := f.do(t, http.MethodHead, p, nil)
		if head.StatusCode != get.StatusCode || head.StatusCode != http.StatusOK || body != "" ||
			head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q (%d bytes), GET: %d %q", p, head.StatusCode, head.Header.Get("Content-Type"), len(body), get.StatusCode, get.Header.Get("Content-Type"))
		}
	}
	if resp, _ := f.do(t, http.MethodHead, "/api/v1/runs/x/cancel", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD of a POST route: %d, want 405", resp.StatusCode)
	}
}
