package workflows

import (
	"reflect"
	"testing"
	"time"
)

// A task's labels: and queue: come from defaults unless it writes its
// own (which replace them whole); "default" is the default queue, ""; the
// run's task runs carry them; they are part of the digest only when set.
func TestRouting(t *testing.T) {
	w, err := ParseFile("testdata/valid/routing.yaml", opts())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		labels map[string]string
		queue  string
	}{
		"prep":   {map[string]string{"zone": "eu-west-1"}, "batch"},
		"train":  {map[string]string{"gpu": "true", "cuda": "12.4", "example.com/accelerator": "a100"}, "gpu-jobs"},
		"report": {nil, ""},
	}
	_, trs := w.NewRun(nil, time.Now())
	for _, tr := range trs {
		wt := want[tr.TaskID]
		if !reflect.DeepEqual(tr.Labels, wt.labels) || tr.Queue != wt.queue {
			t.Errorf("%s: labels %v queue %q, want %v %q", tr.TaskID, tr.Labels, tr.Queue, wt.labels, wt.queue)
		}
	}
	digest := func(src string) string {
		t.Helper()
		w, err := Parse("wf.yaml", []byte(src), opts())
		if err != nil {
			t.Fatal(err)
		}
		return w.Digest
	}
	plain := digest("name: d\ntasks:\n  - {id: a, type: noop}\n")
	if d := digest("name: d\ntasks:\n  - {id: a, type: noop, queue: default, labels: {}}\n"); d != plain {
		t.Errorf("the default queue and no labels changed the digest")
	}
	if d := digest("name: d\ntasks:\n  - {id: a, type: noop, labels: {gpu: \"true\"}}\n"); d == plain {
		t.Errorf("labels left the digest as it was")
	}
	if d := digest("name: d\ntasks:\n  - {id: a, type: noop, queue: gpu}\n"); d == plain {
		t.Errorf("a queue left the digest as it was")
	}
}
