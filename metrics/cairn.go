package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/scheduler"
)

// Counts is what a scrape reads from the database (store/sqlite's
// StateCounts).
type Counts struct {
	Runs  map[cairn.RunState]int64  // every run, by state
	Tasks map[cairn.TaskState]int64 // the task runs of queued and running runs, by state
	Ready int64                     // task runs ready, waiting for a worker
	Owned int64                     // queued and running runs this server's scheduler holds
}

// BuildInfo says which binary serves the metrics (cairn_build_info).
type BuildInfo struct {
	Version, Commit, GoVersion string
}

// Options configure a Collector. Every field may be left zero: its
// series are then not written (Build and Start excepted).
type Options struct {
	// Counts reads the database at each scrape (runs and tasks by state,
	// the lease queue, the runs this server holds). It should be cheap: a
	// grouped count.
	Counts func(ctx context.Context) (Counts, error)
	// Writes returns the store writer's statements and commits since it
	// was opened (store/sqlite's WriteStats).
	Writes func() (statements, commits int64)
	// Leader says whether this server's scheduler leads among the
	// servers on its database (fires cron, reaps expired leases), and
	// the epoch of its term (scheduler.Service.Leader).
	Leader func() (leading bool, epoch int64)
	// Build is the binary's version, commit and Go version.
	Build BuildInfo
	// Start is when the process started.
	Start time.Time
	// Timeout bounds Counts at each scrape (default 5s).
	Timeout time.Duration
	// Logger gets the errors of a scrape (Counts failing). Nil: discarded.
	Logger *slog.Logger
	// Live reads, at each scrape, the live metric of every version of
	// the models being rolled out (from feedback, over the last hour).
	Live func(ctx context.Context) ([]LiveMetric, error)
	// Drift reads, at each scrape, the drift the leader last measured of
	// each model version watched by a drift_above alert.
	Drift func(ctx context.Context) ([]Drift, error)
}

// Drift is one model version's drift from its training data
// (cairn_model_drift): the largest PSI of its features over Rows sampled
// served rows.
type Drift struct {
	Model, Version string
	Value          float64
	Rows           int
}

// LiveMetric is one model version's live metric (cairn_model_live_metric).
type LiveMetric struct {
	Model, Version, Metric string
	Value                  float64
	Labeled                int
}

// MaxVersionSeries bounds the (model, version) pairs the per-version
// series are kept for; a pair past it is counted as version "other".
const MaxVersionSeries = 64

// maxClasses bounds the classes of a version's prediction counts.
const maxClasses = 20

// valueBuckets span a regressor's predictions: symmetric, from 0.01 to a
// million in magnitude.
var valueBuckets = []float64{-1e6, -1e4, -1000, -100, -10, -1, -0.1, -0.01, 0, 0.01, 0.1, 1, 10, 100, 1000, 1e4, 1e6}

// Bucket upper bounds, in seconds.
var (
	// attemptBuckets span a noop task (milliseconds) to a long training
	// (four hours).
	attemptBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400}
	// planBuckets span one plan (a fraction of a millisecond) to a slow
	// database (seconds).
	planBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	// latencyBuckets include the poll of evaluations (200 ms) and a run
	// taken over after its claim expired (10 s).
	latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	// predictBuckets span one row (a tenth of a millisecond) to the
	// largest batch (seconds).
	predictBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
)

