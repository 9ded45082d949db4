package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/client"
	"github.com/cairnml/cairn/lineage"
)

const cacheStoryWF = `name: cache-story
params:
  seed: {type: int, default: 3}
tasks:
  - id: data
    type: collect
    with: {source: synthetic, rows: 60, features: 2, seed: "${{ params.seed }}", label: y}
  - id: split
    type: split
    inputs: {data: "${{ tasks.data.outputs.data }}"}
    with: {label: y, test_size: 0.3, seed: 1}
  - id: side
    type: noop
`

// TestCacheStory: a task's cache story through the real handler and the
// real client — a reuse names the attempt reused; a miss says what
// changed (a param of the task, an input's digest) against the last
// success; a type never cached says why caching was off (the server's
// CacheOff) — the same on the task page, with links to the attempts;
// an unknown task is a 404, a server without Options.Cache a 501.
func TestCacheStory(t *testing.T) {
	ctx := context.Background()
	var offAsked []string
	f := newFixture(t, func(o *Options) {
		o.Cache = o.Store.(CacheReader)
		o.CacheOff = func(ctx context.Context, r *cairn.Run, taskID string) string {
			offAsked = append(offAsked, taskID)
			return "type noop is never cached"
		}
	})
	f.cache = f.st
	first := f.run(t, cacheStoryWF, nil)
	second := f.run(t, cacheStoryWF, nil)
	third := f.run(t, cacheStoryWF, map[string]string{"seed": "4"})
	// A later success is not what the third run is compared with (#19):
	// the last success when its attempt started is the second run's.
	f.run(t, cacheStoryWF, map[string]string{"seed": "5"})
	c, err := client.New(f.srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}

	hit, err := c.CacheStory(ctx, second.ID, "data")
	if err != nil {
		t.Fatal(err)
	}
	if hit.Hit == nil || hit.Hit.RunID != first.ID || hit.Hit.TaskID != "data" || !hit.On || !strings.HasPrefix(hit.Why, "reused the outputs of "+first.ID+"/data#1") {
		t.Errorf("the second run's data: %+v", hit)
	}

	miss, err := c.CacheStory(ctx, third.ID, "data")
	if err != nil {
		t.Fatal(err)
	}
	if miss.Hit != nil || miss.Last == nil || miss.Last.RunID != second.ID || !reflect.DeepEqual(miss.Changes, []string{"params: seed (3 → 4)"}) ||
		!strings.Contains(miss.Why, "differs") {
		t.Errorf("the third run's data: %+v", miss)
	}
	split, err := c.CacheStory(ctx, third.ID, "split")
	if err != nil {
		t.Fatal(err)
	}
	if len(split.Changes) != 1 || !strings.HasPrefix(split.Changes[0], "input data: sha256:") {
		t.Errorf("the third run's split: %+v", split)
	}
	side, err := c.CacheStory(ctx, third.ID, "side")
	if err != nil {
		t.Fatal(err)
	}
	if side.On || side.Why != "off: type noop is never cached" || !reflect.DeepEqual(offAsked, []string{"side"}) {
		t.Errorf("the noop task: %+v (CacheOff asked for %v)", side, offAsked)
	}
	// The client reads what the API wrote, nothing lost.
	var raw lineage.CacheStory
	f.getJSON(t, "/api/v1/runs/"+third.ID+"/tasks/data/cache", http.StatusOK, &raw)
	if !reflect.DeepEqual(&raw, miss) {
		t.Errorf("the API wrote %+v, the client read %+v", raw, miss)
	}

	// The task page tells the same, with links to both attempts.
	_, body := f.get(t, "/runs/"+third.ID+"/tasks/data")
	for _, want := range []string{`id="cache-story" data-hit="false"`, "params: seed (3 → 4)",
		`href="/runs/` + second.ID + `/tasks/data?attempt=1" id="cache-last"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the task page lacks %s", want)
		}
	}
	_, body = f.get(t, "/runs/"+second.ID+"/tasks/data")
	if !strings.Contains(body, `data-hit="true"`) || !strings.Contains(body, `href="/runs/`+first.ID+`/tasks/data?attempt=1" id="cache-hit"`) {
		t.Errorf("the reused task's page does not link the attempt reused")
	}
	// It ran nothing and wrote no log: the page says what it did instead.
	if want := `<p class="empty" id="log-reused">cairn: not run: reused the outputs of ` + first.ID + `/data#1</p>`; !strings.Contains(body, want) || strings.Contains(body, `id="log-empty"`) {
		t.Errorf("the reused task's page does not say, in place of its log, that it reused outputs (want %s)", want)
	}
	// Its raw log (the page's link, the API) says it too, whole, in a
	// tail, and followed.
	note := "cairn: not run: reused the outputs of " + first.ID + "/data#1\n"
	for _, q := range []string{"", "?attempt=1", "?tail=10"} {
		resp, log := f.get(t, "/api/v1/runs/"+second.ID+"/tasks/data/log"+q)
		if log != note || resp.Header.Get("X-Log-Size") != fmt.Sprint(len(note)) {
			t.Errorf("the reused task's log%s: %q (X-Log-Size %s), want %q", q, log, resp.Header.Get("X-Log-Size"), note)
		}
	}
	if _, log := f.get(t, "/api/v1/runs/"+second.ID+"/tasks/data/log?follow=1"); log != fmt.Sprintf("event: log\ndata: %sid: %d\n\nevent: end\ndata: succeeded\n\n", note, len(note)) {
		t.Errorf("the reused task's log followed: %q", log)
	}
	if _, log := f.get(t, fmt.Sprintf("/api/v1/runs/%s/tasks/data/log?follow=1&from=%d", second.ID, len(note))); log != "event: end\ndata: succeeded\n\n" {
		t.Errorf("the reused task's log followed from its end: %q", log)
	}

	if _, err := c.CacheStory(ctx, third.ID, "nope"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("an unknown task: %v", err)
	}
	if _, err := c.CacheStory(ctx, "zzzzzzzzzzzz", "data"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("an unknown run: %v", err)
	}
	if resp, _ := f.get(t, "/api/v1/runs/"+third.ID+"/tasks/data/cache?attempt=1"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown query parameter: %d", resp.StatusCode)
	}
	g := newFixture(t)
	run := g.run(t, cacheStoryWF, nil)
	gc, err := client.New(g.srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.CacheStory(ctx, run.ID, "data"); !errors.Is(err, client.ErrNotImplemented) {
		t.Errorf("a server without Options.Cache: %v", err)
	}
	if _, body := g.get(t, "/runs/"+run.ID+"/tasks/data"); strings.Contains(body, "cache-story") {
		t.Errorf("a server without Options.Cache tells a cache story")
	}
}
