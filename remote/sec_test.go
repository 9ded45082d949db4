package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/remote"
)

// send makes a worker API request as worker id, raw (tok: the lease
// token header, "" for none), and returns the answer's status.
func (r *rig) send(t *testing.T, method, path, id, tok, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+remote.Prefix+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(remote.HeaderProtocol, strconv.Itoa(cairn.WorkerProtocol))
	req.Header.Set(remote.HeaderWorker, id)
	if tok != "" {
		req.Header.Set(remote.HeaderLeaseToken, tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// putLog PUTs body as the log of run/task#attempt, as worker id with
// the lease token tok, and returns the answer's status.
func (r *rig) putLog(t *testing.T, id, tok, run, task string, attempt int, body string) int {
	t.Helper()
	return r.send(t, http.MethodPut, "logs/"+run+"/"+task+"/"+strconv.Itoa(attempt), id, tok, body)
}

// A lease token is the lease of one attempt: with it a worker writes
// that attempt's log, and no other run's, task's or attempt's (finding
// 1 of the 2026-12-04 trial).
func TestLogPutNeedsTheWholeLease(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	run := r.readyRun(t, 2, "echo")
	c := r.client(t, 1)
	items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1})
	if err != nil || len(items) != 1 {
		t.Fatalf("leased %+v, %v; want one item", items, err)
	}
	l := items[0].Lease
	other := "t0"
	if l.TaskID == "t0" {
		other = "t1"
	}
	for _, p := range []struct {
		run, task string
		attempt   int
	}{{run, other, 1}, {run, l.TaskID, l.Attempt + 1}, {"x" + run, l.TaskID, l.Attempt}, {"ANYDIR..x", "evil", 99999}} {
		if code := r.putLog(t, c.ID(), l.Token, p.run, p.task, p.attempt, "FORGED LINE\n"); code != http.StatusForbidden && code != http.StatusConflict {
			t.Errorf("log PUT to %s/%s#%d with the lease of %s/%s#%d: %d, want 403 or 409", p.run, p.task, p.attempt, l.RunID, l.TaskID, l.Attempt, code)
		}
		if path, err := r.logs.Path(p.run, p.task, p.attempt); err == nil {
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("log PUT to %s/%s#%d left %s (%v)", p.run, p.task, p.attempt, path, err)
			}
		}
	}
	// The lease's own log is written.
	if code := r.putLog(t, c.ID(), l.Token, l.RunID, l.TaskID, l.Attempt, "mine\n"); code != http.StatusNoContent {
		t.Fatalf("log PUT to the lease's own attempt: %d, want 204", code)
	}
}

// complete sends one completion as worker id, raw, and returns the
// answer's status.
func (r *rig) complete(t *testing.T, id string, l cairn.Lease, comp string) int {
	t.Helper()
	body := fmt.Sprintf(`{"lease":{"run_id":%q,"task_id":%q,"attempt":%d,"token":%q,"worker":%q},"completion":%s}`,
		l.RunID, l.TaskID, l.Attempt, l.Token, id, comp)
	return r.send(t, http.MethodPost, "complete", id, "", body)
}

