package deploy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/deploy"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/tasktest"
	"github.com/cairnml/cairn/workflows"
)

var irisModel = sync.OnceValues(func() ([]byte, error) {
	fh, err := os.Open("../ml/tree/testdata/iris.csv")
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := dataset.ReadCSV(fh, dataset.ReadOptions{})
	if err != nil {
		return nil, err
	}
	m, err := model.Fit(f, model.Spec{Preprocess: features.NewSpec("species"), Algorithm: "decision_tree"})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = m.Encode(&b)
	return b.Bytes(), err
})

func modelBytes(t testing.TB) []byte {
	t.Helper()
	b, err := irisModel()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func reportOf(modelDigest string) []byte {
	b, _ := json.Marshal(map[string]any{"kind": "classification", "model": modelDigest, "rows": 30,
		"metrics": map[string]float64{"accuracy": 0.9, "f1_macro": 0.88}, "passed": true})
	return b
}

// registration is the one effect a successful deploy returns.
func registration(t *testing.T, a tasktest.Attempt) *cairn.ModelRegistration {
	t.Helper()
	if len(a.Result.Effects) != 1 || a.Result.Effects[0].RegisterModel == nil {
		t.Fatalf("effects %+v, want one model registration", a.Result.Effects)
	}
	return a.Result.Effects[0].RegisterModel
}

func TestDeploy(t *testing.T) {
	enc := modelBytes(t)
	tasktest.Run(t, deploy.New(),
		tasktest.Case{Name: "candidate", Params: map[string]any{"name": "iris"}, Inputs: map[string][]byte{"model": enc}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				r := registration(t, a)
				if r.Name != "iris" || r.Stage != cairn.StageCandidate || r.Model.Digest != digest(enc) || r.Model.MediaType != model.MediaType ||
					r.VersionOutput != deploy.VersionOutput || r.Report != nil || r.Metrics != nil {
					t.Errorf("registration %+v", r)
				}
				if got := string(a.Result.Outputs["version"]); got != "null" {
					t.Errorf("version output %s before the store sets it, want null", got)
				}
				if ref, ok := cairn.AsArtifactRef(a.Result.Outputs["model"]); !ok || ref.Digest != digest(enc) {
					t.Errorf("model output %s", a.Result.Outputs["model"])
				}
				if string(a.Result.Outputs["name"]) != `"iris"` || string(a.Result.Outputs["stage"]) != `"candidate"` {
					t.Errorf("outputs %s", a.Result.Outputs)
				}
				if !strings.Contains(string(a.Log), "deploy: registers iris as candidate") {
					t.Errorf("log:\n%s", a.Log)
				}
			}},
		tasktest.Case{Name: "production-with-report", Params: map[string]any{"name": "iris.v2_x-1", "stage": "production"},
			Inputs: map[string][]byte{"model": enc, "report": reportOf(digest(enc))}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				r := registration(t, a)
				if r.Stage != cairn.StageProduction || r.Report == nil || r.Report.Digest != digest(reportOf(digest(enc))) {
					t.Errorf("registration %+v", r)
				}
				if want := map[string]float64{"accuracy": 0.9, "f1_macro": 0.88}; !reflect.DeepEqual(r.Metrics, want) {
					t.Errorf("metrics %v, want the report's %v", r.Metrics, want)
				}
			}},
		tasktest.Case{Name: "metrics-param-wins", Params: map[string]any{"name": "iris", "metrics": map[string]any{"auc": 0.97, "n": 3}},
			Inputs: map[string][]byte{"model": enc, "report": reportOf(digest(enc))}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if want := map[string]float64{"auc": 0.97, "n": 3}; !reflect.DeepEqual(registration(t, a).Metrics, want) {
					t.Errorf("metrics %v, want %v", registration(t, a).Metrics, want)
				}
			}},
		// A model's alerts (issue #22): with any strategy, in the
		// registration; a rollout's min_samples and min_requests are the
		// min of an alert that gives none.
		tasktest.Case{Name: "alerts-direct", Params: map[string]any{"name": "iris", "stage": "production", "alerts": []any{
			map[string]any{"on": "p99_latency_above", "bound": "50ms", "webhook": "https://h.example.com/x", "window": "1h", "min": 7}}},
			Inputs: map[string][]byte{"model": enc}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				r := registration(t, a)
				want := []cairn.ModelAlert{{On: cairn.AlertP99Above, Bound: 0.05, Webhook: "https://h.example.com/x", Window: cairn.Duration(time.Hour), Min: 7}}
				if r.Rollout != nil || !reflect.DeepEqual(r.Alerts, want) {
					t.Errorf("rollout %+v alerts %+v, want no rollout and %+v", r.Rollout, r.Alerts, want)
				}
				if !strings.Contains(string(a.Log), "deploy: sets the model's 1 alert") {
					t.Errorf("log:\n%s", a.Log)
				}
			}},
		tasktest.Case{Name: "alerts-canary", Params: map[string]any{"name": "iris", "strategy": "canary", "min_samples": 30, "min_requests": 40, "alerts": []any{
			map[string]any{"on": "live_metric_below", "bound": 0.8, "webhook": "https://h.example.com/x"},
			map[string]any{"on": "p99_latency_above", "bound": "1s", "webhook": "https://h.example.com/y", "format": "slack"},
			map[string]any{"on": "live_metric_below", "bound": 0.7, "webhook": "https://h.example.com/z", "min": 3}}},
			Inputs: map[string][]byte{"model": enc}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				r := registration(t, a)
				want := []cairn.ModelAlert{{On: cairn.AlertLiveMetricBelow, Bound: 0.8, Webhook: "https://h.example.com/x", Min: 30},
					{On: cairn.AlertP99Above, Bound: 1, Webhook: "https://h.example.com/y", Format: "slack", Min: 40},
					{On: cairn.AlertLiveMetricBelow, Bound: 0.7, Webhook: "https://h.example.com/z", Min: 3}}
				if r.Rollout == nil || len(r.Rollout.Alerts) != 0 || !reflect.DeepEqual(r.Alerts, want) {
					t.Errorf("rollout %+v alerts %+v, want a rollout without alerts and the model's %+v", r.Rollout, r.Alerts, want)
				}
			}},
		tasktest.Case{Name: "report-of-another-model", Params: map[string]any{"name": "iris"},
			Inputs: map[string][]byte{"model": enc, "report": reportOf(digest([]byte("other")))}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("input report evaluates model "+digest([]byte("other")), "not the model input "+digest(enc))},
		tasktest.Case{Name: "report-not-a-report", Params: map[string]any{"name": "iris"},
			Inputs: map[string][]byte{"model": enc, "report": []byte(`{"rows": 3}`)}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("not an evaluate report")},
		tasktest.Case{Name: "not-a-model", Params: map[string]any{"name": "iris"},
			Inputs: map[string][]byte{"model": []byte("a,b\n1,2\n")}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("input model sha256:", "not a model")},
		tasktest.Case{Name: "bad-name", Params: map[string]any{"name": "-iris"}, Inputs: map[string][]byte{"model": enc}, InvalidParams: true,
			Check: tasktest.ErrorMentions(`model name "-iris"`)},
		tasktest.Case{Name: "name-with-slash", Params: map[string]any{"name": "a/b"}, Inputs: map[string][]byte{"model": enc}, InvalidParams: true},
		tasktest.Case{Name: "stage-archived", Params: map[string]any{"name": "iris", "stage": "archived"}, Inputs: map[string][]byte{"model": enc}, InvalidParams: true,
			Check: tasktest.ErrorMentions("not an archived one")},
		tasktest.Case{Name: "stage-typo", Params: map[string]any{"name": "iris", "stage": "prodution"}, Inputs: map[string][]byte{"model": enc}, InvalidParams: true,
			Check: tasktest.ErrorMentions(`did you mean "production"?`)},
		tasktest.Case{Name: "metric-not-a-number", Params: map[string]any{"name": "iris", "metrics": map[string]any{"f1": "high"}},
			Inputs: map[string][]byte{"model": enc}, InvalidParams: true, Check: tasktest.ErrorMentions(`metric "f1": want a number, got "high"`)},
		tasktest.Case{Name: "metrics-not-a-map", Params: map[string]any{"name": "iris", "metrics": []any{1}},
			Inputs: map[string][]byte{"model": enc}, InvalidParams: true},
	)
}

