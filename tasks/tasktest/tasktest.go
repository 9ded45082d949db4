package tasktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks"
)

// Outcome is how a case's attempt must end.
type Outcome int

// Outcomes.
const (
	// Succeeds: Run returns a nil error.
	Succeeds Outcome = iota
	// FailsRetryable: Run returns an error that allows a retry.
	FailsRetryable
	// FailsPermanent: Run returns an error wrapping cairn.PermanentError.
	FailsPermanent
	// Panics: Run panics.
	Panics
	// Blocks: Run does not return on its own within the case's Delay; the
	// harness then cancels its context and Run must return an error
	// promptly. The case is run a second time with a deadline instead.
	Blocks
)

func (o Outcome) String() string {
	switch o {
	case Succeeds:
		return "succeeds"
	case FailsRetryable:
		return "fails (retryable)"
	case FailsPermanent:
		return "fails (permanent)"
	case Panics:
		return "panics"
	case Blocks:
		return "blocks until cancelled"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Case is one attempt the harness runs.
type Case struct {
	Name string
	// Params is the `with:` block; it crosses to the task as JSON.
	Params map[string]any
	// Inputs are stored in the attempt's artifact store and passed as
	// the request's inputs.
	Inputs map[string][]byte
	Want   Outcome
	// InvalidParams says the params are wrong: the type's ParamValidator
	// (if any) must report at least one error, Run must fail permanently,
	// and the params need not match Info. Want is ignored.
	InvalidParams bool
	// Resolved says the params are a run's, resolved from the file's
	// references (a secret param's value in them: a password in a DSN),
	// which the type's validator — it checks params as written in a
	// workflow file — may refuse as written: it is not asked.
	Resolved bool
	// Delay is how long a Blocks case is left running before it is
	// cancelled; 100ms if zero.
	Delay time.Duration
	// Check, if set, inspects the finished attempt further.
	Check func(t *testing.T, a Attempt)
}

// Attempt is a finished run of a case, as Check sees it.
type Attempt struct {
	Request tasks.Request
	Env     tasks.Env
	Result  tasks.Result
	Err     error
	Log     []byte
	// Panic is the recovered value when Run panicked, or the
	// *cairn.PanicError it returned (how a plugin-served task reports a
	// panic in its own process).
	Panic any
}

// CancelWithin bounds how long Run may take to return once its context
// ends: a task must notice (a process-running one has to stop its child
// first). It detects a Run that ignores its context, not a slow one: on a
// loaded machine under -race, tune's forest search between two fits took
// more than the 3 s this used to be (TestConformance/cancelled-mid-search
// failed in the full suite with two `yes` loops). A Run that ignored its
// context would end without an error, or not at all, and fail either way.
const CancelWithin = 30 * time.Second

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)
var portRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Run checks task against the Task contract and runs each case as a subtest.
func Run(t *testing.T, task tasks.Task, cases ...Case) {
	t.Helper()
	info := task.Info()
	t.Run("Info", func(t *testing.T) { CheckInfo(t, task) })
	names := map[string]bool{}
	for _, c := range cases {
		if c.Name == "" || names[c.Name] {
			t.Fatalf("case names must be unique and non-empty: %q", c.Name)
		}
		names[c.Name] = true
		t.Run(c.Name, func(t *testing.T) { runCase(t, task, info, c) })
	}
}

// CheckInfo checks that task's Info is well formed and stable.
func CheckInfo(t *testing.T, task tasks.Task) {
	t.Helper()
	info := task.Info()
	if !nameRE.MatchString(info.Name) {
		t.Errorf("Info().Name %q is not a lowercase type name", info.Name)
	}
	if strings.TrimSpace(info.Summary) == "" {
		t.Errorf("type %s: empty Summary", info.Name)
	}
	seen := map[string]bool{}
	for _, p := range info.Params {
		if p.Name == "" || seen[p.Name] {
			t.Errorf("type %s: param name %q is empty or repeated", info.Name, p.Name)
		}
		seen[p.Name] = true
		switch p.Kind {
		case cairn.KindString, cairn.KindInt, cairn.KindFloat, cairn.KindBool,
			cairn.KindDuration, cairn.KindList, cairn.KindMap, cairn.KindAny:
		default:
			t.Errorf("type %s: param %s has unknown kind %q", info.Name, p.Name, p.Kind)
		}
		if p.Required && p.Default != nil {
			t.Errorf("type %s: param %s is required yet has a default", info.Name, p.Name)
		}
		if p.Default != nil {
			if err := kindMismatch(p.Kind, p.Default); err != nil {
				t.Errorf("type %s: param %s default: %v", info.Name, p.Name, err)
			}
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("type %s: param %s has no Doc", info.Name, p.Name)
		}
	}
	for _, ports := range []struct {
		what string
		list []cairn.PortInfo
	}{{"input", info.Inputs}, {"output", info.Outputs}} {
		seen := map[string]bool{}
		for _, p := range ports.list {
			if !portRE.MatchString(p.Name) || seen[p.Name] {
				t.Errorf("type %s: %s name %q is not an identifier or is repeated", info.Name, ports.what, p.Name)
			}
			seen[p.Name] = true
			if ports.what == "output" && p.Required {
				t.Errorf("type %s: output %s is marked Required, which applies to inputs only", info.Name, p.Name)
			}
		}
	}
	for what, name := range map[string]string{"OutputsParam": info.OutputsParam, "ValuesParam": info.ValuesParam} {
		if name == "" {
			continue
		}
		p, ok := info.Param(name)
		if !ok {
			t.Errorf("type %s: %s %q is not a declared param", info.Name, what, name)
		} else if p.Kind != cairn.KindMap && p.Kind != cairn.KindAny {
			t.Errorf("type %s: %s %q has kind %s, want map", info.Name, what, name, p.Kind)
		}
	}
	b, err := json.Marshal(info)
	if err != nil {
		t.Errorf("type %s: Info does not encode as JSON: %v", info.Name, err)
	} else {
		var back cairn.TypeInfo
		if err := json.Unmarshal(b, &back); err != nil || back.Name != info.Name || len(back.Params) != len(info.Params) {
			t.Errorf("type %s: Info does not survive a JSON round trip: %v", info.Name, err)
		}
	}
	if again := task.Info(); !reflect.DeepEqual(again, info) {
		t.Errorf("type %s: Info() changes between calls", info.Name)
	}
}

// kindMismatch checks a JSON-decoded (or Go literal) value against a kind.
func kindMismatch(k cairn.ParamKind, v any) error {
	ok := true
	switch k {
	case cairn.KindString:
		_, ok = v.(string)
	case cairn.KindInt:
		f, isNum := toFloat(v)
		ok = isNum && f == math.Trunc(f)
	case cairn.KindFloat:
		_, ok = toFloat(v)
	case cairn.KindBool:
		_, ok = v.(bool)
	case cairn.KindDuration:
		s, isStr := v.(string)
		if ok = isStr; ok {
			_, err := time.ParseDuration(s)
			ok = err == nil
		}
	case cairn.KindList:
		ok = reflect.ValueOf(v).Kind() == reflect.Slice
	case cairn.KindMap:
		ok = reflect.ValueOf(v).Kind() == reflect.Map
	}
	if !ok {
		return fmt.Errorf("%v (%T) is not a %s", v, v, k)
	}
	return nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func runCase(t *testing.T, task tasks.Task, info cairn.TypeInfo, c Case) {
	raw, err := json.Marshal(c.Params)
	if err != nil {
		t.Fatalf("case params do not encode as JSON: %v", err)
	}
	if c.Params == nil {
		raw = []byte("{}")
	}
	// What a validator sees is what a workflow file or a plugin wire
	// gives it: plain JSON values.
	var wire map[string]any
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}
	checkParams(t, task, info, c, wire)

	want := c.Want
	if c.InvalidParams {
		want = FailsPermanent
	}
	if want == Blocks {
		runBlocking(t, task, info, c, raw, false)
		runBlocking(t, task, info, c, raw, true)
		return
	}
	a, log := prepare(t, c, raw)
	a = run(context.Background(), task, a, log)
	switch want {
	case Succeeds:
		if a.Panic != nil {
			t.Fatalf("Run panicked: %v", a.Panic)
		}
		if a.Err != nil {
			t.Fatalf("Run failed: %v\nlog:\n%s", a.Err, a.Log)
		}
	case FailsRetryable, FailsPermanent:
		if a.Panic != nil {
			t.Fatalf("Run panicked: %v", a.Panic)
		}
		if a.Err == nil {
			t.Fatalf("Run succeeded, want it to fail (%s)\nlog:\n%s", want, a.Log)
		}
		if retry := cairn.IsRetryable(a.Err); retry != (want == FailsRetryable) {
			t.Fatalf("Run failed with %v; retryable = %v, want %v", a.Err, retry, want == FailsRetryable)
		}
	case Panics:
		if a.Panic == nil {
			t.Fatalf("Run did not panic (err %v)", a.Err)
		}
	}
	if a.Panic == nil {
		checkResult(t, info, c, a)
	}
	if c.Check != nil {
		c.Check(t, a)
	}
	if want != Panics {
		checkPrecancelled(t, task, c, raw)
	}
}

// checkParams holds the case's params against Info and the validator.
func checkParams(t *testing.T, task tasks.Task, info cairn.TypeInfo, c Case, wire map[string]any) {
	t.Helper()
	var perrs []tasks.ParamError
	v, isValidator := task.(tasks.ParamValidator)
	if isValidator && !c.Resolved {
		perrs = v.ValidateParams(wire)
	}
	if c.InvalidParams {
		if isValidator && len(perrs) == 0 {
			t.Errorf("ValidateParams(%v) reported nothing for params the case calls invalid", wire)
		}
		return
	}
	for _, e := range perrs {
		t.Errorf("ValidateParams reported %v for valid params", e)
	}
	for k, val := range wire {
		p, ok := info.Param(k)
		if !ok {
			if !info.OpenParams {
				t.Errorf("param %q is not declared in Info", k)
			}
			continue
		}
		if err := kindMismatch(p.Kind, val); err != nil {
			t.Errorf("param %q: %v", k, err)
		}
	}
	for _, p := range info.Params {
		if _, ok := wire[p.Name]; p.Required && !ok {
			t.Errorf("required param %q missing from a valid case", p.Name)
		}
	}
	for _, in := range info.Inputs {
		if _, ok := c.Inputs[in.Name]; in.Required && !ok {
			t.Errorf("required input %q missing from a valid case", in.Name)
		}
	}
}

// prepare sets up an attempt of c on a fresh Env; run runs it. They are
// apart so that only run needs to leave the test's goroutine.
func prepare(t *testing.T, c Case, raw json.RawMessage) (Attempt, *Buffer) {
	t.Helper()
	env, log := Env(t)
	req := Request(t, raw)
	req.Inputs = storeInputs(t, env, c.Inputs)
	return Attempt{Request: req, Env: env}, log
}

// run runs the prepared attempt under ctx, recovering a panic.
func run(ctx context.Context, task tasks.Task, a Attempt, log *Buffer) (out Attempt) {
	out = a
	defer func() {
		if v := recover(); v != nil {
			out.Panic = v
		}
		out.Log = log.Bytes()
	}()
	out.Result, out.Err = task.Run(ctx, a.Request, a.Env)
	// A task served from another process cannot panic in this one: its
	// panic comes back as a *cairn.PanicError, which the executor treats
	// exactly like a recovered panic.
	var pe *cairn.PanicError
	if errors.As(out.Err, &pe) {
		out.Panic = pe
	}
	return out
}

// runAsync runs the prepared attempt in its own goroutine.
func runAsync(ctx context.Context, task tasks.Task, a Attempt, log *Buffer) <-chan Attempt {
	done := make(chan Attempt, 1)
	go func() { done <- run(ctx, task, a, log) }()
	return done
}

func storeInputs(t *testing.T, env tasks.Env, in map[string][]byte) map[string]cairn.ArtifactRef {
	t.Helper()
	if len(in) == 0 {
		return nil
	}
	refs := make(map[string]cairn.ArtifactRef, len(in))
	for name, b := range in {
		ref, err := env.Artifacts.Put(context.Background(), "application/octet-stream", bytes.NewReader(b))
		if err != nil {
			t.Fatalf("store input %s: %v", name, err)
		}
		refs[name] = ref
	}
	return refs
}

// checkResult holds a Result to what Info declares.
func checkResult(t *testing.T, info cairn.TypeInfo, c Case, a Attempt) {
	t.Helper()
	declared := map[string]cairn.PortInfo{}
	for _, p := range info.Outputs {
		declared[p.Name] = p
	}
	if info.OutputsParam != "" {
		if m, ok := c.Params[info.OutputsParam].(map[string]any); ok {
			for k := range m {
				declared[k] = cairn.PortInfo{Name: k, Artifact: true}
			}
		} else if m, ok := c.Params[info.OutputsParam].(map[string]string); ok {
			for k := range m {
				declared[k] = cairn.PortInfo{Name: k, Artifact: true}
			}
		}
	}
	if info.ValuesParam != "" {
		if m, ok := c.Params[info.ValuesParam].(map[string]any); ok {
			for k := range m {
				declared[k] = cairn.PortInfo{Name: k}
			}
		} else if m, ok := c.Params[info.ValuesParam].(map[string]string); ok {
			for k := range m {
				declared[k] = cairn.PortInfo{Name: k}
			}
		}
	}
	for name, v := range a.Result.Outputs {
		p, ok := declared[name]
		if !ok {
			t.Errorf("Result holds undeclared output %q", name)
			continue
		}
		if !json.Valid(v) {
			t.Errorf("output %q is not valid JSON: %q", name, v)
			continue
		}
		ref, isRef := cairn.AsArtifactRef(v)
		if p.Artifact && !isRef {
			t.Errorf("artifact output %q holds %s, not an artifact reference", name, v)
			continue
		}
		if isRef {
			checkArtifact(t, a.Env, name, ref)
		}
	}
	if a.Err == nil {
		names := make([]string, 0, len(declared))
		for n := range declared {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if _, ok := a.Result.Outputs[n]; !ok {
				t.Errorf("successful Result lacks declared output %q", n)
			}
		}
	}
	for k, m := range a.Result.Metrics {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			t.Errorf("metric %q is %v", k, m)
		}
	}
}

