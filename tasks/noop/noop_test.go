package noop_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	tasktest.Run(t, noop.New(),
		tasktest.Case{Name: "no params", Want: tasktest.Succeeds},
		tasktest.Case{Name: "short sleep", Params: map[string]any{"sleep": "10ms"}, Want: tasktest.Succeeds},
		tasktest.Case{Name: "long sleep", Params: map[string]any{"sleep": "1h"}, Want: tasktest.Blocks},
		tasktest.Case{Name: "fail", Params: map[string]any{"fail": "boom"}, Want: tasktest.FailsRetryable,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if a.Err == nil || a.Err.Error() != "boom" {
					t.Errorf("err = %v, want boom", a.Err)
				}
			}},
		tasktest.Case{Name: "panic", Params: map[string]any{"panic": true}, Want: tasktest.Panics},
		tasktest.Case{Name: "unknown param", Params: map[string]any{"slep": "1s"}, InvalidParams: true},
		tasktest.Case{Name: "bad duration", Params: map[string]any{"sleep": "soon"}, InvalidParams: true},
		tasktest.Case{Name: "negative duration", Params: map[string]any{"sleep": "-1s"}, InvalidParams: true},
	)
}

func TestSleepIsHonoured(t *testing.T) {
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, json.RawMessage(`{"sleep":"50ms"}`))
	start := time.Now()
	if _, err := noop.New().Run(context.Background(), req, env); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("returned after %v, want at least the 50ms sleep", d)
	}
}

func TestBadParamsArePermanent(t *testing.T) {
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, json.RawMessage(`{"panic":"yes"}`))
	_, err := noop.New().Run(context.Background(), req, env)
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("err = %v, want a permanent params error", err)
	}
}
