package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/plugins/sdk/sdktest"
	"github.com/cairnml/cairn/tasks/tasktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func irisCSV(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../workflows/examples/data/iris.csv")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func read(t *testing.T, a tasktest.Attempt, out string) []byte {
	t.Helper()
	ref, ok := cairn.AsArtifactRef(a.Result.Outputs[out])
	if !ok {
		t.Fatalf("output %s = %s", out, a.Result.Outputs[out])
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

// The task passes the conformance cases in process and over the plugin
// wire, with the same bytes both ways.
func TestConformance(t *testing.T) {
	iris := irisCSV(t)
	var digests []string
	sdktest.Run(t, kmeans{},
		tasktest.Case{Name: "iris k=3", Params: map[string]any{"k": 3, "seed": 42}, Inputs: map[string][]byte{"data": iris},
			Check: func(t *testing.T, a tasktest.Attempt) {
				if string(a.Result.Outputs["sizes"]) != "[50,62,38]" {
					t.Errorf("sizes %s", a.Result.Outputs["sizes"])
				}
				csv := read(t, a, "assignments")
				lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
				if len(lines) != 151 || lines[0] != "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,species,cluster" || lines[1] != "5.1,3.5,1.4,0.2,setosa,0" {
					t.Errorf("assignments start %q", lines[:2])
				}
				var model struct {
					Columns []string
					Inertia float64
				}
				if err := json.Unmarshal(read(t, a, "centroids"), &model); err != nil || len(model.Columns) != 4 || model.Inertia < 78.85 || model.Inertia > 78.86 {
					t.Errorf("centroids %+v %v", model, err)
				}
				if !strings.Contains(string(a.Log), "kmeans: 150 rows, 4 features") {
					t.Errorf("log %q", a.Log)
				}
				digests = append(digests, string(a.Result.Outputs["assignments"]))
			}},
		tasktest.Case{Name: "standardized, two columns", Params: map[string]any{"k": 2, "columns": []any{"petal_length_cm", "petal_width_cm"}, "standardize": true, "restarts": 2},
			Inputs: map[string][]byte{"data": iris},
			Check: func(t *testing.T, a tasktest.Attempt) {
				if string(a.Result.Outputs["sizes"]) != "[50,100]" {
					t.Errorf("sizes %s", a.Result.Outputs["sizes"])
				}
			}},
		tasktest.Case{Name: "k above rows", Params: map[string]any{"k": 5}, Inputs: map[string][]byte{"data": []byte("x\n1\n2\n")}, Want: tasktest.FailsPermanent},
		tasktest.Case{Name: "text column", Params: map[string]any{"k": 2, "columns": []any{"species"}}, Inputs: map[string][]byte{"data": iris}, Want: tasktest.FailsPermanent,
			Check: func(t *testing.T, a tasktest.Attempt) {
				if !strings.Contains(a.Err.Error(), `column "species" is categorical, not numeric`) {
					t.Errorf("err %v", a.Err)
				}
			}},
		tasktest.Case{Name: "missing value", Params: map[string]any{"k": 1}, Inputs: map[string][]byte{"data": []byte("x,y\n1,2\n,3\n")}, Want: tasktest.FailsPermanent},
		tasktest.Case{Name: "k zero", Params: map[string]any{"k": 0}, Inputs: map[string][]byte{"data": iris}, InvalidParams: true},
		tasktest.Case{Name: "columns not strings", Params: map[string]any{"k": 2, "columns": []any{1}}, Inputs: map[string][]byte{"data": iris}, InvalidParams: true},
	)
	if len(digests) != 2 || digests[0] != digests[1] {
		t.Errorf("in process and over the wire gave different assignments: %v", digests)
	}
}

func TestDeterministicBytes(t *testing.T) {
	env, _ := tasktest.Env(t)
	ref, err := env.Artifacts.Put(context.Background(), "text/csv", bytes.NewReader(irisCSV(t)))
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for i := 0; i < 2; i++ {
		req := tasktest.Request(t, json.RawMessage(`{"k":4,"seed":7,"standardize":true}`))
		req.Inputs = map[string]cairn.ArtifactRef{"data": ref}
		res, err := kmeans{}.Run(context.Background(), req, env)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(res.Outputs["assignments"])+string(res.Outputs["centroids"]))
	}
	if outs[0] != outs[1] {
		t.Fatalf("two runs differ:\n%s\n%s", outs[0], outs[1])
	}
}
