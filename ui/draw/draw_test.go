package draw

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// mapGraph is a DAG given as upstreams per task, in a topological order.
type mapGraph struct {
	order []string
	up    map[string][]string
}

func (g mapGraph) TaskIDs() []string           { return g.order }
func (g mapGraph) Upstream(id string) []string { return g.up[id] }

// randomDAG returns n tasks, each depending on up to 3 of the 25 before it
// (a seeded draw: the same graph every time).
func randomDAG(n int, seed uint64) mapGraph {
	r := rand.New(rand.NewPCG(seed, 1))
	g := mapGraph{up: map[string][]string{}}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("task_%03d", i)
		g.order = append(g.order, id)
		if i == 0 {
			continue
		}
		k := r.IntN(4)
		if i < 10 && r.IntN(2) == 0 {
			k = 0 // a few sources
		}
		for j := 0; j < k; j++ {
			lo := max(0, i-25)
			g.up[id] = append(g.up[id], g.order[lo+r.IntN(i-lo)])
		}
	}
	return g
}

func taskRuns(g mapGraph, state func(i int) cairn.TaskState) []*cairn.TaskRun {
	var trs []*cairn.TaskRun
	for i, id := range g.order {
		trs = append(trs, &cairn.TaskRun{RunID: "r", TaskID: id, Type: "noop", State: state(i)})
	}
	return trs
}

func overlap(a, b Box) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

// TestLayout200 lays out a 200-task graph: no two boxes overlap, each
// task sits one column after its furthest upstream, edges leave the
// upstream's right side and reach the downstream's left side without
// passing through a box of the columns between, and the picture is no
// bigger than its columns and its tallest column allow.
func TestLayout200(t *testing.T) {
	g := randomDAG(200, 7)
	lay := LayoutDAG(g, nil)
	if len(lay.Nodes) != 200 {
		t.Fatalf("%d nodes, want 200", len(lay.Nodes))
	}
	box := map[string]Box{}
	perLayer := map[int]int{}
	layers := 0
	for _, n := range lay.Nodes {
		box[n.ID] = n
		perLayer[n.Layer]++
		layers = max(layers, n.Layer+1)
		if n.X < 0 || n.Y < 0 || n.X+n.W > lay.Width || n.Y+n.H > lay.Height {
			t.Errorf("node %s at (%g,%g) is outside the %gx%g picture", n.ID, n.X, n.Y, lay.Width, lay.Height)
		}
	}
	for i := range lay.Nodes {
		for j := i + 1; j < len(lay.Nodes); j++ {
			if overlap(lay.Nodes[i], lay.Nodes[j]) {
				t.Errorf("nodes %s and %s overlap: %+v %+v", lay.Nodes[i].ID, lay.Nodes[j].ID, lay.Nodes[i], lay.Nodes[j])
			}
		}
	}
	for _, id := range g.order {
		want := 0
		for _, u := range g.up[id] {
			want = max(want, box[u].Layer+1)
		}
		if box[id].Layer != want {
			t.Errorf("task %s in column %d, want %d (longest path)", id, box[id].Layer, want)
		}
	}
	nEdges := 0
	for _, ups := range g.up {
		seen := map[string]bool{}
		for _, u := range ups {
			if !seen[u] {
				seen[u] = true
				nEdges++
			}
		}
	}
	if len(lay.Edges) != nEdges {
		t.Errorf("%d edges, want %d", len(lay.Edges), nEdges)
	}
	for _, e := range lay.Edges {
		from, to := box[e.From], box[e.To]
		p0, pn := e.Points[0], e.Points[len(e.Points)-1]
		if p0 != [2]float64{from.X + from.W, from.Y + from.H/2} || pn != [2]float64{to.X, to.Y + to.H/2} {
			t.Errorf("edge %s→%s runs %v→%v, want from the right of %+v to the left of %+v", e.From, e.To, p0, pn, from, to)
		}
		for k := 1; k+1 < len(e.Points); k += 2 { // the segments across columns
			y, x := e.Points[k][1], e.Points[k][0]
			for _, n := range lay.Nodes {
				if n.X == x && y > n.Y && y < n.Y+n.H {
					t.Errorf("edge %s→%s crosses the box of %s at y=%g", e.From, e.To, n.ID, y)
				}
			}
		}
	}
	tallest := 0
	for _, c := range perLayer {
		tallest = max(tallest, c)
	}
	wantW := 2*margin + float64(layers)*nodeW + float64(layers-1)*colGap
	if lay.Width != wantW {
		t.Errorf("width %g, want %g for %d columns", lay.Width, wantW, layers)
	}
	// Edges through a column take room too; the bound allows 1.5 times
	// the tallest column's boxes with a lane per edge in all.
	maxH := 2*margin + 1.5*(float64(tallest)*(nodeH+rowGap)+float64(len(lay.Edges))*laneGap) + nodeH
	if lay.Height > maxH {
		t.Errorf("height %g for a tallest column of %d tasks, want at most %g", lay.Height, tallest, maxH)
	}
	t.Logf("200 tasks: %d columns, tallest %d, %gx%g, %d crossings", layers, tallest, lay.Width, lay.Height, lay.Crossings)
}

