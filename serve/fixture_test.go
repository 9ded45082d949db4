package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// fixture is a registry on a real SQLite file and an artifact store.
type fixture struct {
	t    testing.TB
	dir  string
	st   *sqlite.Store
	arts *artifacts.Dir
	at   time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	arts, err := artifacts.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, st: st, arts: arts, at: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// trainCSV is a table of every kind: num (numeric, some missing), color
// (categorical), flag (boolean), when (datetime), and the labels label
// (categorical) and y (numeric).
func trainCSV(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("num,color,flag,when,label,y\n")
	colors := []string{"red", "green", "blue"}
	for i := range n {
		x := r.NormFloat64()*3 + 1
		c := colors[r.IntN(3)]
		fl := r.IntN(2) == 1
		day := 1 + r.IntN(28)
		num := fmt.Sprint(x)
		if i%17 == 3 {
			num = ""
		}
		score := x + map[string]float64{"red": 2, "green": -1, "blue": 0}[c] + r.NormFloat64()
		if fl {
			score += 1.5
		}
		label := "no"
		if score > 1.5 {
			label = "yes"
		}
		fmt.Fprintf(&b, "%s,%s,%t,2024-03-%02d,%s,%g\n", num, c, fl, day, label, score*10)
	}
	return b.String()
}

// fit fits a model on trainCSV with label and algorithm.
func fit(t *testing.T, label, algorithm string, hp map[string]any, seed uint64) *model.Model {
	t.Helper()
	f, err := dataset.ReadCSV(strings.NewReader(trainCSV(300, seed)), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := features.NewSpec(label)
	other := map[string]string{"label": "y", "y": "label"}[label]
	spec.Exclude = []string{other}
	m, err := model.Fit(f, model.Spec{Preprocess: spec, Algorithm: algorithm, Hyperparams: hp, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// put stores m as an artifact.
func (fx *fixture) put(m *model.Model) cairn.ArtifactRef {
	fx.t.Helper()
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		fx.t.Fatal(err)
	}
	ref, err := fx.arts.Put(context.Background(), model.MediaType, &b)
	if err != nil {
		fx.t.Fatal(err)
	}
	return ref
}

func (fx *fixture) next() time.Time {
	fx.at = fx.at.Add(time.Second)
	return fx.at
}

// deploy registers ref as a version of name in stage, as a deploy task's
// success does (a completion with the effect), and returns the version.
func (fx *fixture) deploy(name string, stage cairn.ModelStage, ref cairn.ArtifactRef) int {
	fx.t.Helper()
	ctx := context.Background()
	at := fx.next()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	task := &cairn.TaskRun{TaskID: "deploy", Type: "deploy", State: cairn.TaskReady, Params: []byte(`{}`), Inputs: map[string]cairn.ArtifactRef{"model": ref}}
	if err := fx.st.CreateRun(ctx, run, []*cairn.TaskRun{task}); err != nil {
		fx.t.Fatal(err)
	}
	items, err := fx.st.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1}, at, time.Hour)
	if err != nil || len(items) != 1 {
		fx.t.Fatalf("lease: %v %v", items, err)
	}
	tr, err := fx.st.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
		Outputs: map[string]json.RawMessage{"model": ref.JSON()},
		Effects: []cairn.Effect{{RegisterModel: &cairn.ModelRegistration{Name: name, Stage: stage, Model: ref, VersionOutput: "version"}}}}, at)
	if err != nil {
		fx.t.Fatal(err)
	}
	var v int
	if err := json.Unmarshal(tr.Outputs["version"], &v); err != nil {
		fx.t.Fatalf("version output %s: %v", tr.Outputs["version"], err)
	}
	return v
}

func (fx *fixture) promote(name string, version int) {
	fx.t.Helper()
	if _, err := fx.st.PromoteModel(context.Background(), name, version, cairn.StageProduction, "test", fx.next()); err != nil {
		fx.t.Fatal(err)
	}
}
