package cairn

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RolloutStrategy is how a model's candidate version reaches its traffic
// (issue #22).
type RolloutStrategy string

// Rollout strategies.
const (
	// StrategyDirect: the candidate replaces production at once (a
	// deploy to production, as before rollouts).
	StrategyDirect RolloutStrategy = "direct"
	// StrategyCanary: a share of the requests goes to the candidate,
	// raised step by step while its live metric and error rate hold,
	// rolled back when they do not; the last step promotes it.
	StrategyCanary RolloutStrategy = "canary"
	// StrategyShadow: production answers every request; the candidate
	// scores the same rows off the request's path, and both are logged.
	StrategyShadow RolloutStrategy = "shadow"
	// StrategyAB: a fixed share of the requests goes to the candidate
	// until someone promotes it or rolls it back.
	StrategyAB RolloutStrategy = "ab"
)

// Strategies lists the strategies, for messages.
var Strategies = []string{string(StrategyDirect), string(StrategyCanary), string(StrategyShadow), string(StrategyAB)}

// Valid says whether s is a strategy.
func (s RolloutStrategy) Valid() bool {
	switch s {
	case StrategyDirect, StrategyCanary, StrategyShadow, StrategyAB:
		return true
	}
	return false
}

// RolloutSpec is how a rollout proceeds: what a deploy's strategy params
// (or cairn models rollout --start) ask for. The zero values of its
// fields take the defaults below (WithDefaults).
type RolloutSpec struct {
	Strategy RolloutStrategy `json:"strategy"`
	// Steps are the candidate's shares of the requests, in percent, that
	// a canary goes through, increasing; reaching 100 and holding it for
	// Interval promotes the candidate. Default 10, 25, 50, 100.
	Steps []int `json:"steps,omitempty"`
	// Split is an A-B rollout's share of the candidate, in percent (the
	// production version has the rest). Default 50.
	Split int `json:"split,omitempty"`
	// Interval is how long a canary step lasts before the next (default
	// 5 minutes): its window of judgement.
	Interval Duration `json:"interval,omitempty"`
	// MinSamples is the number of labeled rows (feedback) each version
	// needs in a step before their live metrics are compared (default
	// 100); MinRequests, the requests the candidate needs before its
	// error rate is judged (default 20).
	MinSamples  int `json:"min_samples,omitempty"`
	MinRequests int `json:"min_requests,omitempty"`
	// Tolerance is how much worse than production the candidate's live
	// metric may be, relative to production's (default 0.02: 2%).
	Tolerance float64 `json:"tolerance,omitempty"`
	// MaxErrorRate is the share of the candidate's requests that may fail
	// (the model could not answer: not a bad request), default 0.01.
	MaxErrorRate float64 `json:"max_error_rate,omitempty"`
	// Judge is what a canary's steps wait for: "live" (the default), the
	// live metrics of both versions from feedback (MinSamples each) and
	// the error rate; "errors", the error rate alone (for models whose
	// labels never come back).
	Judge string `json:"judge,omitempty"`
	// Alerts are the per-model alerts watched while the rollout is
	// active, on the candidate and the production version both.
	Alerts []ModelAlert `json:"alerts,omitempty"`
}

// ModelAlert is one per-model alert (a deploy's alerts:, cairn models
// alerts NAME set): On is AlertLiveMetricBelow (Bound a live metric),
// AlertP99Above (Bound in seconds) or AlertDriftAbove (Bound a PSI); the
// alert goes to Webhook in Format.
type ModelAlert struct {
	On      AlertEvent `json:"on"`
	Bound   float64    `json:"bound"`
	Webhook string     `json:"webhook"`
	Format  string     `json:"format,omitempty"`
	// Window is how far back a model's alert looks at a version's
	// requests (DefaultAlertWindow when 0). A rollout's own alerts
	// (RolloutSpec.Alerts) look at its current step instead.
	Window Duration `json:"window,omitempty"`
	// Min is how many labeled rows (live_metric_below), requests
	// (p99_latency_above) or sampled served rows (drift_above) the window
	// needs before the alert is checked: fewer tell nothing. 0 takes
	// DefaultMinSamples, DefaultMinRequests or DefaultDriftMinRows (a
	// rollout's min_samples or min_requests for its own alerts).
	Min int `json:"min,omitempty"`
}

