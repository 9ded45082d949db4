package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/lineage/lineagetest"
	"github.com/cairnml/cairn/scheduler"
)

// Lineage, the model registry, caching and what cairn gc keeps, read and
// written through a store's completion path (moved here from
// store/sqlite's tests so that every store runs them).

func testRef(s string) cairn.ArtifactRef {
	h := sha256.Sum256([]byte(s))
	return cairn.ArtifactRef{Digest: "sha256:" + hex.EncodeToString(h[:]), Size: int64(len(s)), MediaType: "text/csv"}
}

// testLineageRecordedWithCompletion: the completion that ends an attempt
// records its provenance, its input and output edges and each artifact
// once with its first producer, in the same transaction.
func testLineageRecordedWithCompletion(t *testing.T, s Server) {
	ctx := context.Background()
	at := origin()
	data, other := testRef("rows"), testRef("other")
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	trs := []*cairn.TaskRun{
		{TaskID: "a", Type: "noop", State: cairn.TaskReady, Params: []byte(`{}`)},
		{TaskID: "b", Type: "train", State: cairn.TaskReady, Params: []byte(`{"seed":1}`),
			Inputs: map[string]cairn.ArtifactRef{"train": data, "extra": other}},
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 2}, at, time.Hour)
	if err != nil || len(items) != 2 {
		t.Fatalf("lease: %v %v", items, err)
	}
	leases := map[string]cairn.Lease{}
	for _, it := range items {
		leases[it.Lease.TaskID] = it.Lease
	}

	// a: no inputs, one artifact output and one plain output.
	l := leases["a"]
	c := cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"data": data.JSON(), "rows": json.RawMessage("3")},
		Version: "cairn test", CacheKey: "sha256:" + strings.Repeat("a", 64)}
	if _, err := s.Complete(ctx, l, c, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// b fails: its inputs are still lineage; a failure records no output.
	lb := leases["b"]
	if _, err := s.Complete(ctx, lb, cairn.Completion{State: cairn.TaskFailed, Error: "boom", Outputs: map[string]json.RawMessage{"x": other.JSON()}}, at.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}

	rec, err := s.Artifact(ctx, data.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Size != data.Size || rec.MediaType != "text/csv" || rec.Producer != (cairn.AttemptRef{RunID: run.ID, TaskID: "a", Number: 1}) {
		t.Fatalf("artifact %+v", rec)
	}
	rec, err = s.Artifact(ctx, other.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Producer.IsZero() {
		t.Fatalf("an artifact only read has no producer, got %v", rec.Producer)
	}
	if _, err := s.Artifact(ctx, "sha256:"+strings.Repeat("0", 64)); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("unknown artifact: %v", err)
	}

	outs, err := s.ArtifactEdges(ctx, data.Digest, cairn.LineageOut)
	if err != nil || len(outs) != 1 || outs[0].Attempt.TaskID != "a" || outs[0].Port != "data" {
		t.Fatalf("producers of data: %+v, %v", outs, err)
	}
	ins, err := s.ArtifactEdges(ctx, data.Digest, cairn.LineageIn)
	if err != nil || len(ins) != 1 || ins[0].Attempt.TaskID != "b" || ins[0].Port != "train" {
		t.Fatalf("consumers of data: %+v, %v", ins, err)
	}
	edges, err := s.AttemptEdges(ctx, cairn.AttemptRef{RunID: run.ID, TaskID: "b", Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) != 2 || edges[0].Direction != cairn.LineageIn || edges[0].Port != "extra" || edges[1].Port != "train" {
		t.Fatalf("a failed attempt's edges are its inputs only, got %+v", edges)
	}

	a, err := s.Attempt(ctx, cairn.AttemptRef{RunID: run.ID, TaskID: "a", Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a.Type != "noop" || a.Version != "cairn test" || string(a.Params) != "{}" || a.CacheKey != c.CacheKey || !a.CachedFrom.IsZero() {
		t.Fatalf("provenance of a: %+v", a)
	}
	hits, err := s.FindCached(ctx, c.CacheKey, 5)
	if err != nil || len(hits) != 1 || hits[0].Attempt.TaskID != "a" || hits[0].Type != "noop" || string(hits[0].Outputs["rows"]) != "3" {
		t.Fatalf("find cached: %+v, %v", hits, err)
	}
	// The failed attempt left no cache entry and no output record.
	if hits, _ := s.FindCached(ctx, "sha256:"+strings.Repeat("b", 64), 5); len(hits) != 0 {
		t.Fatalf("unknown key found %+v", hits)
	}
}

// testFindCachedInTx: Tx.FindCached finds what FindCached finds, as of its
// transaction — a success that transaction recorded included, before it
// commits —, newest first, up to its limit; nothing under a key no
// success has, nor under "".
func testFindCachedInTx(t *testing.T, s Server) {
	ctx := context.Background()
	at := origin()
	data := testRef("cached rows")
	key := "sha256:" + strings.Repeat("c", 64)
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	trs := []*cairn.TaskRun{
		{TaskID: "a", Type: "noop", State: cairn.TaskReady, Params: []byte(`{}`)},
		{TaskID: "b", Type: "noop", State: cairn.TaskReady, Params: []byte(`{}`)},
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 2}, at, time.Hour)
	if err != nil || len(items) != 2 {
		t.Fatalf("lease: %v %v", items, err)
	}
	done := func(i int, when time.Duration) cairn.Completion {
		return cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"data": data.JSON(), "n": json.RawMessage(fmt.Sprint(i))},
			Metrics: map[string]float64{"m": float64(i)}, Version: "cairn test", CacheKey: key, FinishedAt: at.Add(when)}
	}
	if _, err := s.Complete(ctx, items[0].Lease, done(0, time.Second), at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	var before, within []cairn.CachedAttempt
	var empty, none []cairn.CachedAttempt
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		var err error
		if before, err = tx.FindCached(key, 5); err != nil {
			return err
		}
		if _, err := tx.Complete(items[1].Lease, done(1, 2*time.Second), at.Add(2*time.Second)); err != nil {
			return err
		}
		if within, err = tx.FindCached(key, 5); err != nil {
			return err
		}
		if none, err = tx.FindCached("sha256:"+strings.Repeat("d", 64), 5); err != nil {
			return err
		}
		empty, err = tx.FindCached("", 5)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 1 || before[0].Attempt != (cairn.AttemptRef{RunID: run.ID, TaskID: items[0].Lease.TaskID, Number: 1}) ||
		before[0].Type != "noop" || string(before[0].Outputs["n"]) != "0" || before[0].Metrics["m"] != 0 ||
		!reflect.DeepEqual(before[0].Outputs["data"], data.JSON()) {
		t.Errorf("Tx.FindCached before the batch's own success: %+v, want the one committed", before)
	}
	if len(within) != 2 || within[0].Attempt.TaskID != items[1].Lease.TaskID || within[1].Attempt.TaskID != items[0].Lease.TaskID {
		t.Errorf("Tx.FindCached after the batch's own success: %+v, want it first, then the earlier one", within)
	}
	if len(none) != 0 || len(empty) != 0 {
		t.Errorf("Tx.FindCached of an unknown key %+v, of \"\" %+v: want nothing", none, empty)
	}
	outside, err := s.FindCached(ctx, key, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(outside, within) {
		t.Errorf("FindCached after the commit %+v, Tx.FindCached in it %+v: want the same", outside, within)
	}
	if one, err := s.FindCached(ctx, key, 1); err != nil || len(one) != 1 || one[0].Attempt.TaskID != items[1].Lease.TaskID {
		t.Errorf("FindCached limited to 1: %+v, %v", one, err)
	}
	err = s.Batch(ctx, func(tx scheduler.Tx) error {
		one, err := tx.FindCached(key, 1)
		if err == nil && (len(one) != 1 || one[0].Attempt.TaskID != items[1].Lease.TaskID) {
			t.Errorf("Tx.FindCached limited to 1: %+v", one)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testReadInputsRecorded: the artifacts a success read beyond its inputs
// (a retrain's production model and its training data) are "in" edges
// beside its inputs; a failure's are not recorded, and a port that is
// also an input's name stays the input's.
func testReadInputsRecorded(t *testing.T, s Server) {
	ctx := context.Background()
	at := origin()
	fresh, prod, ref, clash := testRef("fresh"), testRef("model"), testRef("training data"), testRef("clash")
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	trs := []*cairn.TaskRun{
		{TaskID: "drift", Type: "retrain", State: cairn.TaskReady, Params: []byte(`{}`), Inputs: map[string]cairn.ArtifactRef{"data": fresh}},
		{TaskID: "failed", Type: "retrain", State: cairn.TaskReady, Params: []byte(`{}`), Inputs: map[string]cairn.ArtifactRef{"data": fresh}},
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 2}, at, time.Hour)
	if err != nil || len(items) != 2 {
		t.Fatalf("lease: %v %v", items, err)
	}
	leases := map[string]cairn.Lease{}
	for _, it := range items {
		leases[it.Lease.TaskID] = it.Lease
	}
	read := map[string]cairn.ArtifactRef{"production_model": prod, "reference": ref, "data": clash}
	// A bad reference is refused and leaves the attempt running.
	_, errs, err := s.CompleteMany(ctx, []scheduler.Finish{{Lease: leases["drift"], Completion: cairn.Completion{State: cairn.TaskSucceeded,
		ReadInputs: map[string]cairn.ArtifactRef{"reference": {Digest: "sha256:nothex"}}}}}, at)
	if err != nil || errs[0] == nil || !strings.Contains(errs[0].Error(), `"reference"`) {
		t.Fatalf("a bad read input: %v %v", errs, err)
	}
	if _, err := s.Complete(ctx, leases["drift"], cairn.Completion{State: cairn.TaskSucceeded, ReadInputs: read}, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(ctx, leases["failed"], cairn.Completion{State: cairn.TaskFailed, Error: "no", ReadInputs: read}, at.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	edges, err := s.AttemptEdges(ctx, cairn.AttemptRef{RunID: run.ID, TaskID: "drift", Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range edges {
		got = append(got, e.Direction+" "+e.Port+" "+e.Digest[7:15])
	}
	want := []string{"in data " + fresh.Digest[7:15], "in production_model " + prod.Digest[7:15], "in reference " + ref.Digest[7:15]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("edges of the success:\n got %v\nwant %v", got, want)
	}
	users, err := s.ArtifactEdges(ctx, ref.Digest, cairn.LineageIn)
	if err != nil || len(users) != 1 || users[0].Attempt.TaskID != "drift" || users[0].Port != "reference" {
		t.Fatalf("readers of the training data: %+v, %v", users, err)
	}
	if rec, err := s.Artifact(ctx, prod.Digest); err != nil || !rec.Producer.IsZero() {
		t.Fatalf("the production model, only read: %+v, %v", rec, err)
	}
	if _, err := s.Artifact(ctx, clash.Digest); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("a read input under an input's name was recorded: %v", err)
	}
	edges, err = s.AttemptEdges(ctx, cairn.AttemptRef{RunID: run.ID, TaskID: "failed", Number: 1})
	if err != nil || len(edges) != 1 || edges[0].Port != "data" {
		t.Fatalf("a failure records its inputs only: %+v, %v", edges, err)
	}
}

// deploy completes a one-task run whose success registers model name.
func deploy(t *testing.T, s Server, at time.Time, name string, stage cairn.ModelStage, model cairn.ArtifactRef, reproduceOf string) (*cairn.TaskRun, error) {
	t.Helper()
	return completeDeploy(t, s, at, &cairn.ModelRegistration{Name: name, Stage: stage, Model: model,
		Metrics: map[string]float64{"auc": 0.9}, VersionOutput: "version"}, reproduceOf)
}

// completeDeploy completes a one-task run whose success is registration
// reg (of run reproduceOf's reproduction when set).
func completeDeploy(t *testing.T, s Server, at time.Time, reg *cairn.ModelRegistration, reproduceOf string) (*cairn.TaskRun, error) {
	t.Helper()
	ctx := context.Background()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at, ReproduceOf: reproduceOf}
	task := &cairn.TaskRun{TaskID: "deploy", Type: "deploy", State: cairn.TaskReady, Params: []byte(`{}`), Inputs: map[string]cairn.ArtifactRef{"model": reg.Model}}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{task}); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1}, at, time.Hour)
	if err != nil || len(items) != 1 {
		t.Fatalf("lease: %v %v", items, err)
	}
	return s.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
		Outputs: map[string]json.RawMessage{"model": reg.Model.JSON()},
		Effects: []cairn.Effect{{RegisterModel: reg}}}, at)
}

func testModelRegistry(t *testing.T, s Server) {
	ctx := context.Background()
	at := origin()
	next := func() time.Time { at = at.Add(time.Second); return at }
	m1, m2, m3 := testRef("model one"), testRef("model two"), testRef("model three")

	tr, err := deploy(t, s, next(), "churn", cairn.StageProduction, m1, "")
	if err != nil {
		t.Fatal(err)
	}
	if string(tr.Outputs["version"]) != "1" {
		t.Fatalf("the deploy's version output: %s", tr.Outputs["version"])
	}
	if got, _ := s.GetTaskRun(ctx, tr.RunID, "deploy"); string(got.Outputs["version"]) != "1" {
		t.Fatalf("the stored version output: %s", got.Outputs["version"])
	}
	// The same bytes again are version 1, not a new version.
	if tr, err = deploy(t, s, next(), "churn", cairn.StageCandidate, m1, ""); err != nil || string(tr.Outputs["version"]) != "1" {
		t.Fatalf("redeploy: %v %v", tr, err)
	}
	if p, err := s.ProductionModel(ctx, "churn"); err != nil || p.Version != 1 {
		t.Fatalf("a candidate deploy of the production bytes leaves it in production: %+v %v", p, err)
	}
	if _, err := deploy(t, s, next(), "churn", cairn.StageProduction, m2, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := deploy(t, s, next(), "churn", cairn.StageCandidate, m3, ""); err != nil {
		t.Fatal(err)
	}
	vs, err := s.ModelVersions(ctx, "churn")
	if err != nil || len(vs) != 3 {
		t.Fatalf("versions: %v %v", vs, err)
	}
	stages := map[int]cairn.ModelStage{}
	for _, v := range vs {
		stages[v.Version] = v.Stage
	}
	if stages[1] != cairn.StageArchived || stages[2] != cairn.StageProduction || stages[3] != cairn.StageCandidate {
		t.Fatalf("stages %v", stages)
	}
	if vs[0].Metrics["auc"] != 0.9 || vs[0].Model.Size != m3.Size || vs[0].Producer.TaskID != "deploy" {
		t.Fatalf("version 3: %+v", vs[0])
	}

	// A reproduction registers nothing.
	if _, err := deploy(t, s, next(), "churn", cairn.StageProduction, testRef("model four"), "some-run"); err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.ModelVersions(ctx, "churn"); len(vs) != 3 {
		t.Fatalf("a reproduction registered a version: %d versions", len(vs))
	}

	// Promote 3; roll back to 2; roll back to 1; nothing before 1.
	if v, err := s.PromoteModel(ctx, "churn", 3, cairn.StageProduction, "cli:test", next()); err != nil || v.Stage != cairn.StageProduction {
		t.Fatalf("promote: %+v %v", v, err)
	}
	if v, err := s.RollbackModel(ctx, "churn", "cli:test", next()); err != nil || v.Version != 2 {
		t.Fatalf("rollback to 2: %+v %v", v, err)
	}
	if v, err := s.RollbackModel(ctx, "churn", "cli:test", next()); err != nil || v.Version != 1 {
		t.Fatalf("rollback to 1: %+v %v", v, err)
	}
	if _, err := s.RollbackModel(ctx, "churn", "cli:test", next()); !errors.Is(err, cairn.ErrConflict) {
		t.Fatalf("rollback past the first: %v", err)
	}
	n := 0
	for _, v := range must(s.ModelVersions(ctx, "churn")) {
		if v.Stage == cairn.StageProduction {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d versions in production", n)
	}

	// Bad promotions change nothing and say why.
	if _, err := s.PromoteModel(ctx, "churn", 9, cairn.StageProduction, "cli:test", next()); !errors.Is(err, cairn.ErrNotFound) || !strings.Contains(err.Error(), "versions 1 to 3") {
		t.Fatalf("promote a missing version: %v", err)
	}
	if _, err := s.PromoteModel(ctx, "nope", 1, cairn.StageProduction, "cli:test", next()); !errors.Is(err, cairn.ErrNotFound) || !strings.Contains(err.Error(), `no model is named "nope"`) {
		t.Fatalf("promote a missing model: %v", err)
	}
	if p, _ := s.ProductionModel(ctx, "churn"); p.Version != 1 {
		t.Fatalf("production after refusals: %d", p.Version)
	}
	hist, err := s.ModelHistory(ctx, "churn")
	if err != nil || len(hist) < 6 || hist[0].Reason != "deploy" || hist[len(hist)-1].Reason != "rollback" {
		t.Fatalf("history %+v %v", hist, err)
	}
	ms, err := s.Models(ctx)
	if err != nil || len(ms) != 2 || ms[0].Version != 3 || ms[1].Version != 1 {
		t.Fatalf("models list (newest, production): %+v %v", ms, err)
	}
}

// testEffectsOnlyOfSuccess: a failure that carries effects is refused
// whole, and an invalid effect writes nothing.
func testEffectsOnlyOfSuccess(t *testing.T, s Server) {
	ctx := context.Background()
	_, leases := leasedRun(t, s, origin(), "a")
	eff := []cairn.Effect{{RegisterModel: &cairn.ModelRegistration{Name: "m", Stage: cairn.StageProduction, Model: testRef("x")}}}
	_, errs, err := s.CompleteMany(ctx, []scheduler.Finish{{Lease: leases["a"], Completion: cairn.Completion{State: cairn.TaskFailed, Error: "e", Effects: eff}}}, origin())
	if err != nil || errs[0] == nil {
		t.Fatalf("a failure with effects: %v %v", errs, err)
	}
	bad := []cairn.Effect{{RegisterModel: &cairn.ModelRegistration{Name: "../m", Stage: cairn.StageProduction, Model: testRef("x")}}}
	_, errs, err = s.CompleteMany(ctx, []scheduler.Finish{{Lease: leases["a"], Completion: cairn.Completion{State: cairn.TaskSucceeded, Effects: bad}}}, origin())
	if err != nil || errs[0] == nil || !strings.Contains(errs[0].Error(), "model name") {
		t.Fatalf("an invalid effect: %v %v", errs, err)
	}
	if ms, _ := s.Models(ctx); len(ms) != 0 {
		t.Fatalf("registered %+v", ms)
	}
	if tr, _ := s.GetTaskRun(ctx, leases["a"].RunID, "a"); tr.State != cairn.TaskLeased {
		t.Fatalf("the refused completions ended the task: %s", tr.State)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// testNeededArtifacts: the retention keeps the last runs of each
// workflow, recent ones and unfinished ones; a model version keeps its
// artifact and, unless archived, its upstream lineage.
func testNeededArtifacts(t *testing.T, s Server) {
	ctx := context.Background()
	base := origin()
	// Three finished runs of wf, a day apart, each writing its own data;
	// the last one reads the first's.
	var data []cairn.ArtifactRef
	for i := 0; i < 3; i++ {
		at := base.Add(time.Duration(i) * 24 * time.Hour)
		ref := testRef(fmt.Sprint("data ", i))
		data = append(data, ref)
		run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
		tr := &cairn.TaskRun{TaskID: "t", Type: "collect", State: cairn.TaskReady, Params: []byte(`{}`)}
		if i == 2 {
			tr.Inputs = map[string]cairn.ArtifactRef{"old": data[0]}
		}
		if err := s.CreateRun(ctx, run, []*cairn.TaskRun{tr}); err != nil {
			t.Fatal(err)
		}
		items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1}, at, time.Hour)
		if err != nil || len(items) != 1 {
			t.Fatalf("lease: %v %v", items, err)
		}
		if _, err := s.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
			Outputs: map[string]json.RawMessage{"data": ref.JSON()}}, at); err != nil {
			t.Fatal(err)
		}
		finishRun(t, s, run.ID, at)
	}
	now := base.Add(10 * 24 * time.Hour)
	needed, err := s.NeededArtifacts(ctx, scheduler.Retention{KeepLast: 1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if needed[data[2].Digest] == "" || needed[data[0].Digest] == "" || needed[data[1].Digest] != "" {
		t.Fatalf("keep the last run's output and input only: %v", needed)
	}
	needed, _ = s.NeededArtifacts(ctx, scheduler.Retention{KeepLast: 0, KeepWithin: 9*24*time.Hour + time.Minute, Now: now})
	if needed[data[1].Digest] == "" || needed[data[2].Digest] == "" || needed[data[0].Digest] == "" {
		t.Fatalf("keep the runs of the last 9 days: %v", needed)
	}

	// A model trained on data 1 (upstream: a train attempt reading it).
	model := testRef("model")
	at := base.Add(4 * 24 * time.Hour)
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "train", State: cairn.RunQueued, CreatedAt: at}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{{TaskID: "train", Type: "train", State: cairn.TaskReady, Params: []byte(`{}`),
		Inputs: map[string]cairn.ArtifactRef{"train": data[1]}}}); err != nil {
		t.Fatal(err)
	}
	items, _ := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1}, at, time.Hour)
	if _, err := s.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
		Outputs: map[string]json.RawMessage{"model": model.JSON()}}, at); err != nil {
		t.Fatal(err)
	}
	finishRun(t, s, run.ID, at)
	tr, err := deploy(t, s, at.Add(time.Minute), "m", cairn.StageProduction, model, "")
	if err != nil {
		t.Fatal(err)
	}
	finishRun(t, s, tr.RunID, at)
	// Nothing kept by age or count: the model keeps itself and its lineage.
	needed, _ = s.NeededArtifacts(ctx, scheduler.Retention{KeepLast: 0, Now: now})
	if !strings.HasPrefix(needed[model.Digest], "model m@1") || needed[data[1].Digest] != "the lineage of a registered model" || needed[data[2].Digest] != "" {
		t.Fatalf("a production model keeps its artifact and lineage: %v", needed)
	}
	if _, err := s.PromoteModel(ctx, "m", 1, cairn.StageArchived, "cli:test", now); err != nil {
		t.Fatal(err)
	}
	needed, _ = s.NeededArtifacts(ctx, scheduler.Retention{KeepLast: 0, Now: now})
	if needed[model.Digest] == "" || needed[data[1].Digest] != "" {
		t.Fatalf("an archived model keeps its artifact, not its lineage: %v", needed)
	}
	if _, err := s.NeededArtifacts(ctx, scheduler.Retention{KeepLast: -1, Now: now}); err == nil {
		t.Fatal("a negative retention was accepted")
	}

	// A run still running, older than any age kept and beyond the last
	// runs kept: what its finished task wrote is needed (its next task
	// will read it), whatever the retention. Without this, only --grace
	// kept it, and a run longer than the grace lost its artifacts.
	slowAt := base.Add(-24 * time.Hour)
	slow := &cairn.Run{ID: cairn.NewRunID(slowAt), Workflow: "slow", State: cairn.RunQueued, CreatedAt: slowAt}
	if err := s.CreateRun(ctx, slow, []*cairn.TaskRun{
		{TaskID: "make", Type: "collect", State: cairn.TaskReady, Params: []byte(`{}`)},
		{TaskID: "use", Type: "train", State: cairn.TaskPending, Params: []byte(`{}`)},
	}); err != nil {
		t.Fatal(err)
	}
	moveRun(t, s, slow.ID, slowAt, cairn.RunRunning)
	made := testRef("made by a run still running")
	items, err = s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: slow.ID, Max: 1}, slowAt, time.Hour)
	if err != nil || len(items) != 1 {
		t.Fatalf("lease: %v %v", items, err)
	}
	if _, err := s.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
		Outputs: map[string]json.RawMessage{"data": made.JSON()}}, slowAt); err != nil {
		t.Fatal(err)
	}
	needed, err = s.NeededArtifacts(ctx, scheduler.Retention{KeepLast: 0, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if needed[made.Digest] == "" {
		t.Fatalf("a run still running keeps what its tasks wrote: %v", needed)
	}
}

// testOldestActiveAttempt: when the oldest attempt still leased or
// running began (its process may store artifacts it has not reported),
// none once every attempt ended.
func testOldestActiveAttempt(t *testing.T, s Server) {
	ctx := context.Background()
	if _, ok, err := s.OldestActiveAttempt(ctx); err != nil || ok {
		t.Fatalf("an empty store: %v, %v; want none", ok, err)
	}
	base := origin()
	run := &cairn.Run{ID: cairn.NewRunID(base), Workflow: "wf", State: cairn.RunQueued, CreatedAt: base}
	if err := s.CreateRun(ctx, run, []*cairn.TaskRun{
		{TaskID: "a", Type: "noop", State: cairn.TaskReady, Params: []byte(`{}`)},
		{TaskID: "b", Type: "noop", State: cairn.TaskReady, Params: []byte(`{}`)},
	}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1}, base.Add(time.Minute), time.Hour)
	if err != nil || len(first) != 1 {
		t.Fatalf("lease: %v %v", first, err)
	}
	second, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 1, Start: true}, base.Add(2*time.Minute), time.Hour)
	if err != nil || len(second) != 1 {
		t.Fatalf("lease: %v %v", second, err)
	}
	if at, ok, err := s.OldestActiveAttempt(ctx); err != nil || !ok || !at.Equal(base.Add(time.Minute)) {
		t.Fatalf("two attempts leased at +1m and +2m: %s %v %v; want +1m", at, ok, err)
	}
	if _, err := s.Complete(ctx, first[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, base.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := s.OldestActiveAttempt(ctx); err != nil || !ok || !at.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("the +1m attempt ended: %s %v %v; want the running one's +2m", at, ok, err)
	}
	if _, err := s.Complete(ctx, second[0].Lease, cairn.Completion{State: cairn.TaskSucceeded}, base.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.OldestActiveAttempt(ctx); err != nil || ok {
		t.Fatalf("every attempt ended: %v, %v; want none", ok, err)
	}
}

// finishRun moves a queued run to running, then succeeded.
func finishRun(t *testing.T, s Server, id string, at time.Time) {
	t.Helper()
	moveRun(t, s, id, at, cairn.RunRunning, cairn.RunSucceeded)
}

// moveRun moves run id through the states states, in order, at at.
func moveRun(t *testing.T, s Server, id string, at time.Time, states ...cairn.RunState) {
	t.Helper()
	ctx := context.Background()
	for _, to := range states {
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyPlan(ctx, &scheduler.Plan{RunID: id, Run: &scheduler.RunChange{FromVersion: r.Version, From: r.State, To: to, At: at}}); err != nil {
			t.Fatal(err)
		}
	}
}

// testModelStageSeq: every registration, promotion and rollback moves the
// number a serving server polls, and a promotion that changes nothing
// does not.
func testModelStageSeq(t *testing.T, s Server) {
	ctx := context.Background()
	at := origin()
	next := func() time.Time { at = at.Add(time.Second); return at }
	seq := func() int64 {
		t.Helper()
		n, err := s.ModelStageSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := seq(); n != 0 {
		t.Fatalf("an empty registry's seq is %d, want 0", n)
	}
	last := seq()
	moved := func(what string) {
		t.Helper()
		if n := seq(); n <= last {
			t.Fatalf("%s: seq %d did not grow from %d", what, n, last)
		} else {
			last = n
		}
	}
	if _, err := deploy(t, s, next(), "churn", cairn.StageProduction, testRef("m1"), ""); err != nil {
		t.Fatal(err)
	}
	moved("deploy")
	if _, err := deploy(t, s, next(), "churn", cairn.StageCandidate, testRef("m2"), ""); err != nil {
		t.Fatal(err)
	}
	moved("candidate deploy")
	if _, err := s.PromoteModel(ctx, "churn", 2, cairn.StageProduction, "cli:test", next()); err != nil {
		t.Fatal(err)
	}
	moved("promote")
	if _, err := s.PromoteModel(ctx, "churn", 2, cairn.StageProduction, "cli:test", next()); err != nil {
		t.Fatal(err)
	}
	if n := seq(); n != last {
		t.Fatalf("a promotion that changes nothing moved seq from %d to %d", last, n)
	}
	if _, err := s.RollbackModel(ctx, "churn", "cli:test", next()); err != nil {
		t.Fatal(err)
	}
	moved("rollback")
}

func attemptSet(g *cairn.LineageGraph) []string {
	var out []string
	for _, a := range g.Attempts {
		out = append(out, a.RunID+"/"+a.TaskID)
	}
	slices.Sort(out)
	return out
}

// testLineageClosure: the closure of a model three runs deep, upstream
// and downstream, bounded and not, in one read.
func testLineageClosure(t *testing.T, s Server) {
	ctx := context.Background()
	c, err := lineagetest.Write(ctx, s, nil, "churn", 3, origin())
	if err != nil {
		t.Fatal(err)
	}
	model := c.Ref(2, "train", "model")
	g, err := s.LineageClosure(ctx, []string{model.Digest}, cairn.LineageIn, 0)
	if err != nil {
		t.Fatal(err)
	}
	// train ← split ← collect ← split (run 1) ← collect ← split (run 0) ← collect.
	want := []string{c.Runs[0] + "/collect", c.Runs[0] + "/split", c.Runs[1] + "/collect", c.Runs[1] + "/split",
		c.Runs[2] + "/collect", c.Runs[2] + "/split", c.Runs[2] + "/train"}
	slices.Sort(want)
	if got := attemptSet(g); !slices.Equal(got, want) {
		t.Fatalf("upstream attempts\n got %v\nwant %v", got, want)
	}
	if len(g.Runs) != 3 || g.Runs[0].Workflow != "churn" {
		t.Fatalf("runs %+v", g.Runs)
	}
	if len(g.Models) != 1 || g.Models[0].Version != 3 || g.Models[0].Model.Digest != model.Digest {
		t.Fatalf("models %+v", g.Models)
	}
	// Every edge's artifact is known, with its first producer.
	known := map[string]*cairn.ArtifactRecord{}
	for _, a := range g.Artifacts {
		known[a.Digest] = a
	}
	for _, e := range g.Edges {
		if known[e.Digest] == nil {
			t.Fatalf("edge %+v names an artifact the graph lacks", e)
		}
	}
	if p := known[model.Digest].Producer; p.RunID != c.Runs[2] || p.TaskID != "train" {
		t.Fatalf("producer of the model: %v", p)
	}
	if w := g.Writers[model.Digest]; g.WriterCount[model.Digest] != 1 || len(w) != 1 || w[0].TaskID != "train" {
		t.Fatalf("writers of the model: %v %d", w, g.WriterCount[model.Digest])
	}

	// One level: train and what made its input (split, one level more).
	g, err = s.LineageClosure(ctx, []string{model.Digest}, cairn.LineageIn, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptSet(g); !slices.Equal(got, []string{c.Runs[2] + "/split", c.Runs[2] + "/train"}) {
		t.Fatalf("depth 1: %v", got)
	}

	// Downstream of run 0's training set: run 0's train, evaluate and
	// deploy, and everything of runs 1 and 2 (their collects read it, in
	// a chain).
	g, err = s.LineageClosure(ctx, []string{c.Ref(0, "split", "train").Digest}, cairn.LineageOut, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptSet(g); len(got) != 3+5+5 || slices.Contains(got, c.Runs[0]+"/split") {
		t.Fatalf("downstream attempts: %v", got)
	}
	if len(g.Models) != 3 {
		t.Fatalf("downstream models: %d", len(g.Models))
	}
	if _, err := s.LineageClosure(ctx, []string{model.Digest}, "sideways", 0); err == nil {
		t.Fatal("a bad direction was accepted")
	}
}

// testLineageClosureCycle: an attempt that writes the bytes it read
// makes a cycle in the graph of artifacts; the closure still ends, and
// identical bytes written by several attempts are counted, the first
// producer first.
func testLineageClosureCycle(t *testing.T, s Server) {
	ctx := context.Background()
	x := testRef("same bytes")
	at := origin()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	trs := []*cairn.TaskRun{
		{TaskID: "make", Type: "shell", State: cairn.TaskReady, Params: []byte(`{}`)},
		{TaskID: "copy", Type: "shell", State: cairn.TaskReady, Params: []byte(`{}`), Inputs: map[string]cairn.ArtifactRef{"in": x}},
		{TaskID: "again", Type: "shell", State: cairn.TaskReady, Params: []byte(`{}`)},
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: 3}, at, time.Hour)
	if err != nil || len(items) != 3 {
		t.Fatalf("lease: %v %v", items, err)
	}
	out := cairn.Completion{State: cairn.TaskSucceeded, Outputs: map[string]json.RawMessage{"out": x.JSON()}}
	for i, task := range []string{"make", "copy", "again"} {
		for _, it := range items {
			if it.Lease.TaskID == task {
				if _, err := s.Complete(ctx, it.Lease, out, at.Add(time.Duration(i+1)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// copy read x and wrote it: x's first producer is make, so the
	// upstream closure is make alone.
	g, err := s.LineageClosure(ctx, []string{x.Digest}, cairn.LineageIn, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptSet(g); !slices.Equal(got, []string{run.ID + "/make"}) {
		t.Fatalf("upstream: %v", got)
	}
	if n, w := g.WriterCount[x.Digest], g.Writers[x.Digest]; n != 3 || len(w) != 3 || w[0].TaskID != "make" || w[1].TaskID != "copy" {
		t.Fatalf("writers: %d %v", n, w)
	}
	// Downstream: copy read x and wrote x, which copy read: a cycle.
	g, err = s.LineageClosure(ctx, []string{x.Digest}, cairn.LineageOut, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptSet(g); !slices.Equal(got, []string{run.ID + "/copy"}) {
		t.Fatalf("downstream: %v", got)
	}
	for _, depth := range []int{50, 1_000_000} { // past 64 levels, the whole closure (a row per level on a cycle would not end soon)
		g, err = s.LineageClosure(ctx, []string{x.Digest}, cairn.LineageOut, depth)
		if err != nil || len(g.Attempts) != 1 {
			t.Fatalf("downstream to depth %d: %v %v", depth, attemptSet(g), err)
		}
	}
}

func testArtifactsByPrefix(t *testing.T, s Server) {
	ctx := context.Background()
	c, err := lineagetest.Write(ctx, s, nil, "churn", 1, origin())
	if err != nil {
		t.Fatal(err)
	}
	m := c.Ref(0, "train", "model")
	got, err := s.ArtifactsByPrefix(ctx, m.Hex()[:8], 10)
	if err != nil || len(got) != 1 || got[0].Digest != m.Digest || got[0].Producer.TaskID != "train" {
		t.Fatalf("by prefix: %+v %v", got, err)
	}
	all, err := s.ArtifactsByPrefix(ctx, "", 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("every artifact: %d %v", len(all), err)
	}
	// A negative limit is none, as SQLite's LIMIT -1; 0 finds nothing.
	if all, err := s.ArtifactsByPrefix(ctx, "", -1); err != nil || len(all) != 5 {
		t.Fatalf("every artifact, no limit: %d %v", len(all), err)
	}
	if none, err := s.ArtifactsByPrefix(ctx, "", 0); err != nil || len(none) != 0 {
		t.Fatalf("limit 0: %d %v", len(none), err)
	}
	if got, err := s.ArtifactsByPrefix(ctx, strings.Repeat("f", 64), 10); err != nil || len(got) != 0 {
		t.Fatalf("no match: %+v %v", got, err)
	}
	if _, err := s.ArtifactsByPrefix(ctx, "ABC' OR 1=1", 10); err == nil {
		t.Fatal("a prefix that is not hex was accepted")
	}
	ms, err := s.ModelsOf(ctx, m.Digest)
	if err != nil || len(ms) != 1 || ms[0].Name != "churn" {
		t.Fatalf("models of the model: %+v %v", ms, err)
	}
}

// A promotion and a rollback are written with their audit entry, by the
// actor who asked; a promotion that changes nothing, or is refused,
// records nothing.
func testModelChangesAudited(t *testing.T, s Server) {
	ctx := context.Background()
	at := origin()
	next := func() time.Time { at = at.Add(time.Second); return at }
	for _, m := range []string{"one", "two"} {
		if _, err := deploy(t, s, next(), "churn", cairn.StageProduction, testRef(m), ""); err != nil {
			t.Fatal(err)
		}
	}
	audit := func() []scheduler.Audit {
		t.Helper()
		es, err := s.ListAudit(ctx, scheduler.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	if es := audit(); len(es) != 0 {
		t.Fatalf("deploys wrote audit entries: %+v", es)
	}
	when := next()
	if _, err := s.PromoteModel(ctx, "churn", 1, cairn.StageProduction, "tok1", when); err != nil {
		t.Fatal(err)
	}
	es := audit()
	if len(es) != 1 || es[0].Action != scheduler.AuditModelPromote || es[0].Actor != "tok1" || !es[0].At.Equal(when) {
		t.Fatalf("audit after a promotion: %+v", es)
	}
	var d map[string]any
	if err := json.Unmarshal(es[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"model": "churn", "version": 1.0, "from": "archived", "to": "production", "archived": 2.0}; !reflect.DeepEqual(d, want) {
		t.Errorf("detail %v, want %v", d, want)
	}
	// Already there: nothing changes, nothing is recorded.
	if _, err := s.PromoteModel(ctx, "churn", 1, cairn.StageProduction, "tok1", next()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PromoteModel(ctx, "churn", 7, cairn.StageArchived, "tok1", next()); !errors.Is(err, cairn.ErrNotFound) {
		t.Fatalf("promote a missing version: %v", err)
	}
	if n := len(audit()); n != 1 {
		t.Fatalf("%d audit entries after a promotion that changed nothing and a refused one, want 1", n)
	}
	if v, err := s.RollbackModel(ctx, "churn", "cli:me@here", next()); err != nil || v.Version != 2 {
		t.Fatalf("rollback: %+v %v", v, err)
	}
	es = audit()
	if len(es) != 2 || es[0].Action != scheduler.AuditModelRollback || es[0].Actor != "cli:me@here" || string(es[0].Detail) != `{"from":1,"model":"churn","to":2}` {
		t.Fatalf("audit after a rollback: %+v", es)
	}
	hist, err := s.ModelHistory(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.Version != 2 || last.From != cairn.StageArchived || last.To != cairn.StageProduction || last.Reason != "rollback" || last.Actor != "cli:me@here" {
		t.Errorf("the history's last change %+v", last)
	}
}

// leasedRun creates a running-to-be run of the given tasks, all ready
// unless named p*, and leases every ready one for an hour.
func leasedRun(t *testing.T, s Server, at time.Time, ids ...string) (*cairn.Run, map[string]cairn.Lease) {
	t.Helper()
	ctx := context.Background()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "wf", State: cairn.RunQueued, CreatedAt: at}
	tasks := make([]*cairn.TaskRun, len(ids))
	ready := 0
	for i, id := range ids {
		tasks[i] = &cairn.TaskRun{TaskID: id, Type: "noop", State: cairn.TaskPending}
		if id[0] != 'p' {
			tasks[i].State = cairn.TaskReady
			tasks[i].Params = []byte(`{}`)
			ready++
		}
	}
	if err := s.CreateRun(ctx, run, tasks); err != nil {
		t.Fatal(err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: ready}, at, time.Hour)
	if err != nil || len(items) != ready {
		t.Fatalf("lease %d tasks: %d, %v", ready, len(items), err)
	}
	leases := map[string]cairn.Lease{}
	for _, it := range items {
		leases[it.Lease.TaskID] = it.Lease
	}
	return run, leases
}
