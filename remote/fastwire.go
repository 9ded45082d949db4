package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/cairnml/cairn/internal/jsoncheck"
)

// The two bodies a busy worker and its server exchange most, complete-many's
// request and its answer, are read by hand when they have the shape this
// package writes them in: the keys it writes, strings of printable ASCII
// without escapes, integers, booleans, a completion of strings and booleans
// only, an item's params as any valid JSON and neither inputs nor secrets.
// Any other body — other keys, escapes, other values, trailing bytes — is
// read by encoding/json, as every body was before, so that a body is read
// as encoding/json reads it, however it is read (TestFastWireAsEncodingJSON):
// what the hand reading accepts is valid JSON that it decodes alike.
// encoding/json's reflection took 5-6 µs a report on each side (request on
// the server, answer on the worker: 8 % of the server's CPU and 14 % of a
// worker's on a fan of noop tasks).

// fastDecoder is a body with a hand reading: decodeFast sets it from b and
// reports true, or leaves it as it was and reports false.
type fastDecoder interface {
	decodeFast(b []byte) bool
}

// decodeJSON reads one JSON value from r into v, as json.Decoder.Decode
// does; a fastDecoder is read whole first (size: the body's length if
// known, else -1) and read by hand when it can be.
func decodeJSON(r io.Reader, size int64, v any) error {
	if f, ok := v.(fastDecoder); ok {
		var buf bytes.Buffer
		if size > 0 && size < 1<<20 {
			buf.Grow(int(size) + bytes.MinRead)
		}
		_, err := buf.ReadFrom(r)
		if err == nil && f.decodeFast(buf.Bytes()) {
			return nil
		}
		// encoding/json reads the same bytes, then meets the same error.
		r = &replay{b: buf.Bytes(), err: err}
	}
	return json.NewDecoder(r).Decode(v)
}

// decodeStrict reads the JSON text b, one value and nothing after it,
// into v, refusing a key given twice in one object and a lone surrogate
// escape (jsoncheck), which encoding/json would take in silence. A body
// the hand reading takes has neither (it refuses a repeated key and any
// escape) and is not looked at again.
func decodeStrict(b []byte, v any) error {
	if f, ok := v.(fastDecoder); ok && f.decodeFast(b) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value: send one object")
	}
	if err := jsoncheck.Check(b); err != nil {
		return err
	}
	return nil
}

// replay reads b, then fails with err (io.EOF when nil).
type replay struct {
	b   []byte
	err error
}

func (r *replay) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		if r.err == nil {
			return 0, io.EOF
		}
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (req *completeManyRequest) decodeFast(b []byte) bool {
	reports, ok := readList(b, "reports", (*scan).report)
	if ok {
		*req = completeManyRequest{Reports: reports}
	}
	return ok
}

func (rep *completeManyReply) decodeFast(b []byte) bool {
	results, ok := readList(b, "results", (*scan).result)
	if ok {
		*rep = completeManyReply{Results: results}
	}
	return ok
}

// readList reads b whole: an object of no key (nil) or of key alone, an
// array (empty, not nil, when it is), each element read by read.
func readList[T any](b []byte, key string, read func(*scan, *T) bool) ([]T, bool) {
	s := scan{b: b}
	var list []T
	ok := s.object(func(k []byte) bool {
		if string(k) != key {
			return false
		}
		var ok bool
		list, ok = readArray(&s, read)
		return ok
	})
	return list, ok && s.end()
}

// readArray reads an array (empty, not nil, when it is), each element
// read by read.
func readArray[T any](s *scan, read func(*scan, *T) bool) ([]T, bool) {
	list := []T{}
	ok := s.array(func() bool {
		var v T
		if !read(s, &v) {
			return false
		}
		list = append(list, v)
		return true
	})
	return list, ok
}

// scan reads JSON from b at i; each method reports false where the body
// is not of the shape it reads (see above), and the reading stops there.
type scan struct {
	b []byte
	i int
}

