package remote_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/remote"
)

// putLog PUTs body as the log of run/task#attempt, as worker id with
// the lease token tok, and returns the answer's status.
func (r *rig) putLog(t *testing.T, id, tok, run, task string, attempt int, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, r.srv.URL+remote.Prefix+"logs/"+run+"/"+task+"/"+strconv.Itoa(attempt), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set(remote.HeaderProtocol, strconv.Itoa(cairn.WorkerProtocol))
	req.Header.Set(remote.HeaderWorker, id)
	req.Header.Set(remote.HeaderLeaseToken, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
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
