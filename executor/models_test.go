package executor_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/tasks"
)

// fakeModels is a tasks.ModelReader with one production model.
type fakeModels struct {
	prod cairn.ModelVersion
	data cairn.ArtifactRef
}

func (f fakeModels) Production(_ context.Context, name string) (cairn.ModelVersion, error) {
	if name != f.prod.Name {
		return cairn.ModelVersion{}, fmt.Errorf("model %s: %w", name, cairn.ErrNotFound)
	}
	return f.prod, nil
}

func (f fakeModels) TrainingData(_ context.Context, m cairn.ArtifactRef, port string) (cairn.ArtifactRef, error) {
	if m.Digest != f.prod.Model.Digest || port != "train" {
		return cairn.ArtifactRef{}, fmt.Errorf("no producer of %s with input %s: %w", m.Digest, port, cairn.ErrNotFound)
	}
	return f.data, nil
}

func (f fakeModels) PredictionLog(_ context.Context, name string) (cairn.ArtifactRef, error) {
	return cairn.ArtifactRef{}, fmt.Errorf("no prediction log of %s: %w", name, cairn.ErrNotFound)
}

// reader is the task type "reader": it looks up the production model of
// its param name through Env.Models and reports it and its training data
// as artifacts it read, under the ports its param ports names (default
// production_model and reference).
type reader struct{}

func (reader) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "reader", Params: []cairn.ParamInfo{{Name: "name", Kind: cairn.KindString}, {Name: "ports", Kind: cairn.KindList}},
		Outputs: []cairn.PortInfo{{Name: "version"}}}
}

func (reader) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var p struct {
		Name  string   `json:"name"`
		Ports []string `json:"ports"`
	}
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	if env.Models == nil {
		return tasks.Result{}, cairn.Permanentf("no Env.Models")
	}
	mv, err := env.Models.Production(ctx, p.Name)
	if err != nil {
		return tasks.Result{}, cairn.Permanent(err)
	}
	data, err := env.Models.TrainingData(ctx, mv.Model, "train")
	if err != nil {
		return tasks.Result{}, cairn.Permanent(err)
	}
	if p.Ports == nil {
		p.Ports = []string{"production_model", "reference"}
	}
	if p.Ports[1] == "bad" {
		data.Digest = "sha256:short"
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"version": json.RawMessage(fmt.Sprint(mv.Version))},
		Inputs: map[string]cairn.ArtifactRef{p.Ports[0]: mv.Model, p.Ports[1]: data}}, nil
}

// TestEnvModelsAndReadInputs: the pool lends Options.Models to every
// attempt, and what a task says it read beyond its inputs becomes lineage
// of its attempt; a bad report fails the attempt for good.
func TestEnvModelsAndReadInputs(t *testing.T) {
	model, data := testArtifact("model bytes"), testArtifact("training rows")
	r := newRig(t, reader{})
	wf, id := r.create(t, `
name: reads
tasks:
  - {id: look, type: reader, with: {name: churn}}
  - {id: bad, type: reader, with: {name: churn, ports: [production_model, bad]}}
  - {id: empty, type: reader, with: {name: churn, ports: [production_model, ""]}}
`)
	r.startPool(t, 2, func(o *executor.Options) {
		o.Models = fakeModels{prod: cairn.ModelVersion{Name: "churn", Version: 3, Model: model, Stage: cairn.StageProduction}, data: data}
	})
	run := r.drive(t, id, wf)
	wantRun(t, run, cairn.RunFailed)
	trs := r.taskRuns(t, id)
	if tr := trs["look"]; tr.State != cairn.TaskSucceeded || string(tr.Outputs["version"]) != "3" {
		t.Fatalf("look: %s %s %v", tr.State, tr.Error, tr.Outputs)
	}
	edges, err := r.st.AttemptEdges(context.Background(), cairn.AttemptRef{RunID: id, TaskID: "look", Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) != 2 || edges[0].Port != "production_model" || edges[0].Digest != model.Digest ||
		edges[1].Port != "reference" || edges[1].Digest != data.Digest || edges[1].Direction != cairn.LineageIn {
		t.Fatalf("edges of look: %+v", edges)
	}
	for task, want := range map[string]string{"bad": `read as "bad"`, "empty": "empty port name"} {
		tr := trs[task]
		if tr.State != cairn.TaskFailed || !strings.Contains(tr.Error, want) {
			t.Errorf("%s: %s %q, want failed with %q", task, tr.State, tr.Error, want)
		}
		if as := r.attempts(t, id, task); len(as) != 1 || as[0].Retryable {
			t.Errorf("%s: a bad report is permanent, got %+v", task, as)
		}
	}
}

// testArtifact is a reference to s's bytes (never stored: the reader
// task only names them).
func testArtifact(s string) cairn.ArtifactRef {
	h := sha256.Sum256([]byte(s))
	return cairn.ArtifactRef{Digest: "sha256:" + hex.EncodeToString(h[:]), Size: int64(len(s)), MediaType: "text/csv"}
}
