package draw

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/cairnml/cairn"
)

// Graph is the DAG to draw: what scheduler.Graph and *workflows.Workflow
// (the run's workflow, parsed again from the source the run stored) both
// answer. Declared here, by its consumer.
type Graph interface {
	// TaskIDs returns every task id, upstreams first.
	TaskIDs() []string
	// Upstream returns the ids task id waits for.
	Upstream(id string) []string
}

// DAGOptions say how DAG draws the nodes.
type DAGOptions struct {
	// Href returns the link of task id's node (its page); nil, or "" for
	// a task: the node is no link.
	Href func(taskID string) string
	// IDPrefix starts each node's element id, which is IDPrefix + task id
	// ("task-" when empty), so a page can find a node to update it.
	IDPrefix string
	// Cached names, by task id, the attempt whose outputs the task reused
	// instead of running: its node carries a "cache" tag, the attribute
	// data-cached and, in its title, "from cache: RUN/TASK#N".
	Cached map[string]cairn.AttemptRef
	// Expand names the for_each tasks whose items are drawn, each a node
	// downstream of its task. The items of every other for_each task are
	// drawn as one node, their task's: "train[0..N)", its items counted by
	// state, its state theirs (see itemsState).
	Expand map[string]bool
	// Toggle returns the link of the node of a for_each task with items,
	// which expands it (expanded false) or collapses it; nil: Href.
	Toggle func(taskID string, expanded bool) string
}

// fanned is the items of one for_each task in a run.
type fanned struct {
	ids    []string
	counts map[cairn.TaskState]int
}

// itemsGraph is a Graph with the items of the expanded for_each tasks,
// each after its task and downstream of it.
type itemsGraph struct {
	g      Graph
	after  map[string][]string
	parent map[string]string
}

func (ig itemsGraph) TaskIDs() []string {
	var ids []string
	for _, id := range ig.g.TaskIDs() {
		ids = append(ids, id)
		ids = append(ids, ig.after[id]...)
	}
	return ids
}

func (ig itemsGraph) Upstream(id string) []string {
	if p, ok := ig.parent[id]; ok {
		return []string{p}
	}
	return ig.g.Upstream(id)
}

// itemsState is the state a collapsed for_each task is drawn in: its own
// once it ended; before, running while one of its items is active (or
// waits to retry), failed once one failed, else its own (pending).
func itemsState(own cairn.TaskState, counts map[cairn.TaskState]int) cairn.TaskState {
	if own.Terminal() {
		return own
	}
	for _, st := range []cairn.TaskState{cairn.TaskRunning, cairn.TaskLeased, cairn.TaskReady, cairn.TaskRetrying} {
		if counts[st] > 0 {
			return cairn.TaskRunning
		}
	}
	if counts[cairn.TaskFailed] > 0 {
		return cairn.TaskFailed
	}
	return own
}

// countsLine is "5 items: 3 succeeded, 2 running", in the order of
// cairn.TaskStates.
func countsLine(n int, counts map[cairn.TaskState]int) string {
	var parts []string
	for _, st := range cairn.TaskStates {
		if c := counts[st]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, st))
		}
	}
	noun := "items"
	if n == 1 {
		noun = "item"
	}
	return fmt.Sprintf("%d %s: %s", n, noun, strings.Join(parts, ", "))
}

// Node geometry in user units. Layers are columns, left to right.
const (
	nodeW, nodeH = 190.0, 40.0
	colGap       = 56.0 // between two columns
	rowGap       = 14.0 // between two nodes of a column
	laneGap      = 6.0  // between an edge passing through a column and its neighbours
	margin       = 16.0
	labelRunes   = 21 // of a task id on its node; the title has it all
	// maxDummies bounds the points long edges are routed through (one per
	// column they cross); past it long edges are drawn straight across.
	maxDummies = 20000
)

// Box is one node of a laid-out DAG: a task's box, top-left corner and size.
type Box struct {
	ID         string
	X, Y, W, H float64
	Layer      int
}

// Edge is one laid-out dependency: Points from the upstream's right edge
// to the downstream's left edge, through the columns it crosses.
type Edge struct {
	From, To string
	Points   [][2]float64
}

// Layout is a DAG placed on the page.
type Layout struct {
	Width, Height float64
	Nodes         []Box // in the order of the graph's TaskIDs, then tasks it lacks
	Edges         []Edge
	// Crossings counts the pairs of edge segments that cross between
	// adjacent columns in the order chosen.
	Crossings int
}