// DefaultAlertWindow is a model's alert's window when it sets none.
const DefaultAlertWindow = 10 * time.Minute

// MaxModelAlerts bounds the alerts of one model (and of one deploy).
const MaxModelAlerts = 20

// WindowOr returns the alert's window, def when it has none.
func (a ModelAlert) WindowOr(def time.Duration) time.Duration {
	if a.Window > 0 {
		return time.Duration(a.Window)
	}
	return def
}

// ModelAlerts are a model's own alerts (issue #22), kept with the model
// whatever its versions and rollouts: the leader's rollouts controller
// checks them on the production version, and on the candidate of an
// active rollout too, over each alert's window. A deploy's alerts: sets
// them (any strategy), as does cairn models alerts NAME set; clear
// leaves none.
type ModelAlerts struct {
	Name   string       `json:"name"`
	Alerts []ModelAlert `json:"alerts"`
	// Gen counts the times the model's alerts were set (from 1): the
	// findings of one set are not those of another (Seq).
	Gen       int       `json:"gen"`
	UpdatedAt time.Time `json:"updated_at"`
	Actor     string    `json:"actor"`
	// Production is the model's version in production (0: none), as
	// the store lists the models it watches.
	Production int `json:"production,omitempty"`
}

// Seq is the ModelAlertFinding.Seq of the set's alert i: apart from a
// rollout's own alerts (their index, below MaxModelAlerts) and from the
// model's earlier sets, so that a new set starts with no finding and its
// alerts' idempotency keys are new.
func (m ModelAlerts) Seq(i int) int { return m.Gen*100 + i }

// ValidateModelAlerts checks a model's alerts as a whole.
func ValidateModelAlerts(as []ModelAlert) error {
	if len(as) > MaxModelAlerts {
		return fmt.Errorf("%d alerts: at most %d per model", len(as), MaxModelAlerts)
	}
	for i, a := range as {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("alerts[%d]: %w", i, err)
		}
	}
	return nil
}

// ModelAlertEvents are the events a per-model alert can be on.
var ModelAlertEvents = []AlertEvent{AlertLiveMetricBelow, AlertP99Above, AlertDriftAbove}

// MaxDriftBound is the largest bound of a drift_above alert: a PSI of
// a feature whose bins all moved is about 18 (each bin's share floored at
// 1e-4), and a bound past 10 would never fire.
const MaxDriftBound = 10

// DefaultDriftMinRows is a drift_above alert's min when it sets none:
// the sampled served rows of a window needed before its drift is
// measured (fewer make a PSI of 10 bins noise).
const DefaultDriftMinRows = 200

