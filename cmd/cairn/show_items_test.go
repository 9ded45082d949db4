package main

import (
	"strings"
	"testing"

	"github.com/cairnml/cairn"
)

func TestItemsOrder(t *testing.T) {
	trs := []*cairn.TaskRun{{TaskID: "a"}, {TaskID: "t"}, {TaskID: "z"}}
	for k := range maxShownItems + 3 {
		st := cairn.TaskSucceeded
		if k == maxShownItems+1 {
			st = cairn.TaskFailed
		}
		trs = append(trs, &cairn.TaskRun{TaskID: cairn.ItemID("t", k), State: st})
	}
	got, more := itemsOrder(trs)
	var ids []string
	for _, tr := range got {
		ids = append(ids, tr.TaskID)
	}
	// The failed item is listed, whatever its place; the first ones fill
	// the rest, in item order.
	if len(got) != 3+maxShownItems || ids[1] != "t" || ids[2] != "t[0]" || ids[maxShownItems] != cairn.ItemID("t", maxShownItems-2) ||
		ids[1+maxShownItems] != cairn.ItemID("t", maxShownItems+1) || ids[len(ids)-1] != "z" {
		t.Errorf("order %v", ids)
	}
	if want := "3 more items of t (3 succeeded)"; !strings.HasPrefix(more["t"], want) {
		t.Errorf("more = %q, want %q…", more["t"], want)
	}
	plain := []*cairn.TaskRun{{TaskID: "b"}, {TaskID: "a"}}
	if got, more := itemsOrder(plain); len(got) != 2 || got[0].TaskID != "b" || more != nil {
		t.Errorf("without items: %v %v", got, more)
	}
}
