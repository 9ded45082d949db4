package experiments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cairnml/cairn"
)

// MetricRef names one metric of one task: "evaluate.f1" is task
// evaluate's metric f1. Task ids hold no dot, so the first dot splits.
type MetricRef struct {
	Task   string `json:"task"`
	Metric string `json:"metric"`
}

func (m MetricRef) String() string { return m.Task + "." + m.Metric }

// ParseMetric reads TASK.METRIC.
func ParseMetric(s string) (MetricRef, error) {
	s = strings.TrimSpace(s)
	task, metric, ok := strings.Cut(s, ".")
	if !ok || task == "" || metric == "" {
		return MetricRef{}, fmt.Errorf("metric %q: want TASK.METRIC, for example evaluate.f1", s)
	}
	return MetricRef{Task: task, Metric: metric}, nil
}

// MetricsFilter selects the task runs whose metrics TaskMetrics returns:
// those of Tasks (all tasks when empty) of the runs of Workflow (any when
// "") in State (any when "") and, when RunIDs is set, only of those runs.
// A task run that has recorded no metrics is left out.
type MetricsFilter struct {
	Workflow string
	State    cairn.RunState
	RunIDs   []string
	Tasks    []string
}

// TaskMetrics are the metrics one task run recorded.
type TaskMetrics struct {
	RunID   string
	TaskID  string
	Metrics map[string]float64
}

// RunMetrics indexes rows by run, then by "task.metric".
func RunMetrics(rows []TaskMetrics) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, r := range rows {
		m := out[r.RunID]
		if m == nil {
			m = map[string]float64{}
			out[r.RunID] = m
		}
		for k, v := range r.Metrics {
			m[r.TaskID+"."+k] = v
		}
	}
	return out
}

// Ranked is a run id with the value it is ranked by.
type Ranked struct {
	RunID string
	Value float64
}

// Rank orders the runs that have metric by its value (desc: largest
// first), ties by run id, newest first. Runs without the metric, or with
// a value that is not a number, are left out: a ranking says where a run
// stands, and one with no value stands nowhere.
func Rank(byRun map[string]map[string]float64, metric MetricRef, desc bool) []Ranked {
	key := metric.String()
	out := make([]Ranked, 0, len(byRun))
	for id, m := range byRun {
		v, ok := m[key]
		if !ok || math.IsNaN(v) {
			continue
		}
		out = append(out, Ranked{RunID: id, Value: v})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Value != b.Value {
			if desc {
				return a.Value > b.Value
			}
			return a.Value < b.Value
		}
		return a.RunID > b.RunID
	})
	return out
}

// Side is one run of a comparison: the run and its task runs.
type Side struct {
	Run   *cairn.Run
	Tasks []*cairn.TaskRun
}

// Comparison is what Compare finds between two runs or more. Every list
// has one value per run, in the order of Runs.
type Comparison struct {
	Runs []RunHead `json:"runs"`
	// Params are the params whose values are not the same in every run:
	// the run's own (Task "") and each task's resolved ones.
	Params []ParamDiff `json:"params"`
	// Metrics are every task's metrics, side by side: all of them, not
	// only those that differ, with the difference from the first run.
	Metrics []MetricRow `json:"metrics"`
	// Outputs are the artifact outputs whose digests are not the same in
	// every run, and Tasks the tasks they belong to.
	Outputs []OutputDiff `json:"outputs"`
	Tasks   []string     `json:"tasks"`
	// States are the tasks whose states are not the same in every run.
	States []StateDiff `json:"states"`
}

// RunHead is a compared run.
type RunHead struct {
	ID       string         `json:"id"`
	Workflow string         `json:"workflow"`
	Digest   string         `json:"digest"`
	State    cairn.RunState `json:"state"`
	Created  time.Time      `json:"created_at"`
}

// ParamDiff is one param that differs: its value in each run, null where
// the run has none.
type ParamDiff struct {
	Task   string            `json:"task,omitempty"`
	Name   string            `json:"name"`
	Values []json.RawMessage `json:"values"`
}