func (s *scan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// char consumes c, after white space, if it is next.
func (s *scan) char(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether nothing but white space is left.
func (s *scan) end() bool {
	s.space()
	return s.i == len(s.b)
}

// object reads an object, calling field with each key to read its value;
// a key twice, or more than 8 keys (more than any of these objects has),
// is not read here (encoding/json decodes a repeated key into what the
// first left).
func (s *scan) object(field func(key []byte) bool) bool {
	if !s.char('{') {
		return false
	}
	if s.char('}') {
		return true
	}
	var seen [8][]byte
	for n := 0; ; n++ {
		q, ok := s.quoted()
		if !ok || n == len(seen) || !s.char(':') {
			return false
		}
		k := q[1 : len(q)-1]
		for _, p := range seen[:n] {
			if bytes.Equal(p, k) {
				return false
			}
		}
		seen[n] = k
		if !field(k) {
			return false
		}
		if !s.char(',') {
			return s.char('}')
		}
	}
}

// array reads an array, calling elem to read each element.
func (s *scan) array(elem func() bool) bool {
	if !s.char('[') {
		return false
	}
	if s.char(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if !s.char(',') {
			return s.char(']')
		}
	}
}

// quoted is a string of printable ASCII without escapes, its quotes
// included.
func (s *scan) quoted() ([]byte, bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			q := s.b[s.i : j+1]
			s.i = j + 1
			return q, true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

func (s *scan) str() (string, bool) {
	q, ok := s.quoted()
	if !ok {
		return "", false
	}
	return string(q[1 : len(q)-1]), true
}

// int reads an integer of at most 18 digits (no fraction, no exponent).
func (s *scan) int() (int64, bool) {
	s.space()
	j := s.i
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	d := j
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		j++
	}
	if j == d || j-d > 18 || s.b[d] == '0' && j-d > 1 {
		return 0, false
	}
	if j < len(s.b) && (s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.b[s.i:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	s.i = j
	return n, true
}

func (s *scan) bool() (v, ok bool) {
	s.space()
	rest := s.b[s.i:]
	switch {
	case bytes.HasPrefix(rest, []byte("true")):
		s.i += 4
		v = true
	case bytes.HasPrefix(rest, []byte("false")):
		s.i += 5
	default:
		return false, false
	}
	// A literal ends at a delimiter ("trueish" is not JSON).
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
		default:
			return false, false
		}
	}
	return v, true
}

// time reads a time as encoding/json does: time.Time's UnmarshalJSON of
// the quoted string.
func (s *scan) time(t *time.Time) bool {
	q, ok := s.quoted()
	return ok && t.UnmarshalJSON(q) == nil
}

// raw reads any valid JSON value but null, copied.
func (s *scan) raw() (json.RawMessage, bool) {
	s.space()
	start := s.i
	if start < len(s.b) && s.b[start] == 'n' || !s.skip(0) {
		return nil, false
	}
	v := s.b[start:s.i]
	if !json.Valid(v) {
		return nil, false
	}
	return append(json.RawMessage(nil), v...), true
}

// skip passes a value: a string (escapes passed over), an object or array
// (nested up to 64 deep), or a run of the bytes of numbers and literals;
// json.Valid judges the whole afterwards.
func (s *scan) skip(depth int) bool {
	if s.i >= len(s.b) || depth > 64 {
		return false
	}
	switch c := s.b[s.i]; c {
	case '"':
		for j := s.i + 1; j < len(s.b); j++ {
			switch s.b[j] {
			case '\\':
				j++
			case '"':
				s.i = j + 1
				return true
			}
		}
		return false
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		s.i++
		if s.char(end) {
			return true
		}
		for {
			s.space()
			if !s.skip(depth + 1) {
				return false
			}
			if c == '{' {
				if !s.char(':') {
					return false
				}
				s.space()
				if !s.skip(depth + 1) {
					return false
				}
			}
			if !s.char(',') {
				return s.char(end)
			}
		}
	default:
		j := s.i
		for j < len(s.b) && bytes.IndexByte([]byte("+-.0123456789eEtrufalsn"), s.b[j]) >= 0 {
			j++
		}
		if j == s.i {
			return false
		}
		s.i = j
		return true
	}
}

func (s *scan) lease(l *wireLease) bool {
	return s.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "run_id":
			l.RunID, ok = s.str()
		case "task_id":
			l.TaskID, ok = s.str()
		case "attempt":
			var n int64
			n, ok = s.int()
			l.Attempt = int(n)
		case "token":
			l.Token, ok = s.str()
		case "worker":
			l.Worker, ok = s.str()
		case "expires_at":
			ok = s.time(&l.ExpiresAt)
		}
		return ok
	})
}

