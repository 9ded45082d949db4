package scheduler

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// fakeGraph is a DAG given as upstream lists, with per-task `when:`
// outcomes and reference failures.
type fakeGraph struct {
	ids     []string
	up      map[string][]string
	skip    map[string]bool // when: false
	badRef  map[string]bool // Prepare fails
	prepped map[string]int  // Prepare calls
}

func (g *fakeGraph) TaskIDs() []string           { return g.ids }
func (g *fakeGraph) Upstream(id string) []string { return g.up[id] }
func (g *fakeGraph) Prepare(id string, s Scope) (Prepared, error) {
	if g.prepped != nil {
		g.prepped[id]++
	}
	if g.badRef[id] {
		return Prepared{}, fmt.Errorf("task %s: unknown output", id)
	}
	for _, u := range g.up[id] {
		if _, ok := s.Output(u, "n"); !ok {
			panic(fmt.Sprintf("task %s prepared before upstream %s succeeded", id, u))
		}
	}
	return Prepared{Run: !g.skip[id], Params: json.RawMessage(`{}`)}, nil
}

// randomGraph builds a DAG over n tasks with edges only from lower to
// higher index, so it is acyclic and the index order is topological.
func randomGraph(r *rand.Rand, n int) *fakeGraph {
	g := &fakeGraph{up: map[string][]string{}, skip: map[string]bool{}, badRef: map[string]bool{}}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("t%02d", i)
		g.ids = append(g.ids, id)
		for j := 0; j < i; j++ {
			if r.IntN(4) == 0 {
				g.up[id] = append(g.up[id], g.ids[j])
			}
		}
		g.skip[id] = r.IntN(12) == 0
		g.badRef[id] = r.IntN(30) == 0
	}
	return g
}

func newSnapshot(g *fakeGraph, retries, maxActive int) *Snapshot {
	var trs []*cairn.TaskRun
	for _, id := range g.ids {
		trs = append(trs, &cairn.TaskRun{RunID: "r1", TaskID: id, State: cairn.TaskPending, Version: 1,
			Retry: cairn.RetryPolicy{Retries: retries, Backoff: time.Second, Factor: 2}})
	}
	s, err := NewSnapshot(&cairn.Run{ID: "r1", State: cairn.RunQueued, Version: 1, MaxActive: maxActive}, g, trs)
	if err != nil {
		panic(err)
	}
	s.Now = time.Unix(1000, 0)
	return s
}

// apply folds a plan into the snapshot the way a store would, checking
// each change against the state machine and the compare-and-set version.
func apply(t *testing.T, s *Snapshot, p *Plan) {
	t.Helper()
	for _, c := range p.Tasks {
		tr := s.Task(c.TaskID)
		if tr.Version != c.FromVersion || tr.State != c.From {
			t.Fatalf("change %+v does not match row %s@%d", c, tr.State, tr.Version)
		}
		if !c.From.CanTransition(c.To) {
			t.Fatalf("illegal transition %s: %s -> %s", c.TaskID, c.From, c.To)
		}
		if c.To == cairn.TaskReady {
			for _, u := range s.Graph.Upstream(c.TaskID) {
				if st := s.Task(u).State; st != cairn.TaskSucceeded {
					t.Fatalf("%s ready while upstream %s is %s", c.TaskID, u, st)
				}
			}
		}
		tr.State, tr.Version, tr.Error = c.To, tr.Version+1, c.Error
	}
	if rc := p.Run; rc != nil {
		if s.Run.Version != rc.FromVersion || s.Run.State != rc.From || !rc.From.CanTransition(rc.To) {
			t.Fatalf("run change %+v does not fit run %s@%d", rc, s.Run.State, s.Run.Version)
		}
		s.Run.State, s.Run.Version = rc.To, s.Run.Version+1
	}
}

