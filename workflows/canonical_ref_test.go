package workflows

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
)

// canonicalReflect is Canonical as it was written first, through maps and
// encoding/json: the reference the direct writer must match byte for byte
// (digests of stored runs are compared on resume).
func canonicalReflect(w *Workflow) []byte {
	top := map[string]any{"name": w.Name}
	if w.Description != "" {
		top["description"] = w.Description
	}
	if w.MaxActive != 0 {
		top["concurrency"] = w.MaxActive
	}
	if w.MaxActiveRuns != 0 {
		// Only when set: the digests of workflows without it stay what
		// they were (resume compares them).
		top["max_active_runs"] = w.MaxActiveRuns
	}
	if len(w.Notify) > 0 {
		var ns []any
		for _, t := range w.Notify {
			on := []string{}
			for _, e := range t.On {
				on = append(on, string(e))
			}
			ns = append(ns, map[string]any{"on": on, "webhook": t.Webhook, "format": t.Format})
		}
		top["notify"] = ns
	}
	if len(w.Params) > 0 {
		params := map[string]any{}
		for _, d := range w.Params {
			m := map[string]any{"type": string(d.Type), "required": d.Required}
			if d.Default != nil {
				m["default"] = d.Default
			}
			if d.Description != "" {
				m["description"] = d.Description
			}
			if d.Secret {
				m["secret"] = true
			}
			params[d.Name] = m
		}
		top["params"] = params
	}
	if len(w.Pools) > 0 {
		top["pools"] = w.Pools
	}
	if s := w.Schedule; s != nil {
		sm := map[string]any{"cron": s.Cron, "timezone": s.Timezone, "catchup": string(s.Catchup)}
		if !s.Start.IsZero() {
			sm["start"] = s.Start.UTC().Format(time.RFC3339Nano)
		}
		if !s.End.IsZero() {
			sm["end"] = s.End.UTC().Format(time.RFC3339Nano)
		}
		top["schedule"] = sm
	}
	taskList := make([]any, 0, len(w.Tasks))
	for _, t := range w.Tasks {
		m := map[string]any{
			"id":            t.ID,
			"type":          t.Type,
			"retries":       t.Retry.Retries,
			"retry_backoff": canonicalBackoff(t.Retry),
			"timeout":       t.Timeout.String(),
		}
		if t.Retry.MaxInterruptions != 0 {
			// Only when set: the digests of workflows without it stay
			// what they were (resume compares them).
			m["max_interruptions"] = t.Retry.MaxInterruptions
		}
		if t.Description != "" {
			m["description"] = t.Description
		}
		if len(t.Labels) > 0 {
			m["labels"] = t.Labels
		}
		if t.Queue != "" {
			m["queue"] = t.Queue
		}
		if t.Pool != "" {
			m["pool"] = t.Pool
			if t.PoolSlots > 1 {
				m["pool_slots"] = t.PoolSlots
			}
		}
		if t.Priority != 0 {
			m["priority"] = t.Priority
		}
		if t.ForEach != nil {
			m["for_each"] = canonicalValue(t.ForEach)
		}
		if t.MaxParallel != 0 {
			m["max_parallel"] = t.MaxParallel
		}
		if len(t.With) > 0 {
			m["with"] = canonicalValue(t.With)
		}
		if len(t.Inputs) > 0 {
			in := make(map[string]any, len(t.Inputs))
			for k, v := range t.Inputs {
				in[k] = canonicalValue(v)
			}
			m["inputs"] = in
		}
		if len(t.Needs) > 0 {
			needs := append([]string(nil), t.Needs...)
			sort.Strings(needs)
			m["needs"] = needs
		}
		if t.When != "" {
			m["when"] = t.When
		}
		taskList = append(taskList, m)
	}
	top["tasks"] = taskList
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(top); err != nil {
		// Only values Parse produced are here; they always encode.
		panic(fmt.Sprintf("workflows: canonical form: %v", err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func canonicalValue(v any) any {
	switch v := v.(type) {
	case string:
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
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = canonicalValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = canonicalValue(x)
		}
		return out
	}
	return v
}

func canonicalBackoff(p cairn.RetryPolicy) map[string]any {
	return map[string]any{
		"delay":  p.Backoff.String(),
		"factor": p.Factor,
		"max":    p.MaxBackoff.String(),
	}
}

// sameCanonical fails unless w's Canonical is canonicalReflect's, and
// its digest, hashed as it is written, that of those bytes.
func sameCanonical(t *testing.T, name string, w *Workflow) {
	t.Helper()
	got, want := w.Canonical(), canonicalReflect(w)
	sum := sha256.Sum256(want)
	if d := w.canonicalDigest(); d != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("%s: canonicalDigest %s is not the digest of Canonical", name, d)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s: Canonical differs from encoding/json's at byte %d:\n got  %.200s\n want %.200s", name, i, got[i:], want[i:])
	}
}

// TestCanonicalMatchesEncodingJSON checks the direct writer against the
// maps-and-encoding/json form on every workflow file of the repository
// and on values chosen to need escapes and number formats.
func TestCanonicalMatchesEncodingJSON(t *testing.T) {
	var files []string
	for _, glob := range []string{"testdata/valid/*.yaml", "testdata/errors/*.yaml", "examples/*.yaml", "../docs/*.yaml", "../cmd/cairn/testdata/*.yaml"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	parsed := 0
	for _, f := range files {
		for _, o := range []Options{{}, opts()} {
			w, err := ParseFile(f, o)
			if err != nil {
				continue
			}
			parsed++
			sameCanonical(t, f, w)
		}
	}
	if parsed < 10 {
		t.Fatalf("only %d workflow files parsed of %d", parsed, len(files))
	}

	src := `name: odd.one
description: "quotes \" and \\ back, <html> & tab\t, nl\n, bell \a, del \x7f, é, 日本, \u2028 \u2029, \U0001F600"
concurrency: 7
max_active_runs: 3
schedule: {cron: "0 3 * * *", timezone: Europe/Paris, catchup: all}
params:
  z: {type: float, default: 1e-7}
  a: {type: list, default: [1, 2.5, -0.0, 1e21, 123456789012345678901234567890, "<&>", null, true, {k: v}]}
  m: {type: map, default: {b: 1, a: [], "é": {}, "": x}}
  s: {type: string, required: false, description: "ü \u0001"}
  sec: {type: string, secret: true}
  big: 18446744073709551615
defaults: {retries: 3, retry_backoff: {delay: 1.5s, factor: 1.25, max: 1h1m1s}, timeout: 90m, max_interruptions: 4}
tasks:
  - id: a
    type: shell
    description: "a \"task\""
    with:
      argv: [echo, "${{params.s}}", "$${{ not }}", "x ${{   params.z }} y", 0.000001, 0.0000001, 1e300, -2, 3.0]
      env: {"K<": "v&", "ü": "\u2028", "": ""}
      outputs: {x: "", "y z": "w"}
  - id: b
    type: train
    needs: [a, a]
    retries: 0
    timeout: 0s
    retry_backoff: 250ms
    when: ${{ tasks.a.outputs.x }} == 'x' && ${{ params.z }} > 1
    with: {model: m, seed: 18446744073709551616, lr: 0.1, hyperparams: {depth: [1, [2, [3]]], empty: {}, nil: null}, time_limit: 1m}
    inputs: {train: "${{tasks.a.outputs.y}}"}
`
	w, err := Parse("odd.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameCanonical(t, "odd.yaml", w)

	// Floats across magnitudes, and values only a Workflow made by hand
	// holds: nil lists and maps, other number types.
	var floats []any
	for e := -30; e <= 30; e++ {
		for _, m := range []float64{1, 1.5, 3.14159, 9.999999} {
			floats = append(floats, m*math.Pow(10, float64(e)), -m*math.Pow(10, float64(e)))
		}
	}
	floats = append(floats, math.SmallestNonzeroFloat64, math.MaxFloat64, 0.1+0.2, float64(1<<53), 5e-324)
	hand := &Workflow{Name: "hand", Params: []ParamDecl{{Name: "p", Type: cairn.KindList, Default: []any(nil)}, {Name: "q", Type: cairn.KindMap, Default: map[string]any(nil)}},
		Defaults: TaskDefaults{Retry: cairn.RetryPolicy{Factor: 1}},
		Tasks: []*Task{
			{ID: "f", Type: "noop", With: map[string]any{"floats": floats, "nils": []any{[]any(nil), map[string]any(nil)}, "n": json.Number("12"),
				"i64": int64(-5), "u": uint8(7), "f32": float32(0.1), "strs": map[string]string{"b": "${{params.p}}", "a": "<"}}},
			{ID: "g", Type: "noop", Retry: cairn.RetryPolicy{Factor: 1e-7, Backoff: time.Nanosecond, MaxBackoff: 100 * time.Hour}, Timeout: -time.Second},
		}}
	sameCanonical(t, "hand-made", hand)

	// Every string of one byte or one rune that may need escaping.
	var sb strings.Builder
	sb.WriteString("name: runes\ntasks:\n  - id: a\n    type: t\n    with:\n")
	keys := []string{}
	for r := rune(0); r < 0x3000; r++ {
		if r == 0x2028 || r == 0x2029 || r < 0x100 {
			keys = append(keys, fmt.Sprintf("r%d", r))
			fmt.Fprintf(&sb, "      r%d: %s\n", r, strings.ReplaceAll(fmt.Sprintf("%q", "x"+string(r)+"y"), `\x`, `\u00`))
		}
	}
	sort.Strings(keys)
	w, err = Parse("runes.yaml", []byte(sb.String()), Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, sb.String())
	}
	sameCanonical(t, "runes.yaml", w)
	if os.Getenv("CAIRN_SHOW_CANONICAL") != "" {
		t.Logf("%s", w.Canonical())
	}
}