// MetricRow is one metric of one task in each run (null where the run has
// none) and Diffs, each run's value minus the first run's (null for the
// first run and where either is missing).
type MetricRow struct {
	Task   string     `json:"task"`
	Metric string     `json:"metric"`
	Values []*float64 `json:"values"`
	Diffs  []*float64 `json:"diffs"`
}

// OutputDiff is an artifact output whose digest differs: each run's
// digest, "" where the run has no such output.
type OutputDiff struct {
	Task    string   `json:"task"`
	Output  string   `json:"output"`
	Digests []string `json:"digests"`
}

// StateDiff is a task whose state differs; "" where the run has no such
// task (the workflows differ).
type StateDiff struct {
	Task   string            `json:"task"`
	States []cairn.TaskState `json:"states"`
}

var null = json.RawMessage("null")

// Compare compares sides (two or more). Params and values are compared as
// canonical JSON (object keys sorted, numbers as written), so that a
// value stored with another key order is the same value.
func Compare(sides []Side) (*Comparison, error) {
	if len(sides) < 2 {
		return nil, fmt.Errorf("compare: want two runs or more, got %d", len(sides))
	}
	n := len(sides)
	c := &Comparison{Params: []ParamDiff{}, Metrics: []MetricRow{}, Outputs: []OutputDiff{}, Tasks: []string{}, States: []StateDiff{}}
	// Tasks in the first run's order, then those only later runs have.
	var order []string
	seen := map[string]bool{}
	byTask := make([]map[string]*cairn.TaskRun, n)
	for i, s := range sides {
		if s.Run == nil {
			return nil, fmt.Errorf("compare: run %d is missing", i+1)
		}
		c.Runs = append(c.Runs, RunHead{ID: s.Run.ID, Workflow: s.Run.Workflow, Digest: s.Run.Digest, State: s.Run.State, Created: s.Run.CreatedAt})
		byTask[i] = make(map[string]*cairn.TaskRun, len(s.Tasks))
		for _, tr := range s.Tasks {
			byTask[i][tr.TaskID] = tr
			if !seen[tr.TaskID] {
				seen[tr.TaskID] = true
				order = append(order, tr.TaskID)
			}
		}
	}

	// The run's params.
	runParams := make([]map[string]json.RawMessage, n)
	for i, s := range sides {
		runParams[i] = make(map[string]json.RawMessage, len(s.Run.Params))
		for k, v := range s.Run.Params {
			b, err := encode(v)
			if err != nil {
				return nil, fmt.Errorf("compare: run %s: param %s: %w", s.Run.ID, k, err)
			}
			runParams[i][k] = b
		}
	}
	c.Params = append(c.Params, differing("", runParams)...)

	for _, task := range order {
		params := make([]map[string]json.RawMessage, n)
		states := make([]cairn.TaskState, n)
		for i := range sides {
			tr := byTask[i][task]
			if tr == nil {
				continue
			}
			states[i] = tr.State
			if len(tr.Params) > 0 {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(tr.Params, &m); err != nil {
					return nil, fmt.Errorf("compare: run %s task %s: params: %w", tr.RunID, task, err)
				}
				params[i] = m
			}
		}
		for _, d := range differing(task, params) {
			for i, v := range d.Values {
				d.Values[i] = redactedValue(d.Name, v)
			}
			c.Params = append(c.Params, d)
		}
		if !allSame(states) {
			c.States = append(c.States, StateDiff{Task: task, States: states})
		}

		// Metrics: every name any run has, sorted.
		var names []string
		have := map[string]bool{}
		for i := range sides {
			if tr := byTask[i][task]; tr != nil {
				for k := range tr.Metrics {
					if !have[k] {
						have[k] = true
						names = append(names, k)
					}
				}
			}
		}
		sort.Strings(names)
		for _, name := range names {
			row := MetricRow{Task: task, Metric: name, Values: make([]*float64, n), Diffs: make([]*float64, n)}
			for i := range sides {
				if tr := byTask[i][task]; tr != nil {
					if v, ok := tr.Metrics[name]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
						row.Values[i] = &v
					}
				}
			}
			for i := 1; i < n; i++ {
				if row.Values[0] != nil && row.Values[i] != nil {
					d := *row.Values[i] - *row.Values[0]
					row.Diffs[i] = &d
				}
			}
			c.Metrics = append(c.Metrics, row)
		}

		// Artifact outputs: only a value whose bytes differ between runs
		// is decoded (most are the same, or plain values).
		var outs []string
		haveOut := map[string]bool{}
		for i := range sides {
			if tr := byTask[i][task]; tr != nil {
				for k := range tr.Outputs {
					if !haveOut[k] {
						haveOut[k] = true
						outs = append(outs, k)
					}
				}
			}
		}
		sort.Strings(outs)
		differs := false
		raw := make([]string, n)
		for _, o := range outs {
			for i := range sides {
				raw[i] = "\x00absent"
				if tr := byTask[i][task]; tr != nil {
					if v, ok := tr.Outputs[o]; ok {
						raw[i] = string(v)
					}
				}
			}
			if allSame(raw) {
				continue
			}
			d := OutputDiff{Task: task, Output: o, Digests: make([]string, n)}
			artifact := false
			for i := range sides {
				if tr := byTask[i][task]; tr != nil {
					if ref, ok := cairn.AsArtifactRef(tr.Outputs[o]); ok {
						d.Digests[i], artifact = ref.Digest, true
					}
				}
			}
			if artifact && !allSame(d.Digests) {
				c.Outputs = append(c.Outputs, d)
				differs = true
			}
		}
		if differs {
			c.Tasks = append(c.Tasks, task)
		}
	}
	return c, nil
}

