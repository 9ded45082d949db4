package workflows

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"gopkg.in/yaml.v3"
)

// sameNodes reports where the trees a and b differ: kind, tag, value,
// style, anchor, line, column and children (comments left out: nothing
// reads them); "" when they do not.
func sameNodes(a, b *yaml.Node, path string) string {
	switch {
	case a.Kind != b.Kind:
		return fmt.Sprintf("%s: kind %v, want %v", path, a.Kind, b.Kind)
	case a.Tag != b.Tag:
		return fmt.Sprintf("%s: tag %q, want %q", path, a.Tag, b.Tag)
	case a.Value != b.Value:
		return fmt.Sprintf("%s: value %q, want %q", path, a.Value, b.Value)
	case a.Style != b.Style:
		return fmt.Sprintf("%s: style %v, want %v", path, a.Style, b.Style)
	case a.Anchor != b.Anchor || (a.Alias == nil) != (b.Alias == nil):
		return fmt.Sprintf("%s: anchor %q alias %v, want %q %v", path, a.Anchor, a.Alias != nil, b.Anchor, b.Alias != nil)
	case a.Line != b.Line || a.Column != b.Column:
		return fmt.Sprintf("%s (%q): at %d:%d, want %d:%d", path, a.Value, a.Line, a.Column, b.Line, b.Column)
	case len(a.Content) != len(b.Content):
		return fmt.Sprintf("%s: %d children, want %d", path, len(a.Content), len(b.Content))
	}
	for i := range a.Content {
		if d := sameNodes(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// checkFastBatch reads src with both readers and reports a difference
// where fastBatch accepts it; it returns whether fastBatch accepted it.
func checkFastBatch(t testing.TB, src string, shift, want int) bool {
	t.Helper()
	got, ok := fastBatch([]byte(src), shift, want)
	if !ok {
		return false
	}
	ref, err := yamlBatch([]byte(src), shift, want)
	if err != nil {
		t.Fatalf("fastBatch read what yaml.v3 refuses (%v):\n%s", err, src)
	}
	if len(got) != len(ref) {
		t.Fatalf("%d items, yaml.v3 %d:\n%s", len(got), len(ref), src)
	}
	for i := range got {
		if d := sameNodes(got[i], ref[i], fmt.Sprint(i)); d != "" {
			t.Fatalf("%s\n%s", d, src)
		}
	}
	return true
}

// TestFastBatchCases reads each batch with both readers: where fastBatch
// reads it (fast), as yaml.v3 does; where it does not, it leaves it to
// yaml.v3 rather than read it some other way.
func TestFastBatchCases(t *testing.T) {
	for _, c := range []struct {
		src  string
		want int
		fast bool
	}{
		{"  - id: t0\n    type: noop\n", 1, true},
		{"  - id: t0\n    type: noop\n  - id: t1\n    type: noop\n    needs: [t0]\n", 2, true},
		{"- id: a\n  needs: []\n", 1, true},
		{"  - id: a\n    with:\n      lr: 0.1\n      depth: 3\n      on: true\n      x: ~\n", 1, true},
		{"  - id: a\n    needs:\n    - b\n    - c\n", 1, true},
		{"  - id: a\n    needs:\n      - b\n      - 'c'\n", 1, true},
		{"  - needs:\n    - b\n    id: a\n", 1, true},
		{"  - id: a # the first\n\n    # a comment\n      # deeper\n    run: echo hi#there  \n", 1, true},
		{"  - id: a\r\n    type: noop\r\n", 1, true},
		{"  - id: 'it''s'\n    run: \"say \\\"hi\\\"\\n\"\n", 1, true},
		{"  - id: é\n    with: {a: 1}\n", 1, false},
		{"  - id: é\n    needs: [é, ü, x]\n", 1, false}, // a flow list on a line not ASCII: yaml.v3's
		{"  - id: é\n    needs: [e, u, x] # é\n", 1, false},
		{"  - id: é\n    needs: [e, u, x]\n    text: 'ü' # ü\n    k: \"日本\"\n", 1, true},
		{"  - 'a'\n  - \"b\"\n  - c\n  - [d]\n", 4, true},
		{"  - id: a\n    with:\n    x: 1\n", 1, true},
		{"  - id:\n  - b:\n", 2, true},
		{"  - id: a\n    when: ${{ params.go == true }}\n", 1, true},
		{"  - id: a\n    url: http://example.com:8080/x\n", 1, true},
		{"  - id: 2001-12-14\n    n: -1\n    f: .5\n    h: 0x1F\n    o: 0o17\n    e: 1e3\n    i: +.inf\n", 1, true},
		{"  - id: t0\n    type: noop\n", 2, false},           // not the items the lines said
		{"  - id: a\n    run: |\n      echo\n", 1, false},    // block scalar
		{"  - id: a\n    run: echo\n      more\n", 1, false}, // a plain scalar on two lines
		{"  - id: &x a\n", 1, false},
		{"  - id: *x\n", 1, false},
		{"  - id: !!str a\n", 1, false},
		{"  - id: a\n    <<: {b: 1}\n", 1, false},
		{"  - id: a: b\n", 1, false},
		{"  - id: 'a\n    b'\n", 1, false},
		{"  - id: \"\\x41\"\n", 1, false},
		{"  - id: a\n    needs: [a,]\n", 1, false},
		{"  - id: a\n    needs: [a, [b]]\n", 1, false},
		{"  - id: a\n     type: noop\n", 1, false}, // a key indented more
		{"  - id: a\n   type: noop\n", 1, false},   // and less
		{"  - id: a\n\ttype: noop\n", 1, false},
		{"  - id: a\x01\n", 1, false},
		{"  - id: a\n    - b\n", 1, false},
		{"  - - a\n", 1, false},
		{"  -\n    id: a\n", 1, false},
		{"  - id: a\n    run:\n      echo hi\n", 1, false},
		{"  - id: 'a'b\n", 1, false},
		{"  - id: -\n", 1, false},
		{"  - id: a\n    x: \"\\\"\n", 1, false},
		{"  - id: a\n---\n", 1, false},
		// "?" ends a plain scalar in a flow collection and starts a key there: yaml.v3 refuses [a?b].
		{"  - id: a\n    needs: [a?b]\n", 1, false},
		{"  - [a?]\n", 1, false},
		{"  - id: a?b\n    needs: [a&b, a*b, a!b, a|b, a>b, a%b, a@b, a`b, a-]\n", 1, true},
	} {
		if got := checkFastBatch(t, c.src, 10, c.want); got != c.fast {
			t.Errorf("fastBatch read it: %v, want %v:\n%s", got, c.fast, c.src)
		}
	}
}

// TestFastBatchLooksAheadLinearly reads entries whose lines fastBatch
// looks at ahead (to size its nodes' lists): a mapping of 20,000 keys
// each holding a sequence at the key's indentation, and a long entry; the
// lines looked at stay a small multiple of the lines, not their square.
func TestFastBatchLooksAheadLinearly(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("  - id: a\n")
	for i := range 20_000 {
		fmt.Fprintf(&sb, "    k%d:\n    - x\n    - y\n", i)
	}
	sb.WriteString("  - needs: [" + strings.Repeat("a, ", 50_000) + "b]\n")
	f := fastReader{s: sb.String()}
	items, ok := f.read(2)
	if !ok || len(items) != 2 || len(items[0].Content) != 2*20_001 {
		t.Fatalf("not read: %v", ok)
	}
	if lines := len(f.lines); f.looked > 4*lines {
		t.Errorf("looked at %d lines ahead for %d lines", f.looked, lines)
	}
	if got := items[1].Content[1].Content[50_000]; got.Value != "b" || got.Column != 13+3*50_000 {
		t.Errorf("last item %q at column %d", got.Value, got.Column)
	}
}

// TestPlainTag compares plainTag with the tag yaml.v3 gives each scalar:
// the words it reads as booleans and nulls, numbers, times, and strings
// that start with every printable character.
func TestPlainTag(t *testing.T) {
	words := []string{"true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "null", "Null", "NULL", "nULL", "~", "~x",
		"yes", "no", "on", "off", "y", "n", "Y", "N", "1", "-1", "+1", "01", "0x1f", "0o17", "0b101", "1_000", "1.5", "-.5",
		".5", ".", "..", ".inf", "-.inf", "+.INF", ".nan", ".NaN", "1e3", "1E-3", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
		"2001-12-14 21:59:43.10 -5", "2001-13-14", "12:30", "1:30:00", "-", "+", "-x", "+x", "0.1.2", "t0", "noop", "é", "\u65e5"}
	for c := byte(0x21); c < 0x7f; c++ {
		words = append(words, string(c), string(c)+"x", string(c)+"1")
	}
	for _, w := range words {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("- "+w+"\n"), &doc); err != nil {
			continue // not a plain scalar
		}
		n := doc.Content[0].Content[0]
		if n.Kind != yaml.ScalarNode || n.Style != 0 || n.Value != w {
			continue
		}
		if got := plainTag(w); got != n.Tag {
			t.Errorf("plainTag(%q) = %s, yaml.v3 %s", w, got, n.Tag)
		}
	}
}

// randomBatch writes a batch of the task list from r: mostly the subset
// fastBatch reads, with some of everything it leaves to yaml.v3 (and some
// that is not YAML at all); it returns the batch and its items.
func randomBatch(r *rand.Rand) (string, int) {
	var sb strings.Builder
	indent := []int{0, 2, 4}[r.IntN(3)]
	eol := "\n"
	if r.IntN(20) == 0 {
		eol = "\r\n"
	}
	items := 1 + r.IntN(5)
	for range items {
		pad := strings.Repeat(" ", indent)
		if r.IntN(8) == 0 {
			sb.WriteString(pad + "- " + randomScalar(r) + randomTail(r) + eol)
		} else {
			randomMapping(r, &sb, pad+"- ", indent+2, 0, eol)
		}
		randomNoise(r, &sb, eol)
	}
	return sb.String(), items
}

var randomKeys = []string{"id", "type", "needs", "with", "run", "x-y", "a.b", "k_2", "true", "1", "null", "é", "'q'", "a b", "<<", "? k"}

// randomMapping writes a block mapping at indentation indent, its first
// key after first.
func randomMapping(r *rand.Rand, sb *strings.Builder, first string, indent, depth int, eol string) {
	pad := strings.Repeat(" ", indent)
	keys := 1 + r.IntN(4)
	for i := range keys {
		lead := pad
		if i == 0 {
			lead = first
		}
		if r.IntN(60) == 0 {
			lead += " "[:r.IntN(2)] // off by one
		}
		key := randomKeys[r.IntN(5)]
		if r.IntN(6) == 0 {
			key = randomKeys[r.IntN(len(randomKeys))]
		}
		switch k := r.IntN(10); {
		case k < 6 || depth > 2:
			sb.WriteString(lead + key + ": " + randomScalar(r) + randomTail(r) + eol)
		case k == 6:
			sb.WriteString(lead + key + ":" + randomTail(r) + eol)
			randomNoise(r, sb, eol)
			randomMapping(r, sb, pad+"  "+" "[:r.IntN(2)], indent+2, depth+1, eol)
		case k == 7:
			sb.WriteString(lead + key + ":" + randomTail(r) + eol)
			at := indent + 2*r.IntN(2)
			for range 1 + r.IntN(3) {
				randomNoise(r, sb, eol)
				if r.IntN(5) == 0 {
					randomMapping(r, sb, strings.Repeat(" ", at)+"- ", at+2, depth+1, eol)
				} else {
					sb.WriteString(strings.Repeat(" ", at) + "- " + randomScalar(r) + randomTail(r) + eol)
				}
			}
		case k == 8:
			sb.WriteString(lead + key + ":" + randomTail(r) + eol) // null
		default:
			sb.WriteString(lead + key + ": " + randomScalar(r) + eol)
			sb.WriteString(pad + strings.Repeat(" ", 1+r.IntN(3)) + randomScalar(r) + eol) // goes on, or is an error
		}
		randomNoise(r, sb, eol)
	}
}

var randomScalars = []string{
	"noop", "t1", "shell", "hello world", "a  b", "echo hi#there", "a:b", "http://h:80/p", "${{ params.x }}",
	"echo \"$X\" 'y'", "1", "-1", "+1", "0x1F", "0o17", "1e3", ".5", "-.inf", ".nan", "1_000", "true", "True", "false",
	"yes", "no", "on", "~", "null", "NULL", "2001-12-14", "2001-12-14 21:59:43.10 -5", "12:30:00", "é", "日本語", "a'b",
	"'single'", "'it''s'", "''", "\"\"", "\"dq\"", "\"a\\\\b \\\"q\\\" \\n\\t\\/\"", "\"\\x41\"", "\"\\u00e9\"", "\"\\q\"",
	"'open", "\"open", "[]", "[a]", "[a, b, c]", "[ 'x', \"y\" , 1 ]", "[a,]", "[a, [b]]", "[a: b]", "[a#b]", "[a #b]",
	"[a", "{}", "{a: 1}", "<<", "*x", "&a x", "!!str x", "!t x", "|", ">-", "-", "- x", "-x", "?x", ": x", ":x", "a: b",
	"a:", "%x", "@x", "`x", "#x", "a\tb", "a\x01", "a\u0085b", "a\u2028b", "\ufeffa", "a\x7f", "x" + strings.Repeat("y", 1100),
}

func randomScalar(r *rand.Rand) string {
	if r.IntN(3) > 0 {
		return randomScalars[r.IntN(20)] // mostly what workflow files hold
	}
	return randomScalars[r.IntN(len(randomScalars))]
}

// randomTail is what may follow a value on its line.
func randomTail(r *rand.Rand) string {
	switch r.IntN(10) {
	case 0:
		return " # a comment"
	case 1:
		return "   "
	case 2:
		return "#tight"
	}
	return ""
}

// randomNoise writes blank and comment lines, now and then.
func randomNoise(r *rand.Rand, sb *strings.Builder, eol string) {
	switch r.IntN(12) {
	case 0:
		sb.WriteString(eol)
	case 1:
		sb.WriteString(strings.Repeat(" ", r.IntN(8)) + "# note" + eol)
	case 2:
		sb.WriteString("   " + eol)
	}
}

// TestFastBatchDifferential reads 20,000 generated batches with both
// readers: every one fastBatch reads it reads as yaml.v3 does; both
// kinds are many (the test would pass on a reader that read nothing).
func TestFastBatchDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 21))
	n := 20_000
	if testing.Short() {
		n = 5_000
	}
	fast, valid := 0, 0
	for range n {
		src, items := randomBatch(r)
		shift := r.IntN(1000)
		if checkFastBatch(t, src, shift, items) {
			fast++
		}
		if _, err := yamlBatch([]byte(src), shift, items); err == nil {
			valid++
		}
	}
	t.Logf("%d batches: %d valid YAML with the items the lines say, %d read by fastBatch", n, valid, fast)
	if fast < n/10 || valid-fast < n/10 {
		t.Errorf("%d of %d read by fastBatch, %d valid: the generator no longer covers both readers", fast, n, valid)
	}
}

