package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/internal/jsoncheck"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

func (h *handler) mountAPI(e *gin.Engine) {
	api := e.Group(core.APIPrefix)
	h.route(api, http.MethodGet, "/runs", core.Read, h.apiRuns)
	h.route(api, http.MethodGet, "/compare", core.Read, h.apiCompare)
	h.route(api, http.MethodGet, "/runs/:id", core.Read, h.apiRun)
	h.route(api, http.MethodGet, "/runs/:id/tasks/:task/attempts", core.Read, h.apiAttempts)
	h.route(api, http.MethodGet, "/runs/:id/tasks/:task/log", core.Read, h.apiLog)
	h.route(api, http.MethodGet, "/runs/:id/tasks/:task/cache", core.Read, h.apiCache)
	h.route(api, http.MethodGet, "/workflows", core.Read, h.apiWorkflows)
	h.route(api, http.MethodGet, "/workflows/:name", core.Read, h.apiWorkflow)
	h.route(api, http.MethodPost, "/workflows/validate", core.Read, h.apiValidate) // changes nothing
	// The write side: served by Options.Actions, 501 without it.
	h.route(api, http.MethodPost, "/workflows/:name/runs", core.Operate, h.apiTrigger)
	// A file of the caller's own is code this server runs as its own user,
	// with the secret params of its environment: that is the owner's
	// power, an admin's, where an operator only starts the workflows the
	// owner put in the --workflows folder.
	h.route(api, http.MethodPost, "/runs", core.Admin, h.apiSubmit)
	h.route(api, http.MethodPost, "/runs/:id/cancel", core.Operate, h.apiCancel)
	h.route(api, http.MethodPost, "/runs/:id/retry", core.Operate, h.apiRetry)
	h.route(api, http.MethodPost, "/runs/:id/resume", core.Operate, h.apiResume)
	// Anything else under /api is a JSON 404 (NoRoute), never a page.
}