// TestBarycentreUncrosses: two sources whose downstreams are listed the
// other way round would cross; the ordering undoes it.
func TestBarycentreUncrosses(t *testing.T) {
	g := mapGraph{order: []string{"a", "b", "c", "d", "e"}, up: map[string][]string{"c": {"b"}, "d": {"a"}, "e": {"c"}}}
	lay := LayoutDAG(g, nil)
	if lay.Crossings != 0 {
		t.Errorf("%d crossings, want 0", lay.Crossings)
	}
	y := map[string]float64{}
	for _, n := range lay.Nodes {
		y[n.ID] = n.Y
	}
	if (y["a"] < y["b"]) != (y["d"] < y["c"]) {
		t.Errorf("a, b at %g, %g but their downstreams d, c at %g, %g: the edges cross", y["a"], y["b"], y["d"], y["c"])
	}
}

// TestLayoutOddGraphs: no graph (tasks only), an upstream that is not a
// task, a cycle and a long edge all lay out without hanging.
func TestLayoutOddGraphs(t *testing.T) {
	lay := LayoutDAG(nil, []string{"x", "y"})
	if len(lay.Nodes) != 2 || len(lay.Edges) != 0 || overlap(lay.Nodes[0], lay.Nodes[1]) {
		t.Errorf("tasks without a graph: %+v", lay)
	}
	cyc := mapGraph{order: []string{"a", "b"}, up: map[string][]string{"a": {"b", "ghost"}, "b": {"a"}}}
	if lay := LayoutDAG(cyc, nil); len(lay.Nodes) != 2 {
		t.Errorf("cycle: %d nodes", len(lay.Nodes))
	}
	long := mapGraph{order: []string{"a", "b", "c", "d"}, up: map[string][]string{"b": {"a"}, "c": {"b"}, "d": {"c", "a"}}}
	lay = LayoutDAG(long, nil)
	for _, e := range lay.Edges {
		if e.From == "a" && e.To == "d" && len(e.Points) != 2+2*2 {
			t.Errorf("a→d crosses 2 columns, routed through %d points: %v", len(e.Points), e.Points)
		}
	}
	if empty := LayoutDAG(nil, nil); empty.Width != 2*margin || len(empty.Nodes) != 0 {
		t.Errorf("empty: %+v", empty)
	}
}

// svgElem is what the tests read back of an SVG.
type svgElem struct {
	Name  string
	Attr  map[string]string
	Text  string // character data directly inside
	Inner []string
}

// parseSVG decodes an SVG strictly (it must be well-formed XML) into its
// elements in document order.
func parseSVG(t *testing.T, b []byte) []*svgElem {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var out, stack []*svgElem
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &svgElem{Name: tok.Name.Local, Attr: map[string]string{}}
			for _, a := range tok.Attr {
				e.Attr[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(tok)
			}
		}
	}
	return out
}