// TestPlanRandomRuns drives random DAGs with random task outcomes to the
// end and checks the planner's invariants on every step.
func TestPlanRandomRuns(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		g := randomGraph(r, 1+r.IntN(25))
		retries, maxActive := r.IntN(3), r.IntN(4)
		if r.IntN(2) == 0 {
			maxActive = 0 // the Dirty path is taken only without a per-run limit
		}
		s := newSnapshot(g, retries, maxActive)
		terminalSeen := map[string]cairn.TaskState{}
		// dirty tracks the tasks changed since the last plan, the way the
		// driver does; nil until the first plan, which sees everything.
		var dirty []int
		for step := 0; ; step++ {
			if step > 10000 {
				t.Fatalf("seed %d: run did not finish", seed)
			}
			before := fmt.Sprint(s.Run.State, len(s.Tasks))
			s.Reindex()
			p := PlanRun(s)
			if p2 := PlanRun(s); !reflect.DeepEqual(p, p2) {
				t.Fatalf("seed %d: plan not deterministic", seed)
			}
			if dirty != nil {
				// Looking only at what changed must plan exactly what
				// looking at everything plans.
				s.Dirty = dirty
				if inc := PlanRun(s); !reflect.DeepEqual(p, inc) {
					t.Fatalf("seed %d step %d: the Dirty plan differs from the full one:\nfull  %+v\ndirty %+v (dirty %v)", seed, step, p, inc, dirty)
				}
				s.Dirty = nil
			}
			if fmt.Sprint(s.Run.State, len(s.Tasks)) != before {
				t.Fatalf("seed %d: PlanRun modified its snapshot", seed)
			}
			dirty = []int{}
			for _, c := range p.Tasks {
				dirty = append(dirty, s.Topo.Index[c.TaskID])
			}
			apply(t, s, p)
			active := 0
			for _, tr := range s.Tasks {
				id := tr.TaskID
				if old, ok := terminalSeen[id]; ok && old != tr.State {
					t.Fatalf("seed %d: terminal task %s changed %s -> %s", seed, id, old, tr.State)
				}
				if tr.State.Terminal() {
					terminalSeen[id] = tr.State
				}
				if tr.State == cairn.TaskReady || tr.State.Active() {
					active++
				}
			}
			if maxActive > 0 && active > maxActive {
				t.Fatalf("seed %d: %d active tasks over the limit %d", seed, active, maxActive)
			}
			if s.Run.State.Terminal() {
				checkFinal(t, seed, s)
				break
			}
			if !p.Empty() {
				continue
			}
			// Nothing to plan: a worker starts a ready task or finishes a
			// running one, or time passes.
			var ready, running []*cairn.TaskRun
			for _, id := range g.ids {
				switch tr := s.Task(id); tr.State {
				case cairn.TaskReady:
					ready = append(ready, tr)
				case cairn.TaskRunning:
					running = append(running, tr)
				}
			}
			if len(ready) == 0 && len(running) == 0 {
				if p.WakeAt.IsZero() {
					t.Fatalf("seed %d: stuck: nothing ready or running, no wake time, run %s", seed, s.Run.State)
				}
				s.Now = p.WakeAt
				continue
			}
			if len(ready) > 0 && (len(running) == 0 || r.IntN(2) == 0) {
				tr := ready[r.IntN(len(ready))]
				tr.State, tr.Attempt = cairn.TaskRunning, tr.Attempt+1
				tr.Version++
				dirty = append(dirty, s.Topo.Index[tr.TaskID])
				continue
			}
			tr := running[r.IntN(len(running))]
			tr.Version++
			dirty = append(dirty, s.Topo.Index[tr.TaskID])
			if r.IntN(4) == 0 {
				if tr.Attempt < tr.Retry.MaxAttempts() {
					tr.State, tr.RetryAt = cairn.TaskRetrying, s.Now.Add(tr.Retry.Delay(tr.Attempt))
				} else {
					tr.State = cairn.TaskFailed
				}
			} else {
				tr.State, tr.Outputs = cairn.TaskSucceeded, map[string]json.RawMessage{"n": json.RawMessage("1")}
			}
		}
	}
}

func checkFinal(t *testing.T, seed uint64, s *Snapshot) {
	t.Helper()
	ok := true
	for _, tr := range s.Tasks {
		id := tr.TaskID
		if !tr.State.Terminal() {
			t.Fatalf("seed %d: run %s with task %s still %s", seed, s.Run.State, id, tr.State)
		}
		if tr.State != cairn.TaskSucceeded && tr.State != cairn.TaskSkipped {
			ok = false
		}
		if tr.State == cairn.TaskUpstreamFailed {
			found := false
			for _, u := range s.Graph.Upstream(id) {
				if st := s.Task(u).State; st == cairn.TaskFailed || st == cairn.TaskUpstreamFailed || st == cairn.TaskCancelled {
					found = true
				}
			}
			if !found {
				t.Fatalf("seed %d: %s upstream_failed without a failed upstream", seed, id)
			}
		}
	}
	if want := map[bool]cairn.RunState{true: cairn.RunSucceeded, false: cairn.RunFailed}[ok]; s.Run.State != want {
		t.Fatalf("seed %d: run %s, want %s", seed, s.Run.State, want)
	}
}