// GET /api/v1/runs?workflow=&state=&limit=&before= → {"runs": [...], "next": cursor|null},
// the shape of cairn runs --json. With metric=TASK.METRIC (repeated) each
// run has "metrics"; with sort=asc|desc too, the runs are ranked by the
// first metric and paged by offset= ("next_offset").
func (h *handler) apiRuns(c *gin.Context) {
	mq, err := metricQuery(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	f, err := h.runsQuery(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if len(mq.Metrics) > 0 {
		h.apiMetricRuns(c, f, mq)
		return
	}
	runs, next, err := h.listRuns(c.Request.Context(), f)
	if err != nil {
		h.fail(c, err)
		return
	}
	now := h.o.Now()
	out := runjson.Page{Runs: make([]runjson.Run, 0, len(runs))}
	for _, r := range runs {
		out.Runs = append(out.Runs, runjson.FromRun(r, runjson.Orphaned(r, now, h.o.OwnerGone)))
	}
	if next != "" {
		out.Next = &next
	}
	h.json(c, http.StatusOK, out)
}

// GET /api/v1/runs/{id}: the run with every task and attempt, the shape
// of cairn show --json. The id may be a unique prefix.
func (h *handler) apiRun(c *gin.Context) {
	v, err := h.loadRun(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	out := runjson.FromRun(v.Run, v.Orphaned)
	out.Tasks = runjson.Tasks(v.Tasks, v.Attempts, v.Waiting)
	h.json(c, http.StatusOK, out)
}

// GET /api/v1/runs/{id}/tasks/{task}/attempts → {"attempts": [...]}, oldest first.
func (h *handler) apiAttempts(c *gin.Context) {
	v, tr, ok := h.runTask(c)
	if !ok {
		return
	}
	out := struct {
		Attempts []runjson.Attempt `json:"attempts"`
	}{Attempts: []runjson.Attempt{}}
	for _, a := range v.Attempts[tr.TaskID] {
		out.Attempts = append(out.Attempts, runjson.FromAttempt(a))
	}
	h.json(c, http.StatusOK, out)
}

// maxTail bounds ?tail= of a log.
const maxTail = 64 << 20

// GET /api/v1/runs/{id}/tasks/{task}/log?attempt=N&tail=BYTES: the log of
// an attempt (the latest by default) as text, its last BYTES from a line
// start with tail; with follow=1 (or Accept: text/event-stream) a stream
// of Server-Sent Events from byte from= (or Last-Event-ID) until the
// attempt ends: "log" events, one data line per log line, whose id is the
// offset after them, then one "end" event whose data is the attempt's state.
func (h *handler) apiLog(c *gin.Context) {
	v, tr, ok := h.runTask(c)
	if !ok {
		return
	}
	n, err := attemptParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	at, err := attemptOf(v.Attempts[tr.TaskID], n, tr.TaskID)
	if err != nil {
		h.fail(c, err)
		return
	}
	if at == nil {
		h.fail(c, fmt.Errorf("task %s of run %s has no attempt yet (it is %s): %w", tr.TaskID, v.Run.ID, tr.State, cairn.ErrNotFound))
		return
	}
	follow := strings.Contains(c.GetHeader("Accept"), "text/event-stream")
	switch s := c.Query("follow"); s {
	case "1", "true":
		follow = true
	case "", "0", "false":
	default:
		h.fail(c, core.BadInput("follow %s: want 1 (or true) to follow the log, 0 (or false) not to", core.Brief(s)))
		return
	}
	if follow {
		from := int64(0)
		for _, s := range []string{c.GetHeader("Last-Event-ID"), c.Query("from")} {
			if s == "" {
				continue
			}
			off, err := strconv.ParseInt(s, 10, 64)
			if err != nil || off < 0 {
				h.fail(c, core.BadInput("from %s: want a byte offset", core.Brief(s)))
				return
			}
			from = off
			break
		}
		h.followLog(c, v.Run.ID, tr.TaskID, at.Number, from)
		return
	}
	var tail int64
	if s := c.Query("tail"); s != "" {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil || t < 1 || t > maxTail {
			h.fail(c, core.BadInput("tail %s: want a number of bytes from 1 to %d", core.Brief(s), maxTail))
			return
		}
		tail = t
	}
	if !at.CachedFrom.IsZero() && !h.hasLog(v.Run.ID, tr.TaskID, at.Number) {
		// It ran nothing and wrote no log (executor.Pool.reuse): its log
		// is what cairn logs and the task page say in its place.
		h.sendReused(c, at)
		return
	}
	if tail == 0 {
		h.sendLog(c, v.Run.ID, tr.TaskID, at.Number)
		return
	}
	lt, err := h.readTail(v.Run.ID, tr.TaskID, at.Number, tail)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "no-store")
	c.Header("X-Log-Size", strconv.FormatInt(lt.Size, 10))
	c.Header("X-Log-Skipped", strconv.FormatInt(lt.Skipped, 10))
	c.Data(http.StatusOK, "text/plain; charset=utf-8", lt.Data)
}

// sendLog answers attempt n's whole log, copied from its file as it is
// read: a log may be as large as --log-limit allows (64 MiB, or no limit),
// which the server must not hold in memory once per request.
func (h *handler) sendLog(c *gin.Context, runID, taskID string, n int) {
	var rc io.ReadCloser = io.NopCloser(strings.NewReader(""))
	if h.o.Logs != nil {
		var err error
		rc, err = h.o.Logs.Open(runID, taskID, n)
		if errors.Is(err, cairn.ErrNotFound) {
			rc, err = io.NopCloser(strings.NewReader("")), nil
		}
		if err != nil {
			h.fail(c, fmt.Errorf("open the log of %s attempt %d: %w", taskID, n, err))
			return
		}
	}
	defer rc.Close()
	size := int64(-1)
	if s, ok := rc.(io.Seeker); ok {
		end, err := s.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = s.Seek(0, io.SeekStart)
		}
		if err != nil {
			h.fail(c, fmt.Errorf("read the log of %s attempt %d: %w", taskID, n, err))
			return
		}
		size = end
	}
	hd := c.Writer.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Log-Skipped", "0")
	var r io.Reader = rc
	if size >= 0 {
		// The size when the request came: a running attempt's log grows,
		// and what it writes meanwhile is for the next request (or tail
		// and follow).
		hd.Set("X-Log-Size", strconv.FormatInt(size, 10))
		hd.Set("Content-Length", strconv.FormatInt(size, 10))
		r = io.LimitReader(rc, size)
	}
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, r); err != nil && c.Request.Context().Err() == nil {
		h.o.Logger.Warn("ui: send a log", logAttrs(c, "err", err)...)
	}
}