// Validate checks a per-model alert.
func (a ModelAlert) Validate() error {
	switch a.On {
	case AlertLiveMetricBelow:
		if a.Bound < 0 || math.IsNaN(a.Bound) || math.IsInf(a.Bound, 0) {
			return fmt.Errorf("bound: want a live metric from 0, such as 0.9, got %v", a.Bound)
		}
	case AlertP99Above:
		if a.Bound <= 0 || a.Bound > 3600 || math.IsNaN(a.Bound) {
			return fmt.Errorf("bound: want a latency from 1us to 1h, such as 50ms, got %vs", a.Bound)
		}
	case AlertDriftAbove:
		if !(a.Bound > 0 && a.Bound <= MaxDriftBound) {
			return fmt.Errorf("bound: want a PSI above 0 and at most %d, such as 0.2 (below 0.1 stable, 0.1 to 0.2 a moderate shift, above 0.2 a major one), got %v", MaxDriftBound, a.Bound)
		}
	default:
		return fmt.Errorf("on: want live_metric_below, p99_latency_above or drift_above, got %q", a.On)
	}
	if err := CheckWebhook(a.Webhook); err != nil {
		return err
	}
	if a.Format != "" && a.Format != AlertJSON && a.Format != AlertSlack {
		return fmt.Errorf("format: want json or slack, got %q", a.Format)
	}
	if a.Window < 0 || (a.Window > 0 && time.Duration(a.Window) < 10*time.Second) || time.Duration(a.Window) > 7*24*time.Hour {
		return fmt.Errorf("window: want a duration from 10s to 168h (the request log's 7 days), got %s", time.Duration(a.Window))
	}
	if a.Min < 0 || a.Min > 1e9 {
		return fmt.Errorf("min: want a whole number from 1 (0: the default), got %d", a.Min)
	}
	return nil
}

// What a canary is judged on (RolloutSpec.Judge).
const (
	JudgeLive   = "live"
	JudgeErrors = "errors"
)

// Rollout defaults.
const (
	DefaultRolloutInterval = 5 * time.Minute
	DefaultMinSamples      = 100
	DefaultMinRequests     = 20
	DefaultTolerance       = 0.02
	DefaultMaxErrorRate    = 0.01
	DefaultSplit           = 50
)

// DefaultSteps are a canary's shares when none are given.
var DefaultSteps = []int{10, 25, 50, 100}

// Duration is a time.Duration that JSON writes as text ("5m0s") and reads
// from text or from nanoseconds.
type Duration time.Duration

