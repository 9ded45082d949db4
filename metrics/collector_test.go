package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/metrics"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/workflows"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait: reaching it is a failure.
const waitLimit = 30 * time.Second

// probe is the test's task type: with mode "fail" it fails for good;
// with "hang" its first attempt waits until it is stopped (and says it
// started); otherwise, and on later attempts, it succeeds.
type probe struct {
	started chan string // "task#attempt"
}

func (p *probe) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "probe", Params: []cairn.ParamInfo{{Name: "mode", Kind: cairn.KindString}}}
}

func (p *probe) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	var params struct {
		Mode string `json:"mode"`
	}
	if err := req.DecodeParams(&params); err != nil {
		return tasks.Result{}, err
	}
	p.started <- fmt.Sprintf("%s#%d", req.TaskID, req.Attempt)
	switch {
	case params.Mode == "fail":
		return tasks.Result{}, cairn.Permanentf("probe %s: failing as asked", req.TaskID)
	case params.Mode == "hang" && req.Attempt == 1:
		<-ctx.Done()
		return tasks.Result{}, context.Cause(ctx)
	}
	return tasks.Result{}, nil
}

// deafLeaser drops the heartbeats of the leases deaf picks, as a worker
// cut off from the database would: their leases expire.
type deafLeaser struct {
	*scheduler.Broker
	deaf func(cairn.Lease) bool
}

func (l deafLeaser) HeartbeatMany(ctx context.Context, leases []cairn.Lease) ([]cairn.HeartbeatResult, error) {
	out := make([]cairn.HeartbeatResult, len(leases))
	var keep []cairn.Lease
	var at []int
	for i, le := range leases {
		if l.deaf(le) {
			out[i].Err = errors.New("test: heartbeat dropped")
			continue
		}
		keep, at = append(keep, le), append(at, i)
	}
	rs, err := l.Broker.HeartbeatMany(ctx, keep)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i] = rs[j]
	}
	return out, nil
}

// rig is cairn server's scheduling wired as cmd/cairn/cmd_server.go wires
// it, with its collector, over a real SQLite file.
type rig struct {
	st    *sqlite.Store
	reg   *tasks.Registry
	svc   *scheduler.Service
	coll  *metrics.Collector
	web   *httptest.Server
	probe *probe
	ended chan string
	// create makes a queued run of the workflow src, for the service to
	// start.
	create func(t *testing.T, src string) string
}

const leaseTTL = time.Second

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &probe{started: make(chan string, 100)}
	reg, err := tasks.NewRegistry(noop.New(), p)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{st: st, reg: reg, probe: p, ended: make(chan string, 10)}
	const owner = "test:1:server"
	r.coll = metrics.New(metrics.Options{
		Counts: func(ctx context.Context) (metrics.Counts, error) {
			c, err := st.StateCounts(ctx, owner)
			return metrics.Counts{Runs: c.Runs, Tasks: c.Tasks, Ready: c.Ready, Owned: c.Owned}, err
		},
		Writes: func() (int64, int64) { w := st.WriteStats(); return w.Statements, w.Transactions },
		Leader: func() (bool, int64) { l, ok := r.svc.Leader(); return ok, l.Epoch },
		Build:  metrics.BuildInfo{Version: "v1.2.3-test", Commit: "abc123", GoVersion: runtime.Version()},
		Start:  time.Now(),
	})
	broker := scheduler.NewBroker(st, scheduler.BrokerOptions{LeaseTTL: leaseTTL, Name: owner, Observe: r.coll.ObserveTask})
	graphs := map[string]scheduler.Graph{}
	var mu sync.Mutex
	r.svc = scheduler.NewService(st, broker, scheduler.ServiceOptions{
		Owner: owner, Adopt: true, PollInterval: 20 * time.Millisecond, Observe: r.coll.ObserveService,
		Load: func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) {
			mu.Lock()
			defer mu.Unlock()
			return graphs[run.ID], nil
		},
		Ended: func(id string, final *cairn.Run, err error) { r.ended <- id },
	})
	arts, err := artifacts.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	// One slot: while the hanging attempt holds it, a ready task waits
	// in the queue.
	pool := executor.New(deafLeaser{Broker: broker, deaf: func(l cairn.Lease) bool { return l.TaskID == "b" && l.Attempt == 1 }},
		executor.Options{Worker: owner, Slots: 1, Types: reg, Artifacts: arts, Logs: logs, ScratchDir: t.TempDir()})
	r.svc.Start(ctx)
	pool.Start(ctx)
	t.Cleanup(func() {
		pool.StopAndCancel()
		r.svc.Stop(ctx)
	})
	r.web = httptest.NewServer(r.coll)
	t.Cleanup(r.web.Close)
	r.create = func(t *testing.T, src string) string {
		t.Helper()
		wf, err := workflows.Parse("wf.yaml", []byte(src), workflows.Options{Types: reg})
		if err != nil {
			t.Fatal(err)
		}
		params, err := wf.BindParams(nil)
		if err != nil {
			t.Fatal(err)
		}
		run, trs := wf.NewRun(params, time.Now())
		run.State = cairn.RunQueued
		mu.Lock()
		graphs[run.ID] = wf
		mu.Unlock()
		if err := st.CreateRun(ctx, run, trs); err != nil {
			t.Fatal(err)
		}
		return run.ID
	}
	return r
}