// damageModel rewrites the blob of ref, the model enc, with other bytes of
// the same size.
func damageModel(t *testing.T, dir *artifacts.Dir, ref cairn.ArtifactRef, enc []byte) {
	t.Helper()
	p, err := dir.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(enc, []byte(`"species"`), []byte(`"spec1es"`), 1)
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bad, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A model artifact whose stored bytes no longer match its digest fails
// the deploy naming the digest.
func TestDeployCorruptModel(t *testing.T) {
	enc := modelBytes(t)
	env, _ := tasktest.Env(t)
	ref, err := env.Artifacts.Put(context.Background(), model.MediaType, bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	damageModel(t, env.Artifacts.(*artifacts.Dir), ref, enc)
	req := tasktest.Request(t, json.RawMessage(`{"name": "iris"}`))
	req.Inputs = map[string]cairn.ArtifactRef{"model": ref}
	_, err = deploy.New().Run(context.Background(), req, env)
	if err == nil || !strings.Contains(err.Error(), ref.Digest) || !strings.Contains(err.Error(), "does not match its digest") {
		t.Fatalf("deploy of a corrupt model: %v, want an error naming %s", err, ref.Digest)
	}
}

// countingDir counts the blobs read from an artifacts.Dir.
type countingDir struct {
	*artifacts.Dir
	opened int
}

func (c *countingDir) Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error) {
	c.opened++
	return c.Dir.Open(ctx, ref)
}

// A deploy of a model and report this process decoded before, whose
// blobs the store vouches for (hashed by it, unchanged since: the
// reuses of a cached re-run), does not read them again and deploys
// the same; a blob changed since is read again (and fails).
func TestDeployRemembersDecodings(t *testing.T) {
	enc := modelBytes(t)
	env, _ := tasktest.Env(t)
	other := env.Artifacts.(*artifacts.Dir) // stores the inputs: another process's, say
	ctx := context.Background()
	mref, err := other.Put(ctx, model.MediaType, bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	rref, err := other.Put(ctx, "application/json", bytes.NewReader(reportOf(mref.Digest)))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := artifacts.Open(other.Root()) // this process's: it hashed nothing yet
	if err != nil {
		t.Fatal(err)
	}
	cd := &countingDir{Dir: dir}
	env.Artifacts = cd
	task := deploy.New()
	req := tasktest.Request(t, json.RawMessage(`{"name": "iris", "stage": "production"}`))
	req.Inputs = map[string]cairn.ArtifactRef{"model": mref, "report": rref}
	var results []tasks.Result
	for i, vouched := range []bool{false, false, true, true} {
		if vouched && i == 2 {
			for _, ref := range []cairn.ArtifactRef{mref, rref} {
				if err := dir.TouchVerified(ctx, ref); err != nil {
					t.Fatal(err)
				}
			}
		}
		cd.opened = 0
		res, err := task.Run(ctx, req, env)
		if err != nil {
			t.Fatalf("deploy %d: %v", i, err)
		}
		results = append(results, res)
		want := 2
		if vouched {
			want = 0
		}
		if cd.opened != want {
			t.Errorf("deploy %d (blobs vouched for: %v) read %d blobs, want %d", i, vouched, cd.opened, want)
		}
	}
	for i := range results {
		if !reflect.DeepEqual(results[i], results[0]) {
			t.Errorf("deploy %d differs from the first:\n%+v\n%+v", i, results[i], results[0])
		}
	}
	// The model's blob rewritten (the same size, other bytes): read
	// again, and refused.
	damageModel(t, dir, mref, enc)
	if _, err := task.Run(ctx, req, env); err == nil || !strings.Contains(err.Error(), "does not match its digest") {
		t.Errorf("deploy of a model rewritten since it was decoded: %v, want its digest refused", err)
	}
}

// Two runs of the same deploy give the same result.
func TestDeployDeterministic(t *testing.T) {
	enc := modelBytes(t)
	var results [2]tasks.Result
	for i := range results {
		env, _ := tasktest.Env(t)
		mref, err := env.Artifacts.Put(context.Background(), model.MediaType, bytes.NewReader(enc))
		if err != nil {
			t.Fatal(err)
		}
		rep := reportOf(mref.Digest)
		rref, err := env.Artifacts.Put(context.Background(), "application/json", bytes.NewReader(rep))
		if err != nil {
			t.Fatal(err)
		}
		req := tasktest.Request(t, json.RawMessage(`{"name": "iris", "stage": "production"}`))
		req.Inputs = map[string]cairn.ArtifactRef{"model": mref, "report": rref}
		if results[i], err = deploy.New().Run(context.Background(), req, env); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(results[0], results[1]) {
		t.Errorf("two deploys differ:\n%+v\n%+v", results[0], results[1])
	}
}

// A workflow's deploy is checked when the file is read: the model input
// is required, and a literal name and stage are checked, each problem at
// its line and column.
func TestDeployValidation(t *testing.T) {
	reg, err := tasks.NewRegistry(deploy.New(), trainer{})
	if err != nil {
		t.Fatal(err)
	}
	model := `inputs: {model: "${{ tasks.t.outputs.model }}"}`
	for _, c := range []struct{ with, inputs, want string }{
		{`{name: churn}`, ``, `wf.yaml:3:5: task "d" is missing input "model" required by type "deploy"`},
		{`{name: "churn model"}`, model, `wf.yaml:5:12: with.name: model name "churn model": only letters`},
		{`{name: churn, stage: prodution}`, model, "wf.yaml:5:25: with.stage: want candidate or production, got \"prodution\"\n\thint: did you mean \"production\"?"},
		{`{name: churn, metrics: {auc: high}}`, model, `wf.yaml:5:25: with.metrics: metric "auc": want a number, got "high"`},
		// Rollouts (issue #22).
		{`{name: churn, strategy: canery}`, model, "wf.yaml:5:25: with.strategy: want one of direct, canary, shadow, ab, got \"canery\"\n\thint: did you mean \"canary\"?"},
		{`{name: churn, strategy: canary, steps: [10, 150, 100]}`, model, `wf.yaml:5:43: with.steps: steps[1]: a canary share is a percentage from 1 to 100, got 150`},
		{`{name: churn, strategy: canary, steps: [-5, 100]}`, model, `wf.yaml:5:43: with.steps: steps[0]: a canary share is a percentage from 1 to 100, got -5`},
		{`{name: churn, strategy: canary, steps: [10, 50]}`, model, `with.steps: steps: the last share must be 100`},
		{`{name: churn, strategy: ab, split: {production: 70, candidate: 20}}`, model, `wf.yaml:5:39: with.split: the split's shares sum to 90, not 100: production 70 + candidate 20`},
		{`{name: churn, strategy: ab, split: 100}`, model, `with.split: the candidate's share is a whole percentage from 1 to 99, got 100`},
		{`{name: churn, strategy: ab, steps: [10, 100]}`, model, "with.steps: steps applies to a canary rollout, not to strategy ab\n\thint: set strategy: canary, or drop steps"},
		{`{name: churn, strategy: canary, stage: production}`, model, `with.stage: a canary rollout registers a candidate and promotes it when it holds`},
		{`{name: churn, strategy: canary, interval: soon}`, model, `wf.yaml:5:53: with.interval must be a duration, not a string ("soon")`},
		{`{name: churn, strategy: canary, tolerance: 2}`, model, `with.tolerance: want a share between 0 and 1`},
		// Per-model alerts (issue #22).
		{`{name: churn, strategy: canary, alerts: [{on: live_metric_below, bound: 0.9, webhook: "ftp://x/y"}]}`, model,
			`wf.yaml:5:43: with.alerts: alerts[0]: webhook "ftp://x/y" is not an http or https URL`},
		{`{name: churn, strategy: canary, alerts: [{on: live_metric_below, bound: high, webhook: "https://h.example.com/x"}]}`, model,
			`wf.yaml:5:43: with.alerts: alerts[0]: bound: a live_metric_below's bound is a number such as 0.9 (accuracy, or a regressor's mae), got "high"`},
		{`{name: churn, strategy: canary, alerts: [{on: p99_latency_above, bound: 0.05, webhook: "https://h.example.com/x"}]}`, model,
			`with.alerts: alerts[0]: bound: a p99_latency_above's bound is a duration such as 50ms, got 0.05`},
		{`{name: churn, strategy: canary, alerts: [{on: p99_latency_above, bound: -5ms, webhook: "https://h.example.com/x"}]}`, model,
			`with.alerts: alerts[0]: bound: a p99_latency_above's bound is a duration such as 50ms, got "-5ms"`},
		{`{name: churn, strategy: canary, alerts: [{on: error_rate_above, bound: 1, webhook: "https://h.example.com/x"}]}`, model,
			`with.alerts: alerts[0]: on: want live_metric_below, p99_latency_above or drift_above, got "error_rate_above"`},
		{`{name: churn, alerts: [{on: drift_above, bound: 0, webhook: "https://h.example.com/x"}]}`, model,
			`wf.yaml:5:25: with.alerts: alerts[0]: bound: a drift_above's bound is a PSI above 0 and at most 10, such as 0.2 (the largest PSI of the model's features over its served rows), got 0`},
		{`{name: churn, alerts: [{on: drift_above, bound: 11, webhook: "https://h.example.com/x"}]}`, model,
			`with.alerts: alerts[0]: bound: a drift_above's bound is a PSI above 0 and at most 10`},
		{`{name: churn, alerts: [{on: drift_above, bound: 20%, webhook: "https://h.example.com/x"}]}`, model,
			`with.alerts: alerts[0]: bound: a drift_above's bound is a PSI above 0 and at most 10, such as 0.2 (the largest PSI of the model's features over its served rows), got "20%"`},
		{`{name: churn, strategy: canary, alerts: [{on: live_metric_below, bound: 0.9, webhook: "https://h.example.com/x", format: teams}]}`, model,
			`with.alerts: alerts[0]: format: want json or slack, got "teams"`},
		{`{name: churn, strategy: canary, alerts: [{on: live_metric_below, bound: 0.9, url: "https://h.example.com/x"}]}`, model,
			`with.alerts: alerts[0]: unknown key "url" (an alert takes on, bound, webhook, format, window and min)`},
		{`{name: churn, alerts: [{on: live_metric_below, bound: 0.9, webhook: "https://h.example.com/x", window: 2s}]}`, model,
			`wf.yaml:5:25: with.alerts: alerts[0]: window: want a duration from 10s to 168h (the request log's 7 days), got 2s`},
		{`{name: churn, alerts: [{on: live_metric_below, bound: 0.9, webhook: "https://h.example.com/x", window: soon}]}`, model,
			`with.alerts: alerts[0]: window: want a duration such as 10m or 1h, got "soon"`},
		{`{name: churn, alerts: [{on: p99_latency_above, bound: 50ms, webhook: "https://h.example.com/x", min: 0}]}`, model,
			`with.alerts: alerts[0]: min: want a whole number from 1`},
		{`{name: churn, min_samples: 5, alerts: [{on: live_metric_below, bound: 0.9, webhook: "https://h.example.com/x"}]}`, model,
			"with.min_samples: min_samples applies to a canary rollout, not to strategy direct"},
		{`{name: churn, strategy: canary, alerts: {on: live_metric_below}}`, model, `wf.yaml:5:51: with.alerts must be a list, not a mapping`},
	} {
		src := "name: wf\ntasks:\n  - id: d\n    type: deploy\n    with: " + c.with + "\n"
		if c.inputs != "" {
			src += "    " + c.inputs + "\n"
		}
		src += "  - {id: t, type: train}\n"
		_, err := workflows.Parse("wf.yaml", []byte(src), workflows.Options{Types: reg})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: got %v, want %q", c.with, c.inputs, err, c.want)
		}
	}
	good := "name: wf\nparams: {n: {type: string, default: churn}}\ntasks:\n  - id: d\n    type: deploy\n    with: {name: \"${{ params.n }}\", stage: production, metrics: {auc: 0.9}}\n    inputs: {model: \"${{ tasks.t.outputs.model }}\"}\n  - {id: t, type: train}\n"
	if _, err := workflows.Parse("wf.yaml", []byte(good), workflows.Options{Types: reg}); err != nil {
		t.Errorf("a good deploy: %v", err)
	}
	for _, with := range []string{
		`{name: churn, strategy: canary, steps: [5, 20, 100], interval: 10m, min_samples: 200, tolerance: 0.01, max_error_rate: 0.02, judge: live}`,
		`{name: churn, strategy: ab, split: {production: 80, candidate: 20}}`,
		`{name: churn, strategy: ab, split: 30}`,
		`{name: churn, strategy: shadow}`,
		`{name: churn, strategy: shadow, alerts: [{on: live_metric_below, bound: 0.9, webhook: "https://h.example.com/x"}, {on: p99_latency_above, bound: 50ms, webhook: "http://127.0.0.1:9/y", format: slack}]}`,
		`{name: churn, strategy: "${{ params.s }}", steps: [10, 100]}`,
		// A model's alerts, with any strategy (direct: on production).
		`{name: churn, stage: production, alerts: [{on: p99_latency_above, bound: 50ms, webhook: "https://h.example.com/x", window: 1h, min: 50}]}`,
		`{name: churn, stage: production, alerts: [{on: drift_above, bound: 0.2, webhook: "https://h.example.com/x", window: 1h, min: 500}]}`,
	} {
		src := "name: wf\nparams: {s: {type: string, default: canary}}\ntasks:\n  - id: d\n    type: deploy\n    with: " + with + "\n    " + model + "\n  - {id: t, type: train}\n"
		if _, err := workflows.Parse("wf.yaml", []byte(src), workflows.Options{Types: reg}); err != nil {
			t.Errorf("a good rollout %s: %v", with, err)
		}
	}
}

// trainer is a type that makes a model, upstream of a deploy.
type trainer struct{}

func (trainer) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "train", Outputs: []cairn.PortInfo{{Name: "model", Artifact: true}}}
}