func checkArtifact(t *testing.T, env tasks.Env, name string, ref cairn.ArtifactRef) {
	t.Helper()
	rc, err := env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Errorf("output %q: %v", name, err)
		return
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		t.Errorf("output %q: read: %v", name, err)
	} else if n != ref.Size {
		t.Errorf("output %q: read %d bytes, reference says %d", name, n, ref.Size)
	}
}

// checkPrecancelled runs the case again with a context that is already
// done: Run must return promptly whatever it would have done.
func checkPrecancelled(t *testing.T, task tasks.Task, c Case, raw json.RawMessage) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, log := prepare(t, c, raw)
	done := runAsync(ctx, task, a, log)
	select {
	case a := <-done:
		if a.Panic != nil {
			t.Errorf("with a cancelled context: Run panicked: %v", a.Panic)
		}
	case <-time.After(CancelWithin):
		t.Fatalf("with a cancelled context: Run did not return within %v", CancelWithin)
	}
}

// runBlocking runs a Blocks case, ending it by cancellation or by deadline.
func runBlocking(t *testing.T, task tasks.Task, info cairn.TypeInfo, c Case, raw json.RawMessage, byDeadline bool) {
	t.Helper()
	delay := c.Delay
	if delay == 0 {
		delay = 100 * time.Millisecond
	}
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if byDeadline {
		ctx, cancel = context.WithTimeout(context.Background(), delay)
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	defer cancel()
	a, log := prepare(t, c, raw)
	done := runAsync(ctx, task, a, log)
	how := "cancellation"
	if byDeadline {
		how = "deadline"
	}
	if byDeadline {
		<-ctx.Done()
	} else {
		select {
		case a := <-done:
			t.Fatalf("Run returned before it was cancelled (err %v, panic %v)", a.Err, a.Panic)
		case <-time.After(delay):
		}
		cancel()
	}
	select {
	case a := <-done:
		if a.Panic != nil {
			t.Fatalf("after %s: Run panicked: %v", how, a.Panic)
		}
		if a.Err == nil {
			t.Fatalf("after %s: Run returned a nil error", how)
		}
		checkResult(t, info, c, a)
		if c.Check != nil {
			c.Check(t, a)
		}
	case <-time.After(CancelWithin):
		t.Fatalf("Run did not return within %v of its %s", CancelWithin, how)
	}
}

// Env returns an Env for one attempt: a fresh artifacts.Dir in a temporary
// folder and, as its Log, the returned Buffer.
func Env(t testing.TB) (tasks.Env, *Buffer) {
	t.Helper()
	store, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatalf("tasktest: %v", err)
	}
	log := &Buffer{}
	return tasks.Env{Log: log, Artifacts: store}, log
}

