package workflows

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"

	"golang.org/x/sync/semaphore"
	"gopkg.in/yaml.v3"
)

// A workflow file is read task by task, so that its YAML nodes are not
// all held at once — yaml.v3 spends about 30 bytes of nodes per byte of
// file (90 MB for 100,000 noop tasks), and the collector lets the heap
// grow to twice what it found alive, so a whole tree costs about 60 times
// the file — and so that its task list is read by fastBatch (fastyaml.go)
// wherever it is written in the subset of YAML that reader knows: a
// chain of 1,000 tasks parses in about half the time, a one-task file in
// four fifths. parseInChunks decodes the file without its task list (its
// skeleton), then the list a few tasks at a time, each batch's nodes
// dropped once its tasks are read.
//
// It does so only where that reads the same as decoding the whole file,
// and otherwise says so and Parse decodes the whole file: the top level
// is a block mapping whose `tasks:` key, alone on its line, holds a block
// sequence; the skeleton decodes, holding that key where it was found
// and no alias after it (it could name an anchor in the list); no
// batch fails to decode or holds an alias (*x) or goes deeper than
// MaxDepth; and each batch holds the items the lines said. A line that
// only looks like the start of an item (inside a quoted string or a flow
// collection that spans lines) leaves the batch before it unterminated,
// so it fails to decode, and the whole file is read. Problems are
// reported by the same code either way; a file that is not valid is
// always read whole, so that its errors are exactly those of the whole
// file.

// chunkMinBytes is the size from which a file is read in chunks: every
// file (a variable for tests, which read small files whole as well).
var chunkMinBytes int64 = 0

// chunkBytes is about how much of the task list one batch decodes; a
// variable for tests.
var chunkBytes = 64 << 10

// taskChunks locates the items of the top-level `tasks:` list.
type taskChunks struct {
	keyLine int   // line of `tasks:`, at column 1
	start   []int // byte offset of each item's first line
	line    []int // line of each item's first line
	end     int   // byte offset where the list ends
}

// scanTasks finds the top-level `tasks:` block sequence of src by its
// lines; false when the file is not laid out so (see parseInChunks).
func scanTasks(src []byte) (*taskChunks, bool) {
	// YAML also breaks lines at a lone CR, NEL, LS and PS: lines would
	// not be counted as yaml.v3 counts them.
	for _, brk := range []string{"\u0085", "\u2028", "\u2029"} {
		if bytes.Contains(src, []byte(brk)) {
			return nil, false
		}
	}
	tc := &taskChunks{}
	indent := -1 // the items' indentation, once the first is found
	inList := false
	line := 0
	for off := 0; off < len(src); {
		line++
		next := len(src)
		if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		text := bytes.TrimSuffix(bytes.TrimSuffix(src[off:next], []byte("\n")), []byte("\r"))
		if bytes.IndexByte(text, '\r') >= 0 {
			return nil, false // a lone CR
		}
		body := bytes.TrimLeft(text, " ")
		lead := len(text) - len(body)
		switch {
		case len(body) > 0 && body[0] == '\t', len(text) > 0 && text[0] == '%':
			return nil, false // tabs, directives: read the whole file
		case len(body) == 0 || body[0] == '#':
			// blank or comment: ends nothing
		case inList && lead == indent && isEntry(body):
			tc.start = append(tc.start, off)
			tc.line = append(tc.line, line)
		case inList && indent < 0:
			if !isEntry(body) {
				return nil, false // tasks: is not followed by a block list
			}
			indent = lead
			tc.start = append(tc.start, off)
			tc.line = append(tc.line, line)
		case inList && lead > indent:
			// inside an item
		case inList && lead == 0:
			inList = false
			tc.end = off
		case inList:
			return nil, false // less indented than the items, not at the top
		case lead == 0 && isTasksKey(body):
			if tc.keyLine != 0 {
				return nil, false // twice: the whole file says what that means
			}
			tc.keyLine = line
			inList = true
		case lead == 0 && bytes.HasPrefix(body, []byte("---")) || lead == 0 && bytes.HasPrefix(body, []byte("...")):
			return nil, false // document markers
		}
		off = next
	}
	if inList {
		tc.end = len(src)
	}
	return tc, tc.keyLine != 0 && len(tc.start) > 0
}

// isEntry reports whether a line, its indentation removed, starts a
// block sequence entry ("- " or a lone "-").
func isEntry(body []byte) bool {
	return len(body) > 0 && body[0] == '-' && (len(body) == 1 || body[1] == ' ' || body[1] == '\t')
}

