package ui

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserExperiments uses the experiments page as a person does:
// from a run's page to its workflow's experiments, the table sorted by a
// metric (best first, the runs without it last) with a click on its
// heading, the charts drawn, a metric chosen for them, two runs ticked and
// compared: the compare page shows the params that differ, the metrics
// side by side with the difference, the outputs whose digests differ,
// each run linked.
func TestBrowserExperiments(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f := newFixture(t, withExperiments)
	runs := expRuns(t, f.st, 120)
	url := f.srv.URL

	b.do(t, "open the experiments from a run", chromedp.Navigate(url+"/runs/"+runs[5].ID), chromedp.WaitVisible(chromedp.CSS("#experiments-link")),
		chromedp.Click(chromedp.CSS("#experiments-link")), chromedp.WaitVisible(chromedp.CSS("#exp-table")))
	b.shot(t, "experiments")
	if n := eval[int](t, b, `document.querySelectorAll("#exp-table tbody tr").length`); n != 50 {
		t.Errorf("the first page has %d rows, want 50", n)
	}
	if n := eval[int](t, b, `document.querySelectorAll("#metric-chart svg circle.point").length`); n != 108 {
		t.Errorf("the chart of f1 (charted first) has %d points, want 108 (12 runs have none)", n)
	}
	if d := eval[bool](t, b, `document.getElementById("compare-runs").disabled`); !d {
		t.Error("Compare is enabled with no run ticked")
	}

	b.do(t, "sort by f1", chromedp.Click(chromedp.CSS(`a.sort[data-sort="metric:evaluate.f1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="descending"] a[data-sort="metric:evaluate.f1"]`)))
	b.shot(t, "experiments-by-f1")
	f1s := eval[[]string](t, b, `Array.from(document.querySelectorAll("#exp-table tbody tr")).map(function (tr) { return tr.querySelector("td.metric:last-child").textContent })`)
	if len(f1s) != 50 || f1s[0] != "0.9917" {
		t.Errorf("sorted by f1, the first page starts %v, want the best (0.9917)", f1s[:min(3, len(f1s))])
	}
	if n := eval[int](t, b, `document.querySelectorAll("#metric-chart svg circle.point").length`); n != 108 {
		t.Errorf("the chart of f1 has %d points, want 108 (12 runs have none)", n)
	}
	if note := eval[string](t, b, `document.getElementById("chart-note").textContent`); !strings.Contains(note, "12 runs of the 120 runs read have no evaluate.f1") {
		t.Errorf("the chart's note: %q", note)
	}
	b.do(t, "the next page", chromedp.Click(chromedp.CSS("a.next")), chromedp.WaitVisible(chromedp.CSS(`#exp-table[data-from="51"]`)))
	b.do(t, "the last page", chromedp.Click(chromedp.CSS("a.next")), chromedp.WaitVisible(chromedp.CSS(`#exp-table[data-from="101"]`)))
	if last := eval[string](t, b, `document.querySelector("#exp-table tbody tr:last-child td.metric:last-child").textContent`); last != "–" {
		t.Errorf("the last row's f1: %q, want – (none)", last)
	}

	// Choosing a param sends the form at once (the page script).
	eval[bool](t, b, `(function () { var s = document.getElementById("chart-param"); s.value = "model"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	b.do(t, "the scatter in bands", chromedp.WaitVisible(chromedp.CSS(`#param-chart svg text.category`)))
	if n := eval[int](t, b, `document.querySelectorAll("#param-chart svg text.category").length`); n != 3 {
		t.Errorf("the scatter of model has %d bands, want 3", n)
	}
	b.shot(t, "experiments-model")
	if s := eval[string](t, b, `document.querySelector('th[aria-sort="descending"] a').dataset.sort + " " + location.search`); !strings.Contains(s, "metric:evaluate.f1 ") || !strings.Contains(s, "offset=100") {
		t.Errorf("choosing a chart lost the table's sort or page: %s", s)
	}

	first, second := runs[3].ID, runs[4].ID
	b.do(t, "tick", chromedp.Navigate(url+"/workflows/exp/experiments?sort=created&dir=asc"), chromedp.WaitVisible(chromedp.CSS(`tr[data-run="`+first+`"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-run="`+first+`"] input.pick`)))
	if d := eval[bool](t, b, `document.getElementById("compare-runs").disabled`); !d {
		t.Error("Compare is enabled with one run ticked")
	}
	b.do(t, "tick another and compare", chromedp.Click(chromedp.CSS(`tr[data-run="`+second+`"] input.pick`)),
		chromedp.Click(chromedp.CSS("#compare-runs")), chromedp.WaitVisible(chromedp.CSS("#compare-metrics")))
	b.shot(t, "compare")
	links := eval[[]string](t, b, `Array.from(document.querySelectorAll("#compare-runs-table a.run-link")).map(function (a) { return a.getAttribute("href") })`)
	if strings.Join(links, " ") != "/runs/"+first+" /runs/"+second {
		t.Errorf("the compared runs' links: %v", links)
	}
	if d := eval[string](t, b, `document.querySelector('tr[data-metric="evaluate.accuracy"] td.diff').textContent`); d != "+0.01" {
		t.Errorf("accuracy's difference: %q, want +0.01", d)
	}
	for _, sel := range []string{`tr[data-param="model"]`, `tr[data-param="train.lr"]`, `tr[data-output="train.model"]`} {
		if n := eval[int](t, b, `document.querySelectorAll('`+sel+`').length`); n != 1 {
			t.Errorf("the compare page has no %s", sel)
		}
	}
	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}