// The server derives a completion's cache key from what it leased: a
// worker cannot put its outputs under the key of a task it never leased
// (finding 2 of the 2026-12-04 trial), nor offer a task that may not be
// cached; the key of the task it leased, with the version it ran, is
// kept; and a hit of another type is never reused.
func TestCacheKeyDerivedByTheServer(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	params := json.RawMessage(`{"n":1}`)
	run := r.readyRun(t, 3, "echo", func(trs []*cairn.TaskRun) {
		for i, id := range []string{"cached", "forged", "nocache"} {
			trs[i].TaskID, trs[i].Params, trs[i].Cache = id, params, id != "nocache"
		}
	})
	c := r.client(t, 3)
	items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 3, Start: true})
	if err != nil || len(items) != 3 {
		t.Fatalf("leased %d items, %v; want 3", len(items), err)
	}
	victim := cairn.CacheKey("collect", "v1", json.RawMessage(`{"source":"synthetic"}`), nil)
	good := cairn.CacheKey("echo", "v1", params, nil)
	want := map[string]struct {
		sent, stored string
	}{
		"cached":  {good, good},
		"forged":  {victim, ""},
		"nocache": {good, ""},
	}
	for _, it := range items {
		w := want[it.Lease.TaskID]
		if code := r.complete(t, c.ID(), it.Lease, fmt.Sprintf(`{"exit_code":0,"version":"v1","cache_key":%q}`, w.sent)); code != http.StatusOK {
			t.Fatalf("completion of %s: %d", it.Lease.TaskID, code)
		}
	}
	for task, w := range want {
		as, err := r.st.ListAttempts(ctx, run, task)
		if err != nil || len(as) != 1 {
			t.Fatalf("%s: attempts %+v, %v", task, as, err)
		}
		if as[0].CacheKey != w.stored {
			t.Errorf("%s: the attempt's cache key is %q, want %q (the worker sent %q)", task, as[0].CacheKey, w.stored, w.sent)
		}
	}
	if hits, err := r.st.FindCached(ctx, victim, 4); err != nil || len(hits) != 0 {
		t.Errorf("the victim's key finds %+v, %v; want nothing", hits, err)
	}
	hits, err := c.FindCached(ctx, good, 4)
	if err != nil || len(hits) != 1 || hits[0].Type != "echo" {
		t.Errorf("the good key finds %+v, %v; want the cached task's attempt, of type echo", hits, err)
	}
}