// Names of the series a Collector writes (docs/cli.md lists them).
const (
	nameBuildInfo     = "cairn_build_info"
	nameStartTime     = "cairn_process_start_time_seconds"
	nameRuns          = "cairn_runs"
	nameTasks         = "cairn_tasks"
	nameQueueDepth    = "cairn_queue_depth"
	nameDatabaseUp    = "cairn_database_up"
	nameRunsOwned     = "cairn_runs_owned"
	nameLeader        = "cairn_leader"
	nameLeaderEpoch   = "cairn_leader_epoch"
	nameRunsEnded     = "cairn_runs_ended_total"
	nameAttemptSecs   = "cairn_task_attempt_duration_seconds"
	nameLeaseExpiries = "cairn_lease_expiries_total"
	namePlanSecs      = "cairn_scheduler_plan_duration_seconds"
	namePlanLatency   = "cairn_scheduler_plan_latency_seconds"
	nameEvalsRead     = "cairn_scheduler_evaluations_read_total"
	nameWriteStmts    = "cairn_store_write_statements_total"
	nameWriteCommits  = "cairn_store_write_commits_total"
	namePredictReqs   = "cairn_prediction_requests_total"
	namePredictRows   = "cairn_prediction_rows_total"
	namePredictSecs   = "cairn_prediction_duration_seconds"
	nameVersionReqs   = "cairn_model_version_requests_total"
	nameVersionSecs   = "cairn_model_version_duration_seconds"
	nameVersionPreds  = "cairn_model_version_predictions_total"
	nameVersionValues = "cairn_model_version_prediction_value"
	nameShadowDropped = "cairn_shadow_dropped_total"
	nameLogDropped    = "cairn_request_log_dropped_total"
	nameLiveMetric    = "cairn_model_live_metric"
	nameLiveLabeled   = "cairn_model_live_labeled_rows"
	nameDrift         = "cairn_model_drift"
	nameDriftRows     = "cairn_model_drift_rows"
	nameModelLoads    = "cairn_model_loads_total"
	nameSamplesDrop   = "cairn_prediction_samples_dropped_total"
)

// Paths of a planning pass (the path label of the scheduler's histograms).
const (
	PathLoop       = "loop"       // the run's own loop
	PathCompletion = "completion" // inside a worker's completion transaction
)

// Outcomes of an attempt (the outcome label of the attempt histogram).
const (
	OutcomeSucceeded   = "succeeded"
	OutcomeFailed      = "failed" // the task failed or retries
	OutcomeInterrupted = "interrupted"
	OutcomeCancelled   = "cancelled"
)

// Collector is the metrics of one cairn server: what it counts from the
// broker's and the service's events (ObserveTask, ObserveService), and
// what it reads at each scrape. It serves them over HTTP in the text
// exposition format 0.0.4. It is safe for concurrent use.
type Collector struct {
	o Options

	runsEnded     *CounterVec
	attempts      *HistogramVec
	leaseExpiries *CounterVec
	planSecs      *HistogramVec
	planLatency   *HistogramVec
	evalsRead     *CounterVec
	predictReqs   *CounterVec
	predictRows   *CounterVec
	predictSecs   *HistogramVec
	modelLoads    *CounterVec
	samplesDrop   *CounterVec
	versionReqs   *CounterVec
	versionSecs   *HistogramVec
	versionPreds  *CounterVec
	versionValues *HistogramVec
	shadowDrop    *CounterVec
	logDrop       *CounterVec

	vmu      sync.Mutex
	versions map[string]bool // "model\xffversion" pairs with series (at most MaxVersionSeries)

	mu   sync.Mutex
	open map[string]map[string]openAttempt // run → task → its attempt under way
}

// openAttempt is an attempt this process saw leased and not yet ended.
type openAttempt struct {
	number int
	typ    string
	at     time.Time
}

