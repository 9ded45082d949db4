package clean

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/tasktest"
)

const irisPath = "../ml/dataset/testdata/iris.csv"

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// output returns the bytes of artifact output name.
func output(t *testing.T, a tasktest.Attempt, name string) []byte {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(a.Result.Outputs[name])
	if !ok {
		t.Fatalf("output %s is %s, not an artifact", name, a.Result.Outputs[name])
	}
	if ref.MediaType != "text/csv" {
		t.Errorf("output %s media type %q, want text/csv", name, ref.MediaType)
	}
	rc, err := a.Env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func report(t *testing.T, a tasktest.Attempt) Report {
	t.Helper()
	var r Report
	if err := json.Unmarshal(a.Result.Outputs["report"], &r); err != nil {
		t.Fatalf("report: %v: %s", err, a.Result.Outputs["report"])
	}
	return r
}

// sameJSON compares two JSON texts by value.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got: %v", err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want: %v", err)
	}
	gb, _ := json.MarshalIndent(g, "", "  ")
	wb, _ := json.MarshalIndent(w, "", "  ")
	if !bytes.Equal(gb, wb) {
		t.Errorf("report:\n%s\nwant:\n%s", gb, wb)
	}
}

func stepParams() map[string]any {
	return map[string]any{
		"types":              map[string]any{"size": "numeric", "flag": "boolean"},
		"drop_missing_label": "label",
		"drop_missing":       []any{"when"},
		"drop_duplicates":    true,
		"rules": []any{
			map[string]any{"column": "size", "min": 0, "max": 10, "action": "clip"},
			map[string]any{"column": "id", "max": 7, "action": "drop"},
		},
	}
}

