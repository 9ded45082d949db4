package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/ui/runjson"
	"github.com/cairnml/cairn/workflows"
)

// cacheStory says whether a task's latest attempt reused an earlier
// success and, when it did not, why: caching was off for it (and why), it
// had nothing to reuse, or what differs from the last success of the same
// task in the same workflow (type, version, which params, which inputs).
type cacheStory struct {
	Hit  *cairn.AttemptRef `json:"hit"`  // the attempt whose outputs it reused
	On   bool              `json:"on"`   // caching was on for the task
	Why  string            `json:"why"`  // in words
	Last *cairn.AttemptRef `json:"last"` // the success compared with, if any
	// Changes are what differs from Last, in words: "version: A → B",
	// "params: seed (42 → 7)", "input data: sha256:… → sha256:…".
	Changes []string `json:"changes"`
}

// cacheStore is what explaining a miss reads.
type cacheStore interface {
	LastSuccessOf(ctx context.Context, workflow, taskID, exceptRun string) (*cairn.Attempt, error)
	Attempt(ctx context.Context, a cairn.AttemptRef) (*cairn.Attempt, error)
	AttemptEdges(ctx context.Context, a cairn.AttemptRef) ([]cairn.LineageEdge, error)
	FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error)
}

// explainCache tells task tr's cache story from its attempts (oldest
// first). off says why caching was off for it when it was (from the
// workflow as the run stored it).
func explainCache(ctx context.Context, st cacheStore, r *cairn.Run, tr *cairn.TaskRun, atts []*cairn.Attempt, off func() string) (cacheStory, error) {
	s := cacheStory{On: tr.Cache, Changes: []string{}}
	var at *cairn.Attempt
	if n := len(atts); n > 0 && !atts[n-1].FinishedAt.IsZero() {
		at = atts[n-1]
	}
	switch {
	case at != nil && !at.CachedFrom.IsZero():
		from := at.CachedFrom
		s.Hit = &from
		s.Why = fmt.Sprintf("reused the outputs of %s: not run", from)
		return s, nil
	case !tr.Cache:
		s.Why = "off: " + off()
		return s, nil
	case at == nil:
		s.Why = fmt.Sprintf("on; the task has not ended an attempt yet (it is %s)", tr.State)
		return s, nil
	}
	atRef := cairn.AttemptRef{RunID: at.RunID, TaskID: at.TaskID, Number: at.Number}
	if at.CacheKey != "" {
		// Another success with the same key: it was there to reuse (or
		// it ended while this attempt ran).
		hits, err := st.FindCached(ctx, at.CacheKey, 2)
		if err != nil {
			return s, err
		}
		for _, h := range hits {
			if h.Attempt != atRef {
				ref := h.Attempt
				s.Last = &ref
				s.Why = fmt.Sprintf("on; it ran: %s has the same cache key, but %s", ref, reuseRefused(at))
				return s, nil
			}
		}
	}
	last, err := st.LastSuccessOf(ctx, r.Workflow, tr.TaskID, r.ID)
	if errors.Is(err, cairn.ErrNotFound) {
		s.Why = fmt.Sprintf("on; no earlier run of workflow %s has a success of task %s to reuse", r.Workflow, tr.TaskID)
		return s, nil
	}
	if err != nil {
		return s, err
	}
	ref := cairn.AttemptRef{RunID: last.RunID, TaskID: last.TaskID, Number: last.Number}
	s.Last = &ref
	// A reuse holds no key of its own: compare with what it reused.
	orig := last
	if !last.CachedFrom.IsZero() {
		if o, err := st.Attempt(ctx, last.CachedFrom); err == nil {
			orig = o
		}
	}
	origRef := cairn.AttemptRef{RunID: orig.RunID, TaskID: orig.TaskID, Number: orig.Number}
	if at.Type != orig.Type {
		s.Changes = append(s.Changes, fmt.Sprintf("type: %s → %s", orig.Type, at.Type))
	}
	if at.Version != orig.Version {
		s.Changes = append(s.Changes, fmt.Sprintf("version: %s → %s", orig.Version, at.Version))
	}
	if ch := paramChanges(orig.Params, at.Params); ch != "" {
		s.Changes = append(s.Changes, "params: "+ch)
	}
	ins, err := inputChanges(ctx, st, origRef, atRef)
	if err != nil {
		return s, err
	}
	s.Changes = append(s.Changes, ins...)
	switch {
	case len(s.Changes) == 0 && orig.CacheKey != "" && at.CacheKey != "" && orig.CacheKey != at.CacheKey:
		s.Why = fmt.Sprintf("on; it ran: its last success in workflow %s, %s, has the same type, version, params and inputs, but what it read from outside (collect: the bytes of its file) changed", r.Workflow, ref)
	case len(s.Changes) > 0:
		s.Why = fmt.Sprintf("on; it ran: its last success in workflow %s, %s, differs", r.Workflow, ref)
	case orig.CacheKey == "":
		s.Why = fmt.Sprintf("on; it ran: its last success in workflow %s, %s, matches but had caching off, so it is not offered for reuse", r.Workflow, ref)
	case at.State != cairn.TaskSucceeded:
		s.Why = fmt.Sprintf("on; it ran (and %s): its last success, %s, matches, but %s", at.State, ref, reuseRefused(at))
	default:
		s.Why = fmt.Sprintf("on; it ran: its last success in workflow %s, %s, matches, but %s", r.Workflow, ref, reuseRefused(at))
	}
	return s, nil
}

