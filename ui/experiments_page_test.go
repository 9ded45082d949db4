package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
)

// expRuns stores n finished runs of workflow "exp", oldest first, a
// second apart: params lr (a number), model (a, b or c) and, for all but
// every fifth run, depth; a train task (no metrics) and an evaluate task
// with f1, accuracy and rows (100 in every run), except every tenth run,
// which has no f1. Run i's
// f1 is a permutation of i, so that the order by f1 is not the order of
// creation.
func expRuns(t testing.TB, st *sqlite.Store, n int) []*cairn.Run {
	t.Helper()
	ctx := context.Background()
	t0 := time.Now().Add(-time.Duration(n+10) * time.Second).Truncate(time.Second)
	var out []*cairn.Run
	for i := 0; i < n; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		params := map[string]any{"lr": float64(i%7) / 10, "model": []string{"a", "b", "c"}[i%3]}
		if i%5 != 0 {
			params["depth"] = int64(i % 4)
		}
		run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "exp", Digest: "sha256:" + strings.Repeat("0", 64),
			Source: []byte("name: exp\n"), Params: params, State: cairn.RunSucceeded,
			CreatedAt: at, StartedAt: at, FinishedAt: at.Add(time.Minute)}
		metrics := map[string]float64{"accuracy": 0.5 + float64(i%10)/100, "rows": 100}
		if i%10 != 0 {
			metrics["f1"] = float64((i*37)%n) / float64(n)
		}
		model := fmt.Sprintf("sha256:%064x", i%2)
		trs := []*cairn.TaskRun{
			{RunID: run.ID, TaskID: "train", Type: "noop", State: cairn.TaskSucceeded, Attempt: 1, Retry: cairn.RetryPolicy{Factor: 2},
				Params:  json.RawMessage(fmt.Sprintf(`{"lr": %v}`, params["lr"])),
				Outputs: map[string]json.RawMessage{"model": cairn.ArtifactRef{Digest: model, Size: 10}.JSON()}, StartedAt: at, FinishedAt: at.Add(time.Second)},
			{RunID: run.ID, TaskID: "evaluate", Type: "noop", State: cairn.TaskSucceeded, Attempt: 1, Retry: cairn.RetryPolicy{Factor: 2},
				Params: json.RawMessage(`{}`), Metrics: metrics, StartedAt: at, FinishedAt: at.Add(time.Second)},
		}
		if err := st.CreateRun(ctx, run, trs); err != nil {
			t.Fatal(err)
		}
		out = append(out, run)
	}
	return out
}

var rowRun = regexp.MustCompile(`<tr data-run="([^"]+)">`)

