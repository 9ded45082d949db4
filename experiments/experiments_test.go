package experiments

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

func ref(c string) json.RawMessage {
	return cairn.ArtifactRef{Digest: "sha256:" + strings.Repeat(c, 64), Size: 1}.JSON()
}

func TestCompare(t *testing.T) {
	a := Side{Run: &cairn.Run{ID: "a", Workflow: "wf", Params: map[string]any{"seed": int64(1), "name": "x", "only_a": true}, State: cairn.RunSucceeded},
		Tasks: []*cairn.TaskRun{
			{RunID: "a", TaskID: "train", State: cairn.TaskSucceeded, Params: json.RawMessage(`{"c": 1, "obj": {"b": 1, "a": 2}}`),
				Outputs: map[string]json.RawMessage{"model": ref("a"), "n": json.RawMessage(`3`)}},
			{RunID: "a", TaskID: "evaluate", State: cairn.TaskSucceeded, Metrics: map[string]float64{"f1": 0.5, "acc": 0.9},
				Outputs: map[string]json.RawMessage{"report": ref("c")}},
		}}
	b := Side{Run: &cairn.Run{ID: "b", Workflow: "wf", Params: map[string]any{"seed": int64(2), "name": "x"}, State: cairn.RunFailed},
		Tasks: []*cairn.TaskRun{
			{RunID: "b", TaskID: "train", State: cairn.TaskSucceeded, Params: json.RawMessage(`{"obj": {"a": 2, "b": 1}, "c": 1.0}`),
				Outputs: map[string]json.RawMessage{"model": ref("b"), "n": json.RawMessage(`4`)}},
			{RunID: "b", TaskID: "evaluate", State: cairn.TaskFailed, Metrics: map[string]float64{"f1": 0.75}},
		}}
	c, err := Compare([]Side{a, b})
	if err != nil {
		t.Fatal(err)
	}
	p := func(v string) json.RawMessage { return json.RawMessage(v) }
	wantParams := []ParamDiff{
		{Name: "only_a", Values: []json.RawMessage{p("true"), p("null")}},
		{Name: "seed", Values: []json.RawMessage{p("1"), p("2")}},
		// Key order is not a difference; 1 and 1.0 are written differently.
		{Task: "train", Name: "c", Values: []json.RawMessage{p("1"), p("1.0")}},
	}
	if !reflect.DeepEqual(c.Params, wantParams) {
		got, _ := json.Marshal(c.Params)
		t.Errorf("params = %s", got)
	}
	f := func(x float64) *float64 { return &x }
	wantMetrics := []MetricRow{
		{Task: "evaluate", Metric: "acc", Values: []*float64{f(0.9), nil}, Diffs: []*float64{nil, nil}},
		{Task: "evaluate", Metric: "f1", Values: []*float64{f(0.5), f(0.75)}, Diffs: []*float64{nil, f(0.25)}},
	}
	if !reflect.DeepEqual(c.Metrics, wantMetrics) {
		got, _ := json.Marshal(c.Metrics)
		t.Errorf("metrics = %s", got)
	}
	if len(c.Outputs) != 2 || c.Outputs[0].Task != "train" || c.Outputs[0].Output != "model" ||
		c.Outputs[1].Task != "evaluate" || c.Outputs[1].Digests[1] != "" {
		t.Errorf("outputs = %+v", c.Outputs)
	}
	if !reflect.DeepEqual(c.Tasks, []string{"train", "evaluate"}) {
		t.Errorf("tasks = %v", c.Tasks)
	}
	if len(c.States) != 1 || c.States[0].Task != "evaluate" {
		t.Errorf("states = %+v", c.States)
	}
	// The same run twice: nothing differs.
	same, err := Compare([]Side{a, a})
	if err != nil {
		t.Fatal(err)
	}
	if len(same.Params)+len(same.Outputs)+len(same.Tasks)+len(same.States) != 0 || len(same.Metrics) != 2 || *same.Metrics[1].Diffs[1] != 0 {
		t.Errorf("a run against itself: %+v", same)
	}
	if _, err := Compare([]Side{a}); err == nil {
		t.Error("one run compared")
	}
}

func TestParseMetricAndRank(t *testing.T) {
	m, err := ParseMetric(" evaluate.live.f1 ")
	if err != nil || m != (MetricRef{Task: "evaluate", Metric: "live.f1"}) || m.String() != "evaluate.live.f1" {
		t.Errorf("ParseMetric = %+v, %v", m, err)
	}
	for _, bad := range []string{"f1", ".f1", "evaluate.", ""} {
		if _, err := ParseMetric(bad); err == nil || !strings.Contains(err.Error(), "TASK.METRIC") {
			t.Errorf("ParseMetric(%q) = %v", bad, err)
		}
	}
	rows := []TaskMetrics{
		{RunID: "r1", TaskID: "evaluate", Metrics: map[string]float64{"f1": 0.5}},
		{RunID: "r2", TaskID: "evaluate", Metrics: map[string]float64{"f1": 0.9}},
		{RunID: "r3", TaskID: "evaluate", Metrics: map[string]float64{"f1": 0.5}},
		{RunID: "r4", TaskID: "train", Metrics: map[string]float64{"f1": 1}},
	}
	by := RunMetrics(rows)
	desc := Rank(by, MetricRef{"evaluate", "f1"}, true)
	if want := []Ranked{{"r2", 0.9}, {"r3", 0.5}, {"r1", 0.5}}; !reflect.DeepEqual(desc, want) {
		t.Errorf("desc = %v, want %v", desc, want)
	}
	asc := Rank(by, MetricRef{"evaluate", "f1"}, false)
	if want := []Ranked{{"r3", 0.5}, {"r1", 0.5}, {"r2", 0.9}}; !reflect.DeepEqual(asc, want) {
		t.Errorf("asc = %v, want %v", asc, want)
	}
}

// TestCompareRedactsWebhooks: two runs whose deploy's alerts: webhook
// differs show the difference, each webhook cut to its scheme, host and
// first path segment (a webhook's URL is often its credential).
func TestCompareRedactsWebhooks(t *testing.T) {
	side := func(id, hook string) Side {
		return Side{Run: &cairn.Run{ID: id, Workflow: "wf", State: cairn.RunSucceeded}, Tasks: []*cairn.TaskRun{
			{RunID: id, TaskID: "deploy", State: cairn.TaskSucceeded,
				Params: json.RawMessage(`{"name":"m","alerts":[{"on":"p99_latency_above","bound":1,"webhook":"` + hook + `"}],"webhook":"` + hook + `"}`)}}}
	}
	c, err := Compare([]Side{side("a", "https://hooks.example.com/alert/SECRET1/x"), side("b", "https://hooks.example.com/alert/SECRET2/y")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(c.Params)
	if len(c.Params) != 2 || strings.Contains(string(got), "SECRET") || !strings.Contains(string(got), `https://hooks.example.com/alert/…`) {
		t.Errorf("params = %s, want alerts and webhook differing, each webhook redacted", got)
	}
}
