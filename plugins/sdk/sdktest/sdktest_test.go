package sdktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/plugins/sdk"
	"github.com/cairnml/cairn/plugins/sdk/sdktest"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The built-in noop's own conformance cases hold over the wire too.
func TestNoopOverTheWire(t *testing.T) {
	sdktest.Run(t, noop.New(),
		tasktest.Case{Name: "no params", Want: tasktest.Succeeds},
		tasktest.Case{Name: "short sleep", Params: map[string]any{"sleep": "10ms"}, Want: tasktest.Succeeds},
		tasktest.Case{Name: "long sleep", Params: map[string]any{"sleep": "1h"}, Want: tasktest.Blocks},
		tasktest.Case{Name: "fail", Params: map[string]any{"fail": "boom"}, Want: tasktest.FailsRetryable,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if a.Err == nil || a.Err.Error() != "boom" {
					t.Errorf("err = %v, want boom", a.Err)
				}
			}},
		tasktest.Case{Name: "panic", Params: map[string]any{"panic": true}, Want: tasktest.Panics,
			Check: func(t *testing.T, a tasktest.Attempt) {
				var pe *cairn.PanicError
				if errors.As(a.Err, &pe) && !strings.Contains(string(pe.Stack), "noop") {
					t.Errorf("the panic's stack does not show where it happened:\n%s", pe.Stack)
				}
			}},
		tasktest.Case{Name: "unknown param", Params: map[string]any{"slep": "1s"}, InvalidParams: true},
		tasktest.Case{Name: "bad duration", Params: map[string]any{"sleep": "soon"}, InvalidParams: true},
	)
}

// reverse reads a text artifact and stores it reversed, logging as it
// goes: artifacts both ways, a log, metrics, a validator.
type reverse struct{}

func (reverse) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "reverse",
		Summary: "Reverses a text artifact.",
		Params:  []cairn.ParamInfo{{Name: "times", Kind: cairn.KindInt, Default: 1.0, Doc: "how many times to reverse"}},
		Inputs:  []cairn.PortInfo{{Name: "text", Artifact: true, Required: true}},
		Outputs: []cairn.PortInfo{{Name: "text", Artifact: true}, {Name: "bytes"}},
	}
}

func (reverse) ValidateParams(params map[string]any) []tasks.ParamError {
	if n, ok := params["times"].(float64); ok && n < 0 {
		return []tasks.ParamError{{Key: "times", Msg: "must not be negative"}}
	}
	return nil
}

func (reverse) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	p := struct{ Times int }{Times: 1}
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	if p.Times < 0 {
		return tasks.Result{}, cairn.Permanentf("times: must not be negative")
	}
	rc, err := env.Artifacts.Open(ctx, req.Inputs["text"])
	if err != nil {
		return tasks.Result{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return tasks.Result{}, err
	}
	for i := 0; i < p.Times; i++ {
		for l, r := 0, len(b)-1; l < r; l, r = l+1, r-1 {
			b[l], b[r] = b[r], b[l]
		}
	}
	fmt.Fprintf(env.Log, "reversed %d bytes %d times\n", len(b), p.Times)
	ref, err := env.Artifacts.Put(ctx, "text/plain", strings.NewReader(string(b)))
	if err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{
		Outputs: map[string]json.RawMessage{"text": ref.JSON(), "bytes": json.RawMessage(fmt.Sprint(len(b)))},
		Metrics: map[string]float64{"bytes": float64(len(b))},
	}, nil
}

func TestArtifactsLogAndValidatorOverTheWire(t *testing.T) {
	big := strings.Repeat("abcdefghij", 100_000) // 1 MB: several chunks each way
	sdktest.Run(t, reverse{},
		tasktest.Case{Name: "reverses", Inputs: map[string][]byte{"text": []byte("abc")},
			Check: func(t *testing.T, a tasktest.Attempt) {
				ref, _ := cairn.AsArtifactRef(a.Result.Outputs["text"])
				rc, err := a.Env.Artifacts.Open(context.Background(), ref)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				b, _ := io.ReadAll(rc)
				if string(b) != "cba" || string(a.Log) != "reversed 3 bytes 1 times\n" || a.Result.Metrics["bytes"] != 3 {
					t.Errorf("output %q, log %q, metrics %v", b, a.Log, a.Result.Metrics)
				}
			}},
		tasktest.Case{Name: "big", Params: map[string]any{"times": 2}, Inputs: map[string][]byte{"text": []byte(big)},
			Check: func(t *testing.T, a tasktest.Attempt) {
				ref, _ := cairn.AsArtifactRef(a.Result.Outputs["text"])
				if ref.Size != int64(len(big)) {
					t.Errorf("size %d", ref.Size)
				}
			}},
		tasktest.Case{Name: "negative", Params: map[string]any{"times": -1}, Inputs: map[string][]byte{"text": nil}, InvalidParams: true},
	)
}

