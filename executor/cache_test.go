package executor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/workflows"
)

// maker is a task type cached by default: it stores its param "text" as
// an artifact and counts how often it ran.
type maker struct {
	name    string
	version string // "": built in; else its own (tasks.Versioned)
	ran     atomic.Int64
}

func (m *maker) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: m.name, Cache: cairn.CacheAuto,
		Params:  []cairn.ParamInfo{{Name: "text", Kind: cairn.KindString}},
		Outputs: []cairn.PortInfo{{Name: "data", Artifact: true}, {Name: "n"}}}
}

func (m *maker) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	m.ran.Add(1)
	var p struct{ Text string }
	if err := req.DecodeParams(&p); err != nil {
		return tasks.Result{}, err
	}
	ref, err := env.Artifacts.Put(ctx, "text/plain", strings.NewReader(p.Text))
	if err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"data": ref.JSON(), "n": json.RawMessage("7")},
		Metrics: map[string]float64{"len": float64(len(p.Text))}}, nil
}

type versionedMaker struct{ *maker }

func (v versionedMaker) ImplVersion() string { return v.version }

// TestCacheReuse: an attempt whose key matches an earlier success takes
// its outputs and metrics and does not run; its log says so. Another
// version of the implementation, a missing or a damaged artifact, and a
// pool without a cache all run the task.
func TestCacheReuse(t *testing.T) {
	m := &maker{name: "make"}
	pm := versionedMaker{&maker{name: "pmake", version: "sha256:" + strings.Repeat("ab", 32)}}
	r := newRig(t, m, pm)
	const src = `
name: cached
tasks:
  - {id: a, type: make, with: {text: hello}}
  - {id: p, type: pmake, cache: true, with: {text: plugin}}
`
	ctx := context.Background()
	runOnce := func(version string, cache executor.Cache) (string, map[string]*cairn.TaskRun) {
		t.Helper()
		s := r.startPool(t, 2, func(o *executor.Options) { o.Version, o.Cache = version, cache })
		wf, id := r.create(t, src)
		wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
		s.stop(ctx)
		return id, r.taskRuns(t, id)
	}
	id1, trs1 := runOnce("v1", r.st)
	a1 := r.attempts(t, id1, "a")[0]
	if m.ran.Load() != 1 || a1.Version != "v1" || a1.CacheKey == "" || !a1.CachedFrom.IsZero() {
		t.Fatalf("first run: ran %d, attempt %+v", m.ran.Load(), a1)
	}
	if p1 := r.attempts(t, id1, "p")[0]; p1.Version != pm.version {
		t.Errorf("a type with its own version records %q, want %q", p1.Version, pm.version)
	}

	// An old blob, as cairn gc would see it: the reuse touches it.
	var ref cairn.ArtifactRef
	if err := json.Unmarshal(trs1["a"].Outputs["data"], &ref); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(r.dir, "artifacts", "sha256", ref.Hex()[:2], ref.Hex())
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(blob, old, old); err != nil {
		t.Fatal(err)
	}
	id2, trs2 := runOnce("v1", r.st)
	if fi, err := os.Stat(blob); err != nil || fi.ModTime().Before(time.Now().Add(-time.Hour)) {
		t.Errorf("the reused blob was not touched: %v %v", fi.ModTime(), err)
	}
	if m.ran.Load() != 1 || pm.ran.Load() != 1 {
		t.Fatalf("the second run ran make %d and pmake %d times in all, want once each", m.ran.Load(), pm.ran.Load())
	}
	for _, task := range []string{"a", "p"} {
		at := r.attempts(t, id2, task)[0]
		want := cairn.AttemptRef{RunID: id1, TaskID: task, Number: 1}
		if at.CachedFrom != want || at.State != cairn.TaskSucceeded || at.CacheKey != "" {
			t.Errorf("task %s: attempt %+v, want a success reusing %s", task, at, want)
		}
		if !bytes.Equal(mustJSON(t, trs1[task].Outputs), mustJSON(t, trs2[task].Outputs)) || trs2[task].Metrics["len"] != trs1[task].Metrics["len"] {
			t.Errorf("task %s: outputs %s %v, want %s %v", task, mustJSON(t, trs2[task].Outputs), trs2[task].Metrics,
				mustJSON(t, trs1[task].Outputs), trs1[task].Metrics)
		}
	}
	// It ran nothing and wrote no log: `cairn logs` and the web UI say
	// the reuse in its place, from the attempt's CachedFrom.
	for _, task := range []string{"a", "p"} {
		if log, err := r.openLog(t, id2, task, 1); !errors.Is(err, cairn.ErrNotFound) {
			t.Errorf("task %s: the reusing attempt wrote a log (%v): %q", task, err, log)
		}
	}

	// Another version of the built-in types: a runs; p, whose version is
	// its own, is still reused.
	id3, _ := runOnce("v2", r.st)
	if m.ran.Load() != 2 || pm.ran.Load() != 1 {
		t.Errorf("with another version: make ran %d, pmake %d times in all, want 2 and 1", m.ran.Load(), pm.ran.Load())
	}
	if at := r.attempts(t, id3, "a")[0]; !at.CachedFrom.IsZero() || at.CacheKey == a1.CacheKey {
		t.Errorf("another version: attempt %+v", at)
	}

	// The artifact gone: the earlier success is not reused.
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	id4, _ := runOnce("v1", r.st)
	if m.ran.Load() != 3 {
		t.Errorf("with the artifact gone make ran %d times in all, want 3", m.ran.Load())
	}
	if log := r.log(t, id4, "a", 1); !strings.Contains(log, "cairn: not reusing "+id1+"/a#1: output data: artifact "+ref.Digest+": not found") {
		t.Errorf("the log of an attempt that could not reuse: %q", log)
	}
	// Its run put the bytes back; now damage them, keeping the size.
	if err := os.Chmod(blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, []byte("HELLO"), 0o600); err != nil {
		t.Fatal(err)
	}
	id5, _ := runOnce("v1", r.st)
	if m.ran.Load() != 4 {
		t.Errorf("with the artifact damaged make ran %d times in all, want 4", m.ran.Load())
	}
	if log := r.log(t, id5, "a", 1); !strings.Contains(log, "hashing to") || strings.Contains(log, "not run: reused") {
		t.Errorf("the log of an attempt whose hits were damaged: %q", log)
	}
	if at := r.attempts(t, id5, "a")[0]; !at.CachedFrom.IsZero() {
		t.Errorf("a damaged artifact was reused: %+v", at)
	}

	// Without a cache the task runs, and its key is still recorded.
	id6, _ := runOnce("v1", nil)
	if at := r.attempts(t, id6, "a")[0]; m.ran.Load() != 5 || at.CacheKey != a1.CacheKey {
		t.Errorf("without a cache: ran %d, attempt %+v", m.ran.Load(), at)
	}
}

