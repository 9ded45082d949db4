package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/internal/jsoncheck"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/limits"
	"github.com/cairnml/cairn/tasks/proctree"
)

// Task is the shell task type. The zero value is ready to use; it holds no
// state and serves any number of attempts at once.
type Task struct {
	tree     proctree.Options // how an attempt's processes are held (tests force the sweep)
	noDirect bool             // every script through /bin/sh (tests compare)
	// last is the params of the latest attempt, decoded and checked, for
	// the next attempt with the same bytes: a chain or a fan of one
	// command decodes them once (encoding/json's reflection was about
	// 8 µs of a chain hop of /bin/true here).
	last atomic.Pointer[decodedParams]
}

// decodedParams is params decoded and checked from raw. Shared by the
// attempts that have the same raw params: never changed once made.
type decodedParams struct {
	raw string
	p   params
}

// maxCachedParams bounds the params kept decoded (a script can be long).
const maxCachedParams = 16 << 10

// params decodes and checks the attempt's params, or takes them from the
// latest attempt with the same bytes. The result is shared: read only.
func (t *Task) params(req tasks.Request) (*params, error) {
	if d := t.last.Load(); d != nil && d.raw == string(req.Params) {
		return &d.p, nil
	}
	d := &decodedParams{}
	if err := req.DecodeParams(&d.p); err != nil {
		return nil, err
	}
	if err := d.p.check(); err != nil {
		return nil, cairn.Permanentf("shell %s: params: %w", req.TaskID, err)
	}
	if len(req.Params) <= maxCachedParams {
		d.raw = string(req.Params)
		t.last.Store(d)
	}
	return &d.p, nil
}

var (
	_ tasks.Task           = (*Task)(nil)
	_ tasks.ParamValidator = (*Task)(nil)
	_ tasks.Idler          = (*Task)(nil)
)

// CallsIdle says that an attempt calls Env.Idle once its command has
// started (tasks.Idler).
func (*Task) CallsIdle() {}

// New returns the shell task type.
func New() *Task { return &Task{} }

const (
	// DefaultKillGrace is the time between SIGTERM and SIGKILL when a
	// command is stopped.
	DefaultKillGrace = 5 * time.Second
	defaultPATH      = "/usr/local/bin:/usr/bin:/bin"
)

// Info describes the type.
func (*Task) Info() cairn.TypeInfo {
	return cairn.TypeInfo{
		Name:    "shell",
		Summary: "Runs a command or a /bin/sh script with a minimal environment, a timeout and declared output files.",
		Params: []cairn.ParamInfo{
			{Name: "argv", Kind: cairn.KindList, Doc: "the command and its arguments, run without a shell; exclusive with script"},
			{Name: "script", Kind: cairn.KindString, Script: true, Doc: `a script run by /bin/sh -c with "set -e" first (one simple command with no shell syntax is executed directly, as /bin/sh would); exclusive with argv. Each ${{ }} reference in it reaches the shell as a variable (CAIRN_REF_1, ...), never as script text`},
			{Name: "env", Kind: cairn.KindMap, Doc: "extra environment variables; the worker's environment is not inherited beyond PATH, HOME, TMPDIR and LANG"},
			{Name: "workdir", Kind: cairn.KindString, Doc: "working directory; default the attempt's scratch directory, relative paths are taken from it"},
			{Name: "timeout", Kind: cairn.KindDuration, Doc: "stop the command after this long (retryable failure)"},
			{Name: "kill_grace", Kind: cairn.KindDuration, Default: DefaultKillGrace.String(), Doc: "time between SIGTERM and SIGKILL when the command is stopped"},
			{Name: "outputs", Kind: cairn.KindMap, Doc: "output name -> file path relative to workdir; each file is stored as an artifact output; CAIRN_OUTPUT_<NAME> holds its absolute path"},
			{Name: "values", Kind: cairn.KindMap, Doc: "output name -> file path relative to workdir; each file must hold one JSON value (at most 1 MiB), which becomes a value output (not an artifact) that for_each, when: and other tasks' params can use; CAIRN_VALUE_<NAME> holds its absolute path"},
			{Name: "success_exit_codes", Kind: cairn.KindList, Default: []any{0}, Doc: "exit codes that count as success"},
			{Name: "resources", Kind: cairn.KindMap, Doc: "set from the task's resources: {cpu, memory}, not under with:: the command runs in a cgroup with those limits, and an attempt killed for reaching its memory fails as \"out of memory: limit N\", not retried"},
		},
		Resources: true,
		Outputs: []cairn.PortInfo{
			{Name: "exit_code", Doc: "the command's exit status (128+N if killed by signal N, 127 if not found)"},
		},
		OutputsParam: "outputs",
		ValuesParam:  "values",
	}
}