// New returns a collector.
func New(o Options) *Collector {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Collector{
		o: o,
		runsEnded: NewCounterVec(nameRunsEnded,
			"Runs this server's scheduler took to a terminal state since it started, by that state.", "state"),
		attempts: NewHistogramVec(nameAttemptSecs,
			"Task attempts this server leased, from the lease to their end (the worker's report, a lease expiry, a cancellation), "+
				"by task type and outcome (succeeded, failed, interrupted, cancelled).", attemptBuckets, "type", "outcome"),
		leaseExpiries: NewCounterVec(nameLeaseExpiries,
			"Attempts this server ended because their lease expired (lease_expired) or the process holding them was gone when it "+
				"took their run over (owner_gone), or the remote worker holding them stopped calling (worker_lost).", "reason"),
		planSecs: NewHistogramVec(namePlanSecs,
			"Planning passes of this server's scheduler: reading the run when another process changed it, planning and applying "+
				"the plans, by path (loop: the run's own loop; completion: inside a worker's completion transaction).", planBuckets, "path"),
		planLatency: NewHistogramVec(namePlanLatency,
			"From a change that makes a run need planning (a completion, an expired lease, an evaluation written by another "+
				"process, a retry falling due, a cancel request, the run taken) to its plan applied, by path.", latencyBuckets, "path"),
		evalsRead: NewCounterVec(nameEvalsRead, "Evaluations this server's scheduler read in its poll of the database (every process's, its own included)."),
		predictReqs: NewCounterVec(namePredictReqs,
			"Predict requests this server answered (POST /api/v1/models/NAME/predict), by model and code (ok, or the error's: "+
				"bad_input, not_found, too_large, model_unavailable, internal); model is empty for a name the registry does not have.", "model", "code"),
		predictRows: NewCounterVec(namePredictRows, "Rows this server predicted, by model.", "model"),
		predictSecs: NewHistogramVec(namePredictSecs,
			"Predict requests from the model's lookup to the answer written (reading the body, checking the rows, predicting), by model.",
			predictBuckets, "model"),
		modelLoads: NewCounterVec(nameModelLoads,
			"Model artifacts this server read to serve them, by model and outcome (ok; corrupt: the bytes do not match the digest; "+
				"missing; invalid: not a model; error).", "model", "outcome"),
		samplesDrop: NewCounterVec(nameSamplesDrop,
			"Sampled prediction rows not written to the sample log (its buffer full, or the file not writable), by model.", "model"),
		versionReqs: NewCounterVec(nameVersionReqs,
			"Predict requests answered per model version (a shadow candidate's scoring included, arm shadow), by model, version, "+
				"arm (production or candidate during a rollout, shadow, or none) and code.", "model", "version", "arm", "code"),
		versionSecs: NewHistogramVec(nameVersionSecs,
			"Predict requests answered per model version, from the model's lookup to the answer written (a shadow's off the request's path).",
			predictBuckets, "model", "version", "arm"),
		versionPreds: NewCounterVec(nameVersionPreds,
			"Rows predicted per model version and predicted class (a classifier; at most 20 classes a version, the rest as class=\"other\"): "+
				"the distribution of its predictions.", "model", "version", "class"),
		versionValues: NewHistogramVec(nameVersionValues,
			"Values a regressor's version predicted (one per row): the distribution of its predictions.", valueBuckets, "model", "version"),
		shadowDrop: NewCounterVec(nameShadowDropped,
			"Requests a shadow rollout's candidate did not score because its queue was full, by model.", "model"),
		logDrop: NewCounterVec(nameLogDropped,
			"Requests not written to the request log (its buffer full, or the database failing): no feedback, no live metric for them.", "model"),
		versions: map[string]bool{},
		open:     map[string]map[string]openAttempt{},
	}
	// The series that exist from the start, at 0, so that rate() and
	// increase() see their first change.
	for _, s := range []cairn.RunState{cairn.RunSucceeded, cairn.RunFailed, cairn.RunCancelled} {
		c.runsEnded.Add(0, string(s))
	}
	c.leaseExpiries.Add(0, scheduler.ExpiryLease)
	c.leaseExpiries.Add(0, scheduler.ExpiryOwnerGone)
	c.leaseExpiries.Add(0, scheduler.ExpiryWorkerLost)
	c.leaseExpiries.Add(0, scheduler.ExpiryTimedOut)
	c.evalsRead.Add(0)
	for _, p := range []string{PathLoop, PathCompletion} {
		c.planSecs.Init(p)
		c.planLatency.Init(p)
	}
	return c
}