// report reads a report whose completion has strings and booleans only.
func (s *scan) report(r *completeRequest) bool {
	return s.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "lease":
			ok = s.lease(&r.Lease)
		case "completion":
			c := &r.Completion
			ok = s.object(func(k []byte) bool {
				var ok bool
				switch string(k) {
				case "error":
					c.Error, ok = s.str()
				case "stack":
					c.Stack, ok = s.str()
				case "version":
					c.Version, ok = s.str()
				case "cache_key":
					c.CacheKey, ok = s.str()
				case "cache_source":
					c.CacheSrc, ok = s.str()
				case "retryable":
					c.Retryable, ok = s.bool()
				case "requeue":
					c.Requeue, ok = s.bool()
				}
				return ok
			})
		case "next":
			var n int64
			n, ok = s.int()
			r.Next = int(n)
		case "start":
			r.Start, ok = s.bool()
		}
		return ok
	})
}

// result reads a report's answer whose items have neither inputs nor
// secrets.
func (s *scan) result(r *completeResult) bool {
	return s.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "items":
			r.Items, ok = readArray(s, (*scan).item)
		case "code":
			r.Code, ok = s.str()
		case "error":
			r.Error, ok = s.str()
		}
		return ok
	})
}

func (s *scan) item(it *wireItem) bool {
	return s.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "lease":
			ok = s.lease(&it.Lease)
		case "type":
			it.Type, ok = s.str()
		case "params":
			it.Params, ok = s.raw()
		case "timeout_ms":
			it.TimeoutMillis, ok = s.int()
		case "started":
			it.Started, ok = s.bool()
		case "cache":
			it.Cache, ok = s.bool()
		}
		return ok
	})
}

// The same two bodies are written by hand when every string in them is
// printable ASCII that needs no escape (nor HTML's: <, > and &), an item's
// params valid compact JSON of such bytes, and a report's completion and
// a result's items of the fields read by hand above; otherwise by
// encoding/json. Either way the bytes are the same
// (TestFastWireWritesAsEncodingJSON).

// fastEncoder is a body that may be written by hand: appendFast appends
// it to b as encoding/json would, or reports false.
type fastEncoder interface {
	appendFast(b []byte) ([]byte, bool)
}

