package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
)

// validName says whether s is a workflow name: ^[a-z0-9][a-z0-9_.-]*$,
// at most 128 bytes. Like validTaskID and validParamName, a loop over
// the bytes rather than a regexp, which every process would compile at
// start (a package-level regexp is built by the package's init).
func validName(s string) bool { return validWord(s, 128, "a-z0-9", "_.-") }

// validParamName says whether s names a param or an output:
// ^[A-Za-z_][A-Za-z0-9_-]*$, at most 64 bytes.
func validParamName(s string) bool { return validWord(s, 64, "a-zA-Z_", "0-9-") }

// validWord says whether s has 1 to max bytes, each in the classes of
// first ("a-z", "A-Z", "0-9" or a byte itself) and, past the first, also
// in those of more.
func validWord(s string, max int, first, more string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !inClasses(s[i], first) && (i == 0 || !inClasses(s[i], more)) {
			return false
		}
	}
	return true
}

// inClasses says whether c is in classes: ranges "x-y" and single bytes
// (a '-' last is itself).
func inClasses(c byte, classes string) bool {
	for j := 0; j < len(classes); j++ {
		if j+2 < len(classes) && classes[j+1] == '-' {
			if c >= classes[j] && c <= classes[j+2] {
				return true
			}
			j += 2
		} else if c == classes[j] {
			return true
		}
	}
	return false
}

var (
	topKeys      = []string{"name", "description", "params", "defaults", "concurrency", "max_active_runs", "schedule", "notify", "outputs", "pools", "tasks"}
	taskKeys     = []string{"id", "type", "description", "with", "inputs", "needs", "when", "retries", "retry_backoff", "max_interruptions", "timeout", "cache", "labels", "queue", "resources", "uses", "for_each", "max_parallel", "pool", "pool_slots", "priority"}
	defaultsKeys = []string{"retries", "retry_backoff", "max_interruptions", "timeout", "labels", "queue", "pool", "priority"}
	paramKeys    = []string{"type", "default", "required", "description", "secret"}
	backoffKeys  = []string{"delay", "factor", "max"}
	scheduleKeys = []string{"cron", "timezone", "catchup", "start", "end"}
	paramKinds   = []string{"string", "int", "float", "bool", "list", "map"}
	// paramKindAliases are other languages' names of the param types.
	paramKindAliases = map[string]string{"integer": "int", "number": "float", "double": "float", "boolean": "bool",
		"str": "string", "text": "string", "array": "list", "object": "map", "dict": "map"}
)

// ParseFile reads and parses the workflow file at path. A file over
// MaxBytes is refused before it is read. Errors are an ErrorList, or the
// error of opening or reading the file.
func ParseFile(path string, opts Options) (*Workflow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := maxBytes(opts)
	size := int64(512)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if fi.Size() > limit {
			return nil, ErrorList{tooBig(path, fi.Size(), limit)}
		}
		size += fi.Size() // read at once, not doubled as it grows
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("read workflow %s: %w", path, err)
	}
	return Parse(path, buf.Bytes(), opts)
}

func maxBytes(opts Options) int64 {
	if opts.MaxBytes > 0 {
		return opts.MaxBytes
	}
	return DefaultMaxBytes
}

func tooBig(path string, size, limit int64) *Error {
	return &Error{File: path, Line: 1, Col: 1,
		Msg:  fmt.Sprintf("file is %s limit of a workflow file", overLimit(size, limit)),
		Hint: "split the workflow into several files, or keep large data and scripts in files that its tasks read"}
}

// overLimit says "SIZE, over the LIMIT" of size bytes past a limit of
// limit bytes; in bytes when the rounded size would read as the limit
// itself ("64.0 MiB, over the 64 MiB").
func overLimit(size, limit int64) string {
	h, l := humanBytes(size, false), humanBytes(limit, true)
	if h == l || h == strings.Replace(l, " ", ".0 ", 1) {
		return fmt.Sprintf("%d bytes, %d over the %s (%d bytes)", size, size-limit, l, limit)
	}
	return fmt.Sprintf("%s, over the %s", h, l)
}

