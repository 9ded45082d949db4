package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// RunFunc runs one attempt of a plugin-served type: req carries the
// plugin's own params (without env:), vars the environment variables its
// env: param gives the attempt.
type RunFunc func(ctx context.Context, req tasks.Request, env tasks.Env, vars map[string]string) (tasks.Result, error)

// ValidateFunc runs a plugin-served type's validator.
type ValidateFunc func(params map[string]any) []tasks.ParamError

// Adapt returns a tasks.Task that describes itself with t.Info plus the
// host's env: param (EnvParam) and runs through run (which tells the
// attempt's tasks.Env.RanBy the binary once a process has the attempt);
// ref names the plugin in its errors. It is always a tasks.ParamValidator: it
// checks env: and hands the other params to validate when the plugin's
// type has a validator, or checks them against t.Info when it has none
// (so that a validator exists for every plugin type, and reports what
// the type's Info says is wrong). It fails when t.Info declares a param
// named env itself.
func Adapt(t Type, ref cairn.PluginRef, run RunFunc, validate ValidateFunc) (tasks.Task, error) {
	if _, clash := t.Info.Param(EnvParam); clash {
		return nil, fmt.Errorf("task type %q declares a param %q, which cairn reserves for the environment variables of every plugin task: rename the param in the plugin", t.Info.Name, EnvParam)
	}
	if err := checkText(t.Info); err != nil {
		return nil, err
	}
	info := t.Info
	info.Params = append(append([]cairn.ParamInfo(nil), t.Info.Params...), envParamInfo())
	// A plugin's types are cached only with cache: true (cairn cannot
	// know that a plugin is deterministic); one may say never.
	if info.Cache != cairn.CacheNever {
		info.Cache = cairn.CacheOptIn
	}
	r := &remoteTask{info: info, own: t.Info, ref: ref, run: run, setsEnv: t.SetsEnv}
	if t.HasValidator {
		r.validate = validate
	}
	return r, nil
}

type remoteTask struct {
	info     cairn.TypeInfo // as the host shows it: own plus env:
	own      cairn.TypeInfo // as the plugin describes it
	ref      cairn.PluginRef
	run      RunFunc
	validate ValidateFunc // nil when the plugin's type has no validator
	setsEnv  bool
}

func (t *remoteTask) Info() cairn.TypeInfo { return t.info }

// ImplVersion is the sha256 of the pinned binary (tasks.Versioned): known
// before an attempt runs, so that its cache key can be computed first.
func (t *remoteTask) ImplVersion() string {
	if t.ref.SHA256 == "" {
		return ""
	}
	return "sha256:" + t.ref.SHA256
}

// noEnvMsg says why env: cannot be used with a plugin built before it.
func (t *remoteTask) noEnvMsg() string {
	return fmt.Sprintf("plugin %s (version %s) was built with a plugins/sdk that cannot set environment variables: rebuild it against a current SDK", t.ref.Name, t.ref.Version)
}

func (t *remoteTask) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	params, vars, err := splitEnv(req.Params)
	if err != nil {
		return tasks.Result{}, cairn.Permanentf("task %s: %w", req.TaskID, err)
	}
	if len(vars) > 0 && !t.setsEnv {
		return tasks.Result{}, cairn.Permanentf("task %s: with.%s: %s", req.TaskID, EnvParam, t.noEnvMsg())
	}
	req.Params = params
	res, err := t.run(ctx, req, env, vars)
	if err == nil {
		if name, ok := t.undeclared(params, res.Outputs); ok {
			return tasks.Result{}, fmt.Errorf("plugin %s: %w", t.ref.Name, &ProtocolError{Msg: fmt.Sprintf("output %q (%d bytes) is not one type %q declares", name, len(res.Outputs[name]), t.own.Name)})
		}
	}
	return res, err
}

// undeclared returns an output the type does not declare, as the
// conformance tests hold every built-in type to (tasks/tasktest): its
// Info's outputs, and the keys of its outputs and values params.
func (t *remoteTask) undeclared(params json.RawMessage, outputs map[string]json.RawMessage) (string, bool) {
	var with map[string]json.RawMessage // read only if an output is not in Info
	for _, name := range sortedKeys(outputs) {
		if slices.ContainsFunc(t.own.Outputs, func(o cairn.PortInfo) bool { return o.Name == name }) {
			continue
		}
		if with == nil {
			with = map[string]json.RawMessage{}
			_ = json.Unmarshal(params, &with)
		}
		found := false
		for _, p := range []string{t.own.OutputsParam, t.own.ValuesParam} {
			var keys map[string]json.RawMessage
			if p != "" && json.Unmarshal(with[p], &keys) == nil {
				if _, ok := keys[name]; ok {
					found = true
				}
			}
		}
		if !found {
			return name, true
		}
	}
	return "", false
}

