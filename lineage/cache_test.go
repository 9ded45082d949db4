package lineage

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// fakeCacheStore serves ExplainCache from memory.
type fakeCacheStore struct {
	last  *cairn.Attempt
	atts  map[cairn.AttemptRef]*cairn.Attempt
	edges map[cairn.AttemptRef][]cairn.LineageEdge
}

func (f fakeCacheStore) LastSuccessOf(ctx context.Context, workflow, taskID, exceptRun string, before time.Time) (*cairn.Attempt, error) {
	if f.last == nil {
		return nil, cairn.ErrNotFound
	}
	return f.last, nil
}

func (f fakeCacheStore) Attempt(ctx context.Context, a cairn.AttemptRef) (*cairn.Attempt, error) {
	if at, ok := f.atts[a]; ok {
		return at, nil
	}
	return nil, errors.New("no such attempt")
}

func (f fakeCacheStore) FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error) {
	return nil, nil
}

func (f fakeCacheStore) AttemptEdges(ctx context.Context, a cairn.AttemptRef) ([]cairn.LineageEdge, error) {
	return f.edges[a], nil
}

// TestExplainCache: each reason a task ran, from its attempt and the last
// success it is compared with (what e2e runs cannot make: another
// version, another type, a last success that was itself a reuse).
func TestExplainCache(t *testing.T) {
	ctx := context.Background()
	run := &cairn.Run{ID: "run2", Workflow: "wf"}
	tr := &cairn.TaskRun{RunID: "run2", TaskID: "t", Type: "train", State: cairn.TaskSucceeded, Cache: true}
	done := cairn.Attempt{RunID: "run2", TaskID: "t", Number: 1, State: cairn.TaskSucceeded, Type: "train", Version: "cairn 2",
		Params: json.RawMessage(`{"a":1,"b":[1,2],"c":"x"}`), CacheKey: "sha256:new"}
	done.FinishedAt = done.StartedAt.Add(1)
	orig := &cairn.Attempt{RunID: "run0", TaskID: "t", Number: 2, State: cairn.TaskSucceeded, Type: "train", Version: "cairn 1",
		Params: json.RawMessage(`{"a": 1, "b": [1, 3], "d": true}`), CacheKey: "sha256:old"}
	reuse := &cairn.Attempt{RunID: "run1", TaskID: "t", Number: 1, State: cairn.TaskSucceeded, Type: "train", Version: "cairn 1",
		CachedFrom: cairn.AttemptRef{RunID: "run0", TaskID: "t", Number: 2}}
	in := func(a *cairn.Attempt, digest string) []cairn.LineageEdge {
		return []cairn.LineageEdge{{Attempt: cairn.AttemptRef{RunID: a.RunID, TaskID: a.TaskID, Number: a.Number}, Direction: cairn.LineageIn, Port: "train", Digest: digest},
			{Attempt: cairn.AttemptRef{RunID: a.RunID, TaskID: a.TaskID, Number: a.Number}, Direction: cairn.LineageOut, Port: "model", Digest: "sha256:" + strings.Repeat("9", 64)}}
	}
	st := fakeCacheStore{last: reuse,
		atts: map[cairn.AttemptRef]*cairn.Attempt{{RunID: "run0", TaskID: "t", Number: 2}: orig},
		edges: map[cairn.AttemptRef][]cairn.LineageEdge{
			{RunID: "run0", TaskID: "t", Number: 2}: in(orig, "sha256:"+strings.Repeat("1", 64)),
			{RunID: "run2", TaskID: "t", Number: 1}: in(&done, "sha256:"+strings.Repeat("2", 64)),
		}}
	s, err := ExplainCache(ctx, st, run, tr, []*cairn.Attempt{&done}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"version: cairn 1 → cairn 2", `params: b ([1,3] → [1,2]), c (absent → "x"), d (true → absent)`,
		"input train: sha256:111111111111 → sha256:222222222222"}
	if !reflect.DeepEqual(s.Changes, want) || s.Last == nil || s.Last.RunID != "run1" || !strings.Contains(s.Why, "run1/t#1, differs") {
		t.Errorf("story %+v\nwant changes %q", s, want)
	}
	// Another type only.
	other := *orig
	other.Type, other.Version, other.Params = "tune", done.Version, done.Params
	st.last = &other
	st.edges[cairn.AttemptRef{RunID: "run0", TaskID: "t", Number: 2}] = in(&done, "sha256:"+strings.Repeat("2", 64))
	if s, _ := ExplainCache(ctx, st, run, tr, []*cairn.Attempt{&done}, nil); !reflect.DeepEqual(s.Changes, []string{"type: tune → train"}) {
		t.Errorf("type change: %+v", s)
	}
	// Nothing differs, but the last success ran with caching off.
	same := other
	same.Type, same.CacheKey = "train", ""
	st.last = &same
	if s, _ := ExplainCache(ctx, st, run, tr, []*cairn.Attempt{&done}, nil); len(s.Changes) != 0 || !strings.Contains(s.Why, "had caching off") {
		t.Errorf("a match made without cache: %+v", s)
	}
	// Caching off: the reason given.
	off := *tr
	off.Cache = false
	if s, _ := ExplainCache(ctx, st, run, &off, []*cairn.Attempt{&done}, func() string { return "because" }); s.On || s.Why != "off: because" {
		t.Errorf("off: %+v", s)
	}
	// A for_each task runs no attempt of its own: its items are cached.
	fan := *tr
	fan.Expanded, fan.Items = true, 3
	if s, _ := ExplainCache(ctx, st, run, &fan, nil, nil); !strings.Contains(s.Why, "for_each task runs no attempt of its own") || !strings.Contains(s.Why, "'t[0]'") {
		t.Errorf("a for_each task: %+v", s)
	}
}
