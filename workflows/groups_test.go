package workflows

import (
	"testing"

	"github.com/cairnml/cairn"
)

// A sub-workflow's row counts a for_each task through its items: five
// items, a plain task and one over an empty list are seven tasks, not eight.
func TestCountGroupsForEach(t *testing.T) {
	trs := []*cairn.TaskRun{
		{TaskID: "sub:prep", State: cairn.TaskSucceeded},
		{TaskID: "sub:train", State: cairn.TaskPending, Expanded: true, Items: 5},
		{TaskID: "sub:empty", State: cairn.TaskSucceeded, Expanded: true, Items: 0},
	}
	for k := range 5 {
		st := cairn.TaskSucceeded
		if k == 4 {
			st = cairn.TaskRunning
		}
		trs = append(trs, &cairn.TaskRun{TaskID: cairn.ItemID("sub:train", k), State: st})
	}
	heads, _ := CountGroups(trs).Enter(nil, "sub:prep")
	if len(heads) != 1 {
		t.Fatalf("heads %+v", heads)
	}
	if want := "7 tasks: 1 running, 6 succeeded"; heads[0].Summary != want {
		t.Errorf("summary %q, want %q", heads[0].Summary, want)
	}
	if heads[0].State != cairn.TaskRunning {
		t.Errorf("state %s, want running", heads[0].State)
	}
}