// vnode is a node of the layered graph: a task, or a dummy point of a
// long edge where it crosses a column.
type vnode struct {
	task  int // index in ids; -1 for a dummy
	layer int
	h     float64
	y     float64 // centre
	up    []int   // neighbours in the previous layer
	down  []int   // neighbours in the next layer
}

// LayoutDAG places the tasks of g, plus any task of extra that g lacks (a
// run whose workflow could not be read again: g may be nil), with a
// layered drawing: each task in the column of its longest path from a
// source, edges that span columns routed through them, the order in each
// column chosen by barycentre sweeps to reduce crossings (the best order
// seen is kept), and each node then placed near its neighbours'
// mean position without overlapping another.
func LayoutDAG(g Graph, extra []string) Layout {
	var ids []string
	index := map[string]int{}
	add := func(id string) {
		if _, ok := index[id]; !ok {
			index[id] = len(ids)
			ids = append(ids, id)
		}
	}
	if g != nil {
		for _, id := range g.TaskIDs() {
			add(id)
		}
	}
	for _, id := range extra {
		add(id)
	}
	// Upstreams, known tasks only, deduplicated, in the graph's order.
	ups := make([][]int, len(ids))
	if g != nil {
		for i, id := range ids {
			seen := map[int]bool{}
			for _, u := range g.Upstream(id) {
				j, ok := index[u]
				if ok && j != i && !seen[j] {
					seen[j] = true
					ups[i] = append(ups[i], j)
				}
			}
			sort.Ints(ups[i])
		}
	}
	// Longest-path layering; TaskIDs is upstreams first, but a graph that
	// is not (or has a cycle) must not loop: iterate to a fixed point,
	// bounded by the number of tasks.
	layer := make([]int, len(ids))
	for pass := 0; pass <= len(ids); pass++ {
		changed := false
		for i := range ids {
			for _, u := range ups[i] {
				if layer[u]+1 > layer[i] && layer[u] < len(ids) {
					layer[i] = layer[u] + 1
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	nl := 0
	for _, l := range layer {
		nl = max(nl, l+1)
	}
	span := 0
	for i := range ids {
		for _, u := range ups[i] {
			span += max(layer[i]-layer[u]-1, 0)
		}
	}
	route := span <= maxDummies

	vs := make([]vnode, len(ids))
	for i := range ids {
		vs[i] = vnode{task: i, layer: layer[i], h: nodeH}
	}
	type chain struct {
		from, to int
		via      []int // dummies, in column order
	}
	var chains []chain
	link := func(a, b int) {
		vs[a].down = append(vs[a].down, b)
		vs[b].up = append(vs[b].up, a)
	}
	for i := range ids {
		for _, u := range ups[i] {
			c := chain{from: u, to: i}
			prev := u
			if route && layer[u] < layer[i] {
				for l := layer[u] + 1; l < layer[i]; l++ {
					vs = append(vs, vnode{task: -1, layer: l, h: 0})
					d := len(vs) - 1
					link(prev, d)
					c.via = append(c.via, d)
					prev = d
				}
			}
			if vs[prev].layer+1 == layer[i] {
				link(prev, i)
			}
			chains = append(chains, c)
		}
	}
	cols := make([][]int, nl)
	for v := range vs {
		cols[vs[v].layer] = append(cols[vs[v].layer], v)
	}
	cols, crossings := order(vs, cols)
	place(vs, cols)

	// Shift so that the top is at the margin; measure.
	top, bottom := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		top = math.Min(top, v.y-v.h/2)
		bottom = math.Max(bottom, v.y+v.h/2)
	}
	if len(vs) == 0 {
		top, bottom = 0, 0
	}
	lay := Layout{Crossings: crossings}
	lay.Width = 2*margin + float64(nl)*nodeW + float64(max(nl-1, 0))*colGap
	lay.Height = 2*margin + (bottom - top)
	colX := func(l int) float64 { return margin + float64(l)*(nodeW+colGap) }
	ys := func(v int) float64 { return vs[v].y - top + margin }
	for i, id := range ids {
		lay.Nodes = append(lay.Nodes, Box{ID: id, X: colX(layer[i]), Y: ys(i) - nodeH/2, W: nodeW, H: nodeH, Layer: layer[i]})
	}
	for _, c := range chains {
		e := Edge{From: ids[c.from], To: ids[c.to]}
		e.Points = append(e.Points, [2]float64{colX(layer[c.from]) + nodeW, ys(c.from)})
		for _, d := range c.via {
			x := colX(vs[d].layer)
			e.Points = append(e.Points, [2]float64{x, ys(d)}, [2]float64{x + nodeW, ys(d)})
		}
		e.Points = append(e.Points, [2]float64{colX(layer[c.to]), ys(c.to)})
		lay.Edges = append(lay.Edges, e)
	}
	return lay
}

// order chooses the order of each column: barycentre sweeps, down then up,
// keeping the order with the fewest crossings seen. Sorting is stable and
// ties keep the current order, so the result is deterministic.
func order(vs []vnode, cols [][]int) ([][]int, int) {
	pos := make([]float64, len(vs))
	setPos := func() {
		for _, col := range cols {
			for i, v := range col {
				pos[v] = float64(i)
			}
		}
	}
	setPos()
	best := copyCols(cols)
	bestX := crossings(vs, cols, pos)
	for sweep := 0; sweep < 12 && bestX > 0; sweep++ {
		down := sweep%2 == 0
		for k := range cols {
			l := k
			if !down {
				l = len(cols) - 1 - k
			}
			col := cols[l]
			key := make(map[int]float64, len(col))
			for _, v := range col {
				nb := vs[v].up
				if !down {
					nb = vs[v].down
				}
				if len(nb) == 0 {
					key[v] = pos[v]
					continue
				}
				s := 0.0
				for _, n := range nb {
					s += pos[n]
				}
				key[v] = s / float64(len(nb))
			}
			sort.SliceStable(col, func(i, j int) bool { return key[col[i]] < key[col[j]] })
			for i, v := range col {
				pos[v] = float64(i)
			}
		}
		if x := crossings(vs, cols, pos); x < bestX {
			bestX, best = x, copyCols(cols)
		}
	}
	return best, bestX
}

func copyCols(cols [][]int) [][]int {
	out := make([][]int, len(cols))
	for i, c := range cols {
		out[i] = append([]int(nil), c...)
	}
	return out
}

// crossings counts crossing pairs of segments between adjacent columns:
// the inversions of the lower ends once the segments are sorted by their
// upper ends, counted with a Fenwick tree (E log E per column pair).
func crossings(vs []vnode, cols [][]int, pos []float64) int {
	total := 0
	for l := 0; l+1 < len(cols); l++ {
		type seg struct{ a, b int }
		var segs []seg
		for _, v := range cols[l] {
			for _, d := range vs[v].down {
				segs = append(segs, seg{int(pos[v]), int(pos[d])})
			}
		}
		sort.Slice(segs, func(i, j int) bool {
			if segs[i].a != segs[j].a {
				return segs[i].a < segs[j].a
			}
			return segs[i].b < segs[j].b
		})
		n := len(cols[l+1])
		tree := make([]int, n+1)
		seen := 0
		for _, s := range segs {
			// segments seen so far whose lower end is after s.b cross s
			le := 0
			for i := s.b + 1; i > 0; i -= i & -i {
				le += tree[i]
			}
			total += seen - le
			for i := s.b + 1; i <= n; i += i & -i {
				tree[i]++
			}
			seen++
		}
	}
	return total
}

// place sets each node's vertical centre: first every column stacked,
// then a few passes that pull each node towards the mean of its
// neighbours' centres (alternately upstream and downstream) as far as the
// order and the gaps allow (an isotonic regression, pool adjacent
// violators). Should that make the picture taller than half as much again
// as its tallest plain stack, the plain stacks are kept.
func place(vs []vnode, cols [][]int) {
	sep := func(a, b int) float64 {
		gap := rowGap
		if vs[a].task < 0 || vs[b].task < 0 {
			gap = laneGap
		}
		return (vs[a].h+vs[b].h)/2 + gap
	}
	tallest := 0.0
	for _, col := range cols {
		y := 0.0
		for i, v := range col {
			if i > 0 {
				y += sep(col[i-1], v)
			}
			vs[v].y = y
		}
		tallest = math.Max(tallest, y)
	}
	// Centre each stack on the tallest one.
	for _, col := range cols {
		if len(col) == 0 {
			continue
		}
		shift := (tallest - vs[col[len(col)-1]].y) / 2
		for _, v := range col {
			vs[v].y += shift
		}
	}
	stacked := make([]float64, len(vs))
	for v := range vs {
		stacked[v] = vs[v].y
	}
	for pass := 0; pass < 6; pass++ {
		down := pass%2 == 0
		for k := range cols {
			l := k
			if !down {
				l = len(cols) - 1 - k
			}
			col := cols[l]
			want := make([]float64, len(col))
			off := make([]float64, len(col))
			for i, v := range col {
				nb := vs[v].up
				if !down {
					nb = vs[v].down
				}
				want[i] = vs[v].y
				if len(nb) > 0 {
					s := 0.0
					for _, n := range nb {
						s += vs[n].y
					}
					want[i] = s / float64(len(nb))
				}
				if i > 0 {
					off[i] = off[i-1] + sep(col[i-1], v)
				}
			}
			z := isotonic(want, off)
			for i, v := range col {
				vs[v].y = z[i] + off[i]
			}
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		lo, hi = math.Min(lo, v.y), math.Max(hi, v.y)
	}
	if len(vs) > 0 && hi-lo > 1.5*tallest+nodeH {
		for v := range vs {
			vs[v].y = stacked[v]
		}
	}
}

// isotonic returns the non-decreasing z closest (least squares) to
// want[i] - off[i]: pool adjacent violators.
func isotonic(want, off []float64) []float64 {
	type block struct {
		sum   float64
		count int
	}
	var bs []block
	for i := range want {
		bs = append(bs, block{want[i] - off[i], 1})
		for len(bs) > 1 {
			a, b := bs[len(bs)-2], bs[len(bs)-1]
			if a.sum/float64(a.count) <= b.sum/float64(b.count) {
				break
			}
			bs = append(bs[:len(bs)-2], block{a.sum + b.sum, a.count + b.count})
		}
	}
	z := make([]float64, 0, len(want))
	for _, b := range bs {
		m := b.sum / float64(b.count)
		for k := 0; k < b.count; k++ {
			z = append(z, m)
		}
	}
	return z
}

// DAG writes the DAG of a run as an SVG element: g's tasks (nil g: those
// of tasks alone, without edges), each a box coloured, marked and labelled
// by the state of its task run in tasks (pending when it has none), a link
// to its page when opts.Href gives one, with the attributes id (IDPrefix
// + task id), data-task and data-state; edges as paths with arrowheads.
// The SVG has a viewBox and its natural width and height.
func DAG(w io.Writer, g Graph, tasks []*cairn.TaskRun, opts DAGOptions) error {
	byID := make(map[string]*cairn.TaskRun, len(tasks))
	extra := make([]string, 0, len(tasks))
	fans := map[string]*fanned{}
	ig := itemsGraph{g: g, after: map[string][]string{}, parent: map[string]string{}}
	for _, tr := range tasks {
		byID[tr.TaskID] = tr
		if parent, _, ok := cairn.ParseItemID(tr.TaskID); ok {
			f := fans[parent]
			if f == nil {
				f = &fanned{counts: map[cairn.TaskState]int{}}
				fans[parent] = f
			}
			f.ids = append(f.ids, tr.TaskID)
			f.counts[tr.State]++
			if !opts.Expand[parent] {
				continue // drawn as its task's node
			}
			ig.after[parent] = append(ig.after[parent], tr.TaskID)
			ig.parent[tr.TaskID] = parent
		}
		extra = append(extra, tr.TaskID)
	}
	var lay Layout
	if g != nil && len(ig.parent) > 0 {
		lay = LayoutDAG(ig, extra)
	} else {
		lay = LayoutDAG(g, extra)
	}
	prefix := opts.IDPrefix
	if prefix == "" {
		prefix = "task-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="dag" viewBox="0 0 %s %s" width="%s" height="%s" font-family="sans-serif" font-size="12" role="img" aria-label="task graph">`+"\n",
		num(lay.Width), num(lay.Height), num(lay.Width), num(lay.Height))
	b.WriteString(`<g class="edges" fill="none" stroke="#8a8a8a" stroke-width="1.3">` + "\n")
	for _, e := range lay.Edges {
		p := e.Points
		fmt.Fprintf(&b, `<path class="edge" data-from="%s" data-to="%s" d="M%s,%s`, esc(e.From), esc(e.To), num(p[0][0]), num(p[0][1]))
		for i := 1; i < len(p); i++ {
			x0, y0, x1, y1 := p[i-1][0], p[i-1][1], p[i][0], p[i][1]
			if y0 == y1 || (i%2 == 0 && len(p) > 2) { // across a column: straight
				fmt.Fprintf(&b, " L%s,%s", num(x1), num(y1))
				continue
			}
			dx := (x1 - x0) / 2
			fmt.Fprintf(&b, " C%s,%s %s,%s %s,%s", num(x0+dx), num(y0), num(x1-dx), num(y1), num(x1), num(y1))
		}
		end := p[len(p)-1]
		fmt.Fprintf(&b, `"/>`+"\n"+`<path d="M%s,%s L%s,%s L%s,%s Z" fill="#8a8a8a" stroke="none"/>`+"\n",
			num(end[0]-7), num(end[1]-4), num(end[0]), num(end[1]), num(end[0]-7), num(end[1]+4))
	}
	b.WriteString("</g>\n")
	for _, n := range lay.Nodes {
		state, typ := cairn.TaskPending, ""
		if tr := byID[n.ID]; tr != nil {
			state, typ = tr.State, tr.Type
		}
		label, sub := n.ID, ""
		f := fans[n.ID]
		expanded := f != nil && opts.Expand[n.ID]
		if f != nil && !expanded {
			state = itemsState(state, f.counts)
			label = fmt.Sprintf("%s[0..%d)", n.ID, len(f.ids))
			sub = countsLine(len(f.ids), f.counts)
		}
		st := StyleOf(state)
		href := ""
		if opts.Href != nil {
			href = opts.Href(n.ID)
		}
		if f != nil && opts.Toggle != nil {
			href = opts.Toggle(n.ID, expanded)
		}
		tag := "g"
		attrs := ""
		if href != "" {
			tag, attrs = "a", ` href="`+esc(href)+`"`
		}
		from, cached := opts.Cached[n.ID]
		if cached {
			attrs += ` data-cached="` + esc(from.String()) + `"`
		}
		if f != nil {
			attrs += fmt.Sprintf(` data-items="%d" data-expanded="%t"`, len(f.ids), expanded)
		}
		fmt.Fprintf(&b, `<%s class="node" id="%s" data-task="%s" data-state="%s"%s>`, tag, esc(prefix+n.ID), esc(n.ID), esc(string(state)), attrs)
		title := label
		if typ != "" {
			title += " (" + typ + ")"
		}
		title += ": " + string(state)
		switch {
		case f != nil && !expanded:
			title += "; " + sub
			if opts.Toggle != nil {
				title += " (select to draw each)"
			}
		case expanded && opts.Toggle != nil:
			title += fmt.Sprintf(" (select to draw its %d items as one)", len(f.ids))
		}
		if cached {
			title += " — from cache: " + from.String()
		}
		fmt.Fprintf(&b, "<title>%s</title>\n", esc(title))
		dash := ""
		if st.Dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" rx="5" fill="%s" stroke="%s" stroke-width="1.6"%s/>`+"\n",
			num(n.X), num(n.Y), num(n.W), num(n.H), st.Fill, st.Stroke, dash)
		b.WriteString(marker(st.Marker, n.X+14, n.Y+n.H/2, st.Stroke))
		fmt.Fprintf(&b, "\n"+`<text x="%s" y="%s" font-weight="bold" fill="#1a1a1a">%s</text>`+"\n", num(n.X+27), num(n.Y+17), esc(clipText(label, labelRunes)))
		if sub == "" {
			sub = string(state)
			if typ != "" {
				sub += " · " + typ
			}
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="10" fill="#333333">%s</text>`+"\n", num(n.X+27), num(n.Y+31), esc(clipText(sub, 30)))
		if cached {
			b.WriteString(cacheTag(n.X+n.W-42, n.Y-7))
		}
		fmt.Fprintf(&b, "</%s>\n", tag)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// cacheTag is the mark of a node whose task reused an earlier success: a
// small white pill reading "cache" astride the node's top edge, at (x, y),
// in black: a shape and a word, not a colour, tell it (every colour of the
// palette is a state's, and a state's marker sits at the node's left).
func cacheTag(x, y float64) string {
	return fmt.Sprintf(`<g class="cache-tag"><rect x="%s" y="%s" width="38" height="14" rx="7" fill="#ffffff" stroke="#1a1a1a" stroke-width="1.2"/>`+
		`<text x="%s" y="%s" font-size="9" font-weight="bold" fill="#1a1a1a" text-anchor="middle">cache</text></g>`+"\n",
		num(x), num(y), num(x+19), num(y+10))
}
