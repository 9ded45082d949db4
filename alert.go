package cairn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// AlertEvent is what a workflow's notify: can be told of (issue #22).
type AlertEvent string

// Alert events.
const (
	// AlertFailure: the run ended failed.
	AlertFailure AlertEvent = "failure"
	// AlertSuccess: the run ended succeeded.
	AlertSuccess AlertEvent = "success"
	// AlertGateFailed: an evaluate task's gate did not pass (the task
	// succeeded with passed = false).
	AlertGateFailed AlertEvent = "gate_failed"
	// AlertDrift: a retrain task found drift (drifted features).
	AlertDrift AlertEvent = "drift"
	// AlertLiveMetricBelow: a model version's live metric (from feedback)
	// fell below a deploy's alerts: bound (a per-model alert).
	AlertLiveMetricBelow AlertEvent = "live_metric_below"
	// AlertP99Above: a model version's p99 request latency rose above a
	// deploy's alerts: bound (a per-model alert).
	AlertP99Above AlertEvent = "p99_latency_above"
	// AlertDriftAbove: the drift of a model version's served rows from
	// its training data (the largest PSI of its features) rose above a
	// deploy's alerts: bound (a per-model alert).
	AlertDriftAbove AlertEvent = "drift_above"
)

// AlertEvents are the events, in the order the docs list them.
var AlertEvents = []AlertEvent{AlertFailure, AlertSuccess, AlertGateFailed, AlertDrift}

// Valid reports whether e is one of AlertEvents.
func (e AlertEvent) Valid() bool {
	for _, x := range AlertEvents {
		if e == x {
			return true
		}
	}
	return false
}

// Alert formats: the body a webhook gets.
const (
	AlertJSON  = "json"  // Cairn's own JSON object
	AlertSlack = "slack" // a Slack incoming webhook's {"text": ...}
)

// NotifyTarget is one entry of a workflow's notify: the events it is for,
// the webhook to tell and the body's format. A run keeps its workflow's
// targets (Run.Notify), so that the store knows whom an event concerns in
// the transaction that records it.
type NotifyTarget struct {
	On      []AlertEvent `json:"on"`
	Webhook string       `json:"webhook"`
	Format  string       `json:"format"`
}

// Wants reports whether t is for event e.
func (t NotifyTarget) Wants(e AlertEvent) bool {
	for _, x := range t.On {
		if x == e {
			return true
		}
	}
	return false
}

// CheckWebhook checks a webhook URL: absolute http or https, with a host,
// no user info (a secret there would be shown wherever the URL is).
// A refusal shows the URL cut as RedactWebhook cuts it (a webhook that
// is not one may still hold its secret: htps://hooks.slack.com/services/…,
// or a URL without its scheme), for the message goes where the webhook
// would not: a catalog's problems on the workflows page, a log.
func CheckWebhook(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text holds the whole URL
		}
		return fmt.Errorf("webhook %q is not a URL: %v", cutWebhook(s), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("webhook %q is not an http or https URL", cutWebhook(s))
	}
	if u.Host == "" {
		return fmt.Errorf("webhook %q has no host", cutWebhook(s))
	}
	if u.User != nil {
		return fmt.Errorf("webhook %q has a user or password in it: put a secret in the path or query, as the receiver asks", RedactWebhook(s))
	}
	return nil
}

// RedactWebhook shows a webhook URL without what may be its secret: the
// scheme and host, and the path's first segment. A Slack webhook's URL is
// its credential.
func RedactWebhook(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(a webhook)"
	}
	out := u.Scheme + "://" + u.Host
	p := strings.TrimPrefix(u.EscapedPath(), "/")
	if p == "" && u.RawQuery == "" {
		return out
	}
	first, rest, _ := strings.Cut(p, "/")
	if first != "" {
		out += "/" + first
	}
	if rest == "" && u.RawQuery == "" {
		return out
	}
	return out + "/…"
}