// MarshalJSON writes d as text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads text ("5m") or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if len(b) > 0 && b[0] != '"' {
		var n int64
		if _, err := fmt.Sscan(s, &n); err != nil {
			return fmt.Errorf("duration %s: %w", b, err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// WithDefaults returns s with its zero fields set to the defaults.
func (s RolloutSpec) WithDefaults() RolloutSpec {
	if s.Strategy == "" {
		s.Strategy = StrategyDirect
	}
	if s.Strategy == StrategyCanary && len(s.Steps) == 0 {
		s.Steps = append([]int(nil), DefaultSteps...)
	}
	if s.Strategy == StrategyAB && s.Split == 0 {
		s.Split = DefaultSplit
	}
	if s.Interval <= 0 {
		s.Interval = Duration(DefaultRolloutInterval)
	}
	if s.MinSamples <= 0 {
		s.MinSamples = DefaultMinSamples
	}
	if s.MinRequests <= 0 {
		s.MinRequests = DefaultMinRequests
	}
	if s.Tolerance <= 0 {
		s.Tolerance = DefaultTolerance
	}
	if s.MaxErrorRate <= 0 {
		s.MaxErrorRate = DefaultMaxErrorRate
	}
	if s.Judge == "" {
		s.Judge = JudgeLive
	}
	return s
}

// Validate checks a spec (after WithDefaults or not): its errors name
// the field as a deploy's param does.
func (s RolloutSpec) Validate() error {
	if s.Strategy != "" && !s.Strategy.Valid() {
		return fmt.Errorf("strategy %q is not one of %s", s.Strategy, strings.Join(Strategies, ", "))
	}
	for i, v := range s.Steps {
		if v < 1 || v > 100 {
			return fmt.Errorf("steps[%d]: a canary share is a percentage from 1 to 100, got %d", i, v)
		}
		if i > 0 && v <= s.Steps[i-1] {
			return fmt.Errorf("steps[%d]: the shares must increase, got %d after %d", i, v, s.Steps[i-1])
		}
	}
	if len(s.Steps) > 0 && s.Steps[len(s.Steps)-1] != 100 {
		return fmt.Errorf("steps: the last share must be 100 (the candidate takes every request before it is promoted), got %d", s.Steps[len(s.Steps)-1])
	}
	if s.Split < 0 || s.Split > 100 {
		return fmt.Errorf("split: the candidate's share is a percentage from 0 to 100, got %d", s.Split)
	}
	if s.Interval < 0 || time.Duration(s.Interval) > 7*24*time.Hour {
		return fmt.Errorf("interval: want a duration from 1s to 168h, got %s", time.Duration(s.Interval))
	}
	if s.Interval > 0 && time.Duration(s.Interval) < time.Second {
		return fmt.Errorf("interval: want a duration from 1s to 168h, got %s", time.Duration(s.Interval))
	}
	if s.MinSamples < 0 || s.MinRequests < 0 {
		return fmt.Errorf("min_samples and min_requests must not be negative")
	}
	if s.Tolerance < 0 || s.Tolerance >= 1 || math.IsNaN(s.Tolerance) {
		return fmt.Errorf("tolerance: want a share from 0 to 1 (0.02: 2%% worse than production at most), got %v", s.Tolerance)
	}
	if s.Judge != "" && s.Judge != JudgeLive && s.Judge != JudgeErrors {
		return fmt.Errorf("judge: want live (live metrics from feedback and the error rate) or errors (the error rate alone), got %q", s.Judge)
	}
	for i, a := range s.Alerts {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("alerts[%d]: %w", i, err)
		}
	}
	if s.MaxErrorRate < 0 || s.MaxErrorRate > 1 || math.IsNaN(s.MaxErrorRate) {
		return fmt.Errorf("max_error_rate: want a share from 0 to 1, got %v", s.MaxErrorRate)
	}
	return nil
}

// RolloutState is where a rollout stands.
type RolloutState string

// Rollout states. Only an active rollout routes requests.
const (
	RolloutActive     RolloutState = "active"
	RolloutPromoted   RolloutState = "promoted"    // the candidate went to production
	RolloutRolledBack RolloutState = "rolled_back" // the candidate was taken out, automatically or by hand
)

// Rollout is a model's rollout as stored: the production version
// (Baseline), the candidate, the candidate's share of the requests now,
// and the spec it follows.
type Rollout struct {
	Name      string       `json:"name"`
	Spec      RolloutSpec  `json:"spec"`
	Baseline  int          `json:"baseline"`
	Candidate int          `json:"candidate"`
	State     RolloutState `json:"state"`
	// Share is the candidate's share of the requests in percent (0 for a
	// shadow rollout, whose candidate answers none).
	Share int `json:"share"`
	// Step is the index of Share in Spec.Steps (canary).
	Step int `json:"step"`
	// StepAt is when the current step (or the rollout) began: its window
	// of judgement starts there.
	StepAt    time.Time `json:"step_at"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Reason says why the rollout last changed (a rollback's cause).
	Reason string `json:"reason,omitempty"`
	// Paused: the rollout holds its share (the leader neither steps nor
	// promotes it, and still rolls it back when the candidate fails)
	// until it is resumed.
	Paused bool `json:"paused,omitempty"`
}

// Routes says whether the rollout routes any request to the candidate or
// shadows it: it is active.
func (r *Rollout) Routes() bool { return r != nil && r.State == RolloutActive }

// RolloutEvent is one change of a rollout, in its history.
type RolloutEvent struct {
	ID     int64     `json:"id"`
	Name   string    `json:"name"`
	At     time.Time `json:"at"`
	Event  string    `json:"event"` // start, step, promote, rollback, pause, resume, share
	Share  int       `json:"share"`
	Detail string    `json:"detail,omitempty"`
	// Candidate and Baseline are the versions of the rollout.
	Baseline  int `json:"baseline"`
	Candidate int `json:"candidate"`
}

// Rollout events.
const (
	RolloutEventStart    = "start"
	RolloutEventStep     = "step"
	RolloutEventPromote  = "promote"
	RolloutEventRollback = "rollback"
	// Changes by hand (cairn models rollout NAME pause|resume|set-share).
	RolloutEventPause  = "pause"
	RolloutEventResume = "resume"
	RolloutEventShare  = "share" // a share set by hand
)

// ShareStep is the step of a canary whose share is set to share by hand:
// the index of the last of steps at or below share, -1 when share is below
// them all, so that the canary goes on to the first step above share.
func ShareStep(steps []int, share int) int {
	i := -1
	for j, v := range steps {
		if v <= share {
			i = j
		}
	}
	return i
}

// RouteBucket is the bucket, from 0 to 9,999, of a request key for model
// name: a hash (FNV-1a, 64 bits) of the name and the key, so that the same
// key goes to the same version on every replica and every run, and two
// models split their keys independently.
func RouteBucket(name, key string) int {
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(key))
	// A second mixing round (splitmix64's finalizer): FNV's low bits are
	// weak for keys that differ in their last byte only.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % 10000)
}

// ToCandidate says whether a request with key goes to the candidate of
// model name when the candidate has share percent of the requests.
func ToCandidate(name, key string, share int) bool {
	return RouteBucket(name, key) < share*100
}

// RequestStats are a model version's requests in a window, from the
// request log: how many, how many failed, how many rows were labeled by
// feedback and their score.
type RequestStats struct {
	Version  int `json:"version"`
	Requests int `json:"requests"`
	Failed   int `json:"failed"`
	Rows     int `json:"rows"`
	Labeled  int `json:"labeled"`
	// Score is the sum over labeled rows: the rows predicted right
	// (classification) or the absolute errors (regression).
	Score float64 `json:"score"`
	// Kind is "classification" or "regression" (the model's), "" when
	// no request was logged.
	Kind string `json:"kind,omitempty"`
	// P99 is the 99th percentile of the requests' durations.
	P99 time.Duration `json:"p99"`
}

// LiveMetric returns the version's live metric — accuracy for a
// classifier, the mean absolute error for a regressor — and its name;
// ok false when no row is labeled, or when the errors summed past the
// range of a float64 (no figure rather than +Inf).
func (s RequestStats) LiveMetric() (name string, v float64, ok bool) {
	name = "accuracy"
	if s.Kind == "regression" {
		name = "mae"
	}
	if s.Labeled == 0 {
		return name, 0, false
	}
	v = s.Score / float64(s.Labeled)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return name, 0, false // no figure: errors summed past the range of a float64
	}
	return name, v, true
}

// ErrorRate is the share of the version's requests that failed.
func (s RequestStats) ErrorRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Failed) / float64(s.Requests)
}

// HigherIsBetter says whether a larger value of live metric name is
// better (accuracy) or worse (mae).
func HigherIsBetter(metric string) bool { return metric != "mae" }

// ModelRequest is one logged prediction request of one model version (a
// shadowed request has two: the production version's and the
// candidate's).
type ModelRequest struct {
	RequestID string    `json:"request_id"`
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Shadow    bool      `json:"shadow"`
	At        time.Time `json:"at"`
	Duration  time.Duration
	Failed    bool   `json:"failed"`
	Rows      int    `json:"rows"`
	Kind      string `json:"kind"` // classification or regression
	// Predictions is the JSON array of the predictions, one per row (nil
	// when it failed).
	Predictions []byte `json:"predictions,omitempty"`
	Labeled     int    `json:"labeled"`
	Score       float64
	// ShadowVersion, when not 0, is a shadow rollout's candidate that
	// scored the same request, its answer written in this row (one insert
	// per shadowed request): its duration, failure, kind and predictions.
	// Readers of the log see it as a request of its own, Shadow true.
	ShadowVersion     int           `json:"shadow_version,omitempty"`
	ShadowDuration    time.Duration `json:"-"`
	ShadowFailed      bool          `json:"shadow_failed,omitempty"`
	ShadowKind        string        `json:"shadow_kind,omitempty"`
	ShadowPredictions []byte        `json:"shadow_predictions,omitempty"`
}

// RequestScore is the feedback of one logged request of one version.
type RequestScore struct {
	Version int
	Labeled int
	Score   float64
}

// SortedVersions returns the versions of stats in order.
func SortedVersions(stats map[int]RequestStats) []int {
	vs := make([]int, 0, len(stats))
	for v := range stats {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	return vs
}

// RolloutChange is a change of an active rollout, applied as a
// compare-and-set: it applies only while the rollout is active, of
// Candidate, at step FromStep, paused as FromPaused (cairn.ErrConflict
// otherwise).
type RolloutChange struct {
	Name       string
	Candidate  int
	FromStep   int
	FromPaused bool
	// Event is RolloutEventStep (to Share at Step), RolloutEventPromote
	// (the candidate goes to production), RolloutEventRollback (the
	// candidate answers no more requests), or a change by hand:
	// RolloutEventShare (to Share at Step, as a step), RolloutEventPause
	// or RolloutEventResume (the step's window starts again).
	Event  string
	Share  int
	Step   int
	Detail string
	Actor  string
	At     time.Time
}

// ModelMinute is one model version's served requests in one minute (the
// models page's charts over time): written by the leader from the request
// log once the minute is over, and the feedback that arrived in the
// minute.
type ModelMinute struct {
	Name     string        `json:"name"`
	Version  int           `json:"version"`
	Minute   time.Time     `json:"minute"` // the minute's start
	Requests int           `json:"requests"`
	Failed   int           `json:"failed"`
	Rows     int           `json:"rows"`
	P99      time.Duration `json:"p99"`
	Kind     string        `json:"kind,omitempty"`
	// Dist is the distribution of the minute's predictions.
	Dist PredictionDist `json:"dist"`
	// Labeled and Score are the feedback that arrived in the minute (of
	// requests of any time): RequestStats' fields, whose LiveMetric is the
	// minute's live metric.
	Labeled int     `json:"labeled"`
	Score   float64 `json:"score"`
}

// Stats returns m as RequestStats (for its LiveMetric and ErrorRate).
func (m ModelMinute) Stats() RequestStats {
	return RequestStats{Version: m.Version, Requests: m.Requests, Failed: m.Failed, Rows: m.Rows, Labeled: m.Labeled, Score: m.Score, Kind: m.Kind, P99: m.P99}
}

// PredictionDist is the distribution of a set of predictions: for a
// classifier the count of each class predicted (the JSON text of the
// class; at most MaxDistClasses, the rest counted under "other"), for a
// regressor their count, sum, least and greatest.
type PredictionDist struct {
	Classes map[string]int `json:"classes,omitempty"`
	N       int            `json:"n,omitempty"`
	Sum     float64        `json:"sum,omitempty"`
	Min     float64        `json:"min,omitempty"`
	Max     float64        `json:"max,omitempty"`
}

// MaxDistClasses bounds the classes a PredictionDist counts apart.
const MaxDistClasses = 32

// Mean is the regressor's mean prediction (0 when none).
func (d PredictionDist) Mean() float64 {
	if d.N == 0 {
		return 0
	}
	return d.Sum / float64(d.N)
}

// Add counts one prediction, its JSON text p (a class, or a number for a
// regressor: kind "regression").
func (d *PredictionDist) Add(kind string, p []byte) {
	if kind == "regression" {
		v, err := strconv.ParseFloat(string(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		if d.N == 0 || v < d.Min {
			d.Min = v
		}
		if d.N == 0 || v > d.Max {
			d.Max = v
		}
		d.N++
		d.Sum += v
		return
	}
	if d.Classes == nil {
		d.Classes = map[string]int{}
	}
	k := string(p)
	if _, ok := d.Classes[k]; !ok && len(d.Classes) >= MaxDistClasses {
		k = "other"
	}
	d.Classes[k]++
}