func TestDAGSVG(t *testing.T) {
	g := randomDAG(200, 11)
	states := cairn.TaskStates
	trs := taskRuns(g, func(i int) cairn.TaskState { return states[i%len(states)] })
	var a, b bytes.Buffer
	opts := DAGOptions{Href: func(id string) string { return "/runs/r/tasks/" + id }}
	if err := DAG(&a, g, trs, opts); err != nil {
		t.Fatal(err)
	}
	if err := DAG(&b, g, trs, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two drawings of the same DAG differ")
	}
	els := parseSVG(t, a.Bytes())
	want := map[string]cairn.TaskState{}
	for _, tr := range trs {
		want[tr.TaskID] = tr.State
	}
	nodes := 0
	var cur *svgElem
	for _, e := range els {
		if e.Name == "a" {
			cur = e
			nodes++
			id := e.Attr["data-task"]
			if e.Attr["id"] != "task-"+id || e.Attr["href"] != "/runs/r/tasks/"+id {
				t.Errorf("node %s: id %q href %q", id, e.Attr["id"], e.Attr["href"])
			}
			if e.Attr["data-state"] != string(want[id]) {
				t.Errorf("node %s: data-state %q, want %q", id, e.Attr["data-state"], want[id])
			}
		}
		if e.Name == "rect" && cur != nil {
			st := StyleOf(cairn.TaskState(cur.Attr["data-state"]))
			if e.Attr["fill"] != st.Fill || e.Attr["stroke"] != st.Stroke {
				t.Errorf("node %s (%s) drawn %s/%s, want %s/%s", cur.Attr["data-task"], cur.Attr["data-state"], e.Attr["fill"], e.Attr["stroke"], st.Fill, st.Stroke)
			}
			cur = nil
		}
	}
	if nodes != 200 {
		t.Errorf("%d linked nodes, want 200", nodes)
	}
	if a.Len() > 400<<10 {
		t.Errorf("a 200-task DAG is %d bytes of SVG", a.Len())
	}
}

// TestPaletteDistinct: each task state is drawn with its own fill and its
// own marker, so states differ in shape as well as colour.
func TestPaletteDistinct(t *testing.T) {
	fills, marks := map[string]cairn.TaskState{}, map[string]cairn.TaskState{}
	for _, s := range cairn.TaskStates {
		st := StyleOf(s)
		if o, dup := fills[st.Fill]; dup {
			t.Errorf("%s and %s share the fill %s", s, o, st.Fill)
		}
		if o, dup := marks[st.Marker]; dup {
			t.Errorf("%s and %s share the marker %s", s, o, st.Marker)
		}
		fills[st.Fill], marks[st.Marker] = s, s
		parseSVG(t, []byte(Marker(s)))
	}
	if StyleOf("from-the-future") != unknownStyle {
		t.Error("an unknown state is not drawn as unknown")
	}
}

const hostile = `<script>alert("x")</script>&"'><img src=x onerror=alert(1)>`

