package wire

import (
	"context"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// RunFunc runs one attempt of a plugin-served type.
type RunFunc func(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error)

// ValidateFunc runs a plugin-served type's validator.
type ValidateFunc func(params map[string]any) []tasks.ParamError

// Adapt returns a tasks.Task that describes itself with t.Info, runs
// through run and reports ref as its tasks.PluginServed origin. It is a
// tasks.ParamValidator, calling validate, exactly when the plugin's type
// has a validator.
func Adapt(t Type, ref cairn.PluginRef, run RunFunc, validate ValidateFunc) tasks.Task {
	r := &remoteTask{info: t.Info, ref: ref, run: run}
	if t.HasValidator {
		return &validatingTask{remoteTask: r, validate: validate}
	}
	return r
}

type remoteTask struct {
	info cairn.TypeInfo
	ref  cairn.PluginRef
	run  RunFunc
}

func (t *remoteTask) Info() cairn.TypeInfo { return t.info }

func (t *remoteTask) Plugin() cairn.PluginRef { return t.ref }

func (t *remoteTask) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	return t.run(ctx, req, env)
}

type validatingTask struct {
	*remoteTask
	validate ValidateFunc
}

func (t *validatingTask) ValidateParams(params map[string]any) []tasks.ParamError {
	return t.validate(params)
}