// differing returns the params of task whose canonical values are not
// the same in every run, sorted by name.
func differing(task string, params []map[string]json.RawMessage) []ParamDiff {
	var names []string
	seen := map[string]bool{}
	for _, m := range params {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	var out []ParamDiff
	for _, name := range names {
		vals := make([]json.RawMessage, len(params))
		canon := make([]string, len(params))
		for i, m := range params {
			v, ok := m[name]
			if !ok {
				vals[i], canon[i] = null, "\x00absent"
				continue
			}
			vals[i], canon[i] = v, string(v)
		}
		if allSame(canon) {
			continue // the same bytes: the same value
		}
		// Bytes that differ may still be one value (keys in another
		// order): compare canonical forms.
		for i, v := range vals {
			if canon[i] != "\x00absent" {
				cv := canonical(v)
				vals[i], canon[i] = cv, string(cv)
			}
		}
		if !allSame(canon) {
			out = append(out, ParamDiff{Task: task, Name: name, Values: vals})
		}
	}
	return out
}

// canonical re-encodes a JSON value with object keys sorted and numbers
// as written; a value that does not decode is kept as it is.
func canonical(v json.RawMessage) json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if d.Decode(&x) != nil {
		return v
	}
	b, err := encode(x)
	if err != nil {
		return v
	}
	return b
}

// encode is json.Marshal without HTML escaping: a param "a<b" reads as
// written.
func encode(x any) (json.RawMessage, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(x); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func allSame[T comparable](xs []T) bool {
	for _, x := range xs[1:] {
		if x != xs[0] {
			return false
		}
	}
	return true
}

// redactedValue is a task param's value as a comparison shows it: a
// webhook in it (a deploy's alerts:, often its receiver's credential) cut
// as every page and the API cut a task's params (cairn.RedactWebhookParams).
// Which values differ is decided on the values themselves.
func redactedValue(name string, v json.RawMessage) json.RawMessage {
	doc, err := json.Marshal(map[string]json.RawMessage{name: v})
	if err != nil {
		return v
	}
	var back map[string]json.RawMessage
	if json.Unmarshal(cairn.RedactWebhookParams(doc), &back) != nil {
		return v
	}
	return back[name]
}
