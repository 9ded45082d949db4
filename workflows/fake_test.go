package workflows

import (
	"sort"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// fakeTypes is a TypeSet for tests: shell, noop and train.
type fakeTypes map[string]cairn.TypeInfo

func newFakeTypes() fakeTypes {
	return fakeTypes{
		"shell": {
			Name: "shell",
			Params: []cairn.ParamInfo{
				{Name: "argv", Kind: cairn.KindList},
				{Name: "script", Kind: cairn.KindString},
				{Name: "env", Kind: cairn.KindMap},
				{Name: "workdir", Kind: cairn.KindString},
				{Name: "outputs", Kind: cairn.KindMap},
				{Name: "resources", Kind: cairn.KindMap},
			},
			Outputs:      []cairn.PortInfo{{Name: "exit_code"}},
			OutputsParam: "outputs",
			Resources:    true,
		},
		"noop": {Name: "noop", Cache: cairn.CacheNever},
		"train": {
			Name:  "train",
			Cache: cairn.CacheAuto,
			Params: []cairn.ParamInfo{
				{Name: "model", Kind: cairn.KindString, Required: true},
				{Name: "seed", Kind: cairn.KindInt},
				{Name: "lr", Kind: cairn.KindFloat},
				{Name: "hyperparams", Kind: cairn.KindMap},
				{Name: "time_limit", Kind: cairn.KindDuration},
			},
			Inputs:  []cairn.PortInfo{{Name: "train", Artifact: true, Required: true}, {Name: "valid", Artifact: true}},
			Outputs: []cairn.PortInfo{{Name: "model", Artifact: true}, {Name: "score"}},
		},
	}
}

func (f fakeTypes) Info(name string) (cairn.TypeInfo, bool) {
	t, ok := f[name]
	return t, ok
}

func (f fakeTypes) Names() []string {
	var names []string
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidateParams checks shell's "argv or script, not both", and train's
// params the way a validator that re-checks its Info does (a plugin type
// without a validator of its own gets such a one from the plugin host):
// unknown keys, a required param, a kind — which the parser reports too —
// and lr > 0, which only the validator knows.
func (f fakeTypes) ValidateParams(name string, params map[string]any) []tasks.ParamError {
	if name == "train" {
		var errs []tasks.ParamError
		info := f["train"]
		for k := range params {
			if _, ok := info.Param(k); !ok {
				errs = append(errs, tasks.ParamError{Key: k, Msg: "unknown param"})
			}
		}
		if _, ok := params["model"]; !ok {
			errs = append(errs, tasks.ParamError{Key: "model", Msg: "model is required"})
		}
		if v, ok := params["time_limit"]; ok {
			if _, isStr := v.(string); !isStr {
				errs = append(errs, tasks.ParamError{Key: "time_limit", Msg: "want a duration"})
			}
		}
		if lr, ok := tasks.Number(params["lr"]); ok && lr <= 0 {
			errs = append(errs, tasks.ParamError{Key: "lr", Msg: "must be > 0", Hint: "a learning rate such as 0.01"})
		}
		sort.Slice(errs, func(i, j int) bool { return errs[i].Key < errs[j].Key })
		return errs
	}
	if name != "shell" {
		return nil
	}
	_, argv := params["argv"]
	_, script := params["script"]
	switch {
	case argv && script:
		return []tasks.ParamError{{Key: "script", Msg: "give argv or script, not both"}}
	case !argv && !script:
		return []tasks.ParamError{{Msg: "give argv or script", Hint: "argv: [echo, hi] runs a program; script: runs sh -c"}}
	}
	return nil
}