// plain reports whether s is written by encoding/json as itself, quoted.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// compact reports whether encoding/json writes raw as itself: valid JSON
// of printable ASCII without white space (which it would take out) or
// <, > and & (which it would escape).
func compact(raw json.RawMessage) bool {
	for _, c := range raw {
		if c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return json.Valid(raw)
}

// enc appends to b, ok until a value it cannot write by hand.
type enc struct {
	b  []byte
	ok bool
}

func (e *enc) raw(s string) { e.b = append(e.b, s...) }

func (e *enc) str(s string) {
	if !plain(s) {
		e.ok = false
		return
	}
	e.b = append(append(append(e.b, '"'), s...), '"')
}

func (e *enc) int(n int64) { e.b = strconv.AppendInt(e.b, n, 10) }

func (e *enc) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

func (e *enc) lease(l wireLease) {
	e.raw(`{"run_id":`)
	e.str(l.RunID)
	e.raw(`,"task_id":`)
	e.str(l.TaskID)
	e.raw(`,"attempt":`)
	e.int(int64(l.Attempt))
	e.raw(`,"token":`)
	e.str(l.Token)
	e.raw(`,"worker":`)
	e.str(l.Worker)
	e.raw(`,"expires_at":`)
	t, err := l.ExpiresAt.MarshalJSON()
	if err != nil {
		e.ok = false
	}
	e.b = append(e.b, t...)
	e.raw(`}`)
}

func (r completeManyRequest) appendFast(b []byte) ([]byte, bool) {
	e := enc{b: b, ok: true}
	if r.Reports == nil {
		return b, false
	}
	e.raw(`{"reports":[`)
	for i, rep := range r.Reports {
		c := rep.Completion
		if c.ExitCode != nil || len(c.Outputs) > 0 || len(c.Metrics) > 0 || c.Plugin != nil || c.CachedFrom != nil ||
			len(c.Effects) > 0 || len(c.ReadInputs) > 0 {
			return b, false
		}
		if i > 0 {
			e.raw(`,`)
		}
		e.raw(`{"lease":`)
		e.lease(rep.Lease)
		e.raw(`,"completion":{`)
		sep := ""
		field := func(name string) {
			e.raw(sep + `"` + name + `":`)
			sep = ","
		}
		if c.Error != "" {
			field("error")
			e.str(c.Error)
		}
		if c.Stack != "" {
			field("stack")
			e.str(c.Stack)
		}
		if c.Retryable {
			field("retryable")
			e.bool(true)
		}
		if c.Requeue {
			field("requeue")
			e.bool(true)
		}
		if c.Version != "" {
			field("version")
			e.str(c.Version)
		}
		if c.CacheKey != "" {
			field("cache_key")
			e.str(c.CacheKey)
		}
		if c.CacheSrc != "" {
			field("cache_source")
			e.str(c.CacheSrc)
		}
		e.raw(`}`)
		if rep.Next != 0 {
			e.raw(`,"next":`)
			e.int(int64(rep.Next))
		}
		if rep.Start {
			e.raw(`,"start":true`)
		}
		e.raw(`}`)
		if !e.ok {
			return b, false
		}
	}
	e.raw(`]}`)
	return e.b, e.ok
}

func (r completeManyReply) appendFast(b []byte) ([]byte, bool) {
	e := enc{b: b, ok: true}
	if r.Results == nil {
		return b, false
	}
	e.raw(`{"results":[`)
	for i, res := range r.Results {
		if i > 0 {
			e.raw(`,`)
		}
		e.raw(`{`)
		sep := ""
		if len(res.Items) > 0 {
			e.raw(`"items":[`)
			for j, it := range res.Items {
				if len(it.Inputs) > 0 || len(it.Secrets) > 0 || !compact(it.Params) {
					return b, false
				}
				if j > 0 {
					e.raw(`,`)
				}
				e.raw(`{"lease":`)
				e.lease(it.Lease)
				e.raw(`,"type":`)
				e.str(it.Type)
				e.raw(`,"params":`)
				e.b = append(e.b, it.Params...)
				if it.TimeoutMillis != 0 {
					e.raw(`,"timeout_ms":`)
					e.int(it.TimeoutMillis)
				}
				e.raw(`,"started":`)
				e.bool(it.Started)
				if it.Cache {
					e.raw(`,"cache":true`)
				}
				e.raw(`}`)
			}
			e.raw(`]`)
			sep = ","
		}
		if res.Code != "" {
			e.raw(sep + `"code":`)
			e.str(res.Code)
			sep = ","
		}
		if res.Error != "" {
			e.raw(sep + `"error":`)
			e.str(res.Error)
		}
		e.raw(`}`)
		if !e.ok {
			return b, false
		}
	}
	e.raw(`]}`)
	return e.b, e.ok
}
