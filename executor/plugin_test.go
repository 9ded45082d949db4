package executor_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
)

// served is noop as if a plugin served it: it reports the plugin binary
// that runs each attempt, as the plugin host does once a process has it.
type served struct {
	*noop.Task
	ref cairn.PluginRef
}

func (s served) Info() cairn.TypeInfo {
	info := s.Task.Info()
	info.Name = "served"
	return info
}

func (s served) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	env.RanBy(s.ref)
	return s.Task.Run(ctx, req, env)
}

// unserved is a plugin-served type whose attempts fail before any
// process has them (the plugin could not be started, say).
type unserved struct{ *noop.Task }

func (unserved) Info() cairn.TypeInfo {
	info := noop.New().Info()
	info.Name = "unserved"
	return info
}

func (unserved) Run(context.Context, tasks.Request, tasks.Env) (tasks.Result, error) {
	return tasks.Result{}, cairn.Permanentf("plugin alpha not started")
}

// Every attempt a plugin binary ran records that binary, durably, with the
// completion; an attempt no plugin process ran (refused before one had it)
// and a built-in's attempts record none.
func TestAttemptsRecordTheirPlugin(t *testing.T) {
	ref := cairn.PluginRef{Name: "kmeans", Version: "0.1.0", SHA256: "4ecdd2e5218218d3b80c9f17918a5ebca2471b76bd5e24392fa03974b1857219", Protocol: 1}
	r := newRig(t, served{Task: noop.New(), ref: ref}, unserved{Task: noop.New()})
	wf, id := r.create(t, `
name: provenance
tasks:
  - {id: p, type: served, retries: 1, with: {fail: "first try"}}
  - {id: b, type: noop}
  - {id: u, type: unserved}
`)
	r.startPool(t, 2)
	wantRun(t, r.drive(t, id, wf), cairn.RunFailed)
	atts := r.attempts(t, id, "p")
	if len(atts) != 2 {
		t.Fatalf("%d attempts of p, want 2", len(atts))
	}
	for _, a := range atts {
		if a.Plugin == nil || !reflect.DeepEqual(*a.Plugin, ref) {
			t.Errorf("attempt %d of p records plugin %+v, want %+v", a.Number, a.Plugin, ref)
		}
	}
	if b := r.attempts(t, id, "b"); len(b) != 1 || b[0].Plugin != nil {
		t.Errorf("the built-in's attempt records plugin %+v", b[0].Plugin)
	}
	if u := r.attempts(t, id, "u"); len(u) != 1 || u[0].Plugin != nil {
		t.Errorf("the attempt no plugin ran records plugin %+v", u)
	}
}