// ObserveTask takes a broker event (scheduler.BrokerOptions.Observe).
func (c *Collector) ObserveTask(e scheduler.Event) {
	if e.Run != "" {
		if e.Run.Terminal() {
			c.runsEnded.Add(1, string(e.Run))
			c.mu.Lock()
			delete(c.open, e.RunID) // attempts whose end this process will not see
			c.mu.Unlock()
		}
		return
	}
	if e.Expiry != "" {
		c.leaseExpiries.Add(1, e.Expiry)
	}
	switch {
	case e.To == cairn.TaskLeased || (e.To == cairn.TaskRunning && e.From != cairn.TaskLeased):
		// An attempt begins at its lease; a start without a lease seen
		// (another replica leased it) begins it too.
		c.mu.Lock()
		tasks := c.open[e.RunID]
		if tasks == nil {
			tasks = map[string]openAttempt{}
			c.open[e.RunID] = tasks
		}
		if a, ok := tasks[e.TaskID]; !ok || a.number != e.Attempt {
			tasks[e.TaskID] = openAttempt{number: e.Attempt, typ: e.Type, at: e.At}
		}
		c.mu.Unlock()
	case e.To == cairn.TaskReady && e.From.Active():
		// Given back unrun (Broker.GiveBack): no attempt ended.
		c.mu.Lock()
		if a, ok := c.open[e.RunID][e.TaskID]; ok && a.number == e.Attempt {
			delete(c.open[e.RunID], e.TaskID)
			if len(c.open[e.RunID]) == 0 {
				delete(c.open, e.RunID)
			}
		}
		c.mu.Unlock()
	case e.Ended != "":
		c.mu.Lock()
		a, ok := c.open[e.RunID][e.TaskID]
		if ok && a.number == e.Attempt {
			delete(c.open[e.RunID], e.TaskID)
			if len(c.open[e.RunID]) == 0 {
				delete(c.open, e.RunID)
			}
		}
		c.mu.Unlock()
		if !ok || a.number != e.Attempt {
			return // leased by another process: its length is unknown here
		}
		typ := e.Type
		if typ == "" {
			typ = a.typ
		}
		if typ == "" {
			typ = "unknown"
		}
		c.attempts.Observe(seconds(e.At.Sub(a.at)), typ, outcome(e.Ended))
	}
}

// outcome is the attempt histogram's outcome of an attempt recorded in
// state s.
func outcome(s cairn.TaskState) string {
	switch s {
	case cairn.TaskSucceeded:
		return OutcomeSucceeded
	case cairn.TaskFailed, cairn.TaskRetrying:
		return OutcomeFailed
	case cairn.AttemptInterrupted:
		return OutcomeInterrupted
	case cairn.TaskCancelled:
		return OutcomeCancelled
	}
	return string(s)
}

// ObserveService takes a scheduler service event
// (scheduler.ServiceOptions.Observe).
func (c *Collector) ObserveService(e scheduler.ServiceEvent) {
	switch e.Kind {
	case scheduler.ServiceEvaluationsRead:
		c.evalsRead.Add(float64(e.Evaluations))
	case scheduler.ServicePlanned:
		path := PathLoop
		if e.InCompletion {
			path = PathCompletion
		}
		c.planSecs.Observe(seconds(e.End.Sub(e.Start)), path)
		if !e.Since.IsZero() {
			c.planLatency.Observe(seconds(e.End.Sub(e.Since)), path)
		}
	}
}

// ObservePrediction counts a predict request: its model ("" for a name
// the registry does not have), its code ("ok" or the error's), the rows
// it predicted and its time.
func (c *Collector) ObservePrediction(model, code string, rows int, d time.Duration) {
	c.predictReqs.Add(1, model, code)
	if code == "ok" {
		c.predictRows.Add(float64(rows), model)
		c.predictSecs.Observe(seconds(d), model)
	}
}

// VersionPrediction is a predict request as counted per version.
type VersionPrediction struct {
	Model, Arm, Code string
	Version          int
	Duration         time.Duration
	// Classes and Class are a classifier's class labels and each row's
	// predicted class; Values a regressor's predictions.
	Classes []string
	Class   []int
	Values  []float64
}