type params struct {
	Argv             *[]text           `json:"argv"`
	Script           *scriptParam      `json:"script"`
	Env              map[string]text   `json:"env"`
	Workdir          string            `json:"workdir"`
	Timeout          tasks.Duration    `json:"timeout"`
	KillGrace        *tasks.Duration   `json:"kill_grace"`
	Outputs          map[string]string `json:"outputs"`
	Values           map[string]string `json:"values"`
	SuccessExitCodes []int             `json:"success_exit_codes"`
	Resources        *cairn.Resources  `json:"resources"`
}

// text is an argv element or env value: a string, or a number or bool
// written as its JSON text, so that `"${{ params.seed }}"` (an int once
// resolved) and `N: 5` mean what they say.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		*t = text(v)
	case float64, bool:
		*t = text(bytes.TrimSpace(b))
	default:
		return fmt.Errorf("want a string, number or bool, got %s", bytes.TrimSpace(b))
	}
	return nil
}

// check reports the first problem with decoded params.
func (p *params) check() error {
	switch {
	case p.Argv != nil && p.Script != nil:
		return errors.New("argv and script are exclusive: give one")
	case p.Argv == nil && p.Script == nil:
		return errors.New("one of argv or script is required")
	case p.Argv != nil && len(*p.Argv) == 0:
		return errors.New("argv: empty")
	case p.Argv != nil && (*p.Argv)[0] == "":
		return errors.New("argv: empty program name")
	}
	for k := range p.Env {
		if err := checkEnvName(k); err != nil {
			return fmt.Errorf("env: %w", err)
		}
	}
	if err := checkOutputs(p.Outputs); err != nil {
		return fmt.Errorf("outputs: %w", err)
	}
	if err := checkValues(p.Values, p.Outputs); err != nil {
		return fmt.Errorf("values: %w", err)
	}
	if r := p.Resources; r != nil {
		switch {
		case r.CPU != 0 && (r.CPU < cairn.MinCPU || r.CPU > cairn.MaxCPU):
			return fmt.Errorf("resources: cpu %g is not between %g and %d", r.CPU, cairn.MinCPU, cairn.MaxCPU)
		case r.Memory != 0 && r.Memory < cairn.MinMemory:
			return fmt.Errorf("resources: memory %d is less than %s", r.Memory, cairn.FormatMemory(cairn.MinMemory))
		}
	}
	for _, c := range p.SuccessExitCodes {
		if c < 0 || c > 255 {
			return fmt.Errorf("success_exit_codes: %d is not an exit status (0-255)", c)
		}
	}
	return nil
}

func checkEnvName(k string) error {
	switch {
	case k == "" || strings.ContainsAny(k, "=\x00"):
		return fmt.Errorf("%q is not a valid variable name", k)
	case strings.HasPrefix(k, "CAIRN_"):
		return fmt.Errorf("%s: CAIRN_ variables are set by the task, not by params", k)
	}
	return nil
}

func checkOutputs(outs map[string]string) error {
	vars := map[string]string{}
	for _, name := range sortedKeys(outs) {
		if err := checkOutput(name, outs[name]); err != nil {
			return err
		}
		v := envSuffix(name)
		if other, dup := vars[v]; dup {
			return fmt.Errorf("%s and %s both map to CAIRN_OUTPUT_%s", other, name, v)
		}
		vars[v] = name
	}
	return nil
}

// MaxValueBytes bounds a file of `values:`, as every value output is
// bounded (tasks.MaxValueBytes).
const MaxValueBytes = tasks.MaxValueBytes

// checkValues checks `values:` as outputs are checked, and that no name
// is both an output file and a value.
func checkValues(vals, outs map[string]string) error {
	if err := checkOutputs(vals); err != nil {
		return err
	}
	for _, name := range sortedKeys(vals) {
		if _, dup := outs[name]; dup {
			return fmt.Errorf("%s is also in outputs: an output is a file or a value, not both", name)
		}
	}
	return nil
}