// rows are the run ids of the experiments table, in order.
func rows(body string) []string {
	var out []string
	for _, m := range rowRun.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func withExperiments(o *Options) { o.Experiments = o.Store.(*sqlite.Store) }

// TestExperimentsPage: a workflow of 300 runs, some missing a metric or a
// param: the table pages, sorts by created, a metric (runs without it
// last, whichever the direction) and a param (numbers and text); the
// charts draw every run with the metric, the scatter of a text param in
// bands; bad queries are refused with a 400, an unknown workflow is a 404.
func TestExperimentsPage(t *testing.T) {
	f := newFixture(t, withExperiments)
	runs := expRuns(t, f.st, 300)
	byID := map[string]int{}
	for i, r := range runs {
		byID[r.ID] = i
	}
	f1 := func(id string) (float64, bool) {
		i := byID[id]
		if i%10 == 0 {
			return 0, false
		}
		return float64((i*37)%300) / 300, true
	}

	resp, body := f.get(t, "/workflows/exp/experiments")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d\n%s", resp.StatusCode, body)
	}
	got := rows(body)
	if len(got) != 50 || got[0] != runs[299].ID || got[49] != runs[250].ID {
		t.Fatalf("the first page, newest first: %d rows, first %v", len(got), got[:min(3, len(got))])
	}
	for _, want := range []string{"Runs 1–50 of 300", `data-sort="metric:evaluate.f1"`, `data-sort="param:model"`, `data-sort="metric:evaluate.accuracy"`,
		`id="metric-chart"`, `id="param-chart"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// The metric charted by default is f1 (a headline metric), which 30
	// runs lack.
	charts := strings.SplitN(body, `id="param-chart"`, 2)
	if n := strings.Count(charts[0], `class="point"`); n != 270 || !strings.Contains(charts[0], "evaluate.f1 across runs") {
		t.Errorf("the default chart has %d points, want 270 (of evaluate.f1)", n)
	}
	// rows has one value in every run: hidden, unless asked for.
	if strings.Contains(body, `data-sort="metric:evaluate.rows"`) || !strings.Contains(body, `1 metric columns have one value in every run and are hidden: <a href="/workflows/exp/experiments?cols=all">`) {
		t.Errorf("the constant metric is shown, or its link is missing")
	}
	if _, all := f.get(t, "/workflows/exp/experiments?cols=all"); !strings.Contains(all, `data-sort="metric:evaluate.rows"`) {
		t.Errorf("cols=all does not show the constant metric")
	}
	if _, sorted := f.get(t, "/workflows/exp/experiments?sort=metric:evaluate.rows"); !strings.Contains(sorted, `data-sort="metric:evaluate.rows"`) {
		t.Errorf("a constant metric sorted by is not shown")
	}

	// Sorted by f1, best first, over every page: runs without it last.
	var all []string
	next := "/workflows/exp/experiments?sort=metric:evaluate.f1"
	for pages := 0; next != "" && pages < 10; pages++ {
		resp, body := f.get(t, next)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", next, resp.StatusCode, body)
		}
		all = append(all, rows(body)...)
		next = ""
		if m := regexp.MustCompile(`<a class="next" href="([^"]+)"`).FindStringSubmatch(body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		if pages == 0 {
			if !strings.Contains(body, `aria-sort="descending"><a href="/workflows/exp/experiments?dir=asc&amp;sort=metric%3Aevaluate.f1"`) {
				t.Errorf("the f1 heading does not say it sorts, or does not link the other way")
			}
			if n := strings.Count(strings.SplitN(body, `id="param-chart"`, 2)[0], `class="point"`); n != 270 {
				t.Errorf("the f1 chart has %d points, want 270 (30 runs have no f1)", n)
			}
			if !strings.Contains(body, "30 runs of the 300 runs read have no evaluate.f1") {
				t.Errorf("the page does not say 30 runs have no f1")
			}
		}
	}
	if len(all) != 300 {
		t.Fatalf("the pages sorted by f1 hold %d runs, want 300", len(all))
	}
	prev := math.Inf(1)
	for i, id := range all {
		v, ok := f1(id)
		if i < 270 != ok {
			t.Fatalf("row %d (%s): has f1 %v; want the 270 with f1 first", i, id, ok)
		}
		if ok && v > prev {
			t.Fatalf("row %d: f1 %v after %v, not descending", i, v, prev)
		}
		if ok {
			prev = v
		}
	}
	// Ascending: the smallest first, the runs without f1 still last.
	_, body = f.get(t, "/workflows/exp/experiments?sort=metric:evaluate.f1&dir=asc&offset=260&limit=20")
	asc := rows(body)
	if len(asc) != 20 {
		t.Fatalf("offset 260: %d rows", len(asc))
	}
	if _, ok := f1(asc[9]); !ok {
		t.Errorf("ascending, row 270 has no f1")
	}
	if _, ok := f1(asc[10]); ok {
		t.Errorf("ascending, row 271 has f1: runs without it must come last")
	}
	if !strings.Contains(body, `class="prev" href="/workflows/exp/experiments?dir=asc&amp;limit=20&amp;offset=240&amp;sort=metric%3Aevaluate.f1"`) {
		t.Errorf("no link to the previous page")
	}

	// By a text param: a, b, c in order; by a numeric one with gaps.
	_, body = f.get(t, "/workflows/exp/experiments?sort=param:model&limit=500")
	got = rows(body)
	for i := 1; i < len(got); i++ {
		if a, b := runs[byID[got[i-1]]].Params["model"].(string), runs[byID[got[i]]].Params["model"].(string); a > b {
			t.Fatalf("sorted by model: %s before %s", a, b)
		}
	}
	if !strings.Contains(body, `class="category"`) || strings.Count(body, `class="mean"`) != 3 {
		t.Errorf("the scatter of model (a text param) is not drawn in 3 bands")
	}
	_, body = f.get(t, "/workflows/exp/experiments?sort=param:depth&dir=desc&limit=500")
	got = rows(body)
	if d := runs[byID[got[0]]].Params["depth"]; d != int64(3) {
		t.Errorf("sorted by depth, descending: the first has %v", d)
	}
	if _, ok := runs[byID[got[len(got)-1]]].Params["depth"]; ok {
		t.Errorf("sorted by depth: the last run has one; runs without it come last")
	}
	if !strings.Contains(body, "30 runs with evaluate.f1 have no param depth") {
		t.Errorf("the scatter of depth does not say which runs it leaves out")
	}
	if strings.Contains(body, `class="category"`) {
		t.Errorf("depth (numbers) is drawn in bands")
	}

	for path, want := range map[string]int{
		"/workflows/exp/experiments?sort=size":                 http.StatusBadRequest,
		"/workflows/exp/experiments?sort=metric:f1":            http.StatusBadRequest,
		"/workflows/exp/experiments?sort=metric:evaluate.nope": http.StatusBadRequest,
		"/workflows/exp/experiments?sort=param:nope":           http.StatusBadRequest,
		"/workflows/exp/experiments?dir=up":                    http.StatusBadRequest,
		"/workflows/exp/experiments?offset=-1":                 http.StatusBadRequest,
		"/workflows/exp/experiments?limit=0":                   http.StatusBadRequest,
		"/workflows/exp/experiments?chart=x":                   http.StatusBadRequest,
		"/workflows/exp/experiments?cols=some":                 http.StatusBadRequest,
		"/workflows/exp/experiments?offset=5000":               http.StatusOK, // past the end: an empty page
		"/workflows/exp/experiments?x=nope":                    http.StatusOK, // no run has it: the chart says so
		"/workflows/nope/experiments":                          http.StatusNotFound,
	} {
		if resp, body := f.get(t, path); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d\n%s", path, resp.StatusCode, want, lastLines(body, 5))
		}
	}
}