// ObserveVersion counts a predict request (or a shadow's scoring) of one
// model version, with the distribution of its predictions.
func (c *Collector) ObserveVersion(p VersionPrediction) {
	if p.Model == "" || p.Version == 0 {
		return
	}
	v := c.versionLabel(p.Model, p.Version)
	arm := p.Arm
	if arm == "" {
		arm = "none"
	}
	c.versionReqs.Add(1, p.Model, v, arm, p.Code)
	if p.Code != "ok" {
		return
	}
	c.versionSecs.Observe(seconds(p.Duration), p.Model, v, arm)
	if len(p.Classes) > 0 {
		var small [32]int // no allocation for up to 32 classes
		counts := small[:0]
		if len(p.Classes) <= len(small) {
			counts = small[:len(p.Classes)]
		} else {
			counts = make([]int, len(p.Classes))
		}
		for _, k := range p.Class {
			if k >= 0 && k < len(counts) {
				counts[k]++
			}
		}
		other := 0
		for k, n := range counts {
			if k >= maxClasses {
				other += n
			} else if n > 0 {
				c.versionPreds.Add(float64(n), p.Model, v, p.Classes[k])
			}
		}
		if other > 0 {
			c.versionPreds.Add(float64(other), p.Model, v, "other")
		}
	}
	for _, x := range p.Values {
		c.versionValues.Observe(x, p.Model, v)
	}
}

// versionLabel is version's label value: its number, or "other" past
// MaxVersionSeries pairs.
func (c *Collector) versionLabel(model string, version int) string {
	v := strconv.Itoa(version)
	var buf [128]byte
	k := append(append(append(buf[:0], model...), 0xff), v...) // looked up without an allocation
	c.vmu.Lock()
	defer c.vmu.Unlock()
	if c.versions[string(k)] {
		return v
	}
	if len(c.versions) >= MaxVersionSeries {
		return "other"
	}
	c.versions[string(k)] = true
	return v
}

// ObserveShadowDropped counts a request a shadow candidate did not score.
func (c *Collector) ObserveShadowDropped(model string) { c.shadowDrop.Add(1, model) }

// ObserveLogDropped counts requests not written to the request log.
func (c *Collector) ObserveLogDropped(model string, n int) { c.logDrop.Add(float64(n), model) }

// ObserveModelLoad counts a model artifact read to serve it, by outcome.
func (c *Collector) ObserveModelLoad(model, outcome string) { c.modelLoads.Add(1, model, outcome) }

// ObserveSamplesDropped counts sampled prediction rows not logged.
func (c *Collector) ObserveSamplesDropped(model string, rows int) {
	c.samplesDrop.Add(float64(rows), model)
}

// seconds is d in seconds, never below 0 (clocks of two processes).
func seconds(d time.Duration) float64 {
	return max(d, 0).Seconds()
}

// ServeHTTP answers GET (and HEAD) with the metrics.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD are served here", http.StatusMethodNotAllowed)
		return
	}
	var out Writer
	c.Write(r.Context(), &out)
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(out.Bytes())))
	if r.Method == http.MethodGet {
		_, _ = w.Write(out.Bytes())
	}
}

