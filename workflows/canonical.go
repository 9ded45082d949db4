package workflows

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cairnml/cairn/tasks"

	"gopkg.in/yaml.v3"

	"github.com/cairnml/cairn"
)

// Canonical returns the normalized spec as deterministic JSON: defaults
// applied to every task, keys sorted, params sorted by name, needs sorted,
// durations in Go's form, no comments or layout. It is itself a valid
// workflow file that parses to the same Canonical form. Digest hashes it.
//
// The bytes are those encoding/json writes (SetEscapeHTML(false)) for the
// maps of the spec; they are written directly, keys in their sorted
// order, since a workflow may have 100,000 tasks (canonical_test.go holds
// the encoding/json form and compares the two).
func (w *Workflow) Canonical() []byte {
	c := &canonWriter{b: make([]byte, 0, 256+len(w.Tasks)*160)}
	w.writeCanonical(c)
	return c.b
}

// canonicalDigest is digest(w.Canonical()) without holding the whole
// canonical form (16 MB for 100,000 tasks) at once: it is hashed as it
// is written.
func (w *Workflow) canonicalDigest() string {
	h := sha256.New()
	c := &canonWriter{b: make([]byte, 0, 2*canonFlush), sink: h}
	w.writeCanonical(c)
	c.flush(0)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func (w *Workflow) writeCanonical(c *canonWriter) {
	// The keys of each object are written in their sorted order.
	c.open('{')
	if w.MaxActive != 0 {
		c.key("concurrency")
		c.int(w.MaxActive)
	}
	if w.Description != "" {
		c.key("description")
		c.str(w.Description)
	}
	if w.MaxActiveRuns != 0 {
		// Only when set: the digests of workflows without it stay what
		// they were (resume compares them).
		c.key("max_active_runs")
		c.int(w.MaxActiveRuns)
	}
	c.key("name")
	c.str(w.Name)
	if len(w.Notify) > 0 {
		// Only when set: the digests of workflows without it stay what
		// they were (resume compares them).
		writeNotify(c, w.Notify)
	}
	if len(w.Outputs) > 0 {
		// Only when set, as uses and a task's bind: the digests of
		// workflows without sub-workflows stay what they were.
		c.key("outputs")
		c.open('{')
		for _, k := range sortedKeys(w.Outputs) {
			c.key(k)
			c.str(canonicalString(w.Outputs[k]))
		}
		c.close('}')
	}
	if len(w.Params) > 0 {
		c.key("params")
		c.open('{')
		params := slices.Clone(w.Params)
		slices.SortStableFunc(params, func(a, b ParamDecl) int { return strings.Compare(a.Name, b.Name) })
		for i, d := range params {
			if i+1 < len(params) && params[i+1].Name == d.Name {
				continue // as in a map, the last of a name wins (Parse never repeats one)
			}
			c.key(d.Name)
			c.open('{')
			if d.Default != nil {
				c.key("default")
				c.value(d.Default, false)
			}
			if d.Description != "" {
				c.key("description")
				c.str(d.Description)
			}
			c.key("required")
			c.bool(d.Required)
			if d.Secret {
				c.key("secret")
				c.bool(true)
			}
			c.key("type")
			c.str(string(d.Type))
			c.close('}')
		}
		c.close('}')
	}
	if len(w.Pools) > 0 {
		// Only when set: the digests of workflows without it stay what
		// they were (resume compares them).
		c.key("pools")
		c.open('{')
		for _, k := range sortedKeys(w.Pools) {
			c.key(k)
			c.int(w.Pools[k])
		}
		c.close('}')
	}
	if s := w.Schedule; s != nil {
		c.key("schedule")
		c.open('{')
		c.key("catchup")
		c.str(string(s.Catchup))
		c.key("cron")
		c.str(s.Cron)
		if !s.End.IsZero() {
			c.key("end")
			c.str(s.End.UTC().Format(time.RFC3339Nano))
		}
		if !s.Start.IsZero() {
			c.key("start")
			c.str(s.Start.UTC().Format(time.RFC3339Nano))
		}
		c.key("timezone")
		c.str(s.Timezone)
		c.close('}')
	}
	c.key("tasks")
	c.open('[')
	var needs []string
	for _, t := range w.Tasks {
		c.open('{')
		if t.bind != nil {
			c.key("bind")
			writeBinding(c, t.bind)
		}
		if t.Cache != nil {
			// Only when written: the digests of workflows without it
			// stay what they were (resume compares them).
			c.key("cache")
			c.value(*t.Cache, false)
		}
		if t.Description != "" {
			c.key("description")
			c.str(t.Description)
		}
		if t.ForEach != nil {
			// Only when written, as max_parallel: other digests stay.
			c.key("for_each")
			c.value(t.ForEach, true)
		}
		c.key("id")
		c.str(t.ID)
		if len(t.Inputs) > 0 {
			c.key("inputs")
			c.open('{')
			for _, k := range sortedKeys(t.Inputs) {
				c.key(k)
				c.str(canonicalString(t.Inputs[k]))
			}
			c.close('}')
		}
		if len(t.Labels) > 0 {
			// Only when set, as queue: the digests of workflows without
			// them stay what they were (resume compares them).
			c.key("labels")
			c.open('{')
			for _, k := range sortedKeys(t.Labels) {
				c.key(k)
				c.str(t.Labels[k])
			}
			c.close('}')
		}
		if t.MaxParallel != 0 {
			c.key("max_parallel")
			c.int(t.MaxParallel)
		}
		if t.Retry.MaxInterruptions != 0 {
			// Only when set: the digests of workflows without it stay
			// what they were (resume compares them).
			c.key("max_interruptions")
			c.int(t.Retry.MaxInterruptions)
		}
		if len(t.Needs) > 0 {
			needs = append(needs[:0], t.Needs...)
			slices.Sort(needs)
			c.key("needs")
			c.open('[')
			for _, n := range needs {
				c.str(n)
			}
			c.close(']')
		}
		if t.Pool != "" {
			// Only when set, as priority: the digests of workflows
			// without them stay what they were (resume compares them).
			c.key("pool")
			c.str(t.Pool)
			if t.PoolSlots > 1 {
				c.key("pool_slots")
				c.int(t.PoolSlots)
			}
		}
		if t.Priority != 0 {
			c.key("priority")
			c.int(t.Priority)
		}
		if t.Queue != "" {
			c.key("queue")
			c.str(t.Queue)
		}
		if r := t.Resources; r != nil {
			// Only when set: the digests of workflows without them stay
			// what they were (resume compares them).
			c.key("resources")
			c.open('{')
			if r.CPU != 0 {
				c.key("cpu")
				c.value(r.CPU, false)
			}
			if r.Memory != 0 {
				c.key("memory")
				c.value(int(r.Memory), false)
			}
			c.close('}')
		}
		c.key("retries")
		c.int(t.Retry.Retries)
		c.key("retry_backoff")
		c.open('{')
		c.key("delay")
		c.duration(t.Retry.Backoff)
		c.key("factor")
		c.value(t.Retry.Factor, false)
		c.key("max")
		c.duration(t.Retry.MaxBackoff)
		c.close('}')
		c.key("timeout")
		c.duration(t.Timeout)
		c.key("type")
		c.str(t.Type)
		if t.When != "" {
			c.key("when")
			c.str(t.When)
		}
		if len(t.With) > 0 {
			c.key("with")
			c.value(t.With, true)
		}
		c.close('}')
		if c.sink != nil && len(c.b) > canonFlush {
			c.flush(1)
		}
	}
	c.close(']')
	if len(w.Uses) > 0 {
		c.key("uses")
		c.open('[')
		for _, u := range w.Uses {
			c.open('{')
			c.key("digest")
			c.str(u.Digest)
			c.key("name")
			c.str(u.Name)
			c.key("path")
			c.str(u.Path)
			c.key("task")
			c.str(u.Task)
			c.close('}')
		}
		c.close(']')
	}
	c.close('}')
}

// writeBinding writes a sub-workflow task's binding: its folder, its file,
// the values of its params and the binding they resolve through.
func writeBinding(c *canonWriter, b *binding) {
	c.open('{')
	c.key("dir")
	c.str(b.dir)
	c.key("file")
	c.str(b.file)
	if b.up != nil {
		c.key("up")
		writeBinding(c, b.up)
	}
	c.key("with")
	c.value(b.vals, true)
	c.close('}')
}

// canonFlush is how much canonical JSON a canonWriter with a sink holds.
const canonFlush = 32 << 10

// canonWriter appends JSON to b, a comma before every member but the
// first of its object or list. With a sink, flush hands it what b holds.
type canonWriter struct {
	b       []byte
	sink    io.Writer
	scratch bytes.Buffer
	enc     *json.Encoder
}

// flush writes all of b but its last keep bytes to the sink (sep reads
// the last byte written).
func (c *canonWriter) flush(keep int) {
	n := len(c.b) - keep
	c.sink.Write(c.b[:n]) // a hash.Hash never fails
	c.b = append(c.b[:0], c.b[n:]...)
}

// sep writes the comma that a member needs unless it opens its object or
// list, or is the value of a key.
func (c *canonWriter) sep() {
	if n := len(c.b); n > 0 {
		switch c.b[n-1] {
		case '{', '[', ':':
		default:
			c.b = append(c.b, ',')
		}
	}
}

func (c *canonWriter) open(bracket byte) {
	c.sep()
	c.b = append(c.b, bracket)
}

func (c *canonWriter) close(bracket byte) { c.b = append(c.b, bracket) }

func (c *canonWriter) key(k string) {
	c.str(k)
	c.b = append(c.b, ':')
}

func (c *canonWriter) int(i int) {
	c.sep()
	c.b = strconv.AppendInt(c.b, int64(i), 10)
}

func (c *canonWriter) bool(v bool) {
	c.sep()
	c.b = strconv.AppendBool(c.b, v)
}

// duration writes d.String(), without its allocation for the common 0s.
func (c *canonWriter) duration(d time.Duration) {
	if d == 0 {
		c.sep()
		c.b = append(c.b, `"0s"`...)
		return
	}
	c.str(d.String())
}

// str writes s as encoding/json does without HTML escaping: printable
// ASCII directly, anything else through encoding/json.
func (c *canonWriter) str(s string) {
	for i := 0; i < len(s); i++ {
		if ch := s[i]; ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' {
			c.fallback(s)
			return
		}
	}
	c.sep()
	c.b = append(c.b, '"')
	c.b = append(c.b, s...)
	c.b = append(c.b, '"')
}

