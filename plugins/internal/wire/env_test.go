package wire

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// A plugin built before Start.env existed would drop the variables: the
// host refuses env: for it, at validation and at run time, and still
// runs its tasks without env:.
func TestEnvRefusedForOldPlugins(t *testing.T) {
	var ran []string
	typ := Type{Info: cairn.TypeInfo{Name: "old", Summary: "x"}} // SetsEnv false
	task, err := Adapt(typ, cairn.PluginRef{Name: "oldplugin", Version: "0.9"},
		func(ctx context.Context, req tasks.Request, env tasks.Env, vars map[string]string) (tasks.Result, error) {
			ran = append(ran, string(req.Params))
			return tasks.Result{}, nil
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	perrs := task.(tasks.ParamValidator).ValidateParams(map[string]any{"env": map[string]any{"A": "b"}})
	if len(perrs) != 1 || perrs[0].Key != "env" || !strings.Contains(perrs[0].Msg, "plugin oldplugin (version 0.9) was built with a plugins/sdk that cannot set environment variables") {
		t.Errorf("ValidateParams: %v", perrs)
	}
	_, err = task.Run(context.Background(), tasks.Request{TaskID: "t", Params: json.RawMessage(`{"env":{"A":"b"}}`)}, tasks.Env{})
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "task t: with.env: plugin oldplugin") || len(ran) != 0 {
		t.Errorf("Run with env: %v (ran %v)", err, ran)
	}
	if _, err := task.Run(context.Background(), tasks.Request{TaskID: "t", Params: json.RawMessage(`{"env":{}}`)}, tasks.Env{}); err != nil || len(ran) != 1 || ran[0] != `{}` {
		t.Errorf("Run with an empty env: %v, params %v", err, ran)
	}
}

func TestSplitEnvKeepsOtherParams(t *testing.T) {
	in := json.RawMessage(`{ "b": [1, 2.50], "a": "x" }`)
	out, vars, err := splitEnv(in)
	if err != nil || string(out) != string(in) || vars != nil {
		t.Errorf("without env: %s %v %v, want the params unchanged", out, vars, err)
	}
	out, vars, err = splitEnv(json.RawMessage(`{"b":[1,2.50],"env":{"X":"1","N":12345678901234567890},"a":"x"}`))
	if err != nil || string(out) != `{"a":"x","b":[1,2.50]}` || len(vars) != 2 || vars["X"] != "1" || vars["N"] != "12345678901234567890" {
		t.Errorf("with env: %s %v %v", out, vars, err)
	}
}

func TestSetEnvRestores(t *testing.T) {
	t.Setenv("WIRE_TEST_SET", "old")
	os.Unsetenv("WIRE_TEST_UNSET")
	restore, err := setEnv(map[string]string{"WIRE_TEST_SET": "new", "WIRE_TEST_UNSET": "v"})
	if err != nil || os.Getenv("WIRE_TEST_SET") != "new" || os.Getenv("WIRE_TEST_UNSET") != "v" {
		t.Fatalf("set: %v", err)
	}
	restore()
	if v, _ := os.LookupEnv("WIRE_TEST_SET"); v != "old" {
		t.Errorf("WIRE_TEST_SET is %q, want old", v)
	}
	if v, ok := os.LookupEnv("WIRE_TEST_UNSET"); ok {
		t.Errorf("WIRE_TEST_UNSET is %q, want unset", v)
	}
	if _, err := setEnv(map[string]string{"WIRE_TEST_A": "ok", "WIRE_TEST_B=": "x"}); err == nil {
		t.Error("a name with = was set")
	}
	if _, ok := os.LookupEnv("WIRE_TEST_A"); ok {
		t.Error("a failed setEnv left WIRE_TEST_A set")
	}
}
