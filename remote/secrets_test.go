package remote_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/remote"
)

// A worker receives the secret values its leased tasks' params use, not
// every secret of their run: the worker that leases a task using none
// cannot name (or redact) the run's token; the one that leases the task
// using it can, and a second secret of the run reaches it only with a
// task that uses that one too.
func TestLeaseCarriesOnlyTheSecretsItUses(t *testing.T) {
	const token, other = "s3cr3t-value", "0ther-secret"
	r := newRigWith(t, func(o *remote.ServerOptions) {
		o.Secrets = func(string) map[string]string {
			return map[string]string{"«secret:token»": token, "«secret:other»": other}
		}
	})
	ctx := context.Background()
	now := time.Now()
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "w", Digest: "sha256:00", SourcePath: "w.yaml",
		Source: []byte("name: w\n"), State: cairn.RunRunning, CreatedAt: now}
	trs := []*cairn.TaskRun{
		{RunID: run.ID, TaskID: "harmless", Type: "shell", State: cairn.TaskReady, Params: json.RawMessage(`{"argv":["echo","hello"]}`)},
		{RunID: run.ID, TaskID: "uses", Type: "shell", State: cairn.TaskReady, Params: json.RawMessage(`{"env":{"TOK":"` + token + `"},"script":"true"}`)},
		{RunID: run.ID, TaskID: "both", Type: "shell", State: cairn.TaskReady, Params: json.RawMessage(`{"env":{"A":"` + token + `","B":"` + other + `"},"script":"true"}`)},
	}
	if err := r.st.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	r.broker.NotifyReady()
	c := r.client(t, 1)
	lease := func(want string) {
		t.Helper()
		items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Wait: time.Second})
		if err != nil || len(items) != 1 || items[0].Lease.TaskID != want {
			t.Fatalf("lease: %v %v, want %s", items, err, want)
		}
	}
	lease("harmless")
	if got := c.Redact("x " + token + " " + other); got != "x "+token+" "+other {
		t.Fatalf("after leasing a task that uses no secret the worker knows %q", got)
	}
	lease("uses")
	if got := c.Redact("x " + token + " " + other); strings.Contains(got, token) || !strings.Contains(got, other) {
		t.Fatalf("after leasing the task using the token: %q, want the token (only) redacted", got)
	}
	lease("both")
	if got := c.Redact("x " + token + " " + other); strings.Contains(got, token) || strings.Contains(got, other) {
		t.Fatalf("after leasing the task using both: %q, want both redacted", got)
	}
}
