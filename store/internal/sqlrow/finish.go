package sqlrow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
)

// Finish is a completion checked and encoded for the store: the values a
// completion writes to its task run and to the attempt's row.
type Finish struct {
	Lease               cairn.Lease
	State, AttemptState cairn.TaskState
	Interrupted         int64
	Outputs, Metrics    *string
	ErrText, Stack      string
	Retryable           int64
	// RetryAt is the task's, while retrying; TaskFinished the task's
	// end, when it ends.
	RetryAt, TaskFinished     *int64
	FinishedAt                int64
	Exit                      *int64
	Plugin, Version, CacheKey string
	Cached                    cairn.AttemptRef
	// AttemptOutputs and AttemptMetrics are what the attempt row keeps:
	// a success's outputs and metrics, NULL otherwise.
	AttemptOutputs, AttemptMetrics *string
	Effects                        []cairn.Effect
	// ReadInputs are a success's artifacts read beyond its inputs.
	ReadInputs map[string]cairn.ArtifactRef
	// Known is the caller's copy of the task run leased under Lease, at
	// its stored version (scheduler.Finish.Known), nil if it has none.
	Known *cairn.TaskRun
}

// EncodeFinish checks and encodes completion c of lease l, ending at now
// unless c says when.
func EncodeFinish(l cairn.Lease, c cairn.Completion, now time.Time) (Finish, error) {
	f := Finish{Lease: l, State: c.State, AttemptState: c.State, ErrText: c.Error, Stack: c.Stack, Retryable: BoolInt(c.Retryable),
		Version: c.Version, CacheKey: c.CacheKey, Cached: c.CachedFrom}
	switch c.State {
	case cairn.TaskSucceeded, cairn.TaskFailed, cairn.TaskRetrying, cairn.TaskCancelled:
	default:
		return f, fmt.Errorf("completion state %q is not succeeded, failed, retrying or cancelled", c.State)
	}
	if c.Interrupted {
		if c.State != cairn.TaskRetrying && c.State != cairn.TaskFailed {
			return f, fmt.Errorf("an interrupted attempt leaves its task retrying or failed, not %s", c.State)
		}
		f.AttemptState, f.Interrupted = cairn.AttemptInterrupted, 1
	}
	var err error
	if f.Outputs, err = JSONText(c.Outputs, c.Outputs == nil); err != nil {
		return f, fmt.Errorf("encode outputs: %w", err)
	}
	if f.Metrics, err = JSONText(c.Metrics, c.Metrics == nil); err != nil {
		return f, fmt.Errorf("encode metrics: %w", err)
	}
	if c.State == cairn.TaskSucceeded {
		f.AttemptOutputs, f.AttemptMetrics = f.Outputs, f.Metrics
		for _, e := range c.Effects {
			if err := e.Validate(); err != nil {
				return f, err
			}
		}
		f.Effects = c.Effects
		for port, ref := range c.ReadInputs {
			if port == "" {
				return f, fmt.Errorf("an artifact read beyond the inputs has no port name")
			}
			if err := ref.Validate(); err != nil {
				return f, fmt.Errorf("artifact read as %q: %w", port, err)
			}
		}
		f.ReadInputs = c.ReadInputs
	} else if len(c.Effects) > 0 {
		return f, fmt.Errorf("a %s attempt has no effects: only a success's are applied", c.State)
	}
	finishedAt := c.FinishedAt
	if finishedAt.IsZero() {
		finishedAt = now
	}
	f.FinishedAt = finishedAt.UnixNano()
	if c.State == cairn.TaskRetrying {
		f.RetryAt = Nanos(c.RetryAt)
	} else {
		fa := f.FinishedAt
		f.TaskFinished = &fa
	}
	if c.ExitCode != nil {
		e := int64(*c.ExitCode)
		f.Exit = &e
	}
	if c.Plugin != nil {
		b, err := json.Marshal(c.Plugin)
		if err != nil {
			return f, fmt.Errorf("encode plugin: %w", err)
		}
		f.Plugin = string(b)
	}
	return f, nil
}