func (trainer) Run(context.Context, tasks.Request, tasks.Env) (tasks.Result, error) {
	return tasks.Result{}, nil
}

// What a deploy registers passes CheckRegistration after a trip through
// JSON (a remote worker's report), for each strategy and with metrics
// given or read from the report; anything else it might claim does not.
func TestCheckRegistration(t *testing.T) {
	enc := modelBytes(t)
	for _, params := range []string{
		`{"name": "iris"}`,
		`{"name": "iris", "stage": "production", "metrics": {"f1": 0.5}}`,
		`{"name": "iris", "strategy": "canary", "steps": [10, 50, 100], "interval": "10m", "alerts": [{"on": "p99_latency_above", "bound": "50ms", "webhook": "https://hooks.example.com/x"}]}`,
		`{"name": "iris", "strategy": "shadow"}`,
		`{"name": "iris", "stage": "production", "alerts": [{"on": "drift_above", "bound": 0.25, "webhook": "https://hooks.example.com/d"}]}`,
		`{"name": "iris", "strategy": "ab", "split": 30}`,
		`{"name": "iris", "stage": "production", "alerts": [{"on": "live_metric_below", "bound": 0.9, "webhook": "https://hooks.example.com/y", "window": "1h", "min": 5}]}`,
	} {
		env, _ := tasktest.Env(t)
		mref, err := env.Artifacts.Put(context.Background(), model.MediaType, bytes.NewReader(enc))
		if err != nil {
			t.Fatal(err)
		}
		rref, err := env.Artifacts.Put(context.Background(), "application/json", bytes.NewReader(reportOf(mref.Digest)))
		if err != nil {
			t.Fatal(err)
		}
		req := tasktest.Request(t, json.RawMessage(params))
		req.Inputs = map[string]cairn.ArtifactRef{"model": mref, "report": rref}
		res, err := deploy.New().Run(context.Background(), req, env)
		if err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		wire, _ := json.Marshal(res.Effects)
		var effs []cairn.Effect
		if err := json.Unmarshal(wire, &effs); err != nil || len(effs) != 1 || effs[0].RegisterModel == nil {
			t.Fatalf("%s: effects %s: %v", params, wire, err)
		}
		reg := effs[0].RegisterModel
		if err := deploy.CheckRegistration(context.Background(), req.TaskID, req.Params, req.Inputs, reg, env.Artifacts); err != nil {
			t.Errorf("%s: its own registration refused: %v", params, err)
		}
		for what, change := range map[string]func(r *cairn.ModelRegistration){
			"name":  func(r *cairn.ModelRegistration) { r.Name = "other" },
			"stage": func(r *cairn.ModelRegistration) { r.Stage = cairn.StageArchived },
			"model": func(r *cairn.ModelRegistration) { r.Model.Digest = rref.Digest },
			"rollout": func(r *cairn.ModelRegistration) {
				r.Rollout = &cairn.RolloutSpec{Strategy: cairn.StrategyAB, Split: 90}
			},
			"report":    func(r *cairn.ModelRegistration) { r.Report = &mref },
			"no report": func(r *cairn.ModelRegistration) { r.Report = nil },
			"metrics":   func(r *cairn.ModelRegistration) { r.Metrics = map[string]float64{"f1": 1, "accuracy": 0.99} },
			"alerts": func(r *cairn.ModelRegistration) {
				r.Alerts = []cairn.ModelAlert{{On: cairn.AlertP99Above, Bound: 9, Webhook: "https://evil.example.com/x"}}
			},
		} {
			forged := *reg
			change(&forged)
			if err := deploy.CheckRegistration(context.Background(), req.TaskID, req.Params, req.Inputs, &forged, env.Artifacts); err == nil {
				t.Errorf("%s: a registration with another %s passed", params, what)
			}
		}
	}
}