// waitEnded waits for run id to end and returns it.
func (r *rig) waitEnded(t *testing.T, id string) *cairn.Run {
	t.Helper()
	select {
	case got := <-r.ended:
		if got != id {
			t.Fatalf("run %s ended, want %s", got, id)
		}
	case <-time.After(waitLimit):
		t.Fatalf("run %s did not end within %s", id, waitLimit)
	}
	run, err := r.st.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func (r *rig) waitStarted(t *testing.T, what string) {
	t.Helper()
	for {
		select {
		case got := <-r.probe.started:
			if got == what {
				return
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s did not start within %s", what, waitLimit)
		}
	}
}

// scrape GETs /metrics, checks the response is a valid exposition
// (promtool's check when it is installed, and this file's own parse) and
// returns its samples by series ("name{labels}" as written).
func (r *rig) scrape(t *testing.T) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(r.web.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != metrics.ContentType {
		t.Fatalf("GET /metrics: %s, Content-Type %q:\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	promtool(t, string(body))
	return parse(t, string(body)), string(body)
}

// promtool runs `promtool check metrics` (Debian's prometheus package,
// which make deps installs) on an exposition: it parses it as Prometheus
// does and lints it (names, units, _total, HELP).
func promtool(t *testing.T, text string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		path, err = exec.LookPath("../bin/deps/promtool") // where make deps puts it
	}
	if err != nil {
		t.Log("promtool is not installed (make deps takes it out of Debian's prometheus package into bin/deps): the exposition is checked by this test's own parser only")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nthe exposition:\n%s", err, out, text)
	}
}

var (
	helpLine   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$`)
	typeLine   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$`)
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (\S+)$`)
	leLabel    = regexp.MustCompile(`,?le="([^"]*)"`)
)

