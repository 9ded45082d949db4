package cairn

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AttemptRef names one attempt of one task run.
type AttemptRef struct {
	RunID  string `json:"run_id"`
	TaskID string `json:"task_id"`
	Number int    `json:"attempt"`
}

// String is "RUN/TASK#N".
func (a AttemptRef) String() string { return a.RunID + "/" + a.TaskID + "#" + strconv.Itoa(a.Number) }

// IsZero reports whether a names no attempt.
func (a AttemptRef) IsZero() bool { return a.RunID == "" && a.TaskID == "" && a.Number == 0 }

// ReusedNote is what is said of an attempt that reused the outputs of
// attempt from rather than run: "cairn: not run: reused the outputs of
// RUN/TASK#N". Such an attempt writes no log (unless it passed over other
// earlier successes first, which its log names): `cairn logs` and the web
// UI say this line in its place.
func ReusedNote(from AttemptRef) string {
	return "cairn: not run: reused the outputs of " + from.String()
}

// Lineage directions: an attempt read an artifact (In) or wrote it (Out).
const (
	LineageIn  = "in"
	LineageOut = "out"
)

// ArtifactRecord is what the store knows of an artifact: its reference
// and the attempt that first recorded it as an output (zero when it was
// first seen as an input, say a plugin's).
type ArtifactRecord struct {
	ArtifactRef
	Producer  AttemptRef `json:"producer"`
	CreatedAt time.Time  `json:"created_at"`
}

// LineageEdge is one edge of the lineage graph: an attempt read (In) or
// wrote (Out) the artifact Digest through its port Port.
type LineageEdge struct {
	Attempt   AttemptRef `json:"attempt"`
	Direction string     `json:"direction"`
	Port      string     `json:"port"`
	Digest    string     `json:"digest"`
}

// ModelStage is where a model version stands in the registry.
type ModelStage string

// Model stages. A model name has at most one version in production.
const (
	StageCandidate  ModelStage = "candidate"
	StageProduction ModelStage = "production"
	StageArchived   ModelStage = "archived"
)

// Valid reports whether s is one of the stages.
func (s ModelStage) Valid() bool {
	return s == StageCandidate || s == StageProduction || s == StageArchived
}

// ModelVersion is one version of a registered model.
type ModelVersion struct {
	Name    string             `json:"name"`
	Version int                `json:"version"` // from 1 per name
	Model   ArtifactRef        `json:"model"`
	Stage   ModelStage         `json:"stage"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Report is the evaluation report the deploy named, if any.
	Report         *ArtifactRef `json:"report,omitempty"`
	Producer       AttemptRef   `json:"producer"` // the deploy attempt that registered it
	CreatedAt      time.Time    `json:"created_at"`
	StageChangedAt time.Time    `json:"stage_changed_at"`
}

// Ref is "model:NAME@VERSION".
func (m ModelVersion) Ref() string { return "model:" + m.Name + "@" + strconv.Itoa(m.Version) }

// ModelStageChange is one change of stage in a model's history.
type ModelStageChange struct {
	Version int        `json:"version"`
	From    ModelStage `json:"from"` // "" when the version was registered
	To      ModelStage `json:"to"`
	// Reason is what made the change: deploy, promote or rollback.
	Reason string `json:"reason"`
	// Actor is who: the deploy attempt ("RUN/TASK#N"), a token id, or
	// "cli:USER@HOST" for a local command.
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
}

// ParseModelRef reads "model:NAME@VERSION" (VERSION ≥ 1) or, with version
// 0, "model:NAME" (the production version, wherever it is looked up).
func ParseModelRef(s string) (name string, version int, err error) {
	rest, ok := strings.CutPrefix(s, "model:")
	if !ok {
		return "", 0, fmt.Errorf("%q is not a model reference: want model:NAME@VERSION", s)
	}
	name, v, hasV := strings.Cut(rest, "@")
	if err := ValidModelName(name); err != nil {
		return "", 0, err
	}
	if !hasV {
		return name, 0, nil
	}
	version, err = strconv.Atoi(v)
	if err != nil || version < 1 {
		return "", 0, fmt.Errorf("%q: the version after @ must be a whole number from 1", s)
	}
	return name, version, nil
}

// ValidModelName checks a model's name: 1 to 128 characters of letters,
// digits, '-', '_' and '.', starting with a letter or digit.
func ValidModelName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("model name %q must be 1 to 128 characters", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '_' || r == '.')
		if !ok {
			return fmt.Errorf("model name %q: only letters, digits, '-', '_' and '.' (not first) are allowed", name)
		}
	}
	return nil
}

// Effect is a change of the store's state a task's result asks for,
// applied by the transaction that records the attempt's success: a task
// has no access to the store, so that a plugin or a remote worker can
// ask for it too. A run made by cairn reproduce applies none.
type Effect struct {
	// RegisterModel registers a model version (or finds the one of the
	// same name and artifact) and moves it to a stage.
	RegisterModel *ModelRegistration `json:"register_model,omitempty"`
	// Notify is an event of the workflow's notify: (a gate that did not
	// pass, drift found): the store writes the run's alerts for it.
	Notify *Notification `json:"notify,omitempty"`
}

// ModelRegistration is the effect of a deploy: register Model under Name
// (the same bytes again are the existing version) and move it to Stage.
// A registration never moves a production version back to candidate.
type ModelRegistration struct {
	Name    string             `json:"name"`
	Stage   ModelStage         `json:"stage"`
	Model   ArtifactRef        `json:"model"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Report  *ArtifactRef       `json:"report,omitempty"`
	// VersionOutput, if set, names the task output that the store sets to
	// the version number registered.
	VersionOutput string `json:"version_output,omitempty"`
	// StageOutput, if set, names the task output that the store sets to
	// the stage the version is in once registered: the stage asked, or
	// production for a rollout's first version (nothing to roll out
	// against).
	StageOutput string `json:"stage_output,omitempty"`
	// Rollout, if set with a strategy other than direct, rolls the
	// version (registered as a candidate) out against the production
	// version; with no production version it goes to production at once.
	Rollout *RolloutSpec `json:"rollout,omitempty"`
	// Alerts, if not nil, become the model's alerts (ModelAlerts), in
	// the registration's transaction, whatever the strategy; nil leaves
	// the model's alerts as they are.
	Alerts []ModelAlert `json:"alerts,omitempty"`
}

