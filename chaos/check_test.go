package chaos

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// memSource is a Source over runs held in memory: the checker's reads are
// a narrow interface, and these cases need histories no store would let
// happen.
type memSource struct {
	runs     map[string]*cairn.Run
	tasks    map[string][]*cairn.TaskRun
	attempts map[string][]*cairn.Attempt
}

func (m memSource) GetRun(_ context.Context, id string) (*cairn.Run, error) {
	if r, ok := m.runs[id]; ok {
		return r, nil
	}
	return nil, cairn.ErrNotFound
}
func (m memSource) ListTaskRuns(_ context.Context, id string) ([]*cairn.TaskRun, error) {
	return m.tasks[id], nil
}
func (m memSource) ListAttempts(_ context.Context, id, task string) ([]*cairn.Attempt, error) {
	return m.attempts[id], nil
}

func raw(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

// history builds one run of one task "t" from the attempts' states, the
// task's final state and the attempt whose outputs it holds (0: none).
func history(runState cairn.RunState, final cairn.TaskState, outputsOf int, nonce string, states ...cairn.TaskState) memSource {
	m := memSource{runs: map[string]*cairn.Run{"r": {ID: "r", State: runState}},
		tasks: map[string][]*cairn.TaskRun{}, attempts: map[string][]*cairn.Attempt{}}
	tr := &cairn.TaskRun{RunID: "r", TaskID: "t", State: final, Attempt: len(states)}
	if outputsOf > 0 {
		tr.Outputs = map[string]json.RawMessage{"attempt": raw(outputsOf), "nonce": raw(nonce)}
	}
	m.tasks["r"] = []*cairn.TaskRun{tr}
	at := time.Unix(1000, 0)
	for i, s := range states {
		m.attempts["r"] = append(m.attempts["r"], &cairn.Attempt{RunID: "r", TaskID: "t", Number: i + 1, State: s,
			StartedAt: at.Add(time.Duration(2*i) * time.Second), FinishedAt: at.Add(time.Duration(2*i+1) * time.Second)})
	}
	return m
}

func done(attempt int, nonce string) Record {
	return Record{Event: EventDone, Run: "r", Task: "t", Attempt: attempt, Nonce: nonce}
}
func start(attempt int) Record {
	return Record{Event: EventStart, Run: "r", Task: "t", Attempt: attempt}
}

// Each violation is counted where it is, and a clean history has none.
func TestCheckCounts(t *testing.T) {
	for _, c := range []struct {
		name                           string
		src                            memSource
		ledger                         []Record
		lost, doubled, stale, notFinal int
	}{
		{"clean, after an interruption", history(cairn.RunSucceeded, cairn.TaskSucceeded, 2, "n2", cairn.AttemptInterrupted, cairn.TaskSucceeded),
			[]Record{start(1), start(2), done(2, "n2")}, 0, 0, 0, 0},
		{"a probe record with no accepted attempt is fine", history(cairn.RunSucceeded, cairn.TaskSucceeded, 2, "n2", cairn.AttemptInterrupted, cairn.TaskSucceeded),
			[]Record{start(1), done(1, "n1"), start(2), done(2, "n2")}, 0, 0, 0, 0},
		{"two successes accepted", history(cairn.RunSucceeded, cairn.TaskSucceeded, 2, "n2", cairn.TaskSucceeded, cairn.TaskSucceeded),
			[]Record{start(1), done(1, "n1"), start(2), done(2, "n2")}, 0, 1, 0, 0},
		{"success of a superseded lease", history(cairn.RunSucceeded, cairn.TaskSucceeded, 1, "n1", cairn.TaskSucceeded),
			[]Record{start(1), done(1, "n1"), start(2)}, 0, 0, 1, 0},
		{"outputs of another attempt", history(cairn.RunSucceeded, cairn.TaskSucceeded, 1, "n1", cairn.AttemptInterrupted, cairn.TaskSucceeded),
			[]Record{start(1), done(1, "n1"), start(2)}, 1, 0, 1, 0},
		{"success nobody did", history(cairn.RunSucceeded, cairn.TaskSucceeded, 1, "n9", cairn.TaskSucceeded),
			[]Record{start(1)}, 1, 0, 0, 0},
		{"task never finished, run not terminal", history(cairn.RunRunning, cairn.TaskRetrying, 0, "", cairn.AttemptInterrupted),
			[]Record{start(1)}, 1, 0, 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Check(context.Background(), c.src, c.name, []string{"r"}, c.ledger)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Lost != c.lost || rep.Doubled != c.doubled || rep.Stale != c.stale || rep.NotTerminal != c.notFinal {
				t.Errorf("%s\nwant lost %d, doubled %d, stale %d, not terminal %d; problems:\n%s", rep, c.lost, c.doubled, c.stale, c.notFinal,
					strings.Join(rep.Problems, "\n"))
			}
			if rep.OK() != (c.lost+c.doubled+c.stale+c.notFinal == 0) || (len(rep.Problems) == 0) != rep.OK() {
				t.Errorf("OK() = %v with problems %q", rep.OK(), rep.Problems)
			}
		})
	}
	if _, err := Check(context.Background(), memSource{}, "missing", []string{"nope"}, nil); err == nil {
		t.Error("Check of a run the store does not have: no error")
	}
}

// The probe writes a start and a done record per successful attempt, a
// start only for a failing one, and returns the done record's nonce.
func TestProbeLedger(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	p := Probe{Worker: "w1"}
	run := func(attempt, failPermille int) (tasks.Result, error) {
		params := raw(map[string]any{"ledger": ledger, "nap_ms": 1, "fail_permille": failPermille})
		return p.Run(context.Background(), tasks.Request{RunID: "r", TaskID: "t", Attempt: attempt, Params: params}, tasks.Env{})
	}
	res, err := run(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(2, 1000); err == nil || !strings.Contains(err.Error(), "on purpose") {
		t.Fatalf("fail_permille 1000: %v", err)
	}
	recs, err := ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Event != EventStart || recs[1].Event != EventDone || recs[2].Event != EventStart ||
		recs[2].Attempt != 2 || recs[1].Worker != "w1" || recs[1].At < recs[0].At {
		t.Fatalf("ledger %+v", recs)
	}
	if string(res.Outputs["nonce"]) != string(raw(recs[1].Nonce)) || string(res.Outputs["attempt"]) != "1" {
		t.Fatalf("outputs %s, ledger %+v", res.Outputs, recs[1])
	}
	if _, err := (Probe{}).Run(context.Background(), tasks.Request{TaskID: "t", Params: raw(map[string]any{"ledger": "rel"})}, tasks.Env{}); err == nil || cairn.IsRetryable(err) {
		t.Errorf("a relative ledger path: %v, want a permanent error", err)
	}
	// A torn line is named.
	if err := os.WriteFile(ledger, []byte(`{"ev":"start"}`+"\n"+`{"ev":"do`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLedger(ledger); err == nil || !strings.Contains(err.Error(), ledger+":2") {
		t.Errorf("torn ledger: %v", err)
	}
	if recs, err := ReadLedger(filepath.Join(t.TempDir(), "none")); err != nil || recs != nil {
		t.Errorf("missing ledger: %v %v", recs, err)
	}
}
