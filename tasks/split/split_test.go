package split_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/split"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func iris(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../ml/dataset/testdata/iris.csv")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seq is a CSV of n rows: id, a time column (descending in row order, so a
// time split is not a row-order split), a datetime and a two-class label.
func seq(n int) []byte {
	var b strings.Builder
	b.WriteString("id,t,day,y\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,%d,2024-01-%02d,%s\n", i, 1000-i, 1+(i*9)%28, []string{"a", "b"}[i%2])
	}
	return []byte(b.String())
}

// output reads artifact output name back as a frame.
func output(t *testing.T, a tasktest.Attempt, name string) *dataset.Frame {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(a.Result.Outputs[name])
	if !ok {
		t.Fatalf("output %s = %s, not an artifact", name, a.Result.Outputs[name])
	}
	if ref.MediaType != split.MediaType {
		t.Errorf("output %s: media type %q", name, ref.MediaType)
	}
	rc, err := a.Env.Artifacts.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	f, err := dataset.ReadCSV(rc, dataset.ReadOptions{})
	if err != nil {
		t.Fatalf("output %s does not read back: %v", name, err)
	}
	return f
}

func rowsOut(t *testing.T, a tasktest.Attempt) split.Rows {
	t.Helper()
	var r split.Rows
	if err := json.Unmarshal(a.Result.Outputs["rows"], &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func balanceOut(t *testing.T, a tasktest.Attempt) split.Balance {
	t.Helper()
	var b split.Balance
	if err := json.Unmarshal(a.Result.Outputs["balance"], &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// ascending checks that column id is strictly increasing (original order).
func ascending(t *testing.T, f *dataset.Frame, name string) {
	t.Helper()
	c, _ := f.Col("id")
	for i := 1; i < c.Len(); i++ {
		if c.Num[i] <= c.Num[i-1] {
			t.Errorf("%s: rows out of order at %d", name, i)
		}
	}
}

func TestConformance(t *testing.T) {
	in := func(b []byte) map[string][]byte { return map[string][]byte{"data": b} }
	tasktest.Run(t, split.New(),
		tasktest.Case{
			Name:   "random-defaults",
			Inputs: in(seq(50)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if r := rowsOut(t, a); r != (split.Rows{Train: 40, Test: 10}) {
					t.Errorf("rows %+v", r)
				}
				if string(a.Result.Outputs["balance"]) != "null" {
					t.Errorf("balance without label = %s", a.Result.Outputs["balance"])
				}
				tr, te, va := output(t, a, "train"), output(t, a, "test"), output(t, a, "validation")
				if tr.Rows() != 40 || te.Rows() != 10 || va.Rows() != 0 || len(va.Columns) != 4 {
					t.Errorf("parts %d/%d/%d rows, validation %d columns", tr.Rows(), te.Rows(), va.Rows(), len(va.Columns))
				}
				ascending(t, tr, "train")
				ascending(t, te, "test")
				if a.Result.Metrics["train_rows"] != 40 || a.Result.Metrics["test_rows"] != 10 || a.Result.Metrics["validation_rows"] != 0 {
					t.Errorf("metrics %v", a.Result.Metrics)
				}
			},
		},
		tasktest.Case{
			Name:   "stratified-iris",
			Params: map[string]any{"strategy": "stratified", "label": "species", "seed": 7},
			Inputs: in(iris(t)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				b := balanceOut(t, a)
				for _, cc := range b.Train.Counts {
					if cc.Count != 40 {
						t.Errorf("train %s: %d rows, want 40", cc.Class, cc.Count)
					}
				}
				for _, cc := range b.Test.Counts {
					if cc.Count != 10 {
						t.Errorf("test %s: %d rows, want 10", cc.Class, cc.Count)
					}
				}
				if len(b.Train.Counts) != 3 || b.Label != "species" || b.Train.Rows != 120 || b.Test.Rows != 30 {
					t.Errorf("balance %+v", b)
				}
				for _, part := range []struct {
					name string
					n    int
				}{{"train", 40}, {"test", 10}} {
					f := output(t, a, part.name)
					c, ok := f.Col("species")
					if !ok || f.Rows() != 3*part.n {
						t.Fatalf("%s: %d rows, species %v", part.name, f.Rows(), ok)
					}
					count := map[string]int{}
					for _, s := range c.Str {
						count[s]++
					}
					for cl, k := range count {
						if k != part.n {
							t.Errorf("%s %s: %d rows read back, want %d", part.name, cl, k, part.n)
						}
					}
				}
				for _, want := range []string{"stratified by \"species\"", "class balance", "setosa", "versicolor", "virginica"} {
					if !bytes.Contains(a.Log, []byte(want)) {
						t.Errorf("log lacks %q:\n%s", want, a.Log)
					}
				}
			},
		},
		tasktest.Case{
			Name:   "stratified-iris-validation",
			Params: map[string]any{"strategy": "stratified", "label": "species", "test_size": 0.2, "validation_size": 0.2},
			Inputs: in(iris(t)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if r := rowsOut(t, a); r != (split.Rows{Train: 90, Test: 30, Validation: 30}) {
					t.Errorf("rows %+v", r)
				}
				for _, cc := range balanceOut(t, a).Validation.Counts {
					if cc.Count != 10 {
						t.Errorf("validation %s: %d", cc.Class, cc.Count)
					}
				}
				if output(t, a, "validation").Rows() != 30 {
					t.Error("validation artifact rows")
				}
			},
		},
		tasktest.Case{
			Name:   "time-numeric",
			Params: map[string]any{"strategy": "time", "time_column": "t", "test_size": 0.2, "validation_size": 0.1, "label": "y"},
			Inputs: in(seq(50)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				tr, va, te := output(t, a, "train"), output(t, a, "validation"), output(t, a, "test")
				if tr.Rows() != 35 || va.Rows() != 5 || te.Rows() != 10 {
					t.Fatalf("rows %d/%d/%d", tr.Rows(), va.Rows(), te.Rows())
				}
				maxT := func(f *dataset.Frame) float64 {
					c, _ := f.Col("t")
					m := c.Num[0]
					for _, v := range c.Num {
						m = max(m, v)
					}
					return m
				}
				minT := func(f *dataset.Frame) float64 {
					c, _ := f.Col("t")
					m := c.Num[0]
					for _, v := range c.Num {
						m = min(m, v)
					}
					return m
				}
				if !(maxT(tr) < minT(va) && maxT(va) < minT(te)) {
					t.Errorf("time order broken: train ≤ %v, validation %v…%v, test ≥ %v", maxT(tr), minT(va), maxT(va), minT(te))
				}
				// The newest rows (largest t) are the first rows of the input, in order.
				ascending(t, te, "test")
				if c, _ := te.Col("id"); c.Num[0] != 0 || c.Num[9] != 9 {
					t.Errorf("test ids %v", c.Num)
				}
				if !bytes.Contains(a.Log, []byte("t ranges")) {
					t.Errorf("log:\n%s", a.Log)
				}
			},
		},
		tasktest.Case{
			Name:   "time-datetime",
			Params: map[string]any{"strategy": "time", "time_column": "day"},
			Inputs: in(seq(28)),
			Want:   tasktest.Succeeds,
			Check: func(t *testing.T, a tasktest.Attempt) {
				te := output(t, a, "test")
				c, _ := te.Col("day")
				if c.Kind != dataset.Datetime || te.Rows() != 6 {
					t.Fatalf("test: %d rows, day is %s", te.Rows(), c.Kind)
				}
				for i := range c.Len() {
					if v := c.Value(i); v < "2024-01-23" {
						t.Errorf("test holds %s, older than the newest 6 days", v)
					}
				}
			},
		},

		// Bad params: ValidateParams reports them and Run fails permanently.
		tasktest.Case{Name: "bad-strategy", Params: map[string]any{"strategy": "kfold"}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "bad-test-size", Params: map[string]any{"test_size": 1.5}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "zero-test-size", Params: map[string]any{"test_size": 0}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "bad-validation-size", Params: map[string]any{"validation_size": -0.1}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "sizes-sum-to-one", Params: map[string]any{"test_size": 0.5, "validation_size": 0.5}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "test-size-string", Params: map[string]any{"test_size": "0.2"}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "stratified-without-label", Params: map[string]any{"strategy": "stratified"}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "time-without-column", Params: map[string]any{"strategy": "time"}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "time-column-with-random", Params: map[string]any{"time_column": "t"}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "negative-seed", Params: map[string]any{"seed": -1}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "fractional-seed", Params: map[string]any{"seed": 1.5}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "unknown-param", Params: map[string]any{"test_fraction": 0.2}, Inputs: in(seq(10)), InvalidParams: true},
		tasktest.Case{Name: "empty-label", Params: map[string]any{"label": ""}, Inputs: in(seq(10)), InvalidParams: true},

		// Bad input: permanent errors that say what is wrong.
		tasktest.Case{
			Name: "not-csv", Inputs: in([]byte("a,b\n1,2\n3,\"4\n")), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("not a readable CSV", "line 3"),
		},
		tasktest.Case{
			Name: "ragged-csv", Inputs: in([]byte("a,b\n1,2\n3,4,5\n")), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("line 3", "3 fields"),
		},
		tasktest.Case{
			Name: "empty-file", Inputs: in(nil), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("no header row"),
		},
		tasktest.Case{
			Name: "header-only", Inputs: in([]byte("a,b\n")), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("empty", "no rows"),
		},
		tasktest.Case{
			Name: "label-not-found", Params: map[string]any{"strategy": "stratified", "label": "specis"},
			Inputs: in(iris(t)), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions(`label column "specis" not found`, `did you mean "species"?`),
		},
		tasktest.Case{
			Name: "time-column-not-found", Params: map[string]any{"strategy": "time", "time_column": "dya"},
			Inputs: in(seq(10)), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions(`time column "dya" not found`, `did you mean "day"?`),
		},
		tasktest.Case{
			Name: "time-column-categorical", Params: map[string]any{"strategy": "time", "time_column": "y"},
			Inputs: in(seq(10)), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions(`time column "y" is categorical`),
		},
		tasktest.Case{
			Name: "time-column-missing-value", Params: map[string]any{"strategy": "time", "time_column": "t"},
			Inputs: in([]byte("t,x\n1,a\n,b\n3,c\n4,d\n5,e\n")), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("1 missing values", "data row 2"),
		},
		tasktest.Case{
			Name: "class-too-small", Params: map[string]any{"strategy": "stratified", "label": "y"},
			Inputs: in([]byte("x,y\n1,a\n2,a\n3,a\n4,b\n")), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("class b has 1 row,", "too few rows"),
		},
		tasktest.Case{
			Name: "label-missing-value", Params: map[string]any{"strategy": "stratified", "label": "y"},
			Inputs: in([]byte("x,y\n1,a\n2,\n3,a\n4,b\n5,b\n")), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions(`column "y" has 1 missing values`),
		},
		tasktest.Case{
			Name: "too-few-rows", Params: map[string]any{"validation_size": 0.1},
			Inputs: in(seq(2)), Want: tasktest.FailsPermanent,
			Check: tasktest.ErrorMentions("too few rows"),
		},
	)
}

func TestValidateAcceptsReferences(t *testing.T) {
	errs := split.New().ValidateParams(map[string]any{
		"strategy":        "${{ params.strategy }}",
		"seed":            "${{ params.seed }}",
		"test_size":       "${{ params.test }}",
		"validation_size": 0.1,
		"time_column":     "${{ params.col }}",
	})
	if len(errs) != 0 {
		t.Errorf("ValidateParams rejected references: %v", errs)
	}
	// A literal strategy still needs its column, even when other params are references.
	errs = split.New().ValidateParams(map[string]any{"strategy": "stratified", "seed": "${{ params.seed }}"})
	if len(errs) != 1 || errs[0].Key != "label" {
		t.Errorf("ValidateParams = %v, want one error on label", errs)
	}
	errs = split.New().ValidateParams(map[string]any{"test_sise": 0.3})
	if len(errs) != 1 || !strings.Contains(errs[0].Hint, "test_size") {
		t.Errorf("ValidateParams = %v, want a suggestion of test_size", errs)
	}
}

// runOnce runs the task on data with params in a fresh store and returns
// the digests of its outputs.
func runOnce(t *testing.T, data []byte, params string) (map[string]string, tasks.Result, tasks.Env) {
	t.Helper()
	env, _ := tasktest.Env(t)
	ref, err := env.Artifacts.Put(context.Background(), "text/csv", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req := tasktest.Request(t, json.RawMessage(params))
	req.Inputs = map[string]cairn.ArtifactRef{"data": ref}
	res, err := split.New().Run(context.Background(), req, env)
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{}
	for name, v := range res.Outputs {
		if r, ok := cairn.AsArtifactRef(v); ok {
			digests[name] = r.Digest
		} else {
			digests[name] = string(v)
		}
	}
	return digests, res, env
}

func TestDeterministic(t *testing.T) {
	for _, params := range []string{
		`{"seed": 3}`,
		`{"strategy": "stratified", "label": "species", "seed": 42, "validation_size": 0.1}`,
		`{"strategy": "time", "time_column": "petal_length_cm", "label": "species"}`,
	} {
		a, _, _ := runOnce(t, iris(t), params)
		b, _, _ := runOnce(t, iris(t), params)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: two runs differ:\n%v\n%v", params, a, b)
		}
	}
	a, _, _ := runOnce(t, iris(t), `{"seed": 1}`)
	b, _, _ := runOnce(t, iris(t), `{"seed": 2}`)
	if a["test"] == b["test"] {
		t.Error("seeds 1 and 2 give the same test part")
	}
	// A seed written as a float by a resolved reference (42.0) is the same seed.
	c, _, _ := runOnce(t, iris(t), `{"seed": 42}`)
	d, _, _ := runOnce(t, iris(t), `{"seed": 42.0}`)
	if fmt.Sprint(c) != fmt.Sprint(d) {
		t.Error("seed 42 and 42.0 differ")
	}
}

// The parts together are the input: every row lands in exactly one part.
func TestPartsCoverInput(t *testing.T) {
	_, res, env := runOnce(t, seq(101), `{"seed": 9, "validation_size": 0.15}`)
	a := tasktest.Attempt{Result: res, Env: env}
	seen := map[float64]string{}
	for _, name := range []string{"train", "test", "validation"} {
		f := output(t, a, name)
		ascending(t, f, name)
		c, _ := f.Col("id")
		for _, id := range c.Num {
			if prev, dup := seen[id]; dup {
				t.Errorf("row %v in %s and %s", id, prev, name)
			}
			seen[id] = name
		}
	}
	// test ceil(0.2·101) = 21, validation ceil(0.15·101) = 16, train the rest.
	if r := rowsOut(t, a); len(seen) != 101 || r != (split.Rows{Train: 64, Test: 21, Validation: 16}) {
		t.Errorf("%d distinct rows, rows %+v", len(seen), r)
	}
}

func TestMissingInput(t *testing.T) {
	env, _ := tasktest.Env(t)
	_, err := split.New().Run(context.Background(), tasktest.Request(t, nil), env)
	if err == nil || cairn.IsRetryable(err) || !strings.Contains(err.Error(), "input data is required") {
		t.Errorf("Run without data: %v", err)
	}
}

// A data set damaged on disk fails the attempt naming its digest, not as a
// CSV that does not parse.
func TestCorruptInput(t *testing.T) {
	tasktest.CorruptInput(t, split.New(), tasktest.Case{
		Params: map[string]any{"seed": 1},
		Inputs: map[string][]byte{"data": iris(t)},
	}, "data")
}