func TestConformance(t *testing.T) {
	steps := readFile(t, "testdata/steps.csv")
	iris := readFile(t, irisPath)
	in := func(b []byte) map[string][]byte { return map[string][]byte{"data": b} }
	irisFrame, err := dataset.ReadCSV(bytes.NewReader(iris), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var irisCanon bytes.Buffer
	if err := dataset.WriteCSV(&irisCanon, irisFrame); err != nil {
		t.Fatal(err)
	}

	tasktest.Run(t, New(),
		tasktest.Case{
			Name:   "every step",
			Params: stepParams(),
			Inputs: in(steps),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got, want := output(t, a, "data"), readFile(t, "testdata/steps.golden.csv"); !bytes.Equal(got, want) {
					t.Errorf("data:\n%s\nwant:\n%s", got, want)
				}
				sameJSON(t, a.Result.Outputs["report"], readFile(t, "testdata/steps.report.json"))
				m := a.Result.Metrics
				if m["rows_in"] != 9 || m["rows_out"] != 4 || m["rows_dropped"] != 5 {
					t.Errorf("metrics %v", m)
				}
			},
		},
		tasktest.Case{
			Name:   "no params: trim only, kinds inferred",
			Inputs: in(steps),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				r := report(t, a)
				if r.RowsIn != 9 || r.RowsOut != 9 || len(r.Steps) != 1 || r.Steps[0].Step != "trim" {
					t.Errorf("report %+v", r)
				}
				// "abc" in size keeps the column categorical.
				if r.Columns[2].Kind != dataset.Categorical || r.Columns[3].Missing != 1 || r.Columns[4].Missing != 1 {
					t.Errorf("columns %+v", r.Columns)
				}
			},
		},
		tasktest.Case{
			Name:   "trim false keeps spaces",
			Params: map[string]any{"trim": false, "drop_duplicates": true},
			Inputs: in([]byte("c,n\n a,1\na,1\na ,1\na,1\n")),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := string(output(t, a, "data")); got != "c,n\n a,1\na,1\na ,1\n" {
					t.Errorf("data %q", got)
				}
				if r := report(t, a); r.DroppedBy["drop_duplicates"] != 1 || r.Steps[0].FirstLines[0] != 5 {
					t.Errorf("report %+v", r)
				}
			},
		},
		tasktest.Case{
			Name:   "trim true merges them",
			Params: map[string]any{"drop_duplicates": true},
			Inputs: in([]byte("c,n\n a,1\na,1\na ,1.0\n")),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := string(output(t, a, "data")); got != "c,n\na,1\n" {
					t.Errorf("data %q", got)
				}
				r := report(t, a)
				if r.Steps[0].ValuesTrimmed["c"] != 2 || r.DroppedBy["drop_duplicates"] != 2 {
					t.Errorf("report %+v", r)
				}
			},
		},
		tasktest.Case{
			Name:   "iris passes through unchanged",
			Params: map[string]any{"drop_duplicates": false, "drop_missing_label": "species"},
			Inputs: in(iris),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := output(t, a, "data"); !bytes.Equal(got, irisCanon.Bytes()) {
					t.Errorf("iris changed:\n%s", got)
				}
				if r := report(t, a); r.RowsIn != 150 || r.RowsOut != 150 || r.RowsDropped != 0 {
					t.Errorf("report %+v", r)
				}
			},
		},
		tasktest.Case{
			// A column nobody typed keeps the kind dataset.ReadCSV infers
			// and its spelling: a yes/no label is not turned into
			// true/false (its classes would no longer be yes and no), nor
			// a zip code 007 into 7, nor a 17-digit id rounded.
			Name:   "untyped columns keep their spelling, as collect reads them",
			Params: map[string]any{"drop_missing_label": "churned", "drop_duplicates": true},
			Inputs: in([]byte("zip,id,flag,ok,churned\n007,12345678901234567,1,true,yes\n010,12345678901234568,0,false,no\n007,12345678901234567,1,true,yes\n020,3,1,false,\n")),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				want := "zip,id,flag,ok,churned\n007,12345678901234567,1,true,yes\n010,12345678901234568,0,false,no\n"
				got := output(t, a, "data")
				if string(got) != want {
					t.Errorf("data %q, want %q", got, want)
				}
				f, err := dataset.ReadCSV(bytes.NewReader(got), dataset.ReadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				r := report(t, a)
				for i, c := range r.Columns {
					if c.Kind != f.Columns[i].Kind {
						t.Errorf("column %s: clean says %s, dataset.ReadCSV reads %s", c.Name, c.Kind, f.Columns[i].Kind)
					}
				}
				if r.Columns[0].Kind != dataset.Categorical || r.Columns[2].Kind != dataset.Numeric ||
					r.Columns[3].Kind != dataset.Boolean || r.Columns[4].Kind != dataset.Categorical {
					t.Errorf("columns %+v", r.Columns)
				}
			},
		},
		tasktest.Case{
			Name:   "iris has one exact duplicate",
			Params: map[string]any{"drop_duplicates": true},
			Inputs: in(iris),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				r := report(t, a)
				// 5.8,2.7,5.1,1.9,virginica: rows 102 and 143 (lines 103, 144).
				if r.RowsOut != 149 || r.DroppedBy["drop_duplicates"] != 1 || r.Steps[1].FirstLines[0] != 144 {
					t.Errorf("report %+v", r)
				}
			},
		},
		tasktest.Case{
			Name:   "strict fails on the first bad value",
			Params: map[string]any{"types": map[string]any{"size": "numeric"}, "strict": true},
			Inputs: in(steps),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions(`line 4, column "size": "abc" is not a finite number`),
		},
		tasktest.Case{
			Name:   "bad value dropped without strict",
			Params: map[string]any{"types": map[string]any{"when": "datetime", "id": "boolean"}},
			Inputs: in([]byte("id,when\n1,2024-01-01\n0,yesterday\n2,2024-01-02\n1,\n")),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := string(output(t, a, "data")); got != "id,when\ntrue,2024-01-01T00:00:00Z\ntrue,\n" {
					t.Errorf("data %q", got)
				}
				r := report(t, a)
				s := r.Steps[1]
				if s.RowsDropped != 2 || s.InvalidValues["when"] != 1 || s.InvalidValues["id"] != 1 ||
					s.ValuesCoerced["id"] != 2 || s.ValuesCoerced["when"] != 1 || len(s.FirstLines) != 2 || s.FirstLines[0] != 3 {
					t.Errorf("types step %+v", s)
				}
			},
		},
		tasktest.Case{
			Name:   "infinite value in a numeric column",
			Inputs: in(readFile(t, "testdata/inf.csv")),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions(`line 3, column "x": "Inf" is infinite`),
		},
		tasktest.Case{
			Name:   "infinite value dropped when typed",
			Params: map[string]any{"types": map[string]any{"x": "numeric"}},
			Inputs: in(readFile(t, "testdata/inf.csv")),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if got := string(output(t, a, "data")); got != "x,y\n1,\n" {
					t.Errorf("data %q", got)
				}
			},
		},
		tasktest.Case{
			Name:   "not CSV: bad quote",
			Inputs: in(readFile(t, "testdata/badquote.csv")),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("not a readable CSV", "line 3"),
		},
		tasktest.Case{
			Name:   "not CSV: ragged row",
			Inputs: in(readFile(t, "testdata/ragged.csv")),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("line 3", "1 fields, the header has 2"),
		},
		tasktest.Case{
			Name:   "not CSV: binary",
			Inputs: in([]byte("\x89PNG\r\n\x1a\n\x00\xff\xfe")),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("not a readable CSV", "line 1"),
		},
		tasktest.Case{
			Name:   "empty input",
			Inputs: in(nil),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("no header row"),
		},
		tasktest.Case{
			Name:   "header only",
			Inputs: in(readFile(t, "testdata/header_only.csv")),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("no rows"),
		},
		tasktest.Case{
			Name:   "unknown column in types",
			Params: map[string]any{"types": map[string]any{"sise": "numeric"}},
			Inputs: in(steps),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions(`types: column "sise" is not in the input (did you mean "size"?)`),
		},
		tasktest.Case{
			Name:   "unknown label column",
			Params: map[string]any{"drop_missing_label": "Species"},
			Inputs: in(iris),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions(`drop_missing_label: column "Species" is not in the input (did you mean "species"?)`),
		},
		tasktest.Case{
			Name:   "unknown drop_missing column",
			Params: map[string]any{"drop_missing": []any{"petal_length"}},
			Inputs: in(iris),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions(`drop_missing: column "petal_length" is not in the input (did you mean "petal_length_cm"?)`),
		},
		tasktest.Case{
			Name:   "unknown rule column, nothing near",
			Params: map[string]any{"rules": []any{map[string]any{"column": "zzzzzzzz", "max": 1, "action": "drop"}}},
			Inputs: in(steps),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions(`rules[0]: column "zzzzzzzz" is not in the input; columns: id, color`),
		},
		tasktest.Case{
			Name:   "rule on a categorical column",
			Params: map[string]any{"rules": []any{map[string]any{"column": "species", "min": 0, "action": "clip"}}},
			Inputs: in(iris),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions(`rules[0]: column "species" is categorical, a value-range rule needs a numeric column`),
		},
		tasktest.Case{
			Name:          "rule on a column typed non-numeric",
			Params:        map[string]any{"types": map[string]any{"species": "categorical"}, "rules": []any{map[string]any{"column": "species", "min": 0, "action": "clip"}}},
			Inputs:        in(iris),
			InvalidParams: true,
			Check:         tasktest.ErrorMentions("needs a numeric column"),
		},
		tasktest.Case{
			Name:          "min above max",
			Params:        map[string]any{"rules": []any{map[string]any{"column": "sepal_length_cm", "min": 5, "max": 4, "action": "clip"}}},
			Inputs:        in(iris),
			InvalidParams: true,
			Check:         tasktest.ErrorMentions(`rules[0]: column "sepal_length_cm": min 5 > max 4`),
		},
		tasktest.Case{
			Name:          "rule without bounds",
			Params:        map[string]any{"rules": []any{map[string]any{"column": "sepal_length_cm", "action": "drop"}}},
			Inputs:        in(iris),
			InvalidParams: true,
			Check:         tasktest.ErrorMentions("give min, max or both"),
		},
		tasktest.Case{
			Name:          "unknown action",
			Params:        map[string]any{"rules": []any{map[string]any{"column": "sepal_length_cm", "min": 1, "action": "cap"}}},
			Inputs:        in(iris),
			InvalidParams: true,
			Check:         tasktest.ErrorMentions(`action "cap", want clip or drop`),
		},
		tasktest.Case{
			Name:          "unknown rule key",
			Params:        map[string]any{"rules": []any{map[string]any{"column": "sepal_length_cm", "minimum": 1, "action": "clip"}}},
			Inputs:        in(iris),
			InvalidParams: true,
			Check:         tasktest.ErrorMentions("minimum"),
		},
		tasktest.Case{
			Name:          "unknown kind",
			Params:        map[string]any{"types": map[string]any{"species": "text"}},
			Inputs:        in(iris),
			InvalidParams: true,
			Check:         tasktest.ErrorMentions(`unknown kind "text"`),
		},
		tasktest.Case{
			Name: "no rows left",
			Params: map[string]any{
				"drop_missing_label": "label",
				"rules":              []any{map[string]any{"column": "v", "max": 3, "action": "drop"}},
			},
			Inputs: in(readFile(t, "testdata/mostly_unlabeled.csv")),
			Want:   tasktest.FailsPermanent,
			Check:  tasktest.ErrorMentions("no rows left after cleaning: drop_missing_label removed the most (3 of 4 rows)"),
		},
	)
}