// FuzzFastBatch holds fastBatch to yaml.v3 on any input: what it reads,
// it reads as yaml.v3 does.
func FuzzFastBatch(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		src, items := randomBatch(r)
		f.Add(src, items)
	}
	for _, src := range []string{
		"  - id: a\n    needs: [a?b, 'c', \"d\", -e, f g]\n",
		"- a:\n  - b\n  c:\n      - d\n  e: [x\u00a0]  # \u65e5\n",
		"- a: x\r\n\r\n  b:\r\n  - y\r\n# c\r\n- z\r",
		"-   a: 1\n    b:\n        c: \"\\t\\\"\"\n     # c\n    d: 'e''f'\n",
		"- a:\n    b:\n      c:\n        d:\n          - e:\n              f: [g]\n",
		"- 1: a\n  true: b\n  2001-12-14: c\n  a-b.c/d_e: f:g#h\n",
	} {
		f.Add(src, 1)
	}
	f.Fuzz(func(t *testing.T, src string, want int) {
		checkFastBatch(t, src, 3, want)
	})
}

// TestParseFastYAML parses large workflows (read in batches) with and
// without fastBatch: the same tasks, canonical form and digest; the same
// errors for a file that is not valid.
func TestParseFastYAML(t *testing.T) {
	reg := realTypes(t)
	var sb strings.Builder
	sb.WriteString("name: mixed\nparams:\n  n: 3\ntasks:\n")
	for i := range 6000 {
		fmt.Fprintf(&sb, "  - id: t%d # task %d\n", i, i)
		switch i % 4 {
		case 0:
			sb.WriteString("    type: noop\n")
		case 1:
			fmt.Fprintf(&sb, "    type: shell\n    needs: [t%d]\n    with:\n      script: \"echo '%d' ${{ params.n }}\"\n", i-1, i)
		case 2:
			fmt.Fprintf(&sb, "    type: 'noop'\n\n    needs:\n    - t%d\n    - t%d\n    retries: 2\n", i-1, i-2)
		default:
			fmt.Fprintf(&sb, "    type: noop\n    # between\n    timeout: 1m\n    needs:\n      - t%d\n", i-3)
		}
	}
	good := sb.String()
	// Every batch of the good file is one fastBatch reads.
	tc, ok := scanTasks([]byte(good))
	if !ok {
		t.Fatal("the file is not read in batches")
	}
	for _, b := range tc.batches() {
		if !checkFastBatch(t, good[b.start:b.end], b.shift, b.want) {
			t.Fatalf("fastBatch leaves a batch of the file to yaml.v3:\n%.300s", good[b.start:b.end])
		}
	}
	bad := strings.Replace(good, "    retries: 2\n", "    retries: two\n", 3)
	bad = strings.Replace(bad, "id: t77 ", "id: t0 ", 1)
	for _, src := range []string{good, bad} {
		w1, err1 := Parse("w.yaml", []byte(src), Options{Types: reg})
		fastYAML = false
		w2, err2 := Parse("w.yaml", []byte(src), Options{Types: reg})
		fastYAML = true
		if fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("errors differ:\n%v\nyaml.v3:\n%v", err1, err2)
		}
		if err1 != nil {
			if !strings.Contains(err1.Error(), "two") {
				t.Errorf("error %v does not name the bad value", err1)
			}
			continue
		}
		if w1.Digest != w2.Digest || string(w1.Canonical()) != string(w2.Canonical()) {
			t.Fatal("canonical forms differ")
		}
		if len(w1.Tasks) != 6000 {
			t.Fatalf("%d tasks", len(w1.Tasks))
		}
	}
}

