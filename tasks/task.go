// Package tasks holds the Task contract that every task type implements
// (built-in, plugin-served, or run by a remote worker) and the Registry that
// maps type names to implementations. One sub-package per built-in type.
package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/cairnml/cairn"
)

// Task is a task type. Implementations must be safe for concurrent use:
// one value serves every attempt of every task of its type.
//
// The contract is designed to cross a process boundary (plugins over gRPC,
// remote workers): everything in a Request and a Result is plain data,
// artifacts travel as content-addressed references, and the log is a byte
// stream.
type Task interface {
	// Info describes the type: its params, inputs and outputs.
	Info() cairn.TypeInfo
	// Run executes one attempt. It must return when ctx is done. The
	// error decides what happens next: nil succeeds; an error wrapped
	// with cairn.Permanent fails the task for good; any other error fails
	// the attempt and the task is retried under its policy. The error's
	// text is recorded against the task, whose id every display shows:
	// the executor drops a leading "TYPE ID: " or "TYPE: " from it.
	Run(ctx context.Context, req Request, env Env) (Result, error)
}

// ParamValidator is implemented by task types that check their `with:`
// params beyond what TypeInfo declares (for instance "argv or script,
// not both"). It runs at validation time, before anything is persisted,
// on the params as written: values that hold a ${{ }} reference are
// strings there, and a validator must accept them.
type ParamValidator interface {
	ValidateParams(params map[string]any) []ParamError
}

// ParamError is one problem in a task's `with:` params.
type ParamError struct {
	Key  string // the with: key at fault, "" for the block as a whole
	Msg  string
	Hint string
	// At is 1 + the byte offset in Key's string value where the problem
	// is (a reference inside a script), 0 for the key as a whole.
	At int
}

func (e ParamError) Error() string { return e.Key + ": " + e.Msg }

// Request is one attempt's work.
type Request struct {
	RunID   string
	TaskID  string
	Attempt int
	// Params is the task's `with:` block as a JSON object, with every
	// reference resolved.
	Params json.RawMessage
	// Inputs are the task's `inputs:`, resolved to artifacts.
	Inputs map[string]cairn.ArtifactRef
	// WorkDir is an empty scratch directory owned by this attempt; it is
	// removed after the attempt. It is "" for a task type that says it
	// needs none (NoScratch).
	WorkDir string
}

