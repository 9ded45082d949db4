package predict_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/predict"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// fit fits algorithm on the first three quarters of a shipped data set and
// returns the model's bytes and the last quarter's rows.
func fit(t *testing.T, name, label, algorithm string) (*model.Model, []byte, *dataset.Frame) {
	t.Helper()
	fh, err := os.Open("../ml/tree/testdata/" + name + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := dataset.ReadCSV(fh, dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	train, test, _, err := dataset.RandomSplit(f.Rows(), 0.25, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Fit(f.Select(train), model.Spec{Preprocess: features.NewSpec(label), Algorithm: algorithm})
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	if err := m.Encode(&enc); err != nil {
		t.Fatal(err)
	}
	return m, enc.Bytes(), f.Select(test)
}

// csvOf writes f without the columns drop names.
func csvOf(t *testing.T, f *dataset.Frame, drop ...string) []byte {
	t.Helper()
	out := &dataset.Frame{}
	for _, c := range f.Columns {
		if !strings.Contains(","+strings.Join(drop, ",")+",", ","+c.Name+",") {
			out.Columns = append(out.Columns, c)
		}
	}
	var b bytes.Buffer
	if err := dataset.WriteCSV(&b, out); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// predictions reads the predictions artifact back.
func predictions(t *testing.T, a tasktest.Attempt) (*dataset.Frame, []byte) {
	t.Helper()
	raw := tasktest.Artifact(t, a, "predictions", predict.MediaType)
	f, err := dataset.ReadCSV(bytes.NewReader(raw), dataset.ReadOptions{})
	if err != nil {
		t.Fatalf("predictions are not a CSV: %v", err)
	}
	return f, raw
}

func names(f *dataset.Frame) string { return strings.Join(f.Names(), ",") }

func TestConformance(t *testing.T) {
	irisModel, irisEnc, irisRows := fit(t, "iris", "species", model.LogisticRegression)
	want, err := irisModel.Predict(irisRows)
	if err != nil {
		t.Fatal(err)
	}
	unlabelled := csvOf(t, irisRows, "species")
	diabModel, diabEnc, diabRows := fit(t, "diabetes", "progression", model.Ridge)
	diabWant, err := diabModel.Predict(diabRows)
	if err != nil {
		t.Fatal(err)
	}

	tasktest.Run(t, predict.New(),
		tasktest.Case{
			Name: "iris-unlabelled", Inputs: map[string][]byte{"model": irisEnc, "data": unlabelled}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				f, _ := predictions(t, a)
				if got := names(f); got != "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,prediction,proba_setosa,proba_versicolor,proba_virginica" {
					t.Fatalf("columns %s", got)
				}
				pc, _ := f.Col("prediction")
				counts := map[string]int{}
				for i := range f.Rows() {
					if got, w := pc.Value(i), irisModel.Classes[want.Class[i]]; got != w {
						t.Errorf("row %d predicted %s, the model says %s", i, got, w)
					}
					counts[pc.Value(i)]++
					sum := 0.0
					for k, class := range irisModel.Classes {
						c, _ := f.Col("proba_" + class)
						if c.Num[i] != want.Proba[i][k] {
							t.Errorf("row %d P(%s) = %v, the model says %v", i, class, c.Num[i], want.Proba[i][k])
						}
						sum += c.Num[i]
					}
					if math.Abs(sum-1) > 1e-12 {
						t.Errorf("row %d probabilities sum to %v", i, sum)
					}
				}
				var out map[string]int
				if err := json.Unmarshal(a.Result.Outputs["counts"], &out); err != nil || len(out) != 3 {
					t.Fatalf("counts %s (%v)", a.Result.Outputs["counts"], err)
				}
				for c, n := range counts {
					if out[c] != n {
						t.Errorf("counts[%s] = %d, the predictions have %d", c, out[c], n)
					}
				}
				if string(a.Result.Outputs["rows"]) != "38" || a.Result.Metrics["rows"] != 38 {
					t.Errorf("rows %s / %v", a.Result.Outputs["rows"], a.Result.Metrics)
				}
			},
		},
		tasktest.Case{
			Name: "keep-and-no-probabilities", Params: map[string]any{"keep": []any{"petal_width_cm", "species"}, "column": "predicted_species", "probabilities": false},
			Inputs: map[string][]byte{"model": irisEnc, "data": csvOf(t, irisRows)}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				f, _ := predictions(t, a)
				if got := names(f); got != "petal_width_cm,species,predicted_species" {
					t.Errorf("columns %s", got)
				}
			},
		},
		tasktest.Case{
			Name: "regression", Inputs: map[string][]byte{"model": diabEnc, "data": csvOf(t, diabRows, "progression")}, Want: tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				f, _ := predictions(t, a)
				pc, ok := f.Col("prediction")
				if !ok || pc.Kind != dataset.Numeric {
					t.Fatalf("prediction column %+v", pc)
				}
				var mean float64
				for i, v := range pc.Num {
					if v != diabWant.Value[i] {
						t.Errorf("row %d predicted %v, the model says %v", i, v, diabWant.Value[i])
					}
					mean += v / float64(len(pc.Num))
				}
				if math.Abs(a.Result.Metrics["mean_prediction"]-mean) > 1e-9 || string(a.Result.Outputs["counts"]) != "null" {
					t.Errorf("metrics %v, counts %s", a.Result.Metrics, a.Result.Outputs["counts"])
				}
			},
		},
		tasktest.Case{Name: "keep-unknown-column", Params: map[string]any{"keep": []any{"sepal_lenght_cm"}},
			Inputs: map[string][]byte{"model": irisEnc, "data": unlabelled}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions(`no column "sepal_lenght_cm"`, `did you mean "sepal_length_cm"?`)},
		tasktest.Case{Name: "column-collides", Params: map[string]any{"column": "species"},
			Inputs: map[string][]byte{"model": irisEnc, "data": csvOf(t, irisRows)}, Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions(`"species" is also a kept input column`)},
		tasktest.Case{Name: "missing-feature", Inputs: map[string][]byte{"model": irisEnc, "data": csvOf(t, irisRows, "petal_width_cm")},
			Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions(`"petal_width_cm"`, "columns differ from the model's")},
		tasktest.Case{Name: "model-is-csv", Inputs: map[string][]byte{"model": unlabelled, "data": unlabelled},
			Want: tasktest.FailsPermanent, Check: tasktest.ErrorMentions("input model", "not a model")},
		tasktest.Case{Name: "bad-keep", Params: map[string]any{"keep": "species"}, InvalidParams: true,
			Inputs: map[string][]byte{"model": irisEnc, "data": unlabelled}, Check: tasktest.ErrorMentions("params", "keep")},
	)
}

// The same model, data and params give the same bytes.
func TestDeterministic(t *testing.T) {
	_, enc, rows := fit(t, "iris", "species", model.RandomForest)
	digests := map[string]bool{}
	for range 2 {
		env, _ := tasktest.Env(t)
		mref, err := env.Artifacts.Put(context.Background(), model.MediaType, bytes.NewReader(enc))
		if err != nil {
			t.Fatal(err)
		}
		dref, err := env.Artifacts.Put(context.Background(), "text/csv", bytes.NewReader(csvOf(t, rows)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := predict.New().Run(context.Background(), tasks.Request{TaskID: "p", Inputs: map[string]cairn.ArtifactRef{"model": mref, "data": dref}}, env)
		if err != nil {
			t.Fatal(err)
		}
		digests[string(res.Outputs["predictions"])] = true
	}
	if len(digests) != 1 {
		t.Errorf("two runs gave %d different predictions", len(digests))
	}
}

func TestValidateParams(t *testing.T) {
	v := predict.New()
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"keep": "species"}, "want a list of column names"},
		{map[string]any{"keep": []any{"a", "a"}}, `"a" is listed twice`},
		{map[string]any{"keep": []any{3}}, "item 0: want a column name"},
		{map[string]any{"column": ""}, "want a column name"},
		{map[string]any{"keep": []any{"a", "${{ params.col }}"}, "column": "${{ params.name }}"}, ""},
	} {
		errs := v.ValidateParams(c.params)
		got := ""
		for _, e := range errs {
			got += e.Error() + "; "
		}
		if (c.want == "") != (len(errs) == 0) || !strings.Contains(got, c.want) {
			t.Errorf("ValidateParams(%v) = %q, want %q", c.params, got, c.want)
		}
	}
}

// Rows damaged on disk fail the attempt naming their digest.
func TestCorruptInput(t *testing.T) {
	_, enc, rows := fit(t, "iris", "species", model.LogisticRegression)
	tasktest.CorruptInput(t, predict.New(), tasktest.Case{Inputs: map[string][]byte{"model": enc, "data": csvOf(t, rows, "species")}}, "data")
}