func TestValidateParamsAcceptsReferences(t *testing.T) {
	errs := New().ValidateParams(map[string]any{
		"types":        "${{ params.types }}",
		"drop_missing": "${{ params.cols }}",
		"rules": []any{
			"${{ params.rule }}",
			map[string]any{"column": "x", "min": "${{ params.lo }}", "action": "clip"},
		},
	})
	if len(errs) != 0 {
		t.Errorf("errors for references: %v", errs)
	}
}

// Same input bytes and params give byte-identical outputs.
func TestDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []byte
		params map[string]any
	}{
		{"steps", readFile(t, "testdata/steps.csv"), stepParams()},
		{"iris", readFile(t, irisPath), map[string]any{"drop_duplicates": true,
			"rules": []any{map[string]any{"column": "petal_width_cm", "min": 0.2, "max": 2, "action": "clip"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.params)
			var digests, reports []string
			for range 2 {
				env, _ := tasktest.Env(t)
				req := tasktest.Request(t, raw)
				ref, err := env.Artifacts.Put(context.Background(), "text/csv", bytes.NewReader(tc.data))
				if err != nil {
					t.Fatal(err)
				}
				req.Inputs = map[string]cairn.ArtifactRef{"data": ref}
				res, err := New().Run(context.Background(), req, env)
				if err != nil {
					t.Fatal(err)
				}
				out, _ := cairn.AsArtifactRef(res.Outputs["data"])
				digests = append(digests, out.Digest)
				reports = append(reports, string(res.Outputs["report"]))
			}
			if digests[0] != digests[1] || reports[0] != reports[1] {
				t.Errorf("outputs differ between runs: %v\n%s\n%s", digests, reports[0], reports[1])
			}
		})
	}
}

func TestMissingInput(t *testing.T) {
	env, _ := tasktest.Env(t)
	_, err := New().Run(context.Background(), tasktest.Request(t, nil), env)
	var pe *cairn.PermanentError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "input data is required") {
		t.Errorf("err %v", err)
	}
}

// A data set damaged on disk fails the attempt naming its digest.
func TestCorruptInput(t *testing.T) {
	tasktest.CorruptInput(t, New(), tasktest.Case{
		Params: map[string]any{"drop_duplicates": true},
		Inputs: map[string][]byte{"data": []byte("c,n\na,1\nb,2\nc,3\n")},
	}, "data")
}
