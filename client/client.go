// Package client talks to a cairn server's JSON API (/api/v1): the runs
// and their tasks, attempts and logs (a log followed live by Server-Sent
// Events), and the actions on them — trigger a workflow, submit a file,
// cancel, retry, resume. The command line uses it for --server, and any Go
// program can: it depends on the standard library, the cairn vocabulary
// and the JSON shapes of ui/runjson only (not on the server's web stack).
//
// Every call sends the token as "Authorization: Bearer TOKEN" and nowhere
// else: never in a URL, never in an error message, never to another host
// (redirects are not followed). Errors say what went wrong in words a
// user can act on: *UnreachableError when the server cannot be reached,
// *Error for an answer that is not a success (401, 403, 404, 409, ...).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/runjson"
)

// APIPrefix is where a server's API lives below its base URL.
const APIPrefix = "/api/v1"

// Defaults of Options.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultDialTimeout = 10 * time.Second
	// MaxAnswerBytes bounds the JSON answer of one call.
	MaxAnswerBytes = 256 << 20
)

// Options configure a Client.
type Options struct {
	// Token is sent as a Bearer token with every request; "" sends none
	// (a server run with --insecure-no-auth, or to learn that one is needed).
	Token string
	// Timeout bounds a call that is not a stream, from the request to the
	// end of its answer (DefaultTimeout when 0). A followed log has no
	// such bound: it lasts as long as the attempt.
	Timeout time.Duration
	// DialTimeout bounds connecting (DefaultDialTimeout when 0).
	DialTimeout time.Duration
	// UserAgent is sent with every request ("cairn-client" when empty).
	UserAgent string
	// Transport, if set, is the round tripper to use (tests, proxies);
	// by default a transport of its own with the dial timeout, the
	// environment's proxy settings and HTTP/2 when the server offers it.
	Transport http.RoundTripper
}

// Client is a connection to one server. Its methods are safe for
// concurrent use.
type Client struct {
	base  *url.URL
	token string
	ua    string
	calls *http.Client // with Options.Timeout
	strm  *http.Client // streams: no overall timeout
	tmo   time.Duration
}

// New returns a client of the server at base, a URL such as
// http://127.0.0.1:8080 or https://cairn.example.com/prefix.
func New(base string, o Options) (*Client, error) {
	u, err := ParseURL(base)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.UserAgent == "" {
		o.UserAgent = "cairn-client"
	}
	rt := o.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 15 * time.Second}).DialContext,
			TLSHandshakeTimeout:   o.DialTimeout,
			ResponseHeaderTimeout: o.Timeout,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
		}
	}
	// Never follow a redirect: the token would go along (to the same
	// host, the standard client forwards it), and an API call answered
	// with a redirect is a wrong --server, better said than followed.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: u, token: o.Token, ua: o.UserAgent, tmo: o.Timeout,
		calls: &http.Client{Transport: rt, Timeout: o.Timeout, CheckRedirect: noRedirect},
		strm:  &http.Client{Transport: rt, CheckRedirect: noRedirect},
	}, nil
}