func TestMissingInputIsPermanentOverTheWire(t *testing.T) {
	task := sdktest.Connect(t, sdk.Config{Version: "1", Tasks: []tasks.Task{reverse{}}})[0]
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, nil)
	req.Inputs = map[string]cairn.ArtifactRef{"text": {Digest: "sha256:" + strings.Repeat("0", 64), Size: 3}}
	_, err := task.Run(context.Background(), req, env)
	if err == nil || cairn.IsRetryable(err) || !strings.HasSuffix(err.Error(), ": not found") || strings.Contains(err.Error(), "not found: not found") {
		t.Fatalf("err = %v (retryable %v), want a permanent not-found error", err, cairn.IsRetryable(err))
	}
}

func TestConfigCheck(t *testing.T) {
	for _, c := range []sdk.Config{
		{Tasks: []tasks.Task{reverse{}}},
		{Version: "1"},
		{Version: "1", Tasks: []tasks.Task{reverse{}, reverse{}}},
	} {
		if err := c.Check(); err == nil || !strings.HasPrefix(err.Error(), "sdk: ") {
			t.Errorf("Check(%+v) = %v, want an sdk: error", c, err)
		}
	}
}

// greet reports SDKTEST_GREETING as its process sees it; started, if not
// nil, is closed once Run began and Run then waits for proceed.
type greet struct{ started, proceed chan struct{} }

func (greet) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "greet", Summary: "Reports SDKTEST_GREETING.", Outputs: []cairn.PortInfo{{Name: "greeting"}}}
}

func (g greet) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	if err := req.DecodeParams(&struct{}{}); err != nil {
		return tasks.Result{}, err
	}
	if g.started != nil {
		close(g.started)
		<-g.proceed
	}
	b, _ := json.Marshal(os.Getenv("SDKTEST_GREETING"))
	return tasks.Result{Outputs: map[string]json.RawMessage{"greeting": b}}, nil
}

// Over the wire, env: is set in the (test) process for the attempt and
// restored after it, and the task's own params never see it.
func TestEnvOverTheWire(t *testing.T) {
	t.Setenv("SDKTEST_GREETING", "before")
	task := sdktest.Connect(t, sdk.Config{Version: "1", Tasks: []tasks.Task{greet{}}})[0]
	if _, ok := task.Info().Param("env"); !ok {
		t.Fatalf("params %+v lack env", task.Info().Params)
	}
	env, _ := tasktest.Env(t)
	res, err := task.Run(context.Background(), tasktest.Request(t, json.RawMessage(`{"env":{"SDKTEST_GREETING":"hello"}}`)), env)
	if err != nil || string(res.Outputs["greeting"]) != `"hello"` {
		t.Fatalf("outputs %s, err %v: want hello", res.Outputs["greeting"], err)
	}
	if v := os.Getenv("SDKTEST_GREETING"); v != "before" {
		t.Errorf("after the attempt SDKTEST_GREETING is %q, want it restored to before", v)
	}
	if perrs := task.(tasks.ParamValidator).ValidateParams(map[string]any{"env": map[string]any{"PATH": "/x"}}); len(perrs) != 1 || !strings.Contains(perrs[0].Msg, "PATH is reserved") {
		t.Errorf("ValidateParams: %v", perrs)
	}
}

// In one process, an attempt that sets variables does not run beside
// another: it would see them.
func TestEnvAttemptsDoNotOverlap(t *testing.T) {
	g := greet{started: make(chan struct{}), proceed: make(chan struct{})}
	task := sdktest.Connect(t, sdk.Config{Version: "1", Tasks: []tasks.Task{g}})[0]
	done := make(chan error, 1)
	go func() {
		env, _ := tasktest.Env(t)
		_, err := task.Run(context.Background(), tasks.Request{RunID: "r", TaskID: "a", Attempt: 1, Params: json.RawMessage(`{"env":{"SDKTEST_GREETING":"a"}}`)}, env)
		done <- err
	}()
	<-g.started
	env, _ := tasktest.Env(t)
	_, err := task.Run(context.Background(), tasks.Request{RunID: "r", TaskID: "b", Attempt: 1, Params: json.RawMessage(`{}`)}, env)
	close(g.proceed)
	if err == nil || !strings.Contains(err.Error(), "this plugin process is already running an attempt, and environment variables given by env: are process-wide") {
		t.Errorf("an attempt beside one with env: got %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("the attempt with env: %v", err)
	}
}

func TestConfigCheckEnvParam(t *testing.T) {
	err := sdk.Config{Version: "1", Tasks: []tasks.Task{withEnvParam{}}}.Check()
	if err == nil || !strings.Contains(err.Error(), `sdk: task type "withenv" declares a param "env", which cairn reserves`) {
		t.Errorf("Check = %v", err)
	}
}

type withEnvParam struct{ greet }

func (withEnvParam) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "withenv", Summary: "x", Params: []cairn.ParamInfo{{Name: "env", Kind: cairn.KindMap}}}
}
