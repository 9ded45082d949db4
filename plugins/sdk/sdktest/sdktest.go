// Package sdktest is the plugin author's test harness: it serves task types
// over the real plugin wire protocol (go-plugin's gRPC transport, the
// messages of plugins/proto, the host's Artifacts service over the
// broker) inside the test process, so that a plugin's tests need no
// build step and no subprocess, and runs tasks/tasktest's conformance
// cases against a task both in process and across that wire.
package sdktest

import (
	"context"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/plugins/internal/wire"
	"github.com/cairnml/cairn/plugins/sdk"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// Grace is how long a served task has to return once its context ends
// before Run gives up on it; it is under tasktest.CancelWithin.
const Grace = 2 * time.Second

// Connect serves c's task types over an in-process plugin connection and
// returns them as the host sees them, in c.Tasks order. The connection is
// closed when the test ends.
func Connect(t testing.TB, c sdk.Config) []tasks.Task {
	t.Helper()
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	served := &wire.Plugin{Version: c.Version, Tasks: c.Tasks}
	client, _ := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{wire.PluginName: served})
	raw, err := client.Dispense(wire.PluginName)
	if err != nil {
		t.Fatalf("sdktest: dispense: %v", err)
	}
	wc := raw.(*wire.Client)
	t.Cleanup(func() {
		// Close asks the server to stop (go-plugin's Shutdown RPC) and
		// waits for it; stopping the server here as well would race.
		client.Close()
		<-wc.Served()
		served.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	version, types, err := wc.Describe(ctx)
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	if version != c.Version {
		t.Fatalf("sdktest: plugin says version %q, config %q", version, c.Version)
	}
	out := make([]tasks.Task, 0, len(types))
	byName := map[string]tasks.Task{}
	for _, typ := range types {
		name := typ.Info.Name
		ref := cairn.PluginRef{Name: "sdktest", Version: version, Protocol: wire.ProtocolVersion}
		task, err := wire.Adapt(typ, ref,
			func(ctx context.Context, req tasks.Request, env tasks.Env, vars map[string]string) (tasks.Result, error) {
				return wc.Run(ctx, name, req, env, vars, Grace)
			},
			func(params map[string]any) []tasks.ParamError {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				perrs, err := wc.ValidateParams(ctx, name, params)
				if err != nil {
					return []tasks.ParamError{{Msg: err.Error()}}
				}
				return perrs
			})
		if err != nil {
			t.Fatalf("sdktest: %v", err)
		}
		byName[name] = task
	}
	for _, task := range c.Tasks {
		out = append(out, byName[task.Info().Name])
	}
	return out
}

// Run checks task against the Task contract with tasktest.Run, first in
// process ("in-process") and then served over the plugin wire
// ("over-wire"): a type that passes both behaves the same as a plugin.
func Run(t *testing.T, task tasks.Task, cases ...tasktest.Case) {
	t.Helper()
	t.Run("in-process", func(t *testing.T) { tasktest.Run(t, task, cases...) })
	t.Run("over-wire", func(t *testing.T) {
		served := Connect(t, sdk.Config{Version: "sdktest", Tasks: []tasks.Task{task}})
		tasktest.Run(t, served[0], cases...)
	})
}
