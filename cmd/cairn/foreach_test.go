package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// fanLedgerWorkflow is a workflow whose task each fans out over n items
// (a list param, expanded at run time), max_parallel 4, each recording its
// attempts in a ledger: "start|done TASK ATTEMPT PID".
func fanLedgerWorkflow(t *testing.T, n int) string {
	t.Helper()
	items := make([]string, n)
	for k := range items {
		items[k] = fmt.Sprintf("{n: %d}", k)
	}
	src := fmt.Sprintf(`name: fan-ledger
params:
  ledger: {type: string}
  parts: {type: list, default: [%s]}
tasks:
  - id: first
    type: noop
  - id: each
    type: shell
    needs: [first]
    for_each: "${{ params.parts }}"
    max_parallel: 4
    with:
      env: {LEDGER: "${{ params.ledger }}", N: "${{ item.n }}"}
      script: |
        echo "start $CAIRN_TASK_ID $CAIRN_ATTEMPT $$" >> "$LEDGER"
        sleep 0.$(( (N %% 3) + 1 ))
        echo "done $CAIRN_TASK_ID $CAIRN_ATTEMPT $$" >> "$LEDGER"
  - id: last
    type: noop
    needs: [each]
`, strings.Join(items, ", "))
	path := filepath.Join(t.TempDir(), "fan.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestForEachKillAndResume is the property of issue #23: whatever the
// moments cairn is killed with -9 and resumed, every item of a fan-out
// runs to success exactly once — its items are those of the first
// expansion, each id once, each with one successful attempt whose work
// the ledger holds once (a completion repeated only by an attempt recorded
// as interrupted), no two attempts of an item at once.
func TestForEachKillAndResume(t *testing.T) {
	t.Parallel()
	const n = 24
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 23))
	e := newEnv(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	killLedgerGroupsOnCleanup(t, ledger)
	p := e.start("run", fanLedgerWorkflow(t, n), "-p", "ledger="+ledger, "--progress", "lines")
	id := p.runID()
	kills := killAndResume(t, e, p, id, 4, func() time.Duration {
		return time.Duration(150+rng.IntN(900)) * time.Millisecond
	}, func(p *proc) {
		// The first kill once some items ran: after the expansion.
		waitFor(t, 30*time.Second, "an item's start", func() bool {
			b, _ := os.ReadFile(ledger)
			return strings.Contains(string(b), "start each[") || p.exited()
		})
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	})
	t.Logf("%d kills", kills)

	s := e.show(id)
	if s.State != "succeeded" {
		t.Fatalf("run %s: %s", s.State, s.Error)
	}
	seen := map[string]int{}
	for _, tj := range s.Tasks {
		seen[tj.ID]++
	}
	if len(s.Tasks) != 3+n {
		t.Errorf("%d task runs, want %d", len(s.Tasks), 3+n)
	}
	each := taskByID(t, s, "each")
	if each.State != "succeeded" || each.Items == nil || *each.Items != n {
		t.Errorf("each: %s, items %v", each.State, each.Items)
	}
	lines := readLedger(t, ledger)
	for k := range n {
		item := cairn.ItemID("each", k)
		if seen[item] != 1 {
			t.Errorf("%s appears %d times", item, seen[item])
			continue
		}
		tj := taskByID(t, s, item)
		var compact bytes.Buffer
		_ = json.Compact(&compact, tj.Item)
		if tj.State != "succeeded" || compact.String() != fmt.Sprintf(`{"n":%d}`, k) || tj.ItemIndex == nil || *tj.ItemIndex != k {
			t.Errorf("%s: %s, item %s index %v", item, tj.State, tj.Item, tj.ItemIndex)
		}
		final := tj.Attempts
		var dones, starts []int
		for _, l := range lines {
			if l.task != item {
				continue
			}
			if l.kind == "done" {
				dones = append(dones, l.attempt)
			} else {
				starts = append(starts, l.attempt)
			}
		}
		// An attempt leased just before a kill may never have started
		// its script: the ledger has at most the recorded attempts, the
		// last one among them.
		if len(starts) > final || len(tj.Attempt) != final || len(starts) == 0 || starts[len(starts)-1] != final {
			t.Errorf("%s: starts %v in the ledger, %d attempts recorded (%d in history)", item, starts, final, len(tj.Attempt))
		}
		doneFinal := 0
		for _, d := range dones {
			switch {
			case d == final:
				doneFinal++
			case d < 1 || d > final || tj.Attempt[d-1].State != "interrupted":
				t.Errorf("%s: attempt %d completed in the ledger but is recorded %v", item, d, tj.Attempt)
			}
		}
		if doneFinal != 1 {
			t.Errorf("%s: its successful attempt %d completed %d times in the ledger", item, final, doneFinal)
		}
		for i, at := range tj.Attempt {
			if i < final-1 && at.State != "interrupted" {
				t.Errorf("%s attempt %d: %s, want interrupted", item, at.Number, at.State)
			}
		}
	}
	// No two attempts of an item overlapped: an attempt that completed
	// did so before the next one started.
	at := map[string]int{}
	for i, l := range lines {
		at[fmt.Sprintf("%s %s %d", l.kind, l.task, l.attempt)] = i
	}
	for _, l := range lines {
		if l.kind != "done" {
			continue
		}
		if next, ok := at[fmt.Sprintf("start %s %d", l.task, l.attempt+1)]; ok && next < at[fmt.Sprintf("done %s %d", l.task, l.attempt)] {
			t.Errorf("%s: attempt %d started before attempt %d completed", l.task, l.attempt+1, l.attempt)
		}
	}
	if t.Failed() {
		b, _ := os.ReadFile(ledger)
		t.Logf("ledger:\n%s", b)
	}
}

// smallFanWorkflow is a task, a for_each task of five noop items after it
// and a task after them.
const smallFanWorkflow = `name: small
tasks:
  - {id: prep, type: noop}
  - {id: train, type: noop, needs: [prep], for_each: [1, 2, 3, 4, 5]}
  - {id: report, type: noop, needs: [train]}
`

// cairn run's summary counts a for_each task through its items: a task,
// five items and a task after them are seven, not eight.
func TestForEachSummaryCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(0, "run", writeWorkflow(t, "small.yaml", smallFanWorkflow))
	if !strings.Contains(r.stdout, " SUCCEEDED in ") || !strings.Contains(r.stdout, ": 7 succeeded\n") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}