// TestCacheNeverForNoop: a task run marked cacheable whose type is never
// cached (a store written by hand, a type changed since) still runs every
// time and records no key.
func TestCacheNeverForNoop(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	s := r.startPool(t, 1, func(o *executor.Options) { o.Version, o.Cache = "v1", r.st })
	defer s.stop(ctx)
	wf, err := workflows.Parse("n.yaml", []byte("name: n\ntasks:\n  - {id: a, type: noop}\n"), workflows.Options{Types: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		params, _ := wf.BindParams(nil)
		run, trs := wf.NewRun(params, time.Now())
		trs[0].Cache = true
		if err := r.st.CreateRun(ctx, run, trs); err != nil {
			t.Fatal(err)
		}
		wantRun(t, r.drive(t, run.ID, wf), cairn.RunSucceeded)
		if at := r.attempts(t, run.ID, "a")[0]; at.CacheKey != "" || !at.CachedFrom.IsZero() {
			t.Errorf("run %d: noop's attempt %+v", i, at)
		}
	}
}

// TestCacheKeyHoldsNoSecret: the key is computed over the params as
// stored (Options.Redact puts the placeholders back), so a secret's value
// is never part of it.
func TestCacheKeyHoldsNoSecret(t *testing.T) {
	m := &maker{name: "make"}
	r := newRig(t, m)
	ctx := context.Background()
	keys := []string{}
	for _, value := range []string{"s3cret-one", "s3cret-two"} {
		s := r.startPool(t, 1, func(o *executor.Options) {
			o.Version = "v1"
			o.Redact = func(s string) string { return strings.ReplaceAll(s, value, "«secret:k»") }
		})
		wf, id := r.create(t, "name: s\ntasks:\n  - {id: a, type: make, with: {text: "+value+"}}\n")
		wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
		s.stop(ctx)
		keys = append(keys, r.attempts(t, id, "a")[0].CacheKey)
	}
	if keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("keys %q: want one key whatever the secret's value", keys)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// log reads attempt n's log of task in run id.
func (r *rig) log(t *testing.T, id, task string, n int) string {
	t.Helper()
	log, err := r.openLog(t, id, task, n)
	if err != nil {
		t.Fatalf("log of %s/%s#%d: %v", id, task, n, err)
	}
	return log
}

// openLog reads attempt n's log of task in run id, or returns why it
// cannot (cairn.ErrNotFound: the attempt wrote none).
func (r *rig) openLog(t *testing.T, id, task string, n int) (string, error) {
	t.Helper()
	logs, err := artifacts.OpenLogs(filepath.Join(r.dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := logs.Open(id, task, n)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

// sideReader is cached by default but reads an artifact beyond its
// inputs, as a type reading the production model does.
type sideReader struct{ ran atomic.Int64 }

func (s *sideReader) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "side", Cache: cairn.CacheAuto, Outputs: []cairn.PortInfo{{Name: "x"}}}
}

func (s *sideReader) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	s.ran.Add(1)
	ref, err := env.Artifacts.Put(ctx, "text/plain", strings.NewReader("production model"))
	if err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"x": json.RawMessage("1")}, Inputs: map[string]cairn.ArtifactRef{"current": ref}}, nil
}