func reuseRefused(at *cairn.Attempt) string {
	return fmt.Sprintf("its outputs were not reused (missing or corrupt artifacts; the attempt's log says which: cairn logs %s %s --attempt %d)",
		at.RunID, at.TaskID, at.Number)
}

// paramChanges lists the params (top-level keys of two JSON objects) that
// differ, each with its values: "seed (42 → 7), test_size (absent → 0.3)".
func paramChanges(before, after json.RawMessage) string {
	var b, a map[string]json.RawMessage
	json.Unmarshal(before, &b)
	json.Unmarshal(after, &a)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []byte
	for _, k := range names {
		x, inB := b[k]
		y, inA := a[k]
		if inB && inA && bytes.Equal(compactJSON(x), compactJSON(y)) {
			continue
		}
		if len(out) > 0 {
			out = append(out, ", "...)
		}
		out = fmt.Appendf(out, "%s (%s → %s)", k, paramValue(x, inB), paramValue(y, inA))
	}
	if len(out) == 0 && !bytes.Equal(compactJSON(before), compactJSON(after)) {
		return "the params differ"
	}
	return string(out)
}

func compactJSON(v json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return v
	}
	return buf.Bytes()
}

// paramValue is a param's value for a message: compact, at most 60 bytes.
func paramValue(v json.RawMessage, present bool) string {
	if !present {
		return "absent"
	}
	s := string(compactJSON(v))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// inputChanges lists the inputs whose digest differs between two
// attempts: "input data: sha256:… → sha256:…".
func inputChanges(ctx context.Context, st cacheStore, before, after cairn.AttemptRef) ([]string, error) {
	ins := func(a cairn.AttemptRef) (map[string]string, error) {
		edges, err := st.AttemptEdges(ctx, a)
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for _, e := range edges {
			if e.Direction == cairn.LineageIn {
				m[e.Port] = e.Digest
			}
		}
		return m, nil
	}
	b, err := ins(before)
	if err != nil {
		return nil, err
	}
	a, err := ins(after)
	if err != nil {
		return nil, err
	}
	ports := map[string]bool{}
	for p := range b {
		ports[p] = true
	}
	for p := range a {
		ports[p] = true
	}
	names := make([]string, 0, len(ports))
	for p := range ports {
		names = append(names, p)
	}
	sort.Strings(names)
	var out []string
	for _, p := range names {
		if b[p] != a[p] {
			out = append(out, fmt.Sprintf("input %s: %s → %s", p, orAbsent(shortDigest(b[p])), orAbsent(shortDigest(a[p]))))
		}
	}
	return out, nil
}

func orAbsent(s string) string {
	if s == "" {
		return "absent"
	}
	return s
}

// cacheOff says why caching was off for task taskID of run r, from the
// workflow the run stored, read with the task types reg.
func (a *app) cacheOff(ctx context.Context, r *cairn.Run, taskID string) string {
	if r.ReproduceOf != "" {
		return fmt.Sprintf("run %s reproduces run %s, which uses no cache", r.ID, r.ReproduceOf)
	}
	wf, _, err := a.parseWith(ctx, func(reg *tasks.Registry) (*workflows.Workflow, error) { return storedWorkflow(reg, r, "explain") })
	if err != nil {
		return "the workflow the run stored cannot be read again to say why: " + oneLine(err.Error())
	}
	t := wf.Task(taskID)
	if t == nil {
		return "the workflow the run stored has no such task"
	}
	if t.Cached {
		return fmt.Sprintf("the run was started with --no-cache (else: %s)", t.CacheWhy)
	}
	return t.CacheWhy
}

// cachedFrom is the attempt whose outputs task tr's latest attempt
// reused; zero when it ran.
func cachedFrom(tr *cairn.TaskRun, atts []*cairn.Attempt) cairn.AttemptRef {
	if n := len(atts); tr.State == cairn.TaskSucceeded && n > 0 {
		return atts[n-1].CachedFrom
	}
	return cairn.AttemptRef{}
}

// showTask prints one task of a run with its cache story (cairn show RUN
// TASK).
func (a *app) showTask(ctx context.Context, src runSource, d *runDetail, taskID string, asJSON bool) error {
	tr, err := d.task(taskID)
	if err != nil {
		return err
	}
	atts := d.atts[tr.TaskID]
	var story cacheStory
	if l, ok := src.(*localSource); ok && l.st != nil {
		story, err = explainCache(ctx, l.st, d.Run, tr, atts, func() string { return a.cacheOff(ctx, d.Run, tr.TaskID) })
		if err != nil {
			return err
		}
	} else {
		// A server's run: its store is the server's. What the run says
		// is told; why a task ran is not.
		story = cacheStory{On: tr.Cache, Changes: []string{}}
		if from := cachedFrom(tr, atts); !from.IsZero() {
			story.Hit = &from
			story.Why = fmt.Sprintf("reused the outputs of %s: not run", from)
		} else if tr.Cache {
			story.Why = "on; why it ran is told on the server's host (cairn show RUN TASK there)"
		} else {
			story.Why = "off"
		}
	}
	if asJSON {
		tj := runjson.FromTask(tr, atts)
		tj.Waiting = d.waiting[tr.TaskID]
		return writeJSON(a.stdout, struct {
			Task  taskJSON   `json:"task"`
			Cache cacheStory `json:"cache"`
		}{tj, story})
	}
	w := a.stdout
	sty := newStyle(w)
	dur := "-"
	if d, ok := taskDuration(tr, atts); ok {
		dur = d.Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "run       %s\ntask      %s (%s)\nstate     %s\nattempts  %s\nduration  %s\n", d.ID, tr.TaskID, tr.Type,
		sty.state(string(tr.State)), attemptCount(tr), dur)
	word := "cache"
	if story.Hit != nil {
		word = sty.paint(colorCyan, "cache")
	}
	fmt.Fprintf(w, "%s     %s\n", word, printable(story.Why))
	for _, c := range story.Changes {
		fmt.Fprintf(w, "            %s\n", printable(c))
	}
	if tr.Error != "" {
		fmt.Fprintf(w, "error     %s\n", printable(oneLine(tr.Error)))
	}
	if why := d.waiting[tr.TaskID]; why != "" {
		fmt.Fprintf(w, "%s   %s\n", sty.paint(colorYellow, "waiting"), printable(strings.TrimPrefix(why, "waiting: ")))
	}
	for _, k := range sortedKeys(tr.Outputs) {
		fmt.Fprintf(w, "  output  %s = %s\n", printable(k), clip(string(tr.Outputs[k]), maxOutputText, d.ID))
	}
	for _, k := range sortedKeys(tr.Metrics) {
		fmt.Fprintf(w, "  metric  %s = %g\n", printable(k), tr.Metrics[k])
	}
	return nil
}