// readValue reads the JSON value a command wrote at rel for `values:`,
// compacted, so that the same value gives the same bytes.
func readValue(wd, rel string) (json.RawMessage, error) {
	f, err := openOutput(wd, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxValueBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxValueBytes {
		return nil, fmt.Errorf("%s is over %d bytes: a value output is at most 1 MiB; write a larger result to outputs: (an artifact)", rel, MaxValueBytes)
	}
	if !utf8.Valid(b) {
		// Decoded, it would reach the tasks that read it altered in silence
		// (each bad byte as U+FFFD) while stored raw.
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, fmt.Errorf("%s is not valid UTF-8 (byte 0x%02X at offset %d): a value output is JSON text, which is UTF-8; write other bytes to outputs: (an artifact)", rel, b[i], i)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil || out.Len() == 0 {
		if err == nil {
			err = errors.New("the file is empty")
		}
		return nil, fmt.Errorf("%s does not hold one JSON value: %w", rel, err)
	}
	if !json.Valid(out.Bytes()) {
		return nil, fmt.Errorf("%s does not hold one JSON value", rel)
	}
	// Decoded, a key given twice would keep its last value and half a
	// surrogate pair would read as U+FFFD, in silence: refused, as API
	// bodies are.
	var p *jsoncheck.Problem
	if err := jsoncheck.Check(b); errors.As(err, &p) {
		line := 1 + bytes.Count(b[:p.Offset], []byte{'\n'})
		return nil, fmt.Errorf("%s, line %d, offset %d: %v; a value output is read as written", rel, line, p.Offset, p)
	}
	return out.Bytes(), nil
}

func checkOutput(name, path string) error {
	if !isIdent(name) {
		return fmt.Errorf("name %q is not an identifier (letters, digits, _)", name)
	}
	if name == "exit_code" {
		return errors.New("exit_code is the task's own output")
	}
	if path == "" || filepath.IsAbs(path) || !filepath.IsLocal(path) {
		return fmt.Errorf("%s: path %q must be relative and stay inside workdir", name, path)
	}
	return nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// envSuffix turns an input or output name into the tail of its variable.
func envSuffix(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c == '_' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// pather is a store that can hand out a local file for an artifact
// (artifacts.Dir), sparing a copy; its bytes checked against the digest
// first, since the command reading it will not check them.
type pather interface {
	VerifiedPath(ctx context.Context, ref cairn.ArtifactRef) (string, error)
}

// Run runs the command of one attempt; see the package documentation for
// what it does and which errors it returns.
func (t *Task) Run(ctx context.Context, req tasks.Request, env tasks.Env) (_ tasks.Result, err error) {
	code := -1 // the command's exit code once it ran
	defer func() {
		if err != nil && code >= 0 {
			err = &exitError{code: code, err: err}
		}
	}()
	p, err := t.params(req)
	if err != nil {
		return tasks.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, fmt.Errorf("shell %s: not started: %w", req.TaskID, context.Cause(ctx))
	}

	base := req.WorkDir
	if base == "" {
		// Callers outside the executor may not lend a scratch directory;
		// the command still must not run in the worker's own.
		tmp, err := os.MkdirTemp("", "cairn-shell-*")
		if err != nil {
			return tasks.Result{}, fmt.Errorf("shell %s: %w", req.TaskID, err)
		}
		defer os.RemoveAll(tmp)
		base = tmp
	}
	wd := base
	if p.Workdir != "" {
		wd = p.Workdir
		if !filepath.IsAbs(wd) {
			wd = filepath.Join(base, wd)
		}
	}

	if wd != req.WorkDir { // the attempt's own scratch dir is one
		if st, err := os.Stat(wd); err != nil || !st.IsDir() {
			return tasks.Result{}, cairn.Permanentf("shell %s: workdir %s is not a directory", req.TaskID, wd)
		}
	}

	vars := baseEnv()
	for k, v := range p.Env {
		vars[k] = string(v)
	}
	vars["CAIRN_RUN_ID"] = req.RunID
	vars["CAIRN_TASK_ID"] = req.TaskID
	vars["CAIRN_ATTEMPT"] = strconv.Itoa(req.Attempt)
	vars["CAIRN_WORKDIR"] = wd
	if err := materializeInputs(ctx, req, env, base, vars); err != nil {
		return tasks.Result{}, err
	}
	outPaths := make(map[string]string, len(p.Outputs))
	for name, rel := range p.Outputs {
		abs := filepath.Join(wd, rel)
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return tasks.Result{}, fmt.Errorf("shell %s: output %s: %w", req.TaskID, name, err)
		}
		outPaths[name] = abs
		vars["CAIRN_OUTPUT_"+envSuffix(name)] = abs
	}
	for name, rel := range p.Values {
		abs := filepath.Join(wd, rel)
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return tasks.Result{}, fmt.Errorf("shell %s: value %s: %w", req.TaskID, name, err)
		}
		vars["CAIRN_VALUE_"+envSuffix(name)] = abs
	}

	var cmds []start // the first that starts runs
	if p.Script != nil {
		script, refs, err := compile(p.Script.ScriptText)
		if err != nil {
			return tasks.Result{}, cairn.Permanentf("shell %s: %w", req.TaskID, err)
		}
		for k, v := range refs {
			vars[k] = v
		}
		if !t.noDirect && len(refs) == 0 {
			if prog, argv, pwd, ok := direct(script, vars, wd); ok {
				cmds = append(cmds, start{prog: prog, argv: argv, env: envList(vars, "PWD="+pwd), asSh: true})
			}
		}
		cmds = append(cmds, start{prog: "/bin/sh", argv: []string{"/bin/sh", "-c", "set -e\n" + script}, env: envList(vars)})
	} else {
		argv := make([]string, 0, len(*p.Argv))
		for _, a := range *p.Argv {
			argv = append(argv, string(a))
		}
		prog, err := lookPath(argv[0], vars["PATH"])
		if err != nil {
			return exitResult(127), cairn.Permanentf("shell %s: %w", req.TaskID, err)
		}
		cmds = append(cmds, start{prog: prog, argv: argv, env: envList(vars)})
	}

	grace := DefaultKillGrace
	if p.KillGrace != nil {
		grace = time.Duration(*p.KillGrace)
	}
	var timeoutErr error
	if p.Timeout > 0 {
		timeoutErr = fmt.Errorf("timed out after %s", time.Duration(p.Timeout))
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, time.Duration(p.Timeout), timeoutErr)
		defer cancel()
	}

	tree, err := proctree.New(treeName(req.RunID, req.TaskID, req.Attempt), attemptMarks(req.RunID, req.TaskID, req.Attempt), t.tree)
	if err != nil {
		return tasks.Result{}, fmt.Errorf("shell %s: %w", req.TaskID, err)
	}
	// Resources: the command runs inside cgroups with the task's limits,
	// or not at all (never without the limits it asked for).
	var lim *limits.Group
	var oomErr, limErr error
	after := func() {}
	if r := p.Resources; r != nil && *r != (cairn.Resources{}) {
		lim, err = limits.Apply(tree.Cgroup(), *r)
		if err != nil {
			_ = tree.Close()
			return tasks.Result{}, cairn.Permanentf("shell %s: resources: %w", req.TaskID, err)
		}
		defer lim.Close()
		for i := range cmds {
			cmds[i].prog, cmds[i].argv = lim.Wrap(cmds[i].prog, cmds[i].argv)
		}
		after = func() {
			oomErr = lim.OutOfMemory()
			limErr = lim.Close()
		}
	}
	code, runErr := run(ctx, cmds, wd, env.Log, grace, tree, after, env.Idle)
	if code < 0 {
		code = -1
	}
	res := exitResult(code)
	success := p.SuccessExitCodes
	if success == nil {
		success = []int{0}
	}
	switch {
	case oomErr != nil && (runErr != nil || !slices.Contains(success, code)):
		// Killed by the kernel for its memory: the same limit would kill
		// it again, so no retry.
		return res, cairn.Permanent(fmt.Errorf("shell %s: %w (exit code %d)", req.TaskID, oomErr, code))
	case limErr != nil && runErr == nil:
		return res, fmt.Errorf("shell %s: resources: %w", req.TaskID, limErr)
	case runErr == nil:
	case errors.Is(runErr, errStopped):
		cause := context.Cause(ctx)
		if timeoutErr != nil && cause == timeoutErr {
			return res, fmt.Errorf("shell %s: %w (exit code %d): %w", req.TaskID, timeoutErr, code, context.DeadlineExceeded)
		}
		if errors.Is(cause, context.DeadlineExceeded) {
			return res, fmt.Errorf("shell %s: deadline passed, command stopped (exit code %d): %w", req.TaskID, code, cause)
		}
		if errors.Is(cause, context.Canceled) {
			return res, fmt.Errorf("shell %s: cancelled, command stopped (exit code %d): %w", req.TaskID, code, cause)
		}
		// The context ended for a reason of its own (the attempt's
		// timeout, its run's cancellation): that reason names it.
		return res, fmt.Errorf("shell %s: command stopped (exit code %d): %w", req.TaskID, code, cause)
	case code == 126 || code == 127:
		return res, cairn.Permanentf("shell %s: %w", req.TaskID, runErr)
	default:
		return res, fmt.Errorf("shell %s: %w", req.TaskID, runErr)
	}

	if !slices.Contains(success, code) {
		msg := fmt.Sprintf("exit code %d", code)
		if code > 128 {
			msg = fmt.Sprintf("killed by signal %d (%s)", code-128, syscall.Signal(code-128))
		}
		return res, fmt.Errorf("shell %s: command failed: %s", req.TaskID, msg)
	}

	for _, name := range sortedKeys(outPaths) {
		ref, err := storeOutput(ctx, env.Artifacts, wd, p.Outputs[name])
		if err != nil {
			var le *linkError
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return res, cairn.Permanentf("shell %s: declared output %s: file %s does not exist after the command succeeded", req.TaskID, name, p.Outputs[name])
			case errors.As(err, &le):
				return res, cairn.Permanentf("shell %s: declared output %s: %w", req.TaskID, name, err)
			}
			return res, fmt.Errorf("shell %s: store output %s: %w", req.TaskID, name, err)
		}
		res.Outputs[name] = ref.JSON()
	}
	for _, name := range sortedKeys(p.Values) {
		v, err := readValue(wd, p.Values[name])
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return res, cairn.Permanentf("shell %s: declared value %s: file %s does not exist after the command succeeded", req.TaskID, name, p.Values[name])
			}
			return res, cairn.Permanentf("shell %s: declared value %s: %w", req.TaskID, name, err)
		}
		res.Outputs[name] = v
	}
	return res, nil
}