// TestCacheNeverWhatReadMore: an attempt that read artifacts beyond its
// inputs records no key, so it is never reused, whatever its type says.
func TestCacheNeverWhatReadMore(t *testing.T) {
	s := &sideReader{}
	r := newRig(t, s)
	ctx := context.Background()
	p := r.startPool(t, 1, func(o *executor.Options) { o.Version, o.Cache = "v1", r.st })
	defer p.stop(ctx)
	for i := 0; i < 2; i++ {
		wf, id := r.create(t, "name: s\ntasks:\n  - {id: a, type: side}\n")
		wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
		if at := r.attempts(t, id, "a")[0]; at.CacheKey != "" || !at.CachedFrom.IsZero() {
			t.Errorf("run %d: attempt %+v", i, at)
		}
	}
	if s.ran.Load() != 2 {
		t.Errorf("ran %d times, want 2", s.ran.Load())
	}
}

// sourced reads data from "outside": src, which the test changes.
type sourced struct {
	ran    atomic.Int64
	src    atomic.Value // string: the digest SourceDigest says
	during string       // if set, src becomes it while the task runs
}

func (s *sourced) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "sourced", Cache: cairn.CacheAuto, Outputs: []cairn.PortInfo{{Name: "x"}}}
}

func (s *sourced) SourceDigest(context.Context, tasks.Request) (string, bool) {
	v := s.src.Load().(string)
	return v, v != "unreadable"
}

func (s *sourced) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	s.ran.Add(1)
	if s.during != "" {
		s.src.Store(s.during)
		s.during = ""
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"x": json.RawMessage("1")}}, nil
}

// TestCacheSourceDigest: a type's source digest is part of the key: the
// same data is reused, other data runs, data that cannot be digested is
// never cached, and an attempt whose data changed while it ran is not
// offered for reuse.
func TestCacheSourceDigest(t *testing.T) {
	s := &sourced{}
	s.src.Store("sha256:aaa")
	r := newRig(t, s)
	ctx := context.Background()
	p := r.startPool(t, 1, func(o *executor.Options) { o.Version, o.Cache = "v1", r.st })
	defer p.stop(ctx)
	run := func() *cairn.Attempt {
		t.Helper()
		wf, id := r.create(t, "name: s\ntasks:\n  - {id: a, type: sourced}\n")
		wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
		return r.attempts(t, id, "a")[0]
	}
	a1 := run()
	if a2 := run(); a2.CachedFrom.IsZero() || s.ran.Load() != 1 {
		t.Fatalf("the same data: attempt %+v, ran %d", a2, s.ran.Load())
	}
	s.src.Store("sha256:bbb")
	if a3 := run(); !a3.CachedFrom.IsZero() || a3.CacheKey == a1.CacheKey || s.ran.Load() != 2 {
		t.Errorf("other data: attempt %+v, ran %d", a3, s.ran.Load())
	}
	s.src.Store("unreadable")
	if a4 := run(); a4.CacheKey != "" || s.ran.Load() != 3 {
		t.Errorf("data that cannot be digested: attempt %+v, ran %d", a4, s.ran.Load())
	}
	s.src.Store("sha256:ccc")
	s.during = "sha256:ddd"
	if a5 := run(); a5.CacheKey != "" || s.ran.Load() != 4 {
		t.Errorf("data changed while it ran: attempt %+v, ran %d", a5, s.ran.Load())
	}
	s.src.Store("sha256:ccc")
	if a6 := run(); !a6.CachedFrom.IsZero() || s.ran.Load() != 5 {
		t.Errorf("after a run whose data changed under it: attempt %+v, ran %d", a6, s.ran.Load())
	}
}