// BenchmarkTaskListReaders reads the task list of 10,000 noop tasks, the
// batches one after another, with fastBatch and with yaml.v3.
func BenchmarkTaskListReaders(b *testing.B) {
	src := shapeSource("chain", 10_000)
	tc, ok := scanTasks(src)
	if !ok {
		b.Fatal("not read in batches")
	}
	batches := tc.batches()
	for _, r := range []struct {
		name string
		read func([]byte, int, int) ([]*yaml.Node, error)
	}{
		{"fast", func(s []byte, shift, want int) ([]*yaml.Node, error) {
			items, ok := fastBatch(s, shift, want)
			if !ok {
				return nil, errWhole
			}
			return items, nil
		}},
		{"yaml.v3", yamlBatch},
	} {
		b.Run(r.name, func(b *testing.B) {
			b.SetBytes(int64(tc.end - tc.start[0]))
			b.ReportAllocs()
			for b.Loop() {
				for _, bt := range batches {
					if _, err := r.read(src[bt.start:bt.end], bt.shift, bt.want); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestFastBatchOwnValues checks that the values of each entry of the task
// list are one string of their own, without the batch's other text: what
// a Workflow keeps of a task (its id, its with: values) must not keep the
// comments and the other tasks of its batch alive.
func TestFastBatchOwnValues(t *testing.T) {
	long := "    # " + strings.Repeat("c", 4000) + "\n"
	src := "  - id: t0\n" + long + "    with:\n" + long + "      script: \"echo \\\"hi\\\"\"\n      env:\n" +
		"  # between\n" + long + "  - id: t1\n    needs: [t0, 'a''b']\n"
	items, ok := fastBatch([]byte(src), 0, 2)
	if !ok {
		t.Fatal("fastBatch leaves the batch to yaml.v3")
	}
	var spans [][2]uintptr
	for _, item := range items {
		lo, hi, size := ^uintptr(0), uintptr(0), 0
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Value != "" {
				p := uintptr(unsafe.Pointer(unsafe.StringData(n.Value)))
				lo, hi, size = min(lo, p), max(hi, p+uintptr(len(n.Value))), size+len(n.Value)
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(item)
		if hi-lo != uintptr(size) {
			t.Errorf("the values of %v span %d bytes, hold %d", item.Content[1].Value, hi-lo, size)
		}
		spans = append(spans, [2]uintptr{lo, hi})
	}
	if spans[0][0] < spans[1][1] && spans[1][0] < spans[0][1] {
		t.Error("the values of two entries share a string")
	}
}

// structuredBatch writes a batch of the task list from r as nested block
// collections at varied indentation (1 to 3 spaces deeper, sequences at
// their key's column or deeper, one or two spaces after a dash), with
// comment and blank lines at any indentation, sometimes one line moved a
// column in or out; it returns the batch and its items.
func structuredBatch(r *rand.Rand) (string, int) {
	vals := []string{"x", "y z", "[x]", "[]", "[ a , 'b',\"c\" ]", "'q'", "\"d\\n\"", "1", "true", "~", "-x", "a:b", "a#b",
		"é日", "x #c", "[x] #c", "'a''b'", "[a?b]", "[-a]", "a?b", "a-", "0x1", "-1", ".5", "a]", "a[", "a,b", "a'", "\u00a0", "2001-01-01"}
	keys := []string{"a", "b", "id", "1", "true", "null", "a-b", "a.b", "x/y", "_"}
	var lines []string
	noise := func() {
		if r.IntN(8) == 0 {
			lines = append(lines, strings.Repeat(" ", r.IntN(10))+"# n")
		}
		if r.IntN(12) == 0 {
			lines = append(lines, strings.Repeat(" ", r.IntN(4)))
		}
	}
	var mapping func(first string, indent, depth int)
	seq := func(indent, depth int) {
		for range 1 + r.IntN(3) {
			dash := strings.Repeat(" ", indent) + "-" + " "[:1] + " "[:r.IntN(2)]
			if r.IntN(2) == 0 && depth < 7 {
				mapping(dash, len(dash), depth+1)
			} else {
				lines = append(lines, dash+vals[r.IntN(len(vals))])
			}
			noise()
		}
	}
	mapping = func(first string, indent, depth int) {
		for i := range 1 + r.IntN(3) {
			lead := strings.Repeat(" ", indent)
			if i == 0 {
				lead = first
			}
			k := keys[r.IntN(len(keys))]
			switch c := r.IntN(6); {
			case c < 2 || depth > 6:
				lines = append(lines, lead+k+": "+vals[r.IntN(len(vals))])
			case c == 2:
				lines = append(lines, lead+k+":")
			case c == 3:
				lines = append(lines, lead+k+":")
				noise()
				in := indent + 1 + r.IntN(3)
				mapping(strings.Repeat(" ", in), in, depth+1)
			default:
				lines = append(lines, lead+k+":")
				seq(indent+r.IntN(3), depth+1)
			}
			noise()
		}
	}
	items, indent := 1+r.IntN(3), r.IntN(3)
	for range items {
		if r.IntN(4) == 0 {
			lines = append(lines, strings.Repeat(" ", indent)+"- "+vals[r.IntN(len(vals))])
		} else {
			mapping(strings.Repeat(" ", indent)+"- ", indent+2, 1)
		}
	}
	if r.IntN(3) == 0 { // a line a column in or out
		k := r.IntN(len(lines))
		if r.IntN(2) == 0 {
			lines[k] = " " + lines[k]
		} else {
			lines[k] = strings.TrimPrefix(lines[k], " ")
		}
	}
	eol := "\n"
	if r.IntN(10) == 0 {
		eol = "\r\n"
	}
	return strings.Join(lines, eol) + eol, items
}

// TestFastBatchStructured is TestFastBatchDifferential on deeper batches
// at odd indentations (structuredBatch).
func TestFastBatchStructured(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 13))
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	fast := 0
	for range n {
		src, items := structuredBatch(r)
		if checkFastBatch(t, src, r.IntN(100), items) {
			fast++
		}
	}
	t.Logf("%d batches: %d read by fastBatch", n, fast)
	if fast < n/10 || fast > n*9/10 {
		t.Errorf("%d of %d read by fastBatch: the generator no longer covers both readers", fast, n)
	}
}