// TestEscaped: task ids, types and errors holding markup come out as
// text, in the DAG and in the Gantt: the SVG stays well-formed, holds no
// <script> or <img> element, and gives the text back exactly.
func TestEscaped(t *testing.T) {
	id := "t" + hostile
	trs := []*cairn.TaskRun{{TaskID: id, Type: "shell" + hostile, State: cairn.TaskFailed}, {TaskID: "plain", State: cairn.TaskSucceeded}}
	g := mapGraph{order: []string{id, "plain"}, up: map[string][]string{"plain": {id}}}
	var dag bytes.Buffer
	if err := DAG(&dag, g, trs, DAGOptions{Href: func(id string) string { return "/t/" + id }}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	atts := []*cairn.Attempt{{TaskID: id, Number: 1, State: cairn.TaskFailed, StartedAt: t0, FinishedAt: t0.Add(time.Second), Error: "boom " + hostile}}
	var gantt bytes.Buffer
	if err := Gantt(&gantt, trs, atts, GanttOptions{Href: func(id string, n int) string { return "/t/" + id }}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string][]byte{"dag": dag.Bytes(), "gantt": gantt.Bytes()} {
		for _, bad := range []string{"<script", "<img", `"'>`} {
			if bytes.Contains(out, []byte(bad)) {
				t.Errorf("%s SVG holds %q unescaped", name, bad)
			}
		}
		found := false
		for _, e := range parseSVG(t, out) {
			if e.Name == "script" || e.Name == "img" {
				t.Errorf("%s SVG has a <%s> element", name, e.Name)
			}
			if e.Attr["data-task"] == id {
				found = true
			}
			if e.Name == "a" && e.Attr["href"] != "/t/"+id && e.Attr["href"] != "/t/plain" {
				t.Errorf("%s: href %q", name, e.Attr["href"])
			}
		}
		if !found {
			t.Errorf("%s SVG lost the task id %q", name, id)
		}
	}
	if !strings.Contains(gantt.String(), "boom &lt;script&gt;") {
		t.Error("the Gantt bar's title does not hold the escaped error")
	}
}

func TestGantt(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	trs := []*cairn.TaskRun{{TaskID: "a", State: cairn.TaskSucceeded}, {TaskID: "b", State: cairn.TaskRunning}, {TaskID: "c", State: cairn.TaskPending}}
	atts := []*cairn.Attempt{
		{TaskID: "a", Number: 1, State: cairn.TaskRetrying, StartedAt: t0, FinishedAt: t0.Add(10 * time.Second)},
		{TaskID: "a", Number: 2, State: cairn.TaskSucceeded, StartedAt: t0.Add(20 * time.Second), FinishedAt: t0.Add(30 * time.Second)},
		{TaskID: "b", Number: 1, State: cairn.TaskRunning, StartedAt: t0.Add(30 * time.Second)},
	}
	var buf bytes.Buffer
	if err := Gantt(&buf, trs, atts, GanttOptions{Start: t0, End: t0.Add(40 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	var bars []*svgElem
	var ticks []string
	rows := map[string]bool{}
	for _, e := range parseSVG(t, buf.Bytes()) {
		if e.Attr["class"] == "bar" {
			bars = append(bars, e)
		}
		if e.Name == "text" && e.Attr["text-anchor"] == "middle" {
			ticks = append(ticks, e.Text)
		}
		if e.Name == "text" && e.Attr["text-anchor"] == "end" {
			rows[strings.TrimSpace(e.Text)] = true
		}
	}
	if len(rows) != 3 {
		t.Errorf("rows %v, want a, b, c", rows)
	}
	if len(bars) != 3 {
		t.Fatalf("%d bars, want 3", len(bars))
	}
	// 40 s over 660 units: 16.5 per second.
	for i, want := range []struct {
		state  string
		x, w   string
		attemp string
	}{{"retrying", "180", "165", "1"}, {"succeeded", "510", "165", "2"}, {"running", "675", "165", "1"}} {
		b := bars[i]
		if b.Attr["data-state"] != want.state || b.Attr["x"] != want.x || b.Attr["width"] != want.w || b.Attr["data-attempt"] != want.attemp {
			t.Errorf("bar %d: %v, want state %s x %s width %s", i, b.Attr, want.state, want.x, want.w)
		}
		if b.Attr["fill"] != StyleOf(cairn.TaskState(want.state)).Stroke {
			t.Errorf("bar %d filled %s", i, b.Attr["fill"])
		}
	}
	if strings.Join(ticks, " ") != "0s 5s 10s 15s 20s 25s 30s 35s 40s" {
		t.Errorf("ticks %q", ticks)
	}
	// No attempts at all, with or without an end (a queued run's "now"),
	// or an axis from the zero time: an axis of a second, no bars.
	for _, o := range []GanttOptions{{}, {End: t0}, {Start: time.Time{}, End: time.Now()}, {Start: t0, End: t0.Add(-time.Hour)}} {
		buf.Reset()
		if err := Gantt(&buf, trs, nil, o); err != nil {
			t.Fatal(err)
		}
		ticks := 0
		for _, e := range parseSVG(t, buf.Bytes()) {
			if e.Name == "text" && e.Attr["text-anchor"] == "middle" {
				ticks++
			}
		}
		if ticks < 2 || ticks > 17 {
			t.Errorf("%+v: %d ticks", o, ticks)
		}
	}
}

func TestTickStep(t *testing.T) {
	for _, c := range []struct{ d, want time.Duration }{
		{300 * time.Millisecond, 50 * time.Millisecond},
		{40 * time.Second, 5 * time.Second},
		{3 * time.Hour, 30 * time.Minute},
		{30 * 24 * time.Hour, 4 * 24 * time.Hour},
	} {
		if got := tickStep(c.d); got != c.want {
			t.Errorf("tickStep(%v) = %v, want %v", c.d, got, c.want)
		}
	}
}

// A for_each task's 10,000 items are one node, its own, counting them
// by state, linked to expand it; expanded, they are 10,000 nodes
// downstream of it, and its node links to collapse them.
func TestDAGForEachItems(t *testing.T) {
	g := mapGraph{order: []string{"prep", "train", "report"}, up: map[string][]string{"train": {"prep"}, "report": {"train"}}}
	trs := []*cairn.TaskRun{{TaskID: "prep", Type: "noop", State: cairn.TaskSucceeded},
		{TaskID: "train", Type: "noop", State: cairn.TaskPending, Expanded: true, Items: 10000},
		{TaskID: "report", Type: "noop", State: cairn.TaskPending}}
	for k := range 10000 {
		st := cairn.TaskSucceeded
		switch {
		case k%1000 == 7:
			st = cairn.TaskRunning
		case k >= 9000:
			st = cairn.TaskReady
		}
		trs = append(trs, &cairn.TaskRun{TaskID: cairn.ItemID("train", k), Type: "noop", State: st})
	}
	toggle := func(id string, expanded bool) string { return fmt.Sprintf("/runs/r?expanded=%t&task=%s", expanded, id) }
	nodes := func(expand map[string]bool) map[string]*svgElem {
		var b bytes.Buffer
		if err := DAG(&b, g, trs, DAGOptions{Href: func(id string) string { return "/runs/r/tasks/" + id }, Expand: expand, Toggle: toggle}); err != nil {
			t.Fatal(err)
		}
		out := map[string]*svgElem{}
		for _, e := range parseSVG(t, b.Bytes()) {
			if e.Name == "a" {
				out[e.Attr["data-task"]] = e
			}
		}
		return out
	}
	collapsed := nodes(nil)
	if len(collapsed) != 3 {
		t.Fatalf("%d nodes collapsed, want 3", len(collapsed))
	}
	n := collapsed["train"]
	if n.Attr["data-items"] != "10000" || n.Attr["data-expanded"] != "false" || n.Attr["data-state"] != "running" ||
		n.Attr["href"] != "/runs/r?expanded=false&task=train" {
		t.Errorf("collapsed node: %v", n.Attr)
	}
	var b bytes.Buffer
	if err := DAG(&b, g, trs, DAGOptions{Toggle: toggle}); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); !strings.Contains(s, ">train[0..10000)</text>") ||
		!strings.Contains(s, "train[0..10000) (noop): running; 10000 items: 999 ready, 10 running, 8991 succeeded (select to draw each)") {
		t.Errorf("the collapsed node does not read train[0..10000) and its counts:\n%.2000s", s)
	}
	expanded := nodes(map[string]bool{"train": true})
	if len(expanded) != 10003 {
		t.Fatalf("%d nodes expanded, want 10003", len(expanded))
	}
	if n := expanded["train"]; n.Attr["data-expanded"] != "true" || n.Attr["href"] != "/runs/r?expanded=true&task=train" || n.Attr["data-state"] != "pending" {
		t.Errorf("expanded node: %v", n.Attr)
	}
	if n := expanded["train[5]"]; n == nil || n.Attr["href"] != "/runs/r/tasks/train[5]" {
		t.Errorf("item node: %v", n)
	}
}

// A for_each task's row has a thin bar spanning its items' attempts, from
// the first start to the last end; the items keep their own bars.
func TestGanttForEachSpan(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	trs := []*cairn.TaskRun{{TaskID: "each", State: cairn.TaskSucceeded, Expanded: true, Items: 2},
		{TaskID: "each[0]", State: cairn.TaskSucceeded}, {TaskID: "each[1]", State: cairn.TaskSucceeded}}
	atts := []*cairn.Attempt{
		{TaskID: "each[0]", Number: 1, State: cairn.TaskSucceeded, StartedAt: t0.Add(10 * time.Second), FinishedAt: t0.Add(20 * time.Second)},
		{TaskID: "each[1]", Number: 1, State: cairn.TaskSucceeded, StartedAt: t0.Add(5 * time.Second), FinishedAt: t0.Add(15 * time.Second)},
	}
	var buf bytes.Buffer
	if err := Gantt(&buf, trs, atts, GanttOptions{Start: t0, End: t0.Add(40 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	var spans, bars []*svgElem
	for _, e := range parseSVG(t, buf.Bytes()) {
		switch e.Attr["class"] {
		case "span":
			spans = append(spans, e)
		case "bar":
			bars = append(bars, e)
		}
	}
	if len(spans) != 1 || spans[0].Attr["data-task"] != "each" || len(bars) != 2 {
		t.Fatalf("spans %v and %d bars, want one span on each and the items' 2 bars", spans, len(bars))
	}
	x0, _ := strconv.ParseFloat(spans[0].Attr["x"], 64)
	w, _ := strconv.ParseFloat(spans[0].Attr["width"], 64)
	// 5 s to 20 s of a 40 s axis 660 units wide after a 180-unit label column.
	if wantX, wantW := 180+660*5.0/40, 660*15.0/40; math.Abs(x0-wantX) > 0.5 || math.Abs(w-wantW) > 0.5 {
		t.Errorf("span x=%v width=%v, want x=%v width=%v (5 s to 20 s)", x0, w, wantX, wantW)
	}
}
