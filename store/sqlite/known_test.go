package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/shell"
	"github.com/cairnml/cairn/workflows"
)

// knownWorkflow chains tasks whose completions leave their task runs in
// every shape a completion writes: outputs (artifacts and values),
// failures retried after a backoff and at once, a for_each's items
// handed out one after another, a task failing for good (its run
// failed), and a worker's slot handed each successor in the completion's
// commit.
const knownWorkflow = `name: known
tasks:
  - id: a
    type: noop
  - id: b
    type: shell
    needs: [a]
    with:
      script: 'echo 3 > n.json; echo hello > out.txt'
      outputs: {file: out.txt}
      values: {n: n.json}
  - id: c
    type: shell
    retries: 3
    retry_backoff: 1ms
    inputs: {f: "${{ tasks.b.outputs.file }}"}
    with:
      script: 'if [ "$CAIRN_ATTEMPT" -lt 3 ]; then exit 75; fi; cat "$CAIRN_INPUT_F"'
  - id: d
    type: shell
    for_each: [1, 2, 3]
    max_parallel: 1
    needs: [c]
    with:
      env: {ITEM: "${{ item }}"}
      script: 'echo "$ITEM" > v.json'
      values: {v: v.json}
  - id: e
    type: noop
    needs: [d]
    retries: 1
    with: {fail: "once more"}
  - id: f
    type: noop
    needs: [e]
`

// The task runs a completion builds from the run's snapshot rather than
// reads back (Finish.Known, on a chain's hops) are the rows as stored:
// each is compared, in its transaction, with the row read, over runs of
// every shape of completion, through the scheduler and a worker pool as
// cairn run wires them.
func TestKnownCompletionsAreTheRowsStored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, filepath.Join(dir, "cairn.db"))
	built := st.CheckKnownCompletions(t.Errorf)
	reg, err := tasks.NewRegistry(shell.New(), noop.New())
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifacts.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := artifacts.OpenLogs(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	var chain strings.Builder
	chain.WriteString("name: chain\ntasks:\n")
	for i := range 20 {
		fmt.Fprintf(&chain, "  - id: t%d\n    type: noop\n", i)
		if i > 0 {
			fmt.Fprintf(&chain, "    needs: [t%d]\n", i-1)
		}
	}
	// A fan, its tasks leased from the queue in the commits of the
	// completions before them: params of several kinds resolved, retries
	// after a backoff.
	var fan strings.Builder
	fan.WriteString("name: fan\nparams:\n  f: 0.5\n  s: text\ntasks:\n")
	for i := range 300 {
		fmt.Fprintf(&fan, "  - id: t%d\n", i)
		switch {
		case i%7 == 0:
			fmt.Fprintf(&fan, "    type: shell\n    retries: 2\n    retry_backoff: 1ms\n    with:\n      script: 'if [ \"$CAIRN_ATTEMPT\" -lt 2 ]; then exit 75; fi'\n")
		case i%3 == 0:
			fmt.Fprintf(&fan, "    type: noop\n    with: {sleep: 1ms}\n")
		case i%3 == 1:
			fmt.Fprintf(&fan, "    type: shell\n    with: {argv: [/bin/true, \"%d\"], env: {A: \"${{ params.s }}-%d\", F: \"${{ params.f }}\"}}\n", i, i)
		default:
			fmt.Fprintf(&fan, "    type: noop\n")
		}
	}
	for _, c := range []struct {
		name, src string
		slots     int
		want      cairn.RunState
	}{
		{"shapes", knownWorkflow, 1, cairn.RunFailed},
		{"chain", chain.String(), 1, cairn.RunSucceeded},
		{"fan", fan.String(), 4, cairn.RunSucceeded},
	} {
		wf, err := workflows.Parse(c.name+".yaml", []byte(c.src), workflows.Options{Types: reg})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		bound, err := wf.BindParams(nil)
		if err != nil {
			t.Fatal(err)
		}
		r, trs := wf.NewRun(bound, start)
		if err := scheduler.PlanCreated(r, wf, trs, start, nil); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateRun(ctx, r, trs); err != nil {
			t.Fatal(err)
		}
		owner := fmt.Sprintf("test:%d:%s", os.Getpid(), c.name)
		broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: owner})
		pool := executor.New(broker, executor.Options{Worker: "w-" + c.name, RunID: r.ID, Slots: c.slots, Types: reg, Artifacts: arts, Logs: logs})
		before := built.Load()
		final, err := scheduler.NewDriver(st, broker, scheduler.DriverOptions{Owner: owner, Claimed: func() { pool.Start(ctx) }}).
			DriveCreated(ctx, r, wf, trs)
		pool.Stop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if final.State != c.want {
			t.Errorf("run %s: %s (%s), want %s", c.name, final.State, final.Error, c.want)
		}
		n := built.Load() - before
		t.Logf("run %s: %s in %v, %d completions built from the known task run", c.name, final.State, time.Since(start), n)
		if n < 5 {
			t.Errorf("run %s: %d completions built from the known task run, want the hops of its chains", c.name, n)
		}
		if c.name == "fan" && n < 200 {
			t.Errorf("run %s: %d of its 300 completions built from the known task run, want most (leased from the queue in the commits before)", c.name, n)
		}
		stored, err := st.ListTaskRuns(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range stored {
			if tr.State.Active() {
				t.Errorf("run %s: task %s still %s", c.name, tr.TaskID, tr.State)
			}
			if c.want == cairn.RunSucceeded && tr.State != cairn.TaskSucceeded {
				t.Errorf("run %s: task %s %s: %s", c.name, tr.TaskID, tr.State, tr.Error)
			}
		}
	}
}