// Validate checks an effect before anything is applied.
func (e Effect) Validate() error {
	if n := e.Notify; n != nil {
		if e.RegisterModel != nil {
			return fmt.Errorf("effect names two changes: one per effect")
		}
		if n.Event != AlertGateFailed && n.Event != AlertDrift {
			return fmt.Errorf("notify: event %q is not one a task reports (gate_failed, drift)", n.Event)
		}
		return nil
	}
	r := e.RegisterModel
	if r == nil {
		return fmt.Errorf("effect names no change")
	}
	if err := ValidModelName(r.Name); err != nil {
		return fmt.Errorf("register model: %w", err)
	}
	if !r.Stage.Valid() || r.Stage == StageArchived {
		return fmt.Errorf("register model %s: stage %q is not candidate or production", r.Name, r.Stage)
	}
	if err := r.Model.Validate(); err != nil {
		return fmt.Errorf("register model %s: %w", r.Name, err)
	}
	if r.Report != nil {
		if err := r.Report.Validate(); err != nil {
			return fmt.Errorf("register model %s: report: %w", r.Name, err)
		}
	}
	if err := ValidateModelAlerts(r.Alerts); err != nil {
		return fmt.Errorf("register model %s: %w", r.Name, err)
	}
	if r.Rollout != nil {
		if err := r.Rollout.Validate(); err != nil {
			return fmt.Errorf("register model %s: %w", r.Name, err)
		}
		if r.Rollout.Strategy != "" && r.Rollout.Strategy != StrategyDirect && r.Stage != StageCandidate {
			return fmt.Errorf("register model %s: a %s rollout registers a candidate, not a %s version", r.Name, r.Rollout.Strategy, r.Stage)
		}
	}
	return nil
}

// CachedAttempt is an earlier success a cache key finds: the attempt
// and the outputs and metrics it recorded, which a later attempt with the
// same key may reuse.
type CachedAttempt struct {
	Attempt AttemptRef
	// Type is the task type of the attempt: a hit is reused only by a
	// task of the same type.
	Type    string
	Outputs map[string]json.RawMessage
	Metrics map[string]float64
}

// CacheKey is the key under which an attempt's outputs may be reused:
// the sha256 of its task type, the implementation's version, its
// resolved params (as stored: canonical JSON) and the digest of each
// input by name. Any change of one gives another key.
func CacheKey(taskType, version string, params json.RawMessage, inputs map[string]ArtifactRef) string {
	h := sha256.New()
	field := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	field("cairn-cache-v1")
	field(taskType)
	field(version)
	field(string(params))
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		field(n)
		field(inputs[n].Digest)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// SourceCacheKey is the cache key of an attempt whose type read data from
// outside (tasks.SourceDigester), whose digest is src: the key of its
// type, version, params and inputs (CacheKey), and src.
func SourceCacheKey(key, src string) string {
	return CacheKey("", "", nil, map[string]ArtifactRef{"key": {Digest: key}, "source": {Digest: src}})
}

// AttemptIO is one artifact an attempt read (LineageIn) or wrote
// (LineageOut), by port.
type AttemptIO struct {
	Direction string
	Port      string
	Ref       ArtifactRef
}

// EndedIO is what the lineage of an attempt that ended records, the
// same in every store: each of its inputs; for a success, also the
// artifacts it read beyond them (readInputs; a port named like an input
// is the input's) and its outputs that hold artifact references. Each
// group is in port order.
func EndedIO(succeeded bool, inputs, readInputs map[string]ArtifactRef, outputs map[string]json.RawMessage) []AttemptIO {
	var io []AttemptIO
	for _, n := range sortedNames(inputs) {
		io = append(io, AttemptIO{LineageIn, n, inputs[n]})
	}
	if !succeeded {
		return io
	}
	for _, n := range sortedNames(readInputs) {
		if _, dup := inputs[n]; !dup {
			io = append(io, AttemptIO{LineageIn, n, readInputs[n]})
		}
	}
	for _, n := range sortedNames(outputs) {
		v := outputs[n]
		// Most outputs are numbers, strings or flags: look before
		// decoding.
		if len(v) == 0 || v[0] != '{' || !bytes.Contains(v, []byte(`"digest"`)) {
			continue
		}
		if ref, ok := AsArtifactRef(v); ok {
			io = append(io, AttemptIO{LineageOut, n, ref})
		}
	}
	return io
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