// exitError carries the command's exit code with the attempt's error, so
// that the executor records it on the attempt (it has ExitCode, like
// *exec.ExitError). It keeps the wrapped error's retryability.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode returns the command's exit code.
func (e *exitError) ExitCode() int { return e.code }

func exitResult(code int) tasks.Result {
	return tasks.Result{Outputs: map[string]json.RawMessage{"exit_code": json.RawMessage(strconv.Itoa(code))}}
}

// baseEnv is the part of the worker's environment a child may see.
func baseEnv() map[string]string {
	vars := map[string]string{"PATH": defaultPATH}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			vars[k] = v
		}
	}
	return vars
}

// envList is vars as NAME=value entries, sorted, then extra.
func envList(vars map[string]string, extra ...string) []string {
	list := make([]string, 0, len(vars)+len(extra))
	for _, k := range sortedKeys(vars) {
		list = append(list, k+"="+vars[k])
	}
	return append(list, extra...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// materializeInputs makes each input a local file and names it in vars:
// the store's own file when it has one, else a copy under base.
func materializeInputs(ctx context.Context, req tasks.Request, env tasks.Env, base string, vars map[string]string) error {
	if len(req.Inputs) == 0 {
		return nil
	}
	if env.Artifacts == nil {
		return cairn.Permanentf("shell %s: inputs given but the attempt has no artifact store", req.TaskID)
	}
	seen := map[string]string{}
	for _, name := range sortedKeys(req.Inputs) {
		ref := req.Inputs[name]
		suffix := envSuffix(name)
		if other, dup := seen[suffix]; dup {
			return cairn.Permanentf("shell %s: inputs %s and %s both map to CAIRN_INPUT_%s", req.TaskID, other, name, suffix)
		}
		seen[suffix] = name
		var path string
		if ps, ok := env.Artifacts.(pather); ok {
			p, err := ps.VerifiedPath(ctx, ref)
			if err != nil {
				return inputErr(req.TaskID, name, err)
			}
			path = p
		} else {
			p, err := copyInput(ctx, env.Artifacts, ref, filepath.Join(base, ".cairn-inputs", suffix))
			if err != nil {
				return inputErr(req.TaskID, name, err)
			}
			path = p
		}
		vars["CAIRN_INPUT_"+suffix] = path
	}
	return nil
}

func inputErr(taskID, name string, err error) error {
	if errors.Is(err, cairn.ErrNotFound) {
		return cairn.Permanentf("shell %s: input %s: %w", taskID, name, err)
	}
	return fmt.Errorf("shell %s: input %s: %w", taskID, name, err)
}

func copyInput(ctx context.Context, store tasks.Artifacts, ref cairn.ArtifactRef, dst string) (string, error) {
	rc, err := store.Open(ctx, ref)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o444)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return "", err
	}
	return dst, f.Close()
}

