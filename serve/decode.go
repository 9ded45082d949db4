package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/cairnml/cairn/internal/jsoncheck"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// schema is what a request's rows are read against: the model's feature
// columns by name and kind, and its label (accepted in a row, ignored).
type schema struct {
	cols  []column
	index map[string]int // feature name → index in cols
	label string
	names []string // the feature names, for messages and did-you-mean
	// meta says which sample-log fields are written: a feature of the
	// same name leaves its field out.
	timeField, versionField bool
	decoders                sync.Pool // *decoder, reused
}

type column struct {
	name string
	kind dataset.Kind
	// cats maps a categorical column's training categories to
	// themselves, so that a known category costs no new string.
	cats map[string]string
	key  []byte // the name as a JSON string and a colon, for the sample log
}

func newSchema(m *model.Model) *schema {
	s := &schema{index: map[string]int{}, label: m.Label, timeField: true, versionField: true}
	for _, ft := range m.Preprocess.Features {
		c := column{name: ft.Name, kind: ft.Kind}
		if ft.Kind == dataset.Categorical {
			c.cats = make(map[string]string, len(ft.Categories))
			for _, v := range ft.Categories {
				c.cats[v] = v
			}
		}
		key, _ := json.Marshal(ft.Name)
		c.key = append(key, ':')
		s.index[ft.Name] = len(s.cols)
		s.cols = append(s.cols, c)
		s.names = append(s.names, ft.Name)
		switch ft.Name {
		case SampleTimeField:
			s.timeField = false
		case SampleVersionField:
			s.versionField = false
		}
	}
	return s
}

// same says whether s and o read a body alike: the same columns, in the
// same order, of the same kinds, and the same label (a row's frame from
// one is the other's). Their categories may differ: a decoder keeps any.
func (s *schema) same(o *schema) bool {
	if s.label != o.label || len(s.cols) != len(o.cols) {
		return false
	}
	for j, c := range s.cols {
		if c.name != o.cols[j].name || c.kind != o.cols[j].kind {
			return false
		}
	}
	return true
}