// DecodeParams unmarshals the request's params into v, rejecting unknown
// keys. Its errors are permanent: retrying cannot fix bad params.
func (r Request) DecodeParams(v any) error {
	if len(r.Params) == 0 {
		return nil
	}
	if string(r.Params) == "{}" {
		// No keys: a struct is left as it is, as the decoder would
		// leave it, without the decoder's allocations (a task without
		// params, at every attempt). Anything else is decoded.
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Struct {
			return nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(r.Params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return cairn.Permanentf("task %s: params: %w", r.TaskID, err)
	}
	return nil
}

// DecodeMap returns the request's params as a JSON object decoded into a
// map, numbers as json.Number (an integer keeps every digit), for task
// types that check params with the same code at validation and at run
// time. what names the type in the error, which is permanent.
func (r Request) DecodeMap(what string) (map[string]any, error) {
	m := map[string]any{}
	if len(bytes.TrimSpace(r.Params)) == 0 {
		return m, nil
	}
	dec := json.NewDecoder(bytes.NewReader(r.Params))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, cairn.Permanentf("%s %s: params: want a JSON object: %w", what, r.TaskID, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// ParamsError is the run-time form of a validator's errors: one permanent
// error listing them all, with their hints; nil when errs is empty.
func ParamsError(what, id string, errs []ParamError) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Msg
		if e.Key != "" {
			msgs[i] = e.Key + ": " + e.Msg
		}
		if e.Hint != "" {
			msgs[i] += " (" + e.Hint + ")"
		}
	}
	return cairn.Permanentf("%s %s: params: %s", what, id, strings.Join(msgs, "; "))
}

// Env is what the executor lends an attempt.
type Env struct {
	// Log receives the attempt's log; it is kept per attempt.
	Log io.Writer
	// Artifacts reads inputs and stores outputs.
	Artifacts Artifacts
	// RanBy, if set, is told which plugin binary runs the attempt: a
	// plugin-served type calls it, before Run returns, once a process of
	// its plugin has been given the attempt, and not when the attempt
	// failed before that (no process could be started, params refused).
	// The executor records it with the attempt.
	RanBy func(cairn.PluginRef)
	// Models reads the model registry and the lineage graph, for the
	// task types that need them (retrain). Nil when the process running
	// the attempt lends no such access: a plugin's attempts, and tests
	// that give none. A task reports every artifact it reads through it
	// that was not one of its inputs in Result.Inputs, so that lineage
	// stays complete.
	Models ModelReader
	// Idle, if set, is called by a task whose attempt is about to wait
	// for work outside this process (the shell type, once its command
	// has started), at most once: the executor does then what it put off
	// from the attempts before (emptying their scratch folders), while
	// the task would only wait, rather than between one attempt and the
	// next. It returns at once when there is nothing to do; a task that
	// never calls it loses nothing.
	Idle func()
}

// ModelReader is the read-only view of the model registry and of lineage
// that the executor lends a task (Env.Models). A task has no write access
// to the store: what it changes there is an effect of its result.
type ModelReader interface {
	// Production returns the version of model name in production, or an
	// error wrapping cairn.ErrNotFound when it has none.
	Production(ctx context.Context, name string) (cairn.ModelVersion, error)
	// TrainingData returns the artifact that the attempt which produced
	// the model artifact read through its input port (train's "train"):
	// the model's training data, found through lineage. The error wraps
	// cairn.ErrNotFound when no recorded attempt produced the model or
	// none of those that did had such an input.
	TrainingData(ctx context.Context, model cairn.ArtifactRef, port string) (cairn.ArtifactRef, error)
	// PredictionLog returns the rows that a cairn server on this home
	// sampled from the prediction requests it answered for model name (any
	// version), stored as a JSON Lines artifact (MediaTypeJSONL): one
	// object per row, the model's feature columns beside cairn_time and
	// cairn_version. The error wraps cairn.ErrNotFound when there is none.
	PredictionLog(ctx context.Context, name string) (cairn.ArtifactRef, error)
}

// MediaTypeJSONL is the media type of a JSON Lines artifact.
const MediaTypeJSONL = "application/jsonl"

// Artifacts is a content-addressed artifact store as a task sees it.
type Artifacts interface {
	// Open returns the artifact's bytes; the caller closes the reader.
	// The bytes are verified against the digest as they are read.
	Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error)
	// Put stores the bytes read from r and returns their reference.
	Put(ctx context.Context, mediaType string, r io.Reader) (cairn.ArtifactRef, error)
}

// MaxValueBytes bounds a value output (its JSON): a value is stored on
// the task run's row and copied into every task that reads it. A larger
// result belongs in an artifact.
const MaxValueBytes = 1 << 20

// Result is what a successful attempt produced.
type Result struct {
	// Outputs maps output names to JSON values; artifact outputs hold
	// an ArtifactRef's JSON (see cairn.ArtifactRef.JSON).
	Outputs map[string]json.RawMessage
	Metrics map[string]float64
	// Effects are changes of the store's state the success asks for (a
	// deploy's model registration), applied by the transaction that
	// records it; a task has no access to the store itself.
	Effects []cairn.Effect
	// Inputs are the artifacts the attempt read that were not among its
	// Request.Inputs (the production model and its training data a
	// retrain looked up through Env.Models), by a port name of the task's
	// choosing that is none of its inputs' names. They are recorded as
	// the attempt's "in" lineage edges beside its inputs.
	Inputs map[string]cairn.ArtifactRef
}

// Registry maps task type names to implementations. It is built
// explicitly in cmd/ (no init-time registration).
type Registry struct {
	types map[string]Task
	// policies holds each type's caching policy, read from its Info once
	// at Register: a workflow's parse asks for it of every task, and an
	// Info is built at each call (the shell type's, with its params'
	// docs, about 1 KB: of a 1,000-task file, ~230 page faults here).
	policies map[string]cairn.CachePolicy
}

// NewRegistry returns a registry holding ts; it fails like Register.
func NewRegistry(ts ...Task) (*Registry, error) {
	r := &Registry{types: make(map[string]Task), policies: make(map[string]cairn.CachePolicy)}
	for _, t := range ts {
		if err := r.Register(t); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds t under its Info().Name. A second type of the same name is
// an error.
func (r *Registry) Register(t Task) error {
	info := t.Info()
	name := info.Name
	if name == "" {
		return fmt.Errorf("register task type %T: empty name", t)
	}
	if _, dup := r.types[name]; dup {
		return fmt.Errorf("register task type %q: already registered", name)
	}
	r.types[name] = t
	if r.policies == nil {
		r.policies = make(map[string]cairn.CachePolicy)
	}
	r.policies[name] = info.Cache
	return nil
}

// Lookup returns the task type called name.
func (r *Registry) Lookup(name string) (Task, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Info returns the description of type name.
func (r *Registry) Info(name string) (cairn.TypeInfo, bool) {
	t, ok := r.types[name]
	if !ok {
		return cairn.TypeInfo{}, false
	}
	return t.Info(), true
}

// ValidateParams runs the type's ParamValidator, if it has one.
func (r *Registry) ValidateParams(name string, params map[string]any) []ParamError {
	if v, ok := r.types[name].(ParamValidator); ok {
		return v.ValidateParams(params)
	}
	return nil
}

// Names returns the registered type names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Duration is a task param written as a Go duration string ("90s",
// "1m30s"); negative durations are refused. Decode params of kind
// cairn.KindDuration into it.
type Duration time.Duration

// UnmarshalJSON decodes a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"90s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %s", s)
	}
	*d = Duration(v)
	return nil
}

// NoScratch is implemented by task types whose attempts never use a
// scratch directory: the executor makes them none (Request.WorkDir is ""),
// which saves creating and removing a folder per attempt.
type NoScratch interface {
	NoScratch()
}

// Idler is implemented by task types whose attempts call Env.Idle once
// they wait for work outside the process (the shell type). The executor
// puts off emptying such an attempt's scratch folder to a later
// attempt's Idle; an attempt of another type has the folders put off
// emptied before it runs, so that what they hold never waits for long.
type Idler interface {
	CallsIdle()
}

// OrphanReaper is implemented by task types whose attempts run processes
// that can outlive a worker killed with SIGKILL (shell: what the command
// started itself). ReapOrphans kills whatever attempt `attempt` of the task
// left running. The driver calls it when it takes over a run from a dead
// owner, before the task can be retried, so that an interrupted attempt
// never runs on beside its retry.
type OrphanReaper interface {
	ReapOrphans(ctx context.Context, runID, taskID string, attempt int) error
}