func (t *remoteTask) ValidateParams(params map[string]any) []tasks.ParamError {
	var errs []tasks.ParamError
	rest := params
	if v, ok := params[EnvParam]; ok {
		if v != nil && !t.setsEnv {
			errs = append(errs, tasks.ParamError{Key: EnvParam, Msg: t.noEnvMsg()})
		} else {
			errs = append(errs, validateEnv(v)...)
		}
		rest = make(map[string]any, len(params))
		for k, v := range params {
			if k != EnvParam {
				rest[k] = v
			}
		}
	}
	if t.validate != nil {
		return append(errs, t.validate(rest)...)
	}
	return append(errs, checkDeclared(t.own, rest)...)
}

// checkDeclared holds params as written (references are strings) to what
// info declares: known keys (unless OpenParams), required ones present,
// literal values of the declared kind.
func checkDeclared(info cairn.TypeInfo, params map[string]any) []tasks.ParamError {
	var errs []tasks.ParamError
	for _, p := range info.Params {
		if v, ok := params[p.Name]; p.Required && (!ok || v == nil) {
			// Keyed, so that the workflow parser, which reports a missing
			// required param itself, knows this is the same problem.
			errs = append(errs, tasks.ParamError{Key: p.Name, Msg: fmt.Sprintf("missing param %q (%s), which type %q requires", p.Name, p.Kind, info.Name)})
		}
	}
	for _, k := range sortedKeys(params) {
		v := params[k]
		p, ok := info.Param(k)
		switch {
		case !ok:
			if !info.OpenParams {
				var names []string
				for _, p := range info.Params {
					names = append(names, p.Name)
				}
				hint := fmt.Sprintf("type %q takes no params", info.Name)
				if len(names) > 0 {
					hint = "params are " + strings.Join(names, ", ")
				}
				errs = append(errs, tasks.ParamError{Key: k, Msg: "unknown param", Hint: hint})
			}
		case v == nil || tasks.IsRef(v):
		case !hasKind(p.Kind, v):
			errs = append(errs, tasks.ParamError{Key: k, Msg: fmt.Sprintf("want %s, got %s", kindArticle(p.Kind), tasks.Describe(v))})
		}
	}
	return errs
}

// hasKind reports whether the literal value v is of kind k.
func hasKind(k cairn.ParamKind, v any) bool {
	switch k {
	case cairn.KindString:
		_, ok := v.(string)
		return ok
	case cairn.KindInt:
		_, ok := tasks.Integer(v)
		return ok
	case cairn.KindFloat:
		_, ok := tasks.Number(v)
		return ok
	case cairn.KindBool:
		_, ok := v.(bool)
		return ok
	case cairn.KindDuration:
		s, ok := v.(string)
		if !ok {
			return false
		}
		d, err := time.ParseDuration(s)
		return err == nil && d >= 0
	case cairn.KindList:
		_, ok := v.([]any)
		return ok
	case cairn.KindMap:
		_, ok := v.(map[string]any)
		return ok
	}
	return true // KindAny, or a kind this host does not know
}

func kindArticle(k cairn.ParamKind) string {
	switch k {
	case cairn.KindInt:
		return "an int"
	case cairn.KindList:
		return "a list"
	case cairn.KindMap:
		return "a map"
	}
	return "a " + string(k)
}

// CheckVersion refuses a plugin version that holds a control or format
// character.
func CheckVersion(v string) error {
	if unsafeText(v) {
		return fmt.Errorf("its version %q holds control or format characters (such as an escape sequence or U+202E), which would reach terminals and pages as they are: the plugin is not loaded", v)
	}
	return nil
}

// checkText refuses a type whose text — its name, summary, its params',
// inputs' and outputs' names and docs — holds a control or format
// character: the text is printed by cairn types and shown on the UI's
// types page, where an escape sequence would drive the terminal and a
// bidi override reorder what is read (as a worker's registration is
// refused).
func checkText(info cairn.TypeInfo) error {
	texts := [][2]string{{"name", info.Name}, {"summary", info.Summary}, {"outputs_param", info.OutputsParam}, {"values_param", info.ValuesParam}}
	for _, p := range info.Params {
		what := fmt.Sprintf("param %q", p.Name)
		texts = append(texts, [2]string{"param name", p.Name}, [2]string{what + "'s doc", p.Doc}, [2]string{what + "'s kind", string(p.Kind)})
		if p.Default != nil {
			texts = append(texts, [2]string{what + "'s default", fmt.Sprint(p.Default)})
		}
	}
	for _, ports := range [][]cairn.PortInfo{info.Inputs, info.Outputs} {
		for _, p := range ports {
			texts = append(texts, [2]string{"port name", p.Name}, [2]string{fmt.Sprintf("port %q's doc", p.Name), p.Doc})
		}
	}
	for _, t := range texts {
		if unsafeText(t[1]) {
			return fmt.Errorf("task type %q: its %s %q holds control or format characters (such as an escape sequence or U+202E), which would reach terminals and pages as they are", info.Name, t[0], t[1])
		}
	}
	return nil
}

// unsafeText reports a control (Cc) or format (Cf) character.
func unsafeText(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) })
}