// hasLog reports whether attempt n has a log (or may have one: one that
// cannot be opened is for the reading to say).
func (h *handler) hasLog(runID, taskID string, n int) bool {
	if h.o.Logs == nil {
		return false
	}
	rc, err := h.o.Logs.Open(runID, taskID, n)
	if err != nil {
		return !errors.Is(err, cairn.ErrNotFound)
	}
	rc.Close()
	return true
}

// sendReused answers the log of an attempt that reused the outputs of
// another and wrote none: cairn.ReusedNote, one line (whole, whatever
// tail).
func (h *handler) sendReused(c *gin.Context, at *cairn.Attempt) {
	note := cairn.ReusedNote(at.CachedFrom) + "\n"
	hd := c.Writer.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Log-Size", strconv.Itoa(len(note)))
	hd.Set("X-Log-Skipped", "0")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(note))
}

// followRecheck is how often a followed log reads its token again.
const followRecheck = time.Second

// stillValid says whether the token a request was authenticated with is
// still valid (nil without token authentication).
func (h *handler) stillValid(ctx context.Context) error {
	c, ok := core.CallerFrom(ctx)
	if h.o.Tokens == nil || !ok || c.Actor == "" || c.Actor == core.NoAuthActor {
		return nil
	}
	if _, err := h.o.Tokens.ValidToken(ctx, c.Actor); err != nil {
		if errors.Is(err, auth.ErrInvalid) {
			return fmt.Errorf("token %s is no longer valid (revoked or expired): the log is not followed further", c.Actor)
		}
		if ctx.Err() == nil {
			h.o.Logger.Warn("ui: read a follower's token again", "token", c.Actor, "err", err)
		}
	}
	return nil
}

// maxFollowsPerToken bounds the logs one token follows at once: each
// costs the server a poll of its file and a read of its token every
// second for as long as its attempt runs, and a viewer token (a prediction
// client's) could otherwise open thousands.
var maxFollowsPerToken = 32

// follows counts the logs each token follows (by token id).
type follows struct {
	mu sync.Mutex
	n  map[string]int
}

// errTooManyFollows answers a follow past maxFollowsPerToken.
type errTooManyFollows struct{ actor string }

func (e errTooManyFollows) Error() string {
	return fmt.Sprintf("token %s already follows %d logs, the most one token may follow at once: close one first", e.actor, maxFollowsPerToken)
}

func (errTooManyFollows) APIStatus() (int, string) {
	return http.StatusTooManyRequests, "too_many_follows"
}

// follow takes one of the follows of the request's token; it returns the
// release, or errTooManyFollows. Requests without a token (no
// authentication) are not counted.
func (h *handler) follow(ctx context.Context) (func(), error) {
	c, ok := core.CallerFrom(ctx)
	if !ok || c.Actor == "" || c.Actor == core.NoAuthActor {
		return func() {}, nil
	}
	f := &h.follows
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[c.Actor] >= maxFollowsPerToken {
		return nil, errTooManyFollows{c.Actor}
	}
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[c.Actor]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.n[c.Actor]--; f.n[c.Actor] <= 0 {
			delete(f.n, c.Actor)
		}
	}, nil
}

// followChunk bounds what one read of a followed log sends.
const followChunk = 256 << 10

