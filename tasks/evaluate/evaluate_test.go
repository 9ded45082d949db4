package evaluate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/evaluate"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// fixture is a model fitted on the train part of a shipped data set, with
// the test part as CSV.
type fixture struct {
	model *model.Model
	enc   []byte // the model artifact's bytes
	test  []byte // the test split as CSV
	frame *dataset.Frame
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

func load(t testing.TB, name, label, algorithm string, stratify bool) *fixture {
	t.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f, ok := fixtures[name+algorithm]; ok {
		return f
	}
	fh, err := os.Open("../ml/tree/testdata/" + name + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := dataset.ReadCSV(fh, dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var train, test []int
	if stratify {
		col, _ := f.Col(label)
		labels := make([]string, f.Rows())
		for i := range labels {
			labels[i] = col.Value(i)
		}
		train, test, _, err = dataset.StratifiedSplit(labels, 0.25, 0, 1)
	} else {
		train, test, _, err = dataset.RandomSplit(f.Rows(), 0.25, 0, 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Fit(f.Select(train), model.Spec{Preprocess: features.NewSpec(label), Algorithm: algorithm})
	if err != nil {
		t.Fatal(err)
	}
	var enc, csv bytes.Buffer
	if err := m.Encode(&enc); err != nil {
		t.Fatal(err)
	}
	tf := f.Select(test)
	if err := dataset.WriteCSV(&csv, tf); err != nil {
		t.Fatal(err)
	}
	fx := &fixture{model: m, enc: enc.Bytes(), test: csv.Bytes(), frame: tf}
	fixtures[name+algorithm] = fx
	return fx
}

func cancer(t testing.TB) *fixture {
	return load(t, "breast_cancer", "malignant", model.LogisticRegression, true)
}
func iris(t testing.TB) *fixture { return load(t, "iris", "species", model.LogisticRegression, true) }
func diabetes(t testing.TB) *fixture {
	return load(t, "diabetes", "progression", model.Ridge, false)
}

func inputs(fx *fixture) map[string][]byte {
	return map[string][]byte{"model": fx.enc, "test": fx.test}
}

func output[T any](t *testing.T, a tasktest.Attempt, name string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.Result.Outputs[name], &v); err != nil {
		t.Fatalf("output %s = %s: %v", name, a.Result.Outputs[name], err)
	}
	return v
}

// plotOf returns the plot artifact, checking that it is an SVG document.
func plotOf(t *testing.T, a tasktest.Attempt) string {
	t.Helper()
	b := tasktest.Artifact(t, a, "plot", evaluate.PlotMediaType)
	if !strings.HasPrefix(string(b), "<svg ") || !strings.HasSuffix(string(b), "</svg>\n") {
		t.Fatalf("plot is not an SVG document:\n%.300s", b)
	}
	return string(b)
}

func reportOf(t *testing.T, a tasktest.Attempt) (json.RawMessage, map[string]any) {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(a.Result.Outputs["report"])
	if !ok || ref.MediaType != evaluate.ReportMediaType {
		t.Fatalf("report output %s", a.Result.Outputs["report"])
	}
	rc, err := a.Env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	return b, m
}

// score is the sibling package's score of the same model on the same rows.
func score(t *testing.T, fx *fixture, metric string) float64 {
	t.Helper()
	v, err := fx.model.Score(metric, fx.frame)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type curveJSON struct {
	Class      string     `json:"class"`
	AUC        float64    `json:"auc"`
	Points     int        `json:"points"`
	FPR        []float64  `json:"fpr"`
	TPR        []float64  `json:"tpr"`
	Thresholds []*float64 `json:"thresholds"`
}

func TestBinary(t *testing.T) {
	fx := cancer(t)
	tasktest.Run(t, evaluate.New(),
		tasktest.Case{
			Name: "all-metrics", Inputs: inputs(fx), Want: tasktest.Succeeds,
			Params: map[string]any{"roc_points": 3},
			Check: func(t *testing.T, a tasktest.Attempt) {
				m := output[map[string]float64](t, a, "metrics")
				for _, name := range []string{"accuracy", "balanced_accuracy", "precision", "recall", "f1", "precision_macro",
					"recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted", "roc_auc", "roc_auc_weighted", "log_loss"} {
					if _, ok := m[name]; !ok {
						t.Errorf("metric %s missing", name)
					}
					if a.Result.Metrics[name] != m[name] {
						t.Errorf("Result.Metrics[%s] = %v, output %v", name, a.Result.Metrics[name], m[name])
					}
				}
				if len(m) != 14 {
					t.Errorf("%d metrics: %v", len(m), m)
				}
				for _, name := range []string{"accuracy", "f1", "roc_auc", "log_loss", "precision", "recall"} {
					if want := score(t, fx, name); m[name] != want {
						t.Errorf("%s = %v, model.Score says %v", name, m[name], want)
					}
				}
				if m["accuracy"] < 0.9 || m["roc_auc"] < 0.95 {
					t.Errorf("a logistic regression on breast cancer scores %v", m)
				}
				cm := output[evaluate.Confusion](t, a, "confusion_matrix")
				total := 0
				for _, row := range cm.Matrix {
					for _, v := range row {
						total += v
					}
				}
				if total != fx.frame.Rows() || strings.Join(cm.Classes, ",") != "0,1" {
					t.Errorf("confusion %+v for %d rows", cm, fx.frame.Rows())
				}
				roc := output[[]curveJSON](t, a, "roc")
				if len(roc) != 1 || roc[0].Class != "1" || len(roc[0].FPR) != 3 || roc[0].Thresholds[0] != nil || roc[0].AUC != m["roc_auc"] {
					t.Fatalf("roc output %+v", roc)
				}
				if svg := plotOf(t, a); strings.Count(svg, "<polyline") != 1 || !strings.Contains(svg, "ROC of malignant") || !strings.Contains(svg, fmt.Sprintf("1: AUC %.4f", m["roc_auc"])) {
					t.Errorf("plot of a binary classification:\n%s", svg)
				}
				raw, rep := reportOf(t, a)
				full := rep["roc"].([]any)[0].(map[string]any)
				if n := len(full["fpr"].([]any)); n != roc[0].Points || n <= 3 {
					t.Errorf("report curve has %d points, roc output says %d", n, roc[0].Points)
				}
				if rep["passed"] != true || string(a.Result.Outputs["passed"]) != "true" {
					t.Errorf("passed without a gate: %v %s", rep["passed"], a.Result.Outputs["passed"])
				}
				if !bytes.Contains(raw, []byte(`"per_class"`)) || !bytes.Contains(raw, []byte(`"algorithm":"logistic_regression"`)) {
					t.Errorf("report lacks fields: %.300s", raw)
				}
				for _, want := range []string{"evaluate: model logistic_regression", "confusion matrix", "roc_auc", "passed = true"} {
					if !bytes.Contains(a.Log, []byte(want)) {
						t.Errorf("log lacks %q:\n%s", want, a.Log)
					}
				}
			},
		},
		tasktest.Case{
			Name: "selected-metrics", Inputs: inputs(fx), Want: tasktest.Succeeds,
			Params: map[string]any{"metrics": []any{"accuracy", "f1"}},
			Check: func(t *testing.T, a tasktest.Attempt) {
				m := output[map[string]float64](t, a, "metrics")
				if len(m) != 2 || len(a.Result.Metrics) != 2 {
					t.Errorf("metrics %v, Result.Metrics %v", m, a.Result.Metrics)
				}
				_, rep := reportOf(t, a)
				if len(rep["metrics"].(map[string]any)) != 14 {
					t.Error("the report must hold every metric whatever metrics: selects")
				}
			},
		},
		tasktest.Case{
			Name: "gate-holds", Inputs: inputs(fx), Want: tasktest.Succeeds,
			Params: map[string]any{"gate": map[string]any{"f1": ">= 0.8", "log_loss": "< 1"}},
			Check: func(t *testing.T, a tasktest.Attempt) {
				if string(a.Result.Outputs["passed"]) != "true" {
					t.Errorf("passed = %s\n%s", a.Result.Outputs["passed"], a.Log)
				}
				if len(a.Result.Effects) != 0 {
					t.Errorf("a gate that holds raises %+v", a.Result.Effects)
				}
				_, rep := reportOf(t, a)
				if g := rep["gate"].([]any); len(g) != 2 || g[0].(map[string]any)["metric"] != "f1" {
					t.Errorf("gate in report %v", g)
				}
			},
		},
		tasktest.Case{
			Name: "gate-fails-task-succeeds", Inputs: inputs(fx), Want: tasktest.Succeeds,
			Params: map[string]any{"gate": map[string]any{"accuracy": ">= 0.9999", "f1": ">= 0.5"}},
			Check: func(t *testing.T, a tasktest.Attempt) {
				if string(a.Result.Outputs["passed"]) != "false" {
					t.Errorf("passed = %s", a.Result.Outputs["passed"])
				}
				if !bytes.Contains(a.Log, []byte("gate accuracy >= 0.9999")) || !bytes.Contains(a.Log, []byte("does not hold")) {
					t.Errorf("log:\n%s", a.Log)
				}
				// The workflow's notify: on gate_failed is told, by the
				// store, from this effect of the success (issue #22).
				if len(a.Result.Effects) != 1 || a.Result.Effects[0].Notify == nil ||
					a.Result.Effects[0].Notify.Event != cairn.AlertGateFailed ||
					!strings.Contains(a.Result.Effects[0].Notify.Detail, "the gate does not hold: accuracy is 0.9") ||
					strings.Contains(a.Result.Effects[0].Notify.Detail, "f1") {
					t.Errorf("a gate that does not hold raises %+v, want gate_failed naming accuracy alone", a.Result.Effects)
				}
			},
		},
		tasktest.Case{
			Name: "fail-on-gate", Inputs: inputs(fx), Want: tasktest.FailsPermanent,
			Params: map[string]any{"gate": map[string]any{"accuracy": ">= 0.9999"}, "fail_on_gate": true},
			Check:  tasktest.ErrorMentions("gate does not hold", "accuracy is 0.9", "want >= 0.9999"),
		},
		tasktest.Case{
			Name: "positive-class", Inputs: inputs(fx), Want: tasktest.Succeeds,
			Params: map[string]any{"positive": 0},
			Check: func(t *testing.T, a tasktest.Attempt) {
				m := output[map[string]float64](t, a, "metrics")
				_, rep := reportOf(t, a)
				pc := rep["per_class"].([]any)[0].(map[string]any)
				if pc["class"] != "0" || m["f1"] != pc["f1"].(float64) || m["precision"] != pc["precision"].(float64) {
					t.Errorf("f1 %v precision %v with positive 0, class 0 scores %v", m["f1"], m["precision"], pc)
				}
				if rep["positive"] != "0" || output[[]curveJSON](t, a, "roc")[0].Class != "0" {
					t.Errorf("positive %v", rep["positive"])
				}
			},
		},
		tasktest.Case{
			Name: "regression-metric-on-classifier", Inputs: inputs(fx), Want: tasktest.FailsPermanent,
			Params: map[string]any{"metrics": []any{"mse"}},
			Check:  tasktest.ErrorMentions("mse scores a regression, and the model is a classification"),
		},
		tasktest.Case{
			Name: "gate-on-regression-metric", Inputs: inputs(fx), Want: tasktest.FailsPermanent,
			Params: map[string]any{"gate": map[string]any{"r2": ">= 0.5"}},
			Check:  tasktest.ErrorMentions("r2 scores a regression"),
		},
		tasktest.Case{
			Name: "unknown-positive", Inputs: inputs(fx), Want: tasktest.FailsPermanent,
			Params: map[string]any{"positive": "yes"},
			Check:  tasktest.ErrorMentions(`positive "yes" is not a class of the model (classes: 0, 1)`),
		},
	)
}

func TestDeterministicReport(t *testing.T) {
	fx := cancer(t)
	digests := map[string]bool{}
	for range 2 {
		env, _ := tasktest.Env(t)
		req := tasktest.Request(t, []byte(`{"gate": {"f1": ">= 0.9"}}`))
		for name, b := range inputs(fx) {
			ref, err := env.Artifacts.Put(context.Background(), "application/octet-stream", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if req.Inputs == nil {
				req.Inputs = map[string]cairn.ArtifactRef{}
			}
			req.Inputs[name] = ref
		}
		res, err := evaluate.New().Run(context.Background(), req, env)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := cairn.AsArtifactRef(res.Outputs["report"])
		digests[ref.Digest+string(res.Outputs["roc"])+string(res.Outputs["metrics"])] = true
	}
	if len(digests) != 1 {
		t.Errorf("two runs gave %d different reports", len(digests))
	}
}

func TestMulticlassAndRegression(t *testing.T) {
	ir, db := iris(t), diabetes(t)
	tasktest.Run(t, evaluate.New(),
		tasktest.Case{
			Name: "iris", Inputs: inputs(ir), Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				m := output[map[string]float64](t, a, "metrics")
				if _, ok := m["f1"]; ok {
					t.Error("binary f1 reported for three classes")
				}
				for _, name := range []string{"accuracy", "f1_macro", "roc_auc", "log_loss"} {
					if want := score(t, ir, name); m[name] != want {
						t.Errorf("%s = %v, model.Score says %v", name, m[name], want)
					}
				}
				roc := output[[]curveJSON](t, a, "roc")
				if len(roc) != 3 || roc[0].Class != "setosa" || roc[2].Class != "virginica" {
					t.Errorf("curves %+v", roc)
				}
				if svg := plotOf(t, a); strings.Count(svg, "<polyline") != 3 || !strings.Contains(svg, "virginica: AUC") {
					t.Errorf("plot of three classes:\n%.2000s", svg)
				}
				if cm := output[evaluate.Confusion](t, a, "confusion_matrix"); len(cm.Matrix) != 3 {
					t.Errorf("confusion %+v", cm)
				}
			},
		},
		tasktest.Case{
			Name: "iris-binary-metric", Inputs: inputs(ir), Want: tasktest.FailsPermanent,
			Params: map[string]any{"gate": map[string]any{"f1": ">= 0.9"}},
			Check:  tasktest.ErrorMentions("f1 is for two classes and the model has 3", "f1_macro"),
		},
		tasktest.Case{
			Name: "diabetes", Inputs: inputs(db), Want: tasktest.Succeeds,
			Params: map[string]any{"gate": map[string]any{"r2": "> 0.3"}},
			Check: func(t *testing.T, a tasktest.Attempt) {
				m := output[map[string]float64](t, a, "metrics")
				if len(m) != 4 {
					t.Errorf("metrics %v", m)
				}
				for _, name := range []string{"mse", "rmse", "mae", "r2"} {
					if want := score(t, db, name); m[name] != want {
						t.Errorf("%s = %v, model.Score says %v", name, m[name], want)
					}
				}
				if string(a.Result.Outputs["confusion_matrix"]) != "null" || string(a.Result.Outputs["roc"]) != "null" || string(a.Result.Outputs["passed"]) != "true" {
					t.Errorf("outputs %v", a.Result.Outputs)
				}
				if svg := plotOf(t, a); strings.Count(svg, "<circle ") != db.frame.Rows() || !strings.Contains(svg, "predicted against true") {
					t.Errorf("plot of a regression on %d rows:\n%.2000s", db.frame.Rows(), svg)
				}
			},
		},
		tasktest.Case{
			Name: "positive-on-regression", Inputs: inputs(db), Want: tasktest.FailsPermanent,
			Params: map[string]any{"positive": 1},
			Check:  tasktest.ErrorMentions("positive applies to binary classification"),
		},
	)
}

// edit returns the fixture's test CSV with fn applied to its lines.
func edit(fx *fixture, fn func(lines []string) []string) []byte {
	lines := strings.Split(strings.TrimSuffix(string(fx.test), "\n"), "\n")
	return []byte(strings.Join(fn(lines), "\n") + "\n")
}

func TestBadInputs(t *testing.T) {
	ir := iris(t)
	with := func(test []byte) map[string][]byte { return map[string][]byte{"model": ir.enc, "test": test} }
	dropColumn := edit(ir, func(lines []string) []string {
		for i, l := range lines {
			lines[i] = l[strings.Index(l, ",")+1:] // drop sepal_length_cm
		}
		return lines
	})
	textInNumeric := edit(ir, func(lines []string) []string {
		lines[3] = "big," + lines[3][strings.Index(lines[3], ",")+1:]
		return lines
	})
	nan := edit(ir, func(lines []string) []string {
		lines[2] = "NaN," + lines[2][strings.Index(lines[2], ",")+1:]
		return lines
	})
	unseen := edit(ir, func(lines []string) []string {
		lines[5] = lines[5][:strings.LastIndex(lines[5], ",")+1] + "setosa2"
		return lines
	})
	newer := bytes.Replace(ir.enc, []byte(`"version":1`), []byte(`"version":99`), 1)
	missing := edit(ir, func(lines []string) []string {
		lines[4] = "," + lines[4][strings.Index(lines[4], ",")+1:]
		return lines
	})
	tasktest.Run(t, evaluate.New(),
		tasktest.Case{Name: "missing-feature-column", Inputs: with(dropColumn), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions(`"sepal_length_cm"`, "columns differ from the model's")},
		tasktest.Case{Name: "text-in-numeric-feature", Inputs: with(textInNumeric), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("line 4", `"sepal_length_cm"`, `"big" is not a number`, "schema differs")},
		tasktest.Case{Name: "nan-in-numeric-feature", Inputs: with(nan), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("line 3", "NaN", "empty field")},
		tasktest.Case{Name: "missing-value-imputed", Inputs: with(missing), Want: tasktest.Succeeds},
		tasktest.Case{Name: "unseen-class", Inputs: with(unseen), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions(`"setosa2" not seen in training`)},
		tasktest.Case{Name: "model-is-csv", Inputs: map[string][]byte{"model": ir.test, "test": ir.test}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("input model", "not a model")},
		tasktest.Case{Name: "model-bad-json", Inputs: map[string][]byte{"model": []byte(`{"version": 1, "kind": `), "test": ir.test}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("not a model artifact")},
		tasktest.Case{Name: "model-newer-version", Inputs: map[string][]byte{"model": newer, "test": ir.test}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("format version 99")},
		tasktest.Case{Name: "test-header-only", Inputs: with([]byte(strings.SplitN(string(ir.test), "\n", 2)[0] + "\n")), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("no rows")},
	)
}

func TestMediaTypes(t *testing.T) {
	ir := iris(t)
	ctx := context.Background()
	run := func(modelType, testType string) error {
		env, _ := tasktest.Env(t)
		req := tasktest.Request(t, nil)
		mref, _ := env.Artifacts.Put(ctx, modelType, bytes.NewReader(ir.enc))
		tref, _ := env.Artifacts.Put(ctx, testType, bytes.NewReader(ir.test))
		req.Inputs = map[string]cairn.ArtifactRef{"model": mref, "test": tref}
		_, err := evaluate.New().Run(ctx, req, env)
		return err
	}
	if err := run(model.MediaType, "text/csv"); err != nil {
		t.Errorf("the real media types: %v", err)
	}
	if err := run("text/csv", "text/csv"); err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "is text/csv, not a model") {
		t.Errorf("a CSV artifact as model: %v", err)
	}
	if err := run(model.MediaType, model.MediaType); err == nil || !strings.Contains(err.Error(), "is a model, not a data set") {
		t.Errorf("a model as test set: %v", err)
	}
	env, _ := tasktest.Env(t)
	req := tasktest.Request(t, nil)
	mref, _ := env.Artifacts.Put(ctx, model.MediaType, bytes.NewReader(ir.enc))
	req.Inputs = map[string]cairn.ArtifactRef{"model": mref}
	if _, err := evaluate.New().Run(ctx, req, env); err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "input test is required") {
		t.Errorf("without a test input: %v", err)
	}
}

func TestValidateParams(t *testing.T) {
	task := evaluate.New()
	cases := []struct {
		params map[string]any
		key    string
		want   string
	}{
		{map[string]any{"metrics": []any{"acuracy"}}, "metrics", "did you mean accuracy?"},
		{map[string]any{"metrics": []any{"f1", "f1"}}, "metrics", "listed twice"},
		{map[string]any{"metrics": "f1"}, "metrics", "want a list"},
		{map[string]any{"gate": map[string]any{"f1": 0.9}}, "gate", `">= 0.9"`},
		{map[string]any{"gate": map[string]any{"f1": "at least 0.9"}}, "gate", "not a comparison"},
		{map[string]any{"gate": map[string]any{"auc": ">= 0.9"}}, "gate", `unknown metric "auc"`},
		{map[string]any{"gate": map[string]any{"rocauc": ">= 0.9"}}, "gate", "did you mean roc_auc?"},
		{map[string]any{"gate": []any{"f1"}}, "gate", "want a map"},
		{map[string]any{"roc_points": 1}, "roc_points", "2 .."},
		{map[string]any{"fail_on_gate": "yes"}, "fail_on_gate", "true or false"},
		{map[string]any{"gates": map[string]any{}}, "gates", "did you mean gate?"},
		{map[string]any{"positive": []any{1}}, "positive", "class label"},
	}
	for _, c := range cases {
		errs := task.ValidateParams(c.params)
		found := false
		for _, e := range errs {
			if e.Key == c.key && strings.Contains(e.Msg+" "+e.Hint, c.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%v: %v, want %s: …%s…", c.params, errs, c.key, c.want)
		}
	}
	ok := []map[string]any{
		{"metrics": []any{"accuracy", "roc_auc"}, "gate": map[string]any{"f1": ">= 0.9", "log_loss": "< 0.3"}, "fail_on_gate": true, "positive": "malignant", "roc_points": 50},
		{"gate": map[string]any{"f1": "${{ params.min_f1 }}"}, "metrics": "${{ params.metrics }}"},
		{"positive": true},
	}
	for _, p := range ok {
		if errs := task.ValidateParams(p); len(errs) != 0 {
			t.Errorf("%v: %v", p, errs)
		}
	}
}

// A test set damaged on disk fails the attempt naming its digest, not as
// a CSV that does not parse or whose columns differ from the model's.
// The test set is made larger than the first chunk the CSV reader reads
// (64 KiB), so that the damage is met before the end of the bytes.
func TestCorruptInput(t *testing.T) {
	fx := cancer(t)
	header, rows, _ := bytes.Cut(fx.test, []byte("\n"))
	test := append(append(header, '\n'), bytes.Repeat(rows, 4)...)
	if len(test) <= 64<<10 {
		t.Fatalf("the test set is %d bytes, want more than 64 KiB", len(test))
	}
	tasktest.CorruptInput(t, evaluate.New(), tasktest.Case{Inputs: map[string][]byte{"model": fx.enc, "test": test}}, "test")
}