// humanBytes renders n as "12.3 MiB"; exact drops a zero fraction.
func humanBytes(n int64, exact bool) string {
	units := []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}}
	for _, u := range units {
		if n >= u.size {
			if n%u.size == 0 {
				return fmt.Sprintf("%d %s", n/u.size, u.name)
			}
			if exact {
				continue
			}
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// utf16BOM names the encoding of src when it starts with a UTF-16
// byte-order mark (what some editors save "Unicode" text as), "" if not.
func utf16BOM(src []byte) string {
	switch {
	case len(src) >= 2 && src[0] == 0xff && src[1] == 0xfe:
		return "UTF-16LE"
	case len(src) >= 2 && src[0] == 0xfe && src[1] == 0xff:
		return "UTF-16BE"
	}
	return ""
}

// Parse parses and validates the workflow in src; path names it in
// errors. When the file is not valid the error is an ErrorList holding
// every problem found, sorted by position.
func Parse(path string, src []byte, opts Options) (*Workflow, error) {
	p := &parser{file: path, src: src, opts: opts}
	if limit := maxBytes(opts); int64(len(src)) > limit {
		return nil, ErrorList{tooBig(path, int64(len(src)), limit)}
	}
	if !utf8.Valid(src) {
		if enc := utf16BOM(src); enc != "" {
			p.errAt(1, 1, "save it as UTF-8 (for example: iconv -f "+enc+" -t UTF-8 FILE), or choose UTF-8 in the editor's save dialog",
				"file is %s text (it starts with a UTF-16 byte-order mark): a workflow file is UTF-8", enc)
			return nil, p.errs
		}
		off := invalidUTF8(src)
		line, col := p.offsetPos(off)
		p.errAt(line, col, "", "file is not valid UTF-8 (byte 0x%02x)", src[off])
		return nil, p.errs
	}
	if int64(len(src)) >= chunkMinBytes {
		if w, err, ok := parseInChunks(path, src, opts); ok {
			return w, err
		}
	}
	return p.parse(p.decode(src))
}

// parse reads, validates and indexes the workflow whose top-level node is
// root (nil when decoding failed, its problems reported).
func (p *parser) parse(root *yaml.Node) (*Workflow, error) {
	if root == nil {
		return nil, p.errs.sorted()
	}
	if !p.checkExpansion(root) {
		return nil, p.errs.sorted()
	}
	w := p.workflow(root)
	if p.fallback {
		return nil, nil
	}
	p.validate(w)
	if len(p.errs) == 0 && p.hasUses {
		p.expandUses(w)
	}
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	w.Path = p.file
	w.Source = p.src
	if len(p.opts.usesChain) == 0 && p.opts.uses != nil && len(p.opts.uses.sources) > 0 {
		w.SubSources = p.opts.uses.sources
	}
	w.Digest = w.canonicalDigest()
	for _, t := range w.Tasks {
		t.setStatic()
	}
	if p.hasUses {
		w.idx = buildIndex(w)
	} else {
		w.idx = &index{byID: p.ids, order: p.order}
	}
	return w, nil
}

// parser holds the state of one Parse.
type parser struct {
	file string
	src  []byte
	opts Options
	errs ErrorList

	// Filled by workflow() for validate().
	params   map[string]*ParamDecl
	taskInfo []*taskNodes

	lineStarts []int // byte offset of each line, indexed by line()
	aliases    bool  // the file has aliases (*x): some nodes are reached twice

	// usesTasks counts the tasks this file's uses: bring in, as they are
	// read; past the limit of tasks usesOver is set and the rest of its
	// uses: are not read (each would cost what its sub-workflow holds).
	usesTasks int
	usesOver  bool

	// Set when the file is read task by task (see parseInChunks).
	chunks    *taskChunks
	fallback  bool // the file must be read whole after all
	fast      bool // batches are read by fastBatch first (fastYAML)
	overLimit bool // the task list is over the limit: its tasks were not read

	// Filled by validate() for the index and for hints.
	ids         map[string]int // task id → position of its (first) task
	first       []bool         // by position: the task is the first of its id
	order       []string       // the task ids in topological order
	idList      []string       // the task ids in file order, for hints
	nearestWork int            // names compared for hints so far

	scripts map[string]map[string]bool // by type name: see scriptParams

	hasUses  bool                  // a task has uses: (see uses.go)
	outNodes map[string]*yaml.Node // the values of outputs:, by name
	// whys holds each distinct Task.CacheWhy once: most tasks of a large
	// file share a handful (a string each of 100,000 tasks is 3 MB).
	whys map[string]string
	// cacheDefaults holds each type's caching default for a task without
	// params (decideCache).
	cacheDefaults map[string]cacheDefault
}

// taskNodes keeps what validation needs of one task's YAML: the
// positions of its id, type and needs (not their nodes: 160 bytes each),
// the nodes a problem of its other parts is reported at, but not the
// task's mapping, so that the rest of its nodes can go once the task is
// read (see tasks).
type taskNodes struct {
	task     *Task
	hasID    bool
	idIsStr  bool // the id: is a string (perhaps empty)
	idAt     filePos
	hasType  bool
	typAt    filePos
	withKey  *yaml.Node
	withKeys []kvPair   // the entries of with:, looked up by withEntry
	inputs   *yaml.Node // the inputs: key
	inputVal map[string]*yaml.Node
	needs    []filePos // where each of task.Needs is
	whenExpr node
	when     *yaml.Node
	tmpls    []tmplUse
	// forEach is the for_each: value, forEachRef its reference when it
	// is one; maxPar the max_parallel: value.
	forEach    *yaml.Node
	forEachRef *ref
	maxPar     *yaml.Node
	info       *cairn.TypeInfo // its type's, when known (a sub-workflow's outputs for uses:)
	cacheAt    filePos         // where its cache: value is, when written
	uses       *usesNode       // its uses:, when it has one
	slotsAt    filePos         // where its pool_slots: value is, when written

	resourcesAt filePos // where its resources: value is, when written
}

// filePos is a line and column of the file.
type filePos struct{ line, col int32 }

func posOf(n *yaml.Node) filePos { return filePos{int32(n.Line), int32(n.Column)} }

// errorAt reports a problem at a.
func (p *parser) errorAt(a filePos, hint, format string, args ...any) {
	p.errAt(int(a.line), int(a.col), hint, format, args...)
}

// withEntry returns the entry of with: whose key is key.
func (tn *taskNodes) withEntry(key string) (kvPair, bool) {
	for _, kv := range tn.withKeys {
		if kv.key == key {
			return kv, true
		}
	}
	return kvPair{}, false
}

// pos is a node at the task's position (that of its mapping), to report
// a problem of the whole task at.
func (tn *taskNodes) pos() *yaml.Node {
	return &yaml.Node{Line: tn.task.Line, Column: tn.task.Col}
}

// tmplUse is a template found in a task, with where it came from.
type tmplUse struct {
	t     template
	n     *yaml.Node
	input bool
	// forEach: in the task's for_each, where its items are not known.
	forEach bool
}

func (p *parser) errAt(line, col int, hint, format string, args ...any) {
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (p *parser) errorf(n *yaml.Node, hint, format string, args ...any) {
	p.errAt(n.Line, n.Column, hint, format, args...)
}

// textErr reports e, found at a byte offset of n's string value.
func (p *parser) textErr(n *yaml.Node, e *textError) {
	line, col := p.strPos(n, e.off)
	p.errAt(line, col, e.hint, "%s", e.msg)
}

// strPos locates byte off of n's value in the file when the value is
// written on one line without escapes; otherwise it is n's position. It
// costs the length of the line up to the value: call it only to report.
func (p *parser) strPos(n *yaml.Node, off int) (int, int) {
	shift := 0
	switch {
	case n.Style&yaml.LiteralStyle != 0:
		return p.literalPos(n, off)
	case n.Style&yaml.FoldedStyle != 0:
		return n.Line, n.Column
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		shift = 1
	}
	line, ok := p.line(n.Line)
	if !ok || n.Column < 1 || off < 0 || off > len(n.Value) {
		return n.Line, n.Column
	}
	// Skip the characters before the value (columns count characters).
	start := 0
	for c := 1; c < n.Column+shift; c++ {
		if start >= len(line) {
			return n.Line, n.Column
		}
		_, size := utf8.DecodeRune(line[start:])
		start += size
	}
	if !bytes.HasPrefix(line[start:], []byte(n.Value)) {
		return n.Line, n.Column
	}
	return n.Line, n.Column + shift + utf8.RuneCountInString(n.Value[:off])
}

// literalPos locates byte off of a literal block scalar (|): line k of
// the value is line k+1 after the indicator's, behind the block's
// indentation. Where the file does not read so, it is n's position.
func (p *parser) literalPos(n *yaml.Node, off int) (int, int) {
	if off < 0 || off > len(n.Value) {
		return n.Line, n.Column
	}
	k := strings.Count(n.Value[:off], "\n")
	start := strings.LastIndexByte(n.Value[:off], '\n') + 1
	end := strings.IndexByte(n.Value[start:], '\n')
	if end < 0 {
		end = len(n.Value) - start
	}
	text := n.Value[start : start+end]
	l := n.Line + 1 + k
	b, ok := p.line(l)
	if !ok {
		return n.Line, n.Column
	}
	src := strings.TrimSuffix(string(b), "\r")
	indent, ok := strings.CutSuffix(src, text)
	if !ok || strings.Trim(indent, " ") != "" {
		return n.Line, n.Column
	}
	return l, 1 + utf8.RuneCountInString(indent) + utf8.RuneCountInString(n.Value[start:off])
}

// line returns line l (1-based) of the source without its newline; false
// when there is no such line. The lines are indexed on first use.
func (p *parser) line(l int) ([]byte, bool) {
	if p.lineStarts == nil {
		p.lineStarts = []int{0}
		for i := 0; ; {
			j := bytes.IndexByte(p.src[i:], '\n')
			if j < 0 {
				break
			}
			i += j + 1
			p.lineStarts = append(p.lineStarts, i)
		}
	}
	if l < 1 || l > len(p.lineStarts) {
		return nil, false
	}
	end := len(p.src)
	if l < len(p.lineStarts) {
		end = p.lineStarts[l] - 1
	}
	return p.src[p.lineStarts[l-1]:end], true
}

// offsetPos converts a byte offset of the source to a line and a column
// (counted in characters, as yaml.v3 does).
func (p *parser) offsetPos(off int) (int, int) {
	line := 1 + bytes.Count(p.src[:off], []byte("\n"))
	start := bytes.LastIndexByte(p.src[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(p.src[start:off])
}

func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return 0
}

// decode parses the YAML of src (the file's, or its skeleton: see
// parseInChunks) into a node tree; on failure it records the error and
// returns nil.
func (p *parser) decode(src []byte) (root *yaml.Node) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	err := safeDecode(dec, &doc)
	if errors.Is(err, io.EOF) || err == nil && (doc.Kind == 0 || len(doc.Content) == 0) {
		p.errAt(1, 1, "a workflow needs at least name: and tasks:", "empty workflow file")
		return nil
	}
	if err != nil {
		p.syntaxError(err)
		return nil
	}
	var second yaml.Node
	if err := safeDecode(dec, &second); err == nil {
		line := second.Line
		lines := strings.Split(string(p.src), "\n")
		for l := min(line, len(lines)); l >= 1; l-- {
			if strings.HasPrefix(lines[l-1], "---") {
				line = l
				break
			}
		}
		p.errAt(line, 1, "a workflow file holds one document; remove the ---",
			"file holds more than one YAML document")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.syntaxError(err)
		return nil
	}
	return doc.Content[0]
}

// safeDecode is dec.Decode, turning a panic of the YAML library into an
// error: a bad file must never crash the caller.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	return dec.Decode(n)
}

// The patterns of yaml.v3's messages, compiled when a file has a syntax
// error (not at every start).
var (
	yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: (?:line (\d+): )?`) })
	quotedRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`'(.*)'`) })
)

// syntaxError reports a yaml.v3 error. Its messages carry a line only
// sometimes, and not always the right one, so the line is found by
// parsing ever longer prefixes of the file until the same error appears.
func (p *parser) syntaxError(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
		msg = msg[len(m[0]):]
	}
	lines := bytes.SplitAfter(p.src, []byte("\n"))
	{
		// Bounded: a few MiB of re-parsing at most, then trust the message.
		end, budget := 0, 4<<20
		for i, l := range lines {
			end += len(l)
			if budget -= end; budget < 0 {
				break
			}
			if prefixError(p.src[:end]) == err.Error() || prefixErrorBody(p.src[:end]) == msg {
				line = i + 1
				break
			}
		}
	}
	col, hint := 1, ""
	if line >= 1 && line <= len(lines) {
		text := string(lines[line-1])
		switch {
		case (strings.Contains(msg, "cannot start any token") || strings.Contains(msg, "tab character")) && strings.Contains(text, "\t"):
			col = 1 + utf8.RuneCountInString(text[:strings.IndexByte(text, '\t')])
			hint = "YAML does not allow tabs for indentation; use spaces"
		case strings.HasPrefix(msg, "unknown anchor"):
			if m := quotedRE().FindStringSubmatch(msg); m != nil {
				if i := strings.Index(text, "*"+m[1]); i >= 0 {
					col = 1 + utf8.RuneCountInString(text[:i])
				}
			}
		default:
			col = 1 + len(text) - len(strings.TrimLeft(text, " "))
		}
	}
	p.errAt(line, col, hint, "invalid YAML: %s", msg)
}

func prefixError(src []byte) string {
	var n yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		err := safeDecode(dec, &n)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return ""
		}
		return err.Error()
	}
}

func prefixErrorBody(src []byte) string {
	msg := prefixError(src)
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		return msg[len(m[0]):]
	}
	return msg
}

// checkExpansion refuses a document nested more than MaxDepth levels
// deep, an alias without its anchor or inside the node it refers to, and
// aliases that reach more nodes than the file may add through them:
// AliasRatio times the nodes it writes, or MaxAliasNodes if that is more
// (see MaxAliasNodes). The nodes as written are walked once; then what
// each alias reaches, aliases followed, is counted until the budget is
// spent, so that a "billion laughs" file costs a bounded walk.
func (p *parser) checkExpansion(root *yaml.Node) bool {
	type use struct {
		n     *yaml.Node
		depth int
	}
	var aliases []use
	written := 0
	var walk func(n *yaml.Node, depth int) bool
	walk = func(n *yaml.Node, depth int) bool {
		written++
		if depth > MaxDepth {
			p.tooDeep(n)
			return false
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				p.errorf(n, "", "alias *%s has no anchor", n.Value)
				return false
			}
			aliases = append(aliases, use{n, depth})
			return true
		}
		for _, c := range n.Content {
			if !walk(c, depth+1) {
				return false
			}
		}
		return true
	}
	if !walk(root, 0) {
		return false
	}
	if len(aliases) == 0 {
		return true
	}
	p.aliases = true
	budget := max(MaxAliasNodes, AliasRatio*written)
	reached := 0
	onPath := map[*yaml.Node]bool{}
	var expand func(a *yaml.Node, depth int) bool
	var visit func(n *yaml.Node, depth int) bool
	visit = func(n *yaml.Node, depth int) bool {
		if n.Kind == yaml.AliasNode {
			return expand(n, depth)
		}
		if reached++; reached > budget {
			p.errorf(n, fmt.Sprintf("anchors and aliases (&x, *x) may add at most %s nodes to a file, or %d for every node it writes if that is more (this file writes %s); write such values out, or reuse smaller anchors",
				thousands(MaxAliasNodes), AliasRatio, thousands(written)),
				"aliases expand to more than %s YAML nodes, over the limit of what aliases may add", thousands(budget))
			return false
		}
		if depth > MaxDepth {
			p.tooDeep(n)
			return false
		}
		for _, c := range n.Content {
			if !visit(c, depth+1) {
				return false
			}
		}
		return true
	}
	expand = func(a *yaml.Node, depth int) bool {
		if a.Alias == nil {
			p.errorf(a, "", "alias *%s has no anchor", a.Value)
			return false
		}
		if onPath[a.Alias] {
			p.errorf(a, "", "alias *%s refers to a node that contains it", a.Value)
			return false
		}
		onPath[a.Alias] = true
		ok := visit(a.Alias, depth+1)
		delete(onPath, a.Alias)
		return ok
	}
	for _, a := range aliases {
		if !expand(a.n, a.depth) {
			return false
		}
	}
	return true
}

func (p *parser) tooDeep(n *yaml.Node) {
	p.errorf(n, fmt.Sprintf("the limit is %d levels of mappings and lists inside one another, aliases followed; flatten the value", MaxDepth),
		"document nested more than %d levels deep", MaxDepth)
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe names the kind of a node's value for error messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a bool (" + n.Value + ")"
		case "!!int":
			return "an integer (" + n.Value + ")"
		case "!!float":
			return "a number (" + n.Value + ")"
		}
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			// YAML reads a plain number too large for a float64 (1e400)
			// as a string: say what it is.
			if _, err := strconv.ParseFloat(n.Value, 64); errors.Is(err, strconv.ErrRange) {
				return fmt.Sprintf("a number out of range (%s)", abbreviateStr(n.Value))
			}
		}
		return fmt.Sprintf("a string (%q)", abbreviateStr(n.Value))
	}
	return "an unknown node"
}

func abbreviateStr(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// kvPair is one entry of a mapping.
type kvPair struct {
	key  string
	k, v *yaml.Node
}

// mapping returns the entries of the mapping n (after `<<` merges, the
// explicit entries win), reporting duplicate and non-scalar keys. It
// reports and returns false when n is not a mapping.
func (p *parser) mapping(n *yaml.Node, what string) ([]kvPair, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "", "%s must be a mapping, not %s", what, describe(n))
		return nil, false
	}
	explicit := make([]kvPair, 0, len(n.Content)/2)
	var merged []kvPair
	// A task's mapping has a few keys: duplicates are looked for in the
	// list, a map only for a large mapping.
	var seen map[string]*yaml.Node
	if len(n.Content) > 32 {
		seen = make(map[string]*yaml.Node, len(n.Content)/2)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, p.merge(v, what)...)
			continue
		}
		dk := deref(k)
		if dk.Kind != yaml.ScalarNode {
			p.errorf(k, "", "keys of %s must be strings, not %s", what, describe(dk))
			continue
		}
		if first := findKey(explicit, seen, dk.Value); first != nil {
			p.errorf(k, fmt.Sprintf("first defined at line %d", first.Line), "duplicate key %q", dk.Value)
			continue
		}
		if seen != nil {
			seen[dk.Value] = k
		}
		explicit = append(explicit, kvPair{key: dk.Value, k: k, v: v})
	}
	if len(merged) == 0 {
		return explicit, true
	}
	if seen == nil {
		seen = make(map[string]*yaml.Node, len(explicit)+len(merged))
		for _, kv := range explicit {
			seen[kv.key] = kv.k
		}
	}
	out := make([]kvPair, 0, len(merged)+len(explicit))
	for _, m := range merged {
		if _, over := seen[m.key]; !over {
			seen[m.key] = m.k
			out = append(out, m)
		}
	}
	return append(out, explicit...), true
}

// findKey returns the key node of key among kvs (through seen when it is
// not nil), or nil.
func findKey(kvs []kvPair, seen map[string]*yaml.Node, key string) *yaml.Node {
	if seen != nil {
		return seen[key]
	}
	for i := range kvs {
		if kvs[i].key == key {
			return kvs[i].k
		}
	}
	return nil
}

// merge returns the entries a `<<:` value brings in: a mapping or a list
// of mappings, earlier ones winning.
func (p *parser) merge(v *yaml.Node, what string) []kvPair {
	v = deref(v)
	if v.Kind == yaml.MappingNode {
		kvs, _ := p.mapping(v, what)
		return kvs
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "", "<< must merge a mapping or a list of mappings, not %s", describe(v))
		return nil
	}
	var out []kvPair
	seen := map[string]bool{}
	for _, c := range v.Content {
		kvs, ok := p.mapping(c, "a merged value")
		if !ok {
			continue
		}
		for _, kv := range kvs {
			if !seen[kv.key] {
				seen[kv.key] = true
				out = append(out, kv)
			}
		}
	}
	return out
}

// unknownKeys reports every key not in known.
func (p *parser) unknownKeys(kvs []kvPair, known []string) {
	for _, kv := range kvs {
		if contains(known, kv.key) {
			continue
		}
		hint := didYouMean(kv.key, known)
		if hint == "" {
			hint = "known keys: " + strings.Join(known, ", ")
		}
		p.errorf(kv.k, hint, "unknown key %q", kv.key)
	}
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, "", "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) integer(n *yaml.Node, what string, minimum int) (int, bool) {
	return p.integerHint(n, what, minimum, "")
}

// integerHint is integer with hint added to every problem it reports.
func (p *parser) integerHint(n *yaml.Node, what string, minimum int, hint string) (int, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, hint, "%s must be an integer, not %s", what, describe(n))
		return 0, false
	}
	var i int
	if err := n.Decode(&i); err != nil {
		p.errorf(n, hint, "%s: integer %s out of range", what, n.Value)
		return 0, false
	}
	if i < minimum {
		p.errorf(n, hint, "%s must be at least %d, not %d", what, minimum, i)
		return 0, false
	}
	if i > 1_000_000 {
		p.errorf(n, hint, "%s must be at most 1000000, not %d", what, i)
		return 0, false
	}
	return i, true
}

// maxActiveRuns reads the top-level `max_active_runs:`, a whole number of
// at least 1; 0 when it is not valid (the problem is reported).
func (p *parser) maxActiveRuns(n *yaml.Node) int {
	const hint = `write a whole number of runs, e.g. "max_active_runs: 2", or leave the key out for no cap`
	v := deref(n)
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		if strings.Contains(v.Value, "${{") {
			p.errorf(v, hint, "max_active_runs cannot hold a reference: the cap is the workflow's, the same for every run")
			return 0
		}
		if i, err := strconv.Atoi(strings.TrimSpace(v.Value)); err == nil && i >= 1 && i <= 1_000_000 {
			p.errorf(v, fmt.Sprintf("write it without quotes: \"max_active_runs: %d\"", i),
				"max_active_runs must be an integer, not %s", describe(v))
			return 0
		}
	}
	i, _ := p.integerHint(v, "max_active_runs", 1, hint)
	return i
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, "", "%s must be true or false, not %s", what, describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, "", "%s must be true or false, not %s", what, describe(n))
		return false, false
	}
	return b, true
}

func (p *parser) number(n *yaml.Node, what string) (float64, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		p.errorf(n, "", "%s must be a number, not %s", what, describe(n))
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		p.errorf(n, "", "%s must be a finite number, not %s", what, n.Value)
		return 0, false
	}
	return f, true
}

// duration parses a Go duration string ("90s", "1h30m"); 0 is allowed.
func (p *parser) duration(n *yaml.Node, what string) (time.Duration, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		if n.Value == "0" {
			return 0, true
		}
		p.errorf(n, fmt.Sprintf("write a unit, e.g. %q", n.Value+"s"), "%s must be a duration with a unit, not %s", what, describe(n))
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, `write a duration such as "30s", "5m" or "1h30m"`, "%s must be a duration, not %s", what, describe(n))
		return 0, false
	}
	s := n.Value
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		p.errorf(n, `write a duration such as "30s", "5m" or "1h30m"`, "%s: invalid duration %q", what, s)
		return 0, false
	}
	if d < 0 {
		p.errorf(n, "", "%s must not be negative, not %s", what, s)
		return 0, false
	}
	return d, true
}

// value converts n to a JSON-like Go value: string, int, float64, bool,
// nil, []any, map[string]any. onString sees every string with its node.
func (p *parser) value(n *yaml.Node, what string, depth int, onString func(string, *yaml.Node)) (any, bool) {
	n = deref(n)
	if depth > MaxDepth {
		p.errorf(n, "", "%s is nested more than %d levels deep", what, MaxDepth)
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		kvs, _ := p.mapping(n, what)
		m := make(map[string]any, len(kvs))
		ok := true
		for _, kv := range kvs {
			v, vok := p.value(kv.v, what, depth+1, onString)
			ok = ok && vok
			m[kv.key] = v
		}
		return m, ok
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		ok := true
		for _, c := range n.Content {
			v, vok := p.value(c, what, depth+1, onString)
			ok = ok && vok
			l = append(l, v)
		}
		return l, ok
	case yaml.ScalarNode:
		return p.scalar(n, what, onString)
	}
	p.errorf(n, "", "%s: unexpected YAML node", what)
	return nil, false
}

func (p *parser) scalar(n *yaml.Node, what string, onString func(string, *yaml.Node)) (any, bool) {
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			p.errorf(n, "", "%s: %s", what, yamlMsg(err))
			return nil, false
		}
		return b, true
	case "!!int":
		var i int
		if err := n.Decode(&i); err == nil {
			return i, true
		}
		// Beyond int64: kept exactly, as a json.Number of its decimal
		// digits, not rounded to a float64 (a seed of 2^64-1 stays one).
		if len(n.Value) <= maxExactDigits {
			if b, ok := new(big.Int).SetString(n.Value, 0); ok {
				return json.Number(b.String()), true
			}
		}
		p.errorf(n, fmt.Sprintf("quote it to keep it as text; integers have at most %d digits", maxExactDigits), "%s: integer %.40s… out of range", what, n.Value)
		return nil, false
	case "!!float":
		// yaml.v3 tags an integer beyond uint64 as a float: keep it exact.
		if v := strings.TrimPrefix(n.Value, "+"); n.Style&yaml.TaggedStyle == 0 && isIntegerText(v) {
			if len(v) > maxExactDigits {
				p.errorf(n, "quote it to keep it as text", "%s: integer of %d digits, more than %d", what, len(v), maxExactDigits)
				return nil, false
			}
			if b, ok := new(big.Int).SetString(v, 10); ok {
				return json.Number(b.String()), true
			}
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			p.errorf(n, "", "%s: %s", what, yamlMsg(err))
			return nil, false
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			p.errorf(n, "", "%s: %s is not a finite number", what, n.Value)
			return nil, false
		}
		return f, true
	case "!!str", "!!timestamp", "!!binary":
		if tag == "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) == 0 {
			// YAML reads a plain number too large for a float64 (1e400)
			// as a string: refused as the number it was written as, not
			// passed on as text (a JSON number must not become a string).
			if _, err := strconv.ParseFloat(n.Value, 64); errors.Is(err, strconv.ErrRange) {
				p.errorf(n, "quote it to keep it as text", "%s: number %s out of range: a float holds at most about ±1.8e308", what, abbreviateStr(n.Value))
				return nil, false
			}
		}
		if onString != nil {
			onString(n.Value, n)
		}
		return n.Value, true
	default:
		p.errorf(n, "", "%s: unsupported YAML tag %s", what, tag)
		return nil, false
	}
}

func yamlMsg(err error) string { return strings.TrimPrefix(err.Error(), "yaml: ") }

// workflow reads the top level.
func (p *parser) workflow(root *yaml.Node) *Workflow {
	w := &Workflow{}
	kvs, ok := p.mapping(root, "a workflow")
	if !ok {
		return w
	}
	var own []kvPair
	for _, kv := range kvs {
		// x- keys are the user's: a home for anchors to reuse.
		if !strings.HasPrefix(kv.key, "x-") {
			own = append(own, kv)
		}
	}
	p.unknownKeys(own, topKeys)
	get := map[string]kvPair{}
	for _, kv := range kvs {
		get[kv.key] = kv
	}
	if kv, ok := get["name"]; ok {
		if s, ok := p.str(kv.v, "name"); ok {
			if !validName(s) {
				p.errorf(kv.v, "use lower-case letters, digits, '_', '.' and '-', starting with a letter or digit (at most 128)",
					"invalid workflow name %q", s)
			}
			w.Name = s
		}
	} else {
		p.errorf(root, `add a name, e.g. "name: churn"`, "workflow is missing %q", "name")
	}
	if kv, ok := get["description"]; ok {
		w.Description, _ = p.str(kv.v, "description")
	}
	if kv, ok := get["concurrency"]; ok {
		w.MaxActive, _ = p.integer(kv.v, "concurrency", 0)
	}
	if kv, ok := get["max_active_runs"]; ok {
		w.MaxActiveRuns = p.maxActiveRuns(kv.v)
	}
	if kv, ok := get["params"]; ok {
		p.paramDecls(w, kv.v)
	}
	p.params = map[string]*ParamDecl{}
	for i := range w.Params {
		p.params[w.Params[i].Name] = &w.Params[i]
	}
	if kv, ok := get["defaults"]; ok {
		if dkvs, ok := p.mapping(kv.v, "defaults"); ok {
			p.unknownKeys(dkvs, defaultsKeys)
			var b retryFields
			p.retryFields(dkvs, &b)
			w.Defaults.Retry = b.policy(cairn.RetryPolicy{Factor: 1})
			for _, d := range dkvs {
				switch d.key {
				case "timeout":
					w.Defaults.Timeout, _ = p.duration(d.v, "timeout")
				case "labels":
					w.Defaults.Labels = p.labels(d.v)
				case "queue":
					w.Defaults.Queue = p.queue(d.v)
				case "pool":
					w.Defaults.Pool = p.pool(d.v)
					w.Defaults.PoolLine, w.Defaults.PoolCol = deref(d.v).Line, deref(d.v).Column
				case "priority":
					w.Defaults.Priority = p.priority(d.v)
				}
			}
		}
	} else {
		w.Defaults.Retry = cairn.RetryPolicy{Factor: 1}
	}
	if kv, ok := get["schedule"]; ok {
		w.Schedule = p.schedule(kv.v)
	}
	if kv, ok := get["notify"]; ok {
		w.Notify = p.notify(kv.v)
	}
	if kv, ok := get["outputs"]; ok {
		p.outputsDecl(w, kv.v)
	}
	if kv, ok := get["pools"]; ok {
		w.Pools = p.pools(kv.v)
	}
	if kv, ok := get["tasks"]; ok {
		p.tasks(w, kv)
	} else {
		p.errorf(root, "add a tasks: list", "workflow is missing %q", "tasks")
	}
	return w
}

func (p *parser) paramDecls(w *Workflow, n *yaml.Node) {
	kvs, ok := p.mapping(n, "params")
	if !ok {
		return
	}
	for _, kv := range kvs {
		d := ParamDecl{Name: kv.key, Line: kv.k.Line, Col: kv.k.Column}
		if !validParamName(kv.key) {
			p.errorf(kv.k, "use letters, digits, '_' and '-', starting with a letter or '_' (at most 64)",
				"invalid param name %q", kv.key)
		}
		what := fmt.Sprintf("param %q", kv.key)
		v := deref(kv.v)
		if v.Kind != yaml.MappingNode {
			// Shorthand: the value is the default, its kind the type.
			val, ok := p.value(v, what, 0, nil)
			if !ok {
				continue
			}
			if val == nil {
				p.errorf(v, "declare it as {type: string} (or int, float, bool, list, map)",
					"cannot infer the type of %s from null", what)
				continue
			}
			d.Type, d.Default = kindOf(val), val
			w.Params = append(w.Params, d)
			continue
		}
		dkvs, _ := p.mapping(v, what)
		p.unknownKeys(dkvs, paramKeys)
		var defNode, reqNode, secretNode *yaml.Node
		var required, hasReq, badType bool
		for _, dkv := range dkvs {
			switch dkv.key {
			case "type":
				s, ok := p.str(dkv.v, what+" type")
				switch {
				case !ok:
					badType = true
				case !contains(paramKinds, s):
					hint := didYouMean(s, paramKinds)
					if alias, ok := paramKindAliases[strings.ToLower(s)]; ok {
						hint = fmt.Sprintf("did you mean %q?", alias)
					}
					if hint == "" {
						hint = "types: " + strings.Join(paramKinds, ", ")
					}
					p.errorf(dkv.v, hint, "unknown param type %q", s)
					badType = true
				default:
					d.Type = cairn.ParamKind(s)
				}
			case "default":
				defNode = dkv.v
			case "required":
				reqNode = dkv.v
				required, hasReq = p.boolean(dkv.v, what+" required")
			case "description":
				d.Description, _ = p.str(dkv.v, what+" description")
			case "secret":
				secretNode = dkv.v
				d.Secret, _ = p.boolean(dkv.v, what+" secret")
			}
		}
		if badType {
			// Reported once, above: the param is still declared (so its
			// references are not "unknown"), of no checked type.
			d.Type = cairn.KindAny
		}
		if defNode != nil {
			val, ok := p.value(defNode, what+" default", 0, nil)
			if ok && val != nil {
				if d.Type == "" {
					d.Type = kindOf(val)
				}
				if conv, ok := convertKind(d.Type, val); ok {
					d.Default = conv
				} else {
					p.errorf(defNode, "", "default of %s must be %s, not %s", what, kindArticle(d.Type), describe(defNode))
				}
			}
		}
		if d.Type == "" {
			p.errorf(v, "add type: string (or int, float, bool, list, map)", "%s has no type", what)
			continue
		}
		if d.Secret {
			switch {
			case d.Type != cairn.KindString:
				p.errorf(secretNode, "declare it type: string", "secret %s must be a string, not %s", what, kindArticle(d.Type))
			case defNode != nil:
				p.errorf(defNode, "drop the default: give the value at run time, in "+SecretEnv(kv.key),
					"secret %s cannot have a default (the workflow file is stored with every run)", what)
			}
		}
		switch {
		case hasReq && required && d.Default != nil:
			p.errorf(reqNode, "drop the default, or required: true", "%s is required and has a default", what)
		case hasReq:
			d.Required = required
		default:
			d.Required = d.Default == nil
		}
		w.Params = append(w.Params, d)
	}
}

// retryFields collects retries, retry_backoff and max_interruptions of a
// task or of defaults.
type retryFields struct {
	retries          *int
	backoff          *cairn.RetryPolicy // Backoff, Factor, MaxBackoff only
	hasBackoff       bool
	maxInterruptions *int
}

func (b retryFields) policy(base cairn.RetryPolicy) cairn.RetryPolicy {
	if b.retries != nil {
		base.Retries = *b.retries
	}
	if b.maxInterruptions != nil {
		base.MaxInterruptions = *b.maxInterruptions
	}
	if b.backoff != nil {
		base.Backoff, base.Factor, base.MaxBackoff = b.backoff.Backoff, b.backoff.Factor, b.backoff.MaxBackoff
	}
	return base
}

func (p *parser) retryFields(kvs []kvPair, b *retryFields) {
	for _, kv := range kvs {
		switch kv.key {
		case "retries":
			if r, ok := p.integer(kv.v, "retries", 0); ok {
				b.retries = &r
			}
		case "retry_backoff":
			b.hasBackoff = true
			if pol, ok := p.backoff(kv.v); ok {
				b.backoff = &pol
			}
		case "max_interruptions":
			if n, ok := p.integer(kv.v, "max_interruptions", 1); ok {
				b.maxInterruptions = &n
			}
		}
	}
}

// backoff reads "5s" (factor 2, cap 10m) or {delay, factor, max}.
func (p *parser) backoff(n *yaml.Node) (cairn.RetryPolicy, bool) {
	pol := cairn.RetryPolicy{Factor: 2, MaxBackoff: 10 * time.Minute}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d, ok := p.duration(n, "retry_backoff")
		pol.Backoff = d
		return pol, ok
	}
	kvs, _ := p.mapping(n, "retry_backoff")
	p.unknownKeys(kvs, backoffKeys)
	ok, hasDelay := true, false
	var maxNode *yaml.Node
	for _, kv := range kvs {
		var good bool
		switch kv.key {
		case "delay":
			hasDelay = true
			pol.Backoff, good = p.duration(kv.v, "retry_backoff delay")
		case "factor":
			pol.Factor, good = p.number(kv.v, "retry_backoff factor")
			if good && (pol.Factor < 1 || pol.Factor > 100) {
				p.errorf(kv.v, "1 keeps the delay constant; 2 doubles it", "retry_backoff factor must be between 1 and 100, not %v", pol.Factor)
				good = false
			}
		case "max":
			maxNode = kv.v
			pol.MaxBackoff, good = p.duration(kv.v, "retry_backoff max")
		default:
			good = true
		}
		ok = ok && good
	}
	if !hasDelay {
		p.errorf(n, `add delay, e.g. "delay: 5s"`, "retry_backoff is missing %q", "delay")
		return pol, false
	}
	if ok && maxNode != nil && pol.MaxBackoff != 0 && pol.MaxBackoff < pol.Backoff {
		p.errorf(maxNode, "", "retry_backoff max (%s) is less than its delay (%s)", pol.MaxBackoff, pol.Backoff)
		ok = false
	}
	return pol, ok
}

func (p *parser) schedule(n *yaml.Node) *Schedule {
	s := &Schedule{Timezone: "UTC", Catchup: CatchupNone}
	n = deref(n)
	var cronNode, tzNode, startNode, endNode *yaml.Node
	if n.Kind == yaml.ScalarNode {
		cronNode = n
	} else {
		kvs, ok := p.mapping(n, "schedule")
		if !ok {
			return nil
		}
		p.unknownKeys(kvs, scheduleKeys)
		for _, kv := range kvs {
			switch kv.key {
			case "cron":
				cronNode = kv.v
			case "timezone":
				tzNode = kv.v
			case "start":
				startNode = kv.v
			case "end":
				endNode = kv.v
			case "catchup":
				if c, ok := p.str(kv.v, "schedule catchup"); ok {
					switch Catchup(c) {
					case CatchupNone, CatchupLatest, CatchupAll:
						s.Catchup = Catchup(c)
					default:
						hint := "use none, latest or all"
						if h := didYouMean(c, []string{"none", "latest", "all"}); h != "" {
							hint = h + "; " + hint
						}
						p.errorf(kv.v, hint, "unknown catchup %q", c)
					}
				}
			}
		}
	}
	if cronNode == nil {
		p.errorf(n, `add cron, e.g. cron: "0 3 * * *"`, "schedule is missing %q", "cron")
		return s
	}
	if c, ok := p.str(cronNode, "schedule cron"); ok {
		s.Cron = strings.TrimSpace(c)
		if spec, every, err := compileCron(s.Cron); err != nil {
			p.errorf(cronNode, cronHint, "invalid cron expression %q: %v", c, err)
		} else {
			s.spec, s.every = spec, every
		}
	}
	if tzNode != nil {
		if tz, ok := p.str(tzNode, "schedule timezone"); ok {
			s.Timezone = tz
		}
	}
	at := tzNode
	if at == nil {
		at = n
	}
	loc, err := loadZone(s.Timezone)
	if err != nil {
		p.errorf(at, `an IANA zone name such as "UTC", "Europe/Berlin" or "America/New_York"`, "%v", err)
	} else {
		s.loc = loc
		s.Start = p.scheduleTime(startNode, "start", loc)
		s.End = p.scheduleTime(endNode, "end", loc)
		if !s.Start.IsZero() && !s.End.IsZero() && !s.End.After(s.Start) {
			p.errorf(endNode, "end is exclusive: the first instant without slots; make it later than start",
				"schedule end %s is not after its start %s", s.End.Format(time.RFC3339), s.Start.Format(time.RFC3339))
		}
	}
	return s
}

// scheduleTimeLayouts are the ways a schedule's start or end may be
// written without an offset: in the schedule's zone.
var scheduleTimeLayouts = []string{"2006-01-02", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"}

// scheduleTime reads a schedule's start or end: a date or a date and time
// in the schedule's zone, or RFC 3339 with an offset. nil: zero.
func (p *parser) scheduleTime(n *yaml.Node, key string, loc *time.Location) time.Time {
	if n == nil {
		return time.Time{}
	}
	n = deref(n)
	const hint = "a date (2025-01-31) or a date and time (2025-01-31T06:00:00) in the schedule's timezone, or with an offset (2025-01-31T06:00:00Z, ...+02:00)"
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!timestamp") {
		p.errorf(n, hint, "schedule %s must be a date or a time, not %s", key, describe(n))
		return time.Time{}
	}
	v := strings.TrimSpace(n.Value)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t
	}
	for _, layout := range scheduleTimeLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t
		}
	}
	p.errorf(n, hint, "schedule %s %q is not a date or a time", key, v)
	return time.Time{}
}

func (p *parser) tasks(w *Workflow, kv kvPair) {
	if tc := p.chunks; tc != nil && kv.k.Line == tc.keyLine && kv.k.Column == 1 {
		p.tasksInChunks(w, kv)
		return
	}
	n := deref(kv.v)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "", "tasks must be a list, not %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		p.errorf(n, "", "workflow has no tasks")
		return
	}
	if len(n.Content) > p.maxTasks() {
		p.tooManyTasks(kv.k, len(n.Content))
		return
	}
	w.Tasks = make([]*Task, 0, len(n.Content))
	p.taskInfo = make([]*taskNodes, 0, len(n.Content))
	for i, item := range n.Content {
		if tn := p.task(w, item); tn != nil {
			w.Tasks = append(w.Tasks, tn.task)
			p.taskInfo = append(p.taskInfo, tn)
		}
		if !p.aliases {
			// No node is reached twice: the task's mapping is read and
			// nothing refers to it any more, so its nodes can go now
			// (all but those kept to report problems at).
			n.Content[i] = nil
		}
	}
}

func (p *parser) maxTasks() int {
	if p.opts.MaxTasks > 0 {
		return p.opts.MaxTasks
	}
	return MaxTasks
}

func (p *parser) tooManyTasks(key *yaml.Node, n int) {
	p.errorf(key, "split the work into several workflows, each run on its own",
		"workflow has %s tasks, over the limit of %s tasks in one workflow", thousands(n), thousands(p.maxTasks()))
}

func (p *parser) task(w *Workflow, item *yaml.Node) *taskNodes {
	kvs, ok := p.mapping(item, "a task")
	if !ok {
		return nil
	}
	item = deref(item)
	t := &Task{Line: item.Line, Col: item.Column}
	tn := &taskNodes{task: t}
	p.unknownKeys(kvs, taskKeys)
	var rf retryFields
	p.retryFields(kvs, &rf)
	t.Retry = rf.policy(w.Defaults.Retry)
	t.Timeout = w.Defaults.Timeout
	t.Labels, t.Queue = w.Defaults.Labels, w.Defaults.Queue
	t.Pool, t.PoolLine, t.PoolCol, t.Priority = w.Defaults.Pool, w.Defaults.PoolLine, w.Defaults.PoolCol, w.Defaults.Priority
	for _, kv := range kvs {
		switch kv.key {
		case "id":
			tn.hasID, tn.idAt, tn.idIsStr = true, posOf(kv.v), deref(kv.v).ShortTag() == "!!str"
			t.ID, _ = p.str(kv.v, "task id")
		case "type":
			tn.hasType, tn.typAt = true, posOf(kv.v)
			t.Type, _ = p.str(kv.v, "task type")
		case "description":
			t.Description, _ = p.str(kv.v, "task description")
		case "timeout":
			t.Timeout, _ = p.duration(kv.v, "timeout")
		case "labels":
			t.Labels = p.labels(kv.v)
		case "queue":
			t.Queue = p.queue(kv.v)
		case "pool":
			t.Pool = p.pool(kv.v)
			t.PoolLine, t.PoolCol = deref(kv.v).Line, deref(kv.v).Column
		case "pool_slots":
			t.PoolSlots, tn.slotsAt = p.poolSlots(kv.v), posOf(deref(kv.v))
		case "priority":
			t.Priority = p.priority(kv.v)
		case "cache":
			if b, ok := p.boolean(kv.v, "cache"); ok {
				t.Cache, tn.cacheAt = &b, posOf(kv.v)
			}
		case "with":
			tn.withKey = kv.k
			p.with(tn, kv.v)
		case "inputs":
			tn.inputs = kv.k
			p.inputs(tn, kv.v)
		case "needs":
			p.needs(tn, kv.v)
		case "when":
			p.when(tn, kv.v)
		case "uses":
			p.usesTask(tn, kv.v)
		case "resources":
			p.resources(tn, kv.v)
		case "for_each":
			p.forEach(tn, kv.v)
		case "max_parallel":
			tn.maxPar = kv.v
			t.MaxParallel, _ = p.integer(kv.v, "max_parallel", 1)
		}
	}
	if tn.uses != nil && tn.forEach != nil {
		p.errorf(tn.forEach, "give the for_each to a task of the sub-workflow, or repeat the uses: task",
			"task %q has both uses: and for_each: a sub-workflow is expanded when the file is read, before any item is known", t.ID)
	}
	if tn.maxPar != nil && tn.forEach == nil {
		p.errorf(tn.maxPar, "add for_each: (a list) or remove max_parallel:",
			"max_parallel bounds how many items of a for_each run at once, and task %q has no for_each", t.ID)
	}
	if !tn.hasID {
		p.errorf(item, `add "id: NAME"`, "task is missing %q", "id")
	}
	if tn.uses != nil {
		p.checkUsesKeys(tn, kvs)
	} else if !tn.hasType {
		p.errorf(item, `add "type: NAME"`, "task is missing %q", "type")
	}
	return tn
}

// labels reads a `labels:` mapping of strings (cairn.LabelSyntax); nil
// for none (`labels: {}` or null clears what defaults set).
func (p *parser) labels(n *yaml.Node) map[string]string {
	d := deref(n)
	if d.Kind == yaml.ScalarNode && d.ShortTag() == "!!null" {
		return nil
	}
	kvs, ok := p.mapping(n, "labels")
	if !ok {
		return nil
	}
	if len(kvs) > cairn.MaxLabels {
		p.errorf(n, "require fewer labels; a worker is chosen by a few", "labels has %d labels, over the limit of %d", len(kvs), cairn.MaxLabels)
		return nil
	}
	var out map[string]string
	for _, kv := range kvs {
		if err := cairn.CheckLabel(kv.key, "x"); err != nil {
			p.errorf(kv.k, cairn.LabelSyntax, "%v", err)
			continue
		}
		v := deref(kv.v)
		if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!str" && v.ShortTag() != "!!null" {
			p.errorf(v, fmt.Sprintf("labels are strings: quote the value, e.g. %s: %q", kv.key, v.Value),
				"label %s must be a string, not %s", kv.key, describe(v))
			continue
		}
		val, ok := p.str(kv.v, "label "+kv.key)
		if !ok {
			continue
		}
		if err := cairn.CheckLabel(kv.key, val); err != nil {
			p.errorf(v, cairn.LabelSyntax, "%v", err)
			continue
		}
		if out == nil {
			out = make(map[string]string, len(kvs))
		}
		out[kv.key] = val
	}
	return out
}

// queue reads a `queue:` name (cairn.QueueSyntax), in its stored form:
// "" for the default queue.
func (p *parser) queue(n *yaml.Node) string {
	q, ok := p.str(n, "queue")
	if !ok {
		return ""
	}
	if err := cairn.CheckQueue(q); err != nil {
		p.errorf(n, cairn.QueueSyntax+`; "default" is the default queue`, "%v", err)
		return ""
	}
	return cairn.StoredQueue(q)
}

func (p *parser) collect(tn *taskNodes, input bool) func(string, *yaml.Node) {
	return func(s string, n *yaml.Node) {
		if !hasTemplate(s) {
			return
		}
		t, err := parseTemplate(s)
		if err != nil {
			p.textErr(n, err)
			return
		}
		tn.tmpls = append(tn.tmpls, tmplUse{t: t, n: n, input: input})
	}
}

func (p *parser) with(tn *taskNodes, n *yaml.Node) {
	d := deref(n)
	if d.Kind == yaml.ScalarNode && d.ShortTag() == "!!null" {
		return
	}
	kvs, ok := p.mapping(n, "with")
	if !ok {
		return
	}
	tn.withKeys = kvs
	tn.task.With = make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v, _ := p.value(kv.v, "with."+kv.key, 1, p.collect(tn, false))
		tn.task.With[kv.key] = v
	}
}

func (p *parser) inputs(tn *taskNodes, n *yaml.Node) {
	d := deref(n)
	if d.Kind == yaml.ScalarNode && d.ShortTag() == "!!null" {
		return
	}
	kvs, ok := p.mapping(n, "inputs")
	if !ok {
		return
	}
	tn.task.Inputs = make(map[string]string, len(kvs))
	for _, kv := range kvs {
		s, ok := p.str(kv.v, "input "+kv.key)
		if !ok {
			continue
		}
		if tn.inputVal == nil {
			tn.inputVal = make(map[string]*yaml.Node, len(kvs))
		}
		tn.inputVal[kv.key] = deref(kv.v)
		tn.task.Inputs[kv.key] = s
		t, err := parseTemplate(s)
		if err != nil {
			p.textErr(deref(kv.v), err)
			continue
		}
		r, single := t.single()
		if !single {
			p.errorf(kv.v, `write exactly one reference, e.g. "${{ tasks.ID.outputs.NAME }}"`,
				"input %q must be a single ${{ }} reference to an artifact", kv.key)
			continue
		}
		if r.kind != refOutput {
			p.errorf(kv.v, `inputs are artifacts that tasks produce, e.g. "${{ tasks.ID.outputs.NAME }}"; pass plain values under with:`,
				"input %q refers to %s, which is not a task's output", kv.key, r)
			continue
		}
		tn.tmpls = append(tn.tmpls, tmplUse{t: t, n: deref(kv.v), input: true})
	}
}

func (p *parser) needs(tn *taskNodes, n *yaml.Node) {
	n = deref(n)
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		p.errorf(n, "", "needs must be a list of task ids, not %s", describe(n))
		return
	}
	// Repeats are dropped: looked for in the list, or for a long list
	// (a fan-in of 100,000) in a map made for the purpose.
	var seen map[string]bool
	if len(items) > 16 {
		seen = make(map[string]bool, len(items))
	}
	for _, it := range items {
		s, ok := p.str(it, "needs entry")
		if !ok {
			continue
		}
		if seen != nil && seen[s] || seen == nil && contains(tn.task.Needs, s) {
			continue
		}
		if seen != nil {
			seen[s] = true
		}
		tn.needs = append(tn.needs, posOf(deref(it)))
		tn.task.Needs = append(tn.task.Needs, s)
	}
}

func (p *parser) when(tn *taskNodes, n *yaml.Node) {
	n = deref(n)
	tn.when = n
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.errorf(n, "", "when must be an expression, not %s", describe(n))
		return
	}
	s := strings.TrimSpace(n.Value)
	if s == "" {
		p.errorf(n, "omit when: to always run the task", "when is empty")
		return
	}
	e, err := parseExpr(n.Value)
	if err != nil {
		p.textErr(n, err)
		return
	}
	tn.whenExpr = e
	if !isLiteralTrue(e) {
		tn.task.When = formatExpr(e) // one spelling, so that the digest ignores layout
	}
}

// kindOf is the param kind of a converted YAML value.
func kindOf(v any) cairn.ParamKind {
	switch v.(type) {
	case string:
		return cairn.KindString
	case int, json.Number: // a json.Number is an integer beyond int64
		return cairn.KindInt
	case float64:
		return cairn.KindFloat
	case bool:
		return cairn.KindBool
	case []any:
		return cairn.KindList
	case map[string]any:
		return cairn.KindMap
	}
	return cairn.KindAny
}

// convertKind checks v against kind k, widening ints to float64 for
// floats.
func convertKind(k cairn.ParamKind, v any) (any, bool) {
	switch k {
	case cairn.KindAny:
		return v, true
	case cairn.KindFloat:
		switch x := v.(type) {
		case int:
			return float64(x), true
		case float64:
			return x, true
		case json.Number:
			f, err := x.Float64()
			return f, err == nil
		}
		return nil, false
	case cairn.KindDuration:
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		_, err := time.ParseDuration(s)
		return v, err == nil
	}
	return v, kindOf(v) == k
}

func kindArticle(k cairn.ParamKind) string {
	switch k {
	case cairn.KindInt:
		return "an int"
	case cairn.KindAny:
		return "any value"
	case cairn.KindList:
		return "a list"
	case cairn.KindMap:
		return "a map"
	}
	return "a " + string(k)
}
