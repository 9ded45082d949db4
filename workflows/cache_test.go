package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

const cacheFile = `name: c
tasks:
  - id: fit
    type: train
    with: {model: m}
    inputs: {train: "${{ tasks.sh.outputs.d }}"}
  - id: sh
    type: shell
    with: {argv: ["true"], outputs: {d: d.csv}}
  - id: idle
    type: noop
`

// TestCacheDefaults: a task is cached by its type's policy unless its
// cache: says otherwise, and the run made from the workflow carries it.
func TestCacheDefaults(t *testing.T) {
	w, err := Parse("c.yaml", []byte(cacheFile), opts())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]struct {
		on  bool
		why string
	}{
		"fit":  {true, "type train is cached by default"},
		"sh":   {false, "type shell is cached only with cache: true"},
		"idle": {false, "type noop is never cached"},
	} {
		tk := w.Task(id)
		if tk.Cached != want.on || tk.CacheWhy != want.why || tk.Cache != nil {
			t.Errorf("task %s: cached %v (%q), want %v (%q)", id, tk.Cached, tk.CacheWhy, want.on, want.why)
		}
	}
	if strings.Contains(string(w.Canonical()), `"cache"`) {
		t.Errorf("the canonical form of a file without cache: names it: %s", w.Canonical())
	}
	_, trs := w.NewRun(nil, time.Unix(0, 0))
	got := map[string]bool{}
	for _, tr := range trs {
		got[tr.TaskID] = tr.Cache
	}
	if !got["fit"] || got["sh"] || got["idle"] {
		t.Errorf("the new run's task runs: %v", got)
	}
	NoCache(trs)
	for _, tr := range trs {
		if tr.Cache {
			t.Errorf("NoCache left %s cached", tr.TaskID)
		}
	}

	// The file says otherwise: it wins, and the digest changes.
	src := strings.Replace(cacheFile, "    type: train\n", "    type: train\n    cache: false\n", 1)
	src = strings.Replace(src, "    type: shell\n", "    type: shell\n    cache: true\n", 1)
	w2, err := Parse("c.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	if fit, sh := w2.Task("fit"), w2.Task("sh"); fit.Cached || !sh.Cached || fit.CacheWhy != "the task says cache: false" || sh.CacheWhy != "the task says cache: true" {
		t.Errorf("cache: as written: fit %v %q, sh %v %q", fit.Cached, fit.CacheWhy, sh.Cached, sh.CacheWhy)
	}
	if w2.Digest == w.Digest || !strings.Contains(string(w2.Canonical()), `{"cache":false,"id":"fit"`) {
		t.Errorf("cache: is not in the canonical form: %s", w2.Canonical())
	}
	// Parsed without types, only cache: true caches.
	w3, err := Parse("c.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w3.Task("fit").Cached || !w3.Task("sh").Cached || w3.Task("idle").Cached {
		t.Errorf("without types: fit %v sh %v idle %v", w3.Task("fit").Cached, w3.Task("sh").Cached, w3.Task("idle").Cached)
	}
}

func TestCacheErrors(t *testing.T) {
	for src, want := range map[string]string{
		"name: c\ntasks:\n  - id: a\n    type: noop\n    cache: true\n":                            `c.yaml:5:12: task "a": type "noop" is never cached` + "\n\thint: remove cache: true",
		"name: c\ntasks:\n  - id: a\n    type: shell\n    cache: 1\n    with: {argv: [x]}\n":       `c.yaml:5:12: cache must be true or false, not an integer (1)`,
		"name: c\ntasks:\n  - id: a\n    type: shell\n    cache: \"yes\"\n    with: {argv: [x]}\n": `c.yaml:5:12: cache must be true or false, not a string ("yes")`,
	} {
		_, err := Parse("c.yaml", []byte(src), opts())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\ngot  %v\nwant %s", src, err, want)
		}
	}
	// cache: false on noop says nothing new, and is allowed.
	if _, err := Parse("c.yaml", []byte("name: c\ntasks:\n  - id: a\n    type: noop\n    cache: false\n"), opts()); err != nil {
		t.Errorf("cache: false on noop: %v", err)
	}
}

// defaulterTypes is fakeTypes that decides a type's default from its
// params, as *tasks.Registry does for collect.
type defaulterTypes struct{ fakeTypes }

func (d defaulterTypes) CacheDefault(name string, params map[string]any) (bool, string) {
	if name == "shell" {
		return params["argv"] != nil, "by argv"
	}
	return false, "no"
}

func TestCacheDefaulter(t *testing.T) {
	w, err := Parse("c.yaml", []byte(cacheFile), Options{Types: defaulterTypes{newFakeTypes()}})
	if err != nil {
		t.Fatal(err)
	}
	if sh := w.Task("sh"); !sh.Cached || sh.CacheWhy != "by argv" {
		t.Errorf("the type set's default was not asked: %v %q", sh.Cached, sh.CacheWhy)
	}
	_ = cairn.CacheAuto
}