// fallback writes v with encoding/json.
func (c *canonWriter) fallback(v any) {
	if c.enc == nil {
		c.enc = json.NewEncoder(&c.scratch)
		c.enc.SetEscapeHTML(false)
	}
	c.scratch.Reset()
	if err := c.enc.Encode(v); err != nil {
		// Only values Parse produced are here; they always encode.
		panic(fmt.Sprintf("workflows: canonical form: %v", err))
	}
	c.sep()
	c.b = append(c.b, bytes.TrimSuffix(c.scratch.Bytes(), []byte("\n"))...)
}

// value writes a value of a with: block, an input or a param default;
// with templates, its strings are written in their canonical spelling
// (see canonicalString).
func (c *canonWriter) value(v any, templates bool) {
	switch v := v.(type) {
	case nil:
		c.sep()
		c.b = append(c.b, "null"...)
	case string:
		if templates {
			v = canonicalString(v)
		}
		c.str(v)
	case bool:
		c.bool(v)
	case int:
		c.int(v)
	case []any:
		if v == nil && !templates {
			c.value(nil, false) // as encoding/json writes a nil slice (a with: value was copied first)
			return
		}
		c.open('[')
		for _, x := range v {
			c.value(x, templates)
		}
		c.close(']')
	case map[string]any:
		if v == nil && !templates {
			c.value(nil, false)
			return
		}
		c.open('{')
		for _, k := range sortedKeys(v) {
			c.key(k)
			c.value(v[k], templates)
		}
		c.close('}')
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			c.fallback(v) // refused as encoding/json refuses it
			return
		}
		c.sep()
		c.b = appendJSONFloat(c.b, v)
	default:
		// json.Number, and other types a Workflow made by hand may
		// hold: encoding/json writes them.
		c.fallback(v)
	}
}