func TestPlanChainPropagatesInOnePlan(t *testing.T) {
	g := &fakeGraph{ids: []string{"a", "b", "c", "d"}, up: map[string][]string{"b": {"a"}, "c": {"b"}, "d": {"c"}}}
	s := newSnapshot(g, 0, 0)
	s.Run.State = cairn.RunRunning
	s.Task("a").State = cairn.TaskFailed
	p := PlanRun(s)
	var got []string
	for _, c := range p.Tasks {
		got = append(got, c.TaskID+":"+string(c.To))
	}
	want := []string{"b:upstream_failed", "c:upstream_failed", "d:upstream_failed"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if p.Run == nil || p.Run.To != cairn.RunFailed {
		t.Fatalf("run change %+v, want failed", p.Run)
	}
}

func TestPlanSkipPropagatesAndRunSucceeds(t *testing.T) {
	g := &fakeGraph{ids: []string{"eval", "deploy", "notify"}, up: map[string][]string{"deploy": {"eval"}, "notify": {"deploy"}},
		skip: map[string]bool{"deploy": true}}
	s := newSnapshot(g, 0, 0)
	s.Run.State = cairn.RunRunning
	s.Task("eval").State = cairn.TaskSucceeded
	s.Task("eval").Outputs = map[string]json.RawMessage{"n": json.RawMessage("1")}
	p := PlanRun(s)
	apply(t, s, p)
	if s.Task("deploy").State != cairn.TaskSkipped || s.Task("notify").State != cairn.TaskSkipped {
		t.Fatalf("deploy %s notify %s, want skipped", s.Task("deploy").State, s.Task("notify").State)
	}
	if s.Run.State != cairn.RunSucceeded {
		t.Fatalf("run %s, want succeeded", s.Run.State)
	}
}

func TestPlanCancelCancelsEverythingUnfinished(t *testing.T) {
	g := &fakeGraph{ids: []string{"a", "b", "c"}, up: map[string][]string{"c": {"a"}}}
	s := newSnapshot(g, 0, 0)
	s.Run.State = cairn.RunRunning
	s.Task("a").State = cairn.TaskSucceeded
	s.Task("b").State = cairn.TaskRunning
	s.Cancel = true
	p := PlanRun(s)
	apply(t, s, p)
	if s.Task("a").State != cairn.TaskSucceeded || s.Task("b").State != cairn.TaskCancelled || s.Task("c").State != cairn.TaskCancelled {
		t.Fatalf("states a=%s b=%s c=%s", s.Task("a").State, s.Task("b").State, s.Task("c").State)
	}
	if s.Run.State != cairn.RunCancelled {
		t.Fatalf("run %s, want cancelled", s.Run.State)
	}
}

func TestPlanRetryWaitsForBackoff(t *testing.T) {
	g := &fakeGraph{ids: []string{"a"}}
	s := newSnapshot(g, 2, 0)
	s.Run.State = cairn.RunRunning
	a := s.Task("a")
	a.State, a.Attempt, a.RetryAt = cairn.TaskRetrying, 1, s.Now.Add(5*time.Second)
	p := PlanRun(s)
	if !p.Empty() || !p.WakeAt.Equal(a.RetryAt) {
		t.Fatalf("before backoff: plan %+v, want empty with WakeAt %v", p, a.RetryAt)
	}
	s.Now = a.RetryAt
	p = PlanRun(s)
	if len(p.Tasks) != 1 || p.Tasks[0].To != cairn.TaskReady {
		t.Fatalf("after backoff: %+v, want a ready", p.Tasks)
	}
}

func TestRetryDelayIsExponentialAndCapped(t *testing.T) {
	p := cairn.RetryPolicy{Retries: 10, Backoff: time.Second, Factor: 2, MaxBackoff: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := p.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
}

// BenchmarkPlanRun10k plans a run of 10,000 independent tasks of which
// half are done: the cost of one wake-up of the driver on a large fan.
func BenchmarkPlanRun10k(b *testing.B) {
	g := &fakeGraph{up: map[string][]string{}}
	for i := 0; i < 10000; i++ {
		g.ids = append(g.ids, fmt.Sprintf("t%05d", i))
	}
	s := newSnapshot(g, 0, 0)
	s.Run.State = cairn.RunRunning
	for i, tr := range s.Tasks {
		switch {
		case i < 5000:
			tr.State = cairn.TaskSucceeded
		default:
			tr.State = cairn.TaskRunning
		}
	}
	for b.Loop() {
		if p := PlanRun(s); !p.Empty() {
			b.Fatalf("plan %+v, want empty", p)
		}
	}
}

// BenchmarkPlanRun10kDirty is the same wake-up when the driver knows which
// task changed (one completion): the plan looks at that task only.
func BenchmarkPlanRun10kDirty(b *testing.B) {
	g := &fakeGraph{up: map[string][]string{}}
	for i := 0; i < 10000; i++ {
		g.ids = append(g.ids, fmt.Sprintf("t%05d", i))
	}
	s := newSnapshot(g, 0, 0)
	s.Run.State = cairn.RunRunning
	for i, tr := range s.Tasks {
		if i < 5000 {
			tr.State = cairn.TaskSucceeded
		} else {
			tr.State = cairn.TaskRunning
		}
	}
	s.Reindex()
	s.Dirty = []int{4999}
	for b.Loop() {
		if p := PlanRun(s); !p.Empty() {
			b.Fatalf("plan %+v, want empty", p)
		}
	}
}

func TestSummarizeSaysTaskOrTasks(t *testing.T) {
	for _, c := range []struct {
		bad  []string
		want string
	}{
		{[]string{"train failed"}, "1 task did not succeed: train failed"},
		{[]string{"a failed", "b upstream_failed"}, "2 tasks did not succeed: a failed, b upstream_failed"},
		{[]string{"a", "b", "c", "d", "e", "f", "g"}, "7 tasks did not succeed: a, b, c, d, e, and 2 more"},
	} {
		if got := summarize(c.bad); got != c.want {
			t.Errorf("summarize(%v) = %q, want %q", c.bad, got, c.want)
		}
	}
}
