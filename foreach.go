package cairn

import (
	"strconv"
	"strings"
)

// MaxForEachItems is how many items one for_each task may expand into
// (docs/workflows.md, Fan-out): a list longer than that fails the task
// (or, written in the file, the workflow's validation) rather than
// creating that many task runs.
const MaxForEachItems = 10_000

// ItemID is the task id of item index of for_each task parent:
// "train[3]". Task ids never hold '[', so an item's id names its task and
// its index without ambiguity.
func ItemID(parent string, index int) string {
	return parent + "[" + strconv.Itoa(index) + "]"
}

// ParseItemID splits an item's task id into its task's id and its index;
// ok is false for any other id.
func ParseItemID(id string) (parent string, index int, ok bool) {
	open := strings.IndexByte(id, '[')
	if open <= 0 || !strings.HasSuffix(id, "]") {
		return "", 0, false
	}
	digits := id[open+1 : len(id)-1]
	if digits == "" || len(digits) > 1 && digits[0] == '0' {
		return "", 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return id[:open], n, true
}

// Counted reports whether task run tr counts as one in a run's counts of
// tasks by state (cairn run's summary, a sub-workflow's row): a for_each
// task that expanded into items is counted through them, not as one more
// beside them; one that expanded into none, or failed before it expanded,
// counts as itself.
func (tr *TaskRun) Counted() bool { return !tr.Expanded || tr.Items == 0 }

// IsItem reports whether task run tr is an item of a for_each task.
func (tr *TaskRun) IsItem() bool {
	_, _, ok := ParseItemID(tr.TaskID)
	return ok
}
