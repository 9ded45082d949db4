package workflows

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A task's pool and priority come from defaults unless it writes its own
// (pool: null clears the default's); pool_slots is 1 with a pool, 0
// without; the run declares the file's pools and its task runs carry the
// rest; they are part of the digest only when set.
func TestPools(t *testing.T) {
	w, err := ParseFile("testdata/valid/pools.yaml", opts())
	if err != nil {
		t.Fatal(err)
	}
	type tp struct {
		pool            string
		slots, priority int
	}
	want := map[string]tp{
		"extract": {"warehouse", 1, 1},
		"train":   {"gpu", 1, 10},
		"load":    {"warehouse", 2, -3},
		"report":  {"", 0, 0},
		"score":   {"licences", 1, 1},
	}
	run, trs := w.NewRun(nil, time.Now())
	if !reflect.DeepEqual(run.Pools, map[string]int{"gpu": 1, "warehouse": 4}) {
		t.Errorf("run.Pools = %v", run.Pools)
	}
	for _, tr := range trs {
		if got := (tp{tr.Pool, tr.PoolSlots, tr.Priority}); got != want[tr.TaskID] {
			t.Errorf("%s: %+v, want %+v", tr.TaskID, got, want[tr.TaskID])
		}
	}
	digest := func(src string) string {
		t.Helper()
		w, err := Parse("wf.yaml", []byte(src), opts())
		if err != nil {
			t.Fatal(err)
		}
		return w.Digest
	}
	plain := digest("name: d\ntasks:\n  - {id: a, type: noop}\n")
	if d := digest("name: d\ntasks:\n  - {id: a, type: noop, priority: 0, pool: null}\n"); d != plain {
		t.Errorf("priority 0 and no pool changed the digest")
	}
	for _, src := range []string{
		"name: d\npools: {gpu: 1}\ntasks:\n  - {id: a, type: noop}\n",
		"name: d\ntasks:\n  - {id: a, type: noop, pool: gpu}\n",
		"name: d\ntasks:\n  - {id: a, type: noop, priority: 1}\n",
	} {
		if digest(src) == plain {
			t.Errorf("%q left the digest as it was", src)
		}
	}
	if digest("name: d\ntasks:\n  - {id: a, type: noop, pool: gpu}\n") != digest("name: d\ntasks:\n  - {id: a, type: noop, pool: gpu, pool_slots: 1}\n") {
		t.Errorf("pool_slots: 1 changed the digest")
	}
}

// CheckPoolsDeclared names, at each task's pool:, a pool neither the file
// nor the database declares, and slots a database's pool has too few of;
// a server's size wins over the file's.
func TestCheckPoolsDeclared(t *testing.T) {
	w, err := ParseFile("testdata/valid/pools.yaml", opts())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPoolsDeclared(w, map[string]int{"licences": 2}, nil); err != nil {
		t.Errorf("with licences declared on the database: %v", err)
	}
	err = CheckPoolsDeclared(w, map[string]int{"other": 1}, nil)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].Line != 31 || list[0].Col != 11 ||
		!strings.Contains(list[0].Error(), `task "score": pool licences is not declared`) || !strings.Contains(list[0].Hint, "declared: other") {
		t.Fatalf("without licences: %v", err)
	}
	// The server's warehouse of 1 wins over the file's 4: load's 2 slots
	// can never fit.
	err = CheckPoolsDeclared(w, map[string]int{"licences": 1, "warehouse": 1}, map[string]bool{"warehouse": true})
	if !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].Msg, `task "load" takes 2 slots of pool warehouse, which has 1`) {
		t.Fatalf("with the server's warehouse of 1: %v", err)
	}
	// A workflow's warehouse of 1 on the database does not: this file's 4 is.
	if err := CheckPoolsDeclared(w, map[string]int{"licences": 1, "warehouse": 1}, nil); err != nil {
		t.Errorf("with another workflow's warehouse of 1: %v", err)
	}
}
