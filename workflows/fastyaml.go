package workflows

import (
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// A batch of a large file's task list is read here first, straight from
// its bytes, and by yaml.v3 only when it is written in more of YAML than
// this reader knows. yaml.v3 builds each node from a chain of tokens and
// events (22 allocations and about 1 KB for a two-line noop task, 60 % of
// a 10,000-task file's parse); this reader allocates the nodes, their
// lists, a copy of the batch's text while it reads it, and for each entry
// of the task list one string its nodes' values are substrings of (see
// ownValues).
//
// The subset is what workflow files are made of: block sequences and
// block mappings, keys that are plain words, values that are plain
// scalars, single- or double-quoted strings on one line, flow sequences
// of such scalars on one line ([a, "b"]), or nothing (null); comments and
// blank lines anywhere. Anything else — anchors, aliases, tags, block
// scalars (| and >), flow mappings, scalars spanning lines, tabs, control
// characters, an escape it does not know, an indentation it cannot place
// — makes fastBatch answer false, and the batch is decoded by yaml.v3,
// which also reports its errors: this reader never refuses a batch, and
// what it accepts it reads as yaml.v3 would, node for node (kind, tag,
// value, style, line and column; comments, which nothing here reads, are
// left out). TestFastBatchDifferential and FuzzFastBatch hold it to that.

// fastBatch reads src (a batch of the task list: a block sequence, its
// lines those of the file from line shift+1) and returns its items, with
// their lines as in the file; false when src is not in the subset above
// or the list does not hold want items.
func fastBatch(src []byte, shift, want int) ([]*yaml.Node, bool) {
	f := fastReader{s: string(src), shift: shift}
	return f.read(want)
}

func (f *fastReader) read(want int) ([]*yaml.Node, bool) {
	if !f.splitLines() || len(f.lines) == 0 {
		return nil, false
	}
	seq, ok := f.sequence(f.lines[0].indent, 1)
	if !ok || f.i != len(f.lines) || len(seq.Content) != want {
		return nil, false
	}
	return seq.Content, true
}

// fastLine is one line of the batch that holds more than a comment.
type fastLine struct {
	start, end int  // the text after the indentation, without the line break
	indent     int  // spaces before it
	num        int  // the line's number in the batch, from 1
	ascii      bool // its columns are its bytes
}

type fastReader struct {
	s     string
	shift int
	lines []fastLine
	i     int // the line being read

	// slab holds the nodes not yet used of those allocated together
	// for one entry of the task list (see node).
	slab []yaml.Node

	// looked counts the lines width and newSlab look at ahead: a few
	// times the lines, never their square (TestFastBatchLooksAheadLinearly).
	looked int

	// values counts the bytes of the values of the nodes made since
	// the entry of the task list being read began (see ownValues).
	values int
}

// splitLines finds the lines that hold more than spaces and a comment;
// false when a byte of src is one this reader leaves to yaml.v3: a tab, a
// control character, a lone CR, a byte-order mark or a character yaml.v3
// refuses.
func (f *fastReader) splitLines() bool {
	s := f.s
	f.lines = make([]fastLine, 0, strings.Count(s, "\n")+1)
	num := 0
	for off := 0; off < len(s); {
		num++
		end := strings.IndexByte(s[off:], '\n')
		next := len(s)
		if end < 0 {
			end = len(s)
		} else {
			end += off
			next = end + 1
		}
		if end > off && s[end-1] == '\r' {
			end--
		}
		indent := off
		for indent < end && s[indent] == ' ' {
			indent++
		}
		ascii := true
		for j := indent; j < end; j++ {
			c := s[j]
			if c < 0x20 || c == 0x7f {
				return false
			}
			if c >= 0x80 {
				ascii = false
				r, size := utf8.DecodeRuneInString(s[j:])
				if !fastRune(r) {
					return false
				}
				j += size - 1
			}
		}
		if indent == off && (strings.HasPrefix(s[off:end], "---") || strings.HasPrefix(s[off:end], "...")) {
			return false // perhaps a document marker
		}
		if indent < end && s[indent] != '#' {
			f.lines = append(f.lines, fastLine{start: indent, end: end, indent: indent - off, num: num, ascii: ascii})
		}
		off = next
	}
	return true
}

// fastRune reports whether yaml.v3 reads the non-ASCII character r as
// itself anywhere in a scalar: not a line break of its own (NEL, LS, PS),
// not a byte-order mark, not one it refuses.
func fastRune(r rune) bool {
	switch {
	case r == utf8.RuneError, r == 0xfeff, r == 0x2028, r == 0x2029:
		return false
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

// node returns a new node. The nodes of one entry of the task list are
// allocated together (see sequence), never with another entry's: the
// reading of a task keeps a few of its nodes (see taskNodes), which must
// not keep its neighbours'.
func (f *fastReader) node(kind yaml.Kind, tag, value string, style yaml.Style, line, col int) *yaml.Node {
	if len(f.slab) == 0 {
		f.slab = make([]yaml.Node, 4)
	}
	n := &f.slab[0]
	f.slab = f.slab[1:]
	// Field by field: the slab is zeroed, and a whole struct's copy would
	// pass each of its pointers through the collector's write barrier.
	n.Kind, n.Tag, n.Value, n.Style, n.Line, n.Column = kind, tag, value, style, line+f.shift, col
	f.values += len(value)
	return n
}

// newSlab allocates the nodes of the task list's entry that starts at
// line f.i (whose dash is at indentation indent): on each line at most a
// key and its value, a sequence its entry starts, and the items of a
// flow sequence.
func (f *fastReader) newSlab(indent int) {
	n := 1 // the entry's own mapping, or its scalar
	for j := f.i; j < len(f.lines); j++ {
		f.looked++
		l := f.lines[j]
		if j > f.i && l.indent <= indent {
			break
		}
		n += 2
		if j > f.i && isEntryAt(f.s, l.start, l.end) {
			n++
		}
		if text := f.s[l.start:l.end]; strings.IndexByte(text, '[') >= 0 {
			n += 1 + strings.Count(text, ",")
		}
	}
	f.slab = make([]yaml.Node, n)
}

// col is the column (from 1, in characters as yaml.v3 counts them) of
// byte off of line l.
func (f *fastReader) col(l fastLine, off int) int {
	if l.ascii {
		return l.indent + 1 + off - l.start
	}
	return l.indent + 1 + utf8.RuneCountInString(f.s[l.start:off])
}

// width counts the entries (entry set) or keys of the collection at
// indentation indent whose first is on line f.i, from the lines: the
// capacity of its node's Content. It stops where the collection ends, so
// that the lines are counted once per level (a sequence at its key's
// indentation ends at the mapping's next key).
func (f *fastReader) width(indent int, entry bool) int {
	n := 1
	for j := f.i + 1; j < len(f.lines) && f.lines[j].indent >= indent; j++ {
		f.looked++
		if l := f.lines[j]; l.indent == indent {
			if isEntryAt(f.s, l.start, l.end) != entry {
				break
			}
			n++
		}
	}
	return n
}

// isEntryAt reports whether the text at off starts a block sequence
// entry: a dash and a space ("-" alone on a line is left to yaml.v3).
func isEntryAt(s string, off, end int) bool {
	return off+1 < end && s[off] == '-' && s[off+1] == ' '
}

// sequence reads the block sequence whose entries are the lines at
// indentation indent from line f.i on.
func (f *fastReader) sequence(indent, depth int) (*yaml.Node, bool) {
	if depth+1 > MaxDepth { // its entries are a level deeper
		return nil, false
	}
	first := f.lines[f.i]
	seq := f.node(yaml.SequenceNode, "!!seq", "", 0, first.num, indent+1)
	seq.Content = make([]*yaml.Node, 0, f.width(indent, true))
	for f.i < len(f.lines) {
		l := f.lines[f.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent || !isEntryAt(f.s, l.start, l.end) {
			if l.indent == indent {
				break // a key of the mapping this sequence is a value of
			}
			return nil, false
		}
		if depth == 1 {
			f.newSlab(indent)
			f.values = 0
		}
		at := l.start + 1
		for at < l.end && f.s[at] == ' ' {
			at++
		}
		if at == l.end {
			return nil, false // "- " and nothing: left to yaml.v3
		}
		var item *yaml.Node
		var ok bool
		if f.s[at] == '-' && (at+1 == l.end || f.s[at+1] == ' ') {
			return nil, false // a sequence in a sequence's entry
		}
		if f.keyEnd(l, at) > 0 {
			item, ok = f.mapping(l, at, depth+1)
		} else {
			item, ok = f.inline(l, at, depth+1)
			if ok {
				ok = f.endOfValue(indent)
			}
		}
		if !ok {
			return nil, false
		}
		if depth == 1 {
			ownValues(item, f.values)
		}
		seq.Content = append(seq.Content, item)
	}
	return seq, true
}

// ownValues gives the values of the nodes of one entry of the task list
// (substrings of the batch's text until then) a string of their own, as
// yaml.v3 gives each value its own: what the parser keeps of a task (its
// id, its with: values) must not keep the batch's text alive, its
// comments, indentation and other tasks (a file with long comments kept
// its whole text after Parse). size is the bytes of those values, as
// node counted them.
func ownValues(item *yaml.Node, size int) {
	if size == 0 {
		return
	}
	var b strings.Builder
	b.Grow(size) // exactly: the builder never grows again, and its String is its buffer
	copyValues(item, &b)
}

func copyValues(n *yaml.Node, b *strings.Builder) {
	if n.Value != "" {
		start := b.Len()
		b.WriteString(n.Value)
		n.Value = b.String()[start:]
	}
	for _, c := range n.Content {
		copyValues(c, b)
	}
}

// keyEnd returns the offset of the colon after a plain key that starts at
// off of line l and is followed by ": " or ":" at the end of the line; 0
// when the text there is not such a key. Keys are words of letters,
// digits and "_-./", starting with a letter, a digit or "_".
func (f *fastReader) keyEnd(l fastLine, off int) int {
	s := f.s
	if !isWordStart(s[off]) {
		return 0
	}
	for j := off + 1; j < l.end && j-off < 1000; j++ {
		c := s[j]
		switch {
		case c == ':':
			if j+1 == l.end || s[j+1] == ' ' {
				return j
			}
			return 0
		case isWordStart(c), c == '-', c == '.', c == '/':
		default:
			return 0
		}
	}
	return 0
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// mapping reads the block mapping whose first key starts at byte at of
// line first (after a sequence entry's dash, or at the start of its
// line); its other keys are the lines at the same column.
func (f *fastReader) mapping(first fastLine, at, depth int) (*yaml.Node, bool) {
	if depth+1 > MaxDepth { // its keys and values are a level deeper
		return nil, false
	}
	col := f.col(first, at)
	indent := col - 1 // what precedes the key is spaces and a dash
	m := f.node(yaml.MappingNode, "!!map", "", 0, first.num, col)
	m.Content = make([]*yaml.Node, 0, 2*f.width(indent, false))
	l, off := first, at
	for {
		colon := f.keyEnd(l, off)
		if colon == 0 {
			return nil, false
		}
		key := f.s[off:colon]
		if key == "<<" {
			return nil, false
		}
		k := f.node(yaml.ScalarNode, plainTag(key), key, 0, l.num, indent+1)
		v, ok := f.mappingValue(l, colon, indent, depth+1)
		if !ok {
			return nil, false
		}
		m.Content = append(m.Content, k, v)
		if f.i == len(f.lines) {
			break
		}
		l = f.lines[f.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent || isEntryAt(f.s, l.start, l.end) {
			return nil, false
		}
		off = l.start
	}
	return m, true
}

// mappingValue reads the value of the key of line l (in a mapping at
// indentation indent) whose colon is at byte colon, and moves past it.
func (f *fastReader) mappingValue(l fastLine, colon, indent, depth int) (*yaml.Node, bool) {
	at := colon + 1
	for at < l.end && f.s[at] == ' ' {
		at++
	}
	if at < l.end && f.s[at] != '#' {
		v, ok := f.inline(l, at, depth)
		return v, ok && f.endOfValue(indent)
	}
	// Nothing after the colon (a comment at most): a block below it, or
	// null.
	f.i++
	if f.i < len(f.lines) {
		next := f.lines[f.i]
		entry := isEntryAt(f.s, next.start, next.end)
		switch {
		case next.indent > indent && entry, next.indent == indent && entry:
			v, ok := f.sequence(next.indent, depth)
			return v, ok && f.endOfBlock(indent)
		case next.indent > indent:
			if f.keyEnd(next, next.start) == 0 {
				return nil, false // a scalar below its key
			}
			v, ok := f.mapping(next, next.start, depth)
			return v, ok && f.endOfBlock(indent)
		}
	}
	return f.node(yaml.ScalarNode, "!!null", "", 0, l.num, f.col(l, colon)+1), true
}

// endOfValue moves past the line of a value read whole on it (in a
// collection at indentation indent): the next line must not be indented
// more, which would continue a plain scalar or be an error.
func (f *fastReader) endOfValue(indent int) bool {
	f.i++
	return f.endOfBlock(indent)
}

// endOfBlock reports whether the line after a value (of a collection at
// indentation indent) is not indented more than the collection.
func (f *fastReader) endOfBlock(indent int) bool {
	return f.i == len(f.lines) || f.lines[f.i].indent <= indent
}

// inline reads the value that starts at byte at of line l and ends the
// line (but for spaces and a comment): a scalar or a flow sequence.
func (f *fastReader) inline(l fastLine, at, depth int) (*yaml.Node, bool) {
	if depth > MaxDepth {
		return nil, false
	}
	var v *yaml.Node
	var end int
	var ok bool
	if f.s[at] == '[' {
		if depth+1 > MaxDepth {
			return nil, false
		}
		v, end, ok = f.flowSequence(l, at)
	} else {
		v, end, ok = f.scalar(l, at, false)
	}
	return v, ok && f.restIsComment(l, end)
}

// restIsComment reports whether the text of line l from byte off on is
// spaces and, after a space, a comment.
func (f *fastReader) restIsComment(l fastLine, off int) bool {
	j := off
	for j < l.end && f.s[j] == ' ' {
		j++
	}
	return j == l.end || f.s[j] == '#' && j > off
}

// flowSequence reads a flow sequence of scalars that starts at byte at of
// line l and ends on it; it returns the node and the offset after "]".
func (f *fastReader) flowSequence(l fastLine, at int) (*yaml.Node, int, bool) {
	if !l.ascii {
		// Each item's column would count the line's characters from its
		// start: left to yaml.v3 rather than quadratic on a long line.
		return nil, 0, false
	}
	seq := f.node(yaml.SequenceNode, "!!seq", "", yaml.FlowStyle, l.num, f.col(l, at))
	j := at + 1
	skip := func() {
		for j < l.end && f.s[j] == ' ' {
			j++
		}
	}
	skip()
	if j < l.end && f.s[j] == ']' {
		return seq, j + 1, true
	}
	for {
		if j == l.end {
			return nil, 0, false
		}
		item, end, ok := f.scalar(l, j, true)
		if !ok {
			return nil, 0, false
		}
		seq.Content = append(seq.Content, item)
		j = end
		skip()
		if j == l.end {
			return nil, 0, false
		}
		switch f.s[j] {
		case ']':
			return seq, j + 1, true
		case ',':
			j++
			skip()
			if j < l.end && f.s[j] == ']' {
				return nil, 0, false // a trailing comma: left to yaml.v3
			}
		default:
			return nil, 0, false
		}
	}
}

// scalar reads the scalar that starts at byte at of line l, in a flow
// sequence when flow is set; it returns the node and the offset after it.
func (f *fastReader) scalar(l fastLine, at int, flow bool) (*yaml.Node, int, bool) {
	s := f.s
	switch s[at] {
	case '\'':
		v, end, ok := singleQuoted(s, at, l.end)
		if !ok {
			return nil, 0, false
		}
		return f.node(yaml.ScalarNode, "!!str", v, yaml.SingleQuotedStyle, l.num, f.col(l, at)), end, true
	case '"':
		v, end, ok := doubleQuoted(s, at, l.end)
		if !ok {
			return nil, 0, false
		}
		return f.node(yaml.ScalarNode, "!!str", v, yaml.DoubleQuotedStyle, l.num, f.col(l, at)), end, true
	}
	end, ok := plainEnd(s, at, l.end, flow)
	if !ok {
		return nil, 0, false
	}
	v := s[at:end]
	return f.node(yaml.ScalarNode, plainTag(v), v, 0, l.num, f.col(l, at)), end, true
}

// plainEnd returns the end of the plain scalar that starts at byte at and
// ends on its line (before a comment, or in a flow sequence before a
// comma or "]"), its trailing spaces left out; false when it is not one
// this reader knows.
func plainEnd(s string, at, end int, flow bool) (int, bool) {
	switch c := s[at]; c {
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '-', '?', ':':
		// An indicator. A plain scalar may start with "-", "?" or ":"
		// followed by more: only "-" before a digit or a letter is read
		// here (-1, -x).
		if c != '-' || at+1 == end || !isWordStart(s[at+1]) {
			return 0, false
		}
	}
	last := at // after the last character that is not a space
	for j := at; j < end; j++ {
		switch c := s[j]; c {
		case ' ':
			continue
		case ':':
			if j+1 == end || s[j+1] == ' ' || flow {
				return 0, false // a key, or ": " in a value
			}
		case '#':
			if s[j-1] == ' ' {
				return fastPlain(s, at, last)
			}
			if flow {
				return 0, false
			}
		case ',', ']':
			if flow {
				return fastPlain(s, at, last)
			}
		case '[', '{', '}', '?':
			if flow { // "?" ends a plain scalar in a flow collection and starts a key
				return 0, false
			}
		}
		last = j + 1
	}
	if flow {
		return 0, false // no "]" on the line
	}
	return fastPlain(s, at, last)
}

// fastPlain checks the plain scalar s[at:end]: "<<" is a merge key.
func fastPlain(s string, at, end int) (int, bool) {
	return end, s[at:end] != "<<"
}

// plainTag is the tag yaml.v3 gives a plain scalar: the type it reads it
// as (!!str, !!int, !!float, !!bool, !!null or !!timestamp). yaml.v3's
// resolver reads a scalar that starts with a digit, a sign or a dot as a
// number or a time if it can, and looks up the others in its table of
// booleans and nulls; this does the second itself (the resolver boxes
// every string it returns) and asks the resolver for the first.
func plainTag(v string) string {
	switch c := v[0]; {
	case c >= '0' && c <= '9', c == '+', c == '-', c == '.':
		n := yaml.Node{Kind: yaml.ScalarNode, Value: v}
		return n.ShortTag()
	}
	switch v {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return "!!bool"
	case "~", "null", "Null", "NULL":
		return "!!null"
	}
	return "!!str"
}

// singleQuoted reads the single-quoted scalar at s[at] that ends before
// end; it returns its value and the offset after its closing quote.
func singleQuoted(s string, at, end int) (string, int, bool) {
	var b []byte
	start := at + 1
	for j := start; j < end; j++ {
		if s[j] != '\'' {
			continue
		}
		if j+1 < end && s[j+1] == '\'' {
			b = append(b, s[start:j+1]...)
			start = j + 2
			j++
			continue
		}
		if b == nil {
			return s[at+1 : j], j + 1, true
		}
		return string(append(b, s[start:j]...)), j + 1, true
	}
	return "", 0, false // it goes on to the next line
}

// doubleQuoted reads the double-quoted scalar at s[at] that ends before
// end; it returns its value and the offset after its closing quote. The
// escapes it knows are \\ \" \n \t \r \0 \a \b \e \f \v; any other,
// and a string that goes on to the next line, are left to yaml.v3.
func doubleQuoted(s string, at, end int) (string, int, bool) {
	var b []byte
	start := at + 1
	for j := start; j < end; j++ {
		switch s[j] {
		case '"':
			if b == nil {
				return s[at+1 : j], j + 1, true
			}
			return string(append(b, s[start:j]...)), j + 1, true
		case '\\':
			if j+1 == end {
				return "", 0, false
			}
			c, ok := doubleEscape(s[j+1])
			if !ok {
				return "", 0, false
			}
			b = append(append(b, s[start:j]...), c)
			j++
			start = j + 1
		}
	}
	return "", 0, false
}

func doubleEscape(c byte) (byte, bool) {
	switch c {
	case '\\', '"':
		return c, true
	case 'n':
		return '\n', true
	case 't':
		return '\t', true
	case 'r':
		return '\r', true
	case '0':
		return 0, true
	case 'a':
		return '\a', true
	case 'b':
		return '\b', true
	case 'e':
		return 0x1b, true
	case 'f':
		return '\f', true
	case 'v':
		return '\v', true
	}
	return 0, false
}