// describe lists the columns for a message: "a (numeric), b (categorical)".
func (s *schema) describe() string {
	parts := make([]string, 0, min(len(s.cols), 13))
	for i, c := range s.cols {
		if i == 12 {
			parts = append(parts, fmt.Sprintf("… %d more", len(s.cols)-12))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", c.name, c.kind))
	}
	return strings.Join(parts, ", ")
}

// span is where a value is in the body, for the sample log.
type span struct{ start, end int32 }

// decoder reads a body {"rows": [{column: value, ...}, ...]} into the
// columns of a frame with the model's kinds, in one pass over the bytes,
// refusing anything the model cannot take with an error naming the row
// and the column.
type decoder struct {
	b       []byte
	i       int
	s       *schema
	maxRows int
	n       int // rows read
	num     [][]float64
	str     [][]string
	miss    [][]bool
	seen    []int // per column, 1 + the last row that gave it
	// keep says whether a row goes to the sample log (nil: none does);
	// the kept rows' values are in spans, len(cols) per kept row.
	keep  func() bool
	kept  []int
	spans []span
	inRow bool // a row is being read: a syntax error names it
	// order[k] is the column the k-th key of the last row named.
	order []int
	// What is kept between uses: the frame's columns and the missing
	// flags' buffers.
	cols    []dataset.Column
	f       dataset.Frame
	missBuf [][]bool
}

// newDecoder returns a decoder of body, reused from the schema's pool
// (put it back with release once its frame is no longer used).
func newDecoder(s *schema, body []byte, maxRows int, keep func() bool) *decoder {
	p := len(s.cols)
	d, _ := s.decoders.Get().(*decoder)
	if d == nil {
		d = &decoder{s: s, num: make([][]float64, p), str: make([][]string, p), miss: make([][]bool, p), missBuf: make([][]bool, p),
			seen: make([]int, p), cols: make([]dataset.Column, p), f: dataset.Frame{Columns: make([]*dataset.Column, p)}}
		// A guess at the row count, from the body's size, so that the
		// columns do not grow one doubling at a time.
		guess := min(max(len(body)/(16*p+16), 1), maxRows)
		for j, c := range s.cols {
			if c.kind == dataset.Categorical {
				d.str[j] = make([]string, 0, guess)
			} else {
				d.num[j] = make([]float64, 0, guess)
			}
			d.f.Columns[j] = &d.cols[j]
		}
	}
	d.b, d.i, d.n, d.maxRows, d.keep, d.inRow = body, 0, 0, maxRows, keep, false
	return d
}

// release puts d back in its schema's pool.
func (d *decoder) release() {
	for j := range d.s.cols {
		d.num[j] = d.num[j][:0]
		clear(d.str[j])
		d.str[j] = d.str[j][:0]
		if d.miss[j] != nil {
			d.missBuf[j] = d.miss[j][:0]
			d.miss[j] = nil
		}
		d.seen[j] = 0
		d.cols[j] = dataset.Column{}
	}
	d.b, d.keep, d.kept, d.spans = nil, nil, d.kept[:0], d.spans[:0]
	d.s.decoders.Put(d)
}

// frame is what was read, as the model's input (valid until release).
func (d *decoder) frame() *dataset.Frame {
	for j, c := range d.s.cols {
		col := &d.cols[j]
		*col = dataset.Column{Name: c.name, Kind: c.kind}
		if c.kind == dataset.Categorical {
			col.Str = d.str[j]
		} else {
			col.Num = d.num[j]
		}
		if m := d.miss[j]; m != nil {
			for len(m) < d.n {
				m = append(m, false)
			}
			d.miss[j] = m
			col.Missing = m
		}
	}
	return &d.f
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// syntax is the error of a body that is not JSON at the current byte.
func (d *decoder) syntax(want string) *Error {
	got := "the end of the body"
	if d.i < len(d.b) {
		got = strconv.QuoteRune(rune(d.b[d.i]))
		if d.b[d.i] >= utf8.RuneSelf {
			got = fmt.Sprintf("byte 0x%02x", d.b[d.i])
		}
	}
	where := ""
	if d.inRow {
		where = fmt.Sprintf(" (in rows[%d])", d.n)
	}
	e := badInput("the body is not valid JSON: at byte %d%s, want %s, got %s", d.i, where, want, got)
	if rest := d.b[d.i:]; bytes.HasPrefix(rest, []byte("NaN")) || bytes.HasPrefix(rest, []byte("Infinity")) ||
		bytes.HasPrefix(rest, []byte("-Infinity")) || bytes.HasPrefix(rest, []byte("+Infinity")) || bytes.HasPrefix(rest, []byte("-NaN")) {
		e.Msg += " (JSON has no NaN or Infinity: send null for a missing value)"
	}
	if where != "" {
		e.Row = d.n
	}
	return e
}

// decode reads the whole body.
func (d *decoder) decode() error {
	d.ws()
	if !d.eat('{') {
		return badInput(`the body is not a JSON object: send {"rows": [{"column": value, ...}, ...]}`)
	}
	gotRows := false
	d.ws()
	if !d.eat('}') {
		for {
			d.ws()
			if d.peek() != '"' {
				return d.syntax("a field name")
			}
			key, err := d.string()
			if err != nil {
				return err
			}
			if string(key) != "rows" {
				return badInput(`unknown field %s in the body: it has one field, rows ({"rows": [{"column": value, ...}, ...]})`, brief(key))
			}
			if gotRows {
				return badInput("the body gives rows twice: give it once")
			}
			d.ws()
			if !d.eat(':') {
				return d.syntax("':'")
			}
			d.ws()
			if err := d.rows(); err != nil {
				return err
			}
			gotRows = true
			d.ws()
			if d.eat(',') {
				continue
			}
			if d.eat('}') {
				break
			}
			return d.syntax("',' or '}'")
		}
	}
	d.ws()
	if d.i != len(d.b) {
		return d.syntax("the end of the body after its object")
	}
	if !gotRows {
		return badInput(`the body has no rows: send {"rows": [{"column": value, ...}, ...]}`)
	}
	if d.n == 0 {
		return badInput("rows is empty: send at least one row")
	}
	return nil
}

func (d *decoder) rows() error {
	if !d.eat('[') {
		return badInput("rows must be an array of objects, one per row, got %s", d.kindHere())
	}
	d.ws()
	if d.eat(']') {
		return nil
	}
	for {
		d.ws()
		if d.n >= d.maxRows {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Row: -1,
				Msg: fmt.Sprintf("more than %d rows: the server takes at most %d rows a request (cairn server --predict-max-rows); send them in several requests", d.maxRows, d.maxRows)}
		}
		if err := d.row(); err != nil {
			return err
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat(']') {
			return nil
		}
		return d.syntax("',' or ']' after a row")
	}
}

// kindHere names the JSON value at the current byte, for messages.
func (d *decoder) kindHere() string {
	switch c := d.peek(); {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	case c == 0 && d.i >= len(d.b):
		return "the end of the body"
	}
	return "something that is not JSON"
}

func (d *decoder) row() error {
	r := d.n
	if d.peek() != '{' {
		if d.kindHere() == "something that is not JSON" {
			d.inRow = true
			return d.syntax("a row (an object)")
		}
		return rowErr(r, "", "want an object {\"column\": value, ...}, got %s", d.kindHere())
	}
	d.i++
	d.inRow = true
	for j, c := range d.s.cols {
		if c.kind == dataset.Categorical {
			d.str[j] = append(d.str[j], "")
		} else {
			d.num[j] = append(d.num[j], 0)
		}
	}
	var sp []span
	if d.keep != nil && d.keep() {
		d.kept = append(d.kept, r)
		for range d.s.cols {
			d.spans = append(d.spans, span{})
		}
		sp = d.spans[len(d.spans)-len(d.s.cols):]
	}
	got, label, k := 0, false, 0
	d.ws()
	if !d.eat('}') {
		for {
			d.ws()
			if d.peek() != '"' {
				return d.syntax("a column name")
			}
			// Rows name their columns in the same order, mostly: the
			// column at this place in the last row is tried before the
			// map. A key that is one of the model's names as written
			// (no escape) is valid JSON as it stands; any other is read
			// and checked as a JSON string.
			j, ok := -1, false
			var key []byte
			if raw, fast := d.plainKey(); fast {
				if k < len(d.order) {
					j = d.order[k]
					ok = string(raw) == d.s.cols[j].name
				}
				if !ok {
					j, ok = d.s.index[string(raw)]
				}
				if ok || string(raw) == d.s.label {
					key = raw
					d.i += len(raw) + 2
				}
			}
			if key == nil {
				var err error
				if key, err = d.string(); err != nil {
					return err
				}
			}
			d.ws()
			if !d.eat(':') {
				return d.syntax("':'")
			}
			d.ws()
			if !ok {
				j, ok = d.s.index[string(key)]
				if ok && k < len(d.s.cols) {
					if k == len(d.order) {
						d.order = append(d.order, j)
					} else {
						d.order[k] = j
					}
				}
			}
			k++
			switch {
			case ok:
				if d.seen[j] == r+1 {
					return rowErr(r, d.s.cols[j].name, "given twice: give each column once")
				}
				d.seen[j] = r + 1
				got++
				start := d.i
				if err := d.value(r, j); err != nil {
					return err
				}
				if sp != nil {
					sp[j] = span{int32(start), int32(d.i)}
				}
			case string(key) == d.s.label:
				if label {
					return rowErr(r, d.s.label, "given twice: give each column once")
				}
				label = true
				if err := d.skipScalar(r, d.s.label); err != nil {
					return err
				}
			default:
				return d.unknown(r, string(key))
			}
			d.ws()
			if d.eat(',') {
				continue
			}
			if d.eat('}') {
				break
			}
			return d.syntax("',' or '}' after a value")
		}
	}
	if got < len(d.s.cols) {
		for j, c := range d.s.cols {
			if d.seen[j] != r+1 {
				return rowErr(r, c.name, "missing: every row gives every column of the model (%s); "+
					"give null for a missing value, which the model's pipeline imputes", d.s.describe())
			}
		}
	}
	d.inRow = false
	d.n++
	return nil
}

func (d *decoder) unknown(r int, key string) error {
	hint := ""
	if near := tasks.Nearest(key, d.s.names); near != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", near)
	}
	return rowErr(r, key, "unknown column%s: the model takes %s", hint, d.s.describe())
}

// missingString reports whether a string value is a missing value, as
// the data sets the model was trained on read it (dataset.DefaultMissing).
func missingString(s []byte) bool {
	switch string(s) {
	case "", "NA", "null", "?":
		return true
	}
	return false
}

func (d *decoder) setMissing(j, r int) {
	m := d.miss[j]
	if m == nil {
		m = d.missBuf[j][:0]
	}
	for len(m) <= r {
		m = append(m, false)
	}
	m[r] = true
	d.miss[j] = m
}

// value reads the value of column j in row r.
func (d *decoder) value(r, j int) error {
	c := &d.s.cols[j]
	switch ch := d.peek(); {
	case ch == 'n':
		if !d.literal("null") {
			return d.syntax("a value")
		}
		d.setMissing(j, r)
		return nil
	case ch == '"':
		s, err := d.string()
		if err != nil {
			return err
		}
		switch c.kind {
		case dataset.Categorical:
			if missingString(s) {
				d.setMissing(j, r)
			} else if v, ok := c.cats[string(s)]; ok {
				d.str[j][r] = v
			} else {
				d.str[j][r] = string(s)
			}
			return nil
		case dataset.Datetime:
			if missingString(s) {
				d.setMissing(j, r)
				return nil
			}
			v, ok := dataset.ParseDatetime(s)
			if !ok {
				return rowErr(r, c.name, `%s is not a datetime: want RFC 3339 ("2024-01-02T15:04:05Z"), "2024-01-02" or "2024-01-02 15:04:05"`, brief(s))
			}
			d.num[j][r] = v
			return nil
		case dataset.Boolean:
			return rowErr(r, c.name, "want true or false (the column is boolean), got the string %s", brief(s))
		}
		return rowErr(r, c.name, "want a JSON number (the column is numeric), got the string %s; give null for a missing value", brief(s))
	case ch == 't' || ch == 'f':
		v := 0.0
		switch {
		case d.literal("true"):
			v = 1
		case d.literal("false"):
		default:
			return d.syntax("a value")
		}
		if c.kind != dataset.Boolean {
			return rowErr(r, c.name, "want %s (the column is %s), got a boolean", want(c.kind), c.kind)
		}
		d.num[j][r] = v
		return nil
	case ch == '-' || ch >= '0' && ch <= '9':
		tok, ok := d.number()
		if !ok {
			return d.syntax("a number")
		}
		switch c.kind {
		case dataset.Numeric:
			v, ok := dataset.ParseNumber(tok)
			if !ok || math.IsInf(v, 0) {
				return rowErr(r, c.name, "%s is out of the range of a float64", brief(tok))
			}
			d.num[j][r] = v
			return nil
		case dataset.Categorical:
			return rowErr(r, c.name, "want a JSON string (the column is categorical), got the number %s: write it as \"%s\"", tok, tok)
		}
		return rowErr(r, c.name, "want %s (the column is %s), got the number %s", want(c.kind), c.kind, brief(tok))
	case ch == '{' || ch == '[':
		return rowErr(r, c.name, "want %s (the column is %s), got %s", want(c.kind), c.kind, d.kindHere())
	}
	return d.syntax("a value")
}

// want says what a column of kind k takes in JSON.
func want(k dataset.Kind) string {
	switch k {
	case dataset.Numeric:
		return "a JSON number"
	case dataset.Boolean:
		return "true or false"
	case dataset.Datetime:
		return `a datetime string ("2024-01-02T15:04:05Z")`
	}
	return "a JSON string"
}

// skipScalar skips the label's value: any scalar, never read.
func (d *decoder) skipScalar(r int, field string) error {
	switch ch := d.peek(); {
	case ch == '"':
		_, err := d.string()
		return err
	case ch == 'n' || ch == 't' || ch == 'f':
		if d.literal("null") || d.literal("true") || d.literal("false") {
			return nil
		}
		return d.syntax("a value")
	case ch == '-' || ch >= '0' && ch <= '9':
		if _, ok := d.number(); !ok {
			return d.syntax("a number")
		}
		return nil
	case ch == '{' || ch == '[':
		return rowErr(r, field, "the label takes a single value (it is ignored), got %s", d.kindHere())
	}
	return d.syntax("a value")
}

func (d *decoder) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// number reads a JSON number's token (the grammar of RFC 8259).
func (d *decoder) number() ([]byte, bool) {
	b, i, n := d.b, d.i, len(d.b)
	if i < n && b[i] == '-' {
		i++
	}
	switch {
	case i < n && b[i] == '0':
		i++
	case i < n && b[i] >= '1' && b[i] <= '9':
		i++
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < n && b[i] == '.' {
		i++
		s := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return nil, false
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return nil, false
		}
	}
	tok := b[d.i:i]
	d.i = i
	return tok, true
}

// plainKey returns the bytes of the JSON string at the current byte (a
// '"') up to its closing quote when it holds no backslash (fast), without
// moving or checking them.
func (d *decoder) plainKey() ([]byte, bool) {
	rest := d.b[d.i+1:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, false
	}
	raw := rest[:end]
	if bytes.IndexByte(raw, '\\') >= 0 {
		return nil, false
	}
	return raw, true
}

// string reads a JSON string at the current byte (a '"') and returns its
// contents: the bytes of the body when it has no escape, else a copy.
func (d *decoder) string() ([]byte, error) {
	start := d.i + 1
	for i := start; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			s := d.b[start:i]
			if !utf8.Valid(s) {
				d.i = start
				return nil, d.invalidString("is not valid UTF-8")
			}
			d.i = i + 1
			return s, nil
		case c == '\\':
			return d.escaped(start - 1)
		case c < 0x20:
			d.i = i
			return nil, d.invalidString("holds a control character: escape it (\\n, \\t, \\u0000)")
		}
	}
	d.i = len(d.b)
	return nil, d.syntax("the end of a string")
}

