package workflows

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/tasks/shell"
)

// shapeSource is a workflow of n noop tasks, written as bench/ writes
// them: "fan" (independent), "chain" (each needs the one before), "fanin"
// (n-1 independent tasks and one that needs them all) or "merge" (each
// task merges a <<: *defaults block).
func shapeSource(shape string, n int) []byte {
	var sb strings.Builder
	sb.Grow(n * 48)
	fmt.Fprintf(&sb, "name: %s\n", shape)
	if shape == "merge" {
		sb.WriteString("x-defaults: &defaults {type: noop, retries: 2, timeout: 1m}\n")
	}
	sb.WriteString("tasks:\n")
	for i := 0; i < n; i++ {
		switch {
		case shape == "merge":
			fmt.Fprintf(&sb, "  - {<<: *defaults, id: t%d}\n", i)
		case shape == "fanin" && i == n-1:
			sb.WriteString("  - id: join\n    type: noop\n    needs: [")
			for j := 0; j < n-1; j++ {
				if j > 0 {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "t%d", j)
			}
			sb.WriteString("]\n")
		default:
			fmt.Fprintf(&sb, "  - id: t%d\n    type: noop\n", i)
			if shape == "chain" && i > 0 {
				fmt.Fprintf(&sb, "    needs: [t%d]\n", i-1)
			}
		}
	}
	return []byte(sb.String())
}