// Completed is the task run known, the stored row leased under f.Lease at
// its Version, as the completion's write leaves it: the task run a read
// of the row after the write decodes, built without the read (the stores'
// completion statements: state, outputs, metrics, error, retry_at and a
// task's end written; the lease and the attempt's times cleared; the
// interruptions counted; the version one up). Its maps are its own.
func (f *Finish) Completed(known *cairn.TaskRun) (*cairn.TaskRun, error) {
	t := *known
	t.State, t.Error = f.State, f.ErrText
	t.Outputs, t.Metrics = nil, nil
	if f.Outputs != nil {
		if err := DecodeMap([]byte(*f.Outputs), &t.Outputs); err != nil {
			return nil, fmt.Errorf("decode outputs of %s/%s: %w", t.RunID, t.TaskID, err)
		}
	}
	if f.Metrics != nil {
		if err := DecodeMap([]byte(*f.Metrics), &t.Metrics); err != nil {
			return nil, fmt.Errorf("decode metrics of %s/%s: %w", t.RunID, t.TaskID, err)
		}
	}
	t.RetryAt = time.Time{}
	if f.RetryAt != nil {
		t.RetryAt = time.Unix(0, *f.RetryAt).UTC()
	}
	if f.TaskFinished != nil {
		t.FinishedAt = time.Unix(0, *f.TaskFinished).UTC()
	}
	t.LeaseToken, t.LeaseWorker, t.LeaseExpiresAt = "", "", time.Time{}
	t.Interrupted += int(f.Interrupted)
	t.InterruptedInARow = (t.InterruptedInARow + 1) * int(f.Interrupted)
	t.Version++
	return &t, nil
}

// Ended is a completion the store accepted and its task run as the
// completion left it.
type Ended struct {
	F  *Finish
	TR *cairn.TaskRun
}

// LineageRow is one edge of the lineage graph, with the artifact it
// names.
type LineageRow struct {
	Attempt   cairn.AttemptRef
	Direction string
	Port      string
	Ref       cairn.ArtifactRef
}

// LineageEdges are the edges the attempts in ended record
// (cairn.EndedIO).
func LineageEdges(ended []Ended) []LineageRow {
	var out []LineageRow
	for _, e := range ended {
		a := cairn.AttemptRef{RunID: e.F.Lease.RunID, TaskID: e.F.Lease.TaskID, Number: e.F.Lease.Attempt}
		for _, io := range cairn.EndedIO(e.F.State == cairn.TaskSucceeded, e.TR.Inputs, e.F.ReadInputs, e.TR.Outputs) {
			out = append(out, LineageRow{Attempt: a, Direction: io.Direction, Port: io.Port, Ref: io.Ref})
		}
	}
	return out
}

// Artifacts are the artifacts edges name, each once: an output rather
// than an input, for it names the producer.
func Artifacts(edges []LineageRow) []LineageRow {
	at := make(map[string]int, len(edges))
	arts := make([]LineageRow, 0, len(edges))
	for _, e := range edges {
		i, seen := at[e.Ref.Digest]
		switch {
		case !seen:
			at[e.Ref.Digest] = len(arts)
			arts = append(arts, e)
		case e.Direction == cairn.LineageOut && arts[i].Direction == cairn.LineageIn:
			arts[i] = e
		}
	}
	return arts
}

// Producer is the attempt an artifact row names as its producer: the
// edge's attempt for an output, none for an input.
func (r LineageRow) Producer() cairn.AttemptRef {
	if r.Direction == cairn.LineageOut {
		return r.Attempt
	}
	return cairn.AttemptRef{}
}

// WithRegistered sets the outputs a registration names (VersionOutput,
// StageOutput) to the version registered and the stage it is in, and
// returns the outputs encoded.
func WithRegistered(tr *cairn.TaskRun, reg *cairn.ModelRegistration, version int, stage cairn.ModelStage) (string, error) {
	if tr.Outputs == nil {
		tr.Outputs = map[string]json.RawMessage{}
	}
	if reg.VersionOutput != "" {
		tr.Outputs[reg.VersionOutput] = json.RawMessage(fmt.Sprint(version))
	}
	if reg.StageOutput != "" {
		b, err := json.Marshal(stage)
		if err != nil {
			return "", err
		}
		tr.Outputs[reg.StageOutput] = b
	}
	b, err := json.Marshal(tr.Outputs)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