// cutWebhook is s cut as RedactWebhook cuts a webhook, for a text that
// may not parse as a URL or have a host: after its scheme's "://", if
// any, its first part (the host's place) and the first segment after it,
// the rest left out.
func cutWebhook(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return RedactWebhook(s)
	}
	from := 0
	if i := strings.Index(s, "://"); i >= 0 {
		from = i + len("://")
	}
	end := strings.IndexAny(s[from:], "/?#")
	if end < 0 {
		return s
	}
	end += from
	if s[end] == '/' {
		next := strings.IndexAny(s[end+1:], "/?#")
		if next < 0 {
			return s
		}
		end += 1 + next
	}
	if end+1 < len(s) {
		return s[:end+1] + "…"
	}
	return s
}

// RedactWebhookParams is a task's params (a JSON document) as a page, the
// API or show print them: the value of every "webhook" key (a deploy's
// alerts:) cut by RedactWebhook. Params without one are returned as they
// are.
func RedactWebhookParams(doc json.RawMessage) json.RawMessage {
	if !bytes.Contains(doc, []byte(`"webhook"`)) {
		return doc
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return doc
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "webhook" {
					x[k] = RedactWebhook(s)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return doc
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// Notification is the effect of a task's success that is an event of a
// workflow's notify: (AlertGateFailed, AlertDrift): the store writes an
// alert for each of the run's targets for Event, in the transaction that
// records the success. Detail says what happened, for the body.
type Notification struct {
	Event  AlertEvent `json:"event"`
	Detail string     `json:"detail,omitempty"`
}

// AlertState is where an alert's delivery stands.
type AlertState string

// Alert states.
const (
	AlertPending AlertState = "pending" // not delivered yet: tried again at NextAt
	AlertSent    AlertState = "sent"    // the webhook answered 2xx
	AlertFailed  AlertState = "failed"  // given up: a 4xx, or out of attempts
)

// Alert is one event for one webhook: a row of the store's outbox,
// written in the transaction of the event and delivered at least once by
// whichever process is alive.
type Alert struct {
	ID int64
	// Key is the idempotency key: the same for every delivery of this
	// alert, so that a receiver can drop repeats.
	Key      string
	RunID    string
	Workflow string
	Event    AlertEvent
	TaskID   string // the task of a gate_failed or drift; "" for a run's end
	// Model and Version are a per-model alert's model version (RunID and
	// Workflow are "" then); Value is what was measured and Bound the
	// alert's bound (seconds for a latency).
	Model    string
	Version  int
	Value    float64
	Bound    float64
	Detail   string
	Webhook  string
	Format   string
	State    AlertState
	Attempts int
	// NextAt is when a pending alert is due (again).
	NextAt    time.Time
	LastError string
	CreatedAt time.Time
	// DoneAt is when it was sent or given up; zero while pending.
	DoneAt time.Time
}

// AlertClaim asks for due alerts to deliver: at most Max pending alerts
// whose NextAt has come by Now and that no live claim holds (of run
// RunID only, when set), oldest first. Each is claimed by Owner until
// Now+TTL and its Attempts go up by one.
type AlertClaim struct {
	Owner string
	RunID string
	Now   time.Time
	TTL   time.Duration
	Max   int
}

// AlertOutcome is how one delivery of a claimed alert went: State sent,
// failed, or pending again at NextAt (a retry); Error says why it was not
// sent. It is refused with ErrLeaseLost when Owner's claim is gone.
type AlertOutcome struct {
	ID     int64
	Owner  string
	State  AlertState
	Error  string
	NextAt time.Time
	Now    time.Time
}

// AlertFilter selects alerts to list, newest first: of run RunID, of
// model Model (its per-model alerts) and in State when set, with ids
// below Before when set, at most Limit.
type AlertFilter struct {
	RunID  string
	Model  string
	State  AlertState
	Before int64
	Limit  int
}

// ModelAlertFinding is what the rollouts controller found of one of a
// rollout's per-model alerts (Seq its index in RolloutSpec.Alerts) for
// one model version: whether its condition Holds now. The store keeps
// whether it held at the last finding; an alert is written only when the
// condition starts to hold (again, after it cleared), keyed by the
// number of times it started (ModelAlertKey).
type ModelAlertFinding struct {
	Name    string
	Version int
	Seq     int
	Alert   ModelAlert
	Holds   bool
	Value   float64
	Detail  string
	Now     time.Time
}
