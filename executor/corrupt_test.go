package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/tasks"
)

// damager stores an artifact, then damages its bytes where they are
// stored, as a flipped bit on disk would: the store still names them by
// their digest.
type damager struct{}

func (damager) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "damage", Outputs: []cairn.PortInfo{{Name: "data", Artifact: true}}}
}

func (damager) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	ref, err := env.Artifacts.Put(ctx, "text/plain", strings.NewReader("hello\n"))
	if err != nil {
		return tasks.Result{}, err
	}
	p, err := env.Artifacts.(*artifacts.Dir).Path(ref)
	if err != nil {
		return tasks.Result{}, err
	}
	if err := os.Chmod(p, 0o600); err != nil {
		return tasks.Result{}, err
	}
	if err := os.WriteFile(p, []byte("hellO\n"), 0o400); err != nil {
		return tasks.Result{}, err
	}
	return tasks.Result{Outputs: map[string]json.RawMessage{"data": ref.JSON()}}, nil
}

// consumer reads its input data whole, as a built-in type does.
type consumer struct{ ran atomic.Int64 }

func (c *consumer) Info() cairn.TypeInfo {
	return cairn.TypeInfo{Name: "consume", Inputs: []cairn.PortInfo{{Name: "data", Artifact: true}}}
}

func (c *consumer) Run(ctx context.Context, req tasks.Request, env tasks.Env) (tasks.Result, error) {
	c.ran.Add(1)
	rc, err := env.Artifacts.Open(ctx, req.Inputs["data"])
	if err != nil {
		return tasks.Result{}, fmt.Errorf("input data: %w", err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err != nil {
		return tasks.Result{}, fmt.Errorf("input data: %w", err)
	}
	return tasks.Result{}, nil
}

// TestCorruptInputIsNotRetried: a task that fails because an input's
// stored bytes do not match its digest fails for good at its first
// attempt, whatever its retries (a retry would read the same bytes),
// naming the digest and saying what to do (a small item of session 15).
func TestCorruptInputIsNotRetried(t *testing.T) {
	c := &consumer{}
	r := newRig(t, damager{}, c)
	ctx := context.Background()
	p := r.startPool(t, 1, func(o *executor.Options) { o.Version = "v1" })
	defer p.stop(ctx)
	wf, id := r.create(t, `
name: corrupt
tasks:
  - {id: a, type: damage}
  - {id: b, type: consume, retries: 3, retry_backoff: 10ms, inputs: {data: "${{ tasks.a.outputs.data }}"}}
`)
	wantRun(t, r.drive(t, id, wf), cairn.RunFailed)
	if n := c.ran.Load(); n != 1 {
		t.Errorf("the task reading the damaged input ran %d times, want once (not retried)", n)
	}
	ats := r.attempts(t, id, "b")
	if len(ats) != 1 {
		t.Fatalf("%d attempts of b, want 1", len(ats))
	}
	var in struct{ Digest string }
	if err := json.Unmarshal(r.taskRuns(t, id)["a"].Outputs["data"], &in); err != nil || in.Digest == "" {
		t.Fatalf("a's output data: %s (%v)", r.taskRuns(t, id)["a"].Outputs["data"], err)
	}
	msg := ats[0].Error
	for _, want := range []string{in.Digest, "does not match its digest", "not retried", "run the workflow again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("b's error %q does not say %q", msg, want)
		}
	}
	if !errors.Is(artifacts.ErrCorrupt, cairn.ErrCorruptArtifact) {
		t.Error("artifacts.ErrCorrupt is not cairn.ErrCorruptArtifact")
	}
}
