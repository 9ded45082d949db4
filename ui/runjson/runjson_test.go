package runjson

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

func TestAttemptsText(t *testing.T) {
	if got := AttemptsText(&cairn.TaskRun{Attempt: 3}, nil); got != "3" {
		t.Errorf("3 attempts = %q", got)
	}
	if got := AttemptsText(&cairn.TaskRun{Attempt: 3, Interrupted: 2}, nil); got != "3 (2 interrupted)" {
		t.Errorf("3 attempts, 2 interrupted = %q", got)
	}
	// A for_each task has no attempt of its own: its items' count.
	items := []*cairn.Attempt{{State: cairn.TaskSucceeded}, {State: cairn.AttemptInterrupted}, {State: cairn.TaskSucceeded}}
	if got := AttemptsText(&cairn.TaskRun{Expanded: true, Items: 2}, items); got != "3 (1 interrupted)" {
		t.Errorf("a for_each task whose 2 items made 3 attempts, 1 interrupted = %q", got)
	}
}

// A for_each task's row spans its items: their attempts gathered earliest
// first, its duration from the first item's start to its end, its own
// attempt history left empty.
func TestForEachSpansItems(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	trs := []*cairn.TaskRun{
		{TaskID: "each", Expanded: true, Items: 2, State: cairn.TaskSucceeded, FinishedAt: at(9)},
		{TaskID: "each[0]", Attempt: 1, State: cairn.TaskSucceeded, FinishedAt: at(9)},
		{TaskID: "each[1]", Attempt: 2, State: cairn.TaskSucceeded, FinishedAt: at(6)},
		{TaskID: "other", Attempt: 1, State: cairn.TaskSucceeded, FinishedAt: at(1)},
	}
	atts := map[string][]*cairn.Attempt{
		"each[0]": {{Number: 1, StartedAt: at(5), FinishedAt: at(9), State: cairn.TaskSucceeded}},
		"each[1]": {{Number: 1, StartedAt: at(2), FinishedAt: at(3), State: cairn.AttemptInterrupted}, {Number: 2, StartedAt: at(4), FinishedAt: at(6), State: cairn.TaskSucceeded}},
		"other":   {{Number: 1, StartedAt: at(0), FinishedAt: at(1), State: cairn.TaskSucceeded}},
	}
	items := ItemAttempts(trs, atts)
	if len(items) != 1 || len(items["each"]) != 3 {
		t.Fatalf("ItemAttempts = %v, want the 3 attempts of each's items only", items)
	}
	for i, want := range []time.Time{at(2), at(4), at(5)} {
		if got := items["each"][i].StartedAt; !got.Equal(want) {
			t.Errorf("item attempt %d starts %v, want %v (earliest first)", i, got, want)
		}
	}
	got := Tasks(trs, atts, nil)
	each := got[0]
	if each.DurationMS == nil || *each.DurationMS != 7000 {
		t.Errorf("each's duration = %v, want 7000 ms (first item's start to its end)", each.DurationMS)
	}
	if each.StartedAt == nil || !each.StartedAt.Equal(at(2)) {
		t.Errorf("each's start = %v, want its first item's", each.StartedAt)
	}
	if each.Attempts != 0 || len(each.Attempt) != 0 {
		t.Errorf("each's own attempts = %d %v, want none (its items have them)", each.Attempts, each.Attempt)
	}
	if got[3].DurationMS == nil || *got[3].DurationMS != 1000 {
		t.Errorf("a plain task's duration = %v, want 1000 ms", got[3].DurationMS)
	}
}

// WriteIndented writes what an indenting json.Encoder writes, byte for
// byte, for runs with and without tasks, metrics, HTML-ish text and
// attempts.
func TestWriteIndentedIsTheEncoders(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	trs := []*cairn.TaskRun{
		{TaskID: "a", Type: "shell", Attempt: 2, State: cairn.TaskFailed, Error: "exit 1 <&> \"quoted\"", FinishedAt: t0.Add(time.Second),
			Params: json.RawMessage(`{"script": "echo <b>"}`), Outputs: map[string]json.RawMessage{"x": json.RawMessage(`[1, 2]`)}},
		{TaskID: "each", Type: "noop", Expanded: true, Items: 1, State: cairn.TaskSucceeded},
		{TaskID: "each[0]", Type: "noop", Item: json.RawMessage(`"é"`), Attempt: 1, State: cairn.TaskSucceeded},
	}
	atts := map[string][]*cairn.Attempt{
		"a":       {{Number: 1, StartedAt: t0, FinishedAt: t0.Add(time.Millisecond), State: cairn.TaskRetrying}, {Number: 2, StartedAt: t0.Add(time.Millisecond), State: cairn.TaskFailed}},
		"each[0]": {{Number: 1, StartedAt: t0, FinishedAt: t0, State: cairn.TaskSucceeded}},
	}
	run := FromRun(&cairn.Run{ID: "r1", Workflow: "w", State: cairn.RunFailed, CreatedAt: t0, Params: map[string]any{"p": "<x>"}}, false)
	for name, j := range map[string]Run{
		"no tasks": run,
		"tasks":    func() Run { r := run; r.Tasks = Tasks(trs, atts, map[string]string{"a": "waits"}); return r }(),
		"with metrics": func() Run {
			r := run
			r.Tasks = Tasks(trs, atts, nil)
			r.Metrics = map[string]float64{"e.f1": 0.5}
			return r
		}(),
	} {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(j); err != nil {
			t.Fatal(err)
		}
		if err := WriteIndented(&got, j); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: WriteIndented wrote\n%s\nthe encoder\n%s", name, got.String(), want.String())
		}
	}
}