// appendJSONFloat appends finite f as encoding/json writes a float64: the
// shortest form that reads back the same, in exponent form below 1e-6
// and from 1e21, the exponent without a leading zero.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// canonicalString is s with its templates in one spelling.
func canonicalString(v string) string {
	if !hasTemplate(v) {
		return v
	}
	t, err := parseTemplate(v)
	if err != nil {
		return v
	}
	var b strings.Builder
	for _, seg := range t {
		if seg.ref != nil {
			b.WriteString("${{ " + seg.ref.String() + " }}")
		} else {
			b.WriteString(strings.ReplaceAll(seg.lit, "${{", "$${{"))
		}
	}
	return b.String()
}

// BindParams returns the run's params: every declared param with its
// default, overridden by overrides (the text of `-p key=value` flags,
// parsed to the declared type: JSON or YAML flow syntax for lists and
// maps; an int from 2^63 to 2^64-1 is kept exactly, as a json.Number, and
// one beyond refused). The error
// lists every problem: an unknown param (with the nearest name), a value
// that is not valid UTF-8 or of the wrong type, or a required param left
// without a value.
func (w *Workflow) BindParams(overrides map[string]string) (map[string]any, error) {
	out := make(map[string]any, len(w.Params))
	var problems []string
	byParam := map[string]string{}
	problem := func(name, msg string) {
		problems = append(problems, msg)
		byParam[name] = msg
	}
	names := make([]string, len(w.Params))
	for i, d := range w.Params {
		names[i] = d.Name
	}
	for _, k := range sortedKeys(overrides) {
		d, ok := w.Param(k)
		if !ok {
			msg := fmt.Sprintf("unknown param %q", k)
			if s := tasks.Nearest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else if len(names) > 0 {
				msg += " (params: " + strings.Join(names, ", ") + ")"
			} else {
				msg += " (the workflow declares no params)"
			}
			problem(k, msg)
			continue
		}
		if !utf8.ValidString(overrides[k]) {
			// JSON would silently replace the bad bytes with U+FFFD.
			problem(k, fmt.Sprintf("param %q: the value is not valid UTF-8; pass UTF-8 text (convert it first, for example with iconv -t UTF-8)", k))
			continue
		}
		v, err := parseParamValue(d.Type, overrides[k])
		if err != nil {
			problem(k, fmt.Sprintf("param %q: %v", k, err))
			continue
		}
		out[k] = v
	}
	for _, d := range w.Params {
		if _, set := out[d.Name]; set {
			continue
		}
		if _, bad := overrides[d.Name]; bad {
			continue
		}
		switch {
		case d.Default != nil:
			out[d.Name] = d.Default
		case d.Required && d.Secret:
			problem(d.Name, fmt.Sprintf("secret param %q is required: set %s=VALUE in the environment (or pass -p %s=VALUE, which other users can see in ps)",
				d.Name, SecretEnv(d.Name), d.Name))
		case d.Required:
			problem(d.Name, fmt.Sprintf("param %q (%s) is required: pass -p %s=VALUE", d.Name, d.Type, d.Name))
		default:
			out[d.Name] = zeroValue(d.Type)
		}
	}
	if len(problems) > 0 {
		return nil, &ParamsError{Problems: problems, ByParam: byParam}
	}
	return out, nil
}