// isTasksKey reports whether a top-level line is `tasks:` with no value
// on the line (a comment may follow).
func isTasksKey(body []byte) bool {
	rest, ok := bytes.CutPrefix(body, []byte("tasks:"))
	if !ok {
		return false
	}
	trimmed := bytes.TrimLeft(rest, " ")
	return len(trimmed) == 0 || trimmed[0] == '#' && len(trimmed) < len(rest)
}

// skeleton is src with every line of the task list left empty, so that
// every other node keeps its line and column.
func (tc *taskChunks) skeleton(src []byte) []byte {
	list := src[tc.start[0]:tc.end]
	lines := bytes.Count(list, []byte("\n"))
	out := make([]byte, 0, len(src)-len(list)+lines+1)
	out = append(out, src[:tc.start[0]]...)
	out = append(out, bytes.Repeat([]byte("\n"), lines)...)
	if len(list) > 0 && list[len(list)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, src[tc.end:]...)
}

// errWhole says that a file must be read whole after all.
var errWhole = errors.New("read the whole file")

// parseInChunks parses src as Parse does, reading its task list a batch
// at a time; false when the file must be read whole instead.
func parseInChunks(path string, src []byte, opts Options) (*Workflow, error, bool) {
	tc, ok := scanTasks(src)
	if !ok {
		return nil, nil, false
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(tc.skeleton(src)))
	if err := safeDecode(dec, &doc); err != nil || len(doc.Content) == 0 {
		return nil, nil, false
	}
	var second yaml.Node
	if err := safeDecode(dec, &second); !errors.Is(err, io.EOF) {
		return nil, nil, false
	}
	root := doc.Content[0]
	// A flow mapping ({...}) spanning lines decodes as the skeleton, but
	// the whole file cannot hold a block list inside it.
	if root.Kind != yaml.MappingNode || root.Style&yaml.FlowStyle != 0 {
		return nil, nil, false
	}
	// An alias after the list names the last anchor of its name before
	// it, which may be one in the list (redefined there): the skeleton
	// alone would resolve it to an earlier one.
	for stack := []*yaml.Node{root}; len(stack) > 0; {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.AliasNode && n.Line > tc.keyLine {
			return nil, nil, false
		}
		stack = append(stack, n.Content...)
	}
	found := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "tasks" && k.Line == tc.keyLine && k.Column == 1 {
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!null" || v.Anchor != "" {
				return nil, nil, false
			}
			found = true
		}
	}
	if !found {
		return nil, nil, false
	}
	p := &parser{file: path, src: src, opts: opts, chunks: tc, fast: fastYAML}
	// A sub-workflow's read shares its Parse's uses: state, which its
	// own uses: change: put back as it was when the file is read whole
	// after all, which reads them again (else the files it found not
	// valid were "listed once" by the read thrown away, and its tasks
	// counted twice against the limits).
	saved := opts.uses.save()
	w, err := p.parse(root)
	if p.fallback || !p.overLimit && len(p.errs) > 0 {
		opts.uses.restore(saved)
	}
	switch {
	case p.fallback:
		return nil, nil, false
	case p.overLimit:
		// Too many tasks: refused without reading them (each batch
		// decoded, checked and dropped: the whole file would say the
		// same after holding all of its nodes), with the problems of the
		// rest of the file.
		return nil, err, true
	case len(p.errs) > 0:
		// The whole file says what the problems are, all of them.
		return nil, nil, false
	}
	return w, err, true
}

// tasksInChunks reads the task list batch by batch; it sets p.fallback
// when a batch does not read as the whole file would. The batches are
// decoded ahead of their reading, on up to GOMAXPROCS goroutines at once
// (decodeAhead): decoding (yaml.v3) is most of a large file's parse, and
// each batch decodes alone; their tasks are read in order, here.
func (p *parser) tasksInChunks(w *Workflow, kv kvPair) {
	tc := p.chunks
	// Over the limit, the batches are still decoded, their tasks not
	// read: the lines over-count items when a quoted string spans a line
	// that looks like one, and a list that does not decode is refused for
	// that, as the whole file is. Only when every batch decodes with the
	// items its lines said is the count that of the whole file.
	over := len(tc.start) > p.maxTasks()
	if !over {
		w.Tasks = make([]*Task, 0, len(tc.start))
		p.taskInfo = make([]*taskNodes, 0, len(tc.start))
	}
	batches := tc.batches()
	next, stop := p.decodeAhead(batches, runtime.GOMAXPROCS(0))
	defer stop()
	for range batches {
		items, err := next()
		if err != nil {
			p.fallback = true
			return
		}
		if over {
			continue
		}
		for _, item := range items {
			if tn := p.task(w, item); tn != nil {
				w.Tasks = append(w.Tasks, tn.task)
				p.taskInfo = append(p.taskInfo, tn)
			}
		}
	}
	if over {
		p.tooManyTasks(kv.k, len(tc.start))
		p.overLimit = true
	}
}

