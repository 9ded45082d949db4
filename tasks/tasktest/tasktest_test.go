package tasktest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upper stores its input in upper case: a small task with an artifact
// input, an artifact output and a plain one.
type upper struct{}

func (upper) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "upper",
		Summary: "Upper-cases a text artifact.",
		Params:  []cairn.ParamInfo{{Name: "block", Kind: cairn.KindBool, Doc: "wait for cancellation"}},
		Inputs:  []cairn.PortInfo{{Name: "text", Artifact: true, Required: true}},
		Outputs: []cairn.PortInfo{{Name: "text", Artifact: true}, {Name: "length"}},
	}
}

func (upper) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var p struct{ Block bool }
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	if p.Block {
		<-ctx.Done()
		return tasks.Result{}, ctx.Err()
	}
	in, ok := req.Inputs["text"]
	if !ok {
		return tasks.Result{}, cairn.Permanentf("no text input")
	}
	rc, err := env.Artifacts.Open(ctx, in)
	if err != nil {
		return tasks.Result{}, err
	}
	defer rc.Close()
	buf, err := io.ReadAll(rc)
	if err != nil {
		return tasks.Result{}, err
	}
	out, err := env.Artifacts.Put(ctx, "text/plain", strings.NewReader(strings.ToUpper(string(buf))))
	if err != nil {
		return tasks.Result{}, err
	}
	fmt.Fprintf(env.Log, "stored %s\n", out.Digest)
	return tasks.Result{Outputs: map[string]json.RawMessage{
		"text":   out.JSON(),
		"length": json.RawMessage(fmt.Sprint(out.Size)),
	}}, nil
}

func TestHarnessOnAWellBehavedTask(t *testing.T) {
	tasktest.Run(t, upper{},
		tasktest.Case{Name: "upper-cases", Inputs: map[string][]byte{"text": []byte("abc")},
			Check: func(t *testing.T, a tasktest.Attempt) {
				if string(a.Result.Outputs["length"]) != "3" || !strings.HasPrefix(string(a.Log), "stored sha256:") {
					t.Errorf("outputs %v, log %q", a.Result.Outputs, a.Log)
				}
			}},
		tasktest.Case{Name: "blocks", Params: map[string]any{"block": true}, Inputs: map[string][]byte{"text": nil}, Want: tasktest.Blocks},
		tasktest.Case{Name: "unknown param", Params: map[string]any{"colour": "red"}, InvalidParams: true},
	)
}

func TestEnv(t *testing.T) {
	env, log := tasktest.Env(t)
	fmt.Fprint(env.Log, "hello")
	if log.String() != "hello" {
		t.Fatalf("log = %q", log)
	}
	ref, err := env.Artifacts.Put(context.Background(), "", strings.NewReader("x"))
	if err != nil || ref.Size != 1 {
		t.Fatalf("put: %+v, %v", ref, err)
	}
}