// Write writes every family: the process's, the database's counts read
// now, and what the events counted.
func (c *Collector) Write(ctx context.Context, w *Writer) {
	o := c.o
	b := o.Build
	w.Family(nameBuildInfo, Gauge, "The binary serving these metrics: its version, the commit it was built from and the Go version, as labels; always 1.")
	w.Sample(nameBuildInfo, []string{"version", "commit", "goversion"}, []string{b.Version, b.Commit, b.GoVersion}, 1)
	if !o.Start.IsZero() {
		w.Family(nameStartTime, Gauge, "When this server's process started, in seconds since the Unix epoch.")
		w.Sample(nameStartTime, nil, nil, float64(o.Start.UnixNano())/1e9)
	}
	if o.Counts != nil {
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		n, err := o.Counts(cctx)
		cancel()
		up := 1.0
		if err != nil {
			up = 0
			o.Logger.Warn("metrics: read the database's counts", "err", err)
		}
		w.Family(nameDatabaseUp, Gauge, "1 if this scrape read the database's counts (cairn_runs, cairn_tasks, cairn_queue_depth, cairn_runs_owned), "+
			"0 if that failed and they are left out (the server's log says why).")
		w.Sample(nameDatabaseUp, nil, nil, up)
		if err == nil {
			state := []string{"state"}
			w.Family(nameRuns, Gauge, "Runs in the database, by state.")
			for _, s := range cairn.RunStates {
				w.Sample(nameRuns, state, []string{string(s)}, float64(n.Runs[s]))
			}
			w.Family(nameTasks, Gauge, "Task runs of the queued and running runs in the database, by state.")
			for _, s := range cairn.TaskStates {
				w.Sample(nameTasks, state, []string{string(s)}, float64(n.Tasks[s]))
			}
			w.Family(nameQueueDepth, Gauge, "Task runs ready and waiting for a worker to lease them (every run's, every server's).")
			w.Sample(nameQueueDepth, nil, nil, float64(n.Ready))
			w.Family(nameRunsOwned, Gauge, "Queued and running runs whose claim this server's scheduler holds: the runs it plans.")
			w.Sample(nameRunsOwned, nil, nil, float64(n.Owned))
		}
	}
	if o.Leader != nil {
		leading, epoch := o.Leader()
		w.Family(nameLeader, Gauge, "1 while this server leads the servers on its database (it fires cron schedules and reaps expired leases), else 0.")
		w.Sample(nameLeader, nil, nil, boolFloat(leading))
		if leading {
			w.Family(nameLeaderEpoch, Gauge, "The epoch (fencing token) of this server's term as leader; present only while it leads.")
			w.Sample(nameLeaderEpoch, nil, nil, float64(epoch))
		}
	}
	c.runsEnded.Write(w)
	c.attempts.Write(w)
	c.leaseExpiries.Write(w)
	c.planSecs.Write(w)
	c.planLatency.Write(w)
	c.evalsRead.Write(w)
	c.predictReqs.Write(w)
	c.predictRows.Write(w)
	c.predictSecs.Write(w)
	c.modelLoads.Write(w)
	c.samplesDrop.Write(w)
	c.versionReqs.Write(w)
	c.versionSecs.Write(w)
	c.versionPreds.Write(w)
	c.versionValues.Write(w)
	c.shadowDrop.Write(w)
	c.logDrop.Write(w)
	if o.Live != nil {
		lctx, cancel := context.WithTimeout(ctx, o.Timeout)
		live, err := o.Live(lctx)
		cancel()
		if err != nil {
			o.Logger.Warn("metrics: read the live metrics of the models", "err", err)
		} else if len(live) > 0 {
			lbl := []string{"model", "version", "metric"}
			w.Family(nameLiveMetric, Gauge, "The live metric of a model version (accuracy, or mae for a regressor) over the last hour: of both versions of a rollout, from the feedback of their requests; of another model's production version, from the feedback that arrived.")
			for _, l := range live {
				w.Sample(nameLiveMetric, lbl, []string{l.Model, l.Version, l.Metric}, l.Value)
			}
			w.Family(nameLiveLabeled, Gauge, "The labeled rows (feedback) the live metric of a model version is computed from, over the last hour.")
			for _, l := range live {
				w.Sample(nameLiveLabeled, []string{"model", "version"}, []string{l.Model, l.Version}, float64(l.Labeled))
			}
		}
	}
	if o.Drift != nil {
		dctx, cancel := context.WithTimeout(ctx, o.Timeout)
		ds, err := o.Drift(dctx)
		cancel()
		if err != nil {
			o.Logger.Warn("metrics: read the models' drift", "err", err)
		} else if len(ds) > 0 {
			lbl := []string{"model", "version"}
			w.Family(nameDrift, Gauge, "The drift of each model version watched by a drift_above alert from its training data: the largest PSI of its features over its sampled served rows, as the leader last measured it.")
			for _, d := range ds {
				w.Sample(nameDrift, lbl, []string{d.Model, d.Version}, d.Value)
			}
			w.Family(nameDriftRows, Gauge, "The sampled served rows that drift was measured over.")
			for _, d := range ds {
				w.Sample(nameDriftRows, lbl, []string{d.Model, d.Version}, float64(d.Rows))
			}
		}
	}
	if o.Writes != nil {
		stmts, commits := o.Writes()
		w.Family(nameWriteStmts, Counter, "SQL statements run in the store's write transactions since the server opened it.")
		w.Sample(nameWriteStmts, nil, nil, float64(stmts))
		w.Family(nameWriteCommits, Counter, "Write transactions the store committed since the server opened it (one commit may carry "+
			"many writers' changes: group commit).")
		w.Sample(nameWriteCommits, nil, nil, float64(commits))
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