// ParamsError is BindParams' error: every problem with the given params.
type ParamsError struct {
	Problems []string
	// ByParam holds each problem by the param it is about (every
	// problem is about one).
	ByParam map[string]string
}

func (e *ParamsError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return "bad params:\n\t" + strings.Join(e.Problems, "\n\t")
}

func zeroValue(k cairn.ParamKind) any {
	switch k {
	case cairn.KindString:
		return ""
	case cairn.KindInt:
		return 0
	case cairn.KindFloat:
		return 0.0
	case cairn.KindBool:
		return false
	case cairn.KindList:
		return []any{}
	case cairn.KindMap:
		return map[string]any{}
	}
	return nil
}

// parseParamValue parses the text of an override as kind k.
func parseParamValue(k cairn.ParamKind, s string) (any, error) {
	switch k {
	case cairn.KindString:
		return s, nil
	case cairn.KindInt:
		t := strings.TrimSpace(s)
		i, err := strconv.ParseInt(t, 10, 0)
		if err == nil {
			return int(i), nil
		}
		if !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("want an int, got %q", s)
		}
		// From 2^63 to 2^64-1 (a uint64 seed): kept exactly, as a
		// json.Number. Beyond, no task could take it as an integer (it
		// would fail at task time as a float): refused here.
		if u, err := strconv.ParseUint(strings.TrimPrefix(t, "+"), 10, 64); err == nil {
			return json.Number(strconv.FormatUint(u, 10)), nil
		}
		got := strconv.Quote(t)
		if len(t) > 40 {
			got = fmt.Sprintf("%q… (%d characters)", t[:40], len(t))
		}
		return nil, fmt.Errorf("want an int from %d to %d, got %s", math.MinInt64, uint64(math.MaxUint64), got)
	case cairn.KindFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f != f || f > 1e308 || f < -1e308 {
			return nil, fmt.Errorf("want a float, got %q", s)
		}
		return f, nil
	case cairn.KindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", s)
		}
		return b, nil
	case cairn.KindDuration:
		if _, err := time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("want a duration such as 90s, got %q", s)
		}
		return s, nil
	case cairn.KindList, cairn.KindMap:
		v, err := parseYAMLValue(s)
		if err != nil {
			return nil, fmt.Errorf("want a %s in JSON or YAML flow syntax, got %q: %v", k, s, err)
		}
		if kindOf(v) != k {
			return nil, fmt.Errorf("want a %s, got %q", k, s)
		}
		return v, nil
	}
	return s, nil
}

// parseYAMLValue parses s as one YAML (or JSON) value, with the same
// limits and conversions as a workflow file.
func parseYAMLValue(s string) (any, error) {
	if len(s) > DefaultMaxBytes {
		return nil, fmt.Errorf("value too large")
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(s))
	if err := safeDecode(dec, &doc); err != nil {
		return nil, fmt.Errorf("%s", yamlMsg(err))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty value")
	}
	p := &parser{src: []byte(s)}
	if !p.checkExpansion(doc.Content[0]) {
		return nil, fmt.Errorf("%s", p.errs[0].Msg)
	}
	v, ok := p.value(doc.Content[0], "value", 0, nil)
	if !ok {
		return nil, fmt.Errorf("%s", p.errs[0].Msg)
	}
	return v, nil
}