// show's row of a for_each task stands for its items: their attempts
// counted, their span as its duration and its bar; never "0" and "-".
func TestForEachShowRowSpansItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(0, "run", writeWorkflow(t, "small.yaml", smallFanWorkflow))
	id := runIDOf(t, r.stderr+r.stdout)
	show := e.must(0, "show", id).stdout
	var row string
	for _, l := range strings.Split(show, "\n") {
		if strings.HasPrefix(l, "train ") {
			row = l
		}
	}
	f := strings.Fields(row)
	if len(f) < 6 || f[3] != "5" || f[4] == "-" || !strings.Contains(f[5], "█") {
		t.Fatalf("train's row = %q, want 5 attempts (its items'), a duration and a bar; show:\n%s", row, show)
	}
}

// logs of a for_each task names its items' logs, not "no attempts"
// while show counts them (found by the trial).
func TestForEachLogsNamesItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(0, "run", writeWorkflow(t, "small.yaml", smallFanWorkflow))
	id := runIDOf(t, r.stderr+r.stdout)
	l := e.must(1, "logs", id, "train")
	if !strings.Contains(l.stderr, "is a for_each task: its 5 items ran as tasks of their own") ||
		!strings.Contains(l.stderr, "cairn logs "+id+" 'train[0]' … 'train[4]'") {
		t.Errorf("logs of a for_each task:\n%s", l.stderr)
	}
	e.must(0, "logs", id, "train[4]")
}

// The summary of a run whose for_each item failed says the parent failed
// because of its items, not "after 0 attempts" (found by the trial).
func TestForEachFailedParentLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(1, "run", writeWorkflow(t, "fail.yaml", `name: fanfail
tasks:
  - id: w
    type: shell
    for_each: [1, 2, 3]
    with: {argv: [test, "${{ item }}", "!=", "2"]}
`))
	if strings.Contains(r.stdout, "after 0 attempts") || !strings.Contains(r.stdout, "w failed: 1 of 3 items did not succeed") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}
