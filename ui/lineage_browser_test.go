package ui

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLineage follows an ML run's outputs in a real browser: from
// the run page to the model's artifact page (producer, consumers,
// download), to its lineage graph, and by a click on a node of the graph
// to the task that made its training set; a data set's first rows as a
// table; nothing refused by the pages' Content-Security-Policy.
func TestBrowserLineage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f := newFixture(t)
	ml := f.run(t, mlWF, nil)
	url := f.srv.URL

	b.do(t, "open the run", chromedp.Navigate(url+"/runs/"+ml.ID), chromedp.WaitVisible(chromedp.CSS(`tr[data-task="train"] a.artifact-link`)))
	b.shot(t, "lineage-run")
	if got := eval[string](t, b, `[...document.querySelectorAll('tr[data-task="split"] a.artifact-link')].map(a => a.textContent).join(",")`); got != "test,train,validation" {
		t.Errorf("split's outputs on the run page: %q", got)
	}
	b.do(t, "open the model's page", chromedp.Click(chromedp.CSS(`tr[data-task="train"] a.artifact-link`)), chromedp.WaitVisible(chromedp.CSS("#artifact-meta")))
	b.shot(t, "lineage-artifact-model")
	if got := eval[string](t, b, `document.querySelector("#producers a.producer").textContent`); got != ml.ID+"/train#1" {
		t.Errorf("the model's producer: %q", got)
	}
	if got := eval[string](t, b, `document.querySelector("#consumers a.consumer").textContent`); got != ml.ID+"/evaluate#1" {
		t.Errorf("the model's consumer: %q", got)
	}
	// The download answers with the bytes, as an attachment.
	b.waitFor(t, "the download's headers", `(window.dl = window.dl || fetch(document.getElementById("download").href).then(async r => window.dlr = [r.status, r.headers.get("content-disposition"), (await r.text()).length])) && window.dlr !== undefined`)
	if got := eval[[]any](t, b, `window.dlr`); len(got) != 3 || got[0] != float64(200) || !strings.HasPrefix(got[1].(string), "attachment; filename=") || got[2] == float64(0) {
		t.Errorf("the download: %v", got)
	}

	b.do(t, "open the lineage", chromedp.Click(chromedp.CSS("#lineage-up")), chromedp.WaitVisible(chromedp.CSS("svg.lineage")))
	b.shot(t, "lineage-graph")
	if n := eval[int](t, b, `document.querySelectorAll("svg.lineage .lineage-attempt").length`); n != 3 { // train, split, data
		t.Errorf("the lineage graph has %d attempts, want 3", n)
	}
	if n := eval[int](t, b, `document.querySelectorAll("svg.lineage path.edge").length`); n < 4 {
		t.Errorf("the lineage graph has %d edges", n)
	}
	train := eval[string](t, b, `document.querySelector('svg.lineage path.edge[data-to="a:`+ml.ID+`/train#1"]').dataset.from.slice(2)`)
	lineageURL := eval[string](t, b, `location.href`)
	b.do(t, "click on split in the graph", chromedp.Click(chromedp.CSS(`svg.lineage a[data-attempt="`+ml.ID+`/split#1"]`)), chromedp.WaitVisible(chromedp.CSS("#task-state")))
	if got := eval[string](t, b, `location.pathname`); got != "/runs/"+ml.ID+"/tasks/split" {
		t.Errorf("the node led to %s", got)
	}

	// The training set's page: its first rows.
	b.do(t, "open the lineage again", chromedp.Navigate(lineageURL), chromedp.WaitVisible(chromedp.CSS("svg.lineage")))
	b.do(t, "click on the training set", chromedp.Click(chromedp.CSS(`svg.lineage a.lineage-artifact[data-digest="`+train+`"]`)), chromedp.WaitVisible(chromedp.CSS("#artifact-meta")))
	b.shot(t, "lineage-artifact-data")
	if n := eval[int](t, b, `document.querySelectorAll("#preview tbody tr").length`); n != 20 {
		t.Errorf("the data set's preview shows %d rows, want 20", n)
	}
	if got := eval[string](t, b, `document.querySelector("#preview thead th").textContent`); got == "" {
		t.Error("the preview has no header")
	}
	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}
