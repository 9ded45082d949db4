// Package alerts delivers the outbox of a workflow's notify: (issue #22):
// the alerts the store wrote in the transactions of their events (a run's
// end, a gate that did not pass, drift found), each POSTed to its webhook
// as JSON or in a Slack incoming webhook's shape, with its idempotency
// key in the body and in the Idempotency-Key header.
//
// Whichever process is alive delivers: a foreground cairn run sends its
// own run's alerts before it exits (Sender.DrainRun, bounded by a
// deadline), a server the rest (Sender.Start/Stop, a loop of its own).
// An alert is claimed before it is sent (the claim lapses if its process
// dies) and marked sent, failed or due again afterwards, so that it is
// delivered at least once across restarts, maybe twice (the process died
// between the webhook's answer and the mark): the key lets a receiver drop
// the repeat. A timeout, a connection refused, a 5xx, a 408 or a 429 are
// retried with exponential backoff, up to MaxAttempts; another 4xx (and a
// redirect, which is not followed) fails the alert at once. Sending never
// blocks a run: it happens after the run's end is recorded, outside its
// transaction.
package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnml/cairn"
)

// Store is the outbox as the sender uses it (*sqlite.Store and
// *postgres.Store satisfy it).
type Store interface {
	ClaimAlerts(ctx context.Context, c cairn.AlertClaim) ([]cairn.Alert, error)
	FinishAlert(ctx context.Context, o cairn.AlertOutcome) error
	ListAlerts(ctx context.Context, f cairn.AlertFilter) ([]cairn.Alert, error)
}

