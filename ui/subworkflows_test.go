package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The run page puts the tasks of a sub-workflow under a heading row named
// after the task that uses it, indented, with how they stand.
func TestRunPageGroupsSubworkflows(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(filepath.Join(f.dir, "steps"), 0o755); err != nil {
		t.Fatal(err)
	}
	child := "name: prep\ntasks:\n  - {id: a, type: noop}\n  - {id: b, type: noop, needs: [a]}\n"
	if err := os.WriteFile(filepath.Join(f.dir, "steps", "prep.yaml"), []byte(child), 0o600); err != nil {
		t.Fatal(err)
	}
	run := f.run(t, "name: main\ntasks:\n  - {id: first, type: noop}\n  - {id: prep, uses: steps/prep.yaml, needs: [first]}\n  - {id: last, type: noop, needs: [prep]}\n", nil)
	_, body := f.get(t, "/runs/"+run.ID)
	i := strings.Index(body, `<tr class="subworkflow" data-group="prep" data-state="succeeded">`)
	a := strings.Index(body, `<tr data-task="prep:a" data-state="succeeded">`)
	last := strings.Index(body, `<tr data-task="last"`)
	if i < 0 || a < i || last < a {
		t.Fatalf("run page: heading %d, prep:a %d, last %d\n%s", i, a, last, body)
	}
	for _, want := range []string{`2 tasks: 2 succeeded`, `<td class="depth-1"><a href="/runs/` + run.ID + `/tasks/prep:a">prep:a</a>`, `<td class="depth-0"><a href="/runs/` + run.ID + `/tasks/last">`} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %s", want)
		}
	}
	// The task's page and its log route take the id with its colon.
	if resp, body := f.get(t, "/runs/"+run.ID+"/tasks/prep:a"); resp.StatusCode != 200 {
		t.Errorf("task page of prep:a: %d\n%.300s", resp.StatusCode, body)
	}
}