// parse reads an exposition strictly, as this package writes it: every
// family's HELP then TYPE then its samples, no family twice, sample
// names of their family (histograms: _bucket, _sum, _count), values
// that parse, counters not negative, histogram buckets cumulative and
// ending with +Inf equal to _count.
func parse(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	seen := map[string]bool{}
	var family, typ string
	var help bool
	buckets := map[string][]float64{} // histogram series → its bucket counts in order
	les := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := helpLine.FindStringSubmatch(line); m != nil {
			if seen[m[1]] {
				t.Fatalf("line %d: family %s twice", n, m[1])
			}
			seen[m[1]], family, typ, help = true, m[1], "", true
			continue
		}
		if m := typeLine.FindStringSubmatch(line); m != nil {
			if m[1] != family || !help || typ != "" {
				t.Fatalf("line %d: TYPE of %s not right after its HELP", n, m[1])
			}
			typ = m[2]
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d does not parse: %q", n, line)
		}
		name, labels := m[1], m[2]
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("line %d: value %q: %v", n, m[3], err)
		}
		if typ == "" {
			t.Fatalf("line %d: sample %s before its family's TYPE", n, name)
		}
		switch {
		case typ == "histogram" && name == family+"_bucket":
			le := leLabel.FindStringSubmatch(labels)
			if le == nil {
				t.Fatalf("line %d: bucket without le", n)
			}
			series := leLabel.ReplaceAllString(labels, "")
			series = strings.Replace(series, "{,", "{", 1)
			if series == "{}" {
				series = ""
			}
			if bs := buckets[family+series]; len(bs) > 0 && v < bs[len(bs)-1] {
				t.Fatalf("line %d: bucket %s below the one before: not cumulative", n, line)
			}
			buckets[family+series] = append(buckets[family+series], v)
			les[family+series] = append(les[family+series], le[1])
		case typ == "histogram" && (name == family+"_sum" || name == family+"_count"):
			if name == family+"_count" {
				bs, ls := buckets[family+labels], les[family+labels]
				if len(bs) == 0 || ls[len(ls)-1] != "+Inf" || bs[len(bs)-1] != v {
					t.Fatalf("line %d: %s%s = %v, but its buckets end %v %v: want +Inf equal to the count", n, name, labels, v, ls, bs)
				}
			}
		case name == family && typ != "histogram":
			if typ == "counter" && (v < 0 || !strings.HasSuffix(name, "_total")) {
				t.Fatalf("line %d: counter %s = %v", n, name, v)
			}
		default:
			t.Fatalf("line %d: sample %s in family %s (%s)", n, name, family, typ)
		}
		if !strings.HasPrefix(name, "cairn_") {
			t.Fatalf("line %d: %s is not named cairn_*", n, name)
		}
		out[name+labels] = v
	}
	return out
}