// otherType is a cache whose hits are all of another task type, as an
// entry a worker forged under a key it did not lease would be.
type otherType struct{ executor.Cache }

func (o otherType) FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error) {
	hits, err := o.Cache.FindCached(ctx, key, limit)
	for i := range hits {
		hits[i].Type = "shell"
	}
	return hits, err
}

// TestCacheReuseNeedsTheSameType: a hit of another task type is passed
// over, saying so in the log, and the task runs.
func TestCacheReuseNeedsTheSameType(t *testing.T) {
	m := &maker{name: "make"}
	r := newRig(t, m)
	const src = `
name: cached
tasks:
  - {id: a, type: make, with: {text: hello}}
`
	ctx := context.Background()
	runOnce := func(cache executor.Cache) string {
		t.Helper()
		s := r.startPool(t, 1, func(o *executor.Options) { o.Version, o.Cache = "v1", cache })
		wf, id := r.create(t, src)
		wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
		s.stop(ctx)
		return id
	}
	id1 := runOnce(r.st)
	id2 := runOnce(otherType{r.st})
	if at := r.attempts(t, id2, "a")[0]; m.ran.Load() != 2 || !at.CachedFrom.IsZero() {
		t.Fatalf("ran %d times, attempt %+v: want a second run, not a reuse of a hit of another type", m.ran.Load(), at)
	}
	if log := r.log(t, id2, "a", 1); !strings.Contains(log, "cairn: not reusing "+id1+"/a#1: an attempt of type shell, not make") {
		t.Errorf("the attempt's log: %q", log)
	}
	id3 := runOnce(r.st)
	if m.ran.Load() != 2 {
		t.Errorf("a hit of the same type was not reused: ran %d times", m.ran.Load())
	}
	if log, err := r.openLog(t, id3, "a", 1); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("a reuse of the first hit wrote a log (%v): %q", err, log)
	}
	// A hit passed over before the one reused: the log says both.
	id4 := runOnce(forgedFirst{r.st})
	at := r.attempts(t, id4, "a")[0]
	if want := (cairn.AttemptRef{RunID: id2, TaskID: "a", Number: 1}); m.ran.Load() != 2 || at.CachedFrom != want {
		t.Fatalf("ran %d times, attempt %+v: want a reuse of %s after the forged hit", m.ran.Load(), at, want)
	}
	key := r.attempts(t, id2, "a")[0].CacheKey
	log := r.log(t, id4, "a", 1)
	if !strings.Contains(log, "cairn: not reusing "+id2+"/a#1: an attempt of type shell, not make\n"+
		"cairn: not run: reused the outputs of "+id2+"/a#1 (cache key "+key+")\n") {
		t.Errorf("the log of a reuse after a hit passed over: %q", log)
	}
}

// forgedFirst is a cache whose first hit is a copy of the real first one
// of another task type, before the real ones.
type forgedFirst struct{ executor.Cache }

func (f forgedFirst) FindCached(ctx context.Context, key string, limit int) ([]cairn.CachedAttempt, error) {
	hits, err := f.Cache.FindCached(ctx, key, limit)
	if err != nil || len(hits) == 0 {
		return hits, err
	}
	forged := hits[0]
	forged.Type = "shell"
	return append([]cairn.CachedAttempt{forged}, hits...), nil
}

