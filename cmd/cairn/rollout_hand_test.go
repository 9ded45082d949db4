package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui"
	"github.com/cairnml/cairn/ui/runjson"
)

// TestRolloutByHand: a canary changed by hand through a real server's API
// (an operator token; a viewer's is refused) and through cairn models
// rollout on the home's database and with --server: a pause holds it, a
// share set routes that share of the keys at once, resume and abort; every
// change is in the history and the audit log, and what does not apply is
// refused, saying why, changing nothing.
func TestRolloutByHand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	viewer := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "operator", "--name", "ci").stdout)
	reg := openModelReg(t, e.home)
	v1 := reg.deploy("churn", cairn.StageProduction, fitModel(t, 1))
	v2 := reg.deploy("churn", cairn.StageCandidate, fitModel(t, 0.0001))
	reg.deploy("churn", cairn.StageCandidate, fitModel(t, 0.01))
	spec := cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 50, 100}, Interval: cairn.Duration(time.Hour)}
	if _, err := reg.st.StartRollout(context.Background(), "churn", v2, spec, "cli:test", reg.next()); err != nil {
		t.Fatal(err)
	}
	srv := e.startServer(nil)
	c := &http.Client{Timeout: 10 * time.Second}
	api := "http://" + srv.addr
	base := api + "/api/v1/models/churn"
	rows := `{"rows":[{"x":0.3,"c":"a"}]}`
	served := func() map[int]int {
		t.Helper()
		n := map[int]int{}
		for i := range 200 {
			req, _ := http.NewRequest(http.MethodPost, base+"/predict", strings.NewReader(rows))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(ui.RouteKeyHeader, fmt.Sprint("user-", i))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var a predictAnswer
			err = json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("predict: %d %v", resp.StatusCode, err)
			}
			n[a.Version]++
		}
		return n
	}

	if code, out := post(t, c, base+"/rollout/pause", viewer, ""); code != http.StatusForbidden {
		t.Fatalf("a viewer's pause: %d %s", code, out)
	}
	code, out := post(t, c, base+"/rollout/pause", token, "")
	var r runjson.Rollout
	if err := json.Unmarshal([]byte(out), &r); code != http.StatusOK || err != nil || !r.Paused || r.Share != 10 ||
		!strings.Contains(r.Next, "paused at 10%") {
		t.Fatalf("pause: %d %s", code, out)
	}
	if code, out := post(t, c, base+"/rollout/pause", token, ""); code != http.StatusConflict || !strings.Contains(out, "paused already") {
		t.Fatalf("a second pause: %d %s", code, out)
	}
	for body, want := range map[string]string{`{"share": 101}`: "from 0 to 100", `{}`: "share is required", `{"share": "x"}`: "share"} {
		if code, out := post(t, c, base+"/rollout/set-share", token, body); code != http.StatusBadRequest || !strings.Contains(out, want) {
			t.Fatalf("set-share %s: %d %s", body, code, out)
		}
	}
	if code, out := post(t, c, base+"/rollout/jump", token, ""); code != http.StatusBadRequest || !strings.Contains(out, "pause, resume, promote, abort, set-share") {
		t.Fatalf("an unknown action: %d %s", code, out)
	}
	if code, out := post(t, c, api+"/api/v1/models/nosuch/rollout/pause", token, ""); code != http.StatusNotFound {
		t.Fatalf("pause of a model with no rollout: %d %s", code, out)
	}

	// set-share on the home's database: the server routes every key to
	// the candidate within its poll.
	if r := e.must(0, "models", "rollout", "churn", "set-share", "100"); !strings.Contains(r.stdout, "share set to 100%: churn") ||
		!strings.Contains(r.stdout, "paused") {
		t.Fatalf("set-share:\n%s", r)
	}
	waitFor(t, 10*time.Second, "every key to the candidate", func() bool { return served()[v2] == 200 })
	if r := e.must(2, "models", "rollout", "churn", "set-share", "150"); !strings.Contains(r.stderr, "a percentage from 0 to 100") {
		t.Fatalf("set-share 150: %s", r)
	}
	if r := e.must(2, "models", "rollout", "churn", "pause", "now"); !strings.Contains(r.stderr, "takes no argument") {
		t.Fatalf("pause now: %s", r)
	}
	// resume and abort with --server.
	env := []string{"CAIRN_TOKEN=" + token}
	if r := e.cairnEnv(env, "models", "rollout", "churn", "resume", "--server", api); r.code != 0 || !strings.Contains(r.stdout, "resumed at 100%") {
		t.Fatalf("resume --server: %s", r)
	}
	if r := e.cairnEnv(env, "models", "rollout", "churn", "abort", "--server", api); r.code != 0 || !strings.Contains(r.stdout, "aborted: version 2 rolled back") {
		t.Fatalf("abort --server: %s", r)
	}
	if n := served(); n[v1] != 200 {
		t.Fatalf("after the abort: %v", n)
	}
	if r := e.must(1, "models", "rollout", "churn", "promote"); !strings.Contains(r.stderr, "no active rollout") || !strings.Contains(r.stderr, "rolled back") {
		t.Fatalf("promote after the abort: %s", r)
	}
	show := e.must(0, "models", "rollout", "churn").stdout
	for _, want := range []string{"pause", "share", "resume", "rollback", "aborted by ", "versions:  1 was production, 2 the candidate\n"} {
		if !strings.Contains(show, want) {
			t.Fatalf("cairn models rollout: no %q in\n%s", want, show)
		}
	}
	audit := e.must(0, "audit", "--json").stdout
	if strings.Count(audit, `"action": "model.rollout"`) < 5 {
		t.Fatalf("the audit log has not every change:\n%s", audit)
	}
}
