// Package secrets keeps the values of a run's secret params out of what
// Cairn stores and shows. A run stores a placeholder for each secret (see
// workflows.SecretPlaceholder); the process driving the run holds the
// values in a Set, in memory only, and uses it at the edges: Fill puts
// the values into a task's params as it is dispatched, Redact and
// RedactJSON turn values back into placeholders in what an attempt
// reports (its error, its outputs; Defuse first makes placeholders that
// data merely spells inert), and Writer does the same to a log as it is
// written, catching a value split across writes.
//
// Standard library only.
package secrets

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Set is the secret values of one run, by placeholder. The zero Set and a
// nil *Set hold none: every method is then the identity. A Set is
// immutable and safe for concurrent use.
type Set struct {
	values map[string]string // as given to New
	pairs  []pair            // longest value first
	fill   *strings.Replacer
	defuse *strings.Replacer
	redact *strings.Replacer
	json   *strings.Replacer
	first  [256]bool // first bytes of the values
	maxLen int       // of the values
}

type pair struct {
	placeholder string
	value       []byte
}

// Values returns the set's values by placeholder (a new map; nil for an
// empty set): what a server sends a remote worker with a lease, so that
// the worker keeps them out of what it derives from the params (a cache
// key) as the server would.
func (s *Set) Values() map[string]string {
	if s == nil {
		return nil
	}
	return maps.Clone(s.values)
}

// New returns the set of values, each keyed by the placeholder that
// stands for it. Empty values are kept for Fill but never redacted (an
// empty string occurs everywhere).
func New(values map[string]string) *Set {
	if len(values) == 0 {
		return nil
	}
	s := &Set{values: maps.Clone(values)}
	var fill, defuse, redact, js []string
	for ph, v := range values {
		enc, _ := json.Marshal(v)
		fill = append(fill, ph, string(enc[1:len(enc)-1]))
		defuse = append(defuse, ph, Inert(ph))
		if v == "" {
			continue
		}
		for _, form := range spellings(v) {
			s.pairs = append(s.pairs, pair{placeholder: ph, value: []byte(form)})
		}
	}
	// At one position, the longest value wins (Replacer tries its pairs
	// in argument order).
	sort.Slice(s.pairs, func(i, j int) bool {
		if len(s.pairs[i].value) != len(s.pairs[j].value) {
			return len(s.pairs[i].value) > len(s.pairs[j].value)
		}
		return s.pairs[i].placeholder < s.pairs[j].placeholder
	})
	// A placeholder already in the text is kept as it is, not redacted
	// again where it spells a value ("«secret:token»" holds "token"):
	// Redact of redacted text changes nothing. Placeholders come first, so
	// at their position they win.
	for ph, v := range values {
		if v != "" {
			redact = append(redact, ph, ph)
			js = append(js, ph, ph)
		}
	}
	for _, p := range s.pairs {
		redact = append(redact, string(p.value), p.placeholder)
		enc, _ := json.Marshal(string(p.value))
		js = append(js, string(enc[1:len(enc)-1]), p.placeholder)
		s.first[p.value[0]] = true
		s.maxLen = max(s.maxLen, len(p.value))
	}
	s.fill = strings.NewReplacer(fill...)
	s.defuse = strings.NewReplacer(defuse...)
	s.redact = strings.NewReplacer(redact...)
	s.json = strings.NewReplacer(js...)
	return s
}