// TestCacheChainInOneWrite: a re-run of a chain of cached tasks reuses
// every task in the write of the run's first plan, which hands the first
// task to the pool's waiting dispatcher, and in the completion's write of
// a task that ran (Pool.ReuseHandedOut through
// scheduler.Broker.SetReuser): one commit for the chain, not one per
// task, and each reuse recorded as the slot's
// would be — an attempt of the pool's worker, CachedFrom, no key, no log,
// the lineage edges of what it read and wrote, the outputs and metrics of
// the attempt reused. A damaged artifact is never reused in the write:
// its slot runs the task (and says why in its log), and the chain after
// it is reused in that task's completion.
func TestCacheChainInOneWrite(t *testing.T) {
	m := &maker{name: "make"}
	r := newRig(t, m)
	const src = `
name: chain
tasks:
  - {id: a, type: make, with: {text: one}}
  - {id: b, type: make, inputs: {in: "${{ tasks.a.outputs.data }}"}, with: {text: two}}
  - {id: c, type: make, inputs: {in: "${{ tasks.b.outputs.data }}"}, with: {text: three}}
  - {id: d, type: make, inputs: {in: "${{ tasks.c.outputs.data }}"}, with: {text: four}}
`
	ctx := context.Background()
	runOnce := func() (string, int64) {
		t.Helper()
		s := r.startPool(t, 1, func(o *executor.Options) { o.Version, o.Cache = "v1", r.st })
		r.broker.SetReuser(s.pool)
		defer r.broker.SetReuser(nil)
		wf, id := r.create(t, src)
		before := r.st.WriteStats().Transactions
		wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
		n := r.st.WriteStats().Transactions - before
		s.stop(ctx)
		return id, n
	}
	id1, n1 := runOnce()
	if m.ran.Load() != 4 {
		t.Fatalf("the first run ran make %d times, want 4", m.ran.Load())
	}
	id2, n2 := runOnce()
	if m.ran.Load() != 4 {
		t.Fatalf("the re-run ran make %d more times, want none", m.ran.Load()-4)
	}
	// The re-run: the claim, the first plan — a handed to the pool's
	// waiting dispatcher and reused in the same write, then b, c, d and
	// the run's end —, and the claim's release when the driver stops (2
	// or 3); if the dispatcher was not waiting yet, its lease of a and
	// a's completion, b, c and d reused in it (4 or 5). The first run
	// wrote the claim, the plan, a lease of a (or not), one completion a
	// task and the release (or not): 6 to 8, as would a re-run without
	// reuses in the write. (scheduler's TestFirstPlanReusesInItsWrite and
	// TestCompletionReusesInItsWrite count each path exactly.)
	if n2 > 5 || n1 < 6 {
		t.Errorf("transactions of the first run %d, of the re-run %d; want 6 or more and 5 or fewer: the reuses in the first plan's or a's write", n1, n2)
	}
	trs1, trs2 := r.taskRuns(t, id1), r.taskRuns(t, id2)
	for _, task := range []string{"a", "b", "c", "d"} {
		ats := r.attempts(t, id2, task)
		if len(ats) != 1 {
			t.Fatalf("task %s: %d attempts, want 1", task, len(ats))
		}
		at := ats[0]
		want := cairn.AttemptRef{RunID: id1, TaskID: task, Number: 1}
		if at.CachedFrom != want || at.State != cairn.TaskSucceeded || at.CacheKey != "" || at.Version != "v1" ||
			at.Worker != "pool:"+t.Name() || at.Type != "make" {
			t.Errorf("task %s: attempt %+v, want a success of the pool's worker reusing %s", task, at, want)
		}
		if !bytes.Equal(mustJSON(t, trs1[task].Outputs), mustJSON(t, trs2[task].Outputs)) || trs2[task].Metrics["len"] != trs1[task].Metrics["len"] {
			t.Errorf("task %s: outputs %s %v, want %s %v", task, mustJSON(t, trs2[task].Outputs), trs2[task].Metrics,
				mustJSON(t, trs1[task].Outputs), trs1[task].Metrics)
		}
		if log, err := r.openLog(t, id2, task, 1); !errors.Is(err, cairn.ErrNotFound) {
			t.Errorf("task %s: the reusing attempt wrote a log (%v): %q", task, err, log)
		}
		e1, err := r.st.AttemptEdges(ctx, cairn.AttemptRef{RunID: id1, TaskID: task, Number: 1})
		if err != nil {
			t.Fatal(err)
		}
		e2, err := r.st.AttemptEdges(ctx, cairn.AttemptRef{RunID: id2, TaskID: task, Number: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(e2) != len(e1) || len(e2) == 0 {
			t.Errorf("task %s: lineage edges %+v, want as many as the first run's %+v", task, e2, e1)
		}
		for i := range min(len(e1), len(e2)) {
			if e1[i].Direction != e2[i].Direction || e1[i].Port != e2[i].Port || e1[i].Digest != e2[i].Digest {
				t.Errorf("task %s: edge %+v, want %+v", task, e2[i], e1[i])
			}
		}
	}

	// c's artifact damaged (its size kept): c is not reused in the first
	// plan's write but handed to its slot, which passes the hit over and
	// runs it; d is then reused in c's completion.
	var ref cairn.ArtifactRef
	if err := json.Unmarshal(trs1["c"].Outputs["data"], &ref); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(r.dir, "artifacts", "sha256", ref.Hex()[:2], ref.Hex())
	if err := os.Chmod(blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, []byte("THREE"), 0o600); err != nil {
		t.Fatal(err)
	}
	id3, _ := runOnce()
	if m.ran.Load() != 5 {
		t.Errorf("with c's artifact damaged make ran %d more times, want 1 (c)", m.ran.Load()-4)
	}
	if at := r.attempts(t, id3, "c")[0]; !at.CachedFrom.IsZero() {
		t.Errorf("a damaged artifact was reused: %+v", at)
	}
	if log := r.log(t, id3, "c", 1); !strings.Contains(log, "cairn: not reusing "+id1+"/c#1") {
		t.Errorf("c's log does not say why it ran: %q", log)
	}
	for _, task := range []string{"a", "b", "d"} {
		if at := r.attempts(t, id3, task)[0]; at.CachedFrom.IsZero() {
			t.Errorf("task %s was not reused: %+v", task, at)
		}
	}
}

// fixedCache finds the same hits for every key.
type fixedCache struct{ hits []cairn.CachedAttempt }

func (c fixedCache) FindCached(context.Context, string, int) ([]cairn.CachedAttempt, error) {
	return c.hits, nil
}

// ReuseHandedOut hashes at most a mebibyte inside the write: a hit whose
// artifacts are larger and not known intact to the pool's store is left
// to the slot (which hashes them outside the write); once the store
// remembers them, or when they are small, it is reused.
func TestReuseHandedOutHashesLittle(t *testing.T) {
	m := &maker{name: "make"}
	r := newRig(t, m)
	ctx := context.Background()
	other, err := artifacts.Open(filepath.Join(r.dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	big, err := other.Put(ctx, "text/plain", strings.NewReader(strings.Repeat("x", 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	small, err := other.Put(ctx, "text/plain", strings.NewReader("small"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := artifacts.Open(filepath.Join(r.dir, "artifacts")) // the pool's: it hashed nothing yet
	if err != nil {
		t.Fatal(err)
	}
	hit := func(ref cairn.ArtifactRef) fixedCache {
		return fixedCache{hits: []cairn.CachedAttempt{{Attempt: cairn.AttemptRef{RunID: "01earlierrun0000", TaskID: "a", Number: 1},
			Type: "make", Outputs: map[string]json.RawMessage{"data": ref.JSON()}}}}
	}
	for _, c := range []struct {
		name     string
		ref      cairn.ArtifactRef
		remember bool
		want     bool
	}{
		{"a large blob the store never hashed", big, false, false},
		{"a small blob the store never hashed", small, false, true},
		{"a large blob the store remembers", big, true, true},
	} {
		if c.remember {
			if err := dir.TouchVerified(ctx, c.ref); err != nil {
				t.Fatal(err)
			}
		}
		s := r.startPool(t, 1, func(o *executor.Options) { o.Version, o.Cache, o.Artifacts = "v1", hit(c.ref), dir })
		it := cairn.WorkItem{Lease: cairn.Lease{RunID: "r", TaskID: "a", Attempt: 1, Token: "t", Worker: "pool:" + t.Name()},
			Type: "make", Params: json.RawMessage(`{"text":"x"}`), Cache: true, Started: true}
		comp, ok := s.pool.ReuseHandedOut(ctx, it, nil)
		if ok != c.want || ok && comp.CachedFrom.IsZero() {
			t.Errorf("%s: reused in the write %v (%+v), want %v", c.name, ok, comp, c.want)
		}
		s.stop(ctx)
	}
}