// batchSpan is one batch of the task list: src[start:end], want items
// whose first line is line shift+1 (decodeBatch).
type batchSpan struct{ start, end, shift, want int }

// batches splits the task list into batches of about chunkBytes, whole
// items each.
func (tc *taskChunks) batches() []batchSpan {
	var bs []batchSpan
	for first := 0; first < len(tc.start); {
		last := first + 1 // the batch is items first..last-1
		for last < len(tc.start) && tc.start[last]-tc.start[first] < chunkBytes {
			last++
		}
		end := tc.end
		if last < len(tc.start) {
			end = tc.start[last]
		}
		bs = append(bs, batchSpan{start: tc.start[first], end: end, shift: tc.line[first] - 1, want: last - first})
		first = last
	}
	return bs
}

// decodedBatch is decodeBatch's result for one batch.
type decodedBatch struct {
	items []*yaml.Node
	err   error
}

// decodeAhead decodes the batches on up to workers goroutines, with at
// most 2×workers×chunkBytes of them decoded or decoding ahead of the one
// read last (each batch's nodes are about 30 times its bytes: the budget
// bounds what is held at once; a batch larger than it — one long item —
// waits until nothing else is held), and returns next, which returns the
// batches' results in order, and stop, which stops decoding more (the
// decodes under way end on their own). One worker, or one batch, decodes
// on the caller's goroutine.
func (p *parser) decodeAhead(batches []batchSpan, workers int) (next func() ([]*yaml.Node, error), stop func()) {
	if workers <= 1 || len(batches) <= 1 {
		i := 0
		return func() ([]*yaml.Node, error) {
			b := batches[i]
			i++
			return p.decodeBatch(b.start, b.end, b.shift, b.want)
		}, func() {}
	}
	out := make([]chan decodedBatch, len(batches))
	for i := range out {
		out[i] = make(chan decodedBatch, 1) // never blocks its decoder
	}
	budget := int64(2 * workers * chunkBytes)
	weight := func(b batchSpan) int64 { return min(int64(b.end-b.start), budget) }
	held := semaphore.NewWeighted(budget)
	decoders := semaphore.NewWeighted(int64(workers))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for i, b := range batches {
			if held.Acquire(ctx, weight(b)) != nil {
				return
			}
			if decoders.Acquire(ctx, 1) != nil {
				return
			}
			go func() {
				items, err := p.decodeBatch(b.start, b.end, b.shift, b.want)
				decoders.Release(1)
				out[i] <- decodedBatch{items, err}
			}()
		}
	}()
	i := 0
	next = func() ([]*yaml.Node, error) {
		d := <-out[i]
		out[i] = nil
		held.Release(weight(batches[i]))
		i++
		return d.items, d.err
	}
	return next, cancel
}

// decodeBatch decodes src[start:end], want items of the task list whose
// first line is line shift+1, and returns them with their lines as in
// the file: read by fastBatch when it is written in the subset of YAML
// that reader knows, else by yaml.v3 (yamlBatch).
func (p *parser) decodeBatch(start, end, shift, want int) ([]*yaml.Node, error) {
	if p.fast {
		if items, ok := fastBatch(p.src[start:end], shift, want); ok {
			return items, nil
		}
	}
	return yamlBatch(p.src[start:end], shift, want)
}

// fastYAML turns fastBatch on; a variable for tests, which compare the
// two readers. A parse reads it once, as it starts (parser.fast): its
// decoders, which may outlive it, never read the variable.
var fastYAML = true

// yamlBatch decodes a batch with yaml.v3 (see decodeBatch).
func yamlBatch(src []byte, shift, want int) ([]*yaml.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := safeDecode(dec, &doc); err != nil || len(doc.Content) == 0 {
		return nil, errWhole
	}
	var second yaml.Node
	if err := safeDecode(dec, &second); !errors.Is(err, io.EOF) {
		return nil, errWhole
	}
	seq := doc.Content[0]
	if seq.Kind != yaml.SequenceNode || len(seq.Content) != want || seq.Anchor != "" || seq.Tag != "!!seq" {
		return nil, errWhole
	}
	// The list is at depth 1 of the file (its top-level mapping at 0).
	var walk func(n *yaml.Node, depth int) bool
	walk = func(n *yaml.Node, depth int) bool {
		if n.Kind == yaml.AliasNode || depth > MaxDepth {
			return false
		}
		n.Line += shift
		for _, c := range n.Content {
			if !walk(c, depth+1) {
				return false
			}
		}
		return true
	}
	if !walk(seq, 1) {
		return nil, errWhole
	}
	return seq.Content, nil
}