// A succeeded run with a lease that expired and a failed run move the
// counters and histograms as they should; the database's gauges follow
// the runs; the scrapes are valid and counters never go down.
func TestCollectorOverRealRuns(t *testing.T) {
	r := newRig(t)
	// a, then b and c: b's first attempt hangs with its heartbeats
	// dropped, so its lease expires; c waits in the queue meanwhile.
	ok := r.create(t, `name: ok
tasks:
  - {id: a, type: noop}
  - {id: b, type: probe, needs: [a], with: {mode: hang}}
  - {id: c, type: noop, needs: [a]}
`)
	r.waitStarted(t, "b#1")
	mid, _ := r.scrape(t)
	for series, want := range map[string]float64{
		`cairn_runs{state="running"}`:    1,
		`cairn_runs{state="succeeded"}`:  0,
		`cairn_tasks{state="succeeded"}`: 1, // a
		`cairn_tasks{state="running"}`:   1, // b
		`cairn_tasks{state="ready"}`:     1, // c
		`cairn_queue_depth`:              1,
		`cairn_runs_owned`:               1,
		`cairn_database_up`:              1,
	} {
		if got, ok := mid[series]; !ok || got != want {
			t.Errorf("while b hangs: %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if run := r.waitEnded(t, ok); run.State != cairn.RunSucceeded {
		t.Fatalf("run ok ended %s (%s), want succeeded", run.State, run.Error)
	}
	bad := r.create(t, "name: bad\ntasks:\n  - {id: f, type: probe, with: {mode: fail}}\n")
	if run := r.waitEnded(t, bad); run.State != cairn.RunFailed {
		t.Fatalf("run bad ended %s, want failed", run.State)
	}
	// The poll of evaluations reads what the runs wrote within a few
	// polls of their end.
	// A scrape reads one family after another: a planning pass that ends
	// during it (a run's loop after its end) may be in the later family
	// and not in the earlier one. The end is read once two scrapes in a
	// row agree on the planning passes.
	var end, prev map[string]float64
	var text string
	settled := func() bool {
		if prev == nil {
			return false
		}
		for _, k := range []string{
			`cairn_scheduler_plan_duration_seconds_count{path="loop"}`, `cairn_scheduler_plan_duration_seconds_count{path="completion"}`,
			`cairn_scheduler_plan_latency_seconds_count{path="loop"}`, `cairn_scheduler_plan_latency_seconds_count{path="completion"}`,
		} {
			if end[k] != prev[k] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(waitLimit)
	for {
		prev = end
		end, text = r.scrape(t)
		if end[`cairn_scheduler_evaluations_read_total`] > 0 && settled() || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for series, want := range map[string]float64{
		`cairn_runs{state="succeeded"}`:                      1,
		`cairn_runs{state="failed"}`:                         1,
		`cairn_runs{state="running"}`:                        0,
		`cairn_runs{state="queued"}`:                         0,
		`cairn_tasks{state="running"}`:                       0,
		`cairn_tasks{state="ready"}`:                         0,
		`cairn_queue_depth`:                                  0,
		`cairn_runs_owned`:                                   0,
		`cairn_leader`:                                       1,
		`cairn_leader_epoch`:                                 1,
		`cairn_runs_ended_total{state="succeeded"}`:          1,
		`cairn_runs_ended_total{state="failed"}`:             1,
		`cairn_runs_ended_total{state="cancelled"}`:          0,
		`cairn_lease_expiries_total{reason="lease_expired"}`: 1,
		`cairn_lease_expiries_total{reason="owner_gone"}`:    0,
		`cairn_task_attempt_duration_seconds_count{type="noop",outcome="succeeded"}`:                    2,
		`cairn_task_attempt_duration_seconds_count{type="probe",outcome="interrupted"}`:                 1,
		`cairn_task_attempt_duration_seconds_count{type="probe",outcome="succeeded"}`:                   1,
		`cairn_task_attempt_duration_seconds_count{type="probe",outcome="failed"}`:                      1,
		`cairn_build_info{version="v1.2.3-test",commit="abc123",goversion="` + runtime.Version() + `"}`: 1,
	} {
		if got, ok := end[series]; !ok || got != want {
			t.Errorf("at the end: %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	// The interrupted attempt lasted at least its lease: it ended when
	// the lease expired, never before.
	if got := end[`cairn_task_attempt_duration_seconds_sum{type="probe",outcome="interrupted"}`]; got < leaseTTL.Seconds() {
		t.Errorf("the expired attempt lasted %vs, less than its lease (%s)", got, leaseTTL)
	}
	if end[`cairn_scheduler_evaluations_read_total`] <= 0 {
		t.Errorf("no evaluation read")
	}
	// Every run was planned in its own loop at least once (the first
	// plan after the service took it), from a known cause.
	planned := end[`cairn_scheduler_plan_duration_seconds_count{path="loop"}`] + end[`cairn_scheduler_plan_duration_seconds_count{path="completion"}`]
	caused := end[`cairn_scheduler_plan_latency_seconds_count{path="loop"}`] + end[`cairn_scheduler_plan_latency_seconds_count{path="completion"}`]
	if end[`cairn_scheduler_plan_duration_seconds_count{path="loop"}`] < 2 || caused < 2 || caused > planned {
		t.Errorf("planning passes: %v in all, %v with a cause, %v in the loop: want at least 2 in the loop (one per run)",
			planned, caused, end[`cairn_scheduler_plan_duration_seconds_count{path="loop"}`])
	}
	if s, c := end[`cairn_store_write_statements_total`], end[`cairn_store_write_commits_total`]; c <= 0 || s < c {
		t.Errorf("store writes: %v statements, %v commits", s, c)
	}
	if _, ok := end[`cairn_process_start_time_seconds`]; !ok {
		t.Errorf("no cairn_process_start_time_seconds")
	}
	// Counters and histograms never went down between the scrapes.
	for series, before := range mid {
		if isCumulative(series, text) && end[series] < before {
			t.Errorf("%s went down: %v, then %v", series, before, end[series])
		}
	}
}

// isCumulative says whether series belongs to a counter or a histogram
// in the exposition text.
func isCumulative(series, text string) bool {
	name := series
	if i := strings.IndexByte(name, '{'); i >= 0 {
		name = name[:i]
	}
	if strings.Contains(text, "# TYPE "+name+" counter\n") {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && strings.Contains(text, "# TYPE "+base+" histogram\n") {
			return true
		}
	}
	return false
}

// A scrape whose database read fails says so (cairn_database_up 0),
// leaves the database's families out, and is still valid.
func TestCollectorDatabaseDown(t *testing.T) {
	c := metrics.New(metrics.Options{
		Counts: func(ctx context.Context) (metrics.Counts, error) {
			return metrics.Counts{}, errors.New("disk I/O error")
		},
		Start: time.Now(),
	})
	var w metrics.Writer
	c.Write(context.Background(), &w)
	text := string(w.Bytes())
	promtool(t, text)
	got := parse(t, text)
	if v, ok := got["cairn_database_up"]; !ok || v != 0 {
		t.Fatalf("cairn_database_up = %v (present %v), want 0", v, ok)
	}
	for series := range got {
		if strings.HasPrefix(series, "cairn_runs{") || strings.HasPrefix(series, "cairn_tasks{") || series == "cairn_queue_depth" ||
			series == "cairn_runs_owned" {
			t.Fatalf("%s written though the database could not be read", series)
		}
	}
}

// Task types come from plugins, so a label value may hold anything: it
// is escaped, and the exposition stays valid.
func TestCollectorEscapesTaskTypes(t *testing.T) {
	c := metrics.New(metrics.Options{})
	at := time.Now()
	typ := "odd\"type\\with\nnewline"
	c.ObserveTask(scheduler.Event{RunID: "r", TaskID: "t", From: cairn.TaskReady, To: cairn.TaskLeased, Attempt: 1, At: at, Type: typ})
	c.ObserveTask(scheduler.Event{RunID: "r", TaskID: "t", From: cairn.TaskRunning, To: cairn.TaskSucceeded, Attempt: 1,
		At: at.Add(1500 * time.Millisecond), Type: typ, Ended: cairn.TaskSucceeded})
	var w metrics.Writer
	c.Write(context.Background(), &w)
	text := string(w.Bytes())
	promtool(t, text)
	got := parse(t, text)
	series := `cairn_task_attempt_duration_seconds_sum{type="odd\"type\\with\nnewline",outcome="succeeded"}`
	if v := got[series]; v != 1.5 {
		t.Fatalf("%s = %v, want 1.5:\n%s", series, v, text)
	}
}

// TestCollectorPredictions: predict requests, rows, latency, model loads
// and dropped samples, each by model.
func TestCollectorPredictions(t *testing.T) {
	c := metrics.New(metrics.Options{})
	c.ObservePrediction("churn", "ok", 1000, 4*time.Millisecond)
	c.ObservePrediction("churn", "ok", 1, 300*time.Microsecond)
	c.ObservePrediction("churn", "bad_input", 0, time.Millisecond)
	c.ObservePrediction("", "not_found", 0, time.Millisecond)
	c.ObserveModelLoad("churn", "ok")
	c.ObserveModelLoad("churn", "corrupt")
	c.ObserveSamplesDropped("churn", 7)
	var w metrics.Writer
	c.Write(context.Background(), &w)
	out := string(w.Bytes())
	promtool(t, out)
	for _, want := range []string{
		`cairn_prediction_requests_total{model="churn",code="ok"} 2`,
		`cairn_prediction_requests_total{model="churn",code="bad_input"} 1`,
		`cairn_prediction_requests_total{model="",code="not_found"} 1`,
		`cairn_prediction_rows_total{model="churn"} 1001`,
		`cairn_prediction_duration_seconds_bucket{model="churn",le="0.0005"} 1`,
		`cairn_prediction_duration_seconds_bucket{model="churn",le="0.005"} 2`,
		`cairn_prediction_duration_seconds_count{model="churn"} 2`,
		`cairn_model_loads_total{model="churn",outcome="corrupt"} 1`,
		`cairn_prediction_samples_dropped_total{model="churn"} 7`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no line %s in:\n%s", want, out)
		}
	}
}