// storeOutput stores the declared output rel of workdir wd. The file is
// opened one path component at a time from wd, none followed if it is a
// symbolic link (O_NOFOLLOW), and checked on the open descriptor: a link
// anywhere under wd (out -> /etc/shadow, or a folder of the path swapped
// for one) is refused, and nothing can be swapped in between the check
// and the read.
func storeOutput(ctx context.Context, store tasks.Artifacts, wd, rel string) (cairn.ArtifactRef, error) {
	f, err := openOutput(wd, rel)
	if err != nil {
		return cairn.ArtifactRef{}, err
	}
	defer f.Close()
	if store == nil {
		return cairn.ArtifactRef{}, errors.New("the attempt has no artifact store")
	}
	return store.Put(ctx, mediaType(rel), f)
}

// linkError is a declared output whose path holds a symbolic link.
type linkError struct{ path, link string }

func (e *linkError) Error() string {
	if e.path == e.link {
		return fmt.Sprintf("%s is a symbolic link: an output must be a regular file the command wrote inside its workdir, not a link", e.path)
	}
	return fmt.Sprintf("%s: %s is a symbolic link: an output's path must not go through a link", e.path, e.link)
}

// mediaType guesses from the file name, from a fixed table so that the
// same file gets the same type on every machine.
func mediaType(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "text/csv"
	case ".json":
		return "application/json"
	case ".txt", ".log":
		return "text/plain"
	case ".parquet":
		return "application/vnd.apache.parquet"
	}
	return "application/octet-stream"
}