// ParseURL checks a server's base URL: http or https, a host, no query,
// fragment or credentials (the token goes in a header, never in a URL).
func ParseURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("no server URL: give one such as http://127.0.0.1:8080")
	}
	if !strings.Contains(s, "://") {
		return nil, fmt.Errorf("server %q is not a URL: write its scheme, such as http://%s or https://%s", s, s, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server %q is not a URL: %v", s, urlErrText(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("server %q: want an http:// or https:// URL", u.Redacted())
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("server %q has no host: write it as http://HOST:PORT", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("server %q holds credentials: give the token with --token or CAIRN_TOKEN, not in the URL", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("server %q: want the server's base URL, without a query or fragment", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// urlErrText is a *url.Error's cause alone (its text repeats the URL).
func urlErrText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// URL is the server's base URL, as messages show it.
func (c *Client) URL() string { return c.base.String() }

// HasToken reports whether the client sends a token.
func (c *Client) HasToken() bool { return c.token != "" }

// ClearText reports whether requests travel unencrypted beyond this host:
// an http:// URL whose host is not a loopback address (localhost,
// 127.0.0.0/8, ::1).
func (c *Client) ClearText() bool { return ClearText(c.base) }

// ClearText reports whether u is http:// to a host that is not loopback.
func ClearText(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// The access a call needs, for the message of a 403.
const (
	needRead    = "viewer"
	needOperate = "operator"
	needAdmin   = "admin"
)

// call is one request of the API.
type call struct {
	method string
	path   string // below APIPrefix, escaped
	query  url.Values
	body   any    // JSON-encoded when not nil
	need   string // the role the call needs
	what   string // what the call does, for messages: "list runs"
}

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	raw := c.base.EscapedPath() + APIPrefix + path // path is escaped already
	u.Path, u.RawPath = raw, ""
	if p, err := url.PathUnescape(raw); err == nil && p != raw {
		u.Path, u.RawPath = p, raw
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) newRequest(ctx context.Context, k call) (*http.Request, error) {
	var body io.Reader
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return nil, fmt.Errorf("%s: encode the request: %w", k.what, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, c.endpoint(k.path, k.query), body)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", k.what, urlErrText(err))
	}
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends a call and returns the answer when its status is want; any
// other answer is an *Error, a failure to get one an *UnreachableError.
// The caller closes the body.
func (c *Client) do(ctx context.Context, hc *http.Client, k call, want ...int) (*http.Response, error) {
	req, err := c.newRequest(ctx, k)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", k.what, context.Cause(ctx))
		}
		return nil, &UnreachableError{URL: c.URL(), What: k.what, Err: unwrapURLError(err), Timeout: c.tmo}
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, c.answerError(k, resp)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// getJSON calls k and decodes its JSON answer into v.
func (c *Client) callJSON(ctx context.Context, k call, v any, want ...int) error {
	resp, err := c.do(ctx, c.calls, k, want...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if v == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswerBytes))
		return nil
	}
	if err := decodeJSON(resp, v); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", k.what, context.Cause(ctx))
		}
		return fmt.Errorf("%s: the answer of %s is not the JSON expected: %v", k.what, c.URL(), err)
	}
	return nil
}

// decodeJSON reads a JSON answer, numbers kept exact (json.Number).
func decodeJSON(resp *http.Response, v any) error {
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("its content type is %q", ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return err
	}
	if len(b) > MaxAnswerBytes {
		return fmt.Errorf("it is over %d MiB", MaxAnswerBytes>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// RunsQuery filters and pages GET /api/v1/runs. Zero values are left out.
type RunsQuery struct {
	Workflow string
	State    string
	Limit    int    // the server's default (20) when 0; at most 500
	Before   string // a run id or a unique prefix: the cursor of a previous page
	// Metrics ("task.metric") add each run's values of them (Run.Metrics);
	// Sort "asc" or "desc" ranks the runs by the first, paged by Offset
	// (Page.NextOffset) instead of Before.
	Metrics []string
	Sort    string
	Offset  int
}

// Runs lists runs newest first, one page.
func (c *Client) Runs(ctx context.Context, q RunsQuery) (*runjson.Page, error) {
	v := url.Values{}
	if q.Workflow != "" {
		v.Set("workflow", q.Workflow)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	if len(q.Metrics) > 0 {
		v.Set("metric", strings.Join(q.Metrics, ","))
	}
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	var page runjson.Page
	if err := c.callJSON(ctx, call{method: http.MethodGet, path: "/runs", query: v, need: needRead, what: "list runs"}, &page, http.StatusOK); err != nil {
		return nil, err
	}
	for i := range page.Runs {
		normalizeRun(&page.Runs[i])
	}
	return &page, nil
}

// Run returns a run with its tasks and their attempts; id may be a
// unique prefix of a run id (4 characters or more).
func (c *Client) Run(ctx context.Context, id string) (*runjson.Run, error) {
	var r runjson.Run
	k := call{method: http.MethodGet, path: "/runs/" + url.PathEscape(id), need: needRead, what: "read run " + id}
	if err := c.callJSON(ctx, k, &r, http.StatusOK); err != nil {
		return nil, err
	}
	normalizeRun(&r)
	return &r, nil
}

// Attempts returns the attempts of a task of a run, oldest first.
func (c *Client) Attempts(ctx context.Context, runID, taskID string) ([]runjson.Attempt, error) {
	var out struct {
		Attempts []runjson.Attempt `json:"attempts"`
	}
	k := call{method: http.MethodGet, path: "/runs/" + url.PathEscape(runID) + "/tasks/" + url.PathEscape(taskID) + "/attempts",
		need: needRead, what: "read the attempts of " + taskID}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Attempts, nil
}

// normalizeRun compacts the JSON values the server indented (a task's
// params, its outputs), so that they read as the store holds them.
func normalizeRun(r *runjson.Run) {
	for i := range r.Tasks {
		t := &r.Tasks[i]
		t.Params = compact(t.Params)
		for k, v := range t.Outputs {
			t.Outputs[k] = compact(v)
		}
	}
}

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// Log is an attempt's log as GET .../log answers it.
type Log struct {
	io.ReadCloser
	// Size is the size of the whole log so far; 0: the attempt printed
	// nothing (yet).
	Size int64
}

// Log opens the log of attempt n of a task (0: the latest attempt). The
// caller closes it.
func (c *Client) Log(ctx context.Context, runID, taskID string, n int) (*Log, error) {
	q := url.Values{}
	if n > 0 {
		q.Set("attempt", strconv.Itoa(n))
	}
	k := c.logCall(runID, taskID, q)
	resp, err := c.do(ctx, c.strm, k, http.StatusOK)
	if err != nil {
		return nil, err
	}
	size, _ := strconv.ParseInt(resp.Header.Get("X-Log-Size"), 10, 64)
	return &Log{ReadCloser: resp.Body, Size: size}, nil
}

func (c *Client) logCall(runID, taskID string, q url.Values) call {
	return call{method: http.MethodGet, path: "/runs/" + url.PathEscape(runID) + "/tasks/" + url.PathEscape(taskID) + "/log",
		query: q, need: needRead, what: "read the log of " + taskID}
}

// RunOptions are how a new run differs from its workflow's defaults.
type RunOptions struct {
	// NoCache runs every task: no earlier success is reused, and none of
	// the run's is offered for reuse (cairn run --no-cache).
	NoCache bool
}

// Trigger starts a run of the server's workflow name with params given
// as text, as -p gives them (the workflow types them), and returns the
// run's id.
func (c *Client) Trigger(ctx context.Context, workflow string, params map[string]string, o RunOptions) (string, error) {
	body := struct {
		Params  map[string]string `json:"params"`
		NoCache bool              `json:"no_cache,omitempty"`
	}{Params: params, NoCache: o.NoCache}
	var out struct {
		ID string `json:"id"`
	}
	k := call{method: http.MethodPost, path: "/workflows/" + url.PathEscape(workflow) + "/runs", body: body, need: needOperate,
		what: "trigger workflow " + workflow}
	if err := c.callJSON(ctx, k, &out, http.StatusCreated); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", fmt.Errorf("trigger workflow %s: the server answered no run id", workflow)
	}
	return out.ID, nil
}

// Submit sends a workflow file (its name and exact text) to run with
// params given as text, and returns the run's id. A file with problems is
// refused with an *Error whose Problems say where.
func (c *Client) Submit(ctx context.Context, file string, source []byte, params map[string]string, o RunOptions) (string, error) {
	body := struct {
		File    string            `json:"file"`
		Source  string            `json:"source"`
		Params  map[string]string `json:"params"`
		NoCache bool              `json:"no_cache,omitempty"`
	}{File: file, Source: string(source), Params: params, NoCache: o.NoCache}
	var out struct {
		ID string `json:"id"`
	}
	k := call{method: http.MethodPost, path: "/runs", body: body, need: needAdmin, what: "submit " + file}
	if err := c.callJSON(ctx, k, &out, http.StatusCreated); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", fmt.Errorf("submit %s: the server answered no run id", file)
	}
	return out.ID, nil
}

// Cancel asks a run to stop and returns its full id.
func (c *Client) Cancel(ctx context.Context, runID string) (string, error) {
	return c.runAction(ctx, runID, "cancel", nil)
}

// Retry runs task taskID of a finished run again with a new attempt, or
// with taskID "" every failed task (and what they held back); it returns
// the run's full id.
func (c *Client) Retry(ctx context.Context, runID, taskID string) (string, error) {
	body := map[string]string{}
	if taskID != "" {
		body["task"] = taskID
	}
	return c.runAction(ctx, runID, "retry", body)
}

// Resume asks the server to take over an orphaned run and drive it on;
// it returns the run's full id.
func (c *Client) Resume(ctx context.Context, runID string) (string, error) {
	return c.runAction(ctx, runID, "resume", nil)
}

func (c *Client) runAction(ctx context.Context, runID, action string, body any) (string, error) {
	if body == nil {
		body = struct{}{}
	}
	var out struct {
		ID string `json:"id"`
	}
	k := call{method: http.MethodPost, path: "/runs/" + url.PathEscape(runID) + "/" + action, body: body, need: needOperate,
		what: action + " run " + runID}
	if err := c.callJSON(ctx, k, &out, http.StatusAccepted, http.StatusOK); err != nil {
		return "", err
	}
	if out.ID == "" {
		out.ID = runID
	}
	return out.ID, nil
}

// Schedules lists the server's schedules (GET /api/v1/schedules).
func (c *Client) Schedules(ctx context.Context) ([]runjson.Schedule, error) {
	var out struct {
		Schedules []runjson.Schedule `json:"schedules"`
	}
	k := call{method: http.MethodGet, path: "/schedules", need: needRead, what: "list schedules"}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Schedules, nil
}

// PauseSchedule pauses workflow's schedule, or with paused false resumes it.
func (c *Client) PauseSchedule(ctx context.Context, workflow string, paused bool) error {
	action := "pause"
	if !paused {
		action = "resume"
	}
	k := call{method: http.MethodPost, path: "/schedules/" + url.PathEscape(workflow) + "/" + action, body: struct{}{}, need: needOperate,
		what: action + " the schedule of " + workflow}
	return c.callJSON(ctx, k, nil, http.StatusOK)
}

// Backfill queues the runs of workflow's slots from from to to (as the
// server reads them: RFC 3339, or a date or date and time in the
// schedule's zone).
func (c *Client) Backfill(ctx context.Context, workflow, from, to string) (*runjson.Backfill, error) {
	body := struct {
		From string `json:"from"`
		To   string `json:"to"`
	}{From: from, To: to}
	var out runjson.Backfill
	k := call{method: http.MethodPost, path: "/workflows/" + url.PathEscape(workflow) + "/backfill", body: body, need: needOperate,
		what: "backfill workflow " + workflow}
	if err := c.callJSON(ctx, k, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// The model registry.

// Models lists the registered models, by name.
func (c *Client) Models(ctx context.Context) (*runjson.ModelList, error) {
	var out runjson.ModelList
	if err := c.callJSON(ctx, call{method: http.MethodGet, path: "/models", need: needRead, what: "list models"}, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Model returns model name with its versions (newest first) and its
// history of stages.
func (c *Client) Model(ctx context.Context, name string) (*runjson.Model, error) {
	var out runjson.Model
	k := call{method: http.MethodGet, path: "/models/" + url.PathEscape(name), need: needRead, what: "read model " + name}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rollout returns model name's rollout (GET /api/v1/models/{name}/rollout).
func (c *Client) Rollout(ctx context.Context, name string) (*runjson.Rollout, error) {
	var out runjson.Rollout
	k := call{method: http.MethodGet, path: "/models/" + url.PathEscape(name) + "/rollout", need: needRead, what: "read the rollout of model " + name}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// ChangeRollout changes model name's active rollout by hand: action is
// pause, resume, promote, abort or set-share (to share percent), and the
// answer is the rollout as it now is.
func (c *Client) ChangeRollout(ctx context.Context, name, action string, share int) (*runjson.Rollout, error) {
	var out runjson.Rollout
	var body any = struct{}{}
	if action == "set-share" {
		body = map[string]int{"share": share}
	}
	k := call{method: http.MethodPost, path: "/models/" + url.PathEscape(name) + "/rollout/" + url.PathEscape(action), body: body,
		need: needOperate, what: fmt.Sprintf("%s the rollout of model %s", action, name)}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// ModelAlerts returns model name's own alerts (GET
// /api/v1/models/{name}/alerts), their webhooks redacted.
func (c *Client) ModelAlerts(ctx context.Context, name string) (*runjson.ModelAlerts, error) {
	var out runjson.ModelAlerts
	k := call{method: http.MethodGet, path: "/models/" + url.PathEscape(name) + "/alerts", need: needRead, what: "read the alerts of model " + name}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetModelAlerts replaces model name's own alerts (PUT), or clears them
// when alerts is empty (DELETE), and returns them as they now are.
func (c *Client) SetModelAlerts(ctx context.Context, name string, alerts []cairn.ModelAlert) (*runjson.ModelAlerts, error) {
	var out runjson.ModelAlerts
	k := call{method: http.MethodDelete, path: "/models/" + url.PathEscape(name) + "/alerts", need: needOperate, what: "clear the alerts of model " + name}
	if len(alerts) > 0 {
		k.method, k.body, k.what = http.MethodPut, map[string]any{"alerts": alerts}, "set the alerts of model "+name
	}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// ModelVersion returns version v of model name.
func (c *Client) ModelVersion(ctx context.Context, name string, v int) (*runjson.ModelVersion, error) {
	var out runjson.ModelVersion
	k := call{method: http.MethodGet, path: "/models/" + url.PathEscape(name) + "/versions/" + strconv.Itoa(v), need: needRead,
		what: fmt.Sprintf("read model %s version %d", name, v)}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// PromoteModel moves version v of model name to stage (production,
// candidate or archived) and says what changed.
func (c *Client) PromoteModel(ctx context.Context, name string, v int, stage string) (*runjson.ModelChange, error) {
	var out runjson.ModelChange
	k := call{method: http.MethodPost, path: "/models/" + url.PathEscape(name) + "/promote", body: map[string]any{"version": v, "stage": stage},
		need: needOperate, what: fmt.Sprintf("promote model %s version %d", name, v)}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RollbackModel puts back in production the version of model name that
// was there before the current one, and says what changed.
func (c *Client) RollbackModel(ctx context.Context, name string) (*runjson.ModelChange, error) {
	var out runjson.ModelChange
	k := call{method: http.MethodPost, path: "/models/" + url.PathEscape(name) + "/rollback", body: struct{}{}, need: needOperate,
		what: "roll back model " + name}
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Workers lists the server's workers: its own pool, and the registered
// workers live now or seen within since (the server's default, an hour,
// when 0), the live ones first.
func (c *Client) Workers(ctx context.Context, since time.Duration) (*runjson.WorkerList, error) {
	k := call{method: http.MethodGet, path: "/workers", need: needRead, what: "list workers"}
	if since > 0 {
		k.query = url.Values{"since": {since.String()}}
	}
	var out runjson.WorkerList
	if err := c.callJSON(ctx, k, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}