func realTypes(tb testing.TB) *tasks.Registry {
	reg, err := tasks.NewRegistry(shell.New(), noop.New())
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

// BenchmarkParse100k parses and validates 100,000 independent noop tasks
// with the real task types, the canonical form and digest included.
func BenchmarkParse100k(b *testing.B) {
	src := shapeSource("fan", 100_000)
	opts := Options{Types: realTypes(b)}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("fan.yaml", src, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// largeN is the size of the large tests but the first: 100,000 tasks, or
// 20,000 (still past the old limit) under the race detector, which finds
// nothing in a parse (one goroutine) and makes it ten times slower.
func largeN() int {
	if raceEnabled {
		return 20_000
	}
	return 100_000
}

// TestParse100k parses workflows of 100,000 tasks, which the old limit of
// 100,000 YAML nodes refused from 20,000 tasks on, in every shape (the
// fan at full size under the race detector too).
func TestParse100k(t *testing.T) {
	reg := realTypes(t)
	for _, shape := range []string{"fan", "chain", "fanin", "merge"} {
		n := largeN()
		if shape == "fan" {
			n = 100_000
		}
		t.Run(shape, func(t *testing.T) {
			w, err := Parse(shape+".yaml", shapeSource(shape, n), Options{Types: reg})
			if err != nil {
				msg := err.Error()
				t.Fatalf("%.500s", msg)
			}
			if len(w.Tasks) != n {
				t.Fatalf("%d tasks, want %d", len(w.Tasks), n)
			}
			ids := w.TaskIDs()
			if len(ids) != n {
				t.Fatalf("topological order of %d tasks, want %d", len(ids), n)
			}
			last := fmt.Sprintf("t%d", n-1)
			if shape == "fanin" {
				last = "join"
				if got := len(w.Task("join").Upstream); got != n-1 {
					t.Errorf("join has %d upstreams, want %d", got, n-1)
				}
			}
			if ids[0] != "t0" || ids[n-1] != last {
				t.Errorf("order runs from %s to %s, want t0 to %s", ids[0], ids[n-1], last)
			}
			if shape == "chain" {
				if up := w.Task("t500").Upstream; !slices.Equal(up, []string{"t499"}) {
					t.Errorf("t500's upstream %v", up)
				}
			}
			if shape == "merge" {
				if tk := w.Task("t17777"); tk.Type != "noop" || tk.Retry.Retries != 2 || tk.Timeout != time.Minute {
					t.Errorf("t17777 did not merge its defaults: %+v", tk)
				}
			}
			if shape == "fan" {
				sameCanonical(t, "fan 100k", w)
			}
		})
	}
}

// TestHonestFileBeyondOldNodeLimit: 30,000 tasks are 150,000 YAML nodes,
// past the 100,000 that the old check counted (aliases or not), and a few
// anchors make no difference.
func TestHonestFileBeyondOldNodeLimit(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("name: honest\nx-defaults: &defaults {type: noop, retries: 2}\nx-with: &with {sleep: 1ms}\ntasks:\n")
	sb.WriteString("  - <<: *defaults\n    id: first\n    with: *with\n")
	sb.WriteString("  - <<: *defaults\n    id: second\n    needs: [first]\n")
	for i := 0; i < 30_000; i++ {
		fmt.Fprintf(&sb, "  - id: t%d\n    type: noop\n", i)
	}
	w, err := Parse("honest.yaml", []byte(sb.String()), Options{Types: realTypes(t)})
	if err != nil {
		t.Fatalf("%.500s", err)
	}
	if len(w.Tasks) != 30_002 {
		t.Fatalf("%d tasks", len(w.Tasks))
	}
	first := w.Task("first")
	if first.Type != "noop" || first.Retry.Retries != 2 || first.With["sleep"] != "1ms" {
		t.Errorf("first did not take its aliased values: %+v", first)
	}
	if s := w.Task("second"); s.Retry.Retries != 2 || !slices.Equal(s.Upstream, []string{"first"}) {
		t.Errorf("second: %+v", s)
	}
}

// laughs is a "billion laughs" workflow: nine levels of ten aliases of
// the level below expand to 10^9 values.
func laughs(merge bool) string {
	var b strings.Builder
	b.WriteString("name: lol\n")
	if merge {
		// Mappings merging ten mappings each (<<: [*a, *a, ...]).
		b.WriteString("x-a: &a {l0: lol, l1: lol, l2: lol, l3: lol, l4: lol, l5: lol, l6: lol, l7: lol, l8: lol, l9: lol}\n")
	} else {
		b.WriteString("x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	}
	prev := "a"
	for _, c := range "bcdefghi" {
		name := string(c)
		if merge {
			b.WriteString("x-" + name + ": &" + name + " {<<: [")
		} else {
			b.WriteString("x-" + name + ": &" + name + " [")
		}
		for i := 0; i < 10; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		if merge {
			b.WriteString("]}\n")
		} else {
			b.WriteString("]\n")
		}
		prev = name
	}
	if merge {
		b.WriteString("tasks:\n  - id: a\n    type: shell\n    with: {argv: [x], env: *i}\n")
	} else {
		b.WriteString("tasks:\n  - id: a\n    type: shell\n    with: {argv: *i}\n")
	}
	return b.String()
}

// TestBillionLaughsRefused: what aliases add is limited, in lists and in
// merges, with the message that names the limit, its value and what to
// do, after a bounded amount of work (no timing: the test would hang).
func TestBillionLaughsRefused(t *testing.T) {
	for _, merge := range []bool{false, true} {
		_, err := Parse("lol.yaml", []byte(laughs(merge)), opts())
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Fatalf("merge %v: got %v", merge, err)
		}
		e := list[0]
		if e.Line != 2 || e.Msg != "aliases expand to more than 1,000,000 YAML nodes, over the limit of what aliases may add" ||
			!strings.Contains(e.Hint, "may add at most 1,000,000 nodes to a file, or 10 for every node it writes if that is more") {
			t.Errorf("merge %v: got %v", merge, err)
		}
	}
}

// TestAliasBudgetScalesWithFile: a file may reach through aliases ten
// times the nodes it writes.
func TestAliasBudgetScalesWithFile(t *testing.T) {
	src := func(uses int) []byte {
		var sb strings.Builder
		sb.WriteString("name: big\nx-list: &big [")
		for i := 0; i < 200_000; i++ {
			sb.WriteString("1,")
		}
		sb.WriteString("1]\nx-uses: [")
		for i := 0; i < uses; i++ {
			sb.WriteString("*big,")
		}
		sb.WriteString("]\ntasks: [{id: a, type: noop}]\n")
		return []byte(sb.String())
	}
	// About 200,010 nodes written: up to 2,000,100 may be reached
	// through aliases, nine uses of 200,001 nodes but not eleven.
	if _, err := Parse("nine.yaml", src(9), opts()); err != nil {
		t.Errorf("nine uses: %v", err)
	}
	_, err := Parse("eleven.yaml", src(11), opts())
	if err == nil || !strings.Contains(err.Error(), "aliases expand to more than 2,000,") ||
		!strings.Contains(err.Error(), "(this file writes 200,0") {
		t.Errorf("eleven uses: %v", err)
	}
}

func TestTaskLimit(t *testing.T) {
	src := func(n int) []byte {
		var sb strings.Builder
		sb.WriteString("name: many\ntasks:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&sb, "  - {id: t%d, type: noop}\n", i)
		}
		return []byte(sb.String())
	}
	o := opts()
	o.MaxTasks = 10
	if _, err := Parse("ten.yaml", src(10), o); err != nil {
		t.Errorf("10 tasks: %v", err)
	}
	_, err := Parse("eleven.yaml", src(11), o)
	want := "eleven.yaml:2:1: workflow has 11 tasks, over the limit of 10 tasks in one workflow\n\thint: split the work into several workflows, each run on its own"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// Read in chunks, the file is refused before its tasks are read, with
	// the problems of the rest of the file.
	defer func(m int64) { chunkMinBytes = m }(chunkMinBytes)
	chunkMinBytes = 0
	bad := append([]byte("concurrency: -1\n"), src(11)...)
	_, err = Parse("eleven.yaml", bad, o)
	want = "eleven.yaml:1:14: concurrency must be at least 0, not -1\neleven.yaml:3:1: workflow has 11 tasks, over the limit of 10 tasks in one workflow\n\thint: split the work into several workflows, each run on its own"
	if err == nil || err.Error() != want {
		t.Errorf("in chunks: got %v\nwant %s", err, want)
	}
	if _, _, ok := parseInChunks("eleven.yaml", bad, o); !ok {
		t.Error("the chunked path did not take the file")
	}
	if MaxTasks < 10*100_000 || DefaultMaxBytes < 10*len(shapeSource("chain", 100_000)) {
		t.Errorf("the limits (%d tasks, %d bytes) leave a 100,000-task workflow too little room", MaxTasks, DefaultMaxBytes)
	}
}

func TestDepthLimit(t *testing.T) {
	nested := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	// The value of with.argv is at depth 4 (the top mapping is at 0,
	// then tasks, a task, with), its innermost list 96 levels further.
	ok := "name: deep\ntasks:\n  - id: a\n    type: shell\n    with: {argv: " + nested(97) + "}\n"
	if _, err := Parse("ok.yaml", []byte(ok), opts()); err != nil && strings.Contains(err.Error(), "nested") {
		t.Errorf("97 levels: %v", err)
	}
	deep := "name: deep\ntasks:\n  - id: a\n    type: shell\n    with: {argv: " + nested(98) + "}\n"
	_, err := Parse("deep.yaml", []byte(deep), opts())
	if err == nil || !strings.Contains(err.Error(), "deep.yaml:5:115: document nested more than 100 levels deep\n\thint: the limit is 100 levels") {
		t.Errorf("98 levels: %v", err)
	}
	// Aliases count: an anchor 60 deep used 50 levels down.
	alias := "name: deep\nx-a: &a " + nested(60) + "\ntasks:\n  - id: a\n    type: shell\n    with: {argv: " +
		strings.Repeat("[", 50) + "*a" + strings.Repeat("]", 50) + "}\n"
	if _, err := Parse("alias.yaml", []byte(alias), opts()); err == nil || !strings.Contains(err.Error(), "nested more than 100 levels") {
		t.Errorf("through an alias: %v", err)
	}
}

// TestErrors100k: problems in every task of a large file are all
// reported, at their columns, in time linear in the file (a quadratic
// search of the line would not end).
func TestErrors100k(t *testing.T) {
	n := largeN()
	var sb strings.Builder
	sb.WriteString("name: refs\nparams:\n  dur: 0s\ntasks:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - id: t%d\n    type: noop\n    with: {sleep: \"${{ params.durr }}\"}\n    needs: [x%d]\n", i, i)
	}
	_, err := Parse("refs.yaml", []byte(sb.String()), Options{Types: realTypes(t)})
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2*n {
		t.Fatalf("got %d problems, want %d", len(list), 2*n)
	}
	if e := list[0]; e.Line != 7 || e.Col != 20 || e.Msg != `reference to unknown param "durr"` || e.Hint != `did you mean "dur"?` {
		t.Errorf("first: %v", e)
	}
	if e := list[1]; e.Line != 8 || e.Col != 13 || e.Msg != `needs unknown task "x0"` || e.Hint != `did you mean "t0"?` {
		t.Errorf("second: %v", e)
	}
	// Past a budget of comparisons, unknown task ids have no hint.
	if e := list[2*n-1]; e.Msg != fmt.Sprintf("needs unknown task %q", fmt.Sprintf("x%d", n-1)) || e.Hint != "" {
		t.Errorf("last: %v", e)
	}
}

// TestCycle100k: a cycle through 100,000 tasks is found and named.
func TestCycle100k(t *testing.T) {
	n := largeN()
	src := strings.Replace(string(shapeSource("chain", n)), "  - id: t0\n    type: noop\n",
		fmt.Sprintf("  - id: t0\n    type: noop\n    needs: [t%d]\n", n-1), 1)
	_, err := Parse("cycle.yaml", []byte(src), Options{Types: realTypes(t)})
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("got %.300v", err)
	}
	if len(ce.Path) != n+1 || ce.Path[0] != "t0" || ce.Path[1] != "t1" || ce.Path[n] != "t0" {
		t.Errorf("path of %d: %v ... %v", len(ce.Path), ce.Path[:3], ce.Path[len(ce.Path)-3:])
	}
}

func TestValidTaskID(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	cases := []string{"", "a", "A", "z9", "_a", "-a", "9a", "a-b_c", "a.b", "a b", "é", "aé", "a\n", "Z" + strings.Repeat("x", 63), "Z" + strings.Repeat("x", 64)}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "aZ09_-.é \n"
	for range 5000 {
		var sb strings.Builder
		for range r.IntN(6) {
			sb.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		cases = append(cases, sb.String())
	}
	for _, c := range cases {
		if want := re.MatchString(c) && len(c) <= 64; validTaskID(c) != want {
			t.Errorf("validTaskID(%q) = %v, want %v", c, !want, want)
		}
	}
}

// TestTopoOrderRandom checks topoOrder against the rule it implements,
// followed naively: repeatedly take the first task in file order whose
// upstreams are all taken.
func TestTopoOrderRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 300 {
		n := 1 + r.IntN(40)
		ts := make([]*Task, n)
		perm := r.Perm(n) // a hidden order that keeps the graph acyclic
		for i := range ts {
			ts[i] = &Task{ID: fmt.Sprintf("t%d", i)}
		}
		for i := range ts {
			for j := range ts {
				if perm[j] < perm[i] && r.IntN(4) == 0 {
					ts[i].Upstream = append(ts[i].Upstream, ts[j].ID)
				}
			}
		}
		if trial%10 == 0 && n > 2 { // a cycle: some tasks are left out
			a, b := r.IntN(n), r.IntN(n)
			ts[a].Upstream = append(ts[a].Upstream, ts[b].ID)
			ts[b].Upstream = append(ts[b].Upstream, ts[a].ID)
		}
		got := (&Workflow{Tasks: ts}).TopoOrder()
		var want []string
		taken := map[string]bool{}
		for progress := true; progress; {
			progress = false
			for _, tk := range ts {
				if taken[tk.ID] {
					continue
				}
				ready := true
				for _, u := range tk.Upstream {
					ready = ready && taken[u]
				}
				if ready {
					taken[tk.ID] = true
					want = append(want, tk.ID)
					progress = true
					break
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: got %v, want %v", trial, got, want)
		}
	}
}

// A refused task id of a megabyte is quoted clipped, with its length,
// not whole; a short one whole.
func TestInvalidTaskIDClipped(t *testing.T) {
	long := "é" + strings.Repeat("x", 1<<20)
	_, err := Parse("ids.yaml", []byte("name: ids\ntasks:\n  - {id: \""+long+"\", type: noop}\n  - {id: \"a b\", type: noop}\n"), Options{})
	if err == nil {
		t.Fatal("invalid ids accepted")
	}
	msg := err.Error()
	if len(msg) > 1000 || !strings.Contains(msg, `invalid task id "éxxx`) || !strings.Contains(msg, fmt.Sprintf("… (%d bytes in all)", len(long))) {
		t.Errorf("a 1 MiB id refused as %.300q (%d bytes)", msg, len(msg))
	}
	if !strings.Contains(msg+"\n", `invalid task id "a b"`+"\n") { // the last line: its hint is the first's
		t.Errorf("a short invalid id not quoted whole: %.300q", msg)
	}
}

// BenchmarkParseChain1k parses and validates a chain of 1,000 noop tasks
// (45 KB) as Parse does (its task list in batches, read by fastBatch) and
// whole (yaml.v3's tree of the whole file).
func BenchmarkParseChain1k(b *testing.B) {
	src := shapeSource("chain", 1000)
	opts := Options{Types: realTypes(b)}
	for _, r := range []struct {
		name  string
		parse func(string, []byte, Options) (*Workflow, error)
	}{{"Parse", Parse}, {"whole", parseWhole}} {
		b.Run(r.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.parse("chain.yaml", src, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