// Options configure a Sender.
type Options struct {
	Store Store
	// Owner names the process in its claims ("host:pid:nonce").
	Owner string
	// PublicURL is the server's URL as its users reach it: the alerts'
	// links are PublicURL/runs/RUN. "" leaves the link out.
	PublicURL string
	// Client sends the requests (one that follows no redirect and
	// times out after Timeout when nil).
	Client *http.Client
	// Timeout bounds one delivery (10 s when 0).
	Timeout time.Duration
	// MaxAttempts is how many deliveries an alert gets before it is
	// failed (10 when 0).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt (2 s when 0),
	// doubled after each, at most MaxBackoff (10 min when 0).
	Backoff, MaxBackoff time.Duration
	// ClaimTTL is how long a claim holds an alert (Timeout + 20 s when 0).
	ClaimTTL time.Duration
	// Poll is how often Start's loop looks for due alerts (2 s when 0).
	Poll time.Duration
	// UserAgent is sent with each request ("cairn" when "").
	UserAgent string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Sender delivers alerts.
type Sender struct {
	o      Options
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
}

// New returns a sender.
func New(o Options) (*Sender, error) {
	if o.Store == nil || o.Owner == "" {
		return nil, errors.New("alerts: Options.Store and Options.Owner are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = o.Timeout + 20*time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "cairn"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout: o.Timeout,
			// A webhook that redirects is not followed: the URL the
			// workflow names is the one that gets the alert.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &Sender{o: o}, nil
}

// Body is the JSON an alert's webhook gets (format json).
type Body struct {
	Workflow string `json:"workflow,omitempty"`
	RunID    string `json:"run_id,omitempty"`
	// Model, Version, Value and Bound are a per-model alert's (Value and
	// Bound in seconds for a latency).
	Model          string           `json:"model,omitempty"`
	Version        int              `json:"version,omitempty"`
	Value          *float64         `json:"value,omitempty"`
	Bound          *float64         `json:"bound,omitempty"`
	Event          cairn.AlertEvent `json:"event"`
	Task           string           `json:"task,omitempty"`
	Detail         string           `json:"detail,omitempty"`
	Link           *string          `json:"link"`
	IdempotencyKey string           `json:"idempotency_key"`
	At             time.Time        `json:"at"`
}

// body is the request body of a.
func (s *Sender) body(a cairn.Alert) ([]byte, error) {
	if a.Model != "" {
		return s.modelBody(a)
	}
	var link *string
	if s.o.PublicURL != "" {
		l := s.o.PublicURL + "/runs/" + url.PathEscape(a.RunID)
		link = &l
	}
	if a.Format == cairn.AlertSlack {
		text := fmt.Sprintf("Cairn: %s of workflow %s: %s", slackText(what(a)), slackText(a.Workflow), slackText(a.RunID))
		if link != nil {
			text = fmt.Sprintf("Cairn: %s of workflow %s: <%s|%s>", slackText(what(a)), slackText(a.Workflow), *link, slackText(a.RunID))
		}
		if a.Detail != "" {
			text += "\n" + slackText(a.Detail)
		}
		return marshal(map[string]string{"text": text})
	}
	return marshal(Body{Workflow: a.Workflow, RunID: a.RunID, Event: a.Event, Task: a.TaskID, Detail: a.Detail,
		Link: link, IdempotencyKey: a.Key, At: a.CreatedAt})
}

// modelBody is the request body of a per-model alert: its link is the
// models page of the model.
func (s *Sender) modelBody(a cairn.Alert) ([]byte, error) {
	var link *string
	if s.o.PublicURL != "" {
		l := s.o.PublicURL + "/models/" + url.PathEscape(a.Model)
		link = &l
	}
	if a.Format == cairn.AlertSlack {
		text := fmt.Sprintf("Cairn: model %s version %d: %s", slackText(a.Model), a.Version, slackText(what(a)))
		if link != nil {
			text = fmt.Sprintf("Cairn: model <%s|%s> version %d: %s", *link, slackText(a.Model), a.Version, slackText(what(a)))
		}
		if a.Detail != "" {
			text += "\n" + slackText(a.Detail)
		}
		return marshal(map[string]string{"text": text})
	}
	value, bound := a.Value, a.Bound
	return marshal(Body{Model: a.Model, Version: a.Version, Event: a.Event, Value: &value, Bound: &bound, Detail: a.Detail,
		Link: link, IdempotencyKey: a.Key, At: a.CreatedAt})
}

// slackText escapes text for Slack's message format, where &, < and >
// are markup (<!channel>, <@U123>, <URL|label>): text that came from data
// (a drifted column's name, a workflow's name) is shown as written, never
// as a ping or a disguised link. Only Cairn's own <link|label> is markup.
var slackText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// marshal is json.Marshal without HTML escaping: Slack reads <URL|text>.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// what says an alert's event in words.
func what(a cairn.Alert) string {
	switch a.Event {
	case cairn.AlertFailure:
		return "run failed"
	case cairn.AlertSuccess:
		return "run succeeded"
	case cairn.AlertGateFailed:
		return fmt.Sprintf("the gate of task %s did not pass", a.TaskID)
	case cairn.AlertDrift:
		return fmt.Sprintf("task %s found drift", a.TaskID)
	case cairn.AlertLiveMetricBelow:
		return "live metric below its bound"
	case cairn.AlertP99Above:
		return "p99 latency above its bound"
	}
	return string(a.Event)
}

// Deliver claims the alerts due now (of run runID only, when set; at most
// 64) and delivers each once, recording how it went; it returns how many
// it tried.
func (s *Sender) Deliver(ctx context.Context, runID string) (int, error) {
	var wg sync.WaitGroup
	n, err := s.claimAndSend(ctx, runID, 64, &wg)
	wg.Wait()
	return n, err
}

// claimAndSend claims up to max alerts due now (of run runID only, when
// set) and sends each on a goroutine of its own, counted in wg: a claimed
// alert stays claimed (ClaimTTL) while its send is under way.
func (s *Sender) claimAndSend(ctx context.Context, runID string, max int, wg *sync.WaitGroup) (int, error) {
	as, err := s.o.Store.ClaimAlerts(ctx, cairn.AlertClaim{Owner: s.o.Owner, RunID: runID, Now: s.o.Now(), TTL: s.o.ClaimTTL, Max: max})
	if err != nil {
		return 0, fmt.Errorf("alerts: %w", err)
	}
	for _, a := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deliver(ctx, a)
		}()
	}
	return len(as), nil
}

// maxSending bounds the deliveries Start's loop has under way: a round
// claims only what leaves it at most that many.
const maxSending = 256

// deliver sends a once and records the outcome.
func (s *Sender) deliver(ctx context.Context, a cairn.Alert) {
	out := cairn.AlertOutcome{ID: a.ID, Owner: s.o.Owner, State: cairn.AlertSent}
	retry, err := s.send(ctx, a)
	switch {
	case err == nil:
		out.Error = a.LastError // what the attempts before this one met, kept
	case retry && a.Attempts < s.o.MaxAttempts:
		out.State, out.Error = cairn.AlertPending, err.Error()
		out.NextAt = s.o.Now().Add(s.backoff(a.Attempts))
	case retry:
		out.State, out.Error = cairn.AlertFailed, fmt.Sprintf("gave up after %d attempts: %v", a.Attempts, err)
	default:
		out.State, out.Error = cairn.AlertFailed, err.Error()
	}
	out.Now = s.o.Now()
	log := s.o.Logger.With("run", a.RunID, "alert", a.ID, "event", string(a.Event), "webhook", cairn.RedactWebhook(a.Webhook), "attempt", a.Attempts)
	switch out.State {
	case cairn.AlertSent:
		log.Info("alert sent")
	case cairn.AlertPending:
		log.Warn("alert not delivered, retried later", "err", out.Error, "next", out.NextAt)
	default:
		log.Error("alert failed", "err", out.Error)
	}
	// Recorded whatever ctx says: the webhook has answered.
	if err := s.o.Store.FinishAlert(context.WithoutCancel(ctx), out); err != nil {
		log.Warn("alert outcome not recorded", "err", err)
	}
}

// backoff is the wait after attempt n (1-based) failed.
func (s *Sender) backoff(n int) time.Duration {
	d := float64(s.o.Backoff) * math.Pow(2, float64(max(n-1, 0)))
	if d > float64(s.o.MaxBackoff) {
		return s.o.MaxBackoff
	}
	return time.Duration(d)
}

// send posts a to its webhook; retry says whether a failure may pass.
func (s *Sender) send(ctx context.Context, a cairn.Alert) (retry bool, err error) {
	b, err := s.body(a)
	if err != nil {
		return false, fmt.Errorf("encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Webhook, bytes.NewReader(b))
	if err != nil {
		return false, fmt.Errorf("request to %s: %v", cairn.RedactWebhook(a.Webhook), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", a.Key)
	req.Header.Set("User-Agent", s.o.UserAgent)
	resp, err := s.o.Client.Do(req)
	if err != nil {
		// The URL may hold its secret: say where without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, fmt.Errorf("post to %s: %v", cairn.RedactWebhook(a.Webhook), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return false, nil
	case code >= 300 && code < 400:
		return false, fmt.Errorf("HTTP %d: a redirect, not followed (give the webhook's final URL)", code)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return true, fmt.Errorf("HTTP %d%s", code, answer(snippet))
	default:
		return false, fmt.Errorf("HTTP %d%s", code, answer(snippet))
	}
}

// answer is the start of a webhook's answer, on one line.
func answer(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return ": " + s
}

// DrainRun delivers run runID's alerts until none is pending or deadline
// passes (or ctx ends): what a foreground cairn run does before it exits.
// It waits for a retry only when the retry is due before the deadline,
// and returns how many of the run's alerts are still pending (a server
// delivers them later).
func (s *Sender) DrainRun(ctx context.Context, runID string, deadline time.Time) (int, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for first := true; ; first = false {
		// A read first: a run without alerts costs no write.
		pend, err := s.o.Store.ListAlerts(context.WithoutCancel(ctx), cairn.AlertFilter{RunID: runID, State: cairn.AlertPending, Limit: 1000})
		if err != nil {
			return 0, fmt.Errorf("alerts: %w", err)
		}
		if len(pend) == 0 {
			return 0, nil
		}
		if !first || dueAny(pend, s.o.Now()) {
			if _, err := s.Deliver(ctx, runID); err != nil {
				return s.pending(runID), err
			}
			if pend, err = s.o.Store.ListAlerts(context.WithoutCancel(ctx), cairn.AlertFilter{RunID: runID, State: cairn.AlertPending, Limit: 1000}); err != nil {
				return 0, fmt.Errorf("alerts: %w", err)
			}
			if len(pend) == 0 {
				return 0, nil
			}
		}
		next := pend[0].NextAt
		for _, a := range pend {
			if a.NextAt.Before(next) {
				next = a.NextAt
			}
		}
		now := s.o.Now()
		if next.Before(now) {
			next = now.Add(100 * time.Millisecond) // claimed by another process: look again shortly
		}
		if !next.Before(deadline) {
			return len(pend), nil
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return len(pend), nil
		case <-t.C:
		}
	}
}

// dueAny reports whether some of as is due by now.
func dueAny(as []cairn.Alert, now time.Time) bool {
	for _, a := range as {
		if !a.NextAt.After(now) {
			return true
		}
	}
	return false
}

func (s *Sender) pending(runID string) int {
	pend, err := s.o.Store.ListAlerts(context.Background(), cairn.AlertFilter{RunID: runID, State: cairn.AlertPending, Limit: 1000})
	if err != nil {
		return 0
	}
	return len(pend)
}

// Start delivers every process's due alerts every Poll until Stop, each
// round's sends under way while the next rounds claim.
func (s *Sender) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.o.Poll)
		defer t.Stop()
		// A round does not wait for the sends of the rounds before it: a
		// receiver that never answers holds back its own alerts (until
		// Timeout), not everyone's.
		var sending sync.WaitGroup
		var busy atomic.Int64
		defer sending.Wait()
		for {
			if room := maxSending - int(busy.Load()); room > 0 {
				var round sync.WaitGroup
				n, err := s.claimAndSend(ctx, "", min(room, 64), &round)
				if err != nil && ctx.Err() == nil {
					s.o.Logger.Warn("alerts: could not claim due alerts", "err", err)
				}
				if n > 0 {
					busy.Add(int64(n))
					sending.Add(1)
					go func() {
						defer sending.Done()
						round.Wait()
						busy.Add(-int64(n))
					}()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends Start's loop and waits for it and its sends: a delivery under
// way is cancelled (its alert is due again when its claim lapses).
func (s *Sender) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		return
	}
	s.cancel()
	<-s.done
	s.done = nil
}