// A completion's maps are bounded as they are decoded (a body of many
// small metrics is refused, not built into a map many times its size),
// and completion bodies are read within one budget shared by every
// request: one that cannot get its turn before it ends is refused and
// read no further (finding 5 of the 2026-12-04 trial).
func TestCompletionBodiesBounded(t *testing.T) {
	r := newRigWith(t, func(o *remote.ServerOptions) { o.CompletionBudget = 256 << 10 })
	ctx := context.Background()
	r.readyRun(t, 1, "echo")
	c := r.client(t, 1)
	items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true})
	if err != nil || len(items) != 1 {
		t.Fatalf("leased %+v, %v", items, err)
	}
	l := items[0].Lease
	var many strings.Builder
	many.WriteString(`{"exit_code":0,"metrics":{`)
	for i := range 10001 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `"k%d":1`, i)
	}
	many.WriteString(`}}`)
	for name, comp := range map[string]string{
		"10,001 metrics": many.String(),
		"a 2 KiB key":    `{"exit_code":0,"outputs":{"` + strings.Repeat("k", 2048) + `":1}}`,
		"10,001 effects": `{"exit_code":0,"effects":[` + strings.Repeat("{},", 10000) + `{}]}`,
	} {
		if code := r.complete(t, c.ID(), l, comp); code != http.StatusBadRequest {
			t.Errorf("a completion with %s: %d, want 400", name, code)
		}
	}
	// A body of the whole budget, sent slowly, holds it: a second
	// request waits for its turn, and is refused when it ends first.
	pr, pw := io.Pipe()
	first := make(chan struct{})
	go func() {
		defer close(first)
		req, _ := http.NewRequest(http.MethodPost, r.srv.URL+remote.Prefix+"complete", pr)
		req.ContentLength = 256 << 10
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set(remote.HeaderProtocol, strconv.Itoa(cairn.WorkerProtocol))
		req.Header.Set(remote.HeaderWorker, c.ID())
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	go pw.Write([]byte(`{"lease":{},"completion":{"metrics":{"`))
	time.Sleep(200 * time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(short, http.MethodPost, r.srv.URL+remote.Prefix+"complete", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set(remote.HeaderProtocol, strconv.Itoa(cairn.WorkerProtocol))
	req.Header.Set(remote.HeaderWorker, c.ID())
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a completion while the budget is held: %d, want it to wait for its turn", resp.StatusCode)
	}
	// A body larger than the budget is refused unread.
	if code := r.send(t, http.MethodPost, "complete", c.ID(), "", strings.Repeat(" ", 300<<10)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body past the budget: %d, want 413", code)
	}
	pw.CloseWithError(errors.New("gone"))
	<-first
	// Once the first request ended, the budget is free again.
	if code := r.complete(t, c.ID(), l, `{"exit_code":0}`); code != http.StatusOK {
		t.Errorf("the completion after the budget was freed: %d, want 200", code)
	}
}

// A registration whose name holds a format character (a bidi override,
// a zero-width space) is refused as one with a control character is
// (finding 7 of the 2026-12-04 trial).
func TestRegisterRefusesFormatCharacters(t *testing.T) {
	r := newRig(t)
	for _, name := range []string{"evil\u202egnp.exe", "a\u200bb", "bell\x07", "c1\u0085"} {
		body := fmt.Sprintf(`{"name":%q,"concurrency":1}`, name)
		if code := r.send(t, http.MethodPost, "register", "", "", body); code != http.StatusBadRequest {
			t.Errorf("registration as %q: %d, want 400", name, code)
		}
	}
	if code := r.send(t, http.MethodPost, "register", "", "", `{"name":"plain-é","concurrency":1}`); code != http.StatusOK {
		t.Errorf("a plain registration: %d, want 200", code)
	}
}

// sendBody is send that also returns the answer's message (its body
// when it has none).
func (r *rig) sendBody(t *testing.T, method, path, id, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+remote.Prefix+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(remote.HeaderProtocol, strconv.Itoa(cairn.WorkerProtocol))
	if id != "" {
		req.Header.Set(remote.HeaderWorker, id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Message string }
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return resp.StatusCode, e.Message
	}
	return resp.StatusCode, string(b)
}

// The worker API refuses a body with a key given twice in one object, a
// lone surrogate escape, or a second JSON value, as the user API does:
// encoding/json would keep the last of the two keys (a failed attempt's
// report read as a success) without a word (a small item of session 15).
func TestWorkerAPIRefusesWhatJSONTakesInSilence(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	run := r.readyRun(t, 1, "echo")
	c := r.client(t, 1)
	items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true})
	if err != nil || len(items) != 1 {
		t.Fatalf("leased %+v, %v", items, err)
	}
	l := items[0].Lease
	lease := fmt.Sprintf(`{"run_id":%q,"task_id":%q,"attempt":%d,"token":%q,"worker":%q}`, l.RunID, l.TaskID, l.Attempt, l.Token, c.ID())
	for name, p := range map[string]struct{ path, body, want string }{
		"a completion's exit code twice": {"complete", `{"lease":` + lease + `,"completion":{"exit_code":1,"error":"boom","exit_code":0}}`, `key "exit_code" given twice`},
		"a lease key twice":              {"complete", `{"lease":{"run_id":"x","run_id":` + lease[len(`{"run_id":`):] + `,"completion":{"exit_code":0}}`, `key "run_id" given twice`},
		"a report's key twice":           {"complete-many", `{"reports":[{"lease":` + lease + `,"completion":{"exit_code":1,"exit_code":0,"outputs":{"n":1.5}}}]}`, `key "exit_code" given twice`},
		"a lone surrogate":               {"complete", `{"lease":` + lease + `,"completion":{"exit_code":0,"outputs":{"s":"\ud800"}}}`, "surrogate"},
		"two values":                     {"complete", `{"lease":` + lease + `,"completion":{"exit_code":0}} {"lease":{}}`, "more than one JSON value"},
		"a name twice":                   {"register", `{"name":"a","concurrency":1,"name":"b"}`, `key "name" given twice`},
	} {
		id := c.ID()
		if p.path == "register" {
			id = ""
		}
		code, body := r.sendBody(t, http.MethodPost, p.path, id, p.body)
		if code != http.StatusBadRequest || !strings.Contains(body, p.want) {
			t.Errorf("%s: %d %s; want 400 saying %q", name, code, body, p.want)
		}
	}
	if tr, err := r.st.GetTaskRun(ctx, run, l.TaskID); err != nil || tr.State != cairn.TaskRunning {
		t.Fatalf("after the refused bodies the task is %+v, %v; want it still running", tr, err)
	}
	// The same completion, each key once, is taken.
	if code, body := r.sendBody(t, http.MethodPost, "complete", c.ID(), `{"lease":`+lease+`,"completion":{"exit_code":0}}`); code != http.StatusOK {
		t.Fatalf("the plain completion: %d %s, want 200", code, body)
	}
}