// lookPath finds prog in pathList (the child's PATH, not the worker's).
// A name with a slash is used as given, relative to the working directory.
// Relative PATH entries are skipped: they would resolve against wherever
// the command happens to run.
func lookPath(prog, pathList string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	for _, dir := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, prog)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %s", prog, pathList)
}

// errStopped says the command was stopped because ctx ended.
var errStopped = errors.New("command stopped")

// start is one way to run an attempt's command.
type start struct {
	prog string   // the file to execute
	argv []string // its arguments, argv[0] first
	env  []string // NAME=value
	// asSh: a script's command run without its shell, which writes what
	// the shell would of a command killed by a signal.
	asSh bool
}

// run starts the command in its own process group, waits for it, and
// returns its exit code: the first of cmds that starts (a script run
// directly, else by /bin/sh). It returns errStopped (wrapped) if ctx ended
// first, the start error with code 127 or 126 if none could start, and an
// error for a log that failed.
//
// Every process the command starts is in tree; once the command has
// exited, whatever of it is left is killed (tree.Close), success included.
//
// after, when the command has exited, runs before the tree is closed (its
// cgroup given back for reuse). idle, if not nil, is called once the
// command runs, before the wait for it (tasks.Env.Idle).
func run(ctx context.Context, cmds []start, dir string, log io.Writer, grace time.Duration, tree *proctree.Tree, after, idle func()) (_ int, err error) {
	defer func() {
		if cerr := tree.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stop what the command left running: %w", cerr)
		}
	}()
	null, err := devNull()
	if err != nil {
		return -1, err
	}
	attr := &os.ProcAttr{
		Dir:   dir,
		Files: []*os.File{null, null, null},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	tree.PrepareAttr(attr.Sys)
	defer dieWithParent(attr.Sys)()
	var out capture
	switch lw := log.(type) {
	case nil:
		// The child writes to /dev/null.
	case *os.File:
		attr.Files[1], attr.Files[2] = lw, lw
	default:
		var err error
		if out, err = newCapture(log); err != nil {
			return -1, fmt.Errorf("log: %w", err)
		}
		attr.Files[1], attr.Files[2] = out.writer(), out.writer()
	}

	// os.StartProcess, not os/exec: the same fork and exec, without
	// opening /dev/null for each command nor the goroutines and checks
	// of exec.Cmd that this use has no need of.
	var proc *os.Process
	var started start
	for _, c := range cmds {
		started, attr.Env = c, c.env
		if proc, err = os.StartProcess(c.prog, c.argv, attr); err == nil {
			break
		}
	}
	prog := started.prog
	if err != nil {
		if out != nil {
			out.finish(false)
		}
		code := 126
		if errors.Is(err, syscall.E2BIG) {
			// The same arguments and environment are as long on a retry.
			return code, fmt.Errorf("start %s: the arguments and environment are over the system's limit (one string at most 128 KiB and all of them together at most ARG_MAX on Linux): pass large values in files (outputs and inputs): %w", prog, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			code = 127
		} else if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.ENOEXEC) && !errors.Is(err, syscall.EISDIR) && !errors.Is(err, syscall.ENOTDIR) {
			return -1, fmt.Errorf("start %s: %w", prog, err) // fork failures and the like: retry
		}
		return code, fmt.Errorf("start %s: %w", prog, err)
	}
	tree.Started(proc.Pid)
	if out != nil {
		out.started()
	}
	pgid := proc.Pid

	k := &killer{pgid: pgid, grace: grace}
	stopWatch := context.AfterFunc(ctx, k.terminate)
	if idle != nil {
		// While the command runs: the executor's chores of the attempts
		// before, which would otherwise come between this command's
		// exit and the next one's start.
		idle()
	}
	state, waitErr := proc.Wait()
	stopped := !stopWatch()
	k.done()
	if ws, ok := exitStatus(state); ok && started.asSh && ws.Signaled() {
		if note := shSignalNote(int(ws.Signal()), ws.CoreDump()); note != "" {
			_, _ = attr.Files[2].WriteString(note) // where the shell writes it
		}
	}
	// Reap the rest of the group, and everything else the command
	// started (setsid, double forks): nothing outlives the attempt, nor
	// holds the log pipe open.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	after()
	treeErr := tree.Close()

	var logErr error
	if out != nil {
		// The output's file may serve another command only where no
		// process of this one can be left to write to it: its cgroup was
		// found empty and given back. The sweep cannot promise that (a
		// process that cleared its environment and lost its parent).
		logErr = out.finish(treeErr == nil && tree.Cgroup() != "")
	}

	code := exitCode(state)
	switch {
	case stopped:
		return code, fmt.Errorf("%w", errStopped)
	case waitErr != nil:
		return -1, fmt.Errorf("wait: %w", waitErr)
	case logErr != nil:
		return code, fmt.Errorf("write log: %w", logErr)
	case treeErr != nil:
		return code, fmt.Errorf("stop what the command left running: %w", treeErr)
	}
	return code, nil
}