// followLog streams attempt n's log from byte off as Server-Sent Events
// until the attempt has ended and all of its log is sent, or the client
// goes. It looks at the attempt first and reads second, so that the bytes
// of an attempt seen finished are all sent before the end event.
func (h *handler) followLog(c *gin.Context, runID, taskID string, n int, off int64) {
	ctx := c.Request.Context()
	release, err := h.follow(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	defer release()
	w := c.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	tick := time.NewTicker(h.o.LogPoll)
	defer tick.Stop()
	checked := time.Now()
	for {
		if time.Since(checked) >= followRecheck {
			// A follow outlives its request's authentication: its token
			// is read again, so that a revoked or expired one stops it.
			checked = time.Now()
			if err := h.stillValid(ctx); err != nil {
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", oneLine(err.Error()))
				w.Flush()
				return
			}
		}
		atts, err := h.o.Store.ListAttempts(ctx, runID, taskID)
		if err != nil {
			if ctx.Err() == nil {
				h.o.Logger.Error("ui: follow a log", "run", runID, "task", taskID, "err", err)
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", oneLine(err.Error()))
				w.Flush()
			}
			return
		}
		at, _ := attemptOf(atts, n, taskID)
		done := at == nil || !at.FinishedAt.IsZero()
		for {
			chunk, err := h.readFrom(runID, taskID, n, off, followChunk)
			if err != nil {
				h.o.Logger.Error("ui: follow a log", "run", runID, "task", taskID, "err", err)
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", oneLine(err.Error()))
				w.Flush()
				return
			}
			send := chunk
			if !done || len(chunk) == followChunk { // whole lines only while more may come
				if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
					send = chunk[:i+1]
				} else if len(chunk) < followChunk {
					send = nil
				}
			}
			if len(send) == 0 {
				break
			}
			off += int64(len(send))
			var b strings.Builder
			b.WriteString("event: log\n")
			for _, l := range strings.Split(strings.TrimSuffix(string(send), "\n"), "\n") {
				// An event stream ends a line at a lone CR too (a
				// progress bar redraws its line with one): each part is a
				// data line of its own, or a browser would read the text
				// after a CR as a field, or a blank line, of the stream.
				for _, part := range strings.Split(strings.TrimSuffix(l, "\r"), "\r") {
					b.WriteString("data: " + part + "\n")
				}
			}
			b.WriteString("id: " + strconv.FormatInt(off, 10) + "\n\n")
			if _, err := io.WriteString(w, b.String()); err != nil {
				return
			}
			w.Flush()
			if len(send) < followChunk {
				break
			}
		}
		if done {
			state := cairn.TaskState("")
			if at != nil {
				state = at.State
			}
			if at != nil && !at.CachedFrom.IsZero() && off == 0 && !h.hasLog(runID, taskID, n) {
				// It ran nothing and wrote no log (executor.Pool.reuse):
				// its log is what cairn logs says in its place.
				note := cairn.ReusedNote(at.CachedFrom)
				fmt.Fprintf(w, "event: log\ndata: %s\nid: %d\n\n", note, len(note)+1)
			}
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", oneLine(string(state)))
			w.Flush()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readFrom reads at most max bytes of attempt n's log from byte off; none
// when the log does not exist yet.
func (h *handler) readFrom(runID, taskID string, n int, off int64, max int) ([]byte, error) {
	if h.o.Logs == nil {
		return nil, nil
	}
	rc, err := h.o.Logs.Open(runID, taskID, n)
	if errors.Is(err, cairn.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if s, ok := rc.(io.Seeker); ok {
		if _, err := s.Seek(off, io.SeekStart); err != nil {
			return nil, err
		}
	} else if _, err := io.CopyN(io.Discard, rc, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	buf := make([]byte, max)
	k, err := io.ReadFull(rc, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return buf[:k], nil
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// The write side.

func (h *handler) actions(c *gin.Context) (core.Actions, bool) {
	if h.o.Actions == nil {
		h.fail(c, fmt.Errorf("this server is read-only: %s %s: %w", c.Request.Method, c.Request.URL.Path, core.ErrNotImplemented))
		return nil, false
	}
	return h.o.Actions, true
}

// bodyError is the error of reading a request's body: a body over the
// limit (413), or a bad request.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return core.BadInput("read the request body: %v", err)
}

// decodeBody reads a JSON body into v; an empty body leaves v as it is.
// Unknown keys are refused (a typo must not pass in silence).
func decodeBody(c *gin.Context, v any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return bodyError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return core.BadInput("%s", jsonBodyProblem(err, v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return core.BadInput("the request body holds more than one JSON value: send one object")
	}
	// encoding/json keeps the last of a key given twice and reads half
	// a surrogate pair as U+FFFD, in silence: refused, as predict does.
	if err := jsoncheck.Check(body); err != nil {
		return core.BadInput("the request body: %v", err)
	}
	return nil
}

// jsonBodyProblem says what is wrong with a body that did not decode into
// v, in the API's words rather than Go's types.
func jsonBodyProblem(err error, v any) string {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		what := "the request body"
		if typ.Field != "" {
			what = strconv.Quote(typ.Field)
		}
		return fmt.Sprintf("%s is a JSON %s, want %s", what, typ.Value, jsonKind(typ.Type))
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("the request body is not valid JSON: %v", err)
	}
	if key, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Sprintf("unknown key %s in the request body (it takes %s)", key, strings.Join(jsonKeys(v), ", "))
	}
	return fmt.Sprintf("the request body is not the JSON expected: %v", err)
}

// jsonKind names the JSON that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another JSON value"
}

// jsonKeys lists the keys of the struct v points to.
func jsonKeys(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		if name != "-" {
			keys = append(keys, strconv.Quote(name))
		}
	}
	return keys
}

// POST /api/v1/workflows/{name}/runs {"params": {"k": v}, "no_cache": false} → 201 {"id": RUN}.
// Each value is typed by the workflow as -p types its text: a string, or
// a number, true or false, a list or a map in JSON.
func (h *handler) apiTrigger(c *gin.Context) {
	var body struct {
		Params  map[string]json.RawMessage `json:"params"`
		NoCache bool                       `json:"no_cache"`
	}
	if err := decodeBody(c, &body); err != nil {
		h.fail(c, err)
		return
	}
	params, err := paramValues(body.Params)
	if err != nil {
		h.fail(c, err)
		return
	}
	a, ok := h.actions(c)
	if !ok {
		return
	}
	id, err := a.Trigger(c.Request.Context(), c.Param("name"), params, core.RunOptions{NoCache: body.NoCache})
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Location", core.APIPrefix+"/runs/"+id)
	h.json(c, http.StatusCreated, map[string]string{"id": id})
}

// POST /api/v1/runs/{id}/cancel → 202 {"id": RUN}.
func (h *handler) apiCancel(c *gin.Context) {
	h.runAction(c, func(a core.Actions, id string) error { return a.Cancel(c.Request.Context(), id) })
}

// POST /api/v1/runs/{id}/retry {"task": ID} (no task: every failed one) → 202.
func (h *handler) apiRetry(c *gin.Context) {
	var body struct {
		Task string `json:"task"`
	}
	if err := decodeBody(c, &body); err != nil {
		h.fail(c, err)
		return
	}
	h.runAction(c, func(a core.Actions, id string) error { return a.Retry(c.Request.Context(), id, body.Task) })
}

// POST /api/v1/runs/{id}/resume → 202.
func (h *handler) apiResume(c *gin.Context) {
	h.runAction(c, func(a core.Actions, id string) error { return a.Resume(c.Request.Context(), id) })
}

func (h *handler) runAction(c *gin.Context, do func(a core.Actions, id string) error) {
	if err := decodeBody(c, &struct{ Task string }{}); err != nil && !errors.Is(err, core.ErrBadInput) {
		h.fail(c, err) // only a body over the limit matters here; retry read its own
		return
	}
	a, ok := h.actions(c)
	if !ok {
		return
	}
	id, err := h.resolve(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := do(a, id); err != nil {
		h.fail(c, err)
		return
	}
	h.json(c, http.StatusAccepted, map[string]string{"id": id})
}

// json answers v, indented as the CLI prints it, never cached.
func (h *handler) json(c *gin.Context, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		h.fail(c, fmt.Errorf("encode the answer: %w", err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "application/json; charset=utf-8", b.Bytes())
}