// A deploy whose params give no metrics and which has no report input
// registers none: a worker that reports some is refused (trial finding
// 21), and so is one that names a report the task has not.
func TestCheckRegistrationNoMetricsWithoutReport(t *testing.T) {
	env, _ := tasktest.Env(t)
	mref, err := env.Artifacts.Put(context.Background(), model.MediaType, bytes.NewReader(modelBytes(t)))
	if err != nil {
		t.Fatal(err)
	}
	req := tasktest.Request(t, json.RawMessage(`{"name": "depmodel", "stage": "production"}`))
	req.Inputs = map[string]cairn.ArtifactRef{"model": mref}
	res, err := deploy.New().Run(context.Background(), req, env)
	if err != nil {
		t.Fatal(err)
	}
	reg := res.Effects[0].RegisterModel
	if len(reg.Metrics) != 0 {
		t.Fatalf("an honest deploy without metrics or report registers %v", reg.Metrics)
	}
	check := func(r cairn.ModelRegistration) error {
		return deploy.CheckRegistration(context.Background(), req.TaskID, req.Params, req.Inputs, &r, env.Artifacts)
	}
	if err := check(*reg); err != nil {
		t.Fatalf("its own registration refused: %v", err)
	}
	forged := *reg
	forged.Metrics = map[string]float64{"f1": 1, "accuracy": 0.99}
	if err := check(forged); err == nil || !strings.Contains(err.Error(), "params give none and it has no report") {
		t.Errorf("a registration with metrics the task has none of: %v", err)
	}
	forged = *reg
	forged.Report = &mref
	if err := check(forged); err == nil {
		t.Error("a registration naming a report the task has not passed")
	}
}
