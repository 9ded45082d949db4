package lineage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cairnml/cairn"
)

// CacheStory says whether a task's latest attempt reused an earlier
// success and, when it did not, why (cairn show RUN TASK, GET
// /api/v1/runs/{id}/tasks/{task}/cache, the task page): caching was off for it (and why), it
// had nothing to reuse, or what differs from the last success of the same
// task in the same workflow (type, version, which params, which inputs).
type CacheStory struct {
	Hit  *cairn.AttemptRef `json:"hit"`  // the attempt whose outputs it reused
	On   bool              `json:"on"`   // caching was on for the task
	Why  string            `json:"why"`  // in words
	Last *cairn.AttemptRef `json:"last"` // the success compared with, if any
	// Changes are what differs from Last, in words: "version: A → B",
	// "params: seed (42 → 7)", "input data: sha256:… → sha256:…".
	Changes []string `json:"changes"`
}

// CacheStore is what explaining a miss reads (*sqlite.Store and
// *postgres.Store answer it).
type CacheStore interface {
	LastSuccessOf(ctx context.Context, workflow, taskID, exceptRun string, before time.Time) (*cairn.Attempt, error)
	Attempt(ctx context.Context, a cairn.AttemptRef) (*cairn.Attempt, error)
	AttemptEdges(ctx context.Context, a cairn.AttemptRef) ([]cairn.LineageEdge, error)
	FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error)
}

// ExplainCache tells task tr's cache story from its attempts (oldest
// first). off says why caching was off for it when it was (from the
// workflow as the run stored it, read with the task types that know each
// type's default); it is called only then. Errors are the store's.
func ExplainCache(ctx context.Context, st CacheStore, r *cairn.Run, tr *cairn.TaskRun, atts []*cairn.Attempt, off func() string) (CacheStory, error) {
	s := CacheStory{On: tr.Cache, Changes: []string{}}
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
	case at == nil && tr.Expanded:
		s.Why = fmt.Sprintf("a for_each task runs no attempt of its own: each of its %d items is cached on its own (cairn show RUN '%s')",
			tr.Items, cairn.ItemID(tr.TaskID, 0))
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
	// The last success there was when the attempt started: the one it
	// could have reused, not a newer one.
	last, err := st.LastSuccessOf(ctx, r.Workflow, tr.TaskID, r.ID, at.StartedAt)
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
func inputChanges(ctx context.Context, st CacheStore, before, after cairn.AttemptRef) ([]string, error) {
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
			out = append(out, fmt.Sprintf("input %s: %s → %s", p, orAbsent(Short(b[p])), orAbsent(Short(a[p]))))
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
