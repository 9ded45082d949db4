package workflows

import (
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

func TestNewRunPinsTheWorkflow(t *testing.T) {
	src := `name: two
concurrency: 3
defaults: {retries: 2, retry_backoff: {delay: 1s, factor: 3, max: 1m}, timeout: 5m, max_interruptions: 4}
tasks:
  - id: a
    type: noop
  - id: b
    type: noop
    needs: [a]
    retries: 0
    timeout: 10s
    max_interruptions: 2
`
	w, err := Parse("two.yaml", []byte(src), opts())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	params := map[string]any{"seed": 7}
	run, trs := w.NewRun(params, now)
	if run.Workflow != "two" || run.Digest != w.Digest || string(run.Source) != src || run.SourcePath != "two.yaml" ||
		run.State != cairn.RunQueued || run.MaxActive != 3 || !run.CreatedAt.Equal(now) || !reflect.DeepEqual(run.Params, params) {
		t.Fatalf("run = %+v", run)
	}
	if len(run.ID) != 16 {
		t.Fatalf("run id %q", run.ID)
	}
	want := []cairn.TaskRun{
		{RunID: run.ID, TaskID: "a", Type: "noop", State: cairn.TaskPending,
			Retry:   cairn.RetryPolicy{Retries: 2, Backoff: time.Second, Factor: 3, MaxBackoff: time.Minute, MaxInterruptions: 4},
			Timeout: 5 * time.Minute},
		{RunID: run.ID, TaskID: "b", Type: "noop", State: cairn.TaskPending,
			Retry:   cairn.RetryPolicy{Retries: 0, Backoff: time.Second, Factor: 3, MaxBackoff: time.Minute, MaxInterruptions: 2},
			Timeout: 10 * time.Second},
	}
	if len(trs) != len(want) {
		t.Fatalf("%d task runs, want %d", len(trs), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(*trs[i], want[i]) {
			t.Errorf("task run %d = %+v, want %+v", i, *trs[i], want[i])
		}
	}
}
