package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
)

// Source is what the checker reads of a store (both stores' read methods;
// scheduler.RunStore has them).
type Source interface {
	GetRun(ctx context.Context, id string) (*cairn.Run, error)
	ListTaskRuns(ctx context.Context, runID string) ([]*cairn.TaskRun, error)
	ListAttempts(ctx context.Context, runID, taskID string) ([]*cairn.Attempt, error)
}

// Report is what the checker found in one scenario's runs. The four
// counts of the issue are Lost, Doubled, Stale and NotTerminal; each must
// be 0.
type Report struct {
	Scenario string
	Runs     int
	Tasks    int
	Attempts int // attempts the store recorded, interrupted ones included
	Probes   int // attempts the ledger saw start
	// Lost counts the tasks that did not end succeeded (the scenarios'
	// workflows give every task retries enough to succeed through the
	// faults), and the successes the store accepted that no probe
	// attempt reported: no "done" record of the same run, task, attempt
	// and nonce (the store says done; nothing did it).
	Lost int
	// Doubled counts completions accepted twice: a task with more than
	// one succeeded attempt in the store.
	Doubled int
	// Stale counts completions accepted under a lease that had been
	// superseded: an accepted success whose attempt is not the task's
	// last lease (a later attempt exists in the store or in the ledger:
	// once a success is accepted the task is terminal and never leased
	// again, so the later lease came first), or whose outputs come from
	// another attempt than the one recorded. (Times are not compared: an
	// attempt's lease time is its caller's clock when it asked, which a
	// SIGSTOP can hold back past another's completion.)
	Stale int
	// NotTerminal counts the runs not in a terminal state.
	NotTerminal int
	// Interrupted counts attempts recorded interrupted (their process or
	// lease was lost): the faults' footprint, not a violation.
	Interrupted int
	// Problems says what each violation is, one line each.
	Problems []string
}

// OK reports whether the scenario kept every promise.
func (r Report) OK() bool { return r.Lost == 0 && r.Doubled == 0 && r.Stale == 0 && r.NotTerminal == 0 }

// String is the report's one line, as the scenarios print it.
func (r Report) String() string {
	return fmt.Sprintf("%s: %d runs, %d tasks, %d attempts (%d interrupted), %d probe starts: lost %d, doubled %d, stale accepted %d, runs not terminal %d",
		r.Scenario, r.Runs, r.Tasks, r.Attempts, r.Interrupted, r.Probes, r.Lost, r.Doubled, r.Stale, r.NotTerminal)
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

type taskKey struct{ run, task string }

// Check compares the store's record of runs with the ledger the probes
// wrote. Every task of the runs is expected to be a probe (or to succeed
// without one: its success then needs no record). The error is the
// store's: the report is incomplete.
func Check(ctx context.Context, src Source, scenario string, runs []string, ledger []Record) (Report, error) {
	rep := Report{Scenario: scenario, Runs: len(runs)}
	starts := map[taskKey][]Record{}
	done := map[string]Record{} // nonce → done record
	for _, rec := range ledger {
		k := taskKey{rec.Run, rec.Task}
		switch rec.Event {
		case EventStart:
			starts[k] = append(starts[k], rec)
			rep.Probes++
		case EventDone:
			done[rec.Nonce] = rec
		}
	}
	for _, id := range runs {
		run, err := src.GetRun(ctx, id)
		if err != nil {
			return rep, fmt.Errorf("check run %s: %w", id, err)
		}
		if !run.State.Terminal() {
			rep.NotTerminal++
			rep.problem("run %s: %s, not terminal", id, run.State)
		}
		trs, err := src.ListTaskRuns(ctx, id)
		if err != nil {
			return rep, fmt.Errorf("check run %s: %w", id, err)
		}
		all, err := src.ListAttempts(ctx, id, "")
		if err != nil {
			return rep, fmt.Errorf("check run %s: %w", id, err)
		}
		byTask := map[string][]*cairn.Attempt{}
		for _, a := range all {
			byTask[a.TaskID] = append(byTask[a.TaskID], a)
		}
		for _, tr := range trs {
			rep.Tasks++
			checkTask(&rep, tr, byTask[tr.TaskID], starts[taskKey{id, tr.TaskID}], done)
		}
	}
	return rep, nil
}

func checkTask(rep *Report, tr *cairn.TaskRun, atts []*cairn.Attempt, starts []Record, done map[string]Record) {
	name := tr.RunID + "/" + tr.TaskID
	rep.Attempts += len(atts)
	sort.Slice(atts, func(i, j int) bool { return atts[i].Number < atts[j].Number })
	last := tr.Attempt
	for _, a := range atts {
		last = max(last, a.Number)
	}
	for _, s := range starts {
		last = max(last, s.Attempt)
	}
	var wins []*cairn.Attempt
	for _, a := range atts {
		if a.State == cairn.AttemptInterrupted {
			rep.Interrupted++
			continue
		}
		if a.State == cairn.TaskSucceeded {
			wins = append(wins, a)
		}
	}
	if len(wins) > 1 {
		rep.Doubled += len(wins) - 1
		nums := make([]string, len(wins))
		for i, w := range wins {
			nums[i] = fmt.Sprint(w.Number)
		}
		rep.problem("%s: %d successes accepted (attempts %s)", name, len(wins), strings.Join(nums, ", "))
	}
	if tr.State != cairn.TaskSucceeded {
		rep.Lost++
		rep.problem("%s: %s after %d attempts, not succeeded", name, tr.State, tr.Attempt)
		return
	}
	if len(wins) == 0 {
		rep.Lost++
		rep.problem("%s: succeeded with no succeeded attempt recorded", name)
		return
	}
	win := wins[len(wins)-1]
	if win.Number != last {
		rep.Stale++
		rep.problem("%s: success of attempt %d accepted, but attempt %d was leased", name, win.Number, last)
	}
	nonce, hasNonce := tr.Outputs["nonce"]
	if !hasNonce {
		if len(starts) > 0 {
			rep.Lost++
			rep.problem("%s: a probe succeeded with no nonce in its outputs", name)
		}
		return
	}
	var n string
	var at int
	if err := json.Unmarshal(nonce, &n); err != nil {
		rep.Lost++
		rep.problem("%s: nonce output %s: %v", name, nonce, err)
		return
	}
	if b, ok := tr.Outputs["attempt"]; !ok || json.Unmarshal(b, &at) != nil || at != win.Number {
		rep.Stale++
		rep.problem("%s: the success recorded as attempt %d has the outputs of attempt %s", name, win.Number, tr.Outputs["attempt"])
	}
	d, ok := done[n]
	if !ok || d.Run != tr.RunID || d.Task != tr.TaskID || d.Attempt != win.Number {
		rep.Lost++
		rep.problem("%s: the accepted success (attempt %d, nonce %s) has no done record in the ledger", name, win.Number, n)
	}
}