// Request returns a Request for attempt 1 of task "t" of run "testrun",
// with params (a JSON object, or nil) and a fresh WorkDir.
func Request(t testing.TB, params json.RawMessage) tasks.Request {
	t.Helper()
	return tasks.Request{
		RunID:   "testrun",
		TaskID:  "t",
		Attempt: 1,
		Params:  params,
		WorkDir: t.TempDir(),
	}
}

// Buffer is a log that is safe for concurrent writes and reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// String returns what was written so far.
func (b *Buffer) String() string { return string(b.Bytes()) }

// ErrorMentions returns a Case.Check that fails the test unless the
// attempt failed with an error whose text contains every part.
func ErrorMentions(parts ...string) func(*testing.T, Attempt) {
	return func(t *testing.T, a Attempt) {
		t.Helper()
		for _, p := range parts {
			if a.Err == nil || !strings.Contains(a.Err.Error(), p) {
				t.Errorf("error %v does not mention %q", a.Err, p)
			}
		}
	}
}

// Artifact returns the bytes of the artifact output name of a finished
// attempt (verified against its digest as they are read), failing the
// test when the output is not an artifact or, with mediaType not "", not
// of that media type.
func Artifact(t testing.TB, a Attempt, name, mediaType string) []byte {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(a.Result.Outputs[name])
	if !ok || (mediaType != "" && ref.MediaType != mediaType) {
		t.Fatalf("output %s = %s, want a %s artifact", name, a.Result.Outputs[name], mediaType)
	}
	rc, err := a.Env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Fatalf("open output %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read output %s: %v", name, err)
	}
	return b
}