// devNull is /dev/null, opened once for every command's standard input
// (and output, without a log).
var devNull = sync.OnceValues(func() (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	return f, nil
})

func exitStatus(ps *os.ProcessState) (syscall.WaitStatus, bool) {
	if ps == nil {
		return 0, false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ws, ok
}

func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// killer stops a process group: SIGTERM now, SIGKILL after grace unless
// the leader was reaped first.
type killer struct {
	pgid  int
	grace time.Duration

	mu       sync.Mutex
	finished bool
	timer    *time.Timer
}

func (k *killer) terminate() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.finished {
		return
	}
	_ = syscall.Kill(-k.pgid, syscall.SIGTERM)
	k.timer = time.AfterFunc(k.grace, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if !k.finished {
			_ = syscall.Kill(-k.pgid, syscall.SIGKILL)
		}
	})
}

// done records that the leader was reaped and disarms the timers; the
// caller kills what is left of the group itself, at once.
func (k *killer) done() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.finished = true
	if k.timer != nil {
		k.timer.Stop()
	}
}

// treeName names an attempt's process tree (and its cgroup).
func treeName(runID, taskID string, attempt int) string {
	return fmt.Sprintf("shell.%s.%s.%d", runID, taskID, attempt)
}

// attemptMarks are the environment entries every process of an attempt
// inherits.
func attemptMarks(runID, taskID string, attempt int) []string {
	return []string{"CAIRN_RUN_ID=" + runID, "CAIRN_TASK_ID=" + taskID, "CAIRN_ATTEMPT=" + strconv.Itoa(attempt)}
}