// spellings are the forms in which a value reaches a log or an error
// text: as it is, quoted by Go (%q, which a *url.Error and many error
// messages use: a " or a \ in the value becomes \" or \\), escaped for a
// JSON string, and percent-encoded in a URL's query or path.
func spellings(v string) []string {
	q := strconv.Quote(v)
	js, _ := json.Marshal(v)
	forms := []string{v}
	for _, f := range []string{q[1 : len(q)-1], string(js[1 : len(js)-1]), url.QueryEscape(v), url.PathEscape(v)} {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms
}

// Fill replaces each placeholder in params, a JSON document, by its value
// escaped for a JSON string (placeholders only ever stand inside strings).
func (s *Set) Fill(params []byte) []byte {
	if s == nil || len(params) == 0 {
		return params
	}
	return []byte(s.fill.Replace(string(params)))
}

// Inert is what Defuse makes of placeholder: the same words, with ‹›
// for «», which Fill leaves alone.
func Inert(placeholder string) string {
	return strings.NewReplacer("«", "‹", "»", "›").Replace(placeholder)
}

// Defuse makes each placeholder that occurs in doc, a JSON document from
// outside (a task's outputs, a param's value), inert: otherwise data that
// merely spells a placeholder would have the value filled in when a later
// task uses it — a way for whoever controls that data (a URL's content)
// to have the secret sent where they choose. Apply it before RedactJSON,
// which then puts back the placeholders of real values.
func (s *Set) Defuse(doc []byte) []byte {
	if s == nil || len(doc) == 0 {
		return doc
	}
	return []byte(s.defuse.Replace(string(doc)))
}

// Redact replaces each occurrence of a value in text by its placeholder,
// leaving the placeholders already in text as they are (it is idempotent).
func (s *Set) Redact(text string) string {
	if s == nil || len(s.pairs) == 0 {
		return text
	}
	return s.redact.Replace(text)
}

// RedactJSON replaces each occurrence of a value inside the strings of a
// JSON document by its placeholder.
func (s *Set) RedactJSON(doc []byte) []byte {
	if s == nil || len(s.pairs) == 0 || len(doc) == 0 {
		return doc
	}
	return []byte(s.json.Replace(string(doc)))
}

// Writer returns w with every value that passes through it replaced by
// its placeholder, even one split across writes: bytes that may begin a
// value are held back until the next write shows whether they do, or
// until Close. Writes after Close fail with os.ErrClosed. Closing closes
// w; if w has a CloseWithNote method (an artifacts.LogWriter), so does
// the returned writer, and the note is redacted too.
func (s *Set) Writer(w io.WriteCloser) io.WriteCloser {
	if s == nil || len(s.pairs) == 0 {
		return w
	}
	return &writer{s: s, w: w}
}

type writer struct {
	s       *Set
	mu      sync.Mutex
	w       io.WriteCloser
	pending []byte
	closed  bool
}

func (x *writer) Write(p []byte) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return 0, os.ErrClosed
	}
	x.pending = append(x.pending, p...)
	out, rest := x.s.scan(x.pending, false)
	if len(out) > 0 {
		if _, err := x.w.Write(out); err != nil {
			return 0, err
		}
	}
	x.pending = append(x.pending[:0], rest...)
	return len(p), nil
}

// drain writes what is held back. x.mu is held.
func (x *writer) drain() error {
	out, _ := x.s.scan(x.pending, true)
	x.pending = nil
	if len(out) == 0 {
		return nil
	}
	_, err := x.w.Write(out)
	return err
}

func (x *writer) Close() error { return x.CloseWithNote("") }

// CloseWithNote flushes what is held back and closes the underlying
// writer, with note (redacted) if it takes one.
func (x *writer) CloseWithNote(note string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return os.ErrClosed
	}
	x.closed = true
	err := x.drain()
	note = x.s.Redact(note)
	if nc, ok := x.w.(interface{ CloseWithNote(string) error }); ok {
		if cerr := nc.CloseWithNote(note); err == nil {
			err = cerr
		}
		return err
	}
	if note != "" && err == nil {
		_, err = io.WriteString(x.w, note)
	}
	if cerr := x.w.Close(); err == nil {
		err = cerr
	}
	return err
}

// scan returns buf with every value replaced by its placeholder, up to
// the first position where the rest of buf could still grow into a value
// (unless final), and that rest. Where values overlap, the earliest wins,
// and at one position the longest; a value that the next bytes might
// complete is waited for rather than a shorter one taken now.
func (s *Set) scan(buf []byte, final bool) (out, rest []byte) {
	last := 0
	for i := 0; i < len(buf); {
		if !s.first[buf[i]] {
			i++
			continue
		}
		if !final && len(buf)-i < s.maxLen && s.couldGrow(buf[i:]) {
			return append(out, buf[last:i]...), buf[i:]
		}
		if p, ok := s.matchAt(buf[i:]); ok {
			out = append(out, buf[last:i]...)
			out = append(out, p.placeholder...)
			i += len(p.value)
			last = i
			continue
		}
		i++
	}
	return append(out, buf[last:]...), nil
}

// couldGrow reports whether tail is a proper prefix of some value.
func (s *Set) couldGrow(tail []byte) bool {
	for _, p := range s.pairs {
		if len(tail) < len(p.value) && bytes.HasPrefix(p.value, tail) {
			return true
		}
	}
	return false
}

// matchAt returns the longest value b begins with.
func (s *Set) matchAt(b []byte) (pair, bool) {
	for _, p := range s.pairs {
		if bytes.HasPrefix(b, p.value) {
			return p, true
		}
	}
	return pair{}, false
}