// TestComparePage: two runs picked show what cairn compare shows, each
// linked; one run, an unknown one or a server without the page refuse.
func TestComparePage(t *testing.T) {
	f := newFixture(t, withExperiments)
	runs := expRuns(t, f.st, 12)
	a, b := runs[3], runs[4] // model b, c; lr .3, .4; depth 3, 0 (4%5!=0)
	resp, body := f.get(t, "/compare?run="+a.ID[:10]+"&run="+b.ID)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /compare: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`href="/runs/` + a.ID + `"`, `href="/runs/` + b.ID + `"`,
		`data-param="model"`, `data-param="lr"`, `data-param="train.lr"`,
		`data-metric="evaluate.f1"`, `data-metric="evaluate.accuracy"`,
		`<td class="num diff up">&#43;0.01</td>`, // accuracy .53 → .54 (+ escaped)
		`data-output="train.model"`, `class="mono task-differs">train<`,
		`href="/workflows/exp/experiments"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the compare page lacks %s", want)
		}
	}
	if strings.Contains(body, `data-param="depth"`) != (a.Params["depth"] != b.Params["depth"]) {
		t.Errorf("depth shown as differing: %v, values %v and %v", strings.Contains(body, `data-param="depth"`), a.Params["depth"], b.Params["depth"])
	}
	for path, want := range map[string]int{
		"/compare?run=" + a.ID: http.StatusBadRequest,
		"/compare":             http.StatusBadRequest,
		"/compare?run=" + a.ID + ",zzzzzzzzzzzzz": http.StatusNotFound,
		"/compare?run=" + a.ID + ",ab":            http.StatusBadRequest,
	} {
		if resp, body := f.get(t, path); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d\n%s", path, resp.StatusCode, want, lastLines(body, 5))
		}
	}
	// The run page and the filtered runs list link the experiments page.
	for _, path := range []string{"/runs/" + a.ID, "/runs?workflow=exp"} {
		if _, body := f.get(t, path); !strings.Contains(body, `href="/workflows/exp/experiments"`) {
			t.Errorf("%s does not link the experiments page", path)
		}
	}
	g := newFixture(t)
	if resp, _ := g.get(t, "/workflows/exp/experiments"); resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("without Experiments: %d, want 501", resp.StatusCode)
	}
	if _, body := g.get(t, "/runs?workflow=exp"); strings.Contains(body, "/experiments") {
		t.Errorf("a server without the page links it")
	}
}