// escaped reads a string with escapes, from its opening quote at start,
// through encoding/json (rare: names and categories seldom need one).
func (d *decoder) escaped(start int) ([]byte, error) {
	i := start + 1
	for ; i < len(d.b) && d.b[i] != '"'; i++ {
		if d.b[i] == '\\' {
			i++
		}
	}
	if i >= len(d.b) {
		d.i = len(d.b)
		return nil, d.syntax("the end of a string")
	}
	tok := d.b[start : i+1]
	if !utf8.Valid(tok) {
		d.i = start
		return nil, d.invalidString("is not valid UTF-8")
	}
	if j := jsoncheck.LoneSurrogate(tok); j >= 0 {
		d.i = start
		return nil, d.invalidString(fmt.Sprintf("holds %s, half of a UTF-16 surrogate pair: send the character itself, or both halves of its pair", tok[j:j+6]))
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		d.i = start
		return nil, d.invalidString("is not a valid JSON string (" + strings.TrimPrefix(err.Error(), "json: ") + ")")
	}
	d.i = i + 1
	return []byte(s), nil
}

func (d *decoder) invalidString(why string) *Error {
	e := badInput("the body is not valid JSON: the string at byte %d %s", d.i, why)
	if d.inRow {
		e.Row = d.n
		e.Msg = fmt.Sprintf("the body is not valid JSON: the string at byte %d (in rows[%d]) %s", d.i, d.n, why)
	}
	return e
}

// appendKeptFields appends kept row k's columns as the fields of a JSON
// object, "key":value,... as the request sent each value (no braces): a
// served row and a sample line are written so.
func (d *decoder) appendKeptFields(b []byte, k int) []byte {
	p := len(d.s.cols)
	for j, c := range d.s.cols {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, c.key...)
		sp := d.spans[k*p+j]
		b = append(b, d.b[sp.start:sp.end]...)
	}
	return b
}
