package main

import (
	"fmt"
	"strings"

	"github.com/cairnml/cairn"
)

// maxShownItems is how many items of one for_each task `cairn show` lists
// under it; the others are counted on one line (show --json has them all).
const maxShownItems = 20

// pickItems chooses the maxShownItems items of a task that show lists:
// first those that did not succeed (a failed item 57 of 100 is not hidden
// among the counted), then the first ones; both in item order.
func pickItems(its []*cairn.TaskRun) (shown, rest []*cairn.TaskRun) {
	pick := make([]bool, len(its))
	n := 0
	for pass := 0; pass < 2; pass++ {
		for i, it := range its {
			if n == maxShownItems {
				break
			}
			if !pick[i] && (pass == 1 || it.State != cairn.TaskSucceeded) {
				pick[i] = true
				n++
			}
		}
	}
	for i, it := range its {
		if pick[i] {
			shown = append(shown, it)
		} else {
			rest = append(rest, it)
		}
	}
	return shown, rest
}

// itemsOrder puts the items of for_each tasks (train[0] …) right after
// their task, at most maxShownItems of each (see pickItems), and returns, for each task
// with more, the line that counts the others by state.
func itemsOrder(trs []*cairn.TaskRun) (ordered []*cairn.TaskRun, more map[string]string) {
	items := map[string][]*cairn.TaskRun{}
	for _, tr := range trs {
		if parent, _, ok := cairn.ParseItemID(tr.TaskID); ok {
			items[parent] = append(items[parent], tr)
		}
	}
	if len(items) == 0 {
		return trs, nil
	}
	more = map[string]string{}
	ordered = make([]*cairn.TaskRun, 0, len(trs))
	for _, tr := range trs {
		if tr.IsItem() {
			continue
		}
		ordered = append(ordered, tr)
		its := items[tr.TaskID]
		if len(its) <= maxShownItems {
			ordered = append(ordered, its...)
			continue
		}
		shown, rest := pickItems(its)
		ordered = append(ordered, shown...)
		counts := map[cairn.TaskState]int{}
		for _, it := range rest {
			counts[it.State]++
		}
		var parts []string
		for _, st := range cairn.TaskStates {
			if n := counts[st]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, st))
			}
		}
		more[tr.TaskID] = fmt.Sprintf("%d more items of %s (%s): cairn show RUN --json lists them all",
			len(its)-maxShownItems, tr.TaskID, strings.Join(parts, ", "))
	}
	return ordered, more
}
